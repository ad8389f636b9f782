//! Loading a configuration from an ha.d directory or an hbd.toml file: parse
//! every file, [`validate`] the whole, then check the facts of this host it
//! relies on ([`facts`]) as errors or warnings depending on the [`Purpose`].

use super::facts::{self, FactMode};
use super::model::{Config, Diagnostic, Location};
use super::validate::validate;
use super::{authkeys, hacf, haresources, toml_form};
use std::path::{Path, PathBuf};

/// What the configuration is loaded for; it decides which node this host is
/// and whether facts of this host that do not hold are errors.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `hbd run`: this host runs as the node (`--node`, else `uname -n`), so
    /// every fact of it that does not hold is an error.
    Run,
    /// `hbd check`: as `Run` when the node is this host (`uname -n`, or `--node`
    /// naming it); when `--node` names another node, facts of this host warn.
    Check,
    /// `hbd check --portable`, `hbd export`: the configuration as such, for any
    /// host; facts of this one warn, and without `--node` no node is assumed.
    Portable,
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `--node NAME`; None = `uname -n`, lowercased (none at all when Portable).
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
    /// How facts of this host were counted.
    pub facts: FactMode,
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

/// The node this host is taken to be for `opts`, and how its facts count.
fn node_and_mode(opts: &LoadOptions) -> (Option<String>, FactMode) {
    let named = opts.node.as_deref().map(|n| n.trim().to_ascii_lowercase());
    match opts.purpose {
        Purpose::Run => (named.or_else(|| local_node_name(None)), FactMode::Enforced),
        Purpose::Portable => (named, FactMode::Warned),
        Purpose::Check => {
            let here = local_node_name(None);
            match named {
                Some(n) if Some(&n) != here.as_ref() => (Some(n), FactMode::Warned),
                _ => (here, FactMode::Enforced),
            }
        }
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
    let (local_node, facts) = node_and_mode(opts);
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
        if local_node.is_none() && opts.purpose != Purpose::Portable {
            diagnostics.push(Diagnostic::error(
                c.origins.get("node").or(c.origins.get("file")).cloned(),
                "node",
                "cannot tell which node this host is (give --node NAME)",
            ));
        }
        diagnostics.extend(validate(c, local_node.as_deref()));
        diagnostics.extend(facts::check(c, &config_dir, facts));
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
        facts,
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
            "file is missing: heartbeat 3.0.6 would refuse to start (\"Cannot open resources file\"); hbd starts with no resource groups and only exchanges heartbeats (expected an haresources file, empty when the pair manages nothing)",
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

/// The TOML form of `config` (`hbd migrate`).
pub fn to_toml(config: &Config, local_node: Option<&str>) -> String {
    toml_form::to_toml(config, local_node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
        // The address runs built in (no IPaddr script needed); the service
        // script is a fact of this host.
        std::fs::write(
            t.path().join("haresources"),
            "alpha 192.0.2.10 hbdnosuchscript\n",
        )
        .unwrap();
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

    #[test]
    fn the_purpose_decides_the_node_and_how_facts_count() {
        let here = local_node_name(None);
        let opts = |node: Option<&str>, purpose| LoadOptions {
            node: node.map(String::from),
            purpose,
        };
        assert_eq!(
            node_and_mode(&opts(None, Purpose::Check)),
            (here.clone(), FactMode::Enforced)
        );
        let me = here.clone().unwrap().to_ascii_uppercase();
        assert_eq!(
            node_and_mode(&opts(Some(&me), Purpose::Check)),
            (here.clone(), FactMode::Enforced),
            "--node naming this host, in any case, is an on-node check"
        );
        assert_eq!(
            node_and_mode(&opts(Some("hbd-other-node"), Purpose::Check)),
            (Some("hbd-other-node".into()), FactMode::Warned)
        );
        assert_eq!(
            node_and_mode(&opts(Some("hbd-other-node"), Purpose::Run)),
            (Some("hbd-other-node".into()), FactMode::Enforced)
        );
        assert_eq!(
            node_and_mode(&opts(None, Purpose::Portable)),
            (None, FactMode::Warned)
        );
    }
}
