// The verifier dashboard's page (docs/dashboard.md). Plain browser JavaScript, no build step.
// Everything it shows comes from the verifier's JSON routes, fetched with the token the user
// typed (kept in sessionStorage) as `Authorization: Bearer`. Text from the verifier is put on
// the page with textContent only: agent names, request ids and check details are the
// provider's words and never markup.

import uPlot from '/dashboard/assets/uplot.js';

const TOKEN_KEY = 'tmb.dashboard.token';
const MAX_ROWS = 200;
const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  stream: null,
  timer: 0,
  plots: [],
  seen: new Set(),
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET a JSON route with the token; throws ApiError with the verifier's error code. */
async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${state.token}` }, cache: 'no-store' });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new ApiError(res.status, body.error?.code ?? '', body.error?.message ?? res.statusText);
  }
  return res.json();
}

/** A new element with text and class; `attrs` are set as attributes. */
function el(tag, text = '', cls = '', attrs = {}) {
  const e = document.createElement(tag);
  if (text !== '') e.textContent = text;
  if (cls !== '') e.className = cls;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function levelBadge(level) {
  return el('span', level ?? '-', `level level-${level ?? 'unknown'}`);
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120
    ? `${s} s ago`
    : s < 7200
      ? `${Math.round(s / 60)} min ago`
      : `${Math.round(s / 3600)} h ago`;
}

const clock = (ms) => new Date(ms).toLocaleTimeString();

/** One segment check (runtime or boot policy...) as a cell: status, code, detail on hover. */
function checkCell(c, label = '') {
  const td = el('td');
  if (c === null || c === undefined) {
    td.appendChild(el('span', 'no quote yet', 'muted'));
    return td;
  }
  const text = `${label}${c.status}${c.code ? ` ${c.code}` : ''}`;
  td.appendChild(el('span', text, `status-${c.status}`, { title: c.detail }));
  return td;
}

function signInError(text) {
  const p = $('signin-error');
  p.textContent = text;
  p.hidden = false;
}

function explain(err) {
  if (err instanceof ApiError && err.status === 401)
    return `That token was not accepted (${err.code || 'TOKEN_INVALID'}): use a reader token the verifier was started with (--reader-tokens-file).`;
  if (err instanceof ApiError) return `The verifier refused (${err.status} ${err.code}): ${err.message}`;
  return `The verifier could not be reached: ${err.message}`;
}

async function signIn(event) {
  event.preventDefault();
  $('signin-error').hidden = true;
  state.token = $('token').value.trim();
  try {
    const data = await api('/v1/dashboard/hosts');
    sessionStorage.setItem(TOKEN_KEY, state.token);
    start(data);
  } catch (err) {
    state.token = null;
    signInError(explain(err));
  }
}

function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.stream?.abort();
  clearInterval(state.timer);
  $('app').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  if (message !== '') signInError(message);
}

function start(first) {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  renderHosts(first);
  openStream();
  void refreshTelemetry();
  state.timer = setInterval(() => void refresh(), REFRESH_MS);
}

async function refresh() {
  try {
    renderHosts(await api('/v1/dashboard/hosts'));
    await refreshTelemetry();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) signOut(explain(err));
    else $('status').textContent = explain(err);
  }
}

function renderHosts(data) {
  const tbody = $('hosts').tBodies[0];
  tbody.replaceChildren();
  for (const h of data.hosts) tbody.appendChild(hostRow(h, data.now));
  $('hosts-note').textContent =
    `${data.hosts.length} host(s)${data.truncated ? ' (list cut short)' : ''}. Levels and failures are of the ` +
    'last verdicts this verifier process composed while the dashboard was open.';
  $('status').textContent = `updated ${clock(data.now)}`;
  const select = $('telemetry-host');
  const chosen = select.value;
  select.replaceChildren(...data.hosts.map((h) => el('option', h.agent, '', { value: h.agent })));
  if (data.hosts.some((h) => h.agent === chosen)) select.value = chosen;
}

function hostRow(h, now) {
  const tr = el('tr', '', '', { 'data-agent': h.agent });
  tr.appendChild(el('td', h.agent, 'mono'));
  const level = el('td', '', 'host-level');
  level.appendChild(levelBadge(h.latest?.level ?? null));
  const counts = Object.entries(h.recent.levels).map(([l, n]) => `${l}: ${n}`);
  if (counts.length > 0) level.appendChild(el('div', `recent ${counts.join(', ')}`, 'muted'));
  tr.appendChild(level);
  const quote = el('td', '', 'host-quote');
  if (h.quote === null)
    quote.appendChild(el('span', h.tpm === null ? 'no TPM enrolled' : 'no quote yet', 'muted'));
  else {
    quote.appendChild(el('div', `${clock(h.quote.at)} (${ago(now - h.quote.at)})`));
    quote.appendChild(el('div', `checkpoint size ${h.quote.size}`, 'muted'));
  }
  tr.appendChild(quote);
  tr.appendChild(checkCell(h.policy?.runtime));
  tr.appendChild(checkCell(h.policy?.boot));
  const parts = el('td');
  if (h.policy !== null)
    for (const [label, c] of [
      ['engine ', h.policy.engine],
      ['agent ', h.policy.agent],
      ['tool ', h.policy.tool],
    ])
      parts.appendChild(
        el('div', `${label}${c.status}${c.code ? ` ${c.code}` : ''}`, `status-${c.status}`, {
          title: c.detail,
        }),
      );
  tr.appendChild(parts);
  tr.appendChild(failures(h));
  return tr;
}

/** The host's failing checks: its last verdict's, and any policy check of its last quote. */
function failures(h) {
  const td = el('td', '', 'host-failures');
  const named = new Map();
  for (const f of h.latest?.failing ?? []) named.set(f.name, f.code ?? '');
  if (h.policy !== null)
    for (const [name, c] of Object.entries({
      'host.integrity': h.policy.runtime,
      'host.boot': h.policy.boot,
    }))
      if (c.status === 'fail') named.set(name, c.code ?? '');
  if (named.size === 0) td.appendChild(el('span', 'none', 'muted'));
  for (const [name, code] of named) td.appendChild(el('div', `${name} ${code}`, 'status-fail'));
  return td;
}

/** Reads the verdict stream (fetch + ReadableStream: EventSource cannot send the token). */
async function openStream() {
  const ctrl = new AbortController();
  state.stream = ctrl;
  const label = $('stream-state');
  try {
    const res = await fetch('/v1/dashboard/stream', {
      headers: { authorization: `Bearer ${state.token}` },
      signal: ctrl.signal,
    });
    if (!res.ok) throw new ApiError(res.status, '', `stream refused (${res.status})`);
    label.textContent = 'connected';
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) if (line !== '') onEvent(JSON.parse(line));
    }
  } catch (err) {
    if (ctrl.signal.aborted) return;
    label.textContent = explain(err);
  }
  if (ctrl.signal.aborted || state.token === null) return;
  label.textContent = 'reconnecting...';
  setTimeout(() => void openStream(), 2000);
}

function onEvent(e) {
  if (e.type === 'verdict') addVerdict(e.verdict);
  else if (e.type === 'dropped') {
    const p = $('stream-notice');
    p.hidden = false;
    p.textContent = `${e.count} verdict(s) not shown: ${e.reason}.`;
  } else if (e.type === 'heartbeat') $('stream-state').textContent = `connected, alive at ${clock(e.at)}`;
}

function addVerdict(v) {
  if (state.seen.has(v.receiptId)) return;
  state.seen.add(v.receiptId);
  const tr = el('tr', '', '', { 'data-receipt': v.receiptId, 'data-agent': v.agent, 'data-level': v.level });
  tr.appendChild(el('td', clock(v.receivedAt)));
  tr.appendChild(el('td', v.agent, 'mono'));
  tr.appendChild(el('td', v.receiptId.slice(0, 12), 'mono', { title: v.receiptId }));
  tr.appendChild(el('td', `${v.path ?? ''} ${v.requestId ?? ''}`.trim(), 'mono'));
  const level = el('td');
  level.appendChild(levelBadge(v.level));
  if (v.pending) level.appendChild(el('div', 'evidence still due', 'muted'));
  tr.appendChild(level);
  const failed = el('td', '', 'failed-checks');
  for (const f of v.failing)
    failed.appendChild(el('div', `${f.name} ${f.code ?? ''}`, 'status-fail', { title: f.detail }));
  if (v.failing.length === 0) failed.appendChild(el('span', 'none', 'muted'));
  tr.appendChild(failed);
  tr.addEventListener('click', () => void showEvidence(v.receiptId, tr));
  const tbody = $('verdicts').tBodies[0];
  tbody.prepend(tr);
  while (tbody.rows.length > MAX_ROWS) {
    state.seen.delete(tbody.lastElementChild.getAttribute('data-receipt'));
    tbody.lastElementChild.remove();
  }
}

/** One receipt's whole evidence chain: GET /v1/receipts/:id, every check of its verdict. */
async function showEvidence(id, row) {
  for (const r of $('verdicts').querySelectorAll('tr.selected')) r.classList.remove('selected');
  row.classList.add('selected');
  const section = $('evidence');
  section.hidden = false;
  $('evidence-id').textContent = id;
  const tbody = $('checks').tBodies[0];
  tbody.replaceChildren();
  try {
    const r = await api(`/v1/receipts/${encodeURIComponent(id)}`);
    const v = r.verdict;
    const b = r.body;
    const a = r.attestation;
    $('evidence-summary').textContent =
      `level ${v.level}, ${v.ok ? 'no check failed' : 'a check failed'}; agent ${b?.agent ?? '?'}, model ` +
      `${b?.model.requested ?? '?'}, request ${v.requestId ?? '?'}` +
      (a
        ? `; in a TPM-quoted checkpoint of size ${a.checkpoint?.size ?? '?'}`
        : '; not yet in a quoted checkpoint') +
      (r.result ? '; signed result (EAR) issued' : '');
    for (const c of v.checks) {
      const tr = el('tr', '', '', { 'data-check': c.name, 'data-status': c.status });
      tr.appendChild(el('td', c.name, 'mono'));
      tr.appendChild(el('td', c.status, `status-${c.status}`));
      tr.appendChild(el('td', c.code ?? '', 'mono'));
      tr.appendChild(el('td', c.detail));
      tbody.appendChild(tr);
    }
  } catch (err) {
    $('evidence-summary').textContent = explain(err);
  }
}

async function refreshTelemetry() {
  const agent = $('telemetry-host').value;
  if (agent === '') return;
  const note = $('telemetry-note');
  let t;
  try {
    t = await api(`/v1/dashboard/hosts/${encodeURIComponent(agent)}/telemetry?minutes=2`);
  } catch (err) {
    note.textContent =
      err instanceof ApiError && err.status === 404 ? 'This verifier keeps no telemetry.' : explain(err);
    return;
  }
  for (const p of state.plots.splice(0)) p.destroy();
  const p = t.profile;
  note.textContent =
    `${agent}: ${t.requests.t.length} request(s) with telemetry, ${t.samples.t.length} sample point(s) in the last 2 minutes; ` +
    (p === null
      ? 'no signed profile matched yet.'
      : `profile ${p.id} (${p.gpuModel}, concurrency ${p.concurrencyBucket}, ${p.n} calibration requests): ` +
        `energy per token median ${p.energyPerToken.median.toPrecision(3)} J, 95% band ` +
        `${p.energyPerToken.lo.toPrecision(3)} to ${p.energyPerToken.hi.toPrecision(3)} J.`);
  const width = Math.max(320, $('telemetry-section').clientWidth - 20);
  if (t.requests.t.length > 0) state.plots.push(energyPlot(t, width));
  if (t.samples.t.length > 0) state.plots.push(powerPlot(t, width));
}

function energyPlot(t, width) {
  const n = t.requests.t.length;
  const band = (k) =>
    t.profile === null ? new Array(n).fill(null) : new Array(n).fill(t.profile.energyPerToken[k]);
  const points = { show: true, size: 7 };
  return new uPlot(
    {
      title: 'Energy per token per request (J) against the profile',
      width,
      height: 220,
      scales: { x: { time: true } },
      series: [
        {},
        { label: 'request', stroke: '#1f6feb', paths: () => null, points },
        { label: 'profile median', stroke: '#146c2e' },
        { label: 'profile 2.5%', stroke: '#8fbf9a', dash: [4, 4] },
        { label: 'profile 97.5%', stroke: '#8fbf9a', dash: [4, 4] },
      ],
    },
    [t.requests.t, t.requests.energyPerToken, band('median'), band('lo'), band('hi')],
    $('plot-energy'),
  );
}

function powerPlot(t, width) {
  const n = t.samples.t.length;
  const flat = (v) => new Array(n).fill(v ?? null);
  return new uPlot(
    {
      title: 'GPU power (W) and utilisation (%), with the profile',
      width,
      height: 220,
      scales: { x: { time: true }, W: {}, pct: { range: [0, 100] } },
      axes: [{}, { scale: 'W', label: 'W' }, { scale: 'pct', side: 1, label: '%', grid: { show: false } }],
      series: [
        {},
        { label: 'power W', scale: 'W', stroke: '#c2410c' },
        { label: 'profile mean power W', scale: 'W', stroke: '#f59e0b', dash: [6, 4] },
        { label: 'utilisation %', scale: 'pct', stroke: '#1f6feb' },
        { label: 'profile mean utilisation %', scale: 'pct', stroke: '#93c5fd', dash: [6, 4] },
      ],
    },
    [
      t.samples.t,
      t.samples.powerW,
      flat(t.profile?.powerW),
      t.samples.utilGpu,
      flat(t.profile?.utilGpu.mean),
    ],
    $('plot-power'),
  );
}

$('signin-form').addEventListener('submit', (e) => void signIn(e));
$('signout').addEventListener('click', () => signOut());
$('telemetry-host').addEventListener('change', () => void refreshTelemetry());
if (state.token !== null) {
  api('/v1/dashboard/hosts')
    .then(start)
    .catch((err) => signOut(explain(err)));
}
