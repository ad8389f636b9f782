//! The human form of `hbd status`: a pure function of the daemon's
//! `StatusReport`, so what an operator reads is unit-tested line by line.
//! Durations read as `0.21s`, `4m05s`; columns are aligned per table.

use hbd::control::{
    ConvergenceReport, ConvergenceState, FailureReport, GroupReport, LinkReport, Maintenance,
    NodeReport, StatusReport,
};
use hbd::core::PeerConfigState;

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
    let mut row = vec![
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
    ];
    if let Some(c) = l.loss {
        row.push(format!(
            "loss {:.0} % ({}/{})",
            c.ratio() * 100.0,
            c.lost,
            c.of
        ));
    }
    if l.copies > 1 {
        row.push(format!("copies {}", l.copies));
    }
    row
}

/// `start of httpd failed 9.00s ago: exit code 1`, and its output on a line of its own.
fn failure_lines(what: &str, f: &FailureReport, indent: &str) -> String {
    let mut s = format!(
        "{indent}{what}: {} of {} failed {} ago: {}\n",
        f.action,
        f.resource,
        human_ms(f.ms_ago),
        f.reason
    );
    if !f.output.is_empty() {
        s.push_str(&format!("{indent}  output: {}\n", f.output));
    }
    s
}

/// Under a group's row: why it failed here and the way out, its monitors,
/// and the fail counts of resources without one.
fn group_details(g: &GroupReport) -> String {
    let mut s = String::new();
    let indent = "      ";
    if let Some(f) = &g.failure {
        s.push_str(&failure_lines("failed here", f, indent));
        s.push_str(&format!(
            "{indent}way out: fix the cause, then `hbd cleanup {}`\n",
            g.key
        ));
    }
    for m in &g.monitors {
        s.push_str(&format!(
            "{indent}monitor {}: {}, {} every {}, on_fail {}, fail count {}\n",
            m.resource,
            m.state,
            m.check,
            human_ms(m.interval_ms),
            m.on_fail,
            m.fail_count
        ));
        if let Some(f) = &m.last_failure {
            s.push_str(&failure_lines("last failure", f, &format!("{indent}  ")));
        }
    }
    for (r, n) in g.resources.iter().zip(&g.fail_counts) {
        if *n > 0 && !g.monitors.iter().any(|m| &m.resource == r) {
            s.push_str(&format!("{indent}fail count {r}: {n}\n"));
        }
    }
    s
}

/// What concerns the peer as a partner, under the header: problems first
/// (each an error with its hint), then the start-up wait and the
/// configuration comparison.
/// One address's convergence check, for the human status.
fn convergence_line(c: &ConvergenceReport) -> String {
    let answered = c
        .answered
        .iter()
        .map(|a| format!("{} after {} ms", a.target, a.after_ms))
        .collect::<Vec<_>>()
        .join(", ");
    let head = format!("  {} on {} (group {})", c.address, c.iface, c.group);
    let when = format!("started {} ago", human_ms(c.started_ms_ago));
    match c.state {
        ConvergenceState::Verifying => format!(
            "{head}: verifying, asking {} ({when})\n",
            c.targets.join(", ")
        ),
        ConvergenceState::Converged => format!(
            "{head}: clients converged after {} ms: {answered}; {} announcements ({when})\n",
            c.after_ms.unwrap_or(0),
            c.announcements
        ),
        ConvergenceState::NotConverged => format!(
            "{head}: warning: clients did not converge within {}: {} never answered{}; {} announcements ({when})\n",
            human_ms(c.limit_ms.unwrap_or(0)),
            c.missing.join(", "),
            if answered.is_empty() {
                String::new()
            } else {
                format!(" ({answered} did)")
            },
            c.announcements
        ),
    }
}

fn peer_lines(r: &StatusReport) -> String {
    let mut out = String::new();
    for p in &r.problems {
        out.push_str(&format!("ERROR: {}\n", p.text));
    }
    if let Some(ms) = r.startup_wait_left_ms {
        out.push_str(&format!(
            "start-up negotiation: waiting for {} to say it is stable, at most {} more (RQSTDELAY)\n",
            r.peer.name,
            human_ms(ms)
        ));
    }
    let peer = &r.peer.name;
    let config = match r.peer_config.state {
        PeerConfigState::Unknown => format!("not compared yet (no hbd-config from {peer})"),
        PeerConfigState::Heartbeat => format!("not compared ({peer} runs heartbeat)"),
        PeerConfigState::Same => format!("agrees with {peer}'s"),
        PeerConfigState::Differs => format!(
            "DIFFERS from {peer}'s ({} part(s), see ERROR above)",
            r.peer_config.differences.len()
        ),
    };
    out.push_str(&format!("configuration: {config}\n"));
    if let Some(set) = r.persistent_standby {
        out.push_str(&format!(
            "persistent standby [{set}]: {peer} runs these groups whenever it is alive (`hbd standby --clear` ends it)\n"
        ));
    }
    match r.maintenance {
        Maintenance::Off => {}
        m => out.push_str(&format!(
            "MAINTENANCE MODE{}: nothing is started, stopped, monitored or taken over by this node; {peer} moves none of its groups (`hbd maintenance off` ends it)\n",
            if m == Maintenance::Persistent {
                " (persistent: survives a restart)"
            } else {
                ""
            }
        )),
    }
    if r.peer_maintenance {
        out.push_str(&format!(
            "{peer} is in maintenance mode: its groups stay where they are; it is still taken over if it falls silent for its dead time\n"
        ));
    }
    if let Some(ms) = r.peer_restart_wait_ms {
        out.push_str(&format!(
            "{peer} restarts (planned), its groups left running: declared dead if not back within {}\n",
            human_ms(ms)
        ));
    }
    out
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
    out.push_str(&peer_lines(r));
    if r.notify_dropped > 0 {
        out.push_str(&format!(
            "notify hook: {} notification(s) dropped since start, while its queue was full behind a slow or hung run (see the log)\n",
            r.notify_dropped
        ));
    }
    if r.rcd_dropped > 0 {
        out.push_str(&format!(
            "rc.d: {} run(s) dropped since start, while their queue was full behind a slow or hung site script (see the log)\n",
            r.rcd_dropped
        ));
    }
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
        for a in r.links.iter().filter_map(|l| l.advice.as_ref()) {
            out.push_str(&format!("  warning: {a}\n"));
        }
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
        let lines = table(&rows, "  ");
        for (line, g) in lines.lines().zip(&r.groups) {
            out.push_str(line);
            out.push('\n');
            out.push_str(&group_details(g));
        }
    }
    if !r.convergence.is_empty() {
        out.push_str("\naddress convergence (the latest check of each):\n");
        for c in &r.convergence {
            out.push_str(&convergence_line(c));
        }
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

#[cfg(test)]
mod tests {
    use super::super::sample_report;
    use super::*;

    #[test]
    fn human_status_shows_everything_an_operator_needs() {
        assert_eq!(
            render_status(&sample_report()),
            "\
hbd 0.1.0 (pid 4242), config /etc/ha.d, up 2m05s
keepalive 0.20s, deadtime 1.00s, auto_failback on
configuration: not compared yet (no hbd-config from beta)

nodes:
  alpha  (local)  active  generation 12  this node
  beta   (peer)   dead    generation 7   last heard 3.40s ago

links (the peer as heard on each):
  eth0        ucast   up    last heard 0.12s ago  sent 100  received 98  bad_auth 2  malformed 1  late 0  errors 0
  /dev/ttyS0  serial  dead  last heard never      sent 0    received 0   bad_auth 0  malformed 0  late 0  errors 0

resource groups:
  IPaddr::10.0.0.5  home alpha  owner alpha  running  IPaddr::10.0.0.5 httpd

rsc_hold: all

recent transitions (oldest first):
  1m01s ago  beta: declared dead after 1.02s silence
"
        );
    }

    #[test]
    fn a_failed_group_says_why_and_the_way_out() {
        use hbd::control::MonitorReport;
        use hbd::core::{GroupState, MonitorState};
        let mut r = sample_report();
        let g = &mut r.groups[0];
        g.owner = None;
        g.state = GroupState::Failed;
        g.fail_counts = vec![1, 2];
        g.failure = Some(FailureReport {
            resource: "httpd".into(),
            action: "start".into(),
            exit_code: Some(1),
            reason: "exit code 1".into(),
            output: "httpd: cannot bind 10.0.0.5:80".into(),
            ms_ago: 9_000,
        });
        g.monitors = vec![MonitorReport {
            resource: "httpd".into(),
            check: "monitor".into(),
            interval_ms: 5_000,
            on_fail: "restart".into(),
            state: MonitorState::Failed,
            fail_count: 2,
            last_failure: Some(FailureReport {
                resource: "httpd".into(),
                action: "monitor".into(),
                exit_code: Some(7),
                reason: "not running (exit 7)".into(),
                output: String::new(),
                ms_ago: 20_000,
            }),
        }];
        let text = render_status(&r);
        let want = "\
resource groups:
  IPaddr::10.0.0.5  home alpha  owner nobody  failed  IPaddr::10.0.0.5 httpd
      failed here: start of httpd failed 9.00s ago: exit code 1
        output: httpd: cannot bind 10.0.0.5:80
      way out: fix the cause, then `hbd cleanup IPaddr::10.0.0.5`
      monitor httpd: failed, monitor every 5.00s, on_fail restart, fail count 2
        last failure: monitor of httpd failed 20.0s ago: not running (exit 7)
      fail count IPaddr::10.0.0.5: 1

rsc_hold";
        assert!(text.contains(want), "{text}");
    }

    #[test]
    fn a_lossy_link_shows_its_loss_copies_and_advice() {
        let mut r = sample_report();
        r.links[0].loss = Some(hbd::control::LossCount { lost: 51, of: 256 });
        r.links[0].copies = 5;
        r.links[0].advice = Some("at 20 % loss on eth0 (…)".into());
        let text = render_status(&r);
        assert!(
            text.contains("late 0  errors 0  loss 20 % (51/256)  copies 5\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  warning: at 20 % loss on eth0 (…)\n"),
            "{text}"
        );
    }

    #[test]
    fn empty_sections_say_so() {
        let mut r = sample_report();
        r.links.clear();
        r.groups.clear();
        r.recent.clear();
        r.peer.generation = None;
        let text = render_status(&r);
        for needle in [
            "beta   (peer)   dead    generation ?   last heard 3.40s ago\n",
            "links (the peer as heard on each):\n  none configured\n",
            "resource groups:\n  none configured\n",
            "recent transitions (oldest first):\n  none yet\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn persistent_standby_is_shown_under_the_header() {
        let mut r = sample_report();
        assert!(!render_status(&r).contains("persistent standby"));
        r.persistent_standby = Some(hbd::core::HoldSet::Local);
        let text = render_status(&r);
        assert!(
            text.contains("configuration: not compared yet (no hbd-config from beta)\n\
                 persistent standby [local]: beta runs these groups whenever it is alive (`hbd standby --clear` ends it)\n"),
            "{text}"
        );
    }

    #[test]
    fn peer_problems_lead_the_status_as_errors_with_their_hint() {
        use hbd::control::{Problem, ProblemKind};
        let mut r = sample_report();
        r.startup_wait_left_ms = Some(7_300);
        r.peer_config.state = PeerConfigState::Differs;
        r.peer_config.differences = vec!["deadtime: 10s here, 5s on beta".into()];
        r.problems = vec![
            Problem {
                kind: ProblemKind::PeerAuthFailing,
                text: "packets from beta on eth0 fail authentication (bad_mac, 12 so far, the last 0.3s ago) and beta is not heard on it: authkeys differ?".into(),
            },
            Problem {
                kind: ProblemKind::PeerConfigDiffers,
                text: "configuration differs from beta's: deadtime: 10s here, 5s on beta".into(),
            },
        ];
        let text = render_status(&r);
        assert!(
            text.starts_with(
                "\
hbd 0.1.0 (pid 4242), config /etc/ha.d, up 2m05s
keepalive 0.20s, deadtime 1.00s, auto_failback on
ERROR: packets from beta on eth0 fail authentication (bad_mac, 12 so far, the last 0.3s ago) and beta is not heard on it: authkeys differ?
ERROR: configuration differs from beta's: deadtime: 10s here, 5s on beta
start-up negotiation: waiting for beta to say it is stable, at most 7.30s more (RQSTDELAY)
configuration: DIFFERS from beta's (1 part(s), see ERROR above)

nodes:
"
            ),
            "{text}"
        );
        for (state, line) in [
            (PeerConfigState::Same, "configuration: agrees with beta's\n"),
            (
                PeerConfigState::Heartbeat,
                "configuration: not compared (beta runs heartbeat)\n",
            ),
        ] {
            r.peer_config.state = state;
            assert!(render_status(&r).contains(line), "{state:?}");
        }
    }

    #[test]
    fn dropped_notifications_are_shown_only_when_there_are_some() {
        let mut r = sample_report();
        assert!(!render_status(&r).contains("notify"));
        assert!(!render_status(&r).contains("rc.d"));
        r.notify_dropped = 21;
        r.rcd_dropped = 4;
        let text = render_status(&r);
        assert!(
            text.contains(
                "configuration: not compared yet (no hbd-config from beta)\n\
                 notify hook: 21 notification(s) dropped since start, while its queue was full behind a slow or hung run (see the log)\n\
                 rc.d: 4 run(s) dropped since start, while their queue was full behind a slow or hung site script (see the log)\n\
                 \nnodes:\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn convergence_shows_the_time_or_the_warning() {
        use hbd::control::TargetAnswer;
        let mut r = sample_report();
        assert!(!render_status(&r).contains("convergence"));
        let base = ConvergenceReport {
            address: "192.0.2.100".into(),
            iface: "svc0".into(),
            group: "IPaddr::192.0.2.100".into(),
            targets: vec!["192.0.2.254".into()],
            started_ms_ago: 4200,
            ..ConvergenceReport::default()
        };
        r.convergence = vec![
            ConvergenceReport {
                state: ConvergenceState::Converged,
                after_ms: Some(312),
                answered: vec![TargetAnswer {
                    target: "192.0.2.254".into(),
                    after_ms: 312,
                }],
                announcements: 4,
                ..base.clone()
            },
            ConvergenceReport {
                address: "192.0.2.101".into(),
                state: ConvergenceState::NotConverged,
                limit_ms: Some(5000),
                missing: vec!["192.0.2.99".into()],
                announcements: 9,
                ..base.clone()
            },
            ConvergenceReport {
                address: "192.0.2.102".into(),
                ..base
            },
        ];
        let text = render_status(&r);
        for want in [
            "\naddress convergence (the latest check of each):\n",
            "  192.0.2.100 on svc0 (group IPaddr::192.0.2.100): clients converged after 312 ms: 192.0.2.254 after 312 ms; 4 announcements (started 4.20s ago)\n",
            "  192.0.2.101 on svc0 (group IPaddr::192.0.2.100): warning: clients did not converge within 5.00s: 192.0.2.99 never answered; 9 announcements (started 4.20s ago)\n",
            "  192.0.2.102 on svc0 (group IPaddr::192.0.2.100): verifying, asking 192.0.2.254 (started 4.20s ago)\n",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
    }

    #[test]
    fn table_pads_every_column_but_the_last() {
        let rows = vec![
            vec!["a".to_string(), "bbb".into(), "c".into()],
            vec!["dddd".to_string(), "e".into()],
        ];
        assert_eq!(table(&rows, "> "), "> a     bbb  c\n> dddd  e\n");
    }

    #[test]
    fn human_ms_picks_a_readable_unit() {
        assert_eq!(human_ms(0), "0.00s");
        assert_eq!(human_ms(1_234), "1.23s");
        assert_eq!(human_ms(12_345), "12.3s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(7_380_000), "2h03m");
    }
}
