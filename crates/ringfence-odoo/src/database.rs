//! Reading an Odoo tenant database (an adapter: it runs `psql` against the tenant's cluster; the rest of
//! this crate only reads files). What Ringfence needs from a tenant database: its installed modules
//! (`ir_module_module`: name, state, latest_version), whether an upgrade left any module half-way
//! (`to upgrade`, `to install`, `to remove`), the checksums click-odoo-update stored with what they
//! were computed under (for the checksum strategy), and the `queue_job` backlog as an SLI.
//!
//! The queries only read. The password, if any, reaches `psql` through `PGPASSWORD` only.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ringfence_pg::{PgBinaries, PgTarget};

use crate::OdooError;
use crate::checksum::{EXCLUDE_PATTERNS_KEY, INSTALLED_CHECKSUMS_KEY};
use crate::installed::{InstalledState, TenantChecksums};

/// Runs one read-only query and returns its unaligned, tuples-only output.
fn query(bins: &PgBinaries, target: &PgTarget, database: &str, sql: &str) -> Result<String, OdooError> {
    let err =
        |message: String| OdooError::Database { database: database.to_owned(), server: target.to_string(), message };
    let out = target
        .command(bins.psql(), database)
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| err(format!("cannot run psql: {e}")))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    String::from_utf8(out.stdout).map_err(|e| err(format!("psql answered non-UTF-8 text: {e}")))
}

/// The tenant's modules as `ir_module_module` holds them.
pub fn installed_state(bins: &PgBinaries, target: &PgTarget, database: &str) -> Result<InstalledState, OdooError> {
    let json = query(
        bins,
        target,
        database,
        "SELECT coalesce(json_agg(json_build_object('name', name, 'state', state, 'latest_version', latest_version) \
         ORDER BY name), '[]') FROM ir_module_module",
    )?;
    let origin = format!("{database} (ir_module_module)");
    InstalledState::parse_json(json.trim(), Path::new(&origin))
}

/// What click-odoo-update stored in the tenant database: the `module_auto_update.installed_checksums`
/// parameter (empty when absent — click-odoo-update then upgrades every module), the
/// `module_auto_update.exclude_patterns` parameter and the active languages.
pub fn tenant_checksums(bins: &PgBinaries, target: &PgTarget, database: &str) -> Result<TenantChecksums, OdooError> {
    let sql = format!(
        "SELECT json_build_object(\
         'installed_checksums', (SELECT value FROM ir_config_parameter WHERE key = '{INSTALLED_CHECKSUMS_KEY}'), \
         'exclude_patterns', (SELECT value FROM ir_config_parameter WHERE key = '{EXCLUDE_PATTERNS_KEY}'), \
         'languages', (SELECT coalesce(json_agg(code ORDER BY code), '[]') FROM res_lang WHERE active))"
    );
    let text = query(bins, target, database, &sql)?;
    let err = |message: String| OdooError::Database {
        database: database.to_owned(),
        server: target.to_string(),
        message: format!(
            "{message}; fix or delete the {INSTALLED_CHECKSUMS_KEY} parameter (click-odoo-update --only-compute-hashes writes it anew)"
        ),
    };
    #[derive(serde::Deserialize)]
    struct Row {
        installed_checksums: Option<String>,
        exclude_patterns: Option<String>,
        languages: Vec<String>,
    }
    let row: Row = serde_json::from_str(text.trim()).map_err(|e| err(format!("unexpected answer: {e}")))?;
    let installed = match row.installed_checksums.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(raw) => TenantChecksums::parse_parameter(raw).map_err(err)?,
        None => Default::default(),
    };
    Ok(TenantChecksums { installed, languages: row.languages, exclude_patterns: row.exclude_patterns })
}

/// Modules an upgrade left half-way: any in `to upgrade`, `to install` or `to remove`, with that state.
/// Empty after a complete `odoo -u`.
pub fn unfinished_modules(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
) -> Result<Vec<(String, String)>, OdooError> {
    let rows = query(
        bins,
        target,
        database,
        "SELECT name || '|' || state FROM ir_module_module \
         WHERE state IN ('to upgrade', 'to install', 'to remove') ORDER BY name",
    )?;
    Ok(rows
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(name, state)| (name.to_owned(), state.to_owned()))
        .collect())
}

/// The `queue_job` backlog by state (pending, enqueued, started, failed, done, …). An error when the
/// tenant has no `queue_job` table (the module is not installed).
pub fn queue_job_backlog(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
) -> Result<BTreeMap<String, u64>, OdooError> {
    let rows =
        query(bins, target, database, "SELECT state || '|' || count(*) FROM queue_job GROUP BY state ORDER BY state")?;
    let mut out = BTreeMap::new();
    for line in rows.lines() {
        if let Some((state, n)) = line.split_once('|') {
            out.insert(state.to_owned(), n.trim().parse().unwrap_or(0));
        }
    }
    Ok(out)
}

/// The `queue_job` backlog as an SLI reads it: jobs waiting or running now, failed jobs still waiting
/// for someone to requeue them, and jobs done within a recent window (throughput). Done jobs are only
/// counted within the window because they pile up for as long as the autovacuum cron keeps them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueJobCounts {
    /// `wait_dependencies`: waiting for other jobs of their graph.
    pub wait_dependencies: u64,
    /// `pending`: waiting for the job runner.
    pub pending: u64,
    /// `enqueued`: handed to a worker, not started yet.
    pub enqueued: u64,
    /// `started`: running.
    pub started: u64,
    /// `failed`: failed and not requeued.
    pub failed: u64,
    /// `done` with `date_done` within the window.
    pub done_in_window: u64,
    /// The window `done_in_window` covers.
    pub window: Duration,
    /// Age in seconds of the oldest `pending` or `enqueued` job (by `date_created`), `None` when there is
    /// none: a backlog that does not drain shows here before the counts look alarming.
    pub oldest_waiting_seconds: Option<f64>,
    /// Any other state (`cancelled`, or states of newer queue_job versions), counted over all time.
    pub other: BTreeMap<String, u64>,
}

impl QueueJobCounts {
    /// Jobs not finished yet: waiting for dependencies, pending, enqueued and started.
    pub fn backlog(&self) -> u64 {
        self.wait_dependencies + self.pending + self.enqueued + self.started
    }
}

/// Reads [`QueueJobCounts`], with `done` jobs counted when their `date_done` lies within `window` before
/// the database server's clock. Odoo stores timestamps in UTC without a time zone, hence the UTC `now`.
/// An error when the tenant has no `queue_job` table (the module is not installed).
pub fn queue_job_counts(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
    window: Duration,
) -> Result<QueueJobCounts, OdooError> {
    // The window goes into the SQL text as a number of milliseconds formatted from an integer, so no
    // caller-supplied text reaches the query.
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).min(i64::MAX as u64);
    let sql = format!(
        "WITH now_utc AS (SELECT now() AT TIME ZONE 'UTC' AS t) \
         SELECT json_build_object(\
           'states', coalesce((SELECT json_object_agg(state, n) FROM \
               (SELECT state, count(*) AS n FROM queue_job WHERE state <> 'done' GROUP BY state) s), '{{}}'), \
           'done_in_window', (SELECT count(*) FROM queue_job, now_utc WHERE state = 'done' \
               AND date_done >= now_utc.t - {window_ms} * interval '1 millisecond'), \
           'oldest_waiting_seconds', (SELECT extract(epoch FROM now_utc.t - min(date_created))::float8 \
               FROM queue_job, now_utc WHERE state IN ('pending', 'enqueued') GROUP BY now_utc.t))"
    );
    let text = query(bins, target, database, &sql)?;
    let bad = |message: String| OdooError::Database {
        database: database.to_owned(),
        server: target.to_string(),
        message: format!("unexpected queue_job reading: {message}"),
    };
    #[derive(serde::Deserialize)]
    struct Reading {
        states: BTreeMap<String, u64>,
        done_in_window: u64,
        oldest_waiting_seconds: Option<f64>,
    }
    let reading: Reading = serde_json::from_str(text.trim()).map_err(|e| bad(format!("{e}: {}", text.trim())))?;
    let mut counts = QueueJobCounts {
        done_in_window: reading.done_in_window,
        window,
        // A job created "in the future" by a clock step must not read as a negative age.
        oldest_waiting_seconds: reading.oldest_waiting_seconds.map(|s| s.max(0.0)),
        ..QueueJobCounts::default()
    };
    for (state, n) in reading.states {
        match state.as_str() {
            "wait_dependencies" => counts.wait_dependencies = n,
            "pending" => counts.pending = n,
            "enqueued" => counts.enqueued = n,
            "started" => counts.started = n,
            "failed" => counts.failed = n,
            _ => {
                counts.other.insert(state, n);
            }
        }
    }
    Ok(counts)
}
