//! A tokenizer and parser for the subset of Python that `ast.literal_eval` accepts, which is how Odoo
//! reads `__manifest__.py`: dicts, lists, tuples, sets, strings (all quote styles, `r`/`u`/`b` prefixes,
//! escapes, implicit concatenation), ints, floats, one unary sign, `True`/`False`/`None`, comments and
//! line continuations.
//!
//! Anything else — names, calls, f-strings, operators, lambdas, a docstring before the dict — is an
//! error with file:line:col, never evaluated. Not supported although `literal_eval` takes them, because
//! no manifest needs them: complex numbers and `\N{...}` escapes (both reported as errors, not guessed).

use std::path::Path;

use crate::error::OdooError;

/// A 1-based line and column (in characters) in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

/// A parsed literal and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What the literal is.
    pub kind: ValueKind,
    /// Where its first token starts.
    pub pos: Pos,
}

/// The Python literal kinds `ast.literal_eval` produces (minus complex numbers).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `int` (manifests never need more than 128 bits; larger is an error).
    Int(i128),
    /// `float`.
    Float(f64),
    /// `True` / `False`.
    Bool(bool),
    /// `None`.
    None,
    /// `[...]`.
    List(Vec<Value>),
    /// `(...)` with a comma, or `()`.
    Tuple(Vec<Value>),
    /// `{a, b}`.
    Set(Vec<Value>),
    /// `{k: v}` in source order; duplicate keys are kept, lookups take the last like Python does.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::Str(_) => "str",
            ValueKind::Bytes(_) => "bytes",
            ValueKind::Int(_) => "int",
            ValueKind::Float(_) => "float",
            ValueKind::Bool(_) => "bool",
            ValueKind::None => "None",
            ValueKind::List(_) => "list",
            ValueKind::Tuple(_) => "tuple",
            ValueKind::Set(_) => "set",
            ValueKind::Dict(_) => "dict",
        }
    }

    /// The value of a string key of a dict (the last one if repeated, as in Python); `None` for non-dicts.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            ValueKind::Dict(items) => {
                items.iter().rev().find(|(k, _)| matches!(&k.kind, ValueKind::Str(s) if s == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is a list, tuple or set.
    pub fn as_sequence(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::List(v) | ValueKind::Tuple(v) | ValueKind::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// Parses `src` as one Python literal, as `ast.literal_eval` would; `file` is only used in errors.
pub fn parse_literal(src: &str, file: &Path) -> Result<Value, OdooError> {
    let mut parser = Parser { lexer: Lexer::new(src, file), peeked: None, depth: 0 };
    parser.parse_file()
}

// Nesting deeper than this is refused rather than risking the stack; CPython's own parser stops at 200.
const MAX_DEPTH: usize = 200;

const HINT_LITERAL: &str = "write the value itself (a string, number, list, dict, True/False/None)";
const HINT_SYNTAX: &str = "fix the Python syntax";

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Comma,
    Colon,
    Sign(char),
    Op(String),
    Str {
        bytes: bool,
        text: Vec<u8>,
    },
    Int(i128),
    Float(f64),
    Const(ValueKind),
    Name {
        name: String,
        called: bool,
    },
    /// An f-string (or t-string); only produced by the lenient lexer of [`scan`].
    FStr,
    Newline,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
}

struct Lexer<'a> {
    src: &'a str,
    file: &'a Path,
    at: usize,
    line: u32,
    col: u32,
    // Brackets open: newlines inside them are whitespace, as in Python.
    depth: usize,
    // Lenient (for `scan`): f-strings become `Tok::FStr` and bad escapes inside strings are kept as
    // written, so the lexer stays in step with the source instead of stopping.
    lenient: bool,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, file: &'a Path) -> Self {
        Lexer { src, file, at: 0, line: 1, col: 1, depth: 0, lenient: false }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    /// Consumes the next two characters if both are `quote`: the rest of a triple quote, opening or
    /// closing.
    fn eat_two(&mut self, quote: char) -> bool {
        let both = self.peek_char() == Some(quote) && self.peek_char_at(1) == Some(quote);
        if both {
            self.bump();
            self.bump();
        }
        both
    }

    fn peek_char_at(&self, n: usize) -> Option<char> {
        self.src[self.at..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else if c == '\r' {
            // A lone \r is a line end too; in \r\n the \n does the counting.
            if self.peek_char() != Some('\n') {
                self.line += 1;
                self.col = 1;
            }
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn error(&self, pos: Pos, message: impl Into<String>, hint: &'static str) -> OdooError {
        OdooError::Syntax { file: self.file.to_path_buf(), line: pos.line, col: pos.col, message: message.into(), hint }
    }

    fn next_token(&mut self) -> Result<Token, OdooError> {
        loop {
            let pos = self.pos();
            let Some(c) = self.peek_char() else {
                return Ok(Token { tok: Tok::Eof, pos });
            };
            match c {
                ' ' | '\t' | '\x0c' => {
                    self.bump();
                }
                '#' => {
                    while !matches!(self.peek_char(), None | Some('\n' | '\r')) {
                        self.bump();
                    }
                }
                '\\' => {
                    self.bump();
                    match self.peek_char() {
                        Some('\n') => {
                            self.bump();
                        }
                        Some('\r') => {
                            self.bump();
                            if self.peek_char() == Some('\n') {
                                self.bump();
                            }
                        }
                        _ => {
                            return Err(self.error(pos, "a backslash outside a string must end its line", HINT_SYNTAX));
                        }
                    }
                }
                '\n' | '\r' => {
                    self.bump();
                    if self.depth == 0 {
                        return Ok(Token { tok: Tok::Newline, pos });
                    }
                }
                '(' | '[' | '{' => {
                    self.bump();
                    self.depth += 1;
                    return Ok(Token { tok: Tok::Open(c), pos });
                }
                ')' | ']' | '}' => {
                    self.bump();
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(Token { tok: Tok::Close(c), pos });
                }
                ',' => {
                    self.bump();
                    return Ok(Token { tok: Tok::Comma, pos });
                }
                ':' => {
                    self.bump();
                    if self.peek_char() == Some('=') {
                        self.bump();
                        return Ok(Token { tok: Tok::Op(":=".into()), pos });
                    }
                    return Ok(Token { tok: Tok::Colon, pos });
                }
                '+' | '-' => {
                    self.bump();
                    if matches!(self.peek_char(), Some('=' | '>')) {
                        let second = self.bump().unwrap_or_default();
                        return Ok(Token { tok: Tok::Op(format!("{c}{second}")), pos });
                    }
                    return Ok(Token { tok: Tok::Sign(c), pos });
                }
                '.' if self.peek_char_at(1).is_some_and(|d| d.is_ascii_digit()) => {
                    return self.number(pos);
                }
                '0'..='9' => return self.number(pos),
                '"' | '\'' => return self.string(pos, ""),
                c if c == '_' || c.is_alphabetic() => return self.word(pos),
                ';' => {
                    self.bump();
                    return Ok(Token { tok: Tok::Op(";".into()), pos });
                }
                '*' | '/' | '%' | '@' | '<' | '>' | '=' | '!' | '&' | '|' | '^' | '~' | '.' => {
                    let mut op = String::new();
                    while let Some(o) = self.peek_char() {
                        if !"*/%@<>=!&|^~.".contains(o) || op.len() >= 3 {
                            break;
                        }
                        op.push(o);
                        self.bump();
                    }
                    return Ok(Token { tok: Tok::Op(op), pos });
                }
                '\u{feff}' => {
                    return Err(self.error(
                        pos,
                        "a byte order mark (U+FEFF), which Python rejects here",
                        "save the file as UTF-8 without BOM",
                    ));
                }
                other => {
                    return Err(self.error(pos, format!("unexpected character {other:?}"), HINT_SYNTAX));
                }
            }
        }
    }

    fn word(&mut self, pos: Pos) -> Result<Token, OdooError> {
        let start = self.at;
        while self.peek_char().is_some_and(|c| c == '_' || c.is_alphanumeric()) {
            self.bump();
        }
        let word = &self.src[start..self.at];
        if matches!(self.peek_char(), Some('"' | '\'')) && is_string_prefix(word) {
            return self.string(pos, word);
        }
        let tok = match word {
            "True" => Tok::Const(ValueKind::Bool(true)),
            "False" => Tok::Const(ValueKind::Bool(false)),
            "None" => Tok::Const(ValueKind::None),
            _ => {
                // Looking past blanks for `(` only serves the error message ("call" rather than "name").
                let rest = self.src[self.at..].trim_start_matches([' ', '\t']);
                Tok::Name { name: word.to_string(), called: rest.starts_with('(') }
            }
        };
        Ok(Token { tok, pos })
    }

    fn string(&mut self, pos: Pos, prefix: &str) -> Result<Token, OdooError> {
        let lower = prefix.to_ascii_lowercase();
        if (lower.contains('f') || lower.contains('t')) && self.lenient {
            return Ok(self.skip_fstring(pos));
        }
        if lower.contains('f') || lower.contains('t') {
            return Err(self.error(
                pos,
                format!("an f-string ({prefix}\"...\") is code, not a literal"),
                "write a plain string without the f prefix and without {…} placeholders",
            ));
        }
        let raw = lower.contains('r');
        let bytes = lower.contains('b');
        let quote = self.bump().unwrap_or('"');
        let triple = self.eat_two(quote);
        let mut out = String::new();
        loop {
            let here = self.pos();
            let Some(c) = self.bump() else {
                return Err(self.error(
                    pos,
                    "a string that is never closed",
                    "close the string with the same quotes it opened with",
                ));
            };
            if c == quote {
                if !triple {
                    break;
                }
                if self.eat_two(quote) {
                    break;
                }
                out.push(c);
            } else if (c == '\n' || c == '\r') && !triple {
                return Err(self.error(
                    pos,
                    "a string that is never closed on its line",
                    "close the string on the same line, or use triple quotes for text over several lines",
                ));
            } else if c == '\\' {
                let Some(e) = self.bump() else {
                    continue;
                };
                if bytes && !e.is_ascii() && !self.lenient {
                    return Err(self.error(
                        here,
                        "a non-ASCII character in a bytes literal",
                        "use a str literal (no b prefix)",
                    ));
                }
                if raw {
                    // Raw strings keep the backslash, but an escaped quote still does not close them.
                    out.push('\\');
                    out.push(e);
                    continue;
                }
                if let Err(err) = self.escape(e, here, bytes, &mut out) {
                    if !self.lenient {
                        return Err(err);
                    }
                    out.push('\\');
                    out.push(e);
                }
            } else {
                if bytes && !c.is_ascii() && !self.lenient {
                    return Err(self.error(
                        here,
                        "a non-ASCII character in a bytes literal",
                        "use a str literal (no b prefix)",
                    ));
                }
                out.push(c);
            }
        }
        let text = if bytes && !self.lenient {
            // Byte escapes were pushed as chars U+0000..=U+00FF; turn each back into one byte.
            out.chars().map(|c| c as u32 as u8).collect()
        } else {
            out.into_bytes()
        };
        Ok(Token { tok: Tok::Str { bytes, text }, pos })
    }

    /// Skips an f-string body (the opening quote is next) up to its closing quotes. Best effort: a
    /// replacement field holding the same quotes (allowed since Python 3.12) ends it early.
    fn skip_fstring(&mut self, pos: Pos) -> Token {
        let quote = self.bump().unwrap_or('"');
        let triple = self.eat_two(quote);
        while let Some(c) = self.bump() {
            if c == quote {
                if !triple {
                    break;
                }
                if self.eat_two(quote) {
                    break;
                }
            } else if (c == '\n' || c == '\r') && !triple {
                break;
            } else if c == '\\' {
                // Raw or not, the character after a backslash never closes the string.
                self.bump();
            }
        }
        Token { tok: Tok::FStr, pos }
    }

    fn escape(&mut self, e: char, at: Pos, bytes: bool, out: &mut String) -> Result<(), OdooError> {
        let simple = match e {
            '\n' => return Ok(()),
            '\r' => {
                if self.peek_char() == Some('\n') {
                    self.bump();
                }
                return Ok(());
            }
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            return Ok(());
        }
        let code = match e {
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek_char().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                if bytes { v & 0xff } else { v }
            }
            'x' => self.hex_digits(2, at)?,
            'u' if !bytes => self.hex_digits(4, at)?,
            'U' if !bytes => self.hex_digits(8, at)?,
            'N' if !bytes => {
                return Err(self.error(
                    at,
                    "a \\N{...} named escape, which Ringfence does not resolve",
                    "write the character itself or a \\u escape",
                ));
            }
            other => {
                // Python keeps unknown escapes as they are (with a warning).
                out.push('\\');
                out.push(other);
                return Ok(());
            }
        };
        match char::from_u32(code) {
            Some(c) => {
                out.push(c);
                Ok(())
            }
            None => Err(self.error(
                at,
                format!("escape for code point {code:#x}, which is not a Unicode scalar value"),
                "remove the escape",
            )),
        }
    }

    fn hex_digits(&mut self, n: usize, at: Pos) -> Result<u32, OdooError> {
        let mut v: u32 = 0;
        for _ in 0..n {
            match self.peek_char().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    v = v.wrapping_mul(16).wrapping_add(d);
                    self.bump();
                }
                None => {
                    return Err(self.error(at, format!("a truncated escape: expected {n} hex digits"), HINT_SYNTAX));
                }
            }
        }
        Ok(v)
    }

    fn number(&mut self, pos: Pos) -> Result<Token, OdooError> {
        let start = self.at;
        let radix = if self.peek_char() == Some('0') {
            match self.peek_char_at(1).map(|c| c.to_ascii_lowercase()) {
                Some('x') => 16,
                Some('o') => 8,
                Some('b') => 2,
                _ => 10,
            }
        } else {
            10
        };
        let bad = |lexer: &Self| {
            lexer.error(pos, format!("an invalid number {:?}", &lexer.src[start..lexer.at.max(start)]), HINT_SYNTAX)
        };
        if radix != 10 {
            self.bump();
            self.bump();
            let digits = self.digits(radix).ok_or_else(|| bad(self))?;
            self.reject_trailing_word(pos)?;
            let value = i128::from_str_radix(&digits, radix).map_err(|_| bad(self))?;
            return Ok(Token { tok: Tok::Int(value), pos });
        }
        let mut text = String::new();
        let mut is_float = false;
        if self.peek_char() != Some('.') {
            text.push_str(&self.digits(10).ok_or_else(|| bad(self))?);
        }
        if self.peek_char() == Some('.') {
            is_float = true;
            self.bump();
            text.push('.');
            if self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
                text.push_str(&self.digits(10).ok_or_else(|| bad(self))?);
            }
        }
        if matches!(self.peek_char(), Some('e' | 'E')) {
            let sign = self.peek_char_at(1);
            let digit_at = if matches!(sign, Some('+' | '-')) { 2 } else { 1 };
            if self.peek_char_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                self.bump();
                text.push('e');
                if digit_at == 2 {
                    text.push(self.bump().unwrap_or('+'));
                }
                text.push_str(&self.digits(10).ok_or_else(|| bad(self))?);
            }
        }
        if matches!(self.peek_char(), Some('j' | 'J')) {
            self.bump();
            return Err(self.error(
                pos,
                "a complex number",
                "manifests have no use for complex numbers; write an int or a float",
            ));
        }
        self.reject_trailing_word(pos)?;
        if is_float {
            let value: f64 = text.parse().map_err(|_| bad(self))?;
            return Ok(Token { tok: Tok::Float(value), pos });
        }
        if text.len() > 1 && text.starts_with('0') && text.bytes().any(|b| b != b'0') {
            return Err(self.error(
                pos,
                "a decimal integer with leading zeros, which Python refuses",
                "remove the leading zeros (or use 0o for octal)",
            ));
        }
        match text.parse::<i128>() {
            Ok(value) => Ok(Token { tok: Tok::Int(value), pos }),
            Err(_) => Err(self.error(
                pos,
                "an integer too large for Ringfence (more than 128 bits)",
                "no manifest key needs such a number; remove it",
            )),
        }
    }

    /// Digits of `radix` with single underscores between them (PEP 515); `None` if malformed.
    fn digits(&mut self, radix: u32) -> Option<String> {
        let mut s = String::new();
        let mut last_underscore = false;
        while let Some(c) = self.peek_char() {
            if c == '_' {
                if last_underscore || (s.is_empty() && radix == 10) {
                    return None;
                }
                last_underscore = true;
            } else if c.is_digit(radix) {
                s.push(c);
                last_underscore = false;
            } else {
                break;
            }
            self.bump();
        }
        (!s.is_empty() && !last_underscore).then_some(s)
    }

    fn reject_trailing_word(&mut self, pos: Pos) -> Result<(), OdooError> {
        if self.peek_char().is_some_and(|c| c == '_' || c.is_alphanumeric()) {
            return Err(self.error(pos, "a number followed directly by letters or digits it cannot have", HINT_SYNTAX));
        }
        Ok(())
    }
}

fn is_string_prefix(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    matches!(lower.as_str(), "r" | "u" | "b" | "br" | "rb" | "f" | "fr" | "rf" | "t" | "tr" | "rt")
}

/// A token of arbitrary Python source, for best-effort scanners such as [`crate::sql`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ScanTok {
    /// A string literal's value (bytes literals decoded lossily).
    Str(String),
    /// An f-string (its value depends on code).
    FStr,
    /// A name or keyword.
    Name(String),
    /// `(`, `[` or `{`.
    Open(char),
    /// `)`, `]` or `}`.
    Close(char),
    /// `,`.
    Comma,
    /// An operator or `.`, `:`, `;`, as written.
    Op(String),
    /// A logical line end (not inside brackets).
    Newline,
    /// Anything else: numbers, constants, and characters the lexer could not read.
    Other,
}

/// Tokenises arbitrary Python source with the literal lexer, never failing: what it cannot read becomes
/// [`ScanTok::Other`] and the scan goes on from the next character. Comments are dropped; no
/// indentation tokens are produced.
pub(crate) fn scan(src: &str) -> Vec<(ScanTok, Pos)> {
    let file = Path::new("");
    let mut lexer = Lexer::new(src, file);
    lexer.lenient = true;
    let mut out = Vec::new();
    loop {
        let at = lexer.at;
        let pos = lexer.pos();
        let tok = match lexer.next_token() {
            Ok(Token { tok: Tok::Eof, .. }) => break,
            Ok(t) => match t.tok {
                // The lenient lexer keeps bytes literals as UTF-8 text.
                Tok::Str { text, .. } => (ScanTok::Str(String::from_utf8_lossy(&text).into_owned()), t.pos),
                Tok::FStr => (ScanTok::FStr, t.pos),
                Tok::Name { name, .. } => (ScanTok::Name(name), t.pos),
                Tok::Open(c) => (ScanTok::Open(c), t.pos),
                Tok::Close(c) => (ScanTok::Close(c), t.pos),
                Tok::Comma => (ScanTok::Comma, t.pos),
                Tok::Colon => (ScanTok::Op(":".into()), t.pos),
                Tok::Sign(c) => (ScanTok::Op(c.to_string()), t.pos),
                Tok::Op(op) => (ScanTok::Op(op), t.pos),
                Tok::Newline => (ScanTok::Newline, t.pos),
                Tok::Int(_) | Tok::Float(_) | Tok::Const(_) | Tok::Eof => (ScanTok::Other, t.pos),
            },
            Err(_) => {
                if lexer.at == at {
                    lexer.bump();
                }
                (ScanTok::Other, pos)
            }
        };
        out.push(tok);
    }
    out
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Token, OdooError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Token, OdooError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn error(&self, pos: Pos, message: impl Into<String>, hint: &'static str) -> OdooError {
        self.lexer.error(pos, message, hint)
    }

    fn parse_file(&mut self) -> Result<Value, OdooError> {
        while self.peek()?.tok == Tok::Newline {
            self.next()?;
        }
        let first = self.peek()?.pos;
        // literal_eval strips blanks before the first line only; a literal starting indented on a
        // later line is an IndentationError in Python.
        if first.line > 1 && first.col > 1 {
            return Err(self.error(
                first,
                "an indented first line (Python: unexpected indent)",
                "start the dict at the beginning of its line",
            ));
        }
        let value = self.parse_items_or_tuple(None)?;
        let mut saw_newline = false;
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::Eof => {
                    // Python's tokenizer also reads a last line of only blanks, with no line break
                    // after it, as an indent.
                    let src = self.lexer.src;
                    let last_line = &src[src.rfind(['\n', '\r']).map_or(src.len(), |i| i + 1)..];
                    if saw_newline
                        && !last_line.is_empty()
                        && last_line.chars().all(|c| matches!(c, ' ' | '\t' | '\x0c'))
                    {
                        return Err(self.error(
                            t.pos,
                            "a last line holding only blanks (Python: unexpected indent)",
                            "remove the trailing blanks or end the file with a line break",
                        ));
                    }
                    return Ok(value);
                }
                Tok::Newline => saw_newline = true,
                _ if saw_newline => {
                    return Err(self.error(
                        t.pos,
                        "a second statement after the first literal (a docstring or code before or after \
                         the dict makes Odoo's ast.literal_eval fail)",
                        "keep only the dict; turn a docstring into # comments",
                    ));
                }
                _ => return Err(self.unexpected_after_value(t)),
            }
        }
    }

    /// `a, b, c` at the top level or inside parentheses: a tuple if there is a comma.
    fn parse_items_or_tuple(&mut self, close: Option<char>) -> Result<Value, OdooError> {
        let first = self.parse_value()?;
        if self.peek()?.tok != Tok::Comma {
            return Ok(first);
        }
        let pos = first.pos;
        let mut items = vec![first];
        while self.peek()?.tok == Tok::Comma {
            self.next()?;
            let t = self.peek()?;
            let ends = match (&t.tok, close) {
                (Tok::Close(c), Some(want)) => *c == want,
                (Tok::Newline | Tok::Eof, None) => true,
                _ => false,
            };
            if ends {
                break;
            }
            items.push(self.parse_value()?);
        }
        Ok(Value { kind: ValueKind::Tuple(items), pos })
    }

    fn parse_value(&mut self) -> Result<Value, OdooError> {
        let value = self.parse_atom()?;
        // What may follow a value is a separator or a closer; name the rest precisely.
        let t = self.peek()?.clone();
        match t.tok {
            Tok::Comma | Tok::Colon | Tok::Close(_) | Tok::Newline | Tok::Eof => Ok(value),
            _ => Err(self.unexpected_after_value(t)),
        }
    }

    fn unexpected_after_value(&self, t: Token) -> OdooError {
        match t.tok {
            Tok::Sign(c) => self.error(t.pos, format!("the operator `{c}` between values"), HINT_LITERAL),
            Tok::Op(op) => self.error(t.pos, format!("the operator `{op}`"), HINT_LITERAL),
            Tok::Open('(') => self.error(t.pos, "a call", HINT_LITERAL),
            Tok::Open('[') => self.error(t.pos, "a subscript", HINT_LITERAL),
            Tok::Str { .. } | Tok::Int(_) | Tok::Float(_) | Tok::Const(_) | Tok::Name { .. } => {
                self.error(t.pos, "a missing comma between two values", "add the comma")
            }
            _ => self.error(t.pos, "an unexpected token after a value", HINT_SYNTAX),
        }
    }

    fn parse_atom(&mut self) -> Result<Value, OdooError> {
        let t = self.next()?;
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Str { bytes, text } => self.concat_strings(bytes, text)?,
            Tok::Int(v) => ValueKind::Int(v),
            Tok::Float(v) => ValueKind::Float(v),
            Tok::Const(k) => k,
            Tok::Sign(sign) => {
                let n = self.next()?;
                match n.tok {
                    Tok::Int(v) if sign == '-' => ValueKind::Int(-v),
                    Tok::Int(v) => ValueKind::Int(v),
                    Tok::Float(v) if sign == '-' => ValueKind::Float(-v),
                    Tok::Float(v) => ValueKind::Float(v),
                    _ => {
                        return Err(self.error(
                            pos,
                            format!("the operator `{sign}` on something other than a number"),
                            HINT_LITERAL,
                        ));
                    }
                }
            }
            Tok::Open(open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error(
                        pos,
                        format!("brackets nested more than {MAX_DEPTH} deep"),
                        "flatten the value",
                    ));
                }
                let kind = match open {
                    '[' => ValueKind::List(self.parse_sequence(']')?),
                    '(' => self.parse_paren()?,
                    _ => self.parse_braces()?,
                };
                self.depth -= 1;
                kind
            }
            Tok::Name { name, called } => {
                let message = if name == "lambda" {
                    "a lambda".to_string()
                } else if called {
                    format!("a function call `{name}(...)`")
                } else {
                    format!("the name `{name}`")
                };
                return Err(self.error(pos, message, HINT_LITERAL));
            }
            Tok::Op(op) if op == "..." => {
                return Err(self.error(pos, "an Ellipsis (`...`), which no manifest key takes", HINT_LITERAL));
            }
            Tok::Op(op) => {
                return Err(self.error(pos, format!("the operator `{op}`"), HINT_LITERAL));
            }
            Tok::Close(c) => {
                return Err(self.error(pos, format!("an unmatched `{c}`"), HINT_SYNTAX));
            }
            Tok::Comma | Tok::Colon => {
                return Err(self.error(pos, "a separator where a value belongs", HINT_SYNTAX));
            }
            Tok::Newline | Tok::Eof => {
                return Err(self.error(pos, "no value (the file or line ends)", HINT_SYNTAX));
            }
            Tok::FStr => {
                return Err(self.error(pos, "an f-string, which is code, not a literal", HINT_LITERAL));
            }
        };
        Ok(Value { kind, pos })
    }

    fn concat_strings(&mut self, bytes: bool, mut text: Vec<u8>) -> Result<ValueKind, OdooError> {
        // Adjacent literals are one string, as in Python ("a" "b" == "ab").
        while let Tok::Str { bytes: b, .. } = self.peek()?.tok {
            let t = self.next()?;
            if b != bytes {
                return Err(self.error(t.pos, "bytes and str literals concatenated", "make both str literals"));
            }
            if let Tok::Str { text: more, .. } = t.tok {
                text.extend(more);
            }
        }
        if bytes {
            return Ok(ValueKind::Bytes(text));
        }
        // Built from a String's bytes, so always valid UTF-8.
        Ok(ValueKind::Str(String::from_utf8(text).unwrap_or_default()))
    }

    fn expect_close(&mut self, close: char) -> Result<(), OdooError> {
        let t = self.next()?;
        match t.tok {
            Tok::Close(c) if c == close => Ok(()),
            Tok::Eof => {
                Err(self.error(t.pos, format!("the file ends before the closing `{close}`"), "close the bracket"))
            }
            _ => Err(self.error(t.pos, format!("expected `,` or `{close}`"), HINT_SYNTAX)),
        }
    }

    fn parse_sequence(&mut self, close: char) -> Result<Vec<Value>, OdooError> {
        let mut items = Vec::new();
        loop {
            if matches!(self.peek()?.tok, Tok::Close(c) if c == close) {
                self.next()?;
                return Ok(items);
            }
            let item = self.parse_value()?;
            items.push(item);
            if self.peek()?.tok == Tok::Comma {
                self.next()?;
            } else {
                self.expect_close(close)?;
                return Ok(items);
            }
        }
    }

    fn parse_paren(&mut self) -> Result<ValueKind, OdooError> {
        if matches!(self.peek()?.tok, Tok::Close(')')) {
            self.next()?;
            return Ok(ValueKind::Tuple(Vec::new()));
        }
        let inner = self.parse_items_or_tuple(Some(')'))?;
        self.expect_close(')')?;
        // `(x)` is just x, `(x,)` a tuple; either way the value starts at the parenthesis.
        Ok(inner.kind)
    }

    fn parse_braces(&mut self) -> Result<ValueKind, OdooError> {
        if matches!(self.peek()?.tok, Tok::Close('}')) {
            self.next()?;
            return Ok(ValueKind::Dict(Vec::new()));
        }
        let first = self.parse_value()?;
        if self.peek()?.tok != Tok::Colon {
            let mut items = vec![first];
            if self.peek()?.tok == Tok::Comma {
                self.next()?;
                items.extend(self.parse_sequence('}')?);
            } else {
                self.expect_close('}')?;
            }
            for item in &items {
                self.check_hashable(item)?;
            }
            return Ok(ValueKind::Set(items));
        }
        let mut pairs = Vec::new();
        let mut key = first;
        loop {
            self.check_hashable(&key)?;
            let colon = self.next()?;
            if colon.tok != Tok::Colon {
                return Err(self.error(colon.pos, "expected `:` after a dict key", HINT_SYNTAX));
            }
            let value = self.parse_value()?;
            pairs.push((key, value));
            if self.peek()?.tok == Tok::Comma {
                self.next()?;
                if matches!(self.peek()?.tok, Tok::Close('}')) {
                    self.next()?;
                    return Ok(ValueKind::Dict(pairs));
                }
                key = self.parse_value()?;
            } else {
                self.expect_close('}')?;
                return Ok(ValueKind::Dict(pairs));
            }
        }
    }

    fn check_hashable(&self, v: &Value) -> Result<(), OdooError> {
        let hashable = match &v.kind {
            ValueKind::List(_) | ValueKind::Set(_) | ValueKind::Dict(_) => false,
            ValueKind::Tuple(items) => return items.iter().try_for_each(|i| self.check_hashable(i)),
            _ => true,
        };
        if hashable {
            Ok(())
        } else {
            Err(self.error(
                v.pos,
                format!("a {} as a dict key or set item (unhashable in Python)", v.type_name()),
                "use a string, number or tuple",
            ))
        }
    }
}
