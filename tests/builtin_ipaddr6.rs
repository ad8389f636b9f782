//! IPv6 floating addresses (`src/shell/ipaddr6.rs`) against the real kernel:
//! two lab namespaces joined by a veth cable, the built-in code in one (a
//! thread moved there with setns). The other node's neighbour table is the
//! witness: an entry planted there with a stranger's MAC follows to ours only
//! if our unsolicited neighbour advertisement arrived and its kernel accepted
//! it (hop limit, checksum, override flag, option). Root only; skips with the
//! reason otherwise.

use hbd::config::{Announce, Resource};
use hbd::core::{Action, StepOutcome};
use hbd::shell::ipaddr6::{self, Dad, Ip6Error, Opts};
use nix::sched::{setns, CloneFlags};
use std::time::Duration;
use testkit::lab::{Lab, Node};
use testkit::skip::Needs;
use testkit::wait_for;

const VIP: &str = "2001:db8:5::100";
const STRANGER: &str = "02:00:00:00:00:99";

/// Runs `f` on a thread that has entered `netns` (the test thread stays put).
fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(format!("/run/netns/{netns}")).expect("netns file");
            setns(ns, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// `a` (2001:db8:5::1/64 on v0) and `b` (2001:db8:5::2/64 on v1).
fn pair(lab: &Lab) -> (Node, Node) {
    let a = lab.node("a");
    let b = lab.node("b");
    lab.link(&a, "v0", &b, "v1");
    a.must(&[
        "ip",
        "addr",
        "add",
        "2001:db8:5::1/64",
        "dev",
        "v0",
        "nodad",
    ]);
    b.must(&[
        "ip",
        "addr",
        "add",
        "2001:db8:5::2/64",
        "dev",
        "v1",
        "nodad",
    ]);
    (a, b)
}

fn opts(count: u32, router: bool, dad: Option<Duration>) -> Opts {
    Opts {
        count,
        interval: Duration::from_millis(100),
        router,
        dad,
    }
}

fn addrs(n: &Node) -> String {
    String::from_utf8_lossy(&n.must(&["ip", "-o", "-6", "addr", "show"]).stdout).into_owned()
}

/// b's entry for the address: a stranger's MAC, STALE (not permanent: an
/// advertisement with the override flag may replace it).
fn plant(b: &Node) {
    b.must(&[
        "ip", "-6", "neigh", "replace", VIP, "lladdr", STRANGER, "dev", "v1", "nud", "stale",
    ]);
}

fn entry(b: &Node) -> String {
    String::from_utf8_lossy(&b.must(&["ip", "-6", "neigh", "show", "to", VIP]).stdout).into_owned()
}

fn needs(test: &str) -> bool {
    Needs::new(test).lab().met()
}

#[test]
fn an_ipv6_address_is_added_nodad_announced_reported_and_removed() {
    if !needs("an_ipv6_address_is_added_nodad_announced_reported_and_removed") {
        return;
    }
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    let ns = a.netns.clone();
    let a_mac = a.mac("v0");
    plant(&b);

    assert_eq!(in_netns(&ns, || ipaddr6::status(VIP).unwrap()), None);
    // No interface and no prefix: both from 2001:db8:5::/64 on v0.
    let s = in_netns(&ns, || ipaddr6::start(VIP, &opts(3, false, None)).unwrap());
    assert_eq!((s.iface.as_str(), s.prefix, s.already), ("v0", 64, false));
    assert_eq!(s.dad, None, "nodad: nothing waited for");
    let text = addrs(&a);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("{VIP}/64")))
        .unwrap_or_else(|| panic!("{VIP} not on a: {text}"));
    assert!(line.contains("nodad"), "{line}");
    assert!(!line.contains("tentative"), "{line}");
    assert_eq!(
        in_netns(&ns, || ipaddr6::status(&format!("{VIP}/64/v0")).unwrap()),
        Some(Dad::Done)
    );
    assert_eq!(
        in_netns(&ns, || ipaddr6::status(&format!("{VIP}/64/lo")).unwrap()),
        None
    );
    // b's planted entry follows to a's MAC: the advertisement was accepted.
    let followed = wait_for(Duration::from_secs(2), || {
        b.neigh(VIP).filter(|(mac, _)| *mac == a_mac)
    });
    assert!(followed.is_some(), "b still has {}", entry(&b));
    assert!(!entry(&b).contains("router"), "{}", entry(&b));
    // And it works: b reaches the address.
    let out = b.run(&["ping", "-6", "-c", "1", "-W", "2", VIP]);
    assert!(out.status.success(), "ping: {out:?}");

    // Again: already there, announced again (the router flag this time).
    plant(&b);
    let again = in_netns(&ns, || {
        ipaddr6::start(&format!("{VIP}/64/v0"), &opts(1, true, None)).unwrap()
    });
    assert!(again.already);
    let followed = wait_for(Duration::from_secs(2), || {
        let e = entry(&b);
        (e.contains(&a_mac) && e.contains("router")).then_some(e)
    });
    assert!(followed.is_some(), "b has {}", entry(&b));
    // On another interface it is refused rather than moved.
    let e = in_netns(&ns, || {
        ipaddr6::start(&format!("{VIP}/64/lo"), &opts(1, false, None))
    })
    .unwrap_err();
    assert!(matches!(e, Ip6Error::Elsewhere { .. }), "{e}");

    let done = in_netns(&ns, || ipaddr6::stop(&format!("{VIP}/64")).unwrap());
    assert_eq!(done, vec![format!("{VIP}/64 from v0")]);
    assert!(!addrs(&a).contains(VIP));
    assert_eq!(in_netns(&ns, || ipaddr6::status(VIP).unwrap()), None);
    assert!(in_netns(&ns, || ipaddr6::stop(VIP).unwrap()).is_empty());
    assert!(
        addrs(&a).contains("2001:db8:5::1/64"),
        "the host address stays"
    );
}

#[test]
fn without_advertisements_the_neighbours_entry_stays() {
    if !needs("without_advertisements_the_neighbours_entry_stays") {
        return;
    }
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    plant(&b);
    in_netns(&a.netns, || {
        ipaddr6::start(VIP, &opts(0, false, None)).unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(entry(&b).contains(STRANGER), "{}", entry(&b));
}

#[test]
fn dad_is_waited_for_and_a_duplicate_or_a_slow_dad_fails_loudly() {
    if !needs("dad_is_waited_for_and_a_duplicate_or_a_slow_dad_fails_loudly") {
        return;
    }
    let lab = Lab::new();
    let (a, b) = pair(&lab);
    let ns = a.netns.clone();
    // No one else has it: DAD passes within the bound, and says how long.
    let s = in_netns(&ns, || {
        ipaddr6::start(VIP, &opts(1, false, Some(Duration::from_secs(4)))).unwrap()
    });
    let took = s.dad.expect("waited for DAD");
    assert!(took > Duration::from_millis(50), "{took:?}");
    // (The link-local address may still be in its own DAD: only ours counts.)
    let text = addrs(&a);
    let ours = text.lines().find(|l| l.contains(&format!("{VIP}/64")));
    assert!(ours.is_some_and(|l| !l.contains("tentative")), "{text}");
    in_netns(&ns, || ipaddr6::stop(VIP).unwrap());

    // b holds it: DAD fails, the start fails and leaves nothing behind.
    b.must(&[
        "ip",
        "addr",
        "add",
        &format!("{VIP}/64"),
        "dev",
        "v1",
        "nodad",
    ]);
    let e = in_netns(&ns, || {
        ipaddr6::start(VIP, &opts(1, false, Some(Duration::from_secs(4))))
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("duplicate address detection failed"),
        "{e}"
    );
    assert!(!addrs(&a).contains(VIP), "{}", addrs(&a));
    b.must(&["ip", "addr", "del", &format!("{VIP}/64"), "dev", "v1"]);

    // DAD slower than the bound (one probe every 10 s): still tentative at
    // the deadline, so refused and removed.
    a.must(&["sysctl", "-qw", "net.ipv6.neigh.v0.retrans_time_ms=10000"]);
    let e = in_netns(&ns, || {
        ipaddr6::start(VIP, &opts(1, false, Some(Duration::from_millis(300))))
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("still tentative after 300 ms"),
        "{e}"
    );
    assert!(!addrs(&a).contains(VIP), "{}", addrs(&a));

    // A tentative address someone else added is not reported running.
    a.must(&["ip", "addr", "add", &format!("{VIP}/64"), "dev", "v0"]);
    assert_eq!(
        in_netns(&ns, || ipaddr6::status(VIP).unwrap()),
        Some(Dad::Tentative)
    );
    let r = Resource {
        name: "IPv6addr".into(),
        args: vec![format!("{}/64/v0", "2001:db8:5:0:0:0:0:100")],
    };
    assert_eq!(
        in_netns(&ns, || ipaddr6::run(
            &r,
            Action::Status,
            &Opts::from(&Announce::default())
        )),
        StepOutcome::Running(false)
    );
    assert_eq!(
        in_netns(&ns, || ipaddr6::run(
            &r,
            Action::Stop,
            &Opts::from(&Announce::default())
        )),
        StepOutcome::Ok
    );
    assert!(!addrs(&a).contains(VIP));
}
