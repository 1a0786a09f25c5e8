//! The shipped example (`examples/retail-fleet`) is valid, and the acceptance scenario of the config
//! issue: five different mistakes in a copy of it give exactly five diagnostics, each at its line.

use std::path::{Path, PathBuf};

use ringfence_config::{DocumentKind, load};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet")
}

#[test]
fn the_example_is_valid() {
    let loaded = load(&example_dir()).unwrap_or_else(|d| panic!("the example should be valid:\n{d}"));
    let config = &loaded.config;
    assert_eq!(config.fleet.clusters.len(), 2);
    assert_eq!(config.fleet.pools.len(), 4);
    assert_eq!(config.fleet.tenants.len(), 12);
    let rings: Vec<&str> = config.policy.rings.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rings, ["internal", "canary", "standard", "enterprise"]);
    for tenant in &config.fleet.tenants {
        let n = config.policy.rings.iter().filter(|r| r.selector.matches(tenant)).count();
        assert_eq!(n, 1, "tenant {} is in {n} rings", tenant.id);
    }
    let release = config.release.as_ref().expect("the example has a release");
    assert!(release.image_is_pinned());
    assert_eq!(loaded.files.len(), 4);
    assert!(config.users.iter().any(|u| u.name == "malik.benali" && u.roles.contains(&"release-manager".to_owned())));
    assert_eq!(loaded.names[&DocumentKind::Fleet], "retail-eu");

    // The index points later crates at the right line: the first tenant's time zone.
    let at = loaded.index.value(DocumentKind::Fleet, "spec.tenants[0].timezone").unwrap();
    let text = std::fs::read_to_string(&at.file).unwrap();
    let line = text.lines().nth(at.line - 1).unwrap();
    assert_eq!(&line[at.col - 1..], "Europe/Paris");
}

/// Replaces `from` (which must occur exactly once) in `file` and returns the 1-based line where
/// `marker` (part of the replacement) now is.
fn inject(dir: &Path, file: &str, from: &str, to: &str, marker: &str) -> usize {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} should occur once in {file}");
    let text = text.replace(from, to);
    std::fs::write(&path, &text).unwrap();
    text.lines().position(|l| l.contains(marker)).expect("marker is in the replacement") + 1
}

fn line_of(dir: &Path, file: &str, marker: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines().position(|l| l.contains(marker)).unwrap() + 1
}

/// Only the first injection adds a line, and it comes first, so the lines returned stay true.
#[test]
fn five_mistakes_give_five_diagnostics() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["fleet.yaml", "policy.yaml", "release.yaml"] {
        std::fs::copy(example_dir().join(name), tmp.path().join(name)).unwrap();
    }
    let dir = tmp.path();
    // Four of the five are in the same Fleet document, two in the same tenants list: per-item
    // deserialization must still report each one.
    let mut expected = [
        (
            "fleet.yaml",
            inject(
                dir,
                "fleet.yaml",
                "    - id: velo-werk-berlin\n",
                "    - id: velo-werk-berlin\n      colour: blue\n",
                "colour",
            ),
            "unknown field `colour`",
        ),
        (
            "fleet.yaml",
            inject(dir, "fleet.yaml", "maxConcurrentMigrations: 2", "maxConcurrentMigrations: two", ": two"),
            "invalid type: string \"two\"",
        ),
        (
            "policy.yaml",
            inject(dir, "policy.yaml", "observation: 30m", "observation: 30 minutes", "30 minutes"),
            "invalid duration \"30 minutes\"",
        ),
        (
            "fleet.yaml",
            inject(dir, "fleet.yaml", "timezone: Europe/Rome", "timezone: Europe/Rom", "Europe/Rom"),
            "unknown time zone \"Europe/Rom\"",
        ),
        (
            "fleet.yaml",
            {
                inject(
                    dir,
                    "fleet.yaml",
                    "marketplace, updates: regular }\n      timezone: Europe/Stockholm",
                    "marketplace, updates: never }\n      timezone: Europe/Stockholm",
                    "never",
                );
                // Reported at the tenant's id, a few lines above its labels.
                line_of(dir, "fleet.yaml", "- id: nordic-knit")
            },
            "tenant \"nordic-knit\" is in no ring",
        ),
    ];
    expected.sort();

    let diagnostics = load(dir).expect_err("the broken copy must be rejected");
    let mut got: Vec<(String, usize, String)> = diagnostics
        .iter()
        .map(|d| (d.file.file_name().unwrap().to_string_lossy().into_owned(), d.line, d.message.clone()))
        .collect();
    got.sort();
    assert_eq!(got.len(), 5, "expected five diagnostics, got:\n{diagnostics}");
    for ((file, line, message), (got_file, got_line, got_message)) in expected.iter().zip(&got) {
        assert_eq!((*file, *line), (got_file.as_str(), *got_line), "{got_message}");
        assert!(got_message.contains(message), "{got_message:?} should contain {message:?}");
        assert!(diagnostics.iter().all(|d| d.col > 0 && !d.path.is_empty()));
    }
}
