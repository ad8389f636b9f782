//! The control socket's protocol: one JSON request per line from `hbd status|standby|
//! takeover|cl_status`, one JSON response per line from the daemon. Plain data, so
//! the client side and the daemon side can be built and tested apart.

use crate::core::{GroupState, HoldSet, NodeState, RscHold};
use serde::{Deserialize, Serialize};

/// The socket's file name inside the run directory.
pub const SOCKET_NAME: &str = "hbd.sock";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// `set` travels as heartbeat's word (`all`, `local`, `foreign`).
    Standby {
        set: HoldSet,
    },
    Takeover {
        set: HoldSet,
    },
}

// One response per request, serialized at once: the size of the status variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Status(StatusReport),
    /// The command was handed to the core; `message` says what will happen.
    Accepted {
        message: String,
    },
    Error {
        message: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub config: String,
    pub uptime_ms: u64,
    pub local: NodeReport,
    pub peer: NodeReport,
    /// One per configured link, in config order.
    pub links: Vec<LinkReport>,
    pub groups: Vec<GroupReport>,
    pub rsc_hold: RscHold,
    /// The last transitions, oldest first.
    pub recent: Vec<TransitionReport>,
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub auto_failback: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub name: String,
    pub state: NodeState,
    pub generation: Option<u64>,
    pub last_heard_ms_ago: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    /// heartbeat's link name: the interface, or the tty path as written.
    pub name: String,
    /// `ucast`, `bcast`, `mcast` or `serial`.
    pub kind: String,
    /// The peer is heard on this link.
    pub up: bool,
    pub last_heard_ms_ago: Option<u64>,
    pub sent: u64,
    pub received: u64,
    pub bad_auth: u64,
    pub malformed: u64,
    pub late: u64,
    /// Send or transport errors (a serial hang-up, a failed sendto).
    pub errors: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    pub key: String,
    pub home: String,
    pub owner: Option<String>,
    pub state: GroupState,
    pub resources: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionReport {
    pub ms_ago: u64,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_object_each() {
        let r = Request::Standby {
            set: HoldSet::Foreign,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(line, r#"{"cmd":"standby","set":"foreign"}"#);
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        // An unknown set never reaches the daemon's command handling.
        assert!(
            serde_json::from_str::<Request>(r#"{"cmd":"standby","set":"everything"}"#).is_err()
        );
    }
}
