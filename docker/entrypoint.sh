#!/bin/sh
# One seriesbot role per container, chosen by the first argument; further arguments go to the command
# (so `worker-build --queues build:libvirt` pins a build worker to one project).
#
#   smtp          the SMTP/LMTP front                      (bot image)
#   web           the dashboard and JSON API               (bot image)
#   worker-light  Celery worker on the light queue: ingest, reports, mail, the reconciler (bot image)
#   worker-build  Celery worker on the build queues        (worker image: needs the toolchain)
#   serve         everything in one container, for a trial (worker image)
#   status        print queues, workers, leases and stuck items, then exit
#   anything else is run as a command (`seriesbot config check`, `sh`, ...)
#
# Environment: SERIESBOT_CONFIG (default /etc/seriesbot/seriesbot.toml), SERIESBOT_LOG_LEVEL,
# SERIESBOT_CONCURRENCY (light worker threads, default 4), SERIESBOT_QUEUES (build worker queues,
# default "build" = every project; e.g. "build:libvirt"), SERIESBOT_WORKER_NAME (else a stable
# name <SERIESBOT_WORKER_PREFIX>-N is claimed per build worker, see claim_slot), plus what
# `seriesbot` itself reads: DATABASE_URL, BROKER_URL, SERIESBOT_SMTP_RELAY, SERIESBOT_WEB_SECRET, ...
set -eu

role=${1:-help}
[ $# -gt 0 ] && shift

seriesbot() {
    exec /opt/seriesbot/bin/seriesbot --log-level "${SERIESBOT_LOG_LEVEL:-INFO}" "$@"
}

# The healthcheck (docker/healthcheck.py) reads which role this container plays.
note_role() {
    echo "$1" >/tmp/seriesbot-role 2>/dev/null || true
}

# Build workers keep a warm build directory per worker name (data_dir/work/<name>/<project>). With
# `--scale worker=N` every replica claims the first free slot <prefix>-1, <prefix>-2, ... by holding a
# lock in the build-cache volume for its lifetime, so a restarted or re-created worker finds its
# build directories again and no two live workers share one. Set SERIESBOT_WORKER_PREFIX per host
# when several hosts share the database.
claim_slot() {
    [ -n "${SERIESBOT_WORKER_NAME:-}" ] && return 0
    dir=${SERIESBOT_CACHE_DIR:-/var/lib/seriesbot/work}
    mkdir -p "$dir" 2>/dev/null || true
    [ -w "$dir" ] || return 0
    i=1
    while [ "$i" -le 256 ]; do
        exec 9>"$dir/.slot-$i.lock"
        if flock -n 9; then
            export SERIESBOT_WORKER_NAME="${SERIESBOT_WORKER_PREFIX:-build}-$i"
            return 0  # fd 9 stays open (and locked) in the exec'd worker
        fi
        exec 9>&-
        i=$((i + 1))
    done
}

case "$role" in
    smtp)
        note_role smtp
        seriesbot smtp "$@" ;;
    web)
        note_role web
        seriesbot web "$@" ;;
    worker-light)
        note_role worker
        seriesbot worker --queues light --pool threads --concurrency "${SERIESBOT_CONCURRENCY:-4}" "$@" ;;
    worker-build)
        command -v ninja >/dev/null || { echo "worker-build needs the worker image (no toolchain here)" >&2; exit 2; }
        note_role worker
        claim_slot
        if [ -n "${SERIESBOT_WORKER_NAME:-}" ]; then
            set -- --name "$SERIESBOT_WORKER_NAME" "$@"
        fi
        seriesbot worker --queues "${SERIESBOT_QUEUES:-build}" --pool solo --concurrency 1 --no-reconcile "$@" ;;
    serve)
        note_role serve
        seriesbot serve "$@" ;;
    status)
        note_role status
        seriesbot status "$@" ;;
    help|-h|--help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0 ;;
    *)
        exec "$role" "$@" ;;
esac
