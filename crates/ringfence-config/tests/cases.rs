//! Each folder under `tests/cases/` is a configuration directory; its rendered diagnostics (or `ok`)
//! are compared with the snapshot of the same name under `tests/snapshots/`.

use std::path::{Path, PathBuf};

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases").join(name)
}

/// The diagnostics as a user sees them, with paths relative to the case directory.
fn render(name: &str) -> String {
    let dir = case_dir(name);
    assert!(dir.is_dir(), "missing case directory {}", dir.display());
    match ringfence_config::load(&dir) {
        Ok(loaded) => format!(
            "ok: {} clusters, {} pools, {} tenants, {} rings, release: {}",
            loaded.config.fleet.clusters.len(),
            loaded.config.fleet.pools.len(),
            loaded.config.fleet.tenants.len(),
            loaded.config.policy.rings.len(),
            loaded.config.release.as_ref().map_or("none", |r| r.version.as_str()),
        ),
        Err(diagnostics) => {
            let prefix = format!("{}/", dir.display());
            diagnostics.to_string().replace(&prefix, "").replace(&dir.display().to_string(), ".")
        }
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), render(stringify!($name)));
        }
    )*};
}

cases! {
    valid_minimal,
    unknown_field,
    wrong_type,
    missing_field,
    bad_duration,
    duration_limits,
    bad_batch_size,
    syntax_error,
    unknown_kind_and_api_version,
    missing_documents,
    duplicate_documents,
    not_a_mapping,
    duplicate_names,
    unknown_references,
    cluster_mismatch,
    bad_timezone,
    cluster_rules,
    shared_resources,
    ring_membership,
    sli_without_limit,
    sli_measures,
    local_target_rules,
    migration_guardrails,
    migration_unknown_field,
    users_rules,
    metrics_source,
    calendar_rules,
    release_rules,
    release_empty_command,
    no_cascade,
    nested_directories,
}

/// Every case folder has a test above, so a new case cannot be forgotten.
#[test]
fn every_case_folder_is_tested() {
    let listed = include_str!("cases.rs");
    for entry in std::fs::read_dir(case_dir("")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(listed.contains(&format!("    {name},\n")), "case {name} has no test in tests/cases.rs");
    }
}
