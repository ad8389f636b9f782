//! hbd's resource.d agents (IPaddr, IPaddr2, Filesystem, service) run for
//! real: in namespace-lab nodes on a bridged service LAN with a client, on
//! loop-device filesystems inside private mount namespaces. Tests that need
//! root print "skipped: …" and return otherwise.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::lab::{self, Lab, Node};
use testkit::nspair::{NsPair, Opts, Serial};
use testkit::skip::Needs;

const FLOAT: &str = "192.0.2.50";

fn agent(name: &str) -> String {
    format!("{}/resource.d/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `agent args…` inside `node`, with its state directory in the lab.
fn run(lab: &Lab, node: &Node, env: &[(&str, &str)], name: &str, args: &[&str]) -> Run {
    let rsctmp = lab.dir().join(format!("rsctmp-{}", node.name));
    let rsctmp = rsctmp.to_str().unwrap().to_string();
    // HA_DIR in the lab: a host /etc/ha.d/hbd-agents.conf must not leak in.
    let ha_dir = lab.dir().to_str().unwrap().to_string();
    let mut all: Vec<(&str, &str)> = vec![("HA_RSCTMP", &rsctmp), ("HA_DIR", &ha_dir)];
    all.extend_from_slice(env);
    let path = agent(name);
    let mut argv: Vec<&str> = vec![&path];
    argv.extend_from_slice(args);
    Run::from(node.run_env(&all, &argv))
}

fn ok(lab: &Lab, node: &Node, env: &[(&str, &str)], name: &str, args: &[&str]) -> Run {
    let r = run(lab, node, env, name, args);
    assert_eq!(r.code, 0, "{} {name} {args:?}: {r:?}", node.name);
    r
}

fn assert_running(lab: &Lab, node: &Node, name: &str, args: &[&str]) {
    let mut argv = args.to_vec();
    argv.push("status");
    let r = run(lab, node, &[], name, &argv);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "INFO:  Running OK\n"),
        "{}: {name} {args:?} status: {r:?}",
        node.name
    );
}

fn assert_stopped(lab: &Lab, node: &Node, name: &str, args: &[&str]) {
    let mut argv = args.to_vec();
    argv.push("status");
    let r = run(lab, node, &[], name, &argv);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (7, "INFO:  Resource is stopped\n"),
        "{}: {name} {args:?} status: {r:?}",
        node.name
    );
}

/// Two nodes and a client on the service LAN (`svc0`, 192.0.2.0/24), the
/// nodes also joined by the heartbeat cable (`hb0`, 10.250.0.0/24): the
/// namespace pair, without daemons or serial cable.
struct LanLab {
    ns: NsPair,
}

impl LanLab {
    fn new() -> LanLab {
        let opts = Opts {
            serial: Serial::None,
            ..Opts::default()
        };
        LanLab {
            ns: NsPair::new(opts, &testkit::hbd_exe!()),
        }
    }

    fn parts(&self) -> (&Lab, &Node, &Node, &Node) {
        let ns = &self.ns;
        (
            ns.lab(),
            &ns.nodes[0],
            &ns.nodes[1],
            ns.client.as_ref().expect("a client"),
        )
    }
}

/// The `ip -o -4 addr` line holding `addr`, if any.
fn addr_line(node: &Node, addr: &str) -> Option<String> {
    node.addrs()
        .lines()
        .find(|l| {
            l.split_whitespace()
                .nth(3)
                .map(|a| a.split('/').next() == Some(addr))
                == Some(true)
        })
        .map(str::to_string)
}

/// The label of an address line: the word before the trailing `\`.
fn label_of(line: &str) -> String {
    line.split('\\')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_string()
}

// ---------------------------------------------------------------- static checks

#[test]
fn shellcheck_finds_nothing_in_any_agent() {
    if !Needs::new("shellcheck_finds_nothing_in_any_agent")
        .tool("shellcheck", "shellcheck")
        .met()
    {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("resource.d"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "agents missing: {files:?}");
    files.push(dir.join("tests/fixtures/resource.d/hbweb"));
    let out = Command::new("shellcheck")
        .current_dir(dir)
        .args(["-x", "-s", "sh", "-S", "style"])
        .args(files.iter().map(|f| f.strip_prefix(dir).unwrap()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck findings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn agents_are_posix_sh_and_helpers_are_not_resources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("resource.d");
    for name in ["IPaddr", "IPaddr2", "Filesystem", "service"] {
        let path = dir.join(name);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{name}: not #!/bin/sh");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{name}: mode {mode:o}");
        if Path::new("/usr/bin/dash").exists() || Path::new("/bin/dash").exists() {
            let out = Command::new("dash").arg("-n").arg(&path).output().unwrap();
            assert!(out.status.success(), "{name}: dash -n: {out:?}");
        }
    }
    for helper in [".hbd-functions", ".hbd-ip-functions"] {
        let mode = fs::metadata(dir.join(helper)).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o111,
            0,
            "{helper} must not be executable (sourced only)"
        );
    }
}

#[test]
fn agents_find_their_helpers_through_a_symlink() {
    // Installed as /etc/ha.d/resource.d/IPaddr -> /usr/lib/hbd/resource.d/IPaddr.
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("IPaddr");
    std::os::unix::fs::symlink(agent("IPaddr"), &link).unwrap();
    let r = Run::from(
        Command::new(&link)
            .args(["300.1.1.1", "status"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("\"300.1.1.1\" is not an IPv4 address"),
        "{r:?}"
    );
}

// ---------------------------------------------------------------- IPaddr / IPaddr2

fn ip_start_status_stop(name: &str, test: &str) {
    if !Needs::new(test).lab().met() {
        return;
    }
    let l = LanLab::new();
    let (lab, a, _, _) = l.parts();
    let quick = [("HBD_ARP_COUNT", "2"), ("HBD_ARP_INTERVAL_MS", "50")];
    assert_stopped(lab, a, name, &[FLOAT]);
    // Start twice: the second is a success that changes nothing.
    let r = ok(lab, a, &quick, name, &[FLOAT, "start"]);
    assert_eq!(r.stdout, "INFO:  Success\n");
    ok(lab, a, &quick, name, &[FLOAT, "start"]);
    assert_running(lab, a, name, &[FLOAT]);
    let line = addr_line(a, FLOAT).expect("address added");
    assert!(
        line.contains(&format!("{FLOAT}/24")),
        "prefix from the LAN subnet: {line}"
    );
    assert_eq!(
        a.addrs().matches(FLOAT).count(),
        1,
        "added once: {}",
        a.addrs()
    );
    if name == "IPaddr" {
        assert_eq!(label_of(&line), "svc0:0", "heartbeat alias name: {line}");
        ok(lab, a, &quick, name, &["192.0.2.51", "start"]);
        let second = addr_line(a, "192.0.2.51").unwrap();
        assert_eq!(label_of(&second), "svc0:1", "next free alias: {second}");
        ok(lab, a, &[], name, &["192.0.2.51", "stop"]);
    } else {
        assert_eq!(label_of(&line), "svc0", "IPaddr2 adds no label: {line}");
        ok(lab, a, &quick, name, &["192.0.2.52/24/svc0:web", "start"]);
        let second = addr_line(a, "192.0.2.52").unwrap();
        assert_eq!(label_of(&second), "svc0:web", "explicit label: {second}");
        ok(lab, a, &[], name, &["192.0.2.52/24/svc0:web", "stop"]);
    }
    // The peer never sees it.
    assert_stopped(lab, &l.ns.nodes[1], name, &[FLOAT]);
    // Stop twice.
    ok(lab, a, &[], name, &[FLOAT, "stop"]);
    ok(lab, a, &[], name, &[FLOAT, "stop"]);
    assert_stopped(lab, a, name, &[FLOAT]);
    assert!(addr_line(a, FLOAT).is_none(), "{}", a.addrs());
    // The node's own address is untouched by all this.
    assert!(addr_line(a, "192.0.2.1").is_some(), "{}", a.addrs());
}

#[test]
fn ipaddr_start_status_stop_are_idempotent() {
    ip_start_status_stop("IPaddr", "ipaddr_start_status_stop_are_idempotent");
}

#[test]
fn ipaddr2_start_status_stop_are_idempotent() {
    ip_start_status_stop("IPaddr2", "ipaddr2_start_status_stop_are_idempotent");
}

/// The client first learns node A's MAC for the floating address (a ping),
/// then the address moves to B: the client's neighbour entry must flip to
/// B's MAC with no traffic from the client, i.e. through B's gratuitous ARP.
fn gratuitous_arp_moves_the_client(name: &str, mode: &str, test: &str) {
    if !Needs::new(test)
        .lab()
        .tool("arping", "iputils-arping")
        .tool("ping", "iputils-ping")
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (lab, a, b, client) = l.parts();
    let (mac_a, mac_b) = (a.mac("svc0"), b.mac("svc0"));
    assert_ne!(mac_a, mac_b);
    let arp = [
        ("HBD_ARP_COUNT", "3"),
        ("HBD_ARP_INTERVAL_MS", "100"),
        ("HBD_ARP_MODE", mode),
    ];

    ok(lab, a, &arp, name, &[FLOAT, "start"]);
    let ping = client.run(&["ping", "-c", "1", "-w", "3", FLOAT]);
    assert!(
        ping.status.success(),
        "client cannot reach {FLOAT} on A: {ping:?}"
    );
    let (mac, _) = client
        .neigh(FLOAT)
        .expect("client learned the floating address");
    assert_eq!(mac, mac_a);

    ok(lab, a, &[], name, &[FLOAT, "stop"]);
    let t0 = Instant::now();
    ok(lab, b, &arp, name, &[FLOAT, "start"]);
    let flipped = testkit::wait_for(Duration::from_secs(3), || {
        client.neigh(FLOAT).filter(|(m, _)| *m == mac_b)
    });
    assert!(
        flipped.is_some(),
        "client still has {:?} for {FLOAT}, B is {mac_b}",
        client.neigh(FLOAT)
    );
    eprintln!(
        "{name}: client followed to B {:?} after start",
        t0.elapsed()
    );

    // And back again.
    ok(lab, b, &[], name, &[FLOAT, "stop"]);
    ok(lab, a, &arp, name, &[FLOAT, "start"]);
    let back = testkit::wait_for(Duration::from_secs(3), || {
        client.neigh(FLOAT).filter(|(m, _)| *m == mac_a)
    });
    assert!(
        back.is_some(),
        "client did not follow back to A: {:?}",
        client.neigh(FLOAT)
    );
    let ping = client.run(&["ping", "-c", "1", "-w", "3", FLOAT]);
    assert!(
        ping.status.success(),
        "client cannot reach {FLOAT} on A again: {ping:?}"
    );
}

#[test]
fn ipaddr_gratuitous_arp_moves_the_client() {
    gratuitous_arp_moves_the_client(
        "IPaddr",
        "request",
        "ipaddr_gratuitous_arp_moves_the_client",
    );
}

#[test]
fn ipaddr2_gratuitous_arp_moves_the_client() {
    // Unsolicited replies (arping -A) move the client as well.
    gratuitous_arp_moves_the_client(
        "IPaddr2",
        "reply",
        "ipaddr2_gratuitous_arp_moves_the_client",
    );
}

#[test]
fn ipaddr_takes_interface_and_prefix_from_the_routing_table() {
    if !Needs::new("ipaddr_takes_interface_and_prefix_from_the_routing_table")
        .lab()
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (lab, a, _, _) = l.parts();
    let quiet = [("HBD_ARP_COUNT", "0")];
    // 10.250.0.77 belongs to hb0's subnet, 192.0.2.60 to svc0's.
    ok(lab, a, &quiet, "IPaddr", &["10.250.0.77", "start"]);
    let line = addr_line(a, "10.250.0.77").unwrap();
    assert!(
        line.contains(" hb0 ") && line.contains("10.250.0.77/24"),
        "{line}"
    );
    // A given prefix is kept, the interface still found.
    ok(lab, a, &quiet, "IPaddr", &["192.0.2.60/25", "start"]);
    let line = addr_line(a, "192.0.2.60").unwrap();
    assert!(
        line.contains(" svc0 ") && line.contains("192.0.2.60/25"),
        "{line}"
    );
    // A given interface wins over the table; the dotted netmask form works;
    // a numeric third part is the broadcast (heartbeat's swapped form).
    ok(
        lab,
        a,
        &quiet,
        "IPaddr",
        &["10.250.0.78/255.255.255.0/10.250.0.255/svc0", "start"],
    );
    let line = addr_line(a, "10.250.0.78").unwrap();
    assert!(
        line.contains(" svc0 ") && line.contains("brd 10.250.0.255"),
        "{line}"
    );
    // status and stop find the address wherever it is.
    assert_running(lab, a, "IPaddr", &["10.250.0.78"]);
    for addr in ["10.250.0.77", "192.0.2.60/25", "10.250.0.78"] {
        ok(lab, a, &[], "IPaddr", &[addr, "stop"]);
    }
    assert!(addr_line(a, "10.250.0.78").is_none() && addr_line(a, "10.250.0.77").is_none());
}

#[test]
fn ipaddr_rejects_bad_arguments_and_changes_nothing() {
    if !Needs::new("ipaddr_rejects_bad_arguments_and_changes_nothing")
        .lab()
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (lab, a, _, _) = l.parts();
    let before = a.addrs();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["999.1.1.1", "start"],
            2,
            "\"999.1.1.1\" is not an IPv4 address",
        ),
        (&["192.0.2.010", "start"], 2, "is not an IPv4 address"),
        (
            &["192.0.2.5/33", "start"],
            2,
            "prefix \"33\" is out of range",
        ),
        (
            &["192.0.2.5/255.0.255.0", "start"],
            2,
            "not a contiguous dotted netmask",
        ),
        (
            &["192.0.2.5/24/-evil", "start"],
            2,
            "\"-evil\" is not an interface name",
        ),
        (
            &["192.0.2.5/24/svc0/300.1.1.1", "start"],
            2,
            "broadcast \"300.1.1.1\"",
        ),
        (
            &["192.0.2.5/24/svc0/192.0.2.255/x", "start"],
            2,
            "too many parts",
        ),
        (&["192.0.2.5;reboot", "start"], 2, "unexpected character"),
        (&["192.0.2.5 svc0", "start"], 2, "unexpected character"),
        (&["127.0.0.5", "start"], 2, "cannot be a floating address"),
        (&["224.0.0.5", "start"], 2, "cannot be a floating address"),
        (&["192.0.2.5", "restart"], 3, "unknown action \"restart\""),
        (&["start"], 2, "usage"),
        (&["192.0.2.5", "svc0", "start"], 2, "usage"),
        (
            &["10.250.9.9", "start"],
            6,
            "no interface has a subnet containing 10.250.9.9",
        ),
        (
            &["192.0.2.5/24/nosuch0", "start"],
            6,
            "interface nosuch0 does not exist",
        ),
    ];
    for name in ["IPaddr", "IPaddr2"] {
        for (args, code, msg) in cases {
            let r = run(lab, a, &[], name, args);
            assert_eq!(r.code, *code, "{name} {args:?}: {r:?}");
            assert!(
                r.stderr.contains(msg),
                "{name} {args:?}: stderr lacks {msg:?}: {r:?}"
            );
            assert!(
                !r.stdout.contains("Running") && !r.stdout.contains("OK"),
                "{r:?}"
            );
        }
        // Bad knobs are refused before anything is added.
        for (k, v) in [
            ("HBD_ARP_COUNT", "five"),
            ("HBD_ARP_INTERVAL_MS", "-1"),
            ("HBD_ARP_MODE", "loud"),
        ] {
            let r = run(lab, a, &[(k, v)], name, &[FLOAT, "start"]);
            assert_eq!(r.code, 2, "{name} {k}={v}: {r:?}");
            assert!(r.stderr.contains(k), "{r:?}");
        }
    }
    assert_eq!(a.addrs(), before, "a rejected call changed the addresses");
}

#[test]
fn ipaddr_refuses_an_interface_that_is_down() {
    if !Needs::new("ipaddr_refuses_an_interface_that_is_down")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    // A veth pair is created down (this kernel has no dummy driver).
    a.must(&[
        "ip", "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1",
    ]);
    let r = run(
        &lab,
        &a,
        &[("HBD_ARP_COUNT", "0")],
        "IPaddr",
        &["192.0.2.70/24/dummy0", "start"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("interface dummy0 is down"), "{r:?}");
    assert!(addr_line(&a, "192.0.2.70").is_none());
}

#[test]
fn ipaddr_stop_of_a_primary_address_keeps_the_other_floating_addresses() {
    if !Needs::new("ipaddr_stop_of_a_primary_address_keeps_the_other_floating_addresses")
        .lab()
        .met()
    {
        return;
    }
    // No fixed address on the service interface: the first floating address
    // becomes the primary, the second its secondary. Without care, the
    // kernel removes the secondary together with the primary.
    let lab = Lab::new();
    let a = lab.node("nodea");
    a.must(&[
        "ip", "link", "add", "svc0", "type", "veth", "peer", "name", "svc1",
    ]);
    a.set_link("svc0", true);
    a.set_link("svc1", true);
    let quiet = [("HBD_ARP_COUNT", "0")];
    for name in ["IPaddr", "IPaddr2"] {
        ok(&lab, &a, &quiet, name, &["192.0.2.50/24/svc0", "start"]);
        ok(
            &lab,
            &a,
            &quiet,
            "IPaddr2",
            &["192.0.2.51/24/svc0", "start"],
        );
        assert!(!addr_line(&a, "192.0.2.50").unwrap().contains("secondary"));
        ok(&lab, &a, &[], name, &["192.0.2.50/24/svc0", "stop"]);
        assert!(addr_line(&a, "192.0.2.50").is_none(), "{}", a.addrs());
        assert_running(&lab, &a, "IPaddr2", &["192.0.2.51/24/svc0"]);
        ok(&lab, &a, &[], "IPaddr2", &["192.0.2.51/24/svc0", "stop"]);
    }
}

#[test]
fn ipaddr_stop_ends_the_arp_announcer() {
    if !Needs::new("ipaddr_stop_ends_the_arp_announcer")
        .lab()
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (lab, a, _, _) = l.parts();
    let long = [("HBD_ARP_COUNT", "200"), ("HBD_ARP_INTERVAL_MS", "100")];
    let t0 = Instant::now();
    ok(lab, a, &long, "IPaddr", &[FLOAT, "start"]);
    // Start does not wait for 200 announcements.
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "start took {:?}",
        t0.elapsed()
    );
    let announcing = |n: &Node| {
        n.cmdlines()
            .iter()
            .any(|c| c.contains(&format!("hbd-arp-announce svc0 {FLOAT} ")))
    };
    assert!(announcing(a), "no announcer running: {:?}", a.cmdlines());
    // It runs in its own session (setsid), out of reach of a kill of the
    // agent's process group, and its pid is the one in the pid file.
    let announcer = testkit::wait_for(Duration::from_secs(2), || {
        a.pids().into_iter().find(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).starts_with("sh\0-c\0"))
                .unwrap_or(false)
        })
    })
    .expect("announcer pid");
    let stat = fs::read_to_string(format!("/proc/{announcer}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        announcer.to_string(),
        "session of {announcer}: {stat}"
    );
    let pidfile = lab
        .dir()
        .join(format!("rsctmp-nodea/hbd-arp-svc0-{FLOAT}.pid"));
    assert_eq!(
        fs::read_to_string(pidfile).unwrap().trim(),
        announcer.to_string()
    );
    // A second start replaces the announcer rather than adding one.
    ok(lab, a, &long, "IPaddr", &[FLOAT, "start"]);
    // (The old one gets SIGTERM, the new one may still be between setsid and
    // exec: give both a moment.)
    let announcers = |n: &Node| {
        n.cmdlines()
            .iter()
            .filter(|c| c.contains("sh -c") && c.contains("hbd-arp-announce"))
            .count()
    };
    let one = testkit::wait_for(Duration::from_secs(2), || {
        (announcers(a) == 1).then_some(())
    });
    assert!(one.is_some(), "{:?}", a.cmdlines());
    ok(lab, a, &[], "IPaddr", &[FLOAT, "stop"]);
    let gone = testkit::wait_for(Duration::from_secs(3), || (!announcing(a)).then_some(()));
    assert!(
        gone.is_some(),
        "announcer survived stop: {:?}",
        a.cmdlines()
    );

    // In the foreground, start returns after the last announcement and
    // leaves no announcer behind.
    let fg = [
        ("HBD_ARP_COUNT", "3"),
        ("HBD_ARP_INTERVAL_MS", "150"),
        ("HBD_ARP_BACKGROUND", "no"),
    ];
    let t0 = Instant::now();
    ok(lab, a, &fg, "IPaddr", &[FLOAT, "start"]);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "returned after {:?}",
        t0.elapsed()
    );
    assert_eq!(announcers(a), 0, "{:?}", a.cmdlines());
    ok(lab, a, &[], "IPaddr", &[FLOAT, "stop"]);
}

// ---------------------------------------------------------------- Filesystem

#[test]
fn filesystem_start_status_stop_on_a_loop_device() {
    if !Needs::new("filesystem_start_status_stop_on_a_loop_device")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let b = lab.node("nodeb");
    let disk = lab.ext4_loop("shared", 16);
    let dev = disk.dev.to_str().unwrap();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    let args = [dev, mnt, "ext4"];

    assert_stopped(&lab, &a, "Filesystem", &args);
    ok(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "start"]);
    ok(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "start"]);
    assert_running(&lab, &a, "Filesystem", &args);
    let mounted = |n: &Node| {
        n.mounts()
            .lines()
            .any(|l| l.starts_with(&format!("{dev} {mnt} ext4 ")))
    };
    assert!(mounted(&a), "{}", a.mounts());
    assert_eq!(
        a.mounts().matches(&format!(" {mnt} ")).count(),
        1,
        "mounted once"
    );
    // Mounts live in the node's private mount namespace only.
    assert!(!mounted(&b), "leaked into nodeb: {}", b.mounts());
    let host = fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !host.contains(&format!(" {mnt} ")),
        "leaked to the host: {host}"
    );
    assert_stopped(&lab, &b, "Filesystem", &args);
    // It is a real filesystem: data written on a is there after a remount.
    a.must(&["sh", "-c", &format!("echo hello > {mnt}/index.html")]);

    ok(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "stop"]);
    ok(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "stop"]);
    assert_stopped(&lab, &a, "Filesystem", &args);
    assert!(!mounted(&a), "{}", a.mounts());

    // The other node takes it over (trailing slash and options accepted).
    let slash = format!("{mnt}/");
    ok(
        &lab,
        &b,
        &[],
        "Filesystem",
        &[dev, &slash, "ext4", "noatime", "start"],
    );
    assert_running(&lab, &b, "Filesystem", &[dev, mnt, "ext4", "noatime"]);
    let line = b
        .mounts()
        .lines()
        .find(|l| l.contains(&format!(" {mnt} ")))
        .unwrap()
        .to_string();
    assert!(line.contains("noatime"), "{line}");
    let data = b.must(&["cat", &format!("{mnt}/index.html")]);
    assert_eq!(String::from_utf8_lossy(&data.stdout), "hello\n");
    ok(&lab, &b, &[], "Filesystem", &[dev, mnt, "ext4", "stop"]);
}

#[test]
fn filesystem_stop_kills_what_holds_the_mount() {
    let test = "filesystem_stop_kills_what_holds_the_mount";
    if !Needs::new(test).lab().tool("fuser", "psmisc").met() {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let disk = lab.ext4_loop("shared", 16);
    let dev = disk.dev.to_str().unwrap();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    ok(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "start"]);

    // One holder leaves on SIGTERM; one ignores it (and so do its children)
    // and needs SIGKILL.
    let polite = lab.spawn(&a, &["sh", "-c", &format!("cd {mnt} && exec sleep 600")]);
    let stubborn = lab.spawn(
        &a,
        &[
            "sh",
            "-c",
            &format!("trap '' TERM; cd {mnt} && while :; do sleep 1; done"),
        ],
    );
    let cwd_inside = |pid: u32| {
        fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|p| p == Path::new(mnt))
            .unwrap_or(false)
    };
    let both_inside = testkit::wait_for(Duration::from_secs(5), || {
        (cwd_inside(polite) && cwd_inside(stubborn)).then_some(())
    });
    assert!(both_inside.is_some(), "holders did not enter {mnt}");
    let holders = [polite, stubborn];

    // Without permission to kill, stop fails and leaves everything as is.
    let r = run(
        &lab,
        &a,
        &[("HBD_FS_KILL", "no")],
        "Filesystem",
        &[dev, mnt, "ext4", "stop"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("cannot unmount"), "{r:?}");
    assert_eq!(lab::alive(&holders), holders.to_vec());
    assert_running(&lab, &a, "Filesystem", &[dev, mnt, "ext4"]);

    // The final stop names the mount point through a symlink: umount and
    // fuser must act on the real mount point.
    let alias = lab.dir().join("alias");
    std::os::unix::fs::symlink(mnt, &alias).unwrap();
    let alias = alias.to_str().unwrap();
    let t0 = Instant::now();
    let r = ok(
        &lab,
        &a,
        &[("HBD_FS_KILL_GRACE_MS", "500")],
        "Filesystem",
        &[dev, alias, "ext4", "stop"],
    );
    let took = t0.elapsed();
    assert!(
        r.stderr.contains("sent SIGTERM") && r.stderr.contains("SIGKILL"),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    let dead = testkit::wait_for(Duration::from_secs(3), || {
        lab::alive(&holders).is_empty().then_some(())
    });
    assert!(
        dead.is_some(),
        "holders still alive: {:?}",
        lab::alive(&holders)
    );
    assert_stopped(&lab, &a, "Filesystem", &[dev, mnt, "ext4"]);
    assert!(!a.mounts().contains(&format!(" {mnt} ")), "{}", a.mounts());
}

#[test]
fn filesystem_mounts_an_image_file_through_a_loop_device() {
    if !Needs::new("filesystem_mounts_an_image_file_through_a_loop_device")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let image = lab.ext4_image("image", 16);
    let img = image.to_str().unwrap();
    let mnt = lab.dir().join("img");
    let mnt = mnt.to_str().unwrap();
    ok(&lab, &a, &[], "Filesystem", &[img, mnt, "ext4", "start"]);
    ok(&lab, &a, &[], "Filesystem", &[img, mnt, "ext4", "start"]);
    // The mount table shows /dev/loopN; status matches it to the image.
    assert_running(&lab, &a, "Filesystem", &[img, mnt, "ext4"]);
    let line = a
        .mounts()
        .lines()
        .find(|l| l.contains(&format!(" {mnt} ")))
        .unwrap()
        .to_string();
    assert!(line.starts_with("/dev/loop"), "{line}");
    ok(&lab, &a, &[], "Filesystem", &[img, mnt, "ext4", "stop"]);
    assert_stopped(&lab, &a, "Filesystem", &[img, mnt, "ext4"]);
    // mount -o loop set autoclear: no loop device holds the image any more.
    let freed = testkit::wait_for(Duration::from_secs(3), || {
        lab::lab_leftovers(&lab.id)
            .iter()
            .all(|l| !l.contains("image.img"))
            .then_some(())
    });
    assert!(freed.is_some(), "{:?}", lab::lab_leftovers(&lab.id));
}

#[test]
fn filesystem_refuses_to_mount_what_fsck_cannot_repair() {
    if !Needs::new("filesystem_refuses_to_mount_what_fsck_cannot_repair")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let disk = lab.ext4_loop("broken", 16);
    // Zero the primary superblock (bytes 1024..2048).
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(&disk.image)
        .unwrap();
    use std::io::{Seek, SeekFrom, Write};
    f.seek(SeekFrom::Start(1024)).unwrap();
    f.write_all(&[0u8; 1024]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let dev = disk.dev.to_str().unwrap();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    let r = run(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "start"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("fsck of") && r.stderr.contains("not mounting"),
        "{r:?}"
    );
    assert!(!a.mounts().contains(&format!(" {mnt} ")), "{}", a.mounts());
}

/// A node's mount table without the `/run/netns` entries, which come and go
/// as parallel tests create and delete their namespaces.
fn own_mounts(node: &Node) -> String {
    node.mounts()
        .lines()
        .filter(|l| !l.starts_with("nsfs "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn filesystem_rejects_bad_arguments_and_mounts_nothing() {
    if !Needs::new("filesystem_rejects_bad_arguments_and_mounts_nothing")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let disk = lab.ext4_loop("shared", 16);
    let dev = disk.dev.to_str().unwrap();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    let missing = lab.dir().join("no-such-disk");
    let missing = missing.to_str().unwrap();
    let dotdot = format!("{mnt}/../etc");
    let before = own_mounts(&a);
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &[dev, "data", "ext4", "start"],
            2,
            "mount point \"data\" is not an absolute path",
        ),
        (
            &[dev, "/", "ext4", "start"],
            2,
            "mount point \"/\" cannot be a resource",
        ),
        (
            &[dev, &dotdot, "ext4", "start"],
            2,
            "has . or .. components",
        ),
        (
            &[dev, mnt, "ext4;reboot", "start"],
            2,
            "fstype \"ext4;reboot\"",
        ),
        (
            &[dev, mnt, "ext4", "-oremount", "start"],
            2,
            "options \"-oremount\"",
        ),
        (
            &["sdb1", mnt, "ext4", "start"],
            2,
            "device \"sdb1\" is not an absolute path",
        ),
        (&[dev, mnt, "ext4", "rw", "x", "start"], 2, "usage"),
        (&[dev, "start"], 2, "usage"),
        (&[dev, mnt, "ext4", "mount"], 3, "unknown action \"mount\""),
        (
            &[missing, mnt, "ext4", "start"],
            6,
            "does not exist on this node",
        ),
        (
            &["LABEL=hbd-no-such-label", mnt, "ext4", "start"],
            6,
            "does not exist on this node",
        ),
    ];
    for (args, code, msg) in cases {
        let r = run(&lab, &a, &[], "Filesystem", args);
        assert_eq!(r.code, *code, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains(msg),
            "{args:?}: stderr lacks {msg:?}: {r:?}"
        );
    }
    assert_eq!(own_mounts(&a), before, "a rejected call mounted something");
    assert!(
        !Path::new(mnt).exists(),
        "a rejected call created the mount point"
    );
    // Stop and status of what was never started: success and "stopped".
    ok(&lab, &a, &[], "Filesystem", &[missing, mnt, "ext4", "stop"]);
    assert_stopped(&lab, &a, "Filesystem", &[missing, mnt, "ext4"]);
}

#[test]
fn filesystem_does_not_mount_over_another_filesystem() {
    if !Needs::new("filesystem_does_not_mount_over_another_filesystem")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let disk = lab.ext4_loop("shared", 16);
    let dev = disk.dev.to_str().unwrap();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    fs::create_dir(mnt).unwrap();
    a.must(&["mount", "-t", "tmpfs", "hbdlabtmp", mnt]);
    let r = run(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "start"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("already has hbdlabtmp mounted"), "{r:?}");
    assert_stopped(&lab, &a, "Filesystem", &[dev, mnt, "ext4"]);
    // Stop must not unmount what is not ours.
    ok(&lab, &a, &[], "Filesystem", &[dev, mnt, "ext4", "stop"]);
    assert!(
        a.mounts().contains(&format!("hbdlabtmp {mnt} tmpfs")),
        "{}",
        a.mounts()
    );
}

// ---------------------------------------------------------------- service

fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn service(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(agent("service"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

#[test]
fn service_runs_the_init_script_when_systemd_is_not_running() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    // An LSB script whose daemon keeps stdout open: the agent must not wait
    // for that daemon.
    write_script(
        &tmp.path().join("websvc"),
        r#"#!/bin/sh
PIDF=${0%/*}/websvc.pid
case $1 in
start) sleep 600 & echo $! > "$PIDF"; echo "starting websvc";;
stop) if [ -f "$PIDF" ]; then kill "$(cat "$PIDF")"; rm -f "$PIDF"; fi;;
status) if [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; then echo "websvc is running"; exit 0; fi
        echo "websvc is not running"; exit 3;;
esac
"#,
    );
    let env = [("HBD_SYSTEMD", "no"), ("HBD_INIT_DIR", dir)];
    let status = |want: &str| {
        let r = service(&env, &["websvc", "status"]);
        assert_eq!(r.stdout, want, "{r:?}");
    };
    status("INFO:  Resource is stopped\n");
    let t0 = Instant::now();
    assert_eq!(service(&env, &["websvc", "start"]).code, 0);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "start waited for the daemon"
    );
    let pid = fs::read_to_string(tmp.path().join("websvc.pid")).unwrap();
    assert_eq!(service(&env, &["websvc.service", "start"]).code, 0);
    assert_eq!(
        fs::read_to_string(tmp.path().join("websvc.pid")).unwrap(),
        pid,
        "second start started a second daemon"
    );
    status("INFO:  Running OK\n");
    assert_eq!(service(&env, &["websvc", "stop"]).code, 0);
    assert_eq!(service(&env, &["websvc", "stop"]).code, 0);
    status("INFO:  Resource is stopped\n");
    let pid: u32 = pid.trim().parse().unwrap();
    let dead = testkit::wait_for(Duration::from_secs(3), || {
        lab::alive(&[pid]).is_empty().then_some(())
    });
    assert!(dead.is_some());

    // A service that is not installed: start fails (5), stop and status are
    // "nothing to do" (heartbeat stops every resource, started or not).
    let r = service(&env, &["nosuch", "start"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("no executable"), "{r:?}");
    assert_eq!(service(&env, &["nosuch", "stop"]).code, 0);
    assert_eq!(service(&env, &["nosuch", "status"]).code, 7);

    // A failing start is reported with its exit code and output.
    write_script(
        &tmp.path().join("broken"),
        "#!/bin/sh\n[ \"$1\" = status ] && exit 3\necho \"no config\"; exit 6\n",
    );
    let r = service(&env, &["broken", "start"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("exited with 6: no config"), "{r:?}");
}

#[test]
fn service_uses_systemctl_when_systemd_runs() {
    // systemd cannot run in this container: a stand-in systemctl on PATH
    // records how the agent calls it and keeps the unit state in a file.
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("calls");
    write_script(
        &tmp.path().join("systemctl"),
        &format!(
            r#"#!/bin/sh
echo "$*" >> {log}
state={dir}/state
case "$1 $2 $3 $4" in
"show -p LoadState --value") if [ "$5" = nginx ]; then echo loaded; else echo not-found; fi;;
"start nginx  ") echo active > "$state";;
"stop nginx  ") rm -f "$state";;
"is-active --quiet nginx ") [ -f "$state" ];;
*) exit 5;;
esac
"#,
            log = log.display(),
            dir = tmp.path().display()
        ),
    );
    let path = format!(
        "{}:{}",
        tmp.path().display(),
        std::env::var("PATH").unwrap()
    );
    let env = [("HBD_SYSTEMD", "yes"), ("PATH", path.as_str())];
    assert_eq!(
        service(&env, &["nginx", "status"]).stdout,
        "INFO:  Resource is stopped\n"
    );
    assert_eq!(service(&env, &["nginx", "start"]).code, 0);
    assert_eq!(
        service(&env, &["nginx", "status"]).stdout,
        "INFO:  Running OK\n"
    );
    assert_eq!(service(&env, &["nginx", "stop"]).code, 0);
    assert_eq!(service(&env, &["nginx", "status"]).code, 7);
    assert_eq!(service(&env, &["nosuch", "start"]).code, 5);
    assert_eq!(service(&env, &["nosuch", "stop"]).code, 0);
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("start nginx\n") && calls.contains("stop nginx\n"),
        "{calls}"
    );
    assert!(calls.contains("is-active --quiet nginx\n"), "{calls}");
    assert!(!calls.contains("start nosuch"), "{calls}");
    // HBD_SYSTEMD=auto decides by /run/systemd/system, the sd_booted test.
    let auto = service(
        &[("HBD_SYSTEMD", "auto"), ("PATH", path.as_str())],
        &["nginx", "status"],
    );
    let systemd_runs = Path::new("/run/systemd/system").is_dir();
    let after = fs::read_to_string(&log).unwrap();
    assert_eq!(after.len() > calls.len(), systemd_runs, "{auto:?}");
}

#[test]
fn service_rejects_bad_unit_names() {
    for (unit, msg) in [
        ("-x", "starts with '-'"),
        ("a/b", "is not a unit name"),
        ("a b", "is not a unit name"),
        ("", "missing unit name"),
    ] {
        let r = service(&[("HBD_SYSTEMD", "no")], &[unit, "start"]);
        assert_eq!(r.code, 2, "{unit:?}: {r:?}");
        assert!(r.stderr.contains(msg), "{unit:?}: {r:?}");
    }
    let r = service(&[("HBD_SYSTEMD", "maybe")], &["nginx", "status"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = service(&[], &["nginx", "reload"]);
    assert_eq!(r.code, 3, "{r:?}");
}

/// OCF's rule for stop, which heartbeat calls for every resource of a group:
/// with arguments an agent cannot parse, stop succeeds when nothing of the
/// resource can be running, so a typo never wedges the group in "failed" on
/// both nodes. What the arguments still name (an address, a mount point, a
/// unit) is stopped, since it may have been started under a correct spelling.
#[test]
fn stop_with_malformed_arguments_succeeds_when_nothing_can_be_running() {
    if !Needs::new("stop_with_malformed_arguments_succeeds_when_nothing_can_be_running")
        .lab()
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (lab, a, _, _) = l.parts();
    for name in ["IPaddr", "IPaddr2"] {
        let before = a.addrs();
        for args in [
            &["999.1.1.1", "stop"][..],
            &["127.0.0.1/8/lo", "stop"],
            &["stop"],
            &["192.0.2.60/33/svc0", "stop"],
        ] {
            let r = ok(lab, a, &[], name, args);
            assert_eq!(r.stdout, "INFO:  Success\n", "{name} {args:?}: {r:?}");
            assert!(r.stderr.contains("stop with malformed arguments"), "{r:?}");
        }
        assert_eq!(
            a.addrs(),
            before,
            "{name}: a malformed stop changed something"
        );
        // Taken under a good spelling, released under a typo'd one.
        ok(lab, a, &[], name, &[&format!("{FLOAT}/24/svc0"), "start"]);
        let r = ok(lab, a, &[], name, &[&format!("{FLOAT}/33/svc0"), "stop"]);
        assert!(
            r.stderr
                .contains(&format!("removing {FLOAT} wherever it is configured")),
            "{r:?}"
        );
        assert!(addr_line(a, FLOAT).is_none(), "{}", a.addrs());
        ok(lab, a, &[], name, &[&format!("{FLOAT}/24/svc0"), "start"]);
        ok(lab, a, &[], name, &[FLOAT, "svc0", "stop"]);
        assert!(addr_line(a, FLOAT).is_none(), "{}", a.addrs());
        // Start and status still refuse them.
        assert_eq!(
            run(lab, a, &[], name, &["192.0.2.60/33/svc0", "start"]).code,
            2
        );
        assert_eq!(
            run(lab, a, &[], name, &["192.0.2.60/33/svc0", "status"]).code,
            2
        );
    }

    let disk = lab.ext4_loop("shared", 16);
    let dev = disk.dev.to_str().unwrap();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    let before = own_mounts(a);
    for args in [
        &[dev, "data", "ext4", "stop"][..],
        &[dev, "stop"],
        &["sdb1", "/", "stop"],
    ] {
        let r = ok(lab, a, &[], "Filesystem", args);
        assert!(
            r.stderr.contains("nothing of this resource can be running"),
            "{args:?}: {r:?}"
        );
    }
    assert_eq!(own_mounts(a), before);
    ok(lab, a, &[], "Filesystem", &[dev, mnt, "ext4", "start"]);
    let r = ok(lab, a, &[], "Filesystem", &[dev, mnt, "EXT4", "stop"]);
    assert!(r.stderr.contains("unmounting whatever"), "{r:?}");
    assert_eq!(
        own_mounts(a),
        before,
        "mounted under a good spelling, unmounted under a bad one"
    );
    assert_eq!(
        run(lab, a, &[], "Filesystem", &[dev, mnt, "EXT4", "start"]).code,
        2
    );

    for args in [&["-x", "stop"][..], &["a b", "stop"], &["stop"]] {
        let r = service(&[("HBD_SYSTEMD", "no")], args);
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "INFO:  Success\n"),
            "{args:?}: {r:?}"
        );
    }
    assert_eq!(service(&[("HBD_SYSTEMD", "no")], &["-x", "status"]).code, 2);
}

/// The built-in address (`[hbd] builtin_ipaddr`) follows the agents' rule for
/// a stop with malformed arguments: release the floating address they still
/// name, or succeed with nothing to do; start and status still refuse them.
#[test]
fn builtin_ipaddr_stop_with_malformed_arguments() {
    use hbd::config::Resource;
    use hbd::core::{Action, StepOutcome};
    use hbd::shell::ipaddr;
    if !Needs::new("builtin_ipaddr_stop_with_malformed_arguments")
        .lab()
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (_, a, _, _) = l.parts();
    // A thread of this test enters the node's network namespace.
    let in_node = |f: &(dyn Fn() -> StepOutcome + Sync)| {
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = fs::File::open(format!("/run/netns/{}", a.netns)).unwrap();
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    };
    let res = |args: &[&str]| Resource {
        name: "IPaddr2".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
    };
    let before = a.addrs();
    for args in [&["999.1.1.1"][..], &["127.0.0.1/8/lo"], &[], &["x", "y"]] {
        let o = in_node(&|| ipaddr::run(&res(args), Action::Stop));
        assert_eq!(o, StepOutcome::Ok, "{args:?}");
    }
    assert_eq!(a.addrs(), before);
    let good = format!("{FLOAT}/24/svc0");
    assert_eq!(
        in_node(&|| ipaddr::run(&res(&[&good]), Action::Start)),
        StepOutcome::Ok
    );
    assert!(addr_line(a, FLOAT).is_some());
    let typo = format!("{FLOAT}/33/svc0");
    assert!(matches!(
        in_node(&|| ipaddr::run(&res(&[&typo]), Action::Start)),
        StepOutcome::Failed { code: Some(2), .. }
    ));
    assert!(matches!(
        in_node(&|| ipaddr::run(&res(&[&typo]), Action::Status)),
        StepOutcome::Failed { code: Some(2), .. }
    ));
    assert_eq!(
        in_node(&|| ipaddr::run(&res(&[&typo]), Action::Stop)),
        StepOutcome::Ok
    );
    assert!(addr_line(a, FLOAT).is_none(), "{}", a.addrs());
}

// ---------------------------------------------------------------- the lab itself

#[test]
fn lab_cleans_up_even_when_the_test_panics() {
    if !Needs::new("lab_cleans_up_even_when_the_test_panics")
        .lab()
        .met()
    {
        return;
    }
    let seen: std::sync::Mutex<Option<(String, Vec<u32>)>> = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new();
        let lan = lab.lan("lan");
        let a = lab.node("nodea");
        let b = lab.node("nodeb");
        lab.join(&lan, &a, "svc0");
        lab.link(&a, "hb0", &b, "hb0");
        a.addr("svc0", "192.0.2.1/24");
        let disk = lab.ext4_loop("shared", 16);
        let mnt = lab.dir().join("data");
        ok(
            &lab,
            &a,
            &[],
            "Filesystem",
            &[
                disk.dev.to_str().unwrap(),
                mnt.to_str().unwrap(),
                "ext4",
                "start",
            ],
        );
        ok(
            &lab,
            &a,
            &[("HBD_ARP_COUNT", "500")],
            "IPaddr",
            &[FLOAT, "start"],
        );
        let sleeper = lab.spawn(
            &a,
            &[
                "sh",
                "-c",
                &format!("cd {} && exec sleep 600", mnt.display()),
            ],
        );
        let mut pids = a.pids();
        pids.push(sleeper);
        if Needs::new("lab_cleans_up_even_when_the_test_panics: the serial pair")
            .tool("socat", "socat")
            .met()
        {
            let serial = lab.serial_pair("tty");
            serial.pull();
            pids.push(serial.relay);
        }
        assert_eq!(a.run(&["uname", "-n"]).stdout, b"nodea\n");
        *seen.lock().unwrap() = Some((lab.id.clone(), pids));
        panic!("deliberate failure inside a lab");
    }));
    assert!(result.is_err());
    let (id, pids) = seen.lock().unwrap().take().expect("lab was built");
    assert!(pids.len() >= 3, "{pids:?}");
    let left = lab::lab_leftovers(&id);
    assert!(left.is_empty(), "left behind: {left:?}");
    let living = lab::alive(&pids);
    assert!(living.is_empty(), "processes survived: {living:?}");
}

#[test]
fn lab_serial_pair_carries_bytes_and_can_be_pulled() {
    if !Needs::new("lab_serial_pair_carries_bytes_and_can_be_pulled")
        .lab()
        .tool("socat", "socat")
        .met()
    {
        return;
    }
    use std::io::Write;
    let lab = Lab::new();
    let serial = lab.serial_pair("tty");
    let rx = lab::pty_reader(&serial.b);
    let mut a = fs::OpenOptions::new().write(true).open(&serial.a).unwrap();
    a.write_all(b">>>\nx\n").unwrap();
    assert_eq!(lab::collect(&rx, 6, Duration::from_secs(5)), b">>>\nx\n");

    serial.pull();
    a.write_all(b"<<<").unwrap();
    let crossed = lab::collect(&rx, 3, Duration::from_millis(500));
    assert!(
        crossed.is_empty(),
        "bytes crossed a pulled cable: {crossed:?}"
    );
    serial.plug();
    assert_eq!(lab::collect(&rx, 3, Duration::from_secs(5)), b"<<<");
}

#[test]
fn lab_nodes_have_their_own_files_links_and_logged_processes() {
    if !Needs::new("lab_nodes_have_their_own_files_links_and_logged_processes")
        .lab()
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let b = lab.node("nodeb");
    lab.link(&a, "hb0", &b, "hb0");
    a.addr("hb0", "10.250.0.1/24");
    b.addr("hb0", "10.250.0.2/24");

    // The same path shows each node its own directory.
    let shared = lab.dir().join("etc-ha.d");
    fs::create_dir(&shared).unwrap();
    for node in [&a, &b] {
        let own = lab.dir().join(format!("ha.d-{}", node.name));
        fs::create_dir(&own).unwrap();
        fs::write(own.join("nodename"), &node.name).unwrap();
        node.bind(&own, &shared);
    }
    let path = shared.join("nodename");
    let path = path.to_str().unwrap();
    assert_eq!(a.must(&["cat", path]).stdout, b"nodea");
    assert_eq!(b.must(&["cat", path]).stdout, b"nodeb");
    assert!(
        !Path::new(path).exists(),
        "the host sees its own (empty) directory"
    );

    // A process started with a log writes into it; cutting the link is seen.
    let log = lab.dir().join("a.log");
    let pid = lab.spawn_logged(
        &a,
        &[("HBD_TEST", "1")],
        &["sh", "-c", "echo \"hello $HBD_TEST\"; exec sleep 600"],
        &log,
    );
    let logged = testkit::wait_for(Duration::from_secs(5), || {
        (fs::read_to_string(&log).unwrap_or_default() == "hello 1\n").then_some(())
    });
    assert!(logged.is_some(), "{:?}", fs::read_to_string(&log));
    assert_eq!(lab::alive(&[pid]), vec![pid]);
    let ping = |n: &Node| {
        n.run(&["timeout", "1", "ping", "-c", "1", "10.250.0.2"])
            .status
            .success()
    };
    let test = "lab_nodes_have_their_own_files_links_and_logged_processes";
    if Needs::new(&format!("{test}: links"))
        .tool("ping", "iputils-ping")
        .met()
    {
        assert!(ping(&a), "hb0 does not carry traffic");
        a.set_link("hb0", false);
        assert!(!ping(&a), "hb0 down still carries traffic");
        a.set_link("hb0", true);
        assert!(ping(&a), "hb0 up again does not carry traffic");
        if Needs::new(&format!("{test}: set_loss"))
            .tool("nft", "nftables")
            .met()
        {
            a.set_loss("hb0", 100);
            assert!(!ping(&a), "100% loss still carries traffic");
            a.set_loss("hb0", 0);
            assert!(ping(&a), "loss rule not removed");
        }
    }
}

#[test]
fn filesystem_finds_devices_by_label_and_uuid_and_mounts_them_once() {
    let test = "filesystem_finds_devices_by_label_and_uuid_and_mounts_them_once";
    if !Needs::new(test).lab().tool("blkid", "util-linux").met() {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    let disk = lab.ext4_loop("labelled", 16);
    let dev = disk.dev.to_str().unwrap();
    // ext4 labels hold 16 bytes; pid and counter of the lab id are unique
    // among parallel tests.
    let label = format!("h{}", lab.id.trim_start_matches(lab::LAB_PREFIX));
    assert!(label.len() <= 16, "{label}");
    lab::must(Command::new("e2label").args([dev, &label]));
    let uuid = lab::must(Command::new("blkid").args(["-o", "value", "-s", "UUID", dev]));
    let uuid = String::from_utf8_lossy(&uuid.stdout).trim().to_string();
    let mnt = lab.dir().join("data");
    let mnt = mnt.to_str().unwrap();
    let by_label = format!("LABEL={label}");
    let by_uuid = format!("-U{uuid}");

    ok(
        &lab,
        &a,
        &[],
        "Filesystem",
        &[&by_label, mnt, "ext4", "start"],
    );
    assert!(
        a.mounts().contains(&format!("{dev} {mnt} ext4")),
        "{}",
        a.mounts()
    );
    assert_running(&lab, &a, "Filesystem", &[&by_label, mnt, "ext4"]);
    assert_running(&lab, &a, "Filesystem", &[&by_uuid, mnt]);
    assert_running(&lab, &a, "Filesystem", &[dev, mnt]);
    // The same device a second time elsewhere on this node is refused.
    let other = lab.dir().join("other");
    let other = other.to_str().unwrap();
    let r = run(
        &lab,
        &a,
        &[],
        "Filesystem",
        &[&by_uuid, other, "ext4", "start"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!("already mounted on {mnt}")),
        "{r:?}"
    );
    assert!(
        !a.mounts().contains(&format!(" {other} ")),
        "{}",
        a.mounts()
    );
    ok(
        &lab,
        &a,
        &[],
        "Filesystem",
        &[&by_uuid, mnt, "ext4", "stop"],
    );
    assert_stopped(&lab, &a, "Filesystem", &[&by_label, mnt, "ext4"]);
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/resource.d/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs a group left to right (start) or right to left (stop), as the
/// daemon does, each resource as `(script path, args)`.
fn group(lab: &Lab, node: &Node, resources: &[(String, Vec<String>)], action: &str) {
    let rsctmp = lab.dir().join(format!("rsctmp-{}", node.name));
    let rsctmp = rsctmp.to_str().unwrap();
    let order: Vec<&(String, Vec<String>)> = if action == "stop" {
        resources.iter().rev().collect()
    } else {
        resources.iter().collect()
    };
    for (script, args) in order {
        let mut argv: Vec<&str> = vec![script];
        argv.extend(args.iter().map(String::as_str));
        argv.push(action);
        let out = node.run_env(
            &[("HA_RSCTMP", rsctmp), ("HBD_ARP_INTERVAL_MS", "100")],
            &argv,
        );
        assert!(
            out.status.success(),
            "{}: {argv:?}: {}",
            node.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_group_of_address_filesystem_and_web_service_moves_between_nodes() {
    let test = "a_group_of_address_filesystem_and_web_service_moves_between_nodes";
    if !Needs::new(test)
        .lab()
        .tool("socat", "socat")
        .tool("curl", "curl")
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    let l = LanLab::new();
    let (lab, a, b, client) = l.parts();
    let disk = lab.ext4_loop("shared", 16);
    let dev = disk.dev.to_str().unwrap().to_string();
    let mnt = lab.dir().join("srv");
    let mnt = mnt.to_str().unwrap().to_string();
    // haresources: nodea IPaddr::192.0.2.50/24 Filesystem::DEV::MNT::ext4 hbweb::192.0.2.50::8080::MNT
    let resources = vec![
        (agent("IPaddr"), vec![format!("{FLOAT}/24")]),
        (
            agent("Filesystem"),
            vec![dev.clone(), mnt.clone(), "ext4".into()],
        ),
        (
            fixture("hbweb"),
            vec![FLOAT.into(), "8080".into(), mnt.clone()],
        ),
    ];
    let on = |n: &Node| n.mounts().contains(&format!(" {mnt} "));

    group(lab, a, &resources, "start");
    group(lab, a, &resources, "start");
    a.must(&[
        "sh",
        "-c",
        &format!("echo 'served from the shared disk' > {mnt}/index.html"),
    ]);
    let (by, body) = client
        .http_get(FLOAT, 8080, 2000)
        .expect("no answer from nodea");
    assert_eq!(
        (by.as_str(), body.as_str()),
        ("nodea", "served from the shared disk\n")
    );
    assert!(on(a) && !on(b));

    // Hand over by hand: stop right to left on a, start left to right on b.
    group(lab, a, &resources, "stop");
    assert!(!on(a) && !on(b));
    assert!(
        client.http_get(FLOAT, 8080, 300).is_none(),
        "nobody should answer now"
    );
    group(lab, b, &resources, "start");
    assert!(on(b) && !on(a));
    let answer = testkit::wait_for(Duration::from_secs(3), || {
        client
            .http_get(FLOAT, 8080, 500)
            .filter(|(by, _)| by == "nodeb")
    });
    let (_, body) = answer.expect("no answer from nodeb");
    assert_eq!(body, "served from the shared disk\n");
    assert_eq!(client.neigh(FLOAT).map(|(m, _)| m), Some(b.mac("svc0")));

    group(lab, b, &resources, "stop");
    group(lab, b, &resources, "stop");
    for (script, args) in &resources {
        let mut argv: Vec<&str> = vec![script];
        argv.extend(args.iter().map(String::as_str));
        argv.push("status");
        for n in [a, b] {
            let out = n.run_env(
                &[(
                    "HA_RSCTMP",
                    lab.dir()
                        .join(format!("rsctmp-{}", n.name))
                        .to_str()
                        .unwrap(),
                )],
                &argv,
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "INFO:  Resource is stopped\n",
                "{argv:?} on {}",
                n.name
            );
        }
    }
}

/// During a rolling migration one node runs heartbeat's own resource.d
/// scripts and the other hbd's, and either may have to stop what the other
/// started. Both must agree on what is running and print the same words.
#[test]
fn heartbeat_agents_and_ours_recognise_each_others_resources() {
    let test = "heartbeat_agents_and_ours_recognise_each_others_resources";
    let hb = Path::new("/etc/ha.d/resource.d");
    if !Needs::new(test)
        .lab()
        .file("/etc/ha.d/resource.d/IPaddr", "heartbeat")
        .file(
            "/usr/lib/ocf/resource.d/heartbeat/IPaddr",
            "resource-agents",
        )
        .met()
    {
        return;
    }
    let lab = Lab::new();
    let a = lab.node("nodea");
    a.must(&[
        "ip", "link", "add", "svc0", "type", "veth", "peer", "name", "lan1",
    ]);
    a.set_link("svc0", true);
    a.set_link("lan1", true);
    a.addr("svc0", "192.0.2.1/24");
    // heartbeat's scripts expect the daemon to have created HA_RSCTMP.
    let rsctmp = lab.dir().join("rsctmp-nodea");
    fs::create_dir_all(&rsctmp).unwrap();
    let env = [
        ("HA_RSCTMP", rsctmp.to_str().unwrap()),
        ("HBD_ARP_COUNT", "1"),
    ];
    let call = |script: &str, args: &[&str]| {
        let mut argv = vec![script];
        argv.extend_from_slice(args);
        Run::from(a.run_env(&env, &argv))
    };
    let words = |r: &Run| (r.code, r.stdout.clone());
    let disk = lab.ext4_loop("shared", 16);
    let mnt = lab.dir().join("data");
    let (dev, mnt) = (disk.dev.to_str().unwrap(), mnt.to_str().unwrap());

    let resources: [(&str, Vec<&str>); 3] = [
        ("IPaddr", vec!["192.0.2.50/24/svc0"]),
        ("IPaddr2", vec!["192.0.2.51/24/svc0"]),
        ("Filesystem", vec![dev, mnt, "ext4"]),
    ];
    for (name, args) in &resources {
        let theirs = hb.join(name);
        let theirs = theirs.to_str().unwrap();
        let ours = agent(name);
        let with = |action: &'static str| {
            let mut v = args.clone();
            v.push(action);
            v
        };
        let probe = call(theirs, &with("status"));
        // e.g. heartbeat's Filesystem needs modprobe (Debian kmod).
        if !Needs::new(&format!("{test}: {name}"))
            .that(
                probe.code != 5,
                &format!("heartbeat's {name} says a program is missing (kmod?): {probe:?}"),
            )
            .met()
        {
            continue;
        }
        // Same words when stopped.
        assert_eq!(
            words(&probe),
            words(&call(&ours, &with("status"))),
            "{name}"
        );
        // Theirs starts, ours sees it running, says so in the same words, stops it.
        let r = call(theirs, &with("start"));
        assert_eq!(r.code, 0, "heartbeat's {name} start: {r:?}");
        let (t, o) = (call(theirs, &with("status")), call(&ours, &with("status")));
        assert_eq!(
            words(&t),
            (0, "INFO:  Running OK\n".to_string()),
            "{name}: {t:?}"
        );
        assert_eq!(words(&o), words(&t), "{name}");
        ok(&lab, &a, &env, name, &with("stop"));
        assert_eq!(
            call(theirs, &with("status")).code,
            7,
            "{name}: ours did not stop theirs"
        );
        // Ours starts, theirs sees it running and stops it.
        ok(&lab, &a, &env, name, &with("start"));
        assert_eq!(
            words(&call(theirs, &with("status"))),
            (0, "INFO:  Running OK\n".to_string()),
            "{name}"
        );
        let r = call(theirs, &with("stop"));
        assert_eq!(r.code, 0, "heartbeat's {name} stop: {r:?}");
        assert_stopped(&lab, &a, name, args);
    }
    // heartbeat's IPaddr names its alias exactly as ours does.
    let r = call(
        hb.join("IPaddr").to_str().unwrap(),
        &["192.0.2.52/24/svc0", "start"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(label_of(&addr_line(&a, "192.0.2.52").unwrap()), "svc0:0");
}

#[test]
fn agents_read_knobs_from_hbd_agents_conf() {
    // The file must be root's, so the test needs root to write one.
    if !Needs::new("agents_read_knobs_from_hbd_agents_conf")
        .root("the file must be owned by root")
        .met()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    write_script(
        &tmp.path().join("websvc"),
        "#!/bin/sh\n[ \"$1\" = status ] && echo \"websvc is running\"\nexit 0\n",
    );
    let conf = tmp.path().join("hbd-agents.conf");
    fs::write(
        &conf,
        format!(
            "# knobs for every agent\nHBD_SYSTEMD=no\nHBD_INIT_DIR={dir}\nnot a knob\nHBD_x=1\nHBD_ARP_MODE=a;b\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    let ha_dir = [("HA_DIR", dir)];
    let r = service(&ha_dir, &["websvc", "status"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "INFO:  Running OK\n"),
        "{r:?}"
    );
    // Bad lines are named by file:line and ignored.
    for line in [4, 5, 6] {
        assert!(
            r.stderr
                .contains(&format!("hbd-agents.conf:{line}: ignored")),
            "{r:?}"
        );
    }
    assert!(r.stderr.contains("\"a;b\""), "{r:?}");
    // The environment wins over the file.
    let r = service(
        &[("HA_DIR", dir), ("HBD_INIT_DIR", "/nonexistent")],
        &["websvc", "status"],
    );
    assert_eq!(r.code, 7, "{r:?}");
    // A file others may write is refused, and nothing runs.
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o664)).unwrap();
    let r = service(&ha_dir, &["websvc", "status"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("refused: must be owned by root"), "{r:?}");
    assert_eq!(r.stdout, "");
}

#[test]
fn agents_work_with_an_empty_environment() {
    let test = "agents_work_with_an_empty_environment";
    if !Needs::new(test)
        .lab()
        .tool("arping", "iputils-arping")
        .met()
    {
        return;
    }
    // The daemon scrubs the environment: no PATH (ip, mount, losetup live in
    // sbin), no HA_RSCTMP, no locale.
    let l = LanLab::new();
    let (lab, a, _, _) = l.parts();
    let disk = lab.ext4_loop("shared", 16);
    let mnt = lab.dir().join("data");
    let (dev, mnt) = (disk.dev.to_str().unwrap(), mnt.to_str().unwrap());
    // The default state directory is /run/hbd/rsctmp: give the node its own
    // /run so that the host's stays untouched.
    let run_a = lab.dir().join("run-nodea");
    fs::create_dir(&run_a).unwrap();
    a.bind(&run_a, Path::new("/run"));
    let bare = |args: &[&str]| {
        let mut cmd = a.command(args);
        cmd.env_clear();
        Run::from(cmd.output().unwrap())
    };
    let ipaddr = agent("IPaddr");
    let filesystem = agent("Filesystem");
    for action in ["start", "status", "stop", "status"] {
        let r = bare(&[&ipaddr, FLOAT, action]);
        assert!(
            r.code == 0 || (action == "status" && r.code == 7),
            "IPaddr {action}: {r:?}"
        );
        let r = bare(&[&filesystem, dev, mnt, "ext4", action]);
        assert!(
            r.code == 0 || (action == "status" && r.code == 7),
            "Filesystem {action}: {r:?}"
        );
    }
    assert!(addr_line(a, FLOAT).is_none());
    assert!(!a.mounts().contains(&format!(" {mnt} ")));
    assert!(
        run_a.join("hbd/rsctmp").is_dir(),
        "default state directory not used"
    );
}
