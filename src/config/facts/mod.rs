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
//!
//! Here: the check of a configuration against these facts (and of the state
//! and run directories). The facts themselves are asked in `files.rs`,
//! `net.rs` and `scripts.rs`.

mod files;
mod ipaddr;
mod net;
mod scripts;

pub use files::{
    fstype_known, is_executable_file, serial_device, watchdog_device, writable_dir, writable_file,
};
pub use ipaddr::{agents_conf, ip_agent, ipaddr_runner};
#[cfg(feature = "shell")]
pub use net::interface_ipv4;
pub use net::{
    address_is_local, findif, findif6, interface_exists, interface_names, ipv4_subnets,
    resolve_ipv4, Subnet,
};
pub use scripts::{
    harc, rc_scripts, resolve_script, script_dirs, stonith_binary, unit_known, STONITH_PATHS,
};

use super::agents::{self, AgentSpec, Ip6Spec};
use super::hacf::nearest;
use super::ipaddr_runner::{octal_prefix, Agent};
use super::model::{Config, Diagnostic, Location, Medium, Severity};
use super::rcd::{RcKind, RcScript};
use scripts::{script_names, INIT_DIR};
use std::path::Path;

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
    // run refuses to start without the self-fencing it was asked for.
    if let Some(dev) = &cfg.watchdog {
        if let Err(why) = watchdog_device(dev) {
            let loc = f.origin("watchdog");
            f.push(
                loc,
                "watchdog",
                format!(
                    "{} {why} on this host (expected a watchdog device such as /dev/watchdog)",
                    dev.display()
                ),
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
        let directive = m.kind();
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
            Medium::Ucast { dev, .. }
            | Medium::Bcast { dev }
            | Medium::Mcast { dev, .. }
            | Medium::Ucast6 { dev, .. }
            | Medium::Mcast6 { dev, .. } => {
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
                    Medium::Ucast6 {
                        scope: Some(scope),
                        peer,
                        ..
                    } => {
                        if let Some(why) = ucast6_scope_mismatch(dev, scope) {
                            f.push(
                                loc,
                                directive,
                                format!("peer {peer}%{scope}: {why}"),
                            );
                        }
                    }
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

/// Why a numeric `ucast6` scope is not `dev`'s index on this host (heartbeat
/// refuses the line then), if it is not.
#[cfg(feature = "shell")]
pub fn ucast6_scope_mismatch(dev: &str, scope: &str) -> Option<String> {
    let index = nix::net::if_::if_nametoindex(dev).ok()?;
    match scope.parse::<u32>() {
        Ok(n) if n != index => Some(format!(
            "scope id {n} is not interface {dev:?}, whose index is {index} (expected %{dev} or %{index})"
        )),
        _ => None,
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
            // builtin_ipaddr runs these in-process (src/shell/ipaddr.rs) where
            // it says so (config::ipaddr_runner). IPv6 addresses always are
            // (hbd has no IPv6 agent script).
            let runner = ipaddr_runner(f.cfg, config_dir, r);
            let builtin = runner.as_ref().is_some_and(|c| c.builtin) || agents::is_ipv6_address(r);
            if let (Some(c), [arg]) = (&runner, r.args.as_slice()) {
                let hbds = || matches!(ip_agent(config_dir, f.cfg, &r.name), Agent::Hbd(_));
                if let Some(cidr) = octal_prefix(arg).filter(|_| !c.builtin && hbds()) {
                    let (ip, rest) = arg.split_once('/').unwrap_or((arg, ""));
                    let fixed = rest.replacen(cidr, &cidr[1..], 1);
                    f.push(
                        loc.clone(),
                        directive,
                        format!(
                            "{token}: hbd's {} agent runs it here and fails on prefix {cidr:?}: its shell reads a leading 0 as octal, and 8 and 9 are not octal digits (expected {}::{ip}/{fixed})",
                            r.name, r.name
                        ),
                    );
                    continue;
                }
            }
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
                AgentSpec::Ipv6(Ip6Spec { ip, prefix, nic }) => {
                    if let Some(msg) = nic.as_deref().and_then(|n| f.missing_interface(n)) {
                        f.push(loc.clone(), directive, format!("{token}: {msg}"));
                        continue;
                    }
                    if nic.is_some() && prefix.is_some() {
                        continue;
                    }
                    let Some(here) = net::ipv6_subnets() else {
                        continue;
                    };
                    let here = here.iter().map(|(dev, a, p)| (*a, *p, dev));
                    if net::findif6(here, ip).is_none() {
                        let want = if nic.is_none() {
                            "an interface or a prefix"
                        } else {
                            "a prefix"
                        };
                        f.push(
                            loc.clone(),
                            directive,
                            format!(
                                "{token}: no interface on this host has an IPv6 subnet containing {ip}, so hbd cannot choose {want} (expected {}::{}/PREFIX/IFACE, or an address in a local subnet)",
                                r.name,
                                agents::expanded(ip)
                            ),
                        );
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
mod tests;
