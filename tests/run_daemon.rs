//! Single-daemon behaviours of `hbd run`: the instance lock, refusing a bad
//! config, and garbage on a link counted and ignored. Multi-daemon failover
//! tests live in tests/daemon*.rs.

use hbd::config::{Auth, AuthKey, AuthMethod, Config, Medium, Secret};
use hbd::control::{Request, Response};
use hbd::core::HoldSet;
use hbd::shell::daemon::{self, Prepared, RunOptions, Sig};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

fn hbd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hbd"))
}

fn write_bad_had(dir: &Path) {
    std::fs::write(
        dir.join("ha.cf"),
        "node alpha beta\nudpport 7\ndeadtime 3O\nucast lo 127.0.0.2\n",
    )
    .unwrap();
    std::fs::write(dir.join("haresources"), "alpha Dummy\n").unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn second_instance_on_one_state_dir_is_refused_naming_the_holder() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    // This test process plays the running daemon.
    let _held = hbd::shell::state::lock(&state).unwrap();
    write_bad_had(d.path());
    let out = hbd()
        .args(["run", "-c"])
        .arg(d.path())
        .arg("--state-dir")
        .arg(&state)
        .arg("--run-dir")
        .arg(d.path().join("run"))
        .args(["--node", "alpha"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("another hbd (pid {})", std::process::id())),
        "{err}"
    );
    // Refused before anything else: no generation was consumed.
    assert!(!state.join("hb_generation").exists());
}

#[test]
fn bad_config_is_refused_with_exit_1_and_no_socket() {
    let d = tempfile::tempdir().unwrap();
    write_bad_had(d.path());
    let run = d.path().join("run");
    let out = hbd()
        .args(["run", "-c"])
        .arg(d.path())
        .arg("--state-dir")
        .arg(d.path().join("state"))
        .arg("--run-dir")
        .arg(&run)
        .args(["--node", "alpha"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not starting"), "{err}");
    assert!(err.contains("error"), "{err}");
    assert!(!run.join("hbd.sock").exists());
}

fn free_udp_port() -> u16 {
    hbd::demo::cluster::free_udp_port().unwrap()
}

fn ask(sock: &Path, req: &Request) -> Response {
    ask_raw(sock, &serde_json::to_string(req).unwrap())
}

fn ask_raw(sock: &Path, request: &str) -> Response {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = request.to_string();
    line.push('\n');
    s.write_all(line.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut resp = String::new();
    r.read_line(&mut resp).unwrap();
    serde_json::from_str(&resp).unwrap_or_else(|e| panic!("{e}: {resp:?}"))
}

struct Running {
    sigs: tokio::sync::mpsc::Sender<Sig>,
    thread: std::thread::JoinHandle<ExitCode>,
    sock: PathBuf,
}

fn start_in_process(dir: &Path, port: u16) -> Running {
    start_with_media(
        dir,
        port,
        // Nobody listens on 127.0.0.2: our own packets are not echoed back.
        vec![Medium::Ucast {
            dev: "lo".into(),
            peer: "127.0.0.2".into(),
        }],
    )
}

fn start_with_media(dir: &Path, port: u16, media: Vec<Medium>) -> Running {
    start_with(dir, port, media, Vec::new())
}

fn start_with(
    dir: &Path,
    port: u16,
    media: Vec<Medium>,
    groups: Vec<hbd::config::ResourceGroup>,
) -> Running {
    let cfg = Config {
        groups,
        nodes: vec!["alpha".into(), "beta".into()],
        keepalive: hbd::time::Duration::from_millis(200),
        deadtime: hbd::time::Duration::from_millis(2000),
        warntime: hbd::time::Duration::from_millis(1000),
        initdead: hbd::time::Duration::from_millis(4000),
        udpport: port,
        media,
        auth: Auth {
            send_index: 1,
            keys: [(
                1,
                AuthKey {
                    method: AuthMethod::Sha1,
                    secret: Secret(b"in-process".to_vec()),
                },
            )]
            .into_iter()
            .collect(),
        },
        realtime: false,
        ..Config::default()
    };
    let opts = RunOptions {
        config: dir.to_path_buf(),
        node: Some("alpha".into()),
        state_dir: dir.join("state"),
        run_dir: dir.join("run"),
        bind: Some("127.0.0.1".parse().unwrap()),
        no_realtime: true,
    };
    let sock = opts.run_dir.join("hbd.sock");
    let p = Prepared::new(cfg, "alpha".into(), dir.to_path_buf(), opts).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(daemon::serve(p, rx))
            .map(|e| match e {
                daemon::Ending::Exit(code) => code,
                daemon::Ending::Restart => panic!("nothing asked for a restart"),
            })
            .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "control socket never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    Running {
        sigs: tx,
        thread,
        sock,
    }
}

/// A graceful stop: with no resources held it completes at once, exit 0.
fn stop(r: Running) -> ExitCode {
    r.sigs.blocking_send(Sig::Stop("test")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !r.thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        r.thread.is_finished(),
        "graceful stop did not finish in 10 s"
    );
    let code = r.thread.join().unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    code
}

#[test]
fn garbage_datagrams_are_counted_and_ignored() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let r = start_in_process(d.path(), port);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"hello".to_vec(),
        b">>>\nt=status\n".to_vec(),
        b"###\n5:(0)t=x,%%%\n".to_vec(),
        vec![0xffu8; 1400],
        b">>>\nt=status\nsrc=beta\nseq=1\nhg=1\nts=1\nauth=1 0000\n<<<\n".to_vec(),
    ];
    let rounds = 10;
    for _ in 0..rounds {
        for g in &garbage {
            sender.send_to(g, ("127.0.0.1", port)).unwrap();
        }
    }
    let want = (rounds * garbage.len()) as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    let link = loop {
        let Response::Status(st) = ask(&r.sock, &Request::Status) else {
            panic!("status refused")
        };
        let l = st.links[0].clone();
        if l.malformed + l.bad_auth >= want || Instant::now() > deadline {
            assert_eq!(st.local.name, "alpha");
            assert_eq!(st.peer.name, "beta");
            assert_eq!(st.links.len(), 1);
            break l;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(link.malformed + link.bad_auth, want, "{link:?}");
    assert_eq!(link.received, 0, "{link:?}");
    // Heartbeats kept going out meanwhile.
    assert!(link.sent > 0, "{link:?}");
    assert_eq!(link.name, "lo");
    assert_eq!(link.kind, "ucast");
    // Still alive and answering.
    assert!(matches!(
        ask(&r.sock, &Request::Status),
        Response::Status(_)
    ));
    // A set the protocol does not know is refused with the request quoted.
    let bad = ask_raw(&r.sock, r#"{"cmd":"standby","set":"sideways"}"#);
    assert!(matches!(bad, Response::Error { message } if message.contains("sideways")));
    let sock = r.sock.clone();
    stop(r);
    assert!(!sock.exists(), "control socket left behind");
}

#[test]
fn reload_with_a_broken_config_keeps_running_with_the_old_one() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let r = start_in_process(d.path(), port);
    // The config directory now holds a broken configuration.
    write_bad_had(d.path());
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"junk", ("127.0.0.1", port)).unwrap();
    let count = |r: &Running| match ask(&r.sock, &Request::Status) {
        Response::Status(st) => {
            assert_eq!(st.keepalive_ms, 200, "running config replaced");
            st.links[0].malformed + st.links[0].bad_auth
        }
        other => panic!("{other:?}"),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&r) < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    r.sigs.blocking_send(Sig::Reload).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!r.thread.is_finished(), "daemon exited on a broken reload");
    // Same links (counters kept, still bound to the same port) and same timings.
    sender.send_to(b"junk", ("127.0.0.1", port)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&r) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count(&r), 2);
    stop(r);
}

#[test]
fn garbage_and_half_frames_on_the_serial_line_are_counted_and_ignored() {
    let d = tempfile::tempdir().unwrap();
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = nix::unistd::ttyname(&pty.slave).unwrap();
    let r = start_with_media(
        d.path(),
        free_udp_port(),
        vec![Medium::Serial {
            path: slave.clone(),
        }],
    );
    std::thread::sleep(Duration::from_millis(100));
    let mut stream = Vec::new();
    for _ in 0..5 {
        // Line noise (skipped, not counted), a half frame (dropped: malformed),
        // and a complete frame that fails wire::open (malformed or bad auth).
        stream.extend_from_slice(b"\x00\x13noise ATZ\r\n");
        stream.extend_from_slice(b">>>\nt=status\nsrc=be");
        stream.extend_from_slice(b">>>\nt=status\nsrc=beta\nauth=1 00\n<<<\n");
    }
    nix::unistd::write(&pty.master, &stream).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let link = loop {
        let Response::Status(st) = ask(&r.sock, &Request::Status) else {
            panic!("status refused")
        };
        let l = st.links[0].clone();
        if l.malformed + l.bad_auth >= 10 || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(link.kind, "serial");
    assert_eq!(link.name, slave.display().to_string());
    assert_eq!(link.malformed + link.bad_auth, 10, "{link:?}");
    assert_eq!(link.received, 0, "{link:?}");
    stop(r);
    drop(pty);
}

#[test]
fn under_journald_lines_carry_the_priority_prefix_and_no_stamp() {
    let d = tempfile::tempdir().unwrap();
    write_bad_had(d.path());
    let out = hbd()
        .args(["run", "-c"])
        .arg(d.path())
        .arg("--state-dir")
        .arg(d.path().join("state"))
        .arg("--run-dir")
        .arg(d.path().join("run"))
        .args(["--node", "alpha"])
        .env("JOURNAL_STREAM", "8:12345")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("<3>ERROR: not starting"), "{err}");
}

#[test]
fn own_datagrams_echoed_back_are_not_counted_as_received() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    // Identical ha.cf files on both nodes ucast to both addresses, ours included.
    let r = start_with_media(
        d.path(),
        port,
        vec![Medium::Ucast {
            dev: "lo".into(),
            peer: "127.0.0.1".into(),
        }],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let link = loop {
        let Response::Status(st) = ask(&r.sock, &Request::Status) else {
            panic!("status refused")
        };
        if st.links[0].sent >= 5 || Instant::now() > deadline {
            break st.links[0].clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(link.sent >= 5, "{link:?}");
    assert_eq!(
        link.received, 0,
        "our own heartbeats counted as the peer's: {link:?}"
    );
    assert!(!link.up, "{link:?}");
    stop(r);
}

#[test]
fn operator_command_the_core_refuses_is_an_error_on_the_socket() {
    let d = tempfile::tempdir().unwrap();
    let r = start_in_process(d.path(), free_udp_port());
    // The peer was never heard: there is nobody to go standby to.
    match ask(&r.sock, &Request::Standby { set: HoldSet::All }) {
        Response::Error { message } => assert!(message.contains("refused"), "{message}"),
        other => panic!("standby with no peer was not refused: {other:?}"),
    }
    stop(r);
}

#[test]
/// hbd was killed with the group up (the machine did not go down): the new
/// process probes it, and since nobody else holds it (the peer is never
/// heard: alone at initdead) keeps it without a stop or a start.
fn a_group_left_running_by_a_previous_run_is_kept_when_nobody_holds_it() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let rd = d.path().join("resource.d");
    std::fs::create_dir(&rd).unwrap();
    let marker = d.path().join("running");
    let journal = d.path().join("journal");
    let script = rd.join("leftover");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nm={m}\necho \"$1\" >> {j}\ncase \"$1\" in\n  start) touch $m ;;\n  stop) rm -f $m ;;\n  status) if [ -e $m ]; then echo running; else echo stopped; fi ;;\nesac\n",
            m = marker.display(),
            j = journal.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&marker, "").unwrap();
    let group = hbd::config::ResourceGroup {
        home: "alpha".into(),
        resources: vec![hbd::config::Resource {
            name: "leftover".into(),
            args: vec![],
        }],
        location: Default::default(),
    };
    let r = start_with(
        d.path(),
        free_udp_port(),
        vec![Medium::Ucast {
            dev: "lo".into(),
            peer: "127.0.0.2".into(),
        }],
        vec![group],
    );
    // Kept once initdead (4 s) declares the silent peer dead.
    let deadline = Instant::now() + Duration::from_secs(10);
    let kept = loop {
        let r = match ask(&r.sock, &Request::Status) {
            Response::Status(r) => r,
            other => panic!("{other:?}"),
        };
        let adopted = r.recent.iter().any(|t| t.text == "leftover adopted");
        if adopted || Instant::now() > deadline {
            assert!(adopted, "not adopted by initdead: {:?}", r.recent);
            break r.groups[0].clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(kept.state, hbd::core::GroupState::Running, "{kept:?}");
    assert_eq!(kept.owner.as_deref(), Some("alpha"));
    let seen = std::fs::read_to_string(&journal).unwrap_or_default();
    assert_eq!(seen, "status\n", "probed only: no stop, no start");
    assert!(marker.exists());
    stop(r);
}

#[test]
fn relative_config_and_run_dirs_work_for_scripts() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let had = d.path().join("ha.d");
    std::fs::create_dir_all(had.join("resource.d")).unwrap();
    let port = free_udp_port();
    std::fs::write(
        had.join("ha.cf"),
        format!(
            "node alpha beta\nudpport {port}\nkeepalive 200ms\ndeadtime 2\ninitdead 4\nucast lo 127.0.0.2\nauto_failback on\nrealtime off\n"
        ),
    )
    .unwrap();
    std::fs::write(had.join("haresources"), "alpha leftover\n").unwrap();
    std::fs::write(had.join("authkeys"), "auth 1\n1 sha1 relative\n").unwrap();
    std::fs::set_permissions(had.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let journal = d.path().join("journal");
    let script = had.join("resource.d/leftover");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $HA_RSCTMP\" >> {}\n[ \"$1\" = status ] && echo running\nexit 0\n",
            journal.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = hbd()
        .current_dir(d.path())
        .args([
            "run",
            "-c",
            "ha.d",
            "--node",
            "alpha",
            "--state-dir",
            "state",
        ])
        .args(["--run-dir", "run", "--bind", "127.0.0.1", "--no-realtime"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let seen = std::fs::read_to_string(&journal).unwrap_or_default();
        if seen.contains("status") || Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = child.wait();
    // The relative `-c ha.d` found the script; the scripts saw absolute paths.
    let rsctmp = d.path().join("run/rsctmp");
    assert!(
        seen.starts_with(&format!("status {r}\n", r = rsctmp.display())),
        "{seen:?}"
    );
}

/// A peer whose packets all fail authentication (its authkeys differ): a
/// split brain in the making, since each node will declare the other dead.
/// `status` shows it as an error with the hint, per link, with a count.
#[test]
fn a_peer_failing_authentication_is_an_error_in_status() {
    use hbd::control::ProblemKind;
    use hbd::wire::{self, Message, Transport};
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let r = start_in_process(d.path(), port);
    // beta's status, signed with another secret for the same key index.
    let mut m = Message::with_type("status");
    for (k, v) in [
        ("st", "active"),
        ("dt", "7d0"),
        ("protocol", "1"),
        ("src", "beta"),
        ("seq", "1"),
        ("hg", "5"),
        ("ts", "6b0243a3"),
        ("ttl", "3"),
    ] {
        m.add(k, v);
    }
    let other = Auth {
        send_index: 1,
        keys: [(
            1,
            AuthKey {
                method: AuthMethod::Sha1,
                secret: Secret(b"beta's own idea of the key".to_vec()),
            },
        )]
        .into_iter()
        .collect(),
    };
    let packet = wire::seal(&m, &other, Transport::Udp, hbd::config::MsgFmt::Classic);
    // And a stranger's, which is no sign of the peer at all.
    let mut stranger = m.clone();
    stranger.remove_all("src");
    stranger.add("src", "gamma");
    let stranger = wire::seal(
        &stranger,
        &other,
        Transport::Udp,
        hbd::config::MsgFmt::Classic,
    );
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..5 {
        sender.send_to(&packet, ("127.0.0.1", port)).unwrap();
        sender.send_to(&stranger, ("127.0.0.1", port)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let st = loop {
        let Response::Status(st) = ask(&r.sock, &Request::Status) else {
            panic!("status refused")
        };
        if st.links[0].bad_auth >= 10 || Instant::now() > deadline {
            break st;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let link = &st.links[0];
    assert_eq!(link.bad_auth, 10, "{link:?}");
    assert_eq!(link.peer_auth_failures, 5, "only beta's count: {link:?}");
    assert!(link.peer_auth_failing, "{link:?}");
    assert_eq!(st.problems.len(), 1, "{:?}", st.problems);
    let p = &st.problems[0];
    assert_eq!(p.kind, ProblemKind::PeerAuthFailing);
    assert!(
        p.text
            .starts_with("packets from beta on lo fail authentication (bad_mac, 5 so far")
            && p.text
                .ends_with("and beta is not heard on it: authkeys differ?"),
        "{}",
        p.text
    );
    stop(r);
}

/// The resident KiB of the `hbd` binary's droppable mappings in `pid`.
fn binary_rss_kib(pid: u32) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let regions = hbd::shell::footprint::droppable(&smaps);
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_hbd")).ok()?;
    let exe = exe.to_str()?;
    let (mut kib, mut counted) = (0, false);
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, _)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let start = usize::from_str_radix(a, 16).unwrap_or(0);
            counted = line.ends_with(exe) && regions.iter().any(|r| r.start == start);
        } else if counted && first == "Rss:" {
            kib += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
        }
    }
    Some(kib)
}

/// Once the node has done nothing but heartbeats for 5 s, the daemon drops
/// the code start-up mapped (shell::footprint): most of its binary's
/// resident pages go, and it runs on.
#[test]
fn a_quiet_daemon_drops_the_code_start_up_mapped() {
    let d = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    std::fs::write(
        d.path().join("ha.cf"),
        format!("node alpha beta\nudpport {port}\nkeepalive 100ms\ndeadtime 1\ninitdead 1\nucast lo 127.0.0.2\n"),
    )
    .unwrap();
    std::fs::write(d.path().join("haresources"), "").unwrap();
    std::fs::write(d.path().join("authkeys"), "auth 1\n1 sha1 x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        d.path().join("authkeys"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let mut child = hbd()
        .args(["run", "--no-realtime", "--bind", "127.0.0.1", "-c"])
        .arg(d.path())
        .arg("--state-dir")
        .arg(d.path().join("state"))
        .arg("--run-dir")
        .arg(d.path().join("run"))
        .args(["--node", "alpha"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let t0 = Instant::now();
    let (mut most, mut now) = (0, 0);
    // The peer is declared dead after initdead (1 s), then nothing happens:
    // quiet from about 1 s, trimmed from about 6 s.
    while t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
        let Some(kib) = binary_rss_kib(pid) else {
            break;
        };
        now = kib;
        most = most.max(kib);
        if most > 0 && now * 2 < most {
            break;
        }
    }
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(alive, "the daemon exited");
    assert!(
        most > 0 && now * 2 < most,
        "the binary's droppable pages: {most} KiB resident at most, {now} KiB after {:?}",
        t0.elapsed()
    );
}
