//! Content hashes against an independent reference: `fixtures/checksum/expected_checksums.json` was
//! computed by `fixtures/checksum/reference_checksums.py` with Python's own `os.walk`, `fnmatch` and
//! `hashlib`, the way click-odoo-update computes them. The fixture trees hold every case the rules
//! have: excluded `*.pyc`, `i18n/*.pot`, `static/`, `tests/`; `.po` files of inactive languages; an
//! empty file; nested folders whose files must come after their parent's files; upper-case names.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ringfence_odoo::checksum::DEFAULT_EXCLUDE_PATTERNS;
use ringfence_odoo::{AddonSet, HashRules, digest_addon, digest_set};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checksum")
}

fn expected(key: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixtures().join("expected_checksums.json")).unwrap();
    let all: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text).unwrap();
    all[key].clone()
}

fn tree(name: &str) -> AddonSet {
    let mut set = AddonSet::new();
    let errors = set.add_addons_path(&fixtures().join(name)).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    set
}

fn checksums(set: &AddonSet, rules: &HashRules) -> BTreeMap<String, String> {
    digest_set(set, rules).unwrap().into_iter().map(|(name, d)| (name, d.checksum)).collect()
}

#[test]
fn directory_checksums_match_the_python_reference() {
    for name in ["old", "new"] {
        let set = tree(name);
        assert_eq!(checksums(&set, &HashRules::default()), expected(name), "{name}, all languages");
        let french = HashRules::new(DEFAULT_EXCLUDE_PATTERNS, &["fr_FR"]);
        assert_eq!(checksums(&set, &french), expected(&format!("{name}:fr_FR")), "{name}, fr_FR active");
    }
}

#[test]
fn excluded_files_do_not_change_the_checksum_and_others_do() {
    let (old, new) = (expected("old"), expected("new"));
    // Only static/, tests/ or excluded translations changed: same checksum.
    for same in ["shop_assets", "shop_tests", "sale_shop_ext", "stock_untouched"] {
        assert_eq!(old[same], new[same], "{same}");
    }
    for changed in ["shop_base", "shop_pydeps", "shop_translate"] {
        assert_ne!(old[changed], new[changed], "{changed}");
    }
    // The German translation only counts when no active language filters it out.
    let (old_fr, new_fr) = (expected("old:fr_FR"), expected("new:fr_FR"));
    assert_eq!(old_fr["shop_translate"], new_fr["shop_translate"]);
}

#[test]
fn a_wheel_hashes_like_the_directory_it_installs() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("odoo_addon_shop_base-17.0.1.0.0-py3-none-any.whl");
    let root = fixtures().join("new/shop_base");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    // Written in reverse name order on purpose: the hash must not depend on the archive's order.
    let mut files = Vec::new();
    collect(&root, "", &mut files);
    files.sort();
    files.reverse();
    for rel in &files {
        zip.start_file(format!("odoo/addons/shop_base/{rel}"), options).unwrap();
        zip.write_all(&std::fs::read(root.join(rel)).unwrap()).unwrap();
    }
    zip.start_file("odoo_addon_shop_base-17.0.1.0.0.dist-info/RECORD", options).unwrap();
    zip.write_all(b"not part of the addon\n").unwrap();
    zip.finish().unwrap();

    let mut set = AddonSet::new();
    set.add_wheel(&wheel).unwrap();
    let from_wheel = digest_addon(set.get("shop_base").unwrap(), &HashRules::default()).unwrap();
    assert_eq!(from_wheel.checksum, expected("new")["shop_base"]);
    let from_dir = digest_set(&tree("new"), &HashRules::default()).unwrap().remove("shop_base").unwrap();
    assert_eq!(from_wheel, from_dir, "per-file digests agree too");
    assert!(!from_dir.files.contains_key("models/shop.cpython-311.pyc"), "compiled files are not content");
    assert!(from_dir.files.contains_key("static/description/index.html"), "assets are content");
}

#[test]
fn the_exclude_patterns_are_the_tenants() {
    let set = tree("old");
    let base = set.get("shop_base").unwrap();
    let default = digest_addon(base, &HashRules::default()).unwrap();
    // Excluding README.rst as well changes the hash; so does hashing tests/.
    let more = HashRules::new(&format!("{DEFAULT_EXCLUDE_PATTERNS}, README.rst"), &[] as &[&str]);
    let fewer = HashRules::new("*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*", &[] as &[&str]);
    for rules in [more, fewer] {
        assert_ne!(digest_addon(base, &rules).unwrap().checksum, default.checksum);
    }
}

fn collect(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{rel}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            collect(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}
