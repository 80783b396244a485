// The default chat journey as k6 runs it, for scripts/bench-journey.sh:
// the equivalent of `loadgen run --think 0s` (login-json with the cookie
// jar, create a session with X-CSRF-Token, chat in it; checks and JSON
// parsing as load-tests/k6-smoke.js), with no think time so that the
// tool's CPU per request is what is measured.
//   k6 run -e BASE_URL=http://127.0.0.1:18081 -e VUS=20 -e DURATION=10s k6-journey.js
import http from 'k6/http';
import { check, sleep } from 'k6';
import { SharedArray } from 'k6/data';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
const users = new SharedArray('users', () => JSON.parse(open(__ENV.USERS_FILE || '../users.json')).users);

export const options = {
  scenarios: {
    journey: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 20),
      duration: __ENV.DURATION || '10s',
      gracefulStop: '0s',
    },
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)'],
};

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
  if (!loggedIn) { return; }

  const authed = { headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf } };
  const session = http.post(`${BASE_URL}/api/chat/sessions`,
    JSON.stringify({ title: `k6 vu ${__VU} iteration ${__ITER}` }),
    Object.assign({ tags: { phase: 'session' } }, authed));
  let sessionId = null;
  try { sessionId = session.json('id'); } catch (e) { sessionId = null; }
  check(session, {
    'create session status is 200': (r) => r.status === 200,
    'session has an id': () => sessionId !== null && sessionId !== undefined,
  }, { phase: 'session' });
  if (sessionId === null || sessionId === undefined) { return; }

  const chat = http.post(`${BASE_URL}/api/chat/chat`,
    JSON.stringify({ content: 'How do I keep p95 latency low when 100 users chat at once?', session_id: sessionId }),
    Object.assign({ tags: { phase: 'chat' }, timeout: '60s' }, authed));
  check(chat, {
    'chat status is 200': (r) => r.status === 200,
    'assistant reply is not empty': (r) => {
      try { return (r.json('assistant_message.content') || '').trim().length > 0; } catch (e) { return false; }
    },
  }, { phase: 'chat' });
  // THINK (seconds) only for the idle-memory run: VUs that stay idle.
  if (Number(__ENV.THINK || 0) > 0) { sleep(Number(__ENV.THINK)); }
}
