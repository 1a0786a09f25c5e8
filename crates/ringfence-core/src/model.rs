//! The domain model: the fleet (clusters, pools, tenants), the policy (rings, SLI thresholds) and the
//! release being carried to the fleet.
//!
//! These types are what the YAML documents deserialize into (field names in camelCase, like Kubernetes
//! and Argo CD manifests; unknown fields rejected). They carry no file positions and do no validation
//! that needs the outside world: `ringfence-config` reads the files, checks references and time zones
//! and reports errors with file:line:col.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Duration;

/// A tenant's stable identifier (a retailer), unique across the fleet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub String);

impl TenantId {
    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TenantId {
    fn from(s: &str) -> Self {
        TenantId(s.to_owned())
    }
}

/// Everything Ringfence needs to plan and run one release: the fleet, the policy and the release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Clusters, pools and tenants.
    pub fleet: Fleet,
    /// Rings, judge thresholds and release rules.
    pub policy: Policy,
    /// The release to carry out, when the configuration holds one.
    pub release: Option<Release>,
    /// How tenants run on this machine, for the local process driver.
    pub local_target: Option<LocalTarget>,
    /// The people who may submit, approve and start releases, with their roles.
    pub users: Vec<User>,
}

/// A person known to Ringfence, from the configuration's `Users` document: who may approve what is
/// decided by the gate policy from their roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// The identity given with `--as`, e.g. `camille.roux`.
    pub name: String,
    /// Where to reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Roles such as `release-manager`, `head-of-ops`, `dba`.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl User {
    /// Whether `who` names this user: by name or e-mail, trimmed, ASCII case ignored (as the risk
    /// rules compare authors and approvers).
    pub fn is(&self, who: &str) -> bool {
        let who = who.trim();
        self.name.trim().eq_ignore_ascii_case(who)
            || self.email.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case(who))
    }

    /// Whether the user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// How the local process driver runs tenants on this machine (the embedded default deployment target):
/// each tenant is an app process on a loopback port. Command placeholders are those of the migration
/// command plus `{app_port}` and, for `maintenance`, `{state}` (`on` or `off`). The commands run in
/// the directory of the LocalTarget's file, so a relative program (`bin/app`) or argument is taken
/// from there, as the migration command is from the Release's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalTarget {
    /// Serves one tenant at `{version}` on `127.0.0.1:{app_port}`.
    pub serve: Vec<String>,
    /// Turns a tenant's maintenance mode `{state}` on or off.
    pub maintenance: Vec<String>,
    /// The n-th tenant of the fleet (from 0) listens on `basePort + n`.
    pub base_port: u16,
    /// Where pid files, logs, restore points and step records go. A relative path is taken from
    /// the directory of the LocalTarget's file (`.ringfence/local` there by default), never from the
    /// current directory; a run records it absolute and keeps it when resumed.
    #[serde(default = "default_local_work_dir")]
    pub work_dir: PathBuf,
    /// Time between two scrapes of an observed tenant's `/metrics`.
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval: Duration,
    /// How long a started app may take to answer `/health`.
    #[serde(default = "default_health_timeout")]
    pub health_timeout: Duration,
}

fn default_local_work_dir() -> PathBuf {
    PathBuf::from(".ringfence/local")
}

fn default_scrape_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_health_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Placeholders a local target's commands may use, besides [`MIGRATION_PLACEHOLDERS`].
pub const LOCAL_TARGET_PLACEHOLDERS: [&str; 2] = ["app_port", "state"];

/// All tenants, pools and database clusters Ringfence manages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fleet {
    /// PostgreSQL clusters holding tenant databases.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// Odoo deployments serving tenants.
    #[serde(default)]
    pub pools: Vec<Pool>,
    /// The tenants themselves.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
}

impl Fleet {
    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The pool with this name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &TenantId) -> Option<&Tenant> {
        self.tenants.iter().find(|t| &t.id == id)
    }
}

/// A PostgreSQL cluster that holds tenant databases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// Unique name, e.g. `pg-eu-1`.
    pub name: String,
    /// How to reach it; secrets only by reference.
    pub connection: Connection,
    /// How many tenant migrations may run on this cluster at once.
    pub max_concurrent_migrations: u32,
}

/// Connection settings for a cluster. The password is never written inline: it is read from an
/// environment variable or a file when needed, and never printed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connection {
    /// Host name, IP address, or a directory holding the server's unix socket.
    pub host: String,
    /// TCP port (also the unix socket's suffix).
    #[serde(default = "default_pg_port")]
    pub port: u16,
    /// Role to connect as.
    pub user: String,
    /// Where the password is kept, if the role needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretRef>,
    /// libpq `sslmode` (`disable`, `require`, `verify-full`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<String>,
}

fn default_pg_port() -> u16 {
    5432
}

/// A reference to a secret: exactly one of an environment variable or a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file holding the secret (trailing newline ignored); a relative path is taken from
    /// the directory of the file the reference is written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// Whether a pool serves many tenants or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoolKind {
    /// One Odoo deployment serving many tenant databases on a shared cluster.
    MultiTenant,
    /// A deployment of its own for one large retailer.
    Dedicated,
}

/// An Odoo deployment serving one or more tenants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pool {
    /// Unique name, e.g. `shared-eu-1`.
    pub name: String,
    /// `multi-tenant` or `dedicated`.
    #[serde(rename = "type")]
    pub kind: PoolKind,
    /// The cluster its tenant databases live on.
    pub cluster: String,
    /// Maintenance windows for its tenants that declare none of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<WindowSpec>,
    /// How many of its tenants may be migrating at once (restore point, migration or a restoring
    /// rollback), on top of its cluster's limit; no limit of its own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_migrations: Option<u32>,
}

/// A tenant's service tier, used by ring selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TenantTier {
    /// The hoster's own tenants (dog-fooding, demo shops).
    Internal,
    /// The ordinary paying tier.
    Standard,
    /// Paying more for more care.
    Premium,
    /// Large retailers, usually on dedicated pools with their own windows.
    Enterprise,
}

impl TenantTier {
    /// The spelling used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantTier::Internal => "internal",
            TenantTier::Standard => "standard",
            TenantTier::Premium => "premium",
            TenantTier::Enterprise => "enterprise",
        }
    }
}

/// A retailer: one database on one cluster, served by one pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// Unique id.
    pub id: TenantId,
    /// The pool serving it.
    pub pool: String,
    /// The cluster holding its database.
    pub cluster: String,
    /// Its database name on that cluster.
    pub database: String,
    /// Service tier.
    pub tier: TenantTier,
    /// Free labels used by ring selectors (`region: eu`, `channel: pos`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// IANA time zone its business runs in, e.g. `Europe/Paris`.
    pub timezone: String,
    /// When it may be changed, in its own time zone; none means its pool's, and none there means any time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<WindowSpec>,
}

/// A maintenance window as written: a 5-field cron expression for when it opens, in the tenant's time
/// zone, and how long it stays open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowSpec {
    /// When it opens, e.g. `0 2 * * 1-5` (02:00 on weekdays).
    pub cron: String,
    /// How long it stays open, e.g. `3h`.
    pub duration: Duration,
}

impl WindowSpec {
    /// The window in time zone `tz` (resolved by the caller: the core reads no tz database).
    pub fn to_window(
        &self,
        tz: jiff::tz::TimeZone,
    ) -> Result<crate::calendar::MaintenanceWindow, crate::calendar::CalendarError> {
        crate::calendar::MaintenanceWindow::new(&self.cron, self.duration, tz)
    }
}

/// A freeze as written: an absolute period (`start`–`end`, local times in `timezone`) or a recurring
/// one (`cron` + `duration`), for the whole fleet or chosen pools and tenants, letting through only the
/// risk tiers listed in `allowTiers` (none by default). Deny wins over any allow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FreezeSpec {
    /// Name shown when it holds a tenant back, e.g. `black-friday`.
    pub name: String,
    /// Start of an absolute freeze, local time, e.g. `2026-11-26T00:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<jiff::civil::DateTime>,
    /// End of an absolute freeze, local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<jiff::civil::DateTime>,
    /// When a recurring freeze begins, e.g. `0 16 * * 5` (Fridays 16:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// How long a recurring freeze lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// IANA time zone of the times above.
    pub timezone: String,
    /// Risk tiers allowed through (e.g. `[low]`); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_tiers: Vec<crate::calendar::RiskTier>,
    /// Pools and tenants it applies to; the whole fleet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<FreezeScopeSpec>,
}

/// The pools and tenants a freeze applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FreezeScopeSpec {
    /// Pools by name.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Tenants by id.
    #[serde(default)]
    pub tenants: Vec<TenantId>,
}

/// Why a freeze as written cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FreezeSpecError {
    /// Neither or both of the absolute and recurring forms.
    #[error("give either `start` and `end` (an absolute freeze) or `cron` and `duration` (a recurring one)")]
    Shape,
    /// A local time that does not exist or cannot be placed in the zone.
    #[error("{0}")]
    Time(String),
    /// The calendar refused it.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

impl FreezeSpec {
    /// The freezes this spec stands for (one per pool or tenant in its scope, or one global), in time
    /// zone `tz` (resolved by the caller).
    pub fn to_freezes(&self, tz: jiff::tz::TimeZone) -> Result<Vec<crate::calendar::Freeze>, FreezeSpecError> {
        use crate::calendar::{Freeze, FreezeScope};
        let scopes: Vec<FreezeScope> = match &self.scope {
            None => vec![FreezeScope::Global],
            Some(s) if s.pools.is_empty() && s.tenants.is_empty() => vec![FreezeScope::Global],
            Some(s) => s
                .pools
                .iter()
                .map(|p| FreezeScope::Pool(p.clone()))
                .chain(s.tenants.iter().map(|t| FreezeScope::Tenant(t.clone())))
                .collect(),
        };
        let mut out = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let freeze = match (&self.start, &self.end, &self.cron, &self.duration) {
                (Some(start), Some(end), None, None) => {
                    let zoned = |t: &jiff::civil::DateTime| {
                        t.to_zoned_datetime(tz.clone())
                            .map_err(|e| FreezeSpecError::Time(format!("{t} in {}: {e}", self.timezone)))
                    };
                    Freeze::absolute(&self.name, &zoned(start)?, &zoned(end)?, scope)?
                }
                (None, None, Some(cron), Some(duration)) => {
                    Freeze::recurring(&self.name, cron, *duration, tz.clone(), scope)?
                }
                _ => return Err(FreezeSpecError::Shape),
            };
            out.push(freeze.allowing(&self.allow_tiers));
        }
        Ok(out)
    }
}

/// Rings, judge thresholds and the rules a release must satisfy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Whether a release image may be referenced by tag instead of digest. Off by default.
    #[serde(default)]
    pub allow_image_tags: bool,
    /// Rings in rollout order.
    #[serde(default)]
    pub rings: Vec<Ring>,
    /// The SLIs judged during observation, with their limits.
    #[serde(default)]
    pub slis: Vec<Sli>,
    /// How treated tenants are compared with the controls.
    #[serde(default)]
    pub judge: JudgeSpec,
    /// Periods in which releases may not touch tenants (deny wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<FreezeSpec>,
    /// How long a tenant's steps are expected to take (restore point, migration, switch) when no
    /// rehearsal measured them: what must fit in a maintenance window.
    #[serde(default = "default_step_duration")]
    pub expected_step_duration: Duration,
    /// Release-wide pacing limits on top of ring batches and cluster limits.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// How many distinct approvers a break-glass exception needs to let a release into a freeze.
    #[serde(default = "default_break_glass_approvals")]
    pub break_glass_approvals: u32,
    /// The guardrails every tenant's real migration runs under.
    #[serde(default)]
    pub migration: MigrationSafety,
    /// Whom the policy trusts for signatures and provenance.
    #[serde(default)]
    pub supply_chain: SupplyChain,
    /// Where the SLIs are read: each tenant's `/metrics` (the default), or a Prometheus server.
    #[serde(default, skip_serializing_if = "MetricsSpec::is_default")]
    pub metrics: MetricsSpec,
}

/// Where tenants' SLIs are read from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsSpec {
    /// Read through this Prometheus server's HTTP API instead of scraping each tenant's `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
}

impl MetricsSpec {
    /// Whether this is the default (scrape each tenant).
    pub fn is_default(&self) -> bool {
        *self == MetricsSpec::default()
    }
}

/// A Prometheus server that scrapes the tenants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSpec {
    /// Its base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// The label carrying the tenant id on the tenants' series.
    #[serde(default = "default_tenant_label")]
    pub tenant_label: String,
}

fn default_tenant_label() -> String {
    "tenant".into()
}

/// The guardrails of a tenant's real migration: what must hold before it starts, the server-side
/// time limits it runs under, how often it is retried when it times out waiting for a lock, and how
/// long it may keep other sessions waiting before it is cancelled (and the tenant rolled back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigrationSafety {
    /// `lock_timeout` of the migration's sessions: how long one statement may queue for a lock.
    /// Short, because a queued ACCESS EXCLUSIVE request blocks every later query on the table.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: Duration,
    /// `statement_timeout` of the migration's sessions.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: Duration,
    /// The migration does not start while the database has a transaction open longer than this.
    #[serde(default = "default_max_transaction_age")]
    pub max_transaction_age: Duration,
    /// ... nor a session idle in transaction longer than this.
    #[serde(default = "default_max_idle_in_transaction")]
    pub max_idle_in_transaction: Duration,
    /// Longest time the migration may keep another session waiting on its locks; the watchdog
    /// cancels it past that, the step fails and the tenant is rolled back.
    #[serde(default = "default_max_blocking")]
    pub max_blocking: Duration,
    /// Retries after a lock timeout or a refused start.
    #[serde(default)]
    pub retry: RetrySpec,
    /// Per risk tier, the most blocking of reads or writes a rehearsal may predict for a tenant
    /// migrated outside a maintenance window; a tenant predicted to block longer is migrated only
    /// inside one (and, having none, waits for an operator).
    #[serde(default)]
    pub max_predicted_blocking: BlockingLimits,
}

/// A duration per risk tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockingLimits {
    /// For `low` releases.
    #[serde(default = "default_blocking_low")]
    pub low: Duration,
    /// For `medium` releases.
    #[serde(default = "default_blocking_medium")]
    pub medium: Duration,
    /// For `high` releases.
    #[serde(default = "default_blocking_high")]
    pub high: Duration,
    /// For `critical` releases.
    #[serde(default = "default_blocking_critical")]
    pub critical: Duration,
}

impl BlockingLimits {
    /// The limit for `tier`.
    pub fn for_tier(&self, tier: crate::calendar::RiskTier) -> Duration {
        use crate::calendar::RiskTier;
        match tier {
            RiskTier::Low => self.low,
            RiskTier::Medium => self.medium,
            RiskTier::High => self.high,
            RiskTier::Critical => self.critical,
        }
    }
}

fn default_blocking_low() -> Duration {
    Duration::from_secs(5)
}
fn default_blocking_medium() -> Duration {
    Duration::from_secs(2)
}
fn default_blocking_high() -> Duration {
    Duration::from_secs(1)
}
fn default_blocking_critical() -> Duration {
    Duration::from_millis(500)
}

impl Default for BlockingLimits {
    fn default() -> Self {
        BlockingLimits {
            low: default_blocking_low(),
            medium: default_blocking_medium(),
            high: default_blocking_high(),
            critical: default_blocking_critical(),
        }
    }
}

/// How a migration that timed out waiting for a lock, or could not start because of old
/// transactions, is tried again: exponential backoff within a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in total, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    #[serde(default = "default_backoff")]
    pub backoff: Duration,
    /// Longest wait between two attempts.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Duration,
    /// No attempt starts later than this after the first one.
    #[serde(default = "default_retry_budget")]
    pub budget: Duration,
}

fn default_lock_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_statement_timeout() -> Duration {
    Duration::from_mins(30)
}
fn default_max_transaction_age() -> Duration {
    Duration::from_mins(5)
}
fn default_max_idle_in_transaction() -> Duration {
    Duration::from_mins(1)
}
fn default_max_blocking() -> Duration {
    Duration::from_secs(30)
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff() -> Duration {
    Duration::from_secs(5)
}
fn default_max_backoff() -> Duration {
    Duration::from_mins(1)
}
fn default_retry_budget() -> Duration {
    Duration::from_mins(10)
}

impl Default for MigrationSafety {
    fn default() -> Self {
        MigrationSafety {
            lock_timeout: default_lock_timeout(),
            statement_timeout: default_statement_timeout(),
            max_transaction_age: default_max_transaction_age(),
            max_idle_in_transaction: default_max_idle_in_transaction(),
            max_blocking: default_max_blocking(),
            retry: RetrySpec::default(),
            max_predicted_blocking: BlockingLimits::default(),
        }
    }
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            max_attempts: default_max_attempts(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
            budget: default_retry_budget(),
        }
    }
}

fn default_break_glass_approvals() -> u32 {
    2
}

/// Release-wide pacing: how many tenants may be in flight at once, and how much of a pool may be
/// unavailable (in maintenance for its restore point, migration and switch) at once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Concurrency {
    /// Tenants between their first step and the end of their observation, across the fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tenants_in_flight: Option<u32>,
    /// Share of a pool's tenants that may be in maintenance at once, in percent (like Kubernetes'
    /// `maxUnavailable`); at least one tenant is always allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable_percent: Option<u32>,
}

fn default_step_duration() -> Duration {
    Duration::from_mins(30)
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_image_tags: false,
            rings: Vec::new(),
            slis: Vec::new(),
            judge: JudgeSpec::default(),
            freezes: Vec::new(),
            expected_step_duration: default_step_duration(),
            concurrency: Concurrency::default(),
            break_glass_approvals: default_break_glass_approvals(),
            migration: MigrationSafety::default(),
            supply_chain: SupplyChain::default(),
            metrics: MetricsSpec::default(),
        }
    }
}

/// An ordered group of tenants released together, batch by batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ring {
    /// Unique name, e.g. `canary`.
    pub name: String,
    /// Which tenants belong to the ring.
    pub selector: Selector,
    /// How many tenants are released together.
    pub batch_size: BatchSize,
    /// How long each tenant's SLIs are judged after it is switched.
    pub observation: Duration,
    /// How long to wait after the ring is done before the next ring starts.
    #[serde(default)]
    pub soak: Duration,
}

/// Chooses tenants for a ring. A tenant belongs when its id is listed in `tenants`, or when it
/// satisfies every criterion given among `tiers` and `matchLabels`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// Explicit tenant ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantId>,
    /// Tiers, any of which matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TenantTier>,
    /// Labels, all of which must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl Selector {
    /// Whether the selector states no criterion at all (it would select nothing).
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.tiers.is_empty() && self.match_labels.is_empty()
    }

    /// Whether `tenant` belongs to a ring with this selector.
    pub fn matches(&self, tenant: &Tenant) -> bool {
        if self.tenants.contains(&tenant.id) {
            return true;
        }
        if self.tiers.is_empty() && self.match_labels.is_empty() {
            return false;
        }
        let tier_ok = self.tiers.is_empty() || self.tiers.contains(&tenant.tier);
        let labels_ok = self.match_labels.iter().all(|(k, v)| tenant.labels.get(k) == Some(v));
        tier_ok && labels_ok
    }
}

/// How many tenants of a ring go in one batch: a count, or a percentage of the ring (rounded up,
/// at least one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchSize {
    /// This many tenants.
    Count(u32),
    /// This percentage (1–100) of the ring's tenants.
    Percent(u32),
}

impl BatchSize {
    /// The number of tenants per batch for a ring of `ring_len` tenants (never zero).
    pub fn resolve(self, ring_len: usize) -> usize {
        let n = match self {
            BatchSize::Count(n) => n as usize,
            BatchSize::Percent(p) => (ring_len * p as usize).div_ceil(100),
        };
        n.max(1)
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Count(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for BatchSize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BatchSize::Count(n) => serializer.serialize_u32(*n),
            BatchSize::Percent(_) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BatchSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tenant count such as 5, or a percentage such as \"25%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<BatchSize, E> {
                match u32::try_from(v) {
                    Ok(n) if n >= 1 => Ok(BatchSize::Count(n)),
                    _ => Err(E::custom("batch size must be at least 1")),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<BatchSize, E> {
                if v < 1 {
                    return Err(E::custom("batch size must be at least 1"));
                }
                self.visit_u64(v as u64)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BatchSize, E> {
                let Some(number) = v.trim().strip_suffix('%') else {
                    return v
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| {
                            E::custom(format!(
                                "invalid batch size {v:?}: write a count like 5 or a percentage like \"25%\""
                            ))
                        })
                        .and_then(|n| self.visit_u64(n));
                };
                match number.trim().parse::<u32>() {
                    Ok(p) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                    _ => Err(E::custom(format!("invalid batch size {v:?}: a percentage must be between 1% and 100%"))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A service level indicator: what to measure on each tenant, and the limits the judge applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sli {
    /// Name, e.g. `checkout-error-rate` or `order-latency-p95`.
    pub name: String,
    /// A rate: errors per event, from two counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<RatioMeasure>,
    /// A latency quantile, from a histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<QuantileMeasure>,
    /// Highest acceptable value on a treated tenant (a rate as a fraction, a latency in the histogram's
    /// unit, usually seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Highest acceptable ratio of a treated tenant's value to the control tenants' value (e.g. 1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio_to_control: Option<f64>,
    /// Events (the ratio's total, or the histogram's count) a tenant must have in its window before the
    /// judge may fail it on this SLI: a single error in two checkouts is not a 50% error rate.
    #[serde(default = "default_min_events")]
    pub min_events: u64,
    /// Which change hurts: `increase` (error rates, latency; the default) or `decrease` (completion
    /// rates).
    #[serde(default)]
    pub harm: Harm,
    /// The practically significant relative change the comparative judges look for, e.g. 0.2 for
    /// "+20%" (or "−20%" when a decrease hurts); smaller changes are not called harm.
    #[serde(default = "default_effect")]
    pub effect: f64,
}

fn default_effect() -> f64 {
    0.2
}

/// Which direction of an SLI's change hurts users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Harm {
    /// Higher is worse.
    #[default]
    Increase,
    /// Lower is worse.
    Decrease,
}

/// How treated tenants are compared with the controls during observation, on top of each SLI's
/// absolute limits (`max`, `maxRatioToControl`), which always apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JudgeSpec {
    /// `sequential` (anytime-valid tests, the default), `threshold`, `mann-whitney`, or `limits-only`.
    #[serde(default)]
    pub method: JudgeMethod,
    /// Family-wise false-alarm rate over all SLIs, e.g. 0.05.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_alpha() -> f64 {
    0.05
}

impl Default for JudgeSpec {
    fn default() -> Self {
        JudgeSpec { method: JudgeMethod::default(), alpha: default_alpha() }
    }
}

/// The comparative judge of a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeMethod {
    /// Anytime-valid sequential tests on each tenant's change from its own baseline, treated against
    /// control: false alarms held at `alpha` however often it looks.
    #[default]
    Sequential,
    /// Flagger/Argo style: the SLI past its `max` at consecutive looks.
    Threshold,
    /// Kayenta style rank test at a fixed horizon.
    MannWhitney,
    /// Only the absolute limits.
    LimitsOnly,
}

impl JudgeMethod {
    /// The name the judges crate knows it by, if it is one of its judges.
    pub fn judge_name(self) -> Option<&'static str> {
        match self {
            JudgeMethod::Sequential => Some("sequential"),
            JudgeMethod::Threshold => Some("threshold"),
            JudgeMethod::MannWhitney => Some("mann-whitney"),
            JudgeMethod::LimitsOnly => None,
        }
    }
}

fn default_min_events() -> u64 {
    20
}

/// A rate from two counters: `errors / total` over the observation window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatioMeasure {
    /// Counter of bad events, e.g. `storefront_checkouts_failed_total`.
    pub errors: MetricSelector,
    /// Counter of all events, e.g. `storefront_checkouts_started_total`.
    pub total: MetricSelector,
}

/// A quantile of a histogram over the observation window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuantileMeasure {
    /// The histogram's base name (its `_bucket` series are used), e.g. `storefront_order_creation_seconds`.
    pub histogram: MetricSelector,
    /// The quantile, between 0 and 1 exclusive, e.g. 0.95.
    pub q: f64,
}

/// A metric name with optional exact label matches, written as in PromQL: `name` or
/// `name{label="value",other="x"}`. All series of that name whose labels match are summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSelector {
    /// Metric name.
    pub name: String,
    /// Labels that must match exactly.
    pub labels: BTreeMap<String, String>,
}

impl MetricSelector {
    /// Whether a series with this name and labels is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        name == self.name && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

impl std::str::FromStr for MetricSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .enumerate()
                    .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        };
        let (name, rest) = match s.find('{') {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!(
                "{s:?} is not a metric selector: write `metric_name` or `metric_name{{label=\"value\"}}`"
            ));
        }
        let mut labels = BTreeMap::new();
        if let Some(rest) = rest {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.trim_end().strip_suffix('}'))
                .ok_or_else(|| format!("{s:?}: the label list must end with `}}`"))?;
            for pair in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| format!("{s:?}: {pair:?} is not `label=\"value\"`"))?;
                let (k, v) = (k.trim(), v.trim());
                if k.ends_with('!') || k.ends_with('=') || v.starts_with('~') {
                    return Err(format!("{s:?}: only exact matches (`label=\"value\"`) are supported"));
                }
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or_else(|| format!("{s:?}: the value of {k:?} must be in double quotes"))?;
                if !valid_name(k) {
                    return Err(format!("{s:?}: {k:?} is not a label name"));
                }
                labels.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(MetricSelector { name: name.to_owned(), labels })
    }
}

impl fmt::Display for MetricSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            write!(f, "{{{}}}", labels.join(","))?;
        }
        Ok(())
    }
}

impl Serialize for MetricSelector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MetricSelector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A versioned, immutable release: what it is, where it comes from and how to migrate a tenant to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    /// This release's version, e.g. `2026.11.2`.
    pub version: String,
    /// The version it replaces on the fleet.
    pub replaces: String,
    /// Container image, pinned by digest (`repo@sha256:…`) unless the policy allows tags.
    pub image: String,
    /// The per-tenant migration command.
    pub migration: Migration,
    /// What changed and who authored it.
    pub change: Change,
    /// Whether the previous version's code can run on this release's migrated schema, so that a tenant
    /// can be rolled back by switching code alone, keeping orders taken since the switch.
    #[serde(default)]
    pub schema_backward_compatible: bool,
    /// The release's risk tier as declared by its author, until risk classification computes it;
    /// freezes may let chosen tiers through. `medium` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::calendar::RiskTier>,
    /// An emergency exception to enter freezes: a reason and its approvers. Needs the policy's
    /// `breakGlassApprovals` distinct approvers, and every step it lets in is marked in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<crate::calendar::BreakGlass>,
    /// Where the evidence the gates read lives: files beside the configuration.
    #[serde(default, skip_serializing_if = "ReleaseEvidence::is_empty")]
    pub evidence: ReleaseEvidence,
}

/// Files holding a release's evidence; relative paths are taken from the directory of the file
/// the Release is written in (`ringfence_config::Loaded::resolve`). The gates read them; what each tier demands of them is the gate policy's decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseEvidence {
    /// The image's cosign signature: a directory with `payload.json` and `signature`, or a JSON
    /// bundle `{payload, signature}` (both base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<PathBuf>,
    /// In-toto SLSA provenance of the image in a DSSE envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<PathBuf>,
    /// A Trivy or Grype JSON report of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<PathBuf>,
    /// JUnit XML reports (files, or directories of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<PathBuf>,
    /// The change analysis: `ringfence odoo diff --json` of the release's addons, whose facts
    /// decide the risk tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<PathBuf>,
}

impl ReleaseEvidence {
    /// Whether no evidence file is named.
    pub fn is_empty(&self) -> bool {
        *self == ReleaseEvidence::default()
    }
}

/// The keys and builders a policy trusts for the images it lets through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupplyChain {
    /// Public keys (PEM files, or directories of `*.pub`/`*.pem`) image signatures and provenance
    /// must verify against; relative paths are taken from the directory of the Policy's file.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// Builder ids a provenance attestation may name; empty: any.
    #[serde(default)]
    pub allowed_builders: Vec<String>,
}

/// The migration command, as an argument vector (no shell). Placeholders in `{braces}` are filled per
/// tenant: `{tenant}`, `{database}`, `{cluster}`, `{host}`, `{port}`, `{user}`, `{database_url}` (without
/// password: it is passed in `PGPASSWORD`), `{version}`, `{previous}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Migration {
    /// Program and arguments, e.g. `[odoo, -u, all, -d, "{database}", --stop-after-init]`; run in
    /// the directory of the Release's file, so a relative program or argument is taken from there.
    pub command: Vec<String>,
}

/// The placeholders a migration command may use.
pub const MIGRATION_PLACEHOLDERS: [&str; 9] =
    ["tenant", "database", "cluster", "host", "port", "user", "database_url", "version", "previous"];

/// The change record of a release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Change {
    /// What the release changes, for people.
    pub description: String,
    /// Who authored the release (an identity such as an e-mail address).
    pub author: String,
}

impl Release {
    /// Whether the image is pinned by an OCI digest (`name@sha256:<64 hex>`).
    pub fn image_is_pinned(&self) -> bool {
        image_digest(&self.image).is_some()
    }
}

/// The digest part of an image reference pinned by digest, if it is one.
pub fn image_digest(image: &str) -> Option<&str> {
    let (_, digest) = image.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, tier: TenantTier, labels: &[(&str, &str)]) -> Tenant {
        Tenant {
            id: id.into(),
            pool: "p".into(),
            cluster: "c".into(),
            database: id.into(),
            tier,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            timezone: "UTC".into(),
            maintenance_windows: vec![],
        }
    }

    #[test]
    fn selector_matches_ids_or_all_criteria() {
        let t = tenant("a", TenantTier::Standard, &[("region", "eu")]);
        let by_id = Selector { tenants: vec!["a".into()], ..Default::default() };
        assert!(by_id.matches(&t));
        let tier_and_label = Selector {
            tiers: vec![TenantTier::Standard],
            match_labels: [("region".to_string(), "eu".to_string())].into(),
            ..Default::default()
        };
        assert!(tier_and_label.matches(&t));
        let wrong_label = Selector {
            tiers: vec![TenantTier::Standard],
            match_labels: [("region".to_string(), "us".to_string())].into(),
            ..Default::default()
        };
        assert!(!wrong_label.matches(&t));
        assert!(!Selector::default().matches(&t));
    }

    #[test]
    fn batch_size_resolves_percentages_up() {
        assert_eq!(BatchSize::Percent(25).resolve(10), 3);
        assert_eq!(BatchSize::Percent(1).resolve(3), 1);
        assert_eq!(BatchSize::Count(4).resolve(2), 4);
        assert_eq!(BatchSize::Percent(100).resolve(0), 1);
    }

    #[test]
    fn metric_selectors_parse_names_and_exact_labels() {
        let s: MetricSelector = r#"http_requests_total{route="/checkout", outcome="server_error"}"#.parse().unwrap();
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(s.labels["outcome"], "server_error");
        assert_eq!(s.to_string().parse::<MetricSelector>().unwrap(), s);
        assert!("orders_total".parse::<MetricSelector>().unwrap().labels.is_empty());
        for bad in ["", "9lives", "x{a=b}", r#"x{a=~"b"}"#, r#"x{a!="b"}"#, r#"x{a="b""#] {
            assert!(bad.parse::<MetricSelector>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn image_digest_requires_sha256_hex() {
        let pinned = format!("registry.example.com/odoo@sha256:{}", "a".repeat(64));
        assert!(image_digest(&pinned).is_some());
        assert!(image_digest("registry.example.com/odoo:17.0").is_none());
        assert!(image_digest("odoo@sha256:abc").is_none());
    }
}
