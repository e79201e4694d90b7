//! Braze Cohorts, as Segment's "Braze Cohorts" destination: `syncAudiences` creates the
//! cohort (`/partners/segment/cohorts`) and adds or removes users
//! (`/partners/segment/cohorts/users`). Cohort import needs a partner key Braze issues, so
//! `syncAudienceAttribute` is the fallback every Braze account can use: a boolean custom
//! attribute per audience set through `/users/track`.

use super::{Action, Definition, Item, Preset, Settings, Split};
use crate::audience::{self, Change};
use crate::error::{ErrorCode, EventError};
use crate::js::is_truthy;
use crate::schema::{Field, Ty};
use crate::time::parse_date_ms;
use serde_json::{json, Map, Value};

const S: Ty = Ty::String;
const DEFAULT_ENDPOINT: &str = "https://rest.iad-01.braze.com";

/// Braze's ceiling of user ids per cohort call.
pub const MAX_COHORT_USERS: usize = 1000;
/// Braze's ceiling of objects per `/users/track` call.
pub const MAX_TRACK_OBJECTS: usize = 75;

static ALIAS: [Field; 2] = [Field::new("alias_name", S).required(), Field::new("alias_label", S).required()];

static COHORT_FIELDS: [Field; 10] = [
    Field::new("external_id", S),
    Field::new("user_alias", Ty::Object).props(&ALIAS),
    Field::new("device_id", S),
    Field::new("cohort_id", S).required(),
    Field::new("cohort_name", S).required(),
    Field::new("enable_batching", Ty::Boolean),
    Field::new("personas_audience_key", S).required(),
    Field::new("event_properties", Ty::Object).required(),
    Field::new("time", S).required(),
    Field::new("batch_keys", S).multiple(),
];

/// Segment's field defaults for syncAudiences (`personas_audience_key` has none: the user
/// types the audience key, which must equal the event's computation key).
const COHORT_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "cohort_id": {"@path": "$.context.personas.computation_id"},
  "cohort_name": {"@path": "$.context.personas.computation_key"},
  "enable_batching": true,
  "event_properties": {"@if": {"exists": {"@path": "$.properties"}, "then": {"@path": "$.properties"}, "else": {"@path": "$.traits"}}},
  "time": {"@path": "$.timestamp"},
  "batch_keys": ["cohort_name", "cohort_id"]
}"#;

static ATTRIBUTE_FIELDS: [Field; 6] = [
    Field::new("external_id", S),
    Field::new("user_alias", Ty::Object).props(&ALIAS),
    Field::new("braze_id", S),
    Field::new("audience_key", S).required(),
    Field::new("attribute_name", S),
    Field::new("event_properties", Ty::Object).required(),
];

const ATTRIBUTE_MAPPING: &str = r#"{
  "external_id": {"@path": "$.userId"},
  "audience_key": {"@path": "$.context.personas.computation_key"},
  "event_properties": {"@if": {"exists": {"@path": "$.properties"}, "then": {"@path": "$.properties"}, "else": {"@path": "$.traits"}}}
}"#;

static PRESETS: [Preset; 0] = [];

static ACTIONS: [Action; 2] = [
    Action { id: "syncAudiences", title: "Sync Audience", fields: &COHORT_FIELDS, default_mapping: COHORT_MAPPING, perform: |p, s| sync_audiences(&p.to_map(), s) },
    Action {
        id: "syncAudienceAttribute",
        title: "Sync Audience as a Custom Attribute",
        fields: &ATTRIBUTE_FIELDS,
        default_mapping: ATTRIBUTE_MAPPING,
        perform: |p, s| sync_attribute(&p.to_map(), s),
    },
];

pub static DEFINITION: Definition = Definition {
    slug: "braze-cohorts",
    aliases: &["actions-braze-cohorts", "Braze Cohorts"],
    name: "Braze Cohorts",
    origin: DEFAULT_ENDPOINT,
    string_settings: &["client_secret", "endpoint", "partner_api_key", "api_key"],
    max_batch: MAX_COHORT_USERS,
    actions: &ACTIONS,
    presets: &PRESETS,
    url,
    headers,
    // No `envelope`: `split` builds the requests.
    split: Some(split),
    ..super::BASE
};

/// The `endpoint` setting is the origin unless a base URL override replaced it.
fn url(origin: &str, target: &str, settings: &Settings, _redact: bool) -> String {
    let base = match settings.str("endpoint") {
        Some(e) if origin == DEFAULT_ENDPOINT => e.trim_end_matches('/'),
        _ => origin,
    };
    format!("{base}{target}")
}

/// Cohort calls authenticate in the body (Segment sends no header); `/users/track` takes the
/// REST API key as a Bearer header.
fn headers(settings: &Settings, redact: bool) -> Vec<(&'static str, String)> {
    match settings.str("api_key") {
        Some(_) if redact => vec![("authorization", "Bearer REDACTED".into())],
        Some(k) => vec![("authorization", format!("Bearer {k}"))],
        None => vec![],
    }
}

fn text<'a>(p: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    p.get(k).and_then(Value::as_str)
}

fn check_endpoint(settings: &Settings) -> Result<(), EventError> {
    match settings.str("endpoint") {
        None => Ok(()),
        Some(e) if e.starts_with("https://") || e.starts_with("http://") => Ok(()),
        Some(_) => Err(EventError::new(ErrorCode::InvalidConfig, "`endpoint` must be your Braze REST endpoint URL.").with_field("endpoint")),
    }
}

/// The user one event names, in Segment's order of preference: external id, device id, alias.
fn user_of(p: &Map<String, Value>) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if let Some(v) = p.get("external_id").filter(|v| is_truthy(v)) {
        out.push(("user_ids", v.clone()));
    }
    if let Some(v) = p.get("device_id").filter(|v| is_truthy(v)) {
        out.push(("device_ids", v.clone()));
    }
    if let Some(a) = p.get("user_alias").and_then(Value::as_object) {
        out.push(("aliases", json!({"alias_name": a.get("alias_name"), "alias_label": a.get("alias_label")})));
    }
    out
}

/// Item: `{"cohort_id", "cohort_name", "time", "change", "user": [[kind, id], ...]}` on the
/// group of its cohort.
fn sync_audiences(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    let name = text(p, "cohort_name").unwrap_or("");
    if Some(name) != text(p, "personas_audience_key") {
        return Err(EventError::new(ErrorCode::PayloadValidation, "The value of `personas computation key` and `personas_audience_key` must match.")
            .with_field("personas_audience_key"));
    }
    if settings.str("client_secret").is_none() {
        return Err(EventError::new(ErrorCode::InvalidConfig, "Missing client_secret (the Braze data import key).").with_field("client_secret"));
    }
    check_endpoint(settings)?;
    let change = Change::of(p.get("event_properties").and_then(Value::as_object), name);
    let id = text(p, "cohort_id").unwrap_or("");
    let user: Vec<Value> = user_of(p).into_iter().map(|(k, v)| json!([k, v])).collect();
    Ok(crate::destinations::json_item(
        format!("cohort\n{id}\n{name}"),
        json!({"cohort_id": id, "cohort_name": name, "time": p.get("time"), "change": change == Change::Entered, "user": user}),
    ))
}

fn sync_attribute(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    if settings.str("api_key").is_none() {
        return Err(EventError::new(ErrorCode::InvalidConfig, "Custom attributes need the api_key setting (a Braze REST API key with users.track).").with_field("api_key"));
    }
    check_endpoint(settings)?;
    let key = text(p, "audience_key").unwrap_or("");
    let attribute = text(p, "attribute_name").filter(|a| !a.is_empty()).unwrap_or(key);
    let mut object = Map::new();
    if let Some(v) = p.get("external_id").filter(|v| is_truthy(v)) {
        object.insert("external_id".into(), v.clone());
    } else if let Some(v) = p.get("braze_id").filter(|v| is_truthy(v)) {
        object.insert("braze_id".into(), v.clone());
    } else if let Some(a) = p.get("user_alias").filter(|a| a.is_object()) {
        object.insert("user_alias".into(), a.clone());
    } else {
        return Err(EventError::misconfigured("external_id", "One of External User ID, Braze ID or User Alias is required."));
    }
    let entered = Change::of(p.get("event_properties").and_then(Value::as_object), key) == Change::Entered;
    object.insert(attribute.to_string(), Value::Bool(entered));
    Ok(crate::destinations::json_item("/users/track".into(), Value::Object(object)))
}

fn split(group: &str, items: Vec<Value>, settings: &Settings) -> Vec<Split> {
    let size = settings.batch_size.max(1);
    if group == "/users/track" {
        return split_attributes(items, size);
    }
    let secrets = |body: &mut Map<String, Value>| {
        // Absent unless set, as in Segment (its partner key comes from the environment).
        if let Some(k) = settings.str("partner_api_key") {
            body.insert("partner_api_key".into(), json!(k));
        }
        body.insert("client_secret".into(), json!(settings.str("client_secret").unwrap_or("")));
    };
    // Segment creates the cohort before every update: so do we for one event per call
    // (`batch_size: 1`); batched, once per cohort per call.
    let chunks: Vec<Vec<usize>> = if size == 1 { (0..items.len()).map(|i| vec![i]).collect() } else { vec![(0..items.len()).collect()] };
    let mut out = Vec::new();
    for creation in chunks {
        let first = &items[creation[0]];
        let mut create = Map::new();
        secrets(&mut create);
        create.insert("name".into(), first["cohort_name"].clone());
        create.insert("cohort_id".into(), first["cohort_id"].clone());
        create.insert("created_at".into(), first["time"].clone());
        out.push(Split { method: "POST", target: "/partners/segment/cohorts".into(), body: Value::Object(create), items: creation.clone(), phase: 0, ensure: None });
        for chunk in creation.chunks(size) {
            let Some(changes) = cohort_changes(&items, chunk) else { continue };
            let mut update = Map::new();
            secrets(&mut update);
            update.insert("cohort_id".into(), first["cohort_id"].clone());
            update.insert("cohort_changes".into(), Value::Array(changes));
            out.push(Split { method: "POST", target: "/partners/segment/cohorts/users".into(), body: Value::Object(update), items: chunk.to_vec(), phase: 1, ensure: None });
        }
    }
    out
}

/// Segment's rule: latest event first (ties: the later one in the input), and each user is
/// taken once, by its first identifier not taken yet; adds then removes. `None` when no user
/// is named.
fn cohort_changes(items: &[Value], chunk: &[usize]) -> Option<Vec<Value>> {
    let mut order = chunk.to_vec();
    let time = |i: usize| items[i]["time"].as_str().and_then(parse_date_ms).map_or(f64::NEG_INFINITY, |t| t as f64);
    order.sort_by(|&a, &b| time(b).total_cmp(&time(a)).then(b.cmp(&a)));
    // [add, remove] x [user_ids, device_ids, aliases]
    let mut sets: [[Vec<Value>; 3]; 2] = Default::default();
    const KINDS: [&str; 3] = ["user_ids", "device_ids", "aliases"];
    for i in order {
        let side = usize::from(items[i]["change"] != true);
        for pair in items[i]["user"].as_array().into_iter().flatten() {
            let (Some(kind), Some(id)) = (pair[0].as_str(), pair.get(1)) else { continue };
            let Some(k) = KINDS.iter().position(|x| *x == kind) else { continue };
            if sets[0][k].contains(id) || sets[1][k].contains(id) {
                continue;
            }
            sets[side][k].push(id.clone());
            break;
        }
    }
    let mut out = Vec::new();
    for (side, lists) in sets.into_iter().enumerate() {
        if lists.iter().all(Vec::is_empty) {
            continue;
        }
        let mut change = Map::new();
        for (k, list) in KINDS.iter().zip(lists) {
            change.insert((*k).into(), Value::Array(list));
        }
        if side == 1 {
            change.insert("should_remove".into(), Value::Bool(true));
        }
        out.push(Value::Object(change));
    }
    (!out.is_empty()).then_some(out)
}

/// One attribute object per user (the last change wins), at most `size` (and Braze's 75)
/// per call.
fn split_attributes(items: Vec<Value>, size: usize) -> Vec<Split> {
    let key_of = |o: &Value| -> String {
        let o = o.as_object();
        let id = |k: &str| o.and_then(|o| o.get(k)).map(Value::to_string);
        id("external_id").or_else(|| id("braze_id")).or_else(|| id("user_alias")).unwrap_or_default()
    };
    let changes = items.iter().enumerate().map(|(i, o)| ((key_of(o), attribute_names(o)), Change::Entered, i));
    let last = audience::coalesce(changes);
    last.chunks(size.min(MAX_TRACK_OBJECTS))
        .map(|chunk| {
            let attributes: Vec<Value> = chunk.iter().map(|(_, _, at)| items[*at.last().unwrap_or(&0)].clone()).collect();
            let mut carried: Vec<usize> = chunk.iter().flat_map(|(_, _, at)| at.iter().copied()).collect();
            carried.sort_unstable();
            Split { method: "POST", target: "/users/track".into(), body: json!({"attributes": attributes}), items: carried, phase: 0, ensure: None }
        })
        .collect()
}

fn attribute_names(o: &Value) -> String {
    o.as_object().map(|m| m.keys().filter(|k| !["external_id", "braze_id", "user_alias"].contains(&k.as_str())).cloned().collect::<Vec<_>>().join(",")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(batch_size: usize) -> Settings {
        let values = json!({"client_secret": "cs", "endpoint": "https://rest.fra-01.braze.eu"}).as_object().cloned().unwrap();
        Settings { values, access_token: None, test_mode: false, batch_size }
    }

    fn item(change: bool, time: &str, user: Value) -> Value {
        json!({"cohort_id": "c1", "cohort_name": "k", "time": time, "change": change, "user": user})
    }

    #[test]
    fn the_latest_change_per_user_wins_and_removes_come_after_adds() {
        let items = vec![
            item(true, "2024-01-01T00:00:00Z", json!([["user_ids", "u1"]])),
            item(false, "2024-01-02T00:00:00Z", json!([["user_ids", "u1"]])),
            item(true, "2024-01-01T00:00:00Z", json!([["device_ids", "d1"]])),
            item(true, "2024-01-01T00:00:00Z", json!([])),
        ];
        let out = split("cohort\nc1\nk", items, &settings(100));
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].target.as_str(), out[0].phase, &out[0].items), ("/partners/segment/cohorts", 0, &vec![0, 1, 2, 3]));
        assert_eq!(out[0].body, json!({"client_secret": "cs", "name": "k", "cohort_id": "c1", "created_at": "2024-01-01T00:00:00Z"}));
        assert_eq!(out[1].phase, 1);
        assert_eq!(out[1].body["cohort_changes"], json!([
            {"user_ids": [], "device_ids": ["d1"], "aliases": []},
            {"user_ids": ["u1"], "device_ids": [], "aliases": [], "should_remove": true}
        ]));
    }

    #[test]
    fn attributes_keep_the_last_change_per_user() {
        let items = vec![json!({"external_id": "u1", "vip": true}), json!({"external_id": "u2", "vip": true}), json!({"external_id": "u1", "vip": false})];
        let out = split_attributes(items, 75);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].body, json!({"attributes": [{"external_id": "u1", "vip": false}, {"external_id": "u2", "vip": true}]}));
        assert_eq!(out[0].items, vec![0, 1, 2]);
    }
}
