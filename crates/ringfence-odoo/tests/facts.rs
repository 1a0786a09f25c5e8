//! Change facts and the checksum strategy on the hand-written trees `fixtures/checksum/{old,new}` and
//! the tenant snapshot `fixtures/checksum/tenant.json`, whose stored checksums are the Python
//! reference's for OLD with French active (and `false` for `stock_untouched`).
//!
//! What changes from OLD to NEW, by design of the fixtures:
//! - `shop_base`: code changes, version kept; its `static/`, `.pot` and `.pyc` files change too;
//! - `shop_assets`: only `static/` changes;
//! - `shop_pydeps`: version 1.0.0 → 1.1.0, a pre-migration with SQL, new python (`zeep`) and bin
//!   (`wkhtmltopdf`) dependencies;
//! - `shop_tests`: only `tests/` changes; `shop_translate`: only `i18n/de.po` changes;
//! - `sale_shop_ext`, `stock_untouched`: unchanged, both depend on `shop_base`;
//! - `shop_connector` is new (python `paramiko`), `shop_retired` is gone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ringfence_odoo::facts::{AnalysisOptions, CriticalDomains, StrategyChoice, analyse};
use ringfence_odoo::{Addon, AddonSet, InstalledModule, InstalledState, ModuleState, OdooError, Reason, Series};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checksum")
}

fn tree(name: &str) -> AddonSet {
    let mut set = AddonSet::new();
    assert!(set.add_addons_path(&fixtures().join(name)).unwrap().is_empty());
    set
}

fn options(strategy: StrategyChoice) -> AnalysisOptions {
    AnalysisOptions {
        series: "17.0".parse::<Series>().unwrap(),
        image_modules: ["base", "web"].into_iter().map(String::from).collect(),
        strategy,
        critical: CriticalDomains::default(),
    }
}

fn tenant() -> InstalledState {
    InstalledState::read_json(&fixtures().join("tenant.json")).unwrap()
}

fn names<'a>(items: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    items.into_iter().map(String::as_str).collect()
}

#[test]
fn checksum_strategy_upgrades_changed_modules_and_their_dependents() {
    let (old, new) = (tree("old"), tree("new"));
    let a = analyse("tenant.json", Some(&old), &new, &tenant(), &options(StrategyChoice::Checksum)).unwrap();
    let upgraded: Vec<(&str, &Reason)> = a.plan.upgrade.iter().map(|c| (c.name.as_str(), &c.reason)).collect();
    assert_eq!(upgraded.len(), 4, "{upgraded:?}");
    assert_eq!(upgraded[0].0, "sale_shop_ext");
    assert_eq!(upgraded[0].1, &Reason::Dependent { of: "shop_base".into() });
    assert_eq!(upgraded[1].0, "shop_base");
    assert!(matches!(upgraded[1].1, Reason::ChecksumChanged { stored: Some(_), .. }), "{:?}", upgraded[1]);
    assert_eq!(upgraded[2].0, "shop_pydeps");
    assert!(matches!(upgraded[2].1, Reason::ChecksumChanged { stored: Some(_), .. }));
    // Stored as `false`: click-odoo-update upgrades it whatever its content.
    assert_eq!(upgraded[3].0, "stock_untouched");
    assert!(matches!(upgraded[3].1, Reason::ChecksumChanged { stored: None, .. }));
    // Changes only to assets, tests or an inactive language do not upgrade.
    for quiet in ["shop_assets", "shop_tests", "shop_translate"] {
        assert!(a.plan.upgrade.iter().all(|c| c.name != quiet), "{quiet}");
    }
    assert_eq!(a.plan.unchecked, ["base", "web"], "the image's modules cannot be hashed here");
    assert!(a.plan.is_safe_to_run());

    let t = &a.tenant;
    assert_eq!(t.strategy, "checksum");
    assert_eq!(t.scripts.len(), 1);
    assert_eq!(t.scripts[0].path, "migrations/17.0.1.1.0/pre-migrate.py");
    assert_eq!(t.sql.len(), 1);
    assert_eq!(t.sql[0].sql.as_deref(), Some("ALTER TABLE shop_pydeps_log ADD COLUMN ref varchar"));
    assert_eq!(names(&t.critical_domains_touched), ["sale_shop_ext", "stock_untouched"]);
    assert_eq!(t.critical_domains[0].domain, "sale*");
    let deps: Vec<(&str, &str, Vec<&str>)> =
        t.dependency_changes.iter().map(|d| (d.module.as_str(), d.kind, names(&d.added))).collect();
    assert_eq!(deps, [("shop_pydeps", "python", vec!["zeep"]), ("shop_pydeps", "bin", vec!["wkhtmltopdf"])]);
    assert_eq!((t.image_only, t.assets_only), (Some(false), Some(false)));
}

#[test]
fn version_bump_on_the_same_tenant_upgrades_only_the_bumped_module() {
    let (old, new) = (tree("old"), tree("new"));
    let a = analyse("tenant.json", Some(&old), &new, &tenant(), &options(StrategyChoice::VersionBump)).unwrap();
    let upgraded: Vec<&str> = a.plan.upgrade.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(upgraded, ["shop_pydeps"]);
    assert!(a.plan.unchecked.is_empty());
    // shop_base's code changed without a bump: the tenant runs new code, so it is not image-only.
    assert_eq!(a.tenant.image_only, Some(false));
}

#[test]
fn release_facts_say_what_changed_and_how() {
    let (old, new) = (tree("old"), tree("new"));
    let a = analyse("tenant.json", Some(&old), &new, &tenant(), &options(StrategyChoice::VersionBump)).unwrap();
    let r = a.release.unwrap();
    assert_eq!(r.modules_added, ["shop_connector"]);
    assert_eq!(r.modules_removed, ["shop_retired"]);
    let changed: Vec<(&str, bool)> = r.modules_changed.iter().map(|m| (m.module.as_str(), m.assets_only)).collect();
    assert_eq!(
        changed,
        [
            ("shop_assets", true),
            ("shop_base", false),
            ("shop_pydeps", false),
            ("shop_tests", false),
            ("shop_translate", false)
        ]
    );
    let base = &r.modules_changed[1];
    assert_eq!(
        names(&base.changed_files),
        ["i18n/shop_base.pot", "models/shop.py", "static/description/index.html"],
        "the .pyc is not content"
    );
    assert_ne!(base.checksum_from, base.checksum_to);
    let assets = &r.modules_changed[0];
    assert_eq!(assets.checksum_from, assets.checksum_to, "static/ is not hashed");
    assert_eq!(names(&assets.changed_files), ["static/src/js/shop.js"]);
    let pydeps = &r.modules_changed[2];
    assert_eq!((pydeps.from_version.as_str(), pydeps.to_version.as_str()), ("17.0.1.0.0", "17.0.1.1.0"));
    assert_eq!(pydeps.scripts, ["migrations/17.0.1.1.0/pre-migrate.py"]);
    assert_eq!(r.python_added, ["paramiko", "zeep"]);
    assert!(r.python_removed.is_empty());
    assert_eq!(r.bin_added, ["wkhtmltopdf"]);
    let deps: Vec<(&str, &str)> = r.dependency_changes.iter().map(|d| (d.module.as_str(), d.kind)).collect();
    assert_eq!(deps, [("shop_connector", "python"), ("shop_pydeps", "python"), ("shop_pydeps", "bin")]);
    assert_eq!(names(&r.critical_domains_touched), ["shop_connector"]);
    assert_eq!(r.critical_domains[0].domain, "*connector*");
    assert!(!r.image_only && !r.assets_only);

    // The facts are data for the risk rules: they serialize.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["modules_changed"][0]["assets_only"], true);
}

#[test]
fn an_assets_only_release_upgrades_nothing_and_says_so() {
    let one = |tree: &str| {
        let mut set = AddonSet::new();
        set.insert(Addon::read_dir(&fixtures().join(tree).join("shop_assets")).unwrap().unwrap());
        set
    };
    let (old, new) = (one("old"), one("new"));
    let installed = InstalledState::from_modules([InstalledModule {
        name: "shop_assets".into(),
        state: ModuleState::Installed,
        version: Some(ringfence_odoo::ModuleVersion::parse("17.0.1.0.0").unwrap()),
    }]);
    for strategy in [StrategyChoice::VersionBump, StrategyChoice::Checksum] {
        let a = analyse("t", Some(&old), &new, &installed, &options(strategy.clone())).unwrap();
        let r = a.release.as_ref().unwrap();
        assert!(r.assets_only && !r.image_only, "{strategy:?}");
        assert!(a.plan.upgrade.is_empty(), "{strategy:?}: {:?}", a.plan.upgrade);
        assert_eq!((a.tenant.image_only, a.tenant.assets_only), (Some(false), Some(true)), "{strategy:?}");
    }
}

#[test]
fn the_same_trees_are_an_image_only_release() {
    let (old, new) = (tree("old"), tree("old"));
    let a = analyse("t", Some(&old), &new, &tenant(), &options(StrategyChoice::VersionBump)).unwrap();
    let r = a.release.unwrap();
    assert!(r.image_only && !r.assets_only);
    assert!(r.modules_changed.is_empty() && r.dependency_changes.is_empty());
    assert_eq!((a.tenant.image_only, a.tenant.assets_only), (Some(true), Some(false)));
}

#[test]
fn without_old_trees_the_checksum_strategy_needs_stored_checksums() {
    let new = tree("new");
    // The snapshot has them: planning works, content verdicts are unknown.
    let a = analyse("t", None, &new, &tenant(), &options(StrategyChoice::Checksum)).unwrap();
    assert_eq!(a.plan.upgrade.len(), 4);
    assert!(a.release.is_none());
    assert_eq!((a.tenant.image_only, a.tenant.assets_only), (None, None));
    // A plain list snapshot has none.
    let bare = InstalledState::parse_json(
        r#"[{"name": "shop_base", "state": "installed", "latest_version": "17.0.1.0.0"}]"#,
        Path::new("bare.json"),
    )
    .unwrap();
    let err = analyse("t", None, &new, &bare, &options(StrategyChoice::Checksum)).unwrap_err();
    assert!(matches!(err, OdooError::NoStoredChecksums), "{err}");
    assert!(err.to_string().contains("--from"), "{err}");
}

#[test]
fn critical_domains_are_configurable_globs() {
    let domains = CriticalDomains::default();
    for (module, domain) in [
        ("account_payment_order", Some("account*")),
        ("l10n_de", Some("l10n_*")),
        ("pos_restaurant", Some("pos_*")),
        ("queue_job", Some("queue_job")),
        ("queue_job_cron", None),
        ("shopify_connector_base", Some("*connector*")),
        ("website_sale_stock", Some("website_sale*")),
        ("website", None),
        ("l10n", None),
    ] {
        assert_eq!(domains.domain_of(module), domain, "{module}");
    }
    let custom = CriticalDomains::new(["shop_p*"]);
    let (old, new) = (tree("old"), tree("new"));
    let mut opts = options(StrategyChoice::VersionBump);
    opts.critical = custom;
    let a = analyse("t", Some(&old), &new, &tenant(), &opts).unwrap();
    assert_eq!(names(&a.tenant.critical_domains_touched), ["shop_pydeps"]);
    let release: BTreeSet<&str> =
        a.release.as_ref().unwrap().critical_domains_touched.iter().map(String::as_str).collect();
    assert_eq!(release, BTreeSet::from(["shop_pydeps"]));
}
