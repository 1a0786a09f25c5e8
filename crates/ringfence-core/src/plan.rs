//! The planner: orders a fleet's tenants into rings (policy order) and batches, so that no batch holds
//! more tenants of one database cluster than that cluster's `maxConcurrentMigrations`.
//!
//! The plan is a pure function of the fleet, the policy and the release version: the same inputs always
//! give the same plan. It knows nothing about time; when each batch actually runs is the engine's
//! business (and, later, the calendar's).

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::model::{Fleet, Policy, TenantId};

/// A readable, serialisable rollout plan for one release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The release version being rolled out.
    pub release: String,
    /// The version it replaces.
    pub replaces: String,
    /// Rings in rollout order.
    pub rings: Vec<PlannedRing>,
}

/// One ring of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedRing {
    /// Ring name from the policy.
    pub name: String,
    /// How long each tenant is observed after its switch.
    pub observation: Duration,
    /// Wait after the ring completes before the next ring starts.
    pub soak: Duration,
    /// Tenants per batch, resolved from the policy's count or percentage.
    pub batch_size: usize,
    /// Batches in order; a batch starts when the previous one is done.
    pub batches: Vec<Batch>,
}

/// Tenants released together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The tenants, in start order.
    pub tenants: Vec<PlannedTenant>,
}

/// A tenant's entry in the plan, with what adapters need to reach it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedTenant {
    /// Tenant id.
    pub id: TenantId,
    /// Database cluster holding its database.
    pub cluster: String,
    /// Pool serving it.
    pub pool: String,
    /// Its database name.
    pub database: String,
}

/// Why a plan could not be made. Configuration validation reports these earlier with file positions;
/// the planner still refuses inconsistent input rather than guess.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A tenant matched no ring.
    #[error("tenant {tenant} is in no ring; add it to a ring's selector")]
    TenantInNoRing {
        /// The tenant.
        tenant: TenantId,
    },
    /// A tenant matched several rings.
    #[error("tenant {tenant} is selected by rings {first:?} and {second:?}; a tenant must be in exactly one ring")]
    TenantInTwoRings {
        /// The tenant.
        tenant: TenantId,
        /// The earlier ring.
        first: String,
        /// The later ring.
        second: String,
    },
    /// A tenant names a cluster the fleet does not define.
    #[error("tenant {tenant} is on unknown cluster {cluster:?}")]
    UnknownCluster {
        /// The tenant.
        tenant: TenantId,
        /// The cluster it names.
        cluster: String,
    },
    /// A cluster allows no migration at all, so its tenants could never be released.
    #[error("cluster {cluster:?} has maxConcurrentMigrations 0, so its tenants can never be released")]
    ZeroConcurrency {
        /// The cluster.
        cluster: String,
    },
}

impl Plan {
    /// All planned tenants in rollout order.
    pub fn tenants(&self) -> impl Iterator<Item = &PlannedTenant> {
        self.rings.iter().flat_map(|r| r.batches.iter()).flat_map(|b| b.tenants.iter())
    }

    /// Number of tenants in the plan.
    pub fn tenant_count(&self) -> usize {
        self.rings.iter().flat_map(|r| &r.batches).map(|b| b.tenants.len()).sum()
    }
}

/// Plans the rollout of `release` (replacing `replaces`) over `fleet` according to `policy`.
///
/// Within a ring, tenants keep their fleet order; batches interleave clusters round-robin so that one
/// cluster's tenants do not all land in the same batch while another cluster sits idle.
pub fn plan(fleet: &Fleet, policy: &Policy, release: &str, replaces: &str) -> Result<Plan, PlanError> {
    let limits: HashMap<&str, usize> =
        fleet.clusters.iter().map(|c| (c.name.as_str(), c.max_concurrent_migrations as usize)).collect();
    if let Some(c) = fleet.clusters.iter().find(|c| c.max_concurrent_migrations == 0) {
        return Err(PlanError::ZeroConcurrency { cluster: c.name.clone() });
    }

    // Explicit ids as sets, so membership is O(1) even for rings listing thousands of tenants.
    let explicit: Vec<HashSet<&TenantId>> = policy.rings.iter().map(|r| r.selector.tenants.iter().collect()).collect();
    let mut members: Vec<Vec<&crate::model::Tenant>> = vec![Vec::new(); policy.rings.len()];
    for tenant in &fleet.tenants {
        if !limits.contains_key(tenant.cluster.as_str()) {
            return Err(PlanError::UnknownCluster { tenant: tenant.id.clone(), cluster: tenant.cluster.clone() });
        }
        let mut chosen: Option<usize> = None;
        for (i, ring) in policy.rings.iter().enumerate() {
            let selected = explicit[i].contains(&tenant.id)
                || ((!ring.selector.tiers.is_empty() || !ring.selector.match_labels.is_empty())
                    && ring.selector.matches(tenant));
            if !selected {
                continue;
            }
            if let Some(first) = chosen {
                return Err(PlanError::TenantInTwoRings {
                    tenant: tenant.id.clone(),
                    first: policy.rings[first].name.clone(),
                    second: ring.name.clone(),
                });
            }
            chosen = Some(i);
        }
        match chosen {
            Some(i) => members[i].push(tenant),
            None => return Err(PlanError::TenantInNoRing { tenant: tenant.id.clone() }),
        }
    }

    let rings = policy
        .rings
        .iter()
        .zip(members)
        .map(|(ring, tenants)| {
            let batch_size = ring.batch_size.resolve(tenants.len());
            PlannedRing {
                name: ring.name.clone(),
                observation: ring.observation,
                soak: ring.soak,
                batch_size,
                batches: batch(&tenants, batch_size, &limits),
            }
        })
        .collect();
    Ok(Plan { release: release.to_owned(), replaces: replaces.to_owned(), rings })
}

/// Splits one ring's tenants into batches of at most `size`, with at most `limits[cluster]` tenants of
/// any one cluster per batch.
fn batch(tenants: &[&crate::model::Tenant], size: usize, limits: &HashMap<&str, usize>) -> Vec<Batch> {
    // One queue per cluster, clusters in order of first appearance, so the result is deterministic.
    let mut order: Vec<&str> = Vec::new();
    let mut queues: HashMap<&str, VecDeque<&crate::model::Tenant>> = HashMap::new();
    for t in tenants {
        let queue = queues.entry(t.cluster.as_str()).or_insert_with(|| {
            order.push(t.cluster.as_str());
            VecDeque::new()
        });
        queue.push_back(t);
    }
    let mut active: Vec<&str> = order;
    let mut batches = Vec::new();
    let mut start = 0usize;
    while !active.is_empty() {
        let mut picked: Vec<PlannedTenant> = Vec::with_capacity(size);
        let mut taken: HashMap<&str, usize> = HashMap::new();
        // Take one tenant per cluster per pass until the batch is full or no cluster may add more.
        loop {
            let mut progressed = false;
            for k in 0..active.len() {
                if picked.len() == size {
                    break;
                }
                let cluster = active[(start + k) % active.len()];
                let count = taken.entry(cluster).or_insert(0);
                if *count >= limits[cluster] {
                    continue;
                }
                if let Some(t) = queues.get_mut(cluster).and_then(VecDeque::pop_front) {
                    *count += 1;
                    progressed = true;
                    picked.push(PlannedTenant {
                        id: t.id.clone(),
                        cluster: t.cluster.clone(),
                        pool: t.pool.clone(),
                        database: t.database.clone(),
                    });
                }
            }
            if !progressed || picked.len() == size {
                break;
            }
        }
        active.retain(|c| queues.get(c).is_some_and(|q| !q.is_empty()));
        // Rotate the starting cluster so no cluster always goes first.
        start = if active.is_empty() { 0 } else { (start + 1) % active.len() };
        batches.push(Batch { tenants: picked });
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, cluster};
    use crate::model::{BatchSize, Ring, Selector, Tenant, TenantTier};

    fn tenant(id: &str, cluster: &str, tier: TenantTier) -> Tenant {
        Tenant { tier, ..fixtures::tenant(id, cluster) }
    }

    fn ring(name: &str, selector: Selector, batch_size: BatchSize) -> Ring {
        Ring { name: name.into(), selector, batch_size, observation: Duration::from_mins(5), soak: Duration::ZERO }
    }

    #[test]
    fn batches_respect_cluster_limits_and_interleave_clusters() {
        let fleet = Fleet {
            clusters: vec![cluster("a", 1), cluster("b", 2)],
            pools: vec![],
            tenants: (0..6)
                .map(|i| tenant(&format!("t{i}"), if i < 4 { "a" } else { "b" }, TenantTier::Standard))
                .collect(),
        };
        let policy = Policy {
            rings: vec![ring(
                "all",
                Selector { tiers: vec![TenantTier::Standard], ..Default::default() },
                BatchSize::Count(3),
            )],
            ..Default::default()
        };
        let plan = plan(&fleet, &policy, "v2", "v1").unwrap();
        let batches: Vec<Vec<&str>> =
            plan.rings[0].batches.iter().map(|b| b.tenants.iter().map(|t| t.id.as_str()).collect()).collect();
        // Cluster a allows one at a time, so its four tenants need four batches; b's two ride along.
        assert_eq!(batches, vec![vec!["t0", "t4", "t5"], vec!["t1"], vec!["t2"], vec!["t3"]]);
    }

    #[test]
    fn rings_follow_policy_order_and_explicit_ids_win_over_order_of_tenants() {
        let fleet = Fleet {
            clusters: vec![cluster("a", 5)],
            pools: vec![],
            tenants: vec![
                tenant("big", "a", TenantTier::Enterprise),
                tenant("small", "a", TenantTier::Standard),
                tenant("own", "a", TenantTier::Internal),
            ],
        };
        let policy = Policy {
            rings: vec![
                ring("internal", Selector { tenants: vec!["own".into()], ..Default::default() }, BatchSize::Count(1)),
                ring(
                    "standard",
                    Selector { tiers: vec![TenantTier::Standard], ..Default::default() },
                    BatchSize::Percent(50),
                ),
                ring(
                    "enterprise",
                    Selector { tiers: vec![TenantTier::Enterprise], ..Default::default() },
                    BatchSize::Count(1),
                ),
            ],
            ..Default::default()
        };
        let plan = plan(&fleet, &policy, "v2", "v1").unwrap();
        let order: Vec<&str> = plan.tenants().map(|t| t.id.as_str()).collect();
        assert_eq!(order, ["own", "small", "big"]);
        assert_eq!(plan.tenant_count(), 3);
    }

    #[test]
    fn refuses_tenants_in_no_ring_or_two_rings() {
        let fleet = Fleet {
            clusters: vec![cluster("a", 1)],
            pools: vec![],
            tenants: vec![tenant("x", "a", TenantTier::Standard)],
        };
        let none = Policy {
            rings: vec![ring("r", Selector { tenants: vec!["y".into()], ..Default::default() }, BatchSize::Count(1))],
            ..Default::default()
        };
        assert!(matches!(plan(&fleet, &none, "v2", "v1"), Err(PlanError::TenantInNoRing { .. })));
        let two = Policy {
            rings: vec![
                ring("r1", Selector { tenants: vec!["x".into()], ..Default::default() }, BatchSize::Count(1)),
                ring("r2", Selector { tiers: vec![TenantTier::Standard], ..Default::default() }, BatchSize::Count(1)),
            ],
            ..Default::default()
        };
        assert!(matches!(plan(&fleet, &two, "v2", "v1"), Err(PlanError::TenantInTwoRings { .. })));
    }
}
