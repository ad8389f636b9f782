//! What the commands ([`super`]) and their `--wait` ([`super::wait`]) both
//! use, in a file of its own so that `--wait` does not reach back into the
//! commands that call it: which operator command ran, and how long one
//! request to the daemon may take.

use std::time::Duration;

/// How long one request may take: cl_status gives heartbeat 5 s in total.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The operator command whose outcome `--wait` waits for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Standby,
    Takeover,
}
