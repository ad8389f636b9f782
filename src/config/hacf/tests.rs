use super::values::inet_aton;
use super::*;

fn p(text: &str) -> (Config, Vec<String>) {
    let (c, d) = parse_str(text, Path::new("ha.cf"));
    (c, d.iter().map(|d| d.to_string()).collect())
}

#[test]
fn time_syntax_is_cl_get_msec() {
    assert_eq!(parse_time("2"), Ok(Duration::from_millis(2000)));
    assert_eq!(parse_time("1.7"), Ok(Duration::from_millis(1700)));
    assert_eq!(parse_time("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_time("500MSEC"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_time("1500us"), Ok(Duration::from_millis(2)));
    assert_eq!(parse_time("100us"), Ok(Duration::from_millis(0)));
    assert!(matches!(
        parse_time("2s"),
        Err(TimeError::SecondsSuffix(..))
    ));
    assert!(matches!(parse_time("3O"), Err(TimeError::Invalid(_))));
    assert!(matches!(parse_time(""), Err(TimeError::Invalid(_))));
    assert!(matches!(parse_time("-1"), Err(TimeError::Invalid(_))));
}

#[test]
fn watchdog_takes_an_absolute_device_path() {
    let (c, d) = p("watchdog /dev/watchdog\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.watchdog, Some(PathBuf::from("/dev/watchdog")));
    let (c, d) = p("watchdog watchdog\n");
    assert_eq!(c.watchdog, None);
    assert_eq!(
        d,
        ["ha.cf:1: watchdog: \"watchdog\" is not an absolute path (expected a watchdog device, e.g. /dev/watchdog)"]
    );
}

#[test]
fn seconds_suffix_message_says_how_to_write_it() {
    let (_, d) = p("deadtime 2s\n");
    assert_eq!(
        d,
        vec!["ha.cf:1: deadtime: \"2s\" is not a time: heartbeat reads a bare number as seconds and rejects the \"s\" suffix (write 2 or 2000ms)"]
    );
}

#[test]
fn vector_config_parses_as_heartbeat_reads_it() {
    let found = testkit::vectors();
    if !testkit::skip::Needs::new("vector_config_parses_as_heartbeat_reads_it")
        .that(found.is_some(), "the heartbeat 3.0.6 vectors are not found")
        .met()
    {
        return;
    }
    let text = std::fs::read_to_string(found.unwrap().join("sha1/ha.cf.nodea")).unwrap();
    let (c, d) = p(&text);
    assert!(d.iter().all(|d| d.contains("warning")), "{d:?}");
    assert_eq!(c.nodes, vec!["nodea", "nodeb"]);
    assert_eq!(c.keepalive.millis(), 1000);
    assert_eq!(c.deadtime.millis(), 5000);
    assert_eq!(c.initdead.millis(), 10_000);
    assert_eq!(c.warntime.millis(), 2500);
    assert_eq!(c.media.len(), 3);
    assert_eq!(c.auto_failback, AutoFailback::On);
}

#[test]
fn option_tokens_split_on_commas_and_blanks() {
    let (c, d) = p("node Alpha,beta\tgamma\nbcast eth0 eth1\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.nodes, vec!["alpha", "beta", "gamma"]);
    assert_eq!(c.media.len(), 2);
}

#[test]
fn node_names_with_control_characters_are_refused() {
    // Found by fuzzing: a vertical tab is not an ha.cf separator, so it ended
    // up inside a node name the TOML form (rightly) refuses.
    let (c, d) = p("node beta\u{b}x\n");
    assert!(c.nodes.is_empty());
    assert!(d[0].contains("is not a node name"), "{d:?}");
}

#[test]
fn each_timing_directive_sets_its_own_field() {
    let (c, d) = p("keepalive 1\ndeadtime 31\nwarntime 12\ninitdead 62\ndeadping 33\n");
    assert!(d.is_empty(), "{d:?}");
    let got = [c.keepalive, c.deadtime, c.warntime, c.initdead, c.deadping];
    assert_eq!(
        got.map(|t| t.millis()),
        [1000, 31_000, 12_000, 62_000, 33_000]
    );
}

#[test]
fn initdead_default_follows_deadtime() {
    assert_eq!(p("deadtime 5\n").0.initdead.millis(), 12_000);
    assert_eq!(p("deadtime 8\n").0.initdead.millis(), 16_000);
    assert_eq!(p("deadtime 20\n").0.initdead.millis(), 20_000);
    assert_eq!(p("deadtime 20\n").0.warntime.millis(), 10_000);
    assert_eq!(p("deadtime 20\n").0.deadping.millis(), 20_000);
}

#[test]
fn comments_anywhere_and_crlf() {
    let (c, d) = p("keepalive 2 # two seconds\r\n# whole\r\n\r\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.keepalive.millis(), 2000);
}

#[test]
fn unknown_directive_suggests_nearest() {
    let (_, d) = p("keepalve 2\n");
    assert_eq!(d.len(), 1);
    assert!(
        d[0].starts_with(
            "ha.cf:1: keepalve: unknown directive \"keepalve\" (did you mean \"keepalive\"?)"
        ),
        "{}",
        d[0]
    );
}

#[test]
fn a_medium_on_a_bad_interface_name_is_refused_naming_it() {
    let (c, d) =
        p("bcast a/b\nucast e f 192.0.2.2\nucast a/b 192.0.2.2\nmcast a/b 239.0.0.1 694 1 0\n");
    assert_eq!(
        d,
        [
            "ha.cf:1: bcast: \"a/b\" is not an interface name",
            "ha.cf:2: ucast: \"e f 192.0.2.2\" is not `ucast DEVICE PEER` (e.g. ucast eth0 192.0.2.2)",
            "ha.cf:3: ucast: \"a/b\" is not an interface name",
            "ha.cf:4: mcast: \"a/b\" is not an interface name",
        ]
    );
    assert!(c.media.is_empty());
}

#[test]
fn hbd_settings_are_refused_in_ha_cf() {
    let (_, d) = p("keepalive 2\ncompact_serial true\nbuiltin_ipaddr on\n");
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(
        d[0],
        "ha.cf:2: compact_serial: compact_serial is an hbd.toml [hbd] setting, not an ha.cf directive; run `hbd migrate` and set it under [hbd] there"
    );
    assert!(d[1].starts_with("ha.cf:3: builtin_ipaddr: "), "{}", d[1]);
    // [hbd.announce]: refresh and the convergence check need hbd.toml.
    let (_, d) = p("keepalive 2\nannounce refresh 30s\n");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("ha.cf:2: announce: announce is an hbd.toml [hbd] setting"),
        "{}",
        d[0]
    );
}

#[test]
fn ignored_directives_warn_with_reason() {
    let (_, d) = p("apiauth ipfail uid=hacluster\nuse_logd yes\n");
    assert_eq!(d.len(), 2);
    assert!(d[0].contains("warning: heartbeat knows apiauth; hbd ignores it because"));
}

#[test]
fn pacemaker_on_is_an_error_off_is_fine() {
    assert!(p("crm no\n").1.is_empty());
    let (_, d) = p("pacemaker respawn\n");
    assert!(d[0].contains("hbd only does v1"), "{d:?}");
}

#[test]
fn mcast_checks_every_field() {
    let (c, d) = p("mcast eth0 239.0.0.1 694 1 0\n");
    assert!(d.is_empty());
    assert_eq!(c.media.len(), 1);
    assert!(p("mcast eth0 239.0.0.1 694 5 0\n").1[0].contains("ttl \"5\" is out of range"));
    assert!(p("mcast eth0 10.0.0.1 694 1 0\n").1[0].contains("not a multicast group"));
    assert!(p("mcast eth0 239.0.0.1 694 1\n").1[0].contains("has 4 values"));
}

#[test]
fn ucast6_takes_an_address_with_an_optional_scope() {
    let (c, d) = p("ucast6 eth1 2001:db8::2\nucast6 eth1 fe80::2%eth1\nucast6 eth1 fe80::3\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        c.media,
        vec![
            Medium::Ucast6 {
                dev: "eth1".into(),
                peer: "2001:db8::2".parse().unwrap(),
                scope: None,
            },
            Medium::Ucast6 {
                dev: "eth1".into(),
                peer: "fe80::2".parse().unwrap(),
                scope: Some("eth1".into()),
            },
            Medium::Ucast6 {
                dev: "eth1".into(),
                peer: "fe80::3".parse().unwrap(),
                scope: None,
            },
        ]
    );
    assert_eq!(
        p("ucast6 eth1 fe80::2%eth2\n").1,
        ["ha.cf:1: ucast6: the scope of \"fe80::2%eth2\" is interface \"eth2\", not the line's device \"eth1\" (expected %eth1, or no scope: a link-local peer takes the device's)"]
    );
    assert!(p("ucast6 eth1 node2\n").1[0].contains("takes no host names"));
    assert!(p("ucast6 eth1 ::1\n").1[0].contains("refuses"));
    assert!(p("ucast6 eth1\n").1[0].contains("is not `ucast6 DEVICE PEER`"));
    assert!(p("ucast6 a/b 2001:db8::2\n").1[0].contains("\"a/b\" is not an interface name"));
}

#[test]
fn mcast6_checks_every_field() {
    let (c, d) = p("mcast6 eth1 ff02::694:1 694 1 0\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        c.media,
        [Medium::Mcast6 {
            dev: "eth1".into(),
            group: "ff02::694:1".parse().unwrap(),
            port: 694,
            hops: 1,
            loopback: false,
        }]
    );
    assert!(p("mcast6 eth1 ff02::694:1 694 5 0\n").1[0].contains("hops 5 is out of range"));
    assert!(p("mcast6 eth1 ff02::694:1 694 x 0\n").1[0].contains("hops \"x\" is not a number"));
    assert!(p("mcast6 eth1 ff0e::1 694 1 0\n").1[0]
        .contains("not a multicast group heartbeat's mcast6 accepts"));
    assert!(p("mcast6 eth1 ff02::1:2 0 1 0\n").1[0].contains("not a UDP port"));
    assert!(p("mcast6 eth1 ff02::1:2 694 1 2\n").1[0].contains("loop \"2\" is not 0 or 1"));
    assert!(p("mcast6 eth1 ff02::1:2 694 1\n").1[0].contains("has 4 values"));
}

#[test]
fn nice_failback_resolves_as_heartbeats_set_nice_failback() {
    // Checked against heartbeat 3.0.6 itself: alone, any value is legacy
    // ("nice_failback on has been strictly interpreted as 'auto_failback
    // legacy'"); after auto_failback on or off, any value is off.
    for v in ["on", "off"] {
        let (c, d) = p(&format!("nice_failback {v}\n"));
        assert_eq!(c.auto_failback, AutoFailback::Legacy, "{v}");
        assert_eq!(
            d,
            vec![format!("ha.cf:1: nice_failback: warning: \"{v}\" is obsolete: without an earlier auto_failback on or off, heartbeat reads any nice_failback as auto_failback legacy; hbd reads it the same (effective value: auto_failback legacy; write that instead)")]
        );
        let (c, d) = p(&format!("auto_failback on\nnice_failback {v}\n"));
        assert_eq!(c.auto_failback, AutoFailback::Off, "{v}");
        assert!(d[0].contains("after `auto_failback on` (line 1), heartbeat reads any nice_failback as auto_failback off, so failback is now off; hbd reads it the same (effective value: auto_failback off"), "{d:?}");
        assert_eq!(c.dropped.len(), 1);
        assert_eq!(c.origins["auto_failback"].line, 2);
    }
    let (c, _) = p("auto_failback legacy\nnice_failback on\n");
    assert_eq!(c.auto_failback, AutoFailback::Legacy);
    let (c, _) = p("nice_failback on\nnice_failback on\nauto_failback on\n");
    assert_eq!(c.auto_failback, AutoFailback::On, "the last line wins");
    assert!(p("nice_failback maybe\n").1[0].contains("is not a boolean"));
}

#[test]
fn auto_failback_accepts_booleans() {
    assert_eq!(p("auto_failback yes\n").0.auto_failback, AutoFailback::On);
    assert_eq!(p("auto_failback 0\n").0.auto_failback, AutoFailback::Off);
    assert!(p("auto_failback maybe\n").1[0].contains("is not on, off or legacy"));
}

#[test]
fn ping_takes_addresses_and_host_names() {
    let (c, d) = p("ping gateway 192.0.2.254\nping_group routers r1.example.net 192.0.2.1\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.ping_nodes[0].addrs, vec!["gateway"]);
    assert_eq!(c.ping_nodes[2].addrs, vec!["r1.example.net", "192.0.2.1"]);
    assert_eq!(
        p("ping 192.0.2\n").1,
        vec!["ha.cf:1: ping: \"192.0.2\" is not an IPv4 address (heartbeat's resolver would read it as 192.0.0.2; write all four parts, e.g. 192.0.2.254)"]
    );
    assert!(p("ping 1.2.3.4.5\n").1[0].contains("would not read it either"));
    assert!(p("ping_group g gate$way\n").1[0]
        .contains("\"gate$way\" is not an IPv4 address or host name"));
    assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(inet_aton("3232235777"), Some(Ipv4Addr::new(192, 168, 1, 1)));
    assert_eq!(inet_aton("1.2.300"), Some(Ipv4Addr::new(1, 2, 1, 44)));
    assert_eq!(inet_aton("1.2.70000"), None);
    assert_eq!(inet_aton("1.2.3.256"), None);
}

#[test]
fn udpport_and_baud_apply_from_where_heartbeat_reads_them() {
    let (c, d) = p("udpport 700\nucast eth0 192.0.2.2\nbcast eth1\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.udpport, 700);
    let (c, d) = p("ucast eth0 192.0.2.2\nbcast eth1\nudpport 700\n");
    assert_eq!(c.udpport, 694);
    assert_eq!(
        d,
        vec!["ha.cf:3: udpport: warning: 700 comes after the first ucast line (line 1), where heartbeat 3.0.6 fixes the port, so heartbeat and hbd use 694 (move udpport above the media lines to use 700)"]
    );
    // As the real heartbeat ran it: ucast on 694, bcast on 700.
    let (_, d) = p("ucast eth1 10.250.0.2\nudpport 700\nbcast eth0\n");
    assert_eq!(
        d,
        vec!["ha.cf:2: udpport: heartbeat 3.0.6 runs ucast links on 694 (fixed at line 1) and bcast links on 700 (fixed at line 3), since each plugin reads udpport at its first line; hbd has one port for every link (expected udpport above all ucast and bcast lines)"]
    );
    // ucast6 reads udpport at its first line too.
    let (c, d) = p("ucast6 eth1 2001:db8::2\nudpport 700\n");
    assert_eq!(c.udpport, 694);
    assert!(
        d[0].contains("comes after the first ucast6 line (line 1)"),
        "{d:?}"
    );
    // mcast carries its own port; serial its speed.
    let (c, d) = p("mcast eth0 239.0.0.1 700 1 0\nudpport 800\n");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(c.udpport, 800);
    let (c, d) = p("serial /dev/ttyS0\nbaud 115200\n");
    assert_eq!(c.baud, 19200);
    assert!(
        d[0].starts_with(
            "ha.cf:2: baud: warning: 115200 comes after the first serial line (line 1)"
        ),
        "{d:?}"
    );
}

#[test]
fn repeated_scalar_warns() {
    let (c, d) = p("keepalive 1 2\n");
    assert_eq!(c.keepalive.millis(), 2000);
    assert!(d[0].contains("overrides the value set on line 1"));
}

proptest::proptest! {
    #[test]
    fn never_panics(s in "\\PC*") {
        let _ = parse_str(&s, Path::new("ha.cf"));
    }
    #[test]
    fn never_panics_on_directive_lines(d in proptest::sample::select(known_directives().collect::<Vec<_>>()), rest in "[ -~\t]{0,40}") {
        let _ = parse_str(&format!("{d} {rest}\n"), Path::new("ha.cf"));
    }
    #[test]
    fn time_never_panics(s in "\\PC{0,20}") {
        let _ = parse_time(&s);
    }
}
