//! The live dashboard (`loadgen run --dashboard [ADDR]`): the HTML report's
//! page ([`crate::html`]), served while the run goes on and redrawn from
//! server-sent events.
//!
//! - `GET /` is the report page with the data so far and the live script;
//! - `GET /events` is an event stream: the data so far at once, then one
//!   event per `--interval` tick (`{"final":false,"data":...}`, the verdict
//!   `running`), and the finished report (`"final":true`, with thresholds
//!   and exit code), after which the stream ends.
//!
//! The server runs on a task of the run's runtime and [`Dashboard::close`]
//! stops it once the final report is out (waiting a moment for the
//! connected pages to receive it): the dashboard never keeps the process
//! alive, so a run with `--dashboard` in CI ends as one without.
//!
//! It reads only what the report page reads, a [`Report`] (the merged
//! aggregate and the time series so far), as the other outputs do. The
//! page and its events are a [`Board`], which `loadgen web` serves too
//! (under `/live/`: the page finds its events by a relative path).

use crate::html;
use crate::report::Report;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// `--dashboard` without an address: k6's dashboard port, loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:5665";

/// The page's event stream, relative to the page (so that a page served
/// under a path, as `loadgen web`'s `/live/`, finds its own).
const EVENTS_PATH: &str = "events";

/// How long [`Dashboard::close`] lets connected pages read the final report
/// before the server stops regardless.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One update; both texts are `None` before the run started.
#[derive(Clone)]
struct Frame {
    /// The page data as JSON (what `GET /` embeds).
    data: Option<Arc<str>>,
    /// The event: `{"final":...,"data":...}`.
    event: Option<Arc<str>>,
    last: bool,
}

/// Where a run's updates go and the live page reads them: the page
/// ([`Board::page`]) and its event stream ([`Board::events`]). Cheap to
/// clone; `loadgen web` keeps one for all its runs.
#[derive(Clone)]
pub struct Board {
    frames: Arc<watch::Sender<Frame>>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            frames: Arc::new(watch::Sender::new(Frame {
                data: None,
                event: None,
                last: false,
            })),
        }
    }
}

impl Board {
    /// Sends `report` to the pages: the run so far (`last` false: the
    /// verdict is `running`), or the finished run.
    pub fn publish(&self, report: &Report, last: bool) {
        let mut data = html::build(report, &report.chart_data());
        if !last {
            data.verdict.status = "running";
            data.verdict.ended = "running";
        }
        let data = html::to_json(&data);
        let event = format!("{{\"final\":{last},\"data\":{data}}}");
        self.frames.send_replace(Frame {
            data: Some(data.into()),
            event: Some(event.into()),
            last,
        });
    }

    /// Forgets the last run: the page waits for the next one.
    pub fn clear(&self) {
        self.frames.send_replace(Frame {
            data: None,
            event: None,
            last: false,
        });
    }

    /// `GET` of the live page.
    pub async fn page(self) -> impl IntoResponse {
        let data = self.frames.borrow().data.clone();
        // Before the run started the page says it waits (and subscribes).
        let body = html::render_live(data.as_deref().unwrap_or("{\"pending\":true}"), EVENTS_PATH);
        ([(header::CACHE_CONTROL, "no-store")], Html(body))
    }

    /// `GET` of the page's event stream: the data so far at once, then
    /// every update; it ends after the final report.
    pub async fn events(self) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
        let mut rx = self.frames.subscribe();
        rx.mark_changed();
        let stream = futures_util::stream::unfold((rx, false), |(mut rx, done)| async move {
            if done {
                return None;
            }
            loop {
                // Err: the board is gone.
                rx.changed().await.ok()?;
                let frame = rx.borrow_and_update().clone();
                if let Some(event) = frame.event {
                    return Some((Ok(Event::default().data(&*event)), (rx, frame.last)));
                }
            }
        });
        Sse::new(stream).keep_alive(KeepAlive::default())
    }
}

/// A serving dashboard; [`Dashboard::close`] ends it.
pub struct Dashboard {
    addr: SocketAddr,
    board: Board,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl Dashboard {
    /// Binds `addr` and starts serving (the page waits for the run until
    /// the first [`Dashboard::publish`]).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Dashboard> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let board = Board::default();
        let (b1, b2) = (board.clone(), board.clone());
        let app = Router::new()
            .route("/", get(move || b1.clone().page()))
            .route("/events", get(move || b2.clone().events()));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("loadgen: warning: the dashboard stopped: {e}");
            }
        });
        Ok(Dashboard {
            addr,
            board,
            stop,
            server,
        })
    }

    /// The address it listens on (the port chosen when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the run publishes its updates.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Sends the final report (when the run produced one), then stops the
    /// server once the pages read it or after a short grace.
    pub async fn close(self, last: Option<&Report>) {
        if let Some(report) = last {
            self.board.publish(report, true);
        }
        let _ = self.stop.send(());
        let mut server = self.server;
        if tokio::time::timeout(CLOSE_GRACE, &mut server)
            .await
            .is_err()
        {
            // A page that stopped reading must not hold the run open.
            server.abort();
        }
    }
}
