//! `@liquid`: the part of Liquid (as liquidjs renders it under Segment's restrictions) that we
//! support: `{{ output | filters }}`, `{% if/elsif/else/unless %}`, `assign`, `capture`,
//! `echo`, `comment`, `raw`, `#` comments and whitespace control. Tags and filters Segment
//! disables are errors (as in Segment); other Liquid features we lack are errors too.
use super::value::{JsVal, array_index};
use crate::js::{js_trim, js_trim_end, js_trim_start, utf16_len};

const MAX_TEMPLATE_LEN: usize = 1000;
const MAX_NESTING: usize = 32;
const MAX_OUTPUT_BYTES: usize = 16 << 20;

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
    let mut r = Renderer { event, vars: Vec::new(), out_len: 0 };
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
        let end = find_close(s, inner_start, close).ok_or_else(|| {
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

/// Finds the closing delimiter, skipping over quoted strings.
fn find_close(s: &str, from: usize, close: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1 + s[i + 1..].find(q as char)?;
                i += 1;
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
    Lit(LVal),
    Path(Vec<Seg>),
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

/// Liquid-level value: a JS value or one of the special literals.
#[derive(Debug, Clone)]
enum LVal {
    V(JsVal),
    Nil,
    Empty,
    Blank,
}

fn parse_block(toks: &[Tok], pos: &mut usize, ends: &[&str], depth: usize) -> Result<Block, String> {
    if depth > MAX_NESTING {
        return Err("liquid template nests too deeply".into());
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

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_alphabetic() || c == '_') && cs.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
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

fn lex(src: &str) -> Result<Vec<Lx>, String> {
    let cs: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = cs[i + 1..].iter().position(|&x| x == c).ok_or("unterminated string")? + i + 1;
            out.push(Lx::Str(cs[i + 1..end].iter().collect()));
            i = end + 1;
        } else if c.is_ascii_digit() || (c == '-' && cs.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < cs.len() && (cs[i].is_ascii_digit() || (cs[i] == '.' && cs.get(i + 1).is_some_and(char::is_ascii_digit))) {
                i += 1;
            }
            let s: String = cs[start..i].iter().collect();
            out.push(Lx::Num(s.parse().map_err(|_| format!("bad number {s}"))?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '-' || cs[i] == '?') {
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
            return Err("expression nests too deeply".into());
        }
        let tok = self.peek().cloned().ok_or("missing value")?;
        self.i += 1;
        match tok {
            Lx::Str(s) => Ok(Operand::Lit(LVal::V(JsVal::Str(s)))),
            Lx::Num(n) => Ok(Operand::Lit(LVal::V(JsVal::Num(n)))),
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
                self.path_rest(vec![Seg::Index(k)], depth)
            }
            Lx::Ident(w) => {
                let lit = match w.as_str() {
                    "true" => Some(LVal::V(JsVal::Bool(true))),
                    "false" => Some(LVal::V(JsVal::Bool(false))),
                    "nil" | "null" => Some(LVal::Nil),
                    "empty" => Some(LVal::Empty),
                    "blank" => Some(LVal::Blank),
                    _ => None,
                };
                match lit {
                    Some(l) if !matches!(self.peek(), Some(Lx::Punct(".") | Lx::Punct("["))) => Ok(Operand::Lit(l)),
                    _ => self.path_rest(vec![Seg::Name(w)], depth),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
    fn path_rest(&mut self, mut segs: Vec<Seg>, depth: usize) -> Result<Operand, String> {
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
                return Ok(Operand::Path(segs));
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
    vars: Vec<(String, LVal)>,
    out_len: usize,
}

fn value_of(l: LVal) -> JsVal {
    match l {
        LVal::V(v) => v,
        LVal::Nil => JsVal::Null,
        LVal::Empty | LVal::Blank => JsVal::str(""),
    }
}

/// liquidjs `stringify`: nil -> "", arrays concatenated, everything else `String()`.
fn stringify(v: &JsVal) -> String {
    match v {
        JsVal::Undef | JsVal::Null => String::new(),
        JsVal::Arr(a) => a.iter().map(stringify).collect(),
        other => other.to_js_string(),
    }
}

fn falsy(v: &LVal) -> bool {
    matches!(v, LVal::Nil | LVal::V(JsVal::Undef | JsVal::Null | JsVal::Bool(false)))
}

/// liquidjs `toNumber`: `+v || 0`.
fn to_num(v: &JsVal) -> f64 {
    let n = match v {
        JsVal::Undef => f64::NAN,
        JsVal::Null => 0.0,
        JsVal::Bool(b) => f64::from(u8::from(*b)),
        JsVal::Num(n) => *n,
        JsVal::Str(s) => crate::js::string_to_number(s),
        JsVal::Arr(_) => crate::js::string_to_number(&v.to_js_string()),
        JsVal::Obj(_) => f64::NAN,
    };
    if n.is_nan() { 0.0 } else { n }
}

fn js_strict_eq(a: &JsVal, b: &JsVal) -> bool {
    match (a, b) {
        (JsVal::Num(x), JsVal::Num(y)) => x == y,
        // Objects compare by identity in JS; structural equality is our approximation.
        _ => a == b,
    }
}

fn equals(a: &LVal, b: &LVal) -> bool {
    match (a, b) {
        (LVal::Nil, x) | (x, LVal::Nil) => matches!(x, LVal::Nil | LVal::V(JsVal::Undef | JsVal::Null)),
        (LVal::Empty, LVal::Empty) => false,
        (LVal::Blank, LVal::Blank | LVal::Empty) | (LVal::Empty, LVal::Blank) => false,
        (LVal::Blank, LVal::V(v)) | (LVal::V(v), LVal::Blank) => match v {
            JsVal::Bool(false) | JsVal::Undef | JsVal::Null => true,
            JsVal::Str(s) => s.chars().all(crate::js::is_js_whitespace),
            other => is_empty_value(other),
        },
        (LVal::Empty, LVal::V(v)) | (LVal::V(v), LVal::Empty) => is_empty_value(v),
        (LVal::V(JsVal::Arr(x)), LVal::V(y)) => match y {
            JsVal::Arr(y) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equals(&LVal::V(p.clone()), &LVal::V(q.clone()))),
            _ => false,
        },
        (LVal::V(x), LVal::V(y)) => js_strict_eq(x, y),
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
        (x, y) => {
            let n = |v: &JsVal| match v {
                JsVal::Undef => f64::NAN,
                JsVal::Null => 0.0,
                JsVal::Bool(b) => f64::from(u8::from(*b)),
                JsVal::Num(n) => *n,
                JsVal::Str(s) => crate::js::string_to_number(s),
                _ => f64::NAN,
            };
            n(&x) < n(&y)
        }
    }
}

fn compare(op: &str, a: &LVal, b: &LVal) -> Result<bool, String> {
    Ok(match op {
        "==" => equals(a, b),
        "!=" => !equals(a, b),
        // liquidjs has no `<>` operator; such comparisons come out false there.
        "<>" => false,
        "contains" => match a {
            LVal::V(JsVal::Arr(items)) => items.iter().any(|x| equals(&LVal::V(x.clone()), b)),
            LVal::V(JsVal::Str(s)) => {
                let needle = match b {
                    LVal::V(JsVal::Undef) => "undefined".to_string(),
                    other => value_of(other.clone()).to_js_string(),
                };
                s.contains(&needle)
            }
            _ => false,
        },
        _ => {
            // The special literals are never greater or smaller than anything.
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
    js_less(a, b) || {
        let n = |v: &JsVal| to_num_nan(v);
        n(a) == n(b)
    }
}

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

/// liquidjs `readProperty` on JSON-ish values (own properties only, plus size/first/last).
fn read_property(obj: &JsVal, key: &JsVal) -> JsVal {
    if obj.is_nullish() {
        return obj.clone();
    }
    if let (JsVal::Arr(a), JsVal::Num(n)) = (obj, key) {
        let idx = if *n < 0.0 { a.len() as f64 + n } else { *n };
        return if idx >= 0.0 && idx.fract() == 0.0 { a.get(idx as usize).cloned().unwrap_or(JsVal::Undef) } else { JsVal::Undef };
    }
    let k = key.to_js_string();
    let own = match obj {
        JsVal::Obj(o) => o.get(&k).cloned().unwrap_or(JsVal::Undef),
        JsVal::Arr(_) | JsVal::Str(_) => {
            if k == "length" || array_index(&k).is_some() { obj.prop(&k).into_owned() } else { JsVal::Undef }
        }
        _ => JsVal::Undef,
    };
    match k.as_str() {
        "size" => match (obj, &own) {
            (_, v) if !v.is_undef() => own,
            (JsVal::Arr(a), _) => JsVal::Num(a.len() as f64),
            (JsVal::Str(s), _) => JsVal::Num(utf16_len(s) as f64),
            (JsVal::Obj(o), _) => JsVal::Num(o.len() as f64),
            _ => JsVal::Undef,
        },
        "first" => match obj {
            JsVal::Arr(a) => a.first().cloned().unwrap_or(JsVal::Undef),
            _ => own,
        },
        "last" => match obj {
            JsVal::Arr(a) => a.last().cloned().unwrap_or(JsVal::Undef),
            _ => own,
        },
        _ => own,
    }
}

impl Renderer<'_> {
    fn render(&mut self, nodes: &[Node], out: &mut String) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Output(e) => {
                    let v = value_of(self.eval_expr(e)?);
                    out.push_str(&stringify(&v));
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
                    self.set_var(name, LVal::V(JsVal::Str(s)));
                }
            }
            self.out_len = out.len();
            if self.out_len > MAX_OUTPUT_BYTES {
                return Err("liquid output too large".into());
            }
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: LVal) {
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

    fn operand(&self, o: &Operand) -> Result<LVal, String> {
        match o {
            Operand::Lit(l) => Ok(l.clone()),
            Operand::Range(lo, hi) => {
                let lo = to_num(&value_of(self.operand(lo)?));
                let hi = to_num(&value_of(self.operand(hi)?));
                if hi - lo > 10_000.0 {
                    return Err("range too large".into());
                }
                let mut v = Vec::new();
                let mut x = lo;
                while x < hi + 1.0 {
                    v.push(JsVal::Num(x));
                    x += 1.0;
                }
                Ok(LVal::V(JsVal::Arr(v)))
            }
            Operand::Path(segs) => {
                let mut cur: Option<JsVal> = None;
                for (i, seg) in segs.iter().enumerate() {
                    let key = match seg {
                        Seg::Name(n) => JsVal::Str(n.clone()),
                        Seg::Index(o) => value_of(self.operand(o)?),
                    };
                    cur = Some(match cur {
                        // The first segment names a variable: assigned ones shadow the event.
                        None => {
                            let k = key.to_js_string();
                            match self.vars.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| v) {
                                // A bare reference to a special value keeps it special.
                                Some(v) if segs.len() == 1 => return Ok(v.clone()),
                                // Properties of nil/empty/blank objects read as undefined.
                                Some(LVal::V(v)) => v.clone(),
                                Some(_) if i == 0 => JsVal::Undef,
                                _ => read_property(self.event, &key),
                            }
                        }
                        Some(v) => read_property(&v, &key),
                    });
                }
                Ok(LVal::V(cur.unwrap_or(JsVal::Undef)))
            }
        }
    }

    fn eval_expr(&self, e: &Expr) -> Result<LVal, String> {
        let mut v = self.operand(&e.base)?;
        for (name, args) in &e.filters {
            let mut pos = Vec::new();
            let mut named = Vec::new();
            for (k, a) in args {
                let val = value_of(self.operand(a)?);
                match k {
                    Some(k) => named.push((k.clone(), val)),
                    None => pos.push(val),
                }
            }
            v = LVal::V(apply_filter(name, v, &pos, &named)?);
        }
        Ok(v)
    }
}

fn arg(args: &[JsVal], i: usize) -> JsVal {
    args.get(i).cloned().unwrap_or(JsVal::Undef)
}

fn to_array(v: JsVal) -> Vec<JsVal> {
    match v {
        JsVal::Undef | JsVal::Null => Vec::new(),
        JsVal::Arr(a) => a,
        other => vec![other],
    }
}

fn num(n: f64) -> JsVal {
    JsVal::Num(n)
}

fn apply_filter(name: &str, input: LVal, args: &[JsVal], named: &[(String, JsVal)]) -> Result<JsVal, String> {
    if DISABLED_FILTERS.contains(&name) {
        return Err(format!("filter \"{name}\" is disabled"));
    }
    let v = value_of(input.clone());
    let s = || stringify(&v);
    let a = |i| stringify(&arg(args, i));
    let n = to_num(&v);
    let an = |i| to_num(&arg(args, i));
    Ok(match name {
        "append" | "prepend" if args.len() != 1 => return Err(format!("{name} expect 2 arguments")),
        "append" => JsVal::Str(s() + &a(0)),
        "prepend" => JsVal::Str(a(0) + &s()),
        "upcase" => JsVal::Str(s().to_uppercase()),
        "downcase" => JsVal::Str(s().to_lowercase()),
        "capitalize" => {
            let st = s();
            let mut units = st.encode_utf16();
            let first: Vec<u16> = units.next().into_iter().collect();
            let rest: Vec<u16> = units.collect();
            JsVal::Str(String::from_utf16_lossy(&first).to_uppercase() + &String::from_utf16_lossy(&rest).to_lowercase())
        }
        "strip" if args.is_empty() => JsVal::str(js_trim(&s())),
        "lstrip" if args.is_empty() => JsVal::str(js_trim_start(&s())),
        "rstrip" if args.is_empty() => JsVal::str(js_trim_end(&s())),
        "strip_newlines" => JsVal::Str(s().replace("\r\n", "").replace('\n', "")),
        "remove" => JsVal::Str(js_split(&s(), &a(0)).join("")),
        "replace" => JsVal::Str(js_split(&s(), &a(0)).join(&a(1))),
        "remove_first" => JsVal::Str(s().replacen(&a(0), "", 1)),
        "replace_first" => JsVal::Str(s().replacen(&a(0), &a(1), 1)),
        "remove_last" | "replace_last" => {
            let (st, pat) = (s(), a(0));
            let rep = if name == "remove_last" { String::new() } else { a(1) };
            match st.rfind(&pat) {
                Some(i) => JsVal::Str(format!("{}{}{}", &st[..i], rep, &st[i + pat.len()..])),
                None => JsVal::Str(st),
            }
        }
        "split" => {
            let mut parts = js_split(&s(), &a(0));
            while parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
            JsVal::Arr(parts.into_iter().map(JsVal::Str).collect())
        }
        "join" => {
            let sep = match arg(args, 0) {
                JsVal::Undef | JsVal::Null => " ".to_string(),
                other => stringify(&other),
            };
            let items = to_array(v);
            JsVal::Str(items.iter().map(|x| if x.is_nullish() { String::new() } else { x.to_js_string() }).collect::<Vec<_>>().join(&sep))
        }
        "first" | "last" => match &v {
            JsVal::Arr(items) => (if name == "first" { items.first() } else { items.last() }).cloned().unwrap_or(JsVal::Undef),
            JsVal::Str(st) if !st.is_empty() => {
                let units: Vec<u16> = st.encode_utf16().collect();
                let u = if name == "first" { units.first() } else { units.last() };
                JsVal::Str(String::from_utf16_lossy(&u.copied().into_iter().collect::<Vec<_>>()))
            }
            _ => JsVal::str(""),
        },
        "size" => match &v {
            JsVal::Arr(items) => num(items.len() as f64),
            JsVal::Str(st) => num(utf16_len(st) as f64),
            _ => num(0.0),
        },
        "default" => {
            let allow_false = named.iter().any(|(k, x)| k == "allow_false" && x.truthy());
            match &v {
                JsVal::Arr(items) if items.is_empty() => arg(args, 0),
                JsVal::Str(st) if st.is_empty() => arg(args, 0),
                JsVal::Arr(_) | JsVal::Str(_) => v.clone(),
                JsVal::Bool(false) if allow_false => v.clone(),
                _ if falsy(&LVal::V(v.clone())) => arg(args, 0),
                _ => v.clone(),
            }
        }
        "plus" => num(n + an(0)),
        "minus" => num(n - an(0)),
        "times" => num(n * an(0)),
        "divided_by" => {
            let integer = arg(args, 1).truthy();
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
        "at_least" => num(js_max(n, an(0))),
        "at_most" => num(js_min(n, an(0))),
        "round" => num(liquid_round(n, an(0))),
        "json" => match super::value::stringify(&v) {
            Some(j) => JsVal::Str(j),
            None => JsVal::Undef,
        },
        "url_encode" => JsVal::Str(encode_uri_component(&s()).replace("%20", "+")),
        _ => return Err(format!("liquid filter \"{name}\" is not supported")),
    })
}

fn js_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}
fn js_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// Round half away from zero at `places` decimals, shifting in decimal notation like liquidjs.
fn liquid_round(v: f64, places: f64) -> f64 {
    let shift = |x: f64, e: f64| -> f64 {
        let s = crate::js::number_to_string(x);
        let (m, p) = s.split_once('e').unwrap_or((&s, "0"));
        let p: f64 = p.parse().unwrap_or(0.0);
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
}
