// The live charge: energy, power, state of charge, elapsed time and cost so far, the Stop
// button, and the bill once the operator sends it.
//
// Updates come from GET /api/v1/events?session={id}, read with fetch so that the bearer token
// goes in the Authorization header (an EventSource cannot send one): the server-sent events are
// parsed here ("event: session" / "data: {…}"). If the stream drops, the session is polled
// (GET /api/v1/sessions/{id}) every few seconds until the stream can be opened again. Every
// number shown is the operator's same reading (docs/sessions.md, "What the driver sees"), so
// they agree: elapsed time is the session's elapsed_s, never a clock of ours.

import {call, openStream, plain} from './api.js';
import {duration, h, money, when} from './ui.js';

export const POLL_MS = 3000;
const REOPEN_AFTER_POLLS = 4;
const FINAL = new Set(['completed', 'failed']);
const STATES = {
  requested: 'Asking the charger to start…',
  starting: 'Starting: the charger is talking to your car…',
  charging: 'Charging',
  stopping: 'Stopping…',
  completed: 'Charge complete',
  failed: 'The charge did not start',
};

// What the page knows of the session it follows (window.chargemesh.driver.charge, for tests).
export const live = {
  session: null,
  mode: 'idle', // idle, connecting, stream, polling, done
  updates: 0, // session events and polls applied
  drops: 0, // times the stream dropped and polling took over
};
const listeners = new Set();
let follower = null; // {id, controller}

// fn(session) at every update; returns the function that unsubscribes it.
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify() {
  for (const fn of listeners) {
    try {
      fn(live.session);
    } catch (err) {
      console.error('live charge listener', err);
    }
  }
}

// Still worth following: not ended, or ended and its bill not come yet.
export function running(s) {
  return Boolean(s) && (!FINAL.has(s.state) || (s.state === 'completed' && !s.bill));
}

export function chargingNow(s) {
  return Boolean(s) && !FINAL.has(s.state);
}

function apply(s, f) {
  if (!s || !f || s.id !== f.id || follower !== f) return;
  live.session = s;
  live.updates += 1;
  if (!running(s)) {
    live.mode = 'done';
    f.controller.abort();
    follower = null;
  }
  notify();
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
});

// The server-sent events of a response body: calls onEvent(type, data) for each one.
async function readEvents(res, onEvent, signal, f) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  f.reader = reader;
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}), {once: true});
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue; // a comment: keep-alive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') type = text;
        else if (field === 'data') data.push(text);
      }
      if (data.length) onEvent(type, data.join('\n'));
    }
  }
}

async function poll(f) {
  try {
    apply(await call('GET', `/sessions/${encodeURIComponent(f.id)}`, {signal: f.controller.signal}), f);
  } catch (err) {
    if (err.name !== 'AbortError') console.warn('poll session', err);
  }
}

async function run(f) {
  const {signal} = f.controller;
  while (!signal.aborted) {
    try {
      live.mode = 'connecting';
      const res = await openStream(`/events?session=${encodeURIComponent(f.id)}`, {signal});
      live.mode = 'stream';
      notify();
      await poll(f); // what changed before the stream was open
      await readEvents(res, (type, data) => {
        if (type === 'session') apply(JSON.parse(data), f);
      }, signal, f);
    } catch (err) {
      if (signal.aborted) return;
      if (err.status === 404 || err.status === 401) { // not ours (any more), or signed out
        live.mode = 'idle';
        follower = null;
        notify();
        return;
      }
      console.warn('session stream', err);
    }
    f.reader = null;
    if (signal.aborted) return;
    live.mode = 'polling';
    live.drops += 1;
    notify();
    for (let i = 0; i < REOPEN_AFTER_POLLS && !signal.aborted; i += 1) {
      await sleep(POLL_MS, signal);
      if (!signal.aborted) await poll(f);
    }
  }
}

// Follow one session (the one shown): forgets the one followed before.
export function follow(session) {
  if (follower && follower.id === session.id) {
    apply(session, follower);
    return;
  }
  stopFollowing();
  live.session = session;
  live.mode = 'idle';
  notify();
  if (!running(session)) return;
  follower = {id: session.id, controller: new AbortController(), reader: null};
  live.updates += 1;
  run(follower);
}

// The stream ends as if the network dropped it (for tests and debugging): polling takes over.
export function dropStream() {
  if (follower && follower.reader) follower.reader.cancel().catch(() => {});
}

export function stopFollowing() {
  if (follower) follower.controller.abort();
  follower = null;
  live.mode = 'idle';
}

export function forget() {
  stopFollowing();
  live.session = null;
  notify();
}

export async function stop(id) {
  const s = await call('POST', `/sessions/${encodeURIComponent(id)}/stop`, {json: {}});
  if (follower && follower.id === s.id) apply(s, follower);
  else follow(s);
  return s;
}

// ------------------------------------------------------------------ what the driver sees

function kwhText(kwh) {
  return kwh === null || kwh === undefined ? '–' : `${Number(kwh).toFixed(2)} kWh`;
}

function reading(id, label, value, raw) {
  return h('div', {class: 'reading'},
    h('dt', {}, label),
    h('dd', {id, 'data-value': raw === null || raw === undefined ? '' : String(raw)}, value));
}

function stateLine(s) {
  let text = STATES[s.state] || s.state;
  if (s.state === 'failed' && s.failure_reason) text = `${text}: ${s.failure_reason}`;
  if (s.state === 'completed' && !s.bill) text = 'Stopped: waiting for the bill…';
  if (s.state === 'completed' && s.stop_reason) text = `${text} (${s.stop_reason})`;
  return text;
}

// The bill as the operator sent it, with a dispute if ours disagrees.
export function billSection(s) {
  const b = s.bill;
  if (!b) return null;
  const rows = [
    ['Energy', kwhText(b.kwh)],
    ['Energy cost', money(b.energy_cost, b.currency)],
    ['Service cost', money(b.service_cost, b.currency)],
  ];
  return h('section', {class: 'bill', 'aria-label': 'Bill', 'data-session-id': s.id},
    h('h3', {}, 'Bill'),
    h('table', {},
      h('tbody', {},
        rows.filter(([, v]) => v !== '–').map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))),
        h('tr', {class: 'total'}, h('th', {}, 'Total'), h('td', {id: 'bill-total', 'data-value': String(b.total)}, money(b.total, b.currency))))),
    b.reference ? h('p', {class: 'muted'}, 'Reference ', h('code', {}, b.reference)) : null,
    s.dispute ? h('p', {class: 'dispute', role: 'note'}, `We are checking this bill with the operator: ${s.dispute}`) : null);
}

// The charge view: filled in now, and again at every update while it is on screen.
export function chargeView(s, {stationName = null, onStopError = null} = {}) {
  const root = h('section', {id: 'charge', 'aria-label': 'Live charge', 'data-session-id': s.id});
  const stopButton = h('button', {type: 'button', id: 'charge-stop', class: 'danger', 'aria-label': 'Stop charging'}, 'Stop charging');
  const error = h('p', {class: 'form-error', role: 'alert'});
  stopButton.addEventListener('click', async () => {
    stopButton.disabled = true;
    error.textContent = '';
    try {
      await stop(s.id);
    } catch (err) {
      error.textContent = plain(err);
      stopButton.disabled = false;
      if (onStopError) onStopError(err);
    }
  });

  const draw = (cur) => {
    if (!cur || cur.id !== s.id) return;
    root.dataset.state = cur.state;
    const parts = [
      h('h2', {}, stationName ? `${chargingNow(cur) ? 'Charging at' : 'Charge at'} ${stationName}` : 'Your charge'),
      h('p', {class: 'charge-state', id: 'charge-state', 'data-state': cur.state, role: 'status'}, stateLine(cur)),
      h('p', {class: 'muted'}, `Connector ${cur.connector_id.split(':').pop()} · started ${when(cur.started_at || cur.created_at)}`),
      h('dl', {class: 'readings'},
        reading('charge-kwh', 'Energy', kwhText(cur.kwh), cur.kwh),
        reading('charge-kw', 'Power', cur.kw === null || !chargingNow(cur) ? '–' : `${Number(cur.kw).toFixed(1)} kW`, cur.kw),
        reading('charge-soc', 'Battery', cur.soc === null ? '–' : `${Math.round(cur.soc)} %`, cur.soc),
        reading('charge-elapsed', 'Time', duration(cur.elapsed_s), cur.elapsed_s),
        reading('charge-cost', chargingNow(cur) ? 'Cost so far' : 'Cost', money(cur.cost, cur.currency), cur.cost)),
    ];
    if (chargingNow(cur)) {
      stopButton.disabled = cur.state === 'stopping';
      parts.push(stopButton, error);
      parts.push(h('p', {class: 'muted live-mode', id: 'charge-mode'},
        live.mode === 'polling' ? 'Live updates interrupted: checking every few seconds' : 'Live from the charger'));
    }
    const bill = billSection(cur);
    if (bill) parts.push(bill);
    root.replaceChildren(...parts);
  };
  draw(s);
  let shown = false;
  const unsubscribe = onLive((cur) => {
    if (root.isConnected) {
      shown = true;
      draw(cur);
    } else if (shown) {
      unsubscribe(); // the view was closed
    }
  });
  return root;
}
