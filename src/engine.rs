//! From events to requests: subscription matching, consent, mapping, schema validation,
//! the destination's `perform`, and batching. Pure and synchronous: `plan` is the dry run and
//! `send` (delivery) executes exactly the requests `plan` shows.

use crate::config::{Config, Subscription};
use crate::destinations::{Item, ObjectError, Parts};
use crate::error::{ErrorCode, EventError};
use crate::json::J;
use crate::mapping::value::JsVal;
use crate::{event, input, schema};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Map<String, Value>,
    /// JSON text.
    pub body: String,
}

/// What happened to one (event, subscription) before delivery.
#[derive(Debug, Clone)]
pub enum Prepared {
    Item { message_id: Option<String>, subscription: Arc<str>, item: Item },
    Error { message_id: Option<String>, subscription: Option<Arc<str>>, error: EventError },
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
    /// Delivery order: every request of a lower phase is answered before a higher phase
    /// starts (Braze's targets, audiences' dependent requests); 0 for most.
    pub phase: u8,
    /// A named resource to find or create before the request (see `ensure`).
    pub ensure: Option<crate::ensure::Ensure>,
    /// (entry, entry whose object it rides on) for entries that add no object of their own: an
    /// item superseded by a later one for the same resource (`Definition::resource`).
    pub riders: Vec<(usize, usize)>,
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
pub enum Input<'a> {
    Event(J<'a>),
    Rejected { message_id: Option<String>, error: EventError },
}

impl Config {
    /// Every (event, subscription) outcome, in input order. Each event is parsed, prepared
    /// and dropped before the next one is read, so the working set stays one event.
    /// PII digests are remembered for the call (`pii::with_digest_memo`).
    pub fn prepare<'a>(&self, pieces: &[input::Piece<'a>]) -> Vec<Prepared> {
        let mut out = Vec::with_capacity(pieces.len());
        let mut stacks = crate::json::Stacks::default();
        crate::pii::with_digest_memo(|| {
            for piece in pieces {
                self.prepare_input(input::parse_event_in(piece.text, piece.line, &mut stacks), &mut out);
            }
        });
        out
    }

    /// One input's outcomes appended to `out` (`prepare` for inputs parsed as they are read,
    /// as `input::each_array_event` gives them; callers run it inside `pii::with_digest_memo`).
    pub fn prepare_input(&self, input: Input, out: &mut Vec<Prepared>) {
        match input {
            Input::Event(raw) => self.prepare_one(&raw, out),
            Input::Rejected { message_id, error } => out.push(Prepared::Error { message_id, subscription: None, error }),
        }
    }

    fn prepare_one(&self, raw: &J, out: &mut Vec<Prepared>) {
        thread_local! {
            /// Indices of an event's matching subscriptions, reused across events.
            static MATCHING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
        }
        let mut matching = MATCHING.take();
        matching.clear();
        self.prepare_matching(raw, &mut matching, out);
        MATCHING.set(matching);
    }

    fn prepare_matching(&self, raw: &J, matching: &mut Vec<usize>, out: &mut Vec<Prepared>) {
        let mut message_id = event::message_id_of(raw);
        let ev = match event::parse(raw) {
            Ok(ev) => ev,
            Err(error) => {
                out.push(Prepared::Error { message_id, subscription: None, error });
                return;
            }
        };
        let (ty, name) = (ev.fields.str("type"), ev.fields.str("event"));
        let matches = |s: &Subscription| s.trigger.matches_type_event(ty, name).unwrap_or_else(|| s.trigger.matches(ev.raw));
        matching.extend(self.subscriptions.iter().enumerate().filter(|(_, s)| matches(s)).map(|(i, _)| i));
        if matching.is_empty() {
            out.push(Prepared::Skipped { message_id, reason: NO_MATCH.into() });
            return;
        }
        if let Some(missing) = self.missing_consent(ev.raw) {
            // Only actions that record the consent decision itself still run.
            matching.retain(|&i| self.definition.consent_exempt.contains(&self.subscriptions[i].action.id));
            if matching.is_empty() {
                out.push(Prepared::Skipped { message_id, reason: format!("consent not granted for category {missing}") });
                return;
            }
        }
        // Made at most once, for the subscriptions whose mapping needs the full evaluator.
        let mut converted = None;
        let last = matching.len() - 1;
        for (n, &i) in matching.iter().enumerate() {
            let sub = &self.subscriptions[i];
            let res = self.run_action(sub, ev.raw, &mut converted);
            let subscription = sub.name.clone();
            // The last entry takes the id itself.
            let message_id = if n == last { message_id.take() } else { message_id.clone() };
            out.push(match res {
                Ok(item) => Prepared::Item { message_id, subscription, item },
                Err(error) => Prepared::Error { message_id, subscription: Some(subscription), error },
            });
        }
    }

    /// The first required category the event's consent preferences do not grant. As in
    /// Segment's Consent Management, an event without a consent object is not enforced, and
    /// one with it must grant every category the destination is mapped to.
    fn missing_consent<'a>(&'a self, ev: &J) -> Option<&'a str> {
        let prefs = ev.as_obj()?.obj("context")?.obj("consent")?.get("categoryPreferences")?;
        self.consent_categories
            .iter()
            .find(|c| prefs.as_obj().and_then(|p| p.get(c.as_str())) != Some(&J::Bool(true)))
            .map(String::as_str)
    }

    fn run_action(&self, sub: &Subscription, event: &J, converted: &mut Option<JsVal>) -> Result<Item, EventError> {
        // Mapped and checked in one walk where it can be (speed builds), else in two.
        if let Some(payload) = sub.mapping.apply_checked(event, sub.action.fields) {
            return (sub.action.perform)(&payload, &self.settings);
        }
        let mapped = sub.mapping.apply_event(event, converted)
            .map_err(|e| EventError::new(ErrorCode::MappingError, e.message).with_field(e.path))?;
        let J::Obj(mut payload) = mapped else {
            return Err(EventError::new(ErrorCode::MappingError, "The mapping did not produce an object"));
        };
        schema::clean_and_validate(&mut payload, sub.action.fields)?;
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

    pub(crate) fn request(&self, method: &'static str, target: &str, body: String, redact: bool) -> HttpRequest {
        self.request_with(method, target, body, self.headers(redact), redact)
    }

    /// `request` with headers made once per plan (they are the same for every request).
    fn request_with(&self, method: &'static str, target: &str, body: String, headers: Map<String, Value>, redact: bool) -> HttpRequest {
        HttpRequest { method, url: (self.definition.url)(&self.origin, target, &self.settings, redact), headers, body }
    }
}

/// The destination's URL of each target, made once per plan: a plan's requests go to a few
/// targets (one request per event with the default batch size of 1).
struct Urls<'c> {
    cfg: &'c Config,
    redact: bool,
    made: Vec<(String, String)>,
}

impl<'c> Urls<'c> {
    fn new(cfg: &'c Config, redact: bool) -> Self {
        Urls { cfg, redact, made: Vec::new() }
    }

    fn of(&mut self, target: &str) -> &str {
        let at = match self.made.iter().position(|(t, _)| t == target) {
            Some(at) => at,
            None => {
                let url = (self.cfg.definition.url)(&self.cfg.origin, target, &self.cfg.settings, self.redact);
                // Bounded: past a few targets, the newest one takes the last place.
                if self.made.len() >= 16 {
                    self.made.pop();
                }
                self.made.push((target.to_string(), url));
                self.made.len() - 1
            }
        };
        &self.made[at].1
    }
}

impl Config {
    /// Requests for the prepared entries: batched by target (`plan_batched`), or built by the
    /// destination's `split`.
    pub fn plan(&self, pieces: &[input::Piece]) -> Plan {
        self.plan_prepared(self.prepare(pieces))
    }

    /// `plan` of entries prepared already.
    pub fn plan_prepared(&self, prepared: Vec<Prepared>) -> Plan {
        self.plan_for(prepared, true)
    }

    /// `plan_prepared` for a plan that is only written out (`write_plan_lines`, which shows
    /// each request's redacted URL and headers itself): batched requests are left without
    /// them, which saves copying the headers per request, and the items' targets move into
    /// their requests. Never for delivery.
    pub fn plan_to_show(&self, prepared: Vec<Prepared>) -> Plan {
        self.plan_for(prepared, false)
    }

    fn plan_for(&self, prepared: Vec<Prepared>, sendable: bool) -> Plan {
        match self.definition.split {
            Some(split) => self.plan_split(prepared, split),
            None => self.plan_batched(prepared, sendable),
        }
    }

    /// Group consecutive items with the same target into requests of at most `batch_size`
    /// items and the destination's `max_objects` objects (an item that would overflow a
    /// request starts the next one). Each item's text is copied into its request (nothing
    /// reads it after batching), so the plan's `Prepared::Item` bodies are left empty.
    fn plan_batched(&self, mut prepared: Vec<Prepared>, sendable: bool) -> Plan {
        let def = self.definition;
        let riders = match def.resource {
            Some(resource) => supersede(&mut prepared, resource),
            None => Vec::new(),
        };
        // Riders add no object: they join their carrier's request after grouping.
        let mut rides = vec![false; if riders.is_empty() { 0 } else { prepared.len() }];
        for &(r, _) in &riders {
            rides[r] = true;
        }
        // (entries, objects) of each request, in the order they fill up; a request's target
        // is its first item's.
        let mut groups: Vec<(Vec<usize>, usize)> = Vec::new();
        let mut open: Vec<(Vec<usize>, usize)> = Vec::new();
        let size = self.settings.batch_size.max(1);
        // Each item's objects, read once (Braze parses them from the item's text).
        let mut parts_of: Vec<Parts> = vec![Vec::new(); if def.parts.is_some() { prepared.len() } else { 0 }];
        for (idx, p) in prepared.iter().enumerate() {
            let Prepared::Item { item, .. } = p else { continue };
            if rides.get(idx) == Some(&true) {
                continue;
            }
            let weight = match def.parts {
                Some(parts) => {
                    parts_of[idx] = parts(&item.body);
                    parts_of[idx].iter().map(|(_, n)| n).sum()
                }
                None => 1,
            };
            let cap = (def.max_objects)(&item.target);
            match open.iter().position(|(entries, _)| matches!(&prepared[entries[0]], Prepared::Item { item: first, .. } if first.target == item.target)) {
                Some(pos) if open[pos].1 + weight > cap => {
                    groups.push(open.remove(pos));
                    open.push((vec![idx], weight));
                    let last = open.len() - 1;
                    if size == 1 || weight >= cap {
                        groups.push(open.remove(last));
                    }
                }
                Some(pos) => {
                    open[pos].0.push(idx);
                    open[pos].1 += weight;
                    if open[pos].0.len() >= size || open[pos].1 >= cap {
                        groups.push(open.remove(pos));
                    }
                }
                None if size == 1 || weight >= cap => groups.push((vec![idx], weight)),
                None => open.push((vec![idx], weight)),
            }
        }
        groups.extend(open);
        // Each rider joins its carrier's group, in input order there: the request still shows
        // on its first event's line.
        let mut group_of = vec![0; if riders.is_empty() { 0 } else { prepared.len() }];
        if !riders.is_empty() {
            for (g, (entries, _)) in groups.iter().enumerate() {
                entries.iter().for_each(|&e| group_of[e] = g);
            }
            for &(r, carrier) in &riders {
                let entries = &mut groups[group_of[carrier]].0;
                entries.insert(entries.partition_point(|&e| e < r), r);
            }
        }
        let headers = if sendable { self.headers(false) } else { Map::new() };
        let mut urls = Urls::new(self, false);
        let mut batches: Vec<Batch> = Vec::with_capacity(groups.len());
        for (entries, _) in groups {
            let parts: Vec<Parts> = if def.parts.is_some() { entries.iter().map(|&e| std::mem::take(&mut parts_of[e])).collect() } else { Vec::new() };
            let body_of = |e: usize| match &prepared[e] {
                Prepared::Item { item, .. } if rides.get(e) != Some(&true) => Some(item.body.as_str()),
                _ => None,
            };
            // One item (the default batch size) needs no list of them.
            let body = match entries[..] {
                [e] => (def.envelope)(body_of(e).as_slice()),
                _ => (def.envelope)(&entries.iter().filter_map(|&e| body_of(e)).collect::<Vec<&str>>()),
            };
            // A plan only shown has its items' targets moved into their requests.
            let target = match &mut prepared[entries[0]] {
                Prepared::Item { item, .. } if !sendable => std::mem::take(&mut item.target),
                Prepared::Item { item, .. } => item.target.clone(),
                _ => String::new(),
            };
            let phase = (def.phase)(&target);
            let method = (def.method)(&target);
            let url = if sendable { urls.of(&target).to_string() } else { String::new() };
            let request = HttpRequest { method, url, headers: headers.clone(), body };
            batches.push(Batch { request, target, entries, parts, phase, ensure: None, riders: Vec::new() });
        }
        for &(r, carrier) in &riders {
            batches[group_of[carrier]].riders.push((r, carrier));
        }
        // The items' texts now live in their requests.
        for p in &mut prepared {
            if let Prepared::Item { item, .. } = p {
                item.body = String::new();
            }
        }
        crate::order::stable_sort_by_key(&mut batches, |b| b.entries[0] as u64);
        Plan { prepared, batches, object_errors: def.object_errors }
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
                    Prepared::Item { item, .. } => serde_json::from_str(&std::mem::take(&mut item.body)).unwrap_or(Value::Null),
                    _ => Value::Null,
                })
                .collect();
            for s in split(&group, bodies, &self.settings) {
                let carried: Vec<usize> = s.items.iter().filter_map(|&i| entries.get(i).copied()).collect();
                if carried.is_empty() {
                    continue;
                }
                let body = split_body(s.body);
                batches.push(Batch {
                    request: self.request(s.method, &s.target, body, false),
                    target: s.target,
                    entries: carried,
                    parts: Vec::new(),
                    phase: s.phase,
                    ensure: s.ensure,
                    riders: Vec::new(),
                });
            }
        }
        // Stable: an event's requests stay in the order `split` gave them.
        crate::order::stable_sort_by_key(&mut batches, |b| b.entries[0] as u64);
        Plan { prepared, batches, object_errors: self.definition.object_errors }
    }
}

/// Items for one resource (`Definition::resource`): the first one's entry takes the latest
/// item, and each later entry rides on it. Sent apart (a PUT and a DELETE of one catalog
/// item), requests of one call may run at once and Braze would end in either state; sent as
/// one, the latest event decides. Returns (rider, carrier) pairs in input order.
fn supersede(prepared: &mut [Prepared], resource: fn(&Item) -> Option<String>) -> Vec<(usize, usize)> {
    let keys: Vec<Option<String>> = prepared
        .iter()
        .map(|p| match p {
            Prepared::Item { item, .. } => resource(item),
            _ => None,
        })
        .collect();
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut riders = Vec::new();
    for (idx, key) in keys.iter().enumerate() {
        let Some(key) = key else { continue };
        let Some(&carrier) = first.get(key.as_str()) else {
            first.insert(key.as_str(), idx);
            continue;
        };
        let latest = match &mut prepared[idx] {
            Prepared::Item { item, .. } => std::mem::replace(item, Item { target: String::new(), body: String::new() }),
            _ => continue,
        };
        if let Prepared::Item { item, .. } = &mut prepared[carrier] {
            *item = latest;
        }
        riders.push((idx, carrier));
    }
    riders
}

/// Plan output: one line per prepared entry, written as `JSON.stringify` writes it. A
/// batched request is printed once, on its first event's line; an entry carried by several
/// requests (audiences) lists those it leads under `requests`. `sep` follows every line
/// (`\n` for NDJSON, `,` inside a JSON array: the caller trims the last).
pub fn write_plan_lines(cfg: &Config, plan: &Plan, out: &mut String, sep: char) {
    let Plan { prepared, batches, .. } = plan;
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
    // The redacted headers are the same on every line.
    let mut headers = String::new();
    input::write_js_json(&Value::Object(cfg.headers(true)), &mut headers);
    let mut urls = Urls::new(cfg, true);
    let quote = |s: &str, out: &mut String| crate::js::quote_json_string(s, out);
    let id = |m: &Option<String>, out: &mut String| match m {
        Some(s) => quote(s, out),
        None => out.push_str("null"),
    };
    for (idx, p) in prepared.iter().enumerate() {
        match p {
            Prepared::Item { message_id, subscription, .. } => {
                let Some(first) = first_of[idx] else { continue };
                out.push_str("{\"messageId\":");
                id(message_id, out);
                out.push_str(",\"subscription\":");
                quote(subscription, out);
                // The requests this entry leads (is the first entry of); most entries are
                // carried by one request and lead it or not, with no allocation.
                let (one, many): ([usize; 1], Vec<usize>);
                let led: &[usize] = match more_of.get(&idx) {
                    None if batches[first].entries[0] == idx => {
                        one = [first];
                        &one
                    }
                    None => &[],
                    Some(more) => {
                        many = std::iter::once(first).chain(more.iter().copied()).filter(|&b| batches[b].entries[0] == idx).collect();
                        &many
                    }
                };
                if led.is_empty() {
                    out.push_str(",\"batchedWith\":");
                    id(&entry_message_id(&prepared[batches[first].entries[0]]), out);
                } else {
                    let carried: Vec<usize>;
                    let ids: &[usize] = if let [b] = led {
                        &batches[*b].entries
                    } else {
                        let mut all: Vec<usize> = Vec::new();
                        for &b in led {
                            for &e in &batches[b].entries {
                                if !all.contains(&e) {
                                    all.push(e);
                                }
                            }
                        }
                        carried = all;
                        &carried
                    };
                    if ids.len() > 1 {
                        out.push_str(",\"messageIds\":[");
                        for (i, &e) in ids.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            id(&entry_message_id(&prepared[e]), out);
                        }
                        out.push(']');
                    }
                    // One request: `request`, as always; several (audiences): `requests`.
                    if let [b] = led {
                        out.push_str(",\"request\":");
                        write_shown_request(cfg, &batches[*b], &headers, &mut urls, out);
                    } else {
                        out.push_str(",\"requests\":[");
                        for (i, &b) in led.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            write_shown_request(cfg, &batches[b], &headers, &mut urls, out);
                        }
                        out.push(']');
                    }
                }
                out.push('}');
            }
            Prepared::Error { message_id, subscription, error } => {
                out.push_str("{\"messageId\":");
                id(message_id, out);
                if let Some(s) = subscription {
                    out.push_str(",\"subscription\":");
                    quote(s, out);
                }
                out.push_str(",\"error\":");
                write_error(error, out);
                out.push('}');
            }
            Prepared::Skipped { message_id, reason } => {
                out.push_str("{\"messageId\":");
                id(message_id, out);
                out.push_str(",\"skipped\":");
                quote(reason, out);
                out.push('}');
            }
        }
        out.push(sep);
    }
}

/// A `split` request's body as sent: none (a GET lookup), a string as it is (a form), or JSON.
pub(crate) fn split_body(body: Value) -> String {
    match body {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => {
            let mut text = String::new();
            input::write_js_json(&other, &mut text);
            text
        }
    }
}

/// The redacted form of a batch's request (delivery never needs it): fields in the order
/// serializing an `HttpRequest` gives. The body is spliced in as written, except that
/// destinations which authenticate in the body (`split` ones) have those keys REDACTED.
fn write_shown_request(cfg: &Config, batch: &Batch, headers: &str, urls: &mut Urls, out: &mut String) {
    out.push_str("{\"method\":");
    crate::js::quote_json_string(batch.request.method, out);
    out.push_str(",\"url\":");
    crate::js::quote_json_string(urls.of(&batch.target), out);
    out.push_str(",\"headers\":");
    out.push_str(headers);
    out.push_str(",\"body\":");
    let secret = cfg.definition.split.is_some() && crate::destinations::SECRET_BODY_KEYS.iter().any(|k| batch.request.body.contains(k));
    // Only a body that may hold a secret is parsed (the usual body is spliced in as is).
    let parsed = if secret { serde_json::from_str::<Value>(&batch.request.body).ok() } else { None };
    match parsed {
        Some(Value::Object(mut b)) => {
            for key in crate::destinations::SECRET_BODY_KEYS {
                if let Some(v) = b.get_mut(key) {
                    *v = Value::String("REDACTED".into());
                }
            }
            input::write_js_json(&Value::Object(b), out);
        }
        // No body (a GET) prints as null, a form (the OAuth refresh) as the string it is.
        _ if batch.request.body.is_empty() => out.push_str("null"),
        _ if !batch.request.body.starts_with(['{', '[']) => crate::js::quote_json_string(&batch.request.body, out),
        _ => out.push_str(&batch.request.body),
    }
    out.push('}');
}

/// An error as its serde form prints (`code`, `message`, `field` when set).
pub fn write_error(e: &EventError, out: &mut String) {
    thread_local! {
        /// Each code's serde name, asked of serde once (written per rejected event).
        static CODES: RefCell<Vec<Option<String>>> = const { RefCell::new(Vec::new()) };
    }
    let quote = |s: &str, out: &mut String| crate::js::quote_json_string(s, out);
    out.push_str("{\"code\":");
    CODES.with_borrow_mut(|names| {
        let at = e.code as usize;
        if names.len() <= at {
            names.resize(at + 1, None);
        }
        let name = names[at].get_or_insert_with(|| match serde_json::to_value(e.code) {
            Ok(Value::String(s)) => s,
            _ => String::new(),
        });
        quote(name, out);
    });
    out.push_str(",\"message\":");
    quote(&e.message, out);
    if let Some(field) = &e.field {
        out.push_str(",\"field\":");
        quote(field, out);
    }
    out.push('}');
}


pub fn entry_message_id(p: &Prepared) -> Option<String> {
    match p {
        Prepared::Item { message_id, .. } | Prepared::Error { message_id, .. } | Prepared::Skipped { message_id, .. } => message_id.clone(),
    }
}

pub fn json_opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_error` writes an error as its serde form does (the plan lines' `error`): every
    /// code, with and without `field`, with text that needs escaping. A field added to
    /// `EventError` fails this until the writer has it too.
    #[test]
    fn write_error_is_the_serde_form() {
        use crate::error::ErrorCode::*;
        for code in [InvalidEvent, InvalidConfig, MappingError, PayloadValidation, MisconfiguredField, ConsentDenied, HttpError, NetworkError, Timeout] {
            for e in [EventError::new(code, "a \"quoted\" line\nnaïve"), EventError::new(code, "m").with_field("context.traits.\u{1}x")] {
                let mut out = String::new();
                write_error(&e, &mut out);
                assert_eq!(out, serde_json::to_string(&e).unwrap());
            }
        }
    }

    /// The shortcut for `type = ".." and event = ".."` triggers (`Fql::matches_type_event`)
    /// answers exactly as the evaluator, and is taken for the presets' shape.
    #[test]
    fn type_and_event_triggers_match_like_the_evaluator() {
        use proptest::prelude::*;
        let triggers = [
            r#"type = "track" and event = "Order Completed""#,
            r#"type = "track""#,
            r#"event = "Order Completed" and type = "track""#,
            r#"type = "track" or event = "Signed Up""#,
            r#"type = "identify" or type = "track""#,
            r#"type = "track" and event = "Order Completed" and event = "x""#,
            r#"type = "track" and event = "Ünï""#,
            r#"type = "track" and event != "Order Completed""#,
            r#"type = "track" and userId = "u""#,
            r#"type = "track" and event = "Order Completed" or ()"#,
            r#"(type = "track") and event = "Order Completed""#,
            r#"type = "track" and event = 1"#,
        ];
        let triggers: Vec<crate::fql::Fql> = triggers.iter().map(|t| crate::fql::parse(t).unwrap()).collect();
        assert!(triggers[0].matches_type_event(Some("track"), Some("Order Completed")) == Some(true));
        let value = prop_oneof![
            Just(None),
            Just(Some(serde_json::json!(null))),
            Just(Some(serde_json::json!(1))),
            Just(Some(serde_json::json!(["track"]))),
            prop::sample::select(vec!["track", "identify", "Order Completed", "Signed Up", "Ünï", "x", "", "1"]).prop_map(|s| Some(serde_json::json!(s))),
        ];
        proptest!(|(ty in value.clone(), event in value, user in any::<bool>())| {
            let mut ev = serde_json::Map::new();
            if let Some(t) = ty { ev.insert("type".into(), t); }
            if let Some(e) = event { ev.insert("event".into(), e); }
            if user { ev.insert("userId".into(), serde_json::json!("u")); }
            let ev = J::from_value(&Value::Object(ev));
            let o = ev.as_obj().unwrap();
            for t in &triggers {
                if let Some(fast) = t.matches_type_event(o.str("type"), o.str("event")) {
                    prop_assert_eq!(fast, t.matches(&ev), "{:?} {:?}", t, ev);
                }
            }
        });
    }

    /// The URL cache gives what the destination's `url` gives, for each target and both forms,
    /// also past its bound (targets evicted and made again).
    #[test]
    fn urls_are_the_destinations() {
        let cfg = crate::api::create(r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"p","access_token":"T0K/EN"}}"#).unwrap();
        for redact in [false, true] {
            let mut urls = Urls::new(&cfg, redact);
            let targets: Vec<String> = (0..40).map(|i| format!("/v3/px-{}/events", i % 23)).collect();
            for t in targets.iter().chain(targets.iter().rev()) {
                let want = (cfg.definition.url)(&cfg.origin, t, &cfg.settings, redact);
                assert_eq!(urls.of(t), want);
            }
            assert!(urls.made.len() <= 16);
            assert_eq!(urls.of("/v3/p/events").contains("T0K%2FEN"), !redact);
        }
    }
}
