// Automatic protection on the chat page and the dashboard (docs/web.md):
// the warning and the safety tip in a private conversation that turns to
// grooming, the proof of work and the closed entry under lockdown, a
// pseudonym refused by a rule, and the dashboard's Rules view, held
// messages and lockdown control. One server with one staff account and a
// light proof of work for this file.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Salon, launchBrowser, newUser, enter, fillEntry, joinFromDirectory, say, activeLog, nick,
  SCREENSHOTS, DESKTOP, PHONE, messageRow, noPageErrors, staffApi, assertNoSeriousA11y,
  privateMessage, staffLogin, closeContexts, stopSalon,
} from './harness.js';

const STAFF = 'vigie';
const PASSWORD = 'a long passphrase for protection tests';
// Low so that the page solves it at once; the flow is the same at 20 bits.
const POW_BITS = 8;

let salon;
let browser;
let staff;           // a staff API session shared by the tests (logins are rate-limited)
let staffContext;
const contexts = [];

before(async () => {
  salon = new Salon(`[protection]\npow_bits = ${POW_BITS}`);
  await salon.addStaff(STAFF, PASSWORD, 'moderator');
  await salon.start();
  browser = await launchBrowser();
  mkdirSync(SCREENSHOTS, { recursive: true });
  staffContext = await browser.newContext({ baseURL: salon.url });
  staff = await staffApi(staffContext, STAFF, PASSWORD);
});

afterEach(() => closeContexts(contexts));

after(async () => {
  if (staffContext) await staffContext.close().catch(() => {});
  if (browser) await browser.close();
  if (salon) await stopSalon(salon);
});

async function user(opts) {
  const u = await newUser(browser, salon, opts);
  contexts.push(u.context);
  return u;
}

async function setLockdown(level) {
  const res = await staff.post('/api/v1/mod/lockdown', { level, reason: `browser test: ${level}` });
  assert.equal(res.status(), 200, await res.text());
  const body = await res.json();
  assert.equal(body.level, level);
  return body;
}

// Opens a private conversation with /msg and writes the first message.
// The lines of the conversation on screen, in order, as {kind, text}.
function logLines(page) {
  return page.evaluate(() => [...document.querySelectorAll('.log:not([hidden]) > .msg')].map((el) => ({
    kind: ['warn', 'tip', 'held', 'refused', 'system'].find((k) => el.classList.contains(k)) || 'msg',
    text: el.textContent,
  })));
}

function leadingZeroBits(buf) {
  let n = 0;
  for (const byte of buf) {
    if (byte === 0) { n += 8; continue; }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

async function loginAsStaff(page) {
  await staffLogin(page, STAFF, PASSWORD);
  await page.locator('#dash').waitFor();
}

test('grooming in a private conversation: a warning before the Snapchat message, the safety tip, and leave-block-report in one click', async () => {
  const groomer = nick('Lucas');
  const target = nick('Emma');
  const g = await user();
  const t = await user();
  await enter(g.page, { nick: groomer, age: 41, gender: 'man', region: '59' });
  await enter(t.page, { nick: target, age: 18, gender: 'woman', region: '62' });

  await privateMessage(g.page, target, 'salut, ça va ?');
  const card = t.page.locator('.request', { hasText: groomer });
  await card.waitFor();
  await card.getByRole('button', { name: /Accepter/ }).click();
  await messageRow(t.page, 'salut, ça va ?').waitFor();

  await say(g.page, 't\'as quel âge ?');
  await messageRow(t.page, 't\'as quel âge ?').waitFor();
  await say(t.page, '18 ans');
  await messageRow(g.page, '18 ans').waitFor();
  await say(g.page, 'ne dis rien à tes parents');
  await say(g.page, 'ajoute moi sur snap');
  await messageRow(t.page, 'ajoute moi sur snap').waitFor();

  // The server's warning is drawn just before the message it is about.
  const lines = await logLines(t.page);
  const at = lines.findIndex((l) => l.kind === 'msg' && l.text.includes('ajoute moi sur snap'));
  const before = lines.slice(0, at).filter((l) => l.kind !== 'tip');
  assert.equal(before[before.length - 1].kind, 'warn', `a warning just before the Snapchat message: ${JSON.stringify(lines)}`);
  const warn = t.page.locator('.log:not([hidden]) .msg.warn').last();
  assert.ok((await warn.locator('.text').innerText()).length > 10, 'the server’s warning text');
  // The sender is told, quietly, that the other person saw a warning.
  await g.page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('.log:not([hidden]) > .msg')];
    const i = rows.findIndex((el) => el.textContent.includes('ajoute moi sur snap'));
    return i >= 0 && rows.slice(i + 1).some((el) => el.classList.contains('system'));
  });

  // The safety tip: the server's text and one button.
  const tip = t.page.locator('.log:not([hidden]) .msg.tip');
  await tip.waitFor();
  assert.ok((await tip.locator('.tip-text').innerText()).length > 10, 'the server’s tip text');
  const leave = tip.getByRole('button', { name: /Quitter, bloquer et signaler/ });
  assert.equal(await leave.count(), 1);
  assert.equal(await tip.getByRole('button', { name: /^Fermer/ }).count(), 1, 'a dismiss link');
  await assertNoSeriousA11y(t.page, 'private conversation with a warning and a safety tip');
  await t.page.setViewportSize(PHONE);
  await tip.scrollIntoViewIfNeeded();
  await t.page.screenshot({ path: join(SCREENSHOTS, 'safety-tip-phone.png') });
  await assertNoSeriousA11y(t.page, 'the same on a phone');
  await t.page.setViewportSize(DESKTOP);

  await leave.click();
  await t.page.locator('#buffers button', { hasText: groomer }).waitFor({ state: 'detached' });
  await t.page.locator('#status-text', { hasText: /bloquée/ }).waitFor();
  await t.page.locator('#status-text', { hasText: /signalement n° \d+/ }).waitFor();
  await t.page.click('#settings-open');
  await t.page.locator('#ignore-list li', { hasText: groomer }).waitFor();
  await t.page.keyboard.press('Escape');

  // The report is in the moderators' queue, from the person, as a child at risk.
  const res = await staff.get('/api/v1/mod/reports');
  assert.equal(res.status(), 200);
  const { groups } = await res.json();
  const reports = groups.filter((x) => x.reported_nick === groomer).flatMap((x) => x.reports);
  assert.ok(reports.some((r) => r.category === 'child_safety' && r.reporter_nick === target),
    `a child_safety report by ${target}: ${JSON.stringify(reports)}`);

  // Ignored: a later message does not reach the page.
  await say(g.page, 'tu es partie ?');
  await t.page.waitForTimeout(500);
  assert.doesNotMatch(await t.page.evaluate(() => document.body.textContent), /tu es partie/);
  noPageErrors(g.page, t.page);
});

test('lockdown "challenge": the page solves the proof of work and enters; "closed": the entry says so', async () => {
  try {
    const set = await setLockdown('challenge');
    assert.equal(set.bits, POW_BITS);
    const u = await user();
    const posts = [];
    u.page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/session') posts.push(r.postDataJSON());
    });
    await enter(u.page, { nick: nick('Patient'), age: 30, gender: 'woman', region: '33' });
    assert.ok(posts.length >= 2, `asked again with a proof: ${JSON.stringify(posts)}`);
    assert.equal(posts[0].pow, undefined);
    const pow = posts[posts.length - 1].pow;
    assert.match(pow, /^.+:\d+$/);
    const digest = createHash('sha256').update(pow, 'utf8').digest();
    assert.ok(leadingZeroBits(digest) >= POW_BITS, `the proof ${pow} has ${POW_BITS} leading zero bits`);

    await setLockdown('closed');
    const c = await user();
    await fillEntry(c.page, { nick: nick('Tardif'), age: 30, gender: 'man', region: '33' });
    const err = c.page.locator('#e-form:not([hidden])');
    await err.waitFor();
    assert.match(await err.innerText(), /entrées sont fermées/);
    assert.ok(await c.page.locator('#chat').isHidden());
    await assertNoSeriousA11y(c.page, 'entry closed');
    // The 503 is the expected answer; Chromium logs it anyway.
    c.page.errors = c.page.errors.filter((x) => !/status of 503/.test(x));
    noPageErrors(u.page, c.page);
  } finally {
    await setLockdown('off');
  }
});

test('a pseudonym refused by a rule is shown with its reason next to the field', async () => {
  const u = await user();
  await fillEntry(u.page, { nick: 'Ines15ans', age: 25, gender: 'woman', region: '75' });
  const e = u.page.locator('#e-nick:not([hidden])');
  await e.waitFor();
  assert.match(await e.innerText(), /Ce pseudo n’est pas accepté : \S/);
  assert.equal(await u.page.getAttribute('#f-nick', 'aria-invalid'), 'true');
  assert.ok(await u.page.locator('#chat').isHidden());
  await assertNoSeriousA11y(u.page, 'entry with a refused pseudonym');
  noPageErrors(u.page);
});

// Rule changes are compiled in the background: a new version takes over a
// few seconds after the answer (longer on a busy machine).
const COMPILE_MS = 60000;

test('dashboard Rules view: shipped rules, one switched off and on with a reason, filters, a custom rule tested, added, applied and deleted', async () => {
  const mod = await user();
  await loginAsStaff(mod.page);
  await mod.page.click('#tab-rules');
  assert.equal(await mod.page.getAttribute('#tab-rules', 'aria-current'), 'page');
  const rows = mod.page.locator('#rules-body tr');
  await rows.first().waitFor();
  assert.ok(await rows.count() > 0);
  assert.ok((await mod.page.locator('#rules-body .origin').allInnerTexts()).some((o) => /^(fr|en)\/[\w-]+\.rules$/.test(o)),
    'shipped packs listed');
  const version = async () => Number((/Version (\d+)/.exec(await mod.page.locator('#rules-status').innerText()) || [])[1]);
  const newVersion = (than) => mod.page.waitForFunction((v) => {
    const m = /Version (\d+)/.exec(document.getElementById('rules-status').textContent);
    return m && Number(m[1]) > v;
  }, than, { timeout: COMPILE_MS });
  const v0 = await version();
  assert.ok(Number.isInteger(v0), 'the version is shown');

  // Off with a reason, then on again: each gives a new version.
  const row = rows.filter({ has: mod.page.locator('[role=switch][aria-checked=true]') }).first();
  const id = await row.getAttribute('data-rule');
  const sw = (state) => mod.page.locator(`#rules-body tr[data-rule="${id}"] [role=switch]${state}`);
  await sw('').click();
  const dialog = mod.page.locator('#reason-dialog');
  await dialog.waitFor();
  assert.match(await mod.page.locator('#rd-title').innerText(), new RegExp(`Désactiver la règle ${id.replace(/\./g, '\\.')}`));
  await mod.page.click('#rd-confirm');
  await mod.page.locator('#e-rd-reason:not([hidden])').waitFor();
  await assertNoSeriousA11y(mod.page, 'reason dialog');
  await mod.page.fill('#rd-reason', 'Trop de faux positifs cette semaine');
  await mod.page.click('#rd-confirm');
  await sw('[aria-checked=false].pending').waitFor();
  await newVersion(v0);
  await sw('[aria-checked=false]:not(.pending)').waitFor();
  const v1 = await version();
  await sw('').click();
  await mod.page.fill('#rd-reason', 'Rétablie après vérification');
  await mod.page.click('#rd-confirm');
  await newVersion(v1);
  await sw('[aria-checked=true]:not(.pending)').waitFor();
  const v2 = await version();
  const listed = await (await staff.get('/api/v1/mod/rules')).json();
  assert.equal(listed.version, v2);
  assert.equal(listed.rules.find((r) => r.id === id).enabled, true);

  // Filters: by text, then by state.
  await mod.page.fill('#rf-q', id);
  await mod.page.locator(`#rules-body tr[data-rule="${id}"]`).waitFor();
  await mod.page.selectOption('#rf-enabled', 'off');
  await mod.page.locator(`#rules-body tr[data-rule="${id}"]`).waitFor({ state: 'detached' });
  await mod.page.selectOption('#rf-enabled', '');
  await mod.page.fill('#rf-q', '');

  // A custom rule: tested on a text, then added.
  // Letters only: the folded view turns disguised digits into letters.
  const tag = `zorglub${Array.from({ length: 5 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}`;
  await mod.page.fill('#nr-id', tag);
  await mod.page.fill('#nr-name', 'Le mot zorglub');
  await mod.page.selectOption('#nr-category', 'spam');
  await mod.page.selectOption('#nr-action', 'block');
  await mod.page.fill('#nr-pattern', tag);
  await mod.page.fill('#nr-reason', 'Ce mot n’est pas le bienvenu ici.');
  await mod.page.fill('#nr-test', `Le ${tag.toUpperCase()} arrive`);
  await mod.page.click('#nr-test-run');
  const verdict = mod.page.locator('#nr-test-result .test-verdict');
  await verdict.waitFor();
  assert.match(await verdict.innerText(), /correspond à ce motif/);
  assert.match(await mod.page.locator('#nr-test-result .test-folded').innerText(), new RegExp(tag));
  assert.match(await mod.page.locator('#nr-test-result .test-plain').innerText(), new RegExp(tag, 'i'));
  await mod.page.fill('#nr-test', 'rien à voir');
  await mod.page.click('#nr-test-run');
  await mod.page.locator('#nr-test-result .test-verdict', { hasText: /ne correspond pas/ }).waitFor();
  await assertNoSeriousA11y(mod.page, 'rules view with a test result');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-rules-desktop.png') });
  await mod.page.click('#nr-submit');
  await mod.page.locator('#e-nr-why:not([hidden])').waitFor();
  await mod.page.fill('#nr-why', 'Spam répété dans les salons régionaux');
  await mod.page.click('#nr-submit');
  await mod.page.locator('#nr-result.ok', { hasText: `custom.${tag}` }).waitFor();
  await newVersion(v2);
  const custom = mod.page.locator(`#rules-body tr[data-rule="custom.${tag}"]`);
  await custom.waitFor();
  assert.match(await custom.locator('.origin').innerText(), /tableau de bord/);

  // In a room, the new rule blocks with its reason, as the sender reads it.
  const a = await user();
  await enter(a.page, { nick: nick('Hugo'), age: 36, gender: 'man', region: '69' });
  await joinFromDirectory(a.page, '#lyon');
  await say(a.page, `voici du ${tag}`);
  const refused = activeLog(a.page).locator('.msg.refused');
  await refused.waitFor();
  assert.match(await refused.innerText(), /Message bloqué/);
  assert.match(await refused.innerText(), /pas le bienvenu/);
  assert.match(await refused.innerText(), new RegExp(`« voici du ${tag} »`));
  await assertNoSeriousA11y(a.page, 'room with a refused message');

  // The custom rule goes, with a reason.
  await custom.getByRole('button', { name: /Supprimer/ }).click();
  await mod.page.fill('#rd-reason', 'Fin du test');
  await mod.page.click('#rd-confirm');
  await custom.waitFor({ state: 'detached' });
  noPageErrors(mod.page, a.page);
});

test('dashboard: a held message shows "(automatic)", its rule and its text, and Release delivers it; the lockdown control and its banner', async () => {
  const mod = await user();
  await loginAsStaff(mod.page);
  const author = nick('Hugo');
  const reader = nick('Lina');
  const a = await user();
  const b = await user();
  await enter(a.page, { nick: author, age: 36, gender: 'man', region: '69' });
  await enter(b.page, { nick: reader, age: 29, gender: 'woman', region: '69' });
  await joinFromDirectory(a.page, '#lyon');
  await joinFromDirectory(b.page, '#lyon');
  const tag = `${Math.floor(Math.random() * 9e5 + 1e5)}`;
  const held = `je l'ai prise en photo à son insu ${tag}`;
  await say(a.page, held);
  const waiting = activeLog(a.page).locator('.msg.held');
  await waiting.waitFor();
  assert.match(await waiting.innerText(), /En attente de relecture/);
  assert.match(await waiting.innerText(), /à son insu/);
  await assertNoSeriousA11y(a.page, 'room with a held message');
  await say(a.page, `message ordinaire ${tag}`);
  await messageRow(b.page, `message ordinaire ${tag}`).waitFor();
  assert.doesNotMatch(await b.page.evaluate(() => document.body.textContent), /à son insu/);

  // The report view: "(automatic)", the rule, the held text, Release.
  await mod.page.click('#queue-refresh');
  const group = mod.page.locator('.group', { has: mod.page.locator('.g-nick', { hasText: author }) });
  const item = group.locator('.report-item', { hasText: '(automatique)' }).first();
  await item.waitFor();
  await item.click();
  const box = mod.page.locator('#protect');
  await box.locator('.held-text', { hasText: 'à son insu' }).waitFor();
  assert.match(await mod.page.locator('#detail-meta').innerText(), /\(automatique\)/);
  assert.match(await mod.page.locator('#detail-meta').innerText(), /Règle/);
  await assertNoSeriousA11y(mod.page, 'report with a held message');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-held-desktop.png') });
  await box.getByRole('button', { name: 'Libérer le message' }).click();
  await mod.page.locator('#e-pp-reason:not([hidden])').waitFor();
  await mod.page.fill('#pp-reason', 'Citation d’un article de presse, pas une agression');
  await box.getByRole('button', { name: 'Libérer le message' }).click();
  await mod.page.locator('#pp-result.ok').waitFor();
  assert.match(await box.locator('.held-state').innerText(), /libéré/);
  await messageRow(b.page, held).waitFor();

  // Lockdown from the dashboard: the banner says so on every view.
  try {
    await mod.page.click('#tab-rules');
    await mod.page.getByLabel('Défi (preuve de travail)').check();
    await mod.page.click('#ld-submit');
    await mod.page.locator('#e-ld-reason:not([hidden])').waitFor();
    await mod.page.fill('#ld-reason', 'Vague de robots');
    await mod.page.click('#ld-submit');
    const banner = mod.page.locator('#lockdown-banner');
    await banner.waitFor();
    assert.match(await banner.innerText(), /Entrées verrouillées : défi/);
    await mod.page.click('#tab-audit');
    assert.ok(await banner.isVisible(), 'the banner stays on other views');
    await mod.page.click('#tab-rules');
    await assertNoSeriousA11y(mod.page, 'rules view under lockdown');
    await mod.page.getByLabel('Ouvert', { exact: true }).check();
    await mod.page.fill('#ld-reason', 'Vague passée');
    await mod.page.click('#ld-submit');
    await banner.waitFor({ state: 'hidden' });
  } finally {
    await setLockdown('off');
  }
  noPageErrors(mod.page, a.page, b.page);
});

test('a room whose name awaits review: its creator is told, others cannot join until a moderator approves it', async () => {
  const suffix = Array.from({ length: 5 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
  const room = `#libertins${suffix}`;
  const creator = nick('Jade');
  const other = nick('Noe');
  const c = await user();
  const o = await user();
  await enter(c.page, { nick: creator, age: 33, gender: 'woman', region: '69' });
  await enter(o.page, { nick: other, age: 37, gender: 'man', region: '69' });

  await c.page.fill('#f-room', room);
  await c.page.click('#create-room button[type=submit]');
  await c.page.waitForFunction((r) => document.getElementById('buffer-name').textContent === r, room);
  const pending = activeLog(c.page).locator('.msg.held', { hasText: 'Salon en attente de validation' });
  await pending.waitFor();

  await o.page.fill('#f-room', room);
  await o.page.click('#create-room button[type=submit]');
  const refused = o.page.locator('#e-room:not([hidden])');
  await refused.waitFor();
  assert.match(await refused.innerText(), new RegExp(`${room} attend la validation de la modération`));
  await assertNoSeriousA11y(o.page, 'a join refused while the room awaits review');
  assert.equal(await o.page.locator('#buffers button', { hasText: room }).count(), 0);

  const mod = await user();
  await loginAsStaff(mod.page);
  const group = mod.page.locator('.group', { has: mod.page.locator('.g-nick', { hasText: creator }) });
  const item = group.locator('.report-item', { hasText: '(automatique)' }).first();
  await item.waitFor();
  await item.click();
  const box = mod.page.locator('#protect');
  await box.locator('.pending-room', { hasText: room }).waitFor();
  await mod.page.fill('#pp-reason', 'Salon entre adultes consentants, nom acceptable');
  await box.getByRole('button', { name: `Approuver ${room}` }).click();
  await mod.page.locator('#pp-result.ok').waitFor();

  await o.page.fill('#f-room', room);
  await o.page.click('#create-room button[type=submit]');
  await o.page.waitForFunction((r) => document.getElementById('buffer-name').textContent === r, room);
  noPageErrors(c.page, o.page, mod.page);
});
