//! `ivr healthcheck --url http://127.0.0.1:9091/livez`: one HTTP/1.0 GET, exit 0 on `200`.
//!
//! Container images have no curl (and distroless ones no shell), so the image's health check
//! and the Kubernetes/compose tooling call the engine binary itself. This module only speaks
//! plain `http://` to the admin listener with `std::net::TcpStream`, reads at most one status
//! line, and never waits longer than the given timeout per step. It must not pull in an HTTP
//! stack, follow redirects, or read anything but the status line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The most bytes read while looking for the end of the status line.
const MAX_STATUS_LINE: usize = 1024;

/// Why a health check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("unsupported URL {0:?}: expected http://host[:port]/path")]
    BadUrl(String),
    /// The host name did not resolve to any address.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// `host:port` as given.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// No address accepted the connection in time.
    #[error("cannot connect to {host}: {source}")]
    Connect {
        /// `host:port` as given.
        host: String,
        /// The last connection error.
        source: std::io::Error,
    },
    /// Sending the request or reading the answer failed or timed out.
    #[error("request to {host} failed: {source}")]
    Io {
        /// `host:port` as given.
        host: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The peer did not answer with an HTTP status line.
    #[error("not an HTTP response: {0:?}")]
    BadResponse(String),
    /// The peer answered, but not with 200.
    #[error("unhealthy: HTTP status {0}")]
    Status(u16),
}

/// A parsed `http://` URL: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host as written (name, IPv4, or IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when the URL has none).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses `http://host[:port][/path]`; `https` and anything else are refused.
    pub fn parse(url: &str) -> Result<Target, HealthcheckError> {
        let bad = || HealthcheckError::BadUrl(url.to_owned());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(['\r', '\n', ' ']) {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, 80),
                p => (
                    host,
                    p.strip_prefix(':')
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(bad)?,
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
                None => (authority, 80),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Target {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Sends one `GET` and returns the status code; `Ok` only for `200`.
///
/// `timeout` bounds the connection to each resolved address and each read and write.
pub fn check(url: &str, timeout: Duration) -> Result<u16, HealthcheckError> {
    let target = Target::parse(url)?;
    let host = target.authority();
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|source| HealthcheckError::Resolve {
            host: host.clone(),
            source,
        })?
        .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or_else(|| HealthcheckError::Connect {
        host: host.clone(),
        source: last,
    })?;
    let io = |source| HealthcheckError::Io {
        host: host.clone(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: ivr-healthcheck\r\nConnection: close\r\n\r\n",
        target.path
    );
    stream.write_all(request.as_bytes()).map_err(io)?;

    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < MAX_STATUS_LINE {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status = parse_status_line(&head)?;
    if status == 200 {
        Ok(status)
    } else {
        Err(HealthcheckError::Status(status))
    }
}

/// Reads the code out of `HTTP/1.x NNN reason`.
fn parse_status_line(head: &[u8]) -> Result<u16, HealthcheckError> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let line = line.trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let shown: String = line.chars().take(80).collect();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(HealthcheckError::BadResponse(shown));
    }
    code.parse()
        .map_err(|_| HealthcheckError::BadResponse(shown))
}

/// Runs the check and turns it into an exit code: 0 healthy, 1 otherwise. Writes one line,
/// to `out` when healthy and to `err` when not, unless `quiet`.
pub fn run(
    url: &str,
    timeout: Duration,
    quiet: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    // A failed write of the report line must not change the verdict: the exit code is the
    // answer a health checker reads.
    match check(url, timeout) {
        Ok(status) => {
            if !quiet {
                let _ = writeln!(out, "healthy: {url} answered {status}");
            }
            0
        }
        Err(e) => {
            if !quiet {
                let _ = writeln!(err, "ivr healthcheck: {url}: {e}");
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-shot server on loopback that records the request and sends `reply`.
    fn serve_once(reply: &'static [u8]) -> (String, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let handle = thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).expect("read request");
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            conn.write_all(reply).expect("write reply");
            String::from_utf8(req).expect("utf-8 request")
        });
        (format!("http://127.0.0.1:{port}/livez"), handle)
    }

    #[test]
    fn a_200_answer_is_healthy_and_the_request_is_a_plain_get_of_the_path() {
        let (url, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(check(&url, Duration::from_secs(5)).unwrap(), 200);
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /livez HTTP/1.0\r\n"), "{request}");
        assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
    }

    #[test]
    fn a_503_from_a_draining_engine_is_unhealthy_with_exit_code_one() {
        let (url, server) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\ndraining");
        let err = check(&url, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, HealthcheckError::Status(503)), "{err}");
        server.join().unwrap();
        let (url, server) = serve_once(b"HTTP/1.0 500 Internal Server Error\r\n\r\n");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run(&url, Duration::from_secs(5), false, &mut out, &mut err),
            1
        );
        assert!(out.is_empty());
        let report = String::from_utf8(err).unwrap();
        assert!(report.contains("HTTP status 500"), "{report}");
        server.join().unwrap();
    }

    #[test]
    fn an_answer_that_is_not_http_is_reported_not_trusted() {
        let (url, server) = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n");
        let err = check(&url, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, HealthcheckError::BadResponse(_)), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn a_peer_that_closes_without_answering_is_unhealthy() {
        let (url, server) = serve_once(b"");
        let err = check(&url, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, HealthcheckError::BadResponse(_)), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn nothing_listening_is_a_connection_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = check(
            &format!("http://127.0.0.1:{port}/livez"),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(err, HealthcheckError::Connect { .. }), "{err}");
    }

    #[test]
    fn urls_parse_with_default_port_path_and_ipv6_hosts() {
        assert_eq!(
            Target::parse("http://127.0.0.1:9091/livez").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 9091,
                path: "/livez".into()
            }
        );
        let t = Target::parse("http://ivr-admin").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = Target::parse("http://[::1]:9091/readyz?deep=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9091, "/readyz?deep=1")
        );
        assert_eq!(t.authority(), "[::1]:9091");
    }

    #[test]
    fn urls_the_check_cannot_honour_are_refused() {
        for url in [
            "https://127.0.0.1:9091/livez",
            "127.0.0.1:9091/livez",
            "http://",
            "http://:9091/livez",
            "http://127.0.0.1:notaport/livez",
            "http://127.0.0.1:0/livez",
            "http://user@127.0.0.1:9091/livez",
            "http://127.0.0.1:9091/livez\r\nX-Injected: 1",
            "http://[::1/livez",
        ] {
            assert!(
                matches!(Target::parse(url), Err(HealthcheckError::BadUrl(_))),
                "{url} should be refused"
            );
        }
    }
}
