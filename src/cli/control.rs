//! `hbd status|standby|takeover|cl_status`: talk to a running daemon's control socket.
//!
//! One JSON request per connection, one JSON line back (see `hbd::shell::proto`).
//! Exit codes are a contract for scripts: 0 the daemon answered, 1 it answered
//! with an error (or `--wait` ran out), 3 it is not running, 4 it could not be
//! talked to (permission, timeout, a reply that is not the protocol).
//! `cl_status` keeps heartbeat's own exit codes instead (spec §8.1).

use hbd::core::{GroupState, HoldSet, RscHold};
use hbd::shell::proto::{
    GroupReport, LinkReport, NodeReport, Request, Response, StatusReport, SOCKET_NAME,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// heartbeat's default run directory equivalent for hbd.
pub const DEFAULT_RUN_DIR: &str = "/run/hbd";

/// How long one request may take: cl_status gives heartbeat 5 s in total.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The sets `standby`/`takeover` accept (heartbeat's words; `none` would be
/// a no-op, so the command line does not offer it).
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SetArg {
    All,
    Local,
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
    /// heartbeat's cl_status queries with its outputs and exit codes:
    /// hbstatus [-v], listnodes [-v], nodestatus NODE, nodetype NODE, nodeweight NODE,
    /// nodesite NODE, listhblinks [-v] NODE, hblinkstatus NODE LINK, rscstatus;
    /// -m for human-readable output; --run-dir DIR anywhere.
    #[command(name = "cl_status", disable_help_flag = true)]
    ClStatus {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot connect to {}: {source}; is hbd running?", .path.display())]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot talk to {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon at {} closed the connection without answering", .path.display())]
    NoAnswer { path: PathBuf },
    #[error("the daemon at {} answered something that is not the protocol: {line:?}: {reason}", .path.display())]
    BadAnswer {
        path: PathBuf,
        line: String,
        reason: String,
    },
}

impl ControlError {
    fn exit_code(&self) -> ExitCode {
        match self {
            ControlError::NotRunning { .. } => ExitCode::from(3),
            _ => ExitCode::from(4),
        }
    }
}

pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// Sends one request and reads the one-line answer, bounded by `timeout`.
pub fn request(run_dir: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let path = socket_path(run_dir);
    let stream = UnixStream::connect(&path).map_err(|source| {
        use std::io::ErrorKind::*;
        match source.kind() {
            // A stale socket (daemon killed) refuses; a missing one is not there.
            NotFound | ConnectionRefused => ControlError::NotRunning {
                path: path.clone(),
                source,
            },
            _ => ControlError::Io {
                path: path.clone(),
                source,
            },
        }
    })?;
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).expect("requests always serialise");
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).map_err(io)?;
    if answer.trim().is_empty() {
        return Err(ControlError::NoAnswer { path });
    }
    serde_json::from_str(answer.trim_end()).map_err(|e| ControlError::BadAnswer {
        path: path.clone(),
        line: answer.trim_end().chars().take(200).collect(),
        reason: e.to_string(),
    })
}

/// Asks for the status; an `Error` answer becomes `Err(message)`.
pub fn fetch_status(run_dir: &Path) -> Result<StatusReport, String> {
    match request(run_dir, &Request::Status, REQUEST_TIMEOUT) {
        Ok(Response::Status(r)) => Ok(r),
        Ok(Response::Error { message }) => Err(format!("the daemon refused: {message}")),
        Ok(other) => Err(format!("unexpected answer to status: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

pub fn run(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::Status { run_dir, json } => status(&run_dir, json),
        Cmd::Standby { set, run_dir, wait } => operator(&run_dir, Op::Standby, set.into(), wait),
        Cmd::Takeover { set, run_dir, wait } => operator(&run_dir, Op::Takeover, set.into(), wait),
        Cmd::ClStatus { args } => {
            let (code, out, err) = cl_status(&args, &mut |dir| {
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
                print!("{}", render_status(&report));
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
            e.exit_code()
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Op {
    Standby,
    Takeover,
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
    match request(run_dir, &req, REQUEST_TIMEOUT) {
        Ok(Response::Accepted { message }) => println!("{message}"),
        Ok(Response::Error { message }) => {
            eprintln!("hbd {name}: the daemon refused: {message}");
            return ExitCode::from(1);
        }
        Ok(other) => {
            eprintln!("hbd {name}: unexpected answer: {other:?}");
            return ExitCode::from(4);
        }
        Err(e) => {
            eprintln!("hbd {name}: {e}");
            return e.exit_code();
        }
    }
    let Some(secs) = wait else {
        return ExitCode::SUCCESS;
    };
    let limit = Duration::from_secs_f64(secs.max(0.0));
    let started = Instant::now();
    loop {
        let last = fetch_status(run_dir);
        if let Ok(r) = &last {
            if settled(r, op, set) {
                println!(
                    "{name} {set} settled after {:.1}s: {}",
                    started.elapsed().as_secs_f64(),
                    holdings(r)
                );
                return ExitCode::SUCCESS;
            }
        }
        if started.elapsed() >= limit {
            match last {
                Ok(r) => eprintln!(
                    "hbd {name}: not settled after {secs}s: {} (rsc_hold {})",
                    holdings(&r),
                    r.rsc_hold
                ),
                Err(e) => eprintln!("hbd {name}: not settled after {secs}s: {e}"),
            }
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether group `g` belongs to `set` as seen from the local node.
fn in_set(g: &GroupReport, local: &str, set: HoldSet) -> bool {
    set.has(g.home == local)
}

/// Whether the status shows a standby/takeover of `set` finished: nothing in
/// transition, and each group of the set held by the side the command names.
fn settled(r: &StatusReport, op: Op, set: HoldSet) -> bool {
    if r.rsc_hold == RscHold::Transition {
        return false;
    }
    let local = r.local.name.as_str();
    r.groups.iter().filter(|g| in_set(g, local, set)).all(|g| {
        let here = g.owner.as_deref() == Some(local);
        match op {
            Op::Takeover => here && g.state == GroupState::Running,
            Op::Standby => !here && matches!(g.state, GroupState::Peer | GroupState::Stopped),
        }
    })
}

fn holdings(r: &StatusReport) -> String {
    let parts: Vec<String> = r
        .groups
        .iter()
        .map(|g| {
            format!(
                "{} on {} ({})",
                g.key,
                g.owner.as_deref().unwrap_or("nobody"),
                g.state
            )
        })
        .collect();
    if parts.is_empty() {
        "no groups".into()
    } else {
        parts.join(", ")
    }
}

/// A duration for people: `0.21s`, `12.3s`, `4m05s`, `2h03m`.
pub fn human_ms(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

fn ago(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format!("{} ago", human_ms(ms)),
        None => "never".into(),
    }
}

/// Lays out rows in left-aligned columns two blanks apart.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(indent);
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = width[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn node_row(n: &NodeReport, role: &str) -> Vec<String> {
    vec![
        n.name.clone(),
        role.into(),
        n.state.to_string(),
        match n.generation {
            Some(g) => format!("generation {g}"),
            None => "generation ?".into(),
        },
        format!("last heard {}", ago(n.last_heard_ms_ago)),
    ]
}

fn link_row(l: &LinkReport) -> Vec<String> {
    vec![
        l.name.clone(),
        l.kind.clone(),
        if l.up { "up" } else { "dead" }.into(),
        format!("last heard {}", ago(l.last_heard_ms_ago)),
        format!("sent {}", l.sent),
        format!("received {}", l.received),
        format!("bad_auth {}", l.bad_auth),
        format!("malformed {}", l.malformed),
        format!("late {}", l.late),
        format!("errors {}", l.errors),
    ]
}

/// The human form of `hbd status`.
pub fn render_status(r: &StatusReport) -> String {
    let mut out = format!(
        "hbd {} (pid {}), config {}, up {}\n\
         keepalive {}, deadtime {}, auto_failback {}\n",
        r.version,
        r.pid,
        r.config,
        human_ms(r.uptime_ms),
        human_ms(r.keepalive_ms),
        human_ms(r.deadtime_ms),
        r.auto_failback
    );
    out.push_str("\nnodes:\n");
    let mut local = node_row(&r.local, "(local)");
    // Our own node is not "heard"; it is us.
    local[4] = "this node".into();
    out.push_str(&table(&[local, node_row(&r.peer, "(peer)")], "  "));
    out.push_str("\nlinks (the peer as heard on each):\n");
    if r.links.is_empty() {
        out.push_str("  none configured\n");
    } else {
        let rows: Vec<_> = r.links.iter().map(link_row).collect();
        out.push_str(&table(&rows, "  "));
    }
    out.push_str("\nresource groups:\n");
    if r.groups.is_empty() {
        out.push_str("  none configured\n");
    } else {
        let rows: Vec<_> = r
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.key.clone(),
                    format!("home {}", g.home),
                    format!("owner {}", g.owner.as_deref().unwrap_or("nobody")),
                    g.state.to_string(),
                    g.resources.join(" "),
                ]
            })
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    out.push_str(&format!("\nrsc_hold: {}\n", r.rsc_hold));
    out.push_str("\nrecent transitions (oldest first):\n");
    if r.recent.is_empty() {
        out.push_str("  none yet\n");
    } else {
        let rows: Vec<_> = r
            .recent
            .iter()
            .map(|t| vec![format!("{} ago", human_ms(t.ms_ago)), t.text.clone()])
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    out
}

/// `cl_status`'s exit codes (spec §8.1).
const CL_OK: u8 = 0;
const CL_FAIL: u8 = 1;
const CL_PARAM: u8 = 11;
const CL_TIMEOUT: u8 = 12;
const CL_UNKNOWN: u8 = 13;

const CL_USAGE: &str = "usage: hbd cl_status <sub-command> [-m] [-v] [--run-dir DIR] [args]\n\
  hbstatus [-v]\n  listnodes [-v]\n  nodestatus <node>\n  nodetype <node>\n  \
nodeweight <node>\n  nodesite <node>\n  listhblinks [-v] <node>\n  \
hblinkstatus <node> <link>\n  rscstatus\n";

/// heartbeat's cl_status over a StatusReport: returns (exit code, stdout, stderr).
/// `ask` performs the status request (the socket, or a fake in tests).
pub fn cl_status(
    args: &[String],
    ask: &mut dyn FnMut(&Path) -> Result<Response, ControlError>,
) -> (u8, String, String) {
    let mut human = false;
    let mut verbose = false;
    let mut run_dir = PathBuf::from(DEFAULT_RUN_DIR);
    let mut words: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-m" => human = true,
            "-v" => verbose = true,
            // listnodes -p / -n select ping or normal nodes; hbd has only normal ones.
            "-n" => {}
            "-p" => words.push("-p"),
            "--run-dir" => match it.next() {
                Some(d) => run_dir = PathBuf::from(d),
                None => {
                    return (
                        CL_PARAM,
                        String::new(),
                        "--run-dir needs a directory\n".into(),
                    )
                }
            },
            s if s.starts_with("--run-dir=") => run_dir = PathBuf::from(&s["--run-dir=".len()..]),
            "-h" | "--help" => return (CL_OK, CL_USAGE.into(), String::new()),
            s if s.starts_with('-') => {
                return (
                    CL_PARAM,
                    String::new(),
                    format!("unknown option {s:?}\n{CL_USAGE}"),
                )
            }
            s => words.push(s),
        }
    }
    let Some((&sub, rest)) = words.split_first() else {
        return (CL_PARAM, String::new(), CL_USAGE.into());
    };
    let known = [
        "hbstatus",
        "listnodes",
        "nodestatus",
        "nodetype",
        "nodeweight",
        "nodesite",
        "listhblinks",
        "hblinkstatus",
        "rscstatus",
    ];
    if !known.contains(&sub) {
        return (
            CL_PARAM,
            String::new(),
            format!("unknown sub-command {sub:?}\n{CL_USAGE}"),
        );
    }
    let wanted = match sub {
        "nodestatus" | "nodetype" | "nodeweight" | "nodesite" | "listhblinks" => 1,
        "hblinkstatus" => 2,
        _ => 0,
    };
    let rest: Vec<&str> = rest.iter().copied().filter(|w| *w != "-p").collect();
    let ping_only = words.contains(&"-p");
    if rest.len() != wanted {
        return (
            CL_PARAM,
            String::new(),
            format!(
                "{sub} takes {wanted} argument(s), got {}\n{CL_USAGE}",
                rest.len()
            ),
        );
    }
    let report = match ask(&run_dir) {
        Ok(Response::Status(r)) => r,
        Ok(Response::Error { message }) => {
            if sub == "hbstatus" {
                return (
                    CL_OK,
                    "Heartbeat is apparently running on this machine, but refuses my connection\n"
                        .into(),
                    format!("cl_status: {message}\n"),
                );
            }
            return (
                CL_FAIL,
                String::new(),
                format!("cl_status: ERROR: {message}\n"),
            );
        }
        Ok(other) => {
            return (
                CL_UNKNOWN,
                String::new(),
                format!("cl_status: ERROR: unexpected answer {other:?}\n"),
            )
        }
        Err(ControlError::NotRunning { .. }) if sub == "hbstatus" => {
            return (
                CL_FAIL,
                "Heartbeat is stopped on this machine.\n".into(),
                String::new(),
            )
        }
        Err(ControlError::NotRunning { path, .. }) => {
            return (
                CL_FAIL,
                String::new(),
                format!(
                    "cl_status: ERROR: Cannot signon with heartbeat (no daemon at {})\n",
                    path.display()
                ),
            )
        }
        Err(ControlError::Io { ref source, .. })
            if matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return (
                CL_TIMEOUT,
                String::new(),
                "cl_status: ERROR: timed out waiting for heartbeat\n".into(),
            )
        }
        Err(ControlError::Io { path, source }) if sub == "hbstatus" => {
            return (
                CL_OK,
                "Heartbeat is apparently running on this machine, but refuses my connection\n"
                    .into(),
                format!("cl_status: {}: {source}\n", path.display()),
            )
        }
        Err(e) => {
            return (
                CL_UNKNOWN,
                String::new(),
                format!("cl_status: ERROR: {e}\n"),
            )
        }
    };
    let nodes = [&report.local, &report.peer];
    let find = |name: &str| {
        nodes
            .iter()
            .copied()
            .find(|n| n.name.eq_ignore_ascii_case(name))
    };
    let bad_node = || {
        (
            CL_PARAM,
            String::new(),
            "Error. May be due to incorrect node name\n".to_string(),
        )
    };
    // The local node always hears itself; heartbeat shows its own links up.
    let link_state = |node: &NodeReport, l: &LinkReport| {
        if std::ptr::eq(node, &report.local) || l.up {
            "up"
        } else {
            "dead"
        }
    };
    let listnodes_verbose = |out: &mut String| {
        for n in nodes {
            out.push_str(&format!("\n{}\t{}\t(nodetype: normal)\n", n.name, n.state));
            for l in &report.links {
                out.push_str(&format!("\t{}\t{}\n", l.name, link_state(n, l)));
            }
        }
    };
    let mut out = String::new();
    match sub {
        "hbstatus" => {
            out.push_str("Heartbeat is running on this machine.\n");
            if verbose {
                out.push_str(&format!(
                    "version:\t{} (hbd, pid {})\nmanaged by:\t\"haresources\"\n",
                    report.version, report.pid
                ));
                listnodes_verbose(&mut out);
            }
            (CL_OK, out, String::new())
        }
        "listnodes" => {
            if ping_only {
                // hbd has no ping nodes in the membership.
            } else if verbose {
                listnodes_verbose(&mut out);
            } else {
                for n in nodes {
                    out.push_str(&format!("{}\n", n.name));
                }
            }
            (CL_OK, out, String::new())
        }
        "nodestatus" => {
            let Some(n) = find(rest[0]) else {
                return bad_node();
            };
            if human {
                out.push_str(&format!("The cluster node {} is {}\n", n.name, n.state));
            } else {
                out.push_str(&format!("{}\n", n.state));
            }
            let code = if n.state.is_alive() { CL_OK } else { CL_FAIL };
            (code, out, String::new())
        }
        "nodetype" => {
            let Some(n) = find(rest[0]) else {
                return bad_node();
            };
            if human {
                out.push_str(&format!("The node {}'s type: normal\n", n.name));
            } else {
                out.push_str("normal\n");
            }
            (CL_OK, out, String::new())
        }
        "nodeweight" => {
            if find(rest[0]).is_none() {
                return bad_node();
            }
            (CL_OK, "100\n".into(), String::new())
        }
        "nodesite" => {
            if find(rest[0]).is_none() {
                return bad_node();
            }
            (CL_OK, "\n".into(), String::new())
        }
        "listhblinks" => {
            let Some(n) = find(rest[0]) else {
                return bad_node();
            };
            if human {
                out.push_str("\tthis node has the following heartbeat links:\n");
            }
            for l in &report.links {
                if verbose {
                    out.push_str(&format!("\t{}\t{}\n", l.name, link_state(n, l)));
                } else {
                    out.push_str(&format!("\t{}\n", l.name));
                }
            }
            (CL_OK, out, String::new())
        }
        "hblinkstatus" => {
            let Some(n) = find(rest[0]) else {
                return bad_node();
            };
            let Some(l) = report.links.iter().find(|l| l.name == rest[1]) else {
                return (
                    CL_PARAM,
                    String::new(),
                    "Error. May be due to incorrect node name or link name\n".into(),
                );
            };
            let st = link_state(n, l);
            if human {
                out.push_str(&format!(
                    "The node {}'s heartbeat link {} is {st}\n",
                    n.name, l.name
                ));
            } else {
                out.push_str(&format!("{st}\n"));
            }
            (if st == "up" { CL_OK } else { CL_FAIL }, out, String::new())
        }
        "rscstatus" => {
            if human {
                out.push_str(&format!(
                    "This node is holding {} resources.\n",
                    report.rsc_hold
                ));
            } else {
                out.push_str(&format!("{}\n", report.rsc_hold));
            }
            (CL_OK, out, String::new())
        }
        _ => unreachable!("checked against the known list above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hbd::shell::proto::TransitionReport;
    use std::os::unix::net::UnixListener;

    fn sample() -> StatusReport {
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
            }],
            rsc_hold: RscHold::All,
            recent: vec![TransitionReport {
                ms_ago: 61_000,
                text: "beta: declared dead after 1.02s silence".into(),
            }],
            keepalive_ms: 200,
            deadtime_ms: 1000,
            auto_failback: "on".into(),
        }
    }

    fn cl(args: &[&str], r: Result<Response, ControlError>) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut r = Some(r);
        cl_status(&args, &mut |_| r.take().expect("asked once"))
    }

    fn ok() -> Result<Response, ControlError> {
        Ok(Response::Status(sample()))
    }

    fn not_running() -> Result<Response, ControlError> {
        Err(ControlError::NotRunning {
            path: "/run/hbd/hbd.sock".into(),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    #[test]
    fn hbstatus_running_and_stopped() {
        assert_eq!(
            cl(&["hbstatus"], ok()),
            (
                0,
                "Heartbeat is running on this machine.\n".into(),
                "".into()
            )
        );
        let (code, out, _) = cl(&["hbstatus"], not_running());
        assert_eq!(
            (code, out.as_str()),
            (1, "Heartbeat is stopped on this machine.\n")
        );
        let (code, out, _) = cl(
            &["hbstatus"],
            Ok(Response::Error {
                message: "uid 1000 refused".into(),
            }),
        );
        assert_eq!(code, 0);
        assert!(out.contains("refuses my connection"));
    }

    #[test]
    fn nodestatus_exit_codes_follow_heartbeat() {
        assert_eq!(cl(&["nodestatus", "alpha"], ok()).0, 0);
        assert_eq!(cl(&["nodestatus", "alpha"], ok()).1, "active\n");
        let (code, out, _) = cl(&["nodestatus", "BETA"], ok());
        assert_eq!((code, out.as_str()), (1, "dead\n"));
        let (code, out, _) = cl(&["nodestatus", "-m", "beta"], ok());
        assert_eq!((code, out.as_str()), (1, "The cluster node beta is dead\n"));
        let (code, out, err) = cl(&["nodestatus", "gamma"], ok());
        assert_eq!(code, 11);
        assert_eq!(out, "");
        assert_eq!(err, "Error. May be due to incorrect node name\n");
    }

    #[test]
    fn links_of_the_peer_and_of_ourselves() {
        assert_eq!(
            cl(&["listhblinks", "beta"], ok()).1,
            "\teth0\n\t/dev/ttyS0\n"
        );
        assert_eq!(
            cl(&["listhblinks", "-v", "beta"], ok()).1,
            "\teth0\tup\n\t/dev/ttyS0\tdead\n"
        );
        assert_eq!(
            cl(&["listhblinks", "-m", "alpha"], ok()).1,
            "\tthis node has the following heartbeat links:\n\teth0\n\t/dev/ttyS0\n"
        );
        assert_eq!(
            cl(&["hblinkstatus", "beta", "/dev/ttyS0"], ok()),
            (1, "dead\n".into(), "".into())
        );
        assert_eq!(
            cl(&["hblinkstatus", "beta", "eth0", "-m"], ok()),
            (
                0,
                "The node beta's heartbeat link eth0 is up\n".into(),
                "".into()
            )
        );
        // Our own links are always up to us.
        assert_eq!(cl(&["hblinkstatus", "alpha", "/dev/ttyS0"], ok()).0, 0);
        assert_eq!(cl(&["hblinkstatus", "beta", "eth9"], ok()).0, 11);
    }

    #[test]
    fn listnodes_and_rscstatus() {
        assert_eq!(cl(&["listnodes"], ok()).1, "alpha\nbeta\n");
        assert_eq!(
            cl(&["listnodes", "-v"], ok()).1,
            "\nalpha\tactive\t(nodetype: normal)\n\teth0\tup\n\t/dev/ttyS0\tup\n\
             \nbeta\tdead\t(nodetype: normal)\n\teth0\tup\n\t/dev/ttyS0\tdead\n"
        );
        assert_eq!(cl(&["rscstatus"], ok()), (0, "all\n".into(), "".into()));
        assert_eq!(
            cl(&["rscstatus", "-m"], ok()).1,
            "This node is holding all resources.\n"
        );
        assert_eq!(cl(&["nodeweight", "beta"], ok()).1, "100\n");
        assert_eq!(
            cl(&["nodetype", "-m", "beta"], ok()).1,
            "The node beta's type: normal\n"
        );
    }

    #[test]
    fn parameter_errors_exit_11_without_asking() {
        let never = || -> Result<Response, ControlError> { panic!("must not ask") };
        for args in [
            vec![],
            vec!["bogus"],
            vec!["nodestatus"],
            vec!["hblinkstatus", "beta"],
            vec!["rscstatus", "extra"],
            vec!["rscstatus", "-x"],
            vec!["rscstatus", "--run-dir"],
        ] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let (code, _, err) = cl_status(&args, &mut |_| never());
            assert_eq!(code, 11, "{args:?}");
            assert!(!err.is_empty(), "{args:?}");
        }
    }

    #[test]
    fn run_dir_is_honoured_anywhere() {
        let args: Vec<String> = ["rscstatus", "--run-dir", "/tmp/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut seen = None;
        cl_status(&args, &mut |d| {
            seen = Some(d.to_path_buf());
            ok()
        });
        assert_eq!(seen, Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn not_running_is_not_a_parameter_error() {
        let (code, out, err) = cl(&["rscstatus"], not_running());
        assert_eq!(code, 1);
        assert_eq!(out, "");
        assert!(err.contains("Cannot signon"), "{err}");
    }

    #[test]
    fn human_status_shows_everything_an_operator_needs() {
        let text = render_status(&sample());
        for needle in [
            "pid 4242",
            "keepalive 0.20s, deadtime 1.00s, auto_failback on",
            "alpha  (local)  active  generation 12  this node",
            "beta   (peer)   dead    generation 7   last heard 3.40s ago",
            "eth0        ucast   up    last heard 0.12s ago  sent 100  received 98  bad_auth 2  malformed 1  late 0  errors 0",
            "/dev/ttyS0  serial  dead  last heard never",
            "IPaddr::10.0.0.5  home alpha  owner alpha  running  IPaddr::10.0.0.5 httpd",
            "rsc_hold: all",
            "1m01s ago  beta: declared dead after 1.02s silence",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn human_ms_picks_a_readable_unit() {
        assert_eq!(human_ms(0), "0.00s");
        assert_eq!(human_ms(1_234), "1.23s");
        assert_eq!(human_ms(12_345), "12.3s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(7_380_000), "2h03m");
    }

    #[test]
    fn settled_means_the_set_is_on_the_right_side() {
        let mut r = sample();
        assert!(settled(&r, Op::Takeover, HoldSet::All));
        assert!(!settled(&r, Op::Standby, HoldSet::All));
        // A foreign standby does not touch alpha's own group.
        assert!(settled(&r, Op::Standby, HoldSet::Foreign));
        r.groups[0].owner = Some("beta".into());
        r.groups[0].state = GroupState::Peer;
        assert!(settled(&r, Op::Standby, HoldSet::Local));
        assert!(!settled(&r, Op::Takeover, HoldSet::Local));
        r.rsc_hold = RscHold::Transition;
        assert!(!settled(&r, Op::Standby, HoldSet::Local));
    }

    /// A one-shot fake daemon on a real Unix socket: answers `answer` to one request
    /// and hands back the request line it got.
    fn fake_daemon(dir: &Path, answer: &'static str) -> std::thread::JoinHandle<String> {
        let listener = UnixListener::bind(socket_path(dir)).unwrap();
        std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line).unwrap();
            (&conn).write_all(answer.as_bytes()).unwrap();
            line
        })
    }

    #[test]
    fn request_round_trip_over_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(
            dir.path(),
            "{\"result\":\"accepted\",\"message\":\"going standby [all]\"}\n",
        );
        let r = request(
            dir.path(),
            &Request::Standby { set: HoldSet::All },
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            r,
            Response::Accepted {
                message: "going standby [all]".into()
            }
        );
        assert_eq!(
            daemon.join().unwrap(),
            "{\"cmd\":\"standby\",\"set\":\"all\"}\n"
        );
    }

    #[test]
    fn status_report_travels_intact() {
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::to_string(&Response::Status(sample())).unwrap() + "\n";
        let daemon = fake_daemon(dir.path(), Box::leak(json.into_boxed_str()));
        assert_eq!(fetch_status(dir.path()).unwrap(), sample());
        daemon.join().unwrap();
    }

    #[test]
    fn missing_or_stale_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let e = request(dir.path(), &Request::Status, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, ControlError::NotRunning { .. }), "{e:?}");
        assert!(e.to_string().contains("is hbd running?"), "{e}");
        assert!(e.to_string().contains("hbd.sock"), "{e}");
        // A socket file left behind by a killed daemon refuses connections.
        drop(UnixListener::bind(socket_path(dir.path())).unwrap());
        let e = request(dir.path(), &Request::Status, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, ControlError::NotRunning { .. }), "{e:?}");
    }

    #[test]
    fn garbage_answers_are_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(dir.path(), "hello\n");
        let e = request(dir.path(), &Request::Status, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ControlError::BadAnswer { .. }), "{e:?}");
        daemon.join().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(dir.path(), "");
        let e = request(dir.path(), &Request::Status, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ControlError::NoAnswer { .. }), "{e:?}");
        daemon.join().unwrap();
    }

    #[test]
    fn a_silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(socket_path(dir.path())).unwrap();
        let started = Instant::now();
        let e = request(dir.path(), &Request::Status, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, ControlError::Io { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }
}
