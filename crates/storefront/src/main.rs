//! The `storefront` binary: parses arguments, runs one library call, maps the result to an exit code.
//!
//! Exit codes: 0 success; 1 failure (database unreachable, migration failed halfway); 2 usage error
//! or a code version that cannot run on the database's schema; 3 another migration holds the lock.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use storefront::app::{self, ServeConfig};
use storefront::shopper::{Shopper, ShopperConfig, TrafficMix};
use storefront::{CodeVersion, StorefrontError, maintenance, migrate, seed};

#[derive(Debug, Parser)]
#[command(name = "storefront", about = "A small retail shop that stands in for Odoo in Ringfence's demo and tests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one tenant over HTTP.
    Serve {
        /// The tenant database, e.g. postgres://postgres@127.0.0.1:5432/shop.
        #[arg(long)]
        database_url: String,
        /// Address to listen on; port 0 picks a free port (printed on stdout).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Which release's code to run: v1, v2, v3 or v4.
        #[arg(long, value_parser = parse_version)]
        code_version: CodeVersion,
        /// The tenant id (metrics labels; seeds v3's faults).
        #[arg(long)]
        tenant: String,
        /// Database connections this process may open.
        #[arg(long, default_value_t = 4)]
        pool_size: usize,
    },
    /// Migrate the database to a release's schema (the analogue of `odoo -u`).
    Migrate {
        /// The tenant database.
        #[arg(long)]
        database_url: String,
        /// The release to migrate to: v1, v2, v3 or v4.
        #[arg(long, value_parser = parse_version)]
        to: CodeVersion,
    },
    /// Load products (idempotent).
    Seed {
        /// The tenant database.
        #[arg(long)]
        database_url: String,
        /// How many products.
        #[arg(long)]
        products: usize,
        /// Seed for names and prices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Switch maintenance mode on or off.
    Maintenance {
        /// The tenant database.
        #[arg(long)]
        database_url: String,
        /// on or off.
        state: Switch,
    },
    /// Drive shopper traffic against a storefront and print the counts.
    Shop {
        /// The storefront, e.g. http://127.0.0.1:8080 (loopback only).
        #[arg(long)]
        base_url: String,
        /// Actions per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// How long, e.g. 30s or 2m.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        duration: Duration,
        /// The tenant id (for the report and idempotency keys).
        #[arg(long, default_value = "tenant")]
        tenant: String,
        /// Seed for every random choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

fn parse_version(s: &str) -> Result<CodeVersion, String> {
    s.parse().map_err(|err: StorefrontError| err.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration =
        s.parse().map_err(|err| format!("{s:?} is not a duration like 30s or 2m: {err}"))?;
    Duration::try_from(parsed).map_err(|_| format!("{s:?} must not be negative"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    // One process per tenant, a dozen of them on two cores: keep each small.
    let runtime = if serving {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("storefront: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("storefront: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

fn exit_code(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<StorefrontError>() {
        Some(StorefrontError::MigrationLocked { .. }) => 3,
        Some(
            StorefrontError::IncompatibleSchema { .. }
            | StorefrontError::NotMigrated
            | StorefrontError::DatabaseUrl(_)
            | StorefrontError::UnknownVersion(_),
        ) => 2,
        _ => 1,
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { database_url, listen, code_version, tenant, pool_size } => {
            let server =
                app::bind(ServeConfig { database_url, listen, code_version, tenant: tenant.clone(), pool_size })
                    .await?;
            // The driver waits for this exact line.
            println!("listening on {}", server.local_addr());
            eprintln!("storefront {code_version} for tenant {tenant} on schema {}", server.schema_version());
            server.run(shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate { database_url, to } => {
            let report = migrate::migrate(&database_url, to, &mut |line| eprintln!("{line}")).await?;
            eprintln!(
                "migration run {}: {} (schema {} -> {})",
                report.run_id, report.outcome, report.from_schema, report.to_schema
            );
            Ok(())
        }
        Command::Seed { database_url, products, seed } => {
            let inserted = seed::seed(&database_url, products, seed).await?;
            eprintln!("seeded {inserted} new products ({products} wanted)");
            Ok(())
        }
        Command::Maintenance { database_url, state } => {
            maintenance::set_maintenance(&database_url, matches!(state, Switch::On)).await?;
            eprintln!("maintenance {}", if matches!(state, Switch::On) { "on" } else { "off" });
            Ok(())
        }
        Command::Shop { base_url, rate, duration, tenant, seed, json } => {
            ensure_loopback(&base_url)?;
            let handle = Shopper::spawn(ShopperConfig {
                tenant,
                base_url,
                rate_per_sec: rate,
                mix: TrafficMix::default(),
                seed,
            });
            tokio::time::sleep(duration).await;
            let stats = handle.stop().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats).context("encode the stats")?);
            } else {
                println!(
                    "{}: {} orders acknowledged, {} rejected (503), {} failed, {} conflicts; p95 {} ms",
                    stats.tenant,
                    stats.orders_acknowledged,
                    stats.rejected,
                    stats.failed,
                    stats.conflicts,
                    stats.latency.p95_ms
                );
            }
            Ok(())
        }
    }
}

/// Refuses to send traffic anywhere but this machine.
fn ensure_loopback(base_url: &str) -> anyhow::Result<()> {
    let rest = base_url.strip_prefix("http://").context("--base-url must start with http://")?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    anyhow::ensure!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "--base-url must point at this machine (127.0.0.1), got {host:?}"
    );
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
