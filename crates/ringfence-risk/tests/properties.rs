//! Invariants of classification over random facts and random rule tiers: the release's tier is the
//! highest of its tenants' (and its release-wide facts'), adding facts never lowers a tier nor drops a
//! reason, and an author can never lower a tier alone.

use proptest::prelude::*;
use ringfence_core::Duration;
use ringfence_risk::{
    ChangeKind, Dependency, Fact, LintInput, ModuleInput, Override, RehearsalResult, RiskInput, RiskRules, RiskTier,
    ScriptInput, SqlInput, TableWork, TierRequest, Tiers, classify, classify_release, decide,
};

const MODULES: [&str; 8] =
    ["stock", "account_asset", "mail", "shop_theme", "payment_adyen", "queue_job", "l10n_fr", "website_blog"];
const SQL: [&str; 5] = [
    "ALTER TABLE account_move ADD COLUMN x int",
    "UPDATE payment_transaction SET state = 'done'",
    "CREATE INDEX ON stock_move (date)",
    "SELECT 1",
    "DELETE FROM account_tax WHERE id = 1",
];

fn tier() -> impl Strategy<Value = RiskTier> {
    prop_oneof![Just(RiskTier::Low), Just(RiskTier::Medium), Just(RiskTier::High), Just(RiskTier::Critical)]
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(&MODULES[..]).prop_map(str::to_owned)
}

fn module() -> impl Strategy<Value = ModuleInput> {
    let kind = prop::sample::select(vec![
        ChangeKind::Upgrade,
        ChangeKind::Install,
        ChangeKind::Added,
        ChangeKind::Code,
        ChangeKind::Assets,
    ]);
    (name(), kind).prop_map(|(m, k)| ModuleInput::new(m, k))
}

fn lint() -> impl Strategy<Value = LintInput> {
    let work = prop::sample::select(vec![TableWork::None, TableWork::Scan, TableWork::IndexBuild, TableWork::Rewrite]);
    (any::<bool>(), work, any::<bool>(), 1..50u32).prop_map(|(access_exclusive, work, fails, line)| LintInput {
        rule: "some-rule".to_owned(),
        source: "m/migrations/1.1/pre.py".to_owned(),
        line,
        object: None,
        access_exclusive,
        work,
        fails,
    })
}

fn rehearsal() -> impl Strategy<Value = RehearsalResult> {
    (0..60_000u64, 0..120u64, prop::collection::vec("[a-z]{1,8}", 0..2)).prop_map(|(b, d, errors)| RehearsalResult {
        max_blocking: Duration::from_millis(b),
        duration: Duration::from_mins(d),
        errors,
    })
}

fn input() -> impl Strategy<Value = RiskInput> {
    let flags = prop::array::uniform5(any::<bool>());
    let lists = (
        prop::collection::vec(module(), 0..4),
        prop::collection::vec(name(), 0..2),
        prop::collection::vec(name(), 0..2),
        prop::collection::vec(name(), 0..2),
        prop::collection::vec(
            name().prop_map(|m| ScriptInput { module: m, path: "migrations/1.1/pre.py".into() }),
            0..3,
        ),
        prop::collection::vec(
            (prop::sample::select(&SQL[..]), 1..20u32, any::<bool>()).prop_map(|(s, line, dynamic)| SqlInput {
                file: "m/migrations/1.1/pre.py".into(),
                line,
                sql: (!dynamic).then(|| s.to_owned()),
            }),
            0..3,
        ),
    );
    let more = (
        prop::collection::vec("[a-z]{1,6}".prop_map(|n| Dependency { module: None, name: n }), 0..2),
        prop::collection::vec("[a-z]{1,6}".prop_map(|n| Dependency { module: None, name: n }), 0..2),
        prop::collection::vec(lint(), 0..3),
        prop::option::of(rehearsal()),
    );
    (flags, lists, more).prop_map(
        |(
            [config_only, image_only, assets_only, content_unknown, code_changed],
            (modules, removed, missing, blocked, scripts, sql),
            (python_added, bin_added, lint, rehearsal),
        )| RiskInput {
            tenant: None,
            config_only,
            image_only,
            assets_only,
            content_unknown,
            code_changed,
            modules,
            removed,
            missing,
            blocked,
            scripts,
            sql,
            python_added,
            bin_added,
            lint,
            rehearsal,
        },
    )
}

fn rules() -> impl Strategy<Value = RiskRules> {
    prop::collection::vec(tier(), 25).prop_map(|t| RiskRules {
        tiers: Tiers {
            config_only: t[0],
            image_only: t[1],
            assets_only: t[2],
            content_unknown: t[3],
            module_code_change: t[4],
            module_upgrade: t[5],
            module_install: t[6],
            module_added: t[7],
            module_removed: t[8],
            critical_domain: t[9],
            migration_script: t[10],
            critical_schema_change: t[11],
            critical_data_change: t[12],
            lint_rewrite: t[13],
            lint_locked_table_work: t[14],
            lint_access_exclusive: t[15],
            lint_error: t[16],
            lint_other: t[17],
            missing_module: t[18],
            blocked_module: t[19],
            python_dependency: t[20],
            bin_dependency: t[21],
            rehearsal_blocking: t[22],
            rehearsal_duration: t[23],
            rehearsal_errors: t[24],
        },
        ..RiskRules::default()
    })
}

fn join<T: Clone>(x: &[T], y: &[T]) -> Vec<T> {
    x.iter().chain(y).cloned().collect()
}

/// `a` with `b`'s facts added: lists joined, flags or-ed, a rehearsal kept (or `b`'s when `a` has none,
/// with the worse of both measures and all errors when both have one).
fn merge(a: &RiskInput, b: &RiskInput) -> RiskInput {
    let rehearsal = match (&a.rehearsal, &b.rehearsal) {
        (Some(x), Some(y)) => Some(RehearsalResult {
            max_blocking: x.max_blocking.max(y.max_blocking),
            duration: x.duration.max(y.duration),
            errors: join(&x.errors, &y.errors),
        }),
        (x, y) => x.clone().or_else(|| y.clone()),
    };
    RiskInput {
        tenant: a.tenant.clone(),
        config_only: a.config_only || b.config_only,
        image_only: a.image_only || b.image_only,
        assets_only: a.assets_only || b.assets_only,
        content_unknown: a.content_unknown || b.content_unknown,
        code_changed: a.code_changed || b.code_changed,
        modules: join(&a.modules, &b.modules),
        removed: join(&a.removed, &b.removed),
        missing: join(&a.missing, &b.missing),
        blocked: join(&a.blocked, &b.blocked),
        scripts: join(&a.scripts, &b.scripts),
        sql: join(&a.sql, &b.sql),
        python_added: join(&a.python_added, &b.python_added),
        bin_added: join(&a.bin_added, &b.bin_added),
        lint: join(&a.lint, &b.lint),
        rehearsal,
    }
}

proptest! {
    #[test]
    fn the_release_tier_is_the_highest_tenant_tier(
        tenants in prop::collection::vec(input(), 0..6),
        release in input(),
        rules in rules(),
    ) {
        let tenants: Vec<RiskInput> =
            tenants.into_iter().enumerate().map(|(i, t)| t.for_tenant(format!("shop-{i}"))).collect();
        let highest = tenants.iter().map(|t| classify(t, &rules).tier).max().unwrap_or(RiskTier::Low);

        // Release-wide facts with nothing in them add nothing.
        let c = classify_release(&RiskInput::default(), &tenants, &rules);
        prop_assert_eq!(c.tier, highest);
        prop_assert_eq!(c.overall().tier, highest);

        let c = classify_release(&release, &tenants, &rules);
        prop_assert_eq!(c.tier, highest.max(classify(&release, &rules).tier));
        prop_assert_eq!(c.tenants.len(), tenants.len());
        // Every deciding reason of the release is one of some tenant's or a release-wide one.
        for r in c.overall().deciding() {
            let from = match &r.tenant {
                None => &c.release,
                Some(t) => c.tenants.iter().find(|c| c.tenant.as_ref() == Some(t)).unwrap(),
            };
            prop_assert!(from.reasons.contains(r));
        }
    }

    #[test]
    fn adding_facts_never_lowers_the_tier_nor_drops_a_reason(a in input(), b in input(), rules in rules()) {
        let before = classify(&a, &rules);
        let after = classify(&merge(&a, &b), &rules);
        prop_assert!(after.tier >= before.tier, "{:?} -> {:?}", before, after);
        for r in before.reasons.iter().filter(|r| r.fact != Fact::NoChange) {
            // A merged rehearsal measures the worse of both, so its facts carry other numbers.
            let rehearsal = matches!(r.fact, Fact::RehearsalBlocking { .. } | Fact::RehearsalDuration { .. } | Fact::RehearsalErrors { .. });
            let kept = if rehearsal { after.reasons.iter().any(|a| a.rule == r.rule) } else { after.reasons.contains(r) };
            prop_assert!(kept, "{:?} lost", r);
        }
        prop_assert!(!after.reasons.is_empty());
        prop_assert_eq!(Some(after.tier), after.reasons.iter().map(|r| r.tier).max());
    }

    #[test]
    fn only_someone_else_can_approve_a_lowering(
        input in input(),
        to in tier(),
        author in "[a-z]{1,8}",
        upper in any::<bool>(),
    ) {
        let c = classify(&input, &RiskRules::default());
        let approver = if upper { author.to_uppercase() } else { author.clone() };
        let lowering = TierRequest::Lower(Override { to, reason: "because".into(), approver });
        prop_assert!(decide(&c, &author, Some(&lowering)).is_err());

        let by_other = TierRequest::Lower(Override { to, reason: "because".into(), approver: format!("{author}-2") });
        match decide(&c, &author, Some(&by_other)) {
            Ok(d) => prop_assert!(d.effective == to && to < d.computed),
            Err(_) => prop_assert!(to >= c.tier),
        }
        let raise = TierRequest::Raise { to, reason: "because".into() };
        match decide(&c, &author, Some(&raise)) {
            Ok(d) => prop_assert!(d.effective == to && to > d.computed),
            Err(_) => prop_assert!(to <= c.tier),
        }
    }
}
