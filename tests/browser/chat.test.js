// The chat page in headless Chromium against the real salon binary
// (issue 3, "Must show"). One server and one browser for this file; every
// test uses its own browser contexts (= devices) and nicks.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Salon, launchBrowser, newUser, enter, fillEntry, joinFromDirectory, say, nick, SCREENSHOTS,
  DESKTOP, PHONE, messageRow, noPageErrors, privateMessage, assertNoSeriousA11y, closeContexts,
  stopSalon,
} from './harness.js';

let salon;
let browser;
const contexts = [];

before(async () => {
  salon = await new Salon().start();
  browser = await launchBrowser();
});

// Each test closes its contexts: every open page is an IRC connection, and
// salon limits connections per address ([limits] per_address).
afterEach(() => closeContexts(contexts));

after(async () => {
  if (browser) await browser.close();
  if (salon) await stopSalon(salon);
});

async function user(opts) {
  const u = await newUser(browser, salon, opts);
  contexts.push(u.context);
  return u;
}


test('two people enter with different profiles and talk in the same room, each seeing the other\'s badge', async () => {
  const alice = nick('Alice');
  const bob = nick('Bob');
  const a = await user();
  const b = await user();
  await enter(a.page, { nick: alice, age: 27, gender: 'woman', region: '75', showRegion: true });
  await enter(b.page, { nick: bob, age: 41, gender: 'man', region: '69', showRegion: false });
  await joinFromDirectory(a.page, '#amitie');
  await joinFromDirectory(b.page, '#amitie');
  await say(a.page, 'Bonjour tout le monde');
  await messageRow(b.page, 'Bonjour tout le monde').waitFor();
  await say(b.page, 'Salut, ça va ?');
  await messageRow(a.page, 'Salut, ça va ?').waitFor();

  // Bob sees Alice's band, gender and region (she chose to show it).
  const aliceRow = messageRow(b.page, 'Bonjour tout le monde');
  assert.equal(await aliceRow.locator('.nick').innerText(), alice);
  await aliceRow.locator('.badge:not([hidden])').waitFor();
  assert.equal(await aliceRow.locator('.badge [aria-hidden=true]').innerText(), '25–34 ♀ 75');
  // Alice sees Bob's band and gender, and not his region (hidden).
  const bobRow = messageRow(a.page, 'Salut, ça va ?');
  assert.equal(await bobRow.locator('.nick').innerText(), bob);
  await bobRow.locator('.badge:not([hidden])').waitFor();
  assert.equal(await bobRow.locator('.badge [aria-hidden=true]').innerText(), '35–49 ♂');
  // Member list: both, with bands; exact ages never appear.
  await a.page.locator('#member-list li', { hasText: bob }).waitFor();
  const members = await a.page.locator('#member-list').innerText();
  assert.match(members, new RegExp(alice));
  assert.match(members, /35–49/);
  const badgesB = (await b.page.locator('.badge').allInnerTexts()).join(' ');
  const badgesA = (await a.page.locator('.badge').allInnerTexts()).join(' ');
  assert.doesNotMatch(badgesB + await b.page.locator('#member-list').innerText(), /\b27\b/);
  assert.doesNotMatch(badgesA + members, /\b41\b/);
  // Every message from someone else has a visible report action.
  assert.equal(await bobRow.locator('button.report').count(), 1);
  noPageErrors(a.page, b.page);
});

test('a private conversation starts with a request the recipient accepts; a declined request delivers nothing', async () => {
  const carol = nick('Carol');
  const dan = nick('Dan');
  const eve = nick('Eve');
  const c = await user();
  const d = await user();
  const e = await user();
  await enter(c.page, { nick: carol, age: 38, gender: 'woman', region: '13' });
  await enter(d.page, { nick: dan, age: 30, gender: 'man', region: '33' });
  await enter(e.page, { nick: eve, age: 52, gender: 'other', region: 'BE' });

  // Carol asks; Dan sees a card with her pseudonym, band and session age, not her text.
  await privateMessage(c.page, dan, 'Coucou, on discute ?');
  await messageRow(c.page, 'Demande envoyée').waitFor();
  const card = d.page.locator('.request', { hasText: carol });
  await card.waitFor();
  assert.equal(await d.page.title(), '(1) salon', 'title badge for a waiting request');
  assert.match(await card.innerText(), /35–49/);
  assert.match(await card.innerText(), /Session ouverte depuis \d+ s/);
  assert.doesNotMatch(await d.page.locator('body').innerText(), /Coucou, on discute/);
  await card.getByRole('button', { name: /Accepter/ }).click();
  await d.page.waitForFunction((n) => document.getElementById('buffer-name').textContent === n, carol);
  await messageRow(d.page, 'Coucou, on discute ?').waitFor();
  await say(d.page, 'Avec plaisir !');
  await messageRow(c.page, 'Avec plaisir !').waitFor();
  assert.equal(await d.page.locator('.request').count(), 0);

  // Dan looks elsewhere: Carol's next message counts as unread on her tab.
  await joinFromDirectory(d.page, '#accueil');
  await say(c.page, 'Tu es toujours là ?');
  await d.page.locator('#buffers button', { hasText: carol }).locator('.unread', { hasText: '1' }).waitFor();
  assert.equal(await d.page.title(), '(1) salon');
  await d.page.locator('#buffers button', { hasText: carol }).click();
  await messageRow(d.page, 'Tu es toujours là ?').waitFor();
  assert.equal(await d.page.title(), 'salon');

  // Eve asks; Dan declines: her text never reaches him, and she is told.
  await d.page.locator('#buffers button', { hasText: '#accueil' }).click();
  await joinFromDirectory(e.page, '#accueil');
  await privateMessage(e.page, dan, 'texte-secret-1');
  const card2 = d.page.locator('.request', { hasText: eve });
  await card2.waitFor();
  await card2.getByRole('button', { name: /Refuser/ }).click();
  await messageRow(e.page, 'a refusé').waitFor();
  await say(e.page, 'texte-secret-2');
  // A later room message from Eve reaching Dan proves nothing earlier is in flight.
  await e.page.locator('#buffers button', { hasText: '#accueil' }).click();
  await say(e.page, 'fin du test');
  await d.page.locator('#buffers button', { hasText: '#accueil' }).click();
  await messageRow(d.page, 'fin du test').waitFor();
  const everything = await d.page.evaluate(() => document.body.textContent);
  assert.doesNotMatch(everything, /texte-secret/);
  assert.equal(await d.page.locator('#buffers button', { hasText: eve }).count(), 0, 'no conversation tab for Eve');
  noPageErrors(c.page, d.page, e.page);
});

test('an under-18 entry is refused kindly, and the same device cannot retry with another age', async () => {
  const k = await user();
  await fillEntry(k.page, { nick: nick('Kid'), age: 15, gender: 'unsaid', region: '59' });
  const box = k.page.locator('#underage');
  await box.waitFor();
  const text = await box.innerText();
  assert.match(text, /réservé aux adultes/);
  assert.match(text, /3018/);
  assert.match(text, /119/);
  assert.ok(await k.page.locator('#entry-form').isHidden(), 'no form to retry from');
  assert.ok(await k.page.locator('#chat').isHidden());

  // Same context = same device cookie: a new try with another age is refused too.
  await fillEntry(k.page, { nick: nick('Adult'), age: 25, gender: 'unsaid', region: '59' });
  await box.waitFor();
  assert.ok(await k.page.locator('#chat').isHidden());
  const res = await k.page.request.post('/api/v1/session', {
    data: { nick: nick('Again'), age: 30, gender: 'man', region: '59', accept_rules: true },
  });
  assert.equal(res.status(), 429);
  assert.equal((await res.json()).error.code, 'age_locked');

  // Another device is not affected.
  const other = await user();
  await enter(other.page, { nick: nick('Grownup'), age: 25, gender: 'unsaid', region: '59' });
  noPageErrors(k.page, other.page);
});

test('the private-message setting "nobody" blocks a private message with a visible reason for the sender', async () => {
  const fay = nick('Fay');
  const gus = nick('Gus');
  const f = await user();
  const g = await user();
  await enter(f.page, { nick: fay, age: 33, gender: 'woman', region: '2A' });
  await enter(g.page, { nick: gus, age: 45, gender: 'man', region: 'CH' });
  await f.page.click('#settings-open');
  await f.page.getByLabel('Personne', { exact: true }).check();
  await f.page.locator('#pm-setting-state', { hasText: 'Personne' }).waitFor();
  await f.page.keyboard.press('Escape');

  await privateMessage(g.page, fay, 'tu es là ?');
  const reason = messageRow(g.page, 'n’accepte pas de messages privés');
  await reason.waitFor();
  assert.ok(await reason.isVisible());
  assert.equal(await f.page.locator('.request').count(), 0);
  assert.doesNotMatch(await f.page.evaluate(() => document.body.textContent), /tu es là/);
  noPageErrors(f.page, g.page);
});

test('ignore stops a person\'s messages on the server; report opens the report dialog', async () => {
  const kim = nick('Kim');
  const leo = nick('Leo');
  const mia = nick('Mia');
  const k = await user();
  const l = await user();
  const m = await user();
  await enter(k.page, { nick: kim, age: 28, gender: 'woman', region: '06' });
  await enter(l.page, { nick: leo, age: 35, gender: 'man', region: '974' });
  await enter(m.page, { nick: mia, age: 61, gender: 'woman', region: 'other' });
  for (const u of [k, l, m]) await joinFromDirectory(u.page, '#marseille');
  await say(l.page, 'message de Leo');
  const row = messageRow(k.page, 'message de Leo');
  await row.waitFor();

  // Report: a visible action on the message opens the report dialog.
  await row.getByRole('button', { name: `Signaler ce message de ${leo}` }).click();
  const dialog = k.page.locator('#report');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Que se passe-t-il/);
  assert.match(await dialog.innerText(), /message de Leo/);
  // Ignore from the dialog.
  await dialog.getByRole('button', { name: 'Ignorer' }).click();
  await messageRow(k.page, `Vous ignorez ${leo}`).waitFor();
  await say(l.page, 'Leo encore');
  await say(m.page, 'Mia parle après Leo');
  await messageRow(k.page, 'Mia parle après Leo').waitFor();
  assert.equal(await messageRow(k.page, 'Leo encore').count(), 0, 'ignored person\'s message not delivered');
  await messageRow(m.page, 'Leo encore').waitFor();
  // The settings panel lists the ignored person.
  await k.page.click('#settings-open');
  await k.page.locator('#ignore-list li', { hasText: leo }).waitFor();
  noPageErrors(k.page, l.page, m.page);
});

const PAYLOAD = '<img src=x onerror=alert(1)><script>window.pwned=1</script><b>gras</b>';

test('an HTML/script payload arrives as inert text', async () => {
  const hal = nick('Hal');
  const ian = nick('Ian');
  const hh = await user();
  const ii = await user();
  await enter(hh.page, { nick: hal, age: 29, gender: 'man', region: '31' });
  await enter(ii.page, { nick: ian, age: 24, gender: 'woman', region: '44' });
  await joinFromDirectory(hh.page, '#musique');
  await joinFromDirectory(ii.page, '#musique');
  await say(hh.page, PAYLOAD);
  const row = messageRow(ii.page, 'onerror=alert(1)');
  await row.waitFor();
  assert.equal(await row.locator('.text').innerText(), PAYLOAD);
  for (const p of [hh.page, ii.page]) {
    assert.equal(await p.locator('img').count(), 0, 'no img element created');
    assert.equal(await p.locator('.log script, .log b').count(), 0);
    assert.equal(await p.evaluate(() => window.pwned), undefined);
    assert.deepEqual(p.dialogs, [], 'no dialog fired');
  }
  // The payload as a pseudonym is refused by the API, shown next to the field.
  const x = await user();
  await fillEntry(x.page, { nick: '<img src=x>', age: 30 });
  await x.page.locator('#e-nick:not([hidden])').waitFor();
  assert.match(await x.page.locator('#e-nick').innerText(), /pseudo n’est pas valable/);
  assert.equal(await x.page.locator('#f-nick').getAttribute('aria-invalid'), 'true');
  noPageErrors(hh.page, ii.page, x.page);
});

test('links in messages are clickable safely: http(s) only, new tab, no opener, no referrer', async () => {
  const jo = nick('Jo');
  const j = await user();
  await enter(j.page, { nick: jo, age: 36, gender: 'unsaid', region: 'CA' });
  await joinFromDirectory(j.page, '#cinema-series');
  await say(j.page, 'voir https://example.org/film?a=1&b=2, ou javascript:alert(1) et data:text/html,x');
  const row = messageRow(j.page, 'voir ');
  await row.waitFor();
  const links = row.locator('a');
  assert.equal(await links.count(), 1);
  assert.equal(await links.getAttribute('href'), 'https://example.org/film?a=1&b=2');
  assert.equal(await links.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await links.getAttribute('target'), '_blank');
  assert.equal(await links.innerText(), 'https://example.org/film?a=1&b=2');
  assert.match(await row.innerText(), /javascript:alert\(1\)/);
  assert.equal(await j.page.locator('a[href^="javascript:"], a[href^="data:"]').count(), 0);
  noPageErrors(j.page);
});

test('French and English: chosen from the browser language, switched by a visible button, remembered', async () => {
  const en = await user({ locale: 'en-US' });
  await en.page.goto('/');
  await en.page.locator('#entry-title', { hasText: 'Come in' }).waitFor();
  assert.equal(await en.page.getAttribute('html', 'lang'), 'en');
  assert.equal(await en.page.locator('label[for=f-nick]').innerText(), 'Pseudonym');
  await en.page.getByRole('button', { name: 'Français' }).click();
  await en.page.locator('#entry-title', { hasText: 'Entrez' }).waitFor();
  assert.equal(await en.page.getAttribute('html', 'lang'), 'fr');
  assert.equal(await en.page.locator('label[for=f-nick]').innerText(), 'Pseudo');
  await en.page.reload();
  await en.page.locator('#entry-title', { hasText: 'Entrez' }).waitFor();
  // Errors from the API are shown translated, next to the field.
  await en.page.getByRole('button', { name: 'English' }).click();
  await fillEntry(en.page, { nick: nick('Lang'), age: 30, rules: false });
  await en.page.locator('#e-rules', { hasText: 'You need to accept the rules' }).waitFor();
  const fr = await user({ locale: 'fr-FR' });
  await fr.page.goto('/');
  await fr.page.locator('#entry-title', { hasText: 'Entrez' }).waitFor();
  // Usable within a second on loopback: the page marks when the form is shown.
  const ready = await fr.page.evaluate(() => performance.getEntriesByName('salon-ready')[0].startTime);
  assert.ok(ready < 1000, `entry screen ready after ${ready} ms`);
  noPageErrors(en.page, fr.page);
});

test('accessibility: axe-core finds no serious or critical violation on the entry and chat screens', async () => {
  const u = await user();
  await u.page.goto('/');
  await u.page.locator('#f-nick').waitFor();
  await assertNoSeriousA11y(u.page, 'entry, desktop');
  await u.page.setViewportSize(PHONE);
  await assertNoSeriousA11y(u.page, 'entry, phone');
  await u.page.setViewportSize(DESKTOP);

  const other = await user();
  const me = nick('Axe');
  await enter(u.page, { nick: me, age: 31, gender: 'other', region: '67', showRegion: true });
  await enter(other.page, { nick: nick('Bea'), age: 22, gender: 'woman', region: '35' });
  await joinFromDirectory(u.page, '#lyon');
  await joinFromDirectory(other.page, '#lyon');
  await say(other.page, 'Salut https://example.org');
  await messageRow(u.page, 'Salut').waitFor();
  await privateMessage(other.page, me, 'hello');
  await u.page.locator('.request').waitFor();
  await assertNoSeriousA11y(u.page, 'room with a private request');
  await u.page.click('#settings-open');
  await assertNoSeriousA11y(u.page, 'settings');
  await u.page.keyboard.press('Escape');
  await u.page.setViewportSize(PHONE);
  await assertNoSeriousA11y(u.page, 'chat, phone');
  // Keyboard: the drawer opens, takes focus, and Escape closes it.
  await u.page.click('#drawer-toggle');
  assert.equal(await u.page.getAttribute('#drawer-toggle', 'aria-expanded'), 'true');
  assert.ok(await u.page.evaluate(() => document.getElementById('sidebar').contains(document.activeElement)));
  await assertNoSeriousA11y(u.page, 'drawer open, phone');
  await u.page.keyboard.press('Escape');
  assert.equal(await u.page.getAttribute('#drawer-toggle', 'aria-expanded'), 'false');
  noPageErrors(u.page, other.page);
});

test('screenshots: entry, a busy room and a private conversation, on desktop and phone', async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const shot = async (page, name, fullPage = false) => {
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-desktop.png`), fullPage });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-phone.png`), fullPage });
    await page.setViewportSize(DESKTOP);
  };
  const entry = await user();
  await entry.page.goto('/');
  await entry.page.locator('#f-nick').waitFor();
  await shot(entry.page, 'entry', true);

  const people = [
    ['Camille', 27, 'woman', '75', true], ['Mehdi', 34, 'man', '13', true],
    ['Sam', 52, 'other', 'BE', false], ['Louise', 19, 'woman', '69', true],
  ];
  const us = [];
  for (const [base, age, gender, region, showRegion] of people) {
    const u = await user();
    const n = nick(base);
    await enter(u.page, { nick: n, age, gender, region, showRegion });
    await joinFromDirectory(u.page, '#paris');
    us.push({ ...u, nick: n });
  }
  const lines = [
    [0, 'Bonjour tout le monde ! Quelqu’un a vu l’expo au Grand Palais ?'],
    [1, 'Oui, samedi dernier, franchement ça vaut le détour'],
    [2, '/me arrive avec des croissants'],
    [3, 'Salut ! Il y a un site avec les horaires : https://www.grandpalais.fr/fr'],
    [0, 'Merci Louise 🙏'],
    [1, 'On pourrait y aller à plusieurs, non ? Dimanche matin c’est plus calme.'],
    [2, 'Bonne idée, je suis partant·e'],
    [3, '<b>pas de HTML ici</b>, juste du texte'],
  ];
  for (const [who, text] of lines) {
    await say(us[who].page, text);
    const shown = text.startsWith('/me ') ? text.slice(4) : text;
    await messageRow(us[0].page, shown).waitFor();
  }
  await shot(us[0].page, 'room');

  await privateMessage(us[1].page, us[0].nick, 'Coucou, je peux t’écrire en privé ?');
  const card = us[0].page.locator('.request', { hasText: us[1].nick });
  await card.waitFor();
  await shot(us[0].page, 'request');
  await card.getByRole('button', { name: /Accepter/ }).click();
  await messageRow(us[0].page, 'je peux t’écrire').waitFor();
  await say(us[0].page, 'Oui bien sûr ! Tu connais bien le quartier ?');
  await messageRow(us[1].page, 'Tu connais bien le quartier').waitFor();
  await say(us[1].page, 'J’y habite depuis dix ans, je peux te conseiller deux ou trois cafés.');
  await messageRow(us[0].page, 'deux ou trois cafés').waitFor();
  await shot(us[0].page, 'private');
  noPageErrors(...us.map((u) => u.page), entry.page);
});
