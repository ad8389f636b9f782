//! The pure core: every failover decision, and nothing else.
//!
//! No sockets, no clock, no tokio, no randomness it was not handed. The shell
//! feeds it with [`Node::handle`] (time is a parameter), pulls decisions with
//! [`Node::poll_output`], sleeps until [`Node::next_deadline`], and shows
//! [`Node::status`]. One task owns a `Node`: no locks.
//!
//! This file is the contract between the core and the shell.

use crate::config::Config;
use crate::wire::Message;

/// Index of a link in `Config::media` order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// Index of a resource group in `haresources` order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub usize);

/// A set of groups as heartbeat's `rsc_hold` names them, from the point of
/// view of the node that says it: `local` = groups whose home is that node.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum HoldSet {
    None,
    Local,
    Foreign,
    All,
}

/// An operator's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Give these groups to the peer (`hb_standby`).
    Standby(HoldSet),
    /// Take these groups from the peer (`hb_takeover`).
    Takeover(HoldSet),
    /// Release every group (right to left), tell the peer (`shutdone`), then
    /// emit [`Output::ShutdownComplete`].
    Shutdown,
}

/// What a resource script is asked to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Start,
    Stop,
    Status,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub u64);

/// One resource script invocation the shell must run and report back on
/// with [`Input::StepDone`]. The core never has two steps outstanding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: StepId,
    pub group: GroupId,
    /// Index into the group's `resources`.
    pub resource: usize,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// `start` or `stop` exited 0.
    Ok,
    /// `status` ran; whether its output says running (heartbeat's rule, spec §6.2).
    Running(bool),
    /// Non-zero exit, killed on timeout, not found or not executable.
    Failed { code: Option<i32>, reason: String },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A message that passed framing and authentication, received on `link`.
    /// Duplicate, replay and sequence decisions are the core's.
    Message {
        link: LinkId,
        msg: Message,
    },
    /// The shell's view of a link's transport (a serial hang-up, a reopen).
    LinkTransport {
        link: LinkId,
        up: bool,
    },
    Command(Command),
    StepDone {
        id: StepId,
        outcome: StepOutcome,
    },
    /// A new configuration that passed `validate()` (SIGHUP). Node names and
    /// resource groups must be unchanged; timings and media may change.
    Reload(Box<Config>),
    /// Nothing arrived; a deadline may have passed.
    Timer,
}

// Output, Event, Status and Node are defined by the core's modules and
// re-exported here.
