//! Cross-field rules shared by the ha.d and TOML forms: two nodes, the local node
//! among them, at least one medium, heartbeat's timing rules (spec §5.2), group
//! homes, keys, and the arguments of the resource agents hbd knows
//! ([`super::agents`]). Nothing here asks the host; its facts are
//! [`super::facts`]'s.

use super::agents;
use super::facts::group_directive;
use super::model::{
    AuthMethod, AutoFailback, Config, Diagnostic, Location, Medium, OnFail, Resource,
};
use std::collections::HashMap;
use std::net::IpAddr;

fn origin(cfg: &Config, key: &str) -> Option<Location> {
    cfg.origins.get(key).cloned()
}

/// Every problem with `cfg` as a whole. `local_node` is the lowercased name this
/// host runs as; None skips the membership rule (a portable check).
pub fn validate(cfg: &Config, local_node: Option<&str>) -> Vec<Diagnostic> {
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
    if let Some(me) = local_node {
        if !cfg.nodes.is_empty() && !cfg.nodes.iter().any(|n| n == me) {
            d.push(Diagnostic::error(
                node_loc.clone(),
                "node",
                format!(
                    "this host is {me:?}, which is not a configured node (expected one of {}; give --node NAME)",
                    cfg.nodes.join(", ")
                ),
            ))
        }
    }
    if cfg.media.is_empty() {
        d.push(Diagnostic::error(
            file_loc.clone(),
            "media",
            "no heartbeat medium is configured (expected at least one ucast, bcast, mcast, ucast6, mcast6 or serial)",
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
        for r in &g.resources {
            if let Err(e) = agents::check(r, cfg.hbd.script_timeout) {
                d.push(Diagnostic::error(
                    Some(g.location.clone()),
                    group_directive(&g.location),
                    format!("{r}: {e}"),
                ));
            }
        }
    }
    shared_resources(cfg, &mut d);
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
    if cfg.hbd.notify_timeout.millis() == 0 {
        d.push(Diagnostic::error(
            origin(cfg, "hbd.notify_timeout"),
            "notify_timeout",
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
    monitors(cfg, &mut d);
    d
}

/// What makes two resources one thing on a host: an address however it is
/// spelt (`192.0.2.10`, `IPaddr::192.0.2.10/24/eth0` and `IPaddr2::192.0.2.10`
/// are one address), a local filesystem's device, else the resource as
/// written. A network filesystem is written-only: one export mounted on both
/// nodes is normal.
#[derive(PartialEq, Eq, Hash)]
enum Identity {
    Address(IpAddr),
    Device(String),
    Written(String),
}

fn identity(r: &Resource, script_timeout: crate::time::Duration) -> Identity {
    match agents::check(r, script_timeout) {
        Ok(agents::AgentSpec::Ip(spec)) => return Identity::Address(IpAddr::V4(spec.ip)),
        Ok(agents::AgentSpec::Ipv6(spec)) => return Identity::Address(IpAddr::V6(spec.ip)),
        Ok(agents::AgentSpec::Filesystem { fstype }) => {
            let device = r.args.first().map(String::as_str).unwrap_or_default();
            let device = if let Some(l) = device.strip_prefix("-L") {
                format!("LABEL={l}")
            } else if let Some(u) = device.strip_prefix("-U") {
                format!("UUID={u}")
            } else {
                device.to_string()
            };
            let local = ["/", "LABEL=", "UUID="]
                .iter()
                .any(|p| device.starts_with(p))
                && !device.starts_with("//")
                && !fstype.as_deref().is_some_and(agents::is_network_fs);
            if local {
                return Identity::Device(device);
            }
        }
        _ => {}
    }
    Identity::Written(r.to_string())
}

/// One resource in two groups (or twice in one). heartbeat runs such a file,
/// so most cases warn; an address or local device in groups of different
/// homes is an error: while each node holds its own group it would be up on
/// both at once, which hbd never does by its own doing.
fn shared_resources(cfg: &Config, d: &mut Vec<Diagnostic>) {
    let mut first: HashMap<Identity, (usize, &Resource)> = HashMap::new();
    for (gi, g) in cfg.groups.iter().enumerate() {
        for r in &g.resources {
            let id = identity(r, cfg.hbd.script_timeout);
            let Some(&(fi, fr)) = first.get(&id) else {
                first.insert(id, (gi, r));
                continue;
            };
            let f = &cfg.groups[fi];
            let what = match &id {
                Identity::Address(ip) => format!("address {ip} is "),
                Identity::Device(dev) => format!("device {dev} is "),
                Identity::Written(_) => String::new(),
            };
            // The other group's key already names it when it is that key.
            let spelt = if fr == r || (fi != gi && fr.to_string() == f.key()) {
                String::new()
            } else {
                format!(", as {fr}")
            };
            let (at, directive) = (Some(g.location.clone()), group_directive(&g.location));
            if fi == gi {
                d.push(Diagnostic::warning(
                    at,
                    directive,
                    format!("{r}: {what}listed twice in this group{spelt} (expected it once: its second start and stop do nothing useful)"),
                ));
                continue;
            }
            let there = format!(
                "{what}also in {}'s group {} ({}{spelt})",
                f.home,
                f.key(),
                f.location
            );
            match id {
                Identity::Address(_) | Identity::Device(_) if f.home != g.home => {
                    let harm = if matches!(id, Identity::Address(_)) {
                        "it would be up on both nodes while each holds its own group"
                    } else {
                        "it would be mounted on both nodes while each holds its own group, which corrupts a local filesystem"
                    };
                    d.push(Diagnostic::error(
                        at,
                        directive,
                        format!("{r}: {there}: {harm} (expected each in one group)"),
                    ));
                }
                _ => d.push(Diagnostic::warning(
                    at,
                    directive,
                    format!("{r}: {there}: when one node holds both groups, stopping either stops it for the other too (expected each resource in one group, or its own script name per group)"),
                )),
            }
        }
    }
}

/// Monitors that name no resource (a config built by hand), and `move` in
/// legacy mode, which has no standby exchange to hand a group over with.
fn monitors(cfg: &Config, d: &mut Vec<Diagnostic>) {
    for m in &cfg.hbd.monitors {
        let loc = Some(m.location.clone()).filter(|l| l.line > 0);
        let Some(r) = cfg
            .groups
            .get(m.group)
            .and_then(|g| g.resources.get(m.resource))
        else {
            d.push(Diagnostic::error(
                loc,
                "monitor",
                format!(
                    "names resource {} of group {}, which does not exist",
                    m.resource, m.group
                ),
            ));
            continue;
        };
        if cfg.auto_failback != AutoFailback::Legacy {
            continue;
        }
        match m.on_fail {
            OnFail::Move => d.push(Diagnostic::error(
                loc,
                "on_fail",
                format!("{r}: \"move\" needs auto_failback on or off (legacy has no standby exchange to hand the group over; expected restart, block or ignore)"),
            )),
            OnFail::Restart => d.push(Diagnostic::warning(
                loc,
                "on_fail",
                format!("{r}: with auto_failback legacy a group that exhausts max_restarts is stopped and stays stopped here (it cannot be handed over)"),
            )),
            OnFail::Block | OnFail::Ignore => {}
        }
    }
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
    // Legal, but almost surely a unit mistake (a bare 1 in hbd.toml once meant
    // 1 ms): no scheduler keeps such a pace, so the peer dies on every hiccup.
    if ka > 0 && ka < 10 {
        d.push(Diagnostic::warning(
            origin(cfg, "keepalive"),
            "keepalive",
            format!("{ka}ms is below 10ms: every scheduling delay becomes a late heartbeat (expected at least 10ms; heartbeat's default is 1s)"),
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
    if dead > 2 * ka && dead < 50 {
        d.push(Diagnostic::warning(
            origin(cfg, "deadtime"),
            "deadtime",
            format!("{dead}ms is below 50ms: a pause that short declares the peer dead and takes its resources (expected at least 50ms; heartbeat's default is 30s)"),
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

    fn msgs(c: &Config, me: Option<&str>) -> Vec<String> {
        validate(c, me).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_good_config_has_no_diagnostics() {
        assert_eq!(msgs(&base(), Some("alpha")), Vec::<String>::new());
    }

    #[test]
    fn legacy_cannot_move_a_group_and_warns_that_restarts_end_stopped() {
        use crate::config::model::{Location, Monitor};
        let mut c = base();
        c.groups.push(ResourceGroup {
            home: "alpha".into(),
            resources: vec![Resource {
                name: "apache".into(),
                args: vec![],
            }],
            location: Location::default(),
        });
        let mut m = Monitor::new(0, 0);
        m.location = Location {
            file: PathBuf::from("hbd.toml"),
            line: 9,
        };
        m.on_fail = OnFail::Move;
        c.hbd.monitors.push(m.clone());
        assert_eq!(msgs(&c, Some("alpha")), Vec::<String>::new());
        c.auto_failback = AutoFailback::Legacy;
        let m1 = msgs(&c, Some("alpha"));
        assert!(
            m1.contains(&"hbd.toml:9: on_fail: apache: \"move\" needs auto_failback on or off (legacy has no standby exchange to hand the group over; expected restart, block or ignore)".to_string()),
            "{m1:?}"
        );
        c.hbd.monitors[0].on_fail = OnFail::Restart;
        let m2 = msgs(&c, Some("alpha"));
        assert!(
            m2.iter().any(|d| d
                .starts_with("hbd.toml:9: on_fail: warning: apache: with auto_failback legacy")),
            "{m2:?}"
        );
        c.hbd.monitors[0].resource = 3;
        assert!(msgs(&c, Some("alpha"))
            .iter()
            .any(|d| d.contains("names resource 3 of group 0, which does not exist")));
    }

    fn push_group(c: &mut Config, home: &str, line: usize, tokens: &[&str]) {
        c.groups
            .push(crate::config::haresources::test_group(home, line, tokens));
    }

    #[test]
    fn one_resource_in_two_groups_warns_and_one_address_or_disk_on_both_homes_is_an_error() {
        let mut c = base();
        push_group(
            &mut c,
            "alpha",
            1,
            &["192.0.2.10", "Filesystem::-Ldata::/srv::ext4", "apache"],
        );
        push_group(
            &mut c,
            "alpha",
            2,
            &["192.0.2.11", "IPaddr2::192.0.2.11/24/eth0"],
        );
        push_group(&mut c, "alpha", 3, &["192.0.2.12", "IPaddr::192.0.2.10/24"]);
        push_group(
            &mut c,
            "beta",
            4,
            &["IPaddr2::192.0.2.10/24/eth0", "apache"],
        );
        push_group(
            &mut c,
            "beta",
            5,
            &["192.0.2.13", "Filesystem::LABEL=data::/srv2"],
        );
        push_group(
            &mut c,
            "beta",
            6,
            &[
                "192.0.2.14",
                "Filesystem::nas:/x::/mnt::nfs",
                "Filesystem::nas:/x::/mnt::nfs",
            ],
        );
        push_group(
            &mut c,
            "alpha",
            7,
            &["192.0.2.15", "Filesystem::nas:/x::/mnt::nfs"],
        );
        push_group(
            &mut c,
            "beta",
            8,
            &["192.0.2.16", "Filesystem:://srv/share::/mnt/s::cifs"],
        );
        push_group(
            &mut c,
            "alpha",
            9,
            &["192.0.2.17", "Filesystem:://srv/share::/mnt/s::cifs"],
        );
        let m = msgs(&c, Some("alpha"));
        let expected = [
            "haresources:2: haresources: warning: IPaddr2::192.0.2.11/24/eth0: address 192.0.2.11 is listed twice in this group, as IPaddr::192.0.2.11 (expected it once: its second start and stop do nothing useful)",
            "haresources:3: haresources: warning: IPaddr::192.0.2.10/24: address 192.0.2.10 is also in alpha's group IPaddr::192.0.2.10 (haresources:1): when one node holds both groups, stopping either stops it for the other too (expected each resource in one group, or its own script name per group)",
            "haresources:4: haresources: IPaddr2::192.0.2.10/24/eth0: address 192.0.2.10 is also in alpha's group IPaddr::192.0.2.10 (haresources:1): it would be up on both nodes while each holds its own group (expected each in one group)",
            "haresources:4: haresources: warning: apache: also in alpha's group IPaddr::192.0.2.10 (haresources:1): when one node holds both groups, stopping either stops it for the other too (expected each resource in one group, or its own script name per group)",
            "haresources:5: haresources: Filesystem::LABEL=data::/srv2: device LABEL=data is also in alpha's group IPaddr::192.0.2.10 (haresources:1, as Filesystem::-Ldata::/srv::ext4): it would be mounted on both nodes while each holds its own group, which corrupts a local filesystem (expected each in one group)",
            "haresources:6: haresources: warning: Filesystem::nas:/x::/mnt::nfs: listed twice in this group (expected it once: its second start and stop do nothing useful)",
            "haresources:7: haresources: warning: Filesystem::nas:/x::/mnt::nfs: also in beta's group IPaddr::192.0.2.14 (haresources:6): when one node holds both groups, stopping either stops it for the other too (expected each resource in one group, or its own script name per group)",
            "haresources:9: haresources: warning: Filesystem:://srv/share::/mnt/s::cifs: also in beta's group IPaddr::192.0.2.16 (haresources:8): when one node holds both groups, stopping either stops it for the other too (expected each resource in one group, or its own script name per group)",
        ];
        assert_eq!(m, expected, "{m:#?}");
        // Each address, device and script once: nothing to say.
        c.groups.clear();
        push_group(
            &mut c,
            "alpha",
            1,
            &["192.0.2.10", "Filesystem::/dev/sdb1::/srv", "apache"],
        );
        push_group(
            &mut c,
            "beta",
            2,
            &["192.0.2.100", "Filesystem::/dev/sdb10::/srv2", "apache2"],
        );
        assert_eq!(msgs(&c, Some("alpha")), Vec::<String>::new());
    }

    #[test]
    fn compact_serial_warns_without_a_serial_link() {
        let mut c = base();
        c.hbd.compact_serial = true;
        let m = msgs(&c, Some("alpha"));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("no serial link"), "{m:?}");
        c.media.push(Medium::Serial {
            path: PathBuf::from("/dev/null"),
        });
        assert!(msgs(&c, Some("alpha")).is_empty());
    }

    #[test]
    fn agent_arguments_are_errors_naming_the_resource() {
        let mut c = base();
        c.groups.push(ResourceGroup {
            home: "alpha".into(),
            resources: vec![Resource {
                name: "IPaddr".into(),
                args: vec!["192.0.2.10/33/eth0".into()],
            }],
            location: Location {
                file: "haresources".into(),
                line: 4,
            },
        });
        let m = msgs(&c, Some("alpha"));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("haresources:4: haresources: IPaddr::192.0.2.10/33/eth0: prefix \"33\" is not a prefix length from 1 to 32 (expected IPaddr::ip["),
            "{m:?}"
        );
    }

    #[test]
    fn ping_nodes_warn_only_with_legacy_auto_failback() {
        let mut c = base();
        c.ping_nodes.push(crate::config::model::PingNode {
            name: "192.0.2.254".into(),
            addrs: vec!["192.0.2.254".into()],
        });
        assert!(msgs(&c, Some("alpha")).is_empty());
        c.auto_failback = AutoFailback::Legacy;
        let m = msgs(&c, Some("alpha"));
        assert!(
            m.iter().any(|l| l.contains(
                "ping: warning: ping nodes only move resources with auto_failback on or off"
            )),
            "{m:?}"
        );
    }

    #[test]
    fn timing_rules() {
        let mut c = base();
        c.keepalive = Duration::from_secs(5);
        let m = msgs(&c, Some("alpha"));
        assert!(
            m[0].contains("deadtime: 10000ms is too small compared to keepalive 5000ms"),
            "{m:?}"
        );
        let mut c = base();
        c.initdead = Duration::from_secs(9);
        assert!(msgs(&c, Some("alpha"))[0].contains("initdead: 9000ms is below deadtime"));
        let mut c = base();
        c.warntime = Duration::from_secs(10);
        assert!(msgs(&c, Some("alpha"))[0].contains("warning: 10000ms is not below deadtime"));
    }

    #[test]
    fn a_zero_notify_timeout_is_an_error() {
        let mut c = base();
        c.hbd.notify_timeout = Duration::ZERO;
        assert_eq!(msgs(&c, Some("alpha")), ["notify_timeout: must be above 0"]);
    }

    #[test]
    fn timers_of_a_few_milliseconds_warn() {
        let mut c = base();
        c.keepalive = Duration::from_millis(1);
        c.deadtime = Duration::from_millis(10);
        c.warntime = Duration::from_millis(5);
        let m = msgs(&c, Some("alpha"));
        assert_eq!(
            m[..2],
            [
                "keepalive: warning: 1ms is below 10ms: every scheduling delay becomes a late heartbeat (expected at least 10ms; heartbeat's default is 1s)",
                "deadtime: warning: 10ms is below 50ms: a pause that short declares the peer dead and takes its resources (expected at least 50ms; heartbeat's default is 30s)",
            ],
            "{m:?}"
        );
        c.keepalive = Duration::from_millis(10);
        c.deadtime = Duration::from_millis(50);
        assert!(
            msgs(&c, Some("alpha"))
                .iter()
                .all(|l| !l.contains("below 1")),
            "{m:?}"
        );
    }

    #[test]
    fn legacy_auto_failback_warns_written_or_by_default() {
        let mut c = base();
        c.auto_failback = AutoFailback::Legacy;
        let m = msgs(&c, Some("alpha"));
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
        let m = msgs(&c, Some("alpha"));
        assert!(
            m[0].starts_with("ha.cf:3: auto_failback: warning: legacy is deprecated"),
            "{m:?}"
        );
    }

    #[test]
    fn local_node_and_keys() {
        let c = base();
        assert!(msgs(&c, None).is_empty(), "a portable check names no node");
        assert!(msgs(&c, Some("gamma"))[0].contains("\"gamma\", which is not a configured node"));
        let mut c = base();
        c.auth.send_index = 2;
        assert!(msgs(&c, Some("alpha"))[0].contains("send key 2 is not among the keys"));
    }
}
