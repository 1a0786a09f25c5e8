//! The schedule as one self-contained HTML page (`ringfence plan --html FILE`): a time axis in UTC,
//! one lane per tenant grouped by ring, each tenant's maintenance windows and the freezes shaded,
//! each tenant's steps and observation as a bar, the rings' soak, and why each tenant waits.
//!
//! Pure: it takes the plan, the computed schedule and the resolved windows and freezes, and returns
//! the page as a string. It computes nothing about when tenants run (that is the schedule's job) and
//! reads no file or clock. The page loads nothing from anywhere — inline CSS and SVG only, no script —
//! so it can be mailed, attached to a change record or opened from a CI artifact as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ringfence_core::Duration;
use ringfence_core::calendar::{Freeze, FreezeKind, FreezeScope, MaintenanceWindow, RiskTier};
use ringfence_core::model::TenantId;
use ringfence_core::plan::Plan;
use ringfence_core::schedule::ScheduledTenant;

/// What the timeline shows.
pub struct TimelineInput<'a> {
    /// The plan: rings, batches and tenants in rollout order.
    pub plan: &'a Plan,
    /// When each tenant is expected to be released, and why it waits.
    pub schedule: &'a [ScheduledTenant],
    /// When the release may start: the left edge of the time axis.
    pub from: Timestamp,
    /// The release's risk tier, which freezes may let through.
    pub risk: RiskTier,
    /// How long a tenant's steps take before its observation.
    pub step: Duration,
    /// Each tenant's resolved maintenance windows; a tenant with none may be changed at any time.
    pub windows: &'a BTreeMap<TenantId, Vec<MaintenanceWindow>>,
    /// Each tenant's time zone, for the lane labels and local times.
    pub zones: &'a BTreeMap<TenantId, TimeZone>,
    /// The resolved freezes (one per scope entry, as the calendar holds them).
    pub freezes: &'a [Freeze],
}

// Layout, in CSS pixels. The chart grows with the time span so that an hour stays wide enough to
// see a short bar, up to a width that still scrolls comfortably.
const LABEL_W: f64 = 270.0;
const RIGHT_PAD: f64 = 100.0;
const PX_PER_HOUR: f64 = 10.0;
const MIN_CHART_W: f64 = 900.0;
const MAX_CHART_W: f64 = 4000.0;
const DAY_ROW_H: f64 = 22.0;
const HOUR_ROW_H: f64 = 20.0;
const FREEZE_ROW_H: f64 = 22.0;
const RING_ROW_H: f64 = 26.0;
const LANE_H: f64 = 32.0;
const BAR_H: f64 = 14.0;
// A calendar that opens every minute would otherwise draw thousands of rectangles per lane.
const MAX_PERIODS: usize = 2000;
// Tenant ids are user text of any length; the full id stays in the tooltip and the table.
const MAX_LABEL_CHARS: usize = 34;

/// The page for `input`.
pub fn render(input: &TimelineInput<'_>) -> String {
    let by_id: BTreeMap<&TenantId, &ScheduledTenant> = input.schedule.iter().map(|s| (&s.id, s)).collect();
    let end = axis_end(input);
    let axis = Axis::new(input.from, end);
    let freezes = group_freezes(input.freezes, input.risk, input.from, end);
    let tier = tier_name(input.risk);

    let mut out = String::new();
    let title = format!("Release {} — rollout timeline", input.plan.release);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"ringfence plan --html\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n",
        esc(&title)
    );
    let _ = write!(
        out,
        "<header><h1>Release <span class=\"release\">{}</span> <small>replaces {}</small></h1>\n\
         <p class=\"summary\">Risk tier <strong class=\"tier tier-{tier}\">{tier}</strong> · {} tenants in {} rings · \
         from <time>{}</time> to <time>{}</time> · all times on the axis in UTC</p></header>\n",
        esc(&input.plan.release),
        esc(&input.plan.replaces),
        input.plan.tenant_count(),
        input.plan.rings.len(),
        fmt_utc(input.from),
        fmt_utc(end),
    );
    out.push_str(&legend(tier, freezes.iter().any(|g| g.lets_through)));
    out.push_str("<div class=\"chart\">\n");
    chart(&mut out, input, &by_id, &axis, &freezes);
    out.push_str("</div>\n");
    waits_table(&mut out, input, &by_id);
    freezes_table(&mut out, &freezes);
    out.push_str("</body>\n</html>\n");
    out
}

/// The right edge of the axis: the last expected end, or the end of a ring's soak when that is later
/// (the soak of the last ring is part of the release too). One day when nothing is scheduled.
fn axis_end(input: &TimelineInput<'_>) -> Timestamp {
    let mut end = input.from;
    for ring in &input.plan.rings {
        let ring_end = input.schedule.iter().filter(|s| s.ring == ring.name).map(|s| s.expected_end).max();
        if let Some(ring_end) = ring_end {
            end = end.max(ring.soak.after(ring_end));
        }
    }
    if end <= input.from { input.from + jiff::SignedDuration::from_hours(24) } else { end }
}

/// Maps instants to x positions and chooses the ticks.
struct Axis {
    from: Timestamp,
    end: Timestamp,
    chart_w: f64,
}

impl Axis {
    fn new(from: Timestamp, end: Timestamp) -> Self {
        let hours = (end.as_millisecond() - from.as_millisecond()) as f64 / 3_600_000.0;
        let chart_w = (hours * PX_PER_HOUR).clamp(MIN_CHART_W, MAX_CHART_W);
        Axis { from, end, chart_w }
    }

    fn x(&self, t: Timestamp) -> f64 {
        let span = (self.end.as_millisecond() - self.from.as_millisecond()) as f64;
        let at = (t.as_millisecond() - self.from.as_millisecond()) as f64;
        LABEL_W + (at / span).clamp(0.0, 1.0) * self.chart_w
    }

    /// The visible part of `[start, end)` as `(x, width)`, at least `min_w` wide; `None` when it lies
    /// outside the axis.
    fn span(&self, start: Timestamp, end: Timestamp, min_w: f64) -> Option<(f64, f64)> {
        if end <= self.from || start >= self.end || end <= start {
            return None;
        }
        let (x1, x2) = (self.x(start), self.x(end));
        Some((x1, (x2 - x1).max(min_w)))
    }

    /// Hours between ticks: the shortest step of the usual ones that leaves room for an `HH:MM` label.
    fn tick_hours(&self) -> i64 {
        let px_per_hour =
            self.chart_w / ((self.end.as_millisecond() - self.from.as_millisecond()) as f64 / 3_600_000.0).max(1e-9);
        [1, 2, 3, 6, 12, 24, 48, 168].into_iter().find(|h| *h as f64 * px_per_hour >= 48.0).unwrap_or(336)
    }

    /// Tick instants on whole multiples of `hours` (in UTC) inside the axis.
    fn ticks(&self, hours: i64) -> Vec<Timestamp> {
        let step = hours * 3600;
        let first = self.from.as_second().div_euclid(step) * step;
        let mut out = Vec::new();
        let mut s = first;
        while s <= self.end.as_second() {
            if let Ok(t) = Timestamp::from_second(s)
                && t >= self.from
            {
                out.push(t);
            }
            s += step;
        }
        out
    }

    /// UTC midnights inside the axis.
    fn midnights(&self) -> Vec<Timestamp> {
        self.ticks(24)
    }

    fn right(&self) -> f64 {
        LABEL_W + self.chart_w
    }
}

/// The freezes of one name, with the periods each scope entry is in force within the axis.
struct FreezeGroup<'a> {
    name: &'a str,
    /// Whether it lets the release's tier through (then it is shown but holds no one). Entries of one
    /// name come from one configuration entry, so they share their tiers.
    lets_through: bool,
    entries: Vec<(&'a Freeze, Vec<(Timestamp, Timestamp)>)>,
}

fn group_freezes(freezes: &[Freeze], tier: RiskTier, from: Timestamp, end: Timestamp) -> Vec<FreezeGroup<'_>> {
    let mut groups: Vec<FreezeGroup<'_>> = Vec::new();
    for f in freezes {
        let periods: Vec<(Timestamp, Timestamp)> = match &f.kind {
            FreezeKind::Absolute { start, end: stop } => {
                if *stop > from && *start < end {
                    vec![(*start, *stop)]
                } else {
                    vec![]
                }
            }
            FreezeKind::Recurring(r) => r.periods(from, end).take(MAX_PERIODS).collect(),
        };
        match groups.iter_mut().find(|g| g.name == f.name) {
            Some(g) => g.entries.push((f, periods)),
            None => {
                groups.push(FreezeGroup { name: &f.name, lets_through: f.allows(tier), entries: vec![(f, periods)] })
            }
        }
    }
    groups
}

fn legend(tier: &str, lets_through: bool) -> String {
    let item = |class: &str, label: &str| {
        format!(
            "<li><svg width=\"28\" height=\"14\" aria-hidden=\"true\"><rect class=\"{class}\" x=\"0\" y=\"0\" \
             width=\"28\" height=\"14\"/></svg>{label}</li>"
        )
    };
    let mut out = String::from("<ul class=\"legend\">");
    out.push_str(&item("steps", "steps (restore point, migration, switch)"));
    out.push_str(&item("observation", "observation (SLIs judged)"));
    out.push_str(&item("window", "maintenance window (steps must fit inside)"));
    out.push_str(&item("freeze", "freeze (nothing starts or runs)"));
    // Only when it happens: a legend entry for nothing on the chart would make readers look for it.
    if lets_through {
        out.push_str(&item("freeze lets-through", &format!("freeze that lets <strong>{tier}</strong> through")));
    }
    out.push_str(&item("soak", "ring soak (next ring waits)"));
    out.push_str("</ul>\n");
    out
}

fn chart(
    out: &mut String,
    input: &TimelineInput<'_>,
    by_id: &BTreeMap<&TenantId, &ScheduledTenant>,
    axis: &Axis,
    freezes: &[FreezeGroup<'_>],
) {
    let freeze_rows: Vec<&FreezeGroup<'_>> =
        freezes.iter().filter(|g| g.entries.iter().any(|(_, p)| !p.is_empty())).collect();
    let lanes_top = DAY_ROW_H + HOUR_ROW_H + freeze_rows.len() as f64 * FREEZE_ROW_H + 6.0;
    let lanes_h: f64 = input
        .plan
        .rings
        .iter()
        .map(|r| RING_ROW_H + r.batches.iter().map(|b| b.tenants.len()).sum::<usize>() as f64 * LANE_H)
        .sum();
    let height = lanes_top + lanes_h + 8.0;
    let width = axis.right() + RIGHT_PAD;
    let _ = writeln!(
        out,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"rollout timeline\">"
    );
    // Hatching tells a freeze from a window even in a grey-scale print.
    out.push_str(
        "<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#fde2e1\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#e5534b\" stroke-width=\"3\"/></pattern>\
         <pattern id=\"hatch-light\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#f6f0e0\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#d4b46a\" stroke-width=\"1.5\"/></pattern></defs>\n",
    );

    // Grid and axis labels.
    let hours = axis.tick_hours();
    out.push_str("<g class=\"axis\">");
    for t in axis.ticks(hours) {
        let x = axis.x(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\"/>\
             <text class=\"tick\" x=\"{tx:.1}\" y=\"{ty:.1}\">{}</text>",
            if hours >= 24 { t.strftime("%d %b").to_string() } else { t.strftime("%H:%M").to_string() },
            y1 = DAY_ROW_H,
            tx = x + 3.0,
            ty = DAY_ROW_H + HOUR_ROW_H - 6.0,
        );
    }
    let midnights = axis.midnights();
    // The first day is labelled at the left edge unless its midnight label is close enough to read it.
    let mut day_labels: Vec<Timestamp> = Vec::new();
    if midnights.first().is_none_or(|m| axis.x(*m) - axis.x(axis.from) > 90.0) {
        day_labels.push(axis.from);
    }
    day_labels.extend(midnights.iter().copied());
    for (i, t) in day_labels.iter().enumerate() {
        let x = axis.x(*t);
        let room = day_labels.get(i + 1).map_or(axis.right() + RIGHT_PAD, |n| axis.x(*n)) - x;
        if room >= 70.0 {
            let _ = write!(
                out,
                "<text class=\"day\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x + 3.0,
                DAY_ROW_H - 7.0,
                t.strftime("%a %d %b %Y")
            );
        }
    }
    for m in &midnights {
        let x = axis.x(*m);
        let _ = write!(out, "<line class=\"midnight\" x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{height:.1}\"/>");
    }
    out.push_str("</g>\n");

    // One row per freeze name above the lanes, with its name on each period.
    for (row, group) in freeze_rows.iter().enumerate() {
        let y = DAY_ROW_H + HOUR_ROW_H + row as f64 * FREEZE_ROW_H + 2.0;
        let class = if group.lets_through { "freeze lets-through" } else { "freeze" };
        let _ = write!(
            out,
            "<g class=\"freeze-row\" data-freeze=\"{name}\"><text class=\"lane-label freeze-label\" x=\"8\" \
             y=\"{ty:.1}\">freeze {short}</text>",
            name = esc(group.name),
            short = esc(&truncate(group.name, MAX_LABEL_CHARS - 7)),
            ty = y + FREEZE_ROW_H / 2.0 + 3.0,
        );
        let mut periods: Vec<(Timestamp, Timestamp)> = group.entries.iter().flat_map(|(_, p)| p.clone()).collect();
        periods.sort();
        periods.dedup();
        for (start, stop) in periods {
            let Some((x, w)) = axis.span(start, stop, 2.0) else { continue };
            let _ = write!(
                out,
                "<g><title>{tip}</title><rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
                 height=\"{h:.1}\"/>",
                tip = esc(&format!("freeze {}: {} → {}", group.name, fmt_utc(start), fmt_utc(stop))),
                h = FREEZE_ROW_H - 4.0,
            );
            let label = truncate(group.name, 40);
            let fits = w >= label.chars().count() as f64 * 7.0 + 8.0;
            let _ = write!(
                out,
                "<text class=\"freeze-name{}\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                if fits { "" } else { " outside" },
                if fits { x + 4.0 } else { x + w + 3.0 },
                y + FREEZE_ROW_H / 2.0 + 2.0,
                esc(&label)
            );
        }
        out.push_str("</g>\n");
    }

    // Global freezes: one band across every lane.
    for group in freezes {
        let class = if group.lets_through { "freeze-band lets-through" } else { "freeze-band" };
        for (f, periods) in &group.entries {
            if f.scope != FreezeScope::Global {
                continue;
            }
            for (start, stop) in periods {
                if let Some((x, w)) = axis.span(*start, *stop, 2.0) {
                    let _ = writeln!(
                        out,
                        "<rect class=\"{class}\" data-freeze=\"{}\" x=\"{x:.1}\" y=\"{lanes_top:.1}\" \
                         width=\"{w:.1}\" height=\"{lanes_h:.1}\"><title>{}</title></rect>",
                        esc(group.name),
                        esc(&format!("freeze {} (all tenants): {} → {}", group.name, fmt_utc(*start), fmt_utc(*stop)))
                    );
                }
            }
        }
    }

    // Rings and their lanes.
    let mut y = lanes_top;
    for ring in &input.plan.rings {
        let scheduled: Vec<&ScheduledTenant> =
            ring.batches.iter().flat_map(|b| &b.tenants).filter_map(|t| by_id.get(&t.id).copied()).collect();
        let _ = write!(out, "<g class=\"ring\" data-ring=\"{}\">", esc(&ring.name));
        let _ = write!(
            out,
            "<rect class=\"ring-row\" x=\"0\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{RING_ROW_H:.1}\"/>\
             <text x=\"8\" y=\"{ty:.1}\"><tspan class=\"ring-name\">ring {}</tspan>\
             <tspan class=\"ring-meta\" dx=\"8\">{} batch{} · observe {} · soak {}</tspan></text>",
            esc(&truncate(&ring.name, 16)),
            ring.batches.len(),
            if ring.batches.len() == 1 { "" } else { "es" },
            ring.observation,
            ring.soak,
            w = axis.right() + RIGHT_PAD,
            ty = y + RING_ROW_H / 2.0 + 4.0,
        );
        let first = scheduled.iter().map(|s| s.expected_start).min();
        let last = scheduled.iter().map(|s| s.expected_end).max();
        if let (Some(first), Some(last)) = (first, last) {
            if let Some((x, w)) = axis.span(first, last, 2.0) {
                let _ = write!(
                    out,
                    "<rect class=\"ring-span\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"4\"><title>{}</title></rect>",
                    y + RING_ROW_H - 7.0,
                    esc(&format!("ring {}: {} → {}", ring.name, fmt_utc(first), fmt_utc(last)))
                );
            }
            let soak_end = ring.soak.after(last);
            if let Some((x, w)) = axis.span(last, soak_end, 2.0) {
                let _ = write!(
                    out,
                    "<g class=\"soak-mark\"><title>{}</title><rect class=\"soak\" x=\"{x:.1}\" y=\"{:.1}\" \
                     width=\"{w:.1}\" height=\"{:.1}\"/><text class=\"soak-label\" x=\"{:.1}\" y=\"{:.1}\">soak {}</text></g>",
                    esc(&format!("ring {} soaks {}: {} → {}", ring.name, ring.soak, fmt_utc(last), fmt_utc(soak_end))),
                    y + 5.0,
                    RING_ROW_H - 10.0,
                    x + w + 3.0,
                    y + RING_ROW_H / 2.0 + 4.0,
                    ring.soak,
                );
            }
        }
        y += RING_ROW_H;
        for (b, batch) in ring.batches.iter().enumerate() {
            for tenant in &batch.tenants {
                lane(out, input, axis, freezes, ring, b, tenant, by_id.get(&tenant.id).copied(), y);
                y += LANE_H;
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
}

#[allow(clippy::too_many_arguments)] // one lane's drawing needs its whole context; a struct would only rename it
fn lane(
    out: &mut String,
    input: &TimelineInput<'_>,
    axis: &Axis,
    freezes: &[FreezeGroup<'_>],
    ring: &ringfence_core::plan::PlannedRing,
    batch: usize,
    tenant: &ringfence_core::plan::PlannedTenant,
    scheduled: Option<&ScheduledTenant>,
    y: f64,
) {
    let zone = zone_name(input.zones.get(&tenant.id));
    let _ = write!(
        out,
        "<g class=\"lane\" data-tenant=\"{}\" data-batch=\"{}\"><rect class=\"lane-bg\" x=\"0\" y=\"{y:.1}\" \
         width=\"{:.1}\" height=\"{LANE_H:.1}\"/>",
        esc(tenant.id.as_str()),
        batch + 1,
        axis.right() + RIGHT_PAD,
    );
    let _ = write!(
        out,
        "<text class=\"lane-label\" x=\"18\" y=\"{:.1}\"><title>{}</title>{}</text>\
         <text class=\"lane-meta\" x=\"18\" y=\"{:.1}\">batch {}/{} · {} · {}</text>",
        y + 14.0,
        esc(tenant.id.as_str()),
        esc(&truncate(tenant.id.as_str(), MAX_LABEL_CHARS)),
        y + 27.0,
        batch + 1,
        ring.batches.len(),
        esc(&zone),
        esc(&truncate(&tenant.pool, 18)),
    );

    // Windows first, so that freezes and the bar are drawn over them.
    let bar_y = y + (LANE_H - BAR_H) / 2.0;
    for w in input.windows.get(&tenant.id).map(Vec::as_slice).unwrap_or(&[]) {
        let r = w.recurrence();
        for (start, stop) in r.periods(axis.from, axis.end).take(MAX_PERIODS) {
            let Some((x, width)) = axis.span(start, stop, 1.0) else { continue };
            let tz = r.time_zone();
            let _ = write!(
                out,
                "<rect class=\"window\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\">\
                 <title>{}</title></rect>",
                y + 2.0,
                LANE_H - 4.0,
                esc(&format!(
                    "maintenance window \"{}\" for {}: {} → {} ({} → {})",
                    r.cron(),
                    r.duration(),
                    fmt_local(start, tz),
                    fmt_local(stop, tz),
                    fmt_utc(start),
                    fmt_utc(stop)
                ))
            );
        }
    }

    // Freezes scoped to this tenant or its pool, as a band across its lane only.
    for group in freezes {
        let class = if group.lets_through { "freeze-band lets-through" } else { "freeze-band" };
        for (f, periods) in &group.entries {
            if f.scope == FreezeScope::Global || !f.covers(&tenant.id, &tenant.pool) {
                continue;
            }
            for (start, stop) in periods {
                if let Some((x, w)) = axis.span(*start, *stop, 2.0) {
                    let _ = write!(
                        out,
                        "<rect class=\"{class}\" data-freeze=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
                         height=\"{LANE_H:.1}\"><title>{}</title></rect>",
                        esc(group.name),
                        esc(&format!(
                            "freeze {} ({}): {} → {}",
                            group.name,
                            scope_text(&f.scope),
                            fmt_utc(*start),
                            fmt_utc(*stop)
                        ))
                    );
                }
            }
        }
    }

    if let Some(s) = scheduled {
        let switched = input.step.after(s.expected_start);
        let mut tip = format!(
            "{} — ring {}, batch {}/{}\nsteps {} → {}\nobservation {} → {}\nlocal start {}",
            tenant.id,
            ring.name,
            batch + 1,
            ring.batches.len(),
            fmt_utc(s.expected_start),
            fmt_utc(switched),
            fmt_utc(switched),
            fmt_utc(s.expected_end),
            input.zones.get(&tenant.id).map_or_else(|| "-".to_string(), |tz| fmt_local(s.expected_start, tz)),
        );
        if s.waits.is_empty() {
            tip.push_str("\nstarts as soon as the release does");
        }
        for w in &s.waits {
            let _ = write!(tip, "\nwaits: {w}");
        }
        let _ = write!(out, "<g class=\"tenant-bar\"><title>{}</title>", esc(&tip));
        if let Some((x, w)) = axis.span(s.expected_start, switched, 2.0) {
            let _ = write!(
                out,
                "<rect class=\"steps\" x=\"{x:.1}\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_H:.1}\"/>"
            );
        }
        if let Some((x, w)) = axis.span(switched, s.expected_end, 2.0) {
            let _ = write!(
                out,
                "<rect class=\"observation\" x=\"{x:.1}\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_H:.1}\"/>"
            );
        }
        let _ = write!(
            out,
            "<text class=\"bar-label\" x=\"{:.1}\" y=\"{:.1}\">{}–{}</text></g>",
            axis.x(s.expected_end).max(axis.x(s.expected_start) + 4.0) + 4.0,
            bar_y + BAR_H - 3.0,
            s.expected_start.strftime("%H:%M"),
            s.expected_end.strftime("%H:%MZ"),
        );
    }
    out.push_str("</g>\n");
}

fn waits_table(out: &mut String, input: &TimelineInput<'_>, by_id: &BTreeMap<&TenantId, &ScheduledTenant>) {
    out.push_str(
        "<h2>Why each tenant waits</h2>\n<table class=\"waits\">\n<thead><tr><th>Ring</th><th>Batch</th>\
         <th>Tenant</th><th>Time zone</th><th>Maintenance windows</th><th>Expected start (UTC)</th>\
         <th>Local start</th><th>Expected end (UTC)</th><th>Waits for</th></tr></thead>\n<tbody>\n",
    );
    for ring in &input.plan.rings {
        for (b, batch) in ring.batches.iter().enumerate() {
            for tenant in &batch.tenants {
                let zone = input.zones.get(&tenant.id);
                let windows = input.windows.get(&tenant.id).map(Vec::as_slice).unwrap_or(&[]);
                let windows = if windows.is_empty() {
                    "any time".to_string()
                } else {
                    windows
                        .iter()
                        .map(|w| format!("\"{}\" for {}", w.recurrence().cron(), w.recurrence().duration()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = write!(
                    out,
                    "<tr data-tenant=\"{}\"><td>{}</td><td>{}/{}</td><td class=\"id\">{}</td><td>{}</td><td>{}</td>",
                    esc(tenant.id.as_str()),
                    esc(&ring.name),
                    b + 1,
                    ring.batches.len(),
                    esc(tenant.id.as_str()),
                    esc(&zone_name(zone)),
                    esc(&windows),
                );
                match by_id.get(&tenant.id) {
                    Some(s) => {
                        let waits = if s.waits.is_empty() {
                            "—".to_string()
                        } else {
                            let items: String =
                                s.waits.iter().map(|w| format!("<li>{}</li>", esc(&w.to_string()))).collect();
                            format!("<ol>{items}</ol>")
                        };
                        let _ = writeln!(
                            out,
                            "<td>{}</td><td>{}</td><td>{}</td><td>{waits}</td></tr>",
                            fmt_utc(s.expected_start),
                            zone.map_or_else(|| "-".to_string(), |tz| esc(&fmt_local(s.expected_start, tz))),
                            fmt_utc(s.expected_end),
                        );
                    }
                    None => out.push_str("<td colspan=\"4\">not scheduled</td></tr>\n"),
                }
            }
        }
    }
    out.push_str("</tbody>\n</table>\n");
}

fn freezes_table(out: &mut String, freezes: &[FreezeGroup<'_>]) {
    if freezes.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Freezes</h2>\n<table class=\"freezes\">\n<thead><tr><th>Freeze</th><th>Covers</th>\
         <th>Lets through</th><th>In force on the axis (UTC)</th></tr></thead>\n<tbody>\n",
    );
    for group in freezes {
        let scopes: Vec<String> = group.entries.iter().map(|(f, _)| scope_text(&f.scope)).collect();
        let tiers: Vec<&str> = group
            .entries
            .first()
            .map(|(f, _)| f.allows_tiers.iter().map(|t| tier_name(*t)).collect())
            .unwrap_or_default();
        let mut periods: Vec<(Timestamp, Timestamp)> = group.entries.iter().flat_map(|(_, p)| p.clone()).collect();
        periods.sort();
        periods.dedup();
        let shown: Vec<String> =
            periods.iter().take(12).map(|(a, b)| format!("{} → {}", fmt_utc(*a), fmt_utc(*b))).collect();
        let more = periods.len().saturating_sub(shown.len());
        let _ = writeln!(
            out,
            "<tr data-freeze=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(group.name),
            esc(group.name),
            esc(&scopes.join(", ")),
            if tiers.is_empty() { "nothing".to_string() } else { esc(&tiers.join(", ")) },
            if shown.is_empty() { "not in force".to_string() } else { shown.join("<br>") },
            if more > 0 { format!("<br>… and {more} more") } else { String::new() },
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn scope_text(scope: &FreezeScope) -> String {
    match scope {
        FreezeScope::Global => "all tenants".to_string(),
        FreezeScope::Pool(p) => format!("pool {p}"),
        FreezeScope::Tenant(t) => format!("tenant {t}"),
    }
}

fn tier_name(tier: RiskTier) -> &'static str {
    match tier {
        RiskTier::Low => "low",
        RiskTier::Medium => "medium",
        RiskTier::High => "high",
        RiskTier::Critical => "critical",
    }
}

fn zone_name(tz: Option<&TimeZone>) -> String {
    tz.and_then(|tz| tz.iana_name()).unwrap_or("UTC").to_string()
}

fn fmt_utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%MZ").to_string()
}

fn fmt_local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone()).strftime("%a %d %b %H:%M %Z").to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max - 1).collect::<String>()) }
}

/// `s` safe as HTML text and as a double- or single-quoted attribute value (and so inside inline SVG).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;margin:16px 20px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h1 small{font-weight:normal;color:#59636e;font-size:15px}
h2{font-size:17px;margin:22px 0 8px}
.summary{margin:0 0 10px;color:#333}
.tier{padding:1px 7px;border-radius:9px;color:#fff;background:#6e7781}
.tier-low{background:#1a7f37}.tier-medium{background:#9a6700}.tier-high{background:#cf222e}.tier-critical{background:#82071e}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:6px 18px;padding:0;margin:0 0 10px}
.legend li{display:flex;align-items:center;gap:6px}
.chart{overflow-x:auto;border:1px solid #d0d7de;border-radius:6px}
svg.timeline{display:block;font-size:12px}
.grid{stroke:#eaeef2;stroke-width:1}.midnight{stroke:#8c959f;stroke-width:1}
.tick{fill:#59636e;font-size:11px}.day{fill:#1f2328;font-weight:600}
.ring-row{fill:#eef1f4}.ring-name{font-weight:700;font-size:13px}.ring-meta{fill:#59636e}
.ring-span{fill:#6e7781}
.lane-bg{fill:transparent;stroke:#f0f2f4}
.lane-label{font-weight:600;fill:#1f2328}.lane-meta{fill:#6e7781;font-size:11px}
.freeze-label{fill:#a40e26}
.window{fill:#d8f3dc;stroke:#74c69d;stroke-width:1}
.freeze,.freeze-band{fill:url(#hatch);opacity:.55}
.freeze{opacity:.9}
.freeze.lets-through,.freeze-band.lets-through{fill:url(#hatch-light)}
.freeze-name{fill:#82071e;font-weight:700}.freeze-name.outside{fill:#a40e26}
.steps{fill:#0550ae}.observation{fill:#79b8ff}
.soak{fill:#f2b84b}.soak-label{fill:#7d4e00;font-size:11px}
.bar-label{fill:#1f2328;font-size:11px}
.legend .freeze{opacity:.9}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.id{font-weight:600}
td ol{margin:0;padding-left:18px}
";

#[cfg(test)]
mod tests {
    use super::*;
    use ringfence_core::plan::{Batch, PlannedRing, PlannedTenant};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn planned(id: &str, pool: &str) -> PlannedTenant {
        PlannedTenant { id: TenantId::from(id), cluster: "pg-1".into(), pool: pool.into(), database: "db".into() }
    }

    const HOSTILE: &str = "<script>alert('x')</script>&\"evil\"";

    /// The page for two rings: "early" with a then the hostile tenant (two batches), "late" with b on
    /// its own pool; a global freeze before a, a freeze on b's pool letting `low` through.
    fn page(risk: RiskTier) -> String {
        let ring = |name: &str, batches: Vec<Vec<PlannedTenant>>, soak| PlannedRing {
            name: name.into(),
            observation: Duration::from_mins(30),
            soak: Duration::from_mins(soak),
            batch_size: 1,
            batches: batches.into_iter().map(|tenants| Batch { tenants }).collect(),
        };
        let plan = Plan {
            release: "2026.<b>".into(),
            replaces: "2026.1".into(),
            rings: vec![
                ring("early", vec![vec![planned("a", "shared")], vec![planned(HOSTILE, "shared")]], 60),
                ring("late", vec![vec![planned("b", "vip")]], 0),
            ],
        };
        let st = |id: &str, ring: &str, batch, start: &str, end: &str| ScheduledTenant {
            id: TenantId::from(id),
            ring: ring.into(),
            batch,
            expected_start: at(start),
            expected_end: at(end),
            waits: vec![],
        };
        let mut schedule = vec![
            st("a", "early", 1, "2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z"),
            st(HOSTILE, "early", 2, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
            st("b", "late", 1, "2026-03-02T22:00:00Z", "2026-03-02T23:00:00Z"),
        ];
        schedule[0].waits = vec![ringfence_core::schedule::Wait::Frozen {
            name: "inventory".into(),
            until: at("2026-03-02T08:00:00Z"),
        }];
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let windows = BTreeMap::from([(
            TenantId::from("b"),
            vec![MaintenanceWindow::new("0 23 * * *", Duration::from_mins(120), paris.clone()).unwrap()],
        )]);
        let zones = BTreeMap::from([
            (TenantId::from("a"), paris.clone()),
            (TenantId::from(HOSTILE), TimeZone::UTC),
            (TenantId::from("b"), paris),
        ]);
        let utc = |s: &str| s.parse::<jiff::civil::DateTime>().unwrap().to_zoned_datetime(TimeZone::UTC).unwrap();
        let freezes = vec![
            Freeze::absolute("inventory", &utc("2026-03-02T00:00"), &utc("2026-03-02T08:00"), FreezeScope::Global)
                .unwrap(),
            Freeze::absolute(
                "vip-<gala>",
                &utc("2026-03-02T12:00"),
                &utc("2026-03-02T14:00"),
                FreezeScope::Pool("vip".into()),
            )
            .unwrap()
            .allowing(&[RiskTier::Low]),
            Freeze::absolute("long-past", &utc("2026-01-01T00:00"), &utc("2026-01-02T00:00"), FreezeScope::Global)
                .unwrap(),
        ];
        render(&TimelineInput {
            plan: &plan,
            schedule: &schedule,
            from: at("2026-03-02T06:00:00Z"),
            risk,
            step: Duration::from_mins(30),
            windows: &windows,
            zones: &zones,
            freezes: &freezes,
        })
    }

    /// The chart alone, without the legend's swatches.
    fn chart_of(html: &str) -> &str {
        let start = html.find("<svg class=\"timeline\"").expect("a chart");
        &html[start..start + html[start..].find("</svg>").unwrap()]
    }

    #[test]
    fn one_lane_per_tenant_grouped_by_ring() {
        let html = page(RiskTier::Medium);
        assert_eq!(html.matches("<g class=\"lane\"").count(), 3, "three tenants, three lanes");
        assert_eq!(html.matches("<g class=\"ring\"").count(), 2);
        let early = html.find("data-ring=\"early\"").unwrap();
        let late = html.find("data-ring=\"late\"").unwrap();
        let a = html.find("data-tenant=\"a\"").unwrap();
        let b = html.find("data-tenant=\"b\"").unwrap();
        assert!(early < a && a < late && late < b, "lanes sit under their ring's header, in plan order");
        assert_eq!(html.matches("class=\"tenant-bar\"").count(), 3);
        assert_eq!(chart_of(&html).matches("<rect class=\"steps\"").count(), 3);
        assert_eq!(chart_of(&html).matches("<rect class=\"observation\"").count(), 3);
        assert!(html.contains("batch 2/2 · UTC"), "the second batch and the lane's time zone");
        assert!(html.contains("batch 1/1 · Europe/Paris · vip"));
    }

    #[test]
    fn freezes_are_named_bands_over_the_lanes_they_cover() {
        let html = page(RiskTier::Medium);
        // The global freeze: one band over all lanes, and its named row above them.
        assert_eq!(html.matches("<rect class=\"freeze-band\" data-freeze=\"inventory\"").count(), 1);
        assert!(html.contains("<g class=\"freeze-row\" data-freeze=\"inventory\">"));
        assert!(html.contains(">inventory</text>"), "the freeze's name is written on it");
        // The pool freeze covers only b's lane, lets `low` through (not this release), and is escaped.
        assert_eq!(html.matches("class=\"freeze-band\" data-freeze=\"vip-&lt;gala&gt;\"").count(), 1);
        let b_lane = &html[html.find("data-tenant=\"b\"").unwrap()..];
        assert!(b_lane[..b_lane.find("</g>\n").unwrap()].contains("vip-&lt;gala&gt;"));
        // A freeze outside the axis draws nothing but is still listed.
        assert!(!html.contains("<rect class=\"freeze-band\" data-freeze=\"long-past\""));
        assert!(html.contains(
            "<tr data-freeze=\"long-past\"><td>long-past</td><td>all tenants</td><td>nothing</td><td>not in force"
        ));

        let low = page(RiskTier::Low);
        assert!(low.contains("class=\"freeze-band lets-through\" data-freeze=\"vip-&lt;gala&gt;\""));
    }

    #[test]
    fn windows_are_shaded_in_utc_and_described_in_local_time() {
        let html = page(RiskTier::Medium);
        // 23:00 Paris (CET, +1) is 22:00 UTC; the axis ends at 23:00 UTC, so one period shows.
        assert_eq!(chart_of(&html).matches("<rect class=\"window\"").count(), 1);
        assert!(html.contains("Mon 02 Mar 23:00 CET → Tue 03 Mar 01:00 CET (2026-03-02 22:00Z → 2026-03-03 00:00Z)"));
    }

    #[test]
    fn waits_are_tooltips_and_table_rows() {
        let html = page(RiskTier::Medium);
        assert!(html.contains("waits: frozen by &quot;inventory&quot; until 2026-03-02T08:00:00Z</title>"));
        assert!(html.contains("<li>frozen by &quot;inventory&quot; until 2026-03-02T08:00:00Z</li>"));
        assert_eq!(html.matches("<tr data-tenant=").count(), 3);
        assert!(html.contains("Risk tier <strong class=\"tier tier-medium\">medium</strong>"));
        assert!(html.contains("soak 1h"), "the first ring's soak is drawn");
    }

    #[test]
    fn user_text_is_escaped_everywhere() {
        let html = page(RiskTier::Medium);
        assert!(!html.contains("<script"), "no script element, hostile or otherwise");
        assert!(!html.contains("<b>"), "the release name is text, not markup");
        assert!(!html.contains("'x'"));
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;evil&quot;";
        assert!(html.contains(&format!("data-tenant=\"{escaped}\"")), "attribute");
        assert!(html.contains(&format!("<td class=\"id\">{escaped}</td>")), "table cell");
        assert!(html.contains("Release <span class=\"release\">2026.&lt;b&gt;</span>"));
    }

    #[test]
    fn ticks_follow_the_span() {
        let from = at("2026-03-02T06:00:00Z");
        assert_eq!(Axis::new(from, at("2026-03-02T12:00:00Z")).tick_hours(), 1, "six hours over the minimum width");
        let five_days = Axis::new(from, at("2026-03-07T06:00:00Z"));
        assert_eq!(five_days.tick_hours(), 6);
        assert!(five_days.ticks(6).iter().all(|t| t.as_second() % (6 * 3600) == 0));
        assert_eq!(five_days.midnights().len(), 5);
        assert!(Axis::new(from, at("2026-05-02T06:00:00Z")).tick_hours() >= 24);
    }
}
