//! Deterministic two-node simulation of the core (see tests/sim/world.rs).
//!
//! `HBD_SIM_SEEDS=N` runs N seeds per scenario (default 400);
//! `HBD_SIM_SEED=S HBD_SIM_SCENARIO=Name` replays one run with its trace.

// Index loops over the two nodes read better than zipped iterators here.
#![allow(clippy::needless_range_loop)]

mod sim {
    pub mod scenarios;
    pub mod world;
}

use sim::scenarios::{run, Scenario, ALL};

fn seeds() -> u64 {
    std::env::var("HBD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

fn sweep(s: Scenario) {
    if let Ok(seed) = std::env::var("HBD_SIM_SEED") {
        let want = std::env::var("HBD_SIM_SCENARIO").unwrap_or_default();
        if !want.is_empty() && want != format!("{s:?}") {
            return;
        }
        let seed: u64 = seed.parse().expect("HBD_SIM_SEED must be a number");
        match run(s, seed) {
            Ok(w) => println!("{s:?} seed {seed}: ok\n{}", w.tail(usize::MAX)),
            Err(b) => panic!("{s:?} seed {seed}: {}\n{}", b.1, b.0.tail(usize::MAX)),
        }
        return;
    }
    let n = seeds();
    let mut steps = 0;
    for seed in 0..n {
        match run(s, seed) {
            Ok(w) => steps += w.steps,
            Err(b) => panic!(
                "{s:?} seed {seed}: {}\n--- last trace lines ---\n{}\n--- replay: HBD_SIM_SEED={seed} HBD_SIM_SCENARIO={s:?} cargo test --test sim -- --nocapture",
                b.1,
                b.0.tail(60)
            ),
        }
    }
    println!("{s:?}: {n} seeds, {steps} simulation steps");
}

#[test]
fn sim_startup() {
    sweep(ALL[0]);
}
#[test]
fn sim_crash() {
    sweep(ALL[1]);
}
#[test]
fn sim_crash_restart() {
    sweep(ALL[2]);
}
#[test]
fn sim_shutdown() {
    sweep(ALL[3]);
}
#[test]
fn sim_standby() {
    sweep(ALL[4]);
}
#[test]
fn sim_takeover() {
    sweep(ALL[5]);
}
#[test]
fn sim_partition() {
    sweep(ALL[6]);
}
#[test]
fn sim_flaky() {
    sweep(ALL[7]);
}
#[test]
fn sim_stall() {
    sweep(ALL[8]);
}
#[test]
fn sim_failed_start() {
    sweep(ALL[9]);
}
#[test]
fn sim_failed_stop() {
    sweep(ALL[10]);
}
#[test]
fn sim_chaos() {
    sweep(ALL[11]);
}
#[test]
fn sim_fencing() {
    sweep(ALL[12]);
}
#[test]
fn sim_uplink() {
    sweep(ALL[13]);
}
#[test]
fn sim_monitor() {
    sweep(ALL[14]);
}
#[test]
fn sim_persistent_standby() {
    sweep(ALL[15]);
}
