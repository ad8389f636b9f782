//! The optional Prometheus endpoint (`[hbd] metrics = "127.0.0.1:9694"`).
//!
//! Three parts, so that the daemon loop stays the only owner of the core:
//! - [`Registry`]: what only the shell sees (takeover reasons from events,
//!   resource step durations, rejected packets by reason), fed by the loop;
//! - [`render`]: a pure function from the loop's `StatusReport`, the core's gap
//!   histogram and the registry to Prometheus text format 0.0.4;
//! - [`serve`]: a deliberately tiny HTTP/1.1 server. Each scrape asks the loop
//!   for a fresh rendering over a channel, so a scrape never reads half-updated
//!   state and needs no lock.
//!
//! The endpoint has no authentication (Prometheus' own exporters rarely do); it
//! listens on loopback unless the operator says otherwise, and `hbd check`
//! warns when they do.

use crate::control::{LinkReport, StatusReport};
use crate::core::{
    Action, DropReason, Event, GapHistogram, GroupState, Input, NodeState, Output, PeerConfigState,
    Step, StepId, StepOutcome,
};
use crate::time::Instant;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// A request head larger than this is refused (431): scrapers send ~200 bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// A client that has not sent its request head by then is dropped.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Scrapes served at once; more wait for a slot (they are cheap and short).
const MAX_CONNECTIONS: usize = 8;

/// Takeover reasons, pre-set to 0 so `increase()` sees the first one.
pub const TAKEOVER_REASONS: [&str; 4] = ["peer_dead", "shutdone", "standby", "takeover"];
/// Wire-level rejections (`wire::Rejection::reason`) plus serial framing.
const REJECT_REASONS: [&str; 4] = ["malformed", "unsigned", "unknown_key", "bad_mac"];
const FRAME_REASON: &str = "bad_frame";
/// Time from an address's start until every target answered from it.
const CONVERGED_BUCKETS_MS: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000,
];
/// Resource step durations: scripts take from milliseconds to minutes.
const STEP_BUCKETS_MS: [u64; 12] = [
    10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000,
];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the endpoint's listener (before the loop starts, so a taken port
/// refuses the start instead of failing silently later).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })
}

/// A histogram with fixed upper bounds in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Histogram {
    bounds_ms: Vec<u64>,
    /// Per bucket, not cumulative; the last entry is above every bound.
    counts: Vec<u64>,
    sum_ms: u64,
    count: u64,
}

impl Histogram {
    fn new(bounds_ms: &[u64]) -> Histogram {
        Histogram {
            bounds_ms: bounds_ms.to_vec(),
            counts: vec![0; bounds_ms.len() + 1],
            sum_ms: 0,
            count: 0,
        }
    }

    fn observe(&mut self, ms: u64) {
        let i = self.bounds_ms.partition_point(|b| *b < ms);
        self.counts[i] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.count += 1;
    }
}

impl From<&GapHistogram> for Histogram {
    fn from(g: &GapHistogram) -> Histogram {
        Histogram {
            bounds_ms: g.bounds.iter().map(|b| b.millis()).collect(),
            counts: g.counts.clone(),
            sum_ms: g.sum.millis(),
            count: g.count,
        }
    }
}

/// What the shell alone observes, owned by the daemon loop.
#[derive(Debug, Default)]
pub struct Registry {
    takeovers: BTreeMap<&'static str, u64>,
    auto_failbacks: u64,
    /// An operator `takeover` was accepted: the next groups the peer hands
    /// over are ours because we asked, not because it went standby.
    takeover_requested: bool,
    running: Option<(StepId, Action, Instant)>,
    step_durations: BTreeMap<&'static str, Histogram>,
    step_failures: BTreeMap<&'static str, u64>,
    /// (link index, reason) → packets.
    rejected: BTreeMap<(usize, &'static str), u64>,
    /// Floating addresses' times to converge; checks that did not.
    converged: Option<Histogram>,
    not_converged: u64,
}

fn action_name(a: Action) -> &'static str {
    a.word()
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Call with every output the core emits, before acting on it.
    pub fn observe_output(&mut self, now: Instant, out: &Output) {
        match out {
            Output::Run(Step { id, action, .. }) => self.running = Some((*id, *action, now)),
            Output::Event(e) => self.observe_event(e),
            _ => {}
        }
    }

    fn observe_event(&mut self, e: &Event) {
        let reason = match e {
            Event::TakeoverStarted { reason, .. } if reason == "peer shut down" => "shutdone",
            Event::TakeoverStarted { .. } => "peer_dead",
            Event::StandbyAcquired { .. } if std::mem::take(&mut self.takeover_requested) => {
                "takeover"
            }
            Event::StandbyAcquired { .. } => "standby",
            Event::AutoFailback => {
                self.auto_failbacks += 1;
                return;
            }
            _ => return,
        };
        *self.takeovers.entry(reason).or_default() += 1;
    }

    /// Call with every input handed to the core (only step results matter).
    pub fn observe_input(&mut self, now: Instant, input: &Input) {
        let Input::StepDone { id, outcome } = input else {
            return;
        };
        let Some((rid, action, started)) = self.running else {
            return;
        };
        if rid != *id {
            return;
        }
        self.running = None;
        let name = action_name(action);
        self.step_durations
            .entry(name)
            .or_insert_with(|| Histogram::new(&STEP_BUCKETS_MS))
            .observe(now.saturating_since(started).millis());
        if let StepOutcome::Failed { .. } = outcome {
            *self.step_failures.entry(name).or_default() += 1;
        }
    }

    /// A packet on `link` failed framing or authentication (`Rejection::reason`).
    pub fn rejected(&mut self, link: usize, reason: &'static str) {
        *self.rejected.entry((link, reason)).or_default() += 1;
    }

    /// A serial frame the framer threw away.
    pub fn bad_frame(&mut self, link: usize) {
        self.rejected(link, FRAME_REASON);
    }

    /// A floating address's convergence check ended: converged after so many
    /// ms, or not (None).
    pub fn convergence(&mut self, converged_ms: Option<u64>) {
        match converged_ms {
            Some(ms) => self
                .converged
                .get_or_insert_with(|| Histogram::new(&CONVERGED_BUCKETS_MS))
                .observe(ms),
            None => self.not_converged += 1,
        }
    }

    /// The operator's `takeover` was handed to the core and not refused.
    pub fn takeover_requested(&mut self) {
        self.takeover_requested = true;
    }
}

const DROP_REASONS: [DropReason; 8] = [
    DropReason::MissingField,
    DropReason::UnknownNode,
    DropReason::Replay,
    DropReason::GenerationNotAnnounced,
    DropReason::OldSequence,
    DropReason::StaleControl,
    DropReason::PeerDead,
    DropReason::ControlBeforeStatus,
];

/// A stable label value per reason (exhaustive: a new reason must be named here).
fn drop_label(r: DropReason) -> &'static str {
    match r {
        DropReason::MissingField => "missing_field",
        DropReason::UnknownNode => "unknown_node",
        DropReason::Replay => "replay",
        DropReason::GenerationNotAnnounced => "generation_not_announced",
        DropReason::OldSequence => "old_sequence",
        DropReason::StaleControl => "stale_control",
        DropReason::PeerDead => "peer_dead",
        DropReason::ControlBeforeStatus => "control_before_status",
    }
}

/// Prometheus label value escaping (backslash, double quote, newline).
fn esc(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Milliseconds as seconds in Prometheus' float syntax (`0.5`, `2`, `1.05`).
fn secs(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn histogram(o: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cum = 0;
    for (b, c) in h.bounds_ms.iter().zip(&h.counts) {
        cum += c;
        let _ = writeln!(o, "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cum}", secs(*b));
    }
    let _ = writeln!(o, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let braces = |l: &str| {
        if l.is_empty() {
            String::new()
        } else {
            format!("{{{l}}}")
        }
    };
    let _ = writeln!(o, "{name}_sum{} {}", braces(labels), secs(h.sum_ms));
    let _ = writeln!(o, "{name}_count{} {}", braces(labels), h.count);
}

/// The scrape: Prometheus text format 0.0.4. Pure: the loop passes what it knows.
pub fn render(
    r: &StatusReport,
    gaps: &GapHistogram,
    dropped: &BTreeMap<DropReason, u64>,
    reg: &Registry,
) -> String {
    let mut o = String::with_capacity(8 * 1024);
    head(&mut o, "hbd_build_info", "gauge", "hbd version (always 1).");
    let _ = writeln!(o, "hbd_build_info{{version=\"{}\"}} 1", esc(&r.version));
    head(
        &mut o,
        "hbd_uptime_seconds",
        "gauge",
        "Seconds since this hbd started (monotonic clock).",
    );
    let _ = writeln!(o, "hbd_uptime_seconds {}", secs(r.uptime_ms));
    if let Some(g) = r.local.generation {
        head(
            &mut o,
            "hbd_generation",
            "gauge",
            "This node's heartbeat generation (hg), incremented at each start.",
        );
        let _ = writeln!(o, "hbd_generation {g}");
    }
    head(
        &mut o,
        "hbd_keepalive_seconds",
        "gauge",
        "Configured keepalive.",
    );
    let _ = writeln!(o, "hbd_keepalive_seconds {}", secs(r.keepalive_ms));
    head(
        &mut o,
        "hbd_deadtime_seconds",
        "gauge",
        "Configured deadtime.",
    );
    let _ = writeln!(o, "hbd_deadtime_seconds {}", secs(r.deadtime_ms));

    head(
        &mut o,
        "hbd_node_state",
        "gauge",
        "1 for the state each node is in (heartbeat's words), 0 for the others.",
    );
    for n in [&r.local, &r.peer] {
        let node = esc(&n.name);
        // heartbeat's node states, each reported 0 or 1 so a state change is
        // a change of value rather than a series appearing.
        for s in NodeState::KNOWN {
            let v = u8::from(n.state == s);
            let _ = writeln!(o, "hbd_node_state{{node=\"{node}\",state=\"{s}\"}} {v}");
        }
        if !NodeState::KNOWN.contains(&n.state) {
            let s = esc(n.state.word());
            let _ = writeln!(o, "hbd_node_state{{node=\"{node}\",state=\"{s}\"}} 1");
        }
    }
    head(
        &mut o,
        "hbd_maintenance",
        "gauge",
        "1 while the node is in maintenance mode (this node's; the peer's as an hbd peer says).",
    );
    for (n, on) in [
        (&r.local, r.maintenance != crate::control::Maintenance::Off),
        (&r.peer, r.peer_maintenance),
    ] {
        let _ = writeln!(
            o,
            "hbd_maintenance{{node=\"{}\"}} {}",
            esc(&n.name),
            u8::from(on)
        );
    }
    if let Some(ms) = r.peer.last_heard_ms_ago {
        head(
            &mut o,
            "hbd_peer_last_heard_seconds",
            "gauge",
            "Seconds since the peer's last status message on any link.",
        );
        let _ = writeln!(
            o,
            "hbd_peer_last_heard_seconds{{node=\"{}\"}} {}",
            esc(&r.peer.name),
            secs(ms)
        );
    }

    let link = |l: &LinkReport| format!("link=\"{}\"", esc(&l.name));
    head(
        &mut o,
        "hbd_link_up",
        "gauge",
        "1 while the peer is heard on the link.",
    );
    for l in &r.links {
        let _ = writeln!(
            o,
            "hbd_link_up{{{},kind=\"{}\"}} {}",
            link(l),
            esc(&l.kind),
            u8::from(l.up)
        );
    }
    if r.links.iter().any(|l| l.last_heard_ms_ago.is_some()) {
        head(
            &mut o,
            "hbd_link_last_heard_seconds",
            "gauge",
            "Seconds since the peer was last heard on the link (absent until first heard).",
        );
        for l in &r.links {
            if let Some(ms) = l.last_heard_ms_ago {
                let _ = writeln!(o, "hbd_link_last_heard_seconds{{{}}} {}", link(l), secs(ms));
            }
        }
    }
    // Loss per link (issue 22): absent until counted, as last_heard.
    type Ratio = fn(&LinkReport) -> Option<crate::control::LossCount>;
    let ratios: [(&str, &str, Ratio); 2] = [
        (
            "hbd_link_loss_ratio",
            "Share of the peer's last datagrams on the link (its link numbers, else its sequence numbers) that never came.",
            |l| l.loss,
        ),
        (
            "hbd_link_peer_loss_ratio",
            "Share of our last datagrams on the link the hbd peer says it missed.",
            |l| l.peer_loss,
        ),
    ];
    for (name, help, get) in ratios {
        if r.links.iter().any(|l| get(l).is_some()) {
            head(&mut o, name, "gauge", help);
            for l in &r.links {
                if let Some(c) = get(l) {
                    let _ = writeln!(o, "{name}{{{}}} {}", link(l), c.ratio());
                }
            }
        }
    }
    head(
        &mut o,
        "hbd_link_status_copies",
        "gauge",
        "How many times each of our statuses goes on the link (more than 1: loss-adaptive redundancy toward an hbd peer).",
    );
    for l in &r.links {
        let _ = writeln!(
            o,
            "hbd_link_status_copies{{{}}} {}",
            link(l),
            l.copies.max(1)
        );
    }
    type Get = fn(&LinkReport) -> u64;
    let per_link: [(&str, &str, Get); 6] = [
        ("hbd_packets_sent_total", "Packets sent on the link.", |l| l.sent),
        (
            "hbd_packets_received_total",
            "Authenticated packets received from the peer on the link.",
            |l| l.received,
        ),
        (
            "hbd_packets_bad_auth_total",
            "Packets dropped on the link for their authentication (unsigned, unknown key, bad MAC).",
            |l| l.bad_auth,
        ),
        (
            "hbd_packets_malformed_total",
            "Packets or serial frames dropped on the link as malformed.",
            |l| l.malformed,
        ),
        (
            "hbd_link_errors_total",
            "Messages that could not be sealed or sent on the link.",
            |l| l.errors,
        ),
        (
            "hbd_late_heartbeats_total",
            "Peer status messages that arrived on the link later than warntime after the previous one.",
            |l| l.late,
        ),
    ];
    for (name, help, get) in per_link {
        head(&mut o, name, "counter", help);
        for l in &r.links {
            let _ = writeln!(o, "{name}{{{}}} {}", link(l), get(l));
        }
    }
    peer_checks(&mut o, r);
    head(
        &mut o,
        "hbd_packets_rejected_total",
        "counter",
        "Packets dropped before reaching the core, by link and reason.",
    );
    for (i, l) in r.links.iter().enumerate() {
        let serial = l.kind == "serial";
        for reason in REJECT_REASONS.iter().chain(serial.then_some(&FRAME_REASON)) {
            let n = reg.rejected.get(&(i, *reason)).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "hbd_packets_rejected_total{{{},reason=\"{reason}\"}} {n}",
                link(l)
            );
        }
    }
    head(
        &mut o,
        "hbd_messages_dropped_total",
        "counter",
        "Authenticated messages the core dropped (replay, old sequence, unknown node...), by reason.",
    );
    for reason in DROP_REASONS {
        let n = dropped.get(&reason).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "hbd_messages_dropped_total{{reason=\"{}\"}} {n}",
            drop_label(reason)
        );
    }

    head(
        &mut o,
        "hbd_heartbeat_gap_seconds",
        "histogram",
        "Time between consecutive status messages from the peer; compare with deadtime.",
    );
    histogram(
        &mut o,
        "hbd_heartbeat_gap_seconds",
        "",
        &Histogram::from(gaps),
    );

    head(
        &mut o,
        "hbd_takeovers_total",
        "counter",
        "Times this node took resource groups over, by reason.",
    );
    for reason in TAKEOVER_REASONS {
        let n = reg.takeovers.get(reason).copied().unwrap_or(0);
        let _ = writeln!(o, "hbd_takeovers_total{{reason=\"{reason}\"}} {n}");
    }
    head(
        &mut o,
        "hbd_auto_failbacks_total",
        "counter",
        "Times this node gave the peer's groups back to it (auto_failback on).",
    );
    let _ = writeln!(o, "hbd_auto_failbacks_total {}", reg.auto_failbacks);

    head(
        &mut o,
        "hbd_resource_step_duration_seconds",
        "histogram",
        "How long resource script steps ran, by action.",
    );
    for action in ["start", "stop", "status"] {
        let empty = Histogram::new(&STEP_BUCKETS_MS);
        let h = reg.step_durations.get(action).unwrap_or(&empty);
        histogram(
            &mut o,
            "hbd_resource_step_duration_seconds",
            &format!("action=\"{action}\""),
            h,
        );
    }
    head(
        &mut o,
        "hbd_resource_failures_total",
        "counter",
        "Resource script steps that failed (non-zero exit, timeout, not found), by action.",
    );
    for action in ["start", "stop", "status"] {
        let n = reg.step_failures.get(action).copied().unwrap_or(0);
        let _ = writeln!(o, "hbd_resource_failures_total{{action=\"{action}\"}} {n}");
    }
    head(
        &mut o,
        "hbd_clients_converged_seconds",
        "histogram",
        "Time from a floating address's start until every verify target answered an ARP request from it.",
    );
    let empty = Histogram::new(&CONVERGED_BUCKETS_MS);
    histogram(
        &mut o,
        "hbd_clients_converged_seconds",
        "",
        reg.converged.as_ref().unwrap_or(&empty),
    );
    head(
        &mut o,
        "hbd_clients_not_converged_total",
        "counter",
        "Convergence checks that reached verify_limit with targets still silent.",
    );
    let _ = writeln!(o, "hbd_clients_not_converged_total {}", reg.not_converged);

    head(
        &mut o,
        "hbd_group_running",
        "gauge",
        "1 while the resource group runs on this node.",
    );
    for g in &r.groups {
        let _ = writeln!(
            o,
            "hbd_group_running{{group=\"{}\",home=\"{}\"}} {}",
            esc(&g.key),
            esc(&g.home),
            u8::from(g.state == GroupState::Running)
        );
    }
    head(
        &mut o,
        "hbd_group_failed",
        "gauge",
        "1 while the resource group is failed on this node (a start, stop or monitor failure not yet cleaned up).",
    );
    for g in &r.groups {
        let _ = writeln!(
            o,
            "hbd_group_failed{{group=\"{}\",home=\"{}\"}} {}",
            esc(&g.key),
            esc(&g.home),
            u8::from(g.failure.is_some() || g.state == GroupState::Failed)
        );
    }
    head(
        &mut o,
        "hbd_resource_fails",
        "gauge",
        "Failures of the resource on this node since the last cleanup or failure_timeout.",
    );
    for g in &r.groups {
        for (res, n) in g.resources.iter().zip(&g.fail_counts) {
            let _ = writeln!(
                o,
                "hbd_resource_fails{{group=\"{}\",resource=\"{}\"}} {n}",
                esc(&g.key),
                esc(res)
            );
        }
    }
    head(
        &mut o,
        "hbd_notify_dropped_total",
        "counter",
        "Notifications the notify hook never got: dropped while its queue was full behind a slow or hung run.",
    );
    let _ = writeln!(o, "hbd_notify_dropped_total {}", r.notify_dropped);
    head(
        &mut o,
        "hbd_rcd_dropped_total",
        "counter",
        "rc.d runs (heartbeat's harc) dropped while their queue was full behind a slow or hung site script.",
    );
    let _ = writeln!(o, "hbd_rcd_dropped_total {}", r.rcd_dropped);
    o
}

/// The peer as a partner: packets failing authentication in its name, the
/// configuration comparison, the start-up negotiation wait.
fn peer_checks(o: &mut String, r: &StatusReport) {
    let link = |l: &LinkReport| format!("link=\"{}\"", esc(&l.name));
    head(
        o,
        "hbd_peer_auth_failures_total",
        "counter",
        "Packets claiming to be the peer's that failed authentication on the link.",
    );
    for l in &r.links {
        let _ = writeln!(
            o,
            "hbd_peer_auth_failures_total{{{}}} {}",
            link(l),
            l.peer_auth_failures
        );
    }
    head(
        o,
        "hbd_peer_auth_failing",
        "gauge",
        "1 while packets in the peer's name fail authentication on the link and the peer is not heard on it (authkeys differ?).",
    );
    for l in &r.links {
        let _ = writeln!(
            o,
            "hbd_peer_auth_failing{{{}}} {}",
            link(l),
            u8::from(l.peer_auth_failing)
        );
    }
    head(
        o,
        "hbd_peer_config",
        "gauge",
        "1 for where the comparison with the hbd peer's configuration stands (unknown, heartbeat: not compared, same, differs), 0 for the others.",
    );
    for s in PeerConfigState::ALL {
        let v = u8::from(r.peer_config.state == s);
        let _ = writeln!(o, "hbd_peer_config{{state=\"{}\"}} {v}", s.word());
    }
    head(
        o,
        "hbd_peer_config_differences",
        "gauge",
        "Parts of the configuration that differ from the hbd peer's (0 when they agree or are not compared).",
    );
    let _ = writeln!(
        o,
        "hbd_peer_config_differences {}",
        r.peer_config.differences.len()
    );
    head(
        o,
        "hbd_startup_wait_seconds",
        "gauge",
        "Seconds the start-up negotiation still waits for the peer at most (RQSTDELAY); 0 when not waiting.",
    );
    let _ = writeln!(
        o,
        "hbd_startup_wait_seconds {}",
        secs(r.startup_wait_left_ms.unwrap_or(0))
    );
}

/// A scrape request: the loop answers with the rendered text.
pub type Scrape = oneshot::Sender<String>;

/// Serves `GET /metrics` until the task is aborted; each scrape is answered by
/// the daemon loop through `scrapes`.
pub async fn serve(listener: TcpListener, scrapes: mpsc::Sender<Scrape>) {
    let slots = std::sync::Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let scrapes = scrapes.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &scrapes).await {
                log::debug!("metrics: {peer}: {e}");
            }
            drop(permit);
        });
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Metrics,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Routes a request head (everything before the blank line).
pub fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    // Prometheus may add query parameters; they select nothing here.
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics,
        ("GET", _) => Route::NotFound,
        _ => Route::MethodNotAllowed,
    }
}

async fn connection(mut s: TcpStream, scrapes: &mpsc::Sender<Scrape>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head_read = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(Some(end));
            }
            if buf.len() > MAX_REQUEST {
                return Ok(None);
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed before the end of the request head",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let (status, body) = match head_read {
        Err(_) => (
            "408 Request Timeout",
            "request head not received in time\n".to_string(),
        ),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) => (
            "431 Request Header Fields Too Large",
            format!("request head over {MAX_REQUEST} bytes\n"),
        ),
        Ok(Ok(Some(end))) => match route(&buf[..end]) {
            Route::Metrics => {
                let (tx, rx) = oneshot::channel();
                let text = match scrapes.send(tx).await {
                    Ok(()) => rx.await.ok(),
                    Err(_) => None,
                };
                match text {
                    Some(t) => ("200 OK", t),
                    None => ("503 Service Unavailable", "hbd is stopping\n".into()),
                }
            }
            Route::NotFound => ("404 Not Found", "try /metrics\n".into()),
            Route::MethodNotAllowed => ("405 Method Not Allowed", "only GET\n".into()),
            Route::BadRequest => ("400 Bad Request", "not an HTTP/1.x request line\n".into()),
        },
    };
    let ctype = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let allow = if status.starts_with("405") {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        s.write_all(resp.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        s.shutdown().await
    };
    tokio::time::timeout(READ_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{GroupReport, NodeReport};
    use crate::core::GroupId;
    use crate::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn small() -> (StatusReport, GapHistogram, Registry) {
        let r = StatusReport {
            version: "0.1.0".into(),
            uptime_ms: 12_345,
            local: NodeReport {
                name: "alpha".into(),
                state: "active".into(),
                generation: Some(7),
                last_heard_ms_ago: None,
            },
            peer: NodeReport {
                name: "beta".into(),
                state: "dead".into(),
                generation: Some(3),
                last_heard_ms_ago: Some(4_500),
            },
            links: vec![LinkReport {
                name: "eth0".into(),
                kind: "ucast".into(),
                up: false,
                last_heard_ms_ago: Some(4_500),
                sent: 20,
                received: 9,
                bad_auth: 1,
                malformed: 0,
                late: 1,
                errors: 0,
                peer_auth_failures: 1,
                peer_auth_failing: true,
                loss: Some(crate::control::LossCount { lost: 64, of: 256 }),
                peer_loss: None,
                copies: 2,
                advice: None,
            }],
            groups: vec![GroupReport {
                key: "IPaddr::192.0.2.10".into(),
                home: "alpha".into(),
                owner: Some("alpha".into()),
                state: GroupState::Running,
                resources: vec!["IPaddr::192.0.2.10".into()],
                fail_counts: vec![2],
                ..GroupReport::default()
            }],
            keepalive_ms: 1000,
            deadtime_ms: 2000,
            notify_dropped: 3,
            rcd_dropped: 2,
            ..StatusReport::default()
        };
        let mut gaps = GapHistogram::for_timing(ms(1000), ms(1500), ms(2000));
        gaps.observe(ms(1000));
        gaps.observe(ms(1600));
        let mut reg = Registry::new();
        reg.rejected(0, "bad_mac");
        reg.observe_output(
            Instant::from_millis(10_000),
            &Output::Event(Event::TakeoverStarted {
                node: "beta".into(),
                reason: "peer dead".into(),
            }),
        );
        reg.observe_output(
            Instant::from_millis(10_000),
            &Output::Run(Step {
                id: StepId(4),
                group: GroupId(0),
                resource: 0,
                action: Action::Start,
            }),
        );
        reg.observe_input(
            Instant::from_millis(10_300),
            &Input::StepDone {
                id: StepId(4),
                outcome: StepOutcome::Failed {
                    code: Some(1),
                    reason: "exit 1".into(),
                    output: String::new(),
                },
            },
        );
        reg.convergence(Some(312));
        reg.convergence(None);
        (r, gaps, reg)
    }

    #[test]
    fn renders_a_small_status_exactly() {
        let (r, gaps, reg) = small();
        let got = render(&r, &gaps, &BTreeMap::new(), &reg);
        assert_eq!(got, EXPECTED);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(esc("x\ny"), "x\\ny");
        let (mut r, gaps, reg) = small();
        r.groups[0].key = "odd\"name".into();
        assert!(render(&r, &gaps, &BTreeMap::new(), &reg).contains(r#"group="odd\"name""#));
    }

    #[test]
    fn takeover_reasons_come_from_core_events() {
        let mut reg = Registry::new();
        let t = Instant::from_millis(1);
        let ev = |reg: &mut Registry, e: Event| reg.observe_output(t, &Output::Event(e));
        ev(
            &mut reg,
            Event::TakeoverStarted {
                node: "b".into(),
                reason: "peer shut down".into(),
            },
        );
        ev(
            &mut reg,
            Event::StandbyAcquired {
                set: crate::core::HoldSet::All,
            },
        );
        reg.takeover_requested();
        ev(
            &mut reg,
            Event::StandbyAcquired {
                set: crate::core::HoldSet::Foreign,
            },
        );
        // The request is used up by the acquisition it caused.
        ev(
            &mut reg,
            Event::StandbyAcquired {
                set: crate::core::HoldSet::Foreign,
            },
        );
        ev(&mut reg, Event::AutoFailback);
        assert_eq!(reg.takeovers.get("shutdone"), Some(&1));
        assert_eq!(reg.takeovers.get("standby"), Some(&2));
        assert_eq!(reg.takeovers.get("takeover"), Some(&1));
        assert_eq!(reg.takeovers.get("peer_dead"), None);
        assert_eq!(reg.auto_failbacks, 1);
        let (r, gaps, _) = small();
        let dropped = BTreeMap::from([(DropReason::Replay, 5), (DropReason::StaleControl, 1)]);
        let text = render(&r, &gaps, &dropped, &reg);
        assert!(text.contains("hbd_messages_dropped_total{reason=\"replay\"} 5\n"));
        assert!(text.contains("hbd_messages_dropped_total{reason=\"stale_control\"} 1\n"));
        assert!(text.contains("hbd_messages_dropped_total{reason=\"peer_dead\"} 0\n"));
        assert!(text.contains("hbd_auto_failbacks_total 1\n"));
    }

    #[test]
    fn a_step_result_for_another_step_is_not_timed() {
        let mut reg = Registry::new();
        let step = |id| {
            Output::Run(Step {
                id: StepId(id),
                group: GroupId(0),
                resource: 0,
                action: Action::Stop,
            })
        };
        let done = |id| Input::StepDone {
            id: StepId(id),
            outcome: StepOutcome::Ok,
        };
        reg.observe_output(Instant::from_millis(0), &step(1));
        reg.observe_input(Instant::from_millis(50), &done(2));
        assert!(reg.step_durations.is_empty());
        reg.observe_input(Instant::from_millis(2600), &done(1));
        let h = &reg.step_durations["stop"];
        assert_eq!((h.count, h.sum_ms), (1, 2600));
        assert_eq!(h.counts[7], 1, "2.6s falls in (2.5s, 5s]");
        assert!(reg.step_failures.is_empty());
        // Answered once: a repeated result is not counted again.
        reg.observe_input(Instant::from_millis(3000), &done(1));
        assert_eq!(reg.step_durations["stop"].count, 1);
    }

    #[test]
    fn routes_only_get_metrics() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x"), Route::Metrics);
        assert_eq!(route(b"GET /metrics?name[]=x HTTP/1.0"), Route::Metrics);
        assert_eq!(route(b"GET / HTTP/1.1"), Route::NotFound);
        assert_eq!(route(b"GET /metricsx HTTP/1.1"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1"), Route::MethodNotAllowed);
        assert_eq!(route(b"GET /metrics"), Route::BadRequest);
        assert_eq!(route(b"GET /metrics SPDY/3"), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe"), Route::BadRequest);
    }

    /// The server against a stand-in loop that answers every scrape with a fixed text.
    #[test]
    fn server_answers_scrapes_and_refuses_the_rest() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let addr = l.local_addr().unwrap();
            let (tx, mut rx) = mpsc::channel::<Scrape>(4);
            let server = tokio::spawn(serve(l, tx));
            let looper = tokio::spawn(async move {
                while let Some(reply) = rx.recv().await {
                    let _ = reply.send("hbd_up 1\n".into());
                }
            });
            let ask = |req: Vec<u8>| async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&req).await.unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).await.unwrap();
                out
            };
            let ok = ask(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()).await;
            assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
            assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
            assert!(ok.contains("Content-Length: 9\r\n"));
            assert!(ok.ends_with("\r\n\r\nhbd_up 1\n"), "{ok}");
            let nf = ask(b"GET /nope HTTP/1.1\r\n\r\n".to_vec()).await;
            assert!(nf.starts_with("HTTP/1.1 404 Not Found\r\n"), "{nf}");
            let na = ask(b"DELETE /metrics HTTP/1.1\r\n\r\n".to_vec()).await;
            assert!(
                na.starts_with("HTTP/1.1 405 ") && na.contains("Allow: GET\r\n"),
                "{na}"
            );
            let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
            big.extend(std::iter::repeat_n(b'a', MAX_REQUEST + 10));
            let tl = ask(big).await;
            assert!(tl.starts_with("HTTP/1.1 431 "), "{tl}");
            server.abort();
            looper.abort();
        });
    }

    proptest::proptest! {
        /// Any bytes route to something; a well-formed GET routes by its path alone.
        #[test]
        fn route_never_panics_and_follows_the_path(
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            path in "/[a-z/?=]{0,20}",
            minor in 0u8..2,
        ) {
            let _ = route(&junk);
            let head = format!("GET {path} HTTP/1.{minor}\r\nHost: x");
            let want = if path.split('?').next() == Some("/metrics") { Route::Metrics } else { Route::NotFound };
            proptest::prop_assert_eq!(route(head.as_bytes()), want);
        }

        /// Every address hbd migrate writes back is read as the same address.
        #[test]
        fn metrics_addresses_round_trip(ip in proptest::prelude::any::<std::net::IpAddr>(), port in 1u16..) {
            let a = SocketAddr::new(ip, port);
            proptest::prop_assert_eq!(crate::config::toml_form::parse_metrics_addr(&a.to_string()), Ok(a));
        }
    }

    #[test]
    fn a_client_that_never_finishes_its_request_gets_408() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let addr = l.local_addr().unwrap();
            let (tx, _rx) = mpsc::channel::<Scrape>(1);
            let server = tokio::spawn(serve(l, tx));
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
            let t0 = std::time::Instant::now();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
            assert!(t0.elapsed() >= READ_TIMEOUT - std::time::Duration::from_millis(100));
            server.abort();
        });
    }

    const EXPECTED: &str = r#"# HELP hbd_build_info hbd version (always 1).
# TYPE hbd_build_info gauge
hbd_build_info{version="0.1.0"} 1
# HELP hbd_uptime_seconds Seconds since this hbd started (monotonic clock).
# TYPE hbd_uptime_seconds gauge
hbd_uptime_seconds 12.345
# HELP hbd_generation This node's heartbeat generation (hg), incremented at each start.
# TYPE hbd_generation gauge
hbd_generation 7
# HELP hbd_keepalive_seconds Configured keepalive.
# TYPE hbd_keepalive_seconds gauge
hbd_keepalive_seconds 1
# HELP hbd_deadtime_seconds Configured deadtime.
# TYPE hbd_deadtime_seconds gauge
hbd_deadtime_seconds 2
# HELP hbd_node_state 1 for the state each node is in (heartbeat's words), 0 for the others.
# TYPE hbd_node_state gauge
hbd_node_state{node="alpha",state="init"} 0
hbd_node_state{node="alpha",state="up"} 0
hbd_node_state{node="alpha",state="active"} 1
hbd_node_state{node="alpha",state="dead"} 0
hbd_node_state{node="beta",state="init"} 0
hbd_node_state{node="beta",state="up"} 0
hbd_node_state{node="beta",state="active"} 0
hbd_node_state{node="beta",state="dead"} 1
# HELP hbd_maintenance 1 while the node is in maintenance mode (this node's; the peer's as an hbd peer says).
# TYPE hbd_maintenance gauge
hbd_maintenance{node="alpha"} 0
hbd_maintenance{node="beta"} 0
# HELP hbd_peer_last_heard_seconds Seconds since the peer's last status message on any link.
# TYPE hbd_peer_last_heard_seconds gauge
hbd_peer_last_heard_seconds{node="beta"} 4.5
# HELP hbd_link_up 1 while the peer is heard on the link.
# TYPE hbd_link_up gauge
hbd_link_up{link="eth0",kind="ucast"} 0
# HELP hbd_link_last_heard_seconds Seconds since the peer was last heard on the link (absent until first heard).
# TYPE hbd_link_last_heard_seconds gauge
hbd_link_last_heard_seconds{link="eth0"} 4.5
# HELP hbd_link_loss_ratio Share of the peer's last datagrams on the link (its link numbers, else its sequence numbers) that never came.
# TYPE hbd_link_loss_ratio gauge
hbd_link_loss_ratio{link="eth0"} 0.25
# HELP hbd_link_status_copies How many times each of our statuses goes on the link (more than 1: loss-adaptive redundancy toward an hbd peer).
# TYPE hbd_link_status_copies gauge
hbd_link_status_copies{link="eth0"} 2
# HELP hbd_packets_sent_total Packets sent on the link.
# TYPE hbd_packets_sent_total counter
hbd_packets_sent_total{link="eth0"} 20
# HELP hbd_packets_received_total Authenticated packets received from the peer on the link.
# TYPE hbd_packets_received_total counter
hbd_packets_received_total{link="eth0"} 9
# HELP hbd_packets_bad_auth_total Packets dropped on the link for their authentication (unsigned, unknown key, bad MAC).
# TYPE hbd_packets_bad_auth_total counter
hbd_packets_bad_auth_total{link="eth0"} 1
# HELP hbd_packets_malformed_total Packets or serial frames dropped on the link as malformed.
# TYPE hbd_packets_malformed_total counter
hbd_packets_malformed_total{link="eth0"} 0
# HELP hbd_link_errors_total Messages that could not be sealed or sent on the link.
# TYPE hbd_link_errors_total counter
hbd_link_errors_total{link="eth0"} 0
# HELP hbd_late_heartbeats_total Peer status messages that arrived on the link later than warntime after the previous one.
# TYPE hbd_late_heartbeats_total counter
hbd_late_heartbeats_total{link="eth0"} 1
# HELP hbd_peer_auth_failures_total Packets claiming to be the peer's that failed authentication on the link.
# TYPE hbd_peer_auth_failures_total counter
hbd_peer_auth_failures_total{link="eth0"} 1
# HELP hbd_peer_auth_failing 1 while packets in the peer's name fail authentication on the link and the peer is not heard on it (authkeys differ?).
# TYPE hbd_peer_auth_failing gauge
hbd_peer_auth_failing{link="eth0"} 1
# HELP hbd_peer_config 1 for where the comparison with the hbd peer's configuration stands (unknown, heartbeat: not compared, same, differs), 0 for the others.
# TYPE hbd_peer_config gauge
hbd_peer_config{state="unknown"} 1
hbd_peer_config{state="heartbeat"} 0
hbd_peer_config{state="same"} 0
hbd_peer_config{state="differs"} 0
# HELP hbd_peer_config_differences Parts of the configuration that differ from the hbd peer's (0 when they agree or are not compared).
# TYPE hbd_peer_config_differences gauge
hbd_peer_config_differences 0
# HELP hbd_startup_wait_seconds Seconds the start-up negotiation still waits for the peer at most (RQSTDELAY); 0 when not waiting.
# TYPE hbd_startup_wait_seconds gauge
hbd_startup_wait_seconds 0
# HELP hbd_packets_rejected_total Packets dropped before reaching the core, by link and reason.
# TYPE hbd_packets_rejected_total counter
hbd_packets_rejected_total{link="eth0",reason="malformed"} 0
hbd_packets_rejected_total{link="eth0",reason="unsigned"} 0
hbd_packets_rejected_total{link="eth0",reason="unknown_key"} 0
hbd_packets_rejected_total{link="eth0",reason="bad_mac"} 1
# HELP hbd_messages_dropped_total Authenticated messages the core dropped (replay, old sequence, unknown node...), by reason.
# TYPE hbd_messages_dropped_total counter
hbd_messages_dropped_total{reason="missing_field"} 0
hbd_messages_dropped_total{reason="unknown_node"} 0
hbd_messages_dropped_total{reason="replay"} 0
hbd_messages_dropped_total{reason="generation_not_announced"} 0
hbd_messages_dropped_total{reason="old_sequence"} 0
hbd_messages_dropped_total{reason="stale_control"} 0
hbd_messages_dropped_total{reason="peer_dead"} 0
hbd_messages_dropped_total{reason="control_before_status"} 0
# HELP hbd_heartbeat_gap_seconds Time between consecutive status messages from the peer; compare with deadtime.
# TYPE hbd_heartbeat_gap_seconds histogram
hbd_heartbeat_gap_seconds_bucket{le="0.5"} 0
hbd_heartbeat_gap_seconds_bucket{le="0.75"} 0
hbd_heartbeat_gap_seconds_bucket{le="0.9"} 0
hbd_heartbeat_gap_seconds_bucket{le="1.1"} 1
hbd_heartbeat_gap_seconds_bucket{le="1.25"} 1
hbd_heartbeat_gap_seconds_bucket{le="1.5"} 1
hbd_heartbeat_gap_seconds_bucket{le="2"} 2
hbd_heartbeat_gap_seconds_bucket{le="3"} 2
hbd_heartbeat_gap_seconds_bucket{le="5"} 2
hbd_heartbeat_gap_seconds_bucket{le="10"} 2
hbd_heartbeat_gap_seconds_bucket{le="+Inf"} 2
hbd_heartbeat_gap_seconds_sum 2.6
hbd_heartbeat_gap_seconds_count 2
# HELP hbd_takeovers_total Times this node took resource groups over, by reason.
# TYPE hbd_takeovers_total counter
hbd_takeovers_total{reason="peer_dead"} 1
hbd_takeovers_total{reason="shutdone"} 0
hbd_takeovers_total{reason="standby"} 0
hbd_takeovers_total{reason="takeover"} 0
# HELP hbd_auto_failbacks_total Times this node gave the peer's groups back to it (auto_failback on).
# TYPE hbd_auto_failbacks_total counter
hbd_auto_failbacks_total 0
# HELP hbd_resource_step_duration_seconds How long resource script steps ran, by action.
# TYPE hbd_resource_step_duration_seconds histogram
hbd_resource_step_duration_seconds_bucket{action="start",le="0.01"} 0
hbd_resource_step_duration_seconds_bucket{action="start",le="0.05"} 0
hbd_resource_step_duration_seconds_bucket{action="start",le="0.1"} 0
hbd_resource_step_duration_seconds_bucket{action="start",le="0.25"} 0
hbd_resource_step_duration_seconds_bucket{action="start",le="0.5"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="1"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="2.5"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="5"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="10"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="30"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="60"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="120"} 1
hbd_resource_step_duration_seconds_bucket{action="start",le="+Inf"} 1
hbd_resource_step_duration_seconds_sum{action="start"} 0.3
hbd_resource_step_duration_seconds_count{action="start"} 1
hbd_resource_step_duration_seconds_bucket{action="stop",le="0.01"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="0.05"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="0.1"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="0.25"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="0.5"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="1"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="2.5"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="5"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="10"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="30"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="60"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="120"} 0
hbd_resource_step_duration_seconds_bucket{action="stop",le="+Inf"} 0
hbd_resource_step_duration_seconds_sum{action="stop"} 0
hbd_resource_step_duration_seconds_count{action="stop"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="0.01"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="0.05"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="0.1"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="0.25"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="0.5"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="1"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="2.5"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="5"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="10"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="30"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="60"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="120"} 0
hbd_resource_step_duration_seconds_bucket{action="status",le="+Inf"} 0
hbd_resource_step_duration_seconds_sum{action="status"} 0
hbd_resource_step_duration_seconds_count{action="status"} 0
# HELP hbd_resource_failures_total Resource script steps that failed (non-zero exit, timeout, not found), by action.
# TYPE hbd_resource_failures_total counter
hbd_resource_failures_total{action="start"} 1
hbd_resource_failures_total{action="stop"} 0
hbd_resource_failures_total{action="status"} 0
# HELP hbd_clients_converged_seconds Time from a floating address's start until every verify target answered an ARP request from it.
# TYPE hbd_clients_converged_seconds histogram
hbd_clients_converged_seconds_bucket{le="0.01"} 0
hbd_clients_converged_seconds_bucket{le="0.025"} 0
hbd_clients_converged_seconds_bucket{le="0.05"} 0
hbd_clients_converged_seconds_bucket{le="0.1"} 0
hbd_clients_converged_seconds_bucket{le="0.25"} 0
hbd_clients_converged_seconds_bucket{le="0.5"} 1
hbd_clients_converged_seconds_bucket{le="1"} 1
hbd_clients_converged_seconds_bucket{le="2.5"} 1
hbd_clients_converged_seconds_bucket{le="5"} 1
hbd_clients_converged_seconds_bucket{le="10"} 1
hbd_clients_converged_seconds_bucket{le="30"} 1
hbd_clients_converged_seconds_bucket{le="60"} 1
hbd_clients_converged_seconds_bucket{le="+Inf"} 1
hbd_clients_converged_seconds_sum 0.312
hbd_clients_converged_seconds_count 1
# HELP hbd_clients_not_converged_total Convergence checks that reached verify_limit with targets still silent.
# TYPE hbd_clients_not_converged_total counter
hbd_clients_not_converged_total 1
# HELP hbd_group_running 1 while the resource group runs on this node.
# TYPE hbd_group_running gauge
hbd_group_running{group="IPaddr::192.0.2.10",home="alpha"} 1
# HELP hbd_group_failed 1 while the resource group is failed on this node (a start, stop or monitor failure not yet cleaned up).
# TYPE hbd_group_failed gauge
hbd_group_failed{group="IPaddr::192.0.2.10",home="alpha"} 0
# HELP hbd_resource_fails Failures of the resource on this node since the last cleanup or failure_timeout.
# TYPE hbd_resource_fails gauge
hbd_resource_fails{group="IPaddr::192.0.2.10",resource="IPaddr::192.0.2.10"} 2
# HELP hbd_notify_dropped_total Notifications the notify hook never got: dropped while its queue was full behind a slow or hung run.
# TYPE hbd_notify_dropped_total counter
hbd_notify_dropped_total 3
# HELP hbd_rcd_dropped_total rc.d runs (heartbeat's harc) dropped while their queue was full behind a slow or hung site script.
# TYPE hbd_rcd_dropped_total counter
hbd_rcd_dropped_total 2
"#;
}
