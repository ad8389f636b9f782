//! `hbd run` under a stand-in for systemd: the test binds the `$NOTIFY_SOCKET`
//! datagram socket itself and checks what a `Type=notify` unit would be told:
//! STATUS lines, READY=1 once the startup decision is made, WATCHDOG=1 pings
//! when `$WATCHDOG_USEC` is set, STOPPING=1 on SIGTERM.

use hbd::demo::cluster::{wait_for, Daemon};
use nix::sys::signal::Signal;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn free_udp_port() -> u16 {
    hbd::demo::cluster::free_udp_port().unwrap()
}

/// Node alpha alone on loopback: after initdead (2s) it declares beta dead,
/// takes its one group and is `active`.
fn write_had(dir: &Path, port: u16) {
    std::fs::write(
        dir.join("ha.cf"),
        format!(
            "node alpha\nnode beta\nkeepalive 500ms\ndeadtime 2\nwarntime 1\ninitdead 2\n\
             udpport {port}\nucast lo 127.0.0.2\nauto_failback off\nrealtime off\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("haresources"), "alpha ok\n").unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 test-secret\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let rd = dir.join("resource.d");
    std::fs::create_dir_all(&rd).unwrap();
    let st = dir.join("ok.state");
    std::fs::write(
        rd.join("ok"),
        format!(
            "#!/bin/sh\ncase \"$1\" in\n start) touch {st} ;;\n stop) rm -f {st} ;;\n\
             status) [ -f {st} ] && echo running || echo stopped ;;\nesac\nexit 0\n",
            st = st.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(rd.join("ok"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start(dir: &Path, notify_socket: &str, watchdog_usec: Option<&str>) -> Daemon {
    let log = std::fs::File::create(dir.join("hbd.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hbd"));
    cmd.args(["run", "--node", "alpha", "--bind", "127.0.0.1", "-c"])
        .arg(dir)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--run-dir")
        .arg(dir.join("run"))
        .env("NOTIFY_SOCKET", notify_socket)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if let Some(us) = watchdog_usec {
        cmd.env("WATCHDOG_USEC", us);
    }
    Daemon::spawn("alpha", &mut cmd).unwrap()
}

/// Every datagram received until `done` says stop or `limit` passes.
fn collect(
    sock: &UnixDatagram,
    limit: Duration,
    mut done: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !done(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            for line in String::from_utf8_lossy(&buf[..n]).lines() {
                got.push(line.to_string());
            }
        }
    }
    got
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("hbd.log")).unwrap_or_default()
}

#[test]
fn under_systemd_hbd_reports_status_ready_watchdog_and_stopping() {
    let _turn = testkit::one_at_a_time();
    let d = tempfile::tempdir().unwrap();
    write_had(d.path(), free_udp_port());
    let path = d.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut daemon = start(d.path(), path.to_str().unwrap(), Some("400000"));

    let got = collect(&sock, Duration::from_secs(20), |g| {
        g.iter().any(|l| l == "READY=1") && g.iter().filter(|l| *l == "WATCHDOG=1").count() >= 3
    });
    let ready = got.iter().position(|l| l == "READY=1");
    assert!(
        ready.is_some(),
        "no READY=1 within 20s; got {got:?}\n{}",
        log_of(d.path())
    );
    assert!(
        got.iter().filter(|l| *l == "WATCHDOG=1").count() >= 3,
        "watchdog pings missing (WATCHDOG_USEC=400000); got {got:?}"
    );
    // The startup decision comes before READY: the first status said we
    // were still `up`, and the one sent with READY says `active`.
    let statuses: Vec<&String> = got.iter().filter(|l| l.starts_with("STATUS=")).collect();
    assert!(
        statuses
            .first()
            .is_some_and(|s| s.starts_with("STATUS=alpha up, peer beta")),
        "{got:?}"
    );
    let before_ready = got[..ready.unwrap()]
        .iter()
        .rev()
        .find(|l| l.starts_with("STATUS="))
        .unwrap();
    assert!(
        before_ready.starts_with("STATUS=alpha active, peer beta dead; 0/1 links up;"),
        "{before_ready}"
    );
    // Then the group is taken over and the line says so.
    let more = collect(&sock, Duration::from_secs(10), |g| {
        g.iter()
            .any(|l| l.starts_with("STATUS=") && l.ends_with("1/1 resource groups here"))
    });
    assert!(
        more.iter()
            .any(|l| l.starts_with("STATUS=") && l.ends_with("1/1 resource groups here")),
        "{more:?}\n{}",
        log_of(d.path())
    );

    daemon.signal(Signal::SIGTERM).unwrap();
    let end = collect(&sock, Duration::from_secs(10), |g| {
        g.iter().any(|l| l == "STOPPING=1")
    });
    assert!(end.iter().any(|l| l == "STOPPING=1"), "{end:?}");
    let status = wait_for(Duration::from_secs(15), Duration::from_millis(50), || {
        daemon.exited()
    })
    .expect("hbd did not exit after SIGTERM");
    assert!(status.success(), "{status}\n{}", log_of(d.path()));
}

#[test]
fn abstract_notify_socket_gets_ready_and_no_watchdog_without_watchdog_usec() {
    use std::os::linux::net::SocketAddrExt;
    let _turn = testkit::one_at_a_time();
    let d = tempfile::tempdir().unwrap();
    write_had(d.path(), free_udp_port());
    let name = format!("hbd-notify-test-{}", std::process::id());
    let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
    let _daemon = start(d.path(), &format!("@{name}"), None);

    let got = collect(&sock, Duration::from_secs(20), |g| {
        g.iter().any(|l| l == "READY=1")
    });
    assert!(
        got.iter().any(|l| l == "READY=1"),
        "{got:?}\n{}",
        log_of(d.path())
    );
    // A second long enough for several pings had a watchdog been asked for.
    let after = collect(&sock, Duration::from_secs(1), |_| false);
    assert!(
        !got.iter().chain(&after).any(|l| l == "WATCHDOG=1"),
        "{got:?} {after:?}"
    );
}
