//! Tokenizer with the reference lexer's exact acceptance rules.
//!
//! The reference works on UTF-16 code units and has several look-ahead rules that
//! decide whether input is valid at all (e.g. `a!="x"` is rejected because `!=` must
//! be followed by a terminator, while `a<=5` lexes as `<`, `=`, `5`). Any lexer error
//! makes the whole trigger invalid, so these rules are reproduced one for one.

const MAX_LEN: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ident,
    Dot,
    Operator,
    Conditional,
    Str,
    Number,
    Null,
    BrackLeft,
    BrackRight,
    ParenLeft,
    ParenRight,
    Comma,
    Eos,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: Kind,
    /// Raw text as the reference keeps it (strings keep their quotes, idents have
    /// escapes resolved, EOS is "eos").
    pub value: String,
    /// Offset in UTF-16 code units.
    pub pos: usize,
}

impl Token {
    pub(crate) fn new(kind: Kind, value: impl Into<String>, pos: usize) -> Token {
        Token {
            kind,
            value: value.into(),
            pos,
        }
    }
}

#[derive(Debug)]
pub(crate) struct LexError {
    /// Offset in UTF-16 code units.
    pub pos: usize,
    pub message: String,
}

/// One "character" as the reference sees it: a code unit, or `None` at end of input.
type C = Option<u16>;

fn is(c: C, ch: char) -> bool {
    c == Some(ch as u16)
}
fn is_alpha(c: C) -> bool {
    matches!(c, Some(u) if (u as u8 as u16) == u && (u as u8).is_ascii_alphabetic())
}
fn is_digit(c: C) -> bool {
    matches!(c, Some(u) if (u as u8 as u16) == u && (u as u8).is_ascii_digit())
}
fn is_whitespace(c: C) -> bool {
    is(c, ' ') || is(c, '\t') || is(c, '\n')
}
fn is_ident_char(c: C) -> bool {
    is_alpha(c) || is_digit(c) || is(c, '_') || is(c, '-') || is(c, '\\')
}
/// End of input counts as a terminator.
fn is_terminator(c: C) -> bool {
    c.is_none() || is_whitespace(c) || is(c, ',') || is(c, ']') || is(c, ')')
}

fn units_to_string(u: &[u16]) -> String {
    String::from_utf16_lossy(u)
}

struct Lexer<'a> {
    src: &'a [u16],
    pos: usize,
}

impl Lexer<'_> {
    fn next(&mut self) -> C {
        let c = self.src.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
    fn peek(&self) -> C {
        self.src.get(self.pos).copied()
    }
    fn backup(&mut self, n: usize) {
        self.pos = self.pos.saturating_sub(n);
    }
    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            message: message.into(),
        })
    }

    /// Try to consume `word` followed by a terminator. Like the reference, running
    /// into end of input part-way leaves what was read consumed (so "an" lexes as
    /// the identifier "a").
    fn accept(&mut self, word: &str) -> bool {
        let mut read: Vec<u16> = Vec::with_capacity(word.len());
        for _ in word.encode_utf16() {
            let Some(c) = self.next() else { return false };
            read.push(c);
            if is_terminator(Some(c)) {
                break;
            }
        }
        if word.encode_utf16().eq(read.iter().copied()) && is_terminator(self.peek()) {
            return true;
        }
        self.backup(read.len());
        false
    }

    fn lex(&mut self) -> Result<Vec<Token>, LexError> {
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            let Some(u) = self.next() else {
                out.push(Token::new(Kind::Eos, "eos", self.pos));
                return Ok(out);
            };
            let c = Some(u);
            if is_whitespace(c) {
                continue;
            }
            if is(c, '!') {
                let n = self.peek();
                if is_alpha(n) || is(n, '(') {
                    out.push(Token::new(Kind::Operator, "!", start));
                    continue;
                }
            }
            if is_alpha(c) || ['!', '=', '>', '<', '\\', '_'].iter().any(|ch| is(c, *ch)) {
                let mut t = self.lex_operator_or_conditional(u)?;
                t.pos = start;
                out.push(t);
                continue;
            }
            if is_digit(c) || is(c, '-') || is(c, '+') {
                out.push(self.lex_number(u, start)?);
                continue;
            }
            if is(c, '"') || is(c, '\'') {
                out.push(self.lex_string(u, start)?);
                continue;
            }
            let simple = match u {
                0x2e => Some((Kind::Dot, ".")),
                0x5b => Some((Kind::BrackLeft, "[")),
                0x5d => Some((Kind::BrackRight, "]")),
                0x2c => Some((Kind::Comma, ",")),
                0x28 => Some((Kind::ParenLeft, "(")),
                0x29 => Some((Kind::ParenRight, ")")),
                _ => None,
            };
            match simple {
                Some((k, v)) => out.push(Token::new(k, v, start)),
                None => {
                    return self.err(
                        start,
                        format!("invalid character {:?}", units_to_string(&[u])),
                    );
                }
            }
        }
    }

    fn lex_operator_or_conditional(&mut self, prev: u16) -> Result<Token, LexError> {
        let p = Some(prev);
        if is(p, '=') {
            return Ok(Token::new(Kind::Operator, "=", 0));
        }
        if is(p, '!') {
            if self.accept("=") {
                return Ok(Token::new(Kind::Operator, "!=", 0));
            }
            return self.err(
                self.pos.saturating_sub(1),
                "expected '=' followed by a space, ',', ']' or ')' after '!'",
            );
        }
        if is(p, 'a') {
            if self.accept("nd") {
                return Ok(Token::new(Kind::Conditional, "and", 0));
            }
            return self.lex_ident(prev);
        }
        if is(p, 'o') {
            if self.accept("r") {
                return Ok(Token::new(Kind::Conditional, "or", 0));
            }
            return self.lex_ident(prev);
        }
        if is(p, 'n') {
            if self.accept("ull") {
                return Ok(Token::new(Kind::Null, "null", 0));
            }
            return self.lex_ident(prev);
        }
        if is(p, '<') || is(p, '>') {
            let op = if is(p, '<') { "<" } else { ">" };
            if self.accept("=") {
                return Ok(Token::new(Kind::Operator, format!("{op}="), 0));
            }
            return Ok(Token::new(Kind::Operator, op, 0));
        }
        self.lex_ident(prev)
    }

    fn lex_ident(&mut self, prev: u16) -> Result<Token, LexError> {
        let mut s: Vec<u16> = Vec::new();
        let mut c = prev;
        loop {
            if is(Some(c), '\\') {
                match self.next() {
                    Some(e) => c = e,
                    None => return self.err(self.pos, "expected a character after '\\'"),
                }
            }
            s.push(c);
            if s.len() >= MAX_LEN {
                return self.err(self.pos, "identifier too long");
            }
            if !is_ident_char(self.peek()) {
                break;
            }
            // Cannot be None: is_ident_char(None) is false.
            let Some(n) = self.next() else { break };
            c = n;
        }
        let n = self.peek();
        if !(is_terminator(n) || is(n, '.') || is(n, '(') || is(n, '=') || is(n, '!')) {
            return self.err(
                self.pos,
                format!(
                    "unexpected {:?} after identifier {:?}",
                    units_to_string(&[n.unwrap_or(0)]),
                    units_to_string(&s)
                ),
            );
        }
        Ok(Token::new(Kind::Ident, units_to_string(&s), 0))
    }

    fn lex_number(&mut self, prev: u16, start: usize) -> Result<Token, LexError> {
        let mut s: Vec<u16> = vec![prev];
        let mut decimal = false;
        let mut coming = self.peek();
        while is_digit(coming) || is(coming, '.') {
            let Some(c) = self.next() else { break };
            s.push(c);
            if is(coming, '.') {
                if is_terminator(self.peek()) {
                    return self.err(self.pos, "a decimal point must be followed by digits");
                }
                if decimal {
                    return self.err(self.pos, "more than one decimal point in a number");
                }
                decimal = true;
            }
            if s.len() > MAX_LEN {
                return self.err(self.pos, "number too long");
            }
            coming = self.peek();
        }
        Ok(Token::new(Kind::Number, units_to_string(&s), start))
    }

    fn lex_string(&mut self, quote: u16, start: usize) -> Result<Token, LexError> {
        let mut s: Vec<u16> = vec![quote];
        while self.peek() != Some(quote) {
            match self.next() {
                Some(c) => s.push(c),
                None => return self.err(start, "unterminated string"),
            }
            if s.len() > MAX_LEN {
                return self.err(self.pos, "string too long");
            }
        }
        // The closing quote only counts as consumed when a terminator follows;
        // otherwise the reference re-reads it as the opening quote of the next string.
        let q = if quote == b'"' as u16 { "\"" } else { "'" };
        self.accept(q);
        s.push(quote);
        Ok(Token::new(Kind::Str, units_to_string(&s), start))
    }
}

pub(crate) fn lex(src: &[u16]) -> Result<Vec<Token>, LexError> {
    Lexer { src, pos: 0 }.lex()
}

/// Joins `ident . ident` runs into one identifier, as the reference does before
/// parsing (`properties.a.b` becomes a single token; `properties."a"` does not).
pub(crate) fn normalize(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut it = tokens.into_iter().peekable();
    while let Some(cur) = it.next() {
        let joins = cur.kind == Kind::Dot
            && out.last().is_some_and(|l| l.kind == Kind::Ident)
            && it.peek().is_some_and(|n| n.kind == Kind::Ident);
        if joins {
            if let (Some(last), Some(next)) = (out.last_mut(), it.next()) {
                last.value.push('.');
                last.value.push_str(&next.value);
            }
        } else {
            out.push(cur);
        }
    }
    out
}
