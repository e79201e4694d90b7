//! JS-like values for mapping evaluation: JSON plus `undefined`, and objects that keep
//! JS own-key enumeration order (array-index keys first, ascending; then insertion order).
use crate::js;
pub use crate::json::array_index;
use serde_json::Value;
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::borrow::Cow;

/// How deep a JSON value may nest before we refuse it (the stack must stay bounded).
pub const MAX_VALUE_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum JsVal {
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<JsVal>),
    Obj(Obj),
}

/// A JS object's own properties in enumeration order: array-index keys ascending, then the
/// others in insertion order. Two tables, so every operation is a lookup: payload objects can
/// have tens of thousands of keys, and a scan per insert made converting one such event take
/// seconds.
#[derive(Debug, Clone, Default)]
pub struct Obj {
    /// Boxed, like `Named::Big`: every `JsVal` is as large as its largest variant.
    #[allow(clippy::box_collection)]
    indexed: Option<Box<BTreeMap<u32, (String, JsVal)>>>,
    named: Named,
}

/// Non-index keys in insertion order. Small objects (nearly all of them) are scanned, which is
/// faster than hashing every key; past `SMALL` keys they move to a hashed table.
#[derive(Debug, Clone)]
enum Named {
    Small(Vec<(String, JsVal)>),
    Big(Box<IndexMap<String, JsVal>>),
}

const SMALL: usize = 16;

impl Default for Named {
    fn default() -> Self {
        Named::Small(Vec::new())
    }
}

impl Named {
    fn get(&self, key: &str) -> Option<&JsVal> {
        match self {
            Named::Small(v) => v.iter().find(|(k, _)| k == key).map(|(_, x)| x),
            Named::Big(m) => m.get(key),
        }
    }
    fn insert(&mut self, key: String, val: JsVal) {
        match self {
            Named::Small(v) => match v.iter().position(|(k, _)| *k == key) {
                Some(i) => v[i].1 = val,
                None if v.len() < SMALL => v.push((key, val)),
                None => {
                    let mut m: IndexMap<String, JsVal> = std::mem::take(v).into_iter().collect();
                    m.insert(key, val);
                    *self = Named::Big(Box::new(m));
                }
            },
            Named::Big(m) => {
                m.insert(key, val);
            }
        }
    }
    fn remove(&mut self, key: &str) {
        match self {
            Named::Small(v) => v.retain(|(k, _)| k != key),
            Named::Big(m) => {
                m.shift_remove(key);
            }
        }
    }
    fn len(&self) -> usize {
        match self {
            Named::Small(v) => v.len(),
            Named::Big(m) => m.len(),
        }
    }
    fn iter(&self) -> impl Iterator<Item = (&String, &JsVal)> {
        let (small, big) = match self {
            Named::Small(v) => (Some(v.iter().map(|(k, x)| (k, x))), None),
            Named::Big(m) => (None, Some(m.iter())),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }
    fn into_entries(self) -> Vec<(String, JsVal)> {
        match self {
            Named::Small(v) => v,
            Named::Big(m) => m.into_iter().collect(),
        }
    }
}

/// Equal when the same properties come in the same order (order is observable in JS).
impl PartialEq for Obj {
    fn eq(&self, other: &Obj) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Obj {
    pub fn new() -> Self {
        Obj::default()
    }
    /// Room for `n` non-index keys up front (a mapping object's result has as many keys).
    pub fn with_capacity(n: usize) -> Self {
        Obj { indexed: None, named: Named::Small(Vec::with_capacity(n.min(SMALL))) }
    }
    pub fn get(&self, key: &str) -> Option<&JsVal> {
        match array_index(key) {
            Some(i) => self.indexed.as_ref()?.get(&i).map(|(_, v)| v),
            None => self.named.get(key),
        }
    }
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Property assignment: an existing key keeps its place, a new one goes where JS puts it.
    pub fn set(&mut self, key: String, val: JsVal) {
        match array_index(&key) {
            Some(i) => {
                self.indexed.get_or_insert_default().insert(i, (key, val));
            }
            None => {
                self.named.insert(key, val);
            }
        }
    }
    pub fn remove(&mut self, key: &str) {
        match array_index(key) {
            Some(i) => {
                if let Some(m) = self.indexed.as_mut() {
                    m.remove(&i);
                }
            }
            None => {
                self.named.remove(key);
            }
        }
    }
    pub fn len(&self) -> usize {
        self.indexed.as_ref().map_or(0, |m| m.len()) + self.named.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &JsVal)> {
        self.indexed.iter().flat_map(|m| m.values()).map(|(k, v)| (k, v)).chain(self.named.iter())
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(k, _)| k)
    }
    pub fn into_entries(self) -> Vec<(String, JsVal)> {
        self.indexed.into_iter().flat_map(|m| m.into_values()).chain(self.named.into_entries()).collect()
    }
}

impl FromIterator<(String, JsVal)> for Obj {
    fn from_iter<I: IntoIterator<Item = (String, JsVal)>>(iter: I) -> Self {
        let mut o = Obj::new();
        for (k, v) in iter {
            o.set(k, v);
        }
        o
    }
}

impl JsVal {
    pub fn str(s: impl Into<String>) -> JsVal {
        JsVal::Str(s.into())
    }

    /// Converts JSON into a JsVal; `None` if it nests deeper than `MAX_VALUE_DEPTH`.
    pub fn from_json(v: &Value) -> Option<JsVal> {
        Self::from_json_depth(v, 0)
    }

    fn from_json_depth(v: &Value, depth: usize) -> Option<JsVal> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        Some(match v {
            Value::Null => JsVal::Null,
            Value::Bool(b) => JsVal::Bool(*b),
            Value::Number(n) => JsVal::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => JsVal::Str(s.clone()),
            Value::Array(a) => {
                JsVal::Arr(a.iter().map(|x| Self::from_json_depth(x, depth + 1)).collect::<Option<Vec<_>>>()?)
            }
            Value::Object(m) => {
                JsVal::Obj(m.iter().map(|(k, x)| Some((k.clone(), Self::from_json_depth(x, depth + 1)?))).collect::<Option<Obj>>()?)
            }
        })
    }

    /// From the hot path's parsed event (for the full evaluator).
    pub fn from_j(v: &crate::json::J) -> JsVal {
        use crate::json::J;
        match v {
            J::Null => JsVal::Null,
            J::Bool(b) => JsVal::Bool(*b),
            J::Num(n) => JsVal::Num(*n),
            J::Str(s) => JsVal::Str(s.to_string()),
            J::Arr(a) => JsVal::Arr(a.iter().map(JsVal::from_j).collect()),
            J::Obj(o) => JsVal::Obj(o.iter().map(|(k, x)| (k.to_string(), JsVal::from_j(x))).collect()),
        }
    }

    /// `into_json`, to the hot path's value type.
    pub fn into_j(self) -> crate::json::J<'static> {
        use crate::json::{Obj as JObj, J};
        match self {
            JsVal::Undef | JsVal::Null => J::Null,
            JsVal::Bool(b) => J::Bool(b),
            JsVal::Num(n) if n.is_finite() => J::Num(n),
            JsVal::Num(_) => J::Null,
            JsVal::Str(s) => J::Str(s.into()),
            JsVal::Arr(a) => J::Arr(a.into_iter().map(JsVal::into_j).collect()),
            JsVal::Obj(o) => J::Obj(JObj(
                o.into_entries().into_iter().filter(|(_, v)| !v.is_undef()).map(|(k, v)| (k.into(), v.into_j())).collect(),
            )),
        }
    }

    /// What `JSON.parse(JSON.stringify(v))` would give (top-level undefined becomes null).
    /// Undefined properties are dropped and undefined array slots become null, so this also
    /// does actions-core's `removeUndefined`. Consumes the value: strings and keys are moved.
    pub fn into_json(self) -> Value {
        match self {
            JsVal::Undef | JsVal::Null => Value::Null,
            JsVal::Bool(b) => Value::Bool(b),
            JsVal::Num(n) => num_to_json(n),
            JsVal::Str(s) => Value::String(s),
            JsVal::Arr(a) => Value::Array(a.into_iter().map(JsVal::into_json).collect()),
            JsVal::Obj(o) => Value::Object(
                o.into_entries().into_iter().filter(|(_, v)| !v.is_undef()).map(|(k, v)| (k, v.into_json())).collect(),
            ),
        }
    }

    pub fn is_undef(&self) -> bool {
        matches!(self, JsVal::Undef)
    }
    pub fn is_nullish(&self) -> bool {
        matches!(self, JsVal::Undef | JsVal::Null)
    }

    pub fn truthy(&self) -> bool {
        match self {
            JsVal::Undef | JsVal::Null => false,
            JsVal::Bool(b) => *b,
            JsVal::Num(n) => *n != 0.0 && !n.is_nan(),
            JsVal::Str(s) => !s.is_empty(),
            JsVal::Arr(_) | JsVal::Obj(_) => true,
        }
    }

    /// Segment's `realTypeOf` (Object.prototype.toString tag, lower-cased).
    pub fn real_type(&self) -> &'static str {
        match self {
            JsVal::Undef => "undefined",
            JsVal::Null => "null",
            JsVal::Bool(_) => "boolean",
            JsVal::Num(_) => "number",
            JsVal::Str(_) => "string",
            JsVal::Arr(_) => "array",
            JsVal::Obj(_) => "object",
        }
    }

    pub fn as_obj(&self) -> Option<&Obj> {
        match self {
            JsVal::Obj(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsVal::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `String(v)`.
    pub fn to_js_string(&self) -> String {
        match self {
            JsVal::Undef => "undefined".into(),
            JsVal::Null => "null".into(),
            JsVal::Bool(b) => b.to_string(),
            JsVal::Num(n) => js::number_to_string(*n),
            JsVal::Str(s) => s.clone(),
            JsVal::Arr(a) => {
                a.iter().map(|x| if x.is_nullish() { String::new() } else { x.to_js_string() }).collect::<Vec<_>>().join(",")
            }
            JsVal::Obj(_) => "[object Object]".into(),
        }
    }

    /// `v == ''` (used by `@if` blank).
    pub fn loosely_equals_empty_string(&self) -> bool {
        match self {
            JsVal::Undef | JsVal::Null => false,
            JsVal::Bool(b) => !*b,
            JsVal::Num(n) => *n == 0.0,
            JsVal::Str(s) => s.is_empty(),
            JsVal::Arr(_) => self.to_js_string().is_empty(),
            JsVal::Obj(_) => false,
        }
    }

    /// Property read `v[key]` for JSON-ish values. Inherited prototype members (functions,
    /// `__proto__`) are not modelled and read as undefined.
    pub fn prop(&self, key: &str) -> Cow<'_, JsVal> {
        match self {
            JsVal::Obj(o) => o.get(key).map_or(Cow::Owned(JsVal::Undef), Cow::Borrowed),
            JsVal::Arr(a) => {
                if key == "length" {
                    return Cow::Owned(JsVal::Num(a.len() as f64));
                }
                match array_index(key).and_then(|i| a.get(i as usize)) {
                    Some(v) => Cow::Borrowed(v),
                    None => Cow::Owned(JsVal::Undef),
                }
            }
            JsVal::Str(s) => {
                if key == "length" {
                    return Cow::Owned(JsVal::Num(js::utf16_len(s) as f64));
                }
                match array_index(key) {
                    Some(i) => Cow::Owned(utf16_unit_at(s, i as usize).map_or(JsVal::Undef, JsVal::Str)),
                    None => Cow::Owned(JsVal::Undef),
                }
            }
            _ => Cow::Owned(JsVal::Undef),
        }
    }
}

/// `s[i]` in JS. A lone surrogate half cannot live in a Rust string, so it becomes U+FFFD.
fn utf16_unit_at(s: &str, i: usize) -> Option<String> {
    let mut pos = 0;
    for c in s.chars() {
        let w = c.len_utf16();
        if i < pos + w {
            return Some(if w == 1 { c.to_string() } else { '\u{fffd}'.to_string() });
        }
        pos += w;
    }
    None
}

pub fn num_to_json(n: f64) -> Value {
    if !n.is_finite() {
        return Value::Null;
    }
    if n.fract() == 0.0 && n.abs() < 9007199254740992.0 {
        return Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// Splits a path the way Segment's `get` does: on `.`, on `[` when followed by a quote or
/// digit, and on runs of `]` preceded by a quote or digit; then drops empty pieces and quotes.
pub fn split_path(path: &str) -> Vec<String> {
    let chars: Vec<char> = path.chars().collect();
    let is_q_or_digit = |c: char| c == '"' || c == '\'' || c.is_ascii_digit();
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let sep_len = match c {
            '.' => 1,
            '[' if chars.get(i + 1).is_some_and(|&n| is_q_or_digit(n)) => 1,
            ']' if i > 0 && is_q_or_digit(chars[i - 1]) => chars[i..].iter().take_while(|&&x| x == ']').count(),
            _ => 0,
        };
        if sep_len > 0 {
            parts.push(std::mem::take(&mut cur));
            i += sep_len;
        } else {
            cur.push(c);
            i += 1;
        }
    }
    parts.push(cur);
    parts.into_iter().filter(|p| !p.is_empty()).map(|p| p.replace(['\'', '"'], "")).collect()
}

/// Segment's `get(obj, path)`: walks while the current value is truthy, so a falsy value
/// part-way (0, "", false, null) is itself the result.
pub fn get<'a>(root: &'a JsVal, path: &str) -> Cow<'a, JsVal> {
    if path.is_empty() || path == "." {
        return Cow::Borrowed(root);
    }
    // Plain dotted paths (nearly all of them) are walked without allocating. A byte scan:
    // `str::contains` with a char set decoded every character (a hot spot of `plan`).
    if !path.bytes().any(|b| matches!(b, b'[' | b']' | b'"' | b'\'')) {
        return walk(root, path.split('.').filter(|p| !p.is_empty()));
    }
    walk(root, split_path(path).iter().map(String::as_str))
}

fn walk<'a, 'k>(root: &'a JsVal, keys: impl Iterator<Item = &'k str>) -> Cow<'a, JsVal> {
    let mut cur: Cow<'a, JsVal> = Cow::Borrowed(root);
    for key in keys {
        if !cur.truthy() {
            return cur;
        }
        cur = match cur {
            Cow::Borrowed(v) => v.prop(key),
            Cow::Owned(v) => Cow::Owned(v.prop(key).into_owned()),
        };
    }
    cur
}

/// Segment strips the first `$.` anywhere in a path (not only a leading one).
pub fn strip_root_marker(path: &str) -> Cow<'_, str> {
    // Both bytes are ASCII, so a byte position is a char boundary; `str::find` with a string
    // pattern set up a two-way searcher on every lookup.
    match path.as_bytes().windows(2).position(|w| w == b"$.") {
        Some(0) => Cow::Borrowed(&path[2..]),
        Some(i) => Cow::Owned(format!("{}{}", &path[..i], &path[i + 2..])),
        None => Cow::Borrowed(path),
    }
}

/// `JSON.stringify(v)`; `None` when the result would be `undefined`.
pub fn stringify(v: &JsVal) -> Option<String> {
    if v.is_undef() {
        return None;
    }
    let mut out = String::new();
    write_json(v, &mut out);
    Some(out)
}

fn write_json(v: &JsVal, out: &mut String) {
    match v {
        JsVal::Undef | JsVal::Null => out.push_str("null"),
        JsVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsVal::Num(n) => crate::json::write_num(*n, out),
        JsVal::Str(s) => js::quote_json_string(s, out),
        JsVal::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        JsVal::Obj(o) => {
            out.push('{');
            let mut first = true;
            for (k, x) in o.iter() {
                if x.is_undef() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                js::quote_json_string(k, out);
                out.push(':');
                write_json(x, out);
            }
            out.push('}');
        }
    }
}

/// `JSON.parse` (strict JSON; numbers as f64 like JS, duplicate keys: last value, first place).
pub fn parse_json(s: &str) -> Option<JsVal> {
    let mut p = Parser { b: s.as_bytes(), s, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i == p.b.len() { Some(v) } else { None }
}

struct Parser<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &str) -> Option<()> {
        if self.b[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Some(())
        } else {
            None
        }
    }
    fn value(&mut self, depth: usize) -> Option<JsVal> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        match *self.b.get(self.i)? {
            b'n' => self.eat("null").map(|_| JsVal::Null),
            b't' => self.eat("true").map(|_| JsVal::Bool(true)),
            b'f' => self.eat("false").map(|_| JsVal::Bool(false)),
            b'"' => self.string().map(JsVal::Str),
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Some(JsVal::Arr(a));
                }
                loop {
                    self.ws();
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(JsVal::Arr(a));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut o = Obj::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Some(JsVal::Obj(o));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    self.eat(":")?;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    o.set(k, v);
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(JsVal::Obj(o));
                        }
                        _ => return None,
                    }
                }
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }
    fn number(&mut self) -> Option<JsVal> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.i < p.b.len() && p.b[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - s
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return None;
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        // Rust's parser is correctly rounded and overflows to infinity like JS.
        crate::js::parse_decimal(self.s.get(start..self.i)?).map(JsVal::Num)
    }
    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out: Vec<u16> = Vec::new();
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    // Lone surrogates cannot be represented; they become U+FFFD.
                    return Some(String::from_utf16_lossy(&out));
                }
                b'\\' => {
                    self.i += 1;
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    let unit = match e {
                        b'"' => 0x22,
                        b'\\' => 0x5c,
                        b'/' => 0x2f,
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => 0x0a,
                        b'r' => 0x0d,
                        b't' => 0x09,
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4)?;
                            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                                return None;
                            }
                            self.i += 4;
                            u16::from_str_radix(hex, 16).ok()?
                        }
                        _ => return None,
                    };
                    out.push(unit);
                }
                0..=0x1f => return None,
                _ => {
                    // Copy one whole UTF-8 character.
                    let ch = self.s.get(self.i..)?.chars().next()?;
                    let mut buf = [0u16; 2];
                    out.extend_from_slice(ch.encode_utf16(&mut buf));
                    self.i += ch.len_utf8();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jv(v: Value) -> JsVal {
        JsVal::from_json(&v).unwrap()
    }

    #[test]
    fn path_splitting() {
        assert_eq!(split_path("a.b"), vec!["a", "b"]);
        assert_eq!(split_path("a[0].b"), vec!["a", "0", "b"]);
        assert_eq!(split_path("a['b c'].d"), vec!["a", "b c", "d"]);
        assert_eq!(split_path("a[b]"), vec!["a[b]"]);
        assert_eq!(split_path("integrations.Snap Conversions Api.click_id"), vec![
            "integrations",
            "Snap Conversions Api",
            "click_id"
        ]);
        assert_eq!(split_path("a[\"x\"]]]"), vec!["a", "x"]);
    }

    #[test]
    fn get_semantics() {
        let d = jv(json!({"a": {"b": [1, {"c": 2}]}, "z": 0, "s": "héllo", "n": null}));
        assert_eq!(*get(&d, "a.b[1].c"), JsVal::Num(2.0));
        assert_eq!(*get(&d, "a.b.length"), JsVal::Num(2.0));
        assert_eq!(*get(&d, "z.q.r"), JsVal::Num(0.0));
        assert_eq!(*get(&d, "n.q"), JsVal::Null);
        assert_eq!(*get(&d, "s.1"), JsVal::str("é"));
        assert_eq!(*get(&d, "missing.x"), JsVal::Undef);
        assert_eq!(*get(&d, ""), d);
    }

    #[test]
    fn values_stay_small() {
        // Every array element and property is a JsVal: keep it at most a String plus a tag.
        assert!(std::mem::size_of::<JsVal>() <= 40, "{}", std::mem::size_of::<JsVal>());
    }

    #[test]
    fn key_order_like_js() {
        let o: Obj = [("b", 1), ("2", 2), ("a", 3), ("1", 4), ("01", 5)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), JsVal::Num(v as f64)))
            .collect();
        assert_eq!(o.keys().cloned().collect::<Vec<_>>(), vec!["1", "2", "b", "a", "01"]);
        let mut o = o;
        o.remove("1");
        o.set("0".into(), JsVal::Null);
        o.set("3".into(), JsVal::Null);
        o.set("b".into(), JsVal::Null);
        assert_eq!(o.keys().cloned().collect::<Vec<_>>(), vec!["0", "2", "3", "b", "a", "01"]);
        // Past the small-object size the table is hashed; order and updates stay the same.
        let mut big = Obj::new();
        for i in 0..40 {
            big.set(format!("k{i}"), JsVal::Num(f64::from(i)));
        }
        big.set("k3".into(), JsVal::Null);
        big.remove("k0");
        big.set("7".into(), JsVal::Null);
        let keys: Vec<String> = big.keys().cloned().collect();
        assert_eq!(keys.len(), 40);
        assert_eq!(&keys[..3], ["7", "k1", "k2"]);
        assert_eq!(big.get("k3"), Some(&JsVal::Null));
        assert_eq!(big.get("k39"), Some(&JsVal::Num(39.0)));
        // Converted JSON objects order the same way.
        let j = JsVal::from_json(&serde_json::json!({"b": 1, "7": 2, "a": 3, "4294967295": 4, "3": 5})).unwrap();
        let keys: Vec<_> = j.as_obj().unwrap().keys().cloned().collect();
        assert_eq!(keys, vec!["3", "7", "b", "a", "4294967295"]);
    }

    #[test]
    fn json_round_trip() {
        let v = parse_json(r#" {"b":[1,2.5,-0,1e400,"x\u00e9\n"],"a":{"1":null,"0":true}} "#).unwrap();
        assert_eq!(stringify(&v).unwrap(), r#"{"b":[1,2.5,0,null,"xé\n"],"a":{"0":true,"1":null}}"#);
        assert!(parse_json("01").is_none());
        assert!(parse_json("[1,]").is_none());
        assert!(parse_json("\"\t\"").is_none());
    }
}
