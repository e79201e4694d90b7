//! Snapchat Conversions API v3 — the `reportConversionEvent` action, with Segment's fields,
//! default mappings and presets, and the request Segment's destination builds.

use super::{encode_component as encode_query, Action, Definition, Item, Preset, Settings};
use crate::error::{ErrorCode, EventError};
use crate::pii;
use crate::js::quote_json_string;
use crate::json::{Obj, J};
use crate::schema::{Field, Ty};
use crate::time::{js_parse_int, parse_date_ms, MAX_SAFE_INTEGER};

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

/// The custom_data fields that are not travel fields.
const NOT_TRAVEL: [&str; 6] = ["currency", "num_items", "order_id", "search_string", "sign_up_method", "value"];

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

/// The error for a user_data field that normalizes to nothing (naming the field, never the
/// value).
fn empty_after_normalization(key: &str) -> EventError {
    EventError::new(ErrorCode::PayloadValidation, format!("user_data.{key} is empty after normalization; nothing to hash"))
        .with_field(format!("user_data.{key}"))
}

/// The members of one JSON object being written: keys are this file's own names, which need
/// no escaping.
struct Fields {
    first: bool,
}

impl Fields {
    fn open(out: &mut String) -> Fields {
        out.push('{');
        Fields { first: true }
    }

    /// Writes `"k":` (after a comma unless it is the first member); the value follows.
    fn key(&mut self, out: &mut String, k: &str) {
        if !self.first {
            out.push(',');
        }
        self.first = false;
        out.push('"');
        out.push_str(k);
        out.push_str("\":");
    }

    fn text(&mut self, out: &mut String, k: &str, v: Option<&str>) -> bool {
        let Some(v) = v else { return false };
        self.key(out, k);
        quote_json_string(v, out);
        true
    }

    fn value(&mut self, out: &mut String, k: &str, v: Option<&J>) {
        if let Some(v) = v {
            self.key(out, k);
            v.write(out);
        }
    }

    /// A user_data field hashed with its normalizer (written as given when blank, as Segment
    /// sends it); `boxed`: as a one-element array, left out when blank. Whether it was written.
    fn hashed(&mut self, out: &mut String, k: &str, v: Option<&str>, field: &str, normalize: pii::NormalizeInto, boxed: bool) -> Result<bool, EventError> {
        let Some(v) = v else { return Ok(false) };
        pii::normalize_and_hash_with(v, normalize, |h| {
            if boxed && h.is_empty() {
                return false;
            }
            self.key(out, k);
            // A digest is hex (or empty): nothing to escape.
            out.push_str(if boxed { "[\"" } else { "\"" });
            out.push_str(h);
            out.push_str(if boxed { "\"]" } else { "\"" });
            true
        })
        .map_err(|_| empty_after_normalization(field))
    }

    fn close(self, out: &mut String) {
        out.push('}');
    }
}

/// `user_data`, written; whether it identifies the user (an email, a phone, a mobile ad id,
/// or both an IP address and a user agent).
fn write_user_data(p: &Obj, out: &mut String) -> Result<bool, EventError> {
    let u = p.obj("user_data");
    let top = |k| p.str(k);
    let mut w = Fields::open(out);
    let ip = w.text(out, "client_ip_address", get_str(u, "client_ip_address").or_else(|| top("ip_address")));
    let agent = w.text(out, "client_user_agent", get_str(u, "client_user_agent").or_else(|| top("user_agent")));
    w.hashed(out, "country", get_str(u, "country"), "country", pii::country_into, false)?;
    w.hashed(out, "ct", get_str(u, "city"), "city", pii::strip_lower_into, false)?;
    w.hashed(out, "db", get_str(u, "dateOfBirth"), "dateOfBirth", pii::as_is_into, false)?;
    let em = w.hashed(out, "em", get_str(u, "email").or_else(|| top("email")), "email", pii::strip_lower_into, true)?;
    if let Some(J::Arr(ids)) = get(u, "externalId") {
        w.key(out, "external_id");
        out.push('[');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let id = id.as_str().unwrap_or_default();
            pii::normalize_and_hash_with(id, pii::strip_lower_into, |h| {
                out.push('"');
                out.push_str(h);
                out.push('"');
            })
            .map_err(|_| {
                EventError::new(ErrorCode::PayloadValidation, "user_data.externalId has an id that is empty after normalization")
                    .with_field("user_data.externalId")
            })?;
        }
        out.push(']');
    }
    w.hashed(out, "fn", get_str(u, "firstName"), "firstName", pii::strip_lower_into, false)?;
    w.hashed(out, "ge", get_str(u, "gender"), "gender", pii::gender_into, false)?;
    w.text(out, "idfv", get_str(u, "idfv").or_else(|| top("idfv")));
    w.value(out, "lead_id", get(u, "leadID"));
    w.hashed(out, "ln", get_str(u, "lastName"), "lastName", pii::strip_lower_into, false)?;
    // The mobile ad id is lower-cased, not hashed (Snap takes it raw).
    let madid = w.text(out, "madid", get_str(u, "madid").or_else(|| top("mobile_ad_id")).map(crate::js::to_lower).as_deref());
    let ph = w.hashed(out, "ph", get_str(u, "phone").or_else(|| top("phone_number")), "phone", pii::phone_digits_into, true)?;
    w.text(out, "sc_click_id", get_str(u, "sc_click_id").or_else(|| top("click_id")));
    w.text(out, "sc_cookie1", get_str(u, "sc_cookie1").or_else(|| top("uuid_c1")));
    w.hashed(out, "st", get_str(u, "state"), "state", pii::state_into, false)?;
    w.text(out, "subscription_id", get_str(u, "subscriptionID"));
    w.hashed(out, "zp", get_str(u, "zip"), "zip", pii::strip_lower_into, false)?;
    w.close(out);
    Ok(em || ph || madid || (ip && agent))
}

/// `a;b` or `a,b` -> ["a","b"], blanks dropped; nothing written when no part is left.
fn write_split_list(w: &mut Fields, out: &mut String, k: &str, s: &str) {
    let sep = if s.contains(';') { ';' } else { ',' };
    let mut parts = s.split(sep).map(pii::js_trim).filter(|x| !x.is_empty()).peekable();
    if parts.peek().is_none() {
        return;
    }
    w.key(out, k);
    out.push('[');
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        quote_json_string(part, out);
    }
    out.push(']');
}

/// The payload's products that have an item id (`None`: no products array).
fn products<'p, 'a>(p: &'p Obj<'a>) -> Option<impl Iterator<Item = &'p Obj<'a>> + Clone> {
    let all = p.get("products").and_then(J::as_arr)?;
    Some(all.iter().filter_map(J::as_obj).filter(|o| o.val("item_id").is_some()))
}

/// `custom_data`, written unless it would be empty; its currency (upper-cased), if any.
fn write_custom_data(p: &Obj, out: &mut String) -> Option<String> {
    let c = p.obj("custom_data");
    let top = |k| p.str(k);
    let products = products(p);
    // One product property per product (blank when the product lacks it).
    let pluck = |w: &mut Fields, out: &mut String, k: &str, f: &str| -> bool {
        let Some(ps) = products.clone() else { return false };
        w.key(out, k);
        out.push('[');
        for (i, o) in ps.enumerate() {
            if i > 0 {
                out.push(',');
            }
            match o.val(f) {
                Some(v) => v.write(out),
                None => out.push_str("\"\""),
            }
        }
        out.push(']');
        true
    };
    let mark = out.len();
    out.push_str(",\"custom_data\":");
    let mut w = Fields::open(out);
    if !pluck(&mut w, out, "brands", "brand") {
        w.value(out, "brands", p.get("brands"));
    }
    if !pluck(&mut w, out, "content_category", "item_category") {
        write_split_list(&mut w, out, "content_category", top("item_category").unwrap_or(""));
    }
    if !pluck(&mut w, out, "content_ids", "item_id") {
        write_split_list(&mut w, out, "content_ids", top("item_ids").unwrap_or(""));
    }
    let currency = non_blank(get_str(c, "currency").or_else(|| top("currency"))).map(crate::js::to_upper);
    w.text(out, "currency", currency.as_deref());
    match get(c, "num_items") {
        Some(n) => w.value(out, "num_items", Some(n)),
        None => match products.clone() {
            Some(ps) => w.value(out, "num_items", Some(&J::Num(ps.count() as f64))),
            None => w.value(out, "num_items", top("number_items").and_then(js_parse_int).map(|n| J::Num(n as f64)).as_ref()),
        },
    }
    w.text(out, "order_id", non_blank(get_str(c, "order_id").or_else(|| top("transaction_id"))));
    w.text(out, "search_string", non_blank(get_str(c, "search_string").or_else(|| top("search_string"))));
    w.text(out, "sign_up_method", non_blank(get_str(c, "sign_up_method").or_else(|| top("sign_up_method"))));
    w.value(out, "value", get(c, "value").or_else(|| p.get("price")));
    // Travel fields are rare: their 22 lookups only when custom_data has a key of another kind.
    let travel = c.is_some_and(|c| c.iter().any(|(k, _)| !NOT_TRAVEL.contains(&k)));
    for key in TRAVEL_STRINGS.iter().chain(TRAVEL_COUNTS.iter()).filter(|_| travel) {
        match get(c, key) {
            Some(J::Str(s)) => {
                w.text(out, key, non_blank(Some(s)));
            }
            other => w.value(out, key, other),
        }
    }
    if w.first {
        out.truncate(mark);
    } else {
        w.close(out);
    }
    currency
}

fn write_app_data(p: &Obj, settings: &Settings, out: &mut String) {
    let a = p.obj("app_data");
    let truthy = |k| get(a, k).is_some_and(|v| v.as_bool() == Some(true));
    let top = |k| p.str(k);
    let app_id = settings.str("app_id");
    let version = get_str(a, "version").unwrap_or(match app_id {
        // A numeric app id is an App Store id (iOS); anything else is an Android package name.
        Some(id) if id.bytes().all(|b| b.is_ascii_digit()) => "i2",
        _ => "a2",
    });
    let mut w = Fields::open(out);
    w.text(out, "app_id", app_id);
    w.key(out, "advertiser_tracking_enabled");
    out.push(if truthy("advertiser_tracking_enabled") { '1' } else { '0' });
    if a.is_some() {
        w.key(out, "application_tracking_enabled");
        out.push(if truthy("application_tracking_enabled") { '1' } else { '0' });
    }
    w.key(out, "extinfo");
    out.push('[');
    quote_json_string(version, out);
    let extinfo: [(&str, Option<&str>); 15] = [
        ("packageName", None),
        ("shortVersion", None),
        ("longVersion", None),
        ("osVersion", top("os_version")),
        ("deviceName", top("device_model")),
        ("locale", None),
        ("timezone", None),
        ("carrier", None),
        ("width", None),
        ("height", None),
        ("density", None),
        ("cpuCores", None),
        ("storageSize", None),
        ("freeStorage", None),
        ("deviceTimezone", None),
    ];
    for (k, fallback) in extinfo {
        out.push(',');
        quote_json_string(get_str(a, k).or(fallback).unwrap_or(""), out);
    }
    out.push(']');
    w.close(out);
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

/// The event object, written straight from the validated payload (Segment's key order), then
/// Segment's checks in its order, so the first reported problem is the same.
fn perform(p: &Obj, settings: &Settings) -> Result<Item, EventError> {
    let source = action_source(p);
    let mut target = String::new();
    let mut item = Item::written(String::new(), |out| {
        let mut w = Fields::open(out);
        w.key(out, "integration");
        out.push_str("\"segment\"");
        w.text(out, "event_id", non_blank(p.str("event_id")).or_else(|| non_blank(p.str("client_dedup_id"))));
        let event_name = p.get("event_name").or_else(|| p.get("event_type"));
        w.value(out, "event_name", event_name);
        w.value(out, "event_source_url", p.get("event_source_url").or_else(|| p.get("page_url")));
        let time = event_time(p);
        w.value(out, "event_time", time.as_ref());
        w.key(out, "user_data");
        let identified = write_user_data(p, out)?;
        let currency = write_custom_data(p, out);
        w.text(out, "action_source", source);
        if source == Some("app") {
            w.key(out, "app_data");
            write_app_data(p, settings, out);
        }
        if p.get("data_processing_options").and_then(J::as_bool) == Some(true) {
            w.key(out, "data_processing_options");
            out.push_str("[\"LDU\"]");
        }
        w.value(out, "data_processing_options_country", p.get("data_processing_options_country"));
        w.value(out, "data_processing_options_state", p.get("data_processing_options_state"));
        w.close(out);

        // Present exactly when the event has an action source.
        required(source.map(|_| &J::Bool(true)), "action_source")?;
        required(event_name, "event_name")?;
        required(time.as_ref(), "event_time")?;
        if let Some(cur) = currency {
            if !CURRENCIES.contains(&cur.as_str()) {
                return Err(EventError::misconfigured("custom_data.currency", "The currency is not a supported ISO 4217 code."));
            }
        }
        if !identified {
            return Err(EventError::misconfigured(
                "user_data",
                "Payload must contain values for Email or Phone Number or Mobile Ad Identifier or both IP Address and User Agent fields",
            ));
        }
        target = target_of(settings, source)?;
        Ok(())
    })?;
    item.target = target;
    Ok(item)
}

/// The item's target: the app's or the pixel's events path (the validate path in test mode),
/// once the settings it needs are there.
fn target_of(settings: &Settings, source: Option<&str>) -> Result<String, EventError> {
    let id = match source {
        Some("app") => settings.str("snap_app_id").ok_or_else(|| {
            EventError::misconfigured("snap_app_id", "App events (action source \"app\") need the snap_app_id setting.")
        })?,
        _ => settings.str("pixel_id").ok_or_else(|| EventError::misconfigured("pixel_id", "Web and offline events need the pixel_id setting."))?,
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
    Ok(target)
}

#[cfg(test)]
#[path = "snap_capi_reference.rs"]
mod reference;
