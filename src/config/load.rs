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
/// has no `ha.cf`, an `hbd.toml`), or a `.toml` file. Collects every diagnostic of
/// every file, then [`validate`]s the whole.
pub fn load(path: &Path, opts: &LoadOptions) -> Loaded {
    let local_node = local_node_name(opts.node.as_deref());
    let mut diagnostics = Vec::new();
    let (config_dir, cfg) =
        if path.is_dir() && !path.join("ha.cf").exists() && path.join("hbd.toml").exists() {
            load_toml(&path.join("hbd.toml"), &mut diagnostics)
        } else if path.is_dir() {
            (path.to_path_buf(), load_legacy(path, &mut diagnostics))
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
