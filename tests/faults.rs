//! The fault-injection matrix (root only): a real pair of `hbd run` on the
//! namespace pair (testkit::nspair), a floating address and a web service as the group, and one
//! fault per scenario — crashes, freezes, restarts, cut and flapping links,
//! loss, misbehaving resource scripts, a full state disk, a broken reload, a
//! healed partition.
//!
//! While a scenario runs, a bounded background sampler reads both nodes'
//! local addresses (`/proc/<holder>/net/fib_trie`, no process spawned) and,
//! when the group has one, their mount tables every ~5 ms: the time both held
//! the group is the dual-ownership window. A client in its own namespace asks
//! the service over HTTP every ~10 ms: the time to service. Every scenario
//! becomes a row of RELIABILITY.md (testkit::reliability), written before the
//! test fails on a red row.
//!
//! `HBD_FAULTS=name,name` runs a subset (names as in `SCENARIOS`).

use hbd::core::{GroupState, NodeState};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};
use testkit::audit::{longest_outage, Auditor, Probe, Watch};
use testkit::lab::{self, Node};
use testkit::loopback;
use testkit::nspair::{has_local_addr, Dir, HbdToml, NsPair, HB_ADDRS, SVC_IF};
use testkit::reliability::{self, Row, Verdict};
use testkit::skip::Needs;
use testkit::{hbd_exe, wait_for};

const FLOAT: &str = "192.0.2.50";
const PORT: u16 = 8080;
/// The pair's authkeys secret: grepped for in every log at the end.
const SECRET: &str = "faults-lab-secret-3c1f9a";
const KEEPALIVE_MS: u64 = 200;
const DEADTIME_MS: u64 = 1000;
const NAMES: [&str; 2] = ["nodea", "nodeb"];
/// A sampler or prober never runs longer than this, whatever the scenario.
const MAX_RUN: Duration = Duration::from_secs(120);

// ----------------------------------------------------------------- the pair

#[derive(Clone, Default)]
struct Opts {
    /// Extra resources after the address (names as in haresources).
    extra: Vec<String>,
    /// A shared ext4 disk mounted by the group (Filesystem::DEV::MNT::ext4).
    disk: bool,
    script_timeout: &'static str,
    /// `[hbd] redundancy = "off"`: statuses once, as heartbeat sends them.
    no_redundancy: bool,
}

struct Pair {
    ns: NsPair,
    /// Mount point of the shared disk, when the group has one.
    mnt: Option<String>,
    toml_text: [String; 2],
}

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
}

impl Pair {
    fn new(opts: Opts) -> Pair {
        let ns = NsPair::new(
            testkit::nspair::Opts {
                disk_mib: opts.disk.then_some(16),
                ..testkit::nspair::Opts::default()
            },
            &hbd_exe!(),
        );
        let www = ns.lab().dir().join("www");
        fs::create_dir_all(&www).unwrap();
        fs::write(www.join("index.html"), "hello\n").unwrap();

        let mut mnt = None;
        let mut resources = vec![format!("IPaddr::{FLOAT}/24/{SVC_IF}")];
        if let Some(lo) = &ns.disk {
            let m = ns.lab().dir().join("srv");
            fs::create_dir_all(&m).unwrap();
            let m = m.to_str().unwrap().to_string();
            resources.push(format!("Filesystem::{}::{m}::ext4", lo.dev.display()));
            mnt = Some(m);
        }
        resources.extend(opts.extra.iter().cloned());
        resources.push(format!("hbweb::{FLOAT}::{PORT}::{}", www.display()));

        let redundancy = if opts.no_redundancy {
            "redundancy = \"off\"\n"
        } else {
            ""
        };
        let timeout = if opts.script_timeout.is_empty() {
            "10s"
        } else {
            opts.script_timeout
        };
        let hbd = format!("script_timeout = \"{timeout}\"\n{redundancy}");
        let toml_text = [0, 1].map(|i| {
            // Few, quick announcements: the client must follow within the
            // scenario, and no announcer may outlive a short scenario by much.
            ns.write_hbd_conf(
                i,
                &HbdToml {
                    keepalive_ms: KEEPALIVE_MS,
                    deadtime_ms: DEADTIME_MS,
                    initdead: "2s",
                    resources: &resources,
                    after_group: "",
                    hbd: &hbd,
                },
                SECRET,
                "HBD_ARP_COUNT=3\nHBD_ARP_INTERVAL_MS=100\n",
            )
        });
        Pair { ns, mnt, toml_text }
    }

    fn n(&self, i: usize) -> &Node {
        &self.ns.nodes[i]
    }

    fn client(&self) -> &Node {
        self.ns.client.as_ref().expect("a client")
    }

    /// Node `i`'s hbd.toml, on the host.
    fn toml(&self, i: usize) -> PathBuf {
        self.ns.host(i, Dir::Etc).join("hbd.toml")
    }

    /// A node-local resource script in `<conf>/resource.d` (found first).
    fn script(&self, i: usize, name: &str, text: &str) {
        write_exec(
            &self.ns.host(i, Dir::Etc).join("resource.d").join(name),
            text,
        );
    }

    fn start(&mut self, i: usize) -> u32 {
        let mut cmd = self
            .ns
            .hbd_command(i, &self.ns.on_node(Dir::Etc).join("hbd.toml"));
        cmd.args(["--node", NAMES[i]]);
        self.ns.start(i, cmd)
    }

    /// `hbd standby` on node `i`, as an operator would.
    fn standby(&self, i: usize) -> std::process::Output {
        self.ns.run(
            i,
            &[
                self.ns.hbd().as_os_str(),
                "standby".as_ref(),
                "--run-dir".as_ref(),
                self.ns.hbd_run_dir().as_os_str(),
            ],
        )
    }

    fn status(&self, i: usize) -> Option<hbd::control::StatusReport> {
        self.ns.status(i)
    }

    /// The group's state on node `i` (`running`, `peer`, `stopped`, …).
    fn group_state(&self, i: usize) -> Option<GroupState> {
        self.status(i)
            .and_then(|s| s.groups.first().map(|g| g.state))
    }

    fn peer_state(&self, i: usize) -> Option<NodeState> {
        self.status(i).map(|s| s.peer.state)
    }

    fn log(&self, i: usize) -> String {
        self.ns.log(i)
    }

    fn tail(&self, i: usize) -> String {
        self.ns.log_tail(i, 25)
    }

    /// nodea alone takes the group (initdead), then nodeb joins: the usual
    /// way a pair comes up without heartbeat's 10 s start-up deadlock breaker.
    fn bring_up(&mut self) {
        self.start(0);
        let up = wait_for(Duration::from_secs(10), || {
            (self.group_state(0) == Some(GroupState::Running)
                && self.client().http_get(FLOAT, PORT, 300).is_some())
            .then_some(())
        });
        assert!(up.is_some(), "nodea never ran the group:\n{}", self.tail(0));
        self.start(1);
        let joined = wait_for(Duration::from_secs(10), || {
            (self.peer_state(0) == Some(NodeState::Active)
                && self.peer_state(1) == Some(NodeState::Active)
                && self.group_state(1) == Some(GroupState::Peer))
            .then_some(())
        });
        assert!(
            joined.is_some(),
            "the pair did not form:\n{}\n---\n{}",
            self.tail(0),
            self.tail(1)
        );
        // A node advertises deadtime + 2 s for its first 5 s (heartbeat's
        // start-up boost, spec §3.3): faults start after it on both.
        let boosted = wait_for(Duration::from_secs(8), || {
            (0..2)
                .all(|i| {
                    self.status(i)
                        .is_some_and(|s| s.uptime_ms > hbd::demo::cluster::DT_BOOST_FOR_MS + 200)
                })
                .then_some(())
        });
        assert!(boosted.is_some(), "the daemons did not report their uptime");
    }

    /// The machine dies: the daemon by SIGKILL, then everything else the node
    /// ran (the service, ARP announcers), its mount of the disk and its
    /// floating address, as a power cut would take them.
    fn crash(&mut self, i: usize) {
        self.ns.crash(i);
    }

    fn samplers(&self) -> Probes {
        Probes::start(self)
    }

    /// Fails if the secret appears in either log.
    fn secret_logged(&self) -> bool {
        (0..2).any(|i| self.log(i).contains(SECRET))
    }
}

/// The scenario running now, for the names of the kept logs.
static CURRENT: Mutex<String> = Mutex::new(String::new());

impl Drop for Pair {
    /// Keeps both daemons' logs under target/reliability/logs/ (the lab's
    /// directory goes away with it): the evidence behind a red row.
    fn drop(&mut self) {
        let key = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let dir = reliability::logs_dir();
        if fs::create_dir_all(&dir).is_ok() {
            for (i, name) in NAMES.iter().enumerate() {
                let _ = fs::copy(self.ns.daemon_out(i), dir.join(format!("{key}-{name}.log")));
            }
        }
    }
}

// ------------------------------------------------------- sampler and prober

#[derive(Clone, Copy, Debug)]
struct Sample {
    t: u64,
    /// The address or the group's mount, per node.
    own: [bool; 2],
}

/// testkit's auditor on the pair: both kernels every ~5 ms, the client
/// every ~10 ms.
struct Probes(Auditor);

impl Probes {
    fn start(p: &Pair) -> Probes {
        Probes(Auditor::start(Watch {
            holders: [p.n(0).holder, p.n(1).holder],
            addr: FLOAT.into(),
            mnt: p.mnt.clone(),
            client: Some((p.client().clone(), PORT, 250)),
            sample_every: Duration::from_millis(5),
            probe_every: Duration::from_millis(10),
            max_run: MAX_RUN,
        }))
    }

    /// Milliseconds since the probes started: mark a fault with it.
    fn now(&self) -> u64 {
        self.0.now()
    }

    fn finish(self) -> Measure {
        let (samples, probes) = self.0.take_until(u64::MAX);
        let samples = samples
            .iter()
            .map(|s| Sample {
                t: s.t,
                own: [0, 1].map(|i| s.addr[i] || s.mnt[i]),
            })
            .collect();
        Measure { samples, probes }
    }
}

struct Measure {
    samples: Vec<Sample>,
    probes: Vec<Probe>,
}

impl Measure {
    /// Total time both nodes held the group (from `from` on).
    fn dual_ms(&self, from: u64) -> u64 {
        self.samples
            .windows(2)
            .filter(|w| w[0].t >= from && w[0].own[0] && w[0].own[1])
            .map(|w| w[1].t - w[0].t)
            .sum()
    }

    /// How many times the group moved from one sole holder to the other.
    fn owner_changes(&self) -> usize {
        let mut last: Option<usize> = None;
        let mut changes = 0;
        for s in &self.samples {
            let sole = match s.own {
                [true, false] => Some(0),
                [false, true] => Some(1),
                _ => None,
            };
            if let Some(o) = sole {
                if last.is_some_and(|l| l != o) {
                    changes += 1;
                }
                last = Some(o);
            }
        }
        changes
    }

    /// After `from`: when the group came to rest on one node (the sample
    /// from which one sole holder lasts to the end), who that is, and when
    /// the client was first answered by it. A keeper the client cannot reach
    /// (its ARP entry still names the other node) shows as a late answer.
    fn resolution(&self, from: u64) -> Resolution {
        let mut rest: Option<(u64, usize)> = None;
        for s in self.samples.iter().filter(|s| s.t >= from) {
            let sole = match s.own {
                [true, false] => Some(0),
                [false, true] => Some(1),
                _ => None,
            };
            rest = match (sole, rest) {
                (Some(o), Some((t, k))) if o == k => Some((t, k)),
                (Some(o), _) => Some((s.t, o)),
                (None, _) => None,
            };
        }
        let keeper = rest.map(|r| r.1);
        Resolution {
            sole_ms: rest.map(|r| r.0 - from),
            keeper,
            served_ms: keeper.and_then(|k| self.service_by(from, NAMES[k])),
        }
    }

    /// Who holds the group in the last sample: 0, 1, both (2) or nobody (3).
    fn final_holder(&self) -> usize {
        match self.samples.last().map(|s| s.own) {
            Some([true, false]) => 0,
            Some([false, true]) => 1,
            Some([true, true]) => 2,
            _ => 3,
        }
    }

    /// From `from` to the first answer served by `node`.
    fn service_by(&self, from: u64, node: &str) -> Option<u64> {
        self.probes
            .iter()
            .find(|p| p.t >= from && p.by.as_deref() == Some(node))
            .map(|p| p.t - from)
    }

    /// The longest stretch without an answer from `from` on (0: every probe
    /// was answered).
    fn longest_outage(&self, from: u64) -> u64 {
        let after: Vec<Probe> = self
            .probes
            .iter()
            .filter(|p| p.t >= from)
            .cloned()
            .collect();
        longest_outage(&after)
    }
}

struct Resolution {
    sole_ms: Option<u64>,
    keeper: Option<usize>,
    served_ms: Option<u64>,
}

impl Resolution {
    /// Adds the problems of a resolution that took longer than `limit_ms`.
    fn check(&self, bad: &mut Vec<String>, after: &str, limit_ms: u64) {
        match (self.sole_ms, self.served_ms) {
            (None, _) => bad.push(format!("no single holder after {after}")),
            (Some(s), _) if s > limit_ms => {
                bad.push(format!("single holder only {s} ms after {after}"))
            }
            (Some(_), None) => bad.push(format!(
                "the client was never answered by the keeper {} after {after} (its ARP entry still names the other node: no re-announcement)",
                who(self.keeper.unwrap_or(3))
            )),
            (Some(_), Some(v)) if v > limit_ms => bad.push(format!(
                "the client was answered by the keeper {} only {v} ms after {after} (stale ARP entry: no re-announcement)",
                who(self.keeper.unwrap_or(3))
            )),
            _ => {}
        }
    }

    fn describe(&self) -> String {
        format!(
            "single holder {} after {} ms, client answered by it after {} ms",
            who(self.keeper.unwrap_or(3)),
            self.sole_ms.map(|v| v.to_string()).unwrap_or("–".into()),
            self.served_ms
                .map(|v| v.to_string())
                .unwrap_or("never (within the run)".into())
        )
    }
}

fn who(i: usize) -> &'static str {
    match i {
        0 => "nodea",
        1 => "nodeb",
        2 => "both",
        _ => "nobody",
    }
}

/// The node that alone holds the floating address now, if one does.
fn sole_holder(p: &Pair) -> Option<usize> {
    match [0, 1].map(|i| has_local_addr(p.n(i).holder, FLOAT)) {
        [true, false] => Some(0),
        [false, true] => Some(1),
        _ => None,
    }
}

/// Waits (bounded) until exactly one node holds the group and the client is
/// answered by it; returns that node.
fn settle(p: &Pair, within: Duration) -> Option<usize> {
    settle_on(p, None, within)
}

/// As [`settle`], waiting for `on` (when given) to be that node: a hand-over
/// that has not begun yet must not count as settled.
fn settle_on(p: &Pair, on: Option<usize>, within: Duration) -> Option<usize> {
    wait_for(within, || {
        let own = [0, 1].map(|i| has_local_addr(p.n(i).holder, FLOAT));
        let sole = match own {
            [true, false] => 0,
            [false, true] => 1,
            _ => return None,
        };
        if on.is_some_and(|o| o != sole) {
            return None;
        }
        p.client()
            .http_get(FLOAT, PORT, 300)
            .filter(|(by, _)| by == NAMES[sole])
            .map(|_| sole)
    })
}

// ---------------------------------------------------------------- scenarios

type Scenario = fn() -> Row;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("kill9", kill9_active_node),
    ("kill9_daemon_only", kill9_daemon_only),
    ("sigstop", sigstop_twice_deadtime),
    ("restart_loop", restart_loop),
    ("ucast_down", ucast_down),
    ("serial_down", serial_down),
    ("both_down", both_links_down),
    ("flapping", link_flapping),
    ("asymmetric", asymmetric_loss),
    ("loss20", loss_20),
    ("loss50", loss_50),
    ("loss20_redundant", loss_20_redundant),
    ("jitter", jitter),
    ("start_fails", start_fails),
    ("stop_holds_mount", stop_with_a_process_holding_the_mount),
    ("stop_hangs", stop_hangs),
    ("status_lies", status_lies),
    ("full_disk", full_state_disk),
    ("bad_reload", reload_with_errors),
    ("heal", partition_heals),
];

fn row(
    scenario: &str,
    expected: &str,
    observed: String,
    dual: Option<u64>,
    service: Option<u64>,
    problems: Vec<String>,
) -> Row {
    let verdict = if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems.join("; "))
    };
    Row {
        scenario: scenario.into(),
        expected: expected.into(),
        observed,
        dual_ms: dual,
        service_ms: service,
        verdict,
    }
}

fn check(problems: &mut Vec<String>, ok: bool, what: impl Into<String>) {
    if !ok {
        problems.push(what.into());
    }
}

fn kill9_active_node() -> Row {
    let name = "kill -9 of the active node (machine crash: daemon, service and address gone)";
    let expected = "nodeb takes over within deadtime + scripts (< 3 s); never both";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    p.crash(0);
    let took = settle(&p, Duration::from_secs(8));
    sleep(Duration::from_millis(300));
    let m = pr.finish();
    let tts = m.service_by(fault, "nodeb");
    let dual = m.dual_ms(fault);
    let mut bad = vec![];
    check(
        &mut bad,
        took == Some(1),
        format!("final holder {:?}", took.map(who)),
    );
    check(&mut bad, dual == 0, format!("dual ownership {dual} ms"));
    check(
        &mut bad,
        tts.is_some_and(|t| t < 3000),
        format!("service after {tts:?} ms"),
    );
    check(&mut bad, !p.secret_logged(), "secret in a log");
    row(
        name,
        expected,
        format!(
            "nodeb serves after {} ms; {} owner change(s)",
            tts.unwrap_or(0),
            m.owner_changes()
        ),
        Some(dual),
        tts,
        bad,
    )
}

fn kill9_daemon_only() -> Row {
    let name = "kill -9 of hbd only on the active node (machine stays up), then hbd restarted";
    let expected = "nodeb takes over; the address and service left on nodea overlap until hbd restarts there (unavoidable: nobody runs stop); the restarted hbd must then either release what it finds running or refuse to start (heartbeat's init script runs `ResourceManager verifyallidle`, spec §6.2)";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    p.ns.kill9(0);
    let took = wait_for(Duration::from_secs(6), || {
        (p.group_state(1) == Some(GroupState::Running)).then_some(())
    });
    sleep(Duration::from_millis(500));
    let restart = pr.now();
    let pid = p.start(0);
    let settled = settle(&p, Duration::from_secs(10));
    let refused = lab::alive(&[pid]).is_empty();
    sleep(Duration::from_millis(500));
    let m = pr.finish();
    let dual_before_restart: u64 = m
        .samples
        .windows(2)
        .filter(|w| w[0].t >= fault && w[0].t < restart && w[0].own[0] && w[0].own[1])
        .map(|w| w[1].t - w[0].t)
        .sum();
    let dual_after = m.dual_ms(restart);
    let mut bad = vec![];
    check(&mut bad, took.is_some(), "nodeb did not take over");
    check(
        &mut bad,
        settled.is_some() || refused,
        format!(
            "the restarted hbd kept running and 10 s later the holder is {}",
            who(m.final_holder())
        ),
    );
    row(
        name,
        expected,
        format!(
            "overlap {dual_before_restart} ms while hbd was dead, {dual_after} ms after its restart; restarted hbd {}; final holder {}",
            if refused { "exited" } else { "kept running" },
            who(m.final_holder())
        ),
        Some(m.dual_ms(fault)),
        m.service_by(fault, "nodeb"),
        bad,
    )
}

fn sigstop_twice_deadtime() -> Row {
    let name = "SIGSTOP of the active hbd for 2 × deadtime, then SIGCONT";
    let expected = "nodeb takes over after deadtime; overlap while nodea is frozen is unavoidable (its kernel keeps the address); after SIGCONT exactly one holder within 3 s";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let pid = p.ns.pid(0).unwrap();
    let fault = pr.now();
    lab::signal(pid, "STOP");
    sleep(Duration::from_millis(2 * DEADTIME_MS));
    let took = p.group_state(1);
    lab::signal(pid, "CONT");
    let woke = pr.now();
    let _ = settle(&p, Duration::from_secs(12));
    sleep(Duration::from_millis(500));
    let m = pr.finish();
    let after_wake = m.dual_ms(woke);
    let res = m.resolution(woke);
    let mut bad = vec![];
    check(
        &mut bad,
        matches!(took, Some(GroupState::Running | GroupState::Starting)),
        format!("nodeb's group was {took:?} while nodea was frozen"),
    );
    res.check(&mut bad, "SIGCONT", 3000);
    check(
        &mut bad,
        m.owner_changes() <= 2,
        format!("{} owner changes", m.owner_changes()),
    );
    row(
        name,
        expected,
        format!(
            "overlap {} ms in all, {after_wake} ms of it after SIGCONT; {}; {} owner change(s)",
            m.dual_ms(fault),
            res.describe(),
            m.owner_changes()
        ),
        Some(m.dual_ms(fault)),
        res.served_ms,
        bad,
    )
}

fn restart_loop() -> Row {
    let name = "reboot-like restart loop: nodea crashed and restarted 5 times in a minute";
    let expected =
        "the group moves to nodeb once and stays (auto_failback off): 1 owner change, never both";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    for _ in 0..5 {
        p.crash(0);
        sleep(Duration::from_millis(2500));
        p.start(0);
        sleep(Duration::from_millis(4500));
    }
    let settled = settle(&p, Duration::from_secs(5));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let changes = m.owner_changes();
    let mut bad = vec![];
    check(&mut bad, dual == 0, format!("dual ownership {dual} ms"));
    check(&mut bad, changes == 1, format!("{changes} owner changes"));
    check(
        &mut bad,
        settled == Some(1),
        format!("final holder {:?}", settled.map(who)),
    );
    row(
        name,
        expected,
        format!(
            "{changes} owner change(s); final holder {}",
            who(m.final_holder())
        ),
        Some(dual),
        m.service_by(fault, "nodeb"),
        bad,
    )
}

/// Cuts the chosen links of nodea for `hold`, restores them, and checks
/// whether a failover was expected (both cut) or not.
fn cut_links(name: &str, ucast: bool, serial: bool, hold: Duration, heal_check: bool) -> Row {
    let both = ucast && serial;
    let expected = if both {
        "partition: nodeb takes over after deadtime (overlap unavoidable: no fencing); after the heal one keeps, one releases within 3 s, the keeper re-announces and the client follows"
    } else {
        "no failover (the other link carries the heartbeats): 0 owner changes, never both, service never interrupted"
    };
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let mac = [p.n(0).mac(SVC_IF), p.n(1).mac(SVC_IF)];
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    if ucast {
        p.n(0).set_link("hb0", false);
    }
    if serial {
        p.ns.serial_cable(false);
    }
    sleep(hold);
    let peer_seen = p.peer_state(1);
    if ucast {
        p.n(0).set_link("hb0", true);
    }
    if serial {
        p.ns.serial_cable(true);
    }
    let healed = pr.now();
    let mut bad = vec![];
    let observed;
    let service;
    if both {
        // Resolution (one sole holder), then the client: its neighbour entry
        // must come to name the keeper's MAC (the keeper re-announces).
        let sole = wait_for(Duration::from_secs(8), || sole_holder(&p));
        let follows = sole.and_then(|k| {
            wait_for(Duration::from_secs(3), || {
                p.client().neigh(FLOAT).filter(|(m, _)| *m == mac[k])
            })
        });
        let neigh = p.client().neigh(FLOAT);
        // Keep probing long enough to see when a stale client recovers.
        let _ = settle(&p, Duration::from_secs(12));
        sleep(Duration::from_millis(300));
        let m = pr.finish();
        let after_heal = m.dual_ms(healed);
        let res = m.resolution(healed);
        check(
            &mut bad,
            peer_seen == Some(NodeState::Dead),
            format!("nodeb saw nodea {peer_seen:?} during the partition"),
        );
        res.check(&mut bad, "the heal", 3000);
        if heal_check {
            check(
                &mut bad,
                follows.is_some(),
                format!(
                    "3 s after the resolution the client's neighbour entry for {FLOAT} is {neigh:?}, not the keeper's MAC"
                ),
            );
        }
        observed = format!(
            "overlap {} ms in all, {after_heal} ms after the heal; {}; client's ARP entry followed the keeper within 3 s: {}",
            m.dual_ms(fault),
            res.describe(),
            follows.is_some()
        );
        service = res.served_ms;
        return row(
            name,
            expected,
            observed,
            Some(m.dual_ms(fault)),
            service,
            bad,
        );
    }
    sleep(Duration::from_millis(1500));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let outage = m.longest_outage(fault);
    check(
        &mut bad,
        peer_seen == Some(NodeState::Active),
        format!("nodeb saw nodea {peer_seen:?} while one link was down"),
    );
    check(
        &mut bad,
        m.owner_changes() == 0 && m.final_holder() == 0,
        format!(
            "{} owner changes, final {}",
            m.owner_changes(),
            who(m.final_holder())
        ),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    check(
        &mut bad,
        outage < 500,
        format!("service outage {outage} ms"),
    );
    observed = format!(
        "nodeb saw nodea {}; {} owner change(s); longest service outage {outage} ms",
        peer_seen.unwrap_or_default(),
        m.owner_changes()
    );
    row(name, expected, observed, Some(dual), Some(outage), bad)
}

fn ucast_down() -> Row {
    cut_links(
        "ucast link down 3 s (serial up), restored",
        true,
        false,
        Duration::from_secs(3),
        false,
    )
}

fn serial_down() -> Row {
    cut_links(
        "serial link pulled 3 s (ucast up), restored",
        false,
        true,
        Duration::from_secs(3),
        false,
    )
}

fn both_links_down() -> Row {
    cut_links(
        "ucast and serial down 3 s (partition), restored",
        true,
        true,
        Duration::from_secs(3),
        false,
    )
}

fn partition_heals() -> Row {
    cut_links(
        "partition heals with both nodes active: one keeps, one releases, the keeper re-sends gratuitous ARP and the client follows",
        true,
        true,
        Duration::from_secs(4),
        true,
    )
}

// No chance here, only timing: the longest silence is one 300 ms cut plus a
// keepalive (200 ms) plus the latency of `ip link` and of the serial relay
// toggling, against deadtime 1 s. The row fails only if a toggle or a daemon
// is held up by more than 500 ms, which on a quiet machine does not happen
// (measured toggles take < 20 ms); no random loss is involved.
fn link_flapping() -> Row {
    let name = "both links flapping every 300 ms for 5 s";
    let expected = "no failover (no silence reaches deadtime 1 s): 0 owner changes, never both";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    let mut deaths = 0;
    for k in 0..16 {
        let up = k % 2 == 1;
        p.n(0).set_link("hb0", up);
        if up {
            p.ns.serial_cable(true);
        } else {
            p.ns.serial_cable(false);
        }
        sleep(Duration::from_millis(300));
        if p.peer_state(1) == Some(NodeState::Dead) {
            deaths += 1;
        }
    }
    p.n(0).set_link("hb0", true);
    p.ns.serial_cable(true);
    sleep(Duration::from_millis(1500));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let mut bad = vec![];
    check(
        &mut bad,
        deaths == 0,
        format!("nodeb declared nodea dead ({deaths} samples)"),
    );
    check(
        &mut bad,
        m.owner_changes() == 0 && m.final_holder() == 0,
        format!(
            "{} owner changes, final {}",
            m.owner_changes(),
            who(m.final_holder())
        ),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    row(
        name,
        expected,
        format!(
            "{} owner change(s); peer seen dead in {deaths} samples; longest outage {} ms",
            m.owner_changes(),
            m.longest_outage(fault)
        ),
        Some(dual),
        Some(m.longest_outage(fault)),
        bad,
    )
}

fn asymmetric_loss() -> Row {
    let name = "asymmetric loss: nodea→nodeb dropped on ucast (nftables egress), nodeb→nodea fine, serial pulled; 4 s then restored";
    let expected = "nodeb hears nothing, declares nodea dead and takes over; overlap during the loss is unavoidable without fencing (nodea, the home node, keeps by the home-node rule and cannot tell nodeb); after restoring, one holder within 3 s and the client answered by it";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    p.ns.serial_cable(false);
    p.n(0).set_loss("hb0", 100);
    sleep(Duration::from_secs(4));
    let during = [0, 1].map(|i| has_local_addr(p.n(i).holder, FLOAT));
    p.n(0).set_loss("hb0", 0);
    p.ns.serial_cable(true);
    let healed = pr.now();
    let _ = settle(&p, Duration::from_secs(12));
    sleep(Duration::from_millis(300));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let res = m.resolution(healed);
    let mut bad = vec![];
    res.check(&mut bad, "restoring", 3000);
    row(
        name,
        expected,
        format!(
            "holders at the end of the loss: nodea {}, nodeb {}; overlap {dual} ms ({} ms after restoring); {}",
            during[0],
            during[1],
            m.dual_ms(healed),
            res.describe()
        ),
        Some(dual),
        res.served_ms,
        bad,
    )
}

/// Lines added to node `i`'s log since byte `from` that declare the peer
/// dead after the fault started (a false death under loss: the row reports
/// them, the 200 ms status samples can miss a short one).
fn deaths_logged(p: &Pair, from: [usize; 2]) -> usize {
    (0..2)
        .map(|i| {
            p.log(i)
                .get(from[i]..)
                .unwrap_or("")
                .lines()
                .filter(|l| l.contains("is dead (") && l.contains("without a status"))
                .count()
        })
        .sum()
}

/// What a false death under random loss may cost, at most: the overlap it
/// causes (nodeb takes the group until it hears nodea again and the
/// home-node rule sends it back). See [`random_loss`] for the arithmetic.
const LOSS_OVERLAP_BOUND_MS: u64 = 3000;

// Chance in the loss rows (the suite's rule: a test that depends on random
// loss states its failure probability per run and keeps it below 1e-4).
//
// A false death needs the statuses of one keepalive period after another to
// be lost until deadtime passes: here keepalive 200 ms, deadtime 1 s, the
// serial link pulled, nftables dropping each datagram independently with
// probability p. Four lost statuses in a row leave the fifth racing the
// deadline (it is due exactly then; the sender's timer only ever runs late),
// so per keepalive and direction a false death starts with probability
// between (1-p)·p^5 and (1-p)·p^4: at p = 0.2 that is 2.6e-4 to 1.3e-3, i.e.
// 2.5 % to 12 % somewhere in a 10 s row (50 keepalives, 2 directions). At
// p = 0.5, 1.6 % to 3.1 % per keepalive: several per row. Far above 1e-4:
// neither row may assert "no false death". Each asserts what holds whatever
// the dice say:
// - after the loss ends (no more loss) exactly one holder within 3 s and the
//   client answered by it (deterministic; a timing bound with ≥ 2 s margin);
// - at 20 %: never an owner change. A false death makes nodeb start the
//   group while nodea, its home, keeps it; when nodeb hears nodea again the
//   home-node rule makes nodeb release it: nodea is never not a holder.
// - at 20 %: the overlap in all stays below LOSS_OVERLAP_BOUND_MS (3 s). One
//   false death overlaps until nodeb hears a fresh message from nodea and
//   its stop ran (55-330 ms measured); 3 s needs more than 10 lost
//   keepalives (0.2^10 = 1e-7) or ~10 false deaths in 10 s (Poisson with
//   mean ≤ 0.13: P < 1e-14). P(row fails) < 1e-6.
// - at 50 %: the overlap after the loss ended stays below 3 s (no loss then:
//   deterministic).
fn random_loss(percent: u32) -> Row {
    let name = format!(
        "{percent}% random loss both ways on ucast for 10 s (nftables numgen), serial pulled, redundancy off (each status once, as heartbeat sends it)"
    );
    let low_loss = percent <= 20;
    let expected = if low_loss {
        "false deaths are possible (per keepalive 2.6e-4 to 1.3e-3: 2.5-12 % somewhere in 10 s) and only reported: the group never changes owner, any overlap a false death causes ends within 3 s, one holder after the loss"
    } else {
        "false deaths are possible (P(4-5 losses in a row) ≈ 1.6-3 % per keepalive at deadtime 1 s): then the overlap must be bounded and exactly one holder must remain after the loss ends"
    };
    let mut p = Pair::new(Opts {
        no_redundancy: true,
        ..Opts::default()
    });
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    let logged_from = [0, 1].map(|i| p.log(i).len());
    p.ns.serial_cable(false);
    p.n(0).set_loss("hb0", percent);
    p.n(1).set_loss("hb0", percent);
    let mut deaths = 0;
    for _ in 0..50 {
        sleep(Duration::from_millis(200));
        if p.peer_state(1) == Some(NodeState::Dead) || p.peer_state(0) == Some(NodeState::Dead) {
            deaths += 1;
        }
    }
    p.n(0).set_loss("hb0", 0);
    p.n(1).set_loss("hb0", 0);
    p.ns.serial_cable(true);
    let healed = pr.now();
    let _ = settle(&p, Duration::from_secs(12));
    sleep(Duration::from_millis(300));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let res = m.resolution(healed);
    let false_deaths = deaths_logged(&p, logged_from);
    let mut bad = vec![];
    res.check(&mut bad, "the loss ended", 3000);
    if low_loss {
        check(
            &mut bad,
            m.owner_changes() == 0,
            format!("{} owner changes", m.owner_changes()),
        );
        check(
            &mut bad,
            dual < LOSS_OVERLAP_BOUND_MS,
            format!("dual {dual} ms after {false_deaths} false death(s)"),
        );
    } else {
        check(
            &mut bad,
            m.dual_ms(healed) < LOSS_OVERLAP_BOUND_MS,
            format!("overlap after the loss {} ms", m.dual_ms(healed)),
        );
    }
    if !bad.is_empty() {
        // The row is random: what the daemons did is the only way back to
        // why (it found a lost release leaving a heal unannounced).
        eprintln!(
            "[loss{percent}] failed; nodea:\n{}\nnodeb:\n{}",
            p.ns.log_tail(0, 80),
            p.ns.log_tail(1, 80)
        );
    }
    row(
        &name,
        expected,
        format!(
            "{false_deaths} false death(s) logged, peer seen dead in {deaths} of 50 samples; {} owner change(s); overlap {dual} ms; after the loss: {}",
            m.owner_changes(),
            res.describe()
        ),
        Some(dual),
        Some(m.longest_outage(fault)),
        bad,
    )
}

fn loss_20() -> Row {
    random_loss(20)
}

fn loss_50() -> Row {
    random_loss(50)
}

/// How long [`loss_20_redundant`] keeps the loss on.
const REDUNDANT_LOSS_SECS: u64 = 60;

// The namespace test: the same loss for a minute, with hbd's
// loss-adaptive redundancy (the default toward an hbd peer), and no false
// death at all. Its chance of failing (core::redundancy's arithmetic, one
// direction, a false death needing N = ⌈k·D/K⌉ − 1 datagrams lost in a row,
// 86 400 s / K · k · (1 − p) · p^N a day):
// - at the onset each status goes twice (the floor; the windows hold 256
//   clean numbers), and stays so until the peer's window counts 6 losses:
//   ~3 s at 10 datagrams/s, plus a keepalive for the report. k = 2 at p = 0.2
//   is 0.35 false deaths a day, 4.1e-6 per second: 3.5 s in 2 directions
//   is 2.9e-5;
// - then k = 3 (1.7e-4 a day: 2e-9 per second), and from ~10 s on k = 4-5
//   (≤ 7e-8 a day): below 1e-8 over the rest of the minute.
// P(row fails) ≈ 3e-5 < 1e-4. Without redundancy (the loss20 row) the same
// minute would cost a false death with P ≈ 15-55 %.
//
// ARP is pinned (a permanent neighbour entry on hb0, as on a dedicated
// heartbeat link): under the same loss the kernel's own entry for the peer
// fails when its 3 unicast probes are lost (0.36³ = 4.7 % every ~40 s, seen
// in the lab: PROBE → FAILED), and then holds every datagram until a
// broadcast probe is answered, a second or more with P = 0.36: a silence no
// number of copies fills, which made 1 run in 10 fail before the pinning.
// docs/config-reference.md ("Lossy links") says so to operators.
fn loss_20_redundant() -> Row {
    let name = format!(
        "20% random loss both ways on ucast for {REDUNDANT_LOSS_SECS} s (nftables numgen), serial pulled, hbd-to-hbd with loss-adaptive redundancy"
    );
    let expected = "no false death at all (each status sent 2-8 times as the peer reports the loss: P(false death) ≈ 3e-5 in the minute), 0 owner changes, never both; the loss measured ≈ 20 %";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    for i in 0..2 {
        let mac = p.n(1 - i).mac("hb0");
        p.n(i).must(&[
            "ip",
            "neigh",
            "replace",
            HB_ADDRS[1 - i],
            "lladdr",
            &mac,
            "dev",
            "hb0",
            "nud",
            "permanent",
        ]);
    }
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    let logged_from = [0, 1].map(|i| p.log(i).len());
    p.ns.serial_cable(false);
    p.n(0).set_loss("hb0", 20);
    p.n(1).set_loss("hb0", 20);
    let mut dead_samples = 0;
    for _ in 0..REDUNDANT_LOSS_SECS * 5 {
        sleep(Duration::from_millis(200));
        if p.peer_state(1) == Some(NodeState::Dead) || p.peer_state(0) == Some(NodeState::Dead) {
            dead_samples += 1;
        }
    }
    let seen = [0, 1].map(|i| p.status(i).and_then(|s| s.links.into_iter().next()));
    p.n(0).set_loss("hb0", 0);
    p.n(1).set_loss("hb0", 0);
    p.ns.serial_cable(true);
    let healed = pr.now();
    let _ = settle(&p, Duration::from_secs(12));
    sleep(Duration::from_millis(300));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let res = m.resolution(healed);
    let false_deaths = deaths_logged(&p, logged_from);
    let mut bad = vec![];
    check(
        &mut bad,
        false_deaths == 0 && dead_samples == 0,
        format!("{false_deaths} false death(s) logged, {dead_samples} dead samples"),
    );
    check(
        &mut bad,
        m.owner_changes() == 0,
        format!("{} owner changes", m.owner_changes()),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    res.check(&mut bad, "the loss ended", 3000);
    let link = |i: usize| {
        seen[i].as_ref().map_or("no status".to_string(), |l| {
            format!(
                "{} measured {}, copies {}",
                NAMES[i],
                l.loss
                    .map_or("nothing".into(), |c| format!("{}/{}", c.lost, c.of)),
                l.copies
            )
        })
    };
    for (i, l) in seen.iter().enumerate() {
        // 20 % of 256: σ ≈ 2.5 points; a window outside 8-32 % is no
        // measurement of this loss (P < 1e-5 each).
        let ok = l
            .as_ref()
            .and_then(|l| l.loss)
            .is_some_and(|c| c.of >= 200 && (0.08..0.32).contains(&c.ratio()));
        check(&mut bad, ok, format!("{} at the end of the loss", link(i)));
        let copies = l.as_ref().map_or(0, |l| l.copies);
        check(
            &mut bad,
            copies >= 3,
            format!("{} (3 or more expected at 20 %)", link(i)),
        );
    }
    row(
        &name,
        expected,
        format!(
            "{false_deaths} false deaths; {}; {}; {} owner change(s); overlap {dual} ms; after the loss: {}",
            link(0),
            link(1),
            m.owner_changes(),
            res.describe()
        ),
        Some(dual),
        Some(m.longest_outage(fault)),
        bad,
    )
}

/// A UDP relay that delays every datagram by a random 0..`jitter_ms`
/// (so they also overtake each other): the kernel has no netem.
fn jitter_relay(
    listen: (&'static str, u16),
    to: (&'static str, u16),
    jitter_ms: u64,
    stop: Arc<AtomicBool>,
) -> JoinHandle<u64> {
    let sock = std::net::UdpSocket::bind(listen).expect("bind jitter relay");
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    thread::spawn(move || {
        let t0 = Instant::now();
        let mut noise = hbd::core::Rng::new(0x2545_f491_4f6c_dd1d ^ listen.1 as u64);
        let mut queue: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut buf = vec![0u8; 70_000];
        let mut relayed = 0u64;
        while !stop.load(Ordering::Relaxed) && t0.elapsed() < MAX_RUN {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                let delay = Duration::from_millis(noise.next_u64() % (jitter_ms + 1));
                // Bounded: a stuck receiver cannot make the queue grow forever.
                if queue.len() < 10_000 {
                    queue.push((Instant::now() + delay, buf[..n].to_vec()));
                }
            }
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) = queue.drain(..).partition(|(t, _)| *t <= now);
            queue = later;
            for (_, p) in due {
                let _ = sock.send_to(&p, to);
                relayed += 1;
            }
        }
        relayed
    })
}

// Seeded delays (the relay's generator is fixed), so the datagrams' fates
// are not dice: the worst gap between two statuses is the 200 ms jitter plus
// one keepalive, 400 ms, against deadtime 1 s. Only a relay or daemon stalled
// by more than 600 ms could fail it: timing, not chance.
fn jitter() -> Row {
    let name = "200 ms jitter both ways (userspace relay: uniform 0-200 ms delay per datagram, reordering) for 15 s, ucast only, on the loopback pair";
    let expected = "no false failover (the worst gap, 200 ms + keepalive, is far below deadtime 1 s): the group stays, the service answers throughout";
    let spec = hbd::demo::cluster::Spec {
        auto_failback: "off",
        ..hbd::demo::cluster::Spec::default()
    };
    let mut lp = loopback::Pair::new(spec, false, &hbd_exe!());
    // alpha → 127.0.0.3 → beta, beta → 127.0.0.4 → alpha.
    let relays = ["127.0.0.3", "127.0.0.4"];
    for (i, relay) in relays.iter().enumerate() {
        lp.send_peer_to(i, relay);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let port = lp.c.udpport;
    let addrs = hbd::demo::cluster::ADDRS;
    let r = [
        jitter_relay((relays[0], port), (addrs[1], port), 200, stop.clone()),
        jitter_relay((relays[1], port), (addrs[0], port), 200, stop.clone()),
    ];
    let key = lp.c.service_key();
    // Up and past both nodes' start-up dt boost, or the row says why not.
    let formed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.bring_up();
        lp.wait_past_dt_boost(0);
        lp.wait_past_dt_boost(1);
    }))
    .ok();
    let c = &lp.c;
    let mut deaths = 0;
    let mut moved = 0;
    let mut unanswered = 0;
    let mut probes = 0;
    let t0 = Instant::now();
    while formed.is_some() && t0.elapsed() < Duration::from_secs(15) {
        for i in 0..2 {
            if let Ok(s) = c.status(i) {
                if s.peer.state != NodeState::Active {
                    deaths += 1;
                }
                if hbd::demo::cluster::running_on(&s, &key).as_deref() != Some("alpha") {
                    moved += 1;
                }
            }
        }
        probes += 1;
        if c.probe_service().as_deref() != Some("alpha") {
            unanswered += 1;
        }
        sleep(Duration::from_millis(100));
    }
    let late: u64 = (0..2)
        .filter_map(|i| c.status(i).ok())
        .map(|s| s.links.iter().map(|l| l.late).sum::<u64>())
        .sum();
    let log_tails = (c.log_tail(0, 20), c.log_tail(1, 20));
    if formed.is_some() {
        let _ = lp.daemon(1).terminate(Duration::from_secs(10));
        let _ = lp.daemon(0).terminate(Duration::from_secs(10));
    }
    stop.store(true, Ordering::Relaxed);
    let relayed: Vec<u64> = r.into_iter().map(|h| h.join().unwrap_or(0)).collect();
    let mut bad = vec![];
    check(
        &mut bad,
        formed.is_some(),
        format!(
            "the pair did not form through the relays:\n{}\n---\n{}",
            log_tails.0, log_tails.1
        ),
    );
    check(
        &mut bad,
        deaths == 0,
        format!("{deaths} samples with a dead peer"),
    );
    check(
        &mut bad,
        moved == 0,
        format!("the group was not on alpha in {moved} samples"),
    );
    check(
        &mut bad,
        unanswered == 0,
        format!("{unanswered} of {probes} probes unanswered"),
    );
    Row {
        scenario: name.into(),
        expected: expected.into(),
        observed: format!(
            "relayed {relayed:?} datagrams; peer-death samples {deaths}; group elsewhere in {moved} samples; {unanswered}/{probes} probes unanswered; late heartbeats counted {late}"
        ),
        dual_ms: None,
        service_ms: Some(0).filter(|_| unanswered == 0),
        verdict: if bad.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail(bad.join("; "))
        },
    }
}

fn start_fails() -> Row {
    let name = "a resource whose start fails on the node taking over (nodeb), after nodea crashed; then nodea returns";
    let expected = "nodeb logs the failure with exit code and output, stops what it had started (no address left), nobody holds the group; nodea, restarted, runs it";
    let flaky = "#!/bin/sh\n\
        # start fails on nodeb only\n\
        for a; do act=$a; done\n\
        case $act in\n\
        start) if [ \"$(uname -n)\" = nodeb ]; then echo 'flaky: disk on fire' >&2; exit 7; fi; touch \"$HA_RSCTMP/flaky\"; exit 0 ;;\n\
        stop) rm -f \"$HA_RSCTMP/flaky\"; exit 0 ;;\n\
        status) if [ -e \"$HA_RSCTMP/flaky\" ]; then echo running; else echo stopped; fi; exit 0 ;;\n\
        esac\nexit 2\n";
    let mut p = Pair::new(Opts {
        extra: vec!["flaky".into()],
        ..Opts::default()
    });
    p.script(0, "flaky", flaky);
    p.script(1, "flaky", flaky);
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    p.crash(0);
    // nodeb: dead after 1 s, start IPaddr, flaky fails, IPaddr stopped again.
    let gave_up = wait_for(Duration::from_secs(8), || {
        let st = p.group_state(1)?;
        // The start was tried (its "running …/flaky start" line) and is over:
        // a word like "code" alone also appears in unrelated debug lines.
        p.log(1)
            .contains("flaky start")
            .then_some(())
            .filter(|_| !matches!(st, GroupState::Starting | GroupState::Stopping))
            .map(|_| st)
    });
    sleep(Duration::from_millis(500));
    let b_holds = has_local_addr(p.n(1).holder, FLOAT);
    let log_b = p.log(1);
    let names_code = log_b.contains('7') && log_b.contains("disk on fire");
    let restart = pr.now();
    p.start(0);
    let settled = settle(&p, Duration::from_secs(10));
    sleep(Duration::from_millis(500));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let mut bad = vec![];
    check(
        &mut bad,
        gave_up.is_some(),
        format!("nodeb's group never left starting/stopping:\n{}", p.tail(1)),
    );
    check(
        &mut bad,
        !b_holds,
        "nodeb left the address up after the failed start",
    );
    check(
        &mut bad,
        names_code,
        format!(
            "nodeb's log does not show exit code 7 and the script's output:\n{}",
            p.tail(1)
        ),
    );
    check(
        &mut bad,
        settled == Some(0),
        format!("after nodea's return the holder is {:?}", settled.map(who)),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    row(
        name,
        expected,
        format!(
            "nodeb's group {}; address left on nodeb: {b_holds}; log names code and output: {names_code}; nodea serves {} ms after its restart",
            gave_up.unwrap_or_default(),
            m.service_by(restart, "nodea").map(|v| v.to_string()).unwrap_or("never".into())
        ),
        Some(dual),
        m.service_by(restart, "nodea"),
        bad,
    )
}

fn stop_with_a_process_holding_the_mount() -> Row {
    let name = "standby of nodea while a process holds the group's mount (Filesystem::loop::ext4)";
    let expected = "Filesystem stop kills the holder, the group moves to nodeb, the disk is never mounted on both";
    let needs = Needs::new("fault_matrix: stop_holds_mount")
        .tool("mkfs.ext4", "e2fsprogs")
        .tool("losetup", "util-linux");
    if let Some(verdict) = Verdict::unmet(&needs) {
        return Row {
            scenario: name.into(),
            expected: expected.into(),
            observed: "–".into(),
            dual_ms: None,
            service_ms: None,
            verdict,
        };
    }
    let mut p = Pair::new(Opts {
        disk: true,
        ..Opts::default()
    });
    p.bring_up();
    let mnt = p.mnt.clone().unwrap();
    // A process with its working directory on the mount, as a shell left
    // there by an operator.
    let holder = p.ns.lab().spawn(
        p.n(0),
        &["sh", "-c", &format!("cd {mnt} && exec sleep 600")],
    );
    sleep(Duration::from_millis(200));
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    let out = p.standby(0);
    let settled = settle_on(&p, Some(1), Duration::from_secs(15));
    sleep(Duration::from_millis(300));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let holder_alive = !lab::alive(&[holder]).is_empty();
    let mut bad = vec![];
    check(
        &mut bad,
        out.status.success(),
        format!(
            "hbd standby failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    check(
        &mut bad,
        settled == Some(1),
        format!(
            "holder after the standby {:?}:\n{}",
            settled.map(who),
            p.tail(0)
        ),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    row(
        name,
        expected,
        format!(
            "holder process killed: {}; final {}; mounted on both for {dual} ms",
            !holder_alive,
            settled.map(who).unwrap_or("none")
        ),
        Some(dual),
        m.service_by(fault, "nodeb"),
        bad,
    )
}

fn stop_hangs() -> Row {
    let name = "standby of nodea while a resource's stop hangs (script_timeout 1 s)";
    let expected = "the stop is killed at the timeout and retried; the group stays on nodea (stopping while retried, then failed: \"may be active here\") and is never started on nodeb: never both, the failure is logged";
    let hang = "#!/bin/sh\n\
        for a; do act=$a; done\n\
        case $act in\n\
        start) touch \"$HA_RSCTMP/hang\"; exit 0 ;;\n\
        stop) if [ \"$(uname -n)\" = nodea ]; then exec sleep 600; fi; rm -f \"$HA_RSCTMP/hang\"; exit 0 ;;\n\
        status) if [ -e \"$HA_RSCTMP/hang\" ]; then echo running; else echo stopped; fi; exit 0 ;;\n\
        esac\nexit 2\n";
    let mut p = Pair::new(Opts {
        extra: vec!["hang".into()],
        script_timeout: "1s",
        ..Opts::default()
    });
    p.script(0, "hang", hang);
    p.script(1, "hang", hang);
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    let _ = p.standby(0);
    sleep(Duration::from_secs(8));
    let st = [p.group_state(0), p.group_state(1)];
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let log = p.log(0);
    let logged = log.contains("timeout");
    // Stops are retried 1 s apart for 20 s, so one may be running now: what
    // must not happen is a hung stop outliving its timeout. Every sleeper seen
    // now must be gone once the timeout (and the kill's own latency) passed.
    let seen = p.n(0).pids_running("sleep 600");
    sleep(Duration::from_millis(1500));
    let sleepers = p
        .n(0)
        .pids_running("sleep 600")
        .iter()
        .filter(|pid| seen.contains(pid))
        .count();
    let mut bad = vec![];
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    check(
        &mut bad,
        st[1] != Some(GroupState::Running),
        "nodeb runs the group",
    );
    check(&mut bad, logged, "no timeout in nodea's log");
    check(
        &mut bad,
        sleepers == 0,
        format!("{sleepers} hung stop script(s) still running 1.5 s past the 1 s timeout"),
    );
    row(
        name,
        expected,
        format!(
            "nodea's group {:?}, nodeb's {:?}; timeout logged: {logged}; hung stops past their timeout: {sleepers}",
            st[0], st[1]
        ),
        Some(dual),
        None,
        bad,
    )
}

fn status_lies() -> Row {
    let name = "a resource whose status lies (says running while stopped) on the node taking over";
    let expected = "as heartbeat: a resource that reports running is not started (v1 has no monitor); the rest of the group starts, the service answers, never both";
    let liar = "#!/bin/sh\n\
        for a; do act=$a; done\n\
        case $act in\n\
        start) touch \"$HA_RSCTMP/liar-started\"; exit 0 ;;\n\
        stop) exit 0 ;;\n\
        status) echo running; exit 0 ;;\n\
        esac\nexit 2\n";
    let mut p = Pair::new(Opts {
        extra: vec!["liar".into()],
        ..Opts::default()
    });
    p.script(0, "liar", liar);
    p.script(1, "liar", liar);
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    p.crash(0);
    let settled = settle(&p, Duration::from_secs(8));
    sleep(Duration::from_millis(300));
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let started_b =
        p.ns.host(1, Dir::Run)
            .join("hbd/rsctmp/liar-started")
            .exists();
    let log = p.log(1);
    let mentioned = log
        .lines()
        .any(|l| l.contains("liar") && l.contains("running"));
    let mut bad = vec![];
    check(
        &mut bad,
        settled == Some(1),
        format!("final {:?}", settled.map(who)),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    check(
        &mut bad,
        mentioned,
        "nodeb's log does not say the liar reported running",
    );
    row(
        name,
        expected,
        format!(
            "liar's start run on nodeb: {started_b}; log shows its status: {mentioned}; final {}",
            settled.map(who).unwrap_or("none")
        ),
        Some(dual),
        m.service_by(fault, "nodeb"),
        bad,
    )
}

fn full_state_disk() -> Row {
    let name = "full disk under the state dir (16 KiB tmpfs, filled) of a node restarting while its peer serves";
    let expected = "the node either refuses to start, naming the file and the error, or runs; never a panic, never silent; the peer keeps serving, never both";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    // nodea hands over and stops; its state dir becomes a full tiny disk.
    let stopped = p.ns.terminate(0, Duration::from_secs(10));
    let state = p.ns.on_node(Dir::Lib).join("hbd").display().to_string();
    p.n(0)
        .must(&["mount", "-t", "tmpfs", "-o", "size=16k", "hbdfull", &state]);
    let _ = p.n(0).sh(&format!(
        "dd if=/dev/zero of={state}/fill bs=4k count=64 2>/dev/null"
    ));
    let free = p.n(0).sh(&format!("df -k {state} | tail -1"));
    let before = p.log(0).len();
    let pid = p.start(0);
    sleep(Duration::from_secs(4));
    let exited = lab::alive(&[pid]).is_empty();
    let log = p.log(0)[before..].to_string();
    let panicked = log.contains("panicked");
    let names = log.contains(&state) && (log.contains("space") || log.contains("ENOSPC"));
    let served_by_b = p.client().http_get(FLOAT, PORT, 500).map(|(b, _)| b);
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let last_line = log
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    let mut bad = vec![];
    check(&mut bad, stopped.is_some(), "nodea did not stop on SIGTERM");
    check(&mut bad, !panicked, "hbd panicked");
    check(
        &mut bad,
        !exited || names,
        format!("exited without naming {state} and the error: {last_line}"),
    );
    check(
        &mut bad,
        served_by_b.as_deref() == Some("nodeb"),
        format!("service answered by {served_by_b:?}"),
    );
    check(&mut bad, dual == 0, format!("dual {dual} ms"));
    let _ = free;
    row(
        name,
        expected,
        format!(
            "hbd {}; last log line: {last_line}",
            if exited { "exited" } else { "kept running" }
        ),
        Some(dual),
        Some(m.longest_outage(fault)),
        bad,
    )
}

fn reload_with_errors() -> Row {
    let name = "SIGHUP with a broken hbd.toml on the active node, then fixed and SIGHUP again";
    let expected = "errors logged with file:line, running configuration kept, no failover, service uninterrupted; the fixed file reloads";
    let mut p = Pair::new(Opts::default());
    p.bring_up();
    let pr = p.samplers();
    sleep(Duration::from_millis(300));
    let fault = pr.now();
    let pid = p.ns.pid(0).unwrap();
    let good = p.toml_text[0].clone();
    let broken = good.replace(
        &format!("deadtime = \"{DEADTIME_MS}ms\""),
        "deadtime = \"3O\"",
    );
    assert_ne!(broken, good);
    let before = p.log(0).len();
    fs::write(p.toml(0), &broken).unwrap();
    lab::signal(pid, "HUP");
    sleep(Duration::from_secs(2));
    let after_bad = p.log(0)[before..].to_string();
    let names_line = after_bad.contains("hbd.toml:") && after_bad.contains("deadtime");
    fs::write(p.toml(0), &good).unwrap();
    let before = p.log(0).len();
    lab::signal(pid, "HUP");
    sleep(Duration::from_secs(2));
    let after_good = p.log(0)[before..].to_string();
    let alive = !lab::alive(&[pid]).is_empty();
    let m = pr.finish();
    let dual = m.dual_ms(fault);
    let outage = m.longest_outage(fault);
    let mut bad = vec![];
    check(&mut bad, alive, "hbd died on the reload");
    check(
        &mut bad,
        names_line,
        format!("the log does not name hbd.toml:LINE and deadtime: {after_bad}"),
    );
    check(
        &mut bad,
        m.owner_changes() == 0 && m.final_holder() == 0,
        "the group moved",
    );
    check(&mut bad, outage < 500, format!("outage {outage} ms"));
    check(
        &mut bad,
        !after_good.to_lowercase().contains("error"),
        format!("the fixed file was not accepted: {after_good}"),
    );
    let line = after_bad
        .lines()
        .find(|l| l.contains("hbd.toml:"))
        .unwrap_or("")
        .to_string();
    row(
        name,
        expected,
        format!(
            "logged: {}; 0 owner changes: {}; longest outage {outage} ms",
            line.trim(),
            m.owner_changes() == 0
        ),
        Some(dual),
        Some(outage),
        bad,
    )
}

// ------------------------------------------------------------------- runner

#[test]
fn fault_matrix() {
    let test = "fault_matrix";
    if !Needs::new(test)
        .lab()
        .tool("socat", "socat")
        .tool("curl", "curl")
        .tool("nft", "nftables")
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    let _one = testkit::one_at_a_time();
    let only: Option<Vec<String>> = std::env::var("HBD_FAULTS")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut rows = Vec::new();
    for (key, f) in SCENARIOS {
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == key)) {
            continue;
        }
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = key.to_string();
        let t = Instant::now();
        let r = std::panic::catch_unwind(f).unwrap_or_else(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Row {
                scenario: key.to_string(),
                expected: "(see the scenario)".into(),
                observed: "the scenario could not complete".into(),
                dual_ms: None,
                service_ms: None,
                verdict: Verdict::Fail(msg.chars().take(600).collect()),
            }
        });
        eprintln!(
            "[{key}] {:.1}s: {} | dual {:?} ms | service {:?} ms | {}",
            t.elapsed().as_secs_f64(),
            r.observed,
            r.dual_ms,
            r.service_ms,
            r.verdict.cell()
        );
        rows.push(r);
    }
    let legend = format!(
        "Lab: two `hbd run` in network namespaces, ucast over a veth cable and a serial link over a socat pty pair, \
         keepalive {KEEPALIVE_MS} ms, deadtime {DEADTIME_MS} ms, initdead 2 s, auto_failback off; the group is \
         `IPaddr::{FLOAT}/24/svc0` + a web service (`hbweb`), home nodea. Dual-ownership window: time both nodes \
         held the address (or the group's mount), sampled every ~5 ms from `/proc/<pid>/net/fib_trie` and \
         `/proc/<pid>/mounts`. Time to service: for rows where the group moves, from the fault to the first HTTP \
         answer from the new holder (client probes every ~10 ms); for rows where it must not move, the longest \
         stretch without an answer. {}",
        if only.is_some() { "**Partial run (HBD_FAULTS).**" } else { "" }
    );
    reliability::write_section(
        "faults",
        "Fault injection (tests/faults.rs)",
        &legend,
        &rows,
    );
    reliability::assert_green(&rows);
}
