//! Classification: every fact of a [`RiskInput`] becomes a [`Reason`] (the fact, the rule that matched
//! it and the tier the rules give it), and the tier is the highest of them. Because each fact is judged
//! on its own, adding a fact can only add reasons, never lower the tier; the release's tier is the
//! highest of its release-wide facts and its tenants'.
//!
//! SQL is not parsed here: a small scan names the tables that DDL and DML statements touch, so that
//! changes to critical tables stand out; the locks and rewrites are the linter's findings.

use std::collections::BTreeSet;

use ringfence_core::Duration;
use ringfence_core::calendar::RiskTier;
use serde::{Deserialize, Serialize};

use crate::input::{ChangeKind, LintInput, RiskInput, TableWork};
use crate::rules::{RiskRules, Rule};

/// A fact that led to a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Fact {
    /// No change was found.
    NoChange,
    /// Only configuration changes.
    ConfigOnly,
    /// Only the image changes.
    ImageOnly,
    /// Addons change only under `static/`.
    AssetsOnly,
    /// Addon content could not be compared with what runs now.
    ContentUnknown,
    /// Module code changes without an upgrade; `module` when known.
    CodeChange {
        /// Technical name, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
    },
    /// A module changes only under `static/`.
    ModuleAssets {
        /// Technical name.
        module: String,
    },
    /// A module is upgraded.
    ModuleUpgrade {
        /// Technical name.
        module: String,
        /// Version before, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// Version after, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// A module is newly installed.
    ModuleInstall {
        /// Technical name.
        module: String,
    },
    /// A module is new in the release's trees.
    ModuleAdded {
        /// Technical name.
        module: String,
    },
    /// A module is gone from the release's trees.
    ModuleRemoved {
        /// Technical name.
        module: String,
    },
    /// A module the change touches is in a critical domain.
    CriticalDomain {
        /// Technical name.
        module: String,
        /// The domain glob it matched.
        domain: String,
    },
    /// A migration script runs.
    MigrationScript {
        /// Technical name of its module.
        module: String,
        /// Path relative to the addon.
        path: String,
    },
    /// Migration SQL changes the schema of a critical table.
    CriticalSchemaChange {
        /// `module/path` of the script.
        file: String,
        /// 1-based line.
        line: u32,
        /// The table.
        table: String,
    },
    /// Migration SQL writes rows of a critical table.
    CriticalDataChange {
        /// `module/path` of the script.
        file: String,
        /// 1-based line.
        line: u32,
        /// The table.
        table: String,
    },
    /// A SQL lint finding.
    LintFinding {
        /// The lint rule's id.
        rule: String,
        /// The file or script.
        source: String,
        /// 1-based line.
        line: u32,
        /// The table or index concerned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        object: Option<String>,
    },
    /// A module the tenant has or needs is missing from the release.
    MissingModule {
        /// Technical name.
        module: String,
    },
    /// A module cannot load.
    BlockedModule {
        /// Technical name.
        module: String,
    },
    /// A Python distribution the image must newly provide.
    PythonDependency {
        /// The module that needs it, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        /// Distribution name.
        name: String,
    },
    /// An executable the image must newly provide.
    BinDependency {
        /// The module that needs it, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        /// Executable name.
        name: String,
    },
    /// The rehearsal blocked other sessions longer than the limit.
    RehearsalBlocking {
        /// Longest wait measured.
        measured: Duration,
        /// The limit.
        limit: Duration,
    },
    /// The rehearsal took longer than the limit.
    RehearsalDuration {
        /// Duration measured.
        measured: Duration,
        /// The limit.
        limit: Duration,
    },
    /// The rehearsal reported errors.
    RehearsalErrors {
        /// The errors.
        errors: Vec<String>,
    },
}

impl std::fmt::Display for Fact {
    /// The fact in words, as `ringfence odoo diff` and the gates print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let module_of = |m: &Option<String>| m.as_ref().map(|m| format!(" (for {m})")).unwrap_or_default();
        match self {
            Fact::NoChange => write!(f, "no change"),
            Fact::ConfigOnly => write!(f, "configuration only"),
            Fact::ImageOnly => write!(f, "image only: no addon content changes"),
            Fact::AssetsOnly => write!(f, "assets only: addons change under static/ only"),
            Fact::ContentUnknown => write!(f, "addon content not compared (no previous addons given)"),
            Fact::CodeChange { module: Some(m) } => write!(f, "{m}: code changes without an upgrade"),
            Fact::CodeChange { module: None } => write!(f, "module code changes without an upgrade"),
            Fact::ModuleAssets { module } => write!(f, "{module}: static/ changes only"),
            Fact::ModuleUpgrade { module, from, to } => write!(
                f,
                "{module} upgraded{}",
                match (from, to) {
                    (Some(a), Some(b)) => format!(" {a} → {b}"),
                    (None, Some(b)) => format!(" to {b}"),
                    _ => String::new(),
                }
            ),
            Fact::ModuleInstall { module } => write!(f, "{module} newly installed"),
            Fact::ModuleAdded { module } => write!(f, "{module} new in the addons"),
            Fact::ModuleRemoved { module } => write!(f, "{module} gone from the addons"),
            Fact::CriticalDomain { module, domain } => write!(f, "{module} is in critical domain {domain}"),
            Fact::MigrationScript { module, path } => write!(f, "migration script {module}/{path} runs"),
            Fact::CriticalSchemaChange { file, line, table } => {
                write!(f, "{file}:{line} changes the schema of critical table {table}")
            }
            Fact::CriticalDataChange { file, line, table } => {
                write!(f, "{file}:{line} writes rows of critical table {table}")
            }
            Fact::LintFinding { rule, source, line, object } => write!(
                f,
                "{source}:{line}: lint {rule}{}",
                object.as_ref().map(|o| format!(" on {o}")).unwrap_or_default()
            ),
            Fact::MissingModule { module } => write!(f, "{module} is missing: the upgrade would break"),
            Fact::BlockedModule { module } => write!(f, "{module} cannot load"),
            Fact::PythonDependency { module, name } => {
                write!(f, "the image must newly provide Python package {name}{}", module_of(module))
            }
            Fact::BinDependency { module, name } => {
                write!(f, "the image must newly provide program {name}{}", module_of(module))
            }
            Fact::RehearsalBlocking { measured, limit } => {
                write!(f, "the rehearsal blocked others for {measured}, over the {limit} limit")
            }
            Fact::RehearsalDuration { measured, limit } => {
                write!(f, "the rehearsal took {measured}, over the {limit} limit")
            }
            Fact::RehearsalErrors { errors } => write!(f, "the rehearsal reported {} error(s)", errors.len()),
        }
    }
}

/// One fact, the rule that matched it and the tier it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reason {
    /// What was found.
    pub fact: Fact,
    /// The tier the rule gives it.
    pub tier: RiskTier,
    /// The rule (its name is the `tiers` field that sets the tier).
    pub rule: Rule,
    /// The tenant the fact concerns; `None` for release-wide facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// A tier and the facts behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Classification {
    /// The tenant; `None` for release-wide facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The highest tier among the reasons.
    pub tier: RiskTier,
    /// Every reason, highest tier first (in the order found within a tier); never empty.
    pub reasons: Vec<Reason>,
}

impl Classification {
    /// The reasons that decide the tier (those at the tier itself).
    pub fn deciding(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(move |r| r.tier == self.tier)
    }
}

/// The release's tier: the highest of its release-wide facts and of every tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseClassification {
    /// The release's tier.
    pub tier: RiskTier,
    /// The release-wide facts' classification.
    pub release: Classification,
    /// Each tenant's, in the order given.
    pub tenants: Vec<Classification>,
}

impl ReleaseClassification {
    /// Everything as one classification (release-wide reasons, then the tenants', highest tier first),
    /// e.g. for [`crate::decide`].
    pub fn overall(&self) -> Classification {
        let mut reasons: Vec<Reason> =
            self.release.reasons.iter().chain(self.tenants.iter().flat_map(|t| &t.reasons)).cloned().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.tier));
        Classification { tenant: None, tier: self.tier, reasons }
    }
}

/// Classifies one tenant's (or the release-wide) facts.
pub fn classify(input: &RiskInput, rules: &RiskRules) -> Classification {
    let domains = rules.domains();
    let mut reasons = Vec::new();
    let mut add = |fact: Fact, rule: Rule| {
        reasons.push(Reason { fact, tier: rules.tiers.of(rule), rule, tenant: input.tenant.clone() })
    };

    if input.config_only {
        add(Fact::ConfigOnly, Rule::ConfigOnly);
    }
    if input.image_only {
        add(Fact::ImageOnly, Rule::ImageOnly);
    }
    if input.assets_only {
        add(Fact::AssetsOnly, Rule::AssetsOnly);
    }
    if input.content_unknown {
        add(Fact::ContentUnknown, Rule::ContentUnknown);
    }
    if input.code_changed {
        add(Fact::CodeChange { module: None }, Rule::ModuleCodeChange);
    }

    // A module is named once per critical domain, however many ways the change touches it.
    let mut critical_seen = BTreeSet::new();
    let mut critical = |module: &str, add: &mut dyn FnMut(Fact, Rule)| {
        if let Some(domain) = domains.domain_of(module)
            && critical_seen.insert(module.to_owned())
        {
            add(Fact::CriticalDomain { module: module.to_owned(), domain: domain.to_owned() }, Rule::CriticalDomain);
        }
    };
    for m in &input.modules {
        let module = m.module.clone();
        let (fact, rule) = match m.kind {
            ChangeKind::Upgrade => {
                (Fact::ModuleUpgrade { module, from: m.from.clone(), to: m.to.clone() }, Rule::ModuleUpgrade)
            }
            ChangeKind::Install => (Fact::ModuleInstall { module }, Rule::ModuleInstall),
            ChangeKind::Added => (Fact::ModuleAdded { module }, Rule::ModuleAdded),
            ChangeKind::Code => (Fact::CodeChange { module: Some(module) }, Rule::ModuleCodeChange),
            ChangeKind::Assets => (Fact::ModuleAssets { module }, Rule::AssetsOnly),
        };
        add(fact, rule);
        // Web assets do not touch the database or the server's code: a critical module's assets-only
        // change stays at the assets tier.
        if m.kind != ChangeKind::Assets {
            critical(&m.module, &mut add);
        }
    }
    for module in &input.removed {
        add(Fact::ModuleRemoved { module: module.clone() }, Rule::ModuleRemoved);
        critical(module, &mut add);
    }
    for module in &input.missing {
        add(Fact::MissingModule { module: module.clone() }, Rule::MissingModule);
        critical(module, &mut add);
    }
    for module in &input.blocked {
        add(Fact::BlockedModule { module: module.clone() }, Rule::BlockedModule);
    }
    for s in &input.scripts {
        add(Fact::MigrationScript { module: s.module.clone(), path: s.path.clone() }, Rule::MigrationScript);
        critical(&s.module, &mut add);
    }

    let mut sql_seen = BTreeSet::new();
    for s in &input.sql {
        let Some(text) = &s.sql else { continue };
        for (kind, table) in tables_touched(text) {
            if rules.critical_table(&table).is_none() || !sql_seen.insert((s.file.clone(), s.line, kind, table.clone()))
            {
                continue;
            }
            let (file, line) = (s.file.clone(), s.line);
            match kind {
                Touch::Schema => add(Fact::CriticalSchemaChange { file, line, table }, Rule::CriticalSchemaChange),
                Touch::Data => add(Fact::CriticalDataChange { file, line, table }, Rule::CriticalDataChange),
            }
        }
    }

    for d in &input.python_added {
        add(Fact::PythonDependency { module: d.module.clone(), name: d.name.clone() }, Rule::PythonDependency);
    }
    for d in &input.bin_added {
        add(Fact::BinDependency { module: d.module.clone(), name: d.name.clone() }, Rule::BinDependency);
    }
    for finding in &input.lint {
        let fact = Fact::LintFinding {
            rule: finding.rule.clone(),
            source: finding.source.clone(),
            line: finding.line,
            object: finding.object.clone(),
        };
        add(fact, lint_rule(finding));
    }
    if let Some(r) = &input.rehearsal {
        let limits = &rules.rehearsal;
        if r.max_blocking > limits.max_blocking {
            add(
                Fact::RehearsalBlocking { measured: r.max_blocking, limit: limits.max_blocking },
                Rule::RehearsalBlocking,
            );
        }
        if r.duration > limits.max_duration {
            add(Fact::RehearsalDuration { measured: r.duration, limit: limits.max_duration }, Rule::RehearsalDuration);
        }
        if !r.errors.is_empty() {
            add(Fact::RehearsalErrors { errors: r.errors.clone() }, Rule::RehearsalErrors);
        }
    }

    if reasons.is_empty() {
        reasons.push(Reason {
            fact: Fact::NoChange,
            tier: rules.tiers.of(Rule::NoChange),
            rule: Rule::NoChange,
            tenant: input.tenant.clone(),
        });
    }
    // Stable: within a tier, reasons keep the order they were found in.
    reasons.sort_by_key(|r| std::cmp::Reverse(r.tier));
    let tier = reasons.iter().map(|r| r.tier).max().unwrap_or(RiskTier::Low);
    Classification { tenant: input.tenant.clone(), tier, reasons }
}

/// Classifies the release-wide facts and every tenant's; the release's tier is the highest.
pub fn classify_release(release: &RiskInput, tenants: &[RiskInput], rules: &RiskRules) -> ReleaseClassification {
    let release = classify(release, rules);
    let tenants: Vec<Classification> = tenants.iter().map(|t| classify(t, rules)).collect();
    let tier = tenants.iter().map(|t| t.tier).fold(release.tier, RiskTier::max);
    ReleaseClassification { tier, release, tenants }
}

/// The rule a lint finding falls under: the worst of what it does.
fn lint_rule(f: &LintInput) -> Rule {
    if f.fails {
        Rule::LintError
    } else if f.work == TableWork::Rewrite {
        Rule::LintRewrite
    } else if f.access_exclusive && f.work != TableWork::None {
        Rule::LintLockedTableWork
    } else if f.access_exclusive {
        Rule::LintAccessExclusive
    } else {
        Rule::LintOther
    }
}

/// What a statement does to a table it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Touch {
    /// ALTER / DROP / TRUNCATE the table, or CREATE INDEX on it.
    Schema,
    /// UPDATE / DELETE / INSERT rows.
    Data,
}

/// The tables SQL changes, by a scan of its words: enough to name `ALTER TABLE account_move …` or
/// `UPDATE payment_transaction …`, not a parser. Names are lowercased, unquoted and without schema.
fn tables_touched(sql: &str) -> Vec<(Touch, String)> {
    let words = words(sql);
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    // The name at `i`, after skipping optional keywords.
    let name_after = |mut i: usize, skip: &[&str]| {
        while skip.contains(&word(i)) {
            i += 1;
        }
        let w = word(i);
        (!w.is_empty()).then(|| w.rsplit('.').next().unwrap_or(w).to_owned())
    };
    let mut found = Vec::new();
    for i in 0..words.len() {
        let touch = match (word(i), word(i + 1)) {
            ("alter", "table") | ("drop", "table") => {
                Some((Touch::Schema, name_after(i + 2, &["if", "exists", "only"])))
            }
            ("truncate", _) => Some((Touch::Schema, name_after(i + 1, &["table", "only"]))),
            ("index", _) if matches!(word(i.wrapping_sub(1)), "create" | "unique") => {
                // CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON [ONLY] table
                (i + 1..words.len())
                    .take(6)
                    .find(|&j| word(j) == "on")
                    .map(|j| (Touch::Schema, name_after(j + 1, &["only"])))
            }
            ("update", _) if i == 0 || !matches!(word(i - 1), "do" | "for" | "key") => {
                Some((Touch::Data, name_after(i + 1, &["only"])))
            }
            ("delete", "from") => Some((Touch::Data, name_after(i + 2, &["only"]))),
            ("insert", "into") => Some((Touch::Data, name_after(i + 2, &[]))),
            _ => None,
        };
        if let Some((touch, Some(table))) = touch {
            found.push((touch, table));
        }
    }
    found
}

/// Identifiers and keywords of `sql`, lowercased; quoted identifiers unquoted, string literals and
/// comments dropped.
fn words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current).to_lowercase());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                flush(&mut current, &mut words);
                // '' inside a literal is an escaped quote: the loop just starts a new literal.
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    current.push(c);
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                flush(&mut current, &mut words);
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '$' => current.push(c),
            _ => flush(&mut current, &mut words),
        }
    }
    flush(&mut current, &mut words);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_touched_names_ddl_and_dml_targets() {
        let t = |sql: &str| tables_touched(sql);
        assert_eq!(
            t("ALTER TABLE IF EXISTS public.account_move ADD COLUMN x int"),
            [(Touch::Schema, "account_move".to_owned())]
        );
        assert_eq!(
            t(r#"create unique index concurrently if not exists foo on only "Payment_Token" (x)"#),
            [(Touch::Schema, "payment_token".to_owned())]
        );
        assert_eq!(t("CREATE INDEX ON account_move_line (date)"), [(Touch::Schema, "account_move_line".to_owned())]);
        assert_eq!(
            t("UPDATE account_move SET x = 'alter table stock_move' -- drop table sale_order"),
            [(Touch::Data, "account_move".to_owned())]
        );
        assert_eq!(
            t("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2"),
            [(Touch::Data, "t".to_owned())]
        );
        assert_eq!(t("SELECT * FROM account_move FOR UPDATE"), []);
        assert_eq!(
            t("TRUNCATE TABLE payment_transaction; DELETE FROM only account_tax"),
            [(Touch::Schema, "payment_transaction".to_owned()), (Touch::Data, "account_tax".to_owned())]
        );
    }
}
