//! Facts of this host that a configuration depends on: the resource scripts
//! and what the agents need (an interface, a local subnet, a filesystem type,
//! a unit), the interfaces and serial devices of the links, the peers and ping
//! hosts to resolve, the log files and the state and run directories. This is
//! the one place in `config` that asks the host (files under /sys, /proc, /etc,
//! the resolver, the interface list); `hbd check`, `hbd run --dry-run` and
//! `hbd run` all decide with these functions, so a configuration `check`
//! approves on its node is one `run` starts with.
//!
//! How a fact that does not hold counts is the caller's [`FactMode`]: an error
//! where the configuration is to run (`run`, and `check` on the node itself), a
//! warning where it is only checked (`check --node OTHER`, `--portable`).
//! Facts of the moment (another hbd holding the lock, a port in use, an
//! interface that is down) are not checked: they are no property of the
//! configuration and `run` reports them when it meets them.

use super::agents::{self, AgentSpec};
use super::hacf::nearest;
use super::model::{Config, Diagnostic, HbdOptions, Location, Medium, Severity};
use super::rcd::{self, RcKind, RcScript};
use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// How a fact of this host that does not hold counts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FactMode {
    /// This host is the node: what `run` would refuse is an error.
    Enforced,
    /// The configuration is checked for another host: facts of this one warn.
    Warned,
}

impl FactMode {
    pub fn severity(self) -> Severity {
        match self {
            FactMode::Enforced => Severity::Error,
            FactMode::Warned => Severity::Warning,
        }
    }
}

/// `hbd run`'s defaults for `--state-dir` and `--run-dir`, which `hbd check`
/// shares so both look at the same directories, and the control commands
/// (`hbd status`, `cl_status`, …) so they find the daemon's socket.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/hbd";
pub const DEFAULT_RUN_DIR: &str = "/run/hbd";

/// Where Debian's cluster-glue installs `stonith`.
pub const STONITH_PATHS: [&str; 3] = ["/usr/sbin/stonith", "/sbin/stonith", "/usr/bin/stonith"];

/// cluster-glue's `stonith` binary, if this host has one.
pub fn stonith_binary() -> Option<PathBuf> {
    STONITH_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable_file(p))
}

/// A regular file with an execute bit: what heartbeat's ResourceManager accepts.
pub fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
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

const INIT_DIR: &str = "/etc/init.d";

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
fn script_names(dirs: &[PathBuf]) -> Vec<String> {
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

/// Whether interface `dev` exists in this network namespace.
pub fn interface_exists(dev: &str) -> bool {
    #[cfg(feature = "shell")]
    {
        nix::net::if_::if_nametoindex(dev).is_ok()
    }
    #[cfg(not(feature = "shell"))]
    {
        !dev.contains('/') && Path::new("/sys/class/net").join(dev).exists()
    }
}

/// The interfaces of this network namespace, sorted.
pub fn interface_names() -> Vec<String> {
    #[cfg(feature = "shell")]
    let mut names: Vec<String> = nix::net::if_::if_nameindex()
        .map(|l| {
            l.iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    #[cfg(not(feature = "shell"))]
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The IPv4 address of `host`: an address as written, or the first IPv4
/// address the resolver (/etc/hosts, DNS) gives for a name, as heartbeat's
/// `gethostbyname` does.
pub fn resolve_ipv4(host: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = host.parse::<Ipv4Addr>() {
        return Some(a);
    }
    // A value that is no host name never goes to the resolver.
    if host.is_empty()
        || host.len() > 253
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return None;
    }
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
        std::net::SocketAddr::V6(_) => None,
    })
}

/// One IPv4 address of an interface, with its prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub dev: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// Every IPv4 address of this network namespace; None when this build cannot
/// list them (without the `shell` feature).
pub fn ipv4_subnets() -> Option<Vec<Subnet>> {
    #[cfg(feature = "shell")]
    {
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        Some(
            addrs
                .filter_map(|a| {
                    let addr = a.address.as_ref()?.as_sockaddr_in()?.ip();
                    let mask = a.netmask.as_ref()?.as_sockaddr_in()?.ip();
                    Some(Subnet {
                        dev: a.interface_name.clone(),
                        addr,
                        prefix: u32::from(mask).leading_ones() as u8,
                    })
                })
                .collect(),
        )
    }
    #[cfg(not(feature = "shell"))]
    {
        None
    }
}

/// The IPv4 address (`broadcast == false`) or broadcast address of `dev`.
#[cfg(feature = "shell")]
pub fn interface_ipv4(dev: &str, broadcast: bool) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        if a.interface_name != dev {
            return None;
        }
        let sa = if broadcast { a.broadcast } else { a.address };
        sa.as_ref().and_then(|s| s.as_sockaddr_in()).map(|s| s.ip())
    })
}

/// heartbeat's findif: of local addresses (address, prefix length, and what
/// names their interface), the one whose subnet contains `ip` with the longest
/// prefix, ignoring `ip` itself and /32s. Returns its interface and prefix.
pub fn findif<T>(
    addrs: impl IntoIterator<Item = (Ipv4Addr, u8, T)>,
    ip: Ipv4Addr,
) -> Option<(T, u8)> {
    addrs
        .into_iter()
        .filter(|(addr, prefix, _)| *addr != ip && *prefix < 32)
        .filter(|(addr, prefix, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            u32::from(*addr) & mask == u32::from(ip) & mask
        })
        .max_by_key(|(_, prefix, _)| *prefix)
        .map(|(_, prefix, dev)| (dev, prefix))
}

/// Whether a socket can be bound to `ip` here, as `run` binds its links and
/// metrics endpoint (a UDP socket on port 0, closed at once: no traffic).
pub fn address_is_local(ip: std::net::IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
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

/// How a group is named in a diagnostic: by the file it came from.
pub fn group_directive(loc: &Location) -> &'static str {
    if loc.file.extension().is_some_and(|e| e == "toml") {
        "group"
    } else {
        "haresources"
    }
}

/// Up to eight names, for "expected one of …".
fn some_of(names: &[String]) -> String {
    let mut s = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        s.push_str(", …");
    }
    s
}

/// Collects the facts of one configuration that do not hold here.
struct Facts<'a> {
    cfg: &'a Config,
    severity: Severity,
    d: Vec<Diagnostic>,
    interfaces: Option<Vec<String>>,
}

impl Facts<'_> {
    fn push(&mut self, loc: Option<Location>, directive: &str, message: String) {
        self.d.push(Diagnostic {
            severity: self.severity,
            location: loc,
            directive: directive.to_string(),
            message,
        });
    }

    fn origin(&self, key: &str) -> Option<Location> {
        self.cfg.origins.get(key).cloned()
    }

    /// "interface … does not exist" with the interfaces that do, or None.
    fn missing_interface(&mut self, dev: &str) -> Option<String> {
        if interface_exists(dev) {
            return None;
        }
        let names = self.interfaces.get_or_insert_with(interface_names);
        Some(format!(
            "interface {dev:?} does not exist on this host (expected one of {})",
            some_of(names)
        ))
    }
}

/// Every fact `cfg` relies on that does not hold on this host, as errors
/// ([`FactMode::Enforced`]) or warnings. `config_dir` is where `resource.d` is.
pub fn check(cfg: &Config, config_dir: &Path, mode: FactMode) -> Vec<Diagnostic> {
    let mut f = Facts {
        cfg,
        severity: mode.severity(),
        d: Vec::new(),
        interfaces: None,
    };
    media(&mut f);
    ping_hosts(&mut f);
    resources(&mut f, config_dir);
    logging(&mut f);
    // run binds these; an address that is not this host's makes it refuse.
    let listen = [
        ("bind", cfg.hbd.bind),
        ("metrics", cfg.hbd.metrics.map(|a| a.ip())),
    ];
    for (key, ip) in listen {
        if let Some(ip) = ip.filter(|ip| !address_is_local(*ip)) {
            let loc = f.origin(&format!("hbd.{key}"));
            f.push(
                loc,
                key,
                format!("{ip} is not an address of this host (expected an address of one of its interfaces)"),
            );
        }
    }
    hooks(&mut f, config_dir);
    if let Some(hook) = &cfg.hbd.fence_hook {
        if !is_executable_file(hook) {
            let loc = f.origin("hbd.fence_hook");
            f.push(
                loc,
                "fence_hook",
                format!("{} is not an executable file on this host", hook.display()),
            );
        }
    }
    // run carries on without stonith (the fence module drops what it cannot
    // honour, loudly), so this stays a warning wherever it is checked.
    if !cfg.stonith_hosts.is_empty() && stonith_binary().is_none() {
        f.d.push(Diagnostic::warning(
            f.origin("stonith_host.0"),
            "stonith_host",
            format!(
                "cluster-glue's stonith is not installed ({}), so it cannot be honoured: install cluster-glue, or set [hbd] fence_hook in hbd.toml",
                STONITH_PATHS.join(", ")
            ),
        ));
    }
    f.d
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

/// The hooks `run` would run: rc.d scripts it skips (heartbeat's own, or not
/// executable) warn wherever checked, as `run` starts without them; a notify
/// hook that is not an executable file is a fact of this host.
fn hooks(f: &mut Facts, config_dir: &Path) {
    let scripts = rc_scripts(config_dir);
    let stock: Vec<&RcScript> = scripts
        .iter()
        .filter(|s| matches!(s.kind, RcKind::Heartbeat { stock: true, .. }))
        .collect();
    if !stock.is_empty() {
        let names: Vec<&str> = stock.iter().map(|s| s.name.as_str()).collect();
        let mut tools: Vec<&str> = stock
            .iter()
            .filter_map(|s| match s.kind {
                RcKind::Heartbeat { calls, .. } => calls.map(|(t, _)| t),
                _ => None,
            })
            .collect();
        tools.sort_unstable();
        tools.dedup();
        f.d.push(Diagnostic::warning(
            Some(Location {
                file: config_dir.join("rc.d"),
                line: 0,
            }),
            "rc.d",
            format!(
                "{} {} heartbeat 3.0.6's own resource manager (calling {}); hbd manages resources itself and never runs {}, or groups would be started and stopped behind its back; put site-local actions in a separate script: the [hbd] notify hook in hbd.toml (docs/operations.md, \"Hooks\")",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                tools.join(", "),
                if names.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    for s in &scripts {
        match s.kind {
            RcKind::Heartbeat {
                stock: false,
                calls: Some((tool, line)),
            } => f.d.push(Diagnostic::warning(
                Some(Location {
                    file: s.path.clone(),
                    line,
                }),
                "rc.d",
                format!(
                    "calls heartbeat's {tool}: hbd manages resources itself and never runs this script, or groups would be started and stopped behind its back; move its site-local actions to a separate script: the [hbd] notify hook in hbd.toml, or an rc.d script without heartbeat's resource tools"
                ),
            )),
            RcKind::NotExecutable => f.d.push(Diagnostic::warning(
                Some(Location {
                    file: s.path.clone(),
                    line: 0,
                }),
                "rc.d",
                format!(
                    "is not an executable file, so it is never run (heartbeat's harc refuses it too; chmod +x {} to run it on {} messages)",
                    s.path.display(),
                    s.name
                ),
            )),
            _ => {}
        }
    }
    if let Some(why) = harc(config_dir).err() {
        f.d.push(Diagnostic::warning(
            Some(Location {
                file: config_dir.join("harc"),
                line: 0,
            }),
            "harc",
            format!("{why}: hbd runs the rc.d scripts directly instead, as heartbeat's harc would (rc.d/TYPE TYPE)"),
        ));
    }
    if let Some(hook) = &f.cfg.hbd.notify {
        if !is_executable_file(hook) {
            let why = if hook.exists() {
                "is not an executable file"
            } else {
                "does not exist"
            };
            let loc = f.origin("hbd.notify");
            f.push(
                loc,
                "notify",
                format!(
                    "{} {why} on this host (expected an executable such as /usr/local/sbin/hbd-notify)",
                    hook.display()
                ),
            );
        }
    }
}

fn media(f: &mut Facts) {
    // Per kind of medium: a bcast needs a broadcast address where a ucast on
    // the same interface does not.
    let mut seen_dev: Vec<(&str, &str)> = Vec::new();
    for (i, m) in f.cfg.media.iter().enumerate() {
        let loc = f.origin(&format!("media.{i}"));
        let directive = match m {
            Medium::Ucast { .. } => "ucast",
            Medium::Bcast { .. } => "bcast",
            Medium::Mcast { .. } => "mcast",
            Medium::Serial { .. } => "serial",
        };
        if let Medium::Ucast { peer, .. } = m {
            if resolve_ipv4(peer).is_none() {
                f.push(
                    loc.clone(),
                    directive,
                    format!("peer {peer:?} does not resolve to an IPv4 address on this host (expected an address such as 192.0.2.2, or a name in /etc/hosts or DNS)"),
                );
            }
        }
        match m {
            Medium::Ucast { dev, .. } | Medium::Bcast { dev } | Medium::Mcast { dev, .. } => {
                if seen_dev.contains(&(directive, dev.as_str())) {
                    continue;
                }
                seen_dev.push((directive, dev));
                if let Some(msg) = f.missing_interface(dev) {
                    f.push(loc, directive, msg);
                    continue;
                }
                #[cfg(feature = "shell")]
                match m {
                    Medium::Bcast { .. } if interface_ipv4(dev, true).is_none() => f.push(
                        loc,
                        directive,
                        format!("interface {dev:?} has no IPv4 broadcast address on this host (expected an interface with an IPv4 address and a broadcast address)"),
                    ),
                    Medium::Mcast { .. } if interface_ipv4(dev, false).is_none() => f.push(
                        loc,
                        directive,
                        format!("interface {dev:?} has no IPv4 address on this host, so it cannot join the group (expected an interface with an IPv4 address)"),
                    ),
                    _ => {}
                }
            }
            Medium::Serial { path } => {
                if let Err(why) = serial_device(path) {
                    f.push(
                        loc,
                        directive,
                        format!(
                            "{} {why} on this host (expected a serial port such as /dev/ttyS0)",
                            path.display()
                        ),
                    );
                }
            }
        }
    }
}

fn ping_hosts(f: &mut Facts) {
    for (i, p) in f.cfg.ping_nodes.iter().enumerate() {
        let loc = f.origin(&format!("ping.{i}"));
        let directive = match &loc {
            Some(l) if group_directive(l) == "haresources" && p.addrs != [p.name.clone()] => {
                "ping_group"
            }
            _ => "ping",
        };
        for a in &p.addrs {
            if resolve_ipv4(a).is_none() {
                f.push(
                    loc.clone(),
                    directive,
                    format!("host {a:?} does not resolve to an IPv4 address on this host (expected an address such as 192.0.2.254, or a name in /etc/hosts or DNS)"),
                );
            }
        }
    }
}

fn resources(f: &mut Facts, config_dir: &Path) {
    let dirs = script_dirs(config_dir, &f.cfg.hbd);
    let mut names: Option<Vec<String>> = None;
    let mut subnets: Option<Option<Vec<Subnet>>> = None;
    let mut seen: Vec<String> = Vec::new();
    for g in &f.cfg.groups {
        let directive = group_directive(&g.location);
        let loc = Some(g.location.clone());
        for r in &g.resources {
            let token = r.to_string();
            if seen.contains(&token) {
                continue;
            }
            seen.push(token.clone());
            // builtin_ipaddr runs these in-process (src/shell/ipaddr.rs).
            let builtin =
                f.cfg.hbd.builtin_ipaddr && matches!(r.name.as_str(), "IPaddr" | "IPaddr2");
            if !builtin {
                let present = || dirs.iter().map(|d| d.join(&r.name)).find(|p| p.is_file());
                match resolve_script(config_dir, &f.cfg.hbd, &r.name) {
                    None if r.name != "." && r.name != ".." && present().is_some() => {
                        let path = present().unwrap_or_default();
                        f.push(
                            loc.clone(),
                            directive,
                            format!(
                                "resource script {} is not executable (expected chmod +x {}, as heartbeat also requires)",
                                path.display(),
                                path.display()
                            ),
                        );
                        continue;
                    }
                    None => {
                        let names = names.get_or_insert_with(|| script_names(&dirs));
                        let hint = nearest(&r.name, names.iter().map(String::as_str))
                            .map(|n| format!("; did you mean {n:?}?"))
                            .unwrap_or_default();
                        let shown: Vec<String> =
                            dirs.iter().map(|d| d.display().to_string()).collect();
                        let (last, first) = shown.split_last().expect("at least one directory");
                        f.push(
                            loc.clone(),
                            directive,
                            format!(
                                "resource script {:?} not found on this host (expected an executable in {} or {last}{hint})",
                                r.name,
                                first.join(", ")
                            ),
                        );
                        continue;
                    }
                    Some(path) if path.starts_with(INIT_DIR) && !r.args.is_empty() => {
                        f.push(
                            loc.clone(),
                            directive,
                            format!(
                                "{token:?}: {} is an init script, which takes no arguments (expected {} alone)",
                                path.display(),
                                r.name
                            ),
                        );
                        continue;
                    }
                    Some(_) => {}
                }
            }
            // Malformed arguments are validate()'s errors; only a parsed spec
            // has needs to check.
            let Ok(spec) = agents::check(r, f.cfg.hbd.script_timeout) else {
                continue;
            };
            match spec {
                AgentSpec::Ip(ip) => {
                    if let Some(msg) = ip.nic.as_deref().and_then(|n| f.missing_interface(n)) {
                        f.push(loc.clone(), directive, format!("{token}: {msg}"));
                        continue;
                    }
                    if ip.nic.is_some() && ip.prefix.is_some() {
                        continue;
                    }
                    let Some(subnets) = subnets.get_or_insert_with(ipv4_subnets) else {
                        continue;
                    };
                    let here = subnets.iter().map(|s| (s.addr, s.prefix, &s.dev));
                    if findif(here, ip.ip).is_none() {
                        let want = if ip.nic.is_none() {
                            "an interface or a prefix"
                        } else {
                            "a prefix"
                        };
                        f.push(
                            loc.clone(),
                            directive,
                            format!(
                                "{token}: no interface on this host has a subnet containing {}, so the agent cannot choose {want} (expected {}::{}/PREFIX/IFACE, or an address in a local subnet)",
                                ip.ip, r.name, ip.ip
                            ),
                        );
                    }
                }
                AgentSpec::Ipv6 { nic: Some(n) } => {
                    if let Some(msg) = f.missing_interface(&n) {
                        f.push(loc.clone(), directive, format!("{token}: {msg}"));
                    }
                }
                AgentSpec::Filesystem { fstype: Some(t) } if !fstype_known(&t) => {
                    f.push(
                        loc.clone(),
                        directive,
                        format!("{token}: filesystem type {t:?} is not known to this kernel (expected a type in /proc/filesystems, a loadable fs-{t} module or a mount.{t} helper)"),
                    );
                }
                AgentSpec::Service { unit } if !unit_known(&unit) => {
                    f.push(
                        loc.clone(),
                        directive,
                        format!("{token}: no systemd unit and no {INIT_DIR}/{} on this host (expected an installed service)", unit.strip_suffix(".service").unwrap_or(&unit)),
                    );
                }
                _ => {}
            }
        }
    }
}

fn logging(f: &mut Facts) {
    let l = &f.cfg.logging;
    for (key, path) in [("logfile", &l.logfile), ("debugfile", &l.debugfile)] {
        let Some(path) = path else { continue };
        if let Err(why) = writable_file(path) {
            let loc = f.origin(key);
            f.push(
                loc,
                key,
                format!(
                    "{} {why} (expected a file hbd may append to, in an existing directory)",
                    path.display()
                ),
            );
        }
    }
}

/// The state and run directories `run` would use: each must be a writable
/// directory or creatable, and a uuid file in the state directory must be
/// heartbeat's 16 bytes (`run` refuses another).
pub fn check_dirs(state_dir: &Path, run_dir: &Path, mode: FactMode) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let mut push = |directive: &str, message: String| {
        d.push(Diagnostic {
            severity: mode.severity(),
            location: None,
            directive: directive.to_string(),
            message,
        })
    };
    for (flag, dir) in [("--state-dir", state_dir), ("--run-dir", run_dir)] {
        if let Err(why) = writable_dir(dir) {
            push(
                flag,
                format!(
                    "{} {why} (expected a writable directory; give {flag} DIR)",
                    dir.display()
                ),
            );
        }
    }
    let uuid = state_dir.join("hb_uuid");
    if let Ok(b) = std::fs::read(&uuid) {
        if b.len() != 16 {
            push(
                "--state-dir",
                format!(
                    "{} is {} bytes long (expected 16; remove it to make a new uuid)",
                    uuid.display(),
                    b.len()
                ),
            );
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Resource, ResourceGroup};
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn group(tokens: &[&str]) -> ResourceGroup {
        ResourceGroup {
            home: "alpha".into(),
            resources: tokens
                .iter()
                .map(|t| crate::config::haresources::resource(t).unwrap())
                .collect(),
            location: Location {
                file: "haresources".into(),
                line: 1,
            },
        }
    }

    fn messages(cfg: &Config, dir: &Path, mode: FactMode) -> Vec<String> {
        check(cfg, dir, mode)
            .iter()
            .map(|d| d.to_string())
            .collect()
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
    fn a_misspelt_script_gets_a_did_you_mean() {
        let t = tempfile::tempdir().unwrap();
        script(&t.path().join("resource.d"), "Filesystem", 0o755);
        let cfg = Config {
            groups: vec![group(&["Filesytem::/dev/sdb1::/srv"])],
            ..Config::default()
        };
        let m = messages(&cfg, t.path(), FactMode::Enforced);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("haresources:1: haresources: resource script \"Filesytem\" not found on this host (expected an executable in "),
            "{m:?}"
        );
        assert!(
            m[0].ends_with("/etc/init.d; did you mean \"Filesystem\"?)"),
            "{m:?}"
        );
        let m = messages(&cfg, t.path(), FactMode::Warned);
        assert!(
            m[0].contains("haresources: warning: resource script"),
            "{m:?}"
        );
    }

    #[test]
    fn a_script_that_is_not_executable_says_so() {
        let t = tempfile::tempdir().unwrap();
        let p = script(&t.path().join("resource.d"), "hbd-test-agent", 0o644);
        let cfg = Config {
            groups: vec![group(&["hbd-test-agent"])],
            ..Config::default()
        };
        assert_eq!(
            messages(&cfg, t.path(), FactMode::Enforced),
            vec![format!(
                "haresources:1: haresources: resource script {} is not executable (expected chmod +x {}, as heartbeat also requires)",
                p.display(),
                p.display()
            )]
        );
    }

    #[test]
    fn agent_needs_are_facts() {
        let t = tempfile::tempdir().unwrap();
        for n in ["IPaddr", "Filesystem", "service"] {
            script(&t.path().join("resource.d"), n, 0o755);
        }
        let cfg = Config {
            groups: vec![group(&[
                "IPaddr::192.0.2.10/24/hbdnosuch0",
                "Filesystem::/dev/sdb1::/srv::hbdnosuchfs",
                "service::hbd-no-such-unit",
                "Filesystem::/dev/sdb2::/srv2::ext4",
            ])],
            ..Config::default()
        };
        let m = messages(&cfg, t.path(), FactMode::Enforced);
        let ext4 = fstype_known("ext4");
        assert_eq!(m.len(), if ext4 { 3 } else { 4 }, "{m:?}");
        assert!(m[0].contains("IPaddr::192.0.2.10/24/hbdnosuch0: interface \"hbdnosuch0\" does not exist on this host (expected one of "), "{m:?}");
        assert!(
            m[1].contains("filesystem type \"hbdnosuchfs\" is not known to this kernel"),
            "{m:?}"
        );
        assert!(
            m[2].contains(
                "service::hbd-no-such-unit: no systemd unit and no /etc/init.d/hbd-no-such-unit"
            ),
            "{m:?}"
        );
    }

    #[test]
    fn an_init_script_takes_no_arguments() {
        let t = tempfile::tempdir().unwrap();
        let Some(init) = std::fs::read_dir(INIT_DIR).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| is_executable_file(&Path::new(INIT_DIR).join(n)) && !n.contains('.'))
        }) else {
            eprintln!("skipped: no init script in {INIT_DIR}");
            return;
        };
        let cfg = Config {
            groups: vec![ResourceGroup {
                resources: vec![Resource {
                    name: init.clone(),
                    args: vec!["x".into()],
                }],
                ..group(&["a"])
            }],
            ..Config::default()
        };
        let m = messages(&cfg, t.path(), FactMode::Enforced);
        assert_eq!(
            m,
            vec![format!("haresources:1: haresources: \"{init}::x\": /etc/init.d/{init} is an init script, which takes no arguments (expected {init} alone)")]
        );
    }

    #[test]
    fn links_and_ping_hosts() {
        let t = tempfile::tempdir().unwrap();
        let cfg = Config {
            media: vec![
                Medium::Ucast {
                    dev: "lo".into(),
                    peer: "hbd-no-such-host.invalid".into(),
                },
                Medium::Bcast { dev: "lo".into() },
                Medium::Bcast {
                    dev: "hbdnosuch0".into(),
                },
                Medium::Serial {
                    path: "/nonexistent/ttyS9".into(),
                },
                Medium::Serial {
                    path: "/dev/null".into(),
                },
                Medium::Serial {
                    path: "/dev/tty".into(),
                },
            ],
            ping_nodes: vec![crate::config::model::PingNode {
                name: "gw".into(),
                addrs: vec!["localhost".into(), "hbd-no-such-host.invalid".into()],
            }],
            ..Config::default()
        };
        let m = messages(&cfg, t.path(), FactMode::Enforced);
        assert_eq!(
            m,
            vec![
                "ucast: peer \"hbd-no-such-host.invalid\" does not resolve to an IPv4 address on this host (expected an address such as 192.0.2.2, or a name in /etc/hosts or DNS)".to_string(),
                "bcast: interface \"lo\" has no IPv4 broadcast address on this host (expected an interface with an IPv4 address and a broadcast address)".to_string(),
                format!("bcast: interface \"hbdnosuch0\" does not exist on this host (expected one of {})", some_of(&interface_names())),
                "serial: /nonexistent/ttyS9 does not exist on this host (expected a serial port such as /dev/ttyS0)".to_string(),
                "serial: /dev/null is a character device but not a terminal on this host (expected a serial port such as /dev/ttyS0)".to_string(),
                "ping: host \"hbd-no-such-host.invalid\" does not resolve to an IPv4 address on this host (expected an address such as 192.0.2.254, or a name in /etc/hosts or DNS)".to_string(),
            ]
        );
        assert_eq!(resolve_ipv4("localhost"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(resolve_ipv4("192.0.2.7"), Some(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(resolve_ipv4("bad name"), None);
        assert!(address_is_local(Ipv4Addr::LOCALHOST.into()));
        // 192.0.2.0/24 is documentation space, on no interface of a test host.
        let mut cfg = Config::default();
        cfg.hbd.bind = Some("192.0.2.77".parse().unwrap());
        assert_eq!(
            messages(&cfg, t.path(), FactMode::Enforced),
            vec!["bind: 192.0.2.77 is not an address of this host (expected an address of one of its interfaces)"]
        );
    }

    #[test]
    fn log_files_and_directories() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(writable_file(&t.path().join("ha-log")), Ok(()));
        let missing = t.path().join("no/such/ha-log");
        assert_eq!(
            writable_file(&missing),
            Err(format!(
                "cannot be created: directory {} does not exist",
                t.path().join("no/such").display()
            ))
        );
        assert_eq!(writable_file(t.path()), Err("is a directory".into()));
        assert_eq!(writable_dir(&t.path().join("a/b/c")), Ok(()));
        let file = t.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            writable_dir(&file.join("sub")),
            Err(format!(
                "cannot be created: {} is not a directory",
                file.display()
            ))
        );
        std::fs::write(t.path().join("hb_uuid"), "short").unwrap();
        let d: Vec<String> = check_dirs(t.path(), &file, FactMode::Warned)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("--run-dir: warning: "), "{d:?}");
        assert!(
            d[1].ends_with("hb_uuid is 5 bytes long (expected 16; remove it to make a new uuid)"),
            "{d:?}"
        );
    }

    #[test]
    fn findif_prefers_the_longest_prefix() {
        let s = |dev: &str, a: [u8; 4], prefix| Subnet {
            dev: dev.into(),
            addr: Ipv4Addr::from(a),
            prefix,
        };
        let nets = [
            s("eth0", [10, 0, 0, 1], 8),
            s("eth1", [10, 1, 0, 1], 16),
            s("eth2", [10, 1, 2, 3], 32),
        ];
        let find = |ip| findif(nets.iter().map(|s| (s.addr, s.prefix, s.dev.as_str())), ip);
        assert_eq!(find(Ipv4Addr::new(10, 1, 2, 3)), Some(("eth1", 16)));
        assert_eq!(find(Ipv4Addr::new(10, 9, 0, 1)), Some(("eth0", 8)));
        assert_eq!(find(Ipv4Addr::new(192, 0, 2, 1)), None);
    }

    #[test]
    fn filesystem_types_and_units() {
        assert!(fstype_known("auto"));
        assert!(!fstype_known("hbdnosuchfs"));
        let registered = std::fs::read_to_string("/proc/filesystems").unwrap();
        let first = registered
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        assert!(fstype_known(first));
        assert!(!unit_known("hbd-no-such-unit"));
    }

    fn write(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn rc_d_scripts_are_listed_sorted_and_judged() {
        let t = tempfile::tempdir().unwrap();
        let rc = t.path().join("rc.d");
        write(
            &rc,
            "status",
            "#!/bin/sh\n$HA_NOARCHBIN/mach_down $HA_src\n",
            0o755,
        );
        write(
            &rc,
            "ip-request",
            "#!/bin/sh\nlogger \"$HA_ipaddr\"\n",
            0o755,
        );
        write(&rc, "hb_takeover", "#!/bin/sh\nlogger x\n", 0o644);
        write(&rc, ".hidden", "#!/bin/sh\n", 0o755);
        let v = rc_scripts(t.path());
        let got: Vec<(&str, bool)> = v.iter().map(|s| (s.name.as_str(), s.runs())).collect();
        assert_eq!(
            got,
            [
                ("hb_takeover", false),
                ("ip-request", true),
                ("status", false)
            ]
        );
        assert_eq!(v[0].kind, RcKind::NotExecutable);
        assert_eq!(
            v[2].kind,
            RcKind::Heartbeat {
                stock: false,
                calls: Some(("mach_down", 2))
            }
        );
        assert!(rc_scripts(&t.path().join("none")).is_empty());
        // Both skipped scripts warn, wherever checked: run starts without them.
        let cfg = Config::default();
        let m = messages(&cfg, t.path(), FactMode::Enforced);
        let rc_lines: Vec<&String> = m.iter().filter(|l| l.contains("rc.d")).collect();
        assert_eq!(rc_lines.len(), 2, "{m:?}");
        assert!(
            rc_lines
                .iter()
                .any(|l| l.contains("status:2: rc.d: warning: calls heartbeat's mach_down")),
            "{m:?}"
        );
        assert!(
            rc_lines
                .iter()
                .any(|l| l.contains("hb_takeover: rc.d: warning: is not an executable file")),
            "{m:?}"
        );
    }

    #[test]
    fn harc_is_used_only_when_it_can_run() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(harc(t.path()), Ok(None));
        let h = write(
            t.path(),
            "harc",
            "#!/bin/sh\n. $HA_FUNCS\nexec $HA_DIR/rc.d/$1 \"$@\"\n",
            0o755,
        );
        let e = harc(t.path()).unwrap_err();
        assert!(e.contains("shellfuncs does not exist"), "{e}");
        write(t.path(), "shellfuncs", "", 0o644);
        assert_eq!(harc(t.path()), Ok(Some(h.clone())));
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(harc(t.path())
            .unwrap_err()
            .contains("not an executable file"));
        write(
            t.path(),
            "harc",
            "#!/bin/sh\n/usr/share/heartbeat/ResourceManager takegroup x\n",
            0o755,
        );
        assert!(harc(t.path())
            .unwrap_err()
            .contains("calls heartbeat's ResourceManager (line 2)"));
    }

    #[test]
    fn notify_hook_must_be_executable_on_the_node_only() {
        let t = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.hbd.notify = Some(t.path().join("page"));
        cfg.origins.insert(
            "hbd.notify".into(),
            Location {
                file: "hbd.toml".into(),
                line: 7,
            },
        );
        let on = check(&cfg, t.path(), FactMode::Enforced);
        let d = on.iter().find(|d| d.directive == "notify").unwrap();
        assert!(d.is_error());
        assert!(d.to_string().starts_with("hbd.toml:7: notify: "), "{d}");
        assert!(
            d.to_string().contains("page does not exist on this host"),
            "{d}"
        );
        let off = check(&cfg, t.path(), FactMode::Warned);
        assert!(!off
            .iter()
            .find(|d| d.directive == "notify")
            .unwrap()
            .is_error());
        write(t.path(), "page", "#!/bin/sh\n", 0o644);
        let m = messages(&cfg, t.path(), FactMode::Enforced);
        assert!(
            m.iter()
                .any(|l| l.contains("page is not an executable file on this host")),
            "{m:?}"
        );
        write(t.path(), "page", "#!/bin/sh\n", 0o755);
        assert!(!messages(&cfg, t.path(), FactMode::Enforced)
            .iter()
            .any(|l| l.contains("notify")));
    }
}
