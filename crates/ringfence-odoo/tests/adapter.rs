//! The Odoo adapter commands against real things: upgrade templates rendered and run as an argv, the
//! post-upgrade verification and the queue_job reading against a real PostgreSQL cluster started by the
//! test (tables shaped like Odoo 17's `ir_module_module`, `queue_job` and `ir_config_parameter`, with
//! realistic rows), and the health check against an HTTP listener on loopback started by the test. That
//! listener stands in for Odoo, which cannot be installed here; it answers as Odoo 17's `/web/health`
//! does (and as a broken Odoo or a wrong service would). No traffic leaves loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringfence_odoo::adapter::{
    CLICK_ODOO_UPDATE, HealthCheck, ODOO_UPGRADE, OffendingModule, Unhealthy, UpgradeInvocation, UpgradeTemplate,
    queue_job_counts, verify_upgrade,
};
use ringfence_odoo::{ModuleState, OdooError};
use ringfence_pg::EphemeralCluster;

fn modules(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn render(template: &UpgradeTemplate, conf: Option<&str>, db: &str, mods: &[&str]) -> Result<Vec<String>, OdooError> {
    template.render(&UpgradeInvocation { conf, database: db, modules: &modules(mods) })
}

#[test]
fn the_odoo_and_click_odoo_update_templates_render_as_argv() {
    let odoo = UpgradeTemplate::odoo();
    assert_eq!(odoo.as_str(), ODOO_UPGRADE);
    assert!(odoo.takes_modules());
    assert_eq!(
        render(&odoo, Some("/etc/odoo/odoo.conf"), "shop_42", &["sale", "stock", "sale", "queue_job"]).unwrap(),
        [
            "odoo",
            "-c",
            "/etc/odoo/odoo.conf",
            "-d",
            "shop_42",
            "-u",
            "sale,stock,queue_job", // a module named twice is upgraded once
            "--stop-after-init"
        ]
    );

    let click = UpgradeTemplate::click_odoo_update();
    assert_eq!(click.as_str(), CLICK_ODOO_UPDATE);
    assert!(!click.takes_modules(), "click-odoo-update chooses modules by checksum");
    assert_eq!(
        render(&click, Some("/etc/odoo/odoo.conf"), "shop-1.eu", &[]).unwrap(),
        ["click-odoo-update", "-c", "/etc/odoo/odoo.conf", "-d", "shop-1.eu"]
    );

    // Placeholders inside a word, and templates without {conf} (configuration from the environment).
    let custom =
        UpgradeTemplate::parse("  /opt/odoo/odoo-bin  --database={db}\t-u {modules} --stop-after-init --no-http ")
            .unwrap();
    assert_eq!(
        render(&custom, None, "shop", &["l10n_be", "website_sale"]).unwrap(),
        ["/opt/odoo/odoo-bin", "--database=shop", "-u", "l10n_be,website_sale", "--stop-after-init", "--no-http"]
    );
}

#[test]
fn templates_are_checked_when_the_configuration_is_read() {
    let err = |text: &str| UpgradeTemplate::parse(text).unwrap_err();

    let e = err("odoo -d {db} -u {module} --stop-after-init");
    assert!(
        matches!(&e, OdooError::UnknownPlaceholder { template, name }
            if template == "odoo -d {db} -u {module} --stop-after-init" && name == "module"),
        "{e:?}"
    );
    assert!(e.to_string().contains("unknown placeholder `{module}`"), "{e}");
    assert!(e.to_string().contains("{conf}, {db} and {modules}"), "{e}");

    assert!(matches!(err("odoo -d {db -u x"), OdooError::UnmatchedBrace { brace: '{', .. }));
    assert!(matches!(err("odoo -d db} "), OdooError::UnmatchedBrace { brace: '}', .. }));
    assert!(matches!(err("odoo -d {{db}}"), OdooError::UnmatchedBrace { .. }));
    assert!(matches!(err("odoo -d {db} -u {modules}; rm -rf /"), OdooError::ShellSyntax { found, .. } if found == ";"));
    assert!(matches!(err("odoo -d \"{db}\""), OdooError::ShellSyntax { .. }));
    assert!(matches!(err("odoo -d $DB"), OdooError::ShellSyntax { .. }));
    assert!(matches!(err("{conf} -d {db}"), OdooError::TemplatedProgram { .. }));
    assert!(matches!(err("   "), OdooError::EmptyTemplate));
    let e = err("odoo -c {conf} -u {modules} --stop-after-init");
    assert!(matches!(e, OdooError::MissingDatabase { .. }));
    assert!(e.to_string().contains("add `-d {db}`"), "{e}");

    // As a configuration value: a YAML/JSON string that fails to parse says why.
    let ok: UpgradeTemplate = serde_json::from_str("\"click-odoo-update -c {conf} -d {db}\"").unwrap();
    assert_eq!(ok, UpgradeTemplate::click_odoo_update());
    assert_eq!(serde_json::to_string(&ok).unwrap(), "\"click-odoo-update -c {conf} -d {db}\"");
    let bad = serde_json::from_str::<UpgradeTemplate>("\"odoo -d {tenant}\"").unwrap_err();
    assert!(bad.to_string().contains("unknown placeholder `{tenant}`"), "{bad}");
}

#[test]
fn names_that_could_become_options_or_commands_are_refused() {
    let odoo = UpgradeTemplate::odoo();
    let conf = Some("/etc/odoo/odoo.conf");
    for module in ["sale;rm", "-i", "--load=evil", "sale,stock", "2fa", "web sale", "", "ståck", "a/b", "sale\n"] {
        let e = render(&odoo, conf, "shop", &["base", module]).unwrap_err();
        assert!(matches!(&e, OdooError::InvalidModule { name } if name == module), "{module:?}: {e:?}");
    }
    for db in ["--help", "-dshop", "", ".hidden", "shop db", "shop;drop", "x".repeat(64).as_str(), "shöp"] {
        let e = render(&odoo, conf, db, &["sale"]).unwrap_err();
        assert!(matches!(&e, OdooError::InvalidDatabase { name } if name == db), "{db:?}: {e:?}");
    }
    assert!(render(&odoo, conf, &"x".repeat(63), &["all"]).is_ok(), "63 bytes and `-u all` are fine");
    assert!(matches!(render(&odoo, conf, "shop", &[]), Err(OdooError::NoModules { .. })));
    let e = render(&odoo, None, "shop", &["sale"]).unwrap_err();
    assert!(e.to_string().contains("no Odoo configuration file"), "{e}");
    assert!(matches!(render(&odoo, Some("--addons-path=/tmp"), "shop", &["sale"]), Err(OdooError::InvalidConf { .. })));
}

/// The rendered argv reaches the program argument by argument: a stand-in for `odoo` (a shell script
/// that writes its arguments one per line) receives a configuration path with a space as one argument.
#[test]
fn a_rendered_command_runs_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("odoo");
    let seen = dir.path().join("argv");
    std::fs::write(
        &program,
        format!("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n", seen.display()),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let template = UpgradeTemplate::parse(&format!(
        "{} -c {{conf}} -d {{db}} -u {{modules}} --stop-after-init",
        program.display()
    ))
    .unwrap();
    let argv = render(&template, Some("/etc/odoo conf/odoo.conf"), "shop_7", &["sale", "stock"]).unwrap();
    let status = std::process::Command::new(&argv[0]).args(&argv[1..]).status().unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().lines().collect::<Vec<_>>(),
        ["-c", "/etc/odoo conf/odoo.conf", "-d", "shop_7", "-u", "sale,stock", "--stop-after-init"]
    );
}

/// Odoo 17's tables, reduced to the columns Ringfence reads plus the ones that make rows realistic.
/// Timestamps are UTC without time zone, as Odoo stores them.
const SCHEMA: &str = "
CREATE TABLE ir_module_module (
    id serial PRIMARY KEY,
    name varchar NOT NULL UNIQUE,
    state varchar(16),
    latest_version varchar,
    shortdesc jsonb,
    author varchar,
    license varchar(32),
    auto_install boolean DEFAULT false,
    create_date timestamp DEFAULT (now() AT TIME ZONE 'UTC'),
    write_date timestamp DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE INDEX ir_module_module_state_index ON ir_module_module (state);
CREATE TABLE ir_config_parameter (
    id serial PRIMARY KEY,
    key varchar NOT NULL UNIQUE,
    value text NOT NULL
);
INSERT INTO ir_config_parameter (key, value) VALUES
  ('database.uuid', '0b6d1e4e-4a9b-11ef-9a4c-0242ac120002'),
  ('database.create_date', '2024-03-04 09:12:55'),
  ('web.base.url', 'https://shop-7.example.net'),
  ('module_auto_update.installed_checksums', '{\"sale\": \"3c5b8f1e\", \"stock\": \"9a0f77d2\"}');
CREATE TABLE queue_job (
    id serial PRIMARY KEY,
    uuid varchar NOT NULL UNIQUE,
    name varchar,
    model_name varchar,
    method_name varchar,
    state varchar NOT NULL,
    channel varchar,
    priority integer DEFAULT 10,
    retry integer DEFAULT 0,
    max_retries integer DEFAULT 5,
    exc_info text,
    date_created timestamp,
    date_enqueued timestamp,
    date_started timestamp,
    date_done timestamp,
    eta timestamp
);
CREATE INDEX queue_job_state_index ON queue_job (state);
";

const MODULES_AFTER_FAILED_UPGRADE: &str = "
INSERT INTO ir_module_module (name, state, latest_version, shortdesc, author, license) VALUES
  ('base', 'installed', '17.0.1.3', '{\"en_US\": \"Base\"}', 'Odoo S.A.', 'LGPL-3'),
  ('web', 'installed', '17.0.1.0', '{\"en_US\": \"Web\"}', 'Odoo S.A.', 'LGPL-3'),
  ('sale', 'installed', '17.0.1.2', '{\"en_US\": \"Sales\"}', 'Odoo S.A.', 'LGPL-3'),
  ('stock', 'to upgrade', '17.0.1.1', '{\"en_US\": \"Inventory\"}', 'Odoo S.A.', 'LGPL-3'),
  ('queue_job', 'to upgrade', '17.0.1.3.0', '{\"en_US\": \"Job Queue\"}',
   'Camptocamp,ACSONE SA/NV,Odoo Community Association (OCA)', 'LGPL-3'),
  ('queue_job_cron', 'to install', NULL, '{\"en_US\": \"Scheduled Actions as Queue Jobs\"}',
   'ACSONE SA/NV,Odoo Community Association (OCA)', 'AGPL-3'),
  ('website_sale', 'uninstalled', NULL, '{\"en_US\": \"eCommerce\"}', 'Odoo S.A.', 'LGPL-3'),
  ('hr_expense', 'to remove', '17.0.2.0', '{\"en_US\": \"Expenses\"}', 'Odoo S.A.', 'LGPL-3');
";

fn cluster_with_odoo_tables(db: &str) -> EphemeralCluster {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    pg.create_database(db).unwrap();
    pg.psql(db, SCHEMA).unwrap();
    pg
}

#[test]
fn verification_lists_modules_left_half_way_and_those_not_installed() {
    let pg = cluster_with_odoo_tables("shop_7");
    pg.psql("shop_7", MODULES_AFTER_FAILED_UPGRADE).unwrap();
    let (bins, target) = (pg.binaries().clone(), pg.target());

    // The upgrade was asked for sale, stock, queue_job and website_sale (which the tenant never
    // installed), and a module the database has never heard of.
    let asked = modules(&["sale", "stock", "queue_job", "website_sale", "pos_loyalty_ghost"]);
    let report = verify_upgrade(&bins, &target, "shop_7", &asked).unwrap();
    assert!(!report.is_complete());
    let offending = |name: &str, state: Option<ModuleState>| OffendingModule { name: name.into(), state };
    assert_eq!(
        report.unfinished,
        [
            offending("hr_expense", Some(ModuleState::ToRemove)),
            offending("queue_job", Some(ModuleState::ToUpgrade)),
            offending("queue_job_cron", Some(ModuleState::ToInstall)),
            offending("stock", Some(ModuleState::ToUpgrade)),
        ]
    );
    assert_eq!(
        report.not_installed,
        [offending("website_sale", Some(ModuleState::Uninstalled)), offending("pos_loyalty_ghost", None)]
    );
    let text = report.to_string();
    assert!(text.contains("left half-way: hr_expense (to remove), queue_job (to upgrade)"), "{text}");
    assert!(text.contains("pos_loyalty_ghost (not in ir_module_module)"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["unfinished"][1], serde_json::json!({"name": "queue_job", "state": "to upgrade"}));
    assert_eq!(json["not_installed"][1], serde_json::json!({"name": "pos_loyalty_ghost", "state": null}));

    // What a successful `odoo -u` leaves: states settled, versions bumped.
    pg.psql(
        "shop_7",
        "UPDATE ir_module_module SET state = 'installed', latest_version = '17.0.1.5.4' WHERE name = 'queue_job';
         UPDATE ir_module_module SET state = 'installed', latest_version = '17.0.1.2' WHERE name = 'stock';
         UPDATE ir_module_module SET state = 'installed', latest_version = '17.0.1.0.0' WHERE name = 'queue_job_cron';
         UPDATE ir_module_module SET state = 'uninstalled' WHERE name = 'hr_expense';",
    )
    .unwrap();
    let report = verify_upgrade(&bins, &target, "shop_7", &modules(&["sale", "stock", "queue_job", "all"])).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.to_string(), "shop_7: upgrade complete, no module left half-way");
    // click-odoo-update chose its modules itself: only the half-way check applies.
    assert!(verify_upgrade(&bins, &target, "shop_7", &[]).unwrap().is_complete());

    let err = verify_upgrade(&bins, &target, "shop_404", &[]).unwrap_err();
    assert!(matches!(&err, OdooError::Database { database, .. } if database == "shop_404"), "{err}");
}

#[test]
fn queue_job_counts_read_the_backlog_and_recent_throughput() {
    let pg = cluster_with_odoo_tables("shop_7");
    // 200 jobs spread over the states of OCA queue_job 17: the backlog now, failures not requeued, done
    // jobs over the last 17 hours (only those of the window count), and cancelled ones.
    pg.psql(
        "shop_7",
        "INSERT INTO queue_job (uuid, name, model_name, method_name, state, channel, date_created, date_enqueued,
                                date_started, date_done, exc_info)
         SELECT md5(i::text),
                'Export order ' || i || ' to the marketplace', 'sale.order', 'export_to_marketplace', s.state,
                'root.marketplace',
                (now() AT TIME ZONE 'UTC') - make_interval(mins => i),
                CASE WHEN s.state IN ('enqueued', 'started', 'done', 'failed')
                     THEN (now() AT TIME ZONE 'UTC') - make_interval(mins => i) END,
                CASE WHEN s.state IN ('started', 'done', 'failed')
                     THEN (now() AT TIME ZONE 'UTC') - make_interval(mins => i) END,
                CASE WHEN s.state = 'done' THEN (now() AT TIME ZONE 'UTC') - make_interval(mins => 5 * i) END,
                CASE WHEN s.state = 'failed' THEN 'Traceback (most recent call last): ... ConnectionError' END
         FROM generate_series(1, 200) AS i,
              LATERAL (SELECT (ARRAY['pending', 'pending', 'enqueued', 'started', 'done', 'done', 'done', 'done',
                                     'failed', 'wait_dependencies', 'cancelled', 'done'])[1 + i % 12] AS state) s;
         -- The oldest waiting job: created five hours ago (the others at most 200 minutes), still pending.
         INSERT INTO queue_job (uuid, state, channel, date_created)
           VALUES ('stuck', 'pending', 'root', (now() AT TIME ZONE 'UTC') - interval '5 hours');",
    )
    .unwrap();
    let expected = |sql: &str| -> u64 { pg.psql("shop_7", sql).unwrap().trim().parse().unwrap() };
    let done_last_hour = expected(
        "SELECT count(*) FROM queue_job WHERE state = 'done'
           AND date_done >= (now() AT TIME ZONE 'UTC') - interval '1 hour'",
    );
    let (bins, target) = (pg.binaries().clone(), pg.target());

    let counts = queue_job_counts(&bins, &target, "shop_7", Duration::from_secs(3600)).unwrap();
    assert_eq!(counts.pending, expected("SELECT count(*) FROM queue_job WHERE state = 'pending'"));
    assert_eq!(counts.pending, 16 + 17 + 1, "two pending slots in 200 rows, plus the stuck job");
    assert_eq!(counts.enqueued, 17);
    assert_eq!(counts.started, 17);
    assert_eq!(counts.failed, 17);
    assert_eq!(counts.wait_dependencies, 16);
    assert_eq!(counts.other, [("cancelled".to_string(), 16)].into());
    assert_eq!(counts.backlog(), 34 + 17 + 17 + 16);
    assert_eq!(counts.done_in_window, done_last_hour);
    assert_eq!(counts.done_in_window, 5, "done 20, 25, 30, 35 and 55 minutes ago");
    let age = counts.oldest_waiting_seconds.unwrap();
    assert!((5.0 * 3600.0..5.0 * 3600.0 + 120.0).contains(&age), "the oldest waiting job is 5 h old: {age}");

    // A wider window counts more done jobs; the backlog does not depend on it.
    let day = queue_job_counts(&bins, &target, "shop_7", Duration::from_secs(86_400)).unwrap();
    assert_eq!(
        day.done_in_window,
        expected(
            "SELECT count(*) FROM queue_job WHERE state = 'done' AND date_done >= (now() AT TIME ZONE 'UTC') - interval '1 day'"
        )
    );
    assert_eq!(day.done_in_window, 84, "every done job finished within 200 * 5 minutes");
    assert_eq!(day.backlog(), counts.backlog());
    let json = serde_json::to_value(&day).unwrap();
    assert_eq!(json["pending"], 34);

    // An idle queue: nothing waiting, no age.
    pg.psql("shop_7", "DELETE FROM queue_job WHERE state <> 'done'").unwrap();
    let idle = queue_job_counts(&bins, &target, "shop_7", Duration::from_secs(3600)).unwrap();
    assert_eq!(idle.backlog(), 0);
    assert_eq!(idle.oldest_waiting_seconds, None);
    assert!(idle.other.is_empty());

    // A tenant without queue_job installed has no such table.
    pg.create_database("bare").unwrap();
    let err = queue_job_counts(&bins, &target, "bare", Duration::from_secs(60)).unwrap_err();
    assert!(matches!(&err, OdooError::Database { message, .. } if message.contains("queue_job")), "{err}");
}

/// A loopback HTTP listener standing in for Odoo: it answers each connection with the next canned
/// response and reports the request line it received.
struct StandIn {
    base_url: String,
    requests: mpsc::Receiver<String>,
}

fn stand_in(responses: Vec<(u16, &'static str, &'static str)>) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, content_type, body) in responses {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            // Drain the headers; the request has no body.
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let _ = tx.send(request_line.trim_end().to_owned());
            answer(stream, status, content_type, body);
        }
    });
    StandIn { base_url, requests }
}

fn answer(mut stream: TcpStream, status: u16, content_type: &str, body: &str) {
    let (reason, location) = match status {
        200 => ("OK", ""),
        // What a proxy in front of Odoo does when it wants a login first.
        302 => ("Found", "Location: /web/login\r\n"),
        _ => ("Internal Server Error", ""),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\n{location}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

const JSON: &str = "application/json";

#[test]
fn health_check_passes_only_on_odoo_17s_healthy_answer() {
    let odoo = stand_in(vec![
        (200, JSON, r#"{"status": "pass", "db_server_status": true}"#),
        // Odoo 17 when it cannot connect to PostgreSQL.
        (500, JSON, r#"{"status": "fail", "db_server_status": false}"#),
        (200, JSON, r#"{"status": "pass", "db_server_status": false}"#),
        // Odoo 16 ignores db_server_status.
        (200, JSON, r#"{"status": "pass"}"#),
        // Something else answering on the port.
        (200, "text/html", "<html><body>Welcome to nginx!</body></html>"),
        (200, JSON, r#"{"status": "fail", "db_server_status": true}"#),
        (502, "text/plain", "Bad Gateway"),
        (302, "text/html", "<a href=\"/web/login\">redirect</a>"),
    ]);
    let check = HealthCheck::new(&format!("{}/", odoo.base_url), Duration::from_secs(5)).unwrap();
    assert_eq!(check.url(), format!("{}/web/health?db_server_status=1", odoo.base_url));

    let healthy = check.check();
    assert!(healthy.is_healthy(), "{healthy}");
    assert_eq!(healthy.status, Some(200));
    assert_eq!(odoo.requests.recv().unwrap(), "GET /web/health?db_server_status=1 HTTP/1.1");

    let report = check.check();
    assert_eq!(report.status, Some(500));
    assert!(matches!(&report.unhealthy, Some(Unhealthy::Status { status: 500, body }) if body.contains("fail")));
    assert!(report.to_string().contains("unhealthy: status 500"), "{report}");

    assert_eq!(check.check().unhealthy, Some(Unhealthy::DatabaseServerDown));
    assert_eq!(check.check().unhealthy, Some(Unhealthy::DatabaseServerUnchecked));
    let report = check.check();
    assert!(matches!(&report.unhealthy, Some(Unhealthy::NotHealthJson { body }) if body.contains("nginx")));
    assert_eq!(check.check().unhealthy, Some(Unhealthy::Failing { status: "fail".into() }));
    let report = check.check();
    assert!(matches!(&report.unhealthy, Some(Unhealthy::Status { status: 502, .. })));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["unhealthy"]["reason"], "status");
    // A redirect is not followed: whatever it leads to is not Odoo's health answer.
    let report = check.check();
    assert!(matches!(&report.unhealthy, Some(Unhealthy::Status { status: 302, .. })), "{report}");
    assert_eq!(odoo.requests.iter().count(), 7, "one request per check, none for the redirect");
}

#[test]
fn an_odoo_that_does_not_answer_is_unhealthy_within_the_timeout() {
    // Accepts connections and never answers, like a worker stuck in a long request.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let check = HealthCheck::new(&base_url, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let report = check.check();
    assert!(matches!(report.unhealthy, Some(Unhealthy::Unreachable { .. })), "{report}");
    assert_eq!(report.status, None);
    assert!(started.elapsed() < Duration::from_secs(5), "timed out after {:?}", started.elapsed());
    drop(listener);

    // Nothing listening at all.
    let report = check.check();
    assert!(matches!(report.unhealthy, Some(Unhealthy::Unreachable { .. })), "{report}");
}

#[test]
fn health_check_urls_are_checked_when_the_configuration_is_read() {
    let bad = |url: &str| HealthCheck::new(url, Duration::from_secs(1)).unwrap_err();
    assert!(bad("https://odoo.shop:8069").to_string().contains("https is not supported"));
    assert!(bad("odoo.shop:8069").to_string().contains("must start with http://"));
    assert!(bad("http://").to_string().contains("names no host"));
    assert!(bad("http://odoo:8069/web/health?db_server_status=1").to_string().contains("without query"));
    assert!(bad("http://admin:secret@odoo:8069").to_string().contains("credentials"));
    assert!(matches!(HealthCheck::new("http://odoo:8069", Duration::ZERO), Err(OdooError::InvalidUrl { .. })));
    let prefixed = HealthCheck::new("http://127.0.0.1:8069/tenant-7", Duration::from_secs(1)).unwrap();
    assert_eq!(prefixed.url(), "http://127.0.0.1:8069/tenant-7/web/health?db_server_status=1");
}
