// Shared meeting notes, end to end, with Yjs's own clients: y-websocket's WebsocketProvider (the
// provider the web app uses) and raw `ws` sockets, against the real server binary. People are
// in the meeting through real signalling (lib/signalling.mjs), since only an admitted
// participant may open the notes. Two editors type at once and converge, a latecomer gets the
// whole text, the text survives a server restart, the host makes the notes read-only (a
// participant's edit is refused and reaches nobody, the host's goes through, and every client
// sees the mode in the server's awareness entry), strangers are refused, garbage closes only the
// socket that sent it, a removed participant loses the socket, and notes.md has the Markdown.
// Run inside scripts/netns-run, like the other browser tests.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import { readAuthMessage } from 'y-protocols/auth';
import * as Y from 'yjs';
import { startServer, tail } from './lib/server.mjs';
import { artifactsDir, sequence } from './lib/steps.mjs';
import { enterRoom } from './lib/signalling.mjs';
import { poll } from './lib/wait.mjs';

/** The server's own awareness client id (crates/api/src/notes/awareness.rs). */
const SERVER_CLIENT = 0;

describe('shared meeting notes', () => {
  const artifacts = artifactsDir('notes');
  // These tests need no web app; the server only wants a folder with an index.html.
  const webDir = mkdtempSync(join(tmpdir(), 'huiyi-notes-web-'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>notes test</title>');
  let server;
  let host;
  /** id, code */
  const meeting = {};
  /** name -> { token, identity, room } */
  const people = {};
  const providers = [];
  const step = sequence({ explain: (e) => new Error(`${e.message}\n--- server log ---\n${tail(server.log)}`) });
  const wsBase = () => server.url.replace(/^http/, 'ws');

  /** A signed-in portal user: their session cookie and userid. */
  async function signUp(name) {
    const res = await fetch(`${server.url}/api/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `${name.toLowerCase()}.${Date.now()}@example.com`, password: 'quiet harbour 77', username: name, enterprise_name: `${name}'s team` }),
    });
    assert.equal(res.status, 200, await res.text());
    const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('huiyi_session='));
    assert.ok(cookie, 'a session cookie');
    const me = await (await fetch(`${server.url}/api/auth/me`, { headers: { cookie } })).json();
    return { cookie, userid: me.user.userid };
  }

  /** A portal call with the host's cookie and the CSRF header. */
  async function portal(method, path, body) {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', cookie: host.cookie, 'X-Huiyi-Csrf': '1' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: (() => { try { return JSON.parse(text); } catch { return null; } })(), headers: res.headers };
  }

  async function createMeeting(subject, settings = {}) {
    const r = await portal('POST', '/v1/meetings', { subject, type: 1, instanceid: 1, settings });
    assert.equal(r.status, 200, r.text);
    const info = r.json.meeting_info_list[0];
    return { id: info.meeting_id, code: info.meeting_code };
  }

  /** A join token for `code`: the host's with `cookie`, a guest's otherwise. */
  async function joinToken(code, name, cookie) {
    const res = await fetch(`${server.url}/v1/meetings/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify({ meeting_code: code, display_name: name, client_id: `${name}-${Date.now()}` }),
    });
    const answer = await res.json();
    assert.equal(res.status, 200, JSON.stringify(answer));
    return answer;
  }

  /** Someone in the meeting: a join token and a signalling connection. */
  async function enter(name, { code = meeting.code, cookie } = {}) {
    const answer = await joinToken(code, name, cookie);
    const signal = await enterRoom(server.url, answer.token);
    people[name] = { token: answer.token, identity: answer.identity, room: answer.room, signal, cookie };
    return people[name];
  }

  /**
   * A y-websocket provider on the notes, as the web app opens it; `denied` collects the
   * permission-denied reasons it receives and `closes` the close events.
   */
  function open(name, { room = meeting.id, doc = new Y.Doc() } = {}) {
    const p = new WebsocketProvider(`${wsBase()}/api/notes`, room, doc, {
      params: { access_token: people[name].token },
      WebSocketPolyfill: WebSocket,
      // Several providers share this process: without this they would sync through a
      // BroadcastChannel and never need the server.
      disableBc: true,
      maxBackoffTime: 1000,
    });
    p.denied = [];
    p.closes = [];
    p.messageHandlers[2] = (_encoder, decoder) => readAuthMessage(decoder, doc, (_doc, reason) => p.denied.push(reason));
    p.on('connection-close', (event) => event && p.closes.push({ code: event.code, reason: event.reason }));
    p.text = () => doc.getText('notes').toString();
    // The awareness made with the provider runs a timer until its document is destroyed: end
    // both, or the test process never exits.
    const destroyProvider = p.destroy.bind(p);
    p.destroy = () => {
      destroyProvider();
      doc.destroy();
    };
    p.awareness.setLocalState({ user: { name } });
    providers.push(p);
    return p;
  }

  const synced = (p, what) => poll(`${what} to sync`, async () => p.synced, (s) => s === true, { timeout: 15_000, interval: 100 });
  const serverMode = (p) => p.awareness.getStates().get(SERVER_CLIENT)?.huiyi?.readOnly;

  /** Opens a raw socket and resolves with how the server answered: HTTP status or close. */
  function rawSocket(path, { send } = {}) {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${wsBase()}${path}`);
      ws.on('unexpected-response', (req, res) => {
        const socket = req.socket;
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
        // A refused upgrade leaves its connection open (ws hands it to us): close it once the
        // answer is in, or it keeps the test process alive for as long as the server runs.
        res.on('end', () => socket?.destroy());
      });
      ws.on('open', () => send?.(ws));
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', () => {});
    });
  }

  const markdown = async (token) => {
    const res = await fetch(`${server.url}/api/notes.md?access_token=${encodeURIComponent(token)}`);
    return { status: res.status, type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), text: await res.text() };
  };

  before(async () => {
    console.log(`artifacts (logs): ${artifacts}`);
    assert.equal(process.env.HUIYI_IN_NETNS, '1', 'run the browser tests inside scripts/netns-run');
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir, logPath: join(artifacts, 'server-notes.log') });
  }, { timeout: 60_000 });

  after(async () => {
    for (const p of providers) p.destroy();
    for (const person of Object.values(people)) person.signal?.leave();
    await server?.stop();
  });

  step('a host and two participants are in a meeting', async () => {
    host = await signUp('Host');
    Object.assign(meeting, await createMeeting('Planning 规划'));
    const h = await enter('host', { cookie: host.cookie });
    assert.equal(h.room, meeting.id);
    await enter('ann');
    await enter('bob');
  });

  step('two editors type at once and converge; a latecomer gets the whole text', async () => {
    const ann = open('ann');
    const bob = open('bob');
    await Promise.all([synced(ann, 'Ann'), synced(bob, 'Bob')]);
    // Both type into the same empty text before seeing each other's edit.
    ann.doc.getText('notes').insert(0, '# Plan\n- Ann: budget\n');
    bob.doc.getText('notes').insert(0, '- Bob: hiring\n');
    await poll('the editors to converge', async () => [ann.text(), bob.text()], ([a, b]) => a === b && a.includes('Ann: budget') && a.includes('Bob: hiring'));
    // Some more typing, character by character, as an editor sends it.
    for (const ch of 'ok') ann.doc.getText('notes').insert(ann.text().length, ch);
    await poll('Bob to see each keystroke', async () => bob.text(), (t) => t.endsWith('ok'));
    // Each sees the other's awareness and the server's entry.
    await poll('awareness to be relayed', async () => [...bob.awareness.getStates().values()].map((s) => s.user?.name), (names) => names.includes('ann'));
    assert.equal(serverMode(ann), false, 'the server says the notes are editable');
    await enter('cat');
    const cat = open('cat');
    await synced(cat, 'Cat');
    await poll('Cat to have the whole text', async () => cat.text(), (t) => t === ann.text());
  });

  step('notes.md has the Markdown, for a participant and for the host through /v1', async () => {
    const expected = providers[0].text();
    const md = await markdown(people.ann.token);
    assert.equal(md.status, 200, md.text);
    assert.equal(md.text, expected);
    assert.match(md.type, /^text\/markdown; charset=utf-8/);
    assert.match(md.disposition, new RegExp(`filename="notes-${meeting.code}\\.md"`));
    const v1 = await portal('GET', `/v1/meetings/${meeting.id}/notes.md`);
    assert.equal(v1.status, 200, v1.text);
    assert.equal(v1.text, expected);
    assert.match(v1.headers.get('content-type'), /^text\/markdown/);
  });

  step('garbage and an oversized frame close only the socket that sent them', async () => {
    const [ann, bob] = providers;
    const path = `/api/notes?access_token=${encodeURIComponent(people.cat.token)}`;
    const text = await rawSocket(path, { send: (ws) => ws.send('hello') });
    assert.equal(text.code, 1003, JSON.stringify(text));
    const garbage = await rawSocket(path, { send: (ws) => ws.send(Uint8Array.from([0, 9, 9, 9])) });
    assert.equal(garbage.code, 1007, JSON.stringify(garbage));
    const unknown = await rawSocket(path, { send: (ws) => ws.send(Uint8Array.from([7, 1, 1])) });
    assert.equal(unknown.code, 1007, JSON.stringify(unknown));
    const notJson = await rawSocket(path, { send: (ws) => ws.send(Uint8Array.from([1, 5, 1, 1, 1, 1, 0x7b])) });
    assert.equal(notJson.code, 1007, JSON.stringify(notJson));
    const big = await rawSocket(path, { send: (ws) => ws.send(new Uint8Array(300 * 1024)) });
    assert.equal(big.code, 1009, JSON.stringify(big));
    // The editors never noticed.
    ann.doc.getText('notes').insert(0, 'still here\n');
    await poll('Bob to get Ann\'s edit after the garbage', async () => bob.text(), (t) => t.startsWith('still here\n'));
    assert.deepEqual([ann.closes, bob.closes], [[], []], 'no editor was disconnected');
  });

  step('strangers are refused: no token, another room, a wrong room in the URL, absent and waiting identities', async () => {
    assert.equal((await rawSocket(`/api/notes/${meeting.id}`)).status, 401);
    assert.equal((await rawSocket(`/api/notes/${meeting.id}?access_token=not.a.token`)).status, 401);
    // A token for this meeting, with another room in the URL.
    assert.equal((await rawSocket(`/api/notes/elsewhere?access_token=${encodeURIComponent(people.ann.token)}`)).status, 403);
    // Someone admitted to another meeting, knocking on this one.
    const other = await createMeeting('Other');
    const dan = await enter('dan', { code: other.code });
    assert.equal((await rawSocket(`/api/notes/${meeting.id}?access_token=${encodeURIComponent(dan.token)}`)).status, 403);
    // Their own meeting's notes are another document.
    const danNotes = open('dan', { room: other.id });
    await synced(danNotes, 'Dan');
    assert.equal(danNotes.text(), '');
    // A token whose holder never entered the room.
    const absent = await joinToken(meeting.code, 'Eve');
    const refused = await rawSocket(`/api/notes/${meeting.id}?access_token=${encodeURIComponent(absent.token)}`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /join the meeting first/);
    assert.equal((await markdown(absent.token)).status, 403);
    // Someone in the waiting room.
    const gated = await createMeeting('Gated', { auto_in_waiting_room: true });
    const fay = await enter('fay', { code: gated.code });
    const waiting = await rawSocket(`/api/notes/${gated.id}?access_token=${encodeURIComponent(fay.token)}`);
    assert.equal(waiting.status, 403);
    assert.match(waiting.body, /not admitted/);
  });

  step('read-only: a participant\'s edit is refused and reaches nobody, the host\'s goes through, everyone sees the mode', async () => {
    const [ann, bob] = providers;
    const hostNotes = open('host');
    await synced(hostNotes, 'the host');
    const before = ann.text();
    const r = await portal('PUT', `/v1/real-control/meetings/${meeting.id}/notes`, { operator_id: host.userid, operator_id_type: 1, instanceid: 1, read_only: true });
    assert.equal(r.status, 200, r.text);
    await poll('every editor to see read-only in the server\'s awareness', async () => [ann, bob, hostNotes].map(serverMode), (m) => m.every((x) => x === true));

    ann.doc.getText('notes').insert(0, 'VANDAL ');
    await poll('Ann to be told', async () => ann.denied, (d) => d.includes('read-only'));
    // The host's edit comes after Ann's refused one, on the same server queue.
    hostNotes.doc.getText('notes').insert(hostNotes.text().length, '\n## Decided\n');
    await poll('Bob to get the host\'s edit', async () => bob.text(), (t) => t.endsWith('## Decided\n'));
    assert.ok(!bob.text().includes('VANDAL'), 'the refused edit never reached Bob');
    assert.ok(!hostNotes.text().includes('VANDAL'), 'nor the host');
    assert.equal(bob.text(), `${before}\n## Decided\n`);
    const md = await markdown(people.bob.token);
    assert.ok(!md.text.includes('VANDAL') && md.text.endsWith('## Decided\n'), md.text);

    // Back to editable; Ann starts over from the server's state, as the web app does after a
    // refusal (her own document still holds the refused edit).
    const off = await portal('PUT', `/v1/real-control/meetings/${meeting.id}/notes`, { operator_id: host.userid, operator_id_type: 1, instanceid: 1, read_only: false });
    assert.equal(off.status, 200, off.text);
    await poll('the mode to flip back', async () => serverMode(bob), (m) => m === false);
    ann.destroy();
    const ann2 = open('ann');
    await synced(ann2, 'Ann again');
    assert.equal(ann2.text(), bob.text());
    ann2.doc.getText('notes').insert(0, 'Ann again\n');
    await poll('Bob to get Ann\'s new edit', async () => bob.text(), (t) => t.startsWith('Ann again\n'));
  });

  step('a participant removed from the meeting loses the notes socket', async () => {
    const cat = providers.find((p) => p.params.access_token === people.cat.token);
    const r = await portal('PUT', `/v1/real-control/meetings/${meeting.id}/kickout`, {
      operator_id: host.userid, operator_id_type: 1, instanceid: 1, users: [{ to_operator_id: people.cat.identity, to_operator_id_type: 1 }], allow_rejoin: true,
    });
    assert.equal(r.status, 200, r.text);
    await poll('Cat\'s notes socket to close with 1008', async () => cat.closes, (c) => c.some((e) => e.code === 1008 && /not in the meeting/.test(e.reason)), { timeout: 15_000, interval: 200 });
    cat.destroy();
  });

  step('the notes survive a server restart', async (t) => {
    if (process.env.HUIYI_URL) return t.skip('HUIYI_URL: this run does not own the server');
    const expected = providers[1].text();
    assert.ok(expected.includes('## Decided'));
    for (const p of providers) p.destroy();
    providers.length = 0;
    for (const person of Object.values(people)) person.signal?.leave();
    await server.stop();
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir, logPath: join(artifacts, 'server-notes.log'), dataDir: server.dataDir });
    // Join tokens last 10 minutes: Bob enters again with his.
    people.bob.signal = await enterRoom(server.url, people.bob.token);
    const bob = open('bob');
    await synced(bob, 'Bob after the restart');
    assert.equal(bob.text(), expected);
    assert.equal((await markdown(people.bob.token)).text, expected);
    bob.doc.getText('notes').insert(0, 'after restart\n');
    await poll('the edit to be stored', async () => (await markdown(people.bob.token)).text, (t) => t.startsWith('after restart\n'));
  });
});
