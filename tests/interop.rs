//! Interop with the real heartbeat 3.0.6 (Debian package `heartbeat`): a
//! heartbeat–heartbeat pair proves the lab and gives the baseline; mixed pairs
//! (one node heartbeat, the other hbd) over ucast, serial alone and both prove
//! the rolling migration of MIGRATING.md. Root only; each test skips with a
//! printed reason otherwise. Tests run one at a time (timings on 2 cores).

mod common;

use common::hblab::{skip_hblab, Impl, Pair, Setup, A, B};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// The hbd under test: this build, or `HBD_INTEROP_BIN` (e.g. a release build
/// to be shipped).
fn hbd_exe() -> PathBuf {
    std::env::var_os("HBD_INTEROP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hbd")))
}

/// Whether the mixed-pair tests cannot run: the lab cannot, or this hbd has
/// no daemon yet (`hbd run` without its documented options).
fn skip_mixed(test: &str) -> bool {
    if skip_hblab(test) {
        return true;
    }
    let out = std::process::Command::new(hbd_exe())
        .args(["run", "--help"])
        .output();
    let help = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !help.contains("--state-dir") || !help.contains("--run-dir") {
        eprintln!(
            "skipped: {test}: {} has no `hbd run --state-dir --run-dir` yet",
            hbd_exe().display()
        );
        return true;
    }
    false
}

/// Both nodes started together: heartbeat needs its 10 s RQSTDELAY (spec
/// §6.5) on top of the handshake, so allow 30 s.
const STARTUP: Duration = Duration::from_secs(30);

#[test]
fn heartbeat_pair_baseline_startup_and_kill9_takeover() {
    if skip_hblab("heartbeat_pair_baseline_startup_and_kill9_takeover") {
        return;
    }
    let _g = serial();
    let setup = Setup {
        ucast: true,
        serial: true,
        ..Setup::default()
    };
    let mut p = Pair::new(setup, [Impl::Heartbeat, Impl::Heartbeat], &hbd_exe());
    p.start(A);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("groups per haresources", STARTUP, A, &["ga"], &["gb"]);
    for i in [A, B] {
        let v = p.view(i).unwrap();
        assert_eq!(v.rsc_hold, "local", "{} holds {v:?}", p.name(i));
        for link in ["hb0", "/run/ttyHB0"] {
            let (code, st) = p.cl_status(i, &["hblinkstatus", p.name(1 - i), link]);
            assert_eq!((code, st.as_str()), (0, "up"), "{} link {link}", p.name(i));
        }
    }
    p.crash(B);
    let took = p.wait_groups(
        "nodea takes gb after kill -9 of nodeb",
        Duration::from_secs(15),
        A,
        &["ga", "gb"],
        &[],
    );
    eprintln!("heartbeat took over in {took:?} (deadtime 2 s)");
    assert_eq!(p.view(A).unwrap().peer, "dead");
    p.assert_no_overlap();
}

/// Deadtime 2 s plus heartbeat's 250 ms scan, script time and slack for a
/// loaded 2-core machine.
const TAKEOVER: Duration = Duration::from_secs(12);

/// A mixed pair comes up: each reports the other active, groups land per
/// haresources; then each side is killed in turn and the other takes over.
fn mixed_startup_and_kill9(setup: Setup, test: &str) {
    if skip_mixed(test) {
        return;
    }
    let _g = serial();
    let mut p = Pair::new(setup, [Impl::Heartbeat, Impl::Hbd], &hbd_exe());
    p.start(A);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("groups per haresources", STARTUP, A, &["ga"], &["gb"]);
    assert_eq!(p.view(A).unwrap().rsc_hold, "local");
    p.wait("hbd holds its local group", STARTUP, |p| {
        p.view(B).map(|v| v.rsc_hold == "local").unwrap_or(false)
    });

    // kill -9 heartbeat: hbd takes nodea's group.
    p.crash(A);
    let took = p.wait_groups(
        "hbd takes ga after kill -9 of heartbeat",
        TAKEOVER,
        B,
        &["ga", "gb"],
        &[],
    );
    eprintln!("{test}: hbd took over from heartbeat in {took:?}");
    assert_eq!(p.view(B).unwrap().peer, "dead");

    // heartbeat comes back; auto_failback on: ga goes home.
    p.start(A);
    p.wait_groups("ga fails back to nodea", STARTUP, A, &["ga"], &["gb"]);
    p.wait_both_see_active(STARTUP);

    // kill -9 hbd: heartbeat takes nodeb's group.
    p.crash(B);
    let took = p.wait_groups(
        "heartbeat takes gb after kill -9 of hbd",
        TAKEOVER,
        A,
        &["ga", "gb"],
        &[],
    );
    eprintln!("{test}: heartbeat took over from hbd in {took:?}");
    p.assert_no_overlap();
}

#[test]
fn mixed_ucast_startup_and_kill9_both_ways() {
    mixed_startup_and_kill9(Setup::default(), "mixed_ucast_startup_and_kill9_both_ways");
}
