//! An IPv6 floating address taken over for real (root; skipped with a printed
//! reason otherwise, a failure under HBD_REQUIRE_LAB=1): two `hbd run`
//! daemons on the namespace pair (testkit::nspair) hold
//! `IPv6addr::2001:db8:7:0:0:0:0:100/64/svc0` (built in, though
//! `builtin_ipaddr` is off: hbd has no IPv6 agent script), and the lab's
//! client on the service LAN knows the address at nodea's MAC. nodea's
//! machine crashes (its daemon killed -9, the address gone with its kernel);
//! nodeb takes the address over.
//!
//! The client is made to keep what it has: its neighbour entries stay
//! REACHABLE for minutes (base_reachable_time 10 min) and it sends nothing
//! after the crash, so it never probes the entry itself. Its entry can only
//! change through what nodeb sends: with the unsolicited neighbour
//! advertisements it follows to nodeb's MAC; with `count = 0` (none sent) it
//! must still name nodea's MAC well after the takeover, which shows the first
//! test cannot pass without them.

use hbd::control::ConvergenceState;
use hbd::core::{GroupState, RscHold};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};
use testkit::nspair::{Dir, NsPair, Opts, Serial, CLIENT_IF, HB_ADDRS, SVC_IF};
use testkit::skip::Needs;
use testkit::{one_at_a_time, wait_for};

const NAMES: [&str; 2] = ["nodea", "nodeb"];
const FLOAT: &str = "2001:db8:7::100";
const KEY: &str = "IPv6addr::2001:db8:7:0:0:0:0:100/64/svc0";
const NODE_ADDRS: [&str; 2] = ["2001:db8:7::1/64", "2001:db8:7::2/64"];
const CLIENT6: &str = "2001:db8:7::10/64";

fn needs(test: &str) -> Needs {
    Needs::new(test).lab().tool("ping", "iputils-ping")
}

struct Cluster {
    ns: NsPair,
}

impl Cluster {
    /// The pair with `announce` as the body of `[hbd.announce]`.
    fn build(announce: &str) -> Cluster {
        let opts = Opts {
            serial: Serial::None,
            ..Opts::default()
        };
        let ns = NsPair::new(opts, &testkit::hbd_exe!());
        let toml = format!(
            "# tests/ipv6_takeover.rs: identical on both nodes\n\
             nodes = [\"{na}\", \"{nb}\"]\n\
             keepalive = \"200ms\"\n\
             warntime = \"500ms\"\n\
             deadtime = \"1s\"\n\
             initdead = \"2s\"\n\
             auto_failback = \"off\"\n\
             \n[[media]]\ntype = \"ucast\"\ndev = \"hb0\"\npeer = \"{ha}\"\n\
             \n[[media]]\ntype = \"ucast\"\ndev = \"hb0\"\npeer = \"{hb}\"\n\
             \n[auth]\nauthkeys = \"authkeys\"\n\
             \n[[group]]\nhome = \"{na}\"\nresources = [\"{KEY}\"]\n\
             \n[hbd]\nbuiltin_ipaddr = false\n\
             \n[hbd.announce]\ninterval = \"200ms\"\n{announce}\n",
            na = NAMES[0],
            nb = NAMES[1],
            ha = HB_ADDRS[0],
            hb = HB_ADDRS[1],
        );
        for (i, n) in ns.nodes.iter().enumerate() {
            let etc = ns.host(i, Dir::Etc);
            fs::write(etc.join("hbd.toml"), &toml).unwrap();
            let keys = etc.join("authkeys");
            fs::write(&keys, "auth 1\n1 sha1 ipv6-lab-not-a-secret\n").unwrap();
            fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
            n.must(&["ip", "addr", "add", NODE_ADDRS[i], "dev", SVC_IF, "nodad"]);
        }
        let c = ns.client.as_ref().expect("a client");
        c.must(&["ip", "addr", "add", CLIENT6, "dev", CLIENT_IF, "nodad"]);
        c.must(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.neigh.{CLIENT_IF}.base_reachable_time_ms=600000"),
        ]);
        Cluster { ns }
    }

    fn toml(&self) -> PathBuf {
        self.ns.on_node(Dir::Etc).join("hbd.toml")
    }

    /// `hbd check` must accept what `run` will run, then the daemon starts.
    fn start(&mut self, i: usize) {
        let exe = testkit::hbd_exe!();
        let out = self.ns.run(
            i,
            &[
                exe.display().to_string(),
                "check".into(),
                "-c".into(),
                self.toml().display().to_string(),
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: hbd check: {text}", NAMES[i]);
        let cmd = self.ns.hbd_command(i, &self.toml());
        self.ns.start(i, cmd);
    }

    fn runs_here(r: &hbd::control::StatusReport, i: usize) -> bool {
        r.rsc_hold != RscHold::Transition
            && r.groups.iter().any(|g| {
                g.key == KEY
                    && g.state == GroupState::Running
                    && g.owner.as_deref() == Some(NAMES[i])
            })
    }

    fn client(&self) -> &testkit::lab::Node {
        self.ns.client.as_ref().expect("a client")
    }

    /// The client's entry for the address: (MAC, state).
    fn client_sees(&self) -> Option<(String, String)> {
        self.client().neigh(FLOAT)
    }

    fn holds(&self, i: usize) -> bool {
        let out = self.ns.nodes[i].must(&["ip", "-o", "-6", "addr", "show", "dev", SVC_IF]);
        String::from_utf8_lossy(&out.stdout).contains(&format!("inet6 {FLOAT}/64"))
    }

    /// The client's input of neighbour advertisements: dropped (`deaf`,
    /// nftables in the client's namespace only) or accepted.
    fn deafen(&self, deaf: bool) {
        let script = if deaf {
            "nft add table ip6 hbdtest && nft add chain ip6 hbdtest in '{ type filter hook input priority 0; policy accept; }' && nft add rule ip6 hbdtest in icmpv6 type nd-neighbor-advert drop"
        } else {
            "nft delete table ip6 hbdtest"
        };
        let out = self.client().sh(script);
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The pair runs with the address on nodea, the client reaches it there
    /// (and then stops hearing advertisements, if `deaf`); then nodea's
    /// machine crashes. Returns when nodeb runs the group.
    fn crash_nodea(&mut self, deaf: bool) -> Instant {
        self.start(0);
        self.ns
            .wait_status(0, Duration::from_secs(20), "running the group alone", |r| {
                Self::runs_here(r, 0)
            });
        self.start(1);
        self.ns
            .wait_status(1, Duration::from_secs(15), "up, the group on nodea", |r| {
                hbd::demo::cluster::both_active(r)
                    && r.groups
                        .iter()
                        .any(|g| g.key == KEY && g.state == GroupState::Peer)
            });
        assert!(self.holds(0), "nodea does not hold {FLOAT}");
        let out = self
            .client()
            .run(&["ping", "-6", "-c", "1", "-W", "2", FLOAT]);
        assert!(
            out.status.success(),
            "the client cannot reach {FLOAT}: {out:?}"
        );
        let a_mac = self.ns.nodes[0].mac(SVC_IF);
        let seen = self.client_sees();
        assert_eq!(seen.as_ref().map(|s| s.0.as_str()), Some(a_mac.as_str()));
        assert_eq!(seen.map(|s| s.1).as_deref(), Some("REACHABLE"));
        if deaf {
            self.deafen(true);
        }
        let crashed = Instant::now();
        self.ns.crash(0);
        // The dead kernel's addresses die with it (crash() flushes IPv4 only).
        self.ns.nodes[0].must(&["ip", "addr", "del", &format!("{FLOAT}/64"), "dev", SVC_IF]);
        self.ns
            .wait_status(1, Duration::from_secs(10), "the group taken over", |r| {
                Self::runs_here(r, 1)
            });
        assert!(self.holds(1), "nodeb runs the group without {FLOAT}");
        crashed
    }
}

#[test]
fn an_ipv6_clients_neighbour_entry_follows_the_address_to_the_survivor() {
    if !needs("an_ipv6_clients_neighbour_entry_follows_the_address_to_the_survivor").met() {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("count = 3");
    let crashed = c.crash_nodea(false);
    let b_mac = c.ns.nodes[1].mac(SVC_IF);
    // The first advertisement leaves with the start; 2 s of slack.
    let followed = wait_for(Duration::from_secs(2), || {
        (c.client_sees().map(|s| s.0).as_deref() == Some(b_mac.as_str())).then(|| crashed.elapsed())
    });
    let followed = followed.unwrap_or_else(|| {
        panic!(
            "the client still sends {FLOAT} to {:?}, 2 s after nodeb took it over\nnodeb's log:\n{}",
            c.client_sees(),
            c.ns.log_tail(1, 30)
        )
    });
    let log = c.ns.log(1);
    assert!(
        log.contains("nodad; announcing with 3 unsolicited neighbour advertisements"),
        "{}",
        c.ns.log_tail(1, 30)
    );
    eprintln!("the client's entry followed {followed:?} after the crash (deadtime 1 s)");
    // And the client reaches the address at nodeb.
    let out = c.client().run(&["ping", "-6", "-c", "1", "-W", "2", FLOAT]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn without_neighbour_advertisements_the_clients_entry_keeps_the_dead_nodes_mac() {
    if !needs("without_neighbour_advertisements_the_clients_entry_keeps_the_dead_nodes_mac").met() {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("count = 0");
    c.crash_nodea(false);
    // The other test's window, and as much again: nothing comes.
    sleep(Duration::from_secs(4));
    let a_mac = c.ns.nodes[0].mac(SVC_IF);
    let seen = c.client_sees();
    assert_eq!(
        seen.as_ref().map(|s| s.0.as_str()),
        Some(a_mac.as_str()),
        "the client followed without advertisements: the other test proves nothing"
    );
    assert_eq!(seen.map(|s| s.1).as_deref(), Some("REACHABLE"));
}

#[test]
fn a_client_that_missed_the_advertisements_follows_within_the_refresh_interval() {
    if !needs("a_client_that_missed_the_advertisements_follows_within_the_refresh_interval")
        .tool("nft", "nftables")
        .met()
    {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("count = 3\nrefresh = \"2s\"");
    c.crash_nodea(true);
    let took = Instant::now();
    // Well past the burst (3 advertisements 200 ms apart).
    sleep(Duration::from_millis(1500).saturating_sub(took.elapsed()));
    let a_mac = c.ns.nodes[0].mac(SVC_IF);
    assert_eq!(
        c.client_sees().map(|s| s.0),
        Some(a_mac),
        "the client was not deaf to the burst: the test proves nothing"
    );
    c.deafen(false);
    let opened = Instant::now();
    let b_mac = c.ns.nodes[1].mac(SVC_IF);
    // The next refresh is at most 2 s after the last advertisement; 1 s of slack.
    let followed = wait_for(Duration::from_secs(3), || {
        (c.client_sees().map(|s| s.0).as_deref() == Some(b_mac.as_str())).then(|| opened.elapsed())
    });
    let followed = followed.unwrap_or_else(|| {
        panic!(
            "the client still sends {FLOAT} to {:?}, 3 s after it heard advertisements again (refresh 2 s)\n{}",
            c.client_sees(),
            c.ns.log_tail(1, 30)
        )
    });
    eprintln!("the client followed {followed:?} after its input opened (refresh 2s)");
}

#[test]
fn convergence_is_checked_with_neighbour_solicitations_and_a_silent_target_warned_about() {
    if !needs(
        "convergence_is_checked_with_neighbour_solicitations_and_a_silent_target_warned_about",
    )
    .met()
    {
        return;
    }
    let _one = one_at_a_time();
    // The client is nodea's IPv6 router; 2001:db8:7::99 is nobody.
    let mut c = Cluster::build(
        "count = 3\nverify = [\"gateway\", \"2001:db8:7::99\"]\nverify_limit = \"3s\"",
    );
    c.ns.nodes[0].must(&[
        "ip",
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:7::10",
        "dev",
        SVC_IF,
    ]);
    c.start(0);
    let report = wait_for(Duration::from_secs(20), || {
        c.ns.status(0)?
            .convergence
            .into_iter()
            .find(|r| r.address == FLOAT && r.state == ConvergenceState::NotConverged)
    })
    .unwrap_or_else(|| panic!("no verdict:\n{}", c.ns.log_tail(0, 30)));
    assert_eq!(report.missing, ["2001:db8:7::99"]);
    assert_eq!(report.limit_ms, Some(3000));
    assert_eq!(
        report
            .answered
            .iter()
            .map(|a| a.target.as_str())
            .collect::<Vec<_>>(),
        ["2001:db8:7::10"]
    );
    // The answer came because the client now maps the address to nodea:
    // it never sent to it, the solicitation alone made the entry.
    assert_eq!(
        c.client_sees().map(|s| s.0),
        Some(c.ns.nodes[0].mac(SVC_IF))
    );
    let log = c.ns.log(0);
    let line = format!(
        "{FLOAT} on {SVC_IF} (group {KEY}): clients did not converge within 3s: 2001:db8:7::99 never answered a neighbour solicitation from {FLOAT}"
    );
    assert!(log.contains(&line), "no {line:?} in the log:\n{log}");
    eprintln!("{report:?}");
}

#[test]
fn convergence_of_an_ipv6_address_is_reported_with_its_time() {
    if !needs("convergence_of_an_ipv6_address_is_reported_with_its_time").met() {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("count = 3\nverify = [\"gateway\"]");
    c.ns.nodes[0].must(&[
        "ip",
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:7::10",
        "dev",
        SVC_IF,
    ]);
    c.start(0);
    let report = wait_for(Duration::from_secs(20), || {
        c.ns.status(0)?
            .convergence
            .into_iter()
            .find(|r| r.address == FLOAT && r.state == ConvergenceState::Converged)
    })
    .unwrap_or_else(|| panic!("no convergence:\n{}", c.ns.log_tail(0, 30)));
    let after = report.after_ms.expect("a time");
    assert_eq!(report.targets, ["2001:db8:7::10"]);
    let line = format!(
        "{FLOAT} on {SVC_IF} (group {KEY}): clients converged after {after} ms: 2001:db8:7::10 after {after} ms answered a neighbour solicitation from {FLOAT}"
    );
    let log = c.ns.log(0);
    assert!(log.contains(&line), "no {line:?} in the log:\n{log}");
}
