//! The set of resource groups heartbeat names in `rsc_hold`, `ask_resources`
//! and `hb_standby`/`hb_takeover`: the one place it is parsed and printed.
//! It lives in the wire layer because typed messages carry it
//! ([`super::repr`]); the core re-exports it as `core::HoldSet`.

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A set of groups as heartbeat's `rsc_hold` names them, from the point of
/// view of the node that says it: `local` = groups whose home is that node.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldSet {
    #[default]
    None,
    Local,
    Foreign,
    All,
}

impl HoldSet {
    /// heartbeat's word for the set, as on the wire.
    pub fn word(self) -> &'static str {
        match self {
            HoldSet::None => "none",
            HoldSet::Local => "local",
            HoldSet::Foreign => "foreign",
            HoldSet::All => "all",
        }
    }

    /// The set holding local groups when `local`, foreign ones when `foreign`.
    pub fn from_parts(local: bool, foreign: bool) -> HoldSet {
        match (local, foreign) {
            (false, false) => HoldSet::None,
            (true, false) => HoldSet::Local,
            (false, true) => HoldSet::Foreign,
            (true, true) => HoldSet::All,
        }
    }

    /// Whether the set contains a group whose home is (`local`) or is not the
    /// node that names the set.
    pub fn has(self, local: bool) -> bool {
        match self {
            HoldSet::None => false,
            HoldSet::All => true,
            HoldSet::Local => local,
            HoldSet::Foreign => !local,
        }
    }

    /// Whether the two sets (from the same node's point of view) share a part.
    pub fn overlaps(self, other: HoldSet) -> bool {
        (self.has(true) && other.has(true)) || (self.has(false) && other.has(false))
    }

    /// The same set seen from the other node.
    pub fn invert(self) -> HoldSet {
        match self {
            HoldSet::Local => HoldSet::Foreign,
            HoldSet::Foreign => HoldSet::Local,
            other => other,
        }
    }

    /// `hb_standby`'s argument: empty means `all`, and `failback` gives back
    /// what is foreign here (heartbeat's hb_standby script maps it so).
    pub fn from_operator_word(s: &str) -> Option<HoldSet> {
        match s {
            "" => Some(HoldSet::All),
            "failback" => Some(HoldSet::Foreign),
            other => other.parse().ok(),
        }
    }
}

impl fmt::Display for HoldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a resource set (expected none, local, foreign or all)")]
pub struct BadHoldSet(pub String);

impl FromStr for HoldSet {
    type Err = BadHoldSet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "none" => HoldSet::None,
            "local" => HoldSet::Local,
            "foreign" => HoldSet::Foreign,
            "all" => HoldSet::All,
            _ => return Err(BadHoldSet(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [HoldSet; 4] = [
        HoldSet::None,
        HoldSet::Local,
        HoldSet::Foreign,
        HoldSet::All,
    ];

    #[test]
    fn words_round_trip_and_match_serde() {
        for h in ALL {
            assert_eq!(h.word().parse::<HoldSet>(), Ok(h));
            assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{h}\""));
        }
        assert!("everything".parse::<HoldSet>().is_err());
    }

    #[test]
    fn overlaps_means_a_shared_part() {
        use HoldSet::*;
        assert!(All.overlaps(Local) && Local.overlaps(All) && Foreign.overlaps(Foreign));
        assert!(!Local.overlaps(Foreign) && !None.overlaps(All) && !All.overlaps(None));
    }

    #[test]
    fn parts_has_and_invert_agree() {
        for h in ALL {
            assert_eq!(HoldSet::from_parts(h.has(true), h.has(false)), h);
            assert_eq!(h.invert().has(true), h.has(false));
            assert_eq!(h.invert().invert(), h);
        }
    }

    #[test]
    fn operator_words_follow_hb_standby() {
        assert_eq!(HoldSet::from_operator_word(""), Some(HoldSet::All));
        assert_eq!(
            HoldSet::from_operator_word("failback"),
            Some(HoldSet::Foreign)
        );
        assert_eq!(HoldSet::from_operator_word("local"), Some(HoldSet::Local));
        assert_eq!(HoldSet::from_operator_word("both"), None);
    }
}
