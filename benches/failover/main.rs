//! The failover benchmark: hbd, heartbeat 3.0.6 and keepalived side by
//! side in one namespace lab, one run (docs/benchmarks.md).
//!
//! `cargo bench --bench failover -- run` (root) measures crash to service,
//! link cut to service, takeover overhead, planned switchover and idle cost
//! at each keepalive/deadtime setting, prints the table and writes it to
//! BENCHMARKS.md; `soak` and `serial` are the long-running checks;
//! `service` kills the service on a live node (hbd's monitor against
//! keepalived's vrrp_script); `ipv6` is `run` with an IPv6 floating address
//! and hbd's convergence check; `moonshot` is hbd at 10 ms / 40 ms.
#![deny(unsafe_code)]

mod cluster;
mod family;
mod measure;
mod moonshot;
mod phases;
mod probe;
mod relay;
mod report;
mod service;
mod soak;

use clap::{Parser, Subcommand};
use cluster::{Daemon, Family, Setting};
use measure::Fault;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The bench's time zero (log stamps are seconds since it).
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

#[derive(Parser, Debug)]
#[command(
    name = "failover",
    about = "hbd vs heartbeat 3.0.6 vs keepalived, in a namespace lab (root)"
)]
struct Cli {
    /// Without one, the help is printed (so that `cargo test --all-targets`,
    /// which runs this bench without arguments, passes without root).
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// apt-get install the Debian packages the lab needs when missing.
    #[arg(long, global = true)]
    install: bool,
    /// The hbd binary (default: the one cargo built for this bench).
    #[arg(long, global = true)]
    hbd: Option<PathBuf>,
    /// Where the results go (BENCHMARKS.md; sections are replaced).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Failover times and idle cost at each setting, the table, BENCHMARKS.md.
    Run(RunArgs),
    /// Soak: false failovers under CPU load and packet loss.
    Soak(soak::SoakArgs),
    /// Serial link alone at 19200 baud: shortest deadtime without false failovers.
    Serial(soak::SerialArgs),
    /// A dead service on a live node: hbd's monitor restart against
    /// keepalived's vrrp_script moving the address.
    Service(service::ServiceArgs),
    /// An IPv6 floating address: crash to service over IPv6 (hbd's
    /// IPv6addr against keepalived's IPv6 VRRP instance) and hbd's
    /// convergence check, in its own BENCHMARKS.md section.
    Ipv6(Ipv6Args),
    /// The moonshot: 10 ms / 40 ms over ucast and serial at 115200 baud
    /// with compact_serial: crash to service and a soak under load and
    /// loss, in its own BENCHMARKS.md section.
    Moonshot(moonshot::MoonshotArgs),
    /// Rewrites the targets section of BENCHMARKS.md from the last run's
    /// target/bench/failover.json (no measuring).
    Targets,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Runs per cell and per fault (the issue asks for at least 10).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// keepalive/deadtime settings.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1s/3s,200ms/1s,50ms/250ms,20ms/100ms"
    )]
    settings: Vec<String>,
    /// Daemons to measure (hbd, heartbeat, keepalived).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hbd,heartbeat,keepalived"
    )]
    daemons: Vec<String>,
    /// Faults (crash, cut, switch).
    #[arg(long, value_delimiter = ',', default_value = "crash,cut,switch")]
    faults: Vec<String>,
    /// Idle window in seconds at each setting (0: skip).
    #[arg(long, default_value_t = 60)]
    idle: u64,
    /// The client's GET period in ms.
    #[arg(long, default_value_t = 10)]
    probe_ms: u64,
    /// The client's connect and answer timeout in ms.
    #[arg(long, default_value_t = 50)]
    probe_timeout_ms: u64,
    /// The client's next GET after one that failed, in ms.
    #[arg(long, default_value_t = 1)]
    probe_retry_ms: u64,
    /// How long a cluster may take to come up, in seconds.
    #[arg(long, default_value_t = 90)]
    startup_timeout: u64,
    /// Also measure hbd with keepalive = keepalived's advert interval at
    /// each setting (same deadtime): the "hbd at keepalived's interval"
    /// column. `--hbd-at-advert false` leaves it out.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    hbd_at_advert: bool,
    /// An hbd.toml `[hbd]` option for hbd (repeatable), e.g.
    /// builtin_ipaddr=true: hbd then runs on `hbd migrate`'s hbd.toml.
    #[arg(long = "hbd-option")]
    hbd_options: Vec<String>,
    /// The BENCHMARKS.md section to write (another name keeps the main
    /// table, e.g. for a run with --hbd-option).
    #[arg(long, default_value = "run")]
    section: String,
    /// Keep every cell's daemon logs in target/bench/logs (failed runs'
    /// logs are always kept).
    #[arg(long)]
    keep_logs: bool,
    /// A note added to BENCHMARKS.md (e.g. why fewer than 10 runs).
    #[arg(long)]
    note: Option<String>,
}

#[derive(clap::Args, Debug)]
struct Ipv6Args {
    /// Runs per cell.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// keepalive/deadtime settings.
    #[arg(long, value_delimiter = ',', default_value = "200ms/1s,20ms/100ms")]
    settings: Vec<String>,
    /// Daemons to measure (hbd, keepalived; heartbeat 3.0.6 is not in the
    /// default: see docs/benchmarks.md).
    #[arg(long, value_delimiter = ',', default_value = "hbd,keepalived")]
    daemons: Vec<String>,
    /// Faults (crash, cut, switch).
    #[arg(long, value_delimiter = ',', default_value = "crash")]
    faults: Vec<String>,
    /// hbd's `[hbd.announce] verify` targets (IPv6 addresses of the service
    /// LAN; default: the client's).
    #[arg(long, value_delimiter = ',', default_value = family::CLIENT6)]
    verify: Vec<String>,
    /// The client's GET period in ms.
    #[arg(long, default_value_t = 10)]
    probe_ms: u64,
    /// The client's connect and answer timeout in ms.
    #[arg(long, default_value_t = 50)]
    probe_timeout_ms: u64,
    /// The client's next GET after one that failed, in ms.
    #[arg(long, default_value_t = 1)]
    probe_retry_ms: u64,
    /// How long a cluster may take to come up, in seconds.
    #[arg(long, default_value_t = 90)]
    startup_timeout: u64,
    /// The BENCHMARKS.md section to write.
    #[arg(long, default_value = "ipv6")]
    section: String,
    /// Keep every cell's daemon logs in target/bench/logs.
    #[arg(long)]
    keep_logs: bool,
    /// A note added to BENCHMARKS.md.
    #[arg(long)]
    note: Option<String>,
}

/// What the measurements need, resolved from the arguments.
#[derive(Clone)]
pub struct Opts {
    pub runs: usize,
    pub idle_s: u64,
    pub probe_ms: u64,
    pub probe_retry_ms: u64,
    pub probe_timeout_ms: u64,
    pub startup_timeout_s: u64,
    pub faults: Vec<Fault>,
    pub keep_logs: bool,
    pub hbd_options: Vec<String>,
    /// The body of an `[hbd.announce]` table for hbd (hbd then runs on
    /// `hbd migrate`'s hbd.toml), e.g. `verify = [...]`.
    pub hbd_announce: Option<String>,
    pub family: Family,
    /// The heartbeat media (`run`: ucast and an unthrottled serial cable).
    pub media: cluster::Media,
    /// Also measure hbd at keepalived's advert interval ([`measure::HBD_ADVERT`]).
    pub advert_column: bool,
    pub hbd: PathBuf,
    pub repo: PathBuf,
}

/// Debian packages the lab runs, with a file each provides.
const NEEDS: [(&str, &str); 10] = [
    ("/usr/libexec/heartbeat/heartbeat", "heartbeat"),
    ("/usr/sbin/keepalived", "keepalived"),
    ("/usr/bin/stress-ng", "stress-ng"),
    ("/usr/sbin/nft", "nftables"),
    ("/usr/bin/socat", "socat"),
    ("/usr/bin/ip", "iproute2"),
    ("/usr/bin/arping", "iputils-arping"),
    ("/usr/bin/nsenter", "util-linux"),
    ("/usr/sbin/ifconfig", "net-tools"),
    ("/usr/bin/curl", "curl"),
];

fn missing_packages() -> Vec<&'static str> {
    let mut v: Vec<&str> = NEEDS
        .iter()
        .filter(|(f, _)| {
            !Path::new(f).exists() && !Path::new(&f.replace("/usr/bin", "/bin")).exists()
        })
        .map(|(_, p)| *p)
        .collect();
    v.dedup();
    v
}

fn preflight(install: bool) -> Result<(), String> {
    if !testkit::skip::is_root() {
        return Err("the failover bench builds network namespaces, moves addresses and \
                    starts HA daemons: run it as root (e.g. sudo -E cargo bench --bench failover -- run)"
            .into());
    }
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    if !install {
        return Err(format!(
            "missing Debian packages; install them with:\n  apt-get install -y {}\n(or pass --install)",
            missing.join(" ")
        ));
    }
    eprintln!("installing {}", missing.join(" "));
    let ok = std::process::Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let still = missing_packages();
    if ok && still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "apt-get install failed; still missing: {}",
            still.join(" ")
        ))
    }
}

/// Replaces the section `name` of the results file (kept between markers),
/// leaving the others.
pub fn write_section(out: &Path, name: &str, body: &str) {
    let start = format!("<!-- bench:{name} -->");
    let end = format!("<!-- /bench:{name} -->");
    let old = std::fs::read_to_string(out).unwrap_or_else(|_| {
        "# hbd benchmarks\n\nWritten by `cargo bench --bench failover` (see docs/benchmarks.md); do not edit by hand.\n\n"
            .to_string()
    });
    let block = format!("{start}\n{body}\n{end}");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &old[..a], block, &old[b + end.len()..]),
        _ => format!("{}\n{block}\n", old.trim_end()),
    };
    if let Err(e) = std::fs::write(out, new) {
        eprintln!("cannot write {}: {e}", out.display());
    } else {
        eprintln!("wrote the {name} section of {}", out.display());
    }
}

/// `--settings` and `--daemons`, or the exit code of a bad one.
fn parse_cells(
    settings_arg: &[String],
    daemons_arg: &[String],
) -> Result<(Vec<Setting>, Vec<Daemon>), ExitCode> {
    let mut settings = Vec::new();
    for s in settings_arg {
        match Setting::parse(s) {
            Some(v) => settings.push(v),
            None => {
                eprintln!("--settings: {s:?} is not KEEPALIVE/DEADTIME (e.g. 200ms/1s), deadtime > keepalive");
                return Err(ExitCode::from(2));
            }
        }
    }
    let mut daemons = Vec::new();
    for d in daemons_arg {
        match Daemon::parse(d) {
            Some(v) => daemons.push(v),
            None => {
                eprintln!("--daemons: {d:?} is not hbd, heartbeat or keepalived");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok((settings, daemons))
}

/// Every cell, setting by setting: every daemon at one setting, then the
/// next, so a machine slowing down during the run weighs on all alike.
fn measure_all(settings: &[Setting], daemons: &[Daemon], o: &Opts) -> Vec<measure::Cell> {
    let mut cells = Vec::new();
    for s in settings {
        for d in daemons {
            let c = measure::cell(*d, *s, o);
            cells.push(c);
            // Keep what was measured even if a later cell hangs.
            save_json(&cells, o.family);
            if *d == Daemon::Hbd && o.advert_column {
                cells.push(advert_cell(*s, o));
                save_json(&cells, o.family);
            }
        }
    }
    cells
}

/// hbd at the setting's deadtime with keepalive = keepalived's advert
/// interval: the same detection time and the same interval as keepalived.
/// The planned switchover does not depend on the interval and is left out.
fn advert_cell(s: Setting, o: &Opts) -> measure::Cell {
    let at = s.at_vrrp_advert();
    let mut o = o.clone();
    o.faults.retain(|f| *f != Fault::Switch);
    eprintln!("== hbd at keepalived's interval for {s}: {at}");
    let mut c = measure::cell(Daemon::Hbd, at, &o);
    c.daemon = measure::HBD_ADVERT.to_string();
    c.setting = s.to_string();
    c
}

fn run(a: RunArgs, o: Opts, out: &Path) -> ExitCode {
    let (settings, daemons) = match parse_cells(&a.settings, &a.daemons) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let t0 = Instant::now();
    let cells = measure_all(&settings, &daemons, &o);
    let names: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    let table = report::table(&cells, &names);
    println!("\n{table}");
    let profile = report::profile(&cells);
    println!("{profile}");
    let mut body = String::new();
    body += if a.section == "run" {
        "## Failover and idle cost\n\n".to_string()
    } else {
        format!("## Failover and idle cost: {}\n\n", a.section)
    }
    .as_str();
    body += &format!(
        "Command: `cargo bench --bench failover -- run --runs {} --idle {}{}{}{}{}{}{}` (root), {:.0} minutes.\n\n",
        o.runs,
        o.idle_s,
        if o.advert_column { "" } else { " --hbd-at-advert false" },
        if a.settings.len() == 4 { String::new() } else { format!(" --settings {}", a.settings.join(",")) },
        if a.daemons.len() == 3 { String::new() } else { format!(" --daemons {}", a.daemons.join(",")) },
        if a.faults.len() == 3 { String::new() } else { format!(" --faults {}", a.faults.join(",")) },
        o.hbd_options
            .iter()
            .map(|h| format!(" --hbd-option {h}"))
            .collect::<String>(),
        if a.section == "run" { String::new() } else { format!(" --section {:?}", a.section) },
        t0.elapsed().as_secs_f64() / 60.0
    );
    body += &report::machine();
    body += "\n";
    if o.runs < 10 {
        body += &format!(
            "**{} runs per cell, fewer than the 10 the issue asks for**: the whole run had to fit in one working session.\n\n",
            o.runs
        );
    }
    if let Some(n) = &a.note {
        body += &format!("Note: {n}\n\n");
    }
    body += "Medians, (min–max) and the number of runs; ratios are of the medians. \
             Times are from the fault to the first HTTP answer from the survivor at the floating address, \
             seen by a client in its own namespace (a GET every ";
    body += &format!(
        "{} ms, {} ms after a failed one, {} ms timeout).",
        o.probe_ms, o.probe_retry_ms, o.probe_timeout_ms
    );
    if o.advert_column {
        body += " \"hbd at keepalived's interval\" is hbd with keepalive = keepalived's advert \
                 interval at that setting and the same deadtime (the same detection time and the same \
                 interval as keepalived); the main hbd column keeps heartbeat's customary keepalive of \
                 deadtime/5 (docs/benchmarks.md, \"What the interval is worth\").";
    }
    body += "\n\n";
    body += &table;
    body += "\n### hbd against the issue's targets\n\n";
    body += &report::targets(&cells);
    body += "\n### Where hbd's takeover time goes\n\n";
    body += &profile;
    let fails: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.failures
                .iter()
                .map(move |f| format!("- {} {}: {f}", c.daemon, c.setting))
        })
        .collect();
    if !fails.is_empty() {
        body += "\n### Failed runs\n\n";
        body += &fails.join("\n");
        body += "\n";
    }
    let notes: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.notes
                .iter()
                .map(move |f| format!("- {} {}: {f}", c.daemon, c.setting))
        })
        .collect();
    if !notes.is_empty() {
        body += "\n### Measured runs after which the pair settled differently\n\n";
        body += &notes.join("\n");
        body += "\n";
    }
    write_section(out, &a.section, &body);
    ExitCode::SUCCESS
}

fn parse_faults(names: &[String]) -> Result<Vec<Fault>, ExitCode> {
    let mut faults = Vec::new();
    for f in names {
        faults.push(match f.as_str() {
            "crash" => Fault::Crash,
            "cut" => Fault::Cut,
            "switch" => Fault::Switch,
            other => {
                eprintln!("--faults: {other:?} is not crash, cut or switch");
                return Err(ExitCode::from(2));
            }
        });
    }
    Ok(faults)
}

/// The `ipv6` mode: the run's cells with an IPv6 floating address, and
/// their table (with hbd's convergence) in a section of its own.
fn ipv6(a: Ipv6Args, o: Opts, out: &Path) -> ExitCode {
    let (settings, daemons) = match parse_cells(&a.settings, &a.daemons) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let t0 = Instant::now();
    let cells = measure_all(&settings, &daemons, &o);
    let names: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    let table = report::ipv6_table(&cells, &names);
    println!("\n{table}");
    let mut body = String::from("## IPv6 floating address\n\n");
    body += &format!(
        "Command: `cargo bench --bench failover -- ipv6 --runs {}{}{}{}{}{}` (root), {:.0} minutes.\n\n",
        o.runs,
        if a.settings.join(",") == "200ms/1s,20ms/100ms" { String::new() } else { format!(" --settings {}", a.settings.join(",")) },
        if a.daemons.join(",") == "hbd,keepalived" { String::new() } else { format!(" --daemons {}", a.daemons.join(",")) },
        if a.faults.join(",") == "crash" { String::new() } else { format!(" --faults {}", a.faults.join(",")) },
        if a.verify.join(",") == family::CLIENT6 { String::new() } else { format!(" --verify {}", a.verify.join(",")) },
        if a.section == "ipv6" { String::new() } else { format!(" --section {:?}", a.section) },
        t0.elapsed().as_secs_f64() / 60.0
    );
    body += &report::machine();
    body += "\n";
    if o.runs < 10 {
        body += &format!("**{} runs per cell, fewer than 10.**\n\n", o.runs);
    }
    if let Some(n) = &a.note {
        body += &format!("Note: {n}\n\n");
    }
    body += &report::ipv6_intro(&o, &a.verify);
    body += &table;
    let lists = [
        (
            "Failed runs",
            cells.iter().map(|c| (c, &c.failures)).collect::<Vec<_>>(),
        ),
        (
            "Measured runs after which the pair settled differently",
            cells.iter().map(|c| (c, &c.notes)).collect(),
        ),
        (
            "Crash runs without a convergence report",
            cells.iter().map(|c| (c, &c.converge_missing)).collect(),
        ),
    ];
    for (title, per_cell) in lists {
        let lines: Vec<String> = per_cell
            .iter()
            .flat_map(|(c, v)| {
                v.iter()
                    .map(move |f| format!("- {} {}: {f}", c.daemon, c.setting))
            })
            .collect();
        if !lines.is_empty() {
            body += &format!("\n### {title}\n\n{}\n", lines.join("\n"));
        }
    }
    write_section(out, &a.section, &body);
    ExitCode::SUCCESS
}

/// The raw numbers: failover.json for `run` (what `targets` reads),
/// failover-ipv6.json for the `ipv6` mode.
fn save_json(cells: &[measure::Cell], family: Family) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let name = match family {
        Family::V4 => "failover.json",
        Family::V6 => "failover-ipv6.json",
    };
    if let Ok(j) = serde_json::to_string_pretty(cells) {
        let _ = std::fs::write(dir.join(name), j);
    }
}

fn main() -> ExitCode {
    epoch();
    // cargo bench appends --bench to a harness-less bench's arguments.
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.len() == 1 {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let Some(cmd) = cli.cmd else {
        eprintln!(
            "failover bench: a sub-command is needed: run, ipv6, soak, serial, service, moonshot or targets (see --help)"
        );
        return ExitCode::from(2);
    };
    let measures = !matches!(cmd, Cmd::Targets);
    if measures {
        if let Err(e) = preflight(cli.install) {
            eprintln!("failover bench: {e}");
            return ExitCode::from(2);
        }
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let hbd = cli
        .hbd
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hbd")));
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| repo.join("BENCHMARKS.md"));
    match cmd {
        Cmd::Run(a) => {
            let faults = match parse_faults(&a.faults) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let o = Opts {
                runs: a.runs,
                idle_s: a.idle,
                probe_ms: a.probe_ms.max(1),
                probe_retry_ms: a.probe_retry_ms.max(1),
                probe_timeout_ms: a.probe_timeout_ms.max(1),
                startup_timeout_s: a.startup_timeout,
                faults,
                keep_logs: a.keep_logs,
                hbd_options: a.hbd_options.clone(),
                hbd_announce: None,
                family: Family::V4,
                media: cluster::Media::Both,
                advert_column: a.hbd_at_advert,
                hbd,
                repo,
            };
            run(a, o, &out)
        }
        Cmd::Ipv6(a) => {
            let faults = match parse_faults(&a.faults) {
                Ok(f) => f,
                Err(code) => return code,
            };
            for t in &a.verify {
                if t.parse::<std::net::Ipv6Addr>().is_err() {
                    eprintln!("--verify: {t:?} is not an IPv6 address");
                    return ExitCode::from(2);
                }
            }
            let targets: Vec<String> = a.verify.iter().map(|t| format!("{t:?}")).collect();
            let o = Opts {
                runs: a.runs,
                idle_s: 0,
                probe_ms: a.probe_ms.max(1),
                probe_retry_ms: a.probe_retry_ms.max(1),
                probe_timeout_ms: a.probe_timeout_ms.max(1),
                startup_timeout_s: a.startup_timeout,
                faults,
                keep_logs: a.keep_logs,
                hbd_options: Vec::new(),
                hbd_announce: (!targets.is_empty())
                    .then(|| format!("verify = [{}]", targets.join(", "))),
                family: Family::V6,
                media: cluster::Media::Both,
                advert_column: false,
                hbd,
                repo,
            };
            ipv6(a, o, &out)
        }
        Cmd::Soak(a) => soak::soak(a, &hbd, &repo, &out),
        Cmd::Serial(a) => soak::serial(a, &hbd, &repo, &out),
        Cmd::Service(a) => service::service(a, &hbd, &repo, &out),
        Cmd::Moonshot(a) => moonshot::moonshot(a, &hbd, &repo, &out),
        Cmd::Targets => {
            let path = repo.join("target/bench/failover.json");
            let cells: Vec<measure::Cell> = match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::from(1);
                }
            };
            let t = report::targets(&cells);
            println!("{t}");
            write_section(
                &out,
                "targets",
                &format!("## hbd against the issue's targets (last run)\n\n{t}"),
            );
            ExitCode::SUCCESS
        }
    }
}
