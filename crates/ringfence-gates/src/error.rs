//! What can go wrong loading, evaluating or testing a gate policy, with the file and line of the Rego
//! that caused it when the interpreter names one.

use std::path::PathBuf;

/// Why a gate policy could not be loaded, evaluated or tested.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A policy directory or file could not be read.
    #[error("cannot read {path}: {source}; check the path and its permissions")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Rego the interpreter rejected, at a known position.
    #[error("{file}:{line}:{col}: {message}")]
    Policy {
        /// The policy file.
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// What is wrong there.
        message: String,
    },
    /// An interpreter error without a position.
    #[error("policy error: {message}")]
    Rego {
        /// The interpreter's message.
        message: String,
    },
    /// Rego files were found, but none is the gates package.
    #[error(
        "no policy file in {dir} declares `package ringfence.gates`; copy the built-in policy \
         (crates/ringfence-gates/policy/gates.rego) there and edit it, or remove the .rego files to use the built-in one"
    )]
    NoGatesPackage {
        /// The policy directory.
        dir: PathBuf,
    },
    /// The policy does not define a rule the controller asks for.
    #[error("the gate policy does not define `{rule}`; a gate policy must define `verdicts` and `tenant_verdicts`")]
    MissingRule {
        /// The rule's path.
        rule: String,
    },
    /// The policy produced a verdict the controller cannot read.
    #[error("the gate policy's `{rule}` produced {found}, which is not a list of verdicts: {problem}")]
    BadVerdict {
        /// The rule's path.
        rule: String,
        /// The value, abbreviated.
        found: String,
        /// What did not fit.
        problem: String,
    },
    /// Two tenants of the input have the same id.
    #[error("tenant {id} appears twice in the gate input; each tenant must appear once")]
    DuplicateTenant {
        /// The tenant id.
        id: String,
    },
    /// A tenant scope names a tenant the input does not carry.
    #[error("the scope is tenant {id}, but the gate input has no such tenant; add it to `tenants`")]
    UnknownTenant {
        /// The tenant id.
        id: String,
    },
}

/// Turns an interpreter error into a [`GateError`], taking the position from regorus's
/// `--> file:line:col` marker when it has one.
pub(crate) fn from_rego(err: &dyn std::fmt::Display) -> GateError {
    let text = err.to_string();
    match locate(&text) {
        Some((file, line, col)) => {
            // regorus ends a positioned message with `error: <what>` after the source excerpt.
            let message = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error:"))
                .map(|m| m.trim().to_owned())
                .unwrap_or_else(|| text.trim().to_owned());
            GateError::Policy { file, line, col, message }
        }
        None => GateError::Rego { message: text.trim().to_owned() },
    }
}

/// The file, line and column of the first `--> file:line:col` marker in `text`.
fn locate(text: &str) -> Option<(String, u32, u32)> {
    let start = text.find("--> ")? + 4;
    let marker = text[start..].lines().next()?.trim();
    let (rest, col) = marker.rsplit_once(':')?;
    let (file, line) = rest.rsplit_once(':')?;
    Some((file.to_owned(), line.parse().ok()?, col.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positioned_messages_keep_file_line_and_the_complaint() {
        let text = "\n--> policy/x.rego:3:7\n  |\n3 | allow if {\n  |       ^\nerror: unexpected token";
        match from_rego(&text) {
            GateError::Policy { file, line, col, message } => {
                assert_eq!((file.as_str(), line, col, message.as_str()), ("policy/x.rego", 3, 7, "unexpected token"));
            }
            other => panic!("expected a positioned error, got {other:?}"),
        }
    }

    #[test]
    fn messages_without_a_position_stay_whole() {
        assert!(matches!(from_rego(&"rule not found"), GateError::Rego { message } if message == "rule not found"));
    }
}
