//! Restore points: a verified `pg_dump` of a tenant database, taken before a database-changing
//! step, and restoring the database from it when the step has to be rolled back.
//!
//! Responsible for taking a restore point ([`take_restore_point`]: dump, fsync, checksum,
//! `pg_restore --list`), checking one later ([`verify_restore_point`]) and restoring from one
//! ([`restore`]), through the PostgreSQL client programs. Not responsible for deciding *when* to
//! take or restore one, for maintenance mode, or for recording the result: the core decides and the
//! runtime records the returned [`RestorePoint`] / [`RestoreReport`] in state and audit trail.
//!
//! **The dump keeps ownership and privileges** (no `--no-owner`, no `--no-acl`): leaving them out
//! would lose information for good, and the tenant's application role must own its tables again
//! after a rollback, which `--no-owner` would hand to whoever runs the restore. The restore needs
//! a role that may create databases and act as the recorded owners (a superuser, or the tenant's
//! owner role itself).
//!
//! **A restore never destroys the tenant database before its replacement is complete.** It
//! restores into a scratch database next to it (`<db>~restore-<hash>`), analyzes it, and only
//! then swaps names in one transaction and drops the replaced copy. So every failure leaves the
//! tenant database with exactly the contents it had before the call; [`RestoreFailureState`] says
//! what else a failure left (terminated sessions, refused connections, a leftover database).
//! This costs the disk space of a second copy while restoring, and is why `--single-transaction`
//! is not used: a scratch database needs no rollback, and one transaction over every table,
//! index and constraint of a large Odoo database can run out of lock table space.
//!
//! | failure | tenant database afterwards |
//! |---|---|
//! | dump file missing, size/SHA-256 differ, archive unreadable | untouched, sessions untouched ([`PgError::RestorePointUnusable`]) |
//! | creating the scratch database, `pg_restore`, `ANALYZE` | untouched, sessions untouched; scratch dropped |
//! | the swap (terminate sessions, rename) | contents unchanged; its sessions may have been terminated; connections allowed again |
//! | re-allowing connections after a failed swap fails | contents unchanged but refuses connections (`state.refuses_connections`) |
//! | dropping the replaced copy after the swap | restored (success); the old copy is named in [`RestoreReport::leftover_database`] |
//! | controller killed before the swap commits | contents unchanged; a scratch database and, during the swap, `ALLOW_CONNECTIONS false` may remain |
//! | controller killed after the swap commits | restored; the replaced copy may remain |
//!
//! Calling [`restore`] again is the recovery for the last two rows: it drops any leftover
//! scratch or replaced copy of the same database before it starts.
//!
//! Not carried over from the replaced database: database-level settings (`ALTER DATABASE ... SET`),
//! database-level privileges and comment, connection limit and tablespace. Everything inside the
//! database is; encoding, collation, ctype, locale provider and owner are recorded in the restore
//! point and given to the scratch database.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::process::run;
use crate::quote::{quote_ident, quote_literal};
use crate::target::psql;
use crate::{PgBinaries, PgError, PgTarget};

/// The database every cluster has, used to create, drop and rename tenant databases.
pub const MAINTENANCE_DATABASE: &str = "postgres";

/// How long `pg_dump` waits for a table lock before failing: a migration holding ACCESS EXCLUSIVE
/// must make the restore point fail, not hang the rollout.
const LOCK_WAIT_TIMEOUT: &str = "60s";

/// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The WAL position now: on a standby the last replayed position, since it cannot write WAL.
const LSN_SQL: &str =
    "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text";

/// A verified dump of one database, as recorded in the controller's state and audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePoint {
    /// The database that was dumped.
    pub database: String,
    /// The label it was taken under (e.g. the release step), part of the file name.
    pub label: String,
    /// The dump file (`pg_dump -Fc`).
    pub path: PathBuf,
    /// Size of the dump file.
    pub size_bytes: u64,
    /// WAL position read just before the dump started; the dump is consistent as of a snapshot
    /// taken a moment later, so this is a lower bound.
    pub lsn: String,
    /// When the LSN was read (the controller's clock).
    pub taken_at: Timestamp,
    /// Entries in the archive's table of contents.
    pub toc_entries: usize,
    /// `TABLE DATA` entries among them: at least one per ordinary table of the database.
    pub table_data_entries: usize,
    /// SHA-256 of the dump file, lowercase hex; a restore refuses a file that does not match.
    pub sha256: String,
    /// What a restore needs to recreate the database itself.
    pub properties: DatabaseProperties,
}

/// Properties of the database itself that a dump of its contents does not restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseProperties {
    /// The owning role.
    pub owner: String,
    /// Server encoding, e.g. `UTF8`.
    pub encoding: String,
    /// `LC_COLLATE`.
    pub lc_collate: String,
    /// `LC_CTYPE`.
    pub lc_ctype: String,
    /// `libc`, `icu` or `builtin`.
    pub locale_provider: String,
    /// The ICU or builtin locale, when that provider is used.
    pub provider_locale: Option<String>,
}

/// What a successful [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The restored database.
    pub database: String,
    /// The dump it was restored from.
    pub dump: PathBuf,
    /// The dump's SHA-256, checked before restoring.
    pub sha256: String,
    /// The restore point's LSN: the database now holds its contents as of (just after) this position.
    pub lsn: String,
    /// Whether a database of that name existed and was replaced (false: it was created).
    pub replaced_existing: bool,
    /// Sessions on the replaced database that were terminated for the swap.
    pub sessions_terminated: u64,
    /// The replaced copy, when it could not be dropped after the swap; safe to drop.
    pub leftover_database: Option<String>,
    /// When the restore started (the controller's clock).
    pub started_at: Timestamp,
    /// How long it took from start to finish.
    pub duration: Duration,
}

/// The step of [`restore`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreStage {
    /// Dropping leftovers and creating the scratch database.
    PrepareScratch,
    /// `pg_restore` into the scratch database.
    PgRestore,
    /// `ANALYZE` of the restored copy, so the tenant does not start on empty statistics.
    Analyze,
    /// Terminating sessions and renaming the restored copy into place.
    Swap,
}

impl std::fmt::Display for RestoreStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RestoreStage::PrepareScratch => "preparing the scratch database",
            RestoreStage::PgRestore => "running pg_restore into the scratch database",
            RestoreStage::Analyze => "analyzing the restored copy",
            RestoreStage::Swap => "swapping the restored copy in",
        })
    }
}

/// What a failed [`restore`] left behind. The tenant database always keeps the contents it had
/// before the call; these fields say what else changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestoreFailureState {
    /// The tenant database (name in the error).
    pub database: String,
    /// Its sessions may have been terminated (the swap had started).
    pub sessions_terminated: bool,
    /// It still refuses new connections (`ALLOW_CONNECTIONS false`): re-enabling them failed.
    pub refuses_connections: bool,
    /// A scratch database that could not be dropped.
    pub leftover_database: Option<String>,
}

impl std::fmt::Display for RestoreFailureState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database \"{}\" keeps the contents it had before the restore", self.database)?;
        if self.sessions_terminated {
            f.write_str("; its sessions may have been terminated")?;
        }
        if self.refuses_connections {
            write!(
                f,
                "; it REFUSES NEW CONNECTIONS: run `ALTER DATABASE {} WITH ALLOW_CONNECTIONS true`",
                quote_ident(&self.database)
            )?;
        }
        if let Some(leftover) = &self.leftover_database {
            write!(f, "; scratch database \"{leftover}\" remains (the next restore drops it, or drop it yourself)")?;
        }
        Ok(())
    }
}

/// Dumps `database` to `<dir>/<database>-<label>.dump`, checks the dump and records it.
///
/// The file is written under a temporary name, fsynced, checked with `pg_restore --list` and only
/// then renamed, so a crash never leaves a half dump under the final name. An existing file of
/// the final name is never replaced ([`PgError::RestorePointExists`]).
pub fn take_restore_point(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
    dir: &Path,
    label: &str,
) -> Result<RestorePoint, PgError> {
    check_database_name(database)?;
    check_label(label)?;
    let final_path = dir.join(dump_file_name(database, label));
    if final_path.exists() {
        return Err(PgError::RestorePointExists { path: final_path });
    }
    fs::create_dir_all(dir).map_err(|source| io_error("create the restore point directory", dir, source))?;

    let facts = database_facts(bins, target, database)?;
    let taken_at = Timestamp::now();

    // Mode 0600 from tempfile: a dump holds every customer's data.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}.", dump_file_name(database, label)))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|source| io_error("create a temporary dump file in", dir, source))?;
    let mut dump = target.command(bins.pg_dump(), database);
    dump.args(["--format=custom", &format!("--lock-wait-timeout={LOCK_WAIT_TIMEOUT}")])
        .arg(format!("--file={}", partial.path().display()));
    run(dump)?;
    // pg_dump truncated and wrote the same inode our handle points to.
    partial.as_file().sync_all().map_err(|source| io_error("fsync", partial.path(), source))?;

    let toc = read_toc(bins, partial.path())?;
    if toc.table_data_entries < facts.tables {
        return Err(PgError::DumpIncomplete {
            database: database.to_owned(),
            path: partial.path().to_path_buf(),
            detail: format!(
                "the database has {} ordinary table(s) but the archive lists only {} TABLE DATA entries",
                facts.tables, toc.table_data_entries
            ),
        });
    }
    let (size_bytes, sha256) = sha256_file(partial.path())?;

    partial.persist_noclobber(&final_path).map_err(|err| {
        if err.error.kind() == io::ErrorKind::AlreadyExists {
            PgError::RestorePointExists { path: final_path.clone() }
        } else {
            io_error("rename the finished dump to", &final_path, err.error)
        }
    })?;
    // The rename is durable only once the directory entry is.
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| io_error("fsync", dir, source))?;

    Ok(RestorePoint {
        database: database.to_owned(),
        label: label.to_owned(),
        path: final_path,
        size_bytes,
        lsn: facts.lsn,
        taken_at,
        toc_entries: toc.entries,
        table_data_entries: toc.table_data_entries,
        sha256,
        properties: facts.properties,
    })
}

/// Checks that the restore point's file exists, is the recorded file (size and SHA-256) and is
/// an archive `pg_restore` can read with the recorded number of entries.
pub fn verify_restore_point(bins: &PgBinaries, point: &RestorePoint) -> Result<(), PgError> {
    let unusable = |detail: String| PgError::RestorePointUnusable {
        database: point.database.clone(),
        path: point.path.clone(),
        expected_sha256: point.sha256.clone(),
        detail,
    };
    let size = fs::metadata(&point.path).map_err(|err| unusable(format!("cannot read the file: {err}")))?.len();
    if size != point.size_bytes {
        return Err(unusable(format!("the file has {size} bytes, the restore point recorded {}", point.size_bytes)));
    }
    let (_, sha256) = sha256_file(&point.path)?;
    if sha256 != point.sha256 {
        return Err(unusable(format!("the file's sha256 is {sha256}")));
    }
    let toc = read_toc(bins, &point.path).map_err(|err| unusable(format!("pg_restore cannot read it: {err}")))?;
    if toc.entries != point.toc_entries {
        return Err(unusable(format!("it lists {} entries, {} were recorded", toc.entries, point.toc_entries)));
    }
    Ok(())
}

/// Replaces database `point.database` on `target` with the contents of the restore point.
///
/// Refuses, touching nothing, unless [`verify_restore_point`] passes. Then restores into a scratch
/// database, analyzes it, terminates the sessions of the tenant database, swaps the names in one
/// transaction and drops the replaced copy (see the module docs for every failure's outcome).
/// Sessions must not come back meanwhile: the tenant should be in maintenance mode.
pub fn restore(bins: &PgBinaries, target: &PgTarget, point: &RestorePoint) -> Result<RestoreReport, PgError> {
    let started_at = Timestamp::now();
    let clock = Instant::now();
    check_database_name(&point.database)?;
    verify_restore_point(bins, point)?;

    let database = point.database.as_str();
    let scratch = side_name(database, "restore");
    let replaced = side_name(database, "replaced");
    let mut state = RestoreFailureState { database: database.to_owned(), ..RestoreFailureState::default() };
    let failed = |stage: RestoreStage, state: RestoreFailureState, source: PgError| PgError::RestoreFailed {
        database: database.to_owned(),
        server: target.to_string(),
        dump: point.path.clone(),
        stage,
        state: Box::new(state),
        source: Box::new(source),
    };

    // Leftovers of an interrupted earlier restore of this database are ours to drop.
    let prepare = format!(
        "DROP DATABASE IF EXISTS {scratch_id} WITH (FORCE);\n\
         DROP DATABASE IF EXISTS {replaced_id} WITH (FORCE);\n\
         CREATE DATABASE {scratch_id} WITH TEMPLATE template0 {properties};\n\
         SELECT count(*) FROM pg_database WHERE datname = {database_lit};",
        scratch_id = quote_ident(&scratch),
        replaced_id = quote_ident(&replaced),
        properties = create_options(&point.properties),
        database_lit = quote_literal(database),
    );
    let existed = match psql(bins, target, MAINTENANCE_DATABASE, &prepare) {
        Ok(out) => out.trim() == "1",
        Err(err) => {
            state.leftover_database = drop_scratch(bins, target, &scratch);
            return Err(failed(RestoreStage::PrepareScratch, state, err));
        }
    };

    let mut pg_restore = target.command(bins.pg_restore(), &scratch);
    pg_restore.arg("--exit-on-error").arg(&point.path);
    let filled = run(pg_restore)
        .map(drop)
        .map_err(|err| (RestoreStage::PgRestore, err))
        .and_then(|()| psql(bins, target, &scratch, "ANALYZE").map(drop).map_err(|err| (RestoreStage::Analyze, err)));
    if let Err((stage, err)) = filled {
        state.leftover_database = drop_scratch(bins, target, &scratch);
        return Err(failed(stage, state, err));
    }

    let (db_id, scratch_id, replaced_id) = (quote_ident(database), quote_ident(&scratch), quote_ident(&replaced));
    let swap = if existed {
        // New sessions are refused first, or an application's pool reconnects between the
        // terminate and the rename, which fails while anyone is connected. The rename waits a
        // few seconds for terminated sessions to exit.
        format!(
            "ALTER DATABASE {db_id} WITH ALLOW_CONNECTIONS false;\n\
             SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = {db_lit} AND pid <> pg_backend_pid();\n\
             BEGIN;\n\
             ALTER DATABASE {db_id} RENAME TO {replaced_id};\n\
             ALTER DATABASE {scratch_id} RENAME TO {db_id};\n\
             COMMIT;",
            db_lit = quote_literal(database),
        )
    } else {
        format!("SELECT 0;\nALTER DATABASE {scratch_id} RENAME TO {db_id};")
    };
    let sessions_terminated = match psql(bins, target, MAINTENANCE_DATABASE, &swap) {
        Ok(out) => out.trim().parse().unwrap_or(0),
        Err(err) => {
            if existed {
                state.sessions_terminated = true;
                let allow = format!("ALTER DATABASE {db_id} WITH ALLOW_CONNECTIONS true");
                state.refuses_connections = psql(bins, target, MAINTENANCE_DATABASE, &allow).is_err();
            }
            state.leftover_database = drop_scratch(bins, target, &scratch);
            return Err(failed(RestoreStage::Swap, state, err));
        }
    };

    let leftover_database = if existed {
        let drop_old = format!("DROP DATABASE IF EXISTS {replaced_id} WITH (FORCE)");
        psql(bins, target, MAINTENANCE_DATABASE, &drop_old).err().map(|_| replaced)
    } else {
        None
    };

    Ok(RestoreReport {
        database: database.to_owned(),
        dump: point.path.clone(),
        sha256: point.sha256.clone(),
        lsn: point.lsn.clone(),
        replaced_existing: existed,
        sessions_terminated,
        leftover_database,
        started_at,
        duration: clock.elapsed(),
    })
}

/// The cluster's current WAL position (`pg_current_wal_lsn()`, on a standby the last replayed one).
pub fn pg_lsn(bins: &PgBinaries, target: &PgTarget) -> Result<String, PgError> {
    Ok(psql(bins, target, MAINTENANCE_DATABASE, &format!("SELECT {LSN_SQL}"))?.trim().to_owned())
}

/// Whether `database` exists on the cluster.
pub fn database_exists(bins: &PgBinaries, target: &PgTarget, database: &str) -> Result<bool, PgError> {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = {}", quote_literal(database));
    Ok(psql(bins, target, MAINTENANCE_DATABASE, &sql)?.trim() == "1")
}

/// Size of `database` on disk (`pg_database_size`), in bytes.
pub fn database_size(bins: &PgBinaries, target: &PgTarget, database: &str) -> Result<u64, PgError> {
    let sql = format!("SELECT pg_database_size(oid) FROM pg_database WHERE datname = {}", quote_literal(database));
    let out = psql(bins, target, MAINTENANCE_DATABASE, &sql)?;
    out.trim()
        .parse()
        .map_err(|_| PgError::DatabaseNotFound { database: database.to_owned(), server: target.to_string() })
}

/// What is read from the tenant database just before dumping it.
struct DatabaseFacts {
    lsn: String,
    tables: usize,
    properties: DatabaseProperties,
}

#[derive(Deserialize)]
struct FactsRow {
    lsn: Option<String>,
    owner: String,
    encoding: String,
    tables: usize,
    /// The `pg_database` row as JSON: its locale columns differ between major versions.
    row: serde_json::Map<String, serde_json::Value>,
}

fn database_facts(bins: &PgBinaries, target: &PgTarget, database: &str) -> Result<DatabaseFacts, PgError> {
    // Ordinary tables outside the system schemas and not created by an extension: each must
    // have a TABLE DATA entry in the dump.
    let sql = format!(
        "SELECT json_build_object(
           'lsn', {LSN_SQL},
           'owner', pg_get_userbyid(d.datdba),
           'encoding', pg_encoding_to_char(d.encoding),
           'tables', (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
                        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                        AND n.nspname NOT LIKE 'pg\\_toast%'
                        AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                                        AND e.objid = c.oid AND e.deptype = 'e')),
           'row', to_jsonb(d) - 'datacl')
         FROM pg_database d WHERE d.datname = current_database()"
    );
    let out = match psql(bins, target, database, &sql) {
        Ok(out) => out,
        // The server's own message may be in any language; ask the catalog instead.
        Err(err) => match database_exists(bins, target, database) {
            Ok(false) => {
                return Err(PgError::DatabaseNotFound { database: database.to_owned(), server: target.to_string() });
            }
            _ => return Err(err),
        },
    };
    let unexpected = |detail: String| PgError::UnexpectedOutput {
        command: format!("psql -d {database} on {target} (reading the database's LSN and properties)"),
        detail,
    };
    let row: FactsRow =
        serde_json::from_str(out.trim()).map_err(|err| unexpected(format!("unexpected output {out:?}: {err}")))?;
    let text = |name: &str| row.row.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let (locale_provider, provider_locale) = match text("datlocprovider").as_deref() {
        Some("i") => ("icu", text("datlocale").or_else(|| text("daticulocale"))),
        Some("b") => ("builtin", text("datlocale")),
        _ => ("libc", None),
    };
    let properties = DatabaseProperties {
        owner: row.owner,
        encoding: row.encoding,
        lc_collate: text("datcollate").unwrap_or_default(),
        lc_ctype: text("datctype").unwrap_or_default(),
        locale_provider: locale_provider.to_owned(),
        provider_locale,
    };
    let lsn = row.lsn.ok_or_else(|| unexpected("the server reported no WAL position".to_owned()))?;
    Ok(DatabaseFacts { lsn, tables: row.tables, properties })
}

/// `CREATE DATABASE` options recreating the recorded properties.
pub(crate) fn create_options(p: &DatabaseProperties) -> String {
    let mut options = format!(
        "OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        quote_ident(&p.owner),
        quote_literal(&p.encoding),
        quote_literal(&p.lc_collate),
        quote_literal(&p.lc_ctype)
    );
    match (p.locale_provider.as_str(), &p.provider_locale) {
        ("icu", Some(locale)) => {
            options.push_str(&format!(" LOCALE_PROVIDER icu ICU_LOCALE {}", quote_literal(locale)))
        }
        ("builtin", Some(locale)) => {
            options.push_str(&format!(" LOCALE_PROVIDER builtin BUILTIN_LOCALE {}", quote_literal(locale)));
        }
        _ => {}
    }
    options
}

/// Drops the scratch database; returns its name when that fails, so the error can name it.
fn drop_scratch(bins: &PgBinaries, target: &PgTarget, scratch: &str) -> Option<String> {
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(scratch));
    psql(bins, target, MAINTENANCE_DATABASE, &sql).err().map(|_| scratch.to_owned())
}

/// A database name next to `database`, `<database>~<tag>-<hash>`, at most 63 bytes; the hash of
/// the full name keeps two long names with the same prefix apart.
fn side_name(database: &str, tag: &str) -> String {
    let hash = hex(&Sha256::digest(database.as_bytes())[..4]);
    let suffix = format!("~{tag}-{hash}");
    let mut cut = database.len().min(MAX_IDENTIFIER_BYTES - suffix.len());
    while !database.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &database[..cut])
}

/// What `pg_restore --list` says about an archive.
struct Toc {
    entries: usize,
    table_data_entries: usize,
}

fn read_toc(bins: &PgBinaries, path: &Path) -> Result<Toc, PgError> {
    let mut cmd = Command::new(bins.pg_restore());
    // A group of its own, like every PostgreSQL tool the controller runs (`PgTarget::command`).
    cmd.arg("--list").arg(path).env("LC_ALL", "C").process_group(0);
    let output = run(cmd)?;
    Ok(parse_toc(&String::from_utf8_lossy(&output.stdout)))
}

/// Counts entries (lines not starting with `;`) and `TABLE DATA` entries. An entry reads
/// `<dumpId>; <catalog oid> <object oid> <TYPE> <schema> <name> <owner>`; the type is matched at
/// its position so a table *named* "TABLE DATA" does not count.
fn parse_toc(list: &str) -> Toc {
    let mut toc = Toc { entries: 0, table_data_entries: 0 };
    for line in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(';')) {
        toc.entries += 1;
        let after_id = line.split_once(';').map_or("", |(_, rest)| rest);
        let mut rest = after_id.trim_start();
        for _ in 0..2 {
            rest = rest.split_once(' ').map_or("", |(_, r)| r).trim_start();
        }
        if rest.starts_with("TABLE DATA ") {
            toc.table_data_entries += 1;
        }
    }
    toc
}

fn sha256_file(path: &Path) -> Result<(u64, String), PgError> {
    let mut file = File::open(path).map_err(|source| io_error("open", path, source))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|source| io_error("read", path, source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `<database>-<label>.dump`, with every byte of the database name outside `[A-Za-z0-9_-]` (and
/// a leading `.`) written as `%XX`, so any name makes one file name and no path.
fn dump_file_name(database: &str, label: &str) -> String {
    let mut name = String::new();
    for (i, b) in database.bytes().enumerate() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => name.push(b as char),
            b'.' if i > 0 => name.push('.'),
            _ => name.push_str(&format!("%{b:02X}")),
        }
    }
    format!("{name}-{label}.dump")
}

pub(crate) fn check_database_name(name: &str) -> Result<(), PgError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        "it is longer than 63 bytes, which PostgreSQL would silently truncate"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(PgError::InvalidName { what: "database name", name: name.to_owned(), reason: reason.to_owned() })
}

fn check_label(label: &str) -> Result<(), PgError> {
    let valid = !label.is_empty()
        && label.len() <= 64
        && !label.starts_with('.')
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        return Ok(());
    }
    Err(PgError::InvalidName {
        what: "restore point label",
        name: label.to_owned(),
        reason: "use 1 to 64 of A-Z a-z 0-9 _ - . (not starting with a dot), e.g. `pre-v4`".to_owned(),
    })
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> PgError {
    PgError::Io { action, path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_counts_entries_and_table_data_by_position() {
        let list = ";\n; Archive created at 2025-01-01\n;     dbname: shop\n;\n\
                    215; 1259 16385 TABLE public orders postgres\n\
                    3350; 0 16385 TABLE DATA public orders postgres\n\
                    3351; 0 16390 TABLE DATA public \"TABLE DATA x\" postgres\n\
                    3352; 0 0 SEQUENCE SET public orders_id_seq postgres\n\
                    216; 1259 16399 VIEW public big_orders TABLE DATA\n";
        let toc = parse_toc(list);
        assert_eq!(toc.entries, 5);
        assert_eq!(toc.table_data_entries, 2);
    }

    #[test]
    fn dump_file_names_are_one_path_component() {
        assert_eq!(dump_file_name("shop_eu-1", "pre-v4"), "shop_eu-1-pre-v4.dump");
        assert_eq!(dump_file_name("../etc/x", "l"), "%2E.%2Fetc%2Fx-l.dump");
        assert_eq!(dump_file_name("a b\"ä", "l"), "a%20b%22%C3%A4-l.dump");
    }

    #[test]
    fn side_names_fit_and_differ_for_long_names_with_one_prefix() {
        assert!(side_name("shop-eu", "restore").starts_with("shop-eu~restore-"));
        let a = side_name(&"x".repeat(60), "restore");
        let b = side_name(&format!("{}y", "x".repeat(60)), "restore");
        assert!(a.len() <= MAX_IDENTIFIER_BYTES && b.len() <= MAX_IDENTIFIER_BYTES, "{a} {b}");
        assert_ne!(a, b);
        // Cutting never splits a multi-byte character.
        assert!(side_name(&"ä".repeat(31), "replaced").len() <= MAX_IDENTIFIER_BYTES);
    }

    #[test]
    fn names_and_labels_are_checked() {
        assert!(check_database_name("shop-eu \"x\"").is_ok());
        assert!(check_database_name("").is_err());
        assert!(check_database_name(&"d".repeat(64)).is_err());
        assert!(check_label("pre-v4.1").is_ok());
        for bad in ["", ".hidden", "a/b", "a b"] {
            let err = check_label(bad).unwrap_err();
            assert!(err.to_string().contains("pre-v4"), "{err}");
        }
    }

    #[test]
    fn create_options_recreate_locale_settings() {
        let mut p = DatabaseProperties {
            owner: "odoo".into(),
            encoding: "UTF8".into(),
            lc_collate: "de_DE.UTF-8".into(),
            lc_ctype: "de_DE.UTF-8".into(),
            locale_provider: "libc".into(),
            provider_locale: None,
        };
        assert_eq!(
            create_options(&p),
            "OWNER \"odoo\" ENCODING 'UTF8' LC_COLLATE 'de_DE.UTF-8' LC_CTYPE 'de_DE.UTF-8'"
        );
        p.locale_provider = "icu".into();
        p.provider_locale = Some("de-DE".into());
        assert!(create_options(&p).ends_with(" LOCALE_PROVIDER icu ICU_LOCALE 'de-DE'"));
    }

    #[test]
    fn failure_state_says_what_to_do() {
        let state = RestoreFailureState {
            database: "shop-eu".into(),
            sessions_terminated: true,
            refuses_connections: true,
            leftover_database: Some("shop-eu~restore-0000".into()),
        };
        let text = state.to_string();
        assert!(text.contains("keeps the contents it had before"), "{text}");
        assert!(text.contains("ALTER DATABASE \"shop-eu\" WITH ALLOW_CONNECTIONS true"), "{text}");
        assert!(text.contains("shop-eu~restore-0000"), "{text}");
    }
}
