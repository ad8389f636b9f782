//! Links: one per `Config::media` entry (LinkId = index). UDP media become a
//! bound socket plus a receive task; serial media a [`super::serial::SerialTask`].
//! Every task reports to the daemon loop through its inbox ([`LoopEvent`]).

use super::inbox::{Buffers, LinkCounters, LoopEvent};
use super::logging::RateLimiter;
use crate::config::{Config, Medium};
use crate::core::LinkId;
use crate::time::{Duration, Instant};
use crate::wire::{self, Rejection, Repr};
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link {link}: cannot resolve peer {peer:?}: {reason}")]
    Resolve {
        link: String,
        peer: String,
        reason: String,
    },
    #[error("link {link}: interface {dev:?} has no IPv4 {what} address")]
    NoAddress {
        link: String,
        dev: String,
        what: &'static str,
    },
    #[error("link {link}: {op}: {source}")]
    Socket {
        link: String,
        op: String,
        source: std::io::Error,
    },
    #[error("serial link {path}: {source}")]
    Serial {
        path: String,
        source: std::io::Error,
    },
}

/// The kind word `hbd status` shows.
pub fn kind(m: &Medium) -> &'static str {
    m.kind()
}

/// The IPv4 address (`broadcast == false`) or broadcast address of `dev`: a
/// fact of the host, which `hbd check` asks the same function about.
pub use crate::config::facts::interface_ipv4 as interface_v4;

fn sockerr(link: &str, op: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> LinkError {
    let link = link.to_string();
    let op = op.into();
    move |e| LinkError::Socket {
        link,
        op,
        source: std::io::Error::from(e),
    }
}

/// A UDP socket registered with the reactor for reading only. Sends go out
/// at once with `sendto(MSG_DONTWAIT)` ([`UdpLink::send`]); registered for
/// writing too (as tokio's `UdpSocket` is), every send would bring the
/// socket's write readiness back through `epoll_wait`: one system call more
/// per heartbeat, for nothing.
#[derive(Debug)]
pub struct UdpSocket(AsyncFd<std::net::UdpSocket>);

impl UdpSocket {
    /// Needs a tokio runtime with I/O enabled.
    pub fn from_std(s: std::net::UdpSocket) -> std::io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        // Deprecated for borrowed fds that could be closed under the
        // registration; this socket is owned by the AsyncFd it is registered in.
        #[allow(deprecated)]
        Ok(UdpSocket(AsyncFd::with_interest(s, Interest::READABLE)?))
    }

    /// The next datagram.
    pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            let mut ready = self.0.readable().await?;
            if let Ok(r) = ready.try_io(|s| s.get_ref().recv_from(buf)) {
                return r;
            }
        }
    }

    /// A datagram to `to`, now or not at all (tests; the links use [`UdpLink::send`]).
    pub async fn send_to(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        self.0.get_ref().send_to(buf, to)
    }
}

impl std::os::fd::AsFd for UdpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

impl std::os::fd::AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.get_ref().as_raw_fd()
    }
}

/// An open UDP link: where to send, and the socket (also used to receive).
#[derive(Debug)]
pub struct UdpLink {
    pub socket: Arc<UdpSocket>,
    pub dest: SocketAddr,
}

impl UdpLink {
    /// Sends one datagram now, without waiting. (tokio's `try_send_to` answers
    /// WouldBlock until the reactor has seen the socket writable once, which
    /// would drop the first status messages after start.)
    pub fn send(&self, bytes: &[u8]) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        let to = nix::sys::socket::SockaddrStorage::from(self.dest);
        nix::sys::socket::sendto(
            self.socket.as_raw_fd(),
            bytes,
            &to,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        )
        .map_err(std::io::Error::from)
    }
}

/// Opens the socket of one UDP medium (spec §4.1, §4.2). `bind` overrides the
/// receive address of ucast/bcast links (several nodes on one host).
/// Must be called inside the tokio runtime.
pub fn open_udp(m: &Medium, udpport: u16, bind: Option<IpAddr>) -> Result<UdpLink, LinkError> {
    let name = m.link_name();
    if matches!(m, Medium::Ucast6 { .. } | Medium::Mcast6 { .. }) {
        return open_udp6(m, udpport, bind);
    }
    let bind_v4 = match bind {
        Some(IpAddr::V4(a)) => a,
        _ => Ipv4Addr::UNSPECIFIED,
    };
    let (dev, local, dest) = match m {
        Medium::Ucast { dev, peer } => {
            // Resolved as `hbd check` resolves it (config::facts).
            let addr = crate::config::facts::resolve_ipv4(peer)
                .map(|a| SocketAddr::from((a, udpport)))
                .ok_or_else(|| LinkError::Resolve {
                    link: name.clone(),
                    peer: peer.clone(),
                    reason: "no IPv4 address".into(),
                })?;
            (dev, SocketAddrV4::new(bind_v4, udpport), addr)
        }
        Medium::Bcast { dev } => {
            let b = interface_v4(dev, true).ok_or_else(|| LinkError::NoAddress {
                link: name.clone(),
                dev: dev.clone(),
                what: "broadcast",
            })?;
            (
                dev,
                SocketAddrV4::new(bind_v4, udpport),
                SocketAddr::from((b, udpport)),
            )
        }
        Medium::Mcast {
            dev, group, port, ..
        } => (
            dev,
            SocketAddrV4::new(*group, *port),
            SocketAddr::from((*group, *port)),
        ),
        Medium::Ucast6 { .. } | Medium::Mcast6 { .. } | Medium::Serial { .. } => {
            unreachable!("open_udp on a {} medium", m.kind())
        }
    };
    let fd = udp_socket(&name, AddressFamily::Inet, Some(dev))?;
    // IPTOS_LOWDELAY, as heartbeat's send sockets.
    if let Err(e) = socket::setsockopt(&fd, sockopt::IpTos, &0x10) {
        log::debug!("link {name}: IP_TOS: {e}");
    }
    if let Medium::Bcast { .. } = m {
        socket::setsockopt(&fd, sockopt::Broadcast, &true)
            .map_err(sockerr(&name, "SO_BROADCAST"))?;
    }
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(local),
    )
    .map_err(sockerr(&name, format!("bind {local}")))?;
    let std_sock = std::net::UdpSocket::from(fd);
    if let Medium::Mcast {
        dev,
        group,
        ttl,
        loopback,
        ..
    } = m
    {
        let iface = interface_v4(dev, false).ok_or_else(|| LinkError::NoAddress {
            link: name.clone(),
            dev: dev.clone(),
            what: "interface",
        })?;
        let io = |op: &str| {
            let link = name.clone();
            let op = op.to_string();
            move |source| LinkError::Socket { link, op, source }
        };
        std_sock
            .join_multicast_v4(group, &iface)
            .map_err(io(&format!("join {group} on {dev}")))?;
        std_sock
            .set_multicast_ttl_v4(u32::from(*ttl))
            .map_err(io("IP_MULTICAST_TTL"))?;
        std_sock
            .set_multicast_loop_v4(*loopback)
            .map_err(io("IP_MULTICAST_LOOP"))?;
    }
    let socket = UdpSocket::from_std(std_sock).map_err(|source| LinkError::Socket {
        link: name.clone(),
        op: "register".into(),
        source,
    })?;
    Ok(UdpLink {
        socket: Arc::new(socket),
        dest,
    })
}

/// A non-blocking UDP socket with `SO_REUSEADDR` (every link binds `udpport`),
/// bound to `dev` when one is given.
fn udp_socket(name: &str, family: AddressFamily, dev: Option<&str>) -> Result<OwnedFd, LinkError> {
    let fd: OwnedFd = socket::socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(sockerr(name, "socket"))?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(sockerr(name, "SO_REUSEADDR"))?;
    let Some(dev) = dev else {
        return Ok(fd);
    };
    // heartbeat binds every socket to its interface; that needs CAP_NET_RAW, and on
    // `lo` it would only stop two test nodes on one host from hearing each other.
    if !nix::unistd::geteuid().is_root() {
        log::debug!("link {name}: not root, SO_BINDTODEVICE {dev} skipped");
    } else if dev == "lo" {
        log::debug!("link {name}: SO_BINDTODEVICE skipped on lo");
    } else {
        socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(dev))
            .map_err(sockerr(name, format!("SO_BINDTODEVICE {dev}")))?;
    }
    Ok(fd)
}

/// Opens a `ucast6` or `mcast6` link as heartbeat's plugins do: a ucast6
/// socket bound to its device and `[::]:udpport`, sending to the peer with
/// the device's scope when the peer is link-local; an mcast6 socket bound
/// to `[::]:PORT`, joined to the group on its device, with the line's hop
/// limit and loop. Both are IPv6-only, so they never take a share of the
/// IPv4 links' datagrams on the same port.
fn open_udp6(m: &Medium, udpport: u16, bind: Option<IpAddr>) -> Result<UdpLink, LinkError> {
    use std::net::{Ipv6Addr, SocketAddrV6};
    let name = m.link_name();
    let bind_v6 = match bind {
        Some(IpAddr::V6(a)) => a,
        _ => Ipv6Addr::UNSPECIFIED,
    };
    let index = |dev: &str| {
        nix::net::if_::if_nametoindex(dev).map_err(|e| LinkError::Socket {
            link: name.clone(),
            op: format!("interface {dev}"),
            source: std::io::Error::from(e),
        })
    };
    let (fd, dest) = match m {
        Medium::Ucast6 { dev, peer, scope } => {
            let dev_index = index(dev)?;
            if let Some(why) = scope
                .as_deref()
                .and_then(|s| crate::config::facts::ucast6_scope_mismatch(dev, s))
            {
                return Err(LinkError::Resolve {
                    link: name,
                    peer: Medium::ucast6_peer_text(peer, scope.as_deref()),
                    reason: why,
                });
            }
            // heartbeat: a link-local peer always goes out with the device's scope.
            let scope_id = if crate::config::media6::is_link_local(peer) {
                dev_index
            } else {
                0
            };
            let fd = udp_socket(&name, AddressFamily::Inet6, Some(dev))?;
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)
                .map_err(sockerr(&name, "IPV6_V6ONLY"))?;
            let local = SocketAddrV6::new(bind_v6, udpport, 0, 0);
            socket::bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &socket::SockaddrIn6::from(local),
            )
            .map_err(sockerr(&name, format!("bind {local}")))?;
            (fd, SocketAddrV6::new(*peer, udpport, 0, scope_id))
        }
        Medium::Mcast6 {
            dev,
            group,
            port,
            hops,
            loopback,
        } => {
            let dev_index = index(dev)?;
            // heartbeat's mcast6 receive socket is not bound to the device; the
            // group membership on it selects the traffic.
            let fd = udp_socket(&name, AddressFamily::Inet6, None)?;
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)
                .map_err(sockerr(&name, "IPV6_V6ONLY"))?;
            let local = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, *port, 0, 0);
            socket::bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                &socket::SockaddrIn6::from(local),
            )
            .map_err(sockerr(&name, format!("bind {local}")))?;
            let std_sock = std::net::UdpSocket::from(fd);
            let io = |op: String| {
                let link = name.clone();
                move |source| LinkError::Socket { link, op, source }
            };
            std_sock
                .join_multicast_v6(group, dev_index)
                .map_err(io(format!("join {group} on {dev}")))?;
            std_sock
                .set_multicast_loop_v6(*loopback)
                .map_err(io("IPV6_MULTICAST_LOOP".into()))?;
            let sock = socket2::SockRef::from(&std_sock);
            sock.set_multicast_hops_v6(u32::from(*hops))
                .map_err(io("IPV6_MULTICAST_HOPS".into()))?;
            sock.set_multicast_if_v6(dev_index)
                .map_err(io("IPV6_MULTICAST_IF".into()))?;
            (
                OwnedFd::from(std_sock),
                SocketAddrV6::new(*group, *port, 0, dev_index),
            )
        }
        _ => unreachable!("open_udp6 on a {} medium", m.kind()),
    };
    let socket =
        UdpSocket::from_std(std::net::UdpSocket::from(fd)).map_err(|source| LinkError::Socket {
            link: name.clone(),
            op: "register".into(),
            source,
        })?;
    Ok(UdpLink {
        socket: Arc::new(socket),
        dest: SocketAddr::V6(dest),
    })
}

/// Receives datagrams on `socket` until the loop goes away.
pub async fn udp_receive(
    link: usize,
    epoch: u64,
    socket: Arc<UdpSocket>,
    counters: Arc<LinkCounters>,
    events: mpsc::Sender<LoopEvent>,
    buffers: Arc<Buffers>,
) {
    // One message is one datagram; anything larger than an IPv4 datagram cannot arrive.
    let mut buf = vec![0u8; 65536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let mut bytes = buffers.take();
                bytes.extend_from_slice(&buf[..n]);
                let ev = LoopEvent::Packet {
                    link,
                    epoch,
                    bytes,
                    from: Some(from),
                };
                if events.send(ev).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                log::debug!("link {link}: receive error: {e}");
                // ICMP errors surface here; do not spin on a persistent one.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// One running link as the loop sees it.
pub enum LinkHandle {
    Udp {
        link: UdpLink,
        task: Option<JoinHandle<()>>,
    },
    Serial {
        /// None once closing: the task then writes what is queued and ends.
        tx: Option<mpsc::Sender<Vec<u8>>>,
        task: Option<JoinHandle<()>>,
    },
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        match self {
            LinkHandle::Udp { task, .. } | LinkHandle::Serial { task, .. } => {
                if let Some(t) = task.take() {
                    t.abort();
                }
            }
        }
    }
}

/// Closes links and waits until their sockets and ttys are really closed (an
/// aborted task drops its fd only when the runtime next gets to it), so a reload
/// can reopen the same port or device. Serial links first write what is queued
/// (a `shutdone` must reach the peer), for at most `flush`.
pub async fn close_all(handles: Vec<LinkHandle>, flush: std::time::Duration) {
    let mut tasks = Vec::new();
    for mut h in handles {
        match &mut h {
            LinkHandle::Udp { task, .. } => {
                if let Some(t) = task.take() {
                    t.abort();
                    tasks.push(t);
                }
            }
            LinkHandle::Serial { tx, task } => {
                tx.take();
                if let Some(t) = task.take() {
                    tasks.push(t);
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + flush;
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            abort.abort();
        }
    }
    // Let aborted tasks be dropped (and their fds closed) before returning.
    tokio::task::yield_now().await;
}

/// heartbeat's idiom is one `ha.cf` for both nodes with a `ucast` line to each
/// node's address. The line naming our own address would only hear our own
/// datagrams, and its socket would take a share of the peer's from the real
/// link's (both bind the same port), making a working link look dead. So it is
/// not a link here. A config whose every medium is such a line is left as it is.
pub fn without_own_ucast(mut config: Config, bind: Option<IpAddr>) -> Config {
    let own: Vec<bool> = config
        .media
        .iter()
        .map(|m| match m {
            Medium::Ucast { peer, .. } => is_own_address(peer, bind),
            Medium::Ucast6 { dev, peer, .. } => is_own_ipv6(dev, *peer, bind),
            _ => false,
        })
        .collect();
    if own.iter().all(|&o| o) {
        return config;
    }
    let mut own = own.into_iter();
    config.media.retain(|m| {
        let skip = own.next().unwrap_or(false);
        if skip {
            if let Medium::Ucast { dev, peer } = m {
                log::info!(
                    "ucast {dev} {peer}: this node's own address, not a link here (the line is for the peer's copy of ha.cf)"
                );
            }
            if let Medium::Ucast6 { dev, peer, scope } = m {
                log::info!(
                    "ucast6 {dev} {}: this node's own address, not a link here (the line is for the peer's copy of ha.cf)",
                    Medium::ucast6_peer_text(peer, scope.as_deref())
                );
            }
        }
        !skip
    });
    config
}

/// Whether `peer` (an address or host name) is this node: the receive address
/// when one is bound, else any address a socket can be bound to here. Loopback
/// only counts through `bind`, since two nodes may share one host on 127/8.
fn is_own_address(peer: &str, bind: Option<IpAddr>) -> bool {
    let addrs: Vec<IpAddr> = match peer.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (peer, 0)
            .to_socket_addrs()
            .map(|a| a.map(|a| a.ip()).collect())
            .unwrap_or_default(),
    };
    addrs.iter().any(|ip| match bind {
        Some(b) => *ip == b,
        None => !ip.is_loopback() && std::net::UdpSocket::bind((*ip, 0)).is_ok(),
    })
}

/// Whether the `ucast6` peer `peer` is this node: the bound receive address,
/// else an address of this host (a link-local one on the line's device).
fn is_own_ipv6(dev: &str, peer: std::net::Ipv6Addr, bind: Option<IpAddr>) -> bool {
    if let Some(b) = bind {
        return b == IpAddr::V6(peer);
    }
    let scope = if crate::config::media6::is_link_local(&peer) {
        match nix::net::if_::if_nametoindex(dev) {
            Ok(i) => i,
            Err(_) => return false,
        }
    } else {
        0
    };
    std::net::UdpSocket::bind(std::net::SocketAddrV6::new(peer, 0, 0, scope)).is_ok()
}

/// Opens every medium of `config`, all or nothing: on the first failure the
/// ones already open are closed again and the error returned.
pub fn open_all(
    config: &Config,
    bind: Option<IpAddr>,
    epoch: u64,
    events: &mpsc::Sender<LoopEvent>,
    buffers: &Arc<Buffers>,
) -> Result<(Vec<LinkHandle>, Vec<Arc<LinkCounters>>), LinkError> {
    let mut handles = Vec::new();
    let mut counters = Vec::new();
    // Open every transport first; start tasks only when all opened.
    enum Opened {
        Udp(UdpLink),
        Serial(OwnedFd, std::path::PathBuf),
    }
    let mut opened = Vec::new();
    for m in &config.media {
        match m {
            Medium::Serial { path } => {
                let fd = super::serial::open_tty(path, config.baud).map_err(|source| {
                    LinkError::Serial {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
                opened.push(Opened::Serial(fd, path.clone()));
            }
            _ => opened.push(Opened::Udp(open_udp(m, config.udpport, bind)?)),
        }
    }
    for (i, o) in opened.into_iter().enumerate() {
        let c = Arc::new(LinkCounters::default());
        counters.push(c.clone());
        match o {
            Opened::Udp(link) => {
                let task = tokio::spawn(udp_receive(
                    i,
                    epoch,
                    link.socket.clone(),
                    c,
                    events.clone(),
                    buffers.clone(),
                ));
                handles.push(LinkHandle::Udp {
                    link,
                    task: Some(task),
                });
            }
            Opened::Serial(fd, path) => {
                // A few frames of slack; a link that cannot keep up drops, not queues.
                let (tx, rx) = mpsc::channel(8);
                let t = super::serial::SerialTask {
                    link: i,
                    epoch,
                    path,
                    baud: config.baud,
                    counters: c,
                    events: events.clone(),
                    outgoing: rx,
                };
                let task = tokio::spawn(t.run(Some(fd)));
                handles.push(LinkHandle::Serial {
                    tx: Some(tx),
                    task: Some(task),
                });
            }
        }
    }
    Ok((handles, counters))
}

/// The running links, one owner for their handles, their counters and the
/// epoch that tells their events from those of links a reload replaced. Every
/// packet counted, sent or received, is counted here (or by a link's task).
pub struct Links {
    handles: Vec<LinkHandle>,
    counters: Vec<Arc<LinkCounters>>,
    epoch: u64,
    /// One warning per link and kind of trouble per window.
    limiter: RateLimiter<(usize, &'static str)>,
    /// Where every UDP message is sealed, once per send.
    sealer: wire::Sealer,
    /// Received datagrams' buffers, back from the loop.
    buffers: Arc<Buffers>,
}

/// What reopening the links for a reload ended with.
pub enum Reopened {
    /// The new configuration's links are open.
    New,
    /// They could not be opened (logged); the running configuration's links
    /// are open again.
    Running,
    /// Neither could be opened: no link is open.
    Neither(LinkError),
}

impl Links {
    /// Opens every medium of `config` (see [`open_all`]) as epoch 0.
    pub fn open(
        config: &Config,
        bind: Option<IpAddr>,
        events: &mpsc::Sender<LoopEvent>,
    ) -> Result<Links, LinkError> {
        let buffers = Arc::new(Buffers::default());
        let (handles, counters) = open_all(config, bind, 0, events, &buffers)?;
        Ok(Links {
            handles,
            counters,
            epoch: 0,
            limiter: RateLimiter::new(Duration::from_secs(10)),
            sealer: wire::Sealer::new(),
            buffers,
        })
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Each link's counters, in `Config::media` order.
    pub fn counters(&self) -> &[Arc<LinkCounters>] {
        &self.counters
    }

    /// Whether an event of `epoch` comes from the links open now.
    pub fn is_current(&self, epoch: u64) -> bool {
        epoch == self.epoch
    }

    /// Whether a packet event of `link` in `epoch` comes from a link open now.
    pub fn is_current_link(&self, link: usize, epoch: u64) -> bool {
        self.is_current(epoch) && link < self.counters.len()
    }

    /// Seals `msg` once per transport in use and sends it on `only`, or on
    /// every link. A UDP message is sealed into the one buffer the links
    /// keep: a heartbeat costs no allocation and no formatting here.
    pub fn send(&mut self, msg: &Repr, only: Option<LinkId>, cfg: &Config, now: Instant) {
        log::trace!(
            "send t={} on {}",
            msg.type_name(),
            only.map(|l| format!("link {}", l.0))
                .unwrap_or_else(|| "every link".into())
        );
        let Links {
            handles,
            counters,
            limiter,
            sealer,
            ..
        } = self;
        let wanted = |i: usize| only.map_or(true, |l| l.0 == i);
        let udp = handles
            .iter()
            .enumerate()
            .any(|(i, h)| wanted(i) && matches!(h, LinkHandle::Udp { .. }))
            .then(|| sealer.udp(msg, &cfg.auth, cfg.msgfmt));
        // Sealed once, only if a serial link is used.
        let mut serial: Option<Result<Vec<u8>, wire::SealError>> = None;
        for (i, h) in handles.iter().enumerate() {
            if !wanted(i) {
                continue;
            }
            let c = &counters[i];
            let sealed = match h {
                LinkHandle::Udp { .. } => udp.as_ref().map(|r| r.as_ref().map(|b| &b[..])),
                LinkHandle::Serial { .. } => serial
                    .get_or_insert_with(|| {
                        wire::seal_serial(&msg.to_message(), &cfg.auth, cfg.hbd.compact_serial)
                    })
                    .as_ref()
                    .map(|b| &b[..])
                    .into(),
            };
            let bytes: &[u8] = match sealed {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    if let Some(n) = limiter.allow((i, "seal"), now) {
                        log::error!(
                            "link {}: cannot seal {} message: {e}; not sent{}",
                            cfg.media[i].link_name(),
                            msg.type_name(),
                            suppressed(n)
                        );
                    }
                    continue;
                }
                None => continue,
            };
            match h {
                LinkHandle::Udp { link, .. } => match link.send(bytes) {
                    Ok(_) => {
                        c.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        if let Some(n) = limiter.allow((i, "send"), now) {
                            log::warn!(
                                "link {}: send to {} failed: {e}{}",
                                cfg.media[i].link_name(),
                                link.dest,
                                suppressed(n)
                            );
                        }
                    }
                },
                LinkHandle::Serial { tx: None, .. } => {}
                LinkHandle::Serial { tx: Some(tx), .. } => {
                    // The serial task counts what it wrote; a full queue is a slow line.
                    if tx.try_send(bytes.to_vec()).is_err() {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        if let Some(n) = limiter.allow((i, "queue"), now) {
                            log::warn!(
                                "link {}: serial line cannot keep up; message dropped{}",
                                cfg.media[i].link_name(),
                                suppressed(n)
                            );
                        }
                    }
                }
            }
        }
    }

    /// Hands a received datagram's buffer back for the next one.
    pub fn recycle(&self, bytes: Vec<u8>) {
        self.buffers.put(bytes);
    }

    /// Counts a message from the peer that opened on `link`.
    pub fn count_received(&self, link: usize) {
        self.counters[link].received.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts and reports (rate-limited) a packet on `link` that did not open.
    pub fn rejected(
        &mut self,
        link: usize,
        rej: &Rejection,
        len: usize,
        from: Option<SocketAddr>,
        cfg: &Config,
        now: Instant,
    ) {
        let c = &self.counters[link];
        match rej {
            Rejection::Malformed(_) => c.malformed.fetch_add(1, Ordering::Relaxed),
            _ => c.bad_auth.fetch_add(1, Ordering::Relaxed),
        };
        if let Some(n) = self.limiter.allow((link, rej.reason()), now) {
            // Never the packet's content: it may carry a MAC worth guessing at.
            log::warn!(
                "link {}: dropped {len}-byte packet{}: {rej}{}",
                cfg.media[link].link_name(),
                from.map(|f| format!(" from {f}")).unwrap_or_default(),
                suppressed(n)
            );
        }
    }

    /// Counts and reports (rate-limited) a serial frame the framer threw away.
    pub fn dropped_frame(&mut self, link: usize, why: &str, cfg: &Config, now: Instant) {
        self.counters[link]
            .malformed
            .fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.limiter.allow((link, "frame"), now) {
            log::warn!(
                "link {}: dropped serial frame: {why}{}",
                cfg.media[link].link_name(),
                suppressed(n)
            );
        }
    }

    /// For a reload that changes the media: closes the links (the new ones
    /// may bind the same port or tty), then opens `new`'s, or failing that
    /// (the refusal logged) `running`'s again, under a new epoch. When neither opens, no link is
    /// open and the counters stay those of the running links.
    pub async fn reopen(
        &mut self,
        new: &Config,
        new_bind: Option<IpAddr>,
        running: &Config,
        running_bind: Option<IpAddr>,
        events: &mpsc::Sender<LoopEvent>,
    ) -> Reopened {
        close_all(std::mem::take(&mut self.handles), std::time::Duration::ZERO).await;
        let epoch = self.epoch + 1;
        match open_all(new, new_bind, epoch, events, &self.buffers) {
            Ok(opened) => return self.replace(opened, epoch, Reopened::New),
            Err(e) => log::error!("reload refused: {e}; reopening the running links"),
        }
        match open_all(running, running_bind, epoch, events, &self.buffers) {
            Ok(opened) => self.replace(opened, epoch, Reopened::Running),
            Err(e) => Reopened::Neither(e),
        }
    }

    fn replace(
        &mut self,
        (handles, counters): (Vec<LinkHandle>, Vec<Arc<LinkCounters>>),
        epoch: u64,
        then: Reopened,
    ) -> Reopened {
        self.handles = handles;
        self.counters = counters;
        self.epoch = epoch;
        then
    }

    /// Closes every link (see [`close_all`]); serial links may flush for at
    /// most `flush`.
    pub async fn close(&mut self, flush: std::time::Duration) {
        close_all(std::mem::take(&mut self.handles), flush).await;
    }
}

fn suppressed(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::shell::test_runtime as rt;

    #[test]
    fn ucast_link_sends_to_peer_and_receives_on_bound_address() {
        rt().block_on(async {
            // Two "nodes" on one host: 127.0.0.1 and 127.0.0.2, same port.
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            drop(probe);
            let a = open_udp(
                &Medium::Ucast {
                    dev: "lo".into(),
                    peer: "127.0.0.2".into(),
                },
                port,
                Some("127.0.0.1".parse().unwrap()),
            )
            .unwrap();
            let b = open_udp(
                &Medium::Ucast {
                    dev: "lo".into(),
                    peer: "127.0.0.1".into(),
                },
                port,
                Some("127.0.0.2".parse().unwrap()),
            )
            .unwrap();
            assert_eq!(a.dest, SocketAddr::from(([127, 0, 0, 2], port)));
            // The very first send, before the reactor has polled the socket.
            assert_eq!(a.send(b"to b").unwrap(), 4);
            b.socket.send_to(b"to a", b.dest).await.unwrap();
            let mut buf = [0u8; 16];
            let (n, _) = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                b.socket.recv_from(&mut buf),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(&buf[..n], b"to b");
            let (n, _) = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                a.socket.recv_from(&mut buf),
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(&buf[..n], b"to a");
        });
    }

    #[test]
    fn unresolvable_peer_is_named() {
        rt().block_on(async {
            let e = open_udp(
                &Medium::Ucast {
                    dev: "lo".into(),
                    peer: "no-such-host.invalid".into(),
                },
                7000,
                None,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("no-such-host.invalid"), "{e}");
        });
    }

    #[test]
    fn ucast_to_our_own_address_is_not_a_link() {
        let ucast = |peer: &str| Medium::Ucast {
            dev: "lo".into(),
            peer: peer.into(),
        };
        let cfg = Config {
            media: vec![
                ucast("127.0.0.1"),
                ucast("127.0.0.2"),
                Medium::Serial {
                    path: "/dev/ttyS0".into(),
                },
            ],
            ..Config::default()
        };
        let bind = Some("127.0.0.1".parse().unwrap());
        let kept = without_own_ucast(cfg.clone(), bind);
        assert_eq!(kept.media, cfg.media[1..]);
        // Without a bind address, loopback peers are other nodes on this host.
        assert_eq!(without_own_ucast(cfg.clone(), None).media, cfg.media);
        // Never down to no link at all.
        let only_own = Config {
            media: vec![ucast("127.0.0.1")],
            ..Config::default()
        };
        assert_eq!(
            without_own_ucast(only_own.clone(), bind).media,
            only_own.media
        );
    }

    #[test]
    fn lo_has_an_address() {
        assert_eq!(interface_v4("lo", false), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(interface_v4("no-such-if0", false), None);
    }
}

/// bcast and mcast need real interfaces: a veth pair inside a network namespace
/// private to the test thread (root only; skipped with a reason otherwise).
#[cfg(test)]
mod netns_tests {
    use super::*;
    use std::process::Command;

    /// Runs `f` on a thread in a fresh network namespace holding a veth pair
    /// veth0 (10.250.0.1/24) <-> veth1 (10.250.0.2/24). The namespace, and the
    /// pair with it, disappears when the thread ends.
    fn in_netns(f: impl FnOnce() + Send + 'static) -> bool {
        if !testkit::skip::Needs::new("in_netns")
            .root("a network namespace")
            .met()
        {
            return false;
        }
        let ok = std::thread::spawn(move || {
            if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
                let why = format!("unshare(CLONE_NEWNET): {e}");
                return testkit::skip::Needs::new("in_netns")
                    .that(false, &why)
                    .met();
            }
            // Children inherit this thread's namespace.
            let ip = |args: &[&str]| {
                let st = Command::new("ip").args(args).status();
                assert!(st.is_ok_and(|s| s.success()), "ip {args:?} failed");
            };
            ip(&["link", "set", "lo", "up"]);
            ip(&[
                "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
            ]);
            ip(&["addr", "add", "10.250.0.1/24", "brd", "+", "dev", "veth0"]);
            ip(&["addr", "add", "10.250.0.2/24", "brd", "+", "dev", "veth1"]);
            ip(&["link", "set", "veth0", "up", "multicast", "on"]);
            ip(&["link", "set", "veth1", "up", "multicast", "on"]);
            // The carrier comes up asynchronously; a datagram sent before that is
            // dropped, which made these tests fail on a loaded machine.
            for dev in ["veth0", "veth1"] {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                loop {
                    let out = Command::new("ip")
                        .args(["-o", "link", "show", dev])
                        .output();
                    let up =
                        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("state UP"));
                    if up {
                        break;
                    }
                    assert!(std::time::Instant::now() < deadline, "{dev} never came up");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            // Both ends live in one namespace: packets from veth0 arrive on veth1
            // with a local source address, which Linux drops unless told not to.
            // (/proc/sys/net belongs to the opener's namespace: this thread's.)
            for dev in ["all", "default", "veth0", "veth1"] {
                for (k, v) in [("accept_local", "1"), ("rp_filter", "0")] {
                    std::fs::write(format!("/proc/sys/net/ipv4/conf/{dev}/{k}"), v).unwrap();
                }
            }
            f();
            true
        })
        .join();
        match ok {
            Ok(ran) => ran,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    use crate::shell::test_runtime as rt;

    async fn recv_one(l: &UdpLink) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            l.socket.recv_from(&mut buf),
        )
        .await
        .expect("nothing received")
        .unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn bcast_sends_to_the_interface_broadcast_address() {
        in_netns(|| {
            assert_eq!(
                interface_v4("veth0", true),
                Some(Ipv4Addr::new(10, 250, 0, 255))
            );
            rt().block_on(async {
                let a = open_udp(
                    &Medium::Bcast {
                        dev: "veth0".into(),
                    },
                    7694,
                    None,
                )
                .unwrap();
                let b = open_udp(
                    &Medium::Bcast {
                        dev: "veth1".into(),
                    },
                    7694,
                    None,
                )
                .unwrap();
                assert_eq!(a.dest, SocketAddr::from(([10, 250, 0, 255], 7694)));
                assert_eq!(a.send(b"from a").unwrap(), 6);
                assert_eq!(recv_one(&b).await, b"from a");
                // As with heartbeat, a node hears its own broadcasts too (the
                // loop drops them as its own); the peer's arrive after it.
                assert_eq!(recv_one(&a).await, b"from a");
                assert_eq!(b.send(b"from b").unwrap(), 6);
                assert_eq!(recv_one(&a).await, b"from b");
            });
        });
    }

    #[test]
    fn mcast_joins_the_group_on_its_interface() {
        in_netns(|| {
            rt().block_on(async {
                let m = |dev: &str| Medium::Mcast {
                    dev: dev.into(),
                    group: Ipv4Addr::new(239, 0, 0, 94),
                    port: 7695,
                    ttl: 1,
                    loopback: false,
                };
                let a = open_udp(&m("veth0"), 694, None).unwrap();
                let b = open_udp(&m("veth1"), 694, None).unwrap();
                assert_eq!(a.dest, SocketAddr::from(([239, 0, 0, 94], 7695)));
                assert_eq!(a.send(b"mcast a").unwrap(), 7);
                assert_eq!(recv_one(&b).await, b"mcast a");
                assert_eq!(b.send(b"mcast b").unwrap(), 7);
                assert_eq!(recv_one(&a).await, b"mcast b");
            });
        });
    }

    #[test]
    fn ucast_is_bound_to_its_device() {
        in_netns(|| {
            rt().block_on(async {
                let a = open_udp(
                    &Medium::Ucast {
                        dev: "veth0".into(),
                        peer: "10.250.0.2".into(),
                    },
                    7696,
                    None,
                )
                .unwrap();
                let b = open_udp(
                    &Medium::Ucast {
                        dev: "veth1".into(),
                        peer: "10.250.0.1".into(),
                    },
                    7696,
                    None,
                )
                .unwrap();
                let dev = socket::getsockopt(&*a.socket, sockopt::BindToDevice).unwrap();
                assert_eq!(dev.to_string_lossy().trim_end_matches('\0'), "veth0");
                a.send(b"u").unwrap();
                assert_eq!(recv_one(&b).await, b"u");
                b.send(b"v").unwrap();
                assert_eq!(recv_one(&a).await, b"v");
            });
        });
    }
}
