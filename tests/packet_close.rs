//! hbd's packet sockets (gratuitous ARP, unsolicited NA, the probes' answers)
//! are closed on a background thread: the kernel's release of an `AF_PACKET`
//! socket waits for a network RCU grace period, 8-16 ms on the 6.18 VM hbd
//! is measured on, which a built-in address's start step paid on every
//! takeover and an announcement keeper paid on the daemon's event loop.
//! Its own test binary: no other test in the process opens packet sockets,
//! so the closer's count is exact.

use hbd::shell::arp;
use std::time::{Duration, Instant};
use testkit::skip::Needs;

#[test]
fn packet_sockets_are_closed_by_the_closer_thread() {
    if !Needs::new("packet_sockets_are_closed_by_the_closer_thread")
        .root("AF_PACKET sockets need CAP_NET_RAW")
        .met()
    {
        return;
    }
    assert_eq!(arp::closed_elsewhere(), 0);
    let sender = arp::packet_socket().expect("packet socket");
    let receiver = arp::arp_receiver(1).expect("receiver on lo");
    let t0 = Instant::now();
    drop(sender);
    drop(receiver);
    let dropped_in = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while arp::closed_elsewhere() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let closed_in = t0.elapsed();
    eprintln!(
        "two packet sockets: dropped in {dropped_in:?}, closed by the closer in {closed_in:?}"
    );
    assert_eq!(
        arp::closed_elsewhere(),
        2,
        "the closer thread did not close both sockets within 10 s"
    );
}
