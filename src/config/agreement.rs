//! What the two nodes of a pair must agree on, part by part: the resource
//! groups and their home nodes (the home-node rule settles an overlap by
//! them), auto_failback, the timers the peer's verdicts depend on, the auth
//! methods and the ping nodes (ipfail compares counts of the same nodes).
//!
//! hbd sends its [`Agreement`] to an hbd peer (`t=hbd-config`, docs/wire.md)
//! and compares the peer's with its own. It travels per part, not as one
//! digest, so that a node seeing a mismatch can name what differs; values
//! that are not secret go in clear (a timer, a home node, a method name), the
//! rest as a short digest (a group's resources, the ping node addresses).
//! Never a key, nor anything derived from one.

#![forbid(unsafe_code)]

use super::{AutoFailback, Config};
use crate::time::Duration;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// One group as both nodes must see it: its home node, and a digest of its
/// resources (names and arguments, in haresources order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDigest {
    pub home: String,
    /// The first 64 bits of SHA-256 over the resources, as 16 hex digits.
    pub resources: String,
}

/// The parts both nodes must agree on. Each part is None when a peer did not
/// send it or sent it unreadable (a newer or older hbd): such a part is not
/// compared, rather than reported as different.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agreement {
    /// In haresources order.
    pub groups: Option<Vec<GroupDigest>>,
    /// `on`, `off` or `legacy`.
    pub auto_failback: Option<String>,
    pub keepalive: Option<Duration>,
    pub deadtime: Option<Duration>,
    pub initdead: Option<Duration>,
    /// The outbound key index (`auth N`).
    pub auth: Option<u8>,
    /// Every key's index and method, ascending: `1:sha1,2:md5`.
    pub auth_methods: Option<String>,
    /// How many ping nodes, and a digest of their names and addresses.
    pub ping: Option<(usize, String)>,
}

/// 64 bits of SHA-256 over `parts`, each ended by a NUL so that no two lists
/// run together into the same bytes.
fn digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut s = String::with_capacity(16);
    for b in &d[..8] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl AutoFailback {
    /// The directive's value as written in ha.cf.
    pub fn word(self) -> &'static str {
        match self {
            AutoFailback::On => "on",
            AutoFailback::Off => "off",
            AutoFailback::Legacy => "legacy",
        }
    }
}

impl Agreement {
    /// This node's parts, from its validated configuration.
    pub fn of(cfg: &Config) -> Agreement {
        let groups = cfg
            .groups
            .iter()
            .map(|g| {
                let res: Vec<String> = g.resources.iter().map(|r| r.to_string()).collect();
                GroupDigest {
                    home: g.home.to_lowercase(),
                    resources: digest(res.iter().map(String::as_str)),
                }
            })
            .collect();
        let auth_methods = cfg
            .auth
            .keys
            .iter()
            .map(|(i, k)| format!("{i}:{}", k.method.name()))
            .collect::<Vec<_>>()
            .join(",");
        let ping_text: Vec<String> = cfg
            .ping_nodes
            .iter()
            .map(|p| format!("{} {}", p.name, p.addrs.join(" ")))
            .collect();
        Agreement {
            groups: Some(groups),
            auto_failback: Some(cfg.auto_failback.word().into()),
            keepalive: Some(cfg.keepalive),
            deadtime: Some(cfg.deadtime),
            initdead: Some(cfg.initdead),
            auth: Some(cfg.auth.send_index),
            auth_methods: Some(auth_methods),
            ping: Some((
                cfg.ping_nodes.len(),
                digest(ping_text.iter().map(String::as_str)),
            )),
        }
    }

    /// What differs between ours (`self`, from `cfg`) and `peer`'s (named
    /// `peer_name`), one line per difference; empty when every part both
    /// sides stated agrees. `cfg` names our groups by key and haresources line.
    pub fn differences(&self, peer: &Agreement, peer_name: &str, cfg: &Config) -> Vec<String> {
        let mut out = Vec::new();
        let mut scalar = |what: &str, ours: Option<String>, theirs: Option<String>| {
            if let (Some(o), Some(t)) = (ours, theirs) {
                if o != t {
                    out.push(format!("{what}: {o} here, {t} on {peer_name}"));
                }
            }
        };
        scalar(
            "auto_failback",
            self.auto_failback.clone(),
            peer.auto_failback.clone(),
        );
        let ms = |d: Option<Duration>| d.map(|d| d.to_string());
        scalar("keepalive", ms(self.keepalive), ms(peer.keepalive));
        scalar("deadtime", ms(self.deadtime), ms(peer.deadtime));
        scalar("initdead", ms(self.initdead), ms(peer.initdead));
        let key = |i: Option<u8>| i.map(|i| format!("auth {i}"));
        scalar("auth", key(self.auth), key(peer.auth));
        scalar(
            "authkeys methods",
            self.auth_methods.clone(),
            peer.auth_methods.clone(),
        );
        if let (Some((n, d)), Some((pn, pd))) = (&self.ping, &peer.ping) {
            if n != pn {
                out.push(format!("ping nodes: {n} here, {pn} on {peer_name}"));
            } else if d != pd {
                out.push(format!(
                    "ping nodes: {n} on both, but not the same addresses as {peer_name}'s"
                ));
            }
        }
        if let (Some(ours), Some(theirs)) = (&self.groups, &peer.groups) {
            if ours.len() != theirs.len() {
                out.push(format!(
                    "resource groups: {} here, {} on {peer_name}",
                    ours.len(),
                    theirs.len()
                ));
            }
            for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
                let name = match cfg.groups.get(i) {
                    Some(g) if g.location.line > 0 => format!("group {} ({})", g.key(), g.location),
                    Some(g) => format!("group {}", g.key()),
                    None => format!("group {}", i + 1),
                };
                if o.home != t.home {
                    out.push(format!(
                        "{name}: home {} here, {} in {peer_name}'s haresources",
                        o.home, t.home
                    ));
                }
                if o.resources != t.resources {
                    out.push(format!("{name}: resources differ from {peer_name}'s"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        Auth, AuthKey, AuthMethod, Location, PingNode, Resource, ResourceGroup, Secret,
    };

    fn res(name: &str, args: &[&str]) -> Resource {
        Resource {
            name: name.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn cfg() -> Config {
        Config {
            nodes: vec!["alpha".into(), "beta".into()],
            auto_failback: AutoFailback::On,
            groups: vec![
                ResourceGroup {
                    home: "alpha".into(),
                    resources: vec![res("IPaddr", &["192.0.2.10"]), res("apache", &[])],
                    location: Location {
                        file: "haresources".into(),
                        line: 1,
                    },
                },
                ResourceGroup {
                    home: "beta".into(),
                    resources: vec![res("IPaddr", &["192.0.2.11"])],
                    location: Location {
                        file: "haresources".into(),
                        line: 2,
                    },
                },
            ],
            auth: Auth {
                send_index: 1,
                keys: [(
                    1,
                    AuthKey {
                        method: AuthMethod::Sha1,
                        secret: Secret(b"very secret".to_vec()),
                    },
                )]
                .into_iter()
                .collect(),
            },
            ..Config::default()
        }
    }

    #[test]
    fn identical_configs_agree_and_the_digest_is_stable() {
        let a = Agreement::of(&cfg());
        assert!(a
            .differences(&Agreement::of(&cfg()), "beta", &cfg())
            .is_empty());
        let g = a.groups.as_ref().unwrap();
        assert_eq!(g[0].home, "alpha");
        assert_eq!(g[0].resources.len(), 16);
        assert_ne!(g[0].resources, g[1].resources);
        assert_eq!(a.auth_methods.as_deref(), Some("1:sha1"));
        assert_eq!(a.auto_failback.as_deref(), Some("on"));
    }

    #[test]
    fn never_a_key() {
        let a = Agreement::of(&cfg());
        let all = format!("{a:?}");
        assert!(!all.contains("very secret"), "{all}");
        // A different secret with the same method agrees: keys are not compared.
        let mut other = cfg();
        other.auth.keys.get_mut(&1).unwrap().secret = Secret(b"another".to_vec());
        assert_eq!(Agreement::of(&other), a);
    }

    #[test]
    fn each_difference_is_named_with_both_values() {
        let ours = cfg();
        let mut theirs = cfg();
        theirs.auto_failback = AutoFailback::Off;
        theirs.deadtime = Duration::from_millis(5000);
        theirs.groups[0].home = "beta".into();
        theirs.groups[1].resources[0].args[0] = "192.0.2.12".into();
        theirs.auth.send_index = 2;
        theirs.auth.keys.insert(
            2,
            AuthKey {
                method: AuthMethod::Md5,
                secret: Secret(b"x".to_vec()),
            },
        );
        theirs.ping_nodes.push(PingNode {
            name: "192.0.2.1".into(),
            addrs: vec!["192.0.2.1".into()],
        });
        let d = Agreement::of(&ours).differences(&Agreement::of(&theirs), "beta", &ours);
        assert_eq!(
            d,
            [
                "auto_failback: on here, off on beta",
                "deadtime: 30s here, 5s on beta",
                "auth: auth 1 here, auth 2 on beta",
                "authkeys methods: 1:sha1 here, 1:sha1,2:md5 on beta",
                "ping nodes: 0 here, 1 on beta",
                "group IPaddr::192.0.2.10 (haresources:1): home alpha here, beta in beta's haresources",
                "group IPaddr::192.0.2.11 (haresources:2): resources differ from beta's",
            ]
        );
    }

    #[test]
    fn a_missing_group_and_reordered_resources_are_differences() {
        let ours = cfg();
        let mut theirs = cfg();
        theirs.groups.pop();
        theirs.groups[0].resources.reverse();
        let d = Agreement::of(&ours).differences(&Agreement::of(&theirs), "beta", &ours);
        assert_eq!(
            d,
            [
                "resource groups: 2 here, 1 on beta",
                "group IPaddr::192.0.2.10 (haresources:1): resources differ from beta's",
            ]
        );
    }

    #[test]
    fn parts_the_peer_did_not_state_are_not_compared() {
        let ours = Agreement::of(&cfg());
        let theirs = Agreement {
            deadtime: Some(Duration::from_millis(1)),
            ..Agreement::default()
        };
        assert_eq!(
            ours.differences(&theirs, "beta", &cfg()),
            ["deadtime: 30s here, 1ms on beta"]
        );
    }
}
