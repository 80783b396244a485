"""The default chat journey as Locust's FastHttpUser runs it, for
scripts/bench-journey.sh: the equivalent of `loadgen run --think 0s` and of
k6-journey.js (login-json with the cookie jar, create a session with
X-CSRF-Token, chat in it; the same checks, JSON parsed), no wait time.

    locust -f locust_journey.py --headless -u 20 -r 20 -t 10s \
        --host http://127.0.0.1:18080 --only-summary

The streaming variant (LOCUST_JOURNEY=stream) reads POST /api/chat/stream as
server-sent events in Python, timing every token event (a `token` request
entry per gap, as Locust has no histogram of its own for them).
"""
import itertools
import json
import os
import time

from locust import FastHttpUser, constant, events, task

USERS = json.load(
    open(os.environ.get("USERS_FILE", os.path.join(os.path.dirname(__file__), "..", "users.json")))
)["users"]
_next_user = itertools.count()
STREAM = os.environ.get("LOCUST_JOURNEY") == "stream"
READ_SIZE = len(b'data: {"type":"token","token":" word"}\n\n')
PROMPT = "How do I keep p95 latency low when 100 users chat at once?"


class Journey(FastHttpUser):
    # THINK (seconds) only for the idle-memory run: users that stay idle.
    wait_time = constant(float(os.environ.get("THINK", "0")))

    def on_start(self):
        self.user = USERS[next(_next_user) % len(USERS)]
        self.iteration = 0
        self.csrf = None

    def login(self):
        with self.client.post(
            "/api/auth/login-json",
            json={"username": self.user["username"], "password": self.user["password"]},
            name="login",
            catch_response=True,
        ) as r:
            try:
                csrf = r.json().get("csrf_token")
            except Exception:
                csrf = None
            has_cookie = any(c.name == "access_token" for c in self.client.cookiejar)
            if r.status_code != 200 or not has_cookie or not csrf:
                r.failure("login check failed")
                return False
            self.csrf = csrf
            return True

    def create_session(self):
        with self.client.post(
            "/api/chat/sessions",
            json={"title": f"locust iteration {self.iteration}"},
            headers={"X-CSRF-Token": self.csrf},
            name="create_session",
            catch_response=True,
        ) as r:
            try:
                session_id = r.json().get("id")
            except Exception:
                session_id = None
            if r.status_code != 200 or session_id is None:
                r.failure("session check failed")
            return session_id

    @task
    def journey(self):
        self.iteration += 1
        if STREAM:
            # As loadgen's streaming case: log in once, then session + stream.
            if self.csrf is None and not self.login():
                return
        elif not self.login():
            return
        session_id = self.create_session()
        if session_id is None:
            return
        body = {"content": PROMPT, "session_id": session_id}
        headers = {"X-CSRF-Token": self.csrf}
        if STREAM:
            self.stream(body, headers)
            return
        with self.client.post(
            "/api/chat/chat", json=body, headers=headers, name="chat", catch_response=True
        ) as r:
            try:
                content = (r.json().get("assistant_message") or {}).get("content") or ""
            except Exception:
                content = ""
            if r.status_code != 200 or not content.strip():
                r.failure("chat check failed")

    def stream(self, body, headers):
        fire = events.request.fire
        with self.client.post(
            "/api/chat/stream", json=body, headers=headers, name="chat_stream",
            stream=True, catch_response=True,
        ) as r:
            last = time.perf_counter()
            pending = b""
            done = False
            tokens = 0
            # geventhttpclient's read(n) waits for n bytes: read one of the
            # bench target's token events at a time, so each is timed as it
            # arrives (a larger read would time them in batches).
            for chunk in r.iter_content(chunk_size=READ_SIZE, decode_content=False):
                pending += chunk
                while b"\n\n" in pending:
                    event, pending = pending.split(b"\n\n", 1)
                    if not event.startswith(b"data:"):
                        continue
                    data = json.loads(event[5:])
                    now = time.perf_counter()
                    if data.get("type") == "token" and data.get("token"):
                        if tokens:
                            # One entry per inter-token gap (ITL).
                            fire(request_type="SSE", name="itl", response_time=(now - last) * 1000,
                                 response_length=0, exception=None, context={})
                        tokens += 1
                        last = now
                    elif data.get("type") == "done":
                        done = True
            if r.status_code != 200 or not done or tokens == 0:
                r.failure("stream check failed")
