// What the browser suites share about running a story: where screenshots and logs go, and
// cases that build on each other (after one fails the rest are skipped, rather than piling up
// timeouts that hide the first error, and the failure can add what the machine saw).

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';

/** $HUIYI_ARTIFACTS (made if missing), or a fresh temporary folder named after the suite. */
export function artifactsDir(suite) {
  const dir = process.env.HUIYI_ARTIFACTS;
  if (!dir) return mkdtempSync(join(tmpdir(), `huiyi-${suite}-`));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * `step(name, fn, timeout?)` declares a case that runs only if every earlier one passed.
 * `explain(error)` (optional) returns the error to report instead, with whatever context helps
 * (server log, screenshots); it may be async.
 */
export function sequence({ timeout: defaultTimeout = 60_000, explain = (e) => e } = {}) {
  let failed = false;
  return (name, fn, timeout = defaultTimeout) =>
    it(name, { timeout }, async (t) => {
      if (failed) return t.skip('an earlier case failed');
      try {
        await fn(t);
      } catch (e) {
        failed = true;
        throw await explain(e);
      }
    });
}
