//! Snapchat Custom Audiences (Marketing API), as Segment's "Snap Audiences (Actions)":
//! `syncAudience` adds a user's hashed identifiers to the audience's Snap segment when they
//! enter it and removes them when they exit (`POST` / `DELETE /v1/segments/{id}/users`, one
//! identifier schema per call), and `createLookalike` builds a lookalike segment from a
//! synced seed segment.

use super::{Action, Definition, Item, Preset, Settings, Split};
use super::encode_component as encode_query;
use crate::audience::{self, Change};
use crate::ensure;
use crate::error::{ErrorCode, EventError};
use crate::js::is_truthy;
use crate::pii;
use crate::schema::{Field, Ty};
use serde_json::{json, Map, Value};

const S: Ty = Ty::String;

type Normalizer = fn(&str) -> String;

/// The identifier kinds Snap matches, in the order Segment sends them: (payload field, Snap
/// schema, normalizer).
const IDENTIFIERS: [(&str, &str, Normalizer); 3] = [
    ("email", "EMAIL_SHA256", pii::trim_lower),
    ("phone", "PHONE_SHA256", pii::phone_prefixes),
    ("advertising_id", "MOBILE_AD_ID_SHA256", pii::trim_lower),
];

/// Snap's (and Segment's) ceiling of identifiers per call.
pub const MAX_IDENTIFIERS: usize = 100_000;

static SYNC_FIELDS: [Field; 9] = [
    // Required unless `create_segments` is on (checked in `sync_audience`, Segment's message).
    Field::new("external_audience_id", S),
    Field::new("audienceKey", S).required(),
    Field::new("props", Ty::Object).required(),
    Field::new("phone", S),
    Field::new("email", S),
    Field::new("advertising_id", S),
    Field::new("enable_batching", Ty::Boolean).required(),
    Field::new("max_batch_size", Ty::Number).required(),
    Field::new("batch_keys", S).multiple(),
];

/// Segment's field defaults for syncAudience.
const SYNC_MAPPING: &str = r#"{
  "external_audience_id": {"@path": "$.context.personas.external_audience_id"},
  "audienceKey": {"@path": "$.context.personas.computation_key"},
  "props": {"@path": "$.properties"},
  "phone": {"@path": "$.properties.phone"},
  "email": {"@path": "$.properties.email"},
  "advertising_id": {"@if": {"exists": {"@path": "$.properties.android_idfa"}, "then": {"@path": "$.properties.android_idfa"}, "else": {"@path": "$.properties.ios_idfa"}}},
  "enable_batching": true,
  "max_batch_size": 100000,
  "batch_keys": ["external_audience_id"]
}"#;

static LOOKALIKE_FIELDS: [Field; 6] = [
    Field::new("seed_segment_id", S).required(),
    Field::new("name", S).required(),
    Field::new("countries", S).multiple().required(),
    Field::new("type", S).choices(&["BALANCE", "SIMILARITY", "REACH"]),
    Field::new("description", S),
    Field::new("retention_in_days", Ty::Integer),
];

/// The lookalike of the audience an Engage event is about, for the US (change `countries`).
const LOOKALIKE_MAPPING: &str = r#"{
  "seed_segment_id": {"@path": "$.context.personas.external_audience_id"},
  "name": {"@template": "{{context.personas.computation_key}} lookalike"},
  "countries": ["US"],
  "type": "BALANCE"
}"#;

/// Segment's retention for the segments it creates (9999 = lifetime).
const FIRST_PARTY_RETENTION_DAYS: i64 = 9999;

/// Snap's segments of an ad account, found by name and created (see `ensure`). The listing
/// comes in pages of at most 1,000 (Snap's largest `limit`); a page with more after it links
/// the next one as an absolute URL in `paging.next_link`.
static SEGMENTS: ensure::Api = ensure::Api {
    list: |s| format!("/v1/adaccounts/{}/segments?limit=1000", encode_query(s.get("ad_account_id").and_then(Value::as_str).unwrap_or(""))),
    create: |s| format!("/v1/adaccounts/{}/segments", encode_query(s.get("ad_account_id").and_then(Value::as_str).unwrap_or(""))),
    find: |answer, name| {
        let segments = answer["segments"].as_array().ok_or("has no `segments` array")?;
        match segments.iter().map(|s| &s["segment"]).find(|s| s["name"] == name) {
            Some(s) => s["id"].as_str().map(|id| Some(id.to_string())).ok_or("lists the segment without an id"),
            None => Ok(None),
        }
    },
    next: |answer| answer["paging"]["next_link"].as_str().filter(|l| !l.is_empty()).map(str::to_string),
    created: |answer| answer["segments"][0]["segment"]["id"].as_str().map(str::to_string),
};

/// Lookalikes keep members at most this long (Snap's maximum).
const LOOKALIKE_RETENTION_DAYS: i64 = 180;

static PRESETS: [Preset; 1] = [Preset {
    name: "Sync Engage Audience",
    trigger: r#"type = "track" or type = "identify""#,
    action: "syncAudience",
    mapping: "{}",
}];

static ACTIONS: [Action; 2] = [
    Action { id: "syncAudience", title: "Sync Audience", fields: &SYNC_FIELDS, default_mapping: SYNC_MAPPING, perform: |p, s| sync_audience(&p.to_map(), s) },
    Action { id: "createLookalike", title: "Create Lookalike Audience", fields: &LOOKALIKE_FIELDS, default_mapping: LOOKALIKE_MAPPING, perform: |p, s| create_lookalike(&p.to_map(), s) },
];

pub static DEFINITION: Definition = Definition {
    slug: "snap-audiences",
    aliases: &["actions-snap-audiences", "Snap Audiences (Actions)"],
    name: "Snapchat Custom Audiences",
    origin: "https://adsapi.snapchat.com",
    string_settings: &["ad_account_id", "refresh_token", "client_id", "client_secret"],
    max_batch: MAX_IDENTIFIERS,
    actions: &ACTIONS,
    presets: &PRESETS,
    url: |origin, target, _, _| format!("{origin}{target}"),
    // Segment's extendRequest: the OAuth access token as a Bearer header, as for CAPI.
    headers: super::snap_capi::bearer,
    // No `envelope`: `split` builds the requests.
    oauth_token_url: Some("https://accounts.snapchat.com/login/oauth2/access_token"),
    split: Some(split),
    ..super::BASE
};

fn text<'a>(p: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    p.get(k).and_then(Value::as_str)
}

/// An access token, or a refresh token to get one with.
fn need_token(settings: &Settings) -> Result<(), EventError> {
    match (&settings.access_token, settings.str("refresh_token")) {
        (None, None) => Err(EventError::misconfigured("access_token", "Missing access token (or refresh_token) for the Snap Marketing API.")),
        _ => Ok(()),
    }
}

/// One event's membership change as an item: `{"change": "add"|"remove", "ids": [[schema,
/// hash], ...]}` on the group `/v1/segments/{id}/users`. A value that is blank after trimming
/// hashes to "" (Segment sends an empty call for it); one that normalizes to nothing is an error.
fn sync_audience(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    let present = |k: &str| p.get(k).is_some_and(is_truthy);
    if !IDENTIFIERS.iter().any(|(field, _, _)| present(field)) {
        return Err(EventError::new(ErrorCode::PayloadValidation, r#"One of "email" or "phone" or "Mobile Advertising ID" is required."#)
            .with_field("email"));
    }
    let key = text(p, "audienceKey").unwrap_or("");
    let change = Change::of(p.get("props").and_then(Value::as_object), key);
    let mut ids = Vec::new();
    for (field, schema, normalize) in IDENTIFIERS {
        let Some(v) = text(p, field).filter(|_| present(field)) else { continue };
        let hash = pii::normalize_and_hash(v, normalize)
            .map_err(|_| EventError::new(ErrorCode::PayloadValidation, format!("The {field} is empty once normalized.")).with_field(field))?;
        ids.push(json!([schema, hash]));
    }
    let op = if change == Change::Entered { "add" } else { "remove" };
    let Some(segment) = text(p, "external_audience_id") else {
        // Without Segment's audience id: the segment named after the audience key, found or
        // created in the ad account on first use (`create_segments`).
        let create_segments = match settings.values.get("create_segments") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(EventError::new(ErrorCode::InvalidConfig, "`create_segments` must be a boolean").with_field("settings.create_segments")),
        };
        let account = settings.str("ad_account_id").filter(|_| create_segments);
        let Some(account) = account else {
            return Err(EventError::new(ErrorCode::PayloadValidation, "The root value is missing the required field 'external_audience_id'.")
                .with_field("external_audience_id"));
        };
        need_token(settings)?;
        let create = json!({"segments": [{
            "name": key, "source_type": "FIRST_PARTY", "ad_account_id": account,
            "description": format!("Audience {key}, kept in sync from Segment Engage"), "retention_in_days": FIRST_PARTY_RETENTION_DAYS,
        }]});
        return Ok(crate::destinations::json_item(format!("named\n{key}"), json!({"change": op, "ids": ids, "segment": {"name": key, "create": create}})));
    };
    need_token(settings)?;
    Ok(crate::destinations::json_item(format!("/v1/segments/{}/users", encode_query(segment)), json!({"change": op, "ids": ids})))
}

fn create_lookalike(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    let account = settings.str("ad_account_id").ok_or_else(|| {
        EventError::new(ErrorCode::InvalidConfig, "Lookalikes need the ad_account_id setting.").with_field("ad_account_id")
    })?;
    need_token(settings)?;
    let countries: Vec<Value> = p
        .get("countries")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(|c| json!(crate::js::to_upper(c.trim()))).collect())
        .unwrap_or_default();
    if countries.is_empty() {
        return Err(EventError::misconfigured("countries", "A lookalike needs at least one country (ISO-2 code)."));
    }
    let name = text(p, "name").unwrap_or("");
    let seed = text(p, "seed_segment_id").unwrap_or("");
    let retention = p.get("retention_in_days").and_then(Value::as_i64).unwrap_or(LOOKALIKE_RETENTION_DAYS).clamp(1, LOOKALIKE_RETENTION_DAYS);
    let segment = json!({
        "name": name,
        "ad_account_id": account,
        "description": text(p, "description").map_or_else(|| format!("Lookalike of segment {seed}"), str::to_string),
        "source_type": "LOOKALIKE",
        "retention_in_days": retention,
        "creation_spec": {"seed_segment_id": seed, "type": text(p, "type").unwrap_or("BALANCE"), "countries": countries},
    });
    Ok(crate::destinations::json_item(format!("/v1/adaccounts/{}/segments", encode_query(account)), segment))
}

fn users_body(schema: &str, hashes: impl Iterator<Item = String>) -> Value {
    let data: Vec<Value> = hashes.filter(|h| !h.is_empty()).map(|h| json!([h])).collect();
    json!({"users": [{"schema": [schema], "data": data}]})
}

fn method(change: Change) -> &'static str {
    match change {
        Change::Entered => "POST",
        Change::Exited => "DELETE",
    }
}

fn change_of(item: &Value) -> Change {
    if item["change"] == "add" { Change::Entered } else { Change::Exited }
}

fn ids_of(item: &Value) -> impl Iterator<Item = (&str, &str)> {
    item["ids"].as_array().into_iter().flatten().filter_map(|p| Some((p.get(0)?.as_str()?, p.get(1)?.as_str()?)))
}

/// Requests for one group. Lookalikes: one create per distinct segment spec. Users, with
/// `batch_size: 1` (Segment's one event per call): each event's identifiers, one call per
/// schema, as they come. Batched: the last change per (schema, hash) wins (a replay changes
/// nothing, entered then exited ends removed), then adds before removes, one schema per
/// call, at most `batch_size` identifiers per call.
fn split(group: &str, items: Vec<Value>, settings: &Settings) -> Vec<Split> {
    if group.starts_with("/v1/adaccounts/") {
        return split_lookalikes(group, items);
    }
    // Users of a segment known by id, or by name (found or created first).
    let named = items.first().and_then(|i| i.get("segment")).map(|s| ensure::Ensure {
        api: &SEGMENTS,
        name: s["name"].as_str().unwrap_or("").to_string(),
        create: s["create"].clone(),
    });
    let target = match &named {
        Some(_) => format!("/v1/segments/{}/users", ensure::PLACEHOLDER),
        None => group.to_string(),
    };
    let split = |change: Change, schema: &str, hashes: Vec<String>, items: Vec<usize>| Split {
        method: method(change),
        target: target.clone(),
        body: users_body(schema, hashes.into_iter()),
        items,
        phase: 0,
        ensure: named.clone(),
    };
    if settings.batch_size <= 1 {
        return items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| {
                let change = change_of(item);
                ids_of(item).map(move |(schema, hash)| split(change, schema, vec![hash.to_string()], vec![i])).collect::<Vec<_>>()
            })
            .collect();
    }
    let changes = items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| ids_of(item).map(move |(schema, hash)| ((schema.to_string(), hash.to_string()), change_of(item), i)));
    let last = audience::coalesce(changes);
    let mut out = Vec::new();
    for change in [Change::Entered, Change::Exited] {
        for (_, schema, _) in IDENTIFIERS {
            let members: Vec<&((String, String), Change, Vec<usize>)> =
                last.iter().filter(|((s, _), c, _)| s == schema && *c == change).collect();
            for chunk in members.chunks(settings.batch_size.max(1)) {
                let mut carried: Vec<usize> = chunk.iter().flat_map(|(_, _, at)| at.iter().copied()).collect();
                carried.sort_unstable();
                carried.dedup();
                out.push(split(change, schema, chunk.iter().map(|((_, h), _, _)| h.clone()).collect(), carried));
            }
        }
    }
    out
}

/// One creation per distinct lookalike; delivery creates it only when no segment of that
/// name exists yet (a replay, or the next call, finds it).
fn split_lookalikes(group: &str, items: Vec<Value>) -> Vec<Split> {
    let mut out: Vec<Split> = Vec::new();
    for (i, segment) in items.into_iter().enumerate() {
        let body = json!({"segments": [segment]});
        match out.iter_mut().find(|s| s.body == body) {
            Some(s) => s.items.push(i),
            None => {
                let name = segment["name"].as_str().unwrap_or("").to_string();
                let ensure = Some(ensure::Ensure { api: &SEGMENTS, name, create: body.clone() });
                out.push(Split { method: "POST", target: group.to_string(), body, items: vec![i], phase: 0, ensure });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(batch_size: usize) -> Settings {
        Settings { values: Map::new(), access_token: Some("t".into()), test_mode: false, batch_size }
    }

    fn item(change: &str, ids: &[(&str, &str)]) -> Value {
        json!({"change": change, "ids": ids.iter().map(|(s, h)| json!([s, h])).collect::<Vec<_>>()})
    }

    #[test]
    fn one_event_per_call_keeps_every_identifier_in_order() {
        let items = vec![item("add", &[("EMAIL_SHA256", "e1"), ("PHONE_SHA256", "p1")]), item("remove", &[("EMAIL_SHA256", "e1")])];
        let out = split("/v1/segments/9/users", items, &settings(1));
        let got: Vec<(&str, &Value, &Vec<usize>)> = out.iter().map(|s| (s.method, &s.body, &s.items)).collect();
        assert_eq!(got, vec![
            ("POST", &json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["e1"]]}]}), &vec![0]),
            ("POST", &json!({"users": [{"schema": ["PHONE_SHA256"], "data": [["p1"]]}]}), &vec![0]),
            ("DELETE", &json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["e1"]]}]}), &vec![1]),
        ]);
    }

    #[test]
    fn batched_last_change_wins_and_duplicates_drop() {
        let items = vec![
            item("add", &[("EMAIL_SHA256", "a")]),
            item("add", &[("EMAIL_SHA256", "b")]),
            item("add", &[("EMAIL_SHA256", "a")]),
            item("remove", &[("EMAIL_SHA256", "b")]),
            item("remove", &[("MOBILE_AD_ID_SHA256", "m")]),
        ];
        let out = split("/v1/segments/9/users", items, &settings(100));
        let got: Vec<(&str, &Value, &Vec<usize>)> = out.iter().map(|s| (s.method, &s.body, &s.items)).collect();
        assert_eq!(got, vec![
            ("POST", &json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["a"]]}]}), &vec![0, 2]),
            ("DELETE", &json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["b"]]}]}), &vec![1, 3]),
            ("DELETE", &json!({"users": [{"schema": ["MOBILE_AD_ID_SHA256"], "data": [["m"]]}]}), &vec![4]),
        ]);
    }

    #[test]
    fn batched_calls_hold_at_most_batch_size_identifiers() {
        let items: Vec<Value> = (0..7).map(|i| item("add", &[("PHONE_SHA256", &format!("h{i}"))])).collect();
        let out = split("/v1/segments/9/users", items, &settings(3));
        let sizes: Vec<usize> = out.iter().map(|s| s.body["users"][0]["data"].as_array().unwrap().len()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        assert_eq!(out[2].items, vec![6]);
    }
}
