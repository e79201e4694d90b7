//! Native throughput of the core (plan = FQL + mapping + schema + hashing + request building).
//! `make bench` runs it next to the wasm-vs-Segment comparison in benches/node-bench.mjs.

use edge_actions::api;
use serde_json::json;
use std::time::Instant;

fn main() {
    let cfg = api::create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px","snap_app_id":"app","access_token":"t"}}"#).unwrap();
    let names = ["Order Completed", "Product Added", "Signed Up", "Product Viewed", "Not Subscribed"];
    let events: Vec<_> = (0..2000)
        .map(|i| json!({
            "type": "track", "event": names[i % names.len()], "messageId": format!("m{i}"), "userId": format!("u{i}"),
            "timestamp": "2024-03-01T12:00:00Z",
            "properties": {"email": format!("User{i}@Example.com"), "phone": "+1 555 0100", "revenue": 10.5, "currency": "usd",
                            "products": [{"product_id": "p1", "category": "c", "brand": "b"}]},
            "context": {"ip": "203.0.113.9", "userAgent": "UA", "page": {"url": "https://x/y"}}
        }))
        .collect();
    let body = serde_json::Value::Array(events).to_string();
    // Warm-up, then the best of 5 runs (least disturbed by the other core's load).
    api::plan(&cfg, &body).unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let lines = api::plan(&cfg, &body).unwrap();
        assert_eq!(lines.len(), 2000);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("native plan: 2000 events in {:.1} ms = {:.0} events/s (best of 5)", best * 1e3, 2000.0 / best);
}
