//! From events to requests: subscription matching, consent, mapping, schema validation,
//! the destination's `perform`, and batching. Pure and synchronous: `plan` is the dry run and
//! `send` (delivery) executes exactly the requests `plan` shows.

use crate::config::{Config, Subscription};
use crate::destinations::Item;
use crate::error::{ErrorCode, EventError};
use crate::{event, mapping, schema};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Map<String, Value>,
    pub body: Value,
}

/// What happened to one (event, subscription) before delivery.
#[derive(Debug, Clone)]
pub enum Prepared {
    Item { message_id: Option<String>, subscription: String, item: Item },
    Error { message_id: Option<String>, subscription: Option<String>, error: EventError },
    Skipped { message_id: Option<String>, reason: String },
}

/// One request and the prepared entries (indices into the `Prepared` list) it carries.
#[derive(Debug, Clone)]
pub struct Batch {
    pub entries: Vec<usize>,
    /// Path on the destination's origin (no secrets), for the redacted form.
    pub target: String,
    /// With the real secret: for delivery only, never printed.
    pub request: HttpRequest,
    /// Delivery order between dependent requests (see `destinations::Split`); 0 for most.
    pub phase: u8,
    /// A named resource to find or create before the request (see `ensure`).
    pub ensure: Option<crate::ensure::Ensure>,
}

pub struct Plan {
    pub prepared: Vec<Prepared>,
    pub batches: Vec<Batch>,
}

pub const NO_MATCH: &str = "no matching subscription";

/// One input position: an event, or something rejected before it could be parsed (not JSON,
/// too large, too deep, not serializable in JS), which still gets its line in order.
#[derive(Debug, Clone)]
pub enum Input {
    Event(Value),
    Rejected { message_id: Option<String>, error: EventError },
}

impl From<Value> for Input {
    fn from(v: Value) -> Input {
        Input::Event(v)
    }
}

impl Config {
    /// Every (event, subscription) outcome, in input order.
    pub fn prepare(&self, inputs: &[Input]) -> Vec<Prepared> {
        let mut out = Vec::with_capacity(inputs.len());
        for input in inputs {
            match input {
                Input::Event(raw) => self.prepare_one(raw, &mut out),
                Input::Rejected { message_id, error } => out.push(Prepared::Error {
                    message_id: message_id.clone(),
                    subscription: None,
                    error: error.clone(),
                }),
            }
        }
        out
    }

    fn prepare_one(&self, raw: &Value, out: &mut Vec<Prepared>) {
        let message_id = event::message_id_of(raw);
        let ev = match event::parse(raw) {
            Ok(ev) => ev,
            Err(error) => {
                out.push(Prepared::Error { message_id, subscription: None, error });
                return;
            }
        };
        let matching: Vec<&Subscription> = self.subscriptions.iter().filter(|s| s.trigger.matches(ev.raw)).collect();
        if matching.is_empty() {
            out.push(Prepared::Skipped { message_id, reason: NO_MATCH.into() });
            return;
        }
        if let Some(missing) = self.missing_consent(ev.raw) {
            out.push(Prepared::Skipped { message_id, reason: format!("consent not granted for category {missing}") });
            return;
        }
        // Converted once for all matching subscriptions.
        let payload = mapping::payload(ev.raw);
        for sub in matching {
            let res = payload
                .as_ref()
                .map_err(|e| EventError::new(ErrorCode::MappingError, e.message.clone()).with_field(e.path.clone()))
                .and_then(|p| self.run_action(sub, p));
            let subscription = sub.name.clone();
            out.push(match res {
                Ok(item) => Prepared::Item { message_id: message_id.clone(), subscription, item },
                Err(error) => Prepared::Error { message_id: message_id.clone(), subscription: Some(subscription), error },
            });
        }
    }

    /// The first required category the event's consent preferences do not grant. As in
    /// Segment's Consent Management, an event without a consent object is not enforced, and
    /// one with it must grant every category the destination is mapped to.
    fn missing_consent<'a>(&'a self, ev: &Value) -> Option<&'a str> {
        let prefs = ev.pointer("/context/consent/categoryPreferences")?;
        self.consent_categories
            .iter()
            .find(|c| prefs.get(c.as_str()) != Some(&Value::Bool(true)))
            .map(String::as_str)
    }

    fn run_action(&self, sub: &Subscription, payload: &mapping::value::JsVal) -> Result<Item, EventError> {
        let mapped = sub.mapping.apply(payload)
            .map_err(|e| EventError::new(ErrorCode::MappingError, e.message).with_field(e.path))?;
        let Value::Object(mut payload) = mapped else {
            return Err(EventError::new(ErrorCode::MappingError, "The mapping did not produce an object"));
        };
        schema::remove_empty_values(&mut payload, sub.action.fields);
        schema::validate_and_coerce(&mut payload, sub.action.fields)?;
        (sub.action.perform)(&payload, &self.settings)
    }

    fn headers(&self, redact: bool) -> Map<String, Value> {
        let mut headers = Map::new();
        for (k, v) in (self.definition.headers)(&self.settings, redact) {
            headers.insert(k.into(), Value::String(v));
        }
        headers.insert("content-type".into(), Value::String("application/json".into()));
        headers
    }

    pub(crate) fn request(&self, method: &'static str, target: &str, body: Value, redact: bool) -> HttpRequest {
        HttpRequest {
            method,
            url: (self.definition.url)(&self.origin, target, &self.settings, redact),
            headers: self.headers(redact),
            body,
        }
    }

    /// Group consecutive items with the same target into requests of at most `batch_size`.
    /// Each item's body moves into its request (nothing reads it after batching), so the
    /// plan's `Prepared::Item` bodies are left null.
    pub fn plan(&self, inputs: &[Input]) -> Plan {
        let prepared = self.prepare(inputs);
        match self.definition.split {
            Some(split) => self.plan_split(prepared, split),
            None => self.plan_batched(prepared),
        }
    }

    fn plan_batched(&self, mut prepared: Vec<Prepared>) -> Plan {
        // (target, entries) of each request, in the order they fill up.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut open: Vec<(String, Vec<usize>)> = Vec::new();
        let size = self.settings.batch_size.max(1);
        for (idx, p) in prepared.iter().enumerate() {
            let Prepared::Item { item, .. } = p else { continue };
            match open.iter_mut().position(|(t, _)| *t == item.target) {
                Some(pos) => {
                    open[pos].1.push(idx);
                    if open[pos].1.len() >= size {
                        groups.push(open.remove(pos));
                    }
                }
                None if size == 1 => groups.push((item.target.clone(), vec![idx])),
                None => open.push((item.target.clone(), vec![idx])),
            }
        }
        groups.extend(open);
        let mut batches: Vec<Batch> = groups
            .into_iter()
            .map(|(target, entries)| {
                let items: Vec<Value> = entries
                    .iter()
                    .filter_map(|&e| match &mut prepared[e] {
                        Prepared::Item { item, .. } => Some(std::mem::take(&mut item.body)),
                        _ => None,
                    })
                    .collect();
                let body = (self.definition.envelope)(items);
                Batch { request: self.request("POST", &target, body, false), target, entries, phase: 0, ensure: None }
            })
            .collect();
        batches.sort_by_key(|b| b.entries[0]);
        Plan { prepared, batches }
    }

    /// Every item of a group (its `target`, in order of first appearance) goes to the
    /// destination's `split`, which builds the requests (and their batching) itself.
    fn plan_split(&self, mut prepared: Vec<Prepared>, split: crate::destinations::SplitFn) -> Plan {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut group_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (idx, p) in prepared.iter().enumerate() {
            let Prepared::Item { item, .. } = p else { continue };
            match group_of.get(item.target.as_str()) {
                Some(&g) => groups[g].1.push(idx),
                None => {
                    group_of.insert(item.target.as_str(), groups.len());
                    groups.push((item.target.clone(), vec![idx]));
                }
            }
        }
        let mut batches = Vec::new();
        for (group, entries) in groups {
            let bodies: Vec<Value> = entries
                .iter()
                .map(|&e| match &mut prepared[e] {
                    Prepared::Item { item, .. } => std::mem::take(&mut item.body),
                    _ => Value::Null,
                })
                .collect();
            for s in split(&group, bodies, &self.settings) {
                let carried: Vec<usize> = s.items.iter().filter_map(|&i| entries.get(i).copied()).collect();
                if carried.is_empty() {
                    continue;
                }
                batches.push(Batch { request: self.request(s.method, &s.target, s.body, false), target: s.target, entries: carried, phase: s.phase, ensure: s.ensure });
            }
        }
        // Stable: an event's requests stay in the order `split` gave them.
        batches.sort_by_key(|b| b.entries[0]);
        Plan { prepared, batches }
    }
}

/// The NDJSON line for a prepared entry (plan output). Consumes the plan: each request body
/// moves into its line instead of being copied.
pub fn plan_lines(cfg: &Config, plan: Plan) -> Vec<Value> {
    let Plan { prepared, mut batches } = plan;
    // The request each entry is carried by; entries carried by several (destinations with a
    // `split`) have the others in `more_of`, so the usual case allocates nothing per entry.
    let mut first_of: Vec<Option<usize>> = vec![None; prepared.len()];
    let mut more_of: std::collections::HashMap<usize, Vec<usize>> = std::collections::HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        for &e in &batch.entries {
            match first_of[e] {
                None => first_of[e] = Some(b),
                Some(_) => more_of.entry(e).or_default().push(b),
            }
        }
    }
    let mut lines = Vec::with_capacity(prepared.len());
    for (idx, p) in prepared.iter().enumerate() {
        let mut line = Map::new();
        match p {
            Prepared::Item { message_id, subscription, .. } => {
                let Some(first) = first_of[idx] else { continue };
                line.insert("messageId".into(), json_opt(message_id));
                line.insert("subscription".into(), Value::String(subscription.clone()));
                // A batched request is printed once, on its first event's line.
                let Some(more) = more_of.get(&idx) else {
                    let batch = &mut batches[first];
                    if batch.entries[0] != idx {
                        line.insert("batchedWith".into(), json_opt(&entry_message_id(&prepared[batch.entries[0]])));
                    } else {
                        if batch.entries.len() > 1 {
                            let ids = batch.entries.iter().map(|&e| json_opt(&entry_message_id(&prepared[e]))).collect();
                            line.insert("messageIds".into(), Value::Array(ids));
                        }
                        line.insert("request".into(), shown_request(cfg, batch));
                    }
                    lines.push(Value::Object(line));
                    continue;
                };
                let led: Vec<usize> = std::iter::once(first).chain(more.iter().copied()).filter(|&b| batches[b].entries[0] == idx).collect();
                if led.is_empty() {
                    line.insert("batchedWith".into(), json_opt(&entry_message_id(&prepared[batches[first].entries[0]])));
                } else {
                    let mut carried: Vec<usize> = Vec::new();
                    for &b in &led {
                        for &e in &batches[b].entries {
                            if !carried.contains(&e) {
                                carried.push(e);
                            }
                        }
                    }
                    if carried.len() > 1 {
                        let ids = carried.iter().map(|&e| json_opt(&entry_message_id(&prepared[e]))).collect();
                        line.insert("messageIds".into(), Value::Array(ids));
                    }
                    let mut shown: Vec<Value> = led.iter().map(|&b| shown_request(cfg, &mut batches[b])).collect();
                    // One request: `request`, as always; several (audiences): `requests`.
                    if shown.len() == 1 {
                        line.insert("request".into(), shown.pop().unwrap_or(Value::Null));
                    } else {
                        line.insert("requests".into(), Value::Array(shown));
                    }
                }
            }
            Prepared::Error { message_id, subscription, error, .. } => {
                line.insert("messageId".into(), json_opt(message_id));
                if let Some(s) = subscription {
                    line.insert("subscription".into(), Value::String(s.clone()));
                }
                line.insert("error".into(), serde_json::to_value(error).unwrap_or(Value::Null));
            }
            Prepared::Skipped { message_id, reason, .. } => {
                line.insert("messageId".into(), json_opt(message_id));
                line.insert("skipped".into(), Value::String(reason.clone()));
            }
        }
        lines.push(Value::Object(line));
    }
    lines
}

/// The redacted form of a batch's request. Built only here: delivery never needs it. The
/// JSON is built directly (what serializing an `HttpRequest` gives, fields in declaration
/// order), and the body moves in: it is printed once.
fn shown_request(cfg: &Config, batch: &mut Batch) -> Value {
    let mut shown = Map::new();
    shown.insert("method".into(), Value::String(batch.request.method.into()));
    shown.insert("url".into(), Value::String((cfg.definition.url)(&cfg.origin, &batch.target, &cfg.settings, true)));
    shown.insert("headers".into(), Value::Object(cfg.headers(true)));
    let mut body = std::mem::take(&mut batch.request.body);
    if let (Some(_), Value::Object(b)) = (cfg.definition.split, &mut body) {
        for key in crate::destinations::SECRET_BODY_KEYS {
            if let Some(v) = b.get_mut(key) {
                *v = Value::String("REDACTED".into());
            }
        }
    }
    shown.insert("body".into(), body);
    Value::Object(shown)
}

pub fn entry_message_id(p: &Prepared) -> Option<String> {
    match p {
        Prepared::Item { message_id, .. } | Prepared::Error { message_id, .. } | Prepared::Skipped { message_id, .. } => message_id.clone(),
    }
}

pub fn json_opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}
