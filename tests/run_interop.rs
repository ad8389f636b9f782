//! `hbd run` against the real heartbeat 3.0.6: over a pty pair (socat as the
//! null-modem cable) and over UDP between two network namespaces. Both sides
//! see the link up and each other active; heartbeat sees hbd's restart (new
//! generation) and graceful shutdown, hbd sees heartbeat's.
//! Needs root (heartbeat's /etc/ha.d, /var/lib/heartbeat and /run are replaced
//! by bind mounts in a private mount namespace), heartbeat, socat and ip; skips
//! with the reason otherwise.

use hbd::core::NodeState;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";

/// A child this test started; killed (by pid) and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn term_and_wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.0.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

fn ha_cf(w: &Path, media: &str, log: &str, extra: &str) -> String {
    format!(
        "logfile {}\nkeepalive 1\ndeadtime 6\nwarntime 3\ninitdead 12\nbaud 19200\n\
         udpport 694\n{media}\nauto_failback on\nnode hbnode\nnode hbdnode\n{extra}",
        w.join(log).display(),
    )
}

fn hbd_status(w: &Path) -> Option<hbd::control::StatusReport> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::os::unix::net::UnixStream::connect(w.join("hbdrun/hbd.sock")).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"{\"cmd\":\"status\"}\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    match serde_json::from_str(&line).ok()? {
        hbd::control::Response::Status(r) => Some(r),
        _ => None,
    }
}

/// `hbd run` as node hbdnode, inside network namespace `netns` when given.
fn start_hbd(w: &Path, out: &str, netns: Option<&str>) -> Proc {
    let log = std::fs::File::create(w.join(out)).unwrap();
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_hbd")]);
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_hbd")),
    };
    Proc(
        cmd.args(["run", "--node", "hbdnode", "-c"])
            .arg(w.join("hbd-ha.d"))
            .arg("--state-dir")
            .arg(w.join("hbdstate"))
            .arg("--run-dir")
            .arg(w.join("hbdrun"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Why this machine cannot run the interop tests, if it cannot.
fn cannot_run() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (bind mounts in a private mount namespace)".into());
    }
    for cmd in ["socat", "unshare", "ip"] {
        if !have(cmd) {
            return Some(format!("needs {cmd}"));
        }
    }
    if !Path::new(HEARTBEAT).exists() {
        return Some(format!("needs {HEARTBEAT} (Debian package heartbeat)"));
    }
    None
}

/// Directories and configuration for heartbeat (node hbnode, `hb_media`) and
/// hbd (node hbdnode, `hbd_media`) under `w`.
fn prepare(w: &Path, hb_media: &str, hbd_media: &str) {
    for d in [
        "etc-ha.d", "varlib", "run/lock", "hbd-ha.d", "hbdstate", "hbdrun",
    ] {
        std::fs::create_dir_all(w.join(d)).unwrap();
    }
    // heartbeat's own harc, rc.d and shellfuncs, with our ha.cf over them.
    copy_dir(Path::new("/etc/ha.d"), &w.join("etc-ha.d"));
    copy_dir(Path::new("/var/lib/heartbeat"), &w.join("varlib"));
    // Its API socket directory, with the package's owners (hacluster:haclient).
    std::fs::create_dir_all(w.join("run/heartbeat")).unwrap();
    if Path::new("/run/heartbeat").is_dir() {
        copy_dir(Path::new("/run/heartbeat"), &w.join("run/heartbeat"));
    } else {
        let _ = Command::new("chown")
            .arg("hacluster:haclient")
            .arg(w.join("run/heartbeat"))
            .status();
    }
    for f in ["hb_generation", "hb_uuid", "hostcache", "delhostcache"] {
        let _ = std::fs::remove_file(w.join("varlib").join(f));
    }
    // A serial line is locked UUCP-style in /run/lock.
    std::fs::set_permissions(w.join("run/lock"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let had = w.join("etc-ha.d");
    std::fs::write(had.join("ha.cf"), ha_cf(w, hb_media, "ha-log", "")).unwrap();
    std::fs::write(had.join("nodeinfo"), "hbnode\n").unwrap();
    std::fs::write(had.join("haresources"), "").unwrap();
    let hbd_had = w.join("hbd-ha.d");
    std::fs::write(
        hbd_had.join("ha.cf"),
        ha_cf(w, hbd_media, "hbd-log", "realtime off\n"),
    )
    .unwrap();
    std::fs::write(hbd_had.join("haresources"), "").unwrap();
    for d in [&had, &hbd_had] {
        std::fs::write(d.join("authkeys"), "auth 1\n1 sha1 interop-secret\n").unwrap();
        std::fs::set_permissions(d.join("authkeys"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
}

/// heartbeat -f in a private mount namespace (its own /etc/ha.d, state and
/// /run), inside network namespace `netns` when given; waits until it is up.
fn start_heartbeat(w: &Path, netns: Option<&str>) -> Proc {
    let script = format!(
        "mount --bind {w}/etc-ha.d /etc/ha.d && mount --bind {w}/varlib /var/lib/heartbeat \
         && mount --bind {w}/run /run && exec {HEARTBEAT} -f",
        w = w.display()
    );
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "unshare"]);
            c
        }
        None => Command::new("unshare"),
    };
    let p = Proc(
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ha_log = w.join("ha-log");
    assert!(
        wait_for(Duration::from_secs(10), || read(&ha_log)
            .contains("Local status now set to: 'up'")),
        "heartbeat did not start:\n{}",
        read(&ha_log)
    );
    p
}

/// Both sides see each other active over the link heartbeat calls `hb_link`,
/// then each hears the other's restart and graceful shutdown.
fn converse(w: &Path, hb_link: &str, netns: Option<&str>, mut heartbeat: Proc) {
    let ha_log = w.join("ha-log");
    let mut hbd = start_hbd(w, "hbd.out", netns);
    assert!(
        wait_for(Duration::from_secs(20), || {
            let l = read(&ha_log);
            l.contains(&format!("Link hbdnode:{hb_link} up."))
                && l.contains("Status update for node hbdnode: status active")
        }),
        "heartbeat never saw hbd active:\n{}\n--- hbd ---\n{}",
        read(&ha_log),
        read(&w.join("hbd.out"))
    );
    assert!(
        wait_for(Duration::from_secs(10), || hbd_status(w).is_some_and(|r| {
            r.peer.state == NodeState::Active && r.links[0].up && r.links[0].received > 0
        })),
        "hbd never saw heartbeat active: {:?}\n{}",
        hbd_status(w),
        read(&w.join("hbd.out"))
    );
    let st = hbd_status(w).unwrap();
    assert_eq!(
        st.links[0].bad_auth + st.links[0].malformed,
        0,
        "{:?}",
        st.links[0]
    );

    // Graceful shutdown: heartbeat hears hbd's shutdone.
    let exit = hbd.term_and_wait(Duration::from_secs(10));
    assert!(exit.is_some_and(|s| s.success()), "hbd exit {exit:?}");
    assert!(
        wait_for(Duration::from_secs(5), || read(&ha_log)
            .contains("Received shutdown notice from 'hbdnode'.")),
        "{}",
        read(&ha_log)
    );

    // A restart is a new generation, which heartbeat accepts as a restart.
    let mut hbd = start_hbd(w, "hbd2.out", netns);
    assert!(
        wait_for(Duration::from_secs(15), || read(&ha_log)
            .contains("Heartbeat restart on node hbdnode")),
        "{}",
        read(&ha_log)
    );
    // And hbd hears heartbeat's own shutdown.
    assert!(heartbeat.term_and_wait(Duration::from_secs(15)).is_some());
    assert!(
        wait_for(Duration::from_secs(5), || read(&w.join("hbd2.out"))
            .contains("Received shutdown notice from 'hbnode'.")),
        "{}",
        read(&w.join("hbd2.out"))
    );
    let exit = hbd.term_and_wait(Duration::from_secs(10));
    assert!(exit.is_some_and(|s| s.success()), "hbd exit {exit:?}");
}

#[test]
fn serial_link_interoperates_with_heartbeat_3_0_6() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let w: PathBuf = dir.path().to_path_buf();
    let (tty_a, tty_b) = (w.join("ttyA"), w.join("ttyB"));
    prepare(
        &w,
        &format!("serial {}", tty_a.display()),
        &format!("serial {}", tty_b.display()),
    );
    let _cable = Proc(
        Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", tty_a.display()))
            .arg(format!("pty,raw,echo=0,link={}", tty_b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for(Duration::from_secs(5), || tty_a.exists() && tty_b.exists()));
    let heartbeat = start_heartbeat(&w, None);
    converse(&w, &tty_a.display().to_string(), None, heartbeat);
}

/// Two network namespaces joined by a veth pair (10.250.0.1 on `vA` in the
/// first, 10.250.0.2 on `vB` in the second), deleted on drop.
struct NetnsPair {
    a: String,
    b: String,
}

impl NetnsPair {
    fn new() -> NetnsPair {
        let id = std::process::id();
        let pair = NetnsPair {
            a: format!("hbdinterop{id}a"),
            b: format!("hbdinterop{id}b"),
        };
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "link", "add", "vA", "netns", &pair.a, "type", "veth", "peer", "name", "vB", "netns",
            &pair.b,
        ]);
        for (ns, dev, addr) in [
            (&pair.a, "vA", "10.250.0.1/24"),
            (&pair.b, "vB", "10.250.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn udp_link_interoperates_with_heartbeat_3_0_6() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let w: PathBuf = dir.path().to_path_buf();
    prepare(&w, "ucast vA 10.250.0.2", "ucast vB 10.250.0.1");
    // Declared before the processes, so they are killed before it is deleted.
    let ns = NetnsPair::new();
    let heartbeat = start_heartbeat(&w, Some(&ns.a));
    converse(&w, "vA", Some(&ns.b), heartbeat);
}
