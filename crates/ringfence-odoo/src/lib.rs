//! Reads Odoo addons the way Odoo does, without running any of their Python: manifests are parsed as
//! Python literals (`literal`, `manifest`), versions are normalised against the Odoo series (`version`),
//! addon paths and OCA wheels become an [`AddonSet`] with its dependency order (`tree`), a tenant's
//! installed modules come from a snapshot (`installed`), and `upgrade` works out what `odoo -u` will do
//! to that tenant: modules upgraded and installed, in order, and the migration scripts that run
//! (selected in `migrations`), whose SQL `sql` extracts from their text.
//!
//! Not here (yet): the checksum strategy, reading a live database, change facts. Nothing in this crate
//! touches a database or the network.

pub mod database;
pub mod error;
pub mod installed;
pub mod literal;
pub mod manifest;
pub mod migrations;
pub mod sql;
pub mod tree;
pub mod upgrade;
pub mod version;

pub use error::OdooError;
pub use installed::{InstalledModule, InstalledState, ModuleState};
pub use literal::{Pos, Value, ValueKind, parse_literal};
pub use manifest::{AutoInstall, ExternalDependencies, Manifest};
pub use migrations::{MigrationScript, SelectedScripts, Stage, select_scripts};
pub use sql::{Sql, SqlStatement, extract_sql};
pub use tree::{Addon, AddonSet, AddonSource, MissingDependency, Resolution, Shadowed};
pub use upgrade::{ModuleChange, ModuleScripts, Reason, Strategy, UpgradePlan, plan_upgrade};
pub use version::{ModuleVersion, Series};
