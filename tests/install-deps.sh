#!/usr/bin/env bash
# tests/install-deps.sh: install (as root, with apt-get) everything that
# building libsmtpclient, its tests, sanitizer and fuzzer builds, the API
# documentation and the demo need, on Debian 12 (bookworm).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Used by tests/run-all.sh and examples/demo.sh; it can be run on its own:
#   sudo bash tests/install-deps.sh
#
# It asks dpkg first and runs apt-get (update, then install) only when a
# package is missing, so a second run takes a fraction of a second.
# Not root: nothing is installed; it lists what is missing and goes on if
# the tools the build cannot do without are there.
#
# Environment:
#   SMTPCLIENT_SKIP_DEPS=1   do nothing (for machines set up by other means)

set -euo pipefail

# Build, tests, fuzzer, sanitizers, bindings, docs and the demo.
PACKAGES=(
  # compilers and build tools
  build-essential
  gcc
  clang
  libclang-rt-14-dev      # ASan/UBSan/libFuzzer runtimes for clang
  meson
  ninja-build
  pkg-config
  gettext
  # the library's dependencies
  libglib2.0-dev
  libglib2.0-bin
  glib-networking         # TLS (GnuTLS) for GIO at run time
  ca-certificates
  openssl                 # test certificates
  # introspection and bindings
  gobject-introspection
  libgirepository1.0-dev
  gir1.2-glib-2.0
  valac
  gjs
  python3
  python3-gi
  # API reference
  gi-docgen
  # test servers: aiosmtpd, and Postfix for /usr/sbin/smtp-sink and the
  # private instances of the interop suite (the system's Postfix is
  # neither configured nor started)
  python3-aiosmtpd
  postfix
  # Exim for tests/servers/mailserver-exim.py: not installed (it conflicts
  # with postfix) but unpacked into .deps/exim4 below; these are the
  # libraries its binary links with, and nss_wrapper, which lets it find
  # its compiled-in user Debian-exim without adding a user to the system
  libnss-wrapper
  libidn12
  libidn2-0
  libdb5.3
  libgnutls30
  libgnutls-dane0
  libnsl2
  libpcre2-8-0
  libcrypt1
  # meson test --setup valgrind
  valgrind
)

# ---------------------------------------------------------------------------
# EXTRA_PACKAGES: packages that other parts of the project need (for
# example the GTK 4 example and the virtual display that runs it).
# Append here, one per line, with a comment saying who needs it.
EXTRA_PACKAGES=(
  # examples/gtk/compose.py and its test under a virtual display (test-gtk)
  gir1.2-gtk-4.0
  libgtk-4-1
  gir1.2-graphene-1.0
  xvfb
  xauth
  fonts-dejavu-core
  # the gi-docgen docs, gi-docgen check, the examples and test-install
  gi-docgen
  gjs
  valac
  # the interop suite (tests/servers/mailserver-postfix.py and
  # mailserver-dovecot-lmtp.py): private Dovecot instances for SASL and
  # LMTP, configured under the tests' own directories (the system's
  # dovecot service is not started here: see policy-rc.d below; the tests
  # neither use nor conflict with it)
  dovecot-core
  dovecot-lmtpd
)
# ---------------------------------------------------------------------------

# Without these the build cannot even start.
ESSENTIAL_COMMANDS=(cc meson ninja pkg-config /usr/bin/python3)

if [ "${SMTPCLIENT_SKIP_DEPS:-0}" = 1 ]; then
  echo "install-deps: SMTPCLIENT_SKIP_DEPS=1, not checking packages"
  exit 0
fi

wanted=("${PACKAGES[@]}" "${EXTRA_PACKAGES[@]}")

# Exim 4 (Debian's exim4-daemon-light) for the tests, unpacked with
# "dpkg -x" into .deps/exim4 at the top of the checkout (git-ignored),
# never installed: Debian's mail servers conflict with each other and
# postfix is installed above.  Only its binary, usr/sbin/exim4, is used;
# tests/meson.build passes its path as SMTPCLIENT_TEST_EXIM.  Done once:
# skipped when the binary is there.  Not root, or the download fails: it
# says so and goes on (the Exim tests then skip).
EXIM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.deps/exim4"

unpack_exim() {
  if [ -x "$EXIM_DIR/usr/sbin/exim4" ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root, not unpacking Exim (its tests will skip)"
    return 0
  fi
  local tmp deb
  tmp=$(mktemp -d)
  # apt-get download as root: no _apt sandbox for a directory it owns
  if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root \
          exim4-daemon-light >/dev/null); then
    echo "install-deps: apt-get download exim4-daemon-light failed;" \
         "updating the package lists and trying once more"
    apt-get update -q >/dev/null || true
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root \
       exim4-daemon-light >/dev/null) || true
  fi
  deb=$(ls "$tmp"/exim4-daemon-light_*.deb 2>/dev/null | head -n 1)
  if [ -z "$deb" ]; then
    echo "install-deps: could not download exim4-daemon-light;" \
         "the Exim tests will skip"
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$EXIM_DIR"
  mkdir -p "$EXIM_DIR"
  dpkg -x "$deb" "$EXIM_DIR"
  # The package makes exim4 set-user-ID root.  The tests start it as root;
  # set-user-ID would only make the dynamic loader ignore LD_PRELOAD
  # (nss_wrapper) when Exim re-executes itself to deliver, from a process
  # whose real user is nobody.
  chmod u-s "$EXIM_DIR/usr/sbin/exim4"
  basename "$deb" >"$EXIM_DIR/PACKAGE"
  rm -rf "$tmp"
  echo "install-deps: unpacked $(cat "$EXIM_DIR/PACKAGE") into $EXIM_DIR"
}

check_essential_commands() {
  local c absent=()
  for c in "${ESSENTIAL_COMMANDS[@]}"; do
    command -v "$c" >/dev/null 2>&1 || absent+=("$c")
  done
  if [ "${#absent[@]}" -gt 0 ]; then
    echo "install-deps: cannot build without: ${absent[*]}" >&2
    exit 1
  fi
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: no dpkg here (not Debian?); install the equivalents of:"
  echo "  ${wanted[*]}"
  check_essential_commands
  exit 0
fi

missing_packages() {
  local installed
  # Unknown packages are reported on stderr and left out of the list.
  # dpkg-query exits 1 when one of them is unknown.
  installed=$( (dpkg-query -W -f='${Package} ${db:Status-Status}\n' \
                  "${wanted[@]}" 2>/dev/null || true) |
                awk '$2 == "installed" { print $1 }')
  local p
  for p in "${wanted[@]}"; do
    if ! grep -qxF -- "$p" <<<"$installed"; then
      echo "$p"
    fi
  done
}

mapfile -t missing < <(missing_packages)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages are installed"
  unpack_exim
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: not root, installing nothing; missing packages:"
  echo "  ${missing[*]}"
  unpack_exim
  echo "install-deps: to install them: sudo bash tests/install-deps.sh"
  check_essential_commands
  echo "install-deps: going on; what needs the missing packages may fail"
  exit 0
fi

echo "install-deps: installing: ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive

# Postfix asks how to configure itself: "No configuration" leaves it
# unconfigured (no main.cf), which is all smtp-sink needs.
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
  debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
EOF
fi

# Keep package scripts from starting daemons (postfix, dovecot) while
# installing:
# policy-rc.d exit code 101 means "action forbidden".  Only when there is
# no policy of the machine's own, and removed again afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() {
  if [ "$own_policy" = 1 ]; then
    rm -f "$policy"
  fi
}
trap cleanup EXIT

apt-get update -q
apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}"

mapfile -t still_missing < <(missing_packages)
if [ "${#still_missing[@]}" -gt 0 ]; then
  echo "install-deps: still missing after apt-get: ${still_missing[*]}" >&2
  exit 1
fi
unpack_exim
echo "install-deps: done"
