// The release workflow (.github/workflows/release.yml), read as GitHub Actions would read it: on a version tag it
// builds the Dockerfile the Dockerfile test checks, for amd64 and arm64, pushes it where the chart's default image
// points, and pushes this chart as an OCI artifact where the docs say to install it from. No workflow runs here: the
// `${{ }}` expressions it needs are evaluated for the project's repository (the one runbookBaseUrl names).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { CHART } from '../helpers/helm.js';
import { DOCKER_CONTEXT, DOCKERFILE } from '../helpers/image.js';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
  env?: Record<string, string>;
}
interface Job {
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, { tags?: string[]; branches?: string[] } | null>;
  permissions?: Record<string, string> | string;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const WORKFLOW_FILE = join(ROOT, '.github', 'workflows', 'release.yml');
const workflow = parse(readFileSync(WORKFLOW_FILE, 'utf8')) as Workflow;
const jobs = Object.values(workflow.jobs);
const steps = jobs.flatMap((j) => j.steps);

const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
  image: { registry: string; repository: string; tag: string };
  prometheusRule: { runbookBaseUrl: string };
};
const chartYaml = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion: string };
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

// The project's GitHub repository, from the only place the chart names it.
const repoMatch = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+)\//.exec(values.prometheusRule.runbookBaseUrl);
const GITHUB = { repository: `${repoMatch?.[1]}/${repoMatch?.[2]}`, repository_owner: repoMatch?.[1] ?? '' };

/** `${{ github.x }}` and `${{ env.X }}` replaced; any other expression is left as written. */
function evaluate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (whole, expr: string) => {
    const [ctx, key] = expr.split('.', 2) as [string, string];
    if (ctx === 'github' && key in GITHUB) return GITHUB[key as keyof typeof GITHUB];
    if (ctx === 'env' && key in env) return env[key]!;
    return whole;
  });
}

function jobOf(step: Step): Job {
  return jobs.find((j) => j.steps.includes(step))!;
}

/** The env a step's inputs see: workflow, then job, then the step's own, each evaluated. */
function envOf(step: Step): Record<string, string> {
  const out: Record<string, string> = {};
  for (const layer of [workflow.env, jobOf(step).env, step.env])
    for (const [k, v] of Object.entries(layer ?? {})) out[k] = evaluate(String(v), out);
  return out;
}

/** bash expansions a run script uses on its env: $X, ${X}, ${X,,} (lower case). */
function expand(word: string, env: Record<string, string>): string {
  return word
    .replace(/^"(.*)"$/, '$1')
    .replace(/\$\{(\w+),,\}/g, (_m, k: string) => (env[k] ?? `<unset ${k}>`).toLowerCase())
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? `$${a ?? b}`);
}

function stepUsing(action: string): Step {
  const found = steps.filter((s) => s.uses?.split('@')[0] === action);
  expect(found, `one step uses ${action}`).toHaveLength(1);
  return found[0]!;
}

/** The words of the one script line that starts with `cmd`. */
function commandLine(cmd: string): { step: Step; words: string[] } {
  const hits = steps.flatMap((s) =>
    (s.run ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith(`${cmd} `))
      .map((l) => ({ step: s, words: l.split(/\s+/) })),
  );
  expect(hits, `one \`${cmd}\` line`).toHaveLength(1);
  return hits[0]!;
}

function option(words: string[], flag: string): string | undefined {
  const i = words.indexOf(flag);
  return i < 0 ? undefined : words[i + 1];
}

const build = () => stepUsing('docker/build-push-action');
const meta = () => stepUsing('docker/metadata-action');

/** What GitHub's tag filter matches: `*` is any run of characters but `/`. */
function globMatches(glob: string, ref: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*/g, '\0')
      .replace(/\*/g, '[^/]*')
      .replace(/\0/g, '.*')}$`,
  );
  return re.test(ref);
}

describe('release workflow', () => {
  it('runs on a version tag, and on nothing else', () => {
    expect(GITHUB.repository, 'runbookBaseUrl names the GitHub repository').toMatch(/^[\w.-]+\/[\w.-]+$/);
    expect(Object.keys(workflow.on)).toEqual(['push']);
    const push = workflow.on['push']!;
    expect(push.branches, 'no branch pushes publish').toBeUndefined();
    expect(
      push.tags?.some((t) => globMatches(t, `v${pkg.version}`)),
      `a tag filter matches v${pkg.version}`,
    ).toBe(true);
    expect(
      push.tags?.some((t) => globMatches(t, 'main')),
      'a branch-like name does not publish',
    ).toBe(false);
  });

  it('may write packages and read the code, nothing more', () => {
    const granted = jobs.map((j) => j.permissions ?? workflow.permissions);
    for (const p of granted) expect(p).toEqual({ contents: 'read', packages: 'write' });
  });

  it('pins every action to a major version at least', () => {
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    expect(uses.length).toBeGreaterThan(5);
    for (const u of uses) expect(u, u).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
  });

  it('builds the Dockerfile and context the Dockerfile test checks, for linux/amd64 and linux/arm64', () => {
    const w = build().with!;
    expect(resolve(ROOT, String(w['context']))).toBe(DOCKER_CONTEXT);
    // build-push-action hands `file` to buildx, which reads it from the workspace, not from the context.
    expect(resolve(ROOT, String(w['file'] ?? join(String(w['context']), 'Dockerfile')))).toBe(DOCKERFILE);
    const platforms = String(w['platforms'])
      .split(/[,\n]/)
      .map((p) => p.trim())
      .filter(Boolean);
    expect(platforms.sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(w['push']).toBe(true);
    // QEMU (arm64 on the amd64 runner), buildx and the registry login come before the build.
    const at = (s: Step) => steps.indexOf(s);
    for (const a of ['docker/setup-qemu-action', 'docker/setup-buildx-action', 'docker/login-action'])
      expect(at(stepUsing(a)), `${a} before the build`).toBeLessThan(at(build()));
  });

  it('pushes the image to where the chart pulls it from by default, tagged with the chart appVersion the tag gives', () => {
    const chartImage = [values.image.registry, values.image.repository].filter(Boolean).join('/');
    expect(chartImage).toBe('ghcr.io/asymroute/asymroute');
    expect(values.image.tag, 'the default tag is appVersion').toBe('');
    // metadata-action lowercases the image names it is given; build-push-action pushes its tags.
    const images = String(meta().with!['images'])
      .split('\n')
      .map((l) => evaluate(l.trim(), envOf(meta())).toLowerCase())
      .filter(Boolean);
    expect(images).toEqual([chartImage]);
    expect(String(build().with!['tags'])).toBe(`\${{ steps.${meta().id}.outputs.tags }}`);
    // v0.1.0 gives the image tag 0.1.0, the same version the chart is packaged with as appVersion.
    expect(String(meta().with!['tags'])).toMatch(/^type=semver,pattern=\{\{version\}\}$/m);
    const helmPackage = commandLine('helm package');
    expect(helmPackage.step.env?.['VERSION']).toBe(`\${{ steps.${meta().id}.outputs.version }}`);
    expect(option(helmPackage.words, '--app-version')).toBe('"$VERSION"');
    expect(option(helmPackage.words, '--version')).toBe('"$VERSION"');
    // The login is for that registry, with the workflow's own token.
    const login = stepUsing('docker/login-action');
    expect(evaluate(String(login.with!['registry']), envOf(login))).toBe(values.image.registry);
    expect(login.with!['password']).toBe('${{ secrets.GITHUB_TOKEN }}');
  });

  it('labels the image with its revision and version, through build arguments the Dockerfile declares', () => {
    const args = Object.fromEntries(
      String(build().with!['build-args'])
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => l.trim().split(/=(.*)/s, 2) as [string, string]),
    );
    const declared = new Set([...readFileSync(DOCKERFILE, 'utf8').matchAll(/^ARG (\w+)/gm)].map((m) => m[1]));
    for (const k of Object.keys(args)) expect(declared, `build arg ${k} is an ARG of the Dockerfile`).toContain(k);
    expect(args['REVISION']).toBe('${{ github.sha }}');
    expect(args['VERSION']).toBe(`\${{ steps.${meta().id}.outputs.version }}`);
    const labels = String(build().with!['labels']);
    expect(labels).toMatch(/^org\.opencontainers\.image\.revision=\$\{\{ github\.sha \}\}$/m);
    expect(labels).toMatch(/^org\.opencontainers\.image\.source=/m);
  });

  it('packages charts/asymroute and pushes it where the docs install it from', () => {
    const helmPackage = commandLine('helm package');
    expect(resolve(ROOT, helmPackage.words[2]!)).toBe(CHART);
    const push = commandLine('helm push');
    const env: Record<string, string> = { ...envOf(push.step), RUNNER_TEMP: '/runner/tmp' };
    const dest = expand(option(helmPackage.words, '--destination')!, env);
    // helm package writes <destination>/<name>-<version>.tgz.
    expect(expand(push.words[2]!, env)).toBe(`${dest}/${chartYaml.name}-${env['VERSION']}.tgz`);
    const repo = expand(push.words[3]!, env);
    expect(repo).toBe(`oci://${values.image.registry}/${GITHUB.repository_owner}/charts`);
    const ref = `${repo}/${chartYaml.name}`;
    for (const doc of ['README.md', 'charts/asymroute/README.md', 'docs/operations.md'])
      expect(readFileSync(join(ROOT, doc), 'utf8'), `${doc} installs from ${ref}`).toContain(`helm install asymroute ${ref} `);
  });

  it('refuses a tag that names another version than the agent reports and the chart defaults to', () => {
    // The checkout's own chart, the binary and a hand-built image (no --build-arg VERSION) agree today; the workflow's
    // first step keeps the tag to them.
    expect(chartYaml.appVersion).toBe(pkg.version);
    expect(/^ARG VERSION=(\S+)$/m.exec(readFileSync(DOCKERFILE, 'utf8'))?.[1]).toBe(pkg.version);
    const guard = steps[steps.findIndex((s) => s.run?.includes('package.json'))]!;
    expect(guard.run).toMatch(/Chart\.yaml/);
    expect(steps.indexOf(guard), 'before anything is pushed').toBeLessThan(steps.indexOf(build()));
  });
});
