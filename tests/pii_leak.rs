//! No raw PII in any planned Snap request. For events carrying PII wherever Segment's default
//! Snap mapping reads it (traits, context.traits, properties, userId/anonymousId), no raw,
//! trimmed, lower-cased or normalized form of a value Snap CAPI hashes (email, phone, first and
//! last name, gender, date of birth, city, state, zip, country, external ids) appears in the
//! plan line (URL, headers, body, and error messages), for every preset subscription.
//!
//! Deliberately unhashed, per Snap's spec and Segment's destination, so excluded here: IP
//! address and user agent (Snap matches them raw), and the device identifiers Snap takes as
//! they are: mobile ad id (lower-cased only), idfv, click id and cookie1. Values that already
//! are SHA-256 hex digests are passed through (lower-cased) by design; a separate property
//! checks exactly that.

use edge_actions::{api, config, destinations, pii};
use proptest::prelude::*;
use serde_json::{json, Value};

fn cases() -> u32 {
    // Each case plans an event per preset (14): fewer cases than the other properties.
    std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).map_or(32, |n: u32| n / 2)
}

/// JS whitespace variants the normalizers must strip, including ones Rust's `trim` also knows
/// and ones only JS treats as space.
fn space() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "  ", "\t", "\n", "\u{a0}", "\u{feff}", "\u{2028}", "\u{3000}", "\r\n"]).prop_map(str::to_string)
}

/// Random case, so lower-casing is exercised.
fn cased(s: String, flips: Vec<bool>) -> String {
    s.chars().zip(flips.into_iter().chain(std::iter::repeat(false))).map(|(c, up)| if up { c.to_ascii_uppercase() } else { c }).collect()
}

/// A word of at least `min` letters around `qx`: no digest (hex) and no word of the line's own
/// text (keys, event names, error messages) contains that pair, so a match is a leak.
fn word(min: usize) -> impl Strategy<Value = String> {
    (prop::string::string_regex(&format!("[a-z]{{{},8}}", min.saturating_sub(2))).expect("regex"), "[a-z]{0,3}")
        .prop_map(|(a, b)| format!("{a}qx{b}"))
}

fn padded(core: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (space(), core, space(), space(), prop::collection::vec(any::<bool>(), 0..16)).prop_map(|(a, c, mid, b, flips)| {
        // Whitespace inside too (emails with a stray space, "New  York").
        let c = cased(c, flips);
        let cut = c.char_indices().nth(c.chars().count() / 2).map_or(0, |(i, _)| i);
        format!("{a}{}{mid}{}{b}", &c[..cut], &c[cut..])
    })
}

#[derive(Debug, Clone)]
struct Pii {
    email: String,
    phone: String,
    first: String,
    last: String,
    gender: String,
    birthday: String,
    city: String,
    state: String,
    zip: String,
    country: String,
    user_id: String,
    anonymous_id: String,
}

fn pii_values() -> impl Strategy<Value = Pii> {
    let email = padded((word(3), word(3)).prop_map(|(a, b)| format!("{a}.{b}@example.com")));
    // At least 9 digits after normalization; punctuation and a leading + or 00 as people type.
    let phone = (prop::sample::select(vec!["+", "00", "", "+0"]), "[1-9][0-9]{2}", "[0-9]{3}", "[0-9]{4}", space())
        .prop_map(|(p, a, b, c, s)| format!("{p}{a} ({b}){s}{c}-{}", &c[..2]));
    let gender = padded(prop_oneof![Just("Male".to_string()), Just("female".to_string()), word(5)]);
    let birthday = ("19[0-9]{2}", "0[1-9]", "[12][0-9]").prop_map(|(y, m, d)| format!("{y}-{m}-{d}"));
    let state = padded(prop_oneof![Just("New York".to_string()), Just("California".to_string()), word(5)]);
    let country = padded(prop_oneof![Just("United States".to_string()), Just("Germany".to_string()), word(5)]);
    let zip = padded(prop_oneof!["[0-9]{8,9}", (word(2), "[0-9]{4}").prop_map(|(w, d)| format!("{w} {d}"))]);
    (
        (email, phone, padded(word(4)), padded(word(4)), gender, birthday),
        (padded(word(4)), state, zip, country, padded(word(6)), padded(word(6))),
    )
        .prop_map(|((email, phone, first, last, gender, birthday), (city, state, zip, country, user_id, anonymous_id))| Pii {
            email, phone, first, last, gender, birthday, city, state, zip, country, user_id, anonymous_id,
        })
}

/// Every form of a raw value that would count as leaking it: as given, trimmed, lower-cased,
/// normalized (whitespace removed). Forms too short to be told apart from other output are
/// skipped (the generators make the interesting ones long).
fn forms(raw: &str, normalize: Normalizer) -> Vec<String> {
    let mut v = vec![raw.to_string(), pii::js_trim(raw).to_string(), raw.to_lowercase(), pii::js_trim(raw).to_lowercase(), normalize(raw)];
    v.sort();
    v.dedup();
    v.retain(|f| {
        let hexish = f.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        f.chars().count() >= if hexish { 8 } else { 4 }
    });
    v
}

type Normalizer = fn(&str) -> String;

fn needles(p: &Pii) -> Vec<(&'static str, String)> {
    let fields: [(&str, &str, Normalizer); 12] = [
        ("email", &p.email, pii::strip_lower),
        ("phone", &p.phone, pii::phone_digits),
        ("firstName", &p.first, pii::strip_lower),
        ("lastName", &p.last, pii::strip_lower),
        ("gender", &p.gender, pii::gender),
        ("dateOfBirth", &p.birthday, pii::as_is),
        ("city", &p.city, pii::strip_lower),
        ("state", &p.state, pii::state),
        ("zip", &p.zip, pii::strip_lower),
        ("country", &p.country, pii::country),
        ("userId", &p.user_id, pii::strip_lower),
        ("anonymousId", &p.anonymous_id, pii::strip_lower),
    ];
    fields.iter().flat_map(|(name, raw, f)| forms(raw, *f).into_iter().map(move |n| (*name, n))).collect()
}

/// Where Segment's default mapping (and plausible custom data) carries each value.
fn event(p: &Pii, ty: &str, name: &str, place: u8, with_user_id: bool) -> Value {
    let address = json!({"city": p.city, "state": p.state, "postalCode": p.zip, "country": p.country});
    let person = json!({"email": p.email, "phone": p.phone, "first_name": p.first, "last_name": p.last,
        "gender": p.gender, "birthday": p.birthday, "address": address});
    let mut e = json!({
        "type": ty, "event": name, "messageId": "m-1", "timestamp": "2024-01-01T00:00:00.000Z",
        "anonymousId": p.anonymous_id,
        "properties": {"revenue": 10, "currency": "usd"},
        "context": {"ip": "203.0.113.9", "userAgent": "Mozilla/5.0", "traits": {}},
    });
    if with_user_id {
        e["userId"] = json!(p.user_id);
    }
    // 0: context.traits (+ top-level traits), 1: properties, 2: both.
    if place != 1 {
        e["context"]["traits"] = person.clone();
        e["traits"] = person.clone();
    }
    if place != 0 {
        for (k, v) in person.as_object().into_iter().flatten() {
            e["properties"][k] = v.clone();
        }
    }
    e
}

fn preset_triggers() -> Vec<(&'static str, &'static str)> {
    // (type, event) pairs that match each preset's trigger.
    let def = destinations::find("snap-conversions-api").expect("snap is registered");
    let presets = config::preset_subscriptions(def);
    let mut out = Vec::new();
    for p in presets.as_array().into_iter().flatten() {
        let trigger = p["subscribe"].as_str().unwrap_or_default();
        if let Some(ev) = trigger.strip_prefix("event = \"").and_then(|t| t.strip_suffix('"')) {
            out.push(("track", Box::leak(ev.to_string().into_boxed_str()) as &str));
        } else if trigger == "type = \"page\"" {
            out.push(("page", "Home"));
        } else {
            panic!("a preset trigger this test does not know how to match: {trigger}");
        }
    }
    out
}

fn plan(events: &[Value]) -> Vec<Value> {
    let cfg = api::create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px","snap_app_id":"123","access_token":"tok"}}"#)
        .expect("preset config");
    api::plan(&cfg, &Value::Array(events.to_vec()).to_string()).expect("plan")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn no_raw_pii_in_any_preset_request(p in pii_values(), place in 0u8..3, with_user_id in any::<bool>()) {
        let triggers = preset_triggers();
        prop_assert_eq!(triggers.len(), 14);
        let events: Vec<Value> = triggers.iter().map(|(ty, name)| event(&p, ty, name, place, with_user_id)).collect();
        let lines = plan(&events);
        prop_assert_eq!(lines.len(), events.len());
        let needles = needles(&p);
        for (line, (_, name)) in lines.iter().zip(&triggers) {
            // Each preset produced a request (not a skip or an error), so the check is not vacuous.
            let req = &line["request"];
            prop_assert!(req.is_object(), "{}: no request: {}", name, line);
            let user = &req["body"]["data"][0]["user_data"];
            for k in ["em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"] {
                prop_assert!(!user[k].is_null(), "{}: user_data.{} missing: {}", name, k, user);
            }
            // IP and user agent are sent raw on purpose (see the module comment).
            prop_assert_eq!(&user["client_ip_address"], "203.0.113.9");
            let text = line.to_string();
            for (field, needle) in &needles {
                // Compare on the JSON-escaped form, as it appears in the serialized line.
                let escaped = serde_json::to_string(needle).unwrap_or_default();
                let escaped = &escaped[1..escaped.len() - 1];
                prop_assert!(!text.contains(escaped), "{}: {} leaked as {:?} in {}", name, field, needle, text);
            }
        }
    }

    #[test]
    fn already_hashed_values_pass_through_lower_cased(raw in "qqz[a-z]{0,9}", upper in any::<bool>(), pad in space()) {
        // `qqz`: no word of the line's own text contains it, so a match is a leak.
        let digest = pii::sha256_hex(&raw);
        let given = if upper { digest.to_uppercase() } else { digest.clone() };
        let ev = |props: Value| json!({"type": "track", "event": "Order Completed", "messageId": "m", "timestamp": "2024-01-01T00:00:00Z", "properties": props});
        let lines = plan(&[ev(json!({"email": given})), ev(json!({"phone": format!("{pad}{raw}{pad}")}))]);
        prop_assert_eq!(&lines[0]["request"]["body"]["data"][0]["user_data"]["em"], &json!([digest]));
        // A phone with no digits normalizes to nothing: an error naming the field, not the value.
        let line = &lines[1];
        prop_assert_eq!(&line["error"]["field"], "user_data.phone");
        prop_assert!(!line.to_string().contains(&raw), "{}", line);
    }
}
