//! A small reverse proxy on loopback for the zero-downtime restart: it
//! spreads requests over its upstreams in turn and, when one cannot be
//! reached, tries the next (as nginx's `proxy_next_upstream error` with
//! `non_idempotent`). A request is retried only when the upstream failed
//! before answering anything: a refused or reset connection, or one closed
//! before a response. The backend's graceful shutdown closes a connection
//! unanswered only when it never read the request (it finishes every
//! request it has read), so such a retry never runs a turn twice.
//!
//! Upstream connections are not pooled: each request opens its own, so a
//! backend that has stopped is seen as a refused connect, never as a stale
//! pooled connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, hyper::Error>;

/// Request bodies are buffered (to be sent again): the API's are small.
const MAX_BODY: usize = 1024 * 1024;

pub struct Proxy {
    pub port: u16,
    /// Requests sent again to another upstream after a failure.
    pub retried: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstreams: Vec<u16>,
    next: AtomicUsize,
    retried: Arc<AtomicUsize>,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub async fn start(upstreams: Vec<u16>) -> anyhow::Result<Proxy> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = listener.local_addr()?.port();
    let retried = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Shared {
        upstreams,
        next: AtomicUsize::new(0),
        retried: retried.clone(),
        client: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http(),
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(forward(&shared, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Proxy {
        port,
        retried,
        task,
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|n| match n {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

async fn forward(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or cut",
            )
        }
    };
    let n = shared.upstreams.len();
    let first = shared.next.fetch_add(1, Ordering::Relaxed);
    // Every upstream twice: a restart takes one away for a moment.
    for attempt in 0..2 * n {
        let port = shared.upstreams[(first + attempt) % n];
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("http://127.0.0.1:{port}{path}").parse::<hyper::Uri>() else {
            return plain(StatusCode::BAD_REQUEST, "bad path");
        };
        let mut up = Request::new(Full::new(body.clone()));
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = parts.headers.clone();
        match shared.client.request(up).await {
            Ok(resp) => return resp.map(BodyExt::boxed),
            Err(_) => {
                shared.retried.fetch_add(1, Ordering::Relaxed);
                if attempt + 1 >= n {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    plain(StatusCode::BAD_GATEWAY, "no upstream answered")
}
