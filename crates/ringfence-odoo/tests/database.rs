//! Reading a tenant database: a real PostgreSQL cluster started by the test, holding `ir_module_module`
//! and `queue_job` tables shaped like Odoo 17's, with realistic rows.

use ringfence_odoo::database::{installed_state, queue_job_backlog, tenant_checksums, unfinished_modules};
use ringfence_odoo::{ModuleState, OdooError};
use ringfence_pg::EphemeralCluster;

const SCHEMA: &str = "
CREATE TABLE ir_module_module (
    id serial PRIMARY KEY,
    name varchar NOT NULL UNIQUE,
    state varchar(16),
    latest_version varchar,
    shortdesc jsonb,
    author varchar,
    auto_install boolean DEFAULT false,
    create_date timestamp DEFAULT now()
);
INSERT INTO ir_module_module (name, state, latest_version, shortdesc, author) VALUES
  ('base', 'installed', '17.0.1.3', '{\"en_US\": \"Base\"}', 'Odoo S.A.'),
  ('web', 'installed', '17.0.1.0', '{\"en_US\": \"Web\"}', 'Odoo S.A.'),
  ('sale', 'installed', '17.0.1.2', '{\"en_US\": \"Sales\"}', 'Odoo S.A.'),
  ('queue_job', 'to upgrade', '17.0.1.3.0', '{\"en_US\": \"Job Queue\"}', 'Camptocamp,ACSONE SA/NV,Odoo Community Association (OCA)'),
  ('queue_job_cron', 'to install', NULL, '{\"en_US\": \"Scheduled Actions as Queue Jobs\"}', 'ACSONE SA/NV,Odoo Community Association (OCA)'),
  ('website', 'uninstalled', NULL, '{\"en_US\": \"Website\"}', 'Odoo S.A.');
CREATE TABLE queue_job (
    id serial PRIMARY KEY,
    uuid varchar NOT NULL UNIQUE,
    state varchar NOT NULL,
    channel varchar,
    date_created timestamp DEFAULT now()
);
INSERT INTO queue_job (uuid, state, channel)
  SELECT md5(i::text), (ARRAY['pending','pending','enqueued','started','done','done','done','failed'])[1 + i % 8], 'root'
  FROM generate_series(1, 80) AS i;
";

#[test]
fn reads_installed_modules_unfinished_upgrades_and_the_job_backlog() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    pg.create_database("shop").unwrap();
    pg.psql("shop", SCHEMA).unwrap();
    let bins = pg.binaries().clone();
    let target = pg.target();

    let state = installed_state(&bins, &target, "shop").unwrap();
    let base = state.get("base").unwrap();
    assert_eq!(base.state, ModuleState::Installed);
    assert_eq!(base.version.as_ref().map(|v| v.as_str()), Some("17.0.1.3"));
    assert_eq!(state.get("queue_job_cron").unwrap().version, None);
    assert!(state.is_installed("sale"));
    assert!(!state.is_installed("website"));

    let unfinished = unfinished_modules(&bins, &target, "shop").unwrap();
    assert_eq!(
        unfinished,
        [("queue_job".to_string(), "to upgrade".to_string()), ("queue_job_cron".to_string(), "to install".to_string())]
    );
    pg.psql("shop", "UPDATE ir_module_module SET state = 'installed' WHERE state IN ('to upgrade', 'to install')")
        .unwrap();
    assert!(unfinished_modules(&bins, &target, "shop").unwrap().is_empty(), "a complete upgrade leaves nothing");

    let backlog = queue_job_backlog(&bins, &target, "shop").unwrap();
    assert_eq!(backlog["pending"], 20);
    assert_eq!(backlog["enqueued"], 10);
    assert_eq!(backlog["started"], 10);
    assert_eq!(backlog["done"], 30);
    assert_eq!(backlog["failed"], 10);
    assert_eq!(backlog.values().sum::<u64>(), 80);
}

#[test]
fn a_tenant_without_queue_job_or_a_wrong_database_says_so() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    pg.create_database("bare").unwrap();
    let (bins, target) = (pg.binaries().clone(), pg.target());
    let err = queue_job_backlog(&bins, &target, "bare").unwrap_err();
    assert!(matches!(&err, OdooError::Database { message, .. } if message.contains("queue_job")), "{err}");
    let err = installed_state(&bins, &target, "nope").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// The checksums click-odoo-update stored, read as it reads them: `ir_config_parameter` and the active
/// languages of `res_lang`; a database without the parameter has none stored (everything upgrades).
#[test]
fn reads_the_stored_checksums_and_what_they_were_computed_with() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    pg.create_database("shop").unwrap();
    pg.psql(
        "shop",
        "CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL);
         CREATE TABLE res_lang (id serial PRIMARY KEY, code varchar NOT NULL UNIQUE, active boolean);
         INSERT INTO res_lang (code, active) VALUES ('en_US', true), ('fr_BE', true), ('de_DE', false);
         INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', 'x');",
    )
    .unwrap();
    let (bins, target) = (pg.binaries().clone(), pg.target());
    let none = tenant_checksums(&bins, &target, "shop").unwrap();
    assert!(none.installed.is_empty() && none.exclude_patterns.is_none());
    assert_eq!(none.languages, ["en_US", "fr_BE"]);

    pg.psql(
        "shop",
        "INSERT INTO ir_config_parameter (key, value) VALUES
           ('module_auto_update.installed_checksums', '{\"queue_job\": \"57bd0d0fce1d07e43140d11bebe1fd5bf28a851b\", \"gone\": false}'),
           ('module_auto_update.exclude_patterns', '*.pyc,static/*');",
    )
    .unwrap();
    let sums = tenant_checksums(&bins, &target, "shop").unwrap();
    assert_eq!(sums.installed["queue_job"].as_deref(), Some("57bd0d0fce1d07e43140d11bebe1fd5bf28a851b"));
    assert_eq!(sums.installed["gone"], None);
    assert_eq!(sums.exclude_patterns.as_deref(), Some("*.pyc,static/*"));
    // The tenant's own patterns: tests/ counts for it, static/ does not; German is not active.
    let rules = sums.rules();
    assert!(rules.counts("tests/test_a.py") && !rules.counts("static/x.js") && !rules.counts("i18n/de.po"));

    pg.psql(
        "shop",
        "UPDATE ir_config_parameter SET value = 'not json' WHERE key = 'module_auto_update.installed_checksums'",
    )
    .unwrap();
    let err = tenant_checksums(&bins, &target, "shop").unwrap_err().to_string();
    assert!(err.contains("not JSON") && err.contains("--only-compute-hashes"), "{err}");
}
