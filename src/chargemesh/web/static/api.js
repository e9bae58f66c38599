// The driver's sign-in and every call of the driver API (docs/accounts.md).
//
// The access token (a 15-minute bearer JWT) lives in memory only; the refresh token in
// localStorage, so a reload or a new tab signs in again without a password. A driver call that
// answers 401 refreshes once (one refresh at a time, whoever asks) and is tried again; if the
// refresh is refused too, the driver is signed out and asked to sign in.

export const API = '/api/v1';
const REFRESH_KEY = 'chargemesh.refresh_token';

// An answer of the API that was not a success, in the API's one error shape
// ({"detail": {"code", "reason", "advice", "errors"}}, docs/api-errors.md).
export class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super((detail && detail.reason) || `HTTP ${status}`);
    this.status = status;
    this.code = (detail && detail.code) || null;
    this.reason = (detail && detail.reason) || null;
    this.advice = (detail && detail.advice) || null;
    this.errors = (detail && detail.errors) || [];
    this.retryAfter = retryAfter; // seconds, from Retry-After (429)
  }
}

const auth = {
  access: null, // the bearer token
  accessUntil: 0, // ms since the epoch, a little before it expires
  account: null, // GET /me: {id, email, created_at, vehicles, sessions}
  refreshing: null, // the refresh under way (one at a time)
  listeners: [],
};

export function account() {
  return auth.account;
}

export function signedIn() {
  return auth.account !== null || auth.access !== null;
}

export function hasRefreshToken() {
  return localStorage.getItem(REFRESH_KEY) !== null;
}

// fn(account or null) after every sign-in, sign-out or expiry (with a reason, if any).
export function onAuthChange(fn) {
  auth.listeners.push(fn);
}

function changed(reason = null) {
  for (const fn of auth.listeners) {
    try {
      fn(auth.account, reason);
    } catch (err) {
      console.error('auth listener', err);
    }
  }
}

async function errorOf(res) {
  let detail = null;
  try {
    const body = await res.json();
    detail = body && typeof body.detail === 'object' ? body.detail : {reason: String(body.detail || '')};
  } catch {
    detail = null;
  }
  const after = Number(res.headers.get('Retry-After'));
  return new ApiError(res.status, detail, Number.isFinite(after) && after > 0 ? after : null);
}

function keep(tokens) {
  auth.access = tokens.access_token;
  // refresh a little before it runs out rather than meet a 401
  auth.accessUntil = Date.now() + Math.max(10, Number(tokens.expires_in || 900) - 30) * 1000;
  if (tokens.refresh_token) localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
}

function forget() {
  auth.access = null;
  auth.accessUntil = 0;
  auth.account = null;
  localStorage.removeItem(REFRESH_KEY);
}

async function loadMe() {
  auth.account = await call('GET', '/me');
  return auth.account;
}

// Tabs of one browser share the refresh token: they refresh one at a time (Web Locks), each
// reading the token inside the lock, so none presents a token another tab has just spent
// (which would end the sign-in everywhere).
function oneTabAtATime(fn) {
  return navigator.locks ? navigator.locks.request('chargemesh-refresh', fn) : fn();
}

// A new access token from the refresh token (which is spent: the answer carries the next).
// Resolves true if the driver is signed in again, false if the refresh token was refused.
function refresh() {
  if (auth.refreshing) return auth.refreshing;
  if (!hasRefreshToken()) return Promise.resolve(false);
  auth.refreshing = oneTabAtATime(async () => {
    const token = localStorage.getItem(REFRESH_KEY);
    if (!token) return false;
    const res = await fetch(`${API}/auth/refresh`, {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({refresh_token: token}),
    });
    if (res.status === 401 || res.status === 400 || res.status === 422) {
      forget();
      return false;
    }
    if (!res.ok) throw await errorOf(res);
    keep(await res.json());
    return true;
  }).finally(() => {
    auth.refreshing = null;
  });
  return auth.refreshing;
}

// A bearer token good for the next call, or null when the driver is not signed in.
async function bearer() {
  if (auth.access && Date.now() < auth.accessUntil) return auth.access;
  if (!hasRefreshToken()) return null;
  return (await refresh()) ? auth.access : null;
}

// One call of the API. `json` is sent as the JSON body, `form` as an HTML form; `driver` calls
// carry the bearer token, and a 401 refreshes it once. Resolves the JSON answer (null for 204).
export async function call(method, path, {json, form, headers = {}, driver = true, signal} = {}) {
  const send = async (token) => {
    const h = {...headers};
    let body;
    if (json !== undefined) {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = new URLSearchParams(form);
    }
    if (token) h.Authorization = `Bearer ${token}`;
    return fetch(`${API}${path}`, {method, headers: h, body, signal});
  };
  let token = driver ? await bearer() : null;
  if (driver && token === null) {
    signedOut('Please sign in first.');
    throw new ApiError(401, {code: 'not_signed_in', reason: 'you are not signed in', advice: 'sign in'});
  }
  let res = await send(token);
  if (driver && res.status === 401) {
    auth.access = null;
    token = (await refresh()) ? auth.access : null;
    if (token === null) {
      const err = await errorOf(res);
      signedOut('Your sign-in has expired: please sign in again.');
      throw err;
    }
    res = await send(token);
    if (res.status === 401) {
      const err = await errorOf(res);
      forget();
      signedOut('Your sign-in has expired: please sign in again.');
      throw err;
    }
  }
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : null;
}

// The same as `call`, but resolves the Response itself (for streams), with the bearer token.
export async function openStream(path, {signal} = {}) {
  let token = await bearer();
  if (token === null) throw new ApiError(401, {code: 'not_signed_in', reason: 'you are not signed in'});
  let res = await fetch(`${API}${path}`, {headers: {Authorization: `Bearer ${token}`, Accept: 'text/event-stream'}, signal});
  if (res.status === 401) {
    auth.access = null;
    token = (await refresh()) ? auth.access : null;
    if (token === null) {
      signedOut('Your sign-in has expired: please sign in again.');
      throw await errorOf(res);
    }
    res = await fetch(`${API}${path}`, {headers: {Authorization: `Bearer ${token}`, Accept: 'text/event-stream'}, signal});
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

function signedOut(reason) {
  const was = auth.account !== null;
  forget();
  if (was || reason) changed(reason);
}

// ------------------------------------------------------------------ account

export async function signIn(email, password) {
  const res = await fetch(`${API}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({username: email, password}),
  });
  if (!res.ok) throw await errorOf(res);
  keep(await res.json());
  await loadMe();
  changed();
  return auth.account;
}

export async function signUp(email, password) {
  await call('POST', '/accounts', {json: {email, password}, driver: false});
  return signIn(email, password);
}

// Ends this sign-in at the platform (its refresh tokens are revoked), then here. The call
// needs the access token too: refreshed first if it ran out, which spends the kept refresh
// token, so the one revoked is read after that.
export async function signOut() {
  try {
    const access = await bearer();
    const token = localStorage.getItem(REFRESH_KEY);
    if (access && token) {
      await fetch(`${API}/auth/logout`, {
        method: 'POST',
        headers: {'Content-Type': 'application/json', Authorization: `Bearer ${access}`},
        body: JSON.stringify({refresh_token: token}),
      });
    }
  } catch (err) {
    console.warn('sign out', err); // signed out here all the same
  } finally {
    forget();
    changed();
  }
}

// At page load: a refresh token kept from before signs the driver in again, silently.
export async function resume() {
  if (!hasRefreshToken()) return null;
  try {
    if (!(await refresh())) {
      changed('Your sign-in has expired: please sign in again.');
      return null;
    }
    await loadMe();
    changed();
    return auth.account;
  } catch (err) {
    console.warn('resume sign-in', err);
    return null;
  }
}

export async function refreshAccount() {
  if (!signedIn()) return null;
  return loadMe();
}

// ------------------------------------------------------------------ plain words

const FIELDS = {
  email: 'Email', password: 'Password', username: 'Email', vin: 'VIN', model: 'Car model',
  emaid: 'EMAID', qr: 'Code', connector_id: 'Connector',
};

function sentence(text) {
  if (!text) return '';
  const t = String(text).trim();
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?:]$/.test(s) ? s : `${s}.`;
}

function waitText(seconds) {
  if (seconds < 90) return `${Math.ceil(seconds)} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

// What went wrong, for the driver: the API's reason and advice in sentences.
export function plain(err) {
  if (!(err instanceof ApiError)) {
    return err instanceof TypeError ? 'The platform cannot be reached: check your connection and try again.' : sentence(err && err.message ? err.message : String(err));
  }
  const parts = [];
  if (err.status === 429) {
    parts.push(sentence(err.reason || 'too many attempts'));
    if (err.retryAfter) parts.push(`Try again in ${waitText(err.retryAfter)}.`);
  } else if (err.status === 422 && err.errors.length && (!err.code || err.code === 'invalid_request')) {
    for (const e of err.errors) {
      const name = String(e.field || '').split('.').pop();
      parts.push(sentence(`${FIELDS[name] || name}: ${e.message}`));
    }
  } else if (err.status >= 500) {
    parts.push('The platform had a problem: try again in a moment.');
  } else {
    parts.push(sentence(err.reason || `the platform answered ${err.status}`));
  }
  if (err.advice) parts.push(sentence(err.advice));
  return parts.join(' ');
}
