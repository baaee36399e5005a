# The two commands of the README:
#   make run    install what is needed, then start seriesbot on the embedded default (demo project)
#   make test   install what is needed (test tools too), then run the whole test suite (.ci/run calls this)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSTEM_PACKAGES := git git-email meson ninja-build gcc libc6-dev pkg-config util-linux bubblewrap ccache python3-venv
TEST_SYSTEM_PACKAGES := chromium chromium-driver redis-server postgresql public-inbox
# libvirt on Debian 12 (config/projects/libvirt.toml, config/libvirt-native.ini): the libraries of every
# driver and storage backend the native file enables, the tools meson looks for at configure time,
# and dwarves (pdwtags: without it libvirt silently skips check-remote_protocol)
LIBVIRT_PACKAGES := git meson ninja-build gcc pkg-config perl make python3 python3-docutils \
  libglib2.0-dev libxml2-dev libxml2-utils xsltproc libgnutls28-dev libtirpc-dev dwarves \
  libacl1-dev libapparmor-dev libattr1-dev libaudit-dev libblkid-dev libcap-ng-dev libcurl4-gnutls-dev \
  libdbus-1-dev libdevmapper-dev libfuse-dev libglusterfs-dev libiscsi-dev libnl-3-dev libnl-route-3-dev \
  libnuma-dev libparted-dev libpcap0.8-dev libpciaccess-dev librbd-dev libreadline-dev libsanlock-dev \
  libsasl2-dev libselinux1-dev libssh-dev libssh2-1-dev libudev-dev libxen-dev libyajl-dev \
  systemtap-sdt-dev wireshark-dev xfslibs-dev \
  augeas-tools dnsmasq-base ebtables iproute2 iptables kmod lvm2 nfs-common numad open-iscsi parted \
  polkitd pkexec qemu-utils radvd scrub zfs-fuse

.PHONY: run test system-deps test-system-deps libvirt-deps venv services lint clean mailman-venv

run: system-deps $(BIN)/.installed
	$(BIN)/seriesbot serve

test: system-deps test-system-deps $(BIN)/.installed-test services mailman-venv
	$(BIN)/ruff check bot workers tests bench
	$(BIN)/pytest -m "not bench and not docker and not libvirt" -p no:cacheprovider

# Debian/Ubuntu packages, installed only when missing (needs root or sudo).
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

test-system-deps:
	@missing=$$(for p in $(TEST_SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# What a worker needs to build and test libvirt (not needed by `make test`: CI has no libvirt).
libvirt-deps:
	@missing=$$(for p in $(LIBVIRT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/.installed: pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(BIN)/.installed-test: pyproject.toml $(BIN)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

# Mailman 3 core for tests/e2e/test_mailman.py, in its own virtualenv (.venv-mailman/), made once.
mailman-venv: $(BIN)/.installed-test
	$(BIN)/python -m tests.mailman3

# Redis and PostgreSQL on 127.0.0.1, started when they are down (as on CI).
services:
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { mkdir -p /var/lib/redis /var/log/redis; \
	  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	    --dir /var/lib/redis --logfile /var/log/redis/ci.log; sleep 1; }
	@pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || { \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; sleep 2; }
	@redis-cli -h 127.0.0.1 ping >/dev/null && pg_isready -h 127.0.0.1 -p 5432 >/dev/null

lint: $(BIN)/.installed-test
	$(BIN)/ruff check bot workers tests bench

clean:
	rm -rf $(VENV) .venv-mailman data test-artifacts
