// The web portal in headless Chromium against a real huiyi server: an admin signs up, schedules
// a recurring meeting in a chosen time zone, reads its page, edits and cancels meetings, and
// manages members, app credentials, webhooks and statistics on /admin, in English and Chinese.
//
//   HUIYI_BIN=$CARGO_TARGET_DIR/debug/huiyi scripts/netns-run node --test tests/browser/portal.test.mjs
//
// The cases run in order in one browser context (one signed-in person). A small HTTP server on
// 127.0.0.1 plays the webhook receiver. Screenshots, the server log and the page's console go to
// $HUIYI_ARTIFACTS or a fresh temp dir, printed at the start.

import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/browser.mjs';
import { startServer, tail } from './lib/server.mjs';
import { artifactsDir, sequence } from './lib/steps.mjs';
import { signedFetch } from './lib/signed.mjs';
import { poll } from './lib/wait.mjs';
import { describe as describeViolations, wcagViolations } from './lib/a11y.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

// The zone the meeting is scheduled in: not the browser's (UTC inside the test namespace), and
// without daylight saving, so the expected instant is plain arithmetic.
const ZONE = 'Asia/Shanghai';
const ZONE_OFFSET_HOURS = 8;

describe('the web portal', () => {
  const artifacts = artifactsDir('portal');
  const stamp = Date.now().toString(36);
  const admin = { username: 'Wang Fang', email: `wang.${stamp}@example.com`, password: 'correct horse 1', enterprise: 'Tsinghua Defence Office' };
  const member = { userid: `li.lei.${stamp}`, username: 'Li Lei', email: `li.${stamp}@example.com`, password: 'member pass 22' };
  let server;
  let browser;
  let context;
  let page;
  let receiver;
  /** What the scheduled meeting looks like, filled in as the cases go. */
  const meeting = {};
  /** An instant meeting, scheduled to make a webhook event, then joined. */
  const instant = {};

  const screenshot = (name) => page.screenshot({ path: join(artifacts, `portal-${name}.png`), fullPage: true });
  const api = (path) =>
    page.evaluate(async (p) => {
      const res = await fetch(p, { credentials: 'same-origin' });
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    }, path);
  const apiJson = async (path) => {
    const r = await api(path);
    assert.equal(r.status, 200, `GET ${path}: ${r.text}`);
    return JSON.parse(r.text);
  };
  // The cases build on each other: after one fails, the rest are skipped.
  const step = sequence();
  const onPath = (pathname) => page.waitForURL((u) => u.pathname === pathname, { timeout: 10_000 });

  before(async () => {
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
    assert.equal(process.env.HUIYI_IN_NETNS, '1', 'run the browser tests inside scripts/netns-run');
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-portal.log') });
    receiver = await startWebhookReceiver();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1200, height: 800 }, locale: 'en-US', timezoneId: 'UTC' });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const consoleLog = join(artifacts, 'portal.console.log');
    page.on('console', (m) => appendFileSync(consoleLog, `[${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => appendFileSync(consoleLog, `[pageerror] ${e.stack ?? e}\n`));
    // Cancel, delete and revoke ask for confirmation; the person in this test always agrees.
    page.on('dialog', (d) => void d.accept());
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
    receiver?.server.close();
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
  });

  step('sends a signed-out visitor to /signin, and signs up a new admin', async () => {
    await page.goto(`${server.url}/meetings?lang=en`);
    await onPath('/signin');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/meetings?lang=en');
    await screenshot('signin');

    await page.getByRole('link', { name: 'Create one' }).click();
    await onPath('/signup');
    await page.getByTestId('signup-username').fill(admin.username);
    await page.getByTestId('signup-email').fill(admin.email);
    await page.getByTestId('signup-password').fill(admin.password);
    await page.getByTestId('signup-enterprise').fill(admin.enterprise);
    await screenshot('signup');
    await page.getByTestId('signup-submit').click();
    try {
      await onPath('/meetings');
    } catch (e) {
      throw new Error(`signup did not reach /meetings: "${await page.getByTestId('signup-error').innerText().catch(() => '')}"\n${tail(server.log)}`);
    }
    assert.equal(await page.getByTestId('nav-user').innerText(), admin.username);
    await page.getByTestId('nav-admin').waitFor();
    const me = await apiJson('/api/auth/me');
    assert.equal(me.user.role, 'admin');
    admin.userid = me.user.userid;
  });

  step('schedules a weekly meeting in a chosen time zone through the form', async () => {
    await page.getByTestId('nav-schedule').click();
    await onPath('/meetings/new');
    // A week from now, 10:00 to 11:30 in Shanghai.
    const date = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date(Date.now() + 7 * 86_400_000));
    const [y, m, d] = date.split('-').map(Number);
    meeting.start = Date.UTC(y, m - 1, d, 10 - ZONE_OFFSET_HOURS, 0) / 1000;
    meeting.subject = 'Thesis defence';

    await page.getByTestId('sched-subject').fill(meeting.subject);
    await page.getByTestId('sched-tz').selectOption(ZONE);
    await page.getByTestId('sched-date').fill(date);
    await page.getByTestId('sched-start').fill('10:00');
    await page.getByTestId('sched-start').dispatchEvent('change');
    await page.getByTestId('sched-duration').selectOption('90');
    assert.equal(await page.getByTestId('sched-end').inputValue(), '11:30', 'the duration moves the end time');
    await page.getByTestId('sched-password').fill('2468');
    await page.getByTestId('sched-location').fill('Room 301');
    await page.getByTestId('sched-recurrence').selectOption('2');
    await page.getByTestId('sched-until-type').selectOption('1');
    await page.getByTestId('sched-until-count').fill('4');
    await page.getByTestId('sched-mute').check();
    await page.getByTestId('sched-join-type').selectOption('3');
    await screenshot('schedule-form');
    await page.getByTestId('sched-submit').click();

    const isMeetingPage = (u) => /^\/meetings\/[^/]+$/.test(u.pathname) && u.pathname !== '/meetings/new';
    await page.waitForURL(isMeetingPage, { timeout: 10_000 }).catch(async () => {
      throw new Error(`scheduling failed: "${await page.getByTestId('sched-error').innerText()}"`);
    });
    meeting.id = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]);
    const info = (await apiJson(`/v1/meetings/${meeting.id}?userid=${admin.userid}`)).meeting_info_list[0];
    assert.equal(Number(info.start_time), meeting.start, `10:00 in ${ZONE} is ${new Date(meeting.start * 1000).toISOString()}`);
    assert.equal(Number(info.end_time), meeting.start + 90 * 60);
    assert.equal(info.time_zone, ZONE);
    assert.equal(info.location, 'Room 301');
    assert.equal(info.password, '2468');
    assert.equal(info.meeting_type, 1);
    assert.deepEqual(
      { type: info.recurring_rule.recurring_type, until: info.recurring_rule.until_type, count: info.recurring_rule.until_count },
      { type: 2, until: 1, count: 4 },
    );
    assert.equal(info.settings.mute_enable_join, true);
    assert.equal(info.settings.only_user_join_type, 3);
    meeting.code = info.meeting_code;
    meeting.joinUrl = info.join_url;
  });

  step('lists the meeting under upcoming in /meetings', async () => {
    await page.getByTestId('nav-meetings').click();
    await onPath('/meetings');
    const row = page.locator(`[data-testid="upcoming-row"][data-meeting-id="${meeting.id}"]`);
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, new RegExp(meeting.subject));
    assert.match(text, new RegExp(meeting.code));
    await page.getByTestId('history-section').waitFor();
    await screenshot('meetings');
  });

  step('shows the meeting page: code, join link, occurrences, invitation and attendance', async () => {
    await page.locator(`[data-testid="upcoming-row"][data-meeting-id="${meeting.id}"] [data-testid="meeting-link"]`).click();
    await onPath(`/meetings/${meeting.id}`);
    assert.equal(await page.getByTestId('meeting-subject').innerText(), meeting.subject);
    assert.equal(await page.getByTestId('meeting-code').innerText(), meeting.code);
    const joinUrl = await page.getByTestId('meeting-join-url').inputValue();
    assert.equal(joinUrl, meeting.joinUrl);
    assert.match(joinUrl, new RegExp(`/j/${meeting.code}$`));
    assert.equal(await page.getByTestId('meeting-join').getAttribute('href'), meeting.joinUrl);
    // Times are shown in the meeting's zone: 10:00, not the browser's 02:00.
    assert.match(await page.getByTestId('meeting-time').innerText(), /10:00/);
    assert.equal(await page.getByTestId('sub-meetings-count').getAttribute('data-count'), '4');
    assert.equal(await page.getByTestId('sub-meeting-row').count(), 4);

    const ics = await api(await page.getByTestId('meeting-ics').getAttribute('href'));
    assert.equal(ics.status, 200, ics.text);
    assert.match(ics.type, /^text\/calendar/);
    assert.match(ics.text, /BEGIN:VCALENDAR/);
    assert.match(ics.text, /RRULE:/);
    assert.ok(ics.text.includes(meeting.code), 'the invitation carries the meeting code');

    await page.getByTestId('stat-unique').waitFor();
    assert.equal(await page.getByTestId('stat-unique').getAttribute('data-value'), '0');
    const csv = await api(await page.getByTestId('attendance-csv').getAttribute('href'));
    assert.equal(csv.status, 200, csv.text);
    assert.match(csv.type, /^text\/csv/);
    assert.match(csv.text, /^userid,user_name,role,device,ip,join_time,left_time,minutes/);
    // What the meeting produced, downloadable from its page by its host (empty before it runs).
    for (const [testid, type, head] of [['chat-csv', /^text\/csv/, /^time,from,from_name,to,text/], ['polls-csv', /^text\/csv/, /^poll,state,voters,question,option,votes,chosen_by/], ['notes-md', /^text\/markdown/, /^$/]]) {
      const r = await api(await page.getByTestId(testid).getAttribute('href'));
      assert.equal(r.status, 200, `${testid}: ${r.text}`);
      assert.match(r.type, type, testid);
      assert.match(r.text, head, testid);
    }
    await screenshot('meeting-page');
  });

  step('edits the subject; the form comes back with the saved values', async () => {
    await page.getByTestId('meeting-edit').click();
    await onPath(`/meetings/${meeting.id}/edit`);
    assert.equal(await page.getByTestId('sched-subject').inputValue(), meeting.subject);
    assert.equal(await page.getByTestId('sched-tz').inputValue(), ZONE);
    assert.equal(await page.getByTestId('sched-start').inputValue(), '10:00');
    assert.equal(await page.getByTestId('sched-end').inputValue(), '11:30');
    assert.equal(await page.getByTestId('sched-recurrence').inputValue(), '2');
    assert.equal(await page.getByTestId('sched-until-count').inputValue(), '4');
    assert.equal(await page.getByTestId('sched-mute').isChecked(), true);

    meeting.subject = 'Thesis defence (room changed)';
    await page.getByTestId('sched-subject').fill(meeting.subject);
    await page.getByTestId('sched-submit').click();
    await onPath(`/meetings/${meeting.id}`);
    await poll('the new subject', () => page.getByTestId('meeting-subject').innerText(), (s) => s === meeting.subject);
    const info = (await apiJson(`/v1/meetings/${meeting.id}?userid=${admin.userid}`)).meeting_info_list[0];
    assert.equal(info.subject, meeting.subject);
    assert.equal(Number(info.start_time), meeting.start, 'saving the form again keeps the start');
  });

  step('adds a member on /admin and deletes another', async () => {
    await page.getByTestId('nav-admin').click();
    await onPath('/admin');
    await page.locator(`[data-testid="member-row"][data-userid="${admin.userid}"]`).waitFor();

    const add = async (u, role) => {
      await page.getByTestId('member-userid').fill(u.userid);
      await page.getByTestId('member-username').fill(u.username);
      await page.getByTestId('member-email').fill(u.email ?? '');
      await page.getByTestId('member-password').fill(u.password ?? '');
      await page.getByTestId('member-role').selectOption(role);
      await page.getByTestId('member-submit').click();
      await page.locator(`[data-testid="member-row"][data-userid="${u.userid}"]`).waitFor().catch(async () => {
        throw new Error(`member ${u.userid} not listed: "${await page.getByTestId('member-form-error').innerText()}"`);
      });
    };
    await add(member, 'member');
    assert.match(await page.locator(`[data-testid="member-row"][data-userid="${member.userid}"]`).innerText(), /Li Lei/);
    const temp = { userid: `temp.${stamp}`, username: 'Temporary' };
    await add(temp, 'member');
    await screenshot('admin-members');
    await page.locator(`[data-testid="member-row"][data-userid="${temp.userid}"] [data-testid="member-delete"]`).click();
    await page.locator(`[data-testid="member-row"][data-userid="${temp.userid}"]`).waitFor({ state: 'detached' });
  });

  step('creates an app credential that signs requests, and revokes it', async () => {
    await page.getByTestId('tab-credentials').click();
    await page.getByTestId('credential-create').click();
    await page.getByTestId('new-credential').waitFor();
    const cred = {
      appId: await page.getByTestId('new-app-id').innerText(),
      sdkId: await page.getByTestId('new-sdk-id').innerText(),
      secretId: await page.getByTestId('new-secret-id').innerText(),
      secretKey: await page.getByTestId('new-secret-key').innerText(),
    };
    assert.ok(cred.secretKey.length >= 16, `a SecretKey is shown once: ${JSON.stringify(cred)}`);
    const row = page.locator(`[data-testid="credential-row"][data-secret-id="${cred.secretId}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-revoked'), 'false');
    assert.ok(!(await page.getByTestId('credentials-table').innerText()).includes(cred.secretKey), 'the list never shows the SecretKey');
    await screenshot('admin-credentials');

    const uri = `/v1/meetings?userid=${encodeURIComponent(admin.userid)}`;
    const before = await signedFetch(server.url, 'GET', uri, undefined, cred);
    assert.equal(before.status, 200, `the new credential signs requests: ${JSON.stringify(before.answer)}`);

    await row.getByTestId('credential-revoke').click();
    await poll('the credential to show as revoked', () => row.getAttribute('data-revoked'), (v) => v === 'true', { timeout: 10_000 });
    const afterRevoke = await signedFetch(server.url, 'GET', uri, undefined, cred);
    assert.equal(afterRevoke.status, 401, `a revoked credential is refused: ${JSON.stringify(afterRevoke.answer)}`);
  });

  step('adds a webhook (the URL check reaches our receiver), shows its deliveries and deletes it', async () => {
    await page.getByTestId('tab-webhooks').click();
    const url = `${receiver.url}/huiyi-events`;
    await page.getByTestId('webhook-url').fill(url);
    await page.getByTestId('webhook-token').fill('portal-test-token');
    await page.getByTestId('webhook-submit').click();
    const row = page.locator('[data-testid="webhook-row"]', { hasText: url });
    await row.waitFor().catch(async () => {
      throw new Error(`webhook not added: "${await page.getByTestId('webhook-form-error').innerText()}"`);
    });
    assert.ok(receiver.checks.length >= 1, 'the server checked the URL before saving');

    // An event to deliver: a meeting scheduled through the same session.
    const created = await page.evaluate(async (userid) => {
      const res = await fetch('/v1/meetings', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'X-Huiyi-Csrf': '1' },
        body: JSON.stringify({ userid, subject: 'Webhook probe', type: 1 }),
      });
      return { status: res.status, text: await res.text() };
    }, admin.userid);
    assert.equal(created.status, 200, created.text);
    const probe = JSON.parse(created.text).meeting_info_list[0];
    instant.id = probe.meeting_id;
    instant.code = probe.meeting_code;
    await poll('an event to reach the receiver', async () => receiver.events.length, (n) => n > 0, { timeout: 20_000 });

    await row.getByTestId('webhook-deliveries').click();
    await poll(
      'a delivered entry in the log',
      async () => {
        await page.getByTestId('deliveries-refresh').click();
        return page.locator('[data-testid="delivery-row"][data-status="delivered"]').count();
      },
      (n) => n > 0,
      { timeout: 20_000, interval: 1_000 },
    );
    await screenshot('admin-webhooks');
    await row.getByTestId('webhook-delete').click();
    await row.waitFor({ state: 'detached' });
  });

  step('switches the language to Chinese and back', async () => {
    await page.getByTestId('lang-zh').click();
    await poll('the nav in Chinese', () => page.getByTestId('nav-meetings').innerText(), (s) => s === '我的会议');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    await page.getByTestId('tab-statistics').waitFor();
    assert.equal(await page.getByTestId('tab-members').innerText(), '成员');
    await page.goto(`${server.url}/meetings/${meeting.id}`);
    await page.getByTestId('meeting-subject').waitFor();
    assert.equal(await page.getByTestId('meeting-edit').innerText(), '修改', 'the choice survives a reload');
    await screenshot('meeting-page-zh');
    await page.getByTestId('lang-en').click();
    await poll('the nav in English', () => page.getByTestId('nav-meetings').innerText(), (s) => s === 'My meetings');
  });

  step('joins signed in from /j/<code>: the name is prefilled, and the attendance counts the host', async () => {
    await page.goto(`${server.url}/j/${instant.code}`);
    await page.getByTestId('join-portal-link').waitFor();
    await poll('the name to be prefilled', () => page.getByTestId('join-name').inputValue(), (v) => v === admin.username);
    assert.equal(await page.getByTestId('join-portal-link').getAttribute('href'), '/meetings');
    await page.getByTestId('join-button').click();
    const status = page.locator('[data-testid="status"]:is([data-state="connected"], [data-state="disconnected"])');
    await status.waitFor({ timeout: 35_000 });
    assert.equal(await status.getAttribute('data-state'), 'connected', await status.innerText());
    assert.equal(await page.evaluate(() => window.__huiyi.room.localParticipant.identity), admin.userid, 'signed in, the identity is the userid');
    assert.match(await page.evaluate(() => localStorage.getItem('huiyi.clientId')), /^[0-9a-f]{32}$/);
    // Times are whole seconds: stay until the session has lasted into a later second, so it
    // has a length and counts towards the peak.
    await poll(
      'the session to be recorded, and a second to pass',
      async () => (await apiJson(`/v1/meetings/${instant.id}/participants?userid=${admin.userid}`)).participants ?? [],
      (list) => list.length === 1 && Math.floor(Date.now() / 1000) > Number(list[0].join_time),
      { timeout: 10_000, interval: 250 },
    );
    await page.getByTestId('leave').click();
    await page.getByTestId('leave-confirm').click();
    await page.locator('[data-testid="status"][data-state="disconnected"]').waitFor({ timeout: 10_000 });

    await page.goto(`${server.url}/meetings/${instant.id}`);
    await poll('one attendee in the statistics', () => page.getByTestId('stat-unique').getAttribute('data-value'), (v) => v === '1', { timeout: 10_000 });
    assert.equal(await page.getByTestId('stat-peak').getAttribute('data-value'), '1');
    assert.equal(await page.getByTestId('participant-row').count(), 1);
    assert.match(await page.getByTestId('participant-row').innerText(), /Host/);
    await screenshot('meeting-attended');
  });

  step('renders the statistics table with totals', async () => {
    await page.getByTestId('nav-admin').click();
    await page.getByTestId('tab-statistics').click();
    await page.getByTestId('stats-tz').selectOption(ZONE);
    // Through tomorrow: the joined meeting's day in Shanghai may be tomorrow in UTC.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByTestId('stats-end').fill(tomorrow);
    await page.getByTestId('stats-submit').click();
    await page.getByTestId('stats-table').waitFor().catch(async () => {
      throw new Error(`no statistics: "${await page.getByTestId('stats-error').innerText()}"`);
    });
    assert.ok((await page.getByTestId('stats-row').count()) >= 1, 'one row per day');
    const total = await page.getByTestId('stats-total').locator('td').allInnerTexts();
    assert.equal(total[0], 'Total');
    assert.ok(Number(total[1]) >= 1, `the joined meeting counts: ${total.join(' | ')}`);
    await screenshot('admin-statistics');
  });

  step('the portal pages pass axe\'s WCAG 2 A and AA rules', async () => {
    const found = [];
    for (const path of ['/meetings', `/meetings/${meeting.id}`, '/meetings/new', '/admin']) {
      await page.goto(`${server.url}${path}`);
      await page.waitForLoadState('networkidle');
      await page.locator('main').first().waitFor();
      for (const v of await wcagViolations(page)) found.push(`[${path}] ${describeViolations([v])}`);
    }
    for (const tab of ['tab-credentials', 'tab-webhooks', 'tab-statistics']) {
      await page.getByTestId(tab).click();
      await page.waitForTimeout(300);
      for (const v of await wcagViolations(page)) found.push(`[/admin ${tab}] ${describeViolations([v])}`);
    }
    assert.equal(found.length, 0, `WCAG violations:\n${found.join('\n')}`);
  });

  step('works on a phone: no page scrolls sideways; wide tables scroll inside their own box', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    const pages = [
      ['meetings', '/meetings', 'meetings'],
      ['meeting', `/meetings/${meeting.id}`, 'meeting-page'],
      ['schedule', '/meetings/new', 'schedule-form'],
      ['admin', '/admin', 'admin-members'],
    ];
    try {
      for (const [name, path, testid] of pages) {
        await page.goto(`${server.url}${path}`);
        await page.waitForLoadState('networkidle');
        await page.locator('main').first().waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        await page.screenshot({ path: join(artifacts, `portal-phone-${name}.png`), fullPage: true });
        assert.ok(overflow <= 0, `${path} (${testid}) scrolls sideways by ${overflow}px on a phone`);
      }
      await page.getByTestId('nav-admin').click();
      await page.getByTestId('tab-statistics').click();
      await page.getByTestId('stats-tz').selectOption(ZONE);
      await page.getByTestId('stats-end').fill(new Date(Date.now() + 86_400_000).toISOString().slice(0, 10));
      await page.getByTestId('stats-submit').click();
      await page.getByTestId('stats-table').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      await page.screenshot({ path: join(artifacts, 'portal-phone-statistics.png'), fullPage: true });
      assert.ok(overflow <= 0, `the statistics page scrolls sideways by ${overflow}px on a phone`);
    } finally {
      await page.setViewportSize({ width: 1200, height: 800 });
    }
  });

  step('cancels a meeting from its page', async () => {
    await page.goto(`${server.url}/meetings/${meeting.id}`);
    await page.getByTestId('meeting-cancel').click();
    await poll(
      'the meeting to show as cancelled',
      () => page.getByTestId('meeting-status').getAttribute('data-status'),
      (s) => s === 'MEETING_STATE_CANCELLED',
      { timeout: 10_000 },
    );
    assert.equal(await page.getByTestId('meeting-cancel').count(), 0, 'a cancelled meeting offers no cancel');
    assert.equal(await page.getByTestId('meeting-edit').count(), 0, 'nor edit');
    await screenshot('meeting-cancelled');
  });

  step('signs out: portal pages send to /signin again, and a member sees no Admin', async () => {
    await page.getByTestId('nav-signout').click();
    await onPath('/signin');
    await page.goto(`${server.url}/meetings`);
    await onPath('/signin');

    await page.getByTestId('signin-email').fill(member.email);
    await page.getByTestId('signin-password').fill('wrong password');
    await page.getByTestId('signin-submit').click();
    await poll('a refused sign-in', () => page.getByTestId('signin-error').innerText(), (s) => s.length > 0, { timeout: 10_000 });

    await page.getByTestId('signin-password').fill(member.password);
    await page.getByTestId('signin-submit').click();
    await onPath('/meetings');
    assert.equal(await page.getByTestId('nav-user').innerText(), member.username);
    assert.equal(await page.getByTestId('nav-admin').count(), 0, 'members have no Admin link');
    await page.goto(`${server.url}/admin`);
    await page.getByTestId('admin-only').waitFor();
    await page.getByTestId('nav-signout').click();
    await onPath('/signin');
  });
});

/**
 * A webhook receiver on loopback: answers Tencent's URL check (GET with `check_str`, base64)
 * with the decoded text, and records each event POSTed to it.
 */
async function startWebhookReceiver() {
  const checks = [];
  const events = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://receiver');
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'GET' && url.searchParams.has('check_str')) {
        const plain = Buffer.from(url.searchParams.get('check_str'), 'base64').toString('utf8');
        checks.push(plain);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(plain);
        return;
      }
      if (req.method === 'POST') events.push(body);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('successfully received callback');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, checks, events, url: `http://127.0.0.1:${server.address().port}` };
}
