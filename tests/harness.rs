//! The test harness's own rules (testkit), tested where `cargo test` runs
//! them: a skip under `HBD_REQUIRE_LAB=1` fails, a skip prints what to
//! install, and the namespace pair's crash and reboot do what the suites that
//! rely on them say.

use std::ffi::OsStr;
use std::time::Duration;
use testkit::nspair::{Dir, NsPair, Opts, Serial, SVC_IF};
use testkit::reliability::Verdict;
use testkit::skip::{require_lab_in, Needs};

const ABSENT: &str = "hbd-testkit-no-such-tool";

#[test]
fn everything_present_runs_whatever_the_rule() {
    assert!(Needs::new("t").tool("sh", "dash").met_if(true));
    assert!(Needs::new("t").that(true, "unused").met_if(false));
}

#[test]
fn a_missing_package_skips_with_one_apt_get_line() {
    let n = Needs::new("t")
        .tool(ABSENT, "pkg-a")
        .file("/nonexistent/hbd-testkit", "pkg-b")
        .tool(ABSENT, "pkg-a");
    let why = n.reason().unwrap();
    assert!(why.contains(&format!("{ABSENT} not found")), "{why}");
    assert!(
        why.ends_with("\n  install with: apt-get install -y pkg-a pkg-b"),
        "one install line naming each package once: {why}"
    );
    assert!(!n.met_if(false), "without the rule a missing tool skips");
}

#[test]
fn under_require_lab_a_skip_fails_the_test() {
    let n = Needs::new("some_lab_test").tool(ABSENT, "pkg-a");
    let failed = std::panic::catch_unwind(|| n.met_if(true));
    let msg = failed.expect_err("a skip under HBD_REQUIRE_LAB=1 must panic");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("some_lab_test"), "{msg}");
    assert!(msg.contains("HBD_REQUIRE_LAB=1"), "{msg}");
    assert!(msg.contains("apt-get install -y pkg-a"), "{msg}");
}

#[test]
fn other_reasons_skip_and_fail_alike() {
    let n = Needs::new("t").that(false, "dpkg excludes /usr/share/doc");
    assert_eq!(n.reason().as_deref(), Some("dpkg excludes /usr/share/doc"));
    assert!(!n.clone().met_if(false));
    assert!(std::panic::catch_unwind(|| n.met_if(true)).is_err());
}

#[test]
fn the_variable_counts_when_set_to_anything_but_empty_or_0() {
    assert!(!require_lab_in(None));
    assert!(!require_lab_in(Some(OsStr::new(""))));
    assert!(!require_lab_in(Some(OsStr::new("0"))));
    assert!(require_lab_in(Some(OsStr::new("1"))));
    assert!(require_lab_in(Some(OsStr::new("yes"))));
}

#[test]
fn a_matrix_row_that_cannot_run_is_not_run_or_under_require_lab_red() {
    let needs = Needs::new("row").that(false, "no such thing");
    assert!(matches!(
        Verdict::unmet_if(&needs, false),
        Some(Verdict::NotRun(_))
    ));
    let v = Verdict::unmet_if(&needs, true).unwrap();
    assert!(v.is_fail(), "{v:?}");
    assert!(Verdict::unmet_if(&Needs::new("row"), true).is_none());
}

/// A crash kills every process of the node but its holder, takes its mount
/// of the shared disk and its floating address; a reboot gives a new holder
/// with the node's root mounted again and its links up.
#[test]
fn the_namespace_pairs_crash_and_reboot() {
    let test = "the_namespace_pairs_crash_and_reboot";
    if !Needs::new(test)
        .lab()
        .tool("mkfs.ext4", "e2fsprogs")
        .tool("losetup", "util-linux")
        .tool("ping", "iputils-ping")
        .met()
    {
        return;
    }
    let opts = Opts {
        serial: Serial::None,
        client: false,
        disk_mib: Some(16),
        ..Opts::default()
    };
    let mut ns = NsPair::new(opts, &testkit::hbd_exe!());
    let dev = ns.disk.as_ref().unwrap().dev.display().to_string();
    let mnt = ns.lab().dir().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mnt = mnt.display().to_string();
    let n = ns.nodes[0].clone();
    n.must(&["mount", &dev, &mnt]);
    n.must(&["ip", "addr", "add", "192.0.2.50/24", "dev", SVC_IF]);
    let cmd = ns.command(0, &["sh", "-c", &format!("cd {mnt} && exec sleep 600")]);
    let pid = ns.start(0, cmd);
    let helper = ns.lab().spawn(&n, &["sleep", "600"]);
    std::fs::write(ns.host(0, Dir::Etc).join("mine"), "nodea").unwrap();
    assert!(ns.has_svc_addr(0, "192.0.2.50"));

    ns.crash(0);
    assert!(testkit::lab::wait_gone(
        &[pid, helper],
        Duration::from_secs(2)
    ));
    assert_eq!(ns.processes(0), Vec::<u32>::new());
    assert!(!n.mounts().contains(&mnt), "the crash left {mnt} mounted");
    assert!(!ns.has_svc_addr(0, "192.0.2.50"));
    assert!(ns.has_svc_addr(0, "192.0.2.1"), "its own address stays");
    assert_eq!(testkit::lab::alive(&[n.holder]), vec![n.holder]);

    n.set_link("hb0", false);
    ns.reboot(0);
    let again = &ns.nodes[0];
    assert_ne!(again.holder, n.holder);
    assert!(testkit::lab::alive(&[n.holder]).is_empty());
    let mine = ns.on_node(Dir::Etc).join("mine");
    assert_eq!(
        again.must(&["cat", mine.to_str().unwrap()]).stdout,
        b"nodea"
    );
    assert_eq!(again.must(&["uname", "-n"]).stdout, b"nodea\n");
    let ping = again.run(&["timeout", "2", "ping", "-c", "1", "10.250.0.2"]);
    assert!(
        ping.status.success(),
        "hb0 is not up again after the reboot"
    );
}
