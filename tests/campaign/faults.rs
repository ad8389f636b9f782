//! The campaign's fault classes: heartbeat CTS's tests (cts/CTStests.py) and
//! the fault matrix's, each as an injection that lets its effect settle and
//! marks the windows it makes blind. The restore (Campaign::restore) undoes
//! what [`Dirty`](crate::Dirty) records.

use crate::{
    clear_rsctmp, Campaign, Obs, Step, BLIND_TAIL_MS, DEADTIME_MS, KEEPALIVE_MS, NAMES,
    SCRIPT_TIMEOUT_MS, TAKEOVER_BOUND_MS,
};
use hbd::core::{GroupState, NodeState};
use std::fs;
use std::thread::sleep;
use std::time::Duration;
use testkit::lab;
use testkit::nspair::Dir;

/// heartbeat's RQSTDELAY: how long a starting node waits for its peer to
/// say it is stable before it decides alone.
const RQSTDELAY_MS: u64 = 10_000;

pub struct Fault {
    pub name: &'static str,
    /// The CTS test it stands for (or "–": not in CTS).
    pub cts: &'static str,
    pub weight: u64,
    pub inject: fn(&mut Campaign, &mut Step),
}

pub const CLASSES: &[Fault] = &[
    Fault {
        name: "crash",
        cts: "machine crash (CTS's kill -9 of the node)",
        weight: 9,
        inject: crash,
    },
    Fault {
        name: "kill9_hbd",
        cts: "–",
        weight: 6,
        inject: kill9_hbd,
    },
    Fault {
        name: "sigstop",
        cts: "–",
        weight: 6,
        inject: sigstop,
    },
    Fault {
        name: "stop_start",
        cts: "StopTest + StartTest",
        weight: 6,
        inject: stop_start,
    },
    Fault {
        name: "restart",
        cts: "RestartTest",
        weight: 5,
        inject: restart,
    },
    Fault {
        name: "simul_stop_start",
        cts: "SimulStop + SimulStart",
        weight: 4,
        inject: simul,
    },
    Fault {
        name: "standby",
        cts: "StandbyTest",
        weight: 6,
        inject: standby,
    },
    Fault {
        name: "takeover",
        cts: "StandbyTest (hb_takeover)",
        weight: 4,
        inject: takeover,
    },
    Fault {
        name: "ucast_cut",
        cts: "–",
        weight: 6,
        inject: ucast_cut,
    },
    Fault {
        name: "serial_pulled",
        cts: "–",
        weight: 5,
        inject: serial_pulled,
    },
    Fault {
        name: "split_brain",
        cts: "Split_brainTest",
        weight: 7,
        inject: split_brain,
    },
    Fault {
        name: "asymmetric",
        cts: "–",
        weight: 4,
        inject: asymmetric,
    },
    Fault {
        name: "loss_burst",
        cts: "–",
        weight: 5,
        inject: loss_burst,
    },
    Fault {
        name: "delay_burst",
        cts: "–",
        weight: 3,
        inject: delay_burst,
    },
    Fault {
        name: "start_fails",
        cts: "–",
        weight: 3,
        inject: start_fails,
    },
    Fault {
        name: "start_hangs",
        cts: "–",
        weight: 2,
        inject: start_hangs,
    },
    Fault {
        name: "stop_fails",
        cts: "–",
        weight: 3,
        inject: stop_fails,
    },
    Fault {
        name: "stop_hangs",
        cts: "–",
        weight: 2,
        inject: stop_hangs,
    },
    Fault {
        name: "monitor_fails",
        cts: "–",
        weight: 4,
        inject: monitor_fails,
    },
    Fault {
        name: "hup_changed",
        cts: "–",
        weight: 3,
        inject: hup_changed,
    },
    Fault {
        name: "hup_broken",
        cts: "–",
        weight: 3,
        inject: hup_broken,
    },
    Fault {
        name: "full_state_dir",
        cts: "–",
        weight: 2,
        inject: full_state_dir,
    },
];

/// A node drawn at random, and what it is now ("holder" or "peer").
fn pick(c: &mut Campaign) -> (usize, &'static str) {
    let x = c.rng.range(0, 1) as usize;
    let role = if c.holder() == Some(x) {
        "holder"
    } else {
        "peer"
    };
    (x, role)
}

fn ms(c: &mut Campaign, lo: u64, hi: u64) -> u64 {
    c.rng.range(lo, hi)
}

/// Waits for the group to settle on node `on` (or anywhere when None),
/// every answering daemon agreeing with its kernel.
fn settle_on(c: &mut Campaign, on: Option<usize>, limit: Duration) -> bool {
    c.watch(limit, move |o: &Obs| {
        o.agrees() && o.sole().is_some() && on.map_or(true, |k| o.sole() == Some(k))
    })
    .0
}

fn takeover_limit() -> Duration {
    Duration::from_millis(TAKEOVER_BOUND_MS + 3000)
}

fn crash(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("{} ({role}) crashes", NAMES[x]);
    c.ns.crash(x);
    clear_rsctmp(&c.ns, x);
    c.dirty.stopped[x] = true;
    settle_on(c, Some(1 - x), takeover_limit());
}

fn kill9_hbd(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("kill -9 of {}'s hbd alone ({role})", NAMES[x]);
    let from = c.now();
    c.ns.kill9(x);
    // The peer declares it dead (and, if it held the group, takes it while
    // the machine keeps it: blind until hbd is back).
    let _ = c.watch(takeover_limit(), |o| {
        o.peer(1 - x) == Some(NodeState::Dead) && o.group(1 - x) != Some(GroupState::Starting)
    });
    c.start(x);
    s.blind.push((from, c.now() + BLIND_TAIL_MS));
}

fn sigstop(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    let hold = ms(c, DEADTIME_MS / 2, 3 * DEADTIME_MS);
    s.what = format!("SIGSTOP of {}'s hbd ({role}) for {hold} ms", NAMES[x]);
    let Some(pid) = c.ns.pid(x) else { return };
    let from = c.now();
    lab::signal(pid, "STOP");
    c.dirty.frozen[x] = true;
    sleep(Duration::from_millis(hold));
    lab::signal(pid, "CONT");
    c.dirty.frozen[x] = false;
    s.blind.push((from, c.now() + BLIND_TAIL_MS));
}

/// SIGTERM to node `x`'s hbd; a daemon that does not exit within 15 s is
/// a violation (and is killed).
fn terminate(c: &mut Campaign, x: usize) {
    if c.ns.terminate(x, Duration::from_secs(15)).is_none() {
        c.violate(
            "hbd exited by itself",
            format!("{}'s hbd did not exit within 15 s of SIGTERM", NAMES[x]),
        );
    }
    c.dirty.stopped[x] = true;
}

fn stop_start(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("{} ({role}) stopped, then started", NAMES[x]);
    terminate(c, x);
    settle_on(c, Some(1 - x), takeover_limit());
}

fn restart(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("{} ({role}) restarted", NAMES[x]);
    terminate(c, x);
    c.start(x);
}

fn simul(c: &mut Campaign, s: &mut Step) {
    s.what = "both stopped at once, then started at once".into();
    let from = c.now();
    for i in 0..2 {
        if let Some(pid) = c.ns.pid(i) {
            lab::signal(pid, "TERM");
        }
        c.dirty.stopped[i] = true;
    }
    let gone = testkit::wait_for(Duration::from_secs(15), || {
        (!c.ns.running(0) && !c.ns.running(1)).then_some(())
    });
    if gone.is_none() {
        c.violate(
            "hbd exited by itself",
            "a daemon did not exit within 15 s of SIGTERM".into(),
        );
        c.ns.kill9(0);
        c.ns.kill9(1);
    }
    c.start(0);
    c.start(1);
    // Nobody holds it while both are down, by the operator's will; then
    // both wait for the other to say it is stable, up to RQSTDELAY (10 s):
    // heartbeat's start-up negotiation (spec §6.5), which hbd keeps.
    s.nobody_ok.push((from, c.now() + RQSTDELAY_MS));
}

fn standby(c: &mut Campaign, s: &mut Step) {
    let h = c.holder().unwrap_or(0);
    s.what = format!("hbd standby on {} (holder)", NAMES[h]);
    let _ = c.hbd_cli(h, &["standby"]);
    settle_on(c, Some(1 - h), Duration::from_secs(10));
}

fn takeover(c: &mut Campaign, s: &mut Step) {
    let o = 1 - c.holder().unwrap_or(0);
    s.what = format!("hbd takeover on {} (peer)", NAMES[o]);
    let _ = c.hbd_cli(o, &["takeover"]);
    settle_on(c, Some(o), Duration::from_secs(10));
}

fn ucast_cut(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    let hold = ms(c, 1000, 3000);
    s.what = format!("ucast cable of {} ({role}) down {hold} ms", NAMES[x]);
    c.ns.nodes[x].set_link("hb0", false);
    c.dirty.link_down[x] = true;
    sleep(Duration::from_millis(hold));
}

fn serial_pulled(c: &mut Campaign, s: &mut Step) {
    let hold = ms(c, 1000, 3000);
    s.what = format!("serial cable pulled {hold} ms");
    c.ns.serial_cable(false);
    c.dirty.serial_pulled = true;
    sleep(Duration::from_millis(hold));
}

fn split_brain(c: &mut Campaign, s: &mut Step) {
    let (x, _) = pick(c);
    let hold = ms(c, 1500, 4000);
    s.what = format!("both links cut {hold} ms (at {}), healed", NAMES[x]);
    let from = c.now();
    c.ns.nodes[x].set_link("hb0", false);
    c.ns.serial_cable(false);
    c.dirty.link_down[x] = true;
    c.dirty.serial_pulled = true;
    sleep(Duration::from_millis(hold));
    c.ns.nodes[x].set_link("hb0", true);
    c.ns.serial_cable(true);
    c.dirty.link_down[x] = false;
    c.dirty.serial_pulled = false;
    s.blind.push((from, c.now() + BLIND_TAIL_MS));
}

fn asymmetric(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    let hold = ms(c, 1500, 4000);
    s.what = format!(
        "{}→{} dropped on ucast, serial pulled, {hold} ms ({role} deaf)",
        NAMES[x],
        NAMES[1 - x]
    );
    let from = c.now();
    c.ns.serial_cable(false);
    c.ns.nodes[x].set_loss("hb0", 100);
    c.dirty.serial_pulled = true;
    c.dirty.loss[x] = true;
    sleep(Duration::from_millis(hold));
    c.ns.nodes[x].set_loss("hb0", 0);
    c.ns.serial_cable(true);
    c.dirty.serial_pulled = false;
    c.dirty.loss[x] = false;
    s.blind.push((from, c.now() + BLIND_TAIL_MS));
}

// The serial link stays whole during a loss burst, so no status goes
// missing for deadtime whatever nftables drops: any overlap is a violation.
fn loss_burst(c: &mut Campaign, s: &mut Step) {
    let pct = ms(c, 20, 60) as u32;
    let hold = ms(c, 2000, 5000);
    s.what = format!("{pct}% loss both ways on ucast {hold} ms (serial up)");
    for i in 0..2 {
        c.ns.nodes[i].set_loss("hb0", pct);
        c.dirty.loss[i] = true;
    }
    sleep(Duration::from_millis(hold));
}

// No netem in the kernel: delay is the serial relay stopped for 100-400 ms at
// a time (its bytes arrive late, in a burst) while ucast loses half. The
// longest silence on serial, 400 ms + a keepalive, leaves 400 ms to
// deadtime: no death unless a daemon stalls that long.
fn delay_burst(c: &mut Campaign, s: &mut Step) {
    let pulses = ms(c, 4, 8);
    s.what = format!("serial delayed in {pulses} pulses of 100-400 ms, 50% ucast loss");
    for i in 0..2 {
        c.ns.nodes[i].set_loss("hb0", 50);
        c.dirty.loss[i] = true;
    }
    for _ in 0..pulses {
        let p = ms(c, 100, 400);
        c.ns.serial_cable(false);
        sleep(Duration::from_millis(p));
        c.ns.serial_cable(true);
        sleep(Duration::from_millis(KEEPALIVE_MS));
    }
}

/// The holder crashes while the peer's start of campfault fails or hangs:
/// nobody can hold the group until the restore brings the holder back.
fn start_trouble(c: &mut Campaign, s: &mut Step, flag: &str) {
    let h = c.holder().unwrap_or(0);
    let o = 1 - h;
    s.what = format!("{} crashes while {}'s start {flag}", NAMES[h], NAMES[o]);
    fs::write(c.flag(o, &format!("start-{flag}")), "").unwrap();
    let from = c.now();
    c.ns.crash(h);
    clear_rsctmp(&c.ns, h);
    c.dirty.stopped[h] = true;
    let (settled, _, last) = c.watch(
        Duration::from_millis(TAKEOVER_BOUND_MS + 2 * SCRIPT_TIMEOUT_MS + 3000),
        move |ob| {
            matches!(ob.group(o), Some(GroupState::Failed | GroupState::Stopped))
                && !ob.addr[o]
                && !ob.mnt[o]
        },
    );
    if !settled {
        c.violate(
            "healthy pair after restoring",
            format!("a failed start left {}: {}", NAMES[o], last.describe()),
        );
    }
    // Right by design until the holder is back (the restore starts it).
    s.nobody_ok.push((from, u64::MAX));
}

fn start_fails(c: &mut Campaign, s: &mut Step) {
    start_trouble(c, s, "fail");
}

fn start_hangs(c: &mut Campaign, s: &mut Step) {
    start_trouble(c, s, "hang");
}

/// A standby of the holder whose stop of campfault fails or hangs for a
/// while: the peer must not start while the holder may still be active.
fn stop_trouble(c: &mut Campaign, s: &mut Step, flag: &str) {
    let h = c.holder().unwrap_or(0);
    let hold = if flag == "hang" {
        SCRIPT_TIMEOUT_MS + 500
    } else {
        800
    };
    s.what = format!(
        "standby of {} while its stop {flag}s for {hold} ms",
        NAMES[h]
    );
    fs::write(c.flag(h, &format!("stop-{flag}")), "").unwrap();
    let _ = c.hbd_cli(h, &["standby"]);
    sleep(Duration::from_millis(hold));
    let _ = fs::remove_file(c.flag(h, &format!("stop-{flag}")));
    settle_on(c, Some(1 - h), Duration::from_secs(10));
}

fn stop_fails(c: &mut Campaign, s: &mut Step) {
    stop_trouble(c, s, "fail");
}

fn stop_hangs(c: &mut Campaign, s: &mut Step) {
    stop_trouble(c, s, "hang");
}

fn monitor_fails(c: &mut Campaign, s: &mut Step) {
    let h = c.holder().unwrap_or(0);
    s.what = format!("campfault's status fails on {} (holder)", NAMES[h]);
    let flag = c.flag(h, "monitor-fail");
    fs::write(&flag, "").unwrap();
    // The monitor (every 300 ms) restarts campfault, whose start clears it.
    let repaired = testkit::wait_for(Duration::from_secs(5), || (!flag.exists()).then_some(()));
    if repaired.is_none() {
        c.violate(
            "monitor restarts a failed resource",
            format!("campfault still failed on {} 5 s later", NAMES[h]),
        );
    }
    settle_on(c, Some(h), Duration::from_secs(5));
}

fn hup(c: &mut Campaign, x: usize, text: &str) -> u64 {
    let before = c.log_len(x);
    fs::write(c.toml_path(x), text).unwrap();
    c.dirty.toml_changed[x] = true;
    if let Some(pid) = c.ns.pid(x) {
        lab::signal(pid, "HUP");
    }
    before
}

fn hup_changed(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("SIGHUP to {} ({role}) with warntime changed", NAMES[x]);
    let text = c.toml[x].replace("warntime = \"500ms\"", "warntime = \"700ms\"");
    hup(c, x, &text);
    sleep(Duration::from_millis(800));
}

fn hup_broken(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("SIGHUP to {} ({role}) with a broken hbd.toml", NAMES[x]);
    let text = c.toml[x].replace(
        &format!("deadtime = \"{DEADTIME_MS}ms\""),
        "deadtime = \"3O\"",
    );
    let before = hup(c, x, &text);
    let named = testkit::wait_for(Duration::from_secs(3), || {
        let new = c.log_since(x, before);
        (new.contains("hbd.toml:") && new.contains("deadtime")).then_some(())
    });
    if named.is_none() {
        c.violate(
            "a broken reload is reported",
            format!(
                "{}'s log does not name hbd.toml:LINE and deadtime",
                NAMES[x]
            ),
        );
    }
}

fn full_state_dir(c: &mut Campaign, s: &mut Step) {
    let (x, role) = pick(c);
    s.what = format!("{} ({role}) restarted on a full state dir", NAMES[x]);
    terminate(c, x);
    let state = c.ns.on_node(Dir::Lib).join("hbd").display().to_string();
    c.ns.nodes[x].must(&["mount", "-t", "tmpfs", "-o", "size=16k", "hbdfull", &state]);
    c.dirty.full[x] = true;
    let _ = c.ns.nodes[x].sh(&format!(
        "dd if=/dev/zero of={state}/fill bs=4k count=64 2>/dev/null"
    ));
    let before = c.log_len(x);
    c.start(x);
    c.dirty.stopped[x] = true;
    sleep(Duration::from_millis(2000));
    let log = c.log_since(x, before);
    if log.contains("panicked") {
        c.violate(
            "hbd exited by itself",
            format!("{} panicked on a full state dir", NAMES[x]),
        );
    } else if !c.ns.running(x) && !log.contains(&state) {
        c.violate(
            "a broken reload is reported",
            format!("{} exited on a full state dir without naming it", NAMES[x]),
        );
    }
}
