//! Static mapping checks, mirroring what actions-core's validator accepts and rejects.
//! Note the reference does not look inside plain arrays, nor inside `@literal` /
//! `@excludeWhenNull` object arguments; those are only checked when evaluated.
use super::value::{JsVal, Obj};
use super::MappingError;
use crate::js::utf16_len;

type VResult = Result<(), MappingError>;

/// Longest `@replace` pattern / replacement, in UTF-16 units.
pub const MAX_PATTERN_LENGTH: usize = 10;
pub const MAX_REPLACEMENT_LENGTH: usize = 10;
const MAX_VALIDATE_DEPTH: usize = 128;

fn fail(stack: &[String], msg: impl std::fmt::Display) -> MappingError {
    MappingError { path: format!("/{}", stack.join("/")), message: msg.to_string() }
}

fn article(t: &str) -> &'static str {
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// Kind of a mapping node: "directive" for any object with an @-key, otherwise its JS type.
fn kind(v: &JsVal) -> &'static str {
    match v {
        JsVal::Obj(o) if o.keys().any(|k| k.starts_with('@')) => "directive",
        other => other.real_type(),
    }
}

fn with(stack: &[String], key: &str) -> Vec<String> {
    let mut s = stack.to_vec();
    s.push(key.to_string());
    s
}

/// A build without the `liquid` cargo feature refuses `@liquid` at validation (configuration).
#[cfg(not(feature = "liquid"))]
pub const NO_LIQUID: &str = "@liquid is not in this build: the wasm was built without the cargo feature \"liquid\" (add it to FEATURES, or build the default features)";

pub fn validate(m: &JsVal, stack: &[String]) -> VResult {
    if stack.len() > MAX_VALIDATE_DEPTH {
        return Err(fail(stack, "mapping is nested too deeply"));
    }
    match kind(m) {
        "directive" => directive(m, stack),
        "object" => object(m, stack),
        _ => Ok(()),
    }
}

fn directive(v: &JsVal, stack: &[String]) -> VResult {
    let Some(o) = v.as_obj() else {
        let t = v.real_type();
        return Err(fail(stack, format!("expected a directive object, found {} {t}", article(t))));
    };
    let at_keys: Vec<&String> = o.keys().filter(|k| k.starts_with('@')).collect();
    if at_keys.len() > 1 {
        return Err(fail(stack, format!("only one @-key is allowed, found {}", at_keys.len())));
    }
    if o.keys().any(|k| !k.starts_with('@') && k != "_metadata") {
        return Err(fail(stack, format!("a directive may not have other keys (it has {})", o.len())));
    }
    let Some(name) = at_keys.first() else {
        return Err(fail(stack, "missing directive key"));
    };
    let arg = o.get(name).unwrap_or(&JsVal::Undef);
    let st = with(stack, name);
    match name.as_str() {
        "@if" => fields(arg, &st, &[("exists", Opt(Check::Raw)), ("then", Opt(Check::Raw)), ("else", Opt(Check::Raw))]),
        "@case" => fields(arg, &st, &[("operator", Opt(Check::Str)), ("value", Opt(Check::DirectiveOrString))]),
        "@replace" => fields(arg, &st, &[
            ("pattern", Req(Check::Pattern)),
            ("replacement", Opt(Check::Replacement)),
            ("value", Req(Check::DirectiveOrString)),
            ("ignorecase", Opt(Check::Bool)),
            ("global", Opt(Check::Bool)),
        ]),
        "@arrayPath" => {
            let JsVal::Arr(a) = arg else {
                return Err(not_a(&st, "an array", arg));
            };
            directive_or_string(a.first().unwrap_or(&JsVal::Undef), &st)?;
            validate(a.get(1).unwrap_or(&JsVal::Undef), &st)
        }
        "@path" | "@template" => directive_or_string(arg, &st),
        "@json" => fields(arg, &st, &[("value", Req(Check::Raw)), ("mode", Req(Check::JsonMode))]),
        "@flatten" => fields(arg, &st, &[("separator", Opt(Check::Str)), ("value", Req(Check::Raw))]),
        "@merge" => {
            fields(arg, &st, &[("direction", Opt(Check::MergeDirection)), ("objects", Req(Check::Array))])?;
            if let Some(JsVal::Arr(objs)) = arg.as_obj().and_then(|o| o.get("objects")) {
                // The reference checks these elements with an empty location.
                for x in objs {
                    directive_or_object(x, &[])?;
                }
            }
            Ok(())
        }
        "@literal" | "@excludeWhenNull" => raw(arg, &st),
        "@transform" => fields(arg, &st, &[("apply", Req(Check::DirectiveOrObject)), ("mapping", Req(Check::DirectiveOrObject))]),
        #[cfg(feature = "liquid")]
        "@liquid" => string(arg, &st),
        #[cfg(not(feature = "liquid"))]
        "@liquid" => Err(fail(stack, NO_LIQUID)),
        other => Err(fail(stack, format!("unknown directive {other}"))),
    }
}

fn not_a(stack: &[String], what: &str, v: &JsVal) -> MappingError {
    let t = kind(v);
    fail(stack, format!("expected {what}, found {} {t}", article(t)))
}

fn raw(v: &JsVal, stack: &[String]) -> VResult {
    match kind(v) {
        "directive" => directive(v, stack),
        "undefined" => Err(not_a(stack, "a directive or JSON value", v)),
        _ => Ok(()),
    }
}

fn directive_or_string(v: &JsVal, stack: &[String]) -> VResult {
    match kind(v) {
        "directive" => directive(v, stack),
        "string" => Ok(()),
        _ => Err(not_a(stack, "a string or a directive", v)),
    }
}

fn directive_or_object(v: &JsVal, stack: &[String]) -> VResult {
    match kind(v) {
        "directive" => directive(v, stack),
        "object" => object(v, stack),
        _ => Err(not_a(stack, "an object or a directive", v)),
    }
}

fn string(v: &JsVal, stack: &[String]) -> VResult {
    if kind(v) == "string" { Ok(()) } else { Err(not_a(stack, "a string", v)) }
}

fn boolean(v: &JsVal, stack: &[String]) -> VResult {
    if kind(v) == "boolean" { Ok(()) } else { Err(not_a(stack, "a boolean", v)) }
}

fn array(v: &JsVal, stack: &[String]) -> VResult {
    if matches!(v, JsVal::Arr(_)) { Ok(()) } else { Err(not_a(stack, "an array", v)) }
}

fn length_between(v: &JsVal, stack: &[String], min: usize, max: usize) -> VResult {
    let n = v.as_str().map_or(0, utf16_len);
    if n < min {
        return Err(fail(stack, format!("must be at least {min} characters long")));
    }
    if n > max {
        return Err(fail(stack, format!("must be at most {max} characters long")));
    }
    Ok(())
}

fn pattern(v: &JsVal, stack: &[String]) -> VResult {
    string(v, stack)?;
    length_between(v, stack, 1, MAX_PATTERN_LENGTH)
}

fn replacement(v: &JsVal, stack: &[String]) -> VResult {
    string(v, stack)?;
    length_between(v, stack, 0, MAX_REPLACEMENT_LENGTH)
}

fn one_of(v: &JsVal, stack: &[String], allowed: &[&str]) -> VResult {
    string(v, stack)?;
    let s = crate::js::to_lower(v.as_str().unwrap_or_default());
    if allowed.contains(&s.as_str()) {
        Ok(())
    } else {
        Err(fail(stack, format!("must be one of {} (case-insensitive)", allowed.join(", "))))
    }
}

fn json_mode(v: &JsVal, stack: &[String]) -> VResult {
    one_of(v, stack, &["encode", "decode"])
}

fn merge_direction(v: &JsVal, stack: &[String]) -> VResult {
    one_of(v, stack, &["left", "right"])
}

/// A plain object whose values are themselves valid mappings.
fn object(v: &JsVal, stack: &[String]) -> VResult {
    let o: &Obj = match v {
        JsVal::Obj(o) if kind(v) == "object" => o,
        _ => return Err(not_a(stack, "an object", v)),
    };
    for (k, x) in o.iter() {
        validate(x, &with(stack, k))?;
    }
    Ok(())
}

/// What a directive option must be. An enum rather than function pointers so `fields` can
/// tell which checks descend into the value.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    Raw,
    DirectiveOrString,
    DirectiveOrObject,
    Str,
    Bool,
    Array,
    Pattern,
    Replacement,
    JsonMode,
    MergeDirection,
}

impl Check {
    fn run(self, v: &JsVal, stack: &[String]) -> VResult {
        match self {
            Check::Raw => raw(v, stack),
            Check::DirectiveOrString => directive_or_string(v, stack),
            Check::DirectiveOrObject => directive_or_object(v, stack),
            Check::Str => string(v, stack),
            Check::Bool => boolean(v, stack),
            Check::Array => array(v, stack),
            Check::Pattern => pattern(v, stack),
            Check::Replacement => replacement(v, stack),
            Check::JsonMode => json_mode(v, stack),
            Check::MergeDirection => merge_direction(v, stack),
        }
    }

    /// True when this check on `x` would only repeat what `object` already did: validate a
    /// directive or a plain object in full. Repeating it doubled the work per nesting level
    /// (20 nested `@if` took minutes).
    fn already_done(self, x: &JsVal) -> bool {
        match kind(x) {
            "directive" => matches!(self, Check::Raw | Check::DirectiveOrString | Check::DirectiveOrObject),
            "object" => matches!(self, Check::Raw | Check::DirectiveOrObject),
            _ => false,
        }
    }
}

enum Field {
    Req(Check),
    Opt(Check),
}
use Field::{Opt, Req};

fn fields(v: &JsVal, stack: &[String], spec: &[(&str, Field)]) -> VResult {
    // Validates every value as a mapping first (the reference's order of errors).
    object(v, stack)?;
    let Some(o) = v.as_obj() else {
        return Err(not_a(stack, "an object", v));
    };
    for (name, f) in spec {
        match (o.get(name), f) {
            (None, Req(_)) => return Err(fail(stack, format!("missing required field \"{name}\""))),
            (Some(x), Req(check) | Opt(check)) if check.already_done(x) => {}
            (Some(x), Req(check) | Opt(check)) => check.run(x, &with(stack, name))?,
            (None, Opt(_)) => {}
        }
    }
    Ok(())
}
