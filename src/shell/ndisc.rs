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
        // RFC 1071's example words, as a message of its own.
        let msg = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let z = Ipv6Addr::UNSPECIFIED;
        let sum = 0x0001u32 + 0xf203 + 0xf4f5 + 0xf6f7 + 8 + 58;
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!(icmpv6_checksum(z, z, &msg), !(folded as u16));
    }
}
