//! The Debian package for real: `packaging/build-deb.sh` builds it from the
//! binary under test, `dpkg -i` installs it on this machine, the installed
//! `hbd check` accepts the installed sample and finds the installed agents,
//! the man pages, completions and unit are where their tools look, and
//! `dpkg --purge` takes it all away again.
//!
//! Needs root, dpkg and cargo-deb (unless HBD_TEST_PACKAGE=1 asks
//! build-deb.sh to install it); skipped with the reason otherwise, and also
//! when an hbd package is already installed (it is not ours to remove). Under
//! HBD_REQUIRE_LAB=1 any of those skips is a failure. dpkg's path exclusions
//! (slim container images drop /usr/share/doc and man) are overridden for
//! hbd's own files, so they skip nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testkit::skip::Needs;

const SAMPLE: &str = "/usr/share/doc/hbd/examples/ha.d";

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
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "hbd"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// hbd's files under the paths slim container images tell dpkg to leave out
/// (path-exclude in /etc/dpkg/dpkg.cfg.d): included again, since command-line
/// filters come after the configuration's and the last match wins.
const DPKG_INCLUDE: [&str; 3] = [
    "--path-include=/usr/share/doc/hbd/*",
    "--path-include=/usr/share/man/man5/hbd*",
    "--path-include=/usr/share/man/man8/hbd*",
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

    let _installed = Installed;
    ok(Command::new("dpkg").args(DPKG_INCLUDE).arg("-i").arg(&deb));
    assert!(installed());

    let version = ok(Command::new("/usr/sbin/hbd").arg("--version"));
    assert_eq!(version.trim(), format!("hbd {}", env!("CARGO_PKG_VERSION")));

    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&format!("{SAMPLE}/authkeys")), 0o600);
    assert_eq!(mode("/usr/lib/hbd/resource.d/IPaddr2"), 0o755);
    assert_eq!(mode("/usr/lib/hbd/resource.d/.hbd-functions"), 0o644);

    // The installed sample passes, and the agents it names are found where
    // the package put them (only the site's own `apache` is missing here).
    // This host is not alpha, so the check is off-node: facts of this host
    // only warn, and the verdict says so.
    let check = ok(Command::new("/usr/sbin/hbd").args(["check", "-c", SAMPLE, "--node", "alpha"]));
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

    ok(Command::new("dpkg").args(["--purge", "hbd"]));
    assert!(!installed());
    assert!(!Path::new("/usr/sbin/hbd").exists());
    assert!(!Path::new(SAMPLE).exists());
}
