//! When a floating address is announced again after its start, and when its
//! clients count as having followed it (`[hbd.announce]`). Pure: the shell's
//! keeper task (`shell/announce.rs`) asks [`Schedule::poll`] what is due at
//! `now`, sends it, reports the probes' answers with [`Schedule::answered`],
//! and sleeps until [`Schedule::next_deadline`].
//!
//! The rounds, counted from the start step's success (`started`):
//! - the burst: `count` rounds `interval` apart, each one announcement (those
//!   the start sent itself are not sent again: the built-in address sends the
//!   first, an agent the whole burst) and a probe of every target not heard
//!   yet;
//! - while some target has not answered, backoff rounds (announce + probe)
//!   `2 × interval` after the burst's last, doubling up to
//!   [`Announce::BACKOFF_MAX`], until every target answered (converged) or
//!   `verify_limit` passed (not converged: the targets that never answered);
//! - with `refresh`, one announcement every `refresh` after the last one, for
//!   as long as the address is held.

use crate::config::Announce;
use crate::time::{Duration, Instant};
use std::net::IpAddr;

/// The settings of one schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub count: u32,
    pub interval: Duration,
    pub refresh: Option<Duration>,
    pub limit: Duration,
    /// Announcements of the burst the start step sent itself (the first
    /// `sent_by_start` rounds only probe).
    pub sent_by_start: u32,
}

impl Plan {
    pub fn new(a: &Announce, sent_by_start: u32) -> Plan {
        Plan {
            count: a.count(),
            interval: a.interval(),
            refresh: a.refresh,
            limit: a.verify_limit,
            sent_by_start: sent_by_start.min(a.count()),
        }
    }
}

/// What to send now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// One gratuitous announcement of the address.
    pub announce: bool,
    /// A request from the address to each of these.
    pub probe: Vec<IpAddr>,
}

/// How the convergence check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every target answered; `after` is the last answer's time since the start.
    Converged {
        after: Duration,
        answers: Vec<(IpAddr, Duration)>,
        announcements: u32,
    },
    /// `limit` passed with `missing` still silent.
    NotConverged {
        limit: Duration,
        missing: Vec<IpAddr>,
        answers: Vec<(IpAddr, Duration)>,
        announcements: u32,
    },
}

#[derive(Clone, Debug)]
pub struct Schedule {
    plan: Plan,
    started: Instant,
    /// The next burst round's index (== count: the burst is over).
    k: u32,
    /// When the next burst or backoff round is due.
    next_round: Option<Instant>,
    /// The pause before the next backoff round.
    backoff: Duration,
    next_refresh: Option<Instant>,
    targets: Vec<(IpAddr, Option<Instant>)>,
    verifying: bool,
    verdict: Option<Verdict>,
    /// Announcements so far, the start's included.
    announcements: u32,
}

impl Schedule {
    /// A schedule for an address whose start succeeded at `started`, checked
    /// against `targets` (none: no check).
    pub fn new(plan: Plan, started: Instant, targets: Vec<IpAddr>) -> Schedule {
        let mut targets: Vec<(IpAddr, Option<Instant>)> =
            targets.into_iter().map(|t| (t, None)).collect();
        targets.dedup_by_key(|t| t.0);
        let verifying = !targets.is_empty();
        let last_by_start = (plan.sent_by_start > 0).then(|| {
            started
                + plan
                    .interval
                    .saturating_mul(u64::from(plan.sent_by_start - 1))
        });
        let mut s = Schedule {
            next_round: None,
            backoff: plan.interval.saturating_mul(2).min(Announce::BACKOFF_MAX),
            next_refresh: None,
            k: 0,
            started,
            targets,
            verifying,
            verdict: None,
            announcements: plan.sent_by_start,
            plan,
        };
        if !verifying {
            // Nothing to probe: the rounds the start sent need no wake-up.
            s.k = s.plan.sent_by_start;
        }
        s.next_round = if s.k < s.plan.count {
            Some(started + s.plan.interval.saturating_mul(u64::from(s.k)))
        } else {
            verifying.then_some(started)
        };
        if let Some(last) = last_by_start {
            s.next_refresh = s.plan.refresh.map(|p| last + p);
        }
        s
    }

    fn pending(&self) -> Vec<IpAddr> {
        self.targets
            .iter()
            .filter(|t| t.1.is_none())
            .map(|t| t.0)
            .collect()
    }

    fn answers(&self) -> Vec<(IpAddr, Duration)> {
        self.targets
            .iter()
            .filter_map(|(a, at)| at.map(|at| (*a, at.saturating_since(self.started))))
            .collect()
    }

    /// The rounds due at `now`, merged into one (None: nothing to send).
    pub fn poll(&mut self, now: Instant) -> Option<Round> {
        let mut round = Round::default();
        if self.verifying && now >= self.started + self.plan.limit {
            self.verifying = false;
            self.verdict = Some(Verdict::NotConverged {
                limit: self.plan.limit,
                missing: self.pending(),
                answers: self.answers(),
                announcements: self.announcements,
            });
        }
        if self.k >= self.plan.count && !self.verifying {
            // Backoff rounds exist only while verifying.
            self.next_round = None;
        }
        if self.next_round.is_some_and(|at| at <= now) {
            if self.k < self.plan.count {
                round.announce = self.k >= self.plan.sent_by_start;
                self.k += 1;
            } else {
                round.announce = true;
            }
            if self.verifying {
                round.probe = self.pending();
            }
            self.next_round = if self.k < self.plan.count {
                Some(self.started + self.plan.interval.saturating_mul(u64::from(self.k)))
            } else if self.verifying {
                // The first pause after the burst is 2 × interval; each
                // backoff round doubles it, up to the cap.
                let pause = self.backoff;
                self.backoff = self
                    .backoff
                    .saturating_mul(2)
                    .min(Announce::BACKOFF_MAX.max(self.plan.interval));
                Some(now + pause.max(Duration::from_millis(1)))
            } else {
                None
            };
        }
        if self.next_refresh.is_some_and(|at| at <= now) {
            round.announce = true;
        }
        if round.announce {
            self.announcements += 1;
            self.next_refresh = self.plan.refresh.map(|p| now + p);
        }
        (round.announce || !round.probe.is_empty()).then_some(round)
    }

    /// `from` answered a probe at `now`. True when it was a target not heard
    /// yet (its answer counts).
    pub fn answered(&mut self, now: Instant, from: IpAddr) -> bool {
        if !self.verifying {
            return false;
        }
        let Some(t) = self
            .targets
            .iter_mut()
            .find(|t| t.0 == from && t.1.is_none())
        else {
            return false;
        };
        t.1 = Some(now);
        if self.pending().is_empty() {
            self.verifying = false;
            if self.k >= self.plan.count {
                self.next_round = None;
            }
            self.verdict = Some(Verdict::Converged {
                after: now.saturating_since(self.started),
                answers: self.answers(),
                announcements: self.announcements,
            });
        }
        true
    }

    /// The verdict, once, when the check has ended.
    pub fn take_verdict(&mut self) -> Option<Verdict> {
        self.verdict.take()
    }

    /// Whether targets are still being waited for.
    pub fn verifying(&self) -> bool {
        self.verifying
    }

    /// When to call [`Schedule::poll`] next; None: nothing more will be sent.
    pub fn next_deadline(&self) -> Option<Instant> {
        let limit = self.verifying.then(|| self.started + self.plan.limit);
        [self.next_round, self.next_refresh, limit]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn announcements(&self) -> u32 {
        self.announcements
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::t;

    fn plan(count: u32, interval: u64, refresh: Option<u64>, sent_by_start: u32) -> Plan {
        Plan {
            count,
            interval: Duration::from_millis(interval),
            refresh: refresh.map(Duration::from_millis),
            limit: Duration::from_secs(30),
            sent_by_start,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Runs the schedule from deadline to deadline until `until`, answering
    /// nothing; returns (time, round) of every round sent.
    fn run(s: &mut Schedule, until: u64) -> Vec<(u64, Round)> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let Some(at) = s.next_deadline() else { break };
            if at.millis() > until {
                break;
            }
            if let Some(r) = s.poll(at) {
                out.push((at.millis(), r));
            }
        }
        out
    }

    fn times(rounds: &[(u64, Round)]) -> Vec<u64> {
        rounds.iter().map(|r| r.0).collect()
    }

    #[test]
    fn heartbeats_burst_and_nothing_after_it_by_default() {
        // Built in: the start sent the first; 4 more, 200 ms apart, then silence.
        let mut s = Schedule::new(plan(5, 200, None, 1), t(1000), vec![]);
        assert_eq!(s.next_deadline(), Some(t(1200)), "round 0 was the start's");
        let r = run(&mut s, 100_000);
        assert_eq!(times(&r), [1200, 1400, 1600, 1800]);
        assert!(r.iter().all(|(_, r)| r.announce && r.probe.is_empty()));
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.announcements(), 5);
        assert_eq!(s.take_verdict(), None);
    }

    #[test]
    fn an_agents_burst_is_not_sent_again() {
        let mut s = Schedule::new(plan(5, 200, None, 5), t(0), vec![]);
        assert!(run(&mut s, 100_000).is_empty());
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn refresh_announces_every_period_after_the_last_announcement() {
        let mut s = Schedule::new(plan(3, 200, Some(10_000), 1), t(0), vec![]);
        let r = run(&mut s, 40_500);
        assert_eq!(times(&r), [200, 400, 10_400, 20_400, 30_400, 40_400]);
        assert_eq!(
            s.next_deadline(),
            Some(t(50_400)),
            "for as long as it is held"
        );
        // After an agent's burst, the period counts from its last announcement.
        let s = Schedule::new(plan(5, 200, Some(10_000), 5), t(0), vec![]);
        assert_eq!(s.next_deadline(), Some(t(10_800)));
    }

    #[test]
    fn targets_are_probed_with_each_round_until_they_answer() {
        let (a, b) = (ip("192.0.2.254"), ip("192.0.2.10"));
        let mut s = Schedule::new(plan(3, 200, None, 1), t(0), vec![a, b]);
        // Round 0: the start announced; probe both.
        assert_eq!(
            s.poll(t(0)),
            Some(Round {
                announce: false,
                probe: vec![a, b]
            })
        );
        assert!(s.answered(t(3), a));
        assert!(!s.answered(t(4), a), "a second answer does not count");
        assert!(!s.answered(t(4), ip("192.0.2.77")), "not a target");
        assert_eq!(s.take_verdict(), None);
        assert_eq!(s.next_deadline(), Some(t(200)));
        assert_eq!(
            s.poll(t(200)),
            Some(Round {
                announce: true,
                probe: vec![b]
            })
        );
        assert!(s.answered(t(251), b));
        assert_eq!(
            s.take_verdict(),
            Some(Verdict::Converged {
                after: Duration::from_millis(251),
                answers: vec![
                    (a, Duration::from_millis(3)),
                    (b, Duration::from_millis(251))
                ],
                announcements: 2,
            })
        );
        assert_eq!(s.take_verdict(), None, "once");
        // The burst goes on for the clients that are not targets; no probes.
        assert_eq!(
            s.poll(t(400)),
            Some(Round {
                announce: true,
                probe: vec![]
            })
        );
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn silent_targets_get_backoff_rounds_until_the_limit() {
        let a = ip("192.0.2.254");
        let mut s = Schedule::new(plan(3, 200, None, 1), t(0), vec![a]);
        let r = run(&mut s, 60_000);
        // Burst 0, 200, 400; then 400 + 400, +800, +1600, +3200, +5000 (cap)...
        assert_eq!(
            times(&r),
            [0, 200, 400, 800, 1600, 3200, 6400, 11_400, 16_400, 21_400, 26_400]
        );
        assert!(r.iter().all(|(_, r)| r.probe == [a]));
        assert!(r[1..].iter().all(|(_, r)| r.announce));
        assert_eq!(s.next_deadline(), None, "nothing after the limit");
        assert_eq!(
            s.take_verdict(),
            Some(Verdict::NotConverged {
                limit: Duration::from_secs(30),
                missing: vec![a],
                answers: vec![],
                announcements: 11,
            })
        );
        assert!(!s.answered(t(31_000), a), "too late to count");
    }

    #[test]
    fn a_target_answering_during_backoff_ends_it() {
        let a = ip("192.0.2.254");
        let mut s = Schedule::new(plan(2, 100, Some(60_000), 1), t(0), vec![a]);
        let r = run(&mut s, 1000);
        assert_eq!(times(&r), [0, 100, 300, 700]);
        assert!(s.answered(t(720), a));
        assert!(matches!(
            s.take_verdict(),
            Some(Verdict::Converged { after, announcements: 4, .. }) if after == Duration::from_millis(720)
        ));
        // Only the refresh is left: 60 s after the last announcement.
        assert_eq!(s.next_deadline(), Some(t(60_700)));
        assert_eq!(
            s.poll(t(60_700)),
            Some(Round {
                announce: true,
                probe: vec![]
            })
        );
    }

    #[test]
    fn a_limit_inside_the_burst_ends_the_check_not_the_burst() {
        let a = ip("192.0.2.254");
        let mut p = plan(5, 1000, None, 1);
        p.limit = Duration::from_millis(2500);
        let mut s = Schedule::new(p, t(0), vec![a]);
        let r = run(&mut s, 100_000);
        assert_eq!(times(&r), [0, 1000, 2000, 3000, 4000]);
        assert!(r[3].1.probe.is_empty(), "no probe after the limit");
        assert!(matches!(
            s.take_verdict(),
            Some(Verdict::NotConverged {
                announcements: 3,
                ..
            })
        ));
    }

    #[test]
    fn every_deadline_is_reached_and_the_schedule_ends() {
        // Property over a grid: deadlines never go backwards, a schedule
        // without refresh always ends, and a verdict comes exactly when
        // there were targets.
        for count in 0..4 {
            for sent in 0..=count {
                for targets in [vec![], vec![ip("192.0.2.1")]] {
                    let mut s = Schedule::new(plan(count, 300, None, sent), t(5), targets.clone());
                    let mut last = t(0);
                    let mut n = 0;
                    while let Some(at) = s.next_deadline() {
                        assert!(at >= last, "deadline went back: {at} < {last}");
                        last = at;
                        s.poll(at);
                        n += 1;
                        assert!(n < 1000, "never ends: {count} {sent} {targets:?}");
                    }
                    assert_eq!(s.take_verdict().is_some(), !targets.is_empty());
                }
            }
        }
    }
}
