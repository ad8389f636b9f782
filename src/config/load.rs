//! Loading a configuration from an ha.d directory or an hbd.toml file.
//! (Interface fixed here; the config module's owner fills in the bodies.)

use super::model::{Config, Diagnostic, HbdOptions, Location};
use super::validate::{is_executable_file, validate};
use super::{authkeys, hacf, haresources, toml_form};
use std::path::{Path, PathBuf};

/// Whether facts of this machine (interfaces, serial devices, scripts) that do not
/// hold are warnings (`check`: the config may be meant for another host) or errors (`run`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    Check,
    Run,
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `--node NAME`; None = `uname -n`, lowercased.
    pub node: Option<String>,
    pub purpose: Purpose,
}

#[derive(Clone, Debug)]
pub struct Loaded {
    /// None when any diagnostic is an error.
    pub config: Option<Config>,
    /// The local node's name (lowercased), when it could be determined.
    pub local_node: Option<String>,
    /// The directory holding the files (`resource.d` is looked up below it).
    pub config_dir: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The local node's name: `--node NAME`, else the kernel's host name (`uname -n`),
/// lowercased as heartbeat lowercases node names.
pub fn local_node_name(node: Option<&str>) -> Option<String> {
    match node {
        Some(n) => Some(n.trim().to_ascii_lowercase()),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty()),
    }
}

fn file_error(path: &Path, directive: &str, msg: String) -> Diagnostic {
    Diagnostic::error(
        Some(Location {
            file: path.to_path_buf(),
            line: 0,
        }),
        directive,
        msg,
    )
}

/// Loads `path`: a directory holding `ha.cf`, `haresources`, `authkeys` (or, when it
/// has no `ha.cf`, an `hbd.toml`), the `ha.cf` file of such a directory, or a TOML file. Collects every diagnostic of
/// every file, then [`validate`]s the whole.
pub fn load(path: &Path, opts: &LoadOptions) -> Loaded {
    let local_node = local_node_name(opts.node.as_deref());
    let mut diagnostics = Vec::new();
    let (config_dir, cfg) =
        if path.is_dir() && !path.join("ha.cf").exists() && path.join("hbd.toml").exists() {
            load_toml(&path.join("hbd.toml"), &mut diagnostics)
        } else if path.is_dir() {
            (path.to_path_buf(), load_legacy(path, &mut diagnostics))
        } else if path.file_name().is_some_and(|n| n == "ha.cf") {
            // `-c /etc/ha.d/ha.cf` means its directory: heartbeat's three files go together.
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let cfg = load_legacy(&dir, &mut diagnostics);
            (dir, cfg)
        } else if path.exists() {
            load_toml(path, &mut diagnostics)
        } else {
            diagnostics.push(file_error(
                path,
                "config",
                format!(
                    "{} does not exist (expected an ha.d directory or an hbd.toml file)",
                    path.display()
                ),
            ));
            (path.to_path_buf(), None)
        };
    if let Some(c) = &cfg {
        diagnostics.extend(validate(
            c,
            local_node.as_deref(),
            opts.purpose,
            &config_dir,
        ));
    }
    // Read in file and line order; stable, so one line's messages keep their order.
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line));
        key(a).cmp(&key(b))
    });
    let bad = diagnostics.iter().any(Diagnostic::is_error);
    Loaded {
        config: if bad { None } else { cfg },
        local_node,
        config_dir,
        diagnostics,
    }
}

fn read(path: &Path, directive: &str, d: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(s) => Some(s),
            // heartbeat reads bytes; non-UTF-8 only ever appears in comments or typos.
            Err(e) => Some(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
        Err(e) => {
            d.push(file_error(
                path,
                directive,
                format!("cannot read {}: {e}", path.display()),
            ));
            None
        }
    }
}

/// ha.cf + haresources + authkeys. The result is None only when ha.cf cannot be read;
/// otherwise as much as parsed, for validate() to find more.
fn load_legacy(dir: &Path, d: &mut Vec<Diagnostic>) -> Option<Config> {
    let hacf_path = dir.join("ha.cf");
    let text = read(&hacf_path, "ha.cf", d)?;
    let (mut cfg, more) = hacf::parse_str(&text, &hacf_path);
    d.extend(more);
    let hr_path = dir.join("haresources");
    if hr_path.exists() {
        if let Some(text) = read(&hr_path, "haresources", d) {
            let (groups, more) = haresources::parse_str(&text, &hr_path);
            d.extend(more);
            cfg.groups = groups;
        }
    } else {
        d.push(Diagnostic::warning(
            Some(Location {
                file: hr_path.clone(),
                line: 0,
            }),
            "haresources",
            "file is missing: no resource groups, hbd will only exchange heartbeats",
        ));
    }
    let ak_path = dir.join("authkeys");
    let (auth, more) = authkeys::load(&ak_path);
    d.extend(more);
    match auth {
        Some(a) => {
            cfg.auth = a;
            // Absolute, so `hbd migrate` output names the file from any directory.
            let abs = std::path::absolute(&ak_path).unwrap_or(ak_path);
            cfg.origins.insert(
                "authkeys".into(),
                Location {
                    file: abs.clone(),
                    line: 0,
                },
            );
            cfg.origins
                .insert("auth".into(), Location { file: abs, line: 0 });
        }
        // authkeys::load already said why; validate() must not add "no keys".
        None => return None,
    }
    Some(cfg)
}

fn load_toml(path: &Path, d: &mut Vec<Diagnostic>) -> (PathBuf, Option<Config>) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            d.push(file_error(
                path,
                "toml",
                format!("cannot open {}: {e}", path.display()),
            ));
            return (dir, None);
        }
    };
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    // Mode from the opened file, as authkeys does, so a symlink cannot hide it.
    let mode = file.metadata().ok().map(|m| m.permissions().mode());
    let mut text = String::new();
    if let Err(e) = file.read_to_string(&mut text) {
        d.push(file_error(
            path,
            "toml",
            format!("cannot read {}: {e}", path.display()),
        ));
        return (dir, None);
    }
    let src = toml_form::Source {
        file: path,
        dir: &dir,
        mode,
    };
    let (cfg, more) = toml_form::parse_str(&text, &src);
    d.extend(more);
    (dir, cfg)
}

/// Finds resource script `name`: `<config_dir>/resource.d/NAME`, then each of
/// `opts.resource_dirs`, then `/usr/lib/hbd/resource.d/NAME`, then `/etc/init.d/NAME`;
/// the first regular executable file wins.
pub fn resolve_script(config_dir: &Path, opts: &HbdOptions, name: &str) -> Option<PathBuf> {
    // A name with a path separator would escape the search path.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    std::iter::once(config_dir.join("resource.d"))
        .chain(opts.resource_dirs.iter().cloned())
        .chain([
            PathBuf::from("/usr/lib/hbd/resource.d"),
            PathBuf::from("/etc/init.d"),
        ])
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

/// The TOML form of `config` (`hbd migrate`).
pub fn to_toml(config: &Config, local_node: Option<&str>) -> String {
    toml_form::to_toml(config, local_node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn resolve_script_order_and_executable_rule() {
        let t = tempfile::tempdir().unwrap();
        let extra = t.path().join("extra");
        let opts = HbdOptions {
            resource_dirs: vec![extra.clone()],
            ..HbdOptions::default()
        };
        let in_extra = script(&extra, "svc", 0o755);
        assert_eq!(resolve_script(t.path(), &opts, "svc"), Some(in_extra));
        let in_rd = script(&t.path().join("resource.d"), "svc", 0o755);
        assert_eq!(resolve_script(t.path(), &opts, "svc"), Some(in_rd.clone()));
        // Not executable: skipped, as heartbeat's ResourceManager skips it.
        std::fs::set_permissions(&in_rd, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            resolve_script(t.path(), &opts, "svc"),
            Some(extra.join("svc"))
        );
        assert_eq!(resolve_script(t.path(), &opts, "../extra/svc"), None);
        assert_eq!(resolve_script(t.path(), &opts, "hbd-no-such"), None);
    }

    #[test]
    fn local_node_is_the_lowercased_host_name() {
        assert_eq!(local_node_name(Some("Alpha")), Some("alpha".into()));
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(
            local_node_name(None),
            Some(host.trim().to_ascii_lowercase())
        );
    }

    #[test]
    fn run_turns_machine_facts_into_errors() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("ha.cf"),
            "node alpha beta\nbcast hbdnosuch0\ndeadtime 10\ninitdead 30\nauto_failback on\n",
        )
        .unwrap();
        let ak = t.path().join("authkeys");
        std::fs::write(&ak, "auth 1\n1 sha1 k\n").unwrap();
        std::fs::set_permissions(&ak, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(t.path().join("haresources"), "alpha 192.0.2.10\n").unwrap();
        let opts = |purpose| LoadOptions {
            node: Some("alpha".into()),
            purpose,
        };
        let check = load(t.path(), &opts(Purpose::Check));
        assert!(check.config.is_some(), "{:?}", check.diagnostics);
        assert_eq!(check.diagnostics.len(), 2);
        let run = load(t.path(), &opts(Purpose::Run));
        assert!(run.config.is_none());
        assert_eq!(run.diagnostics.iter().filter(|d| d.is_error()).count(), 2);
        assert_eq!(run.config_dir, t.path());
        assert_eq!(run.local_node.as_deref(), Some("alpha"));
    }
}
