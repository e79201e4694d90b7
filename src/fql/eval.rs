//! Evaluation with the reference's JS semantics: strict `===` against `String(value)`,
//! `typeof` guards on every operator, and a property walk `a && a[key]` that
//! keeps falsy values (so with `properties.a = 0`, `properties.a.b` is 0) and sees
//! array/string `length`, indices and built-in prototype members.

use std::borrow::Cow;

use crate::json::{Obj, J};

use super::parser::{Cond, Field, Lit, Node, Op, Path};

/// The reference threw a TypeError; the caller treats that as "no match".
#[derive(Debug)]
pub(crate) struct Thrown;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Object,
    Array,
    String,
    Number,
    Boolean,
    Function,
}

// Built-in prototype methods as (property, function name, arity), generated from
// Node 20/22 (identical there). They make e.g. `properties.obj.constructor` exist
// and `properties.s.trimLeft.name` equal "trimStart".
const OBJECT_PROTO: &[(&str, &str, u8)] = &[
    ("__defineGetter__", "__defineGetter__", 2),
    ("__defineSetter__", "__defineSetter__", 2),
    ("__lookupGetter__", "__lookupGetter__", 1),
    ("__lookupSetter__", "__lookupSetter__", 1),
    ("constructor", "Object", 1),
    ("hasOwnProperty", "hasOwnProperty", 1),
    ("isPrototypeOf", "isPrototypeOf", 1),
    ("propertyIsEnumerable", "propertyIsEnumerable", 1),
    ("toLocaleString", "toLocaleString", 0),
    ("toString", "toString", 0),
    ("valueOf", "valueOf", 0),
];
const ARRAY_PROTO: &[(&str, &str, u8)] = &[
    ("at", "at", 1),
    ("concat", "concat", 1),
    ("constructor", "Array", 1),
    ("copyWithin", "copyWithin", 2),
    ("entries", "entries", 0),
    ("every", "every", 1),
    ("fill", "fill", 1),
    ("filter", "filter", 1),
    ("find", "find", 1),
    ("findIndex", "findIndex", 1),
    ("findLast", "findLast", 1),
    ("findLastIndex", "findLastIndex", 1),
    ("flat", "flat", 0),
    ("flatMap", "flatMap", 1),
    ("forEach", "forEach", 1),
    ("includes", "includes", 1),
    ("indexOf", "indexOf", 1),
    ("join", "join", 1),
    ("keys", "keys", 0),
    ("lastIndexOf", "lastIndexOf", 1),
    ("map", "map", 1),
    ("pop", "pop", 0),
    ("push", "push", 1),
    ("reduce", "reduce", 1),
    ("reduceRight", "reduceRight", 1),
    ("reverse", "reverse", 0),
    ("shift", "shift", 0),
    ("slice", "slice", 2),
    ("some", "some", 1),
    ("sort", "sort", 1),
    ("splice", "splice", 2),
    ("toLocaleString", "toLocaleString", 0),
    ("toReversed", "toReversed", 0),
    ("toSorted", "toSorted", 1),
    ("toSpliced", "toSpliced", 2),
    ("toString", "toString", 0),
    ("unshift", "unshift", 1),
    ("values", "values", 0),
    ("with", "with", 2),
];
const STRING_PROTO: &[(&str, &str, u8)] = &[
    ("anchor", "anchor", 1),
    ("at", "at", 1),
    ("big", "big", 0),
    ("blink", "blink", 0),
    ("bold", "bold", 0),
    ("charAt", "charAt", 1),
    ("charCodeAt", "charCodeAt", 1),
    ("codePointAt", "codePointAt", 1),
    ("concat", "concat", 1),
    ("constructor", "String", 1),
    ("endsWith", "endsWith", 1),
    ("fixed", "fixed", 0),
    ("fontcolor", "fontcolor", 1),
    ("fontsize", "fontsize", 1),
    ("includes", "includes", 1),
    ("indexOf", "indexOf", 1),
    ("isWellFormed", "isWellFormed", 0),
    ("italics", "italics", 0),
    ("lastIndexOf", "lastIndexOf", 1),
    ("link", "link", 1),
    ("localeCompare", "localeCompare", 1),
    ("match", "match", 1),
    ("matchAll", "matchAll", 1),
    ("normalize", "normalize", 0),
    ("padEnd", "padEnd", 1),
    ("padStart", "padStart", 1),
    ("repeat", "repeat", 1),
    ("replace", "replace", 2),
    ("replaceAll", "replaceAll", 2),
    ("search", "search", 1),
    ("slice", "slice", 2),
    ("small", "small", 0),
    ("split", "split", 2),
    ("startsWith", "startsWith", 1),
    ("strike", "strike", 0),
    ("sub", "sub", 0),
    ("substr", "substr", 2),
    ("substring", "substring", 2),
    ("sup", "sup", 0),
    ("toLocaleLowerCase", "toLocaleLowerCase", 0),
    ("toLocaleUpperCase", "toLocaleUpperCase", 0),
    ("toLowerCase", "toLowerCase", 0),
    ("toString", "toString", 0),
    ("toUpperCase", "toUpperCase", 0),
    ("toWellFormed", "toWellFormed", 0),
    ("trim", "trim", 0),
    ("trimEnd", "trimEnd", 0),
    ("trimLeft", "trimStart", 0),
    ("trimRight", "trimEnd", 0),
    ("trimStart", "trimStart", 0),
    ("valueOf", "valueOf", 0),
];
const NUMBER_PROTO: &[(&str, &str, u8)] = &[
    ("constructor", "Number", 1),
    ("toExponential", "toExponential", 1),
    ("toFixed", "toFixed", 1),
    ("toLocaleString", "toLocaleString", 0),
    ("toPrecision", "toPrecision", 1),
    ("toString", "toString", 1),
    ("valueOf", "valueOf", 0),
];
const BOOLEAN_PROTO: &[(&str, &str, u8)] = &[
    ("constructor", "Boolean", 1),
    ("toString", "toString", 0),
    ("valueOf", "valueOf", 0),
];
const FUNCTION_PROTO: &[(&str, &str, u8)] = &[
    ("apply", "apply", 2),
    ("bind", "bind", 1),
    ("call", "call", 1),
    ("constructor", "Function", 1),
    ("toString", "toString", 0),
];

/// A JS value reachable from a JSON event.
#[derive(Clone, Debug)]
enum Js<'a> {
    Undefined,
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    /// `"…"[i]`: one UTF-16 code unit, possibly half of a surrogate pair.
    Unit(u16),
    Obj(&'a Obj<'a>),
    Arr(&'a [J<'a>]),
    /// A built-in function; `ctor` is set for the prototype's `constructor`.
    Func {
        name: &'static str,
        length: u8,
        ctor: Option<Proto>,
    },
    /// A built-in prototype object, reached through `__proto__`.
    ProtoObj(Proto),
}

impl<'a> Js<'a> {
    fn from(v: Option<&'a J<'a>>) -> Js<'a> {
        match v {
            None => Js::Undefined,
            Some(J::Null) => Js::Null,
            Some(J::Bool(b)) => Js::Bool(*b),
            Some(J::Num(n)) => Js::Num(*n),
            Some(J::Str(s)) => Js::Str(Cow::Borrowed(s)),
            Some(J::Arr(a)) => Js::Arr(a),
            Some(J::Obj(o)) => Js::Obj(o),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Js::Undefined | Js::Null => false,
            Js::Bool(b) => *b,
            Js::Num(n) => *n != 0.0 && !n.is_nan(),
            Js::Str(s) => !s.is_empty(),
            _ => true,
        }
    }

    /// `this[key]` for a truthy value.
    fn get(&self, key: &str) -> Result<Js<'a>, Thrown> {
        Ok(match self {
            Js::Obj(m) => match m.get(key) {
                Some(v) => Js::from(Some(v)),
                None => inherited(Proto::Object, key),
            },
            Js::Arr(a) => {
                if key == "length" {
                    Js::Num(a.len() as f64)
                } else if let Some(i) = array_index(key) {
                    Js::from(a.get(i))
                } else {
                    inherited(Proto::Array, key)
                }
            }
            Js::Str(s) => {
                if key == "length" {
                    Js::Num(s.encode_utf16().count() as f64)
                } else if let Some(i) = array_index(key) {
                    s.encode_utf16().nth(i).map_or(Js::Undefined, unit_string)
                } else {
                    inherited(Proto::String, key)
                }
            }
            Js::Unit(u) => {
                if key == "length" {
                    Js::Num(1.0)
                } else if key == "0" {
                    Js::Unit(*u)
                } else if array_index(key).is_some() {
                    Js::Undefined
                } else {
                    inherited(Proto::String, key)
                }
            }
            Js::Num(_) => inherited(Proto::Number, key),
            Js::Bool(_) => inherited(Proto::Boolean, key),
            Js::Func { name, length, ctor } => match key {
                // Poisoned accessors on strict/built-in functions.
                "arguments" | "caller" => return Err(Thrown),
                "name" => Js::Str(Cow::Borrowed(name)),
                "length" => Js::Num(f64::from(*length)),
                "prototype" if ctor.is_some() => Js::ProtoObj(ctor.unwrap_or(Proto::Object)),
                // Constructors' static members (Object.keys, ...) are not modelled.
                _ => inherited(Proto::Function, key),
            },
            Js::ProtoObj(p) => match (p, key) {
                (Proto::Object, "__proto__") => Js::Null,
                (Proto::Array | Proto::String, "length") => Js::Num(0.0),
                // Function.prototype is itself a function.
                (Proto::Function, "length") => Js::Num(0.0),
                (Proto::Function, "name") => Js::Str(Cow::Borrowed("")),
                (_, "__proto__") => Js::ProtoObj(Proto::Object),
                _ => inherited(*p, key),
            },
            // Falsy values never get here (the walk stops on them).
            Js::Undefined | Js::Null => Js::Undefined,
        })
    }
}

fn unit_string(u: u16) -> Js<'static> {
    match char::from_u32(u32::from(u)) {
        Some(c) => Js::Str(Cow::Owned(c.to_string())),
        None => Js::Unit(u),
    }
}

/// A lookup that missed own properties and falls through to `proto`.
fn inherited(proto: Proto, key: &str) -> Js<'static> {
    if key == "__proto__" {
        return Js::ProtoObj(proto);
    }
    let own: &[(&'static str, &'static str, u8)] = match proto {
        Proto::Object => OBJECT_PROTO,
        Proto::Array => ARRAY_PROTO,
        Proto::String => STRING_PROTO,
        Proto::Number => NUMBER_PROTO,
        Proto::Boolean => BOOLEAN_PROTO,
        Proto::Function => FUNCTION_PROTO,
    };
    // Every chain ends in Object.prototype; earlier entries shadow it.
    match own.iter().chain(OBJECT_PROTO).find(|(k, _, _)| *k == key) {
        Some((k, name, length)) => Js::Func {
            name,
            length: *length,
            ctor: (*k == "constructor").then_some(proto),
        },
        None => Js::Undefined,
    }
}

fn top<'a>(event: &'a J<'a>, key: &str) -> Js<'a> {
    match event {
        J::Obj(m) => Js::from(m.get(key)),
        // Strings, numbers, booleans and arrays have no such members.
        _ => Js::Undefined,
    }
}

fn walk<'a>(start: Js<'a>, path: &Path) -> Result<Js<'a>, Thrown> {
    match path {
        Path::Empty => Ok(Js::Undefined),
        Path::Throws => Err(Thrown),
        Path::Keys(keys) => {
            let mut v = start;
            for k in keys {
                if v.truthy() {
                    v = v.get(k)?;
                }
            }
            Ok(v)
        }
    }
}

fn contains(hay: &[u16], needle: &[u16]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[derive(Clone, Copy)]
enum StrTest {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

impl StrTest {
    fn units(self, a: &[u16], e: &[u16]) -> bool {
        match self {
            StrTest::Equals => a == e,
            StrTest::Contains => contains(a, e),
            StrTest::StartsWith => a.starts_with(e),
            StrTest::EndsWith => a.ends_with(e),
        }
    }
}

/// The JS string test on UTF-16 code units, or `None` if `actual` is not a string.
fn str_test(actual: &Js, test: StrTest, lit: &Lit) -> Option<bool> {
    match (actual, &lit.text) {
        // Both well-formed: byte tests give the code-unit answer without converting.
        (Js::Str(a), Some(e)) => Some(match test {
            StrTest::Equals => a == e,
            StrTest::Contains => a.contains(e.as_str()),
            StrTest::StartsWith => a.starts_with(e.as_str()),
            StrTest::EndsWith => a.ends_with(e.as_str()),
        }),
        // A literal holding half a surrogate pair (from `match()`), which can still match
        // inside a well-formed string: compare code units.
        (Js::Str(a), None) => Some(test.units(&a.encode_utf16().collect::<Vec<_>>(), &lit.units)),
        (Js::Unit(u), _) => Some(test.units(std::slice::from_ref(u), &lit.units)),
        _ => None,
    }
}

fn compare(actual: &Js, op: Op, expected: &Lit) -> bool {
    let num = match actual {
        Js::Num(n) => Some(*n),
        _ => None,
    };
    let string = |test| str_test(actual, test, expected);
    match op {
        Op::Eq => string(StrTest::Equals) == Some(true),
        Op::Ne => string(StrTest::Equals) != Some(true),
        Op::NumberEq => num.is_some_and(|a| a == expected.number),
        Op::NumberNe => num.is_some_and(|a| a != expected.number),
        Op::Lt => num.is_some_and(|a| a < expected.number),
        Op::Le => num.is_some_and(|a| a <= expected.number),
        Op::Gt => num.is_some_and(|a| a > expected.number),
        Op::Ge => num.is_some_and(|a| a >= expected.number),
        Op::Contains => string(StrTest::Contains) == Some(true),
        Op::NotContains => string(StrTest::Contains) == Some(false),
        Op::StartsWith => string(StrTest::StartsWith) == Some(true),
        Op::NotStartsWith => string(StrTest::StartsWith) == Some(false),
        Op::EndsWith => string(StrTest::EndsWith) == Some(true),
        Op::NotEndsWith => string(StrTest::EndsWith) == Some(false),
        Op::Exists => !matches!(actual, Js::Undefined | Js::Null),
        Op::NotExists => matches!(actual, Js::Undefined | Js::Null),
        Op::IsTrue => matches!(actual, Js::Bool(true)),
        Op::IsFalse => matches!(actual, Js::Bool(false)),
        Op::Other => false,
    }
}

fn condition<'a>(c: &Cond, event: &'a J<'a>) -> Result<bool, Thrown> {
    if event.is_null() {
        return Err(Thrown); // `null.type`
    }
    let actual = match &c.field {
        Field::Type => top(event, "type"),
        Field::Event => top(event, "event"),
        Field::Name => top(event, "name"),
        Field::UserId => top(event, "userId"),
        Field::Properties(p) => walk(top(event, "properties"), p)?,
        Field::Traits(p) => walk(top(event, "traits"), p)?,
        Field::Context(p) => walk(top(event, "context"), p)?,
    };
    Ok(compare(&actual, c.op, &c.value))
}

pub(crate) fn node<'a>(n: Option<&Node>, event: &'a J<'a>) -> Result<bool, Thrown> {
    match n {
        None => Err(Thrown), // `undefined.type`
        Some(Node::Cond(c)) => condition(c, event),
        Some(Node::Group { or, children }) => {
            // Short-circuits exactly like every()/some(), which decides whether a
            // later throwing child is reached.
            for child in children {
                if node(child.as_ref(), event)? == *or {
                    return Ok(*or);
                }
            }
            Ok(!*or)
        }
    }
}

/// JS array index ("01", "+1", "1.0" are plain keys), as a position.
fn array_index(key: &str) -> Option<usize> {
    crate::json::array_index(key).map(|n| n as usize)
}
