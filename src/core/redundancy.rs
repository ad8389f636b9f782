//! Loss-adaptive redundancy, hbd-to-hbd only (issue 22): each link's loss
//! measured from the peer's numbers, reported back to an hbd peer in our
//! statuses, and each status sent several times on a UDP link, as often as
//! the loss the peer reports there needs.
//!
//! Why: a peer is declared dead when no status arrives for deadtime. With
//! statuses every keepalive K and each datagram lost with probability p,
//! that takes about N = ⌈k·D/K⌉ − 1 datagrams in a row to be lost when each
//! status goes k times, spaced K/k apart (the next one races the deadline:
//! counted as lost). A run of N losses starts in a slot with probability
//! (1 − p)·p^N, so the expected false deaths per day on one link, one way,
//! are `86 400 s / K · k · (1 − p) · p^N` ([`false_deaths_per_day`]). At
//! heartbeat's k = 1, 20 % loss, K = 200 ms, D = 1 s that is 550 a day; k is
//! chosen as the smallest that brings it below [`FALSE_DEATHS_PER_DAY`] at
//! an upper bound of the measured loss ([`loss_bound`]).
//!
//! How, on the wire (docs/wire.md): toward an hbd peer (one that writes no
//! `ld`), each status goes per link; on a UDP link it carries `hbdn`, its
//! number among the statuses and copies sent there, and `hbdloss`, what we
//! measured of the peer's numbered datagrams on that link. The receiver
//! counts the gaps in `hbdn` (copies included: the loss of datagrams, not of
//! messages) and answers with its own `hbdloss`. Serial links carry neither
//! (compact frames have no room, classic ones already fill a slow line) and
//! get no copies; their loss is still measured, from the sequence numbers.
//! Toward a heartbeat peer nothing changes: one plain status on every link.
//!
//! Riding the peer's wake-ups (issue 18): an idle node's cost is being
//! woken, once by each of its own sends and once by each of the peer's
//! datagrams. When a fresh numbered datagram of the peer arrives on a UDP
//! link and our next datagram there (a copy, or the next status) is due
//! within [`ride_window`] (half the spacing), it goes at once, and the one after it is planned
//! [`ride_lag`] later than the spacing, so that the peer's next datagram
//! comes first again despite jitter. Two hbd nodes lock that way: one sends
//! on its timer, the other from the wake-up that datagram causes, and the
//! follower is woken half as often. A datagram goes at most half a spacing
//! earlier (once, when the lock is taken: more often is no risk to
//! liveness), and later by the lag only when the peer's datagram that would
//! have carried it did not come. Over a deadtime that is a whole number of
//! keepalives the count of our datagrams is unchanged, so is the loss
//! arithmetic above.

#![forbid(unsafe_code)]

use crate::config::{Config, Medium, Redundancy as Mode};
use crate::core::events::Event;
use crate::core::machine::Machine;
use crate::core::timers::Timer;
use crate::core::LinkId;
use crate::time::{Duration, Instant};
use crate::wire::repr::{Body, Kind, LinkReport};
use crate::wire::Repr;
use std::collections::VecDeque;

/// The false-death rate the copies are sized for: expected false deaths per
/// day on one link in one direction, at the measured loss.
pub const FALSE_DEATHS_PER_DAY: f64 = 1e-6;
/// Copies of each status always sent on a UDP link to an hbd peer. Loss is
/// only seen after it happened: at 20 % loss the first lost status is
/// followed by the 4 more that kill a pair at K = 200 ms, D = 1 s with
/// P = 0.2⁴ = 1.6·10⁻³, before any report could come back. Two copies make
/// that 0.04⁴ = 2.6·10⁻⁶.
pub const MIN_COPIES: u32 = 2;
/// At most this many copies of one status on one link.
pub const MAX_COPIES: u32 = 8;
/// Bandwidth cap per UDP link for statuses and their copies.
pub const CAP_BYTES_PER_SEC: u64 = 64 * 1024;
/// What one status datagram counts for under the cap (a classic status with
/// uuids, link fields and a sha1 MAC is 250-350 bytes).
pub const STATUS_BYTES: u64 = 400;
/// The receiver's window: the last this many numbers of the peer on a link.
pub const WINDOW: usize = 256;
/// Nothing is reported before this many numbers were counted on a link.
pub const MIN_REPORT: u32 = 32;
/// A datagram whose sequence number is this far behind the newest the core
/// accepted is stale (a serial line's buffer emptied when its cable came
/// back, a queue released after a stall): it says nothing of the link's
/// loss now and is not counted.
pub const STALE_SEQS: u64 = 32;
/// A link's loss is warned of at most this often.
pub const LOSS_WARN_EVERY: Duration = Duration::from_secs(600);

/// How much earlier than planned a datagram may go when the peer's fresh
/// datagram arrives: half the spacing of our datagrams on the link. Half,
/// so that whatever the two nodes' phases, one of them is within it of the
/// other's arrivals from the first one on (the phases do not drift, so a
/// narrower window would leave most pairs unlocked for good); no more, so
/// that the datagram that rode, arriving at the peer just after the peer's
/// own send, finds the peer's next one a whole spacing away (no ping-pong).
pub fn ride_window(spacing: Duration) -> Duration {
    Duration::from_millis(spacing.millis() / 2)
}

/// How much later than the spacing the datagram after one that rode the
/// peer's arrival is planned: a sixteenth of the spacing, at least 2 ms
/// (above a LAN's jitter and the shell's millisecond clock, whose rounding
/// alone moves an arrival by 1 ms; 31 ms in the simulation, whose delays
/// vary by 19).
pub fn ride_lag(spacing: Duration) -> Duration {
    Duration::from_millis((spacing.millis() / 16).max(2))
}

/// Consecutive lost datagrams that make a false death when each status goes
/// `k` times per `keepalive` against `deadtime` (at least 1).
pub fn losses_to_die(k: u32, keepalive: Duration, deadtime: Duration) -> u32 {
    let (k, ka, dt) = (
        k.max(1) as u64,
        keepalive.millis().max(1),
        deadtime.millis(),
    );
    ((k * dt).div_ceil(ka)).saturating_sub(1).max(1) as u32
}

/// Expected false deaths per day on one link, one way, at loss `p` with `k`
/// copies per status (see the module docs for the arithmetic).
pub fn false_deaths_per_day(p: f64, k: u32, keepalive: Duration, deadtime: Duration) -> f64 {
    let p = p.clamp(0.0, 1.0);
    let slots = 86_400_000.0 / keepalive.millis().max(1) as f64 * k.max(1) as f64;
    slots * (1.0 - p) * p.powi(losses_to_die(k, keepalive, deadtime) as i32)
}

/// An upper bound of a link's loss from `lost` of `of` counted datagrams:
/// the count plus two Poisson standard deviations plus one, so that a short
/// clean count does not read as no loss. 1 when nothing was counted.
pub fn loss_bound(lost: u32, of: u32) -> f64 {
    if of == 0 {
        return 1.0;
    }
    let lost = lost as f64;
    ((lost + 2.0 * (lost + 1.0).sqrt() + 1.0) / of as f64).min(1.0)
}

/// The fewest copies (up to [`MAX_COPIES`]) that keep the false deaths at
/// loss `p` below [`FALSE_DEATHS_PER_DAY`]; None if even that many do not.
pub fn copies_needed(p: f64, keepalive: Duration, deadtime: Duration) -> Option<u32> {
    (1..=MAX_COPIES)
        .find(|&k| false_deaths_per_day(p, k, keepalive, deadtime) <= FALSE_DEATHS_PER_DAY)
}

/// The most copies per status the bandwidth cap allows at `keepalive`.
pub fn copies_allowed(keepalive: Duration) -> u32 {
    let per_keepalive = CAP_BYTES_PER_SEC * keepalive.millis() / 1000 / STATUS_BYTES;
    per_keepalive.clamp(1, MAX_COPIES as u64) as u32
}

/// How many times each status goes on a UDP link whose loss the peer last
/// reported as `report` (`lost`, `of`).
pub fn copies(report: Option<(u32, u32)>, keepalive: Duration, deadtime: Duration) -> u32 {
    let want = match report {
        None => MIN_COPIES,
        Some((lost, of)) => copies_needed(loss_bound(lost, of), keepalive, deadtime)
            .unwrap_or(MAX_COPIES)
            .max(MIN_COPIES),
    };
    want.min(copies_allowed(keepalive))
}

/// How often something that happens `per_day` times a day happens, in words.
pub fn every(per_day: f64) -> String {
    if per_day * 365.0 * 1e6 < 1.0 {
        return "less than once in a million years".into();
    }
    let secs = 86_400.0 / per_day;
    let (n, unit) = if secs < 120.0 {
        (secs, "second")
    } else if secs < 7_200.0 {
        (secs / 60.0, "minute")
    } else if secs < 2.0 * 86_400.0 {
        (secs / 3_600.0, "hour")
    } else if secs < 730.0 * 86_400.0 {
        (secs / 86_400.0, "day")
    } else {
        (secs / 86_400.0 / 365.0, "year")
    };
    let n = n.round().max(1.0);
    if n == 1.0 {
        format!("every {unit}")
    } else {
        format!("every {n:.0} {unit}s")
    }
}

/// The shortest dead time, from `deadtime` up in keepalives (whole seconds
/// from 2 s), that keeps the false deaths at loss `p` with `copies` per
/// status below [`FALSE_DEATHS_PER_DAY`]; None beyond an hour.
pub fn deadtime_for(
    p: f64,
    copies: u32,
    keepalive: Duration,
    deadtime: Duration,
) -> Option<Duration> {
    if p >= 1.0 {
        return None;
    }
    let ka = keepalive.millis().max(1);
    let mut d = deadtime.millis().div_ceil(ka) * ka;
    while d <= 3_600_000 {
        let dur = Duration::from_millis(d);
        if false_deaths_per_day(p, copies, keepalive, dur) <= FALSE_DEATHS_PER_DAY {
            let d = if d >= 2000 {
                d.div_ceil(1000) * 1000
            } else {
                d
            };
            return Some(Duration::from_millis(d));
        }
        d += ka;
    }
    None
}

/// What losing `lost` of the peer's last `of` datagrams on `link` means for
/// the dead time we apply to the peer (`deadtime`), with its statuses coming
/// `copies` times every `keepalive`, if this link were the only one. None
/// while too little was counted ([`MIN_REPORT`]) or a false death stays
/// below [`FALSE_DEATHS_PER_DAY`]. `hbd_peer`: the peer could send copies.
pub fn advice(
    link: &str,
    (lost, of): (u32, u32),
    copies: u32,
    keepalive: Duration,
    deadtime: Duration,
    hbd_peer: bool,
) -> Option<String> {
    if of < MIN_REPORT || lost == 0 {
        return None;
    }
    let p = lost as f64 / of as f64;
    let rate = false_deaths_per_day(p, copies, keepalive, deadtime);
    if rate <= FALSE_DEATHS_PER_DAY {
        return None;
    }
    let mut s = format!(
        "at {:.0} % loss on {link} ({lost} of the peer's last {of} datagrams), deadtime {deadtime} gives a false death about {} if {link} is the only link",
        p * 100.0,
        every(rate)
    );
    if copies > 1 {
        s.push_str(&format!(" (even with {copies} copies of each status)"));
    }
    let raise = match deadtime_for(p, copies, keepalive, deadtime) {
        Some(d) => format!("raise deadtime to {d}"),
        None => "fix the link (no deadtime under an hour helps)".into(),
    };
    s.push_str(&format!("; {raise}, add a link"));
    if copies == 1 && hbd_peer {
        s.push_str(", or let hbd send redundantly (`[hbd] redundancy = \"adaptive\"` on the peer)");
    } else if copies == 1 {
        s.push_str(" (a heartbeat peer sends each status once)");
    }
    Some(s)
}

/// What became of a datagram the window was told about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Arrival {
    /// A number not counted before.
    Fresh,
    /// Counted already, too old for the window, or not a number this link counts.
    Again,
}

/// The receiver's count of the peer's numbers on one link: `hbdn` when the
/// peer writes it there, else its sequence numbers (a heartbeat peer, a
/// serial link). A sequence number below the highest is a retransmission or
/// a copy on another link and fills no gap; a late `hbdn` (reordering) does.
#[derive(Clone, Debug, Default)]
pub(super) struct LossWindow {
    by_link_number: bool,
    highest: Option<u64>,
    /// Whether each number up to `highest` arrived, oldest first.
    seen: VecDeque<bool>,
}

impl LossWindow {
    /// Counts `number` (`hbdn` if `link_number`, else the sequence number).
    pub(super) fn note(&mut self, number: u64, link_number: bool) -> Arrival {
        if link_number && !self.by_link_number {
            *self = LossWindow {
                by_link_number: true,
                ..LossWindow::default()
            };
        } else if !link_number && self.by_link_number {
            return Arrival::Again;
        }
        let Some(highest) = self.highest else {
            self.highest = Some(number);
            self.seen.push_back(true);
            return Arrival::Fresh;
        };
        if number > highest {
            let gap = number - highest - 1;
            if gap >= WINDOW as u64 {
                // A silence that long is an outage, not random loss.
                self.seen.clear();
            } else {
                self.seen
                    .extend(std::iter::repeat(false).take(gap as usize));
            }
            self.seen.push_back(true);
            while self.seen.len() > WINDOW {
                self.seen.pop_front();
            }
            self.highest = Some(number);
            return Arrival::Fresh;
        }
        let back = (highest - number) as usize;
        if !self.by_link_number || back >= self.seen.len() {
            return Arrival::Again;
        }
        let at = self.seen.len() - 1 - back;
        if self.seen[at] {
            return Arrival::Again;
        }
        self.seen[at] = true;
        Arrival::Fresh
    }

    /// `(lost, of)` over the window.
    pub(super) fn loss(&self) -> (u32, u32) {
        let lost = self.seen.iter().filter(|s| !**s).count() as u32;
        (lost, self.seen.len() as u32)
    }

    /// What we tell the peer: nothing until [`MIN_REPORT`] numbers were counted.
    fn report(&self) -> Option<(u32, u32)> {
        let (lost, of) = self.loss();
        (of >= MIN_REPORT).then_some((lost, of))
    }
}

/// Our side of one link toward an hbd peer.
#[derive(Clone, Debug)]
pub(super) struct LinkSend {
    /// Whether copies and link fields go on it (a UDP link).
    udp: bool,
    /// Our next `hbdn` on it.
    next_n: u64,
    /// The peer's last `hbdloss` about our datagrams on it.
    pub(super) report: Option<(u32, u32)>,
    /// How many times the last status went (or goes) on it.
    pub(super) k: u32,
    /// Copies of the last status still to send, and when the next is due.
    left: u32,
    next_copy: Option<Instant>,
    spacing: Duration,
}

pub(super) struct Redundancy {
    /// The peer's datagrams, per link in `Config::media` order.
    pub(super) rx: Vec<LossWindow>,
    pub(super) tx: Vec<LinkSend>,
    /// The last status sent to an hbd peer, without link fields: what the
    /// copies repeat.
    last_status: Option<Repr>,
    /// When each link's loss was last warned of.
    warned: Vec<Option<Instant>>,
    /// The link a fresh numbered datagram of the peer just came on.
    pub(super) arrived: Option<LinkId>,
}

impl Redundancy {
    pub(super) fn new(cfg: &Config) -> Redundancy {
        Redundancy {
            rx: vec![LossWindow::default(); cfg.media.len()],
            tx: cfg
                .media
                .iter()
                .map(|m| LinkSend {
                    udp: !matches!(m, Medium::Serial { .. }),
                    next_n: 1,
                    report: None,
                    k: 1,
                    left: 0,
                    next_copy: None,
                    spacing: Duration::ZERO,
                })
                .collect(),
            last_status: None,
            warned: vec![None; cfg.media.len()],
            arrived: None,
        }
    }

    /// When the next copy is due.
    pub(super) fn copy_due_at(&self) -> Option<Instant> {
        self.tx.iter().filter_map(|t| t.next_copy).min()
    }
}

/// `msg` (a status) with `link` as its per-link fields.
fn with_link(mut msg: Repr, link: LinkReport) -> Repr {
    if let Kind::Sequenced {
        body: Body::Status { link: l, .. },
        ..
    } = &mut msg.kind
    {
        *l = Some(link);
    }
    msg
}

impl Machine {
    /// Whether our statuses go per link with copies: redundancy is on and the
    /// peer is an hbd (it writes no `ld`).
    pub(super) fn sends_redundantly(&self) -> bool {
        self.cfg.hbd.redundancy == Mode::Adaptive && self.pair_is_hbd()
    }

    /// Sends a numbered, retransmittable `status` per link: on a UDP link
    /// with its link fields and followed by its copies, on a serial link
    /// plain. The history keeps it plain (a retransmission is no link datagram).
    pub(super) fn send_status_per_link(&mut self, now: Instant, body: Body) {
        let plain = self.sequenced(now, None, body);
        let (ka, dt) = (self.cfg.keepalive, self.cfg.deadtime);
        for i in 0..self.red.tx.len() {
            let tx = &mut self.red.tx[i];
            if !tx.udp {
                tx.left = 0;
                tx.next_copy = None;
                let msg = plain.clone();
                self.out.push_back(crate::core::Output::Send {
                    msg,
                    link: Some(LinkId(i)),
                });
                continue;
            }
            let k = copies(tx.report, ka, dt);
            tx.k = k;
            tx.left = k - 1;
            tx.spacing = Duration::from_millis(ka.millis() / k as u64);
            tx.next_copy = (tx.left > 0).then(|| now + tx.spacing);
            self.send_link_datagram(i, plain.clone());
        }
        self.red.last_status = Some(plain);
    }

    /// One numbered datagram of `plain` on UDP link `i`.
    fn send_link_datagram(&mut self, i: usize, plain: Repr) {
        let tx = &mut self.red.tx[i];
        let n = tx.next_n;
        tx.next_n += 1;
        let loss = self.red.rx[i].report();
        let msg = with_link(plain, LinkReport { n, loss });
        self.out.push_back(crate::core::Output::Send {
            msg,
            link: Some(LinkId(i)),
        });
    }

    /// Sends every copy that is due (`Timer::Copy`).
    pub(super) fn send_copies(&mut self, now: Instant) {
        let Some(plain) = self.red.last_status.clone() else {
            return;
        };
        let hbd = self.sends_redundantly();
        for i in 0..self.red.tx.len() {
            let tx = &mut self.red.tx[i];
            let Some(at) = tx.next_copy.filter(|at| *at <= now) else {
                continue;
            };
            if !hbd {
                tx.left = 0;
                tx.next_copy = None;
                continue;
            }
            tx.left -= 1;
            tx.next_copy = (tx.left > 0).then(|| at + tx.spacing);
            self.send_link_datagram(i, plain.clone());
        }
    }

    /// Sends our next datagram on the link a fresh numbered datagram of the
    /// peer just came on, if it is due within [`ride_window`] (see the
    /// module docs): a copy, or the status (which starts the copies anew).
    pub(super) fn ride_arrival(&mut self, now: Instant) {
        let Some(LinkId(i)) = self.red.arrived.take() else {
            return;
        };
        if !self.sends_redundantly() || self.liveness.peer_dead || self.red.last_status.is_none() {
            return;
        }
        let Some(tx) = self.red.tx.get_mut(i).filter(|t| t.udp) else {
            return;
        };
        let spacing = tx.spacing;
        let soon = now + ride_window(spacing);
        let status_at = self.timers.get(Timer::Keepalive);
        match tx.next_copy {
            Some(at) if at > now && at <= soon && !matches!(status_at, Some(s) if s < at) => {
                tx.left -= 1;
                tx.next_copy = (tx.left > 0).then(|| now + spacing + ride_lag(spacing));
                let plain = self.red.last_status.clone().expect("checked above");
                self.send_link_datagram(i, plain);
            }
            _ => {
                if !status_at.is_some_and(|s| s > now && s <= soon) {
                    return;
                }
                self.send_status(now);
                // Planned a lag later, on every link: the peer's next
                // datagrams come first.
                let ka = self.cfg.keepalive;
                self.timers
                    .set(Timer::Keepalive, now + ka + ride_lag(spacing));
                for tx in &mut self.red.tx {
                    if let Some(c) = tx.next_copy.as_mut() {
                        *c += ride_lag(tx.spacing);
                    }
                }
            }
        }
    }

    /// A datagram of the peer's current generation on `link`: counts it in the
    /// link's window (a link that was down starts a new one) and keeps the
    /// loss it reports about ours. Returns whether it was a fresh number.
    pub(super) fn link_datagram(
        &mut self,
        link: LinkId,
        seq: u64,
        report: Option<LinkReport>,
    ) -> Arrival {
        let stale = self
            .delivery
            .last_seq
            .is_some_and(|l| seq.saturating_add(STALE_SEQS) < l);
        let Some(rx) = self.red.rx.get_mut(link.0).filter(|_| !stale) else {
            return Arrival::Again;
        };
        if !self.liveness.links.get(link.0).is_some_and(|l| l.up) {
            *rx = LossWindow::default();
        }
        let arrival = match report {
            Some(r) => rx.note(r.n, true),
            None => rx.note(seq, false),
        };
        if arrival == Arrival::Fresh {
            if let Some(loss) = report.and_then(|r| r.loss) {
                self.red.tx[link.0].report = Some(loss);
            }
            if report.is_some() {
                self.red.arrived = Some(link);
            }
        }
        arrival
    }

    /// Link `i`'s count of the peer's numbers, once one came.
    pub(super) fn rx_loss(&self, i: usize) -> Option<(u32, u32)> {
        self.red.rx.get(i).map(LossWindow::loss).filter(|l| l.1 > 0)
    }

    /// How many times each status goes on link `i` now.
    pub(super) fn copies_on(&self, i: usize) -> u32 {
        match self.red.tx.get(i) {
            Some(t) if t.udp && self.sends_redundantly() => t.k,
            _ => 1,
        }
    }

    /// How many times the peer sends each status on link `i`: as many as
    /// the loss we report makes it choose when it numbers them (an hbd with
    /// redundancy on, same arithmetic on both sides), else once.
    pub(super) fn peer_copies_on(&self, i: usize) -> u32 {
        match self.red.rx.get(i) {
            Some(rx) if rx.by_link_number => {
                copies(rx.report(), self.cfg.keepalive, self.cfg.deadtime)
            }
            _ => 1,
        }
    }

    /// What link `i`'s loss means for the peer's dead time, if anything
    /// (nothing for a dead link: its silence says more).
    pub(super) fn link_advice(&self, i: usize) -> Option<String> {
        let loss = self.rx_loss(i)?;
        let name = &self.liveness.links.get(i).filter(|l| l.up)?.name;
        let hbd = self.pair_is_hbd();
        advice(
            name,
            loss,
            self.peer_copies_on(i),
            self.cfg.keepalive,
            self.liveness.dead_timeout,
            hbd,
        )
    }

    /// Warns of each link whose loss makes a false death likely, at most
    /// every [`LOSS_WARN_EVERY`] per link (called every keepalive).
    pub(super) fn warn_link_loss(&mut self, now: Instant) {
        if self.liveness.peer_dead || !self.liveness.comm_up {
            return;
        }
        for i in 0..self.red.rx.len() {
            let due =
                self.red.warned[i].map_or(true, |t| now.saturating_since(t) >= LOSS_WARN_EVERY);
            if !due {
                continue;
            }
            if let Some(advice) = self.link_advice(i) {
                self.red.warned[i] = Some(now);
                let (node, link) = (self.peer.clone(), self.liveness.links[i].name.clone());
                self.event(Event::LinkLoss { node, link, advice });
            }
        }
    }

    /// A restarted peer numbers afresh and measures afresh.
    pub(super) fn redundancy_peer_restarted(&mut self) {
        for rx in &mut self.red.rx {
            *rx = LossWindow::default();
        }
        for tx in &mut self.red.tx {
            tx.report = None;
        }
    }

    /// The media changed (reload): every link starts over.
    pub(super) fn redundancy_reconfigured(&mut self) {
        self.red = Redundancy::new(&self.cfg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KA: Duration = Duration::from_millis(200);
    const DT: Duration = Duration::from_millis(1000);

    #[test]
    fn the_arithmetic_of_the_issue() {
        // heartbeat's single status: 4 losses and the race of the fifth.
        assert_eq!(losses_to_die(1, KA, DT), 4);
        assert_eq!(losses_to_die(4, KA, DT), 19);
        // 432 000 keepalives a day · 0.8 · 0.2⁴ ≈ 553.
        let one = false_deaths_per_day(0.2, 1, KA, DT);
        assert!((one - 552.96).abs() < 0.01, "{one}");
        // The issue's quiet case: 5 % loss at 20 ms / 100 ms, about one a day
        // on its 5-in-a-row count, 19 a day on the race-counted 4.
        let quiet = false_deaths_per_day(
            0.05,
            1,
            Duration::from_millis(20),
            Duration::from_millis(100),
        );
        assert!((quiet - 25.65).abs() < 0.01, "{quiet}");
        // What the copies buy at 20 %: 4 copies, 7·10⁻⁸ a day.
        assert_eq!(copies_needed(0.2, KA, DT), Some(4));
        assert!(false_deaths_per_day(0.2, 4, KA, DT) < 1e-7);
        assert_eq!(copies_needed(0.4, KA, DT), Some(7));
        assert_eq!(copies_needed(0.0, KA, DT), Some(1));
        assert_eq!(copies_needed(0.9, KA, DT), None);
    }

    #[test]
    fn the_bound_keeps_a_short_clean_count_from_reading_as_no_loss() {
        assert_eq!(loss_bound(0, 0), 1.0);
        assert!((loss_bound(0, 256) - 3.0 / 256.0).abs() < 1e-12);
        // 20 % measured over a full window reads as ~26 %.
        let b = loss_bound(51, 256);
        assert!(b > 0.25 && b < 0.27, "{b}");
        assert_eq!(copies(Some((0, 256)), KA, DT), MIN_COPIES);
        assert_eq!(copies(Some((0, 32)), KA, DT), 3);
        assert_eq!(copies(Some((51, 256)), KA, DT), 5);
        assert_eq!(copies(Some((102, 256)), KA, DT), MAX_COPIES);
        assert_eq!(copies(None, KA, DT), MIN_COPIES);
    }

    #[test]
    fn the_bandwidth_cap_wins_over_the_need_and_the_floor() {
        assert_eq!(copies_allowed(KA), MAX_COPIES);
        // 64 KiB/s at 20 ms: 3 datagrams of 400 bytes per keepalive.
        assert_eq!(copies_allowed(Duration::from_millis(20)), 3);
        let (ka, dt) = (Duration::from_millis(20), Duration::from_millis(100));
        assert_eq!(copies(Some((102, 256)), ka, dt), 3);
        // With deadtime 50 keepalives, one status a keepalive would do.
        assert_eq!(copies_needed(0.4, ka, DT), Some(1));
        assert_eq!(copies(None, Duration::from_millis(5), DT), 1);
    }

    #[test]
    fn advice_says_how_often_and_what_helps() {
        assert_eq!(every(86_400.0), "every second");
        assert_eq!(every(553.0), "every 3 minutes");
        assert_eq!(every(0.354), "every 3 days");
        assert_eq!(every(1e-5), "every 274 years");
        assert_eq!(every(1e-12), "less than once in a million years");
        // 20 % at 200 ms / 1 s: 17 losses in a row needed, 18 keepalives.
        assert_eq!(deadtime_for(0.2, 1, KA, DT), Some(Duration::from_secs(4)));
        assert_eq!(deadtime_for(0.0, 1, KA, DT), Some(DT));
        assert_eq!(deadtime_for(1.0, 1, KA, DT), None);
        assert_eq!(
            advice("eth1", (46, 256), 1, KA, DT, true).as_deref(),
            Some("at 18 % loss on eth1 (46 of the peer's last 256 datagrams), deadtime 1s gives a false death about every 4 minutes if eth1 is the only link; raise deadtime to 4s, add a link, or let hbd send redundantly (`[hbd] redundancy = \"adaptive\"` on the peer)")
        );
        assert_eq!(
            advice("eth1", (46, 256), 1, KA, DT, false).as_deref(),
            Some("at 18 % loss on eth1 (46 of the peer's last 256 datagrams), deadtime 1s gives a false death about every 4 minutes if eth1 is the only link; raise deadtime to 4s, add a link (a heartbeat peer sends each status once)")
        );
        // Capped copies at 60 %: still named, with what they do not fix.
        let capped = advice("eth1", (154, 256), 8, KA, DT, true).unwrap();
        assert!(
            capped.contains("(even with 8 copies of each status); raise deadtime to"),
            "{capped}"
        );
        // Nothing to say: enough copies, no loss, too little counted.
        assert_eq!(advice("eth1", (46, 256), 5, KA, DT, true), None);
        assert_eq!(advice("eth1", (0, 256), 1, KA, DT, true), None);
        assert_eq!(advice("eth1", (10, 31), 1, KA, DT, true), None);
    }

    #[test]
    fn the_window_counts_gaps_and_late_link_numbers_but_not_late_sequence_numbers() {
        let mut w = LossWindow::default();
        for n in [1, 2, 4, 5, 8] {
            assert_eq!(w.note(n, true), Arrival::Fresh);
        }
        assert_eq!(w.loss(), (3, 8));
        assert_eq!(w.note(5, true), Arrival::Again, "a duplicate");
        assert_eq!(w.note(3, true), Arrival::Fresh, "reordered");
        assert_eq!(w.loss(), (2, 8));
        assert_eq!(w.note(9, false), Arrival::Again, "seq on a numbered link");
        let mut s = LossWindow::default();
        for seq in [10, 11, 13] {
            assert_eq!(s.note(seq, false), Arrival::Fresh);
        }
        assert_eq!(s.note(12, false), Arrival::Again, "a retransmission");
        assert_eq!(s.loss(), (1, 4));
        // The first link number on a link counted by seq starts over.
        assert_eq!(s.note(1, true), Arrival::Fresh);
        assert_eq!(s.loss(), (0, 1));
        assert_eq!(s.note(14, false), Arrival::Again, "and counts only them");
    }

    #[test]
    fn the_window_holds_the_last_numbers_and_an_outage_is_not_loss() {
        let mut w = LossWindow::default();
        for n in 1..=1000u64 {
            if n % 5 != 0 {
                w.note(n, true);
            }
        }
        assert_eq!(w.loss(), (51, WINDOW as u32));
        assert_eq!(w.report(), Some((51, 256)));
        w.note(1000 + WINDOW as u64 + 1, true);
        assert_eq!(w.loss(), (0, 1));
        assert_eq!(w.report(), None);
        assert_eq!(w.note(3, true), Arrival::Again, "older than the window");
    }
}
