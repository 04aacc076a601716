// A nested network namespace for one participant, joined to the test's namespace by a veth
// pair, so a test can take that participant's network away for real and give it back.
//
// Runs as root inside scripts/netns-run (which is where the browser tests run). The namespace
// belongs to a `sleep` started with `unshare -n`; killing it removes the namespace, and with
// it both ends of the veth pair.

import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { poll, sleep } from './wait.mjs';

const execFileP = promisify(execFile);
// Every command here is bounded.
const run = (cmd, args) => execFileP(cmd, args, { timeout: 10_000 });

// Our table's name in both namespaces' nftables; the test namespace is private, so fixed names
// clash with nothing.
const TABLE = 'huiyi_outage';

/**
 * Creates the namespace: `parentAddr` on the test namespace's end (`hyrcp`), `childAddr` on
 * the child's end (`hyrcc`), and a default route in the child through the parent, so the child
 * also reaches the test namespace's other addresses.
 * @returns {Promise<NestedNetns>}
 */
export async function nestedNetns({ parentAddr = '10.232.0.1', childAddr = '10.232.0.2', prefix = 24 } = {}) {
  // Long enough for any test, short enough not to linger long if the test process dies.
  const sleeper = spawn('unshare', ['-n', 'sleep', '900'], { stdio: 'ignore' });
  let exited = false;
  sleeper.on('exit', () => (exited = true));
  const pid = sleeper.pid;
  const ns = new NestedNetns(sleeper, parentAddr, childAddr);
  try {
    const ours = readlinkSync('/proc/self/ns/net');
    // `unshare` execs `sleep` in the new namespace; until then the pid is still in ours.
    await poll('the child network namespace to exist', async () => {
      if (exited) throw new Error('unshare -n exited early');
      return readlinkSync(`/proc/${pid}/ns/net`);
    }, (theirs) => theirs !== ours, { timeout: 5_000, interval: 50 });
    await run('ip', ['link', 'add', 'hyrcp', 'type', 'veth', 'peer', 'name', 'hyrcc']);
    await run('ip', ['link', 'set', 'hyrcc', 'netns', String(pid)]);
    await run('ip', ['addr', 'add', `${parentAddr}/${prefix}`, 'dev', 'hyrcp']);
    await run('ip', ['link', 'set', 'hyrcp', 'up']);
    for (const args of [
      ['link', 'set', 'lo', 'up'],
      ['addr', 'add', `${childAddr}/${prefix}`, 'dev', 'hyrcc'],
      ['link', 'set', 'hyrcc', 'up'],
      ['route', 'add', 'default', 'via', parentAddr],
    ]) {
      await ns.exec('ip', ...args);
    }
  } catch (e) {
    await ns.close();
    throw e;
  }
  return ns;
}

export class NestedNetns {
  constructor(sleeper, parentAddr, childAddr) {
    this.sleeper = sleeper;
    this.pid = sleeper.pid;
    this.parentAddr = parentAddr;
    this.childAddr = childAddr;
    /** Folders of the wrappers written by `wrapper()`, removed by `close()`. */
    this.dirs = [];
  }

  /** Runs a command inside the child namespace. */
  exec(cmd, ...args) {
    return run('nsenter', ['-t', String(this.pid), '-n', cmd, ...args]);
  }

  /**
   * Starts a silent outage: every packet arriving over the veth pair is dropped, on both
   * sides, as when a network path dies without a word. Nobody is told: links stay up,
   * addresses stay, senders see no error, and no TCP reset or ICMP error comes back.
   */
  async cut() {
    // One nft run per side; the test namespace's side first, which silences the child.
    const drop = (dev) => [
      `add table inet ${TABLE}`,
      `add chain inet ${TABLE} input { type filter hook input priority -300; policy accept; }`,
      `add rule inet ${TABLE} input iifname ${dev} drop`,
    ].join('\n');
    await run('nft', [drop('hyrcp')]);
    await this.exec('nft', drop('hyrcc'));
  }

  /** Ends the outage. */
  async restore() {
    await run('nft', ['delete', 'table', 'inet', TABLE]).catch(() => {});
    await this.exec('nft', 'delete', 'table', 'inet', TABLE).catch(() => {});
  }

  /**
   * Writes an executable that runs `executable` inside this namespace (for Playwright's
   * `executablePath`: Playwright talks to Chromium over pipes, which `nsenter` keeps, so the
   * browser stays under control while its network is gone).
   */
  wrapper(executable) {
    const dir = mkdtempSync(join(tmpdir(), 'huiyi-netns-'));
    this.dirs.push(dir);
    const path = join(dir, 'in-netns');
    writeFileSync(path, `#!/bin/sh\nexec nsenter -t ${this.pid} -n ${executable} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** Removes the namespace and the veth pair, and our nftables table in the test namespace. */
  async close() {
    await run('nft', ['delete', 'table', 'inet', TABLE]).catch(() => {});
    if (this.sleeper.exitCode === null && this.sleeper.signalCode === null) {
      this.sleeper.kill('SIGKILL');
      for (let i = 0; i < 50 && this.sleeper.exitCode === null && this.sleeper.signalCode === null; i++) await sleep(20);
    }
    // Gone with the namespace; this only matters if the move into it never happened.
    await run('ip', ['link', 'del', 'hyrcp']).catch(() => {});
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
