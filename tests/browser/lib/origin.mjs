// A site on another origin than Huiyi's (a LiveKit app, a streaming studio, a player page): a
// few files served from a free port of 127.0.0.1, and pages of it opened in fresh browser
// contexts whose console goes to a log.

import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

/**
 * Serves `files` (path → [content type, body]) on a free port of 127.0.0.1; anything else is 404.
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function serveSite(files) {
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (file) res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
    else res.writeHead(404).end('not found');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/**
 * Opens `url` in a fresh browser context (its own cookies and storage), with the page's console
 * messages and errors appended to `log`.
 * @returns {Promise<{ context, page }>}
 */
export async function openLogged(browser, url, { log, viewport = { width: 640, height: 480 }, timeout = 15_000 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', (m) => appendFileSync(log, `[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => appendFileSync(log, `[pageerror] ${e.stack ?? e}\n`));
  await page.goto(url);
  return { context, page };
}
