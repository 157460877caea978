# Shared helpers of up.sh / down.sh (sourced, not executed).
# Everything the engines write lives under $ENGINES_DIR; every daemon we start has a pid file there.

ENGINES_DIR="${NEURO_ENGINES_DIR:-/tmp/neuro-engines}"
ALL_ENGINES=(docker slurm sge)
HOST="$(hostname)"
DOCKER=/usr/bin/docker   # Debian's client; a newer client-only docker may come first in PATH

log() { printf '[engines %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

check_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (installs packages and starts daemons)"
}

# Validate the engine names given on the command line; none means all.
parse_engines() {
    if [ "$#" -eq 0 ]; then set -- "${ALL_ENGINES[@]}"; fi
    local e
    for e in "$@"; do
        case "$e" in docker|slurm|sge) ;; *) die "unknown engine '$e' (known: ${ALL_ENGINES[*]})" ;; esac
    done
    ENGINES=("$@")
}

# apt-get install only the packages that are missing; services are not started by the packages
# (policy-rc.d), because we start each daemon ourselves and track it by pid.
APT_UPDATED=0
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    log "apt-get install ${missing[*]}"
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        > "$ENGINES_DIR/apt.log" 2>&1 || rc=$?
    [ "$made_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || { tail -n 20 "$ENGINES_DIR/apt.log" >&2; die "apt-get install failed (log: $ENGINES_DIR/apt.log)"; }
}

# pid files: $ENGINES_DIR/<engine>/<daemon>.pid
pid_of() {  # print the pid recorded for a daemon if that process still runs
    local file="$ENGINES_DIR/$1/$2.pid" pid
    [ -s "$file" ] || return 1
    pid="$(cat "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start_bg() {  # start_bg ENGINE NAME CMD... : run a foreground daemon in the background, record its pid
    local engine="$1" name="$2"; shift 2
    setsid "$@" > "$ENGINES_DIR/$engine/$name.log" 2>&1 < /dev/null &
    echo $! > "$ENGINES_DIR/$engine/$name.pid"
}

stop_pid() {  # stop_pid ENGINE NAME : TERM, wait up to 15 s, then KILL; remove the pid file
    local engine="$1" name="$2" pid i
    if pid="$(pid_of "$engine" "$name")"; then
        log "stopping $engine/$name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$engine/$name did not stop, killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$ENGINES_DIR/$engine/$name.pid"
}

wait_for() {  # wait_for SECONDS DESCRIPTION CMD... : poll CMD every 0.2 s until it succeeds
    local seconds="$1" what="$2"; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" > /dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
    log "$what ready"
}

# The Debian mirror apt already uses (one-line or deb822 sources), for debootstrap.
debian_mirror() {
    if [ -n "${NEURO_DEBIAN_MIRROR:-}" ]; then echo "$NEURO_DEBIAN_MIRROR"; return; fi
    local files=() f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 1
    uri="$(awk '
        /^deb[ \t]/ { line = $0; sub(/\[[^]]*\]/, "", line); split(line, w);
                      if (w[3] !~ /-(security|updates|backports)$/) { print w[2]; exit } }
        /^URIs:/    { uris = $2 }
        /^Suites:/  { for (i = 2; i <= NF; i++) if ($i !~ /-(security|updates|backports)$/ && uris ~ /debian\/?$/) { print uris; exit } }
        /^$/        { uris = "" }' "${files[@]}")"
    [ -n "$uri" ] || return 1
    echo "$uri"
}

# Environment the engines' clients need (sourced by .ci/run and the tests).
write_env() {
    cat > "$ENGINES_DIR/env.sh" <<ENV
# written by .ci/engines/up.sh: source this to talk to the test engines
export NEURO_ENGINES_DIR=$ENGINES_DIR
export SLURM_CONF=$ENGINES_DIR/slurm/slurm.conf
export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=default
ENV
}
