//! Snapchat Conversions API v3 — the `reportConversionEvent` action, with Segment's fields,
//! default mappings and presets, and the request Segment's destination builds.

use super::{encode_component as encode_query, Action, Definition, Item, Preset, Settings};
use crate::error::{ErrorCode, EventError};
use crate::pii;
use crate::schema::{number_value, Field, Ty};
use crate::time::{js_parse_int, parse_date_ms, MAX_SAFE_INTEGER};
use serde_json::{json, Map, Value};

const S: Ty = Ty::String;

static USER_DATA: [Field; 19] = [
    Field::new("externalId", S).multiple(),
    Field::new("email", S),
    Field::new("phone", S),
    Field::new("gender", S),
    Field::new("dateOfBirth", S),
    Field::new("lastName", S),
    Field::new("firstName", S),
    Field::new("city", S),
    Field::new("state", S),
    Field::new("zip", S),
    Field::new("country", S),
    Field::new("client_ip_address", S),
    Field::new("client_user_agent", S),
    Field::new("subscriptionID", S),
    Field::new("leadID", Ty::Integer),
    Field::new("madid", S),
    Field::new("sc_click_id", S),
    Field::new("sc_cookie1", S),
    Field::new("idfv", S),
];

static APP_DATA: [Field; 18] = [
    Field::new("advertiser_tracking_enabled", Ty::Boolean),
    Field::new("application_tracking_enabled", Ty::Boolean),
    Field::new("version", S).choices(&["i2", "a2"]),
    Field::new("packageName", S),
    Field::new("shortVersion", S),
    Field::new("longVersion", S),
    Field::new("osVersion", S),
    Field::new("deviceName", S),
    Field::new("locale", S),
    Field::new("timezone", S),
    Field::new("carrier", S),
    Field::new("width", S),
    Field::new("height", S),
    Field::new("density", S),
    Field::new("cpuCores", S),
    Field::new("storageSize", S),
    Field::new("freeStorage", S),
    Field::new("deviceTimezone", S),
];

/// Travel (DTA) fields of custom_data: strings except the three counts.
const TRAVEL_STRINGS: [&str; 19] = [
    "checkin_date", "travel_end", "travel_start", "suggested_destinations", "destination_airport",
    "country", "city", "region", "neighborhood", "departing_departure_date", "departing_arrival_date",
    "origin_airport", "returning_departure_date", "returning_arrival_date", "hotel_score",
    "postal_code", "preferred_neighborhoods", "preferred_star_ratings", "suggested_hotels",
];
const TRAVEL_COUNTS: [&str; 3] = ["num_adults", "num_children", "num_infants"];

static CUSTOM_DATA: [Field; 28] = [
    Field::new("currency", S),
    Field::new("num_items", Ty::Integer),
    Field::new("order_id", S),
    Field::new("search_string", S),
    Field::new("sign_up_method", S),
    Field::new("value", Ty::Number),
    Field::new("checkin_date", S),
    Field::new("travel_end", S),
    Field::new("travel_start", S),
    Field::new("suggested_destinations", S),
    Field::new("destination_airport", S),
    Field::new("country", S),
    Field::new("city", S),
    Field::new("region", S),
    Field::new("neighborhood", S),
    Field::new("departing_departure_date", S),
    Field::new("departing_arrival_date", S),
    Field::new("num_adults", Ty::Integer),
    Field::new("origin_airport", S),
    Field::new("returning_departure_date", S),
    Field::new("returning_arrival_date", S),
    Field::new("num_children", Ty::Integer),
    Field::new("hotel_score", S),
    Field::new("postal_code", S),
    Field::new("num_infants", Ty::Integer),
    Field::new("preferred_neighborhoods", S),
    Field::new("preferred_star_ratings", S),
    Field::new("suggested_hotels", S),
];

static PRODUCT: [Field; 3] = [Field::new("item_id", S), Field::new("item_category", S), Field::new("brand", S)];

/// Every field of the action: the v3 fields, then the deprecated flat fields Segment still
/// accepts (old mappings keep working).
pub static FIELDS: [Field; 39] = [
    Field::new("event_name", S),
    Field::new("event_id", S),
    Field::new("event_time", S),
    Field::new("action_source", S).choices(&[
        "email", "website", "app", "phone_call", "chat", "physical_store", "system_generated", "other",
    ]),
    Field::new("user_data", Ty::Object).props(&USER_DATA),
    Field::new("app_data", Ty::Object).props(&APP_DATA),
    Field::new("custom_data", Ty::Object).props(&CUSTOM_DATA),
    Field::new("data_processing_options", Ty::Boolean),
    Field::new("data_processing_options_country", Ty::Number).num_choices(&[0.0, 1.0]),
    Field::new("data_processing_options_state", Ty::Number).num_choices(&[0.0, 1000.0]),
    Field::new("event_source_url", S),
    Field::new("products", Ty::Object).multiple().props(&PRODUCT),
    // Deprecated flat fields.
    Field::new("brands", S).multiple(),
    Field::new("click_id", S),
    Field::new("client_dedup_id", S),
    Field::new("currency", S),
    Field::new("description", S),
    Field::new("device_model", S),
    Field::new("email", S),
    Field::new("event_conversion_type", S).choices(&["OFFLINE", "WEB", "MOBILE_APP"]),
    Field::new("event_tag", S),
    Field::new("event_type", S),
    Field::new("idfv", S),
    Field::new("ip_address", S),
    Field::new("item_category", S),
    Field::new("item_ids", S),
    Field::new("level", S),
    Field::new("mobile_ad_id", S),
    Field::new("number_items", S),
    Field::new("os_version", S),
    Field::new("page_url", S),
    Field::new("phone_number", S),
    Field::new("price", Ty::Number),
    Field::new("search_string", S),
    Field::new("sign_up_method", S),
    Field::new("timestamp", S),
    Field::new("transaction_id", S),
    Field::new("user_agent", S),
    Field::new("uuid_c1", S),
];

/// Segment's default mappings for reportConversionEvent.
const DEFAULT_MAPPING: &str = r#"{
  "event_id": {"@path": "$.messageId"},
  "event_time": {"@path": "$.timestamp"},
  "user_data": {
    "externalId": {"@if": {"exists": {"@path": "$.userId"}, "then": {"@path": "$.userId"}, "else": {"@path": "$.anonymousId"}}},
    "email": {"@if": {"exists": {"@path": "$.properties.email"}, "then": {"@path": "$.properties.email"}, "else": {"@path": "$.traits.email"}}},
    "phone": {"@if": {"exists": {"@path": "$.properties.phone"}, "then": {"@path": "$.properties.phone"}, "else": {"@path": "$.traits.phone"}}},
    "gender": {"@if": {"exists": {"@path": "$.context.traits.gender"}, "then": {"@path": "$.context.traits.gender"}, "else": {"@path": "$.properties.gender"}}},
    "dateOfBirth": {"@if": {"exists": {"@path": "$.context.traits.birthday"}, "then": {"@path": "$.context.traits.birthday"}, "else": {"@path": "$.properties.birthday"}}},
    "lastName": {"@if": {"exists": {"@path": "$.context.traits.last_name"}, "then": {"@path": "$.context.traits.last_name"}, "else": {"@path": "$.properties.last_name"}}},
    "firstName": {"@if": {"exists": {"@path": "$.context.traits.first_name"}, "then": {"@path": "$.context.traits.first_name"}, "else": {"@path": "$.properties.first_name"}}},
    "city": {"@if": {"exists": {"@path": "$.context.traits.address.city"}, "then": {"@path": "$.context.traits.address.city"}, "else": {"@path": "$.properties.address.city"}}},
    "state": {"@if": {"exists": {"@path": "$.context.traits.address.state"}, "then": {"@path": "$.context.traits.address.state"}, "else": {"@path": "$.properties.address.state"}}},
    "country": {"@if": {"exists": {"@path": "$.context.traits.address.country"}, "then": {"@path": "$.context.traits.address.country"}, "else": {"@path": "$.properties.address.country"}}},
    "zip": {"@if": {"exists": {"@path": "$.context.traits.address.postalCode"}, "then": {"@path": "$.context.traits.address.postalCode"}, "else": {"@path": "$.properties.address.postalCode"}}},
    "client_ip_address": {"@path": "$.context.ip"},
    "client_user_agent": {"@path": "$.context.userAgent"},
    "idfv": {"@path": "$.context.device.id"},
    "madid": {"@path": "$.context.device.advertisingId"},
    "sc_click_id": {"@path": "$.integrations.Snap Conversions Api.click_id"},
    "sc_cookie1": {"@path": "$.integrations.Snap Conversions Api.uuid_c1"}
  },
  "app_data": {
    "application_tracking_enabled": {"@path": "$.context.device.adTrackingEnabled"},
    "packageName": {"@path": "$.context.app.namespace"},
    "longVersion": {"@path": "$.context.app.version"},
    "osVersion": {"@path": "$.context.os.version"},
    "deviceName": {"@path": "$.context.device.model"},
    "locale": {"@path": "$.context.locale"},
    "carrier": {"@path": "$.context.network.carrier"},
    "width": {"@path": "$.context.screen.width"},
    "height": {"@path": "$.context.screen.height"},
    "density": {"@path": "$.context.screen.density"},
    "deviceTimezone": {"@path": "$.context.timezone"}
  },
  "custom_data": {
    "currency": {"@path": "$.properties.currency"},
    "num_items": {"@path": "$.properties.quantity"},
    "order_id": {"@path": "$.properties.order_id"},
    "search_string": {"@path": "$.properties.query"},
    "value": {"@if": {"exists": {"@path": "$.properties.revenue"}, "then": {"@path": "$.properties.revenue"}, "else": {"@path": "$.properties.total"}}}
  },
  "event_source_url": {"@path": "$.context.page.url"},
  "products": {"@arrayPath": ["$.properties.products", {"item_id": {"@path": "product_id"}, "item_category": {"@path": "category"}, "brand": {"@path": "brand"}}]}
}"#;

macro_rules! preset {
    ($name:literal, $trigger:literal, $event:literal) => {
        Preset {
            name: $name,
            trigger: $trigger,
            action: "reportConversionEvent",
            mapping: concat!(r#"{"event_name":""#, $event, r#"","action_source":"website"}"#),
        }
    };
}

static PRESETS: [Preset; 14] = [
    preset!("Add Billing", r#"event = "Payment Info Entered""#, "ADD_BILLING"),
    preset!("Add to Cart", r#"event = "Product Added""#, "ADD_CART"),
    preset!("Add to Wishlist", r#"event = "Product Added to Wishlist""#, "ADD_TO_WISHLIST"),
    preset!("App Install", r#"event = "Application Installed""#, "APP_INSTALL"),
    preset!("List View", r#"event = "Product List Viewed""#, "LIST_VIEW"),
    preset!("App Open", r#"event = "Application Opened""#, "APP_OPEN"),
    preset!("Login", r#"event = "Signed In""#, "LOGIN"),
    preset!("Page View", r#"type = "page""#, "PAGE_VIEW"),
    preset!("Purchase", r#"event = "Order Completed""#, "PURCHASE"),
    preset!("Search", r#"event = "Products Searched""#, "SEARCH"),
    preset!("Share", r#"event = "Product Shared""#, "SHARE"),
    preset!("Sign Up", r#"event = "Signed Up""#, "SIGN_UP"),
    preset!("Start Checkout", r#"event = "Checkout Started""#, "START_CHECKOUT"),
    preset!("View Content", r#"event = "Product Viewed""#, "VIEW_CONTENT"),
];

static ACTIONS: [Action; 1] = [Action {
    id: "reportConversionEvent",
    title: "Report Conversion Event",
    fields: &FIELDS,
    default_mapping: DEFAULT_MAPPING,
    perform,
}];

pub static DEFINITION: Definition = Definition {
    slug: "snap-conversions-api",
    aliases: &["actions-snap-conversions", "Snap Conversions Api"],
    name: "Snapchat Conversions API",
    origin: "https://tr.snapchat.com",
    string_settings: &["pixel_id", "snap_app_id", "app_id"],
    // The ceiling commonly cited for one v3 request.
    max_batch: 2000,
    actions: &ACTIONS,
    presets: &PRESETS,
    url,
    headers: bearer,
    // Built directly: `json!` would copy every item through serde.
    envelope: |items| Value::Object(Map::from_iter([("data".to_string(), Value::Array(items))])),
    oauth_token_url: None,
    split: None,
};

fn url(origin: &str, target: &str, settings: &Settings, redact: bool) -> String {
    let token = settings.access_token.as_deref().unwrap_or("");
    let token = if redact { "REDACTED".to_string() } else { encode_query(token) };
    format!("{origin}{target}?access_token={token}")
}

/// Segment sends the token as a Bearer header as well as in the query; so do we.
pub(super) fn bearer(settings: &Settings, redact: bool) -> Vec<(&'static str, String)> {
    match &settings.access_token {
        Some(_) if redact => vec![("authorization", "Bearer REDACTED".into())],
        Some(t) => vec![("authorization", format!("Bearer {t}"))],
        None => vec![],
    }
}

/// Percent-encode a query value or path segment (tokens and pixel ids are usually URL-safe;
/// this keeps odd ones intact).

const CURRENCIES: [&str; 60] = [
    "USD", "AED", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP",
    "GIP", "HKD", "HRK", "HUF", "IDR", "ILS", "INR", "JPY", "KRW", "KWD", "KZT", "LBP", "MXN", "MYR", "NGN",
    "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD",
    "TZS", "UAH", "VND", "ZAR", "ALL", "BHD", "DZD", "GHS", "IQD", "ISK", "JOD", "KES", "MAD", "OMR", "XOF",
];

// ---- small readers over the validated payload ----

fn get<'a>(m: Option<&'a Map<String, Value>>, k: &str) -> Option<&'a Value> {
    m.and_then(|m| m.get(k)).filter(|v| !v.is_null())
}
fn get_str<'a>(m: Option<&'a Map<String, Value>>, k: &str) -> Option<&'a str> {
    get(m, k).and_then(Value::as_str)
}
fn obj<'a>(p: &'a Map<String, Value>, k: &str) -> Option<&'a Map<String, Value>> {
    p.get(k).and_then(Value::as_object)
}
/// `emptyStringToUndefined`: trimmed, and absent when blank.
fn non_blank(s: Option<&str>) -> Option<String> {
    s.map(pii::js_trim).filter(|s| !s.is_empty()).map(str::to_string)
}
fn set(out: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        out.insert(k.to_string(), v);
    }
}

/// Hash a user_data field with its normalizer; a value that normalizes to nothing is an error
/// naming the field (never the value).
fn hashed(user: Option<&Map<String, Value>>, fallback: Option<&str>, key: &str, normalize: fn(&str) -> String) -> Result<Option<String>, EventError> {
    let Some(v) = get_str(user, key).or(fallback) else { return Ok(None) };
    pii::normalize_and_hash(v, normalize).map(Some).map_err(|_| {
        EventError::new(ErrorCode::PayloadValidation, format!("user_data.{key} is empty after normalization; nothing to hash"))
            .with_field(format!("user_data.{key}"))
    })
}

/// A one-element array of a non-empty string.
fn boxed(v: Option<String>) -> Option<Value> {
    v.filter(|s| !s.is_empty()).map(|s| json!([s]))
}

fn user_data(p: &Map<String, Value>) -> Result<Map<String, Value>, EventError> {
    let u = obj(p, "user_data");
    let top = |k| p.get(k).and_then(Value::as_str);
    let mut out = Map::new();
    let s = |v: Option<&str>| v.map(|x| Value::String(x.to_string()));
    set(&mut out, "client_ip_address", s(get_str(u, "client_ip_address").or(top("ip_address"))));
    set(&mut out, "client_user_agent", s(get_str(u, "client_user_agent").or(top("user_agent"))));
    set(&mut out, "country", hashed(u, None, "country", pii::country)?.map(Value::String));
    set(&mut out, "ct", hashed(u, None, "city", pii::strip_lower)?.map(Value::String));
    set(&mut out, "db", hashed(u, None, "dateOfBirth", pii::as_is)?.map(Value::String));
    set(&mut out, "em", boxed(hashed(u, top("email"), "email", pii::strip_lower)?));
    if let Some(Value::Array(ids)) = get(u, "externalId") {
        let mut hashed_ids = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_str().unwrap_or_default();
            let h = pii::normalize_and_hash(id, pii::strip_lower).map_err(|_| {
                EventError::new(ErrorCode::PayloadValidation, "user_data.externalId has an id that is empty after normalization")
                    .with_field("user_data.externalId")
            })?;
            hashed_ids.push(Value::String(h));
        }
        out.insert("external_id".into(), Value::Array(hashed_ids));
    }
    set(&mut out, "fn", hashed(u, None, "firstName", pii::strip_lower)?.map(Value::String));
    set(&mut out, "ge", hashed(u, None, "gender", pii::gender)?.map(Value::String));
    set(&mut out, "idfv", s(get_str(u, "idfv").or(top("idfv"))));
    set(&mut out, "lead_id", get(u, "leadID").cloned());
    set(&mut out, "ln", hashed(u, None, "lastName", pii::strip_lower)?.map(Value::String));
    // The mobile ad id is lower-cased, not hashed (Snap takes it raw).
    set(&mut out, "madid", get_str(u, "madid").or(top("mobile_ad_id")).map(|m| Value::String(m.to_lowercase())));
    set(&mut out, "ph", boxed(hashed(u, top("phone_number"), "phone", pii::phone_digits)?));
    set(&mut out, "sc_click_id", s(get_str(u, "sc_click_id").or(top("click_id"))));
    set(&mut out, "sc_cookie1", s(get_str(u, "sc_cookie1").or(top("uuid_c1"))));
    set(&mut out, "st", hashed(u, None, "state", pii::state)?.map(Value::String));
    set(&mut out, "subscription_id", s(get_str(u, "subscriptionID")));
    set(&mut out, "zp", hashed(u, None, "zip", pii::strip_lower)?.map(Value::String));
    Ok(out)
}

/// `a;b` or `a,b` -> ["a","b"], blanks dropped.
fn split_list(s: &str) -> Option<Value> {
    let sep = if s.contains(';') { ';' } else { ',' };
    let parts: Vec<Value> = s.split(sep).map(pii::js_trim).filter(|x| !x.is_empty()).map(|x| json!(x)).collect();
    (!parts.is_empty()).then_some(Value::Array(parts))
}

fn custom_data(p: &Map<String, Value>) -> Option<Map<String, Value>> {
    let c = obj(p, "custom_data");
    let top = |k| p.get(k).and_then(Value::as_str);
    let products: Option<Vec<&Map<String, Value>>> = p.get("products").and_then(Value::as_array).map(|a| {
        a.iter().filter_map(Value::as_object).filter(|o| o.get("item_id").is_some_and(|v| !v.is_null())).collect()
    });
    let pluck = |k: &str| -> Option<Value> {
        products.as_ref().map(|ps| Value::Array(ps.iter().map(|o| o.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(json!(""))).collect()))
    };
    let mut out = Map::new();
    set(&mut out, "brands", pluck("brand").or_else(|| p.get("brands").cloned()));
    set(&mut out, "content_category", pluck("item_category").or_else(|| split_list(top("item_category").unwrap_or(""))));
    set(&mut out, "content_ids", pluck("item_id").or_else(|| split_list(top("item_ids").unwrap_or(""))));
    set(&mut out, "currency", non_blank(get_str(c, "currency").or(top("currency"))).map(|s| json!(s.to_uppercase())));
    let num_items = get(c, "num_items")
        .cloned()
        .or_else(|| products.as_ref().map(|ps| json!(ps.len())))
        .or_else(|| top("number_items").and_then(js_parse_int).map(|n| json!(n)));
    set(&mut out, "num_items", num_items);
    set(&mut out, "order_id", non_blank(get_str(c, "order_id").or(top("transaction_id"))).map(Value::String));
    set(&mut out, "search_string", non_blank(get_str(c, "search_string").or(top("search_string"))).map(Value::String));
    set(&mut out, "sign_up_method", non_blank(get_str(c, "sign_up_method").or(top("sign_up_method"))).map(Value::String));
    set(&mut out, "value", get(c, "value").or_else(|| p.get("price")).cloned());
    for key in TRAVEL_STRINGS.iter().chain(TRAVEL_COUNTS.iter()) {
        let v = match get(c, key) {
            Some(Value::String(s)) => non_blank(Some(s)).map(Value::String),
            other => other.cloned(),
        };
        set(&mut out, key, v);
    }
    (!out.is_empty()).then_some(out)
}

fn app_data(p: &Map<String, Value>, settings: &Settings) -> Value {
    let a = obj(p, "app_data");
    let truthy = |k| get(a, k).is_some_and(|v| v.as_bool() == Some(true));
    let text = |k: &str, fallback: Option<&str>| json!(get_str(a, k).or(fallback).unwrap_or(""));
    let top = |k| p.get(k).and_then(Value::as_str);
    let app_id = settings.str("app_id");
    let version = get_str(a, "version").unwrap_or(match app_id {
        // A numeric app id is an App Store id (iOS); anything else is an Android package name.
        Some(id) if id.bytes().all(|b| b.is_ascii_digit()) => "i2",
        _ => "a2",
    });
    let extinfo = json!([
        version,
        text("packageName", None),
        text("shortVersion", None),
        text("longVersion", None),
        text("osVersion", top("os_version")),
        text("deviceName", top("device_model")),
        text("locale", None),
        text("timezone", None),
        text("carrier", None),
        text("width", None),
        text("height", None),
        text("density", None),
        text("cpuCores", None),
        text("storageSize", None),
        text("freeStorage", None),
        text("deviceTimezone", None),
    ]);
    let mut out = Map::new();
    set(&mut out, "app_id", app_id.map(|s| json!(s)));
    out.insert("advertiser_tracking_enabled".into(), json!(u8::from(truthy("advertiser_tracking_enabled"))));
    if a.is_some() {
        out.insert("application_tracking_enabled".into(), json!(u8::from(truthy("application_tracking_enabled"))));
    }
    out.insert("extinfo".into(), extinfo);
    Value::Object(out)
}

/// `website` and `app` pass; any other non-blank value means an offline conversion.
fn action_source(p: &Map<String, Value>) -> Option<&'static str> {
    match non_blank(p.get("action_source").and_then(Value::as_str)).as_deref() {
        Some("website") => Some("website"),
        Some("app") => Some("app"),
        Some(_) => Some("OFFLINE"),
        None => match p.get("event_conversion_type").and_then(Value::as_str) {
            Some("WEB") => Some("website"),
            Some("MOBILE_APP") => Some("app"),
            Some("OFFLINE") => Some("OFFLINE"),
            _ => None,
        },
    }
}

fn event_time(p: &Map<String, Value>) -> Option<Value> {
    let raw = p.get("event_time").or_else(|| p.get("timestamp")).and_then(Value::as_str)?;
    parse_date_ms(raw)
        .filter(|ms| ms.abs() <= MAX_SAFE_INTEGER)
        .or_else(|| js_parse_int(raw))
        .map(|ms| number_value(ms as f64))
}

fn required(v: Option<&Value>, field: &str) -> Result<(), EventError> {
    match v {
        Some(v) if !v.is_null() => Ok(()),
        _ => Err(EventError::misconfigured(field, format!("The required field '{field}' is missing."))),
    }
}

fn perform(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    let source = action_source(p);
    let user = user_data(p)?;
    let custom = custom_data(p);
    let mut ev = Map::new();
    ev.insert("integration".into(), json!("segment"));
    let event_id = non_blank(p.get("event_id").and_then(Value::as_str))
        .or_else(|| non_blank(p.get("client_dedup_id").and_then(Value::as_str)));
    set(&mut ev, "event_id", event_id.map(Value::String));
    set(&mut ev, "event_name", p.get("event_name").or_else(|| p.get("event_type")).cloned());
    set(&mut ev, "event_source_url", p.get("event_source_url").or_else(|| p.get("page_url")).cloned());
    set(&mut ev, "event_time", event_time(p));
    ev.insert("user_data".into(), Value::Object(user));
    set(&mut ev, "custom_data", custom.map(Value::Object));
    set(&mut ev, "action_source", source.map(|s| json!(s)));
    if source == Some("app") {
        ev.insert("app_data".into(), app_data(p, settings));
    }
    if p.get("data_processing_options").and_then(Value::as_bool) == Some(true) {
        ev.insert("data_processing_options".into(), json!(["LDU"]));
    }
    set(&mut ev, "data_processing_options_country", p.get("data_processing_options_country").cloned());
    set(&mut ev, "data_processing_options_state", p.get("data_processing_options_state").cloned());

    // Checks, in Segment's order so the first reported problem is the same.
    required(ev.get("action_source"), "action_source")?;
    required(ev.get("event_name"), "event_name")?;
    required(ev.get("event_time"), "event_time")?;
    if let Some(cur) = ev.get("custom_data").and_then(|c| c.get("currency")).and_then(Value::as_str) {
        if !CURRENCIES.contains(&cur) {
            return Err(EventError::misconfigured("custom_data.currency", "The currency is not a supported ISO 4217 code."));
        }
    }
    let u = &ev["user_data"];
    let has = |k| u.get(k).is_some();
    let identified = has("em") || has("ph") || has("madid") || (has("client_ip_address") && has("client_user_agent"));
    if !identified {
        return Err(EventError::misconfigured(
            "user_data",
            "Payload must contain values for Email or Phone Number or Mobile Ad Identifier or both IP Address and User Agent fields",
        ));
    }
    let id = match source {
        Some("app") => settings.str("snap_app_id").ok_or_else(|| {
            EventError::misconfigured("snap_app_id", "App events (action source \"app\") need the snap_app_id setting.")
        })?,
        _ => settings.str("pixel_id").ok_or_else(|| {
            EventError::misconfigured("pixel_id", "Web and offline events need the pixel_id setting.")
        })?,
    };
    if settings.access_token.is_none() {
        return Err(EventError::misconfigured("access_token", "Missing access token."));
    }
    let suffix = if settings.test_mode { "/events/validate" } else { "/events" };
    Ok(Item { target: format!("/v3/{}{suffix}", encode_query(id)), body: Value::Object(ev) })
}
