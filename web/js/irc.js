// IRC over WebSocket (docs/protocol.md): one IRC line per WebSocket message,
// subprotocol text.ircv3.net. This module knows the wire format and the
// connection's life (registration, capabilities, reconnection); it knows
// nothing about the page.

// Capabilities the page can use; it requests those the server offers.
export const WANTED_CAPS = ['message-tags', 'server-time', 'echo-message', 'batch',
  'draft/chathistory', 'extended-join', 'multi-prefix', 'away-notify',
  'draft/message-redaction'];

const TAG_UNESCAPES = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

// Parses one line into {tags, source, nick, command, params}, or null.
export function parseLine(line) {
  let i = 0;
  const msg = { tags: {}, source: '', nick: '', command: '', params: [] };
  if (line[0] === '@') {
    const end = line.indexOf(' ');
    if (end < 0) return null;
    for (const part of line.slice(1, end).split(';')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const raw = eq < 0 ? '' : part.slice(eq + 1);
      msg.tags[key] = raw.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
    }
    i = end + 1;
  }
  while (line[i] === ' ') i++;
  if (line[i] === ':') {
    const end = line.indexOf(' ', i);
    if (end < 0) return null;
    msg.source = line.slice(i + 1, end);
    msg.nick = msg.source.split('!')[0];
    i = end + 1;
  }
  while (line[i] === ' ') i++;
  const rest = line.slice(i);
  const trail = rest.indexOf(' :');
  const head = trail < 0 ? rest : rest.slice(0, trail);
  const words = head.split(' ').filter(Boolean);
  if (!words.length) return null;
  msg.command = words.shift().toUpperCase();
  msg.params = words;
  if (trail >= 0) msg.params.push(rest.slice(trail + 2));
  else if (rest.startsWith(':')) { msg.command = ''; return null; }
  return msg;
}

// CASEMAPPING=ascii (docs/protocol.md, ISUPPORT).
export function fold(name) {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export function isChannel(name) {
  return name.startsWith('#');
}

// Splits text into pieces of at most maxBytes of UTF-8 each, at code point
// boundaries, so a long message survives the 512-byte line limit.
export function splitUtf8(text, maxBytes) {
  const enc = new TextEncoder();
  const out = [];
  let cur = '';
  let bytes = 0;
  for (const ch of text) {
    const n = enc.encode(ch).length;
    if (bytes + n > maxBytes && cur) { out.push(cur); cur = ''; bytes = 0; }
    cur += ch;
    bytes += n;
  }
  if (cur) out.push(cur);
  return out;
}

// Error lines that mean "the server went away", after which reconnecting is
// right; anything else in an ERROR line is a removal the user must see.
const TRANSIENT = /^(Server shutting down|Ping timeout.*|SendQ exceeded|Server is full|Too many connections.*|Connection closed|Closing|Nickname is already in use)$/i;

const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30000;

// One IRC session over successive WebSockets. Events (onX callbacks):
//   state(s, info)  s: 'connecting' | 'registered' | 'waiting' | 'removed' | 'rejected' | 'closed'
//   message(msg)    every parsed line after the connection logic saw it
export class IrcConnection {
  constructor({ url, ticket, nick, onState, onMessage }) {
    this.url = url;
    this.ticket = ticket;
    this.wantNick = nick;
    this.nick = nick;
    this.onState = onState;
    this.onMessage = onMessage;
    this.caps = new Set();
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.registered = false;
    this.lastError = '';
    this.rejected = '';
  }

  start() {
    this.stopped = false;
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    this.timer = null;
    this.registered = false;
    this.caps = new Set();
    this.lastError = '';
    this.rejected = '';
    this.lsCaps = [];
    this.onState('connecting', {});
    let ws;
    try {
      ws = new WebSocket(this.url, 'text.ircv3.net');
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.raw('CAP LS 302');
      this.raw(`PASS ${this.ticket}`);
      this.raw(`NICK ${this.wantNick}`);
      this.raw(`USER ${this.wantNick} 0 * :${this.wantNick}`);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      for (const line of ev.data.split(/\r?\n/)) {
        if (!line) continue;
        const msg = parseLine(line);
        if (msg) this.handle(msg);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed();
    };
  }

  closed() {
    if (this.stopped) { this.onState('closed', {}); return; }
    if (this.rejected) { this.onState('rejected', { reason: this.rejected }); return; }
    if (this.lastError && !TRANSIENT.test(this.lastError)) {
      this.onState('removed', { reason: this.lastError });
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    // Exponential back-off with full jitter between half and all of the step,
    // so a restarted server is not hit by every page at the same instant.
    const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.round(step / 2 + Math.random() * step / 2);
    this.attempt++;
    const at = Date.now() + delay;
    this.timer = setTimeout(() => this.open(), delay);
    this.onState('waiting', { at });
  }

  reconnectNow() {
    if (this.ws) return;
    this.attempt = 0;
    this.open();
  }

  stop(reason) {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      try { this.raw(`QUIT :${reason || 'Leaving'}`); } catch { /* closing anyway */ }
      this.ws.close();
      this.ws = null;
    }
  }

  raw(line) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(line);
    return true;
  }

  has(cap) {
    return this.caps.has(cap);
  }

  handle(msg) {
    const p = msg.params;
    switch (msg.command) {
      case 'PING':
        this.raw(`PONG :${p[0] || ''}`);
        return;
      case 'CAP':
        this.handleCap(msg);
        return;
      case '001':
        this.registered = true;
        this.attempt = 0;
        this.nick = p[0];
        this.onState('registered', {});
        break;
      case '464':
        this.rejected = p[p.length - 1] || 'rejected';
        break;
      case '433':
        // Our own previous connection may still hold the nick (it times
        // out): go away and come back with the usual back-off.
        if (!this.registered) {
          this.lastError = 'Nickname is already in use';
          if (this.ws) this.ws.close();
        }
        break;
      case 'ERROR':
        {
          // "Closing Link: <who> (<reason>)"; the reason may itself hold
          // parentheses ("You are banned (ban 3): …"), so take it whole.
          const text = p[0] || '';
          const m = /^Closing Link:\s*\S*\s*\((.*)\)\s*$/.exec(text) || /\(([^()]*)\)\s*$/.exec(text);
          this.lastError = (m ? m[1] : text) || 'Closing';
        }
        break;
      case 'NICK':
        if (fold(msg.nick) === fold(this.nick)) this.nick = p[0];
        break;
      default:
        break;
    }
    this.onMessage(msg);
  }

  handleCap(msg) {
    const p = msg.params;
    const sub = (p[1] || '').toUpperCase();
    if (sub === 'LS') {
      const more = p[2] === '*';
      const list = more ? p[3] : p[2];
      for (const item of (list || '').split(' ')) if (item) this.lsCaps.push(item.split('=')[0]);
      if (more) return;
      const req = WANTED_CAPS.filter((c) => this.lsCaps.includes(c));
      if (req.length) this.raw(`CAP REQ :${req.join(' ')}`);
      else this.raw('CAP END');
    } else if (sub === 'ACK') {
      for (const c of (p[2] || '').split(' ')) {
        if (!c) continue;
        if (c.startsWith('-')) this.caps.delete(c.slice(1));
        else this.caps.add(c);
      }
      if (!this.registered) this.raw('CAP END');
    } else if (sub === 'NAK') {
      if (!this.registered) this.raw('CAP END');
    }
  }
}
