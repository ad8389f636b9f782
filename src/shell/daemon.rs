//! `hbd run`: the loop that owns the core (STYLE "Shell"). It turns sockets,
//! serial frames, script completions, control requests, signals and the clock
//! into `core::Input`s, and the core's outputs into packets, script runs and
//! log lines. It decides nothing about failover.

use super::clock::Clock;
use super::inbox::{LinkCounters, LoopEvent};
use super::link::{self, LinkHandle};
use super::logging::{self, RateLimiter};
use super::proto::{
    GroupReport, LinkReport, NodeReport, Request, Response, StatusReport, TransitionReport,
};
use super::script::{self, ScriptSpec};
use super::{control, fence, ping, realtime, state};
use crate::config::{self, AutoFailback, Config, LoadOptions, Medium, Purpose};
use crate::core::{
    Action, Command, Event, Input, LinkId, Node, NodeParams, Output, Step, StepOutcome,
};
use crate::time::{Duration, Instant};
use crate::wire::{self, Rejection, Transport};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config: PathBuf,
    pub node: Option<String>,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    /// Receive address for ucast/bcast links (several nodes on one host).
    pub bind: Option<IpAddr>,
    /// heartbeat's `-l`: ignore `realtime on`.
    pub no_realtime: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    State(#[from] state::StateError),
    #[error("configuration {path} has {errors} error(s)")]
    Config { path: PathBuf, errors: usize },
    #[error("configuration {path} did not name the local node")]
    NoLocalNode { path: PathBuf },
    #[error("{0}")]
    Link(#[from] link::LinkError),
    #[error("{0}")]
    Control(#[from] control::ControlError),
    #[error("{0}")]
    Metrics(#[from] super::metrics::MetricsError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Loads and prints every diagnostic; None when there are errors.
fn load_config(opts: &RunOptions) -> (config::Loaded, usize) {
    let loaded = config::load(
        &opts.config,
        &LoadOptions {
            node: opts.node.clone(),
            purpose: Purpose::Run,
        },
    );
    let mut errors = 0;
    for d in &loaded.diagnostics {
        if d.is_error() {
            errors += 1;
            log::error!("{d}");
        } else {
            log::warn!("{d}");
        }
    }
    (loaded, errors)
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

/// The whole of `hbd run`. Exit 0 after a graceful shutdown, 1 on a refusal to
/// start or an unclean end.
pub fn run(opts: RunOptions) -> ExitCode {
    logging::init();
    let result = prepare(opts).and_then(|p| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RunError::Runtime)?;
        rt.block_on(async move {
            let (tx, rx) = mpsc::channel(8);
            forward_signals(tx)?;
            serve(p, rx).await
        })
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            log::error!("not starting: {e}");
            ExitCode::from(1)
        }
    }
}

/// Forwards the process's signals into `tx` (inside the runtime).
pub fn forward_signals(tx: mpsc::Sender<Sig>) -> Result<(), RunError> {
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Runtime)?;
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Runtime)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(RunError::Runtime)?;
    let mut usr2 = signal(SignalKind::user_defined2()).map_err(RunError::Runtime)?;
    tokio::spawn(async move {
        loop {
            let s = tokio::select! {
                _ = term.recv() => Sig::Stop("SIGTERM"),
                _ = int.recv() => Sig::Stop("SIGINT"),
                _ = hup.recv() => Sig::Reload,
                _ = usr1.recv() => Sig::Verbosity(true),
                _ = usr2.recv() => Sig::Verbosity(false),
            };
            if tx.send(s).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Everything decided before the loop starts: the lock held, the config loaded,
/// the generation persisted.
pub struct Prepared {
    pub cfg: Config,
    pub local: String,
    pub config_dir: PathBuf,
    pub opts: RunOptions,
    generation: u64,
    uuid: [u8; 16],
    clock: Clock,
    rsctmp: PathBuf,
    _lock: state::InstanceLock,
}

/// Takes the lock, loads the config (printing every diagnostic) and prepares the
/// state and run directories.
pub fn prepare(opts: RunOptions) -> Result<Prepared, RunError> {
    // The lock first: a second instance must say so, whatever its config says.
    let lock = state::lock(&opts.state_dir)?;
    let (loaded, errors) = load_config(&opts);
    let cfg = match loaded.config {
        Some(c) if errors == 0 => c,
        _ => {
            return Err(RunError::Config {
                path: opts.config.clone(),
                errors: errors.max(1),
            })
        }
    };
    let local = loaded
        .local_node
        .clone()
        .ok_or_else(|| RunError::NoLocalNode {
            path: opts.config.clone(),
        })?;
    Prepared::with_config(cfg, local, loaded.config_dir, opts, lock)
}

impl Prepared {
    /// For a config that did not come from `config::load` (tests, embeddings).
    pub fn new(
        cfg: Config,
        local: String,
        config_dir: PathBuf,
        opts: RunOptions,
    ) -> Result<Prepared, RunError> {
        let lock = state::lock(&opts.state_dir)?;
        Prepared::with_config(cfg, local, config_dir, opts, lock)
    }

    fn with_config(
        cfg: Config,
        local: String,
        config_dir: PathBuf,
        opts: RunOptions,
        lock: state::InstanceLock,
    ) -> Result<Prepared, RunError> {
        // Scripts run with `/` as their working directory: every path they are
        // given (their own, HA_DIR, HA_RSCTMP, …) must not be relative.
        let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        let config_dir = absolute(config_dir);
        let mut opts = opts;
        opts.run_dir = absolute(opts.run_dir);
        opts.state_dir = absolute(opts.state_dir);
        logging::configure(&local, &cfg.logging);
        state::ensure_dir(&opts.run_dir, 0o755)?;
        let rsctmp = opts.run_dir.join("rsctmp");
        state::ensure_dir(&rsctmp, 0o755)?;
        let clock = Clock::start();
        let (generation, previous) =
            state::next_generation(&opts.state_dir, clock.wall_clock_at_zero)?;
        match previous {
            Some(_) => log::info!("Heartbeat generation: {generation}"),
            None => log::info!("No Previous generation - starting at {generation}"),
        }
        let uuid = state::load_or_create_uuid(&opts.state_dir)?;
        Ok(Prepared {
            cfg,
            local,
            config_dir,
            opts,
            generation,
            uuid,
            clock,
            rsctmp,
            _lock: lock,
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Runs the daemon until a graceful shutdown completes (or a second stop).
/// Must run inside a tokio runtime (current_thread is enough).
pub async fn serve(p: Prepared, sigs: mpsc::Receiver<Sig>) -> Result<ExitCode, RunError> {
    let Prepared {
        cfg,
        local,
        config_dir,
        opts,
        generation,
        uuid,
        clock,
        rsctmp,
        _lock,
    } = p;
    let bind = opts.bind.or(cfg.hbd.bind);
    let cfg = link::without_own_ucast(cfg, bind);
    if cfg.realtime && !opts.no_realtime {
        realtime::apply();
    } else {
        log::debug!("realtime off");
    }
    let mut cfg = cfg;
    fence::drop_unusable_stonith(&mut cfg);
    let mut seed = [0u8; 8];
    let _ = state::random_bytes(&mut seed);
    let params = NodeParams {
        config: cfg.clone(),
        local: local.clone(),
        generation,
        uuid,
        wall_clock_at_zero: clock.wall_clock_at_zero,
        seed: u64::from_le_bytes(seed),
    };
    // First: a taken port refuses the start before links or the control socket exist.
    let (metrics_task, scrapes) = match cfg.hbd.metrics {
        Some(addr) => {
            let l = super::metrics::bind(addr).await?;
            log::info!("metrics: serving http://{addr}/metrics");
            let (stx, srx) = mpsc::channel(4);
            (Some(tokio::spawn(super::metrics::serve(l, stx))), Some(srx))
        }
        None => (None, None),
    };
    release_leftovers(
        &cfg,
        &config_dir,
        &script_env(&cfg, &config_dir, &local, &rsctmp, &opts),
    )
    .await;
    let (tx, rx) = mpsc::channel(1024);
    let (links, counters) = link::open_all(&cfg, opts.bind.or(cfg.hbd.bind), 0, &tx)?;
    let sock_path = opts.run_dir.join(super::proto::SOCKET_NAME);
    let listener = control::bind(&sock_path)?;
    let own = nix::unistd::getuid().as_raw();
    let control_task = tokio::spawn(control::serve(listener, vec![0, own], tx.clone()));
    let pinger = tokio::spawn(ping::run(cfg.clone(), tx.clone()));
    let node = Node::new(params, clock.now());
    log::info!(
        "hbd {} starting as node {local} (generation {generation}, {} link(s), config {})",
        env!("CARGO_PKG_VERSION"),
        links.len(),
        opts.config.display()
    );
    let mut d = Daemon {
        node,
        clock,
        cfg,
        config_dir,
        opts,
        local,
        rsctmp,
        links,
        counters,
        epoch: 0,
        tx,
        limiter: RateLimiter::new(Duration::from_secs(10)),
        pending: VecDeque::new(),
        refusal: None,
        shutting_down: None,
        exit: None,
        notify: super::notify::Notifier::from_env(),
        pinger,
        metrics: super::metrics::Registry::new(),
        scrapes,
    };
    let code = d.run_loop(rx, sigs).await;
    control_task.abort();
    d.pinger.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    link::close_all(
        std::mem::take(&mut d.links),
        std::time::Duration::from_secs(2),
    )
    .await;
    let _ = std::fs::remove_file(&sock_path);
    Ok(code)
}

struct Daemon {
    node: Node,
    clock: Clock,
    cfg: Config,
    config_dir: PathBuf,
    opts: RunOptions,
    local: String,
    rsctmp: PathBuf,
    links: Vec<LinkHandle>,
    counters: Vec<Arc<LinkCounters>>,
    epoch: u64,
    tx: mpsc::Sender<LoopEvent>,
    limiter: RateLimiter<(usize, &'static str)>,
    /// Inputs produced while draining outputs (a script that cannot even be found).
    pending: VecDeque<Input>,
    /// When the graceful shutdown must have finished.
    shutting_down: Option<Instant>,
    exit: Option<ExitCode>,
    /// The core's refusal of the operator command being handled, so the control
    /// socket can answer with it instead of "accepted".
    refusal: Option<String>,
    /// systemd readiness, status line and watchdog (no-op outside systemd).
    notify: super::notify::Notifier,
    /// The ping node task (restarted when a reload changes ping settings).
    pinger: tokio::task::JoinHandle<()>,
    /// What only the shell sees, for the Prometheus endpoint.
    metrics: super::metrics::Registry,
    /// Scrapes waiting for a rendering (None: metrics off).
    scrapes: Option<mpsc::Receiver<super::metrics::Scrape>>,
}

impl Daemon {
    async fn run_loop(
        &mut self,
        mut rx: mpsc::Receiver<LoopEvent>,
        mut sigs: mpsc::Receiver<Sig>,
    ) -> ExitCode {
        let mut sigs_open = true;
        let mut last_timer = self.clock.now();
        let mut alarm = match super::clock::Alarm::new(self.clock) {
            Ok(a) => a,
            Err(e) => {
                log::error!("cannot create the loop's timer (timerfd): {e}");
                return ExitCode::from(1);
            }
        };
        let mut watchdog = self.notify.watchdog_timer();
        let mut scrapes = self.scrapes.take();
        self.drain();
        while self.exit.is_none() {
            if self.notify.enabled() {
                self.notify.observe(&self.node.status());
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
            let shutdown_left = self.shutting_down.map(|d| d.saturating_since(now));
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

    fn on_stop_signal(&mut self, name: &str) {
        if self.shutting_down.is_some() {
            log::warn!("second {name} during shutdown: exiting now; resources may still be running on this node");
            self.exit = Some(ExitCode::from(1));
            return;
        }
        let budget = self.shutdown_budget();
        log::info!("{name} received: releasing resources and telling the peer (at most {budget})");
        self.shutting_down = Some(self.clock.now() + budget);
        self.notify.stopping();
        self.handle(Input::Command(Command::Shutdown));
    }

    fn handle(&mut self, input: Input) {
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
        match out {
            Output::Send { msg, link } => self.send(&msg, link),
            Output::Run(step) => self.run_step(step),
            Output::Event(e) => {
                if let Event::CommandRefused { .. } = &e {
                    self.refusal = Some(e.to_string());
                }
                log::log!(e.level(), "{e}");
                if let Event::ReannounceAddresses { group } = &e {
                    self.reannounce(group);
                }
            }
            Output::ShutdownComplete => {
                log::info!("{} hbd shutdown complete.", self.local);
                self.exit = Some(ExitCode::SUCCESS);
            }
            Output::Fence { node, reason } => self.run_fence(node, reason),
        }
    }

    fn send(&mut self, msg: &wire::Message, only: Option<LinkId>) {
        log::trace!(
            "send t={} on {}",
            msg.msg_type().unwrap_or("?"),
            only.map(|l| format!("link {}", l.0))
                .unwrap_or_else(|| "every link".into())
        );
        // Sealed once per transport, only if a link of that kind is used.
        let mut udp: Option<Result<Vec<u8>, wire::SealError>> = None;
        let mut serial: Option<Result<Vec<u8>, wire::SealError>> = None;
        let now = self.clock.now();
        for (i, h) in self.links.iter().enumerate() {
            if only.is_some_and(|l| l.0 != i) {
                continue;
            }
            let c = &self.counters[i];
            let name = self.cfg.media[i].link_name();
            let (slot, transport) = match h {
                LinkHandle::Udp { .. } => (&mut udp, Transport::Udp),
                LinkHandle::Serial { .. } => (&mut serial, Transport::Serial),
            };
            let sealed = slot.get_or_insert_with(|| match transport {
                Transport::Serial => {
                    wire::seal_serial(msg, &self.cfg.auth, self.cfg.hbd.compact_serial)
                }
                Transport::Udp => wire::try_seal(msg, &self.cfg.auth, transport, self.cfg.msgfmt),
            });
            let bytes = match sealed {
                Ok(b) => b,
                Err(e) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    if let Some(n) = self.limiter.allow((i, "seal"), now) {
                        log::error!(
                            "link {name}: cannot seal {} message: {e}; not sent{}",
                            msg.msg_type().unwrap_or("untyped"),
                            suppressed(n)
                        );
                    }
                    continue;
                }
            };
            match h {
                LinkHandle::Udp { link, .. } => match link.send(bytes) {
                    Ok(_) => {
                        c.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        if let Some(n) = self.limiter.allow((i, "send"), now) {
                            log::warn!(
                                "link {name}: send to {} failed: {e}{}",
                                link.dest,
                                suppressed(n)
                            );
                        }
                    }
                },
                LinkHandle::Serial { tx: None, .. } => {}
                LinkHandle::Serial { tx: Some(tx), .. } => {
                    // The serial task counts what it wrote; a full queue is a slow line.
                    if tx.try_send(bytes.clone()).is_err() {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        if let Some(n) = self.limiter.allow((i, "queue"), now) {
                            log::warn!(
                                "link {name}: serial line cannot keep up; message dropped{}",
                                suppressed(n)
                            );
                        }
                    }
                }
            }
        }
    }

    fn script_env(&self) -> Vec<(String, String)> {
        script_env(
            &self.cfg,
            &self.config_dir,
            &self.local,
            &self.rsctmp,
            &self.opts,
        )
    }

    fn run_fence(&mut self, node: String, reason: String) {
        let stonith = fence::stonith_binary();
        let cmds = fence::commands(&self.cfg, &node, &self.local, stonith.as_deref());
        let (tx, local, timeout) = (
            self.tx.clone(),
            self.local.clone(),
            self.cfg.hbd.script_timeout,
        );
        tokio::spawn(async move {
            let ok = fence::fence(&cmds, &node, &reason, &local, timeout).await;
            let _ = tx.send(LoopEvent::FenceDone { node, ok }).await;
        });
    }

    /// After a healed partition we keep `group`, but clients may still have
    /// the peer's MAC for its addresses: run `start` again of its address
    /// resources (IPaddr/IPaddr2), which on an address already held only
    /// re-sends the gratuitous ARP. Outside the core's job runner on purpose:
    /// the group stays running, nothing is reported back.
    fn reannounce(&mut self, group: &str) {
        let Some(g) = self.cfg.groups.iter().find(|g| g.key() == group) else {
            return;
        };
        for resource in g
            .resources
            .iter()
            .filter(|r| r.name == "IPaddr" || r.name == "IPaddr2")
        {
            log::info!("re-announcing {resource}");
            let resource = resource.clone();
            let (cfg, dir, env) = (self.cfg.clone(), self.config_dir.clone(), self.script_env());
            tokio::spawn(async move {
                if let StepOutcome::Failed { reason, .. } =
                    run_resource(&cfg, &dir, &env, &resource, Action::Start).await
                {
                    log::error!("{resource}: re-announce failed: {reason}");
                }
            });
        }
    }

    fn run_step(&mut self, step: Step) {
        let resource = self
            .cfg
            .groups
            .get(step.group.0)
            .and_then(|g| g.resources.get(step.resource))
            .cloned();
        let Some(resource) = resource else {
            self.pending.push_back(Input::StepDone {
                id: step.id,
                outcome: StepOutcome::Failed {
                    code: None,
                    reason: format!(
                        "internal: no resource {} in group {}",
                        step.resource, step.group.0
                    ),
                },
            });
            return;
        };
        let (cfg, dir, env, tx) = (
            self.cfg.clone(),
            self.config_dir.clone(),
            self.script_env(),
            self.tx.clone(),
        );
        tokio::spawn(async move {
            let outcome = run_resource(&cfg, &dir, &env, &resource, step.action).await;
            let _ = tx
                .send(LoopEvent::StepDone {
                    id: step.id,
                    outcome,
                })
                .await;
        });
    }

    fn on_event(&mut self, ev: LoopEvent) {
        match ev {
            LoopEvent::Packet {
                link,
                epoch,
                bytes,
                from,
            } => {
                if epoch != self.epoch || link >= self.counters.len() {
                    return;
                }
                match wire::open(&bytes, &self.cfg.auth) {
                    Ok(msg) => {
                        // Identical ha.cf files ucast to both nodes' addresses, so our
                        // own datagrams come back; they are not the peer being heard.
                        if msg
                            .get("src")
                            .is_some_and(|s| s.eq_ignore_ascii_case(&self.local))
                        {
                            return;
                        }
                        self.counters[link].received.fetch_add(1, Ordering::Relaxed);
                        log::trace!(
                            "link {link}: t={} from {}",
                            msg.msg_type().unwrap_or("?"),
                            msg.get("src").unwrap_or("?")
                        );
                        self.handle(Input::Message {
                            link: LinkId(link),
                            msg,
                        });
                    }
                    Err(rej) => self.rejected(link, &rej, bytes.len(), from),
                }
            }
            LoopEvent::Dropped { link, epoch, why } => {
                if epoch != self.epoch || link >= self.counters.len() {
                    return;
                }
                self.counters[link]
                    .malformed
                    .fetch_add(1, Ordering::Relaxed);
                self.metrics.bad_frame(link);
                let now = self.clock.now();
                if let Some(n) = self.limiter.allow((link, "frame"), now) {
                    log::warn!(
                        "link {}: dropped serial frame: {why}{}",
                        self.cfg.media[link].link_name(),
                        suppressed(n)
                    );
                }
            }
            LoopEvent::Transport { link, epoch, up } => {
                if epoch != self.epoch {
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
            LoopEvent::FenceDone { node, ok } => self.handle(Input::FenceDone { node, ok }),
            LoopEvent::PingNode { index, up } => self.handle(Input::PingNode { index, up }),
            LoopEvent::Control { req, reply } => {
                let r = self.control(req);
                let _ = reply.send(r);
            }
        }
    }

    fn rejected(
        &mut self,
        link: usize,
        rej: &Rejection,
        len: usize,
        from: Option<std::net::SocketAddr>,
    ) {
        self.metrics.rejected(link, rej.reason());
        let c = &self.counters[link];
        match rej {
            Rejection::Malformed(_) => c.malformed.fetch_add(1, Ordering::Relaxed),
            _ => c.bad_auth.fetch_add(1, Ordering::Relaxed),
        };
        let now = self.clock.now();
        if let Some(n) = self.limiter.allow((link, rej.reason()), now) {
            // Never the packet's content: it may carry a MAC worth guessing at.
            log::warn!(
                "link {}: dropped {len}-byte packet{}: {rej}{}",
                self.cfg.media[link].link_name(),
                from.map(|f| format!(" from {f}")).unwrap_or_default(),
                suppressed(n)
            );
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
            Request::Standby { set } | Request::Takeover { set }
                if self.shutting_down.is_some() =>
            {
                let _ = set;
                Response::Error {
                    message: "hbd is shutting down".into(),
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

    fn render_metrics(&self) -> String {
        let st = self.node.status();
        super::metrics::render(
            &self.status_report(),
            &st.heartbeat_gaps,
            &st.dropped_by_reason,
            &self.metrics,
        )
    }

    fn status_report(&self) -> StatusReport {
        let now = self.clock.now();
        let ago = |t: Option<Instant>| t.map(|t| now.saturating_since(t).millis());
        let st = self.node.status();
        let node = |n: &crate::core::NodeStatus| NodeReport {
            name: n.name.clone(),
            state: n.state.clone(),
            generation: n.generation,
            last_heard_ms_ago: ago(n.last_heard),
        };
        let peer_name = self
            .cfg
            .nodes
            .iter()
            .find(|n| **n != self.local)
            .cloned()
            .unwrap_or_default();
        let mut peer = node(&st.peer);
        if peer.name.is_empty() {
            peer.name = peer_name;
        }
        let links = self
            .cfg
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let ls = st.links.get(i);
                let c = self.counters.get(i);
                let get = |f: fn(&LinkCounters) -> &std::sync::atomic::AtomicU64| {
                    c.map(|c| LinkCounters::get(f(c))).unwrap_or(0)
                };
                LinkReport {
                    name: m.link_name(),
                    kind: link::kind(m).into(),
                    up: ls.is_some_and(|l| l.up),
                    last_heard_ms_ago: ago(ls.and_then(|l| l.last_heard)),
                    sent: get(|c| &c.sent),
                    received: get(|c| &c.received),
                    bad_auth: get(|c| &c.bad_auth),
                    malformed: get(|c| &c.malformed),
                    late: ls.map(|l| l.late).unwrap_or(0),
                    errors: get(|c| &c.errors),
                }
            })
            .collect();
        let groups = self
            .cfg
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let gs = st.groups.get(i);
                GroupReport {
                    key: gs.map(|s| s.key.clone()).unwrap_or_else(|| g.key()),
                    home: g.home.clone(),
                    owner: gs.and_then(|s| s.owner.clone()),
                    state: gs.map(|s| s.state).unwrap_or_default(),
                    resources: g.resources.iter().map(|r| r.to_string()).collect(),
                }
            })
            .collect();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            config: self.opts.config.display().to_string(),
            uptime_ms: now.millis(),
            local: node(&st.local),
            peer,
            links,
            groups,
            rsc_hold: st.rsc_hold,
            recent: st
                .recent
                .iter()
                .map(|(t, text)| TransitionReport {
                    ms_ago: now.saturating_since(*t).millis(),
                    text: text.clone(),
                })
                .collect(),
            keepalive_ms: self.cfg.keepalive.millis(),
            deadtime_ms: self.cfg.deadtime.millis(),
            auto_failback: match self.cfg.auto_failback {
                AutoFailback::On => "on",
                AutoFailback::Off => "off",
                AutoFailback::Legacy => "legacy",
            }
            .into(),
        }
    }

    /// SIGHUP: all or nothing. A config with errors, or media that cannot be
    /// opened, leaves everything as it was.
    async fn reload(&mut self) {
        log::info!("SIGHUP: reloading {}", self.opts.config.display());
        let (loaded, errors) = load_config(&self.opts);
        let new = match loaded.config {
            Some(mut c) if errors == 0 => {
                fence::drop_unusable_stonith(&mut c);
                c
            }
            _ => {
                log::error!(
                    "reload of {} refused ({} error(s)); keeping the running configuration",
                    self.opts.config.display(),
                    errors.max(1)
                );
                return;
            }
        };
        let bind = self.opts.bind.or(new.hbd.bind);
        let new = link::without_own_ucast(new, bind);
        if new.nodes != self.cfg.nodes || new.groups != self.cfg.groups {
            log::error!(
                "reload of {} refused: node names and resource groups cannot change while running (restart hbd); keeping the running configuration",
                self.opts.config.display()
            );
            return;
        }
        let media_changed = new.media != self.cfg.media
            || new.udpport != self.cfg.udpport
            || new.baud != self.cfg.baud
            || new.hbd.bind != self.cfg.hbd.bind;
        if media_changed {
            // Close the old links first: the new ones may bind the same port or tty.
            link::close_all(std::mem::take(&mut self.links), std::time::Duration::ZERO).await;
            let epoch = self.epoch + 1;
            match link::open_all(&new, self.opts.bind.or(new.hbd.bind), epoch, &self.tx) {
                Ok((links, counters)) => {
                    self.links = links;
                    self.counters = counters;
                    self.epoch = epoch;
                }
                Err(e) => {
                    log::error!("reload refused: {e}; reopening the running links");
                    match link::open_all(
                        &self.cfg,
                        self.opts.bind.or(self.cfg.hbd.bind),
                        epoch,
                        &self.tx,
                    ) {
                        Ok((links, counters)) => {
                            self.links = links;
                            self.counters = counters;
                            self.epoch = epoch;
                        }
                        Err(e) => {
                            log::error!(
                                "cannot reopen the running links either: {e}; shutting down"
                            );
                            self.on_stop_signal("reload failure");
                        }
                    }
                    return;
                }
            }
        }
        if new.hbd.metrics != self.cfg.hbd.metrics {
            log::warn!(
                "reload: [hbd] metrics changed; the endpoint keeps its address until hbd restarts"
            );
        }
        logging::configure(&self.local, &new.logging);
        if (&new.ping_nodes, new.keepalive, new.deadping)
            != (&self.cfg.ping_nodes, self.cfg.keepalive, self.cfg.deadping)
        {
            self.pinger.abort();
            self.pinger = tokio::spawn(ping::run(new.clone(), self.tx.clone()));
        }
        self.cfg = new.clone();
        log::info!(
            "configuration reloaded{}",
            if media_changed {
                " (links reopened)"
            } else {
                ""
            }
        );
        self.handle(Input::Reload(Box::new(new)));
    }
}

fn suppressed(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar suppressed)")
    }
}

/// The environment heartbeat gives its resource scripts (spec §6.3).
fn script_env(
    cfg: &Config,
    config_dir: &Path,
    local: &str,
    rsctmp: &Path,
    opts: &RunOptions,
) -> Vec<(String, String)> {
    let dir = config_dir.display().to_string();
    let l = &cfg.logging;
    let path_or_empty = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let mut env = vec![
        ("PATH".to_string(), script::SCRIPT_PATH.to_string()),
        ("HA_CURHOST".into(), local.to_string()),
        ("HA_DIR".into(), dir.clone()),
        ("HA_FUNCS".into(), format!("{dir}/shellfuncs")),
        (
            "HA_LOGFACILITY".into(),
            l.logfacility.clone().unwrap_or_else(|| "none".into()),
        ),
        ("HA_LOGFILE".into(), path_or_empty(&l.logfile)),
        ("HA_DEBUGLOG".into(), path_or_empty(&l.debugfile)),
        ("HA_LOGD".into(), "no".into()),
        ("HA_DATEFMT".into(), "%Y/%m/%d_%T ".into()),
        ("OCF_ROOT".into(), "/usr/lib/ocf".into()),
        ("HA_RSCTMP".into(), rsctmp.display().to_string()),
        ("HA_VARRUN".into(), opts.run_dir.display().to_string()),
        ("HA_VARLIB".into(), opts.state_dir.display().to_string()),
    ];
    if l.debug > 0 {
        env.push(("HA_debug".into(), l.debug.to_string()));
    }
    if matches!(cfg.auto_failback, AutoFailback::On | AutoFailback::Off) {
        env.push(("HA_NICEFAILBACK".into(), "yes".into()));
    }
    env
}

/// A resource group found running when hbd starts was left by a previous run
/// (hbd was killed, the machine did not go down): the peer may hold it by now.
/// heartbeat's init script refuses to start then (`verifyallidle`); hbd stops
/// the group (right to left, every resource, as heartbeat's givegroup) before
/// it joins, so it is never active on both nodes by hbd's doing. If this node
/// is alone, it takes the group again after initdead.
async fn release_leftovers(cfg: &Config, config_dir: &Path, env: &[(String, String)]) {
    for g in &cfg.groups {
        let mut running = None;
        for r in &g.resources {
            if run_resource(cfg, config_dir, env, r, Action::Status).await
                == StepOutcome::Running(true)
            {
                running = Some(r);
                break;
            }
        }
        let Some(r) = running else { continue };
        log::warn!(
            "group {}: {r} is already running here, left by a previous run; stopping the group before joining (the peer may hold it now)",
            g.key()
        );
        for r in g.resources.iter().rev() {
            if let StepOutcome::Failed { reason, .. } =
                run_resource(cfg, config_dir, env, r, Action::Stop).await
            {
                log::error!("group {}: stopping leftover {r} failed: {reason}", g.key());
            }
        }
    }
}

/// Runs one resource action to completion, built in or by its script, and
/// logs it with its duration and output. The one way hbd runs a resource: the
/// core's steps, re-announcing after a heal, releasing leftovers at start-up.
async fn run_resource(
    cfg: &Config,
    config_dir: &Path,
    env: &[(String, String)],
    resource: &crate::config::Resource,
    action: Action,
) -> StepOutcome {
    if cfg.hbd.builtin_ipaddr && super::ipaddr::handles(&resource.name) {
        let r = resource.clone();
        return tokio::task::spawn_blocking(move || super::ipaddr::run(&r, action))
            .await
            .unwrap_or_else(|e| StepOutcome::Failed {
                code: None,
                reason: format!("built-in {}: {e}", resource.name),
            });
    }
    let Some(path) = config::resolve_script(config_dir, &cfg.hbd, &resource.name) else {
        let reason = format!(
            "resource script {:?} not found in {}/resource.d, {}/usr/lib/hbd/resource.d or /etc/init.d",
            resource.name,
            config_dir.display(),
            cfg.hbd
                .resource_dirs
                .iter()
                .map(|d| format!("{}, ", d.display()))
                .collect::<String>()
        );
        log::error!("{resource}: {reason}");
        return StepOutcome::Failed {
            code: Some(127),
            reason,
        };
    };
    let spec = ScriptSpec {
        path,
        args: resource.args.clone(),
        action,
        env: env.to_vec(),
        timeout: cfg.hbd.script_timeout,
    };
    log::info!("running {}", spec.command_line());
    let r = script::run(&spec).await;
    let outcome = script::outcome(action, &r);
    let took = Duration::from_millis(r.elapsed.as_millis() as u64);
    match &outcome {
        StepOutcome::Failed { reason, .. } => {
            log::error!("{}: failed after {took}: {reason}", spec.command_line())
        }
        StepOutcome::Ok => log::info!("{}: ok after {took}", spec.command_line()),
        StepOutcome::Running(r) => log::info!(
            "{}: {} after {took}",
            spec.command_line(),
            if *r { "running" } else { "not running" }
        ),
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            log::debug!("{} {name}: {line}", spec.path.display());
        }
    }
    outcome
}
