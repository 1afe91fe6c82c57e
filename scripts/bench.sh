#!/usr/bin/env bash
# npm run bench: installs what the live benchmark spawns (as root, only what is missing), builds, runs the benchmark
# (writes bench/results.json) and regenerates docs/benchmark.md from it.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A pkg_for=([tcpdump]=tcpdump [iperf3]=iperf3 [curl]=curl [ip]=iproute2)
missing=()
for bin in "${!pkg_for[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${pkg_for[$bin]}")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
npm run --silent build
node --expose-gc dist/bench/run.js "$@"
node dist/bench/benchmark-doc.js
