//! The one error type of this crate.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// What to tell a user whose machine has no usable PostgreSQL; shared by every "not found" message.
pub(crate) const INSTALL_ADVICE: &str = "install PostgreSQL: on Debian/Ubuntu run \
`apt-get install -y postgresql` as root (or `scripts/ensure-deps`, which does it for you); \
on other systems install PostgreSQL server >= 13 and put its bin directory on PATH, \
or set RINGFENCE_PG_BIN=/path/to/postgresql/bin";

/// Everything that can go wrong while finding, starting, using or stopping PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The PostgreSQL programs were not found (or not all of them).
    #[error("PostgreSQL not found: {detail}\n  fix: {INSTALL_ADVICE}")]
    NotInstalled {
        /// Where we looked and what was missing.
        detail: String,
    },

    /// Running as root needs an unprivileged user for PostgreSQL, and there is none.
    #[error(
        "PostgreSQL refuses to run as root and there is no `{user}` system user to run it as\n  \
         fix: `apt-get install -y postgresql` creates it, or \
         `useradd --system --home-dir /var/lib/postgresql {user}`"
    )]
    NoServiceUser {
        /// The user name we looked for.
        user: String,
    },

    /// A caller-supplied option cannot be used as given.
    #[error("invalid option: {detail}")]
    InvalidOption {
        /// What is wrong with it.
        detail: String,
    },

    /// A file system operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What we tried to do, e.g. "create temporary directory in".
        action: &'static str,
        /// The path we tried it on.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },

    /// A program could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line, for humans.
        command: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },

    /// A program ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}):\n{}", stderr.trim_end())]
    CommandFailed {
        /// The command line, for humans.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },

    /// The server did not come up; the server log usually says why.
    #[error(
        "PostgreSQL did not start (tried {attempts} port(s)): `{command}` failed ({status}):\n{}\n\
         --- last lines of {} ---\n{}",
        stderr.trim_end(), log.display(), log_tail.trim_end()
    )]
    StartFailed {
        /// The last `pg_ctl start` command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What `pg_ctl` printed on stderr.
        stderr: String,
        /// How many ports were tried.
        attempts: u32,
        /// The server log file.
        log: PathBuf,
        /// The end of the server log.
        log_tail: String,
    },

    /// No free TCP port could be reserved on 127.0.0.1.
    #[error("could not find a free TCP port on 127.0.0.1: {0}")]
    NoFreePort(#[source] io::Error),

    /// The server would not stop, even when killed.
    #[error("PostgreSQL (pid {pid}, data directory {}) did not stop: {detail}", data_dir.display())]
    StopFailed {
        /// The postmaster's process id.
        pid: i32,
        /// Its data directory.
        data_dir: PathBuf,
        /// What we tried and saw.
        detail: String,
    },
}
