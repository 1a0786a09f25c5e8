//! `ringfence rehearse` against a real PostgreSQL cluster started by the test, and what its reports
//! do to a rollout: a release whose migration rewrites a table of 500,000 rows is rehearsed on a
//! clone (the tenant database untouched), reported with ACCESS EXCLUSIVE, a rewrite and predicted
//! blocking above the policy's limit for the tier; the rollout then starts that tenant only inside a
//! maintenance window — one with a window waits for it, one without pauses the release saying why.

use std::path::Path;
use std::process::{Command, Output};

use ringfence_pg::EphemeralCluster;
use serde_json::Value;

fn ringfence(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringfence")).current_dir(cwd).args(args).output().expect("ringfence runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn write_config(dir: &Path, pg: &EphemeralCluster) {
    let psql = pg.binaries().psql().display().to_string();
    let config = format!(
        r#"apiVersion: ringfence.dev/v1alpha1
kind: Fleet
metadata: {{ name: rehearse }}
spec:
  clusters:
    - name: pg
      connection: {{ host: 127.0.0.1, port: {port}, user: postgres }}
      maxConcurrentMigrations: 2
  pools:
    - {{ name: shared, type: multi-tenant, cluster: pg }}
  tenants:
    - {{ id: shop-a, pool: shared, cluster: pg, database: shop_a, tier: standard, timezone: Europe/Paris }}
    - id: shop-b
      pool: shared
      cluster: pg
      database: shop_b
      tier: standard
      timezone: Europe/Paris
      maintenanceWindows: [{{ cron: "0 2 * * *", duration: 3h }}]
---
apiVersion: ringfence.dev/v1alpha1
kind: Policy
metadata: {{ name: rehearse }}
spec:
  allowImageTags: true
  rings:
    - {{ name: first, selector: {{ tenants: [shop-b] }}, batchSize: 1, observation: 1m }}
    - {{ name: rest, selector: {{ tenants: [shop-a] }}, batchSize: 1, observation: 1m }}
  migration:
    maxPredictedBlocking: {{ low: 5s, medium: 100ms, high: 100ms, critical: 100ms }}
---
apiVersion: ringfence.dev/v1alpha1
kind: Release
metadata: {{ name: widen }}
spec:
  version: v2
  replaces: v1
  image: registry.example.com/shop:v2
  risk: medium
  migration:
    command: [{psql}, -X, -v, ON_ERROR_STOP=1, -h, "{{host}}", -p, "{{port}}", -U, "{{user}}", -d, "{{database}}", -c, "ALTER TABLE items ALTER COLUMN qty TYPE bigint"]
  change: {{ description: "items.qty becomes bigint", author: dev@example.com }}
"#,
        port = pg.port(),
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
}

#[test]
fn a_rewrite_rehearsed_on_a_clone_keeps_its_tenants_inside_maintenance_windows() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    for db in ["shop_a", "shop_b"] {
        pg.create_database(db).unwrap();
        pg.psql(
            db,
            "CREATE TABLE items (id bigserial PRIMARY KEY, qty integer NOT NULL, name text); \
             INSERT INTO items (qty, name) SELECT g % 100, 'item ' || g FROM generate_series(1, 500000) g; ANALYZE items;",
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &pg);
    let cfg = dir.path().join("config.yaml");
    let c = cfg.to_str().unwrap();

    let out = ringfence(dir.path(), &["rehearse", c, "--json"]);
    assert_eq!(out.status.code(), Some(1), "blocking above the limit is a finding: {}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let rehearsals = json["rehearsals"].as_array().unwrap();
    assert_eq!(rehearsals.len(), 2);
    for r in rehearsals {
        let report = &r["report"];
        assert_eq!(report["migration"]["success"], true, "{report}");
        let items = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "public.items").unwrap();
        assert_eq!(items["strongestMode"], "access_exclusive", "{items}");
        assert_eq!(items["rewritten"], true);
        assert!(report["blocking"]["maxMs"].as_f64().unwrap() > 100.0, "{}", report["blocking"]);
        assert!(r["windowRequired"].as_str().unwrap().contains("maxPredictedBlocking"), "{r}");
        assert!(dir.path().join(r["html"].as_str().unwrap()).exists(), "{}", r["html"]);
        assert_eq!(report["clone"]["dropped"], true);
    }
    // The rehearsal ran on clones: the tenants' own column is untouched.
    let kind = pg.psql(
        "shop_a",
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'qty'",
    );
    assert_eq!(kind.unwrap().trim(), "integer");

    // shop-b (window 02:00-05:00 Paris) waits for its window; shop-a has none, so the release pauses
    // on it with the rehearsal's reason instead of migrating it in the middle of the day.
    let out =
        ringfence(dir.path(), &["rollout", c, "--driver", "simulate", "--from", "2026-12-01T10:00:00Z", "--as", "ops"]);
    let all = text(&out);
    assert!(all.contains("tenant shop-a: only inside a maintenance window"), "{all}");
    let trail = std::fs::read_to_string(dir.path().join(".ringfence/audit.jsonl")).unwrap();
    let waiting = trail.lines().find(|l| l.contains("\"tenant.waiting\"") && l.contains("shop-b")).expect(&trail);
    assert!(waiting.contains("2026-12-02T01:00:00Z"), "shop-b waits for 02:00 Paris: {waiting}");
    let started_b = trail.lines().find(|l| l.contains("\"tenant.started\"") && l.contains("shop-b")).expect(&trail);
    let at: jiff::Timestamp =
        serde_json::from_str::<Value>(started_b).unwrap()["ts"].as_str().unwrap().parse().unwrap();
    assert!(at >= "2026-12-02T01:00:00Z".parse().unwrap(), "shop-b started at {at}, inside its window");
    let no_slot = trail.lines().find(|l| l.contains("\"tenant.no-slot\"")).expect(&trail);
    assert!(no_slot.contains("shop-a") && no_slot.contains("rehearsal predicts"), "{no_slot}");
    assert_eq!(out.status.code(), Some(1), "the release is paused, not completed: {all}");
}
