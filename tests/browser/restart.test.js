// The page survives a server restart: same session, rooms re-joined,
// history fetched again. Its own server, since it is stopped mid-test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Salon, launchBrowser, newUser, enter, waitConnected, joinFromDirectory, say, activeLog, nick } from './harness.js';

let salon;
let browser;
let short;

after(async () => {
  if (browser) await browser.close();
  for (const s of [salon, short]) {
    if (!s) continue;
    await s.stop();
    s.cleanup();
  }
});

test('a reconnect after the server restarts keeps the session and re-joins the rooms', async () => {
  salon = await new Salon().start();
  browser = await launchBrowser();
  const alice = nick('Alice');
  const bob = nick('Bob');
  const a = await newUser(browser, salon);
  const b = await newUser(browser, salon);
  await enter(a.page, { nick: alice, age: 26, gender: 'woman', region: '75', showRegion: true });
  await enter(b.page, { nick: bob, age: 44, gender: 'man', region: '92' });
  await joinFromDirectory(a.page, '#paris');
  await joinFromDirectory(b.page, '#paris');
  await say(a.page, 'avant le redémarrage');
  await activeLog(b.page).locator('.msg', { hasText: 'avant le redémarrage' }).waitFor();

  // Lines the page sends on its sockets from now on.
  const sent = [];
  a.page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));

  const stopped = await salon.stop();
  assert.deepEqual(stopped, { code: 0, signal: null }, `SIGTERM should exit 0:\n${salon.log}`);
  await a.page.locator('#status[data-state=waiting]').waitFor();
  assert.match(await a.page.locator('#status-text').innerText(), /Déconnecté — nouvelle tentative dans \d+ s/);

  await salon.start();
  await waitConnected(a.page);
  await waitConnected(b.page);
  // Same session: no entry screen, same pseudonym and profile.
  assert.ok(await a.page.locator('#entry').isHidden());
  assert.match(await a.page.locator('#me').innerText(), new RegExp(`^${alice}`));
  assert.match(await a.page.locator('#me .badge').innerText(), /25–34 ♀ 75/);
  // Rooms re-joined, history asked again.
  await a.page.locator('#member-list li', { hasText: bob }).waitFor();
  assert.ok(sent.some((l) => l.startsWith('PASS ')), 'the page presented its ticket again');
  assert.ok(sent.some((l) => /^JOIN #paris\b/.test(l)), 'the page re-joined #paris');
  assert.ok(sent.some((l) => l === 'CHATHISTORY LATEST #paris * 50'), 'the page re-fetched history');
  await say(b.page, 'après le redémarrage');
  await activeLog(a.page).locator('.msg', { hasText: 'après le redémarrage' }).waitFor();
  // The earlier message is shown once, not duplicated by the history replay.
  assert.equal(await activeLog(a.page).locator('.msg', { hasText: 'avant le redémarrage' }).count(), 1);

  // A reload re-enters with the cookie, straight into the chat, rooms kept.
  await a.page.reload();
  await waitConnected(a.page);
  assert.ok(await a.page.locator('#entry').isHidden());
  await a.page.waitForFunction(() => document.getElementById('buffer-name').textContent === '#paris');
  await activeLog(a.page).locator('.msg', { hasText: 'après le redémarrage' }).waitFor();
  assert.deepEqual(a.page.errors.filter((e) => !/status of 4\d\d/.test(e)), []);
});

test('an expired ticket leads back to the entry screen with the reason', async () => {
  // Tickets that live 2 seconds; the page notices at its next connection.
  short = await new Salon('[entry]\nticket_ttl = 2').start();
  browser = browser || await launchBrowser();
  const u = await newUser(browser, short);
  await enter(u.page, { nick: nick('Ephemere'), age: 40, gender: 'unsaid', region: '971' });
  const res = await u.page.request.get('/api/v1/session');
  const expires = Date.parse((await res.json()).expires);
  await u.page.waitForFunction((t) => Date.now() > t + 100, expires, { polling: 100, timeout: 5000 });
  assert.deepEqual(await short.stop(), { code: 0, signal: null });
  await short.start();
  await u.page.locator('#entry-notice', { hasText: 'Votre session a expiré' }).waitFor();
  assert.ok(await u.page.locator('#chat').isHidden());
  assert.ok(await u.page.locator('#entry-form').isVisible());
  await u.context.close();
});
