//! Reads the engine's Prometheus `/metrics` over plain HTTP (async, so the generator's
//! schedule is not held up) and extracts one histogram's cumulative buckets. It must not
//! interpret any other series or keep connections open.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Cumulative bucket counts of one histogram: `(upper bound in seconds, count)`, sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets(pub Vec<(f64, u64)>);

impl Buckets {
    /// Observations counted.
    pub fn total(&self) -> u64 {
        self.0.last().map_or(0, |b| b.1)
    }

    /// What happened between `earlier` and `self` (bucket by bucket).
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .map(|&(le, n)| {
                    let before = earlier.0.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
                    (le, n.saturating_sub(before))
                })
                .collect(),
        )
    }

    /// The upper bound of the bucket holding the `q` quantile; `None` without observations
    /// or when it lies in the `+Inf` bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let le = self.0.iter().find(|b| b.1 >= rank)?.0;
        le.is_finite().then(|| Duration::from_secs_f64(le))
    }
}

/// The `<name>_bucket` lines of a Prometheus text exposition (label-free histogram).
pub fn parse_buckets(text: &str, name: &str) -> Option<Buckets> {
    let parsed = crate::telemetry::exposition::Exposition::parse(text).ok()?;
    let series = format!("{name}_bucket");
    let mut out: Vec<(f64, u64)> = parsed
        .matching(&series, &[])
        .filter_map(|s| {
            let le = s.labels.get("le")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, s.value as u64))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    (!out.is_empty()).then_some(Buckets(out))
}

/// GETs `url` (`http://host:port/path`) and returns the body; `None` on any failure.
pub async fn fetch(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let work = async {
        let mut s = tokio::net::TcpStream::connect(authority).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await.ok()?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return None;
        }
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return Some(dechunk(body));
        }
        Some(body.to_owned())
    };
    tokio::time::timeout(Duration::from_secs(3), work)
        .await
        .ok()
        .flatten()
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP ivr_frame_handling_seconds x\n\
ivr_frame_handling_seconds_bucket{le=\"0.0001\"} 90\n\
ivr_frame_handling_seconds_bucket{le=\"0.001\"} 99\n\
ivr_frame_handling_seconds_bucket{le=\"0.005\"} 100\n\
ivr_frame_handling_seconds_bucket{le=\"+Inf\"} 100\n\
ivr_frame_handling_seconds_sum 0.01\n";

    #[test]
    fn histogram_quantiles_come_from_the_bucket_edges() {
        let b = parse_buckets(TEXT, "ivr_frame_handling_seconds").expect("buckets");
        assert_eq!(b.total(), 100);
        assert_eq!(b.quantile(0.5), Some(Duration::from_secs_f64(0.0001)));
        assert_eq!(b.quantile(0.99), Some(Duration::from_secs_f64(0.001)));
        assert_eq!(b.quantile(1.0), Some(Duration::from_secs_f64(0.005)));
        assert!(parse_buckets(TEXT, "other").is_none());
    }

    #[test]
    fn a_window_subtracts_the_earlier_reading() {
        let late = parse_buckets(TEXT, "ivr_frame_handling_seconds").expect("buckets");
        let early = Buckets(vec![
            (0.0001, 80),
            (0.001, 80),
            (0.005, 80),
            (f64::INFINITY, 80),
        ]);
        let w = late.since(&early);
        assert_eq!(w.total(), 20);
        assert_eq!(w.quantile(0.5), Some(Duration::from_secs_f64(0.0001)));
        assert_eq!(w.quantile(0.99), Some(Duration::from_secs_f64(0.005)));
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
