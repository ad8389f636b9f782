//! Fencing with real processes: two `hbd run` on loopback, beta with a
//! `fence_hook` that fails once and then succeeds. After kill -9 of alpha,
//! beta runs the hook with alpha's name, retries 5 s later, and only then
//! starts the service. No root needed.

use hbd::core::NodeState;
use hbd::demo::cluster::{self as dc, Spec};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use testkit::loopback::Pair;
use testkit::{hbd_exe, one_at_a_time};

#[test]
fn fence_hook_runs_before_takeover_and_a_failure_is_retried() {
    let _serial = one_at_a_time();
    let mut p = Pair::new(Spec::default(), false, &hbd_exe!());
    let rec = p.dir().join("fenced");
    let hook = p.dir().join("fence-peer");
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
    p.edit_config(1, |t| t + &format!("fence_hook = \"{}\"\n", hook.display()));
    let key = p.c.service_key();
    p.bring_up();
    // Past beta's startup dt boost, so deadtime alone decides.
    p.wait_past_dt_boost(1);
    assert!(!rec.exists(), "no fence while alpha lives");

    let killed = Instant::now();
    p.daemon(0).kill9();
    p.wait_status(1, Duration::from_secs(5), "seeing alpha dead", |r| {
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
