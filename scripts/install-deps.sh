#!/usr/bin/env bash
# Installs what asymroute needs on a fresh Debian/Ubuntu machine: Debian packages for the binaries it spawns,
# then the npm dependencies and the build. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node="20.19.0"
if ! command -v node >/dev/null 2>&1; then
  echo "asymroute needs Node.js >= ${need_node} (not found on PATH)" >&2
  exit 2
fi
node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  if (a < 20 || (a === 20 && b < 19)) { console.error(`asymroute needs Node.js >= 20.19.0, this is ${process.version}`); process.exit(2); }
'

# binary -> Debian package
declare -A pkg_for=([ip]=iproute2 [ss]=iproute2 [sysctl]=procps [pgrep]=procps [tcpdump]=tcpdump [arping]=iputils-arping [ndisc6]=ndisc6 [promtool]=prometheus [iptables-save]=iptables [nft]=nftables [conntrack]=conntrack [setpriv]=util-linux)
missing=()
for bin in "${!pkg_for[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${pkg_for[$bin]}")
done
if ((${#missing[@]} > 0)); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 2
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "installing npm dependencies (npm ci) and building"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
