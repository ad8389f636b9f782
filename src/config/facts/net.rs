//! The network as this host sees it: its interfaces and their IPv4
//! addresses, the resolver, and which local subnet an address falls in.

use std::net::{Ipv4Addr, ToSocketAddrs};
#[cfg(not(feature = "shell"))]
use std::path::Path;

/// Whether interface `dev` exists in this network namespace.
pub fn interface_exists(dev: &str) -> bool {
    #[cfg(feature = "shell")]
    {
        nix::net::if_::if_nametoindex(dev).is_ok()
    }
    #[cfg(not(feature = "shell"))]
    {
        !dev.contains('/') && Path::new("/sys/class/net").join(dev).exists()
    }
}

/// The interfaces of this network namespace, sorted.
pub fn interface_names() -> Vec<String> {
    #[cfg(feature = "shell")]
    let mut names: Vec<String> = nix::net::if_::if_nameindex()
        .map(|l| {
            l.iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    #[cfg(not(feature = "shell"))]
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The IPv4 address of `host`: an address as written, or the first IPv4
/// address the resolver (/etc/hosts, DNS) gives for a name, as heartbeat's
/// `gethostbyname` does.
pub fn resolve_ipv4(host: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = host.parse::<Ipv4Addr>() {
        return Some(a);
    }
    // A value that is no host name never goes to the resolver.
    if host.is_empty()
        || host.len() > 253
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return None;
    }
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
        std::net::SocketAddr::V6(_) => None,
    })
}

/// One IPv4 address of an interface, with its prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub dev: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// Every IPv4 address of this network namespace; None when this build cannot
/// list them (without the `shell` feature).
pub fn ipv4_subnets() -> Option<Vec<Subnet>> {
    #[cfg(feature = "shell")]
    {
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        Some(
            addrs
                .filter_map(|a| {
                    let addr = a.address.as_ref()?.as_sockaddr_in()?.ip();
                    let mask = a.netmask.as_ref()?.as_sockaddr_in()?.ip();
                    Some(Subnet {
                        dev: a.interface_name.clone(),
                        addr,
                        prefix: u32::from(mask).leading_ones() as u8,
                    })
                })
                .collect(),
        )
    }
    #[cfg(not(feature = "shell"))]
    {
        None
    }
}

/// The IPv4 address (`broadcast == false`) or broadcast address of `dev`.
#[cfg(feature = "shell")]
pub fn interface_ipv4(dev: &str, broadcast: bool) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        if a.interface_name != dev {
            return None;
        }
        let sa = if broadcast { a.broadcast } else { a.address };
        sa.as_ref().and_then(|s| s.as_sockaddr_in()).map(|s| s.ip())
    })
}

/// heartbeat's findif: of local addresses (address, prefix length, and what
/// names their interface), the one whose subnet contains `ip` with the longest
/// prefix, ignoring `ip` itself and /32s. Returns its interface and prefix.
pub fn findif<T>(
    addrs: impl IntoIterator<Item = (Ipv4Addr, u8, T)>,
    ip: Ipv4Addr,
) -> Option<(T, u8)> {
    addrs
        .into_iter()
        .filter(|(addr, prefix, _)| *addr != ip && *prefix < 32)
        .filter(|(addr, prefix, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            u32::from(*addr) & mask == u32::from(ip) & mask
        })
        .max_by_key(|(_, prefix, _)| *prefix)
        .map(|(_, prefix, dev)| (dev, prefix))
}

/// Every IPv6 address of this network namespace as (interface, address,
/// prefix); None when this build cannot read them.
pub fn ipv6_subnets() -> Option<Vec<(String, std::net::Ipv6Addr, u8)>> {
    #[cfg(feature = "shell")]
    {
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        Some(
            addrs
                .filter_map(|a| {
                    let addr = a.address.as_ref()?.as_sockaddr_in6()?.ip();
                    let mask = a.netmask.as_ref()?.as_sockaddr_in6()?.ip();
                    Some((
                        a.interface_name.clone(),
                        addr,
                        u128::from(mask).leading_ones() as u8,
                    ))
                })
                .collect(),
        )
    }
    #[cfg(not(feature = "shell"))]
    {
        None
    }
}

/// [`findif`] for IPv6: the local subnet containing `ip` with the longest
/// prefix, ignoring `ip` itself and /128s.
pub fn findif6<T>(
    addrs: impl IntoIterator<Item = (std::net::Ipv6Addr, u8, T)>,
    ip: std::net::Ipv6Addr,
) -> Option<(T, u8)> {
    addrs
        .into_iter()
        .filter(|(addr, prefix, _)| *addr != ip && *prefix < 128 && *prefix > 0)
        .filter(|(addr, prefix, _)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
            u128::from(*addr) & mask == u128::from(ip) & mask
        })
        .max_by_key(|(_, prefix, _)| *prefix)
        .map(|(_, prefix, dev)| (dev, prefix))
}

/// Whether a socket can be bound to `ip` here, as `run` binds its links and
/// metrics endpoint (a UDP socket on port 0, closed at once: no traffic).
pub fn address_is_local(ip: std::net::IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}
