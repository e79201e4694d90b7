//! The Snap CAPI item as `perform` built it before it wrote the body straight from the payload
//! (a value tree, then `Item::new`): the differential tests' reference for the writer.

use super::*;
use std::borrow::Cow;

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

pub(super) fn perform(p: &Obj, settings: &Settings) -> Result<Item, EventError> {
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
    let target = target_of(settings, source)?;
    Ok(Item::new(target, &J::Obj(ev)))
}

/// The written body against the value tree of before, on payloads of every shape (wrong
/// types, blanks, hashes, products with and without ids, every setting combination).
mod differential {
    use super::super::{perform, APP_DATA, CUSTOM_DATA, FIELDS, NOT_TRAVEL, PRODUCT, TRAVEL_COUNTS, TRAVEL_STRINGS, USER_DATA};
    use crate::destinations::Settings;
    use crate::json::{Obj, J};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    const SAMPLES: &[&str] = &[
        "", "  ", "\u{FEFF}", "website", "app", "other", "WEB", "MOBILE_APP", "OFFLINE", "USD", "usd", " eur ", "XXX",
        "Jane.Doe@Example.COM ", " John ", "Male", "female", "New York", "United States", "Atlantis", "1;2; ;3", "a, b,,c",
        "ü-4", "Ñúñez", "\"q\"\\\n", "2024-03-05T12:34:56.789Z", "1709642096789", "12abc", "+1 (555) 010-9999", "abc",
        "973DFE463EC85785F5F95AF5BA3906EEDB2D931C24E69824A89EA65DBA4E813B",
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b", "8A723E9B-6929", "SKU-1", "i2",
    ];

    fn leaf() -> impl Strategy<Value = J<'static>> {
        prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            prop_oneof![Just(0.0), Just(1.0), Just(1000.0), Just(-2.5), Just(3.0)].prop_map(J::Num),
            (0..SAMPLES.len()).prop_map(|i| J::str(SAMPLES[i])),
            "\\PC{0,6}".prop_map(J::str),
        ]
    }

    fn value() -> impl Strategy<Value = J<'static>> {
        leaf().prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
                proptest::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|kv| object(kv.into_iter().collect())),
            ]
        })
    }

    fn object(kv: Vec<(String, J<'static>)>) -> J<'static> {
        let mut o = Obj::default();
        for (k, v) in kv {
            o.set(k.into(), v);
        }
        J::Obj(o)
    }

    /// An object of (some of) `names`, values of any type.
    fn fields_of(names: Vec<&'static str>, v: impl Strategy<Value = J<'static>>) -> impl Strategy<Value = J<'static>> {
        proptest::collection::vec((0..names.len(), v), 0..names.len().min(12))
            .prop_map(move |kv| object(kv.into_iter().map(|(i, v)| (names[i].to_string(), v)).collect()))
    }

    fn payload() -> impl Strategy<Value = J<'static>> {
        let names = |fs: &[crate::schema::Field]| fs.iter().map(|f| f.name).collect::<Vec<_>>();
        let product = prop_oneof![4 => fields_of(names(&PRODUCT), leaf()), 1 => leaf()];
        let special = prop_oneof![
            fields_of(names(&USER_DATA), prop_oneof![2 => leaf(), 1 => proptest::collection::vec(leaf(), 0..3).prop_map(J::Arr)])
                .prop_map(|v| ("user_data", v)),
            fields_of(names(&CUSTOM_DATA), leaf()).prop_map(|v| ("custom_data", v)),
            fields_of(names(&APP_DATA), leaf()).prop_map(|v| ("app_data", v)),
            proptest::collection::vec(product, 0..4).prop_map(|v| ("products", J::Arr(v))),
            proptest::collection::vec(leaf(), 0..3).prop_map(|v| ("brands", J::Arr(v))),
        ];
        let top = names(&FIELDS);
        // What most events have, so most cases get past the checks to a body.
        let usual = (
            proptest::option::weighted(0.9, prop_oneof![4 => Just("website"), 4 => Just("app"), 1 => Just("physical_store"), 1 => Just(" ")]),
            proptest::option::weighted(0.9, prop_oneof![Just("PURCHASE"), Just("x\"y")]),
            proptest::option::weighted(0.9, prop_oneof![4 => Just("2024-03-05T12:34:56.789Z"), 2 => Just("1709642096789"), 1 => Just("soon")]),
            proptest::option::weighted(0.8, prop_oneof![Just("a@b.c"), Just(" ")]),
        );
        (
            usual,
            proptest::collection::vec((0..top.len(), prop_oneof![3 => leaf(), 1 => value()]), 0..8),
            proptest::collection::vec(special, 0..5),
        )
            .prop_map(move |((source, name, time, email), plain, special)| {
                let mut kv: Vec<(String, J<'static>)> = Vec::new();
                for (k, v) in [("action_source", source), ("event_name", name), ("event_time", time), ("email", email)] {
                    kv.extend(v.map(|v| (k.to_string(), J::str(v))));
                }
                kv.extend(plain.into_iter().map(|(i, v)| (top[i].to_string(), v)));
                kv.extend(special.into_iter().map(|(k, v)| (k.to_string(), v)));
                object(kv)
            })
    }

    fn settings() -> impl Strategy<Value = Settings> {
        let id = prop_oneof![1 => Just(None), 4 => Just(Some("px-1")), 1 => Just(Some(" ")), 2 => Just(Some("12345")), 1 => Just(Some("com.a b"))];
        (id.clone(), id.clone(), id, proptest::bool::weighted(0.9), any::<bool>()).prop_map(|(pixel, snap_app, app, token, test_mode)| {
            let mut values = Map::new();
            for (k, v) in [("pixel_id", pixel), ("snap_app_id", snap_app), ("app_id", app)] {
                if let Some(v) = v {
                    values.insert(k.into(), Value::String(v.into()));
                }
            }
            Settings { values, access_token: token.then(|| "t".into()), test_mode, batch_size: 1 }
        })
    }

    /// The travel shortcut in `write_custom_data` holds: each custom_data field is a travel
    /// field or one of `NOT_TRAVEL`, never both.
    #[test]
    fn custom_data_fields_are_travel_or_not() {
        for f in &CUSTOM_DATA {
            let travel = TRAVEL_STRINGS.contains(&f.name) || TRAVEL_COUNTS.contains(&f.name);
            assert_ne!(travel, NOT_TRAVEL.contains(&f.name), "{}", f.name);
        }
        assert_eq!(CUSTOM_DATA.len(), TRAVEL_STRINGS.len() + TRAVEL_COUNTS.len() + NOT_TRAVEL.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn written_body_is_the_value_tree_written(p in payload(), s in settings()) {
            let J::Obj(p) = p else { unreachable!() };
            let pii = |f: &dyn Fn() -> _| crate::pii::with_digest_memo(f);
            let new = pii(&|| perform(&p, &s));
            let old = pii(&|| super::perform(&p, &s));
            prop_assert_eq!(new, old);
        }
    }
}
