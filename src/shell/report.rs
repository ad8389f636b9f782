//! What `hbd status` and the metrics endpoint show: the core's [`Status`]
//! joined with what only the shell knows (link counters, the configuration,
//! the process). A pure function of its arguments, so it is tested without a
//! runtime.

use super::inbox::LinkCounters;
use super::link;
use crate::config::{AutoFailback, Config};
use crate::control::{GroupReport, LinkReport, NodeReport, StatusReport, TransitionReport};
use crate::core::{NodeStatus, Status};
use crate::time::Instant;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// The status report at `now`. `counters` are the links' in `Config::media`
/// order (missing ones count zero); `config` is the path `hbd run` was given.
pub fn status_report(
    st: &Status,
    now: Instant,
    cfg: &Config,
    local: &str,
    counters: &[Arc<LinkCounters>],
    config: &Path,
) -> StatusReport {
    let ago = |t: Option<Instant>| t.map(|t| now.saturating_since(t).millis());
    let node = |n: &NodeStatus| NodeReport {
        name: n.name.clone(),
        state: n.state.clone(),
        generation: n.generation,
        last_heard_ms_ago: ago(n.last_heard),
    };
    let peer_name = cfg
        .nodes
        .iter()
        .find(|n| **n != local)
        .cloned()
        .unwrap_or_default();
    let mut peer = node(&st.peer);
    if peer.name.is_empty() {
        peer.name = peer_name;
    }
    let links = cfg
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let ls = st.links.get(i);
            let c = counters.get(i);
            let get = |f: fn(&LinkCounters) -> &AtomicU64| {
                c.map(|c| LinkCounters::get(f(c))).unwrap_or(0)
            };
            LinkReport {
                name: m.link_name(),
                kind: link::kind(m).into(),
                up: ls.is_some_and(|l| l.up),
                last_heard_ms_ago: ago(ls.and_then(|l| l.last_heard)),
                sent: get(|c| &c.sent),
                received: get(|c| &c.received),
                bad_auth: get(|c| &c.bad_auth),
                malformed: get(|c| &c.malformed),
                late: ls.map(|l| l.late).unwrap_or(0),
                errors: get(|c| &c.errors),
            }
        })
        .collect();
    let groups = cfg
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let gs = st.groups.get(i);
            GroupReport {
                key: gs.map(|s| s.key.clone()).unwrap_or_else(|| g.key()),
                home: g.home.clone(),
                owner: gs.and_then(|s| s.owner.clone()),
                state: gs.map(|s| s.state).unwrap_or_default(),
                resources: g.resources.iter().map(|r| r.to_string()).collect(),
            }
        })
        .collect();
    StatusReport {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        config: config.display().to_string(),
        uptime_ms: now.millis(),
        local: node(&st.local),
        peer,
        links,
        groups,
        rsc_hold: st.rsc_hold,
        recent: st
            .recent
            .iter()
            .map(|(t, text)| TransitionReport {
                ms_ago: now.saturating_since(*t).millis(),
                text: text.clone(),
            })
            .collect(),
        keepalive_ms: cfg.keepalive.millis(),
        deadtime_ms: cfg.deadtime.millis(),
        auto_failback: match cfg.auto_failback {
            AutoFailback::On => "on",
            AutoFailback::Off => "off",
            AutoFailback::Legacy => "legacy",
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Medium, Resource, ResourceGroup};
    use crate::core::{
        GapHistogram, GroupState, GroupStatus, LinkStatus, NodeState, NodeStatus, RscHold,
    };
    use crate::time::{t, Duration};
    use std::sync::atomic::Ordering;

    fn node(name: &str, state: NodeState, last_heard: Option<Instant>) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            state,
            generation: Some(7),
            last_heard,
        }
    }

    fn group(home: &str, resources: &[&str]) -> ResourceGroup {
        ResourceGroup {
            home: home.into(),
            resources: resources
                .iter()
                .map(|r| Resource {
                    name: r.to_string(),
                    args: vec![],
                })
                .collect(),
            location: Default::default(),
        }
    }

    fn config() -> Config {
        Config {
            nodes: vec!["alpha".into(), "beta".into()],
            media: vec![
                Medium::Ucast {
                    dev: "eth0".into(),
                    peer: "192.0.2.2".into(),
                },
                Medium::Serial {
                    path: "/dev/ttyS0".into(),
                },
            ],
            groups: vec![
                group("alpha", &["192.0.2.10", "apache"]),
                group("beta", &["nfs"]),
            ],
            keepalive: Duration::from_millis(500),
            deadtime: Duration::from_secs(5),
            auto_failback: AutoFailback::Off,
            ..Config::default()
        }
    }

    fn status(peer: NodeStatus) -> Status {
        Status {
            local: node("alpha", NodeState::Active, None),
            peer,
            links: vec![LinkStatus {
                name: "eth0".into(),
                up: true,
                last_heard: Some(t(9_700)),
                late: 2,
            }],
            groups: vec![GroupStatus {
                key: "192.0.2.10".into(),
                home: "alpha".into(),
                owner: Some("alpha".into()),
                state: GroupState::Running,
            }],
            rsc_hold: RscHold::Local,
            recent: vec![(t(4_000), "alpha: active".into())],
            late_heartbeats: 0,
            dropped_packets: 0,
            heartbeat_gaps: GapHistogram::for_timing(
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(5),
            ),
            dropped_by_reason: Default::default(),
            startup_wait: None,
            peer_config: Default::default(),
        }
    }

    #[test]
    fn links_join_the_cores_liveness_with_the_shells_counters() {
        let counters = vec![Arc::new(LinkCounters::default())];
        counters[0].sent.fetch_add(20, Ordering::Relaxed);
        counters[0].received.fetch_add(19, Ordering::Relaxed);
        counters[0].bad_auth.fetch_add(3, Ordering::Relaxed);
        counters[0].malformed.fetch_add(4, Ordering::Relaxed);
        counters[0].errors.fetch_add(5, Ordering::Relaxed);
        let st = status(node("beta", NodeState::Active, Some(t(9_900))));
        let r = status_report(
            &st,
            t(10_000),
            &config(),
            "alpha",
            &counters,
            Path::new("/etc/ha.d/ha.cf"),
        );
        assert_eq!(
            r.links,
            vec![
                LinkReport {
                    name: "eth0".into(),
                    kind: "ucast".into(),
                    up: true,
                    last_heard_ms_ago: Some(300),
                    sent: 20,
                    received: 19,
                    bad_auth: 3,
                    malformed: 4,
                    late: 2,
                    errors: 5,
                },
                // Neither the core nor the shell has this link yet: all zero.
                LinkReport {
                    name: "/dev/ttyS0".into(),
                    kind: "serial".into(),
                    ..LinkReport::default()
                },
            ]
        );
        assert_eq!(r.peer.last_heard_ms_ago, Some(100));
        assert_eq!(r.local.last_heard_ms_ago, None);
        assert_eq!(r.uptime_ms, 10_000);
        assert_eq!(r.config, "/etc/ha.d/ha.cf");
        assert_eq!(
            (r.keepalive_ms, r.deadtime_ms, r.auto_failback.as_str()),
            (500, 5_000, "off")
        );
        assert_eq!(r.rsc_hold, RscHold::Local);
        assert_eq!(
            r.recent,
            vec![TransitionReport {
                ms_ago: 6_000,
                text: "alpha: active".into()
            }]
        );
    }

    #[test]
    fn groups_the_core_does_not_report_yet_are_stopped_under_their_config_key() {
        let st = status(node("beta", NodeState::Up, None));
        let r = status_report(&st, t(10_000), &config(), "alpha", &[], Path::new("ha.cf"));
        assert_eq!(
            r.groups,
            vec![
                GroupReport {
                    key: "192.0.2.10".into(),
                    home: "alpha".into(),
                    owner: Some("alpha".into()),
                    state: GroupState::Running,
                    resources: vec!["192.0.2.10".into(), "apache".into()],
                },
                GroupReport {
                    key: "nfs".into(),
                    home: "beta".into(),
                    owner: None,
                    state: GroupState::Stopped,
                    resources: vec!["nfs".into()],
                },
            ]
        );
    }

    #[test]
    fn an_unheard_peer_is_named_from_the_config() {
        let unheard = node("", NodeState::Init, None);
        let r = status_report(
            &status(unheard),
            t(1_000),
            &config(),
            "alpha",
            &[],
            Path::new("ha.cf"),
        );
        assert_eq!(r.peer.name, "beta");
        assert_eq!(r.peer.state, NodeState::Init);
        // Whichever node runs, the other one is the peer.
        let r = status_report(
            &status(node("", NodeState::Init, None)),
            t(1_000),
            &config(),
            "beta",
            &[],
            Path::new("ha.cf"),
        );
        assert_eq!(r.peer.name, "alpha");
    }
}
