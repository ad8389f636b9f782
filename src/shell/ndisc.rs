//! Neighbour discovery on the wire for IPv6 floating addresses: the
//! unsolicited neighbour advertisement (RFC 4861 §7.2.6) that tells the link
//! the address now lives at this node's MAC, what gratuitous ARP is for IPv4.
//! Built here as a whole Ethernet frame and sent from an `AF_PACKET` socket
//! (arp.rs), so that the hop limit is 255 (receivers drop anything less) and
//! the source is the floating address itself, whatever the kernel's source
//! address selection would pick.

use std::net::Ipv6Addr;

/// The EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;

/// All-nodes, where an unsolicited advertisement goes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ICMPV6: u8 = 58;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LLADDR: u8 = 2;

/// Bytes of the frame: Ethernet 14, IPv6 40, advertisement 24, option 8.
pub const NA_LEN: usize = 86;

/// The unsolicited neighbour advertisement of `ip` at `mac`: to all-nodes
/// (33:33:00:00:00:01), hop limit 255, override set (receivers replace the
/// old node's MAC in their entry), solicited clear (it answers no one),
/// router as given, with the target link-layer address option.
pub fn na_frame(mac: [u8; 6], ip: Ipv6Addr, router: bool) -> [u8; NA_LEN] {
    let mut f = [0u8; NA_LEN];
    f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    let payload = (NA_LEN - 54) as u16;
    f[14] = 0x60;
    f[18..20].copy_from_slice(&payload.to_be_bytes());
    f[20] = ICMPV6;
    f[21] = 255;
    f[22..38].copy_from_slice(&ip.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    f[54] = NEIGHBOUR_ADVERTISEMENT;
    f[58] = FLAG_OVERRIDE | if router { FLAG_ROUTER } else { 0 };
    f[62..78].copy_from_slice(&ip.octets());
    f[78] = OPT_TARGET_LLADDR;
    f[79] = 1; // in units of 8 bytes
    f[80..86].copy_from_slice(&mac);
    let sum = icmpv6_checksum(ip, ALL_NODES, &f[54..]);
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    f
}

const NEIGHBOUR_SOLICITATION: u8 = 135;
const FLAG_SOLICITED: u8 = 0x40;
const OPT_SOURCE_LLADDR: u8 = 1;

/// Bytes of a solicitation frame: Ethernet 14, IPv6 40, solicitation 24,
/// option 8.
pub const NS_LEN: usize = 86;

/// The solicited-node multicast address of `ip` (ff02::1:ffXX:XXXX).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    let mut m = [0u8; 16];
    m[0] = 0xff;
    m[1] = 0x02;
    m[11] = 1;
    m[12] = 0xff;
    m[13..].copy_from_slice(&o[13..]);
    Ipv6Addr::from(m)
}

/// A neighbour solicitation for `target` from the floating address `from` at
/// `mac`, with the source link-layer address option: the convergence probe.
/// A target that answers sends its advertisement to `from` at `mac`, which
/// it took from this solicitation, and (RFC 4861 §7.2.3) has updated its
/// entry for `from` to `mac` on the way.
pub fn ns_frame(mac: [u8; 6], from: Ipv6Addr, target: Ipv6Addr) -> [u8; NS_LEN] {
    let dst = solicited_node(target);
    let d = dst.octets();
    let mut f = [0u8; NS_LEN];
    f[0..6].copy_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    f[14] = 0x60;
    f[18..20].copy_from_slice(&((NS_LEN - 54) as u16).to_be_bytes());
    f[20] = ICMPV6;
    f[21] = 255;
    f[22..38].copy_from_slice(&from.octets());
    f[38..54].copy_from_slice(&d);
    f[54] = NEIGHBOUR_SOLICITATION;
    f[62..78].copy_from_slice(&target.octets());
    f[78] = OPT_SOURCE_LLADDR;
    f[79] = 1;
    f[80..86].copy_from_slice(&mac);
    let sum = icmpv6_checksum(from, dst, &f[54..]);
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The target of a solicited neighbour advertisement sent to `mac`/`ip` (a
/// probe's answer), or None for any other frame (no extension headers: a
/// neighbour discovery message has none).
pub fn answer_from(frame: &[u8], mac: [u8; 6], ip: Ipv6Addr) -> Option<Ipv6Addr> {
    if frame.len() < 78
        || frame[0..6] != mac
        || frame[12..14] != ETH_P_IPV6.to_be_bytes()
        || frame[14] >> 4 != 6
        || frame[20] != ICMPV6
        || frame[21] != 255
        || frame[38..54] != ip.octets()
        || frame[54] != NEIGHBOUR_ADVERTISEMENT
        || frame[58] & FLAG_SOLICITED == 0
    {
        return None;
    }
    <[u8; 16]>::try_from(&frame[62..78])
        .ok()
        .map(Ipv6Addr::from)
}

/// The default route's gateway on interface `iface`, from the text of
/// `/proc/net/ipv6_route` (this namespace's main table), or None when the
/// default route leaves by another interface.
pub fn default_gateway6(route: &str, iface: &str) -> Option<Ipv6Addr> {
    route.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (dst, plen, gw, dev) = (f.first()?, f.get(1)?, f.get(4)?, f.get(9)?);
        let addr = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
        if *dev != iface || addr(dst)? != Ipv6Addr::UNSPECIFIED || *plen != "00" {
            return None;
        }
        addr(gw).filter(|g| !g.is_unspecified())
    })
}

/// The ICMPv6 checksum of `msg` (its checksum field zero) from `src` to
/// `dst`: the one's complement of the one's complement sum over the
/// pseudo-header (addresses, length, next header) and the message.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
            sum += u32::from(w);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, ICMPV6]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    fn ip() -> Ipv6Addr {
        "2001:db8::100".parse().unwrap()
    }

    #[test]
    fn an_unsolicited_advertisement_overrides_and_names_our_mac() {
        let f = na_frame(MAC, ip(), false);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1], "to all-nodes");
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14] >> 4, 6);
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32, "payload length");
        assert_eq!((f[20], f[21]), (58, 255), "ICMPv6, hop limit 255");
        assert_eq!(&f[22..38], &ip().octets(), "from the floating address");
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!((f[54], f[55]), (136, 0));
        assert_eq!(f[58], 0x20, "override, not solicited, not router");
        assert_eq!(&f[62..78], &ip().octets(), "target");
        assert_eq!(&f[78..86], &[2, 1, 2, 0, 0, 0, 0, 0xb]);
        assert_eq!(na_frame(MAC, ip(), true)[58], 0xa0, "router and override");
    }

    #[test]
    fn the_checksum_verifies() {
        // Summed with its checksum in place, a message verifies to zero.
        for router in [false, true] {
            let f = na_frame(MAC, ip(), router);
            assert_eq!(icmpv6_checksum(ip(), ALL_NODES, &f[54..]), 0);
            let mut bad = f;
            bad[70] ^= 1;
            assert_ne!(icmpv6_checksum(ip(), ALL_NODES, &bad[54..]), 0);
        }
        let ns = ns_frame(MAC, ip(), "2001:db8::fe".parse().unwrap());
        let dst: Ipv6Addr = "ff02::1:ff00:fe".parse().unwrap();
        assert_eq!(&ns[38..54], &dst.octets());
        assert_eq!(icmpv6_checksum(ip(), dst, &ns[54..]), 0);
        // RFC 1071's example words, as a message of its own.
        let msg = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let z = Ipv6Addr::UNSPECIFIED;
        let sum = 0x0001u32 + 0xf203 + 0xf4f5 + 0xf6f7 + 8 + 58;
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!(icmpv6_checksum(z, z, &msg), !(folded as u16));
    }

    #[test]
    fn a_probe_solicits_the_target_and_its_answer_is_recognised() {
        let gw: Ipv6Addr = "2001:db8::fe".parse().unwrap();
        assert_eq!(
            solicited_node("2001:db8::1234:5678".parse().unwrap()),
            "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap()
        );
        let p = ns_frame(MAC, ip(), gw);
        assert_eq!(&p[0..6], &[0x33, 0x33, 0xff, 0, 0, 0xfe]);
        assert_eq!((p[54], p[21]), (135, 255));
        assert_eq!(&p[22..38], &ip().octets(), "from the floating address");
        assert_eq!(&p[62..78], &gw.octets());
        assert_eq!(&p[78..86], &[1, 1, 2, 0, 0, 0, 0, 0xb]);
        // The gateway's answer, as a kernel builds it.
        let theirs = [2, 0, 0, 0, 0, 0xfe];
        let mut a = [0u8; 86];
        a[0..6].copy_from_slice(&MAC);
        a[6..12].copy_from_slice(&theirs);
        a[12..14].copy_from_slice(&[0x86, 0xdd]);
        a[14] = 0x60;
        a[20] = 58;
        a[21] = 255;
        a[22..38].copy_from_slice(&gw.octets());
        a[38..54].copy_from_slice(&ip().octets());
        a[54] = 136;
        a[58] = 0x60;
        a[62..78].copy_from_slice(&gw.octets());
        assert_eq!(answer_from(&a, MAC, ip()), Some(gw));
        // Not an answer to us: another MAC, another address, unsolicited, short.
        assert_eq!(answer_from(&a, [2, 0, 0, 0, 0, 9], ip()), None);
        assert_eq!(answer_from(&a, MAC, gw), None);
        let mut u = a;
        u[58] = 0x20;
        assert_eq!(answer_from(&u, MAC, ip()), None);
        assert_eq!(answer_from(&a[..77], MAC, ip()), None);
        assert_eq!(answer_from(&p, MAC, ip()), None, "our own probe");
    }

    #[test]
    fn the_ipv6_default_gateway_is_read_from_proc() {
        let route = "\
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     svc0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db80000000000000000000000fe 00000400 00000001 00000000 00000003     svc0
";
        assert_eq!(
            default_gateway6(route, "svc0"),
            Some("2001:db8::fe".parse().unwrap())
        );
        assert_eq!(default_gateway6(route, "eth1"), None);
        assert_eq!(default_gateway6("", "svc0"), None);
    }
}
