//! The JSON-in / JSON-out surface shared by the wasm bindings and native tests: one call per
//! batch of events, so the JS boundary is crossed once per call.

use crate::config::{self, Config};
use crate::delivery::{self, Policy, Transport};
use crate::engine;
use crate::error::{ErrorCode, EventError};
use crate::{fql, mapping};
use serde_json::Value;

fn parse_json(what: &str, s: &str) -> Result<Value, EventError> {
    serde_json::from_str(s).map_err(|e| {
        // serde's message names line/column only, never the content.
        EventError::new(ErrorCode::InvalidEvent, format!("{what} is not valid JSON: {e}"))
    })
}

fn events(events_json: &str) -> Result<Vec<Value>, EventError> {
    match parse_json("events", events_json)? {
        Value::Array(a) => Ok(a),
        _ => Err(EventError::new(ErrorCode::InvalidEvent, "events must be an array")),
    }
}

pub fn create(options_json: &str) -> Result<Config, EventError> {
    let opts = parse_json("options", options_json).map_err(|e| EventError { code: ErrorCode::InvalidConfig, ..e })?;
    config::parse(&opts)
}

/// Plan lines for a JSON array of events.
pub fn plan(cfg: &Config, events_json: &str) -> Result<Vec<Value>, EventError> {
    let evs = events(events_json)?;
    Ok(engine::plan_lines(&cfg.plan(&evs)))
}

/// Deliver a JSON array of events; one result line per (event, subscription).
pub async fn send<T: Transport>(cfg: &Config, events_json: &str, options_json: &str, t: &T) -> Result<Vec<Value>, EventError> {
    let evs = events(events_json)?;
    let opts = if options_json.trim().is_empty() { Value::Null } else { parse_json("send options", options_json)? };
    let policy = Policy::from_options(&opts)?;
    let plan = cfg.plan(&evs);
    Ok(delivery::send_plan(t, &plan, &policy).await)
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
