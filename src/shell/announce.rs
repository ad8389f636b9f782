//! Keepers of floating addresses (`[hbd.announce]`): after an `IPaddr` or
//! `IPaddr2` start succeeded, one task per address sends what the pure
//! [`Schedule`] says is due (the rest of the built-in address's burst, the
//! refresh while the address is held, the convergence check's probes and
//! re-announcements) and reports the check's verdict to the loop. A keeper
//! lives in the daemon's process, so it ends with it: a killed daemon leaves
//! no announcer behind to pull clients back from the node that took over.
//! The loop ends a keeper before the address's stop runs.

use super::arp;
use super::inbox::{AnnounceNews, LoopEvent};
use super::ipaddr;
use super::ipaddr6;
use super::ndisc;
use crate::config::{Announce, Config, Resource, VerifyTarget};
use crate::core::announce::{Plan, Schedule, Verdict};
use crate::time::{Duration, Instant};
use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where one address's keeper runs: (group index, resource index).
type Key = (usize, usize);

/// The running keepers. Cheap to clone: step tasks start keepers, the loop
/// ends them.
#[derive(Clone, Default)]
pub struct Keepers {
    tasks: Arc<Mutex<HashMap<Key, JoinHandle<()>>>>,
}

/// Whether a resource is a floating address the keepers look after.
pub fn is_address(r: &Resource) -> bool {
    ipaddr::handles(&r.name) || super::ipaddr6::handles(r)
}

impl Keepers {
    /// The address of resource `resource` of group `group` has just started
    /// (`builtin`: by hbd itself, which sent only the first announcement).
    /// Replaces any keeper it had.
    pub fn start(
        &self,
        cfg: &Config,
        group: usize,
        resource: usize,
        builtin: bool,
        tx: mpsc::Sender<LoopEvent>,
    ) {
        let Some(g) = cfg.groups.get(group) else {
            return;
        };
        let Some(r) = g.resources.get(resource).filter(|r| is_address(r)) else {
            return;
        };
        let a = &cfg.hbd.announce;
        let arg = r.args.first().map_or("", String::as_str);
        // An agent, and the IPv6 start, send their own burst; the built-in
        // IPv4 start only its first announcement. A keeper is needed only
        // for what comes after.
        let (ip, sent_by_start) = if ipaddr6::handles(r) {
            let Ok(s) = ipaddr6::parse(arg) else { return };
            (IpAddr::V6(s.ip), a.count())
        } else {
            let Ok(s) = ipaddr::parse(arg) else { return };
            let sent = if builtin { a.count().min(1) } else { a.count() };
            (IpAddr::V4(s.ip), sent)
        };
        // Targets of the address's own family: ARP for IPv4, neighbour
        // solicitation for IPv6 ("gateway" is either).
        let verify: Vec<VerifyTarget> = a
            .verify
            .iter()
            .filter(|t| match t {
                VerifyTarget::Addr(t) => t.is_ipv4() == ip.is_ipv4(),
                VerifyTarget::Gateway => true,
            })
            .cloned()
            .collect();
        if sent_by_start >= a.count() && a.refresh.is_none() && verify.is_empty() {
            return;
        }
        let job = Job {
            ip,
            group: g.key(),
            plan: Plan::new(a, sent_by_start),
            verify,
            router: a.na_router,
        };
        let task = tokio::spawn(keep(job, tx));
        let old = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((group, resource), task);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Ends the keeper of that resource, if one runs (before its stop).
    pub fn stop(&self, group: usize, resource: usize) {
        let t = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(group, resource));
        if let Some(t) = t {
            t.abort();
        }
    }
}

/// The announcements an agent sends per start when hbd.toml sets them (its
/// own setting, or the agents' env file, otherwise).
pub fn agent_env(a: &Announce) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(n) = a.count {
        env.push(("HBD_ARP_COUNT".to_string(), n.to_string()));
    }
    if let Some(i) = a.interval {
        env.push(("HBD_ARP_INTERVAL_MS".to_string(), i.millis().to_string()));
    }
    env
}

struct Job {
    ip: IpAddr,
    group: String,
    plan: Plan,
    verify: Vec<VerifyTarget>,
    /// IPv6: the router flag of the advertisements.
    router: bool,
}

/// The targets as addresses: `gateway` is the default route's of the
/// address's family, on the address's interface (none there: a warning, and
/// it is not checked).
fn resolve(verify: &[VerifyTarget], iface: &str, ip: IpAddr) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for t in verify {
        let a = match t {
            VerifyTarget::Addr(a) => Some(*a),
            VerifyTarget::Gateway => {
                let gw = if ip.is_ipv4() {
                    let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
                    arp::default_gateway(&route, iface).map(IpAddr::V4)
                } else {
                    let route = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
                    ndisc::default_gateway6(&route, iface).map(IpAddr::V6)
                };
                if gw.is_none() {
                    log::warn!(
                        "{ip} on {iface}: verify: no default route via {iface}, so no gateway to ask; it is not checked"
                    );
                }
                gw
            }
        };
        if let Some(a) = a.filter(|a| !out.contains(a) && *a != ip) {
            out.push(a);
        }
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.millis())
}

fn log_verdict(ip: IpAddr, iface: &str, group: &str, v: &Verdict) {
    let asked = if ip.is_ipv4() {
        "an ARP request"
    } else {
        "a neighbour solicitation"
    };
    let cache = if ip.is_ipv4() {
        "ARP cache"
    } else {
        "neighbour cache"
    };
    let answers = |a: &[(IpAddr, Duration)]| {
        a.iter()
            .map(|(t, d)| format!("{t} after {}", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match v {
        Verdict::Converged {
            after,
            answers: a,
            announcements,
        } => log::info!(
            "{ip} on {iface} (group {group}): clients converged after {}: {} answered {asked} from {ip} ({announcements} announcements sent)",
            ms(*after),
            answers(a)
        ),
        Verdict::NotConverged {
            limit,
            missing,
            answers: a,
            announcements,
        } => log::warn!(
            "{ip} on {iface} (group {group}): clients did not converge within {limit}: {} never answered {asked} from {ip}{} ({announcements} announcements sent); clients behind them may still send to the old node (check the switch's MAC table and the router's {cache})",
            missing
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if a.is_empty() {
                String::new()
            } else {
                format!(" ({} did)", answers(a))
            }
        ),
    }
}

/// Every probe answer queued on `fd`, as its sender's address.
fn drain(fd: &arp::PacketSocket, mac: [u8; 6], ip: IpAddr) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1600];
    // Bounded: a flood of ARP cannot keep the keeper here.
    for _ in 0..256 {
        match nix::sys::socket::recv(
            fd.as_raw_fd(),
            &mut buf,
            nix::sys::socket::MsgFlags::empty(),
        ) {
            Ok(n) => out.extend(match ip {
                IpAddr::V4(ip) => arp::reply_sender(&buf[..n], mac, ip).map(IpAddr::V4),
                IpAddr::V6(ip) => ndisc::answer_from(&buf[..n], mac, ip).map(IpAddr::V6),
            }),
            Err(_) => break,
        }
    }
    out
}

/// Waits until `fd` has frames, then reads the answers among them; never
/// returns without a socket.
async fn answers(fd: Option<&AsyncFd<arp::PacketSocket>>, mac: [u8; 6], ip: IpAddr) -> Vec<IpAddr> {
    let Some(fd) = fd else {
        return std::future::pending().await;
    };
    match fd.readable().await {
        Ok(mut guard) => {
            let got = drain(fd.get_ref(), mac, ip);
            guard.clear_ready();
            got
        }
        Err(_) => std::future::pending().await,
    }
}

async fn keep(job: Job, tx: mpsc::Sender<LoopEvent>) {
    let t0 = tokio::time::Instant::now();
    let now = || Instant::from_millis(t0.elapsed().as_millis() as u64);
    let ip = job.ip;
    let holder = tokio::task::spawn_blocking(move || match ip {
        IpAddr::V4(a) => ipaddr::holder(a),
        IpAddr::V6(a) => ipaddr6::holder(a),
    });
    let link = match holder.await {
        Ok(Ok(Some(l))) => l,
        Ok(Ok(None)) => {
            log::warn!("{ip}: not configured on this node after its start; not announcing it");
            return;
        }
        Ok(Err(e)) => {
            log::warn!("{ip}: cannot find its interface ({e}); not announcing it");
            return;
        }
        Err(_) => return,
    };
    let iface = link.name.clone();
    if link.noarp {
        return;
    }
    let Ok(mac) = <[u8; 6]>::try_from(link.mac.as_slice()) else {
        log::warn!(
            "{ip} on {iface}: hardware address {:02x?} is not Ethernet; not announcing it",
            link.mac
        );
        return;
    };
    let targets = resolve(&job.verify, &iface, ip);
    let (frame, proto) = match ip {
        IpAddr::V4(a) => (arp::garp_frame(mac, a).to_vec(), libc::ETH_P_ARP as u16),
        IpAddr::V6(a) => (
            ndisc::na_frame(mac, a, job.router).to_vec(),
            ndisc::ETH_P_IPV6,
        ),
    };
    let sender = match arp::packet_socket() {
        Ok(fd) => fd,
        Err(e) => {
            log::warn!("{ip} on {iface}: no packet socket ({e}); not announcing it");
            return;
        }
    };
    let mut receiver = None;
    if !targets.is_empty() {
        // `AsyncFd::new` is deprecated as unsound for an fd that could be
        // closed while registered; this socket is moved in and stays open
        // until the AsyncFd is dropped (and deregistered).
        #[allow(deprecated)]
        match arp::receiver(link.index, proto).and_then(AsyncFd::new) {
            Ok(fd) => receiver = Some(fd),
            Err(e) => log::warn!(
                "{ip} on {iface}: cannot read the probes' answers ({e}); convergence is not checked"
            ),
        }
    }
    let checked = if receiver.is_some() {
        targets
    } else {
        Vec::new()
    };
    let mut s = Schedule::new(job.plan, Instant::ZERO, checked.clone());
    if s.verifying() {
        let _ = tx
            .send(LoopEvent::Announce(AnnounceNews::Verifying {
                ip,
                iface: iface.clone(),
                group: job.group.clone(),
                targets: checked.clone(),
            }))
            .await;
    }
    let mut failed = false;
    loop {
        if let Some(verdict) = s.take_verdict() {
            log_verdict(ip, &iface, &job.group, &verdict);
            receiver = None;
            let _ = tx
                .send(LoopEvent::Announce(AnnounceNews::Verdict {
                    ip,
                    iface: iface.clone(),
                    group: job.group.clone(),
                    verdict,
                }))
                .await;
        }
        let Some(at) = s.next_deadline() else { break };
        let wake = t0 + std::time::Duration::from_millis(at.millis());
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                let Some(round) = s.poll(now()) else { continue };
                let mut sent = Ok(());
                if round.announce {
                    log::debug!("{ip} on {iface}: announced ({} so far)", s.announcements());
                    sent = arp::send_ethernet(&sender, link.index, &frame, proto);
                }
                for t in round.probe {
                    if sent.is_err() {
                        break;
                    }
                    sent = match (ip, t) {
                        (IpAddr::V4(ip), IpAddr::V4(t)) => {
                            arp::send_frame(&sender, link.index, &arp::request_frame(mac, ip, t))
                        }
                        (IpAddr::V6(ip), IpAddr::V6(t)) => arp::send_ethernet(
                            &sender,
                            link.index,
                            &ndisc::ns_frame(mac, ip, t),
                            ndisc::ETH_P_IPV6,
                        ),
                        _ => Ok(()),
                    };
                }
                // One warning per keeper: a down interface fails every send.
                if let Err(e) = sent {
                    if !std::mem::replace(&mut failed, true) {
                        log::warn!("{ip} on {iface}: announcing: {e}");
                    }
                }
            }
            got = answers(receiver.as_ref(), mac, ip) => {
                let at = now();
                for from in got {
                    if s.answered(at, from) {
                        log::debug!("{ip} on {iface}: {from} answered after {} ms", at.millis());
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
    fn agents_get_only_what_hbd_toml_sets() {
        // Unset: the agent's own default or its env file decides.
        assert!(agent_env(&Announce::default()).is_empty());
        let a = Announce {
            count: Some(8),
            interval: Some(Duration::from_millis(250)),
            ..Announce::default()
        };
        assert_eq!(
            agent_env(&a),
            [
                ("HBD_ARP_COUNT".to_string(), "8".to_string()),
                ("HBD_ARP_INTERVAL_MS".to_string(), "250".to_string())
            ]
        );
    }
}
