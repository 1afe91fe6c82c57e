#!/usr/bin/env bash
# The full test suite on a fresh machine: install, typecheck, lint, then every test (namespace tests need root;
# under CI=true they fail instead of skipping). Ends with one "tests: N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "typecheck"
npx tsc -p tsconfig.json
echo "lint"
npx eslint .

results=.vitest-results.json
rm -f "$results"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" || status=$?
if [[ ! -s "$results" ]]; then
  echo "vitest wrote no results (exit $status)" >&2
  exit 1
fi
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
' "$results"
exit "$status"
