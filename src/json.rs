//! The data of the hot path: JSON values that borrow their strings from the input text (a
//! string is copied only when it has escapes) and keep objects as small vectors in JS
//! enumeration order. Events are parsed into this once; FQL, the mapping evaluator, the
//! schema checks and `perform` all read it by reference, and request bodies are written from
//! it straight into text (`write`), as `JSON.stringify` would write them.
//!
//! Segment events are small objects (tens of keys), where a scan beats hashing every key and
//! one allocation per object beats a hash table per object.

use crate::js;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum J<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Obj<'a>),
}

/// Own properties in JS enumeration order (array-index keys ascending, then insertion
/// order), each key once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj<'a>(pub Vec<(Cow<'a, str>, J<'a>)>);

/// A key JS enumerates as an array index: canonical decimal below 2^32 - 1.
pub fn array_index(k: &str) -> Option<u32> {
    let b = k.as_bytes();
    if b.is_empty() || b.len() > 10 || (b.len() > 1 && b[0] == b'0') || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    k.parse::<u64>().ok().filter(|&n| n < u64::from(u32::MAX)).map(|n| n as u32)
}

/// Key equality, lengths first and inline: most keys differ in length, so most comparisons
/// in a scan end without a call to the byte comparison (scans are the hot path of lookups).
/// The first bytes are compared inline too: keys of one length often differ there, and the
/// byte comparison behind them is a call (in wasm, to a byte loop).
#[inline(always)]
pub fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// One of 64 bits for a key (from its length and first byte): keys with different bits
/// differ, so an object whose keys all have different bits has no duplicates.
#[inline(always)]
fn key_bit(k: &[u8]) -> u64 {
    let first = k.first().map_or(0, |&c| usize::from(c));
    1u64 << ((k.len() + (first << 3)) & 63)
}

/// A key's text without `Cow`'s deref, which is a call per key in the size-optimized build.
#[inline(always)]
#[allow(clippy::ptr_arg)] // the `Cow` itself is matched, to skip its deref
fn key_str<'k>(k: &'k Cow<str>) -> &'k str {
    match k {
        Cow::Borrowed(s) => s,
        Cow::Owned(s) => s.as_str(),
    }
}

impl<'a> Obj<'a> {
    pub fn with_capacity(n: usize) -> Self {
        Obj(Vec::with_capacity(n))
    }
    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.0.iter().find(|(k, _)| same_key(key_str(k), key)).map(|(_, v)| v)
    }
    /// A property that is present and not null.
    pub fn val(&self, key: &str) -> Option<&J<'a>> {
        self.get(key).filter(|v| !v.is_null())
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(J::as_str)
    }
    pub fn obj(&self, key: &str) -> Option<&Obj<'a>> {
        self.get(key).and_then(J::as_obj)
    }
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &J<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
    /// Appends a key known not to be present (builders that write each key once).
    pub fn push(&mut self, key: impl Into<Cow<'a, str>>, v: J<'a>) {
        self.0.push((key.into(), v));
    }
    /// Property assignment: an existing key keeps its place; a new one goes where JS puts it.
    pub fn set(&mut self, key: Cow<'a, str>, v: J<'a>) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| same_key(key_str(k), &key)) {
            slot.1 = v;
            return;
        }
        match array_index(&key) {
            Some(i) => {
                let at = self.0.iter().position(|(k, _)| array_index(k).is_none_or(|j| j > i)).unwrap_or(self.0.len());
                self.0.insert(at, (key, v));
            }
            None => self.0.push((key, v)),
        }
    }
    pub fn retain(&mut self, mut f: impl FnMut(&str, &mut J<'a>) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    /// As a serde map (for destinations that build their items from serde values).
    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        self.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect()
    }

    /// Puts entries parsed in text order into JS order: duplicate keys keep the first place
    /// and the last value, array-index keys move first. Nearly every object needs neither.
    fn normalize(&mut self) {
        let n = self.0.len();
        if n < 2 {
            return; // one key is in order, and unique
        }
        let (mut has_index, mut has_dup) = (false, false);
        if n <= 24 {
            // A key is compared with the ones before it only when its `key_bit` came before:
            // most objects then cost one pass, with no pair of keys compared.
            let mut bits = 0u64;
            for i in 0..n {
                let k = key_str(&self.0[i].0);
                let b = k.as_bytes();
                has_index |= b.first().is_some_and(u8::is_ascii_digit) && array_index(k).is_some();
                let bit = key_bit(b);
                if bits & bit != 0 && !has_dup {
                    has_dup = self.0[..i].iter().any(|(k2, _)| same_key(key_str(k2), k));
                }
                bits |= bit;
            }
        } else {
            has_index = self.0.iter().any(|(k, _)| k.as_bytes().first().is_some_and(u8::is_ascii_digit) && array_index(k).is_some());
            let mut seen = std::collections::HashSet::with_capacity(n);
            has_dup = !self.0.iter().all(|(k, _)| seen.insert(k.as_ref()));
        }
        if !has_index && !has_dup {
            return;
        }
        let entries = std::mem::take(&mut self.0);
        let mut out = Obj::with_capacity(entries.len());
        if has_dup {
            let mut pos: std::collections::HashMap<Cow<'a, str>, usize> = std::collections::HashMap::with_capacity(n);
            for (k, v) in entries {
                match pos.get(&k) {
                    Some(&i) => out.0[i].1 = v,
                    None => {
                        pos.insert(k.clone(), out.0.len());
                        out.0.push((k, v));
                    }
                }
            }
        } else {
            out.0 = entries;
        }
        if has_index {
            // Stable: named keys keep their order; index keys sort numerically ahead of them.
            crate::order::stable_sort_by_key(&mut out.0, |(k, _)| array_index(k).map_or(u64::MAX, u64::from));
        }
        *self = out;
    }
}

impl<'a> J<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_obj(&self) -> Option<&Obj<'a>> {
        match self {
            J::Obj(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_arr(&self) -> Option<&[J<'a>]> {
        match self {
            J::Arr(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            J::Num(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            J::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn str(s: impl Into<Cow<'a, str>>) -> J<'a> {
        J::Str(s.into())
    }

    /// JS truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            J::Null => false,
            J::Bool(b) => *b,
            J::Num(n) => *n != 0.0 && !n.is_nan(),
            J::Str(s) => !s.is_empty(),
            J::Arr(_) | J::Obj(_) => true,
        }
    }

    /// Nesting of arrays and objects (a scalar is 0, `{}` is 1).
    pub fn depth(&self) -> usize {
        match self {
            J::Arr(a) => 1 + a.iter().map(J::depth).max().unwrap_or(0),
            J::Obj(o) => 1 + o.0.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// A copy that owns its strings (outlives the input text).
    pub fn into_owned(self) -> J<'static> {
        match self {
            J::Null => J::Null,
            J::Bool(b) => J::Bool(b),
            J::Num(n) => J::Num(n),
            J::Str(s) => J::Str(Cow::Owned(s.into_owned())),
            J::Arr(a) => J::Arr(a.into_iter().map(J::into_owned).collect()),
            J::Obj(o) => J::Obj(Obj(o.0.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect())),
        }
    }

    /// From a serde value (configuration, tests); numbers as JS sees them.
    pub fn from_value(v: &Value) -> J<'static> {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => J::Str(Cow::Owned(s.clone())),
            Value::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            Value::Object(m) => {
                let mut o = Obj(m.iter().map(|(k, v)| (Cow::Owned(k.clone()), J::from_value(v))).collect());
                o.normalize();
                J::Obj(o)
            }
        }
    }

    /// To a serde value (integral numbers as integers, as JS prints them).
    pub fn to_value(&self) -> Value {
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Num(n) => crate::mapping::value::num_to_json(*n),
            J::Str(s) => Value::String(s.to_string()),
            J::Arr(a) => Value::Array(a.iter().map(J::to_value).collect()),
            J::Obj(o) => Value::Object(o.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect()),
        }
    }

    /// `JSON.stringify` of this value appended to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => write_num(*n, out),
            J::Str(s) => js::quote_json_string(s, out),
            J::Arr(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            J::Obj(o) => {
                out.push('{');
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    js::quote_json_string(k, out);
                    out.push(':');
                    x.write(out);
                }
                out.push('}');
            }
        }
    }

    pub fn to_json_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// A number as `JSON.stringify` writes it (non-finite as null).
pub fn write_num(n: f64, out: &mut String) {
    if !n.is_finite() {
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() < 9007199254740992.0 {
        // Integers (nearly all numbers in events) without the float formatter.
        let i = n as i64;
        if i == 0 {
            out.push('0'); // -0 prints as 0
        } else {
            use std::fmt::Write;
            let _ = write!(out, "{i}");
        }
    } else {
        out.push_str(&js::number_to_string(n));
    }
}

/// Parses one JSON text (an event) into a borrowed value. Depth is the caller's check
/// (serde_json's own limit of 128 stays as a backstop).
///
/// Valid text goes through `Reader`, a direct parser into `J` (the serde visitor costs about
/// twice as much per event). Anything it does not accept is parsed again by serde_json, so
/// errors (and their messages) are serde_json's, and any text the two disagree on gets
/// serde_json's answer. tests/fuzz.rs checks that both give the same values.
pub fn parse(text: &str) -> Result<J<'_>, serde_json::Error> {
    parse_measured(text).map(|(v, _)| v)
}

/// `parse`, with the value's nesting depth (`J::depth`): counted while reading, so the
/// caller's depth check needs no second walk of the tree (a walk only after a fallback).
pub fn parse_measured(text: &str) -> Result<(J<'_>, usize), serde_json::Error> {
    parse_measured_in(text, &mut Stacks::default())
}

/// `parse_measured` with the caller's scratch stacks (one for many texts: the lines of an
/// NDJSON call share one, as the elements of an array do).
pub fn parse_measured_in<'a>(text: &'a str, stacks: &mut Stacks<'a>) -> Result<(J<'a>, usize), serde_json::Error> {
    if let Some(p) = parse_at(text, 0, stacks) {
        if skip_ws(text.as_bytes(), p.end) == text.len() {
            return Ok((p.value, p.depth));
        }
    }
    parse_with_serde(text).map(|v| {
        let depth = v.depth();
        (v, depth)
    })
}

/// A value read by the direct parser: where it ends in the text, and its `J::depth`.
pub struct Parsed<'a> {
    pub value: J<'a>,
    pub end: usize,
    pub depth: usize,
}

/// The direct parser on the value that starts at byte `at` of `text` (after whitespace): the
/// value and the index just past it, or `None` where `parse` would fall back to serde_json.
/// What follows the value is the caller's to check (the array splitter's fused path, which
/// passes the same `stacks` for every element of its array).
pub fn parse_at<'a>(text: &'a str, at: usize, stacks: &mut Stacks<'a>) -> Option<Parsed<'a>> {
    let Stacks { entries, elems } = std::mem::take(stacks);
    let mut r = Reader { b: text.as_bytes(), s: text, i: at, depth: 0, entries, elems };
    let value = r.value(0);
    // Empty again (a failed read leaves what it had read so far).
    r.entries.clear();
    r.elems.clear();
    *stacks = Stacks { entries: r.entries, elems: r.elems };
    Some(Parsed { value: value?, end: r.i, depth: r.depth })
}

/// The direct parser's scratch space: the entries and elements of the objects and arrays
/// being read, innermost last. Each container's own are moved into one allocation of exact
/// size when it closes, where a vector per container grew (reallocating) as it was read;
/// empty between values, so values of one text can share it (one allocation per array of
/// events rather than per event). Not kept per thread: that cost ~500 bytes gzipped of wasm,
/// a quarter of Snap CAPI's headroom under its size budget.
#[derive(Default)]
pub struct Stacks<'a> {
    entries: Vec<(Cow<'a, str>, J<'a>)>,
    elems: Vec<J<'a>>,
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The reference parse: serde_json through the visitor below.
pub fn parse_with_serde(text: &str) -> Result<J<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = J::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// serde_json's nesting limit: deeper text is left to serde_json, which reports it.
const SERDE_DEPTH: usize = 128;

/// The direct parser: `None` on anything unexpected (the caller falls back to serde_json).
/// Values are what serde_json gives through the visitor: strings borrowed unless escaped,
/// integers converted from u64/i64 as serde_json does, other numbers by serde_json's own
/// float parser, objects normalized to JS order.
struct Reader<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
    /// The deepest nesting reached (`J::depth` of the value read).
    depth: usize,
    /// `Stacks`, moved in for the read.
    entries: Vec<(Cow<'a, str>, J<'a>)>,
    elems: Vec<J<'a>>,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) -> usize {
        // Compact JSON (most events) has no whitespace between tokens: one test rather than
        // the loop's (speed builds; JSON whitespace is all below b'!').
        #[cfg(speed)]
        if self.b.get(self.i).is_some_and(|&c| c > b' ') {
            return self.i;
        }
        self.i = skip_ws(self.b, self.i);
        self.i
    }

    fn lit(&mut self, word: &[u8], v: J<'a>) -> Option<J<'a>> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<J<'a>> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => Some(J::Str(self.string()?)),
            b'{' => {
                if depth + 1 >= SERDE_DEPTH {
                    return None;
                }
                self.depth = self.depth.max(depth + 1);
                self.i += 1;
                if self.b.get(self.ws()) == Some(&b'}') {
                    self.i += 1;
                    return Some(J::Obj(Obj::default()));
                }
                let from = self.entries.len();
                // Whether `normalize` has anything to look for: a `key_bit` seen before (a
                // possible duplicate) or a key starting with a digit (a possible index).
                let (mut bits, mut odd) = (0u64, false);
                loop {
                    if self.b.get(self.ws()) != Some(&b'"') {
                        return None;
                    }
                    let k = self.string()?;
                    let bit = key_bit(k.as_bytes());
                    odd |= bits & bit != 0 || k.as_bytes().first().is_some_and(u8::is_ascii_digit);
                    bits |= bit;
                    if self.b.get(self.ws()) != Some(&b':') {
                        return None;
                    }
                    self.i += 1;
                    // Strings (most values) without a call.
                    let v = if self.b.get(self.ws()) == Some(&b'"') { J::Str(self.string()?) } else { self.value(depth + 1)? };
                    self.entries.push((k, v));
                    match self.b.get(self.ws())? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            let mut o = Obj(self.entries.split_off(from));
                            if odd {
                                o.normalize();
                            }
                            return Some(J::Obj(o));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth + 1 >= SERDE_DEPTH {
                    return None;
                }
                self.depth = self.depth.max(depth + 1);
                self.i += 1;
                if self.b.get(self.ws()) == Some(&b']') {
                    self.i += 1;
                    return Some(J::Arr(Vec::new()));
                }
                let from = self.elems.len();
                loop {
                    let v = self.value(depth + 1)?;
                    self.elems.push(v);
                    match self.b.get(self.ws())? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(J::Arr(self.elems.split_off(from)));
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.lit(b"true", J::Bool(true)),
            b'f' => self.lit(b"false", J::Bool(false)),
            b'n' => self.lit(b"null", J::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<J<'a>> {
        let start = self.i;
        let neg = self.b[self.i] == b'-';
        self.i += usize::from(neg);
        let digits_from = self.i;
        let mut int: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            int = int.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.i += 1;
        }
        let n_digits = self.i - digits_from;
        // JSON: at least one digit, and no leading zero before more digits.
        if n_digits == 0 || (n_digits > 1 && self.b[digits_from] == b'0') {
            return None;
        }
        let is_float = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        if !is_float && n_digits <= 19 {
            // As serde_json converts them (u64 / i64, and `-0` as -0.0).
            let v = int as f64;
            return Some(J::Num(if neg { -v } else { v }));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.digits()?;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
        }
        // Fractions, exponents and long integers: serde_json's own number parser, so the
        // value (and out-of-range errors, through the fallback) are exactly its.
        serde_json::from_str::<f64>(&self.s[start..self.i]).ok().map(J::Num)
    }

    /// A run of one or more digits (a fraction's or an exponent's).
    fn digits(&mut self) -> Option<()> {
        let from = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        (self.i > from).then_some(())
    }

    /// At an opening quote: the string, borrowed when it has no escapes. Inline: nearly every
    /// key and string is plain, and a call per string cost more than its scan.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        // Every caller has seen the quote; the unchecked slice below relies on it.
        debug_assert_eq!(self.b.get(self.i), Some(&b'"'));
        self.i += 1;
        let start = self.i;
        self.i = js::plain_run(self.b, self.i);
        match *self.b.get(self.i)? {
            b'"' => {
                // SAFETY: `start` follows a quote and `self.i` is at one, so both are char
                // boundaries of the `str`. (The checked slice was a call per string.)
                let s = unsafe { self.s.get_unchecked(start..self.i) };
                self.i += 1;
                Some(Cow::Borrowed(s))
            }
            b'\\' => self.escaped(start),
            _ => None,
        }
    }

    /// The rest of a string with escapes, from its first backslash (`start`: its first byte).
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.s[start..self.i]);
        loop {
            let run = self.i;
            self.i = js::plain_run(self.b, self.i);
            out.push_str(&self.s[run..self.i]);
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = match hi {
                                0xD800..=0xDBFF => {
                                    // A pair, or serde_json's error through the fallback.
                                    if self.b.get(self.i..self.i + 2)? != b"\\u" {
                                        return None;
                                    }
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return None;
                                    }
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => char::from_u32(hi)?,
                            };
                            out.push(c);
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = J<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J<'de>, E> {
        Ok(J::Num(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(J::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let mut o = Obj::with_capacity(8);
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value()?;
            o.0.push((k, v));
        }
        o.normalize();
        Ok(J::Obj(o))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_orders_like_js() {
        let text = r#"{"b":"x","10":1,"a":"e\u00e9","b":2,"2":[true,null,-0,1.5e300]}"#;
        let v = parse(text).unwrap();
        let J::Obj(o) = &v else { panic!() };
        let keys: Vec<&str> = o.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["2", "10", "b", "a"]);
        assert_eq!(o.get("b"), Some(&J::Num(2.0)));
        assert!(matches!(o.get("a"), Some(J::Str(Cow::Owned(s))) if s == "eé"));
        assert_eq!(v.to_json_string(), r#"{"2":[true,null,0,1.5e+300],"10":1,"b":2,"a":"eé"}"#);
        let J::Obj(o) = parse(r#"{"k":"plain"}"#).unwrap() else { panic!() };
        assert!(matches!(o.get("k"), Some(J::Str(Cow::Borrowed("plain")))));
    }

    #[test]
    fn same_numbers_as_serde_values() {
        for t in ["0", "-0", "1", "-1", "1.0", "9007199254740993", "18446744073709551615", "1e21", "1.5e-7", "-2.5"] {
            let a = parse(t).unwrap();
            let b: Value = serde_json::from_str(t).unwrap();
            assert_eq!(a, J::from_value(&b), "{t}");
        }
        assert!(parse("1e400").is_err());
        assert!(parse("{} x").is_err());
    }

    #[test]
    fn set_places_keys_like_js() {
        let mut o = Obj::default();
        o.set("b".into(), J::Num(1.0));
        o.set("5".into(), J::Num(2.0));
        o.set("1".into(), J::Num(3.0));
        o.set("b".into(), J::Num(4.0));
        assert_eq!(J::Obj(o).to_json_string(), r#"{"1":3,"5":2,"b":4}"#);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Object texts whose keys repeat, share lengths or look like array indices (what
    /// `normalize` and the reader's check of when to call it are about), nested a little.
    fn object_text(depth: u32) -> BoxedStrategy<String> {
        let key = prop::sample::select(vec!["a", "b", "ab", "ba", "aa", "0", "1", "01", "10", "x1", "4294967294", "4294967295", "", "é", "type", "tipe"]);
        let leaf = prop_oneof![Just("1".to_string()), Just("\"s\"".to_string()), Just("null".to_string()), Just("[]".to_string())];
        let value = if depth == 0 { leaf.boxed() } else { prop_oneof![2 => leaf, 1 => object_text(depth - 1)].boxed() };
        prop::collection::vec((key, value), 0..30)
            .prop_map(|kv| format!("{{{}}}", kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")))
            .boxed()
    }

    proptest! {
        /// The direct reader orders and deduplicates keys as serde_json's visitor path does;
        /// its depth is the text's (values a later duplicate replaces count too).
        #[test]
        fn keys_like_serde(t in object_text(2)) {
            let p = parse_at(&t, 0, &mut Stacks::default());
            prop_assert!(p.as_ref().is_some_and(|p| p.end == t.len()), "{}", t);
            let p = p.unwrap();
            prop_assert_eq!(format!("{:?}", p.value), format!("{:?}", parse_with_serde(&t).unwrap()), "{}", t);
            prop_assert_eq!(p.depth, crate::input::max_depth(&t), "{}", t);
        }
    }
}
