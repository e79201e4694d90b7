//! Snapchat Conversions API v3 — the `reportConversionEvent` action, with Segment's fields,
//! default mappings and presets, and the request Segment's destination builds.

use super::{encode_component as encode_query, Action, Definition, Item, Preset, Settings};
use crate::error::{ErrorCode, EventError};
use crate::pii;
use crate::json::{Obj, J};
use crate::schema::{Field, Ty};
use crate::time::{js_parse_int, parse_date_ms, MAX_SAFE_INTEGER};
use std::borrow::Cow;

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
    envelope: |items| super::wrap_array("data", items),
    ..super::BASE
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

const CURRENCIES: [&str; 60] = [
    "USD", "AED", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP",
    "GIP", "HKD", "HRK", "HUF", "IDR", "ILS", "INR", "JPY", "KRW", "KWD", "KZT", "LBP", "MXN", "MYR", "NGN",
    "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD",
    "TZS", "UAH", "VND", "ZAR", "ALL", "BHD", "DZD", "GHS", "IQD", "ISK", "JOD", "KES", "MAD", "OMR", "XOF",
];

// ---- small readers over the validated payload ----

fn get<'p, 'a>(m: Option<&'p Obj<'a>>, k: &str) -> Option<&'p J<'a>> {
    m.and_then(|m| m.val(k))
}
fn get_str<'p>(m: Option<&'p Obj<'p>>, k: &str) -> Option<&'p str> {
    get(m, k).and_then(J::as_str)
}
/// `emptyStringToUndefined`: trimmed, and absent when blank.
fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(pii::js_trim).filter(|s| !s.is_empty())
}
fn set<'a>(out: &mut Obj<'a>, k: &'static str, v: Option<J<'a>>) {
    if let Some(v) = v {
        out.push(k, v);
    }
}
/// A string borrowed from the payload.
fn text(s: &str) -> J<'_> {
    J::Str(Cow::Borrowed(s))
}
fn string(s: String) -> J<'static> {
    J::Str(Cow::Owned(s))
}

/// Hash a user_data field with its normalizer; a value that normalizes to nothing is an error
/// naming the field (never the value).
fn hashed(user: Option<&Obj>, fallback: Option<&str>, key: &str, normalize: pii::NormalizeInto) -> Result<Option<String>, EventError> {
    let Some(v) = get_str(user, key).or(fallback) else { return Ok(None) };
    pii::normalize_and_hash_into(v, normalize).map(Some).map_err(|_| {
        EventError::new(ErrorCode::PayloadValidation, format!("user_data.{key} is empty after normalization; nothing to hash"))
            .with_field(format!("user_data.{key}"))
    })
}

/// A one-element array of a non-empty string.
fn boxed(v: Option<String>) -> Option<J<'static>> {
    v.filter(|s| !s.is_empty()).map(|s| J::Arr(vec![string(s)]))
}

fn user_data<'a>(p: &'a Obj<'a>) -> Result<Obj<'a>, EventError> {
    let u = p.obj("user_data");
    let top = |k| p.str(k);
    let mut out = Obj::with_capacity(12);
    let s = |v: Option<&'a str>| v.map(text);
    let h = |v: Option<String>| v.map(string);
    set(&mut out, "client_ip_address", s(get_str(u, "client_ip_address").or(top("ip_address"))));
    set(&mut out, "client_user_agent", s(get_str(u, "client_user_agent").or(top("user_agent"))));
    set(&mut out, "country", h(hashed(u, None, "country", pii::country_into)?));
    set(&mut out, "ct", h(hashed(u, None, "city", pii::strip_lower_into)?));
    set(&mut out, "db", h(hashed(u, None, "dateOfBirth", pii::as_is_into)?));
    set(&mut out, "em", boxed(hashed(u, top("email"), "email", pii::strip_lower_into)?));
    if let Some(J::Arr(ids)) = get(u, "externalId") {
        let mut hashed_ids = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_str().unwrap_or_default();
            let h = pii::normalize_and_hash_into(id, pii::strip_lower_into).map_err(|_| {
                EventError::new(ErrorCode::PayloadValidation, "user_data.externalId has an id that is empty after normalization")
                    .with_field("user_data.externalId")
            })?;
            hashed_ids.push(string(h));
        }
        out.push("external_id", J::Arr(hashed_ids));
    }
    set(&mut out, "fn", h(hashed(u, None, "firstName", pii::strip_lower_into)?));
    set(&mut out, "ge", h(hashed(u, None, "gender", pii::gender_into)?));
    set(&mut out, "idfv", s(get_str(u, "idfv").or(top("idfv"))));
    set(&mut out, "lead_id", get(u, "leadID").cloned());
    set(&mut out, "ln", h(hashed(u, None, "lastName", pii::strip_lower_into)?));
    // The mobile ad id is lower-cased, not hashed (Snap takes it raw).
    set(&mut out, "madid", get_str(u, "madid").or(top("mobile_ad_id")).map(|m| string(crate::js::to_lower(m))));
    set(&mut out, "ph", boxed(hashed(u, top("phone_number"), "phone", pii::phone_digits_into)?));
    set(&mut out, "sc_click_id", s(get_str(u, "sc_click_id").or(top("click_id"))));
    set(&mut out, "sc_cookie1", s(get_str(u, "sc_cookie1").or(top("uuid_c1"))));
    set(&mut out, "st", h(hashed(u, None, "state", pii::state_into)?));
    set(&mut out, "subscription_id", s(get_str(u, "subscriptionID")));
    set(&mut out, "zp", h(hashed(u, None, "zip", pii::strip_lower_into)?));
    Ok(out)
}

/// `a;b` or `a,b` -> ["a","b"], blanks dropped.
fn split_list(s: &str) -> Option<J<'_>> {
    let sep = if s.contains(';') { ';' } else { ',' };
    let parts: Vec<J> = s.split(sep).map(pii::js_trim).filter(|x| !x.is_empty()).map(text).collect();
    (!parts.is_empty()).then_some(J::Arr(parts))
}

fn custom_data<'a>(p: &'a Obj<'a>) -> Option<Obj<'a>> {
    let c = p.obj("custom_data");
    let top = |k| p.str(k);
    let products: Option<Vec<&Obj<'a>>> = p.get("products").and_then(J::as_arr).map(|a| {
        a.iter().filter_map(J::as_obj).filter(|o| o.val("item_id").is_some()).collect()
    });
    let pluck = |k: &str| -> Option<J<'a>> {
        products.as_ref().map(|ps| J::Arr(ps.iter().map(|o| o.val(k).cloned().unwrap_or(J::str(""))).collect()))
    };
    let mut out = Obj::with_capacity(8);
    set(&mut out, "brands", pluck("brand").or_else(|| p.get("brands").cloned()));
    set(&mut out, "content_category", pluck("item_category").or_else(|| split_list(top("item_category").unwrap_or(""))));
    set(&mut out, "content_ids", pluck("item_id").or_else(|| split_list(top("item_ids").unwrap_or(""))));
    set(&mut out, "currency", non_blank(get_str(c, "currency").or(top("currency"))).map(|s| string(crate::js::to_upper(s))));
    let num_items = get(c, "num_items")
        .cloned()
        .or_else(|| products.as_ref().map(|ps| J::Num(ps.len() as f64)))
        .or_else(|| top("number_items").and_then(js_parse_int).map(|n| J::Num(n as f64)));
    set(&mut out, "num_items", num_items);
    set(&mut out, "order_id", non_blank(get_str(c, "order_id").or(top("transaction_id"))).map(text));
    set(&mut out, "search_string", non_blank(get_str(c, "search_string").or(top("search_string"))).map(text));
    set(&mut out, "sign_up_method", non_blank(get_str(c, "sign_up_method").or(top("sign_up_method"))).map(text));
    set(&mut out, "value", get(c, "value").or_else(|| p.get("price")).cloned());
    for key in TRAVEL_STRINGS.iter().chain(TRAVEL_COUNTS.iter()) {
        let v = match get(c, key) {
            Some(J::Str(s)) => non_blank(Some(s)).map(text),
            other => other.cloned(),
        };
        set(&mut out, key, v);
    }
    (!out.is_empty()).then_some(out)
}

fn app_data<'a>(p: &'a Obj<'a>, settings: &'a Settings) -> J<'a> {
    let a = p.obj("app_data");
    let truthy = |k| get(a, k).is_some_and(|v| v.as_bool() == Some(true));
    let field = |k: &str, fallback: Option<&'a str>| text(get_str(a, k).or(fallback).unwrap_or(""));
    let top = |k| p.str(k);
    let app_id = settings.str("app_id");
    let version = get_str(a, "version").unwrap_or(match app_id {
        // A numeric app id is an App Store id (iOS); anything else is an Android package name.
        Some(id) if id.bytes().all(|b| b.is_ascii_digit()) => "i2",
        _ => "a2",
    });
    let extinfo = J::Arr(vec![
        text(version),
        field("packageName", None),
        field("shortVersion", None),
        field("longVersion", None),
        field("osVersion", top("os_version")),
        field("deviceName", top("device_model")),
        field("locale", None),
        field("timezone", None),
        field("carrier", None),
        field("width", None),
        field("height", None),
        field("density", None),
        field("cpuCores", None),
        field("storageSize", None),
        field("freeStorage", None),
        field("deviceTimezone", None),
    ]);
    let mut out = Obj::with_capacity(4);
    set(&mut out, "app_id", app_id.map(text));
    out.push("advertiser_tracking_enabled", J::Num(f64::from(u8::from(truthy("advertiser_tracking_enabled")))));
    if a.is_some() {
        out.push("application_tracking_enabled", J::Num(f64::from(u8::from(truthy("application_tracking_enabled")))));
    }
    out.push("extinfo", extinfo);
    J::Obj(out)
}

/// `website` and `app` pass; any other non-blank value means an offline conversion.
fn action_source(p: &Obj) -> Option<&'static str> {
    match non_blank(p.str("action_source")) {
        Some("website") => Some("website"),
        Some("app") => Some("app"),
        Some(_) => Some("OFFLINE"),
        None => match p.str("event_conversion_type") {
            Some("WEB") => Some("website"),
            Some("MOBILE_APP") => Some("app"),
            Some("OFFLINE") => Some("OFFLINE"),
            _ => None,
        },
    }
}

fn event_time(p: &Obj) -> Option<J<'static>> {
    let raw = p.get("event_time").or_else(|| p.get("timestamp")).and_then(J::as_str)?;
    parse_date_ms(raw)
        .filter(|ms| ms.abs() <= MAX_SAFE_INTEGER)
        .or_else(|| js_parse_int(raw))
        .map(|ms| J::Num(ms as f64))
}

fn required(v: Option<&J>, field: &str) -> Result<(), EventError> {
    match v {
        Some(v) if !v.is_null() => Ok(()),
        _ => Err(EventError::misconfigured(field, format!("The required field '{field}' is missing."))),
    }
}

fn perform(p: &Obj, settings: &Settings) -> Result<Item, EventError> {
    let p: &Obj = p;
    let source = action_source(p);
    let user = user_data(p)?;
    let custom = custom_data(p);
    let mut ev = Obj::with_capacity(12);
    ev.push("integration", J::str("segment"));
    let event_id = non_blank(p.str("event_id")).or_else(|| non_blank(p.str("client_dedup_id")));
    set(&mut ev, "event_id", event_id.map(text));
    set(&mut ev, "event_name", p.get("event_name").or_else(|| p.get("event_type")).cloned());
    set(&mut ev, "event_source_url", p.get("event_source_url").or_else(|| p.get("page_url")).cloned());
    set(&mut ev, "event_time", event_time(p));
    // Checked before `user_data` moves in; the checks keep Segment's order below.
    let identified = ["em", "ph", "madid"].iter().any(|k| user.contains(k))
        || (user.contains("client_ip_address") && user.contains("client_user_agent"));
    ev.push("user_data", J::Obj(user));
    set(&mut ev, "custom_data", custom.map(J::Obj));
    set(&mut ev, "action_source", source.map(J::str));
    if source == Some("app") {
        ev.push("app_data", app_data(p, settings));
    }
    if p.get("data_processing_options").and_then(J::as_bool) == Some(true) {
        ev.push("data_processing_options", J::Arr(vec![J::str("LDU")]));
    }
    set(&mut ev, "data_processing_options_country", p.get("data_processing_options_country").cloned());
    set(&mut ev, "data_processing_options_state", p.get("data_processing_options_state").cloned());

    // Checks, in Segment's order so the first reported problem is the same.
    required(ev.get("action_source"), "action_source")?;
    required(ev.get("event_name"), "event_name")?;
    required(ev.get("event_time"), "event_time")?;
    // Read back from the event (it moved in with `custom_data`), not copied before.
    if let Some(cur) = ev.obj("custom_data").and_then(|c| c.str("currency")) {
        if !CURRENCIES.contains(&cur) {
            return Err(EventError::misconfigured("custom_data.currency", "The currency is not a supported ISO 4217 code."));
        }
    }
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
    // One exact-size string (the target is made per item).
    let mut target = String::with_capacity(4 + id.len() * 3 + suffix.len());
    target.push_str("/v3/");
    super::encode_component_into(id, &mut target);
    target.push_str(suffix);
    Ok(Item::new(target, &J::Obj(ev)))
}
