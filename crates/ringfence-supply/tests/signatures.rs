//! cosign signatures and DSSE provenance signed and verified with keys generated here, for both
//! algorithms: every way a signature can be wrong must come out as `verified: false` with its reason.

use ringfence_supply::sign::{
    provenance_statement, sign_envelope, sign_image, sign_payload, sign_provenance, simple_signing_payload,
};
use ringfence_supply::{
    Algorithm, CosignSignature, Envelope, IN_TOTO_PAYLOAD_TYPE, ImageRef, Keyring, SigningKey, SupplyError, TrustedKey,
    pae, verify_image_signature, verify_image_signatures, verify_provenance,
};

const DIGEST: &str = "sha256:4f6a1d2c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29";
const OTHER_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
const BUILDER: &str = "https://github.com/acme/odoo-platform/.github/workflows/release.yml@refs/heads/main";
const BUILD_TYPE: &str = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";
const ALGORITHMS: [Algorithm; 2] = [Algorithm::EcdsaP256, Algorithm::Ed25519];

fn image(digest: &str) -> ImageRef {
    ImageRef::parse(&format!("ghcr.io/acme/odoo:17.0-2026.11@{digest}")).unwrap()
}

fn key(algorithm: Algorithm) -> SigningKey {
    SigningKey::generate(algorithm).unwrap()
}

fn keyring(key: &SigningKey) -> Keyring {
    Keyring::new(vec![key.trusted_key("release")])
}

fn problem(evidence_problem: Option<String>) -> String {
    evidence_problem.expect("a failed verification says why")
}

// --- cosign ---------------------------------------------------------------------------------------

#[test]
fn cosign_signature_verifies() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let sig = sign_image(&key, &image(DIGEST)).unwrap();
        let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
        assert!(evidence.verified, "{alg:?}: {:?}", evidence.problem);
        assert_eq!(evidence.key_id.as_deref(), Some("release"));
        assert_eq!(evidence.problem, None);
    }
}

#[test]
fn cosign_tampered_payload_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let mut sig = sign_image(&key, &image(DIGEST)).unwrap();
        // Point the payload at another digest by changing one byte: still valid JSON, no longer signed.
        let at = sig.payload.windows(DIGEST.len()).position(|w| w == DIGEST.as_bytes()).unwrap() + DIGEST.len() - 1;
        sig.payload[at] = b'8';
        let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
        assert!(!evidence.verified, "{alg:?}");
        assert_eq!(evidence.key_id, None);
        assert_eq!(
            problem(evidence.problem),
            "the signature does not verify under any of the 1 trusted keys (release)"
        );
    }
}

#[test]
fn cosign_tampered_signature_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let mut sig = sign_image(&key, &image(DIGEST)).unwrap();
        let last = sig.signature.len() - 1;
        sig.signature[last] ^= 0x01;
        let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
        assert!(!evidence.verified, "{alg:?}");
        assert!(problem(evidence.problem).starts_with("the signature does not verify"));
    }
}

#[test]
fn cosign_wrong_key_fails_and_names_the_trusted_keys() {
    for alg in ALGORITHMS {
        let signer = key(alg);
        let sig = sign_image(&signer, &image(DIGEST)).unwrap();
        let trusted = Keyring::new(vec![
            key(Algorithm::EcdsaP256).trusted_key("ops-p256"),
            key(Algorithm::Ed25519).trusted_key("ops-ed25519"),
        ]);
        let evidence = verify_image_signature(&sig, &image(DIGEST), &trusted);
        assert!(!evidence.verified, "{alg:?}");
        assert_eq!(
            problem(evidence.problem),
            "the signature does not verify under any of the 2 trusted keys (ops-p256, ops-ed25519)"
        );
    }
}

#[test]
fn cosign_right_key_among_several_is_reported() {
    for alg in ALGORITHMS {
        let signer = key(alg);
        let sig = sign_image(&signer, &image(DIGEST)).unwrap();
        let trusted = Keyring::new(vec![
            key(Algorithm::EcdsaP256).trusted_key("old-p256"),
            key(Algorithm::Ed25519).trusted_key("old-ed25519"),
            signer.trusted_key("current"),
        ]);
        let evidence = verify_image_signature(&sig, &image(DIGEST), &trusted);
        assert!(evidence.verified, "{alg:?}: {:?}", evidence.problem);
        assert_eq!(evidence.key_id.as_deref(), Some("current"));
    }
}

#[test]
fn cosign_digest_mismatch_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let sig = sign_image(&key, &image(OTHER_DIGEST)).unwrap();
        let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
        assert!(!evidence.verified, "{alg:?}");
        // The signature itself is good: which key made it is still a fact worth reporting.
        assert_eq!(evidence.key_id.as_deref(), Some("release"));
        assert_eq!(
            problem(evidence.problem),
            format!("the signature is for digest {OTHER_DIGEST}, not the release image's {DIGEST}")
        );
    }
}

#[test]
fn cosign_wrong_payload_type_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let payload = String::from_utf8(simple_signing_payload(&image(DIGEST)).unwrap())
            .unwrap()
            .replace("cosign container image signature", "atomic container signature");
        let sig = sign_payload(&key, payload.into_bytes());
        let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
        assert!(!evidence.verified, "{alg:?}");
        assert!(problem(evidence.problem).contains("\"atomic container signature\""));
    }
}

#[test]
fn cosign_other_repository_fails_but_docker_hub_spellings_match() {
    let key = key(Algorithm::EcdsaP256);
    let other = ImageRef::parse(&format!("ghcr.io/evil/odoo@{DIGEST}")).unwrap();
    let sig = sign_image(&key, &other).unwrap();
    let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
    assert!(!evidence.verified);
    assert!(problem(evidence.problem).contains("repository \"ghcr.io/evil/odoo\""));

    let short = ImageRef::parse(&format!("odoo@{DIGEST}")).unwrap();
    let long = ImageRef::parse(&format!("docker.io/library/odoo:17.0@{DIGEST}")).unwrap();
    let evidence = verify_image_signature(&sign_image(&key, &short).unwrap(), &long, &keyring(&key));
    assert!(evidence.verified, "{:?}", evidence.problem);
}

#[test]
fn cosign_unpinned_image_or_empty_keyring_fails() {
    let key = key(Algorithm::Ed25519);
    let sig = sign_image(&key, &image(DIGEST)).unwrap();
    let tag_only = ImageRef::parse("ghcr.io/acme/odoo:17.0").unwrap();
    let evidence = verify_image_signature(&sig, &tag_only, &keyring(&key));
    assert!(!evidence.verified);
    assert!(problem(evidence.problem).contains("not pinned by digest"));
    assert!(sign_image(&key, &tag_only).is_err(), "signing a tag must be refused");

    let evidence = verify_image_signature(&sig, &image(DIGEST), &Keyring::default());
    assert!(problem(evidence.problem).contains("the keyring is empty"));
}

#[test]
fn cosign_garbage_payload_under_a_good_signature_is_evidence_not_error() {
    let key = key(Algorithm::EcdsaP256);
    let sig = sign_payload(&key, b"not json".to_vec());
    let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
    assert!(!evidence.verified);
    assert!(problem(evidence.problem).starts_with("the signed payload is not a cosign simple signing payload"));
}

#[test]
fn cosign_both_disk_layouts_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ALGORITHMS {
        let key = key(alg);
        let sig = sign_image(&key, &image(DIGEST)).unwrap();
        let sig_dir = dir.path().join(format!("{alg:?}"));
        sig.write_dir(&sig_dir).unwrap();
        assert_eq!(CosignSignature::load(&sig_dir).unwrap(), sig);
        let bundle = dir.path().join(format!("{alg:?}.json"));
        std::fs::write(&bundle, sig.to_bundle_json()).unwrap();
        let loaded = CosignSignature::load(&bundle).unwrap();
        assert!(verify_image_signature(&loaded, &image(DIGEST), &keyring(&key)).verified);
    }
}

#[test]
fn cosign_unreadable_input_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    assert!(matches!(CosignSignature::load(&missing), Err(SupplyError::Read { path, .. }) if path == missing));

    std::fs::write(dir.path().join("payload.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("signature"), b"%%% not base64 %%%\n").unwrap();
    let err = CosignSignature::load(dir.path()).unwrap_err();
    assert!(matches!(err, SupplyError::Base64 { field: "signature", .. }), "{err}");
    assert!(err.to_string().contains("signature"), "{err}");

    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, b"{\"payload\": \"e30=\",\n \"signature\": 12}").unwrap();
    let err = CosignSignature::load(&bundle).unwrap_err();
    assert!(matches!(err, SupplyError::Json { line: 2, .. }), "{err}");
    assert!(err.to_string().starts_with(&bundle.display().to_string()), "{err}");
}

#[test]
fn evidence_serialises_in_camel_case() {
    let key = key(Algorithm::Ed25519);
    let sig = sign_image(&key, &image(DIGEST)).unwrap();
    let json = serde_json::to_value(verify_image_signature(&sig, &image(DIGEST), &keyring(&key))).unwrap();
    assert_eq!(json, serde_json::json!({"verified": true, "keyId": "release", "problem": null}));
}

// --- keys -----------------------------------------------------------------------------------------

#[test]
fn keys_round_trip_through_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, alg) in [("p256", Algorithm::EcdsaP256), ("ed", Algorithm::Ed25519)] {
        let key = key(alg);
        let private = dir.path().join(format!("{name}.key"));
        std::fs::write(&private, key.to_pkcs8_pem()).unwrap();
        std::fs::write(dir.path().join(format!("{name}.pub")), key.public_key().to_pem()).unwrap();
        let reloaded = SigningKey::load(&private).unwrap();
        assert_eq!(reloaded.public_key(), key.public_key());
    }
    // A directory contributes its *.pub and *.pem files, ids from the file names, private keys ignored.
    let ring = Keyring::load(&[dir.path().to_owned()]).unwrap();
    let ids: Vec<&str> = ring.keys().iter().map(TrustedKey::id).collect();
    assert_eq!(ids, ["ed", "p256"]);
    assert_eq!(ring.keys()[1].key().algorithm(), Algorithm::EcdsaP256);
    assert!(ring.keys()[0].key().fingerprint().starts_with("sha256:"));
}

#[test]
fn bad_key_files_are_errors_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("release.pub");
    std::fs::write(&private, key(Algorithm::EcdsaP256).to_pkcs8_pem()).unwrap();
    let err = TrustedKey::load(&private).unwrap_err().to_string();
    assert!(err.contains("holds a private key"), "{err}");

    let garbage = dir.path().join("garbage.pub");
    std::fs::write(&garbage, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
    let err = TrustedKey::load(&garbage).unwrap_err().to_string();
    assert!(err.contains("neither an ECDSA P-256 nor an Ed25519"), "{err}");
}

// --- DSSE / SLSA provenance -----------------------------------------------------------------------

fn allowed() -> Vec<String> {
    vec!["https://ci.internal/builder".to_owned(), BUILDER.to_owned()]
}

#[test]
fn provenance_verifies() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let envelope = sign_provenance(&key, "release", &image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
        let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
        assert!(evidence.verified, "{alg:?}: {:?}", evidence.problem);
        assert_eq!(evidence.key_id.as_deref(), Some("release"));
        assert_eq!(evidence.builder_id.as_deref(), Some(BUILDER));
        assert_eq!(evidence.build_type.as_deref(), Some(BUILD_TYPE));
        // No allow-list means any builder.
        assert!(verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &[]).verified);
    }
}

#[test]
fn provenance_round_trips_through_json() {
    let key = key(Algorithm::EcdsaP256);
    let envelope = sign_provenance(&key, "release", &image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provenance.intoto.json");
    std::fs::write(&path, envelope.to_json()).unwrap();
    let loaded = Envelope::load(&path).unwrap();
    assert_eq!(loaded, envelope);
    assert!(verify_provenance(&loaded, &image(DIGEST), &keyring(&key), &allowed()).verified);
}

#[test]
fn provenance_tampered_payload_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let mut envelope = sign_provenance(&key, "release", &image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
        let at = envelope.payload.iter().position(|&b| b == b'4').unwrap();
        envelope.payload[at] = b'5';
        let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
        assert!(!evidence.verified, "{alg:?}");
        assert!(problem(evidence.problem).starts_with("no envelope signature verifies"));
        assert_eq!(evidence.builder_id, None, "an unverified statement's builder is not reported");
    }
}

#[test]
fn provenance_payload_type_is_signed_too() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let mut envelope = sign_provenance(&key, "release", &image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
        envelope.payload_type = "application/json".into();
        assert!(!verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed()).verified, "{alg:?}");
    }
}

#[test]
fn provenance_wrong_key_fails() {
    for alg in ALGORITHMS {
        let envelope = sign_provenance(&key(alg), "release", &image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
        let other = key(alg);
        let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&other), &allowed());
        assert!(!evidence.verified, "{alg:?}");
        assert_eq!(
            problem(evidence.problem),
            "no envelope signature verifies under any of the 1 trusted keys (release)"
        );
    }
}

#[test]
fn provenance_subject_digest_mismatch_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let envelope = sign_provenance(&key, "release", &image(OTHER_DIGEST), BUILDER, BUILD_TYPE).unwrap();
        let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
        assert!(!evidence.verified, "{alg:?}");
        let problem = problem(evidence.problem);
        assert!(problem.starts_with(&format!("no subject has the release image's digest {DIGEST}")), "{problem}");
        assert!(problem.contains(OTHER_DIGEST), "{problem}");
    }
}

#[test]
fn provenance_builder_not_allowed_fails() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let rogue = "https://github.com/someone/fork/.github/workflows/release.yml@refs/heads/main";
        let envelope = sign_provenance(&key, "release", &image(DIGEST), rogue, BUILD_TYPE).unwrap();
        let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
        assert!(!evidence.verified, "{alg:?}");
        assert_eq!(evidence.builder_id.as_deref(), Some(rogue), "the builder is a fact even when refused");
        assert!(problem(evidence.problem).starts_with(&format!("builder {rogue:?} is not among the allowed builders")));
    }
}

#[test]
fn provenance_wrong_types_fail() {
    let key = key(Algorithm::EcdsaP256);
    let statement = provenance_statement(&image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
    let envelope = sign_envelope(&key, "release", "application/json", statement.clone());
    let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
    assert!(problem(evidence.problem).contains("payload type is \"application/json\""));

    let v02 = String::from_utf8(statement).unwrap().replace("provenance/v1", "provenance/v0.2");
    let envelope = sign_envelope(&key, "release", IN_TOTO_PAYLOAD_TYPE, v02.into_bytes());
    let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
    assert!(problem(evidence.problem).contains("predicate type is \"https://slsa.dev/provenance/v0.2\""));
}

#[test]
fn provenance_any_good_signature_counts_whatever_its_keyid() {
    let key = key(Algorithm::Ed25519);
    let mut envelope = sign_provenance(&key, "misleading-hint", &image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
    let good = envelope.signatures[0].clone();
    let mut bad = good.clone();
    bad.sig[0] ^= 0xff;
    envelope.signatures = vec![bad, good];
    let evidence = verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &allowed());
    assert!(evidence.verified, "{:?}", evidence.problem);
    assert_eq!(evidence.key_id.as_deref(), Some("release"));
}

#[test]
fn provenance_signature_is_over_the_pae() {
    // Independent of our signer: a signature over the bare payload must not verify.
    let key = key(Algorithm::EcdsaP256);
    let statement = provenance_statement(&image(DIGEST), BUILDER, BUILD_TYPE).unwrap();
    let mut envelope = sign_envelope(&key, "k", IN_TOTO_PAYLOAD_TYPE, statement.clone());
    envelope.signatures[0].sig = key.sign(&statement);
    assert!(!verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &[]).verified);
    envelope.signatures[0].sig = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &statement));
    assert!(verify_provenance(&envelope, &image(DIGEST), &keyring(&key), &[]).verified);
    assert_eq!(pae(IN_TOTO_PAYLOAD_TYPE, b"{}"), b"DSSEv1 28 application/vnd.in-toto+json 2 {}");
}

#[test]
fn envelope_with_bad_base64_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.intoto.json");
    std::fs::write(&path, r#"{"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [{"keyid": "", "sig": "!!"}]}"#)
        .unwrap();
    let err = Envelope::load(&path).unwrap_err();
    assert!(matches!(err, SupplyError::Base64 { field: "signatures[].sig", .. }), "{err}");
    assert!(err.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn cosign_payload_as_cosign_writes_it_verifies() {
    // `cosign sign --output-payload` writes compact JSON with `"optional":null`.
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/acme/odoo"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let key = key(Algorithm::EcdsaP256);
    let sig = sign_payload(&key, payload.into_bytes());
    let evidence = verify_image_signature(&sig, &image(DIGEST), &keyring(&key));
    assert!(evidence.verified, "{:?}", evidence.problem);
}

#[test]
fn public_keys_with_crlf_line_endings_load() {
    let dir = tempfile::tempdir().unwrap();
    let key = key(Algorithm::Ed25519);
    let path = dir.path().join("windows.pub");
    std::fs::write(&path, key.public_key().to_pem().replace('\n', "\r\n")).unwrap();
    assert_eq!(TrustedKey::load(&path).unwrap().key(), &key.public_key());
}

#[test]
fn several_signatures_one_good_is_enough() {
    let key = key(Algorithm::EcdsaP256);
    let stranger = sign_image(&SigningKey::generate(Algorithm::Ed25519).unwrap(), &image(DIGEST)).unwrap();
    let other_image = sign_image(&key, &image(OTHER_DIGEST)).unwrap();
    let good = sign_image(&key, &image(DIGEST)).unwrap();

    let evidence =
        verify_image_signatures(&[stranger.clone(), other_image.clone(), good], &image(DIGEST), &keyring(&key));
    assert!(evidence.verified, "{:?}", evidence.problem);

    // With no good one, the signature by a trusted key explains more than the stranger's.
    let evidence = verify_image_signatures(&[stranger, other_image], &image(DIGEST), &keyring(&key));
    assert!(!evidence.verified);
    assert_eq!(evidence.key_id.as_deref(), Some("release"));
    let text = problem(evidence.problem);
    assert!(
        text.starts_with("none of the 2 signatures is valid for the image; e.g. the signature is for digest"),
        "{text}"
    );

    let evidence = verify_image_signatures(&[], &image(DIGEST), &keyring(&key));
    assert!(problem(evidence.problem).ends_with("has no signature to check"));
}
