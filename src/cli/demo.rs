//! `hbd demo`: two nodes on loopback show a failover and a failback in seconds,
//! with no root and no hardware. Also `hbd demo-service`, the demo's resource.
//!
//! The nodes are real `hbd run` children (this executable) talking real
//! heartbeat packets over UDP on 127.0.0.1/127.0.0.2 and over a pty pair joined
//! by a relay in this process; the resource is a real TCP service started and
//! stopped by a real resource.d script. Only processes this command started are
//! killed, by PID.

use super::control::render::{human_ms, render_status};
use hbd::control::StatusReport;
use hbd::demo::cluster::{self as dc, Cluster, Daemon, Spec, NAMES};
use hbd::demo::pty::PtyRelay;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep the work directory (configs, logs) instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// Print each node's full status when both are up.
    #[arg(long)]
    pub verbose: bool,
}

/// Arguments of the hidden `hbd demo-service` (run by the demo's resource script).
#[derive(clap::Args, Debug)]
pub struct ServiceArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: std::net::SocketAddr,
    /// The node name to answer with.
    #[arg(long)]
    pub node: String,
    /// Exit when this process (the node's hbd) is gone.
    #[arg(long)]
    pub watch_pid: Option<i32>,
    /// Written once listening; holds this process's PID.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
}

/// The demo's TCP service: answers every connection with `served by <node>`.
pub fn service(args: ServiceArgs) -> ExitCode {
    // Out of the resource script's process group, so hbd's cleanup of the
    // script does not take the service with it.
    let _ = nix::unistd::setsid();
    let started = Instant::now();
    let listener = loop {
        match TcpListener::bind(args.listen) {
            Ok(l) => break l,
            // The previous owner may still be closing (a stop racing a start).
            Err(e) if started.elapsed() < Duration::from_secs(3) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                eprintln!("hbd demo-service: cannot listen on {}: {e}", args.listen);
                return ExitCode::from(1);
            }
        }
    };
    if let Some(p) = &args.pidfile {
        let tmp = p.with_extension("tmp");
        let written = std::fs::write(&tmp, format!("{}\n", std::process::id()))
            .and_then(|_| std::fs::rename(&tmp, p));
        if let Err(e) = written {
            eprintln!("hbd demo-service: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("hbd demo-service: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "hbd demo-service: {} serving on {} (pid {})",
        args.node,
        args.listen,
        std::process::id()
    );
    loop {
        match listener.accept() {
            Ok((mut conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let _ = writeln!(conn, "served by {}", args.node);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => eprintln!("hbd demo-service: accept: {e}"),
        }
        if let Some(pid) = args.watch_pid {
            if !alive(pid) {
                eprintln!("hbd demo-service: node process {pid} is gone; exiting with it");
                if let Some(p) = &args.pidfile {
                    let _ = std::fs::remove_file(p);
                }
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Whether `pid` runs: a zombie (killed, not yet reaped by its parent) counts
/// as gone, since the node it stands for is dead.
fn alive(pid: i32) -> bool {
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the last ')' (the command name may hold any).
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
        Err(_) => false,
    }
}

/// The demo's own record of what happened, on one clock.
struct Timeline {
    t0: Instant,
    events: Vec<(Duration, String, String)>,
}

impl Timeline {
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Records and prints an event seen by the demo itself.
    fn say(&mut self, text: impl Into<String>) {
        let text = text.into();
        let at = self.now();
        println!("[{:>6.2}s] {text}", at.as_secs_f64());
        self.events.push((at, "demo".into(), text));
    }

    /// Adds a daemon's recent transitions, fetched now, to the timeline.
    fn absorb(&mut self, node: &str, r: &StatusReport) {
        let now = self.now();
        for tr in &r.recent {
            let at = now.saturating_sub(Duration::from_millis(tr.ms_ago));
            let dup = self.events.iter().any(|(t, n, x)| {
                n == node
                    && x == &tr.text
                    && t.max(&at).saturating_sub(*t.min(&at)) < Duration::from_millis(500)
            });
            if !dup {
                self.events.push((at, node.to_string(), tr.text.clone()));
            }
        }
    }

    fn print(&mut self) {
        self.events.sort_by_key(|e| e.0);
        println!("\ntimeline (the demo's observations and both daemons' transitions):");
        for (at, who, text) in &self.events {
            println!("  {:>6.2}s  {who:<5}  {text}", at.as_secs_f64());
        }
    }
}

struct Failure(String);

pub fn run(args: Args) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hbd demo: cannot find this executable: {e}");
            return ExitCode::from(1);
        }
    };
    let dir = std::env::temp_dir().join(format!("hbd-demo-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("hbd demo: cannot create {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    let code = match demo(&dir, &exe, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(_)) => ExitCode::from(1),
    };
    if args.keep {
        println!("work directory kept: {}", dir.display());
    } else if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("hbd demo: cannot remove {}: {e}", dir.display());
    }
    code
}

fn demo(dir: &Path, exe: &Path, args: &Args) -> Result<(), Failure> {
    let fail = |what: &str, e: std::io::Error| Failure(format!("{what}: {e}"));
    let relay = PtyRelay::start().map_err(|e| fail("cannot open a pseudo-terminal pair", e))?;
    let spec = Spec {
        serial: Some((relay.path_a.clone(), relay.path_b.clone())),
        ..Spec::default()
    };
    let cluster =
        Cluster::create(dir, spec, exe).map_err(|e| fail("cannot write the configs", e))?;
    let mut nodes: [Option<Daemon>; 2] = [None, None];
    let result = narrate(&cluster, &relay, &mut nodes, args);
    if let Err(Failure(why)) = &result {
        eprintln!("\nhbd demo: FAILED: {why}");
        for (i, name) in NAMES.iter().enumerate() {
            eprintln!(
                "\n--- last lines of {}'s log ({}) ---\n{}",
                name,
                cluster.nodes[i].log.display(),
                cluster.log_tail(i, 25)
            );
        }
    }
    // Graceful stop of whatever still runs: SIGTERM to both first, so neither
    // waits for the other's deadtime, then a bounded wait; SIGKILL after.
    let started = Instant::now();
    for d in nodes.iter().flatten() {
        let _ = d.signal(nix::sys::signal::Signal::SIGTERM);
    }
    for d in nodes.iter_mut().flatten().filter(|d| d.running()) {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        if dc::wait_for(left, Duration::from_millis(20), || d.exited()).is_none() {
            eprintln!(
                "hbd demo: {} did not stop within 5s of SIGTERM; killed",
                d.name
            );
            d.kill9();
        }
    }
    if result.is_ok() {
        println!(
            "\nboth nodes stopped (SIGTERM) in {}; cleaning up.",
            human_ms(started.elapsed().as_millis() as u64)
        );
    }
    drop(relay);
    result
}

/// One line per node: what an operator wants to see at a glance.
fn summary(r: &StatusReport) -> String {
    let links: Vec<String> = r
        .links
        .iter()
        .map(|l| format!("{} {}", l.name, if l.up { "up" } else { "dead" }))
        .collect();
    let groups: Vec<String> = r
        .groups
        .iter()
        .map(|g| {
            format!(
                "{} {} on {}",
                g.key,
                g.state,
                g.owner.as_deref().unwrap_or("nobody")
            )
        })
        .collect();
    format!(
        "{} is {} (generation {}), sees {} {}; links: {}; groups: {}",
        r.local.name,
        r.local.state,
        r.local.generation.map_or("?".into(), |g| g.to_string()),
        r.peer.name,
        r.peer.state,
        links.join(", "),
        groups.join(", ")
    )
}

fn narrate(
    c: &Cluster,
    relay: &PtyRelay,
    nodes: &mut [Option<Daemon>; 2],
    args: &Args,
) -> Result<(), Failure> {
    let key = c.service_key();
    let s = &c.spec;
    println!("hbd demo: two nodes on loopback, a failover and a failback (no root needed)");
    println!("  work directory  {}", c.dir.display());
    println!("  nodes           alpha 127.0.0.1, beta 127.0.0.2 (separate state and run dirs)");
    println!(
        "  links           ucast lo on UDP port {} (each node bound to its own address)",
        c.udpport
    );
    println!(
        "                  serial {} <-> {} (a pty pair joined by a relay in this process)",
        relay.path_a.display(),
        relay.path_b.display()
    );
    println!(
        "  timings         keepalive {}ms, deadtime {}ms, auto_failback {}",
        s.keepalive_ms, s.deadtime_ms, s.auto_failback
    );
    println!(
        "  resource group  {key} (home alpha): a TCP service on 127.0.0.1:{}\n",
        c.service_port
    );
    let mut tl = Timeline {
        t0: Instant::now(),
        events: Vec::new(),
    };
    let start = |i: usize, tl: &mut Timeline, nodes: &mut [Option<Daemon>; 2]| {
        let d = c
            .start(i)
            .map_err(|e| Failure(format!("cannot start hbd run for {}: {e}", NAMES[i])))?;
        tl.say(format!(
            "started {} (hbd run, pid {})",
            NAMES[i],
            d.pid().unwrap_or(0)
        ));
        nodes[i] = Some(d);
        Ok::<(), Failure>(())
    };
    let check_alive = |nodes: &mut [Option<Daemon>; 2]| -> Result<(), Failure> {
        for d in nodes.iter_mut().flatten() {
            if let Some(st) = d.exited() {
                return Err(Failure(format!("{} exited early: {st}", d.name)));
            }
        }
        Ok(())
    };

    // 1. alpha first: alone, it takes its group once initdead has passed. Two
    // nodes started in the same instant would wait heartbeat's 10 s startup
    // deadlock breaker (RQSTDELAY) instead; a node joining a running peer
    // settles in well under a second.
    start(0, &mut tl, nodes)?;
    let limit = Duration::from_millis(s.initdead_ms) + Duration::from_secs(8);
    let alone = dc::wait_for(limit, Duration::from_millis(50), || {
        if check_alive(nodes).is_err() {
            return Some(false);
        }
        let a = c.status(0).ok()?;
        (dc::running_on(&a, &key).as_deref() == Some("alpha")).then_some(true)
    });
    check_alive(nodes)?;
    if alone != Some(true) {
        let why = c.status(0).map(|a| summary(&a)).unwrap_or_else(|e| e);
        return Err(Failure(format!(
            "alpha did not start its group alone within {}s (initdead {}ms):\n  {why}",
            limit.as_secs(),
            s.initdead_ms
        )));
    }
    tl.say(format!(
        "alpha, alone, runs the service (it waited initdead {}ms for beta)",
        s.initdead_ms
    ));
    start(1, &mut tl, nodes)?;
    let up = dc::wait_for(Duration::from_secs(12), Duration::from_millis(50), || {
        if check_alive(nodes).is_err() {
            return Some(None);
        }
        let a = c.status(0).ok()?;
        let b = c.status(1).ok()?;
        let ready = dc::both_active(&a)
            && dc::both_active(&b)
            && dc::running_on(&a, &key).as_deref() == Some("alpha")
            && c.probe_service().as_deref() == Some("alpha");
        ready.then_some(Some((a, b)))
    });
    check_alive(nodes)?;
    let Some(Some((a, b))) = up else {
        let why = match (c.status(0), c.status(1)) {
            (Ok(a), Ok(b)) => format!("{}\n  {}", summary(&a), summary(&b)),
            (Err(e), _) | (_, Err(e)) => e,
        };
        return Err(Failure(format!(
            "beta did not join with the service staying on alpha within 12s:\n  {why}"
        )));
    };
    tl.say("both nodes active; the service runs on alpha");
    println!("          {}\n          {}", summary(&a), summary(&b));
    if args.verbose {
        println!("\n--- hbd status (alpha) ---\n{}", render_status(&a));
        println!("--- hbd status (beta) ---\n{}", render_status(&b));
    }
    tl.say(
        "client: 127.0.0.1:".to_string()
            + &c.service_port.to_string()
            + " says \"served by alpha\"",
    );
    tl.absorb("alpha", &a);
    tl.absorb("beta", &b);

    // 2. Crash the active node. heartbeat nodes advertise deadtime + 2 s as
    // their `dt` for their first 5 s (spec §3.3) and the peer honours it, so a
    // node killed younger than that is declared dead 2 s later than deadtime.
    let settled = dc::wait_for(Duration::from_secs(8), Duration::from_millis(50), || {
        let a = c.status(0).ok()?;
        (a.uptime_ms >= dc::DT_BOOST_FOR_MS + 2 * s.keepalive_ms).then_some(a)
    });
    match settled {
        Some(a) => {
            tl.say(format!(
                "alpha has run {}: past the first 5 s in which it advertises deadtime + 2 s",
                human_ms(a.uptime_ms)
            ));
            tl.absorb("alpha", &a);
        }
        None => return Err(Failure("alpha stopped answering before the kill".into())),
    }
    let killed_at = Instant::now();
    let pid = nodes[0].as_ref().and_then(Daemon::pid).unwrap_or(0);
    nodes[0].as_mut().map(Daemon::kill9);
    nodes[0] = None;
    tl.say(format!(
        "kill -9 alpha (pid {pid}); its service exits with it, as on a crashed machine"
    ));
    let mut detected: Option<Duration> = None;
    let mut served: Option<Duration> = None;
    let mut last_b = None;
    let limit = Duration::from_millis(s.deadtime_ms) + Duration::from_secs(8);
    dc::wait_for(limit, Duration::from_millis(10), || {
        if detected.is_none() {
            if let Ok(b) = c.status(1) {
                if b.peer.state == hbd::core::NodeState::Dead {
                    detected = Some(killed_at.elapsed());
                    // The dead timer runs from alpha's last heartbeat, which
                    // may precede the kill by up to one keepalive.
                    let silence = b
                        .peer
                        .last_heard_ms_ago
                        .map(|ms| format!(", {} after its last heartbeat", human_ms(ms)))
                        .unwrap_or_default();
                    tl.say(format!(
                        "beta declared alpha dead, {} after the kill{silence} (deadtime {}ms)",
                        human_ms(detected.unwrap().as_millis() as u64),
                        s.deadtime_ms
                    ));
                }
                last_b = Some(b);
            }
        }
        if served.is_none() && c.probe_service().as_deref() == Some("beta") {
            served = Some(killed_at.elapsed());
            tl.say(format!(
                "client: the service answers \"served by beta\", {} after the kill",
                human_ms(served.unwrap().as_millis() as u64)
            ));
        }
        (detected.is_some() && served.is_some()).then_some(())
    });
    check_alive(nodes)?;
    let (Some(detected), Some(served)) = (detected, served) else {
        let state = last_b
            .as_ref()
            .map(summary)
            .unwrap_or_else(|| "no status from beta".into());
        return Err(Failure(format!(
            "no takeover within {}s of killing alpha (dead detected: {}, service on beta: {}):\n  {state}",
            limit.as_secs(),
            detected.map_or("no".into(), |d| human_ms(d.as_millis() as u64)),
            served.map_or("no".into(), |d| human_ms(d.as_millis() as u64)),
        )));
    };
    if let Ok(b) = c.status(1) {
        println!("          {}", summary(&b));
        tl.absorb("beta", &b);
    }

    // 3. Bring alpha back: auto_failback on gives it its group again.
    println!();
    let restarted_at = Instant::now();
    start(0, &mut tl, nodes)?;
    let back = dc::wait_for(Duration::from_secs(12), Duration::from_millis(20), || {
        if check_alive(nodes).is_err() {
            return Some(false);
        }
        if c.probe_service().as_deref() != Some("alpha") {
            return None;
        }
        let a = c.status(0).ok()?;
        let b = c.status(1).ok()?;
        (dc::both_active(&a) && dc::both_active(&b)).then_some(true)
    });
    check_alive(nodes)?;
    if back != Some(true) {
        let who = c.probe_service().unwrap_or_else(|| "nobody".into());
        return Err(Failure(format!(
            "no failback to alpha within 12s of restarting it (the service is served by {who})"
        )));
    }
    let failback = restarted_at.elapsed();
    tl.say(format!(
        "client: \"served by alpha\" again, {} after restarting alpha (auto_failback on)",
        human_ms(failback.as_millis() as u64)
    ));
    for (i, name) in NAMES.iter().enumerate() {
        if let Ok(r) = c.status(i) {
            println!("          {}", summary(&r));
            tl.absorb(name, &r);
        }
    }
    let (ab, ba) = relay.carried();

    println!("\nresults:");
    println!(
        "  failover  alpha killed -> beta declared it dead in {}, service answered from beta after {}",
        human_ms(detected.as_millis() as u64),
        human_ms(served.as_millis() as u64)
    );
    println!(
        "  failback  alpha restarted -> service answered from alpha again after {}",
        human_ms(failback.as_millis() as u64)
    );
    println!("  serial relay carried {ab} bytes alpha->beta and {ba} bytes beta->alpha");
    tl.print();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_unreaped_node_counts_as_dead() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(alive(pid));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // Not reaped yet: a zombie, which kill(pid, 0) alone would call alive.
        let gone = dc::wait_for(Duration::from_secs(3), Duration::from_millis(10), || {
            (!alive(pid)).then_some(())
        });
        assert!(gone.is_some(), "a zombie must count as dead");
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn timeline_merges_daemon_transitions_without_duplicates() {
        let mut tl = Timeline {
            t0: Instant::now() - Duration::from_secs(10),
            events: Vec::new(),
        };
        let r = StatusReport {
            recent: vec![hbd::control::TransitionReport {
                ms_ago: 4_000,
                text: "beta: declared dead".into(),
            }],
            ..Default::default()
        };
        tl.absorb("alpha", &r);
        tl.absorb("alpha", &r);
        assert_eq!(tl.events.len(), 1);
        let at = tl.events[0].0.as_millis() as i64;
        assert!((at - 6_000).abs() < 200, "placed at {at}ms");
    }
}
