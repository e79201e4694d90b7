//! Token stream -> condition tree, following the reference's single left-to-right
//! pass. That pass has no precedence: a bracket-free run of conditions becomes one
//! group whose operator is the *last* `and`/`or` seen; `!` only negates
//! `contains(...)`/`match(...)`; a `(` group ends at the first `)`.

use std::collections::VecDeque;

use super::jsnum::{number_to_string, string_to_number};
use super::lexer::{Kind, Token};

/// Nesting is bounded by construction (a `(` inside a group always fails) and by
/// `MAX_FQL_DEPTH`, checked on the tokens; keep a cap here so a future change cannot turn
/// input into stack depth.
const MAX_DEPTH: usize = super::MAX_FQL_DEPTH;

/// A literal as the reference's IR holds it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Prim {
    /// UTF-16 because `match()` slices off one code unit, which can split a pair.
    Str(Vec<u16>),
    Num(f64),
    Bool(bool),
}

impl Prim {
    pub(crate) fn str(s: &str) -> Prim {
        Prim::Str(s.encode_utf16().collect())
    }
    /// `String(value)` as UTF-16.
    pub(crate) fn to_js_string(&self) -> Vec<u16> {
        match self {
            Prim::Str(s) => s.clone(),
            Prim::Num(n) => number_to_string(*n).encode_utf16().collect(),
            Prim::Bool(b) => (if *b { "true" } else { "false" }).encode_utf16().collect(),
        }
    }
    /// `Number(value)`.
    pub(crate) fn to_js_number(&self) -> f64 {
        match self {
            Prim::Str(s) => string_to_number(&String::from_utf16_lossy(s)),
            Prim::Num(n) => *n,
            Prim::Bool(b) => f64::from(u8::from(*b)),
        }
    }
}

/// A condition's literal in the forms evaluation compares against, worked out once at
/// parse time so that matching an event allocates nothing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lit {
    /// `String(value)` as UTF-16 (`String(undefined)` for a missing value).
    pub units: Vec<u16>,
    /// The same string when it is well-formed (no lone surrogate), for comparing `&str`
    /// directly: for well-formed strings, UTF-16 equality, prefix, suffix and substring
    /// tests agree with UTF-8 byte ones.
    pub text: Option<String>,
    /// `Number(value)`.
    pub number: f64,
}

impl Lit {
    pub(crate) fn new(value: Option<&Prim>) -> Lit {
        let undefined = Prim::str("undefined");
        let value = value.unwrap_or(&undefined);
        let units = value.to_js_string();
        Lit {
            text: String::from_utf16(&units).ok(),
            units,
            number: value.to_js_number(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    NumberEq,
    NumberNe,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    Exists,
    NotExists,
    IsTrue,
    IsFalse,
    /// Whatever token stood in operator position (`.`, `"x"`, `and`, ...): never true.
    Other,
}

impl Op {
    /// The reference copies the operator token's text into the IR, so the IR's
    /// operator names are reachable as infix words (`event contains "x"`).
    fn from_token(v: &str) -> Op {
        match v {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "number_equals" => Op::NumberEq,
            "number_not_equals" => Op::NumberNe,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "contains" => Op::Contains,
            "not_contains" => Op::NotContains,
            "starts_with" => Op::StartsWith,
            "not_starts_with" => Op::NotStartsWith,
            "ends_with" => Op::EndsWith,
            "not_ends_with" => Op::NotEndsWith,
            "exists" => Op::Exists,
            "not_exists" => Op::NotExists,
            "is_true" => Op::IsTrue,
            "is_false" => Op::IsFalse,
            _ => Op::Other,
        }
    }
}

/// Property path as the reference's `get` will walk it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Path {
    /// Empty name: `get` short-circuits to undefined.
    Empty,
    /// Name made only of `.`/`[`/`]`: `get` throws a TypeError at evaluation time.
    Throws,
    Keys(Vec<String>),
}

impl Path {
    fn new(name: &str) -> Path {
        if name.is_empty() {
            return Path::Empty;
        }
        let keys: Vec<String> = name
            .split(['.', '[', ']'])
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if keys.is_empty() {
            Path::Throws
        } else {
            Path::Keys(keys)
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Field {
    Type,
    Event,
    Name,
    UserId,
    Properties(Path),
    Traits(Path),
    Context(Path),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cond {
    pub field: Field,
    pub op: Op,
    pub value: Lit,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// `children` may hold `None`: an empty `()` group yields an undefined child,
    /// which makes the reference throw (i.e. not match) once evaluation reaches it.
    Group {
        or: bool,
        children: Vec<Option<Node>>,
    },
    Cond(Cond),
}

#[derive(Debug)]
pub(crate) struct ParseError {
    /// UTF-16 offset.
    pub pos: usize,
    pub message: String,
}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

#[derive(Clone, Copy)]
enum Target {
    Type,
    Event,
    Name,
    UserId,
    Properties,
    Traits,
    Context,
    /// A name the reference's lookup table "knows" only through
    /// `Object.prototype` (e.g. `constructor`): it consumes an operator and a
    /// value but adds no condition.
    Inert,
}

/// Own properties of `Object.prototype` (identical in Node 20 and 22).
const OBJECT_PROTO: &[&str] = &[
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
    "__proto__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

fn target(head: &str) -> Option<Target> {
    Some(match head {
        "type" => Target::Type,
        "event" => Target::Event,
        "name" => Target::Name,
        "userId" => Target::UserId,
        "properties" => Target::Properties,
        "traits" => Target::Traits,
        "context" => Target::Context,
        _ if OBJECT_PROTO.contains(&head) => Target::Inert,
        _ => return None,
    })
}

/// The reference's reading of a token as a literal.
fn token_value(t: &Token) -> Prim {
    match t.kind {
        Kind::Str => {
            // Only double quotes are stripped: 'x' keeps its single quotes.
            let v = t.value.strip_prefix('"').unwrap_or(&t.value);
            let v = v.strip_suffix('"').unwrap_or(v);
            Prim::str(v)
        }
        Kind::Number => Prim::Num(string_to_number(&t.value)),
        Kind::Ident if t.value == "true" => Prim::Bool(true),
        Kind::Ident if t.value == "false" => Prim::Bool(false),
        _ => Prim::str(&t.value),
    }
}

fn string_value(t: &Token) -> Prim {
    Prim::Str(token_value(t).to_js_string())
}

fn field_for(t: Target, full: &str) -> Option<Field> {
    let path = |prefix: &str| Path::new(full.strip_prefix(prefix).unwrap_or(full));
    Some(match t {
        Target::Type => Field::Type,
        Target::Event => Field::Event,
        Target::Name => Field::Name,
        Target::UserId => Field::UserId,
        Target::Properties => Field::Properties(path("properties.")),
        Target::Traits => Field::Traits(path("traits.")),
        Target::Context => Field::Context(path("context.")),
        Target::Inert => return None,
    })
}

fn condition(t: Target, field_tok: &Token, op_tok: &Token, val_tok: &Token) -> Option<Cond> {
    let field = field_for(t, &field_tok.value)?;
    let (op, val) = (op_tok.value.as_str(), val_tok.value.as_str());
    let special = match (op, val) {
        ("!=", "null") => Some(Op::Exists),
        ("=", "null") => Some(Op::NotExists),
        ("=", "true") => Some(Op::IsTrue),
        ("=", "false") => Some(Op::IsFalse),
        ("=", _) if val_tok.kind == Kind::Number => Some(Op::NumberEq),
        ("!=", _) if val_tok.kind == Kind::Number => Some(Op::NumberNe),
        _ => None,
    };
    // Which of the special forms each field gets differs in the reference.
    let special = match (&field, special) {
        (Field::Type | Field::Event, _) => None,
        (Field::Name, Some(s @ (Op::Exists | Op::NotExists))) => Some(s),
        (Field::Name, _) => None,
        (Field::UserId, Some(Op::NumberEq | Op::NumberNe)) => None,
        (_, s) => s,
    };
    if let Some(op) = special {
        let value = matches!(op, Op::NumberEq | Op::NumberNe).then(|| token_value(val_tok));
        let value = Lit::new(value.as_ref());
        return Some(Cond { field, op, value });
    }
    let value = match field {
        Field::Type | Field::Event | Field::Name | Field::UserId => string_value(val_tok),
        _ => token_value(val_tok),
    };
    Some(Cond {
        field,
        op: Op::from_token(op),
        value: Lit::new(Some(&value)),
    })
}

fn is_function(t: &Token) -> bool {
    t.kind == Kind::Ident && (t.value == "contains" || t.value == "match")
}

/// `contains(field, value)` / `match(field, "glob")`; the reference takes tokens
/// positionally and never checks the `(`, `,` and `)`.
fn function(
    fn_tok: &Token,
    tokens: &mut VecDeque<Token>,
    nodes: &mut Vec<Option<Node>>,
    negate: bool,
    end: usize,
) -> Result<(), ParseError> {
    let name = fn_tok.value.as_str();
    tokens.pop_front();
    let Some(field_tok) = tokens.pop_front() else {
        return err(end, format!("{name}() is missing its 1st argument"));
    };
    tokens.pop_front();
    let Some(val_tok) = tokens.pop_front() else {
        return err(end, format!("{name}() is missing its 2nd argument"));
    };
    tokens.pop_front();

    let (op, value) = if name == "contains" {
        (
            if negate {
                Op::NotContains
            } else {
                Op::Contains
            },
            string_value(&val_tok),
        )
    } else {
        let mut v = token_value(&val_tok).to_js_string();
        if val_tok.value.ends_with("*\"") {
            v.pop();
            (
                if negate {
                    Op::NotStartsWith
                } else {
                    Op::StartsWith
                },
                Prim::Str(v),
            )
        } else {
            // Anything else is read as "*suffix": the first code unit is dropped
            // whether or not it is a `*`.
            if !v.is_empty() {
                v.remove(0);
            }
            (
                if negate {
                    Op::NotEndsWith
                } else {
                    Op::EndsWith
                },
                Prim::Str(v),
            )
        }
    };
    let f = field_tok.value.as_str();
    let field = match f {
        "event" => Some(Field::Event),
        "name" => Some(Field::Name),
        "userId" => Some(Field::UserId),
        // Prefix test without a dot, as in the reference (`propertiesX` counts).
        _ if f.starts_with("properties") => Some(Field::Properties(Path::new(
            f.strip_prefix("properties.").unwrap_or(f),
        ))),
        _ if f.starts_with("traits") => Some(Field::Traits(Path::new(
            f.strip_prefix("traits.").unwrap_or(f),
        ))),
        _ if f.starts_with("context") => Some(Field::Context(Path::new(
            f.strip_prefix("context.").unwrap_or(f),
        ))),
        // Notably `type`: the reference silently drops contains()/match() on it.
        _ => None,
    };
    if let Some(field) = field {
        nodes.push(Some(Node::Cond(Cond {
            field,
            op,
            value: Lit::new(Some(&value)),
        })));
    }
    Ok(())
}

/// Returns the reference's `parse` result: `None` is its `undefined`.
pub(crate) fn parse_tokens(
    mut tokens: VecDeque<Token>,
    depth: usize,
    end: usize,
) -> Result<Option<Node>, ParseError> {
    let mut nodes: Vec<Option<Node>> = Vec::new();
    let mut or = false;
    while let Some(tok) = tokens.pop_front() {
        match tok.kind {
            Kind::Eos => break,
            Kind::Ident => {
                let head = tok.value.split('.').next().unwrap_or("");
                if let Some(t) = target(head) {
                    let Some(op_tok) = tokens.pop_front() else {
                        return err(end, format!("missing operator after {:?}", tok.value));
                    };
                    let Some(val_tok) = tokens.pop_front() else {
                        return err(
                            end,
                            format!("missing value after {:?} {}", tok.value, op_tok.value),
                        );
                    };
                    if let Some(c) = condition(t, &tok, &op_tok, &val_tok) {
                        nodes.push(Some(Node::Cond(c)));
                    }
                } else if is_function(&tok) {
                    function(&tok, &mut tokens, &mut nodes, false, end)?;
                }
            }
            Kind::Operator if tok.value == "!" => match tokens.front() {
                None => return err(end, "nothing after '!'"),
                Some(f) if is_function(f) => {
                    if let Some(f) = tokens.pop_front() {
                        function(&f, &mut tokens, &mut nodes, true, end)?;
                    }
                }
                Some(_) => {}
            },
            Kind::ParenLeft => {
                let mut group = VecDeque::new();
                loop {
                    match tokens.pop_front() {
                        None => return err(tok.pos, "'(' is never closed"),
                        Some(t) if t.kind == Kind::ParenRight => {
                            group.push_back(Token::new(Kind::Eos, "eos", t.pos));
                            break;
                        }
                        Some(t) => group.push_back(t),
                    }
                }
                if depth >= MAX_DEPTH {
                    return err(tok.pos, "parentheses nested too deeply");
                }
                nodes.push(parse_tokens(group, depth + 1, end)?);
            }
            Kind::Conditional => or = tok.value == "or",
            _ => {}
        }
    }
    if nodes.len() > 1 {
        return Ok(Some(Node::Group {
            or,
            children: nodes,
        }));
    }
    Ok(nodes.into_iter().next().flatten())
}
