//! The core harness: what the timeline tests, the simulation and the core
//! fuzz test share. One two-node cluster, the node parameters, the core's own
//! generator ([`Rng`]), a scripted peer, and [`Single`]: one core driven by
//! hand in which every step must state the next deadline (as smoltcp's TCP
//! tests check the socket's timer) before the next step may run.

use hbd::config::{AutoFailback, Config, Medium, Resource, ResourceGroup};
pub use hbd::core::Rng;
use hbd::core::{Action, Event, Input, LinkId, Node, NodeParams, Output, StepOutcome};
use hbd::time::{t, Duration, Instant};
use hbd::wire::Message;
use std::panic::Location;
use std::path::PathBuf;

/// The core under test and its peer.
pub const LOCAL: &str = "nodea";
pub const PEER: &str = "nodeb";
/// Their generations (`hg`) as `Single` starts them.
pub const GEN: u64 = 0x10;
pub const PEER_GEN: u64 = 0x20;
/// Unix seconds at `Instant::ZERO`, for every node.
pub const WALL0: u64 = 1_700_000_000;

/// `IPaddr::192.0.2.10` as `haresources` writes it.
pub fn res(s: &str) -> Resource {
    let mut p = s.split("::");
    Resource {
        name: p.next().unwrap().into(),
        args: p.map(String::from).collect(),
    }
}

/// The cluster every core test runs: nodea and nodeb, a UDP and a serial
/// link, keepalive 1 s, deadtime 10 s, warntime 5 s, initdead 20 s; group 0
/// (`IPaddr::192.0.2.10 Filesystem::/dev/sdb1::/srv`) at home on nodea,
/// group 1 (`IPaddr::192.0.2.11`) on nodeb.
pub fn config(af: AutoFailback) -> Config {
    Config {
        nodes: vec![LOCAL.into(), PEER.into()],
        keepalive: Duration::from_millis(1000),
        deadtime: Duration::from_millis(10_000),
        warntime: Duration::from_millis(5000),
        initdead: Duration::from_millis(20_000),
        media: vec![
            Medium::Ucast {
                dev: "eth0".into(),
                peer: "192.0.2.2".into(),
            },
            Medium::Serial {
                path: PathBuf::from("/dev/ttyS0"),
            },
        ],
        auto_failback: af,
        groups: vec![
            ResourceGroup {
                home: LOCAL.into(),
                resources: vec![
                    res("IPaddr::192.0.2.10"),
                    res("Filesystem::/dev/sdb1::/srv"),
                ],
                location: Default::default(),
            },
            ResourceGroup {
                home: PEER.into(),
                resources: vec![res("IPaddr::192.0.2.11")],
                location: Default::default(),
            },
        ],
        ..Config::default()
    }
}

/// [`quick_config`]'s timing, in milliseconds.
pub mod quick {
    pub const KEEPALIVE: u64 = 1000;
    pub const DEADTIME: u64 = 5000;
    pub const WARNTIME: u64 = 3000;
    pub const INITDEAD: u64 = 10_000;
}

/// The same cluster with the dead times halved ([`quick`]) and `apache` after
/// nodeb's address, for the simulation and the fuzz test: more failovers per
/// simulated minute, and two resources in each group.
pub fn quick_config(af: AutoFailback) -> Config {
    let mut c = config(af);
    c.keepalive = Duration::from_millis(quick::KEEPALIVE);
    c.deadtime = Duration::from_millis(quick::DEADTIME);
    c.warntime = Duration::from_millis(quick::WARNTIME);
    c.initdead = Duration::from_millis(quick::INITDEAD);
    c.groups[1].resources.push(res("apache"));
    c
}

pub fn params(
    config: Config,
    local: &str,
    generation: u64,
    uuid: [u8; 16],
    seed: u64,
) -> NodeParams {
    NodeParams {
        config,
        local: local.into(),
        generation,
        uuid,
        wall_clock_at_zero: WALL0,
        seed,
        maintenance: false,
        probe_at_start: false,
    }
}

/// The scripted peer: builds nodeb's messages with a proper envelope. It
/// plays heartbeat 3.0.6 (every sequenced message carries `ld`, its load
/// average) unless built with [`Peer::hbd`].
pub struct Peer {
    pub seq: u64,
    pub gen: u64,
    /// Writes heartbeat's `ld` field.
    pub heartbeat: bool,
}

/// heartbeat's `ld` as the capture shows it.
pub const LOAD: &str = "0.11 0.18 0.09 3/118 14279";

impl Peer {
    pub fn new() -> Peer {
        Peer {
            seq: 0,
            gen: PEER_GEN,
            heartbeat: true,
        }
    }

    /// A peer that is hbd: no `ld`, so it is sent our `hbd-config`.
    pub fn hbd() -> Peer {
        Peer {
            heartbeat: false,
            ..Peer::new()
        }
    }

    /// The next message of type `ty` with `fields`, numbered in sequence.
    pub fn msg(&mut self, ty: &str, fields: &[(&str, &str)]) -> Message {
        self.seq += 1;
        let seq = self.seq;
        self.with_seq(ty, fields, seq)
    }

    pub fn with_seq(&self, ty: &str, fields: &[(&str, &str)], seq: u64) -> Message {
        let mut m = Message::with_type(ty);
        for (k, v) in fields {
            m.add(k, v);
        }
        m.add("src", PEER);
        if !ty.starts_with("NS_") {
            m.add("seq", &format!("{seq:x}"));
        }
        m.add("hg", &format!("{:x}", self.gen));
        m.add("ts", &format!("{:x}", WALL0 + 5));
        if self.heartbeat && !ty.starts_with("NS_") {
            m.add("ld", LOAD);
        }
        m.add("ttl", "3");
        m
    }

    pub fn status(&mut self, st: &str) -> Message {
        self.msg("status", &[("st", st), ("dt", "2710"), ("protocol", "1")])
    }
}

impl Default for Peer {
    fn default() -> Self {
        Peer::new()
    }
}

/// One core (`nodea`) driven by hand. Each step (an input, or a helper that
/// runs several) leaves the next deadline to be stated with [`Single::due`]
/// before the next step; a forgotten one fails the test and names the value.
pub struct Single {
    pub node: Node,
    pub now: Instant,
    pub peer: Peer,
    /// Where the last step whose deadline was not stated yet was taken.
    unstated: Option<&'static Location<'static>>,
}

impl Single {
    /// A core of `nodea` started at 0 with `cfg`; its first `status` goes out
    /// at once, the next one keepalive later.
    pub fn new(cfg: Config) -> Single {
        Single::with_params(params(cfg, LOCAL, GEN, [0xaa; 16], 7))
    }

    /// [`Single::new`] with parameters of its own (`nodea`'s, as
    /// [`params`] makes them, then changed).
    pub fn with_params(p: NodeParams) -> Single {
        let keepalive = p.config.keepalive;
        let node = Node::new(p, t(0));
        assert_eq!(node.next_deadline(), Some(t(0) + keepalive));
        Single {
            node,
            now: t(0),
            peer: Peer::new(),
            unstated: None,
        }
    }

    #[track_caller]
    fn step_taken(&mut self) {
        if let Some(at) = self.unstated {
            panic!(
                "the step at {at} left the next deadline unstated: add `.due({})` after it",
                self.deadline_ms()
            );
        }
        self.unstated = Some(Location::caller());
    }

    fn deadline_ms(&self) -> u64 {
        self.node.next_deadline().map_or(0, |d| d.millis())
    }

    /// Asserts the next deadline (ms) after the last step.
    #[track_caller]
    pub fn due(&mut self, ms: u64) -> &mut Self {
        assert_eq!(
            self.node.next_deadline(),
            Some(t(ms)),
            "next deadline at {}",
            self.now
        );
        self.unstated = None;
        self
    }

    /// Everything the core emitted since the last call.
    pub fn drain(&mut self) -> Vec<Output> {
        let mut v = Vec::new();
        while let Some(o) = self.node.poll_output() {
            v.push(o);
        }
        v
    }

    fn input(&mut self, ms: u64, input: Input) -> Vec<Output> {
        self.now = t(ms);
        self.node.handle(self.now, input);
        self.drain()
    }

    /// One input at `ms`.
    #[track_caller]
    pub fn at(&mut self, ms: u64, input: Input) -> Vec<Output> {
        self.step_taken();
        self.input(ms, input)
    }

    /// A verified message arriving on link 0.
    #[track_caller]
    pub fn recv(&mut self, ms: u64, msg: Message) -> Vec<Output> {
        self.recv_on(ms, 0, msg)
    }

    /// A verified message arriving on `link`, through the edge the shell uses.
    #[track_caller]
    pub fn recv_on(&mut self, ms: u64, link: usize, msg: Message) -> Vec<Output> {
        self.step_taken();
        match Input::received(LinkId(link), msg, LOCAL) {
            Some(input) => self.input(ms, input),
            None => {
                self.now = t(ms);
                Vec::new()
            }
        }
    }

    #[track_caller]
    pub fn peer_says(&mut self, ms: u64, ty: &str, fields: &[(&str, &str)]) -> Vec<Output> {
        let m = self.peer.msg(ty, fields);
        self.recv(ms, m)
    }

    #[track_caller]
    pub fn peer_status(&mut self, ms: u64) -> Vec<Output> {
        let m = self.peer.status("active");
        self.recv(ms, m)
    }

    /// Completes every resource step, 10 ms apart (status: not running;
    /// start/stop: ok), until none is outstanding; returns everything
    /// emitted meanwhile, `first` included. One step as far as `due` goes.
    #[track_caller]
    pub fn finish_steps(&mut self, first: Vec<Output>) -> Vec<Output> {
        self.step_taken();
        let mut all = first;
        let mut i = 0;
        loop {
            let step = all[i..].iter().find_map(|o| match o {
                Output::Run(s) => Some(s.clone()),
                _ => None,
            });
            let Some(step) = step else { return all };
            i = all
                .iter()
                .position(|o| *o == Output::Run(step.clone()))
                .unwrap()
                + 1;
            let outcome = match step.action {
                Action::Status => StepOutcome::Running(false),
                _ => StepOutcome::Ok,
            };
            let ms = self.now.millis() + 10;
            let more = self.input(
                ms,
                Input::StepDone {
                    id: step.id,
                    outcome,
                },
            );
            all.extend(more);
        }
    }

    /// Every second until `until`: a status from the live peer, then the
    /// timer. One step as far as `due` goes.
    #[track_caller]
    pub fn live_until(&mut self, until: u64) -> Vec<Output> {
        self.step_taken();
        let mut all = Vec::new();
        let mut now = self.now.millis();
        while now + 1000 <= until {
            now += 1000;
            let m = self.peer.status("active");
            if let Some(input) = Input::received(LinkId(0), m, LOCAL) {
                all.extend(self.input(now, input));
            }
            all.extend(self.input(now, Input::Timer));
        }
        all
    }

    /// The timer every `step` ms until `until`. One step as far as `due` goes.
    #[track_caller]
    pub fn tick_until(&mut self, until: u64, step: u64) -> Vec<Output> {
        self.step_taken();
        let mut all = Vec::new();
        let mut now = self.now.millis();
        while now + step <= until {
            now += step;
            all.extend(self.input(now, Input::Timer));
        }
        all
    }
}

impl Drop for Single {
    fn drop(&mut self) {
        if let (Some(at), false) = (self.unstated, std::thread::panicking()) {
            panic!(
                "the step at {at} left the next deadline unstated: add `.due({})` after it",
                self.deadline_ms()
            );
        }
    }
}

/// The messages sent, as field lists.
pub fn sends(outs: &[Output]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(msg.clone().into_message()),
            _ => None,
        })
        .collect()
}

/// Non-status, non-ACK messages as `t k=v …` lines (the fields before the envelope).
pub fn protocol(outs: &[Output]) -> Vec<String> {
    sends(outs)
        .iter()
        .filter(|m| {
            let ty = m.msg_type().unwrap_or("");
            ty != "status" && ty != "NS_ackmsg"
        })
        .map(|m| {
            m.fields()
                .iter()
                .take_while(|f| f.name != "src" && f.name != "destuuid")
                .map(|f| format!("{}={}", f.name, String::from_utf8_lossy(&f.value)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Resource steps as `(group, resource, action)`.
pub fn steps(outs: &[Output]) -> Vec<(usize, usize, Action)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Run(s) => Some((s.group.0, s.resource, s.action)),
            _ => None,
        })
        .collect()
}

pub fn events(outs: &[Output]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The groups re-announced after a healed partition.
pub fn reannounced(outs: &[Output]) -> Vec<usize> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Reannounce { group } => Some(group.0),
            _ => None,
        })
        .collect()
}

/// Refusals as the shell logs them.
pub fn refusals(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Refused(r) => Some(r.to_string()),
            _ => None,
        })
        .collect()
}

/// Monitor checks asked for, as `(group, resource, action)`.
pub fn checks(outs: &[Output]) -> Vec<(usize, usize, Action)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Check(c) => Some((c.group.0, c.resource, c.action)),
            _ => None,
        })
        .collect()
}

/// The id of the one monitor check among `outs`.
#[track_caller]
pub fn check_id(outs: &[Output]) -> hbd::core::CheckId {
    let ids: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Check(c) => Some(c.id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "expected one check in {outs:?}");
    ids[0]
}

/// Fences asked for, as `(node, reason)`.
pub fn fences(outs: &[Output]) -> Vec<(String, String)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Fence { node, reason } => Some((node.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}
