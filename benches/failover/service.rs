//! A dead service on a live node (issue 16): the service's process is
//! killed on the node that runs it, and the time until a client is answered
//! again is measured, hbd and keepalived in the same run, watching the
//! service at the same rate (every `interval`, `fall` failures in a row):
//!
//! * hbd: a `[[group.monitor]]` on `hbweb` with `on_fail = "restart"`: the
//!   service is restarted in place, the address stays where it is;
//! * keepalived: a `vrrp_script` running the service's `status`, as it is
//!   deployed: the service runs on both nodes and the failing check puts the
//!   instance in FAULT, so the peer takes the address (and answers with its
//!   own copy of the service).
use crate::cluster::{Cluster, Daemon, Media, Refused, Setting, NAMES};
use crate::measure::{self, addr};
use crate::probe::Probe;
use crate::report::median;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ServiceArgs {
    /// Kills per daemon.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// keepalive/deadtime of the pair (keepalived: the advert interval
    /// that gives the same master-down time).
    #[arg(long, default_value = "200ms/1s")]
    setting: String,
    #[arg(long, value_delimiter = ',', default_value = "hbd,keepalived")]
    daemons: Vec<String>,
    /// Seconds between two checks of the service (keepalived's vrrp_script
    /// takes whole seconds).
    #[arg(long, default_value_t = 1)]
    interval: u32,
    /// Failed checks in a row before the daemon acts.
    #[arg(long, default_value_t = 2)]
    fall: u32,
    /// The client's GET period and timeout in ms.
    #[arg(long, default_value_t = 10)]
    probe_ms: u64,
    #[arg(long, default_value_t = 50)]
    probe_timeout_ms: u64,
}

/// One daemon's runs.
#[derive(Default)]
struct Row {
    daemon: String,
    refused: Option<String>,
    /// Kill → first answer after the outage.
    back_ms: Vec<f64>,
    /// Kill → the daemon logs the failure.
    detected_ms: Vec<f64>,
    /// The failure logged → answering again (the recovery alone).
    recovery_ms: Vec<f64>,
    /// Runs answered again by the node that was killed on (hbd) or the peer.
    same_node: usize,
    other_node: usize,
    failures: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// When node `node` first logged a line matching `pred` after `t0`.
fn logged(c: &Cluster, node: usize, t0: Instant, pred: impl Fn(&str) -> bool) -> Option<Instant> {
    let b = c.log.lock().unwrap_or_else(|e| e.into_inner());
    b.iter()
        .find(|l| l.node == node && l.at >= t0 && pred(&l.text))
        .map(|l| l.at)
}

/// Builds, configures and starts one daemon's pair.
fn pair(
    d: Daemon,
    s: Setting,
    a: &ServiceArgs,
    hbd: &Path,
    repo: &Path,
) -> Result<Cluster, Refused> {
    let mut c = Cluster::build(d, s, Media::Both, hbd, repo);
    match d {
        Daemon::Hbd => c.hbd_monitor(&format!(
            "[[group.monitor]]\nresource = \"hbweb\"\ninterval = \"{}s\"\ntimeout = \"5s\"\nfall = {}\non_fail = \"restart\"\n\
             # Every run kills it again: restarts must not run out.\nmax_restarts = 1000\n",
            a.interval, a.fall
        ))?,
        Daemon::Keepalived => {
            c.keepalived_track_service(a.interval, a.fall);
            for i in 0..2 {
                c.start_service(i)?;
            }
            if let Some(why) = c.config_test() {
                return Err(Refused(why));
            }
        }
        Daemon::Heartbeat => return Err(Refused("heartbeat v1 has no resource monitoring".into())),
    }
    measure::startup_pub(&mut c, Duration::from_secs(90))?;
    Ok(c)
}

fn row(d: Daemon, s: Setting, a: &ServiceArgs, hbd: &Path, repo: &Path) -> Row {
    let mut r = Row {
        daemon: d.to_string(),
        ..Row::default()
    };
    eprintln!(
        "== {d}: service kills at {s}, checks every {}s, fall {}",
        a.interval, a.fall
    );
    let mut c = match pair(d, s, a, hbd, repo) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("   refused: {}", e.0);
            r.refused = Some(e.0);
            return r;
        }
    };
    for run in 0..a.runs {
        let act = c.active;
        let probe = Probe::start(
            &c.client_netns(),
            addr(),
            Duration::from_millis(a.probe_ms),
            // Every GET a period apart: the outage's end is found by the
            // gap between answers (first_after_outage).
            Duration::from_millis(a.probe_ms),
            Duration::from_millis(a.probe_timeout_ms),
        );
        let warm = Instant::now();
        if probe
            .first_from(NAMES[act], warm, warm + Duration::from_secs(3))
            .is_none()
        {
            r.failures.push(format!(
                "run {}: {} did not answer before",
                run + 1,
                NAMES[act]
            ));
            break;
        }
        // A random phase against the check schedule.
        sleep(measure::random_below(f64::from(a.interval) * 1000.0));
        let Some(pid) = c.service_pid(act) else {
            r.failures.push(format!(
                "run {}: no service listener on {}",
                run + 1,
                NAMES[act]
            ));
            break;
        };
        let t0 = Instant::now();
        crate::cluster::kill(pid, nix::sys::signal::Signal::SIGKILL);
        // Nothing can be answered for at least two probe periods after a
        // kill: the gap tells the restored service from a late answer.
        let gap = Duration::from_millis(2 * a.probe_ms + a.probe_timeout_ms);
        let limit = Duration::from_secs(u64::from(a.interval * a.fall) + 20);
        let back = probe.first_after_outage(t0, gap, t0 + limit);
        drop(probe);
        let detected = match d {
            Daemon::Hbd => logged(&c, act, t0, |t| t.contains("RESOURCE MONITOR FAILURE")),
            _ => logged(&c, act, t0, |t| {
                t.contains("chk_web") && t.to_lowercase().contains("fail")
            }),
        };
        let Some(back) = back else {
            r.failures.push(format!(
                "run {}: not answered again within {limit:?}",
                run + 1
            ));
            break;
        };
        let t = ms(back.at - t0);
        eprintln!(
            "   run {}: answered again by {} {t:.0} ms after the kill (detected after {})",
            run + 1,
            back.served_by,
            detected.map_or("?".into(), |x| format!("{:.0} ms", ms(x - t0)))
        );
        r.back_ms.push(t);
        if let Some(x) = detected {
            r.detected_ms.push(ms(x - t0));
            r.recovery_ms.push(ms(back.at.saturating_duration_since(x)));
        }
        if back.served_by == NAMES[act] {
            r.same_node += 1;
        } else {
            r.other_node += 1;
        }
        if d == Daemon::Keepalived {
            // The site's service manager restarts it; the node's check
            // passes again and it leaves FAULT (as BACKUP: nopreempt).
            if let Err(e) = c.start_service(act) {
                r.failures.push(format!("run {}: {}", run + 1, e.0));
                break;
            }
        }
        // Settled again, wherever the group now is (keepalived: the peer).
        let until = Instant::now() + Duration::from_secs(60);
        let settled = loop {
            let who = (0..2).find(|&i| c.settled(i));
            if let Some(i) = who {
                c.active = i;
                break true;
            }
            if Instant::now() >= until {
                break false;
            }
            sleep(Duration::from_millis(100));
        };
        if !settled {
            r.failures
                .push(format!("run {}: the pair did not settle again", run + 1));
            break;
        }
        // Checks and the peer's view catch up before the next kill.
        sleep(Duration::from_secs(u64::from(a.interval) + 1));
    }
    r
}

fn cell(v: &[f64]) -> String {
    let Some(m) = median(v) else {
        return "—".into();
    };
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{m:.0} ({lo:.0}–{hi:.0}) n={}", v.len())
}

pub fn service(a: ServiceArgs, hbd: &Path, repo: &Path, out: &Path) -> ExitCode {
    let Some(s) = Setting::parse(&a.setting) else {
        eprintln!("--setting: {:?} is not KEEPALIVE/DEADTIME", a.setting);
        return ExitCode::from(2);
    };
    let mut daemons = Vec::new();
    for d in &a.daemons {
        match Daemon::parse(d) {
            Some(Daemon::Heartbeat) | None => {
                eprintln!("--daemons: {d:?} is not hbd or keepalived (heartbeat v1 has no resource monitoring)");
                return ExitCode::from(2);
            }
            Some(v) => daemons.push(v),
        }
    }
    let t0 = Instant::now();
    let rows: Vec<Row> = daemons.iter().map(|&d| row(d, s, &a, hbd, repo)).collect();
    let mut b = String::new();
    let _ = writeln!(b, "## Service killed → answering again\n");
    let _ = writeln!(
        b,
        "Command: `cargo bench --bench failover -- service --runs {} --setting {} --interval {} --fall {}` (root), {:.0} minutes.\n",
        a.runs,
        s,
        a.interval,
        a.fall,
        t0.elapsed().as_secs_f64() / 60.0
    );
    b += &crate::report::machine();
    let _ = writeln!(
        b,
        "\nThe service's process (hbweb's socat listener) is killed with SIGKILL on the node running \
         the group, at a random point between two checks; the time is from the kill to the first HTTP \
         answer at the floating address after the outage, seen by the client (a GET every {} ms, {} ms \
         timeout). Both daemons check the service every {} s and act after {} failed checks in a row. \
         hbd: `[[group.monitor]]` on `hbweb`, `on_fail = \"restart\"`: the service is restarted in \
         place, the address does not move. keepalived: `vrrp_script` running `hbweb … status` \
         (`interval {}`, `fall {}`, `weight 0`) tracked by the instance; the service runs on both \
         nodes (`ip_nonlocal_bind`), and the check's failure puts the master in FAULT so the peer \
         takes the address. Pair timings {s} (keepalived: the advert interval with the same \
         master-down time).\n",
        a.probe_ms, a.probe_timeout_ms, a.interval, a.fall, a.interval, a.fall
    );
    let names: Vec<String> = rows.iter().map(|r| r.daemon.clone()).collect();
    let _ = writeln!(b, "| metric | {} |", names.join(" | "));
    let _ = writeln!(b, "|---|{}", "---|".repeat(rows.len()));
    let line = |what: &str, f: &dyn Fn(&Row) -> String| {
        format!(
            "| {what} | {} |\n",
            rows.iter().map(f).collect::<Vec<_>>().join(" | ")
        )
    };
    let refused = |r: &Row| r.refused.clone().map(|x| format!("refused ({x})"));
    b += &line("service killed → answering again (ms)", &|r| {
        refused(r).unwrap_or_else(|| cell(&r.back_ms))
    });
    b += &line("killed → failure logged (ms)", &|r| {
        refused(r).unwrap_or_else(|| cell(&r.detected_ms))
    });
    b += &line("failure logged → answering again (ms)", &|r| {
        refused(r).unwrap_or_else(|| cell(&r.recovery_ms))
    });
    b += &line("answered again by", &|r| {
        if r.refused.is_some() {
            "—".into()
        } else {
            format!("the same node {}×, the peer {}×", r.same_node, r.other_node)
        }
    });
    b += &line("checks: interval × fall (ms)", &|_| {
        format!("{}", a.interval * a.fall * 1000)
    });
    if let [h, k] = &rows[..] {
        if let (Some(x), Some(y)) = (median(&h.back_ms), median(&k.back_ms)) {
            let _ = writeln!(
                b,
                "\nRatio of the medians ({} / {}): {:.2}.",
                h.daemon,
                k.daemon,
                x / y
            );
        }
    }
    let fails: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.failures
                .iter()
                .map(move |f| format!("- {}: {f}", r.daemon))
        })
        .collect();
    if !fails.is_empty() {
        let _ = writeln!(b, "\n### Failed runs\n\n{}", fails.join("\n"));
    }
    println!("\n{b}");
    crate::write_section(out, "service", &b);
    ExitCode::SUCCESS
}
