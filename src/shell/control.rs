//! The control socket server: `<run-dir>/hbd.sock`, mode 0600, one JSON request
//! per line and one JSON response per line (see [`crate::control::proto`]). Only root and
//! the daemon's own user may talk to it (checked with SO_PEERCRED: the socket's
//! mode alone would trust whoever can reach the directory).

use super::inbox::LoopEvent;
use crate::control::{Request, Response};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// Longest request line accepted (a request is a few dozen bytes).
const MAX_LINE: usize = 4096;
/// How long a connection may stay silent between requests.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
}

/// Whether a peer with `uid` may use the socket.
pub fn peer_allowed(uid: u32, allowed: &[u32]) -> bool {
    allowed.contains(&uid)
}

/// Binds the socket at `path` (a stale one is removed: the caller holds the
/// instance lock, so no live daemon owns it) and sets mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let err = |op, source| ControlError::Io {
        path: path.to_path_buf(),
        op,
        source,
    };
    // Another daemon with another state dir may share this run dir: its socket
    // answers, a stale one does not.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(err(
            "in use by another running hbd (give each node its own --run-dir)",
            std::io::Error::from(std::io::ErrorKind::AddrInUse),
        ));
    }
    match std::fs::remove_file(path) {
        Ok(()) => log::debug!("removed stale control socket {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err("remove stale socket", e)),
    }
    let l = UnixListener::bind(path).map_err(|e| err("bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err("chmod 0600", e))?;
    Ok(l)
}

/// Accepts connections until the loop goes away.
pub async fn serve(listener: UnixListener, allowed: Vec<u32>, events: mpsc::Sender<LoopEvent>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let events = events.clone();
                let allowed = allowed.clone();
                tokio::spawn(async move { connection(stream, allowed, events).await });
            }
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn write_response(w: &mut (impl AsyncWriteExt + Unpin), r: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).unwrap_or_else(|e| {
        format!(r#"{{"result":"error","message":"cannot encode response: {e}"}}"#)
    });
    line.push('\n');
    w.write_all(line.as_bytes()).await
}

async fn connection(stream: UnixStream, allowed: Vec<u32>, events: mpsc::Sender<LoopEvent>) {
    let cred = stream.peer_cred();
    let (r, mut w) = stream.into_split();
    match cred {
        Ok(c) if peer_allowed(c.uid(), &allowed) => {}
        Ok(c) => {
            // Read (and ignore) the request first: closing with it unread would
            // reset the connection before the client sees why.
            let mut first = Vec::new();
            let mut limited = BufReader::new(r).take(MAX_LINE as u64);
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                limited.read_until(b'\n', &mut first),
            )
            .await;
            log::warn!(
                "control socket: refused uid {} (pid {}): only root and the daemon's user may control hbd",
                c.uid(),
                c.pid().map(|p| p.to_string()).unwrap_or_else(|| "?".into())
            );
            let _ = write_response(
                &mut w,
                &Response::Error {
                    message: format!("permission denied for uid {}", c.uid()),
                },
            )
            .await;
            return;
        }
        Err(e) => {
            log::warn!("control socket: cannot read peer credentials: {e}");
            return;
        }
    }
    let mut reader = BufReader::new(r).take(u64::MAX);
    let mut line = Vec::new();
    loop {
        line.clear();
        reader.set_limit(MAX_LINE as u64 + 1);
        // An idle client must not hold a task (and its fd) for ever.
        match tokio::time::timeout(IDLE_TIMEOUT, reader.read_until(b'\n', &mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
        if line.len() > MAX_LINE && !line.ends_with(b"\n") {
            let _ = write_response(
                &mut w,
                &Response::Error {
                    message: format!("request longer than {MAX_LINE} bytes"),
                },
            )
            .await;
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(text.trim()) {
            Err(e) => Response::Error {
                message: format!("bad request {:?}: {e}", text.trim()),
            },
            Ok(req) => {
                let (tx, rx) = oneshot::channel();
                if events
                    .send(LoopEvent::Control { req, reply: tx })
                    .await
                    .is_err()
                {
                    return;
                }
                match rx.await {
                    Ok(r) => r,
                    Err(_) => Response::Error {
                        message: "daemon is shutting down".into(),
                    },
                }
            }
        };
        if write_response(&mut w, &resp).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::shell::test_runtime as rt;

    async fn ask(path: &Path, line: &str) -> Vec<String> {
        let mut s = UnixStream::connect(path).await.unwrap();
        s.write_all(line.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.lines().map(str::to_string).collect()
    }

    /// A stand-in for the daemon loop: answers every request with its debug form.
    fn echo_loop(mut rx: mpsc::Receiver<LoopEvent>) {
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let LoopEvent::Control { req, reply } = ev {
                    let _ = reply.send(Response::Accepted {
                        message: format!("{req:?}"),
                    });
                }
            }
        });
    }

    #[test]
    fn socket_is_0600_and_answers_one_line_per_request() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("hbd.sock");
        std::fs::write(&path, "stale").unwrap();
        rt().block_on(async {
            let l = bind(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let (tx, rx) = mpsc::channel(8);
            echo_loop(rx);
            let me = nix::unistd::getuid().as_raw();
            tokio::spawn(serve(l, vec![0, me], tx));
            let out = ask(
                &path,
                "{\"cmd\":\"status\"}\nnot json\n\n{\"cmd\":\"standby\",\"set\":\"local\"}\n",
            )
            .await;
            assert_eq!(out.len(), 3, "{out:?}");
            assert!(
                out[0].contains("accepted") && out[0].contains("Status"),
                "{}",
                out[0]
            );
            let e: Response = serde_json::from_str(&out[1]).unwrap();
            assert!(matches!(e, Response::Error { message } if message.contains("not json")));
            assert!(out[2].contains("Local"), "{}", out[2]);
        });
    }

    #[test]
    fn a_live_socket_is_not_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("hbd.sock");
        rt().block_on(async {
            let _live = bind(&path).unwrap();
            let e = bind(&path).unwrap_err().to_string();
            assert!(e.contains("in use by another running hbd"), "{e}");
            assert!(path.exists());
        });
    }

    #[test]
    fn other_users_are_refused_by_peer_credentials() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("hbd.sock");
        rt().block_on(async {
            let l = bind(&path).unwrap();
            let (tx, rx) = mpsc::channel(8);
            echo_loop(rx);
            // Nobody we could be is allowed: our own connection must be refused.
            let me = nix::unistd::getuid().as_raw();
            tokio::spawn(serve(l, vec![me.wrapping_add(4242)], tx));
            let out = ask(&path, "{\"cmd\":\"status\"}\n").await;
            assert_eq!(out.len(), 1, "{out:?}");
            let e: Response = serde_json::from_str(&out[0]).unwrap();
            match e {
                Response::Error { message } => {
                    assert!(message.contains(&format!("uid {me}")), "{message}")
                }
                r => panic!("{r:?}"),
            }
        });
        assert!(peer_allowed(0, &[0, 1000]));
        assert!(!peer_allowed(1001, &[0, 1000]));
    }
}
