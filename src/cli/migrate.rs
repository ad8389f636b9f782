//! `hbd migrate`: the hbd.toml equivalent of a legacy ha.d directory (or of an
//! hbd.toml, moved elsewhere). The result starts as the source does: the
//! source's `resource.d` stays in the script search path, authkeys is named by
//! its absolute path, and what the TOML form has no place for is listed in a
//! comment with the reason. Facts of this host count as in `hbd check`: errors
//! on a node of the pair, warnings elsewhere (a host that is not a node, or
//! `--node OTHER`, or `--portable`). Diagnostics go to stderr; on an error
//! nothing is written, and `-o FILE` replaces FILE atomically, so a failed
//! migration never leaves an empty or half-written config behind.
use super::ConfigPath;
use hbd::config::{load, local_node_name, to_toml, LoadOptions, Loaded, Purpose};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Write the TOML to FILE (replaced atomically, only on success) instead
    /// of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The node to check as (default: this host, when it is a node of the
    /// pair; else no node, as with --portable).
    #[arg(long)]
    pub node: Option<String>,
    /// Migrate for any host: facts of this host only warn.
    #[arg(long)]
    pub portable: bool,
}

/// Loads as `check` would; on a host that is not a node of the pair (and no
/// `--node`), portably, saying so.
fn load_for_migrate(args: &Args) -> Loaded {
    let opts = |node: Option<String>, purpose| LoadOptions { node, purpose };
    if args.portable || args.node.is_some() {
        let purpose = if args.portable {
            Purpose::Portable
        } else {
            Purpose::Check
        };
        return load(&args.config.path, &opts(args.node.clone(), purpose));
    }
    let portable = load(&args.config.path, &opts(None, Purpose::Portable));
    let here = local_node_name(None);
    let is_node = portable
        .config
        .as_ref()
        .is_some_and(|c| here.as_ref().is_some_and(|h| c.nodes.contains(h)));
    if is_node {
        return load(&args.config.path, &opts(None, Purpose::Check));
    }
    if portable.config.is_some() {
        eprintln!(
            "hbd migrate: this host ({}) is not a node of this pair: facts of this host are only warnings; run `hbd check` on each node",
            here.as_deref().unwrap_or("name unknown")
        );
    }
    portable
}

/// Writes `text` to `path` through a temporary file in the same directory
/// (mode `mode`), synced, then renamed over `path`.
fn write_atomically(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("is not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn run(args: Args) -> ExitCode {
    let loaded = load_for_migrate(&args);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    let Some(c) = &loaded.config else {
        eprintln!(
            "hbd migrate: {} has errors; fix them first (`hbd check -c {}`); nothing was written",
            args.config.path.display(),
            args.config.path.display()
        );
        return ExitCode::from(1);
    };
    // The source's resource.d goes on being searched wherever the TOML lands.
    let mut c = c.clone();
    let here = loaded.config_dir.join("resource.d");
    let here = std::path::absolute(&here).unwrap_or(here);
    if !c.hbd.resource_dirs.contains(&here) {
        c.hbd.resource_dirs.insert(0, here);
    }
    let text = to_toml(&c, loaded.local_node.as_deref());
    match &args.output {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => {
            // Inline keys make the file a secret; an authkeys path does not.
            let mode = if c.origins.contains_key("authkeys") {
                0o644
            } else {
                0o600
            };
            match write_atomically(path, &text, mode) {
                Ok(()) => {
                    eprintln!("hbd migrate: wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hbd migrate: cannot write {}: {e}", path.display());
                    ExitCode::from(1)
                }
            }
        }
    }
}
