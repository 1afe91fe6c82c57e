// Colour for the text reports, on a terminal only: never in a pipe, a file or the HTTP report, and never with
// NO_COLOR set (https://no-color.org) or TERM=dumb. Only whole tokens the reports print are coloured: a severity at
// the start of a finding, a verdict at the end of a path line, a flow's outcome.

import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

export function colourWanted(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['TERM'] === 'dumb') return false;
  return stream.isTTY === true;
}

const RULES: Array<[RegExp, Style]> = [
  [/^( +)(CRITICAL)( )/gm, ['bold', 'red']],
  [/^( +)(WARNING)( )/gm, ['bold', 'yellow']],
  [/^( +)(INFO)( )/gm, 'cyan'],
  [/( )(ASYMMETRIC \(in \S+, out \S+\))($)/gm, ['bold', 'red']],
  [/( {2})(ok)($)/gm, 'green'],
  [/( {2})(unknown)($)/gm, 'yellow'],
  [/( {2})(asymmetric|unanswered)($)/gm, 'red'],
  [/( {2})(symmetric)($)/gm, 'green'],
];

export function colourReport(text: string): string {
  let out = text;
  for (const [re, style] of RULES) out = out.replace(re, (_m, a: string, word: string, b: string) => `${a}${styleText(style, word)}${b}`);
  return out;
}
