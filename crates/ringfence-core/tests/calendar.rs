//! Maintenance windows, freezes and break-glass: DST nights, windows across midnight, deny-wins,
//! tier allowances and the Black Friday freeze, plus a property test against an independent oracle.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use proptest::prelude::*;
use ringfence_core::calendar::{
    BreakGlass, BreakGlassError, Calendar, CalendarError, Freeze, FreezeScope, MaintenanceWindow, Reason, RiskTier,
    SlotQuery,
};
use ringfence_core::{Duration, TenantId};

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn local(datetime: &str, zone: &str) -> ZonedDateTime {
    datetime.parse::<DateTime>().unwrap().to_zoned_datetime(tz(zone)).unwrap()
}

fn dur(text: &str) -> Duration {
    text.parse().unwrap()
}

fn window(cron: &str, duration: &str, zone: &str) -> MaintenanceWindow {
    MaintenanceWindow::new(cron, dur(duration), tz(zone)).unwrap()
}

fn black_friday() -> Freeze {
    Freeze::absolute(
        "black-friday",
        &local("2026-11-26T00:00", "America/New_York"),
        &local("2026-12-01T00:00", "America/New_York"),
        FreezeScope::Global,
    )
    .unwrap()
}

fn absolute(name: &str, start: &str, end: &str, scope: FreezeScope) -> Freeze {
    Freeze::absolute(name, &local(start, "UTC"), &local(end, "UTC"), scope).unwrap()
}

const ALL_TIERS: [RiskTier; 4] = [RiskTier::Low, RiskTier::Medium, RiskTier::High, RiskTier::Critical];

fn acme() -> TenantId {
    TenantId::from("acme")
}

fn names(freezes: &[&Freeze]) -> Vec<String> {
    freezes.iter().map(|f| f.name.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Validation

#[test]
fn a_bad_cron_expression_is_rejected_with_its_text() {
    for bad in ["0 2 * *", "61 2 * * *", "0 2 * * 1-5 2027", "0 0 2 * * *", "every night", ""] {
        let err = MaintenanceWindow::new(bad, dur("1h"), tz("UTC")).unwrap_err();
        assert!(matches!(&err, CalendarError::InvalidCron { cron, .. } if cron == bad), "{bad:?}: {err:?}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
    let err = Freeze::recurring("weekly", "0 16 * * 8", dur("8h"), tz("UTC"), FreezeScope::Global).unwrap_err();
    assert!(matches!(err, CalendarError::InvalidCron { .. }));
}

#[test]
fn a_zero_duration_or_an_inverted_freeze_is_rejected() {
    let err = MaintenanceWindow::new("0 2 * * *", Duration::ZERO, tz("UTC")).unwrap_err();
    assert_eq!(err, CalendarError::ZeroDuration { cron: "0 2 * * *".into() });
    let err = Freeze::absolute(
        "backwards",
        &local("2026-12-01T00:00", "UTC"),
        &local("2026-11-26T00:00", "UTC"),
        FreezeScope::Global,
    )
    .unwrap_err();
    assert!(matches!(err, CalendarError::EmptyFreeze { ref name, .. } if name == "backwards"), "{err:?}");
}

#[test]
fn risk_tiers_are_ordered_and_spelled_in_kebab_case() {
    assert!(RiskTier::Low < RiskTier::Medium && RiskTier::Medium < RiskTier::High);
    assert!(RiskTier::High < RiskTier::Critical);
    assert_eq!(serde_json::to_string(&ALL_TIERS).unwrap(), r#"["low","medium","high","critical"]"#);
    assert_eq!(serde_json::from_str::<RiskTier>(r#""critical""#).unwrap(), RiskTier::Critical);
    assert!(serde_json::from_str::<RiskTier>(r#""Critical""#).is_err());
}

// ---------------------------------------------------------------------------------------------
// Maintenance windows

#[test]
fn a_window_is_open_from_its_cron_time_for_its_duration_on_matching_days() {
    // Monday 2027-01-11, 02:00–04:00 UTC on weekdays.
    let w = window("0 2 * * 1-5", "2h", "UTC");
    assert!(!w.is_open(ts("2027-01-11T01:59:59Z")));
    assert!(w.is_open(ts("2027-01-11T02:00:00Z")));
    assert!(w.is_open(ts("2027-01-11T03:59:59.999Z")));
    assert!(!w.is_open(ts("2027-01-11T04:00:00Z")), "the end is exclusive");
    // Sunday 2027-01-10 has no window.
    assert!(!w.is_open(ts("2027-01-10T02:30:00Z")));
    assert_eq!(
        w.next_fit(ts("2027-01-09T12:00:00Z"), dur("1h")),
        Some((ts("2027-01-11T02:00:00Z"), ts("2027-01-11T03:00:00Z"))),
        "Saturday afternoon waits for Monday, not Sunday"
    );
}

#[test]
fn a_window_across_midnight_stays_open_into_the_next_day() {
    // 22:00 for 4h in Paris (CET, UTC+1 in January): 21:00Z to 01:00Z.
    let w = window("0 22 * * *", "4h", "Europe/Paris");
    assert!(!w.is_open(ts("2027-01-10T20:59:00Z")));
    assert!(w.is_open(ts("2027-01-10T22:30:00Z")), "23:30 local");
    assert!(w.is_open(ts("2027-01-11T00:30:00Z")), "01:30 local, next day");
    assert!(!w.is_open(ts("2027-01-11T01:00:00Z")), "02:00 local");
    assert_eq!(
        w.next_fit(ts("2027-01-10T12:00:00Z"), dur("3h")),
        Some((ts("2027-01-10T21:00:00Z"), ts("2027-01-11T00:00:00Z")))
    );
    // Started after midnight, the step still uses the window opened the evening before.
    assert_eq!(
        w.next_fit(ts("2027-01-10T23:30:00Z"), dur("1h30m")),
        Some((ts("2027-01-10T23:30:00Z"), ts("2027-01-11T01:00:00Z")))
    );
}

#[test]
fn a_step_that_does_not_fit_the_rest_of_an_open_window_waits_for_the_next_one() {
    let w = window("0 2 * * *", "2h", "UTC");
    // One hour left of the window: a one-hour step fits exactly, a longer one waits a day.
    assert_eq!(
        w.next_fit(ts("2027-01-11T03:00:00Z"), dur("1h")),
        Some((ts("2027-01-11T03:00:00Z"), ts("2027-01-11T04:00:00Z")))
    );
    assert_eq!(
        w.next_fit(ts("2027-01-11T03:00:00Z"), dur("1h1m")),
        Some((ts("2027-01-12T02:00:00Z"), ts("2027-01-12T03:01:00Z")))
    );
    // A step longer than the window never fits.
    assert_eq!(w.next_fit(ts("2027-01-11T00:00:00Z"), dur("2h1m")), None);
}

#[test]
fn the_horizon_bounds_the_search() {
    let monthly = window("0 2 1 * *", "4h", "UTC");
    let from = ts("2027-01-02T00:00:00Z");
    assert_eq!(monthly.next_fit_within(from, dur("1h"), dur("10d")), None);
    assert_eq!(monthly.next_fit(from, dur("1h")), Some((ts("2027-02-01T02:00:00Z"), ts("2027-02-01T03:00:00Z"))));
}

#[test]
fn a_cron_that_never_matches_is_never_open() {
    let w = window("0 0 31 2 *", "4h", "UTC");
    assert!(!w.is_open(ts("2027-02-28T01:00:00Z")));
    assert_eq!(w.next_fit(ts("2027-01-01T00:00:00Z"), dur("1m")), None);
}

#[test]
fn touching_occurrences_merge_into_one_open_period() {
    // Every hour for an hour: the window never closes, so a three-hour step starts at once.
    let w = window("0 * * * *", "1h", "UTC");
    let from = ts("2027-01-11T10:17:00Z");
    assert!(w.is_open(from));
    assert_eq!(w.next_fit(from, dur("3h")), Some((from, ts("2027-01-11T13:17:00Z"))));
    // Gaps between occurrences do not merge.
    let w = window("0 */2 * * *", "1h", "UTC");
    assert_eq!(w.next_fit(from, dur("1h1m")), None);
}

// --- DST: spring forward -------------------------------------------------------------------

#[test]
fn a_0230_window_on_the_paris_spring_forward_night_moves_to_0300() {
    // 2027-03-28: 02:00 CET jumps to 03:00 CEST at 01:00Z; 02:30 does not exist that night.
    let w = window("30 2 * * *", "1h", "Europe/Paris");
    // The night before: 02:30 CET = 01:30Z.
    assert!(w.is_open(ts("2027-03-27T01:30:00Z")));
    // Spring-forward night: open 03:00 CEST (01:00Z) for a full hour.
    assert!(!w.is_open(ts("2027-03-28T00:59:59Z")), "01:59:59 CET, before the jump");
    assert!(w.is_open(ts("2027-03-28T01:00:00Z")));
    assert!(w.is_open(ts("2027-03-28T01:59:59Z")));
    assert!(!w.is_open(ts("2027-03-28T02:00:00Z")));
    assert_eq!(
        w.next_fit(ts("2027-03-27T12:00:00Z"), dur("1h")),
        Some((ts("2027-03-28T01:00:00Z"), ts("2027-03-28T02:00:00Z"))),
        "the occurrence is moved, not skipped"
    );
    // The night after: 02:30 CEST = 00:30Z.
    assert_eq!(
        w.next_fit(ts("2027-03-28T02:00:00Z"), dur("1h")),
        Some((ts("2027-03-29T00:30:00Z"), ts("2027-03-29T01:30:00Z")))
    );
}

#[test]
fn a_0230_window_on_the_new_york_spring_forward_night_moves_to_0300() {
    // 2027-03-14: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let w = window("30 2 * * *", "1h", "America/New_York");
    assert_eq!(
        w.next_fit(ts("2027-03-13T12:00:00Z"), dur("1h")),
        Some((ts("2027-03-14T07:00:00Z"), ts("2027-03-14T08:00:00Z")))
    );
    assert!(!w.is_open(ts("2027-03-14T06:59:00Z")));
    assert!(!w.is_open(ts("2027-03-14T08:00:00Z")));
    // Before: 02:30 EST = 07:30Z; after: 02:30 EDT = 06:30Z.
    assert!(w.is_open(ts("2027-03-13T07:30:00Z")));
    assert!(w.is_open(ts("2027-03-15T06:30:00Z")));
    assert!(!w.is_open(ts("2027-03-15T07:30:00Z")));
}

#[test]
fn a_window_spanning_the_spring_forward_keeps_its_elapsed_duration() {
    // 22:00 CET (21:00Z) + 4h ends at 01:00Z, which is 03:00 CEST on the wall clock.
    let w = window("0 22 * * *", "4h", "Europe/Paris");
    assert!(w.is_open(ts("2027-03-28T00:59:59Z")));
    assert!(!w.is_open(ts("2027-03-28T01:00:00Z")));
}

// --- DST: fall back --------------------------------------------------------------------------

#[test]
fn a_0130_window_on_the_new_york_fall_back_night_opens_once_at_the_first_0130() {
    // 2027-11-07: 01:30 EDT (05:30Z) and 01:30 EST (06:30Z) both happen; only the first opens.
    let w = window("30 1 * * *", "1h", "America/New_York");
    assert!(!w.is_open(ts("2027-11-07T05:29:59Z")));
    assert!(w.is_open(ts("2027-11-07T05:30:00Z")));
    assert!(w.is_open(ts("2027-11-07T06:29:59Z")));
    assert!(!w.is_open(ts("2027-11-07T06:30:00Z")), "the second 01:30 is not a new occurrence");
    assert!(!w.is_open(ts("2027-11-07T07:00:00Z")));
    // With 45 minutes left, a 50-minute step waits for the next night (01:30 EST = 06:30Z).
    assert_eq!(
        w.next_fit(ts("2027-11-07T05:45:00Z"), dur("50m")),
        Some((ts("2027-11-08T06:30:00Z"), ts("2027-11-08T07:20:00Z")))
    );
    // Searching from inside the repeated hour (here, the second 01:30 itself, and 01:45 EST) does
    // not find the second 01:30 either.
    assert_eq!(
        w.next_fit(ts("2027-11-07T06:30:00Z"), dur("10m")),
        Some((ts("2027-11-08T06:30:00Z"), ts("2027-11-08T06:40:00Z")))
    );
    assert_eq!(
        w.next_fit(ts("2027-11-07T06:15:00Z"), dur("20m")),
        Some((ts("2027-11-08T06:30:00Z"), ts("2027-11-08T06:50:00Z")))
    );
}

#[test]
fn a_0230_window_on_the_paris_fall_back_night_opens_once() {
    // 2027-10-31: 03:00 CEST goes back to 02:00 CET at 01:00Z; 02:30 is 00:30Z and 01:30Z.
    let w = window("30 2 * * *", "1h", "Europe/Paris");
    assert_eq!(
        w.next_fit(ts("2027-10-30T12:00:00Z"), dur("1h")),
        Some((ts("2027-10-31T00:30:00Z"), ts("2027-10-31T01:30:00Z")))
    );
    assert!(!w.is_open(ts("2027-10-31T01:45:00Z")));
    // The next night is in winter time: 02:30 CET = 01:30Z.
    assert_eq!(
        w.next_fit(ts("2027-10-31T01:00:00Z"), dur("1h")),
        Some((ts("2027-11-01T01:30:00Z"), ts("2027-11-01T02:30:00Z")))
    );
}

// ---------------------------------------------------------------------------------------------
// Freezes

#[test]
fn black_friday_blocks_a_step_and_the_next_slot_is_after_it_ends() {
    let calendar = Calendar::new(vec![black_friday()]);
    let from = ts("2026-11-27T09:00:00Z");
    let blocking = calendar.blocking(from, &acme(), "eu-1", RiskTier::Medium);
    assert_eq!(names(&blocking), ["black-friday"]);

    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::Medium);
    let slot = calendar.next_unfrozen(from, dur("1h"), &query).unwrap();
    // Midnight in New York on 2026-12-01 (EST, UTC-5) is 05:00Z.
    assert_eq!(slot.start, ts("2026-12-01T05:00:00Z"));
    assert_eq!(slot.end, ts("2026-12-01T06:00:00Z"));
    assert_eq!(slot.waits, [Reason::FrozenBy { name: "black-friday".into(), until: ts("2026-12-01T05:00:00Z") }]);
    assert_eq!(slot.break_glass, None);
    assert!(calendar.blocking(ts("2026-12-01T04:59:59Z"), &acme(), "eu-1", RiskTier::Medium).len() == 1);
    assert!(calendar.blocking(ts("2026-12-01T05:00:00Z"), &acme(), "eu-1", RiskTier::Medium).is_empty());
}

#[test]
fn black_friday_with_a_tenant_window_waits_for_the_freeze_then_the_window() {
    let calendar = Calendar::new(vec![black_friday()]);
    // 02:00–06:00 New York time: open at 09:00Z on the 27th (04:00 EST), but frozen.
    let w = window("0 2 * * *", "4h", "America/New_York");
    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::High).in_window(&w);
    let slot = calendar.next_unfrozen(ts("2026-11-27T09:00:00Z"), dur("1h"), &query).unwrap();
    assert_eq!((slot.start, slot.end), (ts("2026-12-01T07:00:00Z"), ts("2026-12-01T08:00:00Z")));
    assert_eq!(
        slot.waits,
        [
            Reason::FrozenBy { name: "black-friday".into(), until: ts("2026-12-01T05:00:00Z") },
            Reason::WindowClosedUntil { until: ts("2026-12-01T07:00:00Z") },
        ]
    );
}

#[test]
fn a_step_may_not_start_if_it_would_run_into_a_freeze() {
    let calendar = Calendar::new(vec![black_friday()]);
    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::Low);
    // Ending exactly when the freeze starts (05:00Z) is fine; one minute more is not.
    let slot = calendar.next_unfrozen(ts("2026-11-26T03:00:00Z"), dur("2h"), &query).unwrap();
    assert_eq!(slot.start, ts("2026-11-26T03:00:00Z"));
    assert!(slot.waits.is_empty());
    let slot = calendar.next_unfrozen(ts("2026-11-26T03:00:00Z"), dur("2h1m"), &query).unwrap();
    assert_eq!(slot.start, ts("2026-12-01T05:00:00Z"));
}

#[test]
fn a_freeze_that_allows_only_low_lets_low_through_and_stops_the_rest() {
    let calendar = Calendar::new(vec![black_friday().allowing(&[RiskTier::Low])]);
    let at = ts("2026-11-27T09:00:00Z");
    assert!(calendar.blocking(at, &acme(), "eu-1", RiskTier::Low).is_empty());
    for tier in [RiskTier::Medium, RiskTier::High, RiskTier::Critical] {
        assert_eq!(names(&calendar.blocking(at, &acme(), "eu-1", tier)), ["black-friday"], "{tier:?}");
    }
    let low = calendar.next_unfrozen(at, dur("1h"), &SlotQuery::new(&acme(), "eu-1", RiskTier::Low)).unwrap();
    assert_eq!(low.start, at);
    let high = calendar.next_unfrozen(at, dur("1h"), &SlotQuery::new(&acme(), "eu-1", RiskTier::High)).unwrap();
    assert_eq!(high.start, ts("2026-12-01T05:00:00Z"));
}

#[test]
fn deny_wins_a_tenant_allow_never_overrides_a_global_deny() {
    let global = absolute("global-freeze", "2027-01-11T00:00", "2027-01-12T00:00", FreezeScope::Global);
    let tenant_allows_all =
        absolute("acme-open", "2027-01-10T00:00", "2027-01-13T00:00", FreezeScope::Tenant(acme())).allowing(&ALL_TIERS);
    let pool_allows_low =
        absolute("pool-low", "2027-01-10T00:00", "2027-01-13T00:00", FreezeScope::Pool("eu-1".into()))
            .allowing(&[RiskTier::Low]);
    let calendar = Calendar::new(vec![tenant_allows_all, pool_allows_low, global]);
    let at = ts("2027-01-11T12:00:00Z");
    for tier in ALL_TIERS {
        let blocking = calendar.blocking(at, &acme(), "eu-1", tier);
        assert!(names(&blocking).contains(&"global-freeze".to_owned()), "{tier:?}: {:?}", names(&blocking));
    }
    // Outside the global freeze the allowing freezes block nothing for low; the pool freeze still
    // stops medium.
    let at = ts("2027-01-10T12:00:00Z");
    assert!(calendar.blocking(at, &acme(), "eu-1", RiskTier::Low).is_empty());
    assert_eq!(names(&calendar.blocking(at, &acme(), "eu-1", RiskTier::Medium)), ["pool-low"]);
}

#[test]
fn freezes_apply_only_to_their_scope() {
    let calendar = Calendar::new(vec![
        absolute("pool-freeze", "2027-01-11T00:00", "2027-01-12T00:00", FreezeScope::Pool("eu-1".into())),
        absolute("acme-freeze", "2027-01-11T00:00", "2027-01-12T00:00", FreezeScope::Tenant(acme())),
    ]);
    let at = ts("2027-01-11T12:00:00Z");
    let other = TenantId::from("globex");
    assert_eq!(names(&calendar.blocking(at, &acme(), "eu-1", RiskTier::Low)), ["pool-freeze", "acme-freeze"]);
    assert_eq!(names(&calendar.blocking(at, &acme(), "us-1", RiskTier::Low)), ["acme-freeze"]);
    assert_eq!(names(&calendar.blocking(at, &other, "eu-1", RiskTier::Low)), ["pool-freeze"]);
    assert!(calendar.blocking(at, &other, "us-1", RiskTier::Low).is_empty());
}

#[test]
fn overlapping_and_back_to_back_freezes_are_waited_out_together() {
    let calendar = Calendar::new(vec![
        absolute("a", "2027-01-11T10:00", "2027-01-11T14:00", FreezeScope::Global),
        absolute("b", "2027-01-11T12:00", "2027-01-11T18:00", FreezeScope::Global),
        absolute("c", "2027-01-11T18:00", "2027-01-11T20:00", FreezeScope::Global),
    ]);
    let at = ts("2027-01-11T13:00:00Z");
    assert_eq!(names(&calendar.blocking(at, &acme(), "eu-1", RiskTier::Low)), ["a", "b"]);
    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::Low);
    let slot = calendar.next_unfrozen(ts("2027-01-11T11:00:00Z"), dur("30m"), &query).unwrap();
    assert_eq!(slot.start, ts("2027-01-11T20:00:00Z"));
    assert_eq!(
        slot.waits,
        [
            Reason::FrozenBy { name: "a".into(), until: ts("2027-01-11T14:00:00Z") },
            Reason::FrozenBy { name: "b".into(), until: ts("2027-01-11T18:00:00Z") },
            Reason::FrozenBy { name: "c".into(), until: ts("2027-01-11T20:00:00Z") },
        ]
    );
}

#[test]
fn a_recurring_friday_evening_freeze_follows_paris_time_in_winter_and_summer() {
    // Every Friday 16:00–24:00 in Paris.
    let friday =
        Freeze::recurring("friday-promo", "0 16 * * 5", dur("8h"), tz("Europe/Paris"), FreezeScope::Global).unwrap();
    let calendar = Calendar::new(vec![friday]);
    let blocked = |at: &str| !calendar.blocking(ts(at), &acme(), "eu-1", RiskTier::High).is_empty();
    // Winter (CET, UTC+1): 15:00Z to 23:00Z on Friday 2027-01-08.
    assert!(!blocked("2027-01-08T14:59:59Z"));
    assert!(blocked("2027-01-08T15:00:00Z"));
    assert!(blocked("2027-01-08T22:59:59Z"));
    assert!(!blocked("2027-01-08T23:00:00Z"));
    assert!(!blocked("2027-01-07T16:00:00Z"), "Thursday");
    // Summer (CEST, UTC+2): 14:00Z to 22:00Z on Friday 2027-07-02.
    assert!(!blocked("2027-07-02T13:59:59Z"));
    assert!(blocked("2027-07-02T14:00:00Z"));
    assert!(!blocked("2027-07-02T22:00:00Z"));

    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::High);
    let fits_before = calendar.next_unfrozen(ts("2027-01-08T14:30:00Z"), dur("30m"), &query).unwrap();
    assert_eq!(fits_before.start, ts("2027-01-08T14:30:00Z"));
    let waits = calendar.next_unfrozen(ts("2027-01-08T14:30:00Z"), dur("31m"), &query).unwrap();
    assert_eq!(waits.start, ts("2027-01-08T23:00:00Z"));
    assert_eq!(waits.waits, [Reason::FrozenBy { name: "friday-promo".into(), until: ts("2027-01-08T23:00:00Z") }]);
}

#[test]
fn a_window_that_only_opens_inside_freezes_yields_no_slot_within_the_horizon() {
    // The window opens Fridays at 18:00 Paris, always inside the Friday freeze.
    let friday =
        Freeze::recurring("friday-promo", "0 16 * * 5", dur("8h"), tz("Europe/Paris"), FreezeScope::Global).unwrap();
    let calendar = Calendar::new(vec![friday]);
    let w = window("0 18 * * 5", "2h", "Europe/Paris");
    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::High).in_window(&w).within(dur("30d"));
    assert_eq!(calendar.next_unfrozen(ts("2027-01-04T00:00:00Z"), dur("1h"), &query), None);
}

// ---------------------------------------------------------------------------------------------
// Break-glass

#[test]
fn break_glass_needs_a_reason_and_enough_distinct_approvals() {
    let exception = |reason: &str, approvals: &[&str]| BreakGlass {
        reason: reason.into(),
        approvals: approvals.iter().map(|a| (*a).to_owned()).collect(),
    };
    assert_eq!(exception("  ", &["ana", "bo"]).approve(2), Err(BreakGlassError::MissingReason));
    assert_eq!(
        exception("payment outage", &["ana"]).approve(2),
        Err(BreakGlassError::NotEnoughApprovals { have: 1, required: 2 })
    );
    assert_eq!(
        exception("payment outage", &["ana", "ana", " "]).approve(2),
        Err(BreakGlassError::NotEnoughApprovals { have: 1, required: 2 }),
        "the same approver twice counts once"
    );
    let err = exception("payment outage", &["ana"]).approve(3).unwrap_err();
    assert!(err.to_string().contains("collect 2 more"), "{err}");
    assert!(exception("payment outage", &["ana", "bo"]).approve(2).is_ok());
}

#[test]
fn approved_break_glass_enters_the_freeze_and_is_recorded() {
    let calendar = Calendar::new(vec![black_friday()]);
    let from = ts("2026-11-27T09:00:00Z");
    let exception = BreakGlass { reason: "payment provider outage".into(), approvals: vec!["bo".into(), "ana".into()] };
    let approved = exception.approve(2).unwrap();
    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::Critical).with_break_glass(&approved);
    let slot = calendar.next_unfrozen(from, dur("1h"), &query).unwrap();
    assert_eq!(slot.start, from);
    let used = slot.break_glass.expect("break-glass is recorded");
    assert_eq!(used.reason, "payment provider outage");
    assert_eq!(used.approvers, ["ana", "bo"]);
    assert_eq!(used.freezes, ["black-friday"]);
    assert!(slot.waits.is_empty());

    // Outside any freeze the exception is not used, and the result says so.
    let slot = calendar.next_unfrozen(ts("2026-12-02T09:00:00Z"), dur("1h"), &query).unwrap();
    assert_eq!(slot.break_glass, None);
}

#[test]
fn break_glass_does_not_open_a_closed_window() {
    let calendar = Calendar::new(vec![black_friday()]);
    let w = window("0 2 * * *", "4h", "America/New_York");
    let approved = BreakGlass { reason: "hotfix".into(), approvals: vec!["ana".into()] }.approve(1).unwrap();
    let tenant = acme();
    let query = SlotQuery::new(&tenant, "eu-1", RiskTier::High).in_window(&w).with_break_glass(&approved);
    // 12:00Z is 07:00 EST, after the window: the step waits for 02:00 EST (07:00Z) the next day,
    // still inside the freeze, which break-glass opens.
    let slot = calendar.next_unfrozen(ts("2026-11-27T12:00:00Z"), dur("1h"), &query).unwrap();
    assert_eq!(slot.start, ts("2026-11-28T07:00:00Z"));
    assert_eq!(slot.waits, [Reason::WindowClosedUntil { until: ts("2026-11-28T07:00:00Z") }]);
    assert!(slot.break_glass.is_some());
}

#[test]
fn reasons_serialize_for_the_plan_output() {
    let reason = Reason::FrozenBy { name: "black-friday".into(), until: ts("2026-12-01T05:00:00Z") };
    assert_eq!(
        serde_json::to_string(&reason).unwrap(),
        r#"{"kind":"frozenBy","name":"black-friday","until":"2026-12-01T05:00:00Z"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Property: every slot lies inside one window occurrence and outside every blocking freeze,
// checked against an oracle that computes occurrences with jiff directly (hours 04–23 avoid the
// gap and fold in these zones, so each local time maps to exactly one instant).

const ZONES: [&str; 4] = ["Europe/Paris", "America/New_York", "Australia/Sydney", "UTC"];

#[derive(Clone, Debug)]
struct DailyWindow {
    hour: i8,
    minute: i8,
    weekdays_only: bool,
    minutes: i64,
    zone: &'static str,
}

impl DailyWindow {
    fn build(&self) -> MaintenanceWindow {
        let days = if self.weekdays_only { "1-5" } else { "*" };
        let cron = format!("{} {} * * {days}", self.minute, self.hour);
        MaintenanceWindow::new(&cron, Duration::from_mins(self.minutes as u64), tz(self.zone)).unwrap()
    }

    /// Whether `[start, end)` lies inside one occurrence, computed without croner.
    fn contains(&self, start: Timestamp, end: Timestamp) -> bool {
        let zone = tz(self.zone);
        let date = start.to_zoned_datetime(zone.clone()).date();
        (-3..=0).any(|offset: i64| {
            let day = date.checked_add(jiff::Span::new().days(offset)).unwrap();
            let weekday = day.weekday().to_monday_one_offset();
            if self.weekdays_only && weekday > 5 {
                return false;
            }
            let open = day.at(self.hour, self.minute, 0, 0).to_zoned_datetime(zone.clone()).unwrap().timestamp();
            let close = open.checked_add(SignedDuration::from_mins(self.minutes)).unwrap();
            open <= start && end <= close
        })
    }
}

fn daily_window() -> impl Strategy<Value = DailyWindow> {
    (
        4i8..=23,
        prop::sample::select(vec![0i8, 15, 30, 45]),
        any::<bool>(),
        30i64..=600,
        prop::sample::select(ZONES.to_vec()),
    )
        .prop_map(|(hour, minute, weekdays_only, minutes, zone)| DailyWindow {
            hour,
            minute,
            weekdays_only,
            minutes,
            zone,
        })
}

#[derive(Clone, Debug)]
struct FreezeSpec {
    start_offset_mins: i64,
    length_mins: i64,
    allows_low: bool,
    tenant_scoped: bool,
}

const BASE: &str = "2027-01-01T00:00:00Z";

fn freeze_spec() -> impl Strategy<Value = FreezeSpec> {
    (0i64..60 * 24 * 20, 30i64..60 * 24 * 4, any::<bool>(), any::<bool>()).prop_map(
        |(start_offset_mins, length_mins, allows_low, tenant_scoped)| FreezeSpec {
            start_offset_mins,
            length_mins,
            allows_low,
            tenant_scoped,
        },
    )
}

fn minutes_after(base: Timestamp, minutes: i64) -> Timestamp {
    base.checked_add(SignedDuration::from_mins(minutes)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn slots_lie_inside_a_window_occurrence_and_outside_blocking_freezes(
        window_spec in daily_window(),
        freezes in prop::collection::vec(freeze_spec(), 0..5),
        friday_freeze in any::<bool>(),
        from_offset_mins in 0i64..60 * 24 * 40,
        needed_mins in 1i64..=600,
        tier in prop::sample::select(ALL_TIERS.to_vec()),
    ) {
        let base = ts(BASE);
        let tenant = acme();
        let mut calendar_freezes: Vec<Freeze> = freezes
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let start = minutes_after(base, spec.start_offset_mins).to_zoned_datetime(tz("UTC"));
                let end = minutes_after(base, spec.start_offset_mins + spec.length_mins).to_zoned_datetime(tz("UTC"));
                let scope = if spec.tenant_scoped { FreezeScope::Tenant(tenant.clone()) } else { FreezeScope::Global };
                let freeze = Freeze::absolute(&format!("f{i}"), &start, &end, scope).unwrap();
                if spec.allows_low { freeze.allowing(&[RiskTier::Low]) } else { freeze }
            })
            .collect();
        if friday_freeze {
            calendar_freezes.push(
                Freeze::recurring("friday", "0 16 * * 5", dur("8h"), tz("Europe/Paris"), FreezeScope::Global).unwrap(),
            );
        }
        let calendar = Calendar::new(calendar_freezes);
        let window = window_spec.build();
        let from = minutes_after(base, from_offset_mins);
        let needed = Duration::from_mins(needed_mins as u64);

        // The window alone.
        if let Some((start, end)) = window.next_fit(from, needed) {
            prop_assert!(start >= from);
            prop_assert_eq!(end, minutes_after(start, needed_mins));
            prop_assert!(window_spec.contains(start, end), "next_fit {}..{} is outside every occurrence", start, end);
        } else {
            prop_assert!(needed_mins > window_spec.minutes, "a step that fits the window always finds a slot");
        }

        // The window with freezes.
        let query = SlotQuery::new(&tenant, "eu-1", tier).in_window(&window);
        if let Some(slot) = calendar.next_unfrozen(from, needed, &query) {
            prop_assert!(slot.start >= from);
            prop_assert_eq!(slot.end, minutes_after(slot.start, needed_mins));
            prop_assert!(window_spec.contains(slot.start, slot.end), "slot {:?} outside the window", slot);
            prop_assert!(slot.break_glass.is_none());
            // Oracle for the absolute freezes: plain interval overlap.
            for (i, spec) in freezes.iter().enumerate() {
                let blocks = !(spec.allows_low && tier == RiskTier::Low);
                let open = minutes_after(base, spec.start_offset_mins);
                let close = minutes_after(base, spec.start_offset_mins + spec.length_mins);
                prop_assert!(!blocks || slot.end <= open || close <= slot.start, "slot {:?} overlaps f{}", slot, i);
            }
            // The recurring freeze, sampled every minute through the slot.
            let mut at = slot.start;
            while at < slot.end {
                prop_assert!(calendar.blocking(at, &tenant, "eu-1", tier).is_empty(), "slot {:?} blocked at {}", slot, at);
                at = minutes_after(at, 1);
            }
            if friday_freeze {
                let paris = |t: Timestamp| t.to_zoned_datetime(tz("Europe/Paris"));
                for t in [slot.start, slot.end.checked_sub(SignedDuration::from_nanos(1)).unwrap()] {
                    let local = paris(t);
                    prop_assert!(
                        !(local.weekday() == jiff::civil::Weekday::Friday && local.hour() >= 16),
                        "slot {:?} touches a Friday evening", slot
                    );
                }
            }
        }
    }
}
