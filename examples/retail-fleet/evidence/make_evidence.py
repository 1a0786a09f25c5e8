"""Writes the retail-fleet example's release evidence, so that `ringfence gates` shows real checks.

A throw-away P-256 key (its private half is never written) signs the release image in cosign's
simple-signing format and its SLSA provenance in a DSSE envelope; the public half becomes
keys/retail-eu-release-2026.pub, the key the example policy trusts. A Trivy report and a JUnit report
of 400 passing tests complete the evidence. Rerun and commit everything together:

    pip install cryptography && python3 examples/retail-fleet/evidence/make_evidence.py
"""

import base64
import json
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = pathlib.Path(__file__).resolve().parent
FLEET = HERE.parent
REPOSITORY = "registry.example.com/retail/odoo"
DIGEST = "sha256:eddbbeddc1d2d6a084e0187efe52d5ad9406cc6a060f67404d076e93159013a8"
BUILDER = "https://ci.retail-eu.example/builders/odoo-image"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def main() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sign = lambda data: base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
    (FLEET / "keys").mkdir(exist_ok=True)
    (FLEET / "keys" / "retail-eu-release-2026.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": REPOSITORY},
                "image": {"docker-manifest-digest": DIGEST},
                "type": "cosign container image signature",
            },
            "optional": {"release": "2026.11.2"},
        }
    ).encode()
    signature = HERE / "signature"
    signature.mkdir(exist_ok=True)
    (signature / "payload.json").write_bytes(payload)
    (signature / "signature").write_text(sign(payload) + "\n")
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": REPOSITORY, "digest": {"sha256": DIGEST.split(":")[1]}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {"buildType": "https://ci.retail-eu.example/build-types/odoo-image@v1", "externalParameters": {"release": "2026.11.2"}},
                "runDetails": {"builder": {"id": BUILDER}},
            },
        }
    ).encode()
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(statement).decode(),
        "signatures": [{"keyid": "retail-eu-release-2026", "sig": sign(pae(PAYLOAD_TYPE, statement))}],
    }
    (HERE / "provenance.intoto.json").write_text(json.dumps(envelope, indent=2) + "\n")
    trivy = {
        "SchemaVersion": 2,
        "ArtifactName": f"{REPOSITORY}@{DIGEST}",
        "ArtifactType": "container_image",
        "Results": [
            {
                "Target": f"{REPOSITORY}@{DIGEST} (debian 12.8)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [
                    {"VulnerabilityID": "CVE-2024-0727", "PkgName": "libssl3", "InstalledVersion": "3.0.15-1~deb12u1", "FixedVersion": "3.0.16-1~deb12u1", "Severity": "HIGH"},
                    {"VulnerabilityID": "CVE-2023-45853", "PkgName": "zlib1g", "InstalledVersion": "1:1.2.13.dfsg-1", "Status": "will_not_fix", "Severity": "CRITICAL"},
                    {"VulnerabilityID": "CVE-2022-40897", "PkgName": "python3-setuptools", "InstalledVersion": "66.1.1-1", "Severity": "MEDIUM"},
                ],
            }
        ],
    }
    (HERE / "trivy.json").write_text(json.dumps(trivy, indent=2) + "\n")
    modules = ["point_of_sale", "stock", "website_sale", "sale", "account"]
    cases = "\n".join(
        f'    <testcase classname="odoo.addons.{modules[i % 5]}.tests" name="test_{i:03d}" time="0.{i % 97:02d}"/>'
        for i in range(400)
    )
    (HERE / "junit.xml").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n  <testsuite name="odoo-addons" tests="400" failures="0" errors="0">\n{cases}\n  </testsuite>\n</testsuites>\n'
    )


if __name__ == "__main__":
    main()
