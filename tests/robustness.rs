//! Arbitrary input never panics (a panic would trap the wasm instance) and every input event
//! gets at least one line.

use edge_actions::api;
use edge_actions::delivery::{Response, Transport, TransportError};
use edge_actions::engine::HttpRequest;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::cell::RefCell;

const SETTINGS: &str = r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px","snap_app_id":"app","access_token":"t"}}"#;

fn good(id: &str) -> String {
    json!({"type": "track", "event": "Order Completed", "messageId": id, "timestamp": "2024-01-01T00:00:00Z",
        "properties": {"email": "a@b.c", "revenue": 12.5, "currency": "USD"}, "context": {"ip": "203.0.113.9"}})
    .to_string()
}

/// `{"type":"track","messageId":id,"properties":{"p": [[[...1...]]]}}`, `depth` arrays deep.
fn deep(id: &str, depth: usize) -> String {
    format!(r#"{{"type":"track","event":"Order Completed","messageId":"{id}","properties":{{"p":{}1{}}}}}"#, "[".repeat(depth), "]".repeat(depth))
}

fn plan_of(cfg: &edge_actions::config::Config, events: &[String]) -> Vec<Value> {
    api::plan(cfg, &format!("[{}]", events.join(","))).unwrap()
}

/// Bad events (too deep, a number past f64, a lone surrogate, not an object, too large) each
/// get their own INVALID_EVENT line; the good ones are planned exactly as if the bad ones
/// were absent, through `plan` and `plan_ndjson`.
#[test]
fn one_bad_event_never_sinks_the_others() {
    let cfg = api::create(SETTINGS).unwrap();
    let goods = [good("g1"), good("g2"), good("g3")];
    let alone = plan_of(&cfg, &goods);
    assert_eq!(alone.len(), 3);
    assert!(alone.iter().all(|l| l.get("request").is_some()), "{alone:?}");
    let big = format!(r#"{{"type":"track","messageId":"big","x":"{}"}}"#, "a".repeat(api::MAX_EVENT_BYTES));
    let bads: Vec<(String, Option<&str>, &str)> = vec![
        (deep("d200", 200), Some("d200"), "nested deeper than 64 levels"),
        (deep("d5000", 5000), Some("d5000"), "nested deeper than 64 levels"),
        (r#"{"type":"track","messageId":"n","properties":{"v":1e400}}"#.into(), Some("n"), "beyond the range of a 64-bit float"),
        (r#"{"type":"track","messageId":"s","properties":{"v":"\ud800"}}"#.into(), Some("s"), "unpaired UTF-16 surrogate"),
        ("42".into(), None, "must be a JSON object"),
        (big, Some("big"), "bytes; the limit is"),
    ];
    for (bad, id, msg) in &bads {
        let events = [goods[0].clone(), bad.clone(), goods[1].clone(), goods[2].clone()];
        let lines = plan_of(&cfg, &events);
        assert_eq!(lines.len(), 4, "{msg}");
        assert_eq!([&lines[0], &lines[2], &lines[3]], [&alone[0], &alone[1], &alone[2]], "{msg}");
        assert_eq!(lines[1]["error"]["code"], "INVALID_EVENT");
        assert!(lines[1]["error"]["message"].as_str().unwrap().contains(msg), "{}", lines[1]);
        assert_eq!(lines[1]["messageId"].as_str(), *id);

        let (out, counts) = api::plan_ndjson(&cfg, &events.join("\n"), 1);
        let nd: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!((counts.events, counts.planned, counts.rejected), (4, 3, 1));
        assert_eq!([&nd[0], &nd[2], &nd[3]], [&alone[0], &alone[1], &alone[2]], "{msg}");
        let m = nd[1]["error"]["message"].as_str().unwrap();
        // Rejections before parsing name the line; a parsed non-object is reported as such.
        assert!(m.contains(msg) && (m.starts_with("line 2") || msg.contains("JSON object")), "{m}");
    }
}

/// Answers 200 and records the URLs it was sent.
struct Ok200(RefCell<Vec<String>>);

impl Transport for Ok200 {
    async fn send(&self, req: &HttpRequest, _t: u64) -> Result<Response, TransportError> {
        self.0.borrow_mut().push(req.url.clone());
        Ok(Response { status: 200, retry_after: None, location: None, body: String::new() })
    }
    async fn sleep(&self, _ms: u64) {}
    fn random(&self) -> f64 {
        0.5
    }
    fn now_ms(&self) -> f64 {
        0.0
    }
}

#[test]
fn send_delivers_the_good_events_around_a_deep_one() {
    let cfg = api::create(SETTINGS).unwrap();
    let t = Ok200(RefCell::new(vec![]));
    let events = format!("[{},{},{},{}]", good("g1"), deep("d5000", 5000), good("g2"), good("g3"));
    let lines = futures::executor::block_on(api::send(&cfg, &events, "", &t)).unwrap();
    let delivered: Vec<_> = lines.iter().map(|l| (l["messageId"].as_str().unwrap(), l["delivered"].as_bool().unwrap())).collect();
    assert_eq!(delivered, [("g1", true), ("d5000", false), ("g2", true), ("g3", true)]);
    assert_eq!(lines[1]["error"]["code"], "INVALID_EVENT");
    assert_eq!(lines[1]["attempts"], 0);
    assert_eq!(t.0.borrow().len(), 3);
}

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Any junk element (arbitrary text that keeps the array's own structure) gets one
    /// INVALID_EVENT line and leaves the other lines unchanged.
    #[test]
    fn junk_elements_are_isolated(junk in prop_oneof![
        "[^\\[\\]{}\",]{1,20}",
        "\"[^\"\\\\]{0,10}\"",
        (1usize..300).prop_map(|d| format!("{}{}", "{\"a\":".repeat(d), "}".repeat(d))),
    ], at in 0usize..4) {
        let cfg = api::create(SETTINGS).unwrap();
        let goods = [good("g1"), good("g2"), good("g3")];
        let alone = plan_of(&cfg, &goods);
        let mut events = goods.to_vec();
        events.insert(at.min(3), junk.clone());
        let lines = plan_of(&cfg, &events);
        let mut others = lines.clone();
        let bad = others.remove(at.min(3));
        prop_assert_eq!(others, alone);
        prop_assert!(bad.get("error").is_some() || bad.get("skipped").is_some(), "{}", bad);
    }
}
