//! The values `hbd status`, `cl_status`, the metrics and `--wait` compare:
//! enums, so a renderer or a wait loop matches variants instead of string
//! literals. Their serde names are heartbeat's words, so `status --json`
//! keeps its spelling. Beside them, our own state as the core keeps it
//! ([`LocalState`]), which is one of them.

#![forbid(unsafe_code)]

use crate::core::HoldSet;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Our own state, the part of [`NodeState`] this node can be in: what our
/// status messages say (`st=`) and what `status()` reports for us.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum LocalState {
    Init,
    Up,
    Active,
}

impl LocalState {
    pub(super) fn name(self) -> &'static str {
        match self {
            LocalState::Init => "init",
            LocalState::Up => "up",
            LocalState::Active => "active",
        }
    }

    pub(super) fn node_state(self) -> NodeState {
        match self {
            LocalState::Init => NodeState::Init,
            LocalState::Up => NodeState::Up,
            LocalState::Active => NodeState::Active,
        }
    }
}

/// A node's status as heartbeat names it (`st=` in its status messages).
/// A peer may send a word hbd does not know (heartbeat's ping nodes say
/// `ping`); it is kept as it came, never dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum NodeState {
    #[default]
    Init,
    Up,
    Active,
    Dead,
    Other(String),
}

impl NodeState {
    /// The states hbd itself reports (the metrics export one series each).
    pub const KNOWN: [NodeState; 4] = [
        NodeState::Init,
        NodeState::Up,
        NodeState::Active,
        NodeState::Dead,
    ];

    pub fn word(&self) -> &str {
        match self {
            NodeState::Init => "init",
            NodeState::Up => "up",
            NodeState::Active => "active",
            NodeState::Dead => "dead",
            NodeState::Other(s) => s,
        }
    }

    /// heartbeat's `cl_status nodestatus` treats these as alive.
    pub fn is_alive(&self) -> bool {
        matches!(self, NodeState::Up | NodeState::Active)
            || matches!(self, NodeState::Other(s) if s == "ping")
    }
}

impl From<String> for NodeState {
    fn from(s: String) -> Self {
        NodeState::from(s.as_str())
    }
}

impl From<&str> for NodeState {
    fn from(s: &str) -> Self {
        match s {
            "init" => NodeState::Init,
            "up" => NodeState::Up,
            "active" => NodeState::Active,
            "dead" => NodeState::Dead,
            other => NodeState::Other(other.to_string()),
        }
    }
}

impl From<NodeState> for String {
    fn from(s: NodeState) -> Self {
        s.word().to_string()
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Where a resource group stands, seen from this node.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupState {
    /// Nobody runs it, as far as this node knows.
    #[default]
    Stopped,
    Starting,
    Running,
    Stopping,
    /// Failed here and not running elsewhere as far as this node knows: a
    /// stop failed for good or a monitor blocked it (owner: this node, it
    /// may still be active here), or it failed to start or run here and the
    /// peer does not hold it (owner: nobody). `hbd cleanup` clears it.
    Failed,
    /// The peer says it holds it.
    Peer,
}

impl GroupState {
    pub fn word(self) -> &'static str {
        match self {
            GroupState::Stopped => "stopped",
            GroupState::Starting => "starting",
            GroupState::Running => "running",
            GroupState::Stopping => "stopping",
            GroupState::Failed => "failed",
            GroupState::Peer => "peer",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Where a monitored resource stands.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorState {
    /// Not checked: its group does not run here.
    #[default]
    Idle,
    /// The last check found it running.
    Ok,
    /// Failed checks in a row, fewer than `fall`.
    Failing,
    /// Failed `fall` times in a row and not yet `rise` good checks since.
    Failed,
}

impl MonitorState {
    pub fn word(self) -> &'static str {
        match self {
            MonitorState::Idle => "idle",
            MonitorState::Ok => "ok",
            MonitorState::Failing => "failing",
            MonitorState::Failed => "failed",
        }
    }
}

impl fmt::Display for MonitorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// `cl_status rscstatus`: what this node holds, or `transition` while
/// resources are moving.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RscHold {
    #[default]
    None,
    Local,
    Foreign,
    All,
    Transition,
}

impl RscHold {
    pub fn word(self) -> &'static str {
        match self {
            RscHold::Transition => "transition",
            RscHold::None => "none",
            RscHold::Local => "local",
            RscHold::Foreign => "foreign",
            RscHold::All => "all",
        }
    }
}

impl From<HoldSet> for RscHold {
    fn from(h: HoldSet) -> Self {
        match h {
            HoldSet::None => RscHold::None,
            HoldSet::Local => RscHold::Local,
            HoldSet::Foreign => RscHold::Foreign,
            HoldSet::All => RscHold::All,
        }
    }
}

impl fmt::Display for RscHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spelling_is_heartbeats_word() {
        for s in NodeState::KNOWN {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            let back: NodeState = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(back, s);
        }
        let ping: NodeState = serde_json::from_str("\"ping\"").unwrap();
        assert_eq!(ping, NodeState::Other("ping".into()));
        assert_eq!(serde_json::to_string(&ping).unwrap(), "\"ping\"");
        for g in [
            GroupState::Stopped,
            GroupState::Starting,
            GroupState::Running,
            GroupState::Stopping,
            GroupState::Failed,
            GroupState::Peer,
        ] {
            assert_eq!(serde_json::to_string(&g).unwrap(), format!("\"{g}\""));
        }
        for h in [
            RscHold::None,
            RscHold::Local,
            RscHold::Foreign,
            RscHold::All,
            RscHold::Transition,
        ] {
            assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{h}\""));
        }
        for m in [
            MonitorState::Idle,
            MonitorState::Ok,
            MonitorState::Failing,
            MonitorState::Failed,
        ] {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
    }

    #[test]
    fn alive_follows_cl_status() {
        assert!(NodeState::Active.is_alive());
        assert!(NodeState::Up.is_alive());
        assert!(NodeState::from("ping").is_alive());
        assert!(!NodeState::Dead.is_alive());
        assert!(!NodeState::Init.is_alive());
    }
}
