//! Typed events the core reports to the operator. `Display` is the log line
//! (subject first, with the numbers behind the decision); `level()` its severity.
//!
//! Where heartbeat 3.0.6 logs a line at the same moment, the line starts with
//! heartbeat's phrase, exact to case and punctuation (spec §8.4), so log
//! watchers and CTS-style patterns keep matching; hbd's numbers follow it.
//! docs/heartbeat-compat.md lists them. Levels follow meaning, not heartbeat:
//! what happens at every normal start is info, what an operator should look
//! at is a warning, what may have hurt the service is an error.

#![forbid(unsafe_code)]

use crate::core::HoldSet;
use crate::time::Duration;
use log::Level;
use std::fmt;

/// Why a received message was dropped (counted, reported rate-limited).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// `src`, `t` or a non-zero hex `ts` is missing, or `seq` is missing or
    /// not hex on a sequenced type.
    MissingField,
    /// `src` is not a configured node.
    UnknownNode,
    /// Generation older than the one we know (spec §3.2).
    Replay,
    /// A sequenced message with a newer generation that is not a `status`
    /// (only status moves the generation, §9.5).
    GenerationNotAnnounced,
    /// A sequence number we already processed and did not miss.
    OldSequence,
    /// An `NS_*` message whose `hg` does not match the peer's generation (§9.2).
    StaleControl,
    /// A message from a peer we declared dead that is not a `status` reviving it.
    PeerDead,
    /// An `NS_*` message with a generation the peer's `status` has not
    /// announced yet: it overtook that status (after our own start, or the
    /// peer's restart). Normal, hence debug.
    ControlBeforeStatus,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::MissingField => "missing or malformed src/t/ts/seq",
            DropReason::UnknownNode => "unknown node",
            DropReason::Replay => "old generation (replay?)",
            DropReason::GenerationNotAnnounced => "new generation on a non-status message",
            DropReason::OldSequence => "old sequence number",
            DropReason::StaleControl => "control message with a stale generation",
            DropReason::PeerDead => "peer is dead until it sends a status",
            DropReason::ControlBeforeStatus => {
                "control message before the peer's status announced its generation"
            }
        })
    }
}

/// Which timer declared the peer dead.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeadTimer {
    /// Never heard since our start (heartbeat's `initdead`).
    Initdead,
    /// Our `deadtime` (the peer advertises the same, or nothing).
    Deadtime,
    /// The dead time the peer advertised (`dt`), clamped (spec §3.3, §9.3).
    Advertised,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Our own status changed (`init`, `up`, `active`).
    LocalStatus {
        state: String,
    },
    LinkUp {
        node: String,
        link: String,
    },
    LinkDead {
        node: String,
        link: String,
        silence: Duration,
    },
    /// The peer's advertised status changed.
    PeerStatus {
        node: String,
        state: String,
    },
    /// The peer said `st=dead` in a status: never believed (spec §9.21).
    PeerClaimsDead {
        node: String,
    },
    /// No status from the peer for `timeout`, the value of `timer`.
    PeerDead {
        node: String,
        silence: Duration,
        timeout: Duration,
        timer: DeadTimer,
    },
    PeerRestarted {
        node: String,
        old_generation: u64,
        new_generation: u64,
    },
    /// A peer we had declared dead is heard again with the same generation.
    PartitionHealed {
        node: String,
    },
    LateHeartbeat {
        node: String,
        link: String,
        gap: Duration,
        warntime: Duration,
    },
    /// A link loses enough of the peer's datagrams to make a false death
    /// likelier than [`crate::core::redundancy::FALSE_DEATHS_PER_DAY`]:
    /// `advice` says how much, what it means for deadtime and what helps
    /// ([`crate::core::redundancy::advice`]). At most every 10 minutes a link.
    LinkLoss {
        node: String,
        link: String,
        advice: String,
    },
    /// `handle` was called this long after the deadline we asked for: our
    /// process or VM was stopped. The peer gets a fresh grace period.
    LocalStall {
        late: Duration,
    },
    /// The peer advertises a dead time different from ours; `used` is the
    /// clamped value we apply to it.
    PeerDeadtime {
        node: String,
        advertised: Duration,
        used: Duration,
        local: Duration,
    },
    PacketDropped {
        reason: DropReason,
        node: String,
        /// Drops of this kind since the last report (the report is rate-limited).
        count: u64,
    },
    LostPackets {
        node: String,
        count: u64,
        last: u64,
        seq: u64,
    },
    NoPacketsMissing {
        node: String,
    },
    IrretrievablyLost {
        node: String,
        seq: u64,
    },
    CommUp,
    /// Our local groups run after the start-up negotiation (`none`: the
    /// peer holds them, nothing was started).
    LocalAcquisitionComplete {
        none: bool,
    },
    /// This process's first acquisition is done (once); `reason` as heartbeat logs it.
    AcquisitionComplete {
        reason: String,
    },
    RemoteTransitionComplete {
        node: String,
    },
    TakeoverStarted {
        node: String,
        reason: String,
    },
    TakeoverComplete {
        node: String,
    },
    /// No fencing performed before taking over (`result=n_stnth`): none is
    /// configured. `never_heard`: the peer was not heard since our start (a
    /// node starting alone), so it is unlikely to hold anything.
    NoStonith {
        node: String,
        never_heard: bool,
    },
    /// Fencing `node` before taking over its groups ([`crate::core::Output::Fence`]).
    FenceRequested {
        node: String,
        reason: String,
    },
    FenceSucceeded {
        node: String,
    },
    /// The fence failed: retried after `retry_in` (fence_required), or None:
    /// taking over anyway (fence_required = false).
    FenceFailed {
        node: String,
        retry_in: Option<Duration>,
        attempt: u32,
    },
    /// A pending fence was abandoned (the peer came back, or we shut down).
    FenceCancelled {
        node: String,
        reason: String,
    },
    /// A ping node became reachable or unreachable; `reachable` of `total` now.
    PingNodeStatus {
        name: String,
        up: bool,
        reachable: usize,
        total: usize,
    },
    /// The peer reaches `peer` ping nodes (ipfail `num_ping_nodes`), we `local`.
    PeerPingNodes {
        node: String,
        peer: usize,
        local: usize,
    },
    PeerShutdown {
        node: String,
    },
    StandbyStarted {
        set: HoldSet,
    },
    PeerWantsStandby {
        node: String,
        set: HoldSet,
    },
    StandbyDone {
        set: HoldSet,
    },
    StandbyAcquired {
        set: HoldSet,
    },
    StandbyCancelled {
        reason: String,
    },
    /// The operator set (Some) or cleared the persistent standby.
    PersistentStandby {
        set: Option<HoldSet>,
    },
    /// This node entered (`on`) or left maintenance mode.
    Maintenance {
        on: bool,
    },
    /// Something this node would have done and did not, because this node
    /// (`peer: false`) or the peer is in maintenance mode.
    MaintenanceHeld {
        what: String,
        peer: bool,
    },
    /// The peer (an hbd) entered or left maintenance mode.
    PeerMaintenance {
        node: String,
        on: bool,
    },
    /// A planned restart: this node stops leaving its groups running; an hbd
    /// peer was told to wait `grace` beyond its dead time (None: nobody to tell).
    RestartAnnounced {
        grace: Option<Duration>,
        /// The peer runs heartbeat, which cannot wait: the groups are handed
        /// over first (a graceful stop).
        handover: bool,
    },
    /// `hbd restart` with a heartbeat peer: the groups handed over, the
    /// process ends (`reason`: the peer holds them, or the wait ran out).
    RestartHandedOver {
        reason: String,
    },
    /// The peer stops for a planned restart: it is declared dead only if it
    /// is not back `wait` after its last status.
    PeerRestarting {
        node: String,
        wait: Duration,
    },
    /// The start-up probe found `running` of the group's `of` resources
    /// running here.
    GroupFound {
        group: String,
        running: usize,
        of: usize,
    },
    /// A group found running here at start-up is kept, without a start: the
    /// peer does not hold it (or is dead).
    GroupAdopted {
        group: String,
    },
    /// A group found running here at start-up is held by the peer too: it
    /// is stopped here.
    GroupContested {
        group: String,
        holder: String,
    },
    AutoFailback,
    ShutdownStarted,
    /// Shutdown released every group and the peer is told to take them.
    ResourcesRelinquished,
    /// The start-up negotiation waits for the peer to say it is stable, at
    /// most `wait` (heartbeat's RQSTDELAY deadlock breaker).
    StartupWait {
        node: String,
        wait: Duration,
    },
    /// RQSTDELAY passed without a stable peer: this node decides alone.
    LocalTransitionComplete {
        node: String,
        waited: Duration,
    },
    /// The hbd peer's configuration differs on a part both must agree on.
    PeerConfigDiffers {
        node: String,
        /// One line per difference, naming the part and both values.
        differences: Vec<String>,
    },
    /// The hbd peer's configuration agrees with ours (first compared in its
    /// generation, or a mismatch resolved).
    PeerConfigAgrees {
        node: String,
    },
    GroupStarted {
        group: String,
    },
    GroupStopped {
        group: String,
    },
    /// A resource failed to start; the group is being stopped and handed over.
    StartFailed {
        group: String,
        resource: String,
        code: Option<i32>,
        reason: String,
    },
    /// A stop failed and will be retried in 1 s.
    StopRetry {
        group: String,
        resource: String,
        attempt: u32,
        reason: String,
    },
    /// A stop failed for good: the group may still be active here and is
    /// never offered to the peer.
    StopFailed {
        group: String,
        resource: String,
        attempts: u32,
        reason: String,
    },
    /// `StopFailurePolicy::Reboot`: the shell must reboot the node now.
    RebootRequired {
        group: String,
    },
    /// After a healed partition we release `group` to its home node.
    ReleaseAfterPartition {
        group: String,
        keeper: String,
    },
    /// A group we failed to start is not acquired again (avoids ping-pong).
    AcquireSkipped {
        group: String,
        reason: String,
    },
    ReloadApplied,
    ReloadRefused {
        reason: String,
    },
    /// `StepDone` with an id we are not waiting for.
    UnexpectedStep {
        id: u64,
    },

    // Resource monitoring and `hbd cleanup`, kept together in this block.
    /// A monitor check failed, `failures` in a row of the `fall` that fail the resource.
    MonitorCheckFailed {
        group: String,
        resource: String,
        failures: u32,
        fall: u32,
        reason: String,
    },
    /// A resource failed its monitor `fall` times in a row: counted, and `action` taken.
    MonitorFailed {
        group: String,
        resource: String,
        fail_count: u32,
        reason: String,
        action: MonitorAction,
    },
    /// A failed resource passed `rise` checks in a row.
    MonitorRecovered {
        group: String,
        resource: String,
    },
    /// A check answered after its group changed state: ignored.
    MonitorStale {
        group: String,
        resource: String,
    },
    /// `failure_timeout` passed since the last failure: the count is cleared.
    FailureExpired {
        group: String,
        resource: String,
        fail_count: u32,
    },
    /// `hbd cleanup`: failures forgotten, resources being re-probed.
    CleanupStarted {
        group: String,
    },
    /// The re-probe found `running` of `of` resources running here; `next`
    /// says what follows (keep, stop, start here, leave to the peer).
    CleanupDone {
        group: String,
        running: usize,
        of: usize,
        next: String,
    },
}

/// What a monitor failure led to ([`Event::MonitorFailed`]).
#[derive(Clone, Debug, PartialEq)]
pub enum MonitorAction {
    /// The resource and those right of it are restarted; restart `attempt`
    /// of `max` within `window`.
    Restart {
        attempt: u32,
        max: u32,
        window: Duration,
    },
    /// The group is stopped and handed to `to` (None: the peer cannot take
    /// it, so it stays stopped here). `restarts`: it had been restarted that
    /// many times within the window already.
    Move {
        to: Option<String>,
        restarts: Option<(u32, Duration)>,
    },
    /// Left as it is, marked failed, no longer managed.
    Block,
    Ignore,
}

impl MonitorAction {
    /// The `on_fail` word of what was done (`restart`, `move`, `block`, `ignore`).
    pub fn word(&self) -> &'static str {
        match self {
            MonitorAction::Restart { .. } => "restart",
            MonitorAction::Move { .. } => "move",
            MonitorAction::Block => "block",
            MonitorAction::Ignore => "ignore",
        }
    }
}

impl Event {
    pub fn level(&self) -> Level {
        use Event::*;
        match self {
            // A copy on the slower link overtaken by a newer message is normal
            // with two links (§4.5); heartbeat drops it silently.
            PacketDropped {
                reason: DropReason::OldSequence | DropReason::ControlBeforeStatus,
                ..
            } => Level::Debug,
            // A node starting alone: what initdead is for.
            PeerDead {
                timer: DeadTimer::Initdead,
                ..
            }
            | NoStonith {
                never_heard: true, ..
            } => Level::Info,
            StopFailed { .. }
            | StartFailed { .. }
            | RebootRequired { .. }
            | PartitionHealed { .. }
            | FenceFailed { .. }
            | PeerConfigDiffers { .. } => Level::Error,
            MonitorFailed {
                action: MonitorAction::Ignore,
                ..
            } => Level::Warn,
            MonitorFailed { .. } => Level::Error,
            MonitorCheckFailed { .. } => Level::Warn,
            MonitorStale { .. } => Level::Debug,
            // heartbeat's own level for a death; the takeover follows.
            PeerDead { .. }
            | NoStonith { .. }
            | LinkDead { .. }
            | PeerClaimsDead { .. }
            | LateHeartbeat { .. }
            | LinkLoss { .. }
            | LocalStall { .. }
            | PeerDeadtime { .. }
            | PacketDropped { .. }
            | LostPackets { .. }
            | IrretrievablyLost { .. }
            | StandbyCancelled { .. }
            | MaintenanceHeld { .. }
            | PeerRestarting { .. }
            | GroupContested { .. }
            | StopRetry { .. }
            | AcquireSkipped { .. }
            | ReloadRefused { .. }
            | UnexpectedStep { .. }
            | ReleaseAfterPartition { .. }
            | FenceRequested { .. }
            | FenceCancelled { .. }
            | PingNodeStatus { up: false, .. } => Level::Warn,
            _ => Level::Info,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Event::*;
        match self {
            LocalStatus { state } => write!(f, "Local status now set to: '{state}'"),
            LinkUp { node, link } => write!(f, "Link {node}:{link} up."),
            LinkDead {
                node,
                link,
                silence,
            } => write!(f, "Link {node}:{link} dead. (silent for {silence})"),
            PeerStatus { node, state } => write!(f, "Status update for node {node}: status {state}"),
            PeerClaimsDead { node } => write!(
                f,
                "{node}: status says dead; ignored (death is decided by dead time only)"
            ),
            PeerDead {
                node,
                silence,
                timeout,
                timer: DeadTimer::Initdead,
            } => write!(
                f,
                "node {node}: is dead (not heard in the {silence} since start-up; initdead {timeout})"
            ),
            PeerDead {
                node,
                silence,
                timeout,
                timer,
            } => write!(
                f,
                "node {node}: is dead ({silence} without a status; {}deadtime {timeout})",
                if *timer == DeadTimer::Advertised {
                    "its advertised "
                } else {
                    ""
                }
            ),
            // Generations in decimal everywhere, as heartbeat logs them and
            // keeps them in hb_generation (only `hg` on the wire is hex).
            PeerRestarted {
                node,
                old_generation,
                new_generation,
            } => write!(
                f,
                "Heartbeat restart on node {node} (generation {old_generation} -> {new_generation})"
            ),
            PartitionHealed { node } => write!(
                f,
                "Cluster node {node} returning after partition. (declared dead, heard again with the same generation: groups held by both go to their home node)"
            ),
            LateHeartbeat {
                node,
                link,
                gap,
                warntime,
            } => write!(
                f,
                "Late heartbeat: Node {node}: interval {} ms (on {link}; warntime {warntime})",
                gap.millis()
            ),
            LinkLoss { node, advice, .. } => write!(f, "{node}: {advice}"),
            LocalStall { late } => write!(
                f,
                "this node stalled: timer ran {late} late; peer given a fresh grace period"
            ),
            PeerDeadtime {
                node,
                advertised,
                used,
                local,
            } => write!(
                f,
                "{node} advertises deadtime {advertised} (ours {local}); using {used}"
            ),
            PacketDropped {
                reason,
                node,
                count,
            } => write!(f, "dropped {count} packet(s) from [{node}]: {reason}"),
            LostPackets {
                node,
                count,
                last,
                seq,
            } => write!(f, "{count} lost packet(s) for [{node}] [{last}:{seq}]"),
            NoPacketsMissing { node } => write!(f, "No pkts missing from {node}!"),
            IrretrievablyLost { node, seq } => {
                write!(f, "Irretrievably lost packet: node {node} seq {seq}")
            }
            CommUp => f.write_str("Comm_now_up(): updating status to active"),
            LocalAcquisitionComplete { none: false } => {
                f.write_str("Local Resource acquisition completed.")
            }
            LocalAcquisitionComplete { none: true } => {
                f.write_str("Local Resource acquisition completed. (none)")
            }
            AcquisitionComplete { reason } => {
                write!(f, "Initial resource acquisition complete ({reason})")
            }
            RemoteTransitionComplete { node } => {
                write!(f, "remote resource transition completed. ({node} is stable)")
            }
            TakeoverStarted { node, reason } => {
                write!(f, "Resources being acquired from {node}. ({reason})")
            }
            TakeoverComplete { node } => {
                write!(f, "mach_down takeover complete. (every group of {node} runs here)")
            }
            NoStonith {
                node,
                never_heard: true,
            } => write!(
                f,
                "taking over without fencing: {node} was not heard since start-up and no fencing is configured"
            ),
            NoStonith {
                node,
                never_heard: false,
            } => write!(
                f,
                "no STONITH performed before taking over from {node}: no fence_hook or stonith_host is configured, shared data is not protected"
            ),
            FenceRequested { node, reason } => {
                write!(f, "fencing {node} before taking over its resources ({reason})")
            }
            FenceSucceeded { node } => write!(f, "{node} fenced: taking over"),
            FenceFailed {
                node,
                retry_in: Some(d),
                attempt,
            } => write!(
                f,
                "fencing {node} failed (attempt {attempt}): not taking over, retrying in {d} (fence_required)"
            ),
            FenceFailed {
                node,
                retry_in: None,
                attempt,
            } => write!(
                f,
                "fencing {node} failed (attempt {attempt}): taking over anyway (fence_required = false); shared data is not protected"
            ),
            FenceCancelled { node, reason } => {
                write!(f, "fencing {node} cancelled: {reason}")
            }
            PingNodeStatus {
                name,
                up,
                reachable,
                total,
            } => write!(
                f,
                "ping node {name} {}: {reachable} of {total} reachable",
                if *up { "reachable" } else { "unreachable" }
            ),
            PeerPingNodes { node, peer, local } => write!(
                f,
                "{node} reaches {peer} ping node(s), we reach {local}"
            ),
            PeerShutdown { node } => write!(f, "Received shutdown notice from '{node}'."),
            StandbyStarted { set } => write!(f, "Going standby [{set}]."),
            PeerWantsStandby { node, set } => {
                write!(f, "{node} wants to go standby [{}]", set)
            }
            StandbyDone { set } => write!(f, "Local standby process completed [{set}]."),
            StandbyAcquired { set } => {
                write!(f, "Standby resource acquisition done [{set}].")
            }
            StandbyCancelled { reason } => write!(f, "standby cancelled: {reason}"),
            PersistentStandby { set: Some(set) } => write!(
                f,
                "persistent standby [{set}]: these groups run on the peer whenever it is alive, across restarts, until `hbd standby --clear`"
            ),
            Maintenance { on: true } => f.write_str(
                "maintenance mode on: heartbeats go on; nothing is started, stopped, monitored or taken over by this node until `hbd maintenance off`",
            ),
            Maintenance { on: false } => f.write_str(
                "maintenance mode off: monitoring resumes and this node decides again where its groups run",
            ),
            MaintenanceHeld { what, peer: false } => {
                write!(f, "maintenance mode: {what} not done (`hbd maintenance off` ends it)")
            }
            MaintenanceHeld { what, peer: true } => {
                write!(f, "peer in maintenance mode: {what} not done until it ends")
            }
            PeerMaintenance { node, on: true } => write!(
                f,
                "{node} is in maintenance mode: its groups stay where they are (it is still taken over if it falls silent for its dead time)"
            ),
            PeerMaintenance { node, on: false } => write!(f, "{node} left maintenance mode"),
            RestartAnnounced { handover: true, .. } => f.write_str(
                "planned restart: the peer runs heartbeat, which cannot wait for it: handing the groups over first (a graceful stop)",
            ),
            RestartAnnounced { grace: Some(g), .. } => write!(
                f,
                "planned restart: leaving every group running; the peer waits {g} beyond its dead time for the new process"
            ),
            RestartAnnounced { grace: None, .. } => f.write_str(
                "planned restart: leaving every group running (no live hbd peer to tell)",
            ),
            RestartHandedOver { reason } => write!(
                f,
                "planned restart: groups handed over to the heartbeat peer ({reason}); starting again"
            ),
            PeerRestarting { node, wait } => write!(
                f,
                "{node} restarts (planned) leaving its groups running: not declared dead unless silent for {wait}"
            ),
            GroupFound { group, running, of } => write!(
                f,
                "start-up probe: {running} of {of} resources of group {group} running here"
            ),
            GroupAdopted { group } => write!(
                f,
                "group {group} found running here and not held by the peer: kept without a restart"
            ),
            GroupContested { group, holder } => write!(
                f,
                "group {group} found running here but {holder} holds it: stopping it here"
            ),
            PersistentStandby { set: None } => f.write_str(
                "persistent standby cleared: groups stay where they run (hbd takeover brings them here)",
            ),
            AutoFailback => f.write_str("auto failback: giving foreign groups back to their home node"),
            ShutdownStarted => {
                f.write_str("shutdown: releasing every group, then telling the peer (shutdone)")
            }
            ResourcesRelinquished => f.write_str("All HA resources relinquished."),
            StartupWait { node, wait } => write!(
                f,
                "start-up negotiation: waiting up to {wait} for {node} to say it is stable (RQSTDELAY)"
            ),
            LocalTransitionComplete { node, waited } => write!(
                f,
                "local resource transition completed. ({node} not stable after {waited}, RQSTDELAY: deciding alone)"
            ),
            PeerConfigDiffers { node, differences } => write!(
                f,
                "configuration differs from {node}'s: {} (both nodes must agree on these; the home-node rule depends on it)",
                differences.join("; ")
            ),
            PeerConfigAgrees { node } => write!(
                f,
                "configuration agrees with {node}'s (groups and home nodes, auto_failback, timers, auth methods, ping nodes)"
            ),
            GroupStarted { group } => write!(f, "group {group} started"),
            GroupStopped { group } => write!(f, "group {group} stopped"),
            StartFailed {
                group,
                resource,
                code,
                reason,
            } => write!(
                f,
                "Giving up resources due to failure of {resource} (group {group}; exit {}: {reason}); not started here again until `hbd cleanup {group}`",
                code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
            ),
            StopRetry {
                group,
                resource,
                attempt,
                reason,
            } => write!(
                f,
                "stop of {resource} in group {group} failed (attempt {attempt}: {reason}); retrying in 1s"
            ),
            StopFailed {
                group,
                resource,
                attempts,
                reason,
            } => write!(
                f,
                "Resource STOP failure: {resource} in group {group} failed {attempts} times ({reason}); group may still be active here and is never offered to the peer; stop it by hand, then `hbd cleanup {group}`"
            ),
            RebootRequired { group } => write!(
                f,
                "Resource STOP failure. Reboot required! (group {group} could not be stopped; stop_failure = reboot)"
            ),
            ReleaseAfterPartition { group, keeper } => write!(
                f,
                "releasing group {group}: {keeper} runs it too and keeps it (home-node rule)"
            ),
            AcquireSkipped { group, reason } => write!(f, "not acquiring group {group}: {reason}"),
            ReloadApplied => f.write_str("reload: new timings applied"),
            ReloadRefused { reason } => write!(f, "reload refused: {reason}"),
            UnexpectedStep { id } => write!(f, "result for step {id} which is not outstanding; ignored"),
            MonitorCheckFailed {
                group,
                resource,
                failures,
                fall,
                reason,
            } => write!(
                f,
                "monitor of {resource} in group {group} failed ({failures} of {fall} in a row): {reason}"
            ),
            MonitorFailed {
                group,
                resource,
                fail_count,
                reason,
                action,
            } => {
                write!(
                    f,
                    "RESOURCE MONITOR FAILURE: {resource} in group {group} ({reason}; fail count {fail_count}): "
                )?;
                match action {
                    MonitorAction::Restart {
                        attempt,
                        max,
                        window,
                    } => write!(
                        f,
                        "restarting it and the resources after it (restart {attempt} of {max} within {window})"
                    ),
                    MonitorAction::Move { to, restarts } => {
                        if let Some((n, window)) = restarts {
                            write!(f, "restarted {n} times within {window} already; ")?;
                        }
                        match to {
                            Some(peer) => write!(
                                f,
                                "stopping the group and handing it to {peer}; not started here again until `hbd cleanup {group}`"
                            ),
                            None => write!(
                                f,
                                "stopping the group; the peer cannot take it, so it stays stopped until `hbd cleanup {group}`"
                            ),
                        }
                    }
                    MonitorAction::Block => write!(
                        f,
                        "group blocked: left as it is and no longer managed until `hbd cleanup {group}`"
                    ),
                    MonitorAction::Ignore => f.write_str("ignored (on_fail = ignore)"),
                }
            }
            MonitorRecovered { group, resource } => {
                write!(f, "monitor of {resource} in group {group}: running again")
            }
            MonitorStale { group, resource } => write!(
                f,
                "monitor result for {resource} in group {group} ignored: the group changed state since the check began"
            ),
            FailureExpired {
                group,
                resource,
                fail_count,
            } => write!(
                f,
                "failure_timeout passed: fail count {fail_count} of {resource} in group {group} cleared"
            ),
            CleanupStarted { group } => write!(
                f,
                "cleanup of group {group}: failures forgotten, re-probing its resources"
            ),
            CleanupDone {
                group,
                running,
                of,
                next,
            } => write!(
                f,
                "cleanup of group {group}: {running} of {of} resources running here; {next}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(reason: DropReason) -> Event {
        Event::PacketDropped {
            reason,
            node: "beta".into(),
            count: 3,
        }
    }

    #[test]
    fn slower_link_copies_are_debug_but_replays_warn() {
        assert_eq!(dropped(DropReason::OldSequence).level(), Level::Debug);
        // A control message overtaking the status that announces a new
        // generation: every restart does it.
        assert_eq!(
            dropped(DropReason::ControlBeforeStatus).level(),
            Level::Debug
        );
        assert_eq!(dropped(DropReason::StaleControl).level(), Level::Warn);
        assert_eq!(dropped(DropReason::Replay).level(), Level::Warn);
        assert_eq!(dropped(DropReason::UnknownNode).level(), Level::Warn);
    }
}
