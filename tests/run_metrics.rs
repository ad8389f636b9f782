//! `hbd run` with `[hbd] metrics` on: two real daemons on loopback (alpha on
//! 127.0.0.1, beta on 127.0.0.2), alpha's `/metrics` scraped over TCP while the
//! pair is healthy, after a garbage datagram, and after beta is killed and
//! declared dead. When `promtool` is installed (Debian package `prometheus`)
//! every scrape must pass `promtool check metrics`.

use hbd::demo::cluster::{wait_for, Daemon};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::skip::Needs;

fn free_udp_port() -> u16 {
    hbd::demo::cluster::free_udp_port().unwrap()
}

fn free_tcp_port() -> u16 {
    hbd::demo::cluster::free_tcp_port().unwrap()
}

/// One node's hbd.toml directory: a ucast link to `peer`, group `ok::a` homed
/// on alpha and `ok::b` on beta; the `ok` script keeps a state file per arg.
fn write_dir(dir: &Path, udpport: u16, peer: &str, metrics: Option<u16>) {
    let metrics = metrics
        .map(|p| format!("\n[hbd]\nmetrics = \"{p}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("hbd.toml"),
        format!(
            r#"nodes = ["alpha", "beta"]
keepalive = "200ms"
deadtime = "2s"
warntime = "1s"
initdead = "2s"
udpport = {udpport}
auto_failback = "off"
realtime = false

[[media]]
type = "ucast"
dev = "lo"
peer = "{peer}"

[auth]
authkeys = "authkeys"

[[group]]
home = "alpha"
resources = ["ok::a"]

[[group]]
home = "beta"
resources = ["ok::b"]
{metrics}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 test-secret\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let rd = dir.join("resource.d");
    std::fs::create_dir_all(&rd).unwrap();
    std::fs::write(
        rd.join("ok"),
        format!(
            "#!/bin/sh\nst={d}/$1.state\ncase \"$2\" in\n start) touch $st ;;\n stop) rm -f $st ;;\n\
             status) [ -f $st ] && echo running || echo stopped ;;\nesac\nexit 0\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(rd.join("ok"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start(dir: &Path, node: &str, bind: &str) -> Daemon {
    let log = std::fs::File::create(dir.join("hbd.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hbd"));
    cmd.args(["run", "--node", node, "--bind", bind, "-c"])
        .arg(dir)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--run-dir")
        .arg(dir.join("run"))
        .env_remove("NOTIFY_SOCKET")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Daemon::spawn(node, &mut cmd).unwrap()
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("hbd.log")).unwrap_or_default()
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
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let udp = free_udp_port();
    let port = free_tcp_port();
    write_dir(a.path(), udp, "127.0.0.2", Some(port));
    write_dir(b.path(), udp, "127.0.0.1", None);
    let _alpha = start(a.path(), "alpha", "127.0.0.1");
    let mut beta = start(b.path(), "beta", "127.0.0.2");

    // Healthy pair: both active, each running its own group, heartbeats counted.
    let t = scrape_until(port, Duration::from_secs(20), |t| {
        value(t, r#"hbd_node_state{node="beta",state="active"}"#) == Some(1.0)
            && value(t, r#"hbd_group_running{group="ok::a",home="alpha"}"#) == Some(1.0)
            && value(t, "hbd_heartbeat_gap_seconds_count").unwrap_or(0.0) >= 5.0
    });
    let ctx = || format!("{t}\n--- alpha log\n{}", log_of(a.path()));
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
    assert_eq!(
        value(&t, r#"hbd_group_running{group="ok::b",home="beta"}"#),
        Some(0.0)
    );
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

    // Beta dies without a word: after deadtime alpha takes ok::b, reason peer_dead.
    beta.kill9();
    let t = scrape_until(port, Duration::from_secs(15), |t| {
        value(t, r#"hbd_group_running{group="ok::b",home="beta"}"#) == Some(1.0)
    });
    let ctx = || format!("{t}\n--- alpha log\n{}", log_of(a.path()));
    assert_eq!(
        value(&t, r#"hbd_group_running{group="ok::b",home="beta"}"#),
        Some(1.0),
        "{}",
        ctx()
    );
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
    let a = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    write_dir(a.path(), free_udp_port(), "127.0.0.2", Some(port));
    let mut d = start(a.path(), "alpha", "127.0.0.1");
    let status = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        d.exited()
    })
    .unwrap_or_else(|| panic!("hbd kept running: {}", log_of(a.path())));
    assert_eq!(status.code(), Some(1));
    let log = log_of(a.path());
    assert!(
        log.contains(&format!("metrics: cannot listen on 127.0.0.1:{port}")),
        "{log}"
    );
    assert!(log.contains("not starting"), "{log}");
    // Refused before the control socket exists: nothing left behind.
    assert!(!a.path().join("run/hbd.sock").exists());
    drop(taken);
}
