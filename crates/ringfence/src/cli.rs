//! Command-line arguments. Parsing validates and does nothing else; `main` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ringfence_runtime::simulate::FailPoint;

/// Ringfence carries an Odoo release (image + addons) to every tenant database of a fleet, ring by
/// ring, in each tenant's window, and halts and rolls back on its own when something degrades.
///
/// Configuration is a directory of YAML documents (kinds Fleet, Policy, Release and, for tenants run
/// as local processes, LocalTarget), like Kubernetes manifests. To see the whole product work, run
/// `ringfence demo`; to explore the configuration, `ringfence validate examples/retail-fleet`, then
/// `ringfence plan examples/retail-fleet`.
#[derive(Debug, Parser)]
#[command(name = "ringfence", version, max_term_width = 110, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The exit statuses of every command (the README's table; `main::Exit` in the code).
const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the checked thing failed (a rollout halted, an audit trail is broken, a gate does not pass)
  2    usage or configuration error
  3    environment or runtime failure: a database, process, file or network it needed failed
  130  interrupted (Ctrl-C, SIGTERM)
  141  standard output closed by its reader (`ringfence plan --json | head`)";

/// The exit statuses of `rollout` and `resume`, and what a closed terminal or pipe does to them.
const RUN_EXIT_CODES: &str = "\
Exit codes:
  0    the release completed
  1    it halted (tenants rolled back or held for a decision) or paused for an operator
  2    usage or configuration error
  3    environment or runtime failure: a database, process, file or network the rollout needed
       failed; `ringfence resume` continues a run that started
  130  interrupted (Ctrl-C, SIGTERM); with --driver local the tenants' processes are stopped, and
       `ringfence resume` starts them again

A closed terminal (SIGHUP) or a closed standard output or error does not stop a rollout: its output
is best effort, the state store and the audit trail are its record, and the exit status says how
it ended.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration directory and print every error with file:line:col.
    ///
    /// Reads every *.yaml / *.yml file under DIR (or one file). Exits 0 when valid, 2 when not.
    Validate {
        /// Configuration directory or file.
        dir: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the rollout plan: rings in policy order, batches, tenants and their clusters.
    ///
    /// No batch holds more tenants of one cluster than the cluster's maxConcurrentMigrations. With
    /// `--from`, also when each tenant is expected to be released — inside its maintenance windows,
    /// outside freezes, after the previous batch and the previous ring's soak — and why it waits.
    Plan {
        /// Configuration directory or file.
        dir: PathBuf,
        /// Schedule the release as if it started at this time (RFC 3339, e.g. 2026-11-27T09:00:00Z).
        #[arg(long, value_name = "TIME")]
        from: Option<jiff::Timestamp>,
        /// The release's risk tier, which freezes may let through; default the Release's declared
        /// `risk`, else medium (until risk classification decides it).
        #[arg(long, value_enum)]
        risk: Option<RiskArg>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Also write the schedule as a timeline to FILE: one self-contained HTML page (no server, no
        /// downloads) with each ring's tenants, their windows, the freezes and why each tenant waits.
        #[arg(long, value_name = "FILE", requires = "from")]
        html: Option<PathBuf>,
    },
    /// Roll the configuration's release out over the fleet.
    ///
    /// Every event, step intent and outcome goes to the state store before and after it happens, and
    /// every decision to the audit trail; if the controller dies, `ringfence resume` finishes the job
    /// without repeating any step. Exits 0 when the release completed, 1 when it halted.
    #[command(after_help = RUN_EXIT_CODES)]
    Rollout {
        /// Configuration directory or file.
        dir: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Who starts the rollout (recorded in the audit trail).
        #[arg(long = "as", value_name = "ACTOR", default_value = "operator")]
        actor: String,
        /// Simulation: virtual start time (RFC 3339); default now.
        #[arg(long, value_name = "TIME")]
        from: Option<jiff::Timestamp>,
        /// Simulation: make TENANT fail at STEP (restore-point, migrate, switch, health-check,
        /// rollback, observation). Repeatable.
        #[arg(long = "fail", value_name = "TENANT:STEP")]
        failures: Vec<FailPoint>,
    },
    /// Continue the latest (or a given) rollout after a crash or a stop.
    ///
    /// With `--driver local`, the run keeps the absolute paths it recorded when it started — its work
    /// directory (restore points, step records, pid files), its password files and the directories
    /// its commands run in — whatever the current directory, and even when `--config` names a
    /// configuration whose relative paths resolve elsewhere (the differences are printed).
    #[command(after_help = RUN_EXIT_CODES)]
    Resume {
        #[command(flatten)]
        run: RunArgs,
        /// The configuration to read the fleet, release and LocalTarget from (`--driver local`);
        /// by default the one the run was started from. The run's recorded paths win over the
        /// paths it resolves to.
        #[arg(long, value_name = "DIR")]
        config: Option<PathBuf>,
        /// The run to resume; default the latest.
        #[arg(long)]
        run_id: Option<i64>,
    },
    /// Show where a release stands: its status and, per tenant, the last step started and whether it
    /// finished.
    Status {
        #[command(flatten)]
        state: StateArgs,
        /// The run to show; default the latest.
        #[arg(long)]
        run_id: Option<i64>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole product on this machine: two PostgreSQL clusters, 12 shops with shopper traffic,
    /// then a good release (v2, every ring), a bad one (v3, caught on the first ring and rolled back by a
    /// code switch) and one whose migration fails (v4, restored from its restore point).
    ///
    /// Takes about three minutes. Exits 0 when every release ended as designed and no acknowledged
    /// order was lost, 1 otherwise.
    Demo(DemoArgs),
    /// Rehearse a release calendar in a deterministic simulation, with checkers on every run.
    ///
    /// Runs the real planner and rollout engine over the configuration's fleet with a simulated
    /// clock from `--from` and seeded faults (failing and slow migrations, failing health checks and
    /// rollbacks, bad observations, controller crashes and restarts). After every run, checkers
    /// assert: no tenant started inside a freeze (unless break-glass) or outside its windows, never
    /// more in flight per cluster or pool than allowed, nothing started after a halt, no migration
    /// without a restore point or twice, every tenant ends in a known state. A failing run prints its
    /// seed; `--seed S --runs 1` replays it exactly. Exits 0 when every checker passed, 1 when one
    /// failed, 2 when the configuration cannot be simulated. With `--generated`, runs scenarios drawn
    /// from the seeds instead (what CI runs).
    Simulate(SimulateArgs),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Analyse Odoo addons (read, never run).
    #[command(subcommand)]
    Odoo(OdooCommand),
    /// Lint migration SQL for dangerous locks, rewrites and scans, parsed with PostgreSQL's grammar.
    ///
    /// Each finding names file:line:col, the lock the statement takes, whether it rewrites or scans
    /// the table, and the safe alternative. Exits 0 when clean, 1 when a danger is found, 2 when an
    /// input cannot be read or parsed.
    Lint(LintArgs),
    /// Rehearse the release's migration on clones of tenant databases, watching its locks.
    ///
    /// For each tenant (or those of --tenants): a clone of its database (a template copy, or a
    /// restore of its latest restore point, which is also a restore drill), the release's migration
    /// run against it with the policy's timeouts while a lock tracer samples pg_locks every 20 ms and
    /// probes read and write the busiest tables, then the clone is dropped. Each report says how
    /// long the migration took, which locks it held on which table and for how long, what it
    /// rewrote, how long users' reads and writes stalled, and the blocking it predicts in
    /// production. Reports go to --out (JSON and HTML with the lock timeline); `gates` reads them
    /// as evidence and `rollout` keeps tenants predicted to block longer than the policy allows for
    /// the tier (migration.maxPredictedBlocking) inside their maintenance windows. At most
    /// --per-cluster rehearsals run at once on one cluster. Exits 0 when every rehearsal completed
    /// within the policy's limit, 1 when one failed or predicts more blocking, 2 on bad input, 3 when
    /// a tenant could not be rehearsed (its cluster unreachable, say).
    Rehearse(RehearseArgs),
    /// Submit a release for approval: records its content digest and revision in the audit trail.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Approve a submitted release (or a lowering of its risk tier, or a break-glass exception) as a
    /// user of the configuration's Users document, in one of their roles.
    ///
    /// The approval names the release's current revision: once the Release document changes and is
    /// submitted again, it no longer counts. Recorded in the audit trail; the gate policy decides
    /// how many approvals of which roles each tier needs, and that the author cannot approve.
    Approve(ApproveArgs),
    /// Show every gate of a release — approvals, supply chain, data safety, calendar, capacity — at
    /// release, ring and tenant scope: verdict (pass, waiting, fail), the rule that decided, what is
    /// missing and who can provide it.
    ///
    /// The policy is the Rego in the configuration's gates/ directory, else the built-in one.
    /// Exits 0 when every gate passes, 1 when one waits or fails, 2 on bad input.
    Gates(GatesArgs),
    /// Work with the gate policy (Rego).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Record the configuration's Release as submitted by --as (its author): a new revision whenever
    /// the document changed since the last submission, which expires approvals of earlier ones.
    Submit(SubmitArgs),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the Rego unit tests (rules named test_*) of DIR/gates/ (or DIR), like `opa test`.
    ///
    /// Prints failures with file:line and `N passed, M failed`. Exits 0 when all pass, 1 when one
    /// fails (or there is none), 2 when a policy file does not parse.
    Test {
        /// Configuration directory (its gates/ subdirectory is used when present) or policy directory.
        dir: PathBuf,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `ringfence release submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Configuration directory holding the Release.
    pub dir: PathBuf,
    /// Who submits (a user of the Users document).
    #[arg(long = "as", value_name = "USER")]
    pub actor: String,
    /// Audit trail.
    #[arg(long, env = "RINGFENCE_AUDIT", default_value = ".ringfence/audit.jsonl")]
    pub audit: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What an approval is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApproveFor {
    /// The rollout of the release.
    Release,
    /// The author's lowering of the computed risk tier.
    TierOverride,
    /// A break-glass exception to enter a freeze.
    BreakGlass,
}

/// Arguments of `ringfence approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The release: its version or its Release document's name.
    pub release: String,
    /// Configuration directory holding the Release and the Users document.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub config: PathBuf,
    /// Who approves (a user of the Users document).
    #[arg(long = "as", value_name = "USER")]
    pub actor: String,
    /// The role approved in; the user must hold it.
    #[arg(long)]
    pub role: String,
    /// Why, in the approver's words (kept in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// What is approved.
    #[arg(long = "for", value_enum, default_value = "release")]
    pub subject: ApproveFor,
    /// Audit trail.
    #[arg(long, env = "RINGFENCE_AUDIT", default_value = ".ringfence/audit.jsonl")]
    pub audit: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ringfence gates`.
#[derive(Debug, Args)]
pub struct GatesArgs {
    /// The release: its version or its Release document's name.
    pub release: String,
    /// Configuration directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub config: PathBuf,
    /// Who would start the rollout (separation of duties: not its only approver).
    #[arg(long = "as", value_name = "USER")]
    pub operator: Option<String>,
    /// Judge the gates at this time (RFC 3339) instead of now: calendar state and evidence ages.
    #[arg(long, value_name = "TIME")]
    pub at: Option<jiff::Timestamp>,
    /// Also list the gates that pass at ring and tenant scope.
    #[arg(long)]
    pub all: bool,
    /// Audit trail (submissions and approvals).
    #[arg(long, env = "RINGFENCE_AUDIT", default_value = ".ringfence/audit.jsonl")]
    pub audit: PathBuf,
    /// Where rehearsal reports are (as `ringfence rehearse --out` writes them).
    #[arg(long, env = "RINGFENCE_REHEARSALS", default_value = ".ringfence/rehearsals")]
    pub rehearsals: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How `ringfence rehearse` copies a tenant database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloneArg {
    /// CREATE DATABASE … TEMPLATE: fast; needs the tenant database without other sessions for a moment.
    Template,
    /// Restore the tenant's latest restore point (from the LocalTarget's work directory): the
    /// source is not touched, and the restore is recorded as a drill.
    RestorePoint,
}

/// Arguments of `ringfence rehearse`.
#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// Configuration directory holding the Release.
    pub dir: PathBuf,
    /// Rehearse these tenants only (default: all).
    #[arg(long, value_delimiter = ',', value_name = "TENANTS")]
    pub tenants: Vec<String>,
    /// How to copy each database.
    #[arg(long = "clone", value_enum, default_value = "template")]
    pub clone: CloneArg,
    /// With --clone template: end the tenant database's other sessions so the copy can start.
    #[arg(long)]
    pub terminate_sessions: bool,
    /// Rehearsals running at once on one cluster.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub per_cluster: u32,
    /// Do not run read/write probes during the migration (then blocking is predicted from locks alone).
    #[arg(long)]
    pub no_probes: bool,
    /// Kill a rehearsal's migration after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Where reports go: OUT/<version>/<tenant>.json and .html.
    #[arg(long, env = "RINGFENCE_REHEARSALS", default_value = ".ringfence/rehearsals")]
    pub out: PathBuf,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OdooCommand {
    /// What `odoo -u` will do to a tenant when its addons change from OLD to NEW: modules upgraded
    /// (with their installed dependents), newly installed, missing; the migration scripts that will
    /// run; the SQL they execute; and the change facts the risk rules read: critical domains touched,
    /// external dependency changes, image-only and assets-only changes (from file hashes of OLD and NEW).
    ///
    /// Addon sources are addon paths (directories of addons, as in `--addons-path`), directories of
    /// OCA wheels, or wheel files. Without `--tenant-state`/`--database-url`, every addon of OLD counts
    /// as installed at its OLD version (and, for `--strategy checksum`, with OLD's checksums stored).
    /// Exits 0 when the upgrade can run, 1 when modules are missing or blocked.
    Diff(OdooDiffArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that an audit trail is intact: every entry's hash and its link to the previous entry.
    ///
    /// Exits 0 when intact; 1 naming the first broken line otherwise.
    Verify {
        /// The audit file (JSON lines).
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where state and audit records are kept.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// SQLite state store.
    #[arg(long, env = "RINGFENCE_STATE", default_value = ".ringfence/state.sqlite")]
    pub state: PathBuf,
}

/// Options shared by commands that drive a rollout.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Audit trail (JSON lines, hash-chained).
    #[arg(long, env = "RINGFENCE_AUDIT", default_value = ".ringfence/audit.jsonl")]
    pub audit: PathBuf,
    /// How tenants are reached. `simulate` runs the real engine, store and audit trail against a
    /// simulated fleet with a virtual clock (a rehearsal of the control flow; nothing is touched).
    #[arg(long, value_enum, default_value_t = DriverKind::Simulate)]
    pub driver: DriverKind,
    /// Simulation: real milliseconds to pause after each event, to watch the rollout unfold.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub pace: u64,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Rehearsal reports (`ringfence rehearse --out`): tenants predicted to block longer than the
    /// policy allows for the tier are migrated only inside maintenance windows, and each tenant's
    /// measured migration time is what must fit in its window.
    #[arg(long, env = "RINGFENCE_REHEARSALS", default_value = ".ringfence/rehearsals")]
    pub rehearsals: PathBuf,
    /// Start although release or ring gates do not pass (see `ringfence gates`), for this reason:
    /// recorded in the audit trail with who overrode which gates. Without it, `--driver local`
    /// refuses to start a release whose gates do not pass.
    #[arg(long, value_name = "REASON")]
    pub override_gates: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// A simulated fleet with a virtual clock.
    Simulate,
    /// Tenants as app processes on this machine, databases on PostgreSQL clusters it can reach; needs a
    /// LocalTarget document in the configuration.
    Local,
}

/// A risk tier on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RiskArg {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl From<RiskArg> for ringfence_core::calendar::RiskTier {
    fn from(r: RiskArg) -> Self {
        use ringfence_core::calendar::RiskTier;
        match r {
            RiskArg::Low => RiskTier::Low,
            RiskArg::Medium => RiskTier::Medium,
            RiskArg::High => RiskTier::High,
            RiskArg::Critical => RiskTier::Critical,
        }
    }
}

/// Options of `ringfence demo`.
/// Arguments of `ringfence simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Configuration directory or file (not with --generated).
    #[arg(required_unless_present = "generated", conflicts_with = "generated")]
    pub dir: Option<PathBuf>,
    /// Simulate generated fleets, calendars and faults instead of a configuration.
    #[arg(long)]
    pub generated: bool,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many runs, with seeds from --seed on.
    #[arg(long, default_value_t = 100)]
    pub runs: u64,
    /// When the simulated release starts (RFC 3339); default now. Not with --generated, whose
    /// scenarios start just before a daylight-saving change.
    #[arg(long, value_name = "TIME", conflicts_with = "generated")]
    pub from: Option<jiff::Timestamp>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The storefront binary (default: beside this executable).
    #[arg(long, value_name = "PATH")]
    pub storefront: Option<PathBuf>,
    /// Shopper requests per second per shop.
    #[arg(long, default_value_t = 6.0)]
    pub rate: f64,
    /// Keep the work directory (state, audit trail, logs, restore points).
    #[arg(long)]
    pub keep: bool,
}

/// How `ringfence odoo diff` chooses the modules to upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OdooStrategy {
    /// Modules whose manifest version is higher than the installed one.
    VersionBump,
    /// Modules whose content hash changed, as click-odoo-update decides.
    Checksum,
    /// The modules given with --modules.
    Explicit,
}

/// Options of `ringfence odoo diff`.
#[derive(Debug, Args)]
pub struct OdooDiffArgs {
    /// The addons the tenant runs now (repeatable); optional with --tenant-state.
    #[arg(long = "from", value_name = "PATH")]
    pub from: Vec<PathBuf>,
    /// The release's addons (repeatable).
    #[arg(long = "to", value_name = "PATH", required = true)]
    pub to: Vec<PathBuf>,
    /// The tenant's installed modules: a JSON list of {name, state, latest_version}, as in
    /// ir_module_module; or an object with that list under "modules" and, for --strategy checksum,
    /// "installed_checksums" (module → hash), "languages" (active res_lang codes) and
    /// "exclude_patterns".
    #[arg(long, value_name = "FILE", conflicts_with = "database_url")]
    pub tenant_state: Option<PathBuf>,
    /// Read the tenant's installed modules from its database instead:
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (the password only reaches psql through
    /// PGPASSWORD; better, leave it out and set PGPASSWORD yourself).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The Odoo series, e.g. 17.0.
    #[arg(long, default_value = "17.0")]
    pub series: String,
    /// How the modules to upgrade are chosen: `version-bump` (manifest version higher than installed),
    /// `checksum` (content hash differs from the one click-odoo-update stored for the tenant: the
    /// snapshot's `installed_checksums` or the database's parameter; without either, OLD's hashes), or
    /// `explicit` (--modules). Default: explicit with --modules, version-bump otherwise.
    #[arg(long, value_enum)]
    pub strategy: Option<OdooStrategy>,
    /// Upgrade exactly these modules (and their installed dependents) instead of every bumped one.
    #[arg(long, value_delimiter = ',', value_name = "MODULES")]
    pub modules: Vec<String>,
    /// Module-name globs of the critical domains, replacing the default list (account*, stock*,
    /// sale*, point_of_sale*, pos_*, payment*, website_sale*, l10n_*, queue_job, *connector*).
    #[arg(long, value_delimiter = ',', value_name = "GLOBS")]
    pub critical: Vec<String>,
    /// Modules the Odoo image itself provides (base, web, mail, …); anything else found in no tree
    /// is reported missing.
    #[arg(long, value_delimiter = ',', value_name = "MODULES")]
    pub image_modules: Vec<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `ringfence lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// The .sql files to lint; Odoo migration scripts (.py) too, for the literal SQL they execute
    /// (all of a script's SQL runs in one transaction).
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Output format: text for people, json for programs, sarif (2.1.0) for CI code scanning.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LintFormat,
    /// Major version of the target PostgreSQL (10 to 18): which operations rewrite or scan depends on it.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(10..=18))]
    pub pg_version: u32,
}

/// Output formats of `ringfence lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// One paragraph per finding, for people.
    Text,
    /// `{"findings": [...], "errors": [...]}`.
    Json,
    /// SARIF 2.1.0, for CI code-scanning views.
    Sarif,
}
