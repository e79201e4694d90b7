//! Timestamp parsing with the results JavaScript gives (`Date.parse`, `parseInt`), because
//! Segment's destinations compute `event_time` with them. Covers the ECMAScript date-time
//! format and the RFC 1123 / `YYYY/MM/DD` forms; other strings V8's legacy heuristics accept
//! (e.g. "12" as December 2001) are deliberately not dates here (docs/compatibility.md).

/// Milliseconds since the epoch, like `Date.parse(s)` for the supported forms. Times without
/// an offset are UTC (edge runtimes and our CI run in UTC).
pub fn parse_date_ms(s: &str) -> Option<i64> {
    parse_iso(s).or_else(|| parse_rfc1123(s)).or_else(|| parse_slashed(s))
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let end = self.i.checked_add(n)?;
        let d = self.b.get(self.i..end)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i = end;
        Some(d.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0')))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i).is_some_and(|x| x.eq_ignore_ascii_case(&c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

fn parse_iso(s: &str) -> Option<i64> {
    let mut c = Cur { b: s.as_bytes(), i: 0 };
    let year = if c.eat(b'+') {
        c.digits(6)?
    } else if c.eat(b'-') {
        -c.digits(6)?
    } else {
        c.digits(4)?
    };
    let (mut month, mut day) = (1, 1);
    if c.eat(b'-') {
        month = c.digits(2)?;
        if c.eat(b'-') {
            day = c.digits(2)?;
        }
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = 0;
    let mut offset_min = 0;
    if c.eat(b'T') {
        let h = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        let m = c.digits(2)?;
        let mut sec = 0;
        let mut frac = 0;
        if c.eat(b':') {
            sec = c.digits(2)?;
            if c.eat(b'.') {
                let start = c.i;
                while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                    c.i += 1;
                }
                let digits = &c.b[start..c.i];
                if digits.is_empty() {
                    return None;
                }
                frac = digits.iter().take(3).fold(0i64, |a, d| a * 10 + i64::from(d - b'0'))
                    * 10i64.pow(3 - digits.len().min(3) as u32);
            }
        }
        if h > 24 || m > 59 || sec > 59 || (h == 24 && (m, sec, frac) != (0, 0, 0)) {
            return None;
        }
        ms = ((h * 60 + m) * 60 + sec) * 1000 + frac;
        if c.eat(b'Z') {
        } else if let Some(sign) = [b'+', b'-'].into_iter().find(|&x| c.eat(x)) {
            let oh = c.digits(2)?;
            c.eat(b':');
            let om = c.digits(2)?;
            offset_min = (oh * 60 + om) * if sign == b'-' { -1 } else { 1 };
        }
    }
    if !c.done() {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + ms - offset_min * 60_000)
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// `Tue, 02 Jan 2024 10:00:00 GMT` (the HTTP date form).
fn parse_rfc1123(s: &str) -> Option<i64> {
    let rest = s.split_once(", ").map_or(s, |(_, r)| r);
    let parts: Vec<&str> = rest.split(' ').collect();
    let [d, mon, y, t, zone] = parts.as_slice() else { return None };
    if !zone.eq_ignore_ascii_case("GMT") && !zone.eq_ignore_ascii_case("UTC") && *zone != "Z" {
        return None;
    }
    let month = MONTHS.iter().position(|m| mon.eq_ignore_ascii_case(m))? as i64 + 1;
    let day: i64 = d.parse().ok()?;
    let year: i64 = y.parse().ok()?;
    let tp: Vec<i64> = t.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = tp.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000)
}

/// `2024/01/02`, `2024-1-2` and the same with ` HH:MM[:SS]`.
fn parse_slashed(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(' ').map_or((s, None), |(d, t)| (d, Some(t)));
    let sep = if date.contains('/') { '/' } else { '-' };
    let dp: Vec<i64> = date.split(sep).map(|x| if x.len() <= 4 && !x.is_empty() { x.parse().ok() } else { None }).collect::<Option<_>>()?;
    let [y, mo, d] = dp.as_slice() else { return None };
    if date.split(sep).next()?.len() != 4 || !(1..=12).contains(mo) || !(1..=31).contains(d) {
        return None;
    }
    let mut ms = 0;
    if let Some(t) = time {
        let tp: Vec<i64> = t.split(':').map(|x| if x.len() == 2 { x.parse().ok() } else { None }).collect::<Option<_>>()?;
        let (h, m, sec) = match tp.as_slice() {
            [h, m] => (*h, *m, 0),
            [h, m, s] => (*h, *m, *s),
            _ => return None,
        };
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        ms = ((h * 60 + m) * 60 + sec) * 1000;
    }
    Some(days_from_civil(*y, *mo, *d) * 86_400_000 + ms)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (day may overflow its month, as in JS).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + 1 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + (d - 1)
}

pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// JS `parseInt(s)` (radix 10, or 16 after `0x`), `None` for NaN or beyond the safe-integer range.
pub fn js_parse_int(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(crate::pii::is_js_space);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, t) = match t.get(..2) {
        Some("0x") | Some("0X") => (16, &t[2..]),
        _ => (10, t),
    };
    let digits: String = t.chars().take_while(|c| c.is_digit(radix)).collect();
    if digits.is_empty() {
        return None;
    }
    let n = i128::from_str_radix(&digits, radix).ok().or(if digits.len() > 30 { Some(i128::MAX) } else { None })?;
    let n = if neg { -n } else { n };
    (n.abs() <= i128::from(MAX_SAFE_INTEGER)).then_some(n as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_date_parse() {
        // Values printed by Node's Date.parse for the same strings (TZ=UTC).
        let cases: [(&str, Option<i64>); 16] = [
            ("2024-01-01", Some(1704067200000)),
            ("2024", Some(1704067200000)),
            ("2024-01-01T10:00:00", Some(1704103200000)),
            ("2024-01-01T10:00:00Z", Some(1704103200000)),
            ("2024-01-01T10:00:00.123+02:00", Some(1704096000123)),
            ("2024-01-01T10:00:00.123456Z", Some(1704103200123)),
            ("2024-01-01T10:00Z", Some(1704103200000)),
            ("2024-02-30", Some(1709251200000)),
            ("2024-01-01T24:00:00Z", Some(1704153600000)),
            ("2024-01-01T23:59:60Z", None),
            ("+002024-01-01T00:00:00Z", Some(1704067200000)),
            ("-000001-01-01T00:00:00Z", Some(-62198755200000)),
            ("Tue, 02 Jan 2024 10:00:00 GMT", Some(1704189600000)),
            ("2024/01/02", Some(1704153600000)),
            ("  2024-01-01T00:00:00Z ", None),
            ("1700000000000", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_date_ms(s), want, "{s}");
        }
        assert_eq!(parse_date_ms("2024-1-1"), Some(1704067200000));
        assert_eq!(parse_date_ms("2024-01-01 10:00:00"), Some(1704103200000));
        assert_eq!(parse_date_ms("garbage"), None);
    }

    #[test]
    fn matches_parse_int() {
        assert_eq!(js_parse_int("1700000000000"), Some(1700000000000));
        assert_eq!(js_parse_int(" 12abc"), Some(12));
        assert_eq!(js_parse_int("0x1A"), Some(26));
        assert_eq!(js_parse_int("-7"), Some(-7));
        assert_eq!(js_parse_int("abc"), None);
        assert_eq!(js_parse_int("99999999999999999999"), None);
        assert_eq!(js_parse_int("1.9"), Some(1));
    }
}
