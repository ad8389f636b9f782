//! The `[auth]` table: an authkeys file by path, or the keys inline (then the
//! file itself must be as private as authkeys).

use super::{AuthT, Ctx, Source};
use crate::config::model::{Auth, AuthKey, AuthMethod, Config, Diagnostic, Location, Secret};
use toml::Spanned;

/// `[auth]` into `cfg.auth` (and `origins["authkeys"]` for a file).
pub(super) fn auth(cx: &mut Ctx, cfg: &mut Config, a: &Spanned<AuthT>, src: &Source) {
    let at = a.get_ref();
    cfg.origins.insert("auth".into(), cx.loc(a.span()));
    match (&at.authkeys, at.keys.is_empty()) {
        (Some(p), true) => {
            let path = src.dir.join(p.get_ref());
            let (loaded, d) = crate::config::authkeys::load(&path);
            cx.diags.extend(d);
            if let Some(auth) = loaded {
                cfg.auth = auth;
                // Absolute, so `to_toml` output names the file from any directory.
                let abs = std::path::absolute(&path).unwrap_or(path);
                cfg.origins
                    .insert("authkeys".into(), Location { file: abs, line: 0 });
            }
            if at.send.is_some() {
                cx.error(a.span(), "auth", "`send` goes with inline keys; with `authkeys` the file's `auth N` line picks the send key");
            }
        }
        (Some(_), false) => cx.error(
            a.span(),
            "auth",
            "give either authkeys = \"PATH\" or [[auth.keys]], not both",
        ),
        (None, true) => cx.error(
            a.span(),
            "auth",
            "no keys (expected authkeys = \"PATH\" or [[auth.keys]] entries)",
        ),
        (None, false) => {
            let mut auth = Auth::default();
            let mut any_secret = false;
            for k in &at.keys {
                let kt = k.get_ref();
                let Ok(index) = u8::try_from(kt.index).map_err(|_| ()).and_then(|i| {
                    if i <= 15 {
                        Ok(i)
                    } else {
                        Err(())
                    }
                }) else {
                    cx.error(
                        k.span(),
                        "auth",
                        format!("key index {} is out of range (expected 0 to 15)", kt.index),
                    );
                    continue;
                };
                let method = match kt.method.as_str() {
                    "crc" => AuthMethod::Crc,
                    "md5" => AuthMethod::Md5,
                    "sha1" => AuthMethod::Sha1,
                    "sha256" => AuthMethod::Sha256,
                    other => {
                        cx.error(k.span(), "auth", format!("key {index}: unknown method {other:?} (expected crc, md5, sha1 or sha256)"));
                        continue;
                    }
                };
                match (method, &kt.secret) {
                    (AuthMethod::Crc, Some(_)) => {
                        cx.error(
                            k.span(),
                            "auth",
                            format!("key {index}: crc takes no secret"),
                        );
                        continue;
                    }
                    (AuthMethod::Crc, None) => {
                        let l = cx.loc(k.span());
                        cx.diags.push(Diagnostic::warning(Some(l), "auth", format!("key {index}: crc authenticates nothing (anyone on the link can forge packets); use sha1, or sha256 for hbd-only pairs")));
                    }
                    (_, None) => {
                        cx.error(
                            k.span(),
                            "auth",
                            format!("key {index}: {} needs a secret", method.name()),
                        );
                        continue;
                    }
                    (_, Some(s)) if s.is_empty() || s.contains(char::is_whitespace) => {
                        cx.error(k.span(), "auth", format!("key {index}: the secret must be non-empty and without blanks (as in authkeys)"));
                        continue;
                    }
                    _ => any_secret = true,
                }
                if auth.keys.contains_key(&index) {
                    cx.error(k.span(), "auth", format!("key {index} is defined twice"));
                    continue;
                }
                auth.keys.insert(
                    index,
                    AuthKey {
                        method,
                        secret: Secret(kt.secret.clone().unwrap_or_default().into_bytes()),
                    },
                );
            }
            match &at.send {
                Some(s) => match u8::try_from(*s.get_ref()) {
                    Ok(i) if auth.keys.contains_key(&i) => auth.send_index = i,
                    _ => cx.error(
                        s.span(),
                        "auth",
                        format!("send = {} names no key in [[auth.keys]]", s.get_ref()),
                    ),
                },
                None if auth.keys.len() == 1 => {
                    auth.send_index = *auth.keys.keys().next().unwrap_or(&0)
                }
                None => cx.error(
                    a.span(),
                    "auth",
                    "several keys and no `send = N` to pick the outbound one",
                ),
            }
            if any_secret {
                if let Some(mode) = src.mode {
                    if mode & 0o066 != 0 {
                        cx.diags.push(Diagnostic::error(
                            Some(Location { file: src.file.to_path_buf(), line: 0 }),
                            "auth",
                            format!("mode {:03o} lets group or others read or write the inline keys; run `chmod 600 {}`", mode & 0o777, src.file.display()),
                        ));
                    }
                }
            }
            cfg.auth = auth;
        }
    }
}
