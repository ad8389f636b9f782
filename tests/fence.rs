//! Fencing with real processes: two `hbd run` on loopback, beta with a
//! `fence_hook` that fails once and then succeeds. After kill -9 of alpha,
//! beta runs the hook with alpha's name, retries 5 s later, and only then
//! starts the service. No root needed.

mod common;

use common::cluster::{self as dc, Cluster, Daemon, Spec};
use common::{hbd_exe, one_at_a_time};
use hbd::core::NodeState;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

struct Pair {
    d: [Option<Daemon>; 2],
    c: Cluster,
    _dir: tempfile::TempDir,
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..2 {
                eprintln!(
                    "--- {} log tail ---\n{}",
                    dc::NAMES[i],
                    self.c.log_tail(i, 40)
                );
            }
        }
    }
}

fn wait_status(
    c: &Cluster,
    i: usize,
    limit: Duration,
    what: &str,
    pred: impl Fn(&hbd::control::StatusReport) -> bool,
) {
    let ok = dc::wait_for(limit, Duration::from_millis(20), || {
        let r = c.status(i).ok()?;
        pred(&r).then_some(())
    });
    assert!(
        ok.is_some(),
        "{}: not {what} within {limit:?}; last {:?}",
        dc::NAMES[i],
        c.status(i)
    );
}

#[test]
fn fence_hook_runs_before_takeover_and_a_failure_is_retried() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::create(dir.path(), Spec::default(), &hbd_exe()).unwrap();
    let rec = dir.path().join("fenced");
    let hook = dir.path().join("fence-peer");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n\
             # Records its argument and environment; fails the first time.\n\
             echo \"$1|$HBD_NODE|$HBD_REASON\" >> {rec}\n\
             [ -e {rec}.once ] && exit 0\n\
             touch {rec}.once\n\
             echo 'power switch busy' >&2\n\
             exit 3\n",
            rec = rec.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Only beta fences: alpha starts alone and would fence beta otherwise.
    let cfg = c.config_text(1) + &format!("fence_hook = \"{}\"\n", hook.display());
    std::fs::write(&c.nodes[1].config, cfg).unwrap();
    let key = c.service_key();
    let mut p = Pair {
        d: [None, None],
        c,
        _dir: dir,
    };
    p.d[0] = Some(p.c.start(0).unwrap());
    let limit = Duration::from_millis(p.c.spec.initdead_ms) + Duration::from_secs(8);
    wait_status(&p.c, 0, limit, "running the service alone", |r| {
        dc::running_on(r, &key).as_deref() == Some("alpha")
    });
    p.d[1] = Some(p.c.start(1).unwrap());
    wait_status(&p.c, 1, Duration::from_secs(8), "active", dc::both_active);
    // Past beta's startup dt boost, so deadtime alone decides.
    std::thread::sleep(Duration::from_millis(
        dc::DT_BOOST_FOR_MS + 2 * p.c.spec.keepalive_ms,
    ));
    assert!(!rec.exists(), "no fence while alpha lives");

    let killed = Instant::now();
    p.d[0].as_mut().unwrap().kill9();
    wait_status(&p.c, 1, Duration::from_secs(5), "seeing alpha dead", |r| {
        r.peer.state == NodeState::Dead
    });
    // The first fence fails: beta must not run the service for the next ~5 s.
    let first = dc::wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        std::fs::read_to_string(&rec).ok().filter(|s| !s.is_empty())
    })
    .expect("the hook ran");
    assert_eq!(first, "alpha|alpha|declared dead\n");
    let fenced_once = Instant::now();
    let early = dc::wait_for(Duration::from_secs(4), Duration::from_millis(50), || {
        p.c.probe_service()
    });
    assert_eq!(early, None, "service taken over before a successful fence");
    p.c.status(1)
        .map(|r| assert_ne!(dc::running_on(&r, &key).as_deref(), Some("beta")))
        .unwrap();
    // The retry succeeds and the takeover follows.
    let served = dc::wait_for(Duration::from_secs(6), Duration::from_millis(20), || {
        (p.c.probe_service().as_deref() == Some("beta")).then_some(())
    });
    assert!(served.is_some(), "beta never served after the retry");
    assert!(
        fenced_once.elapsed() >= Duration::from_millis(4500),
        "takeover {:?} after the failed fence, expected the 5 s retry",
        fenced_once.elapsed()
    );
    eprintln!(
        "kill -9 to service on beta with one failed fence: {:?}",
        killed.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(&rec).unwrap(),
        "alpha|alpha|declared dead\nalpha|alpha|retry 2\n"
    );
    let log = p.c.log_text(1);
    let failed = log
        .find("fencing alpha failed (attempt 1)")
        .expect("failure logged");
    assert!(
        log.contains("exit code 3; output: power switch busy"),
        "the hook's exit code and output are reported"
    );
    let ok = log
        .find("alpha fenced: taking over")
        .expect("success logged");
    let start = log[ok..].find(" start").map(|i| i + ok);
    assert!(start.is_some(), "service start after the fence in the log");
    assert!(failed < ok);
}
