//! Splits SQL text into parsed statements with their source positions, and turns a parse failure
//! into an error that points at the offending token (libpg_query reports the message but its Rust
//! binding drops the cursor position, so the position is recovered here).

use pg_query::NodeEnum;
use pg_query::protobuf::Token;

use crate::LintError;

/// One parsed statement and where it starts.
#[derive(Debug)]
pub(crate) struct Statement {
    /// 1-based line of its first token in the source.
    pub line: u32,
    /// 1-based column (characters) of its first token.
    pub col: u32,
    /// Its text, from the first token up to (not including) the terminating `;`.
    pub text: String,
    /// Its parse tree.
    pub node: NodeEnum,
}

/// The statements of `sql`, which starts at line `first_line` of `source`.
pub(crate) fn statements(source: &str, first_line: u32, sql: &str) -> Result<Vec<Statement>, LintError> {
    let parsed = match pg_query::parse(sql, 0) {
        Ok(parsed) => parsed,
        Err(err) => return Err(parse_error(source, first_line, sql, &err.to_string())),
    };
    let mut out = Vec::new();
    for raw in parsed.protobuf.stmts {
        let Some(node) = raw.stmt.and_then(|n| n.node) else { continue };
        let from = usize::try_from(raw.stmt_location).unwrap_or(0).min(sql.len());
        let to = match usize::try_from(raw.stmt_len) {
            Ok(0) | Err(_) => sql.len(),
            Ok(len) => (from + len).min(sql.len()),
        };
        // The parser's statement start is just after the previous `;`: skip blanks and comments.
        let start = from + skip_blanks(&sql[from..to]);
        let (line, col) = position(first_line, sql, start);
        out.push(Statement { line, col, text: sql[start..to].trim_end().to_string(), node });
    }
    Ok(out)
}

/// Length of the whitespace and comments at the start of `s`.
fn skip_blanks(s: &str) -> usize {
    let mut i = 0;
    let b = s.as_bytes();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            // Block comments nest in PostgreSQL.
            let mut depth = 0usize;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            return i;
        }
    }
}

/// Line and column (1-based, columns in characters) of byte `offset` in `sql`.
fn position(first_line: u32, sql: &str, offset: usize) -> (u32, u32) {
    let before = &sql[..offset];
    let newlines = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (first_line + u32::try_from(newlines).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(u32::MAX))
}

/// The error for SQL the parser rejects, positioned at the token it stopped at when that can be found.
fn parse_error(source: &str, first_line: u32, sql: &str, message: &str) -> LintError {
    let message = message.strip_prefix("Invalid statement: ").unwrap_or(message).to_string();
    let offset = error_offset(sql, &message).unwrap_or_else(|| skip_blanks(sql));
    let (line, col) = position(first_line, sql, offset.min(sql.len()));
    LintError::Parse { source_name: source.to_string(), line, col, message }
}

/// Byte offset of the token a syntax error names ("syntax error at or near "X"" or "at end of input").
///
/// The statement that fails is the first whose text alone does not parse. Within it, the error token
/// is the first occurrence of the named token such that the statement cut just after it fails *at*
/// that token rather than at the end of input.
fn error_offset(sql: &str, message: &str) -> Option<usize> {
    let tokens = pg_query::scan(sql).ok()?.tokens;
    let mut start = 0usize;
    let mut pieces = Vec::new();
    for t in &tokens {
        if t.token == Token::Ascii59 as i32 {
            // A piece keeps its `;`: the parser may stop at it ("at or near ";"").
            let end = usize::try_from(t.end).ok()?;
            pieces.push((start, end));
            start = end;
        }
    }
    pieces.push((start, sql.len()));
    let (from, to) = pieces.into_iter().find(|&(from, to)| pg_query::parse(&sql[from..to], 0).is_err())?;
    let piece_start = from + skip_blanks(&sql[from..to]);
    if message.contains("at end of input") {
        return Some(to.min(sql.len()));
    }
    let near = message.split("at or near \"").nth(1)?.rsplit_once('"')?.0;
    for t in tokens.iter().filter(|t| {
        let (s, e) = (t.start as usize, t.end as usize);
        s >= from && e <= to && sql.get(s..e) == Some(near)
    }) {
        let end = t.end as usize;
        match pg_query::parse(&sql[from..end], 0) {
            Err(e) if e.to_string().contains("at or near") => return Some(t.start as usize),
            _ => continue,
        }
    }
    Some(piece_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_positions_skip_comments_and_blank_lines() {
        let sql = "-- head\nSELECT 1;\n\n  /* c /* nested */ */ SELECT 2;";
        let st = statements("f.sql", 1, sql).unwrap();
        assert_eq!((st[0].line, st[0].col), (2, 1));
        assert_eq!((st[1].line, st[1].col), (4, 24));
        assert_eq!(st[1].text, "SELECT 2");
    }

    #[test]
    fn parse_error_points_at_the_offending_token() {
        let sql = "SELECT 1;\nALTER TABLE t ADD COLUMN x integer;\nALTER TABLE t ADD COLUMM y int;";
        let LintError::Parse { line, col, message, .. } = statements("m.sql", 1, sql).unwrap_err() else {
            panic!("expected a parse error")
        };
        // `COLUMM` reads as a column name and `y` as its type, so PostgreSQL stops at `int`.
        assert_eq!((line, col), (3, 28), "{message}");
        assert!(message.contains("\"int\""), "{message}");
    }

    #[test]
    fn snippet_lines_are_offset_by_their_start() {
        let st = statements("x.py", 40, "\n  SELECT 1").unwrap();
        assert_eq!((st[0].line, st[0].col), (41, 3));
    }
}
