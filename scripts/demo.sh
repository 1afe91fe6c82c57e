#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, then rebuild the Vagrant incident in network
# namespaces and show asymroute detecting it, proving it and the fix (root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec node bin/asymroute.js demo "$@"
