//! Fuzzing on stable Rust: proptest at scale over every parser and evaluator that takes user
//! input. Properties: no panic (a panic traps the wasm instance), well-formed results, bounded
//! output. `FUZZ_CASES` sets the cases per property: small in `make test`, large in `make fuzz`.

use edge_actions::{api, fql, mapping, pii};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ generators

/// Strings that matter to the code under test, plus arbitrary text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,16}",
        1 => any::<String>().prop_map(|s| s.chars().take(24).collect()),
        2 => prop::sample::select(vec![
            "track", "page", "identify", "screen", "group", "alias", "Order Completed", "Product Added",
            "2024-01-01T00:00:00Z", "2024-13-45T99:99:99Z", "1e308", "-0", "NaN", "a@b.c", " A@B.C ",
            "+44 (0)20 7946 0958", "0044", "male", "New York", "United States", "$.properties",
            "__proto__", "constructor", "length", "0", "", " ", "\u{feff}", "\u{2028}", "😀",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ]).prop_map(str::to_string),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "type", "event", "name", "userId", "anonymousId", "messageId", "timestamp", "properties",
            "context", "traits", "integrations", "email", "phone", "products", "revenue", "currency",
            "address", "city", "device", "advertisingId", "ip", "userAgent", "page", "url", "0", "1",
            "length", "__proto__", "Snap Conversions Api", "click_id", "user_data", "custom_data",
        ]).prop_map(str::to_string),
        1 => "[a-z0-9_.$]{0,6}",
    ]
}

fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop::sample::select(vec![0.0, -0.0, 1e21, 1e-7, 9007199254740993.0, 0.1]).prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Timestamps: valid, nearly valid, out of range, and arbitrary.
fn timestamp() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(json!("2024-01-01T00:00:00Z")),
        2 => "[+-]?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,3}([T ][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,12})?)?)?(Z|[+-][0-9]{1,2}(:?[0-9]{2})?)?"
            .prop_map(Value::String),
        1 => prop::sample::select(vec!["Tue, 01 Jan 2024 00:00:00 GMT", "2024", "2024-02-30", "275760-09-13T00:00:00.001Z", "-271821-04-20", "1e3", "", "now"])
            .prop_map(|s| json!(s)),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => text().prop_map(Value::String),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let ty = prop::sample::select(vec!["track", "page", "identify", "screen", "group", "alias", "bogus"]);
    let ev = prop::sample::select(vec!["Order Completed", "Product Added", "Signed Up", "Products Searched", "x"]);
    (ty, ev, json_value(3), json_value(3), json_value(3), text(), prop::option::of(text()), timestamp())
        .prop_map(|(ty, ev, props, ctx, traits, uid, mid, ts)| {
            let mut e = json!({"type": ty, "event": ev, "properties": props, "context": ctx, "traits": traits,
                "userId": uid, "timestamp": ts});
            if let Some(m) = mid {
                e["messageId"] = json!(m);
            }
            e
        })
}

// ------------------------------------------------------------------ event parser / plan

const ONE_SUBSCRIPTION: &str = r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px","snap_app_id":"app","access_token":"t"},
  "subscriptions":[{"name":"s","subscribe":"type = \"track\"","partnerAction":"reportConversionEvent",
  "mapping":{"event_name":"PURCHASE","action_source":"website"}}]}"#;

/// Every line is an object that says what happened to its event, in one of four shapes.
fn assert_well_formed(line: &Value) -> Result<(), TestCaseError> {
    let o = line.as_object().ok_or_else(|| TestCaseError::fail(format!("line is not an object: {line}")))?;
    prop_assert!(o.contains_key("messageId"), "line without messageId: {line}");
    let shapes = ["request", "batchedWith", "error", "skipped"].iter().filter(|k| o.contains_key(**k)).count();
    prop_assert_eq!(shapes, 1, "line must be exactly one of request/batchedWith/error/skipped: {}", line);
    if let Some(e) = o.get("error") {
        prop_assert!(e["code"].is_string() && e["message"].is_string(), "malformed error: {}", line);
    }
    Ok(())
}

/// With one subscription, each event gets exactly one line, in order, carrying its messageId.
fn check_plan(events: &[Value]) -> Result<(), TestCaseError> {
    let cfg = api::create(ONE_SUBSCRIPTION).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let input = Value::Array(events.to_vec()).to_string();
    let lines = api::plan(&cfg, &input).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(lines.len(), events.len());
    for (line, ev) in lines.iter().zip(events) {
        assert_well_formed(line)?;
        if let Some(id) = ev.get("messageId").filter(|m| m.is_string()) {
            prop_assert_eq!(&line["messageId"], id);
        }
    }
    // Bounded output: a request carries at most a constant factor of its event (hashes and
    // envelope included).
    let out = serde_json::to_string(&lines).unwrap_or_default().len();
    prop_assert!(out <= 8 * input.len() + 4096 * events.len().max(1), "{out} bytes of plan for {} bytes of events", input.len());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plan_arbitrary_json_events(events in prop::collection::vec(prop_oneof![json_value(4), event()], 0..6)) {
        check_plan(&events)?;
    }

    #[test]
    fn plan_arbitrary_text(s in prop_oneof!["\\PC{0,200}", any::<String>(), "[\\[\\]{}\",:0-9a-z ]{0,80}"]) {
        let cfg = api::create(ONE_SUBSCRIPTION).unwrap();
        match api::plan(&cfg, &s) {
            Ok(lines) => {
                let n = serde_json::from_str::<Vec<Value>>(&s).map(|v| v.len()).unwrap_or(lines.len());
                prop_assert_eq!(lines.len(), n);
                for l in &lines {
                    assert_well_formed(l)?;
                }
            }
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
    }

    #[test]
    fn plan_near_valid_json(events in prop::collection::vec(event(), 1..4), cut in any::<prop::sample::Index>(), insert in "[\\[\\]{}\",:\\\\0-9a-z]{0,2}") {
        // One edit of a valid events array: an error or a well-formed plan, never a panic.
        let chars: Vec<char> = Value::Array(events).to_string().chars().collect();
        let at = cut.index(chars.len());
        let mutated: String = chars[..at].iter().copied().chain(insert.chars()).chain(chars[at + 1..].iter().copied()).collect();
        let cfg = api::create(ONE_SUBSCRIPTION).unwrap();
        if let Ok(lines) = api::plan(&cfg, &mutated) {
            for l in &lines {
                assert_well_formed(l)?;
            }
        }
    }

    #[test]
    fn random_mappings_through_the_snap_action(m in mapping(), fields in prop::collection::vec((prop::sample::select(vec![
        "event_name", "event_time", "event_id", "action_source", "user_data", "app_data", "custom_data", "products",
        "email", "phone_number", "price", "currency", "item_ids", "number_items", "timestamp", "event_conversion_type",
        "data_processing_options", "data_processing_options_country", "event_source_url", "mobile_ad_id", "brands",
    ]), directive_tree()), 0..6), events in prop::collection::vec(event(), 1..4)) {
        // Whatever a mapping yields (wrong types, nested junk), the action's schema check and
        // request builder answer with a line per event.
        let mut mapping = m;
        for (k, v) in fields {
            mapping[k] = v;
        }
        let opts = json!({"destination": "snap-conversions-api", "settings": {"pixel_id": "px", "snap_app_id": "app", "access_token": "t"},
            "subscriptions": [{"name": "s", "subscribe": "type = \"track\" or type = \"page\" or type = \"bogus\"", "partnerAction": "reportConversionEvent", "mapping": mapping}]});
        let Ok(cfg) = api::create(&opts.to_string()) else { return Ok(()) };
        let lines = api::plan(&cfg, &Value::Array(events.clone()).to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(lines.len() >= events.len());
        for l in &lines {
            assert_well_formed(l)?;
        }
    }

    #[test]
    fn presets_plan_arbitrary_events(events in prop::collection::vec(event(), 0..6)) {
        let cfg = api::create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px","snap_app_id":"app","access_token":"t","batch_size":3}}"#).unwrap();
        let lines = api::plan(&cfg, &Value::Array(events.clone()).to_string()).unwrap();
        prop_assert!(lines.len() >= events.len());
        for l in &lines {
            assert_well_formed(l)?;
        }
    }
}

// ------------------------------------------------------------------ mapping-kit

fn path_str() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["$.properties", "$.properties.email", "$.a", "$.a.b", "$.traits", "$.products", "$.", "$", "", "a.0", "$.a[0]", "$.length"])
            .prop_map(str::to_string),
        "\\$\\.[a-z0-9_.\\[\\]]{0,8}",
    ]
}

/// Liquid templates from random tags, filters and outputs (some malformed on purpose).
fn liquid() -> impl Strategy<Value = String> {
    let operand = prop::sample::select(vec![
        "properties.email", "a", "a.b", "x", "'lit'", "\"q\"", "3", "-1.5", "nil", "empty", "blank", "true", "(1..3)",
        "'😀é'", "'a\\u0000b'", "1e21", "-0", "properties.products.first", "a[-1]", "a['x'][0]", "(3..1)", "(-2..2)",
        "'2024-01-01T00:00:00Z'", "properties.length", "properties.__proto__", "properties.constructor",
        "(a..b)", "properties.products[0]", "properties['e']", "products.size", "v",
    ]);
    let filter = prop::sample::select(vec![
        "upcase", "downcase", "capitalize", "strip", "append: 'x'", "prepend: a", "replace: '', '-'", "remove: 'a'",
        "split: ''", "split: ','", "join: '--'", "first", "last", "size", "default: 'd'", "plus: 2", "minus: 'x'",
        "times: 1e300", "divided_by: 0", "modulo: 3", "abs", "ceil", "round: 2", "json", "json: 2", "url_encode",
        "truncate: 3", "slice: 1, 2", "date: '%Y'", "sort", "map: 'x'", "at_least: 1", "to_integer", "escape",
        "replace_first: 'a', 'bb'", "remove_last: 'a'", "newline_to_br", "bogus_filter", "truncate: -1",
        "truncate: 2, '😀'", "truncatewords: 1", "slice: -3, 100", "slice: -1", "round: 400", "divided_by: -0",
        "date: '%a %b %e %H:%M:%S %Y %z %j %%'", "date: 'now'", "default: nil, allow_false: true", "strip: '😀'",
        "lstrip", "rstrip", "url_decode", "escape_once", "strip_html", "plus: 1e308", "floor", "ceil: 2",
        "split: 'a' | join", "append: '😀'", "capitalize | upcase", "json: 'xx'", "sum", "compact", "where: 'x'",
    ]);
    let output = (operand.clone(), prop::collection::vec(filter, 0..4)).prop_map(|(o, fs)| {
        let mut s = format!("{{{{ {o}");
        for f in fs {
            s.push_str(" | ");
            s.push_str(f);
        }
        s.push_str(" }}");
        s
    });
    let piece = prop_oneof![
        4 => output.clone(),
        2 => (operand.clone(), prop::sample::select(vec!["==", "!=", ">", "<", "contains", "and", "or"]), operand.clone(), output.clone())
            .prop_map(|(a, op, b, body)| format!("{{% if {a} {op} {b} %}}{body}{{% else %}}e{{% endif %}}")),
        2 => (prop::sample::select(vec!["v", "a", "x"]), output.clone()).prop_map(|(n, o)| {
            let expr = o.trim_start_matches("{{").trim_end_matches("}}").to_string();
            format!("{{% assign {n} = {expr} %}}")
        }),
        1 => output.clone().prop_map(|o| format!("{{% capture v %}}{o}{o}{{% endcapture %}}")),
        1 => prop::sample::select(vec![
            "{% for i in (1..3) %}{{i}}{% endfor %}", "{% raw %}{{x}}{% endraw %}", "{%- if x -%}", "{% endif %}",
            "{{", "}}", "{% unless a %}u{% endunless %}", "{% comment %}c{% endcomment %}", "{% echo a %}",
            "{% case a %}", "{% include 'x' %}", "{{ a | append: a | append: a | append: a }}", "text ",
        ]).prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|ps| ps.concat())
}

fn directive_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        path_str().prop_map(|p| json!({"@path": p})),
        json_value(1),
        "\\PC{0,10}\\{\\{[a-z.]{0,8}\\}\\}".prop_map(|t| json!({"@template": t})),
        liquid().prop_map(|t| json!({"@liquid": t})),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), inner.clone(), any::<bool>()).prop_map(|(c, t, e, blank)| {
                json!({"@if": {(if blank { "blank" } else { "exists" }): c, "then": t, "else": e}})
            }),
            (prop::sample::select(vec!["lower", "upper", "x"]), inner.clone()).prop_map(|(op, v)| json!({"@case": {"operator": op, "value": v}})),
            ("[a-z ]{0,3}", "[A-Z_]{0,4}", inner.clone(), any::<bool>()).prop_map(|(p, r, v, g)| {
                json!({"@replace": {"pattern": p, "replacement": r, "value": v, "global": g}})
            }),
            (path_str(), prop::collection::vec((key(), inner.clone()), 0..3)).prop_map(|(p, kv)| {
                json!({"@arrayPath": [p, Value::Object(kv.into_iter().collect())]})
            }),
            (prop::sample::select(vec!["encode", "decode", "ENCODE"]), inner.clone()).prop_map(|(m, v)| json!({"@json": {"mode": m, "value": v}})),
            ("[._-]{1,2}", inner.clone(), any::<bool>()).prop_map(|(s, v, o)| json!({"@flatten": {"separator": s, "value": v, "omitArrays": o}})),
            (prop::collection::vec(inner.clone(), 0..3), prop::sample::select(vec!["left", "right"])).prop_map(|(objs, d)| {
                json!({"@merge": {"objects": objs, "direction": d}})
            }),
            (prop::collection::vec((key(), inner.clone()), 1..3), inner.clone()).prop_map(|(apply, m)| {
                json!({"@transform": {"apply": Value::Object(apply.into_iter().collect()), "mapping": {"out": m}}})
            }),
            inner.clone().prop_map(|v| json!({"@literal": v})),
            inner.clone().prop_map(|v| json!({"@excludeWhenNull": v})),
            prop::collection::vec((key(), inner.clone()), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            prop::collection::vec(inner, 0..3).prop_map(Value::Array),
        ]
    })
}

/// Mappings in the subset the compiled evaluator covers (literals, objects, arrays, `@path`,
/// `@if`, `@arrayPath`), with a few misuses it must leave to the full evaluator.
fn fast_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => path_str().prop_map(|p| json!({"@path": p})),
        2 => json_value(1),
        1 => Just(json!({"@path": {"@path": "$.v"}})),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), inner.clone(), 0..4u8).prop_map(|(c, t, e, shape)| match shape {
                0 => json!({"@if": {"exists": c, "then": t, "else": e}}),
                1 => json!({"@if": {"blank": c, "then": t, "else": e}}),
                2 => json!({"@if": {"exists": c, "then": t}}),
                _ => json!({"@if": {"blank": c, "else": e}}),
            }),
            // The presets' shape: `then` is the condition's own path (the compiled evaluator
            // reuses the condition's value there).
            (path_str(), inner.clone(), any::<bool>()).prop_map(|(p, e, blank)| {
                json!({"@if": {(if blank { "blank" } else { "exists" }): {"@path": p}, "then": {"@path": p}, "else": e}})
            }),
            (path_str(), prop::collection::vec((key(), inner.clone()), 0..3)).prop_map(|(p, kv)| {
                json!({"@arrayPath": [p, Value::Object(kv.into_iter().collect())]})
            }),
            path_str().prop_map(|p| json!({"@arrayPath": [p]})),
            prop::collection::vec((key(), inner.clone()), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            prop::collection::vec(inner, 0..3).prop_map(Value::Array),
        ]
    })
}

fn mapping() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), directive_tree()), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn payload() -> impl Strategy<Value = Value> {
    (json_value(3), json_value(2), text()).prop_map(|(props, a, email)| {
        json!({"properties": props, "a": a, "traits": {"email": email}, "products": [{"x": 1}, {"x": "y"}], "v": "value"})
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mapping_kit_never_panics_and_agrees_with_compiled(m in mapping(), p in payload()) {
        let direct = mapping::transform(&m, &p);
        // The compiled path (validate once, apply per event) must give exactly the same.
        let compiled = mapping::Compiled::new(&m).and_then(|c| c.apply(&mapping::payload(&p)?).map(|v| v.into_json()));
        match (&direct, &compiled) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "transform {:?} but compiled {:?}", direct, compiled),
        }
        if let Ok(out) = direct {
            // Bounded: Liquid output is capped at 16 MiB; everything else grows by at most a
            // JSON-escaping factor per nesting level of the (depth-5) generated mapping.
            let size = out.to_string().len();
            let input = m.to_string().len() + p.to_string().len();
            prop_assert!(size <= 64 * input + (16 << 20), "{size} bytes out of {input}");
        }
    }

    #[test]
    fn compiled_evaluator_agrees_with_mapping_kit(kv in prop::collection::vec((key(), fast_tree()), 0..5), p in payload()) {
        // The node-tree evaluator on the parsed event gives exactly what the full evaluator
        // gives (or the same error), for mappings it covers and those it hands back.
        let m = Value::Object(kv.into_iter().collect());
        let direct = mapping::transform(&m, &p);
        let event = edge_actions::json::J::from_value(&p);
        let compiled = mapping::Compiled::new(&m).and_then(|c| c.apply_event(&event, &mut None).map(|v| v.to_value()));
        match (&direct, &compiled) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "transform {:?} but compiled {:?}", direct, compiled),
        }
    }

    #[test]
    fn mapping_via_api_text(m in "\\PC{0,120}", p in "\\PC{0,60}") {
        // Arbitrary text as mapping and payload: a typed error or a value.
        if let Err(e) = api::transform(&m, &p) {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn liquid_templates_never_panic(t in liquid(), p in payload()) {
        let m = json!({"out": {"@liquid": t}});
        if let Ok(v) = mapping::transform(&m, &p) {
            prop_assert!(v["out"].is_string() || v["out"].is_null(), "{v}");
            prop_assert!(v.to_string().len() <= (16 << 20) + 64);
        }
    }
}

// ------------------------------------------------------------------ FQL

fn fql_token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "type", "event", "name", "userId", "properties.a", "traits.email", "context.x.y", "properties.a\\ b",
        "=", "!=", "<", "<=", ">", ">=", "contains", "match", "and", "or", "!", "(", ")", ",", ".", "[", "]",
        "\"track\"", "\"a*\"", "'x'", "1", "-2.5", "null", "true", "false", "all", "constructor", "\"", "\\",
        "1.", "1.2.3", "😀", "\"unterminated",
    ])
    .prop_map(str::to_string)
}

/// Valid triggers from the grammar, which the near-valid generator then edits.
fn valid_fql() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec!["type", "event", "name", "userId", "properties.total", "traits.email", "context.ip"]);
    let value = prop::sample::select(vec!["\"track\"", "\"Order Completed\"", "1", "2.5", "null", "true", "false"]);
    let op = prop::sample::select(vec!["=", "!=", "<", ">=", ">"]);
    let cond = prop_oneof![
        (field.clone(), op, value).prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        // Not `type`: the reference adds no condition for contains()/match() on it.
        (any::<bool>(), prop::sample::select(vec!["contains", "match"]), prop::sample::select(vec!["event", "name", "properties.a"]), "[a-z*]{0,4}")
            .prop_map(|(neg, f, fld, v)| format!("{}{f}({fld}, \"{v}\")", if neg { "!" } else { "" })),
    ];
    let group = prop_oneof![
        3 => cond.clone(),
        1 => (cond.clone(), cond.clone(), any::<bool>()).prop_map(|(a, b, or)| format!("({a} {} {b})", if or { "or" } else { "and" })),
    ];
    (group.clone(), prop::collection::vec((any::<bool>(), group), 0..4)).prop_map(|(first, rest)| {
        let mut s = first;
        for (or, g) in rest {
            s.push_str(if or { " or " } else { " and " });
            s.push_str(&g);
        }
        s
    })
}

fn check_fql(src: &str, ev: &Value) -> Result<(), TestCaseError> {
    match fql::parse(src) {
        Ok(f) => {
            let _ = f.matches_value(ev);
            // Deterministic: parsing again matches the same way.
            prop_assert_eq!(fql::parse(src).map(|g| g.matches_value(ev)).ok(), Some(f.matches_value(ev)));
        }
        Err(e) => {
            prop_assert!(e.position <= src.chars().count(), "position {} past the end of {:?}", e.position, src);
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fql_random_text(src in prop_oneof!["\\PC{0,60}", any::<String>(), "[a-z\"'()!=<>.,\\[\\] \\\\0-9*-]{0,60}"], ev in event()) {
        check_fql(&src, &ev)?;
    }

    #[test]
    fn fql_token_soup(toks in prop::collection::vec(fql_token(), 0..20), ev in event()) {
        check_fql(&toks.join(" "), &ev)?;
        check_fql(&toks.concat(), &ev)?;
    }

    #[test]
    fn fql_valid_and_near_valid(src in valid_fql(), edit in any::<prop::sample::Index>(), tok in fql_token(), del in any::<bool>(), ev in event()) {
        prop_assert!(fql::parse(&src).is_ok(), "generated trigger does not parse: {}", src);
        check_fql(&src, &ev)?;
        let chars: Vec<char> = src.chars().collect();
        let at = edit.index(chars.len().max(1)).min(chars.len());
        let mut edited: String = chars[..at].iter().collect();
        if !del {
            edited.push_str(&tok);
        }
        edited.extend(chars[(at + usize::from(del)).min(chars.len())..].iter());
        check_fql(&edited, &ev)?;
    }

    #[test]
    fn fql_deep_brackets(n in 0usize..300, inner in valid_fql()) {
        let src = format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
        match fql::parse(&src) {
            Ok(_) => prop_assert!(n <= 1 || !inner.contains('(')),
            Err(e) if n > fql::MAX_FQL_DEPTH => prop_assert!(e.message.contains("nested deeper than")),
            Err(_) => {}
        }
    }
}

// ------------------------------------------------------------------ PII normalizers

type Normalizer = fn(&str) -> String;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn normalizers_never_panic_and_hash_or_refuse(s in prop_oneof![text(), any::<String>(), "[ \t\u{a0}\u{feff}0-9A-Fa-f+()-]{0,70}"]) {
        let normalizers: [(&str, Normalizer); 6] = [
            ("strip_lower", pii::strip_lower), ("phone", pii::phone_digits), ("gender", pii::gender),
            ("state", pii::state), ("country", pii::country), ("as_is", pii::as_is),
        ];
        for (name, f) in normalizers {
            let _ = f(&s);
            match pii::normalize_and_hash(&s, f) {
                Ok(h) if h.is_empty() => prop_assert!(pii::js_trim(&s).is_empty(), "{}: blank only for blank input", name),
                Ok(h) => {
                    prop_assert!(pii::is_sha256_hex(&h) && h == h.to_ascii_lowercase(), "{}: not a lower-case digest: {:?}", name, h);
                    // Either the input was a digest already, or the output is not the input.
                    prop_assert!(pii::is_sha256_hex(&s) || h != s, "{}: raw value passed through", name);
                }
                Err(_) => prop_assert!(pii::js_trim(&f(&s)).is_empty()),
            }
        }
    }
}

// ------------------------------------------------------------------ limits, end to end

#[test]
fn deep_fql_is_a_config_error_naming_the_limit() {
    let n = 3000;
    let trigger = format!("{}type = \"track\"{}", "(".repeat(n), ")".repeat(n));
    let opts = json!({"destination": "snap-conversions-api", "settings": {"pixel_id": "px"},
        "subscriptions": [{"subscribe": trigger, "partnerAction": "reportConversionEvent"}]});
    let e = api::create(&opts.to_string()).err().expect("refused");
    assert_eq!(e.code, edge_actions::error::ErrorCode::InvalidConfig);
    assert_eq!(e.field.as_deref(), Some("subscriptions[0].subscribe"));
    assert_eq!(e.message, format!("Invalid FQL trigger: FQL nested deeper than {0} levels at position {0}", fql::MAX_FQL_DEPTH));
    let e = api::matches_trigger(&trigger, "{}").unwrap_err();
    assert_eq!(e.code, edge_actions::error::ErrorCode::InvalidConfig);
    assert!(e.message.contains("FQL nested deeper than 32 levels"), "{}", e.message);
}

#[test]
fn deep_mapping_is_a_mapping_error_naming_the_limit() {
    // 60 nested @if: within serde_json's text limit, past the mapping limit.
    let mut m = json!({"@path": "$.x"});
    for _ in 0..60 {
        m = json!({"@if": {"exists": {"@path": "$.a"}, "then": m}});
    }
    let mapping = json!({"a": m});
    let e = api::transform(&mapping.to_string(), "{}").unwrap_err();
    assert_eq!(e.code, edge_actions::error::ErrorCode::MappingError);
    assert_eq!(e.message, format!("mapping is nested deeper than {} levels (the limit)", mapping::MAX_MAPPING_DEPTH));
    let opts = json!({"destination": "snap-conversions-api", "settings": {"pixel_id": "px"},
        "subscriptions": [{"subscribe": "type = \"track\"", "partnerAction": "reportConversionEvent", "mapping": mapping}]});
    let e = api::create(&opts.to_string()).err().expect("refused");
    assert_eq!(e.code, edge_actions::error::ErrorCode::InvalidConfig);
    assert!(e.message.contains("mapping is nested deeper than 64 levels"), "{}", e.message);
}

// ------------------------------------------------------------------ the direct JSON parser

/// A JSON text of `v`, with some characters written as `\u` escapes (surrogate pairs
/// included) and, when `cut` is set, one byte replaced by a JSON-significant one: valid and
/// broken text both.
fn json_text() -> impl Strategy<Value = String> {
    (json_value(4), any::<u64>(), prop::option::of((any::<usize>(), prop::sample::select(b"\"\\{}[],:0-.eEtfnu \x01".to_vec()))))
        .prop_map(|(v, seed, cut)| {
            let mut out = String::new();
            for (i, c) in serde_json::to_string(&v).unwrap().chars().enumerate() {
                // Escape some non-structural characters (only inside strings does it parse).
                if !c.is_ascii() && (seed >> (i % 64)) & 1 == 1 {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04X}"));
                    }
                } else {
                    out.push(c);
                }
            }
            if let Some((at, b)) = cut {
                let mut bytes = out.into_bytes();
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = b;
                }
                out = String::from_utf8_lossy(&bytes).into_owned();
            }
            out
        })
}

/// `json::parse_measured` (`json::parse` with the depth it counts) and serde_json's parse of
/// one text, as comparable results: the value's Debug form (numbers to the bit, `-0`
/// included) and its depth (serde's by `J::depth`), or the error message.
fn both_parses(t: &str) -> (Result<String, String>, Result<String, String>) {
    use edge_actions::json;
    let show = |r: Result<(json::J<'_>, usize), serde_json::Error>| r.map(|(v, d)| format!("{v:?} depth {d}")).map_err(|e| e.to_string());
    (show(json::parse_measured(t)), show(json::parse_with_serde(t).map(|v| {
        let d = v.depth();
        (v, d)
    })))
}

proptest! {
    #![proptest_config(config())]

    /// `json::parse` (the direct parser, falling back to serde_json) gives exactly what
    /// serde_json gives: the same value (numbers to the bit, -0 included) and depth, or an
    /// error with the same message.
    #[test]
    fn direct_json_parser_agrees_with_serde(t in prop_oneof![3 => json_text(), 1 => "[\\[\\]{}\",:0-9a-z\\\\. -]{0,40}"]) {
        let (ours, serde) = both_parses(&t);
        prop_assert_eq!(ours, serde, "{}", t);
    }
}

#[test]
fn direct_json_parser_edge_cases() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for t in [
        "-0", "0", "-0.0", "1e400", "-1e400", "18446744073709551615", "18446744073709551616", "9999999999999999999",
        "-9999999999999999999", "-9223372036854775808", "01", "1.", ".5", "1e", "-", "1.5e-7", "123456789012345678901234567890",
        r#""\ud83d\ude00""#, r#""\ud83d""#, r#""\ude00""#, r#""\ud83dx""#, r#""\ud83d\u0041""#, r#""a\u0000b""#, "\"a\tb\"",
        r#""\x""#, r#"{"a":1,"a":2,"1":0}"#, "{\"a\":1,}", "[1,]", " [ ] ", "[] x", "tru", "nul", "\u{feff}1", &deep(127), &deep(128),
    ] {
        let (ours, serde) = both_parses(t);
        assert_eq!(ours, serde, "{t}");
    }
}

#[test]
fn compiled_if_reusing_its_condition_is_charged_like_the_evaluator() {
    // `then` = the condition's path: the compiled evaluator reuses the value but charges it
    // again, so a value over half the budget fails both evaluators alike (each evaluation of
    // the path counts).
    let big = "x".repeat(mapping::MAX_EVAL_BYTES / 2 + 1024);
    let p = json!({"big": [big], "small": ["y"]});
    for path in ["$.big", "$.small"] {
        let m = json!({"out": {"@if": {"exists": {"@path": path}, "then": {"@path": path}, "else": "none"}}});
        let direct = mapping::transform(&m, &p);
        let compiled = mapping::Compiled::new(&m).and_then(|c| c.apply_event(&edge_actions::json::J::from_value(&p), &mut None).map(|v| v.to_value()));
        assert_eq!(direct.is_err(), compiled.is_err(), "{path}: {direct:?} / {compiled:?}");
        assert_eq!(direct.is_err(), path == "$.big", "{path}");
        if let (Ok(a), Ok(b)) = (&direct, &compiled) {
            assert_eq!(a, b);
        }
    }
}

// ------------------------------------------------------------------ the fused array reader

/// `input::each_array_event` and `split_array` + `parse_event` of one text, as comparable
/// results: each element's `Input` in Debug form (values to the bit, rejections with their
/// messages and ids) or the array's own error.
fn both_array_reads(t: &str) -> (Result<Vec<String>, String>, Result<Vec<String>, String>) {
    use edge_actions::input;
    let mut fused = Vec::new();
    let fused = input::each_array_event(t, |i| fused.push(format!("{i:?}"))).map(|()| fused).map_err(|e| e.message);
    let split = input::split_array(t).map(|ps| ps.into_iter().map(|p| format!("{:?}", input::parse_event(p, None))).collect()).map_err(|e| e.message);
    (fused, split)
}

proptest! {
    #![proptest_config(config())]

    /// The fused reader gives every element exactly what splitting then parsing gives, for
    /// arrays of valid and broken elements, and for broken arrays (the same error).
    #[test]
    fn fused_array_reader_agrees_with_split_and_parse(
        elems in prop::collection::vec(prop_oneof![3 => json_text(), 1 => "[\\[\\]{}\",:0-9a-z\\\\. !-]{0,12}"], 0..5),
        ws in prop::sample::select(vec!["", " ", "\n\t ", "\r\n"]),
        tail in prop::sample::select(vec!["]", " ] ", "", "] x", ",]", "]]"]),
    ) {
        let t = format!("[{ws}{}{tail}", elems.join(&format!("{ws},{ws}")));
        let (fused, split) = both_array_reads(&t);
        prop_assert_eq!(fused, split, "{}", t);
    }
}

#[test]
fn fused_array_reader_edge_cases() {
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let big = format!(r#"{{"messageId":"big","s":"{}"}}"#, "x".repeat(api::MAX_EVENT_BYTES));
    let deep_event = format!(r#"{{"messageId":"deep","p":{}}}"#, deep(70));
    for t in [
        "[]", " [ ] ", "[", "[1", "[1,", "[1,]", "[,1]", "[1,,2]", "[1] x", "{}", "", "x", "[1 2]", "[truex]", "[tru]", "[-]",
        "[1.5e3,-0,01]", r#"["a\"]", 1]"#, r#"["\ud800"]"#, r#"[{"a":1,"a":2,"1":0}]"#, r#"[{"a":1}x]"#, "[{\"a\":1}\n]",
        r#"[!{"message":"cycle","messageId":"c"}, {"type":"track"}]"#, r#"[{"x":1e400,"messageId":"n"}]"#,
        &format!("[{}]", deep(63)), &format!("[{}]", deep(64)), &format!("[{}]", deep(130)), &format!("[{deep_event}]"),
        &format!("[{big},{{}}]"), "[\"a\u{1}b\"]", "[\u{feff}1]", "[1]\u{feff}",
    ] {
        let (fused, split) = both_array_reads(t);
        assert_eq!(fused, split, "{}", t.chars().take(200).collect::<String>());
    }
}
