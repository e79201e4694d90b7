//! The Segment event model: the envelope checks every destination relies on. The event stays a
//! JSON value (unknown fields are kept and reachable by mappings); this module only rejects
//! inputs that are not Segment events, naming the offending field: not an object, a missing or
//! unknown `type`, or a `properties` / `traits` / `context` / `integrations` that is not an
//! object. Leaf fields of the wrong type are left to the action's field schema, which coerces
//! or rejects them exactly as Segment does (a numeric `messageId` becomes a string `event_id`).

use crate::error::{ErrorCode, EventError};
use serde_json::{Map, Value};

pub const EVENT_TYPES: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

/// A validated event: the original JSON object.
pub struct Event<'a> {
    pub raw: &'a Value,
    pub fields: &'a Map<String, Value>,
}

impl<'a> Event<'a> {
    pub fn event_type(&self) -> &'a str {
        self.fields.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

/// The `messageId` of anything that looks like an event, for reporting (even invalid ones).
pub fn message_id_of(v: &Value) -> Option<String> {
    match v.get("messageId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(crate::js::to_js_string(&Value::Number(n.clone()))),
        _ => None,
    }
}

fn invalid(field: &str, message: String) -> EventError {
    EventError::new(ErrorCode::InvalidEvent, message).with_field(field)
}

pub fn parse(raw: &Value) -> Result<Event<'_>, EventError> {
    let Value::Object(fields) = raw else {
        return Err(EventError::new(
            ErrorCode::InvalidEvent,
            format!("An event must be a JSON object, got {}", kind(raw)),
        ));
    };
    match fields.get("type") {
        None | Some(Value::Null) => return Err(invalid("type", "The event has no `type`".into())),
        Some(Value::String(t)) if EVENT_TYPES.contains(&t.as_str()) => {}
        Some(Value::String(_)) => {
            return Err(invalid("type", format!("Unknown event type; expected one of {}", EVENT_TYPES.join(", "))));
        }
        Some(other) => return Err(invalid("type", format!("`type` must be a string, got {}", kind(other)))),
    }
    for key in ["properties", "traits", "context", "integrations"] {
        if let Some(v) = fields.get(key) {
            if !v.is_object() && !v.is_null() {
                return Err(invalid(key, format!("`{key}` must be an object, got {}", kind(v))));
            }
        }
    }
    Ok(Event { raw, fields })
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_every_spec_call_and_keeps_unknown_fields() {
        for t in EVENT_TYPES {
            let v = json!({"type": t, "messageId": "m1", "custom": {"x": 1}});
            let e = parse(&v).unwrap();
            assert_eq!(e.event_type(), t);
            assert_eq!(message_id_of(e.raw).as_deref(), Some("m1"));
            assert_eq!(e.fields["custom"]["x"], 1);
        }
    }

    #[test]
    fn rejects_with_the_field_named() {
        let cases = [
            (json!(42), None),
            (json!([]), None),
            (json!({}), Some("type")),
            (json!({"type": "bogus"}), Some("type")),
            (json!({"type": 5}), Some("type")),
            (json!({"type": "track", "properties": "x"}), Some("properties")),
            (json!({"type": "track", "context": 7}), Some("context")),
        ];
        for (v, field) in cases {
            let e = parse(&v).err().unwrap_or_else(|| panic!("accepted {v}"));
            assert_eq!(e.code, ErrorCode::InvalidEvent);
            assert_eq!(e.field.as_deref(), field, "{v}");
        }
    }
}
