#!/usr/bin/env bash
# The main command on a fresh machine: install what is needed, then run asymroute. Without arguments it runs the
# demo (the Vagrant incident in network namespaces, root); otherwise the given command, for example
#   bash scripts/run.sh serve --vip 192.168.1.240 --listen 0.0.0.0 --auth-token-file /etc/asymroute/tokens
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >&2
if [[ $# -eq 0 ]]; then set -- demo; fi
exec node bin/asymroute.js "$@"
