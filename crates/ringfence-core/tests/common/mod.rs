//! Small builders for engine tests: fleets, policies and plans without YAML.

#![allow(dead_code)]

use std::collections::BTreeMap;

use ringfence_core::Duration;
use ringfence_core::model::{
    BatchSize, Cluster, Connection, Fleet, Policy, Ring, Selector, Tenant, TenantId, TenantTier,
};
use ringfence_core::plan::{Plan, plan};

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

pub fn tenant(id: &str, cluster: &str) -> Tenant {
    Tenant {
        id: id.into(),
        pool: "shared".into(),
        cluster: cluster.into(),
        database: id.replace('-', "_"),
        tier: TenantTier::Standard,
        labels: BTreeMap::new(),
        timezone: "Europe/Paris".into(),
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

/// A plan over one cluster allowing `max` migrations, with the given rings (tenant ids per ring).
pub fn simple_plan(max: u32, rings: &[(&str, &[&str], u32)], observation: Duration, soak: Duration) -> Plan {
    let tenants = rings.iter().flat_map(|(_, ids, _)| ids.iter()).map(|id| tenant(id, "pg-1")).collect();
    let fleet = Fleet { clusters: vec![cluster("pg-1", max)], pools: vec![], tenants };
    let policy = Policy {
        rings: rings.iter().map(|(name, ids, batch)| ring(name, ids, *batch, observation, soak)).collect(),
        ..Default::default()
    };
    plan(&fleet, &policy, "v2", "v1").expect("valid plan")
}
