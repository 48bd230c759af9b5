//! `ivr serve`: the media WebSocket listener, the admin listener, hot reload and drain.
//!
//! Two listeners, so the admin side is never reachable on the gateway-facing port:
//! - **media** (default `127.0.0.1:8080`): `/twilio`, `/twilio/{number}`, `/asterisk`, each
//!   optionally behind a `/k/<token>` path prefix. Every refusal happens *before* the upgrade,
//!   with an HTTP status and a counted reason: draining (503), unknown path (404), failed auth
//!   (401/403), over capacity (503). Accepted sockets get `TCP_NODELAY`, a small kernel send
//!   buffer, a message size cap and a bounded write buffer, and one session task each
//!   ([`crate::gateway::session`]).
//! - **admin** (default `127.0.0.1:9091`): `/livez`, `/readyz`, `/metrics`,
//!   `POST /api/flows/reload`, `GET /api/flows`, `GET /api/calls`,
//!   `GET /api/calls/{id}/next` (Asterisk dialplan), `POST /api/calls/{id}/facts`,
//!   `PUT|DELETE /api/flags/{flag}`, and `POST /twilio/after-stream` (Twilio's
//!   `<Connect action>` webhook answering TwiML; route only that path from the internet).
//!
//! TLS is not served here: it terminates at the ingress proxy in front of the media port.
//!
//! Drain (SIGTERM, or the future given to [`Server::run`]): readiness fails at once and new
//! upgrades get 503; calls in progress run until they end or `drain_grace` passes, then each
//! is ended deliberately; every session task is awaited (axum alone would not wait for
//! WebSocket tasks); then `run` returns.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::Input;
use crate::cdr::{CdrError, CdrStore, CdrWriter};
use crate::flow::model::FlowSet;
use crate::gateway::acd_actor::{AcdHandle, ActorSettings};
use crate::gateway::config::{ConfigError, ServeConfig};
use crate::gateway::dialect::DialectKind;
use crate::gateway::registry::{Decision, Registry};
use crate::gateway::reload::{self, Debounce};
use crate::gateway::session::{self, SessionSetup};
use crate::ids::{AgentId, CallId};
use crate::media::prompts::PromptStore;
use crate::queue::agents::AgentEntry;
use crate::telemetry::Metrics;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The flows or prompts do not load; every problem, one per line.
    #[error("flows or prompts do not load:\n{}", .0.join("\n"))]
    Load(Vec<String>),
    /// The call-record file could not be opened.
    #[error(transparent)]
    Cdr(#[from] CdrError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The outcome of the last reload, for `GET /api/flows` and the reload endpoint.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadStatus {
    /// Whether the last attempt was accepted.
    pub ok: bool,
    /// Version of the flow set serving now.
    pub version: Option<String>,
    /// Why the last attempt was refused (empty when accepted).
    pub errors: Vec<String>,
    /// Wall-clock time of the last attempt (RFC 3339).
    pub at: Option<String>,
}

/// State shared by the listeners and every session. Locks are std mutexes held for a few
/// instructions, never across an `.await`.
pub struct Shared {
    /// The settings in force.
    pub config: ServeConfig,
    /// Running calls and recent decisions.
    pub registry: Arc<Registry>,
    /// The metric catalogue served on `/metrics`.
    pub metrics: Metrics,
    /// Where calls write their records (`None` when records are off).
    cdr: Option<CdrWriter>,
    cdr_store: Mutex<Option<CdrStore>>,
    started: std::time::Instant,
    /// The ACD actor.
    pub acd: AcdHandle,
    acd_stop: CancellationToken,
    acd_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Cancelled when calls still running at the end of the drain grace must end.
    pub shutdown: CancellationToken,
    tracker: TaskTracker,
    draining: AtomicBool,
    active: AtomicUsize,
    flows: Mutex<Option<Arc<FlowSet>>>,
    prompts: Mutex<Arc<PromptStore>>,
    flags: Mutex<BTreeSet<String>>,
    reload_status: Mutex<ReloadStatus>,
    reload_lock: tokio::sync::Mutex<()>,
}

/// A capacity slot held by one connection from its upgrade to its end.
#[derive(Debug)]
pub struct Slot {
    shared: std::sync::Weak<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = self.shared.upgrade() {
            s.active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("active", &self.active)
            .field("draining", &self.draining)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Where calls write their records (`None` when records are off).
    pub fn cdr(&self) -> Option<CdrWriter> {
        self.cdr.clone()
    }

    /// The flow set new calls start on.
    pub fn flows(&self) -> Option<Arc<FlowSet>> {
        self.flows.lock().ok().and_then(|f| f.clone())
    }

    /// The prompts new playbacks use.
    pub fn prompts(&self) -> Arc<PromptStore> {
        self.prompts
            .lock()
            .map(|p| Arc::clone(&p))
            .unwrap_or_default()
    }

    /// Emergency flags switched on now.
    pub fn flags(&self) -> BTreeSet<String> {
        session::flags_snapshot(&self.flags)
    }

    /// Whether new calls are refused.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The last reload's outcome.
    pub fn reload_status(&self) -> ReloadStatus {
        self.reload_status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn try_slot(self: &Arc<Self>) -> Option<Slot> {
        let max = self.config.max_calls;
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                shared: Arc::downgrade(self),
            })
    }

    fn install(&self, loaded: reload::Loaded) -> String {
        let version = loaded.flows.version.clone();
        if let Ok(mut f) = self.flows.lock() {
            *f = Some(Arc::new(loaded.flows));
        }
        if let Ok(mut p) = self.prompts.lock() {
            *p = Arc::new(loaded.prompts);
        }
        version
    }

    /// Reloads flows and prompts from disk; on failure the old set keeps serving.
    pub async fn reload(self: &Arc<Self>) -> ReloadStatus {
        let _one_at_a_time = self.reload_lock.lock().await;
        let config = self.config.clone();
        let result = tokio::task::spawn_blocking(move || load_with_agents(&config))
            .await
            .unwrap_or_else(|e| Err(vec![format!("reload task failed: {e}")]));
        let at = Some(chrono::Utc::now().to_rfc3339());
        let status = match result {
            Ok((loaded, agents)) => {
                self.metrics.register_flows(&loaded.flows);
                self.acd
                    .reconfigure(loaded.flows.queues.values().cloned().collect(), agents);
                let version = self.install(loaded);
                self.metrics
                    .flow_reloads_total
                    .with_label_values(&["ok"])
                    .inc();
                self.metrics.flow_reload_failed.set(0);
                tracing::info!(%version, "flows reloaded");
                ReloadStatus {
                    ok: true,
                    version: Some(version),
                    errors: Vec::new(),
                    at,
                }
            }
            Err(errors) => {
                self.metrics
                    .flow_reloads_total
                    .with_label_values(&["failed"])
                    .inc();
                self.metrics.flow_reload_failed.set(1);
                tracing::warn!(
                    problems = errors.len(),
                    first = errors.first().map(String::as_str).unwrap_or(""),
                    "flow reload refused; the previous flows keep serving"
                );
                ReloadStatus {
                    ok: false,
                    version: self.flows().map(|f| f.version.clone()),
                    errors,
                    at,
                }
            }
        };
        if let Ok(mut s) = self.reload_status.lock() {
            *s = status.clone();
        }
        status
    }
}

/// A bound, loaded server, ready to [`run`](Server::run).
pub struct Server {
    shared: Arc<Shared>,
    media: TcpListener,
    admin: TcpListener,
    /// Fingerprint of the flow and prompt files taken before they were loaded: the watcher
    /// compares against it, so an edit saved while the engine starts is not missed.
    watch_baseline: u64,
}

impl Server {
    /// Checks the config, loads flows and prompts, and binds both listeners (port 0 picks a
    /// free port; see [`Server::media_addr`]).
    pub async fn bind(mut config: ServeConfig) -> Result<Server, ServeError> {
        if !config.auth.has_secret() {
            config.auth.public_base_url = config.public_base_url.clone();
        }
        config.validate()?;
        let dirs = [config.flows_dir.clone(), config.prompts_dir.clone()];
        let watch_baseline = tokio::task::spawn_blocking(move || {
            let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
            reload::fingerprint(&refs)
        })
        .await
        .unwrap_or(0);
        let cfg = config.clone();
        let (loaded, agents) = tokio::task::spawn_blocking(move || load_with_agents(&cfg))
            .await
            .unwrap_or_else(|e| Err(vec![format!("load task failed: {e}")]))
            .map_err(ServeError::Load)?;
        let metrics = Metrics::new().map_err(|e| ServeError::Load(vec![e.to_string()]))?;
        metrics.register_flows(&loaded.flows);
        let media = TcpListener::bind(config.media_listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.media_listen,
                source,
            })?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.admin_listen,
                source,
            })?;
        let cdr_store = match &config.cdr_path {
            Some(path) => {
                let path = path.clone();
                let m = metrics.clone();
                let (store, closed) = tokio::task::spawn_blocking(move || {
                    CdrStore::open(&path, chrono::Utc::now(), Some(m))
                })
                .await
                .map_err(|e| ServeError::Load(vec![format!("call-record task failed: {e}")]))??;
                if closed > 0 {
                    tracing::warn!(
                        closed,
                        "call records left open by an earlier run closed as ended by restart"
                    );
                }
                tracing::info!(file = %store.path().display(), "writing call records");
                Some(store)
            }
            None => None,
        };
        let acd_stop = CancellationToken::new();
        let (acd, acd_task) = AcdHandle::spawn(
            loaded.flows.queues.values().cloned().collect(),
            agents,
            Some(metrics.clone()),
            ActorSettings {
                agent_uri_template: config.agent_uri_template.clone(),
                ..ActorSettings::default()
            },
            acd_stop.clone(),
        );
        let shared = Arc::new(Shared {
            config,
            registry: Arc::new(Registry::default()),
            metrics,
            cdr: cdr_store.as_ref().map(CdrStore::writer),
            cdr_store: Mutex::new(cdr_store),
            started: std::time::Instant::now(),
            acd,
            acd_stop,
            acd_task: Mutex::new(Some(acd_task)),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            draining: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            flows: Mutex::new(None),
            prompts: Mutex::new(Arc::new(PromptStore::default())),
            flags: Mutex::new(BTreeSet::new()),
            reload_status: Mutex::new(ReloadStatus::default()),
            reload_lock: tokio::sync::Mutex::new(()),
        });
        let version = shared.install(loaded);
        if let Ok(mut s) = shared.reload_status.lock() {
            *s = ReloadStatus {
                ok: true,
                version: Some(version),
                errors: Vec::new(),
                at: Some(chrono::Utc::now().to_rfc3339()),
            };
        }
        Ok(Server {
            shared,
            media,
            admin,
            watch_baseline,
        })
    }

    /// Where gateways connect.
    pub fn media_addr(&self) -> SocketAddr {
        self.media
            .local_addr()
            .unwrap_or(self.shared.config.media_listen)
    }

    /// Where the admin API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .unwrap_or(self.shared.config.admin_listen)
    }

    /// The shared state (for reload triggers such as SIGHUP, and for tests).
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Serves until `shutdown` resolves, then drains and returns once every task ended.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let Server {
            shared,
            media,
            admin,
            watch_baseline,
        } = self;
        let stop_accepting = CancellationToken::new();
        let stop_admin = CancellationToken::new();
        let media_task = tokio::spawn(media_loop(
            media,
            Arc::clone(&shared),
            stop_accepting.clone(),
        ));
        let admin_router = admin_router(Arc::clone(&shared));
        let admin_stop = stop_admin.clone();
        let admin_task = tokio::spawn(async move {
            let service = admin_router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(admin, service)
                .with_graceful_shutdown(async move { admin_stop.cancelled().await })
                .await;
        });
        let watcher = shared.config.watch.then(|| {
            tokio::spawn(watch_loop(
                Arc::clone(&shared),
                stop_admin.clone(),
                watch_baseline,
            ))
        });

        shutdown.await;
        tracing::info!(
            calls = shared.registry.len(),
            grace = ?shared.config.drain_grace,
            "draining: refusing new calls, waiting for calls in progress"
        );
        shared.draining.store(true, Ordering::Release);
        shared.metrics.draining.set(1);
        let deadline = tokio::time::Instant::now() + shared.config.drain_grace;
        while shared.active.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if shared.active.load(Ordering::Acquire) > 0 {
            tracing::warn!(
                calls = shared.registry.len(),
                "drain grace over; ending the calls still in progress"
            );
        }
        shared.shutdown.cancel();
        stop_accepting.cancel();
        let _ = media_task.await;
        shared.tracker.close();
        shared.tracker.wait().await;
        shared.acd_stop.cancel();
        let acd_task = shared.acd_task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = acd_task {
            let _ = t.await;
        }
        stop_admin.cancel();
        let _ = admin_task.await;
        if let Some(w) = watcher {
            let _ = w.await;
        }
        let store = shared.cdr_store.lock().ok().and_then(|mut s| s.take());
        if let Some(store) = store {
            match tokio::task::spawn_blocking(move || store.close()).await {
                Ok(Ok(())) => tracing::info!("call records written"),
                Ok(Err(e)) => tracing::error!(error = %e, "closing the call-record file failed"),
                Err(e) => tracing::error!(error = %e, "closing the call-record file failed"),
            }
        }
        tracing::info!("drained; every call task ended");
        Ok(())
    }
}

/// Loads flows and prompts, then the static agents checked against the loaded queues.
fn load_with_agents(
    config: &ServeConfig,
) -> Result<(reload::Loaded, Vec<AgentEntry>), Vec<String>> {
    let loaded = reload::load_all(config)?;
    let known = loaded.flows.queues.keys().cloned().collect();
    let agents = crate::gateway::acd_actor::load_agents(&config.flows_dir, &known)?;
    Ok((loaded, agents))
}

fn ws_config(cfg: &ServeConfig) -> WebSocketConfig {
    // tungstenite zero-fills `read_buffer_size` bytes before every socket read (128 KiB by
    // default): with one small message per 20 ms frame that memset was a quarter of the
    // engine's CPU and most of its memory per call (BENCHMARKS.md). Messages larger than this
    // still arrive; the buffer grows as needed.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes))
        .write_buffer_size(0)
        .max_write_buffer_size(cfg.max_outbound_bytes)
}

/// Caps the kernel send buffer of an accepted socket (`0`: leave the kernel's autotuning), so
/// a gateway that stops reading blocks our writes within seconds, not minutes.
fn bound_send_buffer(stream: &TcpStream, bytes: usize) {
    if bytes == 0 {
        return;
    }
    if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(bytes) {
        tracing::debug!(error = %e, "cannot set the send buffer of a media socket");
    }
}

async fn media_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                bound_send_buffer(&stream, shared.config.send_buffer_bytes);
                let shared2 = Arc::clone(&shared);
                shared.tracker.spawn(connection(stream, shared2));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What an accepted upgrade carries into its session.
struct Admission {
    kind: DialectKind,
    number: Option<String>,
    query: BTreeMap<String, String>,
    slot: Slot,
}

fn refuse(status: StatusCode, reason: &'static str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(reason.to_owned()));
    *r.status_mut() = status;
    r
}

fn route(path: &str) -> Option<(DialectKind, Option<String>)> {
    match path {
        "/twilio" | "/twilio/" => Some((DialectKind::Twilio, None)),
        "/asterisk" | "/asterisk/" => Some((DialectKind::Asterisk, None)),
        _ => {
            let number = path.strip_prefix("/twilio/")?;
            let ok = !number.is_empty()
                && number.len() <= 32
                && number
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-'));
            ok.then(|| (DialectKind::Twilio, Some(number.to_owned())))
        }
    }
}

fn admit(shared: &Arc<Shared>, req: &Request) -> Result<Admission, (StatusCode, &'static str)> {
    if shared.is_draining() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "draining"));
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let signature = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let admitted = shared
        .config
        .auth
        .admit(&path_and_query, signature)
        .map_err(|r| {
            let status = match r {
                crate::gateway::auth::Refusal::MissingSignature => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            (status, r.reason())
        })?;
    let (kind, number) = route(admitted.path).ok_or((StatusCode::NOT_FOUND, "bad_request"))?;
    let query = req.uri().query().map(parse_form).unwrap_or_default();
    let slot = shared
        .try_slot()
        .ok_or((StatusCode::SERVICE_UNAVAILABLE, "over_capacity"))?;
    Ok(Admission {
        kind,
        number,
        query,
        slot,
    })
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut admission: Option<Admission> = None;
    // The error type is tungstenite's; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: WsResponse| -> Result<WsResponse, ErrorResponse> {
        match admit(&shared, req) {
            Ok(a) => {
                admission = Some(a);
                Ok(with_subprotocol(req, resp))
            }
            Err((status, reason)) => {
                shared
                    .metrics
                    .handshakes_rejected_total
                    .with_label_values(&[reason])
                    .inc();
                Err(refuse(status, reason))
            }
        }
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(ws_config(&shared.config)),
    );
    let ws = match tokio::time::timeout(shared.config.handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(_)) | Err(_) => {
            if admission.is_none() {
                return;
            }
            shared
                .metrics
                .handshakes_rejected_total
                .with_label_values(&["bad_request"])
                .inc();
            return;
        }
    };
    let Some(a) = admission else {
        return;
    };
    session::run(
        ws,
        SessionSetup {
            shared: Arc::clone(&shared),
            kind: a.kind,
            path_number: a.number,
            query: a.query,
            slot: a.slot,
        },
    )
    .await;
}

/// Answers the `media` subprotocol when the gateway asks for it (Asterisk's
/// `websocket_client.conf` sends `protocols = media`; a client that asked for a subprotocol may
/// drop an answer without one).
fn with_subprotocol(req: &Request, mut resp: WsResponse) -> WsResponse {
    let asked = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "media");
    if asked {
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static("media"),
        );
    }
    resp
}

/// Parses `a=1&b=two%20words` (URL query or form body), percent- and `+`-decoded.
pub fn parse_form(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn watch_loop(shared: Arc<Shared>, stop: CancellationToken, first: u64) {
    let dirs = [
        shared.config.flows_dir.clone(),
        shared.config.prompts_dir.clone(),
    ];
    let fp = {
        let dirs = dirs.clone();
        move || {
            let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
            reload::fingerprint(&refs)
        }
    };
    let mut debounce = Debounce::new(first, shared.config.reload_debounce);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(shared.config.watch_interval) => {}
        }
        let Ok(now_fp) = tokio::task::spawn_blocking(fp.clone()).await else {
            continue;
        };
        if debounce.observe(now_fp, std::time::Instant::now()) {
            tracing::info!("flow or prompt files changed; reloading");
            shared.reload().await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Admin listener
// ---------------------------------------------------------------------------------------

fn admin_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/flows", get(flows_status))
        .route("/api/flows/reload", post(flows_reload))
        .route("/api/calls", get(calls))
        .route("/api/calls/{id}/next", get(call_next))
        .route("/api/calls/{id}/facts", post(call_fact))
        .route("/api/flags/{flag}", put(flag_on).delete(flag_off))
        .route("/twilio/after-stream", post(twilio_after_stream))
        .merge(crate::gateway::agents_api::router())
        .with_state(shared)
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    if s.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else if s.flows().is_none() {
        (StatusCode::SERVICE_UNAVAILABLE, "no flows loaded").into_response()
    } else {
        (StatusCode::OK, "ready").into_response()
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    // Queue gauges as of now; a busy or stopped ACD must not hold the scrape up.
    let _ = tokio::time::timeout(Duration::from_millis(250), s.acd.publish_metrics()).await;
    s.metrics
        .uptime_seconds
        .set(s.started.elapsed().as_secs_f64());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn flows_status(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.reload_status()).into_response()
}

async fn flows_reload(State(s): State<Arc<Shared>>) -> Response {
    let status = s.reload().await;
    let code = if status.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (code, axum::Json(status)).into_response()
}

#[derive(Serialize)]
struct CallView {
    id: String,
    gateway: &'static str,
    flow: Option<String>,
}

async fn calls(State(s): State<Arc<Shared>>) -> Response {
    let list: Vec<CallView> = s
        .registry
        .list()
        .into_iter()
        .map(|(id, e)| CallView {
            id: id.0,
            gateway: e.gateway,
            flow: e.flow,
        })
        .collect();
    axum::Json(list).into_response()
}

/// For the Asterisk dialplan (`${CURL(http://127.0.0.1:9091/api/calls/${UNIQUEID}/next)}`):
/// `TRANSFER <target>`, `HANGUP`, or 404 `UNKNOWN`.
async fn call_next(State(s): State<Arc<Shared>>, UrlPath(id): UrlPath<String>) -> Response {
    match s.registry.decision(&CallId::new(id)) {
        Some(Decision::Transfer { target }) => {
            (StatusCode::OK, format!("TRANSFER {target}")).into_response()
        }
        Some(Decision::Hangup | Decision::Drained) => (StatusCode::OK, "HANGUP").into_response(),
        None => (StatusCode::NOT_FOUND, "UNKNOWN").into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case", deny_unknown_fields)]
enum FactBody {
    AgentAssigned {
        agent: String,
    },
    AgentCallEnded,
    QueueStatus {
        position: u32,
        estimated_wait_secs: Option<u64>,
    },
    QueueTimedOut,
    QueueNoAgents,
    QueueFull,
    CallbackRegistered,
    TransferConnected,
    TransferFailed {
        reason: String,
    },
}

/// Pushes a queue or transfer fact into a running call (for an external ACD or ops tools).
async fn call_fact(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> Response {
    let fact: FactBody = match serde_json::from_str(&body) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let input = match fact {
        FactBody::AgentAssigned { agent } => Input::AgentAssigned {
            agent: AgentId::new(agent),
        },
        FactBody::AgentCallEnded => Input::AgentCallEnded,
        FactBody::QueueStatus {
            position,
            estimated_wait_secs,
        } => Input::QueueStatus {
            position,
            estimated_wait: estimated_wait_secs.map(Duration::from_secs),
        },
        FactBody::QueueTimedOut => Input::QueueTimedOut,
        FactBody::QueueNoAgents => Input::QueueNoAgents,
        FactBody::QueueFull => Input::QueueFull,
        FactBody::CallbackRegistered => Input::CallbackRegistered,
        FactBody::TransferConnected => Input::TransferConnected,
        FactBody::TransferFailed { reason } => Input::TransferFailed { reason },
    };
    match s.registry.facts(&CallId::new(id)) {
        Some(tx) => match tx.try_send(input) {
            Ok(()) => (StatusCode::ACCEPTED, "accepted").into_response(),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "call busy").into_response(),
        },
        None => (StatusCode::NOT_FOUND, "no such call").into_response(),
    }
}

async fn flag_on(State(s): State<Arc<Shared>>, UrlPath(flag): UrlPath<String>) -> Response {
    if let Ok(mut f) = s.flags.lock() {
        f.insert(flag);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn flag_off(State(s): State<Arc<Shared>>, UrlPath(flag): UrlPath<String>) -> Response {
    if let Ok(mut f) = s.flags.lock() {
        f.remove(&flag);
    }
    StatusCode::NO_CONTENT.into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// TwiML for where a call goes after its stream closed.
pub fn twiml_for(decision: Option<&Decision>, drain_redirect: Option<&str>) -> String {
    let body = match decision {
        Some(Decision::Transfer { target }) => match target.strip_prefix("tel:") {
            Some(number) => format!("<Dial>{}</Dial>", xml_escape(number)),
            None if target.starts_with("sip:") || target.starts_with("sips:") => {
                format!("<Dial><Sip>{}</Sip></Dial>", xml_escape(target))
            }
            None => format!("<Dial>{}</Dial>", xml_escape(target)),
        },
        Some(Decision::Drained) => match drain_redirect {
            Some(url) => format!("<Redirect method=\"POST\">{}</Redirect>", xml_escape(url)),
            None => "<Hangup/>".to_owned(),
        },
        Some(Decision::Hangup) | None => "<Hangup/>".to_owned(),
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
}

/// Twilio's `<Connect action=".../twilio/after-stream">` webhook: answers TwiML with the
/// decision the call's session recorded.
async fn twilio_after_stream(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form = parse_form(&body);
    if let (Some(token), Some(base)) = (
        s.config.auth.twilio_auth_token.as_ref(),
        s.config.public_webhook_base_url.as_deref(),
    ) {
        let url = format!("{}/twilio/after-stream", base.trim_end_matches('/'));
        let params: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sig = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !crate::gateway::auth::verify_twilio(token.expose(), &url, &params, sig) {
            s.metrics
                .handshakes_rejected_total
                .with_label_values(&["bad_signature"])
                .inc();
            return (StatusCode::FORBIDDEN, "bad signature").into_response();
        }
    }
    let decision = form
        .get("CallSid")
        .and_then(|sid| s.registry.decision(&CallId::new(sid.clone())));
    (
        [(header::CONTENT_TYPE, "text/xml")],
        twiml_for(decision.as_ref(), s.config.drain_redirect_url.as_deref()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_route_to_their_dialect() {
        assert_eq!(route("/twilio"), Some((DialectKind::Twilio, None)));
        assert_eq!(
            route("/twilio/95017"),
            Some((DialectKind::Twilio, Some("95017".into())))
        );
        assert_eq!(
            route("/twilio/+86-755-83765566"),
            Some((DialectKind::Twilio, Some("+86-755-83765566".into())))
        );
        assert_eq!(route("/asterisk"), Some((DialectKind::Asterisk, None)));
        assert_eq!(route("/twilio/../../etc"), None);
        assert_eq!(route("/metrics"), None);
    }

    #[test]
    fn forms_decode_percent_and_plus() {
        let f = parse_form("CallSid=CA1&From=%2B8613800000000&Note=a+b&bad=%zz&end=%4");
        assert_eq!(f["From"], "+8613800000000");
        assert_eq!(f["Note"], "a b");
        assert_eq!(f["bad"], "%zz");
        assert_eq!(f["end"], "%4");
    }

    #[test]
    fn twiml_dials_numbers_and_sip_agents_and_hangs_up_otherwise() {
        let tel = Decision::Transfer {
            target: "tel:+862161234567".into(),
        };
        assert!(twiml_for(Some(&tel), None).contains("<Dial>+862161234567</Dial>"));
        let sip = Decision::Transfer {
            target: "sip:agent7@pbx.example.com".into(),
        };
        assert!(
            twiml_for(Some(&sip), None)
                .contains("<Dial><Sip>sip:agent7@pbx.example.com</Sip></Dial>")
        );
        assert!(twiml_for(None, None).contains("<Hangup/>"));
        assert!(
            twiml_for(Some(&Decision::Drained), Some("https://x/voice?a=1&b=2"))
                .contains("<Redirect method=\"POST\">https://x/voice?a=1&amp;b=2</Redirect>")
        );
    }
}
