//! Policy gates: the checks that must pass before a release starts, before each ring and before each
//! tenant step, written as Rego (OPA's policy language, run by the pure-Rust `regorus` interpreter) over
//! a documented input, each answering pass / fail / waiting with the facts behind it, what is missing
//! and who can provide it.
//!
//! # The pieces
//! - [`GateInput`] (`input`): what the policy reads as `input` — the release (id, revision, author,
//!   operator, image), the tier decision of `ringfence-risk` with its deciding facts, evidence
//!   (signature, provenance, vulnerabilities, tests, rehearsal; each `None` until provided), approvals,
//!   the [`User`]s who may give them, calendar and capacity state, and the tenants of a step.
//! - [`GatePolicy`] (`policy`): the built-in policy ([`GatePolicy::builtin`], `policy/gates.rego`) or a
//!   user's copy ([`GatePolicy::load`]), compiled once; [`GatePolicy::evaluate`] answers one scope,
//!   [`GatePolicy::evaluate_tenants`] answers every tenant of a batch in one evaluation.
//! - [`GateReport`] / [`GateVerdict`] (`report`): one verdict per gate; the overall verdict is fail if
//!   any gate fails, else waiting if any waits, else pass.
//! - [`run_tests`] (`testing`): a directory's Rego unit tests (`test_` rules), like `opa test`.
//!
//! `policy/input.example.json` is a complete input (a tenant step of a high-tier release), kept true
//! by a test; Rego sees it with each restore point's `ageSeconds` added.
//!
//! # The policy contract
//! A gate policy is the Rego package `ringfence.gates` defining two rules:
//! - `verdicts`: an array of verdict objects for the release and ring scopes
//!   (`input.scope.kind` is `release` or `ring`); `input.tenants` is empty there, so that a ring's
//!   gates cost the same for 10 tenants as for 10,000;
//! - `tenant_verdicts`: an object from tenant id to an array of verdict objects, one entry per tenant of
//!   `input.tenants` (all of a batch, or the one of a `Scope::Tenant`).
//!
//! A verdict object is `{"gate", "rule", "verdict": "pass"|"waiting"|"fail", "facts", "missing",
//! "unblock"}` ([`GateVerdict`]). The built-in policy's gates: `risk-tier` (a lowered tier needs an
//! approved override), `approvals` (count and roles per tier, separation of duties, expiry by revision,
//! unknown users and roles not held), `image-pinned`, `signature`, `provenance`, `vulnerabilities`,
//! `tests`, `rehearsal`, `freeze` (release-wide), `capacity` (ring) at release and ring scope; and
//! `restore-point`, `freeze`, `maintenance-window`, `capacity` per tenant. Its parameters (approvals and
//! roles per tier, restore point ages, rehearsal limits, vulnerability thresholds, minimum test count,
//! trusted keys and builders) sit at the top of the file as one commented `params` object.
//!
//! # Decisions
//! - Missing evidence makes a gate *wait* (it can still arrive); evidence that says no makes it *fail*.
//!   Too few valid approvals is *waiting*; an approval by an unknown user or in a role the user does
//!   not hold is a *fail* (someone must remove it). Approvals count per role, distinct people per
//!   role; people are named by login or e-mail, trimmed, case-insensitively (as `ringfence-risk`
//!   compares authors), and a name matching two users matches nobody.
//! - A scope asks one set of gates: the release and ring scopes the release-level gates, a tenant
//!   scope only that tenant's gates (the runtime asks the ring before its tenants).
//! - Tenant batches are evaluated in chunks of at least 1,000 tenants on up to 4 threads, each on its
//!   own clone of the compiled engine; the input goes to regorus as JSON text (parsing it is faster than
//!   converting a `serde_json::Value`). `benches/gates.rs` measures it (BENCHMARKS.md).
//! - Policy location: `DIR/gates/` when it exists, else `DIR`; only files directly in it, sorted by
//!   name. [`GatePolicy::load`] skips `*_test.rego`; [`run_tests`] loads everything. A directory
//!   without `.rego` files gives the built-in policy; one with `.rego` files but no
//!   `package ringfence.gates` is an error (a misspelt package must not silently fall back).
//! - Time: the policy has no clock and no time builtins. [`GateInput::now`] is the only instant, and
//!   ages (`restorePoint.ageSeconds`) are derived from it in Rust before evaluation, so a report is a
//!   function of its input.
//!
//! - Fail closed: a policy whose `verdicts` is undefined is an error ([`GateError::MissingRule`]); a
//!   tenant it leaves out of `tenant_verdicts` (one of its gates undefined for that tenant) gets a
//!   failing `policy` verdict. A gate that cannot decide never lets a step through.
//!
//! # Invariants
//! Pure but for reading policy files in [`GatePolicy::load`] and [`run_tests`]: no clock, no network, no
//! randomness; the same input and policy give the same report.

mod error;
mod input;
mod policy;
mod report;
mod testing;

pub use error::GateError;
pub use input::{
    Approval, ApprovalSubject, CalendarState, CapacityState, DecidingFact, Evidence, GateInput, ProvenanceEvidence,
    RehearsalEvidence, ReleaseInput, RestorePoint, RiskDecisionInput, Scope, SignatureEvidence, TenantInput,
    TestEvidence, User, Users, VulnerabilityEvidence,
};
pub use policy::{BUILTIN_POLICY, BUILTIN_POLICY_TESTS, GATES_PACKAGE, GatePolicy, policy_dir};
pub use report::{GateReport, GateVerdict, Verdict};
pub use testing::{TestOutcome, TestResult, TestSummary, run_test_sources, run_tests};
