//! Resource monitoring and the way out of a failure (off unless a resource
//! has a `[[group.monitor]]`): which check is due ([`Output::Check`], run by
//! the shell beside the one outstanding step), what its answer means (`fall`
//! failures in a row fail a resource, `rise` good answers heal it), what a
//! failure leads to (`on_fail`: restart in place within `max_restarts` per
//! `restart_window`, move the group's set to the peer, block, or ignore), the
//! fail counts and their `failure_timeout`, and `hbd cleanup`: forget, re-probe
//! and decide again where the group runs.
//!
//! Why a check may run while a start or stop step of another group is
//! outstanding: a check only reads (`status`/`monitor`), in its own cage with
//! its own timeout, and its answer is ignored unless its group is still
//! running here in the same state it was asked about. The one-step rule exists
//! because start and stop steps change what runs and depend on each other's
//! order; a check changes nothing, and holding it back behind a slow start of
//! another group would delay noticing a dead service by that start's length.
//! Checks of a group that is itself starting, stopping or being re-probed are
//! not issued.
//!
//! Ping-pong is prevented by the `failed_here` mark (`jobs.rs`): a group that
//! failed here is never acquired here again, not even when the peer hands it
//! back, until `hbd cleanup`, an operator takeover or `failure_timeout`.

#![forbid(unsafe_code)]

use crate::config::{Config, MonitorCheck, OnFail};
use crate::core::events::{Event, MonitorAction};
use crate::core::jobs::{with_output, GState, Job, Then};
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::{
    Action, Check, CheckId, CheckOutcome, Failure, GroupId, HoldSet, MonitorState, Output,
};
use crate::time::Instant;
use crate::wire::repr::Body;
use std::collections::VecDeque;

/// The check schedule of one monitored resource (`cfg.hbd.monitors[k]`).
#[derive(Clone, Debug, Default)]
struct Watch {
    /// When the next check is due; None while one runs or the group does
    /// not run here.
    next_at: Option<Instant>,
    /// The check in flight, and the group's `transitions` when it was issued.
    in_flight: Option<(CheckId, u64)>,
    bad_in_row: u32,
    good_in_row: u32,
    /// Failed `fall` times in a row and not `rise` good checks since.
    failed: bool,
}

/// Checks, fail counts and restart history.
pub(super) struct Monitors {
    /// In `cfg.hbd.monitors` order.
    watches: Vec<Watch>,
    /// Per group, per resource.
    fail_counts: Vec<Vec<u32>>,
    last_failure: Vec<Vec<Option<Failure>>>,
    /// Per group: when each restart by a monitor began, within the window.
    restarts: Vec<VecDeque<Instant>>,
    next_check: u64,
}

impl Monitors {
    pub(super) fn new(cfg: &Config) -> Monitors {
        let shape = |g: &crate::config::ResourceGroup| g.resources.len();
        Monitors {
            watches: vec![Watch::default(); cfg.hbd.monitors.len()],
            fail_counts: cfg.groups.iter().map(|g| vec![0; shape(g)]).collect(),
            last_failure: cfg.groups.iter().map(|g| vec![None; shape(g)]).collect(),
            restarts: vec![VecDeque::new(); cfg.groups.len()],
            next_check: 1,
        }
    }
}

impl Machine {
    /// Counts a failed script run of resource `i` of group `g` and returns it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_failure(
        &mut self,
        now: Instant,
        g: GroupId,
        i: usize,
        action: Action,
        code: Option<i32>,
        reason: String,
        output: String,
    ) -> Failure {
        let f = Failure {
            resource: self.resource_name(g, i),
            action,
            code,
            reason,
            output,
            at: now,
        };
        if let Some(c) = self.mon.fail_counts[g.0].get_mut(i) {
            *c += 1;
            self.mon.last_failure[g.0][i] = Some(f.clone());
        }
        f
    }

    /// The indexes of group `g`'s monitors.
    fn watches_of(&self, g: GroupId) -> Vec<usize> {
        (0..self.mon.watches.len())
            .filter(|&k| self.cfg.hbd.monitors[k].group == g.0)
            .collect()
    }

    /// Group `g` runs here now: its monitored resources are checked from one
    /// interval on, their in-a-row counts start over. A check of the group as
    /// it was may still run (a hanging one, until its timeout): the next one
    /// waits for its answer, so checks of one resource never pile up.
    pub(super) fn watch_group(&mut self, now: Instant, g: GroupId) {
        for k in self.watches_of(g) {
            let interval = self.cfg.hbd.monitors[k].interval;
            let w = &mut self.mon.watches[k];
            w.next_at = Some(now + interval);
            w.bad_in_row = 0;
            w.good_in_row = 0;
        }
    }

    /// A reload changed the monitors: start their schedules afresh.
    pub(super) fn monitors_reconfigured(&mut self, now: Instant) {
        self.mon.watches = vec![Watch::default(); self.cfg.hbd.monitors.len()];
        for i in 0..self.jobs.groups.len() {
            if self.jobs.groups[i].state == GState::Running {
                self.watch_group(now, GroupId(i));
            }
        }
    }

    /// The next check due ([`Timer::Monitor`]); one waiting for an earlier
    /// check's answer is due when that answer comes.
    pub(super) fn monitor_due_at(&self) -> Option<Instant> {
        self.mon
            .watches
            .iter()
            .filter(|w| w.in_flight.is_none())
            .filter_map(|w| w.next_at)
            .min()
    }

    /// The next fail count to expire ([`Timer::FailureTimeout`]).
    pub(super) fn failures_expire_at(&self) -> Option<Instant> {
        self.cfg
            .hbd
            .monitors
            .iter()
            .filter_map(|m| {
                let ft = m.failure_timeout?;
                let f = self
                    .mon
                    .last_failure
                    .get(m.group)?
                    .get(m.resource)?
                    .as_ref()?;
                (self.mon.fail_counts[m.group][m.resource] > 0).then_some(f.at + ft)
            })
            .min()
    }

    /// Issues every check that is due.
    pub(super) fn run_due_checks(&mut self, now: Instant) {
        for k in 0..self.mon.watches.len() {
            let w = &self.mon.watches[k];
            if w.in_flight.is_some() || !w.next_at.is_some_and(|at| at <= now) {
                continue;
            }
            self.mon.watches[k].next_at = None;
            let m = &self.cfg.hbd.monitors[k];
            let g = GroupId(m.group);
            let grp = &self.jobs.groups[g.0];
            // `watch_group` schedules it again once the group runs here.
            // Maintenance: `resume_after_maintenance` schedules it again.
            if grp.state != GState::Running
                || self.shutting_down
                || self.maint.on
                || self.jobs.busy_with() == Some(g)
            {
                continue;
            }
            let id = CheckId(self.mon.next_check);
            self.mon.next_check += 1;
            self.mon.watches[k].in_flight = Some((id, grp.transitions));
            let check = Check {
                id,
                group: g,
                resource: m.resource,
                action: match m.check {
                    MonitorCheck::Status => Action::Status,
                    MonitorCheck::Monitor => Action::Monitor,
                },
                timeout: m.timeout,
            };
            self.out.push_back(Output::Check(check));
        }
    }

    pub(super) fn handle_check_done(&mut self, now: Instant, id: CheckId, outcome: CheckOutcome) {
        // Unknown: a check from before a reload changed the monitors.
        let Some(k) = (0..self.mon.watches.len())
            .find(|&k| self.mon.watches[k].in_flight.is_some_and(|(i, _)| i == id))
        else {
            return;
        };
        let (_, issued) = self.mon.watches[k].in_flight.take().unwrap_or((id, 0));
        let m = self.cfg.hbd.monitors[k].clone();
        let g = GroupId(m.group);
        let grp = &self.jobs.groups[g.0];
        if grp.transitions != issued
            || grp.state != GState::Running
            || self.shutting_down
            || self.maint.on
            || self.jobs.busy_with() == Some(g)
        {
            let (group, resource) = (self.key(g), self.resource_name(g, m.resource));
            return self.event(Event::MonitorStale { group, resource });
        }
        let (group, resource) = (self.key(g), self.resource_name(g, m.resource));
        let w = &mut self.mon.watches[k];
        match outcome {
            CheckOutcome::Running => {
                w.bad_in_row = 0;
                w.good_in_row += 1;
                w.next_at = Some(now + m.interval);
                if w.failed && w.good_in_row >= m.rise {
                    w.failed = false;
                    self.note(now, format!("{group}: {resource} running again"));
                    self.event(Event::MonitorRecovered { group, resource });
                }
            }
            CheckOutcome::Failed {
                code,
                reason,
                output,
            } => {
                w.good_in_row = 0;
                w.bad_in_row += 1;
                if w.bad_in_row < m.fall {
                    w.next_at = Some(now + m.interval);
                    let failures = w.bad_in_row;
                    return self.event(Event::MonitorCheckFailed {
                        group,
                        resource,
                        failures,
                        fall: m.fall,
                        reason: with_output(&reason, &output),
                    });
                }
                w.bad_in_row = 0;
                w.failed = true;
                let action = match m.check {
                    MonitorCheck::Status => Action::Status,
                    MonitorCheck::Monitor => Action::Monitor,
                };
                let f = self.record_failure(now, g, m.resource, action, code, reason, output);
                self.monitor_failed(now, k, f);
            }
        }
    }

    /// Resource `cfg.hbd.monitors[k]` failed its monitor `fall` times in a row.
    fn monitor_failed(&mut self, now: Instant, k: usize, f: Failure) {
        let m = self.cfg.hbd.monitors[k].clone();
        let g = GroupId(m.group);
        let key = self.key(g);
        let fail_count = self.mon.fail_counts[g.0][m.resource];
        let reason = with_output(&f.reason, &f.output);
        let action = match m.on_fail {
            OnFail::Ignore => {
                self.mon.watches[k].next_at = Some(now + m.interval);
                MonitorAction::Ignore
            }
            OnFail::Block => {
                self.jobs.groups[g.0].failure = Some(f.clone());
                self.set_gstate(g, GState::Failed);
                MonitorAction::Block
            }
            OnFail::Restart => {
                let restarts = &mut self.mon.restarts[g.0];
                while restarts
                    .front()
                    .is_some_and(|t| now.saturating_since(*t) >= m.restart_window)
                {
                    restarts.pop_front();
                }
                let queued = self.jobs.queue.iter_mut().find_map(|j| match j {
                    Job::Restart(x, from) if *x == g => Some(from),
                    _ => None,
                });
                if let Some(from) = queued {
                    // Another resource of the group failed first and its
                    // restart has not begun: one restart covers both.
                    *from = (*from).min(m.resource);
                    MonitorAction::Restart {
                        attempt: restarts.len() as u32,
                        max: m.max_restarts,
                        window: m.restart_window,
                    }
                } else if (restarts.len() as u32) < m.max_restarts {
                    restarts.push_back(now);
                    let attempt = restarts.len() as u32;
                    self.jobs.queue.push_back(Job::Restart(g, m.resource));
                    MonitorAction::Restart {
                        attempt,
                        max: m.max_restarts,
                        window: m.restart_window,
                    }
                } else {
                    let done = restarts.len() as u32;
                    self.move_away(g, f.clone(), Some((done, m.restart_window)))
                }
            }
            OnFail::Move => self.move_away(g, f.clone(), None),
        };
        let short = match &action {
            MonitorAction::Restart { .. } => "restarting".to_string(),
            MonitorAction::Move { to: Some(p), .. } => format!("moving to {p}"),
            MonitorAction::Move { to: None, .. } => "stopping".into(),
            MonitorAction::Block => "blocked".into(),
            MonitorAction::Ignore => "ignored".into(),
        };
        self.note(
            now,
            format!(
                "{key}: {} failed its monitor ({}); {short}",
                f.resource, f.reason
            ),
        );
        self.event(Event::MonitorFailed {
            group: key,
            resource: f.resource,
            fail_count,
            reason,
            action,
        });
    }

    /// Stops group `g` here for good (until cleanup) and offers its set to
    /// the peer when it can take it.
    fn move_away(
        &mut self,
        g: GroupId,
        f: Failure,
        restarts: Option<(u32, crate::time::Duration)>,
    ) -> MonitorAction {
        let grp = &mut self.jobs.groups[g.0];
        grp.failed_here = true;
        grp.failure = Some(f);
        self.jobs
            .queue
            .retain(|j| !matches!(j, Job::Restart(x, _) if *x == g));
        self.jobs.queue.push_back(Job::Release(g));
        self.jobs.queue.push_back(Job::Then(Then::HandOver(g)));
        let can = self.nice_failback()
            && !self.liveness.peer_dead
            && self.liveness.comm_up
            && !self.shutting_down;
        MonitorAction::Move {
            to: can.then(|| self.peer.clone()),
            restarts,
        }
    }

    /// Clears the fail counts whose `failure_timeout` passed; a group that
    /// failed here because of them may run here again.
    pub(super) fn expire_failures(&mut self, now: Instant) {
        for k in 0..self.cfg.hbd.monitors.len() {
            let m = &self.cfg.hbd.monitors[k];
            let (g, r) = (GroupId(m.group), m.resource);
            let Some(ft) = m.failure_timeout else {
                continue;
            };
            let count = self.mon.fail_counts[g.0][r];
            let due = self.mon.last_failure[g.0][r]
                .as_ref()
                .is_some_and(|f| f.at + ft <= now);
            if count == 0 || !due {
                continue;
            }
            self.mon.fail_counts[g.0][r] = 0;
            let (group, resource) = (self.key(g), self.resource_name(g, r));
            self.note(now, format!("{group}: failures of {resource} expired"));
            self.event(Event::FailureExpired {
                group,
                resource: resource.clone(),
                fail_count: count,
            });
            let grp = &mut self.jobs.groups[g.0];
            let from_here = grp.failure.as_ref().is_some_and(|f| f.resource == resource);
            // A group that may still be active here (a stop failed, or it is
            // blocked) waits for an operator: only cleanup clears that.
            if from_here && grp.failed_here && grp.state != GState::Failed {
                grp.failed_here = false;
                grp.failure = None;
                self.jobs.queue.push_back(Job::Then(Then::Decide(g)));
            }
        }
    }

    /// `hbd cleanup`: forget the failures of `which` (every group when None)
    /// and re-probe it.
    pub(super) fn cleanup(&mut self, now: Instant, which: Option<GroupId>) {
        if self.shutting_down {
            return self.refuse("cleanup".into(), "shutting down".into());
        }
        if self.maint.on {
            return self.refuse(
                "cleanup".into(),
                "this node is in maintenance mode; `hbd maintenance off` first".into(),
            );
        }
        let ids: Vec<GroupId> = match which {
            Some(g) if g.0 < self.jobs.groups.len() => vec![g],
            Some(g) => {
                return self.refuse("cleanup".into(), format!("no group {}", g.0));
            }
            None => (0..self.jobs.groups.len()).map(GroupId).collect(),
        };
        for g in ids {
            self.mon.fail_counts[g.0].iter_mut().for_each(|c| *c = 0);
            self.mon.last_failure[g.0]
                .iter_mut()
                .for_each(|f| *f = None);
            self.mon.restarts[g.0].clear();
            for k in self.watches_of(g) {
                let w = &mut self.mon.watches[k];
                w.failed = false;
                w.bad_in_row = 0;
                w.good_in_row = 0;
            }
            let grp = &mut self.jobs.groups[g.0];
            grp.failed_here = false;
            grp.failure = None;
            let set = if grp.local {
                HoldSet::Local
            } else {
                HoldSet::Foreign
            };
            self.cancel_handover(set);
            self.jobs
                .queue
                .retain(|j| !matches!(j, Job::Restart(x, _) if *x == g));
            let group = self.key(g);
            self.note(now, format!("cleanup {group}"));
            self.event(Event::CleanupStarted { group });
            if !self.jobs.queue.contains(&Job::Reprobe(g)) {
                self.jobs.queue.push_back(Job::Reprobe(g));
            }
        }
    }

    /// The cleanup's re-probe of group `g` found `running` of its `n`
    /// resources running here: keep it, stop it, or decide again.
    pub(super) fn reprobed(&mut self, now: Instant, g: GroupId, running: usize, n: usize) {
        let next = if running == n {
            self.set_gstate(g, GState::Running);
            self.watch_group(now, g);
            self.announce_when_done();
            "keeping it running here".to_string()
        } else if running == 0 {
            if self.jobs.groups[g.0].state != GState::Stopped {
                self.set_gstate(g, GState::Stopped);
                self.group_stopped_here(g);
            }
            self.decide_group(now, g)
        } else {
            // Half a group is no state to keep: stop all of it (right to
            // left, as any release), then decide as for a stopped one.
            self.set_gstate(g, GState::Running);
            self.jobs.queue.push_front(Job::Then(Then::Decide(g)));
            self.jobs.queue.push_front(Job::Release(g));
            "stopping it, then deciding again where it runs".into()
        };
        let group = self.key(g);
        self.note(
            now,
            format!("cleanup {group}: {running} of {n} running; {next}"),
        );
        self.event(Event::CleanupDone {
            group,
            running,
            of: n,
            next,
        });
    }

    /// Group `g` is stopped here and no longer marked failed: start it here
    /// unless the peer holds it, or leave it; then tell the peer what we
    /// hold. Returns what was decided.
    pub(super) fn decide_group(&mut self, now: Instant, g: GroupId) -> String {
        let next = self.decide_where(now, g);
        self.announce_when_done();
        next
    }

    /// Once the queued jobs are done, tell the peer our holdings (legacy
    /// mode has no holdings messages).
    pub(super) fn announce_when_done(&mut self) {
        let last_is_announce = self.jobs.queue.back() == Some(&Job::Then(Then::Announce));
        if self.nice_failback() && !last_is_announce {
            self.jobs.queue.push_back(Job::Then(Then::Announce));
        }
    }

    pub(super) fn decide_where(&mut self, now: Instant, g: GroupId) -> String {
        let grp = &self.jobs.groups[g.0];
        if grp.state != GState::Stopped || grp.failed_here {
            return "keeping it as it is".into();
        }
        if self.shutting_down {
            return "keeping it stopped: shutting down".into();
        }
        if !self.neg.stable_phase() {
            return "leaving it to the start-up negotiation".into();
        }
        let local = grp.local;
        let peer = self.peer.clone();
        if self.liveness.peer_dead {
            self.acquire_groups(&[g]);
            return format!("starting it here ({peer} is dead)");
        }
        if !self.nice_failback() {
            // Legacy has no holdings: a live peer runs its home groups, and
            // ours come back through `ip-request` (it releases them first).
            if !local {
                return format!("leaving it to its home node {peer}");
            }
            let ipaddr = Some(self.key(g));
            self.send(now, None, Body::IpRequest { ipaddr });
            self.timers.set(
                Timer::IpRequestRetry,
                now + crate::core::negotiation::RQSTDELAY,
            );
            return format!("asking {peer} for it (ip-request)");
        }
        if self.neg.peer_starting {
            // Its `none` may only mean its hbd is starting and has not yet
            // adopted what it found running: starting it here now could run
            // it twice. Found by the fault campaign (a cleanup just as the
            // peer's hbd restarted: the address on both for 120 ms).
            if !self.neg.decide_when_stable.contains(&g) {
                self.neg.decide_when_stable.push(g);
            }
            return format!("deciding once {peer} is stable");
        }
        if self.neg.peer_hold.has(!local) {
            return format!("leaving it to {peer}, which holds it");
        }
        self.acquire_groups(&[g]);
        format!("starting it here ({peer} does not hold it)")
    }

    /// The peer is stable: the groups left undecided for it are decided.
    pub(super) fn decide_deferred(&mut self, now: Instant) {
        for g in std::mem::take(&mut self.neg.decide_when_stable) {
            let next = self.decide_group(now, g);
            let group = self.key(g);
            self.note(now, format!("{group}: {next}"));
        }
    }

    /// What `status` shows of resource `i` of group `g`'s monitor.
    pub(super) fn monitor_state(&self, g: GroupId, i: usize) -> Option<MonitorState> {
        let k = (0..self.cfg.hbd.monitors.len()).find(|&k| {
            let m = &self.cfg.hbd.monitors[k];
            m.group == g.0 && m.resource == i
        })?;
        let w = self.mon.watches.get(k)?;
        Some(if w.failed {
            MonitorState::Failed
        } else if self.jobs.groups[g.0].state != GState::Running {
            MonitorState::Idle
        } else if w.bad_in_row > 0 {
            MonitorState::Failing
        } else {
            MonitorState::Ok
        })
    }

    pub(super) fn fail_count(&self, g: GroupId, i: usize) -> u32 {
        self.mon.fail_counts[g.0].get(i).copied().unwrap_or(0)
    }

    pub(super) fn last_failure(&self, g: GroupId, i: usize) -> Option<Failure> {
        self.mon.last_failure[g.0].get(i).cloned().flatten()
    }
}
