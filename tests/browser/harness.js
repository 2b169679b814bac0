// Test harness: the real salon binary on free loopback ports with a temp
// data_dir, and Debian's Chromium driven by playwright-core.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../..');
export const SALON_BIN = process.env.SALON_BIN || join(REPO, 'build/release/salon');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO, 'build/screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitListening(url, child, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`salon exited early with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/api/v1/rooms`);
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`salon did not answer at ${url} within ${deadlineMs} ms`);
}

// One salon server. start() and stop() may be called again on the same
// ports and data_dir (a restart).
export class Salon {
  constructor(extraConfig = '') {
    this.dir = mkdtempSync(join(tmpdir(), 'salon-web-'));
    this.extraConfig = extraConfig;
    // How long start() waits for the HTTP listener: the rule packs are
    // compiled before salon listens, which takes seconds, and more on a
    // busy machine.
    this.startTimeoutMs = 60000;
    this.child = null;
    this.log = '';
  }

  // Ports and salon.conf, once per server (start() calls it too).
  async prepare() {
    if (!this.httpPort) {
      this.httpPort = await freePort();
      this.ircPort = await freePort();
      mkdirSync(join(this.dir, 'data'), { recursive: true });
      writeFileSync(join(this.dir, 'salon.conf'), [
        '[server]', 'name = salon.test', `data_dir = ${join(this.dir, 'data')}`, 'log_level = info',
        '[listen]', `irc = 127.0.0.1:${this.ircPort}`, `http = 127.0.0.1:${this.httpPort}`,
        `web_root = ${join(REPO, 'web')}`,
        '[entry]', 'open_registration = false',
        '[protection]', `rules_dir = ${join(REPO, 'rules')}`,
        `rules_cache = ${join(tmpdir(), `salon-rules-cache-${process.getuid()}`)}`,
        this.extraConfig, '',
      ].join('\n'));
    }
    this.config = join(this.dir, 'salon.conf');
    return this;
  }

  // A staff account (docs/moderation.md): `salon staff add`, the password on
  // standard input. Accounts are read when salon starts: call before start().
  async addStaff(name, password, role = 'moderator') {
    await this.prepare();
    const res = spawnSync(SALON_BIN, ['staff', 'add', name, '--role', role, '--config', this.config], {
      input: `${password}\n`, encoding: 'utf8', timeout: 20000,
    });
    if (res.status !== 0) {
      throw new Error(`salon staff add ${name} exited with ${res.status}: ${res.stderr}${res.stdout}`);
    }
    return this;
  }

  async start() {
    await this.prepare();
    this.url = `http://127.0.0.1:${this.httpPort}`;
    const child = spawn(SALON_BIN, ['--config', join(this.dir, 'salon.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (d) => { this.log += d; });
    child.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
    await waitListening(this.url, child, this.startTimeoutMs);
    return this;
  }

  // SIGTERM; resolves with the exit status ({code, signal}).
  async stop() {
    if (!this.child) return { code: 0, signal: null };
    const child = this.child;
    this.child = null;
    if (child.exitCode !== null) return { code: child.exitCode, signal: null };
    child.kill('SIGTERM');
    const timeout = new Promise((ok) => setTimeout(() => ok(null), 10000));
    const res = await Promise.race([this.exited, timeout]);
    if (!res) {
      child.kill('SIGKILL');
      return { code: null, signal: 'timeout' };
    }
    return res;
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A fresh browser context is a fresh device (its own cookies).
export async function newUser(browser, salon, { viewport = DESKTOP, locale = 'fr-FR' } = {}) {
  const context = await browser.newContext({ viewport, locale, baseURL: salon.url });
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  return { context, page };
}

// Fills the entry form and submits it.
export async function fillEntry(page, { nick, age, gender = 'woman', region = '75', showRegion = false, rules = true }) {
  await page.goto('/');
  await page.locator('#f-nick').waitFor();
  await page.fill('#f-nick', nick);
  await page.fill('#f-age', String(age));
  await page.check(`input[name=gender][value=${gender}]`);
  await page.selectOption('#f-region', region);
  if (showRegion) await page.check('#f-show-region');
  if (rules) await page.check('#f-rules');
  await page.click('#entry-submit');
}

// Enters and waits until the IRC connection is registered.
export async function enter(page, profile) {
  await fillEntry(page, profile);
  await waitConnected(page);
}

export async function waitConnected(page) {
  await page.locator('#chat').waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.getElementById('status').hidden
    && document.getElementById('me').textContent.length > 0);
}

// Joins a room from the directory (one click) and waits until it is shown.
export async function joinFromDirectory(page, room) {
  const phone = (page.viewportSize() || DESKTOP).width < 800;
  if (phone && !(await page.locator('#chat.drawer-open').count())) await page.click('#drawer-toggle');
  await page.locator('#directory .room', { hasText: room }).first().click();
  await page.waitForFunction((r) => document.getElementById('buffer-name').textContent === r
    && !document.getElementById('composer').hidden, room);
}

export async function say(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

// The visible log of the conversation on screen.
export function activeLog(page) {
  return page.locator('.log:not([hidden])');
}

// The message rows of the visible conversation that contain text.
export function messageRow(page, text) {
  return activeLog(page).locator('.msg', { hasText: text });
}

// JavaScript errors on the pages fail the test. API refusals (4xx) are
// expected answers; Chromium logs them anyway.
export function noPageErrors(...pages) {
  for (const p of pages) {
    const errors = p.errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
    assert.deepEqual(errors, [], 'errors on the page');
  }
}

export async function runAxe(page) {
  // page.evaluate goes through the DevTools protocol, which the page's CSP
  // does not govern, so axe needs no inline <script>.
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE_SOURCE);
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function describeViolations(violations) {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n  ')}`).join('\n');
}

let seq = 0;
// Unique, valid nicks per run so tests never collide.
export function nick(base) {
  seq++;
  return `${base}${seq}${Math.floor(Math.random() * 900 + 100)}`.slice(0, 30);
}

// A staff session through the API (docs/moderation.md), on a browser
// context's request object (its own cookie jar): the CSRF token of the
// login goes with every POST and DELETE. Logins are limited per address,
// so open one per file and reuse it.
export async function staffApi(context, name, password) {
  const req = context.request;
  const res = await req.post('/api/v1/staff/login', { data: { name, password } });
  if (res.status() !== 200) throw new Error(`staff login: ${res.status()} ${await res.text()}`);
  const { csrf } = await res.json();
  const headers = { 'X-CSRF-Token': csrf };
  return {
    get: (path) => req.get(path),
    post: (path, data) => req.post(path, { data, headers }),
    delete: (path, data) => req.delete(path, { data, headers }),
  };
}

// Fails with the list of serious or critical accessibility violations on
// the page, if any; `what` names the screen in the message.
export async function assertNoSeriousA11y(page, what) {
  const v = await runAxe(page);
  assert.deepEqual(v, [], `${what}:\n${describeViolations(v)}`);
}

// Opens a private conversation with /msg and writes the first message.
export async function privateMessage(page, to, text) {
  await say(page, `/msg ${to} ${text}`);
  await page.waitForFunction((n) => document.getElementById('buffer-name').textContent === n, to);
}

// Fills and sends the dashboard's login form (it does not wait for the
// outcome: a test may expect a refusal).
export async function staffLogin(page, name, password) {
  await page.goto('/mod/');
  await page.locator('#l-name').waitFor();
  await page.fill('#l-name', name);
  await page.fill('#l-password', password);
  await page.click('#login-submit');
}

// Closes the browser contexts a test opened and empties the list: every
// open page is an IRC connection, and salon limits them per address.
export async function closeContexts(contexts) {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
}

// Stops a file's server, removes its files, and fails unless it exited
// cleanly.
export async function stopSalon(salon) {
  const res = await salon.stop();
  salon.cleanup();
  assert.deepEqual(res, { code: 0, signal: null }, `salon did not stop cleanly:\n${salon.log}`);
}
