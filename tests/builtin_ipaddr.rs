//! The built-in floating address (`src/shell/ipaddr.rs`) against the real
//! kernel: two lab namespaces joined by a veth cable; the built-in code runs in
//! one (a thread moved there with setns), the other captures what arrives on
//! the cable with an AF_PACKET socket. Root only; skips with the reason
//! otherwise. Also measures the time from "start" to the first gratuitous ARP
//! seen by the peer, built-in against the resource.d/IPaddr script.

use hbd::shell::ipaddr::{self, IpError};
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use testkit::lab::{self, Lab, Node};
use testkit::skip::Needs;

/// Runs `f` on a thread that has entered `netns` (the test thread stays put).
fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(format!("/run/netns/{netns}")).expect("netns file");
            setns(ns, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// One ARP packet seen on the wire.
#[derive(Clone, Debug)]
struct Arp {
    at: Instant,
    op: u16,
    dst_mac: [u8; 6],
    sender_mac: [u8; 6],
    target_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
}

/// Every ARP packet arriving in a namespace, until dropped.
struct Capture {
    rx: mpsc::Receiver<Arp>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    fn start(netns: &str) -> Capture {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let netns = netns.to_string();
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(format!("/run/netns/{netns}")).expect("netns file");
            setns(ns, CloneFlags::CLONE_NEWNET).expect("setns");
            let fd = socket::socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::EthAll,
            )
            .expect("packet socket");
            let tv = nix::sys::time::TimeVal::new(0, 50_000);
            socket::setsockopt(&fd, socket::sockopt::ReceiveTimeout, &tv).unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 2048];
            // Bounded: a test never runs a capture for more than a minute.
            let until = Instant::now() + Duration::from_secs(60);
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                let Ok(n) = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
                    continue;
                };
                let f = &buf[..n];
                if n < 42 || f[12..14] != [8, 6] {
                    continue;
                }
                let ip = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
                let _ = tx.send(Arp {
                    at: Instant::now(),
                    op: u16::from_be_bytes([f[20], f[21]]),
                    dst_mac: f[0..6].try_into().unwrap(),
                    sender_mac: f[22..28].try_into().unwrap(),
                    target_mac: f[32..38].try_into().unwrap(),
                    sender_ip: ip(28),
                    target_ip: ip(38),
                });
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("capture ready");
        Capture {
            rx,
            stop,
            thread: Some(thread),
        }
    }

    /// The gratuitous ARPs for `ip` seen within `wait`, stopping early after `n`.
    fn garps(&self, ip: Ipv4Addr, n: usize, wait: Duration) -> Vec<Arp> {
        let until = Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(a) if a.sender_ip == ip && a.target_ip == ip => out.push(a),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// Two nodes: `a` (10.250.0.1/24 on v0) and `b` (10.250.0.2/24 on v1).
fn pair(lab: &Lab) -> (Node, Node) {
    let a = lab.node("a");
    let b = lab.node("b");
    lab.link(&a, "v0", &b, "v1");
    a.addr("v0", "10.250.0.1/24");
    b.addr("v1", "10.250.0.2/24");
    (a, b)
}

fn addrs(n: &Node) -> String {
    String::from_utf8_lossy(&n.must(&["ip", "-o", "-4", "addr", "show"]).stdout).into_owned()
}

#[test]
fn builtin_ipaddr_adds_announces_reports_and_removes() {
    if !Needs::new("builtin_ipaddr_adds_announces_reports_and_removes")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    let mac = mac_bytes(&a.mac("v0"));
    let vip = Ipv4Addr::new(10, 250, 0, 100);
    let ns = a.netns.clone();

    assert!(!in_netns(&ns, || ipaddr::status("10.250.0.100").unwrap()));
    let cap = Capture::start(&b.netns);
    let t0 = Instant::now();
    // No interface and no prefix: both from the subnet 10.250.0.0/24 on v0.
    let s = in_netns(&ns, || {
        ipaddr::start("10.250.0.100", true, 5, Duration::from_millis(100)).unwrap()
    });
    assert_eq!((s.iface.as_str(), s.prefix), ("v0", 24));
    assert_eq!(s.label.as_deref(), Some("v0:0"), "IPaddr's iface:N alias");
    assert!(!s.already);
    let text = addrs(&a);
    assert!(
        text.contains("inet 10.250.0.100/24 brd 10.250.0.255 scope global secondary v0:0"),
        "{text}"
    );
    // The peer sees all five announcements, ~100 ms apart, from a's MAC.
    let g = cap.garps(vip, 5, Duration::from_secs(3));
    assert_eq!(g.len(), 5, "{g:?}");
    assert!(g.iter().all(|x| x.op == 1 && x.sender_mac == mac), "{g:?}");
    assert!(g[0].at.duration_since(t0) < Duration::from_millis(500));
    let span = g[4].at.duration_since(g[0].at);
    assert!(
        span >= Duration::from_millis(350) && span < Duration::from_millis(1500),
        "{span:?}"
    );
    // And it works: b reaches the address through a's MAC.
    let out = b.run(&["ping", "-c", "1", "-W", "2", "10.250.0.100"]);
    assert!(out.status.success(), "ping: {out:?}");
    assert_eq!(b.neigh("10.250.0.100").map(|n| mac_bytes(&n.0)), Some(mac));

    assert!(in_netns(&ns, || ipaddr::status("10.250.0.100").unwrap()));
    assert!(in_netns(&ns, || ipaddr::status("10.250.0.100/24/v0").unwrap()));
    assert!(!in_netns(&ns, || ipaddr::status("10.250.0.100/24/lo").unwrap()));
    // Started again: already there, announced again, nothing added.
    let again = in_netns(&ns, || {
        ipaddr::start("10.250.0.100/24/v0", true, 1, Duration::ZERO).unwrap()
    });
    assert!(again.already, "{again:?}");
    assert_eq!(cap.garps(vip, 1, Duration::from_secs(2)).len(), 1);
    // On another interface it is refused rather than moved.
    let e = in_netns(&ns, || {
        ipaddr::start("10.250.0.100/24/lo", true, 1, Duration::ZERO)
    })
    .unwrap_err();
    assert!(matches!(e, IpError::Elsewhere { .. }), "{e}");

    let done = in_netns(&ns, || ipaddr::stop("10.250.0.100/24").unwrap());
    assert_eq!(done, vec!["10.250.0.100/24 from v0".to_string()]);
    assert!(!addrs(&a).contains("10.250.0.100"));
    assert!(!in_netns(&ns, || ipaddr::status("10.250.0.100").unwrap()));
    // Stopping what is not there is success, as for the agent.
    assert!(in_netns(&ns, || ipaddr::stop("10.250.0.100").unwrap()).is_empty());
    // The primary stays.
    assert!(addrs(&a).contains("10.250.0.1/24"));

    // IPaddr2: no label; an explicit prefix and broadcast are used as given.
    let s = in_netns(&ns, || {
        ipaddr::start("10.250.0.101/25/v0/10.250.0.127", false, 1, Duration::ZERO).unwrap()
    });
    assert_eq!((s.prefix, s.label), (25, None));
    let text = addrs(&a);
    assert!(
        text.contains("inet 10.250.0.101/25 brd 10.250.0.127 scope global v0"),
        "{text}"
    );
    in_netns(&ns, || ipaddr::stop("10.250.0.101").unwrap());
}

#[test]
fn builtin_ipaddr_errors_name_what_is_wrong() {
    if !Needs::new("builtin_ipaddr_errors_name_what_is_wrong")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let (a, _b) = pair(&lab);
    let ns = a.netns.clone();
    let e = in_netns(&ns, || {
        ipaddr::start("10.250.0.100/24/nosuch0", true, 1, Duration::ZERO)
    })
    .unwrap_err();
    assert_eq!(
        (e.code(), e.to_string()),
        (6, "interface nosuch0 does not exist on this node".into())
    );
    let e = in_netns(&ns, || ipaddr::start("192.0.2.50", true, 1, Duration::ZERO)).unwrap_err();
    assert_eq!(e.code(), 6);
    assert!(e.to_string().contains("192.0.2.50"), "{e}");
    a.must(&["ip", "link", "set", "v0", "down"]);
    let e = in_netns(&ns, || {
        ipaddr::start("10.250.0.100/24/v0", true, 1, Duration::ZERO)
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "interface v0 is down; not taking 10.250.0.100 on it"
    );
    let e = in_netns(&ns, || {
        ipaddr::start("10.250.0.100/24/v0:", true, 1, Duration::ZERO)
    })
    .unwrap_err();
    assert_eq!(e.code(), 2, "{e}");
    assert!(!addrs(&a).contains("10.250.0.100"));
}

/// The gratuitous ARPs for `ip` queued on `tap` so far (it never waits).
fn garps_queued(tap: &std::os::fd::OwnedFd, ip: Ipv4Addr) -> usize {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    // Bounded: a burst is a handful of frames.
    for _ in 0..10_000 {
        let Ok(len) = socket::recv(tap.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) else {
            return n;
        };
        let f = &buf[..len];
        let ip_at = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
        if len >= 42 && f[12..14] == [8, 6] && ip_at(28) == ip && ip_at(38) == ip {
            n += 1;
        }
    }
    n
}

/// The daemon's step for the built-in address (`run_with`, as the shell
/// runs it) returns, and so lets the core start the group's next resource,
/// only once the first gratuitous ARP is on the wire; the rest of the burst
/// follows in the background. A packet socket in the same namespace sees
/// an outgoing frame inside the `sendto` that sends it (the veth has no
/// queue), so counting what it holds when the step returns is exact.
#[test]
fn builtin_ipaddr_start_returns_after_the_first_garp_and_before_the_rest() {
    if !Needs::new("builtin_ipaddr_start_returns_after_the_first_garp_and_before_the_rest")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let (a, _b) = pair(&lab);
    let vip = Ipv4Addr::new(10, 250, 0, 102);
    let interval = Duration::from_millis(400);
    let (outcome, took, at_return, later) = in_netns(&a.netns, || {
        let tap = socket::socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .expect("packet socket");
        let r = hbd::config::Resource {
            name: "IPaddr2".into(),
            args: vec!["10.250.0.102/24/v0".into()],
        };
        let t0 = Instant::now();
        let outcome = ipaddr::run_with(&r, hbd::core::Action::Start, 3, interval, false);
        let took = t0.elapsed();
        let at_return = garps_queued(&tap, vip);
        std::thread::sleep(interval * 3);
        let later = garps_queued(&tap, vip);
        ipaddr::stop("10.250.0.102").unwrap();
        (outcome, took, at_return, later)
    });
    eprintln!("built-in start step (3 announcements, keeper off): {took:?}");
    assert_eq!(outcome, hbd::core::StepOutcome::Ok);
    assert_eq!(
        at_return, 1,
        "the first announcement is out when the step ends"
    );
    assert!(took < interval, "the step waited for the burst: {took:?}");
    assert_eq!(later, 2, "the other two follow in the background");
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Start to first gratuitous ARP on the peer's wire, built-in against the
/// resource.d/IPaddr script run as the daemon runs it (fork + exec + sh + ip
/// + arping). Prints both; the built-in must be the faster.
#[test]
fn builtin_ipaddr_start_to_first_garp_beats_the_script() {
    if !Needs::new("builtin_ipaddr_start_to_first_garp_beats_the_script")
        .lab()
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    let _g = testkit::one_at_a_time();
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    let ns = a.netns.clone();
    let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("resource.d/IPaddr");
    let rsctmp = lab.dir().join("rsctmp");
    let cap = Capture::start(&b.netns);
    let (mut builtin, mut script) = (Vec::new(), Vec::new());
    const RUNS: u8 = 7;
    for i in 0..RUNS {
        let vip = Ipv4Addr::new(10, 250, 0, 100 + i);
        let arg = format!("{vip}/24/v0");
        let t0 = Instant::now();
        in_netns(&ns, || {
            ipaddr::start(&arg, true, 5, Duration::from_millis(200)).unwrap()
        });
        let g = cap.garps(vip, 1, Duration::from_secs(2));
        assert_eq!(g.len(), 1, "built-in run {i}: no gratuitous ARP");
        builtin.push(g[0].at.duration_since(t0));
        in_netns(&ns, || ipaddr::stop(&arg).unwrap());

        let vip = Ipv4Addr::new(10, 250, 0, 150 + i);
        let arg = format!("{vip}/24/v0");
        let t0 = Instant::now();
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &ns])
            .arg(&agent)
            .args([arg.as_str(), "start"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HA_RSCTMP", &rsctmp);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "IPaddr start: {out:?}");
        let g = cap.garps(vip, 1, Duration::from_secs(3));
        assert_eq!(g.len(), 1, "script run {i}: no gratuitous ARP");
        script.push(g[0].at.duration_since(t0));
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(&agent)
            .args([arg.as_str(), "stop"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HA_RSCTMP", &rsctmp)
            .output()
            .unwrap();
        assert!(out.status.success(), "IPaddr stop: {out:?}");
    }
    let us = |d: Duration| d.as_micros();
    let (lo_b, hi_b) = (
        us(*builtin.iter().min().unwrap()),
        us(*builtin.iter().max().unwrap()),
    );
    let (lo_s, hi_s) = (
        us(*script.iter().min().unwrap()),
        us(*script.iter().max().unwrap()),
    );
    let (mb, ms) = (median(&mut builtin), median(&mut script));
    eprintln!(
        "start -> first gratuitous ARP at the peer, {RUNS} runs: built-in median {}us ({lo_b}-{hi_b}), resource.d/IPaddr median {}us ({lo_s}-{hi_s})",
        us(mb),
        us(ms)
    );
    assert!(mb < ms, "built-in {mb:?} not faster than the script {ms:?}");
    assert!(mb < Duration::from_millis(50), "built-in took {mb:?}");
}

/// `hbd run` alone in node a of a fresh lab, holding `IPaddr::10.250.0.50/24/v0`,
/// with `hbd` the body of its `[hbd]` table and `agents_conf`, if any, its
/// `hbd-agents.conf`: the gratuitous ARPs the peer sees from the first one
/// on (within 15 s, then up to 5 more within 3 s), checked to come from a's
/// MAC 150-600 ms apart, and the log after a SIGTERM gave the address back.
fn daemon_takes_and_releases(hbd: &str, agents_conf: Option<&str>) -> (Vec<Arp>, String) {
    let _g = testkit::one_at_a_time();
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    let mac = mac_bytes(&a.mac("v0"));
    let dir = lab.dir().join("a");
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("authkeys");
    std::fs::write(&keys, "auth 1\n1 sha1 lab-secret\n").unwrap();
    std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    if let Some(text) = agents_conf {
        std::fs::write(dir.join("hbd-agents.conf"), text).unwrap();
    }
    let toml = dir.join("hbd.toml");
    std::fs::write(
        &toml,
        format!(
            "nodes = [\"a\", \"b\"]\nkeepalive = \"200ms\"\ndeadtime = \"1s\"\nwarntime = \"500ms\"\n\
             initdead = \"2s\"\nudpport = 6940\nauto_failback = \"off\"\nrealtime = false\n\
             \n[[media]]\ntype = \"ucast\"\ndev = \"v0\"\npeer = \"10.250.0.2\"\n\
             \n[auth]\nauthkeys = \"authkeys\"\n\
             \n[[group]]\nhome = \"a\"\nresources = [\"IPaddr::10.250.0.50/24/v0\"]\n\
             \n[hbd]\n{hbd}\n"
        ),
    )
    .unwrap();
    let log = dir.join("hbd.log");
    let cap = Capture::start(&b.netns);
    let (state, run) = (dir.join("state"), dir.join("run"));
    let pid = lab.spawn_logged(
        &a,
        &[],
        &[
            env!("CARGO_BIN_EXE_hbd").as_ref(),
            "run".as_ref(),
            "--node".as_ref(),
            "a".as_ref(),
            "-c".as_ref(),
            toml.as_os_str(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            "--run-dir".as_ref(),
            run.as_os_str(),
        ] as &[&std::ffi::OsStr],
        &log,
    );
    let vip = Ipv4Addr::new(10, 250, 0, 50);
    let mut g = cap.garps(vip, 1, Duration::from_secs(15));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(g.len(), 1, "no gratuitous ARP for {vip}; log:\n{text}");
    g.extend(cap.garps(vip, 5, Duration::from_secs(3)));
    assert!(g.iter().all(|x| x.sender_mac == mac), "{g:?}");
    for (prev, next) in g.iter().zip(&g[1..]) {
        let gap = next.at.duration_since(prev.at);
        assert!(
            gap >= Duration::from_millis(150) && gap <= Duration::from_millis(600),
            "announcements {gap:?} apart (200 ms expected)"
        );
    }
    assert!(addrs(&a).contains("inet 10.250.0.50/24"), "{}", addrs(&a));
    // The step's log line follows its first announcement.
    let logged = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains(": ok after "))
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged, "{text}");
    assert!(lab::signal(pid, "TERM"));
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !addrs(&a).contains("10.250.0.50")
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(gone, "address still there after SIGTERM; log:\n{text}");
    (g, text)
}

/// The log of a built-in start and stop of the test's address.
fn assert_ran_built_in(text: &str) {
    assert!(
        text.contains("IPaddr 10.250.0.50/24/v0 start (built-in): ok after "),
        "{text}"
    );
    assert!(text.contains("running IPaddr 10.250.0.50/24/v0 start (built-in)"));
    assert!(
        text.contains("us): added /24 on v0 as v0:0; announcing"),
        "{text}"
    );
    assert!(
        text.contains("stop (built-in): ok after ")
            && text.contains("us): removed 10.250.0.50/24 from v0"),
        "{text}"
    );
    assert!(!text.contains("runs by its script"), "{text}");
}

/// `hbd run` with `[hbd] builtin_ipaddr = true` and no resource scripts at
/// all: alone after initdead it takes its group's address itself (the peer
/// sees the gratuitous ARP), and gives it back on SIGTERM.
#[test]
fn daemon_with_builtin_ipaddr_needs_no_script() {
    if !Needs::new("daemon_with_builtin_ipaddr_needs_no_script")
        .lab()
        .met()
    {
        return;
    }
    let (g, text) = daemon_takes_and_releases("builtin_ipaddr = true", None);
    // The first from the step, the rest of the burst from the daemon's
    // keeper: heartbeat's 5, 200 ms apart (no [hbd.announce]), nothing after.
    assert_eq!(g.len(), 5, "{g:?}");
    assert_ran_built_in(&text);
}

/// The default, `builtin_ipaddr = "auto"`, with hbd's agents installed
/// (`resource_dirs`): the daemon runs the address itself, as with `true`;
/// with an `hbd-agents.conf` asking the agent for 3 announcements it runs
/// the agent script, says why, and the peer sees the agent's 3 (a keeper
/// that took the start for a built-in one would add the missing 2).
#[test]
fn daemon_under_auto_runs_hbds_agent_built_in_unless_the_env_file_differs() {
    if !Needs::new("daemon_under_auto_runs_hbds_agent_built_in_unless_the_env_file_differs")
        .lab()
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    let dirs = format!(
        "resource_dirs = [\"{}\"]",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("resource.d")
            .display()
    );
    let (g, text) = daemon_takes_and_releases(&dirs, None);
    assert_eq!(g.len(), 5, "{g:?}");
    assert_ran_built_in(&text);

    let (g, text) = daemon_takes_and_releases(&dirs, Some("HBD_ARP_COUNT=3\n"));
    assert_eq!(g.len(), 3, "{g:?}\n{text}");
    assert!(
        text.contains("IPaddr::10.250.0.50/24/v0: runs by its script ")
            && text.contains("hbd-agents.conf:1: HBD_ARP_COUNT=3: only the agent reads it"),
        "{text}"
    );
    assert!(!text.contains("(built-in)"), "{text}");
}

/// What a start of `vip` shows from outside: its `ip -o addr` line (address,
/// prefix, broadcast, scope, flags, label) and the gratuitous ARPs the peer
/// sees within 2.5 s (the default burst takes 0.8 s).
fn seen(a: &Node, cap: &Capture, vip: Ipv4Addr) -> (String, Vec<Arp>) {
    let arps = cap.garps(vip, 6, Duration::from_millis(2500));
    let want = format!(" inet {vip}/");
    let line = addrs(a)
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or("(address missing)")
        .to_string();
    (line, arps)
}

/// The built-in address against hbd's agent script, on every argument form
/// `builtin_ipaddr = "auto"` hands to the built-in (config::ipaddr_runner):
/// the same address line (prefix, broadcast, IPaddr's next free `v0:N`
/// alias with `v0:0` already taken, IPaddr2's label or none) and the same
/// gratuitous ARPs on the peer's wire (count, frame fields, spacing).
#[test]
fn builtin_and_agent_look_the_same_from_outside() {
    use hbd::config::ipaddr_runner::{decide, Agent, AgentsConf};
    use hbd::config::{Announce, BuiltinIpaddr, Resource};
    if !Needs::new("builtin_and_agent_look_the_same_from_outside")
        .lab()
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    let _g = testkit::one_at_a_time();
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    a.must(&[
        "ip",
        "addr",
        "add",
        "10.250.0.50/24",
        "dev",
        "v0",
        "label",
        "v0:0",
    ]);
    let ns = a.netns.clone();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("resource.d");
    let (rsctmp, ha_dir) = (lab.dir().join("rsctmp"), lab.dir().join("ha.d"));
    std::fs::create_dir_all(&ha_dir).unwrap();
    let cap = Capture::start(&b.netns);
    let forms = [
        ("IPaddr", "10.250.0.100/24/v0"),
        ("IPaddr", "10.250.0.101"),
        ("IPaddr", "10.250.0.102/24/v0:web"),
        ("IPaddr", "10.250.0.103/255.255.255.0/10.250.0.127/v0"),
        ("IPaddr2", "10.250.0.104/24/v0"),
        ("IPaddr2", "10.250.0.105/25"),
        ("IPaddr2", "10.250.0.106/24/v0:svc"),
        ("IPaddr2", "10.250.0.107/32/v0/10.250.0.255"),
    ];
    for (name, arg) in forms {
        let r = Resource {
            name: name.into(),
            args: vec![arg.into()],
        };
        let agent = Agent::Hbd(dir.join(name));
        let c = decide(
            BuiltinIpaddr::Auto,
            &r,
            &Announce::default(),
            &agent,
            &AgentsConf::default(),
        )
        .unwrap();
        assert!(c.builtin, "{r}: {}", c.why);
        let vip: Ipv4Addr = arg.split('/').next().unwrap().parse().unwrap();
        let script = |action: &str| {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &ns])
                .arg(dir.join(name))
                .args([arg, action])
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("HA_RSCTMP", &rsctmp)
                .env("HA_DIR", &ha_dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{r} {action}: {out:?}");
        };
        script("start");
        let (line_s, arps_s) = seen(&a, &cap, vip);
        script("stop");
        let builtin = |action| {
            let o = in_netns(&ns, || {
                ipaddr::run_with(&r, action, 5, Duration::from_millis(200), false)
            });
            assert_eq!(o, hbd::core::StepOutcome::Ok, "{r} built in");
        };
        builtin(hbd::core::Action::Start);
        let (line_b, arps_b) = seen(&a, &cap, vip);
        builtin(hbd::core::Action::Stop);
        assert!(!addrs(&a).contains(&format!(" {vip}/")), "{r} left behind");
        eprintln!("{r}: {line_b}");
        assert_eq!(line_b, line_s, "{r}: built in against the agent");
        assert_eq!(arps_s.len(), 5, "{r}: the agent's burst: {arps_s:?}");
        assert_eq!(arps_b.len(), 5, "{r}: the built-in burst: {arps_b:?}");
        let frame = |x: &Arp| (x.op, x.dst_mac, x.sender_mac, x.target_mac);
        assert_eq!(frame(&arps_b[0]), frame(&arps_s[0]), "{r}: the ARP frames");
        for (who, g) in [("agent", &arps_s), ("built in", &arps_b)] {
            assert!(
                g.iter().all(|x| frame(x) == frame(&g[0])),
                "{r} {who}: {g:?}"
            );
            // Four 200 ms gaps: bounds loose enough for a loaded machine.
            let span = g[4].at.duration_since(g[0].at);
            assert!(
                span >= Duration::from_millis(600) && span < Duration::from_millis(2000),
                "{r} {who}: burst over {span:?}"
            );
        }
    }
}
