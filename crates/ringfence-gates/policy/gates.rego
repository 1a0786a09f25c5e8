# Ringfence gate policy (the built-in one).
#
# Copy this file into your fleet's `gates/` directory, change the parameters below (and the rules, if
# you must), and check your copy with `ringfence policy test DIR`. Ringfence asks two rules:
#
#   verdicts         the release-level gates, before the release starts (input.scope.kind == "release")
#                    and before each ring ("ring", which adds the ring's capacity)
#   tenant_verdicts  {tenant id: [verdicts]} for every tenant in input.tenants, before a tenant step
#
# A verdict is {"gate", "rule", "verdict": "pass"|"waiting"|"fail", "facts", "missing", "unblock"}:
# `missing` says what is missing or wrong, `unblock` who or what can provide it. Each gate gives one
# verdict: the first problem found, in the order its rules are written, or a pass.
#
# Conventions: evidence that is absent makes a gate wait (it can still arrive); evidence that says no
# makes it fail. The input carries no clock but `input.now`, and ages already computed from it
# (`restorePoint.ageSeconds`). The input is documented in crates/ringfence-gates/src/input.rs, with
# an example in crates/ringfence-gates/policy/input.example.json.
package ringfence.gates

# ---------------------------------------------------------------------------------------------------
# Parameters: edit these.
# ---------------------------------------------------------------------------------------------------
params := {
	# Approvals needed per effective risk tier: each entry asks for `count` distinct users approving in
	# `role` (and holding it in the users file). An approval names the release revision it approves.
	"approvals": {
		"low": [{"role": "approver", "count": 1}],
		"medium": [{"role": "approver", "count": 1}],
		"high": [{"role": "approver", "count": 2}],
		"critical": [{"role": "approver", "count": 2}, {"role": "release-manager", "count": 1}],
	},
	# Separation of duties: may the release's author approve it?
	"authorMayApprove": false,
	# May the operator who starts the rollout be its only approver?
	"operatorMayBeSoleApprover": false,
	# Roles that may approve an author's lowering of the computed tier.
	"overrideRoles": ["release-manager"],
	# Roles that may approve a break-glass exception to a freeze.
	"breakGlassRoles": ["release-manager"],
	# Oldest restore point (or backup) allowed before a tenant step that migrates, in minutes, per
	# tier; null (or a tier left out): none needed.
	"restorePointMaxAgeMinutes": {"low": null, "medium": 1440, "high": 240, "critical": 60},
	# Tiers that need a rehearsal of the migration on a clone, and its limits: the longest another
	# session may wait on the migration's locks, and the longest the migration may take.
	"rehearsal": {
		"high": {"maxBlockingMs": 10000, "maxDurationMs": 1800000},
		"critical": {"maxBlockingMs": 5000, "maxDurationMs": 1800000},
	},
	# Vulnerability scan thresholds (counts in the image); null: no limit.
	# Keep every parameter (set a limit to null rather than deleting it): the rules read them all, and
	# a gate that cannot decide gives no verdict, which Ringfence treats as an error for the release
	# gates and as a failing `policy` verdict for a tenant.
	"vulnerabilities": {
		"maxCriticalFixable": 0,
		"maxCritical": null,
		"maxHighFixable": 20,
	},
	# Test report: at least this many test cases, none failing or erroring.
	"minTests": 50,
	# Signing keys the signature must verify with; empty: any key the verifier was configured with.
	"trustedKeys": [],
	# Builders the provenance may name; empty: any builder whose attestation verified.
	"trustedBuilders": [],
	# Capacity: the largest share of a pool that may be unavailable at once, when the fleet sets none.
	"maxPoolUnavailablePercent": 20,
}

# ---------------------------------------------------------------------------------------------------
# Entry points.
# ---------------------------------------------------------------------------------------------------
release_level := [
	risk_tier_verdict,
	approvals_verdict,
	image_verdict,
	signature_verdict,
	provenance_verdict,
	vulnerabilities_verdict,
	tests_verdict,
	rehearsal_verdict,
	freeze_verdict(input.calendar, tier),
]

verdicts := release_level if input.scope.kind == "release"

verdicts := array.concat(release_level, [capacity_verdict(object.get(input, "capacity", null))]) if {
	input.scope.kind == "ring"
}

verdicts := [] if input.scope.kind == "tenant"

# Evaluated for thousands of tenants at once: the per-tenant rules below call as few helper functions
# as they can, and build their passes inline, because every call costs time per tenant.
tenant_verdicts := {t.id: [
	restore_point_verdict(t, t_tier, object.get(params.restorePointMaxAgeMinutes, t_tier, null)),
	freeze_verdict(t.calendar, t_tier),
	window_verdict(t.calendar),
	capacity_verdict(object.get(t, "capacity", null)),
] |
	some t in input.tenants
	t_tier := object.get(t, "tier", tier)
}

# ---------------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------------
pass(gate, rule, facts) := {"gate": gate, "rule": rule, "verdict": "pass", "facts": facts, "missing": null, "unblock": null}

waiting(gate, rule, facts, missing, unblock) := {
	"gate": gate, "rule": rule, "verdict": "waiting",
	"facts": facts, "missing": missing, "unblock": unblock,
}

fail(gate, rule, facts, missing, unblock) := {
	"gate": gate, "rule": rule, "verdict": "fail",
	"facts": facts, "missing": missing, "unblock": unblock,
}

# The tier the gates apply: the risk decision's effective tier (raised by the author, or lowered with
# an approved override); a tenant may carry its own (`t_tier` in the tenant gates).
tier := input.risk.effective

# Whether `obj[key]` is given (neither absent nor null).
given(obj, key) if object.get(obj, key, null) != null

plural(n, word) := sprintf("%v %s", [n, word]) if n == 1

else := sprintf("%v %ss", [n, word])

norm(s) := lower(trim_space(s))

# Users are named by login or e-mail, compared trimmed and case-insensitively.
names_user(u, who) if norm(u.name) == norm(who)

names_user(u, who) if {
	given(u, "email")
	norm(u.email) == norm(who)
}

# The one user `who` names; undefined when nobody or several do (an ambiguous name borrows no roles).
user(who) := found[0] if {
	found := [u | some u in input.users; names_user(u, who)]
	count(found) == 1
}

# One spelling per person, so that `Ana@Shop.example` and `ana` are the same approver.
person(who) := norm(user(who).name) if user(who)

else := norm(who)

same_person(a, b) if person(a) == person(b)

author := input.release.author

operator := object.get(input.release, "operator", null)

subject(a) := object.get(a, "subject", "release")

# ---------------------------------------------------------------------------------------------------
# Gate: approvals.
# ---------------------------------------------------------------------------------------------------
release_approvals := [a | some a in input.approvals; subject(a) == "release"]

# Why an approval cannot count; undefined when it counts. The first reason wins.
rejection(a) := "unknown-approver" if {
	not user(a.user)
} else := "role-not-held" if {
	not a.role in user(a.user).roles
} else := "expired" if {
	a.revision != input.release.revision
} else := "author" if {
	not params.authorMayApprove
	same_person(a.user, author)
}

valid_approvals := [{"user": person(a.user), "role": a.role} | some a in release_approvals; not rejection(a)]

rejected_approvals := [{"user": a.user, "role": a.role, "revision": a.revision, "why": rejection(a)} |
	some a in release_approvals
	rejection(a)
]

required_approvals := params.approvals[tier]

approvers_in(role) := {v.user | some v in valid_approvals; v.role == role}

approval_shortfalls := [{"role": r.role, "needed": r.count, "have": count(approvers_in(r.role))} |
	some r in required_approvals
	count(approvers_in(r.role)) < r.count
]

# Every valid approver is the operator (so the operator would be approving their own rollout alone).
operator_alone if {
	not params.operatorMayBeSoleApprover
	operator != null
	approvers := {v.user | some v in valid_approvals}
	approvers == {person(operator)}
}

approvals_facts := {
	"tier": tier,
	"revision": input.release.revision,
	"required": required_approvals,
	"valid": valid_approvals,
	"rejected": rejected_approvals,
}

forged := [r | some r in rejected_approvals; r.why in {"unknown-approver", "role-not-held"}]

rejection_note(r) := sprintf("%s is not in the users file", [r.user]) if r.why == "unknown-approver"

rejection_note(r) := sprintf("%s does not hold role %s", [r.user, r.role]) if r.why == "role-not-held"

rejection_note(r) := sprintf("the author %s cannot approve", [r.user]) if r.why == "author"

rejection_note(r) := sprintf(
	"%s approved revision %v, but the release is now at revision %v",
	[r.user, r.revision, input.release.revision],
) if r.why == "expired"

# Users who could still approve in `role`: holding it, not the author, not already counted.
candidates(role) := [u.name |
	some u in input.users
	role in u.roles
	not same_person(u.name, author)
	not person(u.name) in approvers_in(role)
]

shortfall_text(s) := sprintf("%s by a user with role %s", [plural(s.needed - s.have, "more approval"), s.role])

candidates_text(s) := sprintf("%s can approve (role %s)", [concat(", ", candidates(s.role)), s.role]) if {
	count(candidates(s.role)) > 0
} else := sprintf("nobody else holds role %s: add one to the users file", [s.role])

# The rule named for a shortfall: the most specific reason approvals are missing.
shortfall_rule := "separation-of-duties" if {
	some r in rejected_approvals
	r.why == "author"
} else := "expired-approval" if {
	some r in rejected_approvals
	r.why == "expired"
} else := "count"

approvals_verdict := fail(
	"approvals", "no-rule-for-tier", {"tier": tier},
	sprintf("params.approvals has no entry for tier %s, so nobody can approve this release", [tier]),
	"add the tier to params.approvals in the gate policy",
) if {
	not params.approvals[tier]
} else := fail(
	"approvals", forged[0].why, approvals_facts,
	concat("; ", [rejection_note(r) | some r in forged]),
	"remove these approvals, or fix the users file if the user or role is missing from it",
) if {
	count(forged) > 0
} else := waiting(
	"approvals", shortfall_rule, approvals_facts,
	concat("; ", array.concat(
		[shortfall_text(s) | some s in approval_shortfalls],
		[rejection_note(r) | some r in rejected_approvals],
	)),
	concat("; ", [candidates_text(s) | some s in approval_shortfalls]),
) if {
	count(approval_shortfalls) > 0
} else := waiting(
	"approvals", "operator-sole-approver", approvals_facts,
	sprintf("1 more approval by someone other than %s, who starts the rollout", [operator]),
	concat("; ", [candidates_text({"role": r.role}) | some r in required_approvals]),
) if {
	operator_alone
} else := pass("approvals", "ok", approvals_facts)

# ---------------------------------------------------------------------------------------------------
# Gate: risk tier. The author may raise the tier freely; a lowering needs an approval of subject
# `tier-override` by the approver the decision names, in an override role, for this revision.
# ---------------------------------------------------------------------------------------------------
adjustment := object.get(input.risk, "adjustment", null)

risk_facts := {
	"computed": input.risk.computed,
	"effective": input.risk.effective,
	"deciding": input.risk.deciding,
	"adjustment": adjustment,
}

override_approved if {
	some a in input.approvals
	subject(a) == "tier-override"
	same_person(a.user, adjustment.approver)
	a.role in params.overrideRoles
	not rejection(a)
}

override_approver_allowed if {
	some role in params.overrideRoles
	role in user(adjustment.approver).roles
	not same_person(adjustment.approver, author)
}

risk_tier_verdict := pass("risk-tier", "computed", risk_facts) if {
	adjustment == null
} else := pass("risk-tier", "raised", risk_facts) if {
	adjustment.kind == "raised"
} else := fail(
	"risk-tier", "override-approver-not-allowed", risk_facts,
	sprintf(
		"lowering the tier from %s to %s names %s as approver, who does not hold any of the roles %s",
		[adjustment.from, adjustment.to, adjustment.approver, concat(", ", params.overrideRoles)],
	),
	sprintf("name an approver with role %s, or drop the override", [concat(" or ", params.overrideRoles)]),
) if {
	not override_approver_allowed
} else := waiting(
	"risk-tier", "override-not-approved", risk_facts,
	sprintf(
		"an approval (subject tier-override) by %s of lowering the tier from %s to %s for revision %v (%s)",
		[adjustment.approver, adjustment.from, adjustment.to, input.release.revision, adjustment.reason],
	),
	sprintf("%s approves the override", [adjustment.approver]),
) if {
	not override_approved
} else := pass("risk-tier", "override-approved", risk_facts)

# ---------------------------------------------------------------------------------------------------
# Gates: supply chain.
# ---------------------------------------------------------------------------------------------------
image := input.release.image

digest := split(image, "@")[1] if contains(image, "@")

image_verdict := pass("image-pinned", "digest", {"image": image, "digest": digest}) if {
	startswith(digest, "sha256:")
	count(digest) == 71
} else := fail(
	"image-pinned", "tag-not-digest", {"image": image},
	sprintf("the image %s is not pinned by digest: a tag can move after the evidence was gathered", [image]),
	"the release author: reference the image as repository@sha256:<digest>",
)

evidence := object.get(input, "evidence", {})

signature_verdict := waiting(
	"signature", "missing", {},
	"the image signature check (evidence.signature)",
	"run the signature verification of the image against the configured keys (cosign verify)",
) if {
	not given(evidence, "signature")
} else := fail(
	"signature", "not-verified", evidence.signature,
	sprintf("the image signature did not verify: %s", [object.get(evidence.signature, "problem", "no reason given")]),
	"sign the image with one of the configured keys, or fix the key configuration",
) if {
	not evidence.signature.verified
} else := fail(
	"signature", "untrusted-key", evidence.signature,
	sprintf("the image is signed with key %v, which is not among the trusted keys", [object.get(evidence.signature, "keyId", null)]),
	sprintf("sign with one of: %s", [concat(", ", params.trustedKeys)]),
) if {
	count(params.trustedKeys) > 0
	not object.get(evidence.signature, "keyId", "") in params.trustedKeys
} else := pass("signature", "verified", evidence.signature)

provenance_verdict := waiting(
	"provenance", "missing", {},
	"the build provenance check (evidence.provenance)",
	"run the provenance verification of the image's SLSA attestation",
) if {
	not given(evidence, "provenance")
} else := fail(
	"provenance", "not-verified", evidence.provenance,
	sprintf("the provenance did not verify: %s", [object.get(evidence.provenance, "problem", "no reason given")]),
	"rebuild the image on the trusted builder so that it carries a valid attestation",
) if {
	not evidence.provenance.verified
} else := fail(
	"provenance", "untrusted-builder", evidence.provenance,
	sprintf("the image was built by %v, which is not a trusted builder", [object.get(evidence.provenance, "builderId", null)]),
	sprintf("build on one of: %s", [concat(", ", params.trustedBuilders)]),
) if {
	count(params.trustedBuilders) > 0
	not object.get(evidence.provenance, "builderId", "") in params.trustedBuilders
} else := pass("provenance", "verified", evidence.provenance)

over(n, limit) if {
	limit != null
	n > limit
}

vulns := evidence.vulnerabilities

vulnerabilities_verdict := waiting(
	"vulnerabilities", "missing", {},
	"a vulnerability scan summary of the image (evidence.vulnerabilities)",
	"scan the image with Trivy or Grype and attach the JSON report",
) if {
	not given(evidence, "vulnerabilities")
} else := fail(
	"vulnerabilities", "critical-fixable", vulns,
	sprintf(
		"critical vulnerabilities with a fix available: %v (at most %v allowed)",
		[vulns.criticalFixable, params.vulnerabilities.maxCriticalFixable],
	),
	"update the affected packages in the image and scan again",
) if {
	over(vulns.criticalFixable, params.vulnerabilities.maxCriticalFixable)
} else := fail(
	"vulnerabilities", "critical", vulns,
	sprintf("critical vulnerabilities: %v (at most %v allowed)", [vulns.critical, params.vulnerabilities.maxCritical]),
	"remove or replace the affected packages, or accept the risk by raising the limit in the policy",
) if {
	over(vulns.critical, params.vulnerabilities.maxCritical)
} else := fail(
	"vulnerabilities", "high-fixable", vulns,
	sprintf(
		"high vulnerabilities with a fix available: %v (at most %v allowed)",
		[vulns.highFixable, params.vulnerabilities.maxHighFixable],
	),
	"update the affected packages in the image and scan again",
) if {
	over(vulns.highFixable, params.vulnerabilities.maxHighFixable)
} else := pass("vulnerabilities", "within-limits", vulns)

tests := evidence.tests

tests_verdict := waiting(
	"tests", "missing", {},
	"a test report of the release (evidence.tests, from JUnit XML)",
	"run the release's test suite and attach its JUnit report",
) if {
	not given(evidence, "tests")
} else := fail(
	"tests", "tests-failed", tests,
	sprintf("%v failed and %v errored of %v tests", [tests.failed, tests.errors, tests.total]),
	"fix the failing tests and attach a new report",
) if {
	tests.failed + tests.errors > 0
} else := fail(
	"tests", "too-few-tests", tests,
	sprintf("%s ran, at least %v needed", [plural(tests.total, "test"), params.minTests]),
	"run the full test suite, not a subset",
) if {
	tests.total < params.minTests
} else := pass("tests", "all-passed", tests)

# ---------------------------------------------------------------------------------------------------
# Gate: rehearsal (data safety), for the tiers listed in params.rehearsal.
# ---------------------------------------------------------------------------------------------------
rehearsal := evidence.rehearsal

rehearsal_verdict := pass("rehearsal", "not-required", {"tier": tier}) if {
	not params.rehearsal[tier]
} else := waiting(
	"rehearsal", "missing", {"tier": tier},
	sprintf("a rehearsal of the migration on a clone (evidence.rehearsal): tier %s needs one", [tier]),
	"run ringfence rehearse on a clone of the largest tenant database",
) if {
	not given(evidence, "rehearsal")
} else := fail(
	"rehearsal", "not-done", rehearsal,
	"the rehearsal did not complete",
	"fix the migration until the rehearsal completes, then rehearse again",
) if {
	not rehearsal.done
} else := fail(
	"rehearsal", "blocking-over-limit", object.union(rehearsal, {"limits": params.rehearsal[tier]}),
	sprintf(
		"the rehearsal blocked other sessions for %v ms, over the %v ms limit for tier %s",
		[rehearsal.maxBlockingMs, params.rehearsal[tier].maxBlockingMs, tier],
	),
	"rewrite the migration to hold its locks for less time (see ringfence lint), then rehearse again",
) if {
	rehearsal.maxBlockingMs > params.rehearsal[tier].maxBlockingMs
} else := fail(
	"rehearsal", "duration-over-limit", object.union(rehearsal, {"limits": params.rehearsal[tier]}),
	sprintf(
		"the rehearsal took %v ms, over the %v ms limit for tier %s",
		[rehearsal.durationMs, params.rehearsal[tier].maxDurationMs, tier],
	),
	"make the migration faster or split it across releases, then rehearse again",
) if {
	rehearsal.durationMs > params.rehearsal[tier].maxDurationMs
} else := pass("rehearsal", "within-limits", object.union(rehearsal, {"limits": params.rehearsal[tier]}))

# ---------------------------------------------------------------------------------------------------
# Gate: freeze (release-wide, and per tenant). A freeze that does not let the tier through makes the
# step wait for its end, unless a break-glass exception is approved by someone in a break-glass role.
# ---------------------------------------------------------------------------------------------------
break_glass_allowed(cal) if {
	not cal.breakGlassBy
}

break_glass_allowed(cal) if {
	some role in params.breakGlassRoles
	role in user(cal.breakGlassBy).roles
}

freeze_verdict(cal, t_tier) := {"gate": "freeze", "rule": "no-freeze", "verdict": "pass", "facts": cal} if {
	not cal.inFreeze
} else := {"gate": "freeze", "rule": "tier-allowed", "verdict": "pass", "facts": cal} if {
	cal.freezeAllowsTier
} else := fail(
	"freeze", "break-glass-not-allowed", cal,
	sprintf("the break-glass exception was approved by %s, who holds none of the roles %s", [cal.breakGlassBy, concat(", ", params.breakGlassRoles)]),
	sprintf("a user with role %s approves the break-glass exception", [concat(" or ", params.breakGlassRoles)]),
) if {
	cal.breakGlassApproved
	not break_glass_allowed(cal)
} else := pass("freeze", "break-glass", cal) if {
	cal.breakGlassApproved
} else := waiting(
	"freeze", "in-freeze", cal,
	sprintf("the freeze %s covers now and does not let tier %s through", [concat(", ", cal.freezes), t_tier]),
	sprintf("wait for the freeze to end, or a user with role %s approves a break-glass exception", [concat(" or ", params.breakGlassRoles)]),
)

# ---------------------------------------------------------------------------------------------------
# Tenant gates: maintenance window, restore point, capacity.
# ---------------------------------------------------------------------------------------------------
window_verdict(cal) := {"gate": "maintenance-window", "rule": "no-window", "verdict": "pass", "facts": cal} if {
	object.get(cal, "inWindow", null) == null
} else := {"gate": "maintenance-window", "rule": "in-window", "verdict": "pass", "facts": cal} if {
	cal.inWindow
} else := waiting(
	"maintenance-window", "outside-window", cal,
	sprintf("a maintenance window: the next opens at %v", [object.get(cal, "nextWindow", "an unknown time")]),
	"wait for the window, or change the tenant's windows in the fleet configuration",
)

# `limit`: the tier's maximum age in minutes, null when the tier needs no restore point.
restore_point_verdict(t, t_tier, limit) := {
	"gate": "restore-point", "rule": "not-required", "verdict": "pass",
	"facts": {"migrates": t.migrates, "tier": t_tier},
} if {
	not t.migrates
} else := {
	"gate": "restore-point", "rule": "not-required", "verdict": "pass",
	"facts": {"migrates": true, "tier": t_tier},
} if {
	limit == null
} else := waiting(
	"restore-point", "missing", {"tier": t_tier, "maxAgeMinutes": limit},
	sprintf("a restore point of %s's database, at most %v minutes old", [t.id, limit]),
	"the runner takes one before the step (ringfence-pg), or take a backup now",
) if {
	not t.restorePoint
} else := {"gate": "restore-point", "rule": "fresh", "verdict": "pass", "facts": t.restorePoint} if {
	t.restorePoint.ageSeconds <= limit * 60
} else := fail(
	"restore-point", "stale", object.union(t.restorePoint, {"maxAgeMinutes": limit}),
	sprintf(
		"the newest restore point of %s (%s) is %v minutes old, older than the %v minutes allowed for tier %s",
		[t.id, t.restorePoint.id, floor(t.restorePoint.ageSeconds / 60), limit, t_tier],
	),
	"take a new restore point of the tenant's database before the step",
)

capacity_verdict(cap) := {"gate": "capacity", "rule": "no-limits", "verdict": "pass", "facts": {}} if {
	cap == null
} else := waiting(
	"capacity", "in-flight-limit", cap,
	sprintf("headroom: %v tenants are migrating, the limit is %v", [cap.inFlight, cap.maxInFlight]),
	"wait for running steps to finish",
) if {
	cap.inFlight >= cap.maxInFlight
} else := waiting(
	"capacity", "pool-headroom", cap,
	sprintf(
		"headroom: %v%% of the pool is unavailable, the limit is %v%%",
		[cap.poolUnavailablePercent, object.get(cap, "maxPoolUnavailablePercent", params.maxPoolUnavailablePercent)],
	),
	"wait for tenants of the pool to come back",
) if {
	cap.poolUnavailablePercent >= object.get(cap, "maxPoolUnavailablePercent", params.maxPoolUnavailablePercent)
} else := {"gate": "capacity", "rule": "headroom", "verdict": "pass", "facts": cap}
