//! One YAML document: its envelope (`apiVersion`, `kind`, `metadata.name`) and its `spec`, turned into
//! the core model types.
//!
//! Each top-level list of a spec (clusters, pools, tenants, rings, SLIs) is deserialized item by item,
//! so one broken tenant does not hide the next one; what could not be read is remembered (its name or
//! id, a ring's selector) so that the cross-document checks in `validate` neither lose sight of it nor
//! report its absence as a second problem. Cross-document rules are not checked here.

use std::collections::BTreeMap;
use std::path::Path;

use ringfence_core::model::FreezeSpec;
use ringfence_core::model::User;
use ringfence_core::{Cluster, Fleet, LocalTarget, Policy, Pool, Release, Ring, Selector, Sli, Tenant};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Diagnostic;
use crate::de::{DeError, from_node};
use crate::diagnostic::closest;
use crate::tree::{Node, Pos, Value};

/// The only `apiVersion` this version of Ringfence reads.
pub const API_VERSION: &str = "ringfence.dev/v1alpha1";

/// The kinds of document a configuration is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocumentKind {
    /// Clusters, pools and tenants.
    Fleet,
    /// Rings, SLI thresholds and release rules.
    Policy,
    /// The release to carry out.
    Release,
    /// How tenants run on this machine (the local process driver).
    LocalTarget,
    /// The people who submit, approve and start releases, with their roles.
    Users,
}

impl DocumentKind {
    /// All kinds, in the order they are listed to users.
    pub const ALL: [DocumentKind; 5] = [
        DocumentKind::Fleet,
        DocumentKind::Policy,
        DocumentKind::Release,
        DocumentKind::LocalTarget,
        DocumentKind::Users,
    ];

    /// The spelling used in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Fleet => "Fleet",
            DocumentKind::Policy => "Policy",
            DocumentKind::Release => "Release",
            DocumentKind::LocalTarget => "LocalTarget",
            DocumentKind::Users => "Users",
        }
    }
}

/// The envelope every document shares, Kubernetes style.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // `spec` is read from the tree item by item; it is declared so it is required.
struct Envelope {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: serde::de::IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Labels and annotations are accepted for tooling around the files, not used.
struct Metadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The items of one spec list that could be read, and what is known of those that could not.
#[derive(Debug)]
pub(crate) struct Items<T> {
    /// Readable items with their index in the file's list (positions are looked up by that index).
    pub ok: Vec<(usize, T)>,
    /// Unreadable items: their index and, when it could be read, their name or id.
    pub broken: Vec<(usize, Option<String>)>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items { ok: Vec::new(), broken: Vec::new() }
    }
}

impl<T> Items<T> {
    /// Whether every item was read.
    pub fn all_ok(&self) -> bool {
        self.broken.is_empty()
    }

    /// The readable items, without their indices.
    pub fn values(self) -> Vec<T> {
        self.ok.into_iter().map(|(_, t)| t).collect()
    }
}

/// A Fleet document as far as it could be read.
#[derive(Debug, Default)]
pub(crate) struct FleetDoc {
    /// Whether the spec outside the lists was valid (and each list really was a list).
    pub shell_ok: bool,
    pub clusters: Items<Cluster>,
    pub pools: Items<Pool>,
    pub tenants: Items<Tenant>,
}

/// A Policy document as far as it could be read.
#[derive(Debug, Default)]
pub(crate) struct PolicyDoc {
    /// `allowImageTags`, when the spec outside the lists was valid.
    pub allow_image_tags: Option<bool>,
    /// `None` when the policy's scalar fields could not be read.
    pub expected_step_duration: Option<ringfence_core::Duration>,
    /// `concurrency`, when the spec outside the lists was valid.
    pub concurrency: Option<ringfence_core::model::Concurrency>,
    /// `breakGlassApprovals`, when the spec outside the lists was valid.
    pub break_glass_approvals: Option<u32>,
    /// `judge`, when the spec outside the lists was valid.
    pub judge: Option<ringfence_core::model::JudgeSpec>,
    /// `migration`, when the spec outside the lists was valid.
    pub migration: Option<ringfence_core::model::MigrationSafety>,
    /// `supplyChain`, when the spec outside the lists was valid.
    pub supply_chain: Option<ringfence_core::model::SupplyChain>,
    /// `metrics`, when the spec outside the lists was valid.
    pub metrics: Option<ringfence_core::model::MetricsSpec>,
    pub rings: Items<Ring>,
    /// Selectors of rings that could not be read as a whole (say, a bad duration), so ring membership
    /// is still known; indexed like `rings`.
    pub salvaged_selectors: Vec<(usize, Selector)>,
    pub slis: Items<Sli>,
    pub freezes: Items<FreezeSpec>,
}

/// The spec of one document, by kind.
#[derive(Debug)]
pub(crate) enum Spec {
    Fleet(FleetDoc),
    Policy(Box<PolicyDoc>),
    /// `None` when the release could not be read.
    Release(Option<Box<Release>>),
    /// `None` when the target could not be read.
    LocalTarget(Option<Box<LocalTarget>>),
    /// The users that could be read.
    Users(Items<User>),
}

/// One document of a configuration, read as far as possible.
#[derive(Debug)]
pub(crate) struct Document {
    pub kind: DocumentKind,
    /// `metadata.name`.
    pub name: String,
    /// Where `kind:` is written, to point at the document as a whole.
    pub kind_pos: Pos,
    pub root: Node,
    pub spec: Spec,
}

/// Turns a deserialization error into a diagnostic in `file`.
pub(crate) fn diagnostic(file: &Path, e: DeError) -> Diagnostic {
    let pos = e.pos.unwrap_or_default();
    Diagnostic {
        file: file.to_path_buf(),
        line: pos.line,
        col: pos.col,
        path: e.path.unwrap_or_default(),
        message: e.message,
        hint: e.hint,
    }
}

/// Reads one document; problems go to `out`. Returns `None` when not even the envelope is usable.
pub(crate) fn read(file: &Path, root: Node, out: &mut Vec<Diagnostic>) -> Option<Document> {
    let at = |pos: Pos, path: &str, message: String, hint: Option<String>| Diagnostic {
        file: file.to_path_buf(),
        line: pos.line,
        col: pos.col,
        path: path.to_owned(),
        message,
        hint,
    };
    if !matches!(root.value, Value::Map(_)) {
        out.push(at(
            root.pos,
            "",
            "a document must be a mapping with `apiVersion`, `kind`, `metadata` and `spec`".to_owned(),
            Some(format!("start the document with `apiVersion: {API_VERSION}`")),
        ));
        return None;
    }
    let envelope: Envelope = match from_node(&root, "") {
        Ok(e) => e,
        Err(e) => {
            out.push(diagnostic(file, e));
            return None;
        }
    };
    let value_pos = |key: &str| root.get(key).map(|n| n.pos).unwrap_or(root.pos);
    if envelope.api_version != API_VERSION {
        out.push(at(
            value_pos("apiVersion"),
            "apiVersion",
            format!("unknown apiVersion {:?}", envelope.api_version),
            Some(format!("this version of Ringfence reads `apiVersion: {API_VERSION}`")),
        ));
        return None;
    }
    let Some(kind) = DocumentKind::ALL.into_iter().find(|k| k.as_str() == envelope.kind) else {
        let valid = DocumentKind::ALL.map(DocumentKind::as_str);
        let hint = match closest(&envelope.kind, valid) {
            Some(best) => format!("did you mean `{best}`? valid kinds: {}", valid.join(", ")),
            None => format!("valid kinds: {}", valid.join(", ")),
        };
        out.push(at(value_pos("kind"), "kind", format!("unknown kind {:?}", envelope.kind), Some(hint)));
        return None;
    };
    let spec_node = root.get("spec").expect("the envelope requires spec");
    let mut errors = Vec::new();
    let spec = match kind {
        DocumentKind::Fleet => Spec::Fleet(read_fleet(spec_node, &mut errors)),
        DocumentKind::Policy => Spec::Policy(Box::new(read_policy(spec_node, &mut errors))),
        DocumentKind::Release => Spec::Release(match from_node::<Release>(spec_node, "spec") {
            Ok(r) => Some(Box::new(r)),
            Err(e) => {
                errors.push(e);
                None
            }
        }),
        DocumentKind::LocalTarget => Spec::LocalTarget(match from_node::<LocalTarget>(spec_node, "spec") {
            Ok(t) => Some(Box::new(t)),
            Err(e) => {
                errors.push(e);
                None
            }
        }),
        DocumentKind::Users => Spec::Users(read_users(spec_node, &mut errors)),
    };
    out.extend(errors.into_iter().map(|e| diagnostic(file, e)));
    Some(Document { kind, name: envelope.metadata.name, kind_pos: value_pos("kind"), spec, root })
}

fn read_users(spec: &Node, errors: &mut Vec<DeError>) -> Items<User> {
    // The spec holds nothing but the list; reading the emptied shell rejects unknown fields there.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read item by item below; declared so the shell is checked
    struct UsersShell {
        users: Vec<User>,
    }
    if let Err(e) = from_node::<UsersShell>(&shell(spec, &["users"]), "spec") {
        errors.push(e);
    }
    items(spec, "users", "name", errors)
}

/// The spec with the given lists emptied, so the rest of it can be checked without them.
fn shell(spec: &Node, lists: &[&str]) -> Node {
    let mut shell = spec.clone();
    if let Value::Map(entries) = &mut shell.value {
        for (key, value) in entries.iter_mut() {
            if key.as_str().is_some_and(|k| lists.contains(&k)) && matches!(value.value, Value::Seq(_)) {
                value.value = Value::Seq(Vec::new());
            }
        }
    }
    shell
}

/// Deserializes each item of `spec.<field>` on its own; `name_key` names the field that identifies an
/// item, read directly from the tree when the item as a whole cannot be deserialized.
fn items<T: DeserializeOwned>(spec: &Node, field: &str, name_key: &str, errors: &mut Vec<DeError>) -> Items<T> {
    let mut items = Items::default();
    let Some(Node { value: Value::Seq(nodes), .. }) = spec.get(field) else { return items };
    for (i, node) in nodes.iter().enumerate() {
        match from_node::<T>(node, &format!("spec.{field}[{i}]")) {
            Ok(t) => items.ok.push((i, t)),
            Err(e) => {
                errors.push(e);
                items.broken.push((i, node.get(name_key).and_then(Node::as_str).map(str::to_owned)));
            }
        }
    }
    items
}

fn read_fleet(spec: &Node, errors: &mut Vec<DeError>) -> FleetDoc {
    let shell_ok = match from_node::<Fleet>(&shell(spec, &["clusters", "pools", "tenants"]), "spec") {
        Ok(_) => true,
        Err(e) => {
            errors.push(e);
            false
        }
    };
    FleetDoc {
        shell_ok,
        clusters: items(spec, "clusters", "name", errors),
        pools: items(spec, "pools", "name", errors),
        tenants: items(spec, "tenants", "id", errors),
    }
}

fn read_policy(spec: &Node, errors: &mut Vec<DeError>) -> PolicyDoc {
    let shell_policy = match from_node::<Policy>(&shell(spec, &["rings", "slis", "freezes"]), "spec") {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let rings: Items<Ring> = items(spec, "rings", "name", errors);
    // A ring broken elsewhere (a bad duration) still says who is in it; a broken selector was
    // reported already, so it is not reported twice here.
    let salvaged_selectors = rings
        .broken
        .iter()
        .filter_map(|(i, _)| {
            let ring = match spec.get("rings") {
                Some(Node { value: Value::Seq(nodes), .. }) => nodes.get(*i)?,
                _ => return None,
            };
            let selector = from_node::<Selector>(ring.get("selector")?, "").ok()?;
            Some((*i, selector))
        })
        .collect();
    PolicyDoc {
        allow_image_tags: shell_policy.as_ref().map(|p| p.allow_image_tags),
        expected_step_duration: shell_policy.as_ref().map(|p| p.expected_step_duration),
        concurrency: shell_policy.as_ref().map(|p| p.concurrency.clone()),
        break_glass_approvals: shell_policy.as_ref().map(|p| p.break_glass_approvals),
        judge: shell_policy.as_ref().map(|p| p.judge.clone()),
        migration: shell_policy.as_ref().map(|p| p.migration.clone()),
        supply_chain: shell_policy.as_ref().map(|p| p.supply_chain.clone()),
        metrics: shell_policy.as_ref().map(|p| p.metrics.clone()),
        rings,
        salvaged_selectors,
        slis: items(spec, "slis", "name", errors),
        freezes: items(spec, "freezes", "name", errors),
    }
}
