//! The randomized fault campaign (root only; issue 21): heartbeat CTS's
//! method on real processes. One pair of `hbd run` on the namespace pair
//! (testkit::nspair: ucast over a veth cable and a serial cable over socat),
//! one group (a floating address, an ext4 disk on a loop device, a web
//! service and `campfault`, a resource the campaign makes fail or hang on
//! demand, watched by a monitor). Faults are drawn one after another by a
//! seeded generator from a weighted list ([`CLASSES`]), each in the state the
//! previous one left: inject, let it settle, restore a healthy pair, audit.
//!
//! The auditor (testkit::audit) is outside the daemons: both kernels' local
//! addresses and mounts every ~4 ms, a client's HTTP requests every ~20 ms.
//! Its invariants, judged per step ([`Campaign::audit_step`]):
//! - the address or the disk on both nodes must never *begin* while the pair
//!   can talk both ways and both daemons run unfrozen. The windows a fault
//!   makes blind (a partition, one direction cut, a SIGSTOPped daemon, hbd
//!   killed while its machine keeps the address) are the only exemptions:
//!   an overlap begun inside one (or within [`BLIND_TAIL_MS`] after, before
//!   the first status after the heal can have arrived) is reported with its
//!   length and must end within [`HEAL_BOUND_MS`] of the window's end;
//! - nobody holding the address for longer than [`TAKEOVER_BOUND_MS`], but
//!   while the fault itself makes that right (both daemons stopped, the
//!   survivor's start failing by design);
//! - once settled, `hbd status --json` of both nodes agrees with the kernels,
//!   and the client is answered by the holder;
//! - after restoring, a healthy pair within [`RESTORE_BOUND`].
//!
//! Knobs: `HBD_CAMPAIGN_SEED` (one campaign with that seed), and its length
//! `HBD_CAMPAIGN_MINUTES` and/or `HBD_CAMPAIGN_FAULTS` (whichever ends
//! first), `HBD_CAMPAIGN_CLASSES=a,b` (only those classes). Without them: two
//! short campaigns, a fixed seed and a random one (printed). The report is a
//! section of RELIABILITY.md (docs/reliability.md).
//!
//! Built with `--features campaign-break` (a keeper that does not release
//! after a healed partition) the test expects the auditor to catch it.

// Node indices 0 and 1 index several arrays at once (NAMES, the pair's nodes).
#![allow(clippy::needless_range_loop)]

mod campaign {
    pub mod faults;
    pub mod report;
}

use campaign::faults::{Fault, CLASSES};
use campaign::report::report;
use hbd::control::StatusReport;
use hbd::core::{GroupState, NodeState, Rng};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};
use testkit::audit::{episodes, longest_outage, Auditor, Watch};
use testkit::nspair::{has_local_addr, has_mount, Dir, HbdToml, NsPair, SVC_IF};
use testkit::reliability;
use testkit::skip::Needs;
use testkit::{hbd_exe, wait_for};

pub const FLOAT: &str = "192.0.2.50";
pub const PORT: u16 = 8080;
const SECRET: &str = "campaign-lab-secret-7d2e41";
pub const KEEPALIVE_MS: u64 = 200;
pub const DEADTIME_MS: u64 = 1000;
pub const INITDEAD_MS: u64 = 2000;
pub const SCRIPT_TIMEOUT_MS: u64 = 2000;
/// The longest a takeover may take: deadtime, plus the 2 s a node just
/// started adds to its deadtime for its first 5 s (heartbeat's start-up
/// boost, spec §3.3: a fault soon after a restart waits for it), plus the
/// group's scripts (IPaddr, Filesystem, hbweb, campfault: well under 1 s
/// measured, 2 s allowed).
pub const TAKEOVER_BOUND_MS: u64 = DEADTIME_MS + 2000 + 2000;
/// How long an overlap begun in a blind window may outlive it: the daemons
/// must first hear each other again (a restarted hbd: its start-up), then
/// one runs its stop scripts. The same sum as a takeover.
pub const HEAL_BOUND_MS: u64 = TAKEOVER_BOUND_MS;
/// How long a blind window lasts past the fault's end: until then a node
/// may still declare its peer dead, having heard nothing since (the first
/// status after the heal leaves within a keepalive), and its takeover put
/// the address up within a status probe and a start (300 ms allowed).
pub const BLIND_TAIL_MS: u64 = KEEPALIVE_MS + 300;
/// How long a restored pair may take to be healthy again (a node restarted
/// into the start-up negotiation, a stop retried, a cleanup).
const RESTORE_BOUND: Duration = Duration::from_secs(30);
pub const NAMES: [&str; 2] = ["nodea", "nodeb"];

/// The resource the campaign makes misbehave: its flags are files in
/// `FLAGDIR` (`start-fail`, `start-hang`, `stop-fail`, `stop-hang`,
/// `monitor-fail`); a start clears `monitor-fail` (the monitor's restart
/// repairs it).
const CAMPFAULT: &str = "#!/bin/sh\n\
    # campfault FLAGDIR {start|stop|status}\n\
    dir=$1\n\
    for a; do act=$a; done\n\
    on=\"$HA_RSCTMP/campfault.on\"\n\
    case $act in\n\
    start)\n\
      [ -e \"$dir/start-hang\" ] && exec sleep 600\n\
      if [ -e \"$dir/start-fail\" ]; then echo 'campfault: start fails (injected)' >&2; exit 7; fi\n\
      rm -f \"$dir/monitor-fail\"; touch \"$on\"; exit 0 ;;\n\
    stop)\n\
      [ -e \"$dir/stop-hang\" ] && exec sleep 600\n\
      if [ -e \"$dir/stop-fail\" ]; then echo 'campfault: stop fails (injected)' >&2; exit 6; fi\n\
      rm -f \"$on\"; exit 0 ;;\n\
    status|monitor)\n\
      if [ -e \"$on\" ] && [ ! -e \"$dir/monitor-fail\" ]; then echo running; else echo stopped; fi; exit 0 ;;\n\
    esac\n\
    exit 2\n";

// ------------------------------------------------------------ observations

/// Both nodes at one instant: the kernels and, where a daemon answers, hbd.
#[derive(Clone, Debug, Default)]
pub struct Obs {
    pub alive: [bool; 2],
    pub st: [Option<StatusReport>; 2],
    pub addr: [bool; 2],
    pub mnt: [bool; 2],
}

impl Obs {
    pub fn group(&self, i: usize) -> Option<GroupState> {
        self.st[i].as_ref()?.groups.first().map(|g| g.state)
    }

    pub fn peer(&self, i: usize) -> Option<NodeState> {
        self.st[i].as_ref().map(|s| s.peer.state.clone())
    }

    /// Node `i` remembers a failure of the group (a failed start or stop,
    /// a monitor's restarts): it would not take the group over until
    /// `hbd cleanup` (docs/config-reference.md, "Monitors").
    pub fn remembers_failure(&self, i: usize) -> bool {
        self.st[i]
            .as_ref()
            .and_then(|s| s.groups.first())
            .is_some_and(|g| g.failure.is_some() || g.fail_counts.iter().any(|&n| n > 0))
    }

    /// The node that alone has the address, if one does.
    pub fn sole(&self) -> Option<usize> {
        match self.addr {
            [true, false] => Some(0),
            [false, true] => Some(1),
            _ => None,
        }
    }

    /// Every answering daemon's view matches its kernel: running ⇔ address
    /// and mount here; peer/stopped ⇔ neither; failed may be either (a
    /// failed stop leaves the group partly active here); starting and
    /// stopping are not settled.
    pub fn agrees(&self) -> bool {
        (0..2).all(|i| match self.group(i) {
            None => !self.alive[i] || self.st[i].is_some(),
            Some(GroupState::Running) => self.addr[i] && self.mnt[i],
            Some(GroupState::Peer | GroupState::Stopped) => !self.addr[i] && !self.mnt[i],
            Some(GroupState::Failed) => true,
            Some(GroupState::Starting | GroupState::Stopping) => false,
        })
    }

    /// Both daemons up and partners, the group running on exactly one node
    /// with its disk, and each says so.
    pub fn healthy(&self) -> bool {
        let Some(k) = self.sole() else { return false };
        self.alive == [true, true]
            && (0..2).all(|i| self.peer(i) == Some(NodeState::Active))
            && self.mnt[k]
            && !self.mnt[1 - k]
            && self.group(k) == Some(GroupState::Running)
            && self.group(1 - k) == Some(GroupState::Peer)
            && !self.remembers_failure(0)
            && !self.remembers_failure(1)
    }

    pub fn describe(&self) -> String {
        (0..2)
            .map(|i| {
                format!(
                    "{}: hbd {}, group {}, peer {}, address {}, disk {}",
                    NAMES[i],
                    if self.alive[i] { "up" } else { "down" },
                    self.group(i).map_or("?", |g| g.word()),
                    self.peer(i).map_or("?".into(), |p| p.to_string()),
                    self.addr[i],
                    self.mnt[i]
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

// -------------------------------------------------------------------- steps

/// One fault and what the auditor made of it.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub n: usize,
    pub class: &'static str,
    pub what: String,
    pub t0: u64,
    pub t_inject: u64,
    pub t_restored: u64,
    pub t_end: u64,
    /// Windows the fault makes blind: an overlap may begin in them.
    pub blind: Vec<(u64, u64)>,
    /// Windows in which nobody holding the group is right.
    pub nobody_ok: Vec<(u64, u64)>,
    /// Overlaps begun in a blind window (ms each).
    pub blind_dual: Vec<u64>,
    pub outage_ms: u64,
    /// From the restore to a healthy pair.
    pub heal_ms: u64,
}

#[derive(Clone, Debug)]
pub struct Violation {
    pub step: usize,
    pub invariant: &'static str,
    pub what: String,
}

/// What a fault left that the restore must undo.
#[derive(Clone, Debug, Default)]
pub struct Dirty {
    pub frozen: [bool; 2],
    pub link_down: [bool; 2],
    pub loss: [bool; 2],
    pub serial_pulled: bool,
    pub toml_changed: [bool; 2],
    pub full: [bool; 2],
    /// The campaign stopped this daemon (any other exit is a violation).
    pub stopped: [bool; 2],
}

pub struct Campaign {
    pub ns: NsPair,
    pub mnt: String,
    pub toml: [String; 2],
    pub rng: Rng,
    pub seed: u64,
    pub audit: Auditor,
    pub dirty: Dirty,
    pub steps: Vec<Step>,
    pub violations: Vec<Violation>,
    log_from: [u64; 2],
    /// The pair could not be brought up again: the campaign ends.
    gave_up: bool,
}

impl Campaign {
    fn new(seed: u64, max_run: Duration) -> Campaign {
        let ns = NsPair::new(
            testkit::nspair::Opts {
                disk_mib: Some(16),
                ..testkit::nspair::Opts::default()
            },
            &hbd_exe!(),
        );
        let www = ns.lab().dir().join("www");
        fs::create_dir_all(&www).unwrap();
        fs::write(www.join("index.html"), "hello\n").unwrap();
        let m = ns.lab().dir().join("srv");
        fs::create_dir_all(&m).unwrap();
        let mnt = m.to_str().unwrap().to_string();
        let dev = ns.disk.as_ref().expect("a disk").dev.display().to_string();
        let flags = ns.on_node(Dir::Etc).join("campfault");
        let resources = [
            format!("IPaddr::{FLOAT}/24/{SVC_IF}"),
            format!("Filesystem::{dev}::{mnt}::ext4"),
            format!("hbweb::{FLOAT}::{PORT}::{}", www.display()),
            format!("campfault::{}", flags.display()),
        ];
        let monitor = "[[group.monitor]]\nresource = \"campfault\"\ncheck = \"status\"\n\
                       interval = \"300ms\"\ntimeout = \"2s\"\non_fail = \"restart\"\n\
                       max_restarts = 1000\nrestart_window = \"10min\"\n\n";
        let hbd = format!("script_timeout = \"{SCRIPT_TIMEOUT_MS}ms\"\n");
        let toml = [0, 1].map(|i| {
            // No fsck: the one kernel sees the loop device mounted in the
            // other node's namespace and e2fsck refuses it ("in use"), a
            // protection two real machines sharing a disk do not have; with
            // it every takeover in a blind window would roll back. Without
            // it the peer mounts the disk as a second machine would (one
            // kernel shares the superblock: nothing is corrupted) and the
            // auditor sees it on both.
            let text = ns.write_hbd_conf(
                i,
                &HbdToml {
                    keepalive_ms: KEEPALIVE_MS,
                    deadtime_ms: DEADTIME_MS,
                    initdead: &format!("{INITDEAD_MS}ms"),
                    resources: &resources,
                    after_group: monitor,
                    hbd: &hbd,
                },
                SECRET,
                "HBD_ARP_COUNT=3\nHBD_ARP_INTERVAL_MS=100\nHBD_FSCK=no\n",
            );
            let conf = ns.host(i, Dir::Etc);
            fs::create_dir_all(conf.join("campfault")).unwrap();
            let script = conf.join("resource.d/campfault");
            fs::write(&script, CAMPFAULT).unwrap();
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
            text
        });
        let audit = Auditor::start(Watch {
            holders: [ns.nodes[0].holder, ns.nodes[1].holder],
            addr: FLOAT.into(),
            mnt: Some(mnt.clone()),
            client: ns.client.clone().map(|c| (c, PORT, 250)),
            sample_every: Duration::from_millis(4),
            probe_every: Duration::from_millis(20),
            max_run,
        });
        Campaign {
            ns,
            mnt,
            toml,
            rng: Rng::new(seed),
            seed,
            audit,
            dirty: Dirty::default(),
            steps: Vec::new(),
            violations: Vec::new(),
            log_from: [0, 0],
            gave_up: false,
        }
    }

    pub fn now(&self) -> u64 {
        self.audit.now()
    }

    /// The length of node `i`'s daemon output: the logs grow to megabytes
    /// in an hour at debug level, so a step reads only what it added.
    pub fn log_len(&self, i: usize) -> u64 {
        fs::metadata(self.ns.daemon_out(i)).map_or(0, |m| m.len())
    }

    /// What node `i`'s daemon printed from byte `from` on.
    pub fn log_since(&self, i: usize, from: u64) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let mut bytes = Vec::new();
        if let Ok(mut f) = fs::File::open(self.ns.daemon_out(i)) {
            if f.seek(SeekFrom::Start(from)).is_ok() {
                let _ = f.read_to_end(&mut bytes);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn toml_path(&self, i: usize) -> PathBuf {
        self.ns.host(i, Dir::Etc).join("hbd.toml")
    }

    /// A flag file of `campfault` on node `i` (host path).
    pub fn flag(&self, i: usize, name: &str) -> PathBuf {
        self.ns.host(i, Dir::Etc).join("campfault").join(name)
    }

    pub fn start(&mut self, i: usize) {
        let mut cmd = self
            .ns
            .hbd_command(i, &self.ns.on_node(Dir::Etc).join("hbd.toml"));
        cmd.args(["--node", NAMES[i]]);
        if let Ok(level) = std::env::var("HBD_CAMPAIGN_LOG") {
            cmd.env("HBD_LOG", level);
        }
        self.ns.start(i, cmd);
        self.dirty.stopped[i] = false;
    }

    /// `hbd ARGS --run-dir …` inside node `i`, as an operator runs it.
    pub fn hbd_cli(&self, i: usize, args: &[&str]) -> std::process::Output {
        let mut a: Vec<std::ffi::OsString> = vec![self.ns.hbd().into()];
        a.extend(args.iter().map(|s| s.into()));
        a.push("--run-dir".into());
        a.push(self.ns.hbd_run_dir().into());
        self.ns.run(i, &a)
    }

    pub fn observe(&mut self) -> Obs {
        let mut o = Obs::default();
        for i in 0..2 {
            o.alive[i] = self.ns.running(i);
            if o.alive[i] && !self.dirty.frozen[i] {
                o.st[i] = self.ns.status(i);
            }
            o.addr[i] = has_local_addr(self.ns.nodes[i].holder, FLOAT);
            o.mnt[i] = has_mount(self.ns.nodes[i].holder, &self.mnt);
        }
        o
    }

    /// The node holding the address now (kernel view).
    pub fn holder(&mut self) -> Option<usize> {
        self.observe().sole()
    }

    /// Polls every ~50 ms until `pred` has held for 300 ms in a row (so a
    /// transition under way is not taken for its end), at most `limit`:
    /// whether it did, how long that took, the last observation.
    pub fn watch(&mut self, limit: Duration, pred: impl Fn(&Obs) -> bool) -> (bool, u64, Obs) {
        let t = Instant::now();
        let mut since: Option<Instant> = None;
        loop {
            let o = self.observe();
            if pred(&o) {
                let s = *since.get_or_insert_with(Instant::now);
                if s.elapsed() >= Duration::from_millis(300) {
                    let took = s.duration_since(t).as_millis() as u64;
                    return (true, took, o);
                }
            } else {
                since = None;
            }
            if t.elapsed() > limit {
                return (false, t.elapsed().as_millis() as u64, o);
            }
            sleep(Duration::from_millis(50));
        }
    }

    pub fn violate(&mut self, invariant: &'static str, what: String) {
        let step = self.steps.len() + 1;
        eprintln!("VIOLATION (step {step}, {invariant}): {what}");
        self.violations.push(Violation {
            step,
            invariant,
            what,
        });
    }

    /// Brings the pair up: nodea alone takes the group, then nodeb joins.
    fn bring_up(&mut self) -> Result<(), String> {
        self.start(0);
        let (ok, _, o) = self.watch(Duration::from_secs(15), |o| {
            o.sole() == Some(0) && o.group(0) == Some(GroupState::Running)
        });
        if !ok {
            return Err(format!("nodea never ran the group: {}", o.describe()));
        }
        self.start(1);
        let (ok, _, o) = self.watch(Duration::from_secs(15), Obs::healthy);
        if !ok {
            return Err(format!("the pair did not form: {}", o.describe()));
        }
        Ok(())
    }

    /// Undoes whatever the fault left, starts stopped daemons, waits for a
    /// healthy pair (cleaning up a failed group), then checks hbd's view
    /// against the kernels' and the client.
    fn restore(&mut self, s: &mut Step) {
        let d = self.undo();
        for i in 0..2 {
            if !self.ns.running(i) {
                if !d.stopped[i] && !d.full[i] {
                    let tail = self.ns.log_tail(i, 30);
                    self.violate(
                        "hbd exited by itself",
                        format!("{}'s hbd was not running at the restore:\n{tail}", NAMES[i]),
                    );
                }
                self.start(i);
            }
        }
        self.settle_restored(s);
    }

    /// Undoes what the fault left (cables, loss, flags, configuration, a
    /// full state dir, a frozen daemon); returns what that was.
    fn undo(&mut self) -> Dirty {
        let d = std::mem::take(&mut self.dirty);
        for i in 0..2 {
            if d.frozen[i] {
                if let Some(pid) = self.ns.pid(i) {
                    testkit::lab::signal(pid, "CONT");
                }
            }
            if d.link_down[i] {
                self.ns.nodes[i].set_link("hb0", true);
            }
            if d.loss[i] {
                self.ns.nodes[i].set_loss("hb0", 0);
            }
        }
        if d.serial_pulled {
            self.ns.serial_cable(true);
        }
        for i in 0..2 {
            if let Ok(rd) = fs::read_dir(self.ns.host(i, Dir::Etc).join("campfault")) {
                for e in rd.flatten() {
                    let _ = fs::remove_file(e.path());
                }
            }
            if d.toml_changed[i] {
                fs::write(self.toml_path(i), &self.toml[i]).unwrap();
                if let Some(pid) = self.ns.pid(i) {
                    testkit::lab::signal(pid, "HUP");
                }
            }
            if d.full[i] {
                let _ = self.ns.terminate(i, Duration::from_secs(15));
                let state = self.ns.on_node(Dir::Lib).join("hbd").display().to_string();
                let _ = self.ns.nodes[i].run(&["umount", "-l", &state]);
            }
        }
        d
    }

    /// Waits for a healthy pair after the restore (cleaning up a remembered
    /// failure), then checks hbd's view against the kernels' and the client.
    fn settle_restored(&mut self, s: &mut Step) {
        s.t_restored = self.now();
        let t = Instant::now();
        let mut cleanups = [0; 2];
        let mut healthy = None;
        while t.elapsed() < RESTORE_BOUND {
            let o = self.observe();
            for (i, n) in cleanups.iter_mut().enumerate() {
                let busy = matches!(
                    o.group(i),
                    Some(GroupState::Starting | GroupState::Stopping)
                );
                if o.remembers_failure(i) && !busy && *n < 3 {
                    let _ = self.hbd_cli(i, &["cleanup"]);
                    *n += 1;
                }
            }
            let (ok, _, o) = self.watch(Duration::from_secs(1), Obs::healthy);
            if ok {
                healthy = Some(o);
                break;
            }
        }
        s.heal_ms = t.elapsed().as_millis() as u64;
        let Some(o) = healthy else {
            let o = self.observe();
            self.violate(
                "healthy pair after restoring",
                format!("not within {RESTORE_BOUND:?}: {}", o.describe()),
            );
            self.reset();
            return;
        };
        let k = o.sole().unwrap_or(0);
        for i in 0..2 {
            let json = self.ns.status_json(i);
            let word = json
                .as_ref()
                .and_then(|j| j["groups"][0]["state"].as_str().map(String::from));
            let kernel = has_local_addr(self.ns.nodes[i].holder, FLOAT);
            if (word.as_deref() == Some("running")) != kernel {
                self.violate(
                    "status --json agrees with the kernel",
                    format!(
                        "{}: `hbd status --json` says {word:?}, its kernel has the address: {kernel}",
                        NAMES[i]
                    ),
                );
            }
        }
        let client = self.ns.client.clone().expect("a client");
        let served = wait_for(Duration::from_secs(3), || {
            client
                .http_get(FLOAT, PORT, 300)
                .filter(|(by, _)| by == NAMES[k])
        });
        if served.is_none() {
            let n = client.neigh(FLOAT);
            self.violate(
                "client served by the holder once settled",
                format!(
                    "{} holds the group, the client is not answered by it within 3 s (neighbour entry {n:?})",
                    NAMES[k]
                ),
            );
        }
    }

    /// After a pair that would not heal: both machines crash and boot, the
    /// pair is brought up again (the campaign goes on from a known state).
    fn reset(&mut self) {
        self.undo();
        for i in 0..2 {
            self.ns.crash(i);
            clear_rsctmp(&self.ns, i);
        }
        if let Err(e) = self.bring_up() {
            self.violate("healthy pair after restoring", e);
            self.gave_up = true;
        }
    }

    /// Judges one step from the auditor's samples.
    fn audit_step(&mut self, s: &mut Step) {
        let (samples, probes) = self.audit.take_until(s.t_end);
        let after_inject: Vec<_> = probes
            .iter()
            .filter(|p| p.t >= s.t_inject)
            .cloned()
            .collect();
        s.outage_ms = longest_outage(&after_inject);
        let kinds: [(&'static str, Holds); 2] = [
            ("address on both nodes", |x| x.addr[0] && x.addr[1]),
            ("disk mounted on both nodes", |x| x.mnt[0] && x.mnt[1]),
        ];
        for (what, pred) in kinds {
            for (a, b) in episodes(&samples, pred) {
                match s.blind.iter().find(|w| a >= w.0 && a <= w.1) {
                    Some(w) => {
                        if what.starts_with("address") {
                            s.blind_dual.push(b - a);
                        }
                        if b > w.1 + HEAL_BOUND_MS {
                            self.violate(
                                "overlap outlived its blind window",
                                format!(
                                    "{what} from {a} to {b} ms: {} ms after the window ended at {} ms (bound {HEAL_BOUND_MS})",
                                    b - w.1,
                                    w.1
                                ),
                            );
                        }
                    }
                    None => self.violate(
                        "no dual ownership while the pair can talk",
                        format!("{what} from {a} to {b} ms ({} ms)", b - a),
                    ),
                }
            }
        }
        let exempt = |t: u64| s.nobody_ok.iter().any(|w| t >= w.0 && t <= w.1);
        for (a, b) in episodes(&samples, |x| !x.addr[0] && !x.addr[1] && !exempt(x.t)) {
            if b - a > TAKEOVER_BOUND_MS {
                self.violate(
                    "no one owns (beyond deadtime + boost + scripts)",
                    format!("nobody had the address from {a} to {b} ms ({} ms)", b - a),
                );
            }
        }
    }

    /// What a failing step prints: the seed, the sequence, both logs since
    /// the step began.
    fn dump(&self, s: &Step) {
        eprintln!(
            "campaign seed {:#x} (replay: HBD_CAMPAIGN_SEED={:#x}); faults so far:",
            self.seed, self.seed
        );
        for p in self.steps.iter().chain(std::iter::once(s)) {
            eprintln!(
                "  {:>4} {:>7} ms {:<18} {}",
                p.n, p.t_inject, p.class, p.what
            );
        }
        for i in 0..2 {
            let log = self.log_since(i, self.log_from[i]);
            let seg: Vec<&str> = log.lines().collect();
            let tail = &seg[seg.len().saturating_sub(120)..];
            eprintln!(
                "--- {} log during step {} ---\n{}",
                NAMES[i],
                s.n,
                tail.join("\n")
            );
        }
    }

    fn run_step(&mut self, fault: &Fault) {
        let mut s = Step {
            n: self.steps.len() + 1,
            class: fault.name,
            t0: self.steps.last().map_or(0, |p| p.t_end),
            ..Step::default()
        };
        self.log_from = [0, 1].map(|i| self.log_len(i));
        let before = self.violations.len();
        s.t_inject = self.now();
        (fault.inject)(self, &mut s);
        self.restore(&mut s);
        // "Until the restore" windows end where it did.
        for w in &mut s.nobody_ok {
            if w.1 == u64::MAX {
                w.1 = s.t_restored;
            }
        }
        // Samples are ~4 ms apart: let the last ones in.
        sleep(Duration::from_millis(20));
        s.t_end = self.now();
        self.audit_step(&mut s);
        eprintln!(
            "[{:>4}] {:<18} {} | outage {} ms | heal {} ms{}",
            s.n,
            s.class,
            s.what,
            s.outage_ms,
            s.heal_ms,
            if s.blind_dual.is_empty() {
                String::new()
            } else {
                format!(" | blind overlap {:?} ms", s.blind_dual)
            }
        );
        if self.violations.len() > before {
            self.dump(&s);
        }
        self.steps.push(s);
    }
}

/// A machine that lost power loses its /run (tmpfs): the resources' state
/// files in hbd's rsctmp go with it.
pub fn clear_rsctmp(ns: &NsPair, i: usize) {
    if let Ok(rd) = fs::read_dir(ns.host(i, Dir::Run).join("hbd/rsctmp")) {
        for e in rd.flatten() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Whether a sample shows what an invariant forbids.
type Holds = fn(&testkit::audit::Sample) -> bool;

// ------------------------------------------------------------------- runner

pub struct Outcome {
    pub seed: u64,
    pub minutes: f64,
    pub steps: Vec<Step>,
    pub violations: Vec<Violation>,
}

fn run_campaign(
    seed: u64,
    limit: Duration,
    max_faults: usize,
    only: &Option<Vec<String>>,
) -> Outcome {
    let classes: Vec<&Fault> = CLASSES
        .iter()
        .filter(|c| {
            only.as_ref()
                .map_or(true, |o| o.iter().any(|x| x == c.name))
        })
        .collect();
    assert!(!classes.is_empty(), "HBD_CAMPAIGN_CLASSES names no class");
    let total: u64 = classes.iter().map(|c| c.weight).sum();
    let most = if max_faults == usize::MAX {
        String::new()
    } else {
        format!(" or {max_faults} faults")
    };
    eprintln!("campaign: seed {seed:#x}, up to {limit:?}{most}");
    let mut c = Campaign::new(seed, limit + Duration::from_secs(300));
    if let Err(e) = c.bring_up() {
        panic!("{e}");
    }
    let t = Instant::now();
    let mut panics = 0;
    while t.elapsed() < limit && c.steps.len() < max_faults && !c.gave_up && panics < 3 {
        let mut pick = c.rng.range(0, total - 1);
        let fault = classes
            .iter()
            .find(|f| {
                if pick < f.weight {
                    return true;
                }
                pick -= f.weight;
                false
            })
            .expect("a class");
        // A step that panics (a tool failing under it) is a violation, not
        // the end of an hour's campaign and its report.
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.run_step(fault)));
        if let Err(e) = step {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            c.violate("campaign step completed", format!("{}: {msg}", fault.name));
            panics += 1;
            c.reset();
        } else {
            panics = 0;
        }
    }
    // Both daemons' whole logs, the evidence behind the section.
    let dir = reliability::logs_dir();
    if fs::create_dir_all(&dir).is_ok() {
        for (i, name) in NAMES.iter().enumerate() {
            let _ = fs::copy(
                c.ns.daemon_out(i),
                dir.join(format!("campaign-{seed:#x}-{name}.log")),
            );
        }
    }
    let secret = (0..2).any(|i| c.ns.log(i).contains(SECRET));
    if secret {
        c.violate(
            "secret in a log",
            "the authkeys secret appears in a log".into(),
        );
    }
    Outcome {
        seed,
        minutes: t.elapsed().as_secs_f64() / 60.0,
        steps: std::mem::take(&mut c.steps),
        violations: std::mem::take(&mut c.violations),
    }
}

/// A knob's value: a number, or (a seed) `0x…` hex; a seed is a whole u64,
/// never through f64, or a printed seed would not replay.
fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

fn env_seed() -> Option<u64> {
    let v = std::env::var("HBD_CAMPAIGN_SEED").ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    };
    Some(parsed.unwrap_or_else(|| panic!("HBD_CAMPAIGN_SEED={v:?} is not a number")))
}

#[test]
fn campaign() {
    if !Needs::new("campaign")
        .lab()
        .tool("socat", "socat")
        .tool("curl", "curl")
        .tool("nft", "nftables")
        .tool("mkfs.ext4", "e2fsprogs")
        .tool("losetup", "util-linux")
        .met()
    {
        return;
    }
    let _one = testkit::one_at_a_time();
    let only: Option<Vec<String>> = std::env::var("HBD_CAMPAIGN_CLASSES")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let minutes: Option<f64> = env_parse("HBD_CAMPAIGN_MINUTES");
    let faults: Option<usize> = env_parse("HBD_CAMPAIGN_FAULTS");
    let seed = env_seed();
    let plan: Vec<(u64, Duration, usize)> =
        if seed.is_some() || minutes.is_some() || faults.is_some() {
            let limit = Duration::from_secs_f64(minutes.unwrap_or(600.0) * 60.0);
            let seed = seed.unwrap_or_else(random_seed);
            vec![(seed, limit, faults.unwrap_or(usize::MAX))]
        } else {
            // CI: a fixed seed and a fresh one, ~80 s each (the suite's budget).
            vec![
                (0x21, Duration::from_secs(80), usize::MAX),
                (random_seed(), Duration::from_secs(80), usize::MAX),
            ]
        };
    let outcomes: Vec<Outcome> = plan
        .iter()
        .map(|&(seed, limit, n)| run_campaign(seed, limit, n, &only))
        .collect();
    let mut text = report(&outcomes);
    if only.is_some() {
        text.push_str("\n**Partial run (HBD_CAMPAIGN_CLASSES).**\n");
    }
    // A broken build's results are no reliability figures of hbd.
    if cfg!(feature = "campaign-break") {
        eprintln!("{text}");
    } else {
        reliability::write_text_section("campaign", &text);
    }
    let found: Vec<String> = outcomes
        .iter()
        .flat_map(|o| {
            o.violations.iter().map(move |v| {
                format!(
                    "seed {:#x} fault {}: {}: {}",
                    o.seed, v.step, v.invariant, v.what
                )
            })
        })
        .collect();
    if cfg!(feature = "campaign-break") {
        assert!(
            !found.is_empty(),
            "built with campaign-break, yet the campaign saw no violation"
        );
        eprintln!(
            "campaign-break: the auditor reported {} violation(s):\n{}",
            found.len(),
            found.join("\n")
        );
        return;
    }
    assert!(
        found.is_empty(),
        "campaign violations:\n{}",
        found.join("\n")
    );
}

fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let s = t ^ ((std::process::id() as u64) << 32);
    eprintln!("campaign: random seed {s:#x}");
    s
}
