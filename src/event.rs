//! The Segment event model: the envelope checks every destination relies on. The event stays a
//! JSON value (unknown fields are kept and reachable by mappings); this module only rejects
//! inputs that are not Segment events, naming the offending field: not an object, a missing or
//! unknown `type`, or a `properties` / `traits` / `context` / `integrations` that is not an
//! object. Leaf fields of the wrong type are left to the action's field schema, which coerces
//! or rejects them exactly as Segment does (a numeric `messageId` becomes a string `event_id`).

use crate::error::{ErrorCode, EventError};
use crate::json::{Obj, J};

pub const EVENT_TYPES: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

/// A validated event: the original JSON object.
pub struct Event<'e, 'a> {
    pub raw: &'e J<'a>,
    pub fields: &'e Obj<'a>,
}

impl<'e, 'a> Event<'e, 'a> {
    pub fn event_type(&self) -> &'e str {
        self.fields.str("type").unwrap_or("")
    }
}

/// The `messageId` of anything that looks like an event, for reporting (even invalid ones).
pub fn message_id_of(v: &J) -> Option<String> {
    match v.as_obj()?.get("messageId")? {
        J::Str(s) => Some(s.to_string()),
        J::Num(n) => Some(crate::js::number_to_string(*n)),
        _ => None,
    }
}

fn invalid(field: &str, message: String) -> EventError {
    EventError::new(ErrorCode::InvalidEvent, message).with_field(field)
}

pub fn parse<'e, 'a>(raw: &'e J<'a>) -> Result<Event<'e, 'a>, EventError> {
    let J::Obj(fields) = raw else {
        return Err(EventError::new(
            ErrorCode::InvalidEvent,
            format!("An event must be a JSON object, got {}", kind(raw)),
        ));
    };
    match fields.get("type") {
        None | Some(J::Null) => return Err(invalid("type", "The event has no `type`".into())),
        Some(J::Str(t)) if EVENT_TYPES.contains(&t.as_ref()) => {}
        Some(J::Str(_)) => {
            return Err(invalid("type", format!("Unknown event type; expected one of {}", EVENT_TYPES.join(", "))));
        }
        Some(other) => return Err(invalid("type", format!("`type` must be a string, got {}", kind(other)))),
    }
    for key in ["properties", "traits", "context", "integrations"] {
        if let Some(v) = fields.get(key) {
            if v.as_obj().is_none() && !v.is_null() {
                return Err(invalid(key, format!("`{key}` must be an object, got {}", kind(v))));
            }
        }
    }
    Ok(Event { raw, fields })
}

pub fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Num(_) => "a number",
        J::Str(_) => "a string",
        J::Arr(_) => "an array",
        J::Obj(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn j(v: serde_json::Value) -> J<'static> {
        J::from_value(&v)
    }

    #[test]
    fn accepts_every_spec_call_and_keeps_unknown_fields() {
        for t in EVENT_TYPES {
            let v = j(json!({"type": t, "messageId": "m1", "custom": {"x": 1}}));
            let e = parse(&v).unwrap();
            assert_eq!(e.event_type(), t);
            assert_eq!(message_id_of(e.raw).as_deref(), Some("m1"));
            assert_eq!(e.fields.obj("custom").and_then(|c| c.get("x")), Some(&J::Num(1.0)));
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
            let v = j(v);
            let e = parse(&v).err().unwrap_or_else(|| panic!("accepted {v:?}"));
            assert_eq!(e.code, ErrorCode::InvalidEvent);
            assert_eq!(e.field.as_deref(), field, "{v:?}");
        }
    }
}
