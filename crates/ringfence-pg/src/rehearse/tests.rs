use std::collections::BTreeSet;

use super::*;
use crate::probe::{ProbeStats, ProbeTableReport};
use crate::trace::{LockHold, LockWait, RelationState};

const APP: &str = "ringfence-migrate-run1";

fn state(relfilenode: u64) -> RelationState {
    RelationState { relfilenode, size_bytes: 8192 * 100, rows_estimate: 1000.0 }
}

fn relation(oid: u32, name: &str, kind: &str, table: Option<&str>, rewritten: bool) -> RelationTrace {
    RelationTrace {
        oid,
        schema: Some("public".into()),
        name: name.into(),
        kind: Some(kind.into()),
        table: table.map(Into::into),
        before: Some(state(u64::from(oid))),
        after: Some(state(u64::from(oid) + u64::from(rewritten))),
        rewritten,
        transient: false,
        holds: Vec::new(),
        waits: Vec::new(),
    }
}

fn hold(mode: LockMode, pid: i32, app: &str, spans: &[(f64, f64)]) -> LockHold {
    LockHold {
        mode,
        pid,
        application_name: app.into(),
        first_seen_ms: spans[0].0,
        last_seen_ms: spans[spans.len() - 1].1,
        max_continuous_ms: spans.iter().map(|(s, e)| e - s).fold(0.0, f64::max),
        samples: 10,
        spans: spans.iter().map(|&(start_ms, end_ms)| Span { start_ms, end_ms }).collect(),
    }
}

fn trace(relations: Vec<RelationTrace>) -> Trace {
    Trace {
        database: "rf_rehearsal_shop_00000000".into(),
        started_at: "2026-11-27T12:00:00Z".parse().unwrap(),
        duration_ms: 3000.0,
        interval_ms: 20.0,
        samples: 150,
        max_gap_ms: 25.0,
        relations,
    }
}

fn assembly(trace: Trace, probes: Option<ProbeReport>) -> Assembly {
    Assembly {
        tenant: "shop <eu>".into(),
        source_database: "shop".into(),
        clone: CloneSummary {
            name: "rf_rehearsal_shop_00000000".into(),
            method: CloneKind::Template,
            created_ms: 300.0,
            size_before_bytes: Some(1),
            size_after_bytes: Some(2),
            dropped: true,
            drop_error: None,
        },
        restore_drill: None,
        started: "2026-11-27T12:00:00Z".parse().unwrap(),
        total_ms: 4000.0,
        run: MigrationRun {
            argv: vec!["psql".into(), "-c".into(), "ALTER TABLE items ALTER qty TYPE bigint".into()],
            application_name: APP.into(),
            duration_ms: 2500.0,
            exit_code: Some(0),
            signal: None,
            success: true,
            timed_out: false,
            backends: Vec::new(),
            log_tail: "ALTER TABLE".into(),
        },
        errors: Vec::new(),
        trace,
        migration_offset_ms: 200.0,
        probes,
    }
}

fn probe_table(table: &str, read_max: f64, write_max: f64) -> ProbeTableReport {
    let stats = |max_ms| ProbeStats { count: 50, errors: 0, median_ms: 1.0, p99_ms: max_ms, max_ms };
    ProbeTableReport {
        table: table.into(),
        size_bytes: 1,
        reads: stats(read_max),
        writes: stats(write_max),
        stalls: Vec::new(),
    }
}

#[test]
fn access_exclusive_on_a_table_and_its_index_predicts_blocked_reads_and_writes() {
    let mut items = relation(1, "items", "r", None, true);
    // The migration under an application name of its own choosing (Odoo 19's db_app_name) and
    // under ours; SHARE handed over to ACCESS EXCLUSIVE within a sample counts as one block.
    items.holds.push(hold(LockMode::AccessExclusive, 7, "odoo-19", &[(1200.0, 2600.0)]));
    items.holds.push(hold(LockMode::Share, 7, "odoo-19", &[(600.0, 1190.0)]));
    items.holds.push(hold(LockMode::AccessShare, 9, PROBE_APPLICATION_NAME, &[(0.0, 0.0), (40.0, 40.0)]));
    items.waits.push(LockWait {
        mode: LockMode::AccessShare,
        pid: 9,
        application_name: PROBE_APPLICATION_NAME.into(),
        first_seen_ms: 1220.0,
        max_continuous_ms: 1380.0,
        blocked_by: BTreeSet::from([7]),
        samples: 60,
        spans: vec![Span { start_ms: 1220.0, end_ms: 2600.0 }],
    });
    let mut pkey = relation(2, "items_pkey", "i", Some("items"), true);
    pkey.holds.push(hold(LockMode::AccessExclusive, 8, APP, &[(2000.0, 2700.0)]));
    let customers = relation(3, "customers", "r", None, false);
    let probes = ProbeReport {
        options: ProbeOptions::default(),
        tables: vec![probe_table("public.items", 1300.0, 1350.0), probe_table("public.customers", 3.0, 4.0)],
        errors: Vec::new(),
    };

    let report = assemble(assembly(trace(vec![items, pkey, customers]), Some(probes)));

    assert_eq!(report.migration.backends, [7, 8]);
    let items = report.table("items").expect("items reported");
    assert_eq!(items.table, "public.items");
    assert!(items.rewritten);
    assert_eq!(items.rewritten_indexes, ["public.items_pkey"]);
    assert_eq!(items.strongest_mode, Some(LockMode::AccessExclusive));
    assert_eq!(items.access_exclusive_ms, Some(1400.0));
    // Reads: ACCESS EXCLUSIVE on the table (1000..2400 after the migration start) merged with the
    // index's (1800..2500).
    assert_eq!(items.blocking.reads_from_locks_ms, 1500.0);
    // Writes: SHARE from 400, then ACCESS EXCLUSIVE, within a sample and a half: 400..2500.
    assert_eq!(items.blocking.writes_from_locks_ms, 2100.0);
    assert_eq!(items.blocking.reads_from_probes_ms, Some(1300.0));
    assert_eq!((items.blocking.reads_ms, items.blocking.writes_ms), (1500.0, 2100.0));
    // Probe holds are not drawn; the migration's are, shifted to the migration's start.
    assert!(items.holds.iter().all(|h| h.party == Party::Migration), "{:?}", items.holds);
    let first = &items.holds[0];
    assert_eq!((first.mode.clone(), first.start_ms, first.end_ms), (LockMode::Share, 400.0, 990.0));
    assert_eq!(items.waits.len(), 1);
    assert_eq!(items.waits[0].party, Party::Probe);

    let customers = report.table("public.customers").expect("probed tables are reported");
    assert_eq!(customers.blocking.writes_from_probes_ms, Some(4.0));
    assert_eq!(customers.blocking.max_ms(), 0.0, "4 ms is below the stall threshold: no lock");
    assert_eq!(report.tables[0].table, "public.items", "worst first");
    assert_eq!(report.blocking.table.as_deref(), Some("public.items"));
    assert_eq!(report.blocking.max_ms, 2100.0);
    assert!(report.exceeds(Duration::from_secs(2)));
    assert!(!report.exceeds(Duration::from_secs(3)));
    assert_eq!(report.tables_exceeding(Duration::from_millis(100)).len(), 1);
    assert_eq!(report.rewrites, ["public.items", "public.items_pkey"]);
}

#[test]
fn share_update_exclusive_blocks_nothing() {
    let mut items = relation(1, "items", "r", None, false);
    items.holds.push(hold(LockMode::ShareUpdateExclusive, 7, APP, &[(100.0, 2000.0)]));
    let mut index = relation(4, "items_name_idx", "i", Some("items"), false);
    index.before = None;
    index.holds.push(hold(LockMode::ShareUpdateExclusive, 7, APP, &[(150.0, 2000.0)]));
    // The index's own catalog entry, locked by its creating transaction: nobody else can see it.
    index.holds.push(hold(LockMode::AccessExclusive, 7, APP, &[(100.0, 120.0)]));
    let report = assemble(assembly(trace(vec![items, index]), None));
    let items = report.table("items").unwrap();
    assert_eq!(items.strongest_mode, Some(LockMode::ShareUpdateExclusive));
    assert_eq!(items.blocking, TableBlocking::default());
    assert_eq!(items.rewritten_indexes, ["public.items_name_idx"], "a new index is listed");
    assert_eq!(items.access_exclusive_ms, None);
    assert!(items.holds.iter().any(|h| h.mode == LockMode::AccessExclusive), "drawn all the same");
    assert!(!report.exceeds(Duration::ZERO));
    assert_eq!(report.blocking.table, None);
}

#[test]
fn merging_spans_tolerates_one_sample_gap_only() {
    assert_eq!(longest_merged(vec![], 30.0), 0.0);
    assert_eq!(longest_merged(vec![(0.0, 100.0), (120.0, 200.0)], 30.0), 200.0);
    assert_eq!(longest_merged(vec![(500.0, 600.0), (0.0, 100.0), (140.0, 200.0)], 30.0), 100.0);
    assert_eq!(longest_merged(vec![(0.0, 100.0), (10.0, 50.0)], 30.0), 100.0);
}

#[test]
fn commands_never_name_the_source_and_get_the_clone() {
    let cmd = |argv: &[&str]| MigrationCommand {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        ..MigrationCommand::default()
    };
    assert!(check_command(&cmd(&[]), "shop").is_err());
    let named = check_command(&cmd(&["odoo", "-d", "shop", "-u", "sale"]), "shop").unwrap_err();
    assert!(named.to_string().contains("write {database} instead"), "{named}");
    assert!(check_command(&cmd(&["odoo", "--database=shop"]), "shop").is_err());
    assert!(check_command(&cmd(&["odoo", "-d", "{database}", "-u", "shop_sale"]), "shop").is_ok());
    let mut with_env = cmd(&["psql"]);
    with_env.env.push(("PGDATABASE".into(), "shop".into()));
    assert!(check_command(&with_env, "shop").unwrap_err().to_string().contains("PGDATABASE"));

    let target = PgTarget::new("127.0.0.1", 5433, "odoo");
    let argv = fill_placeholders(
        &cmd(&["odoo", "-d", "{database}", "--db_port={port}", "--db_host", "{host}"]).argv,
        &target,
        "rf_x",
    );
    assert_eq!(argv, ["odoo", "-d", "rf_x", "--db_port=5433", "--db_host", "127.0.0.1"]);
}

#[test]
fn parties_and_error_lines() {
    assert_eq!(party(APP, APP), Party::Migration);
    assert_eq!(party("odoo-19", APP), Party::Migration);
    assert_eq!(party(PROBE_APPLICATION_NAME, APP), Party::Probe);
    assert_eq!(party("ringfence", APP), Party::Ringfence);
    assert!(is_error_line("ERROR:  column \"x\" does not exist"));
    assert!(is_error_line("2026-11-27 12:00:00,000 42 ERROR shop odoo.modules.loading: boom"));
    assert!(!is_error_line("2026-11-27 12:00:00,000 42 INFO shop odoo.modules.loading: 12 modules"));
}

#[test]
fn html_is_self_contained_and_escapes_names() {
    let mut evil = relation(1, "<script>alert(1)</script>", "r", None, true);
    evil.holds.push(hold(LockMode::AccessExclusive, 7, "\"><img src=x>", &[(300.0, 900.0)]));
    let mut input = assembly(trace(vec![evil]), None);
    input.run.log_tail = "ERROR: <b>bad</b>".into();
    let report = assemble(input);
    let html = report.to_html();
    assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>bad"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("shop &lt;eu&gt;"));
    assert!(html.contains("<svg") && html.contains("class=\"hold m-ax\"") && html.contains("↻ rewritten"));
    for external in ["http://", "https://", " src=\"", "<link", "@import", "url("] {
        let outside_svg_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!outside_svg_ns.contains(external), "{external} in {html}");
    }
    let text = report.to_text();
    assert!(text.contains("predicted production blocking: up to 600 ms on public.<script>alert(1)</script>"), "{text}");
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"sourceDatabase\"") && json.contains("\"readsFromLocksMs\""), "{json}");
    assert_eq!(serde_json::from_str::<RehearsalReport>(&json).unwrap(), report);
}

#[test]
fn passwords_never_reach_the_report() {
    let argv: Vec<String> = [
        "odoo",
        "--db_password",
        "hunter2",
        "--db_password=hunter2",
        "PASSWORD=hunter2",
        "-w",
        "--uri=postgres://odoo:hunter2@db1:5432/shop",
        "-d",
        "{database}",
    ]
    .map(String::from)
    .to_vec();
    let shown = redact_argv(&argv);
    assert!(!shown.iter().any(|a| a.contains("hunter2")), "{shown:?}");
    assert_eq!(
        shown,
        [
            "odoo",
            "--db_password",
            "***",
            "--db_password=***",
            "PASSWORD=***",
            "-w",
            "--uri=postgres://odoo:***@db1:5432/shop",
            "-d",
            "{database}"
        ]
    );
    assert_eq!(
        redact_urls("connecting to postgresql://a:b@h/db and http://example.org/x"),
        "connecting to postgresql://a:***@h/db and http://example.org/x"
    );
}
