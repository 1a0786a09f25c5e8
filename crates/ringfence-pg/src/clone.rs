//! Rehearsal clones: a named, marked, always-dropped copy of a tenant database to rehearse a
//! migration on.
//!
//! Responsible for making the copy ([`DatabaseClone::create`]) by one of two methods — `CREATE
//! DATABASE … TEMPLATE <source>` (fast, a file-level copy, but the source must have no other
//! sessions for a moment) or a restore of the tenant's latest [`RestorePoint`] into a new database
//! (never disturbs the source, and doubles as a restore drill, recorded as a [`RestoreDrill`]) —
//! and for getting rid of it: [`DatabaseClone::drop`] reports errors, dropping the value drops the
//! database too (best effort), and [`drop_stale_clones`] finds what a crashed controller left.
//! Not responsible for what runs on the clone (see [`crate::rehearse`]).
//!
//! **Recognisable.** Every clone is called `rf_rehearsal_<tenant>_<8 hex>` (at most 63 bytes) and
//! carries a [`CloneMarker`] as its `COMMENT ON DATABASE` (JSON: tenant, source, method, when, by
//! whom, host and pid), so [`list_clones`] finds them and [`drop_stale_clones`] can tell an
//! orphan from a clone another rehearsal is still using. Only names with [`CLONE_PREFIX`] are
//! ever dropped here, whatever a caller passes.
//!
//! **The source is only read.** A template clone reads the source's files; with
//! [`CloneMethod::Template`]'s `terminate_source_sessions` it also ends the source's other
//! sessions (PostgreSQL copies a template only while nobody else is connected), which is why that
//! is opt-in and, without it, sessions on the source are an error naming them. While the copy
//! runs, new logins to the source wait (CREATE DATABASE holds a lock on it that logins need), so
//! a template clone suits a maintenance window or a small database; the restore-point method
//! never delays the source. Nothing else about the source (settings, connection permissions,
//! contents) is changed.

use std::fmt;
use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::guard::parse_json;
use crate::process::run;
use crate::quote::{quote_ident, quote_literal};
use crate::restore::{
    MAINTENANCE_DATABASE, RestorePoint, check_database_name, create_options, database_size, hex, verify_restore_point,
};
use crate::target::psql;
use crate::{PgBinaries, PgError, PgTarget};

/// Every rehearsal clone's name starts with this; nothing else is ever dropped by this module.
pub const CLONE_PREFIX: &str = "rf_rehearsal_";

/// What the marker's `ringfence` field says, so a comment that merely looks like JSON is not taken
/// for ours.
const MARKER_KIND: &str = "rehearsal-clone";

/// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Hex digits of the random part of a clone's name.
const SHORT_ID_LEN: usize = 8;

/// How often a template clone is tried when a terminated session reconnects in between.
const TEMPLATE_ATTEMPTS: u32 = 3;

/// How long a template clone waits for the source's sessions to end on their own.
const SESSION_SETTLE: Duration = Duration::from_secs(1);

/// The server's message when a template (or a dropped database) still has sessions.
const BEING_ACCESSED: &str = "is being accessed by other users";

/// How a clone is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum CloneMethod {
    /// `CREATE DATABASE <clone> TEMPLATE <source>`: a copy of the source's files, as of now.
    #[serde(rename_all = "camelCase")]
    Template {
        /// End the source's other sessions so the copy can start (they would block it); without
        /// this, sessions on the source make the clone fail with [`PgError::SourceInUse`].
        terminate_source_sessions: bool,
    },
    /// Restore this restore point into a new database: the source is not touched at all, the
    /// copy is as of the restore point, and the restore is recorded as a drill.
    #[serde(rename_all = "camelCase")]
    RestorePoint {
        /// The tenant's latest restore point.
        point: Box<RestorePoint>,
    },
}

impl CloneMethod {
    /// The method's kind, without its parameters.
    pub fn kind(&self) -> CloneKind {
        match self {
            CloneMethod::Template { .. } => CloneKind::Template,
            CloneMethod::RestorePoint { .. } => CloneKind::RestorePoint,
        }
    }
}

/// Which method made a clone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CloneKind {
    /// `CREATE DATABASE … TEMPLATE`.
    Template,
    /// Restored from a restore point.
    RestorePoint,
}

impl fmt::Display for CloneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloneKind::Template => "template copy",
            CloneKind::RestorePoint => "restore of the latest restore point",
        })
    }
}

/// What to clone for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneOptions {
    /// The tenant the source database belongs to (part of the clone's name).
    pub tenant: String,
    /// How to copy.
    pub method: CloneMethod,
    /// Who asks, for the marker (e.g. `ringfence rehearse` and the operator or run id).
    pub created_by: String,
}

/// A restore of a restore point into a fresh database, timed: proof the restore point restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreDrill {
    /// The restore point restored.
    pub point: RestorePoint,
    /// When the drill started (the controller's clock).
    pub started: Timestamp,
    /// From verifying the file to the analyzed copy.
    pub duration: Duration,
    /// Size of the dump file restored.
    pub bytes: u64,
    /// Size of the restored database, when it got that far.
    pub restored_bytes: Option<u64>,
    /// Whether the restore completed.
    pub ok: bool,
    /// Why it did not.
    pub problem: Option<String>,
}

/// Written as the clone's `COMMENT ON DATABASE`, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneMarker {
    /// Always `rehearsal-clone`.
    pub ringfence: String,
    /// The tenant.
    pub tenant: String,
    /// The database cloned.
    pub source: String,
    /// How.
    pub method: CloneKind,
    /// When the clone was created (the controller's clock).
    pub created_at: Timestamp,
    /// Who asked.
    pub created_by: String,
    /// The controller's host name.
    pub host: String,
    /// The controller's process id: a clone whose process is gone from this host is an orphan.
    pub pid: u32,
}

/// A rehearsal clone found on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneInfo {
    /// The database name.
    pub name: String,
    /// Its marker; `None` when it has our name but no readable marker (a crash between `CREATE
    /// DATABASE` and `COMMENT`).
    pub marker: Option<CloneMarker>,
    /// Its size on disk.
    pub size_bytes: Option<u64>,
}

/// A clone [`drop_stale_clones`] dropped (or failed to), and why it counted as stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaleClone {
    /// The clone.
    pub name: String,
    /// Why it was taken for an orphan.
    pub reason: String,
    /// The error when it could not be dropped.
    pub drop_error: Option<String>,
}

/// Another session on the source database, named in [`PgError::SourceInUse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSession {
    /// Its backend's process id.
    pub pid: i32,
    /// Its role.
    pub user: Option<String>,
    /// Its `application_name`.
    pub application_name: Option<String>,
    /// Where it connects from (`None`: Unix socket).
    pub client_addr: Option<String>,
    /// `active`, `idle`, …
    pub state: Option<String>,
}

impl fmt::Display for SourceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} user {} application {:?} from {} ({})",
            self.pid,
            self.user.as_deref().unwrap_or("?"),
            self.application_name.as_deref().unwrap_or(""),
            self.client_addr.as_deref().unwrap_or("local socket"),
            self.state.as_deref().unwrap_or("?"),
        )
    }
}

/// A rehearsal copy of a tenant database; dropping the value drops the database (errors are
/// printed), [`DatabaseClone::drop`] drops it and reports errors.
#[derive(Debug)]
pub struct DatabaseClone {
    bins: PgBinaries,
    target: PgTarget,
    name: String,
    source: String,
    kind: CloneKind,
    created_in: Duration,
    drill: Option<RestoreDrill>,
    dropped: bool,
}

impl DatabaseClone {
    /// Copies `source` on `target` into a new, marked database named after `options.tenant`.
    ///
    /// On error nothing is left behind (or [`PgError::CloneFailed`] names the leftover); a
    /// restore-point clone's error carries the failed [`RestoreDrill`].
    pub fn create(bins: &PgBinaries, target: &PgTarget, source: &str, options: &CloneOptions) -> Result<Self, PgError> {
        check_database_name(source)?;
        let name = clone_name(&options.tenant, &short_id(source));
        let marker = CloneMarker {
            ringfence: MARKER_KIND.to_owned(),
            tenant: options.tenant.clone(),
            source: source.to_owned(),
            method: options.method.kind(),
            created_at: Timestamp::now(),
            created_by: options.created_by.clone(),
            host: host_name(),
            pid: std::process::id(),
        };
        let clock = Instant::now();
        let mut clone = DatabaseClone {
            bins: bins.clone(),
            target: target.clone(),
            name,
            source: source.to_owned(),
            kind: options.method.kind(),
            created_in: Duration::ZERO,
            drill: None,
            dropped: false,
        };
        let made = match &options.method {
            CloneMethod::Template { terminate_source_sessions } => {
                clone.copy_template(*terminate_source_sessions, &marker)
            }
            CloneMethod::RestorePoint { point } => clone.restore_point(point, &marker),
        };
        clone.created_in = clock.elapsed();
        match made {
            Ok(()) => Ok(clone),
            // Refusals that created nothing are passed on as they are.
            Err(err @ (PgError::SourceInUse { .. } | PgError::InvalidOption { .. })) => {
                clone.dropped = true;
                Err(err)
            }
            Err(err) => {
                let leftover = clone.drop_database().err().map(|_| clone.name.clone());
                clone.dropped = true;
                Err(PgError::CloneFailed {
                    database: clone.source.clone(),
                    clone: clone.name.clone(),
                    server: target.to_string(),
                    drill: clone.drill.take().map(Box::new),
                    leftover,
                    source: Box::new(err),
                })
            }
        }
    }

    /// The clone's database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database it copies.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How it was made.
    pub fn kind(&self) -> CloneKind {
        self.kind
    }

    /// How long making it took.
    pub fn created_in(&self) -> Duration {
        self.created_in
    }

    /// The restore drill, for a clone made from a restore point.
    pub fn drill(&self) -> Option<&RestoreDrill> {
        self.drill.as_ref()
    }

    /// Drops the clone's database (ending any session still on it) and reports failure.
    pub fn drop(mut self) -> Result<(), PgError> {
        self.dropped = true;
        self.drop_database()
    }

    fn drop_database(&self) -> Result<(), PgError> {
        drop_clone_database(&self.bins, &self.target, &self.name)
    }

    fn copy_template(&self, terminate: bool, marker: &CloneMarker) -> Result<(), PgError> {
        let (source_id, clone_id) = (quote_ident(&self.source), quote_ident(&self.name));
        let source_lit = quote_literal(&self.source);
        for attempt in 1..=TEMPLATE_ATTEMPTS {
            let (owner, sessions) = self.settled_sessions(terminate)?;
            if !sessions.is_empty() && !terminate {
                return Err(self.in_use(sessions));
            }
            // Terminating and copying in one script keeps the window for reconnects short;
            // CREATE DATABASE itself waits up to 5 s for terminated backends to exit.
            let terminate_sql = if terminate {
                format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = {source_lit} AND pid <> pg_backend_pid();\n"
                )
            } else {
                String::new()
            };
            let sql = format!(
                "{terminate_sql}CREATE DATABASE {clone_id} TEMPLATE {source_id} OWNER {};\n{}",
                quote_ident(&owner),
                comment_sql(&self.name, marker)
            );
            match psql(&self.bins, &self.target, MAINTENANCE_DATABASE, &sql) {
                Ok(_) => return Ok(()),
                Err(PgError::CommandFailed { stderr, .. }) if stderr.contains(BEING_ACCESSED) => {
                    if attempt == TEMPLATE_ATTEMPTS || !terminate {
                        let (_, sessions) = source_sessions(&self.bins, &self.target, &self.source)?;
                        return Err(self.in_use(sessions));
                    }
                }
                Err(err) => return Err(err),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The source's owner and other sessions, after giving sessions that are on their way out
    /// (a client that just disconnected, whose backend is still exiting) a moment to go. Not
    /// longer: the copy is only attempted with no sessions, since CREATE DATABASE would make new
    /// logins to the source wait while it waits for the old ones.
    fn settled_sessions(&self, terminate: bool) -> Result<(String, Vec<SourceSession>), PgError> {
        let deadline = Instant::now() + SESSION_SETTLE;
        loop {
            let (owner, sessions) = source_sessions(&self.bins, &self.target, &self.source)?;
            if sessions.is_empty() || terminate || Instant::now() >= deadline {
                return Ok((owner, sessions));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn in_use(&self, sessions: Vec<SourceSession>) -> PgError {
        PgError::SourceInUse { database: self.source.clone(), server: self.target.to_string(), sessions }
    }

    fn restore_point(&mut self, point: &RestorePoint, marker: &CloneMarker) -> Result<(), PgError> {
        if point.database != self.source {
            return Err(PgError::InvalidOption {
                detail: format!(
                    "the restore point {} is of database \"{}\", not of \"{}\"; pass the source's own latest restore point",
                    point.path.display(),
                    point.database,
                    self.source
                ),
            });
        }
        let started = Timestamp::now();
        let clock = Instant::now();
        let restored = self.restore_into_clone(point, marker);
        let restored_bytes = match &restored {
            Ok(()) => database_size(&self.bins, &self.target, &self.name).ok(),
            Err(_) => None,
        };
        self.drill = Some(RestoreDrill {
            point: point.clone(),
            started,
            duration: clock.elapsed(),
            bytes: point.size_bytes,
            restored_bytes,
            ok: restored.is_ok(),
            problem: restored.as_ref().err().map(ToString::to_string),
        });
        restored
    }

    fn restore_into_clone(&self, point: &RestorePoint, marker: &CloneMarker) -> Result<(), PgError> {
        verify_restore_point(&self.bins, point)?;
        let create = format!(
            "CREATE DATABASE {} WITH TEMPLATE template0 {};\n{}",
            quote_ident(&self.name),
            create_options(&point.properties),
            comment_sql(&self.name, marker)
        );
        psql(&self.bins, &self.target, MAINTENANCE_DATABASE, &create)?;
        let mut pg_restore = self.target.command(self.bins.pg_restore(), &self.name);
        pg_restore.arg("--exit-on-error").arg(&point.path);
        run(pg_restore)?;
        // A restore for real analyzes too (crate::restore), and the migration plans its queries
        // on these statistics: without them the rehearsal would time a different plan.
        psql(&self.bins, &self.target, &self.name, "ANALYZE").map(drop)
    }
}

impl Drop for DatabaseClone {
    fn drop(&mut self) {
        if !self.dropped
            && let Err(err) = self.drop_database()
        {
            // Best effort, not `eprintln!`: a closed stderr must not panic a drop.
            let _ = writeln!(std::io::stderr(), "ringfence-pg: {err}");
        }
    }
}

/// Every rehearsal clone on the cluster, by name.
pub fn list_clones(bins: &PgBinaries, target: &PgTarget) -> Result<Vec<CloneInfo>, PgError> {
    #[derive(Deserialize)]
    struct Row {
        name: String,
        comment: Option<String>,
        size_bytes: Option<u64>,
    }
    let sql = format!(
        "SELECT coalesce(jsonb_agg(t ORDER BY t.name), '[]') FROM (\
           SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS comment, \
             CASE WHEN d.datallowconn AND has_database_privilege(d.oid, 'CONNECT') \
               THEN pg_database_size(d.oid) END AS size_bytes \
           FROM pg_database d WHERE starts_with(d.datname, {})) t",
        quote_literal(CLONE_PREFIX)
    );
    let rows: Vec<Row> = parse_json(&psql(bins, target, MAINTENANCE_DATABASE, &sql)?, "listing rehearsal clones")?;
    Ok(rows
        .into_iter()
        .map(|row| CloneInfo {
            marker: row.comment.as_deref().and_then(parse_marker),
            name: row.name,
            size_bytes: row.size_bytes,
        })
        .collect())
}

/// Drops the clones a crashed or killed rehearsal left: those without a marker, those whose
/// process is gone from this host, and those older than `max_age` (a rehearsal on another host
/// that died). Returns what it dropped, each with the reason and any error.
pub fn drop_stale_clones(
    bins: &PgBinaries,
    target: &PgTarget,
    max_age: Duration,
    now: Timestamp,
) -> Result<Vec<StaleClone>, PgError> {
    let host = host_name();
    let mut dropped = Vec::new();
    for clone in list_clones(bins, target)? {
        let Some(reason) = stale_reason(&clone, max_age, now, &host, process_alive) else {
            continue;
        };
        let drop_error = drop_clone_database(bins, target, &clone.name).err().map(|e| e.to_string());
        dropped.push(StaleClone { name: clone.name, reason, drop_error });
    }
    Ok(dropped)
}

/// Why `clone` is an orphan, or `None` while a live rehearsal may still be using it.
fn stale_reason(
    clone: &CloneInfo,
    max_age: Duration,
    now: Timestamp,
    host: &str,
    alive: impl Fn(u32) -> bool,
) -> Option<String> {
    let Some(marker) = &clone.marker else {
        return Some("it has no rehearsal marker (its controller stopped while creating it)".to_owned());
    };
    let age = now.duration_since(marker.created_at);
    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
    if marker.host == host && !alive(marker.pid) {
        return Some(format!("process {} on {host} that created it is gone", marker.pid));
    }
    if age > max_age {
        return Some(format!(
            "created {}s ago, longer than the {}s a rehearsal may take",
            age.as_secs(),
            max_age.as_secs()
        ));
    }
    None
}

/// Drops `name` if it exists, ending its sessions; refuses any name without [`CLONE_PREFIX`].
fn drop_clone_database(bins: &PgBinaries, target: &PgTarget, name: &str) -> Result<(), PgError> {
    if !name.starts_with(CLONE_PREFIX) {
        return Err(PgError::InvalidName {
            what: "rehearsal clone",
            name: name.to_owned(),
            reason: format!("only databases named {CLONE_PREFIX}… are dropped as clones"),
        });
    }
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    psql(bins, target, MAINTENANCE_DATABASE, &sql).map(drop).map_err(|source| PgError::CloneNotDropped {
        clone: name.to_owned(),
        server: target.to_string(),
        source: Box::new(source),
    })
}

/// The source's owner and its other client sessions.
fn source_sessions(
    bins: &PgBinaries,
    target: &PgTarget,
    source: &str,
) -> Result<(String, Vec<SourceSession>), PgError> {
    #[derive(Deserialize)]
    struct Row {
        owner: Option<String>,
        sessions: Vec<SourceSession>,
    }
    let lit = quote_literal(source);
    let sql = format!(
        "SELECT jsonb_build_object(\
           'owner', (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = {lit}), \
           'sessions', (SELECT coalesce(jsonb_agg(jsonb_build_object('pid', pid, 'user', usename, \
               'application_name', application_name, 'client_addr', client_addr::text, 'state', state) \
               ORDER BY pid), '[]') \
             FROM pg_stat_activity WHERE datname = {lit} AND pid <> pg_backend_pid()))"
    );
    let row: Row = parse_json(&psql(bins, target, MAINTENANCE_DATABASE, &sql)?, "reading the source's sessions")?;
    let owner = row
        .owner
        .ok_or_else(|| PgError::DatabaseNotFound { database: source.to_owned(), server: target.to_string() })?;
    Ok((owner, row.sessions))
}

fn comment_sql(name: &str, marker: &CloneMarker) -> String {
    let json = serde_json::to_string(marker).expect("a marker serialises");
    format!("COMMENT ON DATABASE {} IS {};", quote_ident(name), quote_literal(&json))
}

fn parse_marker(comment: &str) -> Option<CloneMarker> {
    serde_json::from_str::<CloneMarker>(comment).ok().filter(|m| m.ringfence == MARKER_KIND)
}

/// `rf_rehearsal_<tenant>_<id>`: the tenant reduced to `[a-z0-9_]` (so the name needs no quoting
/// in an operator's hands) and cut so the whole stays within 63 bytes.
fn clone_name(tenant: &str, id: &str) -> String {
    let mut clean: String =
        tenant.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    clean.truncate(MAX_IDENTIFIER_BYTES - CLONE_PREFIX.len() - 1 - id.len());
    format!("{CLONE_PREFIX}{clean}_{id}")
}

/// Eight hex digits unique to this call: two clones of one tenant at once never share a name.
fn short_id(source: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = Timestamp::now();
    let seed = format!("{source}\0{}\0{}\0{n}", std::process::id(), now.as_nanosecond());
    let mut id = hex(&Sha256::digest(seed.as_bytes()));
    id.truncate(SHORT_ID_LEN);
    id
}

fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    fs::metadata(format!("/proc/{pid}")).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognisable_clean_and_short() {
        assert_eq!(clone_name("Shop-EU 1", "0a1b2c3d"), "rf_rehearsal_shop_eu_1_0a1b2c3d");
        let long = clone_name(&"ä".repeat(60), "0a1b2c3d");
        assert_eq!(long.len(), MAX_IDENTIFIER_BYTES);
        assert!(long.starts_with(CLONE_PREFIX) && long.ends_with("_0a1b2c3d"), "{long}");
        let (a, b) = (short_id("shop"), short_id("shop"));
        assert_ne!(a, b);
        assert_eq!(a.len(), SHORT_ID_LEN);
    }

    fn info(marker: Option<CloneMarker>) -> CloneInfo {
        CloneInfo { name: "rf_rehearsal_shop_00000000".into(), marker, size_bytes: None }
    }

    fn marker(host: &str, pid: u32, created_at: Timestamp) -> CloneMarker {
        CloneMarker {
            ringfence: MARKER_KIND.into(),
            tenant: "shop".into(),
            source: "shop".into(),
            method: CloneKind::Template,
            created_at,
            created_by: "test".into(),
            host: host.into(),
            pid,
        }
    }

    #[test]
    fn orphans_are_told_from_clones_in_use() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let hour = Duration::from_secs(3600);
        let recent = now - jiff::SignedDuration::from_mins(5);
        let old = now - jiff::SignedDuration::from_hours(2);
        let alive = |pid: u32| pid == 42;
        let reason = |c: &CloneInfo| stale_reason(c, hour, now, "ctl-1", alive);

        assert!(reason(&info(None)).unwrap().contains("no rehearsal marker"));
        assert_eq!(reason(&info(Some(marker("ctl-1", 42, recent)))), None, "its process lives");
        assert!(reason(&info(Some(marker("ctl-1", 43, recent)))).unwrap().contains("process 43 on ctl-1"));
        assert_eq!(reason(&info(Some(marker("ctl-2", 43, recent)))), None, "another host's pid says nothing");
        assert!(reason(&info(Some(marker("ctl-2", 43, old)))).unwrap().contains("longer than the 3600s"));
    }

    #[test]
    fn markers_round_trip_and_foreign_comments_are_not_markers() {
        let m = marker("ctl-1", 7, "2026-11-27T12:00:00Z".parse().unwrap());
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"createdAt\"") && json.contains("\"method\":\"template\""), "{json}");
        assert_eq!(parse_marker(&json), Some(m));
        assert_eq!(parse_marker("Odoo production database"), None);
        assert_eq!(parse_marker(&json.replace(MARKER_KIND, "something-else")), None);
    }
}
