//! An auditor outside the daemons: what the kernels and a client see, never
//! what hbd says. A bounded thread reads both nodes' local addresses
//! (`/proc/<holder>/net/fib_trie`) and mount tables every few ms, another
//! asks the service from the client's namespace; the caller takes the
//! samples of each stretch of time it wants to judge ([`Auditor::take_until`])
//! and finds the episodes in them ([`episodes`], [`longest_outage`]).
//!
//! Reading /proc spawns no process, so the sampler keeps its rate while the
//! machine is loaded; the client's probe (curl in the client namespace) does
//! spawn one, so it runs at a slower rate.

use crate::lab::Node;
use crate::nspair::{has_local_addr, has_mount};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

/// What both kernels showed at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Milliseconds since the auditor started.
    pub t: u64,
    /// Whether each node has the floating address as a local address.
    pub addr: [bool; 2],
    /// Whether each node has the shared disk mounted.
    pub mnt: [bool; 2],
}

/// One request of the client: which node answered, if one did.
#[derive(Clone, Debug)]
pub struct Probe {
    pub t: u64,
    pub by: Option<String>,
}

/// What the auditor watches.
pub struct Watch {
    /// The nodes' holder pids (their namespaces).
    pub holders: [u32; 2],
    pub addr: String,
    pub mnt: Option<String>,
    /// The client node, the port its probes ask, and their timeout.
    pub client: Option<(Node, u16, u64)>,
    pub sample_every: Duration,
    pub probe_every: Duration,
    /// The threads stop by themselves after this, whatever the caller does.
    pub max_run: Duration,
}

pub struct Auditor {
    t0: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    probes: Arc<Mutex<Vec<Probe>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Auditor {
    pub fn start(w: Watch) -> Auditor {
        let t0 = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        let (st, out, holders, addr, mnt) = (
            stop.clone(),
            samples.clone(),
            w.holders,
            w.addr.clone(),
            w.mnt.clone(),
        );
        let (every, max_run) = (w.sample_every, w.max_run);
        threads.push(thread::spawn(move || {
            while !st.load(Ordering::Relaxed) && t0.elapsed() < max_run {
                let a = holders.map(|h| has_local_addr(h, &addr));
                let m = holders.map(|h| mnt.as_deref().is_some_and(|m| has_mount(h, m)));
                let t = t0.elapsed().as_millis() as u64;
                out.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Sample { t, addr: a, mnt: m });
                sleep(every);
            }
        }));
        if let Some((client, port, timeout_ms)) = w.client {
            let (st, out, addr) = (stop.clone(), probes.clone(), w.addr.clone());
            let every = w.probe_every;
            threads.push(thread::spawn(move || {
                while !st.load(Ordering::Relaxed) && t0.elapsed() < max_run {
                    let t = t0.elapsed().as_millis() as u64;
                    let by = client.http_get(&addr, port, timeout_ms).map(|(by, _)| by);
                    out.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Probe { t, by });
                    sleep(every);
                }
            }));
        }
        Auditor {
            t0,
            stop,
            samples,
            probes,
            threads,
        }
    }

    /// Milliseconds since the auditor started: mark events with it.
    pub fn now(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// Takes (removes) the samples and probes up to `t` inclusive; later
    /// ones stay for the next call.
    pub fn take_until(&self, t: u64) -> (Vec<Sample>, Vec<Probe>) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let ks = s.partition_point(|x| x.t <= t);
        let samples: Vec<Sample> = s.drain(..ks).collect();
        drop(s);
        let mut p = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        let kp = p.partition_point(|x| x.t <= t);
        let probes: Vec<Probe> = p.drain(..kp).collect();
        (samples, probes)
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The maximal stretches `[start, end)` of consecutive samples for which
/// `pred` holds; `end` is the first sample after (or the last sample's time
/// when the stretch lasts to the end).
pub fn episodes(samples: &[Sample], pred: impl Fn(&Sample) -> bool) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut since: Option<u64> = None;
    for s in samples {
        match (pred(s), since) {
            (true, None) => since = Some(s.t),
            (false, Some(a)) => {
                out.push((a, s.t));
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(a), Some(last)) = (since, samples.last()) {
        out.push((a, last.t));
    }
    out
}

/// The longest stretch without an answer among `probes` (0: every probe
/// was answered): from the first unanswered probe to the next answered one.
pub fn longest_outage(probes: &[Probe]) -> u64 {
    let mut worst = 0;
    let mut down_since: Option<u64> = None;
    for p in probes {
        match (&p.by, down_since) {
            (None, None) => down_since = Some(p.t),
            (Some(_), Some(s)) => {
                worst = worst.max(p.t - s);
                down_since = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(last)) = (down_since, probes.last()) {
        worst = worst.max(last.t - s);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: u64, a: bool) -> Sample {
        Sample {
            t,
            addr: [a, false],
            mnt: [false; 2],
        }
    }

    #[test]
    fn episodes_end_at_the_first_sample_after() {
        let v = [
            s(0, false),
            s(5, true),
            s(10, true),
            s(15, false),
            s(20, true),
        ];
        assert_eq!(episodes(&v, |x| x.addr[0]), vec![(5, 15), (20, 20)]);
        assert!(episodes(&v[..1], |x| x.addr[0]).is_empty());
    }

    #[test]
    fn outage_runs_to_the_next_answer_or_the_end() {
        let p = |t, ok: bool| Probe {
            t,
            by: ok.then(|| "a".to_string()),
        };
        assert_eq!(longest_outage(&[p(0, true), p(10, false), p(30, true)]), 20);
        assert_eq!(longest_outage(&[p(0, false), p(50, false)]), 50);
        assert_eq!(longest_outage(&[p(0, true)]), 0);
    }
}
