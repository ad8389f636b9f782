//! A two-node HA lab for interop tests (root only): each node is the real
//! heartbeat 3.0.6 or hbd, on a machine of its own made of namespaces.
//!
//! A node is a network namespace plus a holder process owning a private mount
//! and UTS namespace (`uname -n` is the node name), with per-node directories
//! bind-mounted over `/etc/ha.d`, `/run`, `/var/lib/heartbeat` and `/var/log`,
//! as heartbeat expects its own machine (spec lab notes). The nodes are joined
//! by a veth pair `hb0` (10.250.0.1/.2, ucast), a veth pair `svc0`
//! (192.0.2.1/.2, for IPaddr) and a socat pty pair seen as `/run/ttyHB0` on
//! both nodes, so one `ha.cf` serves both, unchanged.
//!
//! Resources are `rec::NAME` (a resource.d script that records start/stop with
//! a millisecond time stamp in the node's `/run/hbrec`) and, where asked,
//! heartbeat's own `IPaddr`. [`Pair::overlaps`] replays both records to prove a
//! group never ran on both nodes at once.
//!
//! Built on the namespace [`Lab`] (`tests/common/lab.rs`), which owns the
//! namespaces, holders, cables and the relay and removes them in its `Drop`.
//! A [`Pair`] first kills its daemons and every process in each node's mount
//! namespace (by PID) and, when the test panicked, prints both nodes' logs.
#![allow(dead_code)] // each test uses a different part of the lab

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::lab::{self, Lab, Node, SerialPair};

/// Debian's heartbeat 3.0.6 master control process (package `heartbeat`).
pub const HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";
pub const HB_STANDBY: &str = "/usr/share/heartbeat/hb_standby";
pub const HB_TAKEOVER: &str = "/usr/share/heartbeat/hb_takeover";
pub const CL_STATUS: &str = "/usr/bin/cl_status";

/// The path a clean PATH gives the daemons and the scripts they run.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The tty both nodes' ha.cf name; a symlink to that node's end of the relay.
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

/// Whether the lab can run here; prints why not (and the test then returns).
pub fn skip_hblab(test: &str) -> bool {
    if lab::skip_lab(test) {
        return true;
    }
    for (path, package) in [
        (HEARTBEAT, "heartbeat"),
        (HB_STANDBY, "heartbeat"),
        (CL_STATUS, "heartbeat"),
        ("/usr/lib/heartbeat", "heartbeat"),
        ("/etc/ha.d/resource.d/IPaddr", "heartbeat"),
        ("/usr/bin/socat", "socat"),
        ("/usr/bin/nsenter", "util-linux"),
        ("/usr/bin/unshare", "util-linux"),
    ] {
        if !Path::new(path).exists() {
            eprintln!("skipped: {test}: {path} not found (install the Debian package {package})");
            return true;
        }
    }
    false
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Processes whose mount namespace is `ns` (as `/proc/PID/ns/mnt` names it).
fn pids_in_mntns(ns: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            fs::read_link(format!("/proc/{p}/ns/mnt"))
                .map(|l| l.to_string_lossy() == ns)
                .unwrap_or(false)
        })
        .collect()
}

fn wait_gone(pids: &[u32], within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if !pids.iter().any(|&p| pid_alive(p)) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Polls `f` every 50 ms for at most `within`.
pub fn wait_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        sleep(Duration::from_millis(50));
    }
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

/// One machine of the pair.
pub struct HaNode {
    pub name: String,
    pub imp: Impl,
    /// The lab's machine: network namespace and holder.
    pub node: Node,
    /// Host directory holding this node's etc-ha.d, run, lib, log.
    pub root: PathBuf,
    daemon: Option<Child>,
    /// Mount namespace link of the holder (`mnt:[N]`): the node's processes.
    mntns: String,
}

impl HaNode {
    /// A command run inside the node (network, mount and UTS namespaces) with a
    /// clean environment.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.node.command(args);
        cmd.env_clear()
            .env("PATH", PATH)
            .env("LANG", "C")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run nsenter: {e}", self.name))
    }

    pub fn etc(&self) -> PathBuf {
        self.root.join("etc-ha.d")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    /// Processes of this node other than the holder.
    pub fn processes(&self) -> Vec<u32> {
        pids_in_mntns(&self.mntns)
            .into_iter()
            .filter(|&p| p != self.node.holder && pid_alive(p))
            .collect()
    }

    /// Whether the daemon this lab started still runs.
    pub fn daemon_running(&mut self) -> bool {
        match self.daemon.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(|c| c.id())
    }

    /// Groups whose `rec` marker exists on this node (started, not stopped).
    pub fn active(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.run_dir().join("hbrec"))
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

    /// The addresses on the node's svc0 (for IPaddr).
    pub fn svc_addrs(&self) -> String {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.node.netns,
                "-o",
                "-4",
                "addr",
                "show",
                "dev",
                "svc0",
            ])
            .output()
            .expect("ip addr");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Removes every svc0 address but the node's own (IPaddr's floating ones).
    pub fn flush_floating(&self) {
        for line in self.svc_addrs().lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if let Some(k) = w.iter().position(|x| *x == "inet") {
                let cidr = w.get(k + 1).copied().unwrap_or("");
                if !cidr.starts_with("192.0.2.1/") && !cidr.starts_with("192.0.2.2/") {
                    quiet(Command::new("ip").args([
                        "-n",
                        &self.node.netns,
                        "addr",
                        "del",
                        cidr,
                        "dev",
                        "svc0",
                    ]));
                }
            }
        }
    }

    /// Whether `addr` (e.g. `192.0.2.50`) is configured on svc0.
    pub fn has_addr(&self, addr: &str) -> bool {
        self.svc_addrs().contains(&format!("inet {addr}/"))
    }

    /// The node's logs: heartbeat's ha-log (also hbd's logfile) and the
    /// daemon's stdout/stderr.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["ha-log", "daemon.out"] {
            let p = self.log_dir().join(f);
            // heartbeat dumps bad packets (raw uuid bytes) into its log.
            if let Ok(text) = fs::read(&p).map(|b| String::from_utf8_lossy(&b).into_owned()) {
                s += &format!("---- {} {f}\n{text}", self.name);
            }
        }
        s
    }

    fn tail(&self, lines: usize) -> String {
        let mut s = String::new();
        for f in ["ha-log", "daemon.out"] {
            let p = self.log_dir().join(f);
            // heartbeat dumps bad packets (raw uuid bytes) into its log.
            if let Ok(text) = fs::read(&p).map(|b| String::from_utf8_lossy(&b).into_owned()) {
                let all: Vec<&str> = text.lines().collect();
                let from = all.len().saturating_sub(lines);
                s += &format!(
                    "---- {} ({:?}) {} (last {} of {} lines)\n{}\n",
                    self.name,
                    self.imp,
                    p.display(),
                    all.len() - from,
                    all.len(),
                    all[from..].join("\n")
                );
            }
        }
        let rec = self.run_dir().join("hbrec/log");
        if let Ok(text) = fs::read_to_string(rec) {
            s += &format!("---- {} resource records\n{text}", self.name);
        }
        s
    }
}

/// Two nodes, `nodea` (index 0) and `nodeb` (index 1).
pub struct Pair {
    pub id: String,
    pub setup: Setup,
    pub nodes: [HaNode; 2],
    serial: SerialPair,
    hbd: PathBuf,
    // Last: dropped after Pair::drop has killed the daemons.
    lab: Lab,
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
    /// Builds the machines and cables; starts nothing.
    pub fn new(setup: Setup, imps: [Impl; 2], hbd: &Path) -> Pair {
        let lab = Lab::new();
        let na = make_node(&lab, "nodea", imps[A], &setup, A);
        let nb = make_node(&lab, "nodeb", imps[B], &setup, B);
        for (ifname, net) in [("hb0", "10.250.0"), ("svc0", "192.0.2")] {
            lab.link(&na.node, ifname, &nb.node, ifname);
            na.node.addr(ifname, &format!("{net}.1/24"));
            nb.node.addr(ifname, &format!("{net}.2/24"));
        }
        // Each node's /run/ttyHB0 points at its end of the relay (itself a
        // symlink to /dev/pts/N, which both mount namespaces see): one ha.cf.
        let serial = lab.serial_pair("tty");
        for (n, end) in [(&na, &serial.a), (&nb, &serial.b)] {
            std::os::unix::fs::symlink(end, n.run_dir().join("ttyHB0")).expect("tty symlink");
        }
        Pair {
            id: lab.id.clone(),
            setup,
            nodes: [na, nb],
            serial,
            hbd: hbd.to_path_buf(),
            lab,
        }
    }

    /// Pulls the serial cable (the relay stops moving bytes) or plugs it back.
    pub fn serial_cable(&self, plugged: bool) {
        if plugged {
            self.serial.plug();
        } else {
            self.serial.pull();
        }
    }

    /// Takes the ucast link down or up on one node.
    pub fn ucast_link(&self, i: usize, up: bool) {
        self.nodes[i].node.set_link("hb0", up);
    }

    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// Starts node `i`'s daemon (as its current [`Impl`]).
    pub fn start(&mut self, i: usize) {
        let hbd = self.hbd.clone();
        let node = &mut self.nodes[i];
        assert!(node.daemon.is_none(), "{}: already started", node.name);
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_dir().join("daemon.out"))
            .expect("daemon.out");
        let err = out.try_clone().expect("dup");
        let mut cmd = match node.imp {
            Impl::Heartbeat => node.command(&[HEARTBEAT, "-f"]),
            Impl::Hbd => {
                let mut c = node.command(&[
                    hbd.as_os_str(),
                    "run".as_ref(),
                    "-c".as_ref(),
                    "/etc/ha.d".as_ref(),
                    "--node".as_ref(),
                    node.name.as_ref(),
                    "--state-dir".as_ref(),
                    "/var/lib/heartbeat/hbd".as_ref(),
                    "--run-dir".as_ref(),
                    "/run/hbd".as_ref(),
                ]);
                c.env("HBD_LOG", "debug");
                c
            }
        };
        let child = cmd
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start: {e}", node.name));
        node.daemon = Some(child);
    }

    /// Graceful stop (SIGTERM) and wait until every daemon process is gone.
    pub fn stop(&mut self, i: usize, within: Duration) {
        let node = &mut self.nodes[i];
        let Some(mut child) = node.daemon.take() else {
            return;
        };
        lab::signal(child.id(), "TERM");
        let until = Instant::now() + within;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{}: daemon did not exit within {within:?} of SIGTERM\n{}",
                    node.name,
                    node.tail(60)
                );
            }
            sleep(Duration::from_millis(50));
        }
        // heartbeat's children leave a moment after the master.
        let rest: Vec<u32> = node
            .processes()
            .into_iter()
            .filter(|&p| is_daemon_process(p))
            .collect();
        assert!(
            wait_gone(&rest, Duration::from_secs(5)),
            "{}: daemon processes {rest:?} still run after the master exited",
            node.name
        );
    }

    /// kill -9 of every process of the node (the daemon, its children, any
    /// script), as a machine crash; the node's resources die with it.
    pub fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        for _ in 0..5 {
            let pids = node.processes();
            if pids.is_empty() {
                break;
            }
            for &p in &pids {
                lab::signal(p, "KILL");
            }
            wait_gone(&pids, Duration::from_secs(2));
        }
        if let Some(mut c) = node.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A floating address left by IPaddr dies with the machine too (kill -9
        // of heartbeat leaves it configured: spec lab notes).
        node.flush_floating();
        // What ran there is gone with the machine: record it, for overlaps().
        let dir = node.run_dir().join("hbrec");
        let t = now_ms();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .ok();
        for g in node.active() {
            let _ = fs::remove_file(dir.join(format!("{g}.on")));
            if let Some(l) = log.as_mut() {
                let _ = writeln!(l, "{t} {} crash {g}", node.name);
            }
        }
    }

    /// Switches node `i` to another implementation (it must be stopped), as
    /// a migration step: hbd takes heartbeat's generation (so that the
    /// peer's replay check accepts it, spec §5.4) and uuid; heartbeat, when
    /// going back, takes hbd's generation.
    pub fn switch(&mut self, i: usize, imp: Impl) {
        let node = &mut self.nodes[i];
        assert!(
            node.daemon.is_none(),
            "{}: stop it before switching",
            node.name
        );
        node.imp = imp;
        if imp == Impl::Heartbeat {
            // Going back: heartbeat continues from hbd's generation.
            let from = node.lib_dir().join("hbd/hb_generation");
            if from.exists() {
                fs::copy(&from, node.lib_dir().join("hb_generation"))
                    .expect("copy hb_generation back");
            }
        }
        if imp == Impl::Hbd {
            let st = node.lib_dir().join("hbd");
            fs::create_dir_all(&st).expect("hbd state dir");
            // The uuid too, so the peer does not see the node "change its
            // uuid" (harmless, but one log line fewer to explain).
            for f in ["hb_generation", "hb_uuid"] {
                let from = node.lib_dir().join(f);
                if from.exists() {
                    fs::copy(&from, st.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
                }
            }
        }
    }

    /// What node `i` says: heartbeat via `cl_status`, hbd via `hbd status --json`.
    pub fn view(&self, i: usize) -> Option<View> {
        let node = &self.nodes[i];
        let peer = &self.nodes[1 - i].name;
        match node.imp {
            Impl::Heartbeat => {
                let ns = node.run(&[CL_STATUS, "nodestatus", peer]);
                let rs = node.run(&[CL_STATUS, "rscstatus"]);
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
        let node = &self.nodes[i];
        let out = node.run(&[
            self.hbd.as_os_str(),
            "status".as_ref(),
            "--json".as_ref(),
            "--run-dir".as_ref(),
            "/run/hbd".as_ref(),
        ]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// heartbeat's `cl_status ARGS` inside node `i`: (exit code, stdout).
    pub fn cl_status(&self, i: usize, args: &[&str]) -> (i32, String) {
        let mut all = vec![CL_STATUS];
        all.extend_from_slice(args);
        let out = self.nodes[i].run(&all);
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
        let node = &self.nodes[i];
        let out = match node.imp {
            Impl::Heartbeat => {
                let tool = if what == "standby" {
                    HB_STANDBY
                } else {
                    HB_TAKEOVER
                };
                node.run(&[tool, set])
            }
            Impl::Hbd => node.run(&[
                self.hbd.as_os_str(),
                what.as_ref(),
                set.as_ref(),
                "--run-dir".as_ref(),
                "/run/hbd".as_ref(),
            ]),
        };
        assert!(
            out.status.success(),
            "{}: {what} {set} failed ({}): {}{}",
            node.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until `f` holds, or panics with `what` and the last state seen.
    pub fn wait(&self, what: &str, within: Duration, mut f: impl FnMut(&Pair) -> bool) {
        let t0 = Instant::now();
        let ok = wait_for(within, || f(self).then_some(()));
        if ok.is_none() {
            panic!(
                "timed out after {:?} waiting for: {what}\n  nodea active {:?}, view {:?}\n  nodeb active {:?}, view {:?}",
                t0.elapsed(),
                self.nodes[A].active(),
                self.view(A),
                self.nodes[B].active(),
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
            p.nodes[i].active() == groups && p.nodes[1 - i].active() == other
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
        for (i, node) in self.nodes.iter().enumerate() {
            let text = fs::read_to_string(node.run_dir().join("hbrec/log")).unwrap_or_default();
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
        format!("{}{}", self.nodes[A].tail(lines), self.nodes[B].tail(lines))
    }

    /// Lines of node `i`'s logs (ha-log and daemon output) containing `needle`.
    pub fn log_lines(&self, i: usize, needle: &str) -> Vec<String> {
        self.nodes[i]
            .logs()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

/// A process that is one of the daemons (not a resource script or holder).
fn is_daemon_process(pid: u32) -> bool {
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    exe.ends_with("heartbeat") || exe.ends_with("hbd") || comm.trim() == "heartbeat"
}

fn make_node(lab: &Lab, name: &str, imp: Impl, setup: &Setup, i: usize) -> HaNode {
    let n = lab.node(name);
    let mntns = fs::read_link(format!("/proc/{}/ns/mnt", n.holder))
        .map(|p| p.to_string_lossy().into_owned())
        .expect("holder mount namespace");
    let root = lab.dir().join(name);
    fs::create_dir_all(&root).expect("node directory");
    let node = HaNode {
        name: name.to_string(),
        imp,
        node: n,
        root,
        daemon: None,
        mntns,
    };
    // /etc/ha.d: heartbeat's installed files (harc, rc.d, resource.d,
    // shellfuncs; the resource.d wrappers source /etc/ha.d paths), then ours.
    let etc = node.etc();
    lab::must(Command::new("cp").arg("-a").arg("/etc/ha.d").arg(&etc));
    fs::write(etc.join("ha.cf"), setup.ha_cf()).expect("ha.cf");
    fs::write(etc.join("haresources"), &setup.haresources).expect("haresources");
    let keys = etc.join("authkeys");
    fs::write(&keys, &setup.authkeys[i]).expect("authkeys");
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).expect("chmod authkeys");
    let rec = etc.join("resource.d/rec");
    fs::write(&rec, REC_SCRIPT).expect("rec script");
    fs::set_permissions(&rec, fs::Permissions::from_mode(0o755)).expect("chmod rec");
    // /var/lib/heartbeat: the package's skeleton without any state.
    let lib = node.lib_dir();
    lab::must(
        Command::new("cp")
            .arg("-a")
            .arg("/var/lib/heartbeat")
            .arg(&lib),
    );
    for f in [
        "hb_generation",
        "hb_uuid",
        "hostcache",
        "delhostcache",
        "fifo",
    ] {
        let _ = fs::remove_file(lib.join(f));
    }
    fs::create_dir_all(lib.join("hbd")).expect("hbd state dir");
    // /run: heartbeat's pid file, API socket, rsctmp; hbd's socket.
    let run = node.run_dir();
    for d in [
        "heartbeat/ccm",
        "heartbeat/crm",
        "heartbeat/dopd",
        "resource-agents",
        "hbrec",
    ] {
        fs::create_dir_all(run.join(d)).expect("run dirs");
    }
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod run");
    // heartbeat takes a UUCP lock on the tty in /var/lock (= /run/lock).
    fs::create_dir_all(run.join("lock")).expect("run/lock");
    fs::set_permissions(run.join("lock"), fs::Permissions::from_mode(0o1777)).expect("chmod lock");
    lab::must(
        Command::new("chown")
            .args(["-R", "hacluster:haclient"])
            .arg(run.join("heartbeat")),
    );
    fs::create_dir_all(node.log_dir()).expect("log dir");
    for (src, dst) in [
        (etc, "/etc/ha.d"),
        (lib, "/var/lib/heartbeat"),
        (run, "/run"),
        (node.log_dir(), "/var/log"),
    ] {
        let out = node.run(&[
            "mount".as_ref(),
            "--bind".as_ref(),
            src.as_os_str(),
            dst.as_ref(),
        ]);
        assert!(
            out.status.success(),
            "{name}: mount --bind {} {dst}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    node
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("HBLAB_LOGS").is_some() {
            eprintln!(
                "==== interop lab {}: logs of both nodes\n{}",
                self.id,
                self.tails(if std::thread::panicking() { 80 } else { 400 })
            );
        }
        // 1. Every process of each node, by PID (daemons first, so that none
        //    sees the serial relay vanish: heartbeat spins on a pty EOF).
        for node in self.nodes.iter_mut() {
            for _ in 0..5 {
                let pids = node.processes();
                if pids.is_empty() {
                    break;
                }
                for &p in &pids {
                    lab::signal(p, "KILL");
                }
                wait_gone(&pids, Duration::from_secs(2));
            }
            if let Some(mut c) = node.daemon.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // 2. The lab (dropped next) removes the relay, holders, namespaces
        //    and directories.
    }
}

/// What of lab `id` is left (namespaces, mounts, loop devices).
pub fn leftovers(id: &str) -> Vec<String> {
    lab::lab_leftovers(id)
}
