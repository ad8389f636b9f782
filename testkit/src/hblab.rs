//! The interop lab (root only): a [`NsPair`] whose nodes each run the real
//! heartbeat 3.0.6 or hbd, on heartbeat's own paths.
//!
//! Each node has its own `/etc/ha.d` (heartbeat's installed harc, rc.d,
//! resource.d and shellfuncs, then the lab's `ha.cf`, `haresources`,
//! `authkeys`), `/var/lib/heartbeat`, `/run` and `/var/log`, as heartbeat
//! expects its own machine (spec lab notes); `uname -n` is the node name. One
//! `ha.cf` serves both nodes unchanged: ucast on `hb0`, the socat cable at
//! `/run/ttyHB0`, heartbeat's IPaddr on `svc0`.
//!
//! Resources are `rec::NAME` (a resource.d script that records start/stop with
//! a millisecond time stamp in the node's `/run/hbrec`) and, where asked,
//! heartbeat's own `IPaddr`. [`Pair::overlaps`] replays both records to prove a
//! group never ran on both nodes at once.

use crate::nspair::{Dir, Layout, NsPair, Opts};
use crate::skip::Needs;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Debian's heartbeat 3.0.6 master control process (package `heartbeat`).
pub const HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";
pub const HB_STANDBY: &str = "/usr/share/heartbeat/hb_standby";
pub const HB_TAKEOVER: &str = "/usr/share/heartbeat/hb_takeover";
pub const CL_STATUS: &str = "/usr/bin/cl_status";

/// The tty both nodes' ha.cf name; a symlink to that node's end of the cable.
pub const TTY: &str = "/run/ttyHB0";

/// The `rec` resource script: records each start and stop with the time in ms
/// so that a test can replay where a group ran; `status` speaks heartbeat's
/// words (ResourceManager reads only stdout).
const REC_SCRIPT: &str = r#"#!/bin/sh
# rec NAME start|stop|status -- interop lab resource
name="$1"; op="$2"; dir=/run/hbrec
mkdir -p "$dir"
now=$(date +%s%3N)
case "$op" in
start)  touch "$dir/$name.on"; echo "$now $(uname -n) start $name" >> "$dir/log" ;;
stop)   if [ -e "$dir/$name.on" ]; then rm -f "$dir/$name.on"; echo "$now $(uname -n) stop $name" >> "$dir/log"; fi ;;
status) if [ -e "$dir/$name.on" ]; then echo "rec $name running"; else echo "rec $name stopped"; fi ;;
*)      echo "usage: rec NAME start|stop|status" >&2; exit 1 ;;
esac
exit 0
"#;

/// What the interop lab needs: the namespace lab, heartbeat 3.0.6 (its
/// daemon, tools, directories and resource.d) and socat.
pub fn needs(test: &str) -> Needs {
    Needs::new(test)
        .lab()
        .file(HEARTBEAT, "heartbeat")
        .file(HB_STANDBY, "heartbeat")
        .file(CL_STATUS, "heartbeat")
        .file("/usr/lib/heartbeat", "heartbeat")
        .file("/var/lib/heartbeat", "heartbeat")
        .file("/etc/ha.d/resource.d/IPaddr", "heartbeat")
        .tool("socat", "socat")
}

/// Milliseconds since the epoch: the `rec` script's time stamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Which daemon a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    Heartbeat,
    Hbd,
}

/// The cluster both nodes are configured with (one ha.cf, one haresources).
#[derive(Clone, Debug)]
pub struct Setup {
    pub keepalive: &'static str,
    pub deadtime: &'static str,
    pub warntime: &'static str,
    pub initdead: &'static str,
    pub auto_failback: &'static str,
    pub ucast: bool,
    pub serial: bool,
    /// haresources lines (node names `nodea`, `nodeb`).
    pub haresources: String,
    /// authkeys of nodea and nodeb (the same unless testing a mismatch).
    pub authkeys: [String; 2],
    /// Lines appended to ha.cf.
    pub extra: String,
}

impl Default for Setup {
    fn default() -> Setup {
        let keys = "auth 1\n1 sha1 interop-secret\n".to_string();
        Setup {
            keepalive: "500ms",
            deadtime: "2",
            warntime: "1",
            initdead: "4",
            auto_failback: "on",
            ucast: true,
            serial: false,
            haresources: "nodea rec::ga\nnodeb rec::gb\n".into(),
            authkeys: [keys.clone(), keys],
            extra: String::new(),
        }
    }
}

impl Setup {
    /// The ha.cf both nodes read.
    pub fn ha_cf(&self) -> String {
        let mut s =
            String::from("# interop lab\nlogfacility none\nuse_logd no\nlogfile /var/log/ha-log\n");
        s += &format!(
            "keepalive {}\ndeadtime {}\nwarntime {}\ninitdead {}\n",
            self.keepalive, self.deadtime, self.warntime, self.initdead
        );
        s += "udpport 694\n";
        if self.ucast {
            s += "ucast hb0 10.250.0.1\nucast hb0 10.250.0.2\n";
        }
        if self.serial {
            s += &format!("baud 19200\nserial {TTY}\n");
        }
        s += &format!(
            "auto_failback {}\ncrm no\nnode nodea\nnode nodeb\n",
            self.auto_failback
        );
        s += &self.extra;
        s
    }
}

/// Two nodes, `nodea` (index 0) and `nodeb` (index 1), and what each runs.
pub struct Pair {
    pub setup: Setup,
    pub imps: [Impl; 2],
    pub ns: NsPair,
}

pub const A: usize = 0;
pub const B: usize = 1;

/// What a node says about its peer and its own resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// The peer's state as this node sees it (`active`, `up`, `init`, `dead`).
    pub peer: String,
    /// This node's holdings (`none`, `local`, `foreign`, `all`, `transition`).
    pub rsc_hold: String,
}

impl Pair {
    /// Builds the machines, cables and both nodes' `/etc/ha.d`; starts nothing.
    pub fn new(setup: Setup, imps: [Impl; 2], hbd: &Path) -> Pair {
        let opts = Opts {
            layout: Layout::Heartbeat {
                heartbeat_etc: true,
            },
            client: false,
            ..Opts::default()
        };
        let ns = NsPair::new(opts, hbd);
        for i in [A, B] {
            let etc = ns.host(i, Dir::Etc);
            fs::write(etc.join("ha.cf"), setup.ha_cf()).expect("ha.cf");
            fs::write(etc.join("haresources"), &setup.haresources).expect("haresources");
            let keys = etc.join("authkeys");
            fs::write(&keys, &setup.authkeys[i]).expect("authkeys");
            fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).expect("chmod authkeys");
            let rec = etc.join("resource.d/rec");
            fs::write(&rec, REC_SCRIPT).expect("rec script");
            fs::set_permissions(&rec, fs::Permissions::from_mode(0o755)).expect("chmod rec");
            fs::create_dir_all(ns.host(i, Dir::Run).join("hbrec")).expect("hbrec");
        }
        Pair { setup, imps, ns }
    }

    pub fn name(&self, i: usize) -> &str {
        self.ns.names[i]
    }

    /// Runs a command inside node `i` (clean environment); its output.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, i: usize, args: &[S]) -> Output {
        self.ns.run(i, args)
    }

    /// Pulls the serial cable (the relay stops moving bytes) or plugs it back.
    pub fn serial_cable(&self, plugged: bool) {
        self.ns.serial_cable(plugged);
    }

    /// Takes the ucast link down or up on one node.
    pub fn ucast_link(&self, i: usize, up: bool) {
        self.ns.nodes[i].set_link("hb0", up);
    }

    /// Starts node `i`'s daemon (as its current [`Impl`]).
    pub fn start(&mut self, i: usize) {
        let cmd = match self.imps[i] {
            Impl::Heartbeat => self.ns.command(i, &[HEARTBEAT, "-f"]),
            Impl::Hbd => {
                let mut c = self.ns.hbd_command(i, Path::new("/etc/ha.d"));
                c.args(["--node", self.ns.names[i]]);
                c
            }
        };
        self.ns.start(i, cmd);
    }

    /// Graceful stop (SIGTERM) and wait until every daemon process is gone.
    pub fn stop(&mut self, i: usize, within: Duration) {
        if self.ns.pid(i).is_none() {
            return;
        }
        if self.ns.terminate(i, within).is_none() {
            panic!(
                "{}: daemon did not exit within {within:?} of SIGTERM\n{}",
                self.name(i),
                self.tail(i, 60)
            );
        }
        // heartbeat's children leave a moment after the master.
        let rest: Vec<u32> = self
            .ns
            .processes(i)
            .into_iter()
            .filter(|&p| is_daemon_process(p))
            .collect();
        assert!(
            crate::lab::wait_gone(&rest, Duration::from_secs(5)),
            "{}: daemon processes {rest:?} still run after the master exited",
            self.name(i)
        );
    }

    /// The machine crashes ([`NsPair::crash`]: every process and floating
    /// address gone); what ran there is recorded as crashed, for
    /// [`Pair::overlaps`].
    pub fn crash(&mut self, i: usize) {
        let groups = self.active(i);
        self.ns.crash(i);
        let dir = self.ns.host(i, Dir::Run).join("hbrec");
        let t = now_ms();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .ok();
        for g in groups {
            let _ = fs::remove_file(dir.join(format!("{g}.on")));
            if let Some(l) = log.as_mut() {
                let _ = writeln!(l, "{t} {} crash {g}", self.name(i));
            }
        }
    }

    /// Groups whose `rec` marker exists on node `i` (started, not stopped).
    pub fn active(&self, i: usize) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.ns.host(i, Dir::Run).join("hbrec"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".on").map(str::to_string))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether `addr` (e.g. `192.0.2.50`) is configured on node `i`'s svc0.
    pub fn has_addr(&self, i: usize, addr: &str) -> bool {
        self.ns.has_svc_addr(i, addr)
    }

    /// Node `i`'s `/var/lib/heartbeat`, on the host.
    pub fn lib_dir(&self, i: usize) -> PathBuf {
        self.ns.host(i, Dir::Lib)
    }

    /// Switches node `i` to another implementation (it must be stopped), as
    /// a migration step: hbd takes heartbeat's generation (so that the
    /// peer's replay check accepts it, spec §5.4) and uuid; heartbeat, when
    /// going back, takes hbd's generation.
    pub fn switch(&mut self, i: usize, imp: Impl) {
        assert!(
            self.ns.pid(i).is_none(),
            "{}: stop it before switching",
            self.name(i)
        );
        self.imps[i] = imp;
        let lib = self.lib_dir(i);
        if imp == Impl::Heartbeat {
            // Going back: heartbeat continues from hbd's generation.
            let from = lib.join("hbd/hb_generation");
            if from.exists() {
                fs::copy(&from, lib.join("hb_generation")).expect("copy hb_generation back");
            }
        }
        if imp == Impl::Hbd {
            let st = lib.join("hbd");
            fs::create_dir_all(&st).expect("hbd state dir");
            // The uuid too, so the peer does not see the node "change its
            // uuid" (harmless, but one log line fewer to explain).
            for f in ["hb_generation", "hb_uuid"] {
                let from = lib.join(f);
                if from.exists() {
                    fs::copy(&from, st.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
                }
            }
        }
    }

    /// What node `i` says: heartbeat via `cl_status`, hbd via `hbd status --json`.
    pub fn view(&self, i: usize) -> Option<View> {
        let peer = self.name(1 - i);
        match self.imps[i] {
            Impl::Heartbeat => {
                let ns = self.run(i, &[CL_STATUS, "nodestatus", peer]);
                let rs = self.run(i, &[CL_STATUS, "rscstatus"]);
                let p = String::from_utf8_lossy(&ns.stdout).trim().to_string();
                let r = String::from_utf8_lossy(&rs.stdout).trim().to_string();
                if p.is_empty() || r.is_empty() {
                    return None;
                }
                Some(View {
                    peer: p,
                    rsc_hold: r,
                })
            }
            Impl::Hbd => {
                let v = self.hbd_status(i)?;
                Some(View {
                    peer: v["peer"]["state"].as_str()?.to_string(),
                    rsc_hold: v["rsc_hold"].as_str()?.to_string(),
                })
            }
        }
    }

    /// `hbd status --json` inside node `i`.
    pub fn hbd_status(&self, i: usize) -> Option<serde_json::Value> {
        self.ns.status_json(i)
    }

    /// heartbeat's `cl_status ARGS` inside node `i`: (exit code, stdout).
    pub fn cl_status(&self, i: usize, args: &[&str]) -> (i32, String) {
        let mut all = vec![CL_STATUS];
        all.extend_from_slice(args);
        let out = self.run(i, &all);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    }

    /// Operator standby on node `i`: `hb_standby SET` or `hbd standby SET`.
    pub fn standby(&self, i: usize, set: &str) {
        self.operator(i, "standby", set);
    }

    /// Operator takeover on node `i`: `hb_takeover SET` or `hbd takeover SET`.
    pub fn takeover(&self, i: usize, set: &str) {
        self.operator(i, "takeover", set);
    }

    fn operator(&self, i: usize, what: &str, set: &str) {
        let out = match self.imps[i] {
            Impl::Heartbeat => {
                let tool = if what == "standby" {
                    HB_STANDBY
                } else {
                    HB_TAKEOVER
                };
                self.run(i, &[tool, set])
            }
            Impl::Hbd => self.run(
                i,
                &[
                    self.ns.hbd().as_os_str(),
                    what.as_ref(),
                    set.as_ref(),
                    "--run-dir".as_ref(),
                    "/run/hbd".as_ref(),
                ],
            ),
        };
        assert!(
            out.status.success(),
            "{}: {what} {set} failed ({}): {}{}",
            self.name(i),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until `f` holds, or panics with `what` and the last state seen.
    pub fn wait(&self, what: &str, within: Duration, mut f: impl FnMut(&Pair) -> bool) {
        let t0 = Instant::now();
        // Every 50 ms: a view runs cl_status or `hbd status` in both nodes.
        let ok = hbd::demo::wait_for(within, Duration::from_millis(50), || f(self).then_some(()));
        if ok.is_none() {
            panic!(
                "timed out after {:?} waiting for: {what}\n  nodea active {:?}, view {:?}\n  nodeb active {:?}, view {:?}",
                t0.elapsed(),
                self.active(A),
                self.view(A),
                self.active(B),
                self.view(B),
            );
        }
    }

    /// Waits until node `i` runs exactly `groups` and the other node exactly
    /// `other`; returns how long it took.
    pub fn wait_groups(
        &self,
        what: &str,
        within: Duration,
        i: usize,
        groups: &[&str],
        other: &[&str],
    ) -> Duration {
        let t0 = Instant::now();
        self.wait(what, within, |p| {
            p.active(i) == groups && p.active(1 - i) == other
        });
        t0.elapsed()
    }

    /// Waits until each node says the other is `active`.
    pub fn wait_both_see_active(&self, within: Duration) {
        self.wait("each node reports the other active", within, |p| {
            [A, B]
                .iter()
                .all(|&i| p.view(i).map(|v| v.peer == "active").unwrap_or(false))
        });
    }

    /// Every moment a group ran on both nodes, from both nodes' records.
    pub fn overlaps(&self) -> Vec<String> {
        let mut events: Vec<(u64, usize, String, String)> = Vec::new();
        for i in [A, B] {
            let text =
                fs::read_to_string(self.ns.host(i, Dir::Run).join("hbrec/log")).unwrap_or_default();
            for line in text.lines() {
                let w: Vec<&str> = line.split_whitespace().collect();
                if w.len() == 4 {
                    if let Ok(t) = w[0].parse::<u64>() {
                        events.push((t, i, w[2].to_string(), w[3].to_string()));
                    }
                }
            }
        }
        // On a tie a stop sorts first: a handover in the same millisecond is fine.
        events.sort_by_key(|(t, i, op, _)| (*t, op == "start", *i));
        let mut on: std::collections::HashMap<String, [bool; 2]> = Default::default();
        let mut bad = Vec::new();
        for (t, i, op, g) in events {
            let e = on.entry(g.clone()).or_default();
            e[i] = op == "start";
            if e[0] && e[1] {
                bad.push(format!(
                    "{g} on both nodes at {t} (started on {})",
                    self.name(i)
                ));
            }
        }
        bad
    }

    /// Panics if a group ever ran on both nodes.
    pub fn assert_no_overlap(&self) {
        let bad = self.overlaps();
        assert!(bad.is_empty(), "a group ran on both nodes: {bad:?}");
    }

    /// Last lines of both nodes' logs.
    pub fn tails(&self, lines: usize) -> String {
        format!("{}{}", self.tail(A, lines), self.tail(B, lines))
    }

    /// Node `i`'s logs: heartbeat's ha-log (also hbd's logfile) and the
    /// daemon's output.
    pub fn logs(&self, i: usize) -> String {
        let mut s = String::new();
        for f in ["ha-log", "daemon.out"] {
            let p = self.ns.host(i, Dir::Log).join(f);
            // heartbeat dumps bad packets (raw uuid bytes) into its log.
            if let Ok(text) = fs::read(&p).map(|b| String::from_utf8_lossy(&b).into_owned()) {
                s += &format!("---- {} {f}\n{text}", self.name(i));
            }
        }
        s
    }

    /// Lines of node `i`'s logs (ha-log and daemon output) containing `needle`.
    pub fn log_lines(&self, i: usize, needle: &str) -> Vec<String> {
        self.logs(i)
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    fn tail(&self, i: usize, lines: usize) -> String {
        let mut s = String::new();
        for f in ["ha-log", "daemon.out"] {
            let p = self.ns.host(i, Dir::Log).join(f);
            if p.exists() {
                s += &format!(
                    "---- {} ({:?}) {}\n{}\n",
                    self.name(i),
                    self.imps[i],
                    p.display(),
                    hbd::demo::cluster::tail(&p, lines)
                );
            }
        }
        let rec = self.ns.host(i, Dir::Run).join("hbrec/log");
        if let Ok(text) = fs::read_to_string(rec) {
            s += &format!("---- {} resource records\n{text}", self.name(i));
        }
        s
    }
}

/// A process that is one of the daemons (not a resource script or holder).
fn is_daemon_process(pid: u32) -> bool {
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    exe.ends_with("heartbeat") || exe.ends_with("hbd") || comm.trim() == "heartbeat"
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::env::var_os("HBLAB_LOGS").is_some() && !std::thread::panicking() {
            eprintln!(
                "==== interop lab {}: logs of both nodes\n{}",
                self.ns.id(),
                self.tails(400)
            );
        }
        if std::thread::panicking() {
            // The NsPair prints both nodes' logs; where the groups ran is ours.
            for i in [A, B] {
                let rec = self.ns.host(i, Dir::Run).join("hbrec/log");
                let text = fs::read_to_string(rec).unwrap_or_default();
                eprintln!("---- {} resource records\n{text}", self.name(i));
            }
        }
    }
}
