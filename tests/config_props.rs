//! Properties of the config forms: any `Config` survives `to_toml` and back, and
//! the legacy parsers never panic on any input (the fuzz targets check the same
//! thing at greater depth).

use hbd::config::toml_form::{self, comparable, Source};
use hbd::config::*;
use hbd::time::Duration;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

fn dur() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..100_000).prop_map(Duration::from_millis),
        (0u64..600).prop_map(Duration::from_secs),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}"
}

fn path() -> impl Strategy<Value = PathBuf> {
    "(/[a-zA-Z0-9._ \"\\\\-]{1,8}){1,3}".prop_map(PathBuf::from)
}

fn medium() -> impl Strategy<Value = Medium> {
    prop_oneof![
        ("[a-z0-9]{1,8}", "[a-z0-9.:-]{1,20}").prop_map(|(dev, peer)| Medium::Ucast { dev, peer }),
        "[a-z0-9]{1,8}".prop_map(|dev| Medium::Bcast { dev }),
        (
            "[a-z0-9]{1,8}",
            224u8..240,
            any::<[u8; 3]>(),
            1u16..,
            0u8..=4,
            any::<bool>()
        )
            .prop_map(|(dev, a, [b, c, d], port, ttl, loopback)| Medium::Mcast {
                dev,
                group: Ipv4Addr::new(a, b, c, d),
                port,
                ttl,
                loopback
            }),
        path().prop_map(|path| Medium::Serial { path }),
    ]
}

fn ipv4() -> impl Strategy<Value = String> {
    any::<[u8; 4]>().prop_map(|a| Ipv4Addr::from(a).to_string())
}

fn key() -> impl Strategy<Value = AuthKey> {
    prop_oneof![
        Just(AuthKey {
            method: AuthMethod::Crc,
            secret: Secret(Vec::new())
        }),
        (
            prop_oneof![
                Just(AuthMethod::Md5),
                Just(AuthMethod::Sha1),
                Just(AuthMethod::Sha256)
            ],
            "[!-~]{1,30}"
        )
            .prop_map(|(method, s)| AuthKey {
                method,
                secret: Secret(s.into_bytes())
            }),
    ]
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        "[A-Za-z][A-Za-z0-9_]{0,8}",
        prop::collection::vec("[a-zA-Z0-9/._=-]{1,10}", 0..4),
    )
        .prop_map(|(name, args)| Resource { name, args })
}

/// A monitor's settings, for a resource picked later (`Monitor::group` and
/// `resource` are set where the groups are known).
fn monitor() -> impl Strategy<Value = Monitor> {
    let at_least_100ms = |d: Duration| Duration::from_millis(d.millis().max(100));
    (
        (any::<bool>(), dur(), dur(), 1u32..=100, 1u32..=100),
        (
            prop::sample::select(vec![
                OnFail::Restart,
                OnFail::Move,
                OnFail::Block,
                OnFail::Ignore,
            ]),
            0u32..=1000,
            dur(),
            prop::option::of(dur()),
        ),
    )
        .prop_map(
            move |((ocf, interval, timeout, fall, rise), (on_fail, max_restarts, window, ft))| {
                Monitor {
                    check: if ocf {
                        MonitorCheck::Monitor
                    } else {
                        MonitorCheck::Status
                    },
                    interval: at_least_100ms(interval),
                    timeout: at_least_100ms(timeout),
                    fall,
                    rise,
                    on_fail,
                    max_restarts,
                    restart_window: at_least_100ms(window),
                    failure_timeout: ft.map(at_least_100ms),
                    ..Monitor::new(0, 0)
                }
            },
        )
}

prop_compose! {
    fn config()(
        nodes in prop::collection::btree_set(name(), 0..4),
        t in prop::array::uniform7(dur()),
        udpport in 1u16..,
        baud in prop::sample::select(vec![9600u32, 19200, 38400, 57600, 115200, 230400, 460800]),
        media in prop::collection::vec(medium(), 0..4),
        ping in prop::collection::vec((name(), prop::collection::vec(ipv4(), 1..3)), 0..3),
        auto_failback in prop::sample::select(vec![AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy]),
        netstring in any::<bool>(),
        logfile in prop::option::of(path()),
        debugfile in prop::option::of(path()),
        logfacility in prop::option::of(prop::sample::select(vec!["daemon", "local0", "local7", "user"])),
        syslog_tag in prop::option::of("[A-Za-z0-9._-]{1,32}"),
        debug in any::<u8>(),
        realtime in any::<bool>(),
        watchdog in prop::option::of(path()),
        stonith in prop::collection::vec((name(), name(), prop::collection::vec("[a-z0-9=]{1,6}", 0..3)), 0..2),
        keys in prop::collection::btree_map(0u8..=15, key(), 1..4),
        send_pick in any::<prop::sample::Index>(),
        groups in prop::collection::vec((name(), prop::collection::vec(resource(), 1..4)), 0..4),
        hbd in (dur(), any::<bool>(), prop::collection::vec(path(), 0..2), prop::option::of(path()), any::<bool>(), prop::option::of(any::<[u8; 4]>()), prop::option::of((any::<[u8; 3]>(), 1u16..)), prop::option::of(path()), dur()),
        monitors in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), monitor()), 0..4),
    ) -> Config {
        let send_index = *keys.keys().nth(send_pick.index(keys.len())).unwrap();
        let mut seen = Vec::new();
        let groups: Vec<ResourceGroup> = groups.into_iter().filter_map(|(home, resources)| {
            let g = ResourceGroup { home, resources, location: Location::default() };
            (!seen.contains(&g.key())).then(|| { seen.push(g.key()); g })
        }).collect();
        // One monitor per resource, on resources written once in their
        // group (the file names a monitor's resource as written).
        let mut monitors: Vec<Monitor> = monitors.into_iter().filter_map(|(gi, ri, mut m)| {
            if groups.is_empty() {
                return None;
            }
            m.group = gi.index(groups.len());
            let rs = &groups[m.group].resources;
            m.resource = ri.index(rs.len());
            let unique = rs.iter().filter(|r| r.to_string() == rs[m.resource].to_string()).count() == 1;
            unique.then_some(m)
        }).collect();
        monitors.sort_by_key(|m| (m.group, m.resource));
        monitors.dedup_by_key(|m| (m.group, m.resource));
        Config {
            nodes: nodes.into_iter().collect(),
            keepalive: t[0], deadtime: t[1], warntime: t[2], initdead: t[3], deadping: t[4],
            max_rexmit_delay: t[5],
            udpport, baud, media,
            ping_nodes: ping.into_iter().map(|(name, addrs)| PingNode { name, addrs }).collect(),
            auto_failback,
            msgfmt: if netstring { MsgFmt::Netstring } else { MsgFmt::Classic },
            logging: Logging { logfile, debugfile, logfacility: logfacility.map(String::from), debug, syslog_tag },
            realtime,
            watchdog,
            stonith_hosts: stonith.into_iter().map(|(host, kind, params)| StonithHost { host, kind, params }).collect(),
            auth: Auth { send_index, keys },
            groups,
            hbd: HbdOptions {
                script_timeout: hbd.0,
                stop_failure: if hbd.1 { StopFailurePolicy::Reboot } else { StopFailurePolicy::Block },
                resource_dirs: hbd.2,
                fence_hook: hbd.3,
                fence_required: hbd.4,
                compact_serial: hbd.4,
                // Independent of compact_serial without widening the tuple.
                builtin_ipaddr: match (hbd.4, hbd.1) {
                    (true, true) => BuiltinIpaddr::Always,
                    (false, false) => BuiltinIpaddr::Never,
                    _ => BuiltinIpaddr::Auto,
                },
                redundancy: if hbd.1 == hbd.4 { Redundancy::Adaptive } else { Redundancy::Off },
                bind: hbd.5.map(|a| Ipv4Addr::from(a).into()),
                // Loopback only: any other address is valid but warned about.
                metrics: hbd.6.map(|([a, b, c], port)| (Ipv4Addr::new(127, a, b, c), port).into()),
                notify: hbd.7,
                notify_timeout: hbd.8,
                monitors,
                announce: Default::default(),
            },
            origins: BTreeMap::new(),
            dropped: Vec::new(),
        }
    }
}

fn src() -> Source<'static> {
    Source {
        file: Path::new("hbd.toml"),
        dir: Path::new("."),
        mode: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn to_toml_round_trips(c in config()) {
        let text = to_toml(&c, Some("alpha"));
        let (back, diags) = toml_form::parse_str(&text, &src());
        let errors: Vec<String> = diags.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
        prop_assert!(errors.is_empty(), "{errors:?}\n{text}");
        prop_assert_eq!(comparable(&c), comparable(&back.unwrap()), "{}", text);
    }

    #[test]
    fn authkeys_never_panics(s in "\\PC*") {
        let _ = hbd::config::authkeys::parse(&s, Path::new("authkeys"));
    }

    #[test]
    fn hacf_lines_never_panic(lines in prop::collection::vec("[ -~\t]{0,60}", 0..20)) {
        let _ = hbd::config::hacf::parse_str(&lines.join("\n"), Path::new("ha.cf"));
    }

    #[test]
    fn toml_never_panics(s in "[ -~\n\\[\\]=\"]{0,200}") {
        let _ = toml_form::parse_str(&s, &src());
    }
}

/// Every file of a committed fuzz corpus (`fuzz/corpus/NAME`).
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The properties the config fuzz targets assert (fuzz/fuzz_targets/hacf.rs,
/// haresources.rs, toml_config.rs), replayed on their whole seed corpus, so
/// a change to a parser is held to them by `cargo test` too, without
/// libFuzzer.
#[test]
fn fuzz_properties_hold_on_the_config_corpora() {
    let mut checked = 0;
    for data in corpus("hacf") {
        let text = String::from_utf8_lossy(&data);
        let (mut cfg, diags) = hbd::config::hacf::parse_str(&text, Path::new("ha.cf"));
        if diags.iter().any(|d| d.is_error()) {
            continue;
        }
        cfg.auth.send_index = 1;
        cfg.auth.keys.insert(
            1,
            AuthKey {
                method: AuthMethod::Sha1,
                secret: Secret(b"k".to_vec()),
            },
        );
        let out = to_toml(&cfg, None);
        let (back, d) = toml_form::parse_str(&out, &src());
        let back = back.unwrap_or_else(|| panic!("{d:?}\n{out}"));
        assert_eq!(comparable(&cfg), comparable(&back), "{text:?}\n{out}");
        checked += 1;
    }
    for data in corpus("haresources") {
        let text = String::from_utf8_lossy(&data);
        let (groups, _) = hbd::config::haresources::parse_str(&text, Path::new("haresources"));
        let out: String = groups
            .iter()
            .map(|g| {
                let res: Vec<String> = g.resources.iter().map(|r| r.to_string()).collect();
                format!("{} {}\n", g.home, res.join(" "))
            })
            .collect();
        let (again, d) = hbd::config::haresources::parse_str(&out, Path::new("haresources"));
        assert!(d.is_empty(), "{d:?}\n{out}");
        let pairs = |gs: &[ResourceGroup]| -> Vec<(String, Vec<Resource>)> {
            gs.iter()
                .map(|g| (g.home.clone(), g.resources.clone()))
                .collect()
        };
        assert_eq!(pairs(&groups), pairs(&again), "{text:?}");
        checked += 1;
    }
    for data in corpus("toml_config") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        let nowhere = Source {
            file: Path::new("hbd.toml"),
            dir: Path::new("/nonexistent"),
            mode: None,
        };
        let (Some(cfg), diags) = toml_form::parse_str(text, &nowhere) else {
            continue;
        };
        if diags.iter().any(|d| d.is_error()) {
            continue;
        }
        let out = to_toml(&cfg, None);
        let (back, d) = toml_form::parse_str(&out, &nowhere);
        let back = back.unwrap_or_else(|| panic!("{d:?}\n{out}"));
        assert_eq!(comparable(&cfg), comparable(&back), "{out}");
        checked += 1;
    }
    assert!(checked > 500, "only {checked} corpus inputs checked");
}
