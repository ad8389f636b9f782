//! The simulated world: two cores, a fake clock that jumps to the next
//! deadline or delivery, per-direction links (a fast UDP-like one and a slow
//! serial-like one) with seeded loss, delay, duplication, reordering and cuts,
//! and a fake resource runner that completes steps after a seeded delay and
//! tracks which node runs each resource. Invariants are checked after every
//! step; a violation returns Err with the trace tail.

use hbd::config::Config;
use hbd::core::{
    Action, CheckId, CheckOutcome, Event, Input, LinkId, Node, Output, StepId, StepOutcome,
};
use hbd::time::{Duration, Instant};
use hbd::wire::Message;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
pub use testkit::core_harness::quick::{DEADTIME, INITDEAD, KEEPALIVE};
use testkit::core_harness::{params, LOCAL, PEER};
pub use testkit::core_harness::{quick_config as config, Rng};

pub const NAMES: [&str; 2] = [LOCAL, PEER];
/// Longest a fake script step takes.
pub const SCRIPT_MAX: u64 = 300;

/// The world's generator: the cores' own, on a stream apart from theirs.
pub fn world_rng(seed: u64) -> Rng {
    Rng::new(seed ^ 0xA5A5_5A5A_DEAD_BEEF)
}

#[derive(Clone, Debug)]
pub struct LinkCfg {
    pub loss_pct: u64,
    pub dup_pct: u64,
    pub delay: (u64, u64),
    pub cut: bool,
}

enum Pending {
    Msg {
        to: usize,
        link: usize,
        incarnation: u32,
        msg: Message,
    },
    Step {
        node: usize,
        incarnation: u32,
        id: StepId,
        group: usize,
        resource: usize,
        action: Action,
    },
    /// A fence `node` asked for against the other node.
    Fence { node: usize, incarnation: u32 },
    /// A monitor check; `hung` ones answer as killed at their timeout.
    Check {
        node: usize,
        incarnation: u32,
        id: CheckId,
        group: usize,
        resource: usize,
        hung: bool,
    },
}

pub struct SimNode {
    pub node: Node,
    pub incarnation: u32,
    /// ShutdownComplete seen: the process exits at this time.
    pub exit_at: Option<Instant>,
}

pub struct World {
    pub seed: u64,
    pub now: Instant,
    pub cfg: Config,
    pub nodes: [Option<SimNode>; 2],
    pub generations: [u64; 2],
    incarnations: [u32; 2],
    /// `active[node][group][resource]`.
    pub active: [Vec<Vec<bool>>; 2],
    /// `links[from][link]`.
    pub links: [Vec<LinkCfg>; 2],
    pending: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Option<Pending>>,
    order: u64,
    pub rng: Rng,
    pub trace: Vec<String>,
    /// Ownership changes per group (a node gaining or losing it).
    pub changes: Vec<u32>,
    /// Moves per group: it became active on a node other than the one it
    /// was last active on.
    pub moves: Vec<u32>,
    last_host: Vec<Option<usize>>,
    owner_seen: Vec<[bool; 2]>,
    /// Since when both nodes run a group.
    both_since: Vec<Option<Instant>>,
    /// Since when some link has worked in both directions (None: partitioned).
    pub connected_since: Option<Instant>,
    /// Double-activity allowed this long after connectivity returned.
    pub heal_bound: Duration,
    /// Start of the check window (after the startup negotiation).
    pub check_after: Instant,
    /// `(group, resource)` whose start fails on a node.
    pub failing_start: Vec<(usize, usize, usize)>,
    /// `(node, group, resource)` whose stop fails on a node.
    pub failing_stop: Vec<(usize, usize, usize)>,
    /// `(node, group, resource)` whose monitor check hangs until its timeout.
    pub hanging_check: Vec<(usize, usize, usize)>,
    /// Checks run, per node.
    pub checks: [u64; 2],
    /// A node whose process is stopped (SIGSTOP, VM pause) until then.
    pub paused_until: [Option<Instant>; 2],
    pub events: [Vec<(Instant, Event)>; 2],
    pub steps: u64,
    /// Fences fail this many times before one works (a fence powers the
    /// target off: its process and resources vanish).
    pub fence_failures: u32,
    /// `(when, fenced node)`.
    pub fenced: Vec<(Instant, usize)>,
    /// Any group active on both nodes after `check_after` is a violation,
    /// partition or not (what fencing promises).
    pub strict_exclusive: bool,
    /// A run longer than this many steps is a busy loop.
    pub max_steps: u64,
    /// Keep only about this many trace lines (None: all).
    pub trace_limit: Option<usize>,
}

impl World {
    pub fn new(seed: u64, cfg: Config) -> World {
        let shape: Vec<Vec<bool>> = cfg
            .groups
            .iter()
            .map(|g| vec![false; g.resources.len()])
            .collect();
        let ng = cfg.groups.len();
        let fast = LinkCfg {
            loss_pct: 0,
            dup_pct: 0,
            delay: (1, 20),
            cut: false,
        };
        let slow = LinkCfg {
            delay: (60, 160),
            ..fast.clone()
        };
        World {
            seed,
            now: Instant::ZERO,
            cfg,
            nodes: [None, None],
            generations: [100, 200],
            incarnations: [0, 0],
            active: [shape.clone(), shape],
            links: [vec![fast.clone(), slow.clone()], vec![fast, slow]],
            pending: BinaryHeap::new(),
            slots: Vec::new(),
            order: 0,
            rng: world_rng(seed),
            trace: Vec::new(),
            changes: vec![0; ng],
            moves: vec![0; ng],
            last_host: vec![None; ng],
            owner_seen: vec![[false; 2]; ng],
            both_since: vec![None; ng],
            connected_since: Some(Instant::ZERO),
            heal_bound: Duration::from_millis(DEADTIME + 6000),
            check_after: Instant::from_millis(INITDEAD + 15_000),
            failing_start: Vec::new(),
            failing_stop: Vec::new(),
            hanging_check: Vec::new(),
            checks: [0, 0],
            paused_until: [None, None],
            events: [Vec::new(), Vec::new()],
            steps: 0,
            fence_failures: 0,
            fenced: Vec::new(),
            strict_exclusive: false,
            max_steps: 5_000_000,
            trace_limit: None,
        }
    }

    /// Stops node `i`'s process for `d` (its timers and inputs wait).
    pub fn pause(&mut self, i: usize, d: Duration) {
        self.log(format!("pause {} for {d}", NAMES[i]));
        self.paused_until[i] = Some(self.now + d);
        // A stopped node looks dead to its peer, like a partition: both may
        // run groups until the heal rule settles it after the pause.
        if let Some(c) = self.connected_since {
            self.connected_since = Some(c.max(self.now + d));
        }
        self.heal_bound = Duration::from_millis(DEADTIME + 6000);
    }

    pub fn log(&mut self, s: String) {
        self.trace.push(format!("{} {}", self.now, s));
        if let Some(n) = self.trace_limit {
            if self.trace.len() > 2 * n {
                self.trace.drain(..self.trace.len() - n);
            }
        }
    }

    pub fn start(&mut self, i: usize) {
        self.generations[i] += 1;
        self.incarnations[i] += 1;
        let seed = self
            .seed
            .wrapping_mul(31)
            .wrapping_add(i as u64 * 7 + self.incarnations[i] as u64);
        let params = params(
            self.cfg.clone(),
            NAMES[i],
            self.generations[i],
            [i as u8 + 1; 16],
            seed,
        );
        self.log(format!("start {} gen {}", NAMES[i], self.generations[i]));
        self.nodes[i] = Some(SimNode {
            node: Node::new(params, self.now),
            incarnation: self.incarnations[i],
            exit_at: None,
        });
        self.drain(i);
    }

    /// A crash: the process and the machine's resources vanish.
    pub fn kill(&mut self, i: usize) {
        self.log(format!("kill {}", NAMES[i]));
        self.nodes[i] = None;
        self.paused_until[i] = None;
        for g in &mut self.active[i] {
            g.iter_mut().for_each(|r| *r = false);
        }
    }

    pub fn handle(&mut self, i: usize, input: Input) {
        if let Some(n) = self.nodes[i].as_mut() {
            n.node.handle(self.now, input);
        }
        self.drain(i);
    }

    fn schedule(&mut self, at: Instant, p: Pending) {
        self.order += 1;
        self.slots.push(Some(p));
        self.pending
            .push(Reverse((at, self.order, self.slots.len() - 1)));
    }

    fn transmit(&mut self, from: usize, link: usize, msg: &Message) {
        let to = 1 - from;
        let cfg = self.links[from][link].clone();
        if cfg.cut || self.rng.chance(cfg.loss_pct) {
            return;
        }
        let copies = if self.rng.chance(cfg.dup_pct) { 2 } else { 1 };
        for _ in 0..copies {
            let d = self.rng.range(cfg.delay.0, cfg.delay.1);
            let incarnation = self.nodes[to].as_ref().map(|n| n.incarnation).unwrap_or(0);
            let at = self.now + Duration::from_millis(d);
            self.schedule(
                at,
                Pending::Msg {
                    to,
                    link,
                    incarnation,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn drain(&mut self, i: usize) {
        loop {
            let Some(n) = self.nodes[i].as_mut() else {
                return;
            };
            let Some(out) = n.node.poll_output() else {
                return;
            };
            let incarnation = n.incarnation;
            match out {
                Output::Send { msg, link } => {
                    // On the wire as the shell would seal it; parsed again on delivery.
                    let msg = msg.into_message();
                    let t = msg.msg_type().unwrap_or("?").to_string();
                    if t != "status" && !t.starts_with("NS_") {
                        let fields: Vec<String> = msg
                            .fields()
                            .iter()
                            .filter(|f| {
                                !["src", "srcuuid", "hg", "ts", "ttl", "destuuid"]
                                    .contains(&f.name.as_str())
                            })
                            .map(|f| format!("{}={}", f.name, String::from_utf8_lossy(&f.value)))
                            .collect();
                        self.log(format!("{} send {}", NAMES[i], fields.join(" ")));
                    }
                    match link {
                        Some(l) => self.transmit(i, l.0, &msg),
                        None => {
                            for l in 0..self.links[i].len() {
                                self.transmit(i, l, &msg);
                            }
                        }
                    }
                }
                Output::Run(step) => {
                    let d = self.rng.range(10, SCRIPT_MAX);
                    let at = self.now + Duration::from_millis(d);
                    self.log(format!(
                        "{} run {:?} g{} r{}",
                        NAMES[i], step.action, step.group.0, step.resource
                    ));
                    self.schedule(
                        at,
                        Pending::Step {
                            node: i,
                            incarnation,
                            id: step.id,
                            group: step.group.0,
                            resource: step.resource,
                            action: step.action,
                        },
                    );
                }
                Output::Check(c) => {
                    self.checks[i] += 1;
                    let (g, r) = (c.group.0, c.resource);
                    let hung = self.hanging_check.contains(&(i, g, r));
                    let d = if hung {
                        c.timeout.millis()
                    } else {
                        self.rng.range(5, 100)
                    };
                    let at = self.now + Duration::from_millis(d);
                    self.schedule(
                        at,
                        Pending::Check {
                            node: i,
                            incarnation,
                            id: c.id,
                            group: g,
                            resource: r,
                            hung,
                        },
                    );
                }
                Output::Event(e) => {
                    self.log(format!("{} event: {}", NAMES[i], e));
                    self.events[i].push((self.now, e));
                }
                Output::Fence { node, reason } => {
                    self.log(format!("{} fence {node} ({reason})", NAMES[i]));
                    let at = self.now + Duration::from_millis(self.rng.range(50, 1500));
                    self.schedule(
                        at,
                        Pending::Fence {
                            node: i,
                            incarnation,
                        },
                    );
                }
                Output::Refused(r) => self.log(format!("{} {r}", NAMES[i])),
                Output::Reannounce { group } => {
                    self.log(format!("{} re-announces g{}", NAMES[i], group.0))
                }
                Output::ShutdownComplete => {
                    self.log(format!("{} shutdown complete", NAMES[i]));
                    // heartbeat keeps running ~2 s after shutdone (§6.9).
                    let at = self.now + Duration::from_secs(2);
                    if let Some(n) = self.nodes[i].as_mut() {
                        n.exit_at = Some(at);
                    }
                }
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let mut t: Option<Instant> = self.pending.peek().map(|r| r.0 .0);
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(n) = n else { continue };
            let ds = match self.paused_until[i] {
                Some(p) => [Some(p), None],
                None => [n.node.next_deadline(), n.exit_at],
            };
            for d in ds.into_iter().flatten() {
                t = Some(t.map_or(d, |x: Instant| x.min(d)));
            }
        }
        t
    }

    /// Runs until `until`; Err on the first invariant violation.
    pub fn run_until(&mut self, until: Instant) -> Result<(), String> {
        loop {
            let Some(t) = self.next_time() else {
                self.now = until;
                return Ok(());
            };
            if t > until {
                self.now = until;
                return self.check();
            }
            self.now = t.max(self.now);
            self.steps += 1;
            if self.steps > self.max_steps {
                return Err("simulation did not terminate (busy loop?)".into());
            }
            if let Some(Reverse((at, _, slot))) = self.pending.peek().copied() {
                if at <= self.now {
                    self.pending.pop();
                    let p = self.slots[slot].take().unwrap();
                    let target = match &p {
                        Pending::Msg { to, .. } => *to,
                        Pending::Step { node, .. } => *node,
                        Pending::Fence { node, .. } => *node,
                        Pending::Check { node, .. } => *node,
                    };
                    if let Some(until) = self.paused_until[target] {
                        if until > self.now {
                            // A stopped process reads its socket after it resumes.
                            self.schedule(until + Duration::from_millis(1), p);
                            continue;
                        }
                    }
                    self.deliver(p);
                    self.check()?;
                    continue;
                }
            }
            for i in 0..2 {
                if let Some(until) = self.paused_until[i] {
                    if until > self.now {
                        continue;
                    }
                    self.paused_until[i] = None;
                    self.log(format!("{} resumes", NAMES[i]));
                    self.handle(i, Input::Timer);
                }
                let due = self.nodes[i]
                    .as_ref()
                    .map(|n| (n.node.next_deadline(), n.exit_at));
                if let Some((d, exit)) = due {
                    if exit.map(|e| e <= self.now).unwrap_or(false) {
                        self.log(format!("{} exits", NAMES[i]));
                        self.nodes[i] = None;
                        continue;
                    }
                    if d.map(|d| d <= self.now).unwrap_or(false) {
                        self.handle(i, Input::Timer);
                    }
                }
            }
            self.check()?;
        }
    }

    fn deliver(&mut self, p: Pending) {
        match p {
            Pending::Msg {
                to,
                link,
                incarnation,
                msg,
            } => {
                if self.nodes[to].as_ref().map(|n| n.incarnation) == Some(incarnation) {
                    if let Some(input) = Input::received(LinkId(link), msg, NAMES[to]) {
                        self.handle(to, input);
                    }
                }
            }
            Pending::Step {
                node,
                incarnation,
                id,
                group,
                resource,
                action,
            } => {
                if self.nodes[node].as_ref().map(|n| n.incarnation) != Some(incarnation) {
                    return;
                }
                let outcome = match action {
                    Action::Status | Action::Monitor => {
                        StepOutcome::Running(self.active[node][group][resource])
                    }
                    Action::Start => {
                        if self.failing_start.contains(&(node, group, resource)) {
                            StepOutcome::Failed {
                                code: Some(1),
                                reason: "simulated start failure".into(),
                                output: String::new(),
                            }
                        } else {
                            self.active[node][group][resource] = true;
                            StepOutcome::Ok
                        }
                    }
                    Action::Stop => {
                        if self.failing_stop.contains(&(node, group, resource)) {
                            StepOutcome::Failed {
                                code: Some(1),
                                reason: "simulated stop failure".into(),
                                output: String::new(),
                            }
                        } else {
                            self.active[node][group][resource] = false;
                            StepOutcome::Ok
                        }
                    }
                };
                self.handle(node, Input::StepDone { id, outcome });
            }
            Pending::Check {
                node,
                incarnation,
                id,
                group,
                resource,
                hung,
            } => {
                if self.nodes[node].as_ref().map(|n| n.incarnation) != Some(incarnation) {
                    return;
                }
                let outcome = if hung {
                    CheckOutcome::Failed {
                        code: None,
                        reason: "killed after its timeout".into(),
                        output: String::new(),
                    }
                } else if self.active[node][group][resource] {
                    CheckOutcome::Running
                } else {
                    CheckOutcome::Failed {
                        code: Some(7),
                        reason: "not running (exit 7)".into(),
                        output: String::new(),
                    }
                };
                self.handle(node, Input::CheckDone { id, outcome });
            }
            Pending::Fence { node, incarnation } => {
                if self.nodes[node].as_ref().map(|n| n.incarnation) != Some(incarnation) {
                    return;
                }
                let target = 1 - node;
                let ok = self.fence_failures == 0;
                if ok {
                    self.log(format!("{} fences {}", NAMES[node], NAMES[target]));
                    self.kill(target);
                    self.fenced.push((self.now, target));
                } else {
                    self.fence_failures -= 1;
                    self.log(format!("{} fails to fence {}", NAMES[node], NAMES[target]));
                }
                let input = Input::FenceDone {
                    node: NAMES[target].into(),
                    ok,
                };
                self.handle(node, input);
            }
        }
    }

    /// The service behind resource `r` of group `g` dies on `node` (its
    /// process crashes; the node and hbd live on).
    pub fn kill_service(&mut self, node: usize, g: usize, r: usize) {
        self.log(format!("service g{g} r{r} dies on {}", NAMES[node]));
        self.active[node][g][r] = false;
    }

    pub fn group_active(&self, node: usize, g: usize) -> bool {
        self.active[node][g].iter().any(|r| *r)
    }

    /// Which nodes run group `g` completely.
    pub fn owners(&self, g: usize) -> Vec<usize> {
        (0..2)
            .filter(|&n| self.active[n][g].iter().all(|r| *r))
            .collect()
    }

    pub fn connectivity(&self) -> bool {
        (0..self.links[0].len()).any(|l| !self.links[0][l].cut && !self.links[1][l].cut)
    }

    pub fn set_cut(&mut self, from: usize, link: usize, cut: bool) {
        self.log(format!(
            "link {} {}->{} {}",
            link,
            NAMES[from],
            NAMES[1 - from],
            if cut { "cut" } else { "healed" }
        ));
        let before = self.connectivity();
        self.links[from][link].cut = cut;
        let after = self.connectivity();
        if before && !after {
            self.connected_since = None;
        } else if !before && after {
            // A node still paused is not reachable yet.
            let resume = self.paused_until.iter().flatten().copied().max();
            self.connected_since = Some(resume.map_or(self.now, |r| r.max(self.now)));
        }
    }

    fn check(&mut self) -> Result<(), String> {
        for g in 0..self.changes.len() {
            let now_active = [self.group_active(0, g), self.group_active(1, g)];
            for n in 0..2 {
                if now_active[n] != self.owner_seen[g][n] {
                    self.owner_seen[g][n] = now_active[n];
                    if now_active[n] {
                        self.changes[g] += 1;
                        if self.last_host[g].is_some_and(|h| h != n) {
                            self.moves[g] += 1;
                        }
                        self.last_host[g] = Some(n);
                    }
                }
            }
            if now_active[0] && now_active[1] {
                if self.strict_exclusive && self.now > self.check_after {
                    return Err(format!(
                        "group {g} active on both nodes at {}, where no overlap at all is allowed (fencing, or loss-free links)",
                        self.now
                    ));
                }
                let since = *self.both_since[g].get_or_insert(self.now);
                if let Some(c) = self.connected_since {
                    let from = since.max(c).max(self.check_after);
                    if self.now > from + self.heal_bound {
                        return Err(format!(
                            "group {g} active on both nodes since {since} while connected since {c} (bound {})",
                            self.heal_bound
                        ));
                    }
                }
            } else {
                self.both_since[g] = None;
            }
        }
        Ok(())
    }

    pub fn tail(&self, n: usize) -> String {
        let start = self.trace.len().saturating_sub(n);
        self.trace[start..].join("\n")
    }
}
