//! Scenarios for the seed sweep. Each builds a world from its seed (timings,
//! loss, delays and the failover event are all drawn from it), runs it and
//! checks the scenario's own promises on top of the world's invariants.

use super::world::*;
use hbd::config::{AutoFailback, Monitor, OnFail};
use hbd::core::{Command, Event, GroupState, HoldSet, Input, MonitorAction, MonitorState};
use hbd::time::{Duration, Instant};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Both start (offsets up to 3 s); every group ends on its home node.
    Startup,
    /// One node crashes; the survivor runs every group within the bound.
    Crash,
    /// One node crashes and comes back with a new generation.
    CrashRestart,
    /// Graceful shutdown hands over within a keepalive round plus script time.
    Shutdown,
    /// hb_standby of a random set converges.
    Standby,
    /// hb_takeover of a random set converges.
    Takeover,
    /// Every link cut longer than deadtime, then healed: one owner per group.
    Partition,
    /// Lossy, duplicating links with short single-link cuts: never a false takeover
    /// beyond the bound, and one owner per group at the end.
    Flaky,
    /// One node's process is stopped for 3–12 s: it reports its own stall and
    /// never declares the peer dead because of it.
    Stall,
    /// A resource of a group fails to start on its home node at startup: the
    /// group ends on the peer (nice_failback) and never on both.
    FailedStart,
    /// A stop fails for good during standby: that group never runs on the peer.
    FailedStop,
    /// A random mix of cuts, crashes, restarts, pauses, shutdowns, standby and
    /// takeover; afterwards, with both nodes up and links healed, every group
    /// runs on exactly one node.
    Chaos,
    /// With a fence hook: a crash (the fence may fail a few times first) or a
    /// full partition. A group is never active on both nodes, not even during
    /// the partition; the survivor takes over only after a successful fence.
    Fencing,
    /// Ping nodes (ipfail): one node loses its uplink while the nodes still
    /// hear each other; every group moves to the other node and stays.
    Uplink,
    /// A monitored resource's service dies, again and again, on whichever
    /// node runs it; it may be unstartable on one node or both, and its
    /// check may hang. Never both nodes, no more moves and restarts than the
    /// limits allow, and the group ends where its `on_fail` says.
    Monitor,
    /// `hbd standby --persistent` of a random set on one node, which then
    /// crashes or stops and comes back with the record (as the shell hands it
    /// in): the set moves to the peer and stays there, whatever auto_failback
    /// says; `--clear` moves nothing.
    PersistentStandby,
}

pub const ALL: [Scenario; 16] = [
    Scenario::Startup,
    Scenario::Crash,
    Scenario::CrashRestart,
    Scenario::Shutdown,
    Scenario::Standby,
    Scenario::Takeover,
    Scenario::Partition,
    Scenario::Flaky,
    Scenario::Stall,
    Scenario::FailedStart,
    Scenario::FailedStop,
    Scenario::Chaos,
    Scenario::Fencing,
    Scenario::Uplink,
    Scenario::Monitor,
    Scenario::PersistentStandby,
];

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// Longest one group takes to start or stop (probe + start per resource).
fn group_script_bound(w: &World) -> u64 {
    let max_res = w
        .cfg
        .groups
        .iter()
        .map(|g| g.resources.len())
        .max()
        .unwrap_or(0) as u64;
    2 * max_res * SCRIPT_MAX
}

fn all_groups_script_bound(w: &World) -> u64 {
    group_script_bound(w) * w.cfg.groups.len() as u64
}

fn expect_owner(w: &World, g: usize, n: usize, what: &str) -> Result<(), String> {
    let o = w.owners(g);
    if o != vec![n] {
        return Err(format!(
            "{what}: group {g} should run on {} only, runs on {:?}",
            NAMES[n],
            o.iter().map(|&i| NAMES[i]).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

fn exactly_one_owner(w: &World, what: &str) -> Result<(), String> {
    for g in 0..w.cfg.groups.len() {
        let o = w.owners(g);
        if o.len() != 1 {
            return Err(format!("{what}: group {g} owners {o:?}"));
        }
        for n in 0..2 {
            if w.group_active(n, g) && !o.contains(&n) {
                return Err(format!("{what}: group {g} half active on {}", NAMES[n]));
            }
        }
    }
    Ok(())
}

/// Run until every group's owner is as `want` says, or fail at `deadline`.
fn converge(
    w: &mut World,
    deadline: Instant,
    what: &str,
    want: impl Fn(&World) -> Result<(), String>,
) -> Result<(), String> {
    while w.now < deadline {
        let step = (w.now + ms(100)).min(deadline);
        w.run_until(step)?;
        if want(w).is_ok() {
            return Ok(());
        }
    }
    want(w).map_err(|e| format!("{what} not reached by {deadline}: {e}"))
}

fn home(g: usize, w: &World) -> usize {
    NAMES
        .iter()
        .position(|n| *n == w.cfg.groups[g].home)
        .unwrap()
}

/// Runs one scenario for one seed; Err describes the first broken promise.
pub fn run(scenario: Scenario, seed: u64) -> Result<Box<World>, Box<(World, String)>> {
    let mut rng = world_rng(seed.wrapping_mul(0x9E37_79B9));
    let af = match scenario {
        Scenario::Standby
        | Scenario::Takeover
        | Scenario::FailedStart
        | Scenario::FailedStop
        | Scenario::Uplink
        | Scenario::Monitor
        | Scenario::PersistentStandby => {
            [AutoFailback::On, AutoFailback::Off][rng.range(0, 1) as usize]
        }
        _ => [AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy][rng.range(0, 2) as usize],
    };
    let mut w = World::new(seed, config(af));
    let lossy = matches!(
        scenario,
        Scenario::Flaky | Scenario::Partition | Scenario::Crash | Scenario::CrashRestart
    );
    for from in 0..2 {
        for l in 0..2 {
            if lossy {
                w.links[from][l].loss_pct = rng.range(0, 15);
                w.links[from][l].dup_pct = rng.range(0, 5);
            } else {
                w.links[from][l].loss_pct = rng.range(0, 3);
                w.links[from][l].dup_pct = rng.range(0, 3);
            }
        }
    }
    // Loss can legitimately look like death; only loss-free runs demand zero overlap.
    let clean = w.links.iter().flatten().all(|l| l.loss_pct == 0);
    if clean {
        w.heal_bound = Duration::ZERO;
    }
    let res = body(scenario, &mut w, &mut rng, af);
    match res {
        Ok(()) => Ok(Box::new(w)),
        Err(e) => Err(Box::new((w, e))),
    }
}

fn body(scenario: Scenario, w: &mut World, rng: &mut Rng, af: AutoFailback) -> Result<(), String> {
    if scenario == Scenario::FailedStart {
        return failed_start(w, rng);
    }
    if scenario == Scenario::Fencing {
        return fencing(w, rng);
    }
    if scenario == Scenario::Uplink {
        return uplink(w, rng, af);
    }
    if scenario == Scenario::Monitor {
        return monitor(w, rng);
    }
    let first = rng.range(0, 1) as usize;
    w.start(first);
    w.run_until(Instant::from_millis(rng.range(0, 3000)))?;
    w.start(1 - first);
    // Startup negotiation: RQSTDELAY (10 s) + scripts, well inside 30 s.
    let settle = Instant::from_millis(30_000);
    let homes = |w: &World| -> Result<(), String> {
        for g in 0..w.cfg.groups.len() {
            expect_owner(w, g, home(g, w), "home")?;
        }
        Ok(())
    };
    converge(w, settle, "startup on home nodes", homes)?;
    let victim = rng.range(0, 1) as usize;
    let survivor = 1 - victim;
    let t0 = w.now;
    match scenario {
        Scenario::Startup => {
            w.run_until(t0 + ms(20_000))?;
            homes(w)?;
        }
        Scenario::Crash | Scenario::CrashRestart => {
            w.run_until(t0 + ms(rng.range(0, 2000)))?;
            w.kill(victim);
            let tk = w.now;
            // dead time + one status tick to notice + every group's scripts + 1 s slack.
            let bound = DEADTIME + KEEPALIVE + all_groups_script_bound(w) + 1000;
            converge(w, tk + ms(bound), "takeover after crash", |w| {
                (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, survivor, "takeover"))
            })?;
            if scenario == Scenario::CrashRestart {
                w.run_until(w.now + ms(rng.range(0, 5000)))?;
                w.start(victim);
                let t = w.now + ms(40_000);
                match af {
                    AutoFailback::Off => {
                        w.run_until(t)?;
                        for g in 0..w.cfg.groups.len() {
                            expect_owner(w, g, survivor, "auto_failback off keeps")?;
                        }
                    }
                    _ => converge(w, t, "failback to home nodes", homes)?,
                }
                w.run_until(w.now + ms(10_000))?;
                exactly_one_owner(w, "after restart")?;
            }
        }
        Scenario::Shutdown => {
            w.run_until(t0 + ms(rng.range(0, 2000)))?;
            w.handle(victim, Input::Command(Command::Shutdown));
            let ts = w.now;
            // Release every group, one keepalive round for shutdone (plus a
            // retransmission), then acquire every group.
            let bound = 2 * all_groups_script_bound(w) + 2 * KEEPALIVE + 1000;
            converge(w, ts + ms(bound), "handover on shutdown", |w| {
                (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, survivor, "handover"))
            })?;
            // It must not bounce later (e.g. when the peer is declared dead).
            w.run_until(w.now + ms(DEADTIME * 3))?;
            (0..w.cfg.groups.len())
                .try_for_each(|g| expect_owner(w, g, survivor, "after shutdown"))?;
        }
        Scenario::Standby | Scenario::Takeover => {
            // Let the last `resource … isstable=1` settle: a standby while
            // either side is in transition is refused, as heartbeat does.
            w.run_until(t0 + ms(3000 + rng.range(0, 2000)))?;
            let set = [HoldSet::All, HoldSet::Local, HoldSet::Foreign][rng.range(0, 2) as usize];
            let actor = victim;
            let cmd = if scenario == Scenario::Standby {
                Command::Standby(set)
            } else {
                Command::Takeover(set)
            };
            w.log(format!("operator on {}: {:?}", NAMES[actor], cmd));
            w.handle(actor, Input::Command(cmd));
            // Groups in `set` (from the actor's view) move away (standby) or to
            // the actor (takeover); with everything home, `foreign` standby is a no-op.
            let expected: Vec<usize> = (0..w.cfg.groups.len())
                .map(|g| {
                    let local = home(g, w) == actor;
                    let in_set = match set {
                        HoldSet::All => true,
                        HoldSet::Local => local,
                        HoldSet::Foreign => !local,
                        HoldSet::None => false,
                    };
                    match (scenario, in_set) {
                        (Scenario::Standby, true) => 1 - actor,
                        (Scenario::Takeover, true) => actor,
                        _ => home(g, w),
                    }
                })
                .collect();
            let bound = 2 * all_groups_script_bound(w) + 4 * KEEPALIVE + 2000;
            let exp = expected.clone();
            converge(w, w.now + ms(bound), "standby/takeover", move |w| {
                (0..exp.len()).try_for_each(|g| expect_owner(w, g, exp[g], "standby/takeover"))
            })?;
            // And it stays (auto_failback must not undo an operator's standby).
            w.run_until(w.now + ms(20_000))?;
            (0..expected.len()).try_for_each(|g| {
                expect_owner(w, g, expected[g], "stays after standby/takeover")
            })?;
        }
        Scenario::Partition => {
            w.run_until(t0 + ms(rng.range(0, 2000)))?;
            for from in 0..2 {
                for l in 0..2 {
                    w.set_cut(from, l, true);
                }
            }
            let dur = rng.range(DEADTIME + 2000, DEADTIME + 15_000);
            w.run_until(w.now + ms(dur))?;
            for from in 0..2 {
                for l in 0..2 {
                    w.set_cut(from, l, false);
                }
            }
            let th = w.now;
            // The world's heal bound already limits double activity; the
            // home-node rule must put every group back home.
            converge(w, th + ms(DEADTIME + 10_000), "home after heal", homes)?;
            w.run_until(w.now + ms(15_000))?;
            homes(w)?;
        }
        Scenario::Stall => {
            w.run_until(t0 + ms(rng.range(0, 2000)))?;
            let d = rng.range(3000, 12_000);
            w.pause(victim, ms(d));
            let tp = w.now;
            w.run_until(tp + ms(d + 200))?;
            let stalled = w.events[victim]
                .iter()
                .any(|(t, e)| *t >= tp && matches!(e, Event::LocalStall { .. }));
            if d > 2 * KEEPALIVE + KEEPALIVE && !stalled {
                return Err(format!(
                    "{} was stopped {d} ms and did not report a stall",
                    NAMES[victim]
                ));
            }
            w.run_until(w.now + ms(DEADTIME + 15_000))?;
            if let Some((t, e)) = w.events[victim]
                .iter()
                .find(|(t, e)| *t >= tp && matches!(e, Event::PeerDead { .. }))
            {
                return Err(format!(
                    "{} blamed its own stall on the peer at {t}: {e}",
                    NAMES[victim]
                ));
            }
            homes(w)?;
        }
        Scenario::PersistentStandby => {
            w.run_until(t0 + ms(3000 + rng.range(0, 2000)))?;
            let actor = victim;
            let set = [HoldSet::All, HoldSet::Local][rng.range(0, 1) as usize];
            let cmd = Command::PersistentStandby(Some(set));
            w.log(format!("operator on {}: {cmd:?}", NAMES[actor]));
            w.handle(actor, Input::Command(cmd.clone()));
            let expected: Vec<usize> = (0..w.cfg.groups.len())
                .map(|g| {
                    let local = home(g, w) == actor;
                    if set.has(local) {
                        1 - actor
                    } else {
                        home(g, w)
                    }
                })
                .collect();
            let in_place = |exp: Vec<usize>, what: &'static str| {
                move |w: &World| (0..exp.len()).try_for_each(|g| expect_owner(w, g, exp[g], what))
            };
            let bound = 2 * all_groups_script_bound(w) + 4 * KEEPALIVE + 2000;
            converge(
                w,
                w.now + ms(bound),
                "persistent standby",
                in_place(expected.clone(), "standby"),
            )?;
            // The actor goes away (crash or clean stop) and comes back with
            // its record; the peer holds everything meanwhile.
            w.run_until(w.now + ms(rng.range(0, 3000)))?;
            if rng.range(0, 1) == 0 {
                w.kill(actor);
            } else {
                w.handle(actor, Input::Command(Command::Shutdown));
            }
            let everything_on_peer: Vec<usize> = vec![1 - actor; w.cfg.groups.len()];
            let bound = DEADTIME + KEEPALIVE + 2 * all_groups_script_bound(w) + 2000;
            converge(
                w,
                w.now + ms(bound),
                "peer holds all",
                in_place(everything_on_peer, "peer"),
            )?;
            w.run_until(w.now + ms(rng.range(0, 5000)))?;
            w.start(actor);
            w.handle(actor, Input::Command(cmd));
            // Back: the set stays on the peer (auto_failback on must not bring
            // it home), the rest goes home as usual.
            let t = w.now + ms(40_000);
            converge(
                w,
                t,
                "persistent standby after restart",
                in_place(expected.clone(), "after restart"),
            )?;
            w.run_until(w.now + ms(20_000))?;
            in_place(expected.clone(), "stays after restart")(w)?;
            // Cleared: nothing moves.
            w.handle(actor, Input::Command(Command::PersistentStandby(None)));
            w.run_until(w.now + ms(20_000))?;
            in_place(expected, "stays after --clear")(w)?;
        }
        Scenario::FailedStop => {
            w.run_until(t0 + ms(3000 + rng.range(0, 2000)))?;
            // The home node of group 0 cannot stop its first resource.
            let a = home(0, w);
            w.failing_stop.push((a, 0, 0));
            w.handle(a, Input::Command(Command::Standby(HoldSet::All)));
            let end = w.now + ms(40_000);
            while w.now < end {
                w.run_until(w.now + ms(100))?;
                if w.group_active(1 - a, 0) {
                    return Err(format!(
                        "group 0 started on {} while it may still run on {}",
                        NAMES[1 - a],
                        NAMES[a]
                    ));
                }
            }
            if !w.events[a]
                .iter()
                .any(|(_, e)| matches!(e, Event::StopFailed { .. }))
            {
                return Err("no StopFailed event".into());
            }
            exactly_one_owner_of(w, 1, "group 1 after failed standby")?;
        }
        Scenario::FailedStart | Scenario::Fencing | Scenario::Uplink | Scenario::Monitor => {
            unreachable!()
        }
        Scenario::Chaos => {
            // Double activity is expected after crashes and cuts; the world's
            // bound still limits how long it may last once connected.
            w.heal_bound = Duration::from_millis(DEADTIME + 6000);
            // Half the runs with fencing (some fences failing first) and a
            // ping node whose reachability flips, applied by reload.
            let extras = rng.chance(50);
            if extras {
                w.cfg.hbd.fence_hook = Some("/usr/local/sbin/fence-peer".into());
                w.cfg.hbd.fence_required = rng.chance(70);
                w.cfg.ping_nodes = vec![hbd::config::PingNode {
                    name: "198.51.100.1".into(),
                    addrs: vec!["198.51.100.1".into()],
                }];
                w.fence_failures = rng.range(0, 3) as u32;
                for i in 0..2 {
                    let cfg = w.cfg.clone();
                    w.log(format!("reload {} with fencing and a ping node", NAMES[i]));
                    w.handle(i, Input::Reload(Box::new(cfg)));
                    w.handle(i, Input::PingNode { index: 0, up: true });
                }
            }
            // Half the runs with a monitored resource whose service dies now
            // and then; restarts (enough of them) heal it in place.
            let watched = rng.chance(50).then(|| {
                let g = rng.range(0, 1) as usize;
                let r = rng.range(0, w.cfg.groups[g].resources.len() as u64 - 1) as usize;
                let mut m = Monitor::new(g, r);
                m.interval = ms(rng.range(500, 3000));
                m.fall = rng.range(1, 2) as u32;
                m.max_restarts = 10;
                w.cfg.hbd.monitors.push(m);
                w.log(format!("reload both with a monitor on g{g} r{r}"));
                for i in 0..2 {
                    let cfg = w.cfg.clone();
                    w.handle(i, Input::Reload(Box::new(cfg)));
                }
                (g, r)
            });
            for _ in 0..rng.range(3, 8) {
                let who = rng.range(0, 1) as usize;
                if let Some((g, r)) = watched.filter(|_| rng.chance(40)) {
                    if w.group_active(who, g) {
                        w.kill_service(who, g, r);
                    }
                }
                if extras && rng.chance(30) {
                    let up = rng.chance(50);
                    w.log(format!(
                        "{} ping node {}",
                        NAMES[who],
                        if up { "up" } else { "down" }
                    ));
                    w.handle(who, Input::PingNode { index: 0, up });
                }
                match rng.range(0, 8) {
                    0 => {
                        let (from, l) = (rng.range(0, 1) as usize, rng.range(0, 1) as usize);
                        w.set_cut(from, l, true);
                    }
                    1 => {
                        for from in 0..2 {
                            for l in 0..2 {
                                w.set_cut(from, l, false);
                            }
                        }
                    }
                    2 if w.nodes[who].is_some() => w.kill(who),
                    3 if w.nodes[who].is_none() => w.start(who),
                    4 if w.nodes[who].is_some() => {
                        w.pause(who, ms(rng.range(1000, 9000)));
                        w.heal_bound = Duration::from_millis(DEADTIME + 6000);
                    }
                    5 if w.nodes[who].is_some() => w.handle(who, Input::Command(Command::Shutdown)),
                    6 => {
                        let set = [HoldSet::All, HoldSet::Local, HoldSet::Foreign]
                            [rng.range(0, 2) as usize];
                        let c = if rng.chance(50) {
                            Command::Standby(set)
                        } else {
                            Command::Takeover(set)
                        };
                        w.log(format!("operator on {}: {c:?}", NAMES[who]));
                        w.handle(who, Input::Command(c));
                    }
                    7 if w.nodes[who].is_some() => {
                        // SIGHUP with new timings (same dead time, so the bounds hold).
                        let mut cfg = w.cfg.clone();
                        cfg.keepalive = Duration::from_millis(800);
                        cfg.warntime = Duration::from_millis(2500);
                        w.log(format!("reload {}", NAMES[who]));
                        w.handle(who, Input::Reload(Box::new(cfg)));
                    }
                    _ => {}
                }
                w.run_until(w.now + ms(rng.range(500, 15_000)))?;
            }
            for from in 0..2 {
                for l in 0..2 {
                    w.set_cut(from, l, false);
                }
            }
            for i in 0..2 {
                if w.nodes[i].is_none() {
                    w.start(i);
                }
            }
            // A node that is still shutting down exits and comes back.
            w.run_until(w.now + ms(5000))?;
            for i in 0..2 {
                if w.nodes[i].is_none() {
                    w.start(i);
                }
            }
            w.run_until(w.now + ms(INITDEAD + 40_000))?;
            exactly_one_owner(w, "after chaos")?;
            return Ok(());
        }
        Scenario::Flaky => {
            let end = t0 + ms(60_000);
            while w.now < end {
                let from = rng.range(0, 1) as usize;
                let l = rng.range(0, 1) as usize;
                w.set_cut(from, l, true);
                w.run_until(w.now + ms(rng.range(100, DEADTIME * 2)))?;
                w.set_cut(from, l, false);
                w.run_until(w.now + ms(rng.range(100, 5000)))?;
            }
            w.run_until(w.now + ms(DEADTIME + 15_000))?;
            exactly_one_owner(w, "after flaky links")?;
        }
    }
    // No flapping: a handful of ownership changes per group, whatever happened.
    for (g, c) in w.changes.iter().enumerate() {
        if *c > 6 {
            return Err(format!("group {g} changed owner {c} times (flapping)"));
        }
    }
    Ok(())
}

fn exactly_one_owner_of(w: &World, g: usize, what: &str) -> Result<(), String> {
    let o = w.owners(g);
    if o.len() != 1 {
        return Err(format!("{what}: group {g} owners {o:?}"));
    }
    Ok(())
}

/// Group 0's second resource cannot start on its home node: the home node
/// rolls the group back and hands it to the peer, which runs it from then on.
fn failed_start(w: &mut World, rng: &mut Rng) -> Result<(), String> {
    let a = home(0, w);
    w.failing_start.push((a, 0, 1));
    let first = rng.range(0, 1) as usize;
    w.start(first);
    w.run_until(Instant::from_millis(rng.range(0, 3000)))?;
    w.start(1 - first);
    let deadline = Instant::from_millis(45_000);
    converge(w, deadline, "failed start handed over", |w| {
        expect_owner(w, 0, 1 - a, "failed start")?;
        expect_owner(w, 1, 1 - a, "failed start (whole set handed over)")
    })?;
    if !w.events[a]
        .iter()
        .any(|(_, e)| matches!(e, Event::StartFailed { .. }))
    {
        return Err("no StartFailed event".into());
    }
    w.run_until(w.now + ms(30_000))?;
    expect_owner(w, 0, 1 - a, "stays after failed start")?;
    for (g, c) in w.changes.iter().enumerate() {
        if *c > 4 {
            return Err(format!("group {g} changed owner {c} times (flapping)"));
        }
    }
    Ok(())
}

fn start_both(w: &mut World, rng: &mut Rng) -> Result<(), String> {
    let first = rng.range(0, 1) as usize;
    w.start(first);
    w.run_until(Instant::from_millis(rng.range(0, 3000)))?;
    w.start(1 - first);
    converge(
        w,
        Instant::from_millis(30_000),
        "startup on home nodes",
        |w| (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, home(g, w), "home")),
    )
}

fn fencing(w: &mut World, rng: &mut Rng) -> Result<(), String> {
    w.cfg.hbd.fence_hook = Some("/usr/local/sbin/fence-peer".into());
    w.strict_exclusive = true;
    start_both(w, rng)?;
    // From here on, not one moment of double activity is allowed.
    w.check_after = w.now;
    let victim = rng.range(0, 1) as usize;
    w.run_until(w.now + ms(rng.range(0, 2000)))?;
    let t0 = w.now;
    let fails = rng.range(0, 2) as u32;
    w.fence_failures = fails;
    if rng.chance(50) {
        w.kill(victim);
    } else {
        // Every link cut both ways: each side sees the other die and fences;
        // the first fence to land powers the other node off.
        for from in 0..2 {
            for l in 0..2 {
                w.set_cut(from, l, true);
            }
        }
    }
    // dead time + a status tick + each failed fence's 5 s retry + fence time
    // + every group's scripts + slack.
    let bound = DEADTIME
        + KEEPALIVE
        + fails as u64 * (5000 + 1500)
        + 1500
        + all_groups_script_bound(w)
        + 1000;
    converge(w, t0 + ms(bound), "takeover after fence", |w| {
        let alive: Vec<usize> = (0..2).filter(|&i| w.nodes[i].is_some()).collect();
        if alive.len() != 1 {
            return Err(format!("{} node(s) alive", alive.len()));
        }
        (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, alive[0], "after fence"))
    })?;
    if w.fenced.len() != 1 {
        return Err(format!("expected one successful fence, saw {:?}", w.fenced));
    }
    let survivor = 1 - w.fenced[0].1;
    // Takeover never started before the fence landed.
    let fenced_at = w.fenced[0].0;
    if let Some((at, _)) = w.events[survivor]
        .iter()
        .find(|(at, e)| *at >= t0 && matches!(e, Event::TakeoverStarted { .. }))
    {
        if *at < fenced_at {
            return Err(format!(
                "takeover started at {at}, before the fence at {fenced_at}"
            ));
        }
    }
    // The fenced node reboots into a healed network.
    for from in 0..2 {
        for l in 0..2 {
            w.set_cut(from, l, false);
        }
    }
    w.run_until(w.now + ms(rng.range(0, 3000)))?;
    w.start(1 - survivor);
    w.run_until(w.now + ms(45_000))?;
    exactly_one_owner(w, "after the fenced node returns")
}

fn uplink(w: &mut World, rng: &mut Rng, _af: AutoFailback) -> Result<(), String> {
    w.cfg.ping_nodes = vec![hbd::config::PingNode {
        name: "198.51.100.1".into(),
        addrs: vec!["198.51.100.1".into()],
    }];
    let first = rng.range(0, 1) as usize;
    w.start(first);
    w.handle(first, Input::PingNode { index: 0, up: true });
    w.run_until(Instant::from_millis(rng.range(0, 3000)))?;
    w.start(1 - first);
    w.handle(1 - first, Input::PingNode { index: 0, up: true });
    converge(
        w,
        Instant::from_millis(30_000),
        "startup on home nodes",
        |w| (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, home(g, w), "home")),
    )?;
    w.run_until(w.now + ms(3000 + rng.range(0, 2000)))?;
    let loser = rng.range(0, 1) as usize;
    let keeper = 1 - loser;
    w.log(format!("{} loses its uplink", NAMES[loser]));
    w.handle(
        loser,
        Input::PingNode {
            index: 0,
            up: false,
        },
    );
    // 2 × keepalive, the standby exchange, every group stopped and started.
    let bound = 2 * KEEPALIVE + 4 * KEEPALIVE + 2 * all_groups_script_bound(w) + 3000;
    converge(
        w,
        w.now + ms(bound),
        "groups move to the node with the uplink",
        |w| (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, keeper, "uplink")),
    )?;
    w.run_until(w.now + ms(20_000))?;
    (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, keeper, "stays"))?;
    // The uplink returns: equal counts change nothing.
    w.handle(loser, Input::PingNode { index: 0, up: true });
    w.run_until(w.now + ms(20_000))?;
    (0..w.cfg.groups.len()).try_for_each(|g| expect_owner(w, g, keeper, "equal counts"))?;
    for (g, c) in w.changes.iter().enumerate() {
        if *c > 3 {
            return Err(format!("group {g} changed owner {c} times (flapping)"));
        }
    }
    Ok(())
}

fn monitor(w: &mut World, rng: &mut Rng) -> Result<(), String> {
    // Loss-free links (duplication and delay stay): any moment of both
    // nodes running the group is a violation.
    for l in w.links.iter_mut().flatten() {
        l.loss_pct = 0;
    }
    w.heal_bound = Duration::ZERO;
    let g = rng.range(0, 1) as usize;
    let r = rng.range(0, w.cfg.groups[g].resources.len() as u64 - 1) as usize;
    let mut m = Monitor::new(g, r);
    m.interval = ms(rng.range(500, 3000));
    m.timeout = ms(rng.range(500, 2000));
    m.fall = rng.range(1, 3) as u32;
    m.rise = rng.range(1, 2) as u32;
    m.on_fail =
        [OnFail::Restart, OnFail::Move, OnFail::Block, OnFail::Ignore][rng.range(0, 3) as usize];
    m.max_restarts = rng.range(0, 3) as u32;
    m.restart_window = ms(rng.range(20_000, 120_000));
    let (on_fail, max_restarts, window) = (m.on_fail, m.max_restarts, m.restart_window);
    w.log(format!(
        "monitor g{g} r{r}: every {} fall {} rise {} on_fail {:?} max_restarts {} within {}",
        m.interval, m.fall, m.rise, m.on_fail, m.max_restarts, m.restart_window
    ));
    w.cfg.hbd.monitors.push(m);
    start_both(w, rng)?;
    // From here on, not one moment of double activity is allowed.
    w.check_after = w.now;
    w.strict_exclusive = true;
    let (home, other_home) = (home(g, w), home(1 - g, w));
    let moves_at_start = w.moves.clone();
    // Unstartable from now on: nowhere, at home, on the peer, or on both.
    let broken = rng.range(0, 3);
    let broken_on = |n: usize| (broken & (1 << n)) != 0;
    for n in 0..2 {
        if broken_on(n) {
            w.failing_start.push((n, g, r));
        }
    }
    let hanging = rng.chance(20);
    if hanging {
        w.hanging_check.push((home, g, r));
    }
    w.log(format!(
        "g{g} r{r} unstartable on {:?}; check hangs at home: {hanging}",
        (0..2)
            .filter(|&n| broken_on(n))
            .map(|n| NAMES[n])
            .collect::<Vec<_>>()
    ));
    let deaths = rng.range(1, 4);
    for _ in 0..deaths {
        w.run_until(w.now + ms(rng.range(2000, 15_000)))?;
        if let Some(&n) = w.owners(g).first() {
            w.kill_service(n, g, r);
        }
    }
    w.run_until(w.now + ms(60_000))?;
    let moved = w.moves[g] - moves_at_start[g];
    // A node does not take back a group that failed there: one move at most.
    if moved > 1 {
        return Err(format!("group {g} moved {moved} times (limit 1)"));
    }
    if w.moves[1 - g] != moves_at_start[1 - g] {
        return Err(format!("group {} moved, but only group {g} failed", 1 - g));
    }
    if matches!(on_fail, OnFail::Block | OnFail::Ignore) && moved > 0 {
        return Err(format!("on_fail {on_fail:?} moved group {g}"));
    }
    // Restarts per node within any window of `restart_window`.
    for n in 0..2 {
        let times: Vec<Instant> = w.events[n]
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e,
                    Event::MonitorFailed {
                        action: MonitorAction::Restart { .. },
                        ..
                    }
                )
            })
            .map(|(t, _)| *t)
            .collect();
        for (i, t) in times.iter().enumerate() {
            let within = times[i..]
                .iter()
                .filter(|u| u.saturating_since(*t) < window)
                .count();
            if within as u32 > max_restarts {
                return Err(format!(
                    "{} restarted group {g} {within} times within {window} (max_restarts {max_restarts})",
                    NAMES[n]
                ));
            }
        }
    }
    // Where it ends: running on one node, or on none and reported failed.
    let status = |n: usize| w.nodes[n].as_ref().map(|s| s.node.status());
    let owners = w.owners(g);
    for n in 0..2 {
        let partly = w.group_active(n, g) && !owners.contains(&n);
        let reported = status(n).is_some_and(|st| {
            st.groups[g].state == GroupState::Failed
                || st.groups[g].resources[r].monitor == Some(MonitorState::Failed)
        });
        // block leaves a dead service as it is, ignore too: both say so.
        if partly && !reported {
            return Err(format!(
                "group {g} half active on {} without a failure reported",
                NAMES[n]
            ));
        }
    }
    if owners.is_empty() && !(0..2).any(|n| w.group_active(n, g)) {
        let failed =
            (0..2).any(|n| status(n).is_some_and(|st| st.groups[g].state == GroupState::Failed));
        if !failed {
            return Err(format!(
                "group {g} runs nowhere and no node reports it failed"
            ));
        }
    }
    // The cases whose end is certain.
    let restarts_suffice = deaths <= max_restarts as u64 && !hanging;
    if on_fail == OnFail::Restart && restarts_suffice && !broken_on(home) {
        expect_owner(w, g, home, "restarted in place")?;
        if moved != 0 {
            return Err(format!("group {g} moved although restarts sufficed"));
        }
    }
    let acts = !matches!(on_fail, OnFail::Block | OnFail::Ignore);
    if broken == 0b11 && !hanging && acts && !owners.is_empty() {
        return Err(format!(
            "group {g} unstartable on both nodes but runs on {owners:?}"
        ));
    }
    expect_owner(w, 1 - g, other_home, "the other group stays home")
}
