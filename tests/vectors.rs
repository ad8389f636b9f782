//! Golden vectors: every datagram and serial frame the real heartbeat 3.0.6 wrote
//! in the lab (../shared/vectors/heartbeat-3.0.6), decoded, verified, re-encoded
//! to identical bytes and rejected with a byte flipped; the spec's §2.6 worked
//! example byte for byte; the `hbd decode` binary on a few of them; properties.

use hbd::config::{authkeys, Auth, MsgFmt};
use hbd::wire::{
    self, auth, classic, netstring, open, seal, Field, FieldType, Format, Message, Rejection,
    Transport, Verdict,
};
use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors_root() -> PathBuf {
    testkit::vectors().expect(
        "golden vectors missing: expected the lab captures in shared/vectors/heartbeat-3.0.6 \
         beside the repository or a parent of it (CI provides them)",
    )
}

struct Set {
    name: String,
    auth: Auth,
    udp: Vec<(PathBuf, Vec<u8>)>,
    serial: Vec<(PathBuf, Vec<u8>)>,
}

fn read_bins(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn sets() -> Vec<Set> {
    let root = vectors_root();
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("authkeys").is_file())
        .collect();
    dirs.sort();
    for d in dirs {
        let text = std::fs::read_to_string(d.join("authkeys")).unwrap();
        // parse, not load: the vector files may have loose modes.
        let (auth, diags) = authkeys::parse(&text, &d.join("authkeys"));
        assert!(
            diags.iter().all(|x| !x.is_error()),
            "{}: {diags:?}",
            d.display()
        );
        out.push(Set {
            name: d.file_name().unwrap().to_string_lossy().into_owned(),
            auth,
            udp: read_bins(&d.join("udp")),
            serial: read_bins(&d.join("serial")),
        });
    }
    assert_eq!(
        out.len(),
        4,
        "expected sha1, md5, crc, sha1-netstring in {}",
        root.display()
    );
    out
}

fn msgfmt_of(set: &Set) -> MsgFmt {
    if set.name.ends_with("netstring") {
        MsgFmt::Netstring
    } else {
        MsgFmt::Classic
    }
}

#[test]
fn every_udp_vector_decodes_verifies_and_reencodes_identically() {
    let mut count = 0;
    for set in sets() {
        assert!(set.udp.len() >= 200, "{}: too few udp vectors", set.name);
        for (path, bytes) in &set.udp {
            let d = netstring::decode(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let trailer = d.trailer.expect("3.0.6 always sends a trailer");
            assert_eq!(
                auth::verify(&set.auth, Some(trailer), &bytes[d.signed.clone()]),
                Verdict::Ok,
                "{}",
                path.display()
            );
            // msgfmt classic carries the inner auth field last; netstring does not.
            let last = d.message.fields().last().unwrap();
            match msgfmt_of(&set) {
                MsgFmt::Classic => assert_eq!(last.name, "auth", "{}", path.display()),
                MsgFmt::Netstring => assert!(d.message.get("auth").is_none()),
            }
            // Re-encode and re-sign: identical bytes.
            let mut again = netstring::encode(&d.message);
            let key = set.auth.send_key().unwrap();
            let tok = auth::token(set.auth.send_index, key, &again);
            netstring::push_trailer(&mut again, tok.as_bytes());
            assert_eq!(&again, bytes, "{}", path.display());
            // And seal() of the auth-less message gives the same bytes.
            let opened = open(bytes, &set.auth).unwrap();
            assert!(opened.get("auth").is_none());
            assert!(opened.get("src").is_some());
            let sealed = seal(&opened, &set.auth, Transport::Udp, msgfmt_of(&set));
            assert_eq!(&sealed, bytes, "seal {}", path.display());
            count += 1;
        }
    }
    assert!(count >= 800, "{count}");
}

/// Every message real heartbeat 3.0.6 sent reads as a typed message (none is
/// dropped as invalid), and the typed view agrees with the field list.
#[test]
fn every_vector_reads_as_a_typed_heartbeat_message() {
    use hbd::wire::repr::{Body, Kind};
    use hbd::wire::Repr;
    let mut types = std::collections::BTreeSet::new();
    for set in sets() {
        for (path, bytes) in set.udp.iter().chain(&set.serial) {
            let Ok(m) = open(bytes, &set.auth) else {
                continue; // serial captures may hold a cut frame (checked above)
            };
            let r = Repr::parse(m.clone()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(r.src, m.get("src").unwrap(), "{}", path.display());
            assert_eq!(Some(r.type_name()), m.msg_type());
            assert_eq!(r.generation, m.get_hex("hg").unwrap());
            assert_eq!(r.ts, m.get_hex("ts").unwrap());
            assert_eq!(r.seq(), m.get_hex("seq"), "{}", path.display());
            assert_eq!(r.dest.as_deref(), m.get("dest"));
            assert_eq!(r.srcuuid.as_deref(), m.get_binary("srcuuid"));
            // heartbeat writes its load average on every sequenced message
            // and on no control message: how hbd tells it from an hbd peer
            // (which is then never sent `hbd-config`, docs/wire.md).
            assert_eq!(
                r.load.is_some(),
                r.seq().is_some(),
                "{}: ld {:?}",
                path.display(),
                r.load
            );
            if let Kind::Sequenced {
                body: Body::Status { st, dt, .. },
                ..
            } = &r.kind
            {
                assert_eq!(st.as_deref(), m.get("st"));
                assert_eq!(*dt, m.get_hex("dt"));
            }
            assert!(
                !matches!(
                    r.kind,
                    Kind::Sequenced {
                        body: Body::Other(_),
                        ..
                    }
                ),
                "{}: hbd reads every type heartbeat sent here",
                path.display()
            );
            types.insert(r.type_name().to_string());
        }
    }
    assert!(types.len() >= 10, "{types:?}");
}

#[test]
fn every_serial_vector_decodes_verifies_and_reencodes_identically() {
    let mut count = 0;
    for set in sets() {
        assert!(
            set.serial.len() >= 200,
            "{}: too few serial vectors",
            set.name
        );
        for (path, bytes) in &set.serial {
            let m = classic::decode(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(classic::encode(&m), *bytes, "{}", path.display());
            let opened =
                open(bytes, &set.auth).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(opened.get("auth").is_none());
            assert_eq!(opened.len() + 1, m.len());
            // Serial is classic with the auth line whatever msgfmt says.
            for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
                let sealed = seal(&opened, &set.auth, Transport::Serial, fmt);
                assert_eq!(&sealed, bytes, "seal {}", path.display());
            }
            count += 1;
        }
    }
    assert!(count >= 800, "{count}");
}

/// A flip must never verify. Positions cover markers, lengths, names, values,
/// the uuid, the inner and outer digests and the last byte.
fn flip_positions(len: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..len).step_by(7).collect();
    p.extend([0, 1, 3, 4, 5, len / 2, len - 30, len - 10, len - 2, len - 1]);
    p.sort();
    p.dedup();
    p
}

fn assert_flips_fail(auth: &Auth, bytes: &[u8], label: &str) -> usize {
    let mut n = 0;
    for pos in flip_positions(bytes.len()) {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut b = bytes.to_vec();
            b[pos] ^= mask;
            match open(&b, auth) {
                Ok(m) => panic!("{label}: flip {mask:#x} at {pos} verified: {m:?}"),
                Err(Rejection::Malformed(_)) | Err(Rejection::BadMac) => {}
                // Flipping the index digit can name another (absent) key, or
                // turn the digit into a non-digit; both are refusals.
                Err(Rejection::UnknownKey(_)) | Err(Rejection::Unsigned) => {}
            }
            n += 1;
        }
    }
    n
}

#[test]
fn every_vector_with_one_byte_flipped_is_rejected() {
    let mut n = 0;
    for set in sets() {
        for (path, bytes) in set.udp.iter().chain(&set.serial) {
            n += assert_flips_fail(&set.auth, bytes, &path.display().to_string());
        }
    }
    assert!(n > 10_000, "{n}");
}

#[test]
fn every_position_and_bit_of_some_vectors_is_covered() {
    // Exhaustive single-bit flips over a few packets of each set and medium.
    for set in sets() {
        for (path, bytes) in set.udp.iter().take(2).chain(set.serial.iter().take(2)) {
            for pos in 0..bytes.len() {
                for bit in 0..8 {
                    let mut b = bytes.clone();
                    b[pos] ^= 1 << bit;
                    assert!(
                        open(&b, &set.auth).is_err(),
                        "{}: bit {bit} at {pos} verified",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn flips_inside_the_digests_give_bad_mac() {
    for set in sets() {
        let (path, bytes) = &set.udp[0];
        let outer = bytes.len() - 3; // a hex digit of the trailer
        let inner = bytes
            .windows(7)
            .position(|w| w == b"auth=1 ")
            .map(|p| p + 8);
        for pos in [Some(outer), inner].into_iter().flatten() {
            let mut b = bytes.clone();
            b[pos] = if b[pos] == b'0' { b'1' } else { b'0' };
            let got = open(&b, &set.auth);
            // The inner field is covered by the trailer: changing it is BadMac too.
            assert_eq!(got, Err(Rejection::BadMac), "{} at {pos}", path.display());
        }
        let (path, bytes) = &set.serial[0];
        let pos = bytes.len() - 6;
        let mut b = bytes.clone();
        b[pos] = if b[pos] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            open(&b, &set.auth),
            Err(Rejection::BadMac),
            "{}",
            path.display()
        );
    }
}

#[test]
fn udp_accepts_classic_with_and_without_nul() {
    for set in sets() {
        let (_, bytes) = &set.serial[3];
        let want = open(bytes, &set.auth).unwrap();
        let mut with_nul = bytes.clone();
        with_nul.push(0);
        assert_eq!(open(&with_nul, &set.auth).unwrap(), want);
        let mut two = with_nul.clone();
        two.push(0);
        assert!(matches!(
            open(&two, &set.auth),
            Err(Rejection::Malformed(_))
        ));
    }
}

#[test]
fn netstring_uses_the_key_its_index_names() {
    // Receiver sends with key 3 (crc) but knows key 1 (sha1): a packet signed
    // with key 1 verifies with key 1's secret (hbd's correct behaviour, §2.5).
    let set = &sets()[2];
    assert_eq!(set.name, "sha1");
    let mut auth = set.auth.clone();
    auth.keys.insert(
        3,
        hbd::config::AuthKey {
            method: hbd::config::AuthMethod::Crc,
            secret: hbd::config::Secret(Vec::new()),
        },
    );
    auth.send_index = 3;
    assert!(open(&set.udp[0].1, &auth).is_ok());
    // Without key 1 the index is unknown.
    auth.keys.remove(&1);
    assert_eq!(open(&set.udp[0].1, &auth), Err(Rejection::UnknownKey(1)));
    assert_eq!(open(&set.serial[0].1, &auth), Err(Rejection::UnknownKey(1)));
}

fn worked_example_auth(method: &str) -> Auth {
    let text = match method {
        "crc" => "auth 1\n1 crc\n".to_string(),
        m => format!("auth 1\n1 {m} SecretKey123\n"),
    };
    authkeys::parse(&text, Path::new("authkeys")).0
}

fn worked_example_message() -> Message {
    let mut m = Message::new();
    for (k, v) in [
        ("t", "status"),
        ("st", "active"),
        ("dt", "1770"),
        ("protocol", "1"),
        ("src", "node1"),
        ("seq", "2a"),
        ("hg", "65a1b2c0"),
        ("ts", "65a1b2c3"),
        ("ld", "0.00 0.01 0.05 1/123 4567"),
        ("ttl", "3"),
    ] {
        m.add(k, v);
    }
    m
}

#[test]
fn spec_worked_example_byte_for_byte() {
    let m = worked_example_message();
    let sha1 = worked_example_auth("sha1");
    let payload = b"###\n11:(0)t=status,12:(0)st=active,10:(0)dt=1770,13:(0)protocol=1,12:(0)src=node1,9:(0)seq=2a,14:(0)hg=65a1b2c0,14:(0)ts=65a1b2c3,31:(0)ld=0.00 0.01 0.05 1/123 4567,8:(0)ttl=3,50:(0)auth=1 8730ac4e0387a17aa2576c9011e489d7a11f50f9,%%%\n";
    let mut datagram = payload.to_vec();
    datagram.extend_from_slice(b"42:1 9ca64d2f75042680bfe8f486b06d0bb14fcf7f43,");
    assert_eq!(datagram.len(), 280);
    let sealed = seal(&m, &sha1, Transport::Udp, MsgFmt::Classic);
    assert_eq!(sealed, datagram);
    assert_eq!(open(&datagram, &sha1).unwrap(), m);

    // The same payload under md5 and crc.
    for (method, want) in [
        ("md5", "bd489ab1ba0292f13a5b9406df26279b"),
        ("crc", "a211dc16"),
    ] {
        let a = worked_example_auth(method);
        assert_eq!(
            auth::digest(a.send_key().unwrap(), payload),
            want,
            "{method}"
        );
    }

    // Serial: 170 bytes of classic text.
    let serial = seal(&m, &sha1, Transport::Serial, MsgFmt::Classic);
    let want = b">>>\nt=status\nst=active\ndt=1770\nprotocol=1\nsrc=node1\nseq=2a\nhg=65a1b2c0\nts=65a1b2c3\nld=0.00 0.01 0.05 1/123 4567\nttl=3\nauth=1 8730ac4e0387a17aa2576c9011e489d7a11f50f9\n<<<\n";
    assert_eq!(serial, want.to_vec());
    assert_eq!(serial.len(), 170);
    assert_eq!(open(&serial, &sha1).unwrap(), m);

    // With a binary uuid after src.
    let mut u = Message::new();
    for f in m.fields() {
        u.push(&f.name, f.ftype, f.value.clone());
        if f.name == "src" {
            u.add_binary("srcuuid", &(0u8..16).collect::<Vec<_>>());
        }
    }
    let mut text = Vec::new();
    classic::signed_text(&u, &mut text);
    let line = b"(1)srcuuid=AAECAwQFBgcICQoLDA0ODw==\n";
    assert!(text.windows(line.len()).any(|w| w == line));
    let sealed = seal(&u, &sha1, Transport::Udp, MsgFmt::Classic);
    let d = netstring::decode(&sealed).unwrap();
    assert_eq!(
        d.message.get("auth"),
        Some("1 731dd8922c4a161d7cbc0ff1b58a1bbfa78e8424")
    );
    assert_eq!(
        d.trailer,
        Some(&b"1 21743264bfad872bd2e58d740fdf7f7102f91c75"[..])
    );
    let mut raw = b"27:(1)srcuuid=".to_vec();
    raw.extend(0u8..16);
    assert!(sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
}

#[test]
fn msgfmt_netstring_omits_the_inner_field() {
    let m = worked_example_message();
    let sha1 = worked_example_auth("sha1");
    let sealed = seal(&m, &sha1, Transport::Udp, MsgFmt::Netstring);
    let d = netstring::decode(&sealed).unwrap();
    assert_eq!(d.message, m);
    assert_eq!(open(&sealed, &sha1).unwrap(), m);
}

#[test]
fn seal_without_the_outbound_key_is_empty_not_a_panic() {
    let mut a = worked_example_auth("sha1");
    a.send_index = 7;
    assert!(seal(
        &worked_example_message(),
        &a,
        Transport::Udp,
        MsgFmt::Classic
    )
    .is_empty());
    let mut bad = Message::new();
    bad.add("a=b", "x");
    let sha1 = worked_example_auth("sha1");
    assert!(matches!(
        wire::try_seal(&bad, &sha1, Transport::Serial, MsgFmt::Classic),
        Err(wire::SealError::Codec(_))
    ));
}

// ---- the real binary ----

fn hbd_decode(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hbd"))
        .arg("decode")
        .args(args)
        .output()
        .expect("run hbd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hbd_decode_agrees_with_the_vectors() {
    let root = vectors_root();
    let keys = root.join("sha1/authkeys");
    let keys = keys.to_str().unwrap();
    let udp = root.join("sha1/udp/0001_nodea_status.bin");
    let (code, out, err) = hbd_decode(&["--authkeys", keys, udp.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("format: netstring"), "{out}");
    assert!(out.contains("t = \"status\""), "{out}");
    assert!(out.contains("src = \"nodea\""), "{out}");
    assert!(out.contains("srcuuid (binary, 16 bytes) = "), "{out}");
    assert!(out.contains("verdict: ok"), "{out}");

    let (code, out, _) = hbd_decode(&["--authkeys", keys, "--json", udp.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "netstring");
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["fields"][0]["name"], "t");
    assert_eq!(v["fields"][0]["value"], "status");

    let serial = root.join("md5/serial/AtoB_0002_nodea_status.bin");
    let mdkeys = root.join("md5/authkeys");
    let (code, out, _) = hbd_decode(&[
        "--authkeys",
        mdkeys.to_str().unwrap(),
        serial.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("format: classic"), "{out}");

    // Wrong keys: bad MAC, exit 1.
    let (code, out, _) = hbd_decode(&["--authkeys", keys, serial.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: bad_mac"), "{out}");

    // Flipped byte in a value and garbage: exits 1 and 2.
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(&udp).unwrap();
    let p = b.windows(5).position(|w| w == b"nodea").unwrap();
    b[p] = b'm';
    let f = dir.path().join("flipped.bin");
    std::fs::write(&f, &b).unwrap();
    let (code, out, _) = hbd_decode(&["--authkeys", keys, f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("src = \"modea\""), "{out}");
    let g = dir.path().join("garbage.bin");
    std::fs::write(&g, b"###\n99999:(0)t=x,%%%\n").unwrap();
    let (code, out, err) = hbd_decode(&["--authkeys", keys, g.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("malformed"), "{out}");

    // Unusable authkeys: exit 2, and the loose mode of the lab copy is a warning.
    let (code, _, err) =
        hbd_decode(&["--authkeys", "/nonexistent/authkeys", udp.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/authkeys"), "{err}");
    let (_, _, err) = hbd_decode(&["--authkeys", keys, udp.to_str().unwrap()]);
    assert!(err.contains("would be refused by `hbd run`"), "{err}");
    let (code, out, _) = hbd_decode(&["--authkeys", keys, "--json", g.to_str().unwrap()]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "malformed");
    assert!(
        v["error"].as_str().unwrap().contains("runs past the end"),
        "{v}"
    );

    // Stdin.
    let out = Command::new(env!("CARGO_BIN_EXE_hbd"))
        .args(["decode", "--authkeys", keys, "-"])
        .stdin(std::fs::File::open(&udp).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn hbd_decode_raw_serial_splits_a_whole_capture() {
    let root = vectors_root();
    for dir in ["sha1", "crc"] {
        let keys = root.join(dir).join("authkeys");
        let stream = root.join(dir).join("serial.BtoA");
        let frames = std::fs::read_dir(root.join(dir).join("serial"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("BtoA_")
            })
            .count();
        let (code, out, err) = hbd_decode(&[
            "--authkeys",
            keys.to_str().unwrap(),
            "--raw-serial",
            "--json",
            stream.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), frames, "{dir}");
        assert!(arr
            .iter()
            .all(|f| f["verdict"] == "ok" && f["format"] == "classic"));
    }
    // Garbage before a frame is skipped; a cut-off last frame is malformed (exit 2).
    let dir = tempfile::tempdir().unwrap();
    let one = std::fs::read(root.join("sha1/serial/AtoB_0003_nodea_status.bin")).unwrap();
    let mut stream = b"line noise\n<<<\n".to_vec();
    stream.extend_from_slice(&one);
    stream.extend_from_slice(&one[..one.len() - 3]);
    let f = dir.path().join("stream");
    std::fs::write(&f, &stream).unwrap();
    let keys = root.join("sha1/authkeys");
    let (code, out, _) = hbd_decode(&[
        "--authkeys",
        keys.to_str().unwrap(),
        "--raw-serial",
        f.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--- frame 2 ---"), "{out}");
    assert_eq!(out.matches("verdict: ok").count(), 1, "{out}");
    assert!(out.contains("verdict: malformed: no end marker"), "{out}");
    // hbd's compact frames are split out too, between classic ones.
    let (auth, _) = hbd::config::authkeys::parse(
        &std::fs::read_to_string(&keys).unwrap(),
        Path::new("authkeys"),
    );
    let mut st = Message::with_type("status");
    for (k, v) in [
        ("st", "active"),
        ("dt", "3e8"),
        ("protocol", "1"),
        ("src", "nodea"),
    ] {
        st.add(k, v);
    }
    for (k, v) in [("seq", "2a"), ("hg", "1"), ("ts", "65a1b2c3"), ("ttl", "3")] {
        st.add(k, v);
    }
    let compact = wire::seal_serial(&st, &auth, true).unwrap();
    assert!(compact.starts_with(b"~s "));
    let mut stream = compact.clone();
    stream.extend_from_slice(b"noise\n");
    stream.extend_from_slice(&one);
    stream.extend_from_slice(&compact);
    std::fs::write(&f, &stream).unwrap();
    let (code, out, err) = hbd_decode(&[
        "--authkeys",
        keys.to_str().unwrap(),
        "--raw-serial",
        "--json",
        f.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let formats: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["format"].as_str().unwrap(),
                f["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        formats,
        [("compact", "ok"), ("classic", "ok"), ("compact", "ok")]
    );
}

// ---- the fuzz target's properties, on stable ----

mod fuzz_check {
    include!("../fuzz/fuzz_targets/wire_check.rs");
}

#[test]
fn fuzz_properties_hold_on_the_seed_corpus_and_every_vector() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/wire_decode");
    let seeds = read_bins(&corpus);
    assert!(seeds.len() >= 40, "seed corpus too small: {}", seeds.len());
    let auth = fuzz_check_auth();
    let mut opened = 0;
    for (path, b) in &seeds {
        fuzz_check::check_wire(b);
        // The sha1 seeds verify with the target's key, so the fuzzer starts
        // from packets that reach the post-MAC properties.
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("sha1") {
            assert!(open(b, &auth).is_ok(), "{name}");
            opened += 1;
        }
    }
    assert!(opened >= 20, "{opened}");
    for set in sets() {
        for (_, b) in set.udp.iter().chain(&set.serial) {
            fuzz_check::check_wire(b);
        }
    }
}

fn fuzz_check_auth() -> Auth {
    authkeys::parse("auth 1\n1 sha1 testsecret\n", Path::new("authkeys")).0
}

// ---- properties ----

mod props {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9_.()-]{0,15}"
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            (
                name(),
                proptest::collection::vec(
                    any::<u8>().prop_filter("0x13 and NUL", |b| *b != 0x13 && *b != 0),
                    0..40
                )
            )
                .prop_map(|(name, value)| Field {
                    name,
                    ftype: FieldType::String,
                    value
                }),
            (name(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(name, value)| {
                Field {
                    name,
                    ftype: FieldType::Binary,
                    value,
                }
            }),
        ]
    }

    fn message() -> impl Strategy<Value = Message> {
        proptest::collection::vec(field(), 0..12).prop_map(|fs| {
            let mut m = Message::new();
            for f in fs {
                m.push(&f.name, f.ftype, f.value);
            }
            m
        })
    }

    fn any_auth() -> impl Strategy<Value = Auth> {
        prop_oneof![Just("crc"), Just("md5"), Just("sha1"), Just("sha256")].prop_map(|m| {
            let text = if m == "crc" {
                "auth 2\n2 crc\n".to_string()
            } else {
                format!("auth 2\n2 {m} k3y\n")
            };
            authkeys::parse(&text, Path::new("authkeys")).0
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn classic_decode_of_encode_is_identity(m in message()) {
            let bytes = classic::encode(&m);
            prop_assert_eq!(classic::decode(&bytes).unwrap(), m);
        }

        #[test]
        fn netstring_decode_of_encode_is_identity(m in message()) {
            let bytes = netstring::encode(&m);
            let d = netstring::decode(&bytes).unwrap();
            prop_assert_eq!(d.signed, 0..bytes.len());
            prop_assert_eq!(d.trailer, None);
            prop_assert_eq!(d.message, m);
        }

        #[test]
        fn open_of_seal_is_identity(m in message(), a in any_auth(), serial in any::<bool>(), ns in any::<bool>()) {
            let mut m = m;
            m.remove_all("auth");
            let t = if serial { Transport::Serial } else { Transport::Udp };
            let f = if ns { MsgFmt::Netstring } else { MsgFmt::Classic };
            let bytes = seal(&m, &a, t, f);
            prop_assert_eq!(Format::detect(&bytes), Some(if serial { Format::Classic } else { Format::Netstring }));
            prop_assert_eq!(open(&bytes, &a).unwrap(), m);
        }

        #[test]
        fn any_byte_flip_breaks_the_mac(m in message(), a in any_auth(), serial in any::<bool>(), pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
            let mut m = m;
            m.remove_all("auth");
            let t = if serial { Transport::Serial } else { Transport::Udp };
            let mut bytes = seal(&m, &a, t, MsgFmt::Classic);
            let i = pos.index(bytes.len());
            bytes[i] ^= mask;
            // crc is not a MAC: a flip can in theory collide, but one byte
            // changed is always detected by a CRC-32.
            prop_assert!(open(&bytes, &a).is_err(), "flip at {} of {:?}", i, String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let a = worked_example_auth("sha1");
            let _ = open(&bytes, &a);
            super::fuzz_check::check_wire(&bytes);
        }

        #[test]
        fn fuzz_properties_hold_on_framed_noise(body in proptest::collection::vec(any::<u8>(), 0..200), ns in any::<bool>()) {
            // Random bodies behind a valid start marker reach the parsers' inner loops.
            let mut b = if ns { b"###\n".to_vec() } else { b">>>\n".to_vec() };
            b.extend_from_slice(&body);
            super::fuzz_check::check_wire(&b);
        }

        #[test]
        fn decode_never_panics_near_valid(m in message(), cut in any::<prop::sample::Index>(), junk in proptest::collection::vec(any::<u8>(), 0..8), at in any::<prop::sample::Index>()) {
            let a = worked_example_auth("sha1");
            for t in [Transport::Udp, Transport::Serial] {
                let mut b = seal(&m, &a, t, MsgFmt::Classic);
                let i = at.index(b.len());
                b.splice(i..i, junk.iter().copied());
                let _ = open(&b, &a);
                b.truncate(cut.index(b.len()));
                prop_assert!(open(&b, &a).is_err());
            }
        }
    }
}
