//! A null-modem cable made of two pseudo-terminals: what `socat pty pty` does for
//! the lab, without socat. Each node opens one slave path as its `serial` device;
//! a thread pumps bytes between the two masters. The cable can be pulled, paced
//! to a baud rate, and carry injected line noise (the loopback tests use those).

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One end of the cable: the master the relay pumps, and the slave kept open so
/// the master never reads EIO while a node is down or restarting.
struct End {
    master: File,
    _slave: OwnedFd,
    path: PathBuf,
}

fn open_end() -> std::io::Result<End> {
    let pty = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
    // Raw from the start: an echoing line discipline would bounce every frame
    // back into the cable before the daemon sets its own termios.
    let mut tio = tcgetattr(&pty.slave).map_err(std::io::Error::from)?;
    cfmakeraw(&mut tio);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &tio).map_err(std::io::Error::from)?;
    let path = nix::unistd::ttyname(&pty.slave).map_err(std::io::Error::from)?;
    // Non-blocking: a node that is down must not stall the other direction;
    // bytes it cannot take are dropped, as on a cable to a dead machine.
    fcntl(pty.master.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(std::io::Error::from)?;
    Ok(End {
        master: File::from(pty.master),
        _slave: pty.slave,
        path,
    })
}

/// Which node's end: bytes injected "to A" arrive at the node that opened `path_a`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// When set, bytes are swallowed: the cable is pulled.
    cut: AtomicBool,
    a_to_b: AtomicU64,
    b_to_a: AtomicU64,
    /// Line speed in baud (10 bits a byte); 0 = as fast as the ptys go.
    baud: AtomicU64,
    inject_a: Mutex<Vec<u8>>,
    inject_b: Mutex<Vec<u8>>,
}

pub struct PtyRelay {
    pub path_a: PathBuf,
    pub path_b: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PtyRelay {
    pub fn start() -> std::io::Result<PtyRelay> {
        let a = open_end()?;
        let b = open_end()?;
        let shared = Arc::new(Shared::default());
        let (path_a, path_b) = (a.path.clone(), b.path.clone());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("pty-relay".into())
            .spawn(move || pump(a, b, s))?;
        Ok(PtyRelay {
            path_a,
            path_b,
            shared,
            thread: Some(thread),
        })
    }

    /// Queues raw bytes to arrive at `side`'s node, as noise on the line would.
    pub fn inject(&self, side: Side, bytes: &[u8]) {
        let q = match side {
            Side::A => &self.shared.inject_a,
            Side::B => &self.shared.inject_b,
        };
        q.lock().unwrap().extend_from_slice(bytes);
    }

    /// Pulls (true) or plugs back (false) the cable.
    /// Paces each direction to `baud` (10 bits a byte, as 8N1), as a real
    /// serial line would; 0 lifts the limit. What the line cannot carry yet
    /// waits in the sender's pty buffer, as in a UART's.
    pub fn set_baud(&self, baud: u32) {
        self.shared.baud.store(baud.into(), Ordering::SeqCst);
    }

    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
    }

    /// Bytes carried so far (A to B, B to A).
    pub fn carried(&self) -> (u64, u64) {
        (
            self.shared.a_to_b.load(Ordering::Relaxed),
            self.shared.b_to_a.load(Ordering::Relaxed),
        )
    }
}

impl Drop for PtyRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves up to `max` bytes of what `from` has to `to`; returns how many were read.
fn pass(from: &mut File, to: &mut File, cut: bool, count: &AtomicU64, max: usize) -> usize {
    let mut buf = [0u8; 4096];
    let max = max.min(buf.len());
    if max == 0 {
        return 0;
    }
    match from.read(&mut buf[..max]) {
        Ok(n) if n > 0 => {
            if !cut {
                // A full buffer on the far side drops the rest of this chunk.
                let _ = to.write(&buf[..n]);
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
            n
        }
        _ => 0,
    }
}

/// Bytes a paced direction may still send: earned at baud/10 a second, at
/// most a 16-byte UART FIFO's worth banked while idle.
struct Credit {
    bytes: f64,
    at: std::time::Instant,
}

impl Credit {
    fn new() -> Credit {
        Credit {
            bytes: 0.0,
            at: std::time::Instant::now(),
        }
    }

    fn available(&mut self, baud: u64) -> usize {
        let now = std::time::Instant::now();
        let earned = now.duration_since(self.at).as_secs_f64() * baud as f64 / 10.0;
        self.at = now;
        self.bytes = (self.bytes + earned).min(16.0);
        self.bytes as usize
    }

    fn spend(&mut self, n: usize) {
        self.bytes -= n as f64;
    }
}

fn pump(mut a: End, mut b: End, s: Arc<Shared>) {
    let (mut ca, mut cb) = (Credit::new(), Credit::new());
    while !s.stop.load(Ordering::SeqCst) {
        let cut = s.cut.load(Ordering::SeqCst);
        let baud = s.baud.load(Ordering::SeqCst);
        let (max_a, max_b) = if baud == 0 {
            (usize::MAX, usize::MAX)
        } else {
            (ca.available(baud), cb.available(baud))
        };
        let n = pass(&mut a.master, &mut b.master, cut, &s.a_to_b, max_a);
        ca.spend(n);
        let m = pass(&mut b.master, &mut a.master, cut, &s.b_to_a, max_b);
        cb.spend(m);
        let mut moved = n + m;
        for (q, to) in [(&s.inject_a, &mut a.master), (&s.inject_b, &mut b.master)] {
            let mut q = q.lock().unwrap();
            if !q.is_empty() {
                match to.write(&q) {
                    Ok(n) => {
                        q.drain(..n);
                        moved += n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => q.clear(),
                }
            }
        }
        if moved == 0 || baud != 0 {
            // Polling keeps this free of unsafe poll(2); 2 ms is far below any
            // keepalive and costs nothing measurable. A paced line moves at
            // most a few bytes per turn anyway.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::time::Instant;

    fn open(path: &PathBuf) -> File {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        f
    }

    fn read_until(f: &mut File, want: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while got.len() < want && Instant::now() < deadline {
            match f.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        got
    }

    #[test]
    fn bytes_cross_the_cable_both_ways_and_noise_can_be_injected() {
        let relay = PtyRelay::start().unwrap();
        assert_ne!(relay.path_a, relay.path_b);
        let mut a = open(&relay.path_a);
        let mut b = open(&relay.path_b);
        a.write_all(b">>>\nt=status\n<<<\n").unwrap();
        assert_eq!(read_until(&mut b, 17), b">>>\nt=status\n<<<\n");
        b.write_all(b"pong\n").unwrap();
        assert_eq!(read_until(&mut a, 5), b"pong\n");
        relay.inject(Side::B, b"\x00\xffgarbage");
        assert_eq!(read_until(&mut b, 9), b"\x00\xffgarbage");
        assert_eq!(relay.carried(), (17, 5));
    }

    #[test]
    fn a_paced_line_carries_baud_over_ten_bytes_a_second() {
        let relay = PtyRelay::start().unwrap();
        relay.set_baud(19200);
        let mut a = open(&relay.path_a);
        let mut b = open(&relay.path_b);
        let t = Instant::now();
        a.write_all(&[b'x'; 960]).unwrap();
        let got = read_until(&mut b, 960);
        let took = t.elapsed();
        assert_eq!(got.len(), 960);
        // 960 bytes at 1920 bytes/s: half a second, give or take a poll.
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(900),
            "{took:?}"
        );
    }

    #[test]
    fn a_cut_cable_carries_nothing() {
        let relay = PtyRelay::start().unwrap();
        let mut a = open(&relay.path_a);
        let mut b = open(&relay.path_b);
        relay.set_cut(true);
        a.write_all(b"lost\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut buf = [0u8; 16];
        assert!(b.read(&mut buf).is_err(), "nothing may arrive");
        relay.set_cut(false);
        a.write_all(b"kept\n").unwrap();
        assert_eq!(read_until(&mut b, 5), b"kept\n");
    }
}
