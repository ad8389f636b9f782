//! Files, devices and filesystems of this host: executables, the log files
//! and directories `run` writes, serial terminals, and the filesystem types
//! this kernel can mount.

use std::path::Path;

/// A regular file with an execute bit: what heartbeat's ResourceManager accepts.
pub fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether this process may read and write `p` (always true without the
/// `shell` feature, which has no `access(2)`).
fn may_write(p: &Path, read_too: bool) -> Result<(), String> {
    #[cfg(feature = "shell")]
    {
        use nix::unistd::{access, AccessFlags};
        let mut flags = AccessFlags::W_OK;
        if read_too {
            flags |= AccessFlags::R_OK;
        }
        access(p, flags).map_err(|e| e.desc().to_string())
    }
    #[cfg(not(feature = "shell"))]
    {
        let _ = (p, read_too);
        Ok(())
    }
}

/// Whether `run` could open watchdog `path` for writing, found without
/// opening it: opening a watchdog device arms it.
pub fn watchdog_device(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("does not exist (for softdog: modprobe softdog)".into())
        }
        Err(e) => Err(e.to_string()),
        Ok(m) if m.is_dir() => Err("is a directory".into()),
        Ok(_) => may_write(path, false).map_err(|e| format!("cannot be opened for writing: {e}")),
    }
}

/// Whether serial link `path` is a terminal this process may open for
/// reading and writing, found without opening it (that would raise DTR):
/// a character device that is a pseudo-terminal or whose sysfs class is
/// `tty` (`run` sets its line discipline, which nothing else accepts).
pub fn serial_device(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("does not exist".into()),
        Err(e) => Err(e.to_string()),
        Ok(m) if !m.file_type().is_char_device() => Err("is not a character device".into()),
        Ok(m) if !is_terminal(m.rdev()) => Err("is a character device but not a terminal".into()),
        Ok(_) => may_write(path, true)
            .map_err(|e| format!("cannot be opened for reading and writing: {e}")),
    }
}

/// Whether the character device numbered `rdev` is a terminal: a Unix98
/// pseudo-terminal (majors 136-143, which sysfs does not list) or a device
/// of sysfs class `tty` (serial ports, USB adapters, consoles).
fn is_terminal(rdev: u64) -> bool {
    // glibc's gnu_dev_major / gnu_dev_minor.
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (136..=143).contains(&major)
        || std::fs::canonicalize(format!("/sys/dev/char/{major}:{minor}/subsystem"))
            .is_ok_and(|p| p.ends_with("class/tty"))
}

/// Whether `dir` is, or can be created as, a directory this process may write.
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => may_write(dir, false).map_err(|e| format!("is not writable: {e}")),
        Ok(_) => Err("exists and is not a directory".into()),
        Err(_) => {
            // The nearest existing ancestor decides whether it can be created.
            let mut up = dir.parent();
            while let Some(p) = up.filter(|p| !p.as_os_str().is_empty()) {
                if let Ok(m) = std::fs::metadata(p) {
                    return if !m.is_dir() {
                        Err(format!(
                            "cannot be created: {} is not a directory",
                            p.display()
                        ))
                    } else {
                        may_write(p, false).map_err(|e| {
                            format!("cannot be created: {} is not writable: {e}", p.display())
                        })
                    };
                }
                up = p.parent();
            }
            Ok(())
        }
    }
}

/// Whether log file `path` can be opened for appending, creating it if need
/// be, as `run` opens it.
pub fn writable_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err("is a directory".into()),
        Ok(_) => may_write(path, false).map_err(|e| format!("is not writable: {e}")),
        Err(_) => match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            None => Ok(()),
            Some(dir) => match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => may_write(dir, false).map_err(|e| {
                    format!(
                        "cannot be created: directory {} is not writable: {e}",
                        dir.display()
                    )
                }),
                Ok(_) => Err(format!(
                    "cannot be created: {} is not a directory",
                    dir.display()
                )),
                Err(_) => Err(format!(
                    "cannot be created: directory {} does not exist",
                    dir.display()
                )),
            },
        },
    }
}

/// Whether this kernel can mount filesystem type `t`: it is registered
/// (/proc/filesystems), a module provides it (`fs-TYPE` in modules.alias, which
/// the kernel loads on the first mount), or mount has a helper for it.
pub fn fstype_known(t: &str) -> bool {
    if t == "auto" {
        return true;
    }
    // fuse.sshfs and friends: the fuse filesystem plus the mount helper.
    let kernel_type = t.split('.').next().unwrap_or(t);
    let registered = std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().last() == Some(kernel_type))
    });
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let module = std::fs::read_to_string(
        Path::new("/lib/modules")
            .join(release.trim())
            .join("modules.alias"),
    )
    .is_ok_and(|s| {
        let alias = format!("alias fs-{kernel_type} ");
        s.lines().any(|l| l.starts_with(&alias))
    });
    let helper = ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
        .iter()
        .any(|d| is_executable_file(&Path::new(d).join(format!("mount.{t}"))));
    registered || module || helper
}
