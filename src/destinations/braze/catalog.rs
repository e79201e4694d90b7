//! `upsertCatalogItem`: upserts (PUT) or deletes (DELETE) an item of a Braze catalog. The
//! catalog is the one Segment's mapping hook saved (`onMappingSave.outputs.catalog_name` in
//! the subscription's mapping). With `batch_size` 1 each item goes to
//! `/catalogs/{catalog}/items/{id}` as Segment's single path sends it; batched, up to 50 items
//! share `/catalogs/{catalog}/items/` with their ids inside, as Segment's batch path does.

use super::{sync_mode, SYNC_MODE};
use crate::destinations::{Action, Item, Settings};
use crate::error::{ErrorCode, EventError};
use crate::schema::{Field, Ty};
use serde_json::{Map, Value};

const S: Ty = Ty::String;
static OUTPUTS: [Field; 1] = [Field::new("catalog_name", S)];
static HOOK: [Field; 1] = [Field::new("outputs", Ty::Object).props(&OUTPUTS)];

static FIELDS: [Field; 6] = [
    Field::new("item", Ty::Object),
    Field::new("item_id", S).required(),
    Field::new("enable_batching", Ty::Boolean),
    Field::new("batch_size", Ty::Number),
    Field::new("onMappingSave", Ty::Object).props(&HOOK),
    Field::new(SYNC_MODE, S),
];

pub const UPSERT: Action = Action {
    id: "upsertCatalogItem",
    title: "Upsert Catalog Item",
    fields: &FIELDS,
    default_mapping: r#"{"enable_batching": true, "batch_size": 50, "__segment_internal_sync_mode": "upsert"}"#,
    perform: |p, s| perform(&p.to_map(), s),
};

/// The method rides on the target (`#PUT` / `#DELETE`), which also keeps upserts and deletes
/// in separate requests.
pub fn method(target: &str) -> &'static str {
    match target.rsplit_once('#').map(|(_, m)| m) {
        Some("PUT") => "PUT",
        Some("DELETE") => "DELETE",
        _ => "POST",
    }
}

/// The catalog item an item writes (`/catalogs/{catalog}/items/{id}`, whichever path it
/// goes by), for `Definition::resource`: of several writes of one item in a plan only the
/// latest is sent. Apart, a PUT and a DELETE of the item (or two PUTs with `batch_size` 1)
/// would be separate requests that may run at once, leaving Braze in either state; and Braze
/// refuses a whole batched request whose item ids repeat (`ids-not-unique`).
pub fn resource(item: &Item) -> Option<String> {
    let path = item.target.strip_prefix("/catalogs/")?.split('#').next()?;
    if !path.ends_with("/items/") {
        return Some(path.to_string());
    }
    // Batched: the id is inside the one item of the body.
    let body: Value = serde_json::from_str(&item.body).ok()?;
    let id = body.pointer("/items/0/id")?.as_str()?;
    Some(format!("{path}{id}"))
}

/// A batched catalog request (several items, ids in the body).
pub fn is_batch(target: &str) -> bool {
    target.starts_with("/catalogs/") && target.split('#').next().is_some_and(|p| p.ends_with("/items/"))
}

fn invalid(field: &str, message: &str) -> EventError {
    EventError::new(ErrorCode::PayloadValidation, message).with_field(field)
}

fn perform(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    let mode = sync_mode(p, &["upsert", "delete"], "syncMode must be \"upsert\" or \"delete\"")?;
    let id = p.get("item_id").and_then(Value::as_str).unwrap_or_default();
    if id.is_empty() || id.chars().count() > 250 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(invalid("item_id", "Invalid ID Format"));
    }
    let item = p.get("item").and_then(Value::as_object).cloned().unwrap_or_default();
    if mode == "upsert" && item.is_empty() {
        return Err(invalid("item", "Item is required"));
    }
    let catalog = p.get("onMappingSave").and_then(|h| h.pointer("/outputs/catalog_name")).and_then(Value::as_str).filter(|c| !c.is_empty());
    let Some(catalog) = catalog else {
        return Err(EventError::misconfigured("onMappingSave.outputs.catalog_name", "The subscription names no Braze catalog (onMappingSave.outputs.catalog_name)."));
    };
    let catalog = crate::destinations::encode_component(catalog);
    let verb = if mode == "upsert" { "PUT" } else { "DELETE" };
    let (target, object) = if settings.batch_size <= 1 {
        (format!("/catalogs/{catalog}/items/{id}#{verb}"), item)
    } else {
        let mut o = if mode == "upsert" { item } else { Map::new() };
        o.insert("id".into(), Value::String(id.to_string()));
        (format!("/catalogs/{catalog}/items/#{verb}"), o)
    };
    let mut body = Map::new();
    body.insert("items".into(), Value::Array(vec![Value::Object(object)]));
    Ok(crate::destinations::json_item(target, Value::Object(body)))
}

