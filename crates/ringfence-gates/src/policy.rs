//! Loading a gate policy (the built-in one or a directory of Rego files) and evaluating it against a
//! [`GateInput`].
//!
//! A policy is compiled once: [`GatePolicy`] keeps a prepared regorus engine and every evaluation runs
//! on a clone of it, so a policy can be evaluated many times (and from several threads, each with its
//! own `&GatePolicy`) without parsing again. Release and ring scopes evaluate the rule `verdicts` once;
//! tenant gates are evaluated for every tenant of the input in one evaluation of `tenant_verdicts`
//! (large batches split over a few threads), which is what keeps 10,000 tenants well under a second.
//!
//! Evaluation uses regorus's interpreter, not its bytecode VM (RVM, the `rvm` feature): the RVM ran the
//! built-in policy's tenant gates about twice as fast, but in regorus 0.14.1 it gives *undefined* for
//! `x := "a" if { some r in input.xs; r == 1 } else := "b"` when no element matches (the interpreter
//! gives `"b"`), and the gate policies rely on such `else` chains. A gate must not change its answer
//! with the engine, so the interpreter it is until that is fixed.
//!
//! Not here: the policy's content (`policy/gates.rego`), running Rego unit tests (`testing`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use regorus::{Engine, Value};
use ringfence_core::calendar::RiskTier;
use serde::Serialize;

use crate::error::{GateError, from_rego};
use crate::input::{
    Approval, CalendarState, CapacityState, Evidence, GateInput, ReleaseInput, RiskDecisionInput, Scope, TenantInput,
    User,
};
use crate::report::{GateReport, GateVerdict};

/// The built-in gate policy: copy it, change its parameters, and load the copy with [`GatePolicy::load`].
pub const BUILTIN_POLICY: &str = include_str!("../policy/gates.rego");

/// The unit tests of the built-in policy, run by this crate's tests.
pub const BUILTIN_POLICY_TESTS: &str = include_str!("../policy/gates_test.rego");

/// The package every gate policy declares.
pub const GATES_PACKAGE: &str = "ringfence.gates";

/// The rule giving the release- and ring-level verdicts.
const VERDICTS: &str = "data.ringfence.gates.verdicts";
/// The rule giving every tenant's verdicts, keyed by tenant id.
const TENANT_VERDICTS: &str = "data.ringfence.gates.tenant_verdicts";

/// A compiled gate policy.
#[derive(Clone)]
pub struct GatePolicy {
    engine: Engine,
    files: Vec<String>,
}

impl std::fmt::Debug for GatePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatePolicy").field("files", &self.files).finish_non_exhaustive()
    }
}

/// The directory holding the policy files of `dir`: `dir/gates/` when it exists (a fleet's
/// configuration directory, like `examples/retail-fleet`), else `dir` itself. Not recursive.
pub fn policy_dir(dir: &Path) -> PathBuf {
    let gates = dir.join("gates");
    if gates.is_dir() { gates } else { dir.to_path_buf() }
}

/// The `*.rego` files directly in `dir`, sorted by name so loading is deterministic.
pub(crate) fn rego_files(dir: &Path) -> Result<Vec<PathBuf>, GateError> {
    let read = |e| GateError::Read { path: dir.to_path_buf(), source: e };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "rego") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a file is a unit-test file (`*_test.rego`), which evaluation does not load.
pub(crate) fn is_test_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("_test.rego"))
}

/// Reads a policy file.
pub(crate) fn read(path: &Path) -> Result<String, GateError> {
    std::fs::read_to_string(path).map_err(|e| GateError::Read { path: path.to_path_buf(), source: e })
}

impl GatePolicy {
    /// The built-in policy (`policy/gates.rego`).
    pub fn builtin() -> GatePolicy {
        // The built-in policy is a constant that this crate's tests parse and evaluate.
        GatePolicy::from_sources([("builtin/gates.rego".to_owned(), BUILTIN_POLICY.to_owned())])
            .expect("the built-in gate policy compiles (tested)")
    }

    /// The policy in `dir` (see [`policy_dir`]): every `*.rego` file except `*_test.rego`, one of which
    /// must declare `package ringfence.gates` (it replaces the built-in policy; other packages are
    /// helpers it may import). A directory without any `.rego` file gives the built-in policy.
    pub fn load(dir: &Path) -> Result<GatePolicy, GateError> {
        let dir = policy_dir(dir);
        let files: Vec<PathBuf> = rego_files(&dir)?.into_iter().filter(|p| !is_test_file(p)).collect();
        if files.is_empty() {
            return Ok(GatePolicy::builtin());
        }
        let mut sources = Vec::with_capacity(files.len());
        for path in &files {
            sources.push((path.display().to_string(), read(path)?));
        }
        match GatePolicy::from_sources(sources) {
            Err(GateError::NoGatesPackage { .. }) => Err(GateError::NoGatesPackage { dir }),
            other => other,
        }
    }

    /// A policy from `(file name, Rego)` pairs; one must declare the gates package.
    pub fn from_sources(sources: impl IntoIterator<Item = (String, String)>) -> Result<GatePolicy, GateError> {
        let mut engine = Engine::new();
        let mut files = Vec::new();
        let mut packages = BTreeSet::new();
        for (file, rego) in sources {
            packages.insert(engine.add_policy(file.clone(), rego).map_err(|e| from_rego(&e))?);
            files.push(file);
        }
        if !packages.contains(&format!("data.{GATES_PACKAGE}")) {
            return Err(GateError::NoGatesPackage { dir: PathBuf::new() });
        }
        // Evaluating once prepares the engine (rule index, schedules), so that clones start prepared
        // and compile errors show now rather than at the first gate.
        engine.set_input(Value::new_object());
        engine.eval_rule(VERDICTS.to_owned()).map_err(|e| from_rego(&e))?;
        Ok(GatePolicy { engine, files })
    }

    /// The files the policy was loaded from.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The gates at `input.scope`. For a release or ring: the release-level gates (`verdicts`). For a
    /// tenant: that tenant's gates (`tenant_verdicts`), the tenant taken from `input.tenants`.
    pub fn evaluate(&self, input: &GateInput) -> Result<GateReport, GateError> {
        match &input.scope {
            Scope::Release | Scope::Ring { .. } => {
                let value = self.eval(VERDICTS, wire(input, &[])?)?;
                Ok(GateReport::new(input.scope.clone(), verdicts(VERDICTS, value)?))
            }
            Scope::Tenant { id } => {
                let tenant = input
                    .tenants
                    .iter()
                    .position(|t| &t.id == id)
                    .ok_or_else(|| GateError::UnknownTenant { id: id.clone() })?;
                let reports = self.tenant_reports(input, Some(tenant))?;
                reports.into_iter().next().ok_or_else(|| GateError::MissingRule { rule: TENANT_VERDICTS.to_owned() })
            }
        }
    }

    /// Every tenant of `input.tenants` through the tenant gates, in one evaluation; one report per
    /// tenant, in input order (the scope of `input` is ignored).
    pub fn evaluate_tenants(&self, input: &GateInput) -> Result<Vec<GateReport>, GateError> {
        self.tenant_reports(input, None)
    }

    fn tenant_reports(&self, input: &GateInput, only: Option<usize>) -> Result<Vec<GateReport>, GateError> {
        let mut seen = BTreeSet::new();
        if let Some(dup) = input.tenants.iter().find(|t| !seen.insert(t.id.as_str())) {
            return Err(GateError::DuplicateTenant { id: dup.id.clone() });
        }
        let tenants: &[TenantInput] = match only {
            Some(i) => std::slice::from_ref(&input.tenants[i]),
            None => &input.tenants,
        };
        // Large batches are split across threads, each evaluating its chunk on its own engine clone:
        // tenant gates read only their tenant and the release, so chunks are independent.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS);
        let chunk = tenants.len().div_ceil(threads).max(MIN_CHUNK);
        let chunks: Vec<&[TenantInput]> = tenants.chunks(chunk).collect();
        let results: Vec<Result<Vec<GateReport>, GateError>> = if chunks.len() <= 1 {
            chunks.into_iter().map(|c| self.tenant_chunk(input, c)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    chunks.into_iter().map(|c| s.spawn(move || self.tenant_chunk(input, c))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(GateError::Rego { message: "a gate evaluation thread panicked".to_owned() })
                        })
                    })
                    .collect()
            })
        };
        let mut reports = Vec::with_capacity(tenants.len());
        for r in results {
            reports.extend(r?);
        }
        Ok(reports)
    }

    /// The tenant gates of `tenants`, one evaluation.
    fn tenant_chunk(&self, input: &GateInput, tenants: &[TenantInput]) -> Result<Vec<GateReport>, GateError> {
        let value = self.eval(TENANT_VERDICTS, wire(input, tenants)?)?;
        let json = serde_json::to_string(&value).map_err(|e| GateError::Rego { message: e.to_string() })?;
        let mut by_tenant: HashMap<String, Vec<GateVerdict>> = serde_json::from_str(&json)
            .map_err(|e| bad(TENANT_VERDICTS, &json, &format!("expected {{tenant id: [verdict]}}: {e}")))?;
        Ok(tenants
            .iter()
            .map(|t| {
                let verdicts = by_tenant.remove(&t.id).unwrap_or_else(|| vec![undecided(&t.id)]);
                GateReport::new(Scope::Tenant { id: t.id.clone() }, verdicts)
            })
            .collect())
    }

    /// Evaluates `rule` on a clone of the prepared engine.
    fn eval(&self, rule: &str, input: Value) -> Result<Value, GateError> {
        let mut engine = self.engine.clone();
        engine.set_input(input);
        let value = engine.eval_rule(rule.to_owned()).map_err(|e| from_rego(&e))?;
        if value == Value::Undefined {
            return Err(GateError::MissingRule { rule: rule.to_owned() });
        }
        Ok(value)
    }
}

/// The verdict of a tenant the policy's `tenant_verdicts` left out: a comprehension drops a tenant when
/// one of its gates is undefined for it (a missing parameter, a field the policy did not expect), and
/// a gate that cannot decide must stop the step rather than let it through.
fn undecided(tenant: &str) -> GateVerdict {
    GateVerdict {
        gate: "policy".to_owned(),
        rule: "no-verdict".to_owned(),
        verdict: crate::report::Verdict::Fail,
        facts: serde_json::json!({ "tenant": tenant }),
        missing: Some(format!(
            "the gate policy gave no verdicts for tenant {tenant}: one of its tenant gates is undefined for this tenant's input"
        )),
        unblock: Some(
            "fix the gate policy (a parameter it reads may be missing) and check it with `ringfence policy test`"
                .to_owned(),
        ),
    }
}

/// Fewest tenants worth a thread of their own.
const MIN_CHUNK: usize = 1000;
/// Most threads one batch uses.
const MAX_THREADS: usize = 4;

/// The input as Rego sees it: [`GateInput`] with `tenants` replaced by `tenants` and each restore point
/// given its `ageSeconds` at `now`. Serialised to JSON text and parsed by regorus, which is several
/// times faster than going through `serde_json::Value`.
fn wire(input: &GateInput, tenants: &[TenantInput]) -> Result<Value, GateError> {
    let wire = Wire {
        scope: &input.scope,
        now: input.now,
        release: &input.release,
        risk: &input.risk,
        evidence: &input.evidence,
        approvals: &input.approvals,
        users: &input.users,
        calendar: &input.calendar,
        capacity: input.capacity.as_ref(),
        tenants: tenants
            .iter()
            .map(|t| WireTenant {
                id: &t.id,
                tier: t.tier,
                migrates: t.migrates,
                restore_point: t.restore_point.as_ref().map(|p| WireRestorePoint {
                    id: &p.id,
                    taken_at: p.taken_at,
                    age_seconds: input.now.duration_since(p.taken_at).as_secs(),
                }),
                calendar: &t.calendar,
                capacity: t.capacity.as_ref(),
            })
            .collect(),
    };
    let json = serde_json::to_string(&wire).map_err(|e| GateError::Rego { message: e.to_string() })?;
    Value::from_json_str(&json).map_err(|e| GateError::Rego { message: e.to_string() })
}

/// [`GateInput`] by reference, with the derived facts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    scope: &'a Scope,
    now: Timestamp,
    release: &'a ReleaseInput,
    risk: &'a RiskDecisionInput,
    evidence: &'a Evidence,
    approvals: &'a [Approval],
    users: &'a [User],
    calendar: &'a CalendarState,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<&'a CapacityState>,
    tenants: Vec<WireTenant<'a>>,
}

/// [`TenantInput`] by reference, with the restore point's age.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTenant<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<RiskTier>,
    migrates: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    restore_point: Option<WireRestorePoint<'a>>,
    calendar: &'a CalendarState,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<&'a CapacityState>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRestorePoint<'a> {
    id: &'a str,
    taken_at: Timestamp,
    age_seconds: i64,
}

fn verdicts(rule: &str, value: Value) -> Result<Vec<GateVerdict>, GateError> {
    let json = serde_json::to_string(&value).map_err(|e| GateError::Rego { message: e.to_string() })?;
    serde_json::from_str(&json).map_err(|e| bad(rule, &json, &e.to_string()))
}

fn bad(rule: &str, found: &str, problem: &str) -> GateError {
    let mut found = found.to_owned();
    if found.len() > 200 {
        let cut = (0..=200).rev().find(|&i| found.is_char_boundary(i)).unwrap_or(0);
        found.truncate(cut);
        found.push('…');
    }
    GateError::BadVerdict { rule: rule.to_owned(), found, problem: problem.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<GatePolicy>();
    }

    #[test]
    fn the_builtin_policy_compiles() {
        let policy = GatePolicy::builtin();
        assert_eq!(policy.files(), ["builtin/gates.rego"]);
    }
}
