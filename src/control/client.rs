//! A blocking client of the control socket: one request, one answer line, each
//! bounded by a timeout. `hbd status|standby|takeover|cl_status` and the demo
//! use it; what an answer means to a script (exit codes) is theirs to say.

use super::proto::{Request, Response, StatusReport, SOCKET_NAME};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot connect to {}: {source}; is hbd running?", .path.display())]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot talk to {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon at {} closed the connection without answering", .path.display())]
    NoAnswer { path: PathBuf },
    #[error("the daemon at {} answered something that is not the protocol: {line:?}: {reason}", .path.display())]
    BadAnswer {
        path: PathBuf,
        line: String,
        reason: String,
    },
    /// Only from [`fetch_status`]: the daemon answered with an error.
    #[error("the daemon refused: {message}")]
    Refused { message: String },
    /// Only from [`fetch_status`]: a protocol answer, but not a status.
    #[error("unexpected answer to status: {answer}")]
    Unexpected { answer: String },
}

/// Where the daemon whose run directory is `run_dir` listens.
pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// Sends one request and reads the one-line answer, bounded by `timeout`.
pub fn request(run_dir: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let path = socket_path(run_dir);
    let stream = UnixStream::connect(&path).map_err(|source| {
        use std::io::ErrorKind::*;
        match source.kind() {
            // A stale socket (daemon killed) refuses; a missing one is not there.
            NotFound | ConnectionRefused => ControlError::NotRunning {
                path: path.clone(),
                source,
            },
            _ => ControlError::Io {
                path: path.clone(),
                source,
            },
        }
    })?;
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).expect("requests always serialise");
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).map_err(io)?;
    if answer.trim().is_empty() {
        return Err(ControlError::NoAnswer { path });
    }
    serde_json::from_str(answer.trim_end()).map_err(|e| ControlError::BadAnswer {
        path: path.clone(),
        line: answer.trim_end().chars().take(200).collect(),
        reason: e.to_string(),
    })
}

/// Asks for the status; any answer but a status is an error.
pub fn fetch_status(run_dir: &Path, timeout: Duration) -> Result<StatusReport, ControlError> {
    match request(run_dir, &Request::Status, timeout)? {
        Response::Status(r) => Ok(r),
        Response::Error { message } => Err(ControlError::Refused { message }),
        other => Err(ControlError::Unexpected {
            answer: format!("{other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::NodeReport;
    use crate::core::{HoldSet, NodeState};
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    /// A one-shot fake daemon on a real Unix socket: answers `answer` to one request
    /// and hands back the request line it got.
    fn fake_daemon(dir: &Path, answer: String) -> std::thread::JoinHandle<String> {
        let listener = UnixListener::bind(socket_path(dir)).unwrap();
        std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line).unwrap();
            (&conn).write_all(answer.as_bytes()).unwrap();
            line
        })
    }

    #[test]
    fn request_round_trip_over_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(
            dir.path(),
            "{\"result\":\"accepted\",\"message\":\"going standby [all]\"}\n".into(),
        );
        let r = request(
            dir.path(),
            &Request::Standby { set: HoldSet::All },
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(
            r,
            Response::Accepted {
                message: "going standby [all]".into()
            }
        );
        assert_eq!(
            daemon.join().unwrap(),
            "{\"cmd\":\"standby\",\"set\":\"all\"}\n"
        );
    }

    #[test]
    fn status_report_travels_intact() {
        let report = StatusReport {
            version: "0.1.0".into(),
            pid: 4242,
            local: NodeReport {
                name: "alpha".into(),
                state: NodeState::Active,
                generation: Some(12),
                last_heard_ms_ago: None,
            },
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::to_string(&Response::Status(report.clone())).unwrap() + "\n";
        let daemon = fake_daemon(dir.path(), json);
        assert_eq!(
            fetch_status(dir.path(), Duration::from_secs(5)).unwrap(),
            report
        );
        assert_eq!(daemon.join().unwrap(), "{\"cmd\":\"status\"}\n");
    }

    #[test]
    fn a_status_refused_or_answered_otherwise_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(
            dir.path(),
            "{\"result\":\"error\",\"message\":\"uid 1000 refused\"}\n".into(),
        );
        let e = fetch_status(dir.path(), Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.to_string(), "the daemon refused: uid 1000 refused");
        daemon.join().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(
            dir.path(),
            "{\"result\":\"accepted\",\"message\":\"x\"}\n".into(),
        );
        let e = fetch_status(dir.path(), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ControlError::Unexpected { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("unexpected answer to status: Accepted"),
            "{e}"
        );
        daemon.join().unwrap();
    }

    #[test]
    fn missing_or_stale_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let e = request(dir.path(), &Request::Status, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, ControlError::NotRunning { .. }), "{e:?}");
        assert!(e.to_string().contains("is hbd running?"), "{e}");
        assert!(e.to_string().contains("hbd.sock"), "{e}");
        // A socket file left behind by a killed daemon refuses connections.
        drop(UnixListener::bind(socket_path(dir.path())).unwrap());
        let e = request(dir.path(), &Request::Status, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, ControlError::NotRunning { .. }), "{e:?}");
    }

    #[test]
    fn garbage_answers_are_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(dir.path(), "hello\n".into());
        let e = request(dir.path(), &Request::Status, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ControlError::BadAnswer { .. }), "{e:?}");
        daemon.join().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let daemon = fake_daemon(dir.path(), String::new());
        let e = request(dir.path(), &Request::Status, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ControlError::NoAnswer { .. }), "{e:?}");
        daemon.join().unwrap();
    }

    #[test]
    fn a_silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(socket_path(dir.path())).unwrap();
        let started = Instant::now();
        let e = request(dir.path(), &Request::Status, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, ControlError::Io { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }
}
