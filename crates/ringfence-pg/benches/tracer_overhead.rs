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
//! the median of the per-pair ratios, and the CPU the tracer itself used (its server backend and its
//! psql, from /proc), which on a shared machine is steadier than the wall-clock difference. Exits
//! non-zero when the median pair ratio is over target.

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
    let settings = if quick { Settings { rows: 400_000, pairs: 3 } } else { Settings { rows: 1_500_000, pairs: 11 } };
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
    let (cpu_ms, traced_ms, samples) = TRACER_CPU
        .with(|c| c.borrow().iter().fold((0.0, 0.0, 0), |(a, b, n), (cpu, span, s)| (a + cpu, b + span, n + s)));
    println!(
        "tracer CPU (backend + psql): {cpu_ms:.0} ms over {:.1} s traced, {samples} samples: {:.1} ms per second ({:.1}% of one core), {:.2} ms per sample",
        traced_ms / 1000.0,
        cpu_ms / (traced_ms / 1000.0),
        cpu_ms / traced_ms * 100.0,
        cpu_ms / samples as f64
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
        // What the tracer cost in CPU: its server backend (read before it exits) and its psql
        // (counted in our children's times once reaped by the stop).
        let backend = sql(
            cluster,
            "postgres",
            &format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'ringfence-tracer' AND datname = '{RUN_DB}'"
            ),
        );
        let backend_ticks =
            backend.trim().parse().ok().and_then(|pid: u32| cpu_ticks(&format!("/proc/{pid}/stat"), 14));
        let children_before = cpu_ticks("/proc/self/stat", 16);
        let trace = tracer.stop().unwrap_or_else(|err| panic!("{err}"));
        let children = cpu_ticks("/proc/self/stat", 16).zip(children_before).map(|(a, b)| a - b);
        let cpu_ms = (backend_ticks.unwrap_or(0) + children.unwrap_or(0)) as f64 * 1000.0 / ticks_per_second();
        TRACER_CPU.with(|c| c.borrow_mut().push((cpu_ms, trace.duration_ms, trace.samples)));
        // A tracer that saw nothing would make a meaningless comparison.
        let items = trace.relation("items").expect("the trace saw items");
        assert_eq!(items.strongest_mode(), Some(LockMode::AccessExclusive));
        assert!(items.rewritten);
    }
    took
}

thread_local! {
    /// Per traced run: tracer CPU in ms, traced span in ms, samples.
    static TRACER_CPU: std::cell::RefCell<Vec<(f64, f64, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The sum of two consecutive fields of a `/proc/<pid>/stat`, numbered from 1 as in proc(5):
/// 14 for utime + stime, 16 for cutime + cstime (reaped children), in clock ticks.
fn cpu_ticks(path: &str, field: usize) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces; fields after its closing parenthesis start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let at = field - 3;
    Some(fields.get(at)?.parse::<u64>().ok()? + fields.get(at + 1)?.parse::<u64>().ok()?)
}

fn ticks_per_second() -> f64 {
    // Linux reports times in USER_HZ, 100 on every architecture Ringfence runs on.
    100.0
}

fn sql(cluster: &EphemeralCluster, db: &str, sql: &str) -> String {
    cluster.psql(db, sql).unwrap_or_else(|err| panic!("{err}"))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}
