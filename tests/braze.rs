//! Braze: golden requests per action and preset, batch packing by Braze's object count,
//! partial success (`errors[].index` of a 2xx answer), alias / identify ordering, rate-limit
//! headers, settings and secrets. Native (no wasm): the code paths the package runs.

use edge_actions::api;
use edge_actions::config::Config;
use edge_actions::delivery::{retry_after_header, Response, Transport, TransportError};
use edge_actions::engine::HttpRequest;
use serde_json::{json, Value};
use std::cell::RefCell;

const KEY: &str = "braze-secret-key-42";

fn dest_with(settings: Value, subscriptions: Option<Value>) -> Config {
    let mut opts = json!({"destination": "braze", "settings": settings});
    if let Some(s) = subscriptions {
        opts["subscriptions"] = s;
    }
    api::create(&opts.to_string()).unwrap()
}

fn dest() -> Config {
    dest_with(json!({"api_key": KEY, "endpoint": "https://rest.fra-02.braze.eu", "app_id": "app-1"}), None)
}

fn plan(cfg: &Config, events: Value) -> Vec<Value> {
    let lines = api::plan(cfg, &events.to_string()).unwrap();
    assert!(!serde_json::to_string(&lines).unwrap().contains(KEY), "the API key leaked into plan output");
    lines
}

fn identify() -> Value {
    json!({
        "type": "identify", "messageId": "m-id", "userId": "user-1", "receivedAt": "2024-03-05T12:35:00.000Z",
        "traits": {"email": "jane@example.com", "firstName": "Jane", "lastName": "Doe", "gender": "female",
                   "phone": "+15550109999", "avatar": "https://img.example/a.png", "address": {"city": "Berlin"},
                   "plan": "pro", "logins": 3, "country": "DE"},
        "context": {"location": {"country": "Germany", "latitude": 52.5, "longitude": 13.4}}
    })
}

fn track(event: &str, id: &str) -> Value {
    json!({
        "type": "track", "event": event, "messageId": id, "userId": "user-1",
        "receivedAt": "2024-03-05T12:35:00.000Z", "timestamp": "2024-03-05T12:34:56.789Z",
        "properties": {"plan": "pro"}
    })
}

fn order(id: &str, products: usize) -> Value {
    let ps: Vec<Value> = (0..products)
        .map(|i| json!({"product_id": format!("SKU-{i}"), "name": "Shoe", "variant": "red", "price": 10, "quantity": 1, "category": "shoes"}))
        .collect();
    json!({
        "type": "track", "event": "Order Completed", "messageId": id, "userId": "user-1",
        "receivedAt": "2024-03-05T12:35:00.000Z", "timestamp": "2024-03-05T12:34:56.789Z",
        "properties": {"order_id": "ORD-1", "total": 30, "currency": "EUR", "source": "web", "products": ps}
    })
}

#[test]
fn identify_preset_updates_the_profile() {
    let lines = plan(&dest(), json!([identify()]));
    let l = &lines[0];
    assert_eq!(l["subscription"], "Identify Calls");
    assert_eq!(l["request"]["method"], "POST");
    assert_eq!(l["request"]["url"], "https://rest.fra-02.braze.eu/users/track");
    assert_eq!(l["request"]["headers"]["authorization"], "Bearer REDACTED");
    assert_eq!(
        l["request"]["body"],
        json!({"attributes": [{
            "address": {"city": "Berlin"}, "plan": "pro", "logins": 3,
            "external_id": "user-1",
            "country": "Germany",
            "current_location": {"latitude": 52.5, "longitude": 13.4},
            "email": "jane@example.com",
            "first_name": "Jane",
            "gender": "F",
            "home_city": "Berlin",
            "image_url": "https://img.example/a.png",
            "last_name": "Doe",
            "phone": "+15550109999",
            "_update_existing_only": false
        }]})
    );
}

#[test]
fn track_preset_sends_an_event_with_the_app_id() {
    let lines = plan(&dest(), json!([track("Song Played", "m-1")]));
    assert_eq!(lines[0]["subscription"], "Track Calls");
    assert_eq!(
        lines[0]["request"]["body"],
        json!({"events": [{
            "external_id": "user-1", "app_id": "app-1", "name": "Song Played",
            "time": "2024-03-05T12:35:00.000Z", "properties": {"plan": "pro"}, "_update_existing_only": false
        }]})
    );
}

#[test]
fn order_placed_preset_sends_braze_ecommerce_event() {
    let mut ev = order("m-o", 2);
    ev["properties"]["order_status_url"] = json!("https://shop.example/o/1");
    ev["properties"]["discount_items"] = json!([{"code": "SAVE5", "amount": 5}]);
    let lines = plan(&dest(), json!([ev]));
    assert_eq!(lines[0]["subscription"], "Order Placed (beta)");
    let product = |i: usize| json!({"quantity": 1, "product_id": format!("SKU-{i}"), "product_name": "Shoe", "variant_id": "red", "price": 10});
    assert_eq!(
        lines[0]["request"]["body"],
        json!({"events": [{
            "external_id": "user-1", "app_id": "app-1", "name": "ecommerce.order_placed",
            "time": "2024-03-05T12:34:56.789Z",
            "properties": {
                "currency": "EUR", "source": "web", "metadata": {"order_status_url": "https://shop.example/o/1"},
                "products": [product(0), product(1)], "total_value": 30, "order_id": "ORD-1",
                "discounts": [{"code": "SAVE5", "amount": 5}]
            }
        }]})
    );
}

#[test]
fn every_preset_is_segments() {
    let presets = api::presets("actions-braze-cloud").unwrap();
    let names: Vec<&str> = presets.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Track Calls", "Order Placed (beta)", "Checkout Started (beta)", "Order Refunded (beta)", "Order Cancelled (beta)", "Product Viewed (beta)", "Identify Calls"]
    );
    let cfg = dest();
    let cases = [
        ("Checkout Started", "Checkout Started (beta)"),
        ("Order Refunded", "Order Refunded (beta)"),
        ("Order Cancelled", "Order Cancelled (beta)"),
        ("Product Viewed", "Product Viewed (beta)"),
        ("Order Completed", "Order Placed (beta)"),
        ("Anything Else", "Track Calls"),
    ];
    for (event, preset) in cases {
        let lines = plan(&cfg, json!([track(event, "m")]));
        assert_eq!(lines.len(), 1, "{event}");
        assert_eq!(lines[0]["subscription"], preset, "{event}");
    }
}

fn subs(list: Value) -> Option<Value> {
    Some(list)
}

#[test]
fn track_purchase_sends_one_purchase_object_per_product() {
    let cfg = dest_with(
        json!({"api_key": KEY}),
        subs(json!([{"name": "P", "subscribe": "event = \"Order Completed\"", "partnerAction": "trackPurchase"}])),
    );
    let lines = plan(&cfg, json!([order("m-p", 3)]));
    assert_eq!(lines[0]["request"]["url"], "https://rest.iad-01.braze.com/users/track", "Segment's default endpoint");
    let purchases = lines[0]["request"]["body"]["purchases"].as_array().unwrap();
    assert_eq!(purchases.len(), 3);
    assert_eq!(
        purchases[2],
        json!({
            "external_id": "user-1", "time": "2024-03-05T12:35:00.000Z", "_update_existing_only": false,
            "product_id": "SKU-2", "currency": "USD", "price": 10, "quantity": 1,
            "properties": {"name": "Shoe", "variant": "red", "category": "shoes", "order_id": "ORD-1", "total": 30, "currency": "EUR", "source": "web"}
        })
    );
}

#[test]
fn aliases_and_identifies_have_segments_bodies() {
    let cfg = dest_with(
        json!({"api_key": KEY}),
        subs(json!([
            {"name": "A", "subscribe": "type = \"alias\"", "partnerAction": "createAlias",
             "mapping": {"external_id": {"@path": "$.userId"}, "alias_name": {"@path": "$.previousId"}, "alias_label": "anonymous_id"}},
            {"name": "I", "subscribe": "type = \"alias\"", "partnerAction": "identifyUser",
             "mapping": {"external_id": {"@path": "$.userId"}, "user_alias": {"alias_name": {"@path": "$.previousId"}, "alias_label": "anonymous_id"}, "merge_behavior": "merge"}}
        ])),
    );
    let lines = plan(&cfg, json!([{"type": "alias", "messageId": "m-a", "userId": "user-1", "previousId": "anon-9"}]));
    assert_eq!(lines[0]["request"]["url"], "https://rest.iad-01.braze.com/users/alias/new");
    assert_eq!(lines[0]["request"]["body"], json!({"user_aliases": [{"external_id": "user-1", "alias_name": "anon-9", "alias_label": "anonymous_id"}]}));
    assert_eq!(lines[1]["request"]["url"], "https://rest.iad-01.braze.com/users/identify");
    assert_eq!(
        lines[1]["request"]["body"],
        json!({"aliases_to_identify": [{"external_id": "user-1", "user_alias": {"alias_name": "anon-9", "alias_label": "anonymous_id"}}], "merge_behavior": "merge"})
    );
}

#[test]
fn an_event_without_any_user_key_is_a_clear_per_event_error() {
    let mut anon = track("Song Played", "m-anon");
    anon.as_object_mut().unwrap().remove("userId");
    let lines = plan(&dest(), json!([anon, track("Song Played", "m-ok")]));
    assert_eq!(lines[0]["error"]["code"], "MISCONFIGURED_FIELD");
    assert_eq!(lines[0]["error"]["message"], "One of \"external_id\" or \"user_alias\" or \"braze_id\" or \"email\" is required.");
    assert!(lines[1]["request"].is_object(), "the other event still goes out");
}

#[test]
fn settings_are_checked_and_the_key_never_shown() {
    let err = |s: Value| api::create(&json!({"destination": "braze", "settings": s}).to_string()).err().unwrap();
    let e = err(json!({"endpoint": "https://rest.iad-02.braze.com"}));
    assert_eq!((e.code, e.field.as_deref()), (edge_actions::error::ErrorCode::InvalidConfig, Some("settings.api_key")));
    let e = err(json!({"api_key": KEY, "endpoint": "rest.iad-02.braze.com"}));
    assert_eq!(e.field.as_deref(), Some("settings.endpoint"));
    assert!(!e.message.contains(KEY));
    let e = err(json!({"api_key": KEY, "batch_size": 76}));
    assert_eq!(e.field.as_deref(), Some("settings.batch_size"));
    // A custom URL works as an endpoint.
    let cfg = dest_with(json!({"api_key": KEY, "endpoint": "https://braze-proxy.example.com/"}), None);
    assert_eq!(plan(&cfg, json!([identify()]))[0]["request"]["url"], "https://braze-proxy.example.com/users/track");
}

// ---- batching ----

fn batched(batch_size: usize) -> Config {
    dest_with(
        json!({"api_key": KEY, "batch_size": batch_size}),
        subs(json!([
            {"name": "T", "subscribe": "type = \"track\" and event != \"Order Completed\"", "partnerAction": "trackEvent"},
            {"name": "P", "subscribe": "event = \"Order Completed\"", "partnerAction": "trackPurchase"},
            {"name": "U", "subscribe": "type = \"identify\"", "partnerAction": "updateUserProfile"},
            {"name": "A", "subscribe": "type = \"alias\"", "partnerAction": "createAlias",
             "mapping": {"alias_name": {"@path": "$.previousId"}, "alias_label": "anon"}}
        ])),
    )
}

/// Objects per request, counted over every body array.
fn request_sizes(lines: &[Value]) -> Vec<usize> {
    lines
        .iter()
        .filter_map(|l| l["request"]["body"].as_object())
        .map(|b| b.values().filter_map(Value::as_array).map(Vec::len).sum())
        .collect()
}

#[test]
fn track_requests_pack_75_objects_and_split_beyond() {
    let cfg = batched(75);
    for (n, sizes) in [(75, vec![75]), (76, vec![75, 1]), (151, vec![75, 75, 1])] {
        let events: Vec<Value> = (0..n).map(|i| track("Song Played", &format!("m-{i}"))).collect();
        let lines = plan(&cfg, Value::Array(events));
        assert_eq!(request_sizes(&lines), sizes, "{n} events");
        assert_eq!(lines.len(), n, "one line per event");
        // The first line of a request lists every event it carries.
        assert_eq!(lines[0]["messageIds"].as_array().unwrap().len(), sizes[0]);
    }
}

#[test]
fn purchases_count_one_object_per_product() {
    let cfg = batched(75);
    // 25 orders of 3 products = 75 objects: one request; a 26th order starts the next.
    let events: Vec<Value> = (0..26).map(|i| order(&format!("o-{i}"), 3)).collect();
    let lines = plan(&cfg, Value::Array(events));
    assert_eq!(request_sizes(&lines), [75, 3]);
    assert_eq!(lines[0]["messageIds"].as_array().unwrap().len(), 25);
    assert_eq!(lines[25]["request"]["body"]["purchases"].as_array().unwrap().len(), 3);

    // 74 events + an order of 3: the order does not fit and goes to the next request whole.
    let mut events: Vec<Value> = (0..74).map(|i| track("Song Played", &format!("m-{i}"))).collect();
    events.push(order("o-x", 3));
    events.push(track("Song Played", "m-last"));
    let lines = plan(&cfg, Value::Array(events));
    // Requests keep input order: the order closes the first request at 74 objects.
    assert_eq!(request_sizes(&lines), [74, 4]);
    assert_eq!(lines[75]["batchedWith"], "o-x");

    // An order larger than a request is a permanent per-event error naming the limit.
    let lines = plan(&cfg, json!([order("o-big", 76), track("Song Played", "m-ok")]));
    assert_eq!(lines[0]["error"]["field"], "products");
    assert!(lines[0]["error"]["message"].as_str().unwrap().contains("75"));
    assert!(lines[1]["request"].is_object());
}

/// A rejected order (no user key) carries no object, so its products take no room: 25 valid
/// orders of 3 after it still fill one request of 75. Segment's batch path counts them and
/// retries the 25th order in another batch (docs/compatibility.md, braze-batch.test.mjs).
#[test]
fn a_rejected_orders_products_take_no_room_in_the_request() {
    let cfg = batched(75);
    let mut nobody = order("nobody", 3);
    nobody.as_object_mut().unwrap().remove("userId");
    let mut events = vec![nobody];
    events.extend((0..25).map(|i| order(&format!("o-{i}"), 3)));
    let lines = plan(&cfg, Value::Array(events));
    assert_eq!(lines[0]["error"]["field"], "external_id");
    assert_eq!(request_sizes(&lines), [75]);
    assert_eq!(lines[1]["messageIds"].as_array().unwrap().len(), 25);
}

#[test]
fn attributes_events_and_purchases_share_a_request_aliases_go_separately_by_50() {
    let cfg = batched(75);
    let mut events = vec![identify(), track("Song Played", "m-t"), order("m-o", 2)];
    events.extend((0..51).map(|i| json!({"type": "alias", "messageId": format!("a-{i}"), "previousId": format!("anon-{i}")})));
    let lines = plan(&cfg, Value::Array(events));
    let body = &lines[0]["request"]["body"];
    assert_eq!(body["attributes"].as_array().unwrap().len(), 1);
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    assert_eq!(body["purchases"].as_array().unwrap().len(), 2);
    assert_eq!(request_sizes(&lines), [4, 50, 1]);
    assert_eq!(lines[3]["request"]["url"], "https://rest.iad-01.braze.com/users/alias/new");
}

// ---- delivery ----

/// Answers from a script (default: 201 success) and records the paths sent, in order.
struct Braze {
    answers: RefCell<Vec<Response>>,
    sent: RefCell<Vec<(String, Value)>>,
}

impl Braze {
    fn new(mut answers: Vec<Response>) -> Braze {
        answers.reverse();
        Braze { answers: RefCell::new(answers), sent: RefCell::new(vec![]) }
    }
}

fn answer(status: u16, body: Value) -> Response {
    Response { status, retry_after: None, location: None, body: body.to_string() }
}

impl Transport for Braze {
    async fn send(&self, req: &HttpRequest, _t: u64) -> Result<Response, TransportError> {
        let path = req.url.trim_start_matches("https://rest.iad-01.braze.com").to_string();
        assert_eq!(req.headers["authorization"], format!("Bearer {KEY}"));
        self.sent.borrow_mut().push((path, serde_json::from_str(&req.body).unwrap_or(Value::Null)));
        Ok(self.answers.borrow_mut().pop().unwrap_or_else(|| answer(201, json!({"message": "success"}))))
    }
    async fn sleep(&self, _ms: u64) {}
    fn random(&self) -> f64 {
        0.5
    }
    fn now_ms(&self) -> f64 {
        1_700_000_000_000.0
    }
}

fn send(cfg: &Config, t: &Braze, events: Value) -> Vec<Value> {
    let lines = futures::executor::block_on(api::send(cfg, &events.to_string(), r#"{"baseDelayMs":0}"#, t)).unwrap();
    assert!(!serde_json::to_string(&lines).unwrap().contains(KEY), "the API key leaked into results");
    lines
}

#[test]
fn errors_in_a_2xx_answer_fail_only_their_events() {
    let cfg = batched(75);
    // events: [e0, order(3 purchases), e2]; Braze rejects events[1] (= e2) and purchases[2]
    // (the order's third product): both owners fail, e0 is delivered.
    let t = Braze::new(vec![answer(
        201,
        json!({"message": "success", "errors": [
            {"type": "'time' must be a valid time", "input_array": "events", "index": 1},
            {"type": "'price' must be a number", "input_array": "purchases", "index": 2}
        ]}),
    )]);
    let lines = send(&cfg, &t, json!([track("Song Played", "e0"), order("o1", 3), track("Song Played", "e2")]));
    let delivered: Vec<bool> = lines.iter().map(|l| l["delivered"].as_bool().unwrap()).collect();
    assert_eq!(delivered, [true, false, false]);
    assert_eq!(lines[2]["error"]["message"], "object rejected: 'time' must be a valid time");
    assert_eq!(lines[2]["error"]["retryable"], false);
    assert_eq!(lines[1]["error"]["message"], "object rejected: 'price' must be a number");
    assert_eq!(lines[1]["status"], 201);
    assert_eq!(t.sent.borrow().len(), 1, "one request for the three events");
}

#[test]
fn alias_then_track_then_identify_whatever_the_input_order() {
    let cfg = dest_with(
        json!({"api_key": KEY, "batch_size": 10}),
        subs(json!([
            {"name": "I", "subscribe": "type = \"alias\"", "partnerAction": "identifyUser",
             "mapping": {"external_id": {"@path": "$.userId"}, "user_alias": {"alias_name": {"@path": "$.previousId"}, "alias_label": "anon"}}},
            {"name": "A", "subscribe": "type = \"alias\"", "partnerAction": "createAlias",
             "mapping": {"alias_name": {"@path": "$.previousId"}, "alias_label": "anon"}},
            {"name": "T", "subscribe": "type = \"track\"", "partnerAction": "trackEvent",
             "mapping": {"user_alias": {"alias_name": {"@path": "$.anonymousId"}, "alias_label": "anon"}, "name": {"@path": "$.event"}, "time": {"@path": "$.receivedAt"}}}
        ])),
    );
    let t = Braze::new(vec![]);
    let lines = send(
        &cfg,
        &t,
        json!([
            {"type": "alias", "messageId": "al", "userId": "user-1", "previousId": "anon-1"},
            {"type": "track", "event": "Song Played", "messageId": "tr", "anonymousId": "anon-1", "receivedAt": "2024-03-05T12:35:00.000Z"}
        ]),
    );
    assert!(lines.iter().all(|l| l["delivered"] == true), "{lines:?}");
    let order: Vec<String> = t.sent.borrow().iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(order, ["/users/alias/new", "/users/track", "/users/identify"]);
}

#[test]
fn auth_errors_are_permanent_per_event_and_429_is_retried() {
    let cfg = batched(1);
    let t = Braze::new(vec![answer(401, json!({"message": "Invalid API key: braze-secret-key-42"}))]);
    let lines = send(&cfg, &t, json!([track("Song Played", "m1")]));
    assert_eq!((lines[0]["delivered"].as_bool(), lines[0]["status"].as_u64()), (Some(false), Some(401)));
    assert_eq!(lines[0]["error"]["retryable"], false);
    assert_eq!(lines[0]["error"]["message"], "HTTP 401: Invalid API key: REDACTED", "an echoed key is scrubbed");
    let t = Braze::new(vec![answer(429, json!({"message": "rate limited"})), answer(201, json!({"message": "success"}))]);
    let lines = send(&cfg, &t, json!([track("Song Played", "m2")]));
    assert_eq!((lines[0]["delivered"].as_bool(), lines[0]["attempts"].as_u64()), (Some(true), Some(2)));
}

#[test]
fn rate_limit_headers_stand_in_for_retry_after() {
    let now = 1_700_000_000_000.0;
    let headers = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    // A 429 with the window's reset time (Unix seconds): wait until then.
    assert_eq!(retry_after_header(429, headers(&[("x-ratelimit-reset", "1700000007")]), now).as_deref(), Some("7"));
    // An explicit retry delay wins; Retry-After wins over everything.
    assert_eq!(retry_after_header(429, headers(&[("x-ratelimit-retry-after", "3"), ("x-ratelimit-reset", "1700000007")]), now).as_deref(), Some("3"));
    assert_eq!(retry_after_header(503, headers(&[("retry-after", "9")]), now).as_deref(), Some("9"));
    // A used-up window delays even a 5xx; a success with requests left says nothing.
    assert_eq!(retry_after_header(503, headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000002")]), now).as_deref(), Some("2"));
    assert_eq!(retry_after_header(200, headers(&[("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", "1700000002")]), now), None);
    // A reset already past: retry now.
    assert_eq!(retry_after_header(429, headers(&[("x-ratelimit-reset", "1600000000")]), now).as_deref(), Some("0"));
}

#[test]
fn an_order_without_products_is_an_error() {
    let cfg = batched(1);
    let lines = plan(&cfg, json!([order("o-empty", 0)]));
    assert_eq!(lines[0]["error"]["field"], "products");
    assert_eq!(lines[0]["error"]["message"], "This event was not sent to Braze because it did not contain any products.");
}

#[test]
fn identify_v2_and_triggers_have_segments_bodies() {
    let cfg = dest_with(
        json!({"api_key": KEY}),
        subs(json!([
            {"name": "I2", "subscribe": "type = \"identify\"", "partnerAction": "identifyUser2",
             "mapping": {"__segment_internal_sync_mode": "add", "external_id": {"@path": "$.userId"}, "email_to_identify": {"@path": "$.traits.email"},
                         "prioritization": {"first_priority": "most_recently_updated"}}},
            {"name": "C", "subscribe": "event = \"Signed Up\"", "partnerAction": "triggerCampaign",
             "mapping": {"campaign_id": "camp-1", "trigger_properties": {"@path": "$.properties"},
                         "recipients": [{"external_user_id": {"@path": "$.userId"}}], "prioritization": {"first_priority": "identified"}}},
            {"name": "V", "subscribe": "event = \"Signed Up\"", "partnerAction": "triggerCanvas",
             "mapping": {"canvas_id": "cv-1", "broadcast": true, "recipients": [{"external_user_id": {"@path": "$.userId"}}]}}
        ])),
    );
    let lines = plan(&cfg, json!([identify(), track("Signed Up", "m-s")]));
    assert_eq!(lines[0]["request"]["url"], "https://rest.iad-01.braze.com/users/identify");
    assert_eq!(
        lines[0]["request"]["body"],
        json!({"emails_to_identify": [{"external_id": "user-1", "email": "jane@example.com", "prioritization": ["most_recently_updated"]}]})
    );
    assert_eq!(lines[1]["request"]["url"], "https://rest.iad-01.braze.com/campaigns/trigger/send");
    assert_eq!(
        lines[1]["request"]["body"],
        json!({"campaign_id": "camp-1", "trigger_properties": {"plan": "pro"}, "recipients": [{"external_user_id": "user-1", "prioritization": ["identified"]}]})
    );
    assert_eq!(lines[2]["error"]["message"], "When \"broadcast\" is true, \"recipients\" list cannot be included.");
    // Without a sync mode the v2 action refuses, as Segment's does.
    let cfg = dest_with(
        json!({"api_key": KEY}),
        subs(json!([{"name": "T2", "subscribe": "type = \"track\"", "partnerAction": "trackEvent2",
                     "mapping": {"external_id": {"@path": "$.userId"}, "name": {"@path": "$.event"}, "time": {"@path": "$.receivedAt"}}}])),
    );
    assert_eq!(plan(&cfg, json!([track("X", "m-x")]))[0]["error"]["field"], "__segment_internal_sync_mode");
}

#[test]
fn triggers_are_never_batched_together() {
    let cfg = dest_with(
        json!({"api_key": KEY, "batch_size": 75}),
        subs(json!([{"name": "C", "subscribe": "type = \"track\"", "partnerAction": "triggerCampaign",
                     "mapping": {"campaign_id": "camp-1", "broadcast": true}}])),
    );
    let lines = plan(&cfg, json!([track("A", "m1"), track("B", "m2")]));
    assert_eq!(request_sizes(&lines), [0, 0], "two requests, one per event");
    assert_eq!(lines[1]["request"]["body"], json!({"campaign_id": "camp-1", "broadcast": true}));
}

#[test]
fn consent_withdrawal_and_unsubscribes_reach_braze_subscription_groups() {
    let cfg = dest_with(
        json!({"api_key": KEY, "batch_size": 50, "consent_categories": ["Marketing"]}),
        subs(json!([
            {"name": "Track Calls", "subscribe": "type = \"track\"", "partnerAction": "trackEvent",
             "mapping": {"external_id": {"@path": "$.userId"}, "name": {"@path": "$.event"}, "time": {"@path": "$.receivedAt"}}},
            {"name": "Consent withdrawn", "subscribe": "event = \"Segment Consent Preference Updated\" and context.consent.categoryPreferences.Marketing = false",
             "partnerAction": "updateSubscriptionStatus",
             "mapping": {"external_id": {"@path": "$.userId"}, "subscription_group_id": "sg-news", "subscription_state": "unsubscribed"}},
            {"name": "Consent given", "subscribe": "event = \"Segment Consent Preference Updated\" and context.consent.categoryPreferences.Marketing = true",
             "partnerAction": "updateSubscriptionStatus",
             "mapping": {"email": {"@path": "$.context.traits.email"}, "subscription_group_id": "sg-news", "subscription_state": "subscribed"}},
            {"name": "Unsubscribed", "subscribe": "event = \"Unsubscribed\"", "partnerAction": "updateUserProfile",
             "mapping": {"external_id": {"@path": "$.userId"}, "email_subscribe": "unsubscribed", "push_subscribe": "unsubscribed"}}
        ])),
    );
    let consent = |id: &str, granted: bool| {
        let mut e = track("Segment Consent Preference Updated", id);
        e["context"] = json!({"consent": {"categoryPreferences": {"Marketing": granted}}, "traits": {"email": "jane@example.com"}});
        e
    };
    let mut unsub = track("Unsubscribed", "m-u");
    unsub["context"] = json!({"consent": {"categoryPreferences": {"Marketing": true}}});
    let lines = plan(&cfg, json!([consent("m-no", false), consent("m-yes", true), unsub]));
    // Withdrawn: the event itself is not tracked (no consent), but the group state is set.
    let withdrawn: Vec<&Value> = lines.iter().filter(|l| l["messageId"] == "m-no").collect();
    assert_eq!(withdrawn.len(), 1, "{lines:?}");
    assert_eq!(withdrawn[0]["subscription"], "Consent withdrawn");
    assert_eq!(lines[0]["request"]["url"], "https://rest.iad-01.braze.com/v2/subscription/status/set");
    assert_eq!(
        lines[0]["request"]["body"],
        json!({"subscription_groups": [
            {"subscription_group_id": "sg-news", "subscription_state": "unsubscribed", "external_ids": ["user-1"]},
            {"subscription_group_id": "sg-news", "subscription_state": "subscribed", "emails": ["jane@example.com"]}
        ]})
    );
    // Given: tracked as usual too; an unsubscribe event sets the profile's subscription flags.
    assert!(lines.iter().any(|l| l["messageId"] == "m-yes" && l["subscription"] == "Track Calls"));
    let profile = lines.iter().find(|l| l["request"]["body"]["attributes"].is_array()).unwrap();
    assert_eq!(profile["request"]["body"]["attributes"][0]["email_subscribe"], "unsubscribed");
    assert_eq!(profile["request"]["body"]["attributes"][0]["push_subscribe"], "unsubscribed");
}

/// The anonymous -> known recipe of the README: an anonymous visitor's events are tracked on
/// an alias profile, and their first identify creates the alias, tracks, then identifies, in
/// that order, so the anonymous history merges into the known user.
#[test]
fn anonymous_to_known_keeps_history() {
    let recipe = json!([
        {"name": "Anonymous alias", "subscribe": "type = \"identify\" or (type = \"track\" and userId = null)", "partnerAction": "createAlias",
         "mapping": {"alias_name": {"@path": "$.anonymousId"}, "alias_label": "anonymous_id"}},
        {"name": "Anonymous events", "subscribe": "type = \"track\" and userId = null", "partnerAction": "trackEvent",
         "mapping": {"user_alias": {"alias_name": {"@path": "$.anonymousId"}, "alias_label": "anonymous_id"}, "name": {"@path": "$.event"}, "time": {"@path": "$.receivedAt"}, "_update_existing_only": false}},
        {"name": "Identify Calls", "subscribe": "type = \"identify\"", "partnerAction": "updateUserProfile"},
        {"name": "Merge anonymous", "subscribe": "type = \"identify\" and anonymousId != null and userId != null", "partnerAction": "identifyUser",
         "mapping": {"external_id": {"@path": "$.userId"}, "user_alias": {"alias_name": {"@path": "$.anonymousId"}, "alias_label": "anonymous_id"}, "merge_behavior": "merge"}}
    ]);
    let cfg = dest_with(json!({"api_key": KEY, "batch_size": 75}), subs(recipe));
    let mut known = identify();
    known["anonymousId"] = json!("anon-7");
    let anon = json!({"type": "track", "event": "Song Played", "messageId": "m-anon", "anonymousId": "anon-7", "receivedAt": "2024-03-05T12:30:00.000Z"});
    let t = Braze::new(vec![]);
    let lines = send(&cfg, &t, json!([known, anon]));
    assert!(lines.iter().all(|l| l["delivered"] == true), "{lines:?}");
    let sent = t.sent.borrow();
    let paths: Vec<&str> = sent.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/users/alias/new", "/users/track", "/users/identify"]);
    assert_eq!(sent[0].1["user_aliases"].as_array().unwrap().len(), 2, "the identify's and the track's alias, one request");
    assert_eq!(sent[1].1["events"][0]["user_alias"], json!({"alias_label": "anonymous_id", "alias_name": "anon-7"}));
    assert_eq!(sent[2].1["aliases_to_identify"][0]["external_id"], "user-1");
}

#[test]
fn catalog_items_are_put_and_deleted() {
    let sub = |batch: usize| {
        dest_with(
            json!({"api_key": KEY, "batch_size": batch}),
            subs(json!([
                {"name": "Upsert", "subscribe": "event = \"Product Updated\"", "partnerAction": "upsertCatalogItem",
                 "mapping": {"__segment_internal_sync_mode": "upsert", "onMappingSave": {"outputs": {"catalog_name": "products"}},
                             "item_id": {"@path": "$.properties.sku"}, "item": {"name": {"@path": "$.properties.name"}, "price": {"@path": "$.properties.price"}}}},
                {"name": "Delete", "subscribe": "event = \"Product Removed\"", "partnerAction": "upsertCatalogItem",
                 "mapping": {"__segment_internal_sync_mode": "delete", "onMappingSave": {"outputs": {"catalog_name": "products"}},
                             "item_id": {"@path": "$.properties.sku"}}}
            ])),
        )
    };
    let ev = |event: &str, id: &str, sku: &str| json!({"type": "track", "event": event, "messageId": id, "properties": {"sku": sku, "name": "Shoe", "price": 10}});
    let events = json!([ev("Product Updated", "u1", "SKU-1"), ev("Product Updated", "u2", "SKU-2"), ev("Product Removed", "d1", "SKU-3"), ev("Product Updated", "bad", "not valid!")]);
    // One event per request: Segment's single path.
    let lines = plan(&sub(1), events.clone());
    assert_eq!((lines[0]["request"]["method"].as_str(), lines[0]["request"]["url"].as_str()), (Some("PUT"), Some("https://rest.iad-01.braze.com/catalogs/products/items/SKU-1")));
    assert_eq!(lines[0]["request"]["body"], json!({"items": [{"name": "Shoe", "price": 10}]}));
    assert_eq!((lines[2]["request"]["method"].as_str(), lines[2]["request"]["body"].clone()), (Some("DELETE"), json!({"items": [{}]})));
    assert_eq!(lines[3]["error"]["message"], "Invalid ID Format");
    // Batched: ids inside, upserts and deletes apart.
    let lines = plan(&sub(50), events);
    assert_eq!(lines[0]["request"]["url"], "https://rest.iad-01.braze.com/catalogs/products/items/");
    assert_eq!(lines[0]["request"]["body"], json!({"items": [{"name": "Shoe", "price": 10, "id": "SKU-1"}, {"name": "Shoe", "price": 10, "id": "SKU-2"}]}));
    assert_eq!(lines[1]["batchedWith"], "u1");
    assert_eq!((lines[2]["request"]["method"].as_str(), lines[2]["request"]["body"].clone()), (Some("DELETE"), json!({"items": [{"id": "SKU-3"}]})));
}

/// Braze refuses a whole batched catalog request whose item ids repeat (`ids-not-unique`): a
/// later item with the same id takes the earlier one's place (a PUT replaces the item, so
/// Braze ends as after both calls in order), and both events ride in the request.
#[test]
fn a_repeated_catalog_item_id_keeps_the_latest_item_in_its_place() {
    let cfg = dest_with(
        json!({"api_key": KEY, "batch_size": 50}),
        subs(json!([{"name": "Upsert", "subscribe": "type = \"track\"", "partnerAction": "upsertCatalogItem",
                     "mapping": {"__segment_internal_sync_mode": "upsert", "onMappingSave": {"outputs": {"catalog_name": "products"}},
                                 "item_id": {"@path": "$.properties.sku"}, "item": {"price": {"@path": "$.properties.price"}}}}])),
    );
    let ev = |id: &str, sku: &str, price: u32| json!({"type": "track", "event": "Product Updated", "messageId": id, "properties": {"sku": sku, "price": price}});
    let lines = plan(&cfg, json!([ev("a", "SKU-1", 10), ev("b", "SKU-2", 20), ev("c", "SKU-1", 11), ev("d", "SKU-1", 12)]));
    assert_eq!(lines[0]["request"]["body"], json!({"items": [{"price": 12, "id": "SKU-1"}, {"price": 20, "id": "SKU-2"}]}));
    assert_eq!(lines[0]["messageIds"], json!(["a", "b", "c", "d"]));
    for (line, carrier) in lines[1..].iter().zip(["a", "a", "a"]) {
        assert_eq!(line["batchedWith"], carrier);
    }
}

// ---- one catalog item written twice in a call ----

/// Upserts of `products` and `other` on "Product Updated" / "Other Updated", deletes of
/// `products` on "Product Removed".
fn catalog_dest(batch_size: usize) -> Config {
    let upsert = |name: &str, event: &str, catalog: &str| {
        json!({"name": name, "subscribe": format!("event = \"{event}\""), "partnerAction": "upsertCatalogItem",
               "mapping": {"__segment_internal_sync_mode": "upsert", "onMappingSave": {"outputs": {"catalog_name": catalog}},
                           "item_id": {"@path": "$.properties.sku"}, "item": {"price": {"@path": "$.properties.price"}}}})
    };
    dest_with(
        json!({"api_key": KEY, "batch_size": batch_size}),
        subs(json!([
            upsert("Upsert", "Product Updated", "products"),
            upsert("Other", "Other Updated", "other"),
            {"name": "Delete", "subscribe": "event = \"Product Removed\"", "partnerAction": "upsertCatalogItem",
             "mapping": {"__segment_internal_sync_mode": "delete", "onMappingSave": {"outputs": {"catalog_name": "products"}},
                         "item_id": {"@path": "$.properties.sku"}}}
        ])),
    )
}

fn put(id: &str, sku: &str, price: u32) -> Value {
    json!({"type": "track", "event": "Product Updated", "messageId": id, "properties": {"sku": sku, "price": price}})
}

fn del(id: &str, sku: &str) -> Value {
    json!({"type": "track", "event": "Product Removed", "messageId": id, "properties": {"sku": sku}})
}

/// (method, url, body) of each request a plan shows, in order.
fn requests(lines: &[Value]) -> Vec<(String, String, Value)> {
    lines
        .iter()
        .filter(|l| l["request"].is_object())
        .map(|l| {
            let r = &l["request"];
            let url = r["url"].as_str().unwrap().trim_start_matches("https://rest.iad-01.braze.com").to_string();
            (r["method"].as_str().unwrap().to_string(), url, r["body"].clone())
        })
        .collect()
}

fn req(method: &str, url: &str, body: Value) -> (String, String, Value) {
    (method.to_string(), url.to_string(), body)
}

/// An upsert and a delete of one item would go in separate requests that `send` may run at
/// once (Braze would end in either state): only the latest write of the item is sent, in the
/// first event's place, and the earlier event rides in its request.
#[test]
fn the_latest_write_of_a_catalog_item_decides_batched() {
    let cfg = catalog_dest(50);
    // Upsert then delete: one DELETE, both events in it.
    let lines = plan(&cfg, json!([put("u1", "SKU-1", 10), put("u2", "SKU-2", 20), del("d1", "SKU-1")]));
    assert_eq!(
        requests(&lines),
        [
            req("DELETE", "/catalogs/products/items/", json!({"items": [{"id": "SKU-1"}]})),
            req("PUT", "/catalogs/products/items/", json!({"items": [{"price": 20, "id": "SKU-2"}]})),
        ]
    );
    assert_eq!(lines[0]["messageIds"], json!(["u1", "d1"]));
    assert_eq!((lines[0]["subscription"].as_str(), lines[2]["subscription"].as_str()), (Some("Upsert"), Some("Delete")));
    assert_eq!(lines[2]["batchedWith"], "u1");
    assert!(lines[2].get("request").is_none() && lines[2].get("error").is_none());

    // Delete then upsert: one PUT with the upsert's item.
    let lines = plan(&cfg, json!([del("d1", "SKU-1"), put("u1", "SKU-1", 11)]));
    assert_eq!(requests(&lines), [req("PUT", "/catalogs/products/items/", json!({"items": [{"price": 11, "id": "SKU-1"}]}))]);
    assert_eq!(lines[0]["messageIds"], json!(["d1", "u1"]));
    assert_eq!(lines[1]["batchedWith"], "d1");

    // Three writes: the third decides; upsert, delete, upsert and delete, upsert, delete.
    let lines = plan(&cfg, json!([put("a", "SKU-1", 1), del("b", "SKU-1"), put("c", "SKU-1", 3)]));
    assert_eq!(requests(&lines), [req("PUT", "/catalogs/products/items/", json!({"items": [{"price": 3, "id": "SKU-1"}]}))]);
    assert_eq!(lines[0]["messageIds"], json!(["a", "b", "c"]));
    let lines = plan(&cfg, json!([del("a", "SKU-1"), put("b", "SKU-1", 2), del("c", "SKU-1")]));
    assert_eq!(requests(&lines), [req("DELETE", "/catalogs/products/items/", json!({"items": [{"id": "SKU-1"}]}))]);
    assert_eq!((lines[1]["batchedWith"].as_str(), lines[2]["batchedWith"].as_str()), (Some("a"), Some("a")));

    // The same id in another catalog is another item: untouched.
    let other = json!({"type": "track", "event": "Other Updated", "messageId": "o1", "properties": {"sku": "SKU-1", "price": 7}});
    let lines = plan(&cfg, json!([put("u1", "SKU-1", 10), other, del("d1", "SKU-1")]));
    assert_eq!(
        requests(&lines),
        [
            req("DELETE", "/catalogs/products/items/", json!({"items": [{"id": "SKU-1"}]})),
            req("PUT", "/catalogs/other/items/", json!({"items": [{"price": 7, "id": "SKU-1"}]})),
        ]
    );
    assert_eq!(lines[0]["messageIds"], json!(["u1", "d1"]));
    assert!(lines[1].get("messageIds").is_none() && lines[1]["request"].is_object());
}

/// Segment's single path (`batch_size` 1: one request per event, the id in the URL): two
/// writes of one item would be two requests in flight at once, even two PUTs.
#[test]
fn the_latest_write_of_a_catalog_item_decides_one_per_request() {
    let cfg = catalog_dest(1);
    let lines = plan(&cfg, json!([put("u1", "SKU-1", 10), put("u2", "SKU-2", 20), del("d1", "SKU-1")]));
    assert_eq!(
        requests(&lines),
        [
            req("DELETE", "/catalogs/products/items/SKU-1", json!({"items": [{}]})),
            req("PUT", "/catalogs/products/items/SKU-2", json!({"items": [{"price": 20}]})),
        ]
    );
    assert_eq!(lines[0]["messageIds"], json!(["u1", "d1"]));
    assert_eq!(lines[2]["batchedWith"], "u1");

    let lines = plan(&cfg, json!([del("d1", "SKU-1"), put("u1", "SKU-1", 11)]));
    assert_eq!(requests(&lines), [req("PUT", "/catalogs/products/items/SKU-1", json!({"items": [{"price": 11}]}))]);
    assert_eq!(lines[1]["batchedWith"], "d1");

    let lines = plan(&cfg, json!([put("a", "SKU-1", 1), put("b", "SKU-1", 2), put("c", "SKU-1", 3)]));
    assert_eq!(requests(&lines), [req("PUT", "/catalogs/products/items/SKU-1", json!({"items": [{"price": 3}]}))]);
    assert_eq!(lines[0]["messageIds"], json!(["a", "b", "c"]));

    let other = json!({"type": "track", "event": "Other Updated", "messageId": "o1", "properties": {"sku": "SKU-1", "price": 7}});
    let lines = plan(&cfg, json!([put("u1", "SKU-1", 10), other, del("d1", "SKU-1")]));
    assert_eq!(
        requests(&lines),
        [
            req("DELETE", "/catalogs/products/items/SKU-1", json!({"items": [{}]})),
            req("PUT", "/catalogs/other/items/SKU-1", json!({"items": [{"price": 7}]})),
        ]
    );
}

/// `send` makes exactly the plan's requests, and every event of an item gets the outcome of
/// the one request that wrote it: delivered, failed, retried together.
#[test]
fn events_of_a_superseded_catalog_write_share_the_winning_requests_outcome() {
    for batch_size in [1, 50] {
        let cfg = catalog_dest(batch_size);
        let events = json!([put("u1", "SKU-1", 10), put("u2", "SKU-2", 20), del("d1", "SKU-1"), put("u3", "SKU-3", 30)]);
        let items = if batch_size == 1 { "/catalogs/products/items/SKU-1" } else { "/catalogs/products/items/" };

        // All accepted: three requests, the item's one a DELETE; each event delivered once.
        let t = Braze::new(vec![]);
        let lines = send(&cfg, &t, events.clone());
        let sent = t.sent.borrow().clone();
        assert_eq!(sent.len(), if batch_size == 1 { 3 } else { 2 }, "batch size {batch_size}");
        // The item's request goes first (its first event's place), without a price: the DELETE.
        let is_delete = |(path, body): &(String, Value)| path == items && body["items"][0].get("price").is_none();
        assert!(is_delete(&sent[0]), "{sent:?}");
        assert_eq!(sent.iter().filter(|s| is_delete(s)).count(), 1);
        assert_eq!(lines.len(), 4);
        for l in &lines {
            assert_eq!((l["delivered"].as_bool(), l["attempts"].as_u64(), l["status"].as_u64()), (Some(true), Some(1), Some(201)), "{l}");
        }

        // The item's request fails for good: both of its events fail with its error, the
        // others are delivered.
        let bad = answer(400, json!({"message": "Invalid Request", "errors": [{"id": "item-not-found"}]}));
        let t = Braze::new(vec![bad]);
        let lines = send(&cfg, &t, events.clone());
        let delivered: Vec<bool> = lines.iter().map(|l| l["delivered"].as_bool().unwrap()).collect();
        assert_eq!(delivered, [false, true, false, true]);
        for i in [0, 2] {
            assert_eq!(lines[i]["status"], 400);
            assert_eq!(lines[i]["error"]["retryable"], false);
            assert_eq!(lines[i]["error"]["message"], "HTTP 400: Invalid Request");
        }

        // A retried request: both of its events count its attempts.
        let t = Braze::new(vec![answer(503, json!({}))]);
        let lines = send(&cfg, &t, events.clone());
        assert_eq!((lines[0]["attempts"].as_u64(), lines[2]["attempts"].as_u64()), (Some(2), Some(2)));
        assert!(lines.iter().all(|l| l["delivered"] == true));
        let sent = t.sent.borrow().clone();
        let is_delete = |(path, body): &(String, Value)| path == items && body["items"][0].get("price").is_none();
        assert_eq!(sent.iter().filter(|s| is_delete(s)).count(), 2, "the DELETE sent twice: {sent:?}");
        assert!(sent.iter().all(|(_, body)| body["items"][0]["price"] != 10), "the superseded upsert is never sent: {sent:?}");
    }
}

/// An object rejected in a 2xx answer is the update of every event that rides on it.
#[test]
fn a_rejected_catalog_object_fails_the_events_riding_on_it() {
    let cfg = catalog_dest(50);
    let t = Braze::new(vec![answer(202, json!({"message": "success", "errors": [{"type": "bad price", "input_array": "items", "index": 0}]}))]);
    let lines = send(&cfg, &t, json!([put("u1", "SKU-1", 10), put("u2", "SKU-2", 20), put("u3", "SKU-1", 11)]));
    assert_eq!(t.sent.borrow()[0].1, json!({"items": [{"price": 11, "id": "SKU-1"}, {"price": 20, "id": "SKU-2"}]}));
    let delivered: Vec<bool> = lines.iter().map(|l| l["delivered"].as_bool().unwrap()).collect();
    assert_eq!(delivered, [false, true, false]);
    assert_eq!(lines[0]["error"]["message"], "object rejected: bad price");
    assert_eq!(lines[2]["error"]["message"], "object rejected: bad price");
}
