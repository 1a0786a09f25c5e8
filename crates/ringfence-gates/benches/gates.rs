//! Evaluating every gate for a release to 10,000 tenants, Rego included: the release gates once, the
//! ring gates for 8 rings, and the tenant gates of all 10,000 tenants in one evaluation. Target (issue
//! 7): under 1 second. Also times tenants evaluated one by one (`Scope::Tenant`), to show why the
//! batch exists. `--quick` runs fewer repetitions. Exits non-zero when over target.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ringfence_core::calendar::RiskTier;
use ringfence_gates::{
    Approval, ApprovalSubject, CalendarState, CapacityState, Evidence, GateInput, GatePolicy, ProvenanceEvidence,
    RehearsalEvidence, ReleaseInput, RestorePoint, RiskDecisionInput, Scope, SignatureEvidence, TenantInput,
    TestEvidence, User, Verdict, VulnerabilityEvidence,
};
use ringfence_risk::{ChangeKind, ModuleInput, RiskInput, RiskRules, ScriptInput, classify, decide};

const TENANTS: usize = 10_000;
const RINGS: usize = 8;
const TARGET: Duration = Duration::from_secs(1);

fn input() -> GateInput {
    let now: Timestamp = "2026-11-27T10:00:00Z".parse().expect("valid timestamp");
    let facts = RiskInput {
        modules: vec![ModuleInput::new("stock", ChangeKind::Upgrade)],
        scripts: vec![ScriptInput { module: "stock".to_owned(), path: "migrations/17.0.1.3/post-x.py".to_owned() }],
        ..RiskInput::default()
    };
    let decided = decide(&classify(&facts, &RiskRules::default()), "camille.roux", None).expect("no request");
    let user = |name: &str, roles: &[&str]| User {
        name: name.to_owned(),
        email: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    let approval = |name: &str| Approval {
        user: name.to_owned(),
        role: "approver".to_owned(),
        reason: "ok".to_owned(),
        at: now,
        revision: 1,
        subject: ApprovalSubject::Release,
    };
    // A varied fleet: some tenants stale, outside their window, frozen, on a full cluster, or with
    // their own tier, so every branch of the tenant gates is taken.
    let tenants = (0..TENANTS)
        .map(|i| TenantInput {
            id: format!("shop-{i:05}"),
            tier: (i % 13 == 0).then_some(RiskTier::Critical),
            migrates: i % 10 != 0,
            restore_point: (i % 17 != 0).then(|| RestorePoint {
                id: format!("rp-{i}"),
                taken_at: now - SignedDuration::from_mins((i % 300) as i64),
            }),
            calendar: CalendarState {
                in_freeze: i % 29 == 0,
                freezes: if i % 29 == 0 { vec!["inventory".to_owned()] } else { Vec::new() },
                in_window: Some(i % 7 != 0),
                next_window: (i % 7 == 0).then(|| now + SignedDuration::from_hours(3)),
                ..CalendarState::default()
            },
            capacity: Some(CapacityState {
                in_flight: (i % 5) as u32,
                max_in_flight: Some(4),
                pool_unavailable_percent: (i % 30) as f64,
                max_pool_unavailable_percent: None,
            }),
        })
        .collect();
    GateInput {
        scope: Scope::Release,
        now,
        release: ReleaseInput {
            id: "platform-2026.11.3".to_owned(),
            revision: 1,
            author: "camille.roux".to_owned(),
            operator: Some("olivier.petit".to_owned()),
            image: "registry.example/odoo@sha256:4f6b8c3a9e2d1f0b7a5c4e3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080"
                .to_owned(),
        },
        risk: RiskDecisionInput::from(&decided),
        evidence: Evidence {
            signature: Some(SignatureEvidence { verified: true, key_id: Some("k".to_owned()), problem: None }),
            provenance: Some(ProvenanceEvidence { verified: true, builder_id: None, problem: None }),
            vulnerabilities: Some(VulnerabilityEvidence { scanner: "grype".to_owned(), ..Default::default() }),
            tests: Some(TestEvidence { total: 400, passed: 400, ..Default::default() }),
            rehearsal: Some(RehearsalEvidence { done: true, max_blocking_ms: 800, duration_ms: 90_000 }),
        },
        approvals: vec![approval("ana"), approval("bruno")],
        users: vec![
            user("camille.roux", &["approver"]),
            user("ana", &["approver"]),
            user("bruno", &["approver", "release-manager"]),
            user("olivier.petit", &["approver"]),
        ],
        calendar: CalendarState::default(),
        capacity: Some(CapacityState { in_flight: 10, max_in_flight: Some(50), ..CapacityState::default() }),
        tenants,
    }
}

/// All gates of a rollout: release, each ring, every tenant. Returns the number of verdicts.
fn all_gates(policy: &GatePolicy, input: &mut GateInput) -> usize {
    input.scope = Scope::Release;
    let mut verdicts = policy.evaluate(input).expect("release gates").verdicts.len();
    for r in 0..RINGS {
        input.scope = Scope::Ring { name: format!("ring-{r}") };
        verdicts += policy.evaluate(input).expect("ring gates").verdicts.len();
    }
    let tenants = policy.evaluate_tenants(input).expect("tenant gates");
    assert_eq!(tenants.len(), TENANTS);
    verdicts + tenants.iter().map(|t| t.verdicts.len()).sum::<usize>()
}

fn stats(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2], times[times.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 10 };
    let started = Instant::now();
    let policy = GatePolicy::builtin();
    let compile = started.elapsed();
    let mut input = input();

    // Correctness before speed: the batch agrees with one-by-one evaluation on a sample.
    let batch = policy.evaluate_tenants(&input).expect("tenant gates");
    for i in (0..TENANTS).step_by(997) {
        input.scope = Scope::Tenant { id: input.tenants[i].id.clone() };
        assert_eq!(policy.evaluate(&input).expect("one tenant"), batch[i]);
    }
    let blocked = batch.iter().filter(|r| r.overall != Verdict::Pass).count();

    let mut times = Vec::with_capacity(runs);
    let mut verdicts = 0;
    for _ in 0..runs {
        let t = Instant::now();
        verdicts = all_gates(&policy, &mut input);
        times.push(t.elapsed());
    }
    let (min, median, max) = stats(times);

    // The release gates alone (one scope, no tenants sent).
    input.scope = Scope::Release;
    let release: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            policy.evaluate(&input).expect("release gates");
            t.elapsed()
        })
        .collect();
    let (_, release, _) = stats(release);

    // One tenant per evaluation, as a naive runtime would ask: a sample, extrapolated.
    let sample = if quick { 50 } else { 200 };
    let t = Instant::now();
    for i in 0..sample {
        input.scope = Scope::Tenant { id: input.tenants[i].id.clone() };
        policy.evaluate(&input).expect("one tenant");
    }
    let one_by_one = t.elapsed() / sample as u32;

    println!("gates: {TENANTS} tenants, {RINGS} rings, {runs} runs; policy compiled in {}", ms(compile));
    println!(
        "all gates (release + {RINGS} rings + {TENANTS} tenants in one evaluation, {verdicts} verdicts, {blocked} tenants not passing):"
    );
    println!("  time: min {}, median {}, max {} (target < {})", ms(min), ms(median), ms(max), ms(TARGET));
    println!("release gates alone: median {} per evaluation", ms(release));
    println!(
        "one tenant per evaluation (input of {TENANTS} tenants): {} each, {} for all {TENANTS} (extrapolated from {sample})",
        ms(one_by_one),
        ms(one_by_one * TENANTS as u32)
    );
    if median > TARGET {
        println!("result: OVER TARGET");
        std::process::exit(1);
    }
    println!("result: within target");
}
