//! `hbd standby|takeover --wait SECS`: after the daemon accepted the command,
//! poll its status until every group of the set sits on the side the command
//! names, or the time runs out (exit 1, saying where each group is).
//! `hbd cleanup --wait SECS`: until the group settled without a failure, or
//! failed again (exit 1 at once, saying why).

use super::shared::{Op, REQUEST_TIMEOUT};
use hbd::control::client::fetch_status;
use hbd::control::{GroupReport, StatusReport};
use hbd::core::{GroupState, HoldSet, RscHold};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Polls every 100 ms for up to `secs`; `name` is the command as typed.
pub(super) fn until_settled(
    run_dir: &Path,
    op: Op,
    name: &str,
    set: HoldSet,
    secs: f64,
) -> ExitCode {
    let limit = Duration::from_secs_f64(secs.max(0.0));
    let started = Instant::now();
    loop {
        let last = fetch_status(run_dir, REQUEST_TIMEOUT);
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

/// Polls every 100 ms for up to `secs` until the cleaned group (every group
/// when None) is out of transition and not failed here.
pub(super) fn until_clean(run_dir: &Path, group: Option<&str>, secs: f64) -> ExitCode {
    let limit = Duration::from_secs_f64(secs.max(0.0));
    let started = Instant::now();
    loop {
        let last = fetch_status(run_dir, REQUEST_TIMEOUT);
        if let Ok(r) = &last {
            match clean(r, group) {
                Clean::Settled => {
                    println!(
                        "cleanup settled after {:.1}s: {}",
                        started.elapsed().as_secs_f64(),
                        holdings(r)
                    );
                    return ExitCode::SUCCESS;
                }
                Clean::FailedAgain(why) => {
                    eprintln!("hbd cleanup: failed again: {why}");
                    return ExitCode::from(1);
                }
                Clean::Moving => {}
            }
        }
        if started.elapsed() >= limit {
            match last {
                Ok(r) => eprintln!(
                    "hbd cleanup: not settled after {secs}s: {} (rsc_hold {})",
                    holdings(&r),
                    r.rsc_hold
                ),
                Err(e) => eprintln!("hbd cleanup: not settled after {secs}s: {e}"),
            }
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Clean {
    Moving,
    Settled,
    FailedAgain(String),
}

/// Where a cleanup of `group` (a key or a resource; all when None) stands.
fn clean(r: &StatusReport, group: Option<&str>) -> Clean {
    if r.rsc_hold == RscHold::Transition {
        return Clean::Moving;
    }
    let named = |g: &&GroupReport| match group {
        None => true,
        Some(n) => {
            g.key == n
                || g.resources
                    .iter()
                    .any(|x| x == n || x.split("::").next() == Some(n))
        }
    };
    for g in r.groups.iter().filter(named) {
        if let Some(f) = &g.failure {
            return Clean::FailedAgain(format!(
                "{}: {} of {} failed: {}",
                g.key, f.action, f.resource, f.reason
            ));
        }
        if g.state == GroupState::Failed {
            return Clean::FailedAgain(format!("{} is failed", g.key));
        }
    }
    Clean::Settled
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

#[cfg(test)]
mod tests {
    use super::super::sample_report;
    use super::*;

    #[test]
    fn settled_means_the_set_is_on_the_right_side() {
        let mut r = sample_report();
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

    #[test]
    fn cleanup_waits_out_the_transition_and_names_a_new_failure() {
        let mut r = sample_report();
        r.rsc_hold = RscHold::Transition;
        assert_eq!(clean(&r, None), Clean::Moving);
        r.rsc_hold = RscHold::All;
        assert_eq!(clean(&r, Some("httpd")), Clean::Settled);
        r.groups[0].failure = Some(hbd::control::FailureReport {
            resource: "httpd".into(),
            action: "start".into(),
            exit_code: Some(1),
            reason: "exit code 1".into(),
            output: String::new(),
            ms_ago: 0,
        });
        assert_eq!(
            clean(&r, Some("IPaddr::10.0.0.5")),
            Clean::FailedAgain("IPaddr::10.0.0.5: start of httpd failed: exit code 1".into())
        );
        // Another group's failure is not this cleanup's.
        assert_eq!(clean(&r, Some("IPaddr::10.0.0.9")), Clean::Settled);
    }

    #[test]
    fn holdings_say_where_each_group_is() {
        let mut r = sample_report();
        assert_eq!(holdings(&r), "IPaddr::10.0.0.5 on alpha (running)");
        r.groups[0].owner = None;
        r.groups[0].state = GroupState::Stopped;
        assert_eq!(holdings(&r), "IPaddr::10.0.0.5 on nobody (stopped)");
        r.groups.clear();
        assert_eq!(holdings(&r), "no groups");
    }
}
