//! Time as plain integers of milliseconds, so the core and the simulator can be
//! driven by a fake clock. Only the shell turns a real clock into an [`Instant`].

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point on the monotonic timeline, in milliseconds since an arbitrary origin
/// (the shell's origin is daemon start; tests use 0).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A span of time in milliseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// Test shorthand: `t(30_000)` is the instant 30 s after the origin.
pub const fn t(ms: u64) -> Instant {
    Instant(ms)
}

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }

    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1000)
    }

    pub const fn millis(self) -> u64 {
        self.0
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }

    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero, never a panic.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, o: Duration) -> Duration {
        Duration(self.0.saturating_add(o.0))
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, o: Duration) -> Duration {
        Duration(self.0.saturating_sub(o.0))
    }
}

impl fmt::Display for Duration {
    /// `500ms` below a second, `1.02s` above: the form log lines use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 1000 {
            write!(f, "{}ms", self.0)
        } else if self.0 % 1000 == 0 {
            write!(f, "{}s", self.0 / 1000)
        } else {
            let s = format!("{:.3}", self.0 as f64 / 1000.0);
            write!(f, "{}s", s.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}", Duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_display_is_compact() {
        assert_eq!(Duration::from_millis(500).to_string(), "500ms");
        assert_eq!(Duration::from_millis(1020).to_string(), "1.02s");
        assert_eq!(Duration::from_millis(3000).to_string(), "3s");
    }

    #[test]
    fn instant_subtraction_saturates() {
        assert_eq!(t(5) - t(10), Duration::ZERO);
        assert_eq!(t(10) - t(5), Duration::from_millis(5));
    }
}
