// k6 smoke test for chatbench's backend (the original system's file name and
// shape, so an existing k6 runbook works unchanged):
//   BASE_URL=http://127.0.0.1:8000 k6 run load-tests/k6-smoke.js
// 5 VUs for 45 s: log in (phase auth), open a chat session with the cookie
// and X-CSRF-Token (phase session), chat in it (phase chat), think 1 s.
// setup() refuses any backend whose GET /api/health does not say
// app_env "test", unless K6_ALLOW_NON_TEST_BACKEND=1.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { SharedArray } from 'k6/data';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const users = new SharedArray('users', () => JSON.parse(open('./users.json')).users);

export const options = {
  vus: 5,
  duration: '45s',
  thresholds: {
    http_req_failed: ['rate<0.15'],
    'checks{phase:auth}': ['rate>0.95'],
    'checks{phase:chat}': ['rate>0.90'],
    'http_req_duration{phase:auth}': ['p(95)<8000'],
    'http_req_duration{phase:session}': ['p(95)<5000'],
    'http_req_duration{phase:chat}': ['p(95)<25000'],
  },
};

export function setup() {
  const res = http.get(`${BASE_URL}/api/health`, { tags: { phase: 'setup' } });
  let body = {};
  try { body = res.json(); } catch (e) { body = {}; }
  if (__ENV.K6_ALLOW_NON_TEST_BACKEND !== '1' && body.app_env !== 'test') {
    fail(`refusing to load ${BASE_URL}: /api/health answered ${res.status} with app_env ` +
      `${JSON.stringify(body.app_env)} (set K6_ALLOW_NON_TEST_BACKEND=1 to override)`);
  }
}

export default function () {
  const user = users[(__VU - 1) % users.length];
  const json = { headers: { 'Content-Type': 'application/json' } };

  const login = http.post(`${BASE_URL}/api/auth/login-json`,
    JSON.stringify({ username: user.username, password: user.password }),
    Object.assign({ tags: { phase: 'auth' } }, json));
  let csrf = null;
  try { csrf = login.json('csrf_token'); } catch (e) { csrf = null; }
  const loggedIn = check(login, {
    'login status is 200': (r) => r.status === 200,
    'login sets the access_token cookie': (r) => r.cookies.access_token !== undefined,
    'login returns csrf_token': () => !!csrf,
  }, { phase: 'auth' });
  if (!loggedIn) { sleep(1); return; }

  // The cookie jar sends access_token; writes add the CSRF header.
  const authed = { headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf } };
  const session = http.post(`${BASE_URL}/api/chat/sessions`,
    JSON.stringify({ title: `k6 smoke vu ${__VU} iteration ${__ITER}` }),
    Object.assign({ tags: { phase: 'session' } }, authed));
  let sessionId = null;
  try { sessionId = session.json('id'); } catch (e) { sessionId = null; }
  check(session, {
    'session status is 200': (r) => r.status === 200,
    'session has an id': () => sessionId !== null && sessionId !== undefined,
  }, { phase: 'session' });
  if (sessionId === null || sessionId === undefined) { sleep(1); return; }

  const chat = http.post(`${BASE_URL}/api/chat/chat`,
    JSON.stringify({ content: 'How do I keep p95 latency low when 100 users chat at once?', session_id: sessionId }),
    Object.assign({ tags: { phase: 'chat' }, timeout: '60s' }, authed));
  check(chat, {
    'chat status is 200': (r) => r.status === 200,
    'assistant reply is not empty': (r) => {
      try { return (r.json('assistant_message.content') || '').length > 0; } catch (e) { return false; }
    },
  }, { phase: 'chat' });

  sleep(1);
}
