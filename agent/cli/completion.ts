// `asymroute completion bash|zsh|fish`: shell completion generated from the config schema, so a new option is
// completed without anyone editing a script. Values: the option's choices, files for FILE options, nothing else.

import { optionsFor, type Command, type OptionSpec } from '../config/schema.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The commands to complete, each with a one-line description; those with options are looked up in the schema. */
export type CommandList = Record<string, string>;

const SCHEMA_COMMANDS: readonly Command[] = ['check', 'analyze', 'serve', 'demo', 'snapshot', 'cluster'];

function optionsOf(cmd: string): OptionSpec[] {
  return (SCHEMA_COMMANDS as readonly string[]).includes(cmd) ? optionsFor(cmd as Command) : [];
}

const takesFile = (o: OptionSpec) => o.metavar === 'FILE';
const words = (o: OptionSpec) => [o.flag, ...(o.short ? [`-${o.short}`] : [])];
// Words are flags, command names and choices from the schema: [A-Za-z0-9-.] only, safe unquoted in every shell.
const oneLine = (s: string) =>
  s
    .split(/[.:;(]/)[0]!
    .replace(/['"\\$`]/g, '')
    .trim();

function bash(commands: CommandList): string {
  const lines = [
    '# asymroute completion for bash. Load it with: source <(asymroute completion bash)',
    '_asymroute() {',
    // $2 and $3 (the word and the one before), and a 0-based slice for the command: the same in bash and in zsh's
    // bashcompinit, whose arrays start at 1.
    '  local cur="$2" prev="$3" cmd="${COMP_WORDS[@]:1:1}"',
    '  COMPREPLY=()',
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=($(compgen -W "${Object.keys(commands).join(' ')} --help --version" -- "$cur"))`,
    '    return 0',
    '  fi',
    '  case "$cmd" in',
  ];
  for (const cmd of Object.keys(commands)) {
    const opts = optionsOf(cmd);
    if (cmd === 'completion') {
      lines.push(`    completion) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "${SHELLS.join(' ')}" -- "$cur")) ;;`);
      continue;
    }
    lines.push(`    ${cmd})`);
    lines.push('      case "$prev" in');
    for (const o of opts) {
      if (o.type === 'boolean') continue;
      const pat = words(o).join('|');
      if (o.choices) lines.push(`        ${pat}) COMPREPLY=($(compgen -W "${o.choices.join(' ')}" -- "$cur")); return 0 ;;`);
      else if (takesFile(o)) lines.push(`        ${pat}) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;`);
      else lines.push(`        ${pat}) return 0 ;;`);
    }
    lines.push('      esac');
    const all = [...opts.flatMap(words), '--help'];
    lines.push(
      `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${all.join(' ')}" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi`,
    );
    lines.push('      ;;');
  }
  lines.push('  esac', '  return 0', '}', 'complete -o filenames -F _asymroute asymroute');
  return lines.join('\n') + '\n';
}

function zsh(commands: CommandList): string {
  // zsh runs the bash function through bashcompinit, which ships with zsh: one definition for both shells.
  return [
    '#compdef asymroute',
    '# asymroute completion for zsh. Load it with: source <(asymroute completion zsh)',
    'autoload -U +X compinit && compinit',
    'autoload -U +X bashcompinit && bashcompinit',
    bash(commands).split('\n').slice(1).join('\n'),
  ].join('\n');
}

function fish(commands: CommandList): string {
  const lines = [
    '# asymroute completion for fish. Load it with: asymroute completion fish | source',
    'complete -c asymroute -f',
    ...Object.entries(commands).map(([c, d]) => `complete -c asymroute -n __fish_use_subcommand -a ${c} -d '${oneLine(d)}'`),
    `complete -c asymroute -n '__fish_seen_subcommand_from completion' -a '${SHELLS.join(' ')}'`,
  ];
  for (const cmd of Object.keys(commands)) {
    for (const o of optionsOf(cmd)) {
      const parts = [`complete -c asymroute -n '__fish_seen_subcommand_from ${cmd}' -l ${o.flag.slice(2)}`];
      if (o.short) parts.push(`-s ${o.short}`);
      if (o.type !== 'boolean') parts.push(takesFile(o) ? '-r -F' : '-r -f');
      if (o.choices) parts.push(`-a '${o.choices.join(' ')}'`);
      parts.push(`-d '${oneLine(o.help.replace(/^\w+(, \w+)*: /, ''))}'`);
      lines.push(parts.join(' '));
    }
  }
  return lines.join('\n') + '\n';
}

export function completionScript(shell: Shell, commands: CommandList): string {
  return shell === 'bash' ? bash(commands) : shell === 'zsh' ? zsh(commands) : fish(commands);
}
