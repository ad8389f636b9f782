//! Operations without outages with two real `hbd run` daemons on loopback
//! (testkit::loopback, no root): maintenance mode over a dead service, a
//! planned restart (`hbd restart`, an exec in place) and a kill -9 of hbd
//! followed by a quick restart. The group's one resource is `marker`, a
//! script whose "service" is a file in the node's directory, so it outlives
//! hbd as a real service outlives its cluster manager (the demo's service
//! dies with hbd, as if the machine had); every start and stop is appended
//! to the node's journal, which the tests read to say nothing moved.

use hbd::control::Maintenance;
use hbd::core::GroupState;
use hbd::demo::cluster::{self as dc, Spec, NAMES};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;
use testkit::loopback::Pair;
use testkit::{hbd_exe, one_at_a_time};

fn hbd(args: &[&str]) -> Output {
    Command::new(hbd_exe!()).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The marker "service" of node `i` (present: running).
fn up_file(p: &Pair, i: usize) -> PathBuf {
    p.c.nodes[i].dir.join("marker.up")
}

/// Node `i`'s starts and stops of the marker, one word a line.
fn journal(p: &Pair, i: usize) -> String {
    fs::read_to_string(p.c.nodes[i].dir.join("marker.journal")).unwrap_or_default()
}

/// A pair whose group is `marker` at home on alpha (with `monitor`, a
/// `[[group.monitor]]` body, when given), brought up: alpha runs it, beta
/// joined.
fn marker_pair(spec: Spec, monitor: Option<&str>) -> Pair {
    let mut p = Pair::new(spec, false, &hbd_exe!());
    let key = p.c.service_key();
    for i in 0..2 {
        let dir = p.c.nodes[i].dir.clone();
        let script = dir.join("resource.d/marker");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 # tests/ops.rs: a service that is a file, outliving hbd.\n\
                 for a in \"$@\"; do action=$a; done\n\
                 D={d}\n\
                 case \"$action\" in\n\
                 start) echo start >> $D/marker.journal; touch $D/marker.up ;;\n\
                 stop) echo stop >> $D/marker.journal; rm -f $D/marker.up ;;\n\
                 status|monitor) if [ -e $D/marker.up ]; then echo running; else echo stopped; fi ;;\n\
                 esac\n\
                 exit 0\n",
                d = dir.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let monitor = monitor.map_or(String::new(), |m| {
            format!("\n[[group.monitor]]\nresource = \"marker\"\n{m}")
        });
        p.edit_config(i, |t| {
            let old = format!("resources = [\"{key}\"]");
            assert!(t.contains(&old), "{t}");
            t.replace(&old, &format!("resources = [\"marker\"]{monitor}"))
        });
    }
    p.start(0);
    let limit = Duration::from_millis(p.c.spec.initdead_ms) + Duration::from_secs(8);
    p.wait_status(0, limit, "running the marker alone", |r| {
        dc::running_on(r, "marker").as_deref() == Some("alpha")
    });
    p.start(1);
    for i in 0..2 {
        p.wait_status(i, Duration::from_secs(8), "active with its peer", |r| {
            dc::both_active(r) && dc::running_on(r, "marker").as_deref() == Some("alpha")
        });
    }
    assert!(up_file(&p, 0).exists());
    assert_eq!(journal(&p, 0), "start\n");
    p
}

/// The acceptance: maintenance on, the service dies, nothing
/// happens (no monitor restart, no move); maintenance off, the monitor
/// notices and restarts it. The peer is told both ways.
#[test]
fn maintenance_leaves_a_dead_service_alone_and_off_recovers_it() {
    let _g = one_at_a_time();
    let p = marker_pair(
        Spec::default(),
        Some("check = \"status\"\ninterval = \"300ms\"\ntimeout = \"2s\"\non_fail = \"restart\"\n"),
    );
    let a = p.run_dir(0);
    let out = hbd(&["maintenance", "on", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("maintenance mode on"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(p.status(0).maintenance, Maintenance::On);
    p.wait_status(
        1,
        Duration::from_secs(3),
        "told of alpha's maintenance",
        |r| r.peer_maintenance,
    );
    let human = text(&hbd(&["status", "--run-dir", &a]).stdout);
    assert!(human.contains("MAINTENANCE MODE"), "{human}");
    assert_eq!(p.status(0).groups[0].state, GroupState::Running);

    fs::remove_file(up_file(&p, 0)).unwrap();
    // Ten monitor intervals: a monitor would have restarted it by now.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!up_file(&p, 0).exists(), "restarted in maintenance");
    assert_eq!(journal(&p, 0), "start\n", "nothing started or stopped here");
    assert_eq!(journal(&p, 1), "", "nothing moved to beta");
    assert!(p.c.log_text(0).contains("maintenance mode on"));

    let out = hbd(&["maintenance", "off", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let recovered = dc::wait_for(Duration::from_secs(5), Duration::from_millis(50), || {
        up_file(&p, 0).exists().then_some(())
    });
    assert!(
        recovered.is_some(),
        "not recovered: {}",
        p.c.log_tail(0, 30)
    );
    assert!(journal(&p, 0).ends_with("start\n"), "{}", journal(&p, 0));
    assert_eq!(journal(&p, 1), "");
    p.wait_status(1, Duration::from_secs(3), "told maintenance ended", |r| {
        !r.peer_maintenance
    });
    assert_eq!(p.status(0).maintenance, Maintenance::Off);
}

/// `hbd restart`: the same pid, a new generation, the marker never stopped
/// or started on either node, and the peer waited (the restart announced).
/// Persistent maintenance survives it; `off` removes the record.
#[test]
fn restart_in_place_moves_nothing_and_keeps_persistent_maintenance() {
    let _g = one_at_a_time();
    let mut p = marker_pair(Spec::default(), None);
    p.wait_past_dt_boost(0);
    let a = p.run_dir(0);
    let pid = p.pid(0);
    let gen = p.status(0).local.generation;
    let out = hbd(&["restart", "--run-dir", &a, "--wait", "10"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("restarting in place"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(p.pid(0), pid);
    assert!(p.daemon(0).running(), "exec in place keeps the process");
    p.wait_status(0, Duration::from_secs(8), "back and active", |r| {
        dc::both_active(r) && r.local.generation != gen
    });
    p.wait_status(1, Duration::from_secs(8), "seeing alpha back", |r| {
        dc::both_active(r) && dc::running_on(r, "marker").as_deref() == Some("alpha")
    });
    assert!(up_file(&p, 0).exists());
    assert_eq!(journal(&p, 0), "start\n", "no stop or start on alpha");
    assert_eq!(journal(&p, 1), "", "nothing on beta");
    assert!(
        p.c.log_text(1).contains("alpha restarts (planned)"),
        "{}",
        p.c.log_tail(1, 30)
    );
    assert!(!p.c.log_text(1).contains("node alpha: is dead"));

    let out = hbd(&["maintenance", "on", "--persistent", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let record = p.c.nodes[0].state_dir.join("maintenance");
    assert_eq!(fs::read_to_string(&record).unwrap(), "on\n");
    let gen = p.status(0).local.generation;
    let out = hbd(&["restart", "--run-dir", &a, "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    p.wait_status(0, Duration::from_secs(8), "back in maintenance", |r| {
        r.local.generation != gen && r.maintenance == Maintenance::Persistent
    });
    p.wait_status(1, Duration::from_secs(3), "told of it", |r| {
        r.peer_maintenance
    });
    assert_eq!(journal(&p, 0), "start\n");
    let out = hbd(&["maintenance", "off", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!record.exists(), "off removes the record");
    assert_eq!(p.status(0).maintenance, Maintenance::Off);
    assert_eq!(journal(&p, 0), "start\n");
    assert_eq!(journal(&p, 1), "");
}

/// kill -9 of hbd alone (the marker goes on), started again before beta's
/// dead time: beta never declares alpha dead, alpha's new process finds the
/// marker running and keeps it, nothing is stopped or started anywhere.
#[test]
fn kill9_of_hbd_and_a_quick_restart_move_nothing() {
    let _g = one_at_a_time();
    let spec = Spec {
        deadtime_ms: 3000,
        warntime_ms: 1500,
        initdead_ms: 6000,
        ..Spec::default()
    };
    let mut p = marker_pair(spec, None);
    p.wait_past_dt_boost(0);
    p.daemon(0).kill9();
    p.start(0);
    p.wait_status(0, Duration::from_secs(8), "back and active", |r| {
        dc::both_active(r)
            && dc::running_on(r, "marker").as_deref() == Some("alpha")
            && r.recent.iter().any(|t| t.text == "marker adopted")
    });
    p.wait_status(1, Duration::from_secs(3), "seeing alpha hold it", |r| {
        dc::both_active(r) && dc::running_on(r, "marker").as_deref() == Some("alpha")
    });
    assert!(up_file(&p, 0).exists());
    assert_eq!(journal(&p, 0), "start\n", "no stop or start on alpha");
    assert_eq!(journal(&p, 1), "", "nothing on beta");
    let beta = p.c.log_text(1);
    assert!(!beta.contains("node alpha: is dead"), "{beta}");
    assert!(
        beta.contains(&format!("Heartbeat restart on node {}", NAMES[0])),
        "{beta}"
    );
}
