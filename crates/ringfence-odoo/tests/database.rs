//! Reading a tenant database: a real PostgreSQL cluster started by the test, holding `ir_module_module`
//! and `queue_job` tables shaped like Odoo 17's, with realistic rows.

use ringfence_odoo::database::{installed_state, queue_job_backlog, unfinished_modules};
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
