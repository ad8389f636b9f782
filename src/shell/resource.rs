//! Resources: running the core's steps, and the few resource actions the
//! shell runs itself (leftovers at start-up, re-announcing addresses after a
//! heal, fencing). Each runs as its own task and reports to the loop's inbox;
//! the loop never waits for a script. Every resource action goes through
//! [`run_resource`], built in or by its script in a cage ([`super::script`]).

use super::announce::{self, Keepers};
use super::inbox::LoopEvent;
use super::script::{self, ScriptSpec};
use super::startup::Prepared;
use super::{fence, ipaddr6};
use crate::config::{self, AutoFailback, Config};
use crate::core::{Action, Check, CheckOutcome, Input, Step, StepOutcome};
use crate::time::Duration;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What every resource action is run with, fixed at start-up: the directories
/// and node name its environment names, and where its result goes.
pub struct Resources {
    config_dir: PathBuf,
    local: String,
    rsctmp: PathBuf,
    run_dir: PathBuf,
    state_dir: PathBuf,
    events: mpsc::Sender<LoopEvent>,
    /// The floating addresses' keepers (refresh, convergence check).
    keepers: Keepers,
}

impl Resources {
    /// Everything but `events` (where results go) comes from start-up.
    pub fn new(p: &Prepared, events: mpsc::Sender<LoopEvent>) -> Resources {
        Resources {
            config_dir: p.config_dir.clone(),
            local: p.local.clone(),
            rsctmp: p.rsctmp.clone(),
            run_dir: p.opts.run_dir.clone(),
            state_dir: p.opts.state_dir.clone(),
            events,
            keepers: Keepers::default(),
        }
    }

    /// Starts one step of the core's job runner; its outcome comes back as
    /// `LoopEvent::StepDone`. A step naming no configured resource cannot
    /// start: its failure is returned, for the core at once.
    pub fn run_step(&self, cfg: &Config, step: Step) -> Option<Input> {
        let resource = cfg
            .groups
            .get(step.group.0)
            .and_then(|g| g.resources.get(step.resource))
            .cloned();
        let Some(resource) = resource else {
            return Some(Input::StepDone {
                id: step.id,
                outcome: StepOutcome::Failed {
                    code: None,
                    reason: format!(
                        "internal: no resource {} in group {}",
                        step.resource, step.group.0
                    ),
                    output: String::new(),
                },
            });
        };
        let address = announce::is_address(&resource);
        if address && step.action == Action::Stop {
            // No announcement may follow the address's release.
            self.keepers.stop(step.group.0, step.resource);
        }
        let (cfg, dir, env, tx) = (
            cfg.clone(),
            self.config_dir.clone(),
            self.env(cfg),
            self.events.clone(),
        );
        let keepers = self.keepers.clone();
        tokio::spawn(async move {
            let (outcome, builtin) =
                run_resource_by(&cfg, &dir, &env, &resource, step.action).await;
            if address && step.action == Action::Start && outcome == StepOutcome::Ok {
                keepers.start(&cfg, step.group.0, step.resource, builtin, tx.clone());
            }
            let _ = tx
                .send(LoopEvent::StepDone {
                    id: step.id,
                    outcome,
                })
                .await;
        });
        None
    }

    /// Starts one monitor check beside whatever else runs; its outcome comes
    /// back as `LoopEvent::CheckDone`.
    pub fn run_check(&self, cfg: &Config, check: Check) {
        let resource = cfg
            .groups
            .get(check.group.0)
            .and_then(|g| g.resources.get(check.resource))
            .cloned();
        let (cfg, dir, env, tx) = (
            cfg.clone(),
            self.config_dir.clone(),
            self.env(cfg),
            self.events.clone(),
        );
        tokio::spawn(async move {
            let outcome = match resource {
                Some(r) => run_check(&cfg, &dir, &env, &r, check.action, check.timeout).await,
                None => CheckOutcome::Failed {
                    code: None,
                    reason: format!(
                        "internal: no resource {} in group {}",
                        check.resource, check.group.0
                    ),
                    output: String::new(),
                },
            };
            let _ = tx
                .send(LoopEvent::CheckDone {
                    id: check.id,
                    outcome,
                })
                .await;
        });
    }

    /// After a healed partition we keep `group`, but clients may still have
    /// the peer's MAC for its addresses: run `start` again of its address
    /// resources (IPaddr/IPaddr2), which on an address already held only
    /// re-sends the gratuitous ARP. Outside the core's job runner on purpose:
    /// the group stays running, nothing is reported back.
    pub fn reannounce(&self, cfg: &Config, group: &str) {
        let Some(g) = cfg.groups.iter().find(|g| g.key() == group) else {
            return;
        };
        let gi = cfg
            .groups
            .iter()
            .position(|x| x.key() == group)
            .unwrap_or(0);
        for (ri, resource) in g
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| announce::is_address(r))
        {
            log::info!("re-announcing {resource}");
            let resource = resource.clone();
            let (cfg, dir, env) = (cfg.clone(), self.config_dir.clone(), self.env(cfg));
            let (keepers, tx) = (self.keepers.clone(), self.events.clone());
            tokio::spawn(async move {
                match run_resource_by(&cfg, &dir, &env, &resource, Action::Start).await {
                    (StepOutcome::Failed { reason, .. }, _) => {
                        log::error!("{resource}: re-announce failed: {reason}")
                    }
                    // Clients that followed the peer are checked again.
                    (_, builtin) => keepers.start(&cfg, gi, ri, builtin, tx),
                }
            });
        }
    }

    /// Fences `node` for the core's `Output::Fence`; the result comes back as
    /// `LoopEvent::FenceDone`.
    pub fn run_fence(&self, cfg: &Config, node: String, reason: String) {
        let stonith = fence::stonith_binary();
        let cmds = fence::commands(cfg, &node, &self.local, stonith.as_deref());
        let (tx, local, timeout) = (
            self.events.clone(),
            self.local.clone(),
            cfg.hbd.script_timeout,
        );
        tokio::spawn(async move {
            let ok = fence::fence(&cmds, &node, &reason, &local, timeout).await;
            let _ = tx.send(LoopEvent::FenceDone { node, ok }).await;
        });
    }

    /// The environment heartbeat gives its resource scripts (spec §6.3),
    /// also the base of what its rc.d scripts get.
    pub(super) fn env(&self, cfg: &Config) -> Vec<(String, String)> {
        let (local, rsctmp) = (&self.local, &self.rsctmp);
        let dir = self.config_dir.display().to_string();
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
            ("HA_VARRUN".into(), self.run_dir.display().to_string()),
            ("HA_VARLIB".into(), self.state_dir.display().to_string()),
        ];
        if l.debug > 0 {
            env.push(("HA_debug".into(), l.debug.to_string()));
        }
        if matches!(cfg.auto_failback, AutoFailback::On | AutoFailback::Off) {
            env.push(("HA_NICEFAILBACK".into(), "yes".into()));
        }
        env
    }
}

/// What running one resource action gave: a built-in's outcome, or a
/// script's result (the spec it ran with, for log lines).
enum Ran {
    Builtin(StepOutcome),
    Script(ScriptSpec, script::ScriptResult),
    NotFound(String),
}

/// Runs one resource action to completion (or to `timeout`), built in or by
/// its script in the cage, logging its start at `level`.
async fn execute(
    cfg: &Config,
    config_dir: &Path,
    env: &[(String, String)],
    resource: &crate::config::Resource,
    action: Action,
    timeout: Duration,
    level: log::Level,
) -> Ran {
    if ipaddr6::builtin(cfg, config_dir, resource, level) {
        let (r, a) = (resource.clone(), cfg.hbd.announce.clone());
        return Ran::Builtin(
            tokio::task::spawn_blocking(move || ipaddr6::run_builtin(&r, action, &a, true))
                .await
                .unwrap_or_else(|e| StepOutcome::Failed {
                    code: None,
                    reason: format!("built-in {}: {e}", resource.name),
                    output: String::new(),
                }),
        );
    }
    let Some(path) = config::resolve_script(config_dir, &cfg.hbd, &resource.name) else {
        return Ran::NotFound(format!(
            "resource script {:?} not found in {}/resource.d, {}/usr/lib/hbd/resource.d or /etc/init.d",
            resource.name,
            config_dir.display(),
            cfg.hbd
                .resource_dirs
                .iter()
                .map(|d| format!("{}, ", d.display()))
                .collect::<String>()
        ));
    };
    let mut env = env.to_vec();
    if announce::is_address(resource) {
        env.extend(announce::agent_env(&cfg.hbd.announce));
    }
    let spec = ScriptSpec {
        path,
        args: resource.args.clone(),
        action,
        env,
        timeout,
    };
    log::log!(level, "running {}", spec.command_line());
    let r = script::run(&spec).await;
    Ran::Script(spec, r)
}

/// Logs a script's output lines (debug: they are in the failure's reason too).
fn log_output(spec: &ScriptSpec, r: &script::ScriptResult) {
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            log::debug!("{} {name}: {line}", spec.path.display());
        }
    }
}

fn took(r: &script::ScriptResult) -> Duration {
    Duration::from_millis(r.elapsed.as_millis() as u64)
}

/// Runs one resource action to completion, built in or by its script, and
/// logs it with its duration and output. The one way hbd runs a resource: the
/// core's steps, re-announcing after a heal, releasing leftovers at start-up.
pub async fn run_resource(
    cfg: &Config,
    config_dir: &Path,
    env: &[(String, String)],
    resource: &crate::config::Resource,
    action: Action,
) -> StepOutcome {
    run_resource_by(cfg, config_dir, env, resource, action)
        .await
        .0
}

/// [`run_resource`], and whether hbd ran it itself (an address's keeper
/// then sends the rest of the start's burst).
async fn run_resource_by(
    cfg: &Config,
    config_dir: &Path,
    env: &[(String, String)],
    resource: &crate::config::Resource,
    action: Action,
) -> (StepOutcome, bool) {
    let timeout = cfg.hbd.script_timeout;
    let (spec, r) = match execute(
        cfg,
        config_dir,
        env,
        resource,
        action,
        timeout,
        log::Level::Info,
    )
    .await
    {
        Ran::Builtin(o) => return (o, true),
        Ran::NotFound(reason) => {
            log::error!("{resource}: {reason}");
            let failed = StepOutcome::Failed {
                code: Some(127),
                reason,
                output: String::new(),
            };
            return (failed, false);
        }
        Ran::Script(spec, r) => (spec, r),
    };
    let outcome = script::outcome(action, &r);
    let took = took(&r);
    match &outcome {
        StepOutcome::Failed { reason, output, .. } => log::error!(
            "{}: failed after {took}: {}",
            spec.command_line(),
            if output.is_empty() {
                reason.clone()
            } else {
                format!("{reason}; output: {output}")
            }
        ),
        StepOutcome::Ok => log::info!("{}: ok after {took}", spec.command_line()),
        StepOutcome::Running(r) => log::info!(
            "{}: {} after {took}",
            spec.command_line(),
            if *r { "running" } else { "not running" }
        ),
    }
    log_output(&spec, &r);
    (outcome, false)
}

/// Runs one monitor check (`status` or `monitor`, killed after `timeout`).
/// A routine answer is logged at debug: the core reports failures.
pub async fn run_check(
    cfg: &Config,
    config_dir: &Path,
    env: &[(String, String)],
    resource: &crate::config::Resource,
    action: Action,
    timeout: Duration,
) -> CheckOutcome {
    // The built-in address has one way to check; Monitor keeps it quiet.
    let builtin_action = Action::Monitor;
    let ran = if ipaddr6::builtin(cfg, config_dir, resource, log::Level::Debug) {
        execute(
            cfg,
            config_dir,
            env,
            resource,
            builtin_action,
            timeout,
            log::Level::Debug,
        )
        .await
    } else {
        execute(
            cfg,
            config_dir,
            env,
            resource,
            action,
            timeout,
            log::Level::Debug,
        )
        .await
    };
    let (spec, r) = match ran {
        Ran::Builtin(StepOutcome::Running(true) | StepOutcome::Ok) => return CheckOutcome::Running,
        Ran::Builtin(StepOutcome::Running(false)) => {
            return CheckOutcome::Failed {
                code: None,
                reason: "not running (built-in check)".into(),
                output: String::new(),
            }
        }
        Ran::Builtin(StepOutcome::Failed {
            code,
            reason,
            output,
        }) => {
            return CheckOutcome::Failed {
                code,
                reason,
                output,
            }
        }
        Ran::NotFound(reason) => {
            return CheckOutcome::Failed {
                code: Some(127),
                reason,
                output: String::new(),
            }
        }
        Ran::Script(spec, r) => (spec, r),
    };
    let outcome = script::check_outcome(action, &r);
    let took = took(&r);
    match &outcome {
        CheckOutcome::Running => log::debug!("{}: running after {took}", spec.command_line()),
        CheckOutcome::Failed { reason, .. } => {
            log::debug!("{}: {reason} after {took}", spec.command_line())
        }
    }
    log_output(&spec, &r);
    outcome
}
