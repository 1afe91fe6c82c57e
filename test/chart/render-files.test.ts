// The Go chart renderer's .Files, against what Helm's loader puts there: files outside templates/ and charts/, less
// Chart.yaml, the values and the schema, less what .helmignore names; a missing file reads as empty.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { buildGoRenderer } from '../helpers/helm.js';

function chart(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-files-chart-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries({ 'Chart.yaml': 'apiVersion: v2\nname: t\nversion: 0.1.0\n', ...files })) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'values.json'), '{}');
  return dir;
}

const render = (dir: string) => spawnSync(buildGoRenderer(), ['-chart', dir, '-values', join(dir, 'values.json')], { encoding: 'utf8' });

it('.Files.Get reads chart files as Helm does, leaving out what .helmignore names', () => {
  const names = [
    '.helmignore',
    'a.txt',
    'dir/b.txt',
    'x.swp',
    'skip/c.txt',
    'deep/skip/d.txt',
    'Chart.yaml',
    'values.yaml',
    'templates/t.yaml',
    'none',
  ];
  const dir = chart({
    '.helmignore': '# comment\n*.swp\nskip/\n',
    'a.txt': 'A',
    'dir/b.txt': 'B',
    'x.swp': 'SWP',
    'skip/c.txt': 'C',
    'deep/skip/d.txt': 'D',
    'values.yaml': 'v: 1\n',
    'templates/t.yaml': `data:\n${names.map((n) => `  ${JSON.stringify(n)}: {{ .Files.Get ${JSON.stringify(n)} | quote }}`).join('\n')}\n`,
  });
  const r = render(dir);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const got = Object.fromEntries(names.map((n) => [n, new RegExp(`"${n.replace('.', '\\.')}": "([^"]*)"`).exec(r.stdout)?.[1]]));
  expect(got).toEqual({
    // Helm's loader keeps .helmignore itself among the files
    '.helmignore': '# comment\\n*.swp\\nskip/\\n',
    'a.txt': 'A',
    'dir/b.txt': 'B',
    'x.swp': '',
    'skip/c.txt': '',
    'deep/skip/d.txt': '',
    'Chart.yaml': '',
    'values.yaml': '',
    'templates/t.yaml': '',
    none: '',
  });
});

it('refuses a .helmignore negation rather than misread it', () => {
  const r = render(chart({ '.helmignore': '*.txt\n!keep.txt\n', 'templates/t.yaml': 'a: 1\n' }));
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/"!keep.txt" is not supported/);
});
