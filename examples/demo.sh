#!/usr/bin/env bash
# examples/demo.sh: see libsmtpclient deliver a message, end to end.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   sudo bash examples/demo.sh      (as root it installs what is missing)
#
# It builds the project into _build, starts a local SMTP server (aiosmtpd,
# tests/servers/aiosmtpd-server.py) on a free port of 127.0.0.1, sends a
# short message through it with the command-line tool smtpclient-send, and
# shows the SMTP conversation and the message as the server stored it.
# Nothing leaves this machine.  Exit status 0 means the message arrived.

set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
ROOT=$PWD
PYTHON=/usr/bin/python3
BUILD=_build
SEND=$BUILD/smtpclient/smtpclient-send
FROM=alice@example.org
TO=bob@example.net

section() {
  echo
  echo "------------------------------------------------------------------"
  echo "-- $*"
  echo "------------------------------------------------------------------"
}

indent() {
  sed -e 's/\r$//' -e 's/^/    /'
}

# ---------------------------------------------------------------------------
section "1. Dependencies"
bash "$ROOT/tests/install-deps.sh"

# ---------------------------------------------------------------------------
section "2. Build (meson, into $BUILD/)"
if [ ! -f "$BUILD/meson-private/coredata.dat" ]; then
  rm -rf "$BUILD"
  meson setup "$BUILD"
fi
# Only what the demo runs: the command-line tool and the library
meson compile -C "$BUILD" smtpclient-send
echo "built: $SEND"

# ---------------------------------------------------------------------------
section "3. Start a local SMTP server (aiosmtpd on 127.0.0.1)"
work=$(mktemp -d -t smtpclient-demo.XXXXXX)
spool=$work/spool
mkdir "$spool"

# The server runs as a coprocess: it prints "PORT <n>" once it listens,
# and exits when its standard input (our end of the pipe) is closed.
coproc SERVER { exec "$PYTHON" "$ROOT/tests/servers/aiosmtpd-server.py" \
                  --hostname demo.localhost --spool "$spool"; }
server_pid=$SERVER_PID
server_in=${SERVER[1]}
server_out=${SERVER[0]}

stop_server() {
  if [ -n "${server_in:-}" ]; then
    exec {server_in}>&-
    server_in=
    # Bounded wait: it exits as soon as it sees end-of-file.
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      kill "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

port=
if read -r -t 15 line <&"$server_out" && [[ $line =~ ^PORT\ ([0-9]+)$ ]]; then
  port=${BASH_REMATCH[1]}
fi
if [ -z "$port" ]; then
  echo "demo: the server did not start" >&2
  exit 1
fi
echo "aiosmtpd is listening on 127.0.0.1:$port (pid $server_pid)"
echo "it stores each message it accepts in $spool/"

# ---------------------------------------------------------------------------
section "4. Send a message with smtpclient-send"
message=$work/message.txt
cat >"$message" <<EOF
From: Alice <$FROM>
To: Bob <$TO>
Subject: Hello from libsmtpclient
Date: $(LC_ALL=C date -R)
Message-ID: <demo.$$.$(date +%s)@example.org>

Hi Bob,

this message went through libsmtpclient's smtpclient-send to a local
aiosmtpd server.  The next line starts with a dot, which SMTP "dot-stuffs"
on the wire and the server un-stuffs again:
.signature follows
-- 
Alice
EOF

echo "the message (read from standard input):"
indent <"$message"
echo
echo "\$ $SEND --server 127.0.0.1 --port $port --log --from $FROM $TO < message.txt"
status=0
timeout 60 "$SEND" --server 127.0.0.1 --port "$port" --timeout 10 --log \
  --from "$FROM" "$TO" <"$message" 2>"$work/log" || status=$?
echo "smtpclient-send exit status: $status"

# ---------------------------------------------------------------------------
section "5. Transaction log (--log; <- server, -> client)"
indent <"$work/log"

# ---------------------------------------------------------------------------
section "6. What the server received"
arrived=0
if [ -f "$spool/1.env" ] && [ -f "$spool/1.eml" ]; then
  arrived=1
  echo "envelope ($spool/1.env):"
  indent <"$spool/1.env"
  echo
  echo "content ($spool/1.eml, $(wc -c <"$spool/1.eml") bytes with CRLF line ends):"
  indent <"$spool/1.eml"
else
  echo "nothing: the server stored no message"
fi

# ---------------------------------------------------------------------------
section "7. Stop the server"
stop_server
echo "server stopped"

echo
if [ "$status" -eq 0 ] && [ "$arrived" -eq 1 ] &&
   grep -q '^Subject: Hello from libsmtpclient' "$spool/1.eml"; then
  echo "DEMO OK: the message was delivered to the local server."
  exit 0
fi
echo "DEMO FAILED: the message did not arrive (smtpclient-send status $status)."
exit 1
