//! Addon trees: addon paths (directories whose subdirectories with a manifest are addons, like Odoo's
//! `--addons-path`) and OCA wheels (`odoo/addons/<name>/` inside the zip) gathered into an [`AddonSet`],
//! and its dependency graph resolved into the order Odoo loads modules in.
//!
//! Not here: which of these a tenant has installed or will upgrade, and content hashing. Reads files and
//! zips only; never imports or runs addon code.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::OdooError;
use crate::manifest::{MANIFEST_NAMES, Manifest, utf8};
use crate::migrations::{MigrationScript, migration_scripts};

/// Where an addon was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddonSource {
    /// An addon directory inside an addons path.
    Dir(PathBuf),
    /// A wheel, with the addon's folder inside it (e.g. `odoo/addons/queue_job/`).
    Wheel {
        /// The `.whl` file.
        path: PathBuf,
        /// The addon's folder in the zip, ending with `/`.
        prefix: String,
    },
}

/// One addon: its manifest, where it came from and which files it has.
#[derive(Debug, Clone)]
pub struct Addon {
    /// Technical name (the folder name).
    pub name: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// Where it was read from.
    pub source: AddonSource,
    /// Its files, relative to the addon folder, `/`-separated, sorted (`__pycache__` left out).
    pub files: Vec<String>,
}

impl Addon {
    /// Reads the addon in `dir`; `Ok(None)` if `dir` has no manifest (it is not an addon).
    pub fn read_dir(dir: &Path) -> Result<Option<Addon>, OdooError> {
        let Some(manifest_path) = MANIFEST_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
            return Ok(None);
        };
        let manifest = Manifest::read(&manifest_path)?;
        let mut files = Vec::new();
        list_files(dir, "", &mut files)?;
        files.sort();
        Ok(Some(Addon { name: file_name(dir), manifest, source: AddonSource::Dir(dir.to_path_buf()), files }))
    }

    /// The migration scripts this addon ships (all folders; selection by version is the caller's).
    pub fn migration_scripts(&self) -> Vec<MigrationScript> {
        migration_scripts(self.files.iter().map(String::as_str))
    }

    /// The text of one of its files (`rel` as in [`Addon::files`]), from the directory or the wheel.
    /// Only read, never run: used to scan migration scripts for SQL.
    pub fn read_text(&self, rel: &str) -> Result<String, OdooError> {
        match &self.source {
            AddonSource::Dir(dir) => {
                let path = dir.join(rel);
                let bytes = fs::read(&path).map_err(|source| io(&path, source))?;
                utf8(bytes, &path)
            }
            AddonSource::Wheel { path, prefix } => {
                let entry = format!("{prefix}{rel}");
                let display = PathBuf::from(format!("{}!{entry}", path.display()));
                let zip_err = |source| OdooError::Zip { path: path.clone(), source };
                let file = fs::File::open(path).map_err(|source| io(path, source))?;
                let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
                let mut bytes = Vec::new();
                archive
                    .by_name(&entry)
                    .map_err(zip_err)?
                    .read_to_end(&mut bytes)
                    .map_err(|source| io(&display, source))?;
                utf8(bytes, &display)
            }
        }
    }
}

/// An addon that was not used because one of the same name came earlier (first path wins, as in Odoo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The technical name.
    pub name: String,
    /// The addon that is used.
    pub kept: AddonSource,
    /// The addon that is ignored.
    pub shadowed: AddonSource,
}

/// All addons available to an Odoo image, by technical name.
#[derive(Debug, Clone, Default)]
pub struct AddonSet {
    addons: BTreeMap<String, Addon>,
    shadowed: Vec<Shadowed>,
}

impl AddonSet {
    /// An empty set.
    pub fn new() -> AddonSet {
        AddonSet::default()
    }

    /// Adds an addon unless one of the same name is already there (then records it as shadowed);
    /// returns whether it was added.
    pub fn insert(&mut self, addon: Addon) -> bool {
        if let Some(kept) = self.addons.get(&addon.name) {
            self.shadowed.push(Shadowed {
                name: addon.name.clone(),
                kept: kept.source.clone(),
                shadowed: addon.source,
            });
            return false;
        }
        self.addons.insert(addon.name.clone(), addon);
        true
    }

    /// Adds every addon of an addons path (its subdirectories holding a manifest, in name order).
    /// `Err` if the path cannot be listed; otherwise the errors of the addons that were skipped because
    /// their manifest is unreadable, so one bad addon does not hide the others.
    pub fn add_addons_path(&mut self, path: &Path) -> Result<Vec<OdooError>, OdooError> {
        let mut dirs = Vec::new();
        for entry in fs::read_dir(path).map_err(|source| io(path, source))? {
            let entry = entry.map_err(|source| io(path, source))?;
            // Follows symlinks on purpose: addons paths are often links into checked-out repositories.
            if entry.path().is_dir() {
                dirs.push(entry.path());
            }
        }
        dirs.sort();
        let mut errors = Vec::new();
        for dir in dirs {
            match Addon::read_dir(&dir) {
                Ok(Some(addon)) => {
                    self.insert(addon);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        Ok(errors)
    }

    /// Adds the addons of a wheel (an OCA wheel holds one, under `odoo/addons/<name>/`).
    pub fn add_wheel(&mut self, path: &Path) -> Result<(), OdooError> {
        for addon in read_wheel(path)? {
            self.insert(addon);
        }
        Ok(())
    }

    /// The addon with this technical name.
    pub fn get(&self, name: &str) -> Option<&Addon> {
        self.addons.get(name)
    }

    /// All addons, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Addon> {
        self.addons.values()
    }

    /// Number of addons.
    pub fn len(&self) -> usize {
        self.addons.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.addons.is_empty()
    }

    /// Addons ignored because an earlier path or wheel had one of the same name.
    pub fn shadowed(&self) -> &[Shadowed] {
        &self.shadowed
    }

    /// Resolves the dependency graph. `known_external` names modules provided outside this set (Odoo's
    /// own `base`, `web`, `mail`, …): dependencies on them are satisfied and they count as loaded first.
    pub fn resolve(&self, known_external: &BTreeSet<String>) -> Resolution {
        let mut resolution = Resolution::default();
        let candidates: BTreeMap<&str, Vec<&str>> = self
            .addons
            .values()
            .filter(|a| a.manifest.installable)
            .map(|a| {
                let deps: BTreeSet<&str> = a.manifest.depends.iter().map(String::as_str).collect();
                (a.name.as_str(), deps.into_iter().collect())
            })
            .collect();
        resolution.not_installable =
            self.addons.values().filter(|a| !a.manifest.installable).map(|a| a.name.clone()).collect();

        // Only dependencies inside the set are edges; external ones are loaded before everything.
        let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut has_missing: BTreeSet<&str> = BTreeSet::new();
        for (&name, deps) in &candidates {
            let mut inner = Vec::new();
            for &dep in deps {
                if candidates.contains_key(dep) {
                    inner.push(dep);
                } else if !known_external.contains(dep) {
                    has_missing.insert(name);
                    resolution.missing.push(MissingDependency {
                        addon: name.to_string(),
                        dependency: dep.to_string(),
                        not_installable: self.addons.contains_key(dep),
                    });
                }
            }
            edges.insert(name, inner);
        }

        // Kahn's algorithm computing each module's depth (1 + deepest dependency), which is how Odoo's
        // module graph levels them; it then loads level by level, by name within a level.
        let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (&name, deps) in &edges {
            waiting.insert(name, deps.len());
            for &dep in deps {
                dependents.entry(dep).or_default().push(name);
            }
        }
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        let mut ready: VecDeque<&str> =
            waiting.iter().filter(|&(name, &n)| n == 0 && !has_missing.contains(name)).map(|(&name, _)| name).collect();
        while let Some(name) = ready.pop_front() {
            let d = edges[name].iter().map(|dep| depth[dep] + 1).max().unwrap_or(0);
            depth.insert(name, d);
            for &child in dependents.get(name).into_iter().flatten() {
                let n = waiting.get_mut(child).expect("every candidate is waiting");
                *n -= 1;
                if *n == 0 && !has_missing.contains(child) {
                    ready.push_back(child);
                }
            }
        }
        let mut order: Vec<(usize, &str)> = depth.iter().map(|(&n, &d)| (d, n)).collect();
        order.sort();
        resolution.order = order.into_iter().map(|(_, n)| n.to_string()).collect();

        // What is left is in a cycle, or waits on a missing dependency or a cycle.
        let rest: BTreeMap<&str, Vec<&str>> = edges
            .iter()
            .filter(|(n, _)| !depth.contains_key(*n))
            .map(|(&n, deps)| {
                let inner = deps.iter().copied().filter(|d| !depth.contains_key(d)).collect();
                (n, inner)
            })
            .collect();
        resolution.cycles = cycles(&rest);
        let in_cycle: BTreeSet<&str> = resolution.cycles.iter().flatten().map(String::as_str).collect();
        resolution.blocked = rest.keys().filter(|n| !in_cycle.contains(*n)).map(|n| n.to_string()).collect();
        resolution
    }
}

/// The dependency graph of an [`AddonSet`], resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Loadable addons in the order Odoo loads them: by depth (dependencies first), then by name.
    pub order: Vec<String>,
    /// Dependencies that are neither in the set nor known external, by addon then dependency.
    pub missing: Vec<MissingDependency>,
    /// Dependency cycles, each starting and ending with its alphabetically first addon.
    pub cycles: Vec<Vec<String>>,
    /// Addons that cannot load because a dependency, direct or not, is missing or in a cycle.
    pub blocked: Vec<String>,
    /// Addons whose manifest says `installable: False`.
    pub not_installable: Vec<String>,
}

impl Resolution {
    /// Whether every installable addon can be loaded.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.cycles.is_empty() && self.blocked.is_empty()
    }

    /// The missing dependencies and cycles as errors that say what to do.
    pub fn problems(&self) -> Vec<OdooError> {
        let missing = self.missing.iter().map(|m| OdooError::MissingDependency {
            addon: m.addon.clone(),
            dependency: m.dependency.clone(),
            not_installable: m.not_installable,
        });
        let cycles = self.cycles.iter().map(|c| OdooError::DependencyCycle { path: c.clone() });
        missing.chain(cycles).collect()
    }
}

/// A dependency that cannot be satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingDependency {
    /// The addon whose manifest names it.
    pub addon: String,
    /// The module it names.
    pub dependency: String,
    /// It exists in the set but is `installable: False`.
    pub not_installable: bool,
}

/// Reads the addons inside a wheel: every `odoo/addons/<name>/` folder holding a manifest.
pub fn read_wheel(path: &Path) -> Result<Vec<Addon>, OdooError> {
    let file = fs::File::open(path).map_err(|source| io(path, source))?;
    let zip_err = |source| OdooError::Zip { path: path.to_path_buf(), source };
    let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
    let names: Vec<String> =
        archive.file_names().map(|n| n.map(|n| n.into_owned())).collect::<Result<_, _>>().map_err(zip_err)?;
    // Per addon folder, the manifest Odoo would pick (the first of MANIFEST_NAMES present).
    let mut manifests: BTreeMap<String, String> = BTreeMap::new();
    for manifest_name in MANIFEST_NAMES.iter().rev() {
        for name in &names {
            let Some(rest) = name.strip_prefix("odoo/addons/") else {
                continue;
            };
            if let Some((addon, file)) = rest.split_once('/')
                && file == *manifest_name
                && !addon.is_empty()
            {
                manifests.insert(addon.to_string(), name.clone());
            }
        }
    }
    if manifests.is_empty() {
        return Err(OdooError::NotAnAddonWheel { path: path.to_path_buf() });
    }
    let mut addons = Vec::new();
    for (addon, entry) in manifests {
        let display = PathBuf::from(format!("{}!{entry}", path.display()));
        let mut bytes = Vec::new();
        archive.by_name(&entry).map_err(zip_err)?.read_to_end(&mut bytes).map_err(|source| io(&display, source))?;
        let manifest = Manifest::parse(&utf8(bytes, &display)?, &display)?;
        let prefix = format!("odoo/addons/{addon}/");
        let files = names
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .filter(|f| !f.is_empty() && !f.ends_with('/') && !f.split('/').any(|p| p == "__pycache__"))
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        addons.push(Addon {
            name: addon,
            manifest,
            source: AddonSource::Wheel { path: path.to_path_buf(), prefix },
            files,
        });
    }
    Ok(addons)
}

fn io(path: &Path, source: std::io::Error) -> OdooError {
    OdooError::Io { path: path.to_path_buf(), source }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn list_files(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), OdooError> {
    for entry in fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let entry = entry.map_err(|source| io(dir, source))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{rel}{name}");
        // Symlinked directories inside an addon are not followed, so a link loop cannot trap the walk.
        let kind = entry.file_type().map_err(|source| io(&entry.path(), source))?;
        if kind.is_dir() {
            if name != "__pycache__" {
                list_files(&entry.path(), &format!("{path}/"), out)?;
            }
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Strongly connected components with more than one addon (or a self-dependency), each as a cycle path
/// from its alphabetically first addon back to it.
fn cycles(graph: &BTreeMap<&str, Vec<&str>>) -> Vec<Vec<String>> {
    struct Tarjan<'g, 'a> {
        graph: &'g BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    impl<'a> Tarjan<'_, 'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for &w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                self.components.push(component);
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for &v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    let mut result: Vec<Vec<String>> = t
        .components
        .into_iter()
        .filter(|c| c.len() > 1 || graph[c[0]].contains(&c[0]))
        .map(|c| {
            let members: BTreeSet<&str> = c.into_iter().collect();
            cycle_path(graph, &members)
        })
        .collect();
    result.sort();
    result
}

/// The shortest path from the first member back to itself, staying inside the component.
fn cycle_path(graph: &BTreeMap<&str, Vec<&str>>, members: &BTreeSet<&str>) -> Vec<String> {
    let start = *members.first().expect("components are not empty");
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    let mut last = start;
    'search: while let Some(v) = queue.pop_front() {
        for &w in &graph[v] {
            if !members.contains(w) {
                continue;
            }
            if w == start {
                last = v;
                break 'search;
            }
            if !previous.contains_key(w) {
                previous.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![start.to_string()];
    let mut v = last;
    while v != start {
        path.push(v.to_string());
        v = previous[v];
    }
    path.push(start.to_string());
    // Walked backwards from the end of the cycle; reverse to read in dependency direction.
    path.reverse();
    path
}
