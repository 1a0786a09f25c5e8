//! Tenant app processes: started in process groups of their own on loopback ports, stopped gracefully
//! (SIGTERM, then SIGKILL), tracked in pid files so that a controller started after a crash can find
//! and stop what the dead one left running, and all stopped when the supervisor is dropped — also when
//! the controller panics (unwinding) or is interrupted (the binary drops it on Ctrl-C).
//!
//! Not responsible for what the processes do; health is checked by the driver over HTTP.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::LocalError;

/// What a pid file records about a running app process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppProcess {
    /// Process id (also its process group id).
    pub pid: u32,
    /// The version it serves.
    pub version: String,
    /// Its loopback port.
    pub port: u16,
}

/// Starts, stops and remembers one app process per tenant.
pub struct Supervisor {
    dir: PathBuf,
    running: BTreeMap<String, (AppProcess, Option<Child>)>,
}

impl Supervisor {
    /// A supervisor keeping pid files and logs under `dir`. Processes a previous controller left running
    /// (found by their pid files) are adopted: they can be stopped, and are stopped on drop.
    pub fn new(dir: &Path) -> Result<Self, LocalError> {
        fs::create_dir_all(dir).map_err(|e| LocalError::io(dir, e))?;
        let mut running = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(|e| LocalError::io(dir, e))? {
            let path = entry.map_err(|e| LocalError::io(dir, e))?.path();
            if path.extension().is_none_or(|e| e != "pid") {
                continue;
            }
            let Some(tenant) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
            let text = fs::read_to_string(&path).map_err(|e| LocalError::io(&path, e))?;
            match serde_json::from_str::<AppProcess>(&text) {
                Ok(app) if alive(app.pid) => {
                    running.insert(tenant, (app, None));
                }
                // Stale or damaged: the process is gone, so is the record.
                _ => fs::remove_file(&path).map_err(|e| LocalError::io(&path, e))?,
            }
        }
        Ok(Supervisor { dir: dir.to_owned(), running })
    }

    /// The process serving `tenant`, if any.
    pub fn get(&self, tenant: &str) -> Option<&AppProcess> {
        self.running.get(tenant).map(|(app, _)| app)
    }

    /// Starts `command` for `tenant` (serving `version` on `port`) in `dir` (see
    /// [`crate::driver::program_in`]), with output appended to the tenant's log. Stops whatever
    /// served the tenant before.
    pub fn start(
        &mut self,
        tenant: &str,
        version: &str,
        port: u16,
        command: &[String],
        dir: Option<&Path>,
    ) -> Result<AppProcess, LocalError> {
        self.stop(tenant)?;
        let mut cmd =
            crate::driver::command_in(command, dir).ok_or_else(|| LocalError::Config("empty app command".into()))?;
        let log_path = self.dir.join(format!("{tenant}.log"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| LocalError::io(&log_path, e))?;
        let err_log = log.try_clone().map_err(|e| LocalError::io(&log_path, e))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            // A group of its own: stopping the tenant stops everything it started, and a Ctrl-C in the
            // controller's terminal does not reach it before the controller has decided what to do.
            .process_group(0)
            .spawn()
            .map_err(|e| LocalError::Spawn { command: command.join(" "), source: e })?;
        let app = AppProcess { pid: child.id(), version: version.to_owned(), port };
        let pid_path = self.pid_path(tenant);
        fs::write(&pid_path, serde_json::to_vec(&app).expect("serialisable"))
            .map_err(|e| LocalError::io(&pid_path, e))?;
        // Outlives the process: the version a tenant is on, for whoever starts it next.
        let version_path = self.dir.join(format!("{tenant}.version"));
        fs::write(&version_path, version).map_err(|e| LocalError::io(&version_path, e))?;
        self.running.insert(tenant.to_owned(), (app.clone(), Some(child)));
        Ok(app)
    }

    /// The version the tenant was last started at, even if its process is gone.
    pub fn recorded_version(&self, tenant: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(format!("{tenant}.version"))).ok().map(|v| v.trim().to_owned())
    }

    /// Whether the tenant's process has exited (it was started by this supervisor and died).
    pub fn exited(&mut self, tenant: &str) -> Option<String> {
        let (_, child) = self.running.get_mut(tenant)?;
        let status = child.as_mut()?.try_wait().ok()??;
        Some(status.to_string())
    }

    /// Stops the tenant's process: SIGTERM to its group, SIGKILL after 5 s. No process is not an error.
    pub fn stop(&mut self, tenant: &str) -> Result<(), LocalError> {
        let Some((app, child)) = self.running.remove(tenant) else { return Ok(()) };
        terminate(app.pid, child);
        let pid_path = self.pid_path(tenant);
        match fs::remove_file(&pid_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LocalError::io(&pid_path, e)),
        }
    }

    /// Stops every process.
    pub fn stop_all(&mut self) {
        let tenants: Vec<String> = self.running.keys().cloned().collect();
        for tenant in tenants {
            if let Err(e) = self.stop(&tenant) {
                // Best effort, not `eprintln!`: a closed stderr must not panic a controller that is
                // stopping its tenants.
                let _ = writeln!(std::io::stderr(), "ringfence: stopping {tenant}: {e}");
            }
        }
    }

    fn pid_path(&self, tenant: &str) -> PathBuf {
        self.dir.join(format!("{tenant}.pid"))
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is Z.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// SIGTERM to the group, wait up to 5 s, then SIGKILL; reaps the child when we have it.
fn terminate(pid: u32, mut child: Option<Child>) {
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let gone = match child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_some(),
            None => !alive(pid),
        };
        if gone {
            break;
        }
        if Instant::now() > deadline {
            let _ = killpg(group, Signal::SIGKILL);
            if let Some(c) = child.as_mut() {
                let _ = c.wait();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever else the app started in its group goes too.
    let _ = killpg(group, Signal::SIGKILL);
}

/// Kills every app process named by a pid file in `dir`, with its process group. Meant for signal
/// handlers (Ctrl-C), where the supervisor itself may be busy on another thread: it only reads files
/// and sends signals.
pub fn kill_recorded(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        if entry.path().extension().is_none_or(|e| e != "pid") {
            continue;
        }
        let app = fs::read_to_string(entry.path()).ok().and_then(|t| serde_json::from_str::<AppProcess>(&t).ok());
        if let Some(app) = app.filter(|a| alive(a.pid)) {
            let _ = killpg(Pid::from_raw(app.pid as i32), Signal::SIGKILL);
            let _ = fs::remove_file(entry.path());
        }
    }
}
