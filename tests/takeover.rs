//! Real takeover in network namespaces (root; skipped with a printed reason
//! otherwise, a failure under HBD_REQUIRE_LAB=1): two `hbd run` daemons on
//! the namespace pair (testkit::nspair) move a group of a floating address, a
//! shared-disk filesystem and an HTTP service between them, while a client on
//! the service LAN asks for the page.
//!
//! The pair: nodes `nodea` and `nodeb` (own network, mount and UTS
//! namespaces: `uname -n` is the node's name), the heartbeat cable `hb0`
//! (10.250.0.0/24) and a serial cable (a socat pty pair), the service LAN
//! (192.0.2.0/24) with `svc0` on each node and `cli0` on the client, and an
//! ext4 image on a loop device as the shared disk. Each node mounts it in its
//! own mount namespace at `/srv/data`.
//!
//! Both nodes get byte-identical `ha.cf`, `haresources` and `authkeys` and run
//! the same command line: the pair's shared layout gives each node its own
//! root at `<lab>/node` (ha.d, state, run directory and its end of the serial
//! cable), and `/srv` is a per-lab directory bound over the host's in both.
//!
//! While a cluster runs, a sampler reads both nodes' mount tables every 5 ms
//! and a test fails if the filesystem was ever seen mounted on both.
//! Every test ends by dropping the lab and checking that no namespace, loop
//! device, mount or process of it is left.

use hbd::control::StatusReport;
use hbd::core::{GroupState, NodeState, RscHold};
use hbd::demo::cluster as dc;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};
use testkit::lab::{self, Lab, Node};
use testkit::nspair::{Dir, NsPair, Opts, HB_ADDRS, SVC_IF};
use testkit::skip::Needs;
use testkit::{one_at_a_time, wait_for};

const NAMES: [&str; 2] = ["nodea", "nodeb"];
const FLOAT: &str = "192.0.2.100";
const PORT: u16 = 8080;
const MNT: &str = "/srv/data";
const PAGE: &str = "served from the shared disk\n";
/// heartbeat's own resource.d (Debian package `heartbeat`).
const HEARTBEAT_RD: &str = "/etc/ha.d/resource.d";

/// What differs between the tests' clusters.
#[derive(Clone, Debug)]
struct Setup {
    auto_failback: &'static str,
    keepalive: &'static str,
    warntime: &'static str,
    deadtime: &'static str,
    initdead: &'static str,
    /// Index of a node that has no `<run>/disk` device link: its
    /// Filesystem start fails (exit 6, "not configured on this node").
    device_missing_on: Option<usize>,
    /// IPaddr and Filesystem are heartbeat 3.0.6's own resource.d scripts.
    heartbeat_scripts: bool,
    /// The heartbeat paths.
    media: Media,
}

/// How the nodes heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    /// Two `ucast hb0 ADDR` lines and the serial cable.
    UcastAndSerial,
    /// `bcast hb0` and the serial cable.
    BcastAndSerial,
    /// IPv6 only: two `ucast6 hb0` lines to the nodes' link-local addresses
    /// (`LINK_LOCAL`), one with its `%hb0` scope written, one without.
    Ucast6Only,
}

/// The nodes' link-local addresses on `hb0` in the `Ucast6Only` setup, fixed
/// (beside the kernel's own, derived from the MAC) so ha.cf can name them.
const LINK_LOCAL: [&str; 2] = ["fe80::a", "fe80::b"];

impl Setup {
    fn new() -> Setup {
        Setup {
            auto_failback: "on",
            keepalive: "200ms",
            warntime: "500ms",
            deadtime: "1",
            initdead: "2",
            device_missing_on: None,
            heartbeat_scripts: false,
            media: Media::UcastAndSerial,
        }
    }
}

/// What this file's tests need.
fn needs(test: &str) -> Needs {
    Needs::new(test)
        .lab()
        .tool("socat", "socat")
        .tool("arping", "iputils-arping")
        .tool("mkfs.ext4", "e2fsprogs")
        .tool("losetup", "util-linux")
        .tool("fuser", "psmisc")
}

/// Reads both nodes' mount tables every 5 ms (bounded: at most 10 minutes)
/// and keeps every change of "is the shared filesystem mounted here".
struct MountSampler {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<SampleLog>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct SampleLog {
    /// (ms since the sampler started, mounted on nodea, mounted on nodeb).
    changes: Vec<(u64, bool, bool)>,
    /// Samples in which both nodes had it mounted.
    both: Vec<u64>,
    samples: u64,
}

fn mounted_at(holder: u32, mnt: &str) -> bool {
    // /proc/PID/mounts of the node's holder is the node's mount table; a
    // holder that is gone (a crashed node) has none.
    fs::read_to_string(format!("/proc/{holder}/mounts"))
        .map(|t| t.lines().any(|l| l.split(' ').nth(1) == Some(mnt)))
        .unwrap_or(false)
}

impl MountSampler {
    fn start(holders: [u32; 2]) -> MountSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(SampleLog::default()));
        let start = Instant::now();
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let limit = Duration::from_secs(600);
            let mut last = None;
            while !stop2.load(Ordering::Relaxed) && start.elapsed() < limit {
                // a, b, a again: a handover between the two reads of a node
                // must not look like an overlap, so both reads of nodea must
                // agree that it was mounted while nodeb was.
                let a1 = mounted_at(holders[0], MNT);
                let b = mounted_at(holders[1], MNT);
                let a2 = mounted_at(holders[0], MNT);
                let t = start.elapsed().as_millis() as u64;
                let mut l = log2.lock().unwrap_or_else(|e| e.into_inner());
                l.samples += 1;
                if a1 && b && a2 {
                    l.both.push(t);
                }
                if last != Some((a2, b)) {
                    l.changes.push((t, a2, b));
                    last = Some((a2, b));
                }
                drop(l);
                sleep(Duration::from_millis(5));
            }
        });
        MountSampler {
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// Stops sampling and returns what it saw.
    fn finish(mut self) -> SampleLog {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for MountSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SampleLog {
    fn describe(&self) -> String {
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|(t, a, b)| {
                let on = match (a, b) {
                    (false, false) => "nowhere",
                    (true, false) => "nodea",
                    (false, true) => "nodeb",
                    (true, true) => "BOTH",
                };
                format!("{t}ms: {on}")
            })
            .collect();
        format!("{} samples; {}", self.samples, changes.join(", "))
    }

    /// The filesystem was never seen mounted on both nodes.
    fn assert_never_both(&self) {
        assert!(
            self.both.is_empty(),
            "{MNT} mounted on both nodes at {:?} ms (mount table changes: {})",
            &self.both[..self.both.len().min(10)],
            self.describe()
        );
        // A sampler that did not run proves nothing.
        assert!(self.samples >= 10, "too few samples: {}", self.describe());
    }

    /// The holders of the filesystem in the order seen, without repeats.
    fn holders(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for (_, a, b) in &self.changes {
            let who = match (a, b) {
                (true, false) => "nodea",
                (false, true) => "nodeb",
                (true, true) => "both",
                _ => continue,
            };
            if out.last() != Some(&who) {
                out.push(who);
            }
        }
        out
    }
}

/// The client's view: one HTTP GET to the floating address from inside the
/// client's network namespace, done by a thread of this process that enters
/// it (no process spawned per request, so the client can poll every 10 ms).
/// `(X-Served-By, body)` on a 200 answer.
fn http_get(netns: &str, timeout: Duration) -> Option<(String, String)> {
    let path = PathBuf::from("/run/netns").join(netns);
    std::thread::spawn(move || {
        let ns = fs::File::open(&path).ok()?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
        let addr: SocketAddr = (FLOAT.parse::<std::net::Ipv4Addr>().ok()?, PORT).into();
        let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
        s.set_read_timeout(Some(timeout)).ok()?;
        s.set_write_timeout(Some(timeout)).ok()?;
        s.write_all(format!("GET / HTTP/1.0\r\nHost: {FLOAT}\r\n\r\n").as_bytes())
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.0 200") {
            return None;
        }
        let by = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Served-By: "))?
            .trim()
            .to_string();
        Some((by, body.to_string()))
    })
    .join()
    .ok()
    .flatten()
}

/// The lab's `/srv` on a node (where the disk is mounted): the pair's shared
/// layout gives the node the rest.
fn bind_srv(lab_dir: &Path, n: &Node) {
    n.bind(&lab_dir.join("srv"), Path::new("/srv"));
}

/// The peer is heard on the serial cable and on `hb0`, and those are the only
/// two links: the `ucast hb0` line naming the node's own address is not a link
/// (it would only hear the node itself and make a working `hb0` look dead).
fn every_link_hears_the_peer(r: &StatusReport) -> bool {
    r.links.len() == 2 && r.links.iter().all(|l| l.up)
}

/// Gives node `i` its fixed link-local address on `hb0`, usable at once (no
/// duplicate address detection on a lab cable). The kernel removes link-local
/// addresses when a link goes down, whatever `keep_addr_on_down` says, so a
/// rebooted node needs it again, as a real one gets it from its network setup.
fn add_link_local(ns: &NsPair, i: usize) {
    let cidr = format!("{}/64", LINK_LOCAL[i]);
    ns.nodes[i].must(&["ip", "-6", "addr", "replace", &cidr, "dev", "hb0", "nodad"]);
}

/// The one ucast6 link of the `Ucast6Only` setup hears the peer.
fn the_ucast6_link_hears_the_peer(r: &StatusReport) -> bool {
    r.links.len() == 1 && r.links[0].kind == "ucast6" && r.links[0].up
}

/// A two-node cluster on the namespace pair. Field order is drop order: the
/// sampler goes before the pair kills the daemons and the lab.
struct Cluster {
    sampler: Option<MountSampler>,
    key: String,
    media: Media,
    ns: NsPair,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The pair prints the daemons' logs; the mount history is ours.
        if std::thread::panicking() {
            if let Some(s) = self.sampler.take() {
                eprintln!("--- mount samples ---\n{}", s.finish().describe());
            }
        }
    }
}

impl Cluster {
    /// Builds the lab and both nodes' files; starts nothing but the sampler.
    fn build(setup: Setup) -> Cluster {
        let opts = Opts {
            disk_mib: Some(16),
            ..Opts::default()
        };
        let ns = NsPair::new(opts, &testkit::hbd_exe!());
        let client = ns.client.as_ref().expect("a client");
        // The client keeps a neighbour entry it has for 60 s (reachable) and
        // only probes it 30 s after it goes stale: within a test, the entry
        // can change to a new MAC only because someone told the client (the
        // survivor's gratuitous ARP), never by the client asking again.
        // (/proc/sys/net is the reading process's network namespace's.)
        client.must(&[
            "sh",
            "-c",
            "echo 60000 > /proc/sys/net/ipv4/neigh/cli0/base_reachable_time_ms \
             && echo 30 > /proc/sys/net/ipv4/neigh/cli0/delay_first_probe_time",
        ]);
        let probe = client.sh("cat /proc/sys/net/ipv4/neigh/cli0/delay_first_probe_time");
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "30");
        let disk = ns.disk.clone().expect("the shared disk");
        if setup.media == Media::Ucast6Only {
            for i in 0..2 {
                add_link_local(&ns, i);
            }
        }

        // Identical configuration files, one copy per node (as on two machines).
        let srv = ns.lab().dir().join("srv");
        fs::create_dir_all(&srv).unwrap();
        let run = ns.on_node(Dir::Run);
        let device = if setup.device_missing_on.is_some() {
            run.join("disk").display().to_string()
        } else {
            disk.dev.display().to_string()
        };
        let ha_cf = format!(
            "# tests/takeover.rs: identical on both nodes\n\
             keepalive {ka}\n\
             deadtime {dt}\n\
             warntime {wt}\n\
             initdead {id}\n\
             udpport 694\n\
             baud 19200\n\
             {serial}\
             {media}\
             auto_failback {af}\n\
             node {na}\n\
             node {nb}\n",
            ka = setup.keepalive,
            wt = setup.warntime,
            dt = setup.deadtime,
            id = setup.initdead,
            serial = match setup.media {
                Media::Ucast6Only => String::new(),
                _ => format!("serial {}\n", run.join("ttyHB0").display()),
            },
            media = match setup.media {
                Media::BcastAndSerial => "bcast hb0\n".to_string(),
                // A line to our own address is harmless: one file, both nodes.
                Media::UcastAndSerial => {
                    format!("ucast hb0 {}\nucast hb0 {}\n", HB_ADDRS[0], HB_ADDRS[1])
                }
                Media::Ucast6Only => format!(
                    "ucast6 hb0 {}%hb0\nucast6 hb0 {}\n",
                    LINK_LOCAL[0], LINK_LOCAL[1]
                ),
            },
            af = setup.auto_failback,
            na = NAMES[0],
            nb = NAMES[1],
        );
        let key = format!("IPaddr::{FLOAT}/24/{SVC_IF}");
        let haresources = format!(
            "{} {key} Filesystem::{device}::{MNT}::ext4 hbweb::{FLOAT}::{PORT}::{MNT}\n",
            NAMES[0]
        );
        let scripts = if setup.heartbeat_scripts {
            PathBuf::from(HEARTBEAT_RD)
        } else {
            testkit::repo().join("resource.d")
        };
        for (i, n) in ns.nodes.iter().enumerate() {
            let ha_d = ns.host(i, Dir::Etc);
            let rd = ha_d.join("resource.d");
            fs::write(ha_d.join("ha.cf"), &ha_cf).unwrap();
            fs::write(ha_d.join("haresources"), &haresources).unwrap();
            let keys = ha_d.join("authkeys");
            fs::write(&keys, "auth 1\n1 sha1 takeover-lab-not-a-secret\n").unwrap();
            fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
            symlink(scripts.join("IPaddr"), rd.join("IPaddr")).unwrap();
            symlink(scripts.join("Filesystem"), rd.join("Filesystem")).unwrap();
            symlink(
                testkit::repo().join("tests/fixtures/resource.d/hbweb"),
                rd.join("hbweb"),
            )
            .unwrap();
            if setup.device_missing_on != Some(i) {
                symlink(&disk.dev, ns.host(i, Dir::Run).join("disk")).unwrap();
            }
            bind_srv(ns.lab().dir(), n);
        }
        // The page lives on the shared disk: written once from nodea.
        fs::create_dir_all(srv.join("data")).unwrap();
        ns.nodes[0].must(&[
            "sh",
            "-c",
            &format!(
                "mount {dev} {MNT} && printf '{page}' > {MNT}/index.html && umount {MNT}",
                dev = disk.dev.display(),
                page = PAGE.replace('\n', "\\n"),
            ),
        ]);
        let sampler = MountSampler::start([ns.nodes[0].holder, ns.nodes[1].holder]);
        Cluster {
            sampler: Some(sampler),
            key,
            media: setup.media,
            ns,
        }
    }

    fn client(&self) -> &Node {
        self.ns.client.as_ref().expect("a client")
    }

    /// The ha.d directory, as both nodes see it.
    fn etc(&self) -> PathBuf {
        self.ns.on_node(Dir::Etc)
    }

    /// Starts `hbd run` on node `i`: the same command line on both nodes.
    /// `hbd check` first: the identical files must be right for this node.
    fn start(&mut self, i: usize) {
        let exe = testkit::hbd_exe!();
        let out = self.ns.run(
            i,
            &[
                exe.as_os_str(),
                "check".as_ref(),
                "-c".as_ref(),
                self.etc().as_os_str(),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success()
                && text.contains(" 0 errors,")
                && text.contains(&format!("can run as node {}", NAMES[i])),
            "{}: hbd check ({}): {text}",
            NAMES[i],
            out.status
        );
        let cmd = self.ns.hbd_command(i, &self.etc());
        self.ns.start(i, cmd);
    }

    /// Node `i` reports the group running on itself, nothing in transition.
    fn runs_here(&self, r: &StatusReport, i: usize) -> bool {
        r.rsc_hold != RscHold::Transition
            && r.groups.iter().any(|g| {
                g.key == self.key
                    && g.state == GroupState::Running
                    && g.owner.as_deref() == Some(NAMES[i])
            })
    }

    /// Node `i` reports the group running on its peer, nothing in transition.
    fn peer_runs(&self, r: &StatusReport, i: usize) -> bool {
        r.rsc_hold != RscHold::Transition
            && r.groups.iter().any(|g| {
                g.key == self.key
                    && g.state == GroupState::Peer
                    && g.owner.as_deref() == Some(NAMES[1 - i])
            })
    }

    fn get(&self, timeout: Duration) -> Option<(String, String)> {
        http_get(&self.client().netns, timeout)
    }

    /// Polls the client until node `i` answers; the time it took.
    fn wait_served_by(&self, i: usize, limit: Duration) -> Duration {
        let t = Instant::now();
        let mut last = None;
        let ok = wait_for(limit, || {
            let r = self.get(Duration::from_millis(200));
            let done = r.as_ref().is_some_and(|(by, _)| by == NAMES[i]);
            last = r;
            done.then_some(())
        });
        assert!(
            ok.is_some(),
            "the client is not served by {} within {limit:?} (last answer {last:?})",
            NAMES[i]
        );
        let body = last.map(|(_, b)| b).unwrap_or_default();
        assert_eq!(body, PAGE, "{} serves another page", NAMES[i]);
        t.elapsed()
    }

    /// Starts the home node alone (it waits `initdead`, then takes its
    /// group), then the other one, which joins a running peer: two nodes
    /// started in the same instant would wait heartbeat's 10 s startup
    /// deadlock breaker first.
    fn start_pair(&mut self) {
        self.start(0);
        self.ns
            .wait_status(0, Duration::from_secs(20), "running the group alone", |r| {
                self.runs_here(r, 0)
            });
        self.start(1);
        self.wait_both_up(0);
        self.wait_served_by(0, Duration::from_secs(5));
    }

    /// Both daemons up and active, the group running on `owner` per both.
    fn wait_both_up(&self, owner: usize) {
        for i in 0..2 {
            self.ns.wait_status(
                i,
                Duration::from_secs(15),
                "up with the peer, group settled",
                |r| {
                    dc::both_active(r)
                        && if self.media == Media::Ucast6Only {
                            the_ucast6_link_hears_the_peer(r)
                        } else {
                            every_link_hears_the_peer(r)
                        }
                        && if i == owner {
                            self.runs_here(r, i)
                        } else {
                            self.peer_runs(r, i)
                        }
                },
            );
        }
    }

    /// A node advertises deadtime + 2 s for its first 5 s (heartbeat's
    /// startup boost): failover timings are deadtime-bound only after it.
    fn wait_past_dt_boost(&self, i: usize) {
        self.ns
            .wait_status(i, Duration::from_secs(10), "past the dt boost", |r| {
                r.uptime_ms >= dc::DT_BOOST_FOR_MS + 2 * r.keepalive_ms
            });
    }

    /// `hbd standby|takeover` run inside node `i`, as an operator would.
    fn operator(&self, i: usize, cmd: &str) {
        let exe = testkit::hbd_exe!();
        let run = self.ns.hbd_run_dir();
        let out = self.ns.run(
            i,
            &[
                exe.as_os_str(),
                cmd.as_ref(),
                "--run-dir".as_ref(),
                run.as_os_str(),
            ],
        );
        assert!(
            out.status.success(),
            "{}: hbd {cmd} failed ({}): {}{}",
            NAMES[i],
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Node `i` crashes (see the crash test for why this way): the pair's
    /// crash (kill -9 of hbd, then of every other process of the node; its
    /// mount of the disk and its floating address go with its kernel), and
    /// its interfaces go down: a dead kernel answers no ARP.
    fn crash(&mut self, i: usize) {
        self.ns.crash(i);
        let n = &self.ns.nodes[i];
        n.set_link(SVC_IF, false);
        n.set_link("hb0", false);
        let left = self.ns.processes(i);
        assert!(left.is_empty(), "{} still runs {left:?}", n.name);
        assert!(!mounted_at(n.holder, MNT));
    }

    /// Node `i`, crashed, boots again: the pair's reboot (a new holder with
    /// fresh mount and UTS namespaces, its root mounted again, links up),
    /// `/srv`, and the mount sampler starts over with the new holder.
    fn reboot(&mut self, i: usize) {
        self.ns.reboot(i);
        if self.media == Media::Ucast6Only {
            add_link_local(&self.ns, i);
        }
        bind_srv(self.ns.lab().dir(), &self.ns.nodes[i]);
        self.sampler = Some(MountSampler::start([
            self.ns.nodes[0].holder,
            self.ns.nodes[1].holder,
        ]));
    }

    /// Stops the sampler and checks the mount table history.
    fn mount_history(&mut self) -> SampleLog {
        let log = self.sampler.take().expect("sampler running").finish();
        log.assert_never_both();
        log
    }

    /// Every process of the cluster: both nodes' and the client's (holders
    /// included) and the serial relay.
    fn all_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = (0..2).filter_map(|i| self.ns.pid(i)).collect();
        for n in self.ns.nodes.iter().chain([self.client()]) {
            pids.extend(n.pids());
            pids.push(n.holder);
        }
        pids.extend(self.ns.serial.as_ref().map(|s| s.relay));
        pids
    }

    /// Drops everything and checks nothing of the lab is left: namespaces,
    /// loop devices, host mounts, processes (every process ever seen in the
    /// lab's namespaces, the daemons included).
    fn teardown(mut self) {
        let id = self.ns.id().to_string();
        let pids = self.all_pids();
        let dev = self.ns.disk.as_ref().expect("the disk").dev.clone();
        let dir = self.ns.lab().dir().to_path_buf();
        self.sampler.take();
        drop(self);
        let left = lab::lab_leftovers(&id);
        assert!(left.is_empty(), "lab {id} left behind: {left:?}");
        // Nothing mounted in the lab directory kept it from being removed.
        assert!(!dir.exists(), "{} was not removed", dir.display());
        assert_eq!(lab::alive(&pids), Vec::<u32>::new(), "processes left");
        let back = fs::read_to_string(format!(
            "/sys/block/{}/loop/backing_file",
            dev.file_name().unwrap().to_string_lossy()
        ))
        .unwrap_or_default();
        assert!(
            !back.contains(&id),
            "{} still holds the lab's image",
            dev.display()
        );
    }
}

/// A crash of the active node: kill -9 of its hbd, then the rest of the
/// machine goes with it.
///
/// kill -9 of hbd alone would not be a crash: the address, the mount and the
/// service are not hbd's processes and stay on nodea (heartbeat 3.0.6 behaves
/// the same, lab notes). Worse, in one kernel the "shared" disk is really
/// shared: while nodea's mount lives, the survivor's `e2fsck -p` finds the
/// device in use (exit 8) and its Filesystem start refuses to mount. A real
/// crash takes the kernel, and with it the mount and every process, off the
/// network; so right after the kill -9 this test kills every other process of
/// nodea, unmounts its mount of the disk, removes its floating address (the
/// pair's crash) and takes nodea's `svc0` and `hb0` down (a dead machine's
/// kernel no longer answers ARP for the floating address).
///
/// Asserted: the survivor declares nodea dead and takes the group; the
/// client is answered by nodeb with the page nodea's disk holds; the
/// client's neighbour entry for the floating address changed from nodea's MAC
/// to nodeb's although the client's own timers would have kept nodea's MAC
/// for at least 30 s (the gratuitous ARP worked); the disk was never mounted
/// on both nodes (nodea's mount went with the crash, before nodeb mounted).
/// Then nodea boots again (a new holder: fresh mount namespace, links up) and
/// the group comes home (`auto_failback on`), the client following nodea's
/// ARP.
#[test]
fn kill_9_of_the_active_node_moves_address_disk_and_service_to_the_survivor() {
    let test = "kill_9_of_the_active_node_moves_address_disk_and_service_to_the_survivor";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut c = Cluster::build(Setup::new());
    c.start_pair();
    c.wait_past_dt_boost(0);
    c.wait_past_dt_boost(1);
    let (mac_a, mac_b) = (c.ns.nodes[0].mac(SVC_IF), c.ns.nodes[1].mac(SVC_IF));
    let before = c
        .client()
        .neigh(FLOAT)
        .expect("client has no entry for the address");
    assert_eq!(before.0, mac_a, "client reaches the address at nodea's MAC");

    let crash = Instant::now();
    c.crash(0);
    let crash_done = crash.elapsed();

    let took =
        c.ns.wait_status(1, Duration::from_secs(10), "running the group", |r| {
            r.peer.state == NodeState::Dead && c.runs_here(r, 1)
        });
    // Promptly: the entry must already show nodeb, long before any ARP
    // timer of the client could have fired (30 s, see build()).
    let after = wait_for(Duration::from_secs(2), || {
        c.client().neigh(FLOAT).filter(|(m, _)| *m == mac_b)
    });
    assert!(
        after.is_some(),
        "client's neighbour entry for {FLOAT} is {:?}, not nodeb's {mac_b} (nodea's was {mac_a})",
        c.client().neigh(FLOAT)
    );
    let served = c.wait_served_by(1, Duration::from_secs(5));
    eprintln!(
        "{test}: crash emulated in {crash_done:?}; nodeb ran the group {took:?} after the crash, \
         client answered by nodeb {served:?} later"
    );
    assert!(
        crash.elapsed() < Duration::from_secs(20),
        "takeover took {:?}",
        crash.elapsed()
    );
    let r = c.ns.status(1).unwrap();
    assert!(
        r.recent.iter().any(|t| t.text.contains("nodea dead after")),
        "nodeb's transitions do not say nodea died: {:?}",
        r.recent
    );
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodea", "nodeb"], "{}", hist.describe());

    // nodea boots again and, with auto_failback on, gets its group back:
    // nodeb releases it (service, disk, address), nodea starts it and the
    // client follows nodea's announcement.
    c.reboot(0);
    c.start(0);
    c.wait_both_up(0);
    c.wait_served_by(0, Duration::from_secs(5));
    assert_eq!(
        c.client().neigh(FLOAT).map(|(m, _)| m),
        Some(mac_a),
        "client's entry for {FLOAT} after failback"
    );
    assert!(!c.ns.nodes[1].addrs().contains(FLOAT), "nodeb kept {FLOAT}");
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodeb", "nodea"], "{}", hist.describe());
    c.teardown();
}

/// Graceful stop (SIGTERM) hands over at once: nodea releases the group and
/// tells nodeb (`shutdone`), nodeb takes it without waiting for deadtime.
/// With `auto_failback on` the group goes home when nodea returns; then
/// `hbd standby` on nodea moves it to nodeb and `hbd takeover` on nodea
/// brings it back.
#[test]
fn graceful_stop_hands_over_and_auto_failback_on_brings_the_group_home() {
    let test = "graceful_stop_hands_over_and_auto_failback_on_brings_the_group_home";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut setup = Setup::new();
    // A long deadtime makes "without waiting for deadtime" measurable.
    setup.deadtime = "5";
    setup.initdead = "5";
    let mut c = Cluster::build(setup);
    c.start_pair();

    let stop = Instant::now();
    let st = c.ns.terminate(0, Duration::from_secs(20));
    assert!(
        st.is_some_and(|s| s.success()),
        "nodea's hbd did not exit 0 after SIGTERM: {st:?}"
    );
    assert!(!mounted_at(c.ns.nodes[0].holder, MNT));
    assert!(!c.ns.nodes[0].addrs().contains(FLOAT), "nodea kept {FLOAT}");
    c.ns.wait_status(1, Duration::from_secs(10), "running the group", |r| {
        c.runs_here(r, 1)
    });
    c.wait_served_by(1, Duration::from_secs(5));
    let handover = stop.elapsed();
    assert!(
        handover < Duration::from_millis(4_000),
        "handover took {handover:?}: as long as deadtime (5 s)"
    );
    let r = c.ns.status(1).unwrap();
    assert!(
        r.recent.iter().any(|t| t.text.contains("nodea shut down"))
            && !r.recent.iter().any(|t| t.text.contains("dead after")),
        "nodeb should have taken over on nodea's shutdown notice: {:?}",
        r.recent
    );
    eprintln!("{test}: SIGTERM to the client served by nodeb: {handover:?}");

    // nodea returns: the group goes home.
    c.start(0);
    c.wait_both_up(0);
    c.wait_served_by(0, Duration::from_secs(5));

    // Operator moves.
    c.operator(0, "standby");
    c.wait_both_up(1);
    c.wait_served_by(1, Duration::from_secs(5));
    c.operator(0, "takeover");
    c.wait_both_up(0);
    c.wait_served_by(0, Duration::from_secs(5));

    let hist = c.mount_history();
    assert_eq!(
        hist.holders(),
        ["nodea", "nodeb", "nodea", "nodeb", "nodea"],
        "{}",
        hist.describe()
    );
    c.teardown();
}

/// A pair whose only heartbeat path is `ucast6` over link-local addresses
/// (one line with its `%hb0` scope, one taking the device's) fails over and
/// back: nodea crashes, nodeb declares it dead and takes the group; nodea
/// boots again and, with `auto_failback on`, gets it back.
#[test]
fn ucast6_only_pair_fails_over_and_back() {
    let test = "ucast6_only_pair_fails_over_and_back";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut setup = Setup::new();
    setup.media = Media::Ucast6Only;
    let mut c = Cluster::build(setup);
    c.start_pair();
    c.wait_past_dt_boost(1);
    let r = c.ns.status(1).unwrap();
    assert_eq!(
        r.links
            .iter()
            .map(|l| (l.name.as_str(), l.kind.as_str()))
            .collect::<Vec<_>>(),
        [("hb0", "ucast6")],
        "nodeb's links (its own address's line is no link)"
    );

    let crash = Instant::now();
    c.crash(0);
    let took =
        c.ns.wait_status(1, Duration::from_secs(10), "running the group", |r| {
            r.peer.state == NodeState::Dead && c.runs_here(r, 1)
        });
    c.wait_served_by(1, Duration::from_secs(5));
    assert!(
        crash.elapsed() < Duration::from_secs(20),
        "takeover took {:?}",
        crash.elapsed()
    );

    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodea", "nodeb"], "{}", hist.describe());

    c.reboot(0);
    c.start(0);
    c.wait_both_up(0);
    c.wait_served_by(0, Duration::from_secs(5));
    assert!(!c.ns.nodes[1].addrs().contains(FLOAT), "nodeb kept {FLOAT}");
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodeb", "nodea"], "{}", hist.describe());
    eprintln!("{test}: nodeb ran the group {took:?} after nodea's crash");
    c.teardown();
}

/// `auto_failback off`: after a graceful stop the group stays on nodeb when
/// nodea returns, until an operator moves it (`hbd standby` on nodeb). The
/// heartbeat cable is a `bcast` medium here (ucast in the other tests).
#[test]
fn auto_failback_off_leaves_the_group_on_the_survivor() {
    let test = "auto_failback_off_leaves_the_group_on_the_survivor";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut setup = Setup::new();
    setup.auto_failback = "off";
    setup.media = Media::BcastAndSerial;
    let mut c = Cluster::build(setup);
    c.start_pair();

    let st = c.ns.terminate(0, Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "nodea exit: {st:?}");
    c.ns.wait_status(1, Duration::from_secs(10), "running the group", |r| {
        c.runs_here(r, 1)
    });
    c.wait_served_by(1, Duration::from_secs(5));

    c.start(0);
    c.wait_both_up(1);
    // Stays: several deadtimes after nodea is fully up, still on nodeb.
    c.wait_past_dt_boost(0);
    for (i, name) in NAMES.iter().enumerate() {
        let r = c.ns.status(i).unwrap();
        let ok = if i == 1 {
            c.runs_here(&r, 1)
        } else {
            c.peer_runs(&r, 0)
        };
        assert!(ok, "{name}: the group moved: {:#?}", r.groups);
    }
    assert!(!mounted_at(c.ns.nodes[0].holder, MNT));
    c.wait_served_by(1, Duration::from_secs(1));

    c.operator(1, "standby");
    c.wait_both_up(0);
    c.wait_served_by(0, Duration::from_secs(5));

    let hist = c.mount_history();
    assert_eq!(
        hist.holders(),
        ["nodea", "nodeb", "nodea"],
        "{}",
        hist.describe()
    );
    c.teardown();
}

/// A start failure gives the group up and the peer takes it: nodea has no
/// device at `<lab>/node/disk` (a node-local path; nodeb has it). nodeb
/// starts first and takes the group; nodea joins, and with `auto_failback on`
/// asks for its home group, fails in Filesystem (exit 6), stops what it
/// started and hands the group back; nodeb runs it again and nodea does not
/// try again.
#[test]
fn a_start_failure_gives_the_group_up_and_the_peer_takes_it() {
    let test = "a_start_failure_gives_the_group_up_and_the_peer_takes_it";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut setup = Setup::new();
    setup.device_missing_on = Some(0);
    let mut c = Cluster::build(setup);
    c.start(1);
    c.ns.wait_status(1, Duration::from_secs(20), "running the group alone", |r| {
        c.runs_here(r, 1)
    });
    c.wait_served_by(1, Duration::from_secs(5));

    c.start(0);
    let failed = wait_for(Duration::from_secs(20), || {
        c.ns.log(0)
            .contains("due to failure of Filesystem")
            .then_some(())
    });
    assert!(failed.is_some(), "nodea did not report the start failure");
    c.wait_both_up(1);
    c.wait_served_by(1, Duration::from_secs(5));
    // nodea rolled back: it holds neither the address nor the disk, and
    // does not try again.
    sleep(Duration::from_secs(2));
    let r = c.ns.status(0).unwrap();
    assert!(c.peer_runs(&r, 0), "nodea: {:#?}", r.groups);
    assert!(!c.ns.nodes[0].addrs().contains(FLOAT), "nodea kept {FLOAT}");
    let log = c.ns.log(0);
    assert_eq!(
        log.matches("due to failure of Filesystem").count(),
        1,
        "nodea tried more than once"
    );
    assert!(
        log.contains("exit 6"),
        "nodea's log does not give Filesystem's exit code"
    );
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodeb"], "{}", hist.describe());
    c.teardown();
}

/// heartbeat 3.0.6's own `resource.d/IPaddr` and `Filesystem` (Debian's
/// heartbeat package, OCF agents from resource-agents) under hbd: the group
/// moves on a graceful handover and comes home, then moves on a crash of
/// nodea; the client follows (their `send_arp`), the disk is never mounted on
/// both. hbd gives them what heartbeat would: `HA_RSCTMP` created, heartbeat's
/// `HA_*` variables, `PATH`, `OCF_ROOT`.
#[test]
fn heartbeat_resource_scripts_move_under_hbd() {
    let test = "heartbeat_resource_scripts_move_under_hbd";
    let hb = |s: &str| format!("{HEARTBEAT_RD}/{s}");
    if !needs(test)
        .file(&hb("IPaddr"), "heartbeat")
        .file(&hb("Filesystem"), "heartbeat")
        .met()
    {
        return;
    }
    let _serial = one_at_a_time();
    let mut setup = Setup::new();
    setup.heartbeat_scripts = true;
    let mut c = Cluster::build(setup);
    c.start_pair();
    let mac_b = c.ns.nodes[1].mac(SVC_IF);

    let st = c.ns.terminate(0, Duration::from_secs(30));
    assert!(st.is_some_and(|s| s.success()), "nodea exit: {st:?}");
    assert!(!c.ns.nodes[0].addrs().contains(FLOAT), "nodea kept {FLOAT}");
    c.ns.wait_status(1, Duration::from_secs(15), "running the group", |r| {
        c.runs_here(r, 1)
    });
    let after = wait_for(Duration::from_secs(3), || {
        c.client().neigh(FLOAT).filter(|(m, _)| *m == mac_b)
    });
    assert!(
        after.is_some(),
        "client's entry for {FLOAT} is {:?}, not nodeb's {mac_b}",
        c.client().neigh(FLOAT)
    );
    c.wait_served_by(1, Duration::from_secs(5));
    c.start(0);
    c.wait_both_up(0);
    c.wait_served_by(0, Duration::from_secs(5));
    let hist = c.mount_history();
    assert_eq!(
        hist.holders(),
        ["nodea", "nodeb", "nodea"],
        "{}",
        hist.describe()
    );

    // A crash of nodea: heartbeat's scripts start the group on nodeb, after
    // deadtime, with no stop on nodea before (its mount went with it).
    c.sampler = Some(MountSampler::start([
        c.ns.nodes[0].holder,
        c.ns.nodes[1].holder,
    ]));
    c.wait_past_dt_boost(0);
    c.crash(0);
    c.ns.wait_status(1, Duration::from_secs(10), "running the group", |r| {
        r.peer.state == NodeState::Dead && c.runs_here(r, 1)
    });
    let after = wait_for(Duration::from_secs(2), || {
        c.client().neigh(FLOAT).filter(|(m, _)| *m == mac_b)
    });
    assert!(
        after.is_some(),
        "after the crash, client's entry for {FLOAT} is {:?}, not nodeb's {mac_b}",
        c.client().neigh(FLOAT)
    );
    c.wait_served_by(1, Duration::from_secs(5));
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodea", "nodeb"], "{}", hist.describe());
    c.teardown();
}

/// A test that fails while the cluster runs (daemons, service, mounted disk,
/// ARP announcers) still leaves nothing behind: the panic unwinds through the
/// cluster and the lab.
#[test]
fn a_failing_test_leaves_no_namespace_mount_loop_device_or_process() {
    let test = "a_failing_test_leaves_no_namespace_mount_loop_device_or_process";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let seen: Arc<Mutex<(String, Vec<u32>, PathBuf)>> = Arc::default();
    let seen2 = seen.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut c = Cluster::build(Setup::new());
        c.start_pair();
        let pids = c.all_pids();
        assert!(mounted_at(c.ns.nodes[0].holder, MNT));
        let dev = c.ns.disk.as_ref().expect("the disk").dev.clone();
        *seen2.lock().unwrap() = (c.ns.id().to_string(), pids, dev);
        panic!("deliberate failure with the cluster running");
    }));
    assert!(result.is_err(), "the closure should have panicked");
    let (id, pids, dev) = seen.lock().unwrap().clone();
    assert!(!id.is_empty(), "the cluster did not come up");
    // Daemons, socat listeners, announcers, holders, relay: all gone.
    assert!(pids.len() >= 8, "too few processes seen: {pids:?}");
    assert_eq!(lab::alive(&pids), Vec::<u32>::new(), "processes left");
    let left = lab::lab_leftovers(&id);
    assert!(left.is_empty(), "lab {id} left behind: {left:?}");
    let back = fs::read_to_string(format!(
        "/sys/block/{}/loop/backing_file",
        dev.file_name().unwrap().to_string_lossy()
    ))
    .unwrap_or_default();
    assert!(!back.contains(&id), "{} still attached", dev.display());
}

/// The mount check can fail: a disk mounted on both nodes at once (by hand,
/// no daemons) is seen by the sampler and refused by `assert_never_both`.
#[test]
fn the_mount_sampler_sees_a_disk_mounted_on_both_nodes() {
    let test = "the_mount_sampler_sees_a_disk_mounted_on_both_nodes";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Lab::new();
    let nodes = [lab.node(NAMES[0]), lab.node(NAMES[1])];
    let disk = lab.ext4_loop("shared", 16);
    let srv = lab.dir().join("srv");
    fs::create_dir_all(srv.join("data")).unwrap();
    for n in &nodes {
        n.bind(&srv, Path::new("/srv"));
    }
    let dev = disk.dev.display().to_string();
    let sampler = MountSampler::start([nodes[0].holder, nodes[1].holder]);
    let pause = || sleep(Duration::from_millis(100));
    pause();
    nodes[0].must(&["mount", &dev, MNT]);
    pause();
    nodes[1].must(&["mount", &dev, MNT]);
    pause();
    nodes[1].must(&["umount", MNT]);
    pause();
    nodes[0].must(&["umount", MNT]);
    pause();
    let log = sampler.finish();
    assert!(!log.both.is_empty(), "{}", log.describe());
    assert_eq!(
        log.holders(),
        ["nodea", "both", "nodea"],
        "{}",
        log.describe()
    );
    let refused =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log.assert_never_both()));
    assert!(
        refused.is_err(),
        "assert_never_both accepted a double mount"
    );
    let id = lab.id.clone();
    drop(lab);
    assert_eq!(lab::lab_leftovers(&id), Vec::<String>::new());
}

/// Cutting one heartbeat path moves nothing: with `hb0` down the serial
/// cable carries the heartbeats, with the serial cable pulled `hb0` does. For
/// three deadtimes each, the peer stays alive on the other path, the group
/// stays on nodea, nodeb never mounts the disk, the client stays with nodea.
#[test]
fn cutting_one_heartbeat_path_moves_nothing() {
    let test = "cutting_one_heartbeat_path_moves_nothing";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut c = Cluster::build(Setup::new());
    c.start_pair();
    c.wait_past_dt_boost(0);
    c.wait_past_dt_boost(1);
    let serial_name = c.ns.on_node(Dir::Run).join("ttyHB0").display().to_string();
    let link_up = |r: &StatusReport, name: &str| r.links.iter().any(|l| l.name == name && l.up);
    for cut in ["hb0", "serial"] {
        if cut == "hb0" {
            c.ns.nodes[0].set_link("hb0", false);
        } else {
            c.ns.serial_cable(false);
        }
        let (dead, alive) = if cut == "hb0" {
            ("hb0", serial_name.as_str())
        } else {
            (serial_name.as_str(), "hb0")
        };
        c.ns.wait_status(1, Duration::from_secs(5), "seeing the cut", |r| {
            !link_up(r, dead) && link_up(r, alive)
        });
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            for (i, name) in NAMES.iter().enumerate() {
                let r = c.ns.status(i).expect("status");
                assert_eq!(r.peer.state, NodeState::Active, "{name}: {cut} cut: {r:#?}");
                let ok = if i == 0 {
                    c.runs_here(&r, 0)
                } else {
                    c.peer_runs(&r, 1)
                };
                assert!(ok, "{name}: {cut} cut: {:#?}", r.groups);
            }
            let (by, _) = c
                .get(Duration::from_millis(500))
                .expect("the client lost the service");
            assert_eq!(by, "nodea");
            sleep(Duration::from_millis(100));
        }
        if cut == "hb0" {
            c.ns.nodes[0].set_link("hb0", true);
        } else {
            c.ns.serial_cable(true);
        }
        c.ns.wait_status(
            1,
            Duration::from_secs(15),
            "hearing nodea on both paths",
            every_link_hears_the_peer,
        );
    }
    let log = c.ns.log(1);
    assert!(
        !log.contains("node nodea: is dead"),
        "{}",
        log.lines()
            .filter(|l| l.contains("dead"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodea"], "{}", hist.describe());
    c.teardown();
}

/// A busy filesystem is released before the peer mounts it: on nodea a
/// process that ignores SIGTERM sits in the mounted `/srv/data`; on SIGTERM
/// hbd stops the group, Filesystem's stop finds the mount busy, signals the
/// user (TERM, then KILL after `HBD_FS_KILL_GRACE_MS`, set to 500 ms in
/// `hbd-agents.conf`), unmounts, and only then does nodeb mount the disk.
#[test]
fn a_busy_filesystem_is_released_before_the_peer_mounts_it() {
    let test = "a_busy_filesystem_is_released_before_the_peer_mounts_it";
    if !needs(test).met() {
        return;
    }
    let _serial = one_at_a_time();
    let mut c = Cluster::build(Setup::new());
    for name in NAMES {
        let conf = c.ns.lab().dir().join(name).join("etc-ha.d/hbd-agents.conf");
        fs::write(&conf, "# read by hbd's agents\nHBD_FS_KILL_GRACE_MS=500\n").unwrap();
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    }
    c.start_pair();
    // exec keeps the ignored SIGTERM disposition: only SIGKILL ends it.
    let squatter = c.ns.lab().spawn(
        &c.ns.nodes[0],
        &[
            "sh",
            "-c",
            &format!("trap '' TERM; cd {MNT} && exec sleep 600"),
        ],
    );
    let in_mnt = wait_for(Duration::from_secs(5), || {
        let cwd = fs::read_link(format!("/proc/{squatter}/cwd")).ok()?;
        let comm = fs::read_to_string(format!("/proc/{squatter}/comm")).ok()?;
        (cwd == Path::new(MNT) && comm.trim() == "sleep").then_some(())
    });
    assert!(in_mnt.is_some(), "the squatter did not settle in {MNT}");

    let st = c.ns.terminate(0, Duration::from_secs(30));
    assert!(st.is_some_and(|s| s.success()), "nodea exit: {st:?}");
    assert!(lab::alive(&[squatter]).is_empty(), "the squatter survived");
    assert!(!mounted_at(c.ns.nodes[0].holder, MNT));
    c.ns.wait_status(1, Duration::from_secs(10), "running the group", |r| {
        c.runs_here(r, 1)
    });
    c.wait_served_by(1, Duration::from_secs(5));
    let hist = c.mount_history();
    assert_eq!(hist.holders(), ["nodea", "nodeb"], "{}", hist.describe());
    c.teardown();
}
