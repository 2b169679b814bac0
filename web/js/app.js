// salon's chat page: entry screen (HTTP API, docs/api.md) and chat over
// IRC/WebSocket (docs/protocol.md). See docs/web.md.
//
// Rule for this file: text that comes from the network or from a person is
// put in the page with textContent or text nodes (render.js), never parsed
// as HTML.

import { t, lang, setLang, applyStatic, otherLang } from './i18n.js';
import { IrcConnection, fold, isChannel, splitUtf8 } from './irc.js';
import { FRANCE, ABROAD } from './regions.js';
import { h, appendLinkified, nickColor, parseProfile, badge, fillBadge, profileText,
  formatTime, formatDuration } from './render.js';

const $ = (id) => document.getElementById(id);

// Bytes of text per PRIVMSG: the server relays ":nick!user@host PRIVMSG
// target :" in front, and a line is 512 bytes (RFC 1459 2.3).
const TEXT_BYTES = 380;
const HISTORY_LINES = 50;          // CHATHISTORY LATEST on join (the issue)
const DIRECTORY_REFRESH_MS = 30000;
const MAX_LINES = 500;             // messages kept per conversation in the page
const PHONE = window.matchMedia('(max-width: 799px)');

const state = {
  ticket: '',
  profile: null,
  conn: null,
  buffers: new Map(),   // fold(name) -> buffer
  active: null,         // fold(name) of the conversation shown
  profiles: new Map(),  // fold(nick) -> profile parsed from the real name
  wantRooms: new Map(), // fold(name) -> name: rooms to (re)join
  directory: null,
  pmPolicy: '',
  ignores: [],
  requests: new Map(),  // fold(nick) -> {nick, band, gender, seconds, at}
  pendingJoin: null,    // fold(name) the user asked to join from the page
  connState: '',
  countdown: null,
  dirTimer: null,
  notify: false,
  modNotes: [],         // statements of reasons received (docs/moderation.md)
  banned: false,        // a BAN statement or a 465 was received
  tipReports: [],       // nicks reported from a safety tip, awaiting NOTE REPORT RECEIVED
  lastJoin: null,       // {key, at}: the last room asked for, for its refusal
};

// ---------------------------------------------------------------- storage

function storeKey() {
  return state.profile ? `${fold(state.profile.nick)}|${state.profile.created || ''}` : '';
}

function loadSaved() {
  try {
    const saved = JSON.parse(localStorage.getItem('salon.session') || 'null');
    if (saved && saved.key === storeKey()) return saved;
  } catch { /* ignore a damaged entry */ }
  return { rooms: [], pms: [], notify: false };
}

function save() {
  const pms = [...state.buffers.values()].filter((b) => b.kind === 'pm').map((b) => b.name);
  try {
    localStorage.setItem('salon.session', JSON.stringify({
      key: storeKey(), rooms: [...state.wantRooms.values()], pms, notify: state.notify,
    }));
  } catch { /* private mode: nothing to keep */ }
}

// ---------------------------------------------------------------- HTTP API

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
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
  return { status: res.status, body: json };
}

// ---------------------------------------------------------------- entry

function fillRegions() {
  const sel = $('f-region');
  const keep = sel.value;
  sel.textContent = '';
  sel.append(h('option', { value: '' }, t('choose')));
  for (const [region, deps] of FRANCE) {
    const group = h('optgroup', { label: region === 'Outre-mer' ? t('r_overseas') : region });
    for (const [code, name] of deps) group.append(h('option', { value: code }, `${name} (${code})`));
    sel.append(group);
  }
  const abroad = h('optgroup', { label: t('r_abroad') });
  for (const [code, key] of ABROAD) abroad.append(h('option', { value: code }, t(key)));
  sel.append(abroad);
  sel.value = keep;
}

const FIELD_ERROR = { nick: 'e-nick', age: 'e-age', gender: 'e-gender', region: 'e-region',
  show_region: 'e-region', accept_rules: 'e-rules' };
const FIELD_INPUT = { nick: 'f-nick', age: 'f-age', gender: null, region: 'f-region',
  show_region: 'f-show-region', accept_rules: 'f-rules' };

function clearEntryErrors() {
  for (const id of ['e-nick', 'e-age', 'e-gender', 'e-region', 'e-rules', 'e-form']) {
    $(id).hidden = true;
    $(id).textContent = '';
  }
  for (const id of ['f-nick', 'f-age', 'f-region', 'f-rules']) $(id).removeAttribute('aria-invalid');
}

function entryError(code, field, fallback) {
  const key = `err_${code}`;
  const text = t(key) !== key ? t(key) : (fallback || t('err_unknown'));
  const target = $(FIELD_ERROR[field] || 'e-form');
  target.textContent = text;
  target.hidden = false;
  const input = FIELD_INPUT[field] ? $(FIELD_INPUT[field]) : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  } else if (field === 'gender') {
    document.querySelector('input[name=gender]').focus();
  }
}

function showUnderage(code) {
  $('entry-form').hidden = true;
  $('entry-title').hidden = true;
  $('entry-lead').hidden = true;
  $('entry-notice').hidden = true;
  const box = $('underage');
  box.hidden = false;
  box.dataset.code = code;
  box.focus();
}

// Errors are {"error": {"code", "field", "message", …}} (docs/api.md);
// pow_required adds "challenge" and "bits".
function apiError(body) {
  const e = (body && body.error) || {};
  return { ...e, bits: Number(e.bits) };
}

// Proof of work under lockdown (docs/api.md, "challenge"): the first
// nonce, counting up from 0, whose SHA-256(challenge + ":" + nonce) starts
// with `bits` zero bits. Digests are asked in batches (the browser computes
// them off the main thread) and the page yields between batches, so it
// stays responsive and can show progress.
const POW_BATCH = 256;
const POW_MAX_BITS = 32;

function leadingZeroBits(bytes) {
  let n = 0;
  for (const byte of bytes) {
    if (byte === 0) { n += 8; continue; }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

async function solvePow(challenge, bits, onProgress) {
  if (!(bits >= 0 && bits <= POW_MAX_BITS) || !window.crypto || !crypto.subtle) return null;
  const enc = new TextEncoder();
  const prefix = `${challenge}:`;
  // 2^(bits+6) tries find one with near certainty; past that, give up.
  const limit = 2 ** Math.min(bits + 6, 40);
  let lastYield = performance.now();
  for (let base = 0; base < limit; base += POW_BATCH) {
    const batch = [];
    for (let i = 0; i < POW_BATCH; i++) batch.push(crypto.subtle.digest('SHA-256', enc.encode(prefix + (base + i))));
    const digests = await Promise.all(batch);
    for (let i = 0; i < POW_BATCH; i++) {
      if (leadingZeroBits(new Uint8Array(digests[i])) >= bits) return String(base + i);
    }
    if (performance.now() - lastYield > 80) {
      onProgress(base + POW_BATCH, 2 ** bits);
      await new Promise((r) => setTimeout(r, 0));
      lastYield = performance.now();
    }
  }
  return null;
}

// "Checking your browser… 40 %": the chance that the search is over by
// now, which is what a person wants to know.
function showPowProgress(tries, expected) {
  const box = $('entry-pow');
  const pct = expected ? Math.min(99, Math.floor(100 * (1 - Math.exp(-tries / expected)))) : 0;
  box.hidden = false;
  $('entry-pow-text').textContent = t('pow_checking', { pct });
  $('entry-pow-bar').value = pct;
}

function hidePow() {
  $('entry-pow').hidden = true;
  $('entry-pow-text').textContent = '';
}

// Posts the entry, solving the proof of work the server asks for under
// lockdown (a challenge is single-use and lives 5 minutes: a refused proof
// gets a fresh challenge, tried again a few times).
async function postSession(body) {
  let res = await api('POST', '/api/v1/session', body);
  for (let round = 0; round < 3; round++) {
    const err = apiError(res.body);
    if (res.status !== 403 || err.code !== 'pow_required' || !err.challenge) return res;
    showPowProgress(0, 2 ** (err.bits || 0));
    const nonce = await solvePow(err.challenge, err.bits, showPowProgress);
    if (nonce === null) return { status: -1, body: null };
    $('entry-pow-text').textContent = t('pow_done');
    $('entry-pow-bar').value = 100;
    res = await api('POST', '/api/v1/session', { ...body, pow: `${err.challenge}:${nonce}` });
  }
  return res;
}

async function submitEntry(ev) {
  ev.preventDefault();
  clearEntryErrors();
  const form = $('entry-form');
  const nick = $('f-nick').value.trim();
  const ageText = $('f-age').value.trim();
  const gender = (form.querySelector('input[name=gender]:checked') || {}).value;
  const region = $('f-region').value;
  // The server is the judge of every rule; these checks only save a round
  // trip for empty fields, with the same codes the API uses.
  const missing = [['nick', !nick], ['age', !ageText], ['gender', !gender], ['region', !region]]
    .filter(([, bad]) => bad).map(([f]) => f);
  if (!$('f-rules').checked) missing.push('accept_rules');
  if (missing.length) {
    for (const f of missing.reverse()) entryError(f === 'accept_rules' ? 'rules_not_accepted' : 'missing_field', f);
    return;
  }
  const age = /^\d+$/.test(ageText) ? Number(ageText) : ageText;
  const button = $('entry-submit');
  button.disabled = true;
  const res = await postSession({
    nick, age, gender, region, show_region: $('f-show-region').checked, accept_rules: true,
  });
  button.disabled = false;
  hidePow();
  if (res.status === 201 && res.body && res.body.ticket) {
    enterChat(res.body);
    return;
  }
  if (res.status === -1) { entryError('pow_failed', null); return; }
  const err = apiError(res.body);
  if (err.code === 'nick_refused') {
    // A rule refused the pseudonym: its reason, next to the field.
    entryError('nick_refused', 'nick');
    $('e-nick').textContent = t('err_nick_refused', { reason: err.message || '' });
    return;
  }
  if (err.code === 'closed') {
    entryError('closed', null);
    $('e-form').textContent = `${t('err_closed')} ${err.message || ''}`.trim();
    return;
  }
  if (err.code === 'pow_required') { entryError('pow_failed', null); return; }
  if (err.code === 'underage' || err.code === 'age_locked') {
    showUnderage(err.code);
    return;
  }
  if (err.code === 'session_exists') {
    const again = await api('GET', '/api/v1/session');
    if (again.status === 200 && again.body) { enterChat(again.body); return; }
  }
  if (err.code === 'banned') {
    // The server's message carries the ban id and the appeal route.
    entryError('banned', null, '');
    $('e-form').textContent = `${t('err_banned')} ${err.message || ''}`.trim();
    return;
  }
  if (res.status === 0) { entryError('network', null); return; }
  if (res.status === 413) { entryError('too_large', null); return; }
  entryError(err.code || `http_${res.status}`, err.field || null, err.message);
}

function showEntry(reason) {
  document.body.dataset.screen = 'entry';
  if (!performance.getEntriesByName('salon-ready').length) performance.mark('salon-ready');
  $('chat').hidden = true;
  $('entry').hidden = false;
  $('status').hidden = true;
  for (const el of document.querySelectorAll('.only-chat')) el.hidden = true;
  const notice = $('entry-notice');
  notice.hidden = !reason;
  notice.dataset.reason = reason || '';
  notice.textContent = reason ? t(`reason_${reason}`) : '';
  if (!$('entry-form').hidden) $('f-nick').focus();
}

// ---------------------------------------------------------------- chat: buffers

function bufferKey(name) {
  return fold(name);
}

function getBuffer(name, kind, create = true) {
  const key = bufferKey(name);
  let b = state.buffers.get(key);
  if (b || !create) return b || null;
  b = {
    key, name, kind, messages: [], ids: new Set(), unread: 0, joined: false,
    members: new Map(), topic: '', declined: false, slow: 0, sent: [],
    log: h('div', { className: 'log', role: 'log', hidden: true, tabindex: '0' }),
    item: null,
  };
  b.log.setAttribute('aria-label', t(kind === 'pm' ? 'log_pm' : 'log_room', { name }));
  $('logs').append(b.log);
  state.buffers.set(key, b);
  renderBufferList();
  if (kind === 'pm') save();
  return b;
}

function removeBuffer(b) {
  b.log.remove();
  state.buffers.delete(b.key);
  if (state.active === b.key) {
    const next = [...state.buffers.keys()][0] || null;
    switchTo(next, false);
  }
  renderBufferList();
  save();
}

function renderBufferList() {
  const ul = $('buffers');
  ul.textContent = '';
  const list = [...state.buffers.values()].sort((a, b) =>
    (a.kind === b.kind ? a.key.localeCompare(b.key) : a.kind === 'room' ? -1 : 1));
  for (const b of list) {
    const label = h('span', { className: 'buf-name' }, b.name);
    if (b.kind === 'pm') label.style.color = nickColor(b.name);
    const btn = h('button', {
      type: 'button', className: `buf buf-${b.kind}`, 'aria-current': state.active === b.key ? 'page' : false,
      onclick: () => switchTo(b.key, true),
    },
    h('span', { className: 'buf-kind', 'aria-hidden': 'true' }, b.kind === 'pm' ? '✉' : ''),
    label,
    b.kind === 'pm' ? h('span', { className: 'sr-only' }, ` (${t('private')})`) : null,
    b.kind === 'room' && !b.joined ? h('span', { className: 'muted small' }, ` ${t('not_joined')}`) : null,
    b.unread ? h('span', { className: 'unread' }, String(b.unread),
      h('span', { className: 'sr-only' }, ` ${t('unread')}`)) : null);
    ul.append(h('li', null, btn));
  }
  $('buffers-empty').hidden = list.length > 0;
  updateTitle();
}

function updateTitle() {
  let n = state.requests.size;
  for (const b of state.buffers.values()) if (b.kind === 'pm') n += b.unread;
  let rooms = 0;
  for (const b of state.buffers.values()) if (b.kind === 'room') rooms += b.unread;
  document.title = n ? `(${n}) salon` : 'salon';
  const c = $('drawer-count');
  c.hidden = !(n + rooms);
  c.textContent = String(n + rooms);
}

function switchTo(key, byUser) {
  state.active = key;
  const b = key ? state.buffers.get(key) : null;
  for (const other of state.buffers.values()) other.log.hidden = other !== b;
  $('welcome').hidden = !!b;
  if (b) {
    b.unread = 0;
    $('buffer-name').textContent = b.name;
    $('buffer-name').style.color = b.kind === 'pm' ? nickColor(b.name) : '';
    renderBufferHead(b);
    b.log.scrollTop = b.log.scrollHeight;
    $('composer-input').placeholder = t(b.kind === 'pm' ? 'write_pm' : 'write_room', { name: b.name });
  } else {
    $('composer-input').placeholder = t('write_command');
    $('buffer-name').textContent = '';
    $('buffer-topic').textContent = '';
    $('buffer-close').hidden = true;
    $('members-toggle').hidden = true;
  }
  renderMembers();
  renderBufferList();
  if (byUser) {
    setDrawer(false);
    if (b && !PHONE.matches) $('composer-input').focus();
  }
}

function renderBufferHead(b) {
  const topic = $('buffer-topic');
  topic.textContent = '';
  if (b.kind === 'room') {
    if (b.slow) topic.append(h('span', { className: 'slow' }, t('slow_mode', { n: b.slow })), b.topic ? ' · ' : '');
    appendLinkified(topic, b.topic || '');
  }
  else {
    const p = state.profiles.get(fold(b.name));
    topic.textContent = p ? `${t('private')} · ${profileText(p)}` : t('private');
  }
  const close = $('buffer-close');
  close.hidden = false;
  close.textContent = t(b.kind === 'room' ? 'leave_room' : 'close_pm');
  const mt = $('members-toggle');
  mt.hidden = b.kind !== 'room';
  mt.textContent = t('members_n', { n: b.members.size });
}

// ---------------------------------------------------------------- chat: messages

function isAtBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}

// Lines the page draws itself around messages (docs/web.md, "Automatic
// protection"): none counts as unread.
const LOCAL_KINDS = new Set(['system', 'refused', 'held', 'warn', 'tip']);

// m: {id, time (Date), nick, text, kind: 'msg'|'action'|'notice'|LOCAL_KINDS, self}
// A live line goes after everything shown, in the order the server sent
// it: a warning the server sends just before a message must stay before
// it even when the two clocks disagree. History (and a redraw, append)
// goes where its time says: it arrives after live lines, and a reconnect
// interleaves.
function addMessage(b, m, { history = false, append = false } = {}) {
  if (m.id) {
    if (b.ids.has(m.id)) return;
    b.ids.add(m.id);
  }
  const el = renderMessage(b, m);
  m.el = el;
  const stick = isAtBottom(b.log) || b.log.hidden;
  let i = b.messages.length;
  while (history && !append && i > 0 && b.messages[i - 1].time > m.time) i--;
  if (i === b.messages.length) b.log.append(el);
  else b.log.insertBefore(el, b.messages[i].el);
  b.messages.splice(i, 0, m);
  if (b.messages.length > MAX_LINES) {
    const old = b.messages.shift();
    old.el.remove();
  }
  if (stick) b.log.scrollTop = b.log.scrollHeight;
  if (history || m.self || LOCAL_KINDS.has(m.kind)) return;
  const visible = state.active === b.key && !document.hidden;
  if (!visible) {
    b.unread++;
    renderBufferList();
  }
  if (b.kind === 'pm') {
    if (!visible) announce(t('announce_pm', { nick: m.nick }));
    if (document.hidden) notify(t('notif_pm', { nick: m.nick }), `pm-${b.key}`);
  }
}

function systemLine(b, text) {
  if (!b) b = state.active ? state.buffers.get(state.active) : null;
  if (!b) { setStatusNote(text); return; }
  addMessage(b, { time: new Date(), text, kind: 'system', self: false, nick: '' });
}

function renderMessage(b, m) {
  const time = h('time', { datetime: m.time.toISOString(), className: 'time' }, formatTime(m.time, lang()));
  if (m.kind === 'system' && !m.code) {
    return h('div', { className: 'msg system' }, time, h('span', { className: 'body' }, h('span', { className: 'text' }, m.text)));
  }
  if (m.kind === 'tip') return renderTip(b, m, time);
  if (LOCAL_KINDS.has(m.kind)) return renderProtectLine(m, time);
  const nickBtn = h('button', { type: 'button', className: 'nick', onclick: () => openUserCard(m.nick) }, m.nick);
  nickBtn.style.color = nickColor(m.nick);
  const bdg = badge(state.profiles.get(fold(m.nick)));
  bdg.dataset.nick = fold(m.nick);
  const text = h('span', { className: 'text' });
  appendLinkified(text, m.text);
  const report = m.self ? null : h('button', {
    type: 'button', className: 'report', title: t('report_msg', { nick: m.nick }),
    'aria-label': t('report_msg', { nick: m.nick }), onclick: () => openReport(m.nick, m),
  }, h('span', { 'aria-hidden': 'true' }, '⚑'));
  const who = h('span', { className: 'who' }, m.kind === 'action' ? '* ' : null, nickBtn, bdg);
  return h('div', { className: `msg ${m.kind}${m.self ? ' self' : ''}` }, time,
    h('span', { className: 'body' }, who, ' ', text), report);
}

// Badges were drawn before the profile was known (history, races between
// WHO and the first message): fill them in now.
function learnProfile(nick, realname) {
  const p = parseProfile(realname);
  if (!p) return;
  const key = fold(nick);
  state.profiles.set(key, p);
  for (const b of state.buffers.values()) {
    for (const el of b.log.querySelectorAll('.badge[hidden]')) {
      if (el.dataset.nick === key) fillBadge(el, p);
    }
  }
}

// ---------------------------------------------------------------- chat: automatic protection

// Lines of the automatic protection (docs/web.md): a refusal, a message
// held for review, a warning about the other person. The label is the
// page's (translated by the server's code); the explanation is the
// server's text, as is; the quote is what the person had typed. A warning
// is the server's text alone: it is written to stand on its own.
const SYMBOL = { refused: '⛔', held: '⏳', warn: '⚠' };

function protectLabel(m) {
  const byCode = `lbl_${(m.code || '').toLowerCase()}`;
  if (m.code && t(byCode) !== byCode) return t(byCode);
  const byKind = `lbl_${m.kind}`;
  return t(byKind) !== byKind ? t(byKind) : '';
}

function renderProtectLine(m, time) {
  const label = protectLabel(m);
  return h('div', { className: `msg protect ${m.kind}` }, time,
    h('span', { className: 'body' },
      SYMBOL[m.kind] && !m.text.startsWith(SYMBOL[m.kind])
        ? h('span', { className: 'symbol', 'aria-hidden': 'true' }, `${SYMBOL[m.kind]} `) : null,
      label ? h('strong', { className: 'label' }, label) : null, label ? ' ' : null,
      h('span', { className: 'text' }, m.text),
      m.quote ? h('span', { className: 'quote' }, ` ${t('quote', { text: m.quote })}`) : null));
}

// The safety tip: a card in the private conversation, with one button that
// leaves, blocks and reports, and a link that only hides the card.
let tipSeq = 0;
function renderTip(b, m, time) {
  const id = `tip-${++tipSeq}`;
  return h('div', { className: 'msg tip', role: 'group', 'aria-labelledby': id }, time,
    h('div', { className: 'tip-card' },
      h('p', { className: 'tip-title', id },
        h('span', { 'aria-hidden': 'true' }, '🛡 '), t('tip_title', { nick: m.nick })),
      h('p', { className: 'tip-text' }, m.text),
      h('div', { className: 'tip-actions' },
        h('button', { type: 'button', className: 'tip-leave', onclick: () => leaveBlockReport(m.nick) },
          t('tip_leave'), h('span', { className: 'sr-only' }, ` (${m.nick})`)),
        h('button', { type: 'button', className: 'link-btn tip-dismiss', onclick: () => dismissTip(b, m) },
          t('tip_dismiss'), h('span', { className: 'sr-only' }, ` ${t('tip_title', { nick: m.nick })}`)))));
}

function removeLine(b, m) {
  const i = b.messages.indexOf(m);
  if (i >= 0) b.messages.splice(i, 1);
  if (m.el) m.el.remove();
}

function dismissTip(b, m) {
  removeLine(b, m);
  if (state.active === b.key) $('composer-input').focus();
}

function addTip(nick, text) {
  const b = getBuffer(nick, 'pm');
  for (const old of b.messages.filter((x) => x.kind === 'tip')) removeLine(b, old);
  addMessage(b, { time: new Date(), kind: 'tip', nick, text, self: false });
  if (state.active !== b.key || document.hidden) announce(t('announce_tip', { nick }));
}

// "Leave, block and report", in one click (the spec of the tip): the
// page's own ignore, a report to the moderators, the tab closed. The
// server's answer to REPORT completes the confirmation.
function leaveBlockReport(nick) {
  if (state.connState !== 'registered') { systemLine(null, t('offline')); return; }
  ignore(nick);
  state.conn.raw(`REPORT ${nick} child_safety :Safety tip: conversation reported from the tip`);
  state.tipReports.push(nick);
  const b = getBuffer(nick, 'pm', false);
  if (b) removeBuffer(b);
  setStatusNote(t('tip_done', { nick }));
  announce(t('tip_done', { nick }));
  if (!PHONE.matches) $('composer-input').focus();
}

function localLine(b, m) {
  if (!b) { systemLine(null, `${protectLabel(m)} ${m.text}`.trim()); return; }
  addMessage(b, { time: new Date(), nick: '', self: false, ...m });
}

// Texts sent and not yet answered, per conversation, oldest first: the
// server answers each PRIVMSG in order (an echo, or a refusal, or a note
// that it is held), so a refusal is about the oldest one still waiting.
const SENT_KEPT_MS = 60000;

function rememberSent(b, text) {
  b.sent.push({ text, at: Date.now() });
  if (b.sent.length > 20) b.sent.shift();
}

function takeSent(b) {
  if (!b) return '';
  while (b.sent.length && Date.now() - b.sent[0].at > SENT_KEPT_MS) b.sent.shift();
  const x = b.sent.shift();
  return x ? x.text : '';
}

function echoed(b, text) {
  const i = b.sent.findIndex((x) => x.text === text);
  if (i >= 0) b.sent.splice(i, 1);
}

// The conversation a line about target belongs to: its room, or the
// private conversation with that person (opened if need be).
function targetBuffer(target) {
  if (!target || target === '*') return null;
  return isChannel(target) ? getBuffer(target, 'room', false) : getBuffer(target, 'pm');
}

// Channel modes the page follows: +W <seconds> is slow mode (docs/protocol.md).
// args are the mode arguments in order; the membership modes o and v
// change prefixes.
function applyModes(b, modes, args, { live }) {
  let add = true;
  let arg = 0;
  for (const c of modes || '') {
    if (c === '+' || c === '-') { add = c === '+'; continue; }
    if ('ov'.includes(c)) {
      const m = b.members.get(fold(args[arg] || ''));
      const sym = c === 'o' ? '@' : '+';
      if (m) m.prefix = add ? (m.prefix.includes(sym) ? m.prefix : sym + m.prefix) : m.prefix.replace(sym, '');
      arg++;
    } else if (c === 'W') {
      const n = add ? Number(args[arg++]) || 0 : 0;
      if (n !== b.slow && live) systemLine(b, n ? t('slow_on', { n }) : t('slow_off'));
      b.slow = n;
    } else if ('bk'.includes(c) || (c === 'l' && add)) arg++;
  }
}

function parseIrcMessage(msg) {
  const text = msg.params[1] || '';
  let kind = msg.command === 'NOTICE' ? 'notice' : 'msg';
  let body = text;
  if (text.startsWith('\x01')) {
    const inner = text.replace(/^\x01|\x01$/g, '');
    if (!inner.startsWith('ACTION')) return null; // other CTCP: not shown
    kind = 'action';
    body = inner.slice(7);
  }
  const time = msg.tags.time ? new Date(msg.tags.time) : new Date();
  return { id: msg.tags.msgid || '', time: isNaN(time) ? new Date() : time, nick: msg.nick, text: body, kind };
}

// ---------------------------------------------------------------- members

function renderMembers() {
  const b = state.active ? state.buffers.get(state.active) : null;
  const aside = $('members');
  const ul = $('member-list');
  ul.textContent = '';
  $('chat').classList.toggle('no-members', !b || b.kind !== 'room');
  if (!b || b.kind !== 'room') {
    aside.hidden = true;
    $('chat').classList.remove('show-members');
    return;
  }
  aside.hidden = false;
  $('members-title').textContent = t('members_n', { n: b.members.size });
  $('members-toggle').textContent = t('members_n', { n: b.members.size });
  const rank = (m) => (m.prefix.includes('@') ? 0 : m.prefix.includes('+') ? 1 : 2);
  const list = [...b.members.values()].sort((x, y) => rank(x) - rank(y) || fold(x.nick).localeCompare(fold(y.nick)));
  for (const m of list) {
    const me = state.conn && fold(m.nick) === fold(state.conn.nick);
    const nick = h('button', { type: 'button', className: 'nick', onclick: () => openUserCard(m.nick) },
      m.prefix.includes('@') ? h('span', { className: 'prefix', title: t('operator') }, '@') : null, m.nick);
    nick.style.color = nickColor(m.nick);
    const bdg = badge(state.profiles.get(fold(m.nick)));
    bdg.dataset.nick = fold(m.nick);
    const report = me ? null : h('button', {
      type: 'button', className: 'report', title: t('report_user', { nick: m.nick }),
      'aria-label': t('report_user', { nick: m.nick }), onclick: () => openReport(m.nick),
    }, h('span', { 'aria-hidden': 'true' }, '⚑'));
    ul.append(h('li', { className: m.away ? 'away' : '' }, nick, bdg,
      m.away ? h('span', { className: 'small muted' }, t('away')) : null, report));
  }
}

function membersChanged(b) {
  renderDirectory();
  if (state.active === b.key) {
    renderMembers();
    renderBufferHead(b);
  }
}

// ---------------------------------------------------------------- IRC events

function ownNick(nick) {
  return state.conn && fold(nick) === fold(state.conn.nick);
}

function onIrc(msg) {
  const p = msg.params;
  const last = p[p.length - 1] || '';
  const inHistory = !!msg.tags.batch;
  switch (msg.command) {
    case '001':
      return;
    case 'JOIN': {
      const room = p[0];
      const b = getBuffer(room, 'room');
      if (p.length >= 3) learnProfile(msg.nick, p[2]);
      if (ownNick(msg.nick)) {
        b.joined = true;
        b.name = room;
        b.members.clear();
        state.wantRooms.set(b.key, room);
        save();
        if (state.conn.has('draft/chathistory')) state.conn.raw(`CHATHISTORY LATEST ${room} * ${HISTORY_LINES}`);
        state.conn.raw(`WHO ${room}`);
        state.conn.raw(`MODE ${room}`);
        if (state.pendingJoin === b.key || !state.active) {
          state.pendingJoin = null;
          switchTo(b.key, true);
        }
        renderBufferList();
        refreshDirectory();
      } else {
        b.members.set(fold(msg.nick), { nick: msg.nick, prefix: '' });
      }
      membersChanged(b);
      return;
    }
    case 'PART': {
      const b = getBuffer(p[0], 'room', false);
      if (!b) return;
      if (ownNick(msg.nick)) {
        b.joined = false;
        state.wantRooms.delete(b.key);
        save();
        removeBuffer(b);
        refreshDirectory();
      } else {
        b.members.delete(fold(msg.nick));
        membersChanged(b);
      }
      return;
    }
    case 'KICK': {
      const b = getBuffer(p[0], 'room', false);
      if (!b) return;
      if (ownNick(p[1])) {
        b.joined = false;
        b.members.clear();
        state.wantRooms.delete(b.key);
        save();
        const reason = p[2] || '';
        systemLine(b, t('kicked', { room: b.name, by: msg.nick, reason }));
        setStatusNote(t('removed', { reason: `${b.name}${reason ? ` — ${reason}` : ''}` }));
        renderBufferList();
      } else {
        b.members.delete(fold(p[1]));
      }
      membersChanged(b);
      return;
    }
    case 'QUIT':
      for (const b of state.buffers.values()) {
        if (b.members.delete(fold(msg.nick))) membersChanged(b);
        if (b.kind === 'pm' && b.key === fold(msg.nick)) systemLine(b, t('pm_quit', { nick: msg.nick }));
      }
      return;
    case 'NICK': {
      const from = fold(msg.nick);
      for (const b of state.buffers.values()) {
        const m = b.members.get(from);
        if (m) { b.members.delete(from); m.nick = p[0]; b.members.set(fold(p[0]), m); membersChanged(b); }
      }
      const prof = state.profiles.get(from);
      if (prof) state.profiles.set(fold(p[0]), prof);
      if (ownNick(p[0])) renderMe();
      return;
    }
    case 'MODE': {
      const b = isChannel(p[0]) ? getBuffer(p[0], 'room', false) : null;
      if (!b) return;
      applyModes(b, p[1], p.slice(2), { live: true });
      membersChanged(b);
      return;
    }
    case '324': {
      // <me> <room> <modes> [args...]: the answer to MODE <room> on join.
      const b = getBuffer(p[1] || '', 'room', false);
      if (!b) return;
      b.slow = 0;
      applyModes(b, p[2], p.slice(3), { live: false });
      if (state.active === b.key) renderBufferHead(b);
      return;
    }
    case '432':
      // <me or *> <nick> :<reason>: a nick refused, by syntax or by a rule.
      systemLine(null, t('nick_refused', { nick: p[1] || '', reason: last }));
      return;
    case 'TOPIC': {
      const b = getBuffer(p[0], 'room', false);
      if (!b) return;
      b.topic = last;
      systemLine(b, t('topic_changed', { nick: msg.nick, topic: last }));
      if (state.active === b.key) renderBufferHead(b);
      return;
    }
    case '332': {
      const b = getBuffer(p[1], 'room', false);
      if (b) { b.topic = last; if (state.active === b.key) renderBufferHead(b); }
      return;
    }
    case '353': {
      const b = getBuffer(p[2], 'room', false);
      if (!b) return;
      for (const word of last.split(' ')) {
        if (!word) continue;
        const m = /^([@+]*)(.+)$/.exec(word);
        const nick = m[2].split('!')[0];
        b.members.set(fold(nick), { nick, prefix: m[1] });
      }
      membersChanged(b);
      return;
    }
    case '352':
      // <me> <room> <user> <host> <server> <nick> <flags> :<hops> <real name>
      learnProfile(p[5], last.replace(/^\d+\s+/, ''));
      {
        const b = getBuffer(p[1], 'room', false);
        const m = b && b.members.get(fold(p[5]));
        if (m) m.away = (p[6] || '').startsWith('G');
      }
      return;
    case '315': {
      const b = getBuffer(p[1], 'room', false);
      if (b) membersChanged(b);
      return;
    }
    case '311':
      learnProfile(p[1], last);
      return;
    case 'AWAY':
      for (const b of state.buffers.values()) {
        const m = b.members.get(fold(msg.nick));
        if (m) { m.away = !!p[0]; membersChanged(b); }
      }
      return;
    case 'PRIVMSG':
    case 'NOTICE': {
      const target = p[0];
      const m = parseIrcMessage(msg);
      if (!m) return;
      const fromMe = ownNick(msg.nick);
      m.self = fromMe;
      if (!msg.nick || msg.nick.includes('.') || target === '*') {
        // A server notice: show it where the person is looking.
        systemLine(null, m.text);
        return;
      }
      let b;
      if (isChannel(target)) b = getBuffer(target, 'room', false);
      else b = getBuffer(fromMe ? target : msg.nick, 'pm');
      if (!b) return;
      if (!fromMe && b.kind === 'pm') {
        state.requests.delete(b.key);
        renderRequests();
      }
      if (fromMe && !inHistory) echoed(b, m.text);
      addMessage(b, m, { history: inHistory });
      return;
    }
    case 'REDACT': {
      // A moderator removed a message (draft/message-redaction): take it
      // out of the view, and say so.
      const b = getBuffer(isChannel(p[0]) ? p[0] : msg.nick, isChannel(p[0]) ? 'room' : 'pm', false);
      if (!b) return;
      const i = b.messages.findIndex((m) => m.id === p[1]);
      if (i >= 0) {
        b.messages[i].el.remove();
        b.messages.splice(i, 1);
      }
      systemLine(b, t('message_removed'));
      return;
    }
    case 'BATCH':
      return;
    case 'NOTE':
    case 'FAIL':
    case 'WARN':
      standardReply(msg);
      return;
    case '301':
      systemLine(getBuffer(p[1], 'pm', false), t('is_away', { nick: p[1], text: last }));
      return;
    case '401': {
      const b = getBuffer(p[1], 'pm', false);
      takeSent(b);
      systemLine(b, t('no_such_nick', { nick: p[1] }));
      return;
    }
    case '403': case '405': case '471': case '473': case '474': case '475': case '479': {
      const key = fold(p[1] || '');
      // A room awaiting review said so already (FAIL JOIN ROOM_PENDING_REVIEW).
      if (state.joinRefused && state.joinRefused.key === key && Date.now() - state.joinRefused.at < 10000) return;
      const text = t(`join_${msg.command}`, { room: p[1] }) !== `join_${msg.command}`
        ? t(`join_${msg.command}`, { room: p[1] }) : last;
      if (state.pendingJoin === key) {
        state.pendingJoin = null;
        const e = $('e-room');
        e.textContent = text;
        e.hidden = false;
        setDrawer(true);
      }
      state.wantRooms.delete(key);
      save();
      systemLine(null, text);
      return;
    }
    case '404': {
      const b = getBuffer(p[1], 'room', false);
      takeSent(b);
      systemLine(b, t('cannot_send', { room: p[1] }));
      return;
    }
    case '465': {
      // Refused at registration by a ban; the text names the ban and the
      // appeal route, and an ERROR follows (the "removed" state).
      const id = (/\b(?:ban|action)\s*(?:id\s*)?#?\s*(\d+)/i.exec(last) || [])[1] || '';
      addModNote('BAN', id, last);
      return;
    }
    default:
      // Other errors (4xx/5xx numerics) are shown where the person is.
      if (/^[45]\d\d$/.test(msg.command) && !['433', '464'].includes(msg.command)) systemLine(null, last);
  }
}

// Standard replies (IRCv3): NOTE/FAIL/WARN <command> <code> [context...] :text
function standardReply(msg) {
  const [command, code, ...rest] = msg.params;
  const description = rest.length ? rest[rest.length - 1] : '';
  const ctx = rest.slice(0, -1);
  if (command === 'PRIVMSG' && code === 'PM_REQUEST') {
    const [nick, band, gender, seconds] = ctx;
    if (!nick) return;
    state.requests.set(fold(nick), { nick, band, gender, seconds: Number(seconds) || 0, at: Date.now() });
    state.profiles.set(fold(nick), state.profiles.get(fold(nick)) || { band, gender, region: '' });
    renderRequests();
    announce(t('announce_request', { nick }));
    if (document.hidden) notify(t('notif_request', { nick }), `req-${fold(nick)}`);
    return;
  }
  if (command === 'PRIVMSG' && ['PM_REQUEST_SENT', 'PM_DECLINED', 'PM_REFUSED', 'PM_PENDING'].includes(code)) {
    const nick = ctx[0] || '';
    const b = getBuffer(nick, 'pm');
    if (code === 'PM_DECLINED') b.declined = true;
    else takeSent(b);
    systemLine(b, t(`note_${code.toLowerCase()}`, { nick }));
    return;
  }
  if (protectionReply(msg.command, command, code, ctx, description)) return;
  if (command === 'PRIVMSG' && code === 'PM_ACCEPTED') {
    const nick = ctx[0] || '';
    systemLine(getBuffer(nick, 'pm'), t('note_pm_accepted', { nick }));
    return;
  }
  if (command === 'PMACCEPT' && code === 'ACCEPTED') {
    const nick = ctx[0] || '';
    systemLine(getBuffer(nick, 'pm'), t('note_you_accepted', { nick }));
    return;
  }
  if (command === 'PMDECLINE' && code === 'DECLINED') {
    announce(t('declined_by_me', { nick: ctx[0] || '' }));
    return;
  }
  if (command === 'PMPOLICY' && code === 'SET') {
    setPmPolicy(ctx[0] || '');
    return;
  }
  if (command === 'IGNORE' && code === 'LIST') {
    // One line; the nicks are in the last parameter, space-separated.
    state.ignores = [...ctx, ...description.split(' ')].filter(Boolean);
    renderIgnores();
    return;
  }
  if (command === 'IGNORE' && code === 'ADDED') {
    const nick = ctx[0] || '';
    if (!state.ignores.some((x) => fold(x) === fold(nick))) state.ignores.push(nick);
    renderIgnores();
    systemLine(null, t('ignored_now', { nick }));
    return;
  }
  if (command === 'UNIGNORE' || (command === 'IGNORE' && code === 'REMOVED')) {
    const nick = ctx[0] || '';
    state.ignores = state.ignores.filter((x) => fold(x) !== fold(nick));
    renderIgnores();
    if (msg.command !== 'FAIL') return;
  }
  if (command === 'MODERATION') {
    // NOTE MODERATION <ACTION> <action id> :<statement of reasons>
    addModNote((code || '').toUpperCase(), ctx[0] || '', description);
    return;
  }
  if (command === 'CHATHISTORY' && msg.command === 'FAIL') return; // history is a nicety
  const target = ctx[0] && state.buffers.get(fold(ctx[0]));
  systemLine(target || null, description || `${command} ${code}`);
}

// The server's fixed protection texts come in English; the page shows its
// own words for them (srv_<CODE> in i18n.js), and the server's text for
// anything else (a rule's reason is written in its pack's language).
function fixedText(code, description) {
  const key = `srv_${code}`;
  const s = t(key);
  return s === key ? description : s;
}

// The automatic protection's replies (docs/web.md). Returns true when the
// line was one of them.
function protectionReply(kind, command, code, ctx, rawDescription) {
  const description = kind === 'NOTE' ? fixedText(code, rawDescription) : rawDescription;
  if (command === 'PRIVMSG' && kind === 'FAIL') {
    // FAIL PRIVMSG <CODE> <target> :<reason>: blocked by a rule, muted,
    // slow mode, flood and spam checks, first-contact budget, restricted.
    const b = targetBuffer(ctx[0]);
    localLine(b, { kind: 'refused', code, text: description, quote: takeSent(b) });
    return true;
  }
  if (command === 'PRIVMSG' && code === 'HELD_FOR_REVIEW') {
    const b = targetBuffer(ctx[0]);
    localLine(b, { kind: 'held', code, text: description, quote: takeSent(b) });
    return true;
  }
  if (command === 'PRIVMSG' && ['RELEASED', 'PM_RESTRICTED', 'PM_UNRESTRICTED'].includes(code)) {
    // A held message went out; new private conversations restricted, or
    // allowed again. About a conversation, or (*) about the person.
    const b = ctx[0] && ctx[0] !== '*' ? targetBuffer(ctx[0]) : state.buffers.get(state.active) || null;
    localLine(b, { kind: code === 'PM_RESTRICTED' ? 'refused' : 'system', code, text: description });
    return true;
  }
  if (command === 'JOIN' && code === 'ROOM_APPROVED') {
    localLine(getBuffer(ctx[0] || '', 'room', false), { kind: 'system', code, text: description });
    return true;
  }
  if (command === 'PRIVMSG' && code === 'OFF_PLATFORM') {
    // To the recipient, just before the message it is about.
    localLine(targetBuffer(ctx[0]), { kind: 'warn', code, text: description });
    return true;
  }
  if (command === 'PRIVMSG' && code === 'OFF_PLATFORM_SENT') {
    const b = targetBuffer(ctx[0]);
    if (b) addMessage(b, { time: new Date(), nick: '', self: false, kind: 'system', text: description });
    return true;
  }
  if (command === 'SAFETY' && code === 'TIP' && ctx[0]) {
    addTip(ctx[0], description);
    return true;
  }
  if (command === 'JOIN' && code === 'ROOM_PENDING_REVIEW') {
    const room = ctx[0] || '';
    const key = fold(room);
    if (kind === 'NOTE') {
      localLine(getBuffer(room, 'room'), { kind: 'held', code, text: description });
      return true;
    }
    // Refused: shown where join errors are, and the 403 that follows is quiet.
    state.joinRefused = { key, at: Date.now() };
    const asked = state.pendingJoin === key || (state.lastJoin && state.lastJoin.key === key);
    if (state.pendingJoin === key) state.pendingJoin = null;
    if (asked) {
      const e = $('e-room');
      e.textContent = t('join_pending_review', { room, text: description });
      e.hidden = false;
      setDrawer(true);
    }
    state.wantRooms.delete(key);
    save();
    systemLine(null, t('join_pending_review', { room, text: description }));
    return true;
  }
  if (command === 'REPORT' && state.tipReports.length) {
    const nick = state.tipReports.shift();
    const text = kind === 'NOTE' && code === 'RECEIVED'
      ? t('tip_done_id', { nick, id: ctx[0] || '?' }) : t('tip_report_failed', { nick, why: description });
    setStatusNote(text);
    announce(text);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- requests, settings, dialogs

function renderRequests() {
  const ul = $('request-list');
  ul.textContent = '';
  for (const r of state.requests.values()) {
    const p = { band: r.band, gender: r.gender, region: '' };
    const since = r.seconds + (Date.now() - r.at) / 1000;
    const nick = h('strong', { className: 'req-nick' }, r.nick);
    nick.style.color = nickColor(r.nick);
    ul.append(h('li', { className: 'request' },
      h('p', null, t('req_text_before'), nick, badge(p), ' ', t('req_text_after')),
      h('p', { className: 'small muted' }, t('req_session', { dur: formatDuration(since) }), ' · ', profileText(p)),
      h('div', { className: 'req-actions' },
        h('button', { type: 'button', className: 'primary', onclick: () => answerRequest(r.nick, true) },
          t('accept'), h('span', { className: 'sr-only' }, ` ${r.nick}`)),
        h('button', { type: 'button', onclick: () => answerRequest(r.nick, false) },
          t('decline'), h('span', { className: 'sr-only' }, ` ${r.nick}`)),
        h('button', { type: 'button', className: 'report', title: t('report_user', { nick: r.nick }),
          'aria-label': t('report_user', { nick: r.nick }), onclick: () => openReport(r.nick) },
        h('span', { 'aria-hidden': 'true' }, '⚑')))));
  }
  $('requests').hidden = state.requests.size === 0;
  updateTitle();
}

function answerRequest(nick, accept) {
  state.requests.delete(fold(nick));
  renderRequests();
  state.conn.raw(`${accept ? 'PMACCEPT' : 'PMDECLINE'} ${nick}`);
  if (accept) {
    const b = getBuffer(nick, 'pm');
    switchTo(b.key, true);
  } else {
    announce(t('declined_by_me', { nick }));
  }
}

function setPmPolicy(value) {
  state.pmPolicy = value;
  for (const r of document.querySelectorAll('input[name=pmpolicy]')) r.checked = r.value === value;
  $('pm-setting-state').textContent = value ? t('pm_setting_now', { v: t(`pm_${value}`) }) : '';
}

function renderIgnores() {
  const ul = $('ignore-list');
  ul.textContent = '';
  for (const n of state.ignores) {
    ul.append(h('li', null, h('span', null, n), ' ',
      h('button', { type: 'button', className: 'link-btn', onclick: () => unignore(n) },
        t('unignore'), h('span', { className: 'sr-only' }, ` ${n}`))));
  }
  $('ignore-empty').hidden = state.ignores.length > 0;
}

function ignore(nick) {
  state.conn.raw(`IGNORE ${nick}`);
  if (!state.ignores.some((x) => fold(x) === fold(nick))) state.ignores.push(nick);
  state.requests.delete(fold(nick));
  renderRequests();
  renderIgnores();
}

function unignore(nick) {
  state.conn.raw(`UNIGNORE ${nick}`);
  state.ignores = state.ignores.filter((x) => fold(x) !== fold(nick));
  renderIgnores();
}

let cardNick = '';
function openUserCard(nick) {
  cardNick = nick;
  const me = ownNick(nick);
  const name = $('user-card-name');
  name.textContent = nick;
  name.style.color = nickColor(nick);
  const p = state.profiles.get(fold(nick));
  $('user-card-profile').textContent = p ? profileText(p) : '';
  for (const id of ['user-card-pm', 'user-card-ignore', 'user-card-report']) $(id).hidden = me;
  $('user-card').showModal();
}

// The report dialog (docs/moderation.md, "Reports"): a message is reported
// by its msgid when it has one, so the server captures exactly that line
// and its context; a person (or a message without msgid) by nick.
let reportNick = '';
let reportTarget = '';
let reportSending = false;
function openReport(nick, m) {
  reportNick = nick;
  reportTarget = m && m.id ? m.id : nick;
  $('report-what').textContent = m ? t('report_about_msg', { nick, text: m.text.slice(0, 140) })
    : t('report_about_user', { nick });
  $('report-form').reset();
  $('report-fields').hidden = false;
  $('report-send').hidden = false;
  $('report-close').textContent = t('cancel');
  $('report-close').dataset.i18n = 'cancel';
  const result = $('report-result');
  result.textContent = '';
  result.className = 'report-result';
  const e = $('e-report-cat');
  e.hidden = true;
  e.textContent = '';
  $('report').showModal();
}

async function submitReport(ev) {
  ev.preventDefault();
  if (reportSending) return;
  const checked = document.querySelector('input[name=report-cat]:checked');
  const e = $('e-report-cat');
  if (!checked) {
    e.textContent = t('report_choose');
    e.hidden = false;
    document.querySelector('input[name=report-cat]').focus();
    return;
  }
  e.hidden = true;
  const result = $('report-result');
  result.className = 'report-result';
  result.textContent = t('report_sending');
  reportSending = true;
  $('report-send').disabled = true;
  const res = await api('POST', '/api/v1/reports', {
    target: reportTarget, category: checked.value, comment: clean($('report-comment').value.trim()),
  });
  reportSending = false;
  $('report-send').disabled = false;
  const id = res.body && res.body.id;
  if (res.status >= 200 && res.status < 300 && id !== undefined && id !== null) {
    result.textContent = t('report_received', { id });
    result.classList.add('ok');
    $('report-fields').hidden = true;
    $('report-send').hidden = true;
    $('report-close').textContent = t('close');
    $('report-close').dataset.i18n = 'close';
    $('report-close').focus();
    return;
  }
  const err = (res.body && res.body.error) || {};
  const key = `rerr_${err.code}`;
  let why;
  if (res.status === 0) why = t('err_network');
  else if (t(key) !== key) why = t(key);
  else why = err.message || t('err_unknown');
  result.textContent = t('report_failed', { why });
  result.classList.add('error');
}

// Statements of reasons: shown above the conversation, whatever is on
// screen, until dismissed; the newest one is announced (role=alert).
const MOD_NOTES_KEPT = 5;
function addModNote(action, id, text) {
  if (action === 'BAN') state.banned = true;
  const key = `${action}-${id}-${text.length}`;
  state.modNotes = state.modNotes.filter((n) => n.key !== key);
  state.modNotes.unshift({ key, action, id, text, fresh: true });
  state.modNotes.length = Math.min(state.modNotes.length, MOD_NOTES_KEPT);
  renderModeration();
  const b = state.active ? state.buffers.get(state.active) : null;
  if (b) systemLine(b, t('mod_line', { text }));
  renderStatus();
}

function renderModeration() {
  const ul = $('moderation-list');
  ul.textContent = '';
  for (const n of state.modNotes) {
    const key = `mod_action_${n.action}`;
    const action = t(key) !== key ? t(key) : n.action.toLowerCase().replace(/_/g, ' ');
    const head = n.id ? t('mod_decision', { id: n.id, action }) : action;
    ul.append(h('li', { className: `mod-note mod-${n.action.toLowerCase()}` },
      h('div', { role: n.fresh ? 'alert' : null },
        h('p', { className: 'mod-head' }, h('strong', null, head)),
        h('p', { className: 'mod-text' }, n.text),
        n.id ? h('p', { className: 'small mod-appeal' }, t('mod_appeal', { id: n.id })) : null),
      n.id ? appealForm(n) : null,
      h('button', {
        type: 'button', className: 'link-btn mod-dismiss',
        onclick: () => {
          state.modNotes = state.modNotes.filter((x) => x !== n);
          renderModeration();
          $('composer-input').focus();
        },
      }, t('close'), h('span', { className: 'sr-only' }, ` ${head}`))));
    n.fresh = false;
  }
  $('moderation').hidden = state.modNotes.length === 0;
}

// An appeal of a decision: POST /api/v1/appeals {action_id, text}; it
// works without a connection (the ticket or device cookie says who).
function appealForm(n) {
  const a = n.appeal || (n.appeal = { open: false, text: '', result: '', ok: false, sending: false });
  const idBase = `appeal-${n.key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  if (!a.open) {
    return h('button', {
      type: 'button', className: 'mod-appeal-open',
      onclick: () => { a.open = true; renderModeration(); $(`${idBase}-text`).focus(); },
    }, t('appeal_open'));
  }
  const result = h('p', { className: `appeal-result${a.ok ? ' ok' : a.result ? ' error' : ''}`, role: 'status' }, a.result);
  if (a.ok) return result;
  const area = h('textarea', { id: `${idBase}-text`, rows: '3', maxlength: '1000' });
  area.value = a.text;
  area.addEventListener('input', () => { a.text = area.value; });
  return h('form', {
    className: 'appeal-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (a.sending) return;
      const text = clean(a.text.trim());
      if (!text) { a.result = t('appeal_empty'); renderModeration(); $(`${idBase}-text`).focus(); return; }
      a.sending = true;
      const res = await api('POST', '/api/v1/appeals', { action_id: Number(n.id), text });
      a.sending = false;
      const id = res.body && res.body.id;
      if (res.status >= 200 && res.status < 300 && id !== undefined && id !== null) {
        a.ok = true;
        a.result = t('appeal_sent', { n: id });
      } else {
        const err = (res.body && res.body.error) || {};
        const key = `rerr_${err.code}`;
        const why = res.status === 0 ? t('err_network') : t(key) !== key ? t(key) : err.message || t('err_unknown');
        a.result = t('appeal_failed', { why });
      }
      renderModeration();
    },
  },
  h('label', { for: `${idBase}-text` }, t('appeal_label', { id: n.id })),
  area,
  a.result ? result : null,
  h('button', { type: 'submit', className: 'primary' }, t('appeal_send')));
}

function announce(text) {
  const el = $('announcer');
  el.textContent = '';
  el.append(document.createTextNode(text));
}

function notify(body, tag) {
  if (!state.notify || !('Notification' in window) || Notification.permission !== 'granted') return;
  try { new Notification('salon', { body, tag }); } catch { /* some browsers need a service worker */ }
}

// ---------------------------------------------------------------- connection state

let statusNote = '';
function setStatusNote(text) {
  statusNote = text;
  renderStatus();
}

function renderStatus() {
  const box = $('status');
  const text = $('status-text');
  const action = $('status-action');
  clearInterval(state.countdown);
  state.countdown = null;
  action.hidden = true;
  box.dataset.state = state.connState;
  const s = state.connState;
  if (s === 'connecting') text.textContent = t('st_connecting');
  else if (s === 'waiting') {
    const tick = () => {
      const n = Math.max(0, Math.ceil((state.waitUntil - Date.now()) / 1000));
      text.textContent = t('st_waiting', { n });
    };
    tick();
    state.countdown = setInterval(tick, 1000);
    action.hidden = false;
    action.textContent = t('reconnect_now');
  } else if (s === 'removed') {
    // After a ban, reconnecting can only be refused again: no button.
    text.textContent = t(state.banned ? 'removed_ban' : 'removed', { reason: state.removedReason || '' });
    action.hidden = state.banned;
    action.textContent = t('reconnect');
  } else text.textContent = statusNote;
  if (s === 'registered' && statusNote) {
    action.hidden = false;
    action.textContent = t('dismiss');
  }
  box.hidden = !(s && (s !== 'registered' || statusNote));
}

function onConnState(s, info) {
  state.connState = s;
  if (s === 'waiting') state.waitUntil = info.at;
  if (s === 'removed') state.removedReason = info.reason;
  if (s !== 'registered') {
    for (const b of state.buffers.values()) {
      if (b.kind === 'room') { b.joined = false; b.members.clear(); }
    }
    renderMembers();
  }
  if (s === 'registered') {
    statusNote = '';
    renderMe();
    const c = state.conn;
    c.raw('PMPOLICY');
    c.raw('IGNORE');
    if (state.wantRooms.size) c.raw(`JOIN ${[...state.wantRooms.values()].join(',')}`);
    if (c.has('draft/chathistory')) {
      for (const b of state.buffers.values()) {
        if (b.kind === 'pm') c.raw(`CHATHISTORY LATEST ${b.name} * ${HISTORY_LINES}`);
      }
    }
    if (!state.wantRooms.size && !state.active && PHONE.matches) setDrawer(true);
  }
  if (s === 'rejected') {
    recheckSession(info.reason);
    return;
  }
  renderBufferList();
  renderStatus();
}

// The server refused our ticket (464): ask the API what happened.
async function recheckSession(reason) {
  const res = await api('GET', '/api/v1/session');
  if (res.status === 200 && res.body && res.body.ticket && res.body.ticket !== state.ticket) {
    state.ticket = res.body.ticket;
    state.conn.ticket = state.ticket;
    state.conn.start();
    return;
  }
  // The browser drops the ticket cookie when it expires, so the API often
  // answers no_session; the IRC refusal (464) says "expired" itself.
  const code = res.body && res.body.error && res.body.error.code;
  leaveChat();
  showEntry(code === 'expired' || /expired/i.test(reason || '') ? 'expired' : 'invalid');
}

// ---------------------------------------------------------------- composer

const NICK_RE = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/;
const ROOM_RE = /^#[^\s,\x07:]{1,49}$/;

function clean(text) {
  return text.replace(/[\r\n]+/g, ' ').replace(/\0/g, '');
}

function sendText(b, text, action = false) {
  if (!b) { systemLine(null, t('no_target')); return; }
  if (b.kind === 'room' && !b.joined) { systemLine(b, t('not_in_room')); return; }
  if (state.connState !== 'registered') { systemLine(b, t('offline')); return; }
  for (const piece of splitUtf8(clean(text), TEXT_BYTES)) {
    const body = action ? `\x01ACTION ${piece}\x01` : piece;
    state.conn.raw(`PRIVMSG ${b.name} :${body}`);
    rememberSent(b, piece);
    if (!state.conn.has('echo-message')) {
      addMessage(b, { time: new Date(), nick: state.conn.nick, text: piece, kind: action ? 'action' : 'msg', self: true });
    }
  }
}

function joinRoom(name) {
  let room = name.trim();
  if (!room.startsWith('#')) room = `#${room}`;
  const e = $('e-room');
  e.hidden = true;
  if (!ROOM_RE.test(room)) {
    e.textContent = t('bad_room');
    e.hidden = false;
    return false;
  }
  const b = state.buffers.get(fold(room));
  if (b && b.joined) { switchTo(b.key, true); return true; }
  state.pendingJoin = fold(room);
  state.lastJoin = { key: fold(room), at: Date.now() };
  state.conn.raw(`JOIN ${room}`);
  return true;
}

function openQuery(nick, text) {
  if (!NICK_RE.test(nick)) { systemLine(null, t('bad_nick', { nick })); return; }
  const b = getBuffer(nick, 'pm');
  switchTo(b.key, true);
  if (text) sendText(b, text);
}

function runCommand(line) {
  const [cmd, ...args] = line.slice(1).split(' ');
  const rest = args.join(' ').trim();
  const b = state.active ? state.buffers.get(state.active) : null;
  switch (cmd.toLowerCase()) {
    case 'me':
      if (rest) sendText(b, rest, true);
      return;
    case 'join': case 'j':
      if (args[0]) joinRoom(args[0]);
      return;
    case 'part': case 'leave': {
      const room = args[0] && isChannel(args[0]) ? args[0] : b && b.kind === 'room' ? b.name : '';
      const reason = args[0] && isChannel(args[0]) ? args.slice(1).join(' ') : rest;
      if (room) state.conn.raw(`PART ${room}${reason ? ` :${clean(reason)}` : ''}`);
      return;
    }
    case 'msg': {
      const target = args[0] || '';
      const text = args.slice(1).join(' ');
      if (!target || !text) { systemLine(b, t('usage_msg')); return; }
      if (isChannel(target)) sendText(getBuffer(target, 'room', false), text);
      else openQuery(target, text);
      return;
    }
    case 'query': case 'q':
      if (!args[0]) { systemLine(b, t('usage_query')); return; }
      openQuery(args[0], args.slice(1).join(' '));
      return;
    case 'ignore':
      if (args[0]) ignore(args[0]);
      return;
    case 'unignore':
      if (args[0]) unignore(args[0]);
      return;
    case 'help':
      systemLine(b, t('help'));
      return;
    default:
      systemLine(b, t('unknown_command', { cmd }));
  }
}

function submitComposer(ev) {
  ev.preventDefault();
  const input = $('composer-input');
  const text = input.value;
  if (!text.trim()) return;
  input.value = '';
  if (text.startsWith('/') && !text.startsWith('//')) runCommand(text.trim());
  else sendText(state.active && state.buffers.get(state.active), text.startsWith('//') ? text.slice(1) : text);
}

// ---------------------------------------------------------------- directory

const CATEGORIES = ['theme', 'region', 'age', 'user'];

async function refreshDirectory() {
  const res = await api('GET', '/api/v1/rooms');
  const dir = $('directory');
  dir.setAttribute('aria-busy', 'false');
  if (res.status !== 200 || !res.body || !Array.isArray(res.body.rooms)) {
    dir.textContent = '';
    dir.append(h('p', { className: 'small muted' }, t('dir_unavailable')));
    return;
  }
  state.directory = res.body.rooms;
  renderDirectory();
}

function renderDirectory() {
  const dir = $('directory');
  if (!state.directory) return;
  dir.textContent = '';
  for (const cat of CATEGORIES) {
    const rooms = state.directory.filter((r) => r.category === cat)
      .sort((a, b) => (cat === 'user' ? b.members - a.members : 0) || fold(a.name).localeCompare(fold(b.name)));
    if (!rooms.length) continue;
    const ul = h('ul', { className: 'rooms' });
    for (const r of rooms) {
      const joined = state.buffers.get(fold(r.name));
      // Counts of rooms the person is in are live; the others refresh.
      const count = joined && joined.joined ? joined.members.size : r.members ?? 0;
      ul.append(h('li', null, h('button', {
        type: 'button', className: 'room', 'aria-current': joined && joined.joined ? 'true' : false,
        onclick: () => joinRoom(r.name),
      },
      h('span', { className: 'room-name' }, r.name),
      h('span', { className: 'room-count' }, String(count),
        h('span', { className: 'sr-only' }, ` ${t('members_short')}`)),
      r.topic ? h('span', { className: 'room-topic' }, r.topic) : null)));
    }
    dir.append(h('section', { className: 'dir-group' }, h('h4', null, t(`cat_${cat}`)), ul));
  }
}

// ---------------------------------------------------------------- layout

function setDrawer(open) {
  const chat = $('chat');
  const phone = PHONE.matches;
  chat.classList.toggle('drawer-open', open && phone);
  $('drawer-toggle').setAttribute('aria-expanded', String(open && phone));
  $('scrim').hidden = !(open && phone);
  $('sidebar').inert = phone && !open;
  if (open && phone) {
    const first = $('sidebar').querySelector('button');
    if (first) first.focus();
  }
}

function renderMe() {
  const me = $('me');
  me.textContent = '';
  if (!state.profile) return;
  const nick = h('strong', null, state.conn ? state.conn.nick : state.profile.nick);
  const p = { band: state.profile.age_band, gender: state.profile.gender,
    region: state.profile.show_region ? state.profile.region : '' };
  me.append(nick, ' ', badge(p));
  if (!state.profile.show_region && state.profile.region) {
    me.append(h('span', { className: 'small muted hide-phone' }, ` ${t('region_hidden')}`));
  }
}

function enterChat(session) {
  state.ticket = session.ticket;
  state.profile = session.profile || { nick: '' };
  document.body.dataset.screen = 'chat';
  $('entry').hidden = true;
  $('chat').hidden = false;
  for (const el of document.querySelectorAll('.only-chat')) el.hidden = false;
  const saved = loadSaved();
  state.notify = !!saved.notify && 'Notification' in window && Notification.permission === 'granted';
  $('notify-toggle').checked = state.notify;
  for (const r of saved.rooms || []) if (isChannel(r)) state.wantRooms.set(fold(r), r);
  for (const n of saved.pms || []) if (NICK_RE.test(n)) getBuffer(n, 'pm');
  renderMe();
  setDrawer(false);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  state.conn = new IrcConnection({
    url: `${scheme}//${location.host}/irc`, ticket: state.ticket, nick: state.profile.nick,
    onState: onConnState, onMessage: onIrc,
  });
  state.conn.start();
  refreshDirectory();
  clearInterval(state.dirTimer);
  state.dirTimer = setInterval(() => { if (!document.hidden) refreshDirectory(); }, DIRECTORY_REFRESH_MS);
  switchTo(null, false);
}

function leaveChat() {
  if (state.conn) state.conn.stop('Leaving');
  clearInterval(state.dirTimer);
  clearInterval(state.countdown);
  for (const b of state.buffers.values()) b.log.remove();
  state.buffers.clear();
  state.wantRooms.clear();
  state.requests.clear();
  state.active = null;
  state.connState = '';
  state.banned = false;
  state.modNotes = [];
  renderModeration();
}

async function leaveSalon() {
  $('settings').close();
  leaveChat();
  try { localStorage.removeItem('salon.session'); } catch { /* nothing kept */ }
  await api('DELETE', '/api/v1/session');
  location.reload();
}

// Language switch: static strings, then everything drawn from state.
function relabel() {
  applyStatic();
  const sw = $('lang-switch');
  sw.textContent = otherLang() === 'en' ? 'English' : 'Français';
  sw.lang = otherLang();
  fillRegions();
  if (document.body.dataset.screen !== 'chat') {
    const notice = $('entry-notice');
    if (!notice.hidden && notice.dataset.reason) notice.textContent = t(`reason_${notice.dataset.reason}`);
    return;
  }
  for (const b of state.buffers.values()) {
    b.log.setAttribute('aria-label', t(b.kind === 'pm' ? 'log_pm' : 'log_room', { name: b.name }));
    const keep = b.messages.slice();
    b.log.textContent = '';
    b.messages = [];
    b.ids.clear();
    for (const m of keep) addMessage(b, m, { history: true, append: true });
  }
  renderMe();
  renderDirectory();
  renderRequests();
  renderModeration();
  renderIgnores();
  setPmPolicy(state.pmPolicy);
  switchTo(state.active, false);
  renderStatus();
}

// ---------------------------------------------------------------- start

function bind() {
  $('entry-form').addEventListener('submit', submitEntry);
  $('lang-switch').addEventListener('click', () => { setLang(otherLang()); relabel(); });
  $('composer').addEventListener('submit', submitComposer);
  $('create-room').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (joinRoom($('f-room').value)) $('f-room').value = '';
  });
  $('drawer-toggle').addEventListener('click', () => setDrawer(!$('chat').classList.contains('drawer-open')));
  $('welcome-rooms').addEventListener('click', () => setDrawer(true));
  $('scrim').addEventListener('click', () => setDrawer(false));
  PHONE.addEventListener('change', () => setDrawer(false));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && $('chat').classList.contains('drawer-open')) {
      setDrawer(false);
      $('drawer-toggle').focus();
    }
    if (ev.key === 'Escape' && $('chat').classList.contains('show-members')) {
      $('chat').classList.remove('show-members');
      $('members-toggle').setAttribute('aria-expanded', 'false');
      $('members-toggle').focus();
    }
  });
  $('members-toggle').addEventListener('click', () => {
    const open = $('chat').classList.toggle('show-members');
    $('members-toggle').setAttribute('aria-expanded', String(open));
    if (open) $('members-close').focus();
  });
  $('members-close').addEventListener('click', () => {
    $('chat').classList.remove('show-members');
    $('members-toggle').setAttribute('aria-expanded', 'false');
    $('members-toggle').focus();
  });
  $('buffer-close').addEventListener('click', () => {
    const b = state.active && state.buffers.get(state.active);
    if (!b) return;
    if (b.kind === 'room' && b.joined) state.conn.raw(`PART ${b.name}`);
    else {
      if (b.kind === 'room') state.wantRooms.delete(b.key);
      removeBuffer(b);
    }
  });
  $('status-action').addEventListener('click', () => {
    if (state.connState === 'waiting' || state.connState === 'removed') state.conn.reconnectNow();
    else setStatusNote('');
  });
  $('settings-open').addEventListener('click', () => {
    renderIgnores();
    $('settings').showModal();
  });
  for (const r of document.querySelectorAll('input[name=pmpolicy]')) {
    r.addEventListener('change', () => { if (r.checked) state.conn.raw(`PMPOLICY ${r.value}`); });
  }
  $('notify-toggle').addEventListener('change', async (ev) => {
    const box = ev.target;
    if (box.checked && 'Notification' in window && Notification.permission !== 'granted') {
      const perm = await Notification.requestPermission();
      box.checked = perm === 'granted';
    }
    state.notify = box.checked;
    save();
  });
  $('leave').addEventListener('click', leaveSalon);
  $('user-card-pm').addEventListener('click', () => { $('user-card').close(); openQuery(cardNick); });
  $('user-card-ignore').addEventListener('click', () => { $('user-card').close(); ignore(cardNick); });
  $('user-card-report').addEventListener('click', () => { $('user-card').close(); openReport(cardNick); });
  $('report-ignore').addEventListener('click', () => { $('report').close(); ignore(reportNick); });
  $('report-form').addEventListener('submit', submitReport);
  $('report-close').addEventListener('click', () => $('report').close());

  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !state.active) return;
    const b = state.buffers.get(state.active);
    if (b && b.unread) { b.unread = 0; renderBufferList(); }
  });
}

async function boot() {
  relabel();
  bind();
  const res = await api('GET', '/api/v1/session');
  if (res.status === 200 && res.body && res.body.ticket) {
    enterChat(res.body);
    return;
  }
  const code = res.body && res.body.error && res.body.error.code;
  const reason = code === 'expired' ? 'expired' : res.status === 0 ? 'network' : '';
  showEntry(reason);
}

boot();
