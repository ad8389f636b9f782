//! The state directory: the instance lock, the generation counter and the uuid,
//! in heartbeat's formats (spec §5.4) so a state dir can be compared with
//! `/var/lib/heartbeat` by eye; and hbd's own records: persistent standby
//! and persistent maintenance mode.

use crate::core::HoldSet;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "lock";
pub const GENERATION_FILE: &str = "hb_generation";
pub const UUID_FILE: &str = "hb_uuid";
/// `hbd standby --persistent SET`: the set's word and a newline.
pub const STANDBY_FILE: &str = "standby";
/// `hbd maintenance on --persistent`: `on` and a newline.
pub const MAINTENANCE_FILE: &str = "maintenance";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another hbd (pid {pid}) is running with state directory {dir} (lock {path})")]
    Locked {
        dir: PathBuf,
        path: PathBuf,
        pid: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Bad { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) with `mode` when missing.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<(), StateError> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io(dir))?;
    }
    Ok(())
}

/// Holds `<state-dir>/lock` (flock) for as long as it lives.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<File>,
    pub path: PathBuf,
}

/// Takes the instance lock of `dir`, creating the directory (0700) when needed.
/// The holder's pid is written into the file so a second instance can name it.
pub fn lock(dir: &Path) -> Result<InstanceLock, StateError> {
    ensure_dir(dir, 0o700)?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(io(&path))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((mut file, errno)) => {
            if errno == nix::errno::Errno::EWOULDBLOCK {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(StateError::Locked {
                    dir: dir.to_path_buf(),
                    path,
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.into()
                    },
                });
            }
            return Err(StateError::Io {
                path,
                source: std::io::Error::from(errno),
            });
        }
    };
    let f: &mut File = &mut lock;
    f.set_len(0).map_err(io(&path))?;
    f.seek(SeekFrom::Start(0)).map_err(io(&path))?;
    writeln!(f, "{}", std::process::id()).map_err(io(&path))?;
    Ok(InstanceLock { _lock: lock, path })
}

/// heartbeat's generation file format: decimal, right-aligned in 15 columns, `\n`.
pub fn format_generation(g: u64) -> String {
    format!("{g:>15}\n")
}

/// Parses a generation file; None when it is not heartbeat's format (treated
/// like a missing file, as heartbeat does).
pub fn parse_generation(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok()
}

/// Reads, increments and durably writes the generation (before anything is sent:
/// peers drop every message of a generation not above the one they know).
/// Missing or unreadable: unix time + 1. Returns (generation, previous).
pub fn next_generation(dir: &Path, unix_now: u64) -> Result<(u64, Option<u64>), StateError> {
    let path = dir.join(GENERATION_FILE);
    let previous = match fs::read_to_string(&path) {
        Ok(t) => parse_generation(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&path)(e)),
    };
    let next = match previous {
        Some(p) => p.checked_add(1).ok_or_else(|| StateError::Bad {
            path: path.clone(),
            reason: format!("generation {p} cannot be incremented"),
        })?,
        None => unix_now + 1,
    };
    write_durably(&path, format_generation(next).as_bytes(), 0o644)?;
    Ok((next, previous))
}

/// The node's uuid, 16 random bytes created once.
pub fn load_or_create_uuid(dir: &Path) -> Result<[u8; 16], StateError> {
    let path = dir.join(UUID_FILE);
    match fs::read(&path) {
        Ok(b) if b.len() == 16 => {
            let mut u = [0u8; 16];
            u.copy_from_slice(&b);
            return Ok(u);
        }
        Ok(b) => {
            return Err(StateError::Bad {
                path,
                reason: format!(
                    "is {} bytes long, expected 16 (remove it to make a new uuid)",
                    b.len()
                ),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path)(e)),
    }
    let mut u = [0u8; 16];
    random_bytes(&mut u).map_err(io(Path::new("/dev/urandom")))?;
    write_durably(&path, &u, 0o644)?;
    Ok(u)
}

/// The persistent standby recorded in `dir`, if any. A file that does not
/// hold a set is an error naming it (the caller says what it does instead).
pub fn load_persistent_standby(dir: &Path) -> Result<Option<HoldSet>, StateError> {
    let path = dir.join(STANDBY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    match text.trim().parse::<HoldSet>() {
        Ok(HoldSet::None) => Ok(None),
        Ok(set) => Ok(Some(set)),
        Err(e) => Err(StateError::Bad {
            path,
            reason: format!("{e}; written by `hbd standby --persistent SET`"),
        }),
    }
}

/// Records (Some) or removes (None) the persistent standby, durably: a
/// restart a moment later must find it.
pub fn save_persistent_standby(dir: &Path, set: Option<HoldSet>) -> Result<(), StateError> {
    let path = dir.join(STANDBY_FILE);
    match set {
        Some(s) => write_durably(&path, format!("{s}\n").as_bytes(), 0o644),
        None => match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        },
    }
}

/// Whether `hbd maintenance on --persistent` is recorded in `dir`. A file
/// that does not say `on` is an error naming it (the caller says what it
/// does instead).
pub fn load_maintenance(dir: &Path) -> Result<bool, StateError> {
    let path = dir.join(MAINTENANCE_FILE);
    match fs::read_to_string(&path) {
        Ok(t) if t.trim() == "on" => Ok(true),
        Ok(t) => Err(StateError::Bad {
            path,
            reason: format!(
                "{:?} is not `on`; written by `hbd maintenance on --persistent`",
                t.trim()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Records (`true`) or removes the persistent maintenance mode, durably.
pub fn save_maintenance(dir: &Path, on: bool) -> Result<(), StateError> {
    let path = dir.join(MAINTENANCE_FILE);
    if on {
        return write_durably(&path, b"on\n", 0o644);
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&path)(e)),
    }
}

pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    File::open("/dev/urandom")?.read_exact(buf)
}

/// Writes via a temporary file, fsync, rename and directory fsync, so a crash
/// leaves either the old or the new content, never a torn file.
fn write_durably(path: &Path, data: &[u8], mode: u32) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(data).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_format_is_heartbeats() {
        assert_eq!(format_generation(1795310929), "     1795310929\n");
        assert_eq!(format_generation(1795310929).len(), 16);
        assert_eq!(parse_generation("     1795310929\n"), Some(1795310929));
        assert_eq!(parse_generation("garbage"), None);
    }

    #[test]
    fn generation_starts_at_time_plus_one_then_increments() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(next_generation(d.path(), 1000).unwrap(), (1001, None));
        assert_eq!(next_generation(d.path(), 5000).unwrap(), (1002, Some(1001)));
        let text = fs::read_to_string(d.path().join(GENERATION_FILE)).unwrap();
        assert_eq!(text, "           1002\n");
    }

    #[test]
    fn generation_reads_heartbeats_file() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(GENERATION_FILE), "     1795310929\n").unwrap();
        assert_eq!(next_generation(d.path(), 1).unwrap().0, 1795310930);
    }

    #[test]
    fn uuid_is_created_once() {
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create_uuid(d.path()).unwrap();
        let b = load_or_create_uuid(d.path()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0u8; 16]);
        fs::write(d.path().join(UUID_FILE), b"short").unwrap();
        let e = load_or_create_uuid(d.path()).unwrap_err().to_string();
        assert!(e.contains("5 bytes"), "{e}");
    }

    #[test]
    fn persistent_standby_is_recorded_read_back_and_removed() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load_persistent_standby(d.path()).unwrap(), None);
        save_persistent_standby(d.path(), Some(HoldSet::Local)).unwrap();
        let text = fs::read_to_string(d.path().join(STANDBY_FILE)).unwrap();
        assert_eq!(text, "local\n");
        assert_eq!(
            load_persistent_standby(d.path()).unwrap(),
            Some(HoldSet::Local)
        );
        save_persistent_standby(d.path(), None).unwrap();
        assert!(!d.path().join(STANDBY_FILE).exists());
        save_persistent_standby(d.path(), None).unwrap();
        fs::write(d.path().join(STANDBY_FILE), "everything\n").unwrap();
        let e = load_persistent_standby(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("standby: \"everything\" is not a resource set"),
            "{e}"
        );
    }

    #[test]
    fn persistent_maintenance_is_recorded_read_back_and_removed() {
        let d = tempfile::tempdir().unwrap();
        assert!(!load_maintenance(d.path()).unwrap());
        save_maintenance(d.path(), true).unwrap();
        let text = fs::read_to_string(d.path().join(MAINTENANCE_FILE)).unwrap();
        assert_eq!(text, "on\n");
        assert!(load_maintenance(d.path()).unwrap());
        save_maintenance(d.path(), false).unwrap();
        assert!(!d.path().join(MAINTENANCE_FILE).exists());
        save_maintenance(d.path(), false).unwrap();
        fs::write(d.path().join(MAINTENANCE_FILE), "maybe\n").unwrap();
        let e = load_maintenance(d.path()).unwrap_err().to_string();
        assert!(e.contains("\"maybe\" is not `on`"), "{e}");
    }

    #[test]
    fn second_lock_names_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("state");
        let first = lock(&dir).unwrap();
        let e = lock(&dir).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        lock(&dir).unwrap();
    }
}
