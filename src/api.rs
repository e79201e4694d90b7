//! The JSON-in / JSON-out surface shared by the wasm bindings and native tests: one call per
//! batch of events, so the JS boundary is crossed once per call.

use crate::config::{self, Config};
use crate::delivery::{self, Policy, Transport};
use crate::engine::{self, Input};
use crate::error::{ErrorCode, EventError};
use crate::{fql, input, mapping};
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

/// Plan lines for a JSON array of events (each element parsed on its own).
pub fn plan(cfg: &Config, events_json: &str) -> Result<Vec<Value>, EventError> {
    let evs = input::events_from_array(events_json)?;
    Ok(engine::plan_lines(cfg, cfg.plan(&evs)))
}

/// Plan for NDJSON events: NDJSON output, byte for byte what `JSON.stringify` gives for
/// each line of `plan`. `first_line` numbers the first input line in error messages.
pub fn plan_ndjson(cfg: &Config, ndjson: &str, first_line: usize) -> (String, Counts) {
    let evs = input::events_from_ndjson(ndjson, first_line);
    let lines = engine::plan_lines(cfg, cfg.plan(&evs));
    (input::ndjson(&lines), Counts::of(evs.len(), &lines))
}

fn policy(options_json: &str) -> Result<Policy, EventError> {
    let opts = if options_json.trim().is_empty() { Value::Null } else { parse_json("send options", options_json)? };
    Policy::from_options(&opts)
}

async fn send_inputs<T: Transport>(cfg: &Config, evs: &[Input], policy: &Policy, t: &T) -> Vec<Value> {
    let plan = cfg.plan(evs);
    delivery::send_plan_for(t, &plan, policy, cfg).await
}

/// Deliver a JSON array of events; one result line per (event, subscription).
pub async fn send<T: Transport>(cfg: &Config, events_json: &str, options_json: &str, t: &T) -> Result<Vec<Value>, EventError> {
    let evs = input::events_from_array(events_json)?;
    let policy = policy(options_json)?;
    Ok(send_inputs(cfg, &evs, &policy, t).await)
}

/// `send` for NDJSON events, with NDJSON result lines (see `plan_ndjson`).
pub async fn send_ndjson<T: Transport>(cfg: &Config, ndjson: &str, first_line: usize, options_json: &str, t: &T) -> Result<(String, Counts), EventError> {
    let policy = policy(options_json)?;
    let evs = input::events_from_ndjson(ndjson, first_line);
    let lines = send_inputs(cfg, &evs, &policy, t).await;
    Ok((input::ndjson(&lines), Counts::of(evs.len(), &lines)))
}

pub fn transform(mapping_json: &str, payload_json: &str) -> Result<Value, EventError> {
    let m = parse_json("mapping", mapping_json).map_err(|e| EventError { code: ErrorCode::MappingError, ..e })?;
    let p = parse_json("payload", payload_json)?;
    mapping::validate(&m).map_err(|e| EventError::new(ErrorCode::MappingError, e.message).with_field(e.path))?;
    mapping::transform(&m, &p).map_err(|e| EventError::new(ErrorCode::MappingError, e.message).with_field(e.path))
}

/// `Ok(None)` carries a parse error position via the error's `field` ("position N").
pub fn matches_trigger(fql_src: &str, event_json: &str) -> Result<bool, EventError> {
    let ev = parse_json("event", event_json)?;
    let f = fql::parse(fql_src).map_err(|e| {
        EventError::new(ErrorCode::InvalidConfig, format!("Invalid FQL: {} at position {}", e.message, e.position))
            .with_field(format!("position {}", e.position))
    })?;
    Ok(f.matches(&ev))
}

/// The destination's presets as Segment-shaped subscriptions.
pub fn presets(slug: &str) -> Result<Value, EventError> {
    let def = crate::destinations::find(slug)
        .ok_or_else(|| EventError::new(ErrorCode::InvalidConfig, "Unknown destination").with_field("destination"))?;
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
}
