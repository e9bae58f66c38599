// The operations page (/ops): firmware campaigns and images over the ops API
// (/api/v1/ops/campaigns, /api/v1/ops/firmware).
//
// The ops key is asked for once per tab and kept in sessionStorage only (never localStorage,
// never the URL); every call sends it as a bearer token, and a key the platform refuses (401 or
// 403) is dropped and asked for again. The view is in the URL's hash: "#/" lists the campaigns
// and the images, "#/campaigns/{id}" is one campaign. Both are loaded again every 2 s while
// something on them is live (a campaign not completed or cancelled).

import {ApiError, plain} from './api.js';
import {h, when} from './ui.js';

const OPS = '/api/v1/ops';
const KEY = 'chargemesh.ops_key';
const REFRESH_MS = 2000;
const HISTORY_SHOWN = 15;
const FAILED_SHOWN = 50;
const FINAL = new Set(['completed', 'cancelled']);
// A wave's bar, left to right: [the WaveOut field, the words for it].
const SEGMENTS = [
  ['updated', 'updated'], ['failed', 'failed'], ['in_flight', 'in flight'], ['pending', 'pending'],
  ['skipped', 'skipped'],
];
const ROLES = {TABLE: 'table', THEAD: 'rowgroup', TBODY: 'rowgroup', TR: 'row', TD: 'cell'};
const STAMP = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Shanghai', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  second: '2-digit', hourCycle: 'h23',
});

const $ = (id) => document.getElementById(id);

const view = {
  generation: 0, // bumped when the view changes: an answer for an older view is dropped
  timer: null, // the next load
  campaign: null, // the campaign on screen (CampaignDetailOut)
};

// ------------------------------------------------------------------ the API

async function errorOf(res) {
  let detail = null;
  try {
    const body = await res.json();
    detail = body && typeof body.detail === 'object' ? body.detail : {reason: String(body.detail || '')};
  } catch {
    detail = null;
  }
  return new ApiError(res.status, detail, null);
}

async function send(key, method, path) {
  const res = await fetch(`${OPS}${path}`, {method, headers: {Authorization: `Bearer ${key}`}});
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

function refused(err) {
  return err instanceof ApiError && (err.status === 401 || err.status === 403);
}

function notValid(err) {
  return `Not a valid operations key. ${plain(err)}`;
}

// One call with the kept key; a key the platform refuses is forgotten and asked for again.
async function ops(method, path) {
  const key = sessionStorage.getItem(KEY);
  if (!key) {
    askForKey();
    throw new ApiError(401, {code: 'no_ops_key', reason: 'no operations key'});
  }
  try {
    return await send(key, method, path);
  } catch (err) {
    if (refused(err)) {
      sessionStorage.removeItem(KEY);
      askForKey(notValid(err));
    }
    throw err;
  }
}

// ------------------------------------------------------------------ the key

function askForKey(message = '') {
  stop();
  $('list-view').hidden = true;
  $('campaign-view').hidden = true;
  $('ops-nav').hidden = true;
  $('key-view').hidden = false;
  $('key-error').textContent = message;
  $('ops-key').value = '';
  $('ops-key').focus();
}

async function useKey(event) {
  event.preventDefault();
  const input = $('ops-key');
  const button = event.submitter;
  const key = input.value.trim();
  $('key-error').textContent = '';
  button.disabled = true;
  try {
    await send(key, 'GET', '/campaigns');
  } catch (err) {
    $('key-error').textContent = refused(err) ? notValid(err) : plain(err);
    input.select();
    return;
  } finally {
    button.disabled = false;
  }
  sessionStorage.setItem(KEY, key);
  input.value = '';
  route();
}

function forgetKey() {
  sessionStorage.removeItem(KEY);
  askForKey();
  announce('The operations key is forgotten.');
}

// ------------------------------------------------------------------ views

function stop() {
  view.generation += 1;
  clearTimeout(view.timer);
  view.timer = null;
}

function route() {
  stop();
  if (!sessionStorage.getItem(KEY)) {
    askForKey();
    return;
  }
  $('key-view').hidden = true;
  $('ops-nav').hidden = false;
  const found = location.hash.match(/^#\/campaigns\/([^/]+)$/);
  if (found) showCampaign(decodeURIComponent(found[1]));
  else showList();
}

// Loads with `load` and draws the answer, again every REFRESH_MS while `again(answer)` says so,
// until the view changes. `first`: an answer already in hand, drawn at once.
function keepLoading({load, draw, again, fail}, first = null) {
  stop();
  const generation = view.generation;
  const later = () => {
    view.timer = setTimeout(step, REFRESH_MS);
  };
  const show = (answer) => {
    fail('');
    draw(answer);
    if (again(answer)) later();
  };
  async function step() {
    let answer;
    try {
      answer = await load();
    } catch (err) {
      if (generation !== view.generation) return; // another view, or the key was refused
      fail(plain(err));
      if (!(err instanceof ApiError && err.status === 404)) later();
      return;
    }
    if (generation === view.generation) show(answer);
  }
  if (first) show(first);
  else step();
}

function say(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function announce(text) {
  $('announce').textContent = text;
}

// Replaces what `container` holds; the element that had the focus in it has it again (same id or
// same link), so a refresh every 2 s never throws a keyboard user out.
function redraw(container, ...nodes) {
  const active = document.activeElement;
  let again = null;
  if (active && active !== container && container.contains(active)) {
    if (active.id) again = `#${CSS.escape(active.id)}`;
    else if (active.getAttribute('href')) again = `a[href="${CSS.escape(active.getAttribute('href'))}"]`;
  }
  container.replaceChildren(...nodes.filter(Boolean));
  const target = again && container.querySelector(again);
  if (target) target.focus();
}

function chip(state, id = null) {
  return h('span', {class: 'chip', 'data-state': state, id}, state);
}

// A table; `cards`: drawn as one card per row on a phone (ops.css), each cell headed by its
// column's name, with the table's roles written out (a table restyled so loses them).
function table(caption, heads, rows, {cards = false} = {}) {
  const out = h('table', {},
    h('caption', {class: 'visually-hidden'}, caption),
    h('thead', {}, h('tr', {}, heads.map(([text, cls]) => h('th', {scope: 'col', class: cls}, text)))),
    h('tbody', {}, rows));
  if (cards) {
    for (const row of rows) [...row.children].forEach((cell, i) => { cell.dataset.label = heads[i][0]; });
    for (const el of [out, ...out.querySelectorAll('thead, tbody, tr, th, td')]) el.setAttribute('role', ROLES[el.tagName] || (el.scope === 'col' ? 'columnheader' : 'rowheader'));
  }
  return h('div', {class: cards ? 'table-wrap cards' : 'table-wrap'}, out);
}

function stamp(iso) {
  return h('time', {dateTime: iso}, STAMP.format(new Date(iso)));
}

// ------------------------------------------------------------------ campaigns and images

function showList() {
  $('campaign-view').hidden = true;
  $('list-view').hidden = false;
  document.title = 'chargemesh operations: firmware campaigns';
  keepLoading({
    load: () => Promise.all([ops('GET', '/campaigns'), ops('GET', '/firmware')]),
    draw: ([campaigns, images]) => {
      drawCampaigns(campaigns);
      drawFirmware(images);
    },
    again: ([campaigns]) => campaigns.some((c) => !FINAL.has(c.state)),
    fail: (text) => say($('campaigns-error'), text),
  });
}

function drawCampaigns(campaigns) {
  if (!campaigns.length) {
    redraw($('campaigns-body'), h('p', {class: 'hint'}, 'No campaign yet: start one with POST /api/v1/ops/campaigns.'));
    return;
  }
  const rows = [...campaigns].reverse().map((c) => h('tr', {'data-campaign-id': c.id},
    h('th', {scope: 'row'}, h('a', {href: `#/campaigns/${encodeURIComponent(c.id)}`}, c.id)),
    h('td', {}, c.version),
    h('td', {}, chip(c.state)),
    h('td', {class: 'num'}, c.chargers),
    h('td', {class: 'num'}, c.updated),
    h('td', {class: 'num'}, c.failed),
    h('td', {class: 'wide'}, when(c.created_at))));
  redraw($('campaigns-body'), table('Firmware campaigns, newest first', [
    ['Campaign'], ['Version'], ['State'], ['Chargers', 'num'], ['Updated', 'num'], ['Failed', 'num'],
    ['Created', 'wide'],
  ], rows, {cards: true}));
}

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

function drawFirmware(images) {
  if (!images.length) {
    redraw($('firmware-body'), h('p', {class: 'hint'}, 'No firmware image yet.'));
    return;
  }
  const rows = [...images].reverse().map((i) => h('tr', {'data-firmware-id': i.id},
    h('th', {scope: 'row'}, i.version),
    h('td', {class: 'wide'}, h('code', {}, i.id)),
    h('td', {}, i.models.join(', ')),
    h('td', {class: 'num'}, size(i.size)),
    h('td', {}, i.signed ? 'signed' : 'not signed'),
    h('td', {class: 'wide'}, h('code', {title: i.sha256}, `${i.sha256.slice(0, 12)}…`)),
    h('td', {class: 'wide'}, when(i.created_at))));
  redraw($('firmware-body'), table('Firmware images, newest first', [
    ['Version'], ['Image', 'wide'], ['Models'], ['Size', 'num'], ['Signature'], ['SHA-256', 'wide'],
    ['Uploaded', 'wide'],
  ], rows));
}

// ------------------------------------------------------------------ one campaign

function showCampaign(id) {
  $('list-view').hidden = true;
  $('campaign-view').hidden = false;
  if (!view.campaign || view.campaign.id !== id) {
    view.campaign = null;
    $('campaign-heading').textContent = `Campaign ${id}`;
    for (const part of ['campaign-summary', 'campaign-actions', 'campaign-details']) $(part).replaceChildren();
    $('campaign-summary').append(h('p', {class: 'hint'}, 'Loading…'));
  }
  say($('action-error'), '');
  watchCampaign(id);
}

function watchCampaign(id, first = null) {
  keepLoading({
    load: () => ops('GET', `/campaigns/${encodeURIComponent(id)}`),
    draw: drawCampaign,
    again: (c) => !FINAL.has(c.state),
    fail: (text) => say($('campaign-error'), text),
  }, first);
}

function drawCampaign(c) {
  const before = view.campaign;
  view.campaign = c;
  document.title = `${c.id}: firmware ${c.version} · chargemesh operations`;
  say($('campaign-heading'), `Campaign ${c.id}: firmware ${c.version}`);
  if (before && before.id === c.id && before.state !== c.state) announce(`The campaign is now ${c.state}.`);
  redraw($('campaign-summary'), summary(c));
  redraw($('campaign-actions'), ...actions(c));
  redraw($('campaign-details'), waves(c), failuresByReason(c), failedChargers(c), history(c));
}

function targetText(t) {
  const parts = [];
  if (t.kind) parts.push(`${t.kind} chargers`);
  if (t.models && t.models.length) parts.push(`models ${t.models.join(', ')}`);
  if (t.versions && t.versions.length) parts.push(`now on ${t.versions.join(', ')}`);
  if (t.chargers && t.chargers.length) parts.push(`${t.chargers.length} chargers named`);
  return parts.length ? parts.join(' · ') : 'every charger the image fits';
}

function fact(term, value) {
  return h('div', {}, h('dt', {}, term), h('dd', {}, value));
}

function summary(c) {
  return h('div', {class: 'campaign-summary'},
    h('p', {class: 'state-line'}, 'State ', chip(c.state, 'campaign-state'),
      c.reason ? h('span', {class: 'reason', id: 'campaign-reason'}, c.reason) : null),
    h('dl', {class: 'facts'},
      fact('Firmware', `${c.version} (${c.firmware})`),
      fact('Target', targetText(c.target)),
      fact('Chargers', c.chargers),
      fact('Updated', c.updated),
      fact('Failed', c.failed),
      fact('Open wave', `${c.wave} of ${c.waves.length}`),
      fact('Created', when(c.created_at)),
      fact('Last change', when(c.updated_at))));
}

function actions(c) {
  const out = [];
  if (c.state === 'running' || c.state === 'scheduled') out.push(actionButton(c, 'pause', 'Pause'));
  if (c.state === 'paused') out.push(actionButton(c, 'resume', 'Resume'));
  if (!FINAL.has(c.state)) out.push(actionButton(c, 'cancel', 'Cancel campaign', 'danger'));
  if (!out.length) out.push(h('p', {class: 'hint'}, `A ${c.state} campaign cannot be changed.`));
  return out;
}

function actionButton(c, what, text, cls = null) {
  const button = h('button', {type: 'button', id: `action-${what}`, class: cls}, text);
  button.addEventListener('click', () => act(c.id, what));
  return button;
}

async function act(id, what) {
  stop(); // no refresh redraws the buttons while this is asked or sent
  const generation = view.generation;
  say($('action-error'), '');
  if (what === 'cancel' && !(await confirmCancel(id))) {
    if (generation === view.generation) watchCampaign(id);
    return;
  }
  if (generation !== view.generation) return;
  for (const b of $('campaign-actions').querySelectorAll('button')) b.disabled = true;
  try {
    const after = await ops('POST', `/campaigns/${encodeURIComponent(id)}/${what}`);
    if (generation === view.generation) watchCampaign(id, after);
  } catch (err) {
    if (generation !== view.generation) return; // another view, or the key was refused
    say($('action-error'), plain(err));
    watchCampaign(id); // as it is now (someone else may have changed it)
  }
}

// Resolves true when operations confirm the cancel in the dialog.
function confirmCancel(id) {
  const dialog = $('cancel-dialog');
  $('cancel-heading').textContent = `Cancel campaign ${id}?`;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'cancel'), {once: true});
  });
}

function waveLabel(w) {
  const parts = [`${w.updated} updated`, `${w.failed} failed`, `${w.in_flight} in flight`, `${w.pending} pending`];
  if (w.skipped) parts.push(`${w.skipped} skipped`);
  return `wave ${w.wave}: ${parts.join(', ')} of ${w.size}`;
}

function bar(w) {
  const segments = SEGMENTS.filter(([field]) => w[field] > 0).map(([field, words]) => {
    const seg = h('span', {class: `seg ${field}`, title: `${w[field]} ${words}`});
    seg.style.width = `${(100 * w[field]) / w.size}%`;
    return seg;
  });
  return h('div', {class: 'bar', role: 'img', 'aria-label': waveLabel(w)}, segments);
}

function legend() {
  return h('ul', {class: 'bar-legend', 'aria-label': 'Colours of the bars'},
    SEGMENTS.map(([field, words]) => h('li', {}, h('span', {class: `swatch seg ${field}`}), words)));
}

function waves(c) {
  const items = c.waves.map((w) => h('li', {class: 'wave', 'data-wave': w.wave},
    h('div', {class: 'wave-head'},
      h('h4', {}, `Wave ${w.wave}`, w.wave === 1 && c.waves.length > 1 ? ' (canary)' : ''),
      chip(w.state),
      h('span', {class: 'wave-size'}, `${w.size} charger${w.size === 1 ? '' : 's'}`)),
    bar(w),
    h('p', {class: 'counts', 'aria-hidden': 'true'},
      SEGMENTS.map(([field, words]) => h('span', {class: `count ${field}`}, `${w[field]} ${words}`)))));
  return h('section', {'aria-labelledby': 'waves-heading'},
    h('h3', {id: 'waves-heading'}, 'Waves'), legend(), h('ol', {class: 'waves'}, items));
}

function failuresByReason(c) {
  const sums = new Map(); // reason -> {chargers, waves}
  for (const w of c.waves) {
    for (const [reason, n] of Object.entries(w.failures)) {
      const sum = sums.get(reason) || {chargers: 0, waves: []};
      sum.chargers += n;
      sum.waves.push(w.wave);
      sums.set(reason, sum);
    }
  }
  const head = h('h3', {id: 'reasons-heading'}, 'Failures by reason');
  if (!sums.size) {
    return h('section', {'aria-labelledby': 'reasons-heading'}, head, h('p', {class: 'hint'}, 'No charger failed.'));
  }
  const rows = [...sums].sort((a, b) => b[1].chargers - a[1].chargers).map(([reason, sum]) => h('tr', {},
    h('th', {scope: 'row'}, reason),
    h('td', {class: 'num'}, sum.chargers),
    h('td', {}, sum.waves.join(', '))));
  return h('section', {'aria-labelledby': 'reasons-heading', id: 'failures-by-reason'}, head,
    table('Failures by reason, over every wave', [['Reason'], ['Chargers', 'num'], ['Waves']], rows));
}

function failedChargers(c) {
  const failed = c.updates.filter((u) => u.state === 'failed');
  const head = h('h3', {id: 'failed-heading'}, 'Chargers that failed');
  if (!failed.length) return h('section', {'aria-labelledby': 'failed-heading'}, head, h('p', {class: 'hint'}, 'None.'));
  const rows = failed.slice(0, FAILED_SHOWN).map((u) => h('tr', {'data-charger-id': u.charger_id},
    h('th', {scope: 'row'}, u.charger_id),
    h('td', {class: 'num'}, u.wave),
    h('td', {}, u.reason || '–'),
    h('td', {class: 'wide'}, u.from_version || '–'),
    h('td', {class: 'num wide'}, u.attempts),
    h('td', {class: 'wide'}, when(u.updated_at))));
  const more = failed.length > FAILED_SHOWN
    ? h('p', {class: 'hint'}, `and ${failed.length - FAILED_SHOWN} more`) : null;
  return h('section', {'aria-labelledby': 'failed-heading', id: 'failed-chargers'}, head,
    table('Chargers that failed', [['Charger'], ['Wave', 'num'], ['Reason'], ['From version', 'wide'],
      ['Requests', 'num wide'], ['When', 'wide']], rows), more);
}

function history(c) {
  const last = c.history.slice(-HISTORY_SHOWN).reverse();
  return h('section', {'aria-labelledby': 'history-heading'},
    h('h3', {id: 'history-heading'}, 'Latest events'),
    h('ol', {class: 'history', id: 'campaign-history'}, last.map((e) => h('li', {},
      stamp(e.at), e.charger_id ? h('span', {class: 'who'}, e.charger_id) : null,
      h('span', {class: 'what'}, e.event)))));
}

// ------------------------------------------------------------------ start

$('key-form').addEventListener('submit', useKey);
$('forget-key').addEventListener('click', forgetKey);
window.addEventListener('hashchange', () => {
  route();
  const heading = location.hash.startsWith('#/campaigns/') ? 'campaign-heading' : 'campaigns-heading';
  if (!$('key-view').hidden) return;
  $(heading).focus();
});
route();
