//! The campaign's section of RELIABILITY.md: per seed, the must-be-zero
//! invariants with their counts, the overlaps the blind windows allowed,
//! and per fault class its count, worst client outage and heal time.

use crate::campaign::faults::CLASSES;
use crate::{
    Outcome, Step, BLIND_TAIL_MS, DEADTIME_MS, FLOAT, INITDEAD_MS, KEEPALIVE_MS, SCRIPT_TIMEOUT_MS,
    TAKEOVER_BOUND_MS,
};
use std::collections::BTreeMap;
use testkit::reliability;

pub fn report(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "## Randomized fault campaign (tests/campaign.rs)\n\n{}\n\n",
        reliability::provenance()
    );
    s.push_str(&format!(
        "A pair of `hbd run` on the namespace lab (ucast over a veth cable + serial over a socat pty pair; keepalive \
         {KEEPALIVE_MS} ms, deadtime {DEADTIME_MS} ms, initdead {INITDEAD_MS} ms, script_timeout {SCRIPT_TIMEOUT_MS} ms, \
         auto_failback off), one group: `IPaddr::{FLOAT}/24/svc0`, an ext4 disk on a loop device (Filesystem), the \
         `hbweb` service and `campfault` (fails or hangs on demand; monitored every 300 ms, on_fail restart). Faults \
         drawn one after another by a seeded generator; after each the pair is restored and must be healthy again. \
         The auditor reads both kernels' addresses and mounts every ~4 ms and asks the service from a client \
         namespace every ~20 ms. Blind windows (an overlap may begin there: no fencing can prevent it) are exactly: \
         a partition or one direction cut (from the cut to the heal), a SIGSTOPped hbd (STOP to CONT), hbd killed \
         while its machine keeps the address (kill to restart), each until {BLIND_TAIL_MS} ms after its end (a keepalive: \
         a death declared before the first status after the heal, and its address start). Bounds: takeover and heal {TAKEOVER_BOUND_MS} ms \
         (deadtime + 2 s start-up boost + 2 s scripts). Regenerate: `HBD_CAMPAIGN_MINUTES=60 HBD_WRITE_RELIABILITY=1 \
         cargo test --release --test campaign -- --nocapture` as root (docs/reliability.md).\n\n"
    ));
    for o in outcomes {
        let blind: Vec<u64> = o.steps.iter().flat_map(|s| s.blind_dual.clone()).collect();
        s.push_str(&format!(
            "### Seed {:#x}: {} faults in {:.1} min, {} violation(s)\n\n",
            o.seed,
            o.steps.len(),
            o.minutes,
            o.violations.len()
        ));
        s.push_str("| invariant | must be | count |\n|---|---|---|\n");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for inv in INVARIANTS {
            counts.insert(inv, 0);
        }
        for v in &o.violations {
            *counts.entry(v.invariant).or_default() += 1;
        }
        for (inv, n) in &counts {
            s.push_str(&format!("| {inv} | 0 | {n} |\n"));
        }
        s.push_str(&format!(
            "| address on both nodes begun in a blind window (reported) | – | {} episode(s), longest {} ms |\n\n",
            blind.len(),
            blind.iter().max().copied().unwrap_or(0)
        ));
        s.push_str(
            "| class | CTS test | faults | overlaps in blind windows (longest ms) | worst client outage (ms) | worst heal after restore (ms) |\n|---|---|---|---|---|---|\n",
        );
        for f in CLASSES {
            let of: Vec<&Step> = o.steps.iter().filter(|s| s.class == f.name).collect();
            if of.is_empty() {
                continue;
            }
            let bd: Vec<u64> = of.iter().flat_map(|s| s.blind_dual.clone()).collect();
            s.push_str(&format!(
                "| {} | {} | {} | {} ({}) | {} | {} |\n",
                f.name,
                f.cts,
                of.len(),
                bd.len(),
                bd.iter().max().copied().unwrap_or(0),
                of.iter().map(|s| s.outage_ms).max().unwrap_or(0),
                of.iter().map(|s| s.heal_ms).max().unwrap_or(0)
            ));
        }
        for v in &o.violations {
            s.push_str(&format!(
                "\n* **violation** at fault {}: {}: {}",
                v.step,
                v.invariant,
                reliability::md(&v.what.chars().take(400).collect::<String>())
            ));
        }
        s.push('\n');
    }
    s
}

/// The must-be-zero invariants, as [`Campaign::violate`] names them.
pub const INVARIANTS: [&str; 8] = [
    "no dual ownership while the pair can talk",
    "overlap outlived its blind window",
    "no one owns (beyond deadtime + boost + scripts)",
    "status --json agrees with the kernel",
    "client served by the holder once settled",
    "healthy pair after restoring",
    "hbd exited by itself",
    "campaign step completed",
];
