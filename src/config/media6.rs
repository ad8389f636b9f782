//! The values of heartbeat 3.0.6's IPv6 media lines (`ucast6`, `mcast6`), as
//! its ucast6 and mcast6 plugins accept them; one place for ha.cf and hbd.toml.

use std::net::Ipv6Addr;

/// A `ucast6` peer: `ADDRESS[%SCOPE]`. heartbeat resolves it numerically
/// (no host names) and refuses multicast, `::` and `::1`. A scope naming an
/// interface must be the line's device (heartbeat compares the two indexes);
/// a numeric scope can only be compared on the host, when the link opens.
pub fn ucast6_peer(dev: &str, text: &str) -> Result<(Ipv6Addr, Option<String>), String> {
    let (addr, scope) = match text.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (text, None),
    };
    let expected = "expected an IPv6 address such as 2001:db8::2 or fe80::2%eth1; heartbeat's ucast6 takes no host names";
    let peer = addr
        .parse::<Ipv6Addr>()
        .map_err(|_| format!("{text:?} is not an IPv6 address ({expected})"))?;
    if peer.is_multicast() || peer.is_unspecified() || peer.is_loopback() {
        return Err(format!(
            "{text:?} is a multicast, unspecified or loopback address, which heartbeat's ucast6 refuses ({expected})"
        ));
    }
    match scope {
        None => Ok((peer, None)),
        Some("") => Err(format!("{text:?} has an empty scope after `%` ({expected})")),
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) || s == dev => {
            Ok((peer, Some(s.to_string())))
        }
        Some(s) => Err(format!(
            "the scope of {text:?} is interface {s:?}, not the line's device {dev:?} (expected %{dev}, or no scope: a link-local peer takes the device's)"
        )),
    }
}

/// Whether `addr` is link-local (fe80::/10): heartbeat then sends with the
/// device's scope id, written or not.
pub fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// A `mcast6` group: a multicast address with no flag but "transient" and a
/// link-, admin-, site- or organization-local scope (heartbeat refuses
/// interface-local, global and reserved scopes, and an all-zero group id).
pub fn mcast6_group(text: &str) -> Result<Ipv6Addr, String> {
    let expected =
        "expected an IPv6 multicast group of link, admin, site or organization scope, e.g. ff02::694:1 or ff15::694:1";
    let group = text
        .parse::<Ipv6Addr>()
        .map_err(|_| format!("{text:?} is not an IPv6 address ({expected})"))?;
    let o = group.octets();
    let scope_ok = matches!(o[1] & 0x0f, 0x2 | 0x4 | 0x5 | 0x8);
    if o[0] != 0xff || o[1] & 0xe0 != 0 || !scope_ok || o[2..].iter().all(|b| *b == 0) {
        return Err(format!(
            "{text:?} is not a multicast group heartbeat's mcast6 accepts ({expected})"
        ));
    }
    Ok(group)
}

/// The hop limit of `mcast6`: heartbeat's parser refuses more than 4.
pub fn mcast6_hops(v: i64) -> Result<u8, String> {
    u8::try_from(v)
        .ok()
        .filter(|h| *h <= 4)
        .ok_or_else(|| format!("hops {v} is out of range (heartbeat accepts 0 to 4)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucast6_peer_takes_heartbeats_forms() {
        assert_eq!(
            ucast6_peer("eth1", "2001:db8::2"),
            Ok(("2001:db8::2".parse().unwrap(), None))
        );
        assert_eq!(
            ucast6_peer("eth1", "fe80::2%eth1"),
            Ok(("fe80::2".parse().unwrap(), Some("eth1".into())))
        );
        assert_eq!(
            ucast6_peer("eth1", "fe80::2%3"),
            Ok(("fe80::2".parse().unwrap(), Some("3".into())))
        );
    }

    #[test]
    fn ucast6_peer_refuses_what_heartbeat_refuses() {
        let why = |s: &str| ucast6_peer("eth1", s).unwrap_err();
        assert!(
            why("node2").contains("takes no host names"),
            "{}",
            why("node2")
        );
        assert!(why("192.0.2.2").contains("not an IPv6 address"));
        for bad in ["::1", "::", "ff02::1"] {
            assert!(why(bad).contains("heartbeat's ucast6 refuses"), "{bad}");
        }
        assert!(why("fe80::2%").contains("empty scope"));
        assert!(why("fe80::2%eth2").contains("not the line's device \"eth1\""));
    }

    #[test]
    fn link_local_is_fe80_slash_10() {
        assert!(is_link_local(&"fe80::1".parse().unwrap()));
        assert!(is_link_local(&"febf::1".parse().unwrap()));
        assert!(!is_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_link_local(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn mcast6_group_scopes_as_heartbeat() {
        for ok in ["ff02::694:1", "ff12::1", "ff14::1", "ff05::1", "ff08::1"] {
            assert!(mcast6_group(ok).is_ok(), "{ok}");
        }
        // Interface-local, global, reserved scope; a flag other than transient;
        // an all-zero group id; not multicast at all.
        for bad in [
            "ff01::1",
            "ff0e::1",
            "ff03::1",
            "ff32::1",
            "ff02::",
            "2001:db8::1",
            "x",
        ] {
            assert!(mcast6_group(bad).is_err(), "{bad}");
        }
        assert_eq!(mcast6_hops(4), Ok(4));
        assert!(mcast6_hops(5).is_err());
        assert!(mcast6_hops(-1).is_err());
    }
}
