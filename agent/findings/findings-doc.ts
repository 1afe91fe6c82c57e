// The finding-type reference in docs/findings.md, generated from the registry between two markers; the prose around
// it is written by hand. `npm run docs` rewrites it, and test/findings/registry.test.ts fails when it is stale.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FINDINGS, type FindingSpec } from './registry.js';

export const BEGIN_MARKER =
  '<!-- BEGIN GENERATED from agent/findings/registry.ts by `npm run docs`: edit the registry, not this part (test/findings/registry.test.ts fails when they differ) -->';
export const END_MARKER = '<!-- END GENERATED -->';

/** Where each alert is documented, relative to docs/findings.md. */
const ALERTS_DOC = 'operations.md#alerts';

const code = (s: string) => `\`${s}\``;
const cell = (s: string) => s.replace(/\|/g, '\\|');

function severityText(spec: FindingSpec): string {
  return spec.lowered ? `${spec.severity} (${spec.lowered.severity} when ${spec.lowered.when})` : spec.severity;
}

const alertLink = (spec: FindingSpec) => (spec.alert ? `[${code(spec.alert)}](${ALERTS_DOC})` : 'none');

export function renderFindingsReference(findings: Record<string, FindingSpec> = FINDINGS): string {
  const out: string[] = [BEGIN_MARKER, '', '| type | severity | raised by | alert |', '|---|---|---|---|'];
  for (const [type, spec] of Object.entries(findings)) {
    out.push(`| [${code(type)}](#${type}) | ${cell(severityText(spec))} | ${spec.raisedBy.map(code).join(', ')} | ${alertLink(spec)} |`);
  }
  for (const [type, spec] of Object.entries(findings)) {
    out.push(
      '',
      `### ${type}`,
      '',
      `**${severityText(spec)}**; raised by ${spec.raisedBy.map(code).join(', ')}; identity: ${spec.identity.map(code).join(', ')}; alert: ${alertLink(spec)}.`,
      '',
      `**Meaning**: ${spec.meaning}.`,
      '',
      `**What to do**: ${spec.action}.`,
    );
  }
  out.push('', END_MARKER);
  return out.join('\n');
}

/** The document with its generated part replaced; the hand-written prose before and after it is kept as it is. */
export function updateFindingsDoc(doc: string, findings: Record<string, FindingSpec> = FINDINGS): string {
  const begin = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (begin < 0 || end < begin)
    throw new Error(`docs/findings.md has lost its markers: put "${BEGIN_MARKER}" and "${END_MARKER}" back where the reference belongs`);
  return doc.slice(0, begin) + renderFindingsReference(findings) + doc.slice(end + END_MARKER.length);
}

/** The repository root, from agent/… (sources under vitest) or dist/agent/… (built): for the generated docs. */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

export const FINDINGS_DOC = join(repoRoot(), 'docs/findings.md');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = readFileSync(FINDINGS_DOC, 'utf8');
  const after = updateFindingsDoc(before);
  if (after !== before) writeFileSync(FINDINGS_DOC, after);
  console.log(`${after === before ? 'unchanged' : 'wrote'} ${FINDINGS_DOC}`);
}
