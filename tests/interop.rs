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

fn hbd_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hbd"))
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
