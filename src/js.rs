//! JavaScript value semantics that Segment's (JS) reference behaviour depends on:
//! number -> string formatting, truthiness, `String(x)`, loose equality, `trim`.
use serde_json::Value;

/// `String(n)` / `Number.prototype.toString()` for a JS number.
///
/// Delegates to `ryu-js`, which implements ECMAScript's Number::toString exactly, including
/// the tie rule (of two equally short digit strings, the one nearer the value; `-0` is "0").
pub fn number_to_string(n: f64) -> String {
    // Integers below 2^53 (most numbers coerced to strings: screen sizes, ids) print as their
    // digits, with no float formatting; -0 gives 0, as in JS. Speed builds only: ~180 bytes
    // gzipped of the size-optimized wasm, over a Worker's size budget.
    #[cfg(speed)]
    if n.fract() == 0.0 && n.abs() < 9007199254740992.0 {
        return (n as i64).to_string();
    }
    ryu_js::Buffer::new().format(n).to_string()
}

/// `String.prototype.toLowerCase()`. ASCII here; other text in the size-optimized wasm through
/// the JS host's own (the semantics Segment's code has, and the wasm then carries no Unicode case
/// tables: about 14 KB gzipped); natively and in Node's speed build (feature `unicode-case`)
/// through core's, with no call out to JS (the same Unicode algorithm, final sigma included;
/// only characters newer than one side's Unicode version can differ).
pub fn to_lower(s: &str) -> String {
    if s.is_ascii() { s.to_ascii_lowercase() } else { non_ascii_case(s, false) }
}

/// `String.prototype.toUpperCase()` (see `to_lower`).
pub fn to_upper(s: &str) -> String {
    if s.is_ascii() { s.to_ascii_uppercase() } else { non_ascii_case(s, true) }
}

#[cfg(not(speed))]
fn non_ascii_case(s: &str, upper: bool) -> String {
    crate::bindings::js_case(s, upper)
}

#[cfg(speed)]
fn non_ascii_case(s: &str, upper: bool) -> String {
    if upper { s.to_uppercase() } else { s.to_lowercase() }
}

/// A JSON number's value, read as `f64`'s own `Deserialize` reads it, through a visitor that
/// answers every kind itself: the typed path links serde's type-error messages and with them
/// core's float formatting (see `input::fields`).
fn json_number(json: &str) -> Result<f64, serde_json::Error> {
    use serde::de::{Error, Visitor};
    struct Num;
    impl<'de> Visitor<'de> for Num {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number")
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_bool<E: Error>(self, _: bool) -> Result<f64, E> {
            Err(E::custom("not a number"))
        }
        fn visit_str<E: Error>(self, _: &str) -> Result<f64, E> {
            Err(E::custom("not a number"))
        }
        fn visit_unit<E: Error>(self) -> Result<f64, E> {
            Err(E::custom("not a number"))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<f64, A::Error> {
            Err(A::Error::custom("not a number"))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<f64, A::Error> {
            Err(A::Error::custom("not a number"))
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let n = serde::Deserializer::deserialize_any(&mut de, Num)?;
    de.end()?;
    Ok(n)
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
    parse_decimal(t).unwrap_or(f64::NAN)
}

/// A decimal literal as JS reads one (`[+-]` then `12`, `12.`, `12.5` or `.5`, then an
/// optional `e[+-]12`) to the nearest f64, overflowing to +-Infinity; `None` for anything
/// else. Rewritten to JSON's grammar and read by serde_json (float_roundtrip: correctly
/// rounded), so the wasm carries one float parser instead of two: core's `f64::from_str`
/// and its tables cost 13.5 KB gzipped once no caller is left (docs/performance.md, "Size").
pub fn parse_decimal(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = matches!(b.first(), Some(b'-'));
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        &s[start..*i]
    };
    let int = digits(&mut i);
    let frac = if b.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i)
    } else {
        ""
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp = "";
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let start = i + 1;
        i = start + usize::from(matches!(b.get(start), Some(b'+' | b'-')));
        if digits(&mut i).is_empty() {
            return None;
        }
        exp = &s[start..i];
    }
    if i != b.len() {
        return None;
    }
    // JSON wants one leading digit (no extra zeros) and digits after a point.
    let int = int.trim_start_matches('0');
    let mut json = String::with_capacity(s.len() + 4);
    if negative {
        json.push('-');
    }
    json.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        json.push('.');
        json.push_str(frac);
    }
    if !exp.is_empty() {
        json.push('e');
        json.push_str(exp);
    }
    let zero = if negative { -0.0 } else { 0.0 };
    match json_number(&json) {
        Ok(n) => Some(n),
        // The grammar is checked above, so an error is a number out of range: a zero
        // significand is zero whatever the exponent, anything else overflowed.
        Err(_) if !int.bytes().chain(frac.bytes()).any(|c| c != b'0') => Some(zero),
        Err(_) => Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY }),
    }
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
    // Both ends ASCII and not whitespace (nearly every value): nothing to trim, and no
    // character-by-character search from each end. Speed builds only (as above, for size).
    #[cfg(speed)]
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    #[cfg(speed)]
    if plain(s.as_bytes().first()) && plain(s.as_bytes().last()) {
        return s;
    }
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

/// The index of the first byte at or after `i` that ends a plain run inside a JSON string:
/// `"`, `\` or a control character (`b.len()` if none). Eight bytes at a time (the usual
/// bit trick for "some byte equals x" / "some byte is below x"): the string scanners of the
/// parser, the array splitter and the JSON writer all spend their time here. Inline in the
/// speed builds (most strings are short keys, where the call was a large part of the scan).
#[cfg_attr(speed, inline(always))]
pub fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        // A reference to the eight bytes, read as one word (one load once compiled; a slice
        // copy or byte-wise assembly is a call or eight loads in the size-optimized wasm).
        let Ok(chunk) = <&[u8; 8]>::try_from(&b[i..i + 8]) else { break };
        let w = u64::from_le_bytes(*chunk);
        let bs = w ^ (ONES * u64::from(b'\\'));
        // `w ^ 0x02..` maps the quote (0x22) to 0x20 and the control characters onto
        // themselves (0x00..=0x1f), every other byte to 0x21 or above: one "below 0x21" test
        // finds both. `x - 0x21..` borrows into the high bit of such bytes (`& !x` drops bytes
        // that had it set already); a zero byte in bs is a backslash.
        let qc = w ^ (ONES * 0x02);
        let hit = ((qc.wrapping_sub(ONES * 0x21) & !qc) | (bs.wrapping_sub(ONES) & !bs)) & HIGH;
        if hit != 0 {
            // The lowest flagged byte is the first hit: a borrow only carries upward from a
            // byte that is a hit itself, so only bytes above the first one can be false.
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

/// JSON.stringify-style string quoting (only `"`, `\` and control characters are escaped).
pub fn quote_json_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of bytes that need no escape are copied whole (all of most strings); every byte
    // that needs one is ASCII, so slicing at it stays on a char boundary.
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i = plain_run(b, i);
        let Some(&c) = b.get(i) else { break };
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            _ => "",
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{:04x}", c));
        } else {
            out.push_str(esc);
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// JSON text with every non-ASCII character written as `\uXXXX` escapes (UTF-16 units, as JS
/// strings hold them): `JSON.parse` gives the same values, and the text stays ASCII, which the
/// JS hosts decode several times faster than UTF-8 with a single non-ASCII byte in it (Node 20
/// and 22: 9 ms against 31-44 ms for a 7.7 MB plan, docs/performance.md). JSON has non-ASCII
/// only inside strings, where an escape means the same character. Text that is already ASCII
/// (most) is returned as it is.
pub fn ascii_json(s: String) -> String {
    if s.is_ascii() {
        return s;
    }
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii() {
            continue;
        }
        out.push_str(&s[start..i]);
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            let _ = write!(out, "\\u{u:04x}");
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What JSON.parse reads back is the same value, and the text is ASCII.
    #[test]
    fn ascii_json_escapes_only_non_ascii_and_keeps_the_values() {
        let v = serde_json::json!({"é": ["naïve café", "😀 x", "\u{2028}", "ascii \"q\" \\ \n"], "n": 1.5, "k": null});
        let text = serde_json::to_string(&v).unwrap();
        let ascii = ascii_json(text.clone());
        assert!(ascii.is_ascii(), "{ascii}");
        assert_eq!(serde_json::from_str::<Value>(&ascii).unwrap(), v);
        assert!(ascii.contains(r"\ud83d\ude00"), "an astral character is a surrogate pair: {ascii}");
        assert!(ascii.contains(r#"\"q\""#), "escapes already there stay: {ascii}");
        let plain = r#"{"a":"b"}"#.to_string();
        assert_eq!(ascii_json(plain.clone()), plain);
    }

    #[test]
    fn plain_run_finds_the_first_special_byte() {
        let naive = |b: &[u8], i: usize| (i..b.len()).find(|&j| matches!(b[j], b'"' | b'\\' | 0..=0x1f)).unwrap_or(b.len());
        // Every special byte (and near misses: 0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xff) at
        // every position of a 20-byte run, from every start.
        for special in [b'"', b'\\', 0, 0x1f, b'\n', 0x20, b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
            for at in 0..20 {
                let mut b = vec![b'a'; 20];
                b[at] = special;
                for from in 0..=20 {
                    assert_eq!(plain_run(&b, from), naive(&b, from), "{special:#x} at {at} from {from}");
                }
            }
        }
        // Every byte value at every position of a word and past it.
        for byte in 0..=255u8 {
            for at in 0..17 {
                let mut b = vec![b'a'; 18];
                b[at] = byte;
                assert_eq!(plain_run(&b, 0), naive(&b, 0), "{byte:#x} at {at}");
            }
        }
        // Two bytes in one word: a hit, then one a borrow out of it could flag falsely
        // (0x01, '#' after '"', ']' after '\\', 0x20 after a control character).
        let bytes = [b'"', b'\\', 0, 0x1f, 0x01, 0x20, b'!', b'#', b']', b'a', 0x80, 0xff];
        for first in bytes {
            for second in bytes {
                for at in 0..17 {
                    for next in at + 1..18 {
                        let mut b = vec![b'a'; 18];
                        b[at] = first;
                        b[next] = second;
                        for from in [0, at, at + 1] {
                            assert_eq!(plain_run(&b, from), naive(&b, from), "{first:#x} at {at}, {second:#x} at {next}, from {from}");
                        }
                    }
                }
            }
        }
        let b = "héllo wörld, 😀 \"x".as_bytes();
        assert_eq!(plain_run(b, 0), naive(b, 0));
    }
    use serde_json::json;

    /// The ASCII path agrees with the full mapping on every byte; other text goes to the host's
    /// (the wasm's is checked against Segment's JS by tests/conformance: 'ΣΑΣ', 'İ', 'ß', 'ſK').
    #[test]
    fn case_mapping_of_ascii_is_the_full_mapping() {
        let all: String = (0u8..128).map(char::from).collect();
        assert_eq!(to_lower(&all), all.to_lowercase());
        assert_eq!(to_upper(&all), all.to_uppercase());
        assert_eq!((to_lower("ΣΑΣ Straße"), to_upper("straße")), ("σας straße".to_string(), "STRASSE".to_string()));
    }

    /// Rust's parser (correctly rounded, overflow to infinity) is the oracle on the grammar
    /// both accept; `parse_decimal` must agree bit for bit.
    fn same_as_core(s: &str) {
        let core = s.parse::<f64>().ok().filter(|_| !s.contains(|c: char| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E')));
        let ours = parse_decimal(s);
        assert_eq!(ours.map(f64::to_bits), core.map(f64::to_bits), "{s:?}: ours {ours:?}, core {core:?}");
    }

    #[test]
    fn decimal_literals_parse_like_core() {
        for s in [
            "0", "-0", "+0", "00012", "1.", ".5", "-.5", "+.5e3", "1.e5", "1e5", "1E+5", "1e-5", "0.1", "0.30000000000000004",
            "9007199254740993", "1.7976931348623157e308", "1.7976931348623159e308", "1e309", "-1e309", "1e99999999999999999999",
            "5e-324", "2e-324", "3e-324", "1e-400", "-1e-400", "0e400", "-0e99999999999999999999", "000.000e5",
            "2.2250738585072011e-308", "2.2250738585072012e-308", "123456789012345678901234567890e-10",
            "", "+", "-", ".", ".e1", "e5", "1e", "1e+", "1..2", "1.2.3", "--1", "+-1", "1e+-2", " 1", "1 ", "inf", "NaN", "Infinity",
            "0x10", "1_000", "١",
        ] {
            same_as_core(s);
        }
        let long = format!("0.{}1", "0".repeat(400));
        same_as_core(&long);
        same_as_core(&format!("{}5", "9".repeat(400)));
    }

    proptest::proptest! {
        #[test]
        fn decimal_literals_parse_like_core_generated(
            sign in "[+-]?", int in "[0-9]{0,25}", point in proptest::bool::ANY, frac in "[0-9]{0,25}",
            exp in proptest::option::of("[eE][+-]?[0-9]{1,4}"),
        ) {
            let s = format!("{sign}{int}{}{}{}", if point { "." } else { "" }, if point { frac.as_str() } else { "" }, exp.unwrap_or_default());
            same_as_core(&s);
        }

        /// The shortcut for plain ends trims what the character search trims.
        #[test]
        fn js_trim_is_the_char_search(s in "[ \t\n\u{b}\u{c}\r\u{a0}\u{feff}\u{2000}\u{85}\u{1f}\u{7f}a!~é]{0,6}") {
            proptest::prop_assert_eq!(js_trim(&s), s.trim_matches(is_js_whitespace));
        }

        /// The integer path prints what the float formatter prints (integers of every size
        /// near and past 2^53, and any other number).
        #[test]
        fn number_to_string_is_ryu_js(bits in proptest::num::u64::ANY, int in proptest::num::i64::ANY, shift in 0u32..64) {
            let int = (int >> shift) as f64;
            for x in [f64::from_bits(bits), int, -int, int + 0.5, f64::from_bits(bits).trunc()] {
                proptest::prop_assert_eq!(number_to_string(x), ryu_js::Buffer::new().format(x).to_string(), "{:?}", x);
            }
        }

        #[test]
        fn every_f64_round_trips(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            if x.is_finite() {
                for s in [format!("{x:e}"), format!("{x}"), number_to_string(x)] {
                    same_as_core(&s);
                }
            }
        }
    }

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
