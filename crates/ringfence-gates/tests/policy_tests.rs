//! The Rego side: the built-in policy's own unit tests pass, and `run_tests` counts passes and
//! failures of a directory and names file:line for a test that fails or a file that does not parse.

use std::path::Path;

use ringfence_gates::{GateError, GatePolicy, TestOutcome, run_tests};

#[test]
fn the_builtin_policy_passes_its_own_unit_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let summary = run_tests(&dir).expect("the built-in policy parses");
    assert!(summary.passed() >= 15, "{summary}");
    assert!(summary.ok(), "{summary}");
}

#[test]
fn the_retail_fleet_example_passes_its_unit_tests_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet");
    let summary = run_tests(&dir).expect("the example's policy parses");
    assert!(summary.passed() >= 8, "{summary}");
    assert!(summary.ok(), "{summary}");
    let policy = GatePolicy::load(&dir).expect("the example's policy loads");
    assert_eq!(policy.files().len(), 1, "tests are not loaded for evaluation: {:?}", policy.files());
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a temp file");
}

#[test]
fn run_tests_counts_passing_and_failing_tests_with_their_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "limits.rego", "package limits\n\nmax_age := 60\n");
    write(
        dir.path(),
        "limits_test.rego",
        "package limits_test\n\nimport data.limits\n\ntest_max_age_is_an_hour if limits.max_age == 60\n\ntest_max_age_is_a_day if limits.max_age == 1440\n",
    );
    let summary = run_tests(dir.path()).expect("parses");
    assert_eq!((summary.passed(), summary.failed()), (1, 1), "{summary}");
    let failed = summary.results.iter().find(|r| r.outcome == TestOutcome::Fail).expect("one failure");
    assert_eq!(failed.name, "data.limits_test.test_max_age_is_a_day");
    assert!(failed.file.ends_with("limits_test.rego") && failed.line == 7, "{failed:?}");
    let printed = summary.to_string();
    assert!(printed.ends_with("1 passed, 1 failed"), "{printed}");
    assert!(printed.contains("limits_test.rego:7"), "{printed}");
}

#[test]
fn run_tests_looks_in_the_gates_directory_of_a_fleet() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("gates")).expect("mkdir");
    write(&dir.path().join("gates"), "a_test.rego", "package a_test\n\ntest_true if true\n");
    let summary = run_tests(dir.path()).expect("parses");
    assert_eq!(summary.passed(), 1, "{summary}");
    assert!(summary.dir.ends_with("gates"));
}

#[test]
fn a_syntax_error_names_its_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "broken.rego", "package broken\n\nallow if {\n  input.x ==\n}\n");
    match run_tests(dir.path()) {
        Err(GateError::Policy { file, line, .. }) => {
            assert!(file.ends_with("broken.rego"), "{file}");
            assert!((4..=5).contains(&line), "line {line}");
        }
        other => panic!("expected a positioned policy error, got {other:?}"),
    }
    let err = GatePolicy::load(dir.path()).expect_err("does not parse");
    assert!(err.to_string().contains("broken.rego:"), "{err}");
}

#[test]
fn a_directory_without_the_gates_package_is_refused_and_one_without_rego_is_builtin() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(GatePolicy::load(dir.path()).expect("builtin").files(), ["builtin/gates.rego"]);
    write(dir.path(), "gate.rego", "package ringfence.gate\n\nverdicts := []\n");
    let err = GatePolicy::load(dir.path()).expect_err("misspelt package");
    assert!(matches!(err, GateError::NoGatesPackage { .. }), "{err}");
}
