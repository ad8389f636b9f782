//! heartbeat's `watchdog DEVICE` (softdog or a hardware watchdog): armed when
//! the daemon starts, fed each time the core sends its own heartbeat, closed
//! with the magic `V` only after a clean stop. A core that stops sending
//! heartbeats (a hung loop, a stopped process) stops feeding it, and an hbd
//! that ends any other way (kill -9, a crash, a second SIGTERM) leaves it
//! armed: either way the kernel resets the machine once the timeout passes,
//! so a frozen-but-alive owner cannot keep resources the peer has taken over.

use crate::core::Output;
use crate::time::Duration;
use crate::wire::repr::{Body, Kind};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// What a feed writes: anything but `V`, which would arm the magic close.
const FEED: &[u8] = b"\0";
/// Written just before a clean close: the driver stops the timer.
const MAGIC_CLOSE: &[u8] = b"V";

#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error("watchdog {path}: cannot open it: {source} (for softdog: modprobe softdog)")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The device, open and armed.
#[derive(Debug)]
pub struct Watchdog {
    file: File,
    path: PathBuf,
    /// The timeout asked of the driver (heartbeat's rule), for the log.
    timeout: std::time::Duration,
    /// A failed feed is logged once, not at every heartbeat.
    feed_failed: bool,
}

/// heartbeat's timeout: deadtime plus 10 ms, rounded up to whole seconds (the
/// driver's unit), so the machine resets no sooner than the peer declares it
/// dead.
pub fn timeout_for(deadtime: Duration) -> std::time::Duration {
    let ms = deadtime.millis() + 10;
    std::time::Duration::from_secs(ms.div_ceil(1000))
}

/// Whether `out` is the core sending its own heartbeat: the sign of progress
/// the watchdog is fed on (timers fire, the core decides, the shell sends).
pub fn is_own_heartbeat(out: &Output) -> bool {
    matches!(
        out,
        Output::Send { msg, .. }
            if matches!(msg.kind, Kind::Sequenced { body: Body::Status { .. }, .. })
    )
}

#[allow(unsafe_code)]
mod ioctl {
    // WDIOC_SETTIMEOUT = _IOWR('W', 6, int) (linux/watchdog.h).
    nix::ioctl_readwrite!(set_timeout, b'W', 6, libc::c_int);
}

impl Watchdog {
    /// Opens (which arms) the device and asks for heartbeat's timeout. A
    /// device that cannot be opened refuses the start: the operator asked
    /// for self-fencing. One that takes no timeout (not a watchdog driver,
    /// or a fixed timeout) is logged and used as it is.
    pub fn open(path: &Path, deadtime: Duration) -> Result<Watchdog, WatchdogError> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| WatchdogError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let timeout = timeout_for(deadtime);
        let mut secs = timeout.as_secs() as libc::c_int;
        #[allow(unsafe_code)]
        // SAFETY: the fd is open for the whole call, and `secs` is a valid
        // int the driver reads and overwrites with the timeout it applied.
        let set = unsafe { ioctl::set_timeout(file.as_raw_fd(), &mut secs) };
        match set {
            Ok(_) => log::info!(
                "watchdog {}: armed, timeout {}s (deadtime {deadtime} + 10ms, rounded up); fed with each heartbeat sent",
                path.display(),
                secs
            ),
            Err(e) => log::warn!(
                "watchdog {}: armed, but its timeout cannot be set to {}s ({e}): the driver's own applies",
                path.display(),
                timeout.as_secs()
            ),
        }
        Ok(Watchdog {
            file,
            path: path.to_path_buf(),
            timeout,
            feed_failed: false,
        })
    }

    /// Feeds it: call when the core sent its own heartbeat.
    pub fn feed(&mut self) {
        match self.file.write_all(FEED) {
            Ok(()) => self.feed_failed = false,
            Err(e) if !self.feed_failed => {
                self.feed_failed = true;
                log::error!(
                    "watchdog {}: cannot feed it: {e}; the kernel resets this machine within {}s unless a feed succeeds",
                    self.path.display(),
                    self.timeout.as_secs()
                );
            }
            Err(_) => {}
        }
    }

    /// After a clean stop (every resource released): the magic close
    /// disarms it.
    pub fn disarm(mut self) {
        match self.file.write_all(MAGIC_CLOSE) {
            Ok(()) => log::info!("watchdog {}: disarmed (clean stop)", self.path.display()),
            Err(e) => log::error!(
                "watchdog {}: cannot disarm it ({e}): the kernel resets this machine within {}s",
                self.path.display(),
                self.timeout.as_secs()
            ),
        }
    }

    /// Any other end: left armed on purpose (resources may still run here).
    pub fn leave_armed(self) {
        log::error!(
            "watchdog {}: left armed (the stop was not clean): the kernel resets this machine within {}s",
            self.path.display(),
            self.timeout.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Action, GroupId, Step, StepId};
    use crate::wire::repr::Repr;

    fn send(body: Body) -> Output {
        Output::Send {
            msg: Repr {
                src: "alpha".into(),
                srcuuid: None,
                dest: None,
                destuuid: None,
                generation: 1,
                ts: 1,
                ttl: None,
                load: None,
                kind: Kind::Sequenced { seq: 1, body },
            },
            link: None,
        }
    }

    #[test]
    fn timeout_is_deadtime_plus_10ms_rounded_up_to_seconds() {
        assert_eq!(timeout_for(Duration::from_secs(30)).as_secs(), 31);
        assert_eq!(timeout_for(Duration::from_millis(990)).as_secs(), 1);
        assert_eq!(timeout_for(Duration::from_millis(2500)).as_secs(), 3);
    }

    #[test]
    fn only_our_own_heartbeat_feeds_it() {
        let status = Body::Status {
            st: Some("active".into()),
            dt: Some(10_000),
            link: None,
            hbd: Default::default(),
        };
        assert!(is_own_heartbeat(&send(status)));
        assert!(!is_own_heartbeat(&send(Body::Starting)));
        assert!(!is_own_heartbeat(&Output::Run(Step {
            id: StepId(1),
            group: GroupId(0),
            resource: 0,
            action: Action::Start,
        })));
    }

    #[test]
    fn feeds_then_disarms_a_device_file() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("watchdog");
        std::fs::write(&dev, b"").unwrap();
        let mut w = Watchdog::open(&dev, Duration::from_secs(2)).unwrap();
        w.feed();
        w.feed();
        w.disarm();
        assert_eq!(std::fs::read(&dev).unwrap(), b"\0\0V");
        let e = Watchdog::open(&d.path().join("missing"), Duration::from_secs(2))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot open it") && e.contains("modprobe softdog"),
            "{e}"
        );
    }
}
