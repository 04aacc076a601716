// A host runs a meeting in headless Chromium through the web app alone: a guest joins by typing
// the code on the home page, they chat (with history for a late joiner, and a private message
// the late joiner never sees), the guest raises a hand and reacts, the host runs a poll that the
// guest and the late joiner answer, the host mutes everyone with
// self-unmute forbidden, removes the late joiner (who cannot come back), and ends the meeting
// for all. A phone-sized guest checks the layout. Screenshots of each screen go to the
// artifacts folder. Run inside scripts/netns-run, like the other browser tests.

import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium, tileOf, signUpAndSchedule } from './lib/browser.mjs';
import { startServer, tail } from './lib/server.mjs';
import { artifactsDir, sequence } from './lib/steps.mjs';
import { poll } from './lib/wait.mjs';
import { describe as describeViolations, wcagViolations } from './lib/a11y.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

describe('running a meeting in the web app', () => {
  const artifacts = artifactsDir('in-meeting');
  const stamp = Date.now().toString(36);
  let server;
  let browser;
  /** code, id */
  const meeting = {};
  const people = {};
  const consoleLogs = new Set();
  const step = sequence({
    timeout: 90_000,
    explain: async (e) => {
      // Each page's last console lines too: CI keeps only this message, not the artifacts.
      const consoles = [...consoleLogs].map((log) => `--- ${log} ---\n${tail(log, 12)}`).join('\n');
      // And what the host and the guest saw: a screenshot each, and the host's people panel.
      let panel = '';
      for (const [who, p] of Object.entries(people)) {
        if (!p?.page || p.page.isClosed()) continue;
        await shot(p.page, `failed-${who}`).catch(() => {});
        if (who === 'host') {
          panel = await p.page
            .getByTestId('people-panel')
            .evaluate((el) => `hidden=${el.hidden} ${el.innerText.replace(/\s+/g, ' ').slice(0, 600)}`, undefined, { timeout: 3_000 })
            .catch((err) => `(no people panel: ${err.message.split('\n')[0]})`);
        }
      }
      return new Error(`${e.message}\n--- host people panel ---\n${panel}\n--- server log ---\n${tail(server.log)}\n${consoles}`);
    },
  });
  const shot = (page, name) => page.screenshot({ path: join(artifacts, `in-meeting-${name}.png`) });

  async function open(name, { viewport = { width: 1280, height: 760 }, lang = 'en' } = {}) {
    const context = await browser.newContext({ viewport, locale: lang === 'zh' ? 'zh-CN' : 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const log = join(artifacts, `in-meeting-${name}.console.log`);
    consoleLogs.add(log);
    page.on('console', (m) => appendFileSync(log, `[${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => appendFileSync(log, `[pageerror] ${e.stack ?? e}\n`));
    return { context, page };
  }

  /** Joins from the home page by typing the meeting code, as a guest. */
  async function joinByTypedCode(name, opts) {
    const { context, page } = await open(name, opts);
    await page.goto(`${server.url}/?lang=${opts?.lang ?? 'en'}`);
    await page.getByTestId('join-name').fill(name);
    // Typed the way people read it out.
    await page.getByTestId('join-room').fill(`${meeting.code.slice(0, 3)} ${meeting.code.slice(3, 6)} ${meeting.code.slice(6)}`);
    await page.getByTestId('join-button').click();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });
    const identity = await page.evaluate(() => window.__huiyi.room.localParticipant.identity);
    return { context, page, identity, name };
  }

  const state = (page) =>
    page.evaluate(() => {
      const lp = window.__huiyi.room.localParticipant;
      return { mic: lp.isMicrophoneEnabled, sources: lp.permissions?.canPublishSources ?? [], room: window.__huiyi.room.name, state: window.__huiyi.room.state };
    });

  before(async () => {
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
    assert.equal(process.env.HUIYI_IN_NETNS, '1', 'run the browser tests inside scripts/netns-run');
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-in-meeting.log') });
    browser = await launchChromium();
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
  });

  step('a signed-in host schedules a meeting and joins from its link', async () => {
    const { context, page } = await open('host');
    Object.assign(meeting, await signUpAndSchedule(page, server.url, { enterprise: 'Review Board', subject: 'Design review 设计评审' }));
    await page.goto(`${server.url}/j/${meeting.code}?lang=en`);
    await page.getByTestId('join-name').fill('Host Wang');
    await page.getByTestId('join-button').click();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });
    people.host = { context, page, identity: await page.evaluate(() => window.__huiyi.room.localParticipant.identity) };
    assert.equal(await page.getByTestId('call-title').innerText(), 'Design review 设计评审');
    assert.match(await page.getByTestId('call-code').innerText(), new RegExp(`${meeting.code.slice(0, 3)} ${meeting.code.slice(3, 6)}`));
    assert.match(await page.getByTestId('status').innerText(), /Design review/, 'the status names the meeting, not its room id');
  });

  step('a malformed code gets a clear message, and a typed code reaches the meeting', async () => {
    const { context, page } = await open('typo');
    await page.goto(`${server.url}/?lang=en`);
    // The pre-join screen previews the camera and shows the microphone's level.
    await page.getByTestId('prejoin-video').waitFor();
    await poll('the camera preview to play', () => page.getByTestId('prejoin-video').evaluate((v) => v.videoWidth), (w) => w > 0);
    await poll('the microphone meter to move', () => page.getByTestId('mic-meter').getAttribute('aria-valuenow'), (v) => Number(v) > 0);
    await shot(page, 'prejoin');
    await page.getByTestId('join-name').fill('Typo');
    await page.getByTestId('join-room').fill('123 456');
    await page.getByTestId('join-button').click();
    assert.match(await page.getByTestId('join-error').innerText(), /9 digits/);
    await context.close();

    people.guest = await joinByTypedCode('Guest Li');
    assert.equal((await state(people.guest.page)).room, meeting.id, 'the typed code joins that meeting, not a room named after it');
    await tileOf(people.host.page, people.guest.identity).waitFor();
  });

  step('chat between the two, with history and privacy for a late joiner', async () => {
    const { host, guest } = people;
    await guest.page.getByTestId('toggle-chat').click();
    await guest.page.getByTestId('chat-input').fill('Hello everyone 大家好');
    await guest.page.getByTestId('chat-send').click();
    await poll('the host to get an unread chat badge', () => host.page.getByTestId('unread').count(), (n) => n === 1);
    await host.page.getByTestId('toggle-chat').click();
    await host.page.getByTestId('chat-line').filter({ hasText: 'Hello everyone 大家好' }).waitFor();
    // A private reply.
    await host.page.getByTestId('chat-to').selectOption(guest.identity);
    await host.page.getByTestId('chat-input').fill('Only for you');
    await host.page.getByTestId('chat-send').click();
    await guest.page.getByTestId('chat-line').filter({ hasText: 'Only for you' }).waitFor();
    await shot(host.page, 'chat-host');

    people.late = await joinByTypedCode('Late Zhang');
    await people.late.page.getByTestId('toggle-chat').click();
    await people.late.page.getByTestId('chat-line').filter({ hasText: 'Hello everyone 大家好' }).waitFor();
    assert.equal(await people.late.page.getByTestId('chat-line').filter({ hasText: 'Only for you' }).count(), 0, 'a private message stays private');
    await shot(people.late.page, 'chat-late-joiner');
  });

  step('a raised hand and a reaction reach the host', async () => {
    const { host, guest } = people;
    await guest.page.getByTestId('toggle-hand').click();
    await tileOf(host.page, guest.identity).getByTestId('tile-hand').waitFor();
    await host.page.getByTestId('toggle-people').click();
    const row = host.page.locator(`[data-testid="person"][data-identity="${guest.identity}"]`);
    await row.locator('.badge-hand').waitFor();
    // The first row is the first hand.
    assert.equal(await host.page.getByTestId('person').first().getAttribute('data-identity'), guest.identity);
    await guest.page.getByTestId('react').click();
    await guest.page.getByTestId('reaction').first().click();
    await tileOf(host.page, guest.identity).getByTestId('tile-reaction').waitFor();
    await shot(host.page, 'people-panel');
    // The host lowers it.
    await row.getByTestId('lower-hand').click();
    await poll('the hand to go down', () => tileOf(guest.page, guest.identity).getByTestId('tile-hand').isVisible(), (v) => v === false);
  });

  step('a poll from draft to launch to results', async () => {
    const { host, guest, late } = people;
    await host.page.getByTestId('toggle-polls').click();
    await host.page.getByTestId('poll-new').click();
    const editor = host.page.getByTestId('poll-editor');
    await editor.getByTestId('poll-title').fill('Lunch 午饭');
    await editor.getByTestId('poll-question').fill('Where shall we eat?');
    await editor.getByTestId('poll-option-text').nth(0).fill('Noodles');
    await editor.getByTestId('poll-option-text').nth(1).fill('Dumplings');
    await editor.getByTestId('poll-add-option').click();
    await editor.getByTestId('poll-option-text').nth(2).fill('Salad');
    await shot(host.page, 'poll-editor');
    await editor.getByTestId('poll-save').click();
    const card = host.page.getByTestId('poll-card').filter({ hasText: 'Lunch 午饭' });
    await card.and(host.page.locator('[data-state="draft"]')).waitFor();
    // A participant never sees a draft.
    assert.equal(await guest.page.evaluate(async () => (await (await fetch('/api/polls', { headers: { Authorization: `Bearer ${window.__huiyi.room.engine.token}` } })).json()).polls.length), 0);
    await card.getByTestId('poll-launch').click();
    await poll('the guest to be told of the poll', () => guest.page.getByTestId('poll-badge').count(), (n) => n === 1);
    await guest.page.getByTestId('toggle-polls').click();
    const ballot = guest.page.getByTestId('poll-ballot');
    await ballot.getByLabel('Dumplings').check();
    await shot(guest.page, 'poll-ballot');
    await ballot.getByTestId('poll-submit').click();
    await guest.page.getByTestId('poll-results').waitFor();
    await late.page.getByTestId('toggle-polls').click();
    await late.page.getByTestId('poll-ballot').getByLabel('Dumplings').check();
    await late.page.getByTestId('poll-submit').click();
    await late.page.getByTestId('poll-results').waitFor();
    // The host's results follow live: two votes for Dumplings.
    const dumplings = card.getByTestId('poll-result').filter({ hasText: 'Dumplings' });
    await poll('the host to see both votes', () => dumplings.innerText(), (t) => /2 · 100%/.test(t));
    await shot(host.page, 'poll-results-host');
    await card.getByTestId('poll-close').click();
    await poll('the guest to see the poll closed', () => guest.page.getByTestId('poll-card').first().getAttribute('data-state'), (s) => s === 'closed');
    await shot(guest.page, 'poll-closed');
    for (const who of [guest, late]) await who.page.getByTestId('toggle-polls').click();
    // Back to the participants panel, where the host's next controls are.
    await host.page.getByTestId('toggle-people').click();
  });

  step('shared notes: two people edit at once and converge; the host makes them read-only', async () => {
    const { host, guest } = people;
    const content = (page) => page.getByTestId('notes-editor').locator('.cm-content');
    // The document's lines, without the other editors' name-labelled cursors drawn into them.
    const text = (page) =>
      content(page).evaluate((el) => {
        const copy = el.cloneNode(true);
        copy.querySelectorAll('.cm-ySelectionCaret, .cm-ySelectionInfo, .cm-widgetBuffer').forEach((n) => n.remove());
        return [...copy.querySelectorAll('.cm-line')].map((l) => l.textContent.replace(/\u2060/g, '')).join('\n');
      });
    for (const who of [host, guest]) {
      await who.page.getByTestId('toggle-notes').click();
      // The editor is a 600 kB chunk fetched and compiled on first open: slow on a starved
      // machine. If it never shows, say what the page did show instead.
      await content(who.page).waitFor({ timeout: 40_000 }).catch(async (e) => {
        const seen = await who.page
          .evaluate(() => {
            const side = document.querySelector('[data-testid="notes-panel"]')?.parentElement ?? document.querySelector('aside, .side');
            const testids = (root) => [...(root?.querySelectorAll('[data-testid]') ?? [])].slice(0, 12).map((n) => n.dataset.testid);
            return {
              notesPanel: !!document.querySelector('[data-testid="notes-panel"]'),
              notesEditorChildren: document.querySelector('[data-testid="notes-editor"]')?.childElementCount ?? null,
              side: side ? { hidden: side.hidden, testids: testids(side) } : null,
              toasts: [...document.querySelectorAll('.toast')].map((t) => t.textContent),
            };
          })
          .catch((err) => `(the page did not answer: ${err.message.split('\n')[0]})`);
        throw new Error(`${who === host ? 'the host' : 'the guest'}'s notes editor did not show: ${e.message.split('\n')[0]}; the page had ${JSON.stringify(seen)}`);
      });
      await poll('the notes to sync', () => who.page.getByTestId('notes-status').evaluate((e) => e.hidden || !/Connecting|Loading/.test(e.textContent)), (ok) => ok);
    }
    await content(host.page).click();
    await host.page.keyboard.type('# Decisions 决定');
    await host.page.keyboard.press('Enter');
    await poll('the heading at the guest', () => text(guest.page), (t) => t.includes('Decisions 决定'));
    // Both type at once, at the end of the same line.
    await content(guest.page).click();
    await guest.page.keyboard.press('Control+End');
    await host.page.keyboard.press('Control+End');
    await Promise.all([host.page.keyboard.type('AAAA', { delay: 20 }), guest.page.keyboard.type('BBBB', { delay: 20 })]);
    await poll('both editors to converge', async () => [await text(host.page), await text(guest.page)], ([a, b]) => a === b && (a.match(/A/g) ?? []).length === 4 && (a.match(/B/g) ?? []).length === 4);
    await shot(guest.page, 'notes');
    // Read-only: the guest's editor locks, the host's does not, and the host's next words arrive.
    await host.page.getByTestId('notes-read-only').check();
    await poll('the guest editor to lock', () => content(guest.page).getAttribute('contenteditable'), (v) => v === 'false');
    assert.equal(await content(host.page).getAttribute('contenteditable'), 'true');
    assert.match(await guest.page.getByTestId('notes-status').innerText(), /read-only/);
    assert.match(await host.page.getByTestId('notes-status').innerText(), /Read-only for participants/);
    await content(host.page).click();
    await host.page.keyboard.press('Control+End');
    await host.page.keyboard.type(' — agreed');
    await poll('the host edit at the guest', () => text(guest.page), (t) => t.includes('agreed'));
    assert.equal(await content(guest.page).getAttribute('contenteditable'), 'false', 'still read-only for the guest');
    assert.match(await guest.page.getByTestId('notes-status').innerText(), /read-only/);
    await shot(guest.page, 'notes-read-only');
    // The Markdown download has it all.
    const md = await guest.page.evaluate(async () => (await fetch('/api/notes.md', { headers: { Authorization: `Bearer ${window.__huiyi.room.engine.token}` } })).text());
    assert.match(md, /^# Decisions 决定\n/);
    assert.match(md, /agreed/);
    await host.page.getByTestId('notes-read-only').uncheck();
    await poll('the guest editor to unlock', () => content(guest.page).getAttribute('contenteditable'), (v) => v === 'true');
    await guest.page.getByTestId('toggle-notes').click();
    await host.page.getByTestId('toggle-people').click();
  });

  step('a spotlight for everyone, a rename by the host, and a participant renaming themself', async () => {
    const { host, guest } = people;
    const row = host.page.locator(`[data-testid="person"][data-identity="${guest.identity}"]`);
    await row.getByTestId('spotlight').click();
    for (const page of [host.page, guest.page]) {
      await poll('the spotlight on the stage', () => page.getByTestId('focus-tile').getAttribute('data-identity').catch(() => null), (id) => id === guest.identity);
    }
    await shot(guest.page, 'spotlight');
    await row.getByTestId('spotlight').click();
    await poll('the spotlight to end', () => host.page.getByTestId('focus-tile').count(), (n) => n === 0);
    host.page.once('dialog', (d) => d.accept('Guest Li (Reviewer)'));
    await row.getByTestId('rename').click();
    await poll("the new name on the guest's own tile", () => tileOf(guest.page, guest.identity).innerText(), (t) => t.includes('Guest Li (Reviewer)'));
    await guest.page.getByTestId('toggle-people').click();
    guest.page.once('dialog', (d) => d.accept('Li (guest)'));
    await guest.page.getByTestId('rename-self').click();
    await poll('the self-chosen name at the host', () => tileOf(host.page, guest.identity).innerText(), (t) => t.includes('Li (guest)'));
    await guest.page.getByTestId('toggle-people').click();
  });

  step('mute all with self-unmute forbidden takes the microphone, and lifting it gives it back', async () => {
    const { host, guest } = people;
    await poll('the guest microphone to be on', () => state(guest.page), (s) => s.mic === true);
    await host.page.getByTestId('self-unmute').uncheck();
    await host.page.getByTestId('mute-all').click();
    await poll('the guest to lose the microphone', () => state(guest.page), (s) => s.mic === false && s.sources.length > 0 && !s.sources.includes(2));
    assert.equal(await guest.page.getByTestId('toggle-mic').isDisabled(), true, 'the mic button cannot unmute');
    await shot(guest.page, 'muted-by-host');
    await host.page.getByTestId('mute-all').click();
    await poll('the guest to get the microphone back', () => state(guest.page), (s) => s.sources.length === 0);
    assert.equal(await guest.page.getByTestId('toggle-mic').isDisabled(), false);
  });

  step('the waiting room: a newcomer waits, seeing nobody, until the host admits them', async () => {
    const { host } = people;
    await host.page.getByTestId('waiting-room').check();
    const knocker = await joinByTypedCode('Knocker Zhao');
    await knocker.page.getByTestId('waiting-overlay').waitFor();
    assert.equal(await knocker.page.getByTestId('tile').count(), 1, 'a waiting participant sees only themself');
    await shot(knocker.page, 'waiting');
    await host.page.getByTestId('knock').waitFor();
    await host.page.locator(`[data-testid="waiting-person"][data-identity="${knocker.identity}"]`).waitFor();
    assert.equal(await tileOf(host.page, knocker.identity).count(), 0, 'nobody gets a tile for someone waiting');
    await shot(host.page, 'knock');
    await host.page.getByTestId('knock-admit').click();
    await poll('the overlay to go', () => knocker.page.getByTestId('waiting-overlay').isVisible(), (v) => v === false);
    await tileOf(host.page, knocker.identity).waitFor();
    await tileOf(knocker.page, host.identity).waitFor();
    await poll('the admitted camera to publish', () => knocker.page.evaluate(() => window.__huiyi.room.localParticipant.isCameraEnabled), (on) => on === true);
    await host.page.getByTestId('waiting-room').uncheck();
    await knocker.context.close();
    await poll('the knocker to leave', () => tileOf(host.page, knocker.identity).count(), (n) => n === 0);
  });

  step('a removed participant is told so and cannot come back', async () => {
    const { host, late } = people;
    host.page.once('dialog', (d) => d.accept());
    await host.page.locator(`[data-testid="person"][data-identity="${late.identity}"]`).getByTestId('remove').click();
    await late.page.locator('[data-testid="status"][data-state="disconnected"]').waitFor({ timeout: 15_000 });
    assert.match(await late.page.getByTestId('status').innerText(), /removed/);
    await late.page.getByTestId('join-button').click();
    await poll('the rejoin to be refused', () => late.page.getByTestId('join-error').innerText(), (t) => /removed you/.test(t));
    await shot(late.page, 'removed');
    await late.context.close();
  });

  step('the meeting works on a phone-sized screen, in Chinese', async () => {
    people.phone = await joinByTypedCode('手机用户', { viewport: { width: 390, height: 780 }, lang: 'zh' });
    const { page } = people.phone;
    await tileOf(page, people.host.identity).waitFor();
    // Icons only on a phone, with the label kept as the accessible name.
    assert.ok(await page.getByRole('button', { name: '聊天' }).isVisible());
    // Every control is on screen.
    for (const id of ['toggle-mic', 'toggle-camera', 'toggle-screen', 'toggle-hand', 'react', 'toggle-people', 'toggle-chat', 'toggle-polls', 'toggle-notes', 'leave']) {
      const box = await page.getByTestId(id).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 780, `${id} is on screen: ${JSON.stringify(box)}`);
    }
    await shot(page, 'phone');
    // Device settings during the call list the (fake) devices in use.
    await page.getByTestId('open-settings').click();
    await poll('the camera list', () => page.getByTestId('settings-videoinput').locator('option').count(), (n) => n >= 1);
    await shot(page, 'phone-settings');
    await page.getByTestId('open-settings').click();
    await page.getByTestId('toggle-people').click();
    await shot(page, 'phone-people');
    // Two cores run every browser here: the phone leaves before the 27-person gallery.
    await people.phone.context.close();
  });

  step('a gallery of 9, pages of 25, and speaker view with a pin', async () => {
    const { host, guest } = people;
    // Participants without media: signalling connections from a page with no session cookie,
    // each with its own join token, as many LiveKit clients would hold.
    const { context, page } = await open('bots');
    await page.goto(`${server.url}/?lang=en`);
    const addBots = (n, from) =>
      page.evaluate(async ({ code, n, from }) => {
        window.__bots ??= [];
        const one = async (i) => {
          const res = await fetch('/v1/meetings/join', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ meeting_code: code, display_name: `Bot ${i}`, client_id: `bot-${i}-${Date.now()}` }),
          });
          const { token } = await res.json();
          const ws = new WebSocket(`ws://${location.host}/rtc?access_token=${token}&protocol=15&auto_subscribe=0`);
          await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
          // LiveKit's ping (SignalRequest field 14, an int64), so the server keeps the bot:
          // the protobuf by hand, a tag byte and a varint.
          const ping = () => {
            const bytes = [0x70];
            let v = BigInt(Date.now());
            do {
              const b = Number(v & 0x7fn);
              v >>= 7n;
              bytes.push(v ? b | 0x80 : b);
            } while (v);
            if (ws.readyState === WebSocket.OPEN) ws.send(new Uint8Array(bytes));
          };
          setInterval(ping, 2000);
          window.__bots.push(ws);
        };
        await Promise.all(Array.from({ length: n }, (_, k) => one(from + k)));
      }, { code: meeting.code, n, from });
    await addBots(7, 0);
    await poll('a gallery of 9', () => host.page.getByTestId('tile').count(), (n) => n === 9);
    await shot(host.page, 'gallery-9');
    await addBots(18, 7);
    await poll('the first page to hold 25', () => host.page.getByTestId('tile').count(), (n) => n === 25);
    assert.equal(await host.page.getByTestId('page-label').innerText(), '1 / 2');
    await host.page.getByTestId('page-next').click();
    await poll('the second page to hold the other 2', () => host.page.getByTestId('tile').count(), (n) => n === 2);
    await shot(host.page, 'gallery-page-2');
    await host.page.getByTestId('page-prev').click();
    // Speaker view, then a pin that holds the stage.
    await host.page.getByTestId('view-toggle').click();
    await host.page.getByTestId('focus-tile').waitFor();
    // Speaker view shows someone else; pinning one's own tile puts it on the stage instead.
    assert.notEqual(await host.page.getByTestId('focus-tile').getAttribute('data-identity'), host.identity);
    await tileOf(host.page, host.identity).getByTestId('pin').click({ force: true });
    await poll('the pinned tile on the stage', () => host.page.getByTestId('focus-tile').getAttribute('data-identity'), (id) => id === host.identity);
    await shot(host.page, 'speaker-pinned');
    await host.page.getByTestId('focus-tile').getByTestId('pin').click({ force: true });
    await host.page.getByTestId('view-toggle').click();
    await poll('back to the gallery', () => host.page.getByTestId('focus-tile').count(), (n) => n === 0);
    // The bots leave as a client does (an empty LeaveRequest, SignalRequest field 8), so the
    // server does not hold their sessions for a resume.
    await page.evaluate(() => window.__bots.forEach((ws) => ws.send(new Uint8Array([0x42, 0x00]))));
    // Each socket closes once the server has the leave; closing the page before that could
    // drop a LeaveRequest still in the send buffer, and that bot would wait out the resume window.
    await page.waitForFunction(() => window.__bots.every((ws) => ws.readyState === WebSocket.CLOSED || ws.bufferedAmount === 0), null, { timeout: 10_000 });
    await page.waitForFunction(() => window.__bots.every((ws) => ws.readyState === WebSocket.CLOSED), null, { timeout: 10_000 }).catch(() => undefined);
    await context.close();
    await poll('the bots to leave', () => host.page.getByTestId('tile').count(), (n) => n === 2, { timeout: 30_000 });
  }, 150_000);

  step('the meeting screen and each panel pass axe\'s WCAG 2 A and AA rules', async () => {
    const { host } = people;
    const found = [];
    const check = async (where) => {
      for (const v of await wcagViolations(host.page)) found.push({ where, ...v });
    };
    await check('meeting');
    for (const panel of ['toggle-people', 'toggle-chat', 'toggle-polls', 'toggle-notes']) {
      await host.page.getByTestId(panel).click();
      await host.page.waitForTimeout(500);
      await check(panel);
    }
    await host.page.getByTestId('toggle-notes').click();
    await host.page.getByTestId('open-settings').click();
    await check('settings');
    await host.page.getByTestId('open-settings').click();
    await host.page.getByTestId('leave').click();
    await check('leave dialog');
    await host.page.getByTestId('leave-cancel').click();
    assert.equal(found.length, 0, `WCAG violations:\n${found.map((v) => `[${v.where}] ${describeViolations([v])}`).join('\n')}`);
  });

  step('the host hands the role on and leaves; back in, the scheduled host takes it back', async () => {
    const { host, guest } = people;
    const roleAt = (page, identity) => page.evaluate((id) => {
      const room = window.__huiyi.room;
      const p = room.localParticipant.identity === id ? room.localParticipant : room.remoteParticipants.get(id);
      return p?.attributes['huiyi.role'] ?? null;
    }, identity);
    await host.page.getByTestId('leave').click();
    await host.page.getByTestId('next-host').waitFor();
    assert.ok((await host.page.getByTestId('next-host').locator('option').allInnerTexts()).some((n) => /Li/.test(n)));
    await host.page.getByTestId('next-host').selectOption({ label: await guest.page.evaluate(() => window.__huiyi.room.localParticipant.name) });
    await shot(host.page, 'leave-hand-over');
    await host.page.getByTestId('leave-confirm').click();
    await poll('the guest to host the meeting', () => roleAt(guest.page, guest.identity), (r) => r === 'host');
    // The scheduled host comes back from the meeting's link: a participant now, who may take it back.
    await host.page.goto(`${server.url}/j/${meeting.code}?lang=en`);
    await host.page.getByTestId('join-button').click();
    await host.page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });
    host.identity = await host.page.evaluate(() => window.__huiyi.room.localParticipant.identity);
    assert.equal(await roleAt(host.page, host.identity), null, 'a participant while the role is handed over');
    await host.page.getByTestId('toggle-people').click();
    await host.page.getByTestId('reclaim-host').click();
    await poll('the host role back', () => roleAt(host.page, host.identity), (r) => r === 'host');
    await poll('the guest a participant again', () => roleAt(guest.page, guest.identity), (r) => r === null);
    await host.page.getByTestId('toggle-people').click();
  });

  step('the host ends the meeting for everyone', async () => {
    const { host, guest } = people;
    await host.page.getByTestId('leave').click();
    await host.page.getByTestId('end-all').waitFor();
    await shot(host.page, 'leave-dialog');
    await host.page.getByTestId('end-all').click();
    await guest.page.locator('[data-testid="status"][data-state="disconnected"]').waitFor({ timeout: 15_000 });
    // The state and the reason's text may be written in separate turns: wait for the text.
    await poll('the guest to be told the meeting ended', () => guest.page.getByTestId('status').innerText(), (t) => /ended/.test(t), { timeout: 10_000 });
    // Nobody gets back in.
    await guest.page.getByTestId('join-button').click();
    await poll('the ended meeting to refuse joins', () => guest.page.getByTestId('join-error').innerText(), (t) => /ended or was cancelled/.test(t));
    await shot(guest.page, 'ended');
  });
});
