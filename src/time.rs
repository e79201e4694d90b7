//! Timestamp parsing with the results JavaScript gives (`Date.parse`, `parseInt`), because
//! Segment's destinations compute `event_time` with them. Covers the ECMAScript date-time
//! format and the RFC 1123 / `YYYY/MM/DD` forms; other strings V8's legacy heuristics accept
//! (e.g. "12" as December 2001) are deliberately not dates here (docs/compatibility.md).

/// Milliseconds since the epoch, like `Date.parse(s)` for the supported forms. Times without
/// an offset are UTC (edge runtimes and our CI run in UTC).
pub fn parse_date_ms(s: &str) -> Option<i64> {
    parse_iso(s).or_else(|| parse_named_month(s)).or_else(|| parse_slashed(s))
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

/// Dates with a month name, as V8's fallback parser reads them: `Tue, 02 Jan 2024 10:00:00 GMT`,
/// `March 5, 2024 10:00 PM`, `Tue Mar 05 2024 05:55:07 GMT+0000 (Coordinated Universal Time)`,
/// `5 March 2024`, `March 2024`. Weekdays and parenthesised comments are ignored.
fn parse_named_month(s: &str) -> Option<i64> {
    let mut text = String::with_capacity(s.len());
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1)?,
            _ if depth > 0 => {}
            ',' => text.push(' '),
            _ => text.push(c.to_ascii_lowercase()),
        }
    }
    let (mut month, mut time, mut offset, mut pm) = (None, None, None, None);
    let mut numbers: Vec<(i64, usize)> = Vec::new();
    for tok in text.split_ascii_whitespace() {
        // `gmt+0130`: the zone word then its offset.
        let (word, rest) = match tok.find(['+', '-']) {
            Some(i) if i > 0 && tok[..i].bytes().all(|b| b.is_ascii_alphabetic()) => (&tok[..i], &tok[i..]),
            _ => (tok, ""),
        };
        if word.bytes().all(|b| b.is_ascii_alphabetic()) {
            match word {
                "am" => pm = Some(false),
                "pm" => pm = Some(true),
                "gmt" | "utc" | "ut" | "z" => offset = Some(0),
                w if w.len() >= 3 && MONTHS.contains(&&w[..3]) => month = Some(MONTHS.iter().position(|m| *m == &w[..3])? as i64 + 1),
                w if w.len() >= 3 && ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&&w[..3]) => {}
                _ => return None,
            }
            if !rest.is_empty() {
                offset = Some(parse_offset(rest)?);
            }
        } else if tok.starts_with(['+', '-']) && time.is_some() {
            offset = Some(parse_offset(tok)?);
        } else if tok.contains(':') {
            time = Some(parse_clock(tok)?);
        } else if tok.bytes().all(|b| b.is_ascii_digit()) && tok.len() <= 6 {
            numbers.push((tok.parse().ok()?, tok.len()));
        } else {
            return None;
        }
    }
    let month = month?;
    let ((day, _), (year, year_digits)) = match numbers.as_slice() {
        [(y, d)] if *y > 31 => ((1, 1), (*y, *d)),
        [a, b] if a.0 > 31 => (*b, *a),
        [a, b] => (*a, *b),
        _ => return None,
    };
    let year = match (year, year_digits) {
        (y, 1..=2) if y < 50 => 2000 + y,
        (y, 1..=2) => 1900 + y,
        (y, _) => y,
    };
    let (mut h, m, sec, frac) = time.unwrap_or((0, 0, 0, 0));
    match pm {
        Some(_) if !(1..=12).contains(&h) => return None,
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000 + frac - offset.unwrap_or(0) * 60_000)
}

/// `+0130`, `-05:00`, `+1` -> minutes east of UTC.
fn parse_offset(t: &str) -> Option<i64> {
    let sign = if t.starts_with('-') { -1 } else { 1 };
    let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let (h, m) = if digits.len() <= 2 { (n, 0) } else { (n / 100, n % 100) };
    Some(sign * (h * 60 + m))
}

/// `hh:mm[:ss[.fff]]` -> (h, m, s, ms).
fn parse_clock(t: &str) -> Option<(i64, i64, i64, i64)> {
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = frac.bytes().take(3).fold(0i64, |a, d| a * 10 + i64::from(d - b'0')) * 10i64.pow(3 - frac.len().min(3) as u32);
    let p: Vec<i64> = hms.split(':').map(|x| if (1..=2).contains(&x.len()) { x.parse().ok() } else { None }).collect::<Option<_>>()?;
    let (h, m, s) = match p.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    (h <= 24 && m <= 59 && s <= 59).then_some((h, m, s, ms))
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
        // Seconds may carry a fraction (`21:01:32.857`); only milliseconds count.
        let (t, frac) = t.split_once('.').map_or((t, ""), |(a, b)| (a, b));
        if !frac.bytes().all(|b| b.is_ascii_digit()) || (t.matches(':').count() != 2 && !frac.is_empty()) {
            return None;
        }
        let frac_ms = frac.bytes().take(3).fold(0i64, |a, d| a * 10 + i64::from(d - b'0')) * 10i64.pow(3 - frac.len().min(3) as u32);
        let tp: Vec<i64> = t.split(':').map(|x| if x.len() == 2 { x.parse().ok() } else { None }).collect::<Option<_>>()?;
        let (h, m, sec) = match tp.as_slice() {
            [h, m] => (*h, *m, 0),
            [h, m, s] => (*h, *m, *s),
            _ => return None,
        };
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        ms = ((h * 60 + m) * 60 + sec) * 1000 + frac_ms;
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

/// The largest |ms| a JS Date holds.
const MAX_DATE_MS: f64 = 8.64e15;

/// `dayjs(s).valueOf()` in UTC, the parser Segment's Braze destination formats dates with: a
/// string matching dayjs's `YYYY[-/]MM[-/]DD[T ]HH:mm:ss.SSS` pattern (not ending in `Z`) is
/// read field by field with JS Date overflow (month 13 = next January); anything else goes to
/// `Date.parse`.
pub fn dayjs_ms(s: &str) -> Option<f64> {
    let ends_z = s.ends_with(['Z', 'z']);
    if !ends_z {
        if let Some(ms) = dayjs_fields(s) {
            return (ms.abs() as f64 <= MAX_DATE_MS).then_some(ms as f64);
        }
    }
    parse_date_ms(s).map(|ms| ms as f64).filter(|ms| ms.abs() <= MAX_DATE_MS)
}

/// dayjs's REGEX_PARSE, matched greedily (its optional groups never need backtracking on the
/// strings it accepts): year, month, day, hour, minute, second, fraction.
fn dayjs_fields(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, max: usize| -> Option<i64> {
        let start = *i;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            *i += 1;
        }
        (*i > start).then(|| s[start..*i].parse().unwrap_or(0))
    };
    let opt = |i: &mut usize, set: &[u8]| {
        if *i < b.len() && set.contains(&b[*i]) {
            *i += 1;
        }
    };
    let start = i;
    let year = digits(&mut i, 4)?;
    if i - start != 4 {
        return None;
    }
    opt(&mut i, b"-/");
    let month = digits(&mut i, 2);
    opt(&mut i, b"-/");
    let day = digits(&mut i, 2);
    while i < b.len() && (b[i] == b'T' || b[i] == b't' || crate::pii::is_js_space(b[i] as char)) {
        i += 1;
    }
    let hour = digits(&mut i, 2);
    opt(&mut i, b":");
    let minute = digits(&mut i, 2);
    opt(&mut i, b":");
    let second = digits(&mut i, 2);
    opt(&mut i, b".:");
    let frac_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != b.len() {
        return None;
    }
    let frac = &s[frac_start..i];
    let ms: i64 = frac.get(..3.min(frac.len())).filter(|f| !f.is_empty()).map_or(0, |f| f.parse().unwrap_or(0));
    // `new Date(y, m, d, ...)`: years 0-99 mean 1900-1999; every field may overflow.
    let year = if (0..=99).contains(&year) { 1900 + year } else { year };
    let months = year * 12 + month.map_or(0, |m| m - 1);
    let (y, m0) = (months.div_euclid(12), months.rem_euclid(12));
    let days = days_from_civil(y, m0 + 1, 1) + day.unwrap_or(1) - 1;
    let clock = ((hour.unwrap_or(0) * 60 + minute.unwrap_or(0)) * 60 + second.unwrap_or(0)) * 1000 + ms;
    Some(days * 86_400_000 + clock)
}

/// Segment's `date-like` format check for a `datetime` string field.
pub fn date_like(s: &str) -> bool {
    let n = crate::js::string_to_number(s);
    // A canonical number string is read as Unix seconds (whatever its length, as Segment does).
    if !n.is_nan() && crate::js::number_to_string(n) == s {
        return (n * 1000.0).abs() <= MAX_DATE_MS;
    }
    dayjs_ms(s).is_some()
}

/// (year, month 1-12, day, hour, minute, second, ms) of a UTC instant.
fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000)
}

/// JS `Date.prototype.toISOString()` (`None` where JS throws: beyond the Date range).
pub fn iso_string(ms: f64) -> Option<String> {
    if !ms.is_finite() || ms.abs() > MAX_DATE_MS {
        return None;
    }
    let (y, m, d, h, mi, s, f) = civil(ms.trunc() as i64);
    let year = if (0..=9999).contains(&y) { format!("{y:04}") } else if y < 0 { format!("-{:06}", -y) } else { format!("+{y:06}") };
    Some(format!("{year}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z"))
}

/// dayjs's `format('YYYY-MM-DD')` in UTC.
pub fn ymd_string(ms: f64) -> Option<String> {
    if !ms.is_finite() || ms.abs() > MAX_DATE_MS {
        return None;
    }
    let (y, m, d, ..) = civil(ms.trunc() as i64);
    let year = if y < 0 { format!("-{:04}", -y) } else { format!("{y:04}") };
    Some(format!("{year}-{m:02}-{d:02}"))
}

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
        assert_eq!(parse_date_ms("2024-03-04 21:01:32.857"), Some(1709586092857));
        assert_eq!(parse_date_ms("garbage"), None);
        // Month-name forms, values from Node's Date.parse.
        for (s, want) in [
            ("March 5, 2024 10:00:00", 1709632800000),
            ("Tue Mar 05 2024 05:55:07 GMT+0000 (Coordinated Universal Time)", 1709618107000),
            ("5 March 2024", 1709596800000),
            ("March 5, 2024 10:00 PM", 1709676000000),
            ("March 5, 2024 12:00 AM", 1709596800000),
            ("Tue Mar 05 2024 05:55:07 GMT+0130", 1709612707000),
            ("Mar 5, 24", 1709596800000),
            ("March 2024", 1709251200000),
            ("2024 March 5", 1709596800000),
            ("Sat, 02 Mar 2024 14:47:45 +0200", 1709383665000),
            ("Mar 5 2024 10:00:00 Z", 1709632800000),
            ("Dec 25, 1999 23:59:59.5", 946166399500),
        ] {
            assert_eq!(parse_date_ms(s), Some(want), "{s}");
        }
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

    #[test]
    fn dayjs_parsing_and_iso_output() {
        // dayjs's own pattern: local (UTC here) fields with JS Date overflow.
        assert_eq!(dayjs_ms("2024-03-05 12:34:56"), Some(1709642096000.0));
        assert_eq!(dayjs_ms("2024-13-01"), dayjs_ms("2025-01-01"), "month 13 is next January");
        assert_eq!(dayjs_ms("2024-03-00"), dayjs_ms("2024-02-29"), "day 0 is the month's eve");
        assert_eq!(dayjs_ms("20240305"), Some(1709596800000.0));
        // A trailing Z or an offset goes to Date.parse.
        assert_eq!(dayjs_ms("2024-03-05T12:34:56.789Z"), Some(1709642096789.0));
        assert_eq!(dayjs_ms("2024-03-05T13:34:56+01:00"), Some(1709642096000.0));
        assert_eq!(dayjs_ms("not a date"), None);
        assert_eq!(iso_string(1709642096789.0).as_deref(), Some("2024-03-05T12:34:56.789Z"));
        assert_eq!(iso_string(-1.0).as_deref(), Some("1969-12-31T23:59:59.999Z"));
        assert_eq!(iso_string(8.64e15).as_deref(), Some("+275760-09-13T00:00:00.000Z"));
        assert_eq!(iso_string(8.64e15 + 1.0), None, "beyond the Date range JS throws");
        assert_eq!(ymd_string(1709642096789.0).as_deref(), Some("2024-03-05"));
        // Segment's date-like check: plain number strings are Unix seconds.
        assert!(date_like("12") && date_like("1709642096") && date_like("2024-03-05"));
        assert!(!date_like("yesterday") && !date_like("") && !date_like("1e20"));
    }
}
