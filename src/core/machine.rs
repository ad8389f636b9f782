//! The state machine behind [`crate::core::Node`]: membership and liveness
//! (spec §3.2, §5.3), reliable delivery (§3.5), and v1 resource ownership
//! (§6.4–§6.10), with the fixes spec §9 recommends. Pure: time comes in as a
//! parameter, decisions go out through a queue of [`Output`]s.

#![forbid(unsafe_code)]

use crate::config::{AutoFailback, Config, StopFailurePolicy};
use crate::core::events::{DropReason, Event};
use crate::core::rng::Rng;
use crate::core::{
    Action, Command, GapHistogram, GroupId, GroupState, GroupStatus, HoldSet, Input, LinkId,
    LinkStatus, NodeParams, NodeState, NodeStatus, Output, RscHold, Status, Step, StepId,
    StepOutcome,
};
use crate::time::{Duration, Instant};
use crate::wire::Message;
use std::collections::{BTreeMap, VecDeque};

/// Sent messages kept for retransmission (heartbeat's MAXMSGHIST).
const HISTORY: usize = 500;
/// A gap larger than this resets the missing list instead of requesting it (§3.2).
const MAX_GAP: u64 = 250;
/// Packets answered per `NS_rexmit` request (§3.5).
const MAX_REXMIT_BATCH: u64 = 50;
/// heartbeat's RQSTDELAY: the startup deadlock breaker (§6.5).
const RQSTDELAY: Duration = Duration::from_secs(10);
/// How long a standby requester waits for the peer's `info=other` (§6.8).
const STANDBY_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Overall limit for the resource phase of a standby (§6.8).
const STANDBY_RESOURCE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Own `dt` is raised by this much for the first 5 s (§3.3).
const DT_BOOST: Duration = Duration::from_millis(2000);
const DT_BOOST_FOR: Duration = Duration::from_secs(5);
/// Stop retries, 1 s apart, as ResourceManager's HA_STOPRETRYMAX (§6.2).
const STOP_RETRIES: u32 = 10;
const STOP_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Drop reports per reason are at most this frequent.
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);
const RECENT_MAX: usize = 32;
const HANDOVER: &str = "start failure";
/// A failed fence is retried this often, as heartbeat retries STONITH (§6.7).
const FENCE_RETRY: Duration = Duration::from_secs(5);

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LocalState {
    Init,
    Up,
    Active,
}

impl LocalState {
    fn name(self) -> &'static str {
        match self {
            LocalState::Init => "init",
            LocalState::Up => "up",
            LocalState::Active => "active",
        }
    }

    fn node_state(self) -> NodeState {
        match self {
            LocalState::Init => NodeState::Init,
            LocalState::Up => NodeState::Up,
            LocalState::Active => NodeState::Active,
        }
    }
}

/// heartbeat's resourcestate for nice_failback (§6.5).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum RscState {
    /// Before comm-up: resource messages are not processed.
    Idle,
    Starting,
    BothStarting,
    Stable,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum GState {
    Stopped,
    Starting,
    Running,
    Stopping,
    /// A stop failed for good: may still be active here.
    Failed,
}

struct Group {
    state: GState,
    /// Home is the local node.
    local: bool,
    /// A start failed here since the last operator action: do not re-acquire.
    start_failed: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Then {
    /// Startup acquisition finished: tell the peer we are stable.
    Stable(String),
    /// Dead-peer takeover finished (§6.7).
    MachDown(String),
    /// Standby requester released its groups (§6.8 phase 3).
    /// With the groups that were running here when the release began.
    StandbyReleased(HoldSet, Vec<GroupId>),
    /// Standby acquirer took the groups (§6.8 phase 4).
    StandbyAcquired(HoldSet),
    /// Legacy: reply to a peer's `ip-request` after giving the group up.
    IpRequestResp {
        key: String,
        weown: bool,
    },
    /// A start failed and was rolled back: hand the group's set to the peer.
    HandOver(GroupId),
    ShutdownDone,
    /// Send our holdings (`resource … rtype=full isstable=…`).
    Announce(Option<&'static str>),
}

#[derive(Clone, Debug, PartialEq)]
enum Job {
    Acquire(GroupId),
    Release(GroupId),
    Then(Then),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// `status` of resource i before starting it.
    Probe(usize),
    Start(usize),
    /// Stop resource i (right to left); `rollback` when undoing a failed start.
    Stop {
        i: usize,
        tries: u32,
        rollback: bool,
    },
}

struct Op {
    group: GroupId,
    phase: Phase,
    /// The step we wait for; None while waiting for a retry time.
    step: Option<StepId>,
    retry_at: Option<Instant>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum StandbyRole {
    /// We asked (`info=me` sent), waiting for `info=other`.
    AwaitOther,
    /// We are releasing.
    Releasing,
    /// The peer asked; we answered `other` and wait for its `done`.
    AwaitDone,
    /// We are acquiring.
    Acquiring,
}

struct Standby {
    role: StandbyRole,
    /// From the requester's point of view, as on the wire.
    set: HoldSet,
    deadline: Instant,
    /// We asked because a start failed: ask again if the peer did not answer.
    handover: bool,
    /// Sequence of the peer's `info=me` that opened this exchange.
    peer_seq: u64,
}

/// A dead peer being fenced before its groups are taken over.
struct FenceWait {
    node: String,
    attempt: u32,
    /// Set after a failure: when to ask the shell again. None: an
    /// `Output::Fence` is outstanding.
    retry_at: Option<Instant>,
}

struct Link {
    name: String,
    up: bool,
    /// Transport reported down by the shell.
    transport_down: bool,
    last_heard: Option<Instant>,
    late: u64,
}

struct Peer {
    name: String,
    state: String,
    dead: bool,
    ever_heard: bool,
    generation: Option<u64>,
    uuid: Option<Vec<u8>>,
    /// Highest sequence accepted in this generation.
    last_seq: Option<u64>,
    /// seq -> when to (re)request it.
    missing: BTreeMap<u64, Instant>,
    last_status_at: Option<Instant>,
    last_status_seq: u64,
    last_status_ts: u64,
    advertised_dt: Option<u64>,
    dead_timeout: Duration,
    ack_trigger: u64,
    /// What the peer says it holds, from its point of view.
    hold: HoldSet,
    stable: bool,
    /// Sequence of the last `resource` message applied (stale ones are ignored).
    last_resource_seq: u64,
    /// The peer sent `shutdone` in this generation.
    shut_down: bool,
}

pub struct Machine {
    cfg: Config,
    local: String,
    generation: u64,
    uuid: [u8; 16],
    wall0: u64,
    rng: Rng,
    started: Instant,
    out: VecDeque<Output>,
    seq: u64,
    history: VecDeque<(u64, Message, Option<Instant>)>,
    state: LocalState,
    next_status: Instant,
    links_up: bool,
    comm_up: bool,
    peer: Peer,
    links: Vec<Link>,
    groups: Vec<Group>,
    rstate: RscState,
    rqst_deadline: Option<Instant>,
    jobs: VecDeque<Job>,
    op: Option<Op>,
    next_step: u64,
    standby: Option<Standby>,
    failback_at: Option<Instant>,
    /// Groups of a stable overlap with the peer already settled (reported once).
    in_conflict: Vec<GroupId>,
    /// Legacy: when to ask again for local groups nobody answered for.
    ip_request_retry: Option<Instant>,
    /// A set to hand to the peer after a failed start, once both sides are stable.
    handover: Option<HoldSet>,
    shutting_down: bool,
    /// We took the peer's groups because it died or left: auto_failback
    /// gives them back once it returns (heartbeat's rule, §6.5).
    failback_pending: bool,
    /// After a healed partition, compare holdings on the next `resource`.
    healing: bool,
    recent: VecDeque<(Instant, String)>,
    late_heartbeats: u64,
    heartbeat_gaps: GapHistogram,
    dropped: u64,
    drop_reports: BTreeMap<DropReason, (Option<Instant>, u64)>,
    dropped_by_reason: BTreeMap<DropReason, u64>,
    last_handle: Instant,
    /// Dead-time clocks never start before this (set when we stalled).
    grace_from: Instant,
    /// The `isstable` of our last `resource` message.
    announced_stable: bool,
    fence: Option<FenceWait>,
    /// Reachability of each `Config::ping_nodes` entry, as the shell reports it.
    ping_up: Vec<bool>,
    /// The peer's last `num_ping_nodes` (ipfail).
    peer_ping: Option<usize>,
    /// ipfail's delayed giveup: standby all at this time if we still reach fewer.
    giveup_at: Option<Instant>,
}

impl Machine {
    pub fn new(p: NodeParams, now: Instant) -> Machine {
        let cfg = p.config;
        let local = p.local.to_lowercase();
        let peer_name = cfg
            .nodes
            .iter()
            .find(|n| !n.eq_ignore_ascii_case(&local))
            .cloned()
            .unwrap_or_default();
        let groups = cfg
            .groups
            .iter()
            .map(|g| Group {
                state: GState::Stopped,
                local: g.home.eq_ignore_ascii_case(&local),
                start_failed: false,
            })
            .collect();
        let links = cfg
            .media
            .iter()
            .map(|m| Link {
                name: m.link_name(),
                up: false,
                transport_down: false,
                last_heard: None,
                late: 0,
            })
            .collect();
        // Fixed for the process's life (a reload keeps them): Prometheus
        // cannot compare a histogram whose buckets moved.
        let heartbeat_gaps = GapHistogram::for_timing(cfg.keepalive, cfg.warntime, cfg.deadtime);
        let mut rng = Rng::new(p.seed);
        let ack_trigger = rng.range(0, 9);
        let mut m = Machine {
            peer: Peer {
                name: peer_name,
                state: "init".into(),
                dead: false,
                ever_heard: false,
                generation: None,
                uuid: None,
                last_seq: None,
                missing: BTreeMap::new(),
                last_status_at: None,
                last_status_seq: 0,
                last_status_ts: 0,
                advertised_dt: None,
                dead_timeout: cfg.deadtime,
                ack_trigger,
                hold: HoldSet::None,
                stable: false,
                last_resource_seq: 0,
                shut_down: false,
            },
            cfg,
            local,
            generation: p.generation,
            uuid: p.uuid,
            wall0: p.wall_clock_at_zero,
            rng,
            started: now,
            out: VecDeque::new(),
            seq: 0,
            history: VecDeque::new(),
            state: LocalState::Init,
            next_status: now,
            links_up: false,
            comm_up: false,
            links,
            groups,
            rstate: RscState::Idle,
            rqst_deadline: None,
            jobs: VecDeque::new(),
            op: None,
            next_step: 1,
            standby: None,
            failback_at: None,
            handover: None,
            ip_request_retry: None,
            in_conflict: Vec::new(),
            shutting_down: false,
            failback_pending: false,
            healing: false,
            recent: VecDeque::new(),
            late_heartbeats: 0,
            heartbeat_gaps,
            dropped: 0,
            drop_reports: BTreeMap::new(),
            dropped_by_reason: BTreeMap::new(),
            last_handle: now,
            grace_from: now,
            announced_stable: false,
            fence: None,
            ping_up: Vec::new(),
            peer_ping: None,
            giveup_at: None,
        };
        m.ping_up = vec![false; m.cfg.ping_nodes.len()];
        // heartbeat sends `init`, then `up` at once (§5.5 step 3).
        m.send_status(now);
        m.set_state(now, LocalState::Up);
        m
    }

    fn nice_failback(&self) -> bool {
        self.cfg.auto_failback != AutoFailback::Legacy
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn note(&mut self, now: Instant, why: String) {
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((now, why));
    }

    fn key(&self, g: GroupId) -> String {
        self.cfg.groups[g.0].key()
    }

    // ----------------------------------------------------------------- sending

    fn own_dt(&self, now: Instant) -> Duration {
        if now.saturating_since(self.started) < DT_BOOST_FOR {
            self.cfg.deadtime + DT_BOOST
        } else {
            self.cfg.deadtime
        }
    }

    /// Adds the envelope (§1.5, §3.1) and queues the message for every link.
    fn send(&mut self, now: Instant, mut msg: Message) {
        let ns = msg
            .msg_type()
            .map(|t| t.starts_with("NS_"))
            .unwrap_or(false);
        if let (Some(dest), Some(uuid)) = (msg.get("dest"), self.peer.uuid.as_ref()) {
            if dest.eq_ignore_ascii_case(&self.peer.name) {
                let uuid = uuid.clone();
                msg.add_binary("destuuid", &uuid);
            }
        }
        if !ns || msg.get("src").is_none() {
            msg.set("src", &self.local.clone());
        }
        msg.add_binary("srcuuid", &self.uuid);
        if !ns {
            self.seq += 1;
            msg.add("seq", &format!("{:x}", self.seq));
        }
        msg.add("hg", &format!("{:x}", self.generation));
        msg.add("ts", &format!("{:x}", self.wall0 + now.millis() / 1000));
        let ttl = 1 + self.cfg.nodes.len() + self.cfg.ping_nodes.len();
        msg.add("ttl", &ttl.to_string());
        if !ns {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back((self.seq, msg.clone(), None));
        }
        self.out.push_back(Output::Send { msg, link: None });
    }

    fn send_status(&mut self, now: Instant) {
        let mut m = Message::with_type("status");
        m.add("st", self.state.name());
        m.add("dt", &format!("{:x}", self.own_dt(now).millis()));
        m.add("protocol", "1");
        self.send(now, m);
        self.next_status = now + self.cfg.keepalive;
    }

    fn set_state(&mut self, now: Instant, s: LocalState) {
        if self.state != s {
            self.state = s;
            self.event(Event::LocalStatus {
                state: s.name().into(),
            });
            self.note(now, format!("local status {}", s.name()));
            self.send_status(now);
        }
    }

    fn my_hold(&self) -> HoldSet {
        let mut l = false;
        let mut f = false;
        for g in &self.groups {
            if g.state != GState::Stopped {
                if g.local {
                    l = true;
                } else {
                    f = true;
                }
            }
        }
        HoldSet::from_parts(l, f)
    }

    fn is_stable(&self) -> bool {
        self.rstate == RscState::Stable
            && self.jobs.is_empty()
            && self.op.is_none()
            && self.standby.is_none()
            && self.fence.is_none()
    }

    fn send_resource(&mut self, now: Instant, hold: HoldSet, stable: bool, info: Option<&str>) {
        let mut m = Message::with_type("resource");
        m.add("rsc_hold", hold.word());
        m.add("rtype", "full");
        m.add("isstable", if stable { "1" } else { "0" });
        self.announced_stable = stable;
        if let Some(i) = info {
            m.add("info", i);
        }
        self.send(now, m);
    }

    fn announce(&mut self, now: Instant, info: Option<&str>) {
        let h = self.my_hold();
        let s = self.is_stable();
        self.send_resource(now, h, s, info);
    }

    // ---------------------------------------------------------------- handling

    pub fn handle(&mut self, now: Instant, input: Input) {
        let now = now.max(self.last_handle);
        self.check_stall(now);
        match input {
            Input::Message { link, msg } => self.handle_message(now, link, msg),
            Input::LinkTransport { link, up } => self.handle_transport(now, link, up),
            Input::Command(c) => self.handle_command(now, c),
            Input::StepDone { id, outcome } => self.handle_step_done(now, id, outcome),
            Input::Reload(cfg) => self.handle_reload(now, *cfg),
            Input::FenceDone { node, ok } => self.handle_fence_done(now, &node, ok),
            Input::PingNode { index, up } => self.handle_ping_node(now, index, up),
            Input::Timer => {}
        }
        self.handle_timers(now);
        self.run_jobs(now);
        self.last_handle = now;
    }

    /// The stall rule: a deadline noticed more than 2 × keepalive late means
    /// this process (or its VM) was not running; that silence is ours, so the
    /// peer and its links get a fresh grace period instead of a death verdict.
    fn check_stall(&mut self, now: Instant) {
        let Some(due) = self.next_deadline() else {
            return;
        };
        let late = now.saturating_since(due);
        if late > self.cfg.keepalive.saturating_mul(2) {
            self.event(Event::LocalStall { late });
            self.note(now, format!("local stall of {late}"));
            self.grace_from = now;
            for l in &mut self.links {
                if l.up {
                    l.last_heard = Some(now);
                }
            }
        }
    }

    fn drop_msg(&mut self, now: Instant, reason: DropReason, node: &str) {
        self.dropped += 1;
        *self.dropped_by_reason.entry(reason).or_default() += 1;
        let entry = self.drop_reports.entry(reason).or_insert((None, 0));
        entry.1 += 1;
        let due = entry
            .0
            .map(|t| now.saturating_since(t) >= DROP_REPORT_EVERY)
            .unwrap_or(true);
        if due {
            let count = entry.1;
            *entry = (Some(now), 0);
            self.event(Event::PacketDropped {
                reason,
                node: node.to_string(),
                count,
            });
        }
    }

    fn handle_transport(&mut self, now: Instant, link: LinkId, up: bool) {
        let peer = self.peer.name.clone();
        if let Some(l) = self.links.get_mut(link.0) {
            l.transport_down = !up;
            if !up && l.up {
                l.up = false;
                let silence = l
                    .last_heard
                    .map(|t| now.saturating_since(t))
                    .unwrap_or_default();
                let name = l.name.clone();
                self.event(Event::LinkDead {
                    node: peer,
                    link: name,
                    silence,
                });
            }
        }
    }

    fn refresh_link(&mut self, now: Instant, link: LinkId) {
        let peer = self.peer.name.clone();
        if let Some(l) = self.links.get_mut(link.0) {
            l.last_heard = Some(now);
            if !l.up && !l.transport_down {
                l.up = true;
                let name = l.name.clone();
                self.event(Event::LinkUp {
                    node: peer,
                    link: name,
                });
            }
        }
    }

    fn handle_message(&mut self, now: Instant, link: LinkId, msg: Message) {
        // §3.2 step 2: required fields.
        let src = msg.get("src").map(|s| s.to_string());
        let ts = msg.get_hex("ts").unwrap_or(0);
        let Some(t) = msg.msg_type().map(|s| s.to_string()) else {
            return self.drop_msg(now, DropReason::MissingField, src.as_deref().unwrap_or("?"));
        };
        let Some(src) = src else {
            return self.drop_msg(now, DropReason::MissingField, "?");
        };
        if ts == 0 {
            return self.drop_msg(now, DropReason::MissingField, &src);
        }
        let ns = t.starts_with("NS_");
        let seq = msg.get_hex("seq");
        if !ns && seq.unwrap_or(0) == 0 {
            return self.drop_msg(now, DropReason::MissingField, &src);
        }
        // Our own messages come back on broadcast/ucast-to-self; we loop back internally.
        if src.eq_ignore_ascii_case(&self.local) {
            return;
        }
        // §9.10: compare case-insensitively.
        if !src.eq_ignore_ascii_case(&self.peer.name) {
            return self.drop_msg(now, DropReason::UnknownNode, &src);
        }
        let gen = msg.get_hex("hg").unwrap_or(0);
        let peer = self.peer.name.clone();
        let for_us = self.is_for_us(&msg);

        if ns {
            // §9.2: control messages must carry the peer's current generation.
            if self.peer.generation != Some(gen) {
                return self.drop_msg(now, DropReason::StaleControl, &peer);
            }
            if self.peer.dead {
                return self.drop_msg(now, DropReason::PeerDead, &peer);
            }
            if !for_us {
                return;
            }
            self.refresh_link(now, link);
            return self.handle_control(now, &t, &msg);
        }
        let seq = seq.unwrap_or(0);

        // Generation rules (§3.2 step 4).
        if let Some(known) = self.peer.generation {
            if gen < known {
                return self.drop_msg(now, DropReason::Replay, &peer);
            }
            if gen > known {
                if t != "status" {
                    return self.drop_msg(now, DropReason::GenerationNotAnnounced, &peer);
                }
                self.peer_restarted(now, known, gen);
            } else if self.peer.dead {
                // Sequence tracking survives the death verdict, so only fresh
                // messages revive the peer. heartbeat waits for a status; we take
                // any fresh message, otherwise whatever the peer sends before its
                // next status (its reaction to the heal) would be lost for good.
                if self.peer.last_seq.map(|l| seq <= l).unwrap_or(false) {
                    return self.drop_msg(now, DropReason::PeerDead, &peer);
                }
                self.partition_healed(now);
            }
        } else {
            // First contact: whatever comes first (its status may be behind it
            // on a slower link) tells us the generation.
            self.peer.generation = Some(gen);
            if self.peer.dead {
                // Declared dead at initdead without ever being heard: this is its
                // first start, not a healed partition. It holds nothing yet and
                // negotiates like a restarted peer.
                self.note(now, format!("peer {peer} heard for the first time"));
                self.peer.dead = false;
                self.peer.stable = false;
                self.peer.shut_down = false;
                self.peer.hold = HoldSet::None;
                self.send_ping_count(now);
                // Unless it could not hear us (a one-way link at our start):
                // then it ran everything all along, as we now do. Ask for its
                // holdings and let the home-node rule settle any overlap.
                if self.nice_failback() && self.comm_up && self.my_hold() != HoldSet::None {
                    self.healing = true;
                    let (l, f) = self.held_or_queued();
                    let stable = self.is_stable();
                    self.send_resource(now, HoldSet::from_parts(l, f), stable, Some("heal"));
                }
            }
        }
        if let Some(u) = msg.get_binary("srcuuid") {
            self.peer.uuid = Some(u.to_vec());
        }

        // Sequence tracking and dedupe across links (§3.2, §4.5).
        match self.peer.last_seq {
            None => {
                self.peer.last_seq = Some(seq);
            }
            Some(last) if Some(seq) == last.checked_add(1) => {
                self.peer.last_seq = Some(seq);
            }
            Some(last) if seq == last => {
                // The same message on another link: the link is alive, nothing newer came in between.
                self.refresh_link(now, link);
                return;
            }
            Some(last) if seq > last => {
                let gap = seq - last - 1;
                self.event(Event::LostPackets {
                    node: peer.clone(),
                    count: gap,
                    last,
                    seq,
                });
                if gap > MAX_GAP {
                    self.peer.missing.clear();
                } else {
                    for s in last + 1..seq {
                        let at = now + self.rexmit_delay();
                        self.peer.missing.insert(s, at);
                    }
                }
                self.peer.last_seq = Some(seq);
            }
            Some(_) => {
                if self.peer.missing.remove(&seq).is_none() {
                    return self.drop_msg(now, DropReason::OldSequence, &peer);
                }
                if self.peer.missing.is_empty() {
                    self.event(Event::NoPacketsMissing { node: peer.clone() });
                    let last = self.peer.last_seq.unwrap_or(seq);
                    self.send_ack(now, last);
                }
            }
        }
        self.refresh_link(now, link);
        if seq % 10 == self.peer.ack_trigger && self.peer.missing.range(..seq).next().is_none() {
            self.send_ack(now, seq);
        }
        let first = !self.peer.ever_heard;
        self.peer.ever_heard = true;
        // A first status is read before comm-up decisions (they look at the
        // peer's state); any other first message after, so that it finds the
        // resource handlers in place.
        if first && t != "status" {
            self.check_links_up(now);
        }
        if for_us {
            self.dispatch(now, link, &t, seq, &msg);
        } else if t == "ip-request-resp" {
            self.peer_takes_home_group(&msg);
        }
        if first {
            self.check_links_up(now);
        }
    }

    /// Legacy mode: a heartbeat peer that comes up while it believes nobody is
    /// active takes its home groups without asking (a self-addressed
    /// `ip-request-resp`, §6.6), even if we took them over a moment before. Seeing
    /// that on the wire, we give its home group back: otherwise both run it.
    fn peer_takes_home_group(&mut self, msg: &Message) {
        if self.nice_failback() || !self.comm_up || self.shutting_down {
            return;
        }
        let to_itself = msg
            .get("dest")
            .is_some_and(|d| d.eq_ignore_ascii_case(&self.peer.name));
        if !to_itself || msg.get("ok") != Some("OK") {
            return;
        }
        let key = msg.get("ipaddr").unwrap_or_default();
        let Some(i) = self.cfg.groups.iter().position(|g| g.key() == key) else {
            return;
        };
        let g = GroupId(i);
        let held = matches!(self.groups[i].state, GState::Starting | GState::Running)
            || self.jobs.contains(&Job::Acquire(g));
        if !self.groups[i].local && held {
            self.release_after_partition(g);
        }
    }

    fn is_for_us(&self, msg: &Message) -> bool {
        if let Some(u) = msg.get_binary("destuuid") {
            return u == self.uuid;
        }
        match msg.get("dest") {
            None => true,
            Some(d) => d.eq_ignore_ascii_case(&self.local),
        }
    }

    fn rexmit_delay(&mut self) -> Duration {
        let max = self.cfg.max_rexmit_delay.millis();
        let lo = if max < 100 { 0 } else { 50 };
        Duration::from_millis(self.rng.range(lo, max.max(lo)))
    }

    fn send_ack(&mut self, now: Instant, seq: u64) {
        let mut m = Message::with_type("NS_ackmsg");
        m.add("dest", &self.peer.name.clone());
        m.add("ackseq", &format!("{seq:x}"));
        self.send(now, m);
    }

    fn handle_control(&mut self, now: Instant, t: &str, msg: &Message) {
        match t {
            "NS_rexmit" => {
                let (Some(first), Some(last)) = (msg.get_dec("firstseq"), msg.get_dec("lastseq"))
                else {
                    return;
                };
                let last = last.min(first.saturating_add(MAX_REXMIT_BATCH - 1));
                let oldest = self.history.front().map(|h| h.0).unwrap_or(self.seq + 1);
                let min_gap = self.cfg.max_rexmit_delay - Duration::from_millis(10);
                for s in first..=last {
                    if s > self.seq || s == 0 {
                        break;
                    }
                    if s < oldest {
                        let mut m = Message::with_type("NS_nak_rexmit");
                        m.add("firstseq", &format!("{s:x}"));
                        m.add("dest", &self.peer.name.clone());
                        m.add("info", "seqno too low");
                        self.send(now, m);
                        continue;
                    }
                    let idx = (s - oldest) as usize;
                    if let Some((_, stored, resent)) = self.history.get_mut(idx) {
                        if resent
                            .map(|r| now.saturating_since(r) < min_gap)
                            .unwrap_or(false)
                        {
                            continue;
                        }
                        *resent = Some(now);
                        let msg = stored.clone();
                        self.out.push_back(Output::Send { msg, link: None });
                    }
                }
            }
            "NS_nak_rexmit" => {
                if let Some(s) = msg.get_hex("firstseq") {
                    if self.peer.missing.remove(&s).is_some() {
                        let node = self.peer.name.clone();
                        self.event(Event::IrretrievablyLost { node, seq: s });
                    }
                }
            }
            // ACKs only free history in heartbeat; our history is a fixed ring.
            _ => {}
        }
    }

    fn check_links_up(&mut self, now: Instant) {
        if self.links_up || !(self.peer.ever_heard || self.peer.dead) {
            return;
        }
        self.links_up = true;
        // hbd does not send reqnodes (§3.6 allows skipping it): comm is up at once.
        self.comm_up = true;
        self.event(Event::CommUp);
        self.set_state(now, LocalState::Active);
        self.comm_up_resource_action(now);
        self.send_ping_count(now);
    }

    // --------------------------------------------------------------- liveness

    fn peer_restarted(&mut self, now: Instant, old: u64, new: u64) {
        let node = self.peer.name.clone();
        self.event(Event::PeerRestarted {
            node,
            old_generation: old,
            new_generation: new,
        });
        self.note(now, format!("peer restarted (generation {new:x})"));
        let was_dead = self.peer.dead;
        self.peer.generation = Some(new);
        // A restarted peer counts from 1: anything before this status that we
        // dropped (it overtook the status) is requested again.
        self.peer.last_seq = Some(0);
        // The silence across a restart is not a late heartbeat.
        self.peer.last_status_at = None;
        self.peer.missing.clear();
        self.peer.last_status_seq = 0;
        self.peer.last_status_ts = 0;
        self.peer.last_resource_seq = 0;
        self.peer.dead = false;
        self.peer.stable = false;
        self.peer.shut_down = false;
        self.peer.hold = HoldSet::None;
        self.peer.uuid = None;
        self.peer.ack_trigger = self.rng.range(0, 9);
        // A fence still pending means we took nothing over: the restarted peer
        // runs nothing either, so our home groups come back like below.
        let fence_pending = self.fence.is_some();
        self.cancel_fence("it restarted");
        self.peer_ping = None;
        self.send_ping_count(now);
        if let Some(sb) = self.standby.take() {
            let _ = sb;
            self.event(Event::StandbyCancelled {
                reason: "peer restarted".into(),
            });
        }
        // A restarted peer lost whatever it ran or was about to run (it may have
        // died while taking our groups in a standby). It will start its own
        // groups itself; ours that nobody runs now come back to us.
        if (!was_dead || fence_pending)
            && self.comm_up
            && !self.shutting_down
            && self.rstate == RscState::Stable
        {
            let ids: Vec<GroupId> = (0..self.groups.len())
                .filter(|&i| self.groups[i].local && self.groups[i].state == GState::Stopped)
                .map(GroupId)
                .collect();
            if !ids.is_empty() {
                self.acquire_groups(&ids);
                self.jobs.push_back(Job::Then(Then::Announce(None)));
            }
        }
    }

    fn partition_healed(&mut self, now: Instant) {
        let node = self.peer.name.clone();
        self.event(Event::PartitionHealed { node });
        self.note(now, "peer returning after partition".into());
        self.peer.dead = false;
        self.cancel_fence("it is heard again");
        self.send_ping_count(now);
        self.peer.missing.clear();
        // The message that revived it counts as a sign of life.
        self.peer.last_status_at = Some(now);
        // heartbeat restarts itself here (§6.10). hbd applies the home-node
        // rule instead: each group held on both sides stays with its home node.
        self.peer.stable = false;
        if self.nice_failback() {
            // Tell the peer what we hold (or are about to), marked `info=heal`
            // so it answers with its own holdings even if it never noticed the
            // partition; whoever sees both holdings releases its foreign copies.
            self.healing = true;
            let (l, f) = self.held_or_queued();
            let stable = self.is_stable();
            self.send_resource(now, HoldSet::from_parts(l, f), stable, Some("heal"));
        } else {
            // Legacy has no holdings messages. A live peer always runs its home
            // groups (legacy fails back), so we release our foreign copies and
            // ask for our home groups; the peer gives them up (ip-request).
            for i in 0..self.groups.len() {
                let g = GroupId(i);
                if self.groups[i].local {
                    let mut m = Message::with_type("ip-request");
                    m.add("ipaddr", &self.key(g));
                    self.send(now, m);
                } else if self.holds_or_will(g) {
                    self.release_after_partition(g);
                }
            }
            self.ip_request_retry = Some(now + RQSTDELAY);
        }
    }

    /// True when group `g` runs here, is being started, or is queued to start.
    fn holds_or_will(&self, g: GroupId) -> bool {
        matches!(
            self.groups[g.0].state,
            GState::Running | GState::Starting | GState::Failed
        ) || self.jobs.contains(&Job::Acquire(g))
    }

    fn held_or_queued(&self) -> (bool, bool) {
        let (mut l, mut f) = (false, false);
        for i in 0..self.groups.len() {
            if self.holds_or_will(GroupId(i)) {
                if self.groups[i].local {
                    l = true
                } else {
                    f = true
                }
            }
        }
        (l, f)
    }

    fn release_after_partition(&mut self, g: GroupId) {
        let group = self.key(g);
        let keeper = self.peer.name.clone();
        self.event(Event::ReleaseAfterPartition { group, keeper });
        self.jobs.retain(|j| *j != Job::Acquire(g));
        self.jobs.push_back(Job::Release(g));
    }

    /// What the peer's dead time is measured from: its last status, start
    /// before any, and never before our own last stall.
    fn status_clock(&self) -> Instant {
        self.peer
            .last_status_at
            .unwrap_or(self.started)
            .max(self.grace_from)
    }

    fn peer_timeout(&self) -> Duration {
        if self.links_up {
            self.peer.dead_timeout
        } else {
            self.cfg.initdead
        }
    }

    fn handle_status(&mut self, now: Instant, link: LinkId, seq: u64, msg: &Message) {
        let ts = msg.get_hex("ts").unwrap_or(0);
        if seq < self.peer.last_status_seq && ts < self.peer.last_status_ts {
            return;
        }
        let node = self.peer.name.clone();
        if let Some(prev) = self.peer.last_status_at {
            let gap = now.saturating_since(prev);
            self.heartbeat_gaps.observe(gap);
            if gap > self.cfg.warntime {
                self.late_heartbeats += 1;
                if let Some(l) = self.links.get_mut(link.0) {
                    l.late += 1;
                }
                let lname = self
                    .links
                    .get(link.0)
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                self.event(Event::LateHeartbeat {
                    node: node.clone(),
                    link: lname,
                    gap,
                    warntime: self.cfg.warntime,
                });
            }
        }
        self.peer.last_status_at = Some(now);
        self.peer.last_status_seq = seq;
        self.peer.last_status_ts = ts;
        if let Some(dt) = msg.get_hex("dt") {
            if dt > 0 && self.peer.advertised_dt != Some(dt) {
                self.peer.advertised_dt = Some(dt);
                // §9.3: the peer's dt is its dead timeout, within sane bounds.
                let lo = self.cfg.keepalive.saturating_mul(2);
                let hi = self.cfg.deadtime.saturating_mul(10);
                let used = Duration::from_millis(dt).max(lo).min(hi);
                self.peer.dead_timeout = used;
                let local = self.cfg.deadtime;
                if Duration::from_millis(dt) != local
                    && Duration::from_millis(dt) != local + DT_BOOST
                {
                    self.event(Event::PeerDeadtime {
                        node: node.clone(),
                        advertised: Duration::from_millis(dt),
                        used,
                        local,
                    });
                }
            }
        }
        let st = msg.get("st").unwrap_or("").to_string();
        if st == "dead" {
            self.event(Event::PeerClaimsDead { node });
            return;
        }
        if st != self.peer.state {
            self.peer.state = st.clone();
            self.event(Event::PeerStatus { node, state: st });
        }
    }

    fn declare_peer_dead(&mut self, now: Instant) {
        let silence = self
            .peer
            .last_status_at
            .map(|t| now.saturating_since(t))
            .unwrap_or_else(|| now.saturating_since(self.started));
        let node = self.peer.name.clone();
        self.event(Event::PeerDead {
            node: node.clone(),
            silence,
            deadtime: self.peer_timeout(),
        });
        self.note(now, format!("peer {node} dead after {silence} silence"));
        self.peer.dead = true;
        self.peer.state = "dead".into();
        self.peer.missing.clear();
        self.peer.stable = false;
        for i in 0..self.links.len() {
            if self.links[i].up {
                self.links[i].up = false;
                let silence = self.links[i]
                    .last_heard
                    .map(|t| now.saturating_since(t))
                    .unwrap_or_default();
                let link = self.links[i].name.clone();
                self.event(Event::LinkDead {
                    node: node.clone(),
                    link,
                    silence,
                });
            }
        }
        if !self.links_up {
            self.check_links_up(now);
            return;
        }
        self.recover_dead_peer(now);
    }

    // -------------------------------------------------------------- resources

    fn comm_up_resource_action(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if self.peer.dead {
            // Alone at startup: take everything (heartbeat: req_our_resources + mach_down).
            self.rstate = RscState::Stable;
            self.recover_dead_peer(now);
            return;
        }
        if self.nice_failback() {
            self.rstate = RscState::Starting;
            self.rqst_deadline = Some(now + RQSTDELAY);
            self.send(now, Message::with_type("starting"));
        } else {
            // Legacy (§6.6, req_resource): ask the peer for each local group
            // only if it is `active` (it may hold it); otherwise nobody can
            // hold it (HA_DONTASK) and we take it with a self-addressed reply.
            self.rstate = RscState::Stable;
            // A peer whose status we have not read yet may hold them: ask.
            let ask = self.peer.last_status_at.is_none() || self.peer.state == "active";
            for i in 0..self.groups.len() {
                if !self.groups[i].local {
                    continue;
                }
                let key = self.key(GroupId(i));
                if ask {
                    let mut m = Message::with_type("ip-request");
                    m.add("ipaddr", &key);
                    self.send(now, m);
                    self.ip_request_retry = Some(now + RQSTDELAY);
                } else {
                    let mut m = Message::with_type("ip-request-resp");
                    m.add("dest", &self.local.clone());
                    m.add("ipaddr", &key);
                    m.add("weown", "yes");
                    m.add("ok", "OK");
                    self.send(now, m);
                    self.acquire_groups(&[GroupId(i)]);
                }
            }
        }
    }

    /// Legacy: heartbeat asks once and, without an answer, never starts the
    /// group (§9.13). hbd asks again every RQSTDELAY while the peer lives and
    /// the group is still not running here.
    fn retry_ip_requests(&mut self, now: Instant) {
        self.ip_request_retry = None;
        if self.nice_failback() || self.shutting_down || self.peer.dead {
            return;
        }
        let mut any = false;
        for i in 0..self.groups.len() {
            let g = GroupId(i);
            let grp = &self.groups[i];
            if !grp.local || grp.state != GState::Stopped || grp.start_failed {
                continue;
            }
            if self.jobs.contains(&Job::Acquire(g)) || self.op.as_ref().map(|o| o.group) == Some(g)
            {
                continue;
            }
            any = true;
            let mut m = Message::with_type("ip-request");
            m.add("ipaddr", &self.key(g));
            self.send(now, m);
        }
        if any {
            self.ip_request_retry = Some(now + RQSTDELAY);
        }
    }

    /// §6.7: a dead (or startup-absent) peer's groups, and our own, are taken here.
    fn recover_dead_peer(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let node = self.peer.name.clone();
        if let Some(_sb) = self.standby.take() {
            self.event(Event::StandbyCancelled {
                reason: format!("{node} is dead"),
            });
        }
        self.rstate = RscState::Stable;
        self.rqst_deadline = None;
        // Fencing is unneeded only when we know the peer held nothing: in
        // nice_failback from its `resource` messages, in legacy only after `shutdone`.
        let held_nothing = self.nice_failback()
            && self.peer.hold == HoldSet::None
            && self.peer.last_resource_seq > 0;
        let fence_needed = !(self.peer.ever_heard && (held_nothing || self.peer.shut_down));
        if fence_needed && self.fencing_configured() {
            if self.fence.is_some() {
                return;
            }
            let reason = if self.peer.ever_heard {
                "declared dead"
            } else {
                "never heard since startup"
            };
            self.note(now, format!("fencing {node} ({reason})"));
            self.event(Event::FenceRequested {
                node: node.clone(),
                reason: reason.into(),
            });
            self.fence = Some(FenceWait {
                node: node.clone(),
                attempt: 1,
                retry_at: None,
            });
            self.out.push_back(Output::Fence {
                node,
                reason: reason.into(),
            });
            return;
        }
        self.take_over_dead_peer(now, if fence_needed { "n_stnth" } else { "unneeded" });
    }

    /// hbd fences when a hook is set or a `stonith_host` line is for this
    /// node: its HOST is the node the device is reachable from (heartbeat's
    /// rule), `*` any. The shell drops lines it cannot run, with a warning.
    fn fencing_configured(&self) -> bool {
        self.cfg.hbd.fence_hook.is_some()
            || self
                .cfg
                .stonith_hosts
                .iter()
                .any(|h| h.host == "*" || h.host.eq_ignore_ascii_case(&self.local))
    }

    /// The takeover half of §6.7, once fencing is settled; `result` is what
    /// the `t=stonith` message reports.
    fn take_over_dead_peer(&mut self, now: Instant, result: &str) {
        let node = self.peer.name.clone();
        let mut m = Message::with_type("stonith");
        m.add("node", &node);
        m.add("result", result);
        self.send(now, m);
        if result == "n_stnth" {
            self.event(Event::NoStonith { node: node.clone() });
        }
        self.peer.hold = HoldSet::None;
        self.event(Event::TakeoverStarted {
            node: node.clone(),
            reason: "peer dead".into(),
        });
        self.failback_pending = true;
        let ids: Vec<GroupId> = (0..self.groups.len()).map(GroupId).collect();
        self.acquire_groups(&ids);
        self.jobs.push_back(Job::Then(Then::MachDown(node)));
    }

    fn handle_fence_done(&mut self, now: Instant, node: &str, ok: bool) {
        let Some(f) = &mut self.fence else {
            return;
        };
        // A late answer for a fence we gave up on, or a duplicate.
        if !f.node.eq_ignore_ascii_case(node) || f.retry_at.is_some() {
            return;
        }
        let node = f.node.clone();
        let attempt = f.attempt;
        if ok {
            self.fence = None;
            self.note(now, format!("{node} fenced"));
            self.event(Event::FenceSucceeded { node });
            self.take_over_dead_peer(now, "OK");
        } else if self.cfg.hbd.fence_required {
            f.retry_at = Some(now + FENCE_RETRY);
            self.event(Event::FenceFailed {
                node,
                retry_in: Some(FENCE_RETRY),
                attempt,
            });
        } else {
            self.fence = None;
            self.note(now, format!("fencing {node} failed; taking over anyway"));
            self.event(Event::FenceFailed {
                node,
                retry_in: None,
                attempt,
            });
            self.take_over_dead_peer(now, "bad");
        }
    }

    fn cancel_fence(&mut self, reason: &str) {
        if let Some(f) = self.fence.take() {
            self.event(Event::FenceCancelled {
                node: f.node,
                reason: reason.into(),
            });
        }
    }

    /// ipfail is refused with legacy auto_failback (it exits 100); so is ours.
    fn ipfail_active(&self) -> bool {
        self.nice_failback() && !self.cfg.ping_nodes.is_empty()
    }

    fn ping_count(&self) -> usize {
        self.ping_up.iter().filter(|u| **u).count()
    }

    fn handle_ping_node(&mut self, now: Instant, index: usize, up: bool) {
        if index >= self.ping_up.len() || self.ping_up[index] == up {
            return;
        }
        self.ping_up[index] = up;
        let name = self.cfg.ping_nodes[index].name.clone();
        let reachable = self.ping_count();
        self.event(Event::PingNodeStatus {
            name,
            up,
            reachable,
            total: self.ping_up.len(),
        });
        self.send_ping_count(now);
        if let Some(p) = self.peer_ping {
            self.compare_ping(now, p);
        }
    }

    /// ipfail's message: addressed API-to-API so a stock ipfail on a real
    /// heartbeat peer reads it too.
    fn send_ipfail(&mut self, now: Instant, t: &str, num: Option<usize>) {
        let mut m = Message::with_type(t);
        if let Some(n) = num {
            m.add("num_ping", &n.to_string());
        }
        m.add("dest", &self.peer.name.clone());
        m.add("from_id", "ipfail");
        m.add("to_id", "ipfail");
        self.send(now, m);
    }

    /// Tells the peer how many ping nodes we reach (on comm-up and each change).
    fn send_ping_count(&mut self, now: Instant) {
        if !self.ipfail_active() || !self.comm_up || self.peer.dead || self.shutting_down {
            return;
        }
        let n = self.ping_count();
        self.send_ipfail(now, "num_ping_nodes", Some(n));
    }

    fn handle_num_ping(&mut self, now: Instant, msg: &Message) {
        let Some(p) = msg
            .get("num_ping")
            .and_then(|v| v.trim().parse::<usize>().ok())
        else {
            return;
        };
        self.peer_ping = Some(p);
        let node = self.peer.name.clone();
        let local = self.ping_count();
        self.event(Event::PeerPingNodes {
            node,
            peer: p,
            local,
        });
        if !self.ipfail_active() {
            return;
        }
        // ipfail's answer: the side that reaches more tells the other to go.
        if local > p {
            self.send_ipfail(now, "you_are_dead", None);
        } else if local == p {
            self.send_ipfail(now, "abort_giveup", None);
        }
        self.compare_ping(now, p);
    }

    fn compare_ping(&mut self, now: Instant, peer: usize) {
        if self.ping_count() < peer {
            self.schedule_giveup(now);
        } else {
            self.giveup_at = None;
        }
    }

    fn schedule_giveup(&mut self, now: Instant) {
        if self.ipfail_active() && self.giveup_at.is_none() {
            self.giveup_at = Some(now + self.cfg.keepalive + self.cfg.keepalive);
        }
    }

    /// ipfail's giveup: standby all, unless the counts evened out meanwhile,
    /// there is nothing to give, or resources are in transition (then later).
    fn try_giveup(&mut self, now: Instant) {
        if !self.ipfail_active() || self.peer.dead || !self.comm_up || self.shutting_down {
            return;
        }
        let local = self.ping_count();
        if let Some(p) = self.peer_ping {
            if local >= p {
                return;
            }
        }
        if self.my_hold() == HoldSet::None && self.jobs.is_empty() && self.op.is_none() {
            return;
        }
        if !self.is_stable() || !self.peer.stable {
            self.giveup_at = Some(now + self.cfg.keepalive + self.cfg.keepalive);
            return;
        }
        let peer = self
            .peer_ping
            .map(|p| p.to_string())
            .unwrap_or_else(|| "more".into());
        let total = self.ping_up.len();
        let why = format!("uplink: we reach {local} of {total} ping node(s), the peer {peer}");
        self.begin_standby(now, HoldSet::All, &why);
    }

    fn acquire_groups(&mut self, ids: &[GroupId]) {
        for &g in ids {
            if self.groups[g.0].start_failed {
                let group = self.key(g);
                self.event(Event::AcquireSkipped {
                    group,
                    reason: "its start failed here; hb_takeover clears this".into(),
                });
                continue;
            }
            if !self.jobs.contains(&Job::Acquire(g)) {
                self.jobs.push_back(Job::Acquire(g));
            }
        }
    }

    fn group_ids(&self, set: HoldSet) -> Vec<GroupId> {
        (0..self.groups.len())
            .filter(|&i| set.has(self.groups[i].local))
            .map(GroupId)
            .collect()
    }

    fn dispatch(&mut self, now: Instant, link: LinkId, t: &str, seq: u64, msg: &Message) {
        match t {
            "status" => return self.handle_status(now, link, seq, msg),
            "reqnodes" => {
                // §3.6: exact field order, dest first.
                let mut m = Message::new();
                m.add("dest", &self.peer.name.clone());
                m.add("t", "repnodes");
                let list: String = self.cfg.nodes.iter().map(|n| format!("{n} ")).collect();
                m.add("nodelist", &list);
                m.add("delnodelist", " ");
                return self.send(now, m);
            }
            "shutdone" => return self.handle_shutdone(now),
            _ => {}
        }
        // Resource handlers exist only once comm is up (§3.2 step 6).
        if !self.comm_up {
            return;
        }
        if self.shutting_down {
            // Still answer a legacy request (we are releasing everything anyway),
            // or a peer that started meanwhile waits forever (§9.13).
            if t == "ip-request" {
                self.handle_ip_request(msg);
            }
            return;
        }
        match t {
            "starting" => self.handle_starting(now, seq),
            "resource" => self.handle_resource(now, seq, msg),
            "ask_resources" => self.handle_ask_resources(now, seq, msg),
            "hb_takeover" => {
                let set = match msg.get("rsc_hold") {
                    Some("failback") => HoldSet::All, // §9.14 quirk, reproduced
                    other => other
                        .and_then(|w| w.parse::<HoldSet>().ok())
                        .unwrap_or(HoldSet::All),
                };
                self.begin_standby(now, set.invert(), "hb_takeover from peer");
            }
            "ip-request" => self.handle_ip_request(msg),
            "num_ping_nodes" => self.handle_num_ping(now, msg),
            "you_are_dead" => self.schedule_giveup(now),
            "abort_giveup" => self.giveup_at = None,
            "ip-request-resp" if msg.get("ok") == Some("OK") => {
                let key = msg.get("ipaddr").unwrap_or_default();
                if let Some(i) = self.cfg.groups.iter().position(|g| g.key() == key) {
                    self.acquire_groups(&[GroupId(i)]);
                }
            }
            _ => {}
        }
    }

    fn handle_starting(&mut self, now: Instant, seq: u64) {
        // A retransmitted `starting` older than the peer's latest holdings
        // must not wipe them.
        if !self.nice_failback() || seq < self.peer.last_resource_seq {
            return;
        }
        match self.rstate {
            RscState::BothStarting => return,
            RscState::Starting => self.rstate = RscState::BothStarting,
            _ => {}
        }
        // The peer starts from scratch: it holds nothing and is not stable.
        self.peer.stable = false;
        self.peer.hold = HoldSet::None;
        self.announce(now, None);
    }

    fn handle_resource(&mut self, now: Instant, seq: u64, msg: &Message) {
        if !self.nice_failback() {
            return;
        }
        let heal = msg.get("info") == Some("heal");
        if seq < self.peer.last_resource_seq {
            // A retransmitted old view must not override a newer one; a late
            // `heal` still asks for the rule, applied to the newer view.
            if heal {
                self.healing = false;
                self.resolve_overlap(now);
            }
            return;
        }
        self.peer.last_resource_seq = seq;
        let Some(h) = msg.get("rsc_hold").and_then(|w| w.parse::<HoldSet>().ok()) else {
            return;
        };
        if msg.get("rtype") == Some("full") {
            self.peer.hold = h;
        } else {
            let (l, f) = (
                self.peer.hold.has(true) || h.has(true),
                self.peer.hold.has(false) || h.has(false),
            );
            self.peer.hold = HoldSet::from_parts(l, f);
        }
        let node = self.peer.name.clone();
        match msg.get("isstable") {
            Some("1") if !self.peer.stable => {
                self.peer.stable = true;
                if self.rstate == RscState::Stable {
                    self.event(Event::RemoteTransitionComplete { node });
                    self.announce(now, None);
                }
            }
            Some("0") => self.peer.stable = false,
            _ => {}
        }
        if self.rqst_deadline.is_none()
            && matches!(self.rstate, RscState::Starting | RscState::BothStarting)
        {
            self.rqst_deadline = Some(now + RQSTDELAY);
        }
        if matches!(self.rstate, RscState::Starting | RscState::BothStarting) && self.peer.stable {
            // The peer is stable: take our local groups unless it holds them (§6.5).
            self.rstate = RscState::Stable;
            self.rqst_deadline = None;
            if self.peer.hold.has(false) {
                self.event(Event::AcquisitionComplete {
                    reason: "none".into(),
                });
                self.announce(now, None);
            } else {
                self.req_our_resources(now, "req_our_resources()".into());
            }
        }
        // The rule needs the peer's complete holdings: a `heal` (the peer saw
        // the partition, we may not have) or, when we saw it, the next full
        // `resource` (not a partial `mach_down` sent before the heal).
        if heal || (self.healing && msg.get("rtype") == Some("full")) {
            self.healing = false;
            self.resolve_overlap(now);
        } else if msg.get("rtype") == Some("full") {
            self.check_overlap(now);
        }
        self.maybe_failback(now);
    }

    /// The partition rule: when both nodes hold a group, its home node keeps it
    /// and the other releases it. Holdings are compared per set (local/foreign),
    /// which is what the v1 protocol carries.
    fn resolve_overlap(&mut self, now: Instant) {
        self.resolve_overlap_because(now, "healed partition resolved by home-node rule");
    }

    /// Both sides stable and both claiming a group can also follow a race the
    /// v1 protocol does not prevent (e.g. a peer restarting while we act on its
    /// older `shutdone`). Stable claims never overlap in a correct exchange, so
    /// the same home-node rule settles it instead of leaving both active.
    fn check_overlap(&mut self, now: Instant) {
        if !self.nice_failback()
            || !self.is_stable()
            || !self.peer.stable
            || self.peer.dead
            || !self.comm_up
            || self.shutting_down
        {
            return;
        }
        let conflict: Vec<GroupId> = (0..self.groups.len())
            .filter(|&i| {
                let g = &self.groups[i];
                g.state == GState::Running && self.peer.hold.has(!g.local)
            })
            .map(GroupId)
            .collect();
        // Settle each new conflict once; the keeper's side stays in conflict
        // until the peer's release shows up in its next `resource`.
        if conflict.iter().all(|g| self.in_conflict.contains(g)) {
            self.in_conflict = conflict;
            return;
        }
        self.in_conflict = conflict;
        self.resolve_overlap_because(now, "both nodes hold a group: home-node rule");
    }

    fn resolve_overlap_because(&mut self, now: Instant, why: &str) {
        let peer_has_its_local = self.peer.hold.has(true);
        let peer_has_our_local = self.peer.hold.has(false);
        for i in 0..self.groups.len() {
            let g = GroupId(i);
            if !self.holds_or_will(g) || self.groups[i].state == GState::Failed {
                continue;
            }
            if !self.groups[i].local && peer_has_its_local {
                self.release_after_partition(g);
            } else if self.groups[i].local && peer_has_our_local {
                let group = self.key(g);
                self.event(Event::ReannounceAddresses { group });
            }
        }
        self.jobs.push_back(Job::Then(Then::Announce(None)));
        self.note(now, why.into());
    }

    fn req_our_resources(&mut self, now: Instant, reason: String) {
        let ids: Vec<GroupId> = self.group_ids(HoldSet::Local);
        for &g in &ids {
            if self.groups[g.0].state == GState::Stopped && !self.groups[g.0].start_failed {
                // §6.5: acquiring local groups never asks the peer; the request is self-addressed.
                let mut m = Message::with_type("ip-request-resp");
                m.add("dest", &self.local.clone());
                m.add("ipaddr", &self.key(g));
                m.add("weown", "yes");
                m.add("ok", "OK");
                self.send(now, m);
            }
        }
        self.acquire_groups(&ids);
        self.jobs.push_back(Job::Then(Then::Stable(reason)));
    }

    fn handle_ip_request(&mut self, msg: &Message) {
        let Some(key) = msg.get("ipaddr").map(|s| s.to_string()) else {
            return;
        };
        let Some(i) = self.cfg.groups.iter().position(|g| g.key() == key) else {
            return;
        };
        let weown = self.groups[i].state != GState::Stopped;
        if weown {
            self.jobs.push_back(Job::Release(GroupId(i)));
        }
        self.jobs
            .push_back(Job::Then(Then::IpRequestResp { key, weown }));
    }

    fn handle_shutdone(&mut self, now: Instant) {
        let node = self.peer.name.clone();
        self.event(Event::PeerShutdown { node: node.clone() });
        self.note(now, format!("{node} shut down"));
        self.peer.shut_down = true;
        self.peer.hold = HoldSet::None;
        self.peer.stable = false;
        if let Some(_sb) = self.standby.take() {
            self.event(Event::StandbyCancelled {
                reason: format!("{node} shut down"),
            });
        }
        if self.shutting_down || !self.comm_up {
            return;
        }
        self.rstate = RscState::Stable;
        self.rqst_deadline = None;
        self.event(Event::TakeoverStarted {
            node: node.clone(),
            reason: "peer shut down".into(),
        });
        self.failback_pending = true;
        let ids: Vec<GroupId> = (0..self.groups.len()).map(GroupId).collect();
        self.acquire_groups(&ids);
        self.jobs.push_back(Job::Then(Then::MachDown(node)));
    }

    fn handle_ask_resources(&mut self, now: Instant, seq: u64, msg: &Message) {
        if !self.nice_failback() {
            return;
        }
        let set = msg
            .get("rsc_hold")
            .and_then(|w| w.parse::<HoldSet>().ok())
            .unwrap_or(HoldSet::All);
        let node = self.peer.name.clone();
        match msg.get("info") {
            Some("me") => {
                if !self.is_stable() || !self.peer.stable {
                    return self.event(Event::StandbyCancelled {
                        reason: format!("standby request from {node} ignored: resources in flux"),
                    });
                }
                self.event(Event::PeerWantsStandby { node, set });
                let mut m = Message::with_type("ask_resources");
                m.add("rsc_hold", set.word());
                m.add("info", "other");
                self.send(now, m);
                self.standby = Some(Standby {
                    role: StandbyRole::AwaitDone,
                    set,
                    deadline: now + STANDBY_RESOURCE_TIMEOUT,
                    handover: false,
                    peer_seq: seq,
                });
            }
            Some("other") => {
                let Some(sb) = self.standby.as_mut() else {
                    return;
                };
                if sb.role != StandbyRole::AwaitOther || sb.set != set {
                    return;
                }
                sb.role = StandbyRole::Releasing;
                sb.deadline = now + STANDBY_RESOURCE_TIMEOUT;
                // Phase 3: say what remains, release the set, then `done`.
                let ids = self.group_ids(set);
                let (mut l, mut f) = (false, false);
                for (i, g) in self.groups.iter().enumerate() {
                    if g.state != GState::Stopped && !ids.contains(&GroupId(i)) {
                        if g.local {
                            l = true
                        } else {
                            f = true
                        }
                    }
                }
                self.send_resource(now, HoldSet::from_parts(l, f), false, Some("standby"));
                let held: Vec<GroupId> = ids
                    .into_iter()
                    .filter(|g| self.groups[g.0].state != GState::Stopped)
                    .collect();
                for &g in &held {
                    self.jobs.push_back(Job::Release(g));
                }
                self.jobs
                    .push_back(Job::Then(Then::StandbyReleased(set, held)));
            }
            Some("done") => {
                let Some(sb) = self.standby.as_mut() else {
                    return;
                };
                // A `done` from an earlier exchange (retransmitted, or overtaken
                // on another link) must not start anything.
                if sb.role != StandbyRole::AwaitDone || sb.set != set || seq < sb.peer_seq {
                    return;
                }
                sb.role = StandbyRole::Acquiring;
                // The peer has released `set`: its holdings shrink now, and an
                // older `resource` from before the release must not count.
                let (l, f) = (
                    self.peer.hold.has(true) && !set.has(true),
                    self.peer.hold.has(false) && !set.has(false),
                );
                self.peer.hold = HoldSet::from_parts(l, f);
                self.peer.last_resource_seq = self.peer.last_resource_seq.max(seq);
                // The requester's set seen from here.
                let ids = self.group_ids(set.invert());
                for &g in &ids {
                    self.groups[g.0].start_failed = false;
                }
                self.acquire_groups(&ids);
                self.jobs.push_back(Job::Then(Then::StandbyAcquired(set)));
            }
            _ => {}
        }
    }

    fn begin_standby(&mut self, now: Instant, set: HoldSet, why: &str) {
        let refuse = if !self.nice_failback() {
            Some("standby needs auto_failback on or off")
        } else if self.peer.dead || !self.comm_up {
            Some("the peer is not up")
        } else if !self.is_stable() || !self.peer.stable {
            Some("resources in flux")
        } else if self.shutting_down {
            Some("shutting down")
        } else {
            None
        };
        if let Some(r) = refuse {
            return self.event(Event::CommandRefused {
                command: format!("standby {} ({why})", set.word()),
                reason: r.into(),
            });
        }
        if !self.announced_stable {
            // The peer accepts a standby only from a side it knows is stable.
            self.announce(now, None);
        }
        self.event(Event::StandbyStarted { set });
        self.note(now, format!("standby {} ({why})", set.word()));
        let mut m = Message::with_type("ask_resources");
        m.add("rsc_hold", set.word());
        m.add("info", "me");
        self.send(now, m);
        self.standby = Some(Standby {
            role: StandbyRole::AwaitOther,
            set,
            deadline: now + STANDBY_REPLY_TIMEOUT,
            handover: why == HANDOVER,
            peer_seq: 0,
        });
    }

    fn maybe_failback(&mut self, now: Instant) {
        if let Some(set) = self.handover {
            if self.peer.dead || self.shutting_down || !self.comm_up {
                self.handover = None;
            } else if self.is_stable() && self.peer.stable {
                self.handover = None;
                self.failback_at = None;
                // heartbeat always asks `foreign` here (§9.12 bug, and 30 s
                // later); hbd hands over the set the failed group belongs to.
                return self.begin_standby(now, set, HANDOVER);
            } else {
                self.failback_at = Some(now + Duration::from_secs(1));
                return;
            }
        }
        if self.cfg.auto_failback != AutoFailback::On || self.shutting_down {
            return;
        }
        let holds_foreign = self
            .groups
            .iter()
            .any(|g| !g.local && g.state == GState::Running);
        if !holds_foreign || !self.failback_pending || self.peer.dead || !self.comm_up {
            self.failback_at = None;
            return;
        }
        if self.is_stable() && self.peer.stable {
            self.failback_at = None;
            self.event(Event::AutoFailback);
            self.begin_standby(now, HoldSet::Foreign, "auto_failback");
        } else {
            // heartbeat retries every second ("Auto failback delayed.").
            self.failback_at = Some(now + Duration::from_secs(1));
        }
    }

    fn handle_command(&mut self, now: Instant, c: Command) {
        match c {
            Command::Standby(set) => self.begin_standby(now, set, "operator"),
            Command::Takeover(set) => {
                if !self.nice_failback() || self.peer.dead || !self.comm_up || self.shutting_down {
                    return self.event(Event::CommandRefused {
                        command: format!("takeover {}", set.word()),
                        reason: "needs auto_failback on|off and a live peer".into(),
                    });
                }
                // The operator insists: forget earlier start failures here, and
                // do not fail back what the operator wants here.
                self.failback_pending = false;
                for &g in &self.group_ids(set) {
                    self.groups[g.0].start_failed = false;
                }
                let mut m = Message::with_type("hb_takeover");
                m.add("rsc_hold", set.word());
                self.send(now, m);
            }
            Command::Shutdown => {
                if self.shutting_down {
                    return;
                }
                self.shutting_down = true;
                self.event(Event::ShutdownStarted);
                self.cancel_fence("shutting down");
                self.giveup_at = None;
                self.note(now, "shutdown".into());
                if let Some(_sb) = self.standby.take() {
                    self.event(Event::StandbyCancelled {
                        reason: "shutting down".into(),
                    });
                }
                self.rqst_deadline = None;
                self.failback_at = None;
                self.jobs.clear();
                self.send_resource(now, HoldSet::None, false, Some("shutdown"));
                for i in 0..self.groups.len() {
                    self.jobs.push_back(Job::Release(GroupId(i)));
                }
                self.jobs.push_back(Job::Then(Then::ShutdownDone));
            }
        }
    }

    fn handle_reload(&mut self, now: Instant, new: Config) {
        if new.nodes != self.cfg.nodes {
            return self.event(Event::ReloadRefused {
                reason: format!(
                    "node list changed ({:?} -> {:?}); restart to apply",
                    self.cfg.nodes, new.nodes
                ),
            });
        }
        if new.groups.len() != self.cfg.groups.len()
            || new
                .groups
                .iter()
                .zip(&self.cfg.groups)
                .any(|(a, b)| a.home != b.home || a.resources != b.resources)
        {
            return self.event(Event::ReloadRefused {
                reason: "resource groups changed; restart to apply".into(),
            });
        }
        let old_media = self.cfg.media.clone();
        self.cfg = new;
        if self.ping_up.len() != self.cfg.ping_nodes.len() {
            // Indexes moved: the shell's pinger restarts and reports afresh.
            self.ping_up = vec![false; self.cfg.ping_nodes.len()];
        }
        // The operator's way out of a fence that keeps failing: remove the
        // hook (having made sure by hand that the peer is down) and reload.
        if self.fence.is_some() && !self.fencing_configured() {
            self.cancel_fence("fencing is no longer configured (reload)");
            self.take_over_dead_peer(now, "n_stnth");
        }
        if self.cfg.media != old_media {
            self.links = self
                .cfg
                .media
                .iter()
                .map(|m| Link {
                    name: m.link_name(),
                    up: false,
                    transport_down: false,
                    last_heard: None,
                    late: 0,
                })
                .collect();
        }
        if self.peer.advertised_dt.is_none() {
            self.peer.dead_timeout = self.cfg.deadtime;
        }
        self.next_status = self.next_status.min(now + self.cfg.keepalive);
        self.event(Event::ReloadApplied);
    }

    // ------------------------------------------------------------------ timers

    fn handle_timers(&mut self, now: Instant) {
        // Peer death: only the status clock counts (§5.3).
        if !self.peer.dead && now.saturating_since(self.status_clock()) >= self.peer_timeout() {
            self.declare_peer_dead(now);
        }
        // Links: each by its own silence against the peer's dead time (§9.4 fixed).
        let thr = self.peer_timeout();
        let peer = self.peer.name.clone();
        for i in 0..self.links.len() {
            let l = &self.links[i];
            if l.up {
                if let Some(h) = l.last_heard {
                    if now.saturating_since(h) >= thr {
                        self.links[i].up = false;
                        let link = self.links[i].name.clone();
                        self.event(Event::LinkDead {
                            node: peer.clone(),
                            link,
                            silence: now.saturating_since(h),
                        });
                    }
                }
            }
        }
        // Retransmission requests, only while the peer lives (§3.5).
        if !self.peer.dead {
            let due: Vec<u64> = self
                .peer
                .missing
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(s, _)| *s)
                .collect();
            for s in due {
                let mut m = Message::with_type("NS_rexmit");
                m.add("dest", &peer);
                m.add("firstseq", &s.to_string());
                m.add("lastseq", &s.to_string());
                self.send(now, m);
                let at = now + self.cfg.max_rexmit_delay;
                self.peer.missing.insert(s, at);
            }
        }
        if let Some(d) = self.rqst_deadline {
            if now >= d {
                self.rqst_deadline = None;
                if matches!(self.rstate, RscState::Starting | RscState::BothStarting) {
                    // The deadlock breaker (§6.5).
                    self.rstate = RscState::Stable;
                    if self.peer.hold.has(false) {
                        self.event(Event::AcquisitionComplete {
                            reason: "none".into(),
                        });
                        self.announce(now, None);
                    } else {
                        self.req_our_resources(now, "local resource transition completed".into());
                    }
                }
            }
        }
        if let Some(sb) = &self.standby {
            if now >= sb.deadline {
                let reason = match sb.role {
                    StandbyRole::AwaitOther => "no reply to standby request",
                    _ => "standby resource phase timed out",
                };
                // Never abandon a release in progress: jobs keep running.
                if sb.handover && sb.role == StandbyRole::AwaitOther {
                    self.handover = Some(sb.set);
                }
                self.standby = None;
                self.event(Event::StandbyCancelled {
                    reason: reason.into(),
                });
            }
        }
        if let Some(r) = self.ip_request_retry {
            if now >= r {
                self.retry_ip_requests(now);
            }
        }
        if let Some(f) = self.failback_at {
            if now >= f {
                self.failback_at = None;
                self.maybe_failback(now);
            }
        }
        if let Some(op) = &mut self.op {
            if op.retry_at.map(|r| now >= r).unwrap_or(false) {
                op.retry_at = None;
                let (g, phase) = (op.group, op.phase);
                self.emit_step(g, phase);
            }
        }
        if let Some(f) = &mut self.fence {
            if f.retry_at.is_some_and(|r| now >= r) {
                f.retry_at = None;
                f.attempt += 1;
                let node = f.node.clone();
                let reason = format!("retry {}", f.attempt);
                self.out.push_back(Output::Fence { node, reason });
            }
        }
        if self.giveup_at.is_some_and(|g| now >= g) {
            self.giveup_at = None;
            self.try_giveup(now);
        }
        if now >= self.next_status {
            self.send_status(now);
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.next_status;
        let mut min = |x: Instant| {
            if x < d {
                d = x
            }
        };
        if !self.peer.dead {
            min(self.status_clock() + self.peer_timeout());
            for at in self.peer.missing.values() {
                min(*at);
            }
        }
        let thr = self.peer_timeout();
        for l in &self.links {
            if let (true, Some(h)) = (l.up, l.last_heard) {
                min(h + thr);
            }
        }
        if let Some(x) = self.rqst_deadline {
            min(x);
        }
        if let Some(sb) = &self.standby {
            min(sb.deadline);
        }
        if let Some(x) = self.failback_at {
            min(x);
        }
        if let Some(x) = self.ip_request_retry {
            min(x);
        }
        if let Some(Some(x)) = self.op.as_ref().map(|o| o.retry_at) {
            min(x);
        }
        if let Some(Some(x)) = self.fence.as_ref().map(|f| f.retry_at) {
            min(x);
        }
        if let Some(x) = self.giveup_at {
            min(x);
        }
        Some(d)
    }

    // ------------------------------------------------------------- job runner

    fn emit_step(&mut self, group: GroupId, phase: Phase) {
        let (resource, action) = match phase {
            Phase::Probe(i) => (i, Action::Status),
            Phase::Start(i) => (i, Action::Start),
            Phase::Stop { i, .. } => (i, Action::Stop),
        };
        let id = StepId(self.next_step);
        self.next_step += 1;
        if let Some(op) = &mut self.op {
            op.step = Some(id);
            op.phase = phase;
        }
        self.out.push_back(Output::Run(Step {
            id,
            group,
            resource,
            action,
        }));
    }

    fn run_jobs(&mut self, now: Instant) {
        while self.op.is_none() {
            let Some(job) = self.jobs.pop_front() else {
                break;
            };
            match job {
                Job::Then(t) => self.then(now, t),
                Job::Acquire(g) => {
                    let st = self.groups[g.0].state;
                    if st != GState::Stopped || self.shutting_down {
                        continue;
                    }
                    self.groups[g.0].state = GState::Starting;
                    let key = self.key(g);
                    self.note(now, format!("starting {key}"));
                    self.op = Some(Op {
                        group: g,
                        phase: Phase::Probe(0),
                        step: None,
                        retry_at: None,
                    });
                    self.emit_step(g, Phase::Probe(0));
                }
                Job::Release(g) => {
                    let st = self.groups[g.0].state;
                    if st != GState::Running {
                        continue;
                    }
                    self.groups[g.0].state = GState::Stopping;
                    let key = self.key(g);
                    self.note(now, format!("stopping {key}"));
                    let n = self.cfg.groups[g.0].resources.len();
                    let phase = Phase::Stop {
                        i: n.saturating_sub(1),
                        tries: 0,
                        rollback: false,
                    };
                    self.op = Some(Op {
                        group: g,
                        phase,
                        step: None,
                        retry_at: None,
                    });
                    self.emit_step(g, phase);
                }
            }
        }
        if self.op.is_none() && self.jobs.is_empty() {
            self.check_overlap(now);
            if !self.jobs.is_empty() {
                // Runs at most once per conflict (`in_conflict`).
                return self.run_jobs(now);
            }
            self.maybe_failback_idle(now);
        }
    }

    fn maybe_failback_idle(&mut self, now: Instant) {
        if self.failback_at.is_none() && self.standby.is_none() && self.handover.is_some() {
            return self.maybe_failback(now);
        }
        if self.failback_at.is_none()
            && self.standby.is_none()
            && self.cfg.auto_failback == AutoFailback::On
            && self.failback_pending
            && self.peer.stable
            && self.rstate == RscState::Stable
            && self
                .groups
                .iter()
                .any(|g| !g.local && g.state == GState::Running)
        {
            self.maybe_failback(now);
        }
    }

    fn then(&mut self, now: Instant, t: Then) {
        match t {
            Then::Stable(reason) => {
                self.event(Event::AcquisitionComplete {
                    reason: reason.clone(),
                });
                let info = if reason == "req_our_resources()" {
                    Some("req_our_resources()")
                } else {
                    None
                };
                self.announce(now, info);
            }
            Then::Announce(info) => self.announce(now, info),
            Then::MachDown(node) => {
                if self.nice_failback() {
                    let mut m = Message::with_type("resource");
                    m.add("rsc_hold", "foreign");
                    m.add("info", "mach_down");
                    self.send(now, m);
                }
                self.event(Event::TakeoverComplete { node });
            }
            Then::StandbyReleased(set, held) => {
                if self.standby.as_ref().map(|s| s.role) != Some(StandbyRole::Releasing) {
                    return;
                }
                self.standby = None;
                let failed = self
                    .group_ids(set)
                    .iter()
                    .any(|g| self.groups[g.0].state == GState::Failed);
                if failed {
                    // A group that may still run here is never offered; the
                    // ones that did stop are started again so service goes on.
                    self.event(Event::StandbyCancelled {
                        reason: "a group failed to stop; not handing the set over".into(),
                    });
                    self.acquire_groups(&held);
                    self.jobs.push_back(Job::Then(Then::Announce(None)));
                    return;
                }
                let mut m = Message::with_type("ask_resources");
                m.add("rsc_hold", set.word());
                m.add("info", "done");
                self.send(now, m);
                if set != HoldSet::Local {
                    self.failback_pending = false;
                }
                self.event(Event::StandbyDone { set });
                self.announce(now, None);
            }
            Then::StandbyAcquired(set) => {
                if self.standby.as_ref().map(|s| s.role) == Some(StandbyRole::Acquiring) {
                    self.standby = None;
                }
                // Groups the peer handed over on purpose are not failed back.
                self.failback_pending = false;
                let mut m = Message::with_type("ask_resources");
                m.add("rsc_hold", set.word());
                m.add("info", "done");
                self.send(now, m);
                self.event(Event::StandbyAcquired { set });
                self.announce(now, None);
            }
            Then::IpRequestResp { key, weown } => {
                let failed = self
                    .cfg
                    .groups
                    .iter()
                    .position(|g| g.key() == key)
                    .map(|i| self.groups[i].state == GState::Failed)
                    .unwrap_or(false);
                if failed {
                    return self.event(Event::AcquireSkipped {
                        group: key,
                        reason: "it failed to stop here; not telling the peer to take it".into(),
                    });
                }
                let mut m = Message::with_type("ip-request-resp");
                m.add("dest", &self.peer.name.clone());
                m.add("ipaddr", &key);
                m.add("weown", if weown { "yes" } else { "no" });
                m.add("ok", "OK");
                self.send(now, m);
            }
            Then::HandOver(g) => {
                if self.groups[g.0].state != GState::Stopped {
                    return;
                }
                if !self.nice_failback() {
                    // Legacy has no standby: the group stays down (heartbeat too).
                    return;
                }
                let set = if self.groups[g.0].local {
                    HoldSet::Local
                } else {
                    HoldSet::Foreign
                };
                self.handover = Some(set);
            }
            Then::ShutdownDone => {
                let failed: Vec<String> = (0..self.groups.len())
                    .filter(|&i| self.groups[i].state == GState::Failed)
                    .map(|i| self.key(GroupId(i)))
                    .collect();
                if failed.is_empty() {
                    let mut m = Message::with_type("shutdone");
                    m.add("st", "dead");
                    self.send(now, m);
                } else {
                    self.event(Event::CommandRefused {
                        command: "shutdone".into(),
                        reason: format!(
                            "groups {} may still be active here; the peer is not told to take over",
                            failed.join(", ")
                        ),
                    });
                }
                self.out.push_back(Output::ShutdownComplete);
            }
        }
    }

    fn handle_step_done(&mut self, now: Instant, id: StepId, outcome: StepOutcome) {
        let Some(op) = &self.op else {
            return self.event(Event::UnexpectedStep { id: id.0 });
        };
        if op.step != Some(id) {
            return self.event(Event::UnexpectedStep { id: id.0 });
        }
        let g = op.group;
        let phase = op.phase;
        let n = self.cfg.groups[g.0].resources.len();
        let key = self.key(g);
        let rname = |i: usize| {
            self.cfg.groups[g.0]
                .resources
                .get(i)
                .map(|r| r.to_string())
                .unwrap_or_default()
        };
        match phase {
            Phase::Probe(i) => {
                if outcome == StepOutcome::Running(true) {
                    // heartbeat does not start what already runs.
                    self.next_start(g, i + 1, n);
                } else {
                    self.emit_step(g, Phase::Start(i));
                }
            }
            Phase::Start(i) => match outcome {
                StepOutcome::Ok | StepOutcome::Running(_) => self.next_start(g, i + 1, n),
                StepOutcome::Failed { code, reason } => {
                    let resource = rname(i);
                    self.event(Event::StartFailed {
                        group: key,
                        resource,
                        code,
                        reason,
                    });
                    self.groups[g.0].start_failed = true;
                    self.groups[g.0].state = GState::Stopping;
                    self.emit_step(
                        g,
                        Phase::Stop {
                            i,
                            tries: 0,
                            rollback: true,
                        },
                    );
                }
            },
            Phase::Stop { i, tries, rollback } => match outcome {
                StepOutcome::Failed { reason, .. } => {
                    let resource = rname(i);
                    if tries < STOP_RETRIES {
                        self.event(Event::StopRetry {
                            group: key,
                            resource,
                            attempt: tries + 1,
                            reason,
                        });
                        if let Some(op) = &mut self.op {
                            op.step = None;
                            op.phase = Phase::Stop {
                                i,
                                tries: tries + 1,
                                rollback,
                            };
                            op.retry_at = Some(now + STOP_RETRY_DELAY);
                        }
                    } else {
                        self.event(Event::StopFailed {
                            group: key.clone(),
                            resource,
                            attempts: tries + 1,
                            reason,
                        });
                        self.note(now, format!("{key} failed to stop"));
                        if self.cfg.hbd.stop_failure == StopFailurePolicy::Reboot {
                            self.event(Event::RebootRequired { group: key });
                        }
                        self.groups[g.0].state = GState::Failed;
                        self.op = None;
                    }
                }
                _ => {
                    if i == 0 {
                        self.groups[g.0].state = GState::Stopped;
                        self.op = None;
                        self.event(Event::GroupStopped { group: key.clone() });
                        self.note(now, format!("{key} stopped"));
                        if rollback {
                            self.jobs.push_back(Job::Then(Then::HandOver(g)));
                        }
                    } else {
                        self.emit_step(
                            g,
                            Phase::Stop {
                                i: i - 1,
                                tries: 0,
                                rollback,
                            },
                        );
                    }
                }
            },
        }
    }

    fn next_start(&mut self, g: GroupId, i: usize, n: usize) {
        if i >= n {
            self.groups[g.0].state = GState::Running;
            self.op = None;
            let group = self.key(g);
            self.event(Event::GroupStarted { group });
        } else {
            self.emit_step(g, Phase::Probe(i));
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn status(&self) -> Status {
        let peer_state = if self.peer.dead {
            NodeState::Dead
        } else {
            NodeState::from(self.peer.state.as_str())
        };
        let groups = self
            .cfg
            .groups
            .iter()
            .zip(&self.groups)
            .map(|(cg, g)| {
                let peer_has = !self.peer.dead && self.peer.hold.has(!g.local);
                let (owner, state) = match g.state {
                    GState::Stopped if peer_has => (Some(self.peer.name.clone()), GroupState::Peer),
                    GState::Stopped => (None, GroupState::Stopped),
                    GState::Starting => (Some(self.local.clone()), GroupState::Starting),
                    GState::Running => (Some(self.local.clone()), GroupState::Running),
                    GState::Stopping => (Some(self.local.clone()), GroupState::Stopping),
                    GState::Failed => (Some(self.local.clone()), GroupState::Failed),
                };
                GroupStatus {
                    key: cg.key(),
                    home: cg.home.clone(),
                    owner,
                    state,
                }
            })
            .collect();
        Status {
            local: NodeStatus {
                name: self.local.clone(),
                state: self.state.node_state(),
                generation: Some(self.generation),
                last_heard: None,
            },
            peer: NodeStatus {
                name: self.peer.name.clone(),
                state: peer_state,
                generation: self.peer.generation,
                last_heard: self.peer.last_status_at,
            },
            links: self
                .links
                .iter()
                .map(|l| LinkStatus {
                    name: l.name.clone(),
                    up: l.up,
                    last_heard: l.last_heard,
                    late: l.late,
                })
                .collect(),
            groups,
            rsc_hold: if self.is_stable() {
                self.my_hold().into()
            } else {
                RscHold::Transition
            },
            recent: self.recent.iter().cloned().collect(),
            late_heartbeats: self.late_heartbeats,
            dropped_packets: self.dropped,
            heartbeat_gaps: self.heartbeat_gaps.clone(),
            dropped_by_reason: self.dropped_by_reason.clone(),
        }
    }
}
