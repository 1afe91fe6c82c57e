// The split of the suite into the parallel "unit" and the serial "namespace" vitest projects: vitest's own file list
// (not our globs) must put every test file in exactly one project, and in "namespace" exactly when the file needs root
// or starts the agent.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/** What makes a file a namespace test: root-only suites (namespaces, live capture) and runs of the agent itself. */
const NAMESPACE_MARKERS = [/\bdescribeAsRoot\(/, /\bstartServe\(/, /\bBIN,\s*'(serve|demo)'/];

function testFiles(): string[] {
  return readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/${f}`)
    .sort();
}

describe('vitest projects', () => {
  it('put every test file in exactly one project, namespace exactly for the files that need root or start the agent', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    const r = await execa(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'list', '--filesOnly', '--json'], {
      cwd: ROOT,
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 60_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as { file: string; projectName: string }[];
    const projects = new Map<string, string[]>();
    for (const { file, projectName } of listed) {
      const rel = relative(ROOT, file);
      projects.set(rel, [...(projects.get(rel) ?? []), projectName]);
    }
    const files = testFiles();
    expect(files.length).toBeGreaterThan(40);
    expect([...projects.keys()].sort()).toEqual(files);
    const wrong: string[] = [];
    for (const f of files) {
      const src = readFileSync(join(ROOT, f), 'utf8');
      const want = NAMESPACE_MARKERS.some((m) => m.test(src)) ? 'namespace' : 'unit';
      const got = projects.get(f)!;
      if (got.length !== 1 || got[0] !== want) wrong.push(`${f}: in ${got.join(' and ')}, should be in ${want}`);
    }
    expect(wrong).toEqual([]);
    const count = (p: string) => [...projects.values()].filter((g) => g[0] === p).length;
    expect(count('namespace')).toBeGreaterThan(10);
    expect(count('unit')).toBeGreaterThan(20);
  });
});
