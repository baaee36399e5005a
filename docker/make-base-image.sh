#!/bin/sh
# Build a Debian bookworm base image locally, for machines that cannot pull from an image registry:
#
#   docker/make-base-image.sh [--if-missing] [IMAGE]        (default IMAGE: seriesbot-base:bookworm)
#
# then build the images on it:
#
#   docker build --network host --build-arg BASE_IMAGE=seriesbot-base:bookworm -f docker/Dockerfile.bot .
#
# What it does: `debootstrap --variant=minbase bookworm` from the Debian mirror this machine's apt
# uses (or $MIRROR), copies the machine's extra CA certificates (/usr/local/share/ca-certificates,
# e.g. a TLS-intercepting proxy's) into the rootfs and regenerates the bundle there, and
# `docker import`s the result with PIP_CERT pointing at that bundle. Python is not installed here:
# the Dockerfiles install python3 with apt when the base image has none, exactly as on debian:bookworm.
# Needs root, debootstrap and a running dockerd.
set -eu

SUITE=bookworm
IF_MISSING=0
if [ "${1:-}" = "--if-missing" ]; then
    IF_MISSING=1
    shift
fi
IMAGE=${1:-seriesbot-base:bookworm}

die() { echo "make-base-image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
docker info >/dev/null 2>&1 || die "docker is not usable (is dockerd running?)"

if [ "$IF_MISSING" = 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "make-base-image: $IMAGE exists"
    exit 0
fi

# The first URI that serves "$1" (e.g. bookworm, bookworm-security) in this machine's apt sources:
# deb822 *.sources stanzas first, then one-line "deb URI SUITE ..." entries.
apt_uri() {
    want=$1
    uri=$(for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && cat "$f" && echo; done | awk -v want="$want" '
        function flush() { if (!found && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "") { split(uris, u, " "); print u[1]; found = 1 } types = suites = uris = "" }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        tolower($1) == "types:"  { $1 = ""; types = $0 }
        tolower($1) == "suites:" { $1 = ""; suites = $0 }
        tolower($1) == "uris:"   { $1 = ""; uris = $0 }
        END { flush() }' | sed 's/^ *//' | head -n 1)
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v want="$want" '
            $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == want) { print $i; exit } }')
    fi
    echo "$uri"
}

MIRROR=${MIRROR:-$(apt_uri "$SUITE")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY_MIRROR:-$(apt_uri "$SUITE-security")}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
echo "make-base-image: $IMAGE from $MIRROR ($SUITE) and $SECURITY ($SUITE-security)"

WORK=$(mktemp -d /tmp/seriesbot-rootfs.XXXXXX)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
ROOTFS=$WORK/rootfs

debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }

cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF

# Trust what this machine trusts: its extra CA certificates, then a regenerated bundle.
mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
found=0
for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$crt" ] || continue
    cp "$crt" "$ROOTFS/usr/local/share/ca-certificates/"
    found=$((found + 1))
done
chroot "$ROOTFS" update-ca-certificates >/dev/null
echo "make-base-image: $found extra CA certificate(s) copied"

# Lean like the official images: no package cache, no apt lists, no docs or man pages.
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/*
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Install-Recommends "false";
EOF

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' \
    -m "debootstrap --variant=minbase $SUITE $MIRROR" - "$IMAGE" >/dev/null
echo "make-base-image: $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1 / 1000000}'))"
