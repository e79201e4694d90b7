//! The two JS number conversions the reference leans on: `String(n)` (for values
//! such as `event = 1.50`, which the reference stores as the string "1.5") and
//! `Number(s)` (for relational operators given a string operand, and for the
//! lexer's number tokens, which may be just "-" or "5.").

/// ECMAScript Number::toString(10).
pub(crate) fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == 0.0 {
        return "0".into(); // also -0
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if x < 0.0 {
        return format!("-{}", number_to_string(-x));
    }
    // `{:e}` yields the shortest round-tripping digits, which is what JS uses too;
    // only the layout differs.
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i64 = exp.parse().unwrap_or(0);
    let k = digits.len() as i64;
    let n = exp + 1;
    if k <= n && n <= 21 {
        let mut s = digits;
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
        s
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{}", "0".repeat((-n) as usize), digits)
    } else {
        let e = n - 1;
        let sign = if e < 0 { '-' } else { '+' };
        if k == 1 {
            format!("{digits}e{sign}{}", e.abs())
        } else {
            format!("{}.{}e{sign}{}", &digits[..1], &digits[1..], e.abs())
        }
    }
}

/// JS WhiteSpace + LineTerminator (what `Number(" 1 ")` trims). Differs from
/// `char::is_whitespace` (U+0085 is not JS whitespace, U+FEFF is).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// ECMAScript StringToNumber (`Number(s)` for a string).
pub(crate) fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    let b = t.as_bytes();
    if b.len() > 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            return radix_to_number(&t[2..], radix);
        }
    }
    if !is_decimal_literal(b) {
        return f64::NAN;
    }
    // The grammar check above excludes Rust-only spellings ("inf", "nan").
    t.parse::<f64>().unwrap_or(f64::NAN)
}

/// StrDecimalLiteral without the Infinity forms: [+-] (d+ [. d*] | . d+) [eE [+-] d+]
fn is_decimal_literal(b: &[u8]) -> bool {
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mant_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mant_digits += i - f;
    }
    if mant_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

fn radix_to_number(digits: &str, radix: u32) -> f64 {
    if digits.is_empty() {
        return f64::NAN;
    }
    // u128 keeps the value exact (and `as f64` rounds once, like JS) up to 128 bits;
    // beyond that an f64 accumulation is close enough for absurd literals.
    let mut exact: Option<u128> = Some(0);
    let mut approx = 0f64;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return f64::NAN;
        };
        exact = exact
            .and_then(|v| v.checked_mul(radix as u128))
            .and_then(|v| v.checked_add(d as u128));
        approx = approx * radix as f64 + d as f64;
    }
    match exact {
        Some(v) => v as f64,
        None => approx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_to_string_matches_js() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.5, "1.5"),
            (-2.0, "-2"),
            (100.0, "100"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.2345e-7, "1.2345e-7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e23, "1e+23"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(number_to_string(*x), *want, "{x}");
        }
    }

    #[test]
    fn string_to_number_matches_js() {
        let nan = |s: &str| assert!(string_to_number(s).is_nan(), "{s:?}");
        let num = |s: &str, v: f64| assert_eq!(string_to_number(s), v, "{s:?}");
        num("", 0.0);
        num("  \n", 0.0);
        num(" 12 ", 12.0);
        num("5.", 5.0);
        num(".5", 0.5);
        num("-.5", -0.5);
        num("+3", 3.0);
        num("1e3", 1000.0);
        num("1.e2", 100.0);
        num("0x1F", 31.0);
        num("0b101", 5.0);
        num("0o17", 15.0);
        num("-Infinity", f64::NEG_INFINITY);
        num("007", 7.0);
        nan("-");
        nan("+");
        nan("-.");
        nan(".");
        nan("inf");
        nan("nan");
        nan("infinity");
        nan("-0x1");
        nan("0x");
        nan("1e");
        nan("1_000");
        nan("abc");
        nan("\u{85}1");
    }
}
