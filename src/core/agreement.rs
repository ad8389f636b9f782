//! hbd-to-hbd only: do both nodes' configurations agree on what they must
//! (the groups and their home nodes, auto_failback, the timers, the auth
//! methods, the ping nodes: `config::Agreement`)? heartbeat never checked
//! this, and the home-node rule depends on it.
//!
//! Each node sends its parts (`hbd-config`) once per peer generation and
//! again after a reload changed them, and compares the peer's with its own:
//! a mismatch is an ERROR naming each difference, and stays in `status` until
//! it is resolved. Nothing is sent per heartbeat (issue 18's idle cost).
//!
//! A heartbeat 3.0.6 peer must not receive a byte it would not get from
//! heartbeat: it is told from hbd by the `ld` field it writes on every
//! sequenced message (hbd writes none), and is sent no `hbd-config`.

#![forbid(unsafe_code)]

use crate::config::Agreement;
use crate::core::events::Event;
use crate::core::machine::Machine;
use crate::time::Instant;
use crate::wire::repr::Body;
use serde::{Deserialize, Serialize};

/// Where the comparison with the peer's configuration stands.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerConfigState {
    /// The peer was not heard in its current generation yet, or it is an hbd
    /// that sent no `hbd-config` (one older than this check).
    #[default]
    Unknown,
    /// The peer is heartbeat: it sends no configuration, nothing is compared.
    Heartbeat,
    /// Every part both sides stated agrees.
    Same,
    /// At least one part differs (see the differences).
    Differs,
}

impl PeerConfigState {
    /// Every state (the metrics export one series each).
    pub const ALL: [PeerConfigState; 4] = [
        PeerConfigState::Unknown,
        PeerConfigState::Heartbeat,
        PeerConfigState::Same,
        PeerConfigState::Differs,
    ];

    /// The serde name.
    pub fn word(self) -> &'static str {
        match self {
            PeerConfigState::Unknown => "unknown",
            PeerConfigState::Heartbeat => "heartbeat",
            PeerConfigState::Same => "same",
            PeerConfigState::Differs => "differs",
        }
    }
}

/// The comparison for `status`: its state and, when it differs, what.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    pub state: PeerConfigState,
    /// One line per difference, naming the part and both values.
    pub differences: Vec<String>,
}

pub(super) struct PairCheck {
    /// Ours, from the configuration (again after a reload).
    mine: Agreement,
    /// The peer generation our `hbd-config` went to (sent once per generation).
    sent_for: Option<u64>,
    /// The peer writes heartbeat's `ld`: never send it our parts.
    heartbeat: Option<bool>,
    /// The peer's parts, as it last sent them in its current generation.
    peer: Option<Agreement>,
    differences: Vec<String>,
}

impl PairCheck {
    pub(super) fn new(mine: Agreement) -> PairCheck {
        PairCheck {
            mine,
            sent_for: None,
            heartbeat: None,
            peer: None,
            differences: Vec::new(),
        }
    }

    pub(super) fn status(&self) -> PeerConfig {
        let state = match (self.heartbeat, &self.peer) {
            (Some(true), _) => PeerConfigState::Heartbeat,
            (_, None) => PeerConfigState::Unknown,
            (_, Some(_)) if self.differences.is_empty() => PeerConfigState::Same,
            (_, Some(_)) => PeerConfigState::Differs,
        };
        PeerConfig {
            state,
            differences: self.differences.clone(),
        }
    }
}

impl Machine {
    /// The peer was heard in its current generation without heartbeat's `ld`.
    pub(super) fn pair_is_hbd(&self) -> bool {
        self.pair.heartbeat == Some(false)
    }

    /// A fresh sequenced message from the peer of generation `gen`; `load`:
    /// it carried heartbeat's `ld`. The first from an hbd peer in a
    /// generation gets our parts.
    pub(super) fn peer_kind_seen(&mut self, now: Instant, gen: u64, load: bool) {
        self.pair.heartbeat = Some(load);
        if load {
            self.pair.peer = None;
            self.pair.differences.clear();
        } else if self.pair.sent_for != Some(gen) {
            self.send_hbd_config(now, gen);
        }
    }

    fn send_hbd_config(&mut self, now: Instant, gen: u64) {
        self.pair.sent_for = Some(gen);
        let body = Body::HbdConfig(Box::new(self.pair.mine.clone()));
        self.send(now, None, body);
    }

    /// A new generation of the peer may run another configuration: it will
    /// send it; until then there is nothing to compare.
    pub(super) fn pair_check_peer_restarted(&mut self) {
        self.pair.peer = None;
        self.pair.heartbeat = None;
        self.pair.differences.clear();
    }

    /// The peer's `hbd-config`.
    pub(super) fn handle_hbd_config(&mut self, a: Box<Agreement>) {
        let differences = self.pair.mine.differences(&a, &self.peer, &self.cfg);
        let first = self.pair.peer.replace(*a).is_none();
        self.compared(differences, first);
    }

    /// Our configuration changed (reload): tell an hbd peer, and compare again.
    pub(super) fn pair_check_reloaded(&mut self, now: Instant) {
        let mine = Agreement::of(&self.cfg);
        if mine == self.pair.mine {
            return;
        }
        self.pair.mine = mine;
        let gen = self.delivery.peer_generation;
        if self.pair.heartbeat == Some(false) && !self.liveness.peer_dead {
            if let Some(gen) = gen {
                self.send_hbd_config(now, gen);
            }
        }
        if let Some(peer) = &self.pair.peer {
            let d = self.pair.mine.differences(peer, &self.peer, &self.cfg);
            self.compared(d, false);
        }
    }

    /// Reports a comparison: a mismatch each time what differs changes, an
    /// agreement the `first` time in a peer generation or when it ends a mismatch.
    fn compared(&mut self, differences: Vec<String>, first: bool) {
        let was = std::mem::replace(&mut self.pair.differences, differences.clone());
        let node = self.peer.clone();
        if differences.is_empty() {
            if first || !was.is_empty() {
                self.event(Event::PeerConfigAgrees { node });
            }
        } else if first || differences != was {
            self.event(Event::PeerConfigDiffers { node, differences });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spelling_is_the_word() {
        for s in PeerConfigState::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.word())
            );
        }
    }
}
