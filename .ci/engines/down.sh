#!/usr/bin/env bash
# Stop the test engines started by up.sh, each daemon by its recorded pid:
# `.ci/engines/down.sh [docker|slurm|sge ...]` (none named: all). Idempotent; packages stay installed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
source "$HERE/docker.sh"
source "$HERE/slurm.sh"
source "$HERE/sge.sh"

check_root
parse_engines "$@"
status=0
for engine in "${ENGINES[@]}"; do
    "${engine}_down" || { log "stopping $engine failed"; status=1; }
done
exit "$status"
