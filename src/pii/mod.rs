//! PII normalization and SHA-256 hashing.
//!
//! Normalizers reproduce Segment's rules (which use JavaScript string semantics), so the
//! whitespace set, trimming and lower-casing follow ECMAScript rather than Rust's defaults.

mod places;

use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;

pub use places::{country_code, us_state_code};

pub use crate::js::{is_js_whitespace as is_js_space, js_trim};

/// A normalizer that appends its result to `out` (the buffer is reused across the fields
/// and events of a call, so normalizing allocates nothing in the usual case).
pub type NormalizeInto = fn(&str, &mut String);

/// Remove every JS whitespace character, then lower-case (email, names, city, zip, external ids).
pub fn strip_lower(s: &str) -> String {
    owned(strip_lower_into, s)
}

/// `strip_lower`, appended to `out`.
pub fn strip_lower_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        // The common case: ASCII JS whitespace is \t \n \v \f \r and space.
        let is_space = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
        // A value without any (most) copied whole and lower-cased in place, not pushed a char
        // at a time: speed builds only (~600 bytes gzipped of Snap CAPI's size-optimized wasm).
        #[cfg(speed)]
        if !s.bytes().any(|b| is_space(&b)) {
            let start = out.len();
            out.push_str(s);
            out[start..].make_ascii_lowercase();
            return;
        }
        out.extend(s.bytes().filter(|b| !is_space(b)).map(|b| b.to_ascii_lowercase() as char));
        return;
    }
    // Lower-cased as a whole (JS case mapping depends on context, e.g. a final sigma).
    let start = out.len();
    out.extend(s.chars().filter(|c| !is_js_space(*c)));
    let lower = crate::js::to_lower(&out[start..]);
    out.truncate(start);
    out.push_str(&lower);
}

/// Segment's phone rule: leading zeros *at the very start of the raw value* are dropped, then
/// every non-ASCII-digit. So "0044 20" -> "4420" but "+0044 20" -> "004420" (a Segment quirk we keep).
pub fn phone_digits(s: &str) -> String {
    owned(phone_digits_into, s)
}

/// `phone_digits`, appended to `out`.
pub fn phone_digits_into(s: &str, out: &mut String) {
    out.extend(s.trim_start_matches('0').chars().filter(|c| c.is_ascii_digit()));
}

fn owned(normalize: NormalizeInto, s: &str) -> String {
    let mut out = String::new();
    normalize(s, &mut out);
    out
}

/// Trim (JS whitespace) then lower-case: Segment's Snap Audiences rule for emails and mobile
/// ad ids (inner spaces are kept, unlike `strip_lower`).
pub fn trim_lower(s: &str) -> String {
    crate::js::to_lower(js_trim(s))
}

/// Segment's Snap Audiences phone rule: drop whitespace, parentheses, `+` and `-`, then one
/// leading `00` (international prefix), then one leading `0` (national prefix). Other
/// characters are kept: "+1 (415) 555.0123" -> "1415555.0123".
pub fn phone_prefixes(s: &str) -> String {
    let kept: String = s.chars().filter(|&c| !(is_js_space(c) || "()+-".contains(c))).collect();
    let rest = kept.strip_prefix("00").unwrap_or(&kept);
    rest.strip_prefix('0').unwrap_or(rest).to_string()
}

/// `male`/`female` -> `m`/`f`, anything else normalized as text.
pub fn gender(s: &str) -> String {
    owned(gender_into, s)
}

/// `gender`, appended to `out` (which the caller passes empty).
pub fn gender_into(s: &str, out: &mut String) {
    mapped_into(s, out, |v| match v {
        "male" => Some("m"),
        "female" => Some("f"),
        _ => None,
    })
}

/// US state names -> two-letter codes (lower-case); other values normalized as text.
pub fn state(s: &str) -> String {
    owned(state_into, s)
}

/// `state`, appended to `out` (which the caller passes empty).
pub fn state_into(s: &str, out: &mut String) {
    mapped_into(s, out, us_state_code)
}

/// Country names -> ISO 3166-1 alpha-2 (lower-case); other values normalized as text.
pub fn country(s: &str) -> String {
    owned(country_into, s)
}

/// `country`, appended to `out` (which the caller passes empty).
pub fn country_into(s: &str, out: &mut String) {
    mapped_into(s, out, country_code)
}

/// `strip_lower` into the empty `out`, replaced by `code` of it when there is one.
fn mapped_into(s: &str, out: &mut String, code: fn(&str) -> Option<&'static str>) {
    strip_lower_into(s, out);
    if let Some(c) = code(out) {
        out.clear();
        out.push_str(c);
    }
}

/// Identity normalizer (date of birth is hashed as given, like Segment).
pub fn as_is(s: &str) -> String {
    s.to_string()
}

/// `as_is`, appended to `out`.
pub fn as_is_into(s: &str, out: &mut String) {
    out.push_str(s);
}

/// True when `s` already is a SHA-256 hex digest (either case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lower-case hex SHA-256 of a string.
pub fn sha256_hex(s: &str) -> String {
    hex_text(&hex_digest(s))
}

/// The digest's 64 lower-case hex digits: a nibble table into a fixed buffer (the digest is
/// hashed per PII field of every event, so no iterator chain and no allocation here).
fn hex_digest(s: &str) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for (pair, b) in buf.chunks_exact_mut(2).zip(Sha256::digest(s.as_bytes())) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 15)];
    }
    buf
}

fn hex_text(hex: &[u8; 64]) -> String {
    hex_str(hex).to_owned()
}

fn hex_str(hex: &[u8; 64]) -> &str {
    std::str::from_utf8(hex).unwrap_or_default()
}

/// Most distinct values the memo holds; past it, it starts over (bounded memory on calls of
/// many distinct users).
const MEMO_MAX: usize = 4096;

thread_local! {
    /// Normalized value -> digest, while `with_digest_memo` runs: the same user's email, name
    /// and address repeat across the events of one call, and each digest costs a SHA-256.
    static MEMO: RefCell<Option<Memo>> = const { RefCell::new(None) };
    /// The buffer values are normalized into (`normalize_and_hash_into`).
    static NORMALIZED: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Looked up by `&str`, so a hit copies nothing; digests kept as text, so a hit is not
/// checked as UTF-8 again. Hashed with foldhash in the speed builds (a lookup per PII field
/// of every event; std's SipHash cost most of a hit), randomly seeded per memo (foldhash's
/// own HashDoS defence, and the memo holds at most MEMO_MAX values); the size-optimized
/// wasm keeps std's hasher.
#[cfg(speed)]
type Memo = HashMap<Box<str>, Box<str>, foldhash::quality::RandomState>;
#[cfg(not(speed))]
type Memo = HashMap<Box<str>, Box<str>>;

/// Runs `f` with digests of normalized values remembered (one `plan` call); nested calls
/// share the outer memo. The memo only saves work: a digest is a function of its input.
pub fn with_digest_memo<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            if self.0 {
                MEMO.with(|m| *m.borrow_mut() = None);
            }
        }
    }
    let installed = MEMO.with(|m| {
        let mut m = m.borrow_mut();
        m.is_none().then(|| *m = Some(Memo::default())).is_some()
    });
    let _reset = Reset(installed);
    f()
}

/// `f` of `sha256_hex` of a normalized value, through the memo when one is installed (a hit
/// copies nothing: `f` reads the memo's digest in place).
fn digest_with<R>(normalized: &str, f: impl FnOnce(&str) -> R) -> R {
    MEMO.with(|m| match m.borrow_mut().as_mut() {
        None => f(hex_str(&hex_digest(normalized))),
        Some(memo) => {
            if let Some(hex) = memo.get(normalized) {
                return f(hex);
            }
            if memo.len() >= MEMO_MAX {
                memo.clear();
            }
            f(memo.entry(normalized.into()).or_insert_with_key(|k| hex_str(&hex_digest(k)).into()))
        }
    })
}

/// The value normalized to nothing, so there is nothing to hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyAfterNormalization;

/// Normalize then hash, the way Segment's hashing helper does:
/// - a blank value gives `""` (Segment sends an empty string, so do we);
/// - an existing SHA-256 hex digest passes through (we lower-case it: Snap matches lower-case hex);
/// - a value that normalizes to blank is an error (Segment throws on it too).
pub fn normalize_and_hash(
    value: &str,
    normalize: fn(&str) -> String,
) -> Result<String, EmptyAfterNormalization> {
    hash_normalized(value, str::to_owned, |v, f| digest_if_not_blank(&normalize(v), f))
}

/// `normalize_and_hash` with a normalizer that writes into a buffer reused across calls.
pub fn normalize_and_hash_into(value: &str, normalize: NormalizeInto) -> Result<String, EmptyAfterNormalization> {
    normalize_and_hash_with(value, normalize, str::to_owned)
}

/// `normalize_and_hash_into` handing its result to `f` instead of returning a copy (a
/// request body writes the digest straight from the memo).
pub fn normalize_and_hash_with<R>(value: &str, normalize: NormalizeInto, f: impl FnOnce(&str) -> R) -> Result<R, EmptyAfterNormalization> {
    hash_normalized(value, f, |v, f| {
        NORMALIZED.with(|buf| {
            // A normalizer never calls back in here; should one, it gets its own buffer.
            match buf.try_borrow_mut() {
                Ok(mut buf) => {
                    buf.clear();
                    normalize(v, &mut buf);
                    digest_if_not_blank(&buf, f)
                }
                Err(_) => digest_if_not_blank(&owned(normalize, v), f),
            }
        })
    })
}

/// The blank and already-hashed cases given to `f`, else `digest(value, f)`.
fn hash_normalized<F: FnOnce(&str) -> R, R>(
    value: &str,
    f: F,
    digest: impl FnOnce(&str, F) -> Result<R, EmptyAfterNormalization>,
) -> Result<R, EmptyAfterNormalization> {
    if js_trim(value).is_empty() {
        return Ok(f(""));
    }
    if is_sha256_hex(value) {
        return Ok(f(&value.to_ascii_lowercase()));
    }
    digest(value, f)
}

fn digest_if_not_blank<R>(normalized: &str, f: impl FnOnce(&str) -> R) -> Result<R, EmptyAfterNormalization> {
    if js_trim(normalized).is_empty() {
        return Err(EmptyAfterNormalization);
    }
    Ok(digest_with(normalized, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known vectors: sha256 of the normalized strings (checked with `printf %s ... | sha256sum`).
    #[test]
    fn hash_vectors() {
        assert_eq!(
            normalize_and_hash("  John.Doe@Example.COM ", strip_lower).unwrap(),
            "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"
        );
        assert_eq!(sha256_hex("john.doe@example.com"), "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f");
        assert_eq!(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            normalize_and_hash("+1 (555) 010-9999", phone_digits).unwrap(),
            sha256_hex("15550109999")
        );
    }

    /// The memo gives every value the digest it has without one: repeats (hits), many
    /// distinct values (the memo starting over past MEMO_MAX), nested scopes; and it is gone
    /// after its scope.
    #[test]
    fn memo_gives_the_same_digests() {
        let values: Vec<String> = (0..MEMO_MAX + 700).map(|i| format!(" User{}@Example.com", i % (MEMO_MAX + 300))).collect();
        let plain: Vec<_> = values.iter().map(|v| normalize_and_hash(v, strip_lower)).collect();
        let memo: Vec<_> = with_digest_memo(|| {
            let mut out: Vec<_> = values.iter().map(|v| normalize_and_hash(v, strip_lower)).collect();
            // Hits right after the start-over, and a nested scope on the same memo.
            out.extend(with_digest_memo(|| values[..50].iter().map(|v| normalize_and_hash(v, strip_lower)).collect::<Vec<_>>()));
            assert!(MEMO.with(|m| m.borrow().as_ref().is_some_and(|m| !m.is_empty() && m.len() <= MEMO_MAX)));
            out
        });
        assert_eq!(memo[..values.len()], plain[..]);
        assert_eq!(memo[values.len()..], plain[..50]);
        assert_eq!(plain[0].as_deref(), Ok(sha256_hex("user0@example.com").as_str()));
        assert!(MEMO.with(|m| m.borrow().is_none()));
        // Other normalizers of the same raw value: keyed by the normalized text, so distinct.
        with_digest_memo(|| {
            assert_eq!(normalize_and_hash("0044 20", phone_digits).unwrap(), sha256_hex("4420"));
            assert_eq!(normalize_and_hash("0044 20", as_is).unwrap(), sha256_hex("0044 20"));
        });
    }

    proptest::proptest! {
        /// The ASCII path removes ASCII whitespace and lower-cases, byte by byte; appends
        /// after what `out` held.
        #[test]
        fn strip_lower_ascii_is_bytewise(s in "[ \t\n\u{b}\u{c}\r\u{1}aZ.@+0-9]{0,24}", before in "[a-zA-Z ]{0,3}") {
            let mut out = before.clone();
            strip_lower_into(&s, &mut out);
            let want: String = s.bytes().filter(|b| !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')).map(|b| b.to_ascii_lowercase() as char).collect();
            proptest::prop_assert_eq!(out, format!("{before}{want}"));
        }
    }

    #[test]
    fn phone_rules_follow_segment() {
        assert_eq!(phone_digits("+1 (555) 010-9999"), "15550109999");
        assert_eq!(phone_digits("0044 20 7946 0958"), "442079460958");
        assert_eq!(phone_digits("+0044 20"), "004420");
        assert_eq!(phone_digits(" 0123"), "0123");
        assert_eq!(phone_digits("٣٤٥"), "", "non-ASCII digits are not digits for \\D");
        assert_eq!(normalize_and_hash("abc", phone_digits), Err(EmptyAfterNormalization));
    }

    #[test]
    fn already_hashed_passes_through_lower_cased() {
        let h = sha256_hex("x");
        assert_eq!(normalize_and_hash(&h, strip_lower).unwrap(), h);
        assert_eq!(normalize_and_hash(&h.to_uppercase(), strip_lower).unwrap(), h);
        // 64 chars but not hex: hashed.
        let not_hex = "g".repeat(64);
        assert_eq!(normalize_and_hash(&not_hex, strip_lower).unwrap(), sha256_hex(&not_hex));
    }

    #[test]
    fn blank_values() {
        assert_eq!(normalize_and_hash("   ", strip_lower).unwrap(), "");
        assert_eq!(normalize_and_hash("\u{FEFF}", strip_lower).unwrap(), "");
        // U+0085 is not JS whitespace: it survives normalization.
        assert_eq!(strip_lower("A\u{85}B"), "a\u{85}b");
    }

    #[test]
    fn audience_rules_follow_segment() {
        assert_eq!(trim_lower("  Jane.Doe@Example.COM \u{FEFF}"), "jane.doe@example.com");
        assert_eq!(trim_lower("a b@x.com"), "a b@x.com", "inner spaces kept");
        assert_eq!(phone_prefixes("+1 (415) 555-0123"), "14155550123");
        assert_eq!(phone_prefixes("0044 20 7946 0958"), "442079460958");
        assert_eq!(phone_prefixes("000123"), "123", "00 then one 0");
        assert_eq!(phone_prefixes("0 12"), "12");
        assert_eq!(phone_prefixes("415.555.0123"), "415.555.0123", "dots are kept");
        assert_eq!(normalize_and_hash("()", phone_prefixes), Err(EmptyAfterNormalization));
    }

    #[test]
    fn places_and_gender() {
        assert_eq!(gender(" Male "), "m");
        assert_eq!(gender("FEMALE"), "f");
        assert_eq!(gender("Other"), "other");
        assert_eq!(state("New York"), "ny");
        assert_eq!(state("CA"), "ca");
        assert_eq!(country("United States"), "us");
        assert_eq!(country("Germany"), "de");
        assert_eq!(country("Atlantis"), "atlantis");
    }
}
