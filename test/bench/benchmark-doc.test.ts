// No stale number: docs/benchmark.md is exactly what bench/results.json renders to, and the README quotes no
// benchmark figure of its own.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderBenchmarkDoc } from '../../bench/benchmark-doc.js';
import { DOC_FILE, RESULTS_FILE, type BenchResults } from '../../bench/results.js';
import { ROOT } from '../helpers/cli.js';

describe('docs/benchmark.md', () => {
  const results = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as BenchResults;

  it('is generated from bench/results.json (run `npm run bench-doc` after `npm run bench`)', () => {
    expect(readFileSync(DOC_FILE, 'utf8')).toBe(renderBenchmarkDoc(results));
  });

  it("shows the results file's own figures", () => {
    const doc = readFileSync(DOC_FILE, 'utf8');
    expect(doc).toContain(`| ${results.analyze.ratio.toFixed(2)}x |`);
    expect(doc).toContain(`| ${results.startup.helpRatio.toFixed(2)}x |`);
    // A figure changed by hand in the results file changes the page.
    const changed = { ...results, analyze: { ...results.analyze, ratio: results.analyze.ratio + 1 } };
    expect(renderBenchmarkDoc(changed)).not.toBe(doc);
  });

  it('README links to it and quotes no throughput or ratio figure', () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    expect(readme).toContain('docs/benchmark.md');
    expect(readme).not.toMatch(/\d(\.\d+)? ?M packets\/s|\d\.\d+ ?[x×] tcpdump/);
  });
});
