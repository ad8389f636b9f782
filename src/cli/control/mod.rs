//! `hbd status|standby|takeover|cleanup|cl_status`: talk to a running daemon's control socket.
//!
//! One JSON request per connection, one JSON line back (see `hbd::control`).
//! Exit codes are a contract for scripts: 0 the daemon answered, 1 it answered
//! with an error (or `--wait` ran out), 3 it is not running, 4 it could not be
//! talked to (permission, timeout, a reply that is not the protocol).
//! `cl_status` keeps heartbeat's own exit codes instead (spec §8.1).
//!
//! Here: the commands and their exit codes. The human form of the status is
//! in [`render`], `--wait` in [`wait`], cl_status's queries in [`cl_status`],
//! and what the commands and `--wait` share in [`shared`].

pub mod cl_status;
pub mod render;
mod shared;
mod wait;

use hbd::config::facts::DEFAULT_RUN_DIR;
use hbd::control::client::{request, ControlError};
use hbd::control::{Request, Response};
use hbd::core::HoldSet;
use shared::{Op, REQUEST_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The sets `standby`/`takeover` accept (heartbeat's words; `none` would be
/// a no-op, so the command line does not offer it). `failback` is
/// hb_standby's and hb_takeover's other name for `foreign`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SetArg {
    All,
    Local,
    #[value(alias = "failback")]
    Foreign,
}

impl From<SetArg> for HoldSet {
    fn from(s: SetArg) -> HoldSet {
        match s {
            SetArg::All => HoldSet::All,
            SetArg::Local => HoldSet::Local,
            SetArg::Foreign => HoldSet::Foreign,
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Show both nodes, links and resource groups of the running daemon.
    Status {
        /// The daemon's run directory (holds hbd.sock).
        #[arg(long, default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
        /// Print the daemon's StatusReport as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give resource groups to the peer (heartbeat's hb_standby).
    Standby {
        /// Which groups, from this node's point of view.
        #[arg(value_enum, default_value = "all")]
        set: SetArg,
        #[arg(long, default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
        /// Wait up to SECS until the status shows the groups handed over.
        #[arg(long, value_name = "SECS")]
        wait: Option<f64>,
        /// Keep the groups on the peer whenever it is alive, across restarts
        /// of either node (recorded in the state directory), until --clear.
        #[arg(long)]
        persistent: bool,
        /// End a persistent standby (the groups stay where they run).
        #[arg(long, conflicts_with_all = ["persistent", "set", "wait"])]
        clear: bool,
    },
    /// Take resource groups from the peer (heartbeat's hb_takeover).
    Takeover {
        /// Which groups, from this node's point of view.
        #[arg(value_enum, default_value = "all")]
        set: SetArg,
        #[arg(long, default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
        /// Wait up to SECS until the status shows the groups running here.
        #[arg(long, value_name = "SECS")]
        wait: Option<f64>,
    },
    /// Forget a failed group's failures on this node, re-probe its resources
    /// with `status` and let hbd decide again where it runs (start it here,
    /// leave it to the peer, or keep it stopped). Run it once the cause is fixed.
    Cleanup {
        /// A group's key (its first resource, as `hbd status` shows it) or
        /// one of its resources; every group when left out.
        group: Option<String>,
        #[arg(long, default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
        /// Wait up to SECS until the group has settled without a failure.
        #[arg(long, value_name = "SECS")]
        wait: Option<f64>,
    },
    /// Maintenance mode: heartbeats go on, and this node starts, stops,
    /// monitors and takes over nothing (an hbd peer moves none of its
    /// groups either) until `hbd maintenance off`, which always works.
    Maintenance {
        #[arg(value_enum)]
        state: OnOff,
        /// Record it in the state directory: it survives a restart of hbd
        /// (`off` removes the record in any case).
        #[arg(long)]
        persistent: bool,
        #[arg(long, default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
    },
    /// Restart hbd in place without moving anything: the groups stay
    /// running, an hbd peer waits for the new process (deadtime plus a
    /// grace), which finds them running and keeps them. With a heartbeat
    /// peer the groups are handed over and back, as a stop and start would.
    Restart {
        #[arg(long, default_value = DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
        /// Wait up to SECS for the new process to answer (0: do not wait).
        #[arg(long, value_name = "SECS", default_value = "30")]
        wait: f64,
    },
    /// heartbeat's cl_status queries with its outputs and exit codes:
    /// hbstatus [-v], listnodes [-v], nodestatus NODE, nodetype NODE, nodeweight NODE,
    /// nodesite NODE, listhblinks [-v] NODE, hblinkstatus NODE LINK,
    /// clientstatus NODE CLIENT [TIMEOUT], rscstatus, hbparameter -p NAME;
    /// -m for human-readable output; --run-dir DIR anywhere.
    #[command(name = "cl_status", disable_help_flag = true)]
    ClStatus {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// 3 when nobody listens on the socket, 4 when talking to it failed.
fn exit_code(e: &ControlError) -> ExitCode {
    match e {
        ControlError::NotRunning { .. } => ExitCode::from(3),
        _ => ExitCode::from(4),
    }
}

pub fn run(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::Status { run_dir, json } => status(&run_dir, json),
        Cmd::Standby {
            clear: true,
            run_dir,
            ..
        } => persistent_standby(&run_dir, None, None),
        Cmd::Standby {
            set,
            run_dir,
            wait,
            persistent: true,
            ..
        } => persistent_standby(&run_dir, Some(set.into()), wait),
        Cmd::Standby {
            set, run_dir, wait, ..
        } => operator(&run_dir, Op::Standby, set.into(), wait),
        Cmd::Takeover { set, run_dir, wait } => operator(&run_dir, Op::Takeover, set.into(), wait),
        Cmd::Maintenance {
            state,
            persistent,
            run_dir,
        } => {
            let req = Request::Maintenance {
                on: state == OnOff::On,
                persistent,
            };
            match command(&run_dir, "maintenance", &req) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            }
        }
        Cmd::Restart { run_dir, wait } => restart(&run_dir, wait),
        Cmd::Cleanup {
            group,
            run_dir,
            wait,
        } => cleanup(&run_dir, group, wait),
        Cmd::ClStatus { args } => {
            let (code, out, err) = cl_status::cl_status(&args, &mut |dir| {
                request(dir, &Request::Status, REQUEST_TIMEOUT)
            });
            print!("{out}");
            eprint!("{err}");
            ExitCode::from(code)
        }
    }
}

fn status(run_dir: &Path, json: bool) -> ExitCode {
    match request(run_dir, &Request::Status, REQUEST_TIMEOUT) {
        Ok(Response::Status(report)) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("reports always serialise")
                );
            } else {
                print!("{}", render::render_status(&report));
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Error { message }) => {
            eprintln!("hbd status: the daemon refused: {message}");
            ExitCode::from(1)
        }
        Ok(other) => {
            eprintln!("hbd status: unexpected answer: {other:?}");
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("hbd status: {e}");
            exit_code(&e)
        }
    }
}

/// Sends an operator command (`hbd NAME`): prints the daemon's acceptance,
/// or says why not and returns the exit code.
fn command(run_dir: &Path, name: &str, req: &Request) -> Result<(), ExitCode> {
    match request(run_dir, req, REQUEST_TIMEOUT) {
        Ok(Response::Accepted { message }) => {
            println!("{message}");
            Ok(())
        }
        Ok(Response::Error { message }) => {
            eprintln!("hbd {name}: the daemon refused: {message}");
            Err(ExitCode::from(1))
        }
        Ok(other) => {
            eprintln!("hbd {name}: unexpected answer: {other:?}");
            Err(ExitCode::from(4))
        }
        Err(e) => {
            eprintln!("hbd {name}: {e}");
            Err(exit_code(&e))
        }
    }
}

fn operator(run_dir: &Path, op: Op, set: HoldSet, wait: Option<f64>) -> ExitCode {
    let name = match op {
        Op::Standby => "standby",
        Op::Takeover => "takeover",
    };
    let req = match op {
        Op::Standby => Request::Standby { set },
        Op::Takeover => Request::Takeover { set },
    };
    if let Err(code) = command(run_dir, name, &req) {
        return code;
    }
    match wait {
        Some(secs) => wait::until_settled(run_dir, op, name, set, secs),
        None => ExitCode::SUCCESS,
    }
}

/// `hbd standby --persistent SET` (Some) and `--clear` (None): one request
/// for the daemon to record and act on; `--wait` as for a plain standby.
fn persistent_standby(run_dir: &Path, set: Option<HoldSet>, wait: Option<f64>) -> ExitCode {
    if let Err(code) = command(run_dir, "standby", &Request::PersistentStandby { set }) {
        return code;
    }
    match (set, wait) {
        (Some(set), Some(secs)) => wait::until_settled(run_dir, Op::Standby, "standby", set, secs),
        _ => ExitCode::SUCCESS,
    }
}

/// `hbd restart`: asks for it, then waits for the new process (a new
/// generation on the same socket).
fn restart(run_dir: &Path, wait: f64) -> ExitCode {
    let before = match hbd::control::client::fetch_status(run_dir, REQUEST_TIMEOUT) {
        Ok(r) => r.local.generation,
        Err(e) => {
            eprintln!("hbd restart: {e}");
            return exit_code(&e);
        }
    };
    if let Err(code) = command(run_dir, "restart", &Request::Restart) {
        return code;
    }
    if wait <= 0.0 {
        return ExitCode::SUCCESS;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(wait);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = hbd::control::client::fetch_status(run_dir, REQUEST_TIMEOUT) {
            if r.local.generation != before {
                println!(
                    "hbd restarted (generation {} -> {})",
                    before.map_or("?".into(), |g| g.to_string()),
                    r.local.generation.map_or("?".into(), |g| g.to_string())
                );
                return ExitCode::SUCCESS;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!("hbd restart: no new process answered within {wait}s");
    ExitCode::from(1)
}

fn cleanup(run_dir: &Path, group: Option<String>, wait: Option<f64>) -> ExitCode {
    let req = Request::Cleanup {
        group: group.clone(),
    };
    if let Err(code) = command(run_dir, "cleanup", &req) {
        return code;
    }
    match wait {
        Some(secs) => wait::until_clean(run_dir, group.as_deref(), secs),
        None => ExitCode::SUCCESS,
    }
}

/// The report the submodules' tests read: alpha active with its group
/// running, beta dead, one link up and one never heard.
#[cfg(test)]
fn sample_report() -> hbd::control::StatusReport {
    use hbd::control::{GroupReport, LinkReport, NodeReport, StatusReport, TransitionReport};
    use hbd::core::{GroupState, RscHold};
    StatusReport {
        version: "0.1.0".into(),
        pid: 4242,
        config: "/etc/ha.d".into(),
        uptime_ms: 125_000,
        local: NodeReport {
            name: "alpha".into(),
            state: "active".into(),
            generation: Some(12),
            last_heard_ms_ago: None,
        },
        peer: NodeReport {
            name: "beta".into(),
            state: "dead".into(),
            generation: Some(7),
            last_heard_ms_ago: Some(3_400),
        },
        links: vec![
            LinkReport {
                name: "eth0".into(),
                kind: "ucast".into(),
                up: true,
                last_heard_ms_ago: Some(120),
                sent: 100,
                received: 98,
                bad_auth: 2,
                malformed: 1,
                late: 0,
                errors: 0,
                ..Default::default()
            },
            LinkReport {
                name: "/dev/ttyS0".into(),
                kind: "serial".into(),
                up: false,
                last_heard_ms_ago: None,
                ..Default::default()
            },
        ],
        groups: vec![GroupReport {
            key: "IPaddr::10.0.0.5".into(),
            home: "alpha".into(),
            owner: Some("alpha".into()),
            state: GroupState::Running,
            resources: vec!["IPaddr::10.0.0.5".into(), "httpd".into()],
            failure: None,
            fail_counts: vec![0, 0],
            monitors: Vec::new(),
        }],
        rsc_hold: RscHold::All,
        recent: vec![TransitionReport {
            ms_ago: 61_000,
            text: "beta: declared dead after 1.02s silence".into(),
        }],
        keepalive_ms: 200,
        deadtime_ms: 1000,
        auto_failback: "on".into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_running_exits_3_and_other_failures_4() {
        let path = PathBuf::from("/run/hbd/hbd.sock");
        let not_running = ControlError::NotRunning {
            path: path.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        };
        assert_eq!(exit_code(&not_running), ExitCode::from(3));
        let failures = [
            ControlError::Io {
                path: path.clone(),
                source: std::io::ErrorKind::PermissionDenied.into(),
            },
            ControlError::NoAnswer { path: path.clone() },
            ControlError::BadAnswer {
                path,
                line: "hello".into(),
                reason: "expected value".into(),
            },
        ];
        for e in &failures {
            assert_eq!(exit_code(e), ExitCode::from(4), "{e:?}");
        }
    }

    #[test]
    fn the_sets_offered_are_heartbeats_words() {
        assert_eq!(HoldSet::from(SetArg::All), HoldSet::All);
        assert_eq!(HoldSet::from(SetArg::Local), HoldSet::Local);
        assert_eq!(HoldSet::from(SetArg::Foreign), HoldSet::Foreign);
    }

    /// `hb_standby failback` and `hb_takeover failback` mean foreign.
    #[test]
    fn failback_is_foreign_for_standby_and_takeover() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: Cmd,
        }
        for op in ["standby", "takeover"] {
            let cli = Cli::try_parse_from(["hbd", op, "failback"]).unwrap();
            let set = match cli.cmd {
                Cmd::Standby { set, .. } | Cmd::Takeover { set, .. } => set,
                other => panic!("{op}: {other:?}"),
            };
            assert_eq!(set, SetArg::Foreign, "{op}");
        }
        assert!(Cli::try_parse_from(["hbd", "standby", "none"]).is_err());
    }
}
