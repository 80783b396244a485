//! One journey VU: its account, its connection, its credentials, its loop.

use super::extract::extract;
use super::spec::{AuthMode, LoginMode};
use super::stream::SseSink;
use super::{Journey, UserTypePlan};
use crate::engine::Vu;
use crate::http::{Client, Exchange, Reply, MAX_KEPT_BODY};
use crate::stats::{Name, Record, RequestRecord, StreamEnd, StreamRecord};
use bytes::Bytes;
use cookie::Cookie;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use hyper::Method;
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::sync::Arc;

/// Credentials after a successful login, as the header values every
/// later request sends (built once per login, not once per request).
#[derive(Debug, Clone, Default)]
struct Credentials {
    /// `Cookie: name=value`, from the login's `Set-Cookie`.
    cookie: Option<HeaderValue>,
    /// The CSRF header's value.
    csrf: Option<HeaderValue>,
    /// `Authorization: Bearer <token>`.
    bearer: Option<HeaderValue>,
}

/// Phase names, allocated once per VU.
struct Phases {
    auth: Name,
    session: Name,
    chat: Name,
    chat_stream: Name,
    other: Name,
}

struct State<'a> {
    journey: &'a Journey,
    vu: Vu,
    client: Client,
    rng: ChaCha8Rng,
    creds: Option<Credentials>,
    phases: Phases,
    iteration: u64,
    /// Open model: how late the current iteration started, until its first
    /// request takes it into its timings (counting from the scheduled start).
    late: std::time::Duration,
    /// Endpoint and check names already made [`Name`]s: a record shares
    /// one instead of allocating its own.
    names: Vec<Name>,
    /// The headers of the request being sent (reused: no allocation).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The login body: this VU's account never changes.
    login_body: Option<Bytes>,
    /// Content events of this VU's last stream: the next stream's offsets
    /// are allocated at that size once instead of grown from empty.
    content_hint: usize,
}

/// Runs one VU until it is asked to stop.
pub(super) async fn run(journey: Arc<Journey>, vu: Vu) {
    let mut rng = ChaCha8Rng::seed_from_u64(
        journey.seed ^ u64::from(vu.id).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let user_type = pick_type(&journey.plan.user_types, &mut rng);
    let mut st = State {
        journey: &journey,
        client: Client::new(Arc::clone(&journey.target), journey.plan.timeout),
        vu,
        rng,
        creds: None,
        phases: Phases {
            auth: "auth".into(),
            session: "session".into(),
            chat: "chat".into(),
            chat_stream: "chat_stream".into(),
            other: "other".into(),
        },
        iteration: 0,
        late: std::time::Duration::ZERO,
        content_hint: 0,
        names: Vec::new(),
        headers: Vec::new(),
        login_body: None,
    };
    // Closed model: the next iteration starts now, after the think time.
    // Open model: at its scheduled arrival, which also starts its clock, so
    // an iteration that waited for a free VU shows the wait.
    while let Some(scheduled) = st.vu.next_iteration().await {
        let lateness = st.vu.is_open().then(|| scheduled.elapsed());
        st.late = lateness.unwrap_or_default();
        st.iteration(user_type.turns).await;
        if !st.vu.is_open() {
            // Stopping during think time ends the loop; the iteration's
            // requests are all done, so it still counts (its duration is
            // what it was).
            let _ = st.vu.pause(user_type.think).await;
        }
        st.vu.record(Record::Iteration {
            duration: scheduled.elapsed(),
            lateness,
        });
        st.iteration += 1;
    }
}

fn pick_type(types: &[UserTypePlan], rng: &mut ChaCha8Rng) -> UserTypePlan {
    let fallback = UserTypePlan {
        name: "normal".into(),
        weight: 1,
        turns: 1,
        think: std::time::Duration::from_secs(1),
    };
    match WeightedIndex::new(types.iter().map(|t| t.weight)) {
        Ok(dist) => types.get(dist.sample(rng)).cloned().unwrap_or(fallback),
        Err(_) => types.first().cloned().unwrap_or(fallback),
    }
}

/// Looks up a dotted path (`assistant_message.content`, `items.0.id`) in a
/// parsed document: the meaning [`super::extract`] keeps without parsing one.
#[cfg(test)]
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Cookie `name` among the `Set-Cookie` headers, unless it is being
/// cleared (empty value or `Max-Age=0`); only its name and value are kept,
/// which is all a `Cookie` request header carries.
pub fn session_cookie(headers: &hyper::HeaderMap, name: &str) -> Option<Cookie<'static>> {
    headers.get_all(SET_COOKIE).iter().find_map(|h| {
        let c = Cookie::parse(h.to_str().ok()?).ok()?;
        let cleared = c.max_age().is_some_and(|age| age.is_zero());
        let value = c.value_trimmed();
        (c.name() == name && !value.is_empty() && !cleared)
            .then(|| Cookie::new(name.to_string(), value.to_string()))
    })
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON object of string keys, written straight to bytes (no `Value`).
fn json_object(pairs: &[(&str, &Value)]) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a string or a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value);
    }
    out.push(b'}');
    Bytes::from(out)
}

impl State<'_> {
    /// `s` as a shared [`Name`], allocated once per VU.
    fn name(&mut self, s: &str) -> Name {
        if let Some(n) = self.names.iter().find(|n| &***n == s) {
            return n.clone();
        }
        let n: Name = s.into();
        self.names.push(n.clone());
        n
    }

    fn check(&mut self, phase: &Name, name: &str, passed: bool) {
        let name = self.name(name);
        self.vu.record(Record::Check {
            phase: phase.clone(),
            name,
            passed,
        });
    }

    /// A response cut at its cap (a body past [`MAX_KEPT_BODY`], a stream
    /// line or event past its cap) is counted in the summary.
    fn record_cut(&self, ex: &Exchange) {
        if ex.cut > 0 {
            self.vu.record(Record::Truncated { bytes: ex.cut });
        }
    }

    /// Fills `self.headers` with the credentials a request carries.
    fn auth_headers(&mut self, write: bool) {
        let plan = &self.journey.plan;
        self.headers.clear();
        let Some(c) = &self.creds else { return };
        match plan.auth {
            AuthMode::Cookie => {
                if let Some(v) = &c.cookie {
                    self.headers.push((COOKIE, v.clone()));
                }
                if write {
                    if let Some(v) = &c.csrf {
                        self.headers.push((plan.csrf_header.clone(), v.clone()));
                    }
                }
            }
            AuthMode::Bearer => {
                if let Some(v) = &c.bearer {
                    self.headers.push((AUTHORIZATION, v.clone()));
                }
            }
        }
    }

    /// Sends a request (a JSON body when given), records it, and returns
    /// the reply; the caller reads the fields it checks ([`extract`]).
    ///
    /// [`extract`]: super::extract::extract
    async fn call(
        &mut self,
        phase: &Name,
        endpoint: &str,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Option<Reply> {
        let write = method != Method::GET;
        self.auth_headers(write);
        if body.is_some() {
            self.headers
                .push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        }
        let ex = self
            .client
            .send(method, path, &self.headers, body, MAX_KEPT_BODY)
            .await;
        self.record_cut(&ex);
        let endpoint_name = self.name(endpoint);
        let mut request = RequestRecord {
            phase: phase.clone(),
            endpoint: endpoint_name,
            status: ex.result.as_ref().ok().map(|r| r.status),
            error: ex.result.as_ref().err().copied(),
            duration: ex.duration,
            waiting: ex.waiting,
            bytes_sent: ex.bytes_sent,
            bytes_received: ex.bytes_received,
        };
        request.count_from_earlier(std::mem::take(&mut self.late));
        self.vu.record(Record::Request(request));
        let reply = ex.result.ok()?;
        if reply.status == 401 && endpoint != "login" {
            // Expired or revoked: log in again on the next iteration.
            self.creds = None;
        }
        Some(reply)
    }

    /// One streamed chat turn: records the request (with E2E as its
    /// duration and TTFB as its waiting time) and its token timings, and
    /// the chat checks. True when the turn completed with a `done` event.
    async fn chat_streamed(&mut self, phase: &Name, path: &str, body: Bytes) -> bool {
        self.auth_headers(true);
        self.headers
            .push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        let mut sink = SseSink::expecting(self.content_hint);
        let ex = self
            .client
            .send_to(Method::POST, path, &self.headers, Some(body), &mut sink)
            .await;
        self.record_cut(&ex);
        let status = ex.result.as_ref().ok().map(|r| r.status);
        let mut request = RequestRecord {
            phase: phase.clone(),
            endpoint: self.phases.chat_stream.clone(),
            status,
            error: ex.result.as_ref().err().copied(),
            duration: ex.duration,
            waiting: ex.waiting,
            bytes_sent: ex.bytes_sent,
            bytes_received: ex.bytes_received,
        };
        let mut end = None;
        if sink.streaming {
            // E2E: the done or error event; without one, the end of the body
            // (EOF, a broken connection or the timeout), which is now.
            let (how, at) = sink
                .end
                .unwrap_or((StreamEnd::Cut, sink.since_start().unwrap_or(ex.duration)));
            request.duration = at;
            request.waiting = sink.ttfb.unwrap_or(ex.waiting);
            end = Some(how);
            let mut record = StreamRecord {
                request,
                content_at: std::mem::take(&mut sink.content_at),
                end: how,
                completion_tokens: sink.completion_tokens,
            };
            self.content_hint = record.content_at.len();
            // Open model: TTFB, TTFT and E2E from the scheduled start when
            // this turn opens the iteration (DESIGN.md, streaming metrics).
            record.count_from_earlier(std::mem::take(&mut self.late));
            self.vu.record(Record::Stream(Box::new(record)));
        } else {
            request.count_from_earlier(std::mem::take(&mut self.late));
            self.vu.record(Record::Request(request));
        }
        if status == Some(401) {
            self.creds = None;
        }
        let ok = status == Some(200);
        let done = end == Some(StreamEnd::Done);
        self.check(phase, "chat status is 200", ok);
        self.check(
            phase,
            "assistant reply is not empty",
            done && sink.text_seen,
        );
        self.check(phase, "stream completed with done", done);
        ok && done
    }

    async fn login(&mut self) -> bool {
        let journey = self.journey;
        let plan = &journey.plan;
        let f = &plan.fields;
        let body = match &self.login_body {
            Some(b) => b.clone(),
            None => {
                let Some(user) = plan
                    .users
                    .get(self.vu.id as usize % plan.users.len().max(1))
                else {
                    return false;
                };
                let body = json_object(&[
                    (&f.username, &Value::from(user.username.as_str())),
                    (&f.password, &Value::from(user.password.as_str())),
                ]);
                self.login_body = Some(body.clone());
                body
            }
        };
        let phase = self.phases.auth.clone();
        let reply = self
            .call(&phase, "login", Method::POST, &plan.paths.login, Some(body))
            .await;
        let ok = reply.as_ref().is_some_and(|r| r.status == 200);
        self.check(&phase, "login status is 200", ok);
        let Some(reply) = reply else {
            return false;
        };
        let [csrf, token] = extract(&reply.body, [&f.csrf_token, &f.access_token]);
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let cookie = session_cookie(&reply.headers, &f.cookie);
        let (csrf, token) = (text(csrf), text(token));
        // The checks are about what the login answered; a value that cannot
        // be a header is then left out of the requests, as before.
        let (has_cookie, has_csrf, has_token) = (cookie.is_some(), csrf.is_some(), token.is_some());
        let creds = Credentials {
            // `name=value` and nothing else, as a Cookie header wants.
            cookie: cookie.and_then(|c| HeaderValue::from_str(&c.stripped().to_string()).ok()),
            csrf: csrf.and_then(|t| HeaderValue::from_str(&t).ok()),
            bearer: token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()),
        };
        let usable = match plan.auth {
            AuthMode::Cookie => {
                self.check(&phase, "login sets the access_token cookie", has_cookie);
                self.check(&phase, "login returns csrf_token", has_csrf);
                has_cookie && has_csrf
            }
            AuthMode::Bearer => {
                self.check(&phase, "login returns access_token", has_token);
                has_token
            }
        };
        if ok && usable {
            self.creds = Some(creds);
        }
        ok && usable
    }

    async fn iteration(&mut self, turns: u32) {
        // The plan outlives the VU's state: borrowed, not cloned per iteration.
        let journey = self.journey;
        let steps = journey.plan.steps;
        let paths = &journey.plan.paths;
        let fields = &journey.plan.fields;
        let login_now =
            self.creds.is_none() || self.journey.plan.login == LoginMode::EveryIteration;
        if steps.auth && login_now && !self.login().await {
            return;
        }
        let session_phase = self.phases.session.clone();
        if steps.list {
            let r = self
                .call(
                    &session_phase,
                    "list_sessions",
                    Method::GET,
                    &paths.sessions,
                    None,
                )
                .await;
            self.check(
                &session_phase,
                "list sessions status is 200",
                r.is_some_and(|r| r.status == 200),
            );
        }
        let mut session_id: Option<Value> = None;
        if steps.session {
            let title = format!("loadgen vu {} iteration {}", self.vu.id, self.iteration);
            let body = json_object(&[(&fields.session_title, &Value::from(title))]);
            let r = self
                .call(
                    &session_phase,
                    "create_session",
                    Method::POST,
                    &paths.sessions,
                    Some(body),
                )
                .await;
            let ok = r.as_ref().is_some_and(|r| r.status == 200);
            self.check(&session_phase, "create session status is 200", ok);
            session_id = r.and_then(|r| {
                let [id] = extract(&r.body, [&fields.session_id]);
                id.filter(|v| !v.is_null())
            });
            self.check(&session_phase, "session has an id", session_id.is_some());
            if session_id.is_none() {
                return;
            }
        }
        if steps.chat {
            let chat_phase = self.phases.chat.clone();
            let stream = journey.plan.stream;
            for _ in 0..turns {
                let prompts = &journey.plan.prompts;
                let prompt = prompts
                    .get(self.rng.gen_range(0..prompts.len().max(1)))
                    .map_or("Hello!", String::as_str);
                let prompt = Value::from(prompt);
                let body = match &session_id {
                    Some(id) => json_object(&[
                        (&fields.chat_content, &prompt),
                        (&fields.chat_session_id, id),
                    ]),
                    None => json_object(&[(&fields.chat_content, &prompt)]),
                };
                if stream {
                    let done = self.chat_streamed(&chat_phase, &paths.stream, body).await;
                    if !done || (self.creds.is_none() && steps.auth) {
                        return;
                    }
                    continue;
                }
                let r = self
                    .call(&chat_phase, "chat", Method::POST, &paths.chat, Some(body))
                    .await;
                let ok = r.as_ref().is_some_and(|r| r.status == 200);
                self.check(&chat_phase, "chat status is 200", ok);
                let content = r.as_ref().is_some_and(|r| {
                    let [content] = extract(&r.body, [&fields.assistant_content]);
                    content
                        .as_ref()
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.trim().is_empty())
                });
                self.check(&chat_phase, "assistant reply is not empty", content);
                if !ok || (self.creds.is_none() && steps.auth) {
                    return;
                }
            }
        }
        if steps.history {
            if let Some(id) = &session_id {
                let path = paths.session.replace("{id}", &id_text(id));
                let r = self
                    .call(&session_phase, "get_session", Method::GET, &path, None)
                    .await;
                self.check(
                    &session_phase,
                    "session history status is 200",
                    r.is_some_and(|r| r.status == 200),
                );
            }
        }
        if steps.other
            && !paths.other.is_empty()
            && self.rng.gen_bool(journey.plan.other_probability)
        {
            let pick = &paths.other[self.rng.gen_range(0..paths.other.len())];
            let phase = self.phases.other.clone();
            let r = self
                .call(&phase, &pick.name, Method::GET, &pick.path, None)
                .await;
            self.check(
                &phase,
                &format!("{} status is 200", pick.name),
                r.is_some_and(|r| r.status == 200),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cookie_value(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
        session_cookie(headers, name).map(|c| c.value().to_string())
    }

    #[test]
    fn dotted_paths_reach_nested_fields_and_array_items() {
        let v = json!({"assistant_message": {"content": "hi"}, "items": [{"id": 7}]});
        assert_eq!(lookup(&v, "assistant_message.content"), Some(&json!("hi")));
        assert_eq!(lookup(&v, "items.0.id"), Some(&json!(7)));
        assert_eq!(lookup(&v, "assistant_message.missing"), None);
    }

    #[test]
    fn the_session_cookie_is_read_and_a_cleared_one_is_ignored() {
        let mut h = hyper::HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("access_token=abc.def; HttpOnly; Path=/; SameSite=Lax"),
        );
        assert_eq!(cookie_value(&h, "access_token").as_deref(), Some("abc.def"));
        let mut cleared = hyper::HeaderMap::new();
        cleared.append(
            SET_COOKIE,
            HeaderValue::from_static("access_token=x; Max-Age=0; Path=/"),
        );
        assert_eq!(cookie_value(&cleared, "access_token"), None);
        let mut quoted = hyper::HeaderMap::new();
        quoted.append(
            SET_COOKIE,
            HeaderValue::from_static("access_token=\"q.r\"; Path=/"),
        );
        assert_eq!(
            cookie_value(&quoted, "access_token").as_deref(),
            Some("q.r")
        );
        let mut empty = hyper::HeaderMap::new();
        empty.append(
            SET_COOKIE,
            HeaderValue::from_static("access_token=; Path=/"),
        );
        assert_eq!(cookie_value(&empty, "access_token"), None);
    }

    #[test]
    fn the_cookie_header_carries_only_name_and_value() {
        let mut h = hyper::HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static(
                "access_token=abc.def; HttpOnly; Path=/; SameSite=Lax; Max-Age=14400",
            ),
        );
        let c = session_cookie(&h, "access_token").unwrap();
        assert_eq!(c.stripped().to_string(), "access_token=abc.def");
    }
}
