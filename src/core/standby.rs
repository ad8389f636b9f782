//! Moving groups between two live nodes on purpose (spec §6.8): the standby
//! exchange (`ask_resources` me / other / done) from either side, the
//! operator's `hb_takeover`, auto_failback giving foreign groups back to their
//! home node, handing a group over after its start (or its monitor) failed
//! here, and the operator's persistent standby (hbd's own: heartbeat forgets a
//! standby when it restarts).

#![forbid(unsafe_code)]

use crate::config::AutoFailback;
use crate::core::events::Event;
use crate::core::jobs::{GState, Job, Then};
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::{GroupId, HoldSet};
use crate::time::{Duration, Instant};
use crate::wire::repr::{AskInfo, Body, ResourceInfo};

/// How long a standby requester waits for the peer's `info=other` (§6.8).
const STANDBY_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Overall limit for the resource phase of a standby (§6.8).
const STANDBY_RESOURCE_TIMEOUT: Duration = Duration::from_secs(3600);
/// heartbeat retries a delayed failback every second ("Auto failback delayed.").
const FAILBACK_RETRY: Duration = Duration::from_secs(1);
/// The reason a standby hands a group over after its start or its monitor failed here.
const HANDOVER: &str = "resource failure";
/// The reason a standby gives the peer's home groups back to it.
const AUTO_FAILBACK: &str = "auto_failback";

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum StandbyRole {
    /// We asked (`info=me` sent), waiting for `info=other`.
    AwaitOther,
    /// We are releasing.
    Releasing,
    /// The peer asked; we answered `other` and wait for its `done`.
    AwaitDone,
    /// We are acquiring.
    Acquiring,
}

/// A standby exchange in progress; its deadline is [`Timer::Standby`].
pub(super) struct Standby {
    role: StandbyRole,
    /// From the requester's point of view, as on the wire.
    set: HoldSet,
    /// We asked because a start failed: ask again if the peer did not answer.
    handover: bool,
    /// We asked to give the peer's home groups back (auto_failback).
    failback: bool,
    /// Sequence of the peer's `info=me` that opened this exchange.
    peer_seq: u64,
}

#[derive(Default)]
pub(super) struct Failback {
    /// We took the peer's groups because it died or left: auto_failback
    /// gives them back once it returns (heartbeat's rule, §6.5).
    pub(super) pending: bool,
    /// A set to hand to the peer after a failed start, once both sides are stable.
    handover: Option<HoldSet>,
}

/// `hbd standby --persistent SET`: SET (from our side) runs on the peer
/// whenever it is alive, across restarts of either node, until cleared.
#[derive(Default)]
pub(super) struct Persistent {
    pub(super) set: Option<HoldSet>,
    /// The set was offered to the peer's current run. A set held here is
    /// offered again whenever it is; one the peer already holds is offered
    /// once per run of the peer, so that the peer knows it was handed over
    /// on purpose (no auto_failback of it).
    offered: bool,
}

impl Machine {
    fn start_standby(&mut self, sb: Standby, deadline: Instant) {
        self.standby = Some(sb);
        self.timers.set(Timer::Standby, deadline);
    }

    /// Ends the exchange in progress, if any, and returns it.
    pub(super) fn end_standby(&mut self) -> Option<Standby> {
        self.timers.stop(Timer::Standby);
        self.standby.take()
    }

    fn standby_role(&self) -> Option<StandbyRole> {
        self.standby.as_ref().map(|s| s.role)
    }

    fn send_ask(&mut self, now: Instant, set: HoldSet, info: AskInfo) {
        let body = Body::AskResources {
            hold: Some(set),
            info: Some(info),
        };
        self.send(now, None, body);
    }

    /// Offers `set` (from our side) to the peer, or refuses to.
    pub(super) fn begin_standby(&mut self, now: Instant, set: HoldSet, why: &str) {
        let refuse = if !self.nice_failback() {
            Some("standby needs auto_failback on or off")
        } else if self.liveness.peer_dead || !self.liveness.comm_up {
            Some("the peer is not up")
        } else if !self.is_stable() || !self.neg.peer_stable {
            Some("resources in flux")
        } else if self.shutting_down {
            Some("shutting down")
        } else {
            None
        };
        if let Some(r) = refuse {
            return self.refuse(format!("standby {} ({why})", set.word()), r.into());
        }
        if let Some(r) = self.maintenance_refusal() {
            return self.refuse(format!("standby {} ({why})", set.word()), r);
        }
        if let Some(r) = self.failed_in(set) {
            return self.refuse(format!("standby {} ({why})", set.word()), r);
        }
        if !self.neg.announced_stable {
            // The peer accepts a standby only from a side it knows is stable.
            self.announce(now, None);
        }
        self.event(Event::StandbyStarted { set });
        self.note(now, format!("standby {} ({why})", set.word()));
        self.send_ask(now, set, AskInfo::Me);
        let sb = Standby {
            role: StandbyRole::AwaitOther,
            set,
            handover: why == HANDOVER,
            failback: why == AUTO_FAILBACK,
            peer_seq: 0,
        };
        self.start_standby(sb, now + STANDBY_REPLY_TIMEOUT);
    }

    /// Why `set` (from our side) cannot be handed over or taken: a group of
    /// it failed to stop here (or a monitor blocked it) and may be active.
    fn failed_in(&self, set: HoldSet) -> Option<String> {
        let g = self
            .jobs
            .group_ids(set)
            .into_iter()
            .find(|g| self.jobs.groups[g.0].state == GState::Failed)?;
        let key = self.key(g);
        let what = match &self.jobs.groups[g.0].failure {
            Some(f) => format!(" ({} of {} failed: {})", f.action, f.resource, f.reason),
            None => String::new(),
        };
        Some(format!(
            "group {key} failed here{what} and may still be partly active; fix the cause, then run `hbd cleanup {key}`"
        ))
    }

    /// The operator's `hb_takeover`: ask the peer to go standby for `set`.
    pub(super) fn ask_takeover(&mut self, now: Instant, set: HoldSet) {
        if !self.nice_failback()
            || self.liveness.peer_dead
            || !self.liveness.comm_up
            || self.shutting_down
        {
            return self.refuse(
                format!("takeover {}", set.word()),
                "needs auto_failback on|off and a live peer".into(),
            );
        }
        if let Some(r) = self.failed_in(set) {
            return self.refuse(format!("takeover {}", set.word()), r);
        }
        if let Some(r) = self.maintenance_refusal() {
            return self.refuse(format!("takeover {}", set.word()), r);
        }
        if let Some(mine) = self.persistent.set.filter(|m| m.overlaps(set)) {
            // Taken here, the set would be handed straight back.
            return self.refuse(
                format!("takeover {}", set.word()),
                format!("this node is in persistent standby [{mine}]; `hbd standby --clear` first"),
            );
        }
        // The operator insists: forget earlier failures here, and do not
        // fail back what the operator wants here.
        self.failback.pending = false;
        for g in self.jobs.group_ids(set) {
            let grp = &mut self.jobs.groups[g.0];
            grp.failed_here = false;
            grp.failure = None;
        }
        self.send(now, None, Body::HbTakeover { hold: Some(set) });
    }

    pub(super) fn handle_ask_resources(
        &mut self,
        now: Instant,
        seq: u64,
        hold: Option<HoldSet>,
        info: Option<AskInfo>,
    ) {
        if !self.nice_failback() {
            return;
        }
        let set = hold.unwrap_or(HoldSet::All);
        let node = self.peer.clone();
        match info {
            Some(AskInfo::Me) => {
                // No reply: the peer's request times out (an hbd peer knows
                // and does not ask).
                if self.held_by_maintenance(|| {
                    format!("taking [{}] from {node} (its standby)", set.invert())
                }) {
                    return;
                }
                if let Some(mine) = self.persistent.set.filter(|m| m.overlaps(set.invert())) {
                    // The peer's auto_failback (or ipfail) offers us groups the
                    // operator wants there. No reply (as for a request in
                    // flux); our own standby tells it they stay there.
                    self.event(Event::StandbyCancelled {
                        reason: format!(
                            "{node} offers [{}] here, ignored: this node is in persistent standby [{mine}] (`hbd standby --clear` ends it)",
                            set.invert()
                        ),
                    });
                    self.persistent.offered = false;
                    return self.maybe_persistent_standby(now);
                }
                self.yield_failback_to(set);
                if !self.is_stable() || !self.neg.peer_stable {
                    return self.event(Event::StandbyCancelled {
                        reason: format!("standby request from {node} ignored: resources in flux"),
                    });
                }
                self.event(Event::PeerWantsStandby { node, set });
                self.send_ask(now, set, AskInfo::Other);
                let sb = Standby {
                    role: StandbyRole::AwaitDone,
                    set,
                    handover: false,
                    failback: false,
                    peer_seq: seq,
                };
                self.start_standby(sb, now + STANDBY_RESOURCE_TIMEOUT);
            }
            Some(AskInfo::Other) => {
                let Some(sb) = self.standby.as_mut() else {
                    return;
                };
                if sb.role != StandbyRole::AwaitOther || sb.set != set {
                    return;
                }
                sb.role = StandbyRole::Releasing;
                self.timers
                    .set(Timer::Standby, now + STANDBY_RESOURCE_TIMEOUT);
                // Phase 3: say what remains, release the set, then `done`.
                let ids = self.jobs.group_ids(set);
                let (mut l, mut f) = (false, false);
                for (i, g) in self.jobs.groups.iter().enumerate() {
                    if g.state != GState::Stopped && !ids.contains(&GroupId(i)) {
                        if g.local {
                            l = true
                        } else {
                            f = true
                        }
                    }
                }
                let remains = HoldSet::from_parts(l, f);
                self.send_resource(now, remains, false, Some(ResourceInfo::Standby));
                let held: Vec<GroupId> = ids
                    .into_iter()
                    .filter(|g| self.jobs.groups[g.0].state != GState::Stopped)
                    .collect();
                for &g in &held {
                    self.jobs.queue.push_back(Job::Release(g));
                }
                self.jobs
                    .queue
                    .push_back(Job::Then(Then::StandbyReleased(set, held)));
            }
            Some(AskInfo::Done) => {
                let Some(sb) = self.standby.as_mut() else {
                    return;
                };
                // A `done` from an earlier exchange (retransmitted, or overtaken
                // on another link) must not start anything.
                if sb.role != StandbyRole::AwaitDone || sb.set != set || seq < sb.peer_seq {
                    return;
                }
                sb.role = StandbyRole::Acquiring;
                // The peer has released `set`: its holdings shrink now, and an
                // older `resource` from before the release must not count.
                let was = self.neg.peer_hold;
                let (l, f) = (
                    was.has(true) && !set.has(true),
                    was.has(false) && !set.has(false),
                );
                self.set_peer_hold(HoldSet::from_parts(l, f));
                self.neg.peer_resource_seq = self.neg.peer_resource_seq.max(seq);
                // The requester's set seen from here. A group that failed
                // here is not taken (`acquire_groups` says so): a group that
                // failed on both nodes stays stopped instead of ping-ponging.
                let ids = self.jobs.group_ids(set.invert());
                self.acquire_groups(&ids);
                self.jobs
                    .queue
                    .push_back(Job::Then(Then::StandbyAcquired(set)));
            }
            None => {}
        }
    }

    /// The peer offers its own home groups here (`set` from its side has
    /// `local`) while our auto_failback is asking it to take them back: the
    /// peer's wish is an operator's (a standby, persistent or not), and ours
    /// only a default. Our request is dropped so that theirs is served;
    /// otherwise each ignores the other as "in flux" and both ask again 10 s
    /// later, for ever. Only auto_failback yields, so two requests never both
    /// step back.
    fn yield_failback_to(&mut self, set: HoldSet) {
        let ours = self
            .standby
            .as_ref()
            .is_some_and(|sb| sb.role == StandbyRole::AwaitOther && sb.failback);
        if !ours || !set.has(true) {
            return;
        }
        self.end_standby();
        self.failback.pending = false;
        self.event(Event::StandbyCancelled {
            reason: format!(
                "auto failback dropped: {} gives its own groups [{set}] here",
                self.peer
            ),
        });
    }

    /// The exchange's deadline passed; a release in progress keeps running.
    pub(super) fn standby_expired(&mut self) {
        let Some(sb) = self.end_standby() else {
            return;
        };
        let reason = match sb.role {
            StandbyRole::AwaitOther => "no reply to standby request",
            _ => "standby resource phase timed out",
        };
        if sb.handover && sb.role == StandbyRole::AwaitOther {
            self.failback.handover = Some(sb.set);
        }
        self.event(Event::StandbyCancelled {
            reason: reason.into(),
        });
    }

    /// Phase 3 done: the set is released here (§6.8).
    pub(super) fn standby_released(&mut self, now: Instant, set: HoldSet, held: Vec<GroupId>) {
        if self.standby_role() != Some(StandbyRole::Releasing) {
            return;
        }
        self.end_standby();
        let failed = self
            .jobs
            .group_ids(set)
            .iter()
            .any(|g| self.jobs.groups[g.0].state == GState::Failed);
        if failed {
            // A group that may still run here is never offered; the
            // ones that did stop are started again so service goes on.
            self.event(Event::StandbyCancelled {
                reason: "a group failed to stop; not handing the set over".into(),
            });
            self.acquire_groups(&held);
            self.jobs.queue.push_back(Job::Then(Then::Announce));
            return;
        }
        self.send_ask(now, set, AskInfo::Done);
        if set != HoldSet::Local {
            self.failback.pending = false;
        }
        self.event(Event::StandbyDone { set });
        self.announce(now, None);
    }

    /// Phase 4 done: the peer's set runs here (§6.8).
    pub(super) fn standby_acquired(&mut self, now: Instant, set: HoldSet) {
        if self.standby_role() == Some(StandbyRole::Acquiring) {
            self.end_standby();
        }
        // Groups the peer handed over on purpose are not failed back.
        self.failback.pending = false;
        self.send_ask(now, set, AskInfo::Done);
        self.event(Event::StandbyAcquired { set });
        self.announce(now, None);
    }

    /// A failed start was rolled back: offer the group's set to the peer once
    /// both sides are stable (heartbeat always asks `foreign` here, §9.12).
    pub(super) fn hand_over(&mut self, g: GroupId) {
        if self.jobs.groups[g.0].state != GState::Stopped {
            return;
        }
        if !self.nice_failback() {
            // Legacy has no standby: the group stays down (heartbeat too).
            return;
        }
        let set = if self.jobs.groups[g.0].local {
            HoldSet::Local
        } else {
            HoldSet::Foreign
        };
        self.failback.handover = Some(set);
    }

    /// `hbd cleanup` decides again for a group of `set`: a hand-over of it
    /// still waiting for both sides to be stable is no longer wanted.
    pub(super) fn cancel_handover(&mut self, set: HoldSet) {
        if self.failback.handover == Some(set) {
            self.failback.handover = None;
        }
    }

    /// A pending hand-over, or auto_failback: go standby as soon as both sides
    /// are stable, checking again every second until then.
    pub(super) fn maybe_failback(&mut self, now: Instant) {
        // Waits (a later idle moment asks again) while either side is in
        // maintenance: nothing may move.
        if self.maint.on || self.maint.peer_on {
            self.timers.stop(Timer::Failback);
            return;
        }
        if let Some(set) = self.failback.handover {
            if self.liveness.peer_dead || self.shutting_down || !self.liveness.comm_up {
                self.failback.handover = None;
            } else if self.is_stable() && self.neg.peer_stable {
                self.failback.handover = None;
                self.timers.stop(Timer::Failback);
                // heartbeat always asks `foreign` here (§9.12 bug, and 30 s
                // later); hbd hands over the set the failed group belongs to.
                return self.begin_standby(now, set, HANDOVER);
            } else {
                self.timers.set(Timer::Failback, now + FAILBACK_RETRY);
                return;
            }
        }
        if self.cfg.auto_failback != AutoFailback::On || self.shutting_down {
            return;
        }
        if !self.holds_foreign()
            || !self.failback.pending
            || self.liveness.peer_dead
            || !self.liveness.comm_up
        {
            self.timers.stop(Timer::Failback);
            return;
        }
        if self.is_stable() && self.neg.peer_stable {
            self.timers.stop(Timer::Failback);
            self.event(Event::AutoFailback);
            self.begin_standby(now, HoldSet::Foreign, AUTO_FAILBACK);
        } else {
            self.timers.set(Timer::Failback, now + FAILBACK_RETRY);
        }
    }

    /// `hbd standby --persistent SET` (Some) or `--clear` (None).
    pub(super) fn set_persistent_standby(&mut self, now: Instant, set: Option<HoldSet>) {
        let set = set.filter(|s| *s != HoldSet::None);
        if let (Some(s), false) = (set, self.nice_failback()) {
            return self.refuse(
                format!("standby {s} --persistent"),
                "standby needs auto_failback on or off".into(),
            );
        }
        self.persistent = Persistent {
            set,
            offered: false,
        };
        self.event(Event::PersistentStandby { set });
        self.note(
            now,
            match set {
                Some(s) => format!("persistent standby {s}"),
                None => "persistent standby cleared".into(),
            },
        );
        self.maybe_persistent_standby(now);
    }

    /// Whether the end of the start-up negotiation leaves our home groups to
    /// the peer: it is alive and stable, and the operator wants them there.
    pub(super) fn persistent_keeps_local_away(&self) -> bool {
        self.persistent.set.is_some_and(|s| s.has(true))
            && self.neg.peer_stable
            && !self.liveness.peer_dead
    }

    /// The peer started afresh: it must hear again that the set is its own.
    pub(super) fn persistent_peer_restarted(&mut self) {
        self.persistent.offered = false;
    }

    /// Hands the persistent set to the peer when that is due: both sides
    /// stable, the peer alive, no exchange under way, and a group of the set
    /// held here or the set not yet offered to the peer's current run. With
    /// the peer dead nothing waits for it: the takeover runs as usual, and
    /// the set goes back once the peer returns.
    pub(super) fn maybe_persistent_standby(&mut self, now: Instant) {
        let Some(set) = self.persistent.set else {
            return;
        };
        if self.maint.on || self.maint.peer_on {
            return;
        }
        if !self.nice_failback()
            || self.liveness.peer_dead
            || !self.liveness.comm_up
            || self.shutting_down
            || self.standby.is_some()
            || !self.is_stable()
            || !self.neg.peer_stable
        {
            return;
        }
        let held_here = self
            .jobs
            .group_ids(set)
            .iter()
            .any(|&g| self.jobs.holds_or_will(g));
        // A group failed here is never offered (begin_standby would refuse
        // every time): it waits for `hbd cleanup`.
        if (!held_here && self.persistent.offered) || self.failed_in(set).is_some() {
            return;
        }
        self.persistent.offered = true;
        self.begin_standby(now, set, "persistent standby");
    }

    fn holds_foreign(&self) -> bool {
        self.jobs
            .groups
            .iter()
            .any(|g| !g.local && g.state == GState::Running)
    }

    /// With nothing else to do, see whether a failback is due.
    pub(super) fn maybe_failback_idle(&mut self, now: Instant) {
        let waiting = self.timers.get(Timer::Failback).is_some() || self.standby.is_some();
        if !waiting && self.failback.handover.is_some() {
            return self.maybe_failback(now);
        }
        if !waiting
            && self.cfg.auto_failback == AutoFailback::On
            && self.failback.pending
            && self.neg.peer_stable
            && self.neg.stable_phase()
            && self.holds_foreign()
        {
            self.maybe_failback(now);
        }
        self.maybe_persistent_standby(now);
    }
}
