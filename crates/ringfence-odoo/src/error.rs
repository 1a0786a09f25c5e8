//! The crate's one error type. Every variant names the file (with line and column when it comes from a
//! manifest) or the path it is about, and says what to do about it.

use crate::adapter::{CLICK_ODOO_UPDATE, ODOO_UPGRADE};
use std::path::PathBuf;

/// Everything that can go wrong while reading addons, reading a tenant database, or preparing an
/// adapter command (templates, names, URLs).
#[derive(Debug, thiserror::Error)]
pub enum OdooError {
    /// The manifest is not a Python literal (or not valid Python at all).
    #[error(
        "{}:{line}:{col}: {message}; a manifest must be a single Python literal (Odoo reads it with \
         ast.literal_eval) and Ringfence parses it, never executes it: {hint}",
        file.display()
    )]
    Syntax {
        /// The manifest file (for a wheel: `WHEEL!entry`).
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        col: u32,
        /// What was found.
        message: String,
        /// What to do.
        hint: &'static str,
    },

    /// A manifest key holds a value of the wrong type.
    #[error("{}:{line}:{col}: `{key}` must be {expected}, found {found}; fix the manifest", file.display())]
    ManifestType {
        /// The manifest file.
        file: PathBuf,
        /// 1-based line of the offending value.
        line: u32,
        /// 1-based column of the offending value.
        col: u32,
        /// The manifest key (or `manifest` for the whole literal).
        key: String,
        /// The expected Python type, e.g. `a list of strings`.
        expected: &'static str,
        /// The Python type found, e.g. `dict`.
        found: String,
    },

    /// A manifest version cannot be normalised against the Odoo series.
    #[error(
        "{}:{line}:{col}: version {version:?} is not valid for Odoo {series}: {reason}; use `x.y`, `x.y.z`, \
         `{series}.x.y` or `{series}.x.y.z`",
        file.display()
    )]
    Version {
        /// The manifest file.
        file: PathBuf,
        /// 1-based line of the version value.
        line: u32,
        /// 1-based column of the version value.
        col: u32,
        /// The raw manifest version.
        version: String,
        /// The Odoo series it was normalised against.
        series: String,
        /// Why it was refused.
        reason: String,
    },

    /// An Odoo series that is not `MAJOR.MINOR`.
    #[error("Odoo series {0:?} is not of the form MAJOR.MINOR (e.g. \"17.0\"); pass the series the image runs")]
    InvalidSeries(String),

    /// A file or directory could not be read.
    #[error("cannot read {}: {source}; check that the path exists and is readable", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A manifest is not UTF-8, which Odoo requires.
    #[error("{}: not valid UTF-8 (at byte {offset}); Odoo reads manifests as UTF-8, re-save the file as UTF-8", path.display())]
    NotUtf8 {
        /// The manifest file.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },

    /// A wheel is not a readable zip archive.
    #[error("{}: not a readable wheel (zip): {source}; download it again", path.display())]
    Zip {
        /// The wheel.
        path: PathBuf,
        /// The underlying error.
        source: zip::result::ZipError,
    },

    /// A wheel holds no `odoo/addons/<name>/__manifest__.py`.
    #[error(
        "{}: no odoo/addons/<name>/__manifest__.py inside; this is not an Odoo addon wheel (OCA wheels are \
         named odoo-addon-<name> or odoo<series>-addon-<name>)",
        path.display()
    )]
    NotAnAddonWheel {
        /// The wheel.
        path: PathBuf,
    },

    /// An addon depends on a module that is neither in the addon set nor declared as provided elsewhere.
    #[error(
        "addon `{addon}` depends on `{dependency}`, which is {}; add the addon path or wheel that provides it, \
         or list it as provided by the Odoo image",
        if *not_installable { "marked installable: False" } else { "not in any addon path or wheel" }
    )]
    MissingDependency {
        /// The addon whose manifest names the dependency.
        addon: String,
        /// The missing module.
        dependency: String,
        /// The module exists but its manifest says `installable: False`.
        not_installable: bool,
    },

    /// Addons depend on each other in a circle; Odoo cannot load any of them.
    #[error("dependency cycle {}; remove one of these dependencies", path.join(" -> "))]
    DependencyCycle {
        /// The cycle, starting and ending with the same addon.
        path: Vec<String>,
    },

    /// An installed-state snapshot is not in the documented format.
    #[error(
        "{}: {message}; an installed-state snapshot is a JSON list of {{\"name\", \"state\", \"latest_version\"}} \
         objects as read from ir_module_module, or an object with that list under \"modules\" and optionally \
         \"installed_checksums\", \"languages\", \"exclude_patterns\"",
        path.display()
    )]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong, and where in the file.
        message: String,
    },

    /// The checksum strategy was asked for without anything to compare the new hashes with.
    #[error(
        "the checksum strategy needs the checksums stored for the tenant: give a snapshot with \
         \"installed_checksums\", read them from the tenant database, or give the addons the tenant runs \
         now (--from) so that their checksums stand in"
    )]
    NoStoredChecksums,

    /// A tenant database could not be read.
    #[error("tenant database {database} on {server}: {message}")]
    Database {
        /// The database.
        database: String,
        /// The server, as `user@host:port` (never a password).
        server: String,
        /// What failed, with psql's words.
        message: String,
    },
    // What the adapter commands (`adapter`) refuse: templates, names and URLs that reach a command
    // line or the network.
    /// The upgrade template is empty.
    #[error("upgrade command template is empty; use e.g. `{ODOO_UPGRADE}` or `{CLICK_ODOO_UPDATE}`")]
    EmptyTemplate,
    /// The upgrade template names a placeholder that does not exist.
    #[error(
        "upgrade command template `{template}`: unknown placeholder `{{{name}}}`; the placeholders are \
         {{conf}}, {{db}} and {{modules}}"
    )]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The name between the braces.
        name: String,
    },
    /// A brace in the upgrade template does not open or close a placeholder.
    #[error(
        "upgrade command template `{template}`: unmatched `{brace}` in `{word}`; placeholders are written \
         {{conf}}, {{db}}, {{modules}} and braces cannot appear otherwise"
    )]
    UnmatchedBrace {
        /// The template.
        template: String,
        /// The word holding it.
        word: String,
        /// `{` or `}`.
        brace: char,
    },
    /// The upgrade template uses shell syntax, which would not be interpreted (there is no shell).
    #[error(
        "upgrade command template `{template}`: `{found}` is shell syntax, but the command runs without a \
         shell (each word is one argument); write the command itself, or point it at a script"
    )]
    ShellSyntax {
        /// The template.
        template: String,
        /// The offending character(s).
        found: String,
    },
    /// The program of the upgrade template is a placeholder.
    #[error(
        "upgrade command template `{template}`: the program `{program}` must be written out, not a \
         placeholder, so that the configuration says what runs"
    )]
    TemplatedProgram {
        /// The template.
        template: String,
        /// The first word.
        program: String,
    },
    /// The upgrade template does not name the database.
    #[error(
        "upgrade command template `{template}` has no {{db}}: without it the command upgrades whatever \
         database its configuration file names, not the tenant's; add `-d {{db}}`"
    )]
    MissingDatabase {
        /// The template.
        template: String,
    },
    /// A database name that Odoo would refuse, or that could read as an option.
    #[error(
        "database name {name:?} is not valid for Odoo (letters, digits, `_`, `.`, `-`, starting with a \
         letter or digit, at most 63 bytes); check the tenant's database in the fleet configuration"
    )]
    InvalidDatabase {
        /// The name.
        name: String,
    },
    /// A module name that is not an Odoo technical name.
    #[error(
        "module name {name:?} is not an Odoo technical name (a Python identifier: letters, digits and `_`, \
         not starting with a digit); it cannot go on the upgrade command line"
    )]
    InvalidModule {
        /// The name.
        name: String,
    },
    /// The template upgrades `{modules}`, but none were given.
    #[error(
        "upgrade command `{template}` needs modules for {{modules}}, but the list is empty; nothing to \
         upgrade means no upgrade command should run"
    )]
    NoModules {
        /// The template.
        template: String,
    },
    /// The template uses `{conf}`, but no configuration file was given, or an unusable one.
    #[error("upgrade command `{template}` uses {{conf}}: {reason}")]
    InvalidConf {
        /// The template.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// The health check's base URL is unusable.
    #[error(
        "Odoo health check URL {url:?}: {reason}; give the base URL Odoo answers on, e.g. \
         http://odoo.shop-1.svc:8069"
    )]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
}
