//! Braze (REST API) — the actions of Segment's "Braze Cloud Mode (Actions)" destination with
//! its fields, default mappings, presets and request bodies. Items are partial bodies
//! (`{"events": [...]}`, `{"purchases": [p1, p2]}`, `{"user_aliases": [...]}`) that the envelope
//! merges array by array, so one `/users/track` request carries attributes, events and
//! purchases together up to Braze's 75-object limit (aliases and identifies: 50).

mod catalog;
mod ecommerce;
mod subscription;
mod trigger;

use super::{Action, Definition, Item, ObjectError, Parts, Preset, Settings};
use crate::error::{ErrorCode, EventError};
use crate::js::is_truthy;
use crate::schema::{Field, Format, Ty};
use crate::time;
use serde_json::{Map, Value};

const S: Ty = Ty::String;
const DEFAULT_ENDPOINT: &str = "https://rest.iad-01.braze.com";
/// Objects per `/users/track` request (attributes + events + purchases together).
pub const MAX_TRACK_OBJECTS: usize = 75;
/// Objects per request on the alias / identify / merge endpoints.
pub const MAX_USER_OBJECTS: usize = 50;
/// The key under which Segment's Public API carries a subscription's sync mode.
const SYNC_MODE: &str = "__segment_internal_sync_mode";
const TRACK: &str = "/users/track";
const ALIAS_NEW: &str = "/users/alias/new";
const IDENTIFY: &str = "/users/identify";

// ---- fields ----

static ALIAS: [Field; 2] = [Field::new("alias_name", S), Field::new("alias_label", S)];
static ALIAS_REQUIRED: [Field; 2] = [Field::new("alias_name", S).required(), Field::new("alias_label", S).required()];
static LOCATION: [Field; 2] = [Field::new("latitude", Ty::Number), Field::new("longitude", Ty::Number)];
static FACEBOOK: [Field; 3] = [Field::new("id", S), Field::new("likes", S).multiple(), Field::new("num_friends", Ty::Integer)];
static PUSH_TOKEN: [Field; 3] = [Field::new("app_id", S).required(), Field::new("token", S).required(), Field::new("device_id", S)];
static TWITTER: [Field; 5] = [
    Field::new("id", S),
    Field::new("screen_name", S),
    Field::new("followers_count", Ty::Integer),
    Field::new("friends_count", Ty::Integer),
    Field::new("statuses_count", Ty::Integer),
];
static SUBSCRIPTION_GROUP: [Field; 2] = [Field::new("subscription_group_id", S).required(), Field::new("subscription_state", S).required()];
static PURCHASE_PRODUCT: [Field; 4] = [
    Field::new("product_id", S).required(),
    Field::new("currency", S),
    Field::new("price", Ty::Number).required(),
    Field::new("quantity", Ty::Integer),
];

/// The user-profile fields (v1 adds `_update_existing_only`, v2 a sync mode instead).
macro_rules! profile_fields {
    ($($extra:expr),*) => {[
        Field::new("external_id", S),
        Field::new("user_alias", Ty::Object).props(&ALIAS),
        Field::new("braze_id", S).nullable(),
        Field::new("country", S).nullable(),
        Field::new("current_location", Ty::Object).nullable().props(&LOCATION),
        Field::new("date_of_first_session", Ty::Datetime).nullable(),
        Field::new("date_of_last_session", Ty::Datetime).nullable(),
        Field::new("dob", Ty::Datetime).nullable(),
        Field::new("email", S).nullable(),
        Field::new("email_subscribe", S),
        Field::new("email_open_tracking_disabled", Ty::Boolean),
        Field::new("email_click_tracking_disabled", Ty::Boolean),
        Field::new("facebook", Ty::Object).props(&FACEBOOK),
        Field::new("first_name", S).nullable(),
        Field::new("gender", S).nullable(),
        Field::new("home_city", S).nullable(),
        Field::new("image_url", S).nullable().format(Format::Uri),
        Field::new("language", S).nullable(),
        Field::new("last_name", S),
        Field::new("marked_email_as_spam_at", Ty::Datetime).nullable(),
        Field::new("phone", S).nullable(),
        Field::new("push_subscribe", S),
        Field::new("push_tokens", Ty::Object).multiple().props(&PUSH_TOKEN),
        Field::new("time_zone", S),
        Field::new("twitter", Ty::Object).props(&TWITTER),
        Field::new("subscription_groups", Ty::Object).multiple().props(&SUBSCRIPTION_GROUP),
        Field::new("custom_attributes", Ty::Object),
        Field::new("enable_batching", Ty::Boolean),
        Field::new("batch_size", Ty::Number),
        $($extra),*
    ]};
}

static PROFILE: [Field; 30] = profile_fields!(Field::new("_update_existing_only", Ty::Boolean));
static PROFILE2: [Field; 30] = profile_fields!(Field::new(SYNC_MODE, S));

macro_rules! event_fields {
    ($($extra:expr),*) => {[
        Field::new("external_id", S),
        Field::new("user_alias", Ty::Object).props(&ALIAS),
        Field::new("email", S),
        Field::new("braze_id", S).nullable(),
        Field::new("name", S).required(),
        Field::new("time", Ty::Datetime).required(),
        Field::new("properties", Ty::Object),
        Field::new("enable_batching", Ty::Boolean),
        Field::new("batch_size", Ty::Number),
        $($extra),*
    ]};
}

static EVENT: [Field; 10] = event_fields!(Field::new("_update_existing_only", Ty::Boolean));
static EVENT2: [Field; 10] = event_fields!(Field::new(SYNC_MODE, S));

macro_rules! purchase_fields {
    ($($extra:expr),*) => {[
        Field::new("external_id", S),
        Field::new("user_alias", Ty::Object).props(&ALIAS),
        Field::new("email", S),
        Field::new("braze_id", S).nullable(),
        Field::new("time", Ty::Datetime).required(),
        Field::new("products", Ty::Object).multiple().required().props(&PURCHASE_PRODUCT).open(),
        Field::new("properties", Ty::Object),
        Field::new("enable_batching", Ty::Boolean),
        Field::new("batch_size", Ty::Number),
        $($extra),*
    ]};
}

static PURCHASE: [Field; 10] = purchase_fields!(Field::new("_update_existing_only", Ty::Boolean));
static PURCHASE2: [Field; 10] = purchase_fields!(Field::new(SYNC_MODE, S));

static CREATE_ALIAS: [Field; 3] = [Field::new("external_id", S).nullable(), Field::new("alias_name", S).required(), Field::new("alias_label", S).required()];
static CREATE_ALIAS2: [Field; 4] = [
    Field::new("external_id", S).nullable(),
    Field::new("alias_name", S).required(),
    Field::new("alias_label", S).required(),
    Field::new(SYNC_MODE, S),
];
static IDENTIFY_FIELDS: [Field; 3] = [
    Field::new("external_id", S).required(),
    Field::new("user_alias", Ty::Object).required().props(&ALIAS_REQUIRED),
    Field::new("merge_behavior", S).choices(&["none", "merge"]),
];

static PRIORITY: [Field; 2] = [
    Field::new("first_priority", S).choices(&["unidentified", "most_recently_updated", "least_recently_updated"]),
    Field::new("second_priority", S).choices(&["unidentified", "most_recently_updated", "least_recently_updated"]),
];
static IDENTIFY2_FIELDS: [Field; 6] = [
    Field::new("external_id", S).required(),
    Field::new("user_alias", Ty::Object).props(&ALIAS_REQUIRED),
    Field::new("email_to_identify", S),
    Field::new("prioritization", Ty::Object).props(&PRIORITY),
    Field::new("merge_behavior", S).choices(&["none", "merge"]),
    Field::new(SYNC_MODE, S),
];

// ---- default mappings (Segment's field defaults) ----

const PROFILE_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "braze_id": {"@path": "$.properties.braze_id"},
  "country": {"@path": "$.context.location.country"},
  "current_location": {"latitude": {"@path": "$.context.location.latitude"}, "longitude": {"@path": "$.context.location.longitude"}},
  "email": {"@path": "$.traits.email"},
  "first_name": {"@path": "$.traits.firstName"},
  "gender": {"@path": "$.traits.gender"},
  "home_city": {"@path": "$.traits.address.city"},
  "image_url": {"@path": "$.traits.avatar"},
  "last_name": {"@path": "$.traits.lastName"},
  "phone": {"@path": "$.traits.phone"},
  "custom_attributes": {"@path": "$.traits"},
  "_update_existing_only": false,
  "enable_batching": true,
  "batch_size": 75
}"#;

const EVENT_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "email": {"@if": {"exists": {"@path": "$.context.traits.email"}, "then": {"@path": "$.context.traits.email"}, "else": {"@path": "$.properties.email"}}},
  "braze_id": {"@path": "$.properties.braze_id"},
  "name": {"@path": "$.event"},
  "time": {"@path": "$.receivedAt"},
  "properties": {"@path": "$.properties"},
  "_update_existing_only": false,
  "enable_batching": true,
  "batch_size": 75
}"#;

const PURCHASE_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "email": {"@path": "$.traits.email"},
  "braze_id": {"@path": "$.properties.braze_id"},
  "time": {"@path": "$.receivedAt"},
  "products": {"@path": "$.properties.products"},
  "properties": {"@path": "$.properties"},
  "_update_existing_only": false,
  "enable_batching": true,
  "batch_size": 75
}"#;

// The v2 actions: the same defaults with the sync mode Segment's UI preselects.
const PROFILE2_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "braze_id": {"@path": "$.properties.braze_id"},
  "country": {"@path": "$.context.location.country"},
  "current_location": {"latitude": {"@path": "$.context.location.latitude"}, "longitude": {"@path": "$.context.location.longitude"}},
  "email": {"@path": "$.traits.email"},
  "first_name": {"@path": "$.traits.firstName"},
  "gender": {"@path": "$.traits.gender"},
  "home_city": {"@path": "$.traits.address.city"},
  "image_url": {"@path": "$.traits.avatar"},
  "last_name": {"@path": "$.traits.lastName"},
  "phone": {"@path": "$.traits.phone"},
  "custom_attributes": {"@path": "$.traits"},
  "enable_batching": true,
  "batch_size": 75,
  "__segment_internal_sync_mode": "update"
}"#;

const EVENT2_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "email": {"@if": {"exists": {"@path": "$.context.traits.email"}, "then": {"@path": "$.context.traits.email"}, "else": {"@path": "$.properties.email"}}},
  "braze_id": {"@path": "$.properties.braze_id"},
  "name": {"@path": "$.event"},
  "time": {"@path": "$.receivedAt"},
  "properties": {"@path": "$.properties"},
  "enable_batching": true,
  "batch_size": 75,
  "__segment_internal_sync_mode": "add"
}"#;

const PURCHASE2_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "email": {"@path": "$.traits.email"},
  "braze_id": {"@path": "$.properties.braze_id"},
  "time": {"@path": "$.receivedAt"},
  "products": {"@path": "$.properties.products"},
  "properties": {"@path": "$.properties"},
  "enable_batching": true,
  "batch_size": 75,
  "__segment_internal_sync_mode": "add"
}"#;

const CREATE_ALIAS2_MAPPING: &str = r#"{"__segment_internal_sync_mode": "add"}"#;

// ---- presets ----

static PRESETS: [Preset; 7] = [
    Preset {
        name: "Track Calls",
        trigger: r#"type = "track" and event != "Order Completed" and event != "Checkout Started" and event != "Order Refunded" and event != "Order Cancelled" and event != "Product Viewed""#,
        action: "trackEvent",
        mapping: "{}",
    },
    Preset {
        name: "Order Placed (beta)",
        trigger: r#"event = "Order Completed""#,
        action: "ecommerce",
        mapping: r#"{"name": "ecommerce.order_placed", "metadata": {"order_status_url": {"@path": "$.properties.order_status_url"}}}"#,
    },
    Preset {
        name: "Checkout Started (beta)",
        trigger: r#"event = "Checkout Started""#,
        action: "ecommerce",
        mapping: r#"{"name": "ecommerce.checkout_started", "metadata": {"checkout_url": {"@path": "$.properties.checkout_url"}}}"#,
    },
    Preset {
        name: "Order Refunded (beta)",
        trigger: r#"event = "Order Refunded""#,
        action: "ecommerce",
        mapping: r#"{"name": "ecommerce.order_refunded", "metadata": {"order_status_url": {"@path": "$.properties.order_status_url"}}}"#,
    },
    Preset {
        name: "Order Cancelled (beta)",
        trigger: r#"event = "Order Cancelled""#,
        action: "ecommerce",
        mapping: r#"{"name": "ecommerce.order_cancelled", "metadata": {"order_status_url": {"@path": "$.properties.order_status_url"}}}"#,
    },
    Preset {
        name: "Product Viewed (beta)",
        trigger: r#"event = "Product Viewed""#,
        action: "ecommerceSingleProduct",
        mapping: r#"{"name": "ecommerce.product_viewed"}"#,
    },
    Preset { name: "Identify Calls", trigger: r#"type = "identify""#, action: "updateUserProfile", mapping: "{}" },
];

static ACTIONS: [Action; 16] = [
    Action { id: "updateUserProfile", title: "Update User Profile", fields: &PROFILE, default_mapping: PROFILE_MAPPING, perform: |p, s| update_user_profile(&p.to_map(), s) },
    Action { id: "trackEvent", title: "Track Event", fields: &EVENT, default_mapping: EVENT_MAPPING, perform: |p, s| track_event(&p.to_map(), s) },
    Action { id: "trackPurchase", title: "Track Purchase", fields: &PURCHASE, default_mapping: PURCHASE_MAPPING, perform: |p, s| track_purchase(&p.to_map(), s) },
    Action { id: "createAlias", title: "Create Alias", fields: &CREATE_ALIAS, default_mapping: "{}", perform: |p, s| create_alias(&p.to_map(), s) },
    Action { id: "identifyUser", title: "Identify User", fields: &IDENTIFY_FIELDS, default_mapping: "{}", perform: |p, s| identify_user(&p.to_map(), s) },
    Action { id: "updateUserProfile2", title: "Update User Profile V2", fields: &PROFILE2, default_mapping: PROFILE2_MAPPING, perform: |p, s| update_user_profile2(&p.to_map(), s) },
    Action { id: "trackEvent2", title: "Track Event V2", fields: &EVENT2, default_mapping: EVENT2_MAPPING, perform: |p, s| track_event2(&p.to_map(), s) },
    Action { id: "trackPurchase2", title: "Track Purchase V2", fields: &PURCHASE2, default_mapping: PURCHASE2_MAPPING, perform: |p, s| track_purchase2(&p.to_map(), s) },
    Action { id: "createAlias2", title: "Create Alias V2", fields: &CREATE_ALIAS2, default_mapping: CREATE_ALIAS2_MAPPING, perform: |p, s| create_alias2(&p.to_map(), s) },
    Action { id: "identifyUser2", title: "Identify User V2", fields: &IDENTIFY2_FIELDS, default_mapping: r#"{"__segment_internal_sync_mode": "add"}"#, perform: |p, s| identify_user2(&p.to_map(), s) },
    ecommerce::MULTI,
    ecommerce::SINGLE,
    trigger::CAMPAIGN,
    trigger::CANVAS,
    subscription::STATUS,
    catalog::UPSERT,
];

pub static DEFINITION: Definition = Definition {
    slug: "braze",
    aliases: &["actions-braze-cloud", "Braze Cloud Mode (Actions)"],
    name: "Braze",
    origin: DEFAULT_ENDPOINT,
    string_settings: &["api_key", "endpoint", "app_id"],
    max_batch: MAX_TRACK_OBJECTS,
    actions: &ACTIONS,
    presets: &PRESETS,
    url,
    headers,
    envelope,
    parts: Some(parts),
    max_objects,
    phase,
    object_errors: Some(object_errors),
    check_settings,
    // Segment's Braze requests wait 30 s.
    timeout_ms: 30_000,
    method: catalog::method,
    resource: Some(catalog::resource),
    consent_exempt: &[subscription::STATUS.id],
    ..super::BASE
};

// ---- definition functions ----

/// The configured REST endpoint, unless a base URL override (mock server, proxy) replaced the
/// origin. A `#...` suffix of a target only keeps requests apart (identify merge behaviours).
fn url(origin: &str, target: &str, settings: &Settings, _redact: bool) -> String {
    let origin = if origin == DEFAULT_ENDPOINT { settings.str("endpoint").unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/') } else { origin };
    let path = target.split('#').next().unwrap_or(target);
    format!("{origin}{path}")
}

fn headers(settings: &Settings, redact: bool) -> Vec<(&'static str, String)> {
    match settings.str("api_key") {
        Some(_) if redact => vec![("authorization", "Bearer REDACTED".into())],
        Some(k) => vec![("authorization", format!("Bearer {k}"))],
        None => vec![],
    }
}

fn check_settings(settings: &Settings) -> Result<(), EventError> {
    let bad = |field: &str, message: &str| EventError::new(ErrorCode::InvalidConfig, message).with_field(format!("settings.{field}"));
    if settings.str("api_key").is_none() {
        return Err(bad("api_key", "`api_key` (a Braze REST API key) is required"));
    }
    if let Some(e) = settings.str("endpoint") {
        if !(e.starts_with("https://") || e.starts_with("http://")) || e.len() < 10 || e.contains(char::is_whitespace) {
            return Err(bad("endpoint", "`endpoint` must be a Braze REST endpoint URL such as https://rest.iad-01.braze.com"));
        }
    }
    Ok(())
}

/// Items' partial bodies merged: arrays concatenated by key, in first-seen key order; other
/// keys (identify's `merge_behavior`) are the same for every item of a target.
fn envelope(items: &[&str]) -> String {
    let mut out = Map::new();
    for item in items {
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(item) else { continue };
        for (k, v) in m {
            match (out.get_mut(&k), v) {
                (Some(Value::Array(acc)), Value::Array(more)) => acc.extend(more),
                (Some(_), _) => {}
                (None, v) => {
                    out.insert(k, v);
                }
            }
        }
    }
    let mut text = String::new();
    crate::input::write_js_json(&Value::Object(out), &mut text);
    text
}

/// Body arrays that requests to the same endpoint merge (the rest of a body is per request).
const OBJECT_ARRAYS: [&str; 8] =
    ["attributes", "events", "purchases", "user_aliases", "aliases_to_identify", "emails_to_identify", "subscription_groups", "items"];

fn parts(body: &str) -> Parts {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let parts: Parts = body
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| OBJECT_ARRAYS.contains(&k.as_str())).filter_map(|(k, v)| v.as_array().map(|a| (k.clone(), a.len()))).collect())
        .unwrap_or_default();
    // A body that is one request by itself (campaign and canvas triggers) counts as one.
    if parts.is_empty() { vec![(String::new(), 1)] } else { parts }
}

fn max_objects(target: &str) -> usize {
    if target.starts_with(TRACK) {
        MAX_TRACK_OBJECTS
    } else if target.starts_with("/users/") || target.starts_with(subscription::TARGET) || catalog::is_batch(target) {
        MAX_USER_OBJECTS
    } else {
        1
    }
}

/// Aliases exist before anything is tracked against them, and an alias profile is identified
/// (merged into the known user) only after its events arrived: no history is lost.
/// Triggered campaigns and canvases go last, once the profile data they may use has landed.
fn phase(target: &str) -> u8 {
    if target.starts_with("/users/alias") {
        0
    } else if target.starts_with(IDENTIFY) || target.starts_with("/users/merge") || target.starts_with(subscription::TARGET) {
        2
    } else if target.starts_with("/campaigns/") || target.starts_with("/canvas/") {
        3
    } else {
        1
    }
}

/// Braze's `errors: [{type, input_array, index}]` of a 2xx answer.
fn object_errors(body: &str) -> Vec<ObjectError> {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return vec![] };
    let Some(errors) = v.get("errors").and_then(Value::as_array) else { return vec![] };
    errors
        .iter()
        .filter_map(|e| {
            let index = e.get("index")?.as_u64()? as usize;
            let message = match e.get("type") {
                Some(Value::String(t)) => t.clone(),
                _ => "rejected by Braze".to_string(),
            };
            Some(ObjectError { array: e.get("input_array").and_then(Value::as_str).map(str::to_string), index, message })
        })
        .collect()
}

// ---- shared readers ----

/// Copy `k` when present (null included: fields that allow null send it as Segment does).
fn copy(out: &mut Map<String, Value>, p: &Map<String, Value>, k: &str) {
    if let Some(v) = p.get(k) {
        out.insert(k.to_string(), v.clone());
    }
}

fn put(out: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        out.insert(k.to_string(), v);
    }
}

/// A user alias with both a label and a name (anything else is no alias, as in Segment).
fn user_alias(p: &Map<String, Value>) -> Option<Value> {
    let a = p.get("user_alias")?.as_object()?;
    let label = a.get("alias_label").filter(|v| is_truthy(v))?;
    let name = a.get("alias_name").filter(|v| is_truthy(v))?;
    let mut m = Map::new();
    m.insert("alias_label".into(), label.clone());
    m.insert("alias_name".into(), name.clone());
    Some(Value::Object(m))
}

fn truthy(p: &Map<String, Value>, k: &str) -> bool {
    p.get(k).is_some_and(is_truthy)
}

/// Every user-keyed action needs one of these identifiers.
fn require_user(p: &Map<String, Value>, alias: &Option<Value>, with_phone: bool) -> Result<(), EventError> {
    if truthy(p, "braze_id") || alias.is_some() || truthy(p, "external_id") || truthy(p, "email") || (with_phone && truthy(p, "phone")) {
        return Ok(());
    }
    let message = if with_phone {
        "One of \"external_id\" or \"user_alias\" or \"braze_id\" or \"email\" or \"phone\" is required."
    } else {
        "One of \"external_id\" or \"user_alias\" or \"braze_id\" or \"email\" is required."
    };
    Err(EventError::new(ErrorCode::MisconfiguredField, message).with_field("external_id"))
}

/// A datetime field as `toISOString()` (null stays null; an unreadable date is left out).
fn iso(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Null => Some(Value::Null),
        v => date_ms(v).and_then(time::iso_string).map(Value::String),
    }
}

/// The instant of a validated datetime value: a number is milliseconds; a string that is a
/// plain number is Unix seconds, as Segment's `date-like` check reads it (Segment then formats
/// it with V8's legacy guess, "12" = December 2001: docs/compatibility.md); other strings as
/// dayjs reads them.
fn date_ms(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|ms| ms.abs() <= 8.64e15),
        Value::String(s) => match crate::js::string_to_number(s) {
            n if !n.is_nan() && crate::js::number_to_string(n) == *s => Some(n * 1000.0).filter(|ms| ms.abs() <= 8.64e15),
            _ => time::dayjs_ms(s),
        },
        _ => None,
    }
}

/// The sync mode of a v2 action (from the subscription), or an error naming the allowed ones.
fn sync_mode<'a>(p: &'a Map<String, Value>, allowed: &[&str], message: &str) -> Result<&'a str, EventError> {
    match p.get(SYNC_MODE).and_then(Value::as_str) {
        Some(m) if allowed.contains(&m) => Ok(m),
        _ => Err(EventError::new(ErrorCode::MisconfiguredField, message).with_field(SYNC_MODE)),
    }
}

/// `_update_existing_only`: the field (v1) or the sync mode (v2: "update" means true).
fn update_existing_only(p: &Map<String, Value>, mode: Option<&str>) -> Option<Value> {
    match mode {
        Some(m) => Some(Value::Bool(m == "update")),
        None => p.get("_update_existing_only").cloned(),
    }
}

fn item(target: &str, array: &str, objects: Vec<Value>) -> Item {
    let mut body = Map::new();
    body.insert(array.to_string(), Value::Array(objects));
    crate::destinations::json_item(target.to_string(), Value::Object(body))
}

/// Braze's single-letter genders for the usual spellings; anything else passes unchanged.
fn braze_gender(v: &Value) -> Value {
    let Value::String(g) = v else { return v.clone() };
    if g.is_empty() {
        return v.clone();
    }
    let code = match crate::js::to_lower(g).as_str() {
        "man" | "male" | "m" => "M",
        "woman" | "female" | "w" | "f" => "F",
        "other" | "o" => "O",
        "not applicable" | "n" => "N",
        "prefer not to say" | "p" => "P",
        _ => return v.clone(),
    };
    Value::String(code.into())
}

// ---- actions ----

/// Keys of `custom_attributes` that never become attributes (the purchase fields and Segment's
/// camel-case traits the standard fields already carry).
const RESERVED_ATTRIBUTES: [&str; 13] = [
    "external_id", "user_alias", "email", "braze_id", "time", "products", "properties", "_update_existing_only",
    "enable_batching", "batch_size", "firstName", "lastName", "avatar",
];

/// Standard attribute keys: a custom attribute of the same name is replaced by the standard
/// value, or dropped when that is unset.
const STANDARD_ATTRIBUTES: [&str; 26] = [
    "braze_id", "external_id", "user_alias", "country", "current_location", "date_of_first_session", "date_of_last_session",
    "dob", "email", "email_subscribe", "email_open_tracking_disabled", "email_click_tracking_disabled", "facebook",
    "first_name", "gender", "home_city", "image_url", "language", "last_name", "marked_email_as_spam_at", "phone",
    "push_subscribe", "push_tokens", "time_zone", "twitter", "_update_existing_only",
];

fn profile(p: &Map<String, Value>, mode: Option<&str>) -> Result<Item, EventError> {
    let alias = user_alias(p);
    require_user(p, &alias, false)?;
    let mut a = Map::new();
    if let Some(Value::Object(custom)) = p.get("custom_attributes") {
        for (k, v) in custom {
            if !RESERVED_ATTRIBUTES.contains(&k.as_str()) && !STANDARD_ATTRIBUTES.contains(&k.as_str()) {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    copy(&mut a, p, "braze_id");
    copy(&mut a, p, "external_id");
    put(&mut a, "user_alias", alias);
    copy(&mut a, p, "country");
    put(&mut a, "current_location", match p.get("current_location") {
        Some(Value::Object(m)) => {
            let kept: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => other.cloned(),
    });
    put(&mut a, "date_of_first_session", iso(p.get("date_of_first_session")));
    put(&mut a, "date_of_last_session", iso(p.get("date_of_last_session")));
    put(&mut a, "dob", match p.get("dob") {
        Some(Value::Null) => Some(Value::Null),
        Some(v) => date_ms(v).and_then(time::ymd_string).map(Value::String),
        None => None,
    });
    copy(&mut a, p, "email");
    for k in ["email_subscribe", "email_open_tracking_disabled", "email_click_tracking_disabled", "facebook", "first_name"] {
        copy(&mut a, p, k);
    }
    put(&mut a, "gender", p.get("gender").map(braze_gender));
    for k in ["home_city", "image_url", "language", "last_name"] {
        copy(&mut a, p, k);
    }
    put(&mut a, "marked_email_as_spam_at", iso(p.get("marked_email_as_spam_at")));
    for k in ["phone", "push_subscribe", "push_tokens", "time_zone", "twitter"] {
        copy(&mut a, p, k);
    }
    match p.get("subscription_groups") {
        Some(Value::Array(g)) if !g.is_empty() => {
            a.insert("subscription_groups".into(), Value::Array(g.clone()));
        }
        _ => {}
    }
    put(&mut a, "_update_existing_only", update_existing_only(p, mode));
    Ok(item(TRACK, "attributes", vec![Value::Object(a)]))
}

fn update_user_profile(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    profile(p, None)
}

fn update_user_profile2(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    let mode = p.get(SYNC_MODE).and_then(Value::as_str);
    if mode != Some("update") {
        let shown = mode.unwrap_or("undefined");
        return Err(EventError::new(ErrorCode::MisconfiguredField, format!("Sync mode {shown} is not supported")).with_field(SYNC_MODE));
    }
    profile(p, mode)
}

/// The user keys and shared fields of an event or purchase object.
fn event_base(p: &Map<String, Value>, settings: &Settings, alias: Option<Value>) -> Map<String, Value> {
    let mut e = Map::new();
    copy(&mut e, p, "braze_id");
    copy(&mut e, p, "external_id");
    copy(&mut e, p, "email");
    put(&mut e, "user_alias", alias);
    put(&mut e, "app_id", settings.values.get("app_id").filter(|v| v.is_string()).cloned());
    e
}

fn event(p: &Map<String, Value>, settings: &Settings, mode: Option<&str>) -> Result<Item, EventError> {
    let alias = user_alias(p);
    require_user(p, &alias, false)?;
    let mut e = event_base(p, settings, alias);
    copy(&mut e, p, "name");
    put(&mut e, "time", iso(p.get("time")));
    copy(&mut e, p, "properties");
    put(&mut e, "_update_existing_only", update_existing_only(p, mode));
    Ok(item(TRACK, "events", vec![Value::Object(e)]))
}

fn track_event(p: &Map<String, Value>, s: &Settings) -> Result<Item, EventError> {
    event(p, s, None)
}

fn track_event2(p: &Map<String, Value>, s: &Settings) -> Result<Item, EventError> {
    let mode = sync_mode(p, &["add", "update"], "syncMode must be \"add\" or \"update\"")?;
    event(p, s, Some(mode))
}

/// Product fields the purchase object carries itself; the rest become its properties.
const PRODUCT_KEYS: [&str; 4] = ["product_id", "currency", "price", "quantity"];

fn purchase(p: &Map<String, Value>, settings: &Settings, mode: Option<&str>) -> Result<Item, EventError> {
    let alias = user_alias(p);
    require_user(p, &alias, false)?;
    let products = p.get("products").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if products.is_empty() {
        // Segment sends nothing for an order without products.
        return Err(EventError::misconfigured("products", "This event was not sent to Braze because it did not contain any products."));
    }
    if products.len() > MAX_TRACK_OBJECTS {
        return Err(EventError::misconfigured(
            "products",
            format!("The order has {} products, more than the {MAX_TRACK_OBJECTS} objects Braze accepts in one request.", products.len()),
        ));
    }
    let mut base = event_base(p, settings, alias);
    put(&mut base, "time", iso(p.get("time")));
    put(&mut base, "_update_existing_only", update_existing_only(p, mode));
    let event_props: Vec<(&String, &Value)> = match p.get("properties") {
        Some(Value::Object(m)) => m.iter().filter(|(k, _)| k.as_str() != "products").collect(),
        _ => vec![],
    };
    let objects = products
        .iter()
        .map(|product| {
            let prod = product.as_object();
            let get = |k: &str| prod.and_then(|m| m.get(k));
            let mut o = base.clone();
            put(&mut o, "product_id", get("product_id").cloned());
            o.insert("currency".into(), get("currency").filter(|v| !v.is_null()).cloned().unwrap_or_else(|| Value::String("USD".into())));
            put(&mut o, "price", get("price").cloned());
            put(&mut o, "quantity", get("quantity").cloned());
            let mut props = Map::new();
            for (k, v) in prod.into_iter().flatten() {
                if !PRODUCT_KEYS.contains(&k.as_str()) {
                    props.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in &event_props {
                props.insert((*k).clone(), (*v).clone());
            }
            o.insert("properties".into(), Value::Object(props));
            Value::Object(o)
        })
        .collect();
    Ok(item(TRACK, "purchases", objects))
}

fn track_purchase(p: &Map<String, Value>, s: &Settings) -> Result<Item, EventError> {
    purchase(p, s, None)
}

fn track_purchase2(p: &Map<String, Value>, s: &Settings) -> Result<Item, EventError> {
    let mode = sync_mode(p, &["add", "update"], "syncMode must be \"add\" or \"update\"")?;
    purchase(p, s, Some(mode))
}

fn alias(p: &Map<String, Value>) -> Item {
    let mut a = Map::new();
    put(&mut a, "external_id", p.get("external_id").filter(|v| !v.is_null()).cloned());
    copy(&mut a, p, "alias_name");
    copy(&mut a, p, "alias_label");
    item(ALIAS_NEW, "user_aliases", vec![Value::Object(a)])
}

fn create_alias(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    Ok(alias(p))
}

fn create_alias2(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    sync_mode(p, &["add"], "syncMode must be \"add\"")?;
    Ok(alias(p))
}

fn identify_user2(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    sync_mode(p, &["add", "upsert"], "syncMode must be \"add\" or \"upsert\"")?;
    let missing = |k: &str| EventError::new(ErrorCode::PayloadValidation, format!("The root value is missing the required field '{k}'.")).with_field(k);
    let email = p.get("email_to_identify");
    if email.is_none() && !p.contains_key("user_alias") {
        return Err(missing("user_alias"));
    }
    if email.is_some() && !p.contains_key("prioritization") {
        return Err(missing("prioritization"));
    }
    let mut body = Map::new();
    if let Some(m) = p.get("merge_behavior") {
        body.insert("merge_behavior".into(), m.clone());
    }
    if p.get("user_alias").is_some_and(is_truthy) {
        let mut o = Map::new();
        copy(&mut o, p, "external_id");
        copy(&mut o, p, "user_alias");
        body.insert("aliases_to_identify".into(), Value::Array(vec![Value::Object(o)]));
    }
    if let Some(e) = email.filter(|v| is_truthy(v)) {
        let prio = p.get("prioritization").and_then(Value::as_object);
        let mut order = vec![prio.and_then(|m| m.get("first_priority")).cloned().unwrap_or(Value::Null)];
        if let Some(second) = prio.and_then(|m| m.get("second_priority")).filter(|v| is_truthy(v)) {
            order.push(second.clone());
        }
        let mut o = Map::new();
        copy(&mut o, p, "external_id");
        o.insert("email".into(), e.clone());
        o.insert("prioritization".into(), Value::Array(order));
        body.insert("emails_to_identify".into(), Value::Array(vec![Value::Object(o)]));
    }
    let target = match p.get("merge_behavior") {
        Some(Value::String(m)) => format!("{IDENTIFY}#{m}"),
        _ => IDENTIFY.to_string(),
    };
    Ok(crate::destinations::json_item(target, Value::Object(body)))
}

fn identify_user(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    let mut o = Map::new();
    copy(&mut o, p, "external_id");
    copy(&mut o, p, "user_alias");
    let mut body = Map::new();
    body.insert("aliases_to_identify".into(), Value::Array(vec![Value::Object(o)]));
    let mut target = IDENTIFY.to_string();
    // Requests carry one merge behaviour: identifies with another one go separately.
    if let Some(m @ Value::String(s)) = p.get("merge_behavior") {
        target = format!("{IDENTIFY}#{s}");
        body.insert("merge_behavior".into(), m.clone());
    }
    Ok(crate::destinations::json_item(target, Value::Object(body)))
}
