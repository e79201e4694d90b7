//! Arbitrary input never panics (a panic would trap the wasm instance) and every input event
//! gets at least one line.

use edge_actions::api;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![Just("track"), Just("page"), Just("identify"), Just("Order Completed"), Just("Product Added"), Just("2024-01-01T00:00:00Z"), Just("a@b.c"), Just("+44 0 20")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()), Just("event".to_string()), Just("properties".to_string()),
                    Just("context".to_string()), Just("traits".to_string()), Just("email".to_string()),
                    Just("phone".to_string()), Just("products".to_string()), Just("timestamp".to_string()),
                    Just("revenue".to_string()), Just("currency".to_string()), Just("messageId".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event_like() -> impl Strategy<Value = Value> {
    (arb_json(), arb_json(), arb_json(), prop_oneof![Just("track"), Just("page"), Just("screen")], prop_oneof![Just("Order Completed"), Just("Product Added"), Just("Signed Up")])
        .prop_map(|(props, ctx, extra, ty, ev)| json!({"type": ty, "event": ev, "messageId": "m", "timestamp": "2024-01-01T00:00:00Z", "properties": props, "context": ctx, "x": extra}))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn plan_never_panics_and_answers_every_event(events in prop::collection::vec(prop_oneof![arb_json(), event_like()], 0..8)) {
        let cfg = api::create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px","snap_app_id":"app","access_token":"t","batch_size":3}}"#).unwrap();
        let lines = api::plan(&cfg, &Value::Array(events.clone()).to_string()).unwrap();
        prop_assert!(lines.len() >= events.len());
    }

    #[test]
    fn transform_and_fql_never_panic(mapping in arb_json(), payload in arb_json(), src in "\\PC{0,40}") {
        let _ = api::transform(&mapping.to_string(), &payload.to_string());
        let _ = api::matches_trigger(&src, &payload.to_string());
    }
}
