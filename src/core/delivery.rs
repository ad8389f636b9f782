//! Reliable delivery (spec §3.2, §3.5): our sequence numbers and the history
//! kept for retransmission, the envelope of what we send, the peer's
//! generation and sequence numbers (duplicates across links, gaps, requests
//! for what is missing, ACKs), and the count of what was dropped and why.

#![forbid(unsafe_code)]

use crate::core::events::{DropReason, Event};
use crate::core::machine::Machine;
use crate::core::redundancy::Arrival;
use crate::core::rng::Rng;
use crate::core::{LinkId, Output};
use crate::time::{Duration, Instant};
use crate::wire::repr::{Body, Control, Kind, Repr};
use crate::wire::{Blob, Invalid, Text};
use std::collections::{BTreeMap, VecDeque};

/// Sent messages kept for retransmission (heartbeat's MAXMSGHIST).
const HISTORY: usize = 500;
/// A gap larger than this resets the missing list instead of requesting it (§3.2).
const MAX_GAP: u64 = 250;
/// Packets answered per `NS_rexmit` request (§3.5).
const MAX_REXMIT_BATCH: u64 = 50;
/// Drop reports per reason are at most this frequent.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Delivery {
    /// The core's only randomness: ACK trigger and retransmission delays.
    rng: Rng,
    /// Our last sequence number.
    seq: u64,
    /// `(seq, message, last resent)`, oldest first.
    history: VecDeque<(u64, Repr, Option<Instant>)>,
    /// The peer's generation, from the first message it was heard with.
    pub(super) peer_generation: Option<u64>,
    /// The peer's `srcuuid`, echoed as `destuuid` in what we send it.
    pub(super) peer_uuid: Option<Blob>,
    /// Highest sequence accepted from the peer in this generation.
    pub(super) last_seq: Option<u64>,
    /// Missing sequence number -> when to (re)request it.
    pub(super) missing: BTreeMap<u64, Instant>,
    /// We ACK the peer's sequence numbers ending in this digit (spread ACKs, §3.5).
    ack_trigger: u64,
    pub(super) drops: Drops,
    /// Messages from the peer passed to a handler after comm-up ([`crate::core::Node::delivered`]).
    pub(super) delivered: u64,
}

/// Received messages dropped, by reason, with rate-limited reports.
#[derive(Default)]
pub(super) struct Drops {
    pub(super) total: u64,
    pub(super) by_reason: BTreeMap<DropReason, u64>,
    /// Per reason: when last reported, and drops since.
    reports: BTreeMap<DropReason, (Option<Instant>, u64)>,
}

impl Delivery {
    pub(super) fn new(seed: u64) -> Delivery {
        let mut rng = Rng::new(seed);
        let ack_trigger = rng.range(0, 9);
        Delivery {
            rng,
            seq: 0,
            history: VecDeque::new(),
            peer_generation: None,
            peer_uuid: None,
            last_seq: None,
            missing: BTreeMap::new(),
            ack_trigger,
            drops: Drops::default(),
            delivered: 0,
        }
    }

    /// A restarted peer counts from 1 in its new generation: anything before
    /// its status that we dropped (it overtook the status) is requested again.
    pub(super) fn peer_restarted(&mut self, generation: u64) {
        self.peer_generation = Some(generation);
        self.last_seq = Some(0);
        self.missing.clear();
        self.peer_uuid = None;
        self.ack_trigger = self.rng.range(0, 9);
    }

    fn rexmit_delay(&mut self, max_rexmit_delay: Duration) -> Duration {
        let max = max_rexmit_delay.millis();
        let lo = if max < 100 { 0 } else { 50 };
        Duration::from_millis(self.rng.range(lo, max.max(lo)))
    }
}

impl Machine {
    // ------------------------------------------------------------- sending

    /// Numbers `body`, adds the envelope (§1.5, §3.1), keeps it for
    /// retransmission and queues it for every link.
    pub(super) fn send(&mut self, now: Instant, dest: Option<Text>, body: Body) {
        let msg = self.sequenced(now, dest, body);
        self.out.push_back(Output::Send { msg, link: None });
    }

    /// Numbers `body`, adds the envelope and keeps it for retransmission;
    /// the caller sends it.
    pub(super) fn sequenced(&mut self, now: Instant, dest: Option<Text>, body: Body) -> Repr {
        self.delivery.seq += 1;
        let seq = self.delivery.seq;
        let msg = self.envelope(now, dest, Kind::Sequenced { seq, body });
        let history = &mut self.delivery.history;
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back((seq, msg.clone(), None));
        msg
    }

    /// Sends an unsequenced `NS_*` message to the peer.
    fn send_control(&mut self, now: Instant, control: Control) {
        let msg = self.envelope(now, Some(Text::new(&self.peer)), Kind::Control(control));
        self.out.push_back(Output::Send { msg, link: None });
    }

    fn envelope(&self, now: Instant, dest: Option<Text>, kind: Kind) -> Repr {
        // Addressed to the peer whose uuid we know: name it by uuid too.
        let destuuid = match (&dest, &self.delivery.peer_uuid) {
            (Some(d), Some(u)) if d.eq_ignore_ascii_case(&self.peer) => Some(u.clone()),
            _ => None,
        };
        Repr {
            src: Text::new(&self.local),
            srcuuid: Some(Blob::from(self.uuid)),
            dest,
            destuuid,
            generation: self.generation,
            ts: self.wall0 + now.millis() / 1000,
            ttl: Some(1 + self.cfg.nodes.len() as u64 + self.cfg.ping_nodes.len() as u64),
            // heartbeat's load average: hbd writes none (it is how a peer tells hbd).
            load: None,
            kind,
        }
    }

    fn send_ack(&mut self, now: Instant, seq: u64) {
        self.send_control(now, Control::Ack { seq: Some(seq) });
    }

    // ----------------------------------------------------------- receiving

    pub(super) fn drop_msg(&mut self, now: Instant, reason: DropReason, node: &str) {
        let drops = &mut self.delivery.drops;
        drops.total += 1;
        *drops.by_reason.entry(reason).or_default() += 1;
        let entry = drops.reports.entry(reason).or_insert((None, 0));
        entry.1 += 1;
        let due = entry
            .0
            .map(|t| now.saturating_since(t) >= DROP_REPORT_EVERY)
            .unwrap_or(true);
        if due {
            let count = entry.1;
            *entry = (Some(now), 0);
            self.event(Event::PacketDropped {
                reason,
                node: node.to_string(),
                count,
            });
        }
    }

    /// A message from the peer dropped: its name is cloned for the report
    /// only here, not for every message received.
    fn drop_from_peer(&mut self, now: Instant, reason: DropReason) {
        let peer = self.peer.clone();
        self.drop_msg(now, reason, &peer);
    }

    /// A verified message the wire layer could not type (§3.2 step 2).
    pub(super) fn handle_invalid(&mut self, now: Instant, e: Invalid) {
        let node = e.src.as_deref().unwrap_or("?");
        self.drop_msg(now, DropReason::MissingField, node);
    }

    pub(super) fn handle_message(&mut self, now: Instant, link: LinkId, msg: Repr) {
        let Repr {
            src,
            srcuuid,
            dest,
            destuuid,
            generation: gen,
            ts,
            load,
            kind,
            ..
        } = msg;
        // §9.10: compare case-insensitively. (Our own messages never get
        // here: `Input::received` drops them at the edge.)
        if !src.eq_ignore_ascii_case(&self.peer) {
            return self.drop_msg(now, DropReason::UnknownNode, &src);
        }
        let for_us = self.is_for_us(dest.as_deref(), destuuid.as_deref());
        let (seq, body) = match kind {
            Kind::Control(c) => {
                // §9.2: control messages must carry the peer's current
                // generation. One its status has not announced yet overtook
                // that status (the peer ACKs our first messages before its
                // own reach us): normal, not stale.
                match self.delivery.peer_generation {
                    Some(known) if known == gen => {}
                    Some(known) if known > gen => {
                        return self.drop_from_peer(now, DropReason::StaleControl)
                    }
                    _ => return self.drop_from_peer(now, DropReason::ControlBeforeStatus),
                }
                if self.liveness.peer_dead {
                    return self.drop_from_peer(now, DropReason::PeerDead);
                }
                if !for_us {
                    return;
                }
                self.refresh_link(now, link);
                return self.handle_control(now, c);
            }
            Kind::Sequenced { seq, body } => (seq, body),
        };
        let is_status = matches!(body, Body::Status { .. });
        let report = match &body {
            Body::Status { link, .. } => *link,
            _ => None,
        };

        // Generation rules (§3.2 step 4).
        if let Some(known) = self.delivery.peer_generation {
            if gen < known {
                return self.drop_from_peer(now, DropReason::Replay);
            }
            if gen > known {
                if !is_status {
                    return self.drop_from_peer(now, DropReason::GenerationNotAnnounced);
                }
                self.peer_restarted(now, known, gen, load.is_none());
            } else if self.liveness.peer_dead {
                // Sequence tracking survives the death verdict, so only fresh
                // messages revive the peer. heartbeat waits for a status; we take
                // any fresh message, otherwise whatever the peer sends before its
                // next status (its reaction to the heal) would be lost for good.
                if self.delivery.last_seq.map(|l| seq <= l).unwrap_or(false) {
                    return self.drop_from_peer(now, DropReason::PeerDead);
                }
                self.partition_healed(now);
            }
        } else {
            // First contact: whatever comes first (its status may be behind it
            // on a slower link) tells us the generation.
            self.delivery.peer_generation = Some(gen);
            if self.liveness.peer_dead {
                self.first_heard_after_initdead(now);
            }
        }
        if let Some(u) = srcuuid {
            self.delivery.peer_uuid = Some(u);
        }
        // Counted before the dedupe: every datagram says how the link does.
        let fresh_copy =
            self.link_datagram(link, seq, report) == Arrival::Fresh && report.is_some();

        // Sequence tracking and dedupe across links (§3.2, §4.5).
        match self.delivery.last_seq {
            None => {
                self.delivery.last_seq = Some(seq);
            }
            Some(last) if Some(seq) == last.checked_add(1) => {
                self.delivery.last_seq = Some(seq);
            }
            Some(last) if seq == last => {
                // The same message on another link: the link is alive, nothing newer came in between.
                self.refresh_link(now, link);
                return;
            }
            Some(last) if seq > last => {
                let gap = seq - last - 1;
                self.event(Event::LostPackets {
                    node: self.peer.clone(),
                    count: gap,
                    last,
                    seq,
                });
                if gap > MAX_GAP {
                    self.delivery.missing.clear();
                } else {
                    for s in last + 1..seq {
                        let at = now + self.delivery.rexmit_delay(self.cfg.max_rexmit_delay);
                        self.delivery.missing.insert(s, at);
                    }
                }
                self.delivery.last_seq = Some(seq);
            }
            Some(_) => {
                if self.delivery.missing.remove(&seq).is_none() {
                    if fresh_copy {
                        // A copy of a status, overtaken by a later message:
                        // the link is alive, the status is known.
                        self.refresh_link(now, link);
                        return;
                    }
                    return self.drop_from_peer(now, DropReason::OldSequence);
                }
                if self.delivery.missing.is_empty() {
                    self.event(Event::NoPacketsMissing {
                        node: self.peer.clone(),
                    });
                    let last = self.delivery.last_seq.unwrap_or(seq);
                    self.send_ack(now, last);
                }
            }
        }
        self.refresh_link(now, link);
        self.peer_kind_seen(now, gen, load.is_some());
        if seq % 10 == self.delivery.ack_trigger
            && self.delivery.missing.range(..seq).next().is_none()
        {
            self.send_ack(now, seq);
        }
        let first = !self.liveness.ever_heard;
        self.liveness.ever_heard = true;
        // A first status is read before comm-up decisions (they look at the
        // peer's state); any other first message after, so that it finds the
        // resource handlers in place.
        if first && !is_status {
            self.check_links_up(now);
        }
        if for_us {
            self.dispatch(now, link, seq, ts, body);
        } else if let Body::IpRequestResp { ipaddr, ok, .. } = body {
            self.peer_takes_home_group(dest.as_deref(), ipaddr.as_deref(), ok);
        }
        if first {
            self.check_links_up(now);
        }
    }

    fn is_for_us(&self, dest: Option<&str>, destuuid: Option<&[u8]>) -> bool {
        if let Some(u) = destuuid {
            return u == self.uuid.as_slice();
        }
        match dest {
            None => true,
            Some(d) => d.eq_ignore_ascii_case(&self.local),
        }
    }

    fn handle_control(&mut self, now: Instant, c: Control) {
        match c {
            Control::Rexmit { first, last } => {
                let (Some(first), Some(last)) = (first, last) else {
                    return;
                };
                let last = last.min(first.saturating_add(MAX_REXMIT_BATCH - 1));
                let oldest = self
                    .delivery
                    .history
                    .front()
                    .map(|h| h.0)
                    .unwrap_or(self.delivery.seq + 1);
                let min_gap = self.cfg.max_rexmit_delay - Duration::from_millis(10);
                for s in first..=last {
                    if s > self.delivery.seq || s == 0 {
                        break;
                    }
                    if s < oldest {
                        self.send_control(now, Control::NakRexmit { first: Some(s) });
                        continue;
                    }
                    let idx = (s - oldest) as usize;
                    if let Some((_, stored, resent)) = self.delivery.history.get_mut(idx) {
                        if resent
                            .map(|r| now.saturating_since(r) < min_gap)
                            .unwrap_or(false)
                        {
                            continue;
                        }
                        *resent = Some(now);
                        let msg = stored.clone();
                        self.out.push_back(Output::Send { msg, link: None });
                    }
                }
            }
            Control::NakRexmit { first: Some(s) } if self.delivery.missing.remove(&s).is_some() => {
                let node = self.peer.clone();
                self.event(Event::IrretrievablyLost { node, seq: s });
            }
            // ACKs only free history in heartbeat; our history is a fixed ring.
            _ => {}
        }
    }

    /// When the next missing sequence number is due to be requested; none
    /// while the peer is dead (§3.5).
    pub(super) fn missing_due_at(&self) -> Option<Instant> {
        if self.liveness.peer_dead {
            return None;
        }
        self.delivery.missing.values().min().copied()
    }

    /// Requests each missing sequence number that is due, one `NS_rexmit` each.
    pub(super) fn request_missing(&mut self, now: Instant) {
        if self.liveness.peer_dead {
            return;
        }
        let due: Vec<u64> = self
            .delivery
            .missing
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(s, _)| *s)
            .collect();
        for s in due {
            let rexmit = Control::Rexmit {
                first: Some(s),
                last: Some(s),
            };
            self.send_control(now, rexmit);
            let at = now + self.cfg.max_rexmit_delay;
            self.delivery.missing.insert(s, at);
        }
    }
}
