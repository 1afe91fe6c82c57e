// The README stays short enough for the people who run asymroute, and no relative link in README.md, the chart's README, docs/*.md or
// docs/runbooks/*.md points at a file or heading that is not there (headings get GitHub's anchors).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const README_LIMIT = 12_288;

/** Markdown outside fenced code blocks, with inline code spans blanked (links and headings in code do not count). */
function prose(md: string): string[] {
  const out: string[] = [];
  let fence = false;
  for (const line of md.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      fence = !fence;
      out.push('');
      continue;
    }
    out.push(fence ? '' : line);
  }
  return out;
}

/** GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(md)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function links(md: string): string[] {
  const out: string[] = [];
  for (const line of prose(md)) {
    const text = line.replace(/`[^`]*`/g, (c) => ' '.repeat(c.length));
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1]!);
  }
  return out;
}

/** Every broken relative link of a file, as "file: target (why)". */
function brokenLinks(file: string, md: string): string[] {
  const problems: string[] = [];
  const name = relative(ROOT, file);
  for (const target of links(md)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [path, anchor] = target.split('#', 2) as [string, string | undefined];
    const dest = path ? join(dirname(file), decodeURIComponent(path)) : file;
    if (!existsSync(dest)) {
      problems.push(`${name}: ${target} (no such file)`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!dest.endsWith('.md') || statSync(dest).isDirectory())
      problems.push(`${name}: ${target} (an anchor into a file that is not markdown)`);
    else if (!anchors(readFileSync(dest, 'utf8')).has(anchor)) problems.push(`${name}: ${target} (no heading with that anchor)`);
  }
  return problems;
}

const DOCS = join(ROOT, 'docs');
const mdIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(dir, f));
const files = [join(ROOT, 'README.md'), join(ROOT, 'charts', 'asymroute', 'README.md'), ...mdIn(DOCS), ...mdIn(join(DOCS, 'runbooks'))];

describe('README and docs', () => {
  it(`README.md stays under ${README_LIMIT} bytes`, () => {
    expect(statSync(join(ROOT, 'README.md')).size).toBeLessThan(README_LIMIT);
  });

  it('every relative link resolves to a file, and every anchor to a heading', () => {
    let checked = 0;
    const problems: string[] = [];
    for (const f of files) {
      const md = readFileSync(f, 'utf8');
      checked += links(md).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t)).length;
      problems.push(...brokenLinks(f, md));
    }
    expect(problems).toEqual([]);
    // What was covered: the README's links into docs/, and links with anchors across files.
    expect(checked).toBeGreaterThan(30);
  });

  it('finds a missing file, a missing anchor and a link hidden in code', () => {
    const readme = join(ROOT, 'README.md');
    expect(brokenLinks(readme, '[a](docs/nope.md) [b](docs/operations.md#nope) `[c](docs/nope.md)` [d](#the-incident)')).toEqual([
      'README.md: docs/nope.md (no such file)',
      'README.md: docs/operations.md#nope (no heading with that anchor)',
    ]);
    expect(brokenLinks(readme, '```\n[c](docs/nope.md)\n```\n[e](https://example.org/x)')).toEqual([]);
    expect(slug('`--json` (schema `asymroute.check/v1`)')).toBe('--json-schema-asymroutecheckv1');
    expect(slug('`asymroute analyze`: the proof from packets')).toBe('asymroute-analyze-the-proof-from-packets');
    expect([...anchors('# A\n## A\n```\n# B\n```\n')]).toEqual(['a', 'a-1']);
  });
});
