// DOM helpers. Text from users only ever enters the page through
// document.createTextNode / textContent: no function here takes HTML.

import { t } from './i18n.js';
import { departementName } from './regions.js';

// h('p', {className: 'x'}, 'text', child) — attributes are set from code,
// children that are strings become text nodes.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'className') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

// Only absolute http(s) URLs become links; everything else stays text.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"»]+$/;

export function safeHref(candidate) {
  try {
    const u = new URL(candidate);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.href;
  } catch {
    return null;
  }
}

// Appends text to el, turning http(s) URLs into links that open in a new
// tab without giving it a handle on this page.
export function appendLinkified(el, text) {
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const trail = TRAILING.exec(url);
    if (trail) url = url.slice(0, url.length - trail[0].length);
    const href = safeHref(url);
    if (!href) continue;
    if (m.index > last) el.append(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement('a');
    a.href = href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    a.textContent = url;
    el.append(a);
    last = m.index + url.length;
  }
  if (last < text.length) el.append(document.createTextNode(text.slice(last)));
}

// Nick colours: each passes WCAG AA (4.5:1) on the message background.
const PALETTE = ['#b3261e', '#a0430a', '#6f5300', '#256528', '#00695c', '#0061a4',
  '#3949ab', '#7b1fa2', '#ad1457', '#5d4037', '#455a64', '#006069'];

export function nickColor(nick) {
  let hash = 5381;
  const s = nick.toLowerCase();
  for (let i = 0; i < s.length; i++) hash = ((hash * 33) ^ s.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

const BANDS = new Set(['18-24', '25-34', '35-49', '50+', '?']);
const GENDERS = new Set(['woman', 'man', 'other', 'unsaid']);

// The public profile the server puts in the real name (docs/protocol.md,
// "Profiles"): "<age band> <gender>[ <region>]". Anything else: null.
export function parseProfile(realname) {
  const parts = (realname || '').trim().split(/\s+/);
  if (parts.length < 2 || parts.length > 3) return null;
  if (!BANDS.has(parts[0]) || !GENDERS.has(parts[1])) return null;
  return { band: parts[0], gender: parts[1], region: parts[2] || '' };
}

const GENDER_SIGN = { woman: '♀', man: '♂', other: '⚧', unsaid: '' };

export function bandText(band) {
  return band === '?' ? t('band_unknown') : band.replace('-', '–');
}

export function regionText(code) {
  const abroad = { BE: 'r_be', CH: 'r_ch', CA: 'r_ca', other: 'r_other' }[code];
  if (abroad) return t(abroad);
  const name = departementName(code);
  return name ? `${name} (${code})` : code;
}

// Full words, for titles and screen readers.
export function profileText(p) {
  if (!p) return '';
  const parts = [t('band_years', { band: bandText(p.band) }), t(`g_${p.gender}`)];
  if (p.region) parts.push(regionText(p.region));
  return parts.join(', ');
}

// The small badge: "25–34 ♀ 75". Symbols are hidden from screen readers,
// which read the words instead.
export function badge(p) {
  const el = h('span', { className: 'badge' });
  fillBadge(el, p);
  return el;
}

export function fillBadge(el, p) {
  el.textContent = '';
  if (!p) { el.hidden = true; return; }
  el.hidden = false;
  el.dataset.gender = p.gender;
  const short = [p.band === '?' ? '?' : bandText(p.band), GENDER_SIGN[p.gender], p.region]
    .filter(Boolean).join(' ');
  el.title = profileText(p);
  el.append(h('span', { 'aria-hidden': 'true' }, short), h('span', { className: 'sr-only' }, ` (${profileText(p)})`));
}

export function formatTime(date, lang) {
  return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(date);
}

// "3 min", "2 h", "5 days" — how long a session has existed.
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return t('dur_s', { n: s });
  if (s < 3600) return t('dur_min', { n: Math.floor(s / 60) });
  if (s < 86400) return t('dur_h', { n: Math.floor(s / 3600) });
  return t('dur_d', { n: Math.floor(s / 86400) });
}
