//! Interop with the real heartbeat 3.0.6 (Debian package `heartbeat`): a
//! heartbeat–heartbeat pair proves the lab and gives the baseline; mixed pairs
//! (one node heartbeat, the other hbd) over ucast, serial alone and both prove
//! the rolling migration of MIGRATING.md. Root only; each test skips with a
//! printed reason otherwise. Tests run one at a time (timings on 2 cores).
//!
//! `HBD_INTEROP_BIN=/path/to/hbd` tests another hbd binary (e.g. the release
//! build to ship); `HBLAB_LOGS=1` prints both nodes' logs after every test (on
//! failure they are printed anyway). Facts learned here about heartbeat are in
//! docs/heartbeat-compat.md; MIGRATING.md is written from these tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use testkit::hblab::{self, Impl, Pair, Setup, A, B};
use testkit::one_at_a_time as serial;

/// The hbd under test: this build, or `HBD_INTEROP_BIN` (e.g. a release build
/// to be shipped).
fn hbd_exe() -> PathBuf {
    std::env::var_os("HBD_INTEROP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hbd")))
}

/// What the mixed-pair tests need: the interop lab, and an hbd with its
/// daemon (`hbd run` with its documented options).
fn mixed_needs(test: &str) -> testkit::skip::Needs {
    let out = std::process::Command::new(hbd_exe())
        .args(["run", "--help"])
        .output();
    let help = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    hblab::needs(test).that(
        help.contains("--state-dir") && help.contains("--run-dir"),
        &format!(
            "{} has no `hbd run --state-dir --run-dir` yet",
            hbd_exe().display()
        ),
    )
}

/// Both nodes started together: heartbeat needs its 10 s RQSTDELAY (spec
/// §6.5) on top of the handshake, so allow 30 s.
const STARTUP: Duration = Duration::from_secs(30);

#[test]
fn heartbeat_pair_baseline_startup_and_kill9_takeover() {
    if !hblab::needs("heartbeat_pair_baseline_startup_and_kill9_takeover").met() {
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

/// Each node's home group in the default haresources.
fn home(i: usize) -> &'static str {
    ["ga", "gb"][i]
}

/// Builds a mixed pair (heartbeat on `hb`, hbd on the other node), starts both
/// together and waits until each reports the other active and each runs its
/// home group, as haresources says.
fn mixed_up(setup: Setup, hb: usize) -> Pair {
    mixed_up_prepared(setup, hb, |_| {})
}

/// As [`mixed_up`], with `prepare` run on the built pair before the start.
fn mixed_up_prepared(setup: Setup, hb: usize, prepare: impl Fn(&Pair)) -> Pair {
    let mut imps = [Impl::Hbd, Impl::Hbd];
    imps[hb] = Impl::Heartbeat;
    let mut p = Pair::new(setup, imps, &hbd_exe());
    prepare(&p);
    p.start(A);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("groups per haresources", STARTUP, A, &["ga"], &["gb"]);
    p.wait("both hold their local group", STARTUP, |p| {
        [A, B]
            .iter()
            .all(|&i| p.view(i).map(|v| v.rsc_hold == "local").unwrap_or(false))
    });
    p
}

/// hbd's links by heartbeat's link name: two `ucast hb0 …` lines are two
/// links both named `hb0` (only the one the datagrams reach hears the peer).
/// Per name: (any up, bad_auth, malformed, received), summed.
fn hbd_links(p: &Pair, i: usize) -> BTreeMap<String, (bool, u64, u64, u64)> {
    let mut m = BTreeMap::new();
    let st = p.hbd_status(i).unwrap_or_default();
    for l in st["links"].as_array().cloned().unwrap_or_default() {
        let e = m
            .entry(l["name"].as_str().unwrap_or("?").to_string())
            .or_insert((false, 0, 0, 0));
        e.0 |= l["up"] == true;
        e.1 += l["bad_auth"].as_u64().unwrap_or(0);
        e.2 += l["malformed"].as_u64().unwrap_or(0);
        e.3 += l["received"].as_u64().unwrap_or(0);
    }
    m
}

/// Waits until both nodes report stable holdings `holds` (heartbeat refuses,
/// and so does hbd, a standby while either side is in transition: an operator
/// waits for `rscstatus` to settle, so the test does too).
fn settle(p: &Pair, holds: [&str; 2]) {
    p.wait(&format!("holdings settle at {holds:?}"), TAKEOVER, |p| {
        [A, B].iter().all(|&i| {
            p.view(i)
                .map(|v| v.rsc_hold == holds[i] && v.peer == "active")
                .unwrap_or(false)
        })
    });
    // heartbeat's rscstatus reads stable as soon as its own part is done, but
    // it tells the peer (`resource … isstable=1`) only after the peer's
    // `ask_resources … done`, up to ~1 s later (see docs/heartbeat-compat.md).
    std::thread::sleep(Duration::from_millis(1500));
}

/// `hbd cl_status ARGS` inside hbd node `i`: (exit code, stdout).
fn hbd_cl_status(p: &Pair, i: usize, args: &[&str]) -> (i32, String) {
    let mut argv = vec![hbd_exe().into_os_string(), "cl_status".into()];
    argv.extend(args.iter().map(|a| a.into()));
    argv.extend(["--run-dir".into(), "/run/hbd".into()]);
    let out = p.run(i, &argv);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// Node `i` runs both groups, the other none.
fn all_on(p: &Pair, i: usize, what: &str, within: Duration) -> Duration {
    p.wait_groups(what, within, i, &["ga", "gb"], &[])
}

/// Startup, kill -9 of heartbeat (hbd takes over), heartbeat's return with
/// auto_failback on (its group goes home), kill -9 of hbd (heartbeat takes
/// over), hbd's return (its group goes home). `hb` is the heartbeat node.
fn mixed_startup_and_kill9(setup: Setup, hb: usize, test: &str) {
    mixed_startup_and_kill9_prepared(setup, hb, test, |_| {});
}

fn mixed_startup_and_kill9_prepared(setup: Setup, hb: usize, test: &str, prepare: impl Fn(&Pair)) {
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let hbd = 1 - hb;
    let mut p = mixed_up_prepared(setup, hb, prepare);
    // heartbeat writes `ld` on every sequenced message: hbd tells it from an
    // hbd peer, sends it no `hbd-config` and compares nothing.
    let st = p.hbd_status(hbd).expect("hbd status");
    assert_eq!(
        st["peer_config"]["state"], "heartbeat",
        "{}",
        st["peer_config"]
    );
    assert_eq!(st["problems"], serde_json::json!([]), "{}", st["problems"]);

    p.crash(hb);
    let took = all_on(
        &p,
        hbd,
        "hbd takes over after kill -9 of heartbeat",
        TAKEOVER,
    );
    eprintln!("{test}: hbd took over from heartbeat in {took:?} (deadtime 2 s)");
    assert_eq!(p.view(hbd).unwrap().peer, "dead");

    p.start(hb);
    p.wait_groups(
        "auto_failback on: heartbeat's home group goes home",
        STARTUP,
        hb,
        &[home(hb)],
        &[home(hbd)],
    );
    p.wait_both_see_active(STARTUP);

    p.crash(hbd);
    let took = all_on(
        &p,
        hb,
        "heartbeat takes over after kill -9 of hbd",
        TAKEOVER,
    );
    eprintln!("{test}: heartbeat took over from hbd in {took:?} (deadtime 2 s)");
    assert_eq!(p.view(hb).unwrap().peer, "dead");

    // hbd comes back; auto_failback on: heartbeat gives its group back.
    p.start(hbd);
    p.wait_groups(
        "auto_failback on: hbd's home group goes home",
        STARTUP,
        hb,
        &[home(hb)],
        &[home(hbd)],
    );
    p.wait_both_see_active(STARTUP);
    p.assert_no_overlap();
}

#[test]
fn mixed_ucast_startup_and_kill9_both_ways() {
    mixed_startup_and_kill9(
        Setup::default(),
        A,
        "mixed_ucast_startup_and_kill9_both_ways",
    );
}

/// The IPv6 cable's addresses (a unique local prefix inside the lab).
const HB6_ADDRS: [&str; 2] = ["fd00:250::1", "fd00:250::2"];

/// The same, heartbeating over `ucast6` only: heartbeat 3.0.6's ucast6 plugin
/// (Debian ships it) and hbd's ucast6 link are wire-compatible.
#[test]
fn mixed_ucast6_only_startup_and_kill9_both_ways() {
    let setup = Setup {
        ucast: false,
        extra: format!("ucast6 hb0 {}\nucast6 hb0 {}\n", HB6_ADDRS[0], HB6_ADDRS[1]),
        ..Setup::default()
    };
    mixed_startup_and_kill9_prepared(
        setup,
        A,
        "mixed_ucast6_only_startup_and_kill9_both_ways",
        |p| {
            for (n, a) in p.ns.nodes.iter().zip(HB6_ADDRS) {
                // Usable at once: no duplicate address detection on a lab cable.
                n.must(&[
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{a}/64"),
                    "dev",
                    "hb0",
                    "nodad",
                ]);
            }
        },
    );
}

#[test]
fn mixed_serial_only_startup_and_kill9_both_ways() {
    let setup = Setup {
        ucast: false,
        serial: true,
        ..Setup::default()
    };
    mixed_startup_and_kill9(setup, A, "mixed_serial_only_startup_and_kill9_both_ways");
}

#[test]
fn mixed_reversed_roles_ucast_and_serial() {
    // hbd is nodea (first in ha.cf, home of ga), heartbeat nodeb.
    let setup = Setup {
        ucast: true,
        serial: true,
        ..Setup::default()
    };
    mixed_startup_and_kill9(setup, B, "mixed_reversed_roles_ucast_and_serial");
}

#[test]
fn mixed_ucast_and_serial_links_reported_and_one_link_lost() {
    let test = "mixed_ucast_and_serial_links_reported_and_one_link_lost";
    // Also the serial cable pulled and plugged back.
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        ucast: true,
        serial: true,
        ..Setup::default()
    };
    let p = mixed_up(setup, A);
    // heartbeat sees both of hbd's links.
    for link in ["hb0", "/run/ttyHB0"] {
        p.wait(
            &format!("heartbeat sees nodeb's link {link} up"),
            TAKEOVER,
            |p| p.cl_status(A, &["hblinkstatus", "nodeb", link]) == (0, "up".into()),
        );
    }
    // hbd sees both of heartbeat's links, and counts nothing bad on them.
    p.wait("hbd sees hb0 and /run/ttyHB0 up", TAKEOVER, |p| {
        let l = hbd_links(p, B);
        l.len() == 2 && l.values().all(|v| v.0)
    });
    for (name, (_, bad, malformed, received)) in hbd_links(&p, B) {
        assert_eq!(bad, 0, "hbd rejected heartbeat's packets on {name}");
        assert_eq!(
            malformed, 0,
            "hbd could not parse heartbeat's packets on {name}"
        );
        assert!(received > 0, "nothing received on {name}");
    }
    // Cut ucast: both keep the pair over serial alone, no failover.
    p.ucast_link(B, false);
    p.wait("heartbeat marks hbd's ucast link dead", TAKEOVER, |p| {
        p.cl_status(A, &["hblinkstatus", "nodeb", "hb0"]).1 == "dead"
    });
    p.wait("hbd marks heartbeat's ucast link down", TAKEOVER, |p| {
        let l = hbd_links(p, B);
        l.get("hb0").map(|v| !v.0) == Some(true) && l.get("/run/ttyHB0").map(|v| v.0) == Some(true)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(p.active(A), ["ga"], "no failover with serial alive");
    assert_eq!(p.active(B), ["gb"], "no failover with serial alive");
    assert_eq!(p.view(A).unwrap().peer, "active");
    assert_eq!(p.view(B).unwrap().peer, "active");
    p.ucast_link(B, true);
    p.wait("ucast link back on both sides", TAKEOVER, |p| {
        p.cl_status(A, &["hblinkstatus", "nodeb", "hb0"]).1 == "up"
            && hbd_links(p, B).get("hb0").map(|v| v.0) == Some(true)
    });
    // Pull the serial cable (the relay stops): the pair stays up over ucast.
    p.serial_cable(false);
    p.wait("both mark the serial link dead", TAKEOVER, |p| {
        p.cl_status(A, &["hblinkstatus", "nodeb", "/run/ttyHB0"]).1 == "dead"
            && hbd_links(p, B).get("/run/ttyHB0").map(|v| !v.0) == Some(true)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(p.active(A), ["ga"], "no failover with ucast alive");
    assert_eq!(p.active(B), ["gb"], "no failover with ucast alive");
    p.serial_cable(true);
    p.wait("serial link back on both sides", TAKEOVER, |p| {
        p.cl_status(A, &["hblinkstatus", "nodeb", "/run/ttyHB0"]).1 == "up"
            && hbd_links(p, B).get("/run/ttyHB0").map(|v| v.0) == Some(true)
    });
    assert_eq!(p.view(A).unwrap().peer, "active");
    assert_eq!(p.view(B).unwrap().peer, "active");
    p.assert_no_overlap();
}

#[test]
fn mixed_auto_failback_off_both_ways() {
    let test = "mixed_auto_failback_off_both_ways";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        auto_failback: "off",
        ..Setup::default()
    };
    let mut p = mixed_up(setup, A);

    // heartbeat dies, hbd takes ga; heartbeat returns: ga stays on hbd.
    p.crash(A);
    all_on(&p, B, "hbd takes over from heartbeat", TAKEOVER);
    p.start(A);
    p.wait_both_see_active(STARTUP);
    p.wait("heartbeat settles holding nothing", STARTUP, |p| {
        p.view(A).map(|v| v.rsc_hold == "none").unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(p.active(B), ["ga", "gb"], "auto_failback off: ga stays");
    assert!(p.active(A).is_empty());

    // Hand ga back by hand (hbd standby foreign), then the other way round.
    settle(&p, ["none", "all"]);
    p.standby(B, "foreign");
    p.wait_groups(
        "hbd standby foreign gives ga home",
        TAKEOVER,
        A,
        &["ga"],
        &["gb"],
    );

    p.crash(B);
    all_on(&p, A, "heartbeat takes over from hbd", TAKEOVER);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait("hbd settles holding nothing", STARTUP, |p| {
        p.view(B).map(|v| v.rsc_hold == "none").unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(p.active(A), ["ga", "gb"], "auto_failback off: gb stays");
    assert!(p.active(B).is_empty());
    settle(&p, ["all", "none"]);
    p.standby(A, "foreign");
    p.wait_groups(
        "hb_standby foreign gives gb home",
        TAKEOVER,
        A,
        &["ga"],
        &["gb"],
    );
    p.assert_no_overlap();
}

#[test]
fn mixed_standby_and_takeover_both_ways() {
    let test = "mixed_standby_and_takeover_both_ways";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let p = mixed_up(Setup::default(), A);

    // hb_standby on heartbeat: everything moves to hbd.
    settle(&p, ["local", "local"]);
    p.standby(A, "all");
    let t = all_on(
        &p,
        B,
        "hb_standby on nodea moves both groups to hbd",
        TAKEOVER,
    );
    eprintln!("{test}: hb_standby all -> hbd holds all in {t:?}");
    settle(&p, ["none", "all"]);
    // hbd standby: everything moves back to heartbeat.
    p.standby(B, "all");
    let t = all_on(
        &p,
        A,
        "hbd standby moves both groups to heartbeat",
        TAKEOVER,
    );
    eprintln!("{test}: hbd standby all -> heartbeat holds all in {t:?}");
    settle(&p, ["all", "none"]);
    // auto_failback on: nothing moves back by itself while both are up.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(p.active(A), ["ga", "gb"]);
    // hbd takeover local: hbd asks for its own group back.
    p.takeover(B, "local");
    p.wait_groups(
        "hbd takeover local brings gb home",
        TAKEOVER,
        A,
        &["ga"],
        &["gb"],
    );
    settle(&p, ["local", "local"]);
    // hb_takeover all on heartbeat: heartbeat takes everything.
    p.takeover(A, "all");
    all_on(
        &p,
        A,
        "hb_takeover all on nodea takes gb from hbd",
        TAKEOVER,
    );
    settle(&p, ["all", "none"]);
    // hbd takeover all: hbd takes everything.
    p.takeover(B, "all");
    all_on(
        &p,
        B,
        "hbd takeover all takes both groups from heartbeat",
        TAKEOVER,
    );
    p.assert_no_overlap();
}

#[test]
fn mixed_clean_stop_hands_over_at_once() {
    let test = "mixed_clean_stop_hands_over_at_once";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    // A long deadtime: a handover faster than it proves the shutdown
    // handshake (shutdone), not dead detection, moved the groups.
    let setup = Setup {
        keepalive: "1",
        deadtime: "10",
        warntime: "5",
        initdead: "10",
        ..Setup::default()
    };
    let mut p = mixed_up(setup, A);
    let t0 = std::time::Instant::now();
    p.stop(B, Duration::from_secs(30));
    let t = all_on(
        &p,
        A,
        "heartbeat takes gb when hbd stops cleanly",
        Duration::from_secs(8),
    );
    eprintln!(
        "{test}: hbd SIGTERM -> heartbeat holds all in {:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "handover waited for deadtime"
    );
    let _ = t;
    p.start(B);
    p.wait_groups("gb fails back to hbd", STARTUP, A, &["ga"], &["gb"]);
    p.wait_both_see_active(STARTUP);

    let t0 = std::time::Instant::now();
    p.stop(A, Duration::from_secs(30));
    all_on(
        &p,
        B,
        "hbd takes ga when heartbeat stops cleanly",
        Duration::from_secs(8),
    );
    eprintln!(
        "{test}: heartbeat SIGTERM -> hbd holds all in {:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "handover waited for deadtime"
    );
    // hbd must not have needed dead detection for it.
    assert!(
        p.log_lines(B, ": is dead").is_empty(),
        "hbd declared heartbeat dead instead of taking its shutdown notice: {:?}",
        p.log_lines(B, ": is dead")
    );
    p.assert_no_overlap();
}

/// `hbd restart` with a heartbeat 3.0.6 peer, which cannot be told to wait:
/// hbd hands its group over (shutdone, as a clean stop), execs itself, and
/// gets it back by auto_failback; never both, never by dead detection.
#[test]
fn mixed_hbd_restart_with_a_heartbeat_peer_hands_over_and_back() {
    let test = "mixed_hbd_restart_with_a_heartbeat_peer_hands_over_and_back";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        keepalive: "1",
        deadtime: "10",
        warntime: "5",
        initdead: "10",
        ..Setup::default()
    };
    let p = mixed_up(setup, A);
    let argv: Vec<std::ffi::OsString> = vec![
        hbd_exe().into_os_string(),
        "restart".into(),
        "--run-dir".into(),
        "/run/hbd".into(),
        "--wait".into(),
        "30".into(),
    ];
    let out = p.run(B, &argv);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", p.tails(30));
    assert!(said.contains("heartbeat, which cannot wait"), "{said}");
    assert!(said.contains("hbd restarted (generation"), "{said}");
    p.wait_groups("gb fails back to hbd", STARTUP, A, &["ga"], &["gb"]);
    p.wait_both_see_active(STARTUP);
    assert!(
        p.log_lines(A, ": is dead").is_empty() && p.log_lines(B, ": is dead").is_empty(),
        "dead detection instead of the hand-over: {}",
        p.tails(30)
    );
    assert!(!p.log_lines(B, "handing the groups over first").is_empty());
    p.assert_no_overlap();
}

#[test]
fn mixed_heartbeat_ipaddr_script_under_hbd() {
    let test = "mixed_heartbeat_ipaddr_script_under_hbd";
    // heartbeat's IPaddr (OCF, resource-agents) configures the address with
    // ifconfig, which resource-agents only recommends.
    if !mixed_needs(test).tool("ifconfig", "net-tools").met() {
        return;
    }
    let _g = serial();
    // The shorthand `192.0.2.50/24/svc0` is heartbeat's IPaddr::...; hbd runs
    // heartbeat's own /etc/ha.d/resource.d/IPaddr (an OCF wrapper).
    let setup = Setup {
        haresources: "nodea rec::ga\nnodeb 192.0.2.50/24/svc0 rec::gb\n".into(),
        ..Setup::default()
    };
    let mut p = mixed_up(setup, A);
    p.wait(
        "hbd brings up 192.0.2.50 with heartbeat's IPaddr",
        TAKEOVER,
        |p| p.has_addr(B, "192.0.2.50") && !p.has_addr(A, "192.0.2.50"),
    );
    // Standby on hbd: IPaddr stop under hbd, start under heartbeat.
    settle(&p, ["local", "local"]);
    p.standby(B, "all");
    all_on(
        &p,
        A,
        "hbd standby moves the IPaddr group to heartbeat",
        TAKEOVER,
    );
    p.wait("address moved to heartbeat's node", TAKEOVER, |p| {
        p.has_addr(A, "192.0.2.50") && !p.has_addr(B, "192.0.2.50")
    });
    // Heartbeat dies: hbd takes the IPaddr group from it.
    p.crash(A);
    all_on(&p, B, "hbd takes the IPaddr group over", TAKEOVER);
    p.wait("address on hbd's node again", TAKEOVER, |p| {
        p.has_addr(B, "192.0.2.50")
    });
    let st = p.hbd_status(B).unwrap();
    let groups = st["groups"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g["key"].as_str().unwrap_or("").contains("192.0.2.50")
                && g["state"] == "running"),
        "hbd status does not show the IPaddr group running: {st}"
    );
    // heartbeat's wrapper answers status in OCF words that ResourceManager
    // reads as running; hbd must read them the same way.
    let out = p.run(
        B,
        &[
            "/etc/ha.d/resource.d/IPaddr",
            "192.0.2.50/24/svc0",
            "status",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Running OK"));
    p.assert_no_overlap();
}

#[test]
fn mixed_auth_mismatch_rejected_counted_and_peer_not_heard() {
    let test = "mixed_auth_mismatch_rejected_counted_and_peer_not_heard";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        ucast: true,
        serial: true,
        authkeys: [
            "auth 1\n1 sha1 interop-secret\n".into(),
            "auth 1\n1 sha1 another-secret\n".into(),
        ],
        ..Setup::default()
    };
    let mut p = Pair::new(setup, [Impl::Heartbeat, Impl::Hbd], &hbd_exe());
    p.start(A);
    p.start(B);
    // Each is alone: after initdead both run everything (split brain by a
    // configuration error, as heartbeat does too).
    p.wait("hbd runs both groups alone", STARTUP, |p| {
        p.active(B) == ["ga", "gb"]
    });
    p.wait("heartbeat reports nodeb dead", STARTUP, |p| {
        p.view(A).map(|v| v.peer == "dead").unwrap_or(false)
    });
    let first = hbd_links(&p, B);
    std::thread::sleep(Duration::from_secs(3));
    let st = p.hbd_status(B).expect("hbd status");
    assert!(
        matches!(st["peer"]["state"].as_str(), Some("dead") | Some("init")),
        "hbd reports a peer it never authenticated as {}",
        st["peer"]["state"]
    );
    let now = hbd_links(&p, B);
    assert_eq!(now.len(), 2, "links: {now:?}");
    // (`received` may count hbd's own ucast packets to its own address.)
    for (name, (up, bad, _, _)) in &now {
        assert!(!up, "link {name} heard without valid auth");
        let before = first[name].1;
        assert!(
            *bad > before,
            "bad_auth not counted on {name}: {before} -> {bad}"
        );
    }
    // Logged per link, rate-limited: at 2 packets a second per link for ~10 s
    // one line per packet would be dozens.
    let lines: Vec<String> = p
        .log_lines(B, "bad MAC")
        .into_iter()
        .filter(|l| l.contains(" hbd: ["))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("hb0")),
        "not logged on hb0: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("/run/ttyHB0")),
        "not logged on serial: {lines:?}"
    );
    assert!(
        lines.len() <= 8,
        "auth failures not rate-limited: {lines:?}"
    );
    // hbd shows it as an error with its likely cause, on each link, and
    // says it once in the log when it starts.
    let problems: Vec<String> = st["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|p| p["kind"] == "peer_auth_failing")
        .map(|p| p["text"].as_str().unwrap_or_default().to_string())
        .collect();
    for link in ["hb0", "/run/ttyHB0"] {
        assert!(
            problems.iter().any(|t| t
                .starts_with(&format!("packets from nodea on {link} fail authentication"))
                && t.ends_with("authkeys differ?")),
            "no problem for {link}: {problems:#?}"
        );
        assert!(
            p.log_lines(
                B,
                &format!("ERROR: link {link}: packets from nodea fail authentication")
            )
            .iter()
            .any(|l| l.contains("authkeys differ?")),
            "not logged as an error on {link}"
        );
    }
    // heartbeat, for its part, rejects hbd's packets.
    let hb = p.log_lines(A, "authentication");
    assert!(
        !hb.is_empty(),
        "heartbeat did not log hbd's packets as unauthenticated"
    );
}

#[test]
fn rolling_migration_heartbeat_pair_to_hbd_pair() {
    let test = "rolling_migration_heartbeat_pair_to_hbd_pair";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        ucast: true,
        serial: true,
        ..Setup::default()
    };
    // Step 0: a heartbeat pair in service.
    let mut p = Pair::new(setup, [Impl::Heartbeat, Impl::Heartbeat], &hbd_exe());
    p.start(A);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("heartbeat pair in service", STARTUP, A, &["ga"], &["gb"]);
    // MIGRATING.md step 0: `hbd check` accepts each node's /etc/ha.d as is.
    for i in [A, B] {
        let check = p.run(
            i,
            &[
                hbd_exe().as_os_str(),
                "check".as_ref(),
                "-c".as_ref(),
                "/etc/ha.d".as_ref(),
            ],
        );
        assert!(
            check.status.success(),
            "{}: hbd check refuses heartbeat's /etc/ha.d: {}{}",
            p.name(i),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }

    // Step 1: nodeb. Stop heartbeat (its group moves to nodea), start hbd.
    p.stop(B, Duration::from_secs(30));
    all_on(
        &p,
        A,
        "nodeb's group on nodea while nodeb is migrated",
        TAKEOVER,
    );
    // MIGRATING.md step 1's checks on nodea.
    p.wait(
        "cl_status on nodea: nodeb dead, rscstatus all",
        TAKEOVER,
        |p| {
            p.cl_status(A, &["nodestatus", "nodeb"]).1 == "dead"
                && p.cl_status(A, &["rscstatus"]) == (0, "all".into())
        },
    );
    p.switch(B, Impl::Hbd);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("gb back on nodeb, now hbd", STARTUP, A, &["ga"], &["gb"]);
    // MIGRATING.md step 3's checks, on both sides of the mixed pair.
    settle(&p, ["local", "local"]);
    assert_eq!(
        hbd_cl_status(&p, B, &["nodestatus", "nodea"]),
        (0, "active".into())
    );
    assert_eq!(hbd_cl_status(&p, B, &["rscstatus"]), (0, "local".into()));
    assert_eq!(
        p.cl_status(A, &["nodestatus", "nodeb"]),
        (0, "active".into())
    );
    for link in ["hb0", "/run/ttyHB0"] {
        assert_eq!(
            p.cl_status(A, &["hblinkstatus", "nodeb", link]),
            (0, "up".into())
        );
    }
    let bad: Vec<_> = hbd_links(&p, B)
        .into_iter()
        .filter(|(_, v)| v.1 > 0 || v.2 > 0)
        .collect();
    assert!(
        bad.is_empty(),
        "hbd counts bad packets from heartbeat: {bad:?}"
    );
    // hbd went on from heartbeat's generation and kept its uuid.
    let gen = |f: &str| -> u64 {
        let t = std::fs::read_to_string(p.lib_dir(B).join(f)).unwrap_or_default();
        t.trim().parse().unwrap_or(0)
    };
    assert!(
        gen("hbd/hb_generation") > gen("hb_generation"),
        "hbd did not continue heartbeat's generation"
    );
    assert!(
        p.log_lines(A, "changed its uuid").is_empty(),
        "heartbeat saw nodeb change its uuid: {:?}",
        p.log_lines(A, "changed its uuid")
    );

    // Step 2: nodea. Stop heartbeat (its group moves to hbd), start hbd.
    p.stop(A, Duration::from_secs(30));
    all_on(
        &p,
        B,
        "nodea's group on nodeb while nodea is migrated",
        TAKEOVER,
    );
    // MIGRATING.md step 4's checks on nodeb (hbd).
    p.wait(
        "hbd cl_status on nodeb: nodea dead, rscstatus all",
        TAKEOVER,
        |p| {
            hbd_cl_status(p, B, &["nodestatus", "nodea"]).1 == "dead"
                && hbd_cl_status(p, B, &["rscstatus"]) == (0, "all".into())
        },
    );
    p.switch(A, Impl::Hbd);
    p.start(A);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("an hbd pair in service", STARTUP, A, &["ga"], &["gb"]);
    for i in [A, B] {
        assert_eq!(p.view(i).unwrap().rsc_hold, "local");
        // The checks MIGRATING.md tells the operator to run, with heartbeat's
        // words and exit codes.
        let peer = p.name(1 - i).to_string();
        assert_eq!(
            hbd_cl_status(&p, i, &["nodestatus", &peer]),
            (0, "active".into())
        );
        assert_eq!(hbd_cl_status(&p, i, &["rscstatus"]), (0, "local".into()));
    }

    // Going back (MIGRATING.md): nodeb returns to heartbeat.
    p.stop(B, Duration::from_secs(30));
    all_on(
        &p,
        A,
        "nodeb's group on nodea while nodeb goes back",
        TAKEOVER,
    );
    p.switch(B, Impl::Heartbeat);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups(
        "gb back on nodeb, heartbeat again",
        STARTUP,
        A,
        &["ga"],
        &["gb"],
    );
    assert_eq!(p.cl_status(B, &["rscstatus"]), (0, "local".into()));
    p.assert_no_overlap();
}

/// Heartbeat's default mode, `auto_failback legacy` (no `starting`/`resource`
/// negotiation; groups are asked for with `ip-request`, spec §6.6).
#[test]
fn mixed_legacy_mode_startup_kill9_and_failback() {
    let test = "mixed_legacy_mode_startup_kill9_and_failback";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        auto_failback: "legacy",
        ..Setup::default()
    };
    let mut p = Pair::new(setup, [Impl::Heartbeat, Impl::Hbd], &hbd_exe());
    p.start(A);
    p.start(B);
    p.wait_both_see_active(STARTUP);
    p.wait_groups("groups per haresources", STARTUP, A, &["ga"], &["gb"]);
    p.crash(A);
    all_on(&p, B, "hbd takes over from heartbeat", TAKEOVER);
    p.start(A);
    p.wait_groups(
        "legacy: ga goes home on ip-request",
        STARTUP,
        A,
        &["ga"],
        &["gb"],
    );
    p.crash(B);
    all_on(&p, A, "heartbeat takes over from hbd", TAKEOVER);
    p.start(B);
    p.wait_groups(
        "legacy: gb goes home on ip-request",
        STARTUP,
        A,
        &["ga"],
        &["gb"],
    );
    p.assert_no_overlap();
}

/// The other authentication methods and `msgfmt netstring` (UDP packets carry
/// only the trailer, no inner `auth` field: spec §1.4).
#[test]
fn mixed_md5_netstring_and_crc_classic() {
    let test = "mixed_md5_netstring_and_crc_classic";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    for (keys, extra) in [
        ("auth 2\n2 md5 interop-md5-secret\n", "msgfmt netstring\n"),
        ("auth 1\n1 crc\n", ""),
    ] {
        let setup = Setup {
            ucast: true,
            serial: true,
            authkeys: [keys.into(), keys.into()],
            extra: extra.into(),
            ..Setup::default()
        };
        let p = mixed_up(setup, A);
        for (name, (up, bad, malformed, _)) in hbd_links(&p, B) {
            assert!(up, "{keys:?}: hbd does not hear heartbeat on {name}");
            assert_eq!(
                (bad, malformed),
                (0, 0),
                "{keys:?}: rejected packets on {name}"
            );
        }
        for link in ["hb0", "/run/ttyHB0"] {
            assert_eq!(
                p.cl_status(A, &["hblinkstatus", "nodeb", link]),
                (0, "up".into()),
                "{keys:?}: heartbeat does not hear hbd on {link}"
            );
        }
        settle(&p, ["local", "local"]);
        p.standby(A, "all");
        all_on(&p, B, "hb_standby moves both groups to hbd", TAKEOVER);
        p.assert_no_overlap();
    }
}

/// heartbeat's `cl_status` on nodea and hbd's on nodeb, both asked about
/// themselves or about their peer, print the same and exit the same: the
/// configuration parameters (one ha.cf), the client status of an API client
/// nobody runs, and the queries scripts watch. Only `listnodes`' order
/// differs (documented); it is compared as a set.
#[test]
fn mixed_cl_status_answers_match_heartbeats() {
    let test = "mixed_cl_status_answers_match_heartbeats";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let setup = Setup {
        warntime: "1500ms",
        ..Setup::default()
    };
    let p = mixed_up(setup, A);
    settle(&p, ["local", "local"]);
    let me = |i: usize| p.name(i).to_string();
    let peer = |i: usize| p.name(1 - i).to_string();
    let mut queries: Vec<Box<dyn Fn(usize) -> Vec<String>>> = Vec::new();
    for name in hbd::config::parameters::NAMES
        .iter()
        .chain(&["node", "ucast", "bogus", "DEADTIME"])
    {
        queries.push(Box::new(move |_| {
            vec!["hbparameter".into(), "-p".into(), name.to_string()]
        }));
    }
    let q = |words: &'static [&'static str]| -> Box<dyn Fn(usize) -> Vec<String>> {
        Box::new(move |i| {
            words
                .iter()
                .map(|w| match *w {
                    "SELF" => me(i),
                    "PEER" => peer(i),
                    w => w.to_string(),
                })
                .collect()
        })
    };
    queries.extend([
        q(&["hbparameter", "-m", "-p", "deadtime"]),
        q(&["clientstatus", "SELF", "ipfail"]),
        q(&["clientstatus", "-m", "SELF", "ipfail"]),
        q(&["hbstatus"]),
        q(&["nodestatus", "PEER"]),
        q(&["nodestatus", "-m", "PEER"]),
        q(&["nodetype", "PEER"]),
        q(&["nodeweight", "PEER"]),
        q(&["listhblinks", "PEER"]),
        q(&["hblinkstatus", "PEER", "hb0"]),
        q(&["rscstatus"]),
        q(&["rscstatus", "-m"]),
    ]);
    let mut differ = Vec::new();
    for query in &queries {
        let (hb_args, hbd_args) = (query(A), query(B));
        let hb_words: Vec<&str> = hb_args.iter().map(String::as_str).collect();
        let hbd_words: Vec<&str> = hbd_args.iter().map(String::as_str).collect();
        // Each names its peer and itself: compare with the names as roles.
        let roles = |i: usize, (code, out): (i32, String)| {
            (code, out.replace(&peer(i), "PEER").replace(&me(i), "SELF"))
        };
        let theirs = roles(A, p.cl_status(A, &hb_words));
        let ours = roles(B, hbd_cl_status(&p, B, &hbd_words));
        if theirs != ours {
            differ.push(format!(
                "{hb_words:?}: heartbeat {theirs:?}, hbd ({hbd_words:?}) {ours:?}"
            ));
        }
    }
    let sorted = |(code, out): (i32, String)| {
        let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
        lines.sort();
        (code, lines)
    };
    assert_eq!(
        sorted(p.cl_status(A, &["listnodes"])),
        sorted(hbd_cl_status(&p, B, &["listnodes"]))
    );
    assert!(
        differ.is_empty(),
        "cl_status answers differ:\n{}",
        differ.join("\n")
    );
}

#[test]
fn lab_cleanup_leaves_no_namespace_or_process() {
    let test = "lab_cleanup_leaves_no_namespace_or_process";
    if !mixed_needs(test).met() {
        return;
    }
    let _g = serial();
    let (id, pids) = {
        let setup = Setup {
            ucast: true,
            serial: true,
            ..Setup::default()
        };
        let mut p = Pair::new(setup, [Impl::Heartbeat, Impl::Hbd], &hbd_exe());
        p.start(A);
        p.start(B);
        p.wait("both daemons heard each other", STARTUP, |p| {
            p.view(A).map(|v| v.peer != "dead").unwrap_or(false)
                && p.view(B).map(|v| v.peer == "active").unwrap_or(false)
        });
        let mut pids: Vec<u32> = Vec::new();
        for i in [A, B] {
            pids.extend(p.ns.processes(i));
            pids.push(p.ns.nodes[i].holder);
        }
        assert!(pids.len() >= 4, "heartbeat and hbd processes: {pids:?}");
        (p.ns.id().to_string(), pids)
    };
    assert_eq!(testkit::lab::lab_leftovers(&id), Vec::<String>::new());
    let alive = testkit::lab::alive(&pids);
    assert!(alive.is_empty(), "processes left running: {alive:?}");
}
