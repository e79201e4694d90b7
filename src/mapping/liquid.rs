//! `@liquid`: the part of Liquid (as liquidjs renders it under Segment's restrictions) that we
//! support: `{{ output | filters }}`, `{% if/elsif/else/unless %}`, `assign`, `capture`,
//! `echo`, `comment`, `raw`, `#` comments and whitespace control. Tags and filters Segment
//! disables are errors (as in Segment); other Liquid features we lack are errors too.
use super::value::{JsVal, array_index};
use crate::js::{js_trim, js_trim_end, js_trim_start, utf16_len};
use std::borrow::Cow;

const MAX_TEMPLATE_LEN: usize = 1000;
const MAX_NESTING: usize = 32;
/// Largest rendered output.
const MAX_OUTPUT_BYTES: usize = 16 << 20;
/// Bytes all filters and ranges of one render may produce, counted cumulatively (Segment gives
/// liquidjs `memoryLimit: 1e8` and a 500 ms `renderLimit`; an edge worker has far less memory,
/// and a 1000-character template has no use for more). Without it, `assign` + `append`
/// doubling a string 40 times, or `replace: "", long` on a long string, exhausted memory.
const MAX_MEMORY_BYTES: usize = 16 << 20;
/// Most items a range `(a..b)` may have.
const MAX_RANGE_ITEMS: usize = 10_000;

fn out_of_memory() -> String {
    format!("liquid template needs more than {} MiB of memory (the limit)", MAX_MEMORY_BYTES >> 20)
}

const DISABLED_TAGS: &[&str] = &["case", "for", "include", "layout", "render", "tablerow"];
const DISABLED_FILTERS: &[&str] = &[
    "array_to_sentence_string", "concat", "find", "find_exp", "find_index", "find_index_exp", "group_by",
    "group_by_exp", "has", "has_exp", "map", "newline_to_br", "reject", "reject_exp", "reverse", "sort",
    "sort_natural", "uniq", "where_exp", "type",
];

pub fn evaluate(template: &str, event: &JsVal) -> Result<JsVal, String> {
    if template.is_empty() {
        return Ok(JsVal::str(""));
    }
    if utf16_len(template) > MAX_TEMPLATE_LEN {
        return Err(format!("liquid templates are limited to {MAX_TEMPLATE_LEN} characters"));
    }
    let toks = tokenize(template)?;
    let mut pos = 0;
    let nodes = parse_block(&toks, &mut pos, &[], 0)?.0;
    let mut r = Renderer { event, vars: Vec::new(), out_len: 0, used: std::cell::Cell::new(0) };
    let mut out = String::new();
    r.render(&nodes, &mut out)?;
    Ok(JsVal::Str(out))
}

// ------------------------------------------------------------------ tokens

#[derive(Debug)]
enum Tok {
    Text(String),
    Output(String),
    Tag(String, String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    while i < s.len() {
        let rest = &s[i..];
        let next = [rest.find("{{"), rest.find("{%")].into_iter().flatten().min();
        let Some(off) = next else {
            push_text(&mut toks, &s[i..], trim_next, false);
            break;
        };
        let is_output = rest[off..].starts_with("{{");
        let inner_start = i + off + 2;
        let close = if is_output { "}}" } else { "%}" };
        let end = find_close(s, inner_start, close, is_output).ok_or_else(|| {
            format!("{} \"{}\" not closed", if is_output { "output" } else { "tag" }, &s[i + off..])
        })?;
        let mut inner = &s[inner_start..end];
        let trim_left = inner.starts_with('-');
        if trim_left {
            inner = &inner[1..];
        }
        let trim_right = inner.ends_with('-');
        if trim_right {
            inner = &inner[..inner.len() - 1];
        }
        push_text(&mut toks, &s[i..i + off], trim_next, trim_left);
        trim_next = trim_right;
        i = end + 2;
        if is_output {
            toks.push(Tok::Output(inner.to_string()));
            continue;
        }
        let inner = js_trim(inner);
        let name_len = inner.find(|c: char| c.is_whitespace()).unwrap_or(inner.len());
        let (name, args) = (&inner[..name_len], js_trim(&inner[name_len..]));
        let name = if name.starts_with('#') { "#" } else { name };
        if name == "raw" {
            // Everything up to `{% endraw %}` is literal text.
            let body_end = find_endraw(s, i).ok_or("raw tag not closed")?;
            toks.push(Tok::Text(s[i..body_end.0].to_string()));
            i = body_end.1;
            trim_next = body_end.2;
            continue;
        }
        toks.push(Tok::Tag(name.to_string(), args.to_string()));
    }
    Ok(toks)
}

/// Finds the closing delimiter; outputs skip over quoted strings (`{{ "}}" }}`), tags do not.
fn find_close(s: &str, from: usize, close: &str, respect_quotes: bool) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') if respect_quotes => {
                // Skip the quoted string; a backslash escapes the next character.
                let mut escaped = false;
                i += 1;
                loop {
                    let c = *b.get(i)?;
                    i += 1;
                    if c == q && !escaped {
                        break;
                    }
                    escaped = !escaped && c == b'\\';
                }
            }
            _ if b[i..].starts_with(close.as_bytes()) => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// (start of `{%`, end after `%}`, trim-right flag) of the `endraw` tag.
fn find_endraw(s: &str, from: usize) -> Option<(usize, usize, bool)> {
    let mut i = from;
    while let Some(off) = s[i..].find("{%") {
        let start = i + off;
        let end = s[start..].find("%}")? + start;
        let inner = &s[start + 2..end];
        let trimmed = js_trim(inner.trim_start_matches('-').trim_end_matches('-'));
        if trimmed == "endraw" {
            return Some((start, end + 2, inner.ends_with('-')));
        }
        i = start + 2;
    }
    None
}

fn push_text(toks: &mut Vec<Tok>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = js_trim_start(t);
    }
    if trim_end {
        t = js_trim_end(t);
    }
    if !t.is_empty() {
        toks.push(Tok::Text(t.to_string()));
    }
}

// ------------------------------------------------------------------ syntax tree

#[derive(Debug)]
enum Node {
    Text(String),
    Output(Expr),
    If { branches: Vec<(Cond, Vec<Node>)>, otherwise: Vec<Node> },
    Assign(String, Expr),
    Capture(String, Vec<Node>),
}

/// A value with filters.
#[derive(Debug)]
struct Expr {
    base: Operand,
    filters: Vec<(String, Vec<FilterArg>)>,
}

/// A filter argument, optionally named (`allow_false: true`).
type FilterArg = (Option<String>, Operand);
/// Nodes of a block plus the tag (name, arguments) that ended it.
type Block = (Vec<Node>, Option<(String, String)>);

#[derive(Debug, Clone)]
enum Operand {
    Lit(LVal<'static>),
    /// A variable and its properties (`a.b[0]`): the first segment names the variable.
    Path(Vec<Seg>),
    /// Properties of a literal (`empty.size`, `'abc'[1]`): liquidjs reads them off the value.
    LitPath(LVal<'static>, Vec<Seg>),
    Range(Box<Operand>, Box<Operand>),
}

#[derive(Debug, Clone)]
enum Seg {
    Name(String),
    Index(Operand),
}

#[derive(Debug)]
enum Cond {
    Value(Operand),
    Not(Box<Cond>),
    Cmp(String, Operand, Operand),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

/// Liquid-level value: a JS value, or one of liquidjs's drop objects for the literals `nil` /
/// `null`, `empty` and `blank`. Drops stay drops through variables, filter inputs and arguments
/// (and `default`'s fallback): `json` prints them as `{}`, comparisons ask the drop, and
/// only `toValue` (output, most filters) turns them into `null` / `""`.
///
/// Values read from the event are borrowed, so an object keeps its identity: JS compares
/// objects by reference, and two distinct `{}` are not `==`.
#[derive(Debug, Clone)]
enum LVal<'a> {
    V(Cow<'a, JsVal>),
    Nil,
    Empty,
    Blank,
}

impl<'a> LVal<'a> {
    fn own(v: JsVal) -> Self {
        LVal::V(Cow::Owned(v))
    }

    /// liquidjs `toValue`: a drop's `valueOf()` (`null` for nil, `""` for empty/blank).
    fn to_value(&self) -> Cow<'_, JsVal> {
        match self {
            LVal::V(v) => Cow::Borrowed(v.as_ref()),
            LVal::Nil => Cow::Owned(JsVal::Null),
            LVal::Empty | LVal::Blank => Cow::Owned(JsVal::str("")),
        }
    }

    fn is_drop(&self) -> bool {
        !matches!(self, LVal::V(_))
    }

    /// JS truthiness of the raw value (`if (x)` in a filter): drops are objects, so truthy.
    fn js_truthy(&self) -> bool {
        match self {
            LVal::V(v) => v.truthy(),
            _ => true,
        }
    }
}

fn parse_block(toks: &[Tok], pos: &mut usize, ends: &[&str], depth: usize) -> Result<Block, String> {
    if depth > MAX_NESTING {
        return Err(format!("liquid template nests deeper than {MAX_NESTING} levels (the limit)"));
    }
    let mut nodes = Vec::new();
    while let Some(t) = toks.get(*pos) {
        *pos += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Output(src) => nodes.push(Node::Output(parse_expr(src)?)),
            Tok::Tag(name, args) => {
                if ends.contains(&name.as_str()) {
                    return Ok((nodes, Some((name.clone(), args.clone()))));
                }
                match name.as_str() {
                    "#" => {}
                    "assign" => {
                        let (var, rhs) = args.split_once('=').ok_or("assign requires `name = value`")?;
                        let var = js_trim(var);
                        if !is_ident(var) {
                            return Err(format!("illegal assign variable {var:?}"));
                        }
                        nodes.push(Node::Assign(var.to_string(), parse_expr(rhs)?));
                    }
                    "echo" => nodes.push(Node::Output(parse_expr(args)?)),
                    "capture" => {
                        let var = args.trim_matches(['"', '\'']);
                        if !is_ident(var) {
                            return Err(format!("invalid capture name {args:?}"));
                        }
                        let (body, end) = parse_block(toks, pos, &["endcapture"], depth + 1)?;
                        end.ok_or("capture not closed")?;
                        nodes.push(Node::Capture(var.to_string(), body));
                    }
                    "comment" => {
                        // Skip to the matching endcomment (comments may nest).
                        let mut level = 1;
                        loop {
                            match toks.get(*pos) {
                                None => return Err("comment not closed".into()),
                                Some(Tok::Tag(n, _)) if n == "comment" => level += 1,
                                Some(Tok::Tag(n, _)) if n == "endcomment" => level -= 1,
                                _ => {}
                            }
                            *pos += 1;
                            if level == 0 {
                                break;
                            }
                        }
                    }
                    "if" | "unless" => {
                        let unless = name == "unless";
                        let mut branches = Vec::new();
                        let mut otherwise = Vec::new();
                        let mut cond = parse_cond(args)?;
                        if unless {
                            cond = Cond::Not(Box::new(cond));
                        }
                        let closer = if unless { "endunless" } else { "endif" };
                        loop {
                            let (body, end) = parse_block(toks, pos, &["elsif", "else", closer], depth + 1)?;
                            let (end_name, end_args) = end.ok_or(format!("tag {name} not closed"))?;
                            branches.push((cond, body));
                            match end_name.as_str() {
                                "elsif" => cond = parse_cond(&end_args)?,
                                "else" => {
                                    let (body, end) = parse_block(toks, pos, &[closer], depth + 1)?;
                                    end.ok_or(format!("tag {name} not closed"))?;
                                    otherwise = body;
                                    break;
                                }
                                _ => break,
                            }
                        }
                        nodes.push(Node::If { branches, otherwise });
                    }
                    n if DISABLED_TAGS.contains(&n) => return Err(format!("tag \"{n}\" is disabled")),
                    n => return Err(format!("tag \"{n}\" is not supported")),
                }
            }
        }
    }
    if ends.is_empty() { Ok((nodes, None)) } else { Err(format!("missing {}", ends.join("/"))) }
}

/// A variable name for `assign` / `capture`: liquidjs reads a run of word characters.
fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_word)
}

// ------------------------------------------------------------------ expression lexer

#[derive(Debug, Clone, PartialEq)]
enum Lx {
    Ident(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
    Op(String),
}

/// liquidjs's blank characters (its tokenizer's character table).
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{180e}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}'
            | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// liquidjs's word characters (identifiers): ASCII letters, digits, `_`, `-`, `?`, and every
/// non-ASCII character that is not blank.
fn is_word(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '?') } else { !is_blank(c) }
}

/// End (exclusive) of a number literal at `i` as liquidjs's `readNumber` accepts it: an
/// optional sign, digits with at most one `.` (not `..`), and no word character right after.
fn number_end(cs: &[char], i: usize) -> Option<usize> {
    let mut n = i;
    if matches!(cs.get(n), Some('+' | '-')) {
        n += 1;
    }
    let (mut digit, mut dot) = (false, false);
    while let Some(&c) = cs.get(n) {
        if c.is_ascii_digit() {
            digit = true;
        } else if c == '.' && cs.get(n + 1) != Some(&'.') {
            if dot || !digit {
                return None;
            }
            dot = true;
        } else {
            break;
        }
        n += 1;
    }
    (digit && !cs.get(n).is_some_and(|&c| is_word(c))).then_some(n)
}

/// End (exclusive, after the closing quote) of a quoted string at `i`; `\` escapes.
fn quoted_end(cs: &[char], i: usize) -> Option<usize> {
    let mut escaped = false;
    for (j, &c) in cs.iter().enumerate().skip(i + 1) {
        if c == cs[i] && !escaped {
            return Some(j + 1);
        }
        escaped = !escaped && c == '\\';
    }
    None
}

/// liquidjs `parseStringLiteral` on the text between the quotes (on UTF-16 units).
fn unescape(body: &[char]) -> String {
    let s: String = body.iter().collect();
    let u: Vec<u16> = s.encode_utf16().collect();
    let hex = |c: u16| char::from_u32(u32::from(c)).and_then(|c| c.to_digit(16));
    let oct = |c: u16| char::from_u32(u32::from(c)).and_then(|c| c.to_digit(8));
    let mut out: Vec<u16> = Vec::with_capacity(u.len());
    let mut i = 0;
    while i < u.len() {
        if u[i] != u16::from(b'\\') {
            out.push(u[i]);
            i += 1;
            continue;
        }
        let next = u.get(i + 1).copied();
        let simple = next.and_then(|c| match char::from_u32(u32::from(c))? {
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(10),
            'r' => Some(13),
            't' => Some(9),
            'v' => Some(11),
            _ => None,
        });
        if let Some(code) = simple {
            out.push(code);
            i += 2;
        } else if next == Some(u16::from(b'u')) {
            let mut j = i + 2;
            let mut val: u32 = 0;
            while let Some(d) = u.get(j).copied().and_then(hex).filter(|_| j <= i + 5) {
                val = val * 16 + d;
                j += 1;
            }
            out.push(val as u16);
            i = j;
        } else if let Some(c) = next.filter(|&c| oct(c).is_none()) {
            out.push(c);
            i += 2;
        } else if next.is_none() {
            i += 1;
        } else {
            let mut j = i + 1;
            let mut val: u32 = 0;
            while let Some(d) = u.get(j).copied().and_then(oct).filter(|_| j <= i + 3) {
                val = val * 8 + d;
                j += 1;
            }
            out.push(val as u16);
            i = j;
        }
    }
    String::from_utf16_lossy(&out)
}

fn lex(src: &str) -> Result<Vec<Lx>, String> {
    let cs: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if is_blank(c) {
            i += 1;
        } else if out.last() == Some(&Lx::Punct(".")) && cs[i - 1] == '.' && is_word(c) {
            // A property name after `.` is any run of word characters (`a.1`, `a.-1`, `a.and`).
            let start = i;
            while i < cs.len() && is_word(cs[i]) {
                i += 1;
            }
            out.push(Lx::Ident(cs[start..i].iter().collect()));
        } else if c == '"' || c == '\'' {
            // An unterminated string (possible in a tag) runs to the end, and liquidjs then
            // drops its last character as if it were the closing quote.
            let end = quoted_end(&cs, i).unwrap_or(cs.len());
            out.push(Lx::Str(unescape(&cs[(i + 1).min(end - 1)..end - 1])));
            i = end;
        } else if let Some(end) = number_end(&cs, i) {
            let s: String = cs[i..end].iter().collect();
            out.push(Lx::Num(crate::js::string_to_number(&s)));
            i = end;
        } else if is_word(c) {
            let start = i;
            while i < cs.len() && is_word(cs[i]) {
                i += 1;
            }
            let w: String = cs[start..i].iter().collect();
            if matches!(w.as_str(), "and" | "or" | "contains" | "not") {
                out.push(Lx::Op(w));
            } else {
                out.push(Lx::Ident(w));
            }
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            if ["==", "!=", "<>", ">=", "<=", ".."].contains(&two.as_str()) {
                out.push(if two == ".." { Lx::Punct("..") } else { Lx::Op(two) });
                i += 2;
                continue;
            }
            let p = match c {
                '.' => ".",
                '[' => "[",
                ']' => "]",
                '(' => "(",
                ')' => ")",
                '|' => "|",
                ':' => ":",
                ',' => ",",
                '<' | '>' => {
                    out.push(Lx::Op(c.to_string()));
                    i += 1;
                    continue;
                }
                _ => return Err(format!("unexpected character {c:?} in liquid expression")),
            };
            out.push(Lx::Punct(p));
            i += 1;
        }
    }
    Ok(out)
}

struct P {
    t: Vec<Lx>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&Lx> {
        self.t.get(self.i)
    }
    fn punct(&mut self, p: &str) -> bool {
        if self.peek() == Some(&Lx::Punct(match p {
            "." => ".",
            "[" => "[",
            "]" => "]",
            "|" => "|",
            ":" => ":",
            "," => ",",
            "(" => "(",
            ")" => ")",
            _ => "..",
        })) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn operand(&mut self, depth: usize) -> Result<Operand, String> {
        if depth > MAX_NESTING {
            return Err(format!("liquid expression nests deeper than {MAX_NESTING} levels (the limit)"));
        }
        let tok = self.peek().cloned().ok_or("missing value")?;
        self.i += 1;
        match tok {
            Lx::Str(s) => self.literal(LVal::own(JsVal::Str(s)), depth),
            Lx::Num(n) => Ok(Operand::Lit(LVal::own(JsVal::Num(n)))),
            Lx::Punct("(") => {
                let lo = self.operand(depth + 1)?;
                if !self.punct("..") {
                    return Err("expected range".into());
                }
                let hi = self.operand(depth + 1)?;
                if !self.punct(")") {
                    return Err("expected )".into());
                }
                Ok(Operand::Range(Box::new(lo), Box::new(hi)))
            }
            Lx::Punct("[") => {
                let k = self.operand(depth + 1)?;
                if !self.punct("]") {
                    return Err("expected ]".into());
                }
                Ok(Operand::Path(self.path_rest(vec![Seg::Index(k)], depth)?))
            }
            Lx::Ident(w) => {
                // A literal keyword stays the literal even with properties after it
                // (`empty.size` reads `size` off the drop, not a variable named "empty").
                let lit = match w.as_str() {
                    "true" => LVal::own(JsVal::Bool(true)),
                    "false" => LVal::own(JsVal::Bool(false)),
                    "nil" | "null" => LVal::Nil,
                    "empty" => LVal::Empty,
                    "blank" => LVal::Blank,
                    _ => return Ok(Operand::Path(self.path_rest(vec![Seg::Name(w)], depth)?)),
                };
                self.literal(lit, depth)
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
    /// A literal, or a literal followed by property accesses.
    fn literal(&mut self, lit: LVal<'static>, depth: usize) -> Result<Operand, String> {
        let segs = self.path_rest(Vec::new(), depth)?;
        Ok(if segs.is_empty() { Operand::Lit(lit) } else { Operand::LitPath(lit, segs) })
    }
    fn path_rest(&mut self, mut segs: Vec<Seg>, depth: usize) -> Result<Vec<Seg>, String> {
        loop {
            if self.punct(".") {
                match self.peek().cloned() {
                    Some(Lx::Ident(w)) => segs.push(Seg::Name(w)),
                    Some(Lx::Num(n)) if n.fract() == 0.0 && n >= 0.0 => segs.push(Seg::Name(crate::js::number_to_string(n))),
                    Some(Lx::Op(w)) => segs.push(Seg::Name(w)),
                    _ => return Err("expected property name".into()),
                }
                self.i += 1;
            } else if self.punct("[") {
                let k = self.operand(depth + 1)?;
                if !self.punct("]") {
                    return Err("expected ]".into());
                }
                segs.push(Seg::Index(k));
            } else {
                return Ok(segs);
            }
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        let base = self.operand(0)?;
        let mut filters = Vec::new();
        while self.punct("|") {
            let Some(Lx::Ident(name)) = self.peek().cloned() else {
                return Err("expected filter name".into());
            };
            self.i += 1;
            let mut args = Vec::new();
            if self.punct(":") {
                loop {
                    let named = match (self.t.get(self.i), self.t.get(self.i + 1)) {
                        (Some(Lx::Ident(k)), Some(Lx::Punct(":"))) => Some(k.clone()),
                        _ => None,
                    };
                    if named.is_some() {
                        self.i += 2;
                    }
                    args.push((named, self.operand(0)?));
                    if !self.punct(",") {
                        break;
                    }
                }
            }
            filters.push((name, args));
        }
        Ok(Expr { base, filters })
    }
}

fn parse_expr(src: &str) -> Result<Expr, String> {
    let mut p = P { t: lex(src)?, i: 0 };
    if p.t.is_empty() {
        return Err("invalid value expression: empty".into());
    }
    let e = p.expr()?;
    if p.i != p.t.len() {
        return Err(format!("unexpected trailing input in {src:?}"));
    }
    Ok(e)
}

/// Conditions: comparisons bind tighter than `not`, which binds tighter than `and`/`or`;
/// `and`/`or` share one level and group from the right.
fn parse_cond(src: &str) -> Result<Cond, String> {
    let mut p = P { t: lex(src)?, i: 0 };
    let c = cond_or(&mut p)?;
    if p.i != p.t.len() {
        return Err(format!("unexpected trailing input in condition {src:?}"));
    }
    Ok(c)
}

fn cond_or(p: &mut P) -> Result<Cond, String> {
    let lhs = cond_not(p)?;
    match p.peek() {
        Some(Lx::Op(o)) if o == "and" || o == "or" => {
            let is_and = o == "and";
            p.i += 1;
            let rhs = cond_or(p)?;
            Ok(if is_and { Cond::And(Box::new(lhs), Box::new(rhs)) } else { Cond::Or(Box::new(lhs), Box::new(rhs)) })
        }
        _ => Ok(lhs),
    }
}

fn cond_not(p: &mut P) -> Result<Cond, String> {
    if matches!(p.peek(), Some(Lx::Op(o)) if o == "not") {
        p.i += 1;
        return Ok(Cond::Not(Box::new(cond_not(p)?)));
    }
    let lhs = p.operand(0)?;
    match p.peek().cloned() {
        Some(Lx::Op(o)) if !matches!(o.as_str(), "and" | "or" | "not") => {
            p.i += 1;
            let rhs = p.operand(0)?;
            Ok(Cond::Cmp(o, lhs, rhs))
        }
        _ => Ok(Cond::Value(lhs)),
    }
}

// ------------------------------------------------------------------ rendering

struct Renderer<'a> {
    event: &'a JsVal,
    /// Assigned variables; kept as Liquid values because `nil` is an object in liquidjs.
    vars: Vec<(String, LVal<'a>)>,
    out_len: usize,
    /// Bytes made by filters and ranges so far (see `MAX_MEMORY_BYTES`).
    used: std::cell::Cell<usize>,
}

/// liquidjs `stringify`: nil -> "", arrays concatenated, everything else `String()`.
fn stringify(v: &JsVal) -> String {
    match v {
        JsVal::Undef | JsVal::Null => String::new(),
        JsVal::Arr(a) => a.iter().map(stringify).collect(),
        other => other.to_js_string(),
    }
}

/// liquidjs `isFalsy` (after `toValue`): only false, undefined and null.
fn falsy(v: &LVal) -> bool {
    matches!(v, LVal::Nil) || matches!(v, LVal::V(x) if matches!(**x, JsVal::Undef | JsVal::Null | JsVal::Bool(false)))
}

/// liquidjs `toNumber`: `+v || 0`.
fn to_num(v: &JsVal) -> f64 {
    let n = to_num_nan(v);
    if n.is_nan() { 0.0 } else { n }
}

/// `Number(v)` / unary `+v` in JS.
fn to_num_nan(v: &JsVal) -> f64 {
    match v {
        JsVal::Undef | JsVal::Obj(_) => f64::NAN,
        JsVal::Null => 0.0,
        JsVal::Bool(b) => f64::from(u8::from(*b)),
        JsVal::Num(n) => *n,
        JsVal::Str(s) => crate::js::string_to_number(s),
        JsVal::Arr(_) => crate::js::string_to_number(&v.to_js_string()),
    }
}

/// liquidjs `equals(l, r)`: a drop on the left decides, else a drop on the right; arrays
/// compare element-wise; anything else is `===` (objects by identity).
fn equals(a: &LVal, b: &LVal) -> bool {
    match (a, b) {
        (LVal::V(x), LVal::V(y)) => values_equal(x, y),
        (LVal::V(_), drop) => drop_equals(drop, a),
        (drop, other) => drop_equals(drop, other),
    }
}

fn values_equal(x: &JsVal, y: &JsVal) -> bool {
    match (x, y) {
        (JsVal::Arr(p), JsVal::Arr(q)) => p.len() == q.len() && p.iter().zip(q).all(|(a, b)| values_equal(a, b)),
        (JsVal::Num(p), JsVal::Num(q)) => p == q,
        // Objects are only ever borrowed from the event, so the address is their identity.
        (JsVal::Obj(_), JsVal::Obj(_)) => std::ptr::eq(x, y),
        _ => x == y,
    }
}

/// `drop.equals(other)` for liquidjs's NullDrop, EmptyDrop and BlankDrop.
fn drop_equals(drop: &LVal, other: &LVal) -> bool {
    // NullDrop: `isNil(toValue(other))`, so `nil == blank` is false (blank's value is "").
    let nil_like = |o: &LVal| matches!(o, LVal::Nil) || matches!(o, LVal::V(v) if v.is_nullish());
    match drop {
        LVal::Nil => nil_like(other),
        // EmptyDrop: never equal to another empty/blank drop; else empty string/array/object.
        LVal::Empty => matches!(other, LVal::V(v) if is_empty_value(v)),
        // BlankDrop: false, nil-ish (including the nil drop: `blank == nil` is true),
        // whitespace-only strings, then as EmptyDrop.
        LVal::Blank => match other {
            o if nil_like(o) => true,
            LVal::V(v) => match v.as_ref() {
                JsVal::Bool(false) => true,
                JsVal::Str(s) => s.chars().all(crate::js::is_js_whitespace),
                v => is_empty_value(v),
            },
            _ => false,
        },
        LVal::V(_) => false,
    }
}

fn is_empty_value(v: &JsVal) -> bool {
    match v {
        JsVal::Str(s) => s.is_empty(),
        JsVal::Arr(a) => a.is_empty(),
        JsVal::Obj(o) => o.is_empty(),
        _ => false,
    }
}

/// JS relational comparison `a < b` (strings by UTF-16 units, otherwise numerically).
fn js_less(a: &JsVal, b: &JsVal) -> bool {
    let prim = |v: &JsVal| match v {
        JsVal::Arr(_) | JsVal::Obj(_) => JsVal::Str(v.to_js_string()),
        other => other.clone(),
    };
    match (prim(a), prim(b)) {
        (JsVal::Str(x), JsVal::Str(y)) => x.encode_utf16().lt(y.encode_utf16()),
        (x, y) => to_num_nan(&x) < to_num_nan(&y),
    }
}

fn compare(op: &str, a: &LVal, b: &LVal) -> Result<bool, String> {
    Ok(match op {
        "==" => equals(a, b),
        "!=" => !equals(a, b),
        // liquidjs has no `<>` operator; such comparisons come out false there.
        "<>" => false,
        // `toValue(l)`: an array asks `equals` per element (drops in `r` survive); a string
        // (also `empty`/`blank`, whose value is "") searches for `String(toValue(r))`.
        "contains" => match a.to_value().as_ref() {
            JsVal::Arr(items) => items.iter().any(|x| equals(&LVal::V(Cow::Borrowed(x)), b)),
            JsVal::Str(s) => s.contains(&b.to_value().to_js_string()),
            _ => false,
        },
        _ => {
            // Drops answer false to every ordering question, from either side.
            let (LVal::V(x), LVal::V(y)) = (a, b) else {
                return Ok(false);
            };
            match op {
                "<" => js_less(x, y),
                ">" => js_less(y, x),
                "<=" => js_less_eq(x, y),
                ">=" => js_less_eq(y, x),
                other => return Err(format!("unknown operator {other}")),
            }
        }
    })
}

/// `a <= b` in JS: `!(b < a)` unless a NaN is involved.
fn js_less_eq(a: &JsVal, b: &JsVal) -> bool {
    let both_str = matches!((a, b), (JsVal::Str(_) | JsVal::Arr(_) | JsVal::Obj(_), JsVal::Str(_) | JsVal::Arr(_) | JsVal::Obj(_)));
    if both_str {
        return !js_less(b, a);
    }
    js_less(a, b) || to_num_nan(a) == to_num_nan(b)
}

fn undef<'b>() -> Cow<'b, JsVal> {
    Cow::Owned(JsVal::Undef)
}

/// liquidjs `readProperty` on a value that may be borrowed from the event (the result then
/// borrows too, keeping object identity).
fn read_prop<'a>(obj: Cow<'a, JsVal>, key: &JsVal) -> Cow<'a, JsVal> {
    match obj {
        Cow::Borrowed(o) => read_property(o, key),
        Cow::Owned(o) => Cow::Owned(read_property(&o, key).into_owned()),
    }
}

/// liquidjs `readProperty` on JSON-ish values (own properties only, plus size/first/last).
fn read_property<'b>(obj: &'b JsVal, key: &JsVal) -> Cow<'b, JsVal> {
    if obj.is_nullish() {
        return Cow::Borrowed(obj);
    }
    if let (JsVal::Arr(a), JsVal::Num(n)) = (obj, key) {
        let idx = if *n < 0.0 { a.len() as f64 + n } else { *n };
        return if idx >= 0.0 && idx.fract() == 0.0 { a.get(idx as usize).map_or_else(undef, Cow::Borrowed) } else { undef() };
    }
    let k = key.to_js_string();
    let own = match obj {
        JsVal::Obj(o) => o.get(&k).map_or_else(undef, Cow::Borrowed),
        JsVal::Arr(_) | JsVal::Str(_) if k == "length" || array_index(&k).is_some() => obj.prop(&k),
        _ => undef(),
    };
    match k.as_str() {
        "size" if own.is_undef() => match obj {
            JsVal::Arr(a) => Cow::Owned(JsVal::Num(a.len() as f64)),
            JsVal::Str(s) => Cow::Owned(JsVal::Num(utf16_len(s) as f64)),
            JsVal::Obj(o) => Cow::Owned(JsVal::Num(o.len() as f64)),
            _ => own,
        },
        "first" => match obj {
            JsVal::Arr(a) => a.first().map_or_else(undef, Cow::Borrowed),
            _ => own,
        },
        "last" => match obj {
            JsVal::Arr(a) => a.last().map_or_else(undef, Cow::Borrowed),
            _ => own,
        },
        _ => own,
    }
}

/// A property of a drop. liquidjs reads drops through their prototype chain and calls
/// methods it finds, so a few inherited names answer; everything else is undefined.
fn drop_prop<'a>(drop: &LVal<'a>, key: &JsVal) -> Result<LVal<'a>, String> {
    let class = match drop {
        LVal::Nil => "NullDrop",
        LVal::Empty => "EmptyDrop",
        _ => "BlankDrop",
    };
    Ok(match key.to_js_string().as_str() {
        "valueOf" => LVal::own(drop.to_value().into_owned()),
        "equals" => LVal::own(JsVal::Bool(drop_equals(drop, &LVal::own(JsVal::Undef)))),
        "gt" | "geq" | "lt" | "leq" | "hasOwnProperty" | "isPrototypeOf" | "propertyIsEnumerable" => {
            LVal::own(JsVal::Bool(false))
        }
        "toString" | "toLocaleString" => LVal::own(JsVal::str("[object Object]")),
        // The prototype: a drop of the same kind as far as Liquid can tell.
        "__proto__" => drop.clone(),
        "constructor" => return Err(format!("Class constructor {class} cannot be invoked without 'new'")),
        "__defineGetter__" | "__defineSetter__" => return Err("Object.prototype.__defineGetter__: Expecting function".into()),
        _ => LVal::own(JsVal::Undef),
    })
}

impl<'a> Renderer<'a> {
    fn render(&mut self, nodes: &[Node], out: &mut String) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Output(e) => {
                    let v = self.eval_expr(e)?;
                    out.push_str(&stringify(&v.to_value()));
                }
                Node::If { branches, otherwise } => {
                    let mut chosen = otherwise;
                    for (c, body) in branches {
                        if self.eval_cond(c)? {
                            chosen = body;
                            break;
                        }
                    }
                    self.render(chosen, out)?;
                }
                Node::Assign(name, e) => {
                    let v = self.eval_expr(e)?;
                    self.set_var(name, v);
                }
                Node::Capture(name, body) => {
                    let mut s = String::new();
                    self.render(body, &mut s)?;
                    self.set_var(name, LVal::own(JsVal::Str(s)));
                }
            }
            self.out_len = out.len();
            if self.out_len > MAX_OUTPUT_BYTES {
                return Err(format!("liquid output is larger than {} MiB (the limit)", MAX_OUTPUT_BYTES >> 20));
            }
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: LVal<'a>) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_string(), v));
    }

    fn eval_cond(&self, c: &Cond) -> Result<bool, String> {
        Ok(match c {
            Cond::Value(o) => !falsy(&self.operand(o)?),
            Cond::Not(c) => !self.eval_cond(c)?,
            Cond::Cmp(op, a, b) => compare(op, &self.operand(a)?, &self.operand(b)?)?,
            Cond::And(a, b) => self.eval_cond(a)? && self.eval_cond(b)?,
            Cond::Or(a, b) => self.eval_cond(a)? || self.eval_cond(b)?,
        })
    }

    /// A property key: `toValue` of the evaluated index, or the name.
    fn key(&self, seg: &Seg) -> Result<JsVal, String> {
        Ok(match seg {
            Seg::Name(n) => JsVal::Str(n.clone()),
            Seg::Index(o) => self.operand(o)?.to_value().into_owned(),
        })
    }

    fn walk(&self, mut cur: LVal<'a>, segs: &[Seg]) -> Result<LVal<'a>, String> {
        for seg in segs {
            let key = self.key(seg)?;
            cur = match cur {
                LVal::V(v) => LVal::V(read_prop(v, &key)),
                drop => drop_prop(&drop, &key)?,
            };
        }
        Ok(cur)
    }

    fn operand(&self, o: &Operand) -> Result<LVal<'a>, String> {
        match o {
            Operand::Lit(l) => Ok(l.clone()),
            Operand::LitPath(l, segs) => self.walk(l.clone(), segs),
            Operand::Range(lo, hi) => {
                // `range(+low, +high + 1)`: unary plus, so a non-number gives an empty range.
                let lo = to_num_nan(&self.operand(lo)?.to_value());
                let hi = to_num_nan(&self.operand(hi)?.to_value());
                let mut v = Vec::new();
                let mut x = lo;
                // Counted, not only compared: past 2^53 `x += 1` no longer moves x.
                while x < hi + 1.0 {
                    if v.len() == MAX_RANGE_ITEMS {
                        return Err(format!("liquid range has more than {MAX_RANGE_ITEMS} items (the limit)"));
                    }
                    v.push(JsVal::Num(x));
                    x += 1.0;
                }
                self.charge(v.len() * std::mem::size_of::<JsVal>())?;
                Ok(LVal::own(JsVal::Arr(v)))
            }
            Operand::Path(segs) => {
                let Some((first, rest)) = segs.split_first() else {
                    return Ok(LVal::own(JsVal::Undef));
                };
                // The first segment names a variable: assigned ones shadow the event.
                let key = self.key(first)?;
                let name = key.to_js_string();
                let start = match self.vars.iter().rev().find(|(n, _)| *n == name) {
                    Some((_, v)) => v.clone(),
                    None => LVal::V(read_property(self.event, &key)),
                };
                self.walk(start, rest)
            }
        }
    }

    fn eval_expr(&self, e: &Expr) -> Result<LVal<'a>, String> {
        let mut v = self.operand(&e.base)?;
        for (name, args) in &e.filters {
            let mut argv = Vec::with_capacity(args.len());
            for (k, a) in args {
                let val = self.operand(a)?;
                argv.push(match k {
                    Some(k) => FArg::Named(k.clone(), val),
                    None => FArg::Pos(val),
                });
            }
            let room = MAX_MEMORY_BYTES.saturating_sub(self.used.get());
            v = apply_filter(name, v, &argv, room)?;
            self.charge(made_bytes(&v))?;
        }
        Ok(v)
    }

    fn charge(&self, bytes: usize) -> Result<(), String> {
        let used = self.used.get().saturating_add(bytes);
        self.used.set(used);
        if used > MAX_MEMORY_BYTES { Err(out_of_memory()) } else { Ok(()) }
    }
}

/// An evaluated filter argument. liquidjs passes a named argument (`allow_false: true`) in
/// its place in the argument list as a `[name, value]` pair.
enum FArg<'a> {
    Pos(LVal<'a>),
    Named(String, LVal<'a>),
}

impl<'a> FArg<'a> {
    fn positional(&self) -> LVal<'a> {
        match self {
            FArg::Pos(v) => v.clone(),
            FArg::Named(k, v) => LVal::own(JsVal::Arr(vec![JsVal::Str(k.clone()), v.to_value().into_owned()])),
        }
    }
}

fn to_array(v: JsVal) -> Vec<JsVal> {
    match v {
        JsVal::Undef | JsVal::Null => Vec::new(),
        JsVal::Arr(a) => a,
        other => vec![other],
    }
}

fn num<'a>(n: f64) -> LVal<'a> {
    LVal::own(JsVal::Num(n))
}

fn text<'a>(s: String) -> LVal<'a> {
    LVal::own(JsVal::Str(s))
}

/// Filters liquidjs ships that we do not implement (an error here; liquidjs would run them).
/// Any other unknown filter name is the identity in liquidjs (`strictFilters` is off).
const UNSUPPORTED_FILTERS: &[&str] = &[
    "escape", "xml_escape", "escape_once", "strip_html", "url_decode", "cgi_escape", "uri_escape", "slugify", "sum",
    "compact", "push", "unshift", "pop", "shift", "slice", "where", "sample", "date", "date_to_xmlschema",
    "date_to_rfc822", "date_to_string", "date_to_long_string", "squish", "truncate", "truncatewords",
    "normalize_whitespace", "number_of_words", "base64_encode", "base64_decode", "sha256", "hmac_sha256", "raw",
];

/// `new Map(entries).get('allow_false')` over `default`'s arguments after the fallback, as
/// liquidjs builds it: each entry must be an object (a `name: value` pair is an array).
fn allow_false(entries: &[FArg]) -> Result<bool, String> {
    let mut found = false;
    for e in entries {
        let (k, v) = match e {
            FArg::Named(k, v) => (JsVal::Str(k.clone()), v.clone()),
            FArg::Pos(LVal::V(v)) => match v.as_ref() {
                JsVal::Arr(a) => (a.first().cloned().unwrap_or(JsVal::Undef), LVal::own(a.get(1).cloned().unwrap_or(JsVal::Undef))),
                JsVal::Obj(o) => (o.get("0").cloned().unwrap_or(JsVal::Undef), LVal::own(o.get("1").cloned().unwrap_or(JsVal::Undef))),
                other => return Err(format!("Iterator value {} is not an entry object", other.to_js_string())),
            },
            FArg::Pos(_) => (JsVal::Undef, LVal::own(JsVal::Undef)),
        };
        if k.as_str() == Some("allow_false") {
            found = v.js_truthy();
        }
    }
    Ok(found)
}

/// `JSON.stringify`'s `space` argument: a number of spaces (at most 10) or a string's first
/// ten UTF-16 units; anything else means no indentation.
fn json_gap(space: Option<&LVal>) -> String {
    match space {
        Some(LVal::V(v)) => match v.as_ref() {
            JsVal::Num(n) if *n >= 1.0 => " ".repeat(n.min(10.0) as usize),
            JsVal::Str(s) => {
                let mut units = 0;
                s.chars().take_while(|c| {
                    units += c.len_utf16();
                    units <= 10
                }).collect()
            }
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// `JSON.stringify(v, null, gap)` for a non-empty gap, giving up past `room` bytes
/// (indentation grows with depth: a deep payload would print megabytes of spaces).
fn json_indented(v: &JsVal, gap: &str, indent: &str, out: &mut String, room: usize) -> Result<(), String> {
    fits(out.len(), room)?;
    let inner = format!("{indent}{gap}");
    match v {
        JsVal::Arr(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&inner);
                json_indented(x, gap, &inner, out, room)?;
            }
            out.push('\n');
            out.push_str(indent);
            out.push(']');
        }
        JsVal::Obj(o) if o.iter().any(|(_, x)| !x.is_undef()) => {
            out.push_str("{\n");
            let mut first = true;
            for (k, x) in o.iter().filter(|(_, x)| !x.is_undef()) {
                if !first {
                    out.push_str(",\n");
                }
                first = false;
                out.push_str(&inner);
                crate::js::quote_json_string(k, out);
                out.push_str(": ");
                json_indented(x, gap, &inner, out, room)?;
            }
            out.push('\n');
            out.push_str(indent);
            out.push('}');
        }
        // Scalars and empty containers look the same indented or not.
        other => out.push_str(&super::value::stringify(other).unwrap_or_else(|| "null".into())),
    }
    fits(out.len(), room)
}

/// What a filter's result may have allocated: its string, or its array's slots and strings.
fn made_bytes(v: &LVal) -> usize {
    match v {
        LVal::V(Cow::Owned(JsVal::Str(s))) => s.len(),
        LVal::V(Cow::Owned(JsVal::Arr(a))) => {
            a.iter().map(|x| std::mem::size_of::<JsVal>() + x.as_str().map_or(0, str::len)).sum()
        }
        _ => 0,
    }
}

/// Refuses, before doing it, work whose result would not fit in `room` bytes.
fn fits(bytes: usize, room: usize) -> Result<(), String> {
    if bytes > room { Err(out_of_memory()) } else { Ok(()) }
}

/// Bytes of `s.split(sep)` as an array (slots and strings).
fn split_bytes(s: &str, sep: &str) -> usize {
    let parts = if sep.is_empty() { s.chars().count() } else { s.matches(sep).count() + 1 };
    parts * std::mem::size_of::<JsVal>() + s.len()
}

/// Bytes of `s.split(pat).join(rep)`.
fn replace_bytes(s: &str, pat: &str, rep: &str) -> usize {
    let seams = if pat.is_empty() { s.chars().count().saturating_sub(1) } else { s.matches(pat).count() };
    s.len().saturating_add(seams.saturating_mul(rep.len()))
}

/// `room`: bytes the render may still allocate; filters that multiply their input check it
/// before building their result.
fn apply_filter<'a>(name: &str, input: LVal<'a>, args: &[FArg<'a>], room: usize) -> Result<LVal<'a>, String> {
    if DISABLED_FILTERS.contains(&name) {
        return Err(format!("filter \"{name}\" is disabled"));
    }
    let argv: Vec<LVal<'a>> = args.iter().map(FArg::positional).collect();
    let arg = |i: usize| argv.get(i).map_or(JsVal::Undef, |a| a.to_value().into_owned());
    let v = input.to_value().into_owned();
    let s = || stringify(&v);
    let a = |i| stringify(&arg(i));
    let n = to_num(&v);
    // Math filters convert every argument they get; a missing one stays undefined (NaN).
    let an = |i: usize| argv.get(i).map_or(f64::NAN, |x| to_num(&x.to_value()));
    Ok(match name {
        "append" | "prepend" if args.len() != 1 => return Err(format!("{name} expect 2 arguments")),
        "append" | "prepend" => {
            let (st, extra) = (s(), a(0));
            fits(st.len() + extra.len(), room)?;
            text(if name == "append" { st + &extra } else { extra + &st })
        }
        "upcase" => text(crate::js::to_upper(&s())),
        "downcase" => text(crate::js::to_lower(&s())),
        "capitalize" => {
            // `charAt(0).toUpperCase() + slice(1).toLowerCase()` works on UTF-16 units: an
            // astral first character is split in two, left as it is, and joined up again.
            let st = s();
            let mut cs = st.chars();
            match cs.next() {
                Some(c) if c.len_utf16() == 1 => text(crate::js::to_upper(c.encode_utf8(&mut [0; 4])) + &crate::js::to_lower(cs.as_str())),
                Some(c) => text(c.to_string() + &crate::js::to_lower(cs.as_str())),
                None => text(String::new()),
            }
        }
        "strip" | "lstrip" | "rstrip" => {
            let st = s();
            // `if (chars)` on the raw argument: a drop is a (truthy) object whose string is "".
            let out = match argv.first() {
                Some(c) if c.js_truthy() => {
                    let set: Vec<char> = stringify(&c.to_value()).chars().collect();
                    let in_set = |ch: char| set.contains(&ch);
                    match name {
                        "strip" => st.trim_matches(in_set),
                        "lstrip" => st.trim_start_matches(in_set),
                        _ => st.trim_end_matches(in_set),
                    }
                }
                _ => match name {
                    "strip" => js_trim(&st),
                    "lstrip" => js_trim_start(&st),
                    _ => js_trim_end(&st),
                },
            };
            text(out.to_string())
        }
        "strip_newlines" => text(s().replace("\r\n", "").replace('\n', "")),
        "remove" | "replace" => {
            let (st, pat) = (s(), a(0));
            let with = if name == "remove" { String::new() } else { a(1) };
            fits(split_bytes(&st, &pat).max(replace_bytes(&st, &pat, &with)), room)?;
            text(js_split(&st, &pat).join(&with))
        }
        "remove_first" => text(s().replacen(&a(0), "", 1)),
        "replace_first" => {
            let (st, with) = (s(), a(1));
            fits(st.len() + with.len(), room)?;
            text(st.replacen(&a(0), &with, 1))
        }
        "remove_last" | "replace_last" => {
            let (st, pat) = (s(), a(0));
            let rep = if name == "remove_last" { String::new() } else { a(1) };
            fits(st.len() + rep.len(), room)?;
            match st.rfind(&pat) {
                Some(i) => text(format!("{}{}{}", &st[..i], rep, &st[i + pat.len()..])),
                None => text(st),
            }
        }
        "split" => {
            let (st, sep) = (s(), a(0));
            fits(split_bytes(&st, &sep), room)?;
            let mut parts = js_split(&st, &sep);
            while parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
            LVal::own(JsVal::Arr(parts.into_iter().map(JsVal::Str).collect()))
        }
        "join" => {
            let sep = match arg(0) {
                JsVal::Undef | JsVal::Null => " ".to_string(),
                other => stringify(&other),
            };
            let items = to_array(v);
            fits(items.len().saturating_sub(1).saturating_mul(sep.len()), room)?;
            let parts: Vec<String> = items.iter().map(|x| if x.is_nullish() { String::new() } else { x.to_js_string() }).collect();
            fits(parts.iter().map(String::len).sum::<usize>() + items.len().saturating_sub(1) * sep.len(), room)?;
            text(parts.join(&sep))
        }
        "first" | "last" => match input {
            // `isArrayLike(v)`: truthy with a numeric `length` (arrays, non-empty strings, and
            // objects with a numeric "length" property); then the own element 0 or length-1.
            LVal::V(v) if v.truthy() => match *read_property(&v, &JsVal::str("length")) {
                JsVal::Num(len) => {
                    let idx = if name == "first" { 0.0 } else { len - 1.0 };
                    if idx < 0.0 { LVal::own(JsVal::Undef) } else { LVal::V(read_prop(v, &JsVal::Num(idx))) }
                }
                _ => text(String::new()),
            },
            _ => text(String::new()),
        },
        // `(v && v.length) || 0` on the raw value (a drop has no length).
        "size" => match input {
            LVal::V(v) => {
                let len = read_prop(v, &JsVal::str("length"));
                if len.truthy() { LVal::V(len) } else { num(0.0) }
            }
            _ => num(0.0),
        },
        "default" => {
            // `toValue(v)`: arrays and strings fall back when empty; otherwise false/nil do,
            // unless `allow_false` keeps a false. The fallback itself stays raw (a drop too).
            let fallback = || argv.first().cloned().unwrap_or(LVal::own(JsVal::Undef));
            match &v {
                JsVal::Arr(items) if items.is_empty() => fallback(),
                JsVal::Str(st) if st.is_empty() => fallback(),
                JsVal::Arr(_) | JsVal::Str(_) => input,
                JsVal::Bool(false) if allow_false(args.get(1..).unwrap_or(&[]))? => LVal::own(JsVal::Bool(false)),
                JsVal::Undef | JsVal::Null | JsVal::Bool(false) => fallback(),
                _ => input,
            }
        }
        "plus" => num(n + an(0)),
        "minus" => num(n - an(0)),
        "times" => num(n * an(0)),
        "divided_by" => {
            // The third argument goes through `toNumber` too: `'x'` (0) means no flooring.
            let integer = argv.get(1).is_some_and(|x| to_num(&x.to_value()) != 0.0);
            let q = n / an(0);
            num(if integer { q.floor() } else { q })
        }
        "modulo" => {
            let m = an(0);
            num(((n % m) + m) % m)
        }
        "abs" => num(n.abs()),
        "ceil" => num(n.ceil()),
        "floor" => num(n.floor()),
        // Math.max / Math.min over the input and every argument.
        "at_least" => num((0..argv.len()).fold(n, |acc, i| js_max(acc, an(i)))),
        "at_most" => num((0..argv.len()).fold(n, |acc, i| js_min(acc, an(i)))),
        "round" => num(liquid_round(n, to_num(&arg(0)))),
        // JSON.stringify of the raw value: a drop is an object without own properties.
        "json" | "jsonify" | "inspect" => {
            if input.is_drop() {
                return Ok(text("{}".into()));
            }
            let gap = json_gap(argv.first());
            if v.is_undef() {
                LVal::own(JsVal::Undef)
            } else if gap.is_empty() {
                super::value::stringify(&v).map_or(LVal::own(JsVal::Undef), text)
            } else {
                let mut out = String::new();
                json_indented(&v, &gap, "", &mut out, room)?;
                text(out)
            }
        }
        "to_integer" => num(to_num_nan(&v)),
        "url_encode" => text(encode_uri_component(&s()).replace("%20", "+")),
        _ if UNSUPPORTED_FILTERS.contains(&name) => return Err(format!("liquid filter \"{name}\" is not supported")),
        // Not a liquidjs filter at all: liquidjs passes the value through unchanged.
        _ => input,
    })
}

/// `Math.max` for two numbers: NaN wins, and +0 is larger than -0.
fn js_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_positive() { a } else { b }
    } else {
        a.max(b)
    }
}
/// `Math.min` for two numbers: NaN wins, and -0 is smaller than +0.
fn js_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() { a } else { b }
    } else {
        a.min(b)
    }
}

/// Round half away from zero at `places` decimals, shifting in decimal notation like liquidjs.
fn liquid_round(v: f64, places: f64) -> f64 {
    let shift = |x: f64, e: f64| -> f64 {
        let s = crate::js::number_to_string(x);
        let (m, p) = s.split_once('e').unwrap_or((&s, "0"));
        let p = crate::js::parse_decimal(p).unwrap_or(0.0);
        crate::js::string_to_number(&format!("{m}e{}", crate::js::number_to_string(p + e)))
    };
    let scaled = shift(v.abs(), places);
    if scaled.is_nan() || scaled > 9007199254740991.0 {
        return v;
    }
    // Math.round rounds .5 up.
    let r = shift((scaled + 0.5).floor(), -places);
    if v < 0.0 { -r } else { r }
}

/// `str.split(sep)` in JS: an empty separator splits into UTF-16 units.
fn js_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        // JS yields UTF-16 units; a surrogate pair stays together here (Rust strings cannot
        // hold halves), which only shows in the element count.
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_string).collect()
}

fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, ev: serde_json::Value) -> Result<String, String> {
        evaluate(t, &JsVal::from_json(&ev).unwrap()).map(|v| v.to_js_string())
    }

    #[test]
    fn outputs_and_filters() {
        let ev = json!({"properties": {"email": " A@B.C ", "n": 3, "tags": ["x", "y"]}});
        assert_eq!(render("{{ properties.email | strip | downcase }}", ev.clone()).unwrap(), "a@b.c");
        assert_eq!(render("{{ properties.n | plus: 2 | times: 1.5 }}", ev.clone()).unwrap(), "7.5");
        assert_eq!(render("{{ properties.tags | join: '-' }}/{{ properties.tags.size }}/{{ properties.tags }}", ev.clone()).unwrap(), "x-y/2/xy");
        assert_eq!(render("{{ missing | default: 'd' }}", ev.clone()).unwrap(), "d");
        assert!(render("{{ properties.tags | sort }}", ev).is_err());
    }

    #[test]
    fn tags() {
        let ev = json!({"a": 5, "s": "hello"});
        assert_eq!(render("{% if a > 3 and s contains 'ell' %}yes{% else %}no{% endif %}", ev.clone()).unwrap(), "yes");
        assert_eq!(render("{% unless a == 5 %}x{% endunless %}", ev.clone()).unwrap(), "");
        assert_eq!(render("{% assign b = s | upcase %}{{ b }}", ev.clone()).unwrap(), "HELLO");
        assert_eq!(render("{% capture c %}[{{ a }}]{% endcapture %}{{ c }}", ev.clone()).unwrap(), "[5]");
        assert_eq!(render("a  {{- s -}}  b{% raw %}{{x}}{% endraw %}", ev.clone()).unwrap(), "ahellob{{x}}");
        assert!(render("{% for x in y %}{% endfor %}", ev).is_err());
    }

    #[test]
    fn drop_literals() {
        let ev = json!({"e": {}, "f": {}, "arr": [1, {}], "s": " x ", "n": null, "no": false});
        let r = |t: &str| render(t, ev.clone()).unwrap();
        let yn = |c: &str| r(&format!("{{% if {c} %}}y{{% else %}}n{{% endif %}}"));
        // liquidjs's nil/empty/blank are drop objects: JSON `{}`, output "".
        assert_eq!(r("{{ nil | json }}|{{ empty | json }}|{{ blank | json }}|{{ nil }}{{ empty }}{{ blank }}"), "{}|{}|{}|");
        assert_eq!(r("{{ '' | default: empty | json }}|{{ n | default: nil | json }}"), "{}|{}");
        assert_eq!(r("{% assign v = blank %}{{ v | json }}{{ v.size }}{{ empty.size }}{{ nil.a }}"), "{}");
        assert_eq!(r("{{ empty | size }}{{ nil | first }}{{ blank | upcase }}{{ nil | plus: 1 }}"), "01");
        // `contains` looks at toValue: "" contains "".
        assert_eq!(yn("empty contains empty"), "y");
        assert_eq!(yn("blank contains ''"), "y");
        assert_eq!(yn("nil contains ''"), "n");
        // Equality asks the left drop first: blank == nil, but not nil == blank.
        assert_eq!(yn("blank == nil"), "y");
        assert_eq!(yn("nil == blank"), "n");
        assert_eq!(yn("empty == empty"), "n");
        assert_eq!(yn("nil == nil"), "y");
        assert_eq!(yn("e == empty"), "y");
        assert_eq!(yn("s == blank"), "n");
        assert_eq!(yn("no == blank"), "y");
        assert_eq!(yn("empty > 1 or 1 < empty or nil >= nil"), "n");
        // Objects compare by identity.
        assert_eq!(yn("e == f"), "n");
        assert_eq!(yn("e == e"), "y");
        assert_eq!(yn("arr contains e"), "n");
        assert_eq!(yn("arr contains arr[1]"), "y");
    }

    #[test]
    fn filter_arguments_like_liquidjs() {
        let ev = json!({"o": {"length": 2, "0": "z", "1": "y"}, "s": " x ", "no": false});
        let r = |t: &str| render(t, ev.clone());
        assert_eq!(r("{{ o | first }}{{ o | last }}{{ o | size }}").unwrap(), "zy2");
        assert_eq!(r("{{ 3 | plus }}|{{ 3 | at_least }}|{{ 7 | divided_by: 2, 'x' }}|{{ 7 | divided_by: 2, 1 }}").unwrap(), "NaN|3|3.5|3");
        assert_eq!(r("{{ no | default: 1, allow_false: nil }}|{{ no | default: allow_false: true }}").unwrap(), "false|allow_falsetrue");
        assert!(r("{{ no | default: 1, 2 }}").is_err());
        assert_eq!(r("[{{ s | strip: empty }}][{{ 'xxaxx' | strip: 'x' }}][{{ 'xxa' | lstrip: 'x' }}]").unwrap(), "[ x ][a][a]");
        assert_eq!(r("{{ o | json: 2 }}").unwrap(), "{\n  \"0\": \"z\",\n  \"1\": \"y\",\n  \"length\": 2\n}");
        assert_eq!(r("{{ 'a' | append: x: 1 }}|{{ s | no_such_filter | strip }}").unwrap(), "ax1|x");
        assert_eq!(r("{{ '😀AB' | capitalize }}{{ 'ǆX' | capitalize }}").unwrap(), "😀abǄx");
    }

    #[test]
    fn expression_syntax_like_liquidjs() {
        let ev = json!({"a😀": 1, "1": {"x": 2}, "-x": 3});
        let r = |t: &str| render(t, ev.clone()).unwrap();
        assert_eq!(r("{{ a😀 }}{{ 1.x }}{{ -x }}{{ 'a\\'b' }}{{ 'A\\u0042\\101' }}"), "123a'bABA");
        assert_eq!(r("{{ 'abc'.size }}{{ \"abc\"[1] }}{{ true.size }}"), "3b");
        assert_eq!(r("{{ \"a}}b\" }}"), "a}}b");
        // Tags do not skip quotes when looking for `%}`; an unterminated string ends there.
        assert_eq!(r("{% if 'a %}y{% endif %}"), "y");
    }

    #[test]
    fn work_and_memory_are_bounded() {
        let mut deep = json!(vec![1; 10_000]);
        for _ in 0..250 {
            deep = json!([deep]);
        }
        let ev = json!({"s": "abcdefghij", "n": 9007199254740992.0_f64, "deep": deep, "two": [[1]]});
        let oom = out_of_memory();
        // Doubling a string by assignment.
        let doubling = format!("{{% assign a = s %}}{}{{{{ a | size }}}}", "{%assign a=a|append:a%}".repeat(30));
        assert_eq!(render(&doubling, ev.clone()), Err(oom.clone()));
        // Well under the limit the same pattern works: 10 * 2^10 characters.
        let ten = format!("{{% assign a = s %}}{}{{{{ a | size }}}}", "{% assign a = a | append: a %}".repeat(10));
        assert_eq!(render(&ten, ev.clone()).unwrap(), "10240");
        // A seam between every character, refused before it is built.
        let seams = format!("{{% assign a = s %}}{}{{% assign b = a | replace: '', a %}}", "{% assign a = a | append: a %}".repeat(19));
        assert_eq!(render(&seams, ev.clone()), Err(oom.clone()));
        let split = format!("{{% assign a = s %}}{}{{% assign b = a | split: '' %}}", "{% assign a = a | append: a %}".repeat(19));
        assert_eq!(render(&split, ev.clone()), Err(oom.clone()));
        // Ranges: at most MAX_RANGE_ITEMS items, and counted (2^53 + 1 == 2^53 looped forever).
        assert_eq!(render("{{ (1..3) | join: ',' }}", ev.clone()).unwrap(), "1,2,3");
        assert_eq!(render("{{ (1..10000) | size }}", ev.clone()).unwrap(), "10000");
        let too_many = format!("liquid range has more than {MAX_RANGE_ITEMS} items (the limit)");
        assert_eq!(render("{{ (1..10000000) | size }}", ev.clone()), Err(too_many.clone()));
        assert_eq!(render("{{ (n..9007199254740994) | size }}", ev.clone()), Err(too_many));
        // Indented JSON of a deep value stays within the budget.
        assert_eq!(render("{{ two | json: 2 }}", ev.clone()).unwrap(), "[\n  [\n    1\n  ]\n]");
        assert_eq!(render("{{ deep | json: 10 | size }}", ev.clone()), Err(oom));
        // Nesting of blocks.
        let nested = format!("{}x{}", "{% if true %}".repeat(40), "{% endif %}".repeat(40));
        assert_eq!(render(&nested, ev.clone()), Err(format!("liquid template nests deeper than {MAX_NESTING} levels (the limit)")));
        let deep_index = format!("{{{{ a{}{} }}}}", "[a".repeat(40), "]".repeat(40));
        assert_eq!(render(&deep_index, ev.clone()), Err(format!("liquid expression nests deeper than {MAX_NESTING} levels (the limit)")));
    }
}
