// Unit tests of src/portal/tz.ts, the wall-clock ⇄ unix seconds helper behind the schedule
// form. Node runs TypeScript only once it is transpiled, so the test transpiles that one file
// with the project's own `typescript` (tz.ts imports nothing) and imports the result.
//
//   cd web && npm test

import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const source = readFileSync(new URL('../src/portal/tz.ts', import.meta.url), 'utf8');
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
const file = join(mkdtempSync(join(tmpdir(), 'huiyi-tz-')), 'tz.mjs');
writeFileSync(file, outputText);
const tz = await import(pathToFileURL(file).href);

const utc = (iso) => Date.parse(iso) / 1000;

describe('zonedToUnix', () => {
  it('reads the wall clock in zones without daylight saving', () => {
    assert.equal(tz.zonedToUnix('2026-11-22', '10:00', 'Asia/Shanghai'), utc('2026-11-22T02:00:00Z'));
    assert.equal(tz.zonedToUnix('2026-11-22', '10:00', 'UTC'), utc('2026-11-22T10:00:00Z'));
    assert.equal(tz.zonedToUnix('2026-11-22', '10:00', 'Asia/Kolkata'), utc('2026-11-22T04:30:00Z'));
    // Across midnight: 07:00 in Tokyo is the previous day in UTC.
    assert.equal(tz.zonedToUnix('2026-01-01', '07:00', 'Asia/Tokyo'), utc('2025-12-31T22:00:00Z'));
  });

  it('follows daylight saving on either side of a change', () => {
    assert.equal(tz.zonedToUnix('2026-07-01', '09:00', 'America/New_York'), utc('2026-07-01T13:00:00Z'));
    assert.equal(tz.zonedToUnix('2026-12-01', '09:00', 'America/New_York'), utc('2026-12-01T14:00:00Z'));
    assert.equal(tz.zonedToUnix('2026-07-01', '09:00', 'Europe/Berlin'), utc('2026-07-01T07:00:00Z'));
  });

  it('moves a time skipped by the spring change forward, and takes the earlier of a repeated one', () => {
    // 2026-03-08 02:30 does not exist in New York (02:00 → 03:00): it becomes 03:30 EDT.
    assert.equal(tz.zonedToUnix('2026-03-08', '02:30', 'America/New_York'), utc('2026-03-08T07:30:00Z'));
    // 2026-03-29 01:30 does not exist in London: 02:30 BST.
    assert.equal(tz.zonedToUnix('2026-03-29', '01:30', 'Europe/London'), utc('2026-03-29T01:30:00Z'));
    // 2026-11-01 01:30 happens twice in New York: the first, EDT.
    assert.equal(tz.zonedToUnix('2026-11-01', '01:30', 'America/New_York'), utc('2026-11-01T05:30:00Z'));
    // 2026-10-25 01:30 happens twice in London: the first, BST.
    assert.equal(tz.zonedToUnix('2026-10-25', '01:30', 'Europe/London'), utc('2026-10-25T00:30:00Z'));
  });

  it('refuses what is not a date and a time', () => {
    assert.throws(() => tz.zonedToUnix('22/11/2026', '10:00', 'UTC'), RangeError);
  });
});

describe('unixToWall', () => {
  it('is the inverse of zonedToUnix away from daylight-saving changes', () => {
    for (const zone of ['Asia/Shanghai', 'America/Los_Angeles', 'Europe/London', 'Australia/Adelaide', 'UTC']) {
      for (const [date, time] of [['2026-11-22', '10:00'], ['2026-06-30', '23:45'], ['2027-01-01', '00:15']]) {
        assert.deepEqual(tz.unixToWall(tz.zonedToUnix(date, time, zone), zone), { date, time }, `${zone} ${date} ${time}`);
      }
    }
  });
});

describe('addDays and the zone list', () => {
  it('adds calendar days across months and years', () => {
    assert.equal(tz.addDays('2026-12-31', 1), '2027-01-01');
    assert.equal(tz.addDays('2026-03-01', -1), '2026-02-28');
  });

  it('lists UTC, the browser zone, and falls back for unknown zones', () => {
    const zones = tz.timeZones();
    assert.ok(zones.includes('UTC') && zones.includes('Asia/Shanghai') && zones.includes(tz.browserZone()));
    assert.equal(tz.validZone('Not/AZone'), tz.browserZone());
    assert.equal(tz.validZone('Europe/Paris'), 'Europe/Paris');
  });
});
