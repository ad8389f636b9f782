//! `hbd run` with `[hbd] metrics` on: the loopback pair (alpha on 127.0.0.1,
//! beta on 127.0.0.2, a group homed on each), alpha's `/metrics` scraped over TCP while the
//! pair is healthy, after a garbage datagram, and after beta is killed and
//! declared dead. When `promtool` is installed (Debian package `prometheus`)
//! every scrape must pass `promtool check metrics`.

use hbd::control::SOCKET_NAME;
use hbd::demo::cluster::{free_tcp_port, wait_for, Spec, SERVICE_SCRIPT};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::hbd_exe;
use testkit::loopback::Pair;
use testkit::skip::Needs;

/// The loopback pair with deadtime 2 s, auto_failback off, a second group
/// homed on beta (another port of the demo service) and alpha serving
/// metrics on `metrics_port`. Returns it with beta's group key.
fn pair(metrics_port: u16) -> (Pair, String) {
    let spec = Spec {
        deadtime_ms: 2000,
        warntime_ms: 1000,
        initdead_ms: 2000,
        auto_failback: "off",
        ..Spec::default()
    };
    let p = Pair::new(spec, false, &hbd_exe!());
    let b_key = format!("{SERVICE_SCRIPT}::{}", free_tcp_port().unwrap());
    // [hbd] is the last table: alpha's metrics line goes there, then the
    // second group.
    let group = format!("\n[[group]]\nhome = \"beta\"\nresources = [\"{b_key}\"]\n");
    p.edit_config(0, |t| {
        t + &format!("metrics = \"{metrics_port}\"\n") + &group
    });
    p.edit_config(1, |t| t + &group);
    (p, b_key)
}

fn log_of(p: &Pair) -> String {
    p.c.log_text(0)
}

/// One HTTP request; the whole response (the server closes the connection).
fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(request.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The body of `GET /metrics`, after checking the status line and content type.
fn scrape(port: u16) -> std::io::Result<String> {
    let r = http(
        port,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n",
    )?;
    let (head, body) = r.split_once("\r\n\r\n").expect("no end of headers");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    Ok(body.to_string())
}

/// The value of the series written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().ok())?
    })
}

/// Scrapes until `ok` holds or `limit` passes; the last scrape.
fn scrape_until(port: u16, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(t) = scrape(port) {
            if ok(&t) {
                return t;
            }
            last = t;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

/// `promtool check metrics` must accept the scrape (lint warnings included:
/// it exits non-zero for those too).
fn promtool_accepts(text: &str) {
    if !Needs::new("metrics: the promtool check")
        .tool("promtool", "prometheus")
        .met()
    {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics failed: {}{}\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn metrics_follow_a_live_pair_through_a_peer_death() {
    let _turn = testkit::one_at_a_time();
    let port = free_tcp_port().unwrap();
    let (mut p, b_key) = pair(port);
    let udp = p.c.udpport;
    let a_key = p.c.service_key();
    let running =
        |key: &str, home: &str| format!("hbd_group_running{{group=\"{key}\",home=\"{home}\"}}");
    let (a_running, b_running) = (running(&a_key, "alpha"), running(&b_key, "beta"));
    // Started together: each takes its own group once they have negotiated
    // (heartbeat's 10 s start-up deadlock breaker at worst).
    p.start(0);
    p.start(1);

    // Healthy pair: both active, each running its own group, heartbeats counted.
    let t = scrape_until(port, Duration::from_secs(20), |t| {
        value(t, r#"hbd_node_state{node="beta",state="active"}"#) == Some(1.0)
            && value(t, &a_running) == Some(1.0)
            && value(t, "hbd_heartbeat_gap_seconds_count").unwrap_or(0.0) >= 5.0
    });
    let ctx = || format!("{t}\n--- alpha log\n{}", log_of(&p));
    assert_eq!(
        value(&t, r#"hbd_node_state{node="alpha",state="active"}"#),
        Some(1.0),
        "{}",
        ctx()
    );
    assert_eq!(
        value(&t, r#"hbd_node_state{node="beta",state="active"}"#),
        Some(1.0),
        "{}",
        ctx()
    );
    assert_eq!(
        value(&t, r#"hbd_link_up{link="lo",kind="ucast"}"#),
        Some(1.0)
    );
    assert!(value(&t, r#"hbd_link_last_heard_seconds{link="lo"}"#).unwrap() < 2.0);
    assert!(value(&t, r#"hbd_packets_received_total{link="lo"}"#).unwrap() >= 5.0);
    assert!(value(&t, r#"hbd_packets_sent_total{link="lo"}"#).unwrap() >= 5.0);
    assert_eq!(value(&t, &b_running), Some(0.0));
    assert_eq!(
        value(&t, r#"hbd_takeovers_total{reason="peer_dead"}"#),
        Some(0.0)
    );
    // Keepalive 200ms: nearly every gap sits in the buckets around 1x keepalive.
    let count = value(&t, "hbd_heartbeat_gap_seconds_count").unwrap();
    let under_deadtime = value(&t, r#"hbd_heartbeat_gap_seconds_bucket{le="2"}"#).unwrap();
    assert_eq!(under_deadtime, count, "{t}");
    assert!(value(&t, "hbd_generation").unwrap() >= 1.0);
    assert!(value(&t, "hbd_uptime_seconds").unwrap() > 0.0);
    assert_eq!(value(&t, "hbd_deadtime_seconds"), Some(2.0));
    assert!(
        value(
            &t,
            r#"hbd_resource_step_duration_seconds_count{action="start"}"#
        )
        .unwrap()
            >= 1.0
    );
    promtool_accepts(&t);

    // A garbage datagram on alpha's port: rejected as malformed, by link.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    junk.send_to(b"not a heartbeat", ("127.0.0.1", udp))
        .unwrap();
    let t = scrape_until(port, Duration::from_secs(5), |t| {
        value(
            t,
            r#"hbd_packets_rejected_total{link="lo",reason="malformed"}"#,
        ) == Some(1.0)
    });
    assert_eq!(
        value(
            &t,
            r#"hbd_packets_rejected_total{link="lo",reason="malformed"}"#
        ),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        value(&t, r#"hbd_packets_malformed_total{link="lo"}"#),
        Some(1.0)
    );

    // Beta dies without a word: after deadtime alpha takes beta's group,
    // reason peer_dead.
    p.daemon(1).kill9();
    let t = scrape_until(port, Duration::from_secs(15), |t| {
        value(t, &b_running) == Some(1.0)
    });
    let ctx = || format!("{t}\n--- alpha log\n{}", log_of(&p));
    assert_eq!(value(&t, &b_running), Some(1.0), "{}", ctx());
    assert_eq!(
        value(&t, r#"hbd_takeovers_total{reason="peer_dead"}"#),
        Some(1.0),
        "{}",
        ctx()
    );
    assert_eq!(
        value(&t, r#"hbd_node_state{node="beta",state="dead"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&t, r#"hbd_link_up{link="lo",kind="ucast"}"#),
        Some(0.0)
    );
    // Dead time counts from the last status message (the link may have
    // carried a later non-status message, so its own figure can be smaller).
    assert!(
        value(&t, r#"hbd_peer_last_heard_seconds{node="beta"}"#).unwrap() >= 2.0,
        "{t}"
    );
    assert!(value(&t, r#"hbd_link_last_heard_seconds{link="lo"}"#).is_some());
    assert_eq!(
        value(&t, r#"hbd_resource_failures_total{action="start"}"#),
        Some(0.0)
    );
    promtool_accepts(&t);

    // Anything but GET /metrics is refused, and the daemon keeps serving.
    let nf = http(port, "GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(nf.starts_with("HTTP/1.1 404 "), "{nf}");
    let bad = http(port, "HELLO\r\n\r\n").unwrap();
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    assert!(scrape(port).is_ok());
}

#[test]
fn a_taken_metrics_port_refuses_the_start() {
    let _turn = testkit::one_at_a_time();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (mut p, _) = pair(port);
    let d = p.start(0);
    let status = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        d.exited()
    })
    .unwrap_or_else(|| panic!("hbd kept running: {}", p.c.log_text(0)));
    assert_eq!(status.code(), Some(1));
    let log = p.c.log_text(0);
    assert!(
        log.contains(&format!("metrics: cannot listen on 127.0.0.1:{port}")),
        "{log}"
    );
    assert!(log.contains("not starting"), "{log}");
    // Refused before the control socket exists: nothing left behind.
    assert!(!p.c.nodes[0].run_dir.join(SOCKET_NAME).exists());
    drop(taken);
}
