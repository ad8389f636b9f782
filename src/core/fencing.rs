//! Taking over from a dead peer (spec §6.7): fence it first when fencing is
//! configured and it may hold something (retrying a failed fence when
//! `fence_required`), then start every group and tell the peer's successor
//! what happened (`t=stonith`, `resource … info=mach_down`).

#![forbid(unsafe_code)]

use crate::core::events::Event;
use crate::core::jobs::{Job, Then};
use crate::core::machine::Machine;
use crate::core::negotiation::RscState;
use crate::core::timers::Timer;
use crate::core::{GroupId, HoldSet, Output};
use crate::time::{Duration, Instant};
use crate::wire::repr::{Body, Resource, ResourceInfo, StonithResult};

/// A failed fence is retried this often, as heartbeat retries STONITH (§6.7).
const FENCE_RETRY: Duration = Duration::from_secs(5);

/// A dead peer being fenced before its groups are taken over.
pub(super) struct FenceWait {
    node: String,
    attempt: u32,
    /// An `Output::Fence` awaits its answer; false while a retry is pending
    /// ([`Timer::FenceRetry`]).
    asked: bool,
}

impl Machine {
    /// §6.7: a dead (or startup-absent) peer's groups, and our own, are taken here.
    pub(super) fn recover_dead_peer(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let node = self.peer.clone();
        if self.held_by_maintenance(|| format!("fencing and taking over from {node}")) {
            // Decided again when maintenance ends (resume_after_maintenance).
            self.neg.rstate = RscState::Stable;
            self.timers.stop(Timer::Rqst);
            self.queue_adoption();
            return;
        }
        if self.end_standby().is_some() {
            self.event(Event::StandbyCancelled {
                reason: format!("{node} is dead"),
            });
        }
        self.neg.rstate = RscState::Stable;
        self.timers.stop(Timer::Rqst);
        // Fencing is unneeded only when we know the peer held nothing: in
        // nice_failback from its `resource` messages, in legacy only after `shutdone`.
        let held_nothing = self.nice_failback()
            && self.neg.peer_hold == HoldSet::None
            && self.neg.peer_resource_seq > 0;
        let ever_heard = self.liveness.ever_heard;
        let fence_needed = !(ever_heard && (held_nothing || self.neg.peer_shut_down));
        if fence_needed && self.fencing_configured() {
            if self.fence.is_some() {
                return;
            }
            let reason = if ever_heard {
                "declared dead"
            } else {
                "never heard since startup"
            };
            self.note(now, format!("fencing {node} ({reason})"));
            self.event(Event::FenceRequested {
                node: node.clone(),
                reason: reason.into(),
            });
            self.fence = Some(FenceWait {
                node: node.clone(),
                attempt: 1,
                asked: true,
            });
            self.out.push_back(Output::Fence {
                node,
                reason: reason.into(),
            });
            return;
        }
        let result = if fence_needed {
            StonithResult::NoStonith
        } else {
            StonithResult::Unneeded
        };
        self.take_over_dead_peer(now, result);
    }

    /// hbd fences when a hook is set or a `stonith_host` line is for this
    /// node: its HOST is the node the device is reachable from (heartbeat's
    /// rule), `*` any. The shell drops lines it cannot run, with a warning.
    pub(super) fn fencing_configured(&self) -> bool {
        self.cfg.hbd.fence_hook.is_some()
            || self
                .cfg
                .stonith_hosts
                .iter()
                .any(|h| h.host == "*" || h.host.eq_ignore_ascii_case(&self.local))
    }

    /// The takeover half of §6.7, once fencing is settled; `result` is what
    /// the `t=stonith` message reports.
    pub(super) fn take_over_dead_peer(&mut self, now: Instant, result: StonithResult) {
        let node = self.peer.clone();
        let unfenced = result == StonithResult::NoStonith;
        let body = Body::Stonith {
            node: Some(node.clone()),
            result: Some(result),
        };
        self.send(now, None, body);
        if unfenced {
            self.event(Event::NoStonith {
                node: node.clone(),
                never_heard: !self.liveness.ever_heard,
            });
        }
        self.set_peer_hold(HoldSet::None);
        self.take_over_everything(node, "peer dead");
    }

    /// Starts every group (the peer's and ours) and, once they run, reports
    /// the takeover (`mach_down`). auto_failback gives the peer's back later.
    pub(super) fn take_over_everything(&mut self, node: String, reason: &str) {
        if self.held_by_maintenance(|| format!("taking over from {node} ({reason})")) {
            self.queue_adoption();
            return;
        }
        self.queue_adoption();
        self.event(Event::TakeoverStarted {
            node: node.clone(),
            reason: reason.into(),
        });
        self.failback.pending = true;
        let ids: Vec<GroupId> = (0..self.jobs.groups.len()).map(GroupId).collect();
        self.acquire_groups(&ids);
        self.jobs.queue.push_back(Job::Then(Then::MachDown(node)));
    }

    /// Every group of the dead peer runs here now.
    pub(super) fn takeover_complete(&mut self, now: Instant, node: String) {
        if self.nice_failback() {
            let body = Body::Resource(Resource {
                hold: Some(HoldSet::Foreign),
                full: false,
                stable: None,
                info: Some(ResourceInfo::MachDown),
            });
            self.send(now, None, body);
        }
        self.event(Event::TakeoverComplete { node });
        self.takeover_was_initial();
    }

    pub(super) fn handle_fence_done(&mut self, now: Instant, node: &str, ok: bool) {
        let Some(f) = &mut self.fence else {
            return;
        };
        // A late answer for a fence we gave up on, or a duplicate.
        if !f.node.eq_ignore_ascii_case(node) || !f.asked {
            return;
        }
        let node = f.node.clone();
        let attempt = f.attempt;
        if ok {
            self.fence = None;
            self.note(now, format!("{node} fenced"));
            self.event(Event::FenceSucceeded { node });
            self.take_over_dead_peer(now, StonithResult::Ok);
        } else if self.cfg.hbd.fence_required {
            f.asked = false;
            self.timers.set(Timer::FenceRetry, now + FENCE_RETRY);
            self.event(Event::FenceFailed {
                node,
                retry_in: Some(FENCE_RETRY),
                attempt,
            });
        } else {
            self.fence = None;
            self.note(now, format!("fencing {node} failed; taking over anyway"));
            self.event(Event::FenceFailed {
                node,
                retry_in: None,
                attempt,
            });
            self.take_over_dead_peer(now, StonithResult::Bad);
        }
    }

    /// The retry of a failed fence is due: ask the shell again.
    pub(super) fn retry_fence(&mut self) {
        if let Some(f) = &mut self.fence {
            f.asked = true;
            f.attempt += 1;
            let node = f.node.clone();
            let reason = format!("retry {}", f.attempt);
            self.out.push_back(Output::Fence { node, reason });
        }
    }

    pub(super) fn cancel_fence(&mut self, reason: &str) {
        self.timers.stop(Timer::FenceRetry);
        if let Some(f) = self.fence.take() {
            self.event(Event::FenceCancelled {
                node: f.node,
                reason: reason.into(),
            });
        }
    }
}
