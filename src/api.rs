//! The JSON-in / JSON-out surface shared by the wasm bindings and native tests: one call per
//! batch of events, so the JS boundary is crossed once per call.

use crate::config::{self, Config};
use crate::delivery::{self, Policy, Transport};
use crate::engine::{self, Input};
use serde_json::value::RawValue;
use crate::error::{ErrorCode, EventError};
use crate::{fql, mapping};
use serde_json::Value;

fn parse_json(what: &str, s: &str) -> Result<Value, EventError> {
    serde_json::from_str(s).map_err(|e| {
        // serde's message names line/column only, never the content.
        EventError::new(ErrorCode::InvalidEvent, format!("{what} is not valid JSON: {e}"))
    })
}

/// Largest accepted event, as serialized JSON. Segment's own API takes 32 KB per event; we
/// allow more, but a multi-megabyte "event" is a mistake that must not exhaust an edge
/// worker's memory or reach the destination.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

fn events(events_json: &str) -> Result<Vec<Input>, EventError> {
    let raws: Vec<&RawValue> = serde_json::from_str(events_json).map_err(|e| {
        let what = if events_json.trim_start().starts_with('[') { "events are not valid JSON" } else { "events must be a JSON array" };
        EventError::new(ErrorCode::InvalidEvent, format!("{what}: {e}"))
    })?;
    raws.into_iter()
        .map(|raw| {
            let text = raw.get();
            let value: Value = serde_json::from_str(text).map_err(|e| EventError::new(ErrorCode::InvalidEvent, format!("event is not valid JSON: {e}")))?;
            if text.len() > MAX_EVENT_BYTES {
                return Ok(Input::Rejected {
                    message_id: crate::event::message_id_of(&value),
                    error: EventError::new(
                        ErrorCode::InvalidEvent,
                        format!("The event is {} bytes; the limit is {MAX_EVENT_BYTES}", text.len()),
                    ),
                });
            }
            Ok(Input::Event(value))
        })
        .collect()
}

pub fn create(options_json: &str) -> Result<Config, EventError> {
    let opts = parse_json("options", options_json).map_err(|e| EventError { code: ErrorCode::InvalidConfig, ..e })?;
    config::parse(&opts)
}

/// Plan lines for a JSON array of events.
pub fn plan(cfg: &Config, events_json: &str) -> Result<Vec<Value>, EventError> {
    let evs = events(events_json)?;
    Ok(engine::plan_lines(cfg, &cfg.plan(&evs)))
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
