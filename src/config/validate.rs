//! Cross-field rules shared by the ha.d and TOML forms: two nodes, the local node
//! among them, at least one medium, heartbeat's timing rules (spec §5.2), group homes,
//! keys, and facts of this machine (interfaces, serial devices, scripts), which are
//! warnings for `check` and errors for `run`.

use super::load::{resolve_script, Purpose};
use super::model::{AuthMethod, AutoFailback, Config, Diagnostic, Location, Medium, Severity};
use std::path::Path;

fn origin(cfg: &Config, key: &str) -> Option<Location> {
    cfg.origins.get(key).cloned()
}

/// Every problem with `cfg` as a whole. `local_node` is the lowercased name this host
/// runs as (None when it could not be found out); `config_dir` is where `resource.d` is.
pub fn validate(
    cfg: &Config,
    local_node: Option<&str>,
    purpose: Purpose,
    config_dir: &Path,
) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let file_loc = origin(cfg, "file");
    let node_loc = origin(cfg, "node").or(file_loc.clone());
    match cfg.nodes.len() {
        2 => {}
        0 => d.push(Diagnostic::error(
            file_loc.clone(),
            "node",
            "no nodes are configured (expected two `node NAME` entries)",
        )),
        n => d.push(Diagnostic::error(
            node_loc.clone(),
            "node",
            format!(
                "{n} nodes ({}) are configured; hbd runs exactly two",
                cfg.nodes.join(", ")
            ),
        )),
    }
    match local_node {
        None => d.push(Diagnostic::error(
            node_loc.clone(),
            "node",
            "cannot tell which node this host is (give --node NAME)",
        )),
        Some(me) if !cfg.nodes.is_empty() && !cfg.nodes.iter().any(|n| n == me) => {
            d.push(Diagnostic::error(
                node_loc.clone(),
                "node",
                format!(
                    "this host is {me:?}, which is not a configured node (expected one of {}; give --node NAME)",
                    cfg.nodes.join(", ")
                ),
            ))
        }
        _ => {}
    }
    if cfg.media.is_empty() {
        d.push(Diagnostic::error(
            file_loc.clone(),
            "media",
            "no heartbeat medium is configured (expected at least one ucast, bcast, mcast or serial)",
        ));
    }
    timing(cfg, &mut d);
    for g in &cfg.groups {
        if !cfg.nodes.is_empty() && !cfg.nodes.contains(&g.home) {
            d.push(Diagnostic::error(
                Some(g.location.clone()),
                group_directive(&g.location),
                format!(
                    "home node {:?} of group {:?} is not a configured node (expected one of {})",
                    g.home,
                    g.key(),
                    cfg.nodes.join(", ")
                ),
            ));
        }
    }
    let auth_loc = origin(cfg, "auth").or(file_loc);
    if cfg.auth.keys.is_empty() {
        d.push(Diagnostic::error(
            auth_loc.clone(),
            "auth",
            "no authentication keys are configured",
        ));
    } else if cfg.auth.send_key().is_none() {
        d.push(Diagnostic::error(
            auth_loc.clone(),
            "auth",
            format!("the send key {} is not among the keys", cfg.auth.send_index),
        ));
    }
    if cfg.hbd.script_timeout.millis() == 0 {
        d.push(Diagnostic::error(
            origin(cfg, "hbd.script_timeout"),
            "script_timeout",
            "must be above 0",
        ));
    }
    if cfg.hbd.compact_serial && cfg.auth.keys.values().any(|k| k.method == AuthMethod::Crc) {
        d.push(Diagnostic::warning(
            origin(cfg, "hbd.compact_serial"),
            "compact_serial",
            "is signed with a crc key, which authenticates nothing",
        ));
    }
    if cfg.hbd.compact_serial && !cfg.media.iter().any(|m| matches!(m, Medium::Serial { .. })) {
        d.push(Diagnostic::warning(
            origin(cfg, "hbd.compact_serial"),
            "compact_serial",
            "has no effect: there is no serial link",
        ));
    }
    if cfg.auto_failback == AutoFailback::Legacy {
        let how = if cfg.origins.contains_key("auto_failback") {
            "legacy"
        } else {
            "not set, so heartbeat's default legacy applies; legacy"
        };
        d.push(Diagnostic::warning(
            origin(cfg, "auto_failback").or(origin(cfg, "file")),
            "auto_failback",
            format!("{how} is deprecated (heartbeat warns too): it can leave groups unstarted and allows no standby; write on or off"),
        ));
    }
    // ipfail refuses to run with legacy auto_failback (it exits 100); hbd's
    // uplink tie-break does the same, so say the ping lines are inert.
    if !cfg.ping_nodes.is_empty() && cfg.auto_failback == AutoFailback::Legacy {
        d.push(Diagnostic::warning(
            origin(cfg, "ping.0"),
            "ping",
            "ping nodes only move resources with auto_failback on or off (as ipfail); with legacy they are pinged but change nothing",
        ));
    }
    if !cfg.stonith_hosts.is_empty()
        && !STONITH_PATHS
            .iter()
            .any(|p| is_executable_file(Path::new(p)))
    {
        d.push(Diagnostic::warning(
            origin(cfg, "stonith_host.0"),
            "stonith_host",
            format!(
                "cluster-glue's stonith is not installed ({}), so it cannot be honoured: install cluster-glue, or set [hbd] fence_hook in hbd.toml",
                STONITH_PATHS.join(", ")
            ),
        ));
    }
    machine_facts(cfg, purpose, config_dir, &mut d);
    d
}

fn timing(cfg: &Config, d: &mut Vec<Diagnostic>) {
    let ka = cfg.keepalive.millis();
    let dead = cfg.deadtime.millis();
    if ka == 0 {
        d.push(Diagnostic::error(
            origin(cfg, "keepalive"),
            "keepalive",
            "must be above 0 (e.g. 1 or 500ms)",
        ));
    }
    if dead <= 2 * ka {
        d.push(Diagnostic::error(
            origin(cfg, "deadtime").or(origin(cfg, "keepalive")),
            "deadtime",
            format!(
                "{dead}ms is too small compared to keepalive {ka}ms (deadtime must exceed twice keepalive, so above {}ms)",
                2 * ka
            ),
        ));
    }
    if cfg.warntime.millis() == 0 {
        d.push(Diagnostic::error(
            origin(cfg, "warntime"),
            "warntime",
            "must be above 0",
        ));
    } else if cfg.warntime >= cfg.deadtime {
        d.push(Diagnostic::warning(
            origin(cfg, "warntime"),
            "warntime",
            format!(
                "{}ms is not below deadtime {dead}ms, so no late-heartbeat warning can come before death",
                cfg.warntime.millis()
            ),
        ));
    }
    if cfg.initdead < cfg.deadtime {
        d.push(Diagnostic::error(
            origin(cfg, "initdead"),
            "initdead",
            format!(
                "{}ms is below deadtime {dead}ms (initdead must be at least deadtime)",
                cfg.initdead.millis()
            ),
        ));
    } else if cfg.initdead.millis() < 10_000 {
        d.push(Diagnostic::warning(
            origin(cfg, "initdead"),
            "initdead",
            format!(
                "{}ms is short: a node booting slowly may be declared dead at startup (heartbeat recommends at least 10s)",
                cfg.initdead.millis()
            ),
        ));
    }
    if cfg.origins.contains_key("deadping") && cfg.deadping.millis() <= 2 * ka {
        d.push(Diagnostic::error(
            origin(cfg, "deadping"),
            "deadping",
            format!(
                "{}ms is too small compared to keepalive {ka}ms (must exceed twice keepalive)",
                cfg.deadping.millis()
            ),
        ));
    }
    if cfg.max_rexmit_delay.millis() == 0 {
        d.push(Diagnostic::error(
            origin(cfg, "max_rexmit_delay"),
            "max_rexmit_delay",
            "must be above 0",
        ));
    }
}

fn machine_facts(cfg: &Config, purpose: Purpose, config_dir: &Path, d: &mut Vec<Diagnostic>) {
    let mk = |loc: Option<Location>, directive: &str, msg: String| Diagnostic {
        severity: match purpose {
            Purpose::Check => Severity::Warning,
            Purpose::Run => Severity::Error,
        },
        location: loc,
        directive: directive.to_string(),
        message: msg,
    };
    let mut seen_dev = Vec::new();
    for (i, m) in cfg.media.iter().enumerate() {
        let loc = origin(cfg, &format!("media.{i}"));
        match m {
            Medium::Ucast { dev, .. } | Medium::Bcast { dev } | Medium::Mcast { dev, .. } => {
                if seen_dev.contains(dev) {
                    continue;
                }
                seen_dev.push(dev.clone());
                if !Path::new("/sys/class/net").join(dev).exists() {
                    let directive = match m {
                        Medium::Ucast { .. } => "ucast",
                        Medium::Bcast { .. } => "bcast",
                        _ => "mcast",
                    };
                    d.push(mk(
                        loc,
                        directive,
                        format!("interface {dev:?} does not exist on this host"),
                    ));
                }
            }
            Medium::Serial { path } => {
                use std::os::unix::fs::FileTypeExt;
                let ok = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device());
                if !ok {
                    d.push(mk(
                        loc,
                        "serial",
                        format!("{} is not a character device on this host", path.display()),
                    ));
                }
            }
        }
    }
    let mut seen_script = Vec::new();
    for g in &cfg.groups {
        for r in &g.resources {
            if seen_script.contains(&r.name) {
                continue;
            }
            seen_script.push(r.name.clone());
            // builtin_ipaddr runs these in-process (src/shell/ipaddr.rs).
            let builtin = cfg.hbd.builtin_ipaddr && matches!(r.name.as_str(), "IPaddr" | "IPaddr2");
            if !builtin && resolve_script(config_dir, &cfg.hbd, &r.name).is_none() {
                d.push(mk(
                    Some(g.location.clone()),
                    group_directive(&g.location),
                    format!(
                        "resource script {:?} not found (looked in {}, {}/usr/lib/hbd/resource.d and /etc/init.d)",
                        r.name,
                        config_dir.join("resource.d").display(),
                        cfg.hbd
                            .resource_dirs
                            .iter()
                            .map(|p| format!("{}, ", p.display()))
                            .collect::<String>()
                    ),
                ));
            }
        }
    }
    if let Some(hook) = &cfg.hbd.fence_hook {
        if !is_executable_file(hook) {
            d.push(mk(
                origin(cfg, "hbd.fence_hook"),
                "fence_hook",
                format!("{} is not an executable file on this host", hook.display()),
            ));
        }
    }
}

/// How a group is named in a diagnostic: by the file it came from.
fn group_directive(loc: &Location) -> &'static str {
    if loc.file.extension().is_some_and(|e| e == "toml") {
        "group"
    } else {
        "haresources"
    }
}

/// Where Debian's cluster-glue installs `stonith`.
pub const STONITH_PATHS: [&str; 3] = ["/usr/sbin/stonith", "/sbin/stonith", "/usr/bin/stonith"];

/// A regular file with an execute bit: what heartbeat's ResourceManager accepts.
pub fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{AuthKey, Resource, ResourceGroup, Secret};
    use crate::time::Duration;
    use std::path::PathBuf;

    fn base() -> Config {
        let mut c = Config {
            nodes: vec!["alpha".into(), "beta".into()],
            deadtime: Duration::from_secs(10),
            initdead: Duration::from_secs(30),
            warntime: Duration::from_secs(5),
            auto_failback: AutoFailback::On,
            ..Config::default()
        };
        c.media.push(Medium::Ucast {
            dev: "lo".into(),
            peer: "127.0.0.1".into(),
        });
        c.auth.send_index = 1;
        c.auth.keys.insert(
            1,
            AuthKey {
                method: AuthMethod::Sha1,
                secret: Secret(b"k".to_vec()),
            },
        );
        c
    }

    fn msgs(c: &Config, me: Option<&str>, p: Purpose) -> Vec<String> {
        validate(c, me, p, Path::new("/nonexistent"))
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn a_good_config_has_no_diagnostics() {
        assert_eq!(
            msgs(&base(), Some("alpha"), Purpose::Run),
            Vec::<String>::new()
        );
    }

    #[test]
    fn machine_facts_warn_in_check_and_stop_run() {
        let mut c = base();
        c.media.push(Medium::Bcast {
            dev: "hbdnosuch0".into(),
        });
        c.media.push(Medium::Serial {
            path: PathBuf::from("/nonexistent/ttyS9"),
        });
        c.groups.push(ResourceGroup {
            home: "alpha".into(),
            resources: vec![Resource {
                name: "hbd-no-such-script".into(),
                args: vec![],
            }],
            location: Location::default(),
        });
        let check = validate(&c, Some("alpha"), Purpose::Check, Path::new("/nonexistent"));
        let run = validate(&c, Some("alpha"), Purpose::Run, Path::new("/nonexistent"));
        assert_eq!(check.len(), 3, "{check:?}");
        assert!(check.iter().all(|d| !d.is_error()));
        assert_eq!(run.len(), 3);
        assert!(run.iter().all(Diagnostic::is_error));
        assert!(run[0].message.contains("\"hbdnosuch0\" does not exist"));
        assert!(run[1]
            .message
            .contains("/nonexistent/ttyS9 is not a character device"));
        assert!(run[2].message.contains("\"hbd-no-such-script\" not found"));
    }

    #[test]
    fn compact_serial_and_builtin_ipaddr() {
        let mut c = base();
        c.hbd.compact_serial = true;
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert_eq!(
            m.len(),
            1,
            "compact_serial without a serial link only warns: {m:?}"
        );
        assert!(m[0].contains("no serial link"), "{m:?}");
        c.media.push(Medium::Serial {
            path: PathBuf::from("/dev/null"),
        });
        assert!(msgs(&c, Some("alpha"), Purpose::Run).is_empty());
        // Built in, IPaddr and IPaddr2 need no script; other agents still do.
        c.groups.push(ResourceGroup {
            home: "alpha".into(),
            resources: ["IPaddr", "IPaddr2", "hbd-no-such-script"]
                .map(|n| Resource {
                    name: n.into(),
                    args: vec!["192.0.2.10".into()],
                })
                .to_vec(),
            location: Location::default(),
        });
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert_eq!(m.len(), 3, "{m:?}");
        c.hbd.builtin_ipaddr = true;
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("hbd-no-such-script"), "{m:?}");
    }

    #[test]
    fn ping_nodes_warn_only_with_legacy_auto_failback() {
        let mut c = base();
        c.ping_nodes.push(crate::config::model::PingNode {
            name: "192.0.2.254".into(),
            addrs: vec!["192.0.2.254".into()],
        });
        assert!(msgs(&c, Some("alpha"), Purpose::Run).is_empty());
        c.auto_failback = AutoFailback::Legacy;
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert!(
            m.iter().any(|l| l.contains(
                "ping: warning: ping nodes only move resources with auto_failback on or off"
            )),
            "{m:?}"
        );
    }

    #[test]
    fn stonith_host_warns_only_without_cluster_glue() {
        let mut c = base();
        c.stonith_hosts.push(crate::config::model::StonithHost {
            host: "*".into(),
            kind: "null".into(),
            params: vec!["beta".into()],
        });
        let installed = STONITH_PATHS
            .iter()
            .any(|p| is_executable_file(Path::new(p)));
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert_eq!(
            m.iter()
                .any(|l| l
                    .contains("stonith_host: warning: cluster-glue's stonith is not installed")),
            !installed,
            "{m:?}"
        );
    }

    #[test]
    fn dev_null_is_a_character_device() {
        let mut c = base();
        c.media.push(Medium::Serial {
            path: PathBuf::from("/dev/null"),
        });
        assert!(msgs(&c, Some("alpha"), Purpose::Run).is_empty());
    }

    #[test]
    fn timing_rules() {
        let mut c = base();
        c.keepalive = Duration::from_secs(5);
        let m = msgs(&c, Some("alpha"), Purpose::Check);
        assert!(
            m[0].contains("deadtime: 10000ms is too small compared to keepalive 5000ms"),
            "{m:?}"
        );
        let mut c = base();
        c.initdead = Duration::from_secs(9);
        assert!(msgs(&c, Some("alpha"), Purpose::Check)[0]
            .contains("initdead: 9000ms is below deadtime"));
        let mut c = base();
        c.warntime = Duration::from_secs(10);
        assert!(msgs(&c, Some("alpha"), Purpose::Check)[0]
            .contains("warning: 10000ms is not below deadtime"));
    }

    #[test]
    fn legacy_auto_failback_warns_written_or_by_default() {
        let mut c = base();
        c.auto_failback = AutoFailback::Legacy;
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with(
                "auto_failback: warning: not set, so heartbeat's default legacy applies"
            ),
            "{m:?}"
        );
        c.origins.insert(
            "auto_failback".into(),
            Location {
                file: "ha.cf".into(),
                line: 3,
            },
        );
        let m = msgs(&c, Some("alpha"), Purpose::Run);
        assert!(
            m[0].starts_with("ha.cf:3: auto_failback: warning: legacy is deprecated"),
            "{m:?}"
        );
    }

    #[test]
    fn local_node_and_keys() {
        let c = base();
        assert!(msgs(&c, None, Purpose::Check)[0].contains("give --node NAME"));
        assert!(msgs(&c, Some("gamma"), Purpose::Check)[0]
            .contains("\"gamma\", which is not a configured node"));
        let mut c = base();
        c.auth.send_index = 2;
        assert!(
            msgs(&c, Some("alpha"), Purpose::Check)[0].contains("send key 2 is not among the keys")
        );
    }
}
