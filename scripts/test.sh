#!/usr/bin/env bash
# The full test suite on a fresh machine: install, typecheck, lint, then every test (namespace tests need root;
# under CI=true they fail instead of skipping). Ends with one "tests: N passed, N failed, N skipped" line.
# vitest runs the "unit" project's files in parallel, then the "namespace" project's one at a time (vitest.config.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# Test-only packages, in one apt-get run: BIRD 2 is the BGP router and speaker in the namespace tests; zsh and fish
# load the generated completion scripts; without helm, the chart is rendered with Go text/template + sprig v3 (the
# engines Helm uses).
test_pkgs=()
command -v bird >/dev/null 2>&1 || test_pkgs+=(bird2)
command -v zsh >/dev/null 2>&1 || test_pkgs+=(zsh)
command -v fish >/dev/null 2>&1 || test_pkgs+=(fish)
# The adversarial suite (test/adversarial/): hping3 sends its spoofed-source floods, prlimit (util-linux) sets the
# agent's file limit. Test-only, so not in install-deps.sh, which installs what the agent runs on a node.
command -v hping3 >/dev/null 2>&1 || test_pkgs+=(hping3)
command -v prlimit >/dev/null 2>&1 || test_pkgs+=(util-linux)
# kubectl runs the kubectl-asymroute plugin in the cluster test (Debian's kubernetes-client when none is installed).
command -v kubectl >/dev/null 2>&1 || test_pkgs+=(kubernetes-client)
if ! command -v helm >/dev/null 2>&1; then
  command -v go >/dev/null 2>&1 || test_pkgs+=(golang-go)
  [[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ]] || test_pkgs+=(golang-github-masterminds-sprig-dev)
  [[ -d /usr/share/gocode/src/github.com/ghodss/yaml ]] || test_pkgs+=(golang-github-ghodss-yaml-dev)
fi
if ((${#test_pkgs[@]} > 0)); then
  echo "installing Debian packages for the tests: ${test_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${test_pkgs[@]}" >/dev/null
fi

echo "typecheck"
npx tsc -p tsconfig.json
echo "lint"
npx eslint .
echo "format (prettier --check; npm run format rewrites)"
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }

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
  if (skipped > 0 && /^(1|true|yes)$/i.test(process.env.CI ?? "")) {
    const names = r.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === "pending" || a.status === "skipped" || a.status === "todo").map((a) => `${f.name}: ${a.fullName}`));
    console.error(`CI=true: ${skipped} skipped test(s); every test must run:\n${names.slice(0, 20).join("\n")}`);
    process.exit(1);
  }
' "$results"
exit "$status"
