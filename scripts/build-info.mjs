// Writes dist/build-info.json after `tsc`: the package version and the source revision, for `asymroute --version`
// and asymroute_build_info. The revision is ASYMROUTE_REVISION when set (the image build, which has no .git), else
// `git describe --always --dirty`, else "unknown".

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { URL } from 'node:url';

const root = new URL('../', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

function revision() {
  const given = process.env.ASYMROUTE_REVISION;
  if (given && given !== 'unknown') return given;
  try {
    return execFileSync('git', ['describe', '--always', '--dirty', '--abbrev=12'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

mkdirSync(new URL('dist/', root), { recursive: true });
writeFileSync(new URL('dist/build-info.json', root), `${JSON.stringify({ version, revision: revision() })}\n`);
