// salon's moderator dashboard (docs/moderation.md, "Dashboard API"; see
// docs/web.md). Same rules as the chat page: no framework, no inline
// script or style, and every piece of text from the server — evidence,
// nicks, comments, audit details — enters the page as text (render.js h()),
// never as HTML.
//
// The CSRF token from the login answer lives only in this module's memory
// and goes with every POST as X-CSRF-Token; a reload therefore asks for the
// password again (the HttpOnly cookie alone cannot act).

import { lang, setLang, otherLang } from '/js/i18n.js';
import { h, nickColor } from '/js/render.js';
import { m, applyStaticMod } from '/mod/strings.js';

const $ = (id) => document.getElementById(id);

const POLL_MS = 10000;               // queue refresh (the brief: every 10 s)
const WATCH_MS = 5000;               // a watched room's refresh (issue 4: every 5 s)
const SEARCH_SHOWN = 300;            // results drawn at most; the count says how many matched
const VIEWS = ['queue', 'rooms', 'search', 'rules', 'audit'];
const NARROW = window.matchMedia('(max-width: 899px)');

// docs/moderation.md, "Reports": categories and severities.
const SEVERITY = { child_safety: 100, sexual_violence: 90, threat: 80, hate: 60,
  harassment: 50, illegal: 50, spam: 20, other: 10 };
// House rules offered to the moderator, and the one a category suggests.
const RULES = ['minors', 'consent', 'harassment', 'hate', 'threats', 'spam', 'illegal', 'other'];
const RULE_OF = { child_safety: 'minors', sexual_violence: 'consent', threat: 'threats', hate: 'hate',
  harassment: 'harassment', illegal: 'illegal', spam: 'spam', other: 'other' };
const MUTE_DURATIONS = [600, 3600, 86400, 604800];
const BAN_DURATIONS = [3600, 86400, 604800, 2592000, 0];
// Actions aimed at a session (docs/moderation.md, "Actions").
const ON_SESSION = new Set(['warn', 'mute', 'kick', 'ban']);
// Automatic protection (docs/web.md): what a rule does, weakest first;
// what it reads; the risk signals it may carry; how it reads the text.
const RULE_ACTIONS = ['none', 'warn', 'flag', 'restrict', 'mute', 'hold', 'block'];
const RULE_READS = ['room', 'private', 'nick', 'room_name', 'topic', 'away'];
const RULE_SIGNALS = ['age_probe', 'school', 'secrecy', 'off_platform', 'photo', 'meeting', 'gift', 'sexual'];
const RULE_VIEWS = ['folded', 'plain'];
const CUSTOM_ID = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

const state = {
  staff: null,          // {name, role}
  csrf: '',             // from the login answer, memory only
  groups: [],
  updated: null,
  selected: null,       // id of the report shown
  report: null,         // its normalised detail
  view: 'queue',
  timer: null,
  lastCount: -1,
  loadingDetail: 0,
  formOwner: 'report',  // where the action form is: the report, or the watched room
  rooms: [],            // GET /api/v1/mod/rooms, sorted
  roomsUpdated: null,
  watch: null,          // {room, messages, author, msgid, updated, highlight}: the watched room
  watchTimer: null,
  watchTicket: 0,
  search: null,         // {messages, q, total}: the last search's answer
  rules: null,          // {version, list}: GET /api/v1/mod/rules
  rulesNew: '',         // id of the rule just added, marked in the list
  rulesPending: new Map(), // id -> true (on) / false (off) / null (deleted) until compiled
  rulesWait: 0,         // ticket of the wait for a new rule set
  lockdown: null,       // {level, bits}: GET /api/v1/mod/lockdown
  lockdownEdited: false, // the moderator touched the level: polling leaves it
};

// ---------------------------------------------------------------- HTTP

async function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && state.csrf) init.headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { status: 0, body: null };
  }
  let json = null;
  if (res.status !== 204) {
    try { json = await res.json(); } catch { json = null; }
  }
  // Without a staff session every dashboard call is 401: back to the form.
  if (res.status === 401 && path.startsWith('/api/v1/mod/') && state.staff) sessionLost();
  return { status: res.status, body: json };
}

function errorText(res) {
  if (res.status === 0) return m('err_network');
  const err = (res.body && res.body.error) || {};
  if (err.code === 'csrf') return m('err_csrf');
  return err.message || err.code || m('err_unknown', { status: res.status });
}

// ---------------------------------------------------------------- values from the server

// Times arrive as ISO strings, or as milliseconds or seconds since 1970.
function toDate(v) {
  if (v === null || v === undefined || v === '') return null;
  let d;
  if (typeof v === 'number') d = new Date(v > 1e11 ? v : v * 1000);
  else if (/^\d+$/.test(String(v))) return toDate(Number(v));
  else d = new Date(v);
  return isNaN(d) ? null : d;
}

function timeOf(o) {
  return toDate(o.time ?? o.time_ms ?? o.ts ?? o.created ?? o.created_ms);
}

function fmtTime(d, withDate = false) {
  if (!d) return '';
  const opts = withDate
    ? { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }
    : { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  return new Intl.DateTimeFormat(lang(), opts).format(d);
}

function ago(d) {
  if (!d) return '';
  const s = Math.max(0, Math.floor((Date.now() - d.getTime()) / 1000));
  if (s < 60) return m('ago_s', { n: s });
  if (s < 3600) return m('ago_min', { n: Math.floor(s / 60) });
  if (s < 86400) return m('ago_h', { n: Math.floor(s / 3600) });
  return m('ago_d', { n: Math.floor(s / 86400) });
}

function timeEl(d, withDate = false) {
  if (!d) return h('span', { className: 'time' }, '');
  return h('time', { className: 'time', datetime: d.toISOString(), title: d.toLocaleString(lang()) }, fmtTime(d, withDate));
}

function catLabel(c) {
  const k = `cat_${c}`;
  const s = m(k);
  return s === k ? String(c || '?') : s;
}

function sevOf(x) {
  if (typeof x.severity === 'number') return x.severity;
  return SEVERITY[x.category] ?? 0;
}

function sevClass(n) {
  return n >= 80 ? 'sev-crit' : n >= 50 ? 'sev-high' : 'sev-low';
}

function catBadge(category, extra) {
  const sev = SEVERITY[category] ?? 0;
  return h('span', { className: `cat ${sevClass(sev)}` }, catLabel(category), extra ? ` ${extra}` : null);
}

// Any scalar as text; objects and arrays as compact JSON text.
function asText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return m(v ? 'yes' : 'no');
  if (Array.isArray(v)) return v.map(asText).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function whereText(where) {
  if (!where) return '';
  return where === 'private' || where === 'pm' ? m('private_conv') : String(where);
}

// ---------------------------------------------------------------- screens

function showLogin(notice) {
  stopPolling();
  state.staff = null;
  state.csrf = '';
  state.report = null;
  state.selected = null;
  stopWatching();
  state.search = null;
  $('search-results').textContent = '';
  $('search-results').hidden = true;
  $('search-results-title').hidden = true;
  $('search-status').textContent = '';
  $('dash').hidden = true;
  $('lockdown-banner').hidden = true;
  state.lockdown = null;
  state.rules = null;
  $('tabs').hidden = true;
  $('logout').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  const n = $('login-notice');
  n.hidden = !notice;
  n.textContent = notice || '';
  $('l-password').value = '';
  $('l-name').focus();
}

function sessionLost() {
  showLogin(m('session_lost'));
}

function showDash() {
  $('login').hidden = true;
  $('dash').hidden = false;
  $('tabs').hidden = false;
  $('logout').hidden = false;
  renderWho();
  setView('queue');
  loadQueue();
  loadLockdown();
  startPolling();
}

function renderWho() {
  const who = $('who');
  if (!state.staff) { who.hidden = true; return; }
  const rk = `role_${state.staff.role}`;
  who.textContent = m('who', { name: state.staff.name, role: m(rk) === rk ? state.staff.role : m(rk) });
  who.hidden = false;
}

// opts.watch false: the caller starts the watch itself (a search result).
function setView(view, opts = {}) {
  state.view = view;
  $('queue').hidden = view !== 'queue';
  $('detail').hidden = view !== 'queue';
  $('rooms-view').hidden = view !== 'rooms';
  $('search-view').hidden = view !== 'search';
  $('rules-view').hidden = view !== 'rules';
  $('audit').hidden = view !== 'audit';
  for (const v of VIEWS) {
    $('dash').classList.toggle(`view-${v}`, v === view);
    $(`tab-${v}`).setAttribute('aria-current', v === view ? 'page' : 'false');
  }
  // One action form serves the report and the watched room: it goes where
  // it is used.
  if (view === 'queue' || view === 'rooms') placeActionForm(view === 'rooms' ? 'room' : 'report');
  if (view === 'rooms') {
    loadRooms();
    if (state.watch && opts.watch !== false) {
      refreshWatch();
      startWatchTimer();
    }
  } else {
    stopWatchTimer();
  }
  if (view === 'search' && !state.rooms.length) loadRooms();
  if (view === 'rules') {
    loadRules();
    loadLockdown();
  }
  if (view === 'audit') loadAudit();
}

// ---------------------------------------------------------------- login

function fieldError(id, inputId, text) {
  const e = $(id);
  e.textContent = text || '';
  e.hidden = !text;
  if (inputId) {
    if (text) $(inputId).setAttribute('aria-invalid', 'true');
    else $(inputId).removeAttribute('aria-invalid');
  }
}

async function submitLogin(ev) {
  ev.preventDefault();
  const name = $('l-name').value.trim();
  const password = $('l-password').value;
  fieldError('e-l-name', 'l-name', name ? '' : m('err_missing'));
  fieldError('e-l-password', 'l-password', password ? '' : m('err_missing'));
  fieldError('e-login', null, '');
  if (!name) { $('l-name').focus(); return; }
  if (!password) { $('l-password').focus(); return; }
  const btn = $('login-submit');
  btn.disabled = true;
  btn.textContent = m('logging_in');
  const res = await api('POST', '/api/v1/staff/login', { name, password });
  btn.disabled = false;
  btn.textContent = m('login');
  if (res.status === 200 && res.body && res.body.csrf) {
    state.csrf = String(res.body.csrf);
    state.staff = { name: res.body.name || name, role: res.body.role || '' };
    $('l-password').value = '';
    $('login-notice').hidden = true;
    showDash();
    $('main').focus();
    return;
  }
  const code = res.body && res.body.error && res.body.error.code;
  let text;
  if (code === 'bad_credentials' || (res.status === 401 && !code)) text = m('err_bad_credentials');
  else if (code === 'too_many_attempts' || res.status === 429) text = m('err_too_many_attempts');
  else text = errorText(res);
  fieldError('e-login', null, text);
  $('l-password').value = '';
  $('l-password').focus();
}

async function logout() {
  await api('POST', '/api/v1/staff/logout', {});
  showLogin(m('logged_out'));
}

// ---------------------------------------------------------------- queue

function startPolling() {
  stopPolling();
  state.timer = setInterval(() => {
    if (document.hidden || !state.staff) return;
    loadLockdown();
    if (state.view === 'queue') loadQueue();
    else if (state.view === 'rooms') loadRooms();
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.timer);
  state.timer = null;
}

function reportsOf(g) {
  return Array.isArray(g.reports) ? g.reports : [];
}

// The server orders the queue; the page orders it again the same way
// (gravest first, then oldest) so that it never depends on it.
function normaliseGroups(groups) {
  const out = [];
  for (const g of Array.isArray(groups) ? groups : []) {
    const reports = reportsOf(g).slice().sort((a, b) => sevOf(b) - sevOf(a)
      || (timeOf(a)?.getTime() ?? 0) - (timeOf(b)?.getTime() ?? 0));
    if (!reports.length) continue;
    const severity = Math.max(typeof g.severity === 'number' ? g.severity : 0, ...reports.map(sevOf));
    const oldest = Math.min(...reports.map((r) => timeOf(r)?.getTime() ?? Infinity));
    out.push({ ...g, reports, severity, oldest });
  }
  out.sort((a, b) => b.severity - a.severity || a.oldest - b.oldest);
  return out;
}

async function loadQueue() {
  const res = await api('GET', '/api/v1/mod/reports');
  if (!state.staff) return;
  const err = $('queue-error');
  if (res.status !== 200 || !res.body) {
    if (res.status === 401) return;
    err.textContent = m('queue_error', { why: errorText(res) });
    err.hidden = false;
    return;
  }
  err.hidden = true;
  state.groups = normaliseGroups(res.body.groups);
  state.updated = new Date();
  renderQueue();
  const n = state.groups.reduce((s, g) => s + g.reports.length, 0);
  if (state.lastCount >= 0 && n > state.lastCount) announce(m('queue_count', { n, g: state.groups.length, time: fmtTime(state.updated) }));
  state.lastCount = n;
}

function renderQueue() {
  const list = $('queue-list');
  // Keep keyboard focus on the same report across refreshes.
  const focused = document.activeElement && list.contains(document.activeElement)
    ? document.activeElement.dataset.report : null;
  list.textContent = '';
  let n = 0;
  for (const g of state.groups) {
    n += g.reports.length;
    const nick = g.reported_nick || (g.reports[0] && g.reports[0].reported_nick) || '?';
    const counts = new Map();
    for (const r of g.reports) counts.set(r.category, (counts.get(r.category) || 0) + 1);
    const nickEl = h('strong', { className: 'g-nick' }, nick);
    nickEl.style.color = nickColor(nick);
    const items = g.reports.map((r) => {
      const when = timeOf(r);
      const btn = h('button', {
        type: 'button', className: 'report-item', dataset: { report: String(r.id) },
        'aria-current': String(r.id) === String(state.selected) ? 'true' : false,
        onclick: () => openReport(r.id),
      },
      h('span', { className: 'ri-line' },
        h('span', { className: 'ri-id' }, `#${r.id}`), ' ', catBadge(r.category), ' ',
        h('span', { className: 'ri-when' }, ago(when))),
      h('span', { className: 'ri-sub' },
        [r.reporter_nick ? m('by', { nick: reporterText(r.reporter_nick) }) : '',
          r.where ? m('in_where', { where: whereText(r.where) }) : '',
          ruleOf(r) ? m('by_rule', { name: ruleOf(r).name || ruleOf(r).id }) : '']
          .filter(Boolean).join(' · ')),
      r.comment ? h('span', { className: 'ri-comment' }, `« ${String(r.comment).slice(0, 120)} »`) : null);
      return h('li', null, btn);
    });
    list.append(h('li', { className: `group ${sevClass(g.severity)}` },
      h('div', { className: 'g-head' },
        h('h3', { className: 'g-title' }, nickEl),
        h('span', { className: 'g-count' }, m('n_reports', { n: g.reports.length }))),
      h('p', { className: 'g-cats' },
        [...counts].map(([c, k]) => catBadge(c, k > 1 ? `×${k}` : '')),
        h('span', { className: 'small muted' }, ` ${m('oldest', { ago: ago(toDate(g.oldest)) })}`)),
      h('ul', { className: 'g-reports' }, items)));
  }
  $('queue-empty').hidden = state.groups.length > 0;
  $('queue-status').textContent = state.updated
    ? m('queue_count', { n, g: state.groups.length, time: fmtTime(state.updated) }) : '';
  if (focused) {
    const again = list.querySelector(`[data-report="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

// ---------------------------------------------------------------- one report

// The detail may come flat ({id, …, evidence, profile, history, related})
// or wrapped ({report: {…}, evidence, …}); evidence may be a list or
// {messages, participants}.
function normaliseReport(body, id) {
  const r = body && typeof body.report === 'object' && body.report ? { ...body.report, ...body } : { ...(body || {}) };
  delete r.report;
  if (r.id === undefined) r.id = id;
  let ev = r.evidence;
  if (typeof ev === 'string') {
    try { ev = JSON.parse(ev); } catch { ev = []; }
  }
  let messages = [];
  let participants = [];
  if (Array.isArray(ev)) messages = ev;
  else if (ev && typeof ev === 'object') {
    messages = Array.isArray(ev.messages) ? ev.messages : Array.isArray(ev.lines) ? ev.lines : [];
    participants = Array.isArray(ev.participants) ? ev.participants : [];
    if (!r.msgid && ev.msgid) r.msgid = ev.msgid;
  }
  r.messages = messages.map((x) => ({
    msgid: x.msgid ?? x.id ?? '',
    time: timeOf(x),
    session: x.session ?? x.sender ?? x.sender_session ?? '',
    nick: x.nick ?? x.sender_nick ?? x.from ?? '',
    text: x.text ?? x.body ?? x.message ?? '',
    address: x.address ?? x.addr ?? x.participant?.address ?? '',
    device: x.device ?? x.participant?.device ?? '',
    reported: x.reported === true,
    kind: x.kind ?? x.command ?? '',
  })).sort((a, b) => (a.time?.getTime() ?? 0) - (b.time?.getTime() ?? 0));
  r.participants = participants;
  r.profile = r.profile && typeof r.profile === 'object' ? r.profile : {};
  r.history = Array.isArray(r.history) ? r.history : [];
  r.related = Array.isArray(r.related) ? r.related : [];
  r.reported = r.reported ?? r.profile.session ?? '';
  r.reported_nick = r.reported_nick ?? r.profile.nick ?? '';
  return r;
}

async function openReport(id) {
  state.selected = id;
  for (const b of document.querySelectorAll('.report-item')) {
    b.setAttribute('aria-current', b.dataset.report === String(id) ? 'true' : 'false');
  }
  $('dash').classList.add('show-detail');
  $('af-result').textContent = '';
  $('af-result').className = 'act-result';
  $('pp-result').textContent = '';
  $('pp-result').className = 'act-result';
  $('pp-reason').value = '';
  fieldError('e-pp-reason', 'pp-reason', '');
  await loadReport(id, true);
}

async function loadReport(id, focus) {
  const ticket = ++state.loadingDetail;
  $('detail-empty').hidden = true;
  $('detail-status').textContent = m('loading');
  const res = await api('GET', `/api/v1/mod/reports/${encodeURIComponent(id)}`);
  if (ticket !== state.loadingDetail || !state.staff) return;
  if (res.status !== 200 || !res.body) {
    $('detail-status').textContent = m('detail_error', { why: errorText(res) });
    $('detail-body').hidden = true;
    return;
  }
  $('detail-status').textContent = '';
  const keepForm = state.report && String(state.report.id) === String(id);
  state.report = normaliseReport(res.body, id);
  renderReport(keepForm);
  if (focus) $('detail-title').focus();
}

function renderReport(keepForm) {
  const r = state.report;
  if (!r) return;
  $('detail-body').hidden = false;
  $('detail-title').textContent = m('report_n', { id: r.id });

  const meta = $('detail-meta');
  meta.textContent = '';
  const reportedNick = h('strong', null, r.reported_nick || '?');
  if (r.reported_nick) reportedNick.style.color = nickColor(r.reported_nick);
  const row = (k, ...v) => meta.append(h('div', null, h('dt', null, m(k)), h('dd', null, ...v)));
  row('m_reported', reportedNick, r.reported ? h('span', { className: 'muted small mono' }, ` ${r.reported}`) : null);
  row('m_category', catBadge(r.category), ' ', h('span', { className: 'small muted' }, m('severity', { n: sevOf(r) })));
  row('m_time', timeEl(timeOf(r), true), ' ', h('span', { className: 'small muted' }, ago(timeOf(r))));
  if (r.reporter_nick) row('m_reporter', reporterText(r.reporter_nick));
  const rule = ruleOf(r);
  if (rule) row('m_rule', rule.name || rule.id, rule.name && rule.id ? h('span', { className: 'muted small mono' }, ` ${rule.id}`) : null);
  if (hasRisk(r)) row('m_risk', h('strong', { className: 'risk' }, String(r.risk)));
  row('m_where', whereText(r.where));
  if (r.status) row('m_status', m(`st_${r.status}`) === `st_${r.status}` ? String(r.status) : m(`st_${r.status}`));
  row('m_comment', r.comment ? h('span', { className: 'comment' }, String(r.comment)) : m('no_comment'));

  renderProtect(r);
  renderEvidence(r);
  renderProfile(r);
  renderHistory(r);
  renderRelated(r);
  if (state.formOwner === 'report') fillActionForm(r, keepForm);
}

function renderEvidence(r) {
  const ol = $('evidence');
  ol.textContent = '';
  ol.setAttribute('aria-label', m('evidence_label', { where: whereText(r.where) || '?' }));
  for (const x of r.messages) {
    const isReported = x.reported || (r.msgid && x.msgid && x.msgid === r.msgid);
    const byReported = r.reported && x.session && x.session === r.reported;
    const nick = h('span', { className: 'ev-nick', title: x.session ? String(x.session) : null }, x.nick || '?');
    nick.style.color = nickColor(x.nick || '?');
    ol.append(h('li', {
      className: `ev${isReported ? ' ev-reported' : ''}${byReported ? ' ev-by-reported' : ''}`,
      dataset: { msgid: String(x.msgid || '') },
    },
    timeEl(x.time),
    h('span', { className: 'ev-body' },
      isReported ? h('span', { className: 'ev-flag' }, m('reported_msg')) : null,
      nick, ' ',
      h('span', { className: 'ev-text' }, String(x.text)))));
  }
  if (!r.messages.length) ol.append(h('li', { className: 'muted' }, m('evidence_none')));

  // Addresses and devices of the participants: from the evidence's own
  // list, or gathered from its lines.
  const box = $('participants');
  box.textContent = '';
  let people = r.participants.map((p) => ({ nick: p.nick ?? '', session: p.session ?? '', address: p.address ?? '', device: p.device ?? '' }));
  if (!people.length) {
    const seen = new Map();
    for (const x of r.messages) {
      if (!x.address && !x.device) continue;
      seen.set(x.session || x.nick, { nick: x.nick, session: x.session, address: x.address, device: x.device });
    }
    people = [...seen.values()];
  }
  if (!people.length) return;
  const tbody = h('tbody');
  for (const p of people) {
    tbody.append(h('tr', null, h('td', null, String(p.nick)), h('td', { className: 'mono' }, String(p.session)),
      h('td', { className: 'mono' }, String(p.address)), h('td', { className: 'mono' }, String(p.device))));
  }
  box.append(h('div', { className: 'table-wrap' }, h('table', { className: 'people' },
    h('caption', null, m('participants')),
    h('thead', null, h('tr', null, ...['c_nick', 'c_session', 'c_address', 'c_device'].map((k) => h('th', { scope: 'col' }, m(k))))),
    tbody)));
}

const PROFILE_ORDER = ['nick', 'profile', 'session', 'age_band', 'gender', 'region', 'show_region', 'created', 'connected',
  'address', 'device', 'nicks', 'rooms'];

function keyLabel(k) {
  const s = m(`k_${k}`);
  return s === `k_${k}` ? k.replace(/_/g, ' ') : s;
}

// The public profile line of docs/protocol.md ("35-49 man 93") in words.
function profileWords(line) {
  const [band, gender, region] = String(line).trim().split(/\s+/);
  if (!band || !gender || m(`g_${gender}`) === `g_${gender}`) return String(line);
  return [band.replace('-', '–'), m(`g_${gender}`), region].filter(Boolean).join(', ');
}

function valueText(k, v) {
  if (k === 'profile' && typeof v === 'string') return profileWords(v);
  if (k === 'gender' && typeof v === 'string' && m(`g_${v}`) !== `g_${v}`) return m(`g_${v}`);
  if (/(^|_)(time|created|expires)(_ms)?$/.test(k) || k === 'time') {
    const d = toDate(v);
    if (d) return `${fmtTime(d, true)} (${ago(d)})`;
  }
  return asText(v);
}

function renderProfile(r) {
  const dl = $('profile');
  dl.textContent = '';
  const keys = Object.keys(r.profile);
  keys.sort((a, b) => {
    const ia = PROFILE_ORDER.indexOf(a);
    const ib = PROFILE_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  for (const k of keys) {
    const v = r.profile[k];
    if (v === null || v === undefined || v === '') continue;
    dl.append(h('div', null, h('dt', null, keyLabel(k)),
      h('dd', { className: ['session', 'address', 'device'].includes(k) ? 'mono' : null }, valueText(k, v))));
  }
  if (!dl.childElementCount) dl.append(h('div', null, h('dt', null, keyLabel('nick')), h('dd', null, r.reported_nick || '?')));
}

// One line per history entry: its time, then "key: value" for the rest.
function renderHistory(r) {
  const ul = $('history');
  ul.textContent = '';
  const items = r.history.slice().sort((a, b) => (timeOf(b)?.getTime() ?? 0) - (timeOf(a)?.getTime() ?? 0));
  for (const e of items) {
    if (!e || typeof e !== 'object') { ul.append(h('li', null, asText(e))); continue; }
    // An earlier report reads "Report #2 [Threats] in #room — comment";
    // an action "ban — reason · by"; anything else key: value.
    const isReport = !e.action && e.category;
    const head = isReport ? m('report_n', { id: e.id }) : e.action || e.kind || e.type || '';
    const skip = ['time', 'time_ms', 'ts', 'action', 'kind', 'type',
      ...(isReport ? ['id', 'category', 'severity', 'msgid', 'where'] : [])];
    const rest = Object.entries(e).filter(([k, v]) => !skip.includes(k) && v !== '' && v !== null && v !== undefined);
    ul.append(h('li', null, timeEl(timeOf(e), true), ' ', h('strong', null, String(head)),
      isReport ? [' ', catBadge(e.category), e.where ? ` ${m('in_where', { where: whereText(e.where) })}` : ''] : null,
      rest.length ? h('span', { className: 'small' }, ` — ${rest.map(([k, v]) => m('kv', { k: keyLabel(k), v: k === 'category' ? catLabel(v) : valueText(k, v) })).join(' · ')}`) : null));
  }
  if (!items.length) ul.append(h('li', { className: 'muted' }, m('history_none')));
}

function renderRelated(r) {
  const ul = $('related');
  ul.textContent = '';
  for (const x of r.related) {
    if (!x || typeof x !== 'object') continue;
    const nick = h('strong', null, String(x.nick || '?'));
    nick.style.color = nickColor(String(x.nick || '?'));
    // same_device / same_prefix are said in words; anything else as key: value.
    const links = [x.same_device ? m('same_device') : '', x.same_prefix ? m('same_prefix') : ''].filter(Boolean);
    const rest = Object.entries(x).filter(([k, v]) => !['nick', 'session', 'same_device', 'same_prefix'].includes(k)
      && v !== '' && v !== null && v !== undefined);
    ul.append(h('li', null, nick, x.session ? h('span', { className: 'muted small mono' }, ` ${x.session}`) : null,
      links.length ? h('span', { className: 'small' }, ` — ${links.join(', ')}`) : null,
      rest.length ? h('span', { className: 'small' }, ` — ${rest.map(([k, v]) => m('kv', { k: keyLabel(k), v: valueText(k, v) })).join(' · ')}`) : null,
      x.session ? h('button', {
        type: 'button', className: 'link-btn small-btn',
        onclick: () => { $('af-target').value = String(x.session); updateActionForm(); $('af-target').focus(); },
      }, m('target_this'), h('span', { className: 'sr-only' }, ` ${x.nick || x.session}`)) : null));
  }
  if (!ul.childElementCount) ul.append(h('li', { className: 'muted' }, m('related_none')));
}

// ---------------------------------------------------------------- actions

function option(value, text) {
  return h('option', { value: String(value) }, text);
}

function fillSelect(sel, options, keep) {
  const before = sel.value;
  const same = keep && sel.options.length === options.length
    && options.every((o, i) => o.value === sel.options[i].value && o.textContent === sel.options[i].textContent);
  if (same) return;
  sel.textContent = '';
  for (const o of options) sel.append(o);
  if (keep && [...sel.options].some((o) => o.value === before)) sel.value = before;
}

// The people an action may aim at: for a report, the reported session and
// the related ones; in a watched room, the authors of its lines, the most
// recent first.
function targetsOf(r) {
  const out = [];
  if (r.kind === 'room') {
    const seen = new Set();
    for (const x of r.messages.slice().reverse()) {
      if (!x.session || seen.has(x.session)) continue;
      seen.add(x.session);
      out.push({ session: String(x.session), nick: x.nick, label: m('af_target_author', { nick: x.nick || x.session }) });
    }
    return out;
  }
  if (r.reported) out.push({ session: String(r.reported), nick: r.reported_nick, label: m('af_target_reported', { nick: r.reported_nick || r.reported }) });
  for (const x of r.related) {
    if (x && x.session && x.session !== r.reported) {
      out.push({ session: String(x.session), nick: x.nick, label: m('af_target_related', { nick: x.nick || x.session }) });
    }
  }
  return out;
}

function fillActionForm(r, keep) {
  fillSelect($('af-target'), targetsOf(r).map((x) => option(x.session, x.label)), keep);
  if (!keep && r.kind === 'room' && r.reported) $('af-target').value = r.reported;

  const msgs = [option('', m('choose'))];
  for (const x of r.messages) {
    if (!x.msgid) continue;
    const text = String(x.text);
    msgs.push(option(x.msgid, `${fmtTime(x.time)} ${x.nick} : ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`));
  }
  fillSelect($('af-msgid'), msgs, keep);
  if (!keep && r.msgid) $('af-msgid').value = r.msgid;

  fillSelect($('af-rule'), [option('', m('choose')), ...RULES.map((k) => option(k, m(`rule_${k}`)))], keep);
  if (!keep) {
    $('af-rule').value = RULE_OF[r.category] || '';
    $('af-room').value = r.where && String(r.where).startsWith('#') ? r.where : '';
    $('af-pattern').value = r.reported_nick ? `${r.reported_nick}*` : '';
    $('af-reason').value = '';
    for (const el of document.querySelectorAll('input[name=act]')) el.checked = false;
    document.querySelector('input[name=banby][value=session]').checked = true;
  }
  updateActionForm();
}

function currentAction() {
  const el = document.querySelector('input[name=act]:checked');
  return el ? el.value : '';
}

// What the action form works on: the open report, or the watched room.
function subject() {
  return state.formOwner === 'room' ? roomSubject() : state.report;
}

function targetNick() {
  const r = subject();
  const sel = $('af-target');
  if (!r) return '';
  const x = targetsOf(r).find((t) => t.session === sel.value);
  return x ? x.nick || sel.value : sel.value;
}

// Shows the fields the chosen action needs, and names the action on the
// button ("Ban Nick") so the moderator sees what a click will do.
function updateActionForm() {
  const s = subject();
  // Dismissing needs an open report; a watched room has none.
  const closed = !s || !!s.closed || s.kind === 'room';
  const dismiss = document.querySelector('input[name=act][value=dismiss]');
  dismiss.closest('label').hidden = closed;
  if (closed && dismiss.checked) dismiss.checked = false;
  const a = currentAction();
  const banBy = (document.querySelector('input[name=banby]:checked') || {}).value || 'session';
  $('row-target').hidden = !ON_SESSION.has(a) || (a === 'ban' && banBy === 'nick');
  $('row-msgid').hidden = a !== 'delete_message';
  $('row-banby').hidden = a !== 'ban';
  $('row-pattern').hidden = !(a === 'ban' && banBy === 'nick');
  $('row-duration').hidden = a !== 'mute' && a !== 'ban';
  $('row-room').hidden = a !== 'close_room';
  if (a === 'mute' || a === 'ban') {
    const list = a === 'mute' ? MUTE_DURATIONS : BAN_DURATIONS;
    const sel = $('af-duration');
    const keep = sel.dataset.for === a;
    fillSelect(sel, list.map((s) => option(s, m(`d_${s}`))), keep);
    if (!keep) sel.value = a === 'mute' ? '3600' : '86400';
    sel.dataset.for = a;
  }
  const r = s || {};
  markWatchTarget(a === 'delete_message' ? $('af-msgid').value : '');
  const btn = $('af-submit');
  btn.hidden = !a;
  btn.className = a === 'dismiss' ? '' : ['kick', 'ban', 'close_room'].includes(a) ? 'act-danger' : 'primary';
  if (a) {
    btn.textContent = m(`submit_${a}`, {
      id: r.id, nick: a === 'ban' && banBy === 'nick' ? ($('af-pattern').value || '…') : targetNick() || '?',
      room: $('af-room').value || '#…',
    });
  }
}

async function submitAction(ev) {
  ev.preventDefault();
  const r = subject();
  const a = currentAction();
  if (!r || !a) return;
  const reason = $('af-reason').value.trim();
  const rule = $('af-rule').value;
  const banBy = (document.querySelector('input[name=banby]:checked') || {}).value || 'session';
  for (const [e, i] of [['e-af-reason', 'af-reason'], ['e-af-rule', 'af-rule'], ['e-af-msgid', 'af-msgid'], ['e-af-target', 'af-target'],
    ['e-af-pattern', 'af-pattern'], ['e-af-room', 'af-room']]) fieldError(e, i, '');

  const body = { action: a, reason, rule };
  let bad = null;
  if (!r.closed && r.id !== undefined && r.id !== null && r.id !== '') body.report_id = Number(r.id);
  if (a === 'dismiss' && body.report_id === undefined) bad = ['e-af-rule', null, m('err_report')];
  if (ON_SESSION.has(a) && !(a === 'ban' && banBy === 'nick')) {
    if (!$('af-target').value) bad = ['e-af-target', 'af-target', m('err_target')];
    body.session = $('af-target').value;
    body.nick = targetNick();
  }
  if (a === 'mute') body.duration_s = Number($('af-duration').value);
  if (a === 'ban') {
    body.ban_by = banBy;
    const d = Number($('af-duration').value);
    if (d > 0) body.duration_s = d;
    if (banBy === 'nick') {
      body.pattern = $('af-pattern').value.trim();
      if (!body.pattern) bad = ['e-af-pattern', 'af-pattern', m('err_pattern')];
    }
  }
  if (a === 'delete_message') {
    body.msgid = $('af-msgid').value;
    if (!body.msgid) bad = ['e-af-msgid', 'af-msgid', m('err_msgid')];
    if (r.where && String(r.where).startsWith('#')) body.room = r.where;
  }
  if (a === 'close_room') {
    body.room = $('af-room').value.trim();
    if (!/^#\S+$/.test(body.room)) bad = ['e-af-room', 'af-room', m('err_room')];
  }
  if (!rule) bad = ['e-af-rule', 'af-rule', m('err_rule')];
  if (!reason) bad = ['e-af-reason', 'af-reason', m('err_reason')];
  if (bad) {
    fieldError(bad[0], bad[1], bad[2]);
    if (bad[1]) $(bad[1]).focus();
    return;
  }

  const result = $('af-result');
  const btn = $('af-submit');
  result.className = 'act-result';
  result.textContent = m('sending');
  btn.disabled = true;
  const res = await api('POST', '/api/v1/mod/actions', body);
  btn.disabled = false;
  if (!state.staff) return;
  const id = res.body && (res.body.action_id ?? res.body.id);
  if (res.status === 200 && id !== undefined && id !== null) {
    result.textContent = m('action_done', { id, action: m(`a_${a}`) });
    result.classList.add('ok');
    $('af-reason').value = '';
    // Any action with report_id closes the report: the server no longer
    // serves it (404), so the view stays as it is, marked closed, and a
    // further action (a ban after a warning) goes without report_id.
    if (body.report_id !== undefined) {
      r.closed = true;
      r.status = a === 'dismiss' ? 'dismissed' : 'actioned';
      renderReport(true);
    }
    if (r.kind === 'room') {
      if (a === 'delete_message') r.watch.msgid = '';
      refreshWatch();
      if (a === 'close_room') loadRooms();
    }
    loadQueue();
    return;
  }
  const err = (res.body && res.body.error) || {};
  if (err.field === 'reason') fieldError('e-af-reason', 'af-reason', err.message || m('err_reason'));
  result.textContent = m('action_failed', { why: errorText(res) });
  result.classList.add('error');
}

// ---------------------------------------------------------------- rooms

// Busiest rooms first, then by name: a stable order across refreshes.
function normaliseRooms(list) {
  return (Array.isArray(list) ? list : []).filter((r) => r && r.name).map((r) => ({
    name: String(r.name),
    topic: r.topic ? String(r.topic) : '',
    members: Number(r.members ?? r.member_count ?? 0) || 0,
    invite_only: !!(r.invite_only ?? r.inviteOnly),
    closed: !!r.closed,
  })).sort((a, b) => b.members - a.members || a.name.localeCompare(b.name));
}

async function loadRooms() {
  const res = await api('GET', '/api/v1/mod/rooms');
  if (!state.staff) return;
  const err = $('rooms-error');
  if (res.status !== 200 || !res.body) {
    if (res.status === 401) return;
    err.textContent = m('rooms_error', { why: errorText(res) });
    err.hidden = false;
    return;
  }
  err.hidden = true;
  state.rooms = normaliseRooms(Array.isArray(res.body) ? res.body : res.body.rooms);
  state.roomsUpdated = new Date();
  renderRooms();
  if (state.watch) renderWatchMeta();
}

function roomOf(name) {
  return state.rooms.find((r) => r.name.toLowerCase() === String(name).toLowerCase()) || null;
}

function roomBadges(r) {
  return [r.invite_only ? h('span', { className: 'cat sev-low' }, m('invite_only')) : null,
    r.closed ? h('span', { className: 'cat sev-crit' }, m('room_closed')) : null];
}

function renderRooms() {
  const list = $('rooms-list');
  const focused = document.activeElement && list.contains(document.activeElement)
    ? document.activeElement.dataset.room : null;
  list.textContent = '';
  for (const r of state.rooms) {
    const watched = state.watch && state.watch.room.toLowerCase() === r.name.toLowerCase();
    list.append(h('li', null, h('button', {
      type: 'button', className: 'room-item', dataset: { room: r.name },
      'aria-current': watched ? 'true' : false,
      onclick: () => watchRoom(r.name),
    },
    h('span', { className: 'ri-line' },
      h('strong', { className: 'ri-room' }, r.name), ' ', ...roomBadges(r),
      h('span', { className: 'ri-when' }, m('n_members', { n: r.members }))),
    r.topic ? h('span', { className: 'ri-sub' }, r.topic) : null,
    watched ? h('span', { className: 'ri-watching' }, m('watching')) : null)));
  }
  $('rooms-empty').hidden = state.rooms.length > 0;
  $('rooms-status').textContent = state.roomsUpdated
    ? m('rooms_count', { n: state.rooms.length, time: fmtTime(state.roomsUpdated) }) : '';
  const dl = $('s-room-list');
  dl.textContent = '';
  for (const r of state.rooms) dl.append(h('option', { value: r.name }));
  if (focused) {
    const again = list.querySelector(`[data-room="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

// ---------------------------------------------------------------- watching a room

// The watched room as the action form sees it: no report (so no dismiss
// and no report_id), its lines as the messages to delete, their authors as
// the people to target.
function roomSubject() {
  const w = state.watch;
  if (!w) return null;
  const author = w.author && w.messages.find((x) => x.session === w.author) ? w.author : '';
  const nick = author ? (w.messages.slice().reverse().find((x) => x.session === author) || {}).nick : '';
  return { kind: 'room', watch: w, closed: true, where: w.room, messages: w.messages, related: [],
    reported: author, reported_nick: nick || '', msgid: w.msgid || '' };
}

function placeActionForm(owner) {
  if (state.formOwner === owner) return;
  state.formOwner = owner;
  (owner === 'room' ? $('watch-actions') : $('detail-body')).append($('action-form'));
  $('af-result').textContent = '';
  $('af-result').className = 'act-result';
  const s = subject();
  if (s) fillActionForm(s, false);
}

// Starts (or moves) the watch: GET /api/v1/mod/rooms/%23name now, then
// every WATCH_MS while the Rooms view is on screen. Each look is audited.
async function watchRoom(name, { focus = true, highlight = '' } = {}) {
  const same = state.watch && state.watch.room.toLowerCase() === String(name).toLowerCase();
  if (!same) {
    state.watch = { room: String(name), messages: [], author: '', msgid: '', updated: null, highlight: '', loaded: false };
    $('watch-log').textContent = '';
    $('watch-error').hidden = true;
    $('watch-status').textContent = m('loading');
  }
  state.watch.highlight = highlight || '';
  if (highlight) state.watch.loaded = false;
  placeActionForm('room');
  if (!same) {
    $('af-result').textContent = '';
    $('af-result').className = 'act-result';
    fillActionForm(roomSubject(), false);
  }
  $('rooms-view').classList.add('show-watch');
  if (!same || highlight) {
    $('watch').scrollTop = 0;
    if (NARROW.matches) window.scrollTo(0, 0);
  }
  $('watch-empty').hidden = true;
  $('watch-body').hidden = false;
  $('watch-title').textContent = state.watch.room;
  renderWatchMeta();
  renderRooms();
  if (focus) $('watch-title').focus({ preventScroll: true });
  startWatchTimer();
  await refreshWatch();
}

function stopWatching() {
  stopWatchTimer();
  state.watch = null;
  state.watchTicket++;
  $('watch-body').hidden = true;
  $('watch-empty').hidden = false;
  $('watch-log').textContent = '';
  $('rooms-view').classList.remove('show-watch');
  if (state.staff) renderRooms();
}

function startWatchTimer() {
  stopWatchTimer();
  state.watchTimer = setInterval(() => {
    if (!document.hidden && state.staff && state.view === 'rooms' && state.watch) refreshWatch();
  }, WATCH_MS);
}

function stopWatchTimer() {
  clearInterval(state.watchTimer);
  state.watchTimer = null;
}

function normaliseMessages(list) {
  return (Array.isArray(list) ? list : []).map((x) => ({
    msgid: String(x.msgid ?? x.id ?? ''),
    time: timeOf(x),
    room: String(x.room ?? x.target ?? ''),
    session: String(x.session ?? x.sender ?? ''),
    nick: String(x.nick ?? x.sender_nick ?? x.from ?? ''),
    text: String(x.text ?? x.body ?? ''),
  }));
}

async function refreshWatch() {
  const w = state.watch;
  if (!w) return;
  const ticket = ++state.watchTicket;
  // encodeURIComponent turns '#' into %23 (docs/moderation.md).
  const res = await api('GET', `/api/v1/mod/rooms/${encodeURIComponent(w.room)}`);
  if (ticket !== state.watchTicket || state.watch !== w || !state.staff) return;
  const err = $('watch-error');
  if (res.status !== 200 || !res.body) {
    if (res.status === 401) return;
    err.textContent = res.status === 404 ? m('watch_gone') : m('watch_error', { why: errorText(res) });
    err.hidden = false;
    if (res.status === 404) stopWatchTimer();
    return;
  }
  err.hidden = true;
  w.messages = normaliseMessages(Array.isArray(res.body) ? res.body : res.body.messages)
    .sort((a, b) => (a.time?.getTime() ?? 0) - (b.time?.getTime() ?? 0));
  w.updated = new Date();
  renderWatch();
  if (state.formOwner === 'room') fillActionForm(roomSubject(), true);
  if (w.highlight && !w.loaded) {
    const row = $('watch-log').querySelector(`[data-msgid="${CSS.escape(w.highlight)}"]`);
    if (row) reveal($('watch-log'), row, true);
  }
  w.loaded = true;
}

function renderWatchMeta() {
  const w = state.watch;
  const dl = $('watch-meta');
  dl.textContent = '';
  if (!w) return;
  const r = roomOf(w.room);
  if (!r) return;
  const row = (k, ...v) => dl.append(h('div', null, h('dt', null, m(k)), h('dd', null, ...v)));
  row('r_topic', r.topic || m('no_topic'));
  row('r_members', String(r.members));
  row('r_state', [r.invite_only ? m('invite_only') : m('open_room'), r.closed ? ` · ${m('room_closed')}` : ''].join(''));
}

function watchRow(x) {
  const nick = h('span', { className: 'ev-nick', title: x.session || null }, x.nick || '?');
  nick.style.color = nickColor(x.nick || '?');
  const who = `${x.nick || '?'}, ${fmtTime(x.time)}`;
  return h('li', { className: 'ev watch-row', dataset: { msgid: x.msgid } },
    timeEl(x.time),
    h('span', { className: 'ev-body' }, nick, ' ', h('span', { className: 'ev-text' }, x.text)),
    h('span', { className: 'ev-actions' },
      x.msgid ? h('button', {
        type: 'button', className: 'link-btn small-btn',
        onclick: () => prepareAction('delete_message', { msgid: x.msgid }),
      }, m('w_delete'), h('span', { className: 'sr-only' }, ` ${m('w_delete_sr', { who })}`)) : null,
      x.session ? h('button', {
        type: 'button', className: 'link-btn small-btn',
        onclick: () => prepareAction('', { session: x.session }),
      }, m('w_target'), h('span', { className: 'sr-only' }, ` ${m('w_target_sr', { nick: x.nick || x.session })}`)) : null));
}

// Updates the conversation in place: lines removed on the server (a
// deleted message) go, new ones are added, the others are left alone so
// that focus and scrolling survive the refresh.
function renderWatch() {
  const w = state.watch;
  const ol = $('watch-log');
  if (!w) return;
  ol.setAttribute('aria-label', m('watch_label', { room: w.room }));
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 24;
  const first = !ol.querySelector('.watch-row');
  const keep = new Set(w.messages.map((x) => x.msgid));
  const rows = new Map();
  for (const li of [...ol.children]) {
    const id = li.dataset.msgid;
    if (!li.classList.contains('watch-row') || !id || !keep.has(id) || rows.has(id)) li.remove();
    else rows.set(id, li);
  }
  let prev = null;
  for (const x of w.messages) {
    let li = x.msgid ? rows.get(x.msgid) : null;
    if (!li) {
      li = watchRow(x);
      if (x.msgid) rows.set(x.msgid, li);
    }
    const want = prev ? prev.nextElementSibling : ol.firstElementChild;
    if (want !== li) ol.insertBefore(li, want);
    li.classList.toggle('ev-found', !!w.highlight && x.msgid === w.highlight);
    prev = li;
  }
  if (!w.messages.length) ol.append(h('li', { className: 'muted watch-none' }, m('watch_none')));
  markWatchTarget(currentAction() === 'delete_message' && state.formOwner === 'room' ? $('af-msgid').value : '');
  if ((first || atBottom) && !(w.highlight && !w.loaded)) ol.scrollTop = ol.scrollHeight;
  $('watch-status').textContent = w.updated
    ? m('watch_count', { n: w.messages.length, time: fmtTime(w.updated), s: WATCH_MS / 1000 }) : '';
}

// The line chosen for deletion, marked in the watched conversation.
function markWatchTarget(msgid) {
  for (const li of $('watch-log').querySelectorAll('.ev-target')) li.classList.remove('ev-target');
  if (!msgid || state.formOwner !== 'room') return;
  const li = $('watch-log').querySelector(`[data-msgid="${CSS.escape(msgid)}"]`);
  if (li) li.classList.add('ev-target');
}

// A line's "Delete" or "Target the author", or "Close this room": fills the
// shared action form and moves focus to what is left to decide (the rule,
// then the reason). Nothing is sent before the moderator submits.
function prepareAction(a, { msgid = '', session = '' } = {}) {
  const w = state.watch;
  if (!w) return;
  placeActionForm('room');
  if (session) w.author = session;
  if (msgid) w.msgid = msgid;
  fillActionForm(roomSubject(), true);
  let act = a;
  if (!act && session && !ON_SESSION.has(currentAction())) act = 'warn';
  if (act) document.querySelector(`input[name=act][value=${act}]`).checked = true;
  if (session) $('af-target').value = session;
  if (msgid) $('af-msgid').value = msgid;
  if (act === 'close_room') $('af-room').value = w.room;
  $('af-result').textContent = '';
  $('af-result').className = 'act-result';
  updateActionForm();
  const el = !a && session ? document.querySelector('input[name=act]:checked')
    : !$('af-rule').value ? $('af-rule') : $('af-reason');
  reveal(NARROW.matches ? null : $('watch'), el, false);
  el.focus({ preventScroll: true });
}

// Scrolls box (null: the page) just enough to show el, centred when asked.
// Element.scrollIntoView() would also scroll every other ancestor, the
// fixed-height page included, and push the top bar out of sight.
function reveal(box, el, center) {
  const r = el.getBoundingClientRect();
  const b = box ? box.getBoundingClientRect() : { top: 0, bottom: window.innerHeight };
  const height = b.bottom - b.top;
  let dy = 0;
  if (center) dy = r.top - b.top - (height - r.height) / 2;
  else if (r.top < b.top + 8) dy = r.top - b.top - 8;
  else if (r.bottom > b.bottom - 8) dy = Math.min(r.bottom - b.bottom + 8, r.top - b.top - 8);
  if (!dy) return;
  if (box) box.scrollTop += dy;
  else window.scrollBy(0, dy);
}

// ---------------------------------------------------------------- search

function clearSearch() {
  $('search-form').reset();
  fieldError('e-search', null, '');
  fieldError('e-s-since', 's-since', '');
  state.search = null;
  renderSearch();
  $('search-status').textContent = '';
  $('s-q').focus();
}

async function submitSearch(ev) {
  ev.preventDefault();
  const q = $('s-q').value.trim();
  const nick = $('s-nick').value.trim();
  let room = $('s-room').value.trim();
  if (room && !room.startsWith('#')) room = `#${room}`;
  const sinceLocal = $('s-since').value;
  fieldError('e-search', null, '');
  fieldError('e-s-since', 's-since', '');
  // A search names what it looks for: reading everything is the Rooms view.
  if (!q && !nick && !room && !sinceLocal) {
    fieldError('e-search', null, m('err_search_empty'));
    $('s-q').focus();
    return;
  }
  // datetime-local is the moderator's local time; the API wants UTC
  // ("YYYY-MM-DDThh:mm:ss.sssZ", what toISOString() gives).
  let since = '';
  if (sinceLocal) {
    const d = new Date(sinceLocal);
    if (isNaN(d)) {
      fieldError('e-s-since', 's-since', m('err_since'));
      $('s-since').focus();
      return;
    }
    since = d.toISOString();
  }
  const params = new URLSearchParams();
  for (const [k, v] of [['q', q], ['nick', nick], ['room', room], ['since', since]]) if (v) params.set(k, v);
  $('search-status').textContent = m('searching');
  $('search-submit').disabled = true;
  const res = await api('GET', `/api/v1/mod/search?${params}`);
  $('search-submit').disabled = false;
  if (!state.staff) return;
  if (res.status !== 200 || !res.body) {
    if (res.status === 401) return;
    state.search = null;
    renderSearch();
    $('search-status').textContent = m('search_error', { why: errorText(res) });
    return;
  }
  const all = normaliseMessages(Array.isArray(res.body) ? res.body : res.body.messages)
    .sort((a, b) => (b.time?.getTime() ?? 0) - (a.time?.getTime() ?? 0));
  state.search = { q, total: all.length, messages: all.slice(0, SEARCH_SHOWN) };
  renderSearch();
}

// Text with the searched words marked, as text nodes and <mark> elements.
function marked(text, q) {
  if (!q) return [text];
  const out = [];
  const low = text.toLowerCase();
  const needle = q.toLowerCase();
  let at = 0;
  for (let i = low.indexOf(needle); i >= 0 && needle; i = low.indexOf(needle, at)) {
    if (i > at) out.push(text.slice(at, i));
    out.push(h('mark', null, text.slice(i, i + needle.length)));
    at = i + needle.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

function renderSearch() {
  const ol = $('search-results');
  ol.textContent = '';
  const s = state.search;
  $('search-results-title').hidden = !s || !s.messages.length;
  ol.hidden = !s || !s.messages.length;
  if (!s) return;
  $('search-status').textContent = !s.total ? m('search_none')
    : s.total > s.messages.length ? m('search_more', { n: s.total, shown: s.messages.length })
      : m('search_count', { n: s.total });
  for (const x of s.messages) {
    const nick = h('span', { className: 'ev-nick' }, x.nick || '?');
    nick.style.color = nickColor(x.nick || '?');
    ol.append(h('li', null, h('button', {
      type: 'button', className: 'result', dataset: { room: x.room, msgid: x.msgid },
      onclick: () => openFromSearch(x),
    },
    h('span', { className: 'res-head' }, h('span', { className: 'res-room' }, x.room || '?'), ' ', timeEl(x.time, true)),
    h('span', { className: 'res-body' }, nick, ' ', h('span', { className: 'res-text' }, ...marked(x.text, s.q))),
    h('span', { className: 'sr-only' }, ` ${m('open_room_sr')}`))));
  }
}

function openFromSearch(x) {
  if (!x.room) return;
  setView('rooms', { watch: false });
  watchRoom(x.room, { highlight: x.msgid });
}

// ---------------------------------------------------------------- reports made by rules

// docs/web.md: a rule's report says "(automatic)" as its reporter, names
// the rule, and may carry a held message, a room awaiting approval, or the
// risk score of a conversation.
function reporterText(nick) {
  return nick === '(automatic)' ? m('auto_reporter') : String(nick);
}

function ruleOf(r) {
  return r && r.rule && typeof r.rule === 'object' && (r.rule.id || r.rule.name) ? r.rule : null;
}

function hasRisk(r) {
  return r.risk !== undefined && r.risk !== null && r.risk !== '';
}

function heldOf(r) {
  return r.held && typeof r.held === 'object' ? r.held : null;
}

function renderProtect(r) {
  const box = $('protect');
  const held = heldOf(r);
  const room = r.pending_room ? String(r.pending_room) : '';
  box.hidden = !held && !room && !hasRisk(r);
  const facts = $('protect-facts');
  const buttons = $('protect-buttons');
  facts.textContent = '';
  buttons.textContent = '';
  if (box.hidden) return;
  if (held) {
    const st = String(held.state || 'held');
    const where = held.kind === 'private' ? m('held_private', { target: String(held.target || '?') })
      : m('held_room', { target: String(held.target || '?') });
    facts.append(h('div', { className: `held-box held-${st}` },
      h('p', { className: 'held-head' }, h('strong', null, m('held_title')), ' ',
        h('span', { className: 'held-state' }, m(`held_${st}`) === `held_${st}` ? st : m(`held_${st}`)), ' ',
        h('span', { className: 'small muted' }, where)),
      h('p', { className: 'held-text' }, String(held.text ?? ''))));
    if (st === 'held') {
      buttons.append(protectButton('release', 'primary'), protectButton('discard', 'act-danger-soft'));
    }
  }
  if (room) {
    facts.append(h('p', { className: 'pending-room' }, m('pending_room_text', { room })));
    if (!r.roomDone) buttons.append(protectButton('approve_room', 'primary', { room }), protectButton('close_room', 'act-danger', { room }));
  }
  if (hasRisk(r)) {
    facts.append(h('p', { className: 'risk-line' }, m('risk_text', { n: r.risk }),
      r.restricted ? ` ${m('risk_restricted')}` : ''));
    if (r.reported && !r.liftDone) buttons.append(protectButton('lift_restriction', '', { session: String(r.reported) }));
  }
}

function protectButton(action, className, extra = {}) {
  const label = action === 'close_room' || action === 'approve_room' ? m(`pa_${action}`, { room: extra.room }) : m(`pa_${action}`);
  return h('button', { type: 'button', className, dataset: { act: action }, onclick: () => protectAction(action, extra) }, label);
}

// release / discard (the held message, by its report), approve_room and
// close_room (the room awaiting approval), lift_restriction (the session).
// A reason is required, as for every action; an open report is closed by it.
async function protectAction(action, extra) {
  const r = state.report;
  if (!r) return;
  const reason = $('pp-reason').value.trim();
  fieldError('e-pp-reason', 'pp-reason', '');
  if (!reason) {
    fieldError('e-pp-reason', 'pp-reason', m('err_reason_audit'));
    $('pp-reason').focus();
    return;
  }
  const body = { action, reason, ...extra };
  if (action === 'release' || action === 'discard' || !r.closed) body.report_id = Number(r.id);
  if ((action === 'discard' || action === 'close_room') && RULE_OF[r.category]) body.rule = RULE_OF[r.category];
  const result = $('pp-result');
  result.className = 'act-result';
  result.textContent = m('sending');
  for (const b of $('protect-buttons').querySelectorAll('button')) b.disabled = true;
  const res = await api('POST', '/api/v1/mod/actions', body);
  if (!state.staff) return;
  for (const b of $('protect-buttons').querySelectorAll('button')) b.disabled = false;
  const id = res.body && (res.body.action_id ?? res.body.id);
  if (res.status === 200 && id !== undefined && id !== null) {
    const held = heldOf(r);
    if (held && action === 'release') held.state = 'released';
    if (held && action === 'discard') held.state = 'discarded';
    if (action === 'approve_room' || action === 'close_room') r.roomDone = action;
    if (action === 'lift_restriction') r.liftDone = true;
    if (body.report_id !== undefined) {
      r.closed = true;
      r.status = 'actioned';
    }
    $('pp-reason').value = '';
    renderReport(true);
    result.textContent = m('action_done', { id, action: m(`a_${action}`) });
    result.classList.add('ok');
    loadQueue();
    return;
  }
  result.textContent = m('action_failed', { why: errorText(res) });
  result.classList.add('error');
}

// ---------------------------------------------------------------- lockdown

function lockdownText(l) {
  return m(`ld_state_${l.level}`) === `ld_state_${l.level}` ? l.level : m(`ld_state_${l.level}`, { bits: l.bits });
}

async function loadLockdown() {
  const res = await api('GET', '/api/v1/mod/lockdown');
  if (!state.staff || res.status !== 200 || !res.body) return;
  state.lockdown = { level: String(res.body.level || 'off'), bits: Number(res.body.bits) || 0 };
  renderLockdown();
}

// The banner stays on every view while entry is not open, so nobody
// forgets a lockdown on.
function renderLockdown() {
  const l = state.lockdown;
  const on = !!l && l.level !== 'off';
  const banner = $('lockdown-banner');
  banner.hidden = !on;
  banner.dataset.level = l ? l.level : 'off';
  $('lockdown-banner-text').textContent = on ? m('lockdown_banner', { state: lockdownText(l) }) : '';
  const st = $('lockdown-state');
  st.textContent = l ? m('lockdown_now', { state: lockdownText(l) }) : '';
  st.dataset.level = l ? l.level : '';
  if (l && !state.lockdownEdited) {
    for (const r of document.querySelectorAll('input[name=ld-level]')) r.checked = r.value === l.level;
  }
}

async function submitLockdown(ev) {
  ev.preventDefault();
  const chosen = document.querySelector('input[name=ld-level]:checked');
  const reason = $('ld-reason').value.trim();
  fieldError('e-ld-reason', 'ld-reason', '');
  if (!reason) {
    fieldError('e-ld-reason', 'ld-reason', m('err_reason_audit'));
    $('ld-reason').focus();
    return;
  }
  const level = chosen ? chosen.value : 'off';
  const result = $('ld-result');
  result.className = 'act-result';
  result.textContent = m('sending');
  $('ld-submit').disabled = true;
  const res = await api('POST', '/api/v1/mod/lockdown', { level, reason });
  $('ld-submit').disabled = false;
  if (!state.staff) return;
  if (res.status === 200 && res.body) {
    state.lockdown = { level: String(res.body.level || level), bits: Number(res.body.bits) || 0 };
    state.lockdownEdited = false;
    $('ld-reason').value = '';
    renderLockdown();
    result.textContent = m('lockdown_done', { state: lockdownText(state.lockdown) });
    result.classList.add('ok');
    return;
  }
  result.textContent = m('action_failed', { why: errorText(res) });
  result.classList.add('error');
}

// ---------------------------------------------------------------- rules

function normaliseRules(list) {
  return (Array.isArray(list) ? list : []).filter((r) => r && r.id).map((r) => ({
    ...r,
    id: String(r.id),
    name: String(r.name ?? ''),
    category: String(r.category ?? ''),
    action: String(r.action ?? 'none'),
    reads: Array.isArray(r.reads) ? r.reads.map(String) : String(r.reads ?? '').split(',').filter(Boolean),
    origin: String(r.origin ?? ''),
    enabled: r.enabled !== false,
  })).sort((a, b) => ruleRank(a) - ruleRank(b) || a.id.localeCompare(b.id));
}

// The moderators' own rules first, then the packs in the page's language.
function ruleRank(r) {
  if (isCustom(r)) return 0;
  return r.id.startsWith(`${lang()}.`) ? 1 : 2;
}

// A pack rule's origin is its file under the rules directory ("fr/spam.rules").
function originText(origin) {
  return origin === 'dashboard' ? m('origin_dashboard') : origin;
}

function isCustom(r) {
  return r.origin === 'dashboard' || r.id.startsWith('custom.');
}

async function loadRules() {
  const res = await api('GET', '/api/v1/mod/rules');
  if (!state.staff) return;
  const err = $('rules-error');
  if (res.status !== 200 || !res.body) {
    if (res.status === 401) return;
    err.textContent = m('rules_error', { why: errorText(res) });
    err.hidden = false;
    return;
  }
  err.hidden = true;
  state.rules = { version: res.body.version, list: normaliseRules(res.body.rules) };
  fillRuleFilters();
  renderRules();
}

// Changes are compiled in the background: the server answers at once and
// the new rule set (a new version) takes over a few seconds later. Until
// then the change is shown as pending; the list is read again every second
// until the version moves past `before`.
const RULES_WAIT_MS = 90000;

// Whether a list from the server shows every pending change.
function pendingShown(list) {
  for (const [id, want] of state.rulesPending) {
    const r = list.find((x) => x.id === id);
    if (want === null ? r : !r || r.enabled !== want) return false;
  }
  return true;
}

async function followRuleChange(before, done) {
  const ticket = ++state.rulesWait;
  renderRules();
  const until = Date.now() + RULES_WAIT_MS;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
    if (ticket !== state.rulesWait || !state.staff) return;
    const res = await api('GET', '/api/v1/mod/rules');
    if (ticket !== state.rulesWait || !state.staff) return;
    if (res.status !== 200 || !res.body || !(Number(res.body.version) > Number(before))) continue;
    const list = normaliseRules(res.body.rules);
    if (!pendingShown(list)) continue;
    state.rulesPending.clear();
    state.rules = { version: res.body.version, list };
    fillRuleFilters();
    renderRules();
    rulesNote(done(res.body.version), true);
    return;
  }
  if (ticket === state.rulesWait) rulesNote(m('rules_slow'), false);
}

function labelOf(prefix, v) {
  const s = m(`${prefix}${v}`);
  return s === `${prefix}${v}` ? String(v) : s;
}

function fillRuleFilters() {
  const cats = new Set(Object.keys(SEVERITY));
  for (const r of (state.rules && state.rules.list) || []) if (r.category) cats.add(r.category);
  fillSelect($('rf-category'), [option('', m('rf_all')), ...[...cats].map((c) => option(c, catLabel(c)))], true);
  fillSelect($('rf-action'), [option('', m('rf_all')), ...RULE_ACTIONS.map((a) => option(a, labelOf('ra_', a)))], true);
  fillSelect($('rf-enabled'), [option('', m('rf_all')), option('on', m('rf_on')), option('off', m('rf_off'))], true);
}

function ruleShown(r, f) {
  if (f.category && r.category !== f.category) return false;
  if (f.action && r.action !== f.action) return false;
  if (f.enabled === 'on' && !r.enabled) return false;
  if (f.enabled === 'off' && r.enabled) return false;
  if (!f.q) return true;
  const hay = [r.id, r.name, r.keywords, r.regex, r.reason, r.origin, r.signal].filter(Boolean).join('\n').toLowerCase();
  return hay.includes(f.q);
}

function ruleFilter() {
  return { q: $('rf-q').value.trim().toLowerCase(), category: $('rf-category').value,
    action: $('rf-action').value, enabled: $('rf-enabled').value };
}

function actionBadge(a) {
  const strong = ['block', 'hold', 'mute'].includes(a) ? 'sev-crit' : ['restrict', 'flag', 'warn'].includes(a) ? 'sev-high' : 'sev-low';
  return h('span', { className: `cat ${strong}` }, labelOf('ra_', a));
}

function renderRules() {
  const tbody = $('rules-body');
  const rs = state.rules;
  const focused = document.activeElement && tbody.contains(document.activeElement)
    ? [document.activeElement.closest('tr')?.dataset.rule, document.activeElement.dataset.tool] : null;
  tbody.textContent = '';
  if (!rs) return;
  const f = ruleFilter();
  const shown = rs.list.filter((r) => ruleShown(r, f) && state.rulesPending.get(r.id) !== null);
  for (const r of shown) {
    const pattern = r.keywords || r.regex || '';
    const pending = state.rulesPending.has(r.id);
    const on = pending ? state.rulesPending.get(r.id) : r.enabled;
    tbody.append(h('tr', { dataset: { rule: r.id }, className: `${on ? '' : 'rule-off'}${r.id === state.rulesNew ? ' rule-new' : ''}` },
      h('td', null, h('button', {
        type: 'button', className: `rule-switch${on ? ' on' : ''}${pending ? ' pending' : ''}`, role: 'switch',
        'aria-checked': String(on), 'aria-disabled': pending ? 'true' : null, dataset: { tool: 'switch' },
        onclick: () => { if (!pending) toggleRule(r); },
      }, h('span', { className: 'switch-track', 'aria-hidden': 'true' }),
      h('span', { className: 'switch-text' }, m(on ? 'rule_on' : 'rule_off')),
      pending ? h('span', { className: 'switch-pending' }, m('rule_pending')) : null,
      h('span', { className: 'sr-only' }, ` ${r.id}`))),
      h('td', { className: 'rule-cell' },
        h('span', { className: 'rule-name' }, r.name || r.id),
        h('span', { className: 'rule-id mono' }, r.id),
        pattern ? h('span', { className: 'rule-pattern mono', title: pattern },
          `${r.regex ? m('rule_regex_short') : m('rule_keywords_short')} ${pattern.length > 64 ? `${pattern.slice(0, 64)}…` : pattern}`) : null,
        isCustom(r) ? h('button', {
          type: 'button', className: 'link-btn small-btn rule-delete', dataset: { tool: 'delete' }, onclick: () => deleteRule(r),
        }, m('rule_delete'), h('span', { className: 'sr-only' }, ` ${r.id}`)) : null),
      h('td', null, r.category ? catBadge(r.category) : ''),
      h('td', null, actionBadge(r.action)),
      h('td', { className: 'small reads-cell' }, r.reads.map((x) => labelOf('read_', x)).join(', ')),
      h('td', { className: 'small mono origin' }, originText(r.origin))));
  }
  const on = rs.list.filter((r) => r.enabled).length;
  $('rules-status').textContent = m('rules_count', { version: rs.version ?? '?', n: rs.list.length, on, shown: shown.length });
  $('rules-empty').hidden = shown.length > 0;
  $('rules-table').hidden = shown.length === 0;
  if (focused && focused[0]) {
    const again = tbody.querySelector(`tr[data-rule="${CSS.escape(focused[0])}"] [data-tool="${focused[1] || 'switch'}"]`);
    if (again) again.focus();
  }
}

// Focus goes back to the rule's switch after a dialog or a redraw.
function focusRule(id, tool = 'switch') {
  const el = $('rules-body').querySelector(`tr[data-rule="${CSS.escape(id)}"] [data-tool="${tool}"]`);
  if (el) el.focus();
  else $('rules-title').focus();
}

// The outcome of the last change (switch, delete, reload), under the
// version line.
function rulesNote(text, ok) {
  const el = $('rules-result');
  el.textContent = text;
  el.className = `act-result ${ok ? 'ok' : 'error'}`;
}

async function toggleRule(r) {
  const enabling = !r.enabled;
  const reason = await askReason({
    title: m(enabling ? 'rd_enable' : 'rd_disable', { id: r.id }),
    confirm: m(enabling ? 'rd_enable_btn' : 'rd_disable_btn'),
    danger: !enabling,
  });
  if (reason === null) { focusRule(r.id); return; }
  const before = state.rules ? state.rules.version : 0;
  const res = await api('POST', `/api/v1/mod/rules/${encodeURIComponent(r.id)}/enabled`, { enabled: enabling, reason });
  if (!state.staff) return;
  if (res.status === 200 && res.body) {
    state.rulesPending.set(r.id, enabling);
    rulesNote(m('rule_compiling', { id: r.id }), true);
    followRuleChange(before, (v) => m(enabling ? 'rule_enabled' : 'rule_disabled', { id: r.id, version: v }));
    focusRule(r.id);
    return;
  }
  rulesNote(m('action_failed', { why: errorText(res) }), false);
  focusRule(r.id);
}

async function deleteRule(r) {
  const reason = await askReason({ title: m('rd_delete', { id: r.id }), confirm: m('rd_delete_btn'), danger: true });
  if (reason === null) { focusRule(r.id, 'delete'); return; }
  const before = state.rules ? state.rules.version : 0;
  const res = await api('DELETE', `/api/v1/mod/rules/${encodeURIComponent(r.id)}`, { reason });
  if (!state.staff) return;
  if (res.status === 200) {
    state.rulesPending.set(r.id, null);
    rulesNote(m('rule_compiling', { id: r.id }), true);
    followRuleChange(before, (v) => m('rule_deleted', { id: r.id, version: v }));
    $('rules-title').focus();
    return;
  }
  rulesNote(m('action_failed', { why: errorText(res) }), false);
}

async function reloadPacks() {
  const btn = $('rules-reload');
  btn.disabled = true;
  const before = state.rules ? state.rules.version : 0;
  const res = await api('POST', '/api/v1/mod/rules/reload', {});
  btn.disabled = false;
  if (!state.staff) return;
  if (res.status === 202 || res.status === 200) {
    rulesNote(m('rules_reloading'), true);
    followRuleChange(before, (v) => m('rules_reloaded', { version: v }));
    return;
  }
  rulesNote(m('action_failed', { why: errorText(res) }), false);
}

// The reason dialog: resolves with the reason, or null when cancelled.
let reasonAnswer = null;
function askReason({ title, confirm, danger }) {
  if (reasonAnswer) reasonAnswer(null);
  return new Promise((resolve) => {
    reasonAnswer = resolve;
    $('rd-title').textContent = title;
    $('rd-confirm').textContent = confirm;
    $('rd-confirm').className = danger ? 'act-danger' : 'primary';
    $('rd-reason').value = '';
    fieldError('e-rd-reason', 'rd-reason', '');
    $('reason-dialog').showModal();
    $('rd-reason').focus();
  });
}

function answerReason(value) {
  const answer = reasonAnswer;
  reasonAnswer = null;
  if ($('reason-dialog').open) $('reason-dialog').close();
  if (answer) answer(value);
}

// ---------------------------------------------------------------- adding a rule

function fillRuleForm() {
  fillSelect($('nr-category'), [option('', m('choose')), ...Object.keys(SEVERITY).map((c) => option(c, catLabel(c)))], true);
  fillSelect($('nr-action'), [option('', m('choose')), ...RULE_ACTIONS.map((a) => option(a, `${labelOf('ra_', a)} — ${labelOf('rah_', a)}`))], true);
  fillSelect($('nr-view'), [option('', m('view_default')), ...RULE_VIEWS.map((v) => option(v, labelOf('view_', v)))], true);
  fillSelect($('nr-signal'), [option('', m('signal_none')), ...RULE_SIGNALS.map((x) => option(x, labelOf('signal_', x)))], true);
  const box = $('nr-reads');
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  if (!box.childElementCount) checked.add('room').add('private');
  box.textContent = '';
  for (const r of RULE_READS) {
    box.append(h('label', null, h('input', { type: 'checkbox', name: 'nr-read', value: r, checked: checked.has(r) }), ' ', labelOf('read_', r)));
  }
  updateRuleKind();
}

function ruleKind() {
  return (document.querySelector('input[name=nr-kind]:checked') || {}).value || 'keywords';
}

function updateRuleKind() {
  const k = ruleKind();
  $('nr-pattern-label').textContent = m(`nr_pattern_${k}`);
  $('h-nr-pattern').textContent = m(`nr_pattern_${k}_hint`);
}

// The pattern as the API takes it: {"keywords": …} or {"regex": …}, with
// the view when one is chosen.
function patternBody() {
  const body = { [ruleKind()]: $('nr-pattern').value.trim() };
  if ($('nr-view').value) body.view = $('nr-view').value;
  return body;
}

async function testRule() {
  const out = $('nr-test-result');
  fieldError('e-nr-pattern', 'nr-pattern', '');
  fieldError('e-nr-test', 'nr-test', '');
  const text = $('nr-test').value;
  if (!$('nr-pattern').value.trim()) {
    fieldError('e-nr-pattern', 'nr-pattern', m('err_pattern_missing'));
    $('nr-pattern').focus();
    return;
  }
  if (!text.trim()) {
    fieldError('e-nr-test', 'nr-test', m('err_test_text'));
    $('nr-test').focus();
    return;
  }
  out.textContent = m('testing');
  const res = await api('POST', '/api/v1/mod/rules/test', { ...patternBody(), text });
  if (!state.staff) return;
  out.textContent = '';
  out.className = 'test-result';
  if (res.status !== 200 || !res.body) {
    out.append(h('p', { className: 'test-verdict bad' }, m('action_failed', { why: errorText(res) })));
    return;
  }
  const b = res.body;
  if (b.valid === false) {
    out.classList.add('invalid');
    out.append(h('p', { className: 'test-verdict bad' }, m('test_invalid', { error: String(b.error || '') })));
    fieldError('e-nr-pattern', 'nr-pattern', String(b.error || m('test_invalid', { error: '' })));
    return;
  }
  out.classList.add(b.matches ? 'match' : 'nomatch');
  out.append(
    h('p', { className: `test-verdict ${b.matches ? 'yes' : 'no'}` },
      h('span', { 'aria-hidden': 'true' }, b.matches ? '✔ ' : '✘ '), m(b.matches ? 'test_matches' : 'test_no_match')),
    h('dl', { className: 'meta test-views' },
      h('div', null, h('dt', null, m('test_plain')), h('dd', { className: 'mono test-plain' }, String(b.plain ?? ''))),
      h('div', null, h('dt', null, m('test_folded')), h('dd', { className: 'mono test-folded' }, String(b.folded ?? '')))));
}

async function submitRule(ev) {
  ev.preventDefault();
  const fields = ['id', 'name', 'category', 'action', 'reads', 'pattern', 'reason', 'why'];
  for (const f of fields) fieldError(`e-nr-${f}`, f === 'reads' ? null : `nr-${f}`, '');
  const suffix = $('nr-id').value.trim().replace(/^custom\./, '');
  const reads = [...document.querySelectorAll('input[name=nr-read]:checked')].map((i) => i.value);
  const action = $('nr-action').value;
  const bad = [];
  if (!CUSTOM_ID.test(suffix)) bad.push(['id', m('err_rule_id')]);
  if (!$('nr-name').value.trim()) bad.push(['name', m('err_missing')]);
  if (!$('nr-category').value) bad.push(['category', m('err_missing')]);
  if (!action) bad.push(['action', m('err_missing')]);
  if (!reads.length) bad.push(['reads', m('err_reads')]);
  if (!$('nr-pattern').value.trim()) bad.push(['pattern', m('err_pattern_missing')]);
  if (!$('nr-reason').value.trim() && !['none', 'flag'].includes(action)) bad.push(['reason', m('err_rule_reason')]);
  if (!$('nr-why').value.trim()) bad.push(['why', m('err_reason_audit')]);
  if (bad.length) {
    for (const [f, text] of bad) fieldError(`e-nr-${f}`, f === 'reads' ? null : `nr-${f}`, text);
    const first = bad[0][0];
    (first === 'reads' ? document.querySelector('input[name=nr-read]') : $(`nr-${first}`)).focus();
    return;
  }
  const body = {
    id: `custom.${suffix}`, name: $('nr-name').value.trim(), category: $('nr-category').value,
    reads: reads.join(','), ...patternBody(), action, reason: $('nr-reason').value.trim(),
    why: $('nr-why').value.trim(),
  };
  if ($('nr-signal').value) body.signal = $('nr-signal').value;
  const result = $('nr-result');
  result.className = 'act-result';
  result.textContent = m('sending');
  $('nr-submit').disabled = true;
  const before = state.rules ? state.rules.version : 0;
  const res = await api('POST', '/api/v1/mod/rules', body);
  $('nr-submit').disabled = false;
  if (!state.staff) return;
  if ((res.status === 201 || res.status === 200) && res.body) {
    const id = String(res.body.id || body.id);
    result.textContent = m('rule_added', { id });
    result.classList.add('ok');
    state.rulesNew = id;
    state.rulesPending.set(id, true);
    for (const f of ['nr-id', 'nr-name', 'nr-pattern', 'nr-reason', 'nr-why']) $(f).value = '';
    $('nr-test-result').textContent = '';
    rulesNote(m('rule_compiling', { id }), true);
    followRuleChange(before, (v) => m('rule_in_place', { id, version: v }));
    return;
  }
  const why = errorText(res);
  if (res.body && res.body.error && res.body.error.code === 'bad_rule') fieldError('e-nr-pattern', 'nr-pattern', why);
  result.textContent = m('action_failed', { why });
  result.classList.add('error');
}

// ---------------------------------------------------------------- audit

async function loadAudit() {
  const res = await api('GET', '/api/v1/mod/audit');
  if (!state.staff) return;
  const err = $('audit-error');
  if (res.status !== 200 || !res.body) {
    if (res.status === 401) return;
    err.textContent = m('audit_error', { why: errorText(res) });
    err.hidden = false;
    return;
  }
  err.hidden = true;
  const b = res.body;
  const list = Array.isArray(b) ? b : Array.isArray(b.entries) ? b.entries : Array.isArray(b.audit) ? b.audit : [];
  const rows = list.slice().sort((x, y) => (Number(y.seq) || 0) - (Number(x.seq) || 0));
  const tbody = $('audit-body');
  tbody.textContent = '';
  for (const e of rows) {
    tbody.append(h('tr', null,
      h('td', { className: 'num' }, asText(e.seq)),
      h('td', null, timeEl(timeOf(e), true)),
      h('td', null, asText(e.actor)),
      h('td', null, asText(e.action)),
      h('td', { className: 'mono' }, asText(e.target)),
      h('td', { className: 'detail-cell' }, asText(e.detail))));
  }
  $('audit-empty').hidden = rows.length > 0;
}

// ---------------------------------------------------------------- page

function announce(text) {
  const el = $('announcer');
  el.textContent = '';
  el.append(document.createTextNode(text));
}

function relabel() {
  applyStaticMod();
  $('tabs').setAttribute('aria-label', m('tabs'));
  const sw = $('lang-switch');
  sw.textContent = otherLang() === 'en' ? 'English' : 'Français';
  sw.lang = otherLang();
  renderWho();
  if (state.staff) {
    renderQueue();
    if (state.report) renderReport(true);
    renderRooms();
    if (state.watch) {
      $('watch-log').textContent = '';
      renderWatch();
      if (state.formOwner === 'room') fillActionForm(roomSubject(), true);
    }
    renderSearch();
    fillRuleFilters();
    renderRules();
    renderLockdown();
    if (state.report) renderProtect(state.report);
    if (state.view === 'audit') loadAudit();
  }
  fillRuleForm();
}

function bind() {
  $('login-form').addEventListener('submit', submitLogin);
  $('logout').addEventListener('click', logout);
  $('lang-switch').addEventListener('click', () => { setLang(otherLang()); relabel(); });
  $('tab-queue').addEventListener('click', () => setView('queue'));
  $('tab-audit').addEventListener('click', () => setView('audit'));
  $('tab-rooms').addEventListener('click', () => setView('rooms'));
  $('tab-search').addEventListener('click', () => setView('search'));
  $('tab-rules').addEventListener('click', () => setView('rules'));
  $('lockdown-banner-go').addEventListener('click', () => {
    setView('rules');
    const chosen = document.querySelector('input[name=ld-level]:checked') || document.querySelector('input[name=ld-level]');
    chosen.focus();
  });
  $('lockdown-form').addEventListener('submit', submitLockdown);
  $('lockdown-form').addEventListener('change', (ev) => { if (ev.target.name === 'ld-level') state.lockdownEdited = true; });
  $('rules-refresh').addEventListener('click', loadRules);
  $('rules-reload').addEventListener('click', reloadPacks);
  $('rules-filter').addEventListener('input', renderRules);
  $('rules-filter').addEventListener('change', renderRules);
  $('rules-filter').addEventListener('submit', (ev) => ev.preventDefault());
  $('rule-form').addEventListener('submit', submitRule);
  $('rule-form').addEventListener('change', (ev) => { if (ev.target.name === 'nr-kind') updateRuleKind(); });
  $('nr-test-run').addEventListener('click', testRule);
  $('rd-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const reason = $('rd-reason').value.trim();
    if (!reason) {
      fieldError('e-rd-reason', 'rd-reason', m('err_reason_audit'));
      $('rd-reason').focus();
      return;
    }
    answerReason(reason);
  });
  $('rd-cancel').addEventListener('click', () => answerReason(null));
  $('reason-dialog').addEventListener('close', () => answerReason(null));
  $('rooms-refresh').addEventListener('click', loadRooms);
  $('watch-stop').addEventListener('click', () => {
    const room = state.watch && state.watch.room;
    stopWatching();
    const btn = room && document.querySelector(`.room-item[data-room="${CSS.escape(room)}"]`);
    if (btn) btn.focus();
  });
  $('watch-back').addEventListener('click', () => {
    $('rooms-view').classList.remove('show-watch');
    const btn = state.watch && document.querySelector(`.room-item[data-room="${CSS.escape(state.watch.room)}"]`);
    if (btn) btn.focus();
  });
  $('watch-close-room').addEventListener('click', () => prepareAction('close_room'));
  $('search-form').addEventListener('submit', submitSearch);
  $('search-clear').addEventListener('click', clearSearch);
  $('queue-refresh').addEventListener('click', loadQueue);
  $('audit-refresh').addEventListener('click', loadAudit);
  $('detail-back').addEventListener('click', () => {
    $('dash').classList.remove('show-detail');
    const btn = document.querySelector(`.report-item[data-report="${CSS.escape(String(state.selected))}"]`);
    if (btn) btn.focus();
  });
  $('action-form').addEventListener('change', updateActionForm);
  $('af-pattern').addEventListener('input', updateActionForm);
  $('af-room').addEventListener('input', updateActionForm);
  $('action-form').addEventListener('submit', submitAction);
  NARROW.addEventListener('change', () => {
    if (NARROW.matches) return;
    $('dash').classList.remove('show-detail');
    $('rooms-view').classList.remove('show-watch');
  });
}

function boot() {
  relabel();
  bind();
  // The token is in memory only, so a fresh page always starts at the form.
  showLogin('');
  performance.mark('mod-ready');
}

boot();
