//! Who runs which group while both nodes live (spec §6.4–§6.6, §6.10): the
//! message dispatch once comm is up, the startup negotiation (`starting`,
//! `resource`, RQSTDELAY), the peer's holdings as it announces them, the
//! home-node rule that settles a group held on both sides (after a healed
//! partition, or a race), legacy auto_failback's `ip-request` exchange, and
//! the peer's graceful `shutdone`.

#![forbid(unsafe_code)]

use crate::core::events::Event;
use crate::core::jobs::{GState, Job, Then};
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::{GroupId, HoldSet, LinkId, Output};
use crate::time::{Duration, Instant};
use crate::wire::repr::{Body, Resource, ResourceInfo};
use crate::wire::Text;

/// heartbeat's RQSTDELAY: the startup deadlock breaker (§6.5).
pub(super) const RQSTDELAY: Duration = Duration::from_secs(10);

/// heartbeat's resourcestate for nice_failback (§6.5).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum RscState {
    /// Before comm-up: resource messages are not processed.
    #[default]
    Idle,
    Starting,
    BothStarting,
    Stable,
}

/// Why holdings are compared with the peer's (what `status` says it was).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Heal {
    /// We had declared the peer dead and hear it again: a real partition.
    Partition,
    /// The peer was declared dead at initdead without ever being heard: its
    /// first start, not a partition.
    FirstContact,
}

#[derive(Default)]
pub(super) struct Negotiation {
    pub(super) rstate: RscState,
    /// What the peer says it holds, from its point of view.
    pub(super) peer_hold: HoldSet,
    pub(super) peer_stable: bool,
    /// Sequence of the last `resource` message applied (older ones are stale).
    pub(super) peer_resource_seq: u64,
    /// The peer sent `shutdone` in this generation.
    pub(super) peer_shut_down: bool,
    /// Holdings are to be compared on the next full `resource`, and why.
    healing: Option<Heal>,
    /// Groups of a stable overlap with the peer already settled (reported once).
    in_conflict: Vec<GroupId>,
    /// The `isstable` of our last `resource` message.
    pub(super) announced_stable: bool,
    /// This generation of the peer last heard `isstable=0` from us: it may be
    /// waiting for us to become stable (its start-up negotiation, failback).
    pub(super) owe_stable: bool,
    /// Local groups re-announced while the peer claims them: once per conflict.
    reannounced: Vec<GroupId>,
    /// The peer said `starting` and has not been stable since: its `none`
    /// says nothing yet (it may adopt groups it finds running).
    pub(super) peer_starting: bool,
    /// Groups a cleanup found stopped here while the peer was starting:
    /// decided when it is stable ([`Machine::decide_where`]).
    pub(super) decide_when_stable: Vec<GroupId>,
    /// heartbeat's "Initial resource acquisition complete" was said.
    initial_done: bool,
    /// The peer was heard again while we were still fencing it: we took
    /// nothing over, so our home groups run nowhere unless it holds them.
    /// Settled by its next stable, full holdings.
    pub(super) reclaim_after_heal: bool,
}

impl Negotiation {
    /// Past the startup negotiation.
    pub(super) fn stable_phase(&self) -> bool {
        self.rstate == RscState::Stable
    }
}

impl Machine {
    /// Stable in heartbeat's sense: negotiated, nothing moving, no standby or
    /// fence in progress.
    pub(super) fn is_stable(&self) -> bool {
        self.neg.rstate == RscState::Stable
            && self.jobs.idle()
            && self.standby.is_none()
            && self.fence.is_none()
    }

    /// Records what the peer holds. A peer that no longer claims any of our
    /// home groups ends the conflicts we re-announced for, and those groups
    /// are announced once more.
    pub(super) fn set_peer_hold(&mut self, h: HoldSet) {
        let was = self.neg.peer_hold;
        self.neg.peer_hold = h;
        if !h.has(false) {
            // The peer let go of our groups: its own announcements of their
            // addresses (a takeover's burst can still be on the wire when
            // the conflict is seen) are over, so ours go once more, last.
            // Found by the fault matrix's 50 % loss row: the keeper's
            // re-announcement came before the peer's burst ended and the
            // client kept the peer's MAC.
            for g in std::mem::take(&mut self.neg.reannounced) {
                let grp = &self.jobs.groups[g.0];
                if was.has(false) && grp.local && grp.state == GState::Running {
                    self.out.push_back(Output::Reannounce { group: g });
                }
            }
        }
    }

    /// Sends our holdings and whether we are stable.
    pub(super) fn announce(&mut self, now: Instant, info: Option<ResourceInfo>) {
        let h = self.hold_to_announce();
        let s = self.is_stable();
        self.send_resource(now, h, s, info);
    }

    /// We told the peer we were not stable (it restarted while a takeover ran
    /// here, say) and now are: say so. heartbeat's `isstable` ignores running
    /// scripts, hbd's does not, so without this a peer in its start-up
    /// negotiation waits RQSTDELAY (10 s) for us, and failback waits with it.
    pub(super) fn announce_if_newly_stable(&mut self, now: Instant) {
        if self.neg.owe_stable
            && self.nice_failback()
            && self.is_stable()
            && self.liveness.comm_up
            && !self.liveness.peer_dead
            && !self.shutting_down
        {
            self.announce(now, None);
        }
    }

    /// Tells the peer what we hold or are about to, marked `info=heal` so it
    /// answers with its own holdings even if it never noticed the partition;
    /// whoever sees both holdings releases its foreign copies.
    pub(super) fn announce_for_heal(&mut self, now: Instant, why: Heal) {
        self.neg.healing = Some(why);
        // A heal is a new episode: the peer may have taken our groups and
        // announced them since the last conflict we re-announced for.
        self.neg.reannounced.clear();
        let (l, f) = self.jobs.held_or_queued();
        let stable = self.is_stable();
        self.send_resource(
            now,
            HoldSet::from_parts(l, f),
            stable,
            Some(ResourceInfo::Heal),
        );
    }

    /// What a healed partition means for our groups.
    pub(super) fn settle_after_heal(&mut self, now: Instant) {
        if self.nice_failback() {
            return self.announce_for_heal(now, Heal::Partition);
        }
        // Legacy has no holdings messages. A live peer always runs its home
        // groups (legacy fails back), so we release our foreign copies and
        // ask for our home groups; the peer gives them up (ip-request).
        for i in 0..self.jobs.groups.len() {
            let g = GroupId(i);
            if self.jobs.groups[i].local {
                let ipaddr = Some(self.key(g));
                self.send(now, None, Body::IpRequest { ipaddr });
            } else if self.jobs.holds_or_will(g) {
                self.release_after_partition(g);
            }
        }
        self.timers.set(Timer::IpRequestRetry, now + RQSTDELAY);
    }

    /// Comm is up: start negotiating who runs what.
    pub(super) fn comm_up_resource_action(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if self.liveness.peer_dead {
            // Alone at startup: take everything (heartbeat: req_our_resources + mach_down).
            self.neg.rstate = RscState::Stable;
            self.recover_dead_peer(now);
            return;
        }
        if self.nice_failback() {
            self.neg.rstate = RscState::Starting;
            self.timers.set(Timer::Rqst, now + RQSTDELAY);
            self.event(Event::StartupWait {
                node: self.peer.clone(),
                wait: RQSTDELAY,
            });
            self.send(now, None, Body::Starting);
            return;
        }
        // Legacy (§6.6, req_resource): ask the peer for each local group
        // only if it is `active` (it may hold it); otherwise nobody can
        // hold it (HA_DONTASK) and we take it with a self-addressed reply.
        // Legacy has no holdings: what the start-up probe found is kept.
        self.neg.rstate = RscState::Stable;
        self.queue_adoption();
        // A peer whose status we have not read yet may hold them: ask.
        let ask = self.liveness.last_status_at.is_none() || self.liveness.peer_state == "active";
        for i in 0..self.jobs.groups.len() {
            if !self.jobs.groups[i].local {
                continue;
            }
            let ipaddr = Some(self.key(GroupId(i)));
            if ask {
                self.send(now, None, Body::IpRequest { ipaddr });
                self.timers.set(Timer::IpRequestRetry, now + RQSTDELAY);
            } else {
                self.send_own_ip_request_resp(now, ipaddr);
                self.acquire_groups(&[GroupId(i)]);
            }
        }
    }

    /// §6.5: acquiring local groups never asks the peer; the request is self-addressed.
    fn send_own_ip_request_resp(&mut self, now: Instant, ipaddr: Option<String>) {
        let body = Body::IpRequestResp {
            ipaddr,
            weown: Some(true),
            ok: true,
        };
        self.send(now, Some(Text::new(&self.local)), body);
    }

    /// RQSTDELAY passed without a stable peer: the deadlock breaker (§6.5).
    pub(super) fn rqst_expired(&mut self, now: Instant) {
        if matches!(self.neg.rstate, RscState::Starting | RscState::BothStarting) {
            self.event(Event::LocalTransitionComplete {
                node: self.peer.clone(),
                waited: RQSTDELAY,
            });
            self.settle_startup(now, "local resource transition completed", None);
        }
    }

    /// The first acquisition of this process is done (`none`: the peer held
    /// our groups): heartbeat's two lines, which log watchers and CTS take
    /// for "this node has started".
    pub(super) fn initial_acquisition_complete(&mut self, none: bool, reason: String) {
        self.event(Event::LocalAcquisitionComplete { none });
        if !std::mem::replace(&mut self.neg.initial_done, true) {
            self.event(Event::AcquisitionComplete { reason });
        }
    }

    /// A takeover completed: when it was this process's first acquisition
    /// (alone at start-up, or the peer left before the negotiation ended),
    /// it is also the initial one.
    pub(super) fn takeover_was_initial(&mut self) {
        if !self.neg.initial_done {
            self.initial_acquisition_complete(false, "mach_down".into());
        }
    }

    /// While the start-up negotiation waits for a stable peer: when the
    /// wait ends at the latest (for `status`).
    pub(super) fn startup_wait(&self) -> Option<Instant> {
        if matches!(self.neg.rstate, RscState::Starting | RscState::BothStarting) {
            self.timers.get(Timer::Rqst)
        } else {
            None
        }
    }

    /// The startup negotiation ends: take our local groups unless the peer
    /// holds them.
    fn settle_startup(&mut self, now: Instant, reason: &str, info: Option<ResourceInfo>) {
        // The peer is in its own start-up and has not settled: at its end it
        // takes its home groups (§6.5) whatever the probe found here.
        let peer_starting = self.neg.rstate == RscState::BothStarting && !self.neg.peer_stable;
        self.adoption_peer_starting(peer_starting);
        self.neg.rstate = RscState::Stable;
        self.timers.stop(Timer::Rqst);
        // What the start-up probe found is kept or stopped first, knowing
        // what the peer holds; our holdings go out after that.
        let adopting = self.adoption_open();
        self.queue_adoption();
        if self.neg.peer_hold.has(false) {
            self.initial_acquisition_complete(true, "none".into());
            if adopting {
                self.jobs.queue.push_back(Job::Then(Then::Announce));
            } else {
                self.announce(now, None);
            }
        } else {
            self.req_our_resources(now, reason.into(), info);
        }
    }

    fn req_our_resources(&mut self, now: Instant, reason: String, info: Option<ResourceInfo>) {
        // In persistent standby our home groups are the peer's to run (the
        // standby that follows hands them over); started here they would
        // only be stopped again.
        let ids: Vec<GroupId> = if self.persistent_keeps_local_away() {
            Vec::new()
        } else {
            self.jobs.group_ids(HoldSet::Local)
        };
        for &g in &ids {
            let grp = &self.jobs.groups[g.0];
            if grp.state == GState::Stopped && !grp.failed_here {
                self.send_own_ip_request_resp(now, Some(self.key(g)));
            }
        }
        self.acquire_groups(&ids);
        self.jobs
            .queue
            .push_back(Job::Then(Then::Stable { reason, info }));
    }

    /// A sequenced message addressed to us (or to everyone), by type.
    pub(super) fn dispatch(&mut self, now: Instant, link: LinkId, seq: u64, ts: u64, body: Body) {
        let body = match body {
            Body::Status { st, dt, hbd, .. } => {
                return self.handle_status(now, link, seq, ts, st, dt, hbd)
            }
            Body::ReqNodes => {
                // §3.6: the node list, each name followed by a space.
                let nodelist: String = self.cfg.nodes.iter().map(|n| format!("{n} ")).collect();
                let body = Body::RepNodes {
                    nodelist: Some(nodelist),
                    delnodelist: Some(" ".into()),
                };
                return self.send(now, Some(Text::new(&self.peer)), body);
            }
            Body::Shutdone => return self.handle_shutdone(now),
            // Compared whenever it comes: a mismatch matters before comm-up too.
            Body::HbdConfig(a) => return self.handle_hbd_config(a),
            other => other,
        };
        // Resource handlers exist only once comm is up (§3.2 step 6).
        if !self.liveness.comm_up {
            return;
        }
        self.delivery.delivered += 1;
        if self.shutting_down {
            // Still answer a legacy request (we are releasing everything anyway),
            // or a peer that started meanwhile waits forever (§9.13).
            match body {
                Body::IpRequest { ipaddr } => self.handle_ip_request(ipaddr),
                Body::Resource(r) => self.handover_seen(r),
                _ => {}
            }
            return;
        }
        match body {
            Body::Starting => self.handle_starting(now, seq),
            Body::Resource(r) => self.handle_resource(now, seq, r),
            Body::AskResources { hold, info } => self.handle_ask_resources(now, seq, hold, info),
            // `failback` (§9.14 quirk, reproduced) and unknown words mean all.
            Body::HbTakeover { hold } => {
                let set = hold.unwrap_or(HoldSet::All);
                self.begin_standby(now, set.invert(), "hb_takeover from peer");
            }
            Body::IpRequest { ipaddr } => self.handle_ip_request(ipaddr),
            Body::NumPingNodes { count } => self.handle_num_ping(now, count),
            Body::YouAreDead => self.schedule_giveup(now),
            Body::AbortGiveup => self.timers.stop(Timer::Giveup),
            Body::IpRequestResp {
                ipaddr, ok: true, ..
            } => {
                if let Some(g) = self.group_by_key(ipaddr.as_deref().unwrap_or_default()) {
                    self.acquire_groups(&[g]);
                }
            }
            _ => {}
        }
    }

    fn handle_starting(&mut self, now: Instant, seq: u64) {
        // A retransmitted `starting` older than the peer's latest holdings
        // must not wipe them.
        if !self.nice_failback() || seq < self.neg.peer_resource_seq {
            return;
        }
        match self.neg.rstate {
            RscState::BothStarting => return,
            RscState::Starting => self.neg.rstate = RscState::BothStarting,
            _ => {}
        }
        // The peer starts from scratch: it holds nothing and is not stable.
        self.neg.peer_stable = false;
        self.neg.peer_starting = true;
        self.persistent_peer_restarted();
        self.set_peer_hold(HoldSet::None);
        self.announce(now, None);
    }

    fn handle_resource(&mut self, now: Instant, seq: u64, r: Resource) {
        if !self.nice_failback() {
            return;
        }
        let heal = r.info == Some(ResourceInfo::Heal);
        if seq < self.neg.peer_resource_seq {
            // A retransmitted old view must not override a newer one; a late
            // `heal` still asks for the rule, applied to the newer view.
            if heal {
                self.resolve_overlap(now);
            }
            return;
        }
        self.neg.peer_resource_seq = seq;
        if heal {
            // The peer had declared us dead and heard us again: whatever it
            // took over since is a new conflict, even if its release of the
            // last one never reached us (lost under heavy loss; the client
            // then kept its MAC: the fault matrix's 50 % loss row).
            self.neg.reannounced.clear();
        }
        let Some(h) = r.hold else {
            return;
        };
        if r.full {
            self.set_peer_hold(h);
        } else {
            let was = self.neg.peer_hold;
            let (l, f) = (was.has(true) || h.has(true), was.has(false) || h.has(false));
            self.set_peer_hold(HoldSet::from_parts(l, f));
        }
        let node = self.peer.clone();
        match r.stable {
            Some(true) if !self.neg.peer_stable => {
                self.neg.peer_stable = true;
                self.neg.peer_starting = false;
                if self.neg.rstate == RscState::Stable {
                    self.event(Event::RemoteTransitionComplete { node });
                    self.announce(now, None);
                }
                self.decide_deferred(now);
            }
            Some(false) => self.neg.peer_stable = false,
            _ => {}
        }
        let starting = matches!(self.neg.rstate, RscState::Starting | RscState::BothStarting);
        if starting && self.timers.get(Timer::Rqst).is_none() {
            self.timers.set(Timer::Rqst, now + RQSTDELAY);
        }
        if starting && self.neg.peer_stable {
            // The peer is stable: take our local groups unless it holds them (§6.5).
            self.settle_startup(
                now,
                "req_our_resources()",
                Some(ResourceInfo::ReqOurResources),
            );
        }
        // The rule needs the peer's complete holdings: a `heal` (the peer saw
        // the partition, we may not have) or, when we saw it, the next full
        // `resource` (not a partial `mach_down` sent before the heal).
        if heal || (self.neg.healing.is_some() && r.full) {
            self.resolve_overlap(now);
        } else if r.full {
            self.check_overlap(now);
        }
        if r.full && self.neg.peer_stable {
            self.reclaim_after_cancelled_fence();
        }
        self.maybe_failback(now);
    }

    /// The peer came back while we were fencing it, and now says, stable,
    /// what it holds: our home groups it does not hold run nowhere (the
    /// takeover never ran), so they start here, as at the end of a start-up
    /// negotiation.
    fn reclaim_after_cancelled_fence(&mut self) {
        if !std::mem::take(&mut self.neg.reclaim_after_heal)
            || self.neg.peer_hold.has(false)
            || self.shutting_down
        {
            return;
        }
        let ids: Vec<GroupId> = self
            .jobs
            .group_ids(HoldSet::Local)
            .into_iter()
            .filter(|&g| !self.jobs.holds_or_will(g))
            .collect();
        if !ids.is_empty() {
            self.acquire_groups(&ids);
            self.jobs.queue.push_back(Job::Then(Then::Announce));
        }
    }

    /// The partition rule: when both nodes hold a group, its home node keeps it
    /// and the other releases it. Holdings are compared per set (local/foreign),
    /// which is what the v1 protocol carries.
    fn resolve_overlap(&mut self, now: Instant) {
        let why = match self.neg.healing.take() {
            Some(Heal::Partition) => "healed partition resolved by home-node rule".to_string(),
            Some(Heal::FirstContact) => {
                "holdings compared at first contact after initdead (home-node rule)".to_string()
            }
            None => format!(
                "holdings compared at {}'s request (info=heal; home-node rule)",
                self.peer
            ),
        };
        self.resolve_overlap_because(now, &why, true);
    }

    /// Both sides stable and both claiming a group can also follow a race the
    /// v1 protocol does not prevent (e.g. a peer restarting while we act on its
    /// older `shutdone`). Stable claims never overlap in a correct exchange, so
    /// the same home-node rule settles it instead of leaving both active.
    pub(super) fn check_overlap(&mut self, now: Instant) {
        if !self.nice_failback()
            || !self.is_stable()
            || !self.neg.peer_stable
            || self.liveness.peer_dead
            || !self.liveness.comm_up
            || self.shutting_down
        {
            return;
        }
        let conflict: Vec<GroupId> = (0..self.jobs.groups.len())
            .filter(|&i| {
                let g = &self.jobs.groups[i];
                g.state == GState::Running && self.neg.peer_hold.has(!g.local)
            })
            .map(GroupId)
            .collect();
        // Settle each new conflict once; the keeper's side stays in conflict
        // until the peer's release shows up in its next `resource`.
        if conflict.iter().all(|g| self.neg.in_conflict.contains(g)) {
            self.neg.in_conflict = conflict;
            return;
        }
        self.neg.in_conflict = conflict;
        self.resolve_overlap_because(now, "both nodes hold a group: home-node rule", false);
    }

    /// `heal`: holdings compared after a partition or a peer's silence.
    /// The peer may then have taken a group over, announced its addresses
    /// and given it up again before we heard it (its start failed on the
    /// disk still mounted here), leaving clients with its MAC: every group
    /// we keep running is re-announced, whatever the peer holds now. Found
    /// by the fault campaign (SIGSTOP and partitions: the client stale for
    /// seconds after the heal).
    fn resolve_overlap_because(&mut self, now: Instant, why: &str, heal: bool) {
        let peer_has_its_local = self.neg.peer_hold.has(true);
        let peer_has_our_local = self.neg.peer_hold.has(false);
        for i in 0..self.jobs.groups.len() {
            let g = GroupId(i);
            if !self.jobs.holds_or_will(g) || self.jobs.groups[i].state == GState::Failed {
                continue;
            }
            if !self.jobs.groups[i].local && peer_has_its_local {
                // The deliberately broken build (Cargo feature, never
                // shipped): the loser keeps the group, both stay active.
                if cfg!(feature = "campaign-break") {
                    continue;
                }
                self.release_after_partition(g);
            } else if (self.jobs.groups[i].local && peer_has_our_local || heal)
                // Only a running group: one still starting announces its
                // addresses with its start (re-running the address start
                // beside it failed the group).
                && self.jobs.groups[i].state == GState::Running
                && !self.neg.reannounced.contains(&g)
            {
                // We keep it: clients may still have the peer's MAC for its
                // addresses. Once per conflict, however often it is settled;
                // a heal the peer claims nothing in is no conflict to
                // remember (nothing would end it: the next one went
                // unannounced, found by the fault campaign).
                if self.jobs.groups[i].local && peer_has_our_local {
                    self.neg.reannounced.push(g);
                }
                self.out.push_back(Output::Reannounce { group: g });
            }
        }
        self.jobs.queue.push_back(Job::Then(Then::Announce));
        self.note(now, why.into());
    }

    /// Maintenance ended: the releases it held back (the home-node rule's,
    /// the adoption's) are decided again at the next quiet moment.
    pub(super) fn forget_conflicts(&mut self) {
        self.neg.in_conflict.clear();
    }

    /// A group stopped here: a later conflict over it is a new one.
    pub(super) fn group_stopped_here(&mut self, g: GroupId) {
        self.neg.reannounced.retain(|x| *x != g);
    }

    pub(super) fn release_after_partition(&mut self, g: GroupId) {
        let group = self.key(g);
        let keeper = self.peer.clone();
        self.event(Event::ReleaseAfterPartition { group, keeper });
        self.jobs.queue.retain(|j| *j != Job::Acquire(g));
        self.jobs.queue.push_back(Job::Release(g));
    }

    /// Legacy: the peer asks for its home group; we give it up first if we run it.
    fn handle_ip_request(&mut self, ipaddr: Option<String>) {
        let Some(key) = ipaddr else {
            return;
        };
        // No answer: the peer asks again (RQSTDELAY) until maintenance ends.
        if self.held_by_maintenance(|| format!("giving group {key} to the peer (ip-request)")) {
            return;
        }
        let Some(g) = self.group_by_key(&key) else {
            return;
        };
        let weown = self.jobs.groups[g.0].state != GState::Stopped;
        // A start of it still queued (a takeover under way) must not run
        // after the answer: the peer would take it and both would run it.
        self.jobs.queue.retain(|j| *j != Job::Acquire(g));
        if weown {
            self.jobs.queue.push_back(Job::Release(g));
        }
        self.jobs
            .queue
            .push_back(Job::Then(Then::IpRequestResp { key, weown }));
    }

    /// Legacy: the answer to `ip-request`, once the group is down here.
    pub(super) fn answer_ip_request(&mut self, now: Instant, key: String, weown: bool) {
        let failed = self
            .group_by_key(&key)
            .map(|g| self.jobs.groups[g.0].state == GState::Failed)
            .unwrap_or(false);
        if failed {
            return self.event(Event::AcquireSkipped {
                group: key,
                reason: "it failed to stop here; not telling the peer to take it".into(),
            });
        }
        let body = Body::IpRequestResp {
            ipaddr: Some(key),
            weown: Some(weown),
            ok: true,
        };
        self.send(now, Some(Text::new(&self.peer)), body);
    }

    /// Legacy: heartbeat asks once and, without an answer, never starts the
    /// group (§9.13). hbd asks again every RQSTDELAY while the peer lives and
    /// the group is still not running here.
    pub(super) fn retry_ip_requests(&mut self, now: Instant) {
        if self.nice_failback() || self.shutting_down || self.liveness.peer_dead {
            return;
        }
        let mut any = false;
        for i in 0..self.jobs.groups.len() {
            let g = GroupId(i);
            let grp = &self.jobs.groups[i];
            if !grp.local || grp.state != GState::Stopped || grp.failed_here {
                continue;
            }
            if self.jobs.queue.contains(&Job::Acquire(g)) || self.jobs.busy_with() == Some(g) {
                continue;
            }
            any = true;
            let ipaddr = Some(self.key(g));
            self.send(now, None, Body::IpRequest { ipaddr });
        }
        if any {
            self.timers.set(Timer::IpRequestRetry, now + RQSTDELAY);
        }
    }

    /// Legacy mode: a heartbeat peer that comes up while it believes nobody is
    /// active takes its home groups without asking (a self-addressed
    /// `ip-request-resp`, §6.6), even if we took them over a moment before. Seeing
    /// that on the wire, we give its home group back: otherwise both run it.
    pub(super) fn peer_takes_home_group(
        &mut self,
        dest: Option<&str>,
        ipaddr: Option<&str>,
        ok: bool,
    ) {
        if self.nice_failback() || !self.liveness.comm_up || self.shutting_down {
            return;
        }
        let to_itself = dest.is_some_and(|d| d.eq_ignore_ascii_case(&self.peer));
        if !to_itself || !ok {
            return;
        }
        let Some(g) = self.group_by_key(ipaddr.unwrap_or_default()) else {
            return;
        };
        let held = matches!(
            self.jobs.groups[g.0].state,
            GState::Starting | GState::Running
        ) || self.jobs.queue.contains(&Job::Acquire(g));
        if !self.jobs.groups[g.0].local && held {
            self.release_after_partition(g);
        }
    }

    /// The peer released everything and stops (§6.9): take over at once.
    fn handle_shutdone(&mut self, now: Instant) {
        let node = self.peer.clone();
        self.event(Event::PeerShutdown { node: node.clone() });
        self.note(now, format!("{node} shut down"));
        self.neg.peer_shut_down = true;
        self.set_peer_hold(HoldSet::None);
        self.neg.peer_stable = false;
        if self.end_standby().is_some() {
            self.event(Event::StandbyCancelled {
                reason: format!("{node} shut down"),
            });
        }
        if self.shutting_down || !self.liveness.comm_up {
            return;
        }
        self.neg.rstate = RscState::Stable;
        self.timers.stop(Timer::Rqst);
        self.take_over_everything(node, "peer shut down");
    }
}
