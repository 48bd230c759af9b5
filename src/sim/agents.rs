//! Simulated agents: log in over the agents API, take offers from the agent WebSocket after a
//! ring time, talk, end the call and finish wrap-up — for demos, tests and load.
//!
//! Each agent is one task: `POST /api/agents/{id}/login`, then `GET /api/agents/{id}/ws`;
//! on an offer it waits `answer_after`, sends `accept`, "talks" for `talk`, sends
//! `call_ended`, waits `wrap_up` and sends `wrap_up_done`. Every accepted call is reported
//! through a channel in the order agents took them. On stop every agent logs out.
//!
//! A test and ops tool; it must never be linked into the serving path. It speaks plain
//! HTTP/1.1 over loopback or a trusted network (no TLS).

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

/// How the simulated agents behave.
#[derive(Clone, Debug)]
pub struct AgentsOptions {
    /// The admin listener, e.g. `http://127.0.0.1:9091`.
    pub url: String,
    /// Bearer token of the agents API (`IVR_AGENT_TOKEN`), if the engine has one.
    pub token: Option<String>,
    /// How many agents.
    pub count: usize,
    /// Agent ids are `<prefix><n>`, n from 1.
    pub prefix: String,
    /// Queues served; empty: every queue the engine has.
    pub queues: Vec<String>,
    /// Ring time before accepting an offer.
    pub answer_after: Duration,
    /// Talk time after accepting.
    pub talk: Duration,
    /// After-call work before `wrap_up_done`.
    pub wrap_up: Duration,
}

impl AgentsOptions {
    /// `count` agents on every queue of the engine at `url`, answering at once, talking 30 s.
    pub fn new(url: impl Into<String>, count: usize) -> Self {
        Self {
            url: url.into(),
            token: None,
            count,
            prefix: "sim".into(),
            queues: Vec::new(),
            answer_after: Duration::from_secs(2),
            talk: Duration::from_secs(30),
            wrap_up: Duration::ZERO,
        }
    }
}

/// A call a simulated agent took.
#[derive(Clone, Debug, PartialEq)]
pub struct Answered {
    /// The agent.
    pub agent: String,
    /// The call.
    pub call: String,
    /// The queue it waited in.
    pub queue: String,
    /// Its priority class.
    pub class: String,
    /// Seconds waited when offered.
    pub waited_secs: f64,
    /// Why the engine chose it.
    pub why: String,
}

/// Why the simulated agents could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    /// The URL is not `http://host:port`.
    #[error("bad URL {0:?} (expected http://host:port)")]
    BadUrl(String),
    /// The engine could not be reached.
    #[error("cannot reach the engine: {0}")]
    Io(#[from] std::io::Error),
    /// The engine refused a request.
    #[error("{what}: HTTP {status}: {body}")]
    Refused {
        /// The request.
        what: String,
        /// The status.
        status: u16,
        /// The answer.
        body: String,
    },
    /// The agent WebSocket failed.
    #[error("agent WebSocket: {0}")]
    WebSocket(String),
}

/// `host:port` of an `http://host:port[/]` URL.
fn authority(url: &str) -> Result<String, AgentsError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| AgentsError::BadUrl(url.to_owned()))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(AgentsError::BadUrl(url.to_owned()));
    }
    Ok(host.to_owned())
}

/// One HTTP/1.1 request; returns the status and the body.
pub async fn http(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, String), AgentsError> {
    let host = authority(url)?;
    let mut stream = TcpStream::connect(&host).await?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

async fn expect_ok(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<String, AgentsError> {
    let (status, text) = http(url, method, path, token, body).await?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(AgentsError::Refused {
            what: format!("{method} {path}"),
            status,
            body: text,
        })
    }
}

/// Every queue id the engine has (`GET /api/queues`).
pub async fn queue_ids(url: &str, token: Option<&str>) -> Result<Vec<String>, AgentsError> {
    let text = expect_ok(url, "GET", "/api/queues", token, None).await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|q| q["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Runs the agents until `stop` resolves, then logs them out. Every call taken is sent on
/// `answered` as it is accepted.
pub async fn run(
    opts: AgentsOptions,
    answered: mpsc::UnboundedSender<Answered>,
    stop: impl Future<Output = ()>,
) -> Result<(), AgentsError> {
    let token = opts.token.clone();
    let queues = if opts.queues.is_empty() {
        queue_ids(&opts.url, token.as_deref()).await?
    } else {
        opts.queues.clone()
    };
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=opts.count {
        let id = format!("{}{n}", opts.prefix);
        let body = json!({ "queues": queues, "sip": format!("sip:{id}@agents.sim.invalid") });
        expect_ok(
            &opts.url,
            "POST",
            &format!("/api/agents/{id}/login"),
            token.as_deref(),
            Some(&body),
        )
        .await?;
        let ws = connect(&opts, &id).await?;
        ids.push(id.clone());
        tasks.push(tokio::spawn(agent_loop(
            ws,
            opts.clone(),
            id,
            answered.clone(),
            cancel.clone(),
        )));
    }
    stop.await;
    cancel.cancel();
    for t in tasks {
        let _ = t.await;
    }
    for id in ids {
        let _ = http(
            &opts.url,
            "POST",
            &format!("/api/agents/{id}/logout"),
            token.as_deref(),
            None,
        )
        .await;
    }
    Ok(())
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(opts: &AgentsOptions, id: &str) -> Result<Ws, AgentsError> {
    let host = authority(&opts.url)?;
    let url = format!("ws://{host}/api/agents/{id}/ws");
    let mut req = url
        .into_client_request()
        .map_err(|e| AgentsError::WebSocket(e.to_string()))?;
    if let Some(t) = &opts.token {
        let v = HeaderValue::from_str(&format!("Bearer {t}"))
            .map_err(|e| AgentsError::WebSocket(e.to_string()))?;
        req.headers_mut().insert("authorization", v);
    }
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| AgentsError::WebSocket(e.to_string()))?;
    Ok(ws)
}

/// Sends one request on the agent socket and waits for its result; events arriving in
/// between (an offer pushed before the reply) are kept in `pending`.
async fn ask(ws: &mut Ws, pending: &mut VecDeque<Value>, msg: Value) -> Option<Value> {
    ws.send(Message::text(msg.to_string())).await.ok()?;
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
            if v["type"] == "result" {
                return Some(v);
            }
            pending.push_back(v);
        }
    }
    None
}

async fn agent_loop(
    mut ws: Ws,
    opts: AgentsOptions,
    id: String,
    answered: mpsc::UnboundedSender<Answered>,
    cancel: CancellationToken,
) {
    let mut pending = VecDeque::new();
    loop {
        let v = match pending.pop_front() {
            Some(v) => v,
            None => {
                let msg = tokio::select! {
                    () = cancel.cancelled() => break,
                    m = ws.next() => m,
                };
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        serde_json::from_str(t.as_str()).unwrap_or(Value::Null)
                    }
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(_)) => continue,
                }
            }
        };
        if v["type"] != "offer" {
            continue;
        }
        let call = v["call"].as_str().unwrap_or_default().to_owned();
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(opts.answer_after) => {}
        }
        let Some(result) = ask(
            &mut ws,
            &mut pending,
            json!({ "type": "accept", "call": call }),
        )
        .await
        else {
            break;
        };
        if result["ok"] != true {
            continue;
        }
        let _ = answered.send(Answered {
            agent: id.clone(),
            call,
            queue: v["queue"].as_str().unwrap_or_default().to_owned(),
            class: v["class"].as_str().unwrap_or_default().to_owned(),
            waited_secs: v["waited_secs"].as_f64().unwrap_or(0.0),
            why: v["why"].as_str().unwrap_or_default().to_owned(),
        });
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(opts.talk) => {}
        }
        if ask(&mut ws, &mut pending, json!({ "type": "call_ended" }))
            .await
            .is_none()
        {
            break;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(opts.wrap_up) => {}
        }
        if ask(&mut ws, &mut pending, json!({ "type": "wrap_up_done" }))
            .await
            .is_none()
        {
            break;
        }
    }
    let _ = ws.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls_must_be_plain_http_host_and_port() {
        assert_eq!(
            authority("http://127.0.0.1:9091").ok().as_deref(),
            Some("127.0.0.1:9091")
        );
        assert_eq!(
            authority("http://127.0.0.1:9091/").ok().as_deref(),
            Some("127.0.0.1:9091")
        );
        assert!(authority("https://x:1").is_err());
        assert!(authority("http://x:1/api").is_err());
    }
}
