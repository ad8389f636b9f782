//! The namespace pair: two machines of the [`Lab`] wired as a heartbeat
//! pair, with their daemons. Every real-process suite that needs root (the
//! takeover, fault, interop and uplink tests) and the failover benchmark
//! build their cluster on it and add only what they measure.
//!
//! The wiring is always the same, so that a scenario reads the same in every
//! suite: the heartbeat link `hb0` (10.250.0.1 and .2, a veth cable, or a
//! bridge when a cut must leave the survivor's carrier up), the service LAN
//! `svc0` (192.0.2.1 and .2, a bridge) with an optional `client` on `cli0`
//! (192.0.2.10), an optional serial cable seen as `<run>/ttyHB0` on both
//! nodes, and an optional ext4 disk on a loop device.
//!
//! Each node has a root directory on the host (`etc-ha.d`, `lib`, `run`,
//! `log`) that only it sees at the [`Layout`]'s paths, so one configuration
//! file and one command line serve both nodes, as on two real machines.
//! Whatever a daemon prints goes to `<log>/daemon.out`.
//!
//! Dropping the pair kills both daemons and every process of both nodes (by
//! PID), prints the daemons' log tails when the test panicked, then the lab
//! removes namespaces, mounts and loop devices.

use crate::lab::{self, Lab, Lan, LoopDevice, Node, SerialPair};
use hbd::control::StatusReport;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The heartbeat link's interface and the nodes' addresses on it (/24).
pub const HB_IF: &str = "hb0";
pub const HB_ADDRS: [&str; 2] = ["10.250.0.1", "10.250.0.2"];
/// The service LAN's interface and the nodes' fixed addresses on it (/24).
pub const SVC_IF: &str = "svc0";
pub const SVC_ADDRS: [&str; 2] = ["192.0.2.1", "192.0.2.2"];
/// The client's interface and address on the service LAN (/24).
pub const CLIENT_IF: &str = "cli0";
pub const CLIENT_ADDR: &str = "192.0.2.10";
/// The path a clean environment gives the daemons and their scripts.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// heartbeat's state files, which a node's fresh `/var/lib/heartbeat` must
/// not inherit from the host's.
const HEARTBEAT_STATE: [&str; 5] = [
    "hb_generation",
    "hb_uuid",
    "hostcache",
    "delhostcache",
    "fifo",
];

/// Where a node sees its root directory's parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// heartbeat's fixed paths: `/etc/ha.d`, `/var/lib/heartbeat`, `/run`
    /// and `/var/log` are the node's own (bind mounts over the host's, which
    /// must exist: the heartbeat package provides them). `heartbeat_etc`
    /// starts `/etc/ha.d` as a copy of the host's (heartbeat's harc, rc.d,
    /// shellfuncs and resource.d); otherwise it holds an empty resource.d.
    Heartbeat { heartbeat_etc: bool },
    /// The node's root at one lab path, `<lab>/node`, on both nodes: hbd
    /// needs no fixed path, so this needs no package.
    Shared,
}

/// A part of a node's root directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The configuration (`ha.cf`, `haresources`, `authkeys`, `resource.d`).
    Etc,
    /// heartbeat's state; hbd's state dir is its `hbd`.
    Lib,
    /// Sockets, pid files, `ttyHB0`; hbd's run dir is its `hbd`.
    Run,
    /// `daemon.out` and heartbeat's `ha-log`.
    Log,
}

impl Dir {
    fn host_name(self) -> &'static str {
        match self {
            Dir::Etc => "etc-ha.d",
            Dir::Lib => "lib",
            Dir::Run => "run",
            Dir::Log => "log",
        }
    }

    fn system_path(self) -> &'static str {
        match self {
            Dir::Etc => "/etc/ha.d",
            Dir::Lib => "/var/lib/heartbeat",
            Dir::Run => "/run",
            Dir::Log => "/var/log",
        }
    }
}

/// The serial cable between the nodes.
#[derive(Clone, Debug)]
pub enum Serial {
    None,
    /// The lab's socat relay; pulling it stops the relay (SIGSTOP), so the
    /// bytes sent meanwhile arrive late, when it is plugged back.
    Socat,
    /// A cable the caller owns (the benchmark's paced relay): the two pty
    /// paths, nodea's first.
    Ends([PathBuf; 2]),
}

/// What differs between the suites' pairs.
#[derive(Clone, Debug)]
pub struct Opts {
    pub names: [&'static str; 2],
    pub layout: Layout,
    pub serial: Serial,
    /// A client node on the service LAN.
    pub client: bool,
    /// `hb0` through a bridge instead of a cable: a node cutting its link
    /// leaves the other's carrier up (keepalived goes to FAULT without it).
    pub hb_switch: bool,
    /// An ext4 disk of this many MiB on a loop device, shared by the nodes.
    pub disk_mib: Option<u64>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            names: ["nodea", "nodeb"],
            layout: Layout::Shared,
            serial: Serial::Socat,
            client: true,
            hb_switch: false,
            disk_mib: None,
        }
    }
}

/// Two machines, their wiring and their daemons. Field order is drop order
/// after [`Drop::drop`]: the lab goes last.
pub struct NsPair {
    pub names: [&'static str; 2],
    pub nodes: [Node; 2],
    pub client: Option<Node>,
    pub disk: Option<LoopDevice>,
    /// The socat cable ([`Serial::Socat`]).
    pub serial: Option<SerialPair>,
    pub layout: Layout,
    hbd: PathBuf,
    roots: [PathBuf; 2],
    daemons: [Option<Child>; 2],
    lab: Lab,
}

impl NsPair {
    /// Builds both machines, their wiring and their root directories;
    /// starts nothing. `hbd` is the binary [`NsPair::hbd_command`] runs.
    pub fn new(opts: Opts, hbd: &Path) -> NsPair {
        let lab = Lab::new();
        let nodes = [lab.node(opts.names[0]), lab.node(opts.names[1])];
        if opts.hb_switch {
            let hbnet = lab.lan("hbnet");
            for n in &nodes {
                lab.join(&hbnet, n, HB_IF);
            }
        } else {
            lab.link(&nodes[0], HB_IF, &nodes[1], HB_IF);
        }
        let svc: Lan = lab.lan("lan");
        for (i, n) in nodes.iter().enumerate() {
            // With a broadcast address, for `bcast hb0`.
            n.addr_brd(HB_IF, &format!("{}/24", HB_ADDRS[i]));
            lab.join(&svc, n, SVC_IF);
            n.addr(SVC_IF, &format!("{}/24", SVC_ADDRS[i]));
        }
        let client = opts.client.then(|| {
            let c = lab.node("client");
            lab.join(&svc, &c, CLIENT_IF);
            c.addr(CLIENT_IF, &format!("{CLIENT_ADDR}/24"));
            c
        });
        let serial = matches!(opts.serial, Serial::Socat).then(|| lab.serial_pair("tty"));
        let ends = match (&opts.serial, &serial) {
            (Serial::Ends(e), _) => Some(e.clone()),
            (_, Some(s)) => Some([s.a.clone(), s.b.clone()]),
            _ => None,
        };
        let disk = opts.disk_mib.map(|mib| lab.ext4_loop("shared", mib));
        let roots = opts.names.map(|n| lab.dir().join(n));
        for (i, root) in roots.iter().enumerate() {
            make_root(root, opts.layout);
            if let Some(e) = &ends {
                symlink(&e[i], root.join("run/ttyHB0")).expect("ttyHB0 link");
            }
        }
        let pair = NsPair {
            names: opts.names,
            nodes,
            client,
            disk,
            serial,
            layout: opts.layout,
            hbd: hbd.to_path_buf(),
            roots,
            daemons: [None, None],
            lab,
        };
        for i in 0..2 {
            pair.mount_root(i);
        }
        pair
    }

    /// The lab the machines live in (for more nodes, cables or disks).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// `hbdlab-<pid>-<n>`: the prefix of everything the lab created.
    pub fn id(&self) -> &str {
        &self.lab.id
    }

    /// The hbd binary this pair runs.
    pub fn hbd(&self) -> &Path {
        &self.hbd
    }

    /// Where node `i`'s `dir` is on the host.
    pub fn host(&self, i: usize, dir: Dir) -> PathBuf {
        self.roots[i].join(dir.host_name())
    }

    /// Where each node sees its own `dir` (the same path on both).
    pub fn on_node(&self, dir: Dir) -> PathBuf {
        match self.layout {
            Layout::Heartbeat { .. } => PathBuf::from(dir.system_path()),
            Layout::Shared => self.shared_root().join(dir.host_name()),
        }
    }

    fn shared_root(&self) -> PathBuf {
        self.lab.dir().join("node")
    }

    /// Makes node `i`'s root its own at the layout's paths (again after a
    /// reboot: a new holder has fresh mount namespaces).
    fn mount_root(&self, i: usize) {
        let node = &self.nodes[i];
        match self.layout {
            Layout::Heartbeat { .. } => {
                for d in [Dir::Etc, Dir::Lib, Dir::Run, Dir::Log] {
                    node.bind(&self.host(i, d), Path::new(d.system_path()));
                }
            }
            Layout::Shared => {
                fs::create_dir_all(self.shared_root()).expect("shared node root");
                node.bind(&self.roots[i], &self.shared_root());
            }
        }
    }

    /// A command run inside node `i` with a clean environment.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, i: usize, args: &[S]) -> Command {
        let mut cmd = self.nodes[i].command(args);
        cmd.env_clear().env("PATH", PATH).env("LANG", "C");
        cmd
    }

    /// Runs a command inside node `i`; its output, whatever its exit.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, i: usize, args: &[S]) -> Output {
        self.command(i, args)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run nsenter: {e}", self.names[i]))
    }

    /// `hbd run` on node `i` with configuration `config` (a node path: the
    /// `Etc` dir or a file in it), its state in `<lib>/hbd` and its socket in
    /// `<run>/hbd`, logging at debug. The same command line on both nodes:
    /// hbd finds its node name as heartbeat does, from `uname -n`.
    pub fn hbd_command(&self, i: usize, config: &Path) -> Command {
        let mut cmd = self.command(
            i,
            &[
                self.hbd.as_os_str(),
                "run".as_ref(),
                "-c".as_ref(),
                config.as_os_str(),
                "--state-dir".as_ref(),
                self.on_node(Dir::Lib).join("hbd").as_os_str(),
                "--run-dir".as_ref(),
                self.hbd_run_dir().as_os_str(),
            ],
        );
        cmd.env("HBD_LOG", "debug");
        cmd
    }

    /// hbd's run directory as the nodes see it (for `--run-dir`).
    pub fn hbd_run_dir(&self) -> PathBuf {
        self.on_node(Dir::Run).join("hbd")
    }

    /// Starts `cmd` (from [`NsPair::command`] or [`NsPair::hbd_command`]) as
    /// node `i`'s daemon, its output appended to `<log>/daemon.out`. Returns
    /// the daemon's pid.
    pub fn start(&mut self, i: usize, mut cmd: Command) -> u32 {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.daemon_out(i))
            .expect("open daemon.out");
        let err = out.try_clone().expect("dup daemon.out");
        cmd.stdout(out).stderr(err);
        self.spawn(i, cmd).id()
    }

    /// [`NsPair::start`] for a `cmd` whose output the caller has directed
    /// (pipes it may take from the child).
    pub fn spawn(&mut self, i: usize, mut cmd: Command) -> &mut Child {
        // One that exited by itself is reaped here: a node may start again.
        assert!(!self.running(i), "{}: a daemon runs already", self.names[i]);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start {cmd:?}: {e}", self.names[i]));
        // nsenter execs the daemon in place: the child's pid is the daemon's.
        self.daemons[i].insert(child)
    }

    /// The daemon's pid while this pair holds it.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.daemons[i].as_ref().map(Child::id)
    }

    /// Whether node `i`'s daemon still runs (reaping it if it exited).
    pub fn running(&mut self, i: usize) -> bool {
        match self.daemons[i].as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.daemons[i] = None;
                false
            }
            None => false,
        }
    }

    /// Hands node `i`'s daemon over to the caller (who then reaps it).
    pub fn take_daemon(&mut self, i: usize) -> Option<Child> {
        self.daemons[i].take()
    }

    /// kill -9 of node `i`'s daemon alone (its scripts and services stay).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM to node `i`'s daemon, then up to `within` for it to exit:
    /// its exit status, or None (and SIGKILL) when it did not.
    pub fn terminate(&mut self, i: usize, within: Duration) -> Option<ExitStatus> {
        let mut c = self.daemons[i].take()?;
        lab::signal(c.id(), "TERM");
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Pulls (false) or plugs back (true) the socat serial cable.
    pub fn serial_cable(&self, plugged: bool) {
        let s = self.serial.as_ref().expect("a pair with the socat cable");
        if plugged {
            s.plug();
        } else {
            s.pull();
        }
    }

    /// Node `i`'s processes, its holder left out.
    pub fn processes(&self, i: usize) -> Vec<u32> {
        let holder = self.nodes[i].holder;
        self.nodes[i]
            .pids()
            .into_iter()
            .filter(|&p| p != holder)
            .collect()
    }

    /// Node `i`, the machine, dies: kill -9 of its daemon, then of every
    /// other process it runs (scripts, services, ARP announcers); what it had
    /// mounted from the shared disk and its floating addresses on `svc0` go
    /// with its kernel. Its holder stays, so the node's namespaces and root
    /// are there for its next daemon: starting one is the machine back up.
    /// Its links stay as they are (set them down for a dead kernel that must
    /// not answer ARP); [`NsPair::reboot`] gives it fresh namespaces.
    pub fn crash(&mut self, i: usize) {
        self.kill9(i);
        for _ in 0..5 {
            let pids = self.processes(i);
            if pids.is_empty() {
                break;
            }
            for &p in &pids {
                lab::signal(p, "KILL");
            }
            lab::wait_gone(&pids, Duration::from_secs(2));
        }
        if let Some(disk) = &self.disk {
            let dev = disk.dev.display().to_string();
            for line in self.nodes[i].mounts().lines() {
                let mut w = line.split(' ');
                if w.next() == Some(dev.as_str()) {
                    if let Some(at) = w.next() {
                        let _ = self.nodes[i].run(&["umount", "-l", at]);
                    }
                }
            }
        }
        self.flush_floating(i);
    }

    /// Node `i` boots again: its old holder killed, a new one (fresh mount
    /// and UTS namespaces), its root mounted again, its links up and no
    /// floating address left from before. Its daemon must not run.
    pub fn reboot(&mut self, i: usize) {
        assert!(
            self.pid(i).is_none(),
            "{}: stop the daemon first",
            self.names[i]
        );
        self.nodes[i].kill_all();
        self.nodes[i] = self.lab.reboot(&self.nodes[i]);
        self.mount_root(i);
        self.flush_floating(i);
        self.nodes[i].set_link(HB_IF, true);
        self.nodes[i].set_link(SVC_IF, true);
    }

    /// Removes every `svc0` address of node `i` but its fixed one.
    pub fn flush_floating(&self, i: usize) {
        for line in self.nodes[i].addrs().lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.get(1) != Some(&SVC_IF) {
                continue;
            }
            if let Some(k) = w.iter().position(|x| *x == "inet") {
                let cidr = w.get(k + 1).copied().unwrap_or("");
                if !cidr.starts_with(&format!("{}/", SVC_ADDRS[i])) {
                    self.nodes[i].del_addr(SVC_IF, cidr);
                }
            }
        }
    }

    /// Whether `addr` (e.g. `192.0.2.50`) is configured on node `i`'s `svc0`.
    pub fn has_svc_addr(&self, i: usize, addr: &str) -> bool {
        self.nodes[i].addrs().lines().any(|l| {
            l.split_whitespace().nth(1) == Some(SVC_IF) && l.contains(&format!("inet {addr}/"))
        })
    }

    /// Node `i`'s hbd status over its control socket, read from the host.
    pub fn status(&self, i: usize) -> Option<StatusReport> {
        hbd::demo::cluster::status(&self.host(i, Dir::Run).join("hbd")).ok()
    }

    /// Polls node `i`'s status until `pred` holds; panics with the last one.
    pub fn wait_status(
        &self,
        i: usize,
        limit: Duration,
        what: &str,
        pred: impl Fn(&StatusReport) -> bool,
    ) -> Duration {
        crate::wait_status(self.names[i], limit, what, || self.status(i), pred)
    }

    /// `hbd status --json` run inside node `i` (what an operator sees).
    pub fn status_json(&self, i: usize) -> Option<serde_json::Value> {
        let out = self.run(
            i,
            &[
                self.hbd.as_os_str(),
                "status".as_ref(),
                "--json".as_ref(),
                "--run-dir".as_ref(),
                self.hbd_run_dir().as_os_str(),
            ],
        );
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The file node `i`'s daemon writes to.
    pub fn daemon_out(&self, i: usize) -> PathBuf {
        self.host(i, Dir::Log).join("daemon.out")
    }

    /// What node `i`'s daemon printed so far.
    pub fn log(&self, i: usize) -> String {
        // heartbeat dumps bad packets (raw bytes) into its output.
        fs::read(self.daemon_out(i))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of every file in node `i`'s log directory
    /// (the daemon's output; heartbeat's ha-log), for failure reports.
    pub fn logs_tail(&self, i: usize, lines: usize) -> String {
        let mut files: Vec<PathBuf> = fs::read_dir(self.host(i, Dir::Log))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| {
                format!(
                    "--- {} {} (last {lines} lines) ---\n{}\n",
                    self.names[i],
                    f.display(),
                    hbd::demo::cluster::tail(f, lines)
                )
            })
            .collect()
    }

    /// The last `lines` lines of node `i`'s daemon output.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        hbd::demo::cluster::tail(&self.daemon_out(i), lines)
    }
}

/// What differs between the `hbd.toml` files the real-process suites give
/// the pair (tests/faults.rs, tests/campaign.rs); the rest is the pair's
/// wiring: ucast on `hb0` to the other node, the serial cable, authkeys in
/// the configuration directory, auto_failback off, one group homed on the
/// first node, the repository's agents and test fixtures.
pub struct HbdToml<'a> {
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub initdead: &'a str,
    /// The group's resources, as haresources writes them.
    pub resources: &'a [String],
    /// Tables after the group (`[[group.monitor]]`), or empty.
    pub after_group: &'a str,
    /// Lines of the `[hbd]` table before `resource_dirs`.
    pub hbd: &'a str,
}

impl NsPair {
    /// Writes node `i`'s `hbd.toml` (returned), its authkeys (sha1 with
    /// `secret`, mode 600) and its `hbd-agents.conf` (`agents`).
    pub fn write_hbd_conf(&self, i: usize, t: &HbdToml, secret: &str, agents: &str) -> String {
        let repo = crate::repo();
        let group = t
            .resources
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "nodes = [\"{a}\", \"{b}\"]\n\
             keepalive = \"{ka}ms\"\n\
             deadtime = \"{dt}ms\"\n\
             warntime = \"500ms\"\n\
             initdead = \"{initdead}\"\n\
             udpport = 694\n\
             auto_failback = \"off\"\n\
             realtime = false\n\n\
             [[media]]\ntype = \"ucast\"\ndev = \"{HB_IF}\"\npeer = \"{peer}\"\n\n\
             [[media]]\ntype = \"serial\"\npath = \"{tty}\"\n\n\
             [auth]\nauthkeys = \"authkeys\"\n\n\
             [[group]]\nhome = \"{a}\"\nresources = [{group}]\n\n{after}\
             [hbd]\n{hbd}\
             resource_dirs = [\"{rd}\", \"{fx}\"]\n",
            a = self.names[0],
            b = self.names[1],
            ka = t.keepalive_ms,
            dt = t.deadtime_ms,
            initdead = t.initdead,
            peer = HB_ADDRS[1 - i],
            tty = self.on_node(Dir::Run).join("ttyHB0").display(),
            after = t.after_group,
            hbd = t.hbd,
            rd = repo.join("resource.d").display(),
            fx = repo.join("tests/fixtures/resource.d").display(),
        );
        let conf = self.host(i, Dir::Etc);
        fs::write(conf.join("hbd.toml"), &text).expect("write hbd.toml");
        let keys = conf.join("authkeys");
        fs::write(&keys, format!("auth 2\n2 sha1 {secret}\n")).expect("write authkeys");
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).expect("chmod authkeys");
        fs::write(conf.join("hbd-agents.conf"), agents).expect("write hbd-agents.conf");
        text
    }
}

/// Whether `addr` is a local address of the network namespace `holder` (a
/// pid) lives in, from the kernel's own table: `/proc/<holder>/net/fib_trie`
/// is read without spawning a process, so an auditor sampling it every few
/// ms keeps its rate under load.
pub fn has_local_addr(holder: u32, addr: &str) -> bool {
    let Ok(trie) = fs::read_to_string(format!("/proc/{holder}/net/fib_trie")) else {
        return false;
    };
    let want = format!("-- {addr}");
    let mut lines = trie.lines();
    while let Some(l) = lines.next() {
        if l.trim_end().ends_with(&want) {
            if let Some(next) = lines.next() {
                if next.contains("host LOCAL") {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether something is mounted at `mnt` in `holder`'s mount namespace.
pub fn has_mount(holder: u32, mnt: &str) -> bool {
    fs::read_to_string(format!("/proc/{holder}/mounts"))
        .map(|m| m.contains(&format!(" {mnt} ")))
        .unwrap_or(false)
}

/// A node's root: `etc-ha.d`, `lib` (with `hbd`), `run` (with heartbeat's
/// and hbd's directories and a world-writable `lock`), `log`.
fn make_root(root: &Path, layout: Layout) {
    let etc = root.join(Dir::Etc.host_name());
    let lib = root.join(Dir::Lib.host_name());
    let run = root.join(Dir::Run.host_name());
    let heartbeat_etc = layout
        == Layout::Heartbeat {
            heartbeat_etc: true,
        };
    fs::create_dir_all(root).expect("node root");
    if heartbeat_etc {
        lab::must(Command::new("cp").arg("-a").arg("/etc/ha.d").arg(&etc));
    } else {
        fs::create_dir_all(etc.join("resource.d")).expect("resource.d");
    }
    if matches!(layout, Layout::Heartbeat { .. }) && Path::new("/var/lib/heartbeat").is_dir() {
        // The package's skeleton, without any state.
        lab::must(
            Command::new("cp")
                .arg("-a")
                .arg("/var/lib/heartbeat")
                .arg(&lib),
        );
        for f in HEARTBEAT_STATE {
            let _ = fs::remove_file(lib.join(f));
        }
    }
    fs::create_dir_all(lib.join("hbd")).expect("hbd state dir");
    for d in [
        "heartbeat/ccm",
        "heartbeat/crm",
        "heartbeat/dopd",
        "resource-agents",
        "hbd",
        "lock",
    ] {
        fs::create_dir_all(run.join(d)).expect("run dirs");
    }
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod run");
    // heartbeat takes a UUCP lock on the tty in /var/lock (= /run/lock).
    fs::set_permissions(run.join("lock"), fs::Permissions::from_mode(0o1777)).expect("chmod lock");
    if heartbeat_etc {
        // heartbeat's API socket directory belongs to its user.
        lab::must(
            Command::new("chown")
                .args(["-R", "hacluster:haclient"])
                .arg(run.join("heartbeat")),
        );
    }
    fs::create_dir_all(root.join(Dir::Log.host_name())).expect("log dir");
}

impl Drop for NsPair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..2 {
                eprintln!("{}", self.logs_tail(i, 60));
            }
        }
        // Daemons first, so that none sees the serial relay vanish (heartbeat
        // spins on a pty EOF); then everything else the nodes run. The lab,
        // dropped next, removes the namespaces, mounts and loop devices.
        for i in 0..2 {
            self.kill9(i);
            self.nodes[i].kill_all();
        }
    }
}
