//! Ping nodes (ha.cf `ping`, `ping_group`): ICMP echo to each address every
//! keepalive, without an external `ping`. A ping node is reachable from its
//! first reply (any member of a group) until `deadping` passes without one;
//! each change goes to the core as `Input::PingNode`. Unprivileged ICMP
//! datagram socket when `ping_group_range` allows it, else a raw socket (root).

use super::inbox::LoopEvent;
use crate::config::Config;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const PAYLOAD: &[u8] = b"hbd ping node";

#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(
        "cannot open an ICMP socket (datagram: {dgram}; raw: {raw}); ping nodes stay unreachable"
    )]
    Socket { dgram: nix::Error, raw: nix::Error },
    #[error("cannot register the ICMP socket with the runtime: {0}")]
    Register(std::io::Error),
}

/// RFC 1071 Internet checksum.
pub fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request (the kernel replaces `ident` on datagram sockets).
pub fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ICMP_ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The sequence number of an echo reply meant for us, or None. A raw socket
/// sees every ICMP packet with its IP header, so `ident` must match there; a
/// datagram socket only gets its own replies, without the IP header.
pub fn parse_reply(buf: &[u8], raw: bool, ident: u16) -> Option<u16> {
    let icmp = if raw {
        let ihl = (*buf.first()? & 0x0f) as usize * 4;
        if buf.first()? >> 4 != 4 || ihl < 20 {
            return None;
        }
        buf.get(ihl..)?
    } else {
        buf
    };
    if icmp.len() < 8 || icmp[0] != ICMP_ECHO_REPLY || icmp[1] != 0 {
        return None;
    }
    if raw && u16::from_be_bytes([icmp[4], icmp[5]]) != ident {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

struct PingSocket {
    sock: tokio::net::UdpSocket,
    raw: bool,
}

fn open() -> Result<PingSocket, PingError> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let (fd, raw) = match socket(
        AddressFamily::Inet,
        SockType::Datagram,
        flags,
        SockProtocol::Icmp,
    ) {
        Ok(fd) => (fd, false),
        Err(dgram) => {
            match socket(
                AddressFamily::Inet,
                SockType::Raw,
                flags,
                SockProtocol::Icmp,
            ) {
                Ok(fd) => (fd, true),
                Err(raw) => return Err(PingError::Socket { dgram, raw }),
            }
        }
    };
    // Both kinds speak sendto/recvfrom, which is all UdpSocket does with them.
    let std_sock = std::net::UdpSocket::from(fd);
    let sock = tokio::net::UdpSocket::from_std(std_sock).map_err(PingError::Register)?;
    Ok(PingSocket { sock, raw })
}

struct Target {
    addrs: Vec<Ipv4Addr>,
    up: bool,
    last_reply: Option<Instant>,
}

/// Pings `cfg.ping_nodes` until the task is aborted; reports changes on `tx`.
pub async fn run(cfg: Config, tx: mpsc::Sender<LoopEvent>) {
    if cfg.ping_nodes.is_empty() {
        return;
    }
    let s = match open() {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return;
        }
    };
    log::info!(
        "pinging {} ping node(s) every {} ({} ICMP socket; unreachable after {} without a reply)",
        cfg.ping_nodes.len(),
        cfg.keepalive,
        if s.raw { "raw" } else { "datagram" },
        cfg.deadping
    );
    let mut targets: Vec<Target> = cfg
        .ping_nodes
        .iter()
        .map(|p| Target {
            // Host names resolve as `hbd check` resolved them (config::facts).
            addrs: p
                .addrs
                .iter()
                .filter_map(|a| {
                    let ip = crate::config::facts::resolve_ipv4(a);
                    if ip.is_none() {
                        log::warn!(
                            "ping node {}: {a:?} no longer resolves to an IPv4 address; not pinged",
                            p.name
                        );
                    }
                    ip
                })
                .collect(),
            up: false,
            last_reply: None,
        })
        .collect();
    let ident = (std::process::id() & 0xffff) as u16;
    let keepalive = Duration::from_millis(cfg.keepalive.millis().max(100));
    let deadping = Duration::from_millis(cfg.deadping.millis().max(1));
    let mut tick = tokio::time::interval(keepalive);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u16 = 0;
    let mut buf = [0u8; 1500];
    let mut send_errors = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                seq = seq.wrapping_add(1);
                let pkt = echo_request(ident, seq);
                for t in &targets {
                    for a in &t.addrs {
                        let to = SocketAddr::new(IpAddr::V4(*a), 0);
                        if let Err(e) = s.sock.send_to(&pkt, to).await {
                            send_errors += 1;
                            // An unreachable network fails every send: log rarely.
                            if send_errors.is_power_of_two() {
                                log::warn!("ping node {a}: send failed: {e} ({send_errors} failures so far)");
                            }
                        }
                    }
                }
                let now = Instant::now();
                for (i, t) in targets.iter_mut().enumerate() {
                    if t.up && t.last_reply.map_or(true, |r| now.duration_since(r) >= deadping) {
                        t.up = false;
                        if tx.send(LoopEvent::PingNode { index: i, up: false }).await.is_err() {
                            return;
                        }
                    }
                }
            }
            r = s.sock.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                if parse_reply(&buf[..n], s.raw, ident).is_none() {
                    continue;
                }
                let IpAddr::V4(from) = from.ip() else { continue };
                let now = Instant::now();
                for (i, t) in targets.iter_mut().enumerate() {
                    if t.addrs.contains(&from) {
                        t.last_reply = Some(now);
                        if !t.up {
                            t.up = true;
                            if tx.send(LoopEvent::PingNode { index: i, up: true }).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero() {
        let p = echo_request(0x1234, 7);
        assert_eq!(p[0], 8);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&p), 0);
        // Odd length is padded with a zero byte (RFC 1071).
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    fn reply(ident: u16, seq: u16) -> Vec<u8> {
        let mut p = echo_request(ident, seq);
        p[0] = ICMP_ECHO_REPLY;
        p
    }

    #[test]
    fn replies_are_matched_by_ident_on_raw_sockets_only() {
        assert_eq!(parse_reply(&reply(1, 9), false, 2), Some(9));
        let mut ip = vec![0x45u8; 1];
        ip.extend_from_slice(&[0; 19]);
        ip.extend_from_slice(&reply(5, 3));
        assert_eq!(parse_reply(&ip, true, 5), Some(3));
        assert_eq!(parse_reply(&ip, true, 6), None);
        // Our own request seen on a raw socket (type 8) is not a reply.
        let mut req = ip.clone();
        req[20] = ICMP_ECHO_REQUEST;
        assert_eq!(parse_reply(&req, true, 5), None);
        for junk in [&[][..], &[0x45][..], &[0x40, 0, 0][..], &ip[..24]] {
            assert_eq!(parse_reply(junk, true, 5), None);
        }
        assert_eq!(parse_reply(&[0, 0, 0], false, 5), None);
    }

    #[tokio::test]
    async fn loopback_answers_a_ping_as_root() {
        if !testkit::skip::Needs::new("loopback_answers_a_ping_as_root")
            .root("an ICMP socket")
            .met()
        {
            return;
        }
        let cfg = Config {
            keepalive: crate::time::Duration::from_millis(100),
            deadping: crate::time::Duration::from_millis(1000),
            ping_nodes: vec![crate::config::PingNode {
                name: "127.0.0.1".into(),
                addrs: vec!["127.0.0.1".into()],
            }],
            ..Config::default()
        };
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run(cfg, tx));
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        task.abort();
        match got {
            Ok(Some(LoopEvent::PingNode { index: 0, up: true })) => {}
            other => panic!("expected 127.0.0.1 reachable, got {other:?}"),
        }
    }
}
