//! The resource groups as this node runs them, and the job runner that moves
//! them: one script step at a time (heartbeat's haresources order: start left
//! to right after a `status` probe, skipped for a resource proven stopped
//! here, stop right to left, failed stops retried),
//! jobs queued behind the step in flight, and `Then` continuations that run
//! when the jobs before them are done. A monitor's restart (stop from the
//! right down to the failed resource, start it and those after it again) and
//! `hbd cleanup`'s re-probe are jobs too; the decisions behind them are
//! `monitor.rs`'s.

#![forbid(unsafe_code)]

use crate::config::{Config, StopFailurePolicy};
use crate::core::events::Event;
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::{Action, Failure, GroupId, HoldSet, Output, Step, StepId, StepOutcome};
use crate::time::{Duration, Instant};
use crate::wire::repr::ResourceInfo;
use std::collections::VecDeque;

/// Stop retries, 1 s apart, as ResourceManager's HA_STOPRETRYMAX (§6.2).
const STOP_RETRIES: u32 = 10;
const STOP_RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum GState {
    Stopped,
    Starting,
    Running,
    Stopping,
    /// A stop failed for good: may still be active here.
    Failed,
}

pub(super) struct Group {
    pub(super) state: GState,
    /// Home is the local node.
    pub(super) local: bool,
    /// A start failed here, or a monitor moved the group away: not acquired
    /// here again (so a group that fails on both nodes stays put) until
    /// `hbd cleanup`, an operator takeover or `failure_timeout`.
    pub(super) failed_here: bool,
    /// Why it is failed here (`failed_here`, or `GState::Failed`), for status.
    pub(super) failure: Option<Failure>,
    /// Bumped at every state change: a monitor check issued before the
    /// latest change answers about a group that no longer exists as it was.
    pub(super) transitions: u64,
    /// What this process has seen of each resource here: a start skips the
    /// `status` probe only for one proven stopped (docs/daemon.md).
    known: Vec<Known>,
}

/// What this process can prove about one resource on this node, from what
/// its own steps saw. Never persisted: a new process knows nothing until its
/// start-up probe (a crashed daemon may have left anything running).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Known {
    /// No proof: never asked, its `status` said running without our start
    /// (a resource started behind hbd's back, or whose status lies), or a
    /// step on it failed. A start probes it first, as heartbeat does.
    Unknown,
    /// Its `status` said not running, or this process stopped what it had
    /// started itself; nothing has run its `start` since.
    Stopped,
    /// This process ran its `start` (whatever it answered).
    Started,
    /// In more than one place of haresources: a step on one place moves
    /// the other, so it is never proven.
    Shared,
}

/// What to do once the jobs queued before it are done.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Then {
    /// Startup acquisition finished: tell the peer we are stable.
    Stable {
        reason: String,
        info: Option<ResourceInfo>,
    },
    /// Dead-peer takeover finished (§6.7).
    MachDown(String),
    /// Standby requester released its groups (§6.8 phase 3), with the groups
    /// that were running here when the release began.
    StandbyReleased(HoldSet, Vec<GroupId>),
    /// Standby acquirer took the groups (§6.8 phase 4).
    StandbyAcquired(HoldSet),
    /// Legacy: reply to a peer's `ip-request` after giving the group up.
    IpRequestResp {
        key: String,
        weown: bool,
    },
    /// A start failed and was rolled back, or a monitor moved the group:
    /// hand the group's set to the peer.
    HandOver(GroupId),
    /// `hbd cleanup` or `failure_timeout` cleared the group's failure and it
    /// is stopped here: decide again where it runs.
    Decide(GroupId),
    ShutdownDone,
    /// The start-up decision is made: keep or stop the groups the start-up
    /// probe found running (maintenance.rs).
    Adopt,
    /// Send our holdings (`resource … rtype=full isstable=…`).
    Announce,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Job {
    Acquire(GroupId),
    Release(GroupId),
    /// A monitor found resource `from` failed: stop the resources from the
    /// last down to it, then start them again from it (with the usual probe).
    Restart(GroupId, usize),
    /// `hbd cleanup`: `status` of every resource, then keep, stop or decide.
    Reprobe(GroupId),
    /// The start-up probe: `status` of every resource, then
    /// `Machine::surveyed`.
    Survey(GroupId),
    Then(Then),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// `status` of resource i before starting it.
    Probe(usize),
    Start(usize),
    /// Stop resource i (right to left); `rollback` when undoing a failed
    /// start. With `restart`, stopping ends at resource `restart` (instead of
    /// 0) and the group starts again from there.
    Stop {
        i: usize,
        tries: u32,
        rollback: bool,
        restart: Option<usize>,
    },
    /// `status` of resource i for a cleanup; `running` of those before it ran.
    Reprobe {
        i: usize,
        running: usize,
    },
    /// `status` of resource i for the start-up probe.
    Survey {
        i: usize,
        running: usize,
    },
}

/// The group being started or stopped.
struct Op {
    group: GroupId,
    phase: Phase,
    /// The step we wait for; None while waiting for a retry ([`Timer::StopRetry`]).
    step: Option<StepId>,
}

pub(super) struct Jobs {
    pub(super) groups: Vec<Group>,
    pub(super) queue: VecDeque<Job>,
    op: Option<Op>,
    next_step: u64,
}

impl Jobs {
    pub(super) fn new(cfg: &Config, local: &str) -> Jobs {
        let places = |r: &crate::config::Resource| {
            cfg.groups
                .iter()
                .flat_map(|g| &g.resources)
                .filter(|x| *x == r)
                .count()
        };
        Jobs {
            groups: cfg
                .groups
                .iter()
                .map(|g| Group {
                    state: GState::Stopped,
                    local: g.home.eq_ignore_ascii_case(local),
                    failed_here: false,
                    failure: None,
                    transitions: 0,
                    known: g
                        .resources
                        .iter()
                        .map(|r| {
                            if places(r) > 1 {
                                Known::Shared
                            } else {
                                Known::Unknown
                            }
                        })
                        .collect(),
                })
                .collect(),
            queue: VecDeque::new(),
            op: None,
            next_step: 1,
        }
    }

    /// Nothing queued and no step in flight.
    pub(super) fn idle(&self) -> bool {
        self.queue.is_empty() && self.op.is_none()
    }

    /// The group a step is in flight (or a retry pending) for.
    pub(super) fn busy_with(&self) -> Option<GroupId> {
        self.op.as_ref().map(|o| o.group)
    }

    /// What runs here or is on its way, by set (local/foreign from our side).
    pub(super) fn my_hold(&self) -> HoldSet {
        let mut l = false;
        let mut f = false;
        for g in &self.groups {
            if g.state != GState::Stopped {
                if g.local {
                    l = true;
                } else {
                    f = true;
                }
            }
        }
        HoldSet::from_parts(l, f)
    }

    /// True when group `g` runs here, is being started, or is queued to start.
    pub(super) fn holds_or_will(&self, g: GroupId) -> bool {
        matches!(
            self.groups[g.0].state,
            GState::Running | GState::Starting | GState::Failed
        ) || self.queue.contains(&Job::Acquire(g))
    }

    /// Whether we hold (or will) any local and any foreign group.
    pub(super) fn held_or_queued(&self) -> (bool, bool) {
        let (mut l, mut f) = (false, false);
        for i in 0..self.groups.len() {
            if self.holds_or_will(GroupId(i)) {
                if self.groups[i].local {
                    l = true
                } else {
                    f = true
                }
            }
        }
        (l, f)
    }

    /// How starting resource `i` of group `g` begins: at its `start` when
    /// it is proven stopped here, else with heartbeat's `status` probe.
    fn start_phase(&self, g: GroupId, i: usize) -> Phase {
        match self.groups[g.0].known.get(i) {
            Some(Known::Stopped) => Phase::Start(i),
            _ => Phase::Probe(i),
        }
    }

    /// Forgets every proof: the operator may have started anything by hand
    /// meanwhile (maintenance mode).
    pub(super) fn forget_proofs(&mut self) {
        for k in self.groups.iter_mut().flat_map(|g| &mut g.known) {
            if *k != Known::Shared {
                *k = Known::Unknown;
            }
        }
    }

    /// Records what a finished step of resource `i` of group `g` proves.
    fn learn(&mut self, g: GroupId, i: usize, phase: Phase, outcome: &StepOutcome) {
        let Some(k) = self.groups[g.0].known.get_mut(i) else {
            return;
        };
        if *k == Known::Shared {
            return;
        }
        *k = match (phase, outcome) {
            (Phase::Start(_), _) => Known::Started,
            (_, StepOutcome::Failed { .. }) => Known::Unknown,
            (Phase::Stop { .. }, _) if *k == Known::Started => Known::Stopped,
            // A stop of what we did not start proves nothing its status
            // did not: one that said running after our stop still lies.
            (Phase::Stop { .. }, _) => *k,
            (_, StepOutcome::Running(false)) => Known::Stopped,
            (_, StepOutcome::Running(true)) if *k == Known::Started => Known::Started,
            _ => Known::Unknown,
        };
    }

    /// The groups of `set`, seen from this node.
    pub(super) fn group_ids(&self, set: HoldSet) -> Vec<GroupId> {
        (0..self.groups.len())
            .filter(|&i| set.has(self.groups[i].local))
            .map(GroupId)
            .collect()
    }
}

impl Machine {
    /// Moves group `g` to state `s`, noting the change for monitor checks in flight.
    pub(super) fn set_gstate(&mut self, g: GroupId, s: GState) {
        let grp = &mut self.jobs.groups[g.0];
        if grp.state != s {
            grp.state = s;
            grp.transitions += 1;
        }
    }

    /// Queues a start of each group, except those that failed here.
    pub(super) fn acquire_groups(&mut self, ids: &[GroupId]) {
        for &g in ids {
            if self.jobs.groups[g.0].failed_here {
                let group = self.key(g);
                let why = match &self.jobs.groups[g.0].failure {
                    Some(f) => format!("{} of {} failed here: {}", f.action, f.resource, f.reason),
                    None => "it failed here".into(),
                };
                self.event(Event::AcquireSkipped {
                    reason: format!(
                        "{why}; it stays stopped here until the cause is fixed and `hbd cleanup {group}` is run"
                    ),
                    group,
                });
                continue;
            }
            if !self.jobs.queue.contains(&Job::Acquire(g)) {
                self.jobs.queue.push_back(Job::Acquire(g));
            }
        }
    }

    fn emit_step(&mut self, group: GroupId, phase: Phase) {
        let (resource, action) = match phase {
            Phase::Probe(i) | Phase::Reprobe { i, .. } | Phase::Survey { i, .. } => {
                (i, Action::Status)
            }
            Phase::Start(i) => (i, Action::Start),
            Phase::Stop { i, .. } => (i, Action::Stop),
        };
        let id = StepId(self.jobs.next_step);
        self.jobs.next_step += 1;
        if let Some(op) = &mut self.jobs.op {
            op.step = Some(id);
            op.phase = phase;
        }
        self.out.push_back(Output::Run(Step {
            id,
            group,
            resource,
            action,
        }));
    }

    /// Starts the next job unless a step is in flight; when everything is
    /// done, looks for work the quiet moment allows (overlaps, failback).
    pub(super) fn run_jobs(&mut self, now: Instant) {
        while self.jobs.op.is_none() {
            let Some(job) = self.jobs.queue.pop_front() else {
                break;
            };
            if self.job_held(&job) {
                continue;
            }
            match job {
                Job::Then(t) => self.then(now, t),
                Job::Acquire(g) => {
                    let st = self.jobs.groups[g.0].state;
                    if st != GState::Stopped || self.shutting_down {
                        continue;
                    }
                    self.set_gstate(g, GState::Starting);
                    let key = self.key(g);
                    self.note(now, format!("starting {key}"));
                    let first = self.jobs.start_phase(g, 0);
                    self.begin_op(g, first);
                }
                Job::Release(g) => {
                    if self.jobs.groups[g.0].state != GState::Running {
                        continue;
                    }
                    self.set_gstate(g, GState::Stopping);
                    let key = self.key(g);
                    self.note(now, format!("stopping {key}"));
                    let n = self.cfg.groups[g.0].resources.len();
                    self.begin_op(
                        g,
                        Phase::Stop {
                            i: n.saturating_sub(1),
                            tries: 0,
                            rollback: false,
                            restart: None,
                        },
                    );
                }
                Job::Restart(g, from) => {
                    if self.jobs.groups[g.0].state != GState::Running || self.shutting_down {
                        continue;
                    }
                    self.set_gstate(g, GState::Stopping);
                    let key = self.key(g);
                    let r = self.resource_name(g, from);
                    self.note(now, format!("restarting {key} from {r}"));
                    let n = self.cfg.groups[g.0].resources.len();
                    self.begin_op(
                        g,
                        Phase::Stop {
                            i: n.saturating_sub(1),
                            tries: 0,
                            rollback: false,
                            restart: Some(from),
                        },
                    );
                }
                Job::Reprobe(g) => {
                    if matches!(
                        self.jobs.groups[g.0].state,
                        GState::Starting | GState::Stopping
                    ) {
                        continue;
                    }
                    // A check issued before the cleanup answers about the
                    // group as it was: make it stale.
                    self.jobs.groups[g.0].transitions += 1;
                    self.begin_op(g, Phase::Reprobe { i: 0, running: 0 });
                }
                Job::Survey(g) => {
                    if self.jobs.groups[g.0].state != GState::Stopped {
                        continue;
                    }
                    self.begin_op(g, Phase::Survey { i: 0, running: 0 });
                }
            }
        }
        if self.jobs.idle() {
            self.check_overlap(now);
            if !self.jobs.queue.is_empty() {
                // Runs at most once per conflict (`in_conflict`).
                return self.run_jobs(now);
            }
            self.announce_if_newly_stable(now);
            self.maybe_failback_idle(now);
        }
    }

    fn begin_op(&mut self, group: GroupId, phase: Phase) {
        self.jobs.op = Some(Op {
            group,
            phase,
            step: None,
        });
        self.emit_step(group, phase);
    }

    /// Resource `i` of group `g` as written.
    pub(super) fn resource_name(&self, g: GroupId, i: usize) -> String {
        self.cfg.groups[g.0]
            .resources
            .get(i)
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    fn then(&mut self, now: Instant, t: Then) {
        match t {
            Then::Stable { reason, info } => {
                self.initial_acquisition_complete(false, reason);
                self.announce(now, info);
            }
            Then::Announce => self.announce(now, None),
            Then::MachDown(node) => self.takeover_complete(now, node),
            Then::StandbyReleased(set, held) => self.standby_released(now, set, held),
            Then::StandbyAcquired(set) => self.standby_acquired(now, set),
            Then::IpRequestResp { key, weown } => self.answer_ip_request(now, key, weown),
            Then::HandOver(g) => self.hand_over(g),
            Then::Decide(g) => {
                let next = self.decide_group(now, g);
                let key = self.key(g);
                self.note(now, format!("{key}: {next}"));
            }
            Then::ShutdownDone => self.shutdown_done(now),
            Then::Adopt => self.adopt_found(now),
        }
    }

    pub(super) fn handle_step_done(&mut self, now: Instant, id: StepId, outcome: StepOutcome) {
        let Some(op) = &self.jobs.op else {
            return self.event(Event::UnexpectedStep { id: id.0 });
        };
        if op.step != Some(id) {
            return self.event(Event::UnexpectedStep { id: id.0 });
        }
        let g = op.group;
        let phase = op.phase;
        let n = self.cfg.groups[g.0].resources.len();
        let key = self.key(g);
        let i = match phase {
            Phase::Probe(i) | Phase::Start(i) => i,
            Phase::Stop { i, .. } | Phase::Reprobe { i, .. } | Phase::Survey { i, .. } => i,
        };
        self.jobs.learn(g, i, phase, &outcome);
        match phase {
            Phase::Probe(i) => {
                if outcome == StepOutcome::Running(true) {
                    // heartbeat does not start what already runs.
                    self.next_start(now, g, i + 1, n);
                } else {
                    self.emit_step(g, Phase::Start(i));
                }
            }
            Phase::Start(i) => match outcome {
                StepOutcome::Ok | StepOutcome::Running(_) => self.next_start(now, g, i + 1, n),
                StepOutcome::Failed {
                    code,
                    reason,
                    output,
                } => {
                    let f = self.record_failure(now, g, i, Action::Start, code, reason, output);
                    self.event(Event::StartFailed {
                        group: key.clone(),
                        resource: f.resource.clone(),
                        code,
                        reason: with_output(&f.reason, &f.output),
                    });
                    self.note(
                        now,
                        format!("{key}: start of {} failed ({})", f.resource, f.reason),
                    );
                    let grp = &mut self.jobs.groups[g.0];
                    grp.failed_here = true;
                    grp.failure = Some(f);
                    self.set_gstate(g, GState::Stopping);
                    self.emit_step(
                        g,
                        Phase::Stop {
                            i,
                            tries: 0,
                            rollback: true,
                            restart: None,
                        },
                    );
                }
            },
            Phase::Stop {
                i,
                tries,
                rollback,
                restart,
            } => match outcome {
                StepOutcome::Failed {
                    code,
                    reason,
                    output,
                } => {
                    let resource = self.resource_name(g, i);
                    if tries < STOP_RETRIES {
                        self.event(Event::StopRetry {
                            group: key,
                            resource,
                            attempt: tries + 1,
                            reason: with_output(&reason, &output),
                        });
                        if let Some(op) = &mut self.jobs.op {
                            op.step = None;
                            op.phase = Phase::Stop {
                                i,
                                tries: tries + 1,
                                rollback,
                                restart,
                            };
                            self.timers.set(Timer::StopRetry, now + STOP_RETRY_DELAY);
                        }
                    } else {
                        let f = self.record_failure(now, g, i, Action::Stop, code, reason, output);
                        self.event(Event::StopFailed {
                            group: key.clone(),
                            resource,
                            attempts: tries + 1,
                            reason: with_output(&f.reason, &f.output),
                        });
                        self.note(now, format!("{key} failed to stop"));
                        if self.cfg.hbd.stop_failure == StopFailurePolicy::Reboot {
                            self.event(Event::RebootRequired { group: key });
                        }
                        self.jobs.groups[g.0].failure = Some(f);
                        self.set_gstate(g, GState::Failed);
                        self.jobs.op = None;
                    }
                }
                _ => {
                    let last = restart.unwrap_or(0);
                    if i > last {
                        return self.emit_step(
                            g,
                            Phase::Stop {
                                i: i - 1,
                                tries: 0,
                                rollback,
                                restart,
                            },
                        );
                    }
                    if restart.is_some() {
                        // Stopped down to the failed resource: start again
                        // from it, probing first as every start does.
                        self.set_gstate(g, GState::Starting);
                        let first = self.jobs.start_phase(g, last);
                        return self.emit_step(g, first);
                    }
                    self.set_gstate(g, GState::Stopped);
                    self.jobs.op = None;
                    self.group_stopped_here(g);
                    self.event(Event::GroupStopped { group: key.clone() });
                    self.note(now, format!("{key} stopped"));
                    if rollback {
                        self.jobs.queue.push_back(Job::Then(Then::HandOver(g)));
                    }
                }
            },
            Phase::Reprobe { i, running } => {
                let running = running + usize::from(outcome == StepOutcome::Running(true));
                if i + 1 < n {
                    return self.emit_step(g, Phase::Reprobe { i: i + 1, running });
                }
                self.jobs.op = None;
                self.reprobed(now, g, running, n);
            }
            Phase::Survey { i, running } => {
                let running = running + usize::from(outcome == StepOutcome::Running(true));
                if i + 1 < n {
                    return self.emit_step(g, Phase::Survey { i: i + 1, running });
                }
                self.jobs.op = None;
                self.surveyed(g, running, n);
            }
        }
    }

    fn next_start(&mut self, now: Instant, g: GroupId, i: usize, n: usize) {
        if i < n && self.jobs.queue.contains(&Job::Release(g)) {
            // Released while starting (the peer, heard again, keeps it by
            // the home-node rule): start nothing more, so the release stops
            // only what it must; the rest, a shared disk, is never mounted
            // on a second node. Found by the fault campaign (a takeover as
            // a partition healed: the disk on both nodes for 52 ms).
            self.set_gstate(g, GState::Running);
            self.jobs.op = None;
            let group = self.key(g);
            self.note(
                now,
                format!("{group}: start cut short, it is being released"),
            );
            return;
        }
        if i >= n {
            self.set_gstate(g, GState::Running);
            self.jobs.op = None;
            let group = self.key(g);
            self.note(now, format!("{group} started"));
            self.event(Event::GroupStarted { group });
            self.watch_group(now, g);
        } else {
            let next = self.jobs.start_phase(g, i);
            self.emit_step(g, next);
        }
    }

    /// The retry of a failed stop is due: run the same step again.
    pub(super) fn retry_stop(&mut self) {
        if let Some(op) = &self.jobs.op {
            let (g, phase) = (op.group, op.phase);
            self.emit_step(g, phase);
        }
    }
}

/// A failure's reason with the script's last lines, for a log line.
pub(super) fn with_output(reason: &str, output: &str) -> String {
    if output.is_empty() {
        reason.to_string()
    } else {
        format!("{reason}; output: {output}")
    }
}
