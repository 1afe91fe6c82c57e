// Root-only suites: skipped with a visible reason for a non-root developer, failed (never skipped) under CI=true.

import { describe, it } from 'vitest';

export const IS_ROOT = process.getuid?.() === 0;
export const IN_CI = /^(1|true|yes)$/i.test(process.env['CI'] ?? '');

export function describeAsRoot(name: string, body: () => void): void {
  if (IS_ROOT) {
    describe(name, body);
    return;
  }
  if (IN_CI) {
    describe(name, () => {
      it('runs as root', () => {
        throw new Error(`CI=true: "${name}" builds network namespaces and must run as root; refusing to skip it`);
      });
    });
    return;
  }
  console.warn(`[skipped] ${name}: needs root (network namespaces); run the test command as root`);
  describe.skip(`${name} (skipped: needs root)`, body);
}

/** Deterministic PRNG (mulberry32), so a failing differential run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
