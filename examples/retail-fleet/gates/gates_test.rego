# Unit tests of the retail-fleet gate policy: `ringfence policy test examples/retail-fleet`.
# They pin down what this hoster changed from the built-in policy: its roles, trusted key and builder,
# and its tighter limits.
package ringfence.gates_test

import data.ringfence.gates

digest := "sha256:9a3c5e7f1b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"

approval(who, role) := {"user": who, "role": role, "reason": "reviewed", "at": "2026-11-20T09:00:00Z", "revision": 5, "subject": "release"}

users := [
	{"name": "camille.roux", "email": "camille.roux@retail-eu.example", "roles": ["developer"]},
	{"name": "ines.garcia", "roles": ["release-manager"]},
	{"name": "jonas.weber", "roles": ["release-manager"]},
	{"name": "olivier.petit", "roles": ["release-manager", "on-call"]},
	{"name": "helene.martin", "roles": ["head-of-ops"]},
]

# Release 2026.11.2 (see release.yaml), medium tier, approved by one release manager.
base := {
	"scope": {"kind": "release"},
	"now": "2026-11-20T10:00:00Z",
	"release": {
		"id": "2026.11.2", "revision": 5, "author": "camille.roux", "operator": "olivier.petit",
		"image": concat("@", ["registry.retail-eu.example/odoo", digest]),
	},
	"risk": {"computed": "medium", "effective": "medium", "deciding": []},
	"evidence": {
		"signature": {"verified": true, "keyId": "retail-eu-release-2026"},
		"provenance": {"verified": true, "builderId": "https://ci.retail-eu.example/builders/odoo-image"},
		"vulnerabilities": {"scanner": "trivy", "critical": 1, "criticalFixable": 0, "high": 4, "highFixable": 2, "medium": 10, "low": 30},
		"tests": {"total": 412, "passed": 410, "failed": 0, "errors": 0, "skipped": 2},
	},
	"approvals": [approval("ines.garcia", "release-manager")],
	"users": users,
	"calendar": {"inFreeze": false, "freezes": [], "freezeAllowsTier": false, "breakGlassApproved": false},
	"tenants": [],
}

critical := object.union(base, {
	"risk": {"computed": "critical", "effective": "critical", "deciding": []},
	"evidence": object.union(base.evidence, {"rehearsal": {"done": true, "maxBlockingMs": 800, "durationMs": 600000}}),
})

gate(name, inp) := v if {
	some v in gates.verdicts with input as inp
	v.gate == name
}

tenant_gate(name, t) := v if {
	inp := object.union(base, {"scope": {"kind": "tenant", "id": t.id}, "tenants": [t]})
	some v in gates.tenant_verdicts[t.id] with input as inp
	v.gate == name
}

test_the_release_passes_with_one_release_manager if {
	vs := gates.verdicts with input as base
	count(vs) == 9
	every v in vs {
		v.verdict == "pass"
	}
}

test_a_critical_release_needs_the_head_of_ops if {
	two := object.union(critical, {"approvals": [approval("ines.garcia", "release-manager"), approval("jonas.weber", "release-manager")]})
	v := gate("approvals", two)
	v.verdict == "waiting"
	contains(v.missing, "role head-of-ops")
	contains(v.unblock, "helene.martin")
	signed_off := object.union(two, {"approvals": array.concat(two.approvals, [approval("helene.martin", "head-of-ops")])})
	gate("approvals", signed_off).verdict == "pass"
}

test_a_developer_cannot_approve_as_release_manager if {
	inp := object.union(base, {"approvals": [approval("camille.roux@retail-eu.example", "release-manager")]})
	v := gate("approvals", inp)
	v.verdict == "fail"
	v.rule == "role-not-held"
}

test_a_signature_by_another_key_fails if {
	inp := object.union(base, {"evidence": object.union(base.evidence, {"signature": {"verified": true, "keyId": "laptop"}})})
	gate("signature", inp).rule == "untrusted-key"
}

test_an_image_built_elsewhere_fails if {
	inp := object.union(base, {"evidence": object.union(base.evidence, {"provenance": {"verified": true, "builderId": "https://github.com/someone"}})})
	gate("provenance", inp).rule == "untrusted-builder"
}

test_a_partial_test_run_fails if {
	inp := object.union(base, {"evidence": object.union(base.evidence, {"tests": {"total": 120, "passed": 120, "failed": 0, "errors": 0, "skipped": 0}})})
	gate("tests", inp).rule == "too-few-tests"
}

test_four_unfixable_criticals_are_too_many if {
	vulns := object.union(base.evidence.vulnerabilities, {"critical": 4})
	inp := object.union(base, {"evidence": object.union(base.evidence, {"vulnerabilities": vulns})})
	gate("vulnerabilities", inp).rule == "critical"
}

test_only_the_head_of_ops_breaks_the_black_friday_freeze if {
	frozen := {"inFreeze": true, "freezes": ["black-friday"], "freezeAllowsTier": false, "breakGlassApproved": true}
	by_rm := object.union(base, {"calendar": object.union(frozen, {"breakGlassBy": "ines.garcia"})})
	gate("freeze", by_rm).rule == "break-glass-not-allowed"
	by_head := object.union(base, {"calendar": object.union(frozen, {"breakGlassBy": "helene.martin"})})
	gate("freeze", by_head).rule == "break-glass"
}

test_a_critical_step_needs_a_restore_point_under_30_minutes if {
	t := {
		"id": "modahaus", "tier": "critical", "migrates": true,
		"restorePoint": {"id": "modahaus-0915", "takenAt": "2026-11-20T09:15:00Z", "ageSeconds": 2700},
		"calendar": {"inFreeze": false, "freezes": [], "freezeAllowsTier": false, "breakGlassApproved": false, "inWindow": true},
	}
	v := tenant_gate("restore-point", t)
	v.rule == "stale"
	contains(v.missing, "45 minutes old")
}

test_a_shared_pool_keeps_three_quarters_of_its_shops_up if {
	t := {
		"id": "kaffeehaus-wien", "migrates": false,
		"calendar": {"inFreeze": false, "freezes": [], "freezeAllowsTier": false, "breakGlassApproved": false},
		"capacity": {"inFlight": 1, "poolUnavailablePercent": 25},
	}
	tenant_gate("capacity", t).rule == "pool-headroom"
	ok := object.union(t, {"capacity": {"inFlight": 1, "poolUnavailablePercent": 20}})
	tenant_gate("capacity", ok).verdict == "pass"
}
