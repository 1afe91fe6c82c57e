// The agent's folders form layers, low to high; a module may import its own layer or a lower one, never a higher
// one. A new folder under agent/ must be placed here first: an unplaced folder fails the test.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LAYERS: string[][] = [
  ['net', 'model'],
  ['decoders', 'parsers', 'config'],
  ['sources', 'netns', 'supervisor'],
  // The evidence: pure analysis, the finding registry and the Monitor contract, and one folder per evidence source
  // (each owns its source, state, monitor and metrics).
  ['analysis', 'findings', 'reply-path', 'capture', 'l2', 'bgp', 'kubernetes'],
  ['runtime'],
  ['exposition'],
  // '.': files directly under agent/ (main.ts, the composition root)
  ['cli', '.'],
];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function layerOf(folder: string): number | null {
  const i = LAYERS.findIndex((l) => l.includes(folder));
  return i < 0 ? null : i;
}

/** The folder under agent/ of a repository-relative path: 'analysis' for agent/analysis/x.ts, '.' for agent/main.ts. */
function folderOf(path: string): string {
  const parts = path.split('/');
  return parts.length > 2 ? parts[1]! : '.';
}

// Static imports and re-exports (also across lines), side-effect imports and dynamic import() of relative paths.
const IMPORT = /(?:\b(?:import|export)\b[^;'"]*?\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function importsOf(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((m) => m[1]!);
}

/** Every import from a lower layer into a higher one, and every file in a folder no layer names. */
function layerViolations(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [path, source] of files) {
    const from = folderOf(path);
    const fromLayer = layerOf(from);
    if (fromLayer === null) {
      out.push(`${path}: folder agent/${from} is in no layer (add it to LAYERS in test/layering.test.ts)`);
      continue;
    }
    for (const spec of importsOf(source)) {
      const target = posix.normalize(posix.join(posix.dirname(path), spec));
      if (!target.startsWith('agent/')) continue;
      const to = folderOf(target);
      const toLayer = layerOf(to);
      if (toLayer === null) out.push(`${path} imports ${spec}: folder agent/${to} is in no layer`);
      else if (toLayer > fromLayer) out.push(`${path} (${from}, layer ${fromLayer}) imports ${spec} (${to}, layer ${toLayer})`);
    }
  }
  return out;
}

function agentSources(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) files.set(relative(ROOT, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(join(ROOT, 'agent'));
  return files;
}

describe('layering', () => {
  it('no module under agent/ imports from a higher layer', () => {
    const files = agentSources();
    expect(files.size).toBeGreaterThan(50);
    // The scan sees the imports it must judge: a file known to import across layers yields them.
    expect(importsOf(files.get('agent/cli/serve.ts')!).some((s) => s.startsWith('../sources/'))).toBe(true);
    expect(layerViolations(files)).toEqual([]);
  });

  it('reports an upward import, in every import form, and an unplaced folder', () => {
    const bad = new Map([
      ['agent/decoders/x.ts', "import type { FlowMatcher } from '../analysis/flow-matcher.js';"],
      ['agent/sources/y.ts', "export {\n  a,\n  b,\n} from '../runtime/agent.js';"],
      ['agent/parsers/z.ts', "const m = await import('../cli/check.js');\nimport '../exposition/http.js';"],
      ['agent/model/ok.ts', "import { parseIp } from '../net/ip.js';\nimport type { Route } from './host-state.js';"],
      ['agent/widgets/w.ts', ''],
    ]);
    expect(layerViolations(bad)).toEqual([
      'agent/decoders/x.ts (decoders, layer 1) imports ../analysis/flow-matcher.js (analysis, layer 3)',
      'agent/sources/y.ts (sources, layer 2) imports ../runtime/agent.js (runtime, layer 4)',
      'agent/parsers/z.ts (parsers, layer 1) imports ../cli/check.js (cli, layer 6)',
      'agent/parsers/z.ts (parsers, layer 1) imports ../exposition/http.js (exposition, layer 5)',
      'agent/widgets/w.ts: folder agent/widgets is in no layer (add it to LAYERS in test/layering.test.ts)',
    ]);
  });
});
