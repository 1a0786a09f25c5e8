//! `storefront migrate` and `storefront serve`'s schema check against a real PostgreSQL.

mod common;

use common::{TestDb, http};
use storefront::migrate::MIGRATION_LOCK_KEY;

/// (from_version, to_version, outcome) of every recorded run, oldest first.
fn runs(db: &TestDb) -> String {
    db.sql("SELECT from_version || '>' || to_version || ':' || outcome FROM storefront_migration_runs ORDER BY id")
}

#[tokio::test]
async fn v1_to_v2_adds_columns_index_and_backfill_and_v1_still_serves() {
    let db = TestDb::ready("v1_to_v2", "v1", 1_200);
    assert_eq!(db.sql("SELECT version FROM storefront_schema"), "1");
    // v1 takes an order before the migration, so the new column's default must cover old rows.
    let served = db.serve("v1", "t-mig");
    let client = http();
    let cart: serde_json::Value = client.post(served.url("/carts")).send().await.unwrap().json().await.unwrap();
    let cart_id = cart["cart_id"].as_i64().unwrap();
    let added = client
        .post(served.url(&format!("/carts/{cart_id}/items")))
        .json(&serde_json::json!({"sku": "SKU-000001", "qty": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let checkout = client
        .post(served.url(&format!("/carts/{cart_id}/checkout")))
        .header("Idempotency-Key", "k1")
        .send()
        .await
        .unwrap();
    assert_eq!(checkout.status(), 201);

    let output = db.ok(&["migrate", "--to", "v2"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 1,200 rows in batches of 500: three batches, each reported.
    assert_eq!(stderr.matches("backfill products.search_name: batch").count(), 3, "{stderr}");
    assert_eq!(db.sql("SELECT version FROM storefront_schema"), "2");
    assert_eq!(
        db.sql(
            "SELECT column_default || ' ' || is_nullable FROM information_schema.columns \
             WHERE table_name = 'orders' AND column_name = 'channel'"
        ),
        "'web'::text NO"
    );
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE '%(created_at)%'"),
        "1"
    );
    assert_eq!(db.sql("SELECT count(*) FROM products WHERE search_name IS NULL"), "0");
    assert_eq!(db.sql("SELECT count(*) FROM products WHERE search_name = lower(name)"), "1200");
    assert_eq!(db.sql("SELECT channel FROM orders"), "web");

    // The v1 process started on schema 1 keeps working on schema 2, and a fresh v1 starts on it.
    let second = client.post(served.url("/carts")).send().await.unwrap();
    assert_eq!(second.status(), 201);
    drop(served);
    let v1_again = db.serve("v1", "t-mig");
    let health: serde_json::Value = client.get(v1_again.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["schema_version"], 2);
    assert_eq!(health["code_version"], "v1");
    assert_eq!(runs(&db), "0>1:ok\n1>2:ok");
}

#[tokio::test]
async fn migrate_refuses_while_another_holds_the_lock_and_records_every_run() {
    let db = TestDb::ready("locked", "v1", 0);
    // Hold the advisory lock on a session of our own, as a concurrent migration would.
    let (holder, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let granted: bool =
        holder.query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY]).await.unwrap().get(0);
    assert!(granted);

    let refused = db.run(&["migrate", "--to", "v2"]);
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("another migration is running on this database"), "{stderr}");
    assert_eq!(db.sql("SELECT version FROM storefront_schema"), "1");
    // A refused run touched nothing, not even the run log.
    assert_eq!(runs(&db), "0>1:ok");

    // Release it the way the holder's session ending would (this test's runtime is single-threaded,
    // so a dropped client's socket would only close when the runtime next polls it).
    let released: bool =
        holder.query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]).await.unwrap().get(0);
    assert!(released);
    db.ok(&["migrate", "--to", "v2"]);
    db.ok(&["migrate", "--to", "v3"]);
    db.ok(&["migrate", "--to", "v1"]);
    assert_eq!(runs(&db), "0>1:ok\n1>2:ok\n2>3:noop\n2>1:noop");
    assert_eq!(db.sql("SELECT version FROM storefront_schema"), "2");
    assert_eq!(db.sql("SELECT count(*) FROM storefront_migration_runs WHERE finished_at IS NULL"), "0");
    assert!(db.sql("SELECT detail FROM storefront_migration_runs WHERE to_version = 3").contains("code-only"));
}

#[tokio::test]
async fn v4_fails_halfway_leaving_its_first_part_and_a_failed_run() {
    let db = TestDb::ready("v4_half", "v2", 10);
    let output = db.run(&["migrate", "--to", "v4"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(r#"module pos_loyalty: column "card_no" does not exist"#), "{stderr}");
    assert_eq!(db.sql("SELECT version FROM storefront_schema"), "2");
    // The half that committed is there: the database changed although its version did not.
    assert_eq!(db.sql("SELECT to_regclass('loyalty_cards') IS NOT NULL"), "t");
    assert_eq!(
        db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'loyalty_card_id'"),
        "1"
    );
    assert_eq!(runs(&db), "0>2:ok\n2>4:failed");
    assert!(db.sql("SELECT detail FROM storefront_migration_runs WHERE outcome = 'failed'").contains("card_no"));
    // v4's code refuses the half-migrated database; v2's still runs on it.
    let refused = db.run(&["serve", "--listen", "127.0.0.1:0", "--code-version", "v4", "--tenant", "t"]);
    assert_eq!(refused.status.code(), Some(2));
    let served = db.serve("v2", "t-v4");
    assert_eq!(http().get(served.url("/health")).send().await.unwrap().status(), 200);
}

#[test]
fn serve_refuses_a_schema_its_code_cannot_run_on() {
    let db = TestDb::ready("refuse", "v1", 0);
    for code in ["v2", "v3", "v4"] {
        let output = db.run(&["serve", "--listen", "127.0.0.1:0", "--code-version", code, "--tenant", "t"]);
        assert_eq!(output.status.code(), Some(2), "{code} on schema 1");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("code {code} cannot run on schema 1")), "{stderr}");
        assert!(output.stdout.is_empty(), "it must not claim to listen");
    }
    let empty = TestDb::new("refuse_empty");
    let output = empty.run(&["serve", "--listen", "127.0.0.1:0", "--code-version", "v1", "--tenant", "t"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("migrate"), "the message says what to do");
}
