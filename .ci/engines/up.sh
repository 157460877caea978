#!/usr/bin/env bash
# Install (if missing), configure and start the test engines: `.ci/engines/up.sh [docker|slurm|sge ...]`
# (none named: all three). Idempotent: a running engine is left as it is. Needs root.
# Scratch dir: $NEURO_ENGINES_DIR (default /tmp/neuro-engines); `source $NEURO_ENGINES_DIR/env.sh`
# afterwards gives the clients (sinfo, qstat, ...) their environment. Stop with down.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
source "$HERE/docker.sh"
source "$HERE/slurm.sh"
source "$HERE/sge.sh"

check_root
parse_engines "$@"
mkdir -p "$ENGINES_DIR"
write_env
for engine in "${ENGINES[@]}"; do
    start=$SECONDS
    "${engine}_up"
    log "$engine up in $((SECONDS - start)) s"
done
log "engines up: ${ENGINES[*]} (source $ENGINES_DIR/env.sh)"
