//! The resource groups as this node runs them, and the job runner that moves
//! them: one script step at a time (heartbeat's haresources order: start left
//! to right after a `status` probe, stop right to left, failed stops retried),
//! jobs queued behind the step in flight, and `Then` continuations that run
//! when the jobs before them are done.

#![forbid(unsafe_code)]

use crate::config::{Config, StopFailurePolicy};
use crate::core::events::Event;
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::{Action, GroupId, HoldSet, Output, Step, StepId, StepOutcome};
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
    /// A start failed here since the last operator action: do not re-acquire.
    pub(super) start_failed: bool,
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
    /// A start failed and was rolled back: hand the group's set to the peer.
    HandOver(GroupId),
    ShutdownDone,
    /// Send our holdings (`resource … rtype=full isstable=…`).
    Announce,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Job {
    Acquire(GroupId),
    Release(GroupId),
    Then(Then),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// `status` of resource i before starting it.
    Probe(usize),
    Start(usize),
    /// Stop resource i (right to left); `rollback` when undoing a failed start.
    Stop {
        i: usize,
        tries: u32,
        rollback: bool,
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
        Jobs {
            groups: cfg
                .groups
                .iter()
                .map(|g| Group {
                    state: GState::Stopped,
                    local: g.home.eq_ignore_ascii_case(local),
                    start_failed: false,
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

    /// The groups of `set`, seen from this node.
    pub(super) fn group_ids(&self, set: HoldSet) -> Vec<GroupId> {
        (0..self.groups.len())
            .filter(|&i| set.has(self.groups[i].local))
            .map(GroupId)
            .collect()
    }
}

impl Machine {
    /// Queues a start of each group, except those whose start failed here.
    pub(super) fn acquire_groups(&mut self, ids: &[GroupId]) {
        for &g in ids {
            if self.jobs.groups[g.0].start_failed {
                let group = self.key(g);
                self.event(Event::AcquireSkipped {
                    group,
                    reason: "its start failed here; hb_takeover clears this".into(),
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
            Phase::Probe(i) => (i, Action::Status),
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
            match job {
                Job::Then(t) => self.then(now, t),
                Job::Acquire(g) => {
                    let st = self.jobs.groups[g.0].state;
                    if st != GState::Stopped || self.shutting_down {
                        continue;
                    }
                    self.jobs.groups[g.0].state = GState::Starting;
                    let key = self.key(g);
                    self.note(now, format!("starting {key}"));
                    self.jobs.op = Some(Op {
                        group: g,
                        phase: Phase::Probe(0),
                        step: None,
                    });
                    self.emit_step(g, Phase::Probe(0));
                }
                Job::Release(g) => {
                    let st = self.jobs.groups[g.0].state;
                    if st != GState::Running {
                        continue;
                    }
                    self.jobs.groups[g.0].state = GState::Stopping;
                    let key = self.key(g);
                    self.note(now, format!("stopping {key}"));
                    let n = self.cfg.groups[g.0].resources.len();
                    let phase = Phase::Stop {
                        i: n.saturating_sub(1),
                        tries: 0,
                        rollback: false,
                    };
                    self.jobs.op = Some(Op {
                        group: g,
                        phase,
                        step: None,
                    });
                    self.emit_step(g, phase);
                }
            }
        }
        if self.jobs.idle() {
            self.check_overlap(now);
            if !self.jobs.queue.is_empty() {
                // Runs at most once per conflict (`in_conflict`).
                return self.run_jobs(now);
            }
            self.maybe_failback_idle(now);
        }
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
            Then::ShutdownDone => self.shutdown_done(now),
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
        let rname = |i: usize| {
            self.cfg.groups[g.0]
                .resources
                .get(i)
                .map(|r| r.to_string())
                .unwrap_or_default()
        };
        match phase {
            Phase::Probe(i) => {
                if outcome == StepOutcome::Running(true) {
                    // heartbeat does not start what already runs.
                    self.next_start(g, i + 1, n);
                } else {
                    self.emit_step(g, Phase::Start(i));
                }
            }
            Phase::Start(i) => match outcome {
                StepOutcome::Ok | StepOutcome::Running(_) => self.next_start(g, i + 1, n),
                StepOutcome::Failed { code, reason } => {
                    let resource = rname(i);
                    self.event(Event::StartFailed {
                        group: key,
                        resource,
                        code,
                        reason,
                    });
                    self.jobs.groups[g.0].start_failed = true;
                    self.jobs.groups[g.0].state = GState::Stopping;
                    self.emit_step(
                        g,
                        Phase::Stop {
                            i,
                            tries: 0,
                            rollback: true,
                        },
                    );
                }
            },
            Phase::Stop { i, tries, rollback } => match outcome {
                StepOutcome::Failed { reason, .. } => {
                    let resource = rname(i);
                    if tries < STOP_RETRIES {
                        self.event(Event::StopRetry {
                            group: key,
                            resource,
                            attempt: tries + 1,
                            reason,
                        });
                        if let Some(op) = &mut self.jobs.op {
                            op.step = None;
                            op.phase = Phase::Stop {
                                i,
                                tries: tries + 1,
                                rollback,
                            };
                            self.timers.set(Timer::StopRetry, now + STOP_RETRY_DELAY);
                        }
                    } else {
                        self.event(Event::StopFailed {
                            group: key.clone(),
                            resource,
                            attempts: tries + 1,
                            reason,
                        });
                        self.note(now, format!("{key} failed to stop"));
                        if self.cfg.hbd.stop_failure == StopFailurePolicy::Reboot {
                            self.event(Event::RebootRequired { group: key });
                        }
                        self.jobs.groups[g.0].state = GState::Failed;
                        self.jobs.op = None;
                    }
                }
                _ => {
                    if i == 0 {
                        self.jobs.groups[g.0].state = GState::Stopped;
                        self.jobs.op = None;
                        self.group_stopped_here(g);
                        self.event(Event::GroupStopped { group: key.clone() });
                        self.note(now, format!("{key} stopped"));
                        if rollback {
                            self.jobs.queue.push_back(Job::Then(Then::HandOver(g)));
                        }
                    } else {
                        self.emit_step(
                            g,
                            Phase::Stop {
                                i: i - 1,
                                tries: 0,
                                rollback,
                            },
                        );
                    }
                }
            },
        }
    }

    fn next_start(&mut self, g: GroupId, i: usize, n: usize) {
        if i >= n {
            self.jobs.groups[g.0].state = GState::Running;
            self.jobs.op = None;
            let group = self.key(g);
            self.event(Event::GroupStarted { group });
        } else {
            self.emit_step(g, Phase::Probe(i));
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
