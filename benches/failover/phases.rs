//! Where one of hbd's takeovers spent its time, and hbd's own share of it
//! (issue 18): pure arithmetic on the moments the bench saw, so that
//! `tests/failover_bench.rs` checks it without a lab (a harness-less
//! bench's own `#[test]`s never run).
use serde::{Deserialize, Serialize};

/// Where a takeover's time went, from the survivor's time-stamped log and
/// the client's neighbour table, in ms after the fault (None: not seen).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Phases {
    pub dead: Option<f64>,
    pub ip_start: Option<f64>,
    pub ip_done: Option<f64>,
    pub client_arp: Option<f64>,
    pub svc_start: Option<f64>,
    pub svc_done: Option<f64>,
    pub answer: Option<f64>,
    /// When the GET that got the first answer started.
    #[serde(default)]
    pub answer_sent: Option<f64>,
}

impl Phases {
    /// The time spent inside the resources' own start commands between the
    /// death decision and the first answer. A start still running when the
    /// answer came (hbweb answers before its own readiness poll returns)
    /// counts up to the answer; a start whose end was not seen, too.
    pub fn in_starts(&self) -> Option<f64> {
        let (dead, answer) = (self.dead?, self.answer?);
        let mut inside = 0.0;
        for (start, done) in [
            (self.ip_start, self.ip_done),
            (self.svc_start, self.svc_done),
        ] {
            let from = start?.max(dead);
            let to = done.unwrap_or(answer).min(answer);
            inside += (to - from).max(0.0);
        }
        Some(inside)
    }

    /// hbd's own share of the takeover: from the death decision to the
    /// first answer, minus [`Self::in_starts`]. It holds hbd's loop (the
    /// gap to the first step, between the steps) and what follows the last
    /// start when the answer comes after it: the client's next GET and its
    /// answer (see [`Self::after_starts`]).
    pub fn own_share(&self) -> Option<f64> {
        Some(self.answer? - self.dead? - self.in_starts()?)
    }

    /// From the end of the last start to the first answer (0 when the
    /// answer came first; a start whose end was not seen was still running
    /// at the answer): the part of [`Self::own_share`] that the client's
    /// next GET and the service's reply to it take, not hbd.
    pub fn after_starts(&self) -> Option<f64> {
        let answer = self.answer?;
        self.ip_start?;
        self.svc_start?;
        let last = self
            .ip_done
            .unwrap_or(answer)
            .max(self.svc_done.unwrap_or(answer));
        Some((answer - last).max(0.0))
    }

    /// How long the GET that got the first answer took (connect, request,
    /// the service's reply): within [`Self::after_starts`] when the answer
    /// came after the starts.
    pub fn answering_get(&self) -> Option<f64> {
        Some(self.answer? - self.answer_sent?)
    }
}
