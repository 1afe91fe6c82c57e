// Shell completion as a user gets it: the script `asymroute completion SHELL` prints, loaded into real bash, zsh
// (through its bashcompinit) and fish, asked to complete command lines. Expected words come from the config schema.

import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsFor } from '../../agent/config/schema.js';
import { BIN, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

async function script(shell: string): Promise<string> {
  const r = await runCli(['completion', shell]);
  expect(r.exitCode, r.stderr).toBe(0);
  const f = join(tempDir('completion'), `asymroute.${shell}`);
  writeFileSync(f, r.stdout);
  return f;
}

// The words a shell offers for a command line whose last word is being completed ('' for a new word).
async function offered(shell: 'bash' | 'zsh' | 'fish', words: string[], file: string): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const programs = {
    bash: `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _asymroute asymroute '${words.at(-1)}' '${words.at(-2)}'; printf '%s\\n' "\${COMPREPLY[@]}"`,
    zsh: `source '${file}' 2>/dev/null; words=(${quoted}); CURRENT=${words.length}; COMP_WORDS=("\${words[@]}"); COMP_CWORD=$((CURRENT-1)); PREFIX="\${words[CURRENT]}"; compgen -F _asymroute -- "$PREFIX"`,
    fish: `source '${file}'; complete -C ${JSON.stringify(words.join(' '))}`,
  };
  const r = await execa(shell, ['-c', programs[shell]], { reject: false, env: { HOME: tempDir('home') } });
  expect(r.exitCode, r.stderr).toBe(0);
  const got = r.stdout
    .split('\n')
    .map((l) => l.split('\t')[0]!)
    .filter(Boolean);
  // zsh's bashcompinit leaves matching the word to compadd (not run outside an editor): done here as compadd would.
  return (shell === 'zsh' ? got.filter((w) => w.startsWith(words.at(-1)!)) : got).sort();
}

describe.each(['bash', 'zsh', 'fish'] as const)('%s completion', (shell) => {
  it('completes commands, each command flags from the schema, choices and shells', { timeout: 60_000 }, async () => {
    const f = await script(shell);
    expect(await offered(shell, ['asymroute', 's'], f)).toEqual(['serve', 'snapshot']);
    expect(await offered(shell, ['asymroute', 'serve', '--kub'], f)).toEqual([
      '--kube-vip',
      '--kube-vip-lease',
      '--kubeconfig',
      '--kubernetes',
      '--kubernetes-events',
    ]);
    expect(await offered(shell, ['asymroute', 'serve', '--kubernetes', ''], f)).toEqual(['auto', 'off', 'on']);
    expect(await offered(shell, ['asymroute', 'serve', '--log-level', 'w'], f)).toEqual(['warn']);
    expect(await offered(shell, ['asymroute', 'completion', ''], f)).toEqual(['bash', 'fish', 'zsh']);
    // Every long flag of serve, and no flag of another command only.
    const serve = await offered(shell, ['asymroute', 'serve', '--'], f);
    const longs = optionsFor('serve').map((o) => o.flag);
    expect(serve.filter((w) => w !== '--help')).toEqual(expect.arrayContaining(longs));
    expect(serve.filter((w) => w.startsWith('--') && w !== '--help').sort()).toEqual([...longs].sort());
    expect(await offered(shell, ['asymroute', 'analyze', '--sn'], f)).toEqual(['--snapshot']);
  });

  it('completes file names after a FILE option', { timeout: 60_000 }, async () => {
    const dir = tempDir('files');
    writeFileSync(join(dir, 'asymroute-config.yaml'), 'vips: []\n');
    const f = await script(shell);
    const got = await offered(shell, ['asymroute', 'serve', '--config', join(dir, 'asymroute-c')], f);
    expect(got.map((w) => w.replace(/^.*\//, ''))).toEqual(['asymroute-config.yaml']);
  });
});

it('refuses a shell it does not know, saying which it knows', async () => {
  const r = await runCli(['completion', 'tcsh']);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/expected one of bash, zsh, fish, got "tcsh"/);
  expect(BIN).toMatch(/asymroute\.js$/);
});
