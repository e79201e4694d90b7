//! From events to requests: subscription matching, consent, mapping, schema validation,
//! the destination's `perform`, and batching. Pure and synchronous: `plan` is the dry run and
//! `send` (delivery) executes exactly the requests `plan` shows.

use crate::config::{Config, Subscription};
use crate::destinations::{Item, ObjectError, Parts};
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
    /// Each entry's objects in the body, when the destination counts them (`parts`).
    pub parts: Vec<Parts>,
    /// The destination's delivery phase for the target.
    pub phase: u8,
}

pub struct Plan {
    pub prepared: Vec<Prepared>,
    pub batches: Vec<Batch>,
    /// The destination's reader of per-object errors in a 2xx answer.
    pub object_errors: Option<fn(&str) -> Vec<ObjectError>>,
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
        let mut matching: Vec<&Subscription> = self.subscriptions.iter().filter(|s| s.trigger.matches(ev.raw)).collect();
        if matching.is_empty() {
            out.push(Prepared::Skipped { message_id, reason: NO_MATCH.into() });
            return;
        }
        if let Some(missing) = self.missing_consent(ev.raw) {
            // Only actions that record the consent decision itself still run.
            matching.retain(|s| self.definition.consent_exempt.contains(&s.action.id));
            if matching.is_empty() {
                out.push(Prepared::Skipped { message_id, reason: format!("consent not granted for category {missing}") });
                return;
            }
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

    fn request(&self, target: &str, body: Value, redact: bool) -> HttpRequest {
        HttpRequest {
            method: (self.definition.method)(target),
            url: (self.definition.url)(&self.origin, target, &self.settings, redact),
            headers: self.headers(redact),
            body,
        }
    }

    /// Group consecutive items with the same target into requests of at most `batch_size`
    /// items and the destination's `max_objects` objects (an item that would overflow a
    /// request starts the next one). Each item's body moves into its request (nothing reads it
    /// after batching), so the plan's `Prepared::Item` bodies are left null.
    pub fn plan(&self, inputs: &[Input]) -> Plan {
        let def = self.definition;
        let mut prepared = self.prepare(inputs);
        // (target, entries, objects) of each request, in the order they fill up.
        let mut groups: Vec<(String, Vec<usize>, usize)> = Vec::new();
        let mut open: Vec<(String, Vec<usize>, usize)> = Vec::new();
        let size = self.settings.batch_size.max(1);
        for (idx, p) in prepared.iter().enumerate() {
            let Prepared::Item { item, .. } = p else { continue };
            let weight = def.parts.map_or(1, |parts| parts(&item.body).iter().map(|(_, n)| n).sum());
            let cap = (def.max_objects)(&item.target);
            match open.iter_mut().position(|(t, ..)| *t == item.target) {
                Some(pos) if open[pos].2 + weight > cap => {
                    groups.push(open.remove(pos));
                    open.push((item.target.clone(), vec![idx], weight));
                    let last = open.len() - 1;
                    if size == 1 || weight >= cap {
                        groups.push(open.remove(last));
                    }
                }
                Some(pos) => {
                    open[pos].1.push(idx);
                    open[pos].2 += weight;
                    if open[pos].1.len() >= size || open[pos].2 >= cap {
                        groups.push(open.remove(pos));
                    }
                }
                None if size == 1 || weight >= cap => groups.push((item.target.clone(), vec![idx], weight)),
                None => open.push((item.target.clone(), vec![idx], weight)),
            }
        }
        groups.extend(open);
        let mut batches: Vec<Batch> = groups
            .into_iter()
            .map(|(target, entries, _)| {
                let mut parts = Vec::new();
                let items: Vec<Value> = entries
                    .iter()
                    .filter_map(|&e| match &mut prepared[e] {
                        Prepared::Item { item, .. } => {
                            if let Some(f) = def.parts {
                                parts.push(f(&item.body));
                            }
                            Some(std::mem::take(&mut item.body))
                        }
                        _ => None,
                    })
                    .collect();
                let body = (def.envelope)(items);
                let phase = (def.phase)(&target);
                Batch { request: self.request(&target, body, false), target, entries, parts, phase }
            })
            .collect();
        batches.sort_by_key(|b| b.entries[0]);
        Plan { prepared, batches, object_errors: def.object_errors }
    }
}

/// The NDJSON line for a prepared entry (plan output). Consumes the plan: each request body
/// moves into its line instead of being copied.
pub fn plan_lines(cfg: &Config, plan: Plan) -> Vec<Value> {
    let Plan { prepared, mut batches, .. } = plan;
    let mut batch_of = vec![None; prepared.len()];
    for (b, batch) in batches.iter().enumerate() {
        for &e in &batch.entries {
            batch_of[e] = Some(b);
        }
    }
    let mut lines = Vec::with_capacity(prepared.len());
    for (idx, p) in prepared.iter().enumerate() {
        let mut line = Map::new();
        match p {
            Prepared::Item { message_id, subscription, .. } => {
                let Some(b) = batch_of[idx] else { continue };
                let batch = &mut batches[b];
                // A batched request is printed once, on its first event's line.
                if batch.entries[0] != idx {
                    line.insert("messageId".into(), json_opt(message_id));
                    line.insert("subscription".into(), Value::String(subscription.clone()));
                    line.insert("batchedWith".into(), json_opt(&entry_message_id(&prepared[batch.entries[0]])));
                } else {
                    line.insert("messageId".into(), json_opt(message_id));
                    line.insert("subscription".into(), Value::String(subscription.clone()));
                    if batch.entries.len() > 1 {
                        let ids = batch.entries.iter().map(|&e| json_opt(&entry_message_id(&prepared[e]))).collect();
                        line.insert("messageIds".into(), Value::Array(ids));
                    }
                    // Built only here: delivery never needs the redacted form. The JSON is built
                    // directly (what serializing an `HttpRequest` gives, fields in declaration
                    // order), and the body moves in: it is printed once, on this line.
                    let mut shown = Map::new();
                    shown.insert("method".into(), Value::String(batch.request.method.into()));
                    shown.insert("url".into(), Value::String((cfg.definition.url)(&cfg.origin, &batch.target, &cfg.settings, true)));
                    shown.insert("headers".into(), Value::Object(cfg.headers(true)));
                    shown.insert("body".into(), std::mem::take(&mut batch.request.body));
                    line.insert("request".into(), Value::Object(shown));
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

pub fn entry_message_id(p: &Prepared) -> Option<String> {
    match p {
        Prepared::Item { message_id, .. } | Prepared::Error { message_id, .. } | Prepared::Skipped { message_id, .. } => message_id.clone(),
    }
}

pub fn json_opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}
