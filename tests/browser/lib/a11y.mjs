// Accessibility checks with axe-core (Deque's rules engine, from npm): the WCAG 2.x A and AA
// rules, run inside the page as it is at that moment. Only violations are reported; axe's
// "incomplete" results (things it cannot decide, such as text over video) are not failures.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe's WCAG 2.0/2.1/2.2 A and AA rules on `page` (optionally only inside `selector`).
 * @returns {Promise<{ id: string, impact: string, help: string, nodes: string[] }[]>} the violations
 */
export async function wcagViolations(page, selector) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE });
  return page.evaluate(async (sel) => {
    const result = await window.axe.run(sel ? document.querySelector(sel) : document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1, 2).join(' ').trim()}`),
    }));
  }, selector ?? null);
}

/** A readable list of violations, for an assertion message. */
export function describe(violations) {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.join('\n    ')}`).join('\n');
}
