// Renders the chart as `helm template` would: with helm when it is on PATH (plus `helm lint`), otherwise with
// test/chart/render (Go text/template + sprig v3 + Helm's own functions), after merging values like Helm does and
// validating them against values.schema.json (draft-07, as Helm does) with ajv.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { afterAll } from 'vitest';
import { ROOT } from './cli.js';

export const CHART = join(ROOT, 'charts', 'asymroute');
const GOCODE = '/usr/share/gocode/src';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};
type Json = Record<string, unknown>;

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing: maps merge key by key, anything else replaces, null deletes the key. */
export function mergeValues(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = mergeValues(out[k] as Json, v);
    else out[k] = v;
  }
  return out;
}

export class ChartError extends Error {}

export function which(bin: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin]).status === 0;
}

export const renderer = (): 'helm' | 'go' => (which('helm') ? 'helm' : 'go');

let goBinary: string | null = null;
let goDir: string | null = null;
// Built once per test file (this module is imported afresh by each) and removed after the file's tests.
afterAll(() => {
  if (goDir) rmSync(goDir, { recursive: true, force: true });
  goDir = null;
  goBinary = null;
});
// Debian ships sprig and semver v3 as plain GOPATH packages; /v3 import paths resolve through symlinks.
export function buildGoRenderer(): string {
  if (goBinary) return goBinary;
  for (const p of ['github.com/Masterminds/sprig', 'github.com/ghodss/yaml']) {
    if (!existsSync(join(GOCODE, p)))
      throw new ChartError(
        `neither helm nor ${GOCODE}/${p} is installed (apt-get install golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev)`,
      );
  }
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-chart-render-'));
  goDir = dir;
  for (const m of ['sprig', 'semver']) {
    mkdirSync(join(dir, 'src/github.com/Masterminds', m), { recursive: true });
    symlinkSync(join(GOCODE, 'github.com/Masterminds', m), join(dir, 'src/github.com/Masterminds', m, 'v3'));
  }
  const bin = join(dir, 'chart-render');
  const r = spawnSync('go', ['build', '-o', bin, join(ROOT, 'test/chart/render/main.go')], {
    cwd: dir,
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${dir}:/usr/share/gocode`,
      GOCACHE: join(ROOT, 'node_modules', '.cache', 'chart-render-gocache'),
      GOFLAGS: '',
    },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new ChartError(`go build of the chart renderer failed: ${r.stderr || r.error}`);
  goBinary = bin;
  return bin;
}

export function defaultValues(): Json {
  return parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Json;
}

let validateSchema: ReturnType<Ajv['compile']> | null = null;
export function checkValues(values: Json): void {
  validateSchema ??= new Ajv({ allErrors: true, strict: false }).compile(
    JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Json,
  );
  if (!validateSchema(values)) {
    const errs = (validateSchema.errors ?? []).map(
      (e) =>
        `${e.instancePath || '(root)'}: ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params['additionalProperty'])})` : ''}`,
    );
    throw new ChartError(`values don't meet the specifications of the schema: ${errs.join('; ')}`);
  }
}

export interface Rendered {
  objects: K8sObject[];
  notes: string;
  manifest: string;
}

export function renderChart(overrides: Json = {}, opts: { release?: string; namespace?: string } = {}): Rendered {
  const release = opts.release ?? 'asymroute';
  const namespace = opts.namespace ?? 'asymroute';
  const dir = mkdtempSync(join(tmpdir(), 'asymroute-values-'));
  let manifest: string;
  let notes = '';
  try {
    if (renderer() === 'helm') {
      const f = join(dir, 'values.yaml');
      writeFileSync(f, stringify(overrides));
      const r = spawnSync('helm', ['template', release, CHART, '-n', namespace, '-f', f], { encoding: 'utf8' });
      if (r.status !== 0) throw new ChartError(r.stderr);
      manifest = r.stdout;
      const lint = spawnSync('helm', ['lint', CHART, '-f', f, '--strict'], { encoding: 'utf8' });
      if (lint.status !== 0) throw new ChartError(`helm lint: ${lint.stdout}${lint.stderr}`);
      // helm template does not print NOTES; a client-side dry-run install (no cluster) does, after "NOTES:".
      const dry = spawnSync('helm', ['install', release, CHART, '-n', namespace, '-f', f, '--dry-run=client'], { encoding: 'utf8' });
      if (dry.status !== 0) throw new ChartError(`helm install --dry-run=client: ${dry.stderr}`);
      notes = dry.stdout.split(/^NOTES:\n/m)[1] ?? '';
    } else {
      const merged = mergeValues(defaultValues(), overrides);
      checkValues(merged);
      const vf = join(dir, 'values.json');
      writeFileSync(vf, JSON.stringify(merged));
      const nf = join(dir, 'NOTES.txt');
      const r = spawnSync(buildGoRenderer(), ['-chart', CHART, '-values', vf, '-release', release, '-namespace', namespace, '-notes', nf], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new ChartError(r.stderr.trim());
      manifest = r.stdout;
      notes = existsSync(nf) ? readFileSync(nf, 'utf8') : '';
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const objects: K8sObject[] = [];
  for (const d of parseAllDocuments(manifest)) {
    if (d.errors.length > 0) throw new ChartError(`rendered YAML does not parse: ${d.errors[0]!.message}\n${manifest}`);
    const o = d.toJS() as K8sObject | null;
    if (o) objects.push(o);
  }
  return { objects, notes, manifest };
}
