//! Signatures made by another implementation (Python `cryptography`, i.e. OpenSSL; see
//! `fixtures/make_fixtures.py`) verify with ours, and fail as ours would when tampered with. Python is
//! only needed to regenerate the fixtures, never to run this test.

use std::path::{Path, PathBuf};

use ringfence_supply::{CosignSignature, Envelope, ImageRef, Keyring, verify_image_signature, verify_provenance};

// Keep in step with fixtures/make_fixtures.py.
const IMAGE: &str = "ghcr.io/acme/odoo:17.0@sha256:4f6a1d2c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29";
const BUILDER: &str = "https://github.com/acme/odoo-platform/.github/workflows/release.yml@refs/heads/main";
const BUILD_TYPE: &str = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python").join(name)
}

fn keyring(name: &str) -> Keyring {
    Keyring::load(&[fixture(&format!("{name}.pub"))]).unwrap()
}

#[test]
fn python_cosign_signatures_verify() {
    let image = ImageRef::parse(IMAGE).unwrap();
    for name in ["ecdsa", "ed25519"] {
        for layout in [format!("cosign-{name}"), format!("cosign-{name}.bundle.json")] {
            let signature = CosignSignature::load(&fixture(&layout)).unwrap();
            let evidence = verify_image_signature(&signature, &image, &keyring(name));
            assert!(evidence.verified, "{layout}: {:?}", evidence.problem);
            assert_eq!(evidence.key_id.as_deref(), Some(name));

            // The other algorithm's key must not accept it.
            let other = if name == "ecdsa" { "ed25519" } else { "ecdsa" };
            assert!(!verify_image_signature(&signature, &image, &keyring(other)).verified, "{layout}");

            let mut tampered = signature.clone();
            let at = tampered.payload.iter().position(|&b| b == b'{').unwrap();
            tampered.payload.insert(at + 1, b' ');
            assert!(!verify_image_signature(&tampered, &image, &keyring(name)).verified, "{layout}");
        }
    }
}

#[test]
fn python_dsse_provenance_verifies() {
    let image = ImageRef::parse(IMAGE).unwrap();
    for name in ["ecdsa", "ed25519"] {
        let envelope = Envelope::load(&fixture(&format!("provenance-{name}.intoto.json"))).unwrap();
        assert_eq!(envelope.signatures[0].keyid, format!("python-{name}"));
        let evidence = verify_provenance(&envelope, &image, &keyring(name), &[BUILDER.to_owned()]);
        assert!(evidence.verified, "{name}: {:?}", evidence.problem);
        assert_eq!(evidence.key_id.as_deref(), Some(name));
        assert_eq!(evidence.builder_id.as_deref(), Some(BUILDER));
        assert_eq!(evidence.build_type.as_deref(), Some(BUILD_TYPE));

        let mut tampered = envelope.clone();
        let last = tampered.payload.len() - 2;
        tampered.payload[last] ^= 0x20;
        assert!(!verify_provenance(&tampered, &image, &keyring(name), &[]).verified, "{name}");

        let other_image = ImageRef::parse(&IMAGE.replace("4f6a", "4f6b")).unwrap();
        let evidence = verify_provenance(&envelope, &other_image, &keyring(name), &[]);
        assert!(!evidence.verified);
        assert!(evidence.problem.unwrap().starts_with("no subject has the release image's digest"));
    }
}
