//! systemd's readiness protocol (`sd_notify(3)`) without libsystemd: one unix
//! datagram per state change to `$NOTIFY_SOCKET`. With `Type=notify` the unit
//! is "started" only when we say `READY=1`, which hbd does once its links are
//! up and the startup decision (take resources or leave them to the peer) is
//! made, so `systemctl start hbd` returning means the pair has settled.
//! `WATCHDOG=1` pings keep `WatchdogSec=` from killing a healthy daemon; a
//! loop that stops turning stops pinging, and systemd restarts it.
//!
//! Outside systemd (no `$NOTIFY_SOCKET`) every call is a cheap no-op.

use crate::core::{GroupState, NodeState, Status};
use std::ffi::OsString;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET {0:?}: not an absolute path or @abstract name")]
    BadSocket(OsString),
    #[error("NOTIFY_SOCKET {path}: {source}")]
    Send {
        path: String,
        source: std::io::Error,
    },
}

/// Sends one notification (`KEY=VALUE` lines). `Ok(false)` when not run by
/// systemd (no `$NOTIFY_SOCKET`), `Ok(true)` when sent.
pub fn notify(state: &str) -> Result<bool, NotifyError> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    if path.is_empty() {
        return Ok(false);
    }
    let addr = socket_addr(&path)?;
    let err = |source| NotifyError::Send {
        path: path.to_string_lossy().into_owned(),
        source,
    };
    let sock = UnixDatagram::unbound().map_err(err)?;
    sock.send_to_addr(state.as_bytes(), &addr).map_err(err)?;
    Ok(true)
}

/// `@name` is a Linux abstract socket (systemd uses them in containers);
/// anything else must be an absolute path, as sd_notify(3) requires.
fn socket_addr(path: &OsString) -> Result<SocketAddr, NotifyError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_bytes();
    let bad = || NotifyError::BadSocket(path.clone());
    match bytes.first() {
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(&bytes[1..]).map_err(|_| bad())
        }
        Some(b'/') => SocketAddr::from_pathname(path).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// The unit is started: links up, startup decision made.
pub fn ready() -> Result<bool, NotifyError> {
    notify("READY=1")
}

/// One line for `systemctl status` (newlines would end the assignment: replaced).
pub fn status(line: &str) -> Result<bool, NotifyError> {
    notify(&format!("STATUS={}", line.replace('\n', " ")))
}

/// A graceful shutdown has begun (resources are being released).
pub fn stopping() -> Result<bool, NotifyError> {
    notify("STOPPING=1")
}

/// Keep-alive for `WatchdogSec=`.
pub fn watchdog() -> Result<bool, NotifyError> {
    notify("WATCHDOG=1")
}

/// The watchdog period systemd expects pings within, when it is meant for
/// this process (`$WATCHDOG_PID` absent or ours). Ping at half of it.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_from(&usec, pid.as_deref(), std::process::id())
}

fn watchdog_from(usec: &str, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != me {
            return None;
        }
    }
    match usec.trim().parse::<u64>() {
        Ok(0) | Err(_) => None,
        Ok(us) => Some(Duration::from_micros(us)),
    }
}

/// The one-line summary systemd shows: who we are, the peer, how many links
/// hear it, and how many groups run here (started, not merely claimed).
pub fn summary(st: &Status) -> String {
    let here = st
        .groups
        .iter()
        .filter(|g| {
            g.owner.as_deref() == Some(st.local.name.as_str()) && g.state == GroupState::Running
        })
        .count();
    let links_up = st.links.iter().filter(|l| l.up).count();
    let peer = if st.peer.name.is_empty() {
        "peer".to_string()
    } else {
        format!("peer {}", st.peer.name)
    };
    let mut line = format!(
        "{} {}, {peer} {}; {links_up}/{} links up; {here}/{} resource groups here",
        st.local.name,
        st.local.state,
        st.peer.state,
        st.links.len(),
        st.groups.len()
    );
    if st.maintenance {
        line.push_str("; MAINTENANCE (nothing started, stopped or monitored)");
    }
    if st.peer_maintenance {
        line.push_str("; peer in maintenance");
    }
    line
}

/// The daemon loop's side of the protocol: remembers what it already said.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    ready: bool,
    stopping: bool,
    last_status: String,
    watchdog: Option<Duration>,
    failed: bool,
}

impl Notifier {
    /// Reads the environment once, at startup.
    pub fn from_env() -> Notifier {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        let watchdog = if enabled { watchdog_interval() } else { None };
        if let Some(w) = watchdog {
            log::info!(
                "systemd watchdog: {}ms, pinging every {}ms",
                w.as_millis(),
                (w / 2).as_millis()
            );
        }
        Notifier {
            enabled,
            ready: false,
            stopping: false,
            last_status: String::new(),
            watchdog,
            failed: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How often the loop must call [`Notifier::ping`]; None = never.
    pub fn ping_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// The loop's ping timer (first tick at once). After a stall it pings
    /// once, not once per missed period: a burst would hide nothing.
    pub fn watchdog_timer(&self) -> Option<tokio::time::Interval> {
        self.ping_every().map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        })
    }

    /// Call after each turn of the loop with the core's snapshot: sends a
    /// changed STATUS line, and READY=1 the first time the local node is
    /// `active` (heartbeat's word for "links settled, resources negotiated").
    pub fn observe(&mut self, st: &Status) {
        if !self.enabled {
            return;
        }
        let mut line = summary(st);
        if self.stopping {
            line = format!("stopping: {line}");
        }
        let mut msg = String::new();
        if line != self.last_status {
            msg.push_str(&format!("STATUS={line}\n"));
            self.last_status = line;
        }
        if !self.ready && !self.stopping && st.local.state == NodeState::Active {
            self.ready = true;
            msg.push_str("READY=1\n");
            log::info!("told systemd we are ready ({})", self.last_status);
        }
        if !msg.is_empty() {
            self.send(&msg);
        }
    }

    /// A planned restart: the same process comes back (exec) and says
    /// READY=1 again, which ends the reload for systemd.
    pub fn restarting(&mut self) {
        if self.enabled && !self.stopping {
            self.stopping = true;
            self.send("RELOADING=1\nSTATUS=restarting in place: resources left running\n");
        }
    }

    /// A graceful shutdown started.
    pub fn stopping(&mut self) {
        if self.enabled && !self.stopping {
            self.stopping = true;
            self.send("STOPPING=1\nSTATUS=stopping: releasing resources\n");
        }
    }

    pub fn ping(&mut self) {
        if self.enabled && self.watchdog.is_some() {
            self.send("WATCHDOG=1");
        }
    }

    fn send(&mut self, msg: &str) {
        match notify(msg) {
            Ok(_) => self.failed = false,
            // Once per run of failures: a vanished socket must not flood the log.
            Err(e) if !self.failed => {
                self.failed = true;
                log::warn!("systemd notification failed: {e}");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{GroupStatus, LinkStatus, NodeStatus, RscHold};

    fn node(name: &str, state: &str) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            state: state.into(),
            generation: None,
            last_heard: None,
        }
    }

    #[test]
    fn watchdog_interval_honours_pid_and_zero() {
        assert_eq!(
            watchdog_from("2000000", None, 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            watchdog_from("2000000", Some("7"), 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(watchdog_from("2000000", Some("8"), 7), None);
        assert_eq!(watchdog_from("0", None, 7), None);
        assert_eq!(watchdog_from("soon", None, 7), None);
    }

    #[test]
    fn socket_addr_accepts_paths_and_abstract_names_only() {
        assert!(socket_addr(&"/run/systemd/notify".into()).is_ok());
        let a = socket_addr(&"@hbd-test".into()).unwrap();
        use std::os::linux::net::SocketAddrExt;
        assert_eq!(a.as_abstract_name(), Some(&b"hbd-test"[..]));
        let e = socket_addr(&"relative/sock".into()).unwrap_err();
        assert!(e.to_string().contains("relative/sock"), "{e}");
    }

    #[test]
    fn summary_names_states_links_and_groups() {
        let st = Status {
            local: node("alpha", "active"),
            peer: node("beta", "dead"),
            links: vec![
                LinkStatus {
                    name: "eth0".into(),
                    up: false,
                    last_heard: None,
                    late: 0,
                    ..LinkStatus::default()
                },
                LinkStatus {
                    name: "/dev/ttyS0".into(),
                    up: true,
                    last_heard: None,
                    late: 0,
                    ..LinkStatus::default()
                },
            ],
            groups: vec![
                GroupStatus {
                    key: "192.0.2.10".into(),
                    home: "alpha".into(),
                    owner: Some("alpha".into()),
                    state: GroupState::Running,
                    failure: None,
                    resources: vec![],
                },
                GroupStatus {
                    key: "192.0.2.11".into(),
                    home: "beta".into(),
                    owner: None,
                    state: GroupState::Stopped,
                    failure: None,
                    resources: vec![],
                },
            ],
            rsc_hold: RscHold::Local,
            recent: vec![],
            late_heartbeats: 0,
            dropped_packets: 0,
            dropped_by_reason: Default::default(),
            startup_wait: None,
            peer_config: Default::default(),
            persistent_standby: None,
            maintenance: false,
            peer_maintenance: false,
            peer_restart_deadline: None,
            heartbeat_gaps: crate::core::GapHistogram::for_timing(
                crate::time::Duration::from_secs(1),
                crate::time::Duration::from_secs(5),
                crate::time::Duration::from_secs(10),
            ),
        };
        assert_eq!(
            summary(&st),
            "alpha active, peer beta dead; 1/2 links up; 1/2 resource groups here"
        );
    }
}
