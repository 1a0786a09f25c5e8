//! Table-driven release scenarios: change facts (as Odoo change analysis, the SQL linter and a
//! rehearsal report them) and the author's request, with the tier and the deciding facts expected.

use ringfence_core::Duration;
use ringfence_lint::{Finding, LockMode, Rule as LintRule, Severity, TableWork as LintWork};
use ringfence_odoo::facts::{
    CriticalTouch, DependencyChange, ModuleDelta, ModuleFact, ReleaseFacts, ScriptFact, SqlFact, TenantFacts,
};
use ringfence_risk::{
    Adjustment, Fact, Override, RehearsalResult, RiskError, RiskInput, RiskRules, RiskTier, Rule, TierRequest,
    classify, classify_release, decide,
};

use RiskTier::{Critical, High, Low, Medium};

const AUTHOR: &str = "ana@hoster.example";

/// A tenant that runs the release's previous trees and whose modules do not change.
fn tenant(name: &str) -> TenantFacts {
    TenantFacts {
        tenant: name.to_owned(),
        strategy: "version-bump",
        upgrade: vec![],
        install: vec![],
        missing: vec![],
        blocked: vec![],
        ignored: vec![],
        unchecked: vec![],
        order: vec![],
        scripts: vec![],
        sql: vec![],
        critical_domains: vec![],
        critical_domains_touched: vec![],
        dependency_changes: vec![],
        image_only: Some(true),
        assets_only: Some(false),
        safe_to_run: true,
    }
}

/// `tenant` upgrading `module` from 1.0 to 1.1.
fn upgrading(mut t: TenantFacts, module: &str) -> TenantFacts {
    t.image_only = Some(false);
    t.upgrade.push(ModuleFact {
        module: module.to_owned(),
        from: Some("17.0.1.0".to_owned()),
        to: Some("17.0.1.1".to_owned()),
        why: "version bump".to_owned(),
        critical: None,
    });
    t
}

/// `t` running a pre-migration script of `module` that executes `sql`.
fn with_script(mut t: TenantFacts, module: &str, sql: &[&str]) -> TenantFacts {
    let path = "migrations/17.0.1.1/pre-migrate.py";
    t.scripts.push(ScriptFact {
        module: module.to_owned(),
        stage: "pre",
        folder: "17.0.1.1".to_owned(),
        path: path.to_owned(),
    });
    for (i, s) in sql.iter().enumerate() {
        t.sql.push(SqlFact {
            file: format!("{module}/{path}"),
            line: 10 + i as u32,
            sql: Some((*s).to_owned()),
            formatted: false,
            dynamic: None,
        });
    }
    t
}

fn release() -> ReleaseFacts {
    ReleaseFacts {
        modules_added: vec![],
        modules_removed: vec![],
        modules_changed: vec![],
        dependency_changes: vec![],
        python_added: vec![],
        python_removed: vec![],
        bin_added: vec![],
        bin_removed: vec![],
        critical_domains: vec![],
        critical_domains_touched: vec![],
        image_only: false,
        assets_only: false,
    }
}

fn delta(module: &str, from: &str, to: &str, files: &[&str]) -> ModuleDelta {
    ModuleDelta {
        module: module.to_owned(),
        from_version: from.to_owned(),
        to_version: to.to_owned(),
        checksum_from: "a".to_owned(),
        checksum_to: "b".to_owned(),
        changed_files: files.iter().map(|f| f.to_string()).collect(),
        assets_only: files.iter().all(|f| f.starts_with("static/")),
        scripts: vec![],
    }
}

fn finding(rule: LintRule, lock: Option<LockMode>, work: LintWork, severity: Severity) -> Finding {
    Finding {
        rule,
        severity,
        source: "sale/migrations/17.0.1.1/pre-migrate.py".to_owned(),
        line: 12,
        col: 5,
        object: Some("sale_order".to_owned()),
        lock,
        work,
        message: String::new(),
        advice: String::new(),
        statement: String::new(),
    }
}

fn lint_fact(rule: LintRule) -> Fact {
    Fact::LintFinding {
        rule: rule.id().to_owned(),
        source: "sale/migrations/17.0.1.1/pre-migrate.py".to_owned(),
        line: 12,
        object: Some("sale_order".to_owned()),
    }
}

fn module(name: &str) -> String {
    name.to_owned()
}

fn upgrade_fact(name: &str) -> Fact {
    Fact::ModuleUpgrade { module: module(name), from: Some("17.0.1.0".to_owned()), to: Some("17.0.1.1".to_owned()) }
}

fn critical(name: &str, domain: &str) -> Fact {
    Fact::CriticalDomain { module: module(name), domain: domain.to_owned() }
}

fn script(name: &str) -> Fact {
    Fact::MigrationScript { module: module(name), path: "migrations/17.0.1.1/pre-migrate.py".to_owned() }
}

fn rehearsal(blocking_ms: u64, minutes: u64, errors: &[&str]) -> RehearsalResult {
    RehearsalResult {
        max_blocking: Duration::from_millis(blocking_ms),
        duration: Duration::from_mins(minutes),
        errors: errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn raise(to: RiskTier, reason: &str) -> Option<TierRequest> {
    Some(TierRequest::Raise { to, reason: reason.to_owned() })
}

fn lower(to: RiskTier, reason: &str, approver: &str) -> Option<TierRequest> {
    Some(TierRequest::Lower(Override { to, reason: reason.to_owned(), approver: approver.to_owned() }))
}

struct Scenario {
    name: &'static str,
    input: RiskInput,
    rules: RiskRules,
    request: Option<TierRequest>,
    /// The computed tier.
    computed: RiskTier,
    /// The facts at the computed tier, in order.
    deciding: Vec<Fact>,
    /// The effective tier, or why the request is refused.
    effective: Result<RiskTier, RiskError>,
}

impl Scenario {
    fn new(name: &'static str, input: RiskInput, computed: RiskTier, deciding: Vec<Fact>) -> Scenario {
        Scenario {
            name,
            input,
            rules: RiskRules::default(),
            request: None,
            computed,
            deciding,
            effective: Ok(computed),
        }
    }

    fn request(mut self, request: Option<TierRequest>, effective: Result<RiskTier, RiskError>) -> Scenario {
        self.request = request;
        self.effective = effective;
        self
    }

    fn rules(mut self, rules: RiskRules) -> Scenario {
        self.rules = rules;
        self
    }
}

fn scenarios() -> Vec<Scenario> {
    let stock_migration = with_script(
        upgrading(tenant("shop-a"), "stock"),
        "stock",
        &["UPDATE stock_move SET state = 'done' WHERE state = 'x'"],
    );
    let payment_schema = with_script(
        upgrading(tenant("shop-b"), "payment_adyen"),
        "payment_adyen",
        &["ALTER TABLE payment_transaction ADD COLUMN adyen_ref varchar", "SELECT 1"],
    );
    let account_data = with_script(
        upgrading(tenant("shop-c"), "account_extra"),
        "account_extra",
        &["UPDATE account_move SET ref = name WHERE ref IS NULL"],
    );
    let mut python = release();
    python.dependency_changes.push(DependencyChange {
        module: "shop_barcode".to_owned(),
        kind: "python",
        added: vec!["pyzbar".to_owned()],
        removed: vec![],
    });
    python.python_added.push("pyzbar".to_owned());
    python.modules_changed.push(delta("shop_barcode", "17.0.1.0", "17.0.1.1", &["__manifest__.py"]));
    let mut missing = tenant("shop-d");
    missing.image_only = Some(false);
    missing.missing.push("pos_loyalty_legacy".to_owned());
    missing.safe_to_run = false;
    let mut blocked = tenant("shop-e");
    blocked.image_only = Some(false);
    blocked.blocked.push("shop_reports".to_owned());
    let mut assets = release();
    assets.modules_changed.push(delta("website_theme_shop", "17.0.1.0", "17.0.1.0", &["static/src/scss/theme.scss"]));
    assets.modules_changed.push(delta("point_of_sale", "17.0.1.0", "17.0.1.0", &["static/src/js/receipt.js"]));
    assets.assets_only = true;
    let mut image_only = release();
    image_only.image_only = true;
    let mut unknown = tenant("shop-f");
    unknown.image_only = None;
    unknown.assets_only = None;
    let mut code_only = tenant("shop-g");
    code_only.image_only = Some(false);
    let mut critical_code = tenant("shop-h");
    critical_code.image_only = Some(false);
    critical_code.critical_domains.push(CriticalTouch { module: "sale_stock".to_owned(), domain: "sale*".to_owned() });
    let mut removed = release();
    removed.modules_removed.push("shop_legacy".to_owned());
    let mut install = tenant("shop-i");
    install.image_only = Some(false);
    install.install.push(ModuleFact {
        module: "queue_job".to_owned(),
        from: None,
        to: Some("17.0.1.0".to_owned()),
        why: "new dependency".to_owned(),
        critical: Some("queue_job".to_owned()),
    });
    let bump = upgrading(tenant("shop-j"), "mail_tracking_extra");
    let strict = RiskRules {
        tiers: ringfence_risk::Tiers { module_upgrade: High, ..Default::default() },
        ..RiskRules::default()
    };
    let websites_critical = RiskRules {
        critical_domains: vec!["website*".to_owned()],
        critical_tables: vec!["website_*".to_owned()],
        ..RiskRules::default()
    };
    let website_schema = with_script(
        upgrading(tenant("shop-k"), "website_blog"),
        "website_blog",
        &["CREATE INDEX ON website_page (url)"],
    );
    let rewrite =
        finding(LintRule::AddColumnRewrite, Some(LockMode::AccessExclusive), LintWork::Rewrite, Severity::Warning);
    let drop_index =
        finding(LintRule::DropIndexNotConcurrent, Some(LockMode::AccessExclusive), LintWork::None, Severity::Warning);
    let set_not_null =
        finding(LintRule::SetNotNullScan, Some(LockMode::AccessExclusive), LintWork::Scan, Severity::Warning);
    let create_index =
        finding(LintRule::CreateIndexNotConcurrent, Some(LockMode::Share), LintWork::IndexBuild, Severity::Warning);
    let fails = finding(LintRule::ConcurrentlyInTransaction, None, LintWork::IndexBuild, Severity::Error);
    let bump_input = || RiskInput::from(&bump);

    vec![
        Scenario::new("config-only change", RiskInput::config_only(), Low, vec![Fact::ConfigOnly]),
        Scenario::new("nothing changes", RiskInput::default(), Low, vec![Fact::NoChange]),
        Scenario::new("image-only patch (release)", RiskInput::from(&image_only), Low, vec![Fact::ImageOnly]),
        Scenario::new("image-only patch (tenant)", RiskInput::from(&tenant("shop-z")), Low, vec![Fact::ImageOnly]),
        Scenario::new(
            "assets-only change, a critical module's assets included",
            RiskInput::from(&assets),
            Low,
            vec![
                Fact::AssetsOnly,
                Fact::ModuleAssets { module: module("website_theme_shop") },
                Fact::ModuleAssets { module: module("point_of_sale") },
            ],
        ),
        Scenario::new(
            "module version bump in a non-critical module",
            bump_input(),
            Medium,
            vec![upgrade_fact("mail_tracking_extra")],
        ),
        Scenario::new("tenant without previous trees", RiskInput::from(&unknown), Medium, vec![Fact::ContentUnknown]),
        Scenario::new(
            "code changes without a version bump",
            RiskInput::from(&code_only),
            Medium,
            vec![Fact::CodeChange { module: None }],
        ),
        Scenario::new(
            "critical module code changes without an upgrade",
            RiskInput::from(&critical_code),
            High,
            vec![critical("sale_stock", "sale*")],
        ),
        Scenario::new(
            "stock migration with scripts",
            RiskInput::from(&stock_migration),
            High,
            vec![critical("stock", "stock*"), script("stock")],
        ),
        Scenario::new(
            "payment module change, no scripts",
            RiskInput::from(&upgrading(tenant("shop-b"), "payment_adyen")),
            High,
            vec![critical("payment_adyen", "payment*")],
        ),
        Scenario::new(
            "payment schema change",
            RiskInput::from(&payment_schema),
            Critical,
            vec![Fact::CriticalSchemaChange {
                file: "payment_adyen/migrations/17.0.1.1/pre-migrate.py".to_owned(),
                line: 10,
                table: "payment_transaction".to_owned(),
            }],
        ),
        Scenario::new(
            "accounting data update",
            RiskInput::from(&account_data),
            High,
            vec![
                critical("account_extra", "account*"),
                script("account_extra"),
                Fact::CriticalDataChange {
                    file: "account_extra/migrations/17.0.1.1/pre-migrate.py".to_owned(),
                    line: 10,
                    table: "account_move".to_owned(),
                },
            ],
        ),
        Scenario::new(
            "connector queue installed",
            RiskInput::from(&install),
            High,
            vec![critical("queue_job", "queue_job")],
        ),
        Scenario::new(
            "new python dependency",
            RiskInput::from(&python),
            High,
            vec![Fact::PythonDependency { module: Some(module("shop_barcode")), name: "pyzbar".to_owned() }],
        ),
        Scenario::new(
            "module removed from the release",
            RiskInput::from(&removed),
            High,
            vec![Fact::ModuleRemoved { module: module("shop_legacy") }],
        ),
        Scenario::new(
            "missing module",
            RiskInput::from(&missing),
            Critical,
            vec![Fact::MissingModule { module: module("pos_loyalty_legacy") }],
        ),
        Scenario::new(
            "blocked module",
            RiskInput::from(&blocked),
            Critical,
            vec![Fact::BlockedModule { module: module("shop_reports") }],
        ),
        Scenario::new(
            "lint finding with a table rewrite",
            bump_input().with_lint([&rewrite]),
            Critical,
            vec![lint_fact(LintRule::AddColumnRewrite)],
        ),
        Scenario::new(
            "lint finding: scan under ACCESS EXCLUSIVE",
            bump_input().with_lint([&set_not_null]),
            Critical,
            vec![lint_fact(LintRule::SetNotNullScan)],
        ),
        Scenario::new(
            "lint finding: brief ACCESS EXCLUSIVE",
            bump_input().with_lint([&drop_index]),
            High,
            vec![lint_fact(LintRule::DropIndexNotConcurrent)],
        ),
        Scenario::new(
            "lint finding: index build blocks writes",
            bump_input().with_lint([&create_index]),
            High,
            vec![lint_fact(LintRule::CreateIndexNotConcurrent)],
        ),
        Scenario::new(
            "lint finding: statement fails",
            bump_input().with_lint([&fails]),
            Critical,
            vec![lint_fact(LintRule::ConcurrentlyInTransaction)],
        ),
        Scenario::new(
            "rehearsal within limits",
            bump_input().with_rehearsal(rehearsal(10_000, 30, &[])),
            Medium,
            vec![upgrade_fact("mail_tracking_extra")],
        ),
        Scenario::new(
            "rehearsal over the blocking limit",
            bump_input().with_rehearsal(rehearsal(45_000, 3, &[])),
            Critical,
            vec![Fact::RehearsalBlocking { measured: Duration::from_secs(45), limit: Duration::from_secs(10) }],
        ),
        Scenario::new(
            "rehearsal over the duration limit",
            bump_input().with_rehearsal(rehearsal(0, 95, &[])),
            High,
            vec![Fact::RehearsalDuration { measured: Duration::from_mins(95), limit: Duration::from_mins(30) }],
        ),
        Scenario::new(
            "rehearsal with errors",
            bump_input().with_rehearsal(rehearsal(0, 1, &["relation \"x\" does not exist"])),
            Critical,
            vec![Fact::RehearsalErrors { errors: vec!["relation \"x\" does not exist".to_owned()] }],
        ),
        Scenario::new("policy makes every upgrade high", bump_input(), High, vec![upgrade_fact("mail_tracking_extra")])
            .rules(strict),
        Scenario::new(
            "policy with its own critical domains and tables",
            RiskInput::from(&website_schema),
            Critical,
            vec![Fact::CriticalSchemaChange {
                file: "website_blog/migrations/17.0.1.1/pre-migrate.py".to_owned(),
                line: 10,
                table: "website_page".to_owned(),
            }],
        )
        .rules(websites_critical),
        Scenario::new("raise by the author", RiskInput::config_only(), Low, vec![Fact::ConfigOnly])
            .request(raise(High, "touches the checkout flow's settings"), Ok(High)),
        Scenario::new("raise that is no raise", bump_input(), Medium, vec![upgrade_fact("mail_tracking_extra")])
            .request(raise(Medium, "same"), Err(RiskError::NotARaise { computed: Medium, requested: Medium })),
        Scenario::new("raise without a reason", RiskInput::config_only(), Low, vec![Fact::ConfigOnly])
            .request(raise(Critical, "  "), Err(RiskError::MissingReason { to: Critical })),
        Scenario::new(
            "lower with an approver",
            RiskInput::from(&stock_migration),
            High,
            vec![critical("stock", "stock*"), script("stock")],
        )
        .request(lower(Medium, "script only fixes a label", "bo@hoster.example"), Ok(Medium)),
        Scenario::new(
            "lower without an approver",
            RiskInput::from(&stock_migration),
            High,
            vec![critical("stock", "stock*"), script("stock")],
        )
        .request(lower(Medium, "script only fixes a label", ""), Err(RiskError::MissingApprover { to: Medium })),
        Scenario::new(
            "lower without a reason",
            RiskInput::from(&stock_migration),
            High,
            vec![critical("stock", "stock*"), script("stock")],
        )
        .request(lower(Low, "", "bo@hoster.example"), Err(RiskError::MissingReason { to: Low })),
        Scenario::new(
            "author approving their own lowering",
            RiskInput::from(&stock_migration),
            High,
            vec![critical("stock", "stock*"), script("stock")],
        )
        .request(
            lower(Medium, "trust me", " Ana@Hoster.example "),
            Err(RiskError::SelfApproval { author: AUTHOR.to_owned() }),
        ),
        Scenario::new("override that does not lower", bump_input(), Medium, vec![upgrade_fact("mail_tracking_extra")])
            .request(
                lower(High, "why not", "bo@hoster.example"),
                Err(RiskError::NotALowering { computed: Medium, requested: High }),
            ),
    ]
}

#[test]
fn release_scenarios() {
    let all = scenarios();
    assert!(all.len() >= 20);
    let mut failures = Vec::new();
    for s in &all {
        let c = classify(&s.input, &s.rules);
        let deciding: Vec<Fact> = c.deciding().map(|r| r.fact.clone()).collect();
        // Every reason's tier is what the rules give its rule, and the tier is their highest.
        for r in &c.reasons {
            assert_eq!(r.tier, s.rules.tiers.of(r.rule), "{}: {r:?}", s.name);
            assert_eq!(r.tenant, s.input.tenant, "{}: {r:?}", s.name);
        }
        assert_eq!(Some(c.tier), c.reasons.iter().map(|r| r.tier).max(), "{}", s.name);
        let effective = decide(&c, AUTHOR, s.request.as_ref()).map(|d| d.effective);
        if c.tier != s.computed || deciding != s.deciding || effective != s.effective {
            failures.push(format!(
                "{}:\n  expected {:?} {:?} -> {:?}\n  got      {:?} {:?} -> {:?}",
                s.name, s.computed, s.deciding, s.effective, c.tier, deciding, effective
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} scenarios failed:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn missing_author_cannot_decide() {
    let c = classify(&RiskInput::config_only(), &RiskRules::default());
    assert_eq!(decide(&c, " ", None), Err(RiskError::MissingAuthor));
}

#[test]
fn the_decision_records_both_tiers_and_the_override_for_the_audit_trail() {
    let stock = RiskInput::from(&with_script(upgrading(tenant("shop-a"), "stock"), "stock", &[]));
    let c = classify(&stock, &RiskRules::default());
    let d = decide(&c, AUTHOR, lower(Medium, "label fix only", "bo@hoster.example").as_ref()).unwrap();
    assert_eq!((d.computed, d.effective), (High, Medium));
    assert_eq!(
        d.adjustment,
        Some(Adjustment::Lowered {
            from: High,
            to: Medium,
            reason: "label fix only".to_owned(),
            by: AUTHOR.to_owned(),
            approver: "bo@hoster.example".to_owned(),
        })
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["tenant"], "shop-a");
    assert_eq!(json["computed"], "high");
    assert_eq!(json["effective"], "medium");
    assert_eq!(json["adjustment"]["kind"], "lowered");
    assert_eq!(json["adjustment"]["approver"], "bo@hoster.example");
    assert_eq!(json["reasons"][0]["rule"], "criticalDomain");
    assert_eq!(
        json["reasons"][0]["fact"],
        serde_json::json!({"kind": "criticalDomain", "module": "stock", "domain": "stock*"})
    );
    let back: ringfence_risk::TierDecision = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);

    let raised = decide(&c, AUTHOR, raise(Critical, "Black Friday week").as_ref()).unwrap();
    let json = serde_json::to_value(&raised).unwrap();
    assert_eq!(
        json["adjustment"],
        serde_json::json!({"kind": "raised", "from": "high", "to": "critical", "reason": "Black Friday week", "by": AUTHOR})
    );
}

#[test]
fn the_release_takes_its_highest_tenant_and_names_it() {
    let tenants = [
        RiskInput::from(&tenant("shop-a")),
        RiskInput::from(&with_script(upgrading(tenant("shop-b"), "stock"), "stock", &[])),
        RiskInput::from(&upgrading(tenant("shop-c"), "mail_tracking_extra")),
    ];
    let mut r = release();
    r.modules_changed.push(delta("stock", "17.0.1.0", "17.0.1.1", &["models/stock_move.py"]));
    r.modules_changed.push(delta("mail_tracking_extra", "17.0.1.0", "17.0.1.1", &["models/mail.py"]));
    let c = classify_release(&RiskInput::from(&r), &tenants, &RiskRules::default());
    assert_eq!(c.tier, High);
    assert_eq!(c.tenants.iter().map(|t| t.tier).collect::<Vec<_>>(), [Low, High, Medium]);
    let overall = c.overall();
    let deciding: Vec<(Option<&str>, Rule)> = overall.deciding().map(|r| (r.tenant.as_deref(), r.rule)).collect();
    assert_eq!(
        deciding,
        [(None, Rule::CriticalDomain), (Some("shop-b"), Rule::CriticalDomain), (Some("shop-b"), Rule::MigrationScript)]
    );
}

#[test]
fn rules_read_from_camel_case_config_with_defaults_and_refuse_unknown_fields() {
    let rules: RiskRules = serde_json::from_value(serde_json::json!({
        "criticalTables": ["account_move*"],
        "rehearsal": {"maxBlocking": "2s"},
        "tiers": {"pythonDependency": "critical"}
    }))
    .unwrap();
    assert_eq!(rules.critical_tables, ["account_move*"]);
    assert_eq!(rules.rehearsal.max_blocking, Duration::from_secs(2));
    assert_eq!(rules.rehearsal.max_duration, Duration::from_mins(30));
    assert_eq!(rules.tiers.python_dependency, Critical);
    assert_eq!(rules.tiers.migration_script, High);
    assert_eq!(rules.critical_domains, RiskRules::default().critical_domains);

    let bad = serde_json::from_value::<RiskRules>(serde_json::json!({"tiers": {"migrationScripts": "low"}}));
    assert!(bad.unwrap_err().to_string().contains("unknown field `migrationScripts`"));

    // Every rule but `noChange` (always low) has a tier field, named as the rule serialises.
    let tiers = serde_json::to_value(ringfence_risk::Tiers::default()).unwrap();
    for rule in Rule::ALL.into_iter().filter(|r| *r != Rule::NoChange) {
        let name = serde_json::to_value(rule).unwrap();
        assert!(tiers.get(name.as_str().unwrap()).is_some(), "{rule:?}");
    }
    assert_eq!(tiers.as_object().unwrap().len(), Rule::ALL.len() - 1);
}
