//! Segment FQL subscription triggers (`type = "track" and event = "Order Completed"`),
//! with the behaviour of `@segment/destination-subscriptions`:
//! `parse(src)?.matches(event) == validate(parseFql(src), event)`.
//!
//! Compatibility over tidiness: the reference is a lenient single pass over the
//! tokens of `@segment/fql-ts`, and triggers already stored at Segment depend on
//! exactly what it accepts. Its notable behaviours, all reproduced here:
//! - No operator precedence: without brackets, all conditions form one group whose
//!   operator is the last `and`/`or` written (`a or b and c` == `a and b and c`).
//! - `( ... )` closes at the first `)`, so a bracket inside a bracket is an error;
//!   `()` parses but never matches.
//! - `!` negates only `contains(...)` and `match(...)`; `!type = "x"` == `type = "x"`.
//! - Field names with special characters are backslash-escaped (`properties.my\ key`);
//!   `properties."my key"` parses but never matches.
//! - `match(f, "abc*")` is starts-with; any other pattern drops its first character
//!   and is ends-with. `contains`/`match` on `type` add no condition at all.
//! - `x = 1` needs a JSON number, `x = "1"` a JSON string; `<`,`>`... only match
//!   numbers; `x = true/false/null`, `x != null` are is_true/is_false/(not_)exists.
//! - Empty input, `all`, or input with no recognised condition is an error.
//! - Evaluation errors in the reference (TypeErrors) count as "no match".

mod eval;
mod jsnum;
mod lexer;
mod parser;

use std::collections::VecDeque;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct FqlError {
    /// 0-based character offset in the source where parsing failed.
    pub position: usize,
    pub message: String,
}

impl std::fmt::Display for FqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for FqlError {}

/// A parsed trigger.
#[derive(Debug, Clone)]
pub struct Fql {
    /// Always a group (the reference wraps a lone condition in an `and` group).
    root: parser::Node,
}

/// UTF-16 offset (what the reference counts) -> char offset (what callers index).
fn char_position(src: &str, utf16_pos: usize) -> usize {
    let mut units = 0;
    for (i, c) in src.chars().enumerate() {
        if units >= utf16_pos {
            return i;
        }
        units += c.len_utf16();
    }
    src.chars().count()
}

/// Deepest bracket nesting we report as such. The reference rejects any bracket inside a
/// bracket, so no valid trigger nests deeper than 1; past this limit the error names the limit
/// instead of the reference's "'(' is never closed" at the second bracket.
pub const MAX_FQL_DEPTH: usize = 32;

pub fn parse(src: &str) -> Result<Fql, FqlError> {
    let units: Vec<u16> = src.encode_utf16().collect();
    let error = |pos: usize, message: String| FqlError {
        position: char_position(src, pos),
        message,
    };
    let tokens = lexer::lex(&units).map_err(|e| error(e.pos, e.message))?;
    check_nesting(&tokens).map_err(|pos| {
        error(pos, format!("FQL nested deeper than {MAX_FQL_DEPTH} levels"))
    })?;
    let tokens: VecDeque<_> = lexer::normalize(tokens).into();
    let root = parser::parse_tokens(tokens, 0, units.len()).map_err(|e| error(e.pos, e.message))?;
    match root {
        None => Err(error(
            0,
            "no condition found (expected e.g. type = \"track\")".into(),
        )),
        Some(group @ parser::Node::Group { .. }) => Ok(Fql { root: group }),
        Some(cond) => Ok(Fql {
            root: parser::Node::Group {
                or: false,
                children: vec![Some(cond)],
            },
        }),
    }
}

/// UTF-16 position of the first `(` that opens level `MAX_FQL_DEPTH + 1`.
fn check_nesting(tokens: &[lexer::Token]) -> Result<(), usize> {
    let mut depth = 0usize;
    for t in tokens {
        match t.kind {
            lexer::Kind::ParenLeft => {
                depth += 1;
                if depth > MAX_FQL_DEPTH {
                    return Err(t.pos);
                }
            }
            lexer::Kind::ParenRight => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

impl Fql {
    pub fn matches(&self, event: &crate::json::J) -> bool {
        eval::node(Some(&self.root), event).unwrap_or(false)
    }

    /// `matches` on an object event for a trigger that only tests `type = "..."` and
    /// `event = "..."` (every preset's shape), from the event's `type` and `event` strings
    /// (`None`: absent or not a string), read once for all of an event's subscriptions
    /// instead of looked up per trigger; `None` for a trigger of any other shape.
    pub fn matches_type_event(&self, ty: Option<&str>, event: Option<&str>) -> Option<bool> {
        use parser::{Field, Node, Op};
        let Node::Group { or, children } = &self.root else { return None };
        if children.is_empty() {
            return None;
        }
        let mut all = true;
        let mut any = false;
        for c in children {
            let Some(Node::Cond(c)) = c else { return None };
            let (Op::Eq, Some(want)) = (c.op, c.value.text.as_deref()) else { return None };
            // Such a condition cannot throw, so the group is a plain and / or of them.
            let hit = match c.field {
                Field::Type => ty == Some(want),
                Field::Event => event == Some(want),
                _ => return None,
            };
            all &= hit;
            any |= hit;
        }
        Some(if *or { any } else { all })
    }

    /// `matches` for a serde value (tests, one-off checks).
    pub fn matches_value(&self, event: &Value) -> bool {
        self.matches(&crate::json::J::from_value(event))
    }
}

#[cfg(test)]
mod tests;
