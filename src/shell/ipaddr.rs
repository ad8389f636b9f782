//! The floating IPv4 address built into hbd (`[hbd] builtin_ipaddr = true`):
//! what resource.d/IPaddr and IPaddr2 do, without a shell, `ip` or `arping`.
//! The address is added and removed with rtnetlink over a raw `NETLINK_ROUTE`
//! socket and announced with gratuitous ARP requests sent from an `AF_PACKET`
//! socket, so a takeover costs a few syscalls instead of several processes.
//! Arguments, checks and results follow the agents (docs/agents.md): the same
//! `ip[/cidr[/iface[/broadcast]]]`, the interface from the local subnet when
//! missing, an `iface:N` label for IPaddr, 5 announcements 200 ms apart.
//!
//! Everything here works in the calling thread's network namespace (netlink
//! and packet sockets are bound to it at creation; sysfs is not read).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use std::os::fd::{AsRawFd, OwnedFd};

/// Announcements per start, and their spacing: the IPaddr agent's defaults.
pub const ARP_COUNT: u32 = 5;
pub const ARP_INTERVAL: Duration = Duration::from_millis(200);

/// Why a built-in address step failed. Messages name the address, interface
/// or argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum IpError {
    #[error("{arg:?}: {why} (expected ip[/cidr[/iface[/broadcast]]])")]
    Args { arg: String, why: String },
    #[error("interface {0} does not exist on this node")]
    NoInterface(String),
    #[error("no interface has a subnet containing {0}; give one: {0}/24/eth0")]
    NoSubnet(Ipv4Addr),
    #[error("interface {0} is down; not taking {1} on it")]
    Down(String, Ipv4Addr),
    #[error("{ip} is already configured on {on}, not on {want}")]
    Elsewhere {
        ip: Ipv4Addr,
        on: String,
        want: String,
    },
    #[error("label {0:?} must start with the interface name and ':'")]
    Label(String),
    #[error("netlink {op}: {err}")]
    Netlink { op: &'static str, err: String },
    #[error("gratuitous ARP for {ip} on {iface}: {err}")]
    Arp {
        ip: Ipv4Addr,
        iface: String,
        err: String,
    },
}

impl IpError {
    /// The agents' exit codes (OCF): 2 bad arguments, 6 not configured here, 1 other.
    pub fn code(&self) -> i32 {
        match self {
            IpError::Args { .. } | IpError::Label(_) => 2,
            IpError::NoInterface(_) | IpError::NoSubnet(_) => 6,
            _ => 1,
        }
    }
}

/// The parsed resource argument (config::agents, which `hbd check` uses too).
pub use crate::config::agents::IpSpec;

/// Whether `name` is an agent the built-in mode replaces.
pub fn handles(name: &str) -> bool {
    name == "IPaddr" || name == "IPaddr2"
}

/// Parses `ip[/cidr[/iface[/broadcast]]]` exactly as resource.d's
/// `hbd_ip_parse` does, with the rules `hbd check` applies to haresources.
pub fn parse(arg: &str) -> Result<IpSpec, IpError> {
    crate::config::agents::parse_ip(arg).map_err(|why| IpError::Args {
        arg: arg.to_string(),
        why,
    })
}

// rtnetlink numbers (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_F_SECONDARY: u8 = 0x1;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFF_UP: u32 = 0x1;
const IFF_NOARP: u32 = 0x80;
const AF_INET: u8 = 2;

/// One interface as RTM_GETLINK reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub noarp: bool,
    pub mac: Vec<u8>,
}

/// One IPv4 address as RTM_GETADDR reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub label: String,
    pub secondary: bool,
}

/// A rtnetlink socket in the calling thread's network namespace.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

fn nl_err(op: &'static str) -> impl Fn(nix::Error) -> IpError {
    move |e| IpError::Netlink {
        op,
        err: e.to_string(),
    }
}

pub(super) fn push_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// Walks `(type, payload)` attributes; stops at the first malformed one.
pub(super) fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let data = &b[4..len];
        b = &b[len.next_multiple_of(4).min(b.len())..];
        Some((ty, data))
    })
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, IpError> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(nl_err("socket"))?;
        // The kernel answers at once; a bound wait keeps a wedged kernel from
        // hanging the step forever.
        let tv = nix::sys::time::TimeVal::new(2, 0);
        socket::setsockopt(&fd, socket::sockopt::ReceiveTimeout, &tv)
            .map_err(nl_err("setsockopt"))?;
        Ok(Rtnl { fd, seq: 0 })
    }

    /// Sends one request (`body` after the 16-byte header) and collects every
    /// answer message's payload until the ACK or NLMSG_DONE.
    pub(super) fn request(
        &mut self,
        op: &'static str,
        ty: u16,
        flags: u16,
        body: &[u8],
    ) -> Result<Vec<(u16, Vec<u8>)>, IpError> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(16 + body.len());
        msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        socket::sendto(
            self.fd.as_raw_fd(),
            &msg,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map_err(nl_err(op))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(nl_err(op))?;
            let mut b = &buf[..n];
            while b.len() >= 16 {
                let len = u32_at(b, 0) as usize;
                if len < 16 || len > b.len() {
                    return Err(IpError::Netlink {
                        op,
                        err: format!("truncated answer ({len} of {} bytes)", b.len()),
                    });
                }
                let mty = u16::from_ne_bytes([b[4], b[5]]);
                let seq = u32_at(b, 8);
                let payload = &b[16..len];
                b = &b[len.next_multiple_of(4).min(b.len())..];
                if seq != self.seq {
                    continue; // a late answer to an earlier, timed-out request
                }
                match mty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = if payload.len() >= 4 {
                            i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]])
                        } else {
                            -libc::EPROTO
                        };
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(IpError::Netlink {
                            op,
                            err: std::io::Error::from_raw_os_error(-code).to_string(),
                        });
                    }
                    _ => out.push((mty, payload.to_vec())),
                }
            }
        }
    }

    pub fn links(&mut self) -> Result<Vec<Link>, IpError> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let body = [0u8; 16];
        let msgs = self.request("dump links", RTM_GETLINK, NLM_F_DUMP, &body)?;
        let mut out = Vec::new();
        for (_, p) in msgs {
            if p.len() < 16 {
                continue;
            }
            let index = u32_at(&p, 4);
            let flags = u32_at(&p, 8);
            let mut l = Link {
                index,
                name: String::new(),
                up: flags & IFF_UP != 0,
                noarp: flags & IFF_NOARP != 0,
                mac: Vec::new(),
            };
            for (ty, d) in attrs(&p[16..]) {
                match ty {
                    IFLA_IFNAME => {
                        l.name = String::from_utf8_lossy(d.split(|&c| c == 0).next().unwrap_or(d))
                            .into_owned()
                    }
                    IFLA_ADDRESS => l.mac = d.to_vec(),
                    _ => {}
                }
            }
            out.push(l);
        }
        Ok(out)
    }

    pub fn addrs(&mut self) -> Result<Vec<Addr>, IpError> {
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        let body = [AF_INET, 0, 0, 0, 0, 0, 0, 0];
        let msgs = self.request("dump addresses", RTM_GETADDR, NLM_F_DUMP, &body)?;
        let mut out = Vec::new();
        for (_, p) in msgs {
            if p.len() < 8 || p[0] != AF_INET {
                continue;
            }
            let (mut local, mut address, mut label) = (None, None, String::new());
            for (ty, d) in attrs(&p[8..]) {
                match (ty, d.len()) {
                    (IFA_LOCAL, 4) => local = Some(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
                    (IFA_ADDRESS, 4) => address = Some(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
                    (IFA_LABEL, _) => {
                        label = String::from_utf8_lossy(d.split(|&c| c == 0).next().unwrap_or(d))
                            .into_owned()
                    }
                    _ => {}
                }
            }
            if let Some(addr) = local.or(address) {
                out.push(Addr {
                    index: u32_at(&p, 4),
                    addr,
                    prefix: p[1],
                    label,
                    secondary: p[2] & IFA_F_SECONDARY != 0,
                });
            }
        }
        Ok(out)
    }

    fn addr_msg(index: u32, ip: Ipv4Addr, prefix: u8) -> Vec<u8> {
        let mut b = vec![AF_INET, prefix, 0, 0];
        b.extend_from_slice(&index.to_ne_bytes());
        push_attr(&mut b, IFA_LOCAL, &ip.octets());
        push_attr(&mut b, IFA_ADDRESS, &ip.octets());
        b
    }

    /// `ip -4 addr add ip/prefix brd <brd> dev <index> [label <label>]`.
    pub fn add(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
        brd: Option<Ipv4Addr>,
        label: Option<&str>,
    ) -> Result<(), IpError> {
        let mut b = Rtnl::addr_msg(index, ip, prefix);
        if let Some(brd) = brd {
            push_attr(&mut b, IFA_BROADCAST, &brd.octets());
        }
        if let Some(l) = label {
            let mut z = l.as_bytes().to_vec();
            z.push(0);
            push_attr(&mut b, IFA_LABEL, &z);
        }
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.request("add address", RTM_NEWADDR, flags, &b)
            .map(drop)
    }

    pub fn del(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<(), IpError> {
        let b = Rtnl::addr_msg(index, ip, prefix);
        self.request("delete address", RTM_DELADDR, NLM_F_ACK, &b)
            .map(drop)
    }
}

/// `brd +`: the subnet's broadcast, none for /31 and /32 (as iproute2 does).
fn auto_broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix <= 30).then(|| Ipv4Addr::from(u32::from(ip) | (u32::MAX >> prefix)))
}

/// heartbeat's findif: the local subnet containing `ip` with the longest
/// prefix, ignoring `ip` itself and /32s. Returns (interface index, prefix).
pub fn findif(addrs: &[Addr], ip: Ipv4Addr) -> Option<(u32, u8)> {
    crate::config::facts::findif(addrs.iter().map(|a| (a.addr, a.prefix, a.index)), ip)
}

pub use super::arp::garp_frame;
use super::arp::{packet_socket, send_ethernet};

/// Announcers still sending, by (interface, address): a stop or a new start
/// of the same address ends the old one, as the agent's pidfile does.
/// Keyed by network namespace too: one process may serve several (the tests).
type Announcers = Mutex<HashMap<(String, String, IpAddr), Arc<AtomicBool>>>;

/// This thread's network namespace, as `net:[inode]`.
fn netns_id() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn announcers() -> &'static Announcers {
    static A: std::sync::OnceLock<Announcers> = std::sync::OnceLock::new();
    A.get_or_init(Default::default)
}

pub(super) fn stop_announcer(iface: &str, ip: IpAddr) {
    let mut m = announcers().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(flag) = m.remove(&(netns_id(), iface.to_string(), ip)) {
        flag.store(true, Ordering::SeqCst);
    }
}

/// Sends `frame` (EtherType `proto`) out of `link` now and `count - 1` more
/// times from a thread (created in this thread's network namespace),
/// `interval` apart, unless a stop or a new start of `ip` ends it first.
pub(super) fn burst(
    link: &Link,
    ip: IpAddr,
    frame: Vec<u8>,
    proto: u16,
    count: u32,
    interval: Duration,
) -> std::io::Result<()> {
    if count == 0 {
        return Ok(());
    }
    stop_announcer(&link.name, ip);
    let fd = packet_socket()?;
    send_ethernet(&fd, link.index, &frame, proto)?;
    if count == 1 {
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let key = (netns_id(), link.name.clone(), ip);
    announcers()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.clone(), stop.clone());
    let (name, index) = (link.name.clone(), link.index);
    std::thread::Builder::new()
        .name("hbd-announce".into())
        .spawn(move || {
            for _ in 1..count {
                std::thread::sleep(interval);
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Err(e) = send_ethernet(&fd, index, &frame, proto) {
                    log::warn!("announcing {ip} on {name}: {e}");
                    return;
                }
            }
            let mut m = announcers().lock().unwrap_or_else(|p| p.into_inner());
            if m.get(&key).is_some_and(|f| Arc::ptr_eq(f, &stop)) {
                m.remove(&key);
            }
        })
        .map(drop)
}

/// Sends the first gratuitous ARP now and the other `count - 1` from a
/// thread, `interval` apart.
fn announce(link: &Link, ip: Ipv4Addr, count: u32, interval: Duration) -> Result<(), IpError> {
    let arp_err = |e: std::io::Error| IpError::Arp {
        ip,
        iface: link.name.clone(),
        err: e.to_string(),
    };
    if count == 0 || link.noarp {
        return Ok(());
    }
    let mac: [u8; 6] = link.mac.as_slice().try_into().map_err(|_| IpError::Arp {
        ip,
        iface: link.name.clone(),
        err: format!("hardware address {:02x?} is not Ethernet", link.mac),
    })?;
    let frame = garp_frame(mac, ip).to_vec();
    burst(
        link,
        IpAddr::V4(ip),
        frame,
        libc::ETH_P_ARP as u16,
        count,
        interval,
    )
    .map_err(arp_err)
}

/// What a start did, for the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub iface: String,
    pub prefix: u8,
    pub label: Option<String>,
    /// It was already there (announced again, nothing added).
    pub already: bool,
}

fn link_named<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

fn link_index(links: &[Link], index: u32) -> Option<&Link> {
    links.iter().find(|l| l.index == index)
}

/// The interface holding `ip` in this namespace, if any (where a keeper of
/// the address announces it, whoever added it).
pub fn holder(ip: Ipv4Addr) -> Result<Option<Link>, IpError> {
    let mut nl = Rtnl::open()?;
    let addrs = nl.addrs()?;
    let Some(a) = addrs.iter().find(|a| a.addr == ip) else {
        return Ok(None);
    };
    Ok(link_index(&nl.links()?, a.index).cloned())
}

/// `IPaddr`/`IPaddr2 <arg> start`: `label` true gives IPaddr's `iface:N` alias.
pub fn start(arg: &str, label: bool, count: u32, interval: Duration) -> Result<Started, IpError> {
    let spec = parse(arg)?;
    let mut nl = Rtnl::open()?;
    let links = nl.links()?;
    let addrs = nl.addrs()?;
    let (link, prefix) = match &spec.nic {
        Some(n) => {
            let l = link_named(&links, n).ok_or_else(|| IpError::NoInterface(n.clone()))?;
            let p = match spec.prefix {
                Some(p) => p,
                None => findif(&addrs, spec.ip).ok_or(IpError::NoSubnet(spec.ip))?.1,
            };
            (l, p)
        }
        None => {
            let (i, p) = findif(&addrs, spec.ip).ok_or(IpError::NoSubnet(spec.ip))?;
            let l = link_index(&links, i).ok_or(IpError::NoSubnet(spec.ip))?;
            (l, spec.prefix.unwrap_or(p))
        }
    };
    if let Some(here) = addrs.iter().find(|a| a.addr == spec.ip) {
        let on = link_index(&links, here.index)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("#{}", here.index));
        if here.index != link.index {
            return Err(IpError::Elsewhere {
                ip: spec.ip,
                on,
                want: link.name.clone(),
            });
        }
        // Already ours: announce again (it repairs clients that followed the
        // peer during a partition) and succeed, as the agent does.
        announce(link, spec.ip, count, interval)?;
        return Ok(Started {
            iface: link.name.clone(),
            prefix: here.prefix,
            label: Some(here.label.clone()).filter(|l| l != &link.name),
            already: true,
        });
    }
    if !link.up {
        return Err(IpError::Down(link.name.clone(), spec.ip));
    }
    let label = match spec.label {
        Some(l) if l.split_once(':').map(|(d, _)| d) != Some(link.name.as_str()) => {
            return Err(IpError::Label(l))
        }
        Some(l) => Some(l),
        None if label => (0..64)
            .map(|n| format!("{}:{n}", link.name))
            .take_while(|l| l.len() <= 15)
            .find(|l| !addrs.iter().any(|a| &a.label == l)),
        None => None,
    };
    let brd = spec.brd.or_else(|| auto_broadcast(spec.ip, prefix));
    nl.add(link.index, spec.ip, prefix, brd, label.as_deref())?;
    announce(link, spec.ip, count, interval)?;
    Ok(Started {
        iface: link.name.clone(),
        prefix,
        label,
        already: false,
    })
}

/// `stop`: removes the address wherever it is (on the given interface only,
/// when one is given); not configured is success.
pub fn stop(arg: &str) -> Result<Vec<String>, IpError> {
    // OCF's rule for stop, as the agents: malformed arguments release only
    // the floating address they still name (config::agents::ip_to_release).
    let spec = match (parse(arg), crate::config::agents::ip_to_release(arg)) {
        (Ok(spec), _) => spec,
        (Err(e), Some(ip)) => {
            log::warn!(
                "stop with malformed arguments ({e}): removing {ip} wherever it is configured"
            );
            IpSpec {
                ip,
                prefix: None,
                nic: None,
                label: None,
                brd: None,
            }
        }
        (Err(e), None) => {
            log::warn!("stop with malformed arguments ({e}): nothing of this resource can be running; nothing to stop");
            return Ok(Vec::new());
        }
    };
    let mut nl = Rtnl::open()?;
    let links = nl.links()?;
    let addrs = nl.addrs()?;
    let mut done = Vec::new();
    if let Some(n) = &spec.nic {
        stop_announcer(n, IpAddr::V4(spec.ip));
    }
    for a in addrs.iter().filter(|a| a.addr == spec.ip) {
        let name = link_index(&links, a.index)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("#{}", a.index));
        if spec.nic.as_ref().is_some_and(|n| n != &name) {
            log::warn!(
                "{} is on {name}, not on {}; leaving it there",
                spec.ip,
                spec.nic.as_deref().unwrap_or("")
            );
            continue;
        }
        stop_announcer(&name, IpAddr::V4(spec.ip));
        if !a.secondary {
            keep_secondaries(&name, spec.ip);
        }
        nl.del(a.index, a.addr, a.prefix)?;
        done.push(format!("{}/{} from {name}", a.addr, a.prefix));
    }
    Ok(done)
}

/// Deleting a primary address deletes the secondaries of its subnet (other
/// groups' floating addresses) unless promote_secondaries is set.
fn keep_secondaries(iface: &str, ip: Ipv4Addr) {
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/promote_secondaries");
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
        return;
    }
    match std::fs::write(&path, "1") {
        Ok(()) => log::info!(
            "set net.ipv4.conf.{iface}.promote_secondaries=1 so that removing {ip} keeps the other addresses of its subnet"
        ),
        Err(e) => log::warn!(
            "cannot set net.ipv4.conf.{iface}.promote_secondaries ({e}); removing {ip} may remove the other addresses of its subnet"
        ),
    }
}

/// `status`: running iff the address is configured (on the given interface,
/// if any).
pub fn status(arg: &str) -> Result<bool, IpError> {
    let spec = parse(arg)?;
    let mut nl = Rtnl::open()?;
    let addrs = nl.addrs()?;
    let Some(nic) = &spec.nic else {
        return Ok(addrs.iter().any(|a| a.addr == spec.ip));
    };
    let links = nl.links()?;
    Ok(addrs
        .iter()
        .any(|a| a.addr == spec.ip && link_index(&links, a.index).is_some_and(|l| &l.name == nic)))
}

/// Runs one resource step of `IPaddr`/`IPaddr2` in-process and says how it
/// went. Logs as the script runner does (`running … start`, `… start: ok
/// after …`, which the benchmark's profile looks for), with the cause and the
/// time in microseconds added. Blocking (a few netlink round trips): call it
/// from a blocking thread.
pub fn run(
    resource: &crate::config::Resource,
    action: crate::core::Action,
) -> crate::core::StepOutcome {
    run_with(resource, action, ARP_COUNT, ARP_INTERVAL, false)
}

/// [`run`] with the start's announcements from `[hbd.announce]`: `count`
/// every `interval`. `keeper`: this step sends only the first and the
/// daemon's keeper (`shell/announce.rs`) the others; otherwise a thread here
/// sends them.
pub fn run_with(
    resource: &crate::config::Resource,
    action: crate::core::Action,
    count: u32,
    interval: Duration,
    keeper: bool,
) -> crate::core::StepOutcome {
    use crate::core::{Action, StepOutcome};
    let t0 = std::time::Instant::now();
    let what = format!(
        "{} {} {} (built-in)",
        resource.name,
        resource.args.join(" "),
        action.word()
    );
    // A monitor asks every few seconds: its routine answers are debug.
    let level = if action == Action::Monitor {
        log::Level::Debug
    } else {
        log::Level::Info
    };
    log::log!(level, "running {what}");
    let arg = match (resource.args.as_slice(), action) {
        ([arg], _) => arg.as_str(),
        // stop() releases what the first argument still names, if anything.
        (args, Action::Stop) => args.first().map_or("", String::as_str),
        _ => "",
    };
    if resource.args.len() != 1 && action != Action::Stop {
        let reason = format!(
            "usage: {} ip[/cidr[/iface[/broadcast]]] takes one argument, got {}",
            resource.name,
            resource.args.len()
        );
        log::error!("{what}: {reason}");
        return StepOutcome::Failed {
            code: Some(2),
            reason,
            output: String::new(),
        };
    }
    let r = match action {
        Action::Start => {
            let here = if keeper { count.min(1) } else { count };
            start(arg, resource.name == "IPaddr", here, interval)
        }
        .map(|s| {
            let how = if s.already {
                "already there; announced again".to_string()
            } else {
                format!(
                    "added /{} on {}{}; announcing with {count} gratuitous ARP every {}ms",
                    s.prefix,
                    s.iface,
                    s.label.map(|l| format!(" as {l}")).unwrap_or_default(),
                    interval.as_millis()
                )
            };
            (StepOutcome::Ok, "ok", how)
        }),
        Action::Stop => stop(arg).map(|d| {
            let how = if d.is_empty() {
                "not configured here; nothing to stop".into()
            } else {
                format!("removed {}", d.join(", "))
            };
            (StepOutcome::Ok, "ok", how)
        }),
        Action::Status | Action::Monitor => status(arg).map(|r| {
            let word = if r { "running" } else { "not running" };
            (StepOutcome::Running(r), word, String::new())
        }),
    };
    let took = t0.elapsed();
    let after = format!(
        "after {} ({}us)",
        crate::time::Duration::from_millis(took.as_millis() as u64),
        took.as_micros()
    );
    match r {
        Ok((o, word, how)) => {
            let how = if how.is_empty() {
                how
            } else {
                format!(": {how}")
            };
            log::log!(level, "{what}: {word} {after}{how}");
            o
        }
        Err(e) => {
            log::error!("{what}: failed {after}: {e}");
            StepOutcome::Failed {
                code: Some(e.code()),
                reason: e.to_string(),
                output: String::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpSpec {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn arguments_parse_as_the_agent_parses_them() {
        assert_eq!(
            p("192.0.2.10"),
            IpSpec {
                ip: Ipv4Addr::new(192, 0, 2, 10),
                prefix: None,
                nic: None,
                label: None,
                brd: None
            }
        );
        let s = p("192.0.2.10/255.255.255.0/eth0:web/192.0.2.255");
        assert_eq!(s.prefix, Some(24));
        assert_eq!(s.nic.as_deref(), Some("eth0"));
        assert_eq!(s.label.as_deref(), Some("eth0:web"));
        assert_eq!(s.brd, Some(Ipv4Addr::new(192, 0, 2, 255)));
        // heartbeat: a numeric third part is the broadcast.
        let s = p("192.0.2.10/24/192.0.2.255/eth1");
        assert_eq!(s.nic.as_deref(), Some("eth1"));
        assert_eq!(s.brd, Some(Ipv4Addr::new(192, 0, 2, 255)));
        for bad in [
            "",
            "192.0.2.010",
            "127.0.0.5",
            "224.0.0.1",
            "192.0.2.1/33",
            "192.0.2.1/255.0.255.0",
            "192.0.2.1/24/eth0/x/y",
            "192.0.2.1/24/-eth0",
            "192.0.2.1/24/eth0:",
            "192.0.2.1 ",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code(), 2, "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn findif_takes_the_longest_matching_prefix() {
        let a = |index, addr: [u8; 4], prefix| Addr {
            index,
            addr: addr.into(),
            prefix,
            label: String::new(),
            secondary: false,
        };
        let addrs = [
            a(2, [10, 0, 0, 1], 8),
            a(3, [10, 1, 0, 1], 16),
            a(4, [10, 1, 2, 3], 32),
            a(5, [10, 1, 2, 9], 24),
        ];
        assert_eq!(findif(&addrs, Ipv4Addr::new(10, 1, 7, 7)), Some((3, 16)));
        // The address itself and /32s say nothing about the subnet.
        assert_eq!(findif(&addrs, Ipv4Addr::new(10, 1, 2, 9)), Some((3, 16)));
        assert_eq!(findif(&addrs, Ipv4Addr::new(192, 0, 2, 1)), None);
        assert_eq!(
            auto_broadcast(Ipv4Addr::new(192, 0, 2, 10), 24),
            Some(Ipv4Addr::new(192, 0, 2, 255))
        );
        assert_eq!(auto_broadcast(Ipv4Addr::new(192, 0, 2, 10), 31), None);
    }
}
