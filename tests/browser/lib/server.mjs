// Starts a real `huiyi serve --dev` on free ports with its own data directory, the way a user
// would, and stops it. The binary comes from HUIYI_BIN (e.g. $CARGO_TARGET_DIR/debug/huiyi).

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { poll, sleep } from './wait.mjs';

/**
 * @param {{ bin: string | undefined, webDir: string, logPath: string, dataDir?: string, bind?: string, args?: string[] }} opts
 *   `dataDir`: the data directory to use (a restart passes the one it had); a new one by default;
 *   `bind`: the address to serve on, and to advertise in ICE candidates (default 127.0.0.1);
 *   `args`: more `huiyi serve` options.
 * @returns {Promise<{ url: string, log: string, dataDir: string, stop: () => Promise<void> }>}
 */
export async function startServer({ bin, webDir, logPath, dataDir: givenDataDir, bind = '127.0.0.1', args: extra = [] }) {
  // HUIYI_URL: use a server someone else started (the README smoke test starts it with
  // scripts/serve, exactly as a user would); this test then neither starts nor stops it.
  if (process.env.HUIYI_URL) {
    return { url: process.env.HUIYI_URL.replace(/\/$/, ''), log: logPath, dataDir: undefined, stop: async () => {} };
  }
  if (!bin) throw new Error('HUIYI_BIN is not set: point it at the huiyi binary, e.g. $CARGO_TARGET_DIR/debug/huiyi');
  if (!existsSync(bin)) throw new Error(`HUIYI_BIN=${bin} does not exist: build it with cargo build first`);
  if (!existsSync(join(webDir, 'index.html'))) {
    throw new Error(`${webDir}/index.html is missing: run "npm ci && npm run build" in web/ first`);
  }
  const [port, tcpPort] = await freeTcpPorts(2, bind);
  const udpPort = await freeUdpPort(bind);
  const dataDir = givenDataDir ?? mkdtempSync(join(tmpdir(), 'huiyi-data-'));
  const args = ['serve', '--dev', '--bind', bind, '--port', port, '--rtc-tcp-port', tcpPort,
    '--rtc-udp-port', udpPort, '--data-dir', dataDir, '--web-dir', webDir, ...extra].map(String);
  const logFd = openSync(logPath, 'a');
  const child = spawn(bin, args, {
    stdio: ['ignore', logFd, logFd],
    env: { RUST_LOG: 'info', ...process.env },
  });
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));

  const url = `http://${bind}:${port}`;
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    // A server that ignores SIGTERM must not hang the test run.
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    if (!exited) child.kill('SIGKILL');
  };
  try {
    await poll(
      `${url}/healthz to answer 200 (server: ${bin} ${args.join(' ')})`,
      async () => {
        if (exited) throw new Error(`server exited early (${JSON.stringify(exited)}):\n${tail(logPath)}`);
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
        return res.status;
      },
      (status) => status === 200,
      { timeout: 30_000, interval: 250 },
    );
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n--- server log (${logPath}) ---\n${tail(logPath)}`);
  }
  return { url, log: logPath, dataDir, stop };
}

/** The last lines of a log file, for error messages. */
export function tail(path, lines = 40) {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// Ports are found by binding port 0 and releasing it: a small race with other processes, but
// the server takes explicit ports and inside the test's network namespace nothing else runs.
async function freeTcpPorts(n, host = '127.0.0.1') {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function freeUdpPort(host = '127.0.0.1') {
  const s = createSocket('udp4');
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, resolve);
  });
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}
