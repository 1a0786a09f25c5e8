# Unit tests of the built-in gate policy: `ringfence policy test crates/ringfence-gates/policy`.
# Copy them with the policy and keep them passing as you change its parameters.
package ringfence.gates_test

import data.ringfence.gates

digest := "sha256:4f6b8c3a9e2d1f0b7a5c4e3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080"

approval(who, role) := {"user": who, "role": role, "reason": "ok", "at": "2026-11-27T09:00:00Z", "revision": 2, "subject": "release"}

# A medium-tier release at revision 2 that passes every release gate.
base := {
	"scope": {"kind": "release"},
	"now": "2026-11-27T10:00:00Z",
	"release": {"id": "2026.11.3", "revision": 2, "author": "camille", "operator": "olivier", "image": concat("@", ["registry.example/odoo", digest])},
	"risk": {"computed": "medium", "effective": "medium", "deciding": []},
	"evidence": {
		"signature": {"verified": true, "keyId": "release-key"},
		"provenance": {"verified": true, "builderId": "https://ci.example"},
		"vulnerabilities": {"scanner": "trivy", "critical": 0, "criticalFixable": 0, "high": 3, "highFixable": 1, "medium": 5, "low": 9},
		"tests": {"total": 80, "passed": 80, "failed": 0, "errors": 0, "skipped": 0},
	},
	"approvals": [approval("ana", "approver")],
	"users": [
		{"name": "camille", "roles": ["approver"]},
		{"name": "ana", "email": "ana@shop.example", "roles": ["approver"]},
		{"name": "olivier", "roles": ["approver"]},
		{"name": "rita", "roles": ["release-manager"]},
	],
	"calendar": {"inFreeze": false, "freezes": [], "freezeAllowsTier": false, "breakGlassApproved": false},
	"tenants": [],
}

with_approvals(list) := object.union(base, {"approvals": list})

with_evidence(key, value) := object.union(base, {"evidence": object.union(base.evidence, {key: value})})

gate(name, inp) := v if {
	some v in gates.verdicts with input as inp
	v.gate == name
}

tenant := {
	"id": "shop-a",
	"migrates": true,
	"restorePoint": {"id": "rp-1", "takenAt": "2026-11-27T09:30:00Z", "ageSeconds": 1800},
	"calendar": {"inFreeze": false, "freezes": [], "freezeAllowsTier": false, "breakGlassApproved": false, "inWindow": true},
	"capacity": {"inFlight": 1, "maxInFlight": 4, "poolUnavailablePercent": 5},
}

tenant_gate(name, t) := v if {
	inp := object.union(base, {"scope": {"kind": "tenant", "id": t.id}, "tenants": [t]})
	some v in gates.tenant_verdicts[t.id] with input as inp
	v.gate == name
}

test_a_complete_medium_release_passes_every_gate if {
	vs := gates.verdicts with input as base
	count(vs) == 9
	every v in vs {
		v.verdict == "pass"
	}
}

test_the_author_cannot_approve if {
	v := gate("approvals", with_approvals([approval("camille", "approver")]))
	v.verdict == "waiting"
	v.rule == "separation-of-duties"
	contains(v.missing, "the author camille cannot approve")
}

test_the_operator_cannot_be_the_only_approver if {
	v := gate("approvals", with_approvals([approval("olivier", "approver")]))
	v.rule == "operator-sole-approver"
}

test_an_approval_of_an_older_revision_expires if {
	old := object.union(approval("ana", "approver"), {"revision": 1})
	v := gate("approvals", with_approvals([old]))
	v.rule == "expired-approval"
}

test_unknown_users_and_roles_not_held_fail if {
	gate("approvals", with_approvals([approval("mallory", "approver")])).rule == "unknown-approver"
	gate("approvals", with_approvals([approval("rita", "approver")])).rule == "role-not-held"
	gate("approvals", with_approvals([approval("rita", "approver")])).verdict == "fail"
}

test_an_approval_by_e_mail_counts if {
	gate("approvals", with_approvals([approval("ANA@shop.example", "approver")])).verdict == "pass"
}

test_a_critical_release_needs_a_release_manager if {
	inp := object.union(with_approvals([approval("ana", "approver"), approval("olivier", "approver")]), {"risk": {"computed": "critical", "effective": "critical", "deciding": []}})
	v := gate("approvals", inp)
	v.rule == "count"
	contains(v.missing, "role release-manager")
	contains(v.unblock, "rita")
}

test_a_tag_is_not_a_digest if {
	inp := object.union(base, {"release": object.union(base.release, {"image": "registry.example/odoo:17.0"})})
	gate("image-pinned", inp).verdict == "fail"
}

test_missing_evidence_waits_and_says_what_provides_it if {
	inp := object.remove(base, ["evidence"])
	v := gate("tests", inp)
	v.verdict == "waiting"
	contains(v.missing, "JUnit")
	gate("signature", inp).verdict == "waiting"
}

test_a_fixable_critical_cve_fails_an_unfixable_one_does_not if {
	fixable := {"scanner": "grype", "critical": 1, "criticalFixable": 1, "high": 0, "highFixable": 0, "medium": 0, "low": 0}
	gate("vulnerabilities", with_evidence("vulnerabilities", fixable)).rule == "critical-fixable"
	unfixable := object.union(fixable, {"criticalFixable": 0})
	gate("vulnerabilities", with_evidence("vulnerabilities", unfixable)).verdict == "pass"
}

test_failing_tests_fail if {
	v := gate("tests", with_evidence("tests", {"total": 80, "passed": 79, "failed": 1, "errors": 0, "skipped": 0}))
	v.rule == "tests-failed"
}

test_an_unverified_signature_fails_with_its_problem if {
	v := gate("signature", with_evidence("signature", {"verified": false, "problem": "wrong key"}))
	v.verdict == "fail"
	contains(v.missing, "wrong key")
}

test_a_high_tier_needs_a_rehearsal_within_limits if {
	high := object.union(with_approvals([approval("ana", "approver"), approval("olivier", "approver")]), {"risk": {"computed": "high", "effective": "high", "deciding": []}})
	gate("rehearsal", high).rule == "missing"
	slow := object.union(high, {"evidence": object.union(base.evidence, {"rehearsal": {"done": true, "maxBlockingMs": 60000, "durationMs": 1000}})})
	gate("rehearsal", slow).rule == "blocking-over-limit"
}

test_a_lowered_tier_waits_for_its_override_approval if {
	lowered := object.union(base, {"risk": {
		"computed": "high", "effective": "medium", "deciding": [],
		"adjustment": {"kind": "lowered", "from": "high", "to": "medium", "reason": "renames only", "by": "camille", "approver": "rita"},
	}})
	gate("risk-tier", lowered).rule == "override-not-approved"
	override := object.union(approval("rita", "release-manager"), {"subject": "tier-override"})
	approved := object.union(lowered, {"approvals": array.concat(base.approvals, [override])})
	gate("risk-tier", approved).verdict == "pass"
}

test_a_freeze_waits_unless_break_glass if {
	frozen := object.union(base, {"calendar": {"inFreeze": true, "freezes": ["black-friday"], "freezeAllowsTier": false, "breakGlassApproved": false}})
	gate("freeze", frozen).verdict == "waiting"
	glass := object.union(frozen, {"calendar": object.union(frozen.calendar, {"breakGlassApproved": true, "breakGlassBy": "rita"})})
	gate("freeze", glass).rule == "break-glass"
}

test_tenant_gates_pass_for_a_ready_tenant if {
	every name in ["restore-point", "freeze", "maintenance-window", "capacity"] {
		tenant_gate(name, tenant).verdict == "pass"
	}
}

test_a_stale_restore_point_fails if {
	stale := object.union(tenant, {"restorePoint": object.union(tenant.restorePoint, {"ageSeconds": 200000})})
	tenant_gate("restore-point", stale).rule == "stale"
}

test_a_full_cluster_and_a_closed_window_wait if {
	busy := object.union(tenant, {"capacity": {"inFlight": 4, "maxInFlight": 4, "poolUnavailablePercent": 0}})
	tenant_gate("capacity", busy).rule == "in-flight-limit"
	closed := object.union(tenant, {"calendar": object.union(tenant.calendar, {"inWindow": false, "nextWindow": "2026-11-28T02:00:00Z"})})
	tenant_gate("maintenance-window", closed).verdict == "waiting"
}
