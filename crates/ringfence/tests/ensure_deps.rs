//! `scripts/ensure-deps`: a check that says "present" must mean the build or the tests will find the
//! dependency and it will work. Each check runs here against fake systems (its view of the machine
//! comes from `RINGFENCE_DEPS_ROOT` and `RINGFENCE_DEPS_PATH`): one that lacks everything, and ones
//! that hold only look-alikes — LLVM's `libclang-cpp.so`, dangling symlinks, wrapper scripts whose
//! package is missing, python2's pip, a `cc` that cannot find `<stdio.h>` — where each must say
//! "missing". On this machine, where `scripts/test` ran `ensure-deps` first, each says "present".

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Overrides the checks honour; a fake system starts without them (the machine's would leak in).
const OVERRIDES: [&str; 7] = [
    "RINGFENCE_PG_BIN",
    "RINGFENCE_CHROMIUM",
    "RINGFENCE_PROMETHEUS",
    "LIBCLANG_PATH",
    "LLVM_CONFIG_PATH",
    "LD_LIBRARY_PATH",
    "LIBRARY_PATH",
];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ensure-deps")
}

fn ensure_deps(args: &[&str]) -> Command {
    let mut command = Command::new("bash");
    command.arg(script()).args(args);
    command
}

fn checks() -> Vec<String> {
    let out = ensure_deps(&["--list"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// A fake system: `root` stands for `/`, `bin` is the only directory on its PATH.
struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    env: Vec<(&'static str, PathBuf)>,
}

impl Fake {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let bin = dir.path().join("bin");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&bin).unwrap();
        Fake { _dir: dir, root, bin, env: Vec::new() }
    }

    /// `path` under the fake root (`/usr/lib/x` -> `<root>/usr/lib/x`), its parents created.
    fn path(&self, path: &str) -> PathBuf {
        let path = self.root.join(path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    }

    /// An executable shell script at `path` (relative to the fake root, or `bin/NAME`).
    fn script(&self, path: &str, body: &str) -> PathBuf {
        let path = self.place(path);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A symlink to a target that does not exist.
    fn dangling(&self, path: &str) {
        symlink(self._dir.path().join("gone"), self.place(path)).unwrap();
    }

    /// A copy of an ELF file of this platform (this test's own executable) — a shared library as far
    /// as a file name and an ELF header tell.
    fn elf(&self, path: &str) -> PathBuf {
        let path = self.place(path);
        fs::copy(std::env::current_exe().unwrap(), &path).unwrap();
        path
    }

    fn place(&self, path: &str) -> PathBuf {
        match path.strip_prefix("bin/") {
            Some(name) => self.bin.join(name),
            None => self.path(path),
        }
    }

    /// Runs one check against this fake system.
    fn check(&self, name: &str) -> Output {
        let mut command = ensure_deps(&["--check", name]);
        for key in OVERRIDES {
            command.env_remove(key);
        }
        command.env("RINGFENCE_DEPS_ROOT", &self.root).env("RINGFENCE_DEPS_PATH", &self.bin);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    fn assert_missing(&self, name: &str, what: &str) {
        let out = self.check(name);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            (out.status.code(), stdout.as_ref()),
            (Some(1), format!("{name}: missing\n").as_str()),
            "check {name} on a fake system with {what}: stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Programs of the real machine, run by the fake ones through PATH (the checks run what they find
/// with the ordinary environment; only finding goes through the fake PATH).
const REAL_CC: &str = "exec cc \"$@\"";
const REAL_AR: &str = "exec ar \"$@\"";

type Build = fn(&mut Fake);

/// Look-alikes, per check: each builds a fake system on which that check must say "missing". The
/// first of each check's must not clash with the others' first: they also make one system together.
fn look_alikes() -> Vec<(&'static str, &'static str, Build)> {
    vec![
        ("cargo", "rustup's proxies without a toolchain", |f| {
            let msg = "echo \"error: rustup could not choose a version of $(basename \"$0\") to run\" >&2; exit 1";
            f.script("bin/cargo", msg);
            f.script("bin/rustc", msg);
        }),
        ("cargo", "a Rust older than the workspace's rust-version", |f| {
            f.script("bin/cargo", "echo 'cargo 1.60.0 (d1fd9fe2c 2022-03-01)'");
            f.script("bin/rustc", "echo 'rustc 1.60.0 (7737e0b5c 2022-04-04)'");
        }),
        ("cargo", "cargo without rustc", |f| {
            f.script("bin/cargo", "echo 'cargo 1.95.0 (f2d3ce0bd 2026-03-21)'");
            f.dangling("bin/rustc");
        }),
        ("c_toolchain", "a cc that fails and an ar", |f| {
            f.script("bin/cc", "echo 'cc: error: no compiler here' >&2; exit 1");
            f.script("bin/ar", REAL_AR);
        }),
        ("c_toolchain", "a cc that succeeds without doing anything", |f| {
            f.script("bin/cc", "exit 0");
            f.script("bin/ar", REAL_AR);
        }),
        ("c_toolchain", "a compiler without libc headers", |f| {
            f.script("bin/cc", "exec cc -nostdinc \"$@\"");
            f.script("bin/ar", REAL_AR);
        }),
        ("c_toolchain", "a compiler that cannot link (no C library)", |f| {
            f.script("bin/cc", "exec cc -nostdlib \"$@\"");
            f.script("bin/ar", REAL_AR);
        }),
        ("c_toolchain", "cc but no ar", |f| {
            f.script("bin/cc", REAL_CC);
        }),
        ("c_toolchain", "a dangling cc (gcc removed, the alternative left)", |f| {
            f.dangling("bin/cc");
            f.script("bin/ar", REAL_AR);
        }),
        ("postgres_server", "dangling symlinks (a removed PostgreSQL)", |f| {
            for p in ["initdb", "pg_ctl", "postgres"] {
                f.dangling(&format!("/usr/lib/postgresql/15/bin/{p}"));
                f.dangling(&format!("bin/{p}"));
            }
        }),
        ("postgres_server", "a lone initdb", |f| {
            f.script("/usr/lib/postgresql/15/bin/initdb", "echo 'initdb (PostgreSQL) 15.18'");
        }),
        ("postgres_server", "PostgreSQL 12", |f| {
            for p in ["initdb", "pg_ctl", "postgres"] {
                f.script(&format!("/usr/lib/postgresql/12/bin/{p}"), &format!("echo '{p} (PostgreSQL) 12.20'"));
            }
        }),
        ("postgres_server", "programs that are not PostgreSQL's", |f| {
            for p in ["initdb", "pg_ctl", "postgres"] {
                f.script(&format!("/usr/lib/postgresql/15/bin/{p}"), "echo 'usage: something else'");
            }
        }),
        ("postgres_server", "RINGFENCE_PG_BIN naming a directory of dangling symlinks", |f| {
            for p in ["initdb", "pg_ctl", "postgres"] {
                f.dangling(&format!("/opt/pg/bin/{p}"));
                f.script(&format!("/usr/lib/postgresql/15/bin/{p}"), &format!("echo '{p} (PostgreSQL) 15.18'"));
            }
            let dir = f.path("/opt/pg/bin/initdb").parent().unwrap().to_path_buf();
            f.env.push(("RINGFENCE_PG_BIN", dir));
        }),
        ("postgres_client", "postgresql-client-common's wrappers without a client", |f| {
            for p in ["psql", "pg_dump", "pg_restore"] {
                f.script(
                    &format!("bin/{p}"),
                    "echo 'Error: You must install at least one postgresql-client-<version> package' >&2; exit 1",
                );
            }
        }),
        ("postgres_client", "dangling symlinks", |f| {
            for p in ["psql", "pg_dump", "pg_restore"] {
                f.dangling(&format!("bin/{p}"));
                f.dangling(&format!("/usr/lib/postgresql/15/bin/{p}"));
            }
        }),
        ("postgres_client", "clients older than the server", |f| {
            for p in ["initdb", "pg_ctl", "postgres"] {
                f.script(&format!("/usr/lib/postgresql/16/bin/{p}"), &format!("echo '{p} (PostgreSQL) 16.4'"));
            }
            for p in ["psql", "pg_dump", "pg_restore"] {
                f.script(&format!("bin/{p}"), &format!("echo '{p} (PostgreSQL) 13.16'"));
            }
        }),
        ("pip", "python2's pip and a python3 without pip", |f| {
            f.script("bin/pip", "echo 'pip 20.3.4 from /usr/lib/python2.7/dist-packages/pip (python 2.7)'");
            f.script("bin/python3", "echo '/usr/bin/python3: No module named pip' >&2; exit 1");
            f.script("bin/pip3", "echo 'pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)'");
        }),
        ("pip", "dangling pip and python3", |f| {
            f.dangling("bin/pip");
            f.dangling("bin/python3");
        }),
        ("chromium", "Ubuntu's chromium-browser stub for the snap", |f| {
            f.script(
                "bin/chromium-browser",
                "echo \"Command '/usr/bin/chromium-browser' requires the chromium snap to be installed.\" >&2; exit 1",
            );
            f.dangling("bin/google-chrome");
        }),
        ("chromium", "a chromium that is not executable (the test would pick it)", |f| {
            fs::write(f.place("bin/chromium"), "not a browser").unwrap();
            f.script("bin/google-chrome", "echo 'Google Chrome 120.0.6099.109'");
        }),
        ("chromium", "RINGFENCE_CHROMIUM naming nothing", |f| {
            f.script("bin/chromium", "echo 'Chromium 120.0.6099.109 built on Debian'");
            let gone = f.root.join("gone/chromium");
            f.env.push(("RINGFENCE_CHROMIUM", gone));
        }),
        ("prometheus", "another program named prometheus", |f| {
            f.script("bin/prometheus", "echo 'node_exporter, version 1.5.0'");
        }),
        ("prometheus", "a dangling prometheus", |f| {
            f.dangling("bin/prometheus");
        }),
        ("prometheus", "RINGFENCE_PROMETHEUS naming a directory", |f| {
            f.script("bin/prometheus", "echo 'prometheus, version 2.42.0+ds'");
            let dir = f.path("/opt/prometheus/x").parent().unwrap().to_path_buf();
            f.env.push(("RINGFENCE_PROMETHEUS", dir));
        }),
        ("libclang", "LLVM 14 without libclang: libclang-cpp.so.14 only (issue 23)", |f| {
            f.elf("/usr/lib/llvm-14/lib/libclang-cpp.so.14");
            f.elf("/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14");
            f.elf("/usr/lib/llvm-14/lib/libLLVM-14.so.1");
            let llvm = f.root.join("usr/lib/llvm-14");
            f.script("bin/llvm-config", &format!("echo '{}'", llvm.display()));
        }),
        ("libclang", "names that are not shared libraries", |f| {
            f.dangling("/usr/lib/llvm-15/lib/libclang.so");
            f.dangling("/usr/lib/x86_64-linux-gnu/libclang-15.so.1");
            fs::write(f.path("/usr/lib/x86_64-linux-gnu/libclang-13.so"), "INPUT(libclang-13.so.1)\n").unwrap();
            f.script("bin/cc", REAL_CC);
        }),
        ("libclang", "the highest-versioned candidate is not libclang", |f| {
            f.elf("/usr/local/lib/libclang-99.so");
            f.script("bin/cc", REAL_CC);
        }),
        ("libclang", "the same without a C compiler to load it with", |f| {
            f.elf("/usr/local/lib/libclang-99.so");
        }),
        ("libclang", "LIBCLANG_PATH naming a directory with libclang-cpp only", |f| {
            let lib = f.elf("/opt/llvm/lib/libclang-cpp.so.17");
            f.env.push(("LIBCLANG_PATH", lib.parent().unwrap().to_path_buf()));
            f.script("bin/cc", REAL_CC);
        }),
    ]
}

#[test]
fn every_check_says_missing_on_a_system_without_anything() {
    let fake = Fake::new();
    for name in checks() {
        fake.assert_missing(&name, "nothing installed");
    }
}

#[test]
fn every_check_says_missing_on_systems_of_look_alikes() {
    let checks: BTreeSet<String> = checks().into_iter().collect();
    let covered: BTreeSet<String> = look_alikes().iter().map(|(name, _, _)| name.to_string()).collect();
    assert_eq!(covered, checks, "every check of ensure-deps has look-alikes here");
    for (name, what, build) in look_alikes() {
        let mut fake = Fake::new();
        build(&mut fake);
        fake.assert_missing(name, what);
    }
}

/// The first look-alikes of every check together on one system: all still missing.
#[test]
fn every_check_says_missing_on_one_system_of_look_alikes_for_all() {
    let mut fake = Fake::new();
    let mut built = BTreeSet::new();
    for (name, _, build) in look_alikes() {
        if built.insert(name) {
            build(&mut fake);
        }
    }
    for name in checks() {
        fake.assert_missing(&name, "all the look-alikes");
    }
}

/// With nothing installed and installing turned off, it stops at once and names what to install.
#[test]
fn advice_names_what_to_install_for_each_missing_check() {
    let fake = Fake::new();
    let mut command = ensure_deps(&["--no-install"]);
    for key in OVERRIDES {
        command.env_remove(key);
    }
    let out = command.env("RINGFENCE_DEPS_ROOT", &fake.root).env("RINGFENCE_DEPS_PATH", &fake.bin).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let names = checks();
    assert!(stderr.starts_with(&format!("ensure-deps: missing dependencies ({});", names.join(" "))), "{stderr}");
    for (fragment, check) in [
        ("https://rustup.rs", "cargo"),
        ("apt-get install -y gcc libc6-dev", "c_toolchain"),
        ("apt-get install -y postgresql;", "postgres_server"),
        ("apt-get install -y postgresql-client", "postgres_client"),
        ("apt-get install -y python3-pip", "pip"),
        ("apt-get install -y chromium", "chromium"),
        ("apt-get install -y prometheus", "prometheus"),
        ("apt-get install -y libclang-dev", "libclang"),
    ] {
        assert!(stderr.contains(fragment), "no advice for {check} ({fragment}):\n{stderr}");
    }
    assert_eq!(stderr.lines().filter(|l| l.starts_with("  - ")).count(), names.len(), "{stderr}");
}

/// This machine has everything (`scripts/test` runs `ensure-deps` first): every check says present,
/// and the whole script then says so in one line.
#[test]
fn on_this_machine_every_check_says_present() {
    for name in checks() {
        let out = ensure_deps(&["--check", &name]).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{name}: present\n"),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success());
    }
    let out = ensure_deps(&[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("ensure-deps: all dependencies present"), "{stdout}");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
