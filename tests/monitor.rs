//! Resource monitoring for real (root; skipped with a printed reason
//! otherwise, a failure under HBD_REQUIRE_LAB=1): two `hbd run` daemons on
//! the namespace pair (testkit::nspair) run the takeover lab's group (a
//! floating address, an ext4 filesystem on the shared loop disk, an HTTP
//! service) from an `hbd.toml` with a monitor on the service, while a client
//! on the service LAN asks for the page.
//!
//! The service is `web`, a resource.d wrapper of the `hbweb` fixture that a
//! test can break on one node: `<run>/web-broken` makes its start fail
//! there, `<run>/web-hang` makes its next `monitor` hang (once). `<run>` is
//! node-local (the pair's shared layout), so the flag is seen by one node.
//!
//! While a cluster runs, a sampler reads both nodes' mount tables every 5 ms;
//! a test fails if the filesystem was ever mounted on both.

use hbd::control::{GroupReport, StatusReport};
use hbd::core::{GroupState, MonitorState, RscHold};
use hbd::demo::cluster as dc;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};
use testkit::lab::{self, Node};
use testkit::nspair::{Dir, NsPair, Opts, HB_ADDRS, SVC_IF};
use testkit::skip::Needs;
use testkit::{one_at_a_time, wait_for};

const NAMES: [&str; 2] = ["nodea", "nodeb"];
const FLOAT: &str = "192.0.2.100";
const PORT: u16 = 8080;
const MNT: &str = "/srv/data";
const PAGE: &str = "served from the shared disk\n";

fn needs(test: &str) -> Needs {
    Needs::new(test)
        .lab()
        .tool("socat", "socat")
        .tool("curl", "curl")
        .tool("arping", "iputils-arping")
        .tool("mkfs.ext4", "e2fsprogs")
        .tool("losetup", "util-linux")
        .tool("fuser", "psmisc")
}

/// The monitor's settings, as written in the `[[group.monitor]]` table.
struct Watch {
    check: &'static str,
    interval_ms: u64,
    timeout_ms: u64,
    fall: u32,
    on_fail: &'static str,
}

impl Watch {
    fn toml(&self) -> String {
        format!(
            "\n[[group.monitor]]\nresource = \"web\"\ncheck = \"{}\"\ninterval = \"{}ms\"\ntimeout = \"{}ms\"\nfall = {}\non_fail = \"{}\"\n",
            self.check, self.interval_ms, self.timeout_ms, self.fall, self.on_fail
        )
    }
}

/// `web`: hbweb, unless this node's flags say otherwise.
fn web_script(run: &Path) -> String {
    let hbweb = testkit::repo().join("tests/fixtures/resource.d/hbweb");
    format!(
        "#!/bin/sh\n\
         # tests/monitor.rs: the hbweb fixture, breakable on one node.\n\
         for a in \"$@\"; do action=$a; done\n\
         if [ \"$action\" = start ] && [ -e {run}/web-broken ]; then\n\
         \techo \"web: broken on $(uname -n)\" >&2; exit 1\n\
         fi\n\
         if [ \"$action\" = monitor ] && [ -e {run}/web-hang ]; then\n\
         \trm -f {run}/web-hang; echo \"web: hanging\"; sleep 60\n\
         fi\n\
         exec {hbweb} \"$@\"\n",
        run = run.display(),
        hbweb = hbweb.display()
    )
}

fn mounted_at(holder: u32) -> bool {
    fs::read_to_string(format!("/proc/{holder}/mounts"))
        .map(|t| t.lines().any(|l| l.split(' ').nth(1) == Some(MNT)))
        .unwrap_or(false)
}

/// Samples both nodes' mount tables every 5 ms (at most 10 minutes): the
/// holders of the filesystem in order, and any sample with both.
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(Vec<&'static str>, u64, u64)>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(holders: [u32; 2]) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((Vec::new(), 0, 0)));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            while !stop2.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(600) {
                // a, b, a: a handover between two reads must not look like both.
                let (a1, b, a2) = (
                    mounted_at(holders[0]),
                    mounted_at(holders[1]),
                    mounted_at(holders[0]),
                );
                let mut s = seen2.lock().unwrap_or_else(|e| e.into_inner());
                s.2 += 1;
                if a1 && b && a2 {
                    s.1 += 1;
                }
                let who = match (a2, b) {
                    (true, false) => Some("nodea"),
                    (false, true) => Some("nodeb"),
                    _ => None,
                };
                if let Some(w) = who.filter(|w| s.0.last() != Some(w)) {
                    s.0.push(w);
                }
                drop(s);
                sleep(Duration::from_millis(5));
            }
        });
        Sampler {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Stops; asserts the disk was never mounted on both and returns the
    /// holders in order.
    fn finish(mut self) -> Vec<&'static str> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let (holders, both, samples) = self.seen.lock().unwrap().clone();
        assert_eq!(both, 0, "{MNT} mounted on both nodes ({holders:?})");
        assert!(samples >= 10, "too few samples: {samples}");
        holders
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The pair, its files and the sampler. Field order is drop order.
struct Cluster {
    sampler: Option<Sampler>,
    key: String,
    ns: NsPair,
}

impl Cluster {
    fn build(watch: Watch) -> Cluster {
        let opts = Opts {
            disk_mib: Some(16),
            ..Opts::default()
        };
        let ns = NsPair::new(opts, &testkit::hbd_exe!());
        let disk = ns.disk.clone().expect("the shared disk");
        let run = ns.on_node(Dir::Run);
        let key = format!("IPaddr::{FLOAT}/24/{SVC_IF}");
        // One file for both nodes, as on two machines.
        let toml = format!(
            "# tests/monitor.rs: identical on both nodes\n\
             nodes = [\"{na}\", \"{nb}\"]\n\
             keepalive = \"200ms\"\n\
             warntime = \"1s\"\n\
             deadtime = \"2s\"\n\
             initdead = \"4s\"\n\
             auto_failback = \"on\"\n\
             \n[[media]]\ntype = \"ucast\"\ndev = \"hb0\"\npeer = \"{ha}\"\n\
             \n[[media]]\ntype = \"ucast\"\ndev = \"hb0\"\npeer = \"{hb}\"\n\
             \n[[media]]\ntype = \"serial\"\npath = \"{tty}\"\n\
             \n[auth]\nauthkeys = \"authkeys\"\n\
             \n[[group]]\nhome = \"{na}\"\n\
             resources = [\"{key}\", \"Filesystem::{dev}::{MNT}::ext4\", \"web::{FLOAT}::{PORT}::{MNT}\"]\n\
             {monitor}\
             \n[hbd]\nscript_timeout = \"20s\"\n",
            na = NAMES[0],
            nb = NAMES[1],
            ha = HB_ADDRS[0],
            hb = HB_ADDRS[1],
            tty = run.join("ttyHB0").display(),
            dev = disk.dev.display(),
            monitor = watch.toml(),
        );
        let scripts = testkit::repo().join("resource.d");
        fs::create_dir_all(ns.lab().dir().join("srv/data")).unwrap();
        for (i, n) in ns.nodes.iter().enumerate() {
            let etc = ns.host(i, Dir::Etc);
            let rd = etc.join("resource.d");
            fs::write(etc.join("hbd.toml"), &toml).unwrap();
            let keys = etc.join("authkeys");
            fs::write(&keys, "auth 1\n1 sha1 monitor-lab-not-a-secret\n").unwrap();
            fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
            symlink(scripts.join("IPaddr"), rd.join("IPaddr")).unwrap();
            symlink(scripts.join("Filesystem"), rd.join("Filesystem")).unwrap();
            let web = rd.join("web");
            fs::write(&web, web_script(&run)).unwrap();
            fs::set_permissions(&web, fs::Permissions::from_mode(0o755)).unwrap();
            n.bind(&ns.lab().dir().join("srv"), Path::new("/srv"));
        }
        ns.nodes[0].must(&[
            "sh",
            "-c",
            &format!(
                "mount {dev} {MNT} && printf '{page}' > {MNT}/index.html && umount {MNT}",
                dev = disk.dev.display(),
                page = PAGE.replace('\n', "\\n"),
            ),
        ]);
        let sampler = Sampler::start([ns.nodes[0].holder, ns.nodes[1].holder]);
        Cluster {
            sampler: Some(sampler),
            key,
            ns,
        }
    }

    fn toml(&self) -> PathBuf {
        self.ns.on_node(Dir::Etc).join("hbd.toml")
    }

    /// `hbd check` (the file must be right for this node), then `hbd run`.
    fn start(&mut self, i: usize) {
        let out = self.hbd(i, &["check", "-c", &self.toml().display().to_string()]);
        let text = text(&out);
        assert!(
            out.status.success() && text.contains(" 0 errors,"),
            "{}: hbd check: {text}",
            NAMES[i]
        );
        let cmd = self.ns.hbd_command(i, &self.toml());
        self.ns.start(i, cmd);
    }

    /// `hbd ARGS` run inside node `i` (with its run dir for the control
    /// commands), as an operator would.
    fn hbd(&self, i: usize, args: &[&str]) -> Output {
        let exe = testkit::hbd_exe!();
        let mut argv: Vec<String> = vec![exe.display().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        if args[0] != "check" {
            argv.push("--run-dir".into());
            argv.push(self.ns.hbd_run_dir().display().to_string());
        }
        self.ns.run(i, &argv)
    }

    fn group<'a>(&self, r: &'a StatusReport) -> &'a GroupReport {
        r.groups
            .iter()
            .find(|g| g.key == self.key)
            .expect("the group")
    }

    fn runs_here(&self, r: &StatusReport, i: usize) -> bool {
        let g = self.group(r);
        r.rsc_hold != RscHold::Transition
            && g.state == GroupState::Running
            && g.owner.as_deref() == Some(NAMES[i])
    }

    fn peer_runs(&self, r: &StatusReport, i: usize) -> bool {
        let g = self.group(r);
        r.rsc_hold != RscHold::Transition
            && g.state == GroupState::Peer
            && g.owner.as_deref() == Some(NAMES[1 - i])
    }

    /// nodea alone (it waits initdead and takes its group), then nodeb.
    fn start_pair(&mut self) {
        self.start(0);
        self.ns
            .wait_status(0, Duration::from_secs(20), "running the group alone", |r| {
                self.runs_here(r, 0)
            });
        self.start(1);
        for i in 0..2 {
            self.ns
                .wait_status(i, Duration::from_secs(15), "up, group on nodea", |r| {
                    dc::both_active(r)
                        && if i == 0 {
                            self.runs_here(r, 0)
                        } else {
                            self.peer_runs(r, 1)
                        }
                });
        }
        self.wait_served_by(0, Duration::from_secs(5));
    }

    fn get(&self) -> Option<(String, String)> {
        self.ns
            .client
            .as_ref()
            .expect("a client")
            .http_get(FLOAT, PORT, 300)
    }

    /// Polls the client until node `i` answers with the page.
    fn wait_served_by(&self, i: usize, limit: Duration) -> Duration {
        let t = Instant::now();
        let mut last = None;
        let ok = wait_for(limit, || {
            let r = self.get();
            let done = r.as_ref().is_some_and(|(by, _)| by == NAMES[i]);
            last = r;
            done.then_some(())
        });
        assert!(
            ok.is_some(),
            "the client is not served by {} within {limit:?} (last answer {last:?})",
            NAMES[i]
        );
        assert_eq!(last.map(|(_, b)| b).as_deref(), Some(PAGE));
        t.elapsed()
    }

    /// The service's process on node `i` dies: kill -9 of hbweb's listener
    /// (the socat its pid file names; a child serving a request may be
    /// there too).
    fn kill_service(&self, i: usize) {
        let pidfile = self
            .ns
            .host(i, Dir::Run)
            .join(format!("hbd/rsctmp/hbweb-{FLOAT}-{PORT}.pid"));
        let pid: u32 = fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", NAMES[i], pidfile.display()))
            .trim()
            .parse()
            .expect("a pid");
        let n: &Node = &self.ns.nodes[i];
        assert!(n.pids().contains(&pid), "{}: no listener {pid}", NAMES[i]);
        assert!(cmdline(pid).contains(&format!("TCP-LISTEN:{PORT},")));
        assert!(lab::signal(pid, "KILL"));
    }

    /// Sets or clears flag `name` (`web-broken`, `web-hang`) on node `i`.
    fn flag(&self, i: usize, name: &str, on: bool) {
        let f = self.ns.host(i, Dir::Run).join(name);
        if on {
            fs::write(f, "").unwrap();
        } else {
            let _ = fs::remove_file(f);
        }
    }

    /// How often node `i` ran `web … start` so far.
    fn web_starts(&self, i: usize) -> usize {
        self.ns
            .log(i)
            .lines()
            .filter(|l| l.contains("running ") && l.contains("/web ") && l.ends_with(" start"))
            .count()
    }

    /// How long node `i`'s last `web … start` took, from its log line.
    fn last_web_start(&self, i: usize) -> Duration {
        let log = self.ns.log(i);
        let took = log
            .lines()
            .rev()
            .find(|l| l.contains("/web ") && l.contains(" start: ok after "))
            .and_then(|l| l.rsplit(" ok after ").next())
            .unwrap_or_else(|| panic!("{}: no web start in the log", NAMES[i]));
        parse_took(took.trim())
    }

    fn holders(&mut self) -> Vec<&'static str> {
        self.sampler.take().expect("sampler running").finish()
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// `120ms` or `1.02s`, as hbd logs durations.
fn parse_took(s: &str) -> Duration {
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("ms"))
    } else {
        Duration::from_secs_f64(s.trim_end_matches('s').parse().expect("s"))
    }
}

/// The service process is killed on the node running the group: the
/// monitor notices within `interval × fall`, the service is restarted in
/// place (stop and start of `web` alone: nothing is right of it), clients
/// are served again by the same node, and the peer never takes the group.
#[test]
fn a_killed_service_is_restarted_in_place() {
    let test = "a_killed_service_is_restarted_in_place";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let watch = Watch {
        check: "status",
        interval_ms: 1000,
        timeout_ms: 2000,
        fall: 2,
        on_fail: "restart",
    };
    let bound = Duration::from_millis(watch.interval_ms * watch.fall as u64);
    let mut c = Cluster::build(watch);
    c.start_pair();
    let starts_b = c.web_starts(1);

    let killed = Instant::now();
    c.kill_service(0);
    let back = c.wait_served_by(0, Duration::from_secs(15));
    let started_in = c.last_web_start(0);
    // Two failed checks an interval apart, each a few ms of `status`; then
    // a stop, a status probe and the start. The slack covers the checks,
    // the stop and probe, and the client's polling on a shared machine.
    let slack = Duration::from_millis(2500);
    eprintln!(
        "{test}: served again by nodea {back:?} after the kill (interval × fall {bound:?}, web start {started_in:?})"
    );
    assert!(
        back <= bound + started_in + slack,
        "served again after {back:?}: more than interval × fall ({bound:?}) + the start ({started_in:?}) + {slack:?}"
    );
    assert!(killed.elapsed() >= back);
    // The page answers as soon as hbweb listens, a moment before `start`
    // returns and the core marks the group running again.
    c.ns.wait_status(0, Duration::from_secs(5), "running again", |r| {
        c.runs_here(r, 0)
    });
    let r = c.ns.status(0).unwrap();
    let g = c.group(&r);
    assert_eq!(
        (g.state, g.owner.as_deref(), &g.failure),
        (GroupState::Running, Some("nodea"), &None)
    );
    assert_eq!(g.monitors.len(), 1);
    assert_eq!(g.monitors[0].fail_count, 1, "{:#?}", g.monitors);
    assert_eq!(g.fail_counts, vec![0, 0, 1]);
    let last = g.monitors[0].last_failure.as_ref().expect("the failure");
    assert_eq!(
        (last.action.as_str(), last.resource.as_str()),
        ("status", "web::192.0.2.100::8080::/srv/data")
    );
    assert!(
        r.recent.iter().any(|t| t.text.contains("restarting")),
        "{:?}",
        r.recent
    );
    // Restarted in place: only `web` was stopped and started; nodeb did not move.
    assert!(c.peer_runs(&c.ns.status(1).unwrap(), 1));
    assert_eq!(c.web_starts(1), starts_b, "nodeb started the service");
    wait_for(Duration::from_secs(5), || {
        let r = c.ns.status(0)?;
        (c.group(&r).monitors[0].state == MonitorState::Ok).then_some(())
    })
    .expect("the monitor reports ok again");
    assert_eq!(c.holders(), ["nodea"]);
}

/// The service cannot start on nodea any more: its restart fails, nodea
/// stops the group and hands it to nodeb, which serves. Then it cannot start
/// on nodeb either: nodeb hands it back and nodea does not take it (it
/// failed there): the group stays stopped, both nodes say why, nothing is
/// retried, `cl_status rscstatus` exits 1. Once the cause is fixed,
/// `hbd cleanup` on nodea brings it back; on nodeb it clears nodeb's mark.
#[test]
fn an_unstartable_service_moves_once_then_stays_stopped_until_cleanup() {
    let test = "an_unstartable_service_moves_once_then_stays_stopped_until_cleanup";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut c = Cluster::build(Watch {
        check: "status",
        interval_ms: 1000,
        timeout_ms: 2000,
        fall: 1,
        on_fail: "restart",
    });
    c.start_pair();

    // Unstartable here: the group moves to the peer, never on both.
    c.flag(0, "web-broken", true);
    let t = Instant::now();
    c.kill_service(0);
    c.wait_served_by(1, Duration::from_secs(20));
    eprintln!("{test}: served by nodeb {:?} after the kill", t.elapsed());
    c.ns.wait_status(0, Duration::from_secs(5), "the group on nodeb", |r| {
        c.peer_runs(r, 0)
    });
    let r = c.ns.status(0).unwrap();
    let f = c.group(&r).failure.clone().expect("nodea says why");
    assert_eq!(
        (f.resource.as_str(), f.action.as_str(), f.exit_code),
        ("web::192.0.2.100::8080::/srv/data", "start", Some(1))
    );
    assert!(f.output.contains("web: broken on nodea"), "{f:?}");
    assert!(
        r.recent.iter().any(|t| t
            .text
            .contains("start of web::192.0.2.100::8080::/srv/data failed")),
        "{:?}",
        r.recent
    );

    // Unstartable on nodeb too: handed back, not taken: stopped everywhere.
    c.flag(1, "web-broken", true);
    c.kill_service(1);
    for i in 0..2 {
        c.ns.wait_status(i, Duration::from_secs(20), "the group failed", |r| {
            let g = c.group(r);
            r.rsc_hold != RscHold::Transition
                && g.state == GroupState::Failed
                && g.owner.is_none()
                && g.failure.is_some()
        });
    }
    let starts = [c.web_starts(0), c.web_starts(1)];
    sleep(Duration::from_secs(5));
    assert_eq!(
        [c.web_starts(0), c.web_starts(1)],
        starts,
        "a start was tried again (ping-pong)"
    );
    assert!(c.get().is_none(), "someone still serves");
    for (i, name) in NAMES.iter().enumerate() {
        let out = c.hbd(i, &["cl_status", "rscstatus"]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        assert!(text(&out).contains("failed here"), "{}", text(&out));
    }
    let human = text(&c.hbd(0, &["status"]));
    assert!(
        human.contains("failed here: start of web::192.0.2.100::8080::/srv/data failed")
            && human.contains(&format!(
                "way out: fix the cause, then `hbd cleanup {}`",
                c.key
            )),
        "{human}"
    );

    // Fixed: cleanup on nodea brings it back there.
    c.flag(0, "web-broken", false);
    c.flag(1, "web-broken", false);
    let out = c.hbd(0, &["cleanup", &c.key, "--wait", "30"]);
    assert!(out.status.success(), "hbd cleanup: {}", text(&out));
    assert!(text(&out).contains("cleanup settled"), "{}", text(&out));
    c.wait_served_by(0, Duration::from_secs(5));
    let out = c.hbd(1, &["cleanup", "web", "--wait", "30"]);
    assert!(out.status.success(), "hbd cleanup on nodeb: {}", text(&out));
    c.ns.wait_status(1, Duration::from_secs(5), "clean, group on nodea", |r| {
        c.peer_runs(r, 1) && c.group(r).failure.is_none()
    });
    let out = c.hbd(0, &["cl_status", "rscstatus"]);
    assert_eq!((out.status.code(), text(&out).trim()), (Some(0), "local"));
    assert_eq!(c.holders(), ["nodea", "nodeb", "nodea"]);
}

/// An OCF `monitor` that hangs is killed at its timeout (its whole process
/// group: no `sleep 60` is left) and counted as a failure: the service is
/// restarted in place.
#[test]
fn a_hanging_monitor_is_killed_at_its_timeout_and_counted() {
    let test = "a_hanging_monitor_is_killed_at_its_timeout_and_counted";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut c = Cluster::build(Watch {
        check: "monitor",
        interval_ms: 1000,
        timeout_ms: 1000,
        fall: 1,
        on_fail: "restart",
    });
    c.start_pair();
    c.flag(0, "web-hang", true);
    c.ns.wait_status(0, Duration::from_secs(15), "a failure counted", |r| {
        c.group(r).monitors[0].fail_count == 1
    });
    c.ns.wait_status(0, Duration::from_secs(10), "running again", |r| {
        c.runs_here(r, 0)
    });
    let r = c.ns.status(0).unwrap();
    let last = c.group(&r).monitors[0].last_failure.clone().unwrap();
    assert_eq!(last.action, "monitor");
    assert!(last.reason.contains("timeout"), "{last:?}");
    assert_eq!(last.exit_code, None);
    assert!(last.output.contains("web: hanging"), "{last:?}");
    let sleepers: Vec<u32> = c.ns.nodes[0]
        .pids()
        .into_iter()
        .filter(|p| cmdline(*p).starts_with("sleep 60"))
        .collect();
    assert!(sleepers.is_empty(), "the hanging monitor left {sleepers:?}");
    c.wait_served_by(0, Duration::from_secs(5));
    assert!(c.peer_runs(&c.ns.status(1).unwrap(), 1));
    assert_eq!(c.holders(), ["nodea"]);
}
