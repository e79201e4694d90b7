// edge-actions playground: plain ES module, no framework, no bundler.
// Loads the package's browser entry (../pkg/browser.js), awaits init() once, then wires the forms.
// Everything is rendered with textContent (never innerHTML) so event data cannot inject markup.

const PACKAGE_URL = new URL('../pkg/browser.js', import.meta.url).href;
const PLACEHOLDER_TOKEN = 'PLAYGROUND_TOKEN';
const REDACTED = '•••';

export const SAMPLE_EVENT = {
  type: 'track',
  event: 'Order Completed',
  messageId: 'msg-order-1001',
  timestamp: '2026-11-20T10:15:30.000Z',
  userId: 'user-42',
  anonymousId: 'anon-7f3c9a',
  properties: {
    order_id: 'ORD-1001',
    total: 59.97,
    revenue: 54.97,
    currency: 'usd',
    email: '  Jane.Doe@Example.COM ',
    phone: '+1 (555) 010-0199',
    products: [
      { product_id: 'sku-shoe-1', name: 'Trail shoe', category: 'Shoes', brand: 'Acme', price: 39.99, quantity: 1 },
      { product_id: 'sku-sock-7', name: 'Wool socks', category: 'Accessories', brand: 'Woolly', price: 9.99, quantity: 2 },
    ],
  },
  context: {
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36',
    page: { url: 'https://shop.example.com/checkout/complete', title: 'Thank you' },
    traits: { first_name: 'Jane', last_name: 'Doe', address: { city: 'Austin', state: 'Texas', country: 'United States' } },
  },
};

export const SAMPLE_SETTINGS = { pixel_id: 'px-demo-0001', snap_app_id: '', app_id: '' };

const EXAMPLE_SUBSCRIPTIONS = [
  {
    name: 'Purchase (custom)',
    subscribe: 'event = "Order Completed"',
    partnerAction: 'reportConversionEvent',
    enabled: true,
    mapping: {
      event_name: 'PURCHASE',
      action_source: 'website',
      event_id: { '@path': '$.messageId' },
      event_time: { '@path': '$.timestamp' },
      event_source_url: { '@path': '$.context.page.url' },
      user_data: {
        email: { '@path': '$.properties.email' },
        phone: { '@path': '$.properties.phone' },
        client_ip_address: { '@path': '$.context.ip' },
        client_user_agent: { '@path': '$.context.userAgent' },
      },
      custom_data: {
        currency: { '@path': '$.properties.currency' },
        order_id: { '@path': '$.properties.order_id' },
        value: { '@path': '$.properties.revenue' },
      },
      products: {
        '@arrayPath': [
          '$.properties.products',
          { item_id: { '@path': 'product_id' }, item_category: { '@path': 'category' }, brand: { '@path': 'brand' } },
        ],
      },
    },
  },
];

const SAMPLE_MAPPING = {
  event_name: 'PURCHASE',
  email: { '@path': '$.properties.email' },
  value: {
    '@if': {
      exists: { '@path': '$.properties.revenue' },
      then: { '@path': '$.properties.revenue' },
      else: { '@path': '$.properties.total' },
    },
  },
  greeting: { '@template': 'Thanks, {{traits.first_name}}!' },
  items: {
    '@arrayPath': ['$.properties.products', { item_id: { '@path': 'product_id' }, brand: { '@path': 'brand' } }],
  },
};

const SAMPLE_PAYLOAD = {
  type: 'track',
  event: 'Order Completed',
  traits: { first_name: 'Jane' },
  properties: {
    email: 'jane.doe@example.com',
    total: 59.97,
    products: [
      { product_id: 'sku-shoe-1', brand: 'Acme' },
      { product_id: 'sku-sock-7', brand: 'Woolly' },
    ],
  },
};

const SAMPLE_FQL = 'type = "track" and event = "Order Completed" and properties.total > 20';

// ---------------------------------------------------------------------------------------------
// small DOM helpers

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const pretty = (value) => JSON.stringify(value, null, 2);

function showError(id, title, detail) {
  const box = $(id);
  box.replaceChildren(el('strong', { text: title }), detail ? el('span', { text: ' ' + detail }) : null);
  box.hidden = false;
}

function clearError(id) {
  const box = $(id);
  box.hidden = true;
  box.replaceChildren();
}

function errorMessage(err) {
  if (err == null) return 'unknown error';
  if (typeof err === 'string') return err;
  if (err instanceof Error) {
    const msg = err.message || String(err);
    return err.code && !msg.startsWith(err.code) ? `${err.code}: ${msg}` : msg;
  }
  if (typeof err === 'object' && typeof err.message === 'string') {
    return err.code ? `${err.code}: ${err.message}` : err.message;
  }
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/** JSON.parse with an error that says which box, and where (line/column). */
export function parseJson(text, what) {
  if (text.trim() === '') throw new UserError(`${what} is empty.`, 'Paste some JSON first.');
  try {
    return JSON.parse(text);
  } catch (err) {
    let where = '';
    const pos = /position (\d+)/.exec(err.message);
    if (pos) {
      const offset = Number(pos[1]);
      const before = text.slice(0, offset);
      const line = before.split('\n').length;
      const column = offset - before.lastIndexOf('\n');
      where = ` (line ${line}, column ${column})`;
    }
    const msg = err.message.replace(/\s*\(line \d+ column \d+\)\s*$/, '');
    throw new UserError(`${what} is not valid JSON${where}.`, msg);
  }
}

class UserError extends Error {
  constructor(title, detail) {
    super(`${title} ${detail ?? ''}`.trim());
    this.title = title;
    this.detail = detail;
  }
}

// ---------------------------------------------------------------------------------------------
// token redaction: the token may appear in the URL (?access_token=) or in a header.

export function redact(value, token) {
  const secrets = [];
  // Very short tokens would mangle unrelated text; those are still caught by the URL/header rules.
  if (token && token.length >= 4) {
    secrets.push(token);
    const enc = encodeURIComponent(token);
    if (enc !== token) secrets.push(enc);
  }
  const scrub = (s) => {
    let out = s;
    for (const secret of secrets) out = out.split(secret).join(REDACTED);
    out = out.replace(/([?&]access_token=)[^&#\s"]*/g, `$1${REDACTED}`);
    return out;
  };
  const walk = (v, key) => {
    if (typeof v === 'string') {
      if (key && /^(authorization|x-access-token)$/i.test(key)) {
        const m = /^(\w+)\s+/.exec(v);
        return m ? `${m[1]} ${REDACTED}` : REDACTED;
      }
      return scrub(v);
    }
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v instanceof Map) return walk(Object.fromEntries(v), key);
    if (v && typeof v === 'object') {
      const out = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, k);
      return out;
    }
    return v;
  };
  return walk(value);
}

// ---------------------------------------------------------------------------------------------
// rendering of plan() lines

function headersToObject(headers) {
  if (!headers) return {};
  if (headers instanceof Map) return Object.fromEntries(headers);
  if (Array.isArray(headers)) return Object.fromEntries(headers);
  return headers;
}

function prettyBody(body) {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') {
    try {
      return pretty(JSON.parse(body));
    } catch {
      return body;
    }
  }
  return pretty(body);
}

function lineKind(line) {
  if (line && line.request) return 'request';
  if (line && line.error) return 'error';
  if (line && line.skipped !== undefined && line.skipped !== false) return 'skipped';
  return 'unknown';
}

function renderLine(line, index) {
  const kind = lineKind(line);
  const badgeText = { request: 'request', error: 'error', skipped: 'skipped', unknown: 'unknown' }[kind];
  const head = el(
    'header',
    {},
    el('span', { class: `badge ${kind}`, text: badgeText }),
    el('span', { class: 'meta' }, 'message ', el('code', { text: line?.messageId ?? '(none)' })),
    line?.subscription !== undefined
      ? el('span', { class: 'meta' }, 'subscription ', el('strong', { class: 'subscription', text: String(line.subscription) }))
      : null,
  );
  const article = el('article', { class: `line ${kind}`, 'aria-label': `Line ${index + 1}: ${badgeText}` }, head);

  if (kind === 'request') {
    const req = line.request;
    article.append(
      el('p', { class: 'req' }, el('code', { class: 'method', text: String(req.method ?? 'POST').toUpperCase() }), ' ',
        el('code', { class: 'url', text: String(req.url ?? '') })),
    );
    const headers = headersToObject(req.headers);
    if (Object.keys(headers).length) {
      article.append(el('details', { class: 'headers' }, el('summary', { text: 'Headers' }), el('pre', { class: 'code', text: pretty(headers) })));
    }
    article.append(el('pre', { class: 'code body', 'aria-label': 'Request body', text: prettyBody(req.body) }));
  } else if (kind === 'error') {
    const e = line.error ?? {};
    const dl = el('dl', { class: 'error-details' },
      el('dt', { text: 'Code' }), el('dd', {}, el('code', { class: 'error-code', text: String(e.code ?? '') })),
      el('dt', { text: 'Message' }), el('dd', { class: 'error-message', text: String(e.message ?? '') }),
    );
    if (e.field !== undefined && e.field !== null) {
      dl.append(el('dt', { text: 'Field' }), el('dd', {}, el('code', { class: 'error-field', text: String(e.field) })));
    }
    article.append(dl);
  } else if (kind === 'skipped') {
    const why = typeof line.skipped === 'string' ? line.skipped : 'no subscription matched this event';
    article.append(el('p', { class: 'muted', text: `Skipped: ${why}.` }));
  } else {
    article.append(el('pre', { class: 'code', text: pretty(line) }));
  }
  return article;
}

function renderPlan(lines) {
  const out = $('plan-output');
  if (!Array.isArray(lines) || lines.length === 0) {
    out.replaceChildren(el('p', { class: 'muted', text: 'plan() returned no lines.' }));
    return;
  }
  const counts = { request: 0, error: 0, skipped: 0, unknown: 0 };
  for (const l of lines) counts[lineKind(l)]++;
  const summary = el('p', { class: 'summary', text:
    `${lines.length} line${lines.length === 1 ? '' : 's'}: ${counts.request} request${counts.request === 1 ? '' : 's'}, ` +
    `${counts.error} error${counts.error === 1 ? '' : 's'}, ${counts.skipped} skipped.` });
  out.replaceChildren(summary, ...lines.map(renderLine));
}

// ---------------------------------------------------------------------------------------------
// actions

let api = null;

function readSettings() {
  const settings = {};
  for (const key of ['pixel_id', 'snap_app_id', 'app_id']) {
    const v = $(key).value.trim();
    if (v) settings[key] = v;
  }
  const token = $('access_token').value.trim();
  settings.access_token = token || PLACEHOLDER_TOKEN;
  return { settings, token: token || null };
}

function doPlan() {
  clearError('plan-error');
  $('plan-raw').textContent = '';
  try {
    if (!api) throw new UserError('The WebAssembly module is not loaded.', '');
    const parsed = parseJson($('event').value, 'The event');
    const events = Array.isArray(parsed) ? parsed : [parsed];
    if (events.some((e) => e === null || typeof e !== 'object' || Array.isArray(e))) {
      throw new UserError('The event must be a JSON object (or an array of objects).', '');
    }
    const subsText = $('subscriptions').value;
    const subscriptions = subsText.trim() ? parseJson(subsText, 'The subscriptions') : undefined;
    if (subscriptions !== undefined && !Array.isArray(subscriptions)) {
      throw new UserError('The subscriptions must be a JSON array.', '');
    }
    const { settings, token } = readSettings();
    const options = { destination: 'snap-conversions-api', settings };
    if (subscriptions !== undefined) options.subscriptions = subscriptions;
    let lines;
    try {
      lines = api.createDestination(options).plan(events);
    } catch (err) {
      throw new UserError('plan() failed:', errorMessage(err));
    }
    const safe = redact(lines, token ?? PLACEHOLDER_TOKEN);
    renderPlan(safe);
    $('plan-raw').textContent = pretty(safe);
  } catch (err) {
    $('plan-output').replaceChildren(el('p', { class: 'muted', text: 'No output: fix the error above and plan again.' }));
    if (err instanceof UserError) showError('plan-error', err.title, err.detail);
    else showError('plan-error', 'Unexpected error:', errorMessage(err));
  }
}

function doTransform() {
  clearError('mapping-error');
  const out = $('mapping-output');
  out.textContent = '';
  try {
    if (!api) throw new UserError('The WebAssembly module is not loaded.', '');
    const mapping = parseJson($('mapping').value, 'The mapping');
    const payload = parseJson($('payload').value, 'The payload');
    let result;
    try {
      result = api.transform(mapping, payload);
    } catch (err) {
      throw new UserError('transform() failed:', errorMessage(err));
    }
    out.textContent = result === undefined ? 'undefined' : pretty(redact(result, null));
  } catch (err) {
    if (err instanceof UserError) showError('mapping-error', err.title, err.detail);
    else showError('mapping-error', 'Unexpected error:', errorMessage(err));
  }
}

function doMatch() {
  clearError('fql-error');
  const out = $('fql-output');
  out.textContent = '–';
  out.className = '';
  try {
    if (!api) throw new UserError('The WebAssembly module is not loaded.', '');
    const fql = $('fql').value;
    if (!fql.trim()) throw new UserError('The FQL trigger is empty.', '');
    const event = parseJson($('fql-event').value, 'The event');
    let result;
    try {
      result = api.matchesTrigger(fql, event);
    } catch (err) {
      throw new UserError('matchesTrigger() failed:', errorMessage(err));
    }
    out.textContent = result ? 'true: the event matches' : 'false: the event does not match';
    out.className = result ? 'yes' : 'no';
  } catch (err) {
    if (err instanceof UserError) showError('fql-error', err.title, err.detail);
    else showError('fql-error', 'Unexpected error:', errorMessage(err));
  }
}

// ---------------------------------------------------------------------------------------------
// tabs (WAI-ARIA tabs pattern: arrows/Home/End move between tabs)

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (e) => {
      let next = null;
      if (e.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
      else if (e.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (e.key === 'Home') next = tabs[0];
      else if (e.key === 'End') next = tabs[tabs.length - 1];
      if (next) {
        e.preventDefault();
        select(next, true);
      }
    });
  });
}

function submitOnCtrlEnter(form) {
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
}

function prefill() {
  $('event').value = pretty(SAMPLE_EVENT);
  for (const [k, v] of Object.entries(SAMPLE_SETTINGS)) $(k).value = v;
  $('mapping').value = pretty(SAMPLE_MAPPING);
  $('payload').value = pretty(SAMPLE_PAYLOAD);
  $('fql').value = SAMPLE_FQL;
  $('fql-event').value = pretty(SAMPLE_EVENT);
}

function wire() {
  setupTabs();
  prefill();
  const forms = { 'plan-form': doPlan, 'mapping-form': doTransform, 'fql-form': doMatch };
  for (const [id, fn] of Object.entries(forms)) {
    const form = $(id);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      fn();
    });
    submitOnCtrlEnter(form);
  }
  $('reset-event').addEventListener('click', () => {
    $('event').value = pretty(SAMPLE_EVENT);
    $('event').focus();
  });
  $('example-subs').addEventListener('click', () => {
    $('subscriptions').value = pretty(EXAMPLE_SUBSCRIPTIONS);
    $('subscriptions').focus();
  });
  $('clear-subs').addEventListener('click', () => {
    $('subscriptions').value = '';
    $('subscriptions').focus();
  });
  $('load-presets').addEventListener('click', () => {
    clearError('plan-error');
    try {
      if (!api || typeof api.presets !== 'function') throw new Error('this build does not export presets()');
      $('subscriptions').value = pretty(api.presets('snap-conversions-api'));
      $('subscriptions').focus();
    } catch (err) {
      showError('plan-error', 'Could not load the presets:', errorMessage(err));
    }
  });
}

async function boot() {
  wire();
  const status = $('status');
  const root = document.documentElement;
  try {
    const mod = await import(PACKAGE_URL);
    const init = mod.init ?? mod.default;
    if (typeof init === 'function') await init();
    for (const name of ['createDestination', 'transform', 'matchesTrigger']) {
      if (typeof mod[name] !== 'function') throw new Error(`${PACKAGE_URL} does not export ${name}()`);
    }
    api = mod;
    for (const id of ['plan', 'transform', 'match']) $(id).disabled = false;
    status.textContent = 'Ready: the WebAssembly module is loaded.';
    status.className = 'status ok';
    root.dataset.ready = 'true';
  } catch (err) {
    status.textContent = `Could not load the package (${errorMessage(err)}). Build it with “make build” and reload.`;
    status.className = 'status bad';
    root.dataset.ready = 'error';
    console.error(err);
  }
}

boot();
