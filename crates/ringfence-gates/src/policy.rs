//! Loading a gate policy (the built-in one or a directory of Rego files) and evaluating it against a
//! [`GateInput`].
//!
//! A policy is compiled once: [`GatePolicy`] keeps a prepared regorus engine and every evaluation runs
//! on a clone of it, so a policy can be evaluated many times (and from several threads, each with its
//! own `&GatePolicy`) without parsing again. Release and ring scopes evaluate the rule `verdicts` once;
//! tenant gates are evaluated for every tenant of the input in one evaluation of `tenant_verdicts`,
//! which is what keeps 10,000 tenants well under a second.
//!
//! Not here: the policy's content (`policy/gates.rego`), running Rego unit tests (`testing`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regorus::{Engine, Value};

use crate::error::{GateError, from_rego};
use crate::input::{GateInput, Scope};
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
                let value = self.eval(VERDICTS, wire(input, None)?)?;
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
        let value = self.eval(TENANT_VERDICTS, wire(input, only)?)?;
        let mut by_tenant: serde_json::Map<String, serde_json::Value> = match to_json(TENANT_VERDICTS, &value)? {
            serde_json::Value::Object(m) => m,
            other => return Err(bad(TENANT_VERDICTS, &other, "expected an object keyed by tenant id")),
        };
        let tenants: Vec<&str> = match only {
            Some(i) => input.tenants.get(i).map(|t| t.id.as_str()).into_iter().collect(),
            None => input.tenants.iter().map(|t| t.id.as_str()).collect(),
        };
        tenants
            .into_iter()
            .map(|id| {
                let verdicts = match by_tenant.remove(id) {
                    Some(v) => {
                        serde_json::from_value(v.clone()).map_err(|e| bad(TENANT_VERDICTS, &v, &e.to_string()))?
                    }
                    None => Vec::new(),
                };
                Ok(GateReport::new(Scope::Tenant { id: id.to_owned() }, verdicts))
            })
            .collect()
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

/// The input as Rego sees it: the serialised [`GateInput`] plus the derived facts (restore point ages),
/// with only tenant `only` when one is named.
fn wire(input: &GateInput, only: Option<usize>) -> Result<Value, GateError> {
    let mut json = serde_json::to_value(input).map_err(|e| GateError::Rego { message: e.to_string() })?;
    if let Some(tenants) = json.get_mut("tenants").and_then(serde_json::Value::as_array_mut) {
        if let Some(i) = only {
            let one = tenants.get(i).cloned();
            tenants.clear();
            tenants.extend(one);
        }
        for (tenant, source) in tenants.iter_mut().zip(only.map_or(&input.tenants[..], |i| &input.tenants[i..=i])) {
            if let (Some(rp), Some(point)) = (tenant.get_mut("restorePoint"), &source.restore_point) {
                let age = input.now.duration_since(point.taken_at).as_secs();
                rp["ageSeconds"] = age.into();
            }
        }
    }
    serde_json::from_value(json).map_err(|e| GateError::Rego { message: e.to_string() })
}

fn to_json(rule: &str, value: &Value) -> Result<serde_json::Value, GateError> {
    serde_json::to_value(value).map_err(|e| GateError::BadVerdict {
        rule: rule.to_owned(),
        found: "a value".to_owned(),
        problem: e.to_string(),
    })
}

fn verdicts(rule: &str, value: Value) -> Result<Vec<GateVerdict>, GateError> {
    let json = to_json(rule, &value)?;
    serde_json::from_value(json.clone()).map_err(|e| bad(rule, &json, &e.to_string()))
}

fn bad(rule: &str, found: &serde_json::Value, problem: &str) -> GateError {
    let mut found = found.to_string();
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
    fn the_builtin_policy_compiles() {
        let policy = GatePolicy::builtin();
        assert_eq!(policy.files(), ["builtin/gates.rego"]);
    }
}
