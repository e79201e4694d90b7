use super::*;
use serde_json::json;

fn t(mapping: Value, payload: Value) -> Value {
    transform(&mapping, &payload).unwrap_or_else(|e| panic!("transform failed: {e}"))
}

fn fails(mapping: Value, payload: Value) -> MappingError {
    match transform(&mapping, &payload) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn path_basics() {
    let p = json!({"properties": {"email": "a@b.c", "n": 0, "arr": [{"x": 1}, {"x": 2}]},
                   "integrations": {"Snap Conversions Api": {"click_id": "abc"}}});
    assert_eq!(
        t(json!({"e": {"@path": "$.properties.email"}, "c": {"@path": "$.integrations.Snap Conversions Api.click_id"},
                 "x": {"@path": "$.properties.arr[1].x"}, "missing": {"@path": "$.nope.deeper"},
                 "falsy": {"@path": "$.properties.n.deeper"}, "lit": 5, "nested": {"a": [1, {"@path": "$.properties.email"}]}}), p),
        json!({"e": "a@b.c", "c": "abc", "x": 2, "falsy": 0, "lit": 5, "nested": {"a": [1, "a@b.c"]}})
    );
}

#[test]
fn missing_in_array_becomes_null() {
    assert_eq!(t(json!({"a": [{"@path": "$.x"}, 1]}), json!({})), json!({"a": [null, 1]}));
}

#[test]
fn if_exists_then_else() {
    let m = json!({"email": {"@if": {"exists": {"@path": "$.properties.email"},
        "then": {"@path": "$.properties.email"}, "else": {"@path": "$.traits.email"}}}});
    assert_eq!(t(m.clone(), json!({"properties": {"email": "p"}, "traits": {"email": "t"}})), json!({"email": "p"}));
    assert_eq!(t(m.clone(), json!({"properties": {}, "traits": {"email": "t"}})), json!({"email": "t"}));
    assert_eq!(t(m, json!({"properties": {"email": null}})), json!({}));
}

#[test]
fn if_blank() {
    let m = json!({"v": {"@if": {"blank": {"@path": "$.a"}, "then": "yes", "else": "no"}}});
    assert_eq!(t(m.clone(), json!({"a": ""})), json!({"v": "no"}));
    assert_eq!(t(m.clone(), json!({"a": 0})), json!({"v": "no"}));
    assert_eq!(t(m.clone(), json!({"a": []})), json!({"v": "no"}));
    assert_eq!(t(m.clone(), json!({"a": "x"})), json!({"v": "yes"}));
    assert_eq!(t(m, json!({"a": {}})), json!({"v": "yes"}));
    fails(json!({"v": {"@if": {"exists": ""}}}), json!({}));
}

#[test]
fn array_path_shapes() {
    let m = json!({"contents": {"@arrayPath": ["$.properties.products", {"item_id": {"@path": "product_id"}, "q": {"@path": "$.quantity"}}]}});
    let p = json!({"properties": {"products": [{"product_id": "p1", "quantity": 2}, {"product_id": "p2"}]}});
    assert_eq!(t(m.clone(), p), json!({"contents": [{"item_id": "p1", "q": 2}, {"item_id": "p2"}]}));
    assert_eq!(t(m.clone(), json!({"properties": {"products": {"product_id": "solo"}}})), json!({"contents": [{"item_id": "solo"}]}));
    assert_eq!(t(m.clone(), json!({"properties": {"products": "str"}})), json!({"contents": "str"}));
    assert_eq!(t(m, json!({})), json!({}));
    assert_eq!(t(json!({"a": {"@arrayPath": ["$.x", {}]}}), json!({"x": [1]})), json!({"a": [1]}));
}

#[test]
fn template_rendering() {
    let p = json!({"a": {"b": "B"}, "n": 1.5, "o": {"x": 1}, "l": [1, 2], "t": "{{a.b}}"});
    assert_eq!(t(json!({"s": {"@template": "x{{a.b}}-{{ n }}-{{o}}-{{l}}-{{missing}}-{{{t}}}"}}), p), json!({"s": "xB-1.5-[object Object]-1,2--B"}));
    fails(json!({"s": {"@template": {"@path": "$.n"}}}), json!({"n": 1}));
}

#[test]
fn literal_and_nesting() {
    assert_eq!(t(json!({"a": {"@literal": {"x": {"@path": "$.v"}}}}), json!({"v": true})), json!({"a": {"x": true}}));
    assert_eq!(t(json!({"a": {"@literal": null}}), json!({})), json!({"a": null}));
}

#[test]
fn case_and_replace() {
    let p = json!({"s": "Hello World", "n": 10});
    assert_eq!(t(json!({"a": {"@case": {"operator": "upper", "value": {"@path": "$.s"}}}}), p.clone()), json!({"a": "HELLO WORLD"}));
    assert_eq!(t(json!({"a": {"@case": {"operator": "lower", "value": {"@path": "$.n"}}}}), p.clone()), json!({"a": 10}));
    assert_eq!(
        t(json!({"a": {"@replace": {"pattern": "o", "replacement": "0", "value": {"@path": "$.s"}}}}), p.clone()),
        json!({"a": "Hell0 W0rld"})
    );
    assert_eq!(
        t(json!({"a": {"@replace": {"pattern": "L", "replacement": "[$&]", "ignorecase": true, "global": false, "value": {"@path": "$.s"}}}}), p.clone()),
        json!({"a": "He[l]lo World"})
    );
    assert_eq!(
        t(json!({"a": {"@replace": {"pattern": ".", "replacement": "$$", "pattern2": "1", "replacement2": "x", "value": "1.1"}}}), p.clone()),
        json!({"a": "x$x"})
    );
    fails(json!({"a": {"@replace": {"pattern": "12345678901", "value": "x"}}}), p);
}

#[test]
fn json_flatten_merge() {
    let p = json!({"o": {"a": {"b": 1, "c": [1, 2]}, "1": null}, "s": "{\"x\":[1,2]}"});
    assert_eq!(t(json!({"e": {"@json": {"mode": "encode", "value": {"@path": "$.o"}}}}), p.clone()), json!({"e": "{\"1\":null,\"a\":{\"b\":1,\"c\":[1,2]}}"}));
    assert_eq!(t(json!({"d": {"@json": {"mode": "decode", "value": {"@path": "$.s"}}}}), p.clone()), json!({"d": {"x": [1, 2]}}));
    assert_eq!(t(json!({"d": {"@json": {"mode": "decode", "value": "nope{"}}}), p.clone()), json!({"d": "nope{"}));
    assert_eq!(
        t(json!({"f": {"@flatten": {"separator": ".", "value": {"@path": "$.o"}}}}), p.clone()),
        json!({"f": {"1": null, "a.b": 1, "a.c.0": 1, "a.c.1": 2}})
    );
    assert_eq!(
        t(json!({"f": {"@flatten": {"separator": "_", "omitArrays": true, "value": {"@path": "$.o"}}}}), p.clone()),
        json!({"f": {"1": null, "a_b": 1, "a_c": [1, 2]}})
    );
    assert_eq!(
        t(json!({"m": {"@merge": {"direction": "right", "objects": [{"a": 1, "b": 1}, {"a": 2, "c": {"@path": "$.nope"}}]}}}), p.clone()),
        json!({"m": {"a": 2, "b": 1}})
    );
    assert_eq!(t(json!({"m": {"@merge": {"direction": "left", "objects": [{"a": 1}, {"a": 2}]}}}), p), json!({"m": {"a": 1}}));
}

#[test]
fn transform_and_exclude_when_null() {
    let p = json!({"a": {"b": null, "c": 1, "d": {"e": null}}});
    assert_eq!(
        t(json!({"x": {"@transform": {"apply": {"y": {"@path": "$.a.c"}}, "mapping": {"z": {"@path": "$.y"}}}}}), p.clone()),
        json!({"x": {"z": 1}})
    );
    assert_eq!(t(json!({"x": {"@excludeWhenNull": {"@path": "$.a"}}, "n": {"@excludeWhenNull": null}}), p), json!({"x": {"c": 1, "d": {}}}));
}

#[test]
fn root_directive() {
    let m = json!({"__segment_internal_directive": {"@transform": {"apply": {"v": {"@path": "$.a"}}}}, "out": {"@path": "$.v"}});
    assert_eq!(t(m, json!({"a": 7})), json!({"out": 7}));
}

#[test]
fn validation_errors_name_the_location() {
    let e = validate(&json!({"a": {"b": {"@nope": 1}}})).unwrap_err();
    assert_eq!(e.path, "/a/b");
    let e = validate(&json!({"a": {"@if": {"exists": {"@path": 5}}}})).unwrap_err();
    assert_eq!(e.path, "/a/@if/exists/@path");
    assert!(validate(&json!({"a": {"@path": "$.x", "extra": 1}})).is_err());
    assert!(validate(&json!({"a": {"@path": "$.x", "_metadata": {}}})).is_ok());
    assert!(validate(&json!({"a": {"@json": {"mode": "ENCODE", "value": 1}}})).is_ok());
    assert!(validate(&json!({"a": {"@json": {"mode": "x", "value": 1}}})).is_err());
    assert!(validate(&json!({"a": [{"@nope": 1}]})).is_ok(), "arrays are not inspected");
    assert!(transform(&json!({"a": [{"@nope": 1}]}), &json!({})).is_err());
}

#[test]
fn payload_must_be_object() {
    fails(json!({}), json!([1]));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut m = json!({"@path": "$.a"});
    for _ in 0..200 {
        m = json!({"@literal": m});
    }
    assert!(transform(&json!({"x": m}), &json!({})).is_err());
}

/// `n` nested `@if`s under key `a`: 1 + 2n levels down to the innermost `@path`'s string.
fn nested_ifs(n: usize) -> Value {
    let mut m = json!({"@path": "$.v"});
    for _ in 0..n {
        m = json!({"@if": {"exists": {"@path": "$.v"}, "then": m, "else": {"@path": "$.w"}}});
    }
    json!({"a": m})
}

#[test]
fn nesting_limit_is_checked_at_validation_and_named() {
    // 31 nested @if end 64 levels down: accepted and evaluated. Validation used to redo each
    // level's subtree once per option (2^n work): this would not finish.
    assert_eq!(t(nested_ifs(31), json!({"v": 5})), json!({"a": 5}));
    for n in [32, 100] {
        let m = nested_ifs(n);
        let e = validate(&m).unwrap_err();
        assert_eq!(e.message, format!("mapping is nested deeper than {MAX_MAPPING_DEPTH} levels (the limit)"));
        assert!(e.path.starts_with("/a/@if/then/@if/then/"), "{}", e.path);
        assert_eq!(e.path.matches('/').count(), MAX_MAPPING_DEPTH + 1);
        // Refused before evaluation: no mapping with an error in it is compiled either.
        assert_eq!(Compiled::new(&m).unwrap_err(), e);
        assert_eq!(fails(m, json!({"v": 5})), e);
    }
    // Branches never taken count too: the limit is on the mapping, not on one event's path.
    let mut deep_else = nested_ifs(40);
    deep_else["a"] = json!({"@if": {"exists": {"@path": "$.v"}, "then": 1, "else": deep_else["a"].clone()}});
    assert!(validate(&deep_else).is_err());
}

#[test]
fn nesting_counts_what_transform_evaluates() {
    // A root directive inside `@transform.apply` moves its fields two levels down.
    let fields = |n: usize| {
        let mut m = json!("x");
        for _ in 0..n {
            m = json!({"k": m});
        }
        m
    };
    let apply = |n| json!({"__segment_internal_directive": {"@transform": {"apply": {}, "mapping": {}}}, "f": fields(n)});
    let m = |n| json!({"@transform": {"apply": apply(n), "mapping": {"out": {"@path": "$.f"}}}});
    // /@transform/apply/@transform/mapping/f + n keys: at most 64.
    validate(&m(59)).unwrap();
    assert!(transform(&m(59), &json!({})).is_ok());
    let e = validate(&m(60)).unwrap_err();
    assert!(e.message.contains("deeper than 64 levels"));
    assert!(e.path.starts_with("/@transform/apply/@transform/mapping/f/k/"), "{}", e.path);
}

#[test]
fn payload_depth_limit_is_named() {
    let mut p = json!(1);
    for _ in 0..300 {
        p = json!({"p": p});
    }
    let e = transform(&json!({"a": {"@path": "$.p"}}), &p).unwrap_err();
    assert_eq!(e.message, format!("payload is nested deeper than {} levels (the limit)", value::MAX_VALUE_DEPTH));
}

#[test]
fn replace_cannot_grow_quadratically() {
    // `$'` inserts the rest of the value at every match: 200k matches would make ~40 GB.
    let m = json!({"r": {"@replace": {"pattern": "a", "replacement": "$'", "value": {"@path": "$.s"}}}});
    let e = fails(m, json!({"s": "a".repeat(200_000)}));
    assert_eq!(e.message, format!("@replace: result is larger than {} MiB (the limit)", MAX_STRING_BYTES >> 20));
    assert_eq!(e.path, "/r/@replace");
    // Small inputs still expand like JS's String.prototype.replace.
    let m = json!({"r": {"@replace": {"pattern": "b", "replacement": "[$`|$&|$']", "value": "abc"}}});
    assert_eq!(t(m, json!({})), json!({"r": "a[a|b|c]c"}));
}

#[test]
fn memory_per_event_is_bounded() {
    // Each @transform doubles the payload it hands on: 2^24 copies of a 100-byte payload.
    let mut m = json!({"out": {"@path": "$.a"}});
    for _ in 0..24 {
        m = json!({"@transform": {"apply": {"a": {"a": {"@path": "$.a"}, "b": {"@path": "$.a"}}}, "mapping": m}});
    }
    let e = fails(json!({"x": m}), json!({"a": "0123456789".repeat(10)}));
    assert_eq!(e.message, format!("mapping builds more than {} MiB for one event (the limit)", MAX_EVAL_BYTES >> 20));
    // A few levels are fine.
    let mut m = json!({"@path": "$.a.b.a"});
    for _ in 0..3 {
        m = json!({"@transform": {"apply": {"a": {"a": {"@path": "$.a"}, "b": {"@path": "$.a"}}}, "mapping": m}});
    }
    assert_eq!(t(json!({"x": m}), json!({"a": "z"})), json!({"x": {"a": "z", "b": "z"}}));
    // Many copies of a large event.
    let wide: serde_json::Map<String, Value> = (0..300).map(|i| (format!("k{i}"), json!({"@path": "$.big"}))).collect();
    let e = fails(Value::Object(wide), json!({"big": "x".repeat(300_000)}));
    assert!(e.message.contains("(the limit)"), "{}", e.message);
}

/// The compiled evaluator on paths sharing prefixes (as the presets' do), prefixes that are
/// missing, falsy part-way (the falsy value is the result), made by the read (`length`, a
/// string's character), arrays by index, and `@arrayPath` shapes whose paths read items (not
/// the event): the same as the full evaluator.
#[test]
fn compiled_paths_sharing_prefixes_agree_with_the_evaluator() {
    let p = |k: &str| json!({"@path": k});
    let m = json!({
        "a": p("$.context.traits.address.city"), "b": p("$.context.traits.address.state"),
        "c": p("$.context.traits.missing.x"), "d": p("$.context.traits.missing.y"),
        "e": p("$.context.zero.x"), "f": p("$.context.zero.y"), "g": p("$.context.empty.x"),
        "h": p("$.context.name.length"), "i": p("$.context.name.length.x"), "j": p("$.context.name.0"),
        "k": p("$.context.list.1.id"), "l": p("$.context.list.length"), "m": p("$.context.list.1"),
        "n": {"@if": {"exists": p("$.context.traits.address"), "then": p("$.context.traits.address.city"), "else": "none"}},
        "o": {"@arrayPath": ["$.context.list", {"id": p("id"), "city": p("context.traits.address.city"), "n": p("length")}]},
        "p": p("$.context.traits.address.city"), "q": p("$.context"), "r": [p("$.context.zero"), p("$.nope.nope")],
        "s": {"@arrayPath": ["$.context.list", {"again": p("$.context.list.0.id")}]},
        "t": p("$.properties.address.city"), "u": p("$.context.list.0.id"), "v": p("$.properties.address"),
    });
    let payloads = [
        json!({"context": {"traits": {"address": {"city": "Paris", "state": "IDF"}}, "zero": 0, "empty": "", "name": "Ann",
            "list": [{"id": 1, "context": {"traits": {"address": {"city": "Item"}}}}, {"id": 2}]},
            "properties": {"address": {"city": "Lyon"}}}),
        json!({"context": {"traits": null, "zero": false, "name": "", "list": {"id": 9}}}),
        json!({"context": 0}),
        json!({}),
    ];
    let compiled = Compiled::new(&m).unwrap();
    assert!(compiled.is_fast());
    for payload in &payloads {
        let fast = compiled.apply_event(&crate::json::J::from_value(payload), &mut None).unwrap().to_value();
        assert_eq!(fast, t(m.clone(), payload.clone()), "{payload}");
    }
    let first = compiled.apply_event(&crate::json::J::from_value(&payloads[0]), &mut None).unwrap().to_value();
    assert_eq!((&first["a"], &first["p"], &first["n"], &first["h"]), (&json!("Paris"), &json!("Paris"), &json!("Paris"), &json!(3)));
    assert_eq!((&first["t"], &first["k"], &first["u"]), (&json!("Lyon"), &json!(2), &json!(1)));
}

/// Fields of every kind the checks treat apart, for `checked_is_map_then_check`.
mod kinds {
    use crate::schema::{Field, Format, Ty};
    pub static DEEP: [Field; 2] = [Field::new("b", Ty::Boolean), Field::new("q", Ty::Integer).required()];
    pub static INNER: [Field; 5] = [
        Field::new("s", Ty::String).required(),
        Field::new("n", Ty::Number),
        Field::new("ids", Ty::String).multiple(),
        Field::new("o", Ty::Object).props(&DEEP),
        Field::new("z", Ty::String).nullable(),
    ];
    pub static FIELDS: [Field; 15] = [
        Field::new("s", Ty::String),
        Field::new("n", Ty::Number),
        Field::new("i", Ty::Integer).nullable(),
        Field::new("b", Ty::Boolean),
        Field::new("d", Ty::Datetime),
        Field::new("e", Ty::String).format(Format::Email),
        Field::new("c", Ty::String).choices(&["x", "y"]),
        Field::new("m", Ty::String).multiple(),
        Field::new("r", Ty::String).required(),
        Field::new("obj", Ty::Object).props(&INNER),
        Field::new("open", Ty::Object).props(&INNER).open(),
        Field::new("free", Ty::Object),
        Field::new("items", Ty::Object).multiple().props(&DEEP),
        Field::new("nc", Ty::Number).num_choices(&[0.0, 1.0]),
        Field::new("oc", Ty::Object).props(&DEEP).choices(&["x"]),
    ];
}

/// The checked path (`Compiled::apply_checked`, speed builds) gives what mapping and then
/// `schema::clean_and_validate` give: the same object where they succeed, and gives up
/// where they fail (so the caller's usual path gives the error). For every destination's
/// action and preset mappings, and a mapping over fields of every kind the checks treat
/// apart, against events made of the keys the mappings read.
#[cfg(speed)]
#[test]
fn checked_is_map_then_check() {
    use crate::json::J;
    use crate::schema::Field;
    use proptest::prelude::*;
    let p = |s: &str| json!({"@path": s});
    let own = json!({
        "s": p("$.a"), "n": p("$.b"), "i": p("$.c"), "b": p("$.d"), "d": p("$.a.b"), "e": p("$.k"), "c": p("$.x"),
        "m": p("$.b.a"), "r": p("$.x.k"), "free": p("$.d.d"), "nc": p("$.c.a"), "oc": {"b": p("$.a")},
        "obj": {"s": p("$.a.a"), "n": p("$.b"), "ids": p("$.k"), "o": {"b": p("$.d"), "q": p("$.c")}, "z": p("$.x"), "extra": p("$.a")},
        "open": {"s": p("$.k"), "more": p("$.d"), "o": p("$.x")},
        "items": {"@arrayPath": ["$.list", {"b": p("d"), "q": p("c"), "w": p("a")}]},
        "undeclared": p("$.a"), "lit": "x",
        "alt": {"@if": {"exists": p("$.a"), "then": p("$.a"), "else": p("$.b")}},
    });
    // Literals: kept as they are (checked once, when bound), coerced, dropped, or failing.
    let literals = json!({"c": "x", "s": "", "n": "5", "m": "a", "r": "r", "nc": 1, "i": null, "b": true, "e": "no",
        "obj": {"s": "lit", "z": null, "n": 2, "ids": ["a"], "o": {"q": 1}}, "d": p("$.a")});
    let failing = json!({"c": "z", "r": p("$.a"), "obj": {"s": 3}});
    let mut cases: Vec<(Value, &'static [Field])> = vec![(own, &kinds::FIELDS), (literals, &kinds::FIELDS), (failing, &kinds::FIELDS)];
    for def in crate::destinations::ALL {
        for a in def.actions {
            cases.push((serde_json::from_str(a.default_mapping).unwrap(), a.fields));
        }
        for s in crate::config::preset_subscriptions(def).as_array().unwrap() {
            let a = def.action(s["partnerAction"].as_str().unwrap()).unwrap();
            cases.push((s["mapping"].clone(), a.fields));
        }
    }
    // Every key the mappings read, so events hit their paths.
    fn keys(m: &Value, out: &mut Vec<String>) {
        match m {
            Value::String(s) => out.extend(s.trim_start_matches('$').split('.').filter(|k| !k.is_empty()).map(str::to_string)),
            Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            Value::Object(o) => o.values().for_each(|x| keys(x, out)),
            _ => {}
        }
    }
    let mut vocab = vec!["list".to_string()];
    cases.iter().for_each(|(m, _)| keys(m, &mut vocab));
    vocab.sort();
    vocab.dedup();
    let compiled: Vec<(Compiled, &'static [Field])> = cases.iter().map(|(m, f)| (Compiled::new(m).unwrap(), *f)).collect();
    assert!(compiled.iter().filter(|(c, _)| c.is_fast()).count() > 10);
    let leaf = prop_oneof![
        Just(json!(null)), any::<bool>().prop_map(Value::from), Just(json!(0)), Just(json!(1)), Just(json!(1.5)), Just(json!(-3)),
        prop::sample::select(vec!["", " ", "x", "y", "a@b.co", "2024-03-05T12:34:56Z", "12", "true", "ü", "female", "US"]).prop_map(Value::from),
    ];
    let key = prop::sample::select(vocab);
    let value = leaf.prop_recursive(3, 40, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    });
    let taken = std::cell::Cell::new(0);
    proptest!(ProptestConfig::with_cases(2000), |(ev in value)| {
        let ev = J::from_value(&ev);
        for (c, fields) in &compiled {
            let classic = match c.apply_event(&ev, &mut None) {
                Ok(J::Obj(mut o)) => crate::schema::clean_and_validate(&mut o, fields).map(|()| o).ok(),
                _ => None,
            };
            let checked = c.apply_checked(&ev, fields);
            if c.is_fast() {
                prop_assert_eq!(classic.is_some(), checked.is_some(), "{:?}", ev);
            }
            if let Some(got) = checked {
                taken.set(taken.get() + 1);
                let want = classic.unwrap();
                prop_assert_eq!(J::Obj(got.clone()).to_json_string(), J::Obj(want.clone()).to_json_string());
                prop_assert_eq!(got, want);
            }
        }
    });
    assert!(taken.get() > 1000, "{}", taken.get());
}
