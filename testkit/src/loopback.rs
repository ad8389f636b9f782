//! The loopback pair: the two `hbd run` nodes of `hbd demo`
//! ([`hbd::demo::cluster`]) on 127.0.0.1 and 127.0.0.2, optionally joined by
//! the demo's pty cable too. No root needed. The daemon, fence, hostile-input
//! and jitter tests drive it; the demo narrates the same cluster.
//!
//! Every wait is a bounded poll of the control socket; both daemons are
//! killed by PID when the pair drops, even by a panic, which also prints
//! both nodes' log tails.

use hbd::control::StatusReport;
use hbd::demo::cluster::{self as dc, Cluster, Daemon, Spec, ADDRS, NAMES};
use hbd::demo::pty::PtyRelay;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Two nodes' files, their daemons once started, and the serial cable.
/// Field order is drop order: the daemons die before the cable and the
/// directory go.
pub struct Pair {
    daemons: [Option<Daemon>; 2],
    /// The pty cable, when the pair has a serial link.
    pub relay: Option<PtyRelay>,
    pub c: Cluster,
    dir: tempfile::TempDir,
}

impl Pair {
    /// Writes both nodes' configuration for `spec` (with a pty cable when
    /// `serial`); starts nothing.
    pub fn new(mut spec: Spec, serial: bool, hbd: &Path) -> Pair {
        let dir = tempfile::Builder::new()
            .prefix("hbd-pair-")
            .tempdir()
            .expect("temporary directory");
        let relay = serial.then(|| PtyRelay::start().expect("a pty pair"));
        if let Some(r) = &relay {
            spec.serial = Some((r.path_a.clone(), r.path_b.clone()));
        }
        let c = Cluster::create(dir.path(), spec, hbd).expect("write the nodes' files");
        Pair {
            daemons: [None, None],
            relay,
            c,
            dir,
        }
    }

    /// [`Pair::new`] and [`Pair::bring_up`].
    pub fn up(spec: Spec, serial: bool, hbd: &Path) -> Pair {
        let mut p = Pair::new(spec, serial, hbd);
        p.bring_up();
        p
    }

    /// The pair's temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Node `i`'s hbd.toml.
    pub fn config(&self, i: usize) -> PathBuf {
        self.c.nodes[i].config.clone()
    }

    /// Rewrites node `i`'s hbd.toml with `edit` (before it starts, or
    /// before a SIGHUP).
    pub fn edit_config(&self, i: usize, edit: impl FnOnce(String) -> String) {
        let path = self.config(i);
        let text = fs::read_to_string(&path).expect("read hbd.toml");
        fs::write(&path, edit(text)).expect("write hbd.toml");
    }

    /// Appends `text` to both nodes' hbd.toml; its last table is `[hbd]`,
    /// so `key = value` lines land there.
    pub fn append_config(&self, text: &str) {
        for i in 0..2 {
            self.edit_config(i, |t| t + text);
        }
    }

    /// Node `i` sends its heartbeats to `addr` (a relay on another loopback
    /// address) instead of to its peer.
    pub fn send_peer_to(&self, i: usize, addr: &str) {
        self.edit_config(i, |t| {
            let peer = format!("peer = \"{}\"", ADDRS[1 - i]);
            assert!(
                t.contains(&peer),
                "no ucast peer line in node {i}'s hbd.toml"
            );
            t.replace(&peer, &format!("peer = \"{addr}\""))
        });
    }

    /// Starts node `i`'s `hbd run`.
    pub fn start(&mut self, i: usize) -> &mut Daemon {
        let d = self
            .c
            .start(i)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", NAMES[i]));
        self.daemons[i].insert(d)
    }

    /// alpha first, alone until it runs the service, then beta joins a
    /// running peer (two nodes started in the same instant would wait
    /// heartbeat's 10 s startup deadlock breaker, RQSTDELAY, before anyone
    /// takes a group). Returns once both are active, nothing in transition,
    /// and the service answers from alpha.
    pub fn bring_up(&mut self) {
        let key = self.c.service_key();
        self.start(0);
        let limit = Duration::from_millis(self.c.spec.initdead_ms) + Duration::from_secs(8);
        self.wait_status(0, limit, "running the service alone", |r| {
            dc::running_on(r, &key).as_deref() == Some("alpha")
        });
        self.start(1);
        let limit = Duration::from_secs(8);
        let up = dc::wait_for(limit, Duration::from_millis(50), || {
            let a = self.c.status(0).ok()?;
            let b = self.c.status(1).ok()?;
            (dc::both_active(&a)
                && dc::both_active(&b)
                && dc::running_on(&a, &key).as_deref() == Some("alpha")
                && self.c.probe_service().as_deref() == Some("alpha"))
            .then_some(())
        });
        if up.is_none() {
            panic!(
                "pair did not come up within {limit:?}: alpha {:?} / beta {:?}",
                self.c.status(0),
                self.c.status(1)
            );
        }
    }

    /// Node `i`'s status; panics when it does not answer.
    pub fn status(&self, i: usize) -> StatusReport {
        self.c
            .status(i)
            .unwrap_or_else(|e| panic!("{} does not answer: {e}", NAMES[i]))
    }

    /// Polls node `i`'s status until `pred` holds; panics with the last one.
    pub fn wait_status(
        &self,
        i: usize,
        limit: Duration,
        what: &str,
        pred: impl Fn(&StatusReport) -> bool,
    ) -> Duration {
        crate::wait_status(NAMES[i], limit, what, || self.c.status(i).ok(), pred)
    }

    /// Polls the service until `node` answers it; how long that took.
    pub fn wait_served_by(&self, node: &str, limit: Duration) -> Duration {
        let t = Instant::now();
        dc::wait_for(limit, Duration::from_millis(10), || {
            (self.c.probe_service().as_deref() == Some(node)).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "the service is not served by {node} within {limit:?} (served by {:?})",
                self.c.probe_service()
            )
        });
        t.elapsed()
    }

    /// Waits until node `i` advertises its plain deadtime: for its first 5 s
    /// a node advertises deadtime + 2 s (spec §3.3), which the peer honours.
    pub fn wait_past_dt_boost(&self, i: usize) {
        let past = dc::DT_BOOST_FOR_MS + 2 * self.c.spec.keepalive_ms;
        self.wait_status(i, Duration::from_secs(8), "past the dt boost", |r| {
            r.uptime_ms >= past
        });
    }

    /// Node `i`'s daemon's pid, once started.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.daemons[i].as_ref().and_then(Daemon::pid)
    }

    /// Node `i`'s running daemon.
    pub fn daemon(&mut self, i: usize) -> &mut Daemon {
        self.daemons[i].as_mut().expect("node running")
    }

    /// Node `i`'s run directory, for `--run-dir`.
    pub fn run_dir(&self, i: usize) -> String {
        self.c.nodes[i].run_dir.display().to_string()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (i, name) in NAMES.iter().enumerate() {
                eprintln!("--- {name} log tail ---\n{}", self.c.log_tail(i, 40));
            }
        }
    }
}
