//! The resource agents hbd knows by name and what their arguments must look
//! like as haresources writes them (`NAME::ARG::ARG`): IPaddr and IPaddr2,
//! IPv6addr, Filesystem, service, MailTo, Delay and drbddisk. A malformed
//! argument makes the agent fail its start on one node, then on the other after
//! deadtime; found here it is an error naming the resource, the argument and
//! what would be accepted. The rules are those of hbd's own agents
//! (resource.d/, docs/agents.md), which accept every form heartbeat's wrappers
//! document. What an agent needs of the host (an interface, a subnet, a
//! filesystem type, a unit) is returned as an [`AgentSpec`] for
//! [`super::facts`] to check; nothing here looks at the host.

use super::model::Resource;
use crate::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why an agent's arguments were refused: `why` names the argument and its
/// value, `expected` what the agent accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why} (expected {expected})")]
pub struct AgentError {
    pub why: String,
    pub expected: String,
}

/// `ip[/cidr[/iface[:label][/broadcast]]]`, the argument of IPaddr and IPaddr2
/// (and of the built-in address, `[hbd] builtin_ipaddr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSpec {
    pub ip: Ipv4Addr,
    pub prefix: Option<u8>,
    pub nic: Option<String>,
    pub label: Option<String>,
    pub brd: Option<Ipv4Addr>,
}

/// `address[/prefix[/iface]]`, the argument of IPv6addr and of IPaddr2 with
/// an IPv6 address (both run by hbd itself, src/shell/ipaddr6.rs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ip6Spec {
    pub ip: Ipv6Addr,
    pub prefix: Option<u8>,
    pub nic: Option<String>,
}

/// Whether `r` is an IPv6 floating address: `IPv6addr`, or `IPaddr2` whose
/// address part has a `:` (an IPv4 address never does). Those run in-process
/// whatever `builtin_ipaddr` says: hbd ships no IPv6 agent script.
pub fn is_ipv6_address(r: &Resource) -> bool {
    r.name == "IPv6addr"
        || (r.name == "IPaddr2"
            && r.args
                .first()
                .is_some_and(|a| a.split('/').next().unwrap_or("").contains(':')))
}

/// Whether an IPv6 address can float between nodes: not unspecified,
/// loopback or multicast (the kernel or the agent would refuse them).
pub fn is_floating6(ip: Ipv6Addr) -> bool {
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast())
}

/// Parses `address[/prefix[/iface]]` (heartbeat's IPv6addr form). `Err` is
/// why, naming the part at fault.
pub fn parse_ip6(arg: &str) -> Result<Ip6Spec, String> {
    let mut parts = arg.split('/');
    let addr = parts.next().unwrap_or("");
    if addr.is_empty() {
        return Err("missing address".into());
    }
    let ip = addr
        .parse::<Ipv6Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
    if !is_floating6(ip) {
        return Err(format!(
            "{ip} cannot be a floating address (unspecified, loopback or multicast)"
        ));
    }
    let prefix = match parts.next() {
        None | Some("") => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n @ 1..=128) if p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("prefix {p:?} is not a prefix length from 1 to 128")),
        },
    };
    let nic = parts.next().filter(|n| !n.is_empty()).map(str::to_string);
    if let Some(n) = &nic {
        if !ifname_ok(n) {
            return Err(format!("{n:?} is not an interface name"));
        }
    }
    if parts.next().is_some() {
        return Err(format!("{arg:?} has more than 3 parts"));
    }
    Ok(Ip6Spec { ip, prefix, nic })
}

/// For `stop` with an argument [`parse_ip6`] refuses: the floating address
/// it still names, as [`ip_to_release`] for IPv4.
pub fn ip6_to_release(arg: &str) -> Option<Ipv6Addr> {
    arg.split('/')
        .next()
        .and_then(|a| a.parse::<Ipv6Addr>().ok())
        .filter(|ip| is_floating6(*ip))
}

/// What a known agent's arguments ask of the host where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSpec {
    /// IPaddr, IPaddr2: the interface, or a local subnet containing the address.
    Ip(IpSpec),
    /// Filesystem: a type the kernel can mount (None: mount detects it).
    Filesystem { fstype: Option<String> },
    /// service: a systemd unit or an init script of that name.
    Service { unit: String },
    /// IPv6addr, IPaddr2 with an IPv6 address.
    Ipv6(Ip6Spec),
    /// Nothing of the host beyond the script itself.
    Other,
}

/// A dotted quad without leading zeros (which `ip` would read as octal).
pub fn ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4
        || parts.iter().any(|p| {
            p.is_empty()
                || p.len() > 3
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
        })
    {
        return None;
    }
    s.parse().ok()
}

/// A Linux interface name as the agents accept it: 1-15 bytes of letters,
/// digits and `_ . @ -`, not starting with `-` (ip(8) would read an option).
pub fn ifname_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
}

/// Whether `ip` can float between nodes: not unspecified, loopback, multicast
/// or broadcast (the agents refuse those at start).
pub fn is_floating(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified() || ip.is_broadcast() || o[0] == 127 || o[0] >= 224)
}

/// Parses `ip[/cidr[/iface[/broadcast]]]` exactly as resource.d's
/// `hbd_ip_parse` does (a third part starting with a digit is the broadcast,
/// and the fourth the interface). `Err` is why, naming the part at fault.
pub fn parse_ip(arg: &str) -> Result<IpSpec, String> {
    if arg.is_empty() {
        return Err("missing address".into());
    }
    if !arg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"./:_@-".contains(&b))
    {
        return Err(format!("{arg:?} has an unexpected character"));
    }
    let parts: Vec<&str> = arg.split('/').collect();
    if parts.len() > 4 {
        return Err(format!("{arg:?} has more than 4 parts"));
    }
    let get = |i: usize| parts.get(i).copied().filter(|s| !s.is_empty());
    let (mut nic, mut brd) = (get(2), get(3));
    if nic.is_some_and(|n| n.as_bytes()[0].is_ascii_digit()) {
        std::mem::swap(&mut nic, &mut brd);
    }
    let ip = ipv4(parts[0]).ok_or_else(|| format!("{:?} is not an IPv4 address", parts[0]))?;
    if !is_floating(ip) {
        return Err(format!(
            "{ip} cannot be a floating address (unspecified, loopback, multicast or broadcast)"
        ));
    }
    let prefix = match get(1) {
        None => None,
        Some(c) if c.contains('.') => {
            let m = ipv4(c)
                .map(u32::from)
                .filter(|m| m.leading_ones() + m.trailing_zeros() == 32 && *m != 0);
            Some(
                m.ok_or_else(|| format!("netmask {c:?} is not a contiguous dotted netmask"))?
                    .leading_ones() as u8,
            )
        }
        Some(c) => match c.parse::<u8>() {
            Ok(n @ 1..=32) if c.len() <= 2 => Some(n),
            _ => return Err(format!("prefix {c:?} is not a prefix length from 1 to 32")),
        },
    };
    let (nic, label) = match nic {
        Some(n) if n.contains(':') => {
            let (dev, name) = n.split_once(':').unwrap_or((n, ""));
            if name.is_empty()
                || n.len() > 15
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            {
                return Err(format!(
                    "label {n:?} is not iface:name within 15 characters"
                ));
            }
            (Some(dev.to_string()), Some(n.to_string()))
        }
        Some(n) => (Some(n.to_string()), None),
        None => (None, None),
    };
    if let Some(n) = &nic {
        if !ifname_ok(n) {
            return Err(format!("{n:?} is not an interface name"));
        }
    }
    let brd = match brd {
        None => None,
        Some(b) => Some(ipv4(b).ok_or_else(|| format!("broadcast {b:?} is not an IPv4 address"))?),
    };
    Ok(IpSpec {
        ip,
        prefix,
        nic,
        label,
        brd,
    })
}

/// For `stop` with an argument [`parse_ip`] refuses: the address a resource
/// spelt this way may still hold (taken under an earlier, correct spelling),
/// or None when nothing of it can be running. Only a floating address counts,
/// so a typo can never remove a loopback or host address.
pub fn ip_to_release(arg: &str) -> Option<Ipv4Addr> {
    ipv4(arg.split('/').next().unwrap_or("")).filter(|ip| is_floating(*ip))
}

fn err(why: impl Into<String>, expected: impl Into<String>) -> AgentError {
    AgentError {
        why: why.into(),
        expected: expected.into(),
    }
}

/// A mount point or device path the Filesystem agent accepts: characters the
/// mount table shows unescaped, no `.`/`..` components.
fn plain_path(p: &str) -> bool {
    p.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.,:@+=/-".contains(&b))
        && !p.split('/').any(|c| c == "." || c == "..")
}

/// Filesystem types that name a network source (`host:/path`, `//host/share`).
pub fn is_network_fs(t: &str) -> bool {
    matches!(
        t,
        "nfs" | "nfs4" | "cifs" | "smb3" | "smbfs" | "glusterfs" | "ceph" | "9p"
    ) || t.starts_with("fuse.")
}

/// The arguments of `r` by the rules of its agent, when hbd knows the agent.
/// `script_timeout` bounds a `Delay`.
pub fn check(r: &Resource, script_timeout: Duration) -> Result<AgentSpec, AgentError> {
    let args: Vec<&str> = r.args.iter().map(String::as_str).collect();
    match r.name.as_str() {
        _ if is_ipv6_address(r) => ipv6(&r.name, &args),
        "IPaddr" | "IPaddr2" => ip(&r.name, &args),
        "Filesystem" => filesystem(&args),
        "service" => service(&args),
        "MailTo" => mail_to(&args),
        "Delay" => delay(&args, script_timeout),
        "drbddisk" => drbddisk(&args),
        _ => Ok(AgentSpec::Other),
    }
}

fn ip(name: &str, args: &[&str]) -> Result<AgentSpec, AgentError> {
    let expected = format!(
        "{name}::ip[/cidr[/iface[:label][/broadcast]]] with cidr 1-32 or a dotted netmask, e.g. {name}::192.0.2.10/24/eth0"
    );
    match args {
        [] => Err(err("the address is missing", expected)),
        // IPaddr is heartbeat's ifconfig alias agent: IPv4 only.
        [arg, ..] if arg.split('/').next().unwrap_or("").contains(':') => Err(err(
            format!("{name} takes IPv4 addresses only, not {arg:?}"),
            "IPaddr2::ADDRESS/PREFIX/IFACE or IPv6addr::ADDRESS/PREFIX/IFACE for an IPv6 address, written out without `::`",
        )),
        [arg] => parse_ip(arg)
            .map(AgentSpec::Ip)
            .map_err(|why| err(why, expected)),
        _ => Err(err(
            format!(
                "takes one argument, not {}: haresources splits arguments at `::`",
                args.len()
            ),
            expected,
        )),
    }
}

/// An IPv6 address written without `::` compression, which haresources cannot
/// carry (it splits arguments at `::`).
pub fn expanded(a: Ipv6Addr) -> String {
    a.segments()
        .iter()
        .map(|s| format!("{s:x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ipv6(name: &str, args: &[&str]) -> Result<AgentSpec, AgentError> {
    let expected = format!("{name}::address[/prefix[/iface]] with the address written out in full, e.g. {name}::2001:db8:0:0:0:0:0:10/64/eth0");
    match args {
        [] => Err(err("the address is missing", expected)),
        [arg] => parse_ip6(arg)
            .map(AgentSpec::Ipv6)
            .map_err(|why| err(why, expected)),
        _ => {
            let joined = args.join("::");
            match parse_ip6(&joined) {
                Ok(spec) => {
                    let rest = joined.find('/').map_or("", |i| &joined[i..]);
                    Err(err(
                        format!(
                            "the compressed address {joined:?} is split by haresources' `::` separator into {} arguments",
                            args.len()
                        ),
                        format!("the address written out without `::`: {name}::{}{rest}", expanded(spec.ip)),
                    ))
                }
                Err(_) => Err(err(
                    format!("takes one argument, not {}", args.len()),
                    expected,
                )),
            }
        }
    }
}

fn filesystem(args: &[&str]) -> Result<AgentSpec, AgentError> {
    let expected = "Filesystem::DEVICE::MOUNTPOINT[::FSTYPE[::OPTIONS]], e.g. Filesystem::/dev/sdb1::/srv::ext4::noatime";
    if !(2..=4).contains(&args.len()) {
        return Err(err(
            format!("takes 2 to 4 arguments, not {}", args.len()),
            expected,
        ));
    }
    let (device, mnt) = (args[0], args[1]);
    let fstype = args.get(2).copied();
    if let Some(t) = fstype {
        let ok = t.as_bytes()[0].is_ascii_lowercase() || t.as_bytes()[0].is_ascii_digit();
        if !ok
            || !t
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+-".contains(&b))
        {
            return Err(err(
                format!("fstype {t:?} is not a filesystem type"),
                "a type such as ext4, xfs or nfs",
            ));
        }
    }
    if let Some(o) = args.get(3) {
        if o.starts_with('-')
            || !o
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_=,.:/@+-".contains(&b))
        {
            return Err(err(
                format!("options {o:?} are not a mount option list"),
                "options such as noatime,data=ordered",
            ));
        }
    }
    if mnt == "/" {
        return Err(err(
            "mount point \"/\" cannot be a resource",
            "a directory such as /srv",
        ));
    }
    if !mnt.starts_with('/') || !plain_path(mnt) {
        return Err(err(
            format!("mount point {mnt:?} is not a plain absolute path"),
            "an absolute path of letters, digits and _ . , : @ + = - / without . or .. parts",
        ));
    }
    let label = ["-L", "-U", "LABEL=", "UUID="]
        .iter()
        .any(|p| device.len() > p.len() && device.starts_with(p));
    let network = fstype.is_some_and(is_network_fs);
    let device_ok = label
        || (device.starts_with('/') && plain_path(device))
        || (network && !device.starts_with('-') && plain_path(device));
    if !device_ok {
        return Err(err(
            format!("device {device:?} is not a device"),
            "an absolute path such as /dev/sdb1, -LLABEL, -UUUID, LABEL=x, UUID=x, or host:/path with a network fstype such as nfs",
        ));
    }
    Ok(AgentSpec::Filesystem {
        fstype: fstype.map(str::to_string),
    })
}

/// A systemd unit or init script name the `service` agent accepts.
pub fn unit_ok(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 255
        && !u.starts_with('-')
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.@-".contains(&b))
}

fn service(args: &[&str]) -> Result<AgentSpec, AgentError> {
    let expected =
        "service::UNIT, a unit name of letters, digits and : _ . @ -, e.g. service::nginx";
    match args {
        [u] if unit_ok(u) => Ok(AgentSpec::Service {
            unit: u.to_string(),
        }),
        [u] => Err(err(format!("unit {u:?} is not a unit name"), expected)),
        _ => Err(err(
            format!("takes one argument, not {}", args.len()),
            expected,
        )),
    }
}

fn mail_to(args: &[&str]) -> Result<AgentSpec, AgentError> {
    let expected =
        "MailTo::ADDRESS[,ADDRESS...][::SUBJECT], e.g. MailTo::root,ops@example.com::failover";
    let addr_ok = |a: &str| {
        !a.is_empty()
            && !a.starts_with('-')
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+@=-".contains(&b))
    };
    match args {
        [addrs, ..] if args.len() <= 2 => match addrs.split(',').find(|a| !addr_ok(a)) {
            None => Ok(AgentSpec::Other),
            Some(a) => Err(err(
                format!("address {a:?} is not a mail address"),
                expected,
            )),
        },
        [] => Err(err("the address is missing", expected)),
        _ => Err(err(
            format!("takes 1 or 2 arguments, not {}", args.len()),
            expected,
        )),
    }
}

fn delay(args: &[&str], script_timeout: Duration) -> Result<AgentSpec, AgentError> {
    let expected = "Delay[::START_SECONDS[::STOP_SECONDS]] in whole seconds, e.g. Delay::5::2";
    if args.len() > 2 {
        return Err(err(
            format!("takes 0 to 2 arguments, not {}", args.len()),
            expected,
        ));
    }
    for a in args {
        let Ok(s) = a.parse::<u64>() else {
            return Err(err(
                format!("{a:?} is not a whole number of seconds"),
                expected,
            ));
        };
        if s.saturating_mul(1000) >= script_timeout.millis() {
            return Err(err(
                format!("{s}s is not below [hbd] script_timeout {script_timeout}, so the step would be killed"),
                "a shorter delay, or a longer script_timeout in hbd.toml",
            ));
        }
    }
    Ok(AgentSpec::Other)
}

fn drbddisk(args: &[&str]) -> Result<AgentSpec, AgentError> {
    let expected =
        "drbddisk[::RESOURCE], a DRBD resource name such as r0 (none or all: every resource)";
    match args {
        [] => Ok(AgentSpec::Other),
        [n] if !n.is_empty()
            && !n.starts_with('-')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            Ok(AgentSpec::Other)
        }
        [n] => Err(err(format!("{n:?} is not a DRBD resource name"), expected)),
        _ => Err(err(
            format!("takes at most one argument, not {}", args.len()),
            expected,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(token: &str) -> Resource {
        super::super::haresources::resource(token).unwrap()
    }

    fn why(token: &str) -> String {
        check(&res(token), Duration::from_secs(120))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn ip_arguments_as_the_agents_read_them() {
        let spec = parse_ip("192.0.2.10/255.255.255.0/eth0:web/192.0.2.255").unwrap();
        assert_eq!(spec.prefix, Some(24));
        assert_eq!(spec.nic.as_deref(), Some("eth0"));
        assert_eq!(spec.label.as_deref(), Some("eth0:web"));
        assert_eq!(spec.brd, Some(Ipv4Addr::new(192, 0, 2, 255)));
        // heartbeat: a third part starting with a digit is the broadcast.
        let spec = parse_ip("192.0.2.10/24/192.0.2.255/eth1").unwrap();
        assert_eq!(
            (spec.nic.as_deref(), spec.brd),
            (Some("eth1"), Some(Ipv4Addr::new(192, 0, 2, 255)))
        );
        assert_eq!(parse_ip("192.0.2.10").unwrap().prefix, None);
        for (bad, says) in [
            ("192.0.2.10/33/eth0", "prefix \"33\" is not a prefix length"),
            (
                "192.0.2.300/24/eth0",
                "\"192.0.2.300\" is not an IPv4 address",
            ),
            ("10.0.0.1/abc", "prefix \"abc\""),
            ("10.0.0.1/255.0.255.0", "not a contiguous dotted netmask"),
            ("127.0.0.5/8", "cannot be a floating address"),
            ("010.0.0.1", "not an IPv4 address"),
            ("10.0.0.1/24/eth0:", "label \"eth0:\""),
            ("10.0.0.1/24/eth0/x.y", "broadcast \"x.y\""),
            ("10.0.0.1/24/-eth0", "not an interface name"),
            ("10.0.0.1/24/eth0/1.2.3.4/x", "more than 4 parts"),
        ] {
            let e = parse_ip(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn ip_resources_name_the_argument_and_the_form() {
        assert_eq!(
            why("IPaddr::192.0.2.10/33/eth0"),
            "prefix \"33\" is not a prefix length from 1 to 32 (expected IPaddr::ip[/cidr[/iface[:label][/broadcast]]] with cidr 1-32 or a dotted netmask, e.g. IPaddr::192.0.2.10/24/eth0)"
        );
        assert!(why("IPaddr2::192.0.2.10::eth0").starts_with("takes one argument, not 2"));
        assert!(why("IPaddr").starts_with("the address is missing"));
        // The shorthand is IPaddr too.
        assert!(why("192.0.2.10/33/eth0").contains("prefix \"33\""));
    }

    #[test]
    fn release_on_stop_only_a_floating_address() {
        assert_eq!(
            ip_to_release("192.0.2.10/33/eth0"),
            Some(Ipv4Addr::new(192, 0, 2, 10))
        );
        assert_eq!(ip_to_release("192.0.2.300/24"), None);
        assert_eq!(ip_to_release("127.0.0.1/8/lo"), None);
        assert_eq!(ip_to_release(""), None);
    }

    #[test]
    fn ipv6_split_by_the_separator_says_how_to_write_it() {
        assert_eq!(
            why("IPv6addr::2001:db8::10/64"),
            "the compressed address \"2001:db8::10/64\" is split by haresources' `::` separator into 2 arguments (expected the address written out without `::`: IPv6addr::2001:db8:0:0:0:0:0:10/64)"
        );
        let ok = check(
            &res("IPv6addr::2001:db8:0:0:0:0:0:10/64/eth0"),
            Duration::from_secs(1),
        );
        assert_eq!(
            ok,
            Ok(AgentSpec::Ipv6(Ip6Spec {
                ip: "2001:db8::10".parse().unwrap(),
                prefix: Some(64),
                nic: Some("eth0".into())
            }))
        );
        assert!(why("IPv6addr::2001:db8:0:0:0:0:0:10/200").contains("prefix \"200\""));
        assert!(why("IPv6addr::a::b::c::d").starts_with("takes one argument, not 4"));
        assert!(why("IPv6addr::ff02:0:0:0:0:0:0:1/64").contains("cannot be a floating address"));
        assert!(why("IPv6addr::2001:db8:0:0:0:0:0:10/64/eth0/x").contains("more than 3 parts"));
    }

    #[test]
    fn ipaddr2_takes_ipv6_and_ipaddr_refuses_it() {
        let r = res("IPaddr2::2001:db8:0:0:0:0:0:10/64/svc0");
        assert!(is_ipv6_address(&r));
        assert!(!is_ipv6_address(&res("IPaddr2::192.0.2.10/24/eth0")));
        assert!(!is_ipv6_address(&res("IPaddr::192.0.2.10")));
        assert_eq!(
            check(&r, Duration::from_secs(1)),
            Ok(AgentSpec::Ipv6(Ip6Spec {
                ip: "2001:db8::10".parse().unwrap(),
                prefix: Some(64),
                nic: Some("svc0".into())
            }))
        );
        assert_eq!(
            why("IPaddr2::2001:db8::10/64"),
            "the compressed address \"2001:db8::10/64\" is split by haresources' `::` separator into 2 arguments (expected the address written out without `::`: IPaddr2::2001:db8:0:0:0:0:0:10/64)"
        );
        assert!(
            why("IPaddr::2001:db8:0:0:0:0:0:10/64").starts_with("IPaddr takes IPv4 addresses only")
        );
        assert_eq!(parse_ip6("2001:db8:0:0:0:0:0:10").unwrap().prefix, None);
        assert!(parse_ip6("2001:db8:0:0:0:0:0:10/0").is_err());
        assert!(parse_ip6("2001:db8:0:0:0:0:0:10/64/-x").is_err());
        assert_eq!(
            ip6_to_release("2001:db8:0:0:0:0:0:10/999"),
            Some("2001:db8::10".parse().unwrap())
        );
        assert_eq!(ip6_to_release("0:0:0:0:0:0:0:1/128"), None);
    }

    #[test]
    fn filesystem_arguments() {
        assert_eq!(
            check(
                &res("Filesystem::/dev/drbd0::/srv/data::ext4::noatime,data=ordered"),
                Duration::from_secs(1)
            ),
            Ok(AgentSpec::Filesystem {
                fstype: Some("ext4".into())
            })
        );
        for ok in [
            "Filesystem::-LDATA::/srv",
            "Filesystem::UUID=1234-abcd::/srv::xfs",
            "Filesystem::nas:/export/home::/home::nfs",
            "Filesystem::/srv/img/disk.img::/mnt/img",
        ] {
            assert!(check(&res(ok), Duration::from_secs(1)).is_ok(), "{ok}");
        }
        assert!(why("Filesystem::/dev/sdb1").starts_with("takes 2 to 4 arguments, not 1"));
        assert!(why("Filesystem::/dev/sdb1::srv").starts_with("mount point \"srv\""));
        assert!(why("Filesystem::/dev/sdb1::/").starts_with("mount point \"/\" cannot"));
        assert!(why("Filesystem::/dev/sdb1::/srv/../etc").contains("not a plain absolute path"));
        assert!(why("Filesystem::sdb1::/srv::ext4").starts_with("device \"sdb1\""));
        assert!(why("Filesystem::nas:/x::/srv::ext4").starts_with("device \"nas:/x\""));
        assert!(why("Filesystem::/dev/sdb1::/srv::EXT4").starts_with("fstype \"EXT4\""));
        assert!(why("Filesystem::/dev/sdb1::/srv::ext4::-oremount").starts_with("options"));
    }

    #[test]
    fn service_mailto_delay_drbddisk() {
        let t = Duration::from_secs(120);
        assert_eq!(
            check(&res("service::nginx.service"), t),
            Ok(AgentSpec::Service {
                unit: "nginx.service".into()
            })
        );
        assert!(why("service").starts_with("takes one argument, not 0"));
        assert!(why("service::-x").starts_with("unit \"-x\""));
        assert!(check(&res("MailTo::root,ops@example.com::failover"), t).is_ok());
        assert!(why("MailTo").starts_with("the address is missing"));
        assert!(why("MailTo::a@b::s::x").starts_with("takes 1 or 2 arguments, not 3"));
        assert!(why("MailTo::a@b,,c").starts_with("address \"\""));
        assert!(check(&res("Delay::5::2"), t).is_ok());
        assert!(check(&res("Delay"), t).is_ok());
        assert!(why("Delay::5s").starts_with("\"5s\" is not a whole number of seconds"));
        assert!(why("Delay::120").starts_with("120s is not below [hbd] script_timeout 120s"));
        assert!(check(&res("drbddisk::r0"), t).is_ok());
        assert!(check(&res("drbddisk"), t).is_ok());
        assert!(why("drbddisk::r0::r1").starts_with("takes at most one argument"));
        assert_eq!(check(&res("apache"), t), Ok(AgentSpec::Other));
    }
}
