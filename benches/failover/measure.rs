//! The measurements of one cell (one daemon at one setting): startup, idle
//! cost, crash to service, link cut to service, planned switchover.
use crate::cluster::{Cluster, Daemon, Refused, Setting, NAMES, PORT};
use crate::probe::{get_once, Probe};
use crate::Opts;
use serde::{Deserialize, Serialize};
use std::fs;
use std::net::SocketAddr;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Everything measured for one daemon at one setting.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Cell {
    pub daemon: String,
    pub setting: String,
    /// Why the daemon could not run this setting (then nothing else is set).
    pub refused: Option<String>,
    pub detection_ms: f64,
    /// How often the daemon sends its heartbeat (keepalived: its advert).
    #[serde(default)]
    pub interval_ms: f64,
    pub startup_ms: Option<f64>,
    pub crash_ms: Vec<f64>,
    pub cut_ms: Vec<f64>,
    pub switch_ms: Vec<f64>,
    /// CPU seconds per hour and RSS in KiB, per node (both nodes averaged).
    pub idle_cpu_s_per_h: Option<f64>,
    pub idle_rss_kib: Option<f64>,
    pub idle_window_s: f64,
    /// Runs that did not end with the survivor answering, with why.
    pub failures: Vec<String>,
    /// Measured runs after which the pair did not settle as expected.
    #[serde(default)]
    pub notes: Vec<String>,
    /// hbd only: per crash run, the phases of the takeover (ms from the kill).
    pub phases: Vec<Phases>,
    /// hbd only: the same for the link cut runs (ms from the cut).
    pub cut_phases: Vec<Phases>,
    /// hbd with `[hbd.announce] verify` (the `ipv6` mode): per crash run,
    /// the survivor's "clients converged after N ms" (`hbd status --json`,
    /// counted from the address's start).
    #[serde(default)]
    pub converge_ms: Vec<f64>,
    /// The same, counted from the fault (the address's start in the
    /// survivor's log plus the above).
    #[serde(default)]
    pub converge_fault_ms: Vec<f64>,
    /// Crash runs whose convergence was not reported, with why.
    #[serde(default)]
    pub converge_missing: Vec<String>,
}

pub use crate::phases::Phases;

/// The cells of hbd at keepalived's advert interval (`run`'s extra column).
pub const HBD_ADVERT: &str = "hbd-advert";

/// The service at the IPv4 floating address.
pub fn addr() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 50], PORT))
}

/// A uniformly random duration below `ms` milliseconds (std's hasher keys
/// are random per process and per `RandomState`).
pub fn random_below(ms: f64) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_secs_f64((r % 1_000_000) as f64 / 1_000_000.0 * ms / 1000.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Which node answers at the floating address right now.
fn who(c: &Cluster) -> Option<usize> {
    let by = get_once(
        &c.client_netns(),
        c.family.service_addr(PORT),
        Duration::from_millis(300),
    )?;
    NAMES.iter().position(|n| *n == by)
}

/// Waits until `active` answers and both daemons say the cluster settled.
fn wait_settled(c: &mut Cluster, active: usize, within: Duration) -> Result<(), Refused> {
    let until = Instant::now() + within;
    loop {
        if who(c) == Some(active) && c.settled(active) {
            c.active = active;
            return Ok(());
        }
        if let Some(i) = c.exited() {
            return Err(Refused(format!(
                "{} on {} exited: {}",
                c.daemon,
                NAMES[i],
                c.tail(i, 4).join(" | ")
            )));
        }
        if Instant::now() >= until {
            return Err(Refused(format!(
                "not settled with {} active within {:?} (answering: {:?}; {}); last lines: {} || {}",
                NAMES[active],
                within,
                who(c).map(|i| NAMES[i]),
                c.settle_view(active).1,
                c.tail(0, 3).join(" | "),
                c.tail(1, 3).join(" | ")
            )));
        }
        sleep(Duration::from_millis(100));
    }
}

/// [`startup`] for the soak and serial checks.
pub fn startup_pub(c: &mut Cluster, within: Duration) -> Result<f64, Refused> {
    startup(c, within)
}

/// Starts both nodes together and waits for the group to come up somewhere.
fn startup(c: &mut Cluster, within: Duration) -> Result<f64, Refused> {
    let t0 = Instant::now();
    c.start(0);
    c.start(1);
    let until = t0 + within;
    loop {
        if let Some(a) = who(c) {
            let left = until.saturating_duration_since(Instant::now());
            wait_settled(c, a, left)?;
            return Ok(ms(t0.elapsed()));
        }
        if let Some(i) = c.exited() {
            return Err(Refused(format!(
                "{} on {} exited at start: {}",
                c.daemon,
                NAMES[i],
                c.tail(i, 4).join(" | ")
            )));
        }
        if Instant::now() >= until {
            return Err(Refused(format!(
                "no service within {within:?}; last lines: {} || {}",
                c.tail(0, 3).join(" | "),
                c.tail(1, 3).join(" | ")
            )));
        }
        sleep(Duration::from_millis(100));
    }
}

/// CPU time of a process in ns: the sum of its threads' run time from
/// schedstat (ns resolution; stat's clock ticks are 10 ms, too coarse for
/// an idle daemon over a minute), or from stat when schedstat is missing.
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Some(ns) = fs::read_to_string(t.path().join("schedstat"))
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                })
            {
                total += ns;
                any = true;
            }
        }
    }
    if any {
        return Some(total);
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm, state is field 3, so utime (14) is index 11.
    let n = |k: usize| f.get(k).and_then(|v| v.parse::<u64>().ok());
    Some(((n(11)? + n(12)?) as f64 * 1e9 / clk_tck()) as u64)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    st.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn clk_tck() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map(|v| v as f64)
        .unwrap_or(100.0)
}

/// CPU seconds per hour and mean summed RSS (KiB) of the daemon's
/// processes, per node, over `window`.
pub fn idle(c: &Cluster, window: Duration) -> (f64, f64) {
    let pids: Vec<u32> = (0..2).flat_map(|i| c.daemon_pids(i)).collect();
    let before: u64 = pids.iter().filter_map(|&p| cpu_ns(p)).sum();
    let t0 = Instant::now();
    let mut rss_samples = Vec::new();
    while t0.elapsed() < window {
        let now: Vec<u32> = (0..2).flat_map(|i| c.daemon_pids(i)).collect();
        let sum: u64 = now.iter().filter_map(|&p| rss_kib(p)).sum();
        rss_samples.push(sum as f64 / 2.0);
        sleep(Duration::from_millis(1000).min(window.saturating_sub(t0.elapsed())));
    }
    // A process that exited during the window loses its share: the daemons
    // keep their processes at idle.
    let after: u64 = pids.iter().filter_map(|&p| cpu_ns(p)).sum();
    let secs = t0.elapsed().as_secs_f64();
    let cpu = after.saturating_sub(before) as f64 / 1e9;
    let per_node_per_h = cpu / 2.0 * 3600.0 / secs;
    let rss = rss_samples.iter().sum::<f64>() / rss_samples.len().max(1) as f64;
    (per_node_per_h, rss)
}

/// hbd's convergence check of the floating address on node `i` for a
/// start made after `since` (`hbd status --json`, `convergence`): the
/// `after_ms` it reports once every target answered, waiting at most
/// `within` while it is still verifying. `Err` says why there is none.
pub fn convergence(c: &Cluster, i: usize, since: Instant, within: Duration) -> Result<f64, String> {
    let until = Instant::now() + within;
    let mut last = String::from("no status");
    loop {
        if let Some(v) = c.ns.status_json(i) {
            let elapsed = since.elapsed().as_millis() as u64;
            let found = v["convergence"].as_array().and_then(|a| {
                a.iter().rev().find(|r| {
                    r["address"]
                        .as_str()
                        .is_some_and(|s| s == c.family.floating_short() || s == c.family.floating())
                        && r["started_ms_ago"]
                            .as_u64()
                            .is_some_and(|ago| ago <= elapsed)
                })
            });
            match found {
                Some(r) => match r["state"].as_str() {
                    Some("converged") => {
                        if let Some(ms) = r["after_ms"].as_u64() {
                            return Ok(ms as f64);
                        }
                        last = format!("converged without after_ms: {r}");
                    }
                    Some("not_converged") => {
                        return Err(format!("not converged: {r}"));
                    }
                    _ => last = format!("still verifying: {r}"),
                },
                None => {
                    last = format!("no convergence entry since the fault: {}", v["convergence"])
                }
            }
        }
        if Instant::now() >= until {
            return Err(last);
        }
        sleep(Duration::from_millis(50));
    }
}

/// Which fault a failover run injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Crash,
    Cut,
    Switch,
}

/// One run: inject the fault on the active node, time the first answer
/// from the survivor, then put the cluster back in a settled state (the
/// survivor stays active).
fn one_run(c: &mut Cluster, fault: Fault, o: &Opts) -> Result<Outcome, String> {
    let act = c.active;
    let surv = 1 - act;
    let probe = Probe::start(
        &c.client_netns(),
        c.family.service_addr(PORT),
        Duration::from_millis(o.probe_ms),
        Duration::from_millis(o.probe_retry_ms),
        Duration::from_millis(o.probe_timeout_ms),
    );
    let warm = Instant::now();
    if probe
        .first_from(NAMES[act], warm, warm + Duration::from_secs(3))
        .is_none()
    {
        return Err(format!("{} did not answer before the fault", NAMES[act]));
    }
    c.wait_past_boost(act);
    c.wait_past_boost(surv);
    // The waits above are aligned with the daemons' start, and so with
    // their heartbeat schedule: without a random phase every fault would
    // land at the same point between two heartbeats, biasing detection.
    sleep(random_below(c.setting.heartbeat_interval_ms(c.daemon)));
    let arp_from = c.arp_mark();
    let t0 = match fault {
        Fault::Crash => c.kill_daemon(act),
        Fault::Cut => {
            let t = Instant::now();
            c.links(act, false);
            t
        }
        Fault::Switch => c.standby(act).map_err(|r| r.0)?,
    };
    eprintln!(
        "   [{:>10.3}] {fault:?} on {}",
        t0.duration_since(crate::epoch()).as_secs_f64(),
        NAMES[act]
    );
    let limit = Duration::from_millis(c.setting.deadtime_ms * 3) + Duration::from_secs(20);
    let answer = probe.first_answer_from(NAMES[surv], t0, t0 + limit);
    let got = answer.as_ref().map(|a| a.at);
    drop(probe);
    let phases = (c.daemon == Daemon::Hbd && fault != Fault::Switch).then(|| {
        let mut p = c.phases(surv, t0, got, arp_from);
        p.answer_sent = answer.map(|a| ms(a.sent.saturating_duration_since(t0)));
        p
    });
    // Before the crashed node restarts: the survivor's check of this
    // takeover, finished within the verify limit (30 s by default).
    let converge = (got.is_some() && c.daemon == Daemon::Hbd && o.hbd_announce.is_some())
        .then(|| convergence(c, surv, t0, Duration::from_secs(35)));
    // Back to a settled pair, the survivor active.
    match fault {
        Fault::Crash => {
            c.wipe(act);
            c.start(act);
        }
        Fault::Cut => {
            c.wipe(act);
            c.links(act, true);
            c.start(act);
        }
        Fault::Switch => {
            if c.daemon == Daemon::Keepalived {
                c.wait_exit(act, Duration::from_secs(10));
                c.wipe(act);
                c.start(act);
            }
        }
    }
    let settle = wait_settled_either(c, surv, Duration::from_secs(60));
    let Some(t1) = got else {
        return Err(format!(
            "{:?}: no answer from {} within {:?}",
            fault, NAMES[surv], limit
        ));
    };
    let after = match settle {
        Ok(a) if a == surv => None,
        Ok(a) => Some((
            format!(
                "{fault:?}: after the run the restarted {} took the group back from {}",
                NAMES[a], NAMES[surv]
            ),
            false,
        )),
        Err(r) => Some((format!("{fault:?}: after the run: {}", r.0), true)),
    };
    Ok(Outcome {
        ms: ms(t1 - t0),
        phases,
        after,
        converge,
    })
}

/// A run that measured a time, and what happened while the pair settled
/// again: a note, and whether the pair had to be rebuilt.
struct Outcome {
    ms: f64,
    phases: Option<Phases>,
    after: Option<(String, bool)>,
    /// hbd's convergence report of the takeover, when `verify` is set.
    converge: Option<Result<f64, String>>,
}

/// [`wait_settled`] with `prefer` active, or else the other node: a
/// restarted daemon may take the group back (keepalived does when it
/// becomes master before hearing its peer and wins on priority).
fn wait_settled_either(c: &mut Cluster, prefer: usize, within: Duration) -> Result<usize, Refused> {
    let until = Instant::now() + within;
    loop {
        let now = who(c);
        if let Some(a) = now {
            if c.settled(a) {
                c.active = a;
                return Ok(a);
            }
        }
        if let Some(i) = c.exited() {
            return Err(Refused(format!(
                "{} on {} exited: {}",
                c.daemon,
                NAMES[i],
                c.tail(i, 4).join(" | ")
            )));
        }
        if Instant::now() >= until {
            return Err(Refused(format!(
                "not settled within {:?} (answering: {:?}; {}); last lines: {} || {}",
                within,
                now.map(|i| NAMES[i]),
                c.settle_view(prefer).1,
                c.tail(0, 3).join(" | "),
                c.tail(1, 3).join(" | ")
            )));
        }
        sleep(Duration::from_millis(100));
    }
}

/// Rebuilds a settled pair after a failed run: both nodes wiped and
/// restarted.
fn recover(c: &mut Cluster, o: &Opts) -> Result<(), Refused> {
    for i in 0..2 {
        c.wipe(i);
        c.links(i, true);
    }
    startup(c, Duration::from_secs(o.startup_timeout_s)).map(|_| ())
}

/// Measures one cell.
pub fn cell(daemon: Daemon, setting: Setting, o: &Opts) -> Cell {
    let mut cell = Cell {
        daemon: daemon.to_string(),
        setting: setting.to_string(),
        detection_ms: setting.detection_ms(daemon),
        interval_ms: setting.heartbeat_interval_ms(daemon),
        idle_window_s: o.idle_s as f64,
        ..Cell::default()
    };
    eprintln!("== {daemon} at {setting}: building the lab");
    let mut c = Cluster::build_family(daemon, setting, o.media, o.family, &o.hbd, &o.repo);
    if let Err(r) = c.hbd_toml(&o.hbd_options, o.hbd_announce.as_deref()) {
        cell.refused = Some(r.0);
        return cell;
    }
    if daemon == Daemon::Keepalived {
        if let Some(why) = c.config_test() {
            cell.refused = Some(why);
            return cell;
        }
    }
    match startup(&mut c, Duration::from_secs(o.startup_timeout_s)) {
        Ok(t) => cell.startup_ms = Some(t),
        Err(r) => {
            eprintln!("   refused: {}", r.0);
            let dest = o.repo.join(format!(
                "target/bench/logs/{daemon}-{}-startup",
                setting.to_string().replace('/', "_")
            ));
            c.save_logs(&dest);
            cell.refused = Some(r.0);
            return cell;
        }
    }
    eprintln!(
        "   up in {:.1} s, {} active",
        cell.startup_ms.unwrap_or(0.0) / 1000.0,
        NAMES[c.active]
    );
    if o.idle_s > 0 {
        let (cpu, rss) = idle(&c, Duration::from_secs(o.idle_s));
        cell.idle_cpu_s_per_h = Some(cpu);
        cell.idle_rss_kib = Some(rss);
        eprintln!(
            "   idle: {cpu:.2} CPU s/h per node, RSS {:.1} MiB per node",
            rss / 1024.0
        );
    }
    for fault in o.faults.iter().copied() {
        let mut fails = 0;
        for r in 0..o.runs {
            match one_run(&mut c, fault, o) {
                Ok(Outcome {
                    ms: t,
                    phases: ph,
                    after,
                    converge,
                }) => {
                    eprintln!("   {fault:?} run {}: {t:.0} ms", r + 1);
                    match converge {
                        Some(Ok(v)) => {
                            let from_start = ph.as_ref().and_then(|p| p.ip_done);
                            eprintln!(
                                "   clients converged after {v:.0} ms (address started {} ms after the fault)",
                                from_start.map_or("?".into(), |s| format!("{s:.0}"))
                            );
                            cell.converge_ms.push(v);
                            if let Some(s) = from_start {
                                cell.converge_fault_ms.push(s + v);
                            }
                        }
                        Some(Err(why)) => {
                            eprintln!("   convergence: {why}");
                            cell.converge_missing.push(format!("run {}: {why}", r + 1));
                        }
                        None => {}
                    }
                    if let Some((note, rebuild)) = after {
                        eprintln!("   note: {note}");
                        cell.notes.push(note);
                        if rebuild {
                            if let Err(r) = recover(&mut c, o) {
                                cell.failures.push(format!("recovery failed: {}", r.0));
                                return cell;
                            }
                        }
                    }
                    match fault {
                        Fault::Crash => cell.crash_ms.push(t),
                        Fault::Cut => cell.cut_ms.push(t),
                        Fault::Switch => cell.switch_ms.push(t),
                    }
                    match (ph, fault) {
                        (Some(p), Fault::Crash) => cell.phases.push(p),
                        (Some(p), Fault::Cut) => cell.cut_phases.push(p),
                        _ => {}
                    }
                }
                Err(e) => {
                    eprintln!("   {fault:?} run {}: FAILED: {e}", r + 1);
                    let dest = o.repo.join(format!(
                        "target/bench/logs/{daemon}-{}-{fault:?}-{}",
                        setting.to_string().replace('/', "_"),
                        r + 1
                    ));
                    c.save_logs(&dest);
                    eprintln!("   logs in {}", dest.display());
                    cell.failures.push(e);
                    fails += 1;
                    if let Err(r) = recover(&mut c, o) {
                        cell.failures.push(format!("recovery failed: {}", r.0));
                        return cell;
                    }
                    if fails >= 3 {
                        cell.failures
                            .push(format!("{fault:?}: gave up after {fails} failed runs"));
                        break;
                    }
                }
            }
        }
    }
    if o.keep_logs {
        let dest = o.repo.join(format!(
            "target/bench/logs/{daemon}-{}",
            setting.to_string().replace('/', "_")
        ));
        c.save_logs(&dest);
    }
    cell
}
