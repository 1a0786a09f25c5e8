//! How to reach a tenant's PostgreSQL cluster, and the one way to start a client program against it.
//!
//! Responsible for [`PgTarget`] (host or Unix-socket directory, port, role, optional password),
//! [`Secret`] (a password that never prints), and [`PgTarget::command`], which builds the
//! `Command` for `psql`, `pg_dump` or `pg_restore`. Not responsible for reading secrets out of
//! the fleet configuration (the runtime resolves the config's references) or for deciding what
//! to run.
//!
//! **Passwords** reach a child only through its `PGPASSWORD` environment variable: a command line
//! is visible to every user of the machine in `ps`, and every error message of this crate shows
//! command lines. **The caller's libpq environment** (`PGHOST`, `PGSERVICE`, `PGOPTIONS`,
//! `PGSSLMODE`, ...) is removed from the child, so nothing outside the target decides which server
//! and database a restore writes to.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::process::{preview, run_with_stdin};
use crate::quote::conninfo_quote;
use crate::{PgBinaries, PgError};

/// How long a client program may take to connect before giving up (libpq's `PGCONNECT_TIMEOUT`).
pub const CONNECT_TIMEOUT_SECS: u32 = 10;

/// What our sessions are called in `pg_stat_activity`, so an operator can tell them apart.
const APPLICATION_NAME: &str = "ringfence";

/// A password or other credential: `Debug` and `Display` print `***`, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself; only for handing it to the program that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach one PostgreSQL cluster: where it listens, and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// A host name, an IP address, or a directory holding the server's Unix socket (starts with `/`).
    pub host: String,
    /// The server's port (also part of the Unix socket's file name).
    pub port: u16,
    /// The role to connect as.
    pub user: String,
    /// The role's password; `None` for trust, peer or `~/.pgpass` authentication.
    pub password: Option<Secret>,
}

impl PgTarget {
    /// A target without a password.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        Self { host: host.into(), port, user: user.into(), password: None }
    }

    /// The same target, authenticating with `password`.
    pub fn with_password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// A `Command` running `program` (psql, pg_dump, pg_restore) against `database` on this target.
    ///
    /// Sets `--host`, `--port`, `--username`, `--no-password` (fail instead of waiting for a prompt
    /// nobody answers) and `--dbname` as a conninfo string (so a database name containing `=` is not
    /// read as connection options); the environment has `PGPASSWORD` when there is a password,
    /// `PGCONNECT_TIMEOUT`, `PGAPPNAME`, English messages, and no other `PG*` variable.
    /// Stdin is closed; add the program's own arguments after these. The program runs in a process
    /// group of its own, so a hangup or Ctrl-C aimed at the caller's terminal does not kill a dump or
    /// a restore half-way: the caller decides.
    pub fn command(&self, program: &Path, database: &str) -> Command {
        self.command_with_env(program, database, env::vars_os().map(|(key, _)| key))
    }

    /// [`PgTarget::command`] with the caller's variable names passed in, so tests need not touch
    /// the process environment.
    fn command_with_env(&self, program: &Path, database: &str, caller_env: impl Iterator<Item = OsString>) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port))
            .arg(format!("--username={}", self.user))
            .arg("--no-password")
            .arg(format!("--dbname=dbname={}", conninfo_quote(database)));
        for key in caller_env {
            if key.as_encoded_bytes().starts_with(b"PG") {
                cmd.env_remove(key);
            }
        }
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password.expose());
        }
        cmd.env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS.to_string())
            .env("PGAPPNAME", APPLICATION_NAME)
            // Errors quote the programs' stderr; English keeps them readable and greppable.
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .process_group(0);
        cmd
    }
}

impl fmt::Display for PgTarget {
    /// `user@host:port`, never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Runs `sql` with `psql` in `database`, stopping at the first error; returns the rows printed
/// unaligned, one per line, `|` between columns, without headers or command tags.
pub(crate) fn psql(bins: &PgBinaries, target: &PgTarget, database: &str, sql: &str) -> Result<String, PgError> {
    let mut cmd = target.command(bins.psql(), database);
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        // Without it psql would pick SQL_ASCII from LC_ALL=C and pass non-ASCII names as raw bytes.
        .env("PGCLIENTENCODING", "UTF8");
    let command = format!("psql -d {database} on {target} (SQL: {})", preview(sql));
    let output = run_with_stdin(cmd, &command, sql)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn envs(cmd: &Command) -> BTreeMap<String, Option<String>> {
        cmd.get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
            .collect()
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        let target = PgTarget::new("db1.internal", 5432, "odoo").with_password(secret);
        let debug = format!("{target:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(target.to_string(), "odoo@db1.internal:5432");
        assert_eq!(target.password.as_ref().map(Secret::expose), Some("hunter2"));
    }

    #[test]
    fn password_goes_to_the_environment_and_the_callers_pg_variables_are_removed() {
        let target = PgTarget::new("/var/run/postgresql", 5433, "odoo").with_password(Secret::new("hunter2"));
        let caller = ["PGHOST", "PGSERVICE", "PGPASSFILE", "HOME", "PATH"].map(OsString::from);
        let cmd = target.command_with_env(Path::new("/usr/bin/pg_dump"), "shop-eu", caller.into_iter());

        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "--host=/var/run/postgresql",
                "--port=5433",
                "--username=odoo",
                "--no-password",
                "--dbname=dbname='shop-eu'"
            ]
        );
        assert!(!args.iter().any(|a| a.contains("hunter2")), "{args:?}");

        let envs = envs(&cmd);
        assert_eq!(envs["PGPASSWORD"].as_deref(), Some("hunter2"));
        assert_eq!(envs["PGCONNECT_TIMEOUT"].as_deref(), Some("10"));
        assert_eq!(envs["PGAPPNAME"].as_deref(), Some("ringfence"));
        for removed in ["PGHOST", "PGSERVICE", "PGPASSFILE"] {
            assert_eq!(envs[removed], None, "{removed} must be removed");
        }
        assert!(!envs.contains_key("HOME") && !envs.contains_key("PATH"), "only PG* variables are touched");
    }

    #[test]
    fn without_a_password_no_pgpassword_is_set_and_a_callers_one_is_removed() {
        let target = PgTarget::new("127.0.0.1", 5432, "postgres");
        let caller = [OsString::from("PGPASSWORD")];
        let cmd = target.command_with_env(Path::new("psql"), r"we'ird=name", caller.into_iter());
        assert_eq!(envs(&cmd)["PGPASSWORD"], None);
        let last = cmd.get_args().last().unwrap().to_string_lossy().into_owned();
        assert_eq!(last, r"--dbname=dbname='we\'ird=name'");
    }
}
