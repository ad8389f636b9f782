//! What `hbd status` and the metrics endpoint show: the core's [`Status`]
//! joined with what only the shell knows (link counters, the configuration,
//! the process). A pure function of its arguments, so it is tested without a
//! runtime.

use super::inbox::AnnounceNews;
use super::inbox::LinkCounters;
use super::link;
use crate::config::Config;
use crate::control::{
    ConvergenceReport, ConvergenceState, FailureReport, GroupReport, LinkReport, LossCount,
    MonitorReport, NodeReport, Problem, ProblemKind, StatusReport, TargetAnswer, TransitionReport,
};
use crate::core::announce::Verdict;
use crate::core::{Failure, NodeStatus, PeerConfigState, Status};
use crate::time::{Duration, Instant};
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
    let count = |(lost, of): (u32, u32)| LossCount { lost, of };
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
                loss: ls.and_then(|l| l.rx_loss).map(count),
                peer_loss: ls.and_then(|l| l.tx_loss).map(count),
                copies: ls.map_or(1, |l| l.copies.max(1)),
                advice: ls.and_then(|l| l.advice.clone()),
                ..LinkReport::default()
            }
        })
        .collect();
    let failure = |f: &Failure| FailureReport {
        resource: f.resource.clone(),
        action: f.action.word().into(),
        exit_code: f.code,
        reason: f.reason.clone(),
        output: f.output.clone(),
        ms_ago: now.saturating_since(f.at).millis(),
    };
    let groups = cfg
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let gs = st.groups.get(i);
            let rs = |r: usize| gs.and_then(|s| s.resources.get(r));
            let monitors = cfg
                .hbd
                .monitors
                .iter()
                .filter(|m| m.group == i && m.resource < g.resources.len())
                .map(|m| MonitorReport {
                    resource: g.resources[m.resource].to_string(),
                    check: m.check.word().into(),
                    interval_ms: m.interval.millis(),
                    on_fail: m.on_fail.word().into(),
                    state: rs(m.resource).and_then(|r| r.monitor).unwrap_or_default(),
                    fail_count: rs(m.resource).map_or(0, |r| r.fail_count),
                    last_failure: rs(m.resource)
                        .and_then(|r| r.last_failure.as_ref())
                        .map(failure),
                })
                .collect();
            GroupReport {
                key: gs.map(|s| s.key.clone()).unwrap_or_else(|| g.key()),
                home: g.home.clone(),
                owner: gs.and_then(|s| s.owner.clone()),
                state: gs.map(|s| s.state).unwrap_or_default(),
                resources: g.resources.iter().map(|r| r.to_string()).collect(),
                failure: gs.and_then(|s| s.failure.as_ref()).map(failure),
                fail_counts: (0..g.resources.len())
                    .map(|r| rs(r).map_or(0, |r| r.fail_count))
                    .collect(),
                monitors,
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
        auto_failback: cfg.auto_failback.word().into(),
        parameters: crate::config::parameters::heartbeat_parameters(cfg),
        persistent_standby: st.persistent_standby,
        // The shell says whether it is recorded (`Persistent`).
        maintenance: if st.maintenance {
            crate::control::Maintenance::On
        } else {
            crate::control::Maintenance::Off
        },
        peer_maintenance: st.peer_maintenance,
        peer_restart_wait_ms: st
            .peer_restart_deadline
            .map(|d| d.saturating_since(now).millis()),
        ..StatusReport::default()
    }
}

// ------------------------------------------------ the peer as a partner

/// Packets claiming to be the peer's that fail authentication, per link.
/// heartbeat logs each kind once in a while and goes on; but two nodes whose
/// authkeys differ each declare the other dead and take over: a split brain
/// in the making, which `status` must show as an error.
#[derive(Debug, Default)]
pub struct PeerAuth {
    links: Vec<AuthFailures>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AuthFailures {
    total: u64,
    last: Option<Instant>,
    /// `Rejection::reason` of the last one (`bad_mac`, `unknown_key`, …).
    reason: &'static str,
}

impl PeerAuth {
    /// How long after the last failure a link still counts as failing: the
    /// peer sends at least one packet per keepalive, so a dead time without
    /// one means it stopped (or the keys were fixed).
    pub fn window(cfg: &Config) -> Duration {
        cfg.deadtime
    }

    /// A packet on `link` claiming to be the peer's failed authentication
    /// for `reason`. True when it starts a run of failures (the first, or the
    /// first after a quiet window): the moment to say so once in the log.
    pub fn failed(
        &mut self,
        link: usize,
        now: Instant,
        reason: &'static str,
        window: Duration,
    ) -> bool {
        if self.links.len() <= link {
            self.links.resize(link + 1, AuthFailures::default());
        }
        let l = &mut self.links[link];
        let starts = l.last.map_or(true, |t| now.saturating_since(t) > window);
        l.total += 1;
        l.last = Some(now);
        l.reason = reason;
        starts
    }

    pub fn total(&self, link: usize) -> u64 {
        self.links.get(link).map_or(0, |l| l.total)
    }

    /// Failures on `link` within `window` of `now`, and the peer not heard
    /// on it (`last_heard`, verified packets only) since the last one.
    fn failing(
        &self,
        link: usize,
        now: Instant,
        window: Duration,
        last_heard: Option<Instant>,
    ) -> Option<&AuthFailures> {
        let l = self.links.get(link)?;
        let last = l.last?;
        (now.saturating_since(last) <= window && last_heard.map_or(true, |h| h < last)).then_some(l)
    }
}

/// Adds to `r` what concerns the peer as a partner: the start-up negotiation
/// wait, the configuration comparison, packets failing authentication, and
/// a problem line for each thing an operator must look at.
pub fn peer_checks(r: &mut StatusReport, st: &Status, now: Instant, cfg: &Config, auth: &PeerAuth) {
    r.startup_wait_left_ms = st.startup_wait.map(|t| t.saturating_since(now).millis());
    r.peer_config = st.peer_config.clone();
    let window = PeerAuth::window(cfg);
    let peer = r.peer.name.clone();
    for (i, link) in r.links.iter_mut().enumerate() {
        link.peer_auth_failures = auth.total(i);
        let last_heard = st.links.get(i).and_then(|l| l.last_heard);
        let Some(f) = auth.failing(i, now, window, last_heard) else {
            continue;
        };
        link.peer_auth_failing = true;
        let ago = f.last.map_or(0, |t| now.saturating_since(t).millis());
        r.problems.push(Problem {
            kind: ProblemKind::PeerAuthFailing,
            text: format!(
                "packets from {peer} on {} fail authentication ({}, {} so far, the last {} ago) and {peer} is not heard on it: authkeys differ?",
                link.name,
                f.reason,
                f.total,
                Duration::from_millis(ago)
            ),
        });
    }
    if st.peer_config.state == PeerConfigState::Differs {
        r.problems.push(Problem {
            kind: ProblemKind::PeerConfigDiffers,
            text: format!(
                "configuration differs from {peer}'s: {}",
                st.peer_config.differences.join("; ")
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AutoFailback, Medium, Resource, ResourceGroup};
    use crate::core::{
        Action, GapHistogram, GroupState, GroupStatus, LinkStatus, MonitorState, NodeState,
        NodeStatus, ResourceStatus, RscHold,
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
                ..LinkStatus::default()
            }],
            groups: vec![GroupStatus {
                key: "192.0.2.10".into(),
                home: "alpha".into(),
                owner: Some("alpha".into()),
                state: GroupState::Running,
                failure: None,
                resources: vec![ResourceStatus::default(), ResourceStatus::default()],
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
            persistent_standby: None,
            maintenance: false,
            peer_maintenance: false,
            peer_restart_deadline: None,
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
                    copies: 1,
                    ..LinkReport::default()
                },
                // Neither the core nor the shell has this link yet: all zero,
                // each status sent once.
                LinkReport {
                    name: "/dev/ttyS0".into(),
                    kind: "serial".into(),
                    copies: 1,
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
                    failure: None,
                    fail_counts: vec![0, 0],
                    monitors: vec![],
                },
                GroupReport {
                    key: "nfs".into(),
                    home: "beta".into(),
                    owner: None,
                    state: GroupState::Stopped,
                    resources: vec!["nfs".into()],
                    failure: None,
                    fail_counts: vec![0],
                    monitors: vec![],
                },
            ]
        );
    }

    #[test]
    fn a_failure_and_the_monitors_are_reported_with_their_age() {
        let mut cfg = config();
        let mut m = crate::config::Monitor::new(0, 1);
        m.interval = Duration::from_secs(5);
        m.on_fail = crate::config::OnFail::Move;
        cfg.hbd.monitors.push(m);
        let mut st = status(node("beta", NodeState::Active, None));
        let failure = Failure {
            resource: "apache".into(),
            action: Action::Monitor,
            code: Some(7),
            reason: "not running (exit 7)".into(),
            output: "apache is stopped".into(),
            at: t(7_000),
        };
        st.groups[0].state = GroupState::Failed;
        st.groups[0].owner = None;
        st.groups[0].failure = Some(failure.clone());
        st.groups[0].resources[1] = ResourceStatus {
            fail_count: 3,
            monitor: Some(MonitorState::Failed),
            last_failure: Some(failure),
        };
        let r = status_report(&st, t(10_000), &cfg, "alpha", &[], Path::new("hbd.toml"));
        let want_failure = FailureReport {
            resource: "apache".into(),
            action: "monitor".into(),
            exit_code: Some(7),
            reason: "not running (exit 7)".into(),
            output: "apache is stopped".into(),
            ms_ago: 3_000,
        };
        let g = &r.groups[0];
        assert_eq!(g.state, GroupState::Failed);
        assert_eq!(g.failure.as_ref(), Some(&want_failure));
        assert_eq!(g.fail_counts, vec![0, 3]);
        assert_eq!(
            g.monitors,
            vec![MonitorReport {
                resource: "apache".into(),
                check: "status".into(),
                interval_ms: 5_000,
                on_fail: "move".into(),
                state: MonitorState::Failed,
                fail_count: 3,
                last_failure: Some(want_failure),
            }]
        );
    }

    #[test]
    fn a_run_of_auth_failures_is_reported_once_then_again_after_a_quiet_window() {
        let mut a = PeerAuth::default();
        let w = Duration::from_secs(5);
        assert!(a.failed(1, t(1000), "bad_mac", w), "the first starts a run");
        assert!(!a.failed(1, t(2000), "bad_mac", w));
        assert!(
            !a.failed(1, t(7000), "unknown_key", w),
            "5 s apart: same run"
        );
        assert!(
            a.failed(1, t(12_001), "bad_mac", w),
            "quiet for more than 5 s"
        );
        assert_eq!((a.total(0), a.total(1), a.total(9)), (0, 4, 0));
    }

    #[test]
    fn auth_failures_are_an_error_while_recent_and_the_peer_unheard() {
        let cfg = config();
        let window = PeerAuth::window(&cfg);
        let mut auth = PeerAuth::default();
        auth.failed(0, t(9_000), "bad_mac", window);
        auth.failed(0, t(9_500), "bad_mac", window);
        let unheard = |st: &mut Status| st.links[0].last_heard = Some(t(8_000));
        let report = |st: &Status, now: u64| {
            let mut r = status_report(st, t(now), &cfg, "alpha", &[], Path::new("ha.cf"));
            peer_checks(&mut r, st, t(now), &cfg, &auth);
            r
        };
        let mut st = status(node("beta", NodeState::Dead, None));
        unheard(&mut st);
        let r = report(&st, 10_000);
        assert!(r.links[0].peer_auth_failing);
        assert_eq!(r.links[0].peer_auth_failures, 2);
        assert_eq!(
            r.problems,
            [Problem {
                kind: ProblemKind::PeerAuthFailing,
                text: "packets from beta on eth0 fail authentication (bad_mac, 2 so far, the last 500ms ago) and beta is not heard on it: authkeys differ?".into()
            }]
        );
        // The keys were fixed: the peer is heard since the last failure.
        st.links[0].last_heard = Some(t(9_800));
        let r = report(&st, 10_000);
        assert!(!r.links[0].peer_auth_failing && r.problems.is_empty());
        assert_eq!(r.links[0].peer_auth_failures, 2, "the count stays");
        // Or the packets stopped (the peer was stopped): a deadtime later it is over.
        unheard(&mut st);
        assert!(report(&st, 9_500 + 5_000).links[0].peer_auth_failing);
        assert!(report(&st, 9_500 + 5_001).problems.is_empty());
    }

    #[test]
    fn the_startup_wait_and_a_differing_peer_config_are_reported() {
        use crate::core::PeerConfig;
        let cfg = config();
        let mut st = status(node("beta", NodeState::Active, None));
        st.startup_wait = Some(t(12_000));
        st.peer_config = PeerConfig {
            state: PeerConfigState::Differs,
            differences: vec![
                "deadtime: 5s here, 10s on beta".into(),
                "auto_failback: off here, on on beta".into(),
            ],
        };
        let mut r = status_report(&st, t(10_000), &cfg, "alpha", &[], Path::new("ha.cf"));
        peer_checks(&mut r, &st, t(10_000), &cfg, &PeerAuth::default());
        assert_eq!(r.startup_wait_left_ms, Some(2_000));
        assert_eq!(r.peer_config, st.peer_config);
        assert_eq!(
            r.problems,
            [Problem {
                kind: ProblemKind::PeerConfigDiffers,
                text: "configuration differs from beta's: deadtime: 5s here, 10s on beta; auto_failback: off here, on on beta".into()
            }]
        );
        assert!(r.links.iter().all(|l| !l.peer_auth_failing));
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

// ------------------------------------------------ floating address convergence

/// The latest convergence check of each floating address, as the keepers
/// report them (`shell/announce.rs`); `hbd status` shows them.
#[derive(Debug, Default)]
pub struct Convergence {
    /// (when the start succeeded, on the loop's clock; the report).
    checks: Vec<(Instant, ConvergenceReport)>,
}

impl Convergence {
    /// Records what a keeper said at `now`; returns the verdict's time to
    /// converge, if it is one (for the metrics): Some(Some(ms)) converged,
    /// Some(None) did not.
    pub fn record(&mut self, now: Instant, news: &AnnounceNews) -> Option<Option<u64>> {
        let words = |v: &[std::net::IpAddr]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let answered = |a: &[(std::net::IpAddr, Duration)]| {
            a.iter()
                .map(|(t, d)| TargetAnswer {
                    target: t.to_string(),
                    after_ms: d.millis(),
                })
                .collect::<Vec<_>>()
        };
        match news {
            AnnounceNews::Verifying {
                ip,
                iface,
                group,
                targets,
            } => {
                self.checks.retain(|c| c.1.address != ip.to_string());
                self.checks.push((
                    now,
                    ConvergenceReport {
                        address: ip.to_string(),
                        iface: iface.clone(),
                        group: group.clone(),
                        state: ConvergenceState::Verifying,
                        targets: targets.iter().map(|t| t.to_string()).collect(),
                        ..ConvergenceReport::default()
                    },
                ));
                None
            }
            AnnounceNews::Verdict {
                ip,
                iface,
                group,
                verdict,
            } => {
                let address = ip.to_string();
                let i = match self.checks.iter().position(|c| c.1.address == address) {
                    Some(i) => i,
                    None => {
                        self.checks.push((
                            now,
                            ConvergenceReport {
                                address,
                                iface: iface.clone(),
                                group: group.clone(),
                                ..ConvergenceReport::default()
                            },
                        ));
                        self.checks.len() - 1
                    }
                };
                let r = &mut self.checks[i].1;
                match verdict {
                    Verdict::Converged {
                        after,
                        answers,
                        announcements,
                    } => {
                        r.state = ConvergenceState::Converged;
                        r.after_ms = Some(after.millis());
                        r.answered = answered(answers);
                        r.missing.clear();
                        r.announcements = *announcements;
                        Some(Some(after.millis()))
                    }
                    Verdict::NotConverged {
                        limit,
                        missing,
                        answers,
                        announcements,
                    } => {
                        r.state = ConvergenceState::NotConverged;
                        r.limit_ms = Some(limit.millis());
                        r.answered = answered(answers);
                        r.missing = words(missing);
                        r.announcements = *announcements;
                        Some(None)
                    }
                }
            }
        }
    }

    /// The reports at `now`, oldest start first.
    pub fn reports(&self, now: Instant) -> Vec<ConvergenceReport> {
        self.checks
            .iter()
            .map(|(at, r)| ConvergenceReport {
                started_ms_ago: now.saturating_since(*at).millis(),
                ..r.clone()
            })
            .collect()
    }
}
