//! The repository explains itself: every path its Markdown documents point to (a link, or a path in
//! backticks that starts with `./` or `../`) exists inside the repository. A clone has nothing beside
//! it, so a document that sends its reader outside the repository sends them nowhere.

use std::path::{Component, Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Every Markdown file of the repository, outside build output and Git's own directory.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The targets of `[text](target)` links that are not URLs or in-page anchors, and backticked paths
/// that start with `./` or `../`.
fn referenced_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("](") {
        let rest = &text[i + 2..];
        let Some(end) = rest.find(')') else { continue };
        let target = rest[..end].split('#').next().unwrap_or("").trim();
        if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        found.push(target.to_owned());
    }
    for span in text.split('`').skip(1).step_by(2) {
        if span.starts_with("../") || span.starts_with("./") {
            found.push(span.split_whitespace().next().unwrap_or(span).to_owned());
        }
    }
    found
}

/// `path` joined to `base` with `..` resolved lexically, or `None` when it climbs above `root`.
fn resolve_inside(root: &Path, base: &Path, path: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir => {
                if out == root {
                    return None;
                }
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[test]
fn markdown_documents_point_only_to_files_inside_the_repository() {
    let root = repo_root();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.iter().any(|f| f.ends_with("README.md")), "no README.md found under {}", root.display());
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let base = file.parent().unwrap();
        for target in referenced_paths(&text) {
            let shown = file.strip_prefix(&root).unwrap().display();
            match resolve_inside(&root, base, &target) {
                None => broken.push(format!("{shown}: `{target}` is outside the repository")),
                Some(path) if !path.exists() => broken.push(format!("{shown}: `{target}` does not exist")),
                Some(_) => {}
            }
        }
    }
    assert!(broken.is_empty(), "documents point to missing files:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_the_product_overview() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains("](docs/PRODUCT.md)"), "README.md must link docs/PRODUCT.md");
    let product = std::fs::read_to_string(repo_root().join("docs/PRODUCT.md")).unwrap();
    for heading in ["## Vocabulary", "## Guarantees"] {
        assert!(product.contains(heading), "docs/PRODUCT.md lacks {heading}");
    }
}

#[test]
fn a_path_above_the_repository_is_reported() {
    let root = Path::new("/repo");
    assert_eq!(resolve_inside(root, root, "../shared/PRODUCT.md"), None);
    assert_eq!(resolve_inside(root, &root.join("docs"), "../README.md"), Some(root.join("README.md")));
    assert_eq!(referenced_paths("see `../shared/PRODUCT.md` (beside)"), ["../shared/PRODUCT.md"]);
    assert_eq!(referenced_paths("[a](docs/A.md#x) [b](https://e.org) [c](#top)"), ["docs/A.md"]);
}
