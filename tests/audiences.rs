//! Audience sync: golden requests for Snapchat Custom Audiences (per identifier type, entry
//! and exit, batching at the limit, lookalikes) and Braze Cohorts (cohort calls and the custom
//! attribute fallback), from Engage membership events. Native: the code paths the package runs.

use edge_actions::api;
use edge_actions::config::Config;
use edge_actions::delivery::{self, Policy, Response, Transport, TransportError};
use edge_actions::engine::HttpRequest;
use edge_actions::pii::sha256_hex;
use serde_json::{json, Value};
use std::cell::RefCell;

const TOKEN: &str = "snap-access-SECRET";
const CLIENT_SECRET: &str = "braze-client-SECRET";

fn dest(destination: &str, settings: Value, subscriptions: Option<Value>) -> Config {
    let mut opts = json!({"destination": destination, "settings": settings});
    if let Some(s) = subscriptions {
        opts["subscriptions"] = s;
    }
    api::create(&opts.to_string()).unwrap()
}

fn snap(batch_size: usize) -> Config {
    dest("snap-audiences", json!({"ad_account_id": "acc-1", "access_token": TOKEN, "batch_size": batch_size}), None)
}

fn plan(cfg: &Config, events: Value) -> Vec<Value> {
    api::plan(cfg, &events.to_string()).unwrap()
}

/// An Engage track call for audience `high_ltv` (Snap segment 555) with the key set to `member`.
fn engage(id: &str, member: bool, props: Value) -> Value {
    let mut properties = json!({"high_ltv": member});
    properties.as_object_mut().unwrap().extend(props.as_object().unwrap().clone());
    json!({
        "type": "track", "event": if member { "Audience Entered" } else { "Audience Exited" },
        "messageId": id, "userId": format!("user-{id}"), "timestamp": "2024-03-01T12:00:00.000Z",
        "properties": properties,
        "context": {"personas": {
            "computation_key": "high_ltv", "computation_id": "aud_123", "computation_class": "audience",
            "space_id": "spa_1", "external_audience_id": "555"
        }}
    })
}

fn users(schema: &str, hashes: &[String]) -> Value {
    json!({"users": [{"schema": [schema], "data": hashes.iter().map(|h| json!([h])).collect::<Vec<_>>()}]})
}

fn request(method: &str, body: Value) -> Value {
    json!({
        "method": method,
        "url": "https://adsapi.snapchat.com/v1/segments/555/users",
        "headers": {"authorization": "Bearer REDACTED", "content-type": "application/json"},
        "body": body
    })
}

#[test]
fn each_identifier_type_is_normalized_hashed_and_sent_under_its_schema() {
    let cfg = snap(1);
    let lines = plan(&cfg, json!([
        engage("e1", true, json!({"email": "  Jane.Doe@Example.COM "})),
        engage("e2", false, json!({"phone": "+44 (0)20-7946-0958"})),
        engage("e3", true, json!({"android_idfa": " 6D92078A-8246-4BA4-AE5B-76104861E7DC "})),
        engage("e4", true, json!({"ios_idfa": "AEBE52E7-03EE-455A-B3C4-E57283966239"})),
    ]));
    assert_eq!(lines[0]["request"], request("POST", users("EMAIL_SHA256", &[sha256_hex("jane.doe@example.com")])));
    // Segment's phone rule drops spaces, parentheses, '+' and '-' and then a leading 0 / 00
    // (the "(0)" inside stays: only the start of the number is a prefix).
    assert_eq!(lines[1]["request"], request("DELETE", users("PHONE_SHA256", &[sha256_hex("4402079460958")])));
    assert_eq!(lines[2]["request"], request("POST", users("MOBILE_AD_ID_SHA256", &[sha256_hex("6d92078a-8246-4ba4-ae5b-76104861e7dc")])));
    assert_eq!(lines[3]["request"], request("POST", users("MOBILE_AD_ID_SHA256", &[sha256_hex("aebe52e7-03ee-455a-b3c4-e57283966239")])));
    for (line, id) in lines.iter().zip(["e1", "e2", "e3", "e4"]) {
        assert_eq!(line["messageId"], id);
        assert_eq!(line["subscription"], "Sync Engage Audience");
    }
}

#[test]
fn an_event_with_several_identifiers_makes_one_call_per_schema_in_segments_order() {
    let cfg = snap(1);
    let lines = plan(&cfg, json!([engage("e1", false, json!({"ios_idfa": "abc", "phone": "0044 7700 900123", "email": "a@b.co"}))]));
    assert_eq!(lines.len(), 1);
    assert!(lines[0].get("request").is_none());
    assert_eq!(lines[0]["requests"], json!([
        request("DELETE", users("EMAIL_SHA256", &[sha256_hex("a@b.co")])),
        request("DELETE", users("PHONE_SHA256", &[sha256_hex("447700900123")])),
        request("DELETE", users("MOBILE_AD_ID_SHA256", &[sha256_hex("abc")])),
    ]));
}

#[test]
fn already_hashed_identifiers_pass_through() {
    let h = sha256_hex("someone@example.com");
    let lines = plan(&snap(1), json!([engage("e1", true, json!({"email": h}))]));
    assert_eq!(lines[0]["request"]["body"], users("EMAIL_SHA256", &[h]));
}

fn error_of(line: &Value) -> (&str, &str) {
    (line["error"]["code"].as_str().unwrap_or(""), line["error"]["field"].as_str().unwrap_or(""))
}

#[test]
fn bad_events_get_typed_errors_and_the_others_still_go() {
    let cfg = snap(1);
    let mut no_audience = engage("e3", true, json!({"email": "x@y.z"}));
    no_audience["context"]["personas"].as_object_mut().unwrap().remove("external_audience_id");
    let identify = json!({"type": "identify", "messageId": "e4", "traits": {"high_ltv": true, "email": "x@y.z"},
        "context": {"personas": {"computation_key": "high_ltv", "external_audience_id": "555"}}});
    let lines = plan(&cfg, json!([
        engage("e1", true, json!({})),
        engage("e2", true, json!({"phone": "()"})),
        no_audience,
        identify,
        engage("e5", true, json!({"email": "ok@example.com"})),
    ]));
    assert_eq!(error_of(&lines[0]), ("PAYLOAD_VALIDATION", "email"), "no identifier");
    assert_eq!(error_of(&lines[1]), ("PAYLOAD_VALIDATION", "phone"), "nothing left once normalized");
    assert_eq!(error_of(&lines[2]), ("PAYLOAD_VALIDATION", "external_audience_id"));
    // Segment's default mapping reads `properties`: an identify has none.
    assert_eq!(error_of(&lines[3]), ("PAYLOAD_VALIDATION", "props"));
    assert_eq!(lines[4]["request"]["method"], "POST");
}

#[test]
fn batches_hold_at_most_batch_size_identifiers_per_call() {
    let cfg = snap(3);
    let events: Vec<Value> = (0..7).map(|i| engage(&format!("e{i}"), true, json!({"email": format!("u{i}@x.io")}))).collect();
    let lines = plan(&cfg, Value::Array(events));
    let firsts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.get("request").is_some()).map(|(i, _)| i).collect();
    assert_eq!(firsts, vec![0, 3, 6]);
    let hashes: Vec<String> = (0..3).map(|i| sha256_hex(&format!("u{i}@x.io"))).collect();
    assert_eq!(lines[0]["request"]["body"], users("EMAIL_SHA256", &hashes));
    assert_eq!(lines[0]["messageIds"], json!(["e0", "e1", "e2"]));
    assert_eq!(lines[1]["batchedWith"], "e0");
    assert_eq!(lines[6]["request"]["body"]["users"][0]["data"].as_array().unwrap().len(), 1);
}

#[test]
fn the_api_limit_of_100000_identifiers_per_call_is_filled_exactly() {
    use edge_actions::destinations::{snap_audiences, Settings};
    // The action and the destination's split directly: 100,001 events through the mapping
    // engine would take minutes in a debug build, and the point here is the call size.
    let settings = Settings { values: Default::default(), access_token: Some(TOKEN.into()), test_mode: false, batch_size: 100_000 };
    let def = &snap_audiences::DEFINITION;
    let sync = def.action("syncAudience").unwrap();
    let items: Vec<Value> = (0..100_001)
        .map(|i| {
            let payload = json!({"external_audience_id": "555", "audienceKey": "k", "props": {"k": true}, "email": sha256_hex(&i.to_string())});
            let edge_actions::json::J::Obj(p) = edge_actions::json::J::from_value(&payload) else { unreachable!() };
            serde_json::from_str::<Value>(&(sync.perform)(&p, &settings).unwrap().body).unwrap()
        })
        .collect();
    let calls = (def.split.unwrap())("/v1/segments/555/users", items, &settings);
    let sizes: Vec<usize> = calls.iter().map(|c| c.body["users"][0]["data"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, vec![100_000, 1]);
    assert_eq!(calls[1].items, vec![100_000]);
    assert_eq!(def.max_batch, 100_000);
    let e = api::create(&json!({"destination": "snap-audiences", "settings": {"batch_size": 100_001}}).to_string()).err().unwrap();
    assert_eq!(e.field.as_deref(), Some("settings.batch_size"));
}

#[test]
fn replays_do_not_double_add_and_the_last_change_wins() {
    let cfg = snap(100);
    let lines = plan(&cfg, json!([
        engage("e1", true, json!({"email": "a@x.io"})),
        engage("e2", true, json!({"email": "a@x.io"})),
        engage("e3", true, json!({"email": "b@x.io"})),
        engage("e4", false, json!({"email": "b@x.io"})),
        engage("e5", false, json!({"email": "c@x.io"})),
    ]));
    // a@x.io added once; b@x.io entered then exited: removed; c@x.io removed.
    assert_eq!(lines[0]["request"], request("POST", users("EMAIL_SHA256", &[sha256_hex("a@x.io")])));
    assert_eq!(lines[0]["messageIds"], json!(["e1", "e2"]));
    assert_eq!(lines[1]["batchedWith"], "e1");
    assert_eq!(lines[2]["request"], request("DELETE", users("EMAIL_SHA256", &[sha256_hex("b@x.io"), sha256_hex("c@x.io")])));
    assert_eq!(lines[2]["messageIds"], json!(["e3", "e4", "e5"]));
    assert_eq!((lines[3]["batchedWith"].clone(), lines[4]["batchedWith"].clone()), (json!("e3"), json!("e3")));
    assert_eq!(lines.iter().filter(|l| l.get("request").is_some() || l.get("requests").is_some()).count(), 2, "no other call");
}

#[test]
fn lookalikes_are_created_from_the_seed_segment() {
    let subs = json!([{
        "name": "High-LTV lookalike", "subscribe": "event = \"Audience Entered\"", "partnerAction": "createLookalike",
        "mapping": {
            "seed_segment_id": {"@path": "$.context.personas.external_audience_id"},
            "name": "High LTV lookalike (US, GB)", "countries": ["us", "GB"], "type": "SIMILARITY"
        }
    }]);
    let cfg = dest("snap-audiences", json!({"ad_account_id": "acc-1", "access_token": TOKEN, "batch_size": 10}), Some(subs));
    let lines = plan(&cfg, json!([engage("e1", true, json!({"email": "a@x.io"})), engage("e2", true, json!({"email": "b@x.io"}))]));
    assert_eq!(lines[0]["request"], json!({
        "method": "POST",
        "url": "https://adsapi.snapchat.com/v1/adaccounts/acc-1/segments",
        "headers": {"authorization": "Bearer REDACTED", "content-type": "application/json"},
        "body": {"segments": [{
            "name": "High LTV lookalike (US, GB)", "ad_account_id": "acc-1", "description": "Lookalike of segment 555",
            "source_type": "LOOKALIKE", "retention_in_days": 180,
            "creation_spec": {"seed_segment_id": "555", "type": "SIMILARITY", "countries": ["US", "GB"]}
        }]}
    }));
    assert_eq!(lines[1]["batchedWith"], "e1", "the same lookalike is created once per call");
    let bad = dest("snap-audiences", json!({"access_token": TOKEN}), Some(json!([{
        "subscribe": "type = \"track\"", "partnerAction": "createLookalike", "mapping": {"seed_segment_id": "1", "name": "n", "countries": ["US"]}
    }])));
    assert_eq!(error_of(&plan(&bad, json!([engage("e1", true, json!({}))]))[0]), ("INVALID_CONFIG", "ad_account_id"));
}

// ---- Braze ------------------------------------------------------------------------------

fn braze_subs(extra: Value) -> Value {
    let mut mapping = json!({
        "external_id": {"@path": "$.userId"},
        "device_id": {"@path": "$.context.device.id"},
        "cohort_id": {"@path": "$.context.personas.computation_id"},
        "cohort_name": {"@path": "$.context.personas.computation_key"},
        "personas_audience_key": "high_ltv",
        "event_properties": {"@if": {"exists": {"@path": "$.properties"}, "then": {"@path": "$.properties"}, "else": {"@path": "$.traits"}}},
        "time": {"@path": "$.timestamp"}
    });
    mapping.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!([{"name": "Braze Cohort", "subscribe": "type = \"track\"", "partnerAction": "syncAudiences", "mapping": mapping}])
}

fn braze(batch_size: usize, extra_settings: Value) -> Config {
    let mut settings = json!({"client_secret": CLIENT_SECRET, "endpoint": "https://rest.fra-01.braze.eu", "batch_size": batch_size});
    settings.as_object_mut().unwrap().extend(extra_settings.as_object().unwrap().clone());
    dest("braze-cohorts", settings, Some(braze_subs(json!({}))))
}

#[test]
fn braze_cohorts_create_the_cohort_then_add_or_remove_the_user() {
    let lines = plan(&braze(1, json!({})), json!([engage("e1", true, json!({})), engage("e2", false, json!({}))]));
    let create = json!({
        "method": "POST", "url": "https://rest.fra-01.braze.eu/partners/segment/cohorts",
        "headers": {"content-type": "application/json"},
        "body": {"client_secret": "REDACTED", "name": "high_ltv", "cohort_id": "aud_123", "created_at": "2024-03-01T12:00:00.000Z"}
    });
    let update = |change: Value| json!({
        "method": "POST", "url": "https://rest.fra-01.braze.eu/partners/segment/cohorts/users",
        "headers": {"content-type": "application/json"},
        "body": {"client_secret": "REDACTED", "cohort_id": "aud_123", "cohort_changes": [change]}
    });
    assert_eq!(lines[0]["requests"], json!([create, update(json!({"user_ids": ["user-e1"], "device_ids": [], "aliases": []}))]));
    assert_eq!(lines[1]["requests"][1], update(json!({"user_ids": ["user-e2"], "device_ids": [], "aliases": [], "should_remove": true})));
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains(CLIENT_SECRET), "the client secret is never printed");
}

#[test]
fn braze_cohort_key_must_match_and_partner_key_is_sent_when_set() {
    let cfg = braze(1, json!({"partner_api_key": "partner-SECRET"}));
    let mut other = engage("e1", true, json!({}));
    other["context"]["personas"]["computation_key"] = json!("churned");
    let lines = plan(&cfg, json!([other, engage("e2", true, json!({}))]));
    assert_eq!(error_of(&lines[0]), ("PAYLOAD_VALIDATION", "personas_audience_key"));
    assert_eq!(lines[1]["requests"][0]["body"]["partner_api_key"], "REDACTED");
    let t = Recorder::new(vec![]);
    let cfg2 = braze(1, json!({"partner_api_key": "partner-SECRET"}));
    let out = futures::executor::block_on(api::send(&cfg2, &json!([engage("e2", true, json!({}))]).to_string(), "{}", &t)).unwrap();
    assert_eq!(out[0]["delivered"], true);
    let calls = t.calls.borrow();
    assert_eq!(calls[0].1["partner_api_key"], "partner-SECRET", "the real key goes to Braze");
    assert_eq!(calls[0].1["client_secret"], CLIENT_SECRET);
}

#[test]
fn braze_batches_keep_the_latest_change_per_user() {
    let mut late_exit = engage("e2", false, json!({}));
    late_exit["userId"] = json!("user-e1");
    late_exit["timestamp"] = json!("2024-03-02T00:00:00.000Z");
    let lines = plan(&braze(100, json!({})), json!([engage("e1", true, json!({})), late_exit, engage("e3", true, json!({}))]));
    assert_eq!(lines[0]["requests"][1]["body"]["cohort_changes"], json!([
        {"user_ids": ["user-e3"], "device_ids": [], "aliases": []},
        {"user_ids": ["user-e1"], "device_ids": [], "aliases": [], "should_remove": true}
    ]));
    assert_eq!(lines[0]["requests"].as_array().unwrap().len(), 2, "one cohort creation per call, then the update");
}

#[test]
fn braze_custom_attribute_fallback() {
    let subs = json!([{"name": "Audience attribute", "subscribe": "type = \"track\" or type = \"identify\"", "partnerAction": "syncAudienceAttribute",
        "mapping": {"external_id": {"@path": "$.userId"}, "audience_key": {"@path": "$.context.personas.computation_key"},
                    "event_properties": {"@if": {"exists": {"@path": "$.properties"}, "then": {"@path": "$.properties"}, "else": {"@path": "$.traits"}}}}}]);
    let cfg = dest("braze-cohorts", json!({"api_key": "rest-SECRET", "endpoint": "https://rest.iad-01.braze.com", "batch_size": 75}), Some(subs));
    let identify = json!({"type": "identify", "messageId": "e3", "userId": "user-e1", "traits": {"high_ltv": false},
        "context": {"personas": {"computation_key": "high_ltv"}}});
    let lines = plan(&cfg, json!([engage("e1", true, json!({})), engage("e2", true, json!({})), identify]));
    assert_eq!(lines[0]["request"], json!({
        "method": "POST", "url": "https://rest.iad-01.braze.com/users/track",
        "headers": {"authorization": "Bearer REDACTED", "content-type": "application/json"},
        "body": {"attributes": [{"external_id": "user-e1", "high_ltv": false}, {"external_id": "user-e2", "high_ltv": true}]}
    }));
    let no_key = dest("braze-cohorts", json!({}), Some(json!([{"subscribe": "type = \"track\"", "partnerAction": "syncAudienceAttribute"}])));
    assert_eq!(error_of(&plan(&no_key, json!([engage("e1", true, json!({}))]))[0]), ("INVALID_CONFIG", "api_key"));
}

// ---- Delivery -----------------------------------------------------------------------------

/// Records (method + url, body) and answers from a script (200 when it runs out).
struct Recorder {
    calls: RefCell<Vec<(String, Value)>>,
    answers: RefCell<Vec<u16>>,
}

impl Recorder {
    fn new(mut answers: Vec<u16>) -> Recorder {
        answers.reverse();
        Recorder { calls: RefCell::new(vec![]), answers: RefCell::new(answers) }
    }
}

impl Transport for Recorder {
    async fn send(&self, req: &HttpRequest, _timeout: u64) -> Result<Response, TransportError> {
        // Bodies as values: JSON, a form as a string, none (a GET) as null.
        let body = if req.body.is_empty() { Value::Null } else { serde_json::from_str(&req.body).unwrap_or_else(|_| Value::String(req.body.clone())) };
        self.calls.borrow_mut().push((format!("{} {}", req.method, req.url), body));
        let status = self.answers.borrow_mut().pop().unwrap_or(200);
        Ok(Response { status, retry_after: None, location: None, body: String::new() })
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
fn a_failed_cohort_creation_stops_its_updates_and_fails_its_events() {
    let cfg = braze(1, json!({}));
    let t = Recorder::new(vec![403]);
    let p = Policy { concurrency: 1, ..Policy::default() };
    let texts = [engage("e1", true, json!({})).to_string(), engage("e2", true, json!({})).to_string()];
    let plan = cfg.plan(&texts.iter().map(|text| edge_actions::input::Piece { text, line: None }).collect::<Vec<_>>());
    let out = futures::executor::block_on(delivery::send_plan(&t, &plan, &p, &cfg.limiter));
    let calls: Vec<String> = t.calls.borrow().iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(calls, vec![
        "POST https://rest.fra-01.braze.eu/partners/segment/cohorts",
        "POST https://rest.fra-01.braze.eu/partners/segment/cohorts",
        "POST https://rest.fra-01.braze.eu/partners/segment/cohorts/users",
    ], "creations first; e1's update is not sent after its creation failed");
    assert_eq!((out[0]["delivered"].clone(), out[0]["status"].clone()), (json!(false), json!(403)));
    assert_eq!((out[1]["delivered"].clone(), out[1]["attempts"].clone()), (json!(true), json!(2)));
}

#[test]
fn an_event_is_delivered_only_when_every_call_carrying_it_is() {
    let cfg = snap(1);
    // Email call ok, phone call 400.
    let t = Recorder::new(vec![200, 400]);
    let out = futures::executor::block_on(api::send(&cfg, &json!([engage("e1", true, json!({"email": "a@x.io", "phone": "+1 415 555 0100"}))]).to_string(), r#"{"concurrency": 1}"#, &t)).unwrap();
    assert_eq!(out[0]["delivered"], false);
    assert_eq!(out[0]["status"], 400);
    assert_eq!(out[0]["attempts"], 2);
    let calls = t.calls.borrow();
    assert_eq!(calls.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), vec![
        "POST https://adsapi.snapchat.com/v1/segments/555/users",
        "POST https://adsapi.snapchat.com/v1/segments/555/users",
    ]);
    assert_eq!(calls[1].1, users("PHONE_SHA256", &[sha256_hex("14155550100")]));
}

// ---- OAuth refresh ------------------------------------------------------------------------

/// Answers with a function of (request, how many calls so far); records every call.
struct Server<F: Fn(&HttpRequest, usize) -> (u16, String)> {
    answer: F,
    calls: RefCell<Vec<HttpRequest>>,
}

impl<F: Fn(&HttpRequest, usize) -> (u16, String)> Transport for Server<F> {
    async fn send(&self, req: &HttpRequest, _timeout: u64) -> Result<Response, TransportError> {
        let n = self.calls.borrow().len();
        self.calls.borrow_mut().push(req.clone());
        let (status, body) = (self.answer)(req, n);
        Ok(Response { status, retry_after: None, location: None, body })
    }
    async fn sleep(&self, _ms: u64) {}
    fn random(&self) -> f64 {
        0.5
    }
    fn now_ms(&self) -> f64 {
        0.0
    }
}

const TOKEN_URL: &str = "https://accounts.snapchat.com/login/oauth2/access_token";

fn oauth_snap(access_token: Option<&str>) -> Config {
    let mut settings = json!({"ad_account_id": "acc-1", "refresh_token": "refresh-SECRET", "client_id": "cid", "client_secret": "snap-client-SECRET", "batch_size": 1});
    if let Some(t) = access_token {
        settings["access_token"] = json!(t);
    }
    dest("snap-audiences", settings, None)
}

fn bearer(r: &HttpRequest) -> &str {
    r.headers.get("authorization").and_then(Value::as_str).unwrap_or("")
}

fn send(cfg: &Config, t: &impl Transport, events: Value) -> Vec<Value> {
    futures::executor::block_on(api::send(cfg, &events.to_string(), r#"{"concurrency": 1}"#, t)).unwrap()
}

#[test]
fn an_expired_token_is_refreshed_once_and_kept_for_later_calls() {
    let cfg = oauth_snap(Some("old-token"));
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match (r.url.as_str(), bearer(r)) {
            (TOKEN_URL, _) => (200, r#"{"access_token":"new-token","expires_in":1800}"#.into()),
            (_, "Bearer old-token") => (401, r#"{"request_status":"ERROR","debug_message":"Token expired"}"#.into()),
            _ => (200, "{}".into()),
        },
    };
    let out = send(&cfg, &t, json!([engage("e1", true, json!({"email": "a@x.io"})), engage("e2", false, json!({"email": "b@x.io"}))]));
    assert_eq!((out[0]["delivered"].clone(), out[1]["delivered"].clone()), (json!(true), json!(true)));
    let calls = t.calls.borrow();
    let seen: Vec<(String, String)> = calls.iter().map(|r| (format!("{} {}", r.method, r.url), bearer(r).to_string())).collect();
    let users = "https://adsapi.snapchat.com/v1/segments/555/users";
    assert_eq!(seen, vec![
        (format!("POST {users}"), "Bearer old-token".to_string()),
        (format!("POST {TOKEN_URL}"), String::new()),
        (format!("POST {users}"), "Bearer new-token".to_string()),
        (format!("DELETE {users}"), "Bearer new-token".to_string()),
    ], "one refresh, then the new token for every request");
    assert_eq!(calls[1].body, json!("refresh_token=refresh-SECRET&client_id=cid&client_secret=snap-client-SECRET&grant_type=refresh_token"));
    assert_eq!(calls[1].headers["content-type"], "application/x-www-form-urlencoded");
    drop(calls);
    // A later call on the same destination starts with the refreshed token.
    let out = send(&cfg, &t, json!([engage("e3", true, json!({"email": "c@x.io"}))]));
    assert_eq!(out[0]["delivered"], true);
    assert_eq!(bearer(&t.calls.borrow()[4]), "Bearer new-token");
    assert_eq!(t.calls.borrow().len(), 5);
}

#[test]
fn a_revoked_refresh_token_is_a_clear_permanent_error_without_secrets() {
    let cfg = oauth_snap(Some("old-token"));
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.url.as_str() {
            TOKEN_URL => (400, r#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#.into()),
            _ => (401, "{}".into()),
        },
    };
    let out = send(&cfg, &t, json!([engage("e1", true, json!({"email": "a@x.io"})), engage("e2", true, json!({"email": "b@x.io"}))]));
    for line in &out {
        assert_eq!(line["delivered"], false);
        assert_eq!(line["status"], 401);
        assert_eq!(line["error"]["retryable"], false);
        assert!(line["error"]["message"].as_str().unwrap().contains("refresh token is revoked or expired"), "{line}");
    }
    let refreshes = t.calls.borrow().iter().filter(|r| r.url == TOKEN_URL).count();
    assert_eq!(refreshes, 1, "a refused refresh is not tried again for every request");
    let text = serde_json::to_string(&out).unwrap();
    for secret in ["refresh-SECRET", "snap-client-SECRET", "old-token"] {
        assert!(!text.contains(secret), "{secret} in the results");
    }
}

#[test]
fn a_refresh_token_alone_gets_an_access_token_first() {
    let cfg = oauth_snap(None);
    let plan = plan(&cfg, json!([engage("e1", true, json!({"email": "a@x.io"}))]));
    assert!(plan[0]["request"]["headers"].get("authorization").is_none(), "no token to show yet");
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.url.as_str() {
            TOKEN_URL => (200, r#"{"access_token":"fresh"}"#.into()),
            _ if bearer(r) == "Bearer fresh" => (200, "{}".into()),
            _ => (401, "{}".into()),
        },
    };
    let out = send(&cfg, &t, json!([engage("e1", true, json!({"email": "a@x.io"}))]));
    assert_eq!(out[0]["delivered"], true);
    assert_eq!(t.calls.borrow().len(), 2);
    // Without any token at all the event is a configuration error naming the field.
    let none = dest("snap-audiences", json!({"ad_account_id": "acc-1"}), None);
    assert_eq!(error_of(&plan_of(&none)[0]), ("MISCONFIGURED_FIELD", "access_token"));
}

fn plan_of(cfg: &Config) -> Vec<Value> {
    plan(cfg, json!([engage("e1", true, json!({"email": "a@x.io"}))]))
}

#[test]
fn a_token_refused_again_after_a_refresh_is_not_refreshed_in_a_loop() {
    let cfg = oauth_snap(Some("old-token"));
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.url.as_str() {
            TOKEN_URL => (200, r#"{"access_token":"also-refused"}"#.into()),
            _ => (401, "{}".into()),
        },
    };
    let out = send(&cfg, &t, json!([engage("e1", true, json!({"email": "a@x.io"}))]));
    assert_eq!((out[0]["delivered"].clone(), out[0]["status"].clone()), (json!(false), json!(401)));
    assert_eq!(t.calls.borrow().len(), 3, "request, refresh, request again: then it stops");
}

// ---- Segments found or created by name ----------------------------------------------------

fn named_snap() -> Config {
    dest("snap-audiences", json!({"ad_account_id": "acc-1", "access_token": TOKEN, "create_segments": true, "batch_size": 100}), None)
}

fn without_audience_id(id: &str, member: bool, email: &str) -> Value {
    let mut e = engage(id, member, json!({"email": email}));
    e["context"]["personas"].as_object_mut().unwrap().remove("external_audience_id");
    e
}

const LIST: &str = "GET https://adsapi.snapchat.com/v1/adaccounts/acc-1/segments?limit=1000";
const CREATE: &str = "POST https://adsapi.snapchat.com/v1/adaccounts/acc-1/segments";

fn calls_of<F: Fn(&HttpRequest, usize) -> (u16, String)>(t: &Server<F>) -> Vec<String> {
    t.calls.borrow().iter().map(|r| format!("{} {}", r.method, r.url)).collect()
}

#[test]
fn without_segments_audience_id_the_segment_is_created_once_and_remembered() {
    let cfg = named_snap();
    let lines = plan(&cfg, json!([without_audience_id("e1", true, "a@x.io")]));
    assert_eq!(lines[0]["request"]["url"], "https://adsapi.snapchat.com/v1/segments/%7Bsegment%7D/users", "resolved at delivery");
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.method {
            "GET" => (200, r#"{"request_status":"SUCCESS","segments":[{"segment":{"id":"other","name":"churned"}}]}"#.into()),
            "POST" if r.url.ends_with("/segments") => (200, r#"{"request_status":"SUCCESS","segments":[{"sub_request_status":"SUCCESS","segment":{"id":"seg-9","name":"high_ltv"}}]}"#.into()),
            _ => (200, "{}".into()),
        },
    };
    let out = send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io"), without_audience_id("e2", false, "b@x.io")]));
    assert!(out.iter().all(|l| l["delivered"] == true), "{out:?}");
    let users = "https://adsapi.snapchat.com/v1/segments/seg-9/users";
    assert_eq!(calls_of(&t), vec![LIST.to_string(), CREATE.to_string(), format!("POST {users}"), format!("DELETE {users}")]);
    assert_eq!(serde_json::from_str::<Value>(&t.calls.borrow()[1].body).unwrap(), json!({"segments": [{
        "name": "high_ltv", "source_type": "FIRST_PARTY", "ad_account_id": "acc-1",
        "description": "Audience high_ltv, kept in sync from Segment Engage", "retention_in_days": 9999
    }]}));
    // The next call on this destination goes straight to the segment.
    send(&cfg, &t, json!([without_audience_id("e3", true, "c@x.io")]));
    assert_eq!(calls_of(&t).len(), 5);
    assert_eq!(calls_of(&t)[4], format!("POST {users}"));
}

#[test]
fn an_existing_segment_of_that_name_is_used_and_a_failed_lookup_fails_its_events() {
    let cfg = named_snap();
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.method {
            "GET" => (200, r#"{"segments":[{"segment":{"id":"seg-1","name":"high_ltv"}}]}"#.into()),
            _ => (200, "{}".into()),
        },
    };
    send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io")]));
    assert_eq!(calls_of(&t), vec![LIST.to_string(), "POST https://adsapi.snapchat.com/v1/segments/seg-1/users".to_string()]);

    let cfg = named_snap();
    let t = Server { calls: RefCell::new(vec![]), answer: |_: &HttpRequest, _| (403, r#"{"debug_message":"no access"}"#.into()) };
    let out = send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io")]));
    assert_eq!((out[0]["delivered"].clone(), out[0]["status"].clone()), (json!(false), json!(403)));
    assert_eq!(out[0]["error"]["message"], "Could not look up the segment: HTTP 403");
    assert_eq!(out[0]["error"]["retryable"], false);

    let wrong = dest("snap-audiences", json!({"ad_account_id": "acc-1", "access_token": TOKEN, "create_segments": "yes"}), None);
    assert_eq!(error_of(&plan(&wrong, json!([without_audience_id("e1", true, "a@x.io")]))[0]), ("INVALID_CONFIG", "settings.create_segments"));
}

#[test]
fn a_lookalike_is_created_only_when_none_of_that_name_exists() {
    let subs = json!([{"name": "lookalike", "subscribe": "type = \"track\"", "partnerAction": "createLookalike",
        "mapping": {"seed_segment_id": "555", "name": "High LTV lookalike", "countries": ["US"]}}]);
    let cfg = dest("snap-audiences", json!({"ad_account_id": "acc-1", "access_token": TOKEN}), Some(subs));
    let existing = std::cell::Cell::new(false);
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.method {
            "GET" if existing.get() => (200, r#"{"segments":[{"segment":{"id":"lal-1","name":"High LTV lookalike"}}]}"#.into()),
            "GET" => (200, r#"{"segments":[]}"#.into()),
            _ => {
                existing.set(true);
                (200, r#"{"segments":[{"segment":{"id":"lal-1","name":"High LTV lookalike"}}]}"#.into())
            }
        },
    };
    let out = send(&cfg, &t, json!([engage("e1", true, json!({}))]));
    assert_eq!(out[0]["delivered"], true);
    assert_eq!(calls_of(&t), vec![LIST, CREATE]);
    assert_eq!(serde_json::from_str::<Value>(&t.calls.borrow()[1].body).unwrap()["segments"][0]["creation_spec"], json!({"seed_segment_id": "555", "type": "BALANCE", "countries": ["US"]}));
    // Another destination (a restart): found by name, not created again.
    let cfg = dest("snap-audiences", json!({"ad_account_id": "acc-1", "access_token": TOKEN}), Some(json!([{"name": "lookalike", "subscribe": "type = \"track\"", "partnerAction": "createLookalike",
        "mapping": {"seed_segment_id": "555", "name": "High LTV lookalike", "countries": ["US"]}}])));
    let out = send(&cfg, &t, json!([engage("e2", true, json!({}))]));
    assert_eq!(out[0]["delivered"], true);
    assert_eq!(calls_of(&t), vec![LIST, CREATE, LIST]);
}

// ---- The segment listing, page by page ---------------------------------------------------
//
// Snap lists at most 1,000 segments a call and links the next page as an absolute URL in
// `paging.next_link`. Segment never looks a segment up by name (its audience setup creates
// one), so these have no Segment counterpart: reading every page is ours.

const SEGMENTS_URL: &str = "https://adsapi.snapchat.com/v1/adaccounts/acc-1/segments";

/// Page `k` of a scripted listing: the first is the URL we build, the others Snap's cursors.
fn page_url(k: usize) -> String {
    if k == 1 { format!("{SEGMENTS_URL}?limit=1000") } else { format!("{SEGMENTS_URL}?cursor=c{k}&limit=1000") }
}

fn page_of(url: &str) -> Option<usize> {
    (1..=1000).find(|&k| page_url(k) == url)
}

/// Page `k` of `last`: segments with names close to `high_ltv` but not it, and `high_ltv`
/// itself (id `seg-{k}`) when `k == found_on`; a `next_link` unless it is the last page.
fn listing(k: usize, last: usize, found_on: usize) -> String {
    let mut segments: Vec<Value> = ["high_ltv_old", "High_LTV", "high_ltv "]
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"sub_request_status": "SUCCESS", "segment": {"id": format!("other-{k}-{i}"), "name": n, "source_type": "FIRST_PARTY"}}))
        .collect();
    if k == found_on {
        segments.insert(1, json!({"sub_request_status": "SUCCESS", "segment": {"id": format!("seg-{k}"), "name": "high_ltv", "source_type": "FIRST_PARTY"}}));
    }
    let paging = if k < last { json!({"next_link": page_url(k + 1)}) } else { json!({}) };
    json!({"request_status": "SUCCESS", "request_id": format!("r{k}"), "paging": paging, "segments": segments}).to_string()
}

const CREATED: &str = r#"{"request_status":"SUCCESS","segments":[{"sub_request_status":"SUCCESS","segment":{"id":"seg-new","name":"high_ltv"}}]}"#;

/// Snap with a listing of `last` pages holding `high_ltv` on page `found_on` (0: on none).
fn paged(last: usize, found_on: usize) -> impl Fn(&HttpRequest, usize) -> (u16, String) {
    move |r: &HttpRequest, _| match (r.method, page_of(&r.url)) {
        ("GET", Some(k)) if k <= last => (200, listing(k, last, found_on)),
        ("POST", _) if r.url == SEGMENTS_URL => (200, CREATED.into()),
        ("POST" | "DELETE", _) if r.url.ends_with("/users") => (200, r#"{"request_status":"SUCCESS"}"#.into()),
        _ => (404, "{}".into()),
    }
}

/// A request as the transport got it, every field.
fn sent(r: &HttpRequest) -> Value {
    json!({"method": r.method, "url": r.url, "headers": r.headers, "body": r.body})
}

/// A listing page's request: the token and content type as on every Snap call, no body.
fn page_request(k: usize) -> Value {
    json!({"method": "GET", "url": page_url(k), "headers": {"authorization": format!("Bearer {TOKEN}"), "content-type": "application/json"}, "body": ""})
}

fn users_request(method: &str, segment: &str, email: &str) -> Value {
    json!({
        "method": method, "url": format!("https://adsapi.snapchat.com/v1/segments/{segment}/users"),
        "headers": {"authorization": format!("Bearer {TOKEN}"), "content-type": "application/json"},
        "body": users("EMAIL_SHA256", &[sha256_hex(email)]).to_string()
    })
}

fn sent_of<F: Fn(&HttpRequest, usize) -> (u16, String)>(t: &Server<F>) -> Vec<Value> {
    t.calls.borrow().iter().map(sent).collect()
}

#[test]
fn a_segment_on_page_3_is_found_and_not_created_again_segment_never_looks_one_up() {
    let cfg = named_snap();
    let t = Server { calls: RefCell::new(vec![]), answer: paged(5, 3) };
    let out = send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io")]));
    assert_eq!(out[0]["delivered"], true, "{out:?}");
    assert_eq!(sent_of(&t), vec![page_request(1), page_request(2), page_request(3), users_request("POST", "seg-3", "a@x.io")], "pages 4 and 5 are not read, nothing is created");
    // Remembered: the next call on this destination reads no page at all.
    let out = send(&cfg, &t, json!([without_audience_id("e2", false, "b@x.io")]));
    assert_eq!(out[0]["delivered"], true);
    assert_eq!(sent_of(&t)[4..], [users_request("DELETE", "seg-3", "b@x.io")]);
}

#[test]
fn a_name_on_no_page_is_created_once_after_the_last_page() {
    let cfg = named_snap();
    let t = Server { calls: RefCell::new(vec![]), answer: paged(3, 0) };
    let out = send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io"), without_audience_id("e2", true, "b@x.io")]));
    assert!(out.iter().all(|l| l["delivered"] == true), "{out:?}");
    let calls = sent_of(&t);
    assert_eq!(calls[..3], [page_request(1), page_request(2), page_request(3)]);
    assert_eq!(calls[3], json!({
        "method": "POST", "url": SEGMENTS_URL,
        "headers": {"authorization": format!("Bearer {TOKEN}"), "content-type": "application/json"},
        "body": json!({"segments": [{
            "name": "high_ltv", "source_type": "FIRST_PARTY", "ad_account_id": "acc-1",
            "description": "Audience high_ltv, kept in sync from Segment Engage", "retention_in_days": 9999
        }]}).to_string()
    }));
    assert_eq!(calls[4]["url"], "https://adsapi.snapchat.com/v1/segments/seg-new/users");
    assert_eq!(serde_json::from_str::<Value>(calls[4]["body"].as_str().unwrap()).unwrap(), users("EMAIL_SHA256", &[sha256_hex("a@x.io"), sha256_hex("b@x.io")]));
    assert_eq!(calls.len(), 5);
    send(&cfg, &t, json!([without_audience_id("e3", true, "c@x.io")]));
    assert_eq!(sent_of(&t)[5..], [users_request("POST", "seg-new", "c@x.io")], "created once, then remembered");
}

/// One event through a destination whose listing answers `answer`: its result line and the
/// requests made.
fn lookup_with<F: Fn(&HttpRequest, usize) -> (u16, String)>(answer: F) -> (Value, Vec<Value>) {
    let t = Server { calls: RefCell::new(vec![]), answer };
    let out = send(&named_snap(), &t, json!([without_audience_id("e1", true, "a@x.io")]));
    (out[0].clone(), sent_of(&t))
}

/// A failed lookup: the event's status, code, retryability and message; no secret in it.
fn failure(line: &Value) -> (Value, Value, Value, Value) {
    assert_eq!(line["delivered"], false);
    assert!(!line.to_string().contains(TOKEN), "the token in {line}");
    (line["status"].clone(), line["error"]["code"].clone(), line["error"]["retryable"].clone(), line["error"]["message"].clone())
}

#[test]
fn a_next_link_to_another_host_is_an_error_and_that_host_gets_nothing() {
    for (link, named) in [
        ("https://evil.example/v1/adaccounts/acc-1/segments?cursor=c2&limit=1000", "https://evil.example"),
        ("http://adsapi.snapchat.com/v1/adaccounts/acc-1/segments?cursor=c2&limit=1000", "http://adsapi.snapchat.com"),
        ("https://adsapi.snapchat.com.evil.example/v1/adaccounts/acc-1/segments?cursor=c2", "https://adsapi.snapchat.com.evil.example"),
        // A WHATWG parser (fetch) reads evil.example as the host here.
        ("https://evil.example\\@adsapi.snapchat.com/v1/adaccounts/acc-1/segments?cursor=c2", "a URL that is not plain"),
    ] {
        let (line, calls) = lookup_with(move |r: &HttpRequest, _| match r.url.as_str() {
            u if u == page_url(1) => (200, json!({"paging": {"next_link": link}, "segments": [{"segment": {"id": "x", "name": "other"}}]}).to_string()),
            _ => (200, CREATED.into()),
        });
        assert_eq!(calls, vec![page_request(1)], "{link}: nothing after the first page, no creation");
        assert_eq!(failure(&line), (json!(200), json!("HTTP_ERROR"), json!(false), json!(format!(
            "Could not look up the segment: page 1 of the listing links its next page to {named}, not https://adsapi.snapchat.com: not followed (the request carries the access token)"
        ))), "{link}");
    }
}

#[test]
fn with_a_base_url_next_links_are_followed_on_that_origin_only() {
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, _| match r.url.as_str() {
            "http://127.0.0.1:4100/v1/adaccounts/acc-1/segments?limit=1000" => (200, r#"{"paging":{"next_link":"http://127.0.0.1:4100/v1/adaccounts/acc-1/segments?cursor=c2"},"segments":[]}"#.into()),
            "http://127.0.0.1:4100/v1/adaccounts/acc-1/segments?cursor=c2" => (200, r#"{"paging":{"next_link":"https://adsapi.snapchat.com/v1/adaccounts/acc-1/segments?cursor=c3"},"segments":[]}"#.into()),
            _ => (200, CREATED.into()),
        },
    };
    let opts = json!({"destination": "snap-audiences", "baseUrl": "http://127.0.0.1:4100", "settings": {"ad_account_id": "acc-1", "access_token": TOKEN, "create_segments": true}});
    let cfg = api::create(&opts.to_string()).unwrap();
    let out = send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io")]));
    let urls: Vec<Value> = sent_of(&t).iter().map(|r| r["url"].clone()).collect();
    assert_eq!(urls, vec![json!("http://127.0.0.1:4100/v1/adaccounts/acc-1/segments?limit=1000"), json!("http://127.0.0.1:4100/v1/adaccounts/acc-1/segments?cursor=c2")]);
    assert_eq!(failure(&out[0]).3, "Could not look up the segment: page 2 of the listing links its next page to https://adsapi.snapchat.com, not http://127.0.0.1:4100: not followed (the request carries the access token)");
}

#[test]
fn the_walk_stops_after_100_pages_without_creating_anything() {
    let (line, calls) = lookup_with(paged(1000, 0));
    assert_eq!(calls, (1..=100).map(page_request).collect::<Vec<_>>(), "pages 1 to 100, then nothing");
    assert_eq!(failure(&line), (json!(200), json!("HTTP_ERROR"), json!(false), json!(
        "Could not look up the segment: page 100 of the listing still links a next page: the segment was looked for on the first 100 pages only, so it is not created"
    )));
    // A listing of exactly 100 pages is read to its end.
    let (line, calls) = lookup_with(paged(100, 100));
    assert_eq!(line["delivered"], true);
    assert_eq!(calls.len(), 101);
    assert_eq!(calls[100], users_request("POST", "seg-100", "a@x.io"));
}

#[test]
fn a_page_answering_500_is_asked_again_with_the_same_request() {
    let failed_once = std::cell::Cell::new(false);
    let pages = paged(4, 3);
    let (line, calls) = lookup_with(|r: &HttpRequest, n| {
        if page_of(&r.url) == Some(2) && !failed_once.replace(true) {
            return (500, r#"{"request_status":"ERROR"}"#.into());
        }
        pages(r, n)
    });
    assert_eq!(line["delivered"], true, "{line}");
    assert_eq!(calls, vec![page_request(1), page_request(2), page_request(2), page_request(3), users_request("POST", "seg-3", "a@x.io")]);
    // A page that keeps failing fails the event as any call does, and creates nothing.
    let (line, calls) = lookup_with(|r: &HttpRequest, n| if page_of(&r.url) == Some(2) { (503, "{}".into()) } else { pages(r, n) });
    assert_eq!(failure(&line), (json!(503), json!("HTTP_ERROR"), json!(true), json!("Could not look up the segment: HTTP 503")));
    assert_eq!(calls, vec![page_request(1), page_request(2), page_request(2), page_request(2), page_request(2)], "Policy::default: 4 attempts");
}

#[test]
fn a_page_answering_401_refreshes_the_token_and_is_asked_again() {
    let mut settings = json!({"ad_account_id": "acc-1", "access_token": "old-token", "refresh_token": "refresh-SECRET", "client_id": "cid", "client_secret": "snap-client-SECRET", "create_segments": true});
    settings["batch_size"] = json!(10);
    let cfg = dest("snap-audiences", settings, None);
    let pages = paged(3, 2);
    let t = Server {
        calls: RefCell::new(vec![]),
        answer: |r: &HttpRequest, n| match (r.url.as_str(), bearer(r)) {
            (TOKEN_URL, _) => (200, r#"{"access_token":"new-token"}"#.into()),
            (u, "Bearer old-token") if page_of(u) == Some(2) => (401, "{}".into()),
            _ => pages(r, n),
        },
    };
    let out = send(&cfg, &t, json!([without_audience_id("e1", true, "a@x.io")]));
    assert_eq!(out[0]["delivered"], true, "{out:?}");
    let seen: Vec<(String, String)> = t.calls.borrow().iter().map(|r| (format!("{} {}", r.method, r.url), bearer(r).to_string())).collect();
    assert_eq!(seen, vec![
        (format!("GET {}", page_url(1)), "Bearer old-token".into()),
        (format!("GET {}", page_url(2)), "Bearer old-token".into()),
        (format!("POST {TOKEN_URL}"), String::new()),
        (format!("GET {}", page_url(2)), "Bearer new-token".into()),
        ("POST https://adsapi.snapchat.com/v1/segments/seg-2/users".into(), "Bearer new-token".into()),
    ]);
}

#[test]
fn a_page_that_is_not_a_listing_is_an_error_not_a_new_segment() {
    let pages = paged(3, 0);
    for (body, problem) in [
        ("<html>Service Unavailable</html>", "is not JSON"),
        ("", "is not JSON"),
        (r#"{"request_status":"SUCCESS","paging":{}}"#, "has no `segments` array"),
        (r#"{"request_status":"SUCCESS","segments":{"segment":{"id":"x","name":"high_ltv"}}}"#, "has no `segments` array"),
        (r#"{"segments":[{"segment":{"name":"high_ltv"}}]}"#, "lists the segment without an id"),
    ] {
        let (line, calls) = lookup_with(|r: &HttpRequest, n| if page_of(&r.url) == Some(2) { (200, body.into()) } else { pages(r, n) });
        assert_eq!(calls, vec![page_request(1), page_request(2)], "{body}: no further page, no creation");
        assert_eq!(failure(&line), (json!(200), json!("HTTP_ERROR"), json!(false), json!(format!("Could not look up the segment: page 2 of the listing {problem}"))), "{body}");
    }
}

// ---- Properties ---------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const PEOPLE: [&str; 4] = ["ana@example.com", "ben.k@example.org", "cleo+x@mail.io", "dev@example.com"];

    /// A messy spelling of a person's address: spaces around, random case.
    fn spelled(i: usize, pad: &str, upper: bool) -> String {
        let e = if upper { PEOPLE[i].to_uppercase() } else { PEOPLE[i].to_string() };
        format!("{pad}{e}{pad}")
    }

    fn requests_of(lines: &[Value]) -> Vec<Value> {
        lines
            .iter()
            .flat_map(|l| match (l.get("request"), l.get("requests")) {
                (Some(r), _) => vec![r.clone()],
                (_, Some(Value::Array(rs))) => rs.clone(),
                _ => vec![],
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the batch size, applying the planned calls leaves the segment holding
        /// exactly the people whose last change was an entry; batched, each person appears in
        /// one call at most; no address appears unhashed.
        #[test]
        fn the_segment_ends_as_the_last_change_per_person(
            changes in prop::collection::vec((0usize..4, any::<bool>(), prop::sample::select(vec!["", " ", "\t", "\u{a0}"]), any::<bool>()), 1..30),
            batch_size in prop::sample::select(vec![1usize, 2, 3, 7, 100]),
        ) {
            let cfg = snap(batch_size);
            let events: Vec<Value> = changes
                .iter()
                .enumerate()
                .map(|(n, (i, member, pad, upper))| engage(&format!("m{n}"), *member, json!({"email": spelled(*i, pad, *upper)})))
                .collect();
            let lines = plan(&cfg, Value::Array(events.clone()));
            prop_assert_eq!(lines.len(), events.len());
            let mut segment = BTreeSet::new();
            let mut seen = Vec::new();
            for r in requests_of(&lines) {
                for row in r["body"]["users"][0]["data"].as_array().unwrap() {
                    let h = row[0].as_str().unwrap().to_string();
                    seen.push(h.clone());
                    match r["method"].as_str() {
                        Some("POST") => { segment.insert(h); }
                        _ => { segment.remove(&h); }
                    }
                }
            }
            let mut expected = BTreeSet::new();
            for (i, member, _, _) in &changes {
                let h = sha256_hex(PEOPLE[*i]);
                if *member { expected.insert(h); } else { expected.remove(&h); }
            }
            prop_assert_eq!(&segment, &expected);
            if batch_size > 1 {
                let distinct: BTreeSet<&String> = seen.iter().collect();
                prop_assert_eq!(distinct.len(), seen.len(), "a person in two calls of one batch");
            }
            let text = serde_json::to_string(&lines).unwrap();
            for p in PEOPLE {
                prop_assert!(!text.to_lowercase().contains(p), "{} unhashed", p);
            }
        }
    }
}
