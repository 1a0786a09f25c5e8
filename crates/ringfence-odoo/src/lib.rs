//! Reads Odoo addons the way Odoo does, without running any of their Python: manifests are parsed as
//! Python literals (`literal`, `manifest`), versions are normalised against the Odoo series (`version`),
//! addon paths and OCA wheels become an [`AddonSet`] with its dependency order (`tree`), and each addon's
//! migration scripts are listed (`migrations`).
//!
//! Not here (yet): which modules a tenant will upgrade, which migration scripts a version bump selects,
//! SQL extraction, change facts. Nothing in this crate touches a database or the network.

pub mod error;
pub mod literal;
pub mod manifest;
pub mod migrations;
pub mod tree;
pub mod version;

pub use error::OdooError;
pub use literal::{Pos, Value, ValueKind, parse_literal};
pub use manifest::{AutoInstall, ExternalDependencies, Manifest};
pub use migrations::{MigrationScript, Stage};
pub use tree::{Addon, AddonSet, AddonSource, MissingDependency, Resolution, Shadowed};
pub use version::{ModuleVersion, Series};
