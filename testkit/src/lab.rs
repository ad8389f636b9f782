//! A lab of real network namespaces for real-process tests (root only).
//!
//! A [`Lab`] owns everything it creates and removes it in `Drop`, also when
//! the test panics: node namespaces (each with a holder process that keeps a
//! private mount and UTS namespace alive, so mounts made "on a node" never
//! reach the host and `uname -n` is the node's name), veth pairs, a bridge
//! namespace for the service LAN, loop devices, pty relays and every process
//! it started. Addresses are refused outside 192.0.2.0/24, 198.51.100.0/24
//! and 10.250.0.0/24, which exist only inside these namespaces.
//!
//! Names carry the test process id (`hbdlab-<pid>-<n>-<role>`) so that
//! parallel tests never collide and leftovers of a test process that was
//! SIGKILLed can be recognised and swept by the next lab.
//!
//! A test asks `skip::Needs::new(test).lab()` before building one.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Every lab object name starts with this.
pub const LAB_PREFIX: &str = "hbdlab";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The subnets a lab may put addresses in (documentation and benchmark
/// ranges, never routed anywhere from here).
const ALLOWED_NETS: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [10, 250, 0]];

/// Runs a command, panicking with its output when it fails.
pub fn must(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn ip(args: &[&str]) -> Output {
    must(Command::new("ip").args(args))
}

fn check_lab_address(cidr: &str) {
    let addr = cidr.split('/').next().unwrap_or("");
    let octets: Vec<u8> = addr.split('.').filter_map(|o| o.parse().ok()).collect();
    assert!(
        octets.len() == 4 && ALLOWED_NETS.iter().any(|n| octets[..3] == n[..]),
        "lab address {cidr} is outside 192.0.2.0/24, 198.51.100.0/24 and 10.250.0.0/24"
    );
}

/// Inode of a network namespace, as `/proc/PID/ns/net` names it (`net:[N]`).
fn netns_inode(name: &str) -> Option<u64> {
    fs::metadata(format!("/run/netns/{name}"))
        .ok()
        .map(|m| m.ino())
}

/// Every process whose network namespace is `inode`.
fn pids_in_netns(inode: u64) -> Vec<u32> {
    let want = format!("net:[{inode}]");
    let mut pids = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Ok(link) = fs::read_link(format!("/proc/{pid}/ns/net")) {
                if link.to_string_lossy() == want {
                    pids.push(pid);
                }
            }
        }
    }
    pids
}

fn pid_alive(pid: u32) -> bool {
    // A zombie is dead for our purposes: it holds no namespace or mount.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Sends a signal by name (`KILL`, `STOP`, ...) with kill(1): the lab stays
/// free of unsafe code.
pub fn signal(pid: u32, sig: &str) -> bool {
    run_quiet(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
    )
}

/// Waits up to `within` until none of `pids` runs; whether they are gone.
pub fn wait_gone(pids: &[u32], within: Duration) -> bool {
    let until = Instant::now() + within;
    while pids.iter().any(|&p| pid_alive(p)) {
        if Instant::now() >= until {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
    true
}

/// Kills every process in a namespace we created: they are ours (started in
/// it by the test or by agents the test ran), and a live process would keep
/// the namespace and its mounts alive.
fn kill_netns_processes(name: &str) {
    let Some(inode) = netns_inode(name) else {
        return;
    };
    for _ in 0..5 {
        let pids = pids_in_netns(inode);
        if pids.is_empty() {
            return;
        }
        for &pid in &pids {
            signal(pid, "KILL");
        }
        wait_gone(&pids, Duration::from_secs(2));
    }
}

fn loop_backing_file(dev: &Path) -> Option<PathBuf> {
    let name = dev.file_name()?.to_str()?;
    let back = fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    Some(PathBuf::from(
        back.trim_end().trim_end_matches(" (deleted)"),
    ))
}

/// Removes what a lab of a dead test process left (it was SIGKILLed and
/// could not run `Drop`). Only names carrying a pid that no longer runs.
fn sweep_stale_labs() {
    let creator_dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(&format!("{LAB_PREFIX}-")) else {
            return false;
        };
        match rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
            Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        }
    };
    if let Ok(dir) = fs::read_dir("/run/netns") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if creator_dead(&name) {
                kill_netns_processes(&name);
                run_quiet(Command::new("ip").args(["netns", "del", &name]));
            }
        }
    }
    if let Ok(dir) = fs::read_dir("/sys/block") {
        for entry in dir.flatten() {
            let dev = PathBuf::from("/dev").join(entry.file_name());
            if let Some(back) = loop_backing_file(&dev) {
                let file = back.file_name().map(|f| f.to_string_lossy().into_owned());
                if file.as_deref().is_some_and(creator_dead) {
                    run_quiet(Command::new("losetup").arg("-d").arg(&dev));
                }
            }
        }
    }
}

/// A machine of the lab: a network namespace plus a holder process whose
/// mount and UTS namespaces are the node's own.
#[derive(Clone, Debug)]
pub struct Node {
    /// Short name given by the test (also the node's host name).
    pub name: String,
    /// Network namespace name (`ip netns` / `ip -n`).
    pub netns: String,
    /// The holder: enter the node with `nsenter -t holder -m -u -n`.
    pub holder: u32,
}

impl Node {
    /// A command that runs inside the node (network, mount and UTS).
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.holder.to_string())
            .args(["-m", "-u", "-n", "--"])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command inside the node and returns its output, whatever its exit.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run nsenter: {e}", self.name))
    }

    /// Runs a command inside the node with extra environment variables.
    pub fn run_env<S: AsRef<std::ffi::OsStr>>(&self, env: &[(&str, &str)], args: &[S]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("{}: cannot run nsenter: {e}", self.name))
    }

    /// Runs a command inside the node and panics unless it succeeds.
    pub fn must<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        must(&mut self.command(args))
    }

    /// `sh -c script` inside the node.
    pub fn sh(&self, script: &str) -> Output {
        self.run(&["sh", "-c", script])
    }

    /// Bind-mounts `src` over `dst` inside the node only (its own mount
    /// namespace): per-node `/etc/ha.d`, `/run`, `/var/lib/heartbeat`, ...
    /// `dst` must already exist as seen from the node.
    pub fn bind(&self, src: &Path, dst: &Path) {
        self.must(&[
            std::ffi::OsStr::new("mount"),
            std::ffi::OsStr::new("--bind"),
            src.as_os_str(),
            dst.as_os_str(),
        ]);
    }

    /// Sets one of the node's interfaces up or down (cutting a link).
    pub fn set_link(&self, iface: &str, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.netns, "link", "set", iface, state]);
    }

    /// Drops `percent` % of the packets leaving `iface` at random (0 removes
    /// the rule): an nftables rule on the netdev egress hook, as the lab
    /// notes found works here (no sch_netem; an output-hook drop would
    /// return EPERM to the sender instead of losing the packet). Needs nft.
    pub fn set_loss(&self, iface: &str, percent: u32) {
        assert!(percent <= 100, "loss {percent}% is not a percentage");
        let table = format!("hbdlab_{}", iface.replace(['.', '-', '@'], "_"));
        // Deleting a table that does not exist fails; that is fine here.
        let _ = self.run(&["nft", "delete", "table", "netdev", &table]);
        if percent == 0 {
            return;
        }
        // numgen's range is 0-99: 100 % is an unconditional drop.
        let matcher = if percent == 100 {
            String::new()
        } else {
            format!("numgen random mod 100 < {percent} ")
        };
        let rules = format!(
            "table netdev {table} {{\n  chain egress {{\n    type filter hook egress device \"{iface}\" priority 0; policy accept;\n    {matcher}counter drop\n  }}\n}}\n"
        );
        let file = std::env::temp_dir().join(format!("{}-{table}.nft", self.netns));
        fs::write(&file, rules).expect("write nft rules");
        let out = self.run(&[
            std::ffi::OsStr::new("nft"),
            std::ffi::OsStr::new("-f"),
            file.as_os_str(),
        ]);
        let _ = fs::remove_file(&file);
        assert!(
            out.status.success(),
            "{}: nft loss rule on {iface}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds an address (which must be inside the lab ranges) to an interface.
    pub fn addr(&self, iface: &str, cidr: &str) {
        check_lab_address(cidr);
        ip(&["-n", &self.netns, "addr", "add", cidr, "dev", iface]);
    }

    /// [`Node::addr`] with the subnet's broadcast address set (for `bcast`).
    pub fn addr_brd(&self, iface: &str, cidr: &str) {
        check_lab_address(cidr);
        ip(&[
            "-n",
            &self.netns,
            "addr",
            "add",
            cidr,
            "brd",
            "+",
            "dev",
            iface,
        ]);
    }

    /// Deletes an address from an interface, if it is there.
    pub fn del_addr(&self, iface: &str, cidr: &str) {
        run_quiet(Command::new("ip").args(["-n", &self.netns, "addr", "del", cidr, "dev", iface]));
    }

    /// The MAC address of an interface of this node.
    pub fn mac(&self, iface: &str) -> String {
        let out = ip(&["-n", &self.netns, "-o", "link", "show", "dev", iface]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        words
            .find(|w| *w == "link/ether")
            .and_then(|_| words.next())
            .unwrap_or_else(|| panic!("{}: no MAC on {iface}: {text}", self.name))
            .to_string()
    }

    /// The neighbour (ARP) entry for `addr`: `(lladdr, state)` when it has one.
    pub fn neigh(&self, addr: &str) -> Option<(String, String)> {
        let out = ip(&["-n", &self.netns, "neigh", "show", "to", addr]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        let mac = words
            .iter()
            .position(|w| *w == "lladdr")
            .and_then(|i| words.get(i + 1))?;
        Some((mac.to_string(), words.last().unwrap_or(&"").to_string()))
    }

    /// One HTTP GET of `http://addr:port/` from this node with curl, giving
    /// up after `timeout_ms`: `(X-Served-By header, body)` on a 200 answer.
    /// Pair it with the `tests/fixtures/resource.d/hbweb` service.
    pub fn http_get(&self, addr: &str, port: u16, timeout_ms: u64) -> Option<(String, String)> {
        let url = format!("http://{addr}:{port}/");
        let secs = format!("{}.{:03}", timeout_ms / 1000, timeout_ms % 1000);
        let out = self.run(&["curl", "-s", "-i", "--max-time", &secs, &url]);
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        let served_by = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Served-By: "))
            .unwrap_or("")
            .trim()
            .to_string();
        Some((served_by, body.to_string()))
    }

    /// IPv4 addresses of the node as `ip -o -4 addr` prints them.
    pub fn addrs(&self) -> String {
        let out = ip(&["-n", &self.netns, "-o", "-4", "addr", "show"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The node's mount table (its holder's), read without entering it.
    pub fn mounts(&self) -> String {
        fs::read_to_string(format!("/proc/{}/mounts", self.holder)).unwrap_or_default()
    }

    /// Kills every process of the node, its holder included (which ends
    /// its mount namespace and every mount made on it), as a power cut does.
    pub fn kill_all(&self) {
        kill_netns_processes(&self.netns);
    }

    /// Processes in the node's network namespace (the holder included).
    pub fn pids(&self) -> Vec<u32> {
        netns_inode(&self.netns)
            .map(pids_in_netns)
            .unwrap_or_default()
    }

    /// Command lines of the node's processes, for assertions and diagnostics.
    pub fn cmdlines(&self) -> Vec<String> {
        self.pids().into_iter().filter_map(cmdline).collect()
    }

    /// The processes in the namespace whose command line is `cmd` (words
    /// joined by single spaces).
    pub fn pids_running(&self, cmd: &str) -> Vec<u32> {
        self.pids()
            .into_iter()
            .filter(|&p| cmdline(p).as_deref() == Some(cmd))
            .collect()
    }
}

/// A process's command line, its arguments joined by single spaces.
fn cmdline(pid: u32) -> Option<String> {
    let c = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&c)
            .replace('\0', " ")
            .trim_end()
            .to_string(),
    )
}

/// The service LAN: a bridge alone in its own namespace.
#[derive(Clone, Debug)]
pub struct Lan {
    pub netns: String,
    pub bridge: String,
}

/// A loop device over an image file in the lab's temporary directory.
#[derive(Clone, Debug)]
pub struct LoopDevice {
    pub dev: PathBuf,
    pub image: PathBuf,
}

/// Two pseudo-terminals joined like a null-modem cable by a socat relay.
#[derive(Debug)]
pub struct SerialPair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub relay: u32,
}

impl SerialPair {
    /// Pulls the cable: the relay stops moving bytes (SIGSTOP).
    pub fn pull(&self) {
        signal(self.relay, "STOP");
    }

    /// Plugs it back (SIGCONT).
    pub fn plug(&self) {
        signal(self.relay, "CONT");
    }
}

#[derive(Default)]
struct Owned {
    netns: Vec<String>,
    children: Vec<Child>,
    loops: Vec<LoopDevice>,
    ports: u32,
}

/// The lab. Build it with [`Lab::new`] after `Needs::new(test).lab()` said go.
pub struct Lab {
    /// `hbdlab-<pid>-<n>`: prefix of every name this lab creates.
    pub id: String,
    tmp: tempfile::TempDir,
    owned: Mutex<Owned>,
}

impl Lab {
    // No Default: a lab creates namespaces and a directory, it is not a value.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Lab {
        sweep_stale_labs();
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{LAB_PREFIX}-{}-{n}", std::process::id());
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{id}-"))
            .tempdir()
            .expect("lab temporary directory");
        Lab {
            id,
            tmp,
            owned: Mutex::new(Owned::default()),
        }
    }

    /// The lab's temporary directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, Owned> {
        // A panic while holding the lock must not stop the cleanup.
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add_netns(&self, role: &str) -> String {
        let name = format!("{}-{role}", self.id);
        ip(&["netns", "add", &name]);
        self.owned().netns.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// A node: its own network namespace, plus a holder process that owns a
    /// private mount namespace and a UTS namespace named `name`.
    pub fn node(&self, name: &str) -> Node {
        let netns = self.add_netns(name);
        let holder = self.spawn_holder(&netns, name);
        Node {
            name: name.to_string(),
            netns,
            holder,
        }
    }

    /// The node back after a crash (its processes, holder included, were
    /// killed): a new holder in the same network namespace, so fresh mount
    /// and UTS namespaces, as after a reboot. Its interfaces and addresses
    /// are as the crash left them.
    pub fn reboot(&self, node: &Node) -> Node {
        assert!(
            alive(&[node.holder]).is_empty(),
            "{}: holder {} still runs",
            node.name,
            node.holder
        );
        let holder = self.spawn_holder(&node.netns, &node.name);
        Node {
            holder,
            ..node.clone()
        }
    }

    fn spawn_holder(&self, netns: &str, name: &str) -> u32 {
        // ip netns exec, unshare and sh all exec in place, so the child's pid
        // ends up being the holder's.
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                "unshare",
                "-m",
                "-u",
                "--propagation",
                "private",
            ])
            // The UTS namespace is the holder's own: writing the kernel's host
            // name there is what hostname(1) would do, without needing it.
            .args([
                "sh",
                "-c",
                "echo \"$1\" > /proc/sys/kernel/hostname && exec sleep infinity",
            ])
            .args(["holder", name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn holder");
        let holder = child.id();
        self.owned().children.push(child);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let comm = fs::read_to_string(format!("/proc/{holder}/comm")).unwrap_or_default();
            let own_mnt = fs::read_link("/proc/self/ns/mnt").ok();
            let its_mnt = fs::read_link(format!("/proc/{holder}/ns/mnt")).ok();
            if comm.trim() == "sleep" && its_mnt.is_some() && its_mnt != own_mnt {
                break;
            }
            assert!(
                Instant::now() < until,
                "{name}: holder {holder} did not come up"
            );
            sleep(Duration::from_millis(10));
        }
        holder
    }

    /// A namespace holding only an up bridge `br0`: the service LAN.
    pub fn lan(&self, role: &str) -> Lan {
        let netns = self.add_netns(role);
        ip(&["-n", &netns, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &netns, "link", "set", "br0", "up"]);
        Lan {
            netns,
            bridge: "br0".to_string(),
        }
    }

    /// Plugs `node` into the LAN: a veth whose node end is `iface` (up).
    pub fn join(&self, lan: &Lan, node: &Node, iface: &str) {
        let port = {
            let mut owned = self.owned();
            owned.ports += 1;
            format!("p{}", owned.ports)
        };
        ip(&[
            "link",
            "add",
            iface,
            "netns",
            &node.netns,
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &lan.netns,
        ]);
        ip(&[
            "-n",
            &lan.netns,
            "link",
            "set",
            &port,
            "master",
            &lan.bridge,
            "up",
        ]);
        ip(&["-n", &node.netns, "link", "set", iface, "up"]);
    }

    /// A direct veth cable between two nodes (e.g. the heartbeat link).
    pub fn link(&self, a: &Node, if_a: &str, b: &Node, if_b: &str) {
        ip(&[
            "link", "add", if_a, "netns", &a.netns, "type", "veth", "peer", "name", if_b, "netns",
            &b.netns,
        ]);
        ip(&["-n", &a.netns, "link", "set", if_a, "up"]);
        ip(&["-n", &b.netns, "link", "set", if_b, "up"]);
    }

    /// Starts a process inside a node; it is killed when the lab drops.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(&self, node: &Node, args: &[S]) -> u32 {
        let child = node
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot spawn: {e}", node.name));
        let pid = child.id();
        self.owned().children.push(child);
        pid
    }

    /// Starts a process inside a node with stdout and stderr appended to
    /// `log` (a daemon under test); it is killed when the lab drops.
    pub fn spawn_logged<S: AsRef<std::ffi::OsStr>>(
        &self,
        node: &Node,
        env: &[(&str, &str)],
        args: &[S],
        log: &Path,
    ) -> u32 {
        let open = || {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap_or_else(|e| panic!("open {}: {e}", log.display()))
        };
        let mut cmd = node.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(open())
            .stderr(open())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot spawn: {e}", node.name));
        let pid = child.id();
        self.owned().children.push(child);
        pid
    }

    /// Starts a process on the host side; it is killed when the lab drops.
    pub fn spawn_host(&self, cmd: &mut Command) -> u32 {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let pid = child.id();
        self.owned().children.push(child);
        pid
    }

    /// An ext4 image of `mib` MiB in the lab directory (not attached).
    pub fn ext4_image(&self, name: &str, mib: u64) -> PathBuf {
        // The id in the file name lets a later lab sweep a loop device left
        // behind by a killed test.
        let image = self.dir().join(format!("{}-{name}.img", self.id));
        let file = fs::File::create(&image).expect("create image");
        file.set_len(mib * 1024 * 1024).expect("size image");
        drop(file);
        must(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        image
    }

    /// An ext4 image attached to a free loop device (detached on drop).
    pub fn ext4_loop(&self, name: &str, mib: u64) -> LoopDevice {
        let image = self.ext4_image(name, mib);
        // losetup -f races with other tests taking a loop device at the same
        // moment; it says "device or resource busy" then: retry.
        let mut last = String::new();
        for _ in 0..20 {
            let out = Command::new("losetup")
                .args(["-f", "--show"])
                .arg(&image)
                .stdin(Stdio::null())
                .output()
                .expect("run losetup");
            if out.status.success() {
                let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                let lo = LoopDevice { dev, image };
                self.owned().loops.push(lo.clone());
                return lo;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            sleep(Duration::from_millis(100));
        }
        panic!("losetup -f --show {} failed: {last}", image.display());
    }

    /// Two ptys joined by a socat relay: paths `a` and `b` are symlinks to
    /// the two ends, like the two ends of a null-modem cable.
    pub fn serial_pair(&self, name: &str) -> SerialPair {
        let a = self.dir().join(format!("{name}-a"));
        let b = self.dir().join(format!("{name}-b"));
        let relay = self.spawn_host(
            Command::new("socat")
                .arg(format!("pty,raw,echo=0,link={}", a.display()))
                .arg(format!("pty,raw,echo=0,link={}", b.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let until = Instant::now() + Duration::from_secs(5);
        while !(a.exists() && b.exists()) {
            assert!(
                Instant::now() < until,
                "socat did not create {a:?} and {b:?}"
            );
            sleep(Duration::from_millis(10));
        }
        SerialPair { a, b, relay }
    }

    /// Runs `ip netns exec <netns> args…` (a fresh mount namespace per call:
    /// use [`Node::run`] for anything that mounts).
    pub fn netns_exec<S: AsRef<std::ffi::OsStr>>(&self, netns: &str, args: &[S]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", netns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ip netns exec")
    }

    /// Names of the network namespaces this lab created (for cleanup checks).
    pub fn netns_names(&self) -> Vec<String> {
        self.owned().netns.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let mut owned = self.owned();
        // 1. Processes we spawned, by PID.
        for child in owned.children.iter_mut() {
            // SIGCONT first: a relay paused by SerialPair::pull must run to
            // die promptly.
            signal(child.id(), "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
        // 2. Whatever still runs inside our namespaces (daemons' children,
        //    background ARP announcers): killing the holders also drops their
        //    mount namespaces and with them every mount made on a node.
        for name in owned.netns.iter().rev() {
            kill_netns_processes(name);
        }
        for name in owned.netns.iter().rev() {
            if !run_quiet(Command::new("ip").args(["netns", "del", name])) {
                eprintln!("lab cleanup: could not delete netns {name}");
            }
        }
        // 3. Loop devices, only while they still hold our image (a device
        //    freed and reused by someone else is not ours to detach).
        for lo in owned.loops.iter().rev() {
            let mut detached = false;
            for _ in 0..50 {
                match loop_backing_file(&lo.dev) {
                    Some(back) if back == lo.image => {
                        if run_quiet(Command::new("losetup").arg("-d").arg(&lo.dev)) {
                            detached = true;
                            break;
                        }
                    }
                    _ => {
                        detached = true;
                        break;
                    }
                }
                sleep(Duration::from_millis(100));
            }
            if !detached {
                eprintln!("lab cleanup: could not detach {}", lo.dev.display());
            }
        }
        owned.children.clear();
    }
}

/// Whether any network namespace, loop device or process of lab `id` remains.
pub fn lab_leftovers(id: &str) -> Vec<String> {
    let mut left = Vec::new();
    if let Ok(dir) = fs::read_dir("/run/netns") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{id}-")) {
                left.push(format!("netns {name}"));
            }
        }
    }
    if let Ok(dir) = fs::read_dir("/sys/block") {
        for entry in dir.flatten() {
            let dev = PathBuf::from("/dev").join(entry.file_name());
            if let Some(back) = loop_backing_file(&dev) {
                if back.to_string_lossy().contains(&format!("{id}-")) {
                    left.push(format!("loop {} ({})", dev.display(), back.display()));
                }
            }
        }
    }
    if let Ok(mounts) = fs::read_to_string("/proc/self/mounts") {
        for line in mounts.lines().filter(|l| l.contains(&format!("{id}-"))) {
            left.push(format!("host mount {line}"));
        }
    }
    left
}

/// Process ids that are still alive among `pids`.
pub fn alive(pids: &[u32]) -> Vec<u32> {
    pids.iter().copied().filter(|&p| pid_alive(p)).collect()
}

/// Reads a pty end in a thread, handing over each chunk as it arrives (raw
/// ptys: a read returns what is there). The thread ends when the relay dies.
pub fn pty_reader(path: &Path) -> std::sync::mpsc::Receiver<Vec<u8>> {
    use std::io::Read;
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(k) = file.read(&mut buf) {
            if k == 0 || tx.send(buf[..k].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects `n` bytes from a [`pty_reader`] within `within`, or what came.
pub fn collect(rx: &std::sync::mpsc::Receiver<Vec<u8>>, n: usize, within: Duration) -> Vec<u8> {
    let until = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => got.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    got
}
