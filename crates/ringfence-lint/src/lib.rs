//! Static lint of migration SQL: for each statement, the PostgreSQL lock it takes, whether it rewrites
//! or scans the table, and the safe alternative when it is dangerous on a live tenant database.
//!
//! SQL is parsed with PostgreSQL's own grammar (libpg_query, through the `pg_query` crate), so what the
//! rules see is what the server would see. The rules know the target PostgreSQL version
//! ([`Options::pg_version`]): from 11 a constant default no longer rewrites, from 12 a valid
//! `CHECK (col IS NOT NULL)` lets `SET NOT NULL` skip its scan, from 17 `transaction_timeout` exists.
//!
//! Inputs are whole `.sql` files ([`lint_sql`], [`lint_file`]) or SQL snippets extracted from Odoo
//! migration scripts ([`lint_snippets`]; all snippets of one script run in one transaction, as Odoo
//! runs them). Rendering for people and machines (text, JSON, SARIF) lives in [`report`].
//!
//! Not here: running SQL (the rehearsal measures what really happens), knowing the live schema (a
//! statement is judged alone, plus what earlier statements of the same script created or checked).

mod locate;
pub mod report;
mod rules;

use std::path::Path;

use serde::Serialize;

pub use rules::Rule;

/// The PostgreSQL versions the version-aware rules know about.
pub const SUPPORTED_PG_VERSIONS: std::ops::RangeInclusive<u32> = 10..=18;

/// What the linter checks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Major version of the target PostgreSQL server (e.g. 16).
    pub pg_version: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { pg_version: 16 }
    }
}

/// One piece of SQL found in a larger source, such as a `cr.execute(...)` call in an Odoo migration
/// script: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSnippet {
    /// The source, as it is to be named in findings (e.g. `sale/migrations/17.0.1.1/pre-migrate.py`).
    pub source: String,
    /// 1-based line where the SQL starts in the source.
    pub line: u32,
    /// The SQL text (one or more statements).
    pub sql: String,
}

/// A PostgreSQL table-level lock mode, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "&'static str")]
pub enum LockMode {
    /// Taken by SELECT.
    AccessShare,
    /// Taken by SELECT FOR UPDATE/SHARE.
    RowShare,
    /// Taken by INSERT/UPDATE/DELETE.
    RowExclusive,
    /// VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT: blocks schema changes only.
    ShareUpdateExclusive,
    /// CREATE INDEX: blocks writes.
    Share,
    /// CREATE TRIGGER, ADD FOREIGN KEY: blocks writes.
    ShareRowExclusive,
    /// Blocks writes and row locks.
    Exclusive,
    /// Most ALTER TABLE forms, DROP, TRUNCATE, VACUUM FULL: blocks everything, reads included.
    AccessExclusive,
}

impl LockMode {
    /// The name PostgreSQL's documentation uses, e.g. `ACCESS EXCLUSIVE`.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// Whether ordinary writes (INSERT/UPDATE/DELETE) wait while this lock is held.
    pub fn blocks_writes(self) -> bool {
        self >= LockMode::Share
    }
}

impl From<LockMode> for &'static str {
    fn from(mode: LockMode) -> Self {
        mode.name()
    }
}

/// What a statement does to the table's rows while it holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableWork {
    /// Catalog change only; the lock is held briefly (once acquired).
    None,
    /// Reads every row (constraint validation) while holding the lock.
    Scan,
    /// Reads every row to build an index.
    IndexBuild,
    /// Writes a new copy of the table and rebuilds its indexes.
    Rewrite,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Dangerous on a live database: blocks traffic or breaks the running release.
    Warning,
    /// The statement fails as written.
    Error,
}

/// One danger found in one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which rule found it (kebab-case id, e.g. `create-index-not-concurrent`).
    pub rule: Rule,
    /// How bad it is.
    pub severity: Severity,
    /// The file or script, as given.
    pub source: String,
    /// 1-based line of the statement's first token.
    pub line: u32,
    /// 1-based column (in characters) of the statement's first token.
    pub col: u32,
    /// The table (or index) concerned, when the statement names one.
    pub object: Option<String>,
    /// The strongest lock the statement takes, when it takes one worth naming.
    pub lock: Option<LockMode>,
    /// What the statement does to the rows while it holds the lock.
    pub work: TableWork,
    /// What is dangerous, in one sentence.
    pub message: String,
    /// The safe way to reach the same schema.
    pub advice: String,
    /// The statement, whitespace collapsed (shortened when long).
    pub statement: String,
}

/// What can stop the linter from judging an input.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}; check the path and its permissions")]
    Read {
        /// The file as given.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// PostgreSQL's grammar rejects the SQL.
    #[error("{source_name}:{line}:{col}: PostgreSQL cannot parse this SQL: {message}")]
    Parse {
        /// The file or script.
        source_name: String,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        col: u32,
        /// The parser's message.
        message: String,
    },
    /// The target version is outside what the rules know.
    #[error("PostgreSQL version {0} is not supported by the linter; give a major version from 10 to 18")]
    Version(u32),
}

fn check_version(options: &Options) -> Result<(), LintError> {
    if SUPPORTED_PG_VERSIONS.contains(&options.pg_version) {
        Ok(())
    } else {
        Err(LintError::Version(options.pg_version))
    }
}

/// Lints the text of one `.sql` file; `source` names it in findings. Statements outside
/// `BEGIN … COMMIT` run each in its own transaction, as psql runs a file.
pub fn lint_sql(source: &str, sql: &str, options: &Options) -> Result<Vec<Finding>, LintError> {
    check_version(options)?;
    let statements = locate::statements(source, 1, sql)?;
    Ok(rules::check(source, &statements, false, options))
}

/// Reads and lints one `.sql` file.
pub fn lint_file(path: &Path, options: &Options) -> Result<Vec<Finding>, LintError> {
    let name = path.display().to_string();
    let sql = std::fs::read_to_string(path).map_err(|source| LintError::Read { path: name.clone(), source })?;
    lint_sql(&name, &sql, options)
}

/// Lints SQL snippets extracted from scripts. Consecutive snippets with the same source form one
/// script, and a script's snippets run in one transaction (Odoo commits once per module), so a lock
/// taken by an early snippet is held through the later ones.
pub fn lint_snippets(snippets: &[SqlSnippet], options: &Options) -> Result<Vec<Finding>, LintError> {
    check_version(options)?;
    let mut findings = Vec::new();
    let mut i = 0;
    while i < snippets.len() {
        let source = &snippets[i].source;
        let mut statements = Vec::new();
        while i < snippets.len() && &snippets[i].source == source {
            statements.extend(locate::statements(source, snippets[i].line, &snippets[i].sql)?);
            i += 1;
        }
        findings.extend(rules::check(source, &statements, true, options));
    }
    Ok(findings)
}
