//! Two hbd nodes on one host without root: their configuration (hbd.toml, ucast
//! on 127.0.0.1/127.0.0.2 each bound to its own address, an optional serial link
//! over a pty pair), a demo resource (a TCP service wrapped by a resource.d
//! script), and the child processes, killed by PID when dropped.
//!
//! `hbd demo` narrates one failover with it; the loopback tests (testkit's
//! `loopback::Pair`) drive the same cluster, so what the demo shows is what
//! they test.

use crate::control::client::fetch_status;
use crate::control::StatusReport;
use crate::core::{GroupState, NodeState, RscHold};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NAMES: [&str; 2] = ["alpha", "beta"];
pub const ADDRS: [&str; 2] = ["127.0.0.1", "127.0.0.2"];
/// The resource script's name in each node's resource.d.
pub const SERVICE_SCRIPT: &str = "demosvc";
/// A node advertises deadtime + 2 s to its peer for this long after it starts
/// (heartbeat's startup `dt` boost, spec §3.3); failover timings are only
/// deadtime-bound after it.
pub const DT_BOOST_FOR_MS: u64 = 5_000;
/// heartbeat's sha1 with a throwaway key: the demo signs like a real pair.
const DEMO_KEY: &str = "hbd-demo-not-a-secret";

/// What to build; `Cluster::create` writes it out.
#[derive(Clone, Debug)]
pub struct Spec {
    pub udp: bool,
    /// Slave paths of a pty pair (A for alpha, B for beta).
    pub serial: Option<(PathBuf, PathBuf)>,
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub warntime_ms: u64,
    pub initdead_ms: u64,
    /// `on`, `off` or `legacy`.
    pub auto_failback: &'static str,
    /// Whether the demo service group exists (home alpha).
    pub service: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            udp: true,
            serial: None,
            keepalive_ms: 200,
            deadtime_ms: 1000,
            warntime_ms: 500,
            initdead_ms: 2000,
            auto_failback: "on",
            service: true,
        }
    }
}

/// One node's files.
#[derive(Clone, Debug)]
pub struct NodeFiles {
    pub name: String,
    pub addr: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub log: PathBuf,
}

pub struct Cluster {
    pub dir: PathBuf,
    pub spec: Spec,
    pub udpport: u16,
    pub service_port: u16,
    pub nodes: [NodeFiles; 2],
    pub exe: PathBuf,
}

/// A UDP port free on both node addresses, from the kernel's ephemeral range.
pub fn free_udp_port() -> std::io::Result<u16> {
    for _ in 0..50 {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.2", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no UDP port free on both 127.0.0.1 and 127.0.0.2",
    ))
}

pub fn free_tcp_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn ms(v: u64) -> String {
    format!("{v}ms")
}

impl Cluster {
    /// Writes both nodes' configuration below `dir` (which must exist).
    pub fn create(dir: &Path, spec: Spec, exe: &Path) -> std::io::Result<Cluster> {
        let udpport = free_udp_port()?;
        let service_port = free_tcp_port()?;
        let nodes = [0, 1].map(|i| {
            let d = dir.join(NAMES[i]);
            NodeFiles {
                name: NAMES[i].into(),
                addr: ADDRS[i].into(),
                config: d.join("hbd.toml"),
                state_dir: d.join("state"),
                run_dir: d.join("run"),
                log: d.join("hbd.log"),
                dir: d,
            }
        });
        let c = Cluster {
            dir: dir.to_path_buf(),
            spec,
            udpport,
            service_port,
            nodes,
            exe: exe.to_path_buf(),
        };
        for i in 0..2 {
            c.write_node(i)?;
        }
        Ok(c)
    }

    /// The group key both nodes use for the service.
    pub fn service_key(&self) -> String {
        format!("{SERVICE_SCRIPT}::{}", self.service_port)
    }

    /// The TOML configuration of node `i` (hbd.toml form).
    pub fn config_text(&self, i: usize) -> String {
        let s = &self.spec;
        let n = &self.nodes[i];
        let mut t = format!(
            "# hbd demo node {name}: generated, thrown away when the demo ends.\n\
             nodes = [\"{a}\", \"{b}\"]\n\
             keepalive = \"{ka}\"\n\
             deadtime = \"{dt}\"\n\
             warntime = \"{wt}\"\n\
             initdead = \"{id}\"\n\
             udpport = {port}\n\
             auto_failback = \"{af}\"\n\
             realtime = false\n",
            name = n.name,
            a = NAMES[0],
            b = NAMES[1],
            ka = ms(s.keepalive_ms),
            dt = ms(s.deadtime_ms),
            wt = ms(s.warntime_ms),
            id = ms(s.initdead_ms),
            port = self.udpport,
            af = s.auto_failback,
        );
        if s.udp {
            t.push_str(&format!(
                "\n[[media]]\ntype = \"ucast\"\ndev = \"lo\"\npeer = \"{}\"\n",
                ADDRS[1 - i],
            ));
        }
        if let Some((a, b)) = &s.serial {
            let p = if i == 0 { a } else { b };
            t.push_str(&format!(
                "\n[[media]]\ntype = \"serial\"\npath = \"{}\"\n",
                p.display()
            ));
        }
        t.push_str("\n[auth]\nauthkeys = \"authkeys\"\n");
        if s.service {
            t.push_str(&format!(
                "\n[[group]]\nhome = \"{}\"\nresources = [\"{}\"]\n",
                NAMES[0],
                self.service_key()
            ));
        }
        // Both nodes share the host: each receives on its own address only.
        t.push_str(&format!(
            "\n[hbd]\nscript_timeout = \"10s\"\nbind = \"{}\"\n",
            ADDRS[i]
        ));
        t
    }

    /// The resource script for node `i`: start/stop/status of the demo service
    /// with a pidfile, heartbeat's argument order (port first, action last).
    pub fn script_text(&self, i: usize) -> String {
        let n = &self.nodes[i];
        format!(
            r#"#!/bin/sh
# hbd demo resource: a TCP service answering "served by {name}".
# Usage: {script} PORT start|stop|status
PORT="$1"
HBD="{exe}"
# One pidfile per port: a node may run its peer's group (another port) too.
PIDFILE="{dir}/service-$PORT.pid"
LOG="{dir}/service.log"
# Running = the pidfile names a live process; a zombie (exited, not yet reaped
# by whoever inherited it) is not running.
alive() {{
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}}
case "$2" in
start)
    alive && exit 0
    rm -f "$PIDFILE"
    # The service watches this script's parent (hbd) and exits with it, as a
    # service does when its machine dies; its output must not hold hbd's pipe.
    "$HBD" demo-service --listen 127.0.0.1:"$PORT" --node {name} \
        --watch-pid "$PPID" --pidfile "$PIDFILE" </dev/null >>"$LOG" 2>&1 &
    i=0
    while [ $i -lt 50 ]; do
        [ -s "$PIDFILE" ] && exit 0
        sleep 0.1; i=$((i+1))
    done
    echo "demo service did not start on port $PORT (see $LOG)" >&2
    exit 1 ;;
stop)
    if alive; then
        kill "$(cat "$PIDFILE")"
        i=0
        while alive && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
        alive && {{ echo "demo service did not stop" >&2; exit 1; }}
    fi
    rm -f "$PIDFILE"
    exit 0 ;;
status)
    if alive; then echo "running"; else echo "stopped"; fi
    exit 0 ;;
*)
    echo "usage: $0 PORT start|stop|status" >&2
    exit 2 ;;
esac
"#,
            name = n.name,
            script = SERVICE_SCRIPT,
            exe = self.exe.display(),
            dir = n.dir.display(),
        )
    }

    fn write_node(&self, i: usize) -> std::io::Result<()> {
        let n = &self.nodes[i];
        fs::create_dir_all(&n.dir)?;
        fs::create_dir_all(&n.state_dir)?;
        fs::create_dir_all(&n.run_dir)?;
        fs::write(&n.config, self.config_text(i))?;
        let keys = n.dir.join("authkeys");
        fs::write(&keys, format!("auth 1\n1 sha1 {DEMO_KEY}\n"))?;
        // heartbeat refuses authkeys readable by others; so does hbd.
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600))?;
        let rd = n.dir.join("resource.d");
        fs::create_dir_all(&rd)?;
        let script = rd.join(SERVICE_SCRIPT);
        fs::write(&script, self.script_text(i))?;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    /// Starts node `i`'s `hbd run`; its stdout and stderr are appended to its log.
    pub fn start(&self, i: usize) -> std::io::Result<Daemon> {
        let n = &self.nodes[i];
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("run")
            .arg("-c")
            .arg(&n.config)
            .arg("--node")
            .arg(&n.name)
            .arg("--state-dir")
            .arg(&n.state_dir)
            .arg("--run-dir")
            .arg(&n.run_dir)
            // Both nodes share the host and the port: each must receive on its
            // own address only (also `[hbd] bind` in the file).
            .arg("--bind")
            .arg(&n.addr)
            .stdout(log.try_clone()?)
            .stderr(log);
        Daemon::spawn(&n.name, &mut cmd)
    }

    pub fn status(&self, i: usize) -> Result<StatusReport, String> {
        status(&self.nodes[i].run_dir)
    }

    /// The last `lines` lines of node `i`'s log, for failure reports.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        tail(&self.nodes[i].log, lines)
    }

    pub fn log_text(&self, i: usize) -> String {
        fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Asks the demo service; Some(node) when it answered `served by <node>`.
    pub fn probe_service(&self) -> Option<String> {
        probe(self.service_port)
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A child `hbd run`, killed by its PID (SIGKILL) when dropped if still running.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    /// How it ended, once reaped by `exited`.
    status: Option<std::process::ExitStatus>,
}

impl Daemon {
    /// Starts `cmd` (stdin from /dev/null) as the process named `name`.
    pub fn spawn(name: &str, cmd: &mut Command) -> std::io::Result<Daemon> {
        let child = cmd.stdin(Stdio::null()).spawn()?;
        Ok(Daemon {
            name: name.to_string(),
            child: Some(child),
            status: None,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// kill -9: a crash as far as the peer can tell.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: Signal) -> nix::Result<()> {
        match &self.child {
            Some(c) => kill(Pid::from_raw(c.id() as i32), sig),
            None => Err(nix::errno::Errno::ESRCH),
        }
    }

    /// How the process ended, if it has (reaping it); None while it runs or
    /// after `kill9`.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                self.status = Some(st);
            }
        }
        self.status
    }

    /// SIGTERM, then wait up to `limit` for it to exit; SIGKILL after that.
    /// Returns the exit status when it exited by itself.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One status request to the daemon whose run dir is `run_dir`; the error says
/// why there is no status, for a "still waiting because" line.
pub fn status(run_dir: &Path) -> Result<StatusReport, String> {
    fetch_status(run_dir, Duration::from_secs(2)).map_err(|e| e.to_string())
}

pub fn probe(port: u16) -> Option<String> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.trim()
        .strip_prefix("served by ")
        .map(|n| n.to_string())
}

/// Polls `f` every `every` until it returns Some or `limit` passes.
pub fn wait_for<T>(
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Whether node `report` is fully up: both nodes active, stable holdings.
pub fn both_active(r: &StatusReport) -> bool {
    r.local.state == NodeState::Active
        && r.peer.state == NodeState::Active
        && r.rsc_hold != RscHold::Transition
}

/// The owner of group `key` if it runs there, per this report.
pub fn running_on(r: &StatusReport, key: &str) -> Option<String> {
    r.groups
        .iter()
        .find(|g| g.key == key)
        .filter(|g| matches!(g.state, GroupState::Running | GroupState::Peer))
        .and_then(|g| g.owner.clone())
}
