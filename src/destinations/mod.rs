//! Destinations as data: each declares its settings, actions (field schemas, default mappings
//! and a small `perform` that builds one API item), presets, and how items are batched into a
//! request. Mapping, FQL, validation, batching and delivery are shared (engine, delivery).

pub mod braze;
pub mod snap_capi;

use crate::error::EventError;
use crate::schema::Field;
use serde_json::{Map, Value};

/// One API item produced from one event, plus where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Path (and query without secrets) on the destination's origin; items with the same
    /// target may share a batched request.
    pub target: String,
    /// The JSON object for this event inside the request body.
    pub body: Value,
}

/// Where one item's objects sit in its request body: (body array, count) for each array it adds
/// to. Braze counts its per-request object limit over these, and names objects by array and
/// index in its answers.
pub type Parts = Vec<(String, usize)>;

/// A problem with one object of a request the API otherwise accepted (Braze's `errors[]` in a
/// 2xx answer): the array it names (if any) and the object's index in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectError {
    pub array: Option<String>,
    pub index: usize,
    pub message: String,
}

pub struct Action {
    pub id: &'static str,
    pub title: &'static str,
    pub fields: &'static [Field],
    /// Segment's default field mappings (JSON text), the base of every preset.
    pub default_mapping: &'static str,
    pub perform: fn(&Map<String, Value>, &Settings) -> Result<Item, EventError>,
}

pub struct Preset {
    pub name: &'static str,
    pub trigger: &'static str,
    pub action: &'static str,
    /// Fields set on top of the action's default mapping (JSON text).
    pub mapping: &'static str,
}

/// Validated destination settings (the generic part; destinations read their own keys).
#[derive(Debug, Clone)]
pub struct Settings {
    pub values: Map<String, Value>,
    pub access_token: Option<String>,
    pub test_mode: bool,
    /// Items per request (1 = Segment's one event per request).
    pub batch_size: usize,
}

impl Settings {
    /// A trimmed non-empty string setting.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str).map(crate::pii::js_trim).filter(|s| !s.is_empty())
    }
}

pub struct Definition {
    pub slug: &'static str,
    /// Other names users know it by (Segment's catalog slug).
    pub aliases: &'static [&'static str],
    pub name: &'static str,
    pub origin: &'static str,
    /// Settings keys that must be strings when present.
    pub string_settings: &'static [&'static str],
    pub max_batch: usize,
    pub actions: &'static [Action],
    pub presets: &'static [Preset],
    /// Full request URL for a target (`origin` already swapped for a base URL override).
    pub url: fn(origin: &str, target: &str, settings: &Settings, redact: bool) -> String,
    /// Extra request headers (auth); secrets replaced when `redact`.
    pub headers: fn(settings: &Settings, redact: bool) -> Vec<(&'static str, String)>,
    /// Request body for a batch of items.
    pub envelope: fn(Vec<Value>) -> Value,
    /// Objects of an item, when one item can be several objects in several body arrays
    /// (`None`: one object each, which `max_objects` counts).
    pub parts: Option<fn(&Value) -> Parts>,
    /// Most objects one request to a target may carry (Braze: 75 on /users/track).
    pub max_objects: fn(target: &str) -> usize,
    /// Delivery order of a target's requests: every request of a lower phase is answered
    /// before a higher phase starts (Braze: aliases, then tracks, then identifies).
    pub phase: fn(target: &str) -> u8,
    /// Per-object errors in a 2xx answer body.
    pub object_errors: Option<fn(body: &str) -> Vec<ObjectError>>,
    /// Settings checks beyond `string_settings`, once at configuration.
    pub check_settings: fn(&Settings) -> Result<(), EventError>,
    /// Request timeout (ms) unless the caller sets `timeoutMs`.
    pub timeout_ms: u64,
    /// HTTP method of a target's requests (Braze catalogs: PUT / DELETE).
    pub method: fn(target: &str) -> &'static str,
    /// Actions that carry a consent decision itself (an unsubscribe must reach the
    /// destination): they run even when the event does not grant `consent_categories`.
    pub consent_exempt: &'static [&'static str],
}

impl Definition {
    pub fn action(&self, id: &str) -> Option<&'static Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

pub static ALL: [&Definition; 2] = [&snap_capi::DEFINITION, &braze::DEFINITION];

pub fn find(slug: &str) -> Option<&'static Definition> {
    ALL.iter().copied().find(|d| d.slug == slug || d.aliases.contains(&slug))
}
