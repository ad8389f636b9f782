//! The serial link: heartbeat's termios (spec §4.3), classic frames out, and a
//! reader that resynchronises on a line starting with `>>>` after garbage or a
//! half frame. End-of-file, hang-up or an error take the link down; it is
//! reopened with a growing back-off (real heartbeat spins on EOF; we must not).

use super::inbox::{LinkCounters, LoopEvent};
use crate::wire::{compact, MAX_MSG};
use nix::sys::termios::{
    self, BaudRate, ControlFlags, FlushArg, InputFlags, LocalFlags, OutputFlags, SetArg,
    SpecialCharacterIndices,
};
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// What the framer made of the bytes it was fed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// `>>>\n` … `<<<\n`, ready for `wire::open`.
    Frame(Vec<u8>),
    /// A frame cut short by a new `>>>` line, or grown past `MAX_MSG`.
    Dropped { bytes: usize, why: &'static str },
}

/// heartbeat's serial reader as a pure state machine: lines are discarded until
/// one starts with `>>>`; lines are then collected until one starts with `<<<`.
/// A line holding hbd's compact start `~s ` or `~k ` (and no `=`) is a frame
/// by itself.
#[derive(Debug, Default)]
pub struct Framer {
    line: Vec<u8>,
    frame: Vec<u8>,
    in_frame: bool,
    /// The current line is too long to be part of any frame: skip to its end.
    skipping_line: bool,
    /// Garbage bytes skipped between frames (noise, not an error).
    pub skipped: u64,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Framed>) {
        for &b in bytes {
            // ISTRIP on a real tty; a pty or a relay may pass 8-bit noise through.
            let b = b & 0x7f;
            if b == b'\r' {
                continue; // IGNCR
            }
            if self.skipping_line {
                if b == b'\n' {
                    self.skipping_line = false;
                }
                continue;
            }
            self.line.push(b);
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.end_of_line(line, out);
            } else if self.line.len() > MAX_MSG {
                self.skipped += self.line.len() as u64;
                self.line.clear();
                self.skipping_line = true;
                if self.in_frame {
                    self.drop_frame("longer than MAX_MSG", out);
                }
            }
        }
    }

    fn drop_frame(&mut self, why: &'static str, out: &mut Vec<Framed>) {
        let bytes = self.frame.len();
        self.frame.clear();
        self.in_frame = false;
        out.push(Framed::Dropped { bytes, why });
    }

    fn end_of_line(&mut self, line: Vec<u8>, out: &mut Vec<Framed>) {
        // hbd's compact frame is one line. It never holds '=', so a classic
        // field line (`name=value`, whose value may hold "~s ") is never one.
        if !line.contains(&b'=') {
            if let Some(at) = compact::find_start(&line) {
                if !self.in_frame || at == 0 {
                    if self.in_frame {
                        self.drop_frame("half frame (compact frame before the end marker)", out);
                    }
                    self.skipped += at as u64;
                    out.push(Framed::Frame(line[at..].to_vec()));
                    return;
                }
            }
        }
        if line.len() > 4 && line.ends_with(b">>>\n") {
            // Noise glued to a start marker (a frame cut mid-line, then the next
            // one): resynchronise on the marker rather than lose the next frame too.
            let cut = line.len() - 4;
            if self.in_frame {
                self.drop_frame("half frame (new start marker before the end marker)", out);
            } else {
                self.skipped += cut as u64;
            }
            self.in_frame = true;
            self.frame = line[cut..].to_vec();
            return;
        }
        if line.starts_with(b">>>") {
            if self.in_frame {
                // A new start marker inside a frame: the previous one was cut short.
                self.drop_frame("half frame (new start marker before the end marker)", out);
            }
            self.in_frame = true;
            self.frame = line;
            return;
        }
        if !self.in_frame {
            self.skipped += line.len() as u64;
            return;
        }
        let end = line.starts_with(b"<<<");
        self.frame.extend_from_slice(&line);
        if end {
            self.in_frame = false;
            out.push(Framed::Frame(std::mem::take(&mut self.frame)));
        } else if self.frame.len() > MAX_MSG {
            self.drop_frame("longer than MAX_MSG", out);
        }
    }
}

pub fn baud_rate(baud: u32) -> Option<BaudRate> {
    Some(match baud {
        9600 => BaudRate::B9600,
        19200 => BaudRate::B19200,
        38400 => BaudRate::B38400,
        57600 => BaudRate::B57600,
        115200 => BaudRate::B115200,
        230400 => BaudRate::B230400,
        460800 => BaudRate::B460800,
        _ => return None,
    })
}

/// Opens `path` and applies heartbeat's termios: raw 8-bit, ISTRIP, IGNCR,
/// RTS/CTS, `VMIN=1 VTIME=1`, then flushes and sends a break so the other end
/// flushes its half-read input too.
pub fn open_tty(path: &Path, baud: u32) -> io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let fd = OwnedFd::from(file);
    let mut t = termios::tcgetattr(&fd)?;
    t.input_flags.remove(
        InputFlags::IGNBRK
            // IUCLC: Linux has it, nix does not name it.
            | InputFlags::from_bits_retain(libc::IUCLC)
            | InputFlags::IXANY
            | InputFlags::IXOFF
            | InputFlags::IXON
            | InputFlags::ICRNL
            | InputFlags::PARMRK,
    );
    t.input_flags
        .insert(InputFlags::INPCK | InputFlags::ISTRIP | InputFlags::IGNCR | InputFlags::BRKINT);
    t.output_flags.remove(OutputFlags::OPOST);
    t.control_flags
        .remove(ControlFlags::CSIZE | ControlFlags::PARENB | ControlFlags::PARODD);
    t.control_flags.insert(
        ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL | ControlFlags::CRTSCTS,
    );
    t.local_flags
        .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 1;
    let rate = baud_rate(baud).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported baud rate {baud}"),
        )
    })?;
    termios::cfsetspeed(&mut t, rate)?;
    termios::tcsetattr(&fd, SetArg::TCSANOW, &t)?;
    let _ = termios::tcflush(&fd, FlushArg::TCIOFLUSH);
    // A pty has no line to break; that is not an error worth a line.
    let _ = termios::tcsendbreak(&fd, 0);
    Ok(fd)
}

/// How long one frame may take to write before it is abandoned and the
/// output flushed (heartbeat: 500 ms per 512-byte chunk).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
const BACKOFF_MIN: std::time::Duration = std::time::Duration::from_secs(1);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(10);

pub struct SerialTask {
    pub link: usize,
    pub epoch: u64,
    pub path: PathBuf,
    pub baud: u32,
    pub counters: Arc<LinkCounters>,
    pub events: mpsc::Sender<LoopEvent>,
    pub outgoing: mpsc::Receiver<Vec<u8>>,
}

enum SessionEnd {
    Closed(String),
    LoopGone,
}

impl SerialTask {
    /// Runs until the daemon drops the event channel (or the task is aborted).
    pub async fn run(mut self, first: Option<OwnedFd>) {
        let mut reported_up = true;
        let mut backoff = BACKOFF_MIN;
        let mut fd = first;
        let name = self.path.display().to_string();
        loop {
            let opened = match fd.take() {
                Some(fd) => Ok(fd),
                None => open_tty(&self.path, self.baud),
            };
            match opened {
                Ok(fd) => {
                    if !reported_up {
                        log::info!("serial link {name}: reopened");
                        if !self.transport(true).await {
                            return;
                        }
                        reported_up = true;
                    }
                    let started = std::time::Instant::now();
                    match self.session(fd).await {
                        SessionEnd::LoopGone => return,
                        SessionEnd::Closed(why) => {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            log::warn!(
                                "serial link {name}: {why}; link down, reopening in {}s",
                                backoff.as_secs()
                            );
                        }
                    }
                    if started.elapsed() > BACKOFF_MAX * 3 {
                        backoff = BACKOFF_MIN;
                    }
                }
                Err(e) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    log::debug!(
                        "serial link {name}: cannot open: {e}; retry in {}s",
                        backoff.as_secs()
                    );
                }
            }
            if reported_up {
                if !self.transport(false).await {
                    return;
                }
                reported_up = false;
            }
            // Frames queued while the link is down are dropped, not replayed late.
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    f = self.outgoing.recv() => match f {
                        Some(_) => { self.counters.errors.fetch_add(1, Ordering::Relaxed); }
                        None => return,
                    },
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn transport(&self, up: bool) -> bool {
        self.events
            .send(LoopEvent::Transport {
                link: self.link,
                epoch: self.epoch,
                up,
            })
            .await
            .is_ok()
    }

    async fn session(&mut self, fd: OwnedFd) -> SessionEnd {
        // `AsyncFd::new` is deprecated because a borrowed fd could be closed under
        // the reactor; an OwnedFd moved in here cannot, so the safe constructor is sound.
        #[allow(deprecated)]
        let afd = match AsyncFd::new(fd) {
            Ok(a) => a,
            Err(e) => return SessionEnd::Closed(format!("cannot poll: {e}")),
        };
        let mut framer = Framer::new();
        let mut buf = vec![0u8; 4096];
        let mut framed = Vec::new();
        loop {
            tokio::select! {
                r = afd.readable() => {
                    let mut guard = match r {
                        Ok(g) => g,
                        Err(e) => return SessionEnd::Closed(format!("poll error: {e}")),
                    };
                    match guard.try_io(|a| nix::unistd::read(a.as_raw_fd(), &mut buf).map_err(io::Error::from)) {
                        Err(_would_block) => continue,
                        Ok(Ok(0)) => return SessionEnd::Closed("end of file (hang-up)".into()),
                        Ok(Err(e)) => return SessionEnd::Closed(format!("read error: {e}")),
                        Ok(Ok(n)) => {
                            framer.push(&buf[..n], &mut framed);
                            for f in framed.drain(..) {
                                let ev = match f {
                                    Framed::Frame(bytes) => LoopEvent::Packet {
                                        link: self.link,
                                        epoch: self.epoch,
                                        bytes,
                                        from: None,
                                    },
                                    Framed::Dropped { bytes, why } => LoopEvent::Dropped {
                                        link: self.link,
                                        epoch: self.epoch,
                                        why: format!("{why}, {bytes} bytes"),
                                    },
                                };
                                if self.events.send(ev).await.is_err() {
                                    return SessionEnd::LoopGone;
                                }
                            }
                        }
                    }
                }
                f = self.outgoing.recv() => {
                    let Some(frame) = f else { return SessionEnd::LoopGone };
                    match tokio::time::timeout(WRITE_TIMEOUT, write_all(&afd, &frame)).await {
                        Ok(Ok(())) => { self.counters.sent.fetch_add(1, Ordering::Relaxed); }
                        Ok(Err(e)) => return SessionEnd::Closed(format!("write error: {e}")),
                        Err(_) => {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            let _ = termios::tcflush(afd.get_ref(), FlushArg::TCOFLUSH);
                            log::warn!(
                                "serial link {}: write of {} bytes timed out after {}s (no connection or bad cable?); output flushed",
                                self.path.display(), frame.len(), WRITE_TIMEOUT.as_secs()
                            );
                        }
                    }
                }
            }
        }
    }
}

async fn write_all(afd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = afd.writable().await?;
        match guard.try_io(|a| nix::unistd::write(a.get_ref(), data).map_err(io::Error::from)) {
            Err(_would_block) => continue,
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut Framer, bytes: &[u8]) -> Vec<Framed> {
        let mut out = Vec::new();
        f.push(bytes, &mut out);
        out
    }

    const A: &[u8] = b">>>\nt=status\nsrc=alpha\n<<<\n";
    const B: &[u8] = b">>>\nt=status\nsrc=beta\n<<<\n";

    #[test]
    fn frames_survive_any_split() {
        let stream = [A, B].concat();
        for split in 0..stream.len() {
            let mut f = Framer::new();
            let mut out = frames(&mut f, &stream[..split]);
            out.extend(frames(&mut f, &stream[split..]));
            assert_eq!(
                out,
                vec![Framed::Frame(A.to_vec()), Framed::Frame(B.to_vec())],
                "split {split}"
            );
        }
    }

    #[test]
    fn compact_frames_mix_with_classic_ones() {
        const C: &[u8] = b"~s 1 a 1770 alpha 2a 65a1b2c0 65a1b2c3 3 AAAAAAAAAAAAAAAA\n";
        let stream = [A, C, b"noise~s 1 u 1 b 2 3 4 3 x\n", B, b">>>\nt=x\n", C].concat();
        for split in 0..stream.len() {
            let mut f = Framer::new();
            let mut out = frames(&mut f, &stream[..split]);
            out.extend(frames(&mut f, &stream[split..]));
            assert_eq!(
                out,
                vec![
                    Framed::Frame(A.to_vec()),
                    Framed::Frame(C.to_vec()),
                    Framed::Frame(b"~s 1 u 1 b 2 3 4 3 x\n".to_vec()),
                    Framed::Frame(B.to_vec()),
                    Framed::Dropped {
                        bytes: 8,
                        why: "half frame (compact frame before the end marker)"
                    },
                    Framed::Frame(C.to_vec()),
                ],
                "split {split}"
            );
            assert_eq!(f.skipped, 5);
        }
        // Inside a classic frame a value may hold "~s ": still one field.
        let mut f = Framer::new();
        let m = b">>>\nt=x\ninfo=~s 1 a\n<<<\n";
        assert_eq!(frames(&mut f, m), vec![Framed::Frame(m.to_vec())]);
    }

    #[test]
    fn garbage_and_half_frames_are_skipped_and_resynchronised() {
        let mut f = Framer::new();
        let mut stream = b"\x00\xffnoise\r\nmore noise<<<\n".to_vec();
        stream.extend_from_slice(b">>>\nt=status\nsrc=al"); // cut short
        stream.extend_from_slice(A);
        stream.extend_from_slice(b"junk between\n");
        stream.extend_from_slice(B);
        let out = frames(&mut f, &stream);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(matches!(out[0], Framed::Dropped { .. }));
        assert_eq!(out[1], Framed::Frame(A.to_vec()));
        assert_eq!(out[2], Framed::Frame(B.to_vec()));
        assert!(f.skipped > 0);
    }

    #[test]
    fn cr_is_ignored_and_high_bit_stripped() {
        let mut f = Framer::new();
        let out = frames(&mut f, b">>>\r\nt=st\xe1tus\r\n<<<\r\n");
        assert_eq!(out, vec![Framed::Frame(b">>>\nt=status\n<<<\n".to_vec())]);
    }

    #[test]
    fn oversized_frames_and_lines_are_bounded() {
        let mut f = Framer::new();
        let mut out = Vec::new();
        f.push(b">>>\n", &mut out);
        let line = vec![b'x'; 1000];
        let mut fed = 0;
        while fed <= MAX_MSG + 2000 {
            f.push(&line, &mut out);
            f.push(b"=\n", &mut out);
            fed += 1002;
        }
        assert!(
            matches!(
                out.as_slice(),
                [Framed::Dropped {
                    why: "longer than MAX_MSG",
                    ..
                }]
            ),
            "{out:?}"
        );
        assert!(f.frame.len() <= MAX_MSG && f.line.len() <= MAX_MSG + 1);
        // An endless line without newline never grows the buffer past the bound.
        let mut g = Framer::new();
        for _ in 0..300 {
            g.push(&line, &mut out);
        }
        assert!(g.line.len() <= MAX_MSG + 1);
        out.clear();
        g.push(b"\n", &mut out);
        g.push(A, &mut out);
        assert_eq!(out, vec![Framed::Frame(A.to_vec())]);
    }

    use nix::pty::openpty;

    struct Pty {
        master: OwnedFd,
        slave_path: PathBuf,
        _slave: OwnedFd,
    }

    fn pty() -> Pty {
        let p = openpty(None, None).unwrap();
        let slave_path = nix::unistd::ttyname(&p.slave).unwrap();
        Pty {
            master: p.master,
            slave_path,
            _slave: p.slave,
        }
    }

    use crate::shell::test_runtime as rt;

    fn task(
        path: PathBuf,
    ) -> (
        SerialTask,
        mpsc::Receiver<LoopEvent>,
        mpsc::Sender<Vec<u8>>,
        Arc<LinkCounters>,
    ) {
        let (etx, erx) = mpsc::channel(64);
        let (otx, orx) = mpsc::channel(64);
        let counters = Arc::new(LinkCounters::default());
        (
            SerialTask {
                link: 3,
                epoch: 7,
                path,
                baud: 19200,
                counters: counters.clone(),
                events: etx,
                outgoing: orx,
            },
            erx,
            otx,
            counters,
        )
    }

    /// The link's next report to the loop; fails the test after `secs`.
    async fn next_event(ev: &mut mpsc::Receiver<LoopEvent>, secs: u64) -> LoopEvent {
        tokio::time::timeout(std::time::Duration::from_secs(secs), ev.recv())
            .await
            .expect("no event from the serial task in time")
            .expect("the serial task dropped its event channel")
    }

    fn is_transport(e: &LoopEvent, want_up: bool) -> bool {
        matches!(e, LoopEvent::Transport { link: 3, up, .. } if *up == want_up)
    }

    #[test]
    fn pty_link_reads_frames_through_noise_and_writes_frames() {
        let p = pty();
        rt().block_on(async {
            let (t, mut ev, out, counters) = task(p.slave_path.clone());
            let h = tokio::spawn(t.run(None));
            // Let the link open (and flush) before writing into it.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let mut stream = b"line noise\n>>>\nt=status\nsrc=x".to_vec();
            stream.extend_from_slice(A);
            stream.extend_from_slice(b"\x07\x07garbage");
            stream.extend_from_slice(B);
            nix::unistd::write(&p.master, &stream).unwrap();
            let mut got = Vec::new();
            while got.len() < 3 {
                got.push(next_event(&mut ev, 5).await);
            }
            assert!(
                matches!(
                    got[0],
                    LoopEvent::Dropped {
                        link: 3,
                        epoch: 7,
                        ..
                    }
                ),
                "{got:?}"
            );
            assert!(
                matches!(&got[1], LoopEvent::Packet { link: 3, bytes, .. } if bytes == A),
                "{got:?}"
            );
            assert!(
                matches!(&got[2], LoopEvent::Packet { link: 3, bytes, .. } if bytes == B),
                "{got:?}"
            );
            // Outgoing: the frame arrives on the other end byte for byte.
            out.send(A.to_vec()).await.unwrap();
            let mut buf = vec![0u8; 256];
            let mut read = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while read.len() < A.len() && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let fl =
                    nix::fcntl::fcntl(p.master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
                let _ = nix::fcntl::fcntl(
                    p.master.as_raw_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(
                        nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK,
                    ),
                );
                if let Ok(n) = nix::unistd::read(p.master.as_raw_fd(), &mut buf) {
                    read.extend_from_slice(&buf[..n]);
                }
            }
            assert_eq!(read, A);
            assert_eq!(counters.sent.load(Ordering::Relaxed), 1);
            h.abort();
        });
    }

    #[test]
    fn hangup_takes_the_link_down_backs_off_and_reopens() {
        // A symlink to the pty, like socat's `link=`: restarting the relay gives a new pty.
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyHB0");
        let first = pty();
        std::os::unix::fs::symlink(&first.slave_path, &link).unwrap();
        rt().block_on(async {
            let (t, mut ev, _out, counters) = task(link.clone());
            let h = tokio::spawn(t.run(None));
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            // Pulling the cable: the other end goes away for good.
            drop(first);
            // Other tests may be handed the freed pty number: point nowhere meanwhile.
            std::fs::remove_file(&link).unwrap();
            let e = next_event(&mut ev, 5).await;
            assert!(is_transport(&e, false), "{e:?}");
            // Back-off: within 3.5 s a few attempts (1 s, 2 s…), not a spin.
            tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
            let errors = counters.errors.load(Ordering::Relaxed);
            assert!((1..=4).contains(&errors), "errors {errors}");
            // The relay comes back on a new pty: the link reopens and says so.
            let second = pty();
            std::os::unix::fs::symlink(&second.slave_path, &link).unwrap();
            let e = next_event(&mut ev, 12).await;
            assert!(is_transport(&e, true), "{e:?}");
            nix::unistd::write(&second.master, A).unwrap();
            let e = next_event(&mut ev, 5).await;
            assert!(
                matches!(&e, LoopEvent::Packet { bytes, .. } if bytes == A),
                "{e:?}"
            );
            h.abort();
        });
    }
}
