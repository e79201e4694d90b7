//! Monitoring (issue 11): a record of what was sent, and checks of it against what the
//! destination reports. Pure: the JS glue (pkg/monitor.js) stores the record, fetches the
//! reported figures (the requests `plan` lists) and posts the webhook; everything that decides
//! lives here so it is tested natively. Design and the API fields relied on: docs/monitoring.md.
//!
//! The record counts sent items by (destination slug, target, event type, UTC day):
//! - conversions: target = pixel / Snap app id, event type = the API's event name (`PURCHASE`);
//! - audiences: target = the audience key, event type `add` or `remove`.

use crate::engine::{HttpRequest, Plan, Prepared};
use crate::error::{ErrorCode, EventError};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const RECORD_VERSION: u64 = 1;
pub const SNAP_CAPI: &str = "snap-conversions-api";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub destination: String,
    pub target: String,
    pub event_type: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Items the destination accepted.
    pub delivered: u64,
    /// Items sent but not accepted (after retries).
    pub failed: u64,
}

/// Counts of sent items; merging adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub entries: BTreeMap<Key, Tally>,
}

fn config_error(field: impl Into<String>, message: impl Into<String>) -> EventError {
    EventError::new(ErrorCode::InvalidConfig, message).with_field(field)
}

impl Record {
    pub fn add(&mut self, key: Key, delivered: u64, failed: u64) {
        let t = self.entries.entry(key).or_default();
        t.delivered = t.delivered.saturating_add(delivered);
        t.failed = t.failed.saturating_add(failed);
    }

    pub fn merge(&mut self, other: &Record) {
        for (k, t) in &other.entries {
            self.add(k.clone(), t.delivered, t.failed);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .entries
            .iter()
            .map(|(k, t)| {
                json!({"destination": k.destination, "target": k.target, "eventType": k.event_type, "day": k.day,
                       "delivered": t.delivered, "failed": t.failed})
            })
            .collect();
        json!({"version": RECORD_VERSION, "entries": rows})
    }

    /// A stored record; `null` is the empty record. Errors name the entry and field.
    pub fn from_json(v: &Value) -> Result<Record, EventError> {
        let mut r = Record::default();
        if v.is_null() {
            return Ok(r);
        }
        let version = v.get("version").and_then(Value::as_u64);
        if version != Some(RECORD_VERSION) {
            return Err(config_error("record.version", format!("the record must have version {RECORD_VERSION}")));
        }
        let Some(rows) = v.get("entries").and_then(Value::as_array) else {
            return Err(config_error("record.entries", "the record's entries must be an array"));
        };
        for (i, row) in rows.iter().enumerate() {
            let o = Obj::new(row, format!("record.entries[{i}]"))?;
            o.only(&["destination", "target", "eventType", "day", "delivered", "failed"])?;
            let day = o.req_str("day")?;
            if parse_day(&day).is_none() {
                return Err(config_error(o.field("day"), "day must be YYYY-MM-DD"));
            }
            let count = |k: &str| o.num(k, |x| x >= 0.0 && x.fract() == 0.0, "a whole number >= 0").map(|x| x.unwrap_or(0.0) as u64);
            let key = Key { destination: o.req_str("destination")?, target: o.req_str("target")?, event_type: o.req_str("eventType")?, day };
            r.add(key, count("delivered")?, count("failed")?);
        }
        Ok(r)
    }

    fn delivered(&self, destination: &str, target: &str, event_type: &str, day: &str) -> u64 {
        self.entries
            .iter()
            .filter(|(k, _)| k.destination == destination && k.target == target && k.event_type == event_type && k.day == day)
            .map(|(_, t)| t.delivered)
            .sum()
    }

    /// Event types delivered for (destination, target) on `day`.
    fn event_types(&self, destination: &str, target: &str, day: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .keys()
            .filter(|k| k.destination == destination && k.target == target && k.day == day)
            .map(|k| k.event_type.clone())
            .collect();
        v.dedup();
        v
    }

    /// Net members an audience should have at the end of `day`: adds minus removes delivered
    /// on or before it.
    fn audience_net(&self, destination: &str, audience: &str, day: &str) -> i64 {
        let mut net: i64 = 0;
        for (k, t) in &self.entries {
            if k.destination != destination || k.target != audience || k.day.as_str() > day {
                continue;
            }
            let n = i64::try_from(t.delivered).unwrap_or(i64::MAX);
            match k.event_type.as_str() {
                "add" => net = net.saturating_add(n),
                "remove" => net = net.saturating_sub(n),
                _ => {}
            }
        }
        net
    }
}

// ---------------------------------------------------------------------------------------------
// Days

/// Days since 1970-01-01 -> (year, month, day) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The UTC day of a time in milliseconds since the epoch.
pub fn day_of_ms(ms: f64) -> String {
    let days = (ms / 86_400_000.0).floor() as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` -> milliseconds at its UTC midnight.
pub fn parse_day(day: &str) -> Option<i64> {
    let b = day.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let ms = crate::time::parse_date_ms(&format!("{day}T00:00:00Z"))?;
    // parse_date_ms accepts 2026-02-30 like Date.parse does not; round-trip to reject it.
    (day_of_ms(ms as f64) == day).then_some(ms)
}

fn next_day(day: &str) -> String {
    day_of_ms(parse_day(day).unwrap_or(0) as f64 + 86_400_000.0)
}

/// The day an item counts for: its event time when it carries one (Snap reports conversions
/// by event time, and events up to 37 days old are accepted), else the send time.
fn item_day(body: &Value, now_ms: f64) -> String {
    let t = body.get("event_time").or_else(|| body.get("timestamp")).or_else(|| body.get("time"));
    let ms = match t {
        // Snap's examples use seconds, Segment (and we) send milliseconds.
        Some(Value::Number(n)) => n.as_f64().map(|x| if x.abs() < 1e11 { x * 1000.0 } else { x }),
        Some(Value::String(s)) => crate::time::parse_date_ms(s).map(|x| x as f64),
        _ => None,
    };
    day_of_ms(ms.filter(|x| x.is_finite()).unwrap_or(now_ms))
}

// ---------------------------------------------------------------------------------------------
// From a send to the record

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn str_field<'a>(body: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| body.get(*k).and_then(Value::as_str)).filter(|s| !s.is_empty())
}

pub const SNAP_AUDIENCES: &str = "snap-audiences";
pub const BRAZE_COHORTS: &str = "braze-cohorts";

/// (target, event type) of one sent entry, or `None` when it is not counted. `item_target` is
/// the entry's own target (its group), `request` the first request that carried it, `item` its
/// element of that request's body (`Null` when the body does not hold one per entry).
/// - Snap CAPI: `/v3/{id}/events` and the item's `event_name`; Snap's test-mode `/validate`
///   endpoint records nothing, so it is not counted.
/// - snap-audiences: the segment id of `/v1/segments/{id}/users` (or the audience name of a
///   segment found by name), `add` for POST and `remove` for DELETE; lookalike creation is not
///   counted.
/// - Others (the contract for new destinations, docs/monitoring.md): the item's `audience_id` /
///   `segment_id` / `cohort_id` / `audience`, else the request path; its `action` / `event_name` /
///   `event_type` / `name`, else `event`.
pub fn sent_key(destination: &str, item_target: &str, request: &HttpRequest, request_target: &str, item: &Value) -> Option<(String, String)> {
    let path = request_target.split('?').next().unwrap_or(request_target);
    match destination {
        SNAP_CAPI => {
            let mut segs = path.trim_start_matches('/').split('/');
            let (_version, id, rest) = (segs.next()?, segs.next()?, segs.collect::<Vec<_>>());
            if rest.contains(&"validate") {
                return None;
            }
            let event = str_field(item, &["event_name", "event_type"]).unwrap_or("event");
            Some((percent_decode(id), event.to_string()))
        }
        SNAP_AUDIENCES => {
            let audience = match item_target.strip_prefix("named\n") {
                Some(name) => name.to_string(),
                None => percent_decode(item_target.strip_prefix("/v1/segments/")?.strip_suffix("/users")?),
            };
            Some((audience, if request.method == "DELETE" { "remove" } else { "add" }.to_string()))
        }
        _ => {
            let target = str_field(item, &["audience_id", "segment_id", "cohort_id", "audience"]).map_or_else(|| path.to_string(), str::to_string);
            let event = str_field(item, &["action", "event_name", "event_type", "name"]).unwrap_or("event");
            Some((target, event.to_string()))
        }
    }
}

/// The items of a request body in entry order: the body itself when it is an array of `n`, or
/// its one array member of length `n` (Snap's `{"data": [...]}`).
fn items_of(body: &Value, n: usize) -> Option<&Vec<Value>> {
    match body {
        Value::Array(a) if a.len() == n => Some(a),
        Value::Object(m) => {
            let mut arrays = m.values().filter_map(Value::as_array).filter(|a| a.len() == n);
            let first = arrays.next()?;
            arrays.next().is_none().then_some(first)
        }
        _ => None,
    }
}

/// `Some(delivered)` for an entry that was sent, `None` for one never sent (rejected, skipped).
fn outcome(line: Option<&Value>) -> Option<bool> {
    let line = line?;
    let delivered = line.get("delivered") == Some(&Value::Bool(true));
    (delivered || line.get("attempts").and_then(Value::as_u64).unwrap_or(0) > 0).then_some(delivered)
}

/// The record of one send: `lines` are `send`'s result lines (one per prepared entry of `plan`,
/// in order). Delivered lines count as delivered, lines with attempts as failed; entries never
/// sent (rejected, skipped) are not counted. Each entry counts once, under the first request
/// that carried it, except for Braze cohorts, whose requests are counted instead (below).
pub fn record_of_send(destination: &str, plan: &Plan, lines: &[Value], now_ms: f64) -> Record {
    if destination == BRAZE_COHORTS {
        return braze_cohorts_record(plan, lines, now_ms);
    }
    let mut r = Record::default();
    let mut first: Vec<Option<(usize, usize)>> = vec![None; plan.prepared.len()];
    for (b, batch) in plan.batches.iter().enumerate() {
        for (k, &e) in batch.entries.iter().enumerate() {
            if let Some(slot @ None) = first.get_mut(e) {
                *slot = Some((b, k));
            }
        }
    }
    // Request bodies are JSON text; each is read once, when the first of its entries is.
    let mut bodies: Vec<Option<Value>> = vec![None; plan.batches.len()];
    for (e, prep) in plan.prepared.iter().enumerate() {
        let (Prepared::Item { item: entry, .. }, Some((b, k))) = (prep, first[e]) else { continue };
        let Some(delivered) = outcome(lines.get(e)) else { continue };
        let batch = &plan.batches[b];
        let body = bodies[b].get_or_insert_with(|| serde_json::from_str(&batch.request.body).unwrap_or(Value::Null));
        let item = items_of(body, batch.entries.len()).and_then(|a| a.get(k)).unwrap_or(&Value::Null);
        let Some((target, event_type)) = sent_key(destination, &entry.target, &batch.request, &batch.target, item) else { continue };
        let key = Key { destination: destination.to_string(), target, event_type, day: item_day(item, now_ms) };
        r.add(key, u64::from(delivered), u64::from(!delivered));
    }
    r
}

/// Braze cohorts: an entry's item (with its change) is folded into requests that drop replays
/// and take each user once, so the members added and removed are read from the requests. A
/// cohort update (`/partners/segment/cohorts/users`) counts the ids of its `cohort_changes`
/// (`should_remove`: removed) under the cohort name of its entries' group
/// (`cohort\n{id}\n{name}`); a custom-attribute update (`/users/track`) counts each user's
/// boolean attribute under the attribute's name (true: added). A request counts as delivered
/// when every entry it carried was; failed when one was sent and is not. Day: the send's.
fn braze_cohorts_record(plan: &Plan, lines: &[Value], now_ms: f64) -> Record {
    let mut r = Record::default();
    let day = day_of_ms(now_ms);
    for batch in &plan.batches {
        let outcomes: Vec<Option<bool>> = batch.entries.iter().map(|&e| outcome(lines.get(e))).collect();
        if outcomes.iter().all(Option::is_none) {
            continue;
        }
        let delivered = outcomes.iter().all(|o| *o == Some(true));
        let mut count = |audience: &str, event_type: &str, n: u64| {
            let key = Key { destination: BRAZE_COHORTS.into(), target: audience.into(), event_type: event_type.into(), day: day.clone() };
            if delivered { r.add(key, n, 0) } else { r.add(key, 0, n) }
        };
        let body: Value = serde_json::from_str(&batch.request.body).unwrap_or(Value::Null);
        match batch.target.as_str() {
            "/partners/segment/cohorts/users" => {
                let group = batch.entries.first().and_then(|&e| match plan.prepared.get(e) {
                    Some(Prepared::Item { item, .. }) => Some(item.target.as_str()),
                    _ => None,
                });
                let Some(name) = group.and_then(|g| g.splitn(3, '\n').nth(2)) else { continue };
                for change in body.get("cohort_changes").and_then(Value::as_array).into_iter().flatten() {
                    let ids: usize = ["user_ids", "device_ids", "aliases"].iter().filter_map(|k| change.get(*k)?.as_array().map(Vec::len)).sum();
                    let removed = change.get("should_remove") == Some(&Value::Bool(true));
                    count(name, if removed { "remove" } else { "add" }, ids as u64);
                }
            }
            "/users/track" => {
                for object in body.get("attributes").and_then(Value::as_array).into_iter().flatten() {
                    for (attribute, v) in object.as_object().into_iter().flatten() {
                        if let Value::Bool(b) = v {
                            count(attribute, if *b { "add" } else { "remove" }, 1);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Configuration of the checks

// Parsed by hand rather than with serde's derive: the derive's deserializers cost about 20 KB of
// wasm for a configuration read once per run.

/// A JSON object being read, with its path for error messages.
struct Obj<'a> {
    m: &'a Map<String, Value>,
    at: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, at: impl Into<String>) -> Result<Obj<'a>, EventError> {
        let at = at.into();
        match v.as_object() {
            Some(m) => Ok(Obj { m, at }),
            None => Err(config_error(at.clone(), format!("{at} must be an object"))),
        }
    }
    fn field(&self, k: &str) -> String {
        if self.at.is_empty() { k.to_string() } else { format!("{}.{k}", self.at) }
    }
    fn err(&self, k: &str, what: &str) -> EventError {
        let f = self.field(k);
        config_error(f.clone(), format!("{f} must be {what}"))
    }
    fn only(&self, keys: &[&str]) -> Result<(), EventError> {
        match self.m.keys().find(|k| !keys.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => {
                let f = self.field(k);
                Err(config_error(f.clone(), format!("{f}: unknown field (known: {})", keys.join(", "))))
            }
        }
    }
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.m.get(k).filter(|v| !v.is_null())
    }
    fn str(&self, k: &str) -> Result<Option<String>, EventError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(self.err(k, "a non-empty string")),
        }
    }
    fn req_str(&self, k: &str) -> Result<String, EventError> {
        self.str(k)?.ok_or_else(|| self.err(k, "a non-empty string (it is required)"))
    }
    fn num(&self, k: &str, ok: impl Fn(f64) -> bool, what: &str) -> Result<Option<f64>, EventError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v.as_f64().filter(|x| x.is_finite() && ok(*x)).map(Some).ok_or_else(|| self.err(k, what)),
        }
    }
    fn strings(&self, k: &str) -> Result<Option<Vec<String>>, EventError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| self.err(k, "an array of strings")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.err(k, "an array of strings")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Alert when |reported - expected| exceeds this fraction of what was expected ...
    pub relative: f64,
    /// ... and is at least this many (small numbers are noisy).
    pub absolute: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { relative: 0.1, absolute: 5 }
    }
}

impl Thresholds {
    fn read(o: &Obj, k: &str, base: Thresholds) -> Result<Option<Thresholds>, EventError> {
        let Some(v) = o.get(k) else { return Ok(None) };
        let t = Obj::new(v, o.field(k))?;
        t.only(&["relative", "absolute"])?;
        Ok(Some(Thresholds {
            relative: t.num("relative", |x| x >= 0.0, "a number >= 0 (0.1 = 10%)")?.unwrap_or(base.relative),
            absolute: t.num("absolute", |x| x >= 0.0 && x.fract() == 0.0, "a whole number >= 0")?.map_or(base.absolute, |x| x as u64),
        }))
    }
}

#[derive(Debug, Clone)]
pub struct ConversionCheck {
    /// Pixel or Snap app id, as in the destination's settings.
    pub pixel_id: String,
    pub destination: String,
    /// Event types to compare (default: every type sent that day that has a stats field).
    pub event_types: Option<Vec<String>>,
    /// Extra or overriding event type -> Snap stats field names.
    pub fields: BTreeMap<String, String>,
    /// Read the stats of this ad account instead of the pixel's.
    pub ad_account_id: Option<String>,
    pub thresholds: Option<Thresholds>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceSource {
    SnapSegment,
    BrazeSegment,
}

#[derive(Debug, Clone)]
pub struct AudienceCheck {
    /// The destination slug that syncs the audience (`snap-audiences`, `braze-cohorts`).
    pub destination: String,
    /// The audience key in the record (default: `id`).
    pub audience: Option<String>,
    /// Where its size is read: a Snap segment or a Braze segment.
    pub source: AudienceSource,
    /// The segment id at the source.
    pub id: String,
    /// Members before the record began.
    pub baseline: i64,
    /// The share of sent identifiers the destination is expected to match (Snap reports
    /// matched users only).
    pub match_rate: f64,
    /// Snap segment statuses that are fine (default `["ACTIVE"]`; empty: not checked).
    pub expect_status: Option<Vec<String>>,
    pub thresholds: Option<Thresholds>,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub thresholds: Thresholds,
    pub conversions: Vec<ConversionCheck>,
    pub audiences: Vec<AudienceCheck>,
}

fn list<'a>(o: &Obj<'a>, k: &str) -> Result<&'a [Value], EventError> {
    match o.get(k) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(o.err(k, "an array")),
    }
}

impl Config {
    /// Keys the JS glue reads (store, snap, braze, webhook, retry) are not checked here.
    pub fn from_json(v: &Value) -> Result<Config, EventError> {
        if !v.is_object() {
            return Err(config_error("monitor", "the monitor configuration must be a JSON object"));
        }
        let top = Obj::new(v, "")?;
        let mut c = Config { thresholds: Thresholds::read(&top, "thresholds", Thresholds::default())?.unwrap_or_default(), ..Config::default() };
        for (i, item) in list(&top, "conversions")?.iter().enumerate() {
            let o = Obj::new(item, format!("conversions[{i}]"))?;
            o.only(&["pixelId", "destination", "eventTypes", "fields", "adAccountId", "thresholds"])?;
            let mut fields = BTreeMap::new();
            if let Some(f) = o.get("fields") {
                let fo = Obj::new(f, o.field("fields"))?;
                for k in fo.m.keys() {
                    fields.insert(k.clone(), fo.req_str(k)?);
                }
            }
            c.conversions.push(ConversionCheck {
                pixel_id: o.req_str("pixelId")?,
                destination: o.str("destination")?.unwrap_or_else(|| SNAP_CAPI.into()),
                event_types: o.strings("eventTypes")?,
                fields,
                ad_account_id: o.str("adAccountId")?,
                thresholds: Thresholds::read(&o, "thresholds", c.thresholds)?,
            });
        }
        for (i, item) in list(&top, "audiences")?.iter().enumerate() {
            let o = Obj::new(item, format!("audiences[{i}]"))?;
            o.only(&["destination", "audience", "source", "id", "baseline", "matchRate", "expectStatus", "thresholds"])?;
            let source = match o.req_str("source")?.as_str() {
                "snap-segment" => AudienceSource::SnapSegment,
                "braze-segment" => AudienceSource::BrazeSegment,
                _ => return Err(o.err("source", "\"snap-segment\" or \"braze-segment\"")),
            };
            c.audiences.push(AudienceCheck {
                destination: o.req_str("destination")?,
                audience: o.str("audience")?,
                source,
                id: o.req_str("id")?,
                baseline: o.num("baseline", |x| x.fract() == 0.0, "a whole number")?.map_or(0, |x| x as i64),
                match_rate: o.num("matchRate", |x| x > 0.0 && x <= 1.0, "a number in (0, 1]")?.unwrap_or(1.0),
                expect_status: o.strings("expectStatus")?,
                thresholds: Thresholds::read(&o, "thresholds", c.thresholds)?,
            });
        }
        Ok(c)
    }
}

/// Snap Marketing API stats field of a standard Conversions API event type
/// (docs/monitoring.md lists the source); others can be named in a check's `fields`.
pub fn snap_stats_field(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "PURCHASE" => "conversion_purchases",
        "ADD_CART" => "conversion_add_cart",
        "PAGE_VIEW" => "conversion_page_views",
        "SIGN_UP" => "conversion_sign_ups",
        "VIEW_CONTENT" => "conversion_view_content",
        "START_CHECKOUT" => "conversion_start_checkout",
        "ADD_BILLING" => "conversion_add_billing",
        "SAVE" => "conversion_save",
        "SEARCH" => "conversion_searches",
        "LEVEL_COMPLETE" => "conversion_level_completes",
        "APP_OPEN" => "conversion_app_opens",
        "START_TRIAL" => "conversion_start_trial",
        "SUBSCRIBE" => "conversion_subscribe",
        "LIST_VIEW" => "conversion_list_view",
        "INVITE" => "conversion_invite",
        "LOGIN" => "conversion_login",
        "SHARE" => "conversion_share",
        "RESERVE" => "conversion_reserve",
        "RATE" => "conversion_rate",
        "ACHIEVEMENT_UNLOCKED" => "conversion_achievement_unlocked",
        "ADD_TO_WISHLIST" => "conversion_add_to_wishlist",
        "COMPLETE_TUTORIAL" => "conversion_complete_tutorial",
        "SPENT_CREDITS" => "conversion_spent_credits",
        "CUSTOM_EVENT_1" => "custom_event_1",
        "CUSTOM_EVENT_2" => "custom_event_2",
        "CUSTOM_EVENT_3" => "custom_event_3",
        "CUSTOM_EVENT_4" => "custom_event_4",
        "CUSTOM_EVENT_5" => "custom_event_5",
        _ => return None,
    })
}

/// (event type, stats field or None) to compare for a conversions check on `day`.
fn conversion_types(c: &ConversionCheck, record: &Record, day: &str) -> Vec<(String, Option<String>)> {
    let types = match &c.event_types {
        Some(t) => t.clone(),
        None => record.event_types(&c.destination, &c.pixel_id, day),
    };
    types
        .into_iter()
        .map(|t| {
            let f = c.fields.get(&t).cloned().or_else(|| snap_stats_field(&t).map(str::to_string));
            (t, f)
        })
        .collect()
}

/// Query string from (name, value) pairs, percent-encoding values.
fn query(pairs: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

fn path_seg(s: &str) -> String {
    query(&[("x", s.to_string())])[2..].to_string()
}

/// The reads a run needs: `[{id, api: "snap" | "braze", path}]`, `path` with its query, on
/// the API's origin. The JS glue fetches them and hands the bodies to `evaluate`.
pub fn plan(cfg: &Config, record: &Record, day: &str) -> Result<Value, EventError> {
    parse_day(day).ok_or_else(|| config_error("day", "day must be YYYY-MM-DD"))?;
    let mut reqs = Vec::new();
    for (i, c) in cfg.conversions.iter().enumerate() {
        let mut fields: Vec<String> = conversion_types(c, record, day).into_iter().filter_map(|(_, f)| f).collect();
        fields.sort();
        fields.dedup();
        if fields.is_empty() {
            continue;
        }
        let entity = match &c.ad_account_id {
            Some(a) => format!("/v1/adaccounts/{}/stats", path_seg(a)),
            None => format!("/v1/pixels/{}/stats", path_seg(&c.pixel_id)),
        };
        let q = query(&[
            ("granularity", "DAY".into()),
            ("fields", fields.join(",")),
            ("start_time", format!("{day}T00:00:00.000Z")),
            ("end_time", format!("{}T00:00:00.000Z", next_day(day))),
        ]);
        reqs.push(json!({"id": format!("conversions[{i}]"), "api": "snap", "path": format!("{entity}?{q}")}));
    }
    for (i, a) in cfg.audiences.iter().enumerate() {
        let (api, path) = match a.source {
            AudienceSource::SnapSegment => ("snap", format!("/v1/segments/{}", path_seg(&a.id))),
            AudienceSource::BrazeSegment => (
                "braze",
                format!("/segments/data_series?{}", query(&[("segment_id", a.id.clone()), ("length", "1".into()), ("ending_at", format!("{day}T23:59:59Z"))])),
            ),
        };
        reqs.push(json!({"id": format!("audiences[{i}]"), "api": api, "path": path}));
    }
    Ok(Value::Array(reqs))
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// Whether a difference is a discrepancy: above `relative` of what was expected and at least
/// `absolute`. Nothing expected and something reported counts once it reaches `absolute`.
pub fn exceeds(expected: i64, reported: i64, t: &Thresholds) -> bool {
    let diff = (reported - expected).unsigned_abs();
    if diff < t.absolute.max(1) {
        return false;
    }
    expected <= 0 || diff as f64 > t.relative * expected as f64
}

/// The change in percent with one decimal, `+3.3%`. Integer arithmetic: Rust's float formatting
/// would add its own code to the wasm for this one string.
fn pct(expected: i64, reported: i64) -> String {
    if expected == 0 {
        return "n/a".into();
    }
    let tenths = ((reported - expected) as f64 * 1000.0 / expected as f64).round() as i64;
    let sign = if tenths < 0 { '-' } else { '+' };
    format!("{sign}{}.{}%", tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10)
}

fn num(v: Option<&Value>) -> Option<f64> {
    v?.as_f64().filter(|x| x.is_finite())
}

/// Sum of a stats field over every stats object in a Snap stats response (DAY timeseries or
/// TOTAL). `None` when the response has no stats at all.
fn snap_stat(body: &Value, field: &str) -> Option<i64> {
    let mut found = false;
    let mut sum = 0.0;
    let mut add = |stats: &Value| {
        found = true;
        sum += num(stats.get(field)).unwrap_or(0.0);
    };
    for s in body.get("timeseries_stats").and_then(Value::as_array).into_iter().flatten() {
        for e in s.pointer("/timeseries_stat/timeseries").and_then(Value::as_array).into_iter().flatten() {
            if let Some(st) = e.get("stats") {
                add(st);
            }
        }
    }
    for s in body.get("total_stats").and_then(Value::as_array).into_iter().flatten() {
        if let Some(st) = s.pointer("/total_stat/stats") {
            add(st);
        }
    }
    found.then(|| sum.round() as i64)
}

/// (approximate_number_users, status) of a Snap `GET /v1/segments/{id}` response.
fn snap_segment(body: &Value) -> Option<(i64, Option<String>)> {
    let seg = body.pointer("/segments/0/segment").or_else(|| body.get("segment"))?;
    let size = num(seg.get("approximate_number_users"))?.round() as i64;
    Some((size, seg.get("status").and_then(Value::as_str).map(str::to_string)))
}

/// The size on `day` (else the latest) of a Braze `/segments/data_series` response.
fn braze_size(body: &Value, day: &str) -> Option<i64> {
    let data = body.get("data")?.as_array()?;
    let on_day = data.iter().find(|d| d.get("time").and_then(Value::as_str).is_some_and(|t| t.starts_with(day)));
    let d = on_day.or_else(|| data.last())?;
    num(d.get("size")).map(|x| x.round() as i64)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub kind: &'static str,
    pub destination: String,
    pub target: String,
    #[serde(rename = "eventType", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub day: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `ok`, `alert` (a discrepancy), `error` (could not check) or `skipped` (not comparable).
    pub result: &'static str,
    pub line: String,
}

fn response<'a>(responses: &'a Value, id: &str) -> Result<&'a Value, String> {
    match responses.get(id) {
        None => Err("no response".into()),
        Some(r) => match r.get("error") {
            Some(e) => Err(e.as_str().map_or_else(|| e.to_string(), str::to_string)),
            None => r.get("body").ok_or_else(|| "no response body".to_string()),
        },
    }
}

fn threshold_text(t: &Thresholds) -> String {
    format!("threshold {}% and at least {}", crate::js::number_to_string((t.relative * 100.0 * 1e6).round() / 1e6), t.absolute.max(1))
}

/// Compares the record with the reported figures. `responses` maps each `plan` request id to
/// `{"body": <parsed JSON>}` or `{"error": "<message>"}` (never secrets: the glue builds it).
pub fn evaluate(cfg: &Config, record: &Record, day: &str, responses: &Value) -> Result<Value, EventError> {
    parse_day(day).ok_or_else(|| config_error("day", "day must be YYYY-MM-DD"))?;
    let mut findings: Vec<Finding> = Vec::new();
    for (i, c) in cfg.conversions.iter().enumerate() {
        let t = c.thresholds.unwrap_or(cfg.thresholds);
        let id = format!("conversions[{i}]");
        let base = |event_type: &str| Finding {
            kind: "conversions",
            destination: c.destination.clone(),
            target: c.pixel_id.clone(),
            event_type: Some(event_type.to_string()),
            day: day.to_string(),
            sent: None,
            expected: None,
            reported: None,
            status: None,
            result: "ok",
            line: String::new(),
        };
        let types = conversion_types(c, record, day);
        let body = if types.iter().any(|(_, f)| f.is_some()) { Some(response(responses, &id)) } else { None };
        for (et, field) in types {
            let sent = i64::try_from(record.delivered(&c.destination, &c.pixel_id, &et, day)).unwrap_or(i64::MAX);
            let mut f = base(&et);
            f.sent = Some(sent);
            let head = format!("conversions {} pixel {} {et} {day}", c.destination, c.pixel_id);
            match (field, &body) {
                (None, _) => {
                    f.result = "skipped";
                    f.line = format!("SKIP {head}: no Snap stats field for this event type (name one in `fields`)");
                }
                (_, Some(Err(e))) => {
                    f.result = "error";
                    f.line = format!("ERROR {head}: could not read Snap stats: {e}");
                }
                (Some(field), Some(Ok(b))) => match snap_stat(b, &field) {
                    None => {
                        f.result = "error";
                        f.line = format!("ERROR {head}: the Snap stats response has no stats");
                    }
                    Some(reported) => {
                        f.reported = Some(reported);
                        let alert = exceeds(sent, reported, &t);
                        f.result = if alert { "alert" } else { "ok" };
                        f.line = format!(
                            "{} {head}: sent {sent}, Snap reports {reported} ({:+}, {}; {})",
                            if alert { "ALERT" } else { "OK" },
                            reported - sent,
                            pct(sent, reported),
                            threshold_text(&t)
                        );
                    }
                },
                (Some(_), None) => unreachable!("a response is read when a type has a field"),
            }
            findings.push(f);
        }
    }
    for (i, a) in cfg.audiences.iter().enumerate() {
        let t = a.thresholds.unwrap_or(cfg.thresholds);
        let audience = a.audience.clone().unwrap_or_else(|| a.id.clone());
        let net = record.audience_net(&a.destination, &audience, day);
        let expected = a.baseline.saturating_add(((net as f64) * a.match_rate).round() as i64);
        let mut f = Finding {
            kind: "audience",
            destination: a.destination.clone(),
            target: audience.clone(),
            event_type: None,
            day: day.to_string(),
            sent: Some(net),
            expected: Some(expected),
            reported: None,
            status: None,
            result: "ok",
            line: String::new(),
        };
        let (src, what) = match a.source {
            AudienceSource::SnapSegment => ("Snap", "segment"),
            AudienceSource::BrazeSegment => ("Braze", "segment"),
        };
        let head = format!("audience {} {audience} ({src} {what} {}) {day}", a.destination, a.id);
        let parsed = response(responses, &format!("audiences[{i}]")).and_then(|b| match a.source {
            AudienceSource::SnapSegment => snap_segment(b).ok_or_else(|| "the response has no segment size".to_string()),
            AudienceSource::BrazeSegment => braze_size(b, day).map(|s| (s, None)).ok_or_else(|| "the response has no size series".to_string()),
        });
        match parsed {
            Err(e) => {
                f.result = "error";
                f.line = format!("ERROR {head}: could not read the size: {e}");
            }
            Ok((size, status)) => {
                f.reported = Some(size);
                f.status = status.clone();
                let ok_statuses = a.expect_status.clone().unwrap_or_else(|| vec!["ACTIVE".into()]);
                let bad_status = match (&status, a.source) {
                    (Some(s), AudienceSource::SnapSegment) => !ok_statuses.is_empty() && !ok_statuses.contains(s),
                    _ => false,
                };
                let drift = exceeds(expected, size, &t);
                f.result = if drift || bad_status { "alert" } else { "ok" };
                let status_text = match &status {
                    Some(s) if bad_status => format!(", status {s} (expected {})", ok_statuses.join(" or ")),
                    Some(s) => format!(", status {s}"),
                    None => String::new(),
                };
                f.line = format!(
                    "{} {head}: expected {expected} (net sent {net}), {src} reports {size} ({:+}, {}; {}){status_text}",
                    if f.result == "alert" { "ALERT" } else { "OK" },
                    size - expected,
                    pct(expected, size),
                    threshold_text(&t)
                );
            }
        }
        findings.push(f);
    }
    let count = |r: &str| findings.iter().filter(|f| f.result == r).count();
    let (alerts, errors) = (count("alert"), count("error"));
    let problems: Vec<&str> = findings.iter().filter(|f| f.result == "alert" || f.result == "error").map(|f| f.line.as_str()).collect();
    let webhook = (!problems.is_empty()).then(|| slack_payload(day, alerts, errors, &problems));
    Ok(json!({
        "day": day,
        "ok": alerts == 0 && errors == 0,
        "alerts": alerts,
        "errors": errors,
        "findings": findings,
        "webhook": webhook,
    }))
}

/// A Slack incoming-webhook message (`text`, with `blocks` for the layout).
pub fn slack_payload(day: &str, alerts: usize, errors: usize, lines: &[&str]) -> Value {
    let title = format!("edge-actions monitor {day}: {alerts} discrepanc{} and {errors} check{} that could not run", if alerts == 1 { "y" } else { "ies" }, if errors == 1 { "" } else { "s" });
    let body: String = lines.iter().map(|l| format!("• {l}\n")).collect();
    let mut section = Map::new();
    section.insert("type".into(), json!("section"));
    section.insert("text".into(), json!({"type": "mrkdwn", "text": format!("*{title}*\n{body}")}));
    json!({"text": format!("{title}\n{body}"), "blocks": [Value::Object(section)]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Batch, HttpRequest, Prepared};

    fn key(d: &str, t: &str, e: &str, day: &str) -> Key {
        Key { destination: d.into(), target: t.into(), event_type: e.into(), day: day.into() }
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(day_of_ms(0.0), "1970-01-01");
        assert_eq!(day_of_ms(1_764_460_799_999.0), "2025-11-29");
        assert_eq!(day_of_ms(1_764_460_800_000.0), "2025-11-30");
        assert_eq!(day_of_ms(951_782_400_000.0), "2000-02-29");
        assert_eq!(parse_day("2025-11-30"), Some(1_764_460_800_000));
        assert_eq!(parse_day("2025-02-30"), None);
        assert_eq!(parse_day("2025-1-30"), None);
        assert_eq!(next_day("2024-12-31"), "2025-01-01");
        // Seconds and milliseconds, strings, and the send time as the fallback.
        assert_eq!(item_day(&json!({"event_time": 1_764_460_800}), 0.0), "2025-11-30");
        assert_eq!(item_day(&json!({"event_time": 1_764_460_799_000i64}), 0.0), "2025-11-29");
        assert_eq!(item_day(&json!({"timestamp": "2025-11-30T23:59:59Z"}), 0.0), "2025-11-30");
        assert_eq!(item_day(&json!({}), 1_764_460_800_000.0), "2025-11-30");
    }

    #[test]
    fn records_merge_and_round_trip() {
        let mut a = Record::default();
        a.add(key(SNAP_CAPI, "px", "PURCHASE", "2025-11-30"), 3, 1);
        let mut b = Record::default();
        b.add(key(SNAP_CAPI, "px", "PURCHASE", "2025-11-30"), 2, 0);
        b.add(key("snap-audiences", "seg", "add", "2025-11-29"), 7, 0);
        a.merge(&b);
        assert_eq!(a.entries[&key(SNAP_CAPI, "px", "PURCHASE", "2025-11-30")], Tally { delivered: 5, failed: 1 });
        let j = a.to_json();
        assert_eq!(
            j,
            json!({"version": 1, "entries": [
                {"destination": "snap-audiences", "target": "seg", "eventType": "add", "day": "2025-11-29", "delivered": 7, "failed": 0},
                {"destination": SNAP_CAPI, "target": "px", "eventType": "PURCHASE", "day": "2025-11-30", "delivered": 5, "failed": 1},
            ]})
        );
        assert_eq!(Record::from_json(&j).unwrap(), a);
        assert_eq!(Record::from_json(&Value::Null).unwrap(), Record::default());
    }

    #[test]
    fn bad_records_name_the_field() {
        let e = Record::from_json(&json!({"version": 2, "entries": []})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("record.version"));
        let e = Record::from_json(&json!({"version": 1, "entries": {}})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("record.entries"));
        let e = Record::from_json(&json!({"version": 1, "entries": [{"destination": "d", "target": "t", "eventType": "E", "day": "2025-13-01"}]})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("record.entries[0].day"));
        let e = Record::from_json(&json!({"version": 1, "entries": [{"destination": "d", "target": "t", "eventType": "E", "day": "2025-12-01", "delivered": -1}]})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("record.entries[0].delivered"));
        assert_eq!(e.message, "record.entries[0].delivered must be a whole number >= 0");
        assert_eq!(e.code, ErrorCode::InvalidConfig);
    }

    #[test]
    fn sent_keys() {
        let req = |method: &'static str| HttpRequest { method, url: String::new(), headers: Map::new(), body: String::new() };
        let item = json!({"event_name": "PURCHASE", "event_time": 1});
        let t = "/v3/px%2F1/events";
        assert_eq!(sent_key(SNAP_CAPI, t, &req("POST"), t, &item), Some(("px/1".into(), "PURCHASE".into())));
        let t = "/v3/px/events/validate";
        assert_eq!(sent_key(SNAP_CAPI, t, &req("POST"), t, &item), None, "test mode is not recorded by Snap");
        // snap-audiences: the segment from the entry's group, the change from the method.
        let users = "/v1/segments/s%201/users";
        assert_eq!(sent_key(SNAP_AUDIENCES, users, &req("POST"), users, &Value::Null), Some(("s 1".into(), "add".into())));
        assert_eq!(sent_key(SNAP_AUDIENCES, users, &req("DELETE"), users, &Value::Null), Some(("s 1".into(), "remove".into())));
        assert_eq!(sent_key(SNAP_AUDIENCES, "named\nhigh_ltv", &req("DELETE"), "/v1/segments/{segment}/users", &Value::Null), Some(("high_ltv".into(), "remove".into())));
        assert_eq!(sent_key(SNAP_AUDIENCES, "/v1/adaccounts/a/segments", &req("POST"), "/v1/adaccounts/a/segments", &Value::Null), None, "lookalike creation");
        // The generic contract.
        assert_eq!(sent_key("other", "/x", &req("POST"), "/x", &json!({"audience_id": "s1", "action": "remove"})), Some(("s1".into(), "remove".into())));
        assert_eq!(sent_key("other", "/x/y?z=1", &req("POST"), "/x/y?z=1", &json!({})), Some(("/x/y".into(), "event".into())));
    }

    fn line(delivered: bool, attempts: u64) -> Value {
        json!({"messageId": "m", "delivered": delivered, "attempts": attempts, "status": if delivered { json!(200) } else { Value::Null }})
    }

    // The only places that build engine values: one to adjust if their shape changes.
    fn batch(entries: Vec<usize>, target: &str, method: &'static str, body: Value) -> Batch {
        let request = HttpRequest { method, url: "http://x".into(), headers: Map::new(), body: body.to_string() };
        Batch { entries, target: target.into(), request, parts: Vec::new(), phase: 0, ensure: None, riders: Vec::new() }
    }
    fn entry(target: &str) -> Prepared {
        Prepared::Item { message_id: None, subscription: "s".into(), item: crate::destinations::Item { target: target.into(), body: String::new() } }
    }
    fn rejected() -> Prepared {
        Prepared::Error { message_id: None, subscription: None, error: EventError::new(ErrorCode::InvalidEvent, "x") }
    }

    #[test]
    fn record_of_a_send_counts_delivered_and_failed_by_event_time_day() {
        let day1 = 1_764_460_800_000i64; // 2025-11-30
        let items = vec![
            json!({"event_name": "PURCHASE", "event_time": day1}),
            json!({"event_name": "PURCHASE", "event_time": day1 - 1}),
            json!({"event_name": "PAGE_VIEW", "event_time": day1}),
        ];
        let t = "/v3/px/events";
        let plan = Plan {
            object_errors: None,
            prepared: vec![entry(t), entry(t), entry(t), rejected(), entry(t)],
            batches: vec![
                batch(vec![0, 1, 2], t, "POST", json!({"data": items})),
                batch(vec![4], t, "POST", json!({"data": [{"event_name": "PURCHASE", "event_time": day1}]})),
            ],
        };
        // Entry 3 is a rejection (never sent); 4 failed after 3 attempts.
        let lines = vec![line(true, 1), line(true, 2), line(true, 1), line(false, 0), line(false, 3)];
        let r = record_of_send(SNAP_CAPI, &plan, &lines, 0.0);
        let want: BTreeMap<Key, Tally> = [
            (key(SNAP_CAPI, "px", "PAGE_VIEW", "2025-11-30"), Tally { delivered: 1, failed: 0 }),
            (key(SNAP_CAPI, "px", "PURCHASE", "2025-11-29"), Tally { delivered: 1, failed: 0 }),
            (key(SNAP_CAPI, "px", "PURCHASE", "2025-11-30"), Tally { delivered: 1, failed: 1 }),
        ]
        .into_iter()
        .collect();
        assert_eq!(r.entries, want);
    }

    #[test]
    fn snap_audience_entries_count_once_under_their_first_request() {
        let users = "/v1/segments/seg/users";
        // Entry 0 has an email and a phone: two calls (one per schema), counted once.
        let plan = Plan {
            object_errors: None,
            prepared: vec![entry(users), entry(users), entry(users), entry("named\nvip")],
            batches: vec![
                batch(vec![0], users, "POST", json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["h1"]]}]})),
                batch(vec![0], users, "POST", json!({"users": [{"schema": ["PHONE_SHA256"], "data": [["h2"]]}]})),
                batch(vec![1], users, "DELETE", json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["h3"]]}]})),
                batch(vec![2], users, "POST", json!({"users": [{"schema": ["EMAIL_SHA256"], "data": [["h4"]]}]})),
                batch(vec![3], "/v1/segments/{segment}/users", "POST", json!({"users": []})),
            ],
        };
        let lines = vec![line(true, 1), line(true, 1), line(false, 4), line(true, 1)];
        let r = record_of_send(SNAP_AUDIENCES, &plan, &lines, 1_764_460_800_000.0);
        let want: BTreeMap<Key, Tally> = [
            (key(SNAP_AUDIENCES, "seg", "add", "2025-11-30"), Tally { delivered: 1, failed: 1 }),
            (key(SNAP_AUDIENCES, "seg", "remove", "2025-11-30"), Tally { delivered: 1, failed: 0 }),
            (key(SNAP_AUDIENCES, "vip", "add", "2025-11-30"), Tally { delivered: 1, failed: 0 }),
        ]
        .into_iter()
        .collect();
        assert_eq!(r.entries, want);
    }

    #[test]
    fn braze_cohort_members_are_read_from_the_requests() {
        let g = "cohort\nc-1\nvip";
        let plan = Plan {
            object_errors: None,
            prepared: vec![entry(g), entry(g), entry(g), entry("/users/track"), entry("/users/track")],
            batches: vec![
                // The cohort creation carries the entries but adds nobody.
                batch(vec![0, 1, 2], "/partners/segment/cohorts", "POST", json!({"name": "vip", "cohort_id": "c-1"})),
                batch(vec![0, 1, 2], "/partners/segment/cohorts/users", "POST", json!({"cohort_id": "c-1", "cohort_changes": [
                    {"user_ids": ["u1", "u2"], "device_ids": ["d1"], "aliases": []},
                    {"user_ids": ["u3"], "device_ids": [], "aliases": [], "should_remove": true}]})),
                batch(vec![3, 4], "/users/track", "POST", json!({"attributes": [{"external_id": "u1", "vip": true}, {"external_id": "u9", "churned": false}]})),
            ],
        };
        let lines = vec![line(true, 1), line(true, 1), line(true, 1), line(true, 1), line(false, 2)];
        let r = record_of_send(BRAZE_COHORTS, &plan, &lines, 1_764_460_800_000.0);
        let want: BTreeMap<Key, Tally> = [
            (key(BRAZE_COHORTS, "churned", "remove", "2025-11-30"), Tally { delivered: 0, failed: 1 }),
            (key(BRAZE_COHORTS, "vip", "add", "2025-11-30"), Tally { delivered: 3, failed: 1 }),
            (key(BRAZE_COHORTS, "vip", "remove", "2025-11-30"), Tally { delivered: 1, failed: 0 }),
        ]
        .into_iter()
        .collect();
        // The /users/track request had a failed entry: both its users count as failed.
        assert_eq!(r.entries, want);
    }

    #[test]
    fn thresholds_need_both_relative_and_absolute() {
        let t = Thresholds { relative: 0.1, absolute: 5 };
        assert!(!exceeds(100, 91, &t), "9% is noise");
        assert!(!exceeds(100, 110, &t), "exactly 10% is not above it");
        assert!(exceeds(100, 89, &t));
        assert!(exceeds(100, 115, &t));
        assert!(!exceeds(20, 16, &t), "20% but only 4: below the absolute minimum");
        assert!(exceeds(20, 15, &t));
        assert!(!exceeds(0, 4, &t));
        assert!(exceeds(0, 5, &t), "nothing sent, something reported");
        assert!(!exceeds(0, 0, &Thresholds { relative: 0.0, absolute: 0 }), "an absolute of 0 still needs a difference");
    }

    fn cfg(v: Value) -> Config {
        Config::from_json(&v).unwrap()
    }

    fn stats(fields: Value) -> Value {
        json!({"request_status": "SUCCESS", "timeseries_stats": [{"sub_request_status": "SUCCESS", "timeseries_stat": {
            "id": "px", "type": "PIXEL", "granularity": "DAY",
            "timeseries": [{"start_time": "2025-11-30T00:00:00.000Z", "end_time": "2025-12-01T00:00:00.000Z", "stats": fields}]}}]})
    }

    fn seeded() -> Record {
        let mut r = Record::default();
        r.add(key(SNAP_CAPI, "px", "PURCHASE", "2025-11-30"), 100, 0);
        r.add(key(SNAP_CAPI, "px", "PAGE_VIEW", "2025-11-30"), 1000, 2);
        r.add(key(SNAP_CAPI, "px", "CUSTOM_THING", "2025-11-30"), 3, 0);
        r.add(key(SNAP_CAPI, "px", "PURCHASE", "2025-11-29"), 50, 0);
        r.add(key("snap-audiences", "seg-1", "add", "2025-11-28"), 600, 0);
        r.add(key("snap-audiences", "seg-1", "remove", "2025-11-29"), 100, 0);
        r.add(key("snap-audiences", "seg-1", "add", "2025-12-01"), 999, 0);
        r
    }

    #[test]
    fn plan_lists_the_reads() {
        let c = cfg(json!({"conversions": [{"pixelId": "px"}], "audiences": [
            {"destination": "snap-audiences", "source": "snap-segment", "id": "seg-1"},
            {"destination": "braze-cohorts", "source": "braze-segment", "id": "b 1", "audience": "vip"}]}));
        let p = plan(&c, &seeded(), "2025-11-30").unwrap();
        assert_eq!(
            p,
            json!([
                {"id": "conversions[0]", "api": "snap", "path": "/v1/pixels/px/stats?granularity=DAY&fields=conversion_page_views%2Cconversion_purchases&start_time=2025-11-30T00%3A00%3A00.000Z&end_time=2025-12-01T00%3A00%3A00.000Z"},
                {"id": "audiences[0]", "api": "snap", "path": "/v1/segments/seg-1"},
                {"id": "audiences[1]", "api": "braze", "path": "/segments/data_series?segment_id=b%201&length=1&ending_at=2025-11-30T23%3A59%3A59Z"},
            ])
        );
        let c = cfg(json!({"conversions": [{"pixelId": "px", "adAccountId": "acc", "eventTypes": ["SIGN_UP"]}]}));
        let p = plan(&c, &seeded(), "2025-11-30").unwrap();
        assert_eq!(p[0]["path"], "/v1/adaccounts/acc/stats?granularity=DAY&fields=conversion_sign_ups&start_time=2025-11-30T00%3A00%3A00.000Z&end_time=2025-12-01T00%3A00%3A00.000Z");
        assert!(plan(&c, &seeded(), "30/11/2025").is_err());
    }

    #[test]
    fn conversion_gap_alerts_and_noise_does_not() {
        let c = cfg(json!({"conversions": [{"pixelId": "px"}], "thresholds": {"relative": 0.1, "absolute": 5}}));
        let responses = json!({"conversions[0]": {"body": stats(json!({"conversion_purchases": 70, "conversion_page_views": 1040}))}});
        let r = evaluate(&c, &seeded(), "2025-11-30", &responses).unwrap();
        assert_eq!((r["ok"].clone(), r["alerts"].clone(), r["errors"].clone()), (json!(false), json!(1), json!(0)));
        let f = r["findings"].as_array().unwrap();
        assert_eq!(f.len(), 3);
        // Record order: CUSTOM_THING, PAGE_VIEW, PURCHASE.
        assert_eq!(f[0]["result"], "skipped");
        assert_eq!(f[0]["line"], "SKIP conversions snap-conversions-api pixel px CUSTOM_THING 2025-11-30: no Snap stats field for this event type (name one in `fields`)");
        assert_eq!((f[1]["eventType"].clone(), f[1]["sent"].clone(), f[1]["reported"].clone(), f[1]["result"].clone()), (json!("PAGE_VIEW"), json!(1000), json!(1040), json!("ok")));
        assert_eq!((f[2]["eventType"].clone(), f[2]["sent"].clone(), f[2]["reported"].clone(), f[2]["result"].clone()), (json!("PURCHASE"), json!(100), json!(70), json!("alert")));
        assert_eq!(f[2]["line"], "ALERT conversions snap-conversions-api pixel px PURCHASE 2025-11-30: sent 100, Snap reports 70 (-30, -30.0%; threshold 10% and at least 5)");
        let hook = &r["webhook"];
        assert_eq!(hook["text"], format!("edge-actions monitor 2025-11-30: 1 discrepancy and 0 checks that could not run\n• {}\n", f[2]["line"].as_str().unwrap()));
        assert_eq!(hook["blocks"][0]["type"], "section");
        assert_eq!(hook["blocks"][0]["text"]["type"], "mrkdwn");

        // Within the threshold: no alert, no webhook.
        let responses = json!({"conversions[0]": {"body": stats(json!({"conversion_purchases": 95, "conversion_page_views": 960}))}});
        let r = evaluate(&c, &seeded(), "2025-11-30", &responses).unwrap();
        assert_eq!((r["ok"].clone(), r["alerts"].clone(), r["webhook"].clone()), (json!(true), json!(0), Value::Null));
        // A per-check threshold overrides the global one.
        let c2 = cfg(json!({"conversions": [{"pixelId": "px", "thresholds": {"relative": 0.01, "absolute": 1}}]}));
        let r = evaluate(&c2, &seeded(), "2025-11-30", &responses).unwrap();
        assert_eq!(r["alerts"], 2);
    }

    #[test]
    fn a_failed_read_is_an_error_not_a_pass() {
        let c = cfg(json!({"conversions": [{"pixelId": "px", "eventTypes": ["PURCHASE"]}]}));
        let responses = json!({"conversions[0]": {"error": "HTTP 401: the access token was rejected"}});
        let r = evaluate(&c, &seeded(), "2025-11-30", &responses).unwrap();
        assert_eq!((r["ok"].clone(), r["alerts"].clone(), r["errors"].clone()), (json!(false), json!(0), json!(1)));
        assert_eq!(r["findings"][0]["line"], "ERROR conversions snap-conversions-api pixel px PURCHASE 2025-11-30: could not read Snap stats: HTTP 401: the access token was rejected");
        assert!(r["webhook"]["text"].as_str().unwrap().contains("0 discrepancies and 1 check that could not run"));
        // Missing response and a body without stats.
        let r = evaluate(&c, &seeded(), "2025-11-30", &json!({})).unwrap();
        assert_eq!(r["findings"][0]["result"], "error");
        let r = evaluate(&c, &seeded(), "2025-11-30", &json!({"conversions[0]": {"body": {"request_status": "SUCCESS"}}})).unwrap();
        assert_eq!(r["findings"][0]["line"], "ERROR conversions snap-conversions-api pixel px PURCHASE 2025-11-30: the Snap stats response has no stats");
    }

    #[test]
    fn sent_nothing_but_snap_reports_conversions() {
        let c = cfg(json!({"conversions": [{"pixelId": "px", "eventTypes": ["SIGN_UP"]}]}));
        let responses = json!({"conversions[0]": {"body": stats(json!({"conversion_sign_ups": 12}))}});
        let r = evaluate(&c, &seeded(), "2025-11-30", &responses).unwrap();
        assert_eq!(r["findings"][0]["line"], "ALERT conversions snap-conversions-api pixel px SIGN_UP 2025-11-30: sent 0, Snap reports 12 (+12, n/a; threshold 10% and at least 5)");
    }

    fn segment(size: i64, status: &str) -> Value {
        json!({"request_status": "SUCCESS", "segments": [{"sub_request_status": "SUCCESS", "segment": {"id": "seg-1", "name": "n", "status": status, "upload_status": "COMPLETE", "approximate_number_users": size}}]})
    }

    #[test]
    fn audience_drift_and_status() {
        // Net sent by the end of 2025-11-30: 600 - 100 = 500 (the 12-01 adds come later).
        let c = cfg(json!({"audiences": [{"destination": "snap-audiences", "source": "snap-segment", "id": "seg-1", "matchRate": 0.5, "baseline": 10}]}));
        let r = evaluate(&c, &seeded(), "2025-11-30", &json!({"audiences[0]": {"body": segment(255, "ACTIVE")}})).unwrap();
        let f = &r["findings"][0];
        assert_eq!((f["sent"].clone(), f["expected"].clone(), f["reported"].clone(), f["result"].clone()), (json!(500), json!(260), json!(255), json!("ok")));
        assert_eq!(f["line"], "OK audience snap-audiences seg-1 (Snap segment seg-1) 2025-11-30: expected 260 (net sent 500), Snap reports 255 (-5, -1.9%; threshold 10% and at least 5), status ACTIVE");
        let r = evaluate(&c, &seeded(), "2025-11-30", &json!({"audiences[0]": {"body": segment(150, "ACTIVE")}})).unwrap();
        assert_eq!(r["findings"][0]["result"], "alert");
        let r = evaluate(&c, &seeded(), "2025-11-30", &json!({"audiences[0]": {"body": segment(260, "PENDING")}})).unwrap();
        assert_eq!(r["findings"][0]["line"], "ALERT audience snap-audiences seg-1 (Snap segment seg-1) 2025-11-30: expected 260 (net sent 500), Snap reports 260 (+0, +0.0%; threshold 10% and at least 5), status PENDING (expected ACTIVE)");
        // Braze: the size on the day.
        let c = cfg(json!({"audiences": [{"destination": "braze-cohorts", "source": "braze-segment", "id": "b1", "audience": "seg-1"}]}));
        let mut rec = seeded();
        for (k, t) in seeded().entries {
            if k.destination == "snap-audiences" {
                rec.add(Key { destination: "braze-cohorts".into(), ..k }, t.delivered, 0);
            }
        }
        let body = json!({"message": "success", "data": [{"time": "2025-11-29", "size": 700}, {"time": "2025-11-30", "size": 480}]});
        let r = evaluate(&c, &rec, "2025-11-30", &json!({"audiences[0]": {"body": body}})).unwrap();
        assert_eq!((r["findings"][0]["reported"].clone(), r["findings"][0]["result"].clone()), (json!(480), json!("ok")));
        let r = evaluate(&c, &rec, "2025-11-29", &json!({"audiences[0]": {"body": body}})).unwrap();
        assert_eq!((r["findings"][0]["reported"].clone(), r["findings"][0]["result"].clone()), (json!(700), json!("alert")));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let e = |v: Value| Config::from_json(&v).unwrap_err().field.unwrap();
        assert_eq!(e(json!([])), "monitor");
        assert_eq!(e(json!({"conversions": {}})), "conversions");
        assert_eq!(e(json!({"conversions": [{"pixelID": "x"}]})), "conversions[0].pixelID");
        assert_eq!(e(json!({"conversions": [{}]})), "conversions[0].pixelId");
        assert_eq!(e(json!({"conversions": [{"pixelId": "p", "fields": {"X": 1}}]})), "conversions[0].fields.X");
        assert_eq!(e(json!({"conversions": [{"pixelId": " "}]})), "conversions[0].pixelId");
        assert_eq!(e(json!({"audiences": [{"destination": "d", "source": "nope", "id": "x"}]})), "audiences[0].source");
        assert_eq!(e(json!({"audiences": [{"destination": "d", "source": "snap-segment", "id": "x", "matchRate": 0}]})), "audiences[0].matchRate");
        assert_eq!(e(json!({"thresholds": {"relative": -1}})), "thresholds.relative");
        assert_eq!(e(json!({"thresholds": {"absolute": 1.5}})), "thresholds.absolute");
        let msg = Config::from_json(&json!({"conversions": [{"pixelID": "x"}]})).unwrap_err().message;
        assert_eq!(msg, "conversions[0].pixelID: unknown field (known: pixelId, destination, eventTypes, fields, adAccountId, thresholds)");
        // A check's thresholds inherit what they do not set from the global ones.
        let c = Config::from_json(&json!({"thresholds": {"relative": 0.5, "absolute": 9}, "conversions": [{"pixelId": "p", "thresholds": {"absolute": 1}}]})).unwrap();
        assert_eq!(c.conversions[0].thresholds, Some(Thresholds { relative: 0.5, absolute: 1 }));
        // Keys for the JS glue are left alone.
        assert!(Config::from_json(&json!({"snap": {}, "store": {"file": "x"}, "webhook": "http://h"})).is_ok());
    }
}
