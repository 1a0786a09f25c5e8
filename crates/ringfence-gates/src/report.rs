//! What the gates answer: one [`GateVerdict`] per gate (pass, fail or waiting, the rule that decided it,
//! the facts behind it, what is missing and who can provide it), gathered in a [`GateReport`] whose
//! overall verdict is the worst of them.

use serde::{Deserialize, Serialize};

use crate::input::Scope;

/// A gate's answer. Ordered by severity: `Pass < Waiting < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The step may go ahead as far as this gate is concerned.
    Pass,
    /// Something is not there yet (evidence, approvals, a window, headroom); the step waits for it.
    Waiting,
    /// The evidence says no; someone must change the release, its evidence or the policy.
    Fail,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Waiting => "waiting",
            Verdict::Fail => "fail",
        })
    }
}

/// One gate's verdict and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateVerdict {
    /// The gate (`approvals`, `signature`, `restore-point`…).
    pub gate: String,
    /// The policy rule that decided the verdict (`ok` for a pass).
    pub rule: String,
    /// Pass, waiting or fail.
    pub verdict: Verdict,
    /// The facts the rule looked at, as the policy reports them.
    #[serde(default)]
    pub facts: serde_json::Value,
    /// What is missing or wrong, for a non-pass.
    #[serde(default)]
    pub missing: Option<String>,
    /// Who or what can unblock it, for a non-pass.
    #[serde(default)]
    pub unblock: Option<String>,
}

impl std::fmt::Display for GateVerdict {
    /// `gate: verdict (rule) — missing; unblock`, one line as the CLI prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.gate, self.verdict)?;
        if self.verdict != Verdict::Pass {
            write!(f, " ({})", self.rule)?;
        }
        if let Some(m) = &self.missing {
            write!(f, " — {m}")?;
        }
        if let Some(u) = &self.unblock {
            write!(f, "; {u}")?;
        }
        Ok(())
    }
}

/// The verdicts of every gate at one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateReport {
    /// Where in the rollout.
    pub scope: Scope,
    /// Fail if any gate fails, else waiting if any waits, else pass (pass when there are no gates).
    pub overall: Verdict,
    /// One verdict per gate, in the policy's order of gates.
    pub verdicts: Vec<GateVerdict>,
}

impl GateReport {
    /// A report of `verdicts`, with its overall verdict.
    pub fn new(scope: Scope, verdicts: Vec<GateVerdict>) -> GateReport {
        let overall = verdicts.iter().map(|v| v.verdict).max().unwrap_or(Verdict::Pass);
        GateReport { scope, overall, verdicts }
    }

    /// The verdict of `gate`, if the policy gave one.
    pub fn gate(&self, gate: &str) -> Option<&GateVerdict> {
        self.verdicts.iter().find(|v| v.gate == gate)
    }

    /// The verdicts that are not a pass: what blocks the step.
    pub fn blocking(&self) -> impl Iterator<Item = &GateVerdict> {
        self.verdicts.iter().filter(|v| v.verdict != Verdict::Pass)
    }
}

impl std::fmt::Display for GateReport {
    /// The scope and overall verdict, then one line per gate.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {}", self.scope, self.overall)?;
        for v in &self.verdicts {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}
