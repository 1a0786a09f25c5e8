//! Reading an Odoo tenant database (an adapter: it runs `psql` against the tenant's cluster; the rest of
//! this crate only reads files). What Ringfence needs from a tenant database: its installed modules
//! (`ir_module_module`: name, state, latest_version), whether an upgrade left any module half-way
//! (`to upgrade`, `to install`, `to remove`), and the `queue_job` backlog as an SLI.
//!
//! The queries only read. The password, if any, reaches `psql` through `PGPASSWORD` only.

use std::collections::BTreeMap;
use std::path::Path;

use ringfence_pg::{PgBinaries, PgTarget};

use crate::OdooError;
use crate::installed::InstalledState;

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
