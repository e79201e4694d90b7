//! JavaScript value semantics that Segment's (JS) reference behaviour depends on:
//! number -> string formatting, truthiness, `String(x)`, loose equality, `trim`.
use serde_json::Value;

/// `String(n)` / `Number.prototype.toString()` for a JS number.
///
/// Delegates to `ryu-js`, which implements ECMAScript's Number::toString exactly, including
/// the tie rule (of two equally short digit strings, the one nearer the value; `-0` is "0").
pub fn number_to_string(n: f64) -> String {
    ryu_js::Buffer::new().format(n).to_string()
}

/// `String(v)` for a JSON value (objects become "[object Object]", arrays join with ",").
pub fn to_js_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(a) => array_join(a),
        Value::Object(_) => "[object Object]".into(),
    }
}

fn array_join(a: &[Value]) -> String {
    // Array.prototype.join renders null/undefined elements as empty strings.
    a.iter()
        .map(|x| if x.is_null() { String::new() } else { to_js_string(x) })
        .collect::<Vec<_>>()
        .join(",")
}

/// JS truthiness (`!!v`).
pub fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `ToNumber(string)` as JS does it (`Number("  12 ")`, `Number("0x1f")`, `Number("")` = 0).
pub fn string_to_number(s: &str) -> f64 {
    let t = js_trim(s);
    if t.is_empty() {
        return 0.0;
    }
    let lower = t.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            if rest.is_empty() || !rest.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            // Accumulate in f64 so huge literals round like JS instead of overflowing.
            return rest.chars().fold(0.0, |acc, c| acc * radix as f64 + c.to_digit(radix).unwrap_or(0) as f64);
        }
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    // Rust accepts "inf", "nan", "infinity" which JS does not.
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if !body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) {
        return f64::NAN;
    }
    if body.starts_with(['e', 'E']) || body == "." {
        return f64::NAN;
    }
    t.parse::<f64>().unwrap_or(f64::NAN)
}

/// `ToNumber(v)` for a JSON value.
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => string_to_number(s),
        Value::Array(_) => string_to_number(&to_js_string(v)),
        Value::Object(_) => f64::NAN,
    }
}

/// Abstract loose equality `a == b` for JSON values (no undefined here; see mapping for that).
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Null, Null) => true,
        (Null, _) | (_, Null) => false,
        (Number(_), Number(_)) => to_number(a) == to_number(b),
        (String(x), String(y)) => x == y,
        (Bool(x), Bool(y)) => x == y,
        (Array(_) | Object(_), Array(_) | Object(_)) => std::ptr::eq(a, b),
        (Bool(_), _) => loose_eq(&Value::from(to_number(a)), b),
        (_, Bool(_)) => loose_eq(a, &Value::from(to_number(b))),
        (Number(_), String(_)) | (String(_), Number(_)) => to_number(a) == to_number(b),
        // Objects compare through their primitive (string) form.
        (Array(_) | Object(_), _) => loose_eq(&Value::String(to_js_string(a)), b),
        (_, Array(_) | Object(_)) => loose_eq(a, &Value::String(to_js_string(b))),
    }
}

/// JS whitespace / line terminators as `String.prototype.trim` and `\s` define them.
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// `String.prototype.trim` (differs from `str::trim`: includes U+FEFF, excludes U+0085).
pub fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

pub fn js_trim_start(s: &str) -> &str {
    s.trim_start_matches(is_js_whitespace)
}

pub fn js_trim_end(s: &str) -> &str {
    s.trim_end_matches(is_js_whitespace)
}

/// `s.length` in JS (UTF-16 code units).
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// JSON.stringify-style string quoting (only `"`, `\` and control characters are escaped).
pub fn quote_json_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of bytes that need no escape are copied whole (all of most strings); every byte
    // that needs one is ASCII, so slicing at it stays on a char boundary.
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            c if c < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{:04x}", c));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn js_number_formatting() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.5e-7, "1.5e-7"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (0.000001234, "0.000001234"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.5e21, "2.5e+21"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (9007199254740993.0, "9007199254740992"),
            (100.0, "100"),
            (12.34, "12.34"),
            // Ties between two shortest digit strings: JS picks the one nearer the value.
            // (30894709474998.5625 exactly; written as a sum to keep clippy's precision lint quiet.)
            (-(30894709474998.0 + 0.5625), "-30894709474998.562"),
            (30894709474998.0 + 0.5625, "30894709474998.562"),
            (5e-7, "5e-7"),
            (123e-20, "1.23e-18"),
            (0.000001, "0.000001"),
            (1.0000000000000002, "1.0000000000000002"),
            (4.35, "4.35"),
            (-1e21, "-1e+21"),
            (999999999999999900000.0, "999999999999999900000"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (-5e-324, "-5e-324"),
        ];
        for (n, s) in cases {
            assert_eq!(number_to_string(*n), *s, "{n:?}");
        }
    }

    #[test]
    fn js_string_conversion() {
        assert_eq!(to_js_string(&json!([1, null, [2, 3], "a"])), "1,,2,3,a");
        assert_eq!(to_js_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(to_js_string(&json!(1e21)), "1e+21");
        assert_eq!(to_js_string(&json!(null)), "null");
    }

    #[test]
    fn js_loose_equality() {
        assert!(loose_eq(&json!(0), &json!("")));
        assert!(loose_eq(&json!(false), &json!("")));
        assert!(loose_eq(&json!([]), &json!("")));
        assert!(loose_eq(&json!([null]), &json!("")));
        assert!(!loose_eq(&json!(null), &json!("")));
        assert!(!loose_eq(&json!({}), &json!("")));
        assert!(loose_eq(&json!("1"), &json!(1)));
        assert!(loose_eq(&json!(true), &json!("1")));
    }

    #[test]
    fn js_to_number() {
        assert_eq!(string_to_number(" 12 "), 12.0);
        assert_eq!(string_to_number("0x1f"), 31.0);
        assert!(string_to_number("inf").is_nan());
        assert!(string_to_number("1_0").is_nan());
        assert_eq!(string_to_number(""), 0.0);
        assert_eq!(string_to_number("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(string_to_number(".5"), 0.5);
        assert_eq!(string_to_number("5."), 5.0);
    }

    #[test]
    fn js_trim_semantics() {
        assert_eq!(js_trim("\u{feff} a \u{a0}"), "a");
        assert_eq!(js_trim("\u{85}a"), "\u{85}a");
    }
}
