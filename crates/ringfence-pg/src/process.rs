//! Running PostgreSQL programs as child processes and turning their exit into a `PgError`.
//!
//! Shared by [`crate::ephemeral`], [`crate::target`] and [`crate::restore`] so every program run
//! reports failures the same way: the command line (never the environment, where a password may
//! be), the exit status and the last lines of stderr.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::thread;

use crate::PgError;

/// How many lines of a program's stderr an error keeps; the cause is nearly always at the end.
const STDERR_TAIL_LINES: usize = 20;

/// A command line for humans (environment and uid not shown).
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(OsStr::to_string_lossy).collect::<Vec<_>>().join(" ")
}

/// Runs `cmd` with stdin closed; an unsuccessful exit is [`PgError::CommandFailed`].
pub(crate) fn run(mut cmd: Command) -> Result<Output, PgError> {
    let command = describe(&cmd);
    let output =
        cmd.stdin(Stdio::null()).output().map_err(|source| PgError::Spawn { command: command.clone(), source })?;
    check(command, output)
}

/// Runs `cmd` feeding it `input` on stdin; `command` is how errors name it.
pub(crate) fn run_with_stdin(mut cmd: Command, command: &str, input: &str) -> Result<Output, PgError> {
    let spawn_error = |source| PgError::Spawn { command: command.to_owned(), source };
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(spawn_error)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_owned();
    // Writing from another thread avoids a deadlock when psql fills stdout before reading all input.
    let writer = thread::spawn(move || {
        // A write error means psql exited early; its exit status and stderr say why.
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().map_err(spawn_error)?;
    let _ = writer.join();
    check(command.to_owned(), output)
}

/// `Ok(output)` on success, else [`PgError::CommandFailed`] with the tail of stderr.
pub(crate) fn check(command: String, output: Output) -> Result<Output, PgError> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(PgError::CommandFailed { command, status: output.status, stderr: tail(&output.stderr, STDERR_TAIL_LINES) })
    }
}

/// The last `lines` lines of a program's output, as text.
pub(crate) fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `sql` on one line, shortened, for error messages.
pub(crate) fn preview(sql: &str) -> String {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail(b"a\nb", 5), "a\nb");
        assert_eq!(tail(b"", 5), "");
    }

    #[test]
    fn preview_flattens_and_shortens() {
        assert_eq!(preview("SELECT 1;\n  SELECT 2;"), "SELECT 1; SELECT 2;");
        let long = "x".repeat(150);
        assert_eq!(preview(&long).chars().count(), 101);
    }
}
