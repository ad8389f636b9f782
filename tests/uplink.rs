//! Uplink tie-breaking with real daemons in network namespaces (root; skips
//! otherwise): alpha and beta share a heartbeat cable (10.250.0.0/24) and
//! each has an uplink to a LAN where a "router" answers 198.51.100.1, the
//! ping node. Cutting alpha's uplink moves the group to beta, while the two
//! still hear each other; restoring it changes nothing (equal counts).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use testkit::nspair::{Dir, NsPair, Opts, Serial, HB_ADDRS};
use testkit::skip::Needs;

const MARK: &str = r#"#!/bin/sh
# A resource that records where it runs: DIR/<node>.<name> exists while started.
f="$1/$(cat /proc/sys/kernel/hostname).$2"
case "$3" in
start) : > "$f" ;;
stop) rm -f "$f" ;;
status) if [ -e "$f" ]; then echo running; else echo stopped; fi ;;
*) exit 2 ;;
esac
"#;

/// Node `i`'s ha.d: ucast to the peer on the heartbeat cable, the ping node
/// on the uplink, and the `mark` group homed on alpha.
fn write_node(ns: &NsPair, i: usize, marks: &Path) {
    let ha = ns.host(i, Dir::Etc);
    std::fs::write(
        ha.join("ha.cf"),
        format!(
            "keepalive 200ms\ndeadtime 2\nwarntime 1\ninitdead 4\ndeadping 1\n\
             udpport 694\nauto_failback on\nrealtime off\n\
             ucast hb0 {peer}\nping 198.51.100.1\nnode alpha beta\n",
            peer = HB_ADDRS[1 - i]
        ),
    )
    .unwrap();
    std::fs::write(
        ha.join("haresources"),
        format!("alpha mark::{}::svc\n", marks.display()),
    )
    .unwrap();
    std::fs::write(ha.join("authkeys"), "auth 1\n1 sha1 uplink-lab\n").unwrap();
    std::fs::set_permissions(ha.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let script = ha.join("resource.d/mark");
    std::fs::write(&script, MARK).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start(ns: &mut NsPair, i: usize) {
    let mut cmd = ns.hbd_command(i, &ns.on_node(Dir::Etc));
    cmd.args(["--node", ns.names[i]]);
    ns.start(i, cmd);
}

fn holders(marks: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(marks)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn uplink_loss_moves_the_group_to_the_node_that_reaches_the_ping_node() {
    if !Needs::new("uplink_loss_moves_the_group_to_the_node_that_reaches_the_ping_node")
        .lab()
        .met()
    {
        return;
    }
    let _serial = testkit::one_at_a_time();
    let opts = Opts {
        names: ["alpha", "beta"],
        serial: Serial::None,
        client: false,
        ..Opts::default()
    };
    let mut ns = NsPair::new(opts, &testkit::hbd_exe!());
    let router = ns.lab().node("router");
    let up = ns.lab().lan("uplan");
    ns.lab().join(&up, &router, "eth0");
    router.addr("eth0", "198.51.100.1/24");
    for (i, n) in ns.nodes.iter().enumerate() {
        ns.lab().join(&up, n, "up0");
        n.addr("up0", &format!("198.51.100.{}/24", 11 + i));
    }
    let marks = ns.lab().dir().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    for i in 0..2 {
        write_node(&ns, i, &marks);
    }
    let dump = |ns: &NsPair, what: &str| -> ! {
        for i in 0..2 {
            eprintln!("--- {} ---\n{}", ns.names[i], ns.log(i));
        }
        panic!("{what}; marks {:?}", holders(&marks));
    };
    start(&mut ns, 0);
    start(&mut ns, 1);
    let on = |n: &str| vec![format!("{n}.svc")];
    // Both start together: the startup negotiation (10 s deadlock breaker at worst).
    if testkit::wait_for(Duration::from_secs(25), || {
        (holders(&marks) == on("alpha")).then_some(())
    })
    .is_none()
    {
        dump(&ns, "the group did not start on alpha");
    }
    // Let both see the ping node and tell each other (deadping 1 s).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(holders(&marks), on("alpha"), "equal counts move nothing");
    ns.nodes[0].set_link("up0", false);
    // deadping 1 s + 2 × keepalive + the standby exchange + two scripts.
    if testkit::wait_for(Duration::from_secs(10), || {
        (holders(&marks) == on("beta")).then_some(())
    })
    .is_none()
    {
        dump(&ns, "the group did not move to beta");
    }
    let log = ns.log(0);
    assert!(
        log.contains("ping node 198.51.100.1 unreachable"),
        "alpha logs the lost ping node"
    );
    // The heartbeat cable was never cut: beta never declared alpha dead.
    let blog = ns.log(1);
    assert!(!blog.contains("node alpha: is dead"), "{blog}");
    // The uplink returns: 1 = 1, the group stays on beta.
    ns.nodes[0].set_link("up0", true);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(holders(&marks), on("beta"));
}
