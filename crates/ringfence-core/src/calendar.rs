//! Time governance as pure calendar arithmetic: maintenance windows, the freeze calendar and
//! break-glass exceptions, answering "may a step of this risk tier run in `[start, end)`?" and "when is
//! the earliest time it may?".
//!
//! Not here: where windows and freezes come from (config loading resolves time zone names and builds
//! these values), who approves a break-glass exception (the gates), and how the planner orders tenants.
//! Nothing here reads the clock or the tz database: instants arrive as [`Timestamp`]s and zones as
//! [`TimeZone`] values.
//!
//! # How time is read
//! A cron expression names wall-clock times in its own time zone; a duration is elapsed time from
//! the instant the occurrence starts. Every occurrence is the half-open interval `[start, start +
//! duration)`, and occurrences that overlap or touch merge into one open period, so `0 * * * *` with
//! `1h` is a window that never closes. A step fits when `[start, start + needed)` lies inside one
//! open period.
//!
//! # Daylight saving time
//! - **Spring forward** (the wall clock jumps, e.g. 02:00 → 03:00 in Europe/Paris on 2027-03-28): a
//!   fixed time such as 02:30 does not exist that night. The occurrence is *moved* to the first instant
//!   after the jump (03:00 local) and keeps its full duration. Skipping it would silently cost a
//!   tenant a whole night's window, which no operator who wrote "every night at 02:30" expects; this is
//!   what Vixie cron does with jobs in the skipped hour, and what croner does for fixed-time patterns.
//! - **Fall back** (01:00–02:00 happens twice in America/New_York on 2027-11-07): a fixed time such as
//!   01:30 opens the window *once*, at its first (daylight-time) instant. A nightly window is a promise
//!   of one slot a night; the earlier instant is also how jiff's default disambiguation reads an
//!   ambiguous local time, so absolute freeze times written in config agree with windows.
//! - Patterns with a wildcard or a step in the minute or hour field are interval patterns: wall-clock
//!   times in the gap are simply absent, and repeated ones occur at both instants.
//! - Because durations are elapsed time, a window that spans the change ends one wall-clock hour later
//!   (spring) or earlier (fall) than on other nights: `0 22 * * *` for `4h` ends at 03:00 local on the
//!   spring-forward night.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::time::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use serde::{Deserialize, Serialize};

use crate::{Duration, TenantId};

/// How far ahead searches look when the caller does not say: two months covers any monthly window.
pub const DEFAULT_HORIZON: Duration = Duration::from_mins(60 * 24 * 60);

/// Why a window, freeze or exception was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The cron expression does not parse as five fields.
    #[error(
        "invalid cron expression {cron:?}: {reason} (write five fields: minute hour day-of-month month \
         day-of-week, e.g. `0 2 * * 1-5` for 02:00 on weekdays)"
    )]
    InvalidCron {
        /// The expression as written.
        cron: String,
        /// What croner found wrong with it.
        reason: String,
    },
    /// A recurring window or freeze with zero length would never be open.
    #[error("{cron:?} has a zero duration; give how long each occurrence lasts, e.g. `4h`")]
    ZeroDuration {
        /// The expression the duration belongs to.
        cron: String,
    },
    /// An absolute freeze that ends at or before its start.
    #[error("freeze {name:?} ends ({end}) at or before its start ({start}); swap or fix the dates")]
    EmptyFreeze {
        /// The freeze's name.
        name: String,
        /// Its start as written.
        start: String,
        /// Its end as written.
        end: String,
    },
}

/// Why a break-glass exception does not let a step into a freeze.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BreakGlassError {
    /// The exception carries no reason.
    #[error("break-glass needs a reason: say why this release cannot wait for the freeze to end")]
    MissingReason,
    /// Fewer distinct approvers than policy requires.
    #[error("break-glass needs {required} distinct approvals, it has {have}; collect {} more", required - have)]
    NotEnoughApprovals {
        /// Distinct approvers present.
        have: usize,
        /// Approvals required.
        required: usize,
    },
}

/// A change's risk tier, lowest first; freezes may let chosen tiers through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskTier {
    /// The lowest tier; policy rules decide which changes get it.
    Low,
    /// Above low.
    Medium,
    /// Above medium.
    High,
    /// The highest tier.
    Critical,
}

/// A cron expression with a duration in one time zone: the shape shared by maintenance windows and
/// recurring freezes.
#[derive(Clone, Debug)]
pub struct Recurrence {
    pattern: String,
    cron: Cron,
    duration: Duration,
    tz: TimeZone,
}

impl PartialEq for Recurrence {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.duration == other.duration && self.tz == other.tz
    }
}

impl Recurrence {
    /// Parses a five-field cron expression whose times are wall-clock times in `tz`.
    pub fn new(cron: &str, duration: Duration, tz: TimeZone) -> Result<Self, CalendarError> {
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        let parsed = parser
            .parse(cron)
            .map_err(|e| CalendarError::InvalidCron { cron: cron.to_owned(), reason: e.to_string() })?;
        if duration.is_zero() {
            return Err(CalendarError::ZeroDuration { cron: cron.to_owned() });
        }
        Ok(Recurrence { pattern: cron.to_owned(), cron: parsed, duration, tz })
    }

    /// The cron expression as written.
    pub fn cron(&self) -> &str {
        &self.pattern
    }

    /// How long each occurrence lasts.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The zone the cron times are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Whether an occurrence covers `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        self.periods(at, at).next().is_some_and(|(start, _)| start <= at)
    }

    /// Open periods (merged occurrences) that end after `from`, in order, built from occurrences that
    /// start no later than `scan_end`. A period's start is never reported earlier than
    /// `from - duration`, which is all any caller needs to know about the past.
    pub fn periods(&self, from: Timestamp, scan_end: Timestamp) -> Periods<'_> {
        let first = self.occurrence_at_or_after(sub(from, self.duration.to_signed()));
        Periods { recurrence: self, next: first, from, scan_end }
    }

    /// The first occurrence at or after `t` (to the second: croner works in whole seconds).
    fn occurrence_at_or_after(&self, t: Timestamp) -> Option<Timestamp> {
        let floored = Timestamp::from_second(t.as_second()).ok()?;
        self.find(floored, true)
    }

    /// The occurrence after the occurrence `t`.
    fn occurrence_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.find(t, false)
    }

    fn find(&self, t: Timestamp, inclusive: bool) -> Option<Timestamp> {
        // An expression that never matches (`0 0 31 2 *`) ends croner's search with an error: there
        // is simply no further occurrence.
        let origin = Wall(t.to_zoned_datetime(self.tz.clone()));
        self.cron.find_next_occurrence(&origin, inclusive).ok().map(|w| w.0.timestamp())
    }
}

/// Iterator over a [`Recurrence`]'s open periods; see [`Recurrence::periods`].
#[derive(Clone, Debug)]
pub struct Periods<'a> {
    recurrence: &'a Recurrence,
    next: Option<Timestamp>,
    from: Timestamp,
    scan_end: Timestamp,
}

impl Iterator for Periods<'_> {
    type Item = (Timestamp, Timestamp);

    fn next(&mut self) -> Option<(Timestamp, Timestamp)> {
        let length = self.recurrence.duration.to_signed();
        loop {
            let start = self.next.filter(|s| *s <= self.scan_end)?;
            let mut end = add(start, length);
            let mut last = start;
            self.next = None;
            while let Some(following) = self.recurrence.occurrence_after(last) {
                if following > end || following > self.scan_end {
                    self.next = Some(following);
                    break;
                }
                end = end.max(add(following, length));
                last = following;
            }
            if end > self.from {
                return Some((start, end));
            }
        }
    }
}

/// A tenant's recurring maintenance window: steps start only when they can finish inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct MaintenanceWindow {
    recurrence: Recurrence,
}

impl MaintenanceWindow {
    /// A window opening at each `cron` time (wall clock in `tz`) for `duration`.
    pub fn new(cron: &str, duration: Duration, tz: TimeZone) -> Result<Self, CalendarError> {
        Ok(MaintenanceWindow { recurrence: Recurrence::new(cron, duration, tz)? })
    }

    /// The cron expression, duration and zone.
    pub fn recurrence(&self) -> &Recurrence {
        &self.recurrence
    }

    /// Whether the window is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        self.recurrence.is_open(at)
    }

    /// The earliest `(start, end)` with `start >= from`, `end = start + needed`, inside one open period,
    /// starting within [`DEFAULT_HORIZON`] of `from`.
    pub fn next_fit(&self, from: Timestamp, needed: Duration) -> Option<(Timestamp, Timestamp)> {
        self.next_fit_within(from, needed, DEFAULT_HORIZON)
    }

    /// [`Self::next_fit`] with the latest acceptable start `from + horizon`.
    pub fn next_fit_within(
        &self,
        from: Timestamp,
        needed: Duration,
        horizon: Duration,
    ) -> Option<(Timestamp, Timestamp)> {
        self.fit_before(from, needed, add(from, horizon.to_signed()))
    }

    fn fit_before(&self, from: Timestamp, needed: Duration, latest: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let needed = needed.to_signed();
        for (open, close) in self.recurrence.periods(from, add(latest, needed)) {
            let start = open.max(from);
            if start > latest {
                return None;
            }
            let end = add(start, needed);
            if start < close && end <= close {
                return Some((start, end));
            }
        }
        None
    }
}

/// Which tenants a freeze covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreezeScope {
    /// Every tenant.
    Global,
    /// Every tenant on the named pool.
    Pool(String),
    /// One tenant.
    Tenant(TenantId),
}

/// When a freeze is in force.
#[derive(Clone, Debug, PartialEq)]
pub enum FreezeKind {
    /// One period between two instants, `[start, end)`.
    Absolute {
        /// First instant frozen.
        start: Timestamp,
        /// First instant no longer frozen.
        end: Timestamp,
    },
    /// Every occurrence of a cron expression, for a duration (boxed: a parsed cron is large).
    Recurring(Box<Recurrence>),
}

/// A period in which steps may not start or run, except those of the tiers it allows.
#[derive(Clone, Debug, PartialEq)]
pub struct Freeze {
    /// Name shown when it makes a step wait, e.g. `black-friday`.
    pub name: String,
    /// When it is in force.
    pub kind: FreezeKind,
    /// Whom it covers.
    pub scope: FreezeScope,
    /// Risk tiers it lets through; empty freezes everything.
    pub allows_tiers: Vec<RiskTier>,
}

impl Freeze {
    /// A freeze from local `start` to local `end`, each in its own zone (the instants they name).
    pub fn absolute(
        name: &str,
        start: &ZonedDateTime,
        end: &ZonedDateTime,
        scope: FreezeScope,
    ) -> Result<Self, CalendarError> {
        if end.timestamp() <= start.timestamp() {
            return Err(CalendarError::EmptyFreeze {
                name: name.to_owned(),
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        let kind = FreezeKind::Absolute { start: start.timestamp(), end: end.timestamp() };
        Ok(Freeze { name: name.to_owned(), kind, scope, allows_tiers: Vec::new() })
    }

    /// A freeze in force at each `cron` time (wall clock in `tz`) for `duration`.
    pub fn recurring(
        name: &str,
        cron: &str,
        duration: Duration,
        tz: TimeZone,
        scope: FreezeScope,
    ) -> Result<Self, CalendarError> {
        let kind = FreezeKind::Recurring(Box::new(Recurrence::new(cron, duration, tz)?));
        Ok(Freeze { name: name.to_owned(), kind, scope, allows_tiers: Vec::new() })
    }

    /// The same freeze, letting steps of `tiers` through.
    pub fn allowing(mut self, tiers: &[RiskTier]) -> Self {
        self.allows_tiers = tiers.to_vec();
        self
    }

    /// Whether the freeze covers this tenant on this pool.
    pub fn covers(&self, tenant: &TenantId, pool: &str) -> bool {
        match &self.scope {
            FreezeScope::Global => true,
            FreezeScope::Pool(name) => name == pool,
            FreezeScope::Tenant(id) => id == tenant,
        }
    }

    /// Whether the freeze lets a step of `tier` through.
    pub fn allows(&self, tier: RiskTier) -> bool {
        self.allows_tiers.contains(&tier)
    }

    /// Whether the freeze, when in force, stops a step of `tier` for `tenant` on `pool`.
    pub fn stops(&self, tenant: &TenantId, pool: &str, tier: RiskTier) -> bool {
        self.covers(tenant, pool) && !self.allows(tier)
    }

    /// Whether the freeze is in force at `at`.
    pub fn is_active(&self, at: Timestamp) -> bool {
        match &self.kind {
            FreezeKind::Absolute { start, end } => *start <= at && at < *end,
            FreezeKind::Recurring(recurrence) => recurrence.is_open(at),
        }
    }

    /// The first period in force that overlaps `[start, end)` (the instant `start` when both are
    /// equal), looking at occurrences up to `scan_end`.
    fn period_overlapping(
        &self,
        start: Timestamp,
        end: Timestamp,
        scan_end: Timestamp,
    ) -> Option<(Timestamp, Timestamp)> {
        let overlaps = |(open, close): (Timestamp, Timestamp)| close > start && (open <= start || open < end);
        match &self.kind {
            FreezeKind::Absolute { start: open, end: close } => Some((*open, *close)).filter(|p| overlaps(*p)),
            FreezeKind::Recurring(recurrence) => recurrence
                .periods(start, scan_end)
                .take_while(|(open, _)| *open <= start || *open < end)
                .find(|p| overlaps(*p)),
        }
    }
}

/// An emergency exception to enter a freeze, as requested.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakGlass {
    /// Why the release cannot wait.
    pub reason: String,
    /// Who approved the exception (more may be recorded with `ringfence approve --for break-glass`).
    #[serde(default)]
    pub approvals: Vec<String>,
}

impl BreakGlass {
    /// Checks the exception against policy: a reason and at least `required` distinct approvers.
    pub fn approve(&self, required: usize) -> Result<ApprovedBreakGlass, BreakGlassError> {
        let reason = self.reason.trim();
        if reason.is_empty() {
            return Err(BreakGlassError::MissingReason);
        }
        let approvers: BTreeSet<&str> = self.approvals.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect();
        if approvers.len() < required {
            return Err(BreakGlassError::NotEnoughApprovals { have: approvers.len(), required });
        }
        Ok(ApprovedBreakGlass {
            reason: reason.to_owned(),
            approvers: approvers.into_iter().map(str::to_owned).collect(),
        })
    }
}

/// A break-glass exception that passed [`BreakGlass::approve`]; only these open freezes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovedBreakGlass {
    reason: String,
    approvers: Vec<String>,
}

/// Why a step waits, for the planner to explain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Reason {
    /// The maintenance window is closed (or too short) until this instant.
    #[serde(rename_all = "camelCase")]
    WindowClosedUntil {
        /// When the fitting window occurrence starts.
        until: Timestamp,
    },
    /// A freeze that does not allow the step's tier is in force until this instant.
    #[serde(rename_all = "camelCase")]
    FrozenBy {
        /// The freeze's name.
        name: String,
        /// When that period of the freeze ends.
        until: Timestamp,
    },
}

/// A record that a step enters a freeze under a break-glass exception, for the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassUse {
    /// The exception's reason.
    pub reason: String,
    /// Its distinct approvers.
    pub approvers: Vec<String>,
    /// The freezes the step enters.
    pub freezes: Vec<String>,
}

/// Where a step may run, and why it could not run earlier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// When the step may start.
    pub start: Timestamp,
    /// When it is expected to finish: `start + needed`.
    pub end: Timestamp,
    /// What made it wait past the requested time, in the order met.
    pub waits: Vec<Reason>,
    /// Set when the slot lies inside a freeze that only break-glass opens.
    pub break_glass: Option<BreakGlassUse>,
}

/// Whose step is looking for a slot, and under which constraints.
#[derive(Clone, Debug)]
pub struct SlotQuery<'a> {
    tenant: &'a TenantId,
    pool: &'a str,
    tier: RiskTier,
    window: Option<&'a MaintenanceWindow>,
    break_glass: Option<&'a ApprovedBreakGlass>,
    horizon: Duration,
}

impl<'a> SlotQuery<'a> {
    /// A step of `tier` for `tenant` on `pool`, with no window, no exception and [`DEFAULT_HORIZON`].
    pub fn new(tenant: &'a TenantId, pool: &'a str, tier: RiskTier) -> Self {
        SlotQuery { tenant, pool, tier, window: None, break_glass: None, horizon: DEFAULT_HORIZON }
    }

    /// The step must also start and finish inside one occurrence of `window`.
    pub fn in_window(mut self, window: &'a MaintenanceWindow) -> Self {
        self.window = Some(window);
        self
    }

    /// The step may enter freezes under this approved exception.
    pub fn with_break_glass(mut self, exception: &'a ApprovedBreakGlass) -> Self {
        self.break_glass = Some(exception);
        self
    }

    /// The latest acceptable start is `from + horizon`.
    pub fn within(mut self, horizon: Duration) -> Self {
        self.horizon = horizon;
        self
    }
}

/// Every freeze that may apply to a fleet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calendar {
    /// The freezes, in any order.
    pub freezes: Vec<Freeze>,
}

impl Calendar {
    /// A calendar of these freezes.
    pub fn new(freezes: Vec<Freeze>) -> Self {
        Calendar { freezes }
    }

    /// The freezes in force at `at` that stop a step of `tier` for `tenant` on `pool`. Deny wins: one
    /// is enough, whatever other freezes (of any scope) allow.
    pub fn blocking(&self, at: Timestamp, tenant: &TenantId, pool: &str, tier: RiskTier) -> Vec<&Freeze> {
        self.freezes.iter().filter(|f| f.stops(tenant, pool, tier) && f.is_active(at)).collect()
    }

    /// The earliest slot of length `needed` starting at or after `from` that lies outside every freeze
    /// blocking the step (unless an approved break-glass exception opens them) and, when the query has
    /// a window, inside one of its open periods. `None` when nothing starts within the horizon.
    pub fn next_unfrozen(&self, from: Timestamp, needed: Duration, query: &SlotQuery<'_>) -> Option<Slot> {
        let latest = add(from, query.horizon.to_signed());
        let scan_end = add(latest, needed.to_signed());
        let mut waits = Vec::new();
        let mut at = from;
        loop {
            if at > latest {
                return None;
            }
            if let Some(window) = query.window {
                let (start, _) = window.fit_before(at, needed, latest)?;
                if start > at {
                    note(&mut waits, Reason::WindowClosedUntil { until: start });
                    at = start;
                }
            }
            let end = add(at, needed.to_signed());
            let hits: Vec<(&Freeze, Timestamp)> = self
                .freezes
                .iter()
                .filter(|f| f.stops(query.tenant, query.pool, query.tier))
                .filter_map(|f| f.period_overlapping(at, end, scan_end).map(|(_, until)| (f, until)))
                .collect();
            if hits.is_empty() {
                return Some(Slot { start: at, end, waits, break_glass: None });
            }
            if let Some(exception) = query.break_glass {
                let used = BreakGlassUse {
                    reason: exception.reason.clone(),
                    approvers: exception.approvers.clone(),
                    freezes: hits.iter().map(|(f, _)| f.name.clone()).collect(),
                };
                return Some(Slot { start: at, end, waits, break_glass: Some(used) });
            }
            for (freeze, until) in &hits {
                note(&mut waits, Reason::FrozenBy { name: freeze.name.clone(), until: *until });
            }
            // Every hit ends after `at`, so the search always moves forward.
            at = hits.iter().map(|(_, until)| *until).max().unwrap_or(at);
        }
    }
}

/// Records a wait, folding repeats: a freeze met again (its next occurrence, or after a window wait)
/// keeps one entry with the latest end, and consecutive window waits keep the last.
fn note(waits: &mut Vec<Reason>, reason: Reason) {
    match &reason {
        Reason::FrozenBy { name, until } => {
            let earlier = waits.iter_mut().find_map(|w| match w {
                Reason::FrozenBy { name: n, until: u } if n == name => Some(u),
                _ => None,
            });
            if let Some(u) = earlier {
                *u = (*u).max(*until);
                return;
            }
        }
        Reason::WindowClosedUntil { .. } => {
            if let Some(last @ Reason::WindowClosedUntil { .. }) = waits.last_mut() {
                *last = reason;
                return;
            }
        }
    }
    waits.push(reason);
}

fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn sub(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_sub(d).unwrap_or(Timestamp::MIN)
}

/// A zoned instant as croner sees it. croner's own jiff support targets jiff 0.2, so the core adapts
/// jiff 1 here; only the wall-clock reading and the gap/fold resolution matter.
#[derive(Clone, Debug)]
struct Wall(ZonedDateTime);

impl CronDateTime for Wall {
    fn to_civil(&self) -> CivilDateTime {
        let dt = self.0.datetime();
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(i32::from(dt.year()), small(dt.month()), small(dt.day())),
            CivilTime::from_parts_unchecked(small(dt.hour()), small(dt.minute()), small(dt.second())),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(small(self.0.weekday().to_sunday_zero_offset()))
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let part = |v: u32| i8::try_from(v).map_err(|_| CronError::InvalidTime);
        let year = i16::try_from(civil.year()).map_err(|_| CronError::InvalidDate)?;
        let dt = jiff::civil::DateTime::new(
            year,
            part(civil.month())?,
            part(civil.day())?,
            part(civil.hour())?,
            part(civil.minute())?,
            part(civil.second())?,
            0,
        )
        .map_err(|_| CronError::InvalidDate)?;
        let ambiguous = self.0.time_zone().to_ambiguous_zoned_datetime(dt);
        let wrap = |z: Result<ZonedDateTime, jiff::Error>| z.map(Wall).map_err(|_| CronError::InvalidTime);
        Ok(match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => Resolution::Single(wrap(ambiguous.unambiguous())?),
            AmbiguousOffset::Fold { .. } => {
                Resolution::Ambiguous(wrap(ambiguous.clone().earlier())?, wrap(ambiguous.later())?)
            }
            AmbiguousOffset::Gap { .. } => Resolution::Gap,
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0.checked_add(SignedDuration::from_secs(seconds)).ok().map(Wall)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

/// A calendar field jiff keeps in range (month, hour, weekday...) as croner's `u32`.
fn small(v: i8) -> u32 {
    u32::try_from(v).unwrap_or(0)
}
