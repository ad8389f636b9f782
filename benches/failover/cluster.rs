//! One two-node cluster of one daemon (hbd, heartbeat 3.0.6 or keepalived)
//! at one keepalive/deadtime setting, on a namespace pair of its own
//! (testkit::nspair, heartbeat's layout).
//!
//! The machines: `nodea`, `nodeb` (each a network namespace with private
//! mount and UTS namespaces, per-node `/etc/ha.d`, `/run`,
//! `/var/lib/heartbeat`, `/var/log`), the ucast link `hb0` (10.250.0.1/.2)
//! through a switch (a bridge of its own), a pty pair (crate::relay) seen as
//! `/run/ttyHB0` on both nodes, and the service LAN joining `svc0` of both
//! nodes (192.0.2.1/.2) and a `client` (192.0.2.10). The group is the
//! floating address 192.0.2.50 plus the `hbweb` HTTP service on it, port 8080.
//!
//! Every daemon line on stdout/stderr is time-stamped on arrival (the bench's
//! monotonic clock), so that hbd's takeover can be profiled from its log.
mod etc;

use testkit::lab;
use testkit::nspair::{Dir, Layout, NsPair, Opts, Serial, HB_ADDRS};

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use crate::family::{Family, FLOATING, FLOATING6_SHORT};
pub const PORT: u16 = 8080;
pub const NAMES: [&str; 2] = ["nodea", "nodeb"];

pub const HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";
pub const HB_STANDBY: &str = "/usr/share/heartbeat/hb_standby";
pub const CL_STATUS: &str = "/usr/bin/cl_status";
pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// The daemons compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Daemon {
    Hbd,
    Heartbeat,
    Keepalived,
}

impl Daemon {
    pub fn parse(s: &str) -> Option<Daemon> {
        match s {
            "hbd" => Some(Daemon::Hbd),
            "heartbeat" => Some(Daemon::Heartbeat),
            "keepalived" => Some(Daemon::Keepalived),
            _ => None,
        }
    }

    /// Executable name of every process that belongs to the daemon (a crash
    /// kills exactly these; the service and ARP announcers are left, as a
    /// crashed daemon leaves them).
    fn exe(self) -> &'static str {
        match self {
            Daemon::Hbd => "hbd",
            Daemon::Heartbeat => "heartbeat",
            Daemon::Keepalived => "keepalived",
        }
    }
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Daemon::Hbd => "hbd",
            Daemon::Heartbeat => "heartbeat",
            Daemon::Keepalived => "keepalived",
        })
    }
}

/// A keepalive/deadtime pair under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Setting {
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
}

impl Setting {
    /// `1s/3s`, `200ms/1s`, `50ms/250ms`, `20ms/100ms`.
    pub fn parse(s: &str) -> Option<Setting> {
        let (k, d) = s.split_once('/')?;
        let keepalive_ms = parse_ms(k)?;
        let deadtime_ms = parse_ms(d)?;
        (keepalive_ms > 0 && deadtime_ms > keepalive_ms).then_some(Setting {
            keepalive_ms,
            deadtime_ms,
        })
    }

    /// keepalived's VRRPv3 advertisement interval in centiseconds, chosen so
    /// that its master-down interval (3 × advert + skew, skew = (256 −
    /// priority) × advert / 256 with the backup's priority) is nearest the
    /// deadtime.
    pub fn vrrp_advert_cs(self) -> u64 {
        let factor = 3.0 + (256.0 - f64::from(BACKUP_PRIORITY)) / 256.0;
        ((self.deadtime_ms as f64 / factor / 10.0).round() as u64).max(1)
    }

    /// This setting's deadtime with keepalive = keepalived's advert
    /// interval ([`Self::vrrp_advert_cs`]): hbd with the same detection
    /// time and the same interval as keepalived.
    pub fn at_vrrp_advert(self) -> Setting {
        Setting {
            keepalive_ms: self.vrrp_advert_cs() * 10,
            deadtime_ms: self.deadtime_ms,
        }
    }

    /// keepalived's master-down interval for [`Self::vrrp_advert_cs`], in ms.
    pub fn vrrp_master_down_ms(self) -> f64 {
        let adv = self.vrrp_advert_cs() as f64 * 10.0;
        3.0 * adv + (256.0 - f64::from(BACKUP_PRIORITY)) * adv / 256.0
    }

    /// How often the daemon sends its heartbeat (keepalived: its advert).
    pub fn heartbeat_interval_ms(self, d: Daemon) -> f64 {
        match d {
            Daemon::Keepalived => self.vrrp_advert_cs() as f64 * 10.0,
            _ => self.keepalive_ms as f64,
        }
    }

    /// The time the daemon is configured to wait before declaring its peer
    /// dead: what "takeover overhead" subtracts.
    pub fn detection_ms(self, d: Daemon) -> f64 {
        match d {
            Daemon::Keepalived => self.vrrp_master_down_ms(),
            _ => self.deadtime_ms as f64,
        }
    }
}

/// Both keepalived nodes get (nearly) this priority; nopreempt keeps the
/// master where it is, so only the skew term matters.
const BACKUP_PRIORITY: u8 = 200;

fn parse_ms(s: &str) -> Option<u64> {
    if let Some(n) = s.strip_suffix("ms") {
        n.parse().ok()
    } else if let Some(n) = s.strip_suffix('s') {
        n.parse::<f64>().ok().map(|v| (v * 1000.0).round() as u64)
    } else {
        None
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |ms: u64| {
            if ms >= 1000 && ms % 1000 == 0 {
                format!("{}s", ms / 1000)
            } else {
                format!("{ms}ms")
            }
        };
        write!(f, "{}/{}", show(self.keepalive_ms), show(self.deadtime_ms))
    }
}

/// The heartbeat media of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// ucast over the veth plus an unthrottled serial cable.
    Both,
    /// ucast plus a serial cable throttled to `baud` (the moonshot).
    BothAt { baud: u32 },
    /// A serial cable alone, throttled to `baud` (hbd and heartbeat only).
    SerialOnly { baud: u32 },
    /// ucast over the veth alone: what loss on it costs, with no serial
    /// line to carry the heartbeats the veth drops.
    UcastOnly,
}

/// A daemon line with the moment it arrived.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Instant,
    pub node: usize,
    pub text: String,
}

pub type LogBook = Arc<Mutex<Vec<LogLine>>>;

/// Why a cluster could not be used.
#[derive(Debug)]
pub struct Refused(pub String);

pub struct Cluster {
    pub daemon: Daemon,
    pub setting: Setting,
    pub family: Family,
    tty: crate::relay::Relay,
    started: [Option<Instant>; 2],
    pub log: LogBook,
    /// The client's neighbour-table changes (`ip monitor neigh`), stamped.
    arp: LogBook,
    arp_watch: Option<std::process::Child>,
    /// What hbd is started with as `-c`: the ha.d directory, or an
    /// hbd.toml written by [`Self::hbd_options`].
    hbd_config: String,
    /// The node running the group, as last established.
    pub active: usize,
    /// The machines and their daemons; dropped last (after [`Drop::drop`]
    /// killed the daemons by executable name).
    pub ns: NsPair,
}

/// A log line about the floating address's agent (`IPaddr`, `IPaddr2`,
/// `IPv6addr`).
fn ip_agent(t: &str) -> bool {
    t.contains("IPaddr") || t.contains("IPv6addr")
}

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn cp_a(src: &Path, dst: &Path) {
    lab::must(Command::new("cp").arg("-a").arg(src).arg(dst));
}

impl Cluster {
    /// Builds the lab and writes every node's configuration; starts nothing.
    pub fn build(
        daemon: Daemon,
        setting: Setting,
        media: Media,
        hbd: &Path,
        repo: &Path,
    ) -> Cluster {
        Self::build_family(daemon, setting, media, Family::V4, hbd, repo)
    }

    /// [`Self::build`] with the floating address (and the client's GETs) of
    /// `family`. For IPv6 the service LAN gets a /64 besides its IPv4
    /// addresses, and `hb0` IPv6 addresses for keepalived's VRRP.
    pub fn build_family(
        daemon: Daemon,
        setting: Setting,
        media: Media,
        family: Family,
        hbd: &Path,
        repo: &Path,
    ) -> Cluster {
        let tty = crate::relay::Relay::start(match media {
            Media::Both | Media::UcastOnly => None,
            Media::SerialOnly { baud } | Media::BothAt { baud } => Some(baud),
        });
        let opts = Opts {
            layout: Layout::Heartbeat {
                // heartbeat's harc, rc.d, shellfuncs and its own resource.d
                // (IPaddr with ifconfig and send_arp), as users run it.
                heartbeat_etc: daemon == Daemon::Heartbeat,
            },
            serial: Serial::Ends(tty.ends.clone()),
            client: true,
            // Cutting the active node's port leaves the survivor's carrier
            // up: on a back-to-back cable keepalived sees its VRRP interface
            // lose carrier on both sides and both nodes enter FAULT.
            hb_switch: true,
            ..Opts::default()
        };
        let ns = NsPair::new(opts, hbd);
        for i in 0..2 {
            Self::write_etc(
                daemon,
                setting,
                media,
                family,
                i,
                &ns.host(i, Dir::Etc),
                repo,
            );
        }
        let client = ns.client.as_ref().expect("a client");
        if family == Family::V6 {
            crate::family::add_v6_addresses(&ns);
        }
        let arp: LogBook = Arc::new(Mutex::new(Vec::new()));
        let arp_watch = Command::new("ip")
            .args(["-n", &client.netns, "monitor", "neigh"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(|mut ch| {
                if let Some(o) = ch.stdout.take() {
                    stamp_lines(o, 2, arp.clone(), ns.lab().dir().join("client-neigh.log"));
                }
                ch
            });
        Cluster {
            daemon,
            setting,
            family,
            tty,
            started: [None, None],
            log: Arc::new(Mutex::new(Vec::new())),
            arp,
            arp_watch,
            hbd_config: "/etc/ha.d".to_string(),
            active: 0,
            ns,
        }
    }

    /// keepalived's own check of its configuration (advert_int included):
    /// `Some(reason)` when it refuses.
    pub fn config_test(&self) -> Option<String> {
        let out = self
            .command(
                0,
                &[KEEPALIVED, "-t", "-l", "-f", "/etc/ha.d/keepalived.conf"],
            )
            .output()
            .ok()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let bad: Vec<&str> = text
            .lines()
            .filter(|l| l.to_lowercase().contains("advert"))
            .collect();
        eprintln!("   keepalived -t: {}", text.trim().replace('\n', " | "));
        // Other complaints (exit status 6 for warnings such as script
        // security) do not stop it from running: the start will tell.
        if !bad.is_empty() {
            Some(format!("keepalived -t: {}", bad.join(" | ")))
        } else {
            None
        }
    }

    /// A point in the neighbour log (see [`Self::phases`]).
    pub fn arp_mark(&self) -> Instant {
        Instant::now()
    }

    /// Where a takeover by `surv` after the kill at `t0` spent its time,
    /// read from the survivor's time-stamped log (hbd's wording) and the
    /// client's neighbour table.
    pub fn phases(
        &self,
        surv: usize,
        t0: Instant,
        answer: Option<Instant>,
        arp_from: Instant,
    ) -> crate::measure::Phases {
        let since = |at: Instant| Some(at.saturating_duration_since(t0).as_secs_f64() * 1000.0);
        let lines: Vec<LogLine> = {
            let b = self.log.lock().unwrap_or_else(|e| e.into_inner());
            b.iter()
                .filter(|l| l.node == surv && l.at >= t0)
                .cloned()
                .collect()
        };
        let find = |pred: &dyn Fn(&str) -> bool| {
            lines
                .iter()
                .find(|l| pred(&l.text))
                .and_then(|l| since(l.at))
        };
        let mac = self.ns.nodes[surv].mac("svc0");
        let arp = {
            let b = self.arp.lock().unwrap_or_else(|e| e.into_inner());
            b.iter()
                .find(|l| {
                    l.at >= arp_from
                        && l.text
                            .split_whitespace()
                            .any(|w| w == self.family.floating_short())
                        && l.text.contains(&mac)
                })
                .map(|l| l.at)
        };
        crate::measure::Phases {
            dead: find(&|t| t.contains("declared dead") || t.contains("is dead")),
            ip_start: find(&|t| t.contains("running") && ip_agent(t) && t.contains("start")),
            ip_done: find(&|t| ip_agent(t) && t.contains("ok after")),
            client_arp: arp.and_then(since),
            svc_start: find(&|t| {
                t.contains("running") && t.contains("hbweb") && t.contains("start")
            }),
            svc_done: find(&|t| t.contains("hbweb") && t.contains("ok after")),
            answer: answer.and_then(since),
            answer_sent: None,
        }
    }

    /// Runs the service's `start` on node `i`, outside any daemon (as a
    /// keepalived site's systemd would).
    pub fn start_service(&self, i: usize) -> Result<(), Refused> {
        let out = self
            .command(
                i,
                &[
                    "/etc/ha.d/resource.d/hbweb",
                    FLOATING,
                    &PORT.to_string(),
                    "/etc/ha.d/www",
                    "start",
                ],
            )
            .output();
        check_ok(out, "hbweb start")
    }

    /// The service's listener on node `i` (hbweb's pid file: hbd's
    /// rsctmp, which is also hbweb's default).
    pub fn service_pid(&self, i: usize) -> Option<u32> {
        let f = self
            .ns
            .host(i, Dir::Run)
            .join(format!("hbd/rsctmp/hbweb-{FLOATING}-{PORT}.pid"));
        let pid: u32 = fs::read_to_string(f).ok()?.trim().parse().ok()?;
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let listens = String::from_utf8_lossy(&cmd).contains(&format!("TCP-LISTEN:{PORT},"));
        (listens && self.ns.nodes[i].pids().contains(&pid)).then_some(pid)
    }

    /// Adds a line to both nodes' ha.cf (before they start).
    pub fn append_ha_cf(&self, line: &str) {
        for i in 0..2 {
            let p = self.ns.host(i, Dir::Etc).join("ha.cf");
            let mut t = fs::read_to_string(&p).expect("ha.cf");
            t += line;
            t += "\n";
            fs::write(&p, t).expect("ha.cf");
        }
    }

    /// A command inside node `i` with a clean environment.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, i: usize, args: &[S]) -> Command {
        self.ns.command(i, args)
    }

    /// Starts node `i`'s daemon, its output time-stamped into the log book
    /// and appended to the node's `/var/log/daemon.out`.
    pub fn start(&mut self, i: usize) {
        let mut cmd = match self.daemon {
            Daemon::Heartbeat => self.command(i, &[HEARTBEAT, "-f"]),
            Daemon::Keepalived => self.command(
                i,
                &[
                    KEEPALIVED,
                    "-n",
                    "-l",
                    "-D",
                    "-P",
                    "-G",
                    "-f",
                    "/etc/ha.d/keepalived.conf",
                    "-p",
                    "/run/keepalived.pid",
                    "-r",
                    "/run/keepalived_vrrp.pid",
                ],
            ),
            Daemon::Hbd => {
                let mut c = self.ns.hbd_command(i, Path::new(&self.hbd_config));
                c.args(["--node", NAMES[i]]);
                c
            }
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = self.ns.daemon_out(i);
        let log = self.log.clone();
        let child = self.ns.spawn(i, cmd);
        if let Some(o) = child.stdout.take() {
            stamp_lines(o, i, log.clone(), out.clone());
        }
        if let Some(e) = child.stderr.take() {
            stamp_lines(e, i, log, out);
        }
        self.started[i] = Some(Instant::now());
    }

    /// Waits until node `i`'s daemon has run long enough to advertise its
    /// plain deadtime: heartbeat (and hbd, spec §3.3) add 2 s to the `dt`
    /// they send for 5 s after starting, and the peer honours it, so a
    /// fault injected earlier would measure the boost, not the setting.
    pub fn wait_past_boost(&self, i: usize) {
        if self.daemon == Daemon::Keepalived {
            return;
        }
        if let Some(t) = self.started[i] {
            let ready = t + Duration::from_millis(5500);
            let now = Instant::now();
            if ready > now {
                sleep(ready - now);
            }
        }
    }

    /// Pids of node `i`'s daemon processes (by executable name).
    pub fn daemon_pids(&self, i: usize) -> Vec<u32> {
        let exe = self.daemon.exe();
        self.ns.nodes[i]
            .pids()
            .into_iter()
            .filter(|&p| {
                let path = fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
                let comm = fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                path.file_name().is_some_and(|f| f == exe) || comm.trim() == exe
            })
            .collect()
    }

    /// kill -9 of every process of node `i`'s daemon, at once; returns the
    /// instant just before the first signal.
    pub fn kill_daemon(&mut self, i: usize) -> Instant {
        let pids = self.daemon_pids(i);
        let t0 = Instant::now();
        for &p in &pids {
            kill(p, nix::sys::signal::Signal::SIGKILL);
        }
        self.reap(i);
        t0
    }

    fn reap(&mut self, i: usize) {
        self.ns.kill9(i);
    }

    /// The node is rebooted in all but name: every process in it but the
    /// holder is killed (service, announcers, scripts), the floating
    /// address removed (the pair's crash), state files of the crashed run
    /// removed.
    pub fn wipe(&mut self, i: usize) {
        self.ns.crash(i);
        if self.family == Family::V6 {
            // The pair's crash flushes IPv4 floating addresses only.
            let _ = self.ns.nodes[i].run(&[
                "ip",
                "addr",
                "del",
                &format!("{FLOATING6_SHORT}/64"),
                "dev",
                "svc0",
            ]);
        }
        let run = self.ns.host(i, Dir::Run);
        for f in [
            "heartbeat.pid",
            "keepalived.pid",
            "keepalived_vrrp.pid",
            "ka.state",
        ] {
            let _ = fs::remove_file(run.join(f));
        }
    }

    /// Cuts (or restores) every link of node `i`: the ucast veth and the
    /// serial cable (the relay stops moving bytes).
    pub fn links(&self, i: usize, up: bool) {
        self.ns.nodes[i].set_link("hb0", up);
        self.tty.set_plugged(up);
    }

    /// Bytes the serial cable carried so far (both directions).
    pub fn serial_bytes(&self) -> u64 {
        self.tty.carried()
    }

    /// Drops `percent` % of the serial frames at random, both ways.
    pub fn serial_loss(&self, percent: u32) {
        self.tty.set_loss(percent);
    }

    /// Serial frames seen and dropped while a loss was set.
    pub fn serial_frames(&self) -> (u64, u64) {
        self.tty.frames()
    }

    /// Sets `percent` % random loss on both nodes' ucast egress.
    pub fn loss(&self, percent: u32) {
        for n in &self.ns.nodes {
            n.set_loss("hb0", percent);
        }
    }

    /// Planned switchover from node `i`: `hb_standby`, `hbd standby`, or
    /// (keepalived, which has no standby) a graceful stop, which sends a
    /// priority-0 advertisement. Returns the instant it was asked.
    pub fn standby(&mut self, i: usize) -> Result<Instant, Refused> {
        let t0 = Instant::now();
        match self.daemon {
            Daemon::Heartbeat => {
                let out = self.command(i, &[HB_STANDBY, "all"]).output();
                check_ok(out, "hb_standby all")?;
            }
            Daemon::Hbd => {
                let out = self
                    .command(
                        i,
                        &[
                            self.ns.hbd().as_os_str(),
                            "standby".as_ref(),
                            "--run-dir".as_ref(),
                            self.ns.hbd_run_dir().as_os_str(),
                        ],
                    )
                    .output();
                check_ok(out, "hbd standby")?;
            }
            Daemon::Keepalived => {
                if let Some(pid) = self.ns.pid(i) {
                    kill(pid, nix::sys::signal::Signal::SIGTERM);
                }
            }
        }
        Ok(t0)
    }

    /// After a keepalived switchover: wait for the stopped daemon to exit.
    pub fn wait_exit(&mut self, i: usize, within: Duration) {
        let until = Instant::now() + within;
        while self.ns.running(i) && Instant::now() < until {
            sleep(Duration::from_millis(20));
        }
        if !self.daemon_pids(i).is_empty() {
            self.kill_daemon(i);
        }
        self.reap(i);
    }

    /// Whether both daemons agree the cluster is settled with `active`
    /// holding the group (the service answering from it is checked by the
    /// caller).
    pub fn settled(&self, active: usize) -> bool {
        self.settle_view(active).0
    }

    /// [`Self::settled`] and what each node said, for error messages.
    pub fn settle_view(&self, active: usize) -> (bool, String) {
        let other = 1 - active;
        match self.daemon {
            Daemon::Heartbeat => {
                let st = |i: usize, args: &[&str]| -> String {
                    let mut all = vec![CL_STATUS];
                    all.extend_from_slice(args);
                    self.command(i, &all)
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                        .unwrap_or_default()
                };
                let v = [
                    st(active, &["nodestatus", NAMES[other]]),
                    st(other, &["nodestatus", NAMES[active]]),
                    st(active, &["rscstatus"]),
                    st(other, &["rscstatus"]),
                ];
                // Holdings are named from each node's view (`local`, `all`, `none`
                // ...); what matters is that no transition is under way.
                let steady = |h: &str| ["local", "foreign", "all", "none"].contains(&h);
                let ok = v[0] == "active" && v[1] == "active" && steady(&v[2]) && steady(&v[3]);
                (
                    ok,
                    format!(
                        "cl_status: peer {}/{}, rscstatus {}/{}",
                        v[0], v[1], v[2], v[3]
                    ),
                )
            }
            Daemon::Keepalived => {
                let state = |i: usize| {
                    fs::read_to_string(self.ns.host(i, Dir::Run).join("ka.state"))
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                };
                // A restarted keepalived may become master before it hears
                // the peer, and the two then settle by priority: only
                // states that held for a while count.
                let age = |i: usize| {
                    fs::metadata(self.ns.host(i, Dir::Run).join("ka.state"))
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .unwrap_or_default()
                };
                let calm = Duration::from_millis(1000).max(Duration::from_secs_f64(
                    self.setting.vrrp_master_down_ms() * 2.0 / 1000.0,
                ));
                let (a, o) = (state(active), state(other));
                (
                    a == "MASTER" && o == "BACKUP" && age(active) >= calm && age(other) >= calm,
                    format!("vrrp states {a:?}/{o:?}"),
                )
            }
            Daemon::Hbd => {
                let view = |i: usize| self.ns.status_json(i);
                let peer = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .and_then(|v| v["peer"]["state"].as_str().map(str::to_string))
                        .unwrap_or_default()
                };
                let hold = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .and_then(|v| v["rsc_hold"].as_str().map(str::to_string))
                        .unwrap_or_default()
                };
                let (va, vo) = (view(active), view(other));
                let steady = |h: &str| ["local", "foreign", "all", "none"].contains(&h);
                let ok = peer(&va) == "active"
                    && peer(&vo) == "active"
                    && steady(&hold(&va))
                    && steady(&hold(&vo));
                (
                    ok,
                    format!(
                        "hbd status: peer {}/{}, rsc_hold {}/{}",
                        peer(&va),
                        peer(&vo),
                        hold(&va),
                        hold(&vo)
                    ),
                )
            }
        }
    }

    /// Copies both nodes' logs to `dest` (kept after the lab is gone).
    pub fn save_logs(&self, dest: &Path) {
        let _ = fs::create_dir_all(dest);
        for (i, name) in NAMES.iter().enumerate() {
            let _ = Command::new("cp")
                .arg("-a")
                .arg(self.ns.host(i, Dir::Log))
                .arg(dest.join(name))
                .status();
        }
    }

    /// A node whose daemon is gone (exited, no process left), if any.
    pub fn exited(&mut self) -> Option<usize> {
        (0..2).find(|&i| !self.running(i) && self.daemon_pids(i).is_empty())
    }

    /// Whether node `i`'s daemon process still runs.
    pub fn running(&mut self, i: usize) -> bool {
        self.ns.running(i)
    }

    /// Last `n` daemon lines of node `i` (for "refused" reasons).
    pub fn tail(&self, i: usize, n: usize) -> Vec<String> {
        let mut lines: Vec<String> = fs::read_to_string(self.ns.daemon_out(i))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if let Ok(t) = fs::read_to_string(self.ns.host(i, Dir::Log).join("ha-log")) {
            lines.extend(t.lines().map(str::to_string));
        }
        let from = lines.len().saturating_sub(n);
        lines.split_off(from)
    }

    /// The client namespace's path (for the probe's setns).
    pub fn client_netns(&self) -> PathBuf {
        let client = self.ns.client.as_ref().expect("a client");
        PathBuf::from("/run/netns").join(&client.netns)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Daemons first, by PID, so that none sees the relay vanish
        // (heartbeat spins on a pty EOF); the lab then kills the rest.
        for i in 0..2 {
            for p in self.daemon_pids(i) {
                kill(p, nix::sys::signal::Signal::SIGKILL);
            }
            self.reap(i);
        }
        if let Some(mut w) = self.arp_watch.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

fn check_ok(out: std::io::Result<std::process::Output>, what: &str) -> Result<(), Refused> {
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(Refused(format!(
            "{what} exited {}: {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) => Err(Refused(format!("{what}: {e}"))),
    }
}

pub fn kill(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(p) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
    }
}

/// Reads lines from a daemon pipe in a thread, stamping each on arrival.
fn stamp_lines<R: std::io::Read + Send + 'static>(r: R, node: usize, book: LogBook, file: PathBuf) {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .ok();
        let epoch = crate::epoch();
        for line in BufReader::new(r).lines() {
            let Ok(text) = line else { break };
            let at = Instant::now();
            if let Some(f) = out.as_mut() {
                let _ = writeln!(
                    f,
                    "[{:>10.3}] {text}",
                    at.duration_since(epoch).as_secs_f64()
                );
            }
            let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
            // Bounded: a daemon spinning on a broken link must not eat memory.
            if b.len() < 200_000 {
                b.push(LogLine { at, node, text });
            }
        }
    });
}
