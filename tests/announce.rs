//! `[hbd.announce]` for real (root; skipped with a printed reason otherwise,
//! a failure under HBD_REQUIRE_LAB=1): two `hbd run` daemons on the
//! namespace pair (testkit::nspair) hold a built-in floating address on the
//! service LAN, and the lab's client stands for a switch or router that
//! missed the takeover's gratuitous ARP: its ARP input is dropped (nftables,
//! `arp` family, in the client's namespace only) during the burst, then
//! opened. The client sends nothing meanwhile, so its neighbour entry for
//! the address can only change through what the survivor sends.
//!
//! - refresh on: the entry follows within the refresh interval;
//! - refresh off (heartbeat's behaviour): it still names the dead node;
//! - verify = ["gateway"] (the client is the nodes' default gateway): the
//!   check re-announces with backoff, the client answers once opened, and
//!   the survivor reports "clients converged after N ms" with N at least the
//!   time the client was deaf;
//! - a target that never answers: the warning, in the log and the status.

use hbd::control::{ConvergenceReport, ConvergenceState, StatusReport};
use hbd::core::{GroupState, RscHold};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};
use testkit::nspair::{Dir, NsPair, Opts, Serial, CLIENT_ADDR, HB_ADDRS, SVC_IF};
use testkit::skip::Needs;
use testkit::{one_at_a_time, wait_for};

const NAMES: [&str; 2] = ["nodea", "nodeb"];
const FLOAT: &str = "192.0.2.100";
const KEY: &str = "IPaddr2::192.0.2.100/24/svc0";
/// The client's ARP input stays closed this long after the takeover is seen:
/// well past the burst (3 announcements, 200 ms apart).
const DEAF: Duration = Duration::from_millis(1500);

fn needs(test: &str) -> Needs {
    Needs::new(test)
        .lab()
        .tool("nft", "nftables")
        .tool("ping", "iputils-ping")
}

/// The pair, configured with `announce` (the body of `[hbd.announce]`).
struct Cluster {
    ns: NsPair,
}

impl Cluster {
    fn build(announce: &str) -> Cluster {
        let opts = Opts {
            serial: Serial::None,
            ..Opts::default()
        };
        let ns = NsPair::new(opts, &testkit::hbd_exe!());
        let toml = format!(
            "# tests/announce.rs: identical on both nodes\n\
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
             \n[hbd]\nbuiltin_ipaddr = true\n\
             \n[hbd.announce]\ncount = 3\ninterval = \"200ms\"\n{announce}\n",
            na = NAMES[0],
            nb = NAMES[1],
            ha = HB_ADDRS[0],
            hb = HB_ADDRS[1],
        );
        for (i, n) in ns.nodes.iter().enumerate() {
            let etc = ns.host(i, Dir::Etc);
            fs::write(etc.join("hbd.toml"), &toml).unwrap();
            let keys = etc.join("authkeys");
            fs::write(&keys, "auth 1\n1 sha1 announce-lab-not-a-secret\n").unwrap();
            fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
            // The client is the LAN's router: `verify = ["gateway"]` asks it.
            n.must(&[
                "ip",
                "route",
                "add",
                "default",
                "via",
                CLIENT_ADDR,
                "dev",
                SVC_IF,
            ]);
        }
        Cluster { ns }
    }

    fn toml(&self) -> PathBuf {
        self.ns.on_node(Dir::Etc).join("hbd.toml")
    }

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

    fn runs_here(r: &StatusReport, i: usize) -> bool {
        r.rsc_hold != RscHold::Transition
            && r.groups.iter().any(|g| {
                g.key == KEY
                    && g.state == GroupState::Running
                    && g.owner.as_deref() == Some(NAMES[i])
            })
    }

    /// nodea alone takes the group after initdead, then nodeb joins.
    fn start_pair(&mut self) {
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
    }

    fn client(&self) -> &testkit::lab::Node {
        self.ns.client.as_ref().expect("a client")
    }

    /// The client's ARP input: dropped (`deaf`) or accepted.
    fn deafen(&self, deaf: bool) {
        let script = if deaf {
            "nft add table arp hbdtest && nft add chain arp hbdtest in '{ type filter hook input priority 0; policy drop; }'"
        } else {
            "nft delete table arp hbdtest"
        };
        let out = self.client().sh(script);
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The MAC the client's neighbour entry gives the floating address.
    fn client_sees(&self) -> Option<String> {
        self.client().neigh(FLOAT).map(|(mac, _)| mac)
    }

    /// The pair runs, the client knows the address at nodea, then its ARP
    /// goes deaf and nodea crashes; returns once nodeb runs the group.
    fn crash_nodea_while_the_client_is_deaf(&mut self) -> Instant {
        self.start_pair();
        let out = self.client().run(&["ping", "-c", "1", "-W", "2", FLOAT]);
        assert!(out.status.success(), "the client cannot reach {FLOAT}");
        let a_mac = self.ns.nodes[0].mac(SVC_IF);
        assert_eq!(self.client_sees(), Some(a_mac.clone()));
        self.deafen(true);
        self.ns.crash(0);
        self.ns
            .wait_status(1, Duration::from_secs(10), "the group taken over", |r| {
                Self::runs_here(r, 1)
            });
        let took = Instant::now();
        assert!(self.ns.has_svc_addr(1, FLOAT));
        took
    }

    /// Waits until `DEAF` after `took`, checks the client missed the burst,
    /// and opens its ARP input.
    fn open_after_the_burst(&self, took: Instant) {
        sleep(DEAF.saturating_sub(took.elapsed()));
        assert_eq!(
            self.client_sees(),
            Some(self.ns.nodes[0].mac(SVC_IF)),
            "the client was not deaf to the burst: the test proves nothing"
        );
        self.deafen(false);
    }

    fn convergence(&self, i: usize) -> Option<ConvergenceReport> {
        self.ns
            .status(i)?
            .convergence
            .into_iter()
            .find(|c| c.address == FLOAT)
    }
}

#[test]
fn a_client_that_missed_the_burst_follows_within_the_refresh_interval() {
    if !needs("a_client_that_missed_the_burst_follows_within_the_refresh_interval").met() {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("refresh = \"2s\"");
    let took = c.crash_nodea_while_the_client_is_deaf();
    c.open_after_the_burst(took);
    let opened = Instant::now();
    let b_mac = c.ns.nodes[1].mac(SVC_IF);
    // The next refresh is at most 2 s after the last announcement; 1 s of slack.
    let followed = wait_for(Duration::from_secs(3), || {
        (c.client_sees().as_deref() == Some(b_mac.as_str())).then(|| opened.elapsed())
    });
    let followed = followed.unwrap_or_else(|| {
        panic!(
            "the client still sends {FLOAT} to {:?}, 3 s after its ARP opened (refresh 2 s)",
            c.client_sees()
        )
    });
    eprintln!("client followed {followed:?} after its ARP input opened (refresh 2s)");
}

#[test]
fn without_refresh_a_client_that_missed_the_burst_keeps_the_dead_nodes_mac() {
    if !needs("without_refresh_a_client_that_missed_the_burst_keeps_the_dead_nodes_mac").met() {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("refresh = \"off\"");
    let took = c.crash_nodea_while_the_client_is_deaf();
    c.open_after_the_burst(took);
    // Twice the refresh interval the other test allows: nothing comes.
    sleep(Duration::from_secs(4));
    assert_eq!(c.client_sees(), Some(c.ns.nodes[0].mac(SVC_IF)));
}

#[test]
fn convergence_is_reported_with_its_time_after_the_gateway_answers() {
    if !needs("convergence_is_reported_with_its_time_after_the_gateway_answers").met() {
        return;
    }
    let _one = one_at_a_time();
    let mut c = Cluster::build("verify = [\"gateway\"]\nverify_limit = \"20s\"");
    let took = c.crash_nodea_while_the_client_is_deaf();
    // The keeper says so right after the start (a netlink look-up away).
    let verifying = wait_for(Duration::from_secs(1), || {
        c.convergence(1)
            .filter(|r| r.state == ConvergenceState::Verifying)
    });
    c.open_after_the_burst(took);
    let report = wait_for(Duration::from_secs(10), || {
        c.convergence(1)
            .filter(|r| r.state == ConvergenceState::Converged)
    })
    .unwrap_or_else(|| panic!("no convergence reported: {:?}", c.convergence(1)));
    let deaf_ms = DEAF.as_millis() as u64 - 300;
    let after = report.after_ms.expect("a time");
    assert!(
        after >= deaf_ms && after < 20_000,
        "converged after {after} ms; the client was deaf for at least {deaf_ms} ms"
    );
    assert_eq!(report.targets, [CLIENT_ADDR]);
    assert_eq!(report.answered.len(), 1);
    assert!(report.announcements > 3, "re-announced: {report:?}");
    assert_eq!(
        verifying.map(|v| v.state),
        Some(ConvergenceState::Verifying),
        "while the client was deaf"
    );
    assert_eq!(c.client_sees(), Some(c.ns.nodes[1].mac(SVC_IF)));
    let log = c.ns.log(1);
    let line = format!("{FLOAT} on {SVC_IF} (group {KEY}): clients converged after {after} ms");
    assert!(log.contains(&line), "no {line:?} in the log");
    // What an operator sees.
    let json = c.ns.status_json(1).expect("hbd status --json");
    let conv = &json["convergence"];
    assert!(
        conv.as_array().is_some_and(|a| a
            .iter()
            .any(|c| c["state"] == "converged" && c["after_ms"] == after)),
        "{conv}"
    );
    eprintln!("clients converged after {after} ms ({report:?})");
}

#[test]
fn a_target_that_never_answers_gives_the_warning() {
    if !needs("a_target_that_never_answers_gives_the_warning").met() {
        return;
    }
    let _one = one_at_a_time();
    // 192.0.2.99 is nobody on the LAN; the client (the gateway) answers.
    let mut c = Cluster::build("verify = [\"gateway\", \"192.0.2.99\"]\nverify_limit = \"3s\"");
    c.start(0);
    let report = wait_for(Duration::from_secs(20), || {
        c.convergence(0)
            .filter(|r| r.state == ConvergenceState::NotConverged)
    })
    .unwrap_or_else(|| panic!("no verdict: {:?}", c.convergence(0)));
    assert_eq!(report.missing, ["192.0.2.99"]);
    assert_eq!(report.limit_ms, Some(3000));
    assert_eq!(
        report
            .answered
            .iter()
            .map(|a| a.target.as_str())
            .collect::<Vec<_>>(),
        [CLIENT_ADDR]
    );
    let log = c.ns.log(0);
    let line = format!(
        "{FLOAT} on {SVC_IF} (group {KEY}): clients did not converge within 3s: 192.0.2.99 never answered an ARP request from {FLOAT}"
    );
    assert!(log.contains(&line), "no {line:?} in the log:\n{log}");
    assert!(log.contains("WARN"), "the verdict is a warning");
    let human = c.ns.run(
        0,
        &[
            testkit::hbd_exe!().display().to_string(),
            "status".into(),
            "--run-dir".into(),
            c.ns.hbd_run_dir().display().to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("warning: clients did not converge within 3.00s: 192.0.2.99 never answered"),
        "{text}"
    );
}
