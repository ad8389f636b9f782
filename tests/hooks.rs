//! Hooks with real processes: two `hbd run` on loopback (the shared pair),
//! with real scripts that record their calls. The notify hook and a
//! site-local `rc.d/status` see a failover in order, one call at a time;
//! heartbeat's own rc.d scripts (Debian's files, and a copy changed by a
//! site) are never run; a hook that hangs is killed at its timeout and the
//! failover does not wait for it; notifications a hung hook's full queue
//! drops are counted in `hbd status` and the metrics; `hbd check` lists the
//! hooks. No root needed.

use hbd::config::rcd;
use hbd::demo::cluster::{self as dc, Spec};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::loopback::Pair;
use testkit::skip::Needs;
use testkit::{hbd_exe, one_at_a_time};

/// The loopback pair (with a pty cable as a second link when `serial`),
/// its files written, nothing started.
fn pair(serial: bool) -> Pair {
    Pair::new(Spec::default(), serial, &hbd_exe!())
}

/// Both up, alpha running the service, and beta past its startup dt boost,
/// so that deadtime alone decides when alpha is dead.
fn bring_up(p: &mut Pair) {
    p.bring_up();
    p.wait_past_dt_boost(1);
}

fn exe(path: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Whether `want` appears in `have` in this order (other lines between).
fn in_order(have: &[String], want: &[&str]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

fn alive(pid: i32) -> bool {
    // A zombie waiting for init counts as dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s.rsplit(')').next().unwrap_or("").trim_start();
            !st.starts_with('Z') && !st.starts_with('X')
        })
        .unwrap_or(false)
}

/// Debian's heartbeat 3.0.6 rc.d scripts, when installed here (`what`
/// names the test part that needs them).
fn stock_rc_d(what: &str) -> Option<PathBuf> {
    Needs::new(what)
        .file("/etc/ha.d/rc.d/status", "heartbeat")
        .met()
        .then(|| PathBuf::from("/etc/ha.d/rc.d"))
}

/// The installed heartbeat's rc.d files are the ones hbd knows by content.
#[test]
fn debians_rc_d_files_are_known_as_heartbeats_own() {
    let Some(d) = stock_rc_d("debians_rc_d_files_are_known_as_heartbeats_own") else {
        return;
    };
    for (name, digest) in rcd::STOCK_RC_D {
        let content = std::fs::read(d.join(name)).unwrap();
        assert_eq!(rcd::sha1_hex(&content), digest, "{name}");
        assert!(
            matches!(
                rcd::classify(&content, true),
                rcd::RcKind::Heartbeat {
                    stock: true,
                    calls: Some(_)
                }
            ),
            "{name}"
        );
    }
    let harc = std::fs::read("/etc/ha.d/harc").unwrap();
    assert_eq!(rcd::sha1_hex(&harc), rcd::STOCK_HARC);
    assert_eq!(rcd::resource_tool_call(&harc), None);
}

/// A failover as beta's hooks see it: the notify hook gets every transition
/// in order, one call at a time, with nothing dropped; a site-local
/// rc.d/status gets the peer's status change and, at the takeover, the dead
/// status heartbeat makes up; heartbeat's own scripts never run.
#[test]
fn hooks_see_a_failover_in_order_and_heartbeats_own_scripts_never_run() {
    let _serial = one_at_a_time();
    let mut p = pair(false);
    let d = p.dir().to_path_buf();
    let notes = d.join("notes");
    let hook = exe(
        &d.join("notify"),
        &format!(
            "echo \"start $HBD_SEQ\" >> {n}\n\
             echo \"$1 $2 $3|$HBD_EVENT|$HBD_NODE|$HBD_GROUP|$HBD_LOCAL|$HBD_DROPPED\" >> {n}\n\
             sleep 0.02\n\
             echo \"end $HBD_SEQ\" >> {n}",
            n = notes.display()
        ),
    );
    p.edit_config(1, |t| t + &format!("notify = \"{}\"\n", hook.display()));
    let rc = p.c.nodes[1].dir.join("rc.d");
    let rcrec = d.join("rc");
    exe(
        &rc.join("status"),
        &format!(
            "echo \"$0 $*|$HA_t|$HA_src|$HA_st|$HA_OSTATUS|$HA_CURHOST|$HA_NICEFAILBACK|$HA_seq\" >> {}",
            rcrec.display()
        ),
    );
    // heartbeat's own scripts: Debian's files as installed, and copies a site
    // changed to leave a mark, which still call heartbeat's resource tools.
    let marker = d.join("heartbeats-own-ran");
    if let Some(stock) = stock_rc_d("hooks_see_a_failover…: Debian's own rc.d files") {
        for name in [
            "ip-request",
            "ip-request-resp",
            "hb_takeover",
            "ask_resources",
        ] {
            std::fs::copy(stock.join(name), rc.join(name)).unwrap();
        }
        let changed = std::fs::read_to_string(stock.join("hb_takeover")).unwrap();
        let changed = changed.replacen("\n", &format!("\ntouch {}\n", marker.display()), 1);
        exe(
            &rc.join("stonith"),
            changed.trim_start_matches("#!/bin/sh\n"),
        );
    }
    exe(
        &rc.join("ip-request"),
        &format!(
            "touch {}\n$HA_NOARCHBIN/ResourceManager givegroup $HA_ipaddr",
            marker.display()
        ),
    );
    bring_up(&mut p);
    let key = p.c.service_key();

    let killed = Instant::now();
    p.daemon(0).kill9();
    p.wait_status(1, Duration::from_secs(6), "running the service", |r| {
        dc::running_on(r, &key).as_deref() == Some("beta")
    });
    let took = killed.elapsed();
    let done = dc::wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        lines(&notes)
            .iter()
            .any(|l| l.starts_with("takeover-complete"))
            .then_some(())
    });
    assert!(done.is_some(), "no takeover-complete: {:#?}", lines(&notes));
    eprintln!("failover with hooks: service on beta {took:?} after kill -9");
    p.daemon(1).terminate(Duration::from_secs(20));

    let all = lines(&notes);
    // One at a time: every start is followed by its own end, seqs 1, 2, 3…
    let mut calls = Vec::new();
    for (i, chunk) in all.chunks(3).enumerate() {
        assert_eq!(chunk.len(), 3, "{all:#?}");
        assert_eq!(chunk[0], format!("start {}", i + 1), "{all:#?}");
        assert_eq!(chunk[2], format!("end {}", i + 1), "{all:#?}");
        calls.push(chunk[1].clone());
    }
    // Joining: which of alpha's messages comes first is up to the network.
    for joined in [
        "link-up alpha |link-up|alpha||beta|0".to_string(),
        "node-up alpha |node-up|alpha||beta|0".into(),
        format!("group-on-peer alpha {key}|group-on-peer|alpha|{key}|beta|0"),
    ] {
        assert!(calls.contains(&joined), "{joined} missing: {calls:#?}");
    }
    let want = [
        format!("group-on-peer alpha {key}|group-on-peer|alpha|{key}|beta|0"),
        "node-dead alpha |node-dead|alpha||beta|0".into(),
        "fence-result alpha |fence-result|alpha||beta|0".into(),
        "takeover-started alpha |takeover-started|alpha||beta|0".into(),
        format!("group-acquiring beta {key}|group-acquiring|beta|{key}|beta|0"),
        format!("group-active beta {key}|group-active|beta|{key}|beta|0"),
        "takeover-complete alpha |takeover-complete|alpha||beta|0".into(),
        "shutdown beta |shutdown|beta||beta|0".into(),
        format!("group-releasing beta {key}|group-releasing|beta|{key}|beta|0"),
        format!("group-stopped beta {key}|group-stopped|beta|{key}|beta|0"),
    ];
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    assert!(
        in_order(&calls, &want),
        "want in order {want:#?}\ngot {calls:#?}"
    );

    let rc_calls = lines(&rcrec);
    let status = rc.join("status");
    let want = [
        format!(
            "{} status|status|alpha|active|active|beta|yes|",
            status.display()
        ),
        format!(
            "{} status|status|alpha|dead|active|beta|yes|1",
            status.display()
        ),
    ];
    assert_eq!(rc_calls.len(), 2, "{rc_calls:#?}");
    assert!(rc_calls[0].starts_with(&want[0]), "{rc_calls:#?}");
    assert_eq!(rc_calls[1], want[1], "{rc_calls:#?}");
    assert!(!marker.exists(), "one of heartbeat's own rc.d scripts ran");
    let log = p.c.log_text(1);
    assert!(
        log.contains("ip-request: calls heartbeat's ResourceManager (line 3)"),
        "{log}"
    );
}

/// A notify hook and an rc.d script that hang: the takeover does not wait
/// for them (measured from kill -9 to the service answering on beta, while
/// both still hang), and the hook is killed at its timeout, after which the
/// next notifications run.
#[test]
fn a_hung_hook_neither_delays_failover_nor_outlives_its_timeout() {
    let _serial = one_at_a_time();
    let mut p = pair(false);
    let d = p.dir().to_path_buf();
    let notes = d.join("notes");
    let pids = d.join("pids");
    let hang = |what: &str| {
        format!(
            "if [ \"$1\" = node-dead ] || [ \"$1 $HA_st\" = \"status dead\" ]; then\n\
                 echo \"$$ {what} $1\" >> {pids}\n\
                 exec sleep 30\n\
             fi\n\
             echo \"$1\" >> {notes}",
            pids = pids.display(),
            notes = notes.display()
        )
    };
    let hook = exe(&d.join("notify"), &hang("notify"));
    exe(&p.c.nodes[1].dir.join("rc.d").join("status"), &hang("rc.d"));
    p.edit_config(1, |t| {
        t + &format!("notify = \"{}\"\nnotify_timeout = \"8s\"\n", hook.display())
    });
    bring_up(&mut p);

    let killed = Instant::now();
    p.daemon(0).kill9();
    let served = dc::wait_for(Duration::from_secs(8), Duration::from_millis(10), || {
        (p.c.probe_service().as_deref() == Some("beta")).then_some(())
    });
    let took = killed.elapsed();
    assert!(served.is_some(), "beta never served");
    let hung: Vec<i32> = lines(&pids)
        .iter()
        .filter(|l| l.ends_with("notify node-dead") || l.ends_with("rc.d status"))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    eprintln!(
        "failover with hung hooks: service on beta {took:?} after kill -9 (deadtime {}ms)",
        p.c.spec.deadtime_ms
    );
    // Both hooks were hanging when the service came up: nothing waited.
    assert!(hung.len() >= 2, "{:#?}", lines(&pids));
    assert!(
        hung.iter().all(|&pid| alive(pid)),
        "a hung hook already ended"
    );
    // deadtime, the script time of one start, and slack for a busy machine:
    // waiting for the notify hook's 8 s timeout (or the rc.d script's 10 s)
    // would show.
    let bound = Duration::from_millis(p.c.spec.deadtime_ms) + Duration::from_secs(5);
    assert!(took < bound, "takeover took {took:?} (bound {bound:?})");
    // The hung notify hook is killed at 8 s and the queue moves on.
    let moved = dc::wait_for(Duration::from_secs(15), Duration::from_millis(20), || {
        lines(&notes)
            .iter()
            .any(|l| l == "takeover-complete")
            .then_some(())
    });
    assert!(moved.is_some(), "{:#?}", lines(&notes));
    let notify_pid = lines(&pids)
        .iter()
        .find(|l| l.ends_with("notify node-dead"))
        .and_then(|l| l.split(' ').next()?.parse::<i32>().ok())
        .unwrap();
    assert!(
        !alive(notify_pid),
        "the hung notify hook outlived its timeout"
    );
    assert!(
        killed.elapsed() >= Duration::from_secs(8),
        "moved on before the timeout"
    );
    let log = p.c.log_text(1);
    assert!(log.contains("notify node-dead: "), "{log}");
    assert!(log.contains("killed after 8s timeout"), "{log}");
    // The rc.d script may still hang (its timeout is 10 s): it is ours to end.
    for pid in hung {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if alive(pid) && cmd == b"sleep\x0030\x00" {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// One `GET /metrics` on loopback `port`: the whole response.
fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// alpha alone starts 40 groups while its notify hook hangs in its first
/// run: of the 80-odd notifications only what fits the queue (64) waits,
/// the rest is dropped. `hbd status` (human and JSON) and the metrics count
/// exactly those: once the hang ends and the queue has drained, the next
/// run (a cleanup's) says as many in `HBD_DROPPED`, and its `HBD_SEQ` is
/// the runs before it plus the dropped plus one.
#[test]
fn notifications_a_full_queue_drops_are_counted_in_status_and_metrics() {
    let _serial = one_at_a_time();
    let spec = Spec {
        service: false,
        ..Spec::default()
    };
    let mut p = Pair::new(spec, false, &hbd_exe!());
    let d = p.dir().to_path_buf();
    let runs = d.join("runs");
    let hung = d.join("hung");
    let hook = exe(
        &d.join("notify"),
        &format!(
            "echo \"$HBD_SEQ $1 $HBD_DROPPED\" >> {runs}\n\
             if [ ! -e {hung} ]; then echo $$ > {hung}; exec sleep 60; fi",
            runs = runs.display(),
            hung = hung.display()
        ),
    );
    let held = d.join("held");
    std::fs::create_dir_all(&held).unwrap();
    exe(
        &p.c.nodes[0].dir.join("resource.d").join("rec"),
        &format!(
            "f={}/$1\n\
             case \"$2\" in\n\
             start) touch \"$f\" ;;\n\
             stop) rm -f \"$f\" ;;\n\
             status) if [ -e \"$f\" ]; then echo running; else echo stopped; fi ;;\n\
             esac",
            held.display()
        ),
    );
    let groups = 40;
    let port = dc::free_tcp_port().unwrap();
    p.edit_config(0, |t| {
        let mut t = t + &format!(
            "notify = \"{}\"\nnotify_timeout = \"60s\"\nmetrics = \"{port}\"\n",
            hook.display()
        );
        for i in 0..groups {
            t += &format!("\n[[group]]\nhome = \"alpha\"\nresources = [\"rec::{i}\"]\n");
        }
        t
    });
    p.start(0);
    p.wait_status(0, Duration::from_secs(30), "running every group", |r| {
        r.groups.len() == groups
            && r.groups
                .iter()
                .all(|g| dc::running_on(r, &g.key).as_deref() == Some("alpha"))
    });
    let dropped = p.status(0).notify_dropped;
    // The groups alone make 80 notifications; 65 are taken at the most
    // (the hung run and the 64 queued behind it).
    assert!(dropped > 0, "{:#?}", lines(&runs));
    let cli = |args: &[&str]| {
        let o = Command::new(hbd_exe!())
            .args(args)
            .args(["--run-dir", &p.run_dir(0)])
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let human = cli(&["status"]);
    assert!(
        human.contains(&format!(
            "\nnotify hook: {dropped} notification(s) dropped since start"
        )),
        "{human}"
    );
    let json: serde_json::Value = serde_json::from_str(&cli(&["status", "--json"])).unwrap();
    assert_eq!(json["notify_dropped"], dropped, "{json}");
    let metrics = scrape(port);
    assert!(
        metrics.contains(&format!("\nhbd_notify_dropped_total {dropped}\n")),
        "{metrics}"
    );

    // The hang ends; what was queued runs, and nothing more is dropped.
    let pid: i32 = std::fs::read_to_string(&hung)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut seen = (0, 0);
    let drained = dc::wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
        let n = lines(&runs).len();
        seen = if n == seen.0 { (n, seen.1 + 1) } else { (n, 0) };
        (n > 1 && seen.1 >= 10).then_some(n)
    });
    assert!(drained.is_some(), "{:#?}", lines(&runs));
    cli(&["cleanup", "rec::1"]);
    let told = dc::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        lines(&runs)
            .iter()
            .any(|l| l.contains(" cleanup-done "))
            .then_some(())
    });
    assert!(told.is_some(), "{:#?}", lines(&runs));
    let out = lines(&runs);
    let parsed: Vec<(u64, &str, u64)> = out
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[1], f[2].parse().unwrap())
        })
        .collect();
    let told: Vec<usize> = (0..parsed.len()).filter(|&i| parsed[i].2 != 0).collect();
    assert_eq!(told.len(), 1, "{out:#?}");
    let (i, (seq, _, said)) = (told[0], parsed[told[0]]);
    assert_eq!(said, dropped, "{out:#?}");
    assert_eq!(seq, i as u64 + dropped + 1, "{out:#?}");
    eprintln!(
        "{dropped} of {} notifications dropped behind the hung hook",
        seq - 1
    );
    assert_eq!(p.status(0).notify_dropped, dropped);
}

/// An operator's takeover on beta sends `hb_takeover` over both links: each
/// node's site-local rc.d/hb_takeover runs exactly once for it (alpha for the
/// peer's message, whatever link brought it first; beta for its own, as
/// heartbeat notifies on its own messages), with the message's fields.
/// alpha's script is added while it runs, and read on SIGHUP.
#[test]
fn rc_d_runs_once_per_message_on_two_links_and_for_our_own() {
    let _serial = one_at_a_time();
    let mut p = pair(true);
    let d = p.dir().to_path_buf();
    let dirs = [0, 1].map(|i| p.c.nodes[i].dir.clone());
    let script = |i: usize| {
        exe(
            &dirs[i].join("rc.d").join("hb_takeover"),
            &format!(
                "echo \"$1|$HA_t|$HA_src|$HA_rsc_hold|$HA_OSTATUS|$HA_CURHOST\" >> {}",
                d.join(format!("rc-{}", dc::NAMES[i])).display()
            ),
        )
    };
    script(1);
    bring_up(&mut p);
    // alpha's script arrives while it runs: SIGHUP reads rc.d again.
    script(0);
    p.daemon(0)
        .signal(nix::sys::signal::Signal::SIGHUP)
        .unwrap();
    let reloaded = dc::wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        p.c.log_text(0)
            .contains("rc.d: running hb_takeover on their messages")
            .then_some(())
    });
    assert!(
        reloaded.is_some(),
        "alpha did not read rc.d again on SIGHUP"
    );
    let key = p.c.service_key();
    let o = Command::new(hbd_exe!())
        .args(["takeover", "all", "--wait", "20", "--run-dir"])
        .arg(&p.c.nodes[1].run_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p.wait_status(1, Duration::from_secs(10), "running the service", |r| {
        dc::running_on(r, &key).as_deref() == Some("beta")
    });
    // Both links carried it: a duplicate would show up here by now.
    std::thread::sleep(Duration::from_secs(1));
    let want = "hb_takeover|hb_takeover|beta|all|active|";
    assert_eq!(lines(&d.join("rc-alpha")), [format!("{want}alpha")]);
    assert_eq!(lines(&d.join("rc-beta")), [format!("{want}beta")]);
}

/// `hbd check` lists the hooks: heartbeat's own scripts skipped with why, a
/// site-local one that runs, and the notify hook; a notify hook that cannot
/// run is an error on the node and a warning for another node.
#[test]
fn check_lists_the_hooks_and_judges_the_notify_hook() {
    let t = tempfile::tempdir().unwrap();
    let here = hbd::config::local_node_name(None).expect("a host name");
    let dir = t.path();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 not-a-secret\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let write_toml = |notify: &Path| {
        std::fs::write(
            dir.join("hbd.toml"),
            format!(
                "nodes = [\"{here}\", \"hbd-check-peer\"]\nudpport = 694\n\n[[media]]\ntype = \"ucast\"\ndev = \"lo\"\npeer = \"127.0.0.2\"\n\n[auth]\nauthkeys = \"authkeys\"\n\n[hbd]\nnotify = \"{}\"\nnotify_timeout = \"7s\"\n",
                notify.display()
            ),
        )
        .unwrap();
    };
    let rc = dir.join("rc.d");
    exe(&rc.join("status"), "logger \"$HA_src is $HA_st\"");
    exe(
        &rc.join("ip-request"),
        "$HA_NOARCHBIN/ResourceManager givegroup $HA_ipaddr",
    );
    let notify = dir.join("page");
    write_toml(&notify);
    let check = |node: &str| {
        let o = Command::new(hbd_exe!())
            .args(["check", "-c"])
            .arg(dir.join("hbd.toml"))
            .args(["--node", node])
            .args(["--state-dir"])
            .arg(dir.join("state"))
            .args(["--run-dir"])
            .arg(dir.join("run"))
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let toml = dir.join("hbd.toml");
    let (code, out) = check(&here);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{}:13: notify: {} does not exist on this host",
            toml.display(),
            notify.display()
        )),
        "{out}"
    );
    // For another node it is a warning, and the list says it would not run.
    let (code, out) = check("hbd-check-peer");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("notify: warning: "), "{out}");
    assert!(
        out.contains(&format!(
            "hook notify: {} NOT RUN: not an executable file (timeout 7s)",
            notify.display()
        )),
        "{out}"
    );
    exe(&notify, "exit 0");
    let (code, out) = check(&here);
    assert_eq!(code, Some(0), "{out}");
    let hooks: Vec<&str> = out.lines().filter(|l| l.starts_with("hook ")).collect();
    assert_eq!(
        hooks,
        [
            "hook rc.d/ip-request: not run: calls heartbeat's ResourceManager (line 2): heartbeat's resource manager, and hbd manages resources itself".to_string(),
            "hook rc.d/status: runs when the peer's status changes, and for a node declared dead (HA_st=dead), directly as rc.d/status status (no harc)".to_string(),
            format!("hook notify: {} runs on every transition (timeout 7s)", notify.display()),
        ]
    );
    assert!(
        out.contains(&format!(
            "{}:2: rc.d: warning: calls heartbeat's ResourceManager",
            rc.join("ip-request").display()
        )),
        "{out}"
    );
}
