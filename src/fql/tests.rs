//! Expected values below were checked against `@segment/destination-subscriptions`
//! 3.37.0; tests/conformance/fql.test.mjs compares the two mechanically.
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn m(src: &str, event: Value) -> bool {
    match parse(src) {
        Ok(f) => f.matches_value(&event),
        Err(e) => panic!("{src:?} should parse: {e}"),
    }
}

fn err(src: &str) -> FqlError {
    match parse(src) {
        Ok(f) => panic!("{src:?} should not parse: {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn equality_on_top_level_fields() {
    let ev = json!({"type": "track", "event": "Order Completed", "name": "Home", "userId": "u1"});
    assert!(m(r#"type = "track""#, ev.clone()));
    assert!(!m(r#"type = "identify""#, ev.clone()));
    assert!(m(r#"event = "Order Completed""#, ev.clone()));
    assert!(m(r#"name = "Home""#, ev.clone()));
    assert!(m(r#"userId = "u1""#, ev.clone()));
    assert!(m(r#"type != "identify""#, ev.clone()));
    assert!(!m(r#"type != "track""#, ev.clone()));
    // Unquoted words and numbers are compared as their string form.
    assert!(m("type = track", ev.clone()));
    assert!(m("event = 1.50", json!({"event": "1.5"})));
    assert!(m(
        "event = 100000000000000000000000",
        json!({"event": "1e+23"})
    ));
    assert!(m("event = -", json!({"event": "NaN"})));
    assert!(m("userId = 5", json!({"userId": "5"})));
    assert!(!m("userId = 5", json!({"userId": 5})));
    // Missing field: `=` fails, `!=` succeeds.
    assert!(!m(r#"event = "x""#, json!({})));
    assert!(m(r#"event != "x""#, json!({})));
}

#[test]
fn equality_is_type_strict() {
    let ev = json!({"properties": {"n": 5, "s": "5", "t": true, "z": null}});
    assert!(m("properties.n = 5", ev.clone()));
    assert!(!m(r#"properties.n = "5""#, ev.clone()));
    assert!(m(r#"properties.s = "5""#, ev.clone()));
    assert!(!m("properties.s = 5", ev.clone()));
    assert!(m("properties.n != 4", ev.clone()));
    assert!(
        !m("properties.s != 4", ev.clone()),
        "number_not_equals needs a number"
    );
    assert!(
        m(r#"properties.n != "5""#, ev.clone()),
        "string != on a number is always true"
    );
    assert!(m("properties.t = true", ev.clone()));
    assert!(!m(r#"properties.t = "true""#, ev.clone()));
    assert!(m("properties.t != false", ev.clone()));
    assert!(m("properties.n = 5.0", ev.clone()));
    assert!(m("properties.n = +5", ev.clone()));
    assert!(m("properties.n = 005", ev.clone()));
    // Single quotes are kept as part of the value.
    assert!(m("properties.q = 'x'", json!({"properties": {"q": "'x'"}})));
}

#[test]
fn relational_operators_need_numbers() {
    let ev = json!({"properties": {"n": 5, "s": "5"}});
    assert!(m("properties.n < 6", ev.clone()));
    assert!(!m("properties.n < 5", ev.clone()));
    assert!(m("properties.n <= 5", ev.clone()));
    assert!(m("properties.n > 4", ev.clone()));
    assert!(!m("properties.n > 5", ev.clone()));
    assert!(m("properties.n >= 5", ev.clone()));
    assert!(!m("properties.s > 4", ev.clone()));
    // The right-hand side goes through JS Number().
    assert!(m(r#"properties.n < "0x10""#, ev.clone()));
    assert!(m(r#"properties.n < " 12 ""#, ev.clone()));
    assert!(m(r#"properties.n > """#, ev.clone()));
    assert!(!m(r#"properties.n > "abc""#, ev.clone()));
    assert!(m("properties.z < true", json!({"properties": {"z": 0}})));
    assert!(m(r#"type < "6""#, json!({"type": 5})));
    // `<=` glued to its right operand lexes as `<` `=` `5` and never matches;
    // glued to the field it is a syntax error.
    assert!(!m("properties.n <=5", ev.clone()));
    assert!(parse("properties.n<=5").is_err());
}

#[test]
fn exists_and_booleans() {
    let ev = json!({"userId": "u", "name": "", "properties": {"t": true, "f": false, "z": null, "zero": 0}});
    assert!(m("properties.t != null", ev.clone()));
    assert!(m("properties.zero != null", ev.clone()));
    assert!(!m("properties.z != null", ev.clone()));
    assert!(m("properties.z = null", ev.clone()));
    assert!(m("properties.missing = null", ev.clone()));
    assert!(m("properties.t = true", ev.clone()));
    assert!(!m("properties.f = true", ev.clone()));
    assert!(m("properties.f = false", ev.clone()));
    assert!(!m("properties.zero = false", ev.clone()));
    assert!(m("userId != null", ev.clone()));
    assert!(m("name != null", ev.clone()));
    assert!(m("traits.email = null and context.ip = null", ev.clone()));
    // `name` has no true/false forms, `type`/`event` no null forms.
    assert!(m("name = true", json!({"name": "true"})));
    assert!(m("userId = true", json!({"userId": true})));
    assert!(m("event = null", json!({"event": "null"})));
    assert!(!m("event = null", json!({})));
    // The IR's operator names work as infix words.
    assert!(m("properties.zero exists 1", ev.clone()));
    assert!(m("properties.t is_true 1", ev.clone()));
}

#[test]
fn contains_and_match() {
    let ev = json!({"event": "Order Completed", "properties": {"sku": "AB-12", "n": 12}});
    assert!(m(r#"contains(event, "Compl")"#, ev.clone()));
    assert!(!m(r#"contains(event, "x")"#, ev.clone()));
    assert!(m(r#"!contains(event, "x")"#, ev.clone()));
    assert!(
        !m(r#"!contains(properties.n, "x")"#, ev.clone()),
        "negations still need a string"
    );
    assert!(m(r#"contains(properties.sku, "-")"#, ev.clone()));
    assert!(m(r#"match(event, "Order*")"#, ev.clone()));
    assert!(m(r#"match(event, "*Completed")"#, ev.clone()));
    assert!(!m(r#"match(event, "*Order")"#, ev.clone()));
    assert!(m(r#"!match(event, "*Order")"#, ev.clone()));
    // A pattern without a leading/trailing star loses its first character.
    assert!(m(r#"match(event, "XCompleted")"#, ev.clone()));
    assert!(m(r#"match(properties.sku, "AB*")"#, ev.clone()));
    assert!(m(r#"event contains "Order""#, ev.clone()));
    // contains()/match() on `type` add no condition, leaving nothing to match.
    assert!(parse(r#"contains(type, "t")"#).is_err());
    // Astral characters: match() slices UTF-16 code units.
    assert!(m(r#"match(event, "😀c")"#, json!({"event": "a😀c"})));
    assert!(!m(r#"match(event, "😀c")"#, json!({"event": "ac"})));
    // Dropping the first code unit of "😀" leaves a lone low surrogate, which ends "a😀".
    assert!(m(r#"match(event, "😀")"#, json!({"event": "a😀"})));
    assert!(!m(r#"match(event, "😀")"#, json!({"event": "a😀b"})));
    assert!(m(r#"!match(event, "😀")"#, json!({"event": "a😀b"})));
    // Indexing a string yields code units; a lone surrogate is a one-unit string.
    let astral = json!({"properties": {"s": "😀x"}});
    assert!(m("properties.s.length = 3", astral.clone()));
    assert!(m(r"properties.s.\0.length = 1", astral.clone()));
    assert!(m(r#"properties.s.\2 = "x""#, astral.clone()));
    assert!(m(r"properties.s.\0.\0.length = 1", astral.clone()));
    assert!(m(r"properties.s.\0.\1 = null", astral.clone()));
    assert!(m(r"properties.s.\3 = null", astral.clone()));
    assert!(m(r#"properties.s.\0 != "😀""#, astral));
}

#[test]
fn no_precedence_last_conjunction_wins() {
    let ev = json!({"type": "track", "event": "z"});
    // Read as a single `and` group: false (event is not "y").
    assert!(!m(
        r#"type = "x" or type = "track" and event = "y""#,
        ev.clone()
    ));
    // Read as a single `or` group: true.
    assert!(m(
        r#"type = "x" and type = "track" or event = "y""#,
        ev.clone()
    ));
    assert!(m(
        r#"(type = "x" or type = "track") and event = "z""#,
        ev.clone()
    ));
    assert!(!m(
        r#"(type = "x" or type = "y") and event = "z""#,
        ev.clone()
    ));
    assert!(m(r#"(contains(event, "z")) or type = "a""#, ev.clone()));
    // `!` negates only functions.
    assert!(m(r#"!type = "track""#, ev.clone()));
    assert!(m(r#"!(type = "track")"#, ev.clone()));
}

#[test]
fn brackets() {
    let ev = json!({"type": "track"});
    assert!(parse(r#"(type = "track" and (event = "x"))"#).is_err());
    assert!(parse(r#"((type = "track"))"#).is_err());
    assert!(parse("()").is_err());
    // `()` parses as an undefined child: evaluation stops there.
    assert!(m(r#"type = "track" or ()"#, ev.clone()));
    assert!(!m(r#"type = "x" or ()"#, ev.clone()));
    let deep = format!("{}type = \"track\"{}", "(".repeat(64), ")".repeat(64));
    assert!(parse(&deep).is_err());
    let deeper = "(".repeat(100_000);
    assert!(parse(&deeper).is_err());
}

#[test]
fn paths() {
    let ev = json!({"properties": {
        "my key": "x", "a": {"b": {"c": 1}}, "x": {"y": 2}, "s": "abc", "arr": [10, 20],
        "zero": 0, "no": false, "empty": "", "obj": {}, "__proto__": 7
    }, "context": {"traits": {"email": "e@x"}}, "traits": {"plan": "pro"}});
    assert!(m(
        r"properties.my\ key = 'x'".replace('\'', "\"").as_str(),
        ev.clone()
    ));
    assert!(
        !m(r#"properties."my key" = "x""#, ev.clone()),
        "quoted segments are not paths"
    );
    assert!(m("properties.a.b.c = 1", ev.clone()));
    assert!(m(r"properties.x\.y = 2", ev.clone()));
    assert!(m(r"properties.arr\[1\] = 20", ev.clone()));
    assert!(m(r"properties.arr.\1 = 20", ev.clone()));
    assert!(
        !m("properties.arr.1 = 20", ev.clone()),
        "a digit after '.' starts a number token"
    );
    assert!(m("properties.arr.length = 2", ev.clone()));
    assert!(m("properties.s.length = 3", ev.clone()));
    assert!(m(r#"properties.s.\1 = "b""#, ev.clone()));
    assert!(m(r#"context.traits.email = "e@x""#, ev.clone()));
    assert!(m(r#"traits.plan = "pro""#, ev.clone()));
    // Walking on from a falsy value yields that value.
    assert!(m("properties.zero.deeper = 0", ev.clone()));
    assert!(m("properties.no.deeper = false", ev.clone()));
    assert!(m(r#"properties.empty.deeper = """#, ev.clone()));
    // Built-in prototype members are visible, own keys win.
    assert!(m("properties.obj.constructor != null", ev.clone()));
    assert!(m(
        r#"properties.obj.constructor.name = "Object""#,
        ev.clone()
    ));
    assert!(m("properties.s.trim != null", ev.clone()));
    assert!(m("properties.__proto__ = 7", ev.clone()));
    assert!(m("properties.obj.__proto__.__proto__ = null", ev.clone()));
    // A bare prefix looks the prefix up inside itself.
    assert!(m(
        "properties = 1",
        json!({"properties": {"properties": 1}})
    ));
    // A path of separators only makes the reference throw: no match.
    assert!(!m(r"properties.\. != null", ev.clone()));
    assert!(m(
        r#"type = "x" or properties.\. = 1"#,
        json!({"type": "x"})
    ));
    assert!(
        m(r"properties\. = null", ev.clone()),
        "empty path is undefined"
    );
}

#[test]
fn odd_events() {
    assert!(!m(r#"type != "x""#, Value::Null));
    assert!(m(r#"type != "x""#, json!("track")));
    assert!(m(r#"type != "x""#, json!([1])));
    assert!(m("properties.a = null", json!({"properties": "str"})));
}

#[test]
fn empty_and_all_are_errors() {
    assert_eq!(err("").position, 0);
    assert!(parse("   ").is_err());
    assert!(parse("all").is_err());
    assert!(parse("and").is_err());
    assert!(
        parse("constructor = 1").is_err(),
        "consumes tokens, adds nothing"
    );
}

#[test]
fn error_positions() {
    assert_eq!(err(r#"properties.a!="x""#).position, 12);
    assert_eq!(err(r#"type = "track"#).position, 7);
    assert_eq!(err(r#"type = "track" $"#).position, 15);
    assert_eq!(err(r#"type = "😀" #"#).position, 11, "counted in chars");
    assert_eq!(err(r#"type = é"#).position, 7);
    assert_eq!(err(r#"type = "x" and (event = "y""#).position, 15);
    assert_eq!(err("type").position, 4);
    assert_eq!(err("1.2.3").position, 4);
    assert_eq!(err("type = 5.").position, 9);
    assert!(
        err(r#"properties.a!="x""#)
            .to_string()
            .contains("at position 12")
    );
    // Lexer corner cases that decide validity.
    assert!(parse("an").is_err());
    assert!(parse(r#"type = "track"\r"#.replace("\\r", "\r").as_str()).is_err());
    assert!(parse(r"type = \😀").is_err());
    assert!(m(r"type = \é", json!({"type": "é"})));
    assert!(m(r#"type="track""#, json!({"type": "track"})));
    assert!(m("type =", json!({"type": "eos"})));
}

fn event_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..20).prop_map(|n| json!(n)),
        "[a-z😀 ]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z0-9_]{1,3}|length|constructor|__proto__", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    // tests/fuzz.rs fuzzes the parser at scale (`make fuzz`); these stay quick in `make test`.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,40}", ev in event_strategy()) {
        if let Ok(f) = parse(&src) {
            let _ = f.matches_value(&ev);
        }
    }

    #[test]
    fn fql_like_text_never_panics(
        parts in prop::collection::vec(prop_oneof![
            Just("("), Just(")"), Just("\""), Just("'"), Just("!"), Just("="), Just("<"), Just(">"),
            Just("."), Just(","), Just("\\"), Just(" "), Just("and"), Just("or"), Just("null"),
            Just("true"), Just("-"), Just("5"), Just("1.5"), Just("*"), Just("["), Just("]"),
            Just("type"), Just("event"), Just("properties"), Just("traits"), Just("context"),
            Just("contains"), Just("match"), Just("a"), Just("😀"), Just("é"), Just("constructor"),
            Just("length"), Just("__proto__"), Just("\t"), Just("\n"),
        ], 0..24),
        ev in event_strategy(),
    ) {
        let src = parts.concat();
        match parse(&src) {
            Ok(f) => { let _ = f.matches_value(&json!({"type": "track", "properties": ev.clone(), "traits": ev.clone()})); }
            Err(e) => prop_assert!(e.position <= src.chars().count()),
        }
    }
}

#[test]
fn nesting_beyond_the_limit_names_the_limit() {
    let deep = |n: usize| format!("{}type = \"track\"{}", "(".repeat(n), ")".repeat(n));
    let e = err(&deep(3000));
    assert_eq!(e.message, format!("FQL nested deeper than {} levels", super::MAX_FQL_DEPTH));
    assert_eq!(e.position, super::MAX_FQL_DEPTH, "the first bracket past the limit");
    // At the limit the reference's own error stands (any bracket inside a bracket fails).
    let e = err(&deep(super::MAX_FQL_DEPTH));
    assert_eq!((e.message.as_str(), e.position), ("'(' is never closed", 1));
    // Closed brackets do not add up; brackets inside strings are not brackets.
    let flat = vec!["(type = \"track\")"; 40].join(" or ");
    assert!(parse(&flat).is_ok());
    assert!(parse(&format!("event = \"{}\"", "(".repeat(100))).is_ok());
}
