//! `ringfence lint`: reads the files, hands them to `ringfence-lint`, prints the report and maps it to
//! the exit code. `.sql` files are linted as psql would run them; Odoo migration scripts (`.py`) are
//! read with `ringfence-odoo`'s SQL extraction and their literal SQL linted as one transaction.

use std::path::Path;

use ringfence_lint::{Finding, LintError, Options, SqlSnippet, lint_file, lint_snippets, report};
use ringfence_odoo::{Sql, extract_sql};

use crate::Exit;
use crate::cli::{LintArgs, LintFormat};
use crate::out::{errln, out, outln};

/// `ringfence lint FILES…`.
pub fn lint(args: &LintArgs) -> anyhow::Result<Exit> {
    let options = Options { pg_version: args.pg_version };
    let mut findings: Vec<Finding> = Vec::new();
    let mut errors: Vec<LintError> = Vec::new();
    for path in &args.files {
        let result = if path.extension().is_some_and(|x| x == "py") {
            lint_script(path, &options)
        } else {
            lint_file(path, &options)
        };
        match result {
            Ok(found) => findings.extend(found),
            Err(e) => errors.push(e),
        }
    }
    match args.format {
        LintFormat::Text => out!("{}", report::text(&findings, &errors))?,
        LintFormat::Json => outln!("{}", serde_json::to_string_pretty(&report::json(&findings, &errors))?)?,
        LintFormat::Sarif => outln!("{}", serde_json::to_string_pretty(&report::sarif(&findings, &errors))?)?,
    }
    Ok(if !errors.is_empty() {
        Exit::Usage
    } else if findings.is_empty() {
        Exit::Success
    } else {
        Exit::Failed
    })
}

/// The literal SQL of an Odoo migration script. Formatted and dynamic SQL cannot be judged from the
/// text: it is named on stderr, not guessed.
fn lint_script(path: &Path, options: &Options) -> Result<Vec<Finding>, LintError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LintError::Read { path: name.clone(), source })?;
    let mut snippets = Vec::new();
    for statement in extract_sql(&text, &name) {
        match statement.sql {
            Sql::Literal { text, formatted: false } => {
                snippets.push(SqlSnippet { source: name.clone(), line: statement.line, sql: text });
            }
            Sql::Literal { formatted: true, .. } => {
                errln!("note: {name}:{}: SQL formatted at run time, not linted", statement.line);
            }
            Sql::Dynamic { found } => {
                errln!("note: {name}:{}: dynamic SQL ({found}), not linted", statement.line);
            }
        }
    }
    lint_snippets(&snippets, options)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn run(files: Vec<PathBuf>, format: LintFormat) -> Exit {
        lint(&LintArgs { files, format, pg_version: 16 }).unwrap()
    }

    #[test]
    fn lint_exit_codes_say_clean_danger_or_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let clean = dir.path().join("clean.sql");
        std::fs::write(&clean, "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c text;\n").unwrap();
        let danger = dir.path().join("danger.sql");
        std::fs::write(&danger, "CREATE INDEX i ON t (c);\n").unwrap();
        let broken = dir.path().join("broken.sql");
        std::fs::write(&broken, "ALTER TABLE t ADD COLUMN;\n").unwrap();
        assert_eq!(run(vec![clean.clone()], LintFormat::Text), Exit::Success);
        assert_eq!(run(vec![clean.clone(), danger.clone()], LintFormat::Sarif), Exit::Failed);
        assert_eq!(run(vec![danger.clone(), broken], LintFormat::Json), Exit::Usage);
        assert_eq!(run(vec![dir.path().join("missing.sql")], LintFormat::Text), Exit::Usage);
    }

    #[test]
    fn lint_reads_the_literal_sql_of_odoo_migration_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("pre-migrate.py");
        std::fs::write(
            &script,
            "def migrate(cr, version):\n    cr.execute(\"SET LOCAL lock_timeout = '2s'\")\n    \
             cr.execute(\"CREATE INDEX CONCURRENTLY i ON t (c)\")\n",
        )
        .unwrap();
        let findings = lint_script(&script, &Options::default()).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, ringfence_lint::Rule::ConcurrentlyInTransaction);
        assert_eq!(findings[0].line, 3);
    }
}
