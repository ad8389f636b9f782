//! The shell's clock: `CLOCK_BOOTTIME` milliseconds since daemon start, so time
//! spent suspended counts (a peer silent while we slept is still silent) and
//! wall-clock jumps change nothing. Only this file reads the clock the core sees.

use crate::time::Instant;
use nix::time::{clock_gettime, ClockId};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin_ms: u64,
    /// Unix seconds when `origin_ms` was read (for `ts` fields and log lines).
    pub wall_clock_at_zero: u64,
}

fn boottime_ms() -> u64 {
    // CLOCK_BOOTTIME exists on every Linux since 2.6.39; MONOTONIC is the fallback
    // so a strange kernel still gets a clock that never goes backwards.
    let ts = clock_gettime(ClockId::CLOCK_BOOTTIME)
        .or_else(|_| clock_gettime(ClockId::CLOCK_MONOTONIC))
        .expect("no monotonic clock");
    (ts.tv_sec() as u64) * 1000 + (ts.tv_nsec() as u64) / 1_000_000
}

impl Clock {
    pub fn start() -> Clock {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Clock {
            origin_ms: boottime_ms(),
            wall_clock_at_zero: wall,
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_millis(boottime_ms().saturating_sub(self.origin_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_starts_near_zero_and_never_goes_back() {
        let c = Clock::start();
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = c.now();
        assert!(a.millis() < 1000);
        assert!(b.millis() >= a.millis() + 19, "{a} -> {b}");
        assert!(c.wall_clock_at_zero > 1_600_000_000);
    }
}
