//! A null-modem cable: two pseudo-terminals whose bytes a relay copies
//! across, optionally no faster than a real line at a given baud rate would
//! carry them (10 bits per byte: start, 8 data, stop; ptys ignore their baud
//! setting). Pulling the cable drops the bytes sent meanwhile, as a real
//! cable does: a socat relay stopped with SIGSTOP would instead deliver them
//! late, and heartbeat then takes its peer's stale messages for a node
//! returning after a partition.
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub struct Relay {
    /// The slave ends (`/dev/pts/N`), one per node.
    pub ends: [PathBuf; 2],
    stop: Arc<AtomicBool>,
    plugged: Arc<AtomicBool>,
    /// Bytes carried, both directions together.
    carried: Arc<AtomicU64>,
}

fn open_end() -> (File, PathBuf) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    if let Ok(mut t) = nix::sys::termios::tcgetattr(&pty.slave) {
        nix::sys::termios::cfmakeraw(&mut t);
        let _ = nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t);
    }
    // The slave is closed here: the daemon opens it by path. Until it does,
    // reads on the master fail (EIO) and the relay waits.
    (File::from(pty.master), path)
}

impl Relay {
    /// `baud` None: as fast as the ptys go.
    pub fn start(baud: Option<u32>) -> Relay {
        let (ma, pa) = open_end();
        let (mb, pb) = open_end();
        let stop = Arc::new(AtomicBool::new(false));
        let plugged = Arc::new(AtomicBool::new(true));
        let bytes_per_s = baud.map(|b| f64::from(b) / 10.0);
        let ma2 = ma.try_clone().expect("dup master");
        let mb2 = mb.try_clone().expect("dup master");
        let carried = Arc::new(AtomicU64::new(0));
        for (from, to) in [(ma, mb2), (mb, ma2)] {
            let (s, p, n) = (stop.clone(), plugged.clone(), carried.clone());
            std::thread::spawn(move || pump(from, to, bytes_per_s, &s, &p, &n));
        }
        Relay {
            ends: [pa, pb],
            stop,
            plugged,
            carried,
        }
    }

    /// Bytes carried so far, both directions together.
    pub fn carried(&self) -> u64 {
        self.carried.load(Ordering::Relaxed)
    }

    /// A pulled cable drops what is sent; a plugged one carries it again.
    pub fn set_plugged(&self, up: bool) {
        self.plugged.store(up, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies one direction, each chunk delivered when the line would have
/// finished sending it.
fn pump(
    mut from: File,
    mut to: File,
    bytes_per_s: Option<f64>,
    stop: &AtomicBool,
    plugged: &AtomicBool,
    carried: &AtomicU64,
) {
    let mut buf = [0u8; 64];
    let mut line_free = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let k = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                // No daemon holds the other end yet (or any more).
                sleep(Duration::from_millis(20));
                continue;
            }
            Ok(k) => k,
        };
        if let Some(rate) = bytes_per_s {
            let now = Instant::now();
            if line_free < now {
                line_free = now;
            }
            line_free += Duration::from_secs_f64(k as f64 / rate);
            sleep(line_free.saturating_duration_since(Instant::now()));
        }
        if plugged.load(Ordering::Relaxed) && to.write_all(&buf[..k]).is_ok() {
            carried.fetch_add(k as u64, Ordering::Relaxed);
        }
    }
}
