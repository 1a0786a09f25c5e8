//! The Odoo commands a runtime driver (Kubernetes, VM, local) runs against one tenant: the upgrade
//! command line, rendered from a template as an argv (never through a shell); the post-upgrade
//! verification that no module was left half-way in `ir_module_module`; Odoo's `/web/health` check with
//! its database-server probe; and the `queue_job` reading an SLI samples.
//!
//! Not here: running the upgrade (the driver spawns the argv where Odoo lives: a pod, a VM, a process),
//! deciding what a failed check means for the rollout (the core judges), and TLS (health checks speak
//! plain HTTP, as probes inside a cluster or on loopback do).
//!
//! Everything that goes on a command line is checked first: templates when the configuration is read,
//! database and module names when a command is rendered, so nothing a tenant record or an addon tree
//! holds can become an option or a second command.

use std::fmt;
use std::time::{Duration, Instant};

use ringfence_pg::{PgBinaries, PgTarget};
use serde::Serialize;

use crate::OdooError;
use crate::database::installed_state;
use crate::installed::ModuleState;

// The queue_job reading lives with the other database reads; drivers find it here with the other commands.
pub use crate::database::{QueueJobCounts, queue_job_counts};

/// Odoo's own upgrade: upgrade the listed modules in one database, then exit.
pub const ODOO_UPGRADE: &str = "odoo -c {conf} -d {db} -u {modules} --stop-after-init";

/// click-odoo-contrib's updater: it works out the modules itself from their checksums (the `checksum`
/// strategy), so the template has no `{modules}`.
pub const CLICK_ODOO_UPDATE: &str = "click-odoo-update -c {conf} -d {db}";

/// One word of a template: literal text and placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Conf,
    Db,
    Modules,
}

/// An upgrade command template, validated: whitespace-separated words, each one argument, in which
/// `{conf}`, `{db}` and `{modules}` are replaced (also inside a word, as in `--database={db}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UpgradeTemplate {
    text: String,
    words: Vec<Vec<Piece>>,
}

/// What an upgrade command is rendered for.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeInvocation<'a> {
    /// The Odoo configuration file (`-c`), if the template uses `{conf}`.
    pub conf: Option<&'a str>,
    /// The tenant database.
    pub database: &'a str,
    /// The modules to upgrade, in the order given (joined with commas, as `-u` takes them).
    pub modules: &'a [String],
}

impl UpgradeTemplate {
    /// Parses and checks a template; errors say what to write instead.
    pub fn parse(text: &str) -> Result<UpgradeTemplate, OdooError> {
        // Characters a shell would interpret: with no shell they would reach Odoo as literal text, which
        // is never what the writer of the template meant.
        const SHELL: [char; 13] = ['\'', '"', '\\', '$', '`', ';', '|', '&', '<', '>', '(', ')', '*'];
        if let Some(c) = text.chars().find(|c| SHELL.contains(c)) {
            return Err(OdooError::ShellSyntax { template: text.to_owned(), found: c.to_string() });
        }
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            words.push(parse_word(text, word)?);
        }
        let Some(program) = words.first() else { return Err(OdooError::EmptyTemplate) };
        if program.iter().any(|p| !matches!(p, Piece::Text(_))) {
            return Err(OdooError::TemplatedProgram {
                template: text.to_owned(),
                program: text.split_whitespace().next().unwrap_or_default().to_owned(),
            });
        }
        let template = UpgradeTemplate { text: text.to_owned(), words };
        if !template.uses(&Piece::Db) {
            return Err(OdooError::MissingDatabase { template: text.to_owned() });
        }
        Ok(template)
    }

    /// Odoo's own upgrade, [`ODOO_UPGRADE`].
    pub fn odoo() -> UpgradeTemplate {
        UpgradeTemplate::parse(ODOO_UPGRADE).expect("the built-in template is valid")
    }

    /// click-odoo-update, [`CLICK_ODOO_UPDATE`].
    pub fn click_odoo_update() -> UpgradeTemplate {
        UpgradeTemplate::parse(CLICK_ODOO_UPDATE).expect("the built-in template is valid")
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the command takes the module list (click-odoo-update chooses the modules itself).
    pub fn takes_modules(&self) -> bool {
        self.uses(&Piece::Modules)
    }

    fn uses(&self, piece: &Piece) -> bool {
        self.words.iter().flatten().any(|p| p == piece)
    }

    /// The command line for one tenant database, program first. Refuses a database or module name that
    /// is not a valid Odoo name, an empty module list when the template takes modules, and a missing
    /// configuration file when it uses `{conf}`.
    pub fn render(&self, invocation: &UpgradeInvocation<'_>) -> Result<Vec<String>, OdooError> {
        check_database_name(invocation.database)?;
        let modules = if self.takes_modules() {
            if invocation.modules.is_empty() {
                return Err(OdooError::NoModules { template: self.text.clone() });
            }
            let mut unique: Vec<&str> = Vec::with_capacity(invocation.modules.len());
            for module in invocation.modules {
                check_module_name(module)?;
                if !unique.contains(&module.as_str()) {
                    unique.push(module);
                }
            }
            unique.join(",")
        } else {
            String::new()
        };
        let conf = if self.uses(&Piece::Conf) {
            let bad = |reason: &str| OdooError::InvalidConf { template: self.text.clone(), reason: reason.into() };
            match invocation.conf {
                None => return Err(bad("no Odoo configuration file was given; set the path of odoo.conf")),
                Some("") => return Err(bad("the configuration file path is empty")),
                // A path starting with `-` would read as an option wherever the template puts it alone.
                Some(c) if c.starts_with('-') => {
                    return Err(bad("the configuration file path starts with `-`; use ./ before it"));
                }
                Some(c) if c.chars().any(char::is_control) => {
                    return Err(bad("the configuration file path holds control characters"));
                }
                Some(c) => c,
            }
        } else {
            ""
        };
        Ok(self
            .words
            .iter()
            .map(|word| {
                word.iter()
                    .map(|piece| match piece {
                        Piece::Text(t) => t.as_str(),
                        Piece::Conf => conf,
                        Piece::Db => invocation.database,
                        Piece::Modules => &modules,
                    })
                    .collect()
            })
            .collect())
    }
}

impl TryFrom<String> for UpgradeTemplate {
    type Error = OdooError;

    fn try_from(text: String) -> Result<Self, OdooError> {
        UpgradeTemplate::parse(&text)
    }
}

impl From<UpgradeTemplate> for String {
    fn from(template: UpgradeTemplate) -> String {
        template.text
    }
}

impl fmt::Display for UpgradeTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_word(template: &str, word: &str) -> Result<Vec<Piece>, OdooError> {
    let unmatched = |brace| OdooError::UnmatchedBrace { template: template.to_owned(), word: word.to_owned(), brace };
    let mut pieces = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (None, None) => {
                pieces.push(Piece::Text(rest.to_owned()));
                break;
            }
            (None, Some(_)) => return Err(unmatched('}')),
            (Some(o), Some(c)) if c < o => return Err(unmatched('}')),
            (Some(_), None) => return Err(unmatched('{')),
            (Some(o), Some(c)) => {
                let name = &rest[o + 1..c];
                if name.contains('{') {
                    return Err(unmatched('{'));
                }
                if o > 0 {
                    pieces.push(Piece::Text(rest[..o].to_owned()));
                }
                pieces.push(match name {
                    "conf" => Piece::Conf,
                    "db" => Piece::Db,
                    "modules" => Piece::Modules,
                    _ => {
                        return Err(OdooError::UnknownPlaceholder {
                            template: template.to_owned(),
                            name: name.to_owned(),
                        });
                    }
                });
                rest = &rest[c + 1..];
            }
        }
    }
    Ok(pieces)
}

/// Checks a database name as Odoo's database manager does (letters, digits, `_`, `.`, `-`, not starting
/// with a punctuation mark), within PostgreSQL's 63-byte identifier limit. The first character rule is
/// also what keeps a name from reading as a command-line option.
pub fn check_database_name(name: &str) -> Result<(), OdooError> {
    let mut chars = name.chars();
    let ok = name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok { Ok(()) } else { Err(OdooError::InvalidDatabase { name: name.to_owned() }) }
}

/// Checks an Odoo technical module name: the name of a Python package under `odoo.addons`, so an ASCII
/// identifier (Odoo imports it, so nothing else can be installed). `all` passes, as `-u all` means.
pub fn check_module_name(name: &str) -> Result<(), OdooError> {
    let mut chars = name.chars();
    let ok = name.len() <= 255
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(OdooError::InvalidModule { name: name.to_owned() }) }
}

/// A module an upgrade did not finish, or did not bring to `installed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffendingModule {
    /// Technical name.
    pub name: String,
    /// Its state in `ir_module_module`, `None` if the database does not know the module at all.
    #[serde(serialize_with = "state_str")]
    pub state: Option<ModuleState>,
}

fn state_str<S: serde::Serializer>(state: &Option<ModuleState>, s: S) -> Result<S::Ok, S::Error> {
    match state {
        Some(state) => s.serialize_some(state.as_str()),
        None => s.serialize_none(),
    }
}

/// What `ir_module_module` says after an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradeVerification {
    /// The tenant database.
    pub database: String,
    /// Modules left in `to upgrade`, `to install` or `to remove`: Odoo commits per module, so a failed
    /// or interrupted upgrade leaves these behind, and the next Odoo start would try to finish them.
    pub unfinished: Vec<OffendingModule>,
    /// Modules the upgrade was asked for that are not `installed` afterwards (absent, uninstalled,
    /// uninstallable); those in `unfinished` are not repeated here.
    pub not_installed: Vec<OffendingModule>,
}

impl UpgradeVerification {
    /// Whether the upgrade finished: nothing half-way, everything asked for installed.
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty() && self.not_installed.is_empty()
    }
}

impl fmt::Display for UpgradeVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |modules: &[OffendingModule]| {
            modules
                .iter()
                .map(|m| format!("{} ({})", m.name, m.state.map_or("not in ir_module_module", ModuleState::as_str)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.is_complete() {
            return write!(f, "{}: upgrade complete, no module left half-way", self.database);
        }
        write!(f, "{}: upgrade incomplete", self.database)?;
        if !self.unfinished.is_empty() {
            write!(f, "; left half-way: {}", list(&self.unfinished))?;
        }
        if !self.not_installed.is_empty() {
            write!(f, "; asked for but not installed: {}", list(&self.not_installed))?;
        }
        f.write_str("; the database must be restored from its restore point or the upgrade run again")
    }
}

/// Reads `ir_module_module` after an upgrade of `upgraded` (the modules the command was given; empty for
/// click-odoo-update, which chose them itself) and reports what is not finished.
pub fn verify_upgrade(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
    upgraded: &[String],
) -> Result<UpgradeVerification, OdooError> {
    let state = installed_state(bins, target, database)?;
    let unfinished: Vec<OffendingModule> = state
        .iter()
        .filter(|m| matches!(m.state, ModuleState::ToUpgrade | ModuleState::ToInstall | ModuleState::ToRemove))
        .map(|m| OffendingModule { name: m.name.clone(), state: Some(m.state) })
        .collect();
    let mut not_installed: Vec<OffendingModule> = Vec::new();
    for name in upgraded {
        // `-u all` names no module of its own.
        if name == "all" || unfinished.iter().any(|m| &m.name == name) || not_installed.iter().any(|m| &m.name == name)
        {
            continue;
        }
        let found = state.get(name).map(|m| m.state);
        if found != Some(ModuleState::Installed) {
            not_installed.push(OffendingModule { name: name.clone(), state: found });
        }
    }
    Ok(UpgradeVerification { database: database.to_owned(), unfinished, not_installed })
}

/// The path and query of Odoo's health route; `db_server_status=1` makes Odoo open a connection to its
/// PostgreSQL server and report whether it could.
pub const HEALTH_PATH: &str = "/web/health?db_server_status=1";

/// Odoo's `/web/health` check against one Odoo deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    url: String,
    timeout: Duration,
}

/// Why Odoo does not count as healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unhealthy {
    /// No HTTP answer: refused, reset, timed out.
    #[error("no answer: {detail}")]
    Unreachable {
        /// The client's words.
        detail: String,
    },
    /// An answer other than 200 (Odoo answers 500 when its database server is down).
    #[error("status {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A 200 whose body is not Odoo's health JSON (a proxy's page, another service on the port).
    #[error("the answer is not Odoo's health JSON: {body}")]
    NotHealthJson {
        /// The start of the body.
        body: String,
    },
    /// Odoo says `status` is not `pass`.
    #[error("Odoo reports status {status:?}")]
    Failing {
        /// The `status` value.
        status: String,
    },
    /// Odoo cannot reach its PostgreSQL server.
    #[error("Odoo cannot connect to its database server (db_server_status is false)")]
    DatabaseServerDown,
    /// The answer has no `db_server_status`: an Odoo before 17 ignores the parameter, so the database
    /// server was not checked and health cannot be confirmed.
    #[error("the answer has no db_server_status, so the database server was not checked (Odoo older than 17?)")]
    DatabaseServerUnchecked,
}

/// The outcome of one health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// The URL asked.
    pub url: String,
    /// The HTTP status, if there was an answer.
    pub status: Option<u16>,
    /// How long the check took, in milliseconds.
    pub elapsed_ms: u64,
    /// Why it is unhealthy; `None` when healthy.
    pub unhealthy: Option<Unhealthy>,
}

impl HealthReport {
    /// Whether Odoo answered healthy.
    pub fn is_healthy(&self) -> bool {
        self.unhealthy.is_none()
    }
}

impl fmt::Display for HealthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unhealthy {
            None => write!(f, "{}: healthy ({} ms)", self.url, self.elapsed_ms),
            Some(why) => write!(f, "{}: unhealthy: {why}", self.url),
        }
    }
}

impl HealthCheck {
    /// A check of the Odoo answering at `base_url` (`http://host:port`, optionally with a path prefix a
    /// proxy routes on), each attempt given at most `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<HealthCheck, OdooError> {
        let bad = |reason: &str| OdooError::InvalidUrl { url: base_url.to_owned(), reason: reason.to_owned() };
        let rest = match base_url.strip_prefix("http://") {
            Some(rest) => rest,
            None if base_url.starts_with("https://") => {
                return Err(bad("https is not supported; probe Odoo's plain HTTP port inside the cluster"));
            }
            None => return Err(bad("it must start with http://")),
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it must be a base URL without query, fragment or spaces"));
        }
        if host.contains('@') {
            return Err(bad("credentials do not belong in a health check URL"));
        }
        if timeout.is_zero() {
            return Err(bad("the timeout must be more than zero"));
        }
        let url = format!("{}{HEALTH_PATH}", base_url.trim_end_matches('/'));
        Ok(HealthCheck { url, timeout })
    }

    /// The full URL asked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks once. Never an error: a failure to connect is an unhealthy answer like any other.
    pub fn check(&self) -> HealthReport {
        let started = Instant::now();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            // Odoo answers the health route itself; a redirect means something else answered.
            .max_redirects(0)
            .build()
            .into();
        let (status, unhealthy) = match agent.get(&self.url).header("Accept", "application/json").call() {
            Err(e) => (None, Some(Unhealthy::Unreachable { detail: e.to_string() })),
            Ok(mut response) => {
                let status = response.status().as_u16();
                // A health answer is a few dozen bytes; a large body is not Odoo's, so read only a little.
                match response.body_mut().with_config().limit(64 * 1024).read_to_string() {
                    Ok(body) => (Some(status), judge_health(status, &body).err()),
                    Err(e) => (Some(status), Some(Unhealthy::Unreachable { detail: e.to_string() })),
                }
            }
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        HealthReport { url: self.url.clone(), status, elapsed_ms, unhealthy }
    }
}

/// Judges an answer of `/web/health?db_server_status=1`. Odoo 17 and later answer 200 with
/// `{"status": "pass", "db_server_status": true}`, and 500 with `"status": "fail"` and
/// `"db_server_status": false` when they cannot connect to PostgreSQL.
pub fn judge_health(status: u16, body: &str) -> Result<(), Unhealthy> {
    let excerpt = || excerpt(body);
    if status != 200 {
        return Err(Unhealthy::Status { status, body: excerpt() });
    }
    let Ok(serde_json::Value::Object(health)) = serde_json::from_str::<serde_json::Value>(body) else {
        return Err(Unhealthy::NotHealthJson { body: excerpt() });
    };
    match health.get("status") {
        Some(serde_json::Value::String(s)) if s == "pass" => {}
        Some(serde_json::Value::String(s)) => return Err(Unhealthy::Failing { status: s.clone() }),
        _ => return Err(Unhealthy::NotHealthJson { body: excerpt() }),
    }
    match health.get("db_server_status") {
        Some(serde_json::Value::Bool(true)) => Ok(()),
        Some(serde_json::Value::Bool(false)) => Err(Unhealthy::DatabaseServerDown),
        None => Err(Unhealthy::DatabaseServerUnchecked),
        Some(_) => Err(Unhealthy::NotHealthJson { body: excerpt() }),
    }
}

/// The start of a body, for a reason that fits on a line.
fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    let trimmed = body.trim();
    match trimmed.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &trimmed[..end]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_health_answers_are_judged() {
        assert_eq!(judge_health(200, r#"{"status": "pass", "db_server_status": true}"#), Ok(()));
        assert_eq!(
            judge_health(200, r#"{"status": "pass", "db_server_status": false}"#),
            Err(Unhealthy::DatabaseServerDown)
        );
        assert_eq!(judge_health(200, r#"{"status": "pass"}"#), Err(Unhealthy::DatabaseServerUnchecked));
        assert_eq!(
            judge_health(200, r#"{"status": "fail", "db_server_status": true}"#),
            Err(Unhealthy::Failing { status: "fail".into() })
        );
        assert!(matches!(judge_health(200, "OK"), Err(Unhealthy::NotHealthJson { .. })));
        assert!(matches!(
            judge_health(200, r#"{"status": "pass", "db_server_status": "yes"}"#),
            Err(Unhealthy::NotHealthJson { .. })
        ));
        assert!(matches!(judge_health(500, r#"{"status": "fail"}"#), Err(Unhealthy::Status { status: 500, .. })));
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let body = "é".repeat(500);
        let cut = excerpt(&body);
        assert_eq!(cut.chars().count(), 201);
    }
}
