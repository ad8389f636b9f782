//! Every deadline the core keeps, by name, in one table (quinn-proto's
//! `TimerTable`): [`Machine::handle_timers`] runs the handler of each timer
//! that expired, in the order of [`Timer::ALL`], and `next_deadline` is the
//! table's minimum.
//!
//! Most timers are set and stopped by the decision that owns them. Six are
//! functions of state that many inputs move (the peer's and each link's
//! silence, the missing sequence numbers, the next monitor check, the next
//! fail count to expire and the next copy of our status): [`Machine::rearm`] recomputes them after every
//! input and every handler, so the table is never stale when read.
//!
//! Adding a timer: a variant here (with its place in `ALL`) and its arm in
//! `handle_timers`; the decision that needs it calls `timers.set`.

#![forbid(unsafe_code)]

use crate::core::machine::Machine;
use crate::time::Instant;

/// A named deadline.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The peer's dead time passed without a status (§5.3). Rearmed.
    PeerDead,
    /// Some link's own silence reached the dead time (§9.4). Rearmed.
    LinkDead,
    /// A missing sequence number is due to be requested (§3.5). Rearmed.
    Rexmit,
    /// RQSTDELAY: the startup negotiation's deadlock breaker (§6.5).
    Rqst,
    /// A standby exchange waited too long for the peer (§6.8).
    Standby,
    /// Legacy: ask again for the local groups nobody answered for (§9.13).
    IpRequestRetry,
    /// auto_failback, or a hand-over after a failed start, waits for both
    /// sides to be stable.
    Failback,
    /// A failed stop is tried again.
    StopRetry,
    /// A failed fence is tried again (fence_required).
    FenceRetry,
    /// ipfail's delayed give-up.
    Giveup,
    /// A resource's fail count reaches its `failure_timeout`. Rearmed.
    FailureTimeout,
    /// A monitor check is due. Rearmed.
    Monitor,
    /// The next copy of our last status on a lossy link (hbd peers). Rearmed.
    Copy,
    /// `hbd restart` with a heartbeat peer: how long the stopped node waits
    /// for the peer to finish taking its groups before the new process starts.
    RestartHandover,
    /// Our next `status` (keepalive).
    Keepalive,
}

impl Timer {
    /// Every timer, in the order expired ones are handled: the peer's death
    /// first (it decides what the others still mean), our status last (it
    /// reports what the others changed).
    pub const ALL: [Timer; 15] = [
        Timer::PeerDead,
        Timer::LinkDead,
        Timer::Rexmit,
        Timer::Rqst,
        Timer::Standby,
        Timer::IpRequestRetry,
        Timer::Failback,
        Timer::StopRetry,
        Timer::FenceRetry,
        Timer::Giveup,
        Timer::FailureTimeout,
        Timer::Monitor,
        Timer::Copy,
        Timer::RestartHandover,
        Timer::Keepalive,
    ];
}

#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    at: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }

    /// Sets or stops `t`.
    pub fn set_or_stop(&mut self, t: Timer, at: Option<Instant>) {
        self.at[t as usize] = at;
    }

    pub fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }

    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }

    pub fn is_expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

impl Machine {
    /// Runs the handler of every timer that expired by `now`, in `Timer::ALL`
    /// order. An expired timer is stopped before its handler runs; the handler
    /// sets it again if it must.
    pub(super) fn handle_timers(&mut self, now: Instant) {
        for t in Timer::ALL {
            if !self.timers.is_expired(t, now) {
                continue;
            }
            self.timers.stop(t);
            match t {
                Timer::PeerDead => self.declare_peer_dead(now),
                Timer::LinkDead => self.expire_links(now),
                Timer::Rexmit => self.request_missing(now),
                Timer::Rqst => self.rqst_expired(now),
                Timer::Standby => self.standby_expired(),
                Timer::IpRequestRetry => self.retry_ip_requests(now),
                Timer::Failback => self.maybe_failback(now),
                Timer::StopRetry => self.retry_stop(),
                Timer::FenceRetry => self.retry_fence(),
                Timer::Giveup => self.try_giveup(now),
                Timer::FailureTimeout => self.expire_failures(now),
                Timer::Monitor => self.run_due_checks(now),
                Timer::Copy => self.send_copies(now),
                Timer::RestartHandover => {
                    self.restart_handover_done("the peer did not say it took them")
                }
                Timer::Keepalive => self.send_status(now),
            }
            self.rearm();
        }
    }

    /// Recomputes the timers that follow from state rather than from one
    /// decision. Call after anything that may have moved that state.
    pub(super) fn rearm(&mut self) {
        let peer_dead = self.peer_dead_at();
        let link_dead = self.link_dead_at();
        let rexmit = self.missing_due_at();
        self.timers.set_or_stop(Timer::PeerDead, peer_dead);
        self.timers.set_or_stop(Timer::LinkDead, link_dead);
        self.timers.set_or_stop(Timer::Rexmit, rexmit);
        let monitor = self.monitor_due_at();
        let expiry = self.failures_expire_at();
        self.timers.set_or_stop(Timer::Monitor, monitor);
        self.timers.set_or_stop(Timer::FailureTimeout, expiry);
        let copy = self.red.copy_due_at();
        self.timers.set_or_stop(Timer::Copy, copy);
    }

    /// When to call `handle` with `Input::Timer` at the latest. Always Some:
    /// the keepalive is always armed.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::t;

    #[test]
    fn the_table_is_its_minimum_and_expires_by_name() {
        let mut tt = TimerTable::default();
        assert_eq!(tt.next(), None);
        tt.set(Timer::Keepalive, t(1000));
        tt.set(Timer::Rqst, t(400));
        tt.set(Timer::Giveup, t(700));
        assert_eq!(tt.next(), Some(t(400)));
        assert!(tt.is_expired(Timer::Rqst, t(400)));
        assert!(!tt.is_expired(Timer::Giveup, t(400)));
        assert!(!tt.is_expired(Timer::Standby, t(10_000)), "never set");
        tt.stop(Timer::Rqst);
        assert_eq!(tt.next(), Some(t(700)));
        tt.set_or_stop(Timer::Giveup, None);
        assert_eq!(tt.next(), Some(t(1000)));
    }

    #[test]
    fn all_lists_every_timer_once_in_its_own_slot() {
        for (i, t) in Timer::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i, "{t:?}");
        }
    }
}
