//! Destinations as data: each declares its settings, actions (field schemas, default mappings
//! and a small `perform` that builds one API item), presets, and how items are batched into a
//! request. Mapping, FQL, validation, batching and delivery are shared (engine, delivery).

pub mod braze_cohorts;
pub mod snap_audiences;
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
    /// For destinations whose events do not map one item to one POST (audiences: an event
    /// adds or removes several identifiers, each kind in its own call; a cohort is created
    /// before users join it): builds the requests for every item of one group (`Item.target`
    /// is then the group key). `None`: items of a target are batched by `envelope`.
    pub split: Option<SplitFn>,
    /// OAuth2 token endpoint: with a `refresh_token` setting, a 401 refreshes the access
    /// token once and the request goes again (see `oauth`).
    pub oauth_token_url: Option<&'static str>,
}

/// Top-level request body keys that carry a secret (Braze's cohort calls authenticate in the
/// body): shown as REDACTED in plans.
pub const SECRET_BODY_KEYS: [&str; 2] = ["partner_api_key", "client_secret"];

/// `split(group, item bodies in input order, settings)`.
pub type SplitFn = fn(&str, Vec<Value>, &Settings) -> Vec<Split>;

/// One request built by a destination's `split`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub method: &'static str,
    /// Path (and query without secrets) on the destination's origin.
    pub target: String,
    pub body: Value,
    /// Positions (in the `split` input) of the items this request carries; an item may be
    /// carried by several requests, and is delivered when all of them are.
    pub items: Vec<usize>,
    /// Requests of a phase are delivered after every request of the phases before it, and
    /// only for items none of whose earlier requests failed.
    pub phase: u8,
    /// A named resource to find or create first (see `ensure`).
    pub ensure: Option<crate::ensure::Ensure>,
}

impl Definition {
    pub fn action(&self, id: &str) -> Option<&'static Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

pub static ALL: [&Definition; 3] = [&snap_capi::DEFINITION, &snap_audiences::DEFINITION, &braze_cohorts::DEFINITION];

/// Percent-encoding of a URL path segment or query value (RFC 3986 unreserved kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn find(slug: &str) -> Option<&'static Definition> {
    ALL.iter().copied().find(|d| d.slug == slug || d.aliases.contains(&slug))
}
