//! The daemon's resident footprint at idle (issue 18: RSS ≤ 5 MiB).
//!
//! Why: most of an idle daemon's RSS is not memory it uses. Reading the
//! configuration, starting up, negotiating and running the first steps touch
//! code all over the binary and libc, and the kernel maps each touched page
//! with its neighbours (fault-around, 64 KiB): a release build settles at
//! ~3.7 MiB of its own text and rodata mapped and ~1.3 MiB of libc's, of
//! which the steady heartbeat path uses ~1 MiB in all (measured with
//! `/proc/PID/clear_refs` and `Referenced:`, docs/benchmarks.md). Under
//! `realtime on` those pages are also locked, so they are withheld from the
//! rest of the machine for the daemon's lifetime.
//!
//! What: once the node has been quiet for a while, the clean read-only file
//! mappings (code and constants of the binary and its libraries) are
//! dropped from our page tables with `MADV_DONTNEED`. Their pages stay in
//! the page cache, shared with every other process using them; the next
//! heartbeat maps back what it uses with minor faults (a few dozen, a few
//! microseconds each), and a takeover later maps what it uses. Locked
//! mappings are unlocked for the call and locked again on fault, as
//! `realtime::lock_memory` locks everything. A mapping with private copies
//! of pages (relocated `.data.rel.ro`, written then made read-only) is never
//! touched: dropping those would bring back the file's unrelocated bytes.
//! glibc's free heap is returned with `malloc_trim`.

use crate::time::{Duration, Instant};

/// The node is quiet when nothing but heartbeats happened for this long.
pub const QUIET: Duration = Duration::from_secs(5);
/// At most one trim per this long (a node polled by `hbd status` every few
/// seconds must not trim at every poll).
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// One mapping to drop: `[start, end)`, and whether it is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: usize,
    pub end: usize,
    pub locked: bool,
}

/// The mappings of `smaps` (the text of `/proc/self/smaps`) that can be
/// dropped: file-backed, private, not writable, with no private copies.
pub fn droppable(smaps: &str) -> Vec<Region> {
    let mut out = Vec::new();
    // The mapping being read, if it qualifies so far.
    let mut cur: Option<Region> = None;
    let mut anon_free = false;
    let mut finish = |cur: &mut Option<Region>, anon_free: bool| {
        if let Some(r) = cur.take().filter(|_| anon_free) {
            out.push(r);
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            finish(&mut cur, anon_free);
            anon_free = false;
            let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            let perms = f.next().unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            let private_ro = perms.len() == 4 && !perms.contains('w') && perms.ends_with('p');
            if private_ro && path.starts_with('/') && end > start {
                cur = Some(Region {
                    start,
                    end,
                    locked: false,
                });
            }
            continue;
        }
        let Some(r) = cur.as_mut() else { continue };
        match first {
            "Anonymous:" => anon_free = f.next() == Some("0"),
            "VmFlags:" => r.locked = f.any(|fl| fl == "lo"),
            _ => {}
        }
    }
    finish(&mut cur, anon_free);
    out
}

/// When the node last did something other than heartbeats, and when it
/// last trimmed.
#[derive(Debug)]
pub struct Trimmer {
    active_at: Instant,
    trimmed_at: Option<Instant>,
    /// Nothing happened since the last trim.
    done: bool,
}

impl Trimmer {
    pub fn new(now: Instant) -> Trimmer {
        Trimmer {
            active_at: now,
            trimmed_at: None,
            done: false,
        }
    }

    /// Something other than a heartbeat happened at `now`.
    pub fn active(&mut self, now: Instant) {
        self.active_at = now;
        self.done = false;
    }

    /// Whether to trim at `now`; if so, counts it as done.
    pub fn due(&mut self, now: Instant) -> bool {
        let due = !self.done
            && now.saturating_since(self.active_at) >= QUIET
            && !matches!(self.trimmed_at, Some(t) if now.saturating_since(t) < MIN_INTERVAL);
        if due {
            self.done = true;
            self.trimmed_at = Some(now);
        }
        due
    }
}

/// What a trim did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Trimmed {
    pub regions: usize,
    pub bytes: usize,
    pub failed: usize,
}

/// Drops the droppable mappings from the page tables and returns glibc's
/// free heap. Errors are counted, not fatal: a mapping that is kept only
/// costs memory.
pub fn trim() -> std::io::Result<Trimmed> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut t = Trimmed::default();
    for r in droppable(&smaps) {
        if drop_region(r) {
            t.regions += 1;
            t.bytes += r.end - r.start;
        } else {
            t.failed += 1;
        }
    }
    release_heap();
    Ok(t)
}

/// Linux's MLOCK_ONFAULT for mlock2 (4.4 and later).
const MLOCK_ONFAULT: libc::c_long = 1;

#[allow(unsafe_code)]
fn drop_region(r: Region) -> bool {
    let (addr, len) = (r.start as *mut libc::c_void, r.end - r.start);
    // SAFETY: [start, end) is one of our own mappings as the kernel listed
    // it: file-backed, private, read-only and with no anonymous (private
    // copy) pages, so MADV_DONTNEED only unmaps pages that the next access
    // maps again from the same file, with the same bytes. munlock and
    // mlock2 change no contents. Nothing in this process maps or unmaps
    // libraries concurrently (the runtime is current_thread, nothing is
    // dlopen'ed at idle).
    unsafe {
        if r.locked && libc::munlock(addr, len) != 0 {
            return false;
        }
        let ok = libc::madvise(addr, len, libc::MADV_DONTNEED) == 0;
        if r.locked {
            // Locked again as it is touched, as `realtime::lock_memory` does.
            libc::syscall(libc::SYS_mlock2, addr, len, MLOCK_ONFAULT);
        }
        ok
    }
}

#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
fn release_heap() {
    // SAFETY: malloc_trim only returns free memory of glibc's heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn release_heap() {}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a00c0000 r--p 00000000 fe:00 10010751                   /usr/sbin/hbd
Size:                768 kB
Rss:                 700 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
55d0a00c0000-55d0a0430000 r-xp 000bf000 fe:00 10010751                   /usr/sbin/hbd
Anonymous:             0 kB
VmFlags: rd ex mr mw me lo dw sd
55d0a0430000-55d0a043f000 r--p 00426000 fe:00 10010751                   /usr/sbin/hbd
Anonymous:            60 kB
VmFlags: rd mr mw me ac sd
55d0a043f000-55d0a0441000 rw-p 00434000 fe:00 10010751                   /usr/sbin/hbd
Anonymous:             8 kB
VmFlags: rd wr mr mw me ac sd
55d0a1000000-55d0a1100000 rw-p 00000000 00:00 0                          [heap]
Anonymous:           336 kB
7f0000000000-7f0000001000 r--s 00000000 00:05 42                         /dev/shm/x
Anonymous:             0 kB
7f0000010000-7f0000020000 r--p 00000000 00:00 0
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_private_file_mappings_are_dropped() {
        assert_eq!(
            droppable(SMAPS),
            vec![
                Region {
                    start: 0x55d0a0000000,
                    end: 0x55d0a00c0000,
                    locked: false
                },
                Region {
                    start: 0x55d0a00c0000,
                    end: 0x55d0a0430000,
                    locked: true
                },
            ],
            "not the relocated read-only data, the data, the heap, a shared \
             mapping, an anonymous one or the vdso"
        );
        // A mapping whose fields were cut off is not trusted.
        assert_eq!(droppable(&SMAPS[..SMAPS.find("Size:").unwrap()]), vec![]);
    }

    #[test]
    fn trims_once_per_quiet_spell_and_at_most_every_interval() {
        let t0 = Instant::ZERO;
        let mut t = Trimmer::new(t0);
        assert!(!t.due(t0 + Duration::from_secs(4)));
        assert!(t.due(t0 + QUIET));
        assert!(
            !t.due(t0 + Duration::from_secs(30)),
            "nothing happened since"
        );
        t.active(t0 + Duration::from_secs(31));
        assert!(!t.due(t0 + Duration::from_secs(40)), "within the interval");
        assert!(t.due(t0 + QUIET + MIN_INTERVAL));
        t.active(t0 + Duration::from_secs(200));
        assert!(!t.due(t0 + Duration::from_secs(204)), "not quiet yet");
        assert!(t.due(t0 + Duration::from_secs(205)));
    }

    /// The trimming tests one at a time: a trim drops the other's mapping.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The `Rss:` of the mapping starting at `start`, in KiB.
    fn rss_kib(start: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut found = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((a, _)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
                found = usize::from_str_radix(a, 16) == Ok(start);
            } else if found && first == "Rss:" {
                return line.split_whitespace().nth(1)?.parse().ok();
            }
        }
        None
    }

    /// A private read-only mapping of a 1 MiB file of our own (code of the
    /// binary would be touched again by the other tests meanwhile).
    #[allow(unsafe_code)]
    fn map_file(f: &std::fs::File, len: usize) -> &'static [u8] {
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh read-only private mapping of an open file, never
        // unmapped (the test process ends soon), read as bytes only.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                f.as_raw_fd(),
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            std::slice::from_raw_parts(p as *const u8, len)
        }
    }

    #[test]
    fn a_trim_unmaps_clean_file_pages_and_they_come_back_unchanged() {
        use std::io::Write;
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let len = 1 << 20;
        let mut f = tempfile::tempfile().unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        f.write_all(&bytes).unwrap();
        let map = map_file(&f, len);
        assert!(map == &bytes[..]);
        let start = map.as_ptr() as usize;
        assert_eq!(rss_kib(start), Some(1024), "all touched");
        let t = trim().unwrap();
        assert!(t.regions > 0 && t.failed == 0, "{t:?}");
        assert_eq!(rss_kib(start), Some(0), "dropped from the page tables");
        assert!(map == &bytes[..], "mapped again from the file, same bytes");
        assert_eq!(rss_kib(start), Some(1024));
        // And this process's own code still runs.
        let s: String = (0..1000).map(|i| format!("{i:x}")).collect();
        assert_eq!(s.len(), 2728);
    }

    #[test]
    #[allow(unsafe_code)]
    fn a_locked_mapping_is_dropped_and_locked_again() {
        use std::io::Write;
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let len = 64 << 10;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![7u8; len]).unwrap();
        let map = map_file(&f, len);
        // SAFETY: locks pages of our own mapping; changes no contents.
        if unsafe { libc::mlock(map.as_ptr().cast(), len) } != 0 {
            eprintln!(
                "skipped: mlock refused ({}; raise `ulimit -l`)",
                std::io::Error::last_os_error()
            );
            return;
        }
        let start = map.as_ptr() as usize;
        assert_eq!(rss_kib(start), Some(64));
        trim().unwrap();
        assert_eq!(rss_kib(start), Some(0));
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let r = droppable(&smaps).into_iter().find(|r| r.start == start);
        assert_eq!(r.map(|r| r.locked), Some(true), "locked again (on fault)");
        assert!(map.iter().all(|b| *b == 7));
        assert_eq!(rss_kib(start), Some(64));
    }
}
