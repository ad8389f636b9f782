//! The core's front door: the one type the shell holds. It only forwards to
//! the machine, so the vocabulary in `mod.rs` stays free of the state behind it.

use crate::core::machine::Machine;
use crate::core::{Input, NodeParams, Output, Status};
use crate::time::Instant;

/// One node's core. See the module docs for how the shell drives it.
pub struct Node {
    m: Machine,
}

impl Node {
    /// Builds the core and queues the first `status` messages (`init`, then `up`).
    pub fn new(params: NodeParams, now: Instant) -> Node {
        Node {
            m: Machine::new(params, now),
        }
    }

    /// Feeds one input at time `now` (monotonic, never decreasing; an
    /// earlier `now` is treated as the last one). Call it with `Input::Timer`
    /// at `next_deadline()`. If `now` is more than 2 × keepalive past the
    /// deadline the core last asked for, the core concludes that this process
    /// was stopped, emits `Event::LocalStall` and restarts the peer's dead-time
    /// clocks instead of declaring it dead, so the shell must not call it early
    /// with a fabricated time.
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.m.handle(now, input)
    }

    /// The next decision, or None when there is nothing to do until the next input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.m.poll_output()
    }

    /// When to call `handle(now, Input::Timer)` at the latest. Always Some:
    /// the next keepalive is always due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.m.next_deadline()
    }

    pub fn status(&self) -> Status {
        self.m.status()
    }

    /// How many messages from the peer were passed to a handler after
    /// comm-up: accepted (not a duplicate, replay or message for another
    /// node) and of a type other than status, `reqnodes` and `shutdone`. It
    /// grows by one when the message just handled got there, which is when
    /// heartbeat runs its rc.d hook for it (spec §6.3; shell/hooks.rs).
    pub fn delivered(&self) -> u64 {
        self.m.delivery.delivered
    }
}
