// k6 full ramp for chatbench's backend (the original system's file name):
//   BASE_URL=http://127.0.0.1:8000 K6_LATENCY_PROFILE=mock k6 run load-tests/k6-auth-chat-session.js
// Stages 2m -> 30 VUs, 5m -> 100, 3m at 100, 2m -> 0 (graceful ramp-down
// 30 s). Each iteration: log in (auth), open a session (session), chat
// (chat), think 1 s. K6_LATENCY_PROFILE=mock (default) holds the backend to
// API-only latency (p95 < 1.2 s, p99 < 2.5 s); live allows for a real LLM.
// setup() refuses a backend whose /api/health does not say app_env "test",
// unless K6_ALLOW_NON_TEST_BACKEND=1.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';
import { SharedArray } from 'k6/data';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const PROFILE = (__ENV.K6_LATENCY_PROFILE || 'mock').toLowerCase();
const users = new SharedArray('users', () => JSON.parse(open('./users.json')).users);

const common = {
  http_req_failed: ['rate<0.02'],
  'checks{phase:auth}': ['rate>0.99'],
  'checks{phase:chat}': ['rate>0.98'],
};
const latency = PROFILE === 'live'
  ? {
    'http_req_duration{phase:auth}': ['p(95)<8000'],
    'http_req_duration{phase:session}': ['p(95)<5000'],
    'http_req_duration{phase:chat}': ['p(95)<45000'],
  }
  : { http_req_duration: ['p(95)<1200', 'p(99)<2500'] };

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '2m', target: 30 },
        { duration: '5m', target: 100 },
        { duration: '3m', target: 100 },
        { duration: '2m', target: 0 },
      ],
      gracefulRampDown: '30s',
    },
  },
  thresholds: Object.assign({}, common, latency),
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
  const login = http.post(`${BASE_URL}/api/auth/login-json`,
    JSON.stringify({ username: user.username, password: user.password }),
    { headers: { 'Content-Type': 'application/json' }, tags: { phase: 'auth' } });
  let csrf = null;
  try { csrf = login.json('csrf_token'); } catch (e) { csrf = null; }
  const ok = check(login, {
    'login status is 200': (r) => r.status === 200,
    'login returns csrf_token': () => !!csrf,
  }, { phase: 'auth' });
  if (!ok) { sleep(1); return; }

  const authed = { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf };
  const session = http.post(`${BASE_URL}/api/chat/sessions`,
    JSON.stringify({ title: `k6 ramp vu ${__VU}` }),
    { headers: authed, tags: { phase: 'session' } });
  let sessionId = null;
  try { sessionId = session.json('id'); } catch (e) { sessionId = null; }
  check(session, { 'session status is 200': (r) => r.status === 200 }, { phase: 'session' });
  if (sessionId === null || sessionId === undefined) { sleep(1); return; }

  const chat = http.post(`${BASE_URL}/api/chat/chat`,
    JSON.stringify({ content: 'Summarise how to scale a chatbot backend to 100 users.', session_id: sessionId }),
    { headers: authed, tags: { phase: 'chat' }, timeout: '60s' });
  check(chat, {
    'chat status is 200': (r) => r.status === 200,
    'assistant reply is not empty': (r) => {
      try { return (r.json('assistant_message.content') || '').length > 0; } catch (e) { return false; }
    },
  }, { phase: 'chat' });
  sleep(1);
}
