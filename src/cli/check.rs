//! `hbd check`: load a configuration and print every diagnostic, then a summary
//! saying which of its two modes it ran in. On the node itself (`uname -n`, or
//! `--node` naming this host) every fact of this host that `hbd run` would refuse
//! is an error, so exit 0 means `run` starts; with `--node OTHER` or
//! `--portable` those facts are warnings (a configuration checked on a
//! workstation). Exit 0 when there is no error, 1 otherwise.
use super::{ConfigPath, RunDirs};
use hbd::config::facts::{self, check_dirs};
use hbd::config::{load, Config, Diagnostic, FactMode, LoadOptions, Loaded, Purpose};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigPath,
    /// The node to check as (default: this host, `uname -n`). Naming another
    /// node checks from here for there: facts of this host only warn.
    #[arg(long)]
    pub node: Option<String>,
    /// Check the configuration for any host: facts of this host (interfaces,
    /// scripts, devices, names) only warn, and no node is assumed unless
    /// --node names one.
    #[arg(long)]
    pub portable: bool,
    // Checked on the node, as `run` would use them.
    #[command(flatten)]
    pub dirs: RunDirs,
}

/// Prints each diagnostic on stdout; returns (errors, warnings).
pub fn print_diagnostics(diagnostics: &[Diagnostic]) -> (usize, usize) {
    for d in diagnostics {
        println!("{d}");
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

/// `N errors, M warnings`.
pub fn counts(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

/// Loads `config` for `run` (facts of this host are errors) and adds the
/// state and run directories `run` would use: what `run --dry-run` and an
/// on-node `check` both decide on.
pub fn load_for_run(config: &Path, node: Option<String>, dirs: &RunDirs) -> Loaded {
    let mut loaded = load(
        config,
        &LoadOptions {
            node,
            purpose: Purpose::Run,
        },
    );
    loaded.diagnostics.extend(check_dirs(
        &dirs.state_dir,
        &dirs.run_dir,
        FactMode::Enforced,
    ));
    if loaded.has_errors() {
        loaded.config = None;
    }
    loaded
}

/// The hooks `run` would run, one line each: every rc.d script (run, or
/// skipped and why) and the notify hook. Nothing when there are none.
pub fn hook_lines(cfg: Option<&Config>, config_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let scripts = facts::rc_scripts(config_dir);
    let how = match facts::harc(config_dir) {
        Ok(Some(h)) => format!("through {} {{type}}", h.display()),
        Ok(None) => "directly as rc.d/{type} {type} (no harc)".to_string(),
        Err(why) => format!("directly as rc.d/{{type}} {{type}} ({why})"),
    };
    for s in &scripts {
        let line = match s.skip_reason() {
            None => format!(
                "hook rc.d/{}: runs {}, {}",
                s.name,
                hbd::shell::hooks::rc_trigger(&s.name),
                how.replace("{type}", &s.name.to_ascii_lowercase())
            ),
            Some(why) => format!("hook rc.d/{}: not run: {why}", s.name),
        };
        out.push(line);
    }
    if let Some(h) = cfg.and_then(|c| c.hbd.notify.as_ref().map(|n| (n, c.hbd.notify_timeout))) {
        let state = if facts::is_executable_file(h.0) {
            "runs on every transition"
        } else {
            "NOT RUN: not an executable file"
        };
        out.push(format!(
            "hook notify: {} {state} (timeout {})",
            h.0.display(),
            h.1
        ));
    }
    out
}

/// Who runs each IPv4 `IPaddr`/`IPaddr2` resource on this host, one line
/// each: built in, or the script and why (`[hbd] builtin_ipaddr`).
pub fn address_lines(cfg: Option<&Config>, config_dir: &Path) -> Vec<String> {
    let Some(c) = cfg else {
        return Vec::new();
    };
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for r in c.groups.iter().flat_map(|g| &g.resources) {
        let token = r.to_string();
        if seen.contains(&token) {
            continue;
        }
        let Some(choice) = facts::ipaddr_runner(c, config_dir, r) else {
            continue;
        };
        let who = if choice.builtin {
            "built in".to_string()
        } else {
            match &choice.script {
                Some(p) => format!("script {}", p.display()),
                None => format!("script {}, not found", r.name),
            }
        };
        out.push(format!("address {token}: {who} ({})", choice.why));
        seen.push(token);
    }
    out
}

/// What random loss on a link costs at this configuration's timing, when it
/// is tight enough for that to matter (5 % loss on a single link would make
/// a false death likelier than once in 10 years): how often one comes with
/// heartbeat's one status per keepalive, and what hbd's copies do toward an
/// hbd peer (docs/config-reference.md, "Lossy links").
pub fn loss_lines(cfg: Option<&Config>) -> Vec<String> {
    use hbd::config::Redundancy;
    use hbd::core::redundancy::{copies_needed, every, false_deaths_per_day, losses_to_die};
    let Some(c) = cfg else {
        return Vec::new();
    };
    let (ka, dt) = (c.keepalive, c.deadtime);
    if false_deaths_per_day(0.05, 1, ka, dt) * 3650.0 < 1.0 {
        return Vec::new();
    }
    let at = |pct: u32| {
        let rate = false_deaths_per_day(pct as f64 / 100.0, 1, ka, dt);
        format!("at {pct} % loss {}", every(rate))
    };
    let mut out = vec![format!(
        "loss: keepalive {ka}, deadtime {dt}: a false death takes {} statuses lost in a row; with each sent once, as heartbeat sends them, on a single link it comes {}, {}, {}",
        losses_to_die(1, ka, dt),
        at(1),
        at(5),
        at(20)
    )];
    let copies = |pct: u32| {
        copies_needed(pct as f64 / 100.0, ka, dt)
            .map_or("more than 8".to_string(), |k| k.to_string())
    };
    out.push(match c.hbd.redundancy {
        Redundancy::Adaptive => format!(
            "loss: toward an hbd peer each status goes at least twice on a UDP link, more as the peer reports loss (redundancy adaptive): {} at 20 %, {} at 40 % keep a false death below once in a million days",
            copies(20),
            copies(40)
        ),
        Redundancy::Off => {
            "loss: redundancy off: statuses go once toward an hbd peer too".to_string()
        }
    });
    out
}

pub fn run(args: Args) -> ExitCode {
    let purpose = if args.portable {
        Purpose::Portable
    } else {
        Purpose::Check
    };
    let config = &args.config.path;
    let loaded = load(
        config,
        &LoadOptions {
            node: args.node.clone(),
            purpose,
        },
    );
    // On the node, the check is `run`'s own, directories included.
    let loaded = if loaded.facts == FactMode::Enforced {
        load_for_run(config, args.node, &args.dirs)
    } else {
        loaded
    };
    let (errors, warnings) = print_diagnostics(&loaded.diagnostics);
    for line in hook_lines(loaded.config.as_ref(), &loaded.config_dir) {
        println!("{line}");
    }
    for line in address_lines(loaded.config.as_ref(), &loaded.config_dir) {
        println!("{line}");
    }
    for line in loss_lines(loaded.config.as_ref()) {
        println!("{line}");
    }
    let ok = errors == 0 && loaded.config.is_some();
    let me = loaded.local_node.as_deref();
    let verdict = match (loaded.facts, me, ok) {
        (FactMode::Enforced, Some(me), true) => format!(
            "OK, can run as node {me} here (on-node check: facts of this host are errors)"
        ),
        (FactMode::Enforced, Some(me), false) => format!(
            "cannot run as node {me} here (on-node check: facts of this host are errors)"
        ),
        (FactMode::Enforced, None, _) => "cannot run (cannot tell which node this host is)".into(),
        (FactMode::Warned, Some(me), _) => format!(
            "{} (this host is not {me}: facts of this host are only warnings; run `hbd check` on {me})",
            if ok {
                format!("OK for node {me} so far")
            } else {
                format!("cannot run as node {me}")
            }
        ),
        (FactMode::Warned, None, _) => format!(
            "{} (portable check: facts of this host are only warnings; run `hbd check` on each node)",
            if ok { "OK so far" } else { "cannot run" }
        ),
    };
    println!(
        "{}: {}; {verdict}",
        config.display(),
        counts(errors, warnings)
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
