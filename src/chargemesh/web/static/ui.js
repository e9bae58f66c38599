// Small helpers every part of the page shares: building elements, money and numbers.

// h('p', {class: 'x', 'aria-label': '…'}, 'text', child, …): an element with its children.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('data-') || k === 'title' || k === 'role' || k === 'for' || k.startsWith('aria-')) {
      el.setAttribute(k, String(v));
    } else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// An amount with its currency: ¥12.30 for yuan, "12.30 EUR" for anything else.
export function money(value, currency) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return '–';
  return currency === 'CNY' || !currency ? `¥${n.toFixed(2)}` : `${n.toFixed(2)} ${currency}`;
}

// A price per kWh: the operator's exact figure (it may have more than two decimals).
export function perKwh(value, currency) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return '–';
  const text = String(Number(n.toFixed(4)));
  return currency === 'CNY' || !currency ? `¥${text}/kWh` : `${text} ${currency}/kWh`;
}

// h:mm:ss of a number of seconds.
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return '–';
  const s = Math.max(0, Math.floor(Number(seconds)));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
}

// A random key for one start, so that a repeated request never starts a second charge.
export function randomKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// A date and time in the station's time (China), e.g. "6 Dec 15:05".
export function when(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Shanghai', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));
}
