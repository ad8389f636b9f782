//! The state machine behind [`crate::core::Node`]: who we are, the parts that
//! own the rest of the state, the input dispatch, our own status, operator
//! commands, reload and the status snapshot. Pure: time comes in as a
//! parameter, decisions go out through a queue of [`Output`]s.
//!
//! The parts, each in its own file: [`TimerTable`] (every deadline),
//! [`Delivery`] (sequence numbers, history, retransmission, ACKs, drops),
//! [`Liveness`] (links, the peer's timing, stalls), [`Jobs`] (the groups and
//! the one-step-at-a-time runner), [`Negotiation`] (holdings and the startup
//! and home-node rules), standby and failback, fencing and ipfail.

#![forbid(unsafe_code)]

use crate::config::{Agreement, AutoFailback, Config};
use crate::core::agreement::PairCheck;
use crate::core::delivery::Delivery;
use crate::core::events::Event;
use crate::core::fencing::FenceWait;
use crate::core::ipfail::Ipfail;
use crate::core::jobs::{GState, Job, Jobs, Then};
use crate::core::liveness::{Liveness, DT_BOOST, DT_BOOST_FOR};
use crate::core::maintenance::{Adoption, Maintenance};
use crate::core::monitor::Monitors;
use crate::core::negotiation::Negotiation;
use crate::core::redundancy::Redundancy;
use crate::core::standby::{Failback, Persistent, Standby};
use crate::core::status::LocalState;
use crate::core::timers::{Timer, TimerTable};
use crate::core::{
    Command, GroupId, GroupState, GroupStatus, HoldSet, Input, LinkStatus, NodeParams, NodeState,
    NodeStatus, Output, Refusal, ResourceStatus, RscHold, Status,
};
use crate::time::{Duration, Instant};
use crate::wire::repr::{Body, Resource, ResourceInfo, StonithResult};
use std::collections::VecDeque;

const RECENT_MAX: usize = 32;

pub struct Machine {
    pub(super) cfg: Config,
    pub(super) local: String,
    /// The other node in `Config::nodes`.
    pub(super) peer: String,
    pub(super) generation: u64,
    pub(super) uuid: [u8; 16],
    pub(super) wall0: u64,
    pub(super) started: Instant,
    pub(super) out: VecDeque<Output>,
    pub(super) timers: TimerTable,
    pub(super) state: LocalState,
    pub(super) delivery: Delivery,
    pub(super) liveness: Liveness,
    pub(super) jobs: Jobs,
    pub(super) mon: Monitors,
    pub(super) neg: Negotiation,
    pub(super) standby: Option<Standby>,
    pub(super) failback: Failback,
    /// `hbd standby --persistent`.
    pub(super) persistent: Persistent,
    pub(super) fence: Option<FenceWait>,
    pub(super) ipfail: Ipfail,
    pub(super) shutting_down: bool,
    /// hbd peers only: does its configuration agree with ours?
    pub(super) pair: PairCheck,
    /// hbd peers: per-link loss and copies of our statuses.
    pub(super) red: Redundancy,
    /// The last transitions with why, for `status`.
    pub(super) recent: VecDeque<(Instant, String)>,
    /// Maintenance mode, ours and the peer's; the peer's planned restart.
    pub(super) maint: Maintenance,
    /// The start-up probe's findings.
    pub(super) adopt: Adoption,
}

impl Machine {
    pub fn new(p: NodeParams, now: Instant) -> Machine {
        let cfg = p.config;
        let local = p.local.to_lowercase();
        let peer = cfg
            .nodes
            .iter()
            .find(|n| !n.eq_ignore_ascii_case(&local))
            .cloned()
            .unwrap_or_default();
        let mut m = Machine {
            delivery: Delivery::new(p.seed),
            liveness: Liveness::new(&cfg, now),
            jobs: Jobs::new(&cfg, &local),
            mon: Monitors::new(&cfg),
            ipfail: Ipfail::new(&cfg),
            pair: PairCheck::new(Agreement::of(&cfg)),
            red: Redundancy::new(&cfg),
            cfg,
            local,
            peer,
            generation: p.generation,
            uuid: p.uuid,
            wall0: p.wall_clock_at_zero,
            started: now,
            out: VecDeque::new(),
            timers: TimerTable::default(),
            state: LocalState::Init,
            neg: Negotiation::default(),
            standby: None,
            failback: Failback::default(),
            persistent: Persistent::default(),
            fence: None,
            shutting_down: false,
            recent: VecDeque::new(),
            maint: Maintenance::starting(p.maintenance),
            adopt: Adoption::default(),
        };
        // heartbeat sends `init`, then `up` at once (§5.5 step 3).
        m.send_status(now);
        m.set_state(now, LocalState::Up);
        if p.probe_at_start {
            m.queue_start_probe();
            m.run_jobs(now);
        }
        m.rearm();
        m
    }

    pub(super) fn nice_failback(&self) -> bool {
        self.cfg.auto_failback != AutoFailback::Legacy
    }

    pub(super) fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Something asked of the core that it declines; the shell logs it and
    /// answers the operator with it.
    pub(super) fn refuse(&mut self, command: String, reason: String) {
        self.out
            .push_back(Output::Refused(Refusal { command, reason }));
    }

    pub(super) fn note(&mut self, now: Instant, why: String) {
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((now, why));
    }

    pub(super) fn key(&self, g: GroupId) -> String {
        self.cfg.groups[g.0].key()
    }

    /// The group whose `haresources` key heartbeat names in `ipaddr`.
    pub(super) fn group_by_key(&self, key: &str) -> Option<GroupId> {
        self.cfg
            .groups
            .iter()
            .position(|g| g.key() == key)
            .map(GroupId)
    }

    // ------------------------------------------------------------ our status

    fn own_dt(&self, now: Instant) -> Duration {
        if now.saturating_since(self.started) < DT_BOOST_FOR {
            self.cfg.deadtime + DT_BOOST
        } else {
            self.cfg.deadtime
        }
    }

    pub(super) fn send_status(&mut self, now: Instant) {
        let body = Body::Status {
            st: Some(self.state.name().into()),
            dt: Some(self.own_dt(now).millis()),
            link: None,
            hbd: self.hbd_state(None),
        };
        if self.sends_redundantly() {
            self.send_status_per_link(now, body);
        } else {
            self.send(now, None, body);
        }
        self.warn_link_loss(now);
        self.timers.set(Timer::Keepalive, now + self.cfg.keepalive);
    }

    pub(super) fn set_state(&mut self, now: Instant, s: LocalState) {
        if self.state != s {
            self.state = s;
            self.event(Event::LocalStatus {
                state: s.name().into(),
            });
            self.note(now, format!("local status {}", s.name()));
            self.send_status(now);
        }
    }

    // -------------------------------------------------------------- handling

    pub fn handle(&mut self, now: Instant, input: Input) {
        let now = now.max(self.liveness.last_handle);
        self.check_stall(now);
        match input {
            Input::Message { link, msg } => self.handle_message(now, link, msg),
            Input::Invalid(e) => self.handle_invalid(now, e),
            Input::LinkTransport { link, up } => self.handle_transport(now, link, up),
            Input::Command(c) => self.handle_command(now, c),
            Input::StepDone { id, outcome } => self.handle_step_done(now, id, outcome),
            Input::CheckDone { id, outcome } => self.handle_check_done(now, id, outcome),
            Input::Reload(cfg) => self.handle_reload(now, *cfg),
            Input::FenceDone { node, ok } => self.handle_fence_done(now, &node, ok),
            Input::PingNode { index, up } => self.handle_ping_node(now, index, up),
            Input::Timer => {}
        }
        self.ride_arrival(now);
        self.rearm();
        self.handle_timers(now);
        self.run_jobs(now);
        self.rearm();
        self.liveness.last_handle = now;
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn handle_command(&mut self, now: Instant, c: Command) {
        match c {
            Command::Standby(set) => self.begin_standby(now, set, "operator"),
            Command::Takeover(set) => self.ask_takeover(now, set),
            Command::Shutdown => self.shut_down(now),
            Command::Cleanup(g) => self.cleanup(now, g),
            Command::PersistentStandby(set) => self.set_persistent_standby(now, set),
            Command::Maintenance(on) => self.set_maintenance(now, on),
            Command::Restart => self.restart_planned(now),
        }
    }

    /// Releases every group right to left, tells the peer, then reports
    /// `ShutdownComplete`.
    pub(super) fn shut_down(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if self.maint.on {
            // Maintenance stops nothing, not even at the end: the groups
            // stay up, and an hbd peer waits for the restart as for `hbd
            // restart` (a heartbeat peer takes over after its dead time).
            self.event(crate::core::Event::MaintenanceHeld {
                what: "releasing the groups at shutdown".into(),
                peer: false,
            });
            let peer_alive = self.liveness.comm_up && !self.liveness.peer_dead;
            return self.leave_running(now, peer_alive);
        }
        self.shutting_down = true;
        self.event(Event::ShutdownStarted);
        self.cancel_fence("shutting down");
        self.timers.stop(Timer::Giveup);
        self.note(now, "shutdown".into());
        if self.end_standby().is_some() {
            self.event(Event::StandbyCancelled {
                reason: "shutting down".into(),
            });
        }
        self.timers.stop(Timer::Rqst);
        self.timers.stop(Timer::Failback);
        self.jobs.queue.clear();
        self.send_resource(now, HoldSet::None, false, Some(ResourceInfo::Shutdown));
        for i in 0..self.jobs.groups.len() {
            self.jobs.queue.push_back(Job::Release(GroupId(i)));
        }
        self.jobs.queue.push_back(Job::Then(Then::ShutdownDone));
    }

    /// The end of a shutdown: `shutdone` tells the peer to take everything,
    /// unless a group may still run here.
    pub(super) fn shutdown_done(&mut self, now: Instant) {
        let failed: Vec<String> = (0..self.jobs.groups.len())
            .filter(|&i| self.jobs.groups[i].state == GState::Failed)
            .map(|i| self.key(GroupId(i)))
            .collect();
        if failed.is_empty() {
            self.event(Event::ResourcesRelinquished);
            self.send(now, None, Body::Shutdone);
        } else {
            self.refuse(
                "shutdone".into(),
                format!(
                    "groups {} may still be active here; the peer is not told to take over",
                    failed.join(", ")
                ),
            );
        }
        if self.wait_for_handover(now) {
            return;
        }
        self.out.push_back(Output::ShutdownComplete);
    }

    fn handle_reload(&mut self, now: Instant, new: Config) {
        if new.nodes != self.cfg.nodes {
            return self.event(Event::ReloadRefused {
                reason: format!(
                    "node list changed ({:?} -> {:?}); restart to apply",
                    self.cfg.nodes, new.nodes
                ),
            });
        }
        if new.groups.len() != self.cfg.groups.len()
            || new
                .groups
                .iter()
                .zip(&self.cfg.groups)
                .any(|(a, b)| a.home != b.home || a.resources != b.resources)
        {
            return self.event(Event::ReloadRefused {
                reason: "resource groups changed; restart to apply".into(),
            });
        }
        let old_media = self.cfg.media.clone();
        let monitors_changed = new.hbd.monitors != self.cfg.hbd.monitors;
        self.cfg = new;
        if monitors_changed {
            self.monitors_reconfigured(now);
        }
        if self.ipfail.ping_up.len() != self.cfg.ping_nodes.len() {
            // Indexes moved: the shell's pinger restarts and reports afresh.
            self.ipfail.ping_up = vec![false; self.cfg.ping_nodes.len()];
        }
        // The operator's way out of a fence that keeps failing: remove the
        // hook (having made sure by hand that the peer is down) and reload.
        if self.fence.is_some() && !self.fencing_configured() {
            self.cancel_fence("fencing is no longer configured (reload)");
            self.take_over_dead_peer(now, StonithResult::NoStonith);
        }
        if self.cfg.media != old_media {
            self.liveness.links = Liveness::links(&self.cfg);
            self.redundancy_reconfigured();
        }
        if self.liveness.advertised_dt.is_none() {
            self.liveness.dead_timeout = self.cfg.deadtime;
        }
        let keepalive = now + self.cfg.keepalive;
        let next = self
            .timers
            .get(Timer::Keepalive)
            .map_or(keepalive, |k| k.min(keepalive));
        self.timers.set(Timer::Keepalive, next);
        self.event(Event::ReloadApplied);
        self.pair_check_reloaded(now);
    }

    pub fn status(&self) -> Status {
        let peer_dead = self.liveness.peer_dead;
        let peer_state = if peer_dead {
            NodeState::Dead
        } else {
            NodeState::from(self.liveness.peer_state.as_str())
        };
        let groups = self
            .cfg
            .groups
            .iter()
            .zip(&self.jobs.groups)
            .enumerate()
            .map(|(i, (cg, g))| {
                let peer_has = !peer_dead && self.neg.peer_hold.has(!g.local);
                let (owner, state) = match g.state {
                    GState::Stopped if peer_has => (Some(self.peer.clone()), GroupState::Peer),
                    GState::Stopped if g.failed_here => (None, GroupState::Failed),
                    GState::Stopped => (None, GroupState::Stopped),
                    GState::Starting => (Some(self.local.clone()), GroupState::Starting),
                    GState::Running => (Some(self.local.clone()), GroupState::Running),
                    GState::Stopping => (Some(self.local.clone()), GroupState::Stopping),
                    GState::Failed => (Some(self.local.clone()), GroupState::Failed),
                };
                let id = GroupId(i);
                GroupStatus {
                    key: cg.key(),
                    home: cg.home.clone(),
                    owner,
                    state,
                    failure: g.failure.clone(),
                    resources: (0..cg.resources.len())
                        .map(|r| ResourceStatus {
                            fail_count: self.fail_count(id, r),
                            monitor: self.monitor_state(id, r),
                            last_failure: self.last_failure(id, r),
                        })
                        .collect(),
                }
            })
            .collect();
        Status {
            local: NodeStatus {
                name: self.local.clone(),
                state: self.state.node_state(),
                generation: Some(self.generation),
                last_heard: None,
            },
            peer: NodeStatus {
                name: self.peer.clone(),
                state: peer_state,
                generation: self.delivery.peer_generation,
                last_heard: self.liveness.last_status_at,
            },
            links: self
                .liveness
                .links
                .iter()
                .enumerate()
                .map(|(i, l)| LinkStatus {
                    name: l.name.clone(),
                    up: l.up,
                    last_heard: l.last_heard,
                    late: l.late,
                    rx_loss: self.rx_loss(i),
                    tx_loss: self.red.tx.get(i).and_then(|t| t.report),
                    copies: self.copies_on(i),
                    advice: self.link_advice(i),
                })
                .collect(),
            groups,
            rsc_hold: if self.is_stable() {
                self.jobs.my_hold().into()
            } else {
                RscHold::Transition
            },
            recent: self.recent.iter().cloned().collect(),
            late_heartbeats: self.liveness.late_heartbeats,
            dropped_packets: self.delivery.drops.total,
            heartbeat_gaps: self.liveness.heartbeat_gaps.clone(),
            dropped_by_reason: self.delivery.drops.by_reason.clone(),
            startup_wait: self.startup_wait(),
            peer_config: self.pair.status(),
            persistent_standby: self.persistent.set,
            maintenance: self.maint.on,
            peer_maintenance: self.maint.peer_on,
            peer_restart_deadline: self.maint.peer_restart.and_then(|_| self.peer_dead_at()),
        }
    }

    /// `t=resource … rtype=full` with what we hold (`hold`), whether we are
    /// stable, and why.
    pub(super) fn send_resource(
        &mut self,
        now: Instant,
        hold: HoldSet,
        stable: bool,
        info: Option<ResourceInfo>,
    ) {
        self.neg.announced_stable = stable;
        self.neg.owe_stable = !stable;
        let body = Body::Resource(Resource {
            hold: Some(hold),
            full: true,
            stable: Some(stable),
            info,
        });
        self.send(now, None, body);
    }
}
