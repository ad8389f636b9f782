//! ipfail (heartbeat's uplink check): the ping nodes each side reaches, told
//! to the peer in `num_ping_nodes`; the side that reaches fewer gives its
//! groups away (standby all) after a delay, unless the counts even out.

#![forbid(unsafe_code)]

use crate::config::Config;
use crate::core::events::Event;
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::HoldSet;
use crate::time::Instant;
use crate::wire::repr::Body;
use crate::wire::Text;

pub(super) struct Ipfail {
    /// Reachability of each `Config::ping_nodes` entry, as the shell reports it.
    pub(super) ping_up: Vec<bool>,
    /// The peer's last `num_ping_nodes`.
    pub(super) peer_ping: Option<usize>,
}

impl Ipfail {
    pub(super) fn new(cfg: &Config) -> Ipfail {
        Ipfail {
            ping_up: vec![false; cfg.ping_nodes.len()],
            peer_ping: None,
        }
    }

    fn count(&self) -> usize {
        self.ping_up.iter().filter(|u| **u).count()
    }
}

impl Machine {
    /// ipfail is refused with legacy auto_failback (it exits 100); so is ours.
    fn ipfail_active(&self) -> bool {
        self.nice_failback() && !self.cfg.ping_nodes.is_empty()
    }

    pub(super) fn handle_ping_node(&mut self, now: Instant, index: usize, up: bool) {
        let ping = &mut self.ipfail;
        if index >= ping.ping_up.len() || ping.ping_up[index] == up {
            return;
        }
        ping.ping_up[index] = up;
        let name = self.cfg.ping_nodes[index].name.clone();
        let (reachable, total) = (ping.count(), ping.ping_up.len());
        self.event(Event::PingNodeStatus {
            name,
            up,
            reachable,
            total,
        });
        self.send_ping_count(now);
        if let Some(p) = self.ipfail.peer_ping {
            self.compare_ping(now, p);
        }
    }

    /// ipfail's messages go to the peer's ipfail (see `wire::repr`).
    fn send_ipfail(&mut self, now: Instant, body: Body) {
        self.send(now, Some(Text::new(&self.peer)), body);
    }

    /// Tells the peer how many ping nodes we reach (on comm-up and each change).
    pub(super) fn send_ping_count(&mut self, now: Instant) {
        if !self.ipfail_active()
            || !self.liveness.comm_up
            || self.liveness.peer_dead
            || self.shutting_down
        {
            return;
        }
        let count = Some(self.ipfail.count());
        self.send_ipfail(now, Body::NumPingNodes { count });
    }

    pub(super) fn handle_num_ping(&mut self, now: Instant, count: Option<usize>) {
        let Some(p) = count else {
            return;
        };
        self.ipfail.peer_ping = Some(p);
        let node = self.peer.clone();
        let local = self.ipfail.count();
        self.event(Event::PeerPingNodes {
            node,
            peer: p,
            local,
        });
        if !self.ipfail_active() {
            return;
        }
        // ipfail's answer: the side that reaches more tells the other to go.
        if local > p {
            self.send_ipfail(now, Body::YouAreDead);
        } else if local == p {
            self.send_ipfail(now, Body::AbortGiveup);
        }
        self.compare_ping(now, p);
    }

    fn compare_ping(&mut self, now: Instant, peer: usize) {
        if self.ipfail.count() < peer {
            self.schedule_giveup(now);
        } else {
            self.timers.stop(Timer::Giveup);
        }
    }

    pub(super) fn schedule_giveup(&mut self, now: Instant) {
        if self.ipfail_active() && self.timers.get(Timer::Giveup).is_none() {
            let at = now + self.cfg.keepalive + self.cfg.keepalive;
            self.timers.set(Timer::Giveup, at);
        }
    }

    /// ipfail's giveup: standby all, unless the counts evened out meanwhile,
    /// there is nothing to give, or resources are in transition (then later).
    pub(super) fn try_giveup(&mut self, now: Instant) {
        if !self.ipfail_active()
            || self.liveness.peer_dead
            || !self.liveness.comm_up
            || self.shutting_down
        {
            return;
        }
        let local = self.ipfail.count();
        if let Some(p) = self.ipfail.peer_ping {
            if local >= p {
                return;
            }
        }
        if self.jobs.my_hold() == HoldSet::None && self.jobs.idle() {
            return;
        }
        if !self.is_stable() || !self.neg.peer_stable {
            let at = now + self.cfg.keepalive + self.cfg.keepalive;
            self.timers.set(Timer::Giveup, at);
            return;
        }
        let peer = self
            .ipfail
            .peer_ping
            .map(|p| p.to_string())
            .unwrap_or_else(|| "more".into());
        let total = self.ipfail.ping_up.len();
        let why = format!("uplink: we reach {local} of {total} ping node(s), the peer {peer}");
        self.begin_standby(now, HoldSet::All, &why);
    }
}
