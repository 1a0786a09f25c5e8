//! Finding the PostgreSQL programs on this machine.
//!
//! Responsible for deciding which `initdb`/`pg_ctl`/`postgres` (the server) and `psql`/`pg_dump`/
//! `pg_restore` (the clients) Ringfence runs, and for saying exactly what to install when they are
//! missing. Not responsible for installing anything (`scripts/ensure-deps` does that) or for
//! running the programs.
//!
//! Order of precedence: an explicit directory (e.g. [`crate::StartOptions::bin_dir`]), then the
//! `RINGFENCE_PG_BIN` environment variable, then Debian's `/usr/lib/postgresql/<major>/bin`
//! (highest major first), then `initdb` on `PATH`.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::PgError;

/// Environment variable naming a directory that holds the PostgreSQL programs.
pub const BIN_ENV: &str = "RINGFENCE_PG_BIN";

/// Where Debian and Ubuntu put one directory per installed major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

const SERVER_PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
const CLIENT_PROGRAMS: [&str; 3] = ["psql", "pg_dump", "pg_restore"];

/// Paths of the PostgreSQL programs Ringfence runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    bin_dir: PathBuf,
    psql: PathBuf,
    pg_dump: PathBuf,
    pg_restore: PathBuf,
}

impl PgBinaries {
    /// Finds the programs: `explicit` dir, else `RINGFENCE_PG_BIN`, else Debian layout, else `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, PgError> {
        if let Some(dir) = explicit {
            return Self::in_dir(dir, "the bin_dir option");
        }
        if let Some(dir) = env::var_os(BIN_ENV).filter(|v| !v.is_empty()) {
            return Self::in_dir(Path::new(&dir), BIN_ENV);
        }
        let path = env::var_os("PATH").unwrap_or_default();
        Self::discover(Path::new(DEBIAN_ROOT), &path)
    }

    /// Discovery without overrides; `debian_root` and `path` are parameters so tests can fake them.
    fn discover(debian_root: &Path, path: &OsStr) -> Result<Self, PgError> {
        if let Some(dir) = debian_bin_dirs(debian_root).into_iter().find(|dir| is_executable(&dir.join("initdb"))) {
            return Self::in_dir(&dir, "the highest installed major version");
        }
        if let Some(initdb) = find_on_path("initdb", path) {
            // /usr/local/bin/initdb may be a lone symlink; the real directory holds pg_ctl and postgres.
            let real = fs::canonicalize(&initdb).unwrap_or(initdb);
            let dir = real.parent().unwrap_or(Path::new("/"));
            return Self::in_dir(dir, "initdb found on PATH");
        }
        Err(PgError::NotInstalled {
            detail: format!("no `initdb` under {DEBIAN_ROOT}/<major>/bin or on PATH, and {BIN_ENV} is not set"),
        })
    }

    /// Uses `dir` for the server programs; client programs come from `dir` or else from `PATH`.
    fn in_dir(dir: &Path, why: &str) -> Result<Self, PgError> {
        let missing: Vec<&str> = SERVER_PROGRAMS.into_iter().filter(|p| !is_executable(&dir.join(p))).collect();
        if !missing.is_empty() {
            return Err(PgError::NotInstalled {
                detail: format!("{} (chosen by {why}) has no executable {}", dir.display(), missing.join(", ")),
            });
        }
        let path = env::var_os("PATH").unwrap_or_default();
        let mut clients = Vec::with_capacity(CLIENT_PROGRAMS.len());
        for program in CLIENT_PROGRAMS {
            let in_dir = dir.join(program);
            let found = if is_executable(&in_dir) { Some(in_dir) } else { find_on_path(program, &path) };
            clients.push(found.ok_or_else(|| PgError::NotInstalled {
                detail: format!(
                    "client program `{program}` is neither in {} nor on PATH \
                     (Debian/Ubuntu: `apt-get install -y postgresql-client`)",
                    dir.display()
                ),
            })?);
        }
        let [psql, pg_dump, pg_restore] =
            <[PathBuf; 3]>::try_from(clients).unwrap_or_else(|_| unreachable!("one path per client program"));
        Ok(Self { bin_dir: dir.to_path_buf(), psql, pg_dump, pg_restore })
    }

    /// The directory holding the server programs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Path of `initdb`.
    pub fn initdb(&self) -> PathBuf {
        self.bin_dir.join("initdb")
    }

    /// Path of `pg_ctl`.
    pub fn pg_ctl(&self) -> PathBuf {
        self.bin_dir.join("pg_ctl")
    }

    /// Path of the `postgres` server executable.
    pub fn postgres(&self) -> PathBuf {
        self.bin_dir.join("postgres")
    }

    /// Path of `psql`.
    pub fn psql(&self) -> &Path {
        &self.psql
    }

    /// Path of `pg_dump`.
    pub fn pg_dump(&self) -> &Path {
        &self.pg_dump
    }

    /// Path of `pg_restore`.
    pub fn pg_restore(&self) -> &Path {
        &self.pg_restore
    }
}

/// `<root>/<major>/bin` for every numeric major, highest first (so 15 beats 9.6 beats 9.5).
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    versioned.into_iter().map(|(_, dir)| dir).collect()
}

fn find_on_path(program: &str, path: &OsStr) -> Option<PathBuf> {
    env::split_paths(path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn fake_program(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn fake_install(bin: &Path) {
        for program in SERVER_PROGRAMS.into_iter().chain(CLIENT_PROGRAMS) {
            fake_program(&bin.join(program));
        }
    }

    #[test]
    fn highest_numeric_major_wins_and_odd_names_are_ignored() {
        let root = tempfile::tempdir().unwrap();
        for major in ["9.6", "13", "15", "10"] {
            fake_install(&root.path().join(major).join("bin"));
        }
        fs::create_dir(root.path().join("common")).unwrap();

        let dirs = debian_bin_dirs(root.path());
        let names: Vec<_> = dirs.iter().map(|d| d.parent().unwrap().file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["15", "13", "10", "9.6"]);

        let found = PgBinaries::discover(root.path(), OsStr::new("")).unwrap();
        assert_eq!(found.bin_dir(), root.path().join("15/bin"));
    }

    #[test]
    fn a_major_without_initdb_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        fake_install(&root.path().join("14/bin"));
        // A client-only package leaves a bin dir without the server programs.
        fake_program(&root.path().join("16/bin/psql"));

        let found = PgBinaries::discover(root.path(), OsStr::new("")).unwrap();
        assert_eq!(found.bin_dir(), root.path().join("14/bin"));
    }

    #[test]
    fn initdb_symlink_on_path_resolves_to_its_real_directory() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("pgsql/bin");
        fake_install(&real);
        let links = root.path().join("local-bin");
        fs::create_dir(&links).unwrap();
        symlink(real.join("initdb"), links.join("initdb")).unwrap();

        let no_debian = root.path().join("absent");
        let found = PgBinaries::discover(&no_debian, links.as_os_str()).unwrap();
        assert_eq!(found.bin_dir(), real);
    }

    #[test]
    fn nothing_installed_says_what_to_install() {
        let root = tempfile::tempdir().unwrap();
        let err = PgBinaries::discover(root.path(), OsStr::new("")).unwrap_err();
        assert!(matches!(err, PgError::NotInstalled { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("apt-get install -y postgresql"), "{message}");
        assert!(message.contains(BIN_ENV), "{message}");
    }

    #[test]
    fn explicit_dir_missing_server_programs_names_them() {
        let root = tempfile::tempdir().unwrap();
        fake_program(&root.path().join("initdb"));
        let err = PgBinaries::locate(Some(root.path())).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("pg_ctl, postgres"), "{message}");
        assert!(message.contains("the bin_dir option"), "{message}");
    }
}
