//! Throwaway clusters against the real PostgreSQL on this machine. These tests fail (never skip)
//! when PostgreSQL is missing, with the message that says what to install.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ringfence_pg::{EphemeralCluster, PgError, StartOptions};

fn start() -> EphemeralCluster {
    let began = Instant::now();
    let cluster = EphemeralCluster::start_default().unwrap_or_else(|err| panic!("{err}"));
    eprintln!("cluster on port {} started in {:?}", cluster.port(), began.elapsed());
    cluster
}

/// What a dropped cluster must leave behind: nothing.
struct Footprint {
    port: u16,
    pid: i32,
    root: PathBuf,
    data_dir: PathBuf,
}

impl Footprint {
    fn of(cluster: &EphemeralCluster) -> Self {
        let pid = cluster.postmaster_pid().expect("a running cluster has a pid file");
        Self {
            port: cluster.port(),
            pid,
            root: cluster.socket_dir().to_path_buf(),
            data_dir: cluster.data_dir().to_path_buf(),
        }
    }

    fn assert_gone(&self) {
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err(),
            "something still accepts connections on port {}",
            self.port
        );
        TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))
            .unwrap_or_else(|err| panic!("port {} is not free: {err}", self.port));
        assert!(!self.data_dir.exists(), "{} remains", self.data_dir.display());
        assert!(!self.root.exists(), "{} remains", self.root.display());
        let leftovers = processes_mentioning(&self.data_dir, self.pid);
        assert!(leftovers.is_empty(), "processes remain: {leftovers:?}");
    }
}

/// Live processes whose command line names `data_dir` or whose parent is `postmaster`
/// (backends rename themselves, so the parent link is how to find them).
fn processes_mentioning(data_dir: &Path, postmaster: i32) -> Vec<String> {
    let needle = data_dir.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let (Ok(cmdline), Ok(stat)) =
            (fs::read(entry.path().join("cmdline")), fs::read_to_string(entry.path().join("stat")))
        else {
            continue; // exited while we looked
        };
        // stat is "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'.
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let mut fields = after_comm.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state == "Z" {
            continue; // exited; only waits for a reaper, holds no port or files
        }
        let names_dir = cmdline.windows(needle.len()).any(|w| w == needle);
        if names_dir || pid == postmaster || ppid == postmaster {
            found.push(format!("{pid}: {}", String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

#[test]
fn create_table_insert_and_read_back() {
    let cluster = start();
    cluster.create_database("shop_eu").unwrap();
    let out = cluster
        .psql(
            "shop_eu",
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL);
             INSERT INTO orders VALUES (1, 19.90), (2, 5.00);
             SELECT id, total FROM orders ORDER BY id;",
        )
        .unwrap();
    assert_eq!(out, "1|19.90\n2|5.00\n");

    // The database really is separate from the default one.
    let where_it_lives = cluster.psql("postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'").unwrap();
    assert_eq!(where_it_lives.trim(), "0");

    assert_eq!(cluster.url("shop_eu"), format!("postgres://postgres@127.0.0.1:{}/shop_eu", cluster.port()));
    assert_eq!(cluster.host(), "127.0.0.1");
    assert_eq!(cluster.user(), "postgres");
    assert!(cluster.bin_dir().join("initdb").is_file());
    assert!(cluster.binaries().pg_dump().is_file());
    assert!(cluster.binaries().pg_restore().is_file());
}

#[test]
fn server_runs_with_the_throwaway_settings() {
    let cluster = start();
    let out = cluster
        .psql(
            "postgres",
            "SHOW fsync; SHOW synchronous_commit; SHOW full_page_writes; \
             SHOW listen_addresses; SHOW max_connections; SHOW server_encoding; \
             SHOW unix_socket_directories;",
        )
        .unwrap();
    let expected = format!("off\noff\noff\n127.0.0.1\n100\nUTF8\n{}\n", cluster.socket_dir().display());
    assert_eq!(out, expected);
    let socket = cluster.socket_dir().join(format!(".s.PGSQL.{}", cluster.port()));
    assert!(socket.exists(), "{} missing", socket.display());
}

#[test]
fn extra_settings_override_defaults() {
    let cluster = EphemeralCluster::start(StartOptions {
        max_connections: 20,
        settings: vec![("work_mem".into(), "8MB".into())],
        ..StartOptions::default()
    })
    .unwrap_or_else(|err| panic!("{err}"));
    let out = cluster.psql("postgres", "SHOW max_connections; SHOW work_mem;").unwrap();
    assert_eq!(out, "20\n8MB\n");
}

#[test]
fn two_clusters_at_once_are_independent() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(start);
        let b = s.spawn(start);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());

    a.create_database("tenant_a").unwrap();
    b.create_database("tenant_b").unwrap();
    let list = "SELECT datname FROM pg_database WHERE datname LIKE 'tenant_%' ORDER BY 1";
    assert_eq!(a.psql("postgres", list).unwrap(), "tenant_a\n");
    assert_eq!(b.psql("postgres", list).unwrap(), "tenant_b\n");
}

#[test]
fn drop_frees_the_port_and_removes_every_trace() {
    let cluster = start();
    // An open session must not keep anything alive past drop.
    cluster.psql("postgres", "SELECT 1").unwrap();
    let footprint = Footprint::of(&cluster);
    assert!(!processes_mentioning(&footprint.data_dir, footprint.pid).is_empty());
    drop(cluster);
    footprint.assert_gone();
}

#[test]
fn explicit_stop_reports_success_and_removes_every_trace() {
    let cluster = start();
    let footprint = Footprint::of(&cluster);
    cluster.stop().unwrap();
    footprint.assert_gone();
}

#[test]
fn a_panicking_test_body_still_stops_the_cluster() {
    let cluster = start();
    let footprint = Footprint::of(&cluster);
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || {
        let cluster = cluster; // owned by the closure, dropped while unwinding
        cluster.psql("postgres", "SELECT 1").unwrap();
        panic!("test body failed");
    }));
    assert!(outcome.is_err());
    footprint.assert_gone();
}

#[test]
fn sql_errors_name_the_command_and_say_what_postgres_said() {
    let cluster = start();
    let err = cluster.psql("postgres", "SELECT 1;\nSELEC oops;\nSELECT 2;").unwrap_err();
    let PgError::CommandFailed { command, stderr, .. } = &err else {
        panic!("expected CommandFailed, got {err:?}");
    };
    assert!(command.starts_with("psql -d postgres"), "{command}");
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(err.to_string().contains("SELEC oops"), "{err}");

    let missing = cluster.psql("no_such_db", "SELECT 1").unwrap_err();
    assert!(missing.to_string().contains("\"no_such_db\" does not exist"), "{missing}");
}

#[test]
fn bogus_bin_dir_says_what_to_install() {
    let bogus = tempfile::tempdir().unwrap();
    let err =
        EphemeralCluster::start(StartOptions { bin_dir: Some(bogus.path().join("bin")), ..StartOptions::default() })
            .unwrap_err();
    assert!(matches!(err, PgError::NotInstalled { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("initdb, pg_ctl, postgres"), "{message}");
    assert!(message.contains("apt-get install -y postgresql"), "{message}");
    assert!(message.contains("RINGFENCE_PG_BIN"), "{message}");
}

#[test]
fn a_server_that_will_not_start_reports_its_log() {
    let err = EphemeralCluster::start(StartOptions {
        settings: vec![("shared_buffers".into(), "not-a-size".into())],
        ..StartOptions::default()
    })
    .unwrap_err();
    let PgError::StartFailed { log_tail, attempts, .. } = &err else {
        panic!("expected StartFailed, got {err:?}");
    };
    assert_eq!(*attempts, 1, "a bad setting is not worth another port");
    assert!(log_tail.contains("shared_buffers"), "{log_tail}");
    assert!(err.to_string().contains("last lines of"), "{err}");
}
