// Bounded polling. Every wait in these tests ends: on success, or with an error that says what
// was awaited and the last thing seen, which is what one needs to debug a failed run.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `probe` until `accept(value)` holds or `timeout` ms pass.
 * @template T
 * @param {string} what  what we wait for, for the error message
 * @param {() => Promise<T>} probe
 * @param {(value: T) => boolean} accept
 * @returns {Promise<T>} the accepted value
 */
export async function poll(what, probe, accept, { timeout = 20_000, interval = 500 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (e) {
      last = `probe threw: ${e instanceof Error ? e.message : e}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}
