//! The pure core: every failover decision, and nothing else.
//!
//! No sockets, no clock, no tokio, no randomness it was not handed. The shell
//! feeds it with [`Node::handle`] (time is a parameter), pulls decisions with
//! [`Node::poll_output`], sleeps until [`Node::next_deadline`], and shows
//! [`Node::status`]. One task owns a `Node`: no locks.
//!
//! This file is the vocabulary of the contract between the core and the
//! shell (inputs, outputs, status); `node.rs` is its front door and
//! `machine.rs` and the files beside it own the state (see its module docs).

#![forbid(unsafe_code)]

use crate::config::Config;
use crate::time::{Duration, Instant};
use crate::wire::{Invalid, Message, Repr};
use std::fmt;

mod agreement;
pub mod announce;
mod delivery;
mod events;
mod fencing;
mod ipfail;
mod jobs;
mod liveness;
mod machine;
mod maintenance;
mod monitor;
mod negotiation;
mod node;
pub mod redundancy;
mod rng;
mod standby;
mod status;
mod timers;

pub use agreement::{PeerConfig, PeerConfigState};
pub use events::{DeadTimer, DropReason, Event, MonitorAction};
pub use maintenance::{MAX_RESTART_GRACE, RESTART_GRACE};
pub use node::Node;
pub use rng::Rng;
// The set is protocol vocabulary (`rsc_hold`): the wire layer parses it.
pub use crate::wire::hold::{BadHoldSet, HoldSet};
pub use status::{GroupState, MonitorState, NodeState, RscHold};

/// Index of a link in `Config::media` order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// Index of a resource group in `haresources` order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub usize);

/// An operator's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Give these groups to the peer (`hb_standby`).
    Standby(HoldSet),
    /// Take these groups from the peer (`hb_takeover`).
    Takeover(HoldSet),
    /// Release every group (right to left), tell the peer (`shutdone`), then
    /// emit [`Output::ShutdownComplete`].
    Shutdown,
    /// `hbd cleanup [GROUP]` (all groups when None): forget the group's
    /// failures here, re-probe its resources with `status` and decide again
    /// where it runs.
    Cleanup(Option<GroupId>),
    /// `hbd standby --persistent SET` (Some) and `--clear` (None); the shell
    /// also hands the state directory's record in right after start-up.
    /// While set, the groups of SET run on the peer whenever it is alive:
    /// this node hands them over once both sides are stable (at start-up, and
    /// after taking them because the peer died), does not take them at the
    /// end of the start-up negotiation, and ignores the peer's failback
    /// offers of them.
    PersistentStandby(Option<HoldSet>),
    /// `hbd maintenance on|off` (the state directory's record is handed in
    /// with [`NodeParams::maintenance`]). While on, heartbeats go on and
    /// this node starts, stops, monitors and takes over nothing; an hbd peer
    /// is told and moves none of its groups. Off resumes the monitors and
    /// decides again. On is refused while resources are in transition.
    Maintenance(bool),
    /// `hbd restart`: end this process leaving every group running
    /// ([`Output::ShutdownComplete`] without a release); an hbd peer is told
    /// to wait for the new process ([`RESTART_GRACE`] beyond its dead time).
    /// With a heartbeat peer it is a [`Command::Shutdown`] (it cannot wait).
    Restart,
}

/// What a resource script is asked to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Start,
    Stop,
    Status,
    /// OCF's `monitor` (exit 0 running, 7 stopped): only ever a [`Check`].
    Monitor,
}

impl Action {
    /// The word passed to the script as its last argument.
    pub fn word(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Status => "status",
            Action::Monitor => "monitor",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub u64);

/// One resource script invocation the shell must run and report back on
/// with [`Input::StepDone`]. The core never has two steps outstanding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: StepId,
    pub group: GroupId,
    /// Index into the group's `resources`.
    pub resource: usize,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// `start` or `stop` exited 0.
    Ok,
    /// `status` ran; whether its output says running (heartbeat's rule, spec §6.2).
    Running(bool),
    /// Non-zero exit, killed on timeout, not found or not executable:
    /// `reason` says which, `output` is the last lines the script wrote.
    Failed {
        code: Option<i32>,
        reason: String,
        output: String,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId(pub u64);

/// One monitor check the shell must run (`status` or `monitor` of one
/// resource, killed after `timeout`) and answer with [`Input::CheckDone`].
/// Checks are read-only and run beside the one outstanding [`Step`] and
/// each other (at most one per resource); the core ignores the answer of a
/// check whose group changed state since it was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub id: CheckId,
    pub group: GroupId,
    pub resource: usize,
    /// [`Action::Status`] or [`Action::Monitor`].
    pub action: Action,
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Running,
    /// Not running, or the check itself failed (an OCF error code, killed at
    /// its timeout, not found): `reason` says which, `output` is its last lines.
    Failed {
        code: Option<i32>,
        reason: String,
        output: String,
    },
}

// The typed message is kept inline (its short values too, `wire::Text`):
// boxing it would cost a heap allocation per heartbeat, which the idle path
// avoids (tests/idle_alloc.rs); a few hundred bytes moved is cheaper.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A message that passed framing, authentication and the envelope rules
    /// ([`Repr::parse`]), received on `link`. Duplicate, replay and sequence
    /// decisions are the core's. Build it with [`Input::received`].
    Message {
        link: LinkId,
        msg: Repr,
    },
    /// A verified message without a usable envelope: only counted (with the
    /// other drops, by reason) and reported. Build it with [`Input::received`].
    Invalid(Invalid),
    /// The shell's view of a link's transport (a serial hang-up, a reopen).
    LinkTransport {
        link: LinkId,
        up: bool,
    },
    Command(Command),
    StepDone {
        id: StepId,
        outcome: StepOutcome,
    },
    /// The answer to [`Output::Check`].
    CheckDone {
        id: CheckId,
        outcome: CheckOutcome,
    },
    /// A new configuration that passed `validate()` (SIGHUP). Node names and
    /// resource groups must be unchanged; timings and media may change.
    Reload(Box<Config>),
    /// The answer to [`Output::Fence`]: the hook or `stonith` exited 0 (`ok`)
    /// or not. An answer for a node no longer being fenced is ignored.
    FenceDone {
        node: String,
        ok: bool,
    },
    /// A ping node (`Config::ping_nodes[index]`) became reachable (first echo
    /// reply) or unreachable (`deadping` without a reply). Only changes count.
    PingNode {
        index: usize,
        up: bool,
    },
    /// Nothing arrived; a deadline may have passed.
    Timer,
}

impl Input {
    /// What a verified message received on `link` is for the core of node
    /// `local`: typed at the edge, or an invalid one to count; None for our
    /// own message, which broadcast and ucast to our own address bring back
    /// (it is not the peer being heard). The one place that rule lives.
    pub fn received(link: LinkId, msg: Message, local: &str) -> Option<Input> {
        Input::typed(link, Repr::parse(msg), local)
    }

    /// [`Input::received`] of a message already typed (`wire::open_repr`,
    /// which reads a datagram without building a [`Message`]).
    pub fn typed(link: LinkId, parsed: Result<Repr, Invalid>, local: &str) -> Option<Input> {
        let src = match &parsed {
            Ok(m) => Some(m.src.as_str()),
            Err(e) => e.src.as_deref(),
        };
        if src.is_some_and(|s| s.eq_ignore_ascii_case(local)) {
            return None;
        }
        Some(match parsed {
            Ok(msg) => Input::Message { link, msg },
            Err(e) => Input::Invalid(e),
        })
    }
}

/// A decision, pulled by the shell with [`Node::poll_output`].
// Inline for the same reason as `Input::Message`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Seal and send `msg` (complete envelope; [`Repr::into_message`] gives the
    /// fields, without `auth`) on `link`, or on every link when `link` is None.
    Send { msg: Repr, link: Option<LinkId> },
    /// Run one resource script step and answer with [`Input::StepDone`].
    Run(Step),
    /// Run one monitor check and answer with [`Input::CheckDone`].
    Check(Check),
    /// Something happened; the shell logs it at `event.level()`.
    Event(Event),
    /// Graceful shutdown finished: every group released, the peer told.
    ShutdownComplete,
    /// Fence `node` (run `fence_hook NODE`, or `stonith -T reset NODE` for a
    /// `stonith_host`) and answer with [`Input::FenceDone`]. The core takes
    /// over nothing of that node until then; at most one fence is outstanding.
    Fence { node: String, reason: String },
    /// The core declined an operator command or a step of its own: the shell
    /// logs it (warning) and answers the control request that asked, if any.
    Refused(Refusal),
    /// After a healed partition we keep `group`, or at start-up we adopt it
    /// found running here, but clients may still have the peer's MAC for its
    /// addresses: re-run `start` of its address resources (which on an
    /// address already held only re-announces it). Nothing is reported back.
    /// At most once per conflict over the group, once per adoption.
    Reannounce { group: GroupId },
}

/// What was asked, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub command: String,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {}", self.command, self.reason)
    }
}

/// Everything the core needs to start. The shell reads generation and uuid from
/// the state directory and the wall clock once.
#[derive(Clone, Debug)]
pub struct NodeParams {
    pub config: Config,
    /// The local node's name, lowercased; one of `config.nodes`.
    pub local: String,
    /// This run's generation (`hg`), already incremented and persisted.
    pub generation: u64,
    pub uuid: [u8; 16],
    /// Unix seconds at `Instant::ZERO`, so `ts` fields can be computed without a clock.
    pub wall_clock_at_zero: u64,
    /// Seeds the core's own PRNG (ACK trigger, retransmission delays).
    pub seed: u64,
    /// Start in maintenance mode (`hbd maintenance on --persistent`).
    pub maintenance: bool,
    /// Probe every resource with `status` before anything else, and keep
    /// the groups found running unless the peer holds them (a restart moves
    /// nothing). `hbd run` sets it.
    pub probe_at_start: bool,
}

/// A plain snapshot for `hbd status`, `cl_status` and the demo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub local: NodeStatus,
    pub peer: NodeStatus,
    /// The peer's liveness on each configured link, in `Config::media` order.
    pub links: Vec<LinkStatus>,
    pub groups: Vec<GroupStatus>,
    /// What this node holds, or `transition` (`cl_status rscstatus`).
    pub rsc_hold: RscHold,
    /// The last transitions, oldest first, with why (at most 32).
    pub recent: Vec<(Instant, String)>,
    pub late_heartbeats: u64,
    /// Received messages the core dropped (missing fields, unknown node,
    /// replay, stale sequence or generation); each kind is also reported,
    /// rate-limited, as `Event::PacketDropped`.
    pub dropped_packets: u64,
    /// Gaps between consecutive `status` messages from the peer (any link).
    pub heartbeat_gaps: GapHistogram,
    /// `dropped_packets` by reason (exact, unlike the rate-limited events).
    pub dropped_by_reason: std::collections::BTreeMap<DropReason, u64>,
    /// While the start-up negotiation waits for the peer to become stable:
    /// when heartbeat's deadlock breaker (RQSTDELAY) ends the wait.
    pub startup_wait: Option<Instant>,
    /// hbd peers: whether its configuration agrees with ours.
    pub peer_config: PeerConfig,
    /// The operator's persistent standby (`hbd standby --persistent`).
    pub persistent_standby: Option<HoldSet>,
    /// `hbd maintenance on`.
    pub maintenance: bool,
    /// The peer (an hbd) says it is in maintenance mode.
    pub peer_maintenance: bool,
    /// The peer announced a planned restart: when it is declared dead if
    /// nothing is heard from it by then.
    pub peer_restart_deadline: Option<Instant>,
}

/// A fixed-bucket histogram of heartbeat gaps, so deadtime can be tuned from
/// evidence (Prometheus `histogram` semantics: bucket counts are cumulative
/// when rendered, stored here per bucket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapHistogram {
    /// Upper bounds, ascending, without +Inf.
    pub bounds: Vec<Duration>,
    /// `counts[i]` = gaps in `(bounds[i-1], bounds[i]]`; the last entry counts
    /// gaps above every bound (`counts.len() == bounds.len() + 1`).
    pub counts: Vec<u64>,
    pub sum: Duration,
    pub count: u64,
}

impl GapHistogram {
    /// Buckets at fractions and multiples of `keepalive` (a healthy link sits at
    /// 1×), plus `warntime` and `deadtime` themselves: a gap near deadtime is
    /// the evidence that deadtime is too tight.
    pub fn for_timing(keepalive: Duration, warntime: Duration, deadtime: Duration) -> Self {
        let k = keepalive.millis();
        let mut b: Vec<u64> = [
            k / 2,
            k * 3 / 4,
            k * 9 / 10,
            k * 11 / 10,
            k * 5 / 4,
            k * 3 / 2,
            k * 2,
            k * 3,
            k * 5,
            k * 10,
        ]
        .into_iter()
        .chain([warntime.millis(), deadtime.millis()])
        .filter(|&ms| ms > 0)
        .collect();
        b.sort_unstable();
        b.dedup();
        GapHistogram {
            counts: vec![0; b.len() + 1],
            bounds: b.into_iter().map(Duration::from_millis).collect(),
            sum: Duration::ZERO,
            count: 0,
        }
    }

    pub fn observe(&mut self, gap: Duration) {
        let i = self.bounds.partition_point(|b| *b < gap);
        self.counts[i] += 1;
        self.sum = self.sum + gap;
        self.count += 1;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub name: String,
    pub state: NodeState,
    pub generation: Option<u64>,
    pub last_heard: Option<Instant>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStatus {
    pub name: String,
    pub up: bool,
    pub last_heard: Option<Instant>,
    /// Status messages from the peer that arrived later than `warntime`.
    pub late: u64,
    /// Of the peer's last numbers counted on this link (its `hbdn`, else its
    /// sequence numbers), how many never came: `(lost, of)`; None before any
    /// came (core::redundancy).
    pub rx_loss: Option<(u32, u32)>,
    /// What an hbd peer last said it missed of ours here: `(lost, of)`.
    pub tx_loss: Option<(u32, u32)>,
    /// How many times each of our statuses goes on this link (1 unless the
    /// peer is an hbd and redundancy is on).
    pub copies: u32,
    /// What the loss counted here means for the peer's dead time, when a
    /// false death is likelier than `redundancy::FALSE_DEATHS_PER_DAY`.
    pub advice: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub key: String,
    pub home: String,
    /// The node believed to hold it (None: nobody).
    pub owner: Option<String>,
    pub state: GroupState,
    /// Why the group is failed here (a start or stop failure, or a monitor
    /// failure that blocked or moved it): kept until `hbd cleanup`, a
    /// takeover or `failure_timeout` clears it.
    pub failure: Option<Failure>,
    /// One per resource, in `haresources` order.
    pub resources: Vec<ResourceStatus>,
}

/// One failed script run: what, how and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The resource as written (`IPaddr::10.0.0.5`).
    pub resource: String,
    pub action: Action,
    pub code: Option<i32>,
    pub reason: String,
    /// The last lines the script wrote.
    pub output: String,
    pub at: Instant,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceStatus {
    /// Failures here (starts, stops, monitors) since the last cleanup or
    /// `failure_timeout`.
    pub fail_count: u32,
    /// None: not monitored.
    pub monitor: Option<MonitorState>,
    pub last_failure: Option<Failure>,
}
