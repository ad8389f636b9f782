//! IPv6 floating addresses, run by hbd itself: `IPv6addr::addr[/prefix[/iface]]`
//! (heartbeat's form) and `IPaddr2` with an IPv6 address. hbd ships no IPv6
//! agent script, so these are built in whatever `builtin_ipaddr` says.
//!
//! The address is added over rtnetlink (ipaddr.rs's socket) with `nodad` by
//! default: a floating address moves from a node that is gone or has just
//! released it, and duplicate address detection would leave it "tentative"
//! (unusable as a source, not answering neighbour solicitations) for a second
//! or more after the takeover. With `[hbd.announce] dad = "3s"` the kernel
//! runs DAD and the start waits for it, failing (and removing the address)
//! if DAD failed or the address is still tentative at the deadline: never a
//! silently tentative address. Then unsolicited neighbour advertisements
//! (ndisc.rs), `count` every `interval` as the IPv4 gratuitous ARP.

use super::ipaddr::{self, attrs, push_attr, u32_at, IpError, Link, Rtnl};
use super::ndisc;
use crate::config::agents::{self, Ip6Spec};
use crate::config::{Announce, Resource};
use crate::core::{Action, StepOutcome};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Why an IPv6 address step failed. Messages name the address, interface
/// or argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum Ip6Error {
    #[error("{arg:?}: {why} (expected address[/prefix[/iface]], the address written out without `::` in haresources)")]
    Args { arg: String, why: String },
    #[error("interface {0} does not exist on this node")]
    NoInterface(String),
    #[error("no interface has an IPv6 subnet containing {0}; give one: {0}/64/eth0")]
    NoSubnet(Ipv6Addr),
    #[error("interface {0} is down; not taking {1} on it")]
    Down(String, Ipv6Addr),
    #[error("{ip} is already configured on {on}, not on {want}")]
    Elsewhere {
        ip: Ipv6Addr,
        on: String,
        want: String,
    },
    #[error("{ip} on {iface}: {why}")]
    Dad {
        ip: Ipv6Addr,
        iface: String,
        why: String,
    },
    #[error("neighbour advertisement for {ip} on {iface}: {err}")]
    Announce {
        ip: Ipv6Addr,
        iface: String,
        err: String,
    },
    #[error(transparent)]
    Netlink(#[from] IpError),
}

impl Ip6Error {
    /// The agents' exit codes (OCF): 2 bad arguments, 6 not configured here, 1 other.
    pub fn code(&self) -> i32 {
        match self {
            Ip6Error::Args { .. } => 2,
            Ip6Error::NoInterface(_) | Ip6Error::NoSubnet(_) => 6,
            _ => 1,
        }
    }
}

/// Whether `r` is an IPv6 address this module runs.
pub fn handles(r: &Resource) -> bool {
    agents::is_ipv6_address(r)
}

/// Whether hbd runs `r` in-process: an IPv4 `IPaddr`/`IPaddr2` where
/// `builtin_ipaddr` says so on this host (`config::ipaddr_runner`: the
/// choice, with why, is logged at `level` when it is the script), an IPv6
/// address always (here).
pub fn builtin(
    cfg: &crate::config::Config,
    config_dir: &std::path::Path,
    r: &Resource,
    level: log::Level,
) -> bool {
    match crate::config::facts::ipaddr_runner(cfg, config_dir, r) {
        Some(c) => {
            if !c.builtin {
                let script = c.script.map(|p| format!(" {}", p.display()));
                log::log!(
                    level,
                    "{r}: runs by its script{}: {}",
                    script.unwrap_or_default(),
                    c.why
                );
            }
            c.builtin
        }
        None => handles(r),
    }
}

/// Runs one step of a [`builtin`] address, announcing as `a` says
/// (`keeper`: see `ipaddr::run_with`; IPv6 addresses send their whole burst).
pub fn run_builtin(r: &Resource, action: Action, a: &Announce, keeper: bool) -> StepOutcome {
    if handles(r) {
        return run(r, action, &Opts::from(a));
    }
    ipaddr::run_with(r, action, a.count(), a.interval().to_std(), keeper)
}

pub fn parse(arg: &str) -> Result<Ip6Spec, Ip6Error> {
    agents::parse_ip6(arg).map_err(|why| Ip6Error::Args {
        arg: arg.to_string(),
        why,
    })
}

// linux/if_addr.h, linux/socket.h.
const AF_INET6: u8 = 10;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_TENTATIVE: u32 = 0x40;

/// One IPv6 address as RTM_GETADDR reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr6 {
    pub index: u32,
    pub addr: Ipv6Addr,
    pub prefix: u8,
    pub flags: u32,
}

/// Where an address stands with duplicate address detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dad {
    /// Usable: DAD passed, or was not run.
    Done,
    /// DAD still runs: the address is not usable yet.
    Tentative,
    /// Another node on the link answered for it.
    Failed,
}

impl Addr6 {
    pub fn dad(&self) -> Dad {
        if self.flags & IFA_F_DADFAILED != 0 {
            Dad::Failed
        } else if self.flags & IFA_F_TENTATIVE != 0 {
            Dad::Tentative
        } else {
            Dad::Done
        }
    }
}

fn parse_addr(p: &[u8]) -> Option<Addr6> {
    if p.len() < 8 || p[0] != AF_INET6 {
        return None;
    }
    let mut flags = u32::from(p[2]);
    let (mut local, mut address) = (None, None);
    let v6 = |d: &[u8]| <[u8; 16]>::try_from(d).ok().map(Ipv6Addr::from);
    for (ty, d) in attrs(&p[8..]) {
        match ty {
            IFA_LOCAL => local = v6(d),
            IFA_ADDRESS => address = v6(d),
            IFA_FLAGS if d.len() == 4 => flags = u32_at(d, 0),
            _ => {}
        }
    }
    Some(Addr6 {
        index: u32_at(p, 4),
        addr: local.or(address)?,
        prefix: p[1],
        flags,
    })
}

/// Every IPv6 address of this namespace.
pub fn addrs(nl: &mut Rtnl) -> Result<Vec<Addr6>, IpError> {
    let body = [AF_INET6, 0, 0, 0, 0, 0, 0, 0];
    let msgs = nl.request("dump IPv6 addresses", RTM_GETADDR, NLM_F_DUMP, &body)?;
    Ok(msgs.iter().filter_map(|(_, p)| parse_addr(p)).collect())
}

fn addr_msg(index: u32, ip: Ipv6Addr, prefix: u8, flags: u32) -> Vec<u8> {
    // struct ifaddrmsg: family, prefixlen, flags (low 8 bits), scope, index.
    let mut b = vec![AF_INET6, prefix, flags as u8, 0];
    b.extend_from_slice(&index.to_ne_bytes());
    push_attr(&mut b, IFA_LOCAL, &ip.octets());
    push_attr(&mut b, IFA_FLAGS, &flags.to_ne_bytes());
    b
}

/// `ip -6 addr add ip/prefix dev <index> [nodad]`.
pub fn add(
    nl: &mut Rtnl,
    index: u32,
    ip: Ipv6Addr,
    prefix: u8,
    nodad: bool,
) -> Result<(), IpError> {
    let flags = if nodad { IFA_F_NODAD } else { 0 };
    let b = addr_msg(index, ip, prefix, flags);
    nl.request(
        "add IPv6 address",
        RTM_NEWADDR,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        &b,
    )
    .map(drop)
}

pub fn del(nl: &mut Rtnl, index: u32, ip: Ipv6Addr, prefix: u8) -> Result<(), IpError> {
    let b = addr_msg(index, ip, prefix, 0);
    nl.request("delete IPv6 address", RTM_DELADDR, NLM_F_ACK, &b)
        .map(drop)
}

/// The local subnet containing `ip` with the longest prefix.
fn findif(addrs: &[Addr6], ip: Ipv6Addr) -> Option<(u32, u8)> {
    crate::config::facts::findif6(addrs.iter().map(|a| (a.addr, a.prefix, a.index)), ip)
}

/// The interface holding `ip` in this namespace, if any (where a keeper of
/// the address announces it).
pub fn holder(ip: Ipv6Addr) -> Result<Option<Link>, IpError> {
    let mut nl = Rtnl::open()?;
    let Some(a) = addrs(&mut nl)?.into_iter().find(|a| a.addr == ip) else {
        return Ok(None);
    };
    Ok(nl.links()?.into_iter().find(|l| l.index == a.index))
}

/// How a start announces and whether it waits for DAD (`[hbd.announce]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opts {
    pub count: u32,
    pub interval: Duration,
    pub router: bool,
    /// None: add `nodad`. Some(t): let DAD run, wait up to t.
    pub dad: Option<Duration>,
}

impl Opts {
    pub fn from(a: &Announce) -> Opts {
        Opts {
            count: a.count(),
            interval: a.interval().to_std(),
            router: a.na_router,
            dad: a.dad.map(|d| d.to_std()),
        }
    }
}

/// What a start did, for the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub iface: String,
    pub prefix: u8,
    pub already: bool,
    /// How long DAD took, when the start waited for it.
    pub dad: Option<Duration>,
}

fn announce(link: &Link, ip: Ipv6Addr, o: &Opts) -> Result<(), Ip6Error> {
    // IFF_NOARP: no neighbour discovery on this link either.
    if o.count == 0 || link.noarp {
        return Ok(());
    }
    let err = |err: String| Ip6Error::Announce {
        ip,
        iface: link.name.clone(),
        err,
    };
    let mac: [u8; 6] = link.mac.as_slice().try_into().map_err(|_| {
        err(format!(
            "hardware address {:02x?} is not Ethernet",
            link.mac
        ))
    })?;
    let frame = ndisc::na_frame(mac, ip, o.router).to_vec();
    ipaddr::burst(
        link,
        IpAddr::V6(ip),
        frame,
        ndisc::ETH_P_IPV6,
        o.count,
        o.interval,
    )
    .map_err(|e| err(e.to_string()))
}

/// Waits (up to `limit`, polling) until `ip` on `link` is out of DAD.
/// Removes it and fails if DAD failed or it is still tentative at the end.
fn wait_dad(
    nl: &mut Rtnl,
    link: &Link,
    ip: Ipv6Addr,
    limit: Duration,
) -> Result<Duration, Ip6Error> {
    let t0 = Instant::now();
    let dad_err = |why: String| Ip6Error::Dad {
        ip,
        iface: link.name.clone(),
        why,
    };
    loop {
        let now = addrs(nl)?;
        let Some(a) = now.iter().find(|a| a.addr == ip && a.index == link.index) else {
            return Err(dad_err(
                "removed while duplicate address detection ran".into(),
            ));
        };
        let why = match a.dad() {
            Dad::Done => return Ok(t0.elapsed()),
            Dad::Failed => format!(
                "duplicate address detection failed: another node on {} uses it; removed it again",
                link.name
            ),
            Dad::Tentative if t0.elapsed() >= limit => format!(
                "still tentative after {} ms of duplicate address detection (no carrier, or a slow DAD: check dad_transmits and retrans_time_ms of {}); removed it again",
                limit.as_millis(),
                link.name
            ),
            Dad::Tentative => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if let Err(e) = del(nl, a.index, a.addr, a.prefix) {
            log::warn!("{ip} on {}: removing it after DAD: {e}", link.name);
        }
        return Err(dad_err(why));
    }
}

pub fn start(arg: &str, o: &Opts) -> Result<Started, Ip6Error> {
    let spec = parse(arg)?;
    let mut nl = Rtnl::open()?;
    let links = nl.links()?;
    let all = addrs(&mut nl)?;
    let (link, prefix) = match &spec.nic {
        Some(n) => {
            let l = links
                .iter()
                .find(|l| &l.name == n)
                .ok_or_else(|| Ip6Error::NoInterface(n.clone()))?;
            let p = match spec.prefix {
                Some(p) => p,
                None => findif(&all, spec.ip).ok_or(Ip6Error::NoSubnet(spec.ip))?.1,
            };
            (l, p)
        }
        None => {
            let (i, p) = findif(&all, spec.ip).ok_or(Ip6Error::NoSubnet(spec.ip))?;
            let l = links
                .iter()
                .find(|l| l.index == i)
                .ok_or(Ip6Error::NoSubnet(spec.ip))?;
            (l, spec.prefix.unwrap_or(p))
        }
    };
    if let Some(here) = all.iter().find(|a| a.addr == spec.ip) {
        if here.index != link.index {
            let on = links
                .iter()
                .find(|l| l.index == here.index)
                .map_or_else(|| format!("#{}", here.index), |l| l.name.clone());
            return Err(Ip6Error::Elsewhere {
                ip: spec.ip,
                on,
                want: link.name.clone(),
            });
        }
        // Already ours. A tentative copy is waited for (or refused), a
        // failed one refused; a usable one announced again, which repairs
        // clients that followed the peer during a partition.
        let dad = match here.dad() {
            Dad::Done => None,
            _ => Some(wait_dad(
                &mut nl,
                link,
                spec.ip,
                o.dad.unwrap_or(Duration::ZERO),
            )?),
        };
        announce(link, spec.ip, o)?;
        return Ok(Started {
            iface: link.name.clone(),
            prefix: here.prefix,
            already: true,
            dad,
        });
    }
    if !link.up {
        return Err(Ip6Error::Down(link.name.clone(), spec.ip));
    }
    add(&mut nl, link.index, spec.ip, prefix, o.dad.is_none())?;
    let dad = match o.dad {
        Some(limit) => Some(wait_dad(&mut nl, link, spec.ip, limit)?),
        None => None,
    };
    announce(link, spec.ip, o)?;
    Ok(Started {
        iface: link.name.clone(),
        prefix,
        already: false,
        dad,
    })
}

/// `stop`: removes the address wherever it is (on the given interface only,
/// when one is given); not configured is success.
pub fn stop(arg: &str) -> Result<Vec<String>, Ip6Error> {
    let spec = match (parse(arg), agents::ip6_to_release(arg)) {
        (Ok(spec), _) => spec,
        (Err(e), Some(ip)) => {
            log::warn!(
                "stop with malformed arguments ({e}): removing {ip} wherever it is configured"
            );
            Ip6Spec {
                ip,
                prefix: None,
                nic: None,
            }
        }
        (Err(e), None) => {
            log::warn!("stop with malformed arguments ({e}): nothing of this resource can be running; nothing to stop");
            return Ok(Vec::new());
        }
    };
    let mut nl = Rtnl::open()?;
    let links = nl.links()?;
    let all = addrs(&mut nl)?;
    let mut done = Vec::new();
    if let Some(n) = &spec.nic {
        ipaddr::stop_announcer(n, IpAddr::V6(spec.ip));
    }
    for a in all.iter().filter(|a| a.addr == spec.ip) {
        let name = links
            .iter()
            .find(|l| l.index == a.index)
            .map_or_else(|| format!("#{}", a.index), |l| l.name.clone());
        if spec.nic.as_ref().is_some_and(|n| n != &name) {
            log::warn!(
                "{} is on {name}, not on {}; leaving it there",
                spec.ip,
                spec.nic.as_deref().unwrap_or("")
            );
            continue;
        }
        ipaddr::stop_announcer(&name, IpAddr::V6(spec.ip));
        del(&mut nl, a.index, a.addr, a.prefix)?;
        done.push(format!("{}/{} from {name}", a.addr, a.prefix));
    }
    Ok(done)
}

/// `status`: where the address stands (on the given interface, if any):
/// None when absent. Only `Some(Dad::Done)` is running.
pub fn status(arg: &str) -> Result<Option<Dad>, Ip6Error> {
    let spec = parse(arg)?;
    let mut nl = Rtnl::open()?;
    let all = addrs(&mut nl)?;
    let links = match &spec.nic {
        Some(_) => nl.links()?,
        None => Vec::new(),
    };
    Ok(all
        .iter()
        .find(|a| {
            a.addr == spec.ip
                && spec.nic.as_ref().map_or(true, |n| {
                    links.iter().any(|l| l.index == a.index && &l.name == n)
                })
        })
        .map(Addr6::dad))
}

/// Runs one resource step in-process and says how it went, logging as
/// ipaddr::run_with does. Blocking: call it from a blocking thread.
pub fn run(resource: &Resource, action: Action, o: &Opts) -> StepOutcome {
    let t0 = Instant::now();
    let what = format!(
        "{} {} {} (built-in)",
        resource.name,
        resource.args.join(" "),
        action.word()
    );
    let level = if action == Action::Monitor {
        log::Level::Debug
    } else {
        log::Level::Info
    };
    log::log!(level, "running {what}");
    if resource.args.len() != 1 && action != Action::Stop {
        let reason = format!(
            "usage: {} address[/prefix[/iface]] takes one argument, got {} (haresources splits a compressed address at `::`: write it out in full)",
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
    // stop() releases what the first argument still names, if anything.
    let arg = resource.args.first().map_or("", String::as_str);
    let r = match action {
        Action::Start => start(arg, o).map(|s| {
            let dad = match s.dad {
                Some(d) => format!(", DAD passed after {} ms", d.as_millis()),
                None if s.already => String::new(),
                None => " nodad".into(),
            };
            let how = if s.already {
                format!("already there{dad}; announced again")
            } else {
                format!(
                    "added /{} on {}{dad}; announcing with {} unsolicited neighbour advertisements every {}ms",
                    s.prefix,
                    s.iface,
                    o.count,
                    o.interval.as_millis()
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
        Action::Status | Action::Monitor => status(arg).map(|d| match d {
            Some(Dad::Done) => (StepOutcome::Running(true), "running", String::new()),
            None => (StepOutcome::Running(false), "not running", String::new()),
            Some(Dad::Tentative) => (
                StepOutcome::Running(false),
                "not running",
                "configured but tentative (duplicate address detection has not finished): not usable".into(),
            ),
            Some(Dad::Failed) => (
                StepOutcome::Running(false),
                "not running",
                "configured but duplicate address detection failed: another node uses it".into(),
            ),
        }),
    };
    let took = t0.elapsed();
    let after = format!("after {} ms ({}us)", took.as_millis(), took.as_micros());
    match r {
        Ok((o, word, how)) => {
            let how = if how.is_empty() {
                how
            } else {
                format!(": {how}")
            };
            // A tentative or failed address is worth seeing, even on a monitor.
            let level = if o == StepOutcome::Running(false) && !how.is_empty() {
                log::Level::Warn
            } else {
                level
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

    #[test]
    fn dumped_addresses_carry_their_dad_state() {
        let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let mut msg = addr_msg(7, ip, 64, IFA_F_TENTATIVE | 0x100);
        let a = parse_addr(&msg).unwrap();
        assert_eq!((a.index, a.addr, a.prefix), (7, ip, 64));
        assert_eq!(a.dad(), Dad::Tentative);
        // IFA_FLAGS wins over the 8-bit field (flags above 0xff live there).
        msg[2] = 0;
        assert_eq!(parse_addr(&msg).unwrap().flags, IFA_F_TENTATIVE | 0x100);
        let failed = addr_msg(7, ip, 64, IFA_F_DADFAILED | IFA_F_TENTATIVE);
        assert_eq!(parse_addr(&failed).unwrap().dad(), Dad::Failed);
        assert_eq!(
            parse_addr(&addr_msg(7, ip, 64, IFA_F_NODAD)).unwrap().dad(),
            Dad::Done
        );
        msg[0] = 2;
        assert_eq!(parse_addr(&msg), None, "not IPv6");
        assert_eq!(parse_addr(&msg[..6]), None);
    }

    #[test]
    fn findif_takes_the_longest_prefix_and_skips_the_address_itself() {
        let a = |index, s: &str, prefix| Addr6 {
            index,
            addr: s.parse().unwrap(),
            prefix,
            flags: 0,
        };
        let addrs = [
            a(2, "2001:db8::1", 48),
            a(3, "2001:db8:0:1::1", 64),
            a(4, "2001:db8:0:1::9", 128),
            a(5, "fe80::1", 64),
        ];
        let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(findif(&addrs, ip("2001:db8:0:1::100")), Some((3, 64)));
        assert_eq!(findif(&addrs, ip("2001:db8:0:2::100")), Some((2, 48)));
        assert_eq!(findif(&addrs, ip("2001:db8:0:1::9")), Some((3, 64)));
        assert_eq!(findif(&addrs, ip("2001:db9::1")), None);
    }
}
