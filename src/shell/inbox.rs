//! The loop's inbox: what the tasks around the loop (links, scripts, fences,
//! ping nodes, the control socket) hand it. Events go through one channel of
//! [`LoopEvent`]s; per-link counts go through [`LinkCounters`], atomics a link
//! task bumps without waking the loop. A leaf module, so those tasks and the
//! loop depend on it and not on each other.

use crate::control::{Request, Response};
use crate::core::announce::Verdict;
use crate::core::{CheckId, CheckOutcome, StepId, StepOutcome};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

/// Datagram buffers handed back by the loop to the UDP receive tasks, so
/// that receiving a heartbeat allocates nothing once a few are in use.
#[derive(Debug, Default)]
pub struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl Buffers {
    /// More than the packets that can be in flight in the inbox at idle; a
    /// burst beyond it is freed, not hoarded.
    const KEEP: usize = 16;

    /// An empty buffer, reused when one was handed back.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    pub fn put(&self, mut b: Vec<u8>) {
        b.clear();
        if let Ok(mut v) = self.0.lock() {
            if v.len() < Self::KEEP {
                v.push(b);
            }
        }
    }
}

/// Per-link counters, shared between the loop and the link's task.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub bad_auth: AtomicU64,
    pub malformed: AtomicU64,
    pub errors: AtomicU64,
}

impl LinkCounters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Everything that wakes the daemon loop apart from timers and signals.
#[derive(Debug)]
pub enum LoopEvent {
    /// Bytes of one datagram or one serial frame. `epoch` tells events of links
    /// replaced by a reload from the current ones.
    Packet {
        link: usize,
        epoch: u64,
        bytes: Vec<u8>,
        from: Option<SocketAddr>,
    },
    /// A serial frame the framer threw away (half frame, oversized).
    Dropped {
        link: usize,
        epoch: u64,
        why: String,
    },
    Transport {
        link: usize,
        epoch: u64,
        up: bool,
    },
    StepDone {
        id: StepId,
        outcome: StepOutcome,
    },
    /// A monitor check for the core's `Output::Check` finished.
    CheckDone {
        id: CheckId,
        outcome: CheckOutcome,
    },
    /// A ping node became reachable or unreachable.
    PingNode {
        index: usize,
        up: bool,
    },
    /// A fence for the core's `Output::Fence` finished.
    FenceDone {
        node: String,
        ok: bool,
    },
    Control {
        req: Request,
        reply: oneshot::Sender<Response>,
    },
    /// A floating address's keeper (`shell/announce.rs`) started or ended
    /// its convergence check.
    Announce(AnnounceNews),
}

/// What a keeper tells the loop, for `hbd status`, the metrics and the log.
#[derive(Clone, Debug)]
pub enum AnnounceNews {
    /// The check started: `targets` are probed.
    Verifying {
        ip: std::net::IpAddr,
        iface: String,
        group: String,
        targets: Vec<std::net::IpAddr>,
    },
    /// The check ended.
    Verdict {
        ip: std::net::IpAddr,
        iface: String,
        group: String,
        verdict: Verdict,
    },
}
