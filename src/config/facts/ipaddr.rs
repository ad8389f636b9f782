//! What decides, on this host, whether an `IPaddr`/`IPaddr2` resource runs
//! built in or by its script (`config::ipaddr_runner` decides): which script
//! the search path finds and whether it is hbd's own agent, and the agents'
//! env file.

use super::scripts::resolve_script;
use crate::config::ipaddr_runner::{decide, Agent, AgentsConf, Choice};
use crate::config::model::{Config, Resource};
use std::path::Path;

/// hbd's agents as this build ships them: the built-in address reproduces
/// these, so only they may be replaced by it.
const IPADDR: &[u8] = include_bytes!("../../../resource.d/IPaddr");
const IPADDR2: &[u8] = include_bytes!("../../../resource.d/IPaddr2");
const SOURCED: [(&str, &[u8]); 2] = [
    (
        ".hbd-functions",
        include_bytes!("../../../resource.d/.hbd-functions"),
    ),
    (
        ".hbd-ip-functions",
        include_bytes!("../../../resource.d/.hbd-ip-functions"),
    ),
];

/// The script `name` resolves to here, and whether it is hbd's agent: the
/// file and the function files it sources from its own (symlink-resolved)
/// directory, byte for byte.
pub fn ip_agent(config_dir: &Path, cfg: &Config, name: &str) -> Agent {
    let Some(path) = resolve_script(config_dir, &cfg.hbd, name) else {
        return Agent::Missing;
    };
    let want = match name {
        "IPaddr" => IPADDR,
        "IPaddr2" => IPADDR2,
        _ => return Agent::Other(path),
    };
    let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let same = |p: &Path, bytes: &[u8]| std::fs::read(p).is_ok_and(|b| b == bytes);
    let dir = real.parent().unwrap_or(Path::new("/"));
    if same(&real, want) && SOURCED.iter().all(|(f, b)| same(&dir.join(f), b)) {
        Agent::Hbd(path)
    } else {
        Agent::Other(path)
    }
}

/// `<config_dir>/hbd-agents.conf` (the agents' `$HA_DIR`) as they read it,
/// refused as they refuse it: not owned by root, or writable by others.
pub fn agents_conf(config_dir: &Path) -> AgentsConf {
    use std::os::unix::fs::MetadataExt;
    let file = config_dir.join("hbd-agents.conf");
    let Ok(meta) = std::fs::metadata(&file) else {
        return AgentsConf {
            file,
            ..AgentsConf::default()
        };
    };
    let text = std::fs::read(&file)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut conf = AgentsConf::parse(file, &text);
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        conf.refused = Some(format!(
            "owner uid {}, mode {:o}: it must be owned by root and not writable by group or others",
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    conf
}

/// Who runs `r` on this host, with `cfg` read from `config_dir`; None when
/// `r` is not an IPv4 `IPaddr`/`IPaddr2`. Reads the script and the env file
/// only under `"auto"` (and `true`, to say what differs).
pub fn ipaddr_runner(cfg: &Config, config_dir: &Path, r: &Resource) -> Option<Choice> {
    use crate::config::ipaddr_runner::applies;
    use crate::config::model::BuiltinIpaddr;
    if !applies(r) {
        return None;
    }
    let (agent, conf) = match cfg.hbd.builtin_ipaddr {
        // The script runs whatever it is: only its path is of interest.
        BuiltinIpaddr::Never => (
            resolve_script(config_dir, &cfg.hbd, &r.name).map_or(Agent::Missing, Agent::Other),
            AgentsConf::default(),
        ),
        _ => (ip_agent(config_dir, cfg, &r.name), agents_conf(config_dir)),
    };
    decide(cfg.hbd.builtin_ipaddr, r, &cfg.hbd.announce, &agent, &conf)
}
