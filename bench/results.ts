// The benchmark's results file: written by `npm run bench`, read by the generator of docs/benchmark.md.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LiveResults } from './live.js';

// The repository root, from bench/ (sources under vitest) or dist/bench/ (built).
function root(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) d = dirname(d);
  return d;
}

export const RESULTS_FILE = join(root(), 'bench/results.json');
export const DOC_FILE = join(root(), 'docs/benchmark.md');

export interface BenchResults {
  generatedBy: string;
  date: string;
  machine: { cpus: number; node: string; tcpdump: string; kernel: string };
  analyze: {
    packets: number;
    flows: number;
    fileMiB: number;
    seconds: number;
    tcpdumpSeconds: number;
    ratio: number;
    peakRssMiB: number;
    profile: Array<{ fn: string; ms: number; share: number }>;
  };
  flowTable: { flows: number; mib: number; insertMs: number };
  startup: { nodeSeconds: number; helpSeconds: number; analyzeSeconds: number; helpRatio: number; analyzeRatio: number };
  live: LiveResults | { skipped: string };
}
