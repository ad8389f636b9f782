//! The loop that owns the core (STYLE "Shell"): it turns the inbox's events,
//! signals, scrapes and the timer into `core::Input`s, and the core's outputs
//! into packets (through [`Links`]), resource runs (through [`Resources`]) and
//! log lines. It decides nothing about failover.

use super::clock::{Alarm, Clock};
use super::hooks::Hooks;
use super::inbox::LoopEvent;
use super::link::{Links, Reopened};
use super::resource::Resources;
use super::startup::RunOptions;
use super::watchdog::{self, Watchdog};
use super::{footprint, logging, metrics, notify, ping, reload, report, state};
use crate::config::{Config, Medium};
use crate::control::{Request, Response, StatusReport};
use crate::core::{Command, GroupId, Input, LinkId, Node, NodeParams, Output};
use crate::time::{Duration, Instant};
use crate::wire::{self, Rejection, Repr};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokio::sync::mpsc;

/// The sender a packet names, before (and whatever) its authentication:
/// for diagnostics only, never for a decision.
fn claimed_src(bytes: &[u8]) -> Option<String> {
    let m = match wire::Format::detect(bytes)? {
        wire::Format::Netstring => wire::netstring::decode(bytes).ok()?.message,
        wire::Format::Classic => wire::classic::decode(bytes).ok()?,
        wire::Format::Compact => wire::compact::decode(bytes).ok()?.message,
    };
    m.get("src").map(str::to_string)
}

/// What wakes the loop from outside: the binary forwards SIGTERM/SIGINT/SIGHUP
/// here; an embedding (a test, the demo) sends them directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// Graceful shutdown; a second one exits at once.
    Stop(&'static str),
    Reload,
    /// SIGUSR1 (`true`) / SIGUSR2: one step more or less verbose, as heartbeat.
    Verbosity(bool),
}

/// A stop signal this soon after the first is the same request repeated
/// (ignored); a later one is an operator insisting (exit at once).
const STOP_REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// The graceful shutdown the first stop signal began.
#[derive(Clone, Copy, Debug)]
struct Stopping {
    since: Instant,
    /// When it must have finished.
    deadline: Instant,
    /// The signal that began it, for the log.
    signal: &'static str,
}

/// The loop's state: the core and what the shell keeps beside it. `serve`
/// builds it with [`Daemon::new`] from what start-up opened, runs the loop,
/// then closes what it holds with [`Daemon::finish`].
pub(super) struct Daemon {
    node: Node,
    clock: Clock,
    cfg: Config,
    opts: RunOptions,
    local: String,
    links: Links,
    resources: Resources,
    /// The loop's own inbox, for tasks (re)started while it runs.
    tx: mpsc::Sender<LoopEvent>,
    /// Inputs produced while draining outputs (a script that cannot even be found).
    pending: VecDeque<Input>,
    /// A graceful shutdown under way.
    shutting_down: Option<Stopping>,
    exit: Option<ExitCode>,
    /// The core's refusal of the operator command being handled, so the control
    /// socket can answer with it instead of "accepted".
    refusal: Option<String>,
    /// systemd readiness, status line and watchdog (no-op outside systemd).
    notify: notify::Notifier,
    /// The ping node task (restarted when a reload changes ping settings).
    pinger: tokio::task::JoinHandle<()>,
    /// What only the shell sees, for the Prometheus endpoint.
    metrics: metrics::Registry,
    /// Scrapes waiting for a rendering (None: metrics off).
    scrapes: Option<mpsc::Receiver<metrics::Scrape>>,
    /// Packets claiming to be the peer's that failed authentication.
    peer_auth: report::PeerAuth,
    /// rc.d scripts and the notify hook, told what happened.
    hooks: Hooks,
    /// The graceful shutdown completed (else the loop was told to exit at once).
    shut_down: bool,
    /// heartbeat's `watchdog`: fed on each heartbeat the core sends.
    watchdog: Option<Watchdog>,
    /// The floating addresses' convergence checks, for `hbd status`.
    convergence: report::Convergence,
    /// Maintenance mode is recorded in the state directory.
    maintenance_recorded: bool,
    /// `hbd restart` was accepted: when the loop ends, the binary starts
    /// again in place.
    reexec: bool,
    /// The core may have changed what systemd's status line and the group
    /// notices show: set by anything but a heartbeat sent or received, so
    /// that the status snapshot is not rebuilt for every heartbeat.
    status_dirty: bool,
    /// When to drop the start-up's code pages from the page tables.
    trimmer: footprint::Trimmer,
}

impl Daemon {
    /// The core built from `params` at the clock's now, beside the links and
    /// resources start-up opened; starts the ping node task. `tx` is the
    /// sending side of the inbox `run_loop` will read; `scrapes` the metrics
    /// endpoint's requests, when it is on.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: NodeParams,
        clock: Clock,
        opts: RunOptions,
        links: Links,
        resources: Resources,
        hooks: Hooks,
        tx: mpsc::Sender<LoopEvent>,
        scrapes: Option<mpsc::Receiver<metrics::Scrape>>,
    ) -> Daemon {
        let cfg = params.config.clone();
        let local = params.local.clone();
        let maintenance_recorded = params.maintenance;
        let pinger = tokio::spawn(ping::run(cfg.clone(), tx.clone()));
        Daemon {
            node: Node::new(params, clock.now()),
            clock,
            cfg,
            opts,
            local,
            links,
            resources,
            tx,
            pending: VecDeque::new(),
            refusal: None,
            shutting_down: None,
            exit: None,
            notify: notify::Notifier::from_env(),
            pinger,
            metrics: metrics::Registry::new(),
            scrapes,
            peer_auth: report::PeerAuth::default(),
            hooks,
            shut_down: false,
            watchdog: None,
            convergence: report::Convergence::default(),
            maintenance_recorded,
            reexec: false,
            status_dirty: true,
            trimmer: footprint::Trimmer::new(clock.now()),
        }
    }

    /// Whether the loop ended for `hbd restart` (the caller execs the
    /// binary again).
    pub fn wants_reexec(&self) -> bool {
        self.reexec && self.shut_down
    }

    /// Hands the armed watchdog to the loop, which feeds it from now on.
    pub fn feed_watchdog(&mut self, w: Watchdog) {
        self.watchdog = Some(w);
    }

    /// After `run_loop`: stops the ping node task and closes the links; serial
    /// links may take up to `flush` to write what is queued (the peer must
    /// hear our `shutdone`).
    pub async fn finish(mut self, flush: std::time::Duration) {
        // Disarmed only once every resource is released and the peer told.
        match self.watchdog.take() {
            Some(w) if self.shut_down => w.disarm(),
            Some(w) => w.leave_armed(),
            None => {}
        }
        self.pinger.abort();
        self.links.close(flush).await;
        self.hooks.close(self.shut_down).await;
    }

    /// Runs until a graceful shutdown completes, a second stop, or a failure
    /// of the loop's own machinery; the exit code says which.
    pub async fn run_loop(
        &mut self,
        mut rx: mpsc::Receiver<LoopEvent>,
        mut sigs: mpsc::Receiver<Sig>,
    ) -> ExitCode {
        let mut sigs_open = true;
        let mut last_timer = self.clock.now();
        let mut alarm = match Alarm::new(self.clock) {
            Ok(a) => a,
            Err(e) => {
                log::error!("cannot create the loop's timer (timerfd): {e}");
                return ExitCode::from(1);
            }
        };
        let mut watchdog = self.notify.watchdog_timer();
        let mut scrapes = self.scrapes.take();
        self.drain();
        self.restore_persistent_standby();
        while self.exit.is_none() {
            self.trim_when_quiet();
            if std::mem::take(&mut self.status_dirty)
                && (self.notify.enabled() || self.hooks.watches_groups())
            {
                let st = self.node.status();
                self.notify.observe(&st);
                self.hooks.observe(&st);
            }
            let now = self.clock.now();
            // An absolute target, so a flood of packets cannot keep pushing the
            // timer away; but at most one timer per ms, so a deadline the core
            // keeps in the past is no busy loop (at SCHED_FIFO it would starve
            // the machine).
            let target = self
                .node
                .next_deadline()
                .unwrap_or(now + Duration::from_secs(3600))
                .max(last_timer + Duration::from_millis(1));
            if let Err(e) = alarm.set(target) {
                log::error!("cannot arm the loop's timer (timerfd): {e}");
                return ExitCode::from(1);
            }
            let shutdown_left = self.shutting_down.map(|s| s.deadline.saturating_since(now));
            tokio::select! {
                fired = alarm.fired() => {
                    if let Err(e) = fired {
                        log::error!("the loop's timer (timerfd) failed: {e}");
                        return ExitCode::from(1);
                    }
                    last_timer = self.clock.now();
                    self.handle(Input::Timer);
                }
                ev = rx.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => {
                        log::error!("internal: event channel closed");
                        return ExitCode::from(1);
                    }
                },
                sig = sigs.recv(), if sigs_open => match sig {
                    Some(Sig::Stop(name)) => self.on_stop_signal(name),
                    Some(Sig::Reload) => self.reload().await,
                    Some(Sig::Verbosity(up)) => {
                        let l = logging::step_verbosity(up);
                        log::warn!("log level now {l} ({})", if up { "SIGUSR1" } else { "SIGUSR2" });
                    }
                    // Nobody could stop us any more: stop gracefully now.
                    None => {
                        sigs_open = false;
                        if self.shutting_down.is_none() {
                            self.on_stop_signal("end of the signal source");
                        }
                    }
                },
                scrape = async { match scrapes.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => match scrape {
                    Some(reply) => { let _ = reply.send(self.render_metrics()); }
                    None => scrapes = None,
                },
                _ = async { match watchdog.as_mut() { Some(w) => { w.tick().await; } None => std::future::pending().await } } => {
                    self.notify.ping();
                }
                _ = async { match shutdown_left { Some(l) => tokio::time::sleep(l.to_std()).await, None => std::future::pending().await } } => {
                    log::error!(
                        "shutdown did not complete within {}; exiting anyway: resources may still be running on this node",
                        self.shutdown_budget()
                    );
                    self.exit = Some(ExitCode::from(1));
                }
            }
        }
        self.exit.take().unwrap_or(ExitCode::from(1))
    }

    /// Drops the pages only start-up and past steps used from our page
    /// tables once the node has done nothing but heartbeats for a while
    /// (`footprint`). `status_dirty` is set by everything else and only
    /// taken after this.
    fn trim_when_quiet(&mut self) {
        let now = self.clock.now();
        if self.status_dirty {
            self.trimmer.active(now);
        }
        if self.shutting_down.is_some() || !self.trimmer.due(now) {
            return;
        }
        match footprint::trim() {
            Ok(t) => log::debug!(
                "footprint: dropped {} KiB of mapped code and constants ({} mappings, {} kept)",
                t.bytes / 1024,
                t.regions,
                t.failed
            ),
            Err(e) => log::debug!("footprint: cannot read /proc/self/smaps: {e}"),
        }
    }

    /// Time a graceful shutdown may take: every resource stopped at its timeout, plus slack.
    fn shutdown_budget(&self) -> Duration {
        let n: u64 = self
            .cfg
            .groups
            .iter()
            .map(|g| g.resources.len() as u64)
            .sum();
        self.cfg.hbd.script_timeout.saturating_mul(n + 1) + Duration::from_secs(30)
    }

    fn on_stop_signal(&mut self, name: &'static str) {
        let now = self.clock.now();
        if let Some(stopping) = self.shutting_down {
            let after = now.saturating_since(stopping.since);
            if after < STOP_REPEAT_WINDOW {
                // GNU timeout signals its child and then its own process group,
                // and impatient wrappers send their SIGTERM twice: the same
                // request, which must not abandon the graceful stop.
                log::warn!(
                    "{name} {after} after {}: ignored, the graceful stop goes on \
                     (another stop signal after {STOP_REPEAT_WINDOW} exits at once)",
                    stopping.signal
                );
                return;
            }
            log::warn!("second {name} during shutdown: exiting now; resources may still be running on this node");
            self.exit = Some(ExitCode::from(1));
            return;
        }
        let budget = self.shutdown_budget();
        log::info!("Heartbeat shutdown in progress. ({})", std::process::id());
        if self.node.status().maintenance {
            log::warn!("{name} received in maintenance mode: the groups are left running; an hbd peer waits for a restart, then takes over as after a crash");
        } else {
            log::info!(
                "{name} received: releasing resources and telling the peer (at most {budget})"
            );
        }
        self.shutting_down = Some(Stopping {
            since: now,
            deadline: now + budget,
            signal: name,
        });
        self.notify.stopping();
        self.handle(Input::Command(Command::Shutdown));
    }

    fn handle(&mut self, input: Input) {
        if !matches!(input, Input::Timer | Input::Message { .. }) {
            self.status_dirty = true;
        }
        let now = self.clock.now();
        self.metrics.observe_input(now, &input);
        self.node.handle(now, input);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            while let Some(out) = self.node.poll_output() {
                self.on_output(out);
                if self.exit.is_some() {
                    return;
                }
            }
            match self.pending.pop_front() {
                Some(i) => {
                    self.status_dirty = true;
                    let now = self.clock.now();
                    self.metrics.observe_input(now, &i);
                    self.node.handle(now, i);
                }
                None => return,
            }
        }
    }

    fn on_output(&mut self, out: Output) {
        self.metrics.observe_output(self.clock.now(), &out);
        if watchdog::is_own_heartbeat(&out) {
            if let Some(w) = self.watchdog.as_mut() {
                w.feed();
            }
        }
        // Everything but a message to send may change the status (node and
        // link states come with events, group states with steps).
        if !matches!(out, Output::Send { .. }) {
            self.status_dirty = true;
        }
        match out {
            Output::Send { msg, link } => {
                if self.hooks.reads_messages() {
                    self.hooks.sent(&msg.to_message());
                }
                self.links.send(&msg, link, &self.cfg, self.clock.now())
            }
            Output::Run(step) => {
                self.hooks.step(|| self.node.status());
                // A step that cannot even start fails at once, after this drain.
                if let Some(failed) = self.resources.run_step(&self.cfg, step) {
                    self.pending.push_back(failed);
                }
            }
            Output::Check(check) => self.resources.run_check(&self.cfg, check),
            Output::Event(e) => {
                log::log!(e.level(), "{e}");
                self.hooks.event(&e, || self.node.status());
            }
            Output::Refused(r) => {
                log::warn!("{r}");
                self.refusal = Some(r.to_string());
            }
            Output::Reannounce { group } => {
                if let Some(g) = self.cfg.groups.get(group.0) {
                    let key = g.key();
                    log::info!("keeping group {key} (its home node): re-announcing its addresses");
                    self.resources.reannounce(&self.cfg, &key);
                }
            }
            Output::ShutdownComplete => {
                // heartbeat's line, which CTS and log watchers wait for.
                log::info!("{} Heartbeat shutdown complete.", self.local);
                self.exit = Some(ExitCode::SUCCESS);
                self.shut_down = true;
            }
            Output::Fence { node, reason } => self.resources.run_fence(&self.cfg, node, reason),
        }
    }

    fn on_event(&mut self, ev: LoopEvent) {
        match ev {
            LoopEvent::Packet {
                link,
                epoch,
                bytes,
                from,
            } => {
                if !self.links.is_current_link(link, epoch) {
                    return;
                }
                // Without rc.d scripts nothing needs the field list: the
                // datagram is read where it lies (no allocation per heartbeat).
                let opened = if self.hooks.reads_messages() {
                    wire::open(&bytes, &self.cfg.auth).map(|msg| {
                        self.hooks.receiving(&msg);
                        Repr::parse(msg)
                    })
                } else {
                    wire::open_repr(&bytes, &self.cfg.auth)
                };
                match opened {
                    Ok(parsed) => {
                        // Identical ha.cf files ucast to both nodes' addresses, so our
                        // own datagrams come back; they are not the peer being heard.
                        let Some(input) = Input::typed(LinkId(link), parsed, &self.local) else {
                            self.links.recycle(bytes);
                            return self.hooks.received(false);
                        };
                        self.links.count_received(link);
                        if let Input::Message { msg, .. } = &input {
                            log::trace!("link {link}: t={} from {}", msg.type_name(), msg.src);
                        }
                        let delivered = self.node.delivered();
                        self.handle(input);
                        self.hooks.received(self.node.delivered() > delivered);
                    }
                    Err(rej) => self.rejected(link, &rej, &bytes, from),
                }
                self.links.recycle(bytes);
            }
            LoopEvent::Dropped { link, epoch, why } => {
                if !self.links.is_current_link(link, epoch) {
                    return;
                }
                self.metrics.bad_frame(link);
                let now = self.clock.now();
                self.links.dropped_frame(link, &why, &self.cfg, now);
            }
            LoopEvent::Transport { link, epoch, up } => {
                if !self.links.is_current(epoch) {
                    return;
                }
                log::info!(
                    "link {}: transport {}",
                    self.cfg
                        .media
                        .get(link)
                        .map(Medium::link_name)
                        .unwrap_or_default(),
                    if up { "up" } else { "down" }
                );
                self.handle(Input::LinkTransport {
                    link: LinkId(link),
                    up,
                });
            }
            LoopEvent::StepDone { id, outcome } => self.handle(Input::StepDone { id, outcome }),
            LoopEvent::CheckDone { id, outcome } => self.handle(Input::CheckDone { id, outcome }),
            LoopEvent::FenceDone { node, ok } => self.handle(Input::FenceDone { node, ok }),
            LoopEvent::PingNode { index, up } => self.handle(Input::PingNode { index, up }),
            LoopEvent::Control { req, reply } => {
                let r = self.control(req);
                let _ = reply.send(r);
            }
            LoopEvent::Announce(news) => {
                if let Some(verdict) = self.convergence.record(self.clock.now(), &news) {
                    self.metrics.convergence(verdict);
                }
            }
        }
    }

    fn rejected(&mut self, link: usize, rej: &Rejection, bytes: &[u8], from: Option<SocketAddr>) {
        self.metrics.rejected(link, rej.reason());
        let now = self.clock.now();
        self.links
            .rejected(link, rej, bytes.len(), from, &self.cfg, now);
        if !matches!(rej, Rejection::Malformed(_)) {
            self.peer_auth_failed(link, rej, bytes, now);
        }
    }

    /// A well-formed packet that failed authentication: if it claims to be
    /// the peer's, it counts for `status`, and the first of a run is an error.
    fn peer_auth_failed(&mut self, link: usize, rej: &Rejection, bytes: &[u8], now: Instant) {
        let peer = self.cfg.nodes.iter().find(|n| **n != self.local);
        let claims_peer = match (claimed_src(bytes), peer) {
            (Some(src), Some(peer)) => src.eq_ignore_ascii_case(peer),
            _ => false,
        };
        if !claims_peer {
            return;
        }
        let window = report::PeerAuth::window(&self.cfg);
        if self.peer_auth.failed(link, now, rej.reason(), window) {
            let peer = peer.cloned().unwrap_or_default();
            let heard = self.node.status().links.get(link).is_some_and(|l| l.up);
            let name = self
                .cfg
                .media
                .get(link)
                .map(Medium::link_name)
                .unwrap_or_default();
            if heard {
                log::warn!(
                    "link {name}: a packet claiming to be {peer}'s failed authentication ({rej}) while {peer} is heard: another sender using its name?"
                );
            } else {
                log::error!(
                    "link {name}: packets from {peer} fail authentication ({rej}) and {peer} is not heard: authkeys differ? Each node will declare the other dead"
                );
            }
        }
    }

    /// Hands an operator command to the core; returns its refusal, if it refused at once.
    fn command(&mut self, cmd: Command) -> Option<String> {
        self.refusal = None;
        self.handle(Input::Command(cmd));
        self.refusal.take()
    }

    fn control(&mut self, req: Request) -> Response {
        match req {
            Request::Status => Response::Status(self.status_report()),
            Request::Standby { .. }
            | Request::Takeover { .. }
            | Request::Cleanup { .. }
            | Request::Restart
            | Request::Maintenance { on: true, .. }
                if self.shutting_down.is_some() || self.reexec =>
            {
                Response::Error {
                    message: "hbd is shutting down".into(),
                }
            }
            Request::Cleanup { group } => {
                let which = match group.as_deref().map(|n| self.cfg.group_named(n)) {
                    None => None,
                    Some(Ok(i)) => Some(GroupId(i)),
                    Some(Err(message)) => return Response::Error { message },
                };
                let what = which.map_or("every group".to_string(), |g| {
                    format!("group {}", self.cfg.groups[g.0].key())
                });
                log::info!("control: cleanup of {what} requested");
                if let Some(refused) = self.command(Command::Cleanup(which)) {
                    return Response::Error { message: refused };
                }
                Response::Accepted {
                    message: format!(
                        "cleanup of {what}: failures forgotten; re-probing and deciding again where it runs"
                    ),
                }
            }
            Request::Standby { set } => {
                log::info!("control: standby [{set}] requested");
                if let Some(refused) = self.command(Command::Standby(set)) {
                    return Response::Error { message: refused };
                }
                Response::Accepted {
                    message: format!(
                        "going standby [{set}]: the peer will take these resource groups"
                    ),
                }
            }
            Request::PersistentStandby { set } => self.persistent_standby(set),
            Request::Maintenance { on, persistent } => self.maintenance(on, persistent),
            Request::Restart => self.restart(),
            Request::Takeover { set } => {
                log::info!("control: takeover [{set}] requested");
                if let Some(refused) = self.command(Command::Takeover(set)) {
                    return Response::Error { message: refused };
                }
                self.metrics.takeover_requested();
                Response::Accepted {
                    message: format!(
                        "taking over [{set}]: asking the peer to release these resource groups"
                    ),
                }
            }
        }
    }

    /// `hbd standby --persistent SET` / `--clear`: recorded in the state
    /// directory first (a restart a moment later must find it), then handed
    /// to the core; a refusal takes the record back. Taken while shutting
    /// down too: the way out must always work.
    fn persistent_standby(&mut self, set: Option<crate::core::HoldSet>) -> Response {
        let dir = self.opts.state_dir.clone();
        let path = dir.join(state::STANDBY_FILE);
        match set {
            Some(s) => log::info!("control: persistent standby [{s}] requested"),
            None => log::info!("control: persistent standby cleared"),
        }
        let before = self.node.status().persistent_standby;
        if let Err(e) = state::save_persistent_standby(&dir, set) {
            return Response::Error {
                message: format!("cannot record the persistent standby: {e}"),
            };
        }
        if let Some(refused) = self.command(Command::PersistentStandby(set)) {
            if let Err(e) = state::save_persistent_standby(&dir, before) {
                log::error!("cannot restore {} after a refusal: {e}", path.display());
            }
            return Response::Error { message: refused };
        }
        Response::Accepted {
            message: match set {
                Some(s) => format!(
                    "persistent standby [{s}] (recorded in {}): the peer runs these resource groups whenever it is alive, across restarts, until `hbd standby --clear`",
                    path.display()
                ),
                None => format!(
                    "persistent standby cleared ({} removed): the groups stay where they run; `hbd takeover` brings them here",
                    path.display()
                ),
            },
        }
    }

    /// `hbd maintenance on|off [--persistent]`. Off always works: it
    /// removes the record first (a failure to is said, and maintenance
    /// ends anyway), then tells the core.
    fn maintenance(&mut self, on: bool, persistent: bool) -> Response {
        let dir = self.opts.state_dir.clone();
        let path = dir.join(state::MAINTENANCE_FILE);
        if !on {
            log::info!("control: maintenance mode off requested");
            let unrecorded = state::save_maintenance(&dir, false);
            self.maintenance_recorded = unrecorded.is_err();
            self.command(Command::Maintenance(false));
            return match unrecorded {
                Ok(()) => Response::Accepted {
                    message: "maintenance mode off: monitoring resumes and this node decides again where its groups run".into(),
                },
                Err(e) => {
                    log::error!("maintenance mode off, but {e}: remove the file, or the next start is in maintenance again");
                    Response::Error {
                        message: format!("maintenance mode is off, but its record stays: {e}; remove it by hand, or the next start is in maintenance again"),
                    }
                }
            };
        }
        log::info!(
            "control: maintenance mode on{} requested",
            if persistent { " --persistent" } else { "" }
        );
        if let Some(refused) = self.command(Command::Maintenance(true)) {
            return Response::Error { message: refused };
        }
        if persistent {
            if let Err(e) = state::save_maintenance(&dir, true) {
                return Response::Error {
                    message: format!(
                        "maintenance mode is on, but not recorded ({e}): it ends if hbd restarts"
                    ),
                };
            }
            self.maintenance_recorded = true;
        }
        Response::Accepted {
            message: format!(
                "maintenance mode on{}: heartbeats go on; this node starts, stops, monitors and takes over nothing until `hbd maintenance off`",
                if self.maintenance_recorded {
                    format!(" (recorded in {}: it survives a restart)", path.display())
                } else {
                    String::new()
                }
            ),
        }
    }

    /// `hbd restart`: the core ends leaving the groups running (or, with a
    /// heartbeat peer, hands them over); then the binary starts again in
    /// place, same pid, so systemd sees a reload.
    fn restart(&mut self) -> Response {
        log::info!("control: planned restart requested");
        if let Some(refused) = self.command(Command::Restart) {
            return Response::Error { message: refused };
        }
        self.reexec = true;
        if self.exit.is_none() {
            // The heartbeat peer's fallback: a graceful stop is under way.
            let now = self.clock.now();
            self.shutting_down = Some(Stopping {
                since: now,
                deadline: now + self.shutdown_budget(),
                signal: "hbd restart",
            });
            self.notify.stopping();
            return Response::Accepted {
                message: "restarting: the peer runs heartbeat, which cannot wait for a restart; the groups are handed over first (a graceful stop), then hbd starts again".into(),
            };
        }
        self.notify.restarting();
        Response::Accepted {
            message: "restarting in place: the groups stay running here; an hbd peer waits for the new process".into(),
        }
    }

    /// The persistent standby recorded by an earlier run, handed to the core
    /// before anything else happens. An unreadable record is logged and
    /// ignored: a file nobody can parse must not keep the node from starting.
    fn restore_persistent_standby(&mut self) {
        match state::load_persistent_standby(&self.opts.state_dir) {
            Ok(None) => {}
            Ok(Some(set)) => {
                log::info!(
                    "persistent standby [{set}] recorded in {}",
                    self.opts.state_dir.join(state::STANDBY_FILE).display()
                );
                self.command(Command::PersistentStandby(Some(set)));
            }
            Err(e) => log::error!(
                "{e}: no persistent standby (run `hbd standby --persistent SET` again, or remove the file)"
            ),
        }
    }

    fn render_metrics(&self) -> String {
        let st = self.node.status();
        metrics::render(
            &self.status_report(),
            &st.heartbeat_gaps,
            &st.dropped_by_reason,
            &self.metrics,
        )
    }

    fn status_report(&self) -> StatusReport {
        let st = self.node.status();
        let now = self.clock.now();
        let mut r = report::status_report(
            &st,
            now,
            &self.cfg,
            &self.local,
            self.links.counters(),
            &self.opts.config,
        );
        report::peer_checks(&mut r, &st, now, &self.cfg, &self.peer_auth);
        if st.maintenance && self.maintenance_recorded {
            r.maintenance = crate::control::Maintenance::Persistent;
        }
        r.notify_dropped = self.hooks.notify_dropped();
        r.rcd_dropped = self.hooks.rcd_dropped();
        r.convergence = self.convergence.reports(now);
        r
    }

    /// SIGHUP: all or nothing. A config with errors, or media that cannot be
    /// opened, leaves everything as it was.
    async fn reload(&mut self) {
        let Some(r) = reload::load(&self.opts, &self.cfg) else {
            return;
        };
        let new = r.config;
        if r.media_changed {
            let reopened = self
                .links
                .reopen(
                    &new,
                    self.opts.bind.or(new.hbd.bind),
                    &self.cfg,
                    self.opts.bind.or(self.cfg.hbd.bind),
                    &self.tx,
                )
                .await;
            match reopened {
                Reopened::New => {}
                Reopened::Running => return,
                Reopened::Neither(e) => {
                    log::error!("cannot reopen the running links either: {e}; shutting down");
                    self.on_stop_signal("reload failure");
                    return;
                }
            }
        }
        if r.metrics_changed {
            log::warn!(
                "reload: [hbd] metrics changed; the endpoint keeps its address until hbd restarts"
            );
        }
        if new.watchdog != self.cfg.watchdog {
            log::warn!(
                "reload: watchdog changed; the device armed at start stays in use until hbd restarts"
            );
        }
        logging::configure(&self.local, &new.logging);
        self.hooks.reload(&new, self.resources.env(&new));
        if r.ping_changed {
            self.pinger.abort();
            self.pinger = tokio::spawn(ping::run(new.clone(), self.tx.clone()));
        }
        self.cfg = new.clone();
        log::info!(
            "configuration reloaded{}",
            if r.media_changed {
                " (links reopened)"
            } else {
                ""
            }
        );
        self.handle(Input::Reload(Box::new(new)));
    }
}
