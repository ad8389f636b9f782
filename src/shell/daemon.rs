//! `hbd run` from end to end: start-up ([`super::startup`]), the tasks around
//! the loop (links, control socket, metrics), the loop itself
//! ([`super::event_loop`], which owns the ping node task a reload restarts)
//! and the teardown after it. The entry points the binary and the tests use
//! are here.

use super::event_loop::Daemon;
use super::hooks::Hooks;
use super::link::{self, Links};
use super::resource::Resources;
use super::watchdog::Watchdog;
use super::{control, fence, logging, metrics, realtime, state};
use crate::core::NodeParams;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

pub use super::event_loop::Sig;
pub use super::startup::{prepare, Prepared, RunError, RunOptions};

/// The whole of `hbd run`. Exit 0 after a graceful shutdown, 1 on a refusal to
/// start or an unclean end; `hbd restart` execs the binary again.
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
        Ok(Ending::Exit(code)) => code,
        Ok(Ending::Restart) => reexec(),
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

/// Runs the daemon until a graceful shutdown completes (or a second stop).
/// Must run inside a tokio runtime (current_thread is enough).
pub async fn serve(p: Prepared, sigs: mpsc::Receiver<Sig>) -> Result<Ending, RunError> {
    // `p` is used in place, not taken apart: its instance lock is held until
    // serve returns.
    let bind = p.opts.bind.or(p.cfg.hbd.bind);
    let mut cfg = link::without_own_ucast(p.cfg.clone(), bind);
    if cfg.realtime && !p.opts.no_realtime {
        realtime::apply();
    } else {
        log::debug!("realtime off");
    }
    fence::drop_unusable_stonith(&mut cfg);
    let mut seed = [0u8; 8];
    let _ = state::random_bytes(&mut seed);
    // A record nobody can read must not keep the node from starting; it is
    // said, and maintenance is off (the way out always works).
    let maintenance = match state::load_maintenance(&p.opts.state_dir) {
        Ok(on) => on,
        Err(e) => {
            log::error!("{e}: not in maintenance mode (run `hbd maintenance on --persistent` again, or remove the file)");
            false
        }
    };
    if maintenance {
        log::warn!(
            "maintenance mode on (recorded in {}): nothing is started, stopped or monitored until `hbd maintenance off`",
            p.opts.state_dir.join(state::MAINTENANCE_FILE).display()
        );
    }
    let params = NodeParams {
        config: cfg.clone(),
        local: p.local.clone(),
        generation: p.generation,
        uuid: p.uuid,
        wall_clock_at_zero: p.clock.wall_clock_at_zero,
        seed: u64::from_le_bytes(seed),
        maintenance,
        // What a previous run left running is kept when the peer agrees
        // (restart without moving), else stopped.
        probe_at_start: true,
    };
    // First: a taken port refuses the start before links or the control socket exist.
    let (metrics_task, scrapes) = match cfg.hbd.metrics {
        Some(addr) => {
            let l = metrics::bind(addr).await?;
            log::info!("metrics: serving http://{addr}/metrics");
            let (stx, srx) = mpsc::channel(4);
            (Some(tokio::spawn(metrics::serve(l, stx))), Some(srx))
        }
        None => (None, None),
    };
    let (tx, rx) = mpsc::channel(1024);
    let resources = Resources::new(&p, tx.clone());
    let links = Links::open(&cfg, p.opts.bind.or(cfg.hbd.bind), &tx)?;
    let sock_path = p.opts.run_dir.join(crate::control::SOCKET_NAME);
    let listener = control::bind(&sock_path)?;
    let own = nix::unistd::getuid().as_raw();
    let control_task = tokio::spawn(control::serve(listener, vec![0, own], tx.clone()));
    log::info!(
        "hbd {} starting as node {} (generation {}, {} link(s), config {})",
        env!("CARGO_PKG_VERSION"),
        p.local,
        p.generation,
        links.len(),
        p.opts.config.display()
    );
    let hooks = Hooks::new(&cfg, &p.config_dir, &p.local, resources.env(&cfg));
    let opts = p.opts.clone();
    // Last of the fallible steps: an armed watchdog left behind by a refused
    // start would reset the machine.
    let armed = match cfg
        .watchdog
        .as_deref()
        .map(|p| Watchdog::open(p, cfg.deadtime))
    {
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            control_task.abort();
            let _ = std::fs::remove_file(&sock_path);
            return Err(e.into());
        }
        None => None,
    };
    let mut d = Daemon::new(params, p.clock, opts, links, resources, hooks, tx, scrapes);
    if let Some(w) = armed {
        d.feed_watchdog(w);
    }
    let code = d.run_loop(rx, sigs).await;
    let reexec = d.wants_reexec();
    if reexec {
        // The answer to `hbd restart` is on its way out: let it go.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    control_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    d.finish(std::time::Duration::from_secs(2)).await;
    let _ = std::fs::remove_file(&sock_path);
    Ok(if reexec {
        Ending::Restart
    } else {
        Ending::Exit(code)
    })
}

/// How [`serve`] ended.
#[derive(Debug)]
pub enum Ending {
    Exit(ExitCode),
    /// `hbd restart`: the process must start its binary again in place.
    Restart,
}

/// `hbd restart`'s second half: the binary (as it was started, so an
/// upgraded one) replaces this process, same pid and arguments. Returns
/// only if exec failed.
fn reexec() -> ExitCode {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let Some(argv0) = args.next() else {
        log::error!(
            "cannot restart in place: no argv[0]; start hbd again (the groups are left running)"
        );
        return ExitCode::from(1);
    };
    log::info!("restarting in place: exec {}", argv0.to_string_lossy());
    log::logger().flush();
    let err = std::process::Command::new(&argv0).args(args).exec();
    log::error!(
        "cannot exec {}: {err}; start hbd again (the groups are left running)",
        argv0.to_string_lossy()
    );
    ExitCode::from(1)
}
