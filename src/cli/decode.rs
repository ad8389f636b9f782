//! `hbd decode`: an operator's dissector for one heartbeat packet (or a raw
//! serial capture). Prints the form, every field, both auth tokens and the
//! verdict. Exit 0 valid, 1 bad MAC / unknown key / unsigned, 2 malformed or
//! unusable input.
use hbd::config::{authkeys, Auth};
use hbd::wire::{self, classic, Field, FieldType, Inspection, Verdict};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// authkeys file whose keys verify the packet (a loose mode is only a warning here).
    #[arg(long, value_name = "FILE")]
    authkeys: PathBuf,
    /// The packet (one UDP payload or one serial frame); `-` or absent reads stdin.
    #[arg(value_name = "PACKET_FILE")]
    packet: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The input is a raw serial stream: decode every `>>>` … `<<<` frame (and
    /// every hbd compact `~s `/`~k ` line) in it.
    #[arg(long)]
    raw_serial: bool,
}

pub fn run(args: Args) -> ExitCode {
    let auth = match load_keys(&args.authkeys) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hbd decode: {e}");
            return ExitCode::from(2);
        }
    };
    let mut bytes = Vec::new();
    let read = match args.packet.as_deref() {
        None => std::io::stdin().read_to_end(&mut bytes).map(|_| ()),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut bytes).map(|_| ()),
        Some(p) => std::fs::read(p).map(|b| bytes = b),
    };
    if let Err(e) = read {
        let what = args
            .packet
            .as_deref()
            .map_or("stdin".into(), |p| p.display().to_string());
        eprintln!("hbd decode: cannot read {what}: {e}");
        return ExitCode::from(2);
    }
    let packets: Vec<&[u8]> = if args.raw_serial {
        split_serial(&bytes)
    } else {
        vec![&bytes]
    };
    if packets.is_empty() {
        eprintln!("hbd decode: no >>> … <<< frame in the serial stream");
        return ExitCode::from(2);
    }
    let mut worst = 0u8;
    let mut json = Vec::new();
    for (n, p) in packets.iter().enumerate() {
        let (report, code) = describe(p, &auth);
        worst = worst.max(code);
        if args.json {
            json.push(report);
        } else {
            if packets.len() > 1 {
                println!("--- frame {} ---", n + 1);
            }
            print_text(&report);
        }
    }
    if args.json {
        let v = if args.raw_serial {
            serde_json::Value::Array(json)
        } else {
            json.pop().unwrap_or_default()
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    ExitCode::from(worst)
}

fn load_keys(path: &std::path::Path) -> Result<Auth, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o066 != 0 {
            // A dissector may read a copy of the keys; the daemon would refuse it.
            eprintln!(
                "{}: warning: mode {mode:03o} would be refused by `hbd run` (chmod 600)",
                path.display()
            );
        }
    }
    let (auth, diags) = authkeys::parse(&text, path);
    for d in &diags {
        eprintln!("{d}");
    }
    if diags.iter().any(|d| d.is_error()) {
        return Err(format!("{} is not usable", path.display()));
    }
    Ok(auth)
}

/// Every `>>>\n` … `<<<\n` frame, skipping garbage between them as the serial
/// reader resynchronises on the start marker.
fn split_serial(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &bytes[pos..];
        let (s, c) = (find(rest, classic::START), wire::compact::find_start(rest));
        if let Some(c) = c.filter(|&c| s.map_or(true, |s| c < s)) {
            // hbd's compact frame: one line.
            let start = pos + c;
            let end = find(&bytes[start..], b"\n").map_or(bytes.len(), |e| start + e + 1);
            out.push(&bytes[start..end]);
            pos = end;
            continue;
        }
        let Some(s) = s else { break };
        let start = pos + s;
        match find(&bytes[start..], b"\n<<<\n") {
            Some(e) => {
                let end = start + e + 5;
                out.push(&bytes[start..end]);
                pos = end;
            }
            None => {
                out.push(&bytes[start..]);
                break;
            }
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Bytes as a quoted string: printable ASCII as is, the rest escaped.
fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "string",
        FieldType::Binary => "binary",
        FieldType::Struct => "struct",
        FieldType::List => "list",
        FieldType::Compress => "compress",
    }
}

fn field_json(f: &Field) -> serde_json::Value {
    use base64::Engine as _;
    let mut v = serde_json::json!({ "name": f.name, "type": type_name(f.ftype) });
    match (f.ftype, std::str::from_utf8(&f.value)) {
        (FieldType::String, Ok(s)) => v["value"] = s.into(),
        _ => {
            v["hex"] = hex(&f.value).into();
            v["base64"] = base64::engine::general_purpose::STANDARD
                .encode(&f.value)
                .into();
        }
    }
    v
}

/// A JSON report of one packet and its exit code.
fn describe(bytes: &[u8], auth: &Auth) -> (serde_json::Value, u8) {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match wire::inspect(bytes, auth) {
        Err(e) => (
            serde_json::json!({
                "format": wire::Format::detect(bytes).map(|f| f.name()),
                "length": bytes.len(),
                "verdict": "malformed",
                "error": e.to_string(),
            }),
            2,
        ),
        Ok(i) => {
            let Inspection {
                format,
                message,
                trailer,
                inner,
                verdict,
            } = i;
            let code = match verdict {
                Verdict::Ok => 0,
                Verdict::Malformed => 2,
                _ => 1,
            };
            let checked = match format {
                wire::Format::Netstring => "trailer",
                wire::Format::Classic => "inner auth field",
                wire::Format::Compact => "compact token",
            };
            let mut v = serde_json::json!({
                "format": format.name(),
                "length": bytes.len(),
                "fields": message.fields().iter().map(field_json).collect::<Vec<_>>(),
                "trailer": trailer.map(lossy),
                "inner_auth": inner.as_deref().map(lossy),
                "checked": checked,
                "verdict": verdict.name(),
            });
            if let Verdict::UnknownKey(n) = verdict {
                v["key_index"] = n.into();
            }
            (v, code)
        }
    }
}

fn print_text(v: &serde_json::Value) {
    let s = |k: &str| v[k].as_str().map(str::to_string);
    println!(
        "format: {} ({} bytes)",
        s("format").unwrap_or_else(|| "unknown".into()),
        v["length"]
    );
    if let Some(fields) = v["fields"].as_array() {
        println!("fields: {}", fields.len());
        for f in fields {
            let name = f["name"].as_str().unwrap_or_default();
            let ty = f["type"].as_str().unwrap_or_default();
            match (ty, f["value"].as_str()) {
                ("string", Some(val)) => println!("  {name} = {}", escape(val.as_bytes())),
                _ => {
                    let h = f["hex"].as_str().unwrap_or_default();
                    println!(
                        "  {name} ({ty}, {} bytes) = {h} (base64 {})",
                        h.len() / 2,
                        f["base64"].as_str().unwrap_or_default()
                    );
                }
            }
        }
    }
    if let Some(t) = s("trailer") {
        println!("trailer: {t}");
    }
    if let Some(t) = s("inner_auth") {
        println!("inner auth: {t}");
    }
    match (s("verdict").as_deref(), s("error")) {
        (Some("malformed"), Some(e)) => println!("verdict: malformed: {e}"),
        (Some(verdict), _) => {
            let extra = match (verdict, v["key_index"].as_u64()) {
                ("unknown_key", Some(n)) => format!(" (key {n} is not in authkeys)"),
                _ => String::new(),
            };
            println!(
                "verdict: {verdict}{extra} (checked: {})",
                s("checked").unwrap_or_default()
            );
        }
        _ => {}
    }
}
