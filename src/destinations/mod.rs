//! Destinations as data: each declares its settings, actions (field schemas, default mappings
//! and a small `perform` that builds one API item), presets, and how items are batched into a
//! request. Mapping, FQL, validation, batching and delivery are shared (engine, delivery).

pub mod braze;
pub mod braze_cohorts;
pub mod snap_audiences;
pub mod snap_capi;

use crate::error::EventError;
use crate::json::{Obj, J};
use crate::schema::Field;
use serde_json::{Map, Value};

/// One API item produced from one event, plus where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Path (and query without secrets) on the destination's origin; items with the same
    /// target may share a batched request.
    pub target: String,
    /// The JSON text of this event's object inside the request body, written once, as
    /// `JSON.stringify` writes it: batching and printing splice it in without re-encoding.
    pub body: String,
}

thread_local! {
    /// Where item bodies are written before their exact-size copy: one buffer that has grown
    /// to the largest body, instead of a string growing (and copied) from empty per item.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Item {
    pub fn new(target: String, body: &J) -> Item {
        match Item::written(target, |out| {
            body.write(out);
            Ok::<(), std::convert::Infallible>(())
        }) {
            Ok(item) => item,
            Err(never) => match never {},
        }
    }

    /// An item whose body `write` writes as JSON text (a destination writing its object
    /// straight from the payload, with no value tree built only to be written out).
    pub fn written<E>(target: String, write: impl FnOnce(&mut String) -> Result<(), E>) -> Result<Item, E> {
        let body = SCRATCH.with_borrow_mut(|text| {
            text.clear();
            let res = write(text).map(|()| text.as_str().to_owned());
            // An outsized body does not stay resident.
            if text.capacity() > 1 << 16 {
                *text = String::new();
            }
            res
        })?;
        Ok(Item { target, body })
    }
}

/// An item whose object a destination built as a serde value (written as `JSON.stringify`
/// writes it).
pub fn json_item(target: String, body: Value) -> Item {
    let mut text = String::new();
    crate::input::write_js_json(&body, &mut text);
    Item { target, body: text }
}

/// `{"<key>":[item,item,...]}` from items' JSON texts.
pub fn wrap_array(key: &str, items: &[&str]) -> String {
    let mut out = String::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + key.len() + 8);
    out.push('{');
    crate::js::quote_json_string(key, &mut out);
    out.push_str(":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push_str("]}");
    out
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
    /// Builds the item from the mapped payload after schema validation.
    pub perform: fn(&Obj, &Settings) -> Result<Item, EventError>,
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
    /// Request body (JSON text) for a batch of items' JSON texts.
    pub envelope: fn(&[&str]) -> String,
    /// Objects of an item (its JSON text), when one item can be several objects in several body arrays
    /// (`None`: one object each, which `max_objects` counts).
    pub parts: Option<fn(&str) -> Parts>,
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
    /// The resource an item sets as a whole, for items whose latest one must decide its state
    /// (a Braze catalog item: a PUT replaces it, a DELETE removes it). Requests of one send may
    /// run at once, so of a plan's items for one resource only the latest is sent, in the
    /// first one's place; the earlier events ride in its request and share its outcome.
    pub resource: Option<fn(&Item) -> Option<String>>,
    /// Actions that carry a consent decision itself (an unsubscribe must reach the
    /// destination): they run even when the event does not grant `consent_categories`.
    pub consent_exempt: &'static [&'static str],
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

/// `split(group, item bodies (JSON text) in input order, settings)`.
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

/// What a destination does not need to say: one item per object, no ordering between
/// requests, POST, no superseded items, no per-object errors, no extra settings checks, Snap's
/// 15 s timeout, no OAuth and no `split`. Destinations spell out the rest and take these with
/// `..BASE`.
pub const BASE: Definition = Definition {
    slug: "",
    aliases: &[],
    name: "",
    origin: "",
    string_settings: &[],
    max_batch: 1,
    actions: &[],
    presets: &[],
    url: |origin, target, _, _| format!("{origin}{target}"),
    headers: |_, _| Vec::new(),
    envelope: |items| format!("[{}]", items.join(",")),
    parts: None,
    max_objects: |_| usize::MAX,
    phase: |_| 0,
    object_errors: None,
    check_settings: |_| Ok(()),
    timeout_ms: 15_000,
    method: |_| "POST",
    resource: None,
    consent_exempt: &[],
    oauth_token_url: None,
    split: None,
};

impl Definition {
    pub fn action(&self, id: &str) -> Option<&'static Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

/// The destinations this build carries. Each sits behind the cargo feature named by its slug
/// (all by default), so a deployment that ships one destination builds only its code
/// (`make build FEATURES=snap-conversions-api`); the linker drops the others.
pub static ALL: &[&Definition] = &[
    #[cfg(feature = "snap-conversions-api")]
    &snap_capi::DEFINITION,
    #[cfg(feature = "braze")]
    &braze::DEFINITION,
    #[cfg(feature = "snap-audiences")]
    &snap_audiences::DEFINITION,
    #[cfg(feature = "braze-cohorts")]
    &braze_cohorts::DEFINITION,
];

/// Names (slug, aliases) of every destination of the crate, built or not: reading them keeps no
/// destination's code in a build without it, and a configuration naming a left-out destination
/// gets told so instead of "unknown".
static KNOWN: [(&str, &[&str]); 4] = [
    (snap_capi::DEFINITION.slug, snap_capi::DEFINITION.aliases),
    (braze::DEFINITION.slug, braze::DEFINITION.aliases),
    (snap_audiences::DEFINITION.slug, snap_audiences::DEFINITION.aliases),
    (braze_cohorts::DEFINITION.slug, braze_cohorts::DEFINITION.aliases),
];

/// Why `lookup` found no destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No destination of the crate has that name.
    Unknown,
    /// A destination of the crate (its slug, which is also its cargo feature) that this build
    /// was made without.
    NotBuilt(&'static str),
}

impl Missing {
    /// The configuration error (field `destination`); `unknown` is the message for a name no
    /// build knows.
    pub fn error(self, unknown: impl Into<String>) -> EventError {
        let message = match self {
            Missing::Unknown => unknown.into(),
            Missing::NotBuilt(slug) => format!(
                "Destination \"{slug}\" is not in this build: the wasm was built without the cargo feature \"{slug}\" (build it with `make build FEATURES={slug}`, or the default features for every destination)"
            ),
        };
        EventError::new(crate::error::ErrorCode::InvalidConfig, message).with_field("destination")
    }
}

/// Percent-encoding of a URL path segment or query value (RFC 3986 unreserved kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_component_into(s, &mut out);
    out
}

/// `encode_component`, appended to `out`.
pub fn encode_component_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// A built destination by slug or alias.
pub fn find(slug: &str) -> Option<&'static Definition> {
    lookup(slug).ok()
}

/// A built destination by slug or alias, or why there is none.
pub fn lookup(slug: &str) -> Result<&'static Definition, Missing> {
    lookup_in(ALL, slug)
}

fn lookup_in(built: &[&'static Definition], slug: &str) -> Result<&'static Definition, Missing> {
    if let Some(d) = built.iter().copied().find(|d| d.slug == slug || d.aliases.contains(&slug)) {
        return Ok(d);
    }
    match KNOWN.iter().find(|(s, aliases)| *s == slug || aliases.contains(&slug)) {
        Some((s, _)) => Err(Missing::NotBuilt(s)),
        None => Err(Missing::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_destination_left_out_of_the_build_is_named_as_such() {
        // A Snap-only build, as `--no-default-features --features snap-conversions-api` makes.
        let snap_only: &[&'static Definition] = &[&snap_capi::DEFINITION];
        assert_eq!(lookup_in(snap_only, "snap-conversions-api").map(|d| d.slug), Ok("snap-conversions-api"));
        assert_eq!(lookup_in(snap_only, "Snap Conversions Api").map(|d| d.slug), Ok("snap-conversions-api"));
        assert_eq!(lookup_in(snap_only, "braze").map(|d| d.slug), Err(Missing::NotBuilt("braze")));
        // By alias too, named by its slug (= its cargo feature).
        assert_eq!(lookup_in(snap_only, "Braze Cohorts").map(|d| d.slug), Err(Missing::NotBuilt("braze-cohorts")));
        assert_eq!(lookup_in(snap_only, "actions-snap-audiences").map(|d| d.slug), Err(Missing::NotBuilt("snap-audiences")));
        assert_eq!(lookup_in(snap_only, "nope").map(|d| d.slug), Err(Missing::Unknown));

        let e = Missing::NotBuilt("braze").error("Unknown destination");
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert_eq!(e.field.as_deref(), Some("destination"));
        assert_eq!(
            e.message,
            "Destination \"braze\" is not in this build: the wasm was built without the cargo feature \"braze\" (build it with `make build FEATURES=braze`, or the default features for every destination)"
        );
        let e = Missing::Unknown.error("Unknown destination");
        assert_eq!((e.code, e.message.as_str(), e.field.as_deref()), (ErrorCode::InvalidConfig, "Unknown destination", Some("destination")));
    }

    #[test]
    fn every_destination_of_the_crate_is_known_by_its_names() {
        let all: [&'static Definition; 4] = [&snap_capi::DEFINITION, &braze::DEFINITION, &snap_audiences::DEFINITION, &braze_cohorts::DEFINITION];
        assert_eq!(KNOWN.len(), all.len());
        for (d, (slug, aliases)) in all.iter().zip(KNOWN.iter()) {
            assert_eq!((d.slug, d.aliases), (*slug, *aliases));
            assert_eq!(lookup_in(&[], d.slug).map(|x| x.slug), Err(Missing::NotBuilt(d.slug)));
            for a in d.aliases {
                assert_eq!(lookup_in(&all, a).map(|x| x.slug), Ok(d.slug));
            }
        }
        // The default build carries all of them.
        #[cfg(all(feature = "snap-conversions-api", feature = "braze", feature = "snap-audiences", feature = "braze-cohorts"))]
        assert_eq!(ALL.iter().map(|d| d.slug).collect::<Vec<_>>(), KNOWN.iter().map(|(s, _)| *s).collect::<Vec<_>>());
    }
}
