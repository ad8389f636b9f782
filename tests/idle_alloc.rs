//! The idle path allocates nothing (issue 18, item 3): two cores at
//! keepalive 20 ms / deadtime 100 ms, ucast only, no groups, exchange their
//! heartbeats for many periods, each datagram sealed and opened as the shell
//! does it; once the pair is settled, no period may allocate on the heap.
//!
//! A counting global allocator is installed in this test binary only; it
//! counts the allocations of the thread that armed it (the test harness's
//! other threads allocate as they please).

use hbd::config::{authkeys, Auth, Config, Medium, MsgFmt};
use hbd::core::{Input, LinkId, Node, Output};
use hbd::time::{t, Duration, Instant};
use hbd::wire;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use testkit::core_harness::{config, params, LOCAL, PEER};

struct Counting;

thread_local! {
    /// Allocations (and reallocations) on this thread while armed.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// `HBD_ALLOC_TRACE=1`: print a backtrace of the first allocations counted,
/// to find where they come from.
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static TRACED: Cell<u32> = const { Cell::new(0) };
}

fn note() {
    // try_with: the thread-local may be gone while a thread exits.
    let armed = COUNT
        .try_with(|c| match c.get() {
            Some(n) => {
                c.set(Some(n + 1));
                true
            }
            None => false,
        })
        .unwrap_or(false);
    if armed && TRACE.load(Ordering::Relaxed) {
        let n = TRACED.with(|t| {
            t.set(t.get() + 1);
            t.get()
        });
        if n <= 20 {
            // Disarmed while the backtrace (which allocates) is taken.
            let saved = COUNT.with(|c| c.replace(None));
            eprintln!(
                "allocation {n}:\n{}",
                std::backtrace::Backtrace::force_capture()
            );
            COUNT.with(|c| c.set(saved));
        }
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        System.realloc(p, l, n)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns how many heap allocations it made on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|c| c.set(Some(0)));
    let r = f();
    let n = COUNT.with(|c| c.replace(None)).unwrap_or(0);
    (r, n)
}

const KEEPALIVE: u64 = 20;

/// The bench's tightest setting: ucast only, no groups.
fn idle_config() -> Config {
    let mut c = config(hbd::config::AutoFailback::Off);
    c.keepalive = Duration::from_millis(KEEPALIVE);
    c.deadtime = Duration::from_millis(100);
    c.warntime = Duration::from_millis(50);
    c.initdead = Duration::from_millis(200);
    c.media = vec![Medium::Ucast {
        dev: "lo".into(),
        peer: "127.0.0.2".into(),
    }];
    c.groups.clear();
    c.auth = auth();
    c
}

fn auth() -> Auth {
    authkeys::parse(
        "auth 1\n1 sha1 idle-profile\n",
        std::path::Path::new("authkeys"),
    )
    .0
}

/// How a message crosses from one core to the other.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// The typed message handed over as it is: the core alone.
    Core,
    /// Sealed into a datagram with this `msgfmt` and opened again, as the
    /// shell does.
    Wire(MsgFmt),
}

/// Two cores joined by one loss-free link with no delay.
struct Pair {
    nodes: [Node; 2],
    names: [&'static str; 2],
    now: Instant,
    path: Path,
    auth: Auth,
    /// Each node's, as the shell keeps one.
    sealers: [wire::Sealer; 2],
    /// Events the cores reported (none are expected once settled).
    events: Vec<hbd::core::Event>,
    sent: u64,
    /// The distinct moments at which something was sent (each a wake-up
    /// of the node that sent, in a real pair).
    send_moments: u64,
    last_send: Option<Instant>,
}

impl Pair {
    /// Node b starts `b_ms` after node a.
    fn new(path: Path, b_ms: u64) -> Pair {
        let a = Node::new(params(idle_config(), LOCAL, 0x10, [0xaa; 16], 7), t(0));
        let b = Node::new(params(idle_config(), PEER, 0x20, [0xbb; 16], 8), t(b_ms));
        let mut p = Pair {
            nodes: [a, b],
            names: [LOCAL, PEER],
            now: t(0),
            path,
            auth: auth(),
            sealers: [wire::Sealer::new(), wire::Sealer::new()],
            events: Vec::new(),
            sent: 0,
            send_moments: 0,
            last_send: None,
        };
        p.exchange();
        p
    }

    /// Delivers everything both cores want sent until neither has more.
    fn exchange(&mut self) {
        loop {
            let mut any = false;
            for i in 0..2 {
                while let Some(out) = self.nodes[i].poll_output() {
                    any = true;
                    match out {
                        Output::Send { msg, .. } => {
                            self.sent += 1;
                            if self.last_send != Some(self.now) {
                                self.last_send = Some(self.now);
                                self.send_moments += 1;
                            }
                            let input = match self.path {
                                Path::Core => Some(Input::Message {
                                    link: LinkId(0),
                                    msg,
                                }),
                                Path::Wire(fmt) => self.over_the_wire(msg, 1 - i, fmt),
                            };
                            if let Some(input) = input {
                                self.nodes[1 - i].handle(self.now, input);
                            }
                        }
                        Output::Event(e) => self.events.push(e),
                        other => panic!("an idle pair without groups did {other:?}"),
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    fn over_the_wire(&mut self, msg: hbd::wire::Repr, to: usize, fmt: MsgFmt) -> Option<Input> {
        let bytes = self.sealers[1 - to].udp(&msg, &self.auth, fmt).unwrap();
        let got = wire::open_repr(bytes, &self.auth).unwrap();
        Input::typed(LinkId(0), got, self.names[to])
    }

    /// Runs both cores to `until` (ms), waking each at its deadlines.
    fn run_until(&mut self, until: u64) {
        let end = t(until);
        loop {
            let next = self
                .nodes
                .iter()
                .filter_map(Node::next_deadline)
                .min()
                .expect("a core always has a deadline");
            if next > end {
                self.now = end;
                return;
            }
            self.now = next;
            for i in 0..2 {
                if self.nodes[i].next_deadline() <= Some(next) {
                    self.nodes[i].handle(next, Input::Timer);
                }
            }
            self.exchange();
        }
    }
}

/// Settled: past initdead, the 5 s during which a node advertises a longer
/// dead time, and the start-up negotiation (which, with no groups, ends after
/// heartbeat's 10 s wait for the peer's holdings).
const SETTLED_MS: u64 = 15_000;
/// 1000 heartbeat periods.
const MEASURED_MS: u64 = 1000 * KEEPALIVE;

fn steady_state(path: Path) {
    steady_state_from(path, 0);
}

/// The pair with node b started `b_ms` after node a, settled; returns the
/// distinct moments at which something was sent per period.
fn steady_state_from(path: Path, b_ms: u64) -> f64 {
    let mut p = Pair::new(path, b_ms);
    p.run_until(SETTLED_MS);
    let (events, sent, moments) = (p.events.len(), p.sent, p.send_moments);
    let (_, n) = allocations(|| p.run_until(SETTLED_MS + MEASURED_MS));
    let periods = MEASURED_MS / KEEPALIVE;
    let sent = p.sent - sent;
    assert!(
        sent >= 2 * periods,
        "{sent} messages in {periods} periods: the pair is not heartbeating"
    );
    assert_eq!(
        p.events.len(),
        events,
        "a settled pair reported events: {:?}",
        &p.events[events..]
    );
    assert!(
        p.nodes
            .iter()
            .all(|n| n.status().peer.state == hbd::core::NodeState::Active),
        "both nodes hear an active peer"
    );
    assert_eq!(
        n,
        0,
        "{n} heap allocations in {periods} heartbeat periods ({:.1} per period, {sent} messages); \
         HBD_ALLOC_TRACE=1 shows where",
        n as f64 / periods as f64
    );
    (p.send_moments - moments) as f64 / periods as f64
}

/// Started out of phase (b 7 ms after a, keepalive 20 ms, a status and its
/// copy every 10 ms each way), the pair locks (core::redundancy, riding the
/// peer's wake-ups): b's datagrams go at the moments a's arrive, so sends
/// happen at 2 moments per period instead of 4, and riding allocates nothing.
#[test]
fn a_pair_out_of_phase_locks_and_rides_without_allocating() {
    trace_if_asked();
    let moments = steady_state_from(Path::Wire(MsgFmt::Classic), 7);
    assert!(
        (moments - 2.0).abs() < 0.01,
        "{moments} send moments per period"
    );
}

#[test]
fn the_core_allocates_nothing_per_heartbeat_period() {
    trace_if_asked();
    steady_state(Path::Core);
}

/// `msgfmt classic`, heartbeat's default: the netstring datagram also
/// carries the classic signature as an inner field.
#[test]
fn sealing_and_opening_heartbeats_allocates_nothing() {
    trace_if_asked();
    steady_state(Path::Wire(MsgFmt::Classic));
}

#[test]
fn sealing_and_opening_netstring_heartbeats_allocates_nothing() {
    trace_if_asked();
    steady_state(Path::Wire(MsgFmt::Netstring));
}

fn trace_if_asked() {
    TRACE.store(
        std::env::var_os("HBD_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
}

/// The counter itself: a test of a test that could otherwise pass vacuously.
#[test]
fn the_counter_sees_allocations() {
    let (v, n) = allocations(|| vec![1u8; 100]);
    assert_eq!(v.len(), 100);
    assert!(n >= 1, "a Vec allocation was not counted");
    let (_, n) = allocations(|| 1 + 1);
    assert_eq!(n, 0);
}
