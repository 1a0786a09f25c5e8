//! Small builders of fleets, policies and plans for tests and simulations, so each test states only
//! what matters to it. Pure, like the rest of the core.

use std::collections::BTreeMap;

use crate::Duration;
use crate::model::{BatchSize, Cluster, Connection, Fleet, Policy, Ring, Selector, Tenant, TenantId, TenantTier};
use crate::plan::{Plan, plan};

/// A cluster on loopback allowing `max` concurrent migrations.
pub fn cluster(name: &str, max: u32) -> Cluster {
    Cluster {
        name: name.into(),
        connection: Connection {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "odoo".into(),
            password_from: None,
            ssl_mode: None,
        },
        max_concurrent_migrations: max,
    }
}

/// A standard-tier tenant on `cluster`, in pool `shared`, database named after it.
pub fn tenant(id: &str, cluster: &str) -> Tenant {
    Tenant {
        id: id.into(),
        pool: "shared".into(),
        cluster: cluster.into(),
        database: id.replace('-', "_"),
        tier: TenantTier::Standard,
        labels: BTreeMap::new(),
        timezone: "Europe/Paris".into(),
        maintenance_windows: vec![],
    }
}

/// A ring holding exactly the named tenants.
pub fn ring(name: &str, ids: &[&str], batch: u32, observation: Duration, soak: Duration) -> Ring {
    Ring {
        name: name.into(),
        selector: Selector { tenants: ids.iter().map(|&i| TenantId::from(i)).collect(), ..Default::default() },
        batch_size: BatchSize::Count(batch),
        observation,
        soak,
    }
}

/// A plan of release `v2` (replacing `v1`) over one cluster `pg-1` allowing `max` migrations, with the
/// given rings as (name, tenant ids, batch size).
pub fn simple_plan(max: u32, rings: &[(&str, &[&str], u32)], observation: Duration, soak: Duration) -> Plan {
    let tenants = rings.iter().flat_map(|(_, ids, _)| ids.iter()).map(|id| tenant(id, "pg-1")).collect();
    let fleet = Fleet { clusters: vec![cluster("pg-1", max)], pools: vec![], tenants };
    let policy = Policy {
        rings: rings.iter().map(|(name, ids, batch)| ring(name, ids, *batch, observation, soak)).collect(),
        ..Default::default()
    };
    plan(&fleet, &policy, "v2", "v1").expect("a valid fixture plan")
}
