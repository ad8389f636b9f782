//! ARP on the wire for floating addresses: the gratuitous announcement, the
//! probe that asks a target from the floating address (its answer proves the
//! target maps the address to this node's MAC), reading those answers, and
//! the default gateway a probe may go to. Frames are built and read here as
//! bytes; the sockets are `AF_PACKET` in the calling thread's namespace.

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;

/// An `AF_PACKET` socket that is closed on a background thread. The kernel's
/// release of a packet socket waits for a network RCU grace period
/// (`synchronize_net`): 8-16 ms measured on a 6.18 VM, on every close. A
/// built-in address's start closed its sender before returning, which put
/// that wait on every takeover; an announcement keeper dropped its sockets
/// on the daemon's only event-loop thread, stalling heartbeats.
#[derive(Debug)]
pub struct PacketSocket(Option<OwnedFd>);

impl PacketSocket {
    fn new(fd: OwnedFd) -> PacketSocket {
        closer();
        PacketSocket(Some(fd))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.0
            .as_ref()
            .expect("a PacketSocket holds its fd until dropped")
            .as_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd().as_raw_fd()
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            match closer() {
                // If the closer is gone, the fd comes back in the error and
                // is closed here: slow, never leaked.
                Some(tx) => drop(tx.send(fd)),
                None => drop(fd),
            }
        }
    }
}

/// Packet sockets closed so far by the closer thread.
static CLOSED_ELSEWHERE: AtomicU64 = AtomicU64::new(0);

/// How many packet sockets this process has closed on its closer thread.
pub fn closed_elsewhere() -> u64 {
    CLOSED_ELSEWHERE.load(Ordering::Relaxed)
}

/// The channel to the thread that closes packet sockets, started with the
/// first socket (so the first close on a takeover path finds it running).
/// None when no thread could be started: sockets are then closed in place.
fn closer() -> Option<&'static mpsc::Sender<OwnedFd>> {
    static TX: OnceLock<Option<mpsc::Sender<OwnedFd>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<OwnedFd>();
        std::thread::Builder::new()
            .name("hbd-close".into())
            // It only waits in close(2): a small stack stays small even where
            // `realtime` locks memory without MCL_ONFAULT.
            .stack_size(64 << 10)
            .spawn(move || {
                // A socket keeps its own namespace for its release, so the
                // closer needs none; but started from a thread that entered a
                // network namespace (the tests do), it would keep that
                // namespace and its interfaces alive after `ip netns del`.
                // Back to the process's own, where allowed.
                if let Ok(ns) = std::fs::File::open("/proc/self/ns/net") {
                    let _ = nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET);
                }
                for fd in rx {
                    drop(fd);
                    CLOSED_ELSEWHERE.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(|e| log::warn!("no thread to close packet sockets ({e}): closing in place"))
            .ok()
            .map(|_| tx)
    })
    .as_ref()
}

/// The gratuitous ARP request for `ip` from `mac`: broadcast, sender and target
/// protocol address both `ip`, target hardware address the broadcast MAC: byte
/// for byte what iputils `arping -U` (hbd's agents) sends, which
/// tests/builtin_ipaddr.rs compares on the wire.
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = request_frame(mac, ip, ip);
    f[32..38].copy_from_slice(&[0xff; 6]);
    f
}

/// An ARP request from `mac`/`from` for `to`, to the broadcast MAC: the probe
/// (`from` the floating address) and, with `from == to`, the announcement.
pub fn request_frame(mac: [u8; 6], from: Ipv4Addr, to: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&from.octets());
    // Target hardware address stays zero, as the kernel's own requests have it.
    f[38..42].copy_from_slice(&to.octets());
    f
}

/// A packet socket that only sends (protocol 0: it receives nothing).
pub fn packet_socket() -> nix::Result<PacketSocket> {
    socket::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map(PacketSocket::new)
}

/// Sends one ARP frame out of interface `ifindex`.
pub fn send_frame(fd: &PacketSocket, ifindex: u32, frame: &[u8]) -> std::io::Result<()> {
    send_ethernet(fd, ifindex, frame, libc::ETH_P_ARP as u16)
}

/// Sends one Ethernet frame (destination MAC in its first 6 bytes, then the
/// EtherType `proto`) out of interface `ifindex`. nix offers no safe way to
/// build a `sockaddr_ll` for sending.
#[allow(unsafe_code)]
pub fn send_ethernet(
    fd: &PacketSocket,
    ifindex: u32,
    frame: &[u8],
    proto: u16,
) -> std::io::Result<()> {
    if frame.len() < 14 {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let mut sll: libc::sockaddr_ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto.to_be(),
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: [0; 8],
    };
    sll.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` is a live slice for the duration of the call, `sll` is a
    // fully initialised sockaddr_ll on the stack and its exact size is passed;
    // `fd` is an open socket owned by the caller. sendto does not keep either
    // pointer after it returns.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The sender of an ARP reply to `mac`/`ip` (a probe's answer), or None for
/// any other frame. A reply names its sender's address and is addressed to
/// the floating address at our MAC: the target took both from our request.
pub fn reply_sender(frame: &[u8], mac: [u8; 6], ip: Ipv4Addr) -> Option<Ipv4Addr> {
    if frame.len() < 42
        || frame[12..14] != [0x08, 0x06]
        || frame[14..16] != [0, 1]
        || frame[16..18] != [0x08, 0x00]
        || frame[18] != 6
        || frame[19] != 4
        || frame[20..22] != [0, 2]
        || frame[32..38] != mac
        || frame[38..42] != ip.octets()
    {
        return None;
    }
    Some(Ipv4Addr::new(frame[28], frame[29], frame[30], frame[31]))
}

/// A non-blocking packet socket receiving the ARP frames of interface
/// `ifindex` only (the probes' answers).
pub fn arp_receiver(ifindex: u32) -> std::io::Result<PacketSocket> {
    receiver(ifindex, libc::ETH_P_ARP as u16)
}

/// A non-blocking packet socket receiving the frames of EtherType `proto`
/// of interface `ifindex` only.
#[allow(unsafe_code)]
pub fn receiver(ifindex: u32, proto: u16) -> std::io::Result<PacketSocket> {
    let proto = proto.to_be();
    let fd = PacketSocket::new(socket::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?);
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto,
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `sll` is a fully initialised sockaddr_ll on the stack and its
    // exact size is passed; `fd` is the open socket created above. bind does
    // not keep the pointer. (Protocol 0 at creation, then bind with the
    // protocol: no frame of another interface is queued in between.)
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// The default route's gateway on interface `iface`, from the text of
/// `/proc/net/route` (this namespace's main table; addresses little-endian
/// hex). None when the default route leaves by another interface: a probe
/// from the floating address would not reach its gateway.
pub fn default_gateway(route: &str, iface: &str) -> Option<Ipv4Addr> {
    route.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (dev, dst, gw, mask) = (f.first()?, f.get(1)?, f.get(2)?, f.get(7)?);
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        if *dev != iface || hex(dst)? != 0 || hex(mask)? != 0 {
            return None;
        }
        let gw = Ipv4Addr::from(hex(gw)?.swap_bytes());
        (!gw.is_unspecified()).then_some(gw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_is_an_unsolicited_broadcast_request() {
        let f = garp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(&f[..6], &[0xff; 6]);
        assert_eq!(&f[12..14], &[8, 6]);
        assert_eq!(&f[20..22], &[0, 1], "request");
        assert_eq!(&f[22..28], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[28..32], &f[38..42], "sender ip = target ip");
        assert_eq!(
            &f[32..38],
            &[0xff; 6],
            "target MAC: broadcast, as arping -U"
        );
    }

    #[test]
    fn a_probe_asks_from_the_floating_address_and_its_reply_is_recognised() {
        let (mac, ip, gw) = (
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(192, 0, 2, 100),
            Ipv4Addr::new(192, 0, 2, 254),
        );
        let p = request_frame(mac, ip, gw);
        assert_eq!(&p[28..32], &ip.octets(), "sender: the floating address");
        assert_eq!(&p[38..42], &gw.octets());
        // The gateway's reply, as a kernel builds it from the request.
        let theirs = [2, 0, 0, 0, 0, 0xfe];
        let mut r = [0u8; 42];
        r[0..6].copy_from_slice(&mac);
        r[6..12].copy_from_slice(&theirs);
        r[12..22].copy_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, 2]);
        r[22..28].copy_from_slice(&theirs);
        r[28..32].copy_from_slice(&gw.octets());
        r[32..38].copy_from_slice(&mac);
        r[38..42].copy_from_slice(&ip.octets());
        assert_eq!(reply_sender(&r, mac, ip), Some(gw));
        // Not an answer to us: another MAC, another address, a request, short.
        assert_eq!(reply_sender(&r, [2, 0, 0, 0, 0, 9], ip), None);
        assert_eq!(reply_sender(&r, mac, Ipv4Addr::new(192, 0, 2, 101)), None);
        assert_eq!(reply_sender(&p, mac, ip), None);
        assert_eq!(reply_sender(&r[..41], mac, ip), None);
    }

    #[test]
    fn the_default_gateway_is_read_from_proc_net_route() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
svc0\t00000000\tFE0200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
svc0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            default_gateway(route, "svc0"),
            Some(Ipv4Addr::new(192, 0, 2, 254))
        );
        assert_eq!(default_gateway(route, "eth1"), None, "another interface");
        assert_eq!(default_gateway("Iface\n", "svc0"), None);
        assert_eq!(default_gateway("Iface\nsvc0 zz", "svc0"), None);
    }
}
