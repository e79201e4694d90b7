//! Snapchat Conversions API: golden requests for every preset, hashing, validation errors and
//! regression tests for mistakes other implementations shipped. Native (no wasm): the same
//! code paths the package runs.

use edge_actions::api;
use edge_actions::config::Config;
use edge_actions::pii::sha256_hex;
use serde_json::{json, Value};

const TOKEN: &str = "secret-token-123";

fn dest(settings: Value) -> Config {
    api::create(&json!({"destination": "snap-conversions-api", "settings": settings}).to_string()).unwrap()
}

fn default_dest() -> Config {
    dest(json!({"pixel_id": "px-123", "snap_app_id": "snap-app-456", "app_id": "1234567", "access_token": TOKEN}))
}

fn plan(cfg: &Config, events: Value) -> Vec<Value> {
    api::plan(cfg, &events.to_string()).unwrap()
}

fn web_event(event: &str) -> Value {
    json!({
        "type": "track", "event": event, "messageId": "msg-1", "userId": "User-42",
        "timestamp": "2024-03-01T12:00:00.000Z",
        "properties": {"email": " Jane.Doe@Example.com ", "phone": "+1 (555) 010-9999"},
        "context": {"ip": "203.0.113.9", "userAgent": "Mozilla/5.0", "page": {"url": "https://shop.example/p"}}
    })
}

fn expected_web_body(event_name: &str) -> Value {
    json!({"data": [{
        "integration": "segment",
        "event_id": "msg-1",
        "event_name": event_name,
        "event_source_url": "https://shop.example/p",
        "event_time": 1709294400000i64,
        "user_data": {
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "Mozilla/5.0",
            "em": [sha256_hex("jane.doe@example.com")],
            "external_id": [sha256_hex("user-42")],
            "ph": [sha256_hex("15550109999")]
        },
        "action_source": "website"
    }]})
}

#[test]
fn every_preset_produces_segments_request() {
    let cfg = default_dest();
    let presets = [
        ("Payment Info Entered", "ADD_BILLING", "Add Billing"),
        ("Product Added", "ADD_CART", "Add to Cart"),
        ("Product Added to Wishlist", "ADD_TO_WISHLIST", "Add to Wishlist"),
        ("Application Installed", "APP_INSTALL", "App Install"),
        ("Product List Viewed", "LIST_VIEW", "List View"),
        ("Application Opened", "APP_OPEN", "App Open"),
        ("Signed In", "LOGIN", "Login"),
        ("Order Completed", "PURCHASE", "Purchase"),
        ("Products Searched", "SEARCH", "Search"),
        ("Product Shared", "SHARE", "Share"),
        ("Signed Up", "SIGN_UP", "Sign Up"),
        ("Checkout Started", "START_CHECKOUT", "Start Checkout"),
        ("Product Viewed", "VIEW_CONTENT", "View Content"),
    ];
    for (event, name, preset) in presets {
        let lines = plan(&cfg, json!([web_event(event)]));
        assert_eq!(lines.len(), 1, "{event}: {lines:?}");
        let l = &lines[0];
        assert_eq!(l["subscription"], preset);
        assert_eq!(l["request"]["method"], "POST");
        assert_eq!(l["request"]["url"], "https://tr.snapchat.com/v3/px-123/events?access_token=REDACTED");
        assert_eq!(l["request"]["body"], expected_web_body(name), "{event}");
    }
    // Page View is the one preset triggered by type.
    let mut page = web_event("ignored");
    page["type"] = json!("page");
    page.as_object_mut().unwrap().remove("event");
    let lines = plan(&cfg, json!([page]));
    assert_eq!(lines[0]["subscription"], "Page View");
    assert_eq!(lines[0]["request"]["body"], expected_web_body("PAGE_VIEW"));
}

#[test]
fn purchase_with_products_and_profile_fields() {
    let cfg = default_dest();
    let ev = json!({
        "type": "track", "event": "Order Completed", "messageId": "m-2", "anonymousId": "anon-1",
        "timestamp": "2024-03-01T12:00:00Z",
        "properties": {
            "email": "A@B.CO", "revenue": "19.99", "currency": "eur", "order_id": "o-1", "quantity": 3,
            "products": [{"product_id": "p1", "category": "Shoes", "brand": "Acme"}, {"product_id": 7}, {"category": "no id"}],
            "gender": " Female ", "birthday": "19900101", "first_name": "Zoë", "last_name": "O Neil",
            "address": {"city": "Menlo Park", "state": "California", "country": "United States", "postalCode": "94025 "}
        },
        "integrations": {"Snap Conversions Api": {"click_id": "click-1", "uuid_c1": "cookie-1"}}
    });
    let lines = plan(&cfg, json!([ev]));
    let body = &lines[0]["request"]["body"]["data"][0];
    assert_eq!(body["custom_data"], json!({
        "brands": ["Acme", ""],
        "content_category": ["Shoes", ""],
        "content_ids": ["p1", "7"],
        "currency": "EUR",
        "num_items": 3,
        "order_id": "o-1",
        "value": 19.99
    }));
    let u = &body["user_data"];
    assert_eq!(u["em"], json!([sha256_hex("a@b.co")]));
    assert_eq!(u["external_id"], json!([sha256_hex("anon-1")]));
    assert_eq!(u["ge"], json!(sha256_hex("f")));
    assert_eq!(u["db"], json!(sha256_hex("19900101")));
    assert_eq!(u["fn"], json!(sha256_hex("zoë")));
    assert_eq!(u["ln"], json!(sha256_hex("oneil")));
    assert_eq!(u["ct"], json!(sha256_hex("menlopark")));
    assert_eq!(u["st"], json!(sha256_hex("ca")));
    assert_eq!(u["country"], json!(sha256_hex("us")));
    assert_eq!(u["zp"], json!(sha256_hex("94025")));
    assert_eq!(u["sc_click_id"], "click-1");
    assert_eq!(u["sc_cookie1"], "cookie-1");
}

#[test]
fn app_events_go_to_the_snap_app_id_with_app_data() {
    let cfg = default_dest();
    let subs = json!([{
        "name": "App purchases", "subscribe": "event = \"Order Completed\"", "partnerAction": "reportConversionEvent",
        "mapping": {
            "event_name": "PURCHASE", "action_source": "app", "event_time": {"@path": "$.timestamp"},
            "user_data": {"madid": {"@path": "$.context.device.advertisingId"}},
            "app_data": {"application_tracking_enabled": {"@path": "$.context.device.adTrackingEnabled"},
                         "osVersion": {"@path": "$.context.os.version"}, "width": {"@path": "$.context.screen.width"}}
        }
    }]);
    let cfg2 = api::create(&json!({"destination": "snap-conversions-api", "settings": cfg.settings.values, "subscriptions": subs}).to_string()).unwrap();
    let ev = json!({"type": "track", "event": "Order Completed", "messageId": "a1", "timestamp": 1709294400000i64,
        "context": {"device": {"advertisingId": "ABCD-EF01", "adTrackingEnabled": true}, "os": {"version": "17.1"}, "screen": {"width": 1170}}});
    let lines = plan(&cfg2, json!([ev]));
    let req = &lines[0]["request"];
    assert_eq!(req["url"], "https://tr.snapchat.com/v3/snap-app-456/events?access_token=REDACTED");
    let e = &req["body"]["data"][0];
    assert_eq!(e["action_source"], "app");
    assert_eq!(e["event_time"], 1709294400000i64, "epoch ms given as a number is kept");
    assert_eq!(e["user_data"]["madid"], "abcd-ef01", "lower-cased, not hashed");
    assert_eq!(e["app_data"], json!({
        "app_id": "1234567", "advertiser_tracking_enabled": 0, "application_tracking_enabled": 1,
        "extinfo": ["i2", "", "", "", "17.1", "", "", "", "", "1170", "", "", "", "", "", ""]
    }));
}

fn error_of(line: &Value) -> (String, String) {
    let e = &line["error"];
    (e["code"].as_str().unwrap_or("").to_string(), e["field"].as_str().unwrap_or("").to_string())
}

#[test]
fn validation_errors_name_the_field_and_keep_other_events() {
    let cfg = default_dest();
    let mut no_ids = web_event("Order Completed");
    no_ids["properties"] = json!({});
    no_ids["context"] = json!({"ip": "1.1.1.1"});
    let mut bad_currency = web_event("Order Completed");
    bad_currency["properties"]["currency"] = json!("XXX");
    let mut no_time = web_event("Order Completed");
    no_time.as_object_mut().unwrap().remove("timestamp");
    let lines = plan(&cfg, json!([null, 42, "str", [], {"event": "Order Completed"}, {"type": "track", "event": "Order Completed", "properties": "x"},
        no_ids, bad_currency, no_time, web_event("Order Completed")]));
    assert_eq!(lines.len(), 10);
    let got: Vec<(String, String)> = lines[..9].iter().map(error_of).collect();
    assert_eq!(got, vec![
        ("INVALID_EVENT".into(), "".into()),
        ("INVALID_EVENT".into(), "".into()),
        ("INVALID_EVENT".into(), "".into()),
        ("INVALID_EVENT".into(), "".into()),
        ("INVALID_EVENT".into(), "type".into()),
        ("INVALID_EVENT".into(), "properties".into()),
        ("MISCONFIGURED_FIELD".into(), "user_data".into()),
        ("MISCONFIGURED_FIELD".into(), "custom_data.currency".into()),
        ("MISCONFIGURED_FIELD".into(), "event_time".into()),
    ]);
    assert!(lines[9]["request"].is_object(), "the good event is still planned");
}

#[test]
fn missing_settings_are_per_event_errors() {
    let cfg = dest(json!({"snap_app_id": "app-1", "access_token": TOKEN}));
    let lines = plan(&cfg, json!([web_event("Order Completed")]));
    assert_eq!(error_of(&lines[0]), ("MISCONFIGURED_FIELD".into(), "pixel_id".into()));
    let cfg = dest(json!({"pixel_id": "px"}));
    let lines = plan(&cfg, json!([web_event("Order Completed")]));
    assert_eq!(error_of(&lines[0]), ("MISCONFIGURED_FIELD".into(), "access_token".into()));
}

#[test]
fn bad_configuration_is_rejected_up_front() {
    let cases = [
        (json!({"destination": "nope", "settings": {}}), "destination"),
        (json!({"destination": "snap-conversions-api", "settings": {"pixel_id": 5}}), "settings.pixel_id"),
        (json!({"destination": "snap-conversions-api", "settings": {"batch_size": 5000}}), "settings.batch_size"),
        (json!({"destination": "snap-conversions-api", "settings": {}, "subscriptions": [{"subscribe": "type = \"track\"", "partnerAction": "nope"}]}), "subscriptions[0].partnerAction"),
        (json!({"destination": "snap-conversions-api", "settings": {}, "subscriptions": [{"subscribe": "(type = \"track\"", "partnerAction": "reportConversionEvent"}]}), "subscriptions[0].subscribe"),
        (json!({"destination": "snap-conversions-api", "settings": {}, "baseUrl": "ftp://x"}), "baseUrl"),
    ];
    for (opts, field) in cases {
        let e = api::create(&opts.to_string()).err().unwrap_or_else(|| panic!("accepted {opts}"));
        assert_eq!(e.field.as_deref(), Some(field), "{opts}: {e}");
    }
    assert!(api::create("{not json").is_err());
}

#[test]
fn secrets_never_appear_in_plan_output() {
    let cfg = default_dest();
    let out = serde_json::to_string(&plan(&cfg, json!([web_event("Order Completed"), web_event("Signed Up")]))).unwrap();
    assert!(!out.contains(TOKEN));
    for raw in ["Jane.Doe", "jane.doe@example.com", "5550109999", "User-42"] {
        assert!(!out.contains(raw), "raw PII {raw} leaked");
    }
}

// ---- regression tests: mistakes other implementations shipped ----

#[test]
fn phone_given_as_a_number_is_hashed() {
    let cfg = default_dest();
    let mut ev = web_event("Order Completed");
    ev["properties"]["phone"] = json!(15550109999i64);
    let lines = plan(&cfg, json!([ev]));
    assert_eq!(lines[0]["request"]["body"]["data"][0]["user_data"]["ph"], json!([sha256_hex("15550109999")]));
}

#[test]
fn already_hashed_identifiers_are_not_hashed_again() {
    let cfg = default_dest();
    let digest = sha256_hex("jane.doe@example.com");
    for given in [digest.clone(), digest.to_uppercase()] {
        let mut ev = web_event("Order Completed");
        ev["properties"]["email"] = json!(given);
        let lines = plan(&cfg, json!([ev]));
        assert_eq!(lines[0]["request"]["body"]["data"][0]["user_data"]["em"], json!([digest]));
    }
}

#[test]
fn event_id_is_top_level_and_defaults_to_message_id() {
    let cfg = default_dest();
    let lines = plan(&cfg, json!([web_event("Order Completed")]));
    let e = &lines[0]["request"]["body"]["data"][0];
    assert_eq!(e["event_id"], "msg-1");
    assert!(e.get("custom_data").is_none_or(|c| c.get("event_id").is_none()));
}

#[test]
fn one_bad_event_does_not_fail_its_batch() {
    let cfg = dest(json!({"pixel_id": "px-123", "access_token": TOKEN, "batch_size": 10}));
    let mut bad = web_event("Order Completed");
    bad["properties"]["currency"] = json!("NOPE");
    let mut second = web_event("Signed Up");
    second["messageId"] = json!("msg-2");
    let lines = plan(&cfg, json!([web_event("Order Completed"), bad, second]));
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["messageIds"], json!(["msg-1", "msg-2"]));
    assert_eq!(lines[0]["request"]["body"]["data"].as_array().unwrap().len(), 2);
    assert!(lines[1]["error"].is_object());
    assert_eq!(lines[2]["batchedWith"], "msg-1");
}

#[test]
fn test_mode_uses_the_validate_endpoint() {
    let cfg = dest(json!({"pixel_id": "px-123", "access_token": TOKEN, "test_mode": true}));
    let lines = plan(&cfg, json!([web_event("Order Completed")]));
    assert_eq!(lines[0]["request"]["url"], "https://tr.snapchat.com/v3/px-123/events/validate?access_token=REDACTED");
}

#[test]
fn consent_categories_are_enforced() {
    let cfg = dest(json!({"pixel_id": "px", "access_token": TOKEN, "consent_categories": ["Advertising"]}));
    let mut granted = web_event("Order Completed");
    granted["context"]["consent"] = json!({"categoryPreferences": {"Advertising": true}});
    let mut denied = web_event("Order Completed");
    denied["context"]["consent"] = json!({"categoryPreferences": {"Advertising": false}});
    let mut silent = web_event("Order Completed");
    silent["context"]["consent"] = json!({"categoryPreferences": {"Analytics": true}});
    let lines = plan(&cfg, json!([granted, denied, silent, web_event("Order Completed")]));
    assert!(lines[0]["request"].is_object());
    assert_eq!(lines[1]["skipped"], "consent not granted for category Advertising");
    assert_eq!(lines[2]["skipped"], "consent not granted for category Advertising", "a category left out is not granted");
    assert!(lines[3]["request"].is_object(), "events without a consent object are not enforced");
}

#[test]
fn oversized_events_are_rejected_alone() {
    let cfg = default_dest();
    let mut huge = web_event("Order Completed");
    huge["messageId"] = json!("huge");
    huge["properties"]["blob"] = json!("x".repeat(api::MAX_EVENT_BYTES));
    let lines = plan(&cfg, json!([huge, web_event("Order Completed")]));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["messageId"], "huge");
    assert_eq!(lines[0]["error"]["code"], "INVALID_EVENT");
    assert!(lines[1]["request"].is_object());
    // Not an array at all: one clear error for the call.
    assert_eq!(api::plan(&cfg, "{\"type\":\"track\"}").unwrap_err().code, edge_actions::error::ErrorCode::InvalidEvent);
    assert!(api::plan(&cfg, "[{").is_err());
}

#[test]
fn public_api_subscription_list_is_accepted_as_is() {
    // The shape Segment's Public API returns for a destination's subscriptions.
    let listed = json!({"data": {"pagination": {"current": "MA==", "totalEntries": 2}, "subscriptions": [
        {"id": "s1", "name": "Purchases", "actionId": "uD9jEQ4DxJZzhzVqppM7UD", "actionSlug": "reportConversionEvent",
         "destinationId": "d1", "modelId": "", "enabled": true, "trigger": "type = \"track\" and event = \"Order Completed\"",
         "settings": {"event_name": "PURCHASE", "action_source": "website", "event_time": {"@path": "$.timestamp"},
                      "user_data": {"email": {"@path": "$.properties.email"}}}},
        {"id": "s2", "name": "Off", "actionId": "x", "actionSlug": "reportConversionEvent", "enabled": false, "trigger": "type = \"page\"", "settings": {}}
    ]}});
    let cfg = api::create(&json!({"destination": "actions-snap-conversions", "settings": {"pixel_id": "px-123", "access_token": TOKEN}, "subscriptions": listed}).to_string()).unwrap();
    assert_eq!(cfg.subscriptions.len(), 1);
    let lines = plan(&cfg, json!([web_event("Order Completed")]));
    assert_eq!(lines[0]["subscription"], "Purchases");
    let e = &lines[0]["request"]["body"]["data"][0];
    assert_eq!(e["event_name"], "PURCHASE");
    assert_eq!(e["user_data"]["em"], json!([sha256_hex("jane.doe@example.com")]));
    assert!(e.get("event_id").is_none(), "only the mapped fields: no default event_id");
}
