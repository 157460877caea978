# Docker engine: Debian's docker.io, dockerd started by pid, and the local base image
# neuro-base:bookworm made with debootstrap (no registry can be reached from CI).

BASE_IMAGE="${NEURO_BASE_IMAGE:-neuro-base:bookworm}"

docker_up() {
    mkdir -p "$ENGINES_DIR/docker"
    apt_install docker.io debootstrap debian-archive-keyring ca-certificates
    if ! pid_of docker dockerd > /dev/null; then
        if [ -S /var/run/docker.sock ] && "$DOCKER" info > /dev/null 2>&1; then
            log "a docker engine not started by us already answers on /var/run/docker.sock; using it"
        else
            log "starting dockerd"
            start_bg docker dockerd /usr/sbin/dockerd
        fi
    fi
    wait_for 60 "dockerd" "$DOCKER" info || die "dockerd did not answer within 60 s (log: $ENGINES_DIR/docker/dockerd.log)"
    docker_base_image
}

docker_base_image() {
    if "$DOCKER" image inspect "$BASE_IMAGE" > /dev/null 2>&1; then
        log "base image $BASE_IMAGE present"
        return
    fi
    local mirror rootfs="$ENGINES_DIR/docker/rootfs"
    mirror="$(debian_mirror)" || die "no Debian mirror found in /etc/apt/sources.list*; set NEURO_DEBIAN_MIRROR"
    log "debootstrap bookworm from $mirror"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3-minimal,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs" "$mirror" > "$ENGINES_DIR/docker/debootstrap.log" 2>&1 \
        || { tail -n 20 "$ENGINES_DIR/docker/debootstrap.log" >&2; die "debootstrap failed"; }
    # apt caches are not needed in the image
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    log "docker import -> $BASE_IMAGE"
    tar -C "$rootfs" -c . | "$DOCKER" import - "$BASE_IMAGE" > /dev/null
    rm -rf "$rootfs"
}

docker_down() {
    # Containers of neuro runs are labelled; remove leftovers before the engine goes away.
    if pid_of docker dockerd > /dev/null; then
        local ids
        ids="$("$DOCKER" ps -aq --filter label=neuro.run 2>/dev/null || true)"
        [ -z "$ids" ] || "$DOCKER" rm -f $ids > /dev/null 2>&1 || true
    fi
    stop_pid docker dockerd
}
