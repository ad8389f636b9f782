use super::*;
use crate::config::model::{HbdOptions, Resource, ResourceGroup};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

fn script(dir: &Path, name: &str, mode: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn group(tokens: &[&str]) -> ResourceGroup {
    crate::config::haresources::test_group("alpha", 1, tokens)
}

fn messages(cfg: &Config, dir: &Path, mode: FactMode) -> Vec<String> {
    check(cfg, dir, mode)
        .iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn resolve_script_order_and_executable_rule() {
    let t = tempfile::tempdir().unwrap();
    let extra = t.path().join("extra");
    let opts = HbdOptions {
        resource_dirs: vec![extra.clone()],
        ..HbdOptions::default()
    };
    let in_extra = script(&extra, "svc", 0o755);
    assert_eq!(resolve_script(t.path(), &opts, "svc"), Some(in_extra));
    let in_rd = script(&t.path().join("resource.d"), "svc", 0o755);
    assert_eq!(resolve_script(t.path(), &opts, "svc"), Some(in_rd.clone()));
    // Not executable: skipped, as heartbeat's ResourceManager skips it.
    std::fs::set_permissions(&in_rd, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        resolve_script(t.path(), &opts, "svc"),
        Some(extra.join("svc"))
    );
    assert_eq!(resolve_script(t.path(), &opts, "../extra/svc"), None);
    assert_eq!(resolve_script(t.path(), &opts, "hbd-no-such"), None);
}

#[test]
fn a_misspelt_script_gets_a_did_you_mean() {
    let t = tempfile::tempdir().unwrap();
    script(&t.path().join("resource.d"), "Filesystem", 0o755);
    let cfg = Config {
        groups: vec![group(&["Filesytem::/dev/sdb1::/srv"])],
        ..Config::default()
    };
    let m = messages(&cfg, t.path(), FactMode::Enforced);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].starts_with("haresources:1: haresources: resource script \"Filesytem\" not found on this host (expected an executable in "),
        "{m:?}"
    );
    assert!(
        m[0].ends_with("/etc/init.d; did you mean \"Filesystem\"?)"),
        "{m:?}"
    );
    let m = messages(&cfg, t.path(), FactMode::Warned);
    assert!(
        m[0].contains("haresources: warning: resource script"),
        "{m:?}"
    );
}

#[test]
fn a_script_that_is_not_executable_says_so() {
    let t = tempfile::tempdir().unwrap();
    let p = script(&t.path().join("resource.d"), "hbd-test-agent", 0o644);
    let cfg = Config {
        groups: vec![group(&["hbd-test-agent"])],
        ..Config::default()
    };
    assert_eq!(
        messages(&cfg, t.path(), FactMode::Enforced),
        vec![format!(
            "haresources:1: haresources: resource script {} is not executable (expected chmod +x {}, as heartbeat also requires)",
            p.display(),
            p.display()
        )]
    );
}

#[test]
fn agent_needs_are_facts() {
    let t = tempfile::tempdir().unwrap();
    for n in ["IPaddr", "Filesystem", "service"] {
        script(&t.path().join("resource.d"), n, 0o755);
    }
    let cfg = Config {
        groups: vec![group(&[
            "IPaddr::192.0.2.10/24/hbdnosuch0",
            "Filesystem::/dev/sdb1::/srv::hbdnosuchfs",
            "service::hbd-no-such-unit",
            "Filesystem::/dev/sdb2::/srv2::ext4",
        ])],
        ..Config::default()
    };
    let m = messages(&cfg, t.path(), FactMode::Enforced);
    let ext4 = fstype_known("ext4");
    assert_eq!(m.len(), if ext4 { 3 } else { 4 }, "{m:?}");
    assert!(m[0].contains("IPaddr::192.0.2.10/24/hbdnosuch0: interface \"hbdnosuch0\" does not exist on this host (expected one of "), "{m:?}");
    assert!(
        m[1].contains("filesystem type \"hbdnosuchfs\" is not known to this kernel"),
        "{m:?}"
    );
    assert!(
        m[2].contains(
            "service::hbd-no-such-unit: no systemd unit and no /etc/init.d/hbd-no-such-unit"
        ),
        "{m:?}"
    );
}

#[test]
fn an_init_script_takes_no_arguments() {
    let t = tempfile::tempdir().unwrap();
    let Some(init) = std::fs::read_dir(INIT_DIR).ok().and_then(|d| {
        d.flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| is_executable_file(&Path::new(INIT_DIR).join(n)) && !n.contains('.'))
    }) else {
        eprintln!("skipped: no init script in {INIT_DIR}");
        return;
    };
    let cfg = Config {
        groups: vec![ResourceGroup {
            resources: vec![Resource {
                name: init.clone(),
                args: vec!["x".into()],
            }],
            ..group(&["a"])
        }],
        ..Config::default()
    };
    let m = messages(&cfg, t.path(), FactMode::Enforced);
    assert_eq!(
        m,
        vec![format!("haresources:1: haresources: \"{init}::x\": /etc/init.d/{init} is an init script, which takes no arguments (expected {init} alone)")]
    );
}

#[test]
fn links_and_ping_hosts() {
    let t = tempfile::tempdir().unwrap();
    let cfg = Config {
        media: vec![
            Medium::Ucast {
                dev: "lo".into(),
                peer: "hbd-no-such-host.invalid".into(),
            },
            Medium::Bcast { dev: "lo".into() },
            Medium::Bcast {
                dev: "hbdnosuch0".into(),
            },
            Medium::Serial {
                path: "/nonexistent/ttyS9".into(),
            },
            Medium::Serial {
                path: "/dev/null".into(),
            },
            Medium::Serial {
                path: "/dev/tty".into(),
            },
        ],
        ping_nodes: vec![crate::config::model::PingNode {
            name: "gw".into(),
            addrs: vec!["localhost".into(), "hbd-no-such-host.invalid".into()],
        }],
        ..Config::default()
    };
    let m = messages(&cfg, t.path(), FactMode::Enforced);
    assert_eq!(
        m,
        vec![
            "ucast: peer \"hbd-no-such-host.invalid\" does not resolve to an IPv4 address on this host (expected an address such as 192.0.2.2, or a name in /etc/hosts or DNS)".to_string(),
            "bcast: interface \"lo\" has no IPv4 broadcast address on this host (expected an interface with an IPv4 address and a broadcast address)".to_string(),
            format!("bcast: interface \"hbdnosuch0\" does not exist on this host (expected one of {})", some_of(&interface_names())),
            "serial: /nonexistent/ttyS9 does not exist on this host (expected a serial port such as /dev/ttyS0)".to_string(),
            "serial: /dev/null is a character device but not a terminal on this host (expected a serial port such as /dev/ttyS0)".to_string(),
            "ping: host \"hbd-no-such-host.invalid\" does not resolve to an IPv4 address on this host (expected an address such as 192.0.2.254, or a name in /etc/hosts or DNS)".to_string(),
        ]
    );
    assert_eq!(resolve_ipv4("localhost"), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(resolve_ipv4("192.0.2.7"), Some(Ipv4Addr::new(192, 0, 2, 7)));
    assert_eq!(resolve_ipv4("bad name"), None);
    assert!(address_is_local(Ipv4Addr::LOCALHOST.into()));
    // 192.0.2.0/24 is documentation space, on no interface of a test host.
    let mut cfg = Config::default();
    cfg.hbd.bind = Some("192.0.2.77".parse().unwrap());
    assert_eq!(
        messages(&cfg, t.path(), FactMode::Enforced),
        vec!["bind: 192.0.2.77 is not an address of this host (expected an address of one of its interfaces)"]
    );
}

#[test]
fn log_files_and_directories() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(writable_file(&t.path().join("ha-log")), Ok(()));
    let missing = t.path().join("no/such/ha-log");
    assert_eq!(
        writable_file(&missing),
        Err(format!(
            "cannot be created: directory {} does not exist",
            t.path().join("no/such").display()
        ))
    );
    assert_eq!(writable_file(t.path()), Err("is a directory".into()));
    assert_eq!(writable_dir(&t.path().join("a/b/c")), Ok(()));
    let file = t.path().join("f");
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        writable_dir(&file.join("sub")),
        Err(format!(
            "cannot be created: {} is not a directory",
            file.display()
        ))
    );
    std::fs::write(t.path().join("hb_uuid"), "short").unwrap();
    let d: Vec<String> = check_dirs(t.path(), &file, FactMode::Warned)
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].starts_with("--run-dir: warning: "), "{d:?}");
    assert!(
        d[1].ends_with("hb_uuid is 5 bytes long (expected 16; remove it to make a new uuid)"),
        "{d:?}"
    );
}

#[test]
fn findif_prefers_the_longest_prefix() {
    let s = |dev: &str, a: [u8; 4], prefix| Subnet {
        dev: dev.into(),
        addr: Ipv4Addr::from(a),
        prefix,
    };
    let nets = [
        s("eth0", [10, 0, 0, 1], 8),
        s("eth1", [10, 1, 0, 1], 16),
        s("eth2", [10, 1, 2, 3], 32),
    ];
    let find = |ip| findif(nets.iter().map(|s| (s.addr, s.prefix, s.dev.as_str())), ip);
    assert_eq!(find(Ipv4Addr::new(10, 1, 2, 3)), Some(("eth1", 16)));
    assert_eq!(find(Ipv4Addr::new(10, 9, 0, 1)), Some(("eth0", 8)));
    assert_eq!(find(Ipv4Addr::new(192, 0, 2, 1)), None);
}

#[test]
fn a_watchdog_device_run_could_not_open_is_named() {
    let t = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        watchdog: Some(t.path().join("no-watchdog")),
        ..Config::default()
    };
    let got = messages(&cfg, t.path(), FactMode::Enforced);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("watchdog: ")
            && got[0].contains(
                "no-watchdog does not exist (for softdog: modprobe softdog) on this host"
            ),
        "{got:?}"
    );
    // A device it may write (the tests' fake watchdog is a plain file).
    let dev = write(t.path(), "wd", "", 0o600);
    cfg.watchdog = Some(dev);
    assert!(messages(&cfg, t.path(), FactMode::Enforced).is_empty());
    cfg.watchdog = Some(t.path().to_path_buf());
    assert!(messages(&cfg, t.path(), FactMode::Enforced)[0].contains("is a directory"));
}

#[test]
fn filesystem_types_and_units() {
    assert!(fstype_known("auto"));
    assert!(!fstype_known("hbdnosuchfs"));
    let registered = std::fs::read_to_string("/proc/filesystems").unwrap();
    let first = registered
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap();
    assert!(fstype_known(first));
    assert!(!unit_known("hbd-no-such-unit"));
}

fn write(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn rc_d_scripts_are_listed_sorted_and_judged() {
    let t = tempfile::tempdir().unwrap();
    let rc = t.path().join("rc.d");
    write(
        &rc,
        "status",
        "#!/bin/sh\n$HA_NOARCHBIN/mach_down $HA_src\n",
        0o755,
    );
    write(
        &rc,
        "ip-request",
        "#!/bin/sh\nlogger \"$HA_ipaddr\"\n",
        0o755,
    );
    write(&rc, "hb_takeover", "#!/bin/sh\nlogger x\n", 0o644);
    write(&rc, ".hidden", "#!/bin/sh\n", 0o755);
    let v = rc_scripts(t.path());
    let got: Vec<(&str, bool)> = v.iter().map(|s| (s.name.as_str(), s.runs())).collect();
    assert_eq!(
        got,
        [
            ("hb_takeover", false),
            ("ip-request", true),
            ("status", false)
        ]
    );
    assert_eq!(v[0].kind, RcKind::NotExecutable);
    assert_eq!(
        v[2].kind,
        RcKind::Heartbeat {
            stock: false,
            calls: Some(("mach_down", 2))
        }
    );
    assert!(rc_scripts(&t.path().join("none")).is_empty());
    // Both skipped scripts warn, wherever checked: run starts without them.
    let cfg = Config::default();
    let m = messages(&cfg, t.path(), FactMode::Enforced);
    let rc_lines: Vec<&String> = m.iter().filter(|l| l.contains("rc.d")).collect();
    assert_eq!(rc_lines.len(), 2, "{m:?}");
    assert!(
        rc_lines
            .iter()
            .any(|l| l.contains("status:2: rc.d: warning: calls heartbeat's mach_down")),
        "{m:?}"
    );
    assert!(
        rc_lines
            .iter()
            .any(|l| l.contains("hb_takeover: rc.d: warning: is not an executable file")),
        "{m:?}"
    );
}

#[test]
fn harc_is_used_only_when_it_can_run() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(harc(t.path()), Ok(None));
    let h = write(
        t.path(),
        "harc",
        "#!/bin/sh\n. $HA_FUNCS\nexec $HA_DIR/rc.d/$1 \"$@\"\n",
        0o755,
    );
    let e = harc(t.path()).unwrap_err();
    assert!(e.contains("shellfuncs does not exist"), "{e}");
    write(t.path(), "shellfuncs", "", 0o644);
    assert_eq!(harc(t.path()), Ok(Some(h.clone())));
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(harc(t.path())
        .unwrap_err()
        .contains("not an executable file"));
    write(
        t.path(),
        "harc",
        "#!/bin/sh\n/usr/share/heartbeat/ResourceManager takegroup x\n",
        0o755,
    );
    assert!(harc(t.path())
        .unwrap_err()
        .contains("calls heartbeat's ResourceManager (line 2)"));
}

#[test]
fn notify_hook_must_be_executable_on_the_node_only() {
    let t = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.hbd.notify = Some(t.path().join("page"));
    cfg.origins.insert(
        "hbd.notify".into(),
        Location {
            file: "hbd.toml".into(),
            line: 7,
        },
    );
    let on = check(&cfg, t.path(), FactMode::Enforced);
    let d = on.iter().find(|d| d.directive == "notify").unwrap();
    assert!(d.is_error());
    assert!(d.to_string().starts_with("hbd.toml:7: notify: "), "{d}");
    assert!(
        d.to_string().contains("page does not exist on this host"),
        "{d}"
    );
    let off = check(&cfg, t.path(), FactMode::Warned);
    assert!(!off
        .iter()
        .find(|d| d.directive == "notify")
        .unwrap()
        .is_error());
    write(t.path(), "page", "#!/bin/sh\n", 0o644);
    let m = messages(&cfg, t.path(), FactMode::Enforced);
    assert!(
        m.iter()
            .any(|l| l.contains("page is not an executable file on this host")),
        "{m:?}"
    );
    write(t.path(), "page", "#!/bin/sh\n", 0o755);
    assert!(!messages(&cfg, t.path(), FactMode::Enforced)
        .iter()
        .any(|l| l.contains("notify")));
}
