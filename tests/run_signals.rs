//! `hbd run` as a real process driven by signals: SIGHUP reloads all or nothing,
//! SIGTERM shuts down gracefully (resources stopped right to left, exit 0), a
//! second SIGTERM within a second of the first (GNU timeout sends two) is
//! ignored, a later one exits at once; heartbeat's watchdog is fed while the core
//! runs and disarmed only by a clean stop.

use hbd::control::{StatusReport, SOCKET_NAME};
use hbd::core::GroupState;
use hbd::demo::cluster::Daemon;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::skip::Needs;

/// `hbd run` for alpha alone, with its run dir and log.
struct Alpha {
    d: Daemon,
    run: PathBuf,
    log: PathBuf,
}

impl Alpha {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.d.pid().expect("alpha runs") as i32)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn status(&self) -> StatusReport {
        hbd::demo::cluster::status(&self.run).unwrap()
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        hbd::demo::wait_for(limit, Duration::from_millis(20), || self.d.exited())
    }
}

fn free_udp_port() -> u16 {
    hbd::demo::cluster::free_udp_port().unwrap()
}

/// An ha.d for node alpha on 127.0.0.1 (nobody plays beta): one group of two
/// resources whose script records every call in `calls`.
fn write_had(dir: &Path, port: u16, keepalive: &str, extra: &str) {
    std::fs::write(
        dir.join("ha.cf"),
        format!(
            "node alpha\nnode beta\nkeepalive {keepalive}\ndeadtime 2\nwarntime 1\ninitdead 2\n\
             udpport {port}\nucast lo 127.0.0.2\nauto_failback off\nrealtime off\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("haresources"), "alpha rec::one rec::two\n").unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 test-secret\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let rd = dir.join("resource.d");
    std::fs::create_dir_all(&rd).unwrap();
    let calls = dir.join("calls");
    let script = rd.join("rec");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# A resource that remembers it runs in a state file per argument.\n\
             echo \"$1 $2 HA_CURHOST=$HA_CURHOST\" >> {calls}\n\
             st={dir}/state.$1\n\
             case \"$2\" in\n start) touch $st ;;\n stop) rm -f $st ;;\n\
             status) [ -f $st ] && echo running || echo stopped ;;\nesac\nexit 0\n",
            calls = calls.display(),
            dir = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start(dir: &Path) -> Alpha {
    let log = dir.join("hbd.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hbd"));
    cmd.args(["run", "--node", "alpha", "--bind", "127.0.0.1", "-c"])
        .arg(dir)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--run-dir")
        .arg(dir.join("run"))
        .env("HBD_LOG", "debug")
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut a = Alpha {
        d: Daemon::spawn("alpha", &mut cmd).unwrap(),
        run: dir.join("run"),
        log,
    };
    let sock = a.run.join(SOCKET_NAME);
    let up = hbd::demo::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        if let Some(st) = a.d.exited() {
            panic!("hbd run exited ({st}):\n{}", a.log());
        }
        sock.exists().then_some(())
    });
    assert!(up.is_some(), "no control socket:\n{}", a.log());
    a
}

/// Whether `f` holds within `limit` (polled every 25 ms).
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    hbd::demo::wait_for(limit, Duration::from_millis(25), || f().then_some(())).is_some()
}

#[test]
fn sighup_reloads_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    write_had(d.path(), port, "200ms", "");
    let h = start(d.path());
    assert_eq!(h.status().keepalive_ms, 200);
    let sent_before = h.status().links[0].sent;

    write_had(d.path(), port, "300ms", "");
    kill(h.pid(), Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || h.status().keepalive_ms == 300),
        "good reload not applied:\n{}",
        h.log()
    );

    write_had(d.path(), port, "300ms", "deadtime 3O\n");
    kill(h.pid(), Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || h
            .log()
            .contains("keeping the running configuration")),
        "{}",
        h.log()
    );
    let log = h.log();
    assert!(
        log.contains("ha.cf:"),
        "the error names the file and line:\n{log}"
    );
    assert_eq!(h.status().keepalive_ms, 300);
    // Still heartbeating on the same link.
    assert!(
        wait_for(Duration::from_secs(3), || h.status().links[0].sent
            > sent_before + 2),
        "{:?}\n{}",
        h.status().links[0],
        h.log()
    );
}

#[test]
fn sigterm_stops_resources_right_to_left_and_exits_0() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    write_had(d.path(), port, "200ms", "");
    let mut h = start(d.path());
    let calls = d.path().join("calls");
    // Alone, alpha takes its group after initdead.
    assert!(
        wait_for(Duration::from_secs(15), || {
            std::fs::read_to_string(&calls)
                .unwrap_or_default()
                .contains("two start")
        }),
        "group never started:\n{}",
        h.log()
    );
    assert!(wait_for(Duration::from_secs(5), || h.status().groups[0]
        .state
        == GroupState::Running));
    let before = std::fs::read_to_string(&calls).unwrap();
    assert!(
        before.lines().all(|l| l.ends_with("HA_CURHOST=alpha")),
        "{before}"
    );

    kill(h.pid(), Signal::SIGTERM).unwrap();
    let st = h.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "exit {st:?}:\n{}", h.log());
    let after = std::fs::read_to_string(&calls).unwrap();
    let stops: Vec<&str> = after[before.len()..]
        .lines()
        .filter(|l| l.contains(" stop "))
        .collect();
    assert_eq!(
        stops,
        vec!["two stop HA_CURHOST=alpha", "one stop HA_CURHOST=alpha"],
        "{after}"
    );
    assert!(
        !h.run.join(SOCKET_NAME).exists(),
        "control socket left behind"
    );
    assert!(h.log().contains("shutdown complete"), "{}", h.log());
}

/// A group whose `two` stop takes `stop_secs` (and whose starts are instant).
fn write_slow_stop(dir: &Path, stop_secs: &str) {
    let calls = dir.join("calls");
    std::fs::write(
        dir.join("resource.d").join("rec"),
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> {calls}\ncase \"$1 $2\" in\n *start) exit 0 ;;\n \
             \"two stop\") sleep {stop_secs} ;;\n *status) echo stopped ;;\nesac\nexit 0\n",
            calls = calls.display()
        ),
    )
    .unwrap();
}

/// alpha with its group running and a `two` stop of `stop_secs`, sent a
/// SIGTERM: returns once the daemon has logged taking it.
fn stopping_slowly(dir: &Path, stop_secs: &str) -> Alpha {
    write_had(dir, free_udp_port(), "200ms", "");
    write_slow_stop(dir, stop_secs);
    let h = start(dir);
    assert!(
        wait_for(Duration::from_secs(15), || h.status().groups[0].state
            == GroupState::Running),
        "{}",
        h.log()
    );
    kill(h.pid(), Signal::SIGTERM).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || h
            .log()
            .contains("SIGTERM received")),
        "{}",
        h.log()
    );
    h
}

#[test]
fn second_sigterm_after_a_second_exits_at_once() {
    let d = tempfile::tempdir().unwrap();
    // A stop that hangs: the first SIGTERM waits for it, the second does not.
    let mut h = stopping_slowly(d.path(), "30");
    // The daemon took the first one no later than now: the second, sent more
    // than a second after this, is an operator insisting.
    let first_seen = Instant::now();
    assert!(wait_for(Duration::from_secs(5), || h
        .log()
        .contains("rec two stop")));
    let insist_at = first_seen + Duration::from_millis(1_200);
    assert!(
        h.wait_exit(insist_at.saturating_duration_since(Instant::now()))
            .is_none(),
        "exited during a stop"
    );
    kill(h.pid(), Signal::SIGTERM).unwrap();
    let st = h.wait_exit(Duration::from_secs(3));
    assert_eq!(st.and_then(|s| s.code()), Some(1), "{}", h.log());
    assert!(h.log().contains("second SIGTERM"), "{}", h.log());
}

/// A second SIGTERM right after the first (as soon as the daemon says it
/// took the first) is logged as ignored, and the graceful stop completes.
#[test]
fn a_second_sigterm_within_a_second_is_ignored_and_logged() {
    let d = tempfile::tempdir().unwrap();
    let mut h = stopping_slowly(d.path(), "0.5");
    kill(h.pid(), Signal::SIGTERM).unwrap();
    let st = h.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "exit {st:?}:\n{}", h.log());
    let log = h.log();
    assert!(
        log.contains("ms after SIGTERM: ignored, the graceful stop goes on"),
        "{log}"
    );
    assert!(log.contains("shutdown complete"), "{log}");
    let calls = std::fs::read_to_string(d.path().join("calls")).unwrap();
    let stops: Vec<&str> = calls.lines().filter(|l| l.ends_with(" stop")).collect();
    assert_eq!(stops, ["two stop", "one stop"], "{calls}");
}

/// GNU timeout, told to stop, signals its child and then its own process
/// group: hbd gets SIGTERM twice within microseconds. The second must not
/// abandon the graceful stop (heartbeat's users wrap it in timeout, and
/// systemd's KillMode=mixed does not, so only a wrapper shows it).
#[test]
fn sigterm_twice_from_gnu_timeout_still_stops_gracefully() {
    if !Needs::new("sigterm_twice_from_gnu_timeout_still_stops_gracefully")
        .tool("timeout", "coreutils")
        .met()
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    write_had(d.path(), port, "200ms", "");
    // Slow enough that both signals arrive while `two` is still stopping.
    write_slow_stop(d.path(), "0.5");
    let log = d.path().join("hbd.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("timeout");
    cmd.arg("600")
        .arg(env!("CARGO_BIN_EXE_hbd"))
        .args(["run", "--node", "alpha", "--bind", "127.0.0.1", "-c"])
        .arg(d.path())
        .arg("--state-dir")
        .arg(d.path().join("state"))
        .arg("--run-dir")
        .arg(d.path().join("run"))
        .env("HBD_LOG", "debug")
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut wrapper = Daemon::spawn("timeout", &mut cmd).unwrap();
    let run = d.path().join("run");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let running = wait_for(Duration::from_secs(20), || {
        hbd::demo::cluster::status(&run).is_ok_and(|st| st.groups[0].state == GroupState::Running)
    });
    // Whatever happens next, the daemon under timeout goes away with the test.
    let hbd_pid = hbd::demo::cluster::status(&run).map(|st| st.pid);
    struct KillOnDrop(Option<u32>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(p) = self.0 {
                let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
            }
        }
    }
    let _hbd = KillOnDrop(hbd_pid.as_ref().ok().copied());
    assert!(running, "group never started:\n{}", read_log());
    assert_ne!(
        hbd_pid.as_ref().ok(),
        wrapper.pid().as_ref(),
        "not under timeout"
    );

    wrapper.signal(Signal::SIGTERM).unwrap();
    let st = hbd::demo::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        wrapper.exited()
    });
    let log_text = read_log();
    // timeout exits with its child's status: hbd's graceful 0. (The two
    // signals may also reach hbd as one: the kernel and tokio coalesce a
    // signal that arrives while the same one is pending.)
    assert!(st.is_some_and(|s| s.success()), "exit {st:?}:\n{log_text}");
    eprintln!(
        "second SIGTERM {}",
        if log_text.contains("ms after SIGTERM: ignored") {
            "seen and ignored"
        } else {
            "coalesced with the first"
        }
    );
    assert!(log_text.contains("shutdown complete"), "{log_text}");
    let calls = std::fs::read_to_string(d.path().join("calls")).unwrap();
    let stops: Vec<&str> = calls.lines().filter(|l| l.ends_with(" stop")).collect();
    assert_eq!(stops, ["two stop", "one stop"], "{calls}");
}

/// Waits for one datagram on `sock` and says whether it looks like a heartbeat
/// `status` from alpha (netstring, signed).
fn hears_alpha(sock: &std::net::UdpSocket) -> bool {
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.starts_with("###") && text.contains("src=alpha") {
                return true;
            }
        }
    }
    false
}

#[test]
fn sighup_with_changed_media_reopens_the_links() {
    let d = tempfile::tempdir().unwrap();
    // The test plays beta's socket on 127.0.0.2 to see what alpha sends.
    let beta1 = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let port1 = beta1.local_addr().unwrap().port();
    write_had(d.path(), port1, "200ms", "");
    let h = start(d.path());
    assert!(hears_alpha(&beta1), "nothing on port {port1}:\n{}", h.log());

    let beta2 = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let port2 = beta2.local_addr().unwrap().port();
    write_had(d.path(), port2, "200ms", "");
    kill(h.pid(), Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || h
            .log()
            .contains("links reopened")),
        "{}",
        h.log()
    );
    assert!(
        hears_alpha(&beta2),
        "nothing on new port {port2}:\n{}",
        h.log()
    );
    // And it now listens on the new port: garbage there is counted.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    junk.send_to(b"junk", ("127.0.0.1", port2)).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || h.status().links[0].malformed
            == 1),
        "{:?}",
        h.status().links[0]
    );
    // Nothing goes to the old port any more.
    beta1
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while beta1.recv(&mut buf).is_ok() {}
    beta1
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert!(
        beta1.recv(&mut buf).is_err(),
        "still sending to the old port"
    );
}

/// Field 41 of /proc/PID/stat: the scheduling policy (0 normal, 1 FIFO).
fn policy(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = s.rsplit_once(')')?.1;
    // Fields after the command start at field 3.
    after.split_whitespace().nth(41 - 3)?.parse().ok()
}

#[test]
fn realtime_on_gives_fifo_and_locked_memory_but_not_to_scripts() {
    let d = tempfile::tempdir().unwrap();
    write_had(d.path(), free_udp_port(), "200ms", "realtime on\n");
    let rd = d.path().join("resource.d");
    let seen = d.path().join("script-policy");
    std::fs::write(
        rd.join("rec"),
        format!(
            "#!/bin/sh\nawk '{{print $41}}' /proc/$$/stat > {}\ncase \"$2\" in status) echo stopped ;; esac\nexit 0\n",
            seen.display()
        ),
    )
    .unwrap();
    let h = start(d.path());
    let pid = h.d.pid().unwrap();
    if !Needs::new("realtime_on_gives_fifo_and_locked_memory_but_not_to_scripts")
        .root("SCHED_FIFO and locked memory")
        .met()
    {
        // What can be checked without root: the fallback warning.
        assert!(
            wait_for(Duration::from_secs(3), || h
                .log()
                .contains("realtime: cannot set SCHED_FIFO")),
            "{}",
            h.log()
        );
        return;
    }
    assert_eq!(policy(pid), Some(1), "daemon not SCHED_FIFO:\n{}", h.log());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    assert!(locked > 0, "no locked memory:\n{status}");
    // Alone, alpha runs its group after initdead: the script reports its policy.
    assert!(
        // Not just created by the redirection: written.
        wait_for(Duration::from_secs(15), || std::fs::read_to_string(&seen)
            .is_ok_and(|t| t.ends_with('\n'))),
        "{}",
        h.log()
    );
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().trim(),
        "0",
        "scripts must not inherit SCHED_FIFO"
    );
}

#[test]
fn a_flood_of_garbage_does_not_delay_heartbeats() {
    let d = tempfile::tempdir().unwrap();
    let beta = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let port = beta.local_addr().unwrap().port();
    write_had(d.path(), port, "200ms", "");
    let h = start(d.path());
    assert!(hears_alpha(&beta));
    let flooder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    flooder.set_nonblocking(true).unwrap();
    let before = h.status().links[0].sent;
    // Bounded: 3 s, bursts of 100 every millisecond at most (300k datagrams).
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_secs(3) && n < 300_000 {
        for _ in 0..100 {
            if flooder
                .send_to(b">>>\nt=status\n<<<\n", ("127.0.0.1", port))
                .is_ok()
            {
                n += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = t.elapsed();
    let st = h.status();
    let sent = st.links[0].sent - before;
    // keepalive 200ms: about 15 in 3 s; a starved timer would send next to none.
    let expected = elapsed.as_millis() as u64 / 200;
    assert!(
        sent + 3 >= expected,
        "only {sent} heartbeats in {elapsed:?} under a flood of {n} datagrams (expected ~{expected})"
    );
    assert!(
        st.links[0].malformed + st.links[0].bad_auth > 1000,
        "{:?}",
        st.links[0]
    );
    // The log stays readable: one line per reason per 10 s.
    let drops = h.log().lines().filter(|l| l.contains("dropped")).count();
    assert!(drops <= 2, "{drops} drop lines:\n{}", h.log());
}

#[test]
fn sigusr1_and_sigusr2_step_the_log_level() {
    let d = tempfile::tempdir().unwrap();
    write_had(d.path(), free_udp_port(), "200ms", "");
    let h = start(d.path()); // HBD_LOG=debug
    assert!(!h.log().contains(" trace: "));
    kill(h.pid(), Signal::SIGUSR1).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || h
            .log()
            .contains("log level now TRACE (SIGUSR1)")),
        "{}",
        h.log()
    );
    // Every heartbeat sent is a trace line.
    assert!(wait_for(Duration::from_secs(3), || h
        .log()
        .contains(" trace: send t=status")));
    // One at a time: two pending signals of a kind are delivered as one.
    for want in ["DEBUG", "INFO"] {
        kill(h.pid(), Signal::SIGUSR2).unwrap();
        let line = format!("log level now {want} (SIGUSR2)");
        assert!(
            wait_for(Duration::from_secs(3), || h.log().contains(&line)),
            "{}",
            h.log()
        );
    }
}

/// The file a fake watchdog device writes to, as (feeds, ends with the magic
/// close): every byte before a final `V` must be a feed (`\0`).
fn watchdog_bytes(path: &Path) -> (usize, bool) {
    let b = std::fs::read(path).unwrap();
    let magic = b.last() == Some(&b'V');
    let feeds = &b[..b.len() - usize::from(magic)];
    assert!(feeds.iter().all(|&x| x == 0), "not a feed: {b:?}");
    (feeds.len(), magic)
}

/// heartbeat's `watchdog DEVICE` with a plain file as the device (no timeout
/// can be set on it; hbd says so and goes on): fed about once per keepalive
/// while the core sends its heartbeats, not at all while the process is
/// stopped (a stall), again once it runs, and closed with the magic `V` only
/// by a clean stop. A kill -9 leaves it armed: the kernel would reset the
/// machine, which is the point.
#[test]
fn watchdog_is_fed_while_the_core_runs_and_disarmed_only_by_a_clean_stop() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let wd = d.path().join("watchdog");
    std::fs::write(&wd, b"").unwrap();
    write_had(
        d.path(),
        port,
        "200ms",
        &format!("watchdog {}\n", wd.display()),
    );
    let mut h = start(d.path());
    assert!(
        wait_for(Duration::from_secs(5), || h.log().contains("watchdog")),
        "{}",
        h.log()
    );
    assert!(
        h.log()
            .contains("armed, but its timeout cannot be set to 3s"),
        "{}",
        h.log()
    );
    // Fed about every keepalive (200 ms): 2 s bring 10, give or take load.
    let (before, _) = watchdog_bytes(&wd);
    let t0 = Instant::now();
    let mut last_growth = (t0, before);
    let mut longest_gap = Duration::ZERO;
    while t0.elapsed() < Duration::from_secs(2) {
        let (n, magic) = watchdog_bytes(&wd);
        assert!(!magic, "disarmed while running");
        if n != last_growth.1 {
            longest_gap = longest_gap.max(last_growth.0.elapsed());
            last_growth = (Instant::now(), n);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let fed = last_growth.1 - before;
    // Wide bounds: a loaded 2-core machine delays the loop, never by seconds.
    assert!(
        (4..=20).contains(&fed),
        "{fed} feeds in 2 s at keepalive 200ms"
    );
    assert!(
        longest_gap < Duration::from_millis(1500),
        "a gap of {longest_gap:?}"
    );

    // A stall: nothing feeds it while the process is stopped.
    kill(h.pid(), Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (stopped_at, _) = watchdog_bytes(&wd);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(watchdog_bytes(&wd).0, stopped_at, "fed while stopped");
    kill(h.pid(), Signal::SIGCONT).unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || watchdog_bytes(&wd).0
            > stopped_at),
        "not fed again after the stall:\n{}",
        h.log()
    );

    kill(h.pid(), Signal::SIGTERM).unwrap();
    let st = h.wait_exit(Duration::from_secs(10));
    assert!(st.is_some_and(|s| s.success()), "exit {st:?}:\n{}", h.log());
    let (_, magic) = watchdog_bytes(&wd);
    assert!(magic, "no magic close after a clean stop:\n{}", h.log());
    assert!(h.log().contains("disarmed (clean stop)"), "{}", h.log());

    // kill -9: left armed.
    std::fs::write(&wd, b"").unwrap();
    let mut h = start(d.path());
    assert!(
        wait_for(Duration::from_secs(5), || watchdog_bytes(&wd).0 >= 2),
        "{}",
        h.log()
    );
    h.d.kill9();
    assert!(!watchdog_bytes(&wd).1, "disarmed by a kill -9");
}

/// A watchdog device that cannot be opened refuses the start (the operator
/// asked for self-fencing), naming it.
#[test]
fn a_missing_watchdog_device_refuses_the_start() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let wd = d.path().join("no-such-watchdog");
    write_had(
        d.path(),
        port,
        "200ms",
        &format!("watchdog {}\n", wd.display()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_hbd"))
        .args(["run", "--node", "alpha", "--bind", "127.0.0.1", "-c"])
        .arg(d.path())
        .arg("--state-dir")
        .arg(d.path().join("state"))
        .arg("--run-dir")
        .arg(d.path().join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Refused by the on-node facts before anything opens (opening a real
    // device would arm it), with the file:line, the directive and the remedy.
    assert!(
        err.contains(&format!(
            "ha.cf:11: watchdog: {} does not exist (for softdog: modprobe softdog)",
            wd.display()
        )),
        "{err}"
    );
    assert!(err.contains("not starting"), "{err}");
    assert!(!d.path().join("run").join(SOCKET_NAME).exists());
}
