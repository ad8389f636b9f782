use super::*;
use crate::config::model::{Medium, Monitor, MonitorCheck, OnFail};
use std::path::PathBuf;

fn src() -> Source<'static> {
    Source {
        file: Path::new("hbd.toml"),
        dir: Path::new("."),
        mode: None,
    }
}

const MINIMAL: &str = r#"
nodes = ["alpha", "Beta"]
keepalive = "500ms"
deadtime = "10s"

[[media]]
type = "ucast"
dev = "eth0"
peer = "192.0.2.2"

[auth]
[[auth.keys]]
index = 1
method = "sha256"
secret = "s3cret"

[[group]]
home = "alpha"
resources = ["192.0.2.10/24/eth0", "apache"]
"#;

#[test]
fn metrics_address_or_port_alone_means_loopback() {
    let ok = |s: &str| parse_metrics_addr(s).unwrap().to_string();
    assert_eq!(ok("9694"), "127.0.0.1:9694");
    assert_eq!(ok("127.0.0.1:9100"), "127.0.0.1:9100");
    assert_eq!(ok("[::1]:9694"), "[::1]:9694");
    assert_eq!(parse_metrics_addr("0"), Err("has port 0"));
    assert_eq!(parse_metrics_addr("70000"), Err("is not a port (1-65535)"));
    assert!(parse_metrics_addr("localhost:9694").is_err());

    let text = format!("{MINIMAL}\n[hbd]\nmetrics = \"9694\"\n");
    let (c, d) = parse_str(&text, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(c.hbd.metrics, Some("127.0.0.1:9694".parse().unwrap()));
    // Written back by `hbd migrate` and read again unchanged.
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(again.hbd.metrics, c.hbd.metrics);

    let text = format!("{MINIMAL}\n[hbd]\nmetrics = \"0.0.0.0:9694\"\n");
    let (c, d) = parse_str(&text, &src());
    assert!(c.is_some());
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(!d[0].is_error());
    assert!(
        d[0].to_string()
            .starts_with("hbd.toml:22: metrics: warning: 0.0.0.0:9694 is not a loopback address"),
        "{}",
        d[0]
    );

    let text = format!("{MINIMAL}\n[hbd]\nmetrics = \"localhost\"\n");
    let (c, d) = parse_str(&text, &src());
    assert!(c.is_none());
    assert!(
        d[0].to_string()
            .starts_with("hbd.toml:22: metrics: \"localhost\" is not an address and port"),
        "{}",
        d[0]
    );
}

#[test]
fn minimal_file_loads() {
    let (c, d) = parse_str(MINIMAL, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(c.nodes, vec!["alpha", "beta"]);
    assert_eq!(c.keepalive.millis(), 500);
    assert_eq!(c.deadtime.millis(), 10_000);
    assert_eq!(c.initdead.millis(), 20_000);
    assert_eq!(c.auth.send_index, 1);
    assert_eq!(c.groups[0].resources[0].name, "IPaddr");
    assert_eq!(c.groups[0].location.line, 17);
}

#[test]
fn syslog_tag_loads_round_trips_and_names_a_bad_one() {
    let text = format!("{MINIMAL}\n[logging]\nsyslog_tag = \"heartbeat\"\n");
    let (c, d) = parse_str(&text, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(c.logging.tag(), "heartbeat");
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(again.logging.syslog_tag.as_deref(), Some("heartbeat"));
    assert_eq!(parse_str(MINIMAL, &src()).0.unwrap().logging.tag(), "hbd");

    let text = format!("{MINIMAL}\n[logging]\nsyslog_tag = \"hb d:\"\n");
    let (c, d) = parse_str(&text, &src());
    assert!(c.is_none());
    assert_eq!(
        d[0].to_string(),
        "hbd.toml:22: syslog_tag: \"hb d:\" is not a syslog tag (expected 1 to 32 \
         letters, digits, '.', '_' or '-', e.g. heartbeat)"
    );
}

#[test]
fn watchdog_loads_round_trips_and_names_a_relative_path() {
    let text = format!("watchdog = \"/dev/watchdog\"\n{MINIMAL}");
    let (c, d) = parse_str(&text, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(c.watchdog, Some(PathBuf::from("/dev/watchdog")));
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(again.watchdog, c.watchdog);
    let (c, d) = parse_str(&format!("watchdog = \"wd\"\n{MINIMAL}"), &src());
    assert!(c.is_none());
    assert_eq!(
        d[0].to_string(),
        "hbd.toml:1: watchdog: \"wd\" is not an absolute path (expected a watchdog device, e.g. /dev/watchdog)"
    );
}

#[test]
fn ipv6_media_load_round_trip_and_name_a_bad_value() {
    let media = r#"
[[media]]
type = "ucast6"
dev = "eth1"
peer = "fe80::2%eth1"

[[media]]
type = "mcast6"
dev = "eth1"
group = "ff02::694:1"
port = 695
hops = 1
loop = true
"#;
    let (c, d) = parse_str(&format!("{MINIMAL}{media}"), &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(
        c.media[1..],
        [
            Medium::Ucast6 {
                dev: "eth1".into(),
                peer: "fe80::2".parse().unwrap(),
                scope: Some("eth1".into()),
            },
            Medium::Mcast6 {
                dev: "eth1".into(),
                group: "ff02::694:1".parse().unwrap(),
                port: 695,
                hops: 1,
                loopback: true,
            },
        ]
    );
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(again.media, c.media);
    let bad = media
        .replace("fe80::2%eth1", "fe80::2%eth9")
        .replace("hops = 1", "hops = 9");
    let (c, d) = parse_str(&format!("{MINIMAL}{bad}"), &src());
    assert!(c.is_none());
    let d: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert!(
        d[0].contains("media: ucast6 peer the scope of \"fe80::2%eth9\" is interface \"eth9\""),
        "{d:?}"
    );
    assert!(
        d[1].contains("media: mcast6: hops 9 is out of range (heartbeat accepts 0 to 4)"),
        "{d:?}"
    );
}

#[test]
fn unknown_key_names_its_line() {
    let (c, d) = parse_str("nodes = [\"a\", \"b\"]\nkeepalve = 2\n", &src());
    assert!(c.is_none());
    assert!(
        d[0].to_string()
            .starts_with("hbd.toml:2: toml: unknown field `keepalve`"),
        "{}",
        d[0]
    );
}

#[test]
fn bad_duration_names_its_line() {
    let (_, d) = parse_str("deadtime = \"3O\"\n", &src());
    assert!(
        d[0].to_string()
            .starts_with("hbd.toml:1: deadtime: \"3O\" is not a duration"),
        "{}",
        d[0]
    );
}

#[test]
fn a_bare_number_is_no_duration() {
    let msg = |text: &str| parse_str(text, &src()).1[0].to_string();
    assert_eq!(
        msg("keepalive = 1\n"),
        "hbd.toml:1: keepalive: 1 is a number without a unit: did you mean \"1s\"? (expected a string with a unit: \"500ms\", \"2s\", \"1.5s\" or \"2min\")"
    );
    assert!(
        msg("deadtime = 1.5\n").contains("1.5 is a number without a unit: did you mean \"1.5s\"?")
    );
    assert!(msg("deadtime = 10000\n").contains("did you mean \"10s\"?"));
    assert!(msg("keepalive = 500\n").contains("did you mean \"500ms\"?"));
    let (_, d) = parse_str("[hbd]\nscript_timeout = -5\n", &src());
    assert!(
        d.iter().any(|d| d.to_string()
            == "hbd.toml:2: script_timeout: -5 is negative (expected a duration such as \"2s\")"),
        "{d:?}"
    );
}

#[test]
fn inline_secrets_need_mode_600() {
    let s = Source {
        mode: Some(0o644),
        ..src()
    };
    let (c, d) = parse_str(MINIMAL, &s);
    assert!(c.is_none());
    assert!(d.iter().any(|d| d.message.contains("chmod 600")));
    assert!(!d.iter().any(|d| d.to_string().contains("s3cret")));
}

#[test]
fn durations_round_trip() {
    for ms in [0, 1, 250, 999, 1000, 1500, 30_000] {
        let d = Duration::from_millis(ms);
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("2min"), Ok(Duration::from_millis(120_000)));
}

#[test]
fn to_toml_round_trips_inline_keys() {
    let (c, _) = parse_str(MINIMAL, &src());
    let c = c.unwrap();
    let text = to_toml(&c, Some("alpha"));
    let (c2, d) = parse_str(&text, &src());
    assert!(!d.iter().any(Diagnostic::is_error), "{d:?}\n{text}");
    assert_eq!(comparable(&c), comparable(&c2.unwrap()));
}

#[test]
fn monitors_load_with_their_defaults_and_round_trip() {
    let text = format!(
        "{MINIMAL}\n[[group.monitor]]\nresource = \"apache\"\ninterval = \"5s\"\nfall = 3\non_fail = \"move\"\nfailure_timeout = \"10min\"\n\n[[group.monitor]]\nresource = \"192.0.2.10/24/eth0\"\ncheck = \"monitor\"\n"
    );
    let (c, d) = parse_str(&text, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    let m = &c.hbd.monitors;
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].group, m[0].resource), (0, 1));
    assert_eq!(m[0].interval, Duration::from_secs(5));
    assert_eq!(m[0].timeout, Monitor::DEFAULT_TIMEOUT);
    assert_eq!((m[0].fall, m[0].rise), (3, 1));
    assert_eq!(m[0].on_fail, OnFail::Move);
    assert_eq!(m[0].failure_timeout, Some(Duration::from_secs(600)));
    assert_eq!(m[0].location.line, 21);
    // The address is found as written in `resources` (a shorthand).
    assert_eq!((m[1].group, m[1].resource), (0, 0));
    assert_eq!(m[1].check, MonitorCheck::Monitor);
    assert_eq!(m[1].on_fail, OnFail::Restart);
    assert_eq!(m[1].failure_timeout, None);
    // An [hbd] table does not drop them.
    let (c2, _) = parse_str(
        &format!("{text}\n[hbd]\nscript_timeout = \"30s\"\n"),
        &src(),
    );
    assert_eq!(c2.unwrap().hbd.monitors, c.hbd.monitors);
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(comparable(&again), comparable(&c));
}

#[test]
fn a_bad_monitor_names_its_line_and_what_is_accepted() {
    let err = |extra: &str| {
        let (c, d) = parse_str(&format!("{MINIMAL}\n[[group.monitor]]\n{extra}"), &src());
        assert!(c.is_none(), "{extra}");
        d.iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        err("resource = \"nginx\"\n"),
        "hbd.toml:21: monitor: resource \"nginx\" is not in this group (expected one of IPaddr::192.0.2.10/24/eth0, apache, or an agent name among them)"
    );
    assert_eq!(
        err("resource = \"apache\"\non_fail = \"reboot\"\n"),
        "hbd.toml:21: on_fail: \"reboot\" is not restart, move, block or ignore"
    );
    assert_eq!(
        err("resource = \"apache\"\nfall = 0\n"),
        "hbd.toml:21: fall: 0 is out of range (expected 1 to 100)"
    );
    assert_eq!(
        err("resource = \"apache\"\ninterval = \"10ms\"\n"),
        "hbd.toml:23: interval: 10ms is too short (expected at least 100ms)"
    );
    assert!(err("resource = \"apache\"\ninterval = 5\n")
        .contains("interval: 5 is a number without a unit: did you mean \"5s\"?"));
    assert!(err("resource = \"apache\"\ncheck = \"ocf\"\n")
        .contains("check: \"ocf\" is not status or monitor"));
    assert!(
        err("resource = \"apache\"\nintervall = \"5s\"\n").contains("unknown field `intervall`")
    );
    assert!(
        err("resource = \"apache\"\n\n[[group.monitor]]\nresource = \"apache\"\n")
            .contains("hbd.toml:24: monitor: apache has a monitor already (one per resource)")
    );
}

#[test]
fn notify_hook_loads_with_its_line_and_round_trips() {
    let text =
        format!("{MINIMAL}\n[hbd]\nnotify = \"/usr/local/sbin/page\"\nnotify_timeout = \"3s\"\n");
    let (c, d) = parse_str(&text, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(c.hbd.notify, Some(PathBuf::from("/usr/local/sbin/page")));
    assert_eq!(c.hbd.notify_timeout, Duration::from_secs(3));
    assert_eq!(c.origins["hbd.notify"].line, text.lines().count() - 1);
    let out = to_toml(&c, Some("alpha"));
    assert!(
        out.contains("notify = \"/usr/local/sbin/page\"\nnotify_timeout = \"3s\"\n"),
        "{out}"
    );
    let (c2, _) = parse_str(&out, &src());
    assert_eq!(comparable(&c), comparable(&c2.unwrap()));
    // Off by default, and then not written at all.
    let (c, _) = parse_str(MINIMAL, &src());
    let c = c.unwrap();
    assert_eq!(
        (c.hbd.notify.as_ref(), c.hbd.notify_timeout),
        (None, Duration::from_secs(10))
    );
    assert!(!to_toml(&c, Some("alpha")).contains("notify"));
    let (_, d) = parse_str(&format!("{MINIMAL}\n[hbd]\nnotify_timeout = 5\n"), &src());
    assert!(
        d.iter()
            .any(|d| d.directive == "notify_timeout" && d.is_error()),
        "{d:?}"
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(s in "\\PC*") {
        let _ = parse_str(&s, &src());
    }
}

#[test]
fn announce_table_reads_checks_and_round_trips() {
    use crate::config::model::{Announce, VerifyTarget};
    // No table: heartbeat's behaviour (agent defaults, no refresh, no check).
    let c = parse_str(MINIMAL, &src()).0.unwrap();
    assert_eq!(c.hbd.announce, Announce::default());
    assert_eq!(c.hbd.announce.count(), 5);
    assert_eq!(c.hbd.announce.interval(), Duration::from_millis(200));

    let text = format!(
        "{MINIMAL}\n[hbd.announce]\ncount = 3\ninterval = \"500ms\"\nrefresh = \"30s\"\nverify = [\"gateway\", \"192.0.2.254\", \"2001:db8::fe\"]\nverify_limit = \"20s\"\n"
    );
    let (c, d) = parse_str(&text, &src());
    // The group has an IPv4 address only: the IPv6 target is never asked.
    let d: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        d,
        ["hbd.toml:25: announce.verify: warning: 2001:db8::fe checks IPv6 floating addresses and no group has one: it is never asked"]
    );
    let c = c.unwrap();
    let a = &c.hbd.announce;
    assert_eq!(a.count, Some(3));
    assert_eq!(a.interval, Some(Duration::from_millis(500)));
    assert_eq!(a.refresh, Some(Duration::from_secs(30)));
    assert_eq!(
        a.verify,
        vec![
            VerifyTarget::Gateway,
            VerifyTarget::Addr("192.0.2.254".parse().unwrap()),
            VerifyTarget::Addr("2001:db8::fe".parse().unwrap())
        ]
    );
    assert_eq!(a.verify_limit, Duration::from_secs(20));
    assert_eq!(a.location.line, 21);
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(comparable(&again), comparable(&c));

    let off = format!("{MINIMAL}\n[hbd.announce]\nrefresh = \"off\"\n");
    let c = parse_str(&off, &src()).0.unwrap();
    assert_eq!(c.hbd.announce.refresh, None);

    // IPv6: nodad unless a DAD bound is given; the router flag.
    assert_eq!(
        (c.hbd.announce.dad, c.hbd.announce.na_router),
        (None, false)
    );
    let v6 = format!("{MINIMAL}\n[hbd.announce]\ndad = \"3s\"\nna_router = true\n");
    let (c, d) = parse_str(&v6, &src());
    assert!(d.is_empty(), "{d:?}");
    let c = c.unwrap();
    assert_eq!(c.hbd.announce.dad, Some(Duration::from_secs(3)));
    assert!(c.hbd.announce.na_router);
    let again = parse_str(&to_toml(&c, None), &src()).0.unwrap();
    assert_eq!(comparable(&again), comparable(&c));
    let nodad = format!("{MINIMAL}\n[hbd.announce]\ndad = \"off\"\n");
    assert_eq!(parse_str(&nodad, &src()).0.unwrap().hbd.announce.dad, None);

    // Each bad value names its line and what is accepted.
    for (body, want) in [
        (
            "count = -1",
            "hbd.toml:22: announce.count: -1 is not a count of announcements (expected 0 to 1000",
        ),
        ("count = 5000", "hbd.toml:22: announce.count: 5000 is not"),
        (
            "interval = \"1ms\"",
            "hbd.toml:22: announce.interval: 1ms is out of range (expected 10ms to 60s)",
        ),
        (
            "interval = 200",
            "hbd.toml:22: announce.interval: 200 is a number without a unit",
        ),
        (
            "refresh = \"100ms\"",
            "hbd.toml:22: announce.refresh: 100ms is out of range (expected 1s to",
        ),
        (
            "dad = \"10ms\"",
            "hbd.toml:22: announce.dad: 10ms is out of range (expected 100ms to 60s)",
        ),
        (
            "dad = \"soon\"",
            "hbd.toml:22: announce.dad: \"soon\" is not a duration",
        ),
        (
            "refresh = \"never\"",
            "hbd.toml:22: announce.refresh: \"never\" is not a duration",
        ),
        (
            "verify = [\"router\"]",
            "hbd.toml:22: announce.verify: \"router\" is neither \"gateway\" nor an IP address",
        ),
        (
            "verify = [\"ff02::1\"]",
            "hbd.toml:22: announce.verify: \"ff02::1\" cannot answer",
        ),
        (
            "verify = [\"224.0.0.1\"]",
            "hbd.toml:22: announce.verify: \"224.0.0.1\" cannot answer",
        ),
        (
            "verify = [\"gateway\", \"gateway\"]",
            "hbd.toml:22: announce.verify: \"gateway\" is listed twice",
        ),
        (
            "count = 0\nverify = [\"gateway\"]",
            "hbd.toml:23: announce.verify: the check re-announces",
        ),
        (
            "verify = [\"gateway\"]\nverify_limit = \"60min\"",
            "hbd.toml:23: announce.verify_limit: 3600s is out of range (expected 1s to 600s)",
        ),
        ("ping = 1", "hbd.toml:22: toml: unknown field `ping`"),
    ] {
        let text = format!("{MINIMAL}\n[hbd.announce]\n{body}\n");
        let (c, d) = parse_str(&text, &src());
        assert!(c.is_none(), "{body}: accepted");
        let all: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(all.iter().any(|l| l.starts_with(want)), "{body}: {all:#?}");
    }
    // Warnings: a limit without targets, a limit shorter than the burst.
    for (body, want) in [
        ("verify_limit = \"10s\"", "hbd.toml:22: announce.verify_limit: warning: has no effect without verify"),
        ("count = 20\nverify = [\"gateway\"]\nverify_limit = \"2s\"", "hbd.toml:24: announce.verify_limit: warning: 2s ends the check before the start's 20 announcements (4s) are sent"),
    ] {
        let text = format!("{MINIMAL}\n[hbd.announce]\n{body}\n");
        let (c, d) = parse_str(&text, &src());
        assert!(c.is_some(), "{body}: {d:?}");
        let all: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(all.iter().any(|l| l.starts_with(want)), "{body}: {all:#?}");
    }
}

#[test]
fn builtin_ipaddr_takes_true_false_or_auto_round_trips_and_names_a_bad_value() {
    use crate::config::model::BuiltinIpaddr;
    assert_eq!(
        parse_str(MINIMAL, &src()).0.unwrap().hbd.builtin_ipaddr,
        BuiltinIpaddr::Auto
    );
    for (v, want) in [
        ("true", BuiltinIpaddr::Always),
        ("false", BuiltinIpaddr::Never),
        ("\"auto\"", BuiltinIpaddr::Auto),
    ] {
        let text = format!("{MINIMAL}\n[hbd]\nbuiltin_ipaddr = {v}\n");
        let (c, d) = parse_str(&text, &src());
        assert!(d.is_empty(), "{v}: {d:?}");
        let c = c.unwrap();
        assert_eq!(c.hbd.builtin_ipaddr, want, "{v}");
        let out = to_toml(&c, None);
        assert!(out.contains(&format!("builtin_ipaddr = {v}\n")), "{out}");
        let again = parse_str(&out, &src()).0.unwrap();
        assert_eq!(again.hbd.builtin_ipaddr, want, "{v}");
    }
    for v in ["\"yes\"", "\"true\"", "1"] {
        let text = format!("{MINIMAL}\n[hbd]\nbuiltin_ipaddr = {v}\n");
        let (c, d) = parse_str(&text, &src());
        assert!(c.is_none(), "{v}");
        assert_eq!(
            d[0].to_string(),
            format!(
                "hbd.toml:22: builtin_ipaddr: {v} is not accepted (expected true: always built in, \
                 false: always the IPaddr/IPaddr2 scripts, or \"auto\": built in where it does \
                 what the script would)"
            )
        );
    }
}
