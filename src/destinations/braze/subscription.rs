//! `updateSubscriptionStatus` (ours; Segment's Braze destination has no such action): sets a
//! user's state in a subscription group through `/v2/subscription/status/set`, so consent and
//! unsubscribe events reach Braze. One group entry per event; Braze takes 50 per request.
//! It runs even when the event withholds the destination's consent categories: a withdrawal
//! of consent is exactly what it records.

use crate::destinations::{Action, Item, Settings};
use crate::error::{ErrorCode, EventError};
use crate::js::is_truthy;
use crate::schema::{Field, Ty};
use serde_json::{Map, Value};

pub const TARGET: &str = "/v2/subscription/status/set";
const S: Ty = Ty::String;

static FIELDS: [Field; 6] = [
    Field::new("subscription_group_id", S).required(),
    Field::new("subscription_state", S).required().choices(&["subscribed", "unsubscribed"]),
    Field::new("external_id", S),
    Field::new("email", S),
    Field::new("phone", S),
    Field::new("use_double_opt_in_logic", Ty::Boolean),
];

pub const STATUS: Action = Action {
    id: "updateSubscriptionStatus",
    title: "Update Subscription Group Status",
    fields: &FIELDS,
    default_mapping: r#"{
  "external_id": {"@path": "$.userId"},
  "email": {"@if": {"exists": {"@path": "$.context.traits.email"}, "then": {"@path": "$.context.traits.email"}, "else": {"@path": "$.properties.email"}}},
  "phone": {"@if": {"exists": {"@path": "$.context.traits.phone"}, "then": {"@path": "$.context.traits.phone"}, "else": {"@path": "$.properties.phone"}}}
}"#,
    perform: |p, s| perform(&p.to_map(), s),
};

/// The user goes by external id when there is one, else by email, else by phone (Braze takes
/// one kind of identifier per group entry).
fn perform(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    let present = |k: &str| p.get(k).filter(|v| is_truthy(v));
    let (key, id) = match (present("external_id"), present("email"), present("phone")) {
        (Some(id), ..) => ("external_ids", id),
        (None, Some(e), _) => ("emails", e),
        (None, None, Some(ph)) => ("phones", ph),
        _ => {
            return Err(EventError::new(ErrorCode::MisconfiguredField, "One of \"external_id\" or \"email\" or \"phone\" is required.").with_field("external_id"))
        }
    };
    let mut group = Map::new();
    for k in ["subscription_group_id", "subscription_state"] {
        if let Some(v) = p.get(k) {
            group.insert(k.into(), v.clone());
        }
    }
    group.insert(key.into(), Value::Array(vec![id.clone()]));
    if let Some(v) = p.get("use_double_opt_in_logic") {
        group.insert("use_double_opt_in_logic".into(), v.clone());
    }
    let mut body = Map::new();
    body.insert("subscription_groups".into(), Value::Array(vec![Value::Object(group)]));
    Ok(crate::destinations::json_item(TARGET.to_string(), Value::Object(body)))
}
