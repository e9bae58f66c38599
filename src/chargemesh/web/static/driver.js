// The driver app over the map: sign up and sign in, my cars (plug-and-charge), Start on a
// station's connectors, Scan to charge, the live charge, its bill, and the history.
//
// It lives in one sheet (#driver) above the map: full screen on a phone, a side panel on a
// desktop; the map stays the home screen. The header's buttons open it; a pill in the header
// shows a charge that is running while the sheet is closed. app.js calls decorateStation() when
// it draws a station's panel and connectorChanged() when a connector's status changes.

import * as api from './api.js';
import * as charge from './charge.js';
import * as scan from './scan.js';
import {h, money, perKwh, randomKey, when} from './ui.js';

const VEHICLE_KEY = 'chargemesh.vehicle';
const PREVIEW_TTL_MS = 20000;
const PREVIEWS_AT_ONCE = 3;
const VIEWS = ['charge', 'cars', 'history', 'account'];
const SIGNED_IN_VIEWS = new Set(['charge', 'scan', 'cars', 'history']);

const state = {
  view: null, // the view on screen, null when the sheet is closed
  pending: null, // the view asked for before signing in
  notice: null, // a message for the account view (e.g. why the driver was signed out)
  signupMode: false,
  vehicles: null,
  scanner: null, // {stop} of the running camera
  station: null, // the station whose panel is open
  previews: new Map(), // connector id -> {at, preview | error}
  stationNames: new Map(),
  starts: 0,
};

export const driver = {
  state,
  charge: charge.live,
  dropStream: charge.dropStream,
  scan: scan.stats,
  open: openView,
  close: closeSheet,
  account: api.account,
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ the sheet

function closeSheet() {
  stopScanner();
  state.view = null;
  $('driver').hidden = true;
  $('driver-body').replaceChildren();
  for (const b of document.querySelectorAll('#driver-tabs button')) b.removeAttribute('aria-current');
}

// Opens the sheet on a view. A view that needs a driver asks to sign in first, then opens;
// `after: 'map'` closes the sheet once signed in (back to the station the driver was on).
function openView(view, {message = null, after = null} = {}) {
  if (view === 'account' && !api.signedIn()) {
    if (message) state.notice = message;
    if (after) state.pending = after;
  }
  if (SIGNED_IN_VIEWS.has(view) && !api.signedIn()) {
    state.pending = view;
    state.notice = message || (view === 'scan' ? 'Sign in to scan a charger and start charging.' : 'Sign in first.');
    view = 'account';
  }
  if (view !== 'scan') stopScanner();
  state.view = view;
  $('driver').hidden = false;
  const tab = view === 'scan' ? 'charge' : view;
  for (const b of document.querySelectorAll('#driver-tabs button')) {
    if (b.dataset.view === tab) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  render();
}

function render() {
  const body = $('driver-body');
  const draw = {charge: chargeTab, scan: scanView, cars: carsView, history: historyView, account: accountView}[state.view];
  if (!draw) return;
  const out = draw();
  body.replaceChildren(...(Array.isArray(out) ? out : [out]).filter(Boolean));
  const first = body.querySelector('[autofocus]');
  if (first) first.focus();
}

function formError() {
  return h('p', {class: 'form-error', role: 'alert'});
}

function busy(button, on, text) {
  button.disabled = on;
  if (text) button.textContent = text;
}

// ------------------------------------------------------------------ account

function accountView() {
  const me = api.account();
  if (me) {
    const out = h('button', {type: 'button', id: 'sign-out', 'aria-label': 'Sign out'}, 'Sign out');
    out.addEventListener('click', async () => {
      busy(out, true, 'Signing out…');
      await api.signOut();
    });
    return h('section', {class: 'account', 'aria-label': 'Your account'},
      h('h2', {}, 'Your account'),
      h('p', {}, 'Signed in as ', h('strong', {id: 'account-email'}, me.email)),
      h('p', {class: 'muted'}, `Since ${when(me.created_at)} · ${me.vehicles} car${me.vehicles === 1 ? '' : 's'} · ${me.sessions} charge${me.sessions === 1 ? '' : 's'}`),
      out);
  }
  return state.signupMode ? signUpForm() : signInForm();
}

function notice() {
  if (!state.notice) return null;
  return h('p', {class: 'notice', role: 'status'}, state.notice);
}

function signInForm() {
  const error = formError();
  const email = h('input', {type: 'email', name: 'email', id: 'signin-email', autocomplete: 'username', required: true, autofocus: true});
  const password = h('input', {type: 'password', name: 'password', id: 'signin-password', autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {id: 'signin-form', 'aria-label': 'Sign in', noValidate: true},
    h('h2', {}, 'Sign in'),
    notice(),
    h('label', {for: 'signin-email'}, 'Email'), email,
    h('label', {for: 'signin-password'}, 'Password'), password,
    submit, error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(submit, true, 'Signing in…');
    try {
      await api.signIn(email.value.trim(), password.value);
    } catch (err) {
      error.textContent = err.status === 401
        ? 'That email and password do not match an account. Check them, or create an account.'
        : api.plain(err);
      busy(submit, false, 'Sign in');
    }
  });
  const other = h('button', {type: 'button', class: 'link', id: 'show-signup'}, 'Create an account');
  other.addEventListener('click', () => { state.signupMode = true; render(); });
  return [form, h('p', {class: 'switch'}, 'New here? ', other)];
}

function signUpForm() {
  const error = formError();
  const email = h('input', {type: 'email', name: 'email', id: 'signup-email', autocomplete: 'username', required: true, autofocus: true});
  const password = h('input', {type: 'password', name: 'password', id: 'signup-password', autocomplete: 'new-password', required: true, minLength: 8, maxLength: 128, 'aria-describedby': 'signup-password-hint'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Create account');
  const form = h('form', {id: 'signup-form', 'aria-label': 'Create an account', noValidate: true},
    h('h2', {}, 'Create an account'),
    notice(),
    h('label', {for: 'signup-email'}, 'Email'), email,
    h('label', {for: 'signup-password'}, 'Password'), password,
    h('p', {class: 'hint', id: 'signup-password-hint'}, '8 to 128 characters, not only letters or only digits, and not your email.'),
    submit, error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(submit, true, 'Creating…');
    try {
      await api.signUp(email.value.trim(), password.value);
    } catch (err) {
      error.textContent = err.status === 409
        ? `${api.plain(err)} Sign in with it instead, or use another email.`
        : api.plain(err);
      busy(submit, false, 'Create account');
    }
  });
  const other = h('button', {type: 'button', class: 'link', id: 'show-signin'}, 'Sign in');
  other.addEventListener('click', () => { state.signupMode = false; render(); });
  return [form, h('p', {class: 'switch'}, 'Have an account? ', other)];
}

function onAuth(account, reason) {
  state.previews.clear();
  state.vehicles = null;
  const button = $('account-button');
  button.querySelector('.account-text').textContent = account ? 'Account' : 'Sign in';
  button.title = account ? `Signed in as ${account.email}` : 'Sign in or create an account';
  if (!account) {
    charge.forget();
    state.notice = reason || null;
    if (reason && state.view && state.view !== 'account') {
      state.pending = state.view;
      openView('account');
    } else if (state.view) {
      render();
    }
  } else {
    state.notice = null;
    state.signupMode = false; // next time, the account signs in
    const next = state.pending;
    state.pending = null;
    findRunningCharge();
    if (next === 'map') closeSheet();
    else if (next) openView(next);
    else if (state.view) render();
  }
  if (state.station) decorateStation(state.station);
}

// ------------------------------------------------------------------ the live charge

async function stationName(id) {
  if (state.stationNames.has(id)) return state.stationNames.get(id);
  let name = null;
  try {
    const res = await fetch(`${api.API}/stations/${encodeURIComponent(id)}`);
    if (res.ok) name = (await res.json()).name;
  } catch {
    name = null;
  }
  state.stationNames.set(id, name);
  return name;
}

function chargeTab() {
  const s = charge.live.session;
  const scanButton = h('button', {type: 'button', class: 'primary', 'aria-label': 'Scan a charger code'}, 'Scan a charger code');
  scanButton.addEventListener('click', () => openView('scan'));
  if (!s) {
    return h('section', {class: 'no-charge', 'aria-label': 'Charge'},
      h('h2', {}, 'Charge'),
      h('p', {}, 'No charge running. Open a station on the map and press Start, or scan the code printed on the charger.'),
      scanButton);
  }
  const view = charge.chargeView(s, {stationName: state.stationNames.get(s.station_id) || null});
  if (!state.stationNames.has(s.station_id)) {
    stationName(s.station_id).then((name) => {
      if (name && state.view === 'charge' && charge.live.session && charge.live.session.id === s.id) render();
    });
  }
  return charge.running(s) ? view : [view, scanButton];
}

function showSession(s) {
  charge.follow(s);
  openView('charge');
}

async function findRunningCharge() {
  try {
    const mine = await api.call('GET', '/sessions');
    const last = [...mine].reverse().find(charge.chargingNow);
    if (last && !charge.live.session) charge.follow(last);
  } catch (err) {
    console.warn('sessions', err);
  }
}

function updatePill(s) {
  const pill = $('charge-pill');
  const show = charge.chargingNow(s);
  pill.hidden = !show;
  if (show) {
    pill.querySelector('.pill-text').textContent =
      s.state === 'charging' ? `${Number(s.kwh).toFixed(1)} kWh` : (s.state === 'stopping' ? 'stopping' : 'starting');
  }
}

// POST /sessions with the connector or the scanned code. `key` is the Idempotency-Key of this
// one intent to start: a second tap, or a retry, sends the same key and gets the same session.
async function startCharge(target, key) {
  const body = {...target};
  const car = chosenVehicle();
  if (car) body.vehicle_id = car;
  state.starts += 1;
  const s = await api.call('POST', '/sessions', {json: body, headers: {'Idempotency-Key': key}});
  charge.live.session = null; // show the new one, whatever was shown
  showSession(s);
  return s;
}

// ------------------------------------------------------------------ scan to charge

function stopScanner() {
  if (state.scanner) state.scanner.stop();
  state.scanner = null;
}

function scanView() {
  const error = h('p', {class: 'form-error', id: 'scan-error', role: 'alert'});
  const status = h('p', {class: 'muted', id: 'scan-status', role: 'status'}, 'Starting the camera…');
  const video = h('video', {id: 'scan-video', 'aria-label': 'Camera view', playsInline: true, muted: true});
  // shown while the camera runs
  const frame = h('div', {class: 'scan-frame', hidden: true}, video, h('div', {class: 'scan-target', 'aria-hidden': 'true'}));
  let key = randomKey(); // one intent: the same key for this view's start, however it is tried
  let starting = false;
  const cameraHint = 'Point the camera at the charger\'s QR code.';
  let cameraText = 'Starting the camera…'; // what the camera is doing, or why it cannot
  const camera = (text, on) => {
    cameraText = text;
    status.textContent = text;
    frame.hidden = !on;
  };

  const begin = async (code, how) => {
    if (starting) return;
    starting = true;
    error.textContent = '';
    status.textContent = how === 'scan' ? `Read ${code}: starting the charge…` : 'Starting the charge…';
    try {
      await startCharge({qr: code}, key);
    } catch (err) {
      starting = false;
      key = randomKey(); // that code was refused: the next one is another intent
      error.textContent = err.code === 'unknown_code'
        ? `Unknown code. ${api.plain(err)} Scan the code on the charger itself, or type the one printed beside it.`
        : api.plain(err);
      // the camera stays off until asked: it would read the same refused code again at once
      if (how === 'scan') camera('Refused: point the camera at another charger\'s code, then scan again.', false);
      else status.textContent = cameraText;
      again.hidden = how !== 'scan';
    }
  };
  const again = h('button', {type: 'button', id: 'scan-again', hidden: true}, 'Scan again');
  again.addEventListener('click', () => {
    again.hidden = true;
    error.textContent = '';
    openCamera();
  });

  const openCamera = async () => {
    stopScanner();
    if (!scan.cameraAvailable()) {
      camera(scan.cameraProblem(null), false);
      return;
    }
    camera('Starting the camera…', true);
    try {
      state.scanner = await scan.startScanner(video, (code) => {
        state.scanner = null;
        begin(code, 'scan');
      });
      if (state.view !== 'scan') stopScanner();
      else camera(cameraHint, true);
    } catch (err) {
      state.scanner = null;
      camera(scan.cameraProblem(err), false);
    }
  };

  const input = h('input', {type: 'text', id: 'scan-code', name: 'code', autocomplete: 'off', autocapitalize: 'off', spellcheck: false, required: true, placeholder: 'e.g. hlht://… or CN*ABC*E1*1'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Start with this code');
  const form = h('form', {id: 'code-form', 'aria-label': 'Start with a typed code', noValidate: true},
    h('label', {for: 'scan-code'}, 'Charger code'), input, submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = input.value.trim();
    if (code) begin(code, 'typed');
  });
  queueMicrotask(openCamera);
  return h('section', {class: 'scan', 'aria-label': 'Scan to charge'},
    h('h2', {}, 'Scan to charge'),
    frame, status, error, again,
    h('p', {class: 'muted'}, 'No camera, or the code will not scan? Type or paste the code printed on the charger.'),
    form);
}

// ------------------------------------------------------------------ my cars

function chosenVehicle() {
  const id = localStorage.getItem(VEHICLE_KEY);
  const cars = state.vehicles || [];
  if (id && cars.some((v) => v.id === id)) return id;
  return cars.length ? cars[0].id : null;
}

async function loadVehicles() {
  state.vehicles = await api.call('GET', '/vehicles');
  return state.vehicles;
}

function carItem(v) {
  const error = formError();
  const networks = v.plug_and_charge_networks || [];
  const pnc = networks.length
    ? h('p', {class: 'pnc on'}, `Plug & charge on (${networks.length} network${networks.length === 1 ? '' : 's'}): plug in and the car starts the charge.`)
    : h('p', {class: 'pnc off muted'}, 'Plug & charge off');
  const toggle = h('button', {type: 'button', 'aria-label': `${networks.length ? 'Switch off' : 'Switch on'} plug and charge for ${v.model} ${v.vin}`},
    networks.length ? 'Switch off plug & charge' : 'Switch on plug & charge');
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    error.textContent = '';
    try {
      await api.call(networks.length ? 'DELETE' : 'PUT', `/vehicles/${encodeURIComponent(v.id)}/plug-and-charge`, {json: networks.length ? undefined : {}});
      await loadVehicles();
      render();
    } catch (err) {
      error.textContent = api.plain(err);
      toggle.disabled = false;
    }
  });
  const remove = h('button', {type: 'button', class: 'link', 'aria-label': `Remove ${v.model} ${v.vin}`}, 'Remove');
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Remove ${v.model} (${v.vin})?`)) return;
    try {
      await api.call('DELETE', `/vehicles/${encodeURIComponent(v.id)}`);
      await loadVehicles();
      render();
    } catch (err) {
      error.textContent = err.status === 405 ? 'Cars cannot be removed on this platform yet.' : api.plain(err);
    }
  });
  const use = h('input', {type: 'radio', name: 'charge-with', value: v.id, checked: chosenVehicle() === v.id, 'aria-label': `Charge with ${v.model} ${v.vin}`});
  use.addEventListener('change', () => localStorage.setItem(VEHICLE_KEY, v.id));
  return h('li', {class: 'car', 'data-vehicle-id': v.id},
    h('div', {class: 'car-head'}, use, h('strong', {}, v.model)),
    h('p', {class: 'vin'}, 'VIN ', h('code', {}, v.vin)),
    v.emaid ? h('p', {class: 'vin'}, 'EMAID ', h('code', {}, v.emaid)) : null,
    pnc, h('div', {class: 'car-actions'}, toggle, remove), error);
}

function addCarForm() {
  const error = formError();
  const field = (id, label, attrs) => [h('label', {for: id}, label), h('input', {id, name: id, type: 'text', ...attrs})];
  const [modelLabel, model] = field('car-model', 'Car model', {required: true, maxLength: 100, placeholder: 'e.g. yc-aster', autocomplete: 'off'});
  const [vinLabel, vin] = field('car-vin', 'VIN', {required: true, minLength: 17, maxLength: 17, autocapitalize: 'characters', spellcheck: false, autocomplete: 'off', 'aria-describedby': 'car-vin-hint'});
  const [emaidLabel, emaid] = field('car-emaid', 'EMAID (optional)', {maxLength: 36, autocapitalize: 'characters', spellcheck: false, autocomplete: 'off', 'aria-describedby': 'car-emaid-hint'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Add car');
  const form = h('form', {id: 'car-form', 'aria-label': 'Add a car', noValidate: true},
    h('h3', {}, 'Add a car'),
    modelLabel, model, vinLabel, vin,
    h('p', {class: 'hint', id: 'car-vin-hint'}, '17 letters and digits, on the registration certificate or at the bottom of the windscreen.'),
    emaidLabel, emaid,
    h('p', {class: 'hint', id: 'car-emaid-hint'}, 'ISO 15118 cars only: the contract ID for plug & charge, e.g. CN-ABC-C12345678-X.'),
    submit, error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(submit, true, 'Adding…');
    const body = {model: model.value.trim(), vin: vin.value.trim().toUpperCase()};
    if (emaid.value.trim()) body.emaid = emaid.value.trim().toUpperCase();
    try {
      await api.call('POST', '/vehicles', {json: body});
      await loadVehicles();
      render();
    } catch (err) {
      error.textContent = err.status === 409 ? `${api.plain(err)} A car can be in one account only.` : api.plain(err);
      busy(submit, false, 'Add car');
    }
  });
  return form;
}

function carsView() {
  if (state.vehicles === null) {
    loadVehicles().then(render, (err) => {
      state.vehicles = [];
      render();
      const e = document.querySelector('#driver-body .form-error');
      if (e) e.textContent = api.plain(err);
    });
    return h('p', {class: 'loading'}, 'Loading your cars…');
  }
  const list = state.vehicles.length
    ? h('ul', {class: 'cars', id: 'cars'}, state.vehicles.map(carItem))
    : h('p', {class: 'muted', id: 'cars'}, 'No car yet. Add yours to charge with it and to switch on plug & charge.');
  return h('section', {class: 'cars-view', 'aria-label': 'My cars'}, h('h2', {}, 'My cars'), list, addCarForm(),
    myCardsView(), myChargersView());
}

// ------------------------------------------------------------------ my charge cards

function cardItem(card, reload, error) {
  const remove = h('button', {type: 'button', class: 'link', 'aria-label': `Remove card ${card.label} ${card.uid}`}, 'Remove');
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Remove the card ${card.label} (${card.uid})? It will start no charge any more.`)) return;
    remove.disabled = true;
    try {
      await api.call('DELETE', `/me/cards/${encodeURIComponent(card.uid)}`);
      reload();
    } catch (err) {
      error.textContent = api.plain(err);
      remove.disabled = false;
    }
  });
  return h('li', {class: 'card', 'data-card-uid': card.uid},
    h('strong', {}, card.label), ' ', h('code', {}, card.uid), ' ', remove);
}

function myCardsView() {
  const section = h('section', {class: 'my-cards', 'aria-label': 'My charge cards'});
  const error = formError();
  const list = h('ul', {id: 'cards', class: 'cards'});
  const uid = h('input', {id: 'card-uid', name: 'card-uid', type: 'text', required: true, maxLength: 40,
    autocapitalize: 'characters', spellcheck: false, autocomplete: 'off', 'aria-describedby': 'card-uid-hint'});
  const label = h('input', {id: 'card-label', name: 'card-label', type: 'text', maxLength: 60, autocomplete: 'off', placeholder: 'e.g. work card'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Register card');
  const form = h('form', {id: 'card-form', 'aria-label': 'Add a charge card', noValidate: true},
    h('label', {for: 'card-uid'}, 'Card UID'), uid,
    h('p', {class: 'hint', id: 'card-uid-hint'}, '8, 14 or 20 hex digits (4, 7 or 10 bytes), printed on the card or read by your phone, e.g. 04:A2:5B:1C:9D:3E:80.'),
    h('label', {for: 'card-label'}, 'Name (optional)'), label, submit, error);
  const reload = () => api.call('GET', '/me/cards').then((cards) => {
    list.replaceChildren(...cards.map((c) => cardItem(c, reload, error)));
    if (!cards.length) list.append(h('li', {class: 'muted'}, 'No card yet.'));
  }, (err) => { error.textContent = api.plain(err); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    busy(submit, true, 'Adding…');
    try {
      await api.call('POST', '/me/cards', {json: {uid: uid.value.trim(), label: label.value.trim()}});
      uid.value = '';
      label.value = '';
      await reload();
    } catch (err) {
      error.textContent = api.plain(err);
    }
    busy(submit, false, 'Register card');
  });
  reload();
  section.append(h('h2', {}, 'My charge cards'),
    h('p', {class: 'muted'}, 'Hold a card to the reader of one of our own superchargers, or of your home charger, to charge on this account.'),
    list, form);
  return section;
}

// ------------------------------------------------------------------ my home chargers

const STATUS_WORDS = {available: 'Free', charging: 'Charging', occupied: 'Car plugged in', offline: 'Offline',
  faulted: 'Fault', reserved: 'Reserved', unknown: 'Status unknown'};

function myChargerItem(c) {
  const error = formError();
  const rows = c.connectors.map((k, i) => {
    const slot = h('span', {class: 'start'});
    if (c.connected && ['available', 'occupied'].includes(k.status)) {
      const key = randomKey(); // one intent per button: a double tap sends the same key
      const button = h('button', {type: 'button', class: 'primary start-button',
        'aria-label': `Start charging on ${c.name} connector ${i + 1}`}, 'Start');
      button.addEventListener('click', async () => {
        button.disabled = true;
        error.textContent = '';
        try {
          await startCharge({connector_id: k.id}, key);
        } catch (err) {
          error.textContent = api.plain(err);
          button.disabled = false;
        }
      });
      slot.append(button);
    }
    return h('li', {class: 'my-connector', 'data-connector-id': k.id, 'data-status': k.status},
      `${k.max_power_kw} kW · ${STATUS_WORDS[k.status] || k.status} `, slot);
  });
  return h('li', {class: 'my-charger', 'data-charger-id': c.id},
    h('strong', {}, c.name), ' ',
    h('span', {class: c.connected ? 'online' : 'muted'}, c.connected ? 'online' : 'offline: check its power and network'),
    h('ul', {}, rows), error);
}

function myChargersView() {
  const section = h('section', {class: 'my-chargers', 'aria-label': 'My chargers'});
  api.call('GET', '/me/chargers').then((mine) => {
    if (!mine.length) return; // most drivers own none: nothing to say
    section.replaceChildren(h('h2', {}, 'My chargers'),
      h('p', {class: 'muted'}, 'Your home chargers: only you see and start them.'),
      h('ul', {id: 'my-chargers'}, mine.map(myChargerItem)));
  }, () => {});
  return section;
}

// ------------------------------------------------------------------ history

function historyItem(s) {
  const name = state.stationNames.get(s.station_id);
  const amount = s.bill ? money(s.bill.total, s.bill.currency) : money(s.cost, s.currency);
  const kwh = s.bill ? s.bill.kwh : s.kwh;
  const what = {
    completed: s.bill ? 'Billed' : 'Waiting for the bill', failed: 'Did not start', charging: 'Charging now',
    stopping: 'Stopping', starting: 'Starting', requested: 'Starting',
  }[s.state] || s.state;
  const open = h('button', {type: 'button', class: 'history-open', 'aria-label': `Charge of ${when(s.created_at)}${name ? ` at ${name}` : ''}`},
    h('span', {class: 'history-when'}, when(s.started_at || s.created_at)),
    h('span', {class: 'history-where'}, name || s.station_id),
    h('span', {class: 'history-what', 'data-state': s.state}, what),
    h('span', {class: 'history-kwh'}, s.state === 'failed' ? (s.failure_reason || '') : `${Number(kwh).toFixed(2)} kWh`),
    h('span', {class: 'history-amount'}, s.state === 'failed' ? '' : amount));
  open.addEventListener('click', () => showSession(s));
  return h('li', {class: 'history-item', 'data-session-id': s.id, 'data-state': s.state},
    open,
    s.bill && s.bill.reference ? h('span', {class: 'history-ref muted'}, `Bill ${s.bill.reference}`) : null,
    s.dispute ? h('span', {class: 'dispute'}, `Bill under review: ${s.dispute}`) : null);
}

function historyView() {
  const section = h('section', {class: 'history', 'aria-label': 'History of charges and bills'},
    h('h2', {}, 'Charges and bills'), h('p', {class: 'loading'}, 'Loading your charges…'));
  api.call('GET', '/sessions').then(async (mine) => {
    const newest = [...mine].reverse();
    await Promise.all([...new Set(newest.map((s) => s.station_id))].slice(0, 30).map(stationName));
    if (!section.isConnected && state.view !== 'history') return;
    const total = newest.filter((s) => s.bill).reduce((sum, s) => sum + Number(s.bill.total), 0);
    const currency = (newest.find((s) => s.bill) || {bill: {}}).bill.currency;
    section.replaceChildren(
      h('h2', {}, 'Charges and bills'),
      newest.length
        ? h('ul', {class: 'history-list', id: 'history'}, newest.map(historyItem))
        : h('p', {class: 'muted', id: 'history'}, 'No charges yet.'),
      newest.some((s) => s.bill) ? h('p', {class: 'muted'}, `Billed in all: ${money(total, currency)}`) : null);
  }, (err) => {
    section.replaceChildren(h('h2', {}, 'Charges and bills'), h('p', {class: 'form-error', role: 'alert'}, api.plain(err)));
  });
  return section;
}

// ------------------------------------------------------------------ the station panel

async function limited(tasks, n) {
  const queue = [...tasks];
  const worker = async () => {
    while (queue.length) await queue.shift()();
  };
  await Promise.all(Array.from({length: Math.min(n, queue.length)}, worker));
}

async function previewOf(connectorId) {
  const kept = state.previews.get(connectorId);
  if (kept && Date.now() - kept.at < PREVIEW_TTL_MS) return kept;
  const got = {at: Date.now(), preview: null, error: null};
  try {
    got.preview = await api.call('POST', '/sessions/preview', {json: {connector_id: connectorId}});
  } catch (err) {
    got.error = err;
  }
  state.previews.set(connectorId, got);
  return got;
}

function sentence(text) {
  const t = String(text).trim();
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

function startSlot(connectorId) {
  return document.querySelector(`#panel .start[data-start-for="${CSS.escape(connectorId)}"]`);
}

function fillSlot(slot, connectorId, got) {
  if (got.error) {
    slot.dataset.startable = 'false';
    slot.replaceChildren(h('p', {class: 'cannot'}, api.plain(got.error)));
    return;
  }
  const p = got.preview;
  slot.dataset.startable = String(p.startable);
  if (!p.startable) {
    slot.replaceChildren(h('p', {class: 'cannot'},
      h('span', {class: 'reason'}, p.reason ? sentence(p.reason) : 'The app cannot start this connector.'),
      p.advice ? h('span', {class: 'advice'}, ` ${sentence(p.advice)}`) : null));
    return;
  }
  const key = randomKey(); // this Start button's one intent: a double tap sends the same key
  const error = h('p', {class: 'form-error', role: 'alert'});
  const button = h('button', {type: 'button', class: 'primary start-button', 'aria-label': `Start charging on connector ${connectorId.split(':').pop()}`}, 'Start');
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = 'Starting…';
    error.textContent = '';
    try {
      await startCharge({connector_id: connectorId}, key);
      state.previews.delete(connectorId);
      button.textContent = 'Started';
    } catch (err) {
      error.textContent = api.plain(err);
      state.previews.delete(connectorId);
      button.disabled = false;
      button.textContent = 'Start';
    }
  });
  const price = p.price_now !== null && p.price_now !== undefined
    ? h('span', {class: 'price-tag'}, `${perKwh(p.price_now, p.currency)} now`)
    : h('span', {class: 'price-tag muted'}, 'price not published');
  slot.replaceChildren(button, price, error);
}

// Fill in each connector's Start (or why not) in the open station's panel.
export async function decorateStation(station) {
  state.station = station;
  const connectors = station.evses.flatMap((e) => e.connectors);
  if (!api.signedIn()) {
    for (const c of connectors) {
      const slot = startSlot(c.id);
      if (!slot) continue;
      const button = h('button', {type: 'button', class: 'sign-in-to-charge'}, 'Sign in to charge');
      button.addEventListener('click', () => openView('account', {message: 'Sign in to start a charge here.', after: 'map'}));
      slot.dataset.startable = 'signed-out';
      slot.replaceChildren(button);
    }
    return;
  }
  for (const c of connectors) {
    const slot = startSlot(c.id);
    if (slot && !slot.dataset.startable) slot.replaceChildren(h('span', {class: 'muted'}, 'Checking…'));
  }
  await limited(connectors.map((c) => async () => {
    if (state.station !== station) return;
    const got = await previewOf(c.id);
    const slot = startSlot(c.id);
    if (slot && state.station === station) fillSlot(slot, c.id, got);
  }), PREVIEWS_AT_ONCE);
}

// A connector's status changed (live status stream): its Start or reason may have too.
export function connectorChanged(connectorId) {
  state.previews.delete(connectorId);
  const slot = startSlot(connectorId);
  if (!slot || !api.signedIn() || !state.station) return;
  previewOf(connectorId).then((got) => {
    const again = startSlot(connectorId);
    if (again) fillSlot(again, connectorId, got);
  });
}

export function stationClosed() {
  state.station = null;
}

// ------------------------------------------------------------------ start

export function initDriver() {
  $('account-button').addEventListener('click', () => openView('account'));
  $('scan-button').addEventListener('click', () => openView('scan'));
  $('charge-pill').addEventListener('click', () => openView('charge'));
  $('driver-close').addEventListener('click', closeSheet);
  for (const b of document.querySelectorAll('#driver-tabs button')) {
    if (VIEWS.includes(b.dataset.view)) b.addEventListener('click', () => openView(b.dataset.view));
  }
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.view) closeSheet();
  });
  charge.onLive(updatePill);
  api.onAuthChange(onAuth);
  api.resume();
  return driver;
}
