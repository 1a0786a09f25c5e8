//! Throwaway PostgreSQL clusters for integration tests and `ringfence demo`.
//!
//! Responsible for the whole life of a private cluster: find the programs ([`crate::binaries`]),
//! `initdb` into a fresh temporary directory, pick a free port on 127.0.0.1, start the server tuned
//! for speed over durability (`fsync=off` and friends, so never for data anyone needs), offer
//! `psql` for setup SQL, and on [`EphemeralCluster::stop`] or drop shut the server down and delete
//! everything. Not responsible for production clusters, connection pooling or a client library.
//!
//! **Root.** PostgreSQL refuses to run as root. When the process is root, the server programs run
//! as the `postgres` system user through `runuser -u postgres --` (util-linux, on every Debian and
//! Ubuntu system; it keeps our environment and working directory and drops root's groups), and the temporary directory is created under `/tmp` and owned by that user so it can
//! be reached whatever root's `TMPDIR` is. `psql` connects over TCP as the `postgres` role with
//! `trust` authentication, so it runs as whoever we are.
//!
//! **Isolation.** Each cluster has its own directory (data, Unix socket, log) and its own port;
//! ports handed out in this process are remembered so two clusters started at once never pick the
//! same one, and a port taken by another process between our probe and the server's `bind` makes
//! the start retry on a new port.
//!
//! **Known gap.** Cleanup runs in `Drop`, which also runs when a test panics (unwinding), but not
//! when the process is killed with SIGKILL or aborts: then the postmaster keeps running and its
//! `/tmp/ringfence-pg-*` directory stays. Stop such leftovers with
//! `pg_ctl stop -m immediate -D /tmp/ringfence-pg-*/data` (as the `postgres` user when root).

use std::collections::BTreeSet;
use std::env;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, geteuid};
use tempfile::TempDir;

use crate::process::{describe, run};
use crate::quote::quote_ident;
use crate::{PgBinaries, PgError, PgTarget};

/// The only address the server listens on.
const HOST: &str = "127.0.0.1";
/// The superuser role `initdb` creates.
const SUPERUSER: &str = "postgres";
/// The system user the server runs as when we are root.
const SERVICE_USER: &str = "postgres";
/// How much of the server log goes into a start error.
const LOG_TAIL_LINES: usize = 30;
/// How long one `pg_ctl stop` attempt, and the wait for the process to vanish, may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start an [`EphemeralCluster`]; `StartOptions::default()` suits tests and the demo.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Directory with `initdb`, `pg_ctl` and `postgres`; overrides `RINGFENCE_PG_BIN` and discovery.
    pub bin_dir: Option<PathBuf>,
    /// The server's `max_connections`.
    pub max_connections: u32,
    /// Extra `postgresql.conf` settings as (name, value), applied after ours so they can override.
    pub settings: Vec<(String, String)>,
    /// How many ports to try when the chosen one turns out to be taken.
    pub start_attempts: u32,
    /// How long `pg_ctl start` may wait for the server to accept connections.
    pub start_timeout: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            bin_dir: None,
            max_connections: 100,
            settings: Vec::new(),
            start_attempts: 3,
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// A running PostgreSQL cluster in a temporary directory, stopped and deleted on drop.
#[derive(Debug)]
pub struct EphemeralCluster {
    binaries: PgBinaries,
    run_as: Option<ServiceUser>,
    /// `None` once [`EphemeralCluster::stop`] has removed it.
    dir: Option<TempDir>,
    root: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    /// 0 while no port is reserved.
    port: u16,
}

#[derive(Debug, Clone, Copy)]
struct ServiceUser {
    uid: u32,
    gid: u32,
}

#[derive(Debug, Clone, Copy)]
enum StopMode {
    /// Disconnects clients and writes a shutdown checkpoint.
    Fast,
    /// Kills everything at once; fine because the data is thrown away.
    Immediate,
}

impl StopMode {
    fn as_arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

impl EphemeralCluster {
    /// Starts a cluster with default options.
    pub fn start_default() -> Result<Self, PgError> {
        Self::start(StartOptions::default())
    }

    /// Creates, configures and starts a fresh cluster; on error nothing is left running.
    pub fn start(options: StartOptions) -> Result<Self, PgError> {
        let binaries = PgBinaries::locate(options.bin_dir.as_deref())?;
        let config = config_lines(&options)?;
        let run_as = if geteuid().is_root() { Some(service_user()?) } else { None };
        // Root's TMPDIR may sit under /root, which the service user cannot traverse; /tmp it can.
        let parent = if run_as.is_some() { PathBuf::from("/tmp") } else { env::temp_dir() };
        let dir = tempfile::Builder::new().prefix("ringfence-pg-").tempdir_in(&parent).map_err(|source| {
            PgError::Io { action: "create a temporary directory in", path: parent.clone(), source }
        })?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).map_err(|source| PgError::Io {
                action: "hand over to the postgres user",
                path: dir.path().to_path_buf(),
                source,
            })?;
        }
        let root = dir.path().to_path_buf();
        // From here on, Drop cleans up whatever a failing step leaves behind.
        let mut cluster = EphemeralCluster {
            binaries,
            run_as,
            dir: Some(dir),
            data_dir: root.join("data"),
            log_file: root.join("postgres.log"),
            root,
            port: 0,
        };
        cluster.initdb()?;
        cluster.append_config(&config)?;
        cluster.start_server(&options)?;
        Ok(cluster)
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host to connect to: always `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The superuser role to connect as (no password needed).
    pub fn user(&self) -> &str {
        SUPERUSER
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log file.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The directory of the server programs in use.
    pub fn bin_dir(&self) -> &Path {
        self.binaries.bin_dir()
    }

    /// All PostgreSQL programs in use, including `pg_dump` and `pg_restore`.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// A connection URL for database `dbname`, e.g. `postgres://postgres@127.0.0.1:PORT/shop`.
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://{SUPERUSER}@{HOST}:{}/{}", self.port, percent_encode(dbname))
    }

    /// The postmaster's process id, read from its pid file; `None` when no server runs.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Runs `sql` with `psql` in database `db`, stopping at the first error; returns the rows
    /// printed unaligned, one per line, `|` between columns, without headers or command tags.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, PgError> {
        crate::target::psql(&self.binaries, &self.target(), db, sql)
    }

    /// How to reach this cluster as its superuser (trust authentication, so no password).
    pub fn target(&self) -> PgTarget {
        PgTarget::new(HOST, self.port, SUPERUSER)
    }

    /// Creates database `name` (quoted, so any name works).
    pub fn create_database(&self, name: &str) -> Result<(), PgError> {
        self.psql("postgres", &format!("CREATE DATABASE {}", quote_ident(name))).map(drop)
    }

    /// Stops the server (fast, then immediate, then SIGKILL) and deletes its directory, reporting
    /// what failed; dropping does the same but can only print errors.
    pub fn stop(mut self) -> Result<(), PgError> {
        self.shutdown(&[StopMode::Fast, StopMode::Immediate])?;
        self.release_port();
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            dir.close().map_err(|source| PgError::Io { action: "remove", path, source })?;
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), PgError> {
        let mut cmd = self.server_command(&self.binaries.initdb());
        cmd.arg("-D").arg(&self.data_dir).args(["-U", SUPERUSER, "-A", "trust", "--no-sync"]).args([
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        run(cmd).map(drop)
    }

    fn append_config(&self, lines: &str) -> Result<(), PgError> {
        let path = self.data_dir.join("postgresql.conf");
        let socket_dir = conf_quote(&self.root.to_string_lossy());
        let ours = format!(
            "\n# ringfence-pg: throwaway cluster, speed over durability\n\
             listen_addresses = '{HOST}'\n\
             unix_socket_directories = {socket_dir}\n\
             {lines}"
        );
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(ours.as_bytes()))
            .map_err(|source| PgError::Io { action: "append settings to", path, source })
    }

    fn start_server(&mut self, options: &StartOptions) -> Result<(), PgError> {
        let attempts = options.start_attempts.max(1);
        let timeout_secs = options.start_timeout.as_secs().max(1).to_string();
        for attempt in 1..=attempts {
            self.release_port();
            self.port = reserve_port()?;
            let log_start = fs::metadata(&self.log_file).map_or(0, |m| m.len());
            let mut cmd = self.server_command(&self.binaries.pg_ctl());
            cmd.args(["start", "-w", "-t", &timeout_secs, "-D"])
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_file)
                // The port is the one setting that changes between attempts, so it is not in the file.
                .args(["-o", &format!("-p {}", self.port)]);
            let command = describe(&cmd);
            let output = cmd.output().map_err(|source| PgError::Spawn { command: command.clone(), source })?;
            if output.status.success() {
                return Ok(());
            }
            // pg_ctl may give up waiting while the postmaster still runs; never leave it behind.
            let _ = self.shutdown(&[StopMode::Immediate]);
            let log_tail = read_tail(&self.log_file, log_start, LOG_TAIL_LINES);
            if log_tail.contains("Address already in use") && attempt < attempts {
                continue;
            }
            return Err(PgError::StartFailed {
                command,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                attempts: attempt,
                log: self.log_file.clone(),
                log_tail,
            });
        }
        unreachable!("the last attempt returns")
    }

    /// Stops the postmaster if one runs, trying `modes` in order and SIGKILL last.
    fn shutdown(&mut self, modes: &[StopMode]) -> Result<(), PgError> {
        let Some(pid) = self.postmaster_pid() else {
            return Ok(());
        };
        let mut failures = Vec::new();
        for &mode in modes {
            if !self.is_our_postmaster(pid) {
                return Ok(());
            }
            let mut cmd = self.server_command(&self.binaries.pg_ctl());
            cmd.args(["stop", "-w", "-t"])
                .arg(STOP_TIMEOUT.as_secs().to_string())
                .args(["-m", mode.as_arg(), "-D"])
                .arg(&self.data_dir);
            match run(cmd) {
                // pg_ctl returns when the pid file is gone; the port is free only once the process is.
                Ok(_) if self.wait_until_gone(pid) => return Ok(()),
                Ok(_) => failures.push(format!("{} stop returned but process lives", mode.as_arg())),
                Err(err) => failures.push(err.to_string()),
            }
        }
        if !self.is_our_postmaster(pid) {
            return Ok(());
        }
        // Checked above that the pid is still our postmaster, so this cannot hit a reused pid.
        if let Err(errno) = kill(Pid::from_raw(pid), Signal::SIGKILL) {
            failures.push(format!("SIGKILL: {errno}"));
        }
        if self.wait_until_gone(pid) {
            return Ok(());
        }
        Err(PgError::StopFailed { pid, data_dir: self.data_dir.clone(), detail: failures.join("; ") })
    }

    /// True while `pid` is a live process started on our data directory (not a zombie, not reused).
    fn is_our_postmaster(&self, pid: i32) -> bool {
        // A zombie's cmdline is empty, and a reused pid belongs to a process without our path.
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        let needle = self.data_dir.as_os_str().as_encoded_bytes();
        cmdline.windows(needle.len()).any(|w| w == needle)
    }

    fn wait_until_gone(&self, pid: i32) -> bool {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.is_our_postmaster(pid) {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn release_port(&mut self) {
        if self.port != 0 {
            reserved_ports().remove(&self.port);
            self.port = 0;
        }
    }

    /// A command for a server program: as the service user when root, in our directory, English
    /// messages (start retries look for "Address already in use" in the log).
    fn server_command(&self, program: &Path) -> Command {
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", SERVICE_USER, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.current_dir(&self.root).env("LC_ALL", "C").env_remove("PGDATA").stdin(Stdio::null());
        cmd
    }
}

impl Drop for EphemeralCluster {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown(&[StopMode::Immediate]) {
            // Keep the directory: deleting it under a live server helps nobody; the log may.
            if let Some(dir) = self.dir.take() {
                // Best effort, not `eprintln!`: a closed stderr must not panic a drop.
                let _ = writeln!(io::stderr(), "ringfence-pg: {err}; leaving {} in place", dir.keep().display());
            }
        }
        self.release_port();
    }
}

fn service_user() -> Result<ServiceUser, PgError> {
    match User::from_name(SERVICE_USER) {
        Ok(Some(user)) => Ok(ServiceUser { uid: user.uid.as_raw(), gid: user.gid.as_raw() }),
        _ => Err(PgError::NoServiceUser { user: SERVICE_USER.to_owned() }),
    }
}

fn reserved_ports() -> std::sync::MutexGuard<'static, BTreeSet<u16>> {
    static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    // The set stays consistent even if a holder panicked: every operation is a single insert/remove.
    RESERVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Asks the kernel for a free port and remembers it so no other cluster in this process takes it.
fn reserve_port() -> Result<u16, PgError> {
    for _ in 0..64 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(PgError::NoFreePort)?;
        let port = listener.local_addr().map_err(PgError::NoFreePort)?.port();
        if reserved_ports().insert(port) {
            return Ok(port);
        }
    }
    Err(PgError::NoFreePort(io::Error::other(
        "the kernel kept offering ports already used by other clusters in this process",
    )))
}

/// Our settings plus the caller's, as `postgresql.conf` lines.
fn config_lines(options: &StartOptions) -> Result<String, PgError> {
    let ours = [
        ("fsync", "off".to_owned()),
        ("synchronous_commit", "off".to_owned()),
        ("full_page_writes", "off".to_owned()),
        ("max_connections", options.max_connections.to_string()),
    ];
    let theirs = options.settings.iter().map(|(k, v)| (k.as_str(), v.clone()));
    let mut lines = String::new();
    for (name, value) in ours.into_iter().chain(theirs) {
        let valid_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_name {
            return Err(PgError::InvalidOption {
                detail: format!("setting name {name:?} is not a PostgreSQL parameter name"),
            });
        }
        if value.contains(['\n', '\r']) {
            return Err(PgError::InvalidOption { detail: format!("value of setting {name} contains a line break") });
        }
        lines.push_str(&format!("{name} = {}\n", conf_quote(&value)));
    }
    Ok(lines)
}

/// A `postgresql.conf` string literal; any parameter type accepts a quoted value.
fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The last `lines` lines of `path` written after byte `from`.
fn read_tail(path: &Path, from: u64, lines: usize) -> String {
    let mut bytes = Vec::new();
    let read = fs::File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(from))?;
        file.read_to_end(&mut bytes)
    });
    if let Err(err) = read {
        return format!("(could not read the log: {err})");
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(conf_quote(r"/tmp/it's\here"), r"'/tmp/it''s\\here'");
        assert_eq!(percent_encode("shop-1_a.b~c"), "shop-1_a.b~c");
        assert_eq!(percent_encode("a b/ä"), "a%20b%2F%C3%A4");
    }

    #[test]
    fn caller_settings_follow_ours_and_bad_names_are_refused() {
        let options =
            StartOptions { settings: vec![("shared_buffers".into(), "16MB".into())], ..StartOptions::default() };
        let lines = config_lines(&options).unwrap();
        assert!(lines.contains("fsync = 'off'\n"), "{lines}");
        assert!(lines.contains("max_connections = '100'\n"), "{lines}");
        assert!(lines.ends_with("shared_buffers = '16MB'\n"), "{lines}");

        let bad = StartOptions { settings: vec![("fsync = on\nport".into(), "1".into())], ..StartOptions::default() };
        assert!(matches!(config_lines(&bad), Err(PgError::InvalidOption { .. })));
    }

    #[test]
    fn log_tail_starts_at_offset_and_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        fs::write(&log, "old failure\nline 1\nline 2\nline 3\n").unwrap();
        assert_eq!(read_tail(&log, 12, 2), "line 2\nline 3");
        assert_eq!(read_tail(&log, 12, 10), "line 1\nline 2\nline 3");
        assert!(read_tail(&dir.path().join("absent"), 0, 5).contains("could not read"));
    }

    #[test]
    fn ports_are_not_handed_out_twice() {
        let ports: Vec<u16> = (0..20).map(|_| reserve_port().unwrap()).collect();
        let unique: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
        let mut reserved = reserved_ports();
        for port in ports {
            reserved.remove(&port);
        }
    }
}
