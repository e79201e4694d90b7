//! The two JS number conversions the reference leans on: `String(n)` (for values
//! such as `event = 1.50`, which the reference stores as the string "1.5") and
//! `Number(s)` (for relational operators given a string operand, and for the
//! lexer's number tokens, which may be just "-" or "5."). Both live in `crate::js`,
//! shared with mapping-kit and the field schemas; these tests pin the cases FQL relies on.

pub(crate) use crate::js::{number_to_string, string_to_number};

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
