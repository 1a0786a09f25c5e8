//! Reads Odoo addons the way Odoo does, without running any of their Python: manifests are parsed as
//! Python literals (`literal`, `manifest`), versions are normalised against the Odoo series (`version`),
//! addon paths and OCA wheels become an [`AddonSet`] with its dependency order (`tree`), a tenant's
//! installed modules come from a snapshot (`installed`), and `upgrade` works out what `odoo -u` will do
//! to that tenant: modules upgraded and installed, in order, and the migration scripts that run
//! (selected in `migrations`), whose SQL `sql` extracts from their text. `checksum` hashes addon
//! content as click-odoo-update does (for its upgrade strategy and to tell assets-only changes), and
//! `facts` sums a release up per tenant and as a whole for the risk rules.
//!
//! `adapter` holds the commands a runtime driver runs on a tenant: the upgrade command line, the
//! post-upgrade verification, Odoo's health check and the `queue_job` reading.
//!
//! Only `database` touches a database (through `psql`, also on `adapter`'s behalf); only `adapter`'s
//! health check touches the network.

pub mod adapter;
pub mod checksum;
pub mod database;
pub mod error;
pub mod facts;
pub mod installed;
pub mod literal;
pub mod manifest;
pub mod migrations;
pub mod sql;
pub mod tree;
pub mod upgrade;
pub mod version;

pub use adapter::{HealthCheck, HealthReport, Unhealthy, UpgradeInvocation, UpgradeTemplate, UpgradeVerification};
pub use checksum::{AddonDigest, FileFingerprint, HashRules, digest_addon, digest_set};
pub use error::OdooError;
pub use installed::{InstalledModule, InstalledState, MAX_SNAPSHOT_BYTES, ModuleState, TenantChecksums};
pub use literal::{Pos, Value, ValueKind, parse_literal};
pub use manifest::{AutoInstall, ExternalDependencies, Manifest};
pub use migrations::{MigrationScript, SelectedScripts, Stage, select_scripts};
pub use sql::{Sql, SqlStatement, extract_sql};
pub use tree::{Addon, AddonSet, AddonSource, MissingDependency, Resolution, Shadowed};
pub use upgrade::{Checksums, ModuleChange, ModuleScripts, Reason, Strategy, UpgradePlan, plan_upgrade};
pub use version::{ModuleVersion, Series};
