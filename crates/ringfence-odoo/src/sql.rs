//! Best-effort extraction of the SQL a migration script sends to the database, read from its text with
//! the literal lexer (the script is never imported or run), for the migration-safety SQL linter.
//!
//! Calls recognised: `<chain>.execute(SQL, ...)` where the receiver's last name is `cr` or `_cr`
//! (`cr.execute`, `env.cr.execute`, `self.env.cr.execute`, `self._cr.execute`, …), and
//! `logged_query(cr, SQL, ...)` (openupgradelib, bare or dotted). The SQL argument (also given as
//! `query=`) is kept when it is string literals only: adjacent literals and `+` between literals are
//! joined, triple quotes and raw strings read as Python reads them, one layer of parentheses dropped. A
//! literal formatted with `%` or `.format(...)` is kept as written, marked [`Sql::Literal::formatted`].
//! Anything else — a variable, a call such as `sql.SQL(...)`, an f-string, a literal joined with a
//! variable — is reported as [`Sql::Dynamic`] with what was found, never guessed.
//!
//! Not here: what the SQL does (the linter's job), data flow (a variable assigned a literal two lines
//! up is still dynamic), aliases (`execute = cr.execute`).

use std::fmt;

use crate::literal::{Pos, ScanTok, scan};

/// One SQL-sending call found in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    /// The script, as the caller named it (e.g. `queue_job/migrations/17.0.1.3.2/pre-migration.py`).
    pub file: String,
    /// 1-based line of the call (where its receiver chain starts).
    pub line: u32,
    /// 1-based column of the call, in characters.
    pub col: u32,
    /// What was passed.
    pub sql: Sql,
}

/// The SQL argument of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sql {
    /// String literals only; `text` is their joined value.
    Literal {
        /// The SQL text (for a formatted literal: the template, placeholders included).
        text: String,
        /// The literal is formatted with `%` or `.format(...)`, so the SQL sent differs from `text`.
        formatted: bool,
    },
    /// Built at run time; `found` says what the argument is (e.g. "the variable `query`").
    Dynamic {
        /// What the argument is.
        found: String,
    },
}

impl fmt::Display for SqlStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sql {
            Sql::Literal { text, formatted } => {
                let note = if *formatted { " (formatted)" } else { "" };
                write!(f, "{}:{}: SQL{note}: {}", self.file, self.line, text.trim())
            }
            Sql::Dynamic { found } => write!(f, "dynamic SQL at {}:{}: {found}", self.file, self.line),
        }
    }
}

/// The SQL-sending calls of a Python script's text, in source order; `file` names it in the results.
pub fn extract_sql(src: &str, file: &str) -> Vec<SqlStatement> {
    let toks = scan(src);
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let Some((start, arg_index)) = call_at(&toks, i) else {
            continue;
        };
        let args = arguments(&toks, i + 2);
        let sql = match args.get(arg_index) {
            Some(arg) => classify(strip_keyword(arg)),
            None => Sql::Dynamic { found: format!("no argument #{} to read the SQL from", arg_index + 1) },
        };
        let Pos { line, col } = toks[start].1;
        out.push(SqlStatement { file: file.to_string(), line, col, sql });
    }
    out
}

fn name(toks: &[(ScanTok, Pos)], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some((ScanTok::Name(n), _)) => Some(n),
        _ => None,
    }
}

fn is(toks: &[(ScanTok, Pos)], i: usize, tok: &ScanTok) -> bool {
    toks.get(i).is_some_and(|(t, _)| t == tok)
}

fn dot() -> ScanTok {
    ScanTok::Op(".".into())
}

/// If token `i` is the callee name of a recognised call (followed by `(`), the index where the call
/// starts and which argument holds the SQL.
fn call_at(toks: &[(ScanTok, Pos)], i: usize) -> Option<(usize, usize)> {
    if !is(toks, i + 1, &ScanTok::Open('(')) {
        return None;
    }
    let callee = name(toks, i)?;
    let dotted = i >= 2 && is(toks, i - 1, &dot());
    let arg_index = match callee {
        "execute" if dotted && matches!(name(toks, i - 2), Some("cr" | "_cr")) => 0,
        "logged_query" => 1,
        _ => return None,
    };
    // Walk back over `a.b.` so the position is where the receiver chain starts.
    let mut start = i;
    while start >= 2 && is(toks, start - 1, &dot()) && name(toks, start - 2).is_some() {
        start -= 2;
    }
    Some((start, arg_index))
}

/// The top-level arguments of the call whose first argument token is at `from` (just after `(`).
fn arguments(toks: &[(ScanTok, Pos)], from: usize) -> Vec<&[(ScanTok, Pos)]> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut arg_start = from;
    for (k, (tok, _)) in toks.iter().enumerate().skip(from) {
        match tok {
            ScanTok::Open(_) => depth += 1,
            ScanTok::Close(_) if depth == 0 => {
                if k > arg_start {
                    args.push(&toks[arg_start..k]);
                }
                return args;
            }
            ScanTok::Close(_) => depth -= 1,
            ScanTok::Comma if depth == 0 => {
                args.push(&toks[arg_start..k]);
                arg_start = k + 1;
            }
            _ => {}
        }
    }
    // An unclosed call (a truncated or broken script): what was read so far.
    if toks.len() > arg_start {
        args.push(&toks[arg_start..]);
    }
    args
}

/// `query="..."` → `"..."`.
fn strip_keyword(arg: &[(ScanTok, Pos)]) -> &[(ScanTok, Pos)] {
    if name(arg, 0).is_some() && is(arg, 1, &ScanTok::Op("=".into())) { &arg[2..] } else { arg }
}

fn classify(arg: &[(ScanTok, Pos)]) -> Sql {
    if let Some(inner) = parenthesised(arg) {
        return classify(inner);
    }
    let mut text = String::new();
    let mut k = 0;
    loop {
        let run = k;
        while let Some((ScanTok::Str(s), _)) = arg.get(k) {
            text.push_str(s);
            k += 1;
        }
        if k == run && k == 0 {
            return Sql::Dynamic { found: describe(arg) };
        }
        if k == run {
            return Sql::Dynamic { found: format!("a string literal combined with {}", describe(&arg[k..])) };
        }
        match arg.get(k).map(|(t, _)| t) {
            None => return Sql::Literal { text, formatted: false },
            Some(ScanTok::Op(op)) if op == "+" => k += 1,
            Some(ScanTok::Op(op)) if op == "%" => return Sql::Literal { text, formatted: true },
            Some(ScanTok::Op(op)) if op == "." && name(arg, k + 1) == Some("format") => {
                return Sql::Literal { text, formatted: true };
            }
            Some(_) => {
                return Sql::Dynamic { found: format!("a string literal combined with {}", describe(&arg[k..])) };
            }
        }
    }
}

/// The inside of `( ... )` when the parentheses wrap the whole argument and it is not a tuple.
fn parenthesised(arg: &[(ScanTok, Pos)]) -> Option<&[(ScanTok, Pos)]> {
    if !is(arg, 0, &ScanTok::Open('(')) || !is(arg, arg.len().checked_sub(1)?, &ScanTok::Close(')')) {
        return None;
    }
    let inner = &arg[1..arg.len() - 1];
    let mut depth = 0usize;
    for (tok, _) in inner {
        match tok {
            ScanTok::Open(_) => depth += 1,
            // The first `(` closes before the end: `("a") + b`, not one parenthesised value.
            ScanTok::Close(_) if depth == 0 => return None,
            ScanTok::Close(_) => depth -= 1,
            ScanTok::Comma if depth == 0 => return None,
            _ => {}
        }
    }
    Some(inner)
}

/// A short description of an expression, for [`Sql::Dynamic`].
fn describe(expr: &[(ScanTok, Pos)]) -> String {
    match expr.first().map(|(t, _)| t) {
        None => "nothing".to_string(),
        Some(ScanTok::FStr) => "an f-string".to_string(),
        Some(ScanTok::Op(op)) => format!("the operator `{op}`"),
        Some(ScanTok::Name(_)) => {
            let mut dotted = String::new();
            let mut k = 0;
            while let Some(n) = name(expr, k) {
                dotted.push_str(n);
                if !is(expr, k + 1, &dot()) || name(expr, k + 2).is_none() {
                    break;
                }
                dotted.push('.');
                k += 2;
            }
            if is(expr, k + 1, &ScanTok::Open('(')) {
                format!("the call `{dotted}(...)`")
            } else {
                format!("the expression `{dotted}`")
            }
        }
        Some(_) => "an expression".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> SqlStatement {
        let mut found = extract_sql(src, "m.py");
        assert_eq!(found.len(), 1, "{found:?}");
        found.remove(0)
    }

    fn literal(text: &str, formatted: bool) -> Sql {
        Sql::Literal { text: text.to_string(), formatted }
    }

    #[test]
    fn keyword_argument_and_nested_calls() {
        assert_eq!(one("cr.execute(query='SELECT 1')").sql, literal("SELECT 1", false));
        let s = one("x = f(cr.execute(\"A\" + \"B\", (1, 2)))");
        assert_eq!(s.sql, literal("AB", false));
        assert_eq!((s.line, s.col), (1, 7));
    }

    #[test]
    fn a_tuple_argument_is_not_a_parenthesised_literal() {
        assert_eq!(one("cr.execute(('a', 'b'))").sql, Sql::Dynamic { found: "an expression".into() });
    }

    #[test]
    fn f_strings_are_skipped_whole() {
        let src = "cr.execute(f\"a \\\" ) {x}\")\ncr.execute(rf'''\n)' {y}''')\ncr.execute('B')";
        let got: Vec<Sql> = extract_sql(src, "m.py").into_iter().map(|s| s.sql).collect();
        let fstring = Sql::Dynamic { found: "an f-string".into() };
        assert_eq!(got, [fstring.clone(), fstring, literal("B", false)]);
    }

    #[test]
    fn unclosed_call_and_bad_characters_do_not_stop_the_scan() {
        let found = extract_sql("a = $ ?\ncr.execute('X')\ncr.execute('Y'", "m.py");
        let texts: Vec<&Sql> = found.iter().map(|s| &s.sql).collect();
        assert_eq!(texts, [&literal("X", false), &literal("Y", false)]);
    }
}
