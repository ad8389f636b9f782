//! The shell's clock: `CLOCK_BOOTTIME` milliseconds since daemon start, so time
//! spent suspended counts (a peer silent while we slept is still silent) and
//! wall-clock jumps change nothing. Only this file reads the clock the core sees.

use crate::time::Instant;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{self, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{clock_gettime, ClockId};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use tokio::io::unix::AsyncFd;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin_ms: u64,
    /// Whether `origin_ms` is CLOCK_BOOTTIME (else CLOCK_MONOTONIC); the
    /// alarm must count on the same clock.
    boottime: bool,
    /// Unix seconds when `origin_ms` was read (for `ts` fields and log lines).
    pub wall_clock_at_zero: u64,
}

fn clock_ms(boottime: bool) -> u64 {
    let id = if boottime {
        ClockId::CLOCK_BOOTTIME
    } else {
        ClockId::CLOCK_MONOTONIC
    };
    let ts = clock_gettime(id).expect("no monotonic clock");
    (ts.tv_sec() as u64) * 1000 + (ts.tv_nsec() as u64) / 1_000_000
}

impl Clock {
    pub fn start() -> Clock {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // CLOCK_BOOTTIME exists on every Linux since 2.6.39; MONOTONIC is the
        // fallback so a strange kernel still gets a clock that never goes backwards.
        let boottime = clock_gettime(ClockId::CLOCK_BOOTTIME).is_ok();
        Clock {
            origin_ms: clock_ms(boottime),
            boottime,
            wall_clock_at_zero: wall,
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_millis(clock_ms(self.boottime).saturating_sub(self.origin_ms))
    }
}

struct TimerFdFd(TimerFd);

impl AsRawFd for TimerFdFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// The loop's timer: a timerfd on the clock's own clock, armed at the core's
/// next deadline. tokio's timer wheel wakes the process once more for any
/// deadline over 64 ms away (to move it down a level), which at idle is a
/// third of all wake-ups, and does not count time suspended.
pub struct Alarm {
    fd: AsyncFd<TimerFdFd>,
    clock: Clock,
    armed: Option<Instant>,
}

impl Alarm {
    /// Needs a tokio runtime with I/O enabled.
    pub fn new(clock: Clock) -> std::io::Result<Alarm> {
        let id = if clock.boottime {
            timerfd::ClockId::CLOCK_BOOTTIME
        } else {
            timerfd::ClockId::CLOCK_MONOTONIC
        };
        let fd = TimerFd::new(id, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)?;
        // Deprecated for borrowed fds that could be closed under the
        // registration; this one is owned by the AsyncFd it is registered in.
        #[allow(deprecated)]
        Ok(Alarm {
            fd: AsyncFd::new(TimerFdFd(fd))?,
            clock,
            armed: None,
        })
    }

    /// Arms the alarm for `at` (the clock's time; past times fire at once).
    pub fn set(&mut self, at: Instant) -> std::io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        // Never zero: a zero expiry would disarm the timer.
        let abs_ms = (self.clock.origin_ms + at.millis()).max(1);
        let ts = TimeSpec::new(
            (abs_ms / 1000) as libc::time_t,
            ((abs_ms % 1000) * 1_000_000) as libc::c_long,
        );
        self.fd.get_ref().0.set(
            Expiration::OneShot(ts),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        self.armed = Some(at);
        Ok(())
    }

    /// Waits until the armed time has passed; the alarm is then disarmed.
    pub async fn fired(&mut self) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut count = [0u8; 8];
            match nix::unistd::read(guard.get_ref().as_raw_fd(), &mut count) {
                Ok(_) => {
                    // Read means no longer readable: say so now rather than
                    // after one more read next time.
                    guard.clear_ready();
                    self.armed = None;
                    return Ok(());
                }
                // Re-armed after it had expired: the readiness was stale.
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
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

    use crate::shell::test_runtime as rt;

    #[test]
    fn alarm_fires_at_the_armed_time_not_before() {
        rt().block_on(async {
            let c = Clock::start();
            let mut a = Alarm::new(c).unwrap();
            let at = c.now() + crate::time::Duration::from_millis(120);
            a.set(at).unwrap();
            a.fired().await.unwrap();
            assert!(c.now() >= at, "fired at {} before {at}", c.now());
            // Re-armed later, then earlier: the earlier time wins.
            a.set(c.now() + crate::time::Duration::from_millis(5000))
                .unwrap();
            let soon = c.now() + crate::time::Duration::from_millis(30);
            a.set(soon).unwrap();
            a.fired().await.unwrap();
            assert!(c.now() >= soon);
            assert!(c.now() < soon + crate::time::Duration::from_millis(3000));
        });
    }

    #[test]
    fn alarm_in_the_past_fires_at_once_and_a_stale_wakeup_is_ignored() {
        rt().block_on(async {
            let c = Clock::start();
            let mut a = Alarm::new(c).unwrap();
            a.set(Instant::from_millis(0)).unwrap();
            a.fired().await.unwrap();
            // Expired but not read, then re-armed in the future: the fd's stale
            // readiness must not count as the new expiry.
            a.set(c.now()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
            let later = c.now() + crate::time::Duration::from_millis(80);
            a.set(later).unwrap();
            a.fired().await.unwrap();
            assert!(c.now() >= later, "fired at {} before {later}", c.now());
        });
    }
}
