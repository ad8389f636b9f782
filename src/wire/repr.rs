//! Typed heartbeat messages (smoltcp's parse-then-emit `Repr`). A message that
//! passed framing and authentication becomes a [`Repr`] with its envelope
//! checked (spec §3.2 step 2: `t`, `src`, a non-zero hex `ts`, and a non-zero
//! hex `seq` on everything but the `NS_*` control messages); a message without
//! them is [`Invalid`], dropped at the edge and counted there, and never
//! reaches a decision. Body fields stay optional where heartbeat tolerates
//! their absence: what a missing one means is the core's rule.
//!
//! The core builds `Repr`s too, and [`Repr::into_message`] writes the field list
//! heartbeat 3.0.6 expects, in the order it signs (§1.5, §3.1). Messages of a
//! type hbd does not know pass as [`Body::Other`] / [`Control::Other`]: heartbeat
//! tolerates them, and so do the sequence numbers they carry.

#![forbid(unsafe_code)]

use super::hold::HoldSet;
use super::message::{parse_dec, parse_hex, FieldType, Message};
use super::text::{Blob, Num, Text};
use crate::config::{Agreement, GroupDigest};
use crate::time::Duration;

/// A verified heartbeat message with its envelope checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repr {
    /// The sender's node name as written (nodes compare case-insensitively, §9.10).
    pub src: Text,
    /// The sender's uuid (binary `srcuuid`), of any length as received.
    pub srcuuid: Option<Blob>,
    /// The node the message is for (`dest`); None: every node.
    pub dest: Option<Text>,
    /// The uuid of the node it is for (binary `destuuid`); it wins over `dest`.
    pub destuuid: Option<Blob>,
    /// The sender's generation (`hg`, hex); 0 when absent, as heartbeat reads it.
    pub generation: u64,
    /// The sender's wall clock in seconds (`ts`, hex); never 0.
    pub ts: u64,
    /// Hops left (`ttl`, decimal); nothing reads it on receipt.
    pub ttl: Option<u64>,
    /// heartbeat's `ld` (the sender's `/proc/loadavg`). heartbeat 3.0.6 writes
    /// it on every sequenced message and hbd never does, so it tells the two
    /// apart (hbd's `hbd-config` goes only to a peer that writes none).
    pub load: Option<Text>,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Counted, deduplicated and retransmittable (§3.5): every type but `NS_*`.
    /// `seq` (hex) is never 0.
    Sequenced { seq: u64, body: Body },
    /// heartbeat's `NS_*` control messages: unsequenced and never retransmitted.
    Control(Control),
}

/// The sequenced message types hbd reads or writes (spec §3, §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `st` (heartbeat's state word, kept as sent) and `dt` (dead time in ms,
    /// hex). Written with `protocol=1`, the only protocol hbd speaks.
    Status {
        st: Option<Text>,
        dt: Option<u64>,
        /// hbd-to-hbd only, on one UDP link: see [`LinkReport`].
        link: Option<LinkReport>,
        /// hbd-to-hbd only: maintenance mode and a planned restart.
        hbd: HbdState,
    },
    Starting,
    Resource(Resource),
    /// A standby exchange (§6.8).
    AskResources {
        hold: Option<HoldSet>,
        info: Option<AskInfo>,
    },
    /// Asks the receiver to go standby; `failback` and unknown words read as None.
    HbTakeover {
        hold: Option<HoldSet>,
    },
    /// Legacy auto_failback: "give me this group" (§6.6).
    IpRequest {
        ipaddr: Option<String>,
    },
    IpRequestResp {
        ipaddr: Option<String>,
        weown: Option<bool>,
        /// `ok=OK`.
        ok: bool,
    },
    /// The sender released everything and stops (written with `st=dead`).
    Shutdone,
    /// A node was fenced, or not (`result`), before its groups were taken.
    Stonith {
        node: Option<String>,
        result: Option<StonithResult>,
    },
    ReqNodes,
    /// The answer to `reqnodes`; written `dest` first, before `t` (§3.6).
    RepNodes {
        nodelist: Option<String>,
        delnodelist: Option<String>,
    },
    /// ipfail: how many ping nodes the sender reaches (`num_ping`).
    NumPingNodes {
        count: Option<usize>,
    },
    /// ipfail: the receiver reaches fewer ping nodes and should give up.
    YouAreDead,
    /// ipfail: counts are even again; a pending give-up is off.
    AbortGiveup,
    /// hbd only (`hbd-config`), never sent to a heartbeat peer: what the
    /// sender's configuration says on each part both nodes must agree on.
    HbdConfig(Box<Agreement>),
    /// A type hbd does not read (`hbapi-clstat`, …): only its envelope counts.
    Other(String),
}

/// What an hbd node adds to each status it sends an hbd peer on one UDP link
/// (loss-adaptive redundancy, docs/wire.md): never written to a heartbeat
/// peer, ignored by an hbd that does not know it (unknown fields are).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LinkReport {
    /// `hbdn` (hex): this datagram's number among the statuses (originals and
    /// copies) the sender sent on this link in its generation, from 1. The
    /// receiver counts the gaps: the link's loss, copies included.
    pub n: u64,
    /// `hbdloss` (`LOST/OF`, decimal): of the receiver's last OF numbered
    /// datagrams on this link, the sender missed LOST. None until it counted
    /// enough to say.
    pub loss: Option<(u32, u32)>,
}

/// What an hbd node says of itself in its statuses to an hbd peer
/// (docs/wire.md): never written to a heartbeat peer, and ignored by an hbd
/// that does not know the fields. Absent fields read as the default: not in
/// maintenance, no restart announced.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HbdState {
    /// `hbdmaint=1`: the sender is in maintenance mode (`hbd maintenance
    /// on`): it starts, stops, monitors and takes over nothing, and its
    /// groups stay where they are until it ends.
    pub maintenance: bool,
    /// `hbdrestart` (hex ms): the sender stops for a planned restart and
    /// leaves its groups running; the receiver waits this long beyond its
    /// dead time before it takes over. Only on the sender's last status.
    pub restart_grace: Option<u64>,
}

/// `t=resource`: what the sender holds (§6.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// `rsc_hold`, from the sender's point of view; None when absent or unknown.
    pub hold: Option<HoldSet>,
    /// `rtype=full`: `hold` is everything the sender holds, not an addition.
    pub full: bool,
    /// `isstable=1` / `0`; None for anything else.
    pub stable: Option<bool>,
    pub info: Option<ResourceInfo>,
}

/// Why a `resource` message was sent (`info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceInfo {
    /// hbd after a healed partition: answer with your holdings.
    Heal,
    Standby,
    Shutdown,
    /// Startup acquisition of the local groups (`req_our_resources()`).
    ReqOurResources,
    /// The dead peer's groups were taken over.
    MachDown,
    Other(String),
}

/// The phase of a standby exchange (`ask_resources` `info`, §6.8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AskInfo {
    /// The sender wants to give the set away.
    Me,
    /// The receiver of `me` agrees.
    Other,
    /// The set was released or acquired.
    Done,
}

/// `t=stonith` `result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StonithResult {
    /// The fence succeeded (`OK`).
    Ok,
    /// The fence failed and the sender took over anyway (`bad`).
    Bad,
    /// No fencing configured (`n_stnth`).
    NoStonith,
    /// The peer was known to hold nothing (`unneeded`).
    Unneeded,
    Other(String),
}

/// heartbeat's `NS_*` control messages (§3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Please resend `firstseq..=lastseq` (decimal, as heartbeat writes them).
    Rexmit {
        first: Option<u64>,
        last: Option<u64>,
    },
    /// `firstseq` (hex) is no longer in the sender's history (`info=seqno too low`).
    NakRexmit { first: Option<u64> },
    /// Everything up to `ackseq` (hex) arrived.
    Ack { seq: Option<u64> },
    /// Another `NS_` type: unsequenced, otherwise ignored.
    Other(String),
}

/// Why a verified message cannot be used: a required envelope field is missing
/// or malformed. `src` names the sender when it could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no valid `{field}` field")]
pub struct Invalid {
    pub src: Option<String>,
    pub field: &'static str,
}

/// The first string (or, for uuids, binary) field of each name a typed message
/// reads, borrowed from wherever the fields are (a [`Message`], or a datagram
/// being opened): heartbeat's `cl_get_value` returns the first one.
#[derive(Default)]
struct Slots<'a> {
    t: Option<&'a [u8]>,
    src: Option<&'a [u8]>,
    seq: Option<&'a [u8]>,
    hg: Option<&'a [u8]>,
    ts: Option<&'a [u8]>,
    ttl: Option<&'a [u8]>,
    dest: Option<&'a [u8]>,
    srcuuid: Option<&'a [u8]>,
    destuuid: Option<&'a [u8]>,
    st: Option<&'a [u8]>,
    dt: Option<&'a [u8]>,
    rsc_hold: Option<&'a [u8]>,
    rtype: Option<&'a [u8]>,
    isstable: Option<&'a [u8]>,
    info: Option<&'a [u8]>,
    ipaddr: Option<&'a [u8]>,
    weown: Option<&'a [u8]>,
    ok: Option<&'a [u8]>,
    node: Option<&'a [u8]>,
    result: Option<&'a [u8]>,
    nodelist: Option<&'a [u8]>,
    delnodelist: Option<&'a [u8]>,
    num_ping: Option<&'a [u8]>,
    firstseq: Option<&'a [u8]>,
    lastseq: Option<&'a [u8]>,
    ackseq: Option<&'a [u8]>,
    ld: Option<&'a [u8]>,
    // hbd status, per link
    hbdn: Option<&'a [u8]>,
    hbdloss: Option<&'a [u8]>,
    hbdmaint: Option<&'a [u8]>,
    hbdrestart: Option<&'a [u8]>,
    // hbd-config
    groups: Option<&'a [u8]>,
    auto_failback: Option<&'a [u8]>,
    keepalive: Option<&'a [u8]>,
    deadtime: Option<&'a [u8]>,
    initdead: Option<&'a [u8]>,
    auth_index: Option<&'a [u8]>,
    auth_methods: Option<&'a [u8]>,
    ping: Option<&'a [u8]>,
}

impl<'a> Slots<'a> {
    fn note(&mut self, name: &str, ftype: FieldType, value: &'a [u8]) {
        let slot = match (ftype, name) {
            (FieldType::Binary, "srcuuid") => &mut self.srcuuid,
            (FieldType::Binary, "destuuid") => &mut self.destuuid,
            (FieldType::String, name) => match name {
                "t" => &mut self.t,
                "src" => &mut self.src,
                "seq" => &mut self.seq,
                "hg" => &mut self.hg,
                "ts" => &mut self.ts,
                "ttl" => &mut self.ttl,
                "dest" => &mut self.dest,
                "st" => &mut self.st,
                "dt" => &mut self.dt,
                "rsc_hold" => &mut self.rsc_hold,
                "rtype" => &mut self.rtype,
                "isstable" => &mut self.isstable,
                "info" => &mut self.info,
                "ipaddr" => &mut self.ipaddr,
                "weown" => &mut self.weown,
                "ok" => &mut self.ok,
                "node" => &mut self.node,
                "result" => &mut self.result,
                "nodelist" => &mut self.nodelist,
                "delnodelist" => &mut self.delnodelist,
                "num_ping" => &mut self.num_ping,
                "firstseq" => &mut self.firstseq,
                "lastseq" => &mut self.lastseq,
                "ackseq" => &mut self.ackseq,
                "ld" => &mut self.ld,
                "hbdn" => &mut self.hbdn,
                "hbdloss" => &mut self.hbdloss,
                "hbdmaint" => &mut self.hbdmaint,
                "hbdrestart" => &mut self.hbdrestart,
                "groups" => &mut self.groups,
                "auto_failback" => &mut self.auto_failback,
                "keepalive" => &mut self.keepalive,
                "deadtime" => &mut self.deadtime,
                "initdead" => &mut self.initdead,
                "auth_index" => &mut self.auth_index,
                "auth_methods" => &mut self.auth_methods,
                "ping" => &mut self.ping,
                _ => return,
            },
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
}

/// The fields a typed message reads, noted one at a time as a decoder
/// meets them (`wire::open_repr`), then read as a [`Repr`].
#[derive(Default)]
pub struct Collector<'a>(Slots<'a>);

impl<'a> Collector<'a> {
    pub fn note(&mut self, name: &str, ftype: FieldType, value: &'a [u8]) {
        self.0.note(name, ftype, value);
    }

    /// What [`Repr::parse`] gives for the fields noted.
    pub fn finish(&self) -> Result<Repr, Invalid> {
        Repr::from_slots(&self.0)
    }
}

fn word(v: Option<&[u8]>) -> Option<&str> {
    std::str::from_utf8(v?).ok()
}

/// A string field's value; None when absent or not UTF-8 (as `Message::get`).
fn text(v: Option<&[u8]>) -> Option<Text> {
    v.and_then(Text::from_utf8)
}

fn string(v: Option<&[u8]>) -> Option<String> {
    word(v).map(str::to_string)
}

fn hex(v: Option<&[u8]>) -> Option<u64> {
    word(v).and_then(parse_hex)
}

fn dec(v: Option<&[u8]>) -> Option<u64> {
    word(v).and_then(parse_dec)
}

fn hold(v: Option<&[u8]>) -> Option<HoldSet> {
    word(v).and_then(|w| w.parse().ok())
}

fn flag(v: Option<&[u8]>, yes: &str, no: &str) -> Option<bool> {
    match word(v) {
        Some(w) if w == yes => Some(true),
        Some(w) if w == no => Some(false),
        _ => None,
    }
}

/// Where a typed message writes its fields, in the order heartbeat signs
/// them: a [`Message`], or straight into a datagram being sealed
/// (`netstring::Writer`), so that sending a heartbeat builds no field list.
pub trait FieldSink {
    fn field(&mut self, name: &str, ftype: FieldType, value: &[u8]);

    fn text(&mut self, name: &str, value: &str) {
        self.field(name, FieldType::String, value.as_bytes());
    }

    fn opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    /// A counter in heartbeat's `%lx`.
    fn hex(&mut self, name: &str, v: u64) {
        self.field(name, FieldType::String, Num::hex(v).as_bytes());
    }

    /// A counter in heartbeat's `%lu`.
    fn dec(&mut self, name: &str, v: u64) {
        self.field(name, FieldType::String, Num::dec(v).as_bytes());
    }
}

impl FieldSink for Message {
    fn field(&mut self, name: &str, ftype: FieldType, value: &[u8]) {
        self.push(name, ftype, value.to_vec());
    }
}

impl Repr {
    /// Reads a verified message. Fails only on the envelope rules; a body field
    /// that is missing or unreadable is None for the core to judge.
    pub fn parse(msg: Message) -> Result<Repr, Invalid> {
        Repr::parse_fields(
            msg.fields()
                .iter()
                .map(|f| (f.name.as_str(), f.ftype, f.value.as_slice())),
        )
    }

    /// [`Repr::parse`] of the fields as `(name, type, value)`, in order,
    /// wherever they are kept: what `wire::open_repr` reads a datagram with.
    pub fn parse_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, FieldType, &'a [u8])>,
    ) -> Result<Repr, Invalid> {
        let mut s = Slots::default();
        for (name, ftype, value) in fields {
            s.note(name, ftype, value);
        }
        Repr::from_slots(&s)
    }

    fn from_slots(s: &Slots<'_>) -> Result<Repr, Invalid> {
        let Some(t) = word(s.t) else {
            return Err(Invalid {
                src: string(s.src),
                field: "t",
            });
        };
        let Some(src) = text(s.src) else {
            return Err(Invalid {
                src: None,
                field: "src",
            });
        };
        let ts = hex(s.ts).unwrap_or(0);
        if ts == 0 {
            return Err(Invalid {
                src: Some(src.into()),
                field: "ts",
            });
        }
        let kind = if t.starts_with("NS_") {
            Kind::Control(Control::parse(t, s))
        } else {
            let seq = hex(s.seq).unwrap_or(0);
            if seq == 0 {
                return Err(Invalid {
                    src: Some(src.into()),
                    field: "seq",
                });
            }
            Kind::Sequenced {
                seq,
                body: Body::parse(t, s),
            }
        };
        Ok(Repr {
            src,
            srcuuid: s.srcuuid.map(Blob::new),
            dest: text(s.dest),
            destuuid: s.destuuid.map(Blob::new),
            generation: hex(s.hg).unwrap_or(0),
            ts,
            ttl: dec(s.ttl),
            load: text(s.ld),
            kind,
        })
    }

    /// The message type (`t`).
    pub fn type_name(&self) -> &str {
        match &self.kind {
            Kind::Sequenced { body, .. } => body.type_name(),
            Kind::Control(c) => c.type_name(),
        }
    }

    /// The sequence number; None for control messages.
    pub fn seq(&self) -> Option<u64> {
        match self.kind {
            Kind::Sequenced { seq, .. } => Some(seq),
            Kind::Control(_) => None,
        }
    }

    /// The field list to seal: the type and its fields (with `dest` where
    /// heartbeat writes it for that type), then `destuuid`, `src`, `srcuuid`,
    /// `seq`, `hg`, `ts` and `ttl`.
    pub fn into_message(self) -> Message {
        self.to_message()
    }

    /// [`Repr::into_message`] of a borrowed message.
    pub fn to_message(&self) -> Message {
        let mut m = Message::new();
        self.write_fields(&mut m);
        m
    }

    /// Writes the fields [`Repr::into_message`] lists, in the same order, to `w`.
    pub fn write_fields<W: FieldSink>(&self, w: &mut W) {
        let dest = self.dest.as_deref();
        let seq = match &self.kind {
            Kind::Sequenced { seq, body } => {
                body.emit(dest, w);
                Some(*seq)
            }
            Kind::Control(c) => {
                c.emit(dest, w);
                None
            }
        };
        if let Some(u) = &self.destuuid {
            w.field("destuuid", FieldType::Binary, u);
        }
        w.text("src", &self.src);
        if let Some(u) = &self.srcuuid {
            w.field("srcuuid", FieldType::Binary, u);
        }
        if let Some(s) = seq {
            w.hex("seq", s);
        }
        w.hex("hg", self.generation);
        w.hex("ts", self.ts);
        // Where heartbeat writes it; hbd's own messages have none.
        w.opt("ld", self.load.as_deref());
        if let Some(t) = self.ttl {
            w.dec("ttl", t);
        }
    }
}

impl Body {
    fn parse(t: &str, s: &Slots<'_>) -> Body {
        match t {
            "status" => Body::Status {
                st: text(s.st),
                dt: hex(s.dt),
                link: hex(s.hbdn).filter(|&n| n > 0).map(|n| LinkReport {
                    n,
                    loss: word(s.hbdloss).and_then(parse_loss),
                }),
                hbd: HbdState {
                    maintenance: word(s.hbdmaint) == Some("1"),
                    restart_grace: hex(s.hbdrestart),
                },
            },
            "starting" => Body::Starting,
            "resource" => Body::Resource(Resource {
                hold: hold(s.rsc_hold),
                full: word(s.rtype) == Some("full"),
                stable: flag(s.isstable, "1", "0"),
                info: string(s.info).map(ResourceInfo::from),
            }),
            "ask_resources" => Body::AskResources {
                hold: hold(s.rsc_hold),
                info: match word(s.info) {
                    Some("me") => Some(AskInfo::Me),
                    Some("other") => Some(AskInfo::Other),
                    Some("done") => Some(AskInfo::Done),
                    _ => None,
                },
            },
            "hb_takeover" => Body::HbTakeover {
                hold: hold(s.rsc_hold),
            },
            "ip-request" => Body::IpRequest {
                ipaddr: string(s.ipaddr),
            },
            "ip-request-resp" => Body::IpRequestResp {
                ipaddr: string(s.ipaddr),
                weown: flag(s.weown, "yes", "no"),
                ok: word(s.ok) == Some("OK"),
            },
            "shutdone" => Body::Shutdone,
            "stonith" => Body::Stonith {
                node: string(s.node),
                result: string(s.result).map(StonithResult::from),
            },
            "reqnodes" => Body::ReqNodes,
            "repnodes" => Body::RepNodes {
                nodelist: string(s.nodelist),
                delnodelist: string(s.delnodelist),
            },
            "num_ping_nodes" => Body::NumPingNodes {
                count: word(s.num_ping).and_then(|v| v.trim().parse().ok()),
            },
            "you_are_dead" => Body::YouAreDead,
            "abort_giveup" => Body::AbortGiveup,
            HBD_CONFIG => Body::HbdConfig(Box::new(agreement(s))),
            _ => Body::Other(t.to_string()),
        }
    }

    pub fn type_name(&self) -> &str {
        match self {
            Body::Status { .. } => "status",
            Body::Starting => "starting",
            Body::Resource(_) => "resource",
            Body::AskResources { .. } => "ask_resources",
            Body::HbTakeover { .. } => "hb_takeover",
            Body::IpRequest { .. } => "ip-request",
            Body::IpRequestResp { .. } => "ip-request-resp",
            Body::Shutdone => "shutdone",
            Body::Stonith { .. } => "stonith",
            Body::ReqNodes => "reqnodes",
            Body::RepNodes { .. } => "repnodes",
            Body::NumPingNodes { .. } => "num_ping_nodes",
            Body::YouAreDead => "you_are_dead",
            Body::AbortGiveup => "abort_giveup",
            Body::HbdConfig(_) => HBD_CONFIG,
            Body::Other(t) => t,
        }
    }

    /// `t` and the body fields in heartbeat's order, `dest` in its place.
    fn emit<W: FieldSink>(&self, dest: Option<&str>, w: &mut W) {
        if let Body::RepNodes {
            nodelist,
            delnodelist,
        } = self
        {
            // §3.6: heartbeat writes this one `dest` first.
            w.opt("dest", dest);
            w.text("t", "repnodes");
            w.opt("nodelist", nodelist.as_deref());
            w.opt("delnodelist", delnodelist.as_deref());
            return;
        }
        w.text("t", self.type_name());
        match self {
            Body::Status { st, dt, link, hbd } => {
                w.opt("st", st.as_deref());
                if let Some(d) = dt {
                    w.hex("dt", *d);
                }
                w.text("protocol", "1");
                if let Some(l) = link {
                    w.hex("hbdn", l.n);
                    if let Some((lost, of)) = l.loss {
                        let mut buf = [0u8; 41];
                        w.field("hbdloss", FieldType::String, loss_word(lost, of, &mut buf));
                    }
                }
                if hbd.maintenance {
                    w.text("hbdmaint", "1");
                }
                if let Some(g) = hbd.restart_grace {
                    w.hex("hbdrestart", g);
                }
                w.opt("dest", dest);
            }
            Body::Resource(r) => {
                if let Some(h) = r.hold {
                    w.text("rsc_hold", h.word());
                }
                if r.full {
                    w.text("rtype", "full");
                }
                if let Some(s) = r.stable {
                    w.text("isstable", if s { "1" } else { "0" });
                }
                w.opt("info", r.info.as_ref().map(ResourceInfo::word));
                w.opt("dest", dest);
            }
            Body::AskResources { hold, info } => {
                if let Some(h) = hold {
                    w.text("rsc_hold", h.word());
                }
                if let Some(i) = info {
                    w.text("info", i.word());
                }
                w.opt("dest", dest);
            }
            Body::HbTakeover { hold } => {
                if let Some(h) = hold {
                    w.text("rsc_hold", h.word());
                }
                w.opt("dest", dest);
            }
            Body::IpRequest { ipaddr } => {
                w.opt("ipaddr", ipaddr.as_deref());
                w.opt("dest", dest);
            }
            Body::IpRequestResp { ipaddr, weown, ok } => {
                w.opt("dest", dest);
                w.opt("ipaddr", ipaddr.as_deref());
                if let Some(yes) = weown {
                    w.text("weown", if *yes { "yes" } else { "no" });
                }
                if *ok {
                    w.text("ok", "OK");
                }
            }
            Body::Shutdone => {
                w.text("st", "dead");
                w.opt("dest", dest);
            }
            Body::Stonith { node, result } => {
                w.opt("node", node.as_deref());
                w.opt("result", result.as_ref().map(StonithResult::word));
                w.opt("dest", dest);
            }
            Body::NumPingNodes { count } => {
                if let Some(n) = count {
                    w.dec("num_ping", *n as u64);
                }
                ipfail_address(w, dest);
            }
            Body::YouAreDead | Body::AbortGiveup => ipfail_address(w, dest),
            Body::HbdConfig(a) => {
                emit_agreement(a, w);
                w.opt("dest", dest);
            }
            Body::Starting | Body::ReqNodes | Body::Other(_) | Body::RepNodes { .. } => {
                w.opt("dest", dest)
            }
        }
    }
}

/// `LOST/OF` in `buf`.
fn loss_word(lost: u32, of: u32, buf: &mut [u8; 41]) -> &[u8] {
    let (a, b) = (Num::dec(lost.into()), Num::dec(of.into()));
    let (a, b) = (a.as_bytes(), b.as_bytes());
    buf[..a.len()].copy_from_slice(a);
    buf[a.len()] = b'/';
    buf[a.len() + 1..a.len() + 1 + b.len()].copy_from_slice(b);
    &buf[..a.len() + 1 + b.len()]
}

/// `hbdloss`: `LOST/OF`, LOST ≤ OF, OF > 0; anything else reads as no report.
fn parse_loss(w: &str) -> Option<(u32, u32)> {
    let (lost, of) = w.split_once('/')?;
    let (lost, of) = (parse_dec(lost)?, parse_dec(of)?);
    let (lost, of) = (u32::try_from(lost).ok()?, u32::try_from(of).ok()?);
    (of > 0 && lost <= of).then_some((lost, of))
}

/// hbd's own message type: what its configuration says on each part both
/// nodes must agree on (`config::Agreement`).
pub const HBD_CONFIG: &str = "hbd-config";

/// `groups=home:digest,…` (haresources order; empty for none).
fn groups_word(groups: &[GroupDigest]) -> String {
    groups
        .iter()
        .map(|g| format!("{}:{}", g.home, g.resources))
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_groups(w: &str) -> Option<Vec<GroupDigest>> {
    if w.is_empty() {
        return Some(Vec::new());
    }
    w.split(',')
        .map(|g| {
            let (home, digest) = g.split_once(':')?;
            (!home.is_empty() && !digest.is_empty()).then(|| GroupDigest {
                home: home.to_string(),
                resources: digest.to_string(),
            })
        })
        .collect()
}

/// Each part as it came; a part that is absent or unreadable is None (not
/// compared), so a newer hbd may add parts.
fn agreement(s: &Slots<'_>) -> Agreement {
    let ms = |v| dec(v).map(Duration::from_millis);
    Agreement {
        groups: word(s.groups).and_then(parse_groups),
        auto_failback: string(s.auto_failback),
        keepalive: ms(s.keepalive),
        deadtime: ms(s.deadtime),
        initdead: ms(s.initdead),
        auth: dec(s.auth_index).and_then(|i| u8::try_from(i).ok()),
        auth_methods: string(s.auth_methods),
        ping: word(s.ping).and_then(|w| {
            let (n, d) = w.split_once(':')?;
            Some((n.parse().ok()?, d.to_string()))
        }),
    }
}

/// Sent once per peer generation and after a reload: formatting is fine here.
fn emit_agreement<W: FieldSink>(a: &Agreement, w: &mut W) {
    if let Some(g) = &a.groups {
        w.text("groups", &groups_word(g));
    }
    w.opt("auto_failback", a.auto_failback.as_deref());
    let ms = |d: Option<Duration>| d.map(|d| d.millis());
    for (name, v) in [
        ("keepalive", ms(a.keepalive)),
        ("deadtime", ms(a.deadtime)),
        ("initdead", ms(a.initdead)),
        ("auth_index", a.auth.map(u64::from)),
    ] {
        if let Some(v) = v {
            w.dec(name, v);
        }
    }
    w.opt("auth_methods", a.auth_methods.as_deref());
    if let Some((n, d)) = &a.ping {
        w.text("ping", &format!("{n}:{d}"));
    }
}

/// ipfail's messages go API-to-API, so a stock ipfail on a heartbeat peer reads them.
fn ipfail_address<W: FieldSink>(w: &mut W, dest: Option<&str>) {
    w.opt("dest", dest);
    w.text("from_id", "ipfail");
    w.text("to_id", "ipfail");
}

impl Control {
    fn parse(t: &str, s: &Slots<'_>) -> Control {
        match t {
            "NS_rexmit" => Control::Rexmit {
                first: dec(s.firstseq),
                last: dec(s.lastseq),
            },
            "NS_nak_rexmit" => Control::NakRexmit {
                first: hex(s.firstseq),
            },
            "NS_ackmsg" => Control::Ack { seq: hex(s.ackseq) },
            _ => Control::Other(t.to_string()),
        }
    }

    pub fn type_name(&self) -> &str {
        match self {
            Control::Rexmit { .. } => "NS_rexmit",
            Control::NakRexmit { .. } => "NS_nak_rexmit",
            Control::Ack { .. } => "NS_ackmsg",
            Control::Other(t) => t,
        }
    }

    fn emit<W: FieldSink>(&self, dest: Option<&str>, w: &mut W) {
        match self {
            Control::Rexmit { first, last } => {
                w.text("t", "NS_rexmit");
                w.opt("dest", dest);
                if let Some(s) = first {
                    w.dec("firstseq", *s);
                }
                if let Some(s) = last {
                    w.dec("lastseq", *s);
                }
            }
            Control::NakRexmit { first } => {
                w.text("t", "NS_nak_rexmit");
                if let Some(s) = first {
                    w.hex("firstseq", *s);
                }
                w.opt("dest", dest);
                w.text("info", "seqno too low");
            }
            Control::Ack { seq } => {
                w.text("t", "NS_ackmsg");
                w.opt("dest", dest);
                if let Some(s) = seq {
                    w.hex("ackseq", *s);
                }
            }
            Control::Other(t) => {
                w.text("t", t);
                w.opt("dest", dest);
            }
        }
    }
}

impl AskInfo {
    pub fn word(self) -> &'static str {
        match self {
            AskInfo::Me => "me",
            AskInfo::Other => "other",
            AskInfo::Done => "done",
        }
    }
}

impl From<String> for ResourceInfo {
    fn from(s: String) -> Self {
        match s.as_str() {
            "heal" => ResourceInfo::Heal,
            "standby" => ResourceInfo::Standby,
            "shutdown" => ResourceInfo::Shutdown,
            "req_our_resources()" => ResourceInfo::ReqOurResources,
            "mach_down" => ResourceInfo::MachDown,
            _ => ResourceInfo::Other(s),
        }
    }
}

impl ResourceInfo {
    /// The `info` word as written.
    pub fn word(&self) -> &str {
        match self {
            ResourceInfo::Heal => "heal",
            ResourceInfo::Standby => "standby",
            ResourceInfo::Shutdown => "shutdown",
            ResourceInfo::ReqOurResources => "req_our_resources()",
            ResourceInfo::MachDown => "mach_down",
            ResourceInfo::Other(s) => s,
        }
    }
}

impl From<ResourceInfo> for String {
    fn from(i: ResourceInfo) -> Self {
        match i {
            ResourceInfo::Other(s) => s,
            i => i.word().to_string(),
        }
    }
}

impl From<String> for StonithResult {
    fn from(s: String) -> Self {
        match s.as_str() {
            "OK" => StonithResult::Ok,
            "bad" => StonithResult::Bad,
            "n_stnth" => StonithResult::NoStonith,
            "unneeded" => StonithResult::Unneeded,
            _ => StonithResult::Other(s),
        }
    }
}

impl StonithResult {
    /// The `result` word as written.
    pub fn word(&self) -> &str {
        match self {
            StonithResult::Ok => "OK",
            StonithResult::Bad => "bad",
            StonithResult::NoStonith => "n_stnth",
            StonithResult::Unneeded => "unneeded",
            StonithResult::Other(s) => s,
        }
    }
}

impl From<StonithResult> for String {
    fn from(r: StonithResult) -> Self {
        match r {
            StonithResult::Other(s) => s,
            r => r.word().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID_A: [u8; 16] = [0xaa; 16];
    const UUID_B: [u8; 16] = [0xbb; 16];

    /// A message as the core sends it: `dest` and `destuuid` only when given.
    fn sent(kind: Kind, dest: Option<&str>) -> Repr {
        Repr {
            src: "nodea".into(),
            srcuuid: Some(UUID_A.into()),
            dest: dest.map(Text::from),
            destuuid: dest.filter(|d| *d == "nodeb").map(|_| UUID_B.into()),
            generation: 0x10,
            ts: 0x6553_f100,
            ttl: Some(3),
            load: None,
            kind,
        }
    }

    fn seq(body: Body) -> Kind {
        Kind::Sequenced { seq: 0x2a, body }
    }

    /// The fields as `name=value`, binary ones as `(1)name`.
    fn listed(m: &Message) -> Vec<String> {
        m.fields()
            .iter()
            .map(|f| match f.ftype {
                FieldType::Binary => format!("(1){}", f.name),
                _ => format!("{}={}", f.name, String::from_utf8_lossy(&f.value)),
            })
            .collect()
    }

    /// The envelope hbd appends after the body, as the pre-typed core wrote it.
    fn tail(dest_is_peer: bool, sequenced: bool) -> Vec<String> {
        let mut v = Vec::new();
        if dest_is_peer {
            v.push("(1)destuuid".to_string());
        }
        v.push("src=nodea".into());
        v.push("(1)srcuuid".into());
        if sequenced {
            v.push("seq=2a".into());
        }
        v.extend(["hg=10", "ts=6553f100", "ttl=3"].map(String::from));
        v
    }

    /// Every message hbd sends, with the field list the core wrote before
    /// messages were typed (field order is signed: heartbeat checks it).
    fn every_sent_message() -> Vec<(Repr, Vec<&'static str>, bool)> {
        let resource = |hold, full, stable, info| {
            seq(Body::Resource(Resource {
                hold: Some(hold),
                full,
                stable,
                info,
            }))
        };
        let ask = |hold, info| {
            seq(Body::AskResources {
                hold: Some(hold),
                info: Some(info),
            })
        };
        vec![
            (
                sent(
                    seq(Body::Status {
                        st: Some("active".into()),
                        dt: Some(0x2710),
                        link: None,
                        hbd: HbdState::default(),
                    }),
                    None,
                ),
                vec!["t=status", "st=active", "dt=2710", "protocol=1"],
                false,
            ),
            (
                sent(
                    seq(Body::Status {
                        st: Some("active".into()),
                        dt: Some(0x2710),
                        link: None,
                        hbd: HbdState {
                            maintenance: true,
                            restart_grace: Some(20_000),
                        },
                    }),
                    None,
                ),
                vec![
                    "t=status",
                    "st=active",
                    "dt=2710",
                    "protocol=1",
                    "hbdmaint=1",
                    "hbdrestart=4e20",
                ],
                false,
            ),
            (
                sent(
                    seq(Body::Status {
                        st: Some("active".into()),
                        dt: Some(0x2710),
                        link: Some(LinkReport {
                            n: 0x1f,
                            loss: Some((51, 256)),
                        }),
                        hbd: HbdState::default(),
                    }),
                    None,
                ),
                vec![
                    "t=status",
                    "st=active",
                    "dt=2710",
                    "protocol=1",
                    "hbdn=1f",
                    "hbdloss=51/256",
                ],
                false,
            ),
            (sent(seq(Body::Starting), None), vec!["t=starting"], false),
            (
                sent(resource(HoldSet::Local, true, Some(true), None), None),
                vec!["t=resource", "rsc_hold=local", "rtype=full", "isstable=1"],
                false,
            ),
            (
                sent(
                    resource(HoldSet::All, true, Some(false), Some(ResourceInfo::Heal)),
                    None,
                ),
                vec![
                    "t=resource",
                    "rsc_hold=all",
                    "rtype=full",
                    "isstable=0",
                    "info=heal",
                ],
                false,
            ),
            (
                sent(
                    resource(
                        HoldSet::Local,
                        true,
                        Some(true),
                        Some(ResourceInfo::ReqOurResources),
                    ),
                    None,
                ),
                vec![
                    "t=resource",
                    "rsc_hold=local",
                    "rtype=full",
                    "isstable=1",
                    "info=req_our_resources()",
                ],
                false,
            ),
            (
                sent(
                    resource(
                        HoldSet::None,
                        true,
                        Some(false),
                        Some(ResourceInfo::Shutdown),
                    ),
                    None,
                ),
                vec![
                    "t=resource",
                    "rsc_hold=none",
                    "rtype=full",
                    "isstable=0",
                    "info=shutdown",
                ],
                false,
            ),
            (
                sent(
                    resource(
                        HoldSet::Foreign,
                        true,
                        Some(false),
                        Some(ResourceInfo::Standby),
                    ),
                    None,
                ),
                vec![
                    "t=resource",
                    "rsc_hold=foreign",
                    "rtype=full",
                    "isstable=0",
                    "info=standby",
                ],
                false,
            ),
            (
                sent(
                    resource(HoldSet::Foreign, false, None, Some(ResourceInfo::MachDown)),
                    None,
                ),
                vec!["t=resource", "rsc_hold=foreign", "info=mach_down"],
                false,
            ),
            (
                sent(ask(HoldSet::Local, AskInfo::Me), None),
                vec!["t=ask_resources", "rsc_hold=local", "info=me"],
                false,
            ),
            (
                sent(ask(HoldSet::Foreign, AskInfo::Other), None),
                vec!["t=ask_resources", "rsc_hold=foreign", "info=other"],
                false,
            ),
            (
                sent(ask(HoldSet::All, AskInfo::Done), None),
                vec!["t=ask_resources", "rsc_hold=all", "info=done"],
                false,
            ),
            (
                sent(
                    seq(Body::HbTakeover {
                        hold: Some(HoldSet::Foreign),
                    }),
                    None,
                ),
                vec!["t=hb_takeover", "rsc_hold=foreign"],
                false,
            ),
            (
                sent(
                    seq(Body::IpRequest {
                        ipaddr: Some("IPaddr::192.0.2.10".into()),
                    }),
                    None,
                ),
                vec!["t=ip-request", "ipaddr=IPaddr::192.0.2.10"],
                false,
            ),
            (
                sent(
                    seq(Body::IpRequestResp {
                        ipaddr: Some("IPaddr::192.0.2.10".into()),
                        weown: Some(true),
                        ok: true,
                    }),
                    Some("nodea"),
                ),
                vec![
                    "t=ip-request-resp",
                    "dest=nodea",
                    "ipaddr=IPaddr::192.0.2.10",
                    "weown=yes",
                    "ok=OK",
                ],
                false,
            ),
            (
                sent(
                    seq(Body::IpRequestResp {
                        ipaddr: Some("IPaddr::192.0.2.11".into()),
                        weown: Some(false),
                        ok: true,
                    }),
                    Some("nodeb"),
                ),
                vec![
                    "t=ip-request-resp",
                    "dest=nodeb",
                    "ipaddr=IPaddr::192.0.2.11",
                    "weown=no",
                    "ok=OK",
                ],
                true,
            ),
            (
                sent(
                    seq(Body::HbdConfig(Box::new(Agreement {
                        groups: Some(vec![
                            GroupDigest {
                                home: "nodea".into(),
                                resources: "00112233445566ff".into(),
                            },
                            GroupDigest {
                                home: "nodeb".into(),
                                resources: "a0a1a2a3a4a5a6a7".into(),
                            },
                        ]),
                        auto_failback: Some("on".into()),
                        keepalive: Some(Duration::from_millis(1000)),
                        deadtime: Some(Duration::from_millis(10_000)),
                        initdead: Some(Duration::from_millis(20_000)),
                        auth: Some(1),
                        auth_methods: Some("1:sha1,2:md5".into()),
                        ping: Some((2, "0a0b0c0d0e0f1011".into())),
                    }))),
                    None,
                ),
                vec![
                    "t=hbd-config",
                    "groups=nodea:00112233445566ff,nodeb:a0a1a2a3a4a5a6a7",
                    "auto_failback=on",
                    "keepalive=1000",
                    "deadtime=10000",
                    "initdead=20000",
                    "auth_index=1",
                    "auth_methods=1:sha1,2:md5",
                    "ping=2:0a0b0c0d0e0f1011",
                ],
                false,
            ),
            (
                sent(seq(Body::Shutdone), None),
                vec!["t=shutdone", "st=dead"],
                false,
            ),
            (
                sent(
                    seq(Body::Stonith {
                        node: Some("nodeb".into()),
                        result: Some(StonithResult::NoStonith),
                    }),
                    None,
                ),
                vec!["t=stonith", "node=nodeb", "result=n_stnth"],
                false,
            ),
            (
                sent(
                    seq(Body::Stonith {
                        node: Some("nodeb".into()),
                        result: Some(StonithResult::Unneeded),
                    }),
                    None,
                ),
                vec!["t=stonith", "node=nodeb", "result=unneeded"],
                false,
            ),
            (
                sent(
                    seq(Body::RepNodes {
                        nodelist: Some("nodea nodeb ".into()),
                        delnodelist: Some(" ".into()),
                    }),
                    Some("nodeb"),
                ),
                vec![
                    "dest=nodeb",
                    "t=repnodes",
                    "nodelist=nodea nodeb ",
                    "delnodelist= ",
                ],
                true,
            ),
            (
                sent(seq(Body::NumPingNodes { count: Some(2) }), Some("nodeb")),
                vec![
                    "t=num_ping_nodes",
                    "num_ping=2",
                    "dest=nodeb",
                    "from_id=ipfail",
                    "to_id=ipfail",
                ],
                true,
            ),
            (
                sent(seq(Body::YouAreDead), Some("nodeb")),
                vec![
                    "t=you_are_dead",
                    "dest=nodeb",
                    "from_id=ipfail",
                    "to_id=ipfail",
                ],
                true,
            ),
            (
                sent(seq(Body::AbortGiveup), Some("nodeb")),
                vec![
                    "t=abort_giveup",
                    "dest=nodeb",
                    "from_id=ipfail",
                    "to_id=ipfail",
                ],
                true,
            ),
            (
                sent(
                    Kind::Control(Control::Ack { seq: Some(0x1f) }),
                    Some("nodeb"),
                ),
                vec!["t=NS_ackmsg", "dest=nodeb", "ackseq=1f"],
                true,
            ),
            (
                sent(
                    Kind::Control(Control::Rexmit {
                        first: Some(31),
                        last: Some(31),
                    }),
                    Some("nodeb"),
                ),
                vec!["t=NS_rexmit", "dest=nodeb", "firstseq=31", "lastseq=31"],
                true,
            ),
            (
                sent(
                    Kind::Control(Control::NakRexmit { first: Some(0x1f) }),
                    Some("nodeb"),
                ),
                vec![
                    "t=NS_nak_rexmit",
                    "firstseq=1f",
                    "dest=nodeb",
                    "info=seqno too low",
                ],
                true,
            ),
        ]
    }

    #[test]
    fn every_sent_message_has_the_field_list_heartbeat_signs_and_parses_back() {
        for (repr, body, dest_is_peer) in every_sent_message() {
            let sequenced = matches!(repr.kind, Kind::Sequenced { .. });
            let mut want: Vec<String> = body.iter().map(|s| s.to_string()).collect();
            want.extend(tail(dest_is_peer, sequenced));
            let m = repr.clone().into_message();
            assert_eq!(listed(&m), want, "{}", repr.type_name());
            assert_eq!(m.msg_type(), Some(repr.type_name()));
            assert_eq!(Repr::parse(m), Ok(repr));
        }
    }

    /// The allocation-free paths write and read exactly what the field list
    /// does: the sealed bytes of every message hbd sends (with each auth
    /// method, a heartbeat peer's `ld`, a node name too long to keep inline)
    /// are those `try_seal` gives, and `open_repr` reads them as `open` and
    /// `parse` do.
    #[test]
    fn sealing_and_opening_without_a_field_list_gives_the_same_bytes_and_message() {
        use crate::config::{authkeys, MsgFmt};
        use crate::wire::{open, open_repr, try_seal, Sealer, Transport};
        let mut sealer = Sealer::new();
        for method in ["crc", "md5 k", "sha1 k", "sha256 k"] {
            let (auth, _) = authkeys::parse(
                &format!("auth 3\n3 {method}\n"),
                std::path::Path::new("authkeys"),
            );
            let mut all = every_sent_message();
            let mut long = all[0].0.clone();
            long.src = "n".repeat(super::super::text::INLINE + 5).as_str().into();
            long.load = Some("0.00 0.01 0.05 1/123 4567".into());
            all.push((long, vec![], false));
            for (repr, _, _) in all {
                let m = repr.to_message();
                for fmt in [MsgFmt::Netstring, MsgFmt::Classic] {
                    let want = try_seal(&m, &auth, Transport::Udp, fmt).unwrap();
                    let got = sealer.udp(&repr, &auth, fmt).unwrap();
                    assert_eq!(got, &want[..], "{} {method} {fmt:?}", repr.type_name());
                    let opened = open(&want, &auth).map(Repr::parse);
                    assert_eq!(open_repr(got, &auth), opened);
                    assert_eq!(opened, Ok(Ok(repr.clone())));
                }
            }
        }
    }

    #[test]
    fn hbd_state_reads_only_its_own_words() {
        let state = |maint: &str, restart: &str| match peer_status_with(&[
            ("hbdmaint", maint),
            ("hbdrestart", restart),
        ]) {
            Body::Status { hbd, .. } => hbd,
            b => panic!("{b:?}"),
        };
        assert_eq!(
            state("1", "4e20"),
            HbdState {
                maintenance: true,
                restart_grace: Some(20_000)
            }
        );
        // Anything but `1` is not maintenance; an unreadable grace is none.
        assert_eq!(state("yes", "zz"), HbdState::default());
        assert_eq!(state("0", "").restart_grace, None);
    }

    #[test]
    fn an_unreadable_link_report_is_no_report() {
        let status = |n: &str, loss: &str| match peer_status_with(&[("hbdn", n), ("hbdloss", loss)])
        {
            Body::Status { link, .. } => link,
            b => panic!("{b:?}"),
        };
        assert_eq!(
            status("a", "3/40"),
            Some(LinkReport {
                n: 10,
                loss: Some((3, 40))
            })
        );
        for bad in [
            "41/40",
            "1/0",
            "3",
            "-1/4",
            "3/",
            "/4",
            "3/4/5",
            "99999999999/1",
        ] {
            assert_eq!(status("a", bad).unwrap().loss, None, "hbdloss={bad}");
        }
        for bad in ["0", "zz", ""] {
            assert_eq!(status(bad, "3/40"), None, "hbdn={bad:?}");
        }
    }

    #[test]
    fn heartbeats_load_field_is_read_and_written_where_heartbeat_puts_it() {
        let m = msg(&[
            ("t", "status"),
            ("src", "nodeb"),
            ("seq", "2"),
            ("hg", "6b024391"),
            ("ts", "6b024390"),
            ("ld", "0.11 0.18 0.09 3/118 14279"),
            ("ttl", "3"),
        ]);
        let r = Repr::parse(m.clone()).unwrap();
        assert_eq!(r.load.as_deref(), Some("0.11 0.18 0.09 3/118 14279"));
        assert_eq!(listed(&r.into_message())[2..], listed(&m)[1..]);
    }

    #[test]
    fn an_hbd_config_part_that_is_missing_or_unreadable_is_none() {
        let r = Repr::parse(msg(&[
            ("t", "hbd-config"),
            ("groups", "nodea:00ff,:12"),
            ("deadtime", "5s"),
            ("initdead", "4000"),
            ("auth_index", "300"),
            ("ping", "x:1"),
            ("src", "nodeb"),
            ("seq", "1"),
            ("ts", "5"),
        ]))
        .unwrap();
        assert_eq!(
            r.kind,
            seq_of(
                1,
                Body::HbdConfig(Box::new(Agreement {
                    initdead: Some(Duration::from_millis(4000)),
                    ..Agreement::default()
                }))
            )
        );
        // No group at all is a statement too: an empty haresources.
        let r = Repr::parse(msg(&[
            ("t", "hbd-config"),
            ("groups", ""),
            ("src", "nodeb"),
            ("seq", "1"),
            ("ts", "5"),
        ]))
        .unwrap();
        let Kind::Sequenced {
            body: Body::HbdConfig(a),
            ..
        } = r.kind
        else {
            panic!("{:?}", r.kind)
        };
        assert_eq!(a.groups, Some(vec![]));
    }

    /// The body of nodeb's status carrying `extra` fields after its own.
    fn peer_status_with(extra: &[(&str, &str)]) -> Body {
        let mut fields = vec![("t", "status"), ("src", "nodeb"), ("seq", "2"), ("ts", "5")];
        fields.extend_from_slice(extra);
        match Repr::parse(msg(&fields)).unwrap().kind {
            Kind::Sequenced { body, .. } => body,
            k => panic!("{k:?}"),
        }
    }

    fn msg(fields: &[(&str, &str)]) -> Message {
        let mut m = Message::new();
        for (k, v) in fields {
            m.add(k, v);
        }
        m
    }

    #[test]
    fn a_missing_envelope_field_is_invalid_naming_it_and_the_sender() {
        let full = [("t", "status"), ("src", "nodeb"), ("seq", "1"), ("ts", "5")];
        assert!(Repr::parse(msg(&full)).is_ok());
        let without = |name: &str| {
            let f: Vec<_> = full.iter().copied().filter(|(k, _)| *k != name).collect();
            Repr::parse(msg(&f)).unwrap_err()
        };
        let nodeb = Some("nodeb".to_string());
        assert_eq!(
            without("t"),
            Invalid {
                src: nodeb.clone(),
                field: "t"
            }
        );
        assert_eq!(
            without("src"),
            Invalid {
                src: None,
                field: "src"
            }
        );
        assert_eq!(
            without("ts"),
            Invalid {
                src: nodeb.clone(),
                field: "ts"
            }
        );
        assert_eq!(
            without("seq"),
            Invalid {
                src: nodeb.clone(),
                field: "seq"
            }
        );
        for bad in ["0", "", "zz", "12345678901234567"] {
            let e = Repr::parse(msg(&[("t", "x"), ("src", "b"), ("seq", "1"), ("ts", bad)]));
            assert_eq!(e.unwrap_err().field, "ts", "ts={bad:?}");
            let e = Repr::parse(msg(&[("t", "x"), ("src", "b"), ("seq", bad), ("ts", "1")]));
            assert_eq!(e.unwrap_err().field, "seq", "seq={bad:?}");
        }
        // Control messages carry no sequence number that counts.
        let ack = Repr::parse(msg(&[("t", "NS_ackmsg"), ("src", "b"), ("ts", "1")])).unwrap();
        assert_eq!(ack.kind, Kind::Control(Control::Ack { seq: None }));
        assert_eq!(ack.generation, 0, "hg absent reads as 0");
    }

    #[test]
    fn the_first_field_of_a_name_counts_and_binary_fields_are_not_strings() {
        let mut m = msg(&[("t", "status"), ("src", "nodeb"), ("seq", "1"), ("ts", "5")]);
        m.add_binary("st", b"active");
        m.add("st", "up");
        m.add("st", "dead");
        m.add("srcuuid", "not binary");
        m.push("t", FieldType::String, b"resource".to_vec());
        let r = Repr::parse(m).unwrap();
        assert_eq!(
            r.kind,
            seq_of(
                1,
                Body::Status {
                    st: Some("up".into()),
                    dt: None,
                    link: None,
                    hbd: HbdState::default(),
                }
            )
        );
        assert_eq!(r.srcuuid, None);
        // The first `src` is not UTF-8: there is no readable sender.
        let mut m = msg(&[("t", "status")]);
        m.push("src", FieldType::String, vec![0xff]);
        m.add("src", "nodeb");
        assert_eq!(Repr::parse(m).unwrap_err().field, "src");
    }

    fn seq_of(seq: u64, body: Body) -> Kind {
        Kind::Sequenced { seq, body }
    }

    #[test]
    fn unknown_words_read_as_none_and_unknown_types_pass() {
        let base = [("src", "nodeb"), ("seq", "7"), ("ts", "5")];
        let parse = |extra: &[(&str, &str)]| {
            let mut f = extra.to_vec();
            f.extend(base);
            Repr::parse(msg(&f)).unwrap().kind
        };
        assert_eq!(
            parse(&[("t", "hb_takeover"), ("rsc_hold", "failback")]),
            seq_of(7, Body::HbTakeover { hold: None })
        );
        assert_eq!(
            parse(&[
                ("t", "resource"),
                ("rsc_hold", "most"),
                ("rtype", "partial"),
                ("isstable", "2"),
                ("info", "why")
            ]),
            seq_of(
                7,
                Body::Resource(Resource {
                    hold: None,
                    full: false,
                    stable: None,
                    info: Some(ResourceInfo::Other("why".into()))
                })
            )
        );
        assert_eq!(
            parse(&[("t", "num_ping_nodes"), ("num_ping", " 3 ")]),
            seq_of(7, Body::NumPingNodes { count: Some(3) })
        );
        assert_eq!(
            parse(&[("t", "hbapi-clstat"), ("info", "x")]),
            seq_of(7, Body::Other("hbapi-clstat".into()))
        );
        assert_eq!(
            parse(&[("t", "NS_rexmit"), ("firstseq", "1f"), ("lastseq", "31")]),
            Kind::Control(Control::Rexmit {
                first: None,
                last: Some(31)
            }),
            "NS_rexmit counts in decimal"
        );
        assert_eq!(
            parse(&[("t", "NS_whatever")]),
            Kind::Control(Control::Other("NS_whatever".into()))
        );
    }

    const NAMES: &[&str] = &[
        "t",
        "src",
        "seq",
        "hg",
        "ts",
        "ttl",
        "dest",
        "srcuuid",
        "destuuid",
        "st",
        "dt",
        "protocol",
        "rsc_hold",
        "rtype",
        "isstable",
        "info",
        "ipaddr",
        "weown",
        "ok",
        "node",
        "result",
        "nodelist",
        "delnodelist",
        "num_ping",
        "firstseq",
        "lastseq",
        "ackseq",
        "ld",
        "groups",
        "auto_failback",
        "keepalive",
        "deadtime",
        "initdead",
        "auth_index",
        "auth_methods",
        "ping",
    ];
    const VALUES: &[&str] = &[
        "",
        "0",
        "1",
        "2a",
        "+1",
        " 3 ",
        "ffffffffffffffff",
        "10000000000000000",
        "zz",
        "status",
        "starting",
        "resource",
        "ask_resources",
        "hb_takeover",
        "ip-request",
        "ip-request-resp",
        "shutdone",
        "stonith",
        "reqnodes",
        "repnodes",
        "num_ping_nodes",
        "you_are_dead",
        "abort_giveup",
        "hbapi-clstat",
        "NS_rexmit",
        "NS_nak_rexmit",
        "NS_ackmsg",
        "NS_other",
        "nodea",
        "nodeb",
        "none",
        "local",
        "foreign",
        "all",
        "failback",
        "me",
        "other",
        "done",
        "full",
        "heal",
        "mach_down",
        "OK",
        "yes",
        "no",
        "n_stnth",
        "unneeded",
        "hbd-config",
        "nodea:00ff,nodeb:a1",
        "nodea:",
        "2:0a1b",
        "1:sha1,2:md5",
        "0.11 0.18 0.09 3/118 14279",
    ];

    proptest::proptest! {
        /// Any field list: reading never panics, the envelope rule (§3.2 step 2)
        /// decides alone what is invalid, the typed view agrees with the
        /// first fields of those names, and writing it back reads the same.
        #[test]
        fn typed_reading_follows_the_envelope_rule_and_round_trips(
            fields in proptest::collection::vec(
                (0..NAMES.len(), 0..VALUES.len(), 0u8..8),
                0..14,
            )
        ) {
            let mut m = Message::new();
            for (n, v, kind) in fields {
                match kind {
                    0 => m.add_binary(NAMES[n], VALUES[v].as_bytes()),
                    1 => m.push(NAMES[n], FieldType::String, vec![0xff]),
                    _ => m.add(NAMES[n], VALUES[v]),
                }
            }
            let nonzero = |name: &str| m.get_hex(name).unwrap_or(0) != 0;
            let control = m.msg_type().is_some_and(|t| t.starts_with("NS_"));
            let valid = m.msg_type().is_some()
                && m.get("src").is_some()
                && nonzero("ts")
                && (control || nonzero("seq"));
            match Repr::parse(m.clone()) {
                Ok(r) => {
                    proptest::prop_assert!(valid);
                    proptest::prop_assert_eq!(Some(r.src.as_str()), m.get("src"));
                    proptest::prop_assert_eq!(Some(r.type_name()), m.msg_type());
                    proptest::prop_assert_eq!(r.ts, m.get_hex("ts").unwrap());
                    proptest::prop_assert_eq!(r.generation, m.get_hex("hg").unwrap_or(0));
                    proptest::prop_assert_eq!(r.dest.as_deref(), m.get("dest"));
                    proptest::prop_assert_eq!(r.destuuid.as_deref(), m.get_binary("destuuid"));
                    if !control {
                        proptest::prop_assert_eq!(r.seq(), m.get_hex("seq"));
                    }
                    let again = Repr::parse(r.clone().into_message());
                    proptest::prop_assert_eq!(again, Ok(r));
                }
                Err(e) => {
                    proptest::prop_assert!(!valid, "{e}");
                    proptest::prop_assert_eq!(e.src.as_deref(), m.get("src"));
                }
            }
        }
    }
}
