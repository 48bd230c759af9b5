//! The agents API on the admin listener: log in and out, ready and not ready, accept or
//! reject offers, end calls and wrap-up, the queue picture, and an agent WebSocket that pushes
//! offers.
//!
//! ```text
//! POST /api/agents/{id}/login            {"skills":{..},"queues":[..],"sip":".."} (all optional
//!                                         for agents of the agents file)
//! POST /api/agents/{id}/logout | /ready | /not-ready {"reason":".."} | /call-ended
//!      /api/agents/{id}/wrap-up-done | /offers/{call}/accept | /offers/{call}/reject
//! GET  /api/agents                        every agent and its state
//! GET  /api/queues                        depth per class, oldest wait, EWT, agents by state
//! GET  /api/agents/{id}/ws                WebSocket: pushes {"type":"offer",..}, "state",
//!                                         "offer_withdrawn", "connected"; takes
//!                                         {"type":"accept","call":".."}, "reject", "ready",
//!                                         "not_ready", "call_ended", "wrap_up_done", "logout"
//! ```
//!
//! Every answer is JSON: the agent's state after the request, or `{"error": ".."}` with 400
//! (bad request), 401 (token), 403 (not loopback), 404 (unknown agent), 409 (does not fit
//! the agent's state) or 503 (shutting down).
//!
//! Auth: with `IVR_AGENT_TOKEN` set, every request carries `Authorization: Bearer <token>`
//! (compared in constant time); without one, only loopback peers are served (the same rule
//! as the media side). It must hold no ACD logic: it translates requests into
//! [`AgentCommand`]s for the actor and answers what the actor says.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::gateway::acd_actor::{AcdHandle, AgentApiError, AgentCommand, AgentEvent, LoginRequest};
use crate::gateway::server::Shared;
use crate::ids::{AgentId, CallId};

/// Routes of the agents API, merged into the admin router.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/agents", get(list_agents))
        .route("/api/queues", get(list_queues))
        .route("/api/agents/{id}/ws", get(agent_ws))
        .route("/api/agents/{id}/{action}", post(agent_action))
        .route("/api/agents/{id}/offers/{call}/{verb}", post(offer_action))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Whether a request may use the agents API.
pub fn authorized(
    token: Option<&str>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), StatusCode> {
    match token {
        Some(expected) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                Ok(())
            } else {
                Err(StatusCode::UNAUTHORIZED)
            }
        }
        None if peer.ip().is_loopback() => Ok(()),
        None => Err(StatusCode::FORBIDDEN),
    }
}

/// The refusal for a request that may not use the API, if any.
fn check(s: &Shared, headers: &HeaderMap, peer: SocketAddr) -> Option<Response> {
    let token = s.config.agent_token.as_ref().map(|t| t.expose());
    authorized(token, headers, peer).err().map(|status| {
        let message = if status == StatusCode::UNAUTHORIZED {
            "missing or wrong bearer token"
        } else {
            "the agents API serves loopback only without IVR_AGENT_TOKEN"
        };
        error(status, message)
    })
}

fn answer<T: serde::Serialize>(result: Result<T, AgentApiError>) -> Response {
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            let status = match &e {
                AgentApiError::UnknownAgent => StatusCode::NOT_FOUND,
                AgentApiError::Refused(_) => StatusCode::CONFLICT,
                AgentApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
                AgentApiError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            };
            error(status, &e.to_string())
        }
    }
}

async fn list_agents(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check(&s, &headers, peer) {
        return r;
    }
    answer(s.acd.agents().await)
}

async fn list_queues(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check(&s, &headers, peer) {
        return r;
    }
    answer(s.acd.queues().await)
}

/// Parses an optional JSON body: empty means the type's default.
fn json_body<T: serde::de::DeserializeOwned + Default>(body: &str) -> Result<T, String> {
    if body.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(body).map_err(|e| e.to_string())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NotReadyBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/agents/{id}/{action}`: login (with an optional [`LoginRequest`] body), logout,
/// ready, not-ready (optional `{"reason": ...}`), call-ended, wrap-up-done.
async fn agent_action(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath((id, action)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = check(&s, &headers, peer) {
        return r;
    }
    let id = AgentId::new(id);
    let cmd = match action.as_str() {
        "login" => {
            return match json_body::<LoginRequest>(&body) {
                Ok(req) => answer(s.acd.login(id, req).await),
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            };
        }
        "logout" => AgentCommand::Logout,
        "ready" => AgentCommand::Ready,
        "not-ready" => match json_body::<NotReadyBody>(&body) {
            Ok(b) => AgentCommand::NotReady {
                reason: b.reason.unwrap_or_else(|| "not ready".into()),
            },
            Err(e) => return error(StatusCode::BAD_REQUEST, &e),
        },
        "call-ended" => AgentCommand::CallEnded,
        "wrap-up-done" => AgentCommand::WrapUpDone,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown action (login, logout, ready, not-ready, call-ended, wrap-up-done)",
            );
        }
    };
    answer(s.acd.agent(id, cmd).await)
}

/// `POST /api/agents/{id}/offers/{call}/accept|reject`.
async fn offer_action(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath((id, call, verb)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check(&s, &headers, peer) {
        return r;
    }
    let call = CallId::new(call);
    let cmd = match verb.as_str() {
        "accept" => AgentCommand::Accept { call },
        "reject" => AgentCommand::Reject { call },
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown offer action (accept, reject)",
            );
        }
    };
    answer(s.acd.agent(AgentId::new(id), cmd).await)
}

/// A message an agent sends on its WebSocket.
#[derive(Deserialize, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentMessage {
    /// Take the offered call.
    Accept {
        /// The call.
        call: String,
    },
    /// Decline the offered call.
    Reject {
        /// The call.
        call: String,
    },
    /// Ready for calls.
    Ready,
    /// Not taking calls.
    NotReady {
        /// Why.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The agent's call ended.
    CallEnded,
    /// After-call work done.
    WrapUpDone,
    /// Log out.
    Logout,
}

impl AgentMessage {
    fn command(self) -> AgentCommand {
        match self {
            AgentMessage::Accept { call } => AgentCommand::Accept {
                call: CallId::new(call),
            },
            AgentMessage::Reject { call } => AgentCommand::Reject {
                call: CallId::new(call),
            },
            AgentMessage::Ready => AgentCommand::Ready,
            AgentMessage::NotReady { reason } => AgentCommand::NotReady {
                reason: reason.unwrap_or_else(|| "not ready".into()),
            },
            AgentMessage::CallEnded => AgentCommand::CallEnded,
            AgentMessage::WrapUpDone => AgentCommand::WrapUpDone,
            AgentMessage::Logout => AgentCommand::Logout,
        }
    }
}

async fn agent_ws(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(id): UrlPath<String>,
    req: Request,
) -> Response {
    if let Some(r) = check(&s, req.headers(), peer) {
        return r;
    }
    let upgrade_ok = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_owned())
    else {
        return error(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    };
    if !upgrade_ok {
        return error(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    }
    let agent = AgentId::new(id);
    let (_, events) = match s.acd.subscribe(agent.clone()).await {
        Ok(x) => x,
        Err(e) => return answer::<()>(Err(e)),
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(req);
    let acd = s.acd.clone();
    let stop = s.shutdown.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        agent_session(ws, acd, agent, events, stop).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One agent's WebSocket: events out, requests in, one reply per request.
async fn agent_session<S>(
    mut ws: WebSocketStream<S>,
    acd: AcdHandle,
    agent: AgentId,
    mut events: mpsc::UnboundedReceiver<AgentEvent>,
    stop: tokio_util::sync::CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let out = tokio::select! {
            () = stop.cancelled() => break,
            ev = events.recv() => match ev {
                Some(ev) => serde_json::to_string(&ev).ok(),
                None => break,
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let reply = match serde_json::from_str::<AgentMessage>(t.as_str()) {
                        Ok(m) => match acd.agent(agent.clone(), m.command()).await {
                            Ok(view) => json!({ "type": "result", "ok": true, "agent": view }),
                            Err(e) => json!({ "type": "result", "ok": false, "error": e.to_string() }),
                        },
                        Err(e) => json!({ "type": "result", "ok": false, "error": e.to_string() }),
                    };
                    Some(reply.to_string())
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => None,
            },
        };
        if let Some(text) = out
            && ws.send(Message::text(text)).await.is_err()
        {
            break;
        }
    }
    let _ = ws.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(
            ip.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            5000,
        )
    }

    #[test]
    fn without_a_token_only_loopback_peers_are_served() {
        let h = HeaderMap::new();
        assert_eq!(authorized(None, &h, peer("127.0.0.1")), Ok(()));
        assert_eq!(authorized(None, &h, peer("::1")), Ok(()));
        assert_eq!(
            authorized(None, &h, peer("10.0.0.7")),
            Err(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn with_a_token_every_peer_needs_the_bearer_token() {
        let mut h = HeaderMap::new();
        assert_eq!(
            authorized(Some("s3cret"), &h, peer("127.0.0.1")),
            Err(StatusCode::UNAUTHORIZED)
        );
        h.insert(
            header::AUTHORIZATION,
            "Bearer wrong"
                .parse()
                .unwrap_or(header::HeaderValue::from_static("")),
        );
        assert_eq!(
            authorized(Some("s3cret"), &h, peer("10.0.0.7")),
            Err(StatusCode::UNAUTHORIZED)
        );
        h.insert(
            header::AUTHORIZATION,
            header::HeaderValue::from_static("Bearer s3cret"),
        );
        assert_eq!(authorized(Some("s3cret"), &h, peer("10.0.0.7")), Ok(()));
    }

    #[test]
    fn agent_messages_parse_into_commands() {
        let m: AgentMessage = serde_json::from_str(r#"{"type":"accept","call":"CA1"}"#)
            .unwrap_or(AgentMessage::Logout);
        assert_eq!(
            m.command(),
            AgentCommand::Accept {
                call: CallId::from("CA1")
            }
        );
        let m: AgentMessage = serde_json::from_str(r#"{"type":"not_ready","reason":"break"}"#)
            .unwrap_or(AgentMessage::Logout);
        assert_eq!(
            m.command(),
            AgentCommand::NotReady {
                reason: "break".into()
            }
        );
        assert!(serde_json::from_str::<AgentMessage>(r#"{"type":"dance"}"#).is_err());
    }
}
