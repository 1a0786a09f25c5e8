//! Tracer overhead: the same rewriting migration with and without the lock tracer sampling the
//! database every 20 ms, interleaved side by side.
//!
//! Target (issue "Migration safety"): tracing adds under 5% to the migration's duration. Run with
//! `cargo bench -p ringfence-pg --bench tracer_overhead` (add `-- --quick` for a short run);
//! figures go to BENCHMARKS.md.
//!
//! One throwaway cluster holds a template database with `items` (1,500,000 rows; 400,000 quick).
//! Each run copies it into a fresh database (untimed, followed by a CHECKPOINT so no run pays for
//! the previous one's dirty buffers), then times `psql -c "ALTER TABLE items ALTER COLUMN qty TYPE
//! bigint"` from spawn to exit, with the tracer started before the spawn and stopped after the
//! exit (or no tracer). Pairs alternate their order (A B, B A, …) so drift on a shared machine
//! falls on both sides. Reported: every run, the median of each side, the ratio of the medians and
//! the median of the per-pair ratios. Exits non-zero when the median pair ratio is over target.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ringfence_pg::trace::LockMode;
use ringfence_pg::{EphemeralCluster, StartOptions, TraceOptions, Tracer};

const TEMPLATE: &str = "bench_template";
const RUN_DB: &str = "bench_run";
const MIGRATION: &str = "ALTER TABLE items ALTER COLUMN qty TYPE bigint";
const TARGET_OVERHEAD: f64 = 0.05;

struct Settings {
    rows: u32,
    pairs: usize,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = if quick { Settings { rows: 400_000, pairs: 3 } } else { Settings { rows: 1_500_000, pairs: 9 } };
    let options = StartOptions { settings: vec![("autovacuum".into(), "off".into())], ..StartOptions::default() };
    let cluster = EphemeralCluster::start(options).unwrap_or_else(|err| panic!("{err}"));
    cluster.create_database(TEMPLATE).unwrap_or_else(|err| panic!("{err}"));
    let began = Instant::now();
    sql(
        &cluster,
        TEMPLATE,
        &format!(
            "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, name text NOT NULL);
             INSERT INTO items SELECT g, g % 100, 'item ' || g FROM generate_series(1, {}) g;
             ANALYZE items;",
            settings.rows
        ),
    );
    println!(
        "tracer_overhead: {} rows, {} pairs, tracer every 20 ms; template loaded in {:.1} s",
        settings.rows,
        settings.pairs,
        began.elapsed().as_secs_f64()
    );
    // One unmeasured run warms the caches and the binaries' pages for both sides.
    run(&cluster, false);

    let (mut plain, mut traced, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..settings.pairs {
        let order = if pair % 2 == 0 { [false, true] } else { [true, false] };
        let mut times = [Duration::ZERO; 2];
        for with_tracer in order {
            times[usize::from(with_tracer)] = run(&cluster, with_tracer);
        }
        let (a, b) = (times[0].as_secs_f64() * 1000.0, times[1].as_secs_f64() * 1000.0);
        println!("pair {}: without {a:8.1} ms   with {b:8.1} ms   ratio {:.3}", pair + 1, b / a);
        plain.push(a);
        traced.push(b);
        ratios.push(b / a);
    }
    let (plain_median, traced_median, ratio_median) = (median(&plain), median(&traced), median(&ratios));
    println!(
        "median without tracer {plain_median:.1} ms, with tracer {traced_median:.1} ms: ratio of medians {:.3}, \
         median pair ratio {ratio_median:.3} (target < {:.2})",
        traced_median / plain_median,
        1.0 + TARGET_OVERHEAD
    );
    let within = ratio_median < 1.0 + TARGET_OVERHEAD;
    println!("result: {}", if within { "within target" } else { "OVER TARGET" });
    cluster.stop().unwrap_or_else(|err| panic!("{err}"));
    if !within {
        std::process::exit(1);
    }
}

/// Copies the template, then times the migration, traced or not.
fn run(cluster: &EphemeralCluster, with_tracer: bool) -> Duration {
    sql(cluster, "postgres", &format!("DROP DATABASE IF EXISTS {RUN_DB} WITH (FORCE)"));
    sql(cluster, "postgres", &format!("CREATE DATABASE {RUN_DB} TEMPLATE {TEMPLATE}"));
    sql(cluster, "postgres", "CHECKPOINT");
    let tracer = with_tracer.then(|| {
        let options = TraceOptions { interval: Duration::from_millis(20) };
        Tracer::start(cluster.binaries(), &cluster.target(), RUN_DB, options).unwrap_or_else(|err| panic!("{err}"))
    });
    let mut cmd = cluster.target().command(cluster.binaries().psql(), RUN_DB);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", MIGRATION]).stdout(Stdio::null());
    let started = Instant::now();
    let status = cmd.status().unwrap_or_else(|err| panic!("psql: {err}"));
    let took = started.elapsed();
    assert!(status.success(), "the migration failed: {status}");
    if let Some(tracer) = tracer {
        let trace = tracer.stop().unwrap_or_else(|err| panic!("{err}"));
        // A tracer that saw nothing would make a meaningless comparison.
        let items = trace.relation("items").expect("the trace saw items");
        assert_eq!(items.strongest_mode(), Some(LockMode::AccessExclusive));
        assert!(items.rewritten);
    }
    took
}

fn sql(cluster: &EphemeralCluster, db: &str, sql: &str) -> String {
    cluster.psql(db, sql).unwrap_or_else(|err| panic!("{err}"))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}
