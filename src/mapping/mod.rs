//! Segment mapping-kit: evaluates mapping directives (`@path`, `@if`, `@arrayPath`, ...)
//! against an event payload with the same results as actions-core's `transform`.
//!
//! Values are evaluated as JS values (`value::JsVal`, which has `undefined`) and only turned
//! back into JSON at the end, because several directives observe undefined-ness, falsiness and
//! JS key order before the final JSON round trip.
mod fast;
#[cfg(feature = "liquid")]
mod liquid;
mod validate;
pub mod value;

use crate::json::J;
use serde_json::Value;
use std::borrow::Cow;
use value::{JsVal, Obj, get, strip_root_marker};

#[derive(Debug, Clone, PartialEq)]
pub struct MappingError {
    /// JSON-pointer-like location inside the mapping, e.g. `/user_data/email/@if`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {})", self.message, self.path)
    }
}

impl std::error::Error for MappingError {}

/// Deepest mapping nesting we accept, counted in keys / array indexes from the root to the
/// deepest value (`{"a": {"@if": {"then": "x"}}}` is 3). Segment has no limit (a deep enough
/// mapping overflows its stack); real mappings stay far below this. Checked when a mapping is
/// validated, so a too-deep mapping is refused before any event is evaluated.
pub const MAX_MAPPING_DEPTH: usize = 64;
/// Upper bound for strings built by directives (JSON encoding can otherwise double per level).
const MAX_STRING_BYTES: usize = 32 << 20;
/// Upper bound for everything one evaluation builds (copied payload parts, strings, payloads made
/// by `@transform`), so a mapping's memory per event is bounded whatever its size: each nested
/// `@transform` can double its payload (`apply: {"a": {"x": {"@path": "$.a"}, "y": {"@path": "$.a"}}}`).
pub const MAX_EVAL_BYTES: usize = 64 << 20;
/// Mapping key under which Segment stores a root-level directive wrapping the other fields.
const ROOT_DIRECTIVE_KEY: &str = "__segment_internal_directive";

/// Validate a mapping up front (unknown directive, wrong argument shape).
pub fn validate(mapping: &Value) -> Result<(), MappingError> {
    let m = to_js(mapping, "mapping")?;
    let m = mapping_to_process(&m)?;
    check_nesting(&m)?;
    validate::validate(&m, &[])
}

fn too_deep() -> String {
    format!("mapping is nested deeper than {MAX_MAPPING_DEPTH} levels (the limit)")
}

/// Refuses a mapping whose evaluation would descend more than `MAX_MAPPING_DEPTH` levels:
/// the same count `Eval::resolve` keeps, so evaluation never meets its own backstop.
fn check_nesting(m: &JsVal) -> Result<(), MappingError> {
    let mut at = Location::default();
    nesting(m, &mut at)
}

fn nesting(m: &JsVal, at: &mut Location) -> Result<(), MappingError> {
    if at.len() > MAX_MAPPING_DEPTH {
        return Err(MappingError { path: at.text.clone(), message: too_deep() });
    }
    let child = |k: &str, v: &JsVal, at: &mut Location| {
        at.push(k);
        let r = nesting(v, at);
        at.pop();
        r
    };
    match m {
        JsVal::Obj(o) => {
            for (k, v) in o.iter() {
                // `@transform` evaluates `apply` after unwrapping its root directive, which
                // moves the customer fields two levels down: measure what is evaluated.
                let opts = v.as_obj().filter(|_| k == "@transform");
                let apply = opts.and_then(|o| o.get("apply")).filter(|a| a.as_obj().is_some_and(|a| a.contains(ROOT_DIRECTIVE_KEY)));
                let (Some(opts), Some(apply)) = (opts, apply) else {
                    child(k, v, at)?;
                    continue;
                };
                at.push(k);
                let unwrapped = mapping_to_process(apply).unwrap_or(JsVal::Undef);
                let r = child("apply", &unwrapped, at)
                    .and_then(|()| opts.iter().filter(|(k, _)| *k != "apply").try_for_each(|(k, x)| child(k, x, at)));
                at.pop();
                r?;
            }
            Ok(())
        }
        JsVal::Arr(a) => a.iter().enumerate().try_for_each(|(i, v)| child(&i.to_string(), v, at)),
        _ => Ok(()),
    }
}

/// Resolve `mapping` against `payload` like actions-core's `transform`; the result equals
/// `JSON.parse(JSON.stringify(transform(mapping, payload)))` (a top-level undefined is null).
pub fn transform(mapping: &Value, payload: &Value) -> Result<Value, MappingError> {
    let m = to_js(mapping, "mapping")?;
    let p = to_js(payload, "payload")?;
    let mut ev = Eval::new();
    Ok(ev.transform(&m, &p)?.into_json())
}

/// A mapping converted and validated once (when a destination is configured), then applied to
/// many events without repeating that work. `apply` gives exactly what `transform` gives.
#[derive(Debug, Clone)]
pub struct Compiled {
    mapping: JsVal,
    /// The same mapping as a node tree, when it only uses what `fast` covers.
    fast: Option<fast::Tree>,
    /// The tree's object nodes bound to its action's fields, made on first use
    /// (`apply_checked`).
    #[cfg(speed)]
    bound: std::sync::OnceLock<Option<fast::checked::Binding>>,
}

impl Compiled {
    pub fn new(mapping: &Value) -> Result<Compiled, MappingError> {
        let m = mapping_to_process(&to_js(mapping, "mapping")?)?;
        check_nesting(&m)?;
        validate::validate(&m, &[])?;
        let fast = fast::compile(&m);
        Ok(Compiled {
            mapping: m,
            fast,
            #[cfg(speed)]
            bound: std::sync::OnceLock::new(),
        })
    }

    /// `apply_event`'s object, cleaned and validated as `schema::clean_and_validate` leaves
    /// it against `fields` (the action's, always the same for one mapping), made and checked
    /// in one walk. `None` where the mapping is not a fast tree of an object, or where the
    /// check fails: the caller then maps and checks the usual way, which gives the error.
    #[cfg(speed)]
    pub fn apply_checked<'a>(&'a self, event: &J<'a>, fields: &'static [crate::schema::Field]) -> Option<crate::json::Obj<'a>> {
        let tree = self.fast.as_ref()?;
        let b = self.bound.get_or_init(|| fast::checked::bind(tree, fields)).as_ref()?;
        if !std::ptr::eq(b.fields, fields) {
            return None;
        }
        fast::Run::new(tree, event).eval_checked(tree, b).ok()
    }

    /// The size-optimized build maps, then checks (see the speed builds' version).
    #[cfg(not(speed))]
    pub fn apply_checked<'a>(&'a self, _event: &J<'a>, _fields: &'static [crate::schema::Field]) -> Option<crate::json::Obj<'a>> {
        None
    }

    /// Whether `apply_event` evaluates without converting the event.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// `apply` for the parsed event; `converted` holds the event as the full evaluator needs
    /// it, made at most once per event and shared by the subscriptions that need it.
    pub fn apply_event<'a>(&'a self, event: &J<'a>, converted: &mut Option<JsVal>) -> Result<J<'a>, MappingError> {
        if let Some(tree) = &self.fast {
            if let Ok(v) = fast::Run::new(tree, event).eval_root(tree) {
                return Ok(v.unwrap_or(J::Null));
            }
        }
        let payload = converted.get_or_insert_with(|| JsVal::from_j(event));
        Ok(self.apply(payload)?.into_j())
    }

    /// `payload` converted once with [`payload`], shared by every subscription of an event.
    /// Undefined properties are left for the caller's conversion (`into_json` / `into_j`),
    /// which drops them itself.
    pub fn apply(&self, payload: &JsVal) -> Result<JsVal, MappingError> {
        let mut ev = Eval::new();
        if !matches!(payload, JsVal::Obj(_)) {
            return Err(ev.err(format!("data must be an object, got {}", payload.real_type())));
        }
        ev.resolve(&self.mapping, payload)
    }
}

/// An event converted for [`Compiled::apply`].
pub fn payload(v: &Value) -> Result<JsVal, MappingError> {
    to_js(v, "payload")
}

fn to_js(v: &Value, what: &str) -> Result<JsVal, MappingError> {
    JsVal::from_json(v).ok_or_else(|| MappingError {
        path: "/".into(),
        message: format!("{what} is nested deeper than {} levels (the limit)", value::MAX_VALUE_DEPTH),
    })
}

/// Segment treats an object as a directive when it has an @-key and nothing else but `_metadata`.
fn is_directive(o: &Obj) -> bool {
    // One pass (this runs for every object of the mapping, for every event).
    let mut any = false;
    for k in o.keys() {
        if k.starts_with('@') {
            any = true;
        } else if k != "_metadata" {
            return false;
        }
    }
    any
}

/// Own enumerable keys of a value as `Object.keys` reports them (`None` = TypeError).
fn object_keys(v: &JsVal) -> Option<Vec<String>> {
    Some(match v {
        JsVal::Undef | JsVal::Null => return None,
        JsVal::Obj(o) => o.keys().cloned().collect(),
        JsVal::Arr(a) => (0..a.len()).map(|i| i.to_string()).collect(),
        JsVal::Str(s) => (0..crate::js::utf16_len(s)).map(|i| i.to_string()).collect(),
        JsVal::Bool(_) | JsVal::Num(_) => Vec::new(),
    })
}

/// Own enumerable entries (what object spread / Object.assign copy).
fn own_entries(v: &JsVal) -> Vec<(String, JsVal)> {
    match v {
        JsVal::Obj(o) => o.iter().map(|(k, x)| (k.clone(), x.clone())).collect(),
        JsVal::Arr(a) => a.iter().enumerate().map(|(i, x)| (i.to_string(), x.clone())).collect(),
        JsVal::Str(s) => {
            let mut out = Vec::new();
            for c in s.chars() {
                // Each UTF-16 unit is its own property; halves of a pair are not representable.
                if c.len_utf16() == 1 {
                    out.push((out.len().to_string(), JsVal::Str(c.to_string())));
                } else {
                    out.push((out.len().to_string(), JsVal::str("\u{fffd}")));
                    out.push((out.len().to_string(), JsVal::str("\u{fffd}")));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn root_err(msg: impl Into<String>) -> MappingError {
    MappingError { path: "/".into(), message: msg.into() }
}

/// Unwraps the optional root directive: `{__segment_internal_directive: {"@x": opts}, ...fields}`
/// becomes `{"@x": {...opts, mapping: fields}}`. Without it, a shallow object copy (spread).
fn mapping_to_process(m: &JsVal) -> Result<JsVal, MappingError> {
    let keys = object_keys(m).ok_or_else(|| root_err(format!("mapping must be an object, got {}", m.real_type())))?;
    if !keys.iter().any(|k| k == ROOT_DIRECTIVE_KEY) {
        return Ok(JsVal::Obj(own_entries(m).into_iter().collect()));
    }
    let Some(o) = m.as_obj() else {
        return Err(root_err("mapping must be an object"));
    };
    let customer: Obj = o.iter().filter(|(k, _)| *k != ROOT_DIRECTIVE_KEY).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut root = o.get(ROOT_DIRECTIVE_KEY).cloned().unwrap_or(JsVal::Undef);
    let root_keys = object_keys(&root).ok_or_else(|| root_err("the root mapping must be an object"))?;
    if root_keys.len() > 1 {
        return Err(root_err("the root mapping may only hold one directive"));
    }
    let bad = || root_err("the root directive must be an object");
    let Some(first) = root_keys.first() else {
        return Err(bad());
    };
    match &mut root {
        JsVal::Obj(ro) => {
            let Some(JsVal::Obj(opts)) = ro.get(first).cloned() else {
                // An array argument is accepted (the extra property is invisible); others are not.
                return match ro.get(first) {
                    Some(JsVal::Arr(_)) => Ok(root),
                    _ => Err(bad()),
                };
            };
            let mut opts = opts;
            opts.set("mapping".into(), JsVal::Obj(customer));
            ro.set(first.clone(), JsVal::Obj(opts));
            Ok(root)
        }
        // A one-element array whose element is an object/array: the assignment is invisible
        // on an array element that is an array, visible on an object element.
        JsVal::Arr(a) => match a.first_mut() {
            Some(JsVal::Obj(opts)) => {
                opts.set("mapping".into(), JsVal::Obj(customer));
                Ok(root)
            }
            Some(JsVal::Arr(_)) => Ok(root),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// `removeUndefined`: drops undefined-valued keys (arrays keep their undefined slots).
fn remove_undefined(v: JsVal) -> JsVal {
    match v {
        JsVal::Arr(a) => JsVal::Arr(a.into_iter().map(remove_undefined).collect()),
        JsVal::Obj(o) => JsVal::Obj(
            o.into_entries().into_iter().filter(|(_, x)| !x.is_undef()).map(|(k, x)| (k, remove_undefined(x))).collect(),
        ),
        other => other,
    }
}

/// Turns every null property of (nested) plain objects into undefined; arrays are left alone.
fn clean_nulls(v: JsVal) -> JsVal {
    match v {
        JsVal::Obj(o) => JsVal::Obj(
            o.into_entries()
                .into_iter()
                .map(|(k, x)| match x {
                    JsVal::Null => (k, JsVal::Undef),
                    JsVal::Obj(_) => (k, clean_nulls(x)),
                    other => (k, other),
                })
                .collect(),
        ),
        other => other,
    }
}

fn flatten_into(input: &JsVal, prefix: &str, sep: &str, omit_arrays: bool, out: &mut Obj) {
    let entries: Vec<(String, &JsVal)> = match input {
        JsVal::Obj(o) => o.iter().map(|(k, v)| (k.clone(), v)).collect(),
        JsVal::Arr(a) if !omit_arrays => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => {
            out.set(prefix.to_string(), input.clone());
            return;
        }
    };
    for (k, v) in entries {
        let key = if prefix.is_empty() { k } else { format!("{prefix}{sep}{k}") };
        flatten_into(v, &key, sep, omit_arrays, out);
    }
}

/// Mustache-like `{{path}}` / `{{{path}}}` substitution (triple braces first, then double,
/// the second pass also seeing text inserted by the first, as in the reference).
fn render_template(template: &str, data: &JsVal) -> String {
    let once = render_pass(template, data, 3);
    render_pass(&once, data, 2)
}

fn render_pass(s: &str, data: &JsVal, n: usize) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 2 * n < b.len() + 1 {
        if b[i..].starts_with(&b"{{{"[..n]) {
            let start = i + n;
            let mut j = start;
            while j < b.len() && b[j] != b'}' {
                j += 1;
            }
            if j > start && b[j..].starts_with(&b"}}}"[..n]) {
                // Braces are ASCII, so all these offsets are char boundaries.
                out.push_str(&s[copied..i]);
                let key = crate::js::js_trim(&s[start..j]);
                let v = get(data, key);
                if !v.is_nullish() {
                    out.push_str(&v.to_js_string());
                }
                i = j + n;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// `value.replace(new RegExp(escaped(pattern), flags), replacement)`: a literal search, with
/// optional JS (non-unicode) case folding, and `$`-patterns expanded in the replacement.
/// `None` once the result passes `MAX_STRING_BYTES`: `$'` and `` $` `` copy the rest / the start
/// of the value for every match, so a long value could otherwise grow quadratically.
fn replace_literal(value: &str, pattern: &str, replacement: &str, global: bool, ignore_case: bool) -> Option<String> {
    let hay: Vec<u16> = value.encode_utf16().collect();
    let pat: Vec<u16> = pattern.encode_utf16().collect();
    let rep: Vec<u16> = replacement.encode_utf16().collect();
    if pat.is_empty() {
        return Some(value.to_string());
    }
    let eq = |a: u16, b: u16| a == b || (ignore_case && canonicalize(a) == canonicalize(b));
    let mut out: Vec<u16> = Vec::with_capacity(hay.len());
    let mut i = 0;
    let mut last = 0;
    while i + pat.len() <= hay.len() {
        if (0..pat.len()).all(|k| eq(hay[i + k], pat[k])) {
            out.extend_from_slice(&hay[last..i]);
            expand_replacement(&rep, &hay, i, i + pat.len(), &mut out);
            // UTF-16 units take 1 to 3 UTF-8 bytes: units is the lower bound.
            if out.len() > MAX_STRING_BYTES {
                return None;
            }
            i += pat.len();
            last = i;
            if !global {
                break;
            }
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&hay[last..]);
    Some(String::from_utf16_lossy(&out))
}

/// RegExp Canonicalize for non-unicode ignoreCase: upper-case a unit unless that changes its
/// length or maps non-ASCII to ASCII.
fn canonicalize(u: u16) -> u16 {
    let Some(c) = char::from_u32(u32::from(u)) else {
        return u;
    };
    let up = crate::js::to_upper(c.encode_utf8(&mut [0; 4]));
    let mut up = up.chars();
    match (up.next(), up.next()) {
        (Some(x), None) if (x as u32) < 0x10000 => {
            if u >= 128 && (x as u32) < 128 { u } else { x as u16 }
        }
        _ => u,
    }
}

fn expand_replacement(rep: &[u16], hay: &[u16], start: usize, end: usize, out: &mut Vec<u16>) {
    let dollar = u16::from(b'$');
    let mut k = 0;
    while k < rep.len() {
        if rep[k] == dollar && k + 1 < rep.len() {
            match rep[k + 1] {
                x if x == dollar => {
                    out.push(dollar);
                    k += 2;
                    continue;
                }
                x if x == u16::from(b'&') => {
                    out.extend_from_slice(&hay[start..end]);
                    k += 2;
                    continue;
                }
                x if x == u16::from(b'`') => {
                    out.extend_from_slice(&hay[..start]);
                    k += 2;
                    continue;
                }
                x if x == u16::from(b'\'') => {
                    out.extend_from_slice(&hay[end..]);
                    k += 2;
                    continue;
                }
                // `$1`, `$<name>`: there are no groups, so they stay literal.
                _ => {}
            }
        }
        out.push(rep[k]);
        k += 1;
    }
}

/// Where in the mapping evaluation is: one string with `/`-separated segments and the end of
/// each, so descending a level reuses the buffer instead of allocating (a hot path).
#[derive(Default)]
struct Location {
    text: String,
    ends: Vec<usize>,
}

impl Location {
    fn push(&mut self, key: &str) {
        self.text.push('/');
        self.text.push_str(key);
        self.ends.push(self.text.len());
    }
    fn pop(&mut self) {
        self.ends.pop();
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
    }
    fn len(&self) -> usize {
        self.ends.len()
    }
    fn segments(&self) -> Vec<String> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let seg = self.text[start + 1..end].to_string();
                start = end;
                seg
            })
            .collect()
    }
}

struct Eval {
    /// Where in the mapping we are (for error locations); its depth bounds recursion.
    path: Location,
    /// Approximate bytes built so far (see `MAX_EVAL_BYTES`).
    made: usize,
}

/// Approximate heap size of a value, counted up to `limit` (then the walk stops).
fn approx_size(v: &JsVal, limit: usize) -> usize {
    // Most results are scalars: no walk.
    match v {
        JsVal::Str(s) => return std::mem::size_of::<JsVal>() + s.len(),
        JsVal::Arr(_) | JsVal::Obj(_) => {}
        _ => return std::mem::size_of::<JsVal>(),
    }
    let mut total = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total += std::mem::size_of::<JsVal>();
        match v {
            JsVal::Str(s) => total += s.len(),
            JsVal::Arr(a) => stack.extend(a.iter()),
            JsVal::Obj(o) => {
                for (k, x) in o.iter() {
                    total += k.len();
                    stack.push(x);
                }
            }
            _ => {}
        }
        if total > limit {
            break;
        }
    }
    total
}

impl Eval {
    fn new() -> Eval {
        Eval { path: Location::default(), made: 0 }
    }

    fn err(&self, msg: impl Into<String>) -> MappingError {
        let path = if self.path.text.is_empty() { "/".to_string() } else { self.path.text.clone() };
        MappingError { path, message: msg.into() }
    }

    fn transform(&mut self, mapping: &JsVal, data: &JsVal) -> Result<JsVal, MappingError> {
        if !matches!(data, JsVal::Obj(_)) {
            return Err(self.err(format!("data must be an object, got {}", data.real_type())));
        }
        let m = mapping_to_process(mapping).map_err(|e| self.err(e.message))?;
        if self.path.len() == 0 {
            check_nesting(&m)?;
        }
        validate::validate(&m, &self.path.segments())?;
        Ok(remove_undefined(self.resolve(&m, data)?))
    }

    /// Counts a value this evaluation built or copied against `MAX_EVAL_BYTES`.
    fn charge(&mut self, v: JsVal) -> Result<JsVal, MappingError> {
        self.made += approx_size(&v, MAX_EVAL_BYTES);
        if self.made > MAX_EVAL_BYTES {
            return Err(self.err(format!("mapping builds more than {} MiB for one event (the limit)", MAX_EVAL_BYTES >> 20)));
        }
        Ok(v)
    }

    /// Evaluates `m` under child location `key`.
    fn at(&mut self, key: &str, m: &JsVal, payload: &JsVal) -> Result<JsVal, MappingError> {
        self.path.push(key);
        let r = self.resolve(m, payload);
        self.path.pop();
        r
    }

    fn resolve(&mut self, m: &JsVal, payload: &JsVal) -> Result<JsVal, MappingError> {
        // A backstop: `check_nesting` has refused such mappings already.
        if self.path.len() > MAX_MAPPING_DEPTH {
            return Err(self.err(too_deep()));
        }
        match m {
            JsVal::Obj(o) if is_directive(o) => self.directive(o, payload),
            JsVal::Obj(o) => {
                let mut out = Obj::with_capacity(o.len());
                for (k, v) in o.iter() {
                    let r = self.at(k, v, payload)?;
                    out.set(k.clone(), r);
                }
                Ok(JsVal::Obj(out))
            }
            JsVal::Arr(a) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, v) in a.iter().enumerate() {
                    out.push(self.at(&i.to_string(), v, payload)?);
                }
                Ok(JsVal::Arr(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn directive(&mut self, o: &Obj, payload: &JsVal) -> Result<JsVal, MappingError> {
        let Some(name) = o.keys().find(|k| k.starts_with('@')) else {
            return Err(self.err("not a directive"));
        };
        // Borrowed, not cloned: cloning here copied every nested sub-mapping once per level.
        let undef = JsVal::Undef;
        let arg = o.get(name).unwrap_or(&undef);
        self.path.push(name);
        let r = self.run(name, arg, payload);
        self.path.pop();
        r
    }

    fn opts<'a>(&self, arg: &'a JsVal, name: &str, need: &str) -> Result<&'a Obj, MappingError> {
        arg.as_obj().ok_or_else(|| self.err(format!("{name} requires an object with {need}")))
    }

    /// Resolves `arg` and insists on a string (for `@path` / `@template`).
    fn string_arg(&mut self, name: &str, arg: &JsVal, payload: &JsVal) -> Result<String, MappingError> {
        match self.resolve(arg, payload)? {
            JsVal::Str(s) => Ok(s),
            other => Err(self.err(format!("{name}: expected string, got {}", other.real_type()))),
        }
    }

    fn run(&mut self, name: &str, arg: &JsVal, payload: &JsVal) -> Result<JsVal, MappingError> {
        let undef = JsVal::Undef;
        match name {
            "@path" => {
                // A literal path (nearly always) is read in place instead of resolved to a copy.
                let p = match arg {
                    JsVal::Str(p) => Cow::Borrowed(p.as_str()),
                    _ => Cow::Owned(self.string_arg(name, arg, payload)?),
                };
                self.charge(get(payload, &strip_root_marker(&p)).into_owned())
            }
            "@template" => {
                let t = self.string_arg(name, arg, payload)?;
                self.charge(JsVal::Str(render_template(&t, payload)))
            }
            "@literal" => self.resolve(arg, payload),
            "@if" => {
                let o = self.opts(arg, name, "an \"exists\" or \"blank\" key")?;
                let exists = o.get("exists");
                let blank = o.get("blank");
                if !exists.is_some_and(JsVal::truthy) && !blank.is_some_and(JsVal::truthy) {
                    return Err(self.err("@if requires an \"exists\" or \"blank\" key"));
                }
                let condition = if let Some(e) = exists {
                    !self.at("exists", e, payload)?.is_nullish()
                } else if let Some(b) = blank {
                    let v = self.at("blank", b, payload)?;
                    !v.is_nullish() && !v.loosely_equals_empty_string()
                } else {
                    false
                };
                match (condition, o.get("then"), o.get("else")) {
                    (true, Some(t), _) => self.at("then", t, payload),
                    (false, _, Some(e)) if e.truthy() => self.at("else", e, payload),
                    _ => Ok(JsVal::Undef),
                }
            }
            "@case" => {
                let o = self.opts(arg, name, "an \"operator\" key")?;
                let op = o.get("operator").unwrap_or(&undef);
                if !op.truthy() {
                    return Err(self.err("@case requires an \"operator\" key"));
                }
                let Some(v) = o.get("value").filter(|v| v.truthy()) else {
                    return Ok(JsVal::Undef);
                };
                match self.at("value", v, payload)? {
                    JsVal::Str(s) => match op.as_str() {
                        Some("lower") => Ok(JsVal::Str(crate::js::to_lower(&s))),
                        Some("upper") => Ok(JsVal::Str(crate::js::to_upper(&s))),
                        _ => Err(self.err("@case operator must be \"lower\" or \"upper\"")),
                    },
                    other => Ok(other),
                }
            }
            "@replace" => self.replace(arg, payload),
            "@arrayPath" => {
                let JsVal::Arr(a) = arg else {
                    return Err(self.err(format!("@arrayPath expected array, got {}", arg.real_type())));
                };
                let path = a.first().unwrap_or(&undef);
                let shape = a.get(1).unwrap_or(&undef);
                let root = match path {
                    JsVal::Str(p) => self.charge(get(payload, &strip_root_marker(p)).into_owned())?,
                    other => self.at("0", other, payload)?,
                };
                let shape_ok = matches!(shape, JsVal::Obj(s) if !s.is_empty());
                if !shape_ok {
                    return Ok(root);
                }
                let items = match root {
                    JsVal::Arr(items) => items,
                    obj @ JsVal::Obj(_) => vec![obj],
                    other => return Ok(other),
                };
                let mut out = Vec::with_capacity(items.len());
                for item in &items {
                    out.push(self.at("1", shape, item)?);
                }
                Ok(JsVal::Arr(out))
            }
            "@json" => {
                let o = self.opts(arg, name, "a \"value\" key")?;
                if !o.get("mode").is_some_and(JsVal::truthy) {
                    return Err(self.err("@json requires a \"mode\" key"));
                }
                let Some(v) = o.get("value").filter(|v| v.truthy()) else {
                    return Err(self.err("@json requires a \"value\" key"));
                };
                let value = self.at("value", v, payload)?;
                match o.get("mode").and_then(JsVal::as_str) {
                    Some("encode") => match value::stringify(&value) {
                        Some(s) if s.len() > MAX_STRING_BYTES => Err(self.err("@json: encoded value is too large")),
                        Some(s) => self.charge(JsVal::Str(s)),
                        None => Ok(JsVal::Undef),
                    },
                    Some("decode") => match &value {
                        JsVal::Str(s) => self.charge(value::parse_json(s).unwrap_or(value)),
                        _ => Ok(value),
                    },
                    _ => Ok(JsVal::Undef),
                }
            }
            "@flatten" => {
                let o = self.opts(arg, name, "a \"separator\" key")?;
                let Some(sep) = o.get("separator").filter(|v| v.truthy()) else {
                    return Err(self.err("@flatten requires a \"separator\" key"));
                };
                let JsVal::Str(sep) = self.at("separator", sep, payload)? else {
                    return Err(self.err("@flatten requires a string separator"));
                };
                let value = self.at("value", o.get("value").unwrap_or(&undef), payload)?;
                let omit_arrays = o.get("omitArrays").is_some_and(JsVal::truthy);
                let mut out = Obj::new();
                flatten_into(&value, "", &sep, omit_arrays, &mut out);
                self.charge(JsVal::Obj(out))
            }
            "@merge" => {
                let o = self.opts(arg, name, "\"objects\" and \"direction\" keys")?;
                let Some(dir) = o.get("direction").filter(|v| v.truthy()) else {
                    return Err(self.err("@merge requires a \"direction\" key"));
                };
                let dir = self.at("direction", dir, payload)?;
                let objects = match o.get("objects") {
                    Some(JsVal::Arr(a)) => a,
                    Some(x) if x.truthy() => return Err(self.err("@merge: \"objects\" must be an array")),
                    _ => return Err(self.err("@merge requires an \"objects\" key")),
                };
                let mut resolved = Vec::with_capacity(objects.len());
                for (i, x) in objects.iter().enumerate() {
                    self.path.push("objects");
                    let r = self.at(&i.to_string(), x, payload);
                    self.path.pop();
                    resolved.push(r?);
                }
                if dir.as_str() == Some("left") {
                    resolved.reverse();
                }
                let mut out = Obj::new();
                for src in &resolved {
                    for (k, v) in own_entries(src) {
                        out.set(k, v);
                    }
                }
                self.charge(JsVal::Obj(out))
            }
            "@transform" => {
                let o = self.opts(arg, name, "\"apply\" and \"mapping\" keys")?;
                let Some(mapping) = o.get("mapping").filter(|v| v.truthy()) else {
                    return Err(self.err("@transform requires a \"mapping\" key"));
                };
                let Some(apply) = o.get("apply").filter(|v| v.truthy()) else {
                    return Err(self.err("@transform requires an \"apply\" key"));
                };
                if !matches!(apply, JsVal::Obj(_)) {
                    return Err(self.err("@transform \"apply\" must be an object"));
                }
                self.path.push("apply");
                let new_payload = self.transform(apply, payload);
                self.path.pop();
                let new_payload = self.charge(new_payload?)?;
                self.at("mapping", mapping, &new_payload)
            }
            "@excludeWhenNull" => match self.resolve(arg, payload)? {
                JsVal::Null => Ok(JsVal::Undef),
                other => Ok(clean_nulls(other)),
            },
            #[cfg(feature = "liquid")]
            "@liquid" => {
                let JsVal::Str(t) = arg else {
                    return Err(self.err("@liquid template must be a string"));
                };
                let out = liquid::evaluate(t, payload).map_err(|m| self.err(m))?;
                self.charge(out)
            }
            // Validation refuses @liquid in such a build already (`validate`).
            #[cfg(not(feature = "liquid"))]
            "@liquid" => Err(self.err(validate::NO_LIQUID)),
            other => Err(self.err(format!("{other} is not a valid directive"))),
        }
    }

    fn replace(&mut self, arg: &JsVal, payload: &JsVal) -> Result<JsVal, MappingError> {
        let o = self.opts(arg, "@replace", "a \"pattern\" key")?;
        let pattern = o.get("pattern").cloned().unwrap_or(JsVal::Undef);
        if !pattern.truthy() {
            return Err(self.err("@replace requires a \"pattern\" key"));
        }
        // Missing/null options take the reference defaults.
        let or_default = |key: &str, d: JsVal| match o.get(key) {
            None | Some(JsVal::Null) => d,
            Some(v) => v.clone(),
        };
        let replacement = or_default("replacement", JsVal::str(""));
        let pattern2 = o.get("pattern2").cloned().unwrap_or(JsVal::Undef);
        let replacement2 =
            if pattern2.truthy() { or_default("replacement2", JsVal::str("")) } else { or_default("replacement2", JsVal::Undef) };
        let ignore_case = or_default("ignorecase", JsVal::Bool(false));
        let global = or_default("global", JsVal::Bool(true));
        let Some(v) = o.get("value").filter(|v| v.truthy()) else {
            return Ok(JsVal::Undef);
        };
        let value = match self.at("value", v, payload)? {
            b @ (JsVal::Bool(_) | JsVal::Num(_)) => JsVal::Str(b.to_js_string()),
            other => other,
        };
        let (JsVal::Str(value), JsVal::Str(pat), JsVal::Str(rep), JsVal::Bool(ic), JsVal::Bool(g)) =
            (&value, &pattern, &replacement, &ignore_case, &global)
        else {
            return Ok(JsVal::str(""));
        };
        let mut out = self.replace_once(value, pat, rep, *g, *ic)?;
        if let (JsVal::Str(p2), JsVal::Str(r2)) = (&pattern2, &replacement2) {
            if !p2.is_empty() {
                out = self.replace_once(&out, p2, r2, *g, *ic)?;
            }
        }
        self.charge(JsVal::Str(out))
    }

    fn replace_once(&self, value: &str, pat: &str, rep: &str, g: bool, ic: bool) -> Result<String, MappingError> {
        use crate::js::utf16_len;
        if utf16_len(pat) > validate::MAX_PATTERN_LENGTH {
            return Err(self.err(format!("@replace pattern must be at most {} characters", validate::MAX_PATTERN_LENGTH)));
        }
        if utf16_len(rep) > validate::MAX_REPLACEMENT_LENGTH {
            return Err(self.err(format!(
                "@replace replacement must be at most {} characters",
                validate::MAX_REPLACEMENT_LENGTH
            )));
        }
        match replace_literal(value, pat, rep, g, ic) {
            Some(out) if out.len() <= MAX_STRING_BYTES => Ok(out),
            _ => Err(self.err(format!("@replace: result is larger than {} MiB (the limit)", MAX_STRING_BYTES >> 20))),
        }
    }
}

#[cfg(test)]
mod tests;
