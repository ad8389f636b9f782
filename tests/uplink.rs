//! Uplink tie-breaking with real daemons in network namespaces (root; skips
//! otherwise): alpha and beta share a heartbeat cable (10.250.0.0/24) and
//! each has an uplink to a LAN where a "router" answers 198.51.100.1, the
//! ping node. Cutting alpha's uplink moves the group to beta, while the two
//! still hear each other; restoring it changes nothing (equal counts).

mod common;

use common::lab::{self, Lab, Node};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

fn write_node(dir: &Path, me: &str, peer_addr: &str, marks: &Path) -> PathBuf {
    let ha = dir.join(me);
    std::fs::create_dir_all(ha.join("resource.d")).unwrap();
    std::fs::write(
        ha.join("ha.cf"),
        format!(
            "keepalive 200ms\ndeadtime 2\nwarntime 1\ninitdead 4\ndeadping 1\n\
             udpport 694\nauto_failback on\nrealtime off\n\
             ucast hb0 {peer_addr}\nping 198.51.100.1\nnode alpha beta\n"
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
    std::fs::create_dir_all(ha.join("state")).unwrap();
    std::fs::create_dir_all(ha.join("run")).unwrap();
    ha
}

fn start(lab: &Lab, node: &Node, ha: &Path) -> u32 {
    let exe = env!("CARGO_BIN_EXE_hbd");
    let args: Vec<String> = vec![
        exe.into(),
        "run".into(),
        "-c".into(),
        ha.display().to_string(),
        "--node".into(),
        node.name.clone(),
        "--state-dir".into(),
        ha.join("state").display().to_string(),
        "--run-dir".into(),
        ha.join("run").display().to_string(),
    ];
    lab.spawn_logged(node, &[], &args, &ha.join("hbd.log"))
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
    if lab::skip_lab("uplink_loss_moves_the_group") {
        return;
    }
    let _serial = common::one_at_a_time();
    let lab = Lab::new();
    let alpha = lab.node("alpha");
    let beta = lab.node("beta");
    let router = lab.node("router");
    lab.link(&alpha, "hb0", &beta, "hb0");
    alpha.addr("hb0", "10.250.0.1/24");
    beta.addr("hb0", "10.250.0.2/24");
    let up = lab.lan("uplan");
    lab.join(&up, &router, "eth0");
    lab.join(&up, &alpha, "up0");
    lab.join(&up, &beta, "up0");
    router.addr("eth0", "198.51.100.1/24");
    alpha.addr("up0", "198.51.100.11/24");
    beta.addr("up0", "198.51.100.12/24");
    let marks = lab.dir().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let ha_a = write_node(lab.dir(), "alpha", "10.250.0.2", &marks);
    let ha_b = write_node(lab.dir(), "beta", "10.250.0.1", &marks);
    let dump = |what: &str| {
        for ha in [&ha_a, &ha_b] {
            eprintln!(
                "--- {} ---\n{}",
                ha.display(),
                std::fs::read_to_string(ha.join("hbd.log")).unwrap_or_default()
            );
        }
        panic!("{what}; marks {:?}", holders(&marks));
    };
    start(&lab, &alpha, &ha_a);
    start(&lab, &beta, &ha_b);
    let on = |n: &str| vec![format!("{n}.svc")];
    // Both start together: the startup negotiation (10 s deadlock breaker at worst).
    if lab::wait_for(Duration::from_secs(25), || {
        (holders(&marks) == on("alpha")).then_some(())
    })
    .is_none()
    {
        dump("the group did not start on alpha");
    }
    // Let both see the ping node and tell each other (deadping 1 s).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(holders(&marks), on("alpha"), "equal counts move nothing");
    alpha.set_link("up0", false);
    // deadping 1 s + 2 × keepalive + the standby exchange + two scripts.
    if lab::wait_for(Duration::from_secs(10), || {
        (holders(&marks) == on("beta")).then_some(())
    })
    .is_none()
    {
        dump("the group did not move to beta");
    }
    let log = std::fs::read_to_string(ha_a.join("hbd.log")).unwrap();
    assert!(
        log.contains("ping node 198.51.100.1 unreachable"),
        "alpha logs the lost ping node"
    );
    // The heartbeat cable was never cut: beta never declared alpha dead.
    let blog = std::fs::read_to_string(ha_b.join("hbd.log")).unwrap();
    assert!(!blog.contains("node alpha: is dead"), "{blog}");
    // The uplink returns: 1 = 1, the group stays on beta.
    alpha.set_link("up0", true);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(holders(&marks), on("beta"));
}
