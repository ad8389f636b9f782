//! The address family of the bench's floating address: IPv4
//! (192.0.2.50/24, `run` and the others) or IPv6 (2001:db8:2::50/64, the
//! `ipv6` mode), and what an IPv6 lab adds to the namespace pair.
use testkit::nspair::{NsPair, CLIENT_IF, SVC_IF};

pub const FLOATING: &str = "192.0.2.50";
/// The IPv6 floating address, written out without `::` because heartbeat's
/// haresources separates arguments with `::` (the agents take it as is).
pub const FLOATING6: &str = "2001:db8:2:0:0:0:0:50";
/// [`FLOATING6`] as `ip` prints it.
pub const FLOATING6_SHORT: &str = "2001:db8:2::50";
/// The IPv6 service LAN (a /64 of the documentation space): the nodes' and
/// the client's own addresses on it, added `nodad`.
const SVC6: [&str; 2] = ["2001:db8:2::1/64", "2001:db8:2::2/64"];
pub const CLIENT6: &str = "2001:db8:2::10";
/// keepalived's IPv6 VRRP instance needs IPv6 unicast peers: the nodes'
/// `hb0` addresses (hbd and heartbeat keep their IPv4 ucast).
pub const HB6: [&str; 2] = ["2001:db8:250::1", "2001:db8:250::2"];

/// The address family of the floating address (and of the client's GETs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    V4,
    V6,
}

impl Family {
    /// The floating address as the agents and the service take it.
    pub fn floating(self) -> &'static str {
        match self {
            Family::V4 => FLOATING,
            Family::V6 => FLOATING6,
        }
    }

    /// The floating address as `ip monitor` prints it.
    pub fn floating_short(self) -> &'static str {
        match self {
            Family::V4 => FLOATING,
            Family::V6 => FLOATING6_SHORT,
        }
    }

    /// Where the client sends its GETs to the service on `port`.
    pub fn service_addr(self, port: u16) -> std::net::SocketAddr {
        let ip: std::net::IpAddr = self.floating_short().parse().expect("floating address");
        std::net::SocketAddr::new(ip, port)
    }

    /// The haresources entry of the address.
    pub fn ip_resource(self) -> String {
        match self {
            Family::V4 => format!("IPaddr::{FLOATING}/24/svc0"),
            Family::V6 => format!("IPv6addr::{FLOATING6}/64/svc0"),
        }
    }
}

/// The IPv6 addresses of an `ipv6` lab: the nodes' and the client's on the
/// service LAN, the nodes' on `hb0` (keepalived's VRRP peers), all `nodad`
/// so that none is tentative when the daemons start.
pub fn add_v6_addresses(ns: &NsPair) {
    for (i, n) in ns.nodes.iter().enumerate() {
        n.must(&["ip", "addr", "add", SVC6[i], "dev", SVC_IF, "nodad"]);
        // A cut sets hb0 down, which would drop its IPv6 addresses and put
        // keepalived's IPv6 instance in FAULT for good.
        n.must(&["sysctl", "-qw", "net.ipv6.conf.hb0.keep_addr_on_down=1"]);
        let hb = format!("{}/64", HB6[i]);
        n.must(&["ip", "addr", "add", &hb, "dev", "hb0", "nodad"]);
    }
    let client = ns.client.as_ref().expect("a client");
    let own = format!("{CLIENT6}/64");
    client.must(&["ip", "addr", "add", &own, "dev", CLIENT_IF, "nodad"]);
}
