//! `hbd cl_status`: heartbeat's cl_status queries answered from one status
//! request, with heartbeat's outputs and exit codes (spec §8.1), so scripts
//! written for heartbeat keep working. Pure apart from `ask`, the request.

use hbd::config::facts::DEFAULT_RUN_DIR;
use hbd::control::client::ControlError;
use hbd::control::{LinkReport, NodeReport, Response, StatusReport};
use hbd::core::PeerConfigState;
use std::path::{Path, PathBuf};

/// `cl_status`'s exit codes (spec §8.1).
const CL_OK: u8 = 0;
const CL_FAIL: u8 = 1;
const CL_PARAM: u8 = 11;
const CL_TIMEOUT: u8 = 12;
const CL_UNKNOWN: u8 = 13;

const CL_USAGE: &str = "usage: hbd cl_status <sub-command> [-m] [-v] [--run-dir DIR] [args]\n\
  hbstatus [-v]\n  listnodes [-v]\n  nodestatus <node>\n  nodetype <node>\n  \
nodeweight <node>\n  nodesite <node>\n  listhblinks [-v] <node>\n  \
hblinkstatus <node> <link>\n  clientstatus <node> <client> [<timeout>]\n  rscstatus\n  \
hbparameter -p <parameter-name>\n";

/// heartbeat's answer to `hbstatus` when the daemon is there but will not talk.
const REFUSES_ME: &str =
    "Heartbeat is apparently running on this machine, but refuses my connection\n";

/// What `cl_status` exits with and prints: (exit code, stdout, stderr).
pub type Outcome = (u8, String, String);

/// The sub-commands of heartbeat's cl_status that hbd answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Query {
    HbStatus,
    ListNodes,
    NodeStatus,
    NodeType,
    NodeWeight,
    NodeSite,
    ListHbLinks,
    HbLinkStatus,
    ClientStatus,
    RscStatus,
    HbParameter,
}

impl Query {
    fn from_word(word: &str) -> Option<Query> {
        Some(match word {
            "hbstatus" => Query::HbStatus,
            "listnodes" => Query::ListNodes,
            "nodestatus" => Query::NodeStatus,
            "nodetype" => Query::NodeType,
            "nodeweight" => Query::NodeWeight,
            "nodesite" => Query::NodeSite,
            "listhblinks" => Query::ListHbLinks,
            "hblinkstatus" => Query::HbLinkStatus,
            "clientstatus" => Query::ClientStatus,
            "rscstatus" => Query::RscStatus,
            "hbparameter" => Query::HbParameter,
            _ => return None,
        })
    }

    /// How many words follow it: a node, then a link or a client.
    /// `clientstatus` may add a timeout, which hbd does not need (it asks no
    /// peer), and `hbparameter` takes its name through `-p`.
    fn arity(self) -> usize {
        match self {
            Query::NodeStatus
            | Query::NodeType
            | Query::NodeWeight
            | Query::NodeSite
            | Query::ListHbLinks => 1,
            Query::HbLinkStatus | Query::ClientStatus => 2,
            Query::HbStatus | Query::ListNodes | Query::RscStatus | Query::HbParameter => 0,
        }
    }
}

/// A command line found well-formed, before the daemon is asked.
struct Invocation<'a> {
    query: Query,
    /// The node and link named, as many as the query takes.
    args: Vec<&'a str>,
    /// `-m`: sentences instead of bare words.
    human: bool,
    verbose: bool,
    /// `listnodes -p`: only ping nodes.
    ping_only: bool,
    /// `hbparameter -p NAME`: the parameter asked for.
    parameter: Option<&'a str>,
    run_dir: PathBuf,
}

/// heartbeat's cl_status over a StatusReport: returns (exit code, stdout, stderr).
/// `ask` performs the status request (the socket, or a fake in tests).
pub fn cl_status(
    args: &[String],
    ask: &mut dyn FnMut(&Path) -> Result<Response, ControlError>,
) -> Outcome {
    let inv = match parse(args) {
        Ok(inv) => inv,
        Err(done) => return done,
    };
    match ask(&inv.run_dir) {
        Ok(Response::Status(report)) => answer(&inv, &report),
        Ok(Response::Error { message }) if inv.query == Query::HbStatus => {
            (CL_OK, REFUSES_ME.into(), format!("cl_status: {message}\n"))
        }
        Ok(Response::Error { message }) => (
            CL_FAIL,
            String::new(),
            format!("cl_status: ERROR: {message}\n"),
        ),
        Ok(other) => (
            CL_UNKNOWN,
            String::new(),
            format!("cl_status: ERROR: unexpected answer {other:?}\n"),
        ),
        Err(e) => unanswered(inv.query, e),
    }
}

/// Reads the command line; `Err` is the whole outcome when there is nothing to
/// ask the daemon (a parameter error, or `--help`).
fn parse(args: &[String]) -> Result<Invocation<'_>, Outcome> {
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
                    return Err((
                        CL_PARAM,
                        String::new(),
                        "--run-dir needs a directory\n".into(),
                    ))
                }
            },
            s if s.starts_with("--run-dir=") => run_dir = PathBuf::from(&s["--run-dir=".len()..]),
            "-h" | "--help" => return Err((CL_OK, CL_USAGE.into(), String::new())),
            s if s.starts_with('-') => {
                return Err((
                    CL_PARAM,
                    String::new(),
                    format!("unknown option {s:?}\n{CL_USAGE}"),
                ))
            }
            s => words.push(s),
        }
    }
    let Some((&sub, rest)) = words.split_first() else {
        return Err((CL_PARAM, String::new(), CL_USAGE.into()));
    };
    let Some(query) = Query::from_word(sub) else {
        return Err((
            CL_PARAM,
            String::new(),
            format!("unknown sub-command {sub:?}\n{CL_USAGE}"),
        ));
    };
    let wanted = query.arity();
    // `-p NAME` is hbparameter's only argument (heartbeat's getopt wording).
    let mut parameter = None;
    if query == Query::HbParameter {
        match rest.iter().position(|w| *w == "-p") {
            Some(i) => match rest.get(i + 1) {
                Some(name) => parameter = Some(*name),
                None => {
                    return Err((
                        CL_PARAM,
                        String::new(),
                        "hbparameter: option requires an argument -- 'p'\n".into(),
                    ))
                }
            },
            None => {
                return Err((
                    CL_PARAM,
                    String::new(),
                    "cl_status: ERROR: parameter name required\n".into(),
                ))
            }
        }
    }
    let rest: Vec<&str> = rest.iter().copied().filter(|w| *w != "-p").collect();
    let ping_only = words.contains(&"-p");
    if query == Query::ClientStatus && rest.len() < wanted {
        // heartbeat's words for it.
        return Err((CL_PARAM, String::new(), "No enough parameter.\n".into()));
    }
    // heartbeat ignores words after those a query takes for these two.
    let extra_ignored = matches!(query, Query::ClientStatus | Query::HbParameter);
    if rest.len() != wanted && !(extra_ignored && rest.len() > wanted) {
        return Err((
            CL_PARAM,
            String::new(),
            format!(
                "{sub} takes {wanted} argument(s), got {}\n{CL_USAGE}",
                rest.len()
            ),
        ));
    }
    Ok(Invocation {
        query,
        args: rest,
        human,
        verbose,
        ping_only,
        parameter,
        run_dir,
    })
}

/// The outcome when the request itself failed: heartbeat tells "stopped",
/// "refuses me" and "timed out" apart.
fn unanswered(query: Query, e: ControlError) -> Outcome {
    match e {
        ControlError::NotRunning { .. } if query == Query::HbStatus => (
            CL_FAIL,
            "Heartbeat is stopped on this machine.\n".into(),
            String::new(),
        ),
        ControlError::NotRunning { path, .. } => (
            CL_FAIL,
            String::new(),
            format!(
                "cl_status: ERROR: Cannot signon with heartbeat (no daemon at {})\n",
                path.display()
            ),
        ),
        ControlError::Io { ref source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            (
                CL_TIMEOUT,
                String::new(),
                "cl_status: ERROR: timed out waiting for heartbeat\n".into(),
            )
        }
        ControlError::Io { path, source } if query == Query::HbStatus => (
            CL_OK,
            REFUSES_ME.into(),
            format!("cl_status: {}: {source}\n", path.display()),
        ),
        e => (
            CL_UNKNOWN,
            String::new(),
            format!("cl_status: ERROR: {e}\n"),
        ),
    }
}

fn bad_node() -> Outcome {
    (
        CL_PARAM,
        String::new(),
        "Error. May be due to incorrect node name\n".to_string(),
    )
}

/// A link as `node` sees it. The local node always hears itself; heartbeat
/// shows its own links up.
fn link_state(report: &StatusReport, node: &NodeReport, l: &LinkReport) -> &'static str {
    if std::ptr::eq(node, &report.local) || l.up {
        "up"
    } else {
        "dead"
    }
}

/// Both nodes with their state and every link as each sees it (`listnodes -v`).
fn listnodes_verbose(report: &StatusReport, out: &mut String) {
    for n in [&report.local, &report.peer] {
        out.push_str(&format!("\n{}\t{}\t(nodetype: normal)\n", n.name, n.state));
        for l in &report.links {
            out.push_str(&format!("\t{}\t{}\n", l.name, link_state(report, n, l)));
        }
    }
}

/// The query answered from the daemon's report.
fn answer(inv: &Invocation, report: &StatusReport) -> Outcome {
    let nodes = [&report.local, &report.peer];
    let find = |name: &str| {
        nodes
            .iter()
            .copied()
            .find(|n| n.name.eq_ignore_ascii_case(name))
    };
    let (human, verbose) = (inv.human, inv.verbose);
    let mut out = String::new();
    match inv.query {
        Query::HbStatus => {
            out.push_str("Heartbeat is running on this machine.\n");
            if verbose {
                out.push_str(&format!(
                    "version:\t{} (hbd, pid {})\nmanaged by:\t\"haresources\"\n",
                    report.version, report.pid
                ));
                listnodes_verbose(report, &mut out);
            }
            (CL_OK, out, String::new())
        }
        Query::ListNodes => {
            if inv.ping_only {
                // hbd has no ping nodes in the membership.
            } else if verbose {
                listnodes_verbose(report, &mut out);
            } else {
                for n in nodes {
                    out.push_str(&format!("{}\n", n.name));
                }
            }
            (CL_OK, out, String::new())
        }
        Query::NodeStatus => {
            let Some(n) = find(inv.args[0]) else {
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
        Query::NodeType => {
            let Some(n) = find(inv.args[0]) else {
                return bad_node();
            };
            if human {
                out.push_str(&format!("The node {}'s type: normal\n", n.name));
            } else {
                out.push_str("normal\n");
            }
            (CL_OK, out, String::new())
        }
        Query::NodeWeight => {
            if find(inv.args[0]).is_none() {
                return bad_node();
            }
            (CL_OK, "100\n".into(), String::new())
        }
        Query::NodeSite => {
            if find(inv.args[0]).is_none() {
                return bad_node();
            }
            (CL_OK, "\n".into(), String::new())
        }
        Query::ListHbLinks => {
            let Some(n) = find(inv.args[0]) else {
                return bad_node();
            };
            if human {
                out.push_str("\tthis node has the following heartbeat links:\n");
            }
            for l in &report.links {
                if verbose {
                    out.push_str(&format!("\t{}\t{}\n", l.name, link_state(report, n, l)));
                } else {
                    out.push_str(&format!("\t{}\n", l.name));
                }
            }
            (CL_OK, out, String::new())
        }
        Query::HbLinkStatus => {
            let Some(n) = find(inv.args[0]) else {
                return bad_node();
            };
            let Some(l) = report.links.iter().find(|l| l.name == inv.args[1]) else {
                return (
                    CL_PARAM,
                    String::new(),
                    "Error. May be due to incorrect node name or link name\n".into(),
                );
            };
            let st = link_state(report, n, l);
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
        Query::ClientStatus => client_status(report, inv.args[0], inv.args[1]),
        Query::HbParameter => {
            let name = inv.parameter.unwrap_or_default();
            let Some(value) = report.parameters.get(name) else {
                let known: Vec<&str> = report.parameters.keys().map(String::as_str).collect();
                return (
                    CL_FAIL,
                    String::new(),
                    format!(
                        "cl_status: ERROR: Cannot get parameter {name}'s value (hbd has: {})\n",
                        known.join(", ")
                    ),
                );
            };
            if human {
                out.push_str(&format!("Heartbeat parameter {name}'s value: {value}\n"));
            } else {
                out.push_str(&format!("{value}\n"));
            }
            (CL_OK, out, String::new())
        }
        Query::RscStatus => {
            let (hold, failed) = rsc_status(report);
            if human {
                out.push_str(&format!("This node is holding {hold} resources.\n"));
            } else {
                out.push_str(&format!("{hold}\n"));
            }
            if failed.is_empty() {
                (CL_OK, out, String::new())
            } else {
                // A check built on heartbeat's words must not stay green
                // while a group is failed here: the word leaves it out, and
                // the exit code says something is wrong.
                let err: String = failed
                    .iter()
                    .map(|f| {
                        format!("cl_status: {f} (see hbd status; hbd cleanup GROUP once fixed)\n")
                    })
                    .collect();
                (CL_FAIL, out, err)
            }
        }
    }
}

/// `clientstatus NODE CLIENT`: heartbeat API clients (ipfail, ...) signed on
/// at a node. hbd runs none, so a client is `offline` (exit 1) here and at an
/// hbd peer, as heartbeat answers for a client that is not signed on. A
/// heartbeat peer (whose clients hbd cannot ask), a dead peer or an unknown
/// node get heartbeat's answer when nobody replies: exit 13.
fn client_status(report: &StatusReport, node: &str, client: &str) -> Outcome {
    let offline = || (CL_FAIL, "offline\n".to_string(), String::new());
    if report.local.name.eq_ignore_ascii_case(node) {
        return offline();
    }
    let peer = &report.peer;
    let hbd_peer = matches!(
        report.peer_config.state,
        PeerConfigState::Same | PeerConfigState::Differs
    );
    if peer.name.eq_ignore_ascii_case(node) && peer.state.is_alive() && hbd_peer {
        return offline();
    }
    (
        CL_UNKNOWN,
        String::new(),
        format!(
            "cl_status: ERROR: Cannot get heartbeat client {client}'s status\n\
             cl_status: ERROR: REASON: No timely response.\n"
        ),
    )
}

/// `rscstatus`: what this node holds, not counting groups failed here (the
/// protocol's `rsc_hold` counts a group that may still be active as held),
/// and a line for each failed group.
fn rsc_status(report: &StatusReport) -> (String, Vec<String>) {
    use hbd::core::{GroupState, HoldSet, RscHold};
    let failed: Vec<String> = report
        .groups
        .iter()
        .filter(|g| g.failure.is_some() || g.state == GroupState::Failed)
        .map(|g| match &g.failure {
            Some(f) => format!(
                "group {} failed here: {} of {} failed: {}",
                g.key, f.action, f.resource, f.reason
            ),
            None => format!("group {} failed here", g.key),
        })
        .collect();
    if failed.is_empty() || report.rsc_hold == RscHold::Transition {
        return (report.rsc_hold.to_string(), failed);
    }
    let local = report.local.name.as_str();
    let held = |home_here: bool| {
        report.groups.iter().any(|g| {
            (g.home == local) == home_here
                && g.owner.as_deref() == Some(local)
                && g.state == GroupState::Running
                && g.failure.is_none()
        })
    };
    let hold = RscHold::from(HoldSet::from_parts(held(true), held(false)));
    (hold.to_string(), failed)
}

#[cfg(test)]
mod tests {
    use super::super::sample_report;
    use super::*;

    fn cl(args: &[&str], r: Result<Response, ControlError>) -> Outcome {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut r = Some(r);
        cl_status(&args, &mut |_| r.take().expect("asked once"))
    }

    fn ok() -> Result<Response, ControlError> {
        Ok(Response::Status(sample_report()))
    }

    fn not_running() -> Result<Response, ControlError> {
        Err(ControlError::NotRunning {
            path: "/run/hbd/hbd.sock".into(),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    fn io(kind: std::io::ErrorKind) -> Result<Response, ControlError> {
        Err(ControlError::Io {
            path: "/run/hbd/hbd.sock".into(),
            source: kind.into(),
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
        // A group failed here is not held, and the exit code says so.
        let mut r = sample_report();
        r.groups[0].state = hbd::core::GroupState::Failed;
        r.groups[0].failure = Some(hbd::control::FailureReport {
            resource: "httpd".into(),
            action: "monitor".into(),
            exit_code: Some(7),
            reason: "not running (exit 7)".into(),
            output: String::new(),
            ms_ago: 1_000,
        });
        let (code, out, err) = cl(&["rscstatus"], Ok(Response::Status(r)));
        assert_eq!((code, out.as_str()), (1, "none\n"));
        assert_eq!(
            err,
            "cl_status: group IPaddr::10.0.0.5 failed here: monitor of httpd failed: not running (exit 7) (see hbd status; hbd cleanup GROUP once fixed)\n"
        );
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
    fn failed_requests_map_to_heartbeats_codes() {
        use std::io::ErrorKind;
        for sub in ["hbstatus", "rscstatus"] {
            let (code, out, err) = cl(&[sub], io(ErrorKind::WouldBlock));
            assert_eq!(code, 12, "{sub}");
            assert_eq!(out, "");
            assert_eq!(err, "cl_status: ERROR: timed out waiting for heartbeat\n");
        }
        let (code, out, err) = cl(&["hbstatus"], io(ErrorKind::PermissionDenied));
        assert_eq!(code, 0);
        assert_eq!(out, REFUSES_ME);
        assert!(err.starts_with("cl_status: /run/hbd/hbd.sock: "), "{err}");
        assert_eq!(cl(&["rscstatus"], io(ErrorKind::PermissionDenied)).0, 13);
        let (code, _, err) = cl(
            &["rscstatus"],
            Ok(Response::Error {
                message: "shutting down".into(),
            }),
        );
        assert_eq!(
            (code, err.as_str()),
            (1, "cl_status: ERROR: shutting down\n")
        );
        let accepted = Ok(Response::Accepted {
            message: "x".into(),
        });
        assert_eq!(cl(&["rscstatus"], accepted).0, 13);
    }

    /// The answers heartbeat 3.0.6 gave in the lab (tests/interop.rs holds
    /// hbd's to them on a live pair).
    #[test]
    fn hbparameter_prints_the_value_or_fails_as_heartbeat() {
        let mut r = sample_report();
        r.parameters = [("deadtime", "2"), ("keepalive", "500ms")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let with = |args: &[&str]| cl(args, Ok(Response::Status(r.clone())));
        assert_eq!(
            with(&["hbparameter", "-p", "deadtime"]),
            (0, "2\n".into(), "".into())
        );
        assert_eq!(
            with(&["hbparameter", "-m", "-p", "keepalive"]).1,
            "Heartbeat parameter keepalive's value: 500ms\n"
        );
        // Words after the name are ignored, as heartbeat's getopt leaves them.
        assert_eq!(with(&["hbparameter", "-p", "deadtime", "x"]).0, 0);
        let (code, out, err) = with(&["hbparameter", "-p", "node"]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "cl_status: ERROR: Cannot get parameter node's value (hbd has: deadtime, keepalive)\n"
        );
        // Names are case-sensitive in heartbeat too.
        assert_eq!(with(&["hbparameter", "-p", "DEADTIME"]).0, 1);
        let never = || -> Result<Response, ControlError> { panic!("must not ask") };
        for (args, msg) in [
            (&["hbparameter"][..], "parameter name required"),
            (&["hbparameter", "deadtime"], "parameter name required"),
            (&["hbparameter", "-p"], "option requires an argument -- 'p'"),
        ] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let (code, _, err) = cl_status(&args, &mut |_| never());
            assert_eq!(code, 11, "{args:?}");
            assert!(err.contains(msg), "{args:?}: {err}");
        }
    }

    #[test]
    fn clientstatus_is_offline_where_hbd_runs_and_unanswered_elsewhere() {
        use hbd::core::{NodeState, PeerConfigState};
        let mut r = sample_report();
        let with = |r: &StatusReport, args: &[&str]| cl(args, Ok(Response::Status(r.clone())));
        assert_eq!(
            with(&r, &["clientstatus", "alpha", "ipfail"]),
            (1, "offline\n".into(), "".into())
        );
        assert_eq!(
            with(&r, &["clientstatus", "-m", "ALPHA", "ipfail", "100"]).1,
            "offline\n"
        );
        // beta is dead here: nobody would answer.
        let (code, out, err) = with(&r, &["clientstatus", "beta", "ipfail"]);
        assert_eq!((code, out.as_str()), (13, ""));
        assert!(
            err.contains("Cannot get heartbeat client ipfail's status"),
            "{err}"
        );
        assert!(err.contains("No timely response."), "{err}");
        r.peer.state = NodeState::Active;
        // A live heartbeat peer runs clients hbd cannot ask about.
        r.peer_config.state = PeerConfigState::Heartbeat;
        assert_eq!(with(&r, &["clientstatus", "beta", "ipfail"]).0, 13);
        // A live hbd peer runs none.
        r.peer_config.state = PeerConfigState::Same;
        assert_eq!(with(&r, &["clientstatus", "beta", "ipfail"]).0, 1);
        assert_eq!(with(&r, &["clientstatus", "gamma", "ipfail"]).0, 13);
        let never = || -> Result<Response, ControlError> { panic!("must not ask") };
        for args in [&["clientstatus"][..], &["clientstatus", "beta"]] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let (code, out, err) = cl_status(&args, &mut |_| never());
            assert_eq!(
                (code, out.as_str(), err.as_str()),
                (11, "", "No enough parameter.\n")
            );
        }
    }

    #[test]
    fn help_prints_usage_and_succeeds_without_asking() {
        let args = vec!["--help".to_string()];
        let (code, out, err) = cl_status(&args, &mut |_| panic!("must not ask"));
        assert_eq!((code, out.as_str(), err.as_str()), (0, CL_USAGE, ""));
    }

    #[test]
    fn hbstatus_verbose_lists_version_nodes_and_links() {
        assert_eq!(
            cl(&["hbstatus", "-v"], ok()).1,
            "Heartbeat is running on this machine.\n\
             version:\t0.1.0 (hbd, pid 4242)\nmanaged by:\t\"haresources\"\n\
             \nalpha\tactive\t(nodetype: normal)\n\teth0\tup\n\t/dev/ttyS0\tup\n\
             \nbeta\tdead\t(nodetype: normal)\n\teth0\tup\n\t/dev/ttyS0\tdead\n"
        );
        assert_eq!(cl(&["listnodes", "-p"], ok()), (0, "".into(), "".into()));
        assert_eq!(cl(&["nodesite", "alpha"], ok()).1, "\n");
    }
}
