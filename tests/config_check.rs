//! `hbd check`, `hbd run --dry-run`, `hbd run` and `hbd migrate` as an
//! operator runs them: the real binary on the repo's sample `ha.d/` and on the
//! case directories under `tests/configs/`:
//!
//! - `broken/`: checked for node alpha from this host (facts of the host only
//!   warn); `expected` holds the exact output.
//! - `broken-on-node/`: facts of the host that are errors on the node, checked
//!   in a sandbox whose host name is alpha; `expected` holds the exact output.
//! - `gallery/`: real-world-shaped `/etc/ha.d` directories; `verdict` records
//!   what heartbeat 3.0.6 and hbd do with each and why, `expected` hbd's exact
//!   on-node output. They model a node where Debian's heartbeat 3.0.6 is
//!   installed (the node being migrated), so that package is needed: its
//!   `rc.d` scripts and `resource.d` agents are in `expected`, and its binary
//!   reruns heartbeat's verdict.
//!
//! Every configuration of all three goes through the sandbox once more, where
//! `check`, `run --dry-run` and a real `run` must agree (and, where check
//! accepts, check of migrate's output must too).
//!
//! Case directories are copied to a temporary `ha.d/` (git cannot store mode
//! 600, so `authkeys` and `hbd.toml` are chmod 600 unless `<file>.mode` says
//! otherwise); `broken` cases get a `resource.d/` with executable `IPaddr`,
//! `Filesystem` and `apache` stubs so script lookup is deterministic, gallery
//! cases a copy of the installed `/etc/ha.d` (heartbeat's agents) plus their
//! own `resource.d/`. `args` adds command-line arguments. Set `HBD_BLESS=1` to
//! rewrite the `expected` files (and review the diff).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testkit::hblab::HEARTBEAT;
use testkit::skip::Needs;

fn hbd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hbd"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files of a case directory that describe the case rather than belong to it.
const CASE_META: [&str; 3] = ["expected", "args", "verdict"];

/// Copies the configuration files of case `src` into `dst` (mode 600 for
/// `authkeys` and `*.toml` unless `<file>.mode` says otherwise, 644 for the
/// rest), and the scripts of its `resource.d/`, if any, with their modes.
fn stage_files(src: &Path, dst: &Path) {
    fs::create_dir_all(dst.join("resource.d")).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() && name == "resource.d" {
            for s in fs::read_dir(e.path()).unwrap() {
                let s = s.unwrap();
                fs::copy(s.path(), dst.join("resource.d").join(s.file_name())).unwrap();
            }
            continue;
        }
        if !e.file_type().unwrap().is_file()
            || name.ends_with(".mode")
            || CASE_META.contains(&name.as_str())
        {
            continue;
        }
        let to = dst.join(&name);
        fs::copy(e.path(), &to).unwrap();
        let mode = match fs::read_to_string(src.join(format!("{name}.mode"))) {
            Ok(m) => u32::from_str_radix(m.trim(), 8).unwrap(),
            Err(_) if name == "authkeys" || name.ends_with(".toml") => 0o600,
            Err(_) => 0o644,
        };
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Copies case `src` to `<tmp>/ha.d` with a `resource.d/` holding executable
/// `IPaddr`, `Filesystem` and `apache` stubs, so script lookup is deterministic.
fn stage(src: &Path, tmp: &Path) -> PathBuf {
    let dst = tmp.join("ha.d");
    fs::create_dir_all(dst.join("resource.d")).unwrap();
    for name in ["IPaddr", "Filesystem", "apache"] {
        let p = dst.join("resource.d").join(name);
        fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    stage_files(src, &dst);
    dst
}

/// The case directories under `tests/configs/<set>`, sorted.
fn cases(set: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(repo().join("tests/configs").join(set))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// The extra arguments of a case (`args`), else `--node alpha`.
fn case_args(case: &Path) -> Vec<String> {
    match fs::read_to_string(case.join("args")) {
        Ok(extra) => extra.split_whitespace().map(String::from).collect(),
        Err(_) => vec!["--node".into(), "alpha".into()],
    }
}

fn run_in(tmp: &Path, args: &[&str]) -> Output {
    hbd().current_dir(tmp).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn sample_config_passes_check_on_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    stage(&repo().join("ha.d"), tmp.path());
    for (target, node) in [
        ("ha.d", "alpha"),
        ("ha.d", "beta"),
        ("ha.d/hbd.toml", "alpha"),
        ("ha.d/ha.cf", "beta"),
    ] {
        let o = run_in(tmp.path(), &["check", "-c", target, "--node", node]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{target} as {node}:\n{out}");
        // Not checked on alpha or beta: eth0 or /dev/ttyS0 may be absent on
        // this host, which is only a warning.
        let last = out.lines().last().unwrap();
        assert!(last.starts_with(&format!("{target}: 0 errors, ")), "{out}");
        assert!(
            last.ends_with(&format!("; OK for node {node} so far (this host is not {node}: facts of this host are only warnings; run `hbd check` on {node})")),
            "{out}"
        );
        assert!(!out.contains("change-this-shared-secret"), "{out}");
    }
}

/// `--portable` checks the configuration for any host: no node is assumed
/// (unless named), facts of this host only warn, and the summary says so.
#[test]
fn portable_check_assumes_no_node() {
    let tmp = tempfile::tempdir().unwrap();
    stage(&repo().join("ha.d"), tmp.path());
    let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--portable"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.ends_with("; OK so far (portable check: facts of this host are only warnings; run `hbd check` on each node)\n"),
        "{out}"
    );
    assert!(
        out.lines()
            .filter(|l| {
                !l.starts_with("ha.d: ") && !l.starts_with("loss: ") && !l.starts_with("address ")
            })
            .all(|l| l.contains(": warning: ")),
        "{out}"
    );
    let o = run_in(
        tmp.path(),
        &["check", "-c", "ha.d", "--portable", "--node", "gamma"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("this host is \"gamma\", which is not a configured node"));
}

#[test]
fn unknown_local_node_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    stage(&repo().join("ha.d"), tmp.path());
    let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--node", "Gamma"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("this host is \"gamma\", which is not a configured node"));
}

#[test]
fn broken_configs_are_rejected_line_by_line() {
    let cases = cases("broken");
    assert!(cases.len() >= 15, "only {} broken cases", cases.len());
    let bless = std::env::var_os("HBD_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let tmp = tempfile::tempdir().unwrap();
        stage(case, tmp.path());
        let mut args = vec!["check".to_string(), "-c".into(), "ha.d".into()];
        args.extend(case_args(case));
        let o = run_in(
            tmp.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let out = stdout(&o);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if bless {
            fs::write(case.join("expected"), &out).unwrap();
            continue;
        }
        let expected = fs::read_to_string(case.join("expected")).unwrap_or_else(|_| {
            panic!("{name}: no expected file (run with HBD_BLESS=1 and review)")
        });
        if o.status.code() != Some(1) {
            failures.push(format!("{name}: exit {:?}, expected 1", o.status.code()));
        }
        if out != expected {
            failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{out}"));
        }
        if out.contains("topsecret") {
            failures.push(format!("{name}: a secret was printed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn migrate_round_trips_through_check() {
    use hbd::config::{load, toml_form::comparable, LoadOptions, Purpose};
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "--node", "alpha"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let toml_path = tmp.path().join("migrated.toml");
    fs::write(&toml_path, &o.stdout).unwrap();
    fs::set_permissions(&toml_path, fs::Permissions::from_mode(0o600)).unwrap();

    let c = run_in(
        tmp.path(),
        &["check", "-c", "migrated.toml", "--node", "alpha"],
    );
    assert_eq!(c.status.code(), Some(0), "{}", stdout(&c));

    let opts = LoadOptions {
        node: Some("alpha".into()),
        purpose: Purpose::Check,
    };
    let legacy = load(&ha_d, &opts);
    let migrated = load(&toml_path, &opts);
    let (Some(a), Some(mut b)) = (legacy.config, migrated.config) else {
        panic!("{:?}\n{:?}", legacy.diagnostics, migrated.diagnostics);
    };
    // The one addition: the source's resource.d stays in the search path.
    assert_eq!(
        b.hbd.resource_dirs,
        vec![std::path::absolute(ha_d.join("resource.d")).unwrap()]
    );
    b.hbd.resource_dirs.clear();
    assert_eq!(comparable(&a), comparable(&b));
    // The hand-written hbd.toml in the sample describes the same pair.
    let sample = load(&ha_d.join("hbd.toml"), &opts).config.unwrap();
    assert_eq!(comparable(&a), comparable(&sample));

    // Migrating the TOML form itself, saved elsewhere, still finds the keys.
    let o = run_in(
        tmp.path(),
        &["migrate", "-c", "ha.d/hbd.toml", "--node", "beta"],
    );
    assert_eq!(o.status.code(), Some(0));
    let other = tempfile::tempdir().unwrap();
    let again = other.path().join("hbd.toml");
    fs::write(&again, &o.stdout).unwrap();
    let mut c = load(&again, &opts)
        .config
        .expect("migrated TOML loads from another directory");
    c.hbd.resource_dirs.clear();
    assert_eq!(comparable(&a), comparable(&c));
}

/// On a workstation (not a node, no --node), migrate still works, facts of
/// that host only warning; with `-o` it writes the file only on success, and
/// every directive it leaves out is a comment saying why.
#[test]
fn migrate_off_node_to_a_file_with_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let mut ha_cf = fs::read_to_string(ha_d.join("ha.cf")).unwrap();
    ha_cf.push_str("use_logd yes\nenv PGPASSWORD=topsecret\n");
    fs::write(ha_d.join("ha.cf"), &ha_cf).unwrap();
    let here = hbd::config::local_node_name(None).unwrap();
    if !Needs::new("migrate_off_node_to_a_file_with_comments")
        .that(
            here != "alpha" && here != "beta",
            &format!("this host is named {here}, a node of the sample pair, so it is not off-node"),
        )
        .met()
    {
        return;
    }
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "-o", "hbd.toml"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(o.stdout.is_empty());
    assert!(
        err.starts_with(&format!(
            "hbd migrate: this host ({here}) is not a node of this pair: facts of this host are only warnings"
        )),
        "{err}"
    );
    let text = fs::read_to_string(tmp.path().join("hbd.toml")).unwrap();
    let lines = ha_cf.lines().count();
    assert!(
        text.contains(&format!(
            "#   ha.d/ha.cf:{}: use_logd yes: hbd ignores it because hbd logs to stderr",
            lines - 1
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "#   ha.d/ha.cf:{lines}: env PGPASSWORD=…: hbd ignores it"
        )),
        "{text}"
    );
    assert!(!text.contains("topsecret") && !err.contains("topsecret"));
    let mode = fs::metadata(tmp.path().join("hbd.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o644,
        "keys stay in authkeys, so the TOML holds no secret"
    );

    // A broken source: nothing written, the old file untouched.
    fs::write(ha_d.join("ha.cf"), format!("{ha_cf}deadtime 10s\n")).unwrap();
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "-o", "hbd.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was written"));
    assert_eq!(
        fs::read_to_string(tmp.path().join("hbd.toml")).unwrap(),
        text
    );
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "-o", "new.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!tmp.path().join("new.toml").exists());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        2,
        "no temporary file left"
    );
}

#[test]
fn migrate_refuses_a_broken_config_and_prints_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    stage(
        &repo().join("tests/configs/broken/time_seconds_suffix"),
        tmp.path(),
    );
    let o = run_in(tmp.path(), &["migrate", "-c", "ha.d", "--node", "alpha"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("deadtime"));
}

#[test]
fn vector_configs_check_and_migrate() {
    let found = testkit::vectors();
    if !testkit::skip::Needs::new("vector_configs_check_and_migrate")
        .that(found.is_some(), "the heartbeat 3.0.6 vectors are not found")
        .met()
    {
        return;
    }
    let vectors = found.unwrap();
    for set in ["sha1", "md5", "crc", "sha1-netstring"] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("ha.d");
        fs::create_dir_all(&d).unwrap();
        let src = vectors.join(set);
        fs::copy(src.join("ha.cf.nodea"), d.join("ha.cf")).unwrap();
        fs::copy(src.join("haresources"), d.join("haresources")).unwrap();
        fs::copy(src.join("authkeys"), d.join("authkeys")).unwrap();
        fs::set_permissions(d.join("authkeys"), fs::Permissions::from_mode(0o600)).unwrap();
        let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--node", "nodeb"]);
        assert_eq!(o.status.code(), Some(0), "{set}:\n{}", stdout(&o));
        let m = run_in(tmp.path(), &["migrate", "-c", "ha.d", "--node", "nodeb"]);
        assert_eq!(m.status.code(), Some(0), "{set}");
    }
}

/// `[hbd] metrics` off loopback is allowed, but `hbd check` says it is open to anyone.
#[test]
fn metrics_off_loopback_is_a_warning_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let toml = ha_d.join("hbd.toml");
    let mut text = fs::read_to_string(&toml).unwrap();
    assert!(
        text.trim_end().ends_with("stop_failure = \"block\""),
        "[hbd] is no longer last"
    );
    text.push_str("metrics = \"0.0.0.0:9694\"\n");
    let line = text.lines().count();
    fs::write(&toml, &text).unwrap();
    let o = run_in(
        tmp.path(),
        &["check", "-c", "ha.d/hbd.toml", "--node", "alpha"],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "ha.d/hbd.toml:{line}: metrics: warning: 0.0.0.0:9694 is not a loopback address"
        )),
        "{out}"
    );
    // A port alone is loopback: no warning about it.
    fs::write(&toml, text.replace("\"0.0.0.0:9694\"", "\"9694\"")).unwrap();
    let out = stdout(&run_in(
        tmp.path(),
        &["check", "-c", "ha.d/hbd.toml", "--node", "alpha"],
    ));
    assert!(!out.contains("metrics"), "{out}");
}

#[test]
fn reference_names_every_directive_and_its_example_loads() {
    let doc = fs::read_to_string(repo().join("docs/config-reference.md")).unwrap();
    for d in hbd::config::hacf::known_directives() {
        assert!(
            doc.contains(&format!("`{d}`")),
            "docs/config-reference.md misses `{d}`"
        );
    }
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let path = ha_d.join("example.toml");
    fs::write(&path, example).unwrap();
    let o = run_in(
        tmp.path(),
        &["check", "-c", "ha.d/example.toml", "--node", "beta"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

// ---------------------------------------------------------------------------
// The sandbox: one configuration on a machine of its own (root only).
//
// Fresh UTS, mount, network and PID namespaces: the host name is `alpha`,
// `lo` is up, `eth0` (192.0.2.1/24) and `eth1` (10.250.0.1/24) are veth ends
// whose peers stay inside, `/dev/ttyS0` is one end of a socat pty pair, and
// the staged directory is `/etc/ha.d`, with private `/etc/hosts`,
// `/var/lib/heartbeat`, `/run` and `/var/log`. Nothing leaves the namespace;
// everything in it dies with its PID 1 when the script ends.
//
// In it, one after the other: `hbd check` (on the node), `hbd run --dry-run`,
// `hbd run` (until it says it is starting, or exits), and, when asked, the
// real heartbeat 3.0.6 (`heartbeat -f`: refused if it exits within 3 s,
// started if it is still running then). Daemons are killed with SIGKILL so
// that no resource script runs on the way out.
// ---------------------------------------------------------------------------

const SANDBOX_HOSTS: &str =
    "127.0.0.1 localhost\n10.250.0.1 alpha\n10.250.0.2 beta\n192.0.2.254 gateway\n";

const SANDBOX_SH: &str = r#"
set -u
O=$ROOT/out
hostname alpha
ip link set lo up
for i in 0 1; do
  ip link add eth$i type veth peer name eth${i}p
  ip link set eth${i}p up
  ip link set eth$i up
done
ip addr add 192.0.2.1/24 dev eth0
ip addr add 10.250.0.1/24 dev eth1
mount -t proc proc /proc
mount --bind "$ETC" /etc/ha.d
mount --bind "$ROOT/hosts" /etc/hosts
mount --bind "$ROOT/lib" /var/lib/heartbeat
mount --bind "$ROOT/run" /run
mount --bind "$ROOT/log" /var/log
socat pty,raw,echo=0,link=/run/tty0 pty,raw,echo=0,link=/run/tty1 2>/dev/null &
n=0; while [ ! -e /run/tty0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
mount --bind "$(readlink -f /run/tty0)" /dev/ttyS0
DIRS="--state-dir /var/lib/heartbeat/hbd --run-dir /run/hbd"
"$HBD" check -c /etc/ha.d $DIRS $ARGS > "$O/check.out" 2>&1; echo $? > "$O/check.rc"
"$HBD" run --dry-run -c /etc/ha.d $DIRS $ARGS > "$O/dry.out" 2>&1; echo $? > "$O/dry.rc"
# $1 name, $2 text that means "started" (none: alive after 3 s), then the command.
daemon() {
  name=$1; marker=$2; shift 2
  "$@" > "$O/$name.out" 2>&1 &
  pid=$!
  n=0
  while [ $n -lt 100 ]; do
    if ! kill -0 $pid 2>/dev/null; then
      wait $pid; echo "refuses $?" > "$O/$name.verdict"; return
    fi
    if [ -n "$marker" ] && grep -qF "$marker" "$O/$name.out"; then break; fi
    if [ -z "$marker" ] && [ $n -ge 30 ]; then break; fi
    sleep 0.1; n=$((n+1))
  done
  if [ -n "$marker" ] && ! grep -qF "$marker" "$O/$name.out"; then
    echo "hangs" > "$O/$name.verdict"
  else
    echo "starts" > "$O/$name.verdict"
  fi
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
}
if [ "$(cat "$O/check.rc")" = 0 ]; then
  mkdir -p /run/migrated
  "$HBD" migrate -c /etc/ha.d -o /run/migrated/hbd.toml $ARGS 2> "$O/migrate.err"
  "$HBD" check -c /run/migrated/hbd.toml $DIRS $ARGS > "$O/migrated.out" 2>&1; echo $? > "$O/migrated.rc"
fi
daemon run "starting as node" "$HBD" run -c /etc/ha.d --no-realtime $DIRS $ARGS
if [ -n "$HEARTBEAT" ]; then
  daemon heartbeat "" "$HEARTBEAT" -f -l
fi
exit 0
"#;

/// Whether the sandbox cannot be built here (why printed). Under
/// `HBD_REQUIRE_LAB=1` (CI) a missing sandbox fails the test instead.
fn sandbox_unavailable(test: &str) -> bool {
    !Needs::new(test)
        .root("namespaces, mounts")
        .tool("unshare", "util-linux")
        .tool("ip", "iproute2")
        .tool("socat", "socat")
        .tool("mount", "mount")
        .met()
}

/// What one configuration did in the sandbox.
#[derive(Debug)]
struct Outcome {
    check: (i32, String),
    dry_run: (i32, String),
    /// `starts`, `refuses N` or `hangs`, and the daemon's output.
    run: (String, String),
    heartbeat: Option<(String, String)>,
    /// When check accepted: `hbd check` of `hbd migrate`'s output (placed in
    /// another directory), and migrate's stderr.
    migrated: Option<(i32, String, String)>,
}

impl Outcome {
    fn check_verdict(&self) -> &'static str {
        if self.check.0 == 0 {
            "starts"
        } else {
            "refuses"
        }
    }
}

/// Runs the sandbox on `etc` (the future `/etc/ha.d`), passing `args` to the
/// three hbd commands, and heartbeat too when `heartbeat` is set.
fn sandbox(etc: &Path, args: &[String], heartbeat: bool) -> Outcome {
    let root = etc.parent().unwrap();
    for d in [
        "lib/hbd",
        "run/heartbeat/ccm",
        "run/heartbeat/crm",
        "run/lock",
        "log",
        "out",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("hosts"), SANDBOX_HOSTS).unwrap();
    if heartbeat {
        // heartbeat's API socket directory belongs to hacluster.
        let _ = Command::new("chown")
            .args(["-R", "hacluster:haclient"])
            .arg(root.join("run/heartbeat"))
            .status();
    }
    let status = Command::new("unshare")
        .args(["--uts", "--mount", "--net", "--pid", "--fork"])
        .args(["--propagation", "private", "sh", "-c", SANDBOX_SH])
        .env("ROOT", root)
        .env("ETC", etc)
        .env("HBD", env!("CARGO_BIN_EXE_hbd"))
        .env("ARGS", args.join(" "))
        .env("HEARTBEAT", if heartbeat { HEARTBEAT } else { "" })
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare");
    let read = |name: &str| fs::read_to_string(root.join("out").join(name)).unwrap_or_default();
    let rc = |name: &str| {
        read(name).trim().parse::<i32>().unwrap_or_else(|_| {
            panic!(
                "sandbox for {} did not finish: {}{}",
                etc.display(),
                String::from_utf8_lossy(&status.stdout),
                String::from_utf8_lossy(&status.stderr)
            )
        })
    };
    Outcome {
        check: (rc("check.rc"), read("check.out")),
        dry_run: (rc("dry.rc"), read("dry.out")),
        run: (read("run.verdict").trim().to_string(), read("run.out")),
        migrated: (rc("check.rc") == 0).then(|| {
            let code = read("migrated.rc").trim().parse::<i32>().unwrap_or(-1);
            (code, read("migrated.out"), read("migrate.err"))
        }),
        heartbeat: heartbeat.then(|| {
            let mut log = read("heartbeat.out");
            log.push_str(&fs::read_to_string(root.join("log/ha-log")).unwrap_or_default());
            (read("heartbeat.verdict").trim().to_string(), log)
        }),
    }
}

/// Runs `f` over `items` on a few threads (each sandbox is its own machine).
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                let r = f(item);
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut r = results.into_inner().unwrap();
    r.sort_by_key(|(i, _)| *i);
    r.into_iter().map(|(_, r)| r).collect()
}

/// A case staged the way it would sit on a node: `broken` cases as in
/// [`stage`], gallery cases over a copy of the installed `/etc/ha.d`
/// (heartbeat's harc, rc.d and resource.d) plus hbd's `service` agent.
fn stage_on_node(case: &Path, tmp: &Path, gallery: bool) -> PathBuf {
    if !gallery {
        return stage(case, tmp);
    }
    let etc = tmp.join("ha.d");
    if Path::new("/etc/ha.d").is_dir() {
        let ok = Command::new("cp")
            .args(["-a", "/etc/ha.d"])
            .arg(&etc)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cp -a /etc/ha.d");
        for f in ["ha.cf", "haresources", "authkeys"] {
            let _ = fs::remove_file(etc.join(f));
        }
    }
    fs::create_dir_all(etc.join("resource.d")).unwrap();
    for agent in ["service", ".hbd-functions"] {
        let to = etc.join("resource.d").join(agent);
        if !to.exists() {
            fs::copy(repo().join("resource.d").join(agent), &to).unwrap();
        }
    }
    stage_files(case, &etc);
    etc
}

/// Which way each side went, as `verdict` records it: `heartbeat: starts`.
fn recorded(case: &Path, who: &str) -> Option<String> {
    let text = fs::read_to_string(case.join("verdict")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{who}: ")))
        .map(|v| v.trim().to_string())
}

/// The warnings of a `check` output, without where they were found (a
/// migrated file has other lines): `directive: warning: message`.
fn warnings(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (head, msg) = l.split_once(": warning: ")?;
            let directive = head.rsplit(": ").next().unwrap_or(head);
            Some(format!("{directive}: {msg}"))
        })
        .collect()
}

/// `hbd check` on the node approves exactly what `hbd run` starts: for every
/// broken case (on-node ones included) and every gallery configuration, the
/// on-node check, `run --dry-run` and a real `run` give the same verdict. And
/// where check accepts, `hbd migrate`'s output, moved to another directory,
/// is accepted too, without a warning the source did not have.
#[test]
fn check_and_run_agree_on_every_config() {
    if sandbox_unavailable("check_and_run_agree_on_every_config") {
        return;
    }
    let mut all: Vec<(PathBuf, bool)> = Vec::new();
    for (set, gallery) in [
        ("broken", false),
        ("broken-on-node", false),
        ("gallery", true),
    ] {
        all.extend(cases(set).into_iter().map(|c| (c, gallery)));
    }
    let failures: Vec<String> = in_parallel(&all, |(case, gallery)| {
        let tmp = tempfile::tempdir().unwrap();
        let etc = stage_on_node(case, tmp.path(), *gallery);
        let args = case_args(case)
            .into_iter()
            .filter(|a| !["--node", "alpha"].contains(&a.as_str()))
            .collect::<Vec<_>>();
        let o = sandbox(&etc, &args, false);
        let name = case.display();
        let check = o.check_verdict();
        let mut bad = Vec::new();
        if o.dry_run.0 != o.check.0 {
            bad.push(format!(
                "{name}: check exits {}, run --dry-run {}:\n{}\n{}",
                o.check.0, o.dry_run.0, o.check.1, o.dry_run.1
            ));
        }
        let run = o.run.0.split_whitespace().next().unwrap_or("");
        if run != check {
            bad.push(format!(
                "{name}: check {check}, run {}:\n{}\n{}",
                o.run.0, o.check.1, o.run.1
            ));
        }
        if let Some((code, out, err)) = &o.migrated {
            // Same verdict, and no warning the source did not have.
            let before = warnings(&o.check.1);
            let new: Vec<String> = warnings(out)
                .into_iter()
                .filter(|w| !before.contains(w))
                .collect();
            if *code != 0 || !new.is_empty() {
                bad.push(format!(
                    "{name}: check of migrate's output exits {code}, new warnings {new:?}:\n{out}\n{err}"
                ));
            }
        }
        bad
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(all.len() >= 60, "only {} configurations", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Facts of the host are errors on the node: each case under
/// `tests/configs/broken-on-node/` is checked in the sandbox (as node alpha)
/// and must print exactly its `expected` and exit 1.
#[test]
fn host_facts_are_errors_on_the_node() {
    if sandbox_unavailable("host_facts_are_errors_on_the_node") {
        return;
    }
    let cases = cases("broken-on-node");
    assert!(cases.len() >= 3, "only {} on-node cases", cases.len());
    let bless = std::env::var_os("HBD_BLESS").is_some();
    let failures: Vec<String> = in_parallel(&cases, |case| {
        let tmp = tempfile::tempdir().unwrap();
        let etc = stage(case, tmp.path());
        let o = sandbox(&etc, &[], false);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if bless {
            fs::write(case.join("expected"), &o.check.1).unwrap();
            return None;
        }
        let expected = fs::read_to_string(case.join("expected")).unwrap_or_default();
        (o.check.0 != 1 || o.check.1 != expected).then(|| {
            format!(
                "{name}: exit {}\n--- expected\n{expected}--- got\n{}",
                o.check.0, o.check.1
            )
        })
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether `/etc/ha.d/rc.d` holds exactly the scripts Debian's heartbeat
/// 3.0.6 installs there, unchanged: the gallery's `expected` outputs list them.
fn stock_rc_d() -> bool {
    use hbd::config::rcd::{RcKind, STOCK_RC_D};
    let scripts = hbd::config::facts::rc_scripts(Path::new("/etc/ha.d"));
    let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
    names == STOCK_RC_D.map(|(name, _)| name)
        && scripts
            .iter()
            .all(|s| matches!(s.kind, RcKind::Heartbeat { stock: true, .. }))
}

/// The gallery: real-world-shaped `/etc/ha.d` directories, each with the
/// verdict heartbeat 3.0.6 gives and hbd's (`verdict`, with why) and hbd's
/// exact on-node output (`expected`). Both are checked in the sandbox, over a
/// copy of the host's `/etc/ha.d`: hbd's output there names heartbeat's rc.d
/// scripts and finds its resource.d agents, and heartbeat's verdict comes
/// from running the real heartbeat. So the gallery needs Debian's package
/// `heartbeat` (3.0.6, rc.d as installed), or it is skipped saying so.
#[test]
fn gallery_verdicts_of_heartbeat_and_hbd() {
    if sandbox_unavailable("gallery_verdicts_of_heartbeat_and_hbd")
        || !Needs::new("gallery_verdicts_of_heartbeat_and_hbd: a node with heartbeat installed")
            .file(HEARTBEAT, "heartbeat")
            .file("/etc/ha.d/harc", "heartbeat")
            .file("/etc/ha.d/resource.d/IPaddr", "heartbeat")
            .file("/etc/ha.d/rc.d", "heartbeat")
            .that(
                stock_rc_d(),
                "/etc/ha.d/rc.d is not exactly heartbeat 3.0.6's five stock scripts, which the expected outputs list",
            )
            .met()
    {
        return;
    }
    let cases = cases("gallery");
    assert!(
        cases.len() >= 25,
        "only {} gallery configurations",
        cases.len()
    );
    let bless = std::env::var_os("HBD_BLESS").is_some();
    let failures: Vec<String> = in_parallel(&cases, |case| {
        let tmp = tempfile::tempdir().unwrap();
        let etc = stage_on_node(case, tmp.path(), true);
        let o = sandbox(&etc, &[], true);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let mut bad = Vec::new();
        if bless {
            fs::write(case.join("expected"), &o.check.1).unwrap();
        } else {
            let expected = fs::read_to_string(case.join("expected")).unwrap_or_default();
            if o.check.1 != expected {
                bad.push(format!(
                    "{name}:\n--- expected\n{expected}--- got\n{}",
                    o.check.1
                ));
            }
        }
        match recorded(case, "hbd") {
            Some(v) if v == o.check_verdict() => {}
            v => bad.push(format!(
                "{name}: hbd {} (recorded: {v:?})",
                o.check_verdict()
            )),
        }
        if let Some((hb, log)) = &o.heartbeat {
            let hb = hb.split_whitespace().next().unwrap_or("");
            match recorded(case, "heartbeat") {
                Some(v) if v == hb => {}
                v => bad.push(format!("{name}: heartbeat {hb} (recorded: {v:?})\n{log}")),
            }
        }
        if o.check.1.contains("topsecret") {
            bad.push(format!("{name}: a secret was printed"));
        }
        bad
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `hbd check` says what random loss costs at a tight timing (keepalive
/// 200 ms, deadtime 1 s), with heartbeat's one status and with hbd's copies
/// (issue 22; the arithmetic is core::redundancy's, the text
/// docs/config-reference.md's "Lossy links"); at heartbeat's relaxed
/// defaults it says nothing.
#[test]
fn check_explains_what_loss_costs_at_a_tight_timing() {
    let tmp = tempfile::tempdir().unwrap();
    stage(&repo().join("ha.d"), tmp.path());
    let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--portable"]);
    assert!(!stdout(&o).contains("loss: "), "{}", stdout(&o));
    let cf = tmp.path().join("ha.d/ha.cf");
    let text = fs::read_to_string(&cf)
        .unwrap()
        .replace("keepalive 1\n", "keepalive 200ms\n")
        .replace("deadtime 10\n", "deadtime 1\n")
        .replace("warntime 5\n", "warntime 500ms\n");
    fs::write(&cf, text).unwrap();
    let o = run_in(tmp.path(), &["check", "-c", "ha.d", "--portable"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("loss: keepalive 200ms, deadtime 1s: a false death takes 4 statuses lost in a row; with each sent once, as heartbeat sends them, on a single link it comes at 1 % loss every 234 days, at 5 % loss every 9 hours, at 20 % loss every 3 minutes\n"),
        "{out}"
    );
    assert!(
        out.contains("(redundancy adaptive): 4 at 20 %, 7 at 40 % keep a false death below once in a million days\n"),
        "{out}"
    );
}

/// `[hbd] redundancy` takes `adaptive` or `off`; anything else is an error
/// naming the line, the value and what is accepted. ha.cf refuses it by name.
#[test]
fn redundancy_is_adaptive_or_off() {
    let tmp = tempfile::tempdir().unwrap();
    let ha_d = stage(&repo().join("ha.d"), tmp.path());
    let toml = ha_d.join("hbd.toml");
    let text = fs::read_to_string(&toml).unwrap();
    assert!(
        text.trim_end().ends_with("stop_failure = \"block\""),
        "[hbd] is no longer last"
    );
    let line = text.lines().count() + 1;
    for (value, ok) in [("adaptive", true), ("off", true), ("often", false)] {
        fs::write(&toml, format!("{text}redundancy = \"{value}\"\n")).unwrap();
        let o = run_in(tmp.path(), &["check", "-c", "ha.d/hbd.toml", "--portable"]);
        let out = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(if ok { 0 } else { 1 }),
            "{value}: {out}"
        );
        if !ok {
            assert!(
                out.contains(&format!(
                    "ha.d/hbd.toml:{line}: redundancy: \"often\" is not adaptive or off"
                )),
                "{out}"
            );
        }
    }
    let cf = ha_d.join("ha.cf");
    let text = fs::read_to_string(&cf).unwrap();
    fs::write(&cf, format!("{text}redundancy off\n")).unwrap();
    let out = stdout(&run_in(
        tmp.path(),
        &["check", "-c", "ha.d/ha.cf", "--portable"],
    ));
    assert!(
        out.contains("redundancy: redundancy is an hbd.toml [hbd] setting, not an ha.cf directive"),
        "{out}"
    );
}

/// `hbd check` says who runs each IPv4 address under `builtin_ipaddr`
/// (config::ipaddr_runner): hbd's own agent found through a symlink is
/// stood in for; the agents' env file with a knob the built-in address does
/// not follow, or one the agents refuse, keeps the script; `false` keeps it.
#[test]
fn check_says_which_runs_each_address_and_why() {
    use std::os::unix::fs::{symlink, MetadataExt};
    let tmp = tempfile::tempdir().unwrap();
    let dir = stage(&repo().join("ha.d"), tmp.path());
    let ipaddr = dir.join("resource.d/IPaddr");
    let line = |args: &[&str]| {
        let o = run_in(tmp.path(), args);
        let out = stdout(&o);
        out.lines()
            .find(|l| l.starts_with("address IPaddr::192.0.2.10/24/eth0: "))
            .unwrap_or_else(|| panic!("no address line:\n{out}"))
            .to_string()
    };
    let check = ["check", "-c", "ha.d", "--portable"];
    // The case's stub: not hbd's agent.
    assert_eq!(
        line(&check),
        "address IPaddr::192.0.2.10/24/eth0: script ha.d/resource.d/IPaddr (not hbd's own IPaddr \
         agent (heartbeat's, a local or an older hbd's): the built-in address stands in for hbd's only)"
    );
    fs::remove_file(&ipaddr).unwrap();
    symlink(repo().join("resource.d/IPaddr"), &ipaddr).unwrap();
    assert_eq!(
        line(&check),
        "address IPaddr::192.0.2.10/24/eth0: built in (does exactly what hbd's agent would)"
    );
    let conf = dir.join("hbd-agents.conf");
    fs::write(&conf, "HBD_FSCK=no\nHBD_ARP_MODE=reply\n").unwrap();
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    if fs::metadata(&conf).unwrap().uid() == 0 {
        assert_eq!(
            line(&check),
            "address IPaddr::192.0.2.10/24/eth0: script ha.d/resource.d/IPaddr (ha.d/hbd-agents.conf:2: \
             HBD_ARP_MODE=reply: the built-in address announces with ARP requests only)"
        );
        fs::write(&conf, "HBD_ARP_COUNT=5\n").unwrap();
        assert!(line(&check).contains(": built in ("));
    } else {
        eprintln!("not root: the env file is the agents' only when root owns it; not checked");
    }
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o666)).unwrap();
    let l = line(&check);
    assert!(
        l.contains(": script ") && l.contains("the agents refuse this file"),
        "{l}"
    );
    fs::remove_file(&conf).unwrap();
    // The TOML form: false keeps the script, a bad value names its line.
    let toml = dir.join("hbd.toml");
    let text = fs::read_to_string(&toml).unwrap();
    fs::write(
        &toml,
        text.replace("[hbd]\n", "[hbd]\nbuiltin_ipaddr = false\n"),
    )
    .unwrap();
    let tcheck = ["check", "-c", "ha.d/hbd.toml", "--portable"];
    assert_eq!(
        line(&tcheck),
        "address IPaddr::192.0.2.10/24/eth0: script ha.d/resource.d/IPaddr (builtin_ipaddr = false)"
    );
    fs::write(
        &toml,
        text.replace("[hbd]\n", "[hbd]\nbuiltin_ipaddr = \"on\"\n"),
    )
    .unwrap();
    let out = stdout(&run_in(tmp.path(), &tcheck));
    assert!(
        out.contains(": builtin_ipaddr: \"on\" is not accepted (expected true"),
        "{out}"
    );
}

/// A prefix of `08` or `09` is octal to hbd's agent's shell, which dies on
/// it, so `builtin_ipaddr = "auto"` sends it to that script: `hbd check`
/// names the line and the fix instead of approving a start that fails. The
/// built-in address (`true`) reads it as decimal, and another agent is its
/// own judge: neither is refused.
#[test]
fn check_refuses_an_octal_prefix_that_hbds_agent_would_fail_on() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let dir = stage(&repo().join("ha.d"), tmp.path());
    // This host plays alpha, so that facts of this host are errors.
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    for f in ["ha.cf", "haresources", "hbd.toml"] {
        let p = dir.join(f);
        let text = fs::read_to_string(&p).unwrap();
        fs::write(&p, text.replace("alpha", &host)).unwrap();
    }
    let haresources = dir.join("haresources");
    let text = fs::read_to_string(&haresources).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("192.0.2.10/24/eth0"))
        .unwrap()
        + 1;
    fs::write(
        &haresources,
        text.replace("192.0.2.10/24/eth0", "192.0.2.10/08/eth0"),
    )
    .unwrap();
    let check = ["check", "-c", "ha.d"];
    let refusal = "hbd's IPaddr agent runs it here";
    // The stub agent is not hbd's: the octal prefix is its business.
    let out = stdout(&run_in(tmp.path(), &check));
    assert!(!out.contains(refusal), "{out}");
    let ipaddr = dir.join("resource.d/IPaddr");
    fs::remove_file(&ipaddr).unwrap();
    symlink(repo().join("resource.d/IPaddr"), &ipaddr).unwrap();
    let o = run_in(tmp.path(), &check);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "ha.d/haresources:{line}: haresources: IPaddr::192.0.2.10/08/eth0: {refusal} and fails on \
             prefix \"08\": its shell reads a leading 0 as octal, and 8 and 9 are not octal digits \
             (expected IPaddr::192.0.2.10/8/eth0)"
        )),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    let toml = dir.join("hbd.toml");
    let t = fs::read_to_string(&toml).unwrap();
    let t = t
        .replace("[hbd]\n", "[hbd]\nbuiltin_ipaddr = true\n")
        .replace("192.0.2.10/24/eth0", "192.0.2.10/08/eth0");
    fs::write(&toml, t).unwrap();
    let o = run_in(tmp.path(), &["check", "-c", "ha.d/hbd.toml"]);
    let out = stdout(&o);
    assert!(!out.contains(refusal), "{out}");
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("address IPaddr::192.0.2.10/08/eth0: built in"),
        "{out}"
    );
}
