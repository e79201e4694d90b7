//! Event input and line output without recursion over untrusted structure.
//!
//! Input: a JSON array of events is split into its elements by a byte scanner (strings,
//! escapes and bracket depth only), and NDJSON into lines; each element is then checked
//! (size, nesting depth) and parsed on its own, so whatever one event contains, it gets its
//! own `INVALID_EVENT` line and the others are processed as if it were absent.
//!
//! Output: `write_js_json` writes a value exactly as `JSON.stringify(JSON.parse(serde_out))`
//! would in JS (number formatting, integer-like keys first), so NDJSON built here is
//! byte-for-byte what the JS glue printed before.

use crate::engine::Input;
use crate::json::{array_index, skip_ws, J};
use crate::error::{ErrorCode, EventError};
use serde_json::Value;

/// One event's text and, for NDJSON, its line number; parsed when the engine reaches it.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub text: &'a str,
    pub line: Option<usize>,
}

/// Largest accepted event, as serialized JSON. Segment's own API takes 32 KB per event; we
/// allow more, but a multi-megabyte "event" is a mistake that must not exhaust an edge
/// worker's memory or reach the destination.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// Deepest accepted nesting of arrays/objects in one event (the event object is level 1).
/// Real Segment events are under 10 deep; every later stage (mapping, FQL, schema) walks
/// values recursively, so depth is bounded once, here, before anything recurses.
pub const MAX_EVENT_DEPTH: usize = 64;

/// An element the JS glue could not serialize (cycle, too deep for `JSON.stringify`, a
/// throwing `toJSON`) is sent as `!` + a JSON object `{"message", "messageId"}`: never valid
/// JSON, so no event can be mistaken for it, and the event keeps its position.
const MARKER: u8 = b'!';

fn invalid(message: String) -> EventError {
    EventError::new(ErrorCode::InvalidEvent, message)
}

/// Splits a JSON array into its element texts (trimmed) without parsing them. Only the
/// array's own structure can fail the whole call; a broken element fails alone when parsed.
pub fn split_array(text: &str) -> Result<Vec<&str>, EventError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    walk_array(text, |i| match scan_element(b, i) {
        (end, Some(b',' | b']')) => {
            out.push(text[i..end].trim_matches(is_ws));
            Some(end)
        }
        _ => None,
    })?;
    Ok(out)
}

/// `split_array`, then `parse_event` of each element in order, in one pass over the text:
/// `each` gets every element's `Input` as it is reached (one event alive at a time). An
/// element the direct parser reads whole and that ends at its delimiter is parsed once, from
/// the array's text; any other element (invalid, a marker, too large or deep) is delimited by
/// the splitter's scan and handed to `parse_event`, so every element's `Input` and every error
/// of the array's own structure are exactly those of `split_array` + `parse_event`
/// (tests/fuzz.rs compares them). A structural error comes after the elements before it have
/// gone to `each`.
pub fn each_array_event<'a>(text: &'a str, mut each: impl FnMut(Input<'a>)) -> Result<(), EventError> {
    let b = text.as_bytes();
    let mut stacks = crate::json::Stacks::default();
    walk_array(text, |i| {
        let start = skip_ws(b, i);
        let direct = crate::json::parse_at(text, start, &mut stacks).and_then(|p| {
            let at = skip_ws(b, p.end);
            matches!(b.get(at), Some(b',' | b']')).then_some((p, at))
        });
        let (input, at) = match direct {
            Some((p, at)) => (parse_event_with(&text[start..p.end], None, Some((p.value, p.depth)), &mut stacks), at),
            None => match scan_element(b, i) {
                (end, Some(b',' | b']')) => (parse_event_in(text[i..end].trim_matches(is_ws), None, &mut stacks), end),
                _ => return None,
            },
        };
        each(input);
        Some(at)
    })
}

/// The array's own structure, shared by `split_array` and `each_array_event`: `[`, then
/// `element(i)` for each element from byte `i` (just past `[` or the previous `,`), which
/// returns the index of the `,` or `]` after it (`None`: the array is not terminated), then
/// nothing but whitespace after the `]`.
fn walk_array(text: &str, mut element: impl FnMut(usize) -> Option<usize>) -> Result<(), EventError> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return Err(invalid("events must be a JSON array".into()));
    }
    i += 1;
    if b.get(skip_ws(b, i)) == Some(&b']') {
        i = skip_ws(b, i) + 1;
    } else {
        loop {
            let at = element(i).ok_or_else(|| invalid("events are not valid JSON: the array is not terminated".into()))?;
            i = at + 1;
            if b[at] == b']' {
                break;
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return Err(invalid("events are not valid JSON: trailing characters after the array".into()));
    }
    Ok(())
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The structural bytes (`[ ] { } ,`) of a JSON text from `from` on that lie outside string
/// literals, with their indexes: what both scanners below need, without recursion. String
/// contents are skipped a run at a time.
fn outside_strings(b: &[u8], from: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut i = from.min(b.len());
    std::iter::from_fn(move || {
        while i < b.len() {
            let c = b[i];
            i += 1;
            match c {
                b'"' => {
                    // To the closing quote: skip escaped characters, stop at an unescaped quote
                    // (control characters are the parser's to reject, not this scan's).
                    while i < b.len() {
                        i = crate::js::plain_run(b, i);
                        match b.get(i) {
                            Some(b'\\') => i += 2,
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(_) => i += 1,
                            None => {}
                        }
                    }
                }
                b'[' | b']' | b'{' | b'}' | b',' => return Some((i - 1, c)),
                _ => {}
            }
        }
        None
    })
}

/// From `i`, finds the `,` or `]` that ends the current array element at depth 0. Returns
/// its index and the byte (None at end of input).
fn scan_element(b: &[u8], i: usize) -> (usize, Option<u8>) {
    let mut depth = 0usize;
    for (at, c) in outside_strings(b, i) {
        match c {
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth == 0 => return (at, Some(c)),
            b']' | b'}' => depth -= 1,
            b',' if depth == 0 => return (at, Some(c)),
            _ => {}
        }
    }
    (b.len().max(i), None)
}

/// Deepest array/object nesting in a JSON text (strings skipped), without recursion.
pub fn max_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for (_, c) in outside_strings(text.as_bytes(), 0) {
        match c {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The values of `keys` in a JSON object, each `None` when absent or null (other keys skipped
/// without building them), as a serde-derived struct of `Option<Value>` fields reads them: also
/// from an array of exactly that many values, in order; `None` for any other JSON, a repeated
/// key or invalid JSON. A visitor that answers every kind itself: serde's typed paths (`String`,
/// derived structs) link its type-error messages and with them core's float formatting, about
/// 7 KB gzipped of wasm (docs/performance.md, "Size").
fn fields<const N: usize>(text: &str, keys: [&str; N]) -> Option<[Option<Value>; N]> {
    use serde::de::{Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Fields<'k, const N: usize>(&'k [&'k str; N]);
    type Out<const N: usize> = [Option<Value>; N];
    fn no<T, E: Error>() -> Result<T, E> {
        Err(E::custom("not the expected object"))
    }
    impl<'de, const N: usize> Visitor<'de> for Fields<'_, N> {
        type Value = Out<N>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Out<N>, A::Error> {
            let mut out: Out<N> = std::array::from_fn(|_| None);
            let mut seen = [false; N];
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match self.0.iter().position(|key| *key == k) {
                    Some(i) if seen[i] => return no(),
                    Some(i) => {
                        seen[i] = true;
                        out[i] = map.next_value()?;
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Out<N>, A::Error> {
            let mut out: Out<N> = std::array::from_fn(|_| None);
            for o in &mut out {
                *o = seq.next_element::<Option<Value>>()?.ok_or_else(|| A::Error::custom("too short"))?;
            }
            Ok(out)
        }
        fn visit_bool<E: Error>(self, _: bool) -> Result<Out<N>, E> {
            no()
        }
        fn visit_i64<E: Error>(self, _: i64) -> Result<Out<N>, E> {
            no()
        }
        fn visit_u64<E: Error>(self, _: u64) -> Result<Out<N>, E> {
            no()
        }
        fn visit_f64<E: Error>(self, _: f64) -> Result<Out<N>, E> {
            no()
        }
        fn visit_str<E: Error>(self, _: &str) -> Result<Out<N>, E> {
            no()
        }
        fn visit_unit<E: Error>(self) -> Result<Out<N>, E> {
            no()
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = serde::Deserializer::deserialize_any(&mut de, Fields(&keys)).ok()?;
    de.end().ok()?;
    Some(out)
}

/// The top-level `messageId` of an event we reject before parsing, for its result line.
/// serde skips the other fields iteratively (no recursion), so this works on deep input.
fn shallow_message_id(text: &str) -> Option<String> {
    let [id] = fields(text, ["messageId"])?;
    match id? {
        Value::String(s) => Some(s),
        n @ Value::Number(_) => Some(crate::js::to_js_string(&n)),
        _ => None,
    }
}

/// One event's text into an `Input`: parsed, or rejected with a clear reason. `line` is the
/// NDJSON line number, named in the message so a rejected line can be found.
pub fn parse_event(text: &str, line: Option<usize>) -> Input<'_> {
    parse_event_in(text, line, &mut crate::json::Stacks::default())
}

/// `parse_event` with the caller's scratch stacks for the parser (`json::Stacks`), which the
/// texts of one call share.
pub fn parse_event_in<'a>(text: &'a str, line: Option<usize>, stacks: &mut crate::json::Stacks<'a>) -> Input<'a> {
    parse_event_with(text, line, None, stacks)
}

/// `parse_event` of a text the direct parser may have read already (`parsed`: its value and
/// depth).
fn parse_event_with<'a>(text: &'a str, line: Option<usize>, parsed: Option<(J<'a>, usize)>, stacks: &mut crate::json::Stacks<'a>) -> Input<'a> {
    let at = |m: String| match line {
        Some(n) => format!("line {n}: {m}"),
        None => m,
    };
    let reject = |message_id, message: String| Input::Rejected { message_id, error: invalid(message) };
    if text.as_bytes().first() == Some(&MARKER) {
        // `message` a string, `messageId` a string or absent / null.
        return match fields(&text[1..], ["message", "messageId"]) {
            Some([Some(Value::String(message)), None]) => reject(None, message),
            Some([Some(Value::String(message)), Some(Value::String(id))]) => reject(Some(id), message),
            _ => reject(None, "event is not valid JSON".into()),
        };
    }
    if text.len() > MAX_EVENT_BYTES {
        return reject(shallow_message_id(text), at(format!("The event is {} bytes; the limit is {MAX_EVENT_BYTES}", text.len())));
    }
    // Depth is the parsed tree's, counted by the parser (serde_json stops at 128 levels, so
    // parsing itself stays bounded): no separate scan of every event's text.
    let too_deep = || reject(shallow_message_id(text), at(format!("The event is nested deeper than {MAX_EVENT_DEPTH} levels")));
    match parsed.map_or_else(|| crate::json::parse_measured_in(text, stacks), Ok) {
        Ok((_, depth)) if depth > MAX_EVENT_DEPTH => too_deep(),
        Ok((v, _)) => Input::Event(v),
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => too_deep(),
        Err(e) => {
            // serde's message names line/column only, never the content.
            let s = e.to_string();
            let why = if s.contains("number out of range") {
                format!("a number is beyond the range of a 64-bit float ({s})")
            } else if s.contains("surrogate") || s.contains("hex escape") {
                // JSON.stringify writes a lone surrogate as `\udXXX`; Rust strings cannot hold it.
                format!("a string has an unpaired UTF-16 surrogate ({s})")
            } else {
                s
            };
            let message = match line {
                Some(n) => format!("line {n} is not valid JSON: {why}"),
                None => format!("event is not valid JSON: {why}"),
            };
            // The id is still read (serde skips the other strings without decoding them), so
            // the caller can match the rejection to its event.
            reject(shallow_message_id(text), message)
        }
    }
}

/// A JSON array of events, each to be parsed on its own.
pub fn events_from_array(text: &str) -> Result<Vec<Piece<'_>>, EventError> {
    Ok(split_array(text)?.into_iter().map(|text| Piece { text, line: None }).collect())
}

/// NDJSON events (blank lines skipped); `first_line` numbers the first line of `text`.
pub fn events_from_ndjson(text: &str, first_line: usize) -> Vec<Piece<'_>> {
    text.split('\n')
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim_matches(is_ws);
            (!l.is_empty()).then_some(Piece { text: l, line: Some(first_line + i) })
        })
        .collect()
}

/// Appends `v` as `JSON.stringify` writes the value JS gets from `JSON.parse` of serde's
/// output: numbers as JS prints them (`1.0` -> `1`, integers past 2^53 rounded), object keys
/// that are array indices first in ascending order, strings escaped the same way. Values
/// here are our own output (bounded by `MAX_EVENT_DEPTH` plus a few levels), so recursion
/// is safe.
pub fn write_js_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => crate::json::write_num(n.as_f64().unwrap_or(0.0), out),
        Value::String(s) => crate::js::quote_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut index_keys: Vec<(u32, &String, &Value)> =
                m.iter().filter_map(|(k, v)| array_index(k).map(|n| (n, k, v))).collect();
            crate::order::stable_sort_by_key(&mut index_keys, |(n, _, _)| u64::from(*n));
            let rest = m.iter().filter(|(k, _)| array_index(k).is_none());
            out.push('{');
            for (i, (k, v)) in index_keys.into_iter().map(|(_, k, v)| (k, v)).chain(rest).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::js::quote_json_string(k, out);
                out.push(':');
                write_js_json(v, out);
            }
            out.push('}');
        }
    }
}

/// Lines as NDJSON text (each line followed by `\n`).
pub fn ndjson(lines: &[Value]) -> String {
    let mut out = String::new();
    for l in lines {
        write_js_json(l, &mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `fields` reads what a serde-derived struct of `Option<Value>` fields read before it.
    #[test]
    fn fields_read_as_a_derived_struct_did() {
        #[derive(serde::Deserialize)]
        struct Derived {
            #[serde(rename = "messageId")]
            message_id: Option<Value>,
            message: Option<Value>,
        }
        let cases = [
            r#"{"messageId":"m","message":"x","other":{"deep":[1,2]}}"#,
            r#"{"messageId":7.5}"#,
            r#"{"messageId":null,"message":[1]}"#,
            r#"{"message\u0049d":"escaped"}"#,
            r#"{}"#,
            r#"{"messageId":"a","messageId":"b"}"#,
            r#"["m","x"]"#,
            r#"["m"]"#,
            r#"["m","x",3]"#,
            r#""text""#,
            "12",
            "true",
            "null",
            r#"{"messageId":"m"} x"#,
            r#"{"messageId":"#,
        ];
        for text in cases {
            let derived = serde_json::from_str::<Derived>(text).ok().map(|d| [d.message_id, d.message]);
            assert_eq!(fields(text, ["messageId", "message"]), derived, "{text}");
        }
    }

    fn rejected(i: &Input) -> Option<String> {
        match i {
            Input::Rejected { error, .. } => Some(error.message.clone()),
            Input::Event(_) => None,
        }
    }

    fn parsed<'a>(pieces: Vec<Piece<'a>>) -> Vec<Input<'a>> {
        pieces.into_iter().map(|p| parse_event(p.text, p.line)).collect()
    }

    #[test]
    fn splits_without_parsing_and_keeps_positions() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let text = format!(r#"[ {{"a":"x,]}}\"["}}, {deep} , 3,"s", {{"b":[1,{{}}]}} ]"#);
        let parts = split_array(&text).unwrap();
        assert_eq!(parts, vec![r#"{"a":"x,]}\"["}"#, deep.as_str(), "3", r#""s""#, r#"{"b":[1,{}]}"#]);
        assert_eq!(split_array(" [ ] ").unwrap(), Vec::<&str>::new());
        assert!(split_array("{}").is_err());
        assert!(split_array("[1,2").is_err());
        assert!(split_array("[1] x").is_err());
    }

    #[test]
    fn each_bad_event_is_rejected_alone() {
        let deep = format!(r#"{{"type":"track","messageId":"deep","p":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        let text = format!(r#"[{{"type":"track"}},{deep},{{"x":1e400}},{{"s":"\ud800"}},!{{"message":"cycle","messageId":"c"}},{{"ok":1}}]"#);
        let inputs = parsed(events_from_array(&text).unwrap());
        assert_eq!(inputs.len(), 6);
        assert!(rejected(&inputs[0]).is_none() && rejected(&inputs[5]).is_none());
        assert_eq!(rejected(&inputs[1]).as_deref(), Some("The event is nested deeper than 64 levels"));
        match &inputs[1] {
            Input::Rejected { message_id, .. } => assert_eq!(message_id.as_deref(), Some("deep")),
            _ => unreachable!(),
        }
        assert!(rejected(&inputs[2]).unwrap().contains("beyond the range of a 64-bit float"));
        assert!(rejected(&inputs[3]).unwrap().contains("unpaired UTF-16 surrogate"), "{:?}", rejected(&inputs[3]));
        assert_eq!(rejected(&inputs[4]).as_deref(), Some("cycle"));
    }

    #[test]
    fn ndjson_lines_are_numbered() {
        let inputs = parsed(events_from_ndjson("{\"a\":1}\n\n oops\r\n{\"b\":2}", 10));
        assert_eq!(inputs.len(), 3);
        assert!(rejected(&inputs[1]).unwrap().starts_with("line 12 is not valid JSON"));
    }

    #[test]
    fn writes_like_json_stringify() {
        let v: Value = serde_json::from_str(r#"{"b":1.0,"10":true,"a":[1e21,1.5e-7,-0.0,12345678901234567890,9007199254740993],"2":"\u0001\n\"é\u2028","01":null}"#).unwrap();
        let mut s = String::new();
        write_js_json(&v, &mut s);
        assert_eq!(s, r#"{"2":"\u0001\n\"é"#.to_string() + "\u{2028}" + r#"","10":true,"b":1,"a":[1e+21,1.5e-7,0,12345678901234567000,9007199254740992],"01":null}"#);
        assert_eq!(ndjson(&[json!(1), json!({"x": "y"})]), "1\n{\"x\":\"y\"}\n");
    }
}
