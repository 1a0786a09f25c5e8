//! Shared test fixtures: one throwaway PostgreSQL cluster per test binary (shared by the tests that
//! run at the same time, stopped when the last of them drops it), a fresh database per test, and the
//! real `storefront` binary run as a process.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ringfence_pg::ephemeral::EphemeralCluster;

static SHARED: Mutex<Weak<EphemeralCluster>> = Mutex::new(Weak::new());
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_storefront");

/// A database of its own in the shared cluster.
pub struct TestDb {
    pub cluster: Arc<EphemeralCluster>,
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A new empty database named after `prefix`.
    pub fn new(prefix: &str) -> TestDb {
        let cluster = {
            let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            match shared.upgrade() {
                Some(cluster) => cluster,
                None => {
                    let cluster = Arc::new(EphemeralCluster::start_default().unwrap_or_else(|err| panic!("{err}")));
                    *shared = Arc::downgrade(&cluster);
                    cluster
                }
            }
        };
        let name = format!("{prefix}_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        cluster.create_database(&name).unwrap_or_else(|err| panic!("{err}"));
        let url = cluster.url(&name);
        TestDb { cluster, name, url }
    }

    /// A database migrated to `version` and seeded with `products` products.
    pub fn ready(prefix: &str, version: &str, products: usize) -> TestDb {
        let db = TestDb::new(prefix);
        db.ok(&["migrate", "--to", version]);
        if products > 0 {
            db.ok(&["seed", "--products", &products.to_string()]);
        }
        db
    }

    /// Runs SQL through psql and returns its unaligned output, trimmed.
    pub fn sql(&self, sql: &str) -> String {
        self.cluster.psql(&self.name, sql).unwrap_or_else(|err| panic!("{err}")).trim().to_string()
    }

    /// Runs `storefront <command> --database-url URL <rest>`.
    pub fn run(&self, args: &[&str]) -> Output {
        let (command, rest) = args.split_first().expect("a subcommand");
        Command::new(BIN).arg(command).args(["--database-url", &self.url]).args(rest).output().expect("run storefront")
    }

    /// Like [`TestDb::run`], asserting success.
    pub fn ok(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        assert!(output.status.success(), "storefront {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    /// Starts `storefront serve` on a free port with `code_version`.
    pub fn serve(&self, code_version: &str, tenant: &str) -> Served {
        Served::start(&self.url, code_version, tenant)
    }
}

/// A running `storefront serve` process, killed on drop.
pub struct Served {
    child: Child,
    /// e.g. `http://127.0.0.1:40123`.
    pub base: String,
}

impl Served {
    fn start(url: &str, code_version: &str, tenant: &str) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--database-url", url, "--listen", "127.0.0.1:0", "--code-version", code_version])
            .args(["--tenant", tenant])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn storefront serve");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(20));
        let Ok(line) = line else {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait");
            panic!("storefront serve did not start: {}", String::from_utf8_lossy(&output.stderr));
        };
        let addr = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Served { child, base: format!("http://{addr}") }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("send SIGTERM");
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("storefront did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for the tests (no proxy, short timeout).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client")
}

/// The value of a sample line `name{labels} value` in a metrics exposition; 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

/// Creates a cart holding `items` (sku, qty) and returns its id.
pub async fn cart_with(client: &reqwest::Client, served: &Served, items: &[(&str, i32)]) -> i64 {
    let response = client.post(served.url("/carts")).send().await.expect("create cart");
    assert_eq!(response.status(), 201);
    let cart: serde_json::Value = response.json().await.expect("json");
    let cart_id = cart["cart_id"].as_i64().expect("cart_id");
    for (sku, qty) in items {
        let response = client
            .post(served.url(&format!("/carts/{cart_id}/items")))
            .json(&serde_json::json!({ "sku": sku, "qty": qty }))
            .send()
            .await
            .expect("add item");
        assert_eq!(response.status(), 200, "add {sku}");
    }
    cart_id
}

/// Checks out `cart_id` with `key`; returns the status and the JSON body.
pub async fn checkout(client: &reqwest::Client, served: &Served, cart_id: i64, key: &str) -> (u16, serde_json::Value) {
    let response = client
        .post(served.url(&format!("/carts/{cart_id}/checkout")))
        .header("Idempotency-Key", key)
        .send()
        .await
        .expect("checkout");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}
