//! The typed manifest over the fixture files: fields, defaults, type errors and version normalisation.

use std::path::{Path, PathBuf};

use ringfence_odoo::{AutoInstall, Manifest, OdooError, Series};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn s17() -> Series {
    "17.0".parse().unwrap()
}

#[test]
fn reads_every_used_key() {
    let m = Manifest::read(&fixture("addons_a/shop_core/__manifest__.py")).unwrap();
    assert_eq!(m.name.as_deref(), Some("Shop Core"), "implicit concatenation");
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert!(m.depends.is_empty());
    assert_eq!(m.auto_install, AutoInstall::Bool(false));
    assert!(m.installable);
    assert_eq!(m.external_dependencies.python, ["requests", "phonenumbers"]);
    assert_eq!(m.external_dependencies.bin, ["wkhtmltopdf"]);
    assert_eq!(m.data, ["security/ir.model.access.csv", "views/shop_views.xml"]);
    assert_eq!(m.license.as_deref(), Some("LGPL-3"));
    assert_eq!(m.category.as_deref(), Some("Sales/Shop"));
    let description = m.value.get("description").and_then(|v| v.as_str()).unwrap();
    assert!(description.contains("Holds the \"shared\" models; 'quotes'"), "{description}");
    assert_eq!(m.value.get("summary").and_then(|v| v.as_str()), Some("Shared models for the shop addons"));
    assert_eq!(m.version(s17()).unwrap().as_str(), "17.0.1.0");
}

#[test]
fn defaults_when_keys_are_absent() {
    let m = Manifest::parse("{}", Path::new("m.py")).unwrap();
    assert_eq!(m.name, None);
    assert!(m.depends.is_empty());
    assert!(m.installable, "installable defaults to True");
    assert_eq!(m.auto_install, AutoInstall::Bool(false));
    assert_eq!(m.version(s17()).unwrap().as_str(), "17.0.1.0", "Odoo's default version is 1.0");
}

#[test]
fn auto_install_as_list_and_bool() {
    let stock = Manifest::read(&fixture("addons_a/shop_stock/__manifest__.py")).unwrap();
    assert_eq!(stock.auto_install, AutoInstall::List(vec!["shop_core".into()]));
    assert_eq!(stock.auto_install.triggers(&stock.depends), Some(&["shop_core".to_string()][..]));
    let bridge = Manifest::read(&fixture("addons_a/shop_bridge/__manifest__.py")).unwrap();
    assert_eq!(bridge.auto_install, AutoInstall::Bool(true));
    assert_eq!(bridge.depends, ["shop_sale", "shop_stock"], "a tuple is fine");
    assert_eq!(bridge.auto_install.triggers(&bridge.depends), Some(&bridge.depends[..]));
}

#[test]
fn legacy_openerp_manifest() {
    let m = Manifest::read(&fixture("addons_a/legacy_report/__openerp__.py")).unwrap();
    assert_eq!(m.name.as_deref(), Some("Legacy Report"));
    assert_eq!(m.version(s17()).unwrap().as_str(), "17.0.1.1");
}

#[test]
fn function_call_is_rejected_with_position() {
    let path = fixture("manifests/call.py");
    let err = Manifest::read(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}:5:16: a function call `list(...)`", path.display())), "{text}");
    assert!(text.contains("never executes"), "{text}");
}

#[test]
fn f_string_is_rejected_with_position() {
    let path = fixture("manifests/fstring.py");
    let text = Manifest::read(&path).unwrap_err().to_string();
    assert!(text.starts_with(&format!("{}:2:13: an f-string", path.display())), "{text}");
}

#[test]
fn docstring_before_the_dict_is_rejected_like_literal_eval_does() {
    let err = Manifest::read(&fixture("manifests/docstring.py")).unwrap_err();
    let OdooError::Syntax { line, col, .. } = err else { panic!("{err}") };
    assert_eq!((line, col), (2, 1));
}

#[test]
fn wrong_types_name_the_value_position() {
    let err = Manifest::read(&fixture("manifests/wrong_types.py")).unwrap_err();
    let OdooError::ManifestType { line, col, key, found, .. } = &err else { panic!("{err}") };
    assert_eq!((*line, *col, key.as_str(), found.as_str()), (3, 25, "depends", "int"));
    for (src, key, expected_pos) in [
        ("[]", "manifest", (1, 1)),
        ("{'name': 1}", "name", (1, 10)),
        ("{'installable': 'yes'}", "installable", (1, 17)),
        ("{'auto_install': 'yes'}", "auto_install", (1, 18)),
        ("{'external_dependencies': []}", "external_dependencies", (1, 27)),
        ("{'external_dependencies': {'python': 'requests'}}", "external_dependencies.python", (1, 38)),
        ("{'data': {'a': 1}}", "data", (1, 10)),
        ("{'version': 1.0}", "version", (1, 13)),
    ] {
        match Manifest::parse(src, Path::new("m.py")) {
            Err(OdooError::ManifestType { key: k, line, col, .. }) => {
                assert_eq!((k.as_str(), (line, col)), (key, expected_pos), "{src}")
            }
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn auto_install_trigger_must_be_a_dependency() {
    let err = Manifest::parse("{'depends': ['sale'], 'auto_install': ['stock']}", Path::new("m.py")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`stock`, which is not in depends"), "{text}");
}

#[test]
fn version_of_another_series_is_an_error_at_the_value() {
    let m = Manifest::parse("{\n  'version': '16.0.1.0.0'}", Path::new("m.py")).unwrap();
    let text = m.version(s17()).unwrap_err().to_string();
    assert!(text.starts_with("m.py:2:14: version \"16.0.1.0.0\""), "{text}");
    assert!(text.contains("another series than 17.0"), "{text}");
    let m = Manifest::parse("{'version': '17.0.1.2.3'}", Path::new("m.py")).unwrap();
    assert_eq!(m.version(s17()).unwrap().as_str(), "17.0.1.2.3");
    let m = Manifest::parse("{'version': '1.2.3'}", Path::new("m.py")).unwrap();
    assert_eq!(m.version(s17()).unwrap().as_str(), "17.0.1.2.3");
}

#[test]
fn not_utf8_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("__manifest__.py");
    std::fs::write(&path, b"{'name': '\xff'}").unwrap();
    let err = Manifest::read(&path).unwrap_err();
    assert!(matches!(err, OdooError::NotUtf8 { offset: 10, .. }), "{err}");
}
