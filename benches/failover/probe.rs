//! The client: HTTP GETs to the floating address from inside the client
//! namespace, each answer time-stamped with the bench's monotonic clock.
//!
//! The probing threads join the client's network namespace with setns(2)
//! (only the calling thread moves), so their timestamps share the clock of
//! the thread that kills or cuts: no clock offset between processes.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

/// One answer: when it completed and which node served it.
#[derive(Clone, Debug)]
pub struct Answer {
    /// When the GET that got this answer started (its connect).
    pub sent: Instant,
    pub at: Instant,
    pub served_by: String,
}

fn enter(netns: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(netns)?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// One GET with `timeout` for connect and for the answer: the
/// `X-Served-By` header of any HTTP answer.
fn get(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n").ok()?;
    let mut buf = Vec::with_capacity(512);
    let until = Instant::now() + timeout;
    let mut chunk = [0u8; 512];
    // The service closes after its answer; stop at the end of the head
    // anyway so that a slow close is not counted.
    while Instant::now() < until && buf.len() < 8192 {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => {
                buf.extend_from_slice(&chunk[..k]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    if !text.starts_with("HTTP/") {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("X-Served-By: "))
        .map(|v| v.trim().to_string())
}

/// One GET from inside `netns` (a short-lived thread does it).
pub fn get_once(netns: &Path, addr: SocketAddr, timeout: Duration) -> Option<String> {
    let netns = netns.to_path_buf();
    std::thread::spawn(move || {
        enter(&netns).ok()?;
        get(addr, timeout)
    })
    .join()
    .ok()
    .flatten()
}

/// A loop of GETs every `period` from the client namespace, until dropped.
pub struct Probe {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    thread: Option<JoinHandle<()>>,
}

impl Probe {
    /// A GET every `period`, and `retry` after one that failed (a refused
    /// connect costs the service nothing, and the first answer of a new
    /// listener is then seen within `retry`, not within `period`).
    pub fn start(
        netns: &Path,
        addr: SocketAddr,
        period: Duration,
        retry: Duration,
        timeout: Duration,
    ) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let netns: PathBuf = netns.to_path_buf();
        let (s, a) = (stop.clone(), answers.clone());
        let thread = std::thread::spawn(move || {
            if enter(&netns).is_err() {
                return;
            }
            let mut next = Instant::now();
            // Bounded in count as well as by the stop flag.
            for _ in 0..2_000_000u32 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let sent = Instant::now();
                let answered = get(addr, timeout).map(|by| {
                    let mut v = a.lock().unwrap_or_else(|e| e.into_inner());
                    v.push(Answer {
                        sent,
                        at: Instant::now(),
                        served_by: by,
                    });
                });
                next += if answered.is_some() {
                    period
                } else {
                    retry.min(period)
                };
                let now = Instant::now();
                if next > now {
                    sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        Probe {
            stop,
            answers,
            thread: Some(thread),
        }
    }

    /// The first answer from `node` completed after `t0`, waiting at most
    /// until `deadline`.
    pub fn first_from(&self, node: &str, t0: Instant, deadline: Instant) -> Option<Instant> {
        self.first_answer_from(node, t0, deadline).map(|a| a.at)
    }

    /// [`Self::first_from`], the whole answer.
    pub fn first_answer_from(&self, node: &str, t0: Instant, deadline: Instant) -> Option<Answer> {
        loop {
            {
                let v = self.answers.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(a) = v.iter().find(|a| a.at >= t0 && a.served_by == node) {
                    return Some(a.clone());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(2));
        }
    }
}

impl Probe {
    /// The first answer (from any node) after `t0` that ends an outage: the
    /// answer before it is at least `gap` older, so nothing was served in
    /// between. Waits at most until `deadline`. An answer to a request made
    /// before the fault cannot count: it would follow an answer closely.
    pub fn first_after_outage(
        &self,
        t0: Instant,
        gap: Duration,
        deadline: Instant,
    ) -> Option<Answer> {
        loop {
            {
                let v = self.answers.lock().unwrap_or_else(|e| e.into_inner());
                let found = v
                    .windows(2)
                    .find(|w| w[1].at >= t0 && w[1].at - w[0].at >= gap);
                if let Some(w) = found {
                    return Some(w[1].clone());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
