//! A [`RehearsalReport`] for people: text for the terminal and one self-contained HTML page.
//!
//! Pure: the report in, a string out. The page loads nothing (inline CSS and SVG, no script), so it
//! can be attached to a change record as it is; every name in it (tenant, database, table, index,
//! application name, log line) is escaped, since all of them come from outside.

use std::fmt::Write as _;

use super::{HoldBar, Party, RehearsalReport, TableReport};
use crate::trace::LockMode;

// Layout of the timeline, in CSS pixels.
const LABEL_W: f64 = 240.0;
const CHART_W: f64 = 680.0;
const RIGHT_PAD: f64 = 90.0;
const AXIS_H: f64 = 28.0;
const LANE_H: f64 = 34.0;
const HOLD_H: f64 = 14.0;
const WAIT_H: f64 = 6.0;
// Table names are user text of any length; the full name stays in the tooltip and the tables.
const MAX_LABEL_CHARS: usize = 30;
// A lane with thousands of one-sample holds would make a page nobody can open.
const MAX_BARS_PER_LANE: usize = 400;
const MAX_STALLS_LISTED: usize = 50;

/// The report as text.
pub(super) fn text(report: &RehearsalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Rehearsal of tenant {} (database {}) on clone {} ({}, made in {})",
        report.tenant,
        report.source_database,
        report.clone.name,
        report.clone.method,
        secs(report.clone.created_ms)
    );
    if let Some(drill) = &report.restore_drill {
        let verdict =
            if drill.ok { "ok".to_owned() } else { format!("FAILED: {}", drill.problem.as_deref().unwrap_or("?")) };
        let _ = writeln!(
            out,
            "restore drill: {verdict}; {} dump {} restored in {}",
            bytes(drill.bytes as f64),
            drill.point.path.display(),
            secs(drill.duration.as_secs_f64() * 1000.0)
        );
    }
    let run = &report.migration;
    let exit = match (run.timed_out, run.exit_code, run.signal) {
        (true, _, _) => "was killed at the timeout".to_owned(),
        (false, Some(code), _) => format!("exited with code {code}"),
        (false, None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "ended".to_owned(),
    };
    let _ = writeln!(out, "migration `{}` {exit} after {}", run.argv.join(" "), secs(run.duration_ms));
    let blocking = &report.blocking;
    match &blocking.table {
        Some(table) => {
            let _ = writeln!(
                out,
                "predicted production blocking: up to {} on {table} (reads {}, writes {})",
                secs(blocking.max_ms),
                secs(blocking.reads_max_ms),
                secs(blocking.writes_max_ms)
            );
        }
        None => {
            let _ = writeln!(out, "predicted production blocking: none seen");
        }
    }
    if !report.tables.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<32} {:>21} {:>10} {:>9}  {:<24} {:>9} {:>9}  probes r/w max",
            "table", "size before → after", "rows", "rewritten", "strongest lock", "reads", "writes"
        );
        for table in &report.tables {
            let probes = match (table.blocking.reads_from_probes_ms, table.blocking.writes_from_probes_ms) {
                (Some(r), Some(w)) => format!("{} / {}", secs(r), secs(w)),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "{:<32} {:>21} {:>10} {:>9}  {:<24} {:>9} {:>9}  {probes}",
                table.table,
                format!(
                    "{} → {}",
                    table.size_before_bytes.map_or("-".into(), |b| bytes(b as f64)),
                    table.size_after_bytes.map_or("-".into(), |b| bytes(b as f64))
                ),
                table.rows_before.map_or("-".into(), |r| format!("{r:.0}")),
                if table.rewritten { "yes" } else { "no" },
                table.strongest_mode.as_ref().map_or("-".into(), ToString::to_string),
                secs(table.blocking.reads_ms),
                secs(table.blocking.writes_ms),
            );
        }
    }
    if !report.rewrites.is_empty() {
        let _ = writeln!(out, "\nrewritten: {}", report.rewrites.join(", "));
    }
    if report.errors.is_empty() {
        let _ = writeln!(out, "\nerrors: none");
    } else {
        let _ = writeln!(out, "\nerrors:");
        for error in &report.errors {
            let _ = writeln!(out, "  - {error}");
        }
    }
    let _ = writeln!(
        out,
        "clone {}; trace: {} samples every {:.0} ms (longest gap {:.0} ms); total {}",
        if report.clone.dropped { "dropped" } else { "NOT dropped" },
        report.trace.samples,
        report.trace.interval_ms,
        report.trace.max_gap_ms,
        secs(report.total_ms)
    );
    out
}

/// The report as one HTML page.
pub(super) fn html(report: &RehearsalReport) -> String {
    let mut out = String::new();
    let title = format!("Rehearsal of {} — lock timeline", report.tenant);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"ringfence rehearse\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>",
        esc(&title)
    );
    let verdict =
        if report.ok() { "<strong class=\"ok\">ok</strong>" } else { "<strong class=\"bad\">failed</strong>" };
    let _ = writeln!(
        out,
        "<header><h1>Rehearsal of <span class=\"name\">{}</span> {verdict}</h1>\n\
         <p>Database <code>{}</code> cloned as <code>{}</code> ({}, {}), started <time>{}</time>, total {}.</p>",
        esc(&report.tenant),
        esc(&report.source_database),
        esc(&report.clone.name),
        esc(&report.clone.method.to_string()),
        if report.clone.dropped { "dropped afterwards" } else { "<strong class=\"bad\">NOT dropped</strong>" },
        esc(&report.started.to_string()),
        secs(report.total_ms),
    );
    let run = &report.migration;
    let _ = writeln!(
        out,
        "<p>Migration <code>{}</code>: {} in {}.</p>",
        esc(&run.argv.join(" ")),
        if run.success {
            "succeeded".to_owned()
        } else if run.timed_out {
            "killed at the timeout".to_owned()
        } else {
            format!("failed (exit {})", run.exit_code.map_or("by signal".into(), |c| c.to_string()))
        },
        secs(run.duration_ms)
    );
    let blocking = &report.blocking;
    let _ = writeln!(
        out,
        "<p class=\"blocking\">Predicted production blocking: <strong>{}</strong>{} (reads {}, writes {}).</p>",
        secs(blocking.max_ms),
        blocking.table.as_deref().map(|t| format!(" on <code>{}</code>", esc(t))).unwrap_or_default(),
        secs(blocking.reads_max_ms),
        secs(blocking.writes_max_ms),
    );
    if let Some(drill) = &report.restore_drill {
        let _ = writeln!(
            out,
            "<p>Restore drill: {} — {} dump <code>{}</code> restored in {}{}.</p>",
            if drill.ok { "<strong class=\"ok\">ok</strong>" } else { "<strong class=\"bad\">failed</strong>" },
            bytes(drill.bytes as f64),
            esc(&drill.point.path.display().to_string()),
            secs(drill.duration.as_secs_f64() * 1000.0),
            drill.problem.as_deref().map(|p| format!(": {}", esc(p))).unwrap_or_default(),
        );
    }
    out.push_str("</header>\n");

    out.push_str("<section><h2>Lock timeline</h2>\n");
    timeline(&mut out, report);
    out.push_str(LEGEND);
    out.push_str("</section>\n");

    out.push_str(
        "<section><h2>Tables</h2>\n<table>\n<tr><th>table</th><th>size before → after</th><th>rows</th>\
                  <th>rewritten</th><th>strongest lock</th><th>ACCESS EXCLUSIVE held</th><th>reads blocked</th>\
                  <th>writes blocked</th><th>probe read max / write max</th></tr>\n",
    );
    for table in &report.tables {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&table.table),
            table.size_before_bytes.map_or("–".into(), |b| bytes(b as f64)),
            table.size_after_bytes.map_or("–".into(), |b| bytes(b as f64)),
            table.rows_before.map_or("–".into(), |r| format!("{r:.0}")),
            if table.rewritten {
                "yes".to_owned()
            } else if table.rewritten_indexes.is_empty() {
                "no".to_owned()
            } else {
                format!("indexes: {}", esc(&table.rewritten_indexes.join(", ")))
            },
            table.strongest_mode.as_ref().map_or("–".into(), |m| esc(&m.to_string())),
            table.access_exclusive_ms.map_or("–".into(), secs),
            secs(table.blocking.reads_ms),
            secs(table.blocking.writes_ms),
            match (table.blocking.reads_from_probes_ms, table.blocking.writes_from_probes_ms) {
                (Some(r), Some(w)) => format!("{} / {}", secs(r), secs(w)),
                _ => "–".to_owned(),
            },
        );
    }
    out.push_str("</table></section>\n");

    if let Some(probes) = &report.probes {
        out.push_str("<section><h2>Probe stalls</h2>\n");
        let _ = writeln!(
            out,
            "<p>Per table one reader and one writer, pausing {} between operations; operations of at least {} are listed.</p>",
            secs(probes.options.pause.as_secs_f64() * 1000.0),
            secs(probes.options.stall_threshold.as_secs_f64() * 1000.0)
        );
        out.push_str("<table>\n<tr><th>table</th><th>operation</th><th>count</th><th>median</th><th>p99</th><th>max</th><th>errors</th></tr>\n");
        for table in &probes.tables {
            for (kind, stats) in [("read", &table.reads), ("write", &table.writes)] {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&table.table),
                    stats.count,
                    secs(stats.median_ms),
                    secs(stats.p99_ms),
                    secs(stats.max_ms),
                    stats.errors
                );
            }
        }
        out.push_str("</table>\n<table>\n<tr><th>table</th><th>operation</th><th>started (after migration start)</th><th>took</th><th>error</th></tr>\n");
        let mut listed = 0;
        for table in &probes.tables {
            for stall in table.stalls.iter().take(MAX_STALLS_LISTED - listed.min(MAX_STALLS_LISTED)) {
                listed += 1;
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&table.table),
                    stall.kind,
                    secs(stall.start_ms),
                    secs(stall.duration_ms),
                    esc(stall.error.as_deref().unwrap_or(""))
                );
            }
        }
        if listed == 0 {
            out.push_str("<tr><td colspan=\"5\">no stalls</td></tr>\n");
        }
        out.push_str("</table></section>\n");
    }

    out.push_str("<section><h2>Errors</h2>\n");
    if report.errors.is_empty() {
        out.push_str("<p>none</p>\n");
    } else {
        out.push_str("<ul>\n");
        for error in &report.errors {
            let _ = writeln!(out, "<li><pre>{}</pre></li>", esc(error));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(out, "<h2>Migration output (last lines)</h2>\n<pre class=\"log\">{}</pre>", esc(&run.log_tail));
    let _ = writeln!(
        out,
        "<p class=\"fine\">Trace: {} samples every {:.0} ms, longest gap {:.0} ms; holds shorter than a sample may be missed \
         and bars are too short by up to two samples.</p>\n</section>\n</body>\n</html>",
        report.trace.samples, report.trace.interval_ms, report.trace.max_gap_ms
    );
    out
}

/// The SVG: one lane per table, migration holds as bars coloured by mode, waits as thin bars
/// under them, the migration's end as a line, rewritten tables marked.
fn timeline(out: &mut String, report: &RehearsalReport) {
    let lanes: Vec<&TableReport> = report.tables.iter().collect();
    let mut end_ms = report.migration.duration_ms.max(1.0);
    let mut start_ms: f64 = 0.0;
    for table in &lanes {
        for hold in &table.holds {
            end_ms = end_ms.max(hold.end_ms);
            start_ms = start_ms.min(hold.start_ms);
        }
        for wait in &table.waits {
            end_ms = end_ms.max(wait.end_ms);
            start_ms = start_ms.min(wait.start_ms);
        }
    }
    let span = (end_ms - start_ms).max(1.0);
    let x = |ms: f64| LABEL_W + (ms - start_ms) / span * CHART_W;
    let height = AXIS_H + LANE_H * lanes.len().max(1) as f64 + 10.0;
    let width = LABEL_W + CHART_W + RIGHT_PAD;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"lock timeline\">"
    );
    // Lane backgrounds first, so the grid and the bars are drawn over them.
    for (i, table) in lanes.iter().enumerate() {
        let top = AXIS_H + LANE_H * i as f64;
        let mut label = shorten(&table.table);
        if table.rewritten {
            label.push_str(" ↻");
        }
        let _ = writeln!(
            out,
            "<rect class=\"lane-bg{}\" x=\"0\" y=\"{top:.1}\" width=\"{width:.0}\" height=\"{LANE_H:.0}\"/>\
             <text class=\"label\" x=\"8\" y=\"{:.1}\"><title>{}{}</title>{}</text>",
            if i % 2 == 1 { " odd" } else { "" },
            top + LANE_H / 2.0 + 4.0,
            esc(&table.table),
            if table.rewritten { " (rewritten)" } else { "" },
            esc(&label)
        );
    }
    if lanes.is_empty() {
        let _ = writeln!(out, "<text class=\"label\" x=\"8\" y=\"{:.1}\">no table was locked</text>", AXIS_H + 20.0);
    }
    // Axis: about eight ticks at round steps.
    let step = nice_step(span / 8.0);
    let mut tick = (start_ms / step).ceil() * step;
    while tick <= end_ms + 1e-9 {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\"/>\
             <text class=\"tick\" x=\"{0:.1}\" y=\"{3:.1}\">{4}</text>",
            x(tick),
            AXIS_H - 4.0,
            height - 6.0,
            AXIS_H - 10.0,
            secs(tick)
        );
        tick += step;
    }
    for (i, table) in lanes.iter().enumerate() {
        let top = AXIS_H + LANE_H * i as f64;
        out.push_str("<g class=\"lane\">\n");
        // Weakest first, so a stronger mode held at the same time is drawn on top and stays visible.
        let mut holds: Vec<&HoldBar> =
            table.holds.iter().filter(|h| h.party == Party::Migration).take(MAX_BARS_PER_LANE).collect();
        holds.sort_by(|a, b| a.mode.cmp(&b.mode));
        for hold in holds {
            bar(out, hold, top + 4.0, &x);
        }
        for wait in table.waits.iter().take(MAX_BARS_PER_LANE) {
            let (x0, x1) = (x(wait.start_ms), x(wait.end_ms));
            let _ = writeln!(
                out,
                "<rect class=\"wait\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{WAIT_H:.0}\">\
                 <title>{} ({:?}, pid {}) waited for {} on {} from {} to {}, behind {:?}</title></rect>",
                top + 4.0 + HOLD_H + 3.0,
                (x1 - x0).max(2.0),
                esc(&wait.application_name),
                wait.party,
                wait.pid,
                esc(&wait.mode.to_string()),
                esc(&wait.relation),
                secs(wait.start_ms),
                secs(wait.end_ms),
                wait.blocked_by
            );
        }
        if table.rewritten {
            let _ = writeln!(
                out,
                "<text class=\"rewrite\" x=\"{:.1}\" y=\"{:.1}\"><title>table rewritten (new relfilenode)</title>↻ rewritten</text>",
                LABEL_W + CHART_W + 8.0,
                top + LANE_H / 2.0 + 4.0
            );
        }
        out.push_str("</g>\n");
    }
    let _ = writeln!(
        out,
        "<line class=\"start\" x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\"><title>migration started</title></line>\n\
         <line class=\"end\" x1=\"{3:.1}\" y1=\"{1:.1}\" x2=\"{3:.1}\" y2=\"{2:.1}\"><title>migration ended after {4}</title></line>",
        x(0.0),
        AXIS_H - 4.0,
        height - 6.0,
        x(report.migration.duration_ms),
        secs(report.migration.duration_ms)
    );
    out.push_str("</svg>\n");
}

fn bar(out: &mut String, hold: &HoldBar, y: f64, x: &impl Fn(f64) -> f64) {
    let (x0, x1) = (x(hold.start_ms), x(hold.end_ms));
    let _ = writeln!(
        out,
        "<rect class=\"hold {}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{HOLD_H:.0}\">\
         <title>{} held by pid {} ({}) on {} from {} to {}</title></rect>",
        mode_class(&hold.mode),
        (x1 - x0).max(2.0),
        esc(&hold.mode.to_string()),
        hold.pid,
        esc(&hold.application_name),
        esc(&hold.relation),
        secs(hold.start_ms),
        secs(hold.end_ms)
    );
}

fn mode_class(mode: &LockMode) -> &'static str {
    match mode {
        LockMode::AccessShare | LockMode::RowShare => "m-share",
        LockMode::RowExclusive => "m-rowx",
        LockMode::ShareUpdateExclusive => "m-sux",
        LockMode::Share | LockMode::ShareRowExclusive | LockMode::Exclusive => "m-write-block",
        LockMode::AccessExclusive => "m-ax",
        LockMode::Other(_) => "m-other",
    }
}

const LEGEND: &str = "<p class=\"legend\">\
<span class=\"sw m-ax\"></span>ACCESS EXCLUSIVE (blocks reads and writes) \
<span class=\"sw m-write-block\"></span>SHARE / SHARE ROW EXCLUSIVE / EXCLUSIVE (blocks writes) \
<span class=\"sw m-sux\"></span>SHARE UPDATE EXCLUSIVE \
<span class=\"sw m-rowx\"></span>ROW EXCLUSIVE \
<span class=\"sw m-share\"></span>ACCESS / ROW SHARE \
<span class=\"sw wait\"></span>a session waiting · ↻ rewritten · the blue line is the migration's start, the red its end</p>\n";

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}code{font-size:13px}\
.ok{color:#1a7f37}.bad{color:#c62828}.blocking strong{font-size:16px}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}\
th{background:#f4f4f4}pre{white-space:pre-wrap;margin:0}.log{background:#f7f7f7;padding:8px;max-height:400px;overflow:auto}\
svg{background:#fff;border:1px solid #ddd}.lane-bg{fill:#fff}.lane-bg.odd{fill:#f8f8fb}\
.label{font-size:12px;fill:#222}.tick{font-size:10px;fill:#666;text-anchor:middle}.grid{stroke:#eee}\
.start{stroke:#1565c0;stroke-width:1.5}.end{stroke:#c62828;stroke-width:1.5;stroke-dasharray:4 3}\
.rewrite{font-size:11px;fill:#6a1b9a}\
.hold{stroke:#0003}.m-ax{fill:#d32f2f}.m-write-block{fill:#f57c00}.m-sux{fill:#fbc02d}.m-rowx{fill:#7cb342}\
.m-share{fill:#90caf9}.m-other{fill:#9e9e9e}.wait{fill:#6a1b9a}\
.legend{font-size:12px}.sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\
.sw.wait{background:#6a1b9a}.sw.m-ax{background:#d32f2f}.sw.m-write-block{background:#f57c00}\
.sw.m-sux{background:#fbc02d}.sw.m-rowx{background:#7cb342}.sw.m-share{background:#90caf9}\
.fine{font-size:12px;color:#666}";

/// Text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL_CHARS {
        return name.to_owned();
    }
    let mut short: String = name.chars().take(MAX_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}

/// Milliseconds for people: `850 ms`, `2.31 s`, `4 min 05 s`.
fn secs(ms: f64) -> String {
    if ms == 0.0 {
        "0 ms".to_owned()
    } else if ms.abs() < 10.0 {
        format!("{ms:.1} ms")
    } else if ms.abs() < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms.abs() < 120_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let total = (ms / 1000.0).round() as i64;
        format!("{} min {:02} s", total / 60, total % 60)
    }
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n;
    let mut unit = 0;
    while value.abs() >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_formats() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(secs(850.4), "850 ms");
        assert_eq!(secs(2310.0), "2.31 s");
        assert_eq!(secs(245_000.0), "4 min 05 s");
        assert_eq!(bytes(52_100_000.0), "52.1 MB");
        assert_eq!(nice_step(130.0), 200.0);
        assert_eq!(nice_step(0.2), 1.0);
        assert_eq!(shorten(&"x".repeat(40)).chars().count(), MAX_LABEL_CHARS);
    }
}
