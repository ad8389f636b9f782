//! Operations without outages (hbd's own; heartbeat has none of it):
//! maintenance mode, the planned restart that leaves every group running,
//! and adopting at start-up the groups found running here.
//!
//! **Maintenance mode** (`hbd maintenance on`): heartbeats go on, and this
//! node starts, stops, monitors and takes over nothing; what it would have
//! done is reported (`Event::MaintenanceHeld`). An hbd peer is told
//! (`hbdmaint=1` in each status) and moves nothing of ours while it lasts
//! (no standby offered, no takeover asked), but a peer silent for its dead
//! time is still dead: maintenance stops this node's actions, it never
//! leaves the pair unable to fail over on a crash. Leaving it resumes the
//! monitors and decides again where each stopped group runs.
//!
//! **Planned restart** (`hbd restart`): nothing is released; an hbd peer is
//! told (`hbdrestart=GRACE` in a last status) and waits its dead time plus
//! the grace before it takes over; the new process finds the groups running
//! and keeps them. A heartbeat 3.0.6 peer cannot be told: the restart is a
//! graceful stop (the peer takes over) as before.
//!
//! **Adoption**: with `NodeParams::probe_at_start`, the first jobs probe
//! every resource with `status`. A group found fully running is kept without
//! a start once the start-up decision shows the peer does not hold it (or is
//! dead), else stopped here; a group found half running is stopped first.

#![forbid(unsafe_code)]

use crate::core::events::Event;
use crate::core::jobs::{GState, Job, Then};
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::{GroupId, HoldSet, Output};
use crate::time::{Duration, Instant};
use crate::wire::repr::HbdState;

/// How long beyond its dead time a peer restarting on purpose may stay
/// silent: the new process has to start, read its configuration and send.
pub const RESTART_GRACE: Duration = Duration::from_secs(20);
/// The most a peer's announced grace is honoured: a wrong value must not
/// keep a crashed node's groups down for long.
pub const MAX_RESTART_GRACE: Duration = Duration::from_secs(120);
/// The most a restart with a heartbeat peer waits for it to take the groups
/// after `shutdone`: a new process heartbeat meets while it still acquires
/// them is not failed back to (seen with heartbeat 3.0.6), so the new
/// process starts once the peer holds them.
const HANDOVER_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct Maintenance {
    /// `hbd maintenance on`.
    pub(super) on: bool,
    /// The peer (an hbd) says it is in maintenance mode.
    pub(super) peer_on: bool,
    /// The peer announced a planned restart: the extra silence it is allowed.
    pub(super) peer_restart: Option<Duration>,
    /// Our own planned restart: every status from now on says it (a
    /// keepalive sent after the announcement must not take it back).
    pub(super) restarting: Option<Duration>,
    /// `hbd restart` with a heartbeat peer: after `shutdone`, the end waits
    /// for the peer to say it took the groups ([`Timer::RestartHandover`]).
    handover: HandoverWait,
}

impl Maintenance {
    /// At start: in maintenance mode if the record says so.
    pub(super) fn starting(on: bool) -> Maintenance {
        Maintenance {
            on,
            ..Maintenance::default()
        }
    }
}

/// What we held when `hbd restart` began, from our side.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum HandoverWait {
    #[default]
    No,
    /// Asked for; the release is under way.
    Asked(HoldSet),
    /// `shutdone` sent: waiting for the peer's holdings to cover the set.
    Waiting(HoldSet),
}

#[derive(Default)]
pub(super) struct Adoption {
    /// The start-up probe was asked for and its decision is still to come.
    pub(super) open: bool,
    /// Groups the probe found fully running here, waiting for the decision.
    found: Vec<GroupId>,
    /// The decision is made while the peer is itself in its start-up
    /// negotiation (BothStarting, not stable): it takes its home groups.
    peer_starting: bool,
}

impl Machine {
    /// What our statuses tell an hbd peer (nothing to a heartbeat peer).
    pub(super) fn hbd_state(&self, restart_grace: Option<Duration>) -> HbdState {
        if !self.pair_is_hbd() {
            return HbdState::default();
        }
        HbdState {
            maintenance: self.maint.on,
            restart_grace: restart_grace
                .or(self.maint.restarting)
                .map(Duration::millis),
        }
    }

    /// `hbd maintenance on|off`. On is refused while something moves (a
    /// step, a standby, a fence): it would freeze half done. Off always works.
    pub(super) fn set_maintenance(&mut self, now: Instant, on: bool) {
        if on == self.maint.on {
            return;
        }
        if on && (!self.jobs.idle() || self.standby.is_some() || self.fence.is_some()) {
            return self.refuse(
                "maintenance on".into(),
                "resources in transition (a start, stop, standby or fence is under way); try again once `hbd status` shows them settled".into(),
            );
        }
        if on && self.shutting_down {
            return self.refuse("maintenance on".into(), "shutting down".into());
        }
        self.maint.on = on;
        self.event(Event::Maintenance { on });
        self.note(
            now,
            format!("maintenance mode {}", if on { "on" } else { "off" }),
        );
        // The peer hears it now, not a keepalive later.
        self.send_status(now);
        if !on {
            self.resume_after_maintenance(now);
        }
    }

    /// Maintenance ended: the monitors start again, and what was held back
    /// is decided as it stands now (a dead peer is taken over, fencing
    /// first; a stopped group starts where nobody runs it).
    fn resume_after_maintenance(&mut self, now: Instant) {
        // Maintenance is when operators start and stop resources by hand.
        self.jobs.forget_proofs();
        for i in 0..self.jobs.groups.len() {
            if self.jobs.groups[i].state == GState::Running {
                self.watch_group(now, GroupId(i));
            }
        }
        if !self.liveness.comm_up || self.shutting_down {
            return;
        }
        if self.liveness.peer_dead {
            return self.recover_dead_peer(now);
        }
        if !self.neg.stable_phase() {
            return;
        }
        // What maintenance kept running against the peer's holdings is
        // settled now: the home-node rule runs again (nice_failback), and in
        // legacy a live peer runs its home groups.
        self.forget_conflicts();
        if !self.nice_failback() {
            for i in 0..self.jobs.groups.len() {
                if !self.jobs.groups[i].local && self.jobs.groups[i].state == GState::Running {
                    self.release_after_partition(GroupId(i));
                }
            }
        }
        let stopped: Vec<GroupId> = (0..self.jobs.groups.len())
            .map(GroupId)
            .filter(|g| self.jobs.groups[g.0].state == GState::Stopped)
            .collect();
        for g in stopped {
            let next = self.decide_where(now, g);
            let key = self.key(g);
            self.note(now, format!("{key}: {next}"));
        }
        self.announce_when_done();
    }

    /// Whether this node's maintenance holds back `what`; reports it if so.
    pub(super) fn held_by_maintenance(&mut self, what: impl FnOnce() -> String) -> bool {
        if self.maint.on {
            let what = what();
            self.event(Event::MaintenanceHeld { what, peer: false });
        }
        self.maint.on
    }

    /// The job runner's guard: in maintenance, a start, stop or restart is
    /// dropped (probes and continuations run).
    pub(super) fn job_held(&mut self, job: &Job) -> bool {
        if !self.maint.on {
            return false;
        }
        let what = match job {
            Job::Acquire(g) if self.jobs.groups[g.0].state == GState::Stopped => {
                format!("start of group {}", self.key(*g))
            }
            Job::Release(g) if self.jobs.groups[g.0].state == GState::Running => {
                format!("stop of group {}", self.key(*g))
            }
            Job::Restart(g, _) => format!("restart of group {}", self.key(*g)),
            _ => return false,
        };
        self.event(Event::MaintenanceHeld { what, peer: false });
        true
    }

    /// Why a standby or takeover cannot run: either side is in maintenance.
    pub(super) fn maintenance_refusal(&self) -> Option<String> {
        if self.maint.on {
            Some("this node is in maintenance mode; `hbd maintenance off` first".into())
        } else if self.maint.peer_on {
            Some(format!(
                "{} is in maintenance mode: it moves no group until it ends",
                self.peer
            ))
        } else {
            None
        }
    }

    /// The peer's hbd fields in a status it sent.
    pub(super) fn handle_peer_hbd_state(&mut self, now: Instant, s: HbdState) {
        // Called for every status: nothing here may allocate unless the
        // state changed (tests/idle_alloc).
        if s.maintenance != self.maint.peer_on {
            let node = self.peer.clone();
            self.maint.peer_on = s.maintenance;
            self.event(Event::PeerMaintenance {
                node: node.clone(),
                on: s.maintenance,
            });
            self.note(
                now,
                format!(
                    "{node} maintenance mode {}",
                    if s.maintenance { "on" } else { "off" }
                ),
            );
        }
        let grace = s
            .restart_grace
            .map(|ms| Duration::from_millis(ms).min(MAX_RESTART_GRACE));
        if grace.is_some() && self.maint.peer_restart.is_none() {
            let wait = self.liveness.dead_timeout + grace.unwrap_or_default();
            self.event(Event::PeerRestarting {
                node: self.peer.clone(),
                wait,
            });
            self.note(now, format!("{} restarting (planned)", self.peer));
        }
        // Each status says it again: a later one without it means the
        // restart did not happen (the old process goes on).
        self.maint.peer_restart = grace;
    }

    /// The peer is gone for good or came back as a new process: what it
    /// said of its maintenance or restart no longer holds.
    pub(super) fn forget_peer_maintenance(&mut self) {
        self.maint.peer_on = false;
        self.maint.peer_restart = None;
    }

    /// The extra silence the peer is allowed (its planned restart).
    pub(super) fn peer_restart_grace(&self) -> Duration {
        self.maint.peer_restart.unwrap_or(Duration::ZERO)
    }

    /// `hbd restart`: stop leaving every group running. With a heartbeat
    /// peer that could not be told to wait, a graceful stop (it takes over).
    pub(super) fn restart_planned(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let peer_alive = self.liveness.comm_up && !self.liveness.peer_dead;
        if peer_alive && !self.pair_is_hbd() && !self.maint.on {
            self.event(Event::RestartAnnounced {
                grace: None,
                handover: true,
            });
            self.note(
                now,
                "planned restart with a heartbeat peer: handing over".into(),
            );
            let held = self.jobs.my_hold();
            if held != HoldSet::None {
                self.maint.handover = HandoverWait::Asked(held);
            }
            return self.shut_down(now);
        }
        if !self.maint.on && (!self.jobs.idle() || self.standby.is_some() || self.fence.is_some()) {
            return self.refuse(
                "restart".into(),
                "resources in transition (a start, stop, standby or fence is under way); try again once `hbd status` shows them settled".into(),
            );
        }
        self.leave_running(now, peer_alive);
    }

    /// The end of this process without releasing anything (a planned
    /// restart, or a stop in maintenance mode): an hbd peer is told to wait.
    pub(super) fn leave_running(&mut self, now: Instant, peer_alive: bool) {
        self.shutting_down = true;
        self.cancel_fence("shutting down");
        if self.end_standby().is_some() {
            self.event(Event::StandbyCancelled {
                reason: "shutting down".into(),
            });
        }
        for t in [Timer::Giveup, Timer::Rqst, Timer::Failback] {
            self.timers.stop(t);
        }
        self.jobs.queue.clear();
        let grace = (peer_alive && self.pair_is_hbd()).then_some(RESTART_GRACE);
        self.maint.restarting = grace;
        self.event(Event::RestartAnnounced {
            grace,
            handover: false,
        });
        self.note(now, "planned restart: groups left running".into());
        // Through the usual path, so the copies on a lossy link say it too.
        self.send_status(now);
        self.out.push_back(crate::core::Output::ShutdownComplete);
    }

    /// The release of a restart with a heartbeat peer is done and `shutdone`
    /// sent: wait for the peer's holdings (true), unless nothing was handed
    /// over or nobody can take it.
    pub(super) fn wait_for_handover(&mut self, now: Instant) -> bool {
        let HandoverWait::Asked(held) = self.maint.handover else {
            return false;
        };
        if self.liveness.peer_dead || !self.liveness.comm_up {
            self.maint.handover = HandoverWait::No;
            return false;
        }
        self.maint.handover = HandoverWait::Waiting(held);
        self.timers.set(Timer::RestartHandover, now + HANDOVER_WAIT);
        true
    }

    /// A `resource` from the peer while we are stopping: once it holds what
    /// was ours (our set, inverted to its side), the restart goes on.
    pub(super) fn handover_seen(&mut self, r: crate::wire::repr::Resource) {
        let (HandoverWait::Waiting(held), Some(h)) = (self.maint.handover, r.hold) else {
            return;
        };
        let theirs = held.invert();
        if (!theirs.has(true) || h.has(true)) && (!theirs.has(false) || h.has(false)) {
            self.restart_handover_done("the peer holds them");
        }
    }

    /// The restart's wait for the heartbeat peer is over: the process ends.
    pub(super) fn restart_handover_done(&mut self, why: &str) {
        if !matches!(self.maint.handover, HandoverWait::Waiting(_)) {
            return;
        }
        self.maint.handover = HandoverWait::No;
        self.timers.stop(Timer::RestartHandover);
        self.event(Event::RestartHandedOver { reason: why.into() });
        self.out.push_back(crate::core::Output::ShutdownComplete);
    }

    // ------------------------------------------------------------- adoption

    /// Queues the start-up probe of every group (before anything else runs).
    pub(super) fn queue_start_probe(&mut self) {
        self.adopt.open = true;
        for i in 0..self.jobs.groups.len() {
            self.jobs.queue.push_back(Job::Survey(GroupId(i)));
        }
    }

    /// The start-up probe found `running` of group `g`'s `n` resources running.
    pub(super) fn surveyed(&mut self, g: GroupId, running: usize, n: usize) {
        if running == 0 {
            return;
        }
        let group = self.key(g);
        self.event(Event::GroupFound {
            group,
            running,
            of: n,
        });
        // Held here from now on: our holdings say so and nobody starts it.
        self.set_gstate(g, GState::Running);
        if running < n {
            // Half a group is no state to keep (as cleanup's rule): stopped
            // right to left, then decided like any stopped group.
            self.jobs.queue.push_front(Job::Release(g));
        } else {
            self.adopt.found.push(g);
        }
    }

    /// Our holdings as `resource` says them: what the start-up probe found
    /// is not claimed until it is kept (a peer answering our `starting`
    /// must not read a claim that the adoption may still withdraw).
    pub(super) fn hold_to_announce(&self) -> HoldSet {
        let (mut l, mut f) = (false, false);
        for (i, g) in self.jobs.groups.iter().enumerate() {
            if g.state == GState::Stopped || self.adopt.found.contains(&GroupId(i)) {
                continue;
            }
            if g.local {
                l = true;
            } else {
                f = true;
            }
        }
        HoldSet::from_parts(l, f)
    }

    /// See [`Adoption::peer_starting`].
    pub(super) fn adoption_peer_starting(&mut self, on: bool) {
        self.adopt.peer_starting = on;
    }

    /// Whether the start-up decision must first settle what the probe found.
    pub(super) fn adoption_open(&self) -> bool {
        self.adopt.open
    }

    /// Queues the adoption decision (a no-op unless the probe is open).
    pub(super) fn queue_adoption(&mut self) {
        if self.adopt.open {
            self.jobs.queue.push_back(Job::Then(Then::Adopt));
        }
    }

    /// The start-up decision is made and the probe is done: keep each group
    /// found running unless the live peer holds it too.
    pub(super) fn adopt_found(&mut self, now: Instant) {
        self.adopt.open = false;
        let peer_alive = self.liveness.comm_up && !self.liveness.peer_dead;
        for g in std::mem::take(&mut self.adopt.found) {
            if self.jobs.groups[g.0].state != GState::Running {
                continue;
            }
            let group = self.key(g);
            let ours = self.jobs.groups[g.0].local;
            // nice_failback: the peer's holdings say what it runs. Legacy
            // has no holdings, but a live peer runs its own home groups
            // there: keeping one of them here would run it twice.
            let contested = peer_alive
                && if self.nice_failback() {
                    // A peer still starting said `none` because it runs
                    // nothing yet; it starts its home groups at its end.
                    self.neg.peer_hold.has(!ours) || (!ours && self.adopt.peer_starting)
                } else {
                    !ours
                };
            if contested {
                self.event(Event::GroupContested {
                    group,
                    holder: self.peer.clone(),
                });
                self.jobs.queue.push_front(Job::Release(g));
            } else {
                self.note(now, format!("{group} adopted"));
                self.event(Event::GroupAdopted { group });
                self.watch_group(now, g);
                // While this hbd was away (killed, its machine up) the peer
                // may have taken over, announced the addresses and given
                // them up again (a start that failed on the disk still in
                // use here): clients may have its MAC. Found by the fault
                // campaign (kill -9 of hbd alone: the client stale for 4 s).
                self.out.push_back(Output::Reannounce { group: g });
            }
        }
    }
}
