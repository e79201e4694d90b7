//! `triggerCampaign` and `triggerCanvas`: API-triggered delivery of a campaign or canvas to
//! listed recipients or as a broadcast. One request per event (the body is the request).

use crate::destinations::{Action, Item, Settings};
use crate::error::{ErrorCode, EventError};
use crate::js::is_truthy;
use crate::schema::{Field, Ty};
use serde_json::{Map, Value};

const S: Ty = Ty::String;
const PRIORITIES: [&str; 4] = ["identified", "unidentified", "most_recently_updated", "least_recently_updated"];

static ATTACHMENT: [Field; 2] = [Field::new("file_name", S).required(), Field::new("url", S).required()];
static PRIORITY: [Field; 2] = [Field::new("first_priority", S).choices(&PRIORITIES), Field::new("second_priority", S).choices(&PRIORITIES)];
static CAMPAIGN_RECIPIENT: [Field; 6] = [
    Field::new("external_user_id", S),
    Field::new("user_alias", Ty::Object),
    Field::new("email", S),
    Field::new("trigger_properties", Ty::Object),
    Field::new("send_to_existing_only", Ty::Boolean),
    Field::new("attributes", Ty::Object),
];
static CANVAS_RECIPIENT: [Field; 6] = [
    Field::new("external_user_id", S),
    Field::new("user_alias", Ty::Object),
    Field::new("email", S),
    Field::new("canvas_entry_properties", Ty::Object),
    Field::new("send_to_existing_only", Ty::Boolean),
    Field::new("attributes", Ty::Object),
];

static CAMPAIGN_FIELDS: [Field; 8] = [
    Field::new("campaign_id", S).required(),
    Field::new("send_id", S),
    Field::new("trigger_properties", Ty::Object),
    Field::new("broadcast", Ty::Boolean),
    Field::new("attachments", Ty::Object).multiple().props(&ATTACHMENT),
    Field::new("recipients", Ty::Object).multiple().props(&CAMPAIGN_RECIPIENT),
    Field::new("prioritization", Ty::Object).props(&PRIORITY),
    Field::new("audience", Ty::Object),
];
static CANVAS_FIELDS: [Field; 6] = [
    Field::new("canvas_id", S).required(),
    Field::new("canvas_entry_properties", Ty::Object),
    Field::new("broadcast", Ty::Boolean),
    Field::new("recipients", Ty::Object).multiple().props(&CANVAS_RECIPIENT),
    Field::new("prioritization", Ty::Object).props(&PRIORITY),
    Field::new("audience", Ty::Object),
];

pub const CAMPAIGN: Action = Action {
    id: "triggerCampaign",
    title: "Trigger Campaign",
    fields: &CAMPAIGN_FIELDS,
    default_mapping: r#"{"trigger_properties": {"@path": "$.properties"}}"#,
    perform: |p, s| campaign(&p.to_map(), s),
};
pub const CANVAS: Action = Action {
    id: "triggerCanvas",
    title: "Trigger Canvas",
    fields: &CANVAS_FIELDS,
    default_mapping: r#"{"canvas_entry_properties": {"@path": "$.properties"}}"#,
    perform: |p, s| canvas(&p.to_map(), s),
};

fn invalid(message: &str) -> EventError {
    EventError::new(ErrorCode::PayloadValidation, message).with_field("recipients")
}

/// The validated payload is the request body, with the prioritization moved into each
/// recipient when there are recipients.
fn trigger(p: &Map<String, Value>, target: &str) -> Result<Item, EventError> {
    let broadcast = p.get("broadcast").is_some_and(is_truthy);
    let recipients = p.get("recipients").and_then(Value::as_array).filter(|r| !r.is_empty());
    if !broadcast && recipients.is_none() {
        return Err(invalid("Either \"broadcast\" must be true or \"recipients\" list must be provided."));
    }
    if broadcast && recipients.is_some() {
        return Err(invalid("When \"broadcast\" is true, \"recipients\" list cannot be included."));
    }
    let mut body = p.clone();
    if let (Some(list), Some(Value::Object(prio))) = (recipients, p.get("prioritization")) {
        let order: Vec<Value> = ["first_priority", "second_priority"].iter().filter_map(|k| prio.get(*k).filter(|v| is_truthy(v)).cloned()).collect();
        if !order.is_empty() {
            let with: Vec<Value> = list
                .iter()
                .map(|r| {
                    let mut m = r.as_object().cloned().unwrap_or_default();
                    m.insert("prioritization".into(), Value::Array(order.clone()));
                    Value::Object(m)
                })
                .collect();
            body.insert("recipients".into(), Value::Array(with));
        }
        body.remove("prioritization");
    }
    Ok(crate::destinations::json_item(target.to_string(), Value::Object(body)))
}

fn campaign(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    // Segment requires `broadcast` when there are neither recipients nor an audience.
    if !p.contains_key("broadcast") && !p.contains_key("recipients") && !p.contains_key("audience") {
        return Err(EventError::new(ErrorCode::PayloadValidation, "The root value is missing the required field 'broadcast'.").with_field("broadcast"));
    }
    trigger(p, "/campaigns/trigger/send")
}

fn canvas(p: &Map<String, Value>, _: &Settings) -> Result<Item, EventError> {
    trigger(p, "/canvas/trigger/send")
}
