// The chart's README: what scripts/chart-readme.ts builds from values.yaml (npm run chart-readme rewrites it), a
// helm-docs Values table in which every value has a description, and the Pod Security Admission requirement.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, descriptions, README_FILE, renderReadme, valueRows } from '../../scripts/chart-readme.js';
import { defaultValues } from '../helpers/helm.js';

const VALUES = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');

describe('chart README', () => {
  it('is what scripts/chart-readme.ts builds from values.yaml (npm run chart-readme rewrites it)', () => {
    expect(readFileSync(README_FILE, 'utf8'), 'charts/asymroute/README.md is stale: npm run chart-readme').toBe(renderReadme());
  });

  it('reads `# --` comments with their continuation lines, by key path, and ignores plain comments', () => {
    const yaml = [
      '# A plain comment about the file.',
      '',
      'a:',
      '  # -- First line',
      '  # continued.',
      '  b: 1',
      '  c: 2',
      '# -- Top',
      'd:',
      '  # -- Not for e: a blank line follows',
      '',
      '  e: x',
    ].join('\n');
    expect([...descriptions(yaml)]).toEqual([
      ['a.b', 'First line continued.'],
      ['d', 'Top'],
    ]);
    expect(valueRows(yaml)).toEqual([
      { key: 'a.b', type: 'int', default: '`1`', description: 'First line continued.' },
      { key: 'a.c', type: 'int', default: '`2`', description: '' },
      { key: 'd', type: 'object', default: '`{"e":"x"}`', description: 'Top' },
    ]);
  });

  it('has a described row for every value, with the default Helm uses', () => {
    const rows = valueRows(VALUES);
    for (const r of rows) expect(r.description, `${r.key} has no "# --" comment in values.yaml`).not.toBe('');
    const values = defaultValues() as Record<string, unknown>;
    const at = (path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], values);
    for (const r of rows) expect(r.default, r.key).toBe(`\`${JSON.stringify(at(r.key) ?? null)}\``);
    const keys = rows.map((r) => r.key);
    for (const k of [
      'global',
      'enabled',
      'image.registry',
      'extraArgs',
      'containerSecurityContext',
      'podSecurityContext',
      'startupProbe',
      'podMonitor.enabled',
      'podMonitor.relabelings',
      'serviceMonitor.relabelings',
      'serviceMonitor.metricRelabelings',
      'prometheusRule.extraAlerts',
      'config.vips',
    ])
      expect(keys, k).toContain(k);
    expect(rows.find((r) => r.key === 'image.registry')).toMatchObject({ type: 'string', default: '`"ghcr.io"`' });
  });

  it('states the Pod Security Admission requirement with the namespace label', () => {
    const md = readFileSync(README_FILE, 'utf8');
    expect(md).toContain('## Pod Security Admission');
    expect(md).toContain('kubectl label namespace asymroute pod-security.kubernetes.io/enforce=privileged');
    expect(md).toMatch(/kind: Namespace\n[\s\S]*pod-security\.kubernetes\.io\/enforce: privileged/);
    expect(md).toContain('| Key | Type | Default | Description |');
  });
});
