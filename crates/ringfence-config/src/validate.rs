//! The rules that need more than one field or more than one document: unique names, references
//! between clusters, pools, tenants and rings, every tenant in exactly one ring, time zones, secret
//! references, SLI limits and the release's image and migration command.
//!
//! Every rule runs, and every violation is reported. Checks run on whatever could be read: when an
//! item could not be deserialized (already reported), the rules that would report its absence —
//! "unknown pool", "tenant in no ring", "ring selects nothing" — hold back rather than pile a second
//! error on the first.

use std::collections::{BTreeMap, HashMap};

use ringfence_core::model::LOCAL_TARGET_PLACEHOLDERS;
use ringfence_core::model::MIGRATION_PLACEHOLDERS;
use ringfence_core::{LocalTarget, PoolKind, Release, SecretRef, Selector, Tenant};

use crate::diagnostic::{closest, known_names_hint};
use crate::document::{FleetDoc, Items, PolicyDoc};
use crate::{Diagnostic, DocumentKind, SourceIndex};

use DocumentKind::{Fleet, LocalTarget as LocalTargetDoc, Policy, Release as ReleaseDoc};

/// What the rules look at: the documents as far as they could be read, and where things are.
pub(crate) struct Input<'a> {
    pub fleet: Option<&'a FleetDoc>,
    pub policy: Option<&'a PolicyDoc>,
    pub release: Option<&'a Release>,
    pub local_target: Option<&'a LocalTarget>,
    pub users: Option<&'a crate::document::Items<ringfence_core::model::User>>,
    pub index: &'a SourceIndex,
}

/// Runs every rule and returns every violation.
pub(crate) fn check(input: &Input<'_>) -> Vec<Diagnostic> {
    let mut report = Report { index: input.index, out: Vec::new() };
    if let Some(users) = input.users {
        // An approval names its user: two entries of one name would make "who approved" ambiguous.
        report.duplicates(
            DocumentKind::Users,
            "user",
            "users",
            "name",
            users.ok.iter().map(|(i, u)| (*i, u.name.as_str())),
        );
    }
    if let Some(fleet) = input.fleet {
        check_fleet(fleet, &mut report);
    }
    if let Some(policy) = input.policy {
        check_policy(policy, input.fleet, &mut report);
    }
    if let Some(release) = input.release {
        check_release(release, input.policy, &mut report);
    }
    if let Some(target) = input.local_target {
        check_local_target(target, input.fleet, &mut report);
    }
    report.out
}

/// Collects diagnostics, placing each at the path it is about.
struct Report<'a> {
    index: &'a SourceIndex,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    fn at(&mut self, kind: DocumentKind, path: &str, message: String, hint: Option<String>) {
        let (file, line, col) = match self.index.nearest(kind, path) {
            Some((l, _)) => (l.file, l.line, l.col),
            None => (Default::default(), 0, 0),
        };
        self.out.push(Diagnostic { file, line, col, path: path.to_owned(), message, hint });
    }

    /// `file:line:col` of a path, for messages that name a second place.
    fn place(&self, kind: DocumentKind, path: &str) -> String {
        self.index.nearest(kind, path).map(|(l, _)| l.to_string()).unwrap_or_else(|| "(unknown place)".into())
    }

    /// Reports every name defined a second time; `list` is the spec field, `key` the naming field.
    fn duplicates<'n>(
        &mut self,
        kind: DocumentKind,
        what: &str,
        list: &str,
        key: &str,
        names: impl Iterator<Item = (usize, &'n str)>,
    ) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names {
            match first.get(name) {
                None => {
                    first.insert(name, i);
                }
                Some(&j) => {
                    let earlier = self.place(kind, &format!("spec.{list}[{j}].{key}"));
                    self.at(
                        kind,
                        &format!("spec.{list}[{i}].{key}"),
                        format!("{what} {name:?} is defined twice; the first definition is at {earlier}"),
                        Some(format!("{what} {key}s must be unique: rename or remove one of them")),
                    );
                }
            }
        }
    }
}

/// The names a reference may point to. `exhaustive` is false when some definition could not be read
/// without its name, so a reference that matches nothing may still be right.
struct Names<'a> {
    known: Vec<&'a str>,
    broken: Vec<&'a str>,
    exhaustive: bool,
}

impl<'a> Names<'a> {
    fn of<T>(items: &'a Items<T>, shell_ok: bool, name: impl Fn(&'a T) -> &'a str) -> Self {
        Names {
            known: items.ok.iter().map(|(_, t)| name(t)).collect(),
            broken: items.broken.iter().filter_map(|(_, n)| n.as_deref()).collect(),
            exhaustive: shell_ok && items.broken.iter().all(|(_, n)| n.is_some()),
        }
    }

    /// Whether a reference to `name` is certainly dangling.
    fn is_unknown(&self, name: &str) -> bool {
        self.exhaustive && !self.known.contains(&name) && !self.broken.contains(&name)
    }
}

fn check_secret(report: &mut Report<'_>, path: &str, secret: &SecretRef) {
    let hint = Some("set exactly one of `env: VARIABLE_NAME` or `file: /path/to/secret`".to_owned());
    match (&secret.env, &secret.file) {
        (None, None) => report.at(Fleet, path, "the secret reference names neither `env` nor `file`".into(), hint),
        (Some(_), Some(_)) => report.at(Fleet, path, "the secret reference sets both `env` and `file`".into(), hint),
        _ => {}
    }
}

const WINDOW_HINT: &str = "a window is a 5-field cron (`0 2 * * 1-5`: 02:00 on weekdays) and a duration (`3h`)";

fn check_fleet(fleet: &FleetDoc, report: &mut Report<'_>) {
    for (i, pool) in &fleet.pools.ok {
        // A pool's windows take each tenant's zone; the expression itself is checked here once.
        for (w, window) in pool.maintenance_windows.iter().enumerate() {
            if let Err(e) = window.to_window(jiff::tz::TimeZone::UTC) {
                report.at(
                    Fleet,
                    &format!("spec.pools[{i}].maintenanceWindows[{w}]"),
                    e.to_string(),
                    Some(WINDOW_HINT.into()),
                );
            }
        }
    }
    for (i, pool) in &fleet.pools.ok {
        if pool.max_concurrent_migrations == Some(0) {
            report.at(
                Fleet,
                &format!("spec.pools[{i}].maxConcurrentMigrations"),
                format!(
                    "pool {:?} allows 0 concurrent migrations, so none of its tenants could be upgraded",
                    pool.name
                ),
                Some(
                    "set `maxConcurrentMigrations` to 1 or more, or remove it to leave the cluster's limit alone"
                        .into(),
                ),
            );
        }
    }
    let clusters = &fleet.clusters.ok;
    report.duplicates(Fleet, "cluster", "clusters", "name", clusters.iter().map(|(i, c)| (*i, c.name.as_str())));
    for (i, cluster) in clusters {
        if cluster.max_concurrent_migrations == 0 {
            report.at(
                Fleet,
                &format!("spec.clusters[{i}].maxConcurrentMigrations"),
                format!(
                    "cluster {:?} allows 0 concurrent migrations, so no tenant on it could be upgraded",
                    cluster.name
                ),
                Some("set `maxConcurrentMigrations` to 1 or more".into()),
            );
        }
        if let Some(secret) = &cluster.connection.password_from {
            check_secret(report, &format!("spec.clusters[{i}].connection.passwordFrom"), secret);
        }
    }
    let cluster_names = Names::of(&fleet.clusters, fleet.shell_ok, |c| c.name.as_str());
    let pool_names = Names::of(&fleet.pools, fleet.shell_ok, |p| p.name.as_str());

    let pools = &fleet.pools.ok;
    report.duplicates(Fleet, "pool", "pools", "name", pools.iter().map(|(i, p)| (*i, p.name.as_str())));
    for (i, pool) in pools {
        if cluster_names.is_unknown(&pool.cluster) {
            report.at(
                Fleet,
                &format!("spec.pools[{i}].cluster"),
                format!("pool {:?} refers to unknown cluster {:?}", pool.name, pool.cluster),
                Some(known_names_hint("cluster", &pool.cluster, &cluster_names.known)),
            );
        }
    }

    let tenants = &fleet.tenants.ok;
    report.duplicates(Fleet, "tenant", "tenants", "id", tenants.iter().map(|(i, t)| (*i, t.id.as_str())));
    let mut databases: HashMap<(&str, &str), usize> = HashMap::new();
    let mut per_dedicated_pool: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, tenant) in tenants {
        let id = tenant.id.as_str();
        if pool_names.is_unknown(&tenant.pool) {
            report.at(
                Fleet,
                &format!("spec.tenants[{i}].pool"),
                format!("tenant {id:?} refers to unknown pool {:?}", tenant.pool),
                Some(known_names_hint("pool", &tenant.pool, &pool_names.known)),
            );
        }
        if cluster_names.is_unknown(&tenant.cluster) {
            report.at(
                Fleet,
                &format!("spec.tenants[{i}].cluster"),
                format!("tenant {id:?} refers to unknown cluster {:?}", tenant.cluster),
                Some(known_names_hint("cluster", &tenant.cluster, &cluster_names.known)),
            );
        }
        if let Some((j, pool)) = pools.iter().find(|(_, p)| p.name == tenant.pool) {
            // An unknown cluster is reported above; saying it also differs from the pool's adds nothing.
            if pool.cluster != tenant.cluster && !cluster_names.is_unknown(&tenant.cluster) {
                report.at(
                    Fleet,
                    &format!("spec.tenants[{i}].cluster"),
                    format!(
                        "tenant {id:?} is on cluster {:?}, but its pool {:?} serves cluster {:?} ({})",
                        tenant.cluster,
                        pool.name,
                        pool.cluster,
                        report.place(Fleet, &format!("spec.pools[{j}].cluster"))
                    ),
                    Some(format!(
                        "a pool serves databases on one cluster: set `cluster: {}` or pick another pool",
                        pool.cluster
                    )),
                );
            }
            if pool.kind == PoolKind::Dedicated {
                per_dedicated_pool.entry(pool.name.as_str()).or_default().push(*i);
            }
        }
        if let Ok(tz) = jiff::tz::TimeZone::get(&tenant.timezone) {
            for (w, window) in tenant.maintenance_windows.iter().enumerate() {
                if let Err(e) = window.to_window(tz.clone()) {
                    report.at(
                        Fleet,
                        &format!("spec.tenants[{i}].maintenanceWindows[{w}]"),
                        e.to_string(),
                        Some(WINDOW_HINT.into()),
                    );
                }
            }
        }
        if jiff::tz::TimeZone::get(&tenant.timezone).is_err() {
            report.at(
                Fleet,
                &format!("spec.tenants[{i}].timezone"),
                format!("unknown time zone {:?}", tenant.timezone),
                Some("use an IANA name such as Europe/Paris, America/New_York or UTC".into()),
            );
        }
        match databases.get(&(tenant.cluster.as_str(), tenant.database.as_str())) {
            None => {
                databases.insert((tenant.cluster.as_str(), tenant.database.as_str()), *i);
            }
            Some(&j) => report.at(
                Fleet,
                &format!("spec.tenants[{i}].database"),
                format!(
                    "tenant {id:?} uses database {:?} on cluster {:?}, which tenant at {} uses already",
                    tenant.database,
                    tenant.cluster,
                    report.place(Fleet, &format!("spec.tenants[{j}].database"))
                ),
                Some("each tenant has a database of its own".into()),
            ),
        }
    }
    for (pool, users) in per_dedicated_pool {
        for i in users.iter().skip(1) {
            report.at(
                Fleet,
                &format!("spec.tenants[{i}].pool"),
                format!("pool {pool:?} is dedicated but serves more than one tenant"),
                Some("give this tenant a pool of its own, or make the pool `type: multi-tenant`".into()),
            );
        }
    }
}

/// A ring as far as membership is concerned: where it is written, its name and its selector.
struct RingView<'a> {
    index: usize,
    name: &'a str,
    selector: &'a Selector,
}

fn check_policy(policy: &PolicyDoc, fleet: Option<&FleetDoc>, report: &mut Report<'_>) {
    let rings = &policy.rings.ok;
    report.duplicates(Policy, "ring", "rings", "name", rings.iter().map(|(i, r)| (*i, r.name.as_str())));
    let slis = &policy.slis.ok;
    report.duplicates(Policy, "SLI", "slis", "name", slis.iter().map(|(i, s)| (*i, s.name.as_str())));
    for (i, sli) in slis {
        match (&sli.ratio, &sli.quantile) {
            (None, None) => report.at(
                Policy,
                &format!("spec.slis[{i}]"),
                format!("SLI {:?} says nothing to measure", sli.name),
                Some(
                    "give `ratio: {errors: <counter>, total: <counter>}` or `quantile: {histogram: <name>, q: 0.95}`"
                        .into(),
                ),
            ),
            (Some(_), Some(_)) => report.at(
                Policy,
                &format!("spec.slis[{i}].quantile"),
                format!("SLI {:?} gives both `ratio` and `quantile`", sli.name),
                Some("an SLI measures one thing: split it into two SLIs".into()),
            ),
            (None, Some(quantile)) if !(quantile.q > 0.0 && quantile.q < 1.0) => report.at(
                Policy,
                &format!("spec.slis[{i}].quantile.q"),
                format!("quantile {} of SLI {:?} is not between 0 and 1", quantile.q, sli.name),
                Some("write the quantile as a fraction, e.g. 0.95 for p95".into()),
            ),
            _ => {}
        }
        if sli.min_events == 0 {
            report.at(
                Policy,
                &format!("spec.slis[{i}].minEvents"),
                format!("SLI {:?} has minEvents 0, so a single event could fail a tenant", sli.name),
                Some("use at least 1; the default is 20".into()),
            );
        }
        // Only a policy that judges by limits alone needs one on every SLI; a comparative judge fails a
        // tenant whose SLI got worse than the controls' by more than its `effect`.
        let limits_only =
            policy.judge.as_ref().is_some_and(|j| j.method == ringfence_core::model::JudgeMethod::LimitsOnly);
        if limits_only && sli.max.is_none() && sli.max_ratio_to_control.is_none() {
            report.at(
                Policy,
                &format!("spec.slis[{i}]"),
                format!(
                    "SLI {:?} sets no limit and the judge is limits-only, so it could never fail a tenant",
                    sli.name
                ),
                Some(
                    "set `max`, `maxRatioToControl` or both, or use a comparative judge (`judge.method: sequential`)"
                        .into(),
                ),
            );
        }
    }
    if let Some(c) = &policy.concurrency {
        if c.max_tenants_in_flight == Some(0) {
            report.at(
                Policy,
                "spec.concurrency.maxTenantsInFlight",
                "a cap of 0 tenants in flight would never let a tenant start".into(),
                Some("set 1 or more, or remove it for no release-wide cap".into()),
            );
        }
        if let Some(p) = c.max_unavailable_percent.filter(|p| *p == 0 || *p > 100) {
            report.at(
                Policy,
                "spec.concurrency.maxUnavailablePercent",
                format!("{p} is not a share of a pool between 1 and 100 percent"),
                Some("write the percentage of a pool's tenants that may be in maintenance at once, e.g. 25".into()),
            );
        }
    }
    if let Some(alpha) = policy.judge.as_ref().map(|j| j.alpha).filter(|a| !(*a > 0.0 && *a < 1.0)) {
        report.at(
            Policy,
            "spec.judge.alpha",
            format!("alpha {alpha} is not a probability between 0 and 1"),
            Some("write the false-alarm rate you accept over all SLIs of a release, e.g. 0.05".into()),
        );
    }
    for (i, sli) in &policy.slis.ok {
        let bad = match sli.harm {
            _ if !(sli.effect > 0.0 && sli.effect.is_finite()) => Some("a positive fraction, e.g. 0.2 for 20%"),
            ringfence_core::model::Harm::Decrease if sli.effect >= 1.0 => {
                Some("below 1 when a decrease hurts, e.g. 0.05 for -5%")
            }
            _ => None,
        };
        if let Some(hint) = bad {
            report.at(
                Policy,
                &format!("spec.slis[{i}].effect"),
                format!("SLI {:?}: effect {} cannot be judged", sli.name, sli.effect),
                Some(format!("write {hint}")),
            );
        }
    }
    if let Some(migration) = &policy.migration {
        // PostgreSQL reads 0 as "no limit": a zero here would silently turn a guardrail off.
        let zero = [
            ("lockTimeout", migration.lock_timeout, "5s"),
            ("statementTimeout", migration.statement_timeout, "30m"),
            ("maxTransactionAge", migration.max_transaction_age, "5m"),
            ("maxIdleInTransaction", migration.max_idle_in_transaction, "1m"),
            ("maxBlocking", migration.max_blocking, "30s"),
        ];
        for (field, value, example) in zero {
            if value.is_zero() {
                report.at(
                    Policy,
                    &format!("spec.migration.{field}"),
                    format!("migration.{field} must be longer than 0 (0 would switch the guardrail off)"),
                    Some(format!("write a duration such as {example}, or leave it out for the default")),
                );
            }
        }
        // PostgreSQL keeps these two settings in milliseconds as a 32-bit integer and refuses more.
        let pg_max = ringfence_core::Duration::from_millis(i32::MAX as u64);
        for (field, value) in
            [("lockTimeout", migration.lock_timeout), ("statementTimeout", migration.statement_timeout)]
        {
            if value > pg_max {
                report.at(
                    Policy,
                    &format!("spec.migration.{field}"),
                    format!("migration.{field} {value} is longer than PostgreSQL accepts ({pg_max}, about 24.8 days)"),
                    Some("a migration's sessions time out within hours: write a duration such as 30m".into()),
                );
            }
        }
        if migration.retry.max_attempts == 0 {
            report.at(
                Policy,
                "spec.migration.retry.maxAttempts",
                "a migration needs at least one attempt".into(),
                Some("set 1 to never retry, or more (5 by default)".into()),
            );
        }
        if migration.retry.backoff > migration.retry.max_backoff {
            report.at(
                Policy,
                "spec.migration.retry.backoff",
                format!(
                    "the first wait ({}) is longer than the longest wait allowed ({})",
                    migration.retry.backoff, migration.retry.max_backoff
                ),
                Some("make backoff at most maxBackoff".into()),
            );
        }
    }
    if let Some(prometheus) = policy.metrics.as_ref().and_then(|m| m.prometheus.as_ref()) {
        let url = prometheus.url.trim();
        if !url.starts_with("http://") || url.len() <= "http://".len() {
            report.at(
                Policy,
                "spec.metrics.prometheus.url",
                format!("{:?} is not a Prometheus URL", prometheus.url),
                Some("write the server's base URL over plain HTTP, e.g. http://prometheus.monitoring:9090 (this build has no TLS: put a local proxy in front of an https server)".into()),
            );
        }
        let label = &prometheus.tenant_label;
        let valid_label = label.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_label {
            report.at(
                Policy,
                "spec.metrics.prometheus.tenantLabel",
                format!("{label:?} is not a Prometheus label name"),
                Some("letters, digits and underscores, not starting with a digit, e.g. tenant".into()),
            );
        }
    }
    if policy.break_glass_approvals == Some(0) {
        report.at(
            Policy,
            "spec.breakGlassApprovals",
            "a break-glass exception needs at least one approver".into(),
            Some("set 1 or more (2 by default)".into()),
        );
    }
    for (i, freeze) in &policy.freezes.ok {
        let path = format!("spec.freezes[{i}]");
        match jiff::tz::TimeZone::get(&freeze.timezone) {
            Err(_) => report.at(
                Policy,
                &format!("{path}.timezone"),
                format!("unknown time zone {:?}", freeze.timezone),
                Some("use an IANA name such as Europe/Paris, America/New_York or UTC".into()),
            ),
            Ok(tz) => {
                if let Err(e) = freeze.to_freezes(tz) {
                    report.at(Policy, &path, format!("freeze {:?}: {e}", freeze.name), Some(
                        "an absolute freeze: `start: 2026-11-26T00:00` and `end: 2026-12-01T00:00`; a recurring one: `cron: \"0 16 * * 5\"` and `duration: 8h`".into(),
                    ));
                }
            }
        }
        if let (Some(fleet), Some(scope)) = (fleet, &freeze.scope) {
            let pools: Vec<&str> = fleet.pools.ok.iter().map(|(_, p)| p.name.as_str()).collect();
            for (j, pool) in scope.pools.iter().enumerate() {
                if !pools.contains(&pool.as_str()) {
                    report.at(
                        Policy,
                        &format!("{path}.scope.pools[{j}]"),
                        format!("unknown pool {pool:?}"),
                        Some(known_names_hint("pool", pool, &pools)),
                    );
                }
            }
            let tenants: Vec<&str> = fleet.tenants.ok.iter().map(|(_, t)| t.id.as_str()).collect();
            for (j, tenant) in scope.tenants.iter().enumerate() {
                if !tenants.contains(&tenant.as_str()) {
                    report.at(
                        Policy,
                        &format!("{path}.scope.tenants[{j}]"),
                        format!("unknown tenant {:?}", tenant.as_str()),
                        Some(known_names_hint("tenant", tenant.as_str(), &tenants)),
                    );
                }
            }
        }
    }
    for (i, ring) in rings {
        if ring.selector.is_empty() {
            report.at(
                Policy,
                &format!("spec.rings[{i}].selector"),
                format!("ring {:?} has an empty selector", ring.name),
                Some("select tenants with `tenants` (ids), `tiers` or `matchLabels`".into()),
            );
        }
    }
    let Some(fleet) = fleet else { return };

    let tenant_ids = Names::of(&fleet.tenants, fleet.shell_ok, |t| t.id.as_str());
    for (i, ring) in rings {
        for (j, id) in ring.selector.tenants.iter().enumerate() {
            if tenant_ids.is_unknown(id.as_str()) {
                report.at(
                    Policy,
                    &format!("spec.rings[{i}].selector.tenants[{j}]"),
                    format!("ring {:?} selects unknown tenant {:?}", ring.name, id.as_str()),
                    Some(known_names_hint("tenant", id.as_str(), &tenant_ids.known)),
                );
            }
        }
    }

    // Rings that could not be read still count for membership when their selector could.
    let broken_names: HashMap<usize, &str> =
        policy.rings.broken.iter().filter_map(|(i, n)| Some((*i, n.as_deref()?))).collect();
    let mut views: Vec<RingView<'_>> =
        rings.iter().map(|(i, r)| RingView { index: *i, name: &r.name, selector: &r.selector }).collect();
    views.extend(policy.salvaged_selectors.iter().map(|(i, selector)| RingView {
        index: *i,
        name: broken_names.get(i).copied().unwrap_or("?"),
        selector,
    }));
    views.sort_by_key(|v| v.index);
    let membership_known =
        policy.allow_image_tags.is_some() && policy.rings.broken.len() == policy.salvaged_selectors.len();

    let tenants = &fleet.tenants.ok;
    for (i, tenant) in tenants {
        let mine: Vec<&RingView<'_>> = views.iter().filter(|v| v.selector.matches(tenant)).collect();
        match mine.as_slice() {
            [] if membership_known => report.at(
                Fleet,
                &format!("spec.tenants[{i}].id"),
                format!("tenant {:?} is in no ring, so no release would ever reach it", tenant.id.as_str()),
                Some(no_ring_hint(tenant, &views)),
            ),
            [_] | [] => {}
            [first, others @ ..] => {
                let others: Vec<String> = others
                    .iter()
                    .map(|r| {
                        format!("{:?} ({})", r.name, report.place(Policy, &format!("spec.rings[{}].selector", r.index)))
                    })
                    .collect();
                report.at(
                    Fleet,
                    &format!("spec.tenants[{i}].id"),
                    format!(
                        "tenant {:?} is in more than one ring: {:?} ({}) and {}",
                        tenant.id.as_str(),
                        first.name,
                        report.place(Policy, &format!("spec.rings[{}].selector", first.index)),
                        others.join(" and ")
                    ),
                    Some("a tenant belongs to exactly one ring: narrow one of the selectors".into()),
                );
            }
        }
    }

    // A ring that selects nobody is only certain when every tenant could be read.
    if fleet.shell_ok && fleet.tenants.all_ok() {
        for (i, ring) in rings {
            if !ring.selector.is_empty() && !tenants.iter().any(|(_, t)| ring.selector.matches(t)) {
                report.at(
                    Policy,
                    &format!("spec.rings[{i}].selector"),
                    format!("ring {:?} selects no tenant", ring.name),
                    Some("check its `tiers` and `matchLabels` against the tenants in the Fleet".into()),
                );
            }
        }
    }
}

fn no_ring_hint(tenant: &Tenant, rings: &[RingView<'_>]) -> String {
    let names: Vec<String> = rings.iter().map(|r| format!("{:?}", r.name)).collect();
    format!(
        "list {:?} in a ring's `tenants`, or give it a tier or labels that a ring selects (rings: {})",
        tenant.id.as_str(),
        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
    )
}

/// The `{placeholders}` used in one argument, or an error message for an unclosed brace.
fn placeholders(arg: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("argument {arg:?} opens a `{{` it never closes"));
        };
        found.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(found)
}

/// Reports `{placeholders}` in a command that are unclosed or not among `allowed`.
fn check_placeholders(kind: DocumentKind, path: &str, command: &[String], allowed: &[&str], report: &mut Report<'_>) {
    let placeholder_list = allowed.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ");
    for (j, arg) in command.iter().enumerate() {
        let path = format!("{path}[{j}]");
        match placeholders(arg) {
            Err(message) => report.at(kind, &path, message, Some(format!("placeholders are {placeholder_list}"))),
            Ok(names) => {
                for name in names.into_iter().filter(|n| !allowed.contains(n)) {
                    let hint = match closest(name, allowed.iter().copied()) {
                        Some(best) => format!("did you mean {{{best}}}? placeholders are {placeholder_list}"),
                        None => format!("placeholders are {placeholder_list}"),
                    };
                    report.at(kind, &path, format!("unknown placeholder {{{name}}}"), Some(hint));
                }
            }
        }
    }
}

fn check_local_target(target: &LocalTarget, fleet: Option<&FleetDoc>, report: &mut Report<'_>) {
    let allowed: Vec<&str> = MIGRATION_PLACEHOLDERS.iter().chain(&LOCAL_TARGET_PLACEHOLDERS).copied().collect();
    for (field, command) in [("serve", &target.serve), ("maintenance", &target.maintenance)] {
        let path = format!("spec.{field}");
        if command.is_empty() {
            report.at(
                LocalTargetDoc,
                &path,
                format!("the {field} command is empty"),
                Some("give the program and its arguments".into()),
            );
        }
        check_placeholders(LocalTargetDoc, &path, command, &allowed, report);
    }
    if !target.serve.iter().any(|a| a.contains("{app_port}")) {
        report.at(
            LocalTargetDoc,
            "spec.serve",
            "the serve command never uses {app_port}, so every tenant would listen on the same port".into(),
            Some("pass the port, e.g. --listen \"127.0.0.1:{app_port}\"".into()),
        );
    }
    let tenants = fleet.map_or(0, |f| f.tenants.ok.len());
    if target.base_port == 0 || usize::from(target.base_port) + tenants > usize::from(u16::MAX) + 1 {
        report.at(
            LocalTargetDoc,
            "spec.basePort",
            format!("basePort {} leaves no room for {tenants} tenants below port 65536", target.base_port),
            Some("tenant n listens on basePort + n: choose a port such as 18000".into()),
        );
    }
}

fn check_release(release: &Release, policy: Option<&PolicyDoc>, report: &mut Report<'_>) {
    // Without a readable policy, whether tags are allowed is unknown: say nothing rather than guess.
    if policy.and_then(|p| p.allow_image_tags) == Some(false) && !release.image_is_pinned() {
        let repo = release.image.split('@').next().unwrap_or(&release.image);
        let repo = match repo.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => name,
            _ => repo,
        };
        report.at(
            ReleaseDoc,
            "spec.image",
            format!("image {:?} is not pinned by digest", release.image),
            Some(format!(
                "write it as `{repo}@sha256:<64 lowercase hex digits>` so every tenant runs the same bytes, \
                 or set `allowImageTags: true` in the Policy"
            )),
        );
    }
    if release.migration.command.is_empty() {
        report.at(
            ReleaseDoc,
            "spec.migration.command",
            "the migration command is empty".into(),
            Some(
                "give the program and its arguments, e.g. [odoo, -d, \"{database}\", -u, all, --stop-after-init]"
                    .into(),
            ),
        );
    }
    check_placeholders(
        ReleaseDoc,
        "spec.migration.command",
        &release.migration.command,
        &MIGRATION_PLACEHOLDERS,
        report,
    );
    if release.version == release.replaces {
        report.at(
            ReleaseDoc,
            "spec.replaces",
            format!("release {:?} replaces itself", release.version),
            Some("`replaces` is the version the fleet runs now; `version` is the new one".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_unclosed_braces_rejected() {
        assert_eq!(placeholders("--db={database}-{tenant}").unwrap(), ["database", "tenant"]);
        assert!(placeholders("plain").unwrap().is_empty());
        assert!(placeholders("{database").is_err());
    }
}
