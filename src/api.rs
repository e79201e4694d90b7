//! The JSON-in / JSON-out surface shared by the wasm bindings and native tests: one call per
//! batch of events, so the JS boundary is crossed once per call.

use crate::config::{self, Config};
use crate::delivery::{self, Policy, Transport};
use crate::engine::{self, Plan, Prepared};
use crate::input::Piece;
use crate::error::{ErrorCode, EventError};
use crate::{fql, input, mapping};
#[cfg(feature = "monitor")]
use crate::monitor;
use serde::Serialize;
use serde_json::Value;

/// serde_json's own recursion limit: deeper JSON cannot be parsed at all.
const MAX_JSON_DEPTH: usize = 128;

fn parse_json(what: &str, s: &str) -> Result<Value, EventError> {
    // Named here rather than as serde's "recursion limit exceeded at line 1 column N".
    if input::max_depth(s) > MAX_JSON_DEPTH {
        return Err(EventError::new(ErrorCode::InvalidEvent, format!("{what} is nested deeper than {MAX_JSON_DEPTH} levels (the limit)")));
    }
    serde_json::from_str(s).map_err(|e| {
        // serde's message names line/column only, never the content.
        EventError::new(ErrorCode::InvalidEvent, format!("{what} is not valid JSON: {e}"))
    })
}

pub use crate::input::{MAX_EVENT_BYTES, MAX_EVENT_DEPTH};

/// What a call did, for the CLI's summary: `events` read; lines planned / delivered,
/// rejected before any request, skipped (no subscription, consent), failed (sent, not
/// delivered).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub events: usize,
    pub planned: usize,
    pub delivered: usize,
    pub rejected: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl Counts {
    /// For a plan: every prepared entry is a line.
    fn of_plan(events: usize, plan: &Plan) -> Counts {
        let mut c = Counts { events, ..Counts::default() };
        for p in &plan.prepared {
            match p {
                Prepared::Item { .. } => c.planned += 1,
                Prepared::Error { .. } => c.rejected += 1,
                Prepared::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }

    fn of(events: usize, lines: &[Value]) -> Counts {
        let mut c = Counts { events, ..Counts::default() };
        for l in lines {
            let has = |k: &str| l.get(k).is_some();
            if has("skipped") {
                c.skipped += 1;
            } else if has("request") || has("requests") || has("batchedWith") {
                c.planned += 1;
            } else if l.get("delivered") == Some(&Value::Bool(true)) {
                c.delivered += 1;
            } else if l.get("attempts").and_then(Value::as_u64).unwrap_or(0) > 0 {
                c.failed += 1;
            } else {
                c.rejected += 1;
            }
        }
        c
    }
}

pub fn create(options_json: &str) -> Result<Config, EventError> {
    let opts = parse_json("options", options_json).map_err(|e| EventError { code: ErrorCode::InvalidConfig, ..e })?;
    config::parse(&opts)
}

/// Plan lines for a JSON array of events (each element parsed on its own), as the text of a
/// JSON array: what the bindings hand to JS.
pub fn plan_json(cfg: &Config, events_json: &str) -> Result<String, EventError> {
    // Split and parsed in one pass (`input::each_array_event`), each event prepared as it is read.
    let mut prepared = Vec::new();
    crate::pii::with_digest_memo(|| input::each_array_event(events_json, |ev| cfg.prepare_input(ev, &mut prepared)))?;
    let plan = cfg.plan_to_show(prepared);
    let mut out = String::with_capacity(events_json.len() + 64);
    out.push('[');
    engine::write_plan_lines(cfg, &plan, &mut out, ',');
    if out.ends_with(',') {
        out.pop();
    }
    out.push(']');
    Ok(out)
}

/// `plan_json` as values (tests and native callers).
pub fn plan(cfg: &Config, events_json: &str) -> Result<Vec<Value>, EventError> {
    let text = plan_json(cfg, events_json)?;
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

/// Plan for NDJSON events: NDJSON output, byte for byte what `JSON.stringify` gives for
/// each line of `plan`. `first_line` numbers the first input line in error messages.
pub fn plan_ndjson(cfg: &Config, ndjson: &str, first_line: usize) -> (String, Counts) {
    let evs = input::events_from_ndjson(ndjson, first_line);
    let plan = cfg.plan_to_show(cfg.prepare(&evs));
    let mut out = String::with_capacity(ndjson.len() + 64);
    engine::write_plan_lines(cfg, &plan, &mut out, '\n');
    (out, Counts::of_plan(evs.len(), &plan))
}

/// The delivery policy, and whether the options ask for the monitor's record (`record: true`).
fn policy(cfg: &Config, options_json: &str) -> Result<(Policy, bool), EventError> {
    let opts = if options_json.trim().is_empty() { Value::Null } else { parse_json("send options", options_json)? };
    let mut p = Policy::from_options(&opts)?;
    // The destination's timeout (Braze: Segment's 30 s) unless the caller chose one.
    if opts.get("timeoutMs").is_none_or(Value::is_null) {
        p.timeout_ms = cfg.definition.timeout_ms;
    }
    let record = opts.get("record") == Some(&Value::Bool(true));
    #[cfg(not(feature = "monitor"))]
    if record {
        return Err(no_monitor().with_field("record"));
    }
    Ok((p, record))
}

/// With `record`, also the line `{"record": ...}`: the monitor's record of what this send
/// delivered (see `monitor`), built from the plan it executed. It goes last in the output
/// (pkg/core.js `sendWithRecord` takes it off), so a record takes no other way out of the core
/// and recorded sends go through exactly the code plain ones do.
async fn send_inputs<T: Transport>(cfg: &Config, evs: &[Piece<'_>], policy: &Policy, t: &T, record: bool) -> (Vec<Value>, Option<Value>) {
    let plan = cfg.plan(evs);
    let mut lines = delivery::send_plan_for(t, &plan, policy, cfg).await;
    redact_answers(cfg, &mut lines);
    #[cfg(feature = "monitor")]
    let record = record.then(|| serde_json::json!({"record": monitor::record_of_send(cfg.definition.slug, &plan, &lines, t.now_ms()).to_json()}));
    #[cfg(not(feature = "monitor"))]
    let record = record.then_some(Value::Null); // `policy` refused `record` already.
    (lines, record)
}

/// An error body that echoes a credential (an API answering "invalid key: <key>") must not
/// carry it into results: error messages are scrubbed of every secret setting.
fn redact_answers(cfg: &Config, lines: &mut [Value]) {
    let secrets: Vec<&str> = [cfg.settings.access_token.as_deref(), cfg.settings.str("api_key")].into_iter().flatten().filter(|s| s.len() >= 4).collect();
    for line in lines.iter_mut() {
        if let Some(Value::String(m)) = line.pointer_mut("/error/message") {
            for s in &secrets {
                if m.contains(s) {
                    *m = m.replace(s, "REDACTED");
                }
            }
        }
    }
}

/// Deliver a JSON array of events; one result line per (event, subscription).
pub async fn send<T: Transport>(cfg: &Config, events_json: &str, options_json: &str, t: &T) -> Result<Vec<Value>, EventError> {
    let evs = input::events_from_array(events_json)?;
    let (policy, record) = policy(cfg, options_json)?;
    let (mut lines, record) = send_inputs(cfg, &evs, &policy, t, record).await;
    lines.extend(record);
    Ok(lines)
}

/// `send` for NDJSON events, with NDJSON result lines (see `plan_ndjson`).
pub async fn send_ndjson<T: Transport>(cfg: &Config, ndjson: &str, first_line: usize, options_json: &str, t: &T) -> Result<(String, Counts), EventError> {
    let (policy, record) = policy(cfg, options_json)?;
    let evs = input::events_from_ndjson(ndjson, first_line);
    let (mut lines, record) = send_inputs(cfg, &evs, &policy, t, record).await;
    let counts = Counts::of(evs.len(), &lines);
    lines.extend(record);
    Ok((input::ndjson(&lines), counts))
}

#[cfg(feature = "monitor")]
fn monitor_inputs(config_json: &str, record_json: &str) -> Result<(monitor::Config, monitor::Record), EventError> {
    let bad = |e: EventError| EventError { code: ErrorCode::InvalidConfig, ..e };
    let cfg = monitor::Config::from_json(&parse_json("monitor configuration", config_json).map_err(bad)?)?;
    let record = monitor::Record::from_json(&parse_json("record", record_json).map_err(bad)?)?;
    Ok((cfg, record))
}

/// Merge a JSON array of records (`null` entries are empty records) into one.
#[cfg(feature = "monitor")]
pub fn monitor_merge(records_json: &str) -> Result<Value, EventError> {
    let v = parse_json("records", records_json).map_err(|e| EventError { code: ErrorCode::InvalidConfig, ..e })?;
    let Value::Array(items) = v else {
        return Err(EventError::new(ErrorCode::InvalidConfig, "records must be an array").with_field("records"));
    };
    let mut out = monitor::Record::default();
    for (i, r) in items.iter().enumerate() {
        let r = monitor::Record::from_json(r).map_err(|e| EventError { field: e.field.map(|f| f.replacen("record", &format!("records[{i}]"), 1)), ..e })?;
        out.merge(&r);
    }
    Ok(out.to_json())
}

/// The reads a monitor run needs for `day` (see `monitor::plan`).
#[cfg(feature = "monitor")]
pub fn monitor_plan(config_json: &str, record_json: &str, day: &str) -> Result<Value, EventError> {
    let (cfg, record) = monitor_inputs(config_json, record_json)?;
    monitor::plan(&cfg, &record, day)
}

/// The monitor's findings, alert lines and webhook payload (see `monitor::evaluate`).
#[cfg(feature = "monitor")]
pub fn monitor_evaluate(config_json: &str, record_json: &str, day: &str, responses_json: &str) -> Result<Value, EventError> {
    let (cfg, record) = monitor_inputs(config_json, record_json)?;
    let responses = parse_json("responses", responses_json)?;
    monitor::evaluate(&cfg, &record, day, &responses)
}

/// A build without the `monitor` cargo feature keeps the monitor's calls (the JS glue and
/// `send`'s `record` option reach them) and answers each with this error.
#[cfg(not(feature = "monitor"))]
fn no_monitor() -> EventError {
    EventError::new(
        ErrorCode::InvalidConfig,
        "The monitor is not in this build: the wasm was built without the cargo feature \"monitor\" (add it to FEATURES, or build the default features)",
    )
}

#[cfg(not(feature = "monitor"))]
pub fn monitor_merge(_: &str) -> Result<Value, EventError> {
    Err(no_monitor())
}

#[cfg(not(feature = "monitor"))]
pub fn monitor_plan(_: &str, _: &str, _: &str) -> Result<Value, EventError> {
    Err(no_monitor())
}

#[cfg(not(feature = "monitor"))]
pub fn monitor_evaluate(_: &str, _: &str, _: &str, _: &str) -> Result<Value, EventError> {
    Err(no_monitor())
}

pub fn transform(mapping_json: &str, payload_json: &str) -> Result<Value, EventError> {
    let m = parse_json("mapping", mapping_json).map_err(|e| EventError { code: ErrorCode::MappingError, ..e })?;
    let p = parse_json("payload", payload_json)?;
    mapping::validate(&m).map_err(|e| EventError::new(ErrorCode::MappingError, e.message).with_field(e.path))?;
    mapping::transform(&m, &p).map_err(|e| EventError::new(ErrorCode::MappingError, e.message).with_field(e.path))
}

/// `Ok(None)` carries a parse error position via the error's `field` ("position N").
pub fn matches_trigger(fql_src: &str, event_json: &str) -> Result<bool, EventError> {
    let ev = crate::json::J::from_value(&parse_json("event", event_json)?);
    let f = fql::parse(fql_src).map_err(|e| {
        EventError::new(ErrorCode::InvalidConfig, format!("Invalid FQL: {} at position {}", e.message, e.position))
            .with_field(format!("position {}", e.position))
    })?;
    Ok(f.matches(&ev))
}

/// The destination's presets as Segment-shaped subscriptions.
pub fn presets(slug: &str) -> Result<Value, EventError> {
    let def = crate::destinations::lookup(slug).map_err(|m| m.error("Unknown destination"))?;
    Ok(config::preset_subscriptions(def))
}

pub fn error_json(e: &EventError) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| r#"{"code":"INVALID_CONFIG","message":"error"}"#.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nested_beyond_the_limit_is_named() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let e = transform(&format!(r#"{{"x":{deep}}}"#), "{}").unwrap_err();
        assert_eq!(e.code, ErrorCode::MappingError);
        assert!(e.message.contains("mapping is nested deeper than 128 levels"), "{}", e.message);
        let e = create(&format!(r#"{{"destination":"snap-conversions-api","settings":{deep}}}"#)).err().unwrap();
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert!(e.message.contains("options is nested deeper than 128 levels"), "{}", e.message);
    }

    /// A Snap-only build (`--no-default-features --features snap-conversions-api`, as
    /// `make test-rust` runs it): a configuration naming a left-out destination, and the
    /// monitor's calls, answer typed errors that say what the build lacks.
    #[cfg(not(any(feature = "braze", feature = "monitor", feature = "liquid")))]
    #[test]
    fn a_slim_build_names_what_it_lacks() {
        let e = create(r#"{"destination":"braze","settings":{"api_key":"k","endpoint":"https://rest.iad-01.braze.com","app_id":"a"}}"#).err().unwrap();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidConfig, Some("destination")));
        assert_eq!(
            e.message,
            "Destination \"braze\" is not in this build: the wasm was built without the cargo feature \"braze\" (build it with `make build FEATURES=braze`, or the default features for every destination)"
        );
        assert_eq!(presets("Braze Cloud Mode (Actions)").unwrap_err(), e);
        let e = create(r#"{"destination":"nope"}"#).err().unwrap();
        assert!(e.message.starts_with("Unknown destination; known: "), "{}", e.message);

        let monitor_error = |e: EventError, field: Option<&str>| {
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidConfig, field));
            assert_eq!(e.message, "The monitor is not in this build: the wasm was built without the cargo feature \"monitor\" (add it to FEATURES, or build the default features)");
        };
        monitor_error(monitor_merge("[]").unwrap_err(), None);
        monitor_error(monitor_plan("{}", "null", "2026-01-01").unwrap_err(), None);
        monitor_error(monitor_evaluate("{}", "null", "2026-01-01", "{}").unwrap_err(), None);
        let cfg = create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"p","access_token":"t"}}"#).unwrap();
        monitor_error(policy(&cfg, r#"{"record":true}"#).err().unwrap(), Some("record"));
        assert!(policy(&cfg, r#"{"record":false}"#).is_ok());

        // Without the `liquid` feature: refused when configured, and by `transform`.
        let no_liquid = "@liquid is not in this build: the wasm was built without the cargo feature \"liquid\" (add it to FEATURES, or build the default features)";
        let e = create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"p","access_token":"t"},"subscriptions":[{"partnerAction":"reportConversionEvent","subscribe":"type = \"track\"","mapping":{"event_type":{"@liquid":"{{ event }}"}}}]}"#).err().unwrap();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidConfig, Some("subscriptions[0].mapping")));
        assert_eq!(e.message, format!("Invalid mapping: {no_liquid} (at /event_type)"));
        let e = transform(r#"{"x":{"@liquid":"{{ a }}"}}"#, r#"{"a":1}"#).unwrap_err();
        assert_eq!((e.code, e.message.as_str(), e.field.as_deref()), (ErrorCode::MappingError, no_liquid, Some("/x")));
    }
}
