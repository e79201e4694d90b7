//! Action field schemas and the payload checks Segment runs between mapping and `perform`:
//! empty-value removal, then JSON-schema validation with type coercion (AJV with
//! `coerceTypes: "array"` and `removeAdditional: true`). Destinations declare fields as data;
//! this module gives every destination the same semantics.

use crate::error::{ErrorCode, EventError};
use crate::js::number_to_string;
use crate::json::{Obj, J};
use serde_json::{Number, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    /// Segment's `datetime`: a string (a date dayjs can read) or a number.
    Datetime,
}

/// String formats Segment's AJV checks (ajv-formats' "full" rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Email,
    DateTime,
    Uri,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Email => "email",
            Format::DateTime => "date-time",
            Format::Uri => "uri",
        }
    }

    fn accepts(self, s: &str) -> bool {
        match self {
            Format::Email => is_email(s),
            Format::DateTime => is_date_time(s),
            Format::Uri => is_uri(s),
        }
    }
}

fn is_email(s: &str) -> bool {
    const LOCAL: &[u8] = b"!#$%&'*+/=?^_`{|}~-";
    let Some((local, domain)) = s.split_once('@') else { return false };
    let atom_ok = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || LOCAL.contains(&b));
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    local.split('.').all(atom_ok) && labels.len() >= 2 && labels.iter().all(|l| label_ok(l))
}

/// RFC 3339 date-time as ajv-formats 2 checks it (`T`, `t` or a space apart); its check lets
/// a missing time zone through, so does this one.
fn is_date_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(|c: char| c == 't' || c == 'T' || c.is_whitespace()).collect();
    let [date, time] = parts[..] else { return false };
    let d = date.as_bytes();
    let num = |b: &[u8]| -> Option<u32> { b.iter().all(u8::is_ascii_digit).then(|| b.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0'))) };
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(day)) = (num(&d[..4]), num(&d[5..7]), num(&d[8..])) else { return false };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = [0, 31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || day < 1 || day > days[m as usize] {
        return false;
    }
    let t = time.as_bytes();
    if t.len() < 8 || t[2] != b':' || t[5] != b':' {
        return false;
    }
    let (Some(h), Some(mi), Some(sec)) = (num(&t[..2]), num(&t[3..5]), num(&t[6..8])) else { return false };
    let mut rest = &t[8..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &rest[1 + n..];
    }
    let zone_ok = match rest {
        [] | [b'z' | b'Z'] => true,
        [b'+' | b'-', a, b] => a.is_ascii_digit() && b.is_ascii_digit(),
        [b'+' | b'-', a, b, c, d] => [a, b, c, d].iter().all(|x| x.is_ascii_digit()),
        [b'+' | b'-', a, b, b':', c, d] => [a, b, c, d].iter().all(|x| x.is_ascii_digit()),
        _ => false,
    };
    zone_ok && ((h <= 23 && mi <= 59 && sec <= 59) || (h == 23 && mi == 59 && sec == 60))
}

/// An absolute URI: a scheme, then only URI characters (percent escapes well formed).
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let sb = scheme.as_bytes();
    if sb.is_empty() || !sb[0].is_ascii_alphabetic() || !sb.iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) {
        return false;
    }
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#[]".contains(&c) => i += 1,
            _ => return false,
        }
    }
    true
}

#[derive(Debug, Clone, Copy)]
pub enum Choices {
    None,
    Str(&'static [&'static str]),
    Num(&'static [f64]),
}

/// One action field: the data a destination declares.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub multiple: bool,
    pub allow_null: bool,
    pub required: bool,
    pub choices: Choices,
    /// Sub-fields of an object field (extra keys are dropped, as Segment does).
    pub properties: &'static [Field],
    /// Keys beyond `properties` are kept (Segment's `additionalProperties: true`).
    pub open: bool,
    pub format: Option<Format>,
}

impl Field {
    pub const fn new(name: &'static str, ty: Ty) -> Field {
        Field { name, ty, multiple: false, allow_null: false, required: false, choices: Choices::None, properties: &[], open: false, format: None }
    }
    pub const fn multiple(mut self) -> Field {
        self.multiple = true;
        self
    }
    pub const fn choices(mut self, c: &'static [&'static str]) -> Field {
        self.choices = Choices::Str(c);
        self
    }
    pub const fn num_choices(mut self, c: &'static [f64]) -> Field {
        self.choices = Choices::Num(c);
        self
    }
    pub const fn props(mut self, p: &'static [Field]) -> Field {
        self.properties = p;
        self
    }
    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub const fn nullable(mut self) -> Field {
        self.allow_null = true;
        self
    }
    pub const fn format(mut self, f: Format) -> Field {
        self.format = Some(f);
        self
    }
    pub const fn open(mut self) -> Field {
        self.open = true;
        self
    }
    fn find(fields: &'static [Field], name: &str) -> Option<&'static Field> {
        fields.iter().find(|f| crate::json::same_key(f.name, name))
    }
    /// Whether `check_value` would accept `v` unchanged without a further check: a field
    /// with no format, choices, items or properties, and a value of its type.
    fn accepts_as_is(&self, v: &J) -> bool {
        matches!(self.choices, Choices::None)
            && self.format.is_none()
            && !self.multiple
            && self.properties.is_empty()
            && self.ty != Ty::Datetime
            && (JType::from(self.ty).accepts(v) || (self.allow_null && v.is_null()))
    }
    /// Types accepted for the value itself (an array for `multiple` fields). A slice of a
    /// fixed pair: no allocation per checked value.
    fn value_types(&self) -> ([JType; 3], usize) {
        let nullable = self.allow_null && !self.multiple;
        match (self.multiple, self.ty) {
            (false, Ty::Datetime) => ([JType::String, JType::Number, JType::Null], if nullable { 3 } else { 2 }),
            _ => {
                let first = if self.multiple { JType::Array } else { JType::from(self.ty) };
                ([first, JType::Null, JType::Null], if nullable { 2 } else { 1 })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Null,
}

impl From<Ty> for JType {
    fn from(t: Ty) -> JType {
        match t {
            Ty::String => JType::String,
            Ty::Number => JType::Number,
            Ty::Integer => JType::Integer,
            Ty::Boolean => JType::Boolean,
            Ty::Object => JType::Object,
            Ty::Datetime => JType::String,
        }
    }
}

impl JType {
    fn name(self) -> &'static str {
        match self {
            JType::String => "string",
            JType::Number => "number",
            JType::Integer => "integer",
            JType::Boolean => "boolean",
            JType::Object => "object",
            JType::Array => "array",
            JType::Null => "null",
        }
    }
    fn accepts(self, v: &J) -> bool {
        match (self, v) {
            (JType::String, J::Str(_)) | (JType::Boolean, J::Bool(_)) => true,
            (JType::Number, J::Num(_)) => true,
            (JType::Integer, J::Num(n)) => n.fract() == 0.0,
            (JType::Object, J::Obj(_)) | (JType::Array, J::Arr(_)) => true,
            (JType::Null, J::Null) => true,
            _ => false,
        }
    }
}

/// Segment's `removeEmptyValues`: nulls dropped where the schema does not allow null, empty
/// strings dropped where it is not a string (and at the root always).
pub fn remove_empty_values(payload: &mut Obj, fields: &'static [Field]) {
    remove_empty_in_object(payload, fields, true);
}

fn remove_empty_in_object(obj: &mut Obj, fields: &'static [Field], root: bool) {
    obj.retain(|key, v| {
        let Some(f) = Field::find(fields, key) else { return true };
        if !keep_after_removal(v, f) {
            return false;
        }
        !(root && v.as_str() == Some(""))
    });
}

/// Applies removal inside `v` and says whether `v` itself survives. Array items are only
/// filtered, never cleaned inside (Segment filters them but keeps the originals).
fn keep_after_removal(v: &mut J, f: &Field) -> bool {
    match v {
        J::Arr(items) if f.multiple => {
            let item = Field { multiple: false, ..*f };
            items.retain(|i| survives(i, &item));
            true
        }
        J::Obj(o) if nests(f) => {
            remove_empty_in_object(o, f.properties, false);
            true
        }
        _ => survives(v, f),
    }
}

/// Whether an object value of `f` has declared properties of its own (cleaned inside).
fn nests(f: &Field) -> bool {
    f.ty == Ty::Object && !f.multiple && !f.properties.is_empty()
}

fn survives(v: &J, f: &Field) -> bool {
    match v {
        J::Null => f.allow_null && !f.multiple,
        J::Str(s) if s.is_empty() => matches!(f.ty, Ty::String | Ty::Datetime) && !f.multiple,
        _ => true,
    }
}

/// Validate and coerce the mapped payload in place, like AJV does for Segment.
pub fn validate_and_coerce(payload: &mut Obj, fields: &'static [Field]) -> Result<(), EventError> {
    with_path(|path| check_object(payload, fields, false, true, None, path))
}

/// `remove_empty_values` then `validate_and_coerce`, in one pass over the payload: each key's
/// field is found once, and each object walked once.
pub fn clean_and_validate(payload: &mut Obj, fields: &'static [Field]) -> Result<(), EventError> {
    with_path(|path| check_object(payload, fields, false, true, Some(true), path))
}

/// `f` with the location buffer, reused across events (it is only read when an error names it).
fn with_path<T>(f: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static PATH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    PATH.with(|path| match path.try_borrow_mut() {
        Ok(mut path) => {
            path.clear();
            f(&mut path)
        }
        Err(_) => f(&mut String::new()),
    })
}

/// `path` is the location of `obj` (`/a/b`); it is extended per key and restored, so no
/// string is built per checked value. `arrify`: top-level `multiple` fields are wrapped in an
/// array first (Segment's arrifyFields), null included. `clean`: empty values are removed
/// first, as `remove_empty_values` would have (`Some(root)`).
fn check_object(obj: &mut Obj, fields: &'static [Field], open: bool, arrify: bool, clean: Option<bool>, path: &mut String) -> Result<(), EventError> {
    // One pass, one field lookup per key: removeEmptyValues (when cleaning), removeAdditional
    // (keys without a declared field are dropped unless the object is open; kept ones are
    // left unchecked), then each declared key's coercion and checks, in key order. After an
    // error the payload is discarded: later keys are only cleaned (the required check below
    // needs what survives), not checked.
    let mut walk = Walk { arrify, clean, failed: None, path };
    obj.retain(|k, v| match Field::find(fields, k) {
        Some(f) => walk.entry(k, v, f, false),
        None => open,
    });
    walk.finish(obj, fields)
}

/// `check_object`'s walk of one object, an entry at a time: what the mapping evaluator's
/// checked path (`mapping::fast`, speed builds) also uses, on entries it has just made.
pub(crate) struct Walk<'p> {
    arrify: bool,
    clean: Option<bool>,
    /// The first error, in key order.
    pub(crate) failed: Option<EventError>,
    path: &'p mut String,
}

impl<'p> Walk<'p> {
    /// The walk of a mapped payload (`clean_and_validate`'s), with the location buffer.
    #[cfg(speed)]
    pub(crate) fn payload<T>(f: impl FnOnce(&mut Walk) -> T) -> T {
        with_path(|path| f(&mut Walk { arrify: true, clean: Some(true), failed: None, path }))
    }

    /// A walk at the payload's root (`root`) or inside one of its objects, as `payload` and
    /// `nested` start them, on the caller's location buffer: for entries known when a mapping
    /// is bound to its fields (literals).
    #[cfg(speed)]
    pub(crate) fn level(root: bool, path: &mut String) -> Walk<'_> {
        Walk { arrify: root, clean: Some(root), failed: None, path }
    }

    /// The walk of the object value of `f` (a field that `nests`), as `check_value` starts it.
    #[cfg(speed)]
    pub(crate) fn nested(&mut self) -> Walk<'_> {
        Walk { arrify: false, clean: self.clean.map(|_| false), failed: None, path: self.path }
    }

    /// Whether the entry `k` of declared field `f` stays (cleaned, coerced and checked in
    /// place). `walked`: `v` is an object of a nesting field whose entries were walked
    /// already (by `nested`), so only what `check_value` does besides is left.
    pub(crate) fn entry(&mut self, k: &str, v: &mut J, f: &Field, walked: bool) -> bool {
        // An object cleaned here is cleaned with its check, in the same pass.
        let nested = self.clean.is_some() && matches!(v, J::Obj(_)) && nests(f);
        if let (Some(root), false) = (self.clean, nested) {
            if !keep_after_removal(v, f) || (root && v.as_str() == Some("")) {
                return false;
            }
        }
        if self.failed.is_some() {
            return true;
        }
        if self.arrify && f.multiple && !matches!(v, J::Arr(_) | J::Null) {
            *v = J::Arr(vec![std::mem::replace(v, J::Null)]);
        }
        // The usual case, a value of the field's own type with nothing more to check: no
        // location to build, nothing to coerce.
        if f.accepts_as_is(v) {
            return true;
        }
        let len = self.path.len();
        self.path.push('/');
        self.path.push_str(k);
        // An object walked already: its type holds (`coerce` keeps an object for a nesting
        // field) and a string format does not apply, which leaves the choices.
        self.failed = if walked && nested { check_choices(v, f, self.path) } else { check_value(v, f, nested, self.path) }.err();
        self.path.truncate(len);
        true
    }

    /// After the entries: required fields come first in Segment's order of errors; presence
    /// is what survived.
    pub(crate) fn finish(self, obj: &Obj, fields: &'static [Field]) -> Result<(), EventError> {
        for f in fields {
            if f.required && !obj.contains(f.name) {
                return Err(schema_error(
                    &format!("{}/{}", self.path, f.name),
                    format!("The {} is missing the required field '{}'.", where_(self.path), f.name),
                ));
            }
        }
        self.failed.map_or(Ok(()), Err)
    }
}

/// `Field::accepts_as_is` of a value that cleaning keeps (not null, not an empty string):
/// `Walk::entry` would keep it unchanged.
#[cfg(speed)]
#[inline(always)]
pub(crate) fn plain_accepts(f: &Field, v: &J) -> bool {
    f.accepts_as_is(v)
}

/// Whether a value of `f` is an object walked with its own fields (`Walk::nested`).
#[cfg(speed)]
pub(crate) fn nests_object(f: &Field) -> bool {
    nests(f)
}

/// The declared field named `k` of `fields`, if any.
#[cfg(speed)]
pub(crate) fn field(fields: &'static [Field], k: &str) -> Option<&'static Field> {
    Field::find(fields, k)
}

fn where_(path: &str) -> String {
    if path.is_empty() { "root value".into() } else { format!("value at {path}") }
}

/// `clean`: `v` is an object whose empty values are still to be removed (see `check_object`).
fn check_value(v: &mut J, f: &Field, clean: bool, path: &mut String) -> Result<(), EventError> {
    let (types, n) = f.value_types();
    coerce(v, &types[..n], path)?;
    if f.multiple {
        let item = Field { multiple: false, ..*f };
        if let J::Arr(items) = v {
            for (i, it) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push('/');
                crate::json::write_num(i as f64, path);
                check_value(it, &item, false, path)?;
                path.truncate(len);
            }
        }
        return Ok(());
    }
    if let (Some(fmt), J::Str(s)) = (f.format, &*v) {
        if !fmt.accepts(s) {
            return Err(schema_error(path, format!("The value at {path} must match format \"{}\".", fmt.name())));
        }
    }
    if f.ty == Ty::Datetime {
        if let J::Str(s) = v {
            if !crate::time::date_like(s) {
                return Err(schema_error(path, format!("The value at {path} must match format \"date-like\".")));
            }
        }
    }
    if let J::Obj(o) = v {
        if !f.properties.is_empty() {
            check_object(o, f.properties, f.open, false, clean.then_some(false), path)?;
        }
    }
    check_choices(v, f, path)
}

fn check_choices(v: &J, f: &Field, path: &str) -> Result<(), EventError> {
    let ok = match f.choices {
        Choices::None => true,
        _ if v.is_null() && f.allow_null => true,
        Choices::Str(c) => v.as_str().is_some_and(|s| c.contains(&s)),
        Choices::Num(c) => v.as_f64().is_some_and(|n| c.contains(&n)),
    };
    if ok {
        return Ok(());
    }
    let allowed = match f.choices {
        Choices::Str(c) => c.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", "),
        Choices::Num(c) => c.iter().map(|n| number_to_string(*n)).collect::<Vec<_>>().join(", "),
        Choices::None => String::new(),
    };
    Err(schema_error(path, format!("The value at {path} must be one of: {allowed}.")))
}

/// AJV's coercion for a value whose type is not one of `types`.
fn coerce(v: &mut J, types: &[JType], path: &str) -> Result<(), EventError> {
    if types.iter().any(|t| t.accepts(v)) {
        return Ok(());
    }
    // coerceTypes "array": a one-element array stands for its element.
    if let J::Arr(a) = v {
        if a.len() == 1 && !types.contains(&JType::Array) {
            let inner = std::mem::replace(&mut a[0], J::Null);
            *v = inner;
            // AJV's union-type path (nullable fields, datetime) never keeps the unwrapped
            // element as it is: it only tries each type's coercion in order (["x"] fails for
            // string-or-null, ["5"] becomes 5 for string-or-number). Segment's behaviour.
            if types.len() > 1 {
                if let Some(c) = types.iter().find_map(|t| coerce_to(v, *t)) {
                    *v = c;
                    return Ok(());
                }
                let names = types.iter().map(|t| t.name()).collect::<Vec<_>>().join(",");
                return Err(schema_error(path, format!("The value at {path} must be a {names}.")));
            }
            if types.iter().any(|t| t.accepts(v)) {
                return Ok(());
            }
        }
    }
    for t in types {
        if let Some(c) = coerce_to(v, *t) {
            *v = c;
            return Ok(());
        }
    }
    let names = types.iter().map(|t| t.name()).collect::<Vec<_>>().join(",");
    let article = if matches!(types[0], JType::Array | JType::Object | JType::Integer) { "an" } else { "a" };
    Err(schema_error(path, format!("The value at {path} must be {article} {names}.")))
}

fn coerce_to<'a>(v: &J<'a>, t: JType) -> Option<J<'a>> {
    match t {
        JType::String => match v {
            J::Num(n) => Some(J::str(number_to_string(*n))),
            J::Bool(b) => Some(J::str(b.to_string())),
            J::Null => Some(J::str("")),
            _ => None,
        },
        JType::Number | JType::Integer => {
            let n = match v {
                J::Bool(b) => f64::from(u8::from(*b)),
                J::Null => 0.0,
                J::Str(s) if !s.is_empty() => js_string_to_number(s)?,
                _ => return None,
            };
            if t == JType::Integer && n.fract() != 0.0 {
                return None;
            }
            // Non-finite numbers are not JSON: what the JSON round trip made of them.
            Some(if n.is_finite() { J::Num(n) } else { J::Null })
        }
        JType::Boolean => match v {
            J::Str(s) if s == "true" => Some(J::Bool(true)),
            J::Str(s) if s == "false" => Some(J::Bool(false)),
            J::Num(n) if *n == 1.0 => Some(J::Bool(true)),
            J::Num(n) if *n == 0.0 => Some(J::Bool(false)),
            J::Null => Some(J::Bool(false)),
            _ => None,
        },
        JType::Null => match v {
            J::Str(s) if s.is_empty() => Some(J::Null),
            J::Bool(false) => Some(J::Null),
            J::Num(n) if *n == 0.0 => Some(J::Null),
            _ => None,
        },
        JType::Array => match v {
            J::Str(_) | J::Num(_) | J::Bool(_) | J::Null => Some(J::Arr(vec![v.clone()])),
            _ => None,
        },
        JType::Object => None,
    }
}

/// A JSON number for `n`, integral values as integers so they print like JS does.
pub fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// JS `Number(s)` for strings (AJV's numeric coercion); `None` for NaN.
pub fn js_string_to_number(s: &str) -> Option<f64> {
    Some(crate::js::string_to_number(s)).filter(|n| !n.is_nan())
}

fn schema_error(path: &str, message: String) -> EventError {
    EventError::new(ErrorCode::PayloadValidation, message).with_field(path.trim_start_matches('/').replace('/', "."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_unique_in_every_list() {
        fn check(fields: &'static [Field], at: &str) {
            for (i, f) in fields.iter().enumerate() {
                assert!(fields[..i].iter().all(|g| g.name != f.name), "{at}: field {} twice", f.name);
                check(f.properties, &format!("{at}.{}", f.name));
            }
        }
        for d in crate::destinations::ALL {
            for a in d.actions {
                check(a.fields, &format!("{}/{}", d.slug, a.id));
            }
        }
    }

    use serde_json::json;

    static INNER: [Field; 2] = [Field::new("s", Ty::String), Field::new("ids", Ty::String).multiple()];
    static FIELDS: [Field; 6] = [
        Field::new("s", Ty::String),
        Field::new("n", Ty::Number),
        Field::new("i", Ty::Integer),
        Field::new("b", Ty::Boolean),
        Field::new("o", Ty::Object).props(&INNER),
        Field::new("c", Ty::String).choices(&["website", "app"]),
    ];

    fn run(v: Value) -> Result<Value, EventError> {
        let J::Obj(mut m) = J::from_value(&v) else { panic!("an object") };
        remove_empty_values(&mut m, &FIELDS);
        validate_and_coerce(&mut m, &FIELDS)?;
        Ok(J::Obj(m).to_value())
    }

    #[test]
    fn coercions_follow_ajv() {
        let out = run(json!({"s": 12.5, "n": " 42 ", "i": "7", "b": "true", "o": {"s": true, "ids": 5, "x": 1}, "extra": 1})).unwrap();
        assert_eq!(out, json!({"s": "12.5", "n": 42, "i": 7, "b": true, "o": {"s": "true", "ids": ["5"]}}));
        assert_eq!(run(json!({"s": ["one"]})).unwrap(), json!({"s": "one"}));
        assert_eq!(run(json!({"n": "0x10"})).unwrap(), json!({"n": 16}));
    }

    /// The first problem reported is a missing required field, then the first bad value in
    /// key order (nested ones at their place); top-level `multiple` fields are wrapped first.
    #[test]
    fn first_problem_in_order_and_top_level_wrapping() {
        static R: [Field; 4] = [
            Field::new("n", Ty::Number),
            Field::new("r", Ty::String).required(),
            Field::new("m", Ty::String).multiple(),
            Field::new("o", Ty::Object).props(&INNER),
        ];
        let run_r = |v: Value| -> Result<Value, EventError> {
            let J::Obj(mut m) = J::from_value(&v) else { panic!("an object") };
            validate_and_coerce(&mut m, &R)?;
            Ok(J::Obj(m).to_value())
        };
        let msg = |v: Value| run_r(v).unwrap_err().message;
        assert!(msg(json!({"n": "bad", "m": "x"})).contains("required field 'r'"));
        assert!(msg(json!({"o": {"s": {}}, "n": "bad", "r": "x"})).contains("/o/s"));
        assert!(msg(json!({"n": "bad", "o": {"s": {}}, "r": "x"})).contains("/n"));
        assert!(msg(json!({"r": "x", "m": [{}], "n": "bad"})).contains("/m/0"));
        assert_eq!(run_r(json!({"x": 1, "m": "a", "r": "y", "o": {"ids": "i", "z": 2}})).unwrap(), json!({"m": ["a"], "r": "y", "o": {"ids": ["i"]}}));
        assert_eq!(run_r(json!({"r": "y", "m": null})).unwrap(), json!({"r": "y", "m": [""]}));
    }

    #[test]
    fn one_element_arrays_in_union_types_follow_ajv() {
        static U: [Field; 3] = [Field::new("s", Ty::String).nullable(), Field::new("n", Ty::Number).nullable(), Field::new("d", Ty::Datetime)];
        let run_u = |v: Value| -> Result<Value, EventError> {
            let J::Obj(mut m) = J::from_value(&v) else { panic!("an object") };
            validate_and_coerce(&mut m, &U)?;
            Ok(J::Obj(m).to_value())
        };
        // Values AJV checked by hand (ajv 8, coerceTypes "array", union types).
        assert!(run_u(json!({"s": ["x"]})).is_err());
        assert_eq!(run_u(json!({"s": [5]})).unwrap(), json!({"s": "5"}));
        assert_eq!(run_u(json!({"s": [""]})).unwrap(), json!({"s": null}));
        assert!(run_u(json!({"n": [1.5]})).is_err());
        assert_eq!(run_u(json!({"n": [0]})).unwrap(), json!({"n": null}));
        assert_eq!(run_u(json!({"d": ["1.5"]})).unwrap(), json!({"d": 1.5}));
        assert_eq!(run_u(json!({"s": "x", "n": null})).unwrap(), json!({"s": "x", "n": null}));
    }

    #[test]
    fn string_formats_follow_ajv_formats() {
        // ajv-formats 2 "full" rules, checked by hand against it.
        for ok in ["jane@example.com", "a.b+c@sub.example.co", "X@Y.Z1"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["bad-email", "a@b", "a..b@c.d", ".a@b.c", "a@-b.c", "a b@c.d", ""] {
            assert!(!is_email(bad), "{bad}");
        }
        for ok in ["2024-03-05T12:34:56.789Z", "2024-03-05 12:34:56", "2024-02-29t00:00:00+01:00", "2023-12-31T23:59:60Z"] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in ["2023-02-29T00:00:00Z", "2024-03-05", "2024-03-05T24:00:00Z", "2024-3-5T00:00:00Z", "2024-03-05T12:34:56.Z", "x"] {
            assert!(!is_date_time(bad), "{bad}");
        }
        for ok in ["https://img.example/a.png?x=1#y", "mailto:a@b.c", "urn:isbn:123"] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in ["img.example/a.png", "https://a b", "https://a/%zz", "1http://x", ""] {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn empties_are_removed() {
        assert_eq!(run(json!({"s": "", "n": "", "o": {"s": "", "ids": [null, "a"]}, "b": null})).unwrap(), json!({"o": {"s": "", "ids": ["a"]}}));
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = run(json!({"o": "str"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("o"));
        let e = run(json!({"i": "1.5"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("i"));
        let e = run(json!({"o": {"s": {"a": 1}}})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("o.s"));
        let e = run(json!({"c": "OFFLINE"})).unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadValidation);
        assert!(e.message.contains("website"));
        assert!(run(json!({"n": "abc"})).is_err());
    }

    /// The one-pass `clean_and_validate` against the two passes it replaces, on payloads of
    /// declared and undeclared keys, every type, nested objects and arrays, required fields
    /// at both levels: the same error, or the same payload.
    mod one_pass {
        use super::*;
        use proptest::prelude::*;

        static NESTED: [Field; 5] = [
            Field::new("s", Ty::String).required(),
            Field::new("n", Ty::Number).nullable(),
            Field::new("ids", Ty::String).multiple(),
            Field::new("c", Ty::String).choices(&["a", "b"]),
            Field::new("o", Ty::Object).props(&INNER),
        ];
        static TOP: [Field; 10] = [
            Field::new("s", Ty::String),
            Field::new("i", Ty::Integer),
            Field::new("b", Ty::Boolean).nullable(),
            Field::new("d", Ty::Datetime),
            Field::new("m", Ty::String).multiple(),
            Field::new("r", Ty::String).required(),
            Field::new("o", Ty::Object).props(&NESTED),
            Field::new("p", Ty::Object).multiple().props(&INNER),
            Field::new("q", Ty::Object).props(&INNER).open().nullable(),
            Field::new("e", Ty::String).format(Format::Email),
        ];
        const KEYS: [&str; 12] = ["s", "i", "b", "d", "m", "r", "o", "p", "q", "e", "ids", "x"];

        fn value() -> impl Strategy<Value = J<'static>> {
            let leaf = prop_oneof![
                Just(J::Null),
                any::<bool>().prop_map(J::Bool),
                prop_oneof![Just(0.0), Just(1.0), Just(1.5), Just(-3.0)].prop_map(J::Num),
                prop_oneof![Just(""), Just("a"), Just("7"), Just("true"), Just("x@y.z"), Just("2024-03-05T12:34:56Z"), Just(" ")].prop_map(J::str),
            ];
            leaf.prop_recursive(3, 24, 5, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..3).prop_map(J::Arr),
                    proptest::collection::vec((0..KEYS.len(), inner), 0..6).prop_map(|kv| {
                        let mut o = Obj::default();
                        for (k, v) in kv {
                            o.set(KEYS[k].into(), v);
                        }
                        J::Obj(o)
                    }),
                ]
            })
        }

        /// The shortcut in `check_object` (`accepts_as_is`) only skips `check_value` where it
        /// would accept the value unchanged: for every field of every destination.
        #[test]
        fn accepted_as_is_is_what_check_value_accepts_unchanged() {
            fn each(fields: &'static [Field], f: &mut dyn FnMut(&Field)) {
                for x in fields {
                    f(x);
                    each(x.properties, f);
                }
            }
            let values = [J::Null, J::Bool(true), J::Num(1.0), J::Num(1.5), J::str(""), J::str("a"), J::str("7"), J::Arr(vec![J::str("a")]), J::Obj(Obj::default())];
            let mut shortcuts = 0;
            let mut all: Vec<&'static [Field]> = crate::destinations::ALL.iter().flat_map(|d| d.actions.iter().map(|a| a.fields)).collect();
            all.extend([&TOP[..], &NESTED[..]]);
            for fields in all {
                each(fields, &mut |f| {
                    for v in &values {
                        if f.accepts_as_is(v) {
                            shortcuts += 1;
                            let mut checked = v.clone();
                            assert_eq!(check_value(&mut checked, f, false, &mut String::new()), Ok(()), "{} {v:?}", f.name);
                            assert_eq!(&checked, v, "{}", f.name);
                        }
                    }
                });
            }
            assert!(shortcuts > 100);
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            #[test]
            fn same_as_removal_then_validation(
                r in proptest::option::weighted(0.9, value()),
                o in proptest::option::weighted(0.7, (any::<bool>(), proptest::collection::vec((0..KEYS.len(), value()), 0..6))),
                kv in proptest::collection::vec((0..KEYS.len(), value()), 0..8),
            ) {
                let mut two = Obj::default();
                // Mostly with the required fields, so most cases get past that check.
                two.set("r".into(), match r { Some(J::Arr(_) | J::Obj(_)) | None => J::str("a"), Some(v) => v });
                if let Some((with_s, kv)) = o {
                    let mut inner = Obj::default();
                    if with_s {
                        inner.set("s".into(), J::str("b"));
                    }
                    for (k, v) in kv {
                        inner.set(KEYS[k].into(), v);
                    }
                    two.set("o".into(), J::Obj(inner));
                }
                for (k, v) in kv {
                    if KEYS[k] != "r" {
                        two.set(KEYS[k].into(), v);
                    }
                }
                let mut one = two.clone();
                remove_empty_values(&mut two, &TOP);
                let expected = validate_and_coerce(&mut two, &TOP).map(|()| two);
                let got = clean_and_validate(&mut one, &TOP).map(|()| one);
                prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn js_number_parsing() {
        assert_eq!(js_string_to_number("1e3"), Some(1000.0));
        assert_eq!(js_string_to_number(".5"), Some(0.5));
        assert_eq!(js_string_to_number("5."), Some(5.0));
        assert_eq!(js_string_to_number("."), None);
        assert_eq!(js_string_to_number("1,5"), None);
        assert_eq!(js_string_to_number("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(js_string_to_number("\u{FEFF}3"), Some(3.0));
    }
}
