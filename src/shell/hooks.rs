//! Hooks: the outside world told what happened, after the fact. Two kinds,
//! each on its own bounded queue with one worker, so a slow or hung script
//! delays only the hooks behind it, never a heartbeat, a decision or a
//! resource step:
//!
//! * heartbeat's `rc.d` event scripts, run as heartbeat runs them (spec §6.3):
//!   `harc TYPE` (or `rc.d/TYPE TYPE` without a usable harc) for the messages
//!   heartbeat notifies on, with every string field as `HA_<name>`,
//!   `HA_OSTATUS` and the daemon-wide `HA_` variables resource scripts get.
//!   heartbeat's own scripts in `rc.d` are its resource manager and are never
//!   run ([`crate::config::rcd`]).
//! * hbd's `notify` hook: `HOOK EVENT NODE GROUP` once per transition, the
//!   details in `HBD_*` variables. [`notice`] maps the core's events to it, in
//!   one place; group lifecycle comes from the group states ([`group_notice`]).
//!
//! Every run is in the script cage ([`script::run_argv`]): fixed argv,
//! scrubbed environment, own process group killed at its timeout, output
//! logged. A full queue drops the newest notification and counts it.

use super::script::{self, Ending};
use crate::config::{facts, rcd, Config};
use crate::core::{Event, GroupState, Status};
use crate::time::Duration;
use crate::wire::{FieldType, Message};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// Runs waiting per queue. A hung hook holds its queue for its timeout; what
/// arrives meanwhile waits here, and beyond this is dropped (and counted)
/// rather than held in memory without bound.
pub const QUEUE_LIMIT: usize = 64;

/// How long hooks still queued at shutdown may take to start; the one
/// running then always finishes (within its own timeout).
pub const DRAIN_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Message types heartbeat handles itself and never passes to `harc`: every
/// `NS_*` control message, the resource negotiation, the membership
/// handshake and the administrative ones. `status` goes to `harc` only when
/// the peer's status changes ([`Hooks::event`]).
const NEVER_NOTIFIED: [&str; 12] = [
    "status",
    "starting",
    "resource",
    "ask_resources",
    "shutdone",
    "reqnodes",
    "repnodes",
    "query-cstatus",
    "addnode",
    "delnode",
    "setweight",
    "setsite",
];

/// Whether heartbeat would pass a delivered message of type `t` to `harc`
/// (its default handler, `ip-request` and `ip-request-resp`). `from_self`:
/// our own message, which heartbeat loops back to itself.
fn notified_type(t: &str, from_self: bool) -> bool {
    !(t.starts_with("NS_")
        || NEVER_NOTIFIED.contains(&t)
        // heartbeat ignores its own ip-request (it asked).
        || (from_self && t == "ip-request"))
}

/// Other message types a v1 pair sends that reach `harc` (spec §3.7).
const SENT_IN_V1: [&str; 6] = [
    "ip-request-resp",
    "hbapi-clstat",
    "respond-cstatus",
    "num_ping_nodes",
    "you_are_dead",
    "abort_giveup",
];

/// When hbd runs `rc.d/NAME`, for `hbd check`'s list.
pub fn rc_trigger(name: &str) -> String {
    match name {
        "status" => {
            "when the peer's status changes, and for a node declared dead (HA_st=dead)".into()
        }
        "ip-request" => "when the peer asks for its group back (auto_failback legacy)".into(),
        "hb_takeover" => "on each hb_takeover, ours or the peer's".into(),
        "stonith" => "after each fencing decision (t=stonith), ours or the peer's".into(),
        t if !notified_type(t, false) => {
            format!("never: heartbeat and hbd handle {t} messages themselves")
        }
        t if SENT_IN_V1.contains(&t) => format!("on each {t} message, ours or the peer's"),
        t => format!("only on a message of type {t}, which neither heartbeat 3.0.6 nor hbd sends"),
    }
}

/// One notification for the `notify` hook: `HOOK EVENT NODE GROUP`, and in
/// the environment `HBD_EVENT`, `HBD_NODE`, `HBD_GROUP` and `HBD_<var>` for
/// each of `vars` (docs/config-reference.md lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub event: &'static str,
    /// The node it is about: the peer, this node, or a ping node.
    pub node: String,
    /// The resource group it is about; empty when none.
    pub group: String,
    pub vars: Vec<(&'static str, String)>,
}

impl Notice {
    fn new(event: &'static str, node: &str) -> Notice {
        Notice {
            event,
            node: node.to_string(),
            group: String::new(),
            vars: Vec::new(),
        }
    }

    fn group(mut self, g: &str) -> Notice {
        self.group = g.to_string();
        self
    }

    fn var(mut self, k: &'static str, v: impl ToString) -> Notice {
        self.vars.push((k, v.to_string()));
        self
    }

    fn ms(self, k: &'static str, d: Duration) -> Notice {
        self.var(k, d.millis())
    }
}

/// The `notify` event for one of the core's events, or None for those that
/// are no transition (routine, per packet, or told by [`group_notice`]). The
/// one place the mapping lives: a new core event is one line here, and the
/// match is exhaustive so none is forgotten.
#[rustfmt::skip] // a table: one line per event
pub fn notice(e: &Event, local: &str) -> Option<Notice> {
    use Event::*;
    let n = Notice::new;
    let opt = |v: Option<String>| v.unwrap_or_default();
    Some(match e {
        LocalStatus { state } => n("local-status", local).var("STATE", state),
        LinkUp { node, link } => n("link-up", node).var("LINK", link),
        LinkDead { node, link, silence } => n("link-dead", node).var("LINK", link).ms("SILENCE_MS", *silence),
        PeerStatus { node, state } if state == "up" || state == "active" => n("node-up", node).var("STATE", state),
        PeerStatus { node, state } => n("node-status", node).var("STATE", state),
        PeerDead { node, silence, timeout, .. } => n("node-dead", node).ms("SILENCE_MS", *silence).ms("DEADTIME_MS", *timeout),
        PeerRestarted { node, new_generation, .. } => n("node-restarted", node).var("GENERATION", new_generation.to_string()),
        PartitionHealed { node } => n("partition-healed", node),
        PeerShutdown { node } => n("node-shutdown", node),
        LocalStall { late } => n("local-stall", local).ms("LATE_MS", *late),
        PingNodeStatus { name, up: true, reachable, total } => n("ping-node-up", name).var("REACHABLE", reachable).var("TOTAL", total),
        PingNodeStatus { name, up: false, reachable, total } => n("ping-node-dead", name).var("REACHABLE", reachable).var("TOTAL", total),
        AcquisitionComplete { reason } => n("startup-complete", local).var("REASON", reason),
        TakeoverStarted { node, reason } => n("takeover-started", node).var("REASON", reason),
        TakeoverComplete { node } => n("takeover-complete", node),
        FenceRequested { node, reason } => n("fence-requested", node).var("REASON", reason),
        FenceSucceeded { node } => n("fence-result", node).var("RESULT", "ok"),
        FenceFailed { node, retry_in, attempt } => n("fence-result", node).var("RESULT", "failed").var("ATTEMPT", attempt).var("RETRY_IN_MS", opt(retry_in.map(|d| d.millis().to_string()))),
        FenceCancelled { node, reason } => n("fence-result", node).var("RESULT", "cancelled").var("REASON", reason),
        NoStonith { node, .. } => n("fence-result", node).var("RESULT", "none").var("REASON", "no fencing configured"),
        StandbyStarted { set } => n("standby-started", local).var("SET", set),
        PeerWantsStandby { node, set } => n("standby-requested", node).var("SET", set),
        StandbyDone { set } => n("standby-released", local).var("SET", set),
        StandbyAcquired { set } => n("standby-acquired", local).var("SET", set),
        StandbyCancelled { reason } => n("standby-cancelled", local).var("REASON", reason),
        PersistentStandby { set } => n("persistent-standby", local).var("SET", opt(set.map(|s| s.to_string()))),
        AutoFailback => n("failback", local),
        Maintenance { on } => n("maintenance", local).var("STATE", if *on { "on" } else { "off" }),
        PeerMaintenance { node, on } => n("node-maintenance", node).var("STATE", if *on { "on" } else { "off" }),
        RestartAnnounced { .. } => n("restart", local),
        PeerRestarting { node, wait } => n("node-restarting", node).ms("WAIT_MS", *wait),
        GroupContested { group, holder } => n("partition-release", local).group(group).var("REASON", format!("found running here at start-up but {holder} holds it")),
        // What maintenance holds back, and what the start-up probe finds: no transition.
        MaintenanceHeld { .. } | GroupFound { .. } | GroupAdopted { .. } | RestartHandedOver { .. } => return None,
        ShutdownStarted => n("shutdown", local),
        StartFailed { group, resource, code, reason } => n("start-failed", local).group(group).var("RESOURCE", resource).var("EXIT_CODE", opt(code.map(|c| c.to_string()))).var("REASON", reason),
        StopFailed { group, resource, attempts, reason } => n("stop-failed", local).group(group).var("RESOURCE", resource).var("ATTEMPT", attempts).var("REASON", reason),
        RebootRequired { group } => n("reboot-required", local).group(group),
        AcquireSkipped { group, reason } => n("acquire-skipped", local).group(group).var("REASON", reason),
        ReleaseAfterPartition { group, keeper } => n("partition-release", local).group(group).var("REASON", format!("{keeper} runs it too and keeps it (home node rule)")),
        MonitorFailed { group, resource, fail_count, reason, action } => n("monitor-failed", local).group(group).var("RESOURCE", resource).var("FAIL_COUNT", fail_count).var("ACTION", action.word()).var("REASON", reason),
        MonitorRecovered { group, resource } => n("monitor-recovered", local).group(group).var("RESOURCE", resource),
        FailureExpired { group, resource, .. } => n("failure-expired", local).group(group).var("RESOURCE", resource),
        CleanupDone { group, next, .. } => n("cleanup-done", local).group(group).var("REASON", next),
        // Below `fall` in a row, a stale answer, the cleanup's start: no change yet.
        MonitorCheckFailed { .. } | MonitorStale { .. } | CleanupStarted { .. } => return None,
        // Group lifecycle: from the group states, which also see starting and stopping.
        GroupStarted { .. } | GroupStopped { .. } => return None,
        // Routine, per packet, or no change of what runs where.
        PeerClaimsDead { .. } | LateHeartbeat { .. } | PeerDeadtime { .. } | PacketDropped { .. } => return None,
        LinkLoss { .. } => return None,
        LostPackets { .. } | NoPacketsMissing { .. } | IrretrievablyLost { .. } | CommUp => return None,
        RemoteTransitionComplete { .. } | PeerPingNodes { .. } | StopRetry { .. } => return None,
        ReloadApplied | ReloadRefused { .. } | UnexpectedStep { .. } => return None,
        // Log lines (heartbeat's phrases) and the peer's configuration: no transition.
        LocalAcquisitionComplete { .. } | ResourcesRelinquished | StartupWait { .. } => return None,
        LocalTransitionComplete { .. } | PeerConfigDiffers { .. } | PeerConfigAgrees { .. } => return None,
    })
}

/// The `notify` event for group `key` moving from `from` to `to` (as
/// [`Status`] shows it); `owner` the node holding it, if any.
pub fn group_notice(
    key: &str,
    from: GroupState,
    to: GroupState,
    owner: Option<&str>,
    local: &str,
) -> Notice {
    let event = match to {
        GroupState::Starting => "group-acquiring",
        GroupState::Running => "group-active",
        GroupState::Stopping => "group-releasing",
        GroupState::Stopped => "group-stopped",
        GroupState::Failed => "group-failed",
        GroupState::Peer => "group-on-peer",
    };
    Notice::new(event, owner.unwrap_or(local))
        .group(key)
        .var("STATE", to)
        .var("PREVIOUS_STATE", from)
}

/// One run of a hook in the cage.
#[derive(Clone, Debug)]
struct Job {
    /// For log lines: `notify node-dead`, `rc.d/status`.
    label: String,
    path: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
    /// Log success at info (rc.d, as heartbeat logs each harc run) or debug
    /// (notify: one more line per transition would double the log).
    loud: bool,
}

/// A bounded queue of jobs and the one worker running them in order.
struct Queue {
    what: &'static str,
    tx: Option<mpsc::Sender<Job>>,
    worker: Option<tokio::task::JoinHandle<()>>,
    /// Set at close: queued jobs not started by then are skipped.
    stop_starting_at: Arc<OnceLock<tokio::time::Instant>>,
    dropped_total: u64,
    /// Dropped since the last job accepted; told to the next one.
    dropped_since: u64,
}

impl Queue {
    fn new(what: &'static str) -> Queue {
        let (tx, rx) = mpsc::channel(QUEUE_LIMIT);
        let stop = Arc::new(OnceLock::new());
        let worker = tokio::spawn(work(what, rx, stop.clone()));
        Queue {
            what,
            tx: Some(tx),
            worker: Some(worker),
            stop_starting_at: stop,
            dropped_total: 0,
            dropped_since: 0,
        }
    }

    /// Queues `job` unless the queue is full; `HBD_DROPPED` on it says how
    /// many were dropped just before it.
    fn push(&mut self, mut job: Job, tell_dropped: bool) {
        let Some(tx) = &self.tx else { return };
        if tell_dropped {
            job.env
                .push(("HBD_DROPPED".into(), self.dropped_since.to_string()));
        }
        let label = job.label.clone();
        match tx.try_send(job) {
            Ok(()) => {
                if self.dropped_since > 0 {
                    log::warn!(
                        "{}: {} dropped while the queue was full ({} since start); queueing again from {label}",
                        self.what,
                        self.dropped_since,
                        self.dropped_total
                    );
                    self.dropped_since = 0;
                }
            }
            Err(_) => {
                self.dropped_total += 1;
                self.dropped_since += 1;
                if self.dropped_since == 1 {
                    log::warn!(
                        "{}: queue full ({QUEUE_LIMIT} waiting behind a slow or hung hook): dropping {label} and what follows until there is room",
                        self.what
                    );
                } else {
                    log::debug!("{}: queue full: dropping {label}", self.what);
                }
            }
        }
    }

    /// Stops taking jobs. With a `budget`, what is queued may start within
    /// it and the one running finishes (within its timeout); without, nothing
    /// more starts and a run under way is left to end by itself.
    async fn close(&mut self, budget: Option<std::time::Duration>) {
        let queued = self
            .tx
            .take()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .unwrap_or(0);
        let Some(w) = self.worker.take() else { return };
        match budget {
            Some(b) => {
                let _ = self.stop_starting_at.set(tokio::time::Instant::now() + b);
                let _ = w.await;
            }
            None => {
                w.abort();
                if queued > 0 {
                    log::warn!(
                        "{}: {queued} queued run(s) not made: hbd exits at once",
                        self.what
                    );
                }
            }
        }
    }
}

async fn work(
    what: &'static str,
    mut rx: mpsc::Receiver<Job>,
    stop_starting_at: Arc<OnceLock<tokio::time::Instant>>,
) {
    let mut skipped = 0u64;
    while let Some(job) = rx.recv().await {
        if stop_starting_at
            .get()
            .is_some_and(|t| tokio::time::Instant::now() >= *t)
        {
            skipped += 1;
            continue;
        }
        run(&job).await;
    }
    if skipped > 0 {
        log::warn!("{what}: {skipped} run(s) still queued at shutdown were not made");
    }
}

/// Runs one job to completion or its timeout, and logs how it went.
async fn run(job: &Job) {
    log::debug!("{}: running {}", job.label, command_line(job));
    let r = script::run_argv(&job.path, &job.argv, &job.env, job.timeout).await;
    let took = Duration::from_millis(r.elapsed.as_millis() as u64);
    match &r.ending {
        Ending::Exited(0) if job.loud => {
            log::info!("{}: {} ok after {took}", job.label, command_line(job))
        }
        Ending::Exited(0) => log::debug!("{}: {} ok after {took}", job.label, command_line(job)),
        e => log::warn!(
            "{}: {} failed after {took}: {}; output: {}",
            job.label,
            command_line(job),
            script::ending_text(e, job.timeout),
            r.output_tail()
        ),
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            log::debug!("{} {name}: {line}", job.label);
        }
    }
}

fn command_line(job: &Job) -> String {
    script::command_line(&job.path, &job.argv)
}

/// The rc.d scripts hbd runs, by message type, and how.
#[derive(Debug, Default)]
struct RcDir {
    scripts: BTreeMap<String, PathBuf>,
    /// `harc`, when it can run them (else each runs directly, as harc would).
    harc: Option<PathBuf>,
}

impl RcDir {
    /// Reads `<config_dir>/rc.d` (heartbeat caches the listing at first use;
    /// hbd reads it at start and on SIGHUP) and says what it will run.
    fn read(config_dir: &Path) -> RcDir {
        let all = facts::rc_scripts(config_dir);
        let harc = facts::harc(config_dir).ok().flatten();
        let (run, skip): (Vec<_>, Vec<_>) = all.iter().partition(|s| s.runs());
        if !run.is_empty() {
            let names: Vec<&str> = run.iter().map(|s| s.name.as_str()).collect();
            log::info!(
                "rc.d: running {} on their messages, {}",
                names.join(", "),
                match &harc {
                    Some(h) => format!("through {}", h.display()),
                    None => "directly (no usable harc)".into(),
                }
            );
        }
        let (heartbeats, other): (Vec<_>, Vec<_>) = skip
            .iter()
            .partition(|s| matches!(s.kind, rcd::RcKind::Heartbeat { .. }));
        let list = |v: &[&&rcd::RcScript]| {
            v.iter()
                .map(|s| format!("{}: {}", s.name, s.what().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !heartbeats.is_empty() {
            log::info!(
                "rc.d: not running {} ({}); site-local actions belong in the [hbd] notify hook",
                list(&heartbeats),
                rcd::HEARTBEATS_OWN
            );
        }
        if !other.is_empty() {
            log::info!("rc.d: not running {}", list(&other));
        }
        RcDir {
            scripts: run
                .into_iter()
                .map(|s| (s.name.clone(), s.path.clone()))
                .collect(),
            harc,
        }
    }
}

/// The loop's side of the hooks: it tells them what happened; they decide
/// what runs and queue it.
pub struct Hooks {
    local: String,
    config_dir: PathBuf,
    /// What resource scripts get (`HA_CURHOST`, `HA_DIR`, …).
    base_env: Vec<(String, String)>,
    script_timeout: Duration,
    notify: Option<(PathBuf, Duration)>,
    rc: RcDir,
    rc_queue: Queue,
    notify_queue: Queue,
    /// Notifications made this run, dropped ones included (`HBD_SEQ`).
    seq: u64,
    /// Our own status word, for `HA_OSTATUS`.
    local_state: String,
    /// Each group's last state and owner as [`Status`] showed it.
    groups: Vec<(GroupState, Option<String>)>,
    /// The string fields of the message being handled, when an rc.d script
    /// may run for it.
    receiving: Option<(String, Vec<(String, String)>)>,
    /// Our highest sequence number already passed to rc.d (retransmissions
    /// are the same message).
    own_seq: u64,
}

impl Hooks {
    /// Reads `rc.d` and starts the two workers (inside the runtime).
    /// `base_env` is the environment resource scripts get.
    pub fn new(
        cfg: &Config,
        config_dir: &Path,
        local: &str,
        base_env: Vec<(String, String)>,
    ) -> Hooks {
        let mut h = Hooks {
            local: local.to_string(),
            config_dir: config_dir.to_path_buf(),
            base_env: Vec::new(),
            script_timeout: cfg.hbd.script_timeout,
            notify: None,
            rc: RcDir::default(),
            rc_queue: Queue::new("rc.d"),
            notify_queue: Queue::new("notify"),
            seq: 0,
            local_state: "init".into(),
            groups: vec![(GroupState::Stopped, None); cfg.groups.len()],
            receiving: None,
            own_seq: 0,
        };
        h.reload(cfg, base_env);
        h
    }

    /// SIGHUP: the notify setting and the rc.d listing as they are now.
    pub fn reload(&mut self, cfg: &Config, base_env: Vec<(String, String)>) {
        let mut env = base_env;
        env.push((
            "HA_RCDIR".into(),
            self.config_dir.join("rc.d").display().to_string(),
        ));
        self.base_env = env;
        self.script_timeout = cfg.hbd.script_timeout;
        self.notify = cfg.hbd.notify.clone().map(|p| (p, cfg.hbd.notify_timeout));
        if let Some((p, t)) = &self.notify {
            log::info!("notify: {} on every transition (timeout {t})", p.display());
        }
        self.rc = RcDir::read(&self.config_dir);
    }

    /// Notifications the notify hook never got since the start: dropped
    /// while its queue was full (`hbd status`, the metrics).
    pub fn notify_dropped(&self) -> u64 {
        self.notify_queue.dropped_total
    }

    /// rc.d runs (heartbeat's harc) dropped since the start while their queue
    /// was full behind a slow or hung site script.
    pub fn rcd_dropped(&self) -> u64 {
        self.rc_queue.dropped_total
    }

    /// Whether [`Hooks::observe`] needs the core's status after each turn.
    pub fn watches_groups(&self) -> bool {
        self.notify.is_some()
    }

    /// One of the core's events, as it is logged. `status` is the core's
    /// snapshot, asked for only when a group may have changed state.
    pub fn event(&mut self, e: &Event, status: impl FnOnce() -> Status) {
        match e {
            Event::LocalStatus { state } => self.local_state = state.clone(),
            Event::PeerStatus { .. } => {
                // The status message that changed it is the one being handled.
                if let Some((t, fields)) = &self.receiving {
                    if t == "status" {
                        let fields = fields.clone();
                        self.queue_rc("status", fields);
                    }
                }
            }
            // heartbeat hands `harc status` a made-up dead status for the
            // node it takes over from (its stock script runs mach_down).
            Event::TakeoverStarted { node, .. } => {
                self.queue_rc("status", dead_status(node, false))
            }
            Event::PingNodeStatus {
                name, up: false, ..
            } => self.queue_rc("status", dead_status(name, true)),
            _ => {}
        }
        if let Some(n) = notice(e, &self.local) {
            self.queue_notice(n, &e.to_string());
        }
        // Told here, so that a group's transition comes before the events
        // the core reports after it (`takeover-complete` after `group-active`).
        if matches!(
            e,
            Event::GroupStarted { .. }
                | Event::GroupStopped { .. }
                | Event::StartFailed { .. }
                | Event::StopFailed { .. }
        ) {
            self.step(status);
        }
    }

    /// A resource step starts (or a group event came): group transitions.
    pub fn step(&mut self, status: impl FnOnce() -> Status) {
        if self.watches_groups() {
            self.observe(&status());
        }
    }

    /// With the core's snapshot: group transitions since the last one (after
    /// each turn of the loop, and from [`Hooks::step`]).
    pub fn observe(&mut self, st: &Status) {
        for (i, g) in st.groups.iter().enumerate() {
            let Some(last) = self.groups.get_mut(i) else {
                continue;
            };
            if last.0 == g.state {
                continue;
            }
            let from = std::mem::replace(last, (g.state, g.owner.clone())).0;
            let n = group_notice(&g.key, from, g.state, g.owner.as_deref(), &self.local);
            let line = format!("group {}: {from} -> {}", g.key, g.state);
            self.queue_notice(n, &line);
        }
    }

    /// Whether an rc.d script may run for a message (sent or received): only
    /// then does the loop build the field lists [`Hooks::receiving`] and
    /// [`Hooks::sent`] read; otherwise a heartbeat is opened and sealed
    /// without one.
    pub fn reads_messages(&self) -> bool {
        !self.rc.scripts.is_empty()
    }

    /// Before a received message goes to the core: keeps its string fields
    /// when an rc.d script may run for it.
    pub fn receiving(&mut self, msg: &Message) {
        self.receiving = msg
            .msg_type()
            .filter(|t| self.rc.scripts.contains_key(*t))
            .map(|t| (t.to_string(), string_fields(msg)));
    }

    /// After the core handled it: `delivered` when the core accepted it and
    /// passed it to its handlers (not a duplicate, replay or a message for
    /// another node), which is when heartbeat notifies.
    pub fn received(&mut self, delivered: bool) {
        if let Some((t, fields)) = self.receiving.take() {
            if delivered && notified_type(&t, false) {
                self.queue_rc(&t, fields);
            }
        }
    }

    /// One of our own messages as it is sent: heartbeat processes its own
    /// messages too, so `harc` runs for ours (`ip-request-resp`, `stonith`,
    /// `hb_takeover`) when they are for everyone or for us.
    pub fn sent(&mut self, msg: &Message) {
        let Some(t) = msg.msg_type() else { return };
        if !self.rc.scripts.contains_key(t) || !notified_type(t, true) {
            return;
        }
        if msg
            .get("dest")
            .is_some_and(|d| !d.eq_ignore_ascii_case(&self.local))
        {
            return;
        }
        // A retransmission is the message already notified.
        let seq = msg.get_hex("seq").unwrap_or(0);
        if seq <= self.own_seq {
            return;
        }
        self.own_seq = seq;
        let t = t.to_string();
        self.queue_rc(&t, string_fields(msg));
    }

    /// Stops the workers. After a graceful shutdown what is queued may still
    /// start within [`DRAIN_BUDGET`] (the groups' `group-stopped` tells the
    /// pager the node let go); when hbd is told to exit at once, nothing more
    /// starts.
    pub async fn close(mut self, graceful: bool) {
        let budget = graceful.then_some(DRAIN_BUDGET);
        let (rc, notify) = (&mut self.rc_queue, &mut self.notify_queue);
        tokio::join!(rc.close(budget), notify.close(budget));
    }

    fn queue_rc(&mut self, t: &str, fields: Vec<(String, String)>) {
        let Some(script) = self.rc.scripts.get(t) else {
            return;
        };
        // The cage refuses a file others could rewrite; harc would exec the
        // script without that check, so it is made here.
        if let Err(why) = script::trusted(script) {
            log::warn!("rc.d/{t}: not run: {why}");
            return;
        }
        // harc gets the type lowercased and runs rc.d/<that> with it.
        let arg = t.to_ascii_lowercase();
        let path = self.rc.harc.clone().unwrap_or_else(|| script.clone());
        let mut env = self.base_env.clone();
        // heartbeat lets a field replace the daemon's own HA_ variables (a
        // field named FUNCS would choose the file harc sources, as root);
        // hbd keeps its own.
        for (name, value) in fields {
            let key = format!("HA_{name}");
            if !env.iter().any(|(k, _)| *k == key) {
                env.push((key, value));
            }
        }
        env.push(("HA_OSTATUS".into(), self.local_state.clone()));
        let job = Job {
            label: format!("rc.d/{t}"),
            path,
            argv: vec![arg],
            env,
            timeout: self.script_timeout,
            loud: true,
        };
        self.rc_queue.push(job, false);
    }

    fn queue_notice(&mut self, n: Notice, message: &str) {
        let Some((path, timeout)) = &self.notify else {
            return;
        };
        self.seq += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut env = vec![
            ("PATH".to_string(), script::SCRIPT_PATH.to_string()),
            ("HBD_EVENT".into(), n.event.to_string()),
            ("HBD_NODE".into(), n.node.clone()),
            ("HBD_GROUP".into(), n.group.clone()),
            ("HBD_LOCAL".into(), self.local.clone()),
            ("HBD_MESSAGE".into(), message.to_string()),
            ("HBD_SEQ".into(), self.seq.to_string()),
            ("HBD_TIME".into(), now.to_string()),
        ];
        env.extend(n.vars.iter().map(|(k, v)| (format!("HBD_{k}"), v.clone())));
        let job = Job {
            label: format!("notify {}", n.event),
            path: path.clone(),
            argv: vec![n.event.to_string(), n.node, n.group],
            env,
            timeout: *timeout,
            loud: false,
        };
        self.notify_queue.push(job, true);
    }
}

/// Every string field of `msg` whose name can be an environment variable
/// (heartbeat's `HA_<name>`); binary fields (uuids) are left out, as heartbeat
/// leaves them, and so is a value no environment can carry (a NUL byte).
fn string_fields(msg: &Message) -> Vec<(String, String)> {
    msg.fields()
        .iter()
        .filter(|f| f.ftype == FieldType::String)
        .filter(|f| {
            !f.name.is_empty()
                && f.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .filter(|f| !f.value.contains(&0))
        .map(|f| {
            (
                f.name.clone(),
                String::from_utf8_lossy(&f.value).into_owned(),
            )
        })
        .collect()
}

/// The status heartbeat makes up for a node it declared dead (its
/// `takeover_from_node`): `t=status seq=1 ts src st=dead`, `info=ping` for a
/// ping node.
fn dead_status(node: &str, ping: bool) -> Vec<(String, String)> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut v: Vec<(String, String)> = [
        ("t", "status".to_string()),
        ("seq", "1".to_string()),
        ("ts", format!("{ts:x}")),
        ("src", node.to_string()),
        ("st", "dead".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if ping {
        v.push(("info".into(), "ping".into()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{GroupStatus, HoldSet};
    use std::os::unix::fs::PermissionsExt;

    fn exe(path: &Path, body: &str) -> PathBuf {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_path_buf()
    }

    fn lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Polls `f` every 20 ms for up to 10 s.
    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let end = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !f() {
            assert!(
                tokio::time::Instant::now() < end,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn cfg(groups: usize, notify: Option<PathBuf>, timeout_ms: u64) -> Config {
        let mut c = Config::default();
        for i in 0..groups {
            c.groups.push(crate::config::ResourceGroup {
                home: "alpha".into(),
                resources: vec![crate::config::haresources::resource(&format!("r{i}")).unwrap()],
                location: Default::default(),
            });
        }
        c.hbd.notify = notify;
        c.hbd.notify_timeout = Duration::from_millis(timeout_ms);
        c.hbd.script_timeout = Duration::from_millis(timeout_ms);
        c
    }

    fn empty_status() -> Status {
        let node = |name: &str| crate::core::NodeStatus {
            name: name.into(),
            state: Default::default(),
            generation: None,
            last_heard: None,
        };
        Status {
            local: node("alpha"),
            peer: node("beta"),
            links: vec![],
            groups: vec![],
            rsc_hold: Default::default(),
            recent: vec![],
            late_heartbeats: 0,
            dropped_packets: 0,
            dropped_by_reason: Default::default(),
            heartbeat_gaps: crate::core::GapHistogram::for_timing(
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(10),
            ),
            startup_wait: None,
            peer_config: Default::default(),
            persistent_standby: None,
            maintenance: false,
            peer_maintenance: false,
            peer_restart_deadline: None,
        }
    }

    fn base_env() -> Vec<(String, String)> {
        vec![
            ("PATH".into(), script::SCRIPT_PATH.into()),
            ("HA_CURHOST".into(), "alpha".into()),
            ("HA_FUNCS".into(), "/etc/ha.d/shellfuncs".into()),
        ]
    }

    #[test]
    fn events_map_to_notices_with_their_details() {
        let e = Event::StartFailed {
            group: "192.0.2.10".into(),
            resource: "apache".into(),
            code: Some(3),
            reason: "exit code 3".into(),
        };
        assert_eq!(
            notice(&e, "alpha").unwrap(),
            Notice {
                event: "start-failed",
                node: "alpha".into(),
                group: "192.0.2.10".into(),
                vars: vec![
                    ("RESOURCE", "apache".into()),
                    ("EXIT_CODE", "3".into()),
                    ("REASON", "exit code 3".into())
                ],
            }
        );
        let dead = Event::PeerDead {
            node: "beta".into(),
            silence: Duration::from_millis(1020),
            timeout: Duration::from_secs(1),
            timer: crate::core::DeadTimer::Deadtime,
        };
        let n = notice(&dead, "alpha").unwrap();
        assert_eq!((n.event, n.node.as_str()), ("node-dead", "beta"));
        assert_eq!(
            n.vars,
            [
                ("SILENCE_MS", "1020".into()),
                ("DEADTIME_MS", "1000".into())
            ]
        );
        let up = |state: &str| {
            notice(
                &Event::PeerStatus {
                    node: "beta".into(),
                    state: state.into(),
                },
                "alpha",
            )
            .unwrap()
            .event
        };
        assert_eq!(
            (up("up"), up("active"), up("init")),
            ("node-up", "node-up", "node-status")
        );
        let f = notice(
            &Event::FenceFailed {
                node: "beta".into(),
                retry_in: None,
                attempt: 2,
            },
            "alpha",
        )
        .unwrap();
        assert_eq!(f.event, "fence-result");
        assert_eq!(
            f.vars,
            [
                ("RESULT", "failed".into()),
                ("ATTEMPT", "2".into()),
                ("RETRY_IN_MS", String::new())
            ]
        );
        let s = notice(
            &Event::StandbyStarted {
                set: HoldSet::Foreign,
            },
            "alpha",
        )
        .unwrap();
        assert_eq!(
            (s.event, s.vars[0].1.as_str()),
            ("standby-started", "foreign")
        );
        // Per-packet events and the group events the state diff tells are not notices.
        assert_eq!(
            notice(&Event::GroupStarted { group: "g".into() }, "alpha"),
            None
        );
        assert_eq!(
            notice(
                &Event::NoPacketsMissing {
                    node: "beta".into()
                },
                "alpha"
            ),
            None
        );
        let g = group_notice(
            "g",
            GroupState::Stopped,
            GroupState::Starting,
            None,
            "alpha",
        );
        assert_eq!(
            (g.event, g.node.as_str(), g.group.as_str()),
            ("group-acquiring", "alpha", "g")
        );
        assert_eq!(
            g.vars,
            [
                ("STATE", "starting".into()),
                ("PREVIOUS_STATE", "stopped".into())
            ]
        );
        let p = group_notice(
            "g",
            GroupState::Stopped,
            GroupState::Peer,
            Some("beta"),
            "alpha",
        );
        assert_eq!((p.event, p.node.as_str()), ("group-on-peer", "beta"));
    }

    /// One event of each kind the mapping tells, for the documentation check.
    fn one_of_each() -> Vec<Event> {
        let (node, group, reason) = ("beta".to_string(), "g".to_string(), "r".to_string());
        let d = Duration::from_secs(1);
        vec![
            Event::LocalStatus { state: "up".into() },
            Event::LinkUp {
                node: node.clone(),
                link: "eth0".into(),
            },
            Event::LinkDead {
                node: node.clone(),
                link: "eth0".into(),
                silence: d,
            },
            Event::PeerStatus {
                node: node.clone(),
                state: "up".into(),
            },
            Event::PeerStatus {
                node: node.clone(),
                state: "init".into(),
            },
            Event::PeerDead {
                node: node.clone(),
                silence: d,
                timeout: d,
                timer: crate::core::DeadTimer::Deadtime,
            },
            Event::PeerRestarted {
                node: node.clone(),
                old_generation: 1,
                new_generation: 2,
            },
            Event::PartitionHealed { node: node.clone() },
            Event::PeerShutdown { node: node.clone() },
            Event::LocalStall { late: d },
            Event::PingNodeStatus {
                name: "gw".into(),
                up: true,
                reachable: 1,
                total: 1,
            },
            Event::PingNodeStatus {
                name: "gw".into(),
                up: false,
                reachable: 0,
                total: 1,
            },
            Event::AcquisitionComplete {
                reason: reason.clone(),
            },
            Event::TakeoverStarted {
                node: node.clone(),
                reason: reason.clone(),
            },
            Event::TakeoverComplete { node: node.clone() },
            Event::FenceRequested {
                node: node.clone(),
                reason: reason.clone(),
            },
            Event::FenceSucceeded { node: node.clone() },
            Event::StandbyStarted { set: HoldSet::All },
            Event::PeerWantsStandby {
                node: node.clone(),
                set: HoldSet::All,
            },
            Event::StandbyDone { set: HoldSet::All },
            Event::StandbyAcquired { set: HoldSet::All },
            Event::StandbyCancelled {
                reason: reason.clone(),
            },
            Event::AutoFailback,
            Event::Maintenance { on: true },
            Event::PeerMaintenance {
                node: node.clone(),
                on: true,
            },
            Event::RestartAnnounced {
                grace: None,
                handover: false,
            },
            Event::PeerRestarting {
                node: node.clone(),
                wait: Duration::from_secs(30),
            },
            Event::ShutdownStarted,
            Event::StartFailed {
                group: group.clone(),
                resource: "x".into(),
                code: None,
                reason: reason.clone(),
            },
            Event::StopFailed {
                group: group.clone(),
                resource: "x".into(),
                attempts: 11,
                reason: reason.clone(),
            },
            Event::RebootRequired {
                group: group.clone(),
            },
            Event::AcquireSkipped {
                group: group.clone(),
                reason: reason.clone(),
            },
            Event::ReleaseAfterPartition {
                group: group.clone(),
                keeper: node,
            },
            Event::MonitorFailed {
                group: group.clone(),
                resource: "x".into(),
                fail_count: 1,
                reason: reason.clone(),
                action: crate::core::MonitorAction::Block,
            },
            Event::MonitorRecovered {
                group: group.clone(),
                resource: "x".into(),
            },
            Event::FailureExpired {
                group: group.clone(),
                resource: "x".into(),
                fail_count: 2,
            },
            Event::CleanupDone {
                group,
                running: 0,
                of: 1,
                next: reason,
            },
        ]
    }

    #[test]
    fn every_notify_event_is_documented() {
        let doc = include_str!("../../docs/config-reference.md");
        let mut names: Vec<&str> = one_of_each()
            .iter()
            .map(|e| notice(e, "alpha").expect("a notice").event)
            .collect();
        use GroupState::*;
        for to in [Starting, Running, Stopping, Stopped, Failed, Peer] {
            names.push(group_notice("g", Stopped, to, None, "alpha").event);
        }
        for name in names {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is not in docs/config-reference.md"
            );
        }
    }

    #[test]
    fn heartbeat_notifies_only_the_types_without_a_handler_of_their_own() {
        for t in [
            "ip-request",
            "ip-request-resp",
            "hb_takeover",
            "stonith",
            "hbapi-clstat",
            "custom",
        ] {
            assert!(notified_type(t, false), "{t}");
        }
        for t in [
            "status",
            "NS_ackmsg",
            "NS_st",
            "resource",
            "ask_resources",
            "starting",
            "shutdone",
            "reqnodes",
        ] {
            assert!(!notified_type(t, false), "{t}");
        }
        assert!(!notified_type("ip-request", true));
        assert!(notified_type("ip-request-resp", true));
    }

    fn status_msg(st: &str) -> Message {
        let mut m = Message::with_type("status");
        m.add("st", st);
        m.add("dt", "3e8");
        m.add("protocol", "1");
        m.add("src", "beta");
        m.add_binary("srcuuid", &[1, 2, 3]);
        m.add("seq", "2a");
        m.add("hg", "66");
        m.add("ts", "65f0a1b2");
        m.add("ld", "0.11 0.18 0.09 2/118 14279");
        // A peer must not change which file harc sources.
        m.add("FUNCS", "/tmp/evil");
        m
    }

    #[tokio::test]
    async fn rc_d_runs_site_scripts_in_order_with_heartbeats_environment_and_never_its_own() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        let rc = t.path().join("rc.d");
        // A site-local script recording its argv and HA_ environment, in order.
        let record = format!(
            "echo \"$0 argc=$# $*\" >> {r}; env | grep '^HA_' | sort >> {r}; echo end >> {r}",
            r = rec.display()
        );
        exe(&rc.join("status"), &record);
        exe(&rc.join("hb_takeover"), &record);
        // A stock copy under a site's name: heartbeat's, never run.
        let stock = format!(
            "touch {}\n/usr/share/heartbeat/hb_standby all",
            t.path().join("stock-ran").display()
        );
        exe(&rc.join("ip-request"), &stock);
        let mut h = Hooks::new(&cfg(0, None, 5000), t.path(), "alpha", base_env());
        h.event(
            &Event::LocalStatus {
                state: "active".into(),
            },
            empty_status,
        );
        // A status change, as the core reports it while handling the message.
        h.receiving(&status_msg("active"));
        h.event(
            &Event::PeerStatus {
                node: "beta".into(),
                state: "active".into(),
            },
            empty_status,
        );
        h.received(true);
        // The same status again changes nothing: no PeerStatus, no run.
        h.receiving(&status_msg("active"));
        h.received(true);
        // An hb_takeover the core delivered; a duplicate it did not.
        let mut take = Message::with_type("hb_takeover");
        take.add("rsc_hold", "foreign");
        take.add("src", "beta");
        take.add("seq", "2b");
        h.receiving(&take);
        h.received(true);
        h.receiving(&take);
        h.received(false);
        let mut ipr = Message::with_type("ip-request");
        ipr.add("ipaddr", "192.0.2.10");
        ipr.add("src", "beta");
        h.receiving(&ipr);
        h.received(true);
        // The peer declared dead: heartbeat's made-up dead status.
        h.event(
            &Event::TakeoverStarted {
                node: "beta".into(),
                reason: "peer dead".into(),
            },
            empty_status,
        );
        // A ping node's death is told the same way, marked info=ping.
        h.event(
            &Event::PingNodeStatus {
                name: "192.0.2.254".into(),
                up: false,
                reachable: 0,
                total: 1,
            },
            empty_status,
        );
        until("four runs", || {
            lines(&rec).iter().filter(|l| *l == "end").count() == 4
        })
        .await;
        h.close(true).await;
        let out = lines(&rec);
        let runs: Vec<&[String]> = out
            .split(|l| l == "end")
            .filter(|r| !r.is_empty())
            .collect();
        assert_eq!(runs.len(), 4, "{out:#?}");
        assert_eq!(
            runs[0][0],
            format!("{} argc=1 status", rc.join("status").display())
        );
        let env0: Vec<&str> = runs[0][1..].iter().map(String::as_str).collect();
        for want in [
            "HA_CURHOST=alpha",
            "HA_FUNCS=/etc/ha.d/shellfuncs",
            "HA_OSTATUS=active",
            "HA_dt=3e8",
            "HA_hg=66",
            "HA_ld=0.11 0.18 0.09 2/118 14279",
            "HA_protocol=1",
            "HA_seq=2a",
            "HA_src=beta",
            "HA_st=active",
            "HA_t=status",
            "HA_ts=65f0a1b2",
        ] {
            assert!(env0.contains(&want), "{want} missing: {env0:#?}");
        }
        assert!(
            env0.contains(&format!("HA_RCDIR={}", rc.display()).as_str()),
            "{env0:#?}"
        );
        assert!(
            !env0.iter().any(|l| l.starts_with("HA_srcuuid")),
            "binary fields stay out"
        );
        assert_eq!(
            runs[1][0],
            format!("{} argc=1 hb_takeover", rc.join("hb_takeover").display())
        );
        assert!(runs[1].contains(&"HA_rsc_hold=foreign".to_string()));
        assert_eq!(
            runs[2][0],
            format!("{} argc=1 status", rc.join("status").display())
        );
        let env2: Vec<&str> = runs[2][1..].iter().map(String::as_str).collect();
        for want in ["HA_t=status", "HA_seq=1", "HA_src=beta", "HA_st=dead"] {
            assert!(env2.contains(&want), "{want} missing: {env2:#?}");
        }
        assert!(!env2.iter().any(|l| l.starts_with("HA_info=")), "{env2:#?}");
        let env3: Vec<&str> = runs[3][1..].iter().map(String::as_str).collect();
        for want in ["HA_st=dead", "HA_src=192.0.2.254", "HA_info=ping"] {
            assert!(env3.contains(&want), "{want} missing: {env3:#?}");
        }
        assert!(
            !t.path().join("stock-ran").exists(),
            "heartbeat's own ip-request ran"
        );
    }

    #[tokio::test]
    async fn rc_d_goes_through_harc_with_the_type_as_its_argument() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        exe(&t.path().join("rc.d").join("stonith"), "true");
        exe(
            &t.path().join("harc"),
            &format!(
                "echo \"harc $# $1 $HA_node $HA_result\" >> {}",
                rec.display()
            ),
        );
        let mut h = Hooks::new(&cfg(0, None, 5000), t.path(), "alpha", base_env());
        // Our own stonith message (heartbeat processes its own messages too),
        // then its retransmission, which is the same message.
        let mut m = Message::with_type("stonith");
        m.add("node", "beta");
        m.add("result", "n_stnth");
        m.add("src", "alpha");
        m.add("seq", "9");
        h.sent(&m);
        h.sent(&m);
        h.close(true).await;
        assert_eq!(lines(&rec), ["harc 1 stonith beta n_stnth"]);
    }

    #[tokio::test]
    async fn notify_runs_one_at_a_time_in_order_with_the_event_as_argv_and_env() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        let hook = exe(
            &t.path().join("hook"),
            &format!(
                "echo \"start $HBD_SEQ $# $1 [$2] [$3] $HBD_EVENT $HBD_NODE $HBD_LOCAL $HBD_DROPPED $HBD_STATE\" >> {r}; sleep 0.05; echo \"end $HBD_SEQ\" >> {r}",
                r = rec.display()
            ),
        );
        let mut h = Hooks::new(&cfg(1, Some(hook), 5000), t.path(), "alpha", base_env());
        assert!(h.watches_groups());
        h.event(
            &Event::PeerDead {
                node: "beta".into(),
                silence: Duration::from_secs(2),
                timeout: Duration::from_secs(2),
                timer: crate::core::DeadTimer::Deadtime,
            },
            empty_status,
        );
        let group = |state| Status {
            groups: vec![GroupStatus {
                key: "r0".into(),
                home: "alpha".into(),
                owner: (state == GroupState::Running).then(|| "alpha".to_string()),
                state,
                failure: None,
                resources: vec![],
            }],
            ..empty_status()
        };
        h.observe(&group(GroupState::Starting));
        h.observe(&group(GroupState::Starting));
        h.observe(&group(GroupState::Running));
        h.close(true).await;
        assert_eq!(
            lines(&rec),
            [
                "start 1 3 node-dead [beta] [] node-dead beta alpha 0 ",
                "end 1",
                "start 2 3 group-acquiring [alpha] [r0] group-acquiring alpha alpha 0 starting",
                "end 2",
                "start 3 3 group-active [alpha] [r0] group-active alpha alpha 0 running",
                "end 3",
            ]
        );
    }

    #[tokio::test]
    async fn a_hung_hook_is_killed_at_its_timeout_and_a_full_queue_drops_and_counts() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        let hook = exe(
            &t.path().join("hook"),
            &format!(
                "echo \"$HBD_SEQ $1 $HBD_DROPPED\" >> {r}; [ \"$1\" = node-dead ] && exec sleep 60; exit 0",
                r = rec.display()
            ),
        );
        let mut h = Hooks::new(&cfg(0, Some(hook), 600), t.path(), "alpha", base_env());
        let started = std::time::Instant::now();
        h.event(
            &Event::PeerDead {
                node: "beta".into(),
                silence: Duration::from_secs(2),
                timeout: Duration::from_secs(2),
                timer: crate::core::DeadTimer::Deadtime,
            },
            empty_status,
        );
        until("the hung hook", || !lines(&rec).is_empty()).await;
        // Queued behind it: exactly what the queue holds; the rest is dropped.
        let link = |i: usize| Event::LinkUp {
            node: "beta".into(),
            link: format!("eth{i}"),
        };
        for i in 0..QUEUE_LIMIT + 5 {
            h.event(&link(i), empty_status);
        }
        assert_eq!(h.notify_dropped(), 5);
        // The hung one is killed at 600 ms, the queue drains, and the next
        // notification says how many were dropped before it.
        until("the queue to drain", || {
            lines(&rec).len() == 1 + QUEUE_LIMIT
        })
        .await;
        let drained = started.elapsed();
        h.event(
            &Event::LinkDead {
                node: "beta".into(),
                link: "eth0".into(),
                silence: Duration::from_secs(1),
            },
            empty_status,
        );
        h.close(true).await;
        let out = lines(&rec);
        assert_eq!(out.len(), QUEUE_LIMIT + 2, "{out:#?}");
        assert_eq!(out[0], "1 node-dead 0");
        assert_eq!(out[1], "2 link-up 0");
        assert_eq!(out[QUEUE_LIMIT], format!("{} link-up 0", QUEUE_LIMIT + 1));
        // Sequence numbers count the dropped ones: a script sees the gap.
        assert_eq!(
            out[QUEUE_LIMIT + 1],
            format!("{} link-dead 5", QUEUE_LIMIT + 7)
        );
        assert!(
            drained >= std::time::Duration::from_millis(600)
                && drained < std::time::Duration::from_secs(8),
            "{drained:?}"
        );
    }

    #[tokio::test]
    async fn a_full_rc_d_queue_drops_and_counts_apart_from_notify() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        exe(
            &t.path().join("rc.d").join("status"),
            &format!("echo \"$HA_st\" >> {}; exec sleep 60", rec.display()),
        );
        let mut h = Hooks::new(&cfg(0, None, 60_000), t.path(), "alpha", base_env());
        // Each change of the peer's status is one rc.d run; the first hangs.
        for i in 0..QUEUE_LIMIT + 4 {
            let state = if i % 2 == 0 { "active" } else { "standby" };
            h.receiving(&status_msg(state));
            h.event(
                &Event::PeerStatus {
                    node: "beta".into(),
                    state: state.into(),
                },
                empty_status,
            );
            h.received(true);
            if i == 0 {
                until("the hung rc.d script", || !lines(&rec).is_empty()).await;
            }
        }
        assert_eq!(h.rcd_dropped(), 3);
        assert_eq!(h.notify_dropped(), 0);
        h.close(false).await;
    }

    #[tokio::test]
    async fn told_to_exit_at_once_nothing_more_starts() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        let hook = exe(
            &t.path().join("hook"),
            &format!("echo \"$1\" >> {}; exec sleep 3", rec.display()),
        );
        let mut h = Hooks::new(&cfg(0, Some(hook), 10_000), t.path(), "alpha", base_env());
        h.event(&Event::ShutdownStarted, empty_status);
        until("the first run", || !lines(&rec).is_empty()).await;
        h.event(&Event::AutoFailback, empty_status);
        let started = std::time::Instant::now();
        h.close(false).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(lines(&rec), ["shutdown"]);
    }

    #[tokio::test]
    async fn an_rc_d_script_others_can_write_is_not_run_even_through_harc() {
        let t = tempfile::tempdir().unwrap();
        let rec = t.path().join("rec");
        let s = exe(&t.path().join("rc.d").join("stonith"), "true");
        exe(
            &t.path().join("harc"),
            &format!("echo \"harc $1\" >> {}", rec.display()),
        );
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut h = Hooks::new(&cfg(0, None, 5000), t.path(), "alpha", base_env());
        let mut m = Message::with_type("stonith");
        m.add("src", "alpha");
        m.add("seq", "3");
        h.sent(&m);
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
        m.set("seq", "4");
        h.sent(&m);
        h.close(true).await;
        assert_eq!(lines(&rec), ["harc stonith"]);
    }
}
