// Reads the TAP file tap saved for each test file and prints one plain line:
// "N passed, N failed, N skipped", counting top-level tests of every file. A file
// that did not finish (crash, missing plan, bail out) counts as one failure.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from 'tap-parser';

const dir = process.argv[2] ?? '.tap/test-results';
const files = [];
const walk = (d) => {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.tap')) files.push(p);
  }
};
try { walk(dir); } catch { /* no results at all */ }

let passed = 0, failed = 0, skipped = 0;
const broken = [];
for (const f of files) {
  const r = Parser.parse(readFileSync(f, 'utf8'));
  const done = r.find((ev) => ev[0] === 'complete')?.[1];
  if (!done) { failed += 1; broken.push(f); continue; }
  passed += done.pass - done.skip - done.todo;
  skipped += done.skip + done.todo;
  failed += done.fail;
  if (!done.ok && done.fail === 0) { failed += 1; broken.push(f); }
}
for (const f of broken) console.log(`# did not complete: ${f}`);
if (files.length === 0) { console.log('# no test results found'); failed += 1; }
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
