//! The suite's load: a small bounded HTTP client (reqwest) that logs users
//! in, opens one chat session per virtual user and runs closed-loop chat
//! turns, recording every request's start, end and outcome against one
//! clock, so a scenario can ask what happened before, during and after its
//! fault. Every loop is bounded in time and count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// No request of the suite may take longer: a hang shows up as this error.
pub const REQUEST_CAP: Duration = Duration::from_secs(30);
/// Turns one virtual user may run, whatever the duration.
const MAX_TURNS_PER_VU: usize = 100_000;

pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(REQUEST_CAP)
        .pool_max_idle_per_host(256)
        .build()?)
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer: status and the body's `code`, if any.
    Status(u16, Option<String>),
    /// No answer: connection refused or reset, timeout.
    Transport(String),
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Status(200, _))
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Status(s, _) => Some(*s),
            Outcome::Transport(_) => None,
        }
    }
}

/// One request, timed from the run's start.
#[derive(Clone, Debug)]
pub struct Sample {
    pub start: Duration,
    pub end: Duration,
    pub outcome: Outcome,
}

impl Sample {
    pub fn latency(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// One virtual user's identity: a bearer token and a session of its own.
#[derive(Clone, Debug)]
pub struct Vu {
    pub token: String,
    pub session_id: i64,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut req = client.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.with_context(|| format!("POST {url}"))?;
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    Ok((status, v))
}

/// Registers `users` accounts, logs each in, and opens `vus` sessions spread
/// over them (sessions are per VU: a turn locks its session's row).
pub async fn setup(base: &str, users: usize, vus: usize) -> anyhow::Result<Vec<Vu>> {
    let client = client()?;
    let mut tokens = Vec::new();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    for i in 0..users.max(1) {
        let username = format!("faults_{tag}_{i}");
        let password = "faults-password-0123";
        let creds = json!({"username": username, "password": password});
        let (s, v) = post(&client, &format!("{base}/api/auth/register"), None, &creds).await?;
        if s != 200 {
            bail!("register {username}: {s} {v}");
        }
        let (s, v) = post(
            &client,
            &format!("{base}/api/auth/login-json"),
            None,
            &creds,
        )
        .await?;
        let token = v["access_token"].as_str().map(str::to_owned);
        match (s, token) {
            (200, Some(t)) => tokens.push(t),
            _ => bail!("login {username}: {s} {v}"),
        }
    }
    let mut out = Vec::with_capacity(vus);
    for i in 0..vus {
        let token = tokens[i % tokens.len()].clone();
        let (s, v) = post(
            &client,
            &format!("{base}/api/chat/sessions"),
            Some(&token),
            &json!({"title": format!("faults {i}")}),
        )
        .await?;
        let id = v["id"].as_i64();
        match (s, id) {
            (200, Some(session_id)) => out.push(Vu { token, session_id }),
            _ => bail!("create session: {s} {v}"),
        }
    }
    Ok(out)
}

/// One chat turn (`/api/chat/chat`), its outcome read from status and body.
pub async fn turn(client: &reqwest::Client, base: &str, vu: &Vu, content: &str) -> Outcome {
    let r = client
        .post(format!("{base}/api/chat/chat"))
        .bearer_auth(&vu.token)
        .json(&json!({"content": content, "session_id": vu.session_id}))
        .send()
        .await;
    outcome(r).await
}

/// A streamed turn (`/api/chat/stream`), read to its end; a 200 whose last
/// event is not `done` counts as a transport failure, naming the event.
pub async fn stream_turn(client: &reqwest::Client, base: &str, vu: &Vu, content: &str) -> Outcome {
    let r = client
        .post(format!("{base}/api/chat/stream"))
        .bearer_auth(&vu.token)
        .json(&json!({"content": content, "session_id": vu.session_id}))
        .send()
        .await;
    match r {
        Ok(r) if r.status().as_u16() == 200 => match r.text().await {
            Ok(body) => {
                let last = body
                    .split("\n\n")
                    .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
                    .last()
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .unwrap_or(Value::Null);
                if last["type"] == "done" {
                    Outcome::Status(200, None)
                } else {
                    Outcome::Transport(format!("stream ended with {last}"))
                }
            }
            Err(e) => Outcome::Transport(kind(&e)),
        },
        other => outcome(other).await,
    }
}

fn kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        format!("transport: {e}")
    }
}

async fn outcome(r: reqwest::Result<reqwest::Response>) -> Outcome {
    match r {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.json::<Value>().await {
                Ok(v) => Outcome::Status(status, v["code"].as_str().map(str::to_owned)),
                Err(e) if status == 200 => Outcome::Transport(kind(&e)),
                Err(_) => Outcome::Status(status, None),
            }
        }
        Err(e) => Outcome::Transport(kind(&e)),
    }
}

/// Closed-loop load: each VU runs turns back to back (with `think` between
/// them) until `duration` has passed since `t0`.
pub struct Load {
    pub samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(
        base: &str,
        vus: &[Vu],
        t0: Instant,
        duration: Duration,
        think: Duration,
    ) -> anyhow::Result<Self> {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = client()?;
        let tasks = vus
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, vu)| {
                let (client, samples, base, stop) = (
                    client.clone(),
                    samples.clone(),
                    base.to_owned(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    for n in 0..MAX_TURNS_PER_VU {
                        let start = t0.elapsed();
                        if start >= duration || stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let outcome =
                            turn(&client, &base, &vu, &format!("question {n} of vu {i}")).await;
                        let end = t0.elapsed();
                        samples.lock().await.push(Sample {
                            start,
                            end,
                            outcome,
                        });
                        tokio::time::sleep(think).await;
                    }
                })
            })
            .collect();
        Ok(Self {
            samples,
            stop,
            tasks,
        })
    }

    /// Asks every VU to stop after its current turn.
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits for every VU to finish its last turn (bounded by the request cap).
    pub async fn finish(self) -> Vec<Sample> {
        for t in self.tasks {
            let _ = t.await;
        }
        let mut s = std::mem::take(&mut *self.samples.lock().await);
        s.sort_by_key(|x| x.start);
        s
    }
}

/// A Prometheus sample's value from the text exposition: the first line
/// whose name (and labels, when given) match.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        let matches = key == name_and_labels
            || (key.starts_with(name_and_labels)
                && !name_and_labels.contains('{')
                && key[name_and_labels.len()..].starts_with('{'));
        if matches {
            value.parse().ok()
        } else {
            None
        }
    })
}

pub async fn metrics_text(base: &str) -> anyhow::Result<String> {
    Ok(client()?
        .get(format!("{base}/api/metrics"))
        .send()
        .await?
        .text()
        .await?)
}

/// Tallies outcomes as `200: n, 503: m, ...` for the table.
pub fn tally(samples: &[Sample]) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for s in samples {
        let key = match &s.outcome {
            Outcome::Status(st, _) => st.to_string(),
            Outcome::Transport(k) => k.split(':').next().unwrap_or("transport").to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The database's view of the turns: (user messages, assistant messages,
/// user messages whose reply is missing).
pub async fn turn_census(database_url: &str) -> anyhow::Result<(i64, i64, i64)> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(database_url).await?;
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM messages WHERE role = 'user'),
           (SELECT count(*) FROM messages WHERE role = 'assistant'),
           (SELECT count(*) FROM messages u WHERE u.role = 'user' AND NOT EXISTS (
              SELECT 1 FROM messages a
              WHERE a.session_id = u.session_id AND a.seq = u.seq + 1 AND a.role = 'assistant'))",
    )
    .fetch_one(&mut c)
    .await
    .context("counting the stored turns")?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_metric_is_read_by_name_or_by_name_and_labels() {
        let text = "# HELP x\nchatbot_http_requests_in_progress 3\n\
                    chatbot_provider_circuit_state{provider=\"openai\"} 2\n";
        assert_eq!(metric(text, "chatbot_http_requests_in_progress"), Some(3.0));
        assert_eq!(metric(text, "chatbot_provider_circuit_state"), Some(2.0));
        assert_eq!(
            metric(text, "chatbot_provider_circuit_state{provider=\"openai\"}"),
            Some(2.0)
        );
        assert_eq!(
            metric(text, "chatbot_http_requests"),
            None,
            "a prefix is not a name"
        );
    }

    #[test]
    fn the_tally_counts_statuses_and_transport_failures() {
        let s = |outcome| Sample {
            start: Duration::ZERO,
            end: Duration::ZERO,
            outcome,
        };
        let samples = [
            s(Outcome::Status(200, None)),
            s(Outcome::Status(503, Some("database_unavailable".into()))),
            s(Outcome::Status(200, None)),
            s(Outcome::Transport("transport: reset".into())),
        ];
        assert_eq!(tally(&samples), "200: 2, 503: 1, transport: 1");
    }
}
