//! The risk rules as configuration: which modules and tables are critical, the rehearsal limits, and the
//! tier each rule gives the facts it matches. Every field has a default, so a policy names only what
//! it changes. Not here: applying them (`classify`).

use ringfence_core::Duration;
use ringfence_core::calendar::RiskTier;
use ringfence_odoo::facts::{CriticalDomains, DEFAULT_CRITICAL_DOMAINS};
use serde::{Deserialize, Serialize};

/// Table-name globs whose schema changes are the riskiest: money moves through them.
pub const DEFAULT_CRITICAL_TABLES: [&str; 2] = ["account_*", "payment_*"];

/// A rule of the classification; its camelCase name is the [`Tiers`] field that sets its tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    /// Nothing changes for this tenant or release: always low (not configurable, so that adding a fact
    /// can never lower a tier).
    NoChange,
    /// Only configuration changes (no image, no addon).
    ConfigOnly,
    /// Only the image changes; no addon content does.
    ImageOnly,
    /// Addons change only under `static/` (web assets).
    AssetsOnly,
    /// Addon content could not be compared (no previous trees), so what changes is unknown.
    ContentUnknown,
    /// Module code changes without a module upgrade (it takes effect at the restart).
    ModuleCodeChange,
    /// A module is upgraded (`-u`).
    ModuleUpgrade,
    /// A module is newly installed.
    ModuleInstall,
    /// A module is new in the release's addon trees.
    ModuleAdded,
    /// A module is gone from the release's addon trees.
    ModuleRemoved,
    /// A changed module belongs to a critical domain (money, stock, orders, integrations).
    CriticalDomain,
    /// A migration script runs.
    MigrationScript,
    /// Migration SQL changes the schema of a critical table.
    CriticalSchemaChange,
    /// Migration SQL writes rows of a critical table.
    CriticalDataChange,
    /// A lint finding: the statement rewrites a table.
    LintRewrite,
    /// A lint finding: the statement holds ACCESS EXCLUSIVE while it reads the table or builds an index.
    LintLockedTableWork,
    /// A lint finding: the statement takes ACCESS EXCLUSIVE (catalog change only).
    LintAccessExclusive,
    /// A lint finding: the statement fails as written.
    LintError,
    /// Any other lint finding (writes blocked while an index builds, a rename breaking the old release…).
    LintOther,
    /// A module the tenant has or needs is missing from the release: its upgrade would break.
    MissingModule,
    /// A module cannot load (missing dependency or cycle).
    BlockedModule,
    /// A Python distribution the image must newly provide.
    PythonDependency,
    /// An executable the image must newly provide.
    BinDependency,
    /// The rehearsal blocked other sessions longer than the limit.
    RehearsalBlocking,
    /// The rehearsal took longer than the limit.
    RehearsalDuration,
    /// The rehearsal reported errors.
    RehearsalErrors,
}

impl Rule {
    /// Every rule, in the order [`Tiers`] lists them ([`Rule::NoChange`] first, which has no field).
    pub const ALL: [Rule; 26] = [
        Rule::NoChange,
        Rule::ConfigOnly,
        Rule::ImageOnly,
        Rule::AssetsOnly,
        Rule::ContentUnknown,
        Rule::ModuleCodeChange,
        Rule::ModuleUpgrade,
        Rule::ModuleInstall,
        Rule::ModuleAdded,
        Rule::ModuleRemoved,
        Rule::CriticalDomain,
        Rule::MigrationScript,
        Rule::CriticalSchemaChange,
        Rule::CriticalDataChange,
        Rule::LintRewrite,
        Rule::LintLockedTableWork,
        Rule::LintAccessExclusive,
        Rule::LintError,
        Rule::LintOther,
        Rule::MissingModule,
        Rule::BlockedModule,
        Rule::PythonDependency,
        Rule::BinDependency,
        Rule::RehearsalBlocking,
        Rule::RehearsalDuration,
        Rule::RehearsalErrors,
    ];
}

/// The tier each rule gives; the defaults are the shipped policy (see the field docs for why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Tiers {
    /// Default low.
    pub config_only: RiskTier,
    /// Default low: Odoo, system and Python packages change, the tenant's modules do not.
    pub image_only: RiskTier,
    /// Default low: browsers load new assets, the database is untouched.
    pub assets_only: RiskTier,
    /// Default medium: without the previous trees a code change cannot be ruled out.
    pub content_unknown: RiskTier,
    /// Default medium.
    pub module_code_change: RiskTier,
    /// Default medium.
    pub module_upgrade: RiskTier,
    /// Default medium.
    pub module_install: RiskTier,
    /// Default medium.
    pub module_added: RiskTier,
    /// Default high: tenants that have it installed cannot upgrade (they show as missing modules).
    pub module_removed: RiskTier,
    /// Default high.
    pub critical_domain: RiskTier,
    /// Default high: scripts run arbitrary Python and SQL on the tenant's data.
    pub migration_script: RiskTier,
    /// Default critical: locks on `account_*` / `payment_*` stop invoicing and checkout.
    pub critical_schema_change: RiskTier,
    /// Default high: mass updates of money tables are slow and hard to undo.
    pub critical_data_change: RiskTier,
    /// Default critical: a rewrite holds ACCESS EXCLUSIVE for as long as copying the table takes.
    pub lint_rewrite: RiskTier,
    /// Default critical: reads and writes wait for a whole-table scan or index build.
    pub lint_locked_table_work: RiskTier,
    /// Default high: brief, but a waiting ACCESS EXCLUSIVE queues every later query on the table.
    pub lint_access_exclusive: RiskTier,
    /// Default critical: the script fails and leaves a half-upgraded database.
    pub lint_error: RiskTier,
    /// Default high.
    pub lint_other: RiskTier,
    /// Default critical: the upgrade would break.
    pub missing_module: RiskTier,
    /// Default critical: the module would not load.
    pub blocked_module: RiskTier,
    /// Default high: the image must provide it, or the module fails to load.
    pub python_dependency: RiskTier,
    /// Default high: the image must provide it.
    pub bin_dependency: RiskTier,
    /// Default critical.
    pub rehearsal_blocking: RiskTier,
    /// Default high: the migration may outlast the maintenance window.
    pub rehearsal_duration: RiskTier,
    /// Default critical.
    pub rehearsal_errors: RiskTier,
}

impl Default for Tiers {
    fn default() -> Tiers {
        use RiskTier::{Critical, High, Low, Medium};
        Tiers {
            config_only: Low,
            image_only: Low,
            assets_only: Low,
            content_unknown: Medium,
            module_code_change: Medium,
            module_upgrade: Medium,
            module_install: Medium,
            module_added: Medium,
            module_removed: High,
            critical_domain: High,
            migration_script: High,
            critical_schema_change: Critical,
            critical_data_change: High,
            lint_rewrite: Critical,
            lint_locked_table_work: Critical,
            lint_access_exclusive: High,
            lint_error: Critical,
            lint_other: High,
            missing_module: Critical,
            blocked_module: Critical,
            python_dependency: High,
            bin_dependency: High,
            rehearsal_blocking: Critical,
            rehearsal_duration: High,
            rehearsal_errors: Critical,
        }
    }
}

impl Tiers {
    /// The tier `rule` gives.
    pub fn of(&self, rule: Rule) -> RiskTier {
        match rule {
            Rule::NoChange => RiskTier::Low,
            Rule::ConfigOnly => self.config_only,
            Rule::ImageOnly => self.image_only,
            Rule::AssetsOnly => self.assets_only,
            Rule::ContentUnknown => self.content_unknown,
            Rule::ModuleCodeChange => self.module_code_change,
            Rule::ModuleUpgrade => self.module_upgrade,
            Rule::ModuleInstall => self.module_install,
            Rule::ModuleAdded => self.module_added,
            Rule::ModuleRemoved => self.module_removed,
            Rule::CriticalDomain => self.critical_domain,
            Rule::MigrationScript => self.migration_script,
            Rule::CriticalSchemaChange => self.critical_schema_change,
            Rule::CriticalDataChange => self.critical_data_change,
            Rule::LintRewrite => self.lint_rewrite,
            Rule::LintLockedTableWork => self.lint_locked_table_work,
            Rule::LintAccessExclusive => self.lint_access_exclusive,
            Rule::LintError => self.lint_error,
            Rule::LintOther => self.lint_other,
            Rule::MissingModule => self.missing_module,
            Rule::BlockedModule => self.blocked_module,
            Rule::PythonDependency => self.python_dependency,
            Rule::BinDependency => self.bin_dependency,
            Rule::RehearsalBlocking => self.rehearsal_blocking,
            Rule::RehearsalDuration => self.rehearsal_duration,
            Rule::RehearsalErrors => self.rehearsal_errors,
        }
    }
}

/// What a rehearsal may measure before its facts raise the tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RehearsalLimits {
    /// Longest time other sessions may wait on the migration's locks; default `10s`.
    pub max_blocking: Duration,
    /// Longest time the migration may take; default `30m`.
    pub max_duration: Duration,
}

impl Default for RehearsalLimits {
    fn default() -> RehearsalLimits {
        RehearsalLimits { max_blocking: Duration::from_secs(10), max_duration: Duration::from_mins(30) }
    }
}

/// The classification policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RiskRules {
    /// Module-name globs (`fnmatch`) of the critical domains; Odoo change analysis's list by default.
    pub critical_domains: Vec<String>,
    /// Table-name globs whose schema changes are critical; `account_*` and `payment_*` by default.
    pub critical_tables: Vec<String>,
    /// Rehearsal limits.
    pub rehearsal: RehearsalLimits,
    /// The tier of each rule.
    pub tiers: Tiers,
}

impl Default for RiskRules {
    fn default() -> RiskRules {
        RiskRules {
            critical_domains: DEFAULT_CRITICAL_DOMAINS.iter().map(|s| s.to_string()).collect(),
            critical_tables: DEFAULT_CRITICAL_TABLES.iter().map(|s| s.to_string()).collect(),
            rehearsal: RehearsalLimits::default(),
            tiers: Tiers::default(),
        }
    }
}

impl RiskRules {
    /// The critical domains as change analysis matches them.
    pub(crate) fn domains(&self) -> CriticalDomains {
        CriticalDomains::new(self.critical_domains.iter().cloned())
    }

    /// The critical-table glob `table` matches, if any.
    pub(crate) fn critical_table(&self, table: &str) -> Option<&str> {
        self.critical_tables.iter().find(|g| ringfence_odoo::checksum::fnmatch(table, g)).map(String::as_str)
    }
}
