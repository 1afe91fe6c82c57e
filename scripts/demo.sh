#!/usr/bin/env bash
# Kept for earlier instructions: the same as `bash scripts/run.sh demo`.
exec bash "$(dirname "$0")/run.sh" demo "$@"
