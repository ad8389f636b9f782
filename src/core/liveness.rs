//! Liveness (spec §3.2, §5.3, §9.3, §9.4): each link's silence, the peer's
//! status messages and advertised dead time, the verdicts that follow (link
//! dead, peer dead, peer restarted, partition healed, comm-up), and our own
//! stalls, which must never be taken for the peer's death.

#![forbid(unsafe_code)]

use crate::config::Config;
use crate::core::events::{DeadTimer, Event};
use crate::core::jobs::{GState, Job, Then};
use crate::core::machine::Machine;
use crate::core::negotiation::Heal;
use crate::core::status::LocalState;
use crate::core::{GapHistogram, GroupId, HoldSet, LinkId};
use crate::time::{Duration, Instant};
use crate::wire::repr::HbdState;
use crate::wire::Text;

/// A node raises the dead time it advertises (`dt`) by this much for its
/// first 5 s (§3.3): we do so for our own, and a peer's boosted `dt` is no
/// change worth reporting.
pub(super) const DT_BOOST: Duration = Duration::from_millis(2000);
pub(super) const DT_BOOST_FOR: Duration = Duration::from_secs(5);

pub(super) struct Link {
    pub(super) name: String,
    /// The peer is heard on it (and its transport is not down).
    pub(super) up: bool,
    /// Transport reported down by the shell.
    transport_down: bool,
    pub(super) last_heard: Option<Instant>,
    /// Status messages that arrived on it later than `warntime`.
    pub(super) late: u64,
}

pub(super) struct Liveness {
    pub(super) links: Vec<Link>,
    /// The peer was heard, or declared dead at initdead: resource messages
    /// are handled from now on (§3.2 step 6), and deadtime replaces initdead.
    pub(super) comm_up: bool,
    pub(super) peer_dead: bool,
    pub(super) ever_heard: bool,
    /// The peer's `st` as it last said it.
    pub(super) peer_state: Text,
    pub(super) last_status_at: Option<Instant>,
    last_status_seq: u64,
    last_status_ts: u64,
    pub(super) advertised_dt: Option<u64>,
    /// The peer's dead time as we apply it (its `dt`, clamped).
    pub(super) dead_timeout: Duration,
    /// Dead-time clocks never start before this (set when we stalled).
    grace_from: Instant,
    pub(super) last_handle: Instant,
    pub(super) late_heartbeats: u64,
    pub(super) heartbeat_gaps: GapHistogram,
}

impl Liveness {
    pub(super) fn new(cfg: &Config, now: Instant) -> Liveness {
        Liveness {
            links: Liveness::links(cfg),
            comm_up: false,
            peer_dead: false,
            ever_heard: false,
            peer_state: "init".into(),
            last_status_at: None,
            last_status_seq: 0,
            last_status_ts: 0,
            advertised_dt: None,
            dead_timeout: cfg.deadtime,
            grace_from: now,
            last_handle: now,
            late_heartbeats: 0,
            // Fixed for the process's life (a reload keeps them): Prometheus
            // cannot compare a histogram whose buckets moved.
            heartbeat_gaps: GapHistogram::for_timing(cfg.keepalive, cfg.warntime, cfg.deadtime),
        }
    }

    /// One link per medium, none heard yet.
    pub(super) fn links(cfg: &Config) -> Vec<Link> {
        cfg.media
            .iter()
            .map(|m| Link {
                name: m.link_name(),
                up: false,
                transport_down: false,
                last_heard: None,
                late: 0,
            })
            .collect()
    }
}

impl Machine {
    /// The stall rule: a deadline noticed more than 2 × keepalive late means
    /// this process (or its VM) was not running; that silence is ours, so the
    /// peer and its links get a fresh grace period instead of a death verdict.
    pub(super) fn check_stall(&mut self, now: Instant) {
        let Some(due) = self.next_deadline() else {
            return;
        };
        let late = now.saturating_since(due);
        if late > self.cfg.keepalive.saturating_mul(2) {
            self.event(Event::LocalStall { late });
            self.note(now, format!("local stall of {late}"));
            self.liveness.grace_from = now;
            for l in &mut self.liveness.links {
                if l.up {
                    l.last_heard = Some(now);
                }
            }
        }
    }

    pub(super) fn handle_transport(&mut self, now: Instant, link: LinkId, up: bool) {
        if let Some(l) = self.liveness.links.get_mut(link.0) {
            l.transport_down = !up;
            if !up && l.up {
                self.link_dead(now, link.0);
            }
        }
    }

    /// Link `i` stops counting as up; its silence so far is reported.
    fn link_dead(&mut self, now: Instant, i: usize) {
        let l = &mut self.liveness.links[i];
        l.up = false;
        let silence = l
            .last_heard
            .map(|t| now.saturating_since(t))
            .unwrap_or_default();
        let link = l.name.clone();
        let node = self.peer.clone();
        self.event(Event::LinkDead {
            node,
            link,
            silence,
        });
    }

    pub(super) fn refresh_link(&mut self, now: Instant, link: LinkId) {
        if let Some(l) = self.liveness.links.get_mut(link.0) {
            l.last_heard = Some(now);
            if !l.up && !l.transport_down {
                l.up = true;
                let name = l.name.clone();
                self.event(Event::LinkUp {
                    node: self.peer.clone(),
                    link: name,
                });
            }
        }
    }

    /// What the peer's dead time is measured from: its last status, start
    /// before any, and never before our own last stall.
    fn status_clock(&self) -> Instant {
        self.liveness
            .last_status_at
            .unwrap_or(self.started)
            .max(self.liveness.grace_from)
    }

    fn peer_timeout(&self) -> Duration {
        if self.liveness.comm_up {
            self.liveness.dead_timeout
        } else {
            self.cfg.initdead
        }
    }

    /// When the peer is declared dead without a status (only the status
    /// clock counts, §5.3); none while it is dead.
    pub(super) fn peer_dead_at(&self) -> Option<Instant> {
        // A planned restart (maintenance.rs) adds its grace to the silence allowed.
        (!self.liveness.peer_dead)
            .then(|| self.status_clock() + self.peer_timeout() + self.peer_restart_grace())
    }

    /// When the first live link falls silent for the peer's dead time.
    pub(super) fn link_dead_at(&self) -> Option<Instant> {
        let thr = self.peer_timeout();
        self.liveness
            .links
            .iter()
            .filter(|l| l.up)
            .filter_map(|l| l.last_heard)
            .map(|h| h + thr)
            .min()
    }

    /// Links die each by their own silence against the peer's dead time (§9.4 fixed).
    pub(super) fn expire_links(&mut self, now: Instant) {
        let thr = self.peer_timeout();
        for i in 0..self.liveness.links.len() {
            let l = &self.liveness.links[i];
            if l.up && l.last_heard.is_some_and(|h| now.saturating_since(h) >= thr) {
                self.link_dead(now, i);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_status(
        &mut self,
        now: Instant,
        link: LinkId,
        seq: u64,
        ts: u64,
        st: Option<Text>,
        dt: Option<u64>,
        hbd: HbdState,
    ) {
        let lv = &mut self.liveness;
        // A retransmitted older status says nothing about now.
        if seq < lv.last_status_seq && ts < lv.last_status_ts {
            return;
        }
        // An older status overtaken by a newer one (same second) must not
        // take back what the newer said (a restart's grace, maintenance).
        let newest = seq >= lv.last_status_seq;
        // The peer's name is cloned only into an event: none is due per heartbeat.
        if let Some(prev) = lv.last_status_at {
            let gap = now.saturating_since(prev);
            lv.heartbeat_gaps.observe(gap);
            if gap > self.cfg.warntime {
                lv.late_heartbeats += 1;
                if let Some(l) = lv.links.get_mut(link.0) {
                    l.late += 1;
                }
                let lname = lv
                    .links
                    .get(link.0)
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                self.event(Event::LateHeartbeat {
                    node: self.peer.clone(),
                    link: lname,
                    gap,
                    warntime: self.cfg.warntime,
                });
            }
        }
        let lv = &mut self.liveness;
        lv.last_status_at = Some(now);
        lv.last_status_seq = seq;
        lv.last_status_ts = ts;
        if let Some(dt) = dt {
            if dt > 0 && lv.advertised_dt != Some(dt) {
                lv.advertised_dt = Some(dt);
                // §9.3: the peer's dt is its dead timeout, within sane bounds.
                let lo = self.cfg.keepalive.saturating_mul(2);
                let hi = self.cfg.deadtime.saturating_mul(10);
                let used = Duration::from_millis(dt).max(lo).min(hi);
                lv.dead_timeout = used;
                let local = self.cfg.deadtime;
                if Duration::from_millis(dt) != local
                    && Duration::from_millis(dt) != local + DT_BOOST
                {
                    self.event(Event::PeerDeadtime {
                        node: self.peer.clone(),
                        advertised: Duration::from_millis(dt),
                        used,
                        local,
                    });
                }
            }
        }
        if newest {
            self.handle_peer_hbd_state(now, hbd);
        }
        let st = st.unwrap_or_else(|| Text::new(""));
        if st == "dead" {
            self.event(Event::PeerClaimsDead {
                node: self.peer.clone(),
            });
            return;
        }
        if st != self.liveness.peer_state {
            self.event(Event::PeerStatus {
                node: self.peer.clone(),
                state: st.as_str().into(),
            });
            self.liveness.peer_state = st;
        }
    }

    /// Comm-up: the peer was heard, or given up on at initdead (§3.6: hbd
    /// does not wait for `reqnodes` answers).
    pub(super) fn check_links_up(&mut self, now: Instant) {
        let lv = &self.liveness;
        if lv.comm_up || !(lv.ever_heard || lv.peer_dead) {
            return;
        }
        self.liveness.comm_up = true;
        self.event(Event::CommUp);
        self.set_state(now, LocalState::Active);
        self.comm_up_resource_action(now);
        self.send_ping_count(now);
    }

    pub(super) fn declare_peer_dead(&mut self, now: Instant) {
        let silence = self
            .liveness
            .last_status_at
            .map(|t| now.saturating_since(t))
            .unwrap_or_else(|| now.saturating_since(self.started));
        let node = self.peer.clone();
        let timeout = self.peer_timeout();
        let timer = if !self.liveness.comm_up {
            DeadTimer::Initdead
        } else if self.liveness.advertised_dt.is_some() && timeout != self.cfg.deadtime {
            DeadTimer::Advertised
        } else {
            DeadTimer::Deadtime
        };
        self.event(Event::PeerDead {
            node: node.clone(),
            silence,
            timeout,
            timer,
        });
        self.note(now, format!("peer {node} dead after {silence} silence"));
        self.liveness.peer_dead = true;
        self.liveness.peer_state = "dead".into();
        self.forget_peer_maintenance();
        self.neg.reclaim_after_heal = false;
        self.delivery.missing.clear();
        self.neg.peer_stable = false;
        // A peer that dies while starting never becomes stable: the takeover
        // decides what waited for that.
        self.neg.peer_starting = false;
        self.neg.decide_when_stable.clear();
        for i in 0..self.liveness.links.len() {
            if self.liveness.links[i].up {
                self.link_dead(now, i);
            }
        }
        if !self.liveness.comm_up {
            self.check_links_up(now);
            return;
        }
        self.recover_dead_peer(now);
    }

    /// A status with a newer generation: the peer restarted (§3.2 step 4).
    /// `hbd`: the new process is an hbd (it writes no `ld`), which adopts
    /// what it finds running and says so in its holdings.
    pub(super) fn peer_restarted(&mut self, now: Instant, old: u64, new: u64, hbd: bool) {
        let node = self.peer.clone();
        self.event(Event::PeerRestarted {
            node,
            old_generation: old,
            new_generation: new,
        });
        self.note(now, format!("peer restarted (generation {new})"));
        let was_dead = self.liveness.peer_dead;
        self.delivery.peer_restarted(new);
        self.pair_check_peer_restarted();
        self.redundancy_peer_restarted();
        self.forget_peer_maintenance();
        // What we told its previous process is no concern of the new one.
        self.neg.owe_stable = false;
        let lv = &mut self.liveness;
        // The silence across a restart is not a late heartbeat.
        lv.last_status_at = None;
        lv.last_status_seq = 0;
        lv.last_status_ts = 0;
        lv.peer_dead = false;
        self.neg.peer_resource_seq = 0;
        self.neg.peer_stable = false;
        self.neg.peer_shut_down = false;
        self.set_peer_hold(HoldSet::None);
        // A fence still pending means we took nothing over: the restarted peer
        // runs nothing either, so our home groups come back like below.
        let fence_pending = self.fence.is_some();
        self.neg.reclaim_after_heal = false;
        self.cancel_fence("it restarted");
        self.ipfail.peer_ping = None;
        self.send_ping_count(now);
        if self.end_standby().is_some() {
            self.event(Event::StandbyCancelled {
                reason: "peer restarted".into(),
            });
        }
        // A restarted heartbeat lost whatever it ran or was about to run (it
        // may have died while taking our groups in a standby). It will start
        // its own groups itself; ours that nobody runs now come back to us.
        // A restarted hbd may have found our groups still running there and
        // kept them: ours come back once its holdings say it does not.
        let reclaim = (!was_dead || fence_pending)
            && self.liveness.comm_up
            && !self.shutting_down
            && self.neg.stable_phase();
        if reclaim && hbd {
            self.neg.reclaim_after_heal = true;
        } else if reclaim {
            let ids: Vec<GroupId> = (0..self.jobs.groups.len())
                .filter(|&i| {
                    let g = &self.jobs.groups[i];
                    g.local && g.state == GState::Stopped
                })
                .map(GroupId)
                .collect();
            if !ids.is_empty() {
                self.acquire_groups(&ids);
                self.jobs.queue.push_back(Job::Then(Then::Announce));
            }
        }
    }

    /// A peer we declared dead is heard again with the same generation.
    pub(super) fn partition_healed(&mut self, now: Instant) {
        let node = self.peer.clone();
        self.event(Event::PartitionHealed { node });
        self.note(now, "peer returning after partition".into());
        self.liveness.peer_dead = false;
        self.neg.reclaim_after_heal = self.fence.is_some();
        self.cancel_fence("it is heard again");
        self.send_ping_count(now);
        self.delivery.missing.clear();
        // The message that revived it counts as a sign of life.
        self.liveness.last_status_at = Some(now);
        // heartbeat restarts itself here (§6.10). hbd applies the home-node
        // rule instead: each group held on both sides stays with its home node.
        self.neg.peer_stable = false;
        self.settle_after_heal(now);
    }

    /// Declared dead at initdead without ever being heard: this is its first
    /// start, not a healed partition. It holds nothing yet and negotiates like
    /// a restarted peer.
    pub(super) fn first_heard_after_initdead(&mut self, now: Instant) {
        let peer = self.peer.clone();
        self.note(now, format!("peer {peer} heard for the first time"));
        self.liveness.peer_dead = false;
        self.neg.peer_stable = false;
        self.neg.peer_shut_down = false;
        self.set_peer_hold(HoldSet::None);
        self.send_ping_count(now);
        // Unless it could not hear us (a one-way link at our start): then it
        // ran everything all along, as we now do. Ask for its holdings and let
        // the home-node rule settle any overlap.
        if self.nice_failback() && self.liveness.comm_up && self.jobs.my_hold() != HoldSet::None {
            self.announce_for_heal(now, Heal::FirstContact);
        }
    }
}
