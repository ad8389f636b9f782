//! Timelines of operations without outages (core/maintenance.rs): maintenance
//! mode on this node and on an hbd peer, the planned restart on both sides,
//! and adopting at start-up the groups found running. One core (`nodea`)
//! against a scripted peer (`nodeb`), exact outputs and deadlines, as in
//! tests/timeline.rs. Times are milliseconds.

use hbd::config::{AutoFailback, Config, Monitor};
use hbd::core::{
    Action, Command, Event, GroupId, GroupState, HoldSet, Input, NodeState, Output, StepOutcome,
};
use hbd::time::Duration;
use testkit::core_harness::*;

/// `config(on)` with a `status` monitor every 5 s on nodea's address.
fn monitored_config() -> Config {
    let mut cfg = config(AutoFailback::On);
    let mut m = Monitor::new(0, 0);
    m.interval = Duration::from_secs(5);
    m.timeout = Duration::from_secs(2);
    cfg.hbd.monitors.push(m);
    cfg
}

/// nodea and an hbd nodeb, negotiated: nodea runs group 0 (since 240 ms),
/// nodeb its own group 1.
fn hbd_pair(cfg: Config) -> Single {
    let mut n = Single::new(cfg);
    n.peer = Peer::hbd();
    n.drain();
    n.peer_status(100);
    n.due(600);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(600);
    n.finish_steps(o);
    n.due(600);
    n.live_until(900);
    n.due(600);
    n
}

/// Our statuses among `o`, as their hbd fields (`hbdmaint`, `hbdrestart`).
fn status_flags(o: &[Output]) -> Vec<(Option<String>, Option<String>)> {
    sends(o)
        .iter()
        .filter(|m| m.msg_type() == Some("status"))
        .map(|m| {
            (
                m.get("hbdmaint").map(str::to_string),
                m.get("hbdrestart").map(str::to_string),
            )
        })
        .collect()
}

fn held(o: &[Output]) -> Vec<String> {
    events(o)
        .into_iter()
        .filter_map(|e| match e {
            Event::MaintenanceHeld { what, .. } => Some(what),
            _ => None,
        })
        .collect()
}

// ------------------------------------------------------------ maintenance

/// Maintenance on: the hbd peer hears it at once; the monitor's checks stop
/// (a dead service is not restarted); off: the checks start again one
/// interval later.
#[test]
fn maintenance_holds_the_monitor_and_off_resumes_it() {
    let mut n = hbd_pair(monitored_config());
    // The first check is due 5 s after the group started (240 ms).
    let o = n.at(1000, Input::Command(Command::Maintenance(true)));
    n.due(1500);
    assert_eq!(events(&o), [Event::Maintenance { on: true }]);
    // Sent at once (with its redundant copies, as any status to an hbd).
    let flags = status_flags(&o);
    assert!(!flags.is_empty());
    assert!(
        flags.iter().all(|f| *f == (Some("1".into()), None)),
        "{flags:?}"
    );
    assert!(n.node.status().maintenance);
    let o = n.live_until(12_000);
    n.due(12_500);
    assert!(checks(&o).is_empty(), "no check in maintenance: {o:?}");
    assert!(steps(&o).is_empty(), "{o:?}");
    assert!(status_flags(&o).iter().all(|f| f.0.as_deref() == Some("1")));
    let o = n.at(12_050, Input::Command(Command::Maintenance(false)));
    n.due(12_550);
    assert_eq!(events(&o), [Event::Maintenance { on: false }]);
    assert!(status_flags(&o).iter().all(|f| *f == (None, None)));
    assert!(steps(&o).is_empty(), "nothing to decide: {o:?}");
    let o = n.live_until(17_000);
    n.due(16_550);
    assert!(checks(&o).is_empty(), "one interval first: {o:?}");
    let o = n.at(17_050, Input::Timer);
    n.due(17_550);
    assert_eq!(checks(&o), [(0, 0, Action::Status)]);
}

/// A heartbeat peer is never sent hbd's fields, maintenance or not.
#[test]
fn a_heartbeat_peer_is_not_told_of_maintenance() {
    let mut n = Single::new(config(AutoFailback::On));
    n.drain();
    n.peer_status(100);
    n.due(1100);
    let o = n.at(200, Input::Command(Command::Maintenance(true)));
    n.due(1200);
    assert_eq!(status_flags(&o), [(None, None)]);
}

/// The peer dies while this node is in maintenance: nothing is taken over
/// (nor fenced) until maintenance ends; then the takeover runs.
#[test]
fn maintenance_takes_over_a_dead_peer_only_when_it_ends() {
    let mut n = hbd_pair(config(AutoFailback::On));
    let o = n.at(300, Input::Command(Command::Maintenance(true)));
    n.due(800);
    assert_eq!(events(&o), [Event::Maintenance { on: true }]);
    // The peer's last status came at 100 ms; its dead time is 10 s.
    let o = n.tick_until(10_100, 100);
    n.due(10_300);
    assert!(
        events(&o)
            .iter()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "{o:?}"
    );
    assert_eq!(held(&o), ["fencing and taking over from nodeb"]);
    assert!(steps(&o).is_empty(), "{o:?}");
    assert_eq!(n.node.status().groups[1].state, GroupState::Stopped);
    let o = n.at(20_000, Input::Command(Command::Maintenance(false)));
    n.due(20_500);
    let o = n.finish_steps(o);
    n.due(20_500);
    assert_eq!(
        steps(&o),
        [(1, 0, Action::Status), (1, 0, Action::Start)],
        "group 1 taken over, group 0 kept"
    );
    assert!(events(&o)
        .iter()
        .any(|e| matches!(e, Event::TakeoverComplete { .. })));
}

/// Refused while a step runs: maintenance would freeze a start half done.
/// Off is never refused, and operator commands are refused in maintenance.
#[test]
fn maintenance_on_is_refused_in_transition_and_blocks_operator_commands() {
    let mut n = Single::new(config(AutoFailback::On));
    n.drain();
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    assert_eq!(steps(&o), [(0, 0, Action::Status)]);
    let starting = o;
    let o = n.at(250, Input::Command(Command::Maintenance(true)));
    n.due(1100);
    assert_eq!(
        refusals(&o),
        ["maintenance on refused: resources in transition (a start, stop, standby or fence is under way); try again once `hbd status` shows them settled"]
    );
    assert!(!n.node.status().maintenance);
    n.finish_steps(starting);
    n.due(1100);
    let o = n.at(400, Input::Command(Command::Maintenance(true)));
    n.due(1400);
    assert!(refusals(&o).is_empty(), "{:?}", refusals(&o));
    let o = n.at(500, Input::Command(Command::Standby(HoldSet::All)));
    n.due(1400);
    assert_eq!(
        refusals(&o),
        ["standby all (operator) refused: this node is in maintenance mode; `hbd maintenance off` first"]
    );
    let o = n.at(600, Input::Command(Command::Cleanup(None)));
    n.due(1400);
    assert_eq!(refusals(&o).len(), 1, "{o:?}");
}

/// An hbd peer in maintenance: nothing is asked of it (standby refused,
/// auto_failback waits), but a peer silent for its dead time is dead and
/// taken over: maintenance never stops the pair failing over on a crash.
#[test]
fn a_peer_in_maintenance_moves_nothing_but_is_taken_over_when_it_dies() {
    let mut n = hbd_pair(config(AutoFailback::On));
    let m = n.peer.msg(
        "status",
        &[
            ("st", "active"),
            ("dt", "2710"),
            ("protocol", "1"),
            ("hbdmaint", "1"),
        ],
    );
    let o = n.recv(1000, m);
    n.due(1100);
    assert_eq!(
        events(&o),
        [Event::PeerMaintenance {
            node: PEER.into(),
            on: true
        }]
    );
    assert!(n.node.status().peer_maintenance);
    let o = n.at(1050, Input::Command(Command::Standby(HoldSet::All)));
    n.due(1100);
    assert_eq!(
        refusals(&o),
        ["standby all (operator) refused: nodeb is in maintenance mode: it moves no group until it ends"]
    );
    // Silent from 1 s: dead at 11 s, and taken over.
    let o = n.tick_until(11_050, 500);
    n.due(11_550);
    assert!(events(&o)
        .iter()
        .any(|e| matches!(e, Event::PeerDead { .. })));
    assert_eq!(steps(&o), [(1, 0, Action::Status)]);
    assert!(!n.node.status().peer_maintenance);
}

// -------------------------------------------------------- planned restart

/// `hbd restart` with an hbd peer: nothing stops; a last status tells the
/// peer to wait 20 s (4e20 ms) beyond its dead time; done at once.
#[test]
fn restart_leaves_the_groups_running_and_tells_an_hbd_peer() {
    let mut n = hbd_pair(config(AutoFailback::On));
    let o = n.at(1000, Input::Command(Command::Restart));
    n.due(1500);
    assert!(steps(&o).is_empty(), "{o:?}");
    let flags = status_flags(&o);
    assert!(!flags.is_empty());
    assert!(
        flags.iter().all(|f| *f == (None, Some("4e20".into()))),
        "{flags:?}"
    );
    assert_eq!(
        events(&o),
        [Event::RestartAnnounced {
            grace: Some(Duration::from_secs(20)),
            handover: false
        }]
    );
    assert_eq!(o.last(), Some(&Output::ShutdownComplete));
    assert!(protocol(&o).iter().all(|m| !m.starts_with("t=shutdone")));
}

/// With a heartbeat 3.0.6 peer the restart cannot be announced: the groups
/// are handed over (today's graceful stop).
#[test]
fn restart_with_a_heartbeat_peer_hands_over() {
    let mut n = Single::new(config(AutoFailback::On));
    n.drain();
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    n.finish_steps(o);
    n.due(1100);
    let o = n.at(1000, Input::Command(Command::Restart));
    n.due(1100);
    let o = n.finish_steps(o);
    n.due(1100);
    assert_eq!(steps(&o), [(0, 1, Action::Stop), (0, 0, Action::Stop)]);
    assert!(protocol(&o).iter().any(|m| m.starts_with("t=shutdone")));
    assert!(events(&o).contains(&Event::RestartAnnounced {
        grace: None,
        handover: true
    }));
    // The new process must not meet heartbeat while it still takes the
    // groups (it would not fail them back): the end waits for its holdings.
    assert!(!o.contains(&Output::ShutdownComplete), "{o:?}");
    let o = n.peer_says(
        1500,
        "resource",
        &[("rsc_hold", "local"), ("info", "mach_down")],
    );
    n.due(2500);
    assert!(
        !o.contains(&Output::ShutdownComplete),
        "ours is its foreign"
    );
    let o = n.peer_says(
        1600,
        "resource",
        &[("rsc_hold", "all"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(2500);
    assert_eq!(
        events(&o),
        [Event::RestartHandedOver {
            reason: "the peer holds them".into()
        }]
    );
    assert_eq!(o.last(), Some(&Output::ShutdownComplete));
}

/// The heartbeat peer never says it took them: the restart goes on after
/// 60 s anyway.
#[test]
fn restart_with_a_silent_heartbeat_peer_ends_after_its_wait() {
    let mut n = Single::new(config(AutoFailback::On));
    n.drain();
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    n.finish_steps(o);
    n.due(1100);
    let o = n.at(1000, Input::Command(Command::Restart));
    n.due(1100);
    n.finish_steps(o);
    n.due(1100);
    let o = n.live_until(60_900);
    n.due(61_020);
    assert!(!o.contains(&Output::ShutdownComplete));
    let o = n.at(61_030, Input::Timer);
    n.due(62_030);
    assert!(o.contains(&Output::ShutdownComplete), "{o:?}");
    assert!(events(&o).contains(&Event::RestartHandedOver {
        reason: "the peer did not say it took them".into()
    }));
}

/// The peer restarts on purpose: not dead at its dead time, only at dead
/// time plus its grace.
#[test]
fn a_peer_restarting_on_purpose_is_dead_only_after_deadtime_and_grace() {
    let mut n = hbd_pair(config(AutoFailback::On));
    let m = n.peer.msg(
        "status",
        &[
            ("st", "active"),
            ("dt", "2710"),
            ("protocol", "1"),
            ("hbdrestart", "4e20"),
        ],
    );
    let o = n.recv(1000, m);
    n.due(1100);
    assert_eq!(
        events(&o),
        [Event::PeerRestarting {
            node: PEER.into(),
            wait: Duration::from_secs(30)
        }]
    );
    assert_eq!(
        n.node.status().peer_restart_deadline,
        Some(hbd::time::t(31_000))
    );
    let o = n.tick_until(30_900, 1000);
    n.due(30_500);
    assert!(
        !events(&o)
            .iter()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "{o:?}"
    );
    assert!(steps(&o).is_empty());
    let o = n.at(31_000, Input::Timer);
    n.due(31_500);
    assert!(events(&o)
        .iter()
        .any(|e| matches!(e, Event::PeerDead { .. })));
    assert_eq!(steps(&o), [(1, 0, Action::Status)]);
}

/// The restarted hbd is back within the grace: nothing moves here. Its
/// groups are not started here as they would be after a heartbeat's
/// restart: the new process says what it kept, and holds group 1.
#[test]
fn a_restarted_hbd_peer_keeps_its_groups_and_nothing_moves_here() {
    let mut n = hbd_pair(config(AutoFailback::On));
    let m = n.peer.msg(
        "status",
        &[
            ("st", "active"),
            ("dt", "2710"),
            ("protocol", "1"),
            ("hbdrestart", "4e20"),
        ],
    );
    n.recv(1000, m);
    n.due(1100);
    let o = n.tick_until(13_000, 1000);
    n.due(13_500);
    assert!(steps(&o).is_empty());
    // The new process: a new generation, and its start-up negotiation.
    n.peer = Peer {
        gen: PEER_GEN + 1,
        ..Peer::hbd()
    };
    let o = n.peer_status(13_050);
    n.due(13_500);
    assert!(events(&o)
        .iter()
        .any(|e| matches!(e, Event::PeerRestarted { .. })));
    assert!(steps(&o).is_empty(), "group 1 is not started here: {o:?}");
    assert_eq!(n.node.status().peer_restart_deadline, None);
    let o = n.peer_says(13_100, "starting", &[]);
    n.due(13_500);
    assert_eq!(
        protocol(&o),
        ["t=resource rsc_hold=local rtype=full isstable=1"]
    );
    let o = n.peer_says(
        13_200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(13_500);
    assert!(steps(&o).is_empty(), "{o:?}");
    let st = n.node.status();
    assert_eq!(st.groups[0].state, GroupState::Running);
    assert_eq!(st.groups[1].state, GroupState::Peer);
    assert_eq!(st.peer.state, NodeState::Active);
}

/// The peer's hbd restarts (`starting`) and at 1.08 s a cleanup of its
/// group 1 re-probes it here; the probe says stopped. Returns what that
/// answer produced.
fn cleanup_while_the_peer_starts() -> (Single, Vec<Output>) {
    let mut n = hbd_pair(config(AutoFailback::On));
    n.peer = Peer {
        gen: PEER_GEN + 1,
        ..Peer::hbd()
    };
    n.peer_status(1000);
    n.due(1100);
    n.peer_says(1050, "starting", &[]);
    n.due(1100);
    let o = n.at(1080, Input::Command(Command::Cleanup(Some(GroupId(1)))));
    n.due(1100);
    let probe = o
        .iter()
        .find_map(|x| match x {
            Output::Run(s) if s.action == Action::Status => Some(s.id),
            _ => None,
        })
        .expect("the cleanup's re-probe");
    let o = n.at(
        1090,
        Input::StepDone {
            id: probe,
            outcome: StepOutcome::Running(false),
        },
    );
    (n, o)
}

/// `hbd cleanup` of the peer's group just as the peer's hbd restarts: its
/// `starting` says it holds nothing, but it may adopt the group it finds
/// running. The group is not started here until the peer is stable, then
/// left to it. Found by the fault campaign (tests/campaign.rs: a cleanup
/// while the peer's hbd restarted after kill -9: the address on both nodes
/// for 120 ms).
#[test]
fn cleanup_waits_for_a_starting_peer_before_deciding() {
    let (mut n, o) = cleanup_while_the_peer_starts();
    assert!(
        steps(&o).is_empty(),
        "started while the peer was starting: {o:?}"
    );
    n.due(1100);
    let o = n.peer_says(
        1200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1700);
    assert!(steps(&o).is_empty(), "{o:?}");
    assert_eq!(n.node.status().groups[1].state, GroupState::Peer);
}

/// The cleanup deferred for a starting peer, but the peer dies before it is
/// ever stable: the group is not left waiting for a stability that never
/// comes; the takeover of the dead peer decides it, and it runs here.
#[test]
fn a_cleanup_deferred_for_a_starting_peer_is_decided_when_it_dies() {
    let (mut n, o) = cleanup_while_the_peer_starts();
    assert!(steps(&o).is_empty(), "{o:?}");
    n.due(1100);
    let o = n.tick_until(12_000, 100);
    n.due(12_190);
    assert!(
        events(&o)
            .iter()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "{o:?}"
    );
    let o = n.finish_steps(o);
    n.due(12_190);
    assert_eq!(steps(&o), [(1, 0, Action::Start)]);
    assert_eq!(n.node.status().groups[1].state, GroupState::Running);
}

/// The same restart of an hbd peer, but its holdings say it kept nothing:
/// our home group it ran... here group 1 is its own, so: its own group
/// that it no longer runs is its business; ours stays. A peer that held
/// our group and lost it gives it back through its holdings: we start it.
#[test]
fn a_restarted_hbd_peer_that_kept_nothing_of_ours_gets_ours_restarted_here() {
    let mut n = hbd_pair(config(AutoFailback::On));
    // nodeb ran our group 0 too (we were in standby): we hold nothing.
    let o = n.at(300, Input::Command(Command::Standby(HoldSet::Local)));
    n.due(600);
    drop(o);
    let o = n.peer_says(
        400,
        "ask_resources",
        &[("rsc_hold", "local"), ("info", "other")],
    );
    n.due(600);
    let o = n.finish_steps(o);
    n.due(600);
    assert_eq!(steps(&o), [(0, 1, Action::Stop), (0, 0, Action::Stop)]);
    let o = n.peer_says(
        700,
        "resource",
        &[("rsc_hold", "all"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    drop(o);
    n.peer = Peer {
        gen: PEER_GEN + 1,
        ..Peer::hbd()
    };
    let o = n.peer_status(900);
    n.due(1100);
    assert!(steps(&o).is_empty(), "waits for its holdings: {o:?}");
    n.peer_says(950, "starting", &[]);
    n.due(1100);
    let o = n.peer_says(
        1000,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    // Stopped here after our own start: proven stopped, no status probe.
    assert_eq!(steps(&o), [(0, 0, Action::Start)], "ours comes back");
}

// ------------------------------------------------------------- adoption

fn probing(cfg: Config) -> Single {
    let mut p = params(cfg, LOCAL, GEN, [0xaa; 16], 7);
    p.probe_at_start = true;
    Single::with_params(p)
}

/// As [`probing`], started in (persistent) maintenance mode.
fn probing_in_maintenance() -> Single {
    let mut p = params(config(AutoFailback::On), LOCAL, GEN, [0xaa; 16], 7);
    p.probe_at_start = true;
    p.maintenance = true;
    Single::with_params(p)
}

/// Answers every step among `o` (and those that follow) 10 ms apart:
/// `status` of group `g` says `running[g]`, everything else succeeds.
#[track_caller]
fn answer_probes(n: &mut Single, o: Vec<Output>, running: [bool; 2], due: u64) -> Vec<Output> {
    let mut all = Vec::new();
    let mut o = o;
    loop {
        let s = o.iter().find_map(|x| match x {
            Output::Run(s) => Some(s.clone()),
            _ => None,
        });
        all.extend(o.clone());
        let Some(s) = s else { return all };
        let outcome = match s.action {
            Action::Status => StepOutcome::Running(running[s.group.0]),
            _ => StepOutcome::Ok,
        };
        o = n.at(n.now.millis() + 10, Input::StepDone { id: s.id, outcome });
        n.due(due);
    }
}

/// Answers the start-up probes (`running` per group), then the stable peer
/// says it holds `hold`: what that made the node do.
fn probed_then_peer_holds(n: &mut Single, running: [bool; 2], hold: &str) -> Vec<Output> {
    let o = n.drain();
    answer_probes(n, o, running, 1000);
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", hold), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    o
}

/// At start every resource is probed; group 0 runs here and the stable
/// peer holds only its own group: kept without a start, and announced.
#[test]
fn start_probe_adopts_a_group_the_peer_does_not_hold() {
    let mut n = probing(config(AutoFailback::On));
    let o = n.drain();
    assert_eq!(steps(&o), [(0, 0, Action::Status)]);
    let o = answer_probes(&mut n, o, [true, false], 1000);
    let o: Vec<Output> = o
        .into_iter()
        .filter(|x| !matches!(x, Output::Event(Event::LocalStatus { .. })))
        .collect();
    assert_eq!(
        steps(&o),
        [
            (0, 0, Action::Status),
            (0, 1, Action::Status),
            (1, 0, Action::Status)
        ]
    );
    assert_eq!(
        events(&o),
        [Event::GroupFound {
            group: "IPaddr::192.0.2.10".into(),
            running: 2,
            of: 2
        }]
    );
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    assert!(steps(&o).is_empty(), "no start: {o:?}");
    assert!(events(&o).contains(&Event::GroupAdopted {
        group: "IPaddr::192.0.2.10".into()
    }));
    assert_eq!(
        protocol(&o),
        ["t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()"]
    );
    assert_eq!(n.node.status().groups[0].state, GroupState::Running);
}

/// hbd killed alone and restarted: the peer took over meanwhile and gave
/// the group up again (its start failed on the disk still mounted here), so
/// clients may have its MAC: the adopted group is re-announced. Found by
/// the fault campaign (tests/campaign.rs: kill -9 of hbd alone, then the
/// client unanswered for 4 s after the restart).
#[test]
fn adopted_group_is_reannounced() {
    let mut n = probing(config(AutoFailback::On));
    let o = probed_then_peer_holds(&mut n, [true, false], "local");
    assert!(events(&o).contains(&Event::GroupAdopted {
        group: "IPaddr::192.0.2.10".into()
    }));
    assert_eq!(reannounced(&o), [0]);
}

/// Found running, but the peer holds it (it took over while this node's
/// hbd was down): stopped here, right to left.
#[test]
fn start_probe_stops_a_group_the_peer_holds() {
    let mut n = probing(config(AutoFailback::On));
    let o = probed_then_peer_holds(&mut n, [true, false], "all");
    assert!(events(&o).contains(&Event::GroupContested {
        group: "IPaddr::192.0.2.10".into(),
        holder: PEER.into()
    }));
    let o = n.finish_steps(o);
    n.due(1100);
    assert_eq!(steps(&o), [(0, 1, Action::Stop), (0, 0, Action::Stop)]);
    let st = n.node.status();
    assert_eq!(st.groups[0].state, GroupState::Peer);
    assert_eq!(st.groups[1].state, GroupState::Peer);
}

/// Half a group found running is stopped before anything else; alone at
/// initdead everything is then started (the usual way).
#[test]
fn start_probe_stops_half_a_group_first() {
    let mut n = probing(config(AutoFailback::On));
    let o = n.drain();
    let mut all = Vec::new();
    let mut o = o;
    while let Some(s) = o.iter().find_map(|x| match x {
        Output::Run(s) => Some(s.clone()),
        _ => None,
    }) {
        all.extend(o.clone());
        // Only the address (group 0, resource 0) is up.
        let outcome = match s.action {
            Action::Status => StepOutcome::Running(s.group.0 == 0 && s.resource == 0),
            _ => StepOutcome::Ok,
        };
        o = n.at(n.now.millis() + 10, Input::StepDone { id: s.id, outcome });
        n.due(1000);
    }
    assert_eq!(
        steps(&all),
        [
            (0, 0, Action::Status),
            (0, 1, Action::Status),
            (0, 1, Action::Stop),
            (0, 0, Action::Stop),
            (1, 0, Action::Status)
        ]
    );
    assert_eq!(n.node.status().groups[0].state, GroupState::Stopped);
}

/// Persistent maintenance read back at start: the probe still runs (it only
/// reads), what runs is held, and nothing is started at the end of the
/// negotiation.
#[test]
fn maintenance_at_start_probes_and_starts_nothing() {
    let mut n = probing_in_maintenance();
    let o = probed_then_peer_holds(&mut n, [false, false], "local");
    assert!(steps(&o).is_empty(), "{o:?}");
    assert_eq!(held(&o), ["start of group IPaddr::192.0.2.10"]);
    assert_eq!(n.node.status().groups[0].state, GroupState::Stopped);
    // Off: the group nobody runs starts here.
    let o = n.at(300, Input::Command(Command::Maintenance(false)));
    n.due(1300);
    // What the start-up probe proved is forgotten: in maintenance the
    // operator may have started it by hand, so it is asked again.
    assert_eq!(steps(&o), [(0, 0, Action::Status)]);
}

/// A stop (SIGTERM) in maintenance releases nothing: the groups stay up and
/// the hbd peer is told to wait for a restart, as for `hbd restart`.
#[test]
fn a_stop_in_maintenance_leaves_the_groups_running() {
    let mut n = hbd_pair(config(AutoFailback::On));
    n.at(300, Input::Command(Command::Maintenance(true)));
    n.due(800);
    let o = n.at(400, Input::Command(Command::Shutdown));
    n.due(900);
    assert!(steps(&o).is_empty(), "{o:?}");
    assert_eq!(held(&o), ["releasing the groups at shutdown"]);
    let flags = status_flags(&o);
    assert!(!flags.is_empty());
    assert!(
        flags
            .iter()
            .all(|f| *f == (Some("1".into()), Some("4e20".into()))),
        "{flags:?}"
    );
    assert!(protocol(&o).iter().all(|m| !m.starts_with("t=shutdone")));
    assert_eq!(o.last(), Some(&Output::ShutdownComplete));
}

/// While the decision is pending, what the probe found is not claimed: a
/// peer starting at the same time reads `none` from us, then the kept group
/// once the decision is made.
#[test]
fn start_probe_claims_nothing_before_it_decides() {
    let mut n = probing(config(AutoFailback::On));
    let o = n.drain();
    answer_probes(&mut n, o, [true, false], 1000);
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(150, "starting", &[]);
    n.due(1100);
    assert_eq!(
        protocol(&o),
        ["t=resource rsc_hold=none rtype=full isstable=0"]
    );
    assert_eq!(n.node.status().groups[0].state, GroupState::Running);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "none"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    assert!(steps(&o).iter().all(|s| s.2 == Action::Status), "{o:?}");
    let o = n.finish_steps(o);
    n.due(1100);
    assert!(
        protocol(&o)
            .iter()
            .any(|m| m.starts_with("t=resource rsc_hold=local rtype=full isstable=1")),
        "{:?}",
        protocol(&o)
    );
}

/// auto_failback legacy (heartbeat's ip-request negotiation, no holdings
/// to compare): the live peer's own group found running here is not kept
/// (the peer runs its home group in legacy mode) but stopped; ours, which
/// the peer does not hold, is kept.
#[test]
fn start_probe_in_legacy_mode_stops_the_live_peers_group() {
    let mut n = probing(config(AutoFailback::Legacy));
    let o = n.drain();
    answer_probes(&mut n, o, [true, true], 1000);
    let mut all = n.peer_status(100);
    n.due(1100);
    all.extend(n.peer_says(
        200,
        "ip-request-resp",
        &[
            ("dest", "nodea"),
            ("ipaddr", "IPaddr::192.0.2.10"),
            ("weown", "no"),
            ("ok", "OK"),
        ],
    ));
    n.due(1100);
    let o = n.finish_steps(all);
    n.due(1100);
    assert!(steps(&o).contains(&(1, 0, Action::Stop)), "{:?}", steps(&o));
    assert!(
        !steps(&o).contains(&(0, 0, Action::Start)),
        "{:?}",
        steps(&o)
    );
    assert_eq!(n.node.status().groups[1].state, GroupState::Stopped);
    assert_eq!(n.node.status().groups[0].state, GroupState::Running);
}

// ------------------------------------------ takeover without a status probe

/// A probing nodea on `cfg` whose start-up probe says `running[g]` of each
/// group, negotiated with a stable peer holding its own group 1; every step
/// answered. Returns the steps after the probe, at 1.2 s or so.
fn probed_pair(cfg: Config, running: [bool; 2]) -> (Single, Steps) {
    let mut n = probing(cfg);
    let o = n.drain();
    answer_probes(&mut n, o, running, 1000);
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    let o = n.finish_steps(o);
    n.due(1100);
    n.peer_status(1500);
    n.due(2500);
    (n, steps(&o))
}

/// Resource steps as `steps` lists them.
type Steps = Vec<(usize, usize, Action)>;

/// The peer falls silent after 1.5 s: dead at 11.5 s. Returns the steps of
/// the takeover's first call, then of the whole takeover.
fn peer_dies(n: &mut Single) -> (Steps, Steps) {
    let o = n.tick_until(11_000, 1000);
    n.due(11_500);
    assert!(steps(&o).is_empty());
    let o = n.at(11_500, Input::Timer);
    n.due(12_500);
    assert!(events(&o).contains(&Event::TakeoverStarted {
        node: PEER.into(),
        reason: "peer dead".into()
    }));
    let first = steps(&o);
    let all = n.finish_steps(o);
    n.due(12_500);
    assert!(events(&all).contains(&Event::TakeoverComplete { node: PEER.into() }));
    (first, steps(&all))
}

/// The start-up probe proved every resource stopped and nothing started the
/// peer's group since: the takeover starts it at once, in the same call that
/// declared the peer dead, with no `status` first (docs/daemon.md). Our own
/// group, proven the same way, started without probes too.
#[test]
fn takeover_of_a_group_proven_stopped_runs_no_status() {
    let (mut n, acquired) = probed_pair(config(AutoFailback::On), [false, false]);
    assert_eq!(acquired, [(0, 0, Action::Start), (0, 1, Action::Start)]);
    let (first, all) = peer_dies(&mut n);
    assert_eq!(first, [(1, 0, Action::Start)]);
    assert_eq!(all, [(1, 0, Action::Start)]);
}

/// Maintenance hands the resources to the operator, who may start any of
/// them by hand: what the start-up probe proved is forgotten at `off`, and
/// the next takeover asks `status` first again.
#[test]
fn maintenance_forgets_what_was_proven_stopped() {
    let (mut n, _) = probed_pair(config(AutoFailback::On), [false, false]);
    // Each sends a status at once: at 2.5 s the keepalive keeps its phase.
    n.at(2_500, Input::Command(Command::Maintenance(true)));
    n.due(3_500);
    let o = n.at(2_500, Input::Command(Command::Maintenance(false)));
    n.due(3_500);
    assert!(steps(&o).is_empty(), "{o:?}");
    let (first, all) = peer_dies(&mut n);
    assert_eq!(first, [(1, 0, Action::Status)]);
    assert_eq!(all, [(1, 0, Action::Status), (1, 0, Action::Start)]);
}

/// A resource written in both groups is never proven stopped: a step on
/// one place moves the other, so each start of it asks `status` first.
#[test]
fn a_resource_in_two_groups_is_always_probed() {
    let mut cfg = config(AutoFailback::On);
    cfg.groups[1]
        .resources
        .push(res("Filesystem::/dev/sdb1::/srv"));
    let (mut n, acquired) = probed_pair(cfg, [false, false]);
    assert_eq!(
        acquired,
        [
            (0, 0, Action::Start),
            (0, 1, Action::Status),
            (0, 1, Action::Start)
        ]
    );
    let (first, all) = peer_dies(&mut n);
    assert_eq!(first, [(1, 0, Action::Start)]);
    assert_eq!(
        all,
        [
            (1, 0, Action::Start),
            (1, 1, Action::Status),
            (1, 1, Action::Start)
        ]
    );
}

/// Not proven: the probe found the peer's group running here (started
/// behind hbd's back, or a status that lies), so it was stopped. The stop
/// proves nothing the status did not: the takeover asks `status` first, as
/// heartbeat does (tests/faults.rs "status_lies").
#[test]
fn takeover_of_a_group_not_proven_stopped_asks_status_first() {
    let mut n = probing(config(AutoFailback::On));
    let o = n.drain();
    answer_probes(&mut n, o, [false, true], 1000);
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(
        200,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    let o = n.finish_steps(o);
    n.due(1100);
    assert!(events(&o).contains(&Event::GroupContested {
        group: "IPaddr::192.0.2.11".into(),
        holder: PEER.into()
    }));
    assert_eq!(
        steps(&o),
        [
            (1, 0, Action::Stop),
            (0, 0, Action::Start),
            (0, 1, Action::Start)
        ]
    );
    n.peer_status(1500);
    n.due(2500);
    let (first, all) = peer_dies(&mut n);
    assert_eq!(first, [(1, 0, Action::Status)]);
    assert_eq!(all, [(1, 0, Action::Status), (1, 0, Action::Start)]);
}

// ------------------------------------------- restart and maintenance races

/// Both nodes restarted at once (`hbd restart` on both, an
/// upgrade run on both): nodea had taken over nodeb's home group 1
/// (auto_failback off) and finds both groups running; nodeb's new process
/// runs nothing. Both are in the start-up negotiation (BothStarting) and
/// nodea announces `none` while its decision is open, so nodeb, at its own
/// RQSTDELAY, starts its home group (§6.5). nodea must not keep group 1 at
/// its RQSTDELAY: both would run it.
#[test]
fn start_probe_does_not_keep_a_starting_peers_home_group() {
    let mut n = probing(config(AutoFailback::Off));
    let o = n.drain();
    answer_probes(&mut n, o, [true, true], 1000);
    n.peer_status(100);
    n.due(1100);
    let o = n.peer_says(150, "starting", &[]);
    n.due(1100);
    assert_eq!(
        protocol(&o),
        ["t=resource rsc_hold=none rtype=full isstable=0"],
        "the peer reads that nodea holds nothing"
    );
    let o = n.peer_says(
        160,
        "resource",
        &[("rsc_hold", "none"), ("rtype", "full"), ("isstable", "0")],
    );
    n.due(1100);
    assert!(steps(&o).is_empty());
    // Both wait RQSTDELAY (nodea's ends at 10.1 s); nodeb's ends about
    // then and starts group 1, announcing it once it runs.
    let o = n.live_until(10_160);
    n.due(11_160);
    let o = n.finish_steps(o);
    assert!(
        !events(&o).contains(&Event::GroupAdopted {
            group: "IPaddr::192.0.2.11".into()
        }),
        "nodeb's home group kept here while nodeb starts it: {:?}",
        events(&o)
    );
    assert!(steps(&o).contains(&(1, 0, Action::Stop)), "{:?}", steps(&o));
    n.due(11_160);
    assert_eq!(n.node.status().groups[0].state, GroupState::Running);
}

/// nodea starts in (persistent) maintenance and finds nodeb's home group 1
/// running here while nodeb, alive and stable, holds it. The adoption's
/// release and the home-node rule's are held back in maintenance; at
/// `maintenance off` they are decided again and group 1 stops here (it
/// used not to: the conflict stayed recorded and both nodes ran it).
#[test]
fn a_release_held_by_maintenance_is_made_when_it_ends() {
    let mut n = probing_in_maintenance();
    let o = probed_then_peer_holds(&mut n, [false, true], "local");
    assert!(events(&o).contains(&Event::GroupContested {
        group: "IPaddr::192.0.2.11".into(),
        holder: PEER.into()
    }));
    assert!(held(&o).contains(&"stop of group IPaddr::192.0.2.11".to_string()));
    assert_eq!(n.node.status().groups[1].state, GroupState::Running);
    // nodeb answers our holdings (foreign) with its own, stable.
    n.peer_says(
        300,
        "resource",
        &[("rsc_hold", "local"), ("rtype", "full"), ("isstable", "1")],
    );
    n.due(1100);
    let o = n.at(400, Input::Command(Command::Maintenance(false)));
    n.due(1400);
    let o = n.finish_steps(o);
    assert!(
        steps(&o).contains(&(1, 0, Action::Stop)),
        "group 1 still runs on both nodes after maintenance off: {:?}",
        steps(&o)
    );
    n.due(1400);
}

/// The restart announcement is overtaken by the status sent before it
/// (lost on the UDP link, carried late by the serial one, in the same
/// second): only the newest status sets the peer's hbd state, so the grace
/// stands (the older one used to clear it: declared dead 20 s early, taken
/// over while the new process may still be starting, both running the
/// groups).
#[test]
fn an_older_status_does_not_cancel_the_peers_restart_grace() {
    let mut n = hbd_pair(config(AutoFailback::On));
    let before = n.peer.status("active");
    let restart = n.peer.msg(
        "status",
        &[
            ("st", "active"),
            ("dt", "2710"),
            ("protocol", "1"),
            ("hbdrestart", "4e20"),
        ],
    );
    n.recv_on(1000, 0, restart);
    n.due(1068);
    n.recv_on(1020, 1, before);
    n.due(1100);
    let o = n.tick_until(30_900, 1000);
    assert!(
        !events(&o)
            .iter()
            .any(|e| matches!(e, Event::PeerDead { .. })),
        "declared dead within the grace: {:?}",
        events(&o)
    );
    n.due(30_520);
}
