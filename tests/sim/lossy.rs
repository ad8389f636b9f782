//! Long runs on links with heavy random loss (issue 22): two hbd cores,
//! every link dropping each datagram with probability p, nothing else going
//! wrong, for simulated hours. Every peer death is false. With redundancy
//! on there must be none; with it off they must come as often as the
//! arithmetic says, which shows the count can see them.

use super::world::*;
use hbd::config::Redundancy;
use hbd::core::Event;
use hbd::time::{Duration, Instant};

/// What one run saw.
pub struct Outcome {
    /// `(when, node)` of every peer death declared after the start-up.
    pub deaths: Vec<(Instant, usize)>,
    /// Copies per status on the UDP link at the end, per node.
    pub copies: [u32; 2],
    /// The UDP link's loss each node measured at the end, `(lost, of)`.
    pub measured: [Option<(u32, u32)>; 2],
    pub steps: u64,
}

/// Both nodes up, every link losing `loss_pct` % each way, for `hours`.
pub fn run(
    seed: u64,
    loss_pct: u64,
    redundancy: Redundancy,
    hours: f64,
) -> Result<Outcome, String> {
    let mut cfg = config(hbd::config::AutoFailback::Off);
    cfg.hbd.redundancy = redundancy;
    let mut w = World::new(seed, cfg);
    for from in 0..2 {
        for l in 0..2 {
            w.links[from][l].loss_pct = loss_pct;
            w.links[from][l].dup_pct = 0;
        }
    }
    w.max_steps = u64::MAX;
    // The trace of a day is long; only its end is ever shown.
    w.trace_limit = Some(200);
    w.start(0);
    w.start(1);
    let settled = Instant::from_millis(INITDEAD + 15_000);
    w.run_until(settled)?;
    let end = settled + Duration::from_millis((hours * 3_600_000.0) as u64);
    // In slices, so that the events of a day need not all be kept.
    let mut deaths = Vec::new();
    while w.now < end {
        let next = (w.now + Duration::from_secs(600)).min(end);
        w.run_until(next)?;
        for i in 0..2 {
            for (at, e) in w.events[i].drain(..) {
                if matches!(e, Event::PeerDead { .. }) && at > settled {
                    deaths.push((at, i));
                }
            }
        }
    }
    let status = |i: usize| w.nodes[i].as_ref().map(|n| n.node.status());
    let copies = [0, 1].map(|i| status(i).map_or(0, |s| s.links[0].copies));
    let measured = [0, 1].map(|i| status(i).and_then(|s| s.links[0].rx_loss));
    Ok(Outcome {
        deaths,
        copies,
        measured,
        steps: w.steps,
    })
}

/// Expected false deaths per hour of the pair (both directions) without
/// redundancy, in this world: keepalive K = 1 s, deadtime D = 5 s, a fast
/// link (delay uniform 1-20 ms) and a slow one (60-160 ms), each losing a
/// datagram with probability p, independently.
///
/// A status is lost when both links lose it: q = p². The peer is declared
/// dead D after the first copy of its last status arrived (delay δ₀), so
/// after the 4 statuses that follow it are lost, the fifth, due exactly at
/// the deadline, saves it only if it arrives and sooner than δ₀ after its
/// sending (δ₅ ≤ δ₀; at equal times the message is handled first). A death
/// starts in a status slot with probability (1 − q)·q⁴·r,
/// r = q + (1 − q)·P(δ₅ > δ₀), where a received status's delay is the fast
/// link's with probability 1/(1 + p) and the slow one's otherwise.
pub fn expected_deaths_per_hour(p: f64) -> f64 {
    let q = p * p;
    let fast = 1.0 / (1.0 + p);
    let slow = p / (1.0 + p);
    // Two draws from a uniform of n integers: P(second > first) = (1 − 1/n)/2.
    let later = |n: f64| (1.0 - 1.0 / n) / 2.0;
    let p_late = slow * fast + fast * fast * later(20.0) + slow * slow * later(101.0);
    let r = q + (1.0 - q) * p_late;
    let per_slot = (1.0 - q) * q.powi(4) * r;
    2.0 * 3600.0 * per_slot
}
