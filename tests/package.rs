//! The Debian package for real: `packaging/build-deb.sh` builds it from the
//! binary under test, lintian finds nothing in it that is not overridden
//! with a reason, `dpkg -i` installs it on this machine, the installed
//! `hbd check` accepts the installed sample (copied as the docs say) and
//! finds the installed agents, the man pages, completions and unit are where
//! their tools look, heartbeat's `cl_status`, `hb_standby` and `hb_takeover`
//! are hbd's drop-ins (heartbeat's own diverted beside them, answering while
//! no hbd runs), and `dpkg --purge` takes it all away again, heartbeat's
//! tools included.
//!
//! Needs root, dpkg, lintian and cargo-deb (unless HBD_TEST_PACKAGE=1 asks
//! build-deb.sh to install it); skipped with the reason otherwise, and also
//! when an hbd package is already installed (it is not ours to remove). Under
//! HBD_REQUIRE_LAB=1 any of those skips is a failure. dpkg's path exclusions
//! (slim container images drop /usr/share/doc and man) are overridden for
//! hbd's own files, so they skip nothing.

use hbd::demo::cluster::Daemon;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use testkit::skip::Needs;

const SAMPLE: &str = "/usr/share/doc/hbd/examples/ha.d";

/// heartbeat's operator tools, which the package replaces with hbd's drop-ins
/// and diverts to `NAME.heartbeat`.
const DROP_INS: [&str; 3] = [
    "/usr/bin/cl_status",
    "/usr/share/heartbeat/hb_standby",
    "/usr/share/heartbeat/hb_takeover",
];

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed ({}):\n{}",
        o.status,
        text(&o)
    );
    text(&o)
}

fn installed() -> bool {
    package_installed("hbd")
}

fn package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// The diversions dpkg holds for `path`, as `dpkg-divert --list` prints them.
fn diversions(path: &str) -> String {
    let o = run(Command::new("dpkg-divert").args(["--list", path]));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// lintian on the package: nothing at error or warning level that the
/// package's overrides (each with its reason) do not cover.
fn lintian_finds_nothing(deb: &Path) {
    if !Needs::new("deb_installs_checks_its_sample_and_purges_cleanly: lintian")
        .tool("lintian", "lintian")
        .met()
    {
        return;
    }
    let o = run(Command::new("lintian")
        .args(["--fail-on", "error,warning", "--display-level", ">=warning"])
        .arg(deb));
    let all = text(&o);
    let findings: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(
        o.status.success() && findings.is_empty(),
        "lintian {} ({}):\n{all}",
        deb.display(),
        o.status
    );
}

/// A one-node ha.d for `hbd run` on loopback (nobody plays beta).
fn write_alone_had(dir: &Path) {
    let port = hbd::demo::cluster::free_udp_port().unwrap();
    std::fs::write(
        dir.join("ha.cf"),
        format!(
            "node alpha\nnode beta\nkeepalive 200ms\ndeadtime 2\nwarntime 1\ninitdead 2\n\
             udpport {port}\nucast lo 127.0.0.2\nauto_failback on\nrealtime off\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("haresources"), "").unwrap();
    std::fs::write(dir.join("authkeys"), "auth 1\n1 sha1 package-test\n").unwrap();
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// (exit code, stdout, stderr) of a drop-in run with `HBD_RUN_DIR=run_dir`.
fn drop_in(tool: &str, args: &[&str], run_dir: &Path) -> (i32, String, String) {
    let o = run(Command::new(tool).args(args).env("HBD_RUN_DIR", run_dir));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The installed cl_status, hb_standby and hb_takeover: hbd answers through
/// them when its control socket is there; heartbeat's own (diverted) answers
/// when it is not and heartbeat is installed.
fn drop_ins_answer_for_hbd_and_leave_heartbeat_its_own() {
    for f in DROP_INS {
        let d = diversions(f);
        assert!(
            d.contains(&format!("diversion of {f} to {f}.heartbeat by hbd")),
            "{f}: {d}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    write_alone_had(dir.path());
    let run_dir = dir.path().join("run");
    let mut daemon = run_installed_alpha(dir.path(), &run_dir);
    let sock = run_dir.join(hbd::control::SOCKET_NAME);
    let log_text = || std::fs::read_to_string(dir.path().join("hbd.log")).unwrap_or_default();
    let up = hbd::demo::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        sock.exists().then_some(())
    });
    assert!(up.is_some(), "no control socket:\n{}", log_text());

    let (code, out, err) = drop_in("/usr/bin/cl_status", &["listnodes"], &run_dir);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "alpha\nbeta\n", ""));
    let (code, out, _) = drop_in("/usr/bin/cl_status", &["nodestatus", "beta"], &run_dir);
    assert!(
        code == 1 && ["init\n", "dead\n"].contains(&out.as_str()),
        "{code} {out}"
    );

    // heartbeat's argument checks, messages and exit code, word for word.
    let standby = "/usr/share/heartbeat/hb_standby";
    let (code, out, err) = drop_in(standby, &["bogus"], &run_dir);
    assert_eq!(
        (code, out, err),
        (
            1,
            format!("{standby}: wrong resources(bogus).\nusage:\n"),
            format!("{standby} [all|foreign|local|failback]\n")
        )
    );
    let (code, out, _) = drop_in(standby, &["all", "local"], &run_dir);
    assert_eq!(
        (code, out),
        (1, format!("{standby}: too many arguments\nusage:\n"))
    );
    // A request hbd receives (and refuses alone: standby needs a live peer);
    // `failback` reaches it as foreign.
    let (code, out, err) = drop_in(standby, &["failback"], &run_dir);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("refused") && err.contains("standby foreign"),
        "{err}"
    );
    let (code, _, err) = drop_in("/usr/share/heartbeat/hb_takeover", &[], &run_dir);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("takeover all"), "{err}");

    // No hbd behind HBD_RUN_DIR: heartbeat's own cl_status answers if it is
    // installed (it cannot sign on either, and says so its way).
    let nowhere = dir.path().join("nowhere");
    let (code, out, err) = drop_in("/usr/bin/cl_status", &["rscstatus"], &nowhere);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    if package_installed("heartbeat") {
        assert!(
            err.contains("hb_api_signon"),
            "not heartbeat's cl_status: {err}"
        );
    } else {
        assert!(err.contains("no daemon at"), "not hbd's cl_status: {err}");
    }
    daemon.terminate(Duration::from_secs(10));
}

/// hbd's files under the paths slim container images tell dpkg to leave out
/// (path-exclude in /etc/dpkg/dpkg.cfg.d): included again, since command-line
/// filters come after the configuration's and the last match wins.
const DPKG_INCLUDE: [&str; 4] = [
    "--path-include=/usr/share/doc/hbd/*",
    "--path-include=/usr/share/man/man5/hbd*",
    "--path-include=/usr/share/man/man8/hbd*",
    "--path-include=/usr/share/man/man8/cl_status*",
];

/// Removes the package this test installed, even when an assertion failed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "hbd"]).output();
    }
}

/// `(cargo profile, target dir)` of the binary under test, so the package is
/// built from exactly that binary.
fn profile_of(exe: &Path) -> (String, PathBuf) {
    let dir = exe.parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let profile = if name == "debug" { "dev".into() } else { name };
    (profile, dir.parent().unwrap().to_path_buf())
}

#[test]
fn deb_installs_checks_its_sample_and_purges_cleanly() {
    let asked = std::env::var_os("HBD_TEST_PACKAGE").is_some_and(|v| !v.is_empty() && v != "0");
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !Needs::new("deb_installs_checks_its_sample_and_purges_cleanly")
        .root("dpkg -i")
        .tool("dpkg", "dpkg")
        .that(
            has_cargo_deb || asked,
            "cargo-deb is not installed (cargo install cargo-deb --locked, or \
             HBD_TEST_PACKAGE=1 to have build-deb.sh install it)",
        )
        .met()
    {
        return;
    }
    // One package test per machine at a time: dpkg has one database.
    let lock = std::fs::File::create("/tmp/hbd-package-test.lock").unwrap();
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    if !Needs::new("deb_installs_checks_its_sample_and_purges_cleanly")
        .that(
            !installed(),
            "an hbd package is already installed here; not ours to replace or remove",
        )
        .met()
    {
        return;
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_hbd"));
    let (profile, target_dir) = profile_of(&exe);
    let out = tempfile::tempdir().unwrap();
    ok(Command::new(root.join("packaging/build-deb.sh"))
        .args(["--no-build", "--profile", &profile, "--output"])
        .arg(out.path())
        .env("CARGO_TARGET_DIR", &target_dir));
    let deb = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("build-deb.sh made no .deb");
    lintian_finds_nothing(&deb);
    // heartbeat's tools as they are before hbd diverts them (if installed).
    let theirs: Vec<Option<Vec<u8>>> = DROP_INS.iter().map(|f| std::fs::read(f).ok()).collect();

    let _installed = Installed;
    ok(Command::new("dpkg").args(DPKG_INCLUDE).arg("-i").arg(&deb));
    assert!(installed());

    let version = ok(Command::new("/usr/sbin/hbd").arg("--version"));
    assert_eq!(version.trim(), format!("hbd {}", env!("CARGO_PKG_VERSION")));

    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // Documentation is world-readable; the copy in /etc/ha.d is made 600.
    assert_eq!(mode(&format!("{SAMPLE}/authkeys")), 0o644);
    assert_eq!(mode("/usr/lib/hbd/resource.d/IPaddr2"), 0o755);
    assert_eq!(mode("/usr/lib/hbd/resource.d/.hbd-functions"), 0o644);
    let refused =
        run(Command::new("/usr/sbin/hbd").args(["check", "-c", SAMPLE, "--node", "alpha"]));
    assert!(
        !refused.status.success() && text(&refused).contains("run `chmod 600"),
        "{}",
        text(&refused)
    );

    // The sample copied as docs/packaging.md says passes, and the agents it
    // names are found where the package put them (only the site's own
    // `apache` is missing here). This host is not alpha, so the check is
    // off-node: facts of this host only warn, and the verdict says so.
    let copy = tempfile::tempdir().unwrap();
    let etc = copy.path().join("ha.d");
    ok(Command::new("cp")
        .args(["-a", &format!("{SAMPLE}/.")])
        .arg(&etc));
    ok(Command::new("chmod").arg("600").arg(etc.join("authkeys")));
    let check = ok(Command::new("/usr/sbin/hbd")
        .args(["check", "--node", "alpha", "-c"])
        .arg(&etc));
    assert!(
        check.contains("0 errors") && check.contains("OK for node alpha so far"),
        "{check}"
    );
    for agent in ["IPaddr", "Filesystem"] {
        assert!(
            !check.contains(&format!("resource script \"{agent}\" not found")),
            "{check}"
        );
    }

    if Needs::new("deb_installs_checks_its_sample_and_purges_cleanly: man lookup")
        .tool("man", "man-db")
        .met()
    {
        for page in ["hbd", "hbd-run", "hbd-export-pacemaker", "hbd.toml"] {
            let found = ok(Command::new("man").args(["-w", page]));
            assert!(found.contains("/usr/share/man/"), "{page}: {found}");
        }
        let found = ok(Command::new("man").args(["-w", "8", "cl_status"]));
        assert!(found.contains("/usr/share/man/man8/cl_status.8"), "{found}");
    }
    for f in [
        "/usr/share/bash-completion/completions/hbd",
        "/usr/share/zsh/vendor-completions/_hbd",
        "/usr/share/fish/vendor_completions.d/hbd.fish",
    ] {
        assert!(Path::new(f).is_file(), "{f} missing");
    }
    let complete = ok(Command::new("bash").args([
        "-c",
        ". /usr/share/bash-completion/completions/hbd && complete -p hbd",
    ]));
    assert!(complete.contains("hbd"), "{complete}");

    let unit = [
        "/lib/systemd/system/hbd.service",
        "/usr/lib/systemd/system/hbd.service",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
    .expect("hbd.service not installed");
    let text_unit = std::fs::read_to_string(unit).unwrap();
    assert!(text_unit.contains("Type=notify"));
    assert!(text_unit.contains("ExecStart=/usr/sbin/hbd run"));
    if Needs::new("deb_installs_checks_its_sample_and_purges_cleanly: unit verification")
        .tool("systemd-analyze", "systemd")
        .met()
    {
        // Everything the unit refers to (binary, man pages) now exists.
        let v = run(Command::new("systemd-analyze").args(["verify", unit]));
        let all = text(&v);
        let ours: Vec<&str> = all.lines().filter(|l| l.contains("hbd")).collect();
        assert!(ours.is_empty(), "systemd-analyze verify {unit}:\n{all}");
    }

    drop_ins_answer_for_hbd_and_leave_heartbeat_its_own();

    ok(Command::new("dpkg").args(["--purge", "hbd"]));
    assert!(!installed());
    assert!(!Path::new("/usr/sbin/hbd").exists());
    assert!(!Path::new(SAMPLE).exists());
    // heartbeat's tools are back, unchanged, and nothing is diverted.
    for (f, before) in DROP_INS.iter().zip(&theirs) {
        assert_eq!(&std::fs::read(f).ok(), before, "{f} after purge");
        assert!(
            !Path::new(&format!("{f}.heartbeat")).exists(),
            "{f}.heartbeat left"
        );
        assert!(!diversions(f).contains("by hbd"), "{f}: {}", diversions(f));
    }
}

/// What a package test needs (root, dpkg, cargo-deb, no hbd package here),
/// and the machine-wide lock that serialises package tests; None: skipped.
fn package_lab(test: &str) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let asked = std::env::var_os("HBD_TEST_PACKAGE").is_some_and(|v| !v.is_empty() && v != "0");
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !Needs::new(test)
        .root("dpkg -i")
        .tool("dpkg", "dpkg")
        .that(
            has_cargo_deb || asked,
            "cargo-deb is not installed (cargo install cargo-deb --locked, or \
             HBD_TEST_PACKAGE=1 to have build-deb.sh install it)",
        )
        .met()
    {
        return None;
    }
    let lock = std::fs::File::create("/tmp/hbd-package-test.lock").unwrap();
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    Needs::new(test)
        .that(
            !installed(),
            "an hbd package is already installed here; not ours to replace or remove",
        )
        .met()
        .then_some(lock)
}

/// The package of the binary under test with Debian revision `revision`.
fn build_deb(revision: u32, out: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (profile, target_dir) = profile_of(&PathBuf::from(env!("CARGO_BIN_EXE_hbd")));
    ok(Command::new(root.join("packaging/build-deb.sh"))
        .args(["--no-build", "--profile", &profile, "--revision"])
        .arg(revision.to_string())
        .arg("--output")
        .arg(out)
        .env("CARGO_TARGET_DIR", &target_dir));
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("build-deb.sh made no .deb")
}

/// The package upgraded under a running node (`dpkg -i` of revision 2 over
/// revision 1): its postinst runs `hbd restart`, the daemon execs the new
/// binary in place (same pid, new generation), and the group it runs is
/// never stopped or started: its resource's journal holds the first start
/// only, and a sampler every 5 ms never saw it down.
#[test]
fn upgrade_of_a_running_node_restarts_it_in_place_and_moves_nothing() {
    let test = "upgrade_of_a_running_node_restarts_it_in_place_and_moves_nothing";
    let Some(_lock) = package_lab(test) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let first = build_deb(1, &out.path().join("1"));
    let second = build_deb(2, &out.path().join("2"));
    lintian_finds_nothing(&second);
    let _installed = Installed;
    ok(Command::new("dpkg")
        .args(DPKG_INCLUDE)
        .arg("-i")
        .arg(&first));

    let dir = tempfile::tempdir().unwrap();
    write_alone_had(dir.path());
    std::fs::write(dir.path().join("haresources"), "alpha marker\n").unwrap();
    let up = dir.path().join("marker.up");
    let journal = dir.path().join("marker.journal");
    std::fs::create_dir(dir.path().join("resource.d")).unwrap();
    let script = dir.path().join("resource.d/marker");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do action=$a; done\ncase \"$action\" in\n\
             start) echo start >> {j}; touch {u} ;;\n\
             stop) echo stop >> {j}; rm -f {u} ;;\n\
             status) if [ -e {u} ]; then echo running; else echo stopped; fi ;;\n\
             esac\nexit 0\n",
            j = journal.display(),
            u = up.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_dir = dir.path().join("run");
    let mut daemon = run_installed_alpha(dir.path(), &run_dir);
    let log_text = || std::fs::read_to_string(dir.path().join("hbd.log")).unwrap_or_default();
    let running = |r: &hbd::control::StatusReport| {
        r.groups
            .first()
            .is_some_and(|g| g.state == hbd::core::GroupState::Running)
    };
    // Alone: the group is taken at initdead (2 s).
    let before = hbd::demo::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        hbd::demo::cluster::status(&run_dir)
            .ok()
            .filter(|r| running(r))
    })
    .unwrap_or_else(|| panic!("the group did not start:\n{}", log_text()));
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), "start\n");
    let pid = daemon.pid();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (stop, up) = (stop.clone(), up.clone());
        std::thread::spawn(move || {
            let mut down = 0u32;
            let t0 = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && t0.elapsed() < Duration::from_secs(120)
            {
                down += u32::from(!up.exists());
                std::thread::sleep(Duration::from_millis(5));
            }
            down
        })
    };
    let upgrade = ok(Command::new("dpkg")
        .args(DPKG_INCLUDE)
        .arg("-i")
        .arg(&second)
        .env("HBD_RUN_DIR", &run_dir));
    assert!(
        upgrade.contains("hbd restarted (generation"),
        "{upgrade}\n{}",
        log_text()
    );
    let after = hbd::demo::cluster::status(&run_dir).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(sampler.join().unwrap(), 0, "the resource was seen down");
    let version = ok(Command::new("dpkg-query").args(["-W", "-f", "${Version}", "hbd"]));
    assert!(version.ends_with("-2"), "{version}");
    assert_eq!(daemon.pid(), pid);
    assert!(daemon.running(), "{}", log_text());
    assert_ne!(after.local.generation, before.local.generation);
    assert!(running(&after), "{after:?}");
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap(),
        "start\n",
        "{}",
        log_text()
    );
    assert!(log_text().contains("restarting in place: exec /usr/sbin/hbd"));
    daemon.terminate(Duration::from_secs(10));
}

/// The installed `/usr/sbin/hbd` run as node alpha on loopback with the
/// configuration, state and run directories under `dir`, its output in
/// `dir/hbd.log`.
fn run_installed_alpha(dir: &std::path::Path, run_dir: &std::path::Path) -> Daemon {
    let log = std::fs::File::create(dir.join("hbd.log")).unwrap();
    let mut cmd = Command::new("/usr/sbin/hbd");
    cmd.args(["run", "--node", "alpha", "--bind", "127.0.0.1", "-c"])
        .arg(dir)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--run-dir")
        .arg(run_dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Daemon::spawn("alpha", &mut cmd).unwrap()
}
