//! The programs a configuration has hbd run, as this host has them: resource
//! scripts (and, for the `service` agent, init scripts and systemd units),
//! heartbeat's rc.d event scripts and its harc, and cluster-glue's stonith.

use super::files::is_executable_file;
use crate::config::model::HbdOptions;
use crate::config::rcd::{self, RcScript};
use std::path::{Path, PathBuf};

/// Where Debian's cluster-glue installs `stonith`.
pub const STONITH_PATHS: [&str; 3] = ["/usr/sbin/stonith", "/sbin/stonith", "/usr/bin/stonith"];

/// cluster-glue's `stonith` binary, if this host has one.
pub fn stonith_binary() -> Option<PathBuf> {
    STONITH_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable_file(p))
}

/// Where resource scripts are looked up, in order: `<config_dir>/resource.d`,
/// each of `[hbd] resource_dirs`, hbd's agents, then the init scripts.
pub fn script_dirs(config_dir: &Path, opts: &HbdOptions) -> Vec<PathBuf> {
    std::iter::once(config_dir.join("resource.d"))
        .chain(opts.resource_dirs.iter().cloned())
        .chain([
            PathBuf::from("/usr/lib/hbd/resource.d"),
            PathBuf::from(INIT_DIR),
        ])
        .collect()
}

pub(super) const INIT_DIR: &str = "/etc/init.d";

/// Finds resource script `name` in [`script_dirs`]; the first regular
/// executable file wins.
pub fn resolve_script(config_dir: &Path, opts: &HbdOptions, name: &str) -> Option<PathBuf> {
    // A name with a path separator would escape the search path.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    script_dirs(config_dir, opts)
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

/// Every executable name in `dirs`, for a did-you-mean.
pub(super) fn script_names(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .filter(|e| is_executable_file(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Where systemd looks for unit files.
const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Whether `unit` is installed as the `service` agent runs it: a systemd unit
/// file (`name.service` when no type is given; `name@.service` for an
/// instance) or an init script in /etc/init.d.
pub fn unit_known(unit: &str) -> bool {
    let has_type = [
        ".service", ".socket", ".target", ".mount", ".timer", ".path",
    ]
    .iter()
    .any(|s| unit.ends_with(s));
    let file = if has_type {
        unit.to_string()
    } else {
        format!("{unit}.service")
    };
    let template = file
        .split_once('@')
        .and_then(|(name, rest)| rest.rsplit_once('.').map(|(_, ty)| format!("{name}@.{ty}")));
    let init = unit.strip_suffix(".service").unwrap_or(unit);
    UNIT_DIRS.iter().any(|d| {
        let d = Path::new(d);
        d.join(&file).exists() || template.as_ref().is_some_and(|t| d.join(t).exists())
    }) || is_executable_file(&Path::new(INIT_DIR).join(init))
}

/// Reads at most this much of an `rc.d` file to judge it: heartbeat's are
/// about a kilobyte; anything far larger is no shell script of theirs.
const RC_READ_LIMIT: u64 = 1 << 20;

/// heartbeat's event scripts in `<config_dir>/rc.d`, sorted by name, each
/// judged by [`rcd::classify`]; names starting with `.` are skipped, as
/// heartbeat skips them. `check` lists these; `run` reads them at start and
/// on SIGHUP and runs only the site-local ones.
pub fn rc_scripts(config_dir: &Path) -> Vec<RcScript> {
    use std::io::Read;
    let Ok(dir) = std::fs::read_dir(config_dir.join("rc.d")) else {
        return Vec::new();
    };
    let mut v: Vec<RcScript> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name.starts_with('.') {
                return None;
            }
            let path = e.path();
            let mut content = Vec::new();
            if let Ok(file) = std::fs::File::open(&path) {
                let _ = file.take(RC_READ_LIMIT).read_to_end(&mut content);
            }
            let kind = rcd::classify(&content, is_executable_file(&path));
            Some(RcScript { name, path, kind })
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// `<config_dir>/harc`, through which heartbeat runs its rc.d scripts, when
/// hbd can run them the same way: Ok(Some) for an executable file that calls
/// none of heartbeat's resource tools, Ok(None) when there is none (hbd then
/// runs `rc.d/TYPE TYPE` itself, as harc would), Err(why) when it is there
/// but hbd will not use it.
pub fn harc(config_dir: &Path) -> Result<Option<PathBuf>, String> {
    let path = config_dir.join("harc");
    let Ok(content) = std::fs::read(&path) else {
        return Ok(None);
    };
    if !is_executable_file(&path) {
        return Err(format!("{} is not an executable file", path.display()));
    }
    if let Some((tool, line)) = rcd::resource_tool_call(&content) {
        return Err(format!(
            "{} calls heartbeat's {tool} (line {line})",
            path.display()
        ));
    }
    // heartbeat's harc starts with `. $HA_FUNCS`: without the file it exits
    // before running anything.
    let funcs = config_dir.join("shellfuncs");
    if String::from_utf8_lossy(&content).contains("HA_FUNCS") && !funcs.is_file() {
        return Err(format!(
            "{} sources $HA_FUNCS and {} does not exist",
            path.display(),
            funcs.display()
        ));
    }
    Ok(Some(path))
}
