//! A null-modem cable: two pseudo-terminals whose bytes a relay copies
//! across, optionally no faster than a real line at a given baud rate would
//! carry them (10 bits per byte: start, 8 data, stop; ptys ignore their baud
//! setting). Pulling the cable drops the bytes sent meanwhile, as a real
//! cable does: a socat relay stopped with SIGSTOP would instead deliver them
//! late, and heartbeat then takes its peer's stale messages for a node
//! returning after a partition.
//!
//! A lossy cable ([`Relay::set_loss`]) drops whole frames at random, as the
//! nftables rule drops whole datagrams on the veth: a compact frame (one
//! line starting `~`) or a classic one (`>>>` … `<<<`). Dropping bytes
//! instead would lose nearly every frame of 50 bytes at 5 % (0.95⁵⁰ ≈ 8 %
//! survive), which is not what "5 % loss" means on the other link.
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
    /// Percent of frames dropped at random (0: none, bytes pass as read).
    loss: Arc<AtomicU32>,
    /// Frames seen and frames dropped while a loss was set.
    frames: Arc<[AtomicU64; 2]>,
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
        let loss = Arc::new(AtomicU32::new(0));
        let frames = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        for (from, to) in [(ma, mb2), (mb, ma2)] {
            let line = Line {
                stop: stop.clone(),
                plugged: plugged.clone(),
                carried: carried.clone(),
                loss: loss.clone(),
                frames: frames.clone(),
            };
            std::thread::spawn(move || pump(from, to, bytes_per_s, &line));
        }
        Relay {
            ends: [pa, pb],
            stop,
            plugged,
            carried,
            loss,
            frames,
        }
    }

    /// Drops `percent` % of the frames, each at random, both ways.
    pub fn set_loss(&self, percent: u32) {
        self.loss.store(percent.min(100), Ordering::Relaxed);
    }

    /// Frames seen and frames dropped while a loss was set.
    pub fn frames(&self) -> (u64, u64) {
        (
            self.frames[0].load(Ordering::Relaxed),
            self.frames[1].load(Ordering::Relaxed),
        )
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

/// What the two pump threads share with the [`Relay`].
struct Line {
    stop: Arc<AtomicBool>,
    plugged: Arc<AtomicBool>,
    carried: Arc<AtomicU64>,
    loss: Arc<AtomicU32>,
    frames: Arc<[AtomicU64; 2]>,
}

/// Cuts a byte stream into serial frames: a line starting `~` (hbd's
/// compact frame) or `>>>` … `<<<` (heartbeat's classic frame); any other
/// line outside a classic frame counts as a frame of its own.
#[derive(Default)]
pub(crate) struct Frames {
    pending: Vec<u8>,
    line_start: usize,
    in_classic: bool,
}

impl Frames {
    /// Feeds `bytes`; calls `done` with every frame they complete.
    pub(crate) fn push(&mut self, bytes: &[u8], mut done: impl FnMut(&[u8])) {
        for &b in bytes {
            self.pending.push(b);
            if b != b'\n' {
                // A runaway line (noise) must not hold bytes forever.
                if self.pending.len() > 1 << 16 {
                    done(&std::mem::take(&mut self.pending));
                    self.line_start = 0;
                    self.in_classic = false;
                }
                continue;
            }
            let line = &self.pending[self.line_start..];
            let ends = if self.in_classic {
                line.starts_with(b"<<<")
            } else if line.starts_with(b">>>") {
                self.in_classic = true;
                false
            } else {
                true
            };
            if ends {
                self.in_classic = false;
                done(&std::mem::take(&mut self.pending));
                self.line_start = 0;
            } else {
                self.line_start = self.pending.len();
            }
        }
    }
}

/// xorshift64*: the relay's dice (a fresh random seed per thread).
pub(crate) struct Dice(u64);

impl Dice {
    pub(crate) fn new() -> Dice {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Dice(seed | 1)
    }

    /// True with probability `percent` / 100.
    pub(crate) fn hit(&mut self, percent: u32) -> bool {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % 100 < u64::from(percent)
    }
}

/// Copies one direction, each chunk delivered when the line would have
/// finished sending it; with a loss set, whole frames are delivered or
/// dropped.
fn pump(mut from: File, mut to: File, bytes_per_s: Option<f64>, l: &Line) {
    let mut buf = [0u8; 64];
    let mut line_free = Instant::now();
    let mut frames = Frames::default();
    let mut dice = Dice::new();
    while !l.stop.load(Ordering::Relaxed) {
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
        let loss = l.loss.load(Ordering::Relaxed);
        let mut deliver = |bytes: &[u8]| {
            if l.plugged.load(Ordering::Relaxed) && to.write_all(bytes).is_ok() {
                l.carried.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        };
        if loss == 0 {
            deliver(&buf[..k]);
            continue;
        }
        frames.push(&buf[..k], |frame| {
            l.frames[0].fetch_add(1, Ordering::Relaxed);
            if dice.hit(loss) {
                l.frames[1].fetch_add(1, Ordering::Relaxed);
            } else {
                deliver(frame);
            }
        });
    }
}
