//! `hbd run` against the real heartbeat 3.0.6 on the interop lab's pair
//! (testkit::hblab): over the serial cable alone and over UDP alone. Both
//! sides see the link up and each other active; heartbeat sees hbd's restart
//! (new generation) and graceful shutdown, hbd sees heartbeat's. Needs root,
//! heartbeat and socat; skips with the reason otherwise (fails under
//! HBD_REQUIRE_LAB=1).

use hbd::core::NodeState;
use std::fs;
use std::time::Duration;
use testkit::hblab::{self, Impl, Pair, Setup, A, B};
use testkit::nspair::Dir;

/// One ha.cf for both: heartbeat on nodea, hbd on nodeb, no resources.
fn setup(ucast: bool, serial: bool) -> Setup {
    Setup {
        keepalive: "1",
        deadtime: "6",
        warntime: "3",
        initdead: "12",
        ucast,
        serial,
        haresources: String::new(),
        extra: "realtime off\n".into(),
        ..Setup::default()
    }
}

fn ha_log(p: &Pair) -> String {
    fs::read_to_string(p.ns.host(A, Dir::Log).join("ha-log")).unwrap_or_default()
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    hbd::demo::wait_for(limit, Duration::from_millis(100), || f().then_some(())).is_some()
}

/// Both sides see each other active over the link heartbeat calls `hb_link`,
/// then each hears the other's restart and graceful shutdown.
fn converse(ucast: bool, serial: bool, hb_link: &str) {
    let mut p = Pair::new(
        setup(ucast, serial),
        [Impl::Heartbeat, Impl::Hbd],
        &testkit::hbd_exe!(),
    );
    p.start(A);
    assert!(
        wait_for(Duration::from_secs(10), || ha_log(&p)
            .contains("Local status now set to: 'up'")),
        "heartbeat did not start:\n{}",
        ha_log(&p)
    );
    p.start(B);
    assert!(
        wait_for(Duration::from_secs(20), || {
            let l = ha_log(&p);
            l.contains(&format!("Link nodeb:{hb_link} up."))
                && l.contains("Status update for node nodeb: status active")
        }),
        "heartbeat never saw hbd active:\n{}\n--- hbd ---\n{}",
        ha_log(&p),
        p.ns.log(B)
    );
    assert!(
        wait_for(Duration::from_secs(10), || p.ns.status(B).is_some_and(
            |r| { r.peer.state == NodeState::Active && r.links[0].up && r.links[0].received > 0 }
        )),
        "hbd never saw heartbeat active: {:?}\n{}",
        p.ns.status(B),
        p.ns.log(B)
    );
    let st = p.ns.status(B).unwrap();
    assert_eq!(
        st.links[0].bad_auth + st.links[0].malformed,
        0,
        "{:?}",
        st.links[0]
    );

    // Graceful shutdown: heartbeat hears hbd's shutdone.
    let exit = p.ns.terminate(B, Duration::from_secs(10));
    assert!(exit.is_some_and(|s| s.success()), "hbd exit {exit:?}");
    assert!(
        wait_for(Duration::from_secs(5), || ha_log(&p)
            .contains("Received shutdown notice from 'nodeb'.")),
        "{}",
        ha_log(&p)
    );

    // A restart is a new generation, which heartbeat accepts as a restart.
    let before = p.ns.log(B).len();
    p.start(B);
    assert!(
        wait_for(Duration::from_secs(15), || ha_log(&p)
            .contains("Heartbeat restart on node nodeb")),
        "{}",
        ha_log(&p)
    );
    // And hbd hears heartbeat's own shutdown.
    assert!(p.ns.terminate(A, Duration::from_secs(15)).is_some());
    assert!(
        wait_for(Duration::from_secs(5), || p.ns.log(B)[before..]
            .contains("Received shutdown notice from 'nodea'.")),
        "{}",
        p.ns.log(B)
    );
    let exit = p.ns.terminate(B, Duration::from_secs(10));
    assert!(exit.is_some_and(|s| s.success()), "hbd exit {exit:?}");
}

#[test]
fn serial_link_interoperates_with_heartbeat_3_0_6() {
    if !hblab::needs("serial_link_interoperates_with_heartbeat_3_0_6").met() {
        return;
    }
    let _g = testkit::one_at_a_time();
    converse(false, true, hblab::TTY);
}

#[test]
fn udp_link_interoperates_with_heartbeat_3_0_6() {
    if !hblab::needs("udp_link_interoperates_with_heartbeat_3_0_6").met() {
        return;
    }
    let _g = testkit::one_at_a_time();
    converse(true, false, "hb0");
}
