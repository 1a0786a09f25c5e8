//! Ringfence's configuration as code: reads the Fleet, Policy and Release YAML documents from a
//! directory (or one file) into a [`ringfence_core::Config`], and reports every problem at once, each
//! with file:line:col, the field path and a hint.
//!
//! Documents are Kubernetes-style envelopes:
//!
//! ```yaml
//! apiVersion: ringfence.dev/v1alpha1
//! kind: Fleet          # or Policy, or Release
//! metadata:
//!   name: retail-eu
//! spec: { ... }        # the core model type of that kind
//! ```
//!
//! Modules: `tree` turns YAML text into position-carrying nodes, `de` deserializes any node into a
//! model type, `document` reads one envelope and its spec item by item, `validate` checks the rules
//! across documents, [`index`] remembers where every value was written and `diagnostic` formats the
//! problems. This crate reads files and nothing else: it never reads the secrets the config refers to.

mod de;
mod diagnostic;
mod document;
pub mod index;
mod tree;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ringfence_core::{Config, Fleet, Policy, SecretRef};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use document::{API_VERSION, DocumentKind};
pub use index::{Location, SourceIndex};

use document::{Document, Spec};

/// A valid configuration, with what is needed to talk about it later.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The fleet, policy and (optional) release.
    pub config: Config,
    /// The YAML files read, in the order they were read.
    pub files: Vec<PathBuf>,
    /// `metadata.name` of each document, by kind.
    pub names: BTreeMap<DocumentKind, String>,
    /// Where each value was written, to point at it in later errors.
    pub index: SourceIndex,
    /// The directory of the file each document was read from, absolute: what relative paths in
    /// that document are taken from (see [`Loaded::resolve`]).
    pub dirs: BTreeMap<DocumentKind, PathBuf>,
}

impl Loaded {
    /// `path`, written in the `kind` document, as an absolute path. A relative path in a document
    /// is taken from the directory of the file that document is in, never from the current
    /// directory, so it names the same file whichever directory `ringfence` is started from and
    /// however the configuration is named on the command line. The model keeps paths as written
    /// (a release's content digest must not depend on where its files are checked out): resolve
    /// them here when using them.
    pub fn resolve(&self, kind: DocumentKind, path: &Path) -> PathBuf {
        match self.dirs.get(&kind) {
            Some(dir) => dir.join(path),
            // Only a document that was not read has no directory; then nothing of it is resolved.
            None => absolute(path),
        }
    }

    /// The LocalTarget's work directory, absolute (by default `.ringfence/local` beside the
    /// LocalTarget's file); `None` without a LocalTarget.
    pub fn work_dir(&self) -> Option<PathBuf> {
        let target = self.config.local_target.as_ref()?;
        Some(self.resolve(DocumentKind::LocalTarget, &target.work_dir))
    }

    /// A secret reference written in the Fleet (a cluster's `passwordFrom`) with its file, if any,
    /// resolved.
    pub fn resolve_secret(&self, secret: &SecretRef) -> SecretRef {
        SecretRef {
            env: secret.env.clone(),
            file: secret.file.as_deref().map(|f| self.resolve(DocumentKind::Fleet, f)),
        }
    }
}

/// `path` made absolute against the current directory, `.` and `..` resolved through the file
/// system when it exists.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// Reads every `*.yaml`/`*.yml` file under `path` (recursively, by sorted path; or `path` itself when it
/// is a file) and returns the configuration, or every problem found in it.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let files = yaml_files(path).map_err(|d| Diagnostics(vec![d]))?;
    if files.is_empty() {
        return Err(Diagnostics(vec![Diagnostic::whole(
            path,
            "no configuration files found",
            Some("put the Fleet, Policy and Release documents in *.yaml or *.yml files here".into()),
        )]));
    }

    let mut out = Vec::new();
    // Documents whose kind could not be told (syntax or envelope errors): a "missing Fleet" would
    // then most likely be a consequence, not a second problem.
    let mut unidentified = 0;
    let mut documents: Vec<(PathBuf, Document)> = Vec::new();
    for file in &files {
        let text = match read_text(file) {
            Ok(text) => text,
            Err(diagnostic) => {
                out.push(diagnostic);
                unidentified += 1;
                continue;
            }
        };
        let (roots, syntax) = tree::parse(&text);
        for root in roots.into_iter().filter(|r| !r.is_null()) {
            match document::read(file, root, &mut out) {
                Some(doc) => documents.push((file.clone(), doc)),
                None => unidentified += 1,
            }
        }
        if let Some(e) = syntax {
            unidentified += 1;
            out.push(Diagnostic {
                file: file.clone(),
                line: e.pos.line,
                col: e.pos.col,
                path: String::new(),
                message: e.message,
                hint: Some(e.hint),
            });
        }
    }

    let mut chosen: BTreeMap<DocumentKind, (PathBuf, Document)> = BTreeMap::new();
    for (file, doc) in documents {
        let Some((first_file, first)) = chosen.get(&doc.kind) else {
            chosen.insert(doc.kind, (file, doc));
            continue;
        };
        let kind = doc.kind.as_str();
        let first_place = format!("{}:{}:{}", first_file.display(), first.kind_pos.line, first.kind_pos.col);
        let (message, hint) = if doc.kind == DocumentKind::LocalTarget {
            (
                format!("a second LocalTarget {:?}; the first is {:?} at {first_place}", doc.name, first.name),
                "a configuration runs its tenants one way: keep one LocalTarget",
            )
        } else if doc.kind == DocumentKind::Release {
            (
                format!(
                    "a second Release {:?}; the first is {:?} at {first_place}, and a configuration holds at most one Release for now",
                    doc.name, first.name
                ),
                "keep one release per configuration directory, or give the release file on its own",
            )
        } else {
            (
                format!("a second {kind} document {:?}; the first is {:?} at {first_place}", doc.name, first.name),
                "a configuration has exactly one Fleet and one Policy: merge the two documents",
            )
        };
        out.push(Diagnostic {
            file,
            line: doc.kind_pos.line,
            col: doc.kind_pos.col,
            path: "kind".into(),
            message,
            hint: Some(hint.into()),
        });
    }
    if unidentified == 0 {
        for kind in [DocumentKind::Fleet, DocumentKind::Policy] {
            if !chosen.contains_key(&kind) {
                out.push(Diagnostic::whole(
                    path,
                    format!("no {} document found", kind.as_str()),
                    Some(format!("add a document with `apiVersion: {API_VERSION}` and `kind: {}`", kind.as_str())),
                ));
            }
        }
    }

    let mut index = SourceIndex::default();
    for (kind, (file, doc)) in &chosen {
        index.add_document(*kind, file.clone(), &doc.root);
    }
    let spec = |kind| chosen.get(&kind).map(|(_, d)| &d.spec);
    let fleet = match spec(DocumentKind::Fleet) {
        Some(Spec::Fleet(f)) => Some(f),
        _ => None,
    };
    let policy = match spec(DocumentKind::Policy) {
        Some(Spec::Policy(p)) => Some(&**p),
        _ => None,
    };
    let release = match spec(DocumentKind::Release) {
        Some(Spec::Release(r)) => r.as_deref(),
        _ => None,
    };
    let local_target = match spec(DocumentKind::LocalTarget) {
        Some(Spec::LocalTarget(t)) => t.as_deref(),
        _ => None,
    };
    let users = match spec(DocumentKind::Users) {
        Some(Spec::Users(u)) => Some(u),
        _ => None,
    };
    out.extend(validate::check(&validate::Input { fleet, policy, release, local_target, users, index: &index }));

    if !out.is_empty() {
        // Read order is file order already; sorting by place also orders the semantic findings.
        out.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        return Err(Diagnostics(out));
    }

    let names = chosen.iter().map(|(kind, (_, doc))| (*kind, doc.name.clone())).collect();
    let dirs = chosen
        .iter()
        .map(|(kind, (file, _))| {
            (*kind, absolute(file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))))
        })
        .collect();
    let mut fleet = None;
    let mut policy = None;
    let mut release = None;
    let mut local_target = None;
    let mut users = Vec::new();
    for (_, (_, doc)) in chosen {
        match doc.spec {
            Spec::Fleet(f) => {
                fleet =
                    Some(Fleet { clusters: f.clusters.values(), pools: f.pools.values(), tenants: f.tenants.values() })
            }
            Spec::Policy(p) => {
                policy = Some(Policy {
                    allow_image_tags: p.allow_image_tags.unwrap_or_default(),
                    rings: p.rings.values(),
                    slis: p.slis.values(),
                    judge: p.judge.unwrap_or_default(),
                    freezes: p.freezes.values(),
                    expected_step_duration: p
                        .expected_step_duration
                        .unwrap_or_else(|| Policy::default().expected_step_duration),
                    concurrency: p.concurrency.unwrap_or_default(),
                    break_glass_approvals: p
                        .break_glass_approvals
                        .unwrap_or_else(|| Policy::default().break_glass_approvals),
                    migration: p.migration.unwrap_or_default(),
                    supply_chain: p.supply_chain.unwrap_or_default(),
                    metrics: p.metrics.unwrap_or_default(),
                })
            }
            Spec::Release(r) => release = r.map(|r| *r),
            Spec::LocalTarget(t) => local_target = t.map(|t| *t),
            Spec::Users(u) => users = u.values(),
        }
    }
    let (Some(fleet), Some(policy)) = (fleet, policy) else {
        unreachable!("a missing Fleet or Policy is reported above")
    };
    Ok(Loaded { config: Config { fleet, policy, release, local_target, users }, files, names, index, dirs })
}

/// Reads a YAML file as UTF-8; a byte that is not UTF-8 is reported at its line and column.
fn read_text(file: &Path) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(file).map_err(|e| Diagnostic::whole(file, format!("cannot read the file: {e}"), None))?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let offset = e.utf8_error().valid_up_to();
        // Everything before the bad byte is valid UTF-8, so lines and columns count characters there.
        let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Diagnostic {
            file: file.to_path_buf(),
            line: before.matches('\n').count() + 1,
            col: before[line_start..].chars().count() + 1,
            path: String::new(),
            message: format!(
                "the file is not UTF-8: byte 0x{:02X} (at byte offset {offset}) is not valid UTF-8",
                bytes[offset]
            ),
            hint: Some("save the file as UTF-8: YAML files are read as UTF-8 only".into()),
        }
    })
}

/// The YAML files to read: `path` itself, or every `*.yaml`/`*.yml` below it sorted by path, skipping
/// hidden entries (such as `.git`).
fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let unreadable = |p: &Path, e: std::io::Error| Diagnostic::whole(p, format!("cannot read: {e}"), None);
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| unreadable(&dir, e))? {
            let entry = entry.map_err(|e| unreadable(&dir, e))?;
            let p = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().map_err(|e| unreadable(&p, e))?.is_dir() {
                pending.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}
