//! Relative paths in a document are taken from the directory of the file that document is in:
//! never from the current directory, and not from the configuration's root when the file is in a
//! sub-directory. The model keeps them as written.

use std::path::{Path, PathBuf};

use ringfence_config::{DocumentKind, load};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const FLEET: &str = "apiVersion: ringfence.dev/v1alpha1
kind: Fleet
metadata: {name: test}
spec:
  clusters:
    - name: pg-1
      connection: {host: localhost, user: ringfence, passwordFrom: {file: secrets/pg-1}}
      maxConcurrentMigrations: 1
    - name: pg-2
      connection: {host: other, user: ringfence, passwordFrom: {file: /run/secrets/pg-2}}
      maxConcurrentMigrations: 1
    - name: pg-3
      connection: {host: other, user: ringfence, passwordFrom: {env: PG_3_PASSWORD}}
      maxConcurrentMigrations: 1
  pools:
    - {name: shared, type: multi-tenant, cluster: pg-1}
  tenants:
    - {id: alpha, pool: shared, cluster: pg-1, database: alpha, tier: standard, timezone: Europe/Paris}
";

const POLICY: &str = "apiVersion: ringfence.dev/v1alpha1
kind: Policy
metadata: {name: test}
spec:
  rings:
    - {name: all, selector: {tiers: [standard]}, batchSize: 1, observation: 10m}
  supplyChain:
    keys: [keys/release.pub]
";

const RELEASE: &str = "apiVersion: ringfence.dev/v1alpha1
kind: Release
metadata: {name: r1}
spec:
  version: '1.1'
  replaces: '1.0'
  image: registry.example.com/odoo@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  migration:
    command: [odoo, -d, '{database}', -u, all, --stop-after-init]
  change: {description: fix, author: dev@example.com}
  evidence:
    signature: evidence/signature
    tests: [evidence/junit.xml, ../shared/junit.xml]
";

fn local_target(work_dir: Option<&str>) -> String {
    let work_dir = work_dir.map(|w| format!("  workDir: {w}\n")).unwrap_or_default();
    format!(
        "apiVersion: ringfence.dev/v1alpha1
kind: LocalTarget
metadata: {{name: here}}
spec:
  serve: [bin/app, serve, '{{app_port}}']
  maintenance: [bin/app, maintenance, '{{state}}']
  basePort: 18000
{work_dir}"
    )
}

/// A configuration spread over sub-directories, read through a path with `..` in it.
fn spread(root: &Path, work_dir: Option<&str>) -> PathBuf {
    let config = root.join("config");
    write(&config.join("fleet/fleet.yaml"), FLEET);
    write(&config.join("policy.yaml"), POLICY);
    write(&config.join("releases/1.1/release.yaml"), RELEASE);
    write(&config.join("machines/local.yaml"), &local_target(work_dir));
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    root.join("elsewhere/../config")
}

#[test]
fn relative_paths_are_taken_from_the_directory_of_their_document() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let loaded = load(&spread(&root, Some("state/work"))).unwrap_or_else(|d| panic!("{d}"));
    let config = root.join("config");

    // Each document's directory is absolute and free of `..`.
    assert_eq!(loaded.dirs[&DocumentKind::Fleet], config.join("fleet"));
    assert_eq!(loaded.dirs[&DocumentKind::Policy], config);
    assert_eq!(loaded.dirs[&DocumentKind::Release], config.join("releases/1.1"));
    assert_eq!(loaded.dirs[&DocumentKind::LocalTarget], config.join("machines"));

    // The LocalTarget's work directory, beside its file.
    assert_eq!(loaded.work_dir().unwrap(), config.join("machines/state/work"));
    // The model keeps it as written.
    assert_eq!(loaded.config.local_target.as_ref().unwrap().work_dir, Path::new("state/work"));

    // Secret files beside the Fleet's file; absolute files and environment variables unchanged.
    let secret =
        |i: usize| loaded.resolve_secret(loaded.config.fleet.clusters[i].connection.password_from.as_ref().unwrap());
    assert_eq!(secret(0).file.unwrap(), config.join("fleet/secrets/pg-1"));
    assert_eq!(secret(1).file.unwrap(), Path::new("/run/secrets/pg-2"));
    assert_eq!((secret(2).env.as_deref(), secret(2).file), (Some("PG_3_PASSWORD"), None));

    // Evidence beside the Release's file, keys beside the Policy's.
    let release = loaded.config.release.as_ref().unwrap();
    let signature = release.evidence.signature.as_ref().unwrap();
    assert_eq!(loaded.resolve(DocumentKind::Release, signature), config.join("releases/1.1/evidence/signature"));
    assert_eq!(
        loaded.resolve(DocumentKind::Release, &release.evidence.tests[1]),
        config.join("releases/1.1/../shared/junit.xml")
    );
    let key = &loaded.config.policy.supply_chain.keys[0];
    assert_eq!(loaded.resolve(DocumentKind::Policy, key), config.join("keys/release.pub"));
}

#[test]
fn the_default_work_dir_is_beside_the_local_target() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let loaded = load(&spread(&root, None)).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.work_dir().unwrap(), root.join("config/machines/.ringfence/local"));

    let absolute = root.join("somewhere/else");
    let loaded = load(&spread(&root, Some(absolute.to_str().unwrap()))).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.work_dir().unwrap(), absolute);
}

#[test]
fn a_single_file_resolves_against_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let text = [FLEET, POLICY, &local_target(Some("work"))].join("---\n");
    write(&root.join("one/all.yaml"), &text);
    let loaded = load(&root.join("one/all.yaml")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.work_dir().unwrap(), root.join("one/work"));
    let secret = loaded.resolve_secret(loaded.config.fleet.clusters[0].connection.password_from.as_ref().unwrap());
    assert_eq!(secret.file.unwrap(), root.join("one/secrets/pg-1"));
}
