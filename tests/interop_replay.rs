//! Interop sanity: nodeb's real messages from the heartbeat 3.0.6 capture
//! (`../shared/vectors/heartbeat-3.0.6/sha1/serial/BtoA_*.bin`, classic text,
//! already authenticated by the capture) are fed into a core configured as
//! nodea, at the times the same messages crossed the UDP link. The core must
//! accept them, reach comm-up, answer `reqnodes` and `starting`, see the peer's
//! graceful stop and its restart with a new generation.

use base64::Engine;
use hbd::config::{AutoFailback, Config, Medium, Resource, ResourceGroup};
use hbd::core::{DropReason, Event, Input, LinkId, Node, NodeParams, Output, PeerConfigState};
use hbd::time::{Duration, Instant};
use hbd::wire::Message;
use std::collections::HashMap;
use std::path::PathBuf;

fn vectors() -> Option<PathBuf> {
    testkit::vectors().map(|v| v.join("sha1"))
}

/// The classic `>>>` … `<<<` form, parsed as simply as heartbeat's reader does.
fn parse_classic(bytes: &[u8]) -> Message {
    let text = std::str::from_utf8(bytes).expect("classic frames are ASCII");
    let mut m = Message::new();
    for line in text.lines() {
        if line == ">>>" || line == "<<<" || line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once('=').expect("name=value");
        if let Some(name) = name.strip_prefix("(1)") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(value)
                .expect("base64");
            m.add_binary(name, &raw);
        } else {
            m.add(name, value);
        }
    }
    m
}

fn config() -> Config {
    let res = |n: &str, a: &[&str]| Resource {
        name: n.into(),
        args: a.iter().map(|s| s.to_string()).collect(),
    };
    Config {
        nodes: vec!["nodea".into(), "nodeb".into()],
        keepalive: Duration::from_millis(1000),
        deadtime: Duration::from_millis(5000),
        warntime: Duration::from_millis(2500),
        initdead: Duration::from_millis(10_000),
        media: vec![
            Medium::Ucast {
                dev: "hb0".into(),
                peer: "10.250.0.2".into(),
            },
            Medium::Serial {
                path: PathBuf::from("/run/ttyHB0"),
            },
        ],
        auto_failback: AutoFailback::On,
        groups: vec![ResourceGroup {
            home: "nodea".into(),
            resources: vec![
                res("IPaddr", &["192.0.2.50/24/svc0"]),
                res("hbweb", &["192.0.2.50", "8080"]),
            ],
            location: Default::default(),
        }],
        ..Config::default()
    }
}

#[test]
fn real_heartbeat_peer_messages_reach_comm_up_and_negotiate() {
    let found = vectors();
    if !testkit::skip::Needs::new("interop_replay")
        .that(found.is_some(), "the heartbeat 3.0.6 vectors are not found")
        .met()
    {
        return;
    }
    let dir = found.unwrap();
    // When nodeb's messages crossed the UDP link, by (t, seq).
    let index = std::fs::read_to_string(dir.join("index.tsv")).unwrap();
    let mut when: HashMap<(String, String), f64> = HashMap::new();
    let mut zero = None;
    for row in index.lines().skip(1) {
        let c: Vec<&str> = row.split('\t').collect();
        if c.len() < 8 || c[1] != "udp" {
            continue;
        }
        let epoch: f64 = c[2].parse().unwrap();
        if c[5] == "nodea" && zero.is_none() {
            zero = Some(epoch);
        }
        if c[5] == "nodeb" {
            when.entry((c[6].to_string(), c[7].to_string()))
                .or_insert(epoch);
        }
    }
    let zero = zero.unwrap();
    let mut frames: Vec<PathBuf> = std::fs::read_dir(dir.join("serial"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("BtoA_")
        })
        .collect();
    frames.sort();
    assert!(frames.len() > 50);

    // nodea's own uuid as the peer addresses it (`destuuid`).
    let a1 = parse_classic(&std::fs::read(dir.join("serial/AtoB_0001_nodea_status.bin")).unwrap());
    let uuid: [u8; 16] = a1.get_binary("srcuuid").unwrap().try_into().unwrap();
    let mut node = Node::new(
        NodeParams {
            config: config(),
            local: "nodea".into(),
            generation: 0x6b02_43a3,
            uuid,
            wall_clock_at_zero: zero as u64,
            seed: 1,
            maintenance: false,
            probe_at_start: false,
        },
        Instant::ZERO,
    );
    let mut out = Vec::new();
    let mut now = Instant::ZERO;
    let mut fed = 0;
    // Stop before nodea's kill -9 in the capture: after it nodeb talks to a dead node.
    let kill = 1_795_311_964.100_f64;
    for f in &frames {
        let msg = parse_classic(&std::fs::read(f).unwrap());
        let key = (
            msg.get("t").unwrap_or("").to_string(),
            msg.get("seq").unwrap_or("").to_string(),
        );
        if let Some(e) = when.get(&key) {
            if *e >= kill {
                break;
            }
            let at = Instant::from_millis(((e - zero) * 1000.0).max(0.0) as u64);
            // Wake for every deadline in between, as the shell would.
            while let Some(d) = node.next_deadline() {
                if d >= at {
                    break;
                }
                now = d.max(now);
                node.handle(now, Input::Timer);
                while let Some(o) = node.poll_output() {
                    out.push((now, o));
                }
            }
            now = at.max(now);
        }
        let input = Input::received(LinkId(1), msg, "nodea").expect("nodeb's messages");
        node.handle(now, input);
        fed += 1;
        while let Some(o) = node.poll_output() {
            out.push((now, o));
        }
    }
    assert!(fed > 40);
    let events: Vec<&Event> = out
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    let sent: Vec<Message> = out
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Send { msg, .. } => Some(msg.clone().into_message()),
            _ => None,
        })
        .collect();
    // Every message was accepted, except NS_ackmsg sent before nodeb's first
    // status told us its generation (§9.2 check; normal, hence debug), and
    // copies of nodeb's own retransmissions.
    for e in &events {
        if let Event::PacketDropped { reason, .. } = e {
            assert!(
                matches!(
                    reason,
                    DropReason::ControlBeforeStatus | DropReason::OldSequence
                ),
                "unexpected drop: {e}"
            );
            assert_eq!(e.level(), log::Level::Debug, "{e}");
        }
    }
    // heartbeat writes `ld` in every sequenced message: it is told from hbd
    // and is never sent hbd's `hbd-config` (not one byte heartbeat would not
    // send), nor is its configuration compared.
    assert!(
        sent.iter().all(|m| m.msg_type() != Some("hbd-config")),
        "hbd-config sent to heartbeat"
    );
    assert_eq!(node.status().peer_config.state, PeerConfigState::Heartbeat);
    assert!(events.contains(&&Event::CommUp), "comm-up reached");
    let repnodes = sent
        .iter()
        .find(|m| m.get("t") == Some("repnodes"))
        .expect("reqnodes answered");
    assert_eq!(repnodes.get("dest"), Some("nodeb"));
    assert_eq!(repnodes.get("nodelist"), Some("nodea nodeb "));
    assert!(
        sent.iter()
            .any(|m| m.msg_type() == Some("resource") && m.get("rtype") == Some("full")),
        "starting answered with holdings"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PeerShutdown { .. })),
        "graceful stop seen"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PeerRestarted { .. })),
        "restart with new generation recognised"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::PeerDead { .. })),
        "a live real peer is never declared dead"
    );
    for e in &events {
        println!("{e}");
    }
}
