//! The one error type of this crate.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::clone::{RestoreDrill, SourceSession};
use crate::guard::BlockingSession;
use crate::restore::{RestoreFailureState, RestoreStage};

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
        /// The command line (and for psql the database and SQL), for humans; never a password.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// The last lines it printed on stderr.
        stderr: String,
    },

    /// A program succeeded but printed something we cannot interpret.
    #[error("`{command}` printed something unexpected: {detail}\n  fix: is this a PostgreSQL server >= 13?")]
    UnexpectedOutput {
        /// The command line, for humans.
        command: String,
        /// What was printed and why it does not fit.
        detail: String,
    },

    /// A database name or restore point label that cannot be used.
    #[error("{what} {name:?} cannot be used: {reason}")]
    InvalidName {
        /// "database name" or "restore point label".
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why not, and what would work.
        reason: String,
    },

    /// The tenant database does not exist on the cluster we were told it lives on.
    #[error(
        "database \"{database}\" does not exist on {server}\n  \
         fix: check the tenant's database name and cluster in the fleet configuration \
         (`psql -l` on that cluster lists its databases)"
    )]
    DatabaseNotFound {
        /// The database we looked for.
        database: String,
        /// `user@host:port` of the cluster.
        server: String,
    },

    /// A restore point file with this name exists already; it is never overwritten.
    #[error(
        "restore point file {} already exists and is never overwritten (it may be the only good copy)\n  \
         fix: if a previous attempt recorded it, use that restore point (verify it first); \
         otherwise take the new one under another label",
        path.display()
    )]
    RestorePointExists {
        /// The file that is in the way.
        path: PathBuf,
    },

    /// A dump was written but does not hold what a restore point needs.
    #[error(
        "the dump of database \"{database}\" at {} is not a usable restore point: {detail}\n  \
         fix: take the restore point again; if this repeats, run `pg_restore --list` on the file \
         and check the server log",
        path.display()
    )]
    DumpIncomplete {
        /// The database that was dumped.
        database: String,
        /// The dump file (not kept under its final name).
        path: PathBuf,
        /// What was missing.
        detail: String,
    },

    /// The restore point's file is missing or is not the file that was recorded.
    #[error(
        "restore point of database \"{database}\" at {} cannot be trusted: {detail}\n  \
         nothing was restored; the database was not touched\n  \
         fix: find the file recorded with sha256 {expected_sha256} (backups of the restore point \
         directory), or choose another restore point",
        path.display()
    )]
    RestorePointUnusable {
        /// The database the restore point belongs to.
        database: String,
        /// The recorded file.
        path: PathBuf,
        /// The recorded SHA-256.
        expected_sha256: String,
        /// What is wrong: missing, size or checksum differ, unreadable archive.
        detail: String,
    },

    /// A restore did not finish; the tenant database still holds what it held before the call.
    #[error(
        "restoring database \"{database}\" on {server} from {} failed while {stage}:\n{source}\n  \
         state now: {state}\n  \
         fix: remove the cause above and restore again from the same restore point \
         (a new attempt first drops what an earlier one left)",
        dump.display()
    )]
    RestoreFailed {
        /// The tenant database.
        database: String,
        /// `user@host:port` of its cluster.
        server: String,
        /// The dump file.
        dump: PathBuf,
        /// The step that failed.
        stage: RestoreStage,
        /// What the failure left behind, for the controller to record.
        state: Box<RestoreFailureState>,
        /// The underlying failure.
        #[source]
        source: Box<PgError>,
    },

    /// A migration may not start: sessions of the tenant database hold old transactions.
    #[error(
        "refusing to migrate database \"{database}\" on {server}: {} session(s) hold transactions open too long:\n{}\n  \
         fix: let them finish, or end them (`SELECT pg_terminate_backend(pid)`) if they are stuck, then start again",
        sessions.len(),
        sessions.iter().map(|s| format!("  - {s}")).collect::<Vec<_>>().join("\n")
    )]
    PreflightRefused {
        /// The tenant database.
        database: String,
        /// `user@host:port` of its cluster.
        server: String,
        /// Every session that exceeds a limit.
        sessions: Vec<BlockingSession>,
    },

    /// Another migration of the same database holds its migration lock.
    #[error(
        "another migration of database \"{database}\" on {server} is running (its lock is held by {holder})\n  \
         fix: wait for it to finish; if its controller died, the lock goes when that session ends \
         (`SELECT pg_terminate_backend(pid)` in the cluster's `postgres` database)"
    )]
    MigrationInProgress {
        /// The tenant database.
        database: String,
        /// `user@host:port` of its cluster.
        server: String,
        /// The session holding the lock, for humans.
        holder: String,
    },

    /// A statement run in a long-lived session failed; the session is still usable.
    #[error("{command} failed: SQLSTATE {sqlstate}: {message}")]
    QueryFailed {
        /// The session and the SQL, for humans.
        command: String,
        /// The server's SQLSTATE, e.g. `55P03`.
        sqlstate: String,
        /// The server's primary message.
        message: String,
    },

    /// A long-lived session (lock holder, watchdog, tracer) broke.
    #[error("{session} broke: {detail}")]
    SessionFailed {
        /// Which session, on which database and cluster.
        session: String,
        /// What happened, with psql's last messages.
        detail: String,
    },

    /// A clone by template needs the source database to itself for a moment, and others use it.
    #[error(
        "cannot clone database \"{database}\" on {server} by template: {} other session(s) are connected to it:\n{}\n  \
         fix: clone from the latest restore point instead (it never disconnects anyone), \
         or allow the clone to end these sessions (only when the tenant can take it, e.g. in its maintenance window)",
        sessions.len(),
        sessions.iter().map(|s| format!("  - {s}")).collect::<Vec<_>>().join("\n")
    )]
    SourceInUse {
        /// The database to be cloned.
        database: String,
        /// `user@host:port` of its cluster.
        server: String,
        /// Every other session connected to it.
        sessions: Vec<SourceSession>,
    },

    /// A rehearsal clone could not be made; nothing of it is left behind unless `leftover` says so.
    #[error(
        "could not clone database \"{database}\" on {server} into \"{clone}\": {source}{}",
        leftover.as_ref().map(|l| format!("\n  the clone \"{l}\" could not be dropped: drop it with \
            `DROP DATABASE \"{l}\" WITH (FORCE)` (or `drop_stale_clones` will)")).unwrap_or_default()
    )]
    CloneFailed {
        /// The database being cloned.
        database: String,
        /// The clone's name.
        clone: String,
        /// `user@host:port` of the cluster.
        server: String,
        /// The restore drill, when the clone came from a restore point: it failed, and is recorded.
        drill: Option<Box<RestoreDrill>>,
        /// The clone, when it could not be dropped after the failure.
        leftover: Option<String>,
        /// What failed.
        #[source]
        source: Box<PgError>,
    },

    /// A rehearsal clone could not be dropped.
    #[error(
        "could not drop rehearsal clone \"{clone}\" on {server}: {source}\n  \
         fix: drop it with `DROP DATABASE \"{clone}\" WITH (FORCE)` once the cause is gone; \
         `clone::drop_stale_clones` also finds it by its name and marker"
    )]
    CloneNotDropped {
        /// The clone.
        clone: String,
        /// `user@host:port` of the cluster.
        server: String,
        /// Why.
        #[source]
        source: Box<PgError>,
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
