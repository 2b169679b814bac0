// The moderator dashboard (web/mod/) and the chat page's side of
// moderation (issue 4, "Must show": a moderator logs in, sees a fresh
// report with its evidence, bans the user, and the user's page shows the
// statement of reasons). One server with one staff account for this file.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  Salon, launchBrowser, newUser, enter, joinFromDirectory, say, nick, SCREENSHOTS, DESKTOP, PHONE,
  messageRow, noPageErrors, assertNoSeriousA11y, staffLogin, closeContexts, stopSalon,
} from './harness.js';

const STAFF = 'alice';
const PASSWORD = 'a long passphrase for tests';

let salon;
let browser;
const contexts = [];

before(async () => {
  salon = new Salon();
  // Staff accounts are read at start-up: create the account first.
  await salon.addStaff(STAFF, PASSWORD, 'moderator');
  await salon.start();
  browser = await launchBrowser();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

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

test('the dashboard without a staff session shows the login form; a wrong password is refused', async () => {
  const mod = await user();
  await mod.page.goto('/mod/');
  await mod.page.locator('#login-form').waitFor();
  assert.ok(await mod.page.locator('#dash').isHidden(), 'no dashboard before login');
  assert.equal(await mod.page.locator('#login-title').innerText(), 'Connexion de l’équipe');
  await assertNoSeriousA11y(mod.page, 'login form');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-login-desktop.png') });
  // The API agrees: no staff session, no queue.
  const res = await mod.page.request.get('/api/v1/mod/reports');
  assert.equal(res.status(), 401);
  assert.equal((await res.json()).error.code, 'staff_login_required');

  // Empty fields are caught on the page, a wrong password by the server.
  await mod.page.click('#login-submit');
  await mod.page.locator('#e-l-name:not([hidden])').waitFor();
  assert.equal(await mod.page.getAttribute('#l-name', 'aria-invalid'), 'true');
  await staffLogin(mod.page, STAFF, 'not the password at all');
  const err = mod.page.locator('#e-login:not([hidden])');
  await err.waitFor();
  assert.match(await err.innerText(), /Nom ou mot de passe incorrect/);
  assert.ok(await mod.page.locator('#dash').isHidden());
  assert.equal(await mod.page.inputValue('#l-password'), '', 'the password field is cleared');
  await assertNoSeriousA11y(mod.page, 'login error');
  noPageErrors(mod.page);
});

test('a report made on the chat page reaches the dashboard with its evidence; a ban sends the statement of reasons', async () => {
  const offender = nick('Lourd');
  const reporter = nick('Camille');
  const witness = nick('Louise');
  const o = await user();
  const r = await user();
  const w = await user();
  await enter(o.page, { nick: offender, age: 44, gender: 'man', region: '93' });
  await enter(r.page, { nick: reporter, age: 27, gender: 'woman', region: '75', showRegion: true });
  await enter(w.page, { nick: witness, age: 31, gender: 'woman', region: '69' });
  for (const u of [o, r, w]) await joinFromDirectory(u.page, '#amitie');

  // A little conversation, then the line that gets reported (with markup
  // that must stay text on the dashboard).
  await say(r.page, 'Bonjour tout le monde !');
  await say(o.page, 'salut, tu es jolie ? donne ton numéro');
  await say(r.page, 'Non merci, je ne suis pas là pour ça.');
  const bad = `tu vas le regretter <b>fais attention</b> ${Math.floor(Math.random() * 1e6)}`;
  await say(o.page, bad);
  const row = messageRow(r.page, bad);
  await row.waitFor();

  // The report dialog: plain-words categories, a comment, "received #N".
  await row.getByRole('button', { name: `Signaler ce message de ${offender}` }).click();
  const dialog = r.page.locator('#report');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Que se passe-t-il/);
  await assertNoSeriousA11y(r.page, 'report dialog');
  // Sending without a category is caught on the page.
  await dialog.getByRole('button', { name: 'Envoyer le signalement' }).click();
  await r.page.locator('#e-report-cat:not([hidden])').waitFor();
  await dialog.getByLabel('Harcèlement ou avances sexuelles non désirées').check();
  await r.page.fill('#report-comment', 'Il insiste et devient menaçant.');
  await dialog.getByRole('button', { name: 'Envoyer le signalement' }).click();
  const ack = r.page.locator('#report-result.ok');
  await ack.waitFor();
  const [, reportId] = /Signalement n° (\d+) reçu/.exec(await ack.innerText()) || [];
  assert.ok(reportId, `report acknowledged with its number: ${await ack.innerText()}`);
  await dialog.getByRole('button', { name: 'Fermer' }).click();

  // A second report on the same person (the queue groups them) and one on
  // someone else, from the witness, through the same API.
  const more = await w.page.request.post('/api/v1/reports', {
    data: { target: offender, category: 'threat', comment: 'menaces en public' },
  });
  assert.equal(more.status(), 201, await more.text());
  const spam = await w.page.request.post('/api/v1/reports', {
    data: { target: reporter, category: 'spam', comment: 'test de file' },
  });
  assert.equal(spam.status(), 201, await spam.text());

  // The moderator logs in and finds the fresh report, grouped, gravest first.
  const mod = await user();
  await staffLogin(mod.page, STAFF, PASSWORD);
  await mod.page.locator('#dash').waitFor();
  const item = mod.page.locator(`.report-item[data-report="${reportId}"]`);
  await item.waitFor();
  const group = mod.page.locator('.group', { has: item });
  assert.equal(await group.locator('.g-nick').innerText(), offender);
  assert.match(await group.innerText(), /2 signalement/);
  assert.match(await group.locator('.g-cats').innerText(), /Menaces/);
  assert.match(await group.locator('.g-cats').innerText(), /Harcèlement/);
  const titles = await mod.page.locator('.g-nick').allInnerTexts();
  assert.deepEqual(titles.slice(0, 2), [offender, reporter], 'threat (80) before spam (20)');
  await assertNoSeriousA11y(mod.page, 'queue');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-queue-desktop.png') });

  // The report: the conversation as text, the reported line highlighted.
  await item.click();
  const reported = mod.page.locator('#evidence .ev-reported');
  await reported.waitFor();
  assert.match(await reported.locator('.ev-text').innerText(), new RegExp(bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.match(await reported.locator('.ev-nick').innerText(), new RegExp(offender));
  assert.match(await mod.page.locator('#evidence').innerText(), /Bonjour tout le monde/);
  assert.equal(await mod.page.locator('#evidence b').count(), 0, 'evidence markup stays text');
  assert.match(await mod.page.locator('#detail-meta').innerText(), /Il insiste et devient menaçant/);
  assert.match(await mod.page.locator('#detail-title').innerText(), new RegExp(`Signalement n° ${reportId}`));
  assert.equal(await mod.page.inputValue('#af-rule'), 'harassment', 'the category suggests the rule');
  await assertNoSeriousA11y(mod.page, 'report view');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-report-desktop.png') });

  // Ban by session, for good, with a reason; a missing reason is caught.
  await mod.page.getByLabel('Bannir', { exact: true }).check();
  assert.equal(await mod.page.locator('input[name=banby][value=session]').isChecked(), true);
  await mod.page.selectOption('#af-duration', '0');
  await mod.page.locator('#action-form').screenshot({ path: join(SCREENSHOTS, 'mod-ban-form-desktop.png') });
  await mod.page.click('#af-submit');
  await mod.page.locator('#e-af-reason:not([hidden])').waitFor();
  const reason = 'Harcèlement et menaces répétés envers une autre membre';
  await mod.page.fill('#af-reason', reason);
  assert.equal(await mod.page.locator('#af-submit').innerText(), `Bannir ${offender}`);
  await mod.page.click('#af-submit');
  const done = mod.page.locator('#af-result.ok');
  await done.waitFor();
  assert.match(await done.innerText(), /Action n° \d+ enregistrée/);

  // The banned person's page: the statement of reasons, the appeal route,
  // and the removed state without a useless "reconnect".
  const note = o.page.locator('#moderation .mod-note');
  await note.waitFor();
  const noteText = await note.innerText();
  assert.match(noteText, new RegExp(reason));
  assert.match(noteText, /appeal/i, 'the server’s appeal route is shown');
  assert.match(noteText, /contester/i);
  await o.page.locator('#status[data-state="removed"]').waitFor();
  assert.match(await o.page.locator('#status-text').innerText(), /banni/);
  assert.ok(await o.page.locator('#status-action').isHidden(), 'no reconnect button after a ban');
  await assertNoSeriousA11y(o.page, 'banned page');
  await o.page.screenshot({ path: join(SCREENSHOTS, 'banned-desktop.png') });
  // The appeal form in the statement.
  await note.getByRole('button', { name: 'Contester cette décision' }).click();
  await o.page.locator('.appeal-form textarea').fill('Je conteste : c’était une blague entre nous.');
  await note.getByRole('button', { name: 'Envoyer la contestation' }).click();
  await o.page.locator('.appeal-result.ok').waitFor();
  assert.match(await o.page.locator('.appeal-result.ok').innerText(), /Contestation n° \d+ reçue/);

  // The others stay; the queue no longer lists the closed report; the
  // audit log records the look and the ban.
  assert.equal(await r.page.locator('#status[data-state="removed"]').count(), 0);
  await mod.page.click('#queue-refresh');
  await mod.page.locator(`.report-item[data-report="${reportId}"]`).waitFor({ state: 'detached' });
  await mod.page.click('#tab-audit');
  await mod.page.locator('#audit-body tr', { hasText: 'ban' }).first().waitFor();
  assert.match(await mod.page.locator('#audit-body').innerText(), /view_report/);
  await assertNoSeriousA11y(mod.page, 'audit view');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-audit-desktop.png') });

  // Logout ends the staff session on the server too.
  await mod.page.click('#logout');
  await mod.page.locator('#login-form').waitFor();
  const after = await mod.page.request.get('/api/v1/mod/reports');
  assert.equal(after.status(), 401);
  noPageErrors(o.page, r.page, w.page, mod.page);
});

test('the dashboard on a phone and in English', async () => {
  const a = await user();
  const b = await user();
  const an = nick('Ana');
  const bn = nick('Ben');
  await enter(a.page, { nick: an, age: 29, gender: 'woman', region: '33' });
  await enter(b.page, { nick: bn, age: 38, gender: 'man', region: '33' });
  const res = await a.page.request.post('/api/v1/reports', { data: { target: bn, category: 'hate', comment: 'insultes' } });
  assert.equal(res.status(), 201, await res.text());
  const { id } = await res.json();

  const mod = await user({ viewport: PHONE, locale: 'en-GB' });
  await staffLogin(mod.page, STAFF, PASSWORD);
  const item = mod.page.locator(`.report-item[data-report="${id}"]`);
  await item.waitFor();
  assert.equal(await mod.page.locator('#queue-title').innerText(), 'Open reports');
  await assertNoSeriousA11y(mod.page, 'phone queue');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-queue-phone.png') });
  await item.click();
  await mod.page.locator('#detail-title', { hasText: `Report #${id}` }).waitFor();
  assert.ok(await mod.page.locator('#queue').isHidden(), 'one pane at a time on a phone');
  await assertNoSeriousA11y(mod.page, 'phone report');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-report-phone.png') });
  await mod.page.click('#detail-back');
  await item.waitFor();
  // Dismiss from the dashboard: reason and rule required, action id shown.
  await item.click();
  await mod.page.getByLabel('Dismiss', { exact: true }).check();
  await mod.page.fill('#af-reason', 'Nothing against the rules in the evidence');
  await mod.page.click('#af-submit');
  await mod.page.locator('#af-result.ok', { hasText: /Action #\d+ recorded/ }).waitFor();
  await mod.page.setViewportSize(DESKTOP);
  noPageErrors(a.page, b.page, mod.page);
});

// Local "YYYY-MM-DDThh:mm:ss", what a datetime-local input holds.
function localInputValue(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

test('rooms: watching a room and deleting a line; search finds the other line; both looks are audited', async () => {
  const speaker = nick('Mila');
  const u = await user();
  await enter(u.page, { nick: speaker, age: 33, gender: 'woman', region: '13' });
  await joinFromDirectory(u.page, '#marseille');
  const tag = `${Math.floor(Math.random() * 9e5 + 1e5)}`;
  const word = `calanques${tag}`;
  const kept = `On se retrouve au Vieux-Port ce soir ? ${word}`;
  const dropped = `Mon numéro : 06 12 34 56 78 <i>appelle-moi</i> ${tag}`;
  await say(u.page, kept);
  await say(u.page, dropped);
  await messageRow(u.page, dropped).waitFor();

  const mod = await user();
  await staffLogin(mod.page, STAFF, PASSWORD);
  await mod.page.locator('#dash').waitFor();
  await mod.page.click('#tab-rooms');
  assert.equal(await mod.page.getAttribute('#tab-rooms', 'aria-current'), 'page');
  const item = mod.page.locator('.room-item[data-room="#marseille"]');
  await item.waitFor();
  assert.match(await item.innerText(), /1 membre/);
  assert.match(await item.innerText(), /Marseille et Provence/, 'the topic');
  assert.match(await mod.page.locator('#watch-note').innerText(), /inscrit au journal d’audit/);
  await assertNoSeriousA11y(mod.page, 'rooms view');

  // Watch it from the keyboard: both lines, as text, with their author.
  await item.focus();
  await mod.page.keyboard.press('Enter');
  await mod.page.locator('#watch-title', { hasText: '#marseille' }).waitFor();
  assert.equal(await item.getAttribute('aria-current'), 'true');
  const log = mod.page.locator('#watch-log');
  const keptRow = log.locator('.watch-row', { hasText: kept });
  const droppedRow = log.locator('.watch-row', { hasText: dropped });
  await keptRow.waitFor();
  await droppedRow.waitFor();
  assert.equal(await droppedRow.locator('.ev-nick').innerText(), speaker);
  assert.equal(await log.locator('i').count(), 0, 'message markup stays text');
  assert.match(await mod.page.locator('#watch-meta').innerText(), /Marseille et Provence/);
  await assertNoSeriousA11y(mod.page, 'watched room');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-rooms-desktop.png') });

  // Delete one line: the shared action form, msgid chosen, rule and reason
  // required.
  const msgid = await droppedRow.getAttribute('data-msgid');
  assert.ok(msgid, 'each line carries its msgid');
  await droppedRow.getByRole('button', { name: /^Supprimer… le message de / }).click();
  assert.equal(await mod.page.inputValue('#af-msgid'), msgid);
  assert.equal(await mod.page.locator('input[name=act][value=delete_message]').isChecked(), true);
  assert.ok(await mod.page.locator('input[name=act][value=dismiss]').isHidden(), 'no report to dismiss here');
  assert.equal(await mod.page.evaluate(() => document.activeElement.id), 'af-rule');
  assert.equal(await mod.page.locator('#af-submit').innerText(), 'Supprimer ce message');
  await mod.page.click('#af-submit');
  await mod.page.locator('#e-af-reason:not([hidden])').waitFor();
  await mod.page.selectOption('#af-rule', 'threats');
  await mod.page.fill('#af-reason', 'Numéro de téléphone publié dans un salon public');
  await mod.page.click('#af-submit');
  await mod.page.locator('#af-result.ok', { hasText: /Action n° \d+ enregistrée/ }).waitFor();
  await droppedRow.waitFor({ state: 'detached', timeout: 15000 });
  assert.equal(await keptRow.count(), 1, 'the other line stays');

  // "Target the author" aims the same form at the person.
  await keptRow.getByRole('button', { name: `Viser l’auteur… ${speaker}` }).click();
  assert.equal(await mod.page.locator('#af-submit').innerText(), `Avertir ${speaker}`);
  assert.equal(await mod.page.locator('#af-target option:checked').innerText(), `${speaker} (auteur·e)`);

  // Search: what is recorded and what is never searchable is said; an
  // empty search is caught on the page.
  await mod.page.click('#tab-search');
  const note = await mod.page.locator('#search-note').innerText();
  assert.match(note, /inscrite au journal d’audit/);
  assert.match(note, /conversations privées n’apparaissent jamais/);
  await mod.page.click('#search-submit');
  await mod.page.locator('#e-search:not([hidden])').waitFor();
  await mod.page.fill('#s-q', word);
  await mod.page.fill('#s-nick', speaker.toLowerCase());
  await mod.page.fill('#s-since', localInputValue(new Date(Date.now() - 3600 * 1000)));
  await mod.page.click('#search-submit');
  const results = mod.page.locator('#search-results .result');
  await results.first().waitFor();
  assert.equal(await results.count(), 1);
  assert.equal(await results.locator('.res-room').innerText(), '#marseille');
  assert.equal(await results.locator('.ev-nick').innerText(), speaker);
  assert.equal(await results.locator('.res-text').innerText(), kept);
  assert.equal(await results.locator('mark').innerText(), word, 'the searched word is marked');
  assert.match(await mod.page.locator('#search-status').innerText(), /1 message\(s\) trouvé/);
  await assertNoSeriousA11y(mod.page, 'search results');
  await mod.page.screenshot({ path: join(SCREENSHOTS, 'mod-search-desktop.png') });
  // The deleted line is gone from the search too; a date in the future finds nothing.
  await mod.page.click('#search-clear');
  await mod.page.fill('#s-q', tag);
  await mod.page.click('#search-submit');
  await mod.page.locator('#search-status', { hasText: /1 message\(s\) trouvé/ }).waitFor();
  await mod.page.fill('#s-since', localInputValue(new Date(Date.now() + 3600 * 1000)));
  await mod.page.click('#search-submit');
  await mod.page.locator('#search-status', { hasText: 'Aucun message ne correspond.' }).waitFor();
  assert.ok(await mod.page.locator('#search-results').isHidden());

  // A result opens the room view on that line.
  await mod.page.fill('#s-since', '');
  await mod.page.click('#search-submit');
  await results.first().waitFor();
  await results.first().click();
  await mod.page.locator('#watch-log .ev-found', { hasText: kept }).waitFor();
  assert.equal(await mod.page.getAttribute('#tab-rooms', 'aria-current'), 'page');

  // The audit log lists the watching and the searches (with the since in UTC).
  await mod.page.click('#tab-audit');
  await mod.page.locator('#audit-body tr', { hasText: 'watch_room' }).first().waitFor();
  const audit = await mod.page.locator('#audit-body').innerText();
  assert.match(audit, /watch_room\s+#marseille/);
  assert.match(audit, /search\s+\*/);
  assert.match(audit, new RegExp(`q="${word}" nick="${speaker.toLowerCase()}" since=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z`));
  assert.match(audit, /delete_message/);
  noPageErrors(u.page, mod.page);
});
