//! `release submit`, `approve`, `gates` and `policy test`: governance from the command line.
//!
//! The audit trail is the ledger. `release submit` appends `release.submitted` with the release's
//! content digest and its revision number (1 for the first submission; a new number whenever the
//! Release document changes); `approve` appends `release.approved` naming the revision approved.
//! Approvals are read back from the same hash-chained file, verified end to end, so an approval
//! cannot be slipped in or taken out without `audit verify` showing it; an approval of an older
//! revision has expired (the policy says so). Users and their roles come from the configuration's
//! `Users` document.
//!
//! `gates` gathers what the gate policy reads (`ringfence-gates`' input): the release and its
//! revision, the risk tier decided from the change analysis the Release names, evidence verified
//! from the files it names (signature and provenance against the policy's keys, Trivy/Grype and
//! JUnit reports, rehearsal reports), approvals, users, and each tenant's calendar state now. It
//! evaluates the policy (the configuration's `gates/` directory, else the built-in one) at release,
//! ring and tenant scope and prints every gate with its verdict, what is missing and who can
//! provide it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use jiff::Timestamp;
use ringfence_audit::{AuditLog, NewEntry, Subject};
use ringfence_config::{DocumentKind, Loaded};
use ringfence_core::calendar::{Reason, RiskTier};
use ringfence_core::governance::GovernanceSpec;
use ringfence_core::model::{Config, Release};
use ringfence_gates::{
    Approval, ApprovalSubject, CalendarState, DecidingFact, Evidence, GateInput, GatePolicy, GateReport,
    ProvenanceEvidence, RehearsalEvidence, ReleaseInput, RiskDecisionInput, Scope, SignatureEvidence, TenantInput,
    TestEvidence, User, Verdict, VulnerabilityEvidence,
};
use ringfence_risk::{Classification, TierRequest, decide};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Exit;
use crate::cli::{ApproveArgs, ApproveFor, GatesArgs, SubmitArgs};
use crate::config_cmd::load_or_report;
use crate::failure::{UsageError, UsageResult, usage};
use crate::out::{errln, out, outln};

/// The content digest of a release: SHA-256 over its JSON form. Any change to the Release document
/// (image, migration, evidence files named, tier asked for) gives a new digest.
pub fn release_digest(release: &Release) -> String {
    let bytes = serde_json::to_vec(release).expect("a release serialises");
    format!("sha256:{:x}", Sha256::digest(&bytes))
}

/// One `release.submitted` entry.
#[derive(Debug, Clone)]
struct Submission {
    revision: u32,
    digest: String,
    by: String,
}

/// What the audit trail says about one release: its submissions and approvals, in order, and how
/// far into the trail it has read.
#[derive(Debug, Default, Clone)]
struct Ledger {
    submissions: Vec<Submission>,
    approvals: Vec<Approval>,
    cursor: ringfence_audit::Cursor,
}

impl Ledger {
    /// Reads (and verifies) the audit trail at `path`; a missing file is an empty ledger.
    fn read(path: &Path, version: &str) -> anyhow::Result<Ledger> {
        let mut ledger = Ledger::default();
        ledger.follow(path, version)?;
        Ok(ledger)
    }

    /// Takes in what was appended to the trail since the last read, verified as continuing the
    /// chain already read: a rollout asks before every tenant without reading the trail again.
    fn follow(&mut self, path: &Path, version: &str) -> anyhow::Result<()> {
        if !path.exists() {
            return Ok(());
        }
        let entries = ringfence_audit::read_new_entries(path, &mut self.cursor)
            .with_context(|| format!("reading approvals from the audit trail {}", path.display()))?;
        for e in entries.into_iter().filter(|e| e.subject.release == version) {
            let get = |k: &str| e.details.get(k);
            let revision = get("revision").and_then(Value::as_u64).unwrap_or(0) as u32;
            match e.action.as_str() {
                "release.submitted" => self.submissions.push(Submission {
                    revision,
                    digest: get("digest").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    by: e.actor.clone(),
                }),
                "release.approved" => self.approvals.push(Approval {
                    user: e.actor.clone(),
                    role: get("role").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    reason: get("reason").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    at: e.ts,
                    revision,
                    subject: get("for")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or(ApprovalSubject::Release),
                }),
                _ => {}
            }
        }
        Ok(())
    }

    /// The submission of exactly this content, if any.
    fn submitted(&self, digest: &str) -> Option<&Submission> {
        self.submissions.iter().rev().find(|s| s.digest == digest)
    }

    fn latest(&self) -> Option<&Submission> {
        self.submissions.last()
    }
}

/// A gate policy's error as one message (its causes are in it), classified here because flattening
/// drops its type: the policy's Rego is configuration (a usage error); a policy file that cannot be
/// read is the environment's failure.
fn gate_error(e: ringfence_gates::GateError) -> anyhow::Error {
    let flat = anyhow::anyhow!("{e}");
    if matches!(e, ringfence_gates::GateError::Read { .. }) { flat } else { UsageError::new(flat).into() }
}

fn release_of(loaded: &Loaded, dir: &Path) -> anyhow::Result<Release> {
    loaded
        .config
        .release
        .clone()
        .with_context(|| format!("{} holds no Release document: governance applies to a release", dir.display()))
        .or_usage()
}

fn check_release_name(release: &Release, loaded: &Loaded, asked: &str) -> anyhow::Result<()> {
    let name = loaded.names.get(&DocumentKind::Release).map(String::as_str);
    if asked != release.version && Some(asked) != name {
        usage!(
            "the configuration's release is {} (version {}), not {asked:?}",
            name.unwrap_or("unnamed"),
            release.version
        );
    }
    Ok(())
}

/// The user `who` names in the configuration's Users document, or an error saying who exists.
fn find_user<'a>(config: &'a Config, who: &str) -> anyhow::Result<&'a ringfence_core::model::User> {
    if config.users.is_empty() {
        usage!(
            "the configuration has no Users document: add one listing who may submit and approve (see examples/retail-fleet/users.yaml)"
        );
    }
    let mut found = config.users.iter().filter(|u| u.is(who));
    match (found.next(), found.next()) {
        (Some(u), None) => Ok(u),
        (Some(_), Some(_)) => usage!("{who:?} names more than one user: use the login name"),
        (None, _) => usage!(
            "{who:?} is not in the Users document; known users: {}",
            config.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn append(audit: &Path, actor: &str, action: &str, release: &str, details: Value) -> anyhow::Result<()> {
    let mut log = AuditLog::open(audit).with_context(|| format!("opening the audit trail {}", audit.display()))?;
    log.append(NewEntry {
        ts: Timestamp::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: Subject { release: release.to_owned(), tenant: None },
        details,
    })?;
    Ok(())
}

/// `ringfence release submit DIR --as USER`.
pub fn submit(args: &SubmitArgs) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(&args.dir, args.json) {
        Ok(l) => l,
        Err(exit) => return Ok(exit),
    };
    let release = release_of(&loaded, &args.dir)?;
    let user = find_user(&loaded.config, &args.actor)?;
    let digest = release_digest(&release);
    let ledger = Ledger::read(&args.audit, &release.version)?;
    let (revision, new) = match ledger.submitted(&digest) {
        Some(s) if ledger.latest().map(|l| l.revision) == Some(s.revision) => (s.revision, false),
        _ => (ledger.latest().map_or(1, |l| l.revision + 1), true),
    };
    if new {
        append(
            &args.audit,
            &user.name,
            "release.submitted",
            &release.version,
            json!({ "revision": revision, "digest": digest, "image": release.image, "author": release.change.author }),
        )?;
    }
    let expired = ledger.approvals.iter().filter(|a| a.revision < revision).count();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "release": release.version, "revision": revision, "digest": digest, "new": new,
                "expiredApprovals": if new { expired } else { 0 },
            }))?
        )?;
    } else if new {
        outln!("release {} submitted as revision {revision} by {} ({digest})", release.version, user.name)?;
        if expired > 0 {
            outln!("{expired} approval(s) of earlier revisions no longer count: the release changed since")?;
        }
    } else {
        outln!("release {} is already submitted as revision {revision}: nothing changed", release.version)?;
    }
    Ok(Exit::Success)
}

/// `ringfence approve RELEASE --config DIR --as USER --role ROLE --reason TEXT`.
pub fn approve(args: &ApproveArgs) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(&args.config, args.json) {
        Ok(l) => l,
        Err(exit) => return Ok(exit),
    };
    let release = release_of(&loaded, &args.config)?;
    check_release_name(&release, &loaded, &args.release)?;
    let user = find_user(&loaded.config, &args.actor)?;
    if !user.roles.contains(&args.role) {
        usage!(
            "{} does not hold role {:?} (their roles: {}); approvals are counted per role",
            user.name,
            args.role,
            if user.roles.is_empty() { "none".to_owned() } else { user.roles.join(", ") }
        );
    }
    if args.reason.trim().is_empty() {
        usage!("an approval needs a reason (--reason): it is what the audit trail keeps of the decision");
    }
    let digest = release_digest(&release);
    let ledger = Ledger::read(&args.audit, &release.version)?;
    let Some(submission) =
        ledger.submitted(&digest).filter(|s| Some(s.revision) == ledger.latest().map(|l| l.revision))
    else {
        usage!(
            "release {} as it stands in {} is not submitted (or changed since it was): run `ringfence release submit {}` first, so the approval names the revision it approves",
            release.version,
            args.config.display(),
            args.config.display()
        );
    };
    let subject = ApprovalSubject::from(args.subject);
    append(
        &args.audit,
        &user.name,
        "release.approved",
        &release.version,
        json!({ "revision": submission.revision, "digest": digest, "role": args.role, "reason": args.reason.trim(), "for": subject }),
    )?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "release": release.version, "revision": submission.revision, "user": user.name,
                "role": args.role, "for": subject,
            }))?
        )?;
    } else {
        outln!(
            "{} approved {} of release {} revision {} as {}",
            user.name,
            match subject {
                ApprovalSubject::Release => "the rollout",
                ApprovalSubject::TierOverride => "the lowering of the risk tier",
                ApprovalSubject::BreakGlass => "the break-glass exception",
            },
            release.version,
            submission.revision,
            args.role
        )?;
    }
    Ok(Exit::Success)
}

impl From<ApproveFor> for ApprovalSubject {
    fn from(f: ApproveFor) -> Self {
        match f {
            ApproveFor::Release => ApprovalSubject::Release,
            ApproveFor::TierOverride => ApprovalSubject::TierOverride,
            ApproveFor::BreakGlass => ApprovalSubject::BreakGlass,
        }
    }
}

/// The rules a rollout of the configuration's release runs under, with the approvers of its
/// break-glass exception: those the Release names, and those recorded with `ringfence approve
/// --for break-glass` for the revision it is submitted as now — each person once, however they are
/// named (login or e-mail).
pub fn governance_spec(config: &Config, audit: &Path) -> anyhow::Result<GovernanceSpec> {
    match &config.release {
        Some(release) if release.break_glass.is_some() => {
            Ok(governance_spec_with(config, &Ledger::read(audit, &release.version)?))
        }
        _ => Ok(GovernanceSpec::from_config(config, None)),
    }
}

/// [`governance_spec`] with the audit trail already read.
fn governance_spec_with(config: &Config, ledger: &Ledger) -> GovernanceSpec {
    let mut spec = GovernanceSpec::from_config(config, None);
    let (Some(release), Some((exception, _))) = (&config.release, spec.break_glass.as_mut()) else {
        return spec;
    };
    let digest = release_digest(release);
    let current = ledger.submitted(&digest).filter(|s| Some(s.revision) == ledger.latest().map(|l| l.revision));
    let recorded = ledger
        .approvals
        .iter()
        .filter(|a| a.subject == ApprovalSubject::BreakGlass && current.is_some_and(|s| s.revision == a.revision))
        .map(|a| a.user.clone());
    let canonical = |who: String| config.users.iter().find(|u| u.is(&who)).map_or(who, |u| u.name.clone());
    let mut approvers: Vec<String> = exception.approvals.drain(..).chain(recorded).map(canonical).collect();
    approvers.sort();
    approvers.dedup();
    exception.approvals = approvers;
    spec
}

/// Every gate of a release, at every scope.
#[derive(Debug, serde::Serialize)]
pub struct GatesOutcome {
    /// The release scope, then each ring, then each tenant.
    pub reports: Vec<GateReport>,
    /// The worst verdict of all.
    pub overall: Verdict,
    /// The revision judged: the submitted one, or the next one when the release is not submitted
    /// as it stands.
    pub revision: u32,
    /// Whether the release is submitted as it stands.
    pub submitted: bool,
}

/// What the gates of one release are judged with: the configuration as loaded (the release a
/// rollout started with, not what the files say later), the compiled policy and calendar, and where
/// approvals and rehearsals are recorded. Approvals, evidence files and rehearsal reports are read
/// again at every evaluation: they are what may change while a rollout runs.
pub struct GateContext {
    dir: PathBuf,
    /// Where the release's evidence files and the policy's keys are taken from.
    files: EvidenceDirs,
    config: Config,
    release: Release,
    digest: String,
    policy: GatePolicy,
    governance: ringfence_core::governance::Governance,
    audit: PathBuf,
    operator: Option<String>,
    /// The trail read so far (followed, not re-read, at each evaluation).
    ledger: std::cell::RefCell<Ledger>,
    /// The change analysis's classification, read once: the release's content does not change.
    classification: Option<Classification>,
    /// The rehearsal reports' summary, read once (one file per tenant).
    rehearsal: Option<RehearsalEvidence>,
    /// Who approved the release's break-glass exception first, for the freeze gate's role check.
    break_glass_by: Option<String>,
}

/// The gate input at release scope for `now`, and whether the release is submitted as it stands.
struct Prepared {
    input: GateInput,
    submitted: Option<u32>,
    submissions: usize,
}

impl GateContext {
    /// The context of the configuration's release, judged as `operator` would start it.
    pub fn new(
        dir: &Path,
        loaded: &Loaded,
        (audit, rehearsals): (&Path, &Path),
        operator: Option<&str>,
    ) -> anyhow::Result<GateContext> {
        let release = release_of(loaded, dir)?;
        let base = if dir.is_dir() { dir.to_owned() } else { dir.parent().map(Path::to_owned).unwrap_or_default() };
        let policy = GatePolicy::load(&base).map_err(gate_error)?;
        let ledger = Ledger::read(audit, &release.version)?;
        let mut spec = governance_spec_with(&loaded.config, &ledger);
        spec.tier = release.risk.unwrap_or(RiskTier::Medium);
        let break_glass_by = spec.break_glass.as_ref().and_then(|(b, _)| b.approvals.first().cloned());
        let governance = spec.compile(jiff::tz::TimeZone::get).map_err(|e| UsageError::new(anyhow::anyhow!("{e}")))?;
        // Relative paths are taken from the directory of the file each is written in.
        let of = |kind| loaded.dirs.get(&kind).cloned().unwrap_or_else(|| base.clone());
        let files = EvidenceDirs { release: of(DocumentKind::Release), policy: of(DocumentKind::Policy) };
        let classification = classification(&files.release, &release)?;
        let rehearsal = rehearsal_evidence(rehearsals, &release)?;
        Ok(GateContext {
            dir: dir.to_owned(),
            files,
            config: loaded.config.clone(),
            digest: release_digest(&release),
            ledger: std::cell::RefCell::new(ledger),
            release,
            policy,
            governance,
            audit: audit.to_owned(),
            operator: operator.map(str::to_owned),
            classification,
            rehearsal,
            break_glass_by,
        })
    }

    fn prepare(&self, now: Timestamp) -> anyhow::Result<Prepared> {
        let (config, release, digest) = (&self.config, &self.release, &self.digest);
        self.ledger.borrow_mut().follow(&self.audit, &release.version)?;
        let ledger = self.ledger.borrow().clone();
        // The submitted revision of exactly this content; when it changed (or was never submitted),
        // the revision it will get, so that older approvals read as expired.
        let submitted = ledger
            .submitted(digest)
            .filter(|s| Some(s.revision) == ledger.latest().map(|l| l.revision))
            .map(|s| s.revision);
        let revision = submitted.unwrap_or_else(|| ledger.latest().map_or(1, |l| l.revision + 1));
        let risk = risk_decision(self.classification.as_ref(), release, &ledger, revision)?;
        let mut evidence = gather_evidence(&self.files, config, release)?;
        evidence.rehearsal = self.rehearsal.clone();
        let author = ledger
            .submissions
            .iter()
            .find(|s| s.revision == revision)
            .map(|s| s.by.clone())
            .unwrap_or_else(|| release.change.author.clone());
        let users: Vec<User> = config.users.clone();
        let input = GateInput {
            scope: Scope::Release,
            now,
            release: ReleaseInput {
                id: format!("{}@{}", release.version, digest.get(7..19).unwrap_or_default()),
                revision,
                author,
                operator: self.operator.clone(),
                image: release.image.clone(),
            },
            risk,
            evidence,
            approvals: ledger.approvals.clone(),
            users,
            calendar: CalendarState::default(),
            capacity: None,
            tenants: Vec::new(),
        };
        Ok(Prepared { input, submitted, submissions: ledger.submissions.len() })
    }

    /// The release-scope report, with the `submitted` gate first when it is not submitted as it stands.
    fn release_report(&self, prepared: &Prepared) -> anyhow::Result<GateReport> {
        let mut report = self.policy.evaluate(&prepared.input).map_err(gate_error)?;
        if prepared.submitted.is_none() {
            // Not submitted: say so first, as the gate every other one depends on.
            report.verdicts.insert(
                0,
                ringfence_gates::GateVerdict {
                    gate: "submitted".into(),
                    rule: "not-submitted".into(),
                    verdict: Verdict::Waiting,
                    facts: json!({ "digest": self.digest, "submissions": prepared.submissions }),
                    missing: Some(if prepared.submissions == 0 {
                        "the release has not been submitted".into()
                    } else {
                        "the Release document changed since its last submission".into()
                    }),
                    unblock: Some(format!("its author runs `ringfence release submit {}`", self.dir.display())),
                },
            );
            report = GateReport::new(Scope::Release, std::mem::take(&mut report.verdicts));
        }
        Ok(report)
    }

    /// Every gate of the release at `now`: release scope, each ring, each tenant.
    pub fn evaluate(&self, now: Timestamp) -> anyhow::Result<GatesOutcome> {
        let mut prepared = self.prepare(now)?;
        let tier = prepared.input.risk.effective;
        let governance = self.governance_for(tier);
        let tenants: Vec<TenantInput> =
            self.config.fleet.tenants.iter().map(|t| self.tenant_input(&governance, t, now)).collect();
        prepared.input.calendar = release_calendar(&tenants);
        let mut reports = vec![self.release_report(&prepared)?];
        let mut input = prepared.input;
        for ring in &self.config.policy.rings {
            input.scope = Scope::Ring { name: ring.name.clone() };
            reports.push(self.policy.evaluate(&input).map_err(gate_error)?);
        }
        input.scope = Scope::Release;
        input.tenants = tenants;
        reports.extend(self.policy.evaluate_tenants(&input).map_err(gate_error)?);
        let overall = reports.iter().map(|r| r.overall).max().unwrap_or(Verdict::Pass);
        let submitted = prepared.submitted;
        Ok(GatesOutcome { reports, overall, revision: input.release.revision, submitted: submitted.is_some() })
    }

    /// Whether `tenant` may take its first step now: the release gates, its ring's and its own,
    /// judged again with the approvals and evidence as they are now. The calendar and capacity gates
    /// are left to the engine, which applies them with break-glass and pacing at this very instant.
    /// `Err` says which gates do not pass and why.
    pub fn admit(
        &self,
        now: Timestamp,
        tenant: &ringfence_core::model::TenantId,
        ring: &str,
    ) -> anyhow::Result<Result<(), String>> {
        let Some(t) = self.config.fleet.tenants.iter().find(|t| &t.id == tenant) else {
            return Ok(Err(format!("tenant {tenant} is not in the configuration the rollout started with")));
        };
        let prepared = self.prepare(now)?;
        let tier = prepared.input.risk.effective;
        let mut reports = vec![self.release_report(&prepared)?];
        let mut input = prepared.input;
        input.scope = Scope::Ring { name: ring.to_owned() };
        reports.push(self.policy.evaluate(&input).map_err(gate_error)?);
        input.scope = Scope::Tenant { id: tenant.to_string() };
        input.tenants = vec![self.tenant_input(&self.governance_for(tier), t, now)];
        reports.push(self.policy.evaluate(&input).map_err(gate_error)?);
        let engine_owned = ["freeze", "maintenance-window", "capacity"];
        let mut seen = std::collections::BTreeSet::new();
        let blocking: Vec<String> = reports
            .iter()
            .flat_map(|r| r.blocking().map(move |v| (r, v)))
            .filter(|(_, v)| !engine_owned.contains(&v.gate.as_str()))
            .filter(|(_, v)| seen.insert((v.gate.clone(), v.rule.clone())))
            .map(|(r, v)| {
                format!(
                    "{} gate {} {} ({}): {}",
                    r.scope,
                    v.gate,
                    v.verdict,
                    v.rule,
                    v.missing.as_deref().unwrap_or("")
                )
            })
            .collect();
        Ok(if blocking.is_empty() { Ok(()) } else { Err(blocking.join("; ")) })
    }

    /// The compiled calendar for the effective `tier`: the release's declared tier is compiled in;
    /// a different effective tier (an approved lowering, a raise) changes which freezes let it through.
    fn governance_for(&self, tier: RiskTier) -> std::borrow::Cow<'_, ringfence_core::governance::Governance> {
        if self.governance.tier == tier {
            return std::borrow::Cow::Borrowed(&self.governance);
        }
        let mut governance = self.governance.clone();
        governance.tier = tier;
        std::borrow::Cow::Owned(governance)
    }

    /// One tenant's calendar state at `now`: inside a window or not (and when the next one opens),
    /// and the freezes that stop it.
    fn tenant_input(
        &self,
        governance: &ringfence_core::governance::Governance,
        t: &ringfence_core::model::Tenant,
        now: Timestamp,
    ) -> TenantInput {
        let break_glass_by = self.break_glass_by.clone();
        let has_windows = governance.windows.get(&t.id).is_some_and(|w| !w.is_empty());
        let slot = governance.first_slot(&t.id, &t.pool, now);
        let mut calendar = CalendarState { break_glass_by, ..CalendarState::default() };
        match &slot {
            None => calendar.in_window = has_windows.then_some(false),
            Some(slot) => {
                let freezes: Vec<String> = slot
                    .waits
                    .iter()
                    .filter_map(|w| match w {
                        Reason::FrozenBy { name, .. } => Some(name.clone()),
                        Reason::WindowClosedUntil { .. } => None,
                    })
                    .collect();
                let entering = slot.break_glass.as_ref().filter(|_| slot.start <= now);
                calendar.in_freeze = !freezes.is_empty() || entering.is_some();
                calendar.freezes = entering.map(|b| b.freezes.clone()).unwrap_or(freezes);
                calendar.break_glass_approved = entering.is_some();
                calendar.in_window = has_windows.then_some(slot.start <= now);
                calendar.next_window = (has_windows && slot.start > now).then_some(slot.start);
            }
        }
        TenantInput {
            id: t.id.to_string(),
            tier: None,
            migrates: true,
            // The engine's first step for every tenant is a fresh, verified restore point, and the
            // migration never starts without it (a checked invariant of the simulator).
            restore_point: Some(ringfence_gates::RestorePoint {
                id: "taken by Ringfence as the tenant's first step, before its migration".into(),
                taken_at: now,
            }),
            calendar,
            capacity: None,
        }
    }
}

/// The tier decision: from the change analysis the release names (`evidence.change`, the JSON of
/// `ringfence odoo diff`), adjusted by the tier the author declares (`risk`): a raise applies at
/// once; a lowering only with a `tier-override` approval of this revision. Without a change
/// analysis, the declared tier (medium when none), said to be unverified.
fn risk_decision(
    classification: Option<&Classification>,
    release: &Release,
    ledger: &Ledger,
    revision: u32,
) -> anyhow::Result<RiskDecisionInput> {
    let author = release.change.author.as_str();
    let Some(classification) = classification else {
        let tier = release.risk.unwrap_or(RiskTier::Medium);
        return Ok(RiskDecisionInput {
            computed: tier,
            effective: tier,
            deciding: vec![DecidingFact {
                rule: "declared".into(),
                fact: format!(
                    "no change analysis (evidence.change): the tier is the one the author declares ({tier:?}), unverified"
                ),
                tenant: None,
            }],
            adjustment: None,
        });
    };
    let override_by = ledger
        .approvals
        .iter()
        .rev()
        .find(|a| a.subject == ApprovalSubject::TierOverride && a.revision == revision)
        .map(|a| (a.user.clone(), a.reason.clone()));
    let request = match release.risk {
        Some(t) if t > classification.tier => {
            Some(TierRequest::Raise { to: t, reason: "the tier the author declares in the Release".into() })
        }
        Some(t) if t < classification.tier => override_by
            .map(|(approver, reason)| TierRequest::Lower(ringfence_risk::Override { to: t, reason, approver })),
        _ => None,
    };
    let decision =
        decide(classification, author, request.as_ref()).map_err(|e| UsageError::new(anyhow::anyhow!("{e}")))?;
    let mut input = RiskDecisionInput::from(&decision);
    if let Some(t) = release.risk.filter(|t| *t < classification.tier && request.is_none()) {
        input.deciding.push(DecidingFact {
            rule: "override-requested".into(),
            fact: format!(
                "the author asks for tier {t:?}, below the computed {:?}: it applies once a release-manager approves it with `ringfence approve … --for tier-override`",
                classification.tier
            ),
            tenant: None,
        });
    }
    Ok(input)
}

/// The classification in the change analysis the release names (`evidence.change`, the JSON of
/// `ringfence odoo diff`), relative to the Release's directory `base`; `None` when it names none.
fn classification(base: &Path, release: &Release) -> anyhow::Result<Option<Classification>> {
    let Some(path) = &release.evidence.change else { return Ok(None) };
    let path = base.join(path);
    // Evidence like the rest: refused past the same size, and only `risk` is kept of it.
    let size = std::fs::metadata(&path).with_context(|| format!("reading the change analysis {}", path.display()))?;
    anyhow::ensure!(
        size.len() <= ringfence_supply::MAX_EVIDENCE_BYTES,
        "{} is larger than {} MiB, the most Ringfence reads as evidence: is it the JSON of `ringfence odoo diff`?",
        path.display(),
        ringfence_supply::MAX_EVIDENCE_BYTES >> 20
    );
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading the change analysis {}", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Analysis {
        #[serde(default)]
        risk: Value,
    }
    let analysis: Analysis = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let classification = serde_json::from_value(analysis.risk).with_context(|| {
        format!("{}: no `risk` classification (write it with `ringfence odoo diff --json`)", path.display())
    })?;
    Ok(Some(classification))
}

/// The directories relative evidence paths are taken from: the Release's file's for its evidence
/// files, the Policy's file's for its keys.
struct EvidenceDirs {
    release: PathBuf,
    policy: PathBuf,
}

/// Verifies the evidence files the release names. Unreadable files are errors (exit 2), naming
/// the file; evidence that reads but says no (a wrong key, a failing test) is evidence.
fn gather_evidence(dirs: &EvidenceDirs, config: &Config, release: &Release) -> anyhow::Result<Evidence> {
    let e = &release.evidence;
    let sc = &config.policy.supply_chain;
    let mut evidence = Evidence::default();
    let image = ringfence_supply::ImageRef::parse(&release.image);
    let base = &dirs.release;
    let keys = || -> anyhow::Result<ringfence_supply::Keyring> {
        let paths: Vec<PathBuf> = sc.keys.iter().map(|k| dirs.policy.join(k)).collect();
        Ok(ringfence_supply::Keyring::load(&paths)?)
    };
    if let Some(path) = &e.signature {
        let found = match &image {
            Err(err) => SignatureEvidence { verified: false, key_id: None, problem: Some(err.to_string()) },
            Ok(image) => {
                let sig = ringfence_supply::CosignSignature::load(&base.join(path))?;
                let v = ringfence_supply::verify_image_signature(&sig, image, &keys()?);
                SignatureEvidence { verified: v.verified, key_id: v.key_id, problem: v.problem }
            }
        };
        evidence.signature = Some(found);
    }
    if let Some(path) = &e.provenance {
        let found = match &image {
            Err(err) => ProvenanceEvidence { verified: false, builder_id: None, problem: Some(err.to_string()) },
            Ok(image) => {
                let envelope = ringfence_supply::Envelope::load(&base.join(path))?;
                let v = ringfence_supply::verify_provenance(&envelope, image, &keys()?, &sc.allowed_builders);
                ProvenanceEvidence { verified: v.verified, builder_id: v.builder_id, problem: v.problem }
            }
        };
        evidence.provenance = Some(found);
    }
    if let Some(path) = &e.vulnerabilities {
        let v = ringfence_supply::load_vulnerability_evidence(&base.join(path))?;
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        evidence.vulnerabilities = Some(VulnerabilityEvidence {
            scanner: v.scanner.to_string(),
            critical: n(v.critical),
            critical_fixable: n(v.critical_fixable),
            high: n(v.high),
            high_fixable: n(v.high_fixable),
            medium: n(v.medium),
            low: n(v.low),
        });
    }
    if !e.tests.is_empty() {
        let paths: Vec<PathBuf> = e.tests.iter().map(|p| base.join(p)).collect();
        let t = ringfence_supply::load_junit(&paths)?;
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        evidence.tests = Some(TestEvidence {
            total: n(t.total),
            passed: n(t.passed),
            failed: n(t.failed),
            errors: n(t.errors),
            skipped: n(t.skipped),
        });
    }
    Ok(evidence)
}

/// The rehearsal reports of this release (`ROOT/<version>/*.json`, as `ringfence rehearse`
/// writes them), summarised over tenants: done when every one completed; the worst predicted
/// blocking and the longest migration.
fn rehearsal_evidence(root: &Path, release: &Release) -> anyhow::Result<Option<RehearsalEvidence>> {
    let reports = crate::rehearse_cmd::read_reports(root, &release.version)?;
    if reports.is_empty() {
        return Ok(None);
    }
    Ok(Some(RehearsalEvidence {
        done: reports.iter().all(|r| r.ok()),
        max_blocking_ms: reports.iter().map(|r| r.blocking.max_ms.round() as u64).max().unwrap_or(0),
        duration_ms: reports.iter().map(|r| r.migration.duration_ms.round() as u64).max().unwrap_or(0),
    }))
}

/// The release-wide calendar state: a freeze in force for every tenant.
fn release_calendar(tenants: &[TenantInput]) -> CalendarState {
    let frozen: Vec<&TenantInput> = tenants.iter().filter(|t| t.calendar.in_freeze).collect();
    if tenants.is_empty() || frozen.len() < tenants.len() {
        return CalendarState::default();
    }
    let mut freezes: Vec<String> = frozen.iter().flat_map(|t| t.calendar.freezes.clone()).collect();
    freezes.sort();
    freezes.dedup();
    CalendarState {
        in_freeze: true,
        freezes,
        break_glass_approved: frozen.iter().all(|t| t.calendar.break_glass_approved),
        break_glass_by: frozen[0].calendar.break_glass_by.clone(),
        ..CalendarState::default()
    }
}

/// `ringfence gates RELEASE --config DIR`.
pub fn gates(args: &GatesArgs) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(&args.config, args.json) {
        Ok(l) => l,
        Err(exit) => return Ok(exit),
    };
    let release = release_of(&loaded, &args.config)?;
    check_release_name(&release, &loaded, &args.release)?;
    let now = args.at.unwrap_or_else(Timestamp::now);
    let paths = (args.audit.as_path(), args.rehearsals.as_path());
    let outcome = GateContext::new(&args.config, &loaded, paths, args.operator.as_deref())?.evaluate(now)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&outcome)?)?;
    } else {
        print_outcome(&release, &outcome, args.all)?;
    }
    Ok(if outcome.overall == Verdict::Pass { Exit::Success } else { Exit::Failed })
}

/// Prints the gates as a table: every gate of the release scope, then per ring and tenant only
/// what does not pass (unless `all`), then a summary line.
pub fn print_outcome(release: &Release, outcome: &GatesOutcome, all: bool) -> anyhow::Result<()> {
    outln!(
        "gates of release {} (revision {}{}):",
        release.version,
        outcome.revision,
        if outcome.submitted { "" } else { ", not submitted yet" }
    )?;
    let mut table =
        crate::table::Table::new(&["scope", "gate", "verdict", "rule", "what is missing / who can provide it"]);
    let mut hidden: BTreeMap<String, usize> = BTreeMap::new();
    let release_level: Vec<(&str, &str, Verdict)> = outcome
        .reports
        .iter()
        .filter(|r| matches!(r.scope, Scope::Release))
        .flat_map(|r| r.verdicts.iter().map(|v| (v.gate.as_str(), v.rule.as_str(), v.verdict)))
        .collect();
    for report in &outcome.reports {
        let first_scope = matches!(report.scope, Scope::Release);
        for v in &report.verdicts {
            // A ring repeats the release's gates; show only what differs for it.
            let repeated = matches!(report.scope, Scope::Ring { .. })
                && release_level.contains(&(v.gate.as_str(), v.rule.as_str(), v.verdict));
            if !all && !first_scope && (v.verdict == Verdict::Pass || repeated) {
                *hidden.entry(kind(&report.scope).to_owned()).or_default() += 1;
                continue;
            }
            let detail = match (&v.missing, &v.unblock) {
                (Some(m), Some(u)) => format!("{m} — {u}"),
                (Some(m), None) => m.clone(),
                (None, _) => summary(&v.facts),
            };
            table.row(vec![report.scope.to_string(), v.gate.clone(), v.verdict.to_string(), v.rule.clone(), detail]);
        }
    }
    out!("{}", table.render())?;
    for (scope, n) in hidden {
        outln!("({n} {scope} gate verdict(s) that pass or repeat the release's not shown; --all shows them)")?;
    }
    let count = |v: Verdict| outcome.reports.iter().flat_map(|r| &r.verdicts).filter(|g| g.verdict == v).count();
    outln!(
        "overall: {} — {} pass, {} waiting, {} fail",
        outcome.overall,
        count(Verdict::Pass),
        count(Verdict::Waiting),
        count(Verdict::Fail)
    )
}

fn kind(scope: &Scope) -> &'static str {
    match scope {
        Scope::Release => "release",
        Scope::Ring { .. } => "ring",
        Scope::Tenant { .. } => "tenant",
    }
}

/// A short account of a passing gate's facts.
fn summary(facts: &Value) -> String {
    let text = match facts {
        Value::Object(m) if m.is_empty() => String::new(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut short: String = text.chars().take(90).collect();
    if text.chars().count() > 90 {
        short.push('…');
    }
    short
}

/// `ringfence policy test DIR`.
pub fn policy_test(dir: &Path, json: bool) -> anyhow::Result<Exit> {
    let summary = match ringfence_gates::run_tests(dir) {
        Ok(s) => s,
        Err(e) => {
            errln!("error: {e}");
            return Ok(Exit::Usage);
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        outln!("{summary}")?;
    }
    Ok(if summary.ok() { Exit::Success } else { Exit::Failed })
}
