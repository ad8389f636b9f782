//! Two real `hbd run` processes on loopback: real UDP, real pseudo-terminals,
//! real resource scripts, no root. Every wait is a bounded poll of the control
//! socket; every child is killed by PID when a test ends, even by panic.

use hbd::config::{Auth, AuthKey, AuthMethod, MsgFmt, Secret};
use hbd::control::ProblemKind;
use hbd::control::StatusReport;
use hbd::core::{NodeState, PeerConfigState, RscHold};
use hbd::demo::cluster::{self as dc, Spec};
use hbd::demo::pty::Side;
use hbd::wire::{self, Message, Transport};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testkit::loopback::Pair;
use testkit::{hbd_exe, one_at_a_time};

/// The pair for `spec` (with the pty cable when `serial`), up: both nodes
/// active, the service on alpha.
fn pair(spec: Spec, serial: bool) -> Pair {
    Pair::up(spec, serial, &hbd_exe!())
}

/// [`pair`] with `hbd_extra` appended to both nodes' `[hbd]` section.
fn pair_with(spec: Spec, serial: bool, hbd_extra: &str) -> Pair {
    let mut p = Pair::new(spec, serial, &hbd_exe!());
    p.append_config(hbd_extra);
    p.bring_up();
    p
}

fn hbd(args: &[&str]) -> Output {
    Command::new(hbd_exe!()).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// kill -9 of the active node: the peer declares it dead no sooner than
/// deadtime minus one keepalive, no later than deadtime plus slack, and runs
/// the service within deadtime plus the script's own time.
fn kill9_failover(serial: bool, udp: bool) {
    let spec = Spec {
        udp,
        ..Spec::default()
    };
    let (dt, ka) = (spec.deadtime_ms, spec.keepalive_ms);
    let mut p = pair(spec, serial);
    p.wait_past_dt_boost(0);
    let killed = Instant::now();
    p.daemon(0).kill9();
    p.wait_status(1, Duration::from_secs(5), "seeing alpha dead", |r| {
        r.peer.state == NodeState::Dead
    });
    let detected = ms(killed.elapsed());
    p.wait_served_by("beta", Duration::from_secs(5));
    let served = ms(killed.elapsed());
    eprintln!(
        "kill -9: dead after {detected}ms, served by beta after {served}ms (deadtime {dt}ms)"
    );
    assert!(
        detected + ka + 50 >= dt,
        "alpha declared dead after {detected}ms, before deadtime {dt}ms minus a keepalive"
    );
    assert!(
        detected <= dt + 1000,
        "alpha declared dead after {detected}ms (deadtime {dt}ms)"
    );
    // The demo script answers start in ~0.1-0.3 s; 1.5 s covers it on a busy box.
    assert!(
        served <= dt + 2500,
        "service back after {served}ms (deadtime {dt}ms + script time)"
    );
    // The service answers before its start script has returned; the group
    // counts as running once the script said so.
    let key = p.c.service_key();
    p.wait_status(1, Duration::from_secs(3), "running the group", |r| {
        dc::running_on(r, &key).as_deref() == Some("beta")
    });
    let b = p.status(1);
    assert!(
        b.links.iter().all(|l| !l.up),
        "every link to alpha is dead: {:?}",
        b.links
    );
    // Scripts written for heartbeat see the same through cl_status.
    let rd = p.run_dir(1);
    let out = hbd(&["cl_status", "nodestatus", "alpha", "--run-dir", &rd]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(1), "dead\n".into())
    );
    let link = b.links[0].name.clone();
    let out = hbd(&[
        "cl_status",
        "hblinkstatus",
        "alpha",
        &link,
        "--run-dir",
        &rd,
    ]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(1), "dead\n".into())
    );
    // beta now holds alpha's group, foreign to it (plus its own, empty, set).
    let out = hbd(&["cl_status", "rscstatus", "--run-dir", &rd]);
    let held = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        held == "foreign\n" || held == "all\n",
        "beta holds {held:?}"
    );
}

#[test]
fn udp_only_kill9_of_active_node_fails_over_within_deadtime() {
    let _g = one_at_a_time();
    kill9_failover(false, true);
}

#[test]
fn serial_only_kill9_of_active_node_fails_over_within_deadtime() {
    let _g = one_at_a_time();
    kill9_failover(true, false);
}

/// `[hbd] compact_serial`: on a serial-only pair the statuses go as one short
/// line each (the relay counts the bytes), the pair stays up on them alone, and
/// a kill -9 is still detected within deadtime.
#[test]
fn serial_only_compact_frames_carry_the_pair_and_its_failover() {
    let _g = one_at_a_time();
    let spec = Spec {
        udp: false,
        ..Spec::default()
    };
    let (dt, ka) = (spec.deadtime_ms, spec.keepalive_ms);
    let mut p = pair_with(spec, true, "compact_serial = true\n");
    p.wait_past_dt_boost(0);
    p.wait_past_dt_boost(1);
    let relay = p.relay.as_ref().unwrap();
    // Settle: the start-up negotiation (classic frames) is over by now.
    std::thread::sleep(Duration::from_millis(500));
    let (a0, b0) = relay.carried();
    let window = Duration::from_millis(3000);
    std::thread::sleep(window);
    let (a1, b1) = relay.carried();
    let statuses = window.as_millis() as u64 / ka;
    for (dir, n) in [("alpha->beta", a1 - a0), ("beta->alpha", b1 - b0)] {
        eprintln!("{dir}: {n} bytes in {window:?} (~{statuses} statuses)");
        // Classic statuses are ~300 bytes; compact ones under 64, plus the odd
        // ACK or retransmission request.
        assert!(
            n > 0 && n <= statuses * 64 + 400,
            "{dir}: {n} bytes for ~{statuses} statuses"
        );
    }
    let a = p.status(0);
    assert!(dc::both_active(&a), "{a:?}");
    assert_eq!(a.links[0].kind, "serial");
    let killed = Instant::now();
    p.daemon(0).kill9();
    p.wait_status(1, Duration::from_secs(5), "seeing alpha dead", |r| {
        r.peer.state == NodeState::Dead
    });
    let detected = ms(killed.elapsed());
    eprintln!("compact serial kill -9: dead after {detected}ms (deadtime {dt}ms)");
    assert!(
        detected + ka + 50 >= dt && detected <= dt + 1000,
        "{detected}ms"
    );
    p.wait_served_by("beta", Duration::from_secs(5));
}

/// Issue 7's serial target: on a line paced to 19200 baud (1920 bytes/s each
/// way), compact statuses every 100 ms hold a 500 ms deadtime with no false
/// death, using well under half the line (classic frames fill all of it).
#[test]
fn serial_19200_baud_compact_frames_hold_a_500ms_deadtime() {
    let _g = one_at_a_time();
    let spec = Spec {
        udp: false,
        keepalive_ms: 100,
        deadtime_ms: 500,
        warntime_ms: 250,
        ..Spec::default()
    };
    let mut p = pair_with(spec, true, "compact_serial = true\n");
    p.relay.as_ref().unwrap().set_baud(19200);
    p.wait_past_dt_boost(0);
    p.wait_past_dt_boost(1);
    let relay = p.relay.as_ref().unwrap();
    let (a0, b0) = relay.carried();
    let window = Duration::from_secs(10);
    let t = Instant::now();
    while t.elapsed() < window {
        for i in 0..2 {
            let r = p.status(i);
            assert!(
                r.peer.state != NodeState::Dead && dc::both_active(&r),
                "{}: false failover at 19200 baud after {:?}: {r:?}",
                dc::NAMES[i],
                t.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (a1, b1) = relay.carried();
    let secs = window.as_secs_f64();
    for (dir, n) in [("alpha->beta", a1 - a0), ("beta->alpha", b1 - b0)] {
        let load = n as f64 / secs / 1920.0;
        eprintln!(
            "19200 baud, keepalive 100ms: {dir} {:.0} bytes/s ({:.0}% of the line)",
            n as f64 / secs,
            load * 100.0
        );
        assert!(load > 0.1 && load < 0.5, "{dir}: line load {load:.2}");
    }
    assert_eq!(
        p.c.probe_service().as_deref(),
        Some("alpha"),
        "the service never moved"
    );
    // And a real death is still seen within deadtime on that slow line.
    let killed = Instant::now();
    p.daemon(0).kill9();
    p.wait_status(1, Duration::from_secs(3), "seeing alpha dead", |r| {
        r.peer.state == NodeState::Dead
    });
    let detected = ms(killed.elapsed());
    eprintln!("19200 baud compact: alpha dead after {detected}ms (deadtime 500ms)");
    assert!(detected <= 500 + 300, "{detected}ms");
}

#[test]
fn sigterm_hands_over_without_waiting_for_deadtime() {
    let _g = one_at_a_time();
    let spec = Spec {
        deadtime_ms: 4000,
        warntime_ms: 2000,
        initdead_ms: 4000,
        serial: None,
        ..Spec::default()
    };
    let mut p = pair(spec, false);
    let t = Instant::now();
    p.daemon(0).signal(Signal::SIGTERM).unwrap();
    let served = p.wait_served_by("beta", Duration::from_secs(5));
    assert!(
        served < Duration::from_millis(2000),
        "handover took {served:?}, as if beta waited for deadtime (4s)"
    );
    let exited = dc::wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        p.daemon(0).exited()
    })
    .expect("alpha exits after SIGTERM");
    assert!(exited.success(), "alpha's exit after SIGTERM: {exited}");
    eprintln!(
        "SIGTERM: served by beta after {}ms, alpha exited after {}ms",
        ms(served),
        ms(t.elapsed())
    );
    // The service answers before its start script has returned; the group
    // counts as running once the script said so.
    let key = p.c.service_key();
    p.wait_status(1, Duration::from_secs(3), "running the group", |r| {
        dc::running_on(r, &key).as_deref() == Some("beta")
    });
}

/// heartbeat's log phrases, which CTS-style and logwatch patterns wait for,
/// in the real log files at the moments heartbeat writes them: start-up,
/// comm-up, a graceful stop (the shell's lines) and the peer's takeover.
#[test]
fn heartbeats_phrases_are_in_the_real_logs() {
    let _g = one_at_a_time();
    let mut p = pair(
        Spec {
            serial: None,
            ..Spec::default()
        },
        false,
    );
    // Two hbd nodes with the same configuration say so.
    for i in 0..2 {
        p.wait_status(i, Duration::from_secs(5), "agreeing", |r| {
            r.peer_config.state == PeerConfigState::Same
        });
    }
    p.daemon(0).signal(Signal::SIGTERM).unwrap();
    let exited = dc::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        p.daemon(0).exited()
    })
    .expect("alpha exits after SIGTERM");
    assert!(exited.success(), "alpha's exit after SIGTERM: {exited}");
    let key = p.c.service_key();
    p.wait_status(1, Duration::from_secs(5), "running the group", |r| {
        dc::running_on(r, &key).as_deref() == Some("beta")
    });
    let alpha = p.c.log_text(0);
    let beta = p.c.log_text(1);
    // `<stamp> <level>: <phrase>…` (stderr), in this order.
    let in_order = |log: &str, node: &str, phrases: &[(&str, &str)]| {
        let mut from = 0;
        for (level, phrase) in phrases {
            let needle = format!(" {level}: {phrase}");
            let at = log[from..].find(&needle).unwrap_or_else(|| {
                panic!("{node}'s log lacks {needle:?} after byte {from}:\n{log}")
            });
            from += at + needle.len();
        }
    };
    in_order(
        &alpha,
        "alpha",
        &[
            // A fresh state directory: heartbeat's words for a first start.
            ("info", "No Previous generation - starting at "),
            ("info", "Local status now set to: 'up'"),
            // Alone until initdead: it takes everything, its initial acquisition.
            ("info", "node beta: is dead (not heard in the "),
            ("info", "Resources being acquired from beta."),
            ("info", "mach_down takeover complete."),
            ("info", "Local Resource acquisition completed."),
            ("info", "Initial resource acquisition complete (mach_down)"),
            ("info", "Link beta:lo up."),
            ("info", "configuration agrees with beta's"),
            ("info", "Status update for node beta: status active"),
            ("info", "Heartbeat shutdown in progress. ("),
            ("info", "All HA resources relinquished."),
            ("info", "alpha Heartbeat shutdown complete."),
        ],
    );
    in_order(
        &beta,
        "beta",
        &[
            ("info", "Comm_now_up(): updating status to active"),
            ("info", "Local status now set to: 'active'"),
            ("info", "Initial resource acquisition complete ("),
            ("info", "Received shutdown notice from 'alpha'."),
            ("info", "Resources being acquired from alpha."),
            ("info", "mach_down takeover complete."),
        ],
    );
    // Started again: the next generation, which beta sees as a restart
    // (both in decimal, as heartbeat writes them).
    p.start(0);
    let restarted = dc::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        let a = p.c.log_text(0);
        let b = p.c.log_text(1);
        let gen = a
            .split(" info: Heartbeat generation: ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .to_string();
        b.contains(&format!(
            " info: Heartbeat restart on node alpha (generation {}",
            gen.parse::<u64>().ok()? - 1
        ))
        .then_some(())
    });
    assert!(
        restarted.is_some(),
        "alpha:\n{}\nbeta:\n{}",
        p.c.log_text(0),
        p.c.log_text(1)
    );
    // A normal start, join and stop: nothing an operator must look at,
    // unless the machine itself was too slow (a loaded 2-core box may delay
    // a heartbeat past warntime; that warning is then true).
    let timing = [
        "Late heartbeat: ",
        "this node stalled",
        "lost packet(s)",
        " dead. (",
    ];
    for (node, log) in [("alpha", &alpha), ("beta", &beta)] {
        let loud: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN: ") || l.contains(" ERROR: "))
            .filter(|l| !timing.iter().any(|t| l.contains(t)))
            // The demo's short initdead, which `check` also warns about.
            .filter(|l| !l.contains("initdead: warning: "))
            .collect();
        assert!(loud.is_empty(), "{node} logged {loud:#?}");
    }
}

/// Two hbd nodes whose configurations differ on a part both must agree on
/// (here deadtime) are each told what differs: an error in the log, a
/// problem at the top of `hbd status`, the state in `--json`.
#[test]
fn a_pair_that_disagrees_is_told_what_differs() {
    let _g = one_at_a_time();
    let spec = Spec {
        serial: None,
        ..Spec::default()
    };
    let ours = format!("deadtime = \"{}ms\"", spec.deadtime_ms);
    let mut p = Pair::new(spec, false, &hbd_exe!());
    p.edit_config(1, |t| {
        assert!(t.contains(&ours), "{t}");
        t.replace(&ours, "deadtime = \"1500ms\"")
    });
    p.bring_up();
    for (i, peer, line) in [
        (0, "beta", "deadtime: 1s here, 1.5s on beta"),
        (1, "alpha", "deadtime: 1.5s here, 1s on alpha"),
    ] {
        p.wait_status(i, Duration::from_secs(5), "comparing", |r| {
            r.peer_config.state == PeerConfigState::Differs
        });
        let r = p.status(i);
        assert_eq!(r.peer_config.differences, [line]);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].kind, ProblemKind::PeerConfigDiffers);
        let log = p.c.log_text(i);
        assert!(
            log.contains(&format!(
                " ERROR: configuration differs from {peer}'s: {line} ("
            )),
            "{log}"
        );
        let out = hbd(&["status", "--run-dir", &p.run_dir(i)]);
        let human = text(&out.stdout);
        assert!(
            human.contains(&format!(
                "ERROR: configuration differs from {peer}'s: {line}\n"
            )),
            "{human}"
        );
    }
}

#[test]
fn standby_and_takeover_through_the_cli() {
    let _g = one_at_a_time();
    let p = pair(
        Spec {
            serial: None,
            ..Spec::default()
        },
        false,
    );
    let (a, b) = (p.run_dir(0), p.run_dir(1));

    let out = hbd(&["status", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    for needle in [
        "alpha",
        "beta",
        "active",
        &p.c.service_key(),
        "sent",
        "rsc_hold",
    ] {
        assert!(human.contains(needle), "status lacks {needle:?}:\n{human}");
    }
    let out = hbd(&["status", "--json", "--run-dir", &b]);
    let r: StatusReport =
        serde_json::from_slice(&out.stdout).expect("status --json is a StatusReport");
    assert_eq!(
        (r.local.name.as_str(), r.peer.name.as_str()),
        ("beta", "alpha")
    );

    let out = hbd(&["cl_status", "nodestatus", "beta", "--run-dir", &a]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "active\n".into())
    );
    let out = hbd(&["cl_status", "hblinkstatus", "beta", "lo", "--run-dir", &a]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "up\n".into())
    );
    let out = hbd(&["cl_status", "listnodes", "--run-dir", &a]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
    let out = hbd(&["cl_status", "rscstatus", "--run-dir", &a]);
    let held = text(&out.stdout);
    assert!(
        held == "local\n" || held == "all\n",
        "alpha holds its group: {held:?}"
    );

    let out = hbd(&["standby", "--run-dir", &a, "--wait", "10"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "standby: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).is_empty(),
        "standby prints the daemon's answer"
    );
    p.wait_served_by("beta", Duration::from_secs(3));
    // alpha's --wait ends when alpha has let go; beta may still be finishing its
    // start, and heartbeat refuses a takeover while the peer is in flux.
    let key = p.c.service_key();
    p.wait_status(1, Duration::from_secs(5), "running the group", |r| {
        dc::running_on(r, &key).as_deref() == Some("beta") && r.rsc_hold != RscHold::Transition
    });

    let out = hbd(&["takeover", "all", "--run-dir", &a, "--wait", "10"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "takeover: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    p.wait_served_by("alpha", Duration::from_secs(3));
    p.wait_status(1, Duration::from_secs(5), "settled", |r| {
        dc::both_active(r) && dc::running_on(r, &p.c.service_key()).as_deref() == Some("alpha")
    });
}

#[test]
fn sighup_with_a_broken_config_keeps_running() {
    let _g = one_at_a_time();
    let mut p = pair(
        Spec {
            serial: None,
            ..Spec::default()
        },
        false,
    );
    let config = p.c.nodes[0].config.clone();
    let before = p.c.log_text(0).len();
    std::fs::write(&config, "nodes = [\"alpha\"\nkeepalive = \"fast\"\n").unwrap();
    p.daemon(0).signal(Signal::SIGHUP).unwrap();
    let said = dc::wait_for(Duration::from_secs(5), Duration::from_millis(50), || {
        let log = p.c.log_text(0);
        let new = &log[before.min(log.len())..];
        // The diagnostic names the file and the line (file:line).
        new.contains("hbd.toml:").then(|| new.to_string())
    });
    let said = said.expect("the log names the broken file and line after SIGHUP");
    eprintln!("log after SIGHUP:\n{said}");
    // Several keepalives later it still runs, answers and holds its group.
    std::thread::sleep(Duration::from_millis(3 * p.c.spec.keepalive_ms));
    assert!(p.daemon(0).exited().is_none(), "alpha exited after SIGHUP");
    let a = p.status(0);
    assert!(dc::both_active(&a), "alpha after SIGHUP: {a:#?}");
    assert_eq!(
        dc::running_on(&a, &p.c.service_key()).as_deref(),
        Some("alpha")
    );
    assert_eq!(p.status(1).peer.state, NodeState::Active);
    assert_eq!(p.c.probe_service().as_deref(), Some("alpha"));
}

/// A well-formed heartbeat status from "alpha", signed with a key the pair
/// does not use: it must fail authentication, not parsing.
fn forged_status(transport: Transport) -> Vec<u8> {
    let mut m = Message::with_type("status");
    for (k, v) in [
        ("st", "active"),
        ("dt", "3e8"),
        ("protocol", "1"),
        ("src", "alpha"),
        ("seq", "7fffffff"),
        ("hg", "1"),
        ("ts", "6b0243a3"),
        ("ttl", "3"),
    ] {
        m.add(k, v);
    }
    let auth = Auth {
        send_index: 1,
        keys: BTreeMap::from([(
            1,
            AuthKey {
                method: AuthMethod::Sha1,
                secret: Secret(b"not the pair's key".to_vec()),
            },
        )]),
    };
    let sealed = wire::seal(&m, &auth, transport, MsgFmt::Classic);
    assert!(!sealed.is_empty(), "wire::seal produced nothing");
    sealed
}

#[test]
fn garbage_on_serial_and_udp_is_counted_and_ignored() {
    let _g = one_at_a_time();
    let p = pair(Spec::default(), true);
    let key = p.c.service_key();
    let base = p.status(1);
    let (udp_i, ser_i) = (0, 1);
    assert_eq!(base.links[udp_i].kind, "ucast");
    assert_eq!(base.links[ser_i].kind, "serial");
    let dead_before = base
        .recent
        .iter()
        .filter(|t| t.text.contains("dead"))
        .count();

    let mut rng = hbd::core::Rng::new(0x9e37_79b9_7f4a_7c15);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = ("127.0.0.2", p.c.udpport);
    const RANDOM: u64 = 100;
    const FORGED: u64 = 5;
    for i in 0..RANDOM {
        let len = 1 + (rng.next_u64() % 600) as usize;
        let mut d = testkit::noise_bytes(&mut rng, len);
        if i % 4 == 0 {
            // Some that start like a netstring message, to reach deeper parsing.
            d.splice(0..0, b"###\n11:(0)t=status,".iter().copied());
        }
        sock.send_to(&d, to).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let forged = forged_status(Transport::Udp);
    for _ in 0..FORGED {
        sock.send_to(&forged, to).unwrap();
    }
    let relay = p.relay.as_ref().unwrap();
    relay.inject(Side::B, &testkit::noise_bytes(&mut rng, 300));
    relay.inject(
        Side::B,
        b"\n>>>\nt=status\nthis line has no equals sign\n<<<\n",
    );
    relay.inject(Side::B, b"\n>>>\nt=status\nst=act");
    relay.inject(
        Side::B,
        &[b"\n".as_slice(), &forged_status(Transport::Serial)].concat(),
    );

    p.wait_status(1, Duration::from_secs(5), "counting the noise", |r| {
        let (u, s) = (&r.links[udp_i], &r.links[ser_i]);
        u.malformed >= base.links[udp_i].malformed + RANDOM
            && u.bad_auth >= base.links[udp_i].bad_auth + FORGED
            && s.malformed + s.bad_auth > base.links[ser_i].malformed + base.links[ser_i].bad_auth
    });
    // Two deadtimes later nothing moved: the noise was dropped, not believed.
    std::thread::sleep(Duration::from_millis(2 * p.c.spec.deadtime_ms));
    let b = p.status(1);
    eprintln!("links after noise: {:#?}", b.links);
    assert!(dc::both_active(&b), "beta after noise: {b:#?}");
    assert!(
        b.links.iter().all(|l| l.up),
        "links after noise: {:?}",
        b.links
    );
    // Every bad datagram counted once, under the right reason.
    let (u, u0) = (&b.links[udp_i], &base.links[udp_i]);
    assert_eq!(u.malformed - u0.malformed, RANDOM, "random datagrams");
    assert_eq!(u.bad_auth - u0.bad_auth, FORGED, "forged datagrams");
    let (s, s0) = (&b.links[ser_i], &base.links[ser_i]);
    assert_eq!(s.bad_auth - s0.bad_auth, 1, "the forged serial frame");
    assert!(s.malformed > s0.malformed, "the broken serial frames");
    assert_eq!(dc::running_on(&b, &key).as_deref(), Some("alpha"));
    assert_eq!(
        b.recent.iter().filter(|t| t.text.contains("dead")).count(),
        dead_before,
        "no one was declared dead: {:?}",
        b.recent
    );
    assert_eq!(p.c.probe_service().as_deref(), Some("alpha"));
    let out = hbd(&["status", "--run-dir", &p.run_dir(1)]);
    let human = text(&out.stdout);
    assert!(
        human.contains("malformed") && human.contains("bad_auth"),
        "{human}"
    );
}

#[test]
fn demo_shows_a_failover_and_a_failback_in_under_30s() {
    let _g = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("demo.out");
    let t = Instant::now();
    let mut child = Command::new(hbd_exe!())
        .arg("demo")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let status = dc::wait_for(Duration::from_secs(40), Duration::from_millis(100), || {
        child.try_wait().ok().flatten()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "hbd demo still running after 40s:\n{}",
            std::fs::read_to_string(&out_path).unwrap_or_default()
        );
    };
    let took = t.elapsed();
    let out = std::fs::read_to_string(&out_path).unwrap();
    eprintln!("{out}");
    assert!(status.success(), "hbd demo: {status}");
    assert!(took < Duration::from_secs(30), "hbd demo took {took:?}");
    assert!(out.contains("failover"), "no failover in the demo's output");
    assert!(out.contains("failback"), "no failback in the demo's output");
    assert!(out.contains("served by beta") && out.contains("served by alpha"));
    // The failback needs one negotiation round (about 0.2 s); a node that
    // forgets to say it is stable makes it wait RQSTDELAY, 10 s.
    let failback: f64 = out
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("failback")?;
            let secs = rest.rsplit("again after ").next()?;
            secs.trim().strip_suffix('s')?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no failback time in the demo's summary:\n{out}"));
    assert!(failback < 5.0, "failback took {failback}s:\n{out}");
}

#[test]
fn control_commands_without_a_daemon_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let rd = dir.path().display().to_string();
    let out = hbd(&["status", "--run-dir", &rd]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("hbd.sock") && err.contains("is hbd running?"),
        "{err}"
    );
    let out = hbd(&["cl_status", "hbstatus", "--run-dir", &rd]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(1), "Heartbeat is stopped on this machine.\n".into())
    );
    let out = hbd(&["cl_status", "nodestatus", "--run-dir", &rd]);
    assert_eq!(out.status.code(), Some(11), "missing node argument");
    let out = hbd(&["standby", "sideways", "--run-dir", &rd]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("all") && err.contains("local") && err.contains("foreign"),
        "{err}"
    );
    let out = hbd(&["takeover", "--run-dir", &rd]);
    assert_eq!(out.status.code(), Some(3));
}

/// `hbd standby --persistent` on alpha survives alpha's restart: with
/// auto_failback on, a plain standby ends with beta giving the service back
/// as soon as alpha returns from a crash; persistent, the service stays on
/// beta the whole time, alpha refuses a takeover, and `--clear` moves nothing
/// until a takeover brings it home.
#[test]
fn persistent_standby_survives_a_daemon_restart() {
    let _g = one_at_a_time();
    let mut p = pair(Spec::default(), false);
    let (a, key) = (p.run_dir(0), p.c.service_key());
    let record = p.c.nodes[0].state_dir.join("standby");

    let out = hbd(&["standby", "--persistent", "--run-dir", &a, "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("persistent standby [all] (recorded in"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(std::fs::read_to_string(&record).unwrap(), "all\n");
    p.wait_served_by("beta", Duration::from_secs(3));

    // alpha goes down hard (a reboot, say): beta declares it dead, and
    // without the record would give the service back (auto_failback on)
    // as soon as alpha returns. With it the service never leaves beta.
    p.daemon(0).kill9();
    p.wait_status(1, Duration::from_secs(5), "seeing alpha dead", |r| {
        r.peer.state == NodeState::Dead
    });
    p.start(0);
    let since = Instant::now();
    let mut served = BTreeMap::new();
    let back = dc::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        *served.entry(p.c.probe_service()).or_insert(0) += 1;
        let r = p.c.status(0).ok()?;
        (dc::both_active(&r) && r.persistent_standby == Some(hbd::core::HoldSet::All)).then_some(())
    });
    assert!(
        back.is_some(),
        "alpha did not come back: {:?}",
        p.c.status(0)
    );
    // Long enough for any failback (the pair's auto_failback is on) to run.
    while since.elapsed() < Duration::from_secs(6) {
        *served.entry(p.c.probe_service()).or_insert(0) += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        served.keys().cloned().collect::<Vec<_>>(),
        [Some("beta".to_string())],
        "the service must stay on beta after alpha's restart: {served:?}"
    );
    let r = p.status(1);
    assert_eq!(dc::running_on(&r, &key).as_deref(), Some("beta"));
    let human = text(&hbd(&["status", "--run-dir", &a]).stdout);
    assert!(
        human.contains("persistent standby [all]: beta runs these groups"),
        "{human}"
    );

    let out = hbd(&["takeover", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("persistent standby [all]; `hbd standby --clear` first"),
        "{}",
        text(&out.stderr)
    );

    let out = hbd(&["standby", "--clear", "--run-dir", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!record.exists(), "the record stays after --clear");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(p.c.probe_service().as_deref(), Some("beta"));
    let out = hbd(&["takeover", "--run-dir", &a, "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    p.wait_served_by("alpha", Duration::from_secs(3));
}
