//! Start-up: everything decided before the loop runs. The instance lock is
//! taken first, the configuration loaded (every diagnostic printed), the run
//! and state directories prepared, the generation counted on and the node's
//! uuid loaded. Nothing here opens a link or spawns a task.

use super::clock::Clock;
use super::logging;
use super::{control, link, state};
use crate::config::{self, Config, LoadOptions, Purpose};
use std::net::IpAddr;
use std::path::PathBuf;

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
    #[error("{0}")]
    Watchdog(#[from] super::watchdog::WatchdogError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Loads and prints every diagnostic; the second value counts the errors.
pub(super) fn load_config(opts: &RunOptions) -> (config::Loaded, usize) {
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

/// Everything decided before the loop starts: the lock held, the config loaded,
/// the generation persisted.
pub struct Prepared {
    pub cfg: Config,
    pub local: String,
    pub config_dir: PathBuf,
    pub opts: RunOptions,
    pub(super) generation: u64,
    pub(super) uuid: [u8; 16],
    pub(super) clock: Clock,
    pub(super) rsctmp: PathBuf,
    pub(super) _lock: state::InstanceLock,
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
