#!/usr/bin/env bash
# tests/bench/compare.sh: smtpclient-bench against Postfix's smtp-source and
# curl, on the same smtp-sink, in the same run.  Run by hand, not by CI:
#
#   bash tests/bench/compare.sh [BUILDDIR]      (default: _build)
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# It starts Postfix's smtp-sink on 127.0.0.1 (a free port, no -c: the
# counters cost the sink a write per message) and measures, each scenario
# RUNS times with the tools taking turns, the median:
#
#   1. MESSAGES x 1 KB over one connection: smtp-source -d -s 1 vs
#      smtpclient-bench -s 1                       (goal: ratio >= 2.5)
#   2. the same over 8 connections: smtp-source -d -s 8 vs
#      smtpclient-bench -s 8                       (goal: ratio >= 2)
#   3. one BIG_MB MB message, from a bare-LF file and from a CRLF file:
#      curl --upload-file vs smtpclient-bench --message-file vs
#      smtpclient-send --message-file: throughput, client CPU, peak RSS
#      (goal: throughput >= curl's, CPU <= curl's, RSS <= 8 MB); the
#      same with a message a tenth of the size shows whether RSS is flat
#   4. one 1 KB message, a fresh process each time: smtpclient-send vs
#      smtp-source -m 1 (hyperfine when installed, else a loop)
#   5. memory per open connection: peak RSS of smtpclient-bench with 64
#      connections against 1, divided by 63
#
# Wall time, CPU (user + system) and peak RSS come from /usr/bin/time -v's
# counterpart format (%e %U %S %M); the sink's CPU time during each run
# from /proc.  A sink CPU time close to the wall time means the sink, not
# the client, set the pace (one core each on a 2-core machine).  Environment: RUNS (3), MESSAGES
# (20000), BIG_MB (100), SINGLE_RUNS (30).  As root it installs what is
# missing (postfix, curl, time, hyperfine) with apt-get.

set -uo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
BUILDDIR=${1:-$ROOT/_build}
RUNS=${RUNS:-3}
MESSAGES=${MESSAGES:-20000}
BIG_MB=${BIG_MB:-100}
SINGLE_RUNS=${SINGLE_RUNS:-30}

BENCH=$BUILDDIR/tests/bench/smtpclient-bench
SEND=$BUILDDIR/smtpclient/smtpclient-send
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
TIME=/usr/bin/time

die() {
  echo "compare.sh: $*" >&2
  exit 2
}

# Tools
missing=()
[ -x "$SINK" ] && [ -x "$SOURCE" ] || missing+=(postfix)
command -v curl >/dev/null || missing+=(curl)
[ -x "$TIME" ] || missing+=(time)
command -v hyperfine >/dev/null || missing+=(hyperfine)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "Installing ${missing[*]} ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}" >/dev/null || echo "compare.sh: apt-get failed" >&2
fi
[ -x "$SINK" ] && [ -x "$SOURCE" ] || die "needs Postfix's smtp-sink and smtp-source (apt-get install postfix)"
command -v curl >/dev/null || die "needs curl"
[ -x "$TIME" ] || die "needs /usr/bin/time (apt-get install time)"
[ -x "$BENCH" ] || die "no $BENCH: build first (meson setup $BUILDDIR && ninja -C $BUILDDIR)"
[ -x "$SEND" ] || die "no $SEND"
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null && HAVE_HYPERFINE=1

# A GIO module newer than giomodule.cache is loaded by every GIO program at
# start (libproxy, dconf...): milliseconds that are not ours to measure
for dir in /usr/lib/*/gio/modules; do
  [ -f "$dir/giomodule.cache" ] || continue
  cache=$(stat -c %Y "$dir/giomodule.cache")
  for module in "$dir"/*.so; do
    if [ "$(stat -c %Z "$module")" -gt "$cache" ]; then
      echo "compare.sh: warning: $dir/giomodule.cache is older than" \
           "$(basename "$module"); run $(dirname "$dir")/glib-2.0/gio-querymodules $dir" >&2
      break
    fi
  done
done

WORK=$(mktemp -d /tmp/smtpclient-compare-XXXXXX)
SINK_PID=
cleanup() {
  if [ -n "$SINK_PID" ]; then
    kill "$SINK_PID" 2>/dev/null
    wait "$SINK_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A free port: one that nobody listens on now
pick_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port"
}

PORT=$(pick_port)
SINK_ARGS=()
[ "$(id -u)" = 0 ] && SINK_ARGS+=(-u root)
"$SINK" "${SINK_ARGS[@]}" "127.0.0.1:$PORT" 256 >/dev/null 2>"$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done
kill -0 "$SINK_PID" 2>/dev/null || die "smtp-sink did not start: $(cat "$WORK/sink.err")"

# The sink's CPU time so far, in seconds (user + system)
sink_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' \
    "/proc/$SINK_PID/stat"
}

# measure NAME COMMAND...: one run; appends "wall cpu rss_kib status
# sink_cpu" to $WORK/NAME
measure() {
  local name=$1 status before after
  shift
  before=$(sink_cpu)
  "$TIME" -f "%e %U %S %M" -o "$WORK/time.out" "$@" >"$WORK/out" 2>"$WORK/err"
  status=$?
  after=$(sink_cpu)
  if [ $status -ne 0 ]; then
    echo "compare.sh: $name failed (exit $status):" >&2
    tail -3 "$WORK/err" >&2
  fi
  awk -v s=$status -v sink="$(awk -v a="$before" -v b="$after" 'BEGIN { print b - a }')" \
    '{ printf "%s %.3f %s %s %s\n", $1, $2 + $3, $4, s, sink }' \
    "$WORK/time.out" >>"$WORK/$name"
}

# median NAME FIELD: the median of one field (1 wall, 2 cpu, 3 rss,
# 5 the sink's CPU)
median() {
  sort -n -k"$2","$2" "$WORK/$1" | awk -v f="$2" '
    { v[NR] = $f }
    END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

failures() {
  awk '$4 != 0 { n++ } END { print n + 0 }' "$WORK/$1"
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

rate() {
  awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'
}

echo "smtp-sink on 127.0.0.1:$PORT; $RUNS runs each, medians; $(nproc) CPUs;" \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# 1 and 2: many small messages
for sessions in 1 8; do
  src=source-s$sessions
  ours=bench-s$sessions
  for _ in $(seq "$RUNS"); do
    measure "$src" "$SOURCE" -d -s "$sessions" -m "$MESSAGES" -l 1024 "127.0.0.1:$PORT"
    measure "$ours" "$BENCH" --server 127.0.0.1 --port "$PORT" -s "$sessions" \
      -m "$MESSAGES" -l 1024 -q
  done
  ws=$(median "$src" 1)
  wo=$(median "$ours" 1)
  printf "%s x 1 KB over %d connection(s)\n" "$MESSAGES" "$sessions"
  printf "  %-28s %8s s %8s msg/s  CPU %6s s  sink CPU %6s s\n" \
    "smtp-source -d -s $sessions" "$ws" "$(rate "$MESSAGES" "$ws")" \
    "$(median "$src" 2)" "$(median "$src" 5)"
  printf "  %-28s %8s s %8s msg/s  CPU %6s s  sink CPU %6s s  (failed runs: %s)\n" \
    "smtpclient-bench -s $sessions" "$wo" "$(rate "$MESSAGES" "$wo")" \
    "$(median "$ours" 2)" "$(median "$ours" 5)" "$(failures "$ours")"
  printf "  ratio (ours / smtp-source): %s\n\n" "$(ratio "$ws" "$wo")"
done

# 3: one big message, bare LF and CRLF, and a tenth of it for RSS
make_file() {
  # make_file PATH MB EOL: lines of 76 letters
  /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, mb, eol = sys.argv[1], int(sys.argv[2]), sys.argv[3]
eol = b"\r\n" if eol == "crlf" else b"\n"
line = b"".join(bytes([97 + (i % 26)]) for i in range(76)) + eol
header = b"From: bench@localhost" + eol + b"To: sink@localhost" + eol + \
         b"Subject: big" + eol + eol
size = mb * 1000 * 1000
with open(path, "wb") as f:
    f.write(header)
    block = line * 1000
    written = len(header)
    while written + len(block) <= size:
        f.write(block)
        written += len(block)
    while written + len(line) <= size:
        f.write(line)
        written += len(line)
EOF
}

small_mb=$((BIG_MB / 10))
[ "$small_mb" -ge 1 ] || small_mb=1
for eol in lf crlf; do
  make_file "$WORK/big-$eol.eml" "$BIG_MB" "$eol"
  make_file "$WORK/small-$eol.eml" "$small_mb" "$eol"
done

for eol in lf crlf; do
  for size in big small; do
    f=$WORK/$size-$eol.eml
    for _ in $(seq "$RUNS"); do
      measure "curl-$size-$eol" curl -sS "smtp://127.0.0.1:$PORT" \
        --mail-from bench@localhost --mail-rcpt sink@localhost --upload-file "$f"
      measure "bench-$size-$eol" "$BENCH" --server 127.0.0.1 --port "$PORT" \
        -m 1 --message-file "$f" -q
      measure "send-$size-$eol" "$SEND" --server 127.0.0.1 --port "$PORT" \
        --from bench@localhost --message-file "$f" sink@localhost
    done
  done
done

for eol in lf crlf; do
  label=$([ $eol = lf ] && echo "bare-LF" || echo "CRLF")
  printf "One %d MB message (%s file)\n" "$BIG_MB" "$label"
  printf "  %-22s %8s %8s %8s %12s %16s %10s\n" "" "wall s" "MB/s" "CPU s" \
    "peak RSS KiB" "RSS at $small_mb MB" "sink CPU s"
  for tool in curl bench send; do
    case $tool in
      curl) name="curl --upload-file" ;;
      bench) name="smtpclient-bench" ;;
      send) name="smtpclient-send" ;;
    esac
    w=$(median "$tool-big-$eol" 1)
    printf "  %-22s %8s %8s %8s %12s %16s %10s\n" "$name" "$w" \
      "$(rate "$BIG_MB" "$w")" "$(median "$tool-big-$eol" 2)" \
      "$(median "$tool-big-$eol" 3)" "$(median "$tool-small-$eol" 3)" \
      "$(median "$tool-big-$eol" 5)"
  done
  wc=$(median "curl-big-$eol" 1)
  cc=$(median "curl-big-$eol" 2)
  printf "  throughput ratio (bench / curl): %s   CPU ratio (bench / curl): %s\n" \
    "$(ratio "$wc" "$(median "bench-big-$eol" 1)")" \
    "$(ratio "$(median "bench-big-$eol" 2)" "$cc")"
  printf "  throughput ratio (send / curl):  %s   CPU ratio (send / curl):  %s\n\n" \
    "$(ratio "$wc" "$(median "send-big-$eol" 1)")" \
    "$(ratio "$(median "send-big-$eol" 2)" "$cc")"
done

# 4: one small message, a fresh process each time
head -c 1024 "$WORK/small-crlf.eml" >"$WORK/one.eml"
echo "One 1 KB message, a fresh process each time ($SINGLE_RUNS runs)"
send_cmd="$SEND --server 127.0.0.1 --port $PORT --from bench@localhost --message-file $WORK/one.eml sink@localhost"
source_cmd="$SOURCE -m 1 -l 1024 127.0.0.1:$PORT"
if [ $HAVE_HYPERFINE = 1 ]; then
  hyperfine -N --warmup 3 --runs "$SINGLE_RUNS" --export-json "$WORK/single.json" \
    "$source_cmd" "$send_cmd" >/dev/null 2>"$WORK/hyperfine.err" ||
    cat "$WORK/hyperfine.err" >&2
  /usr/bin/python3 - "$WORK/single.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
names = ["smtp-source -m 1", "smtpclient-send"]
medians = [r["median"] for r in results]
for name, r in zip(names, results):
    print("  %-22s median %7.2f ms  (mean %.2f ms, min %.2f ms)"
          % (name, r["median"] * 1000, r["mean"] * 1000, r["min"] * 1000))
print("  ratio (smtp-source / smtpclient-send): %.2f" % (medians[0] / medians[1]))
EOF
else
  for tool in source send; do
    for _ in $(seq "$SINGLE_RUNS"); do
      if [ $tool = source ]; then
        measure single-$tool $source_cmd
      else
        measure single-$tool $send_cmd
      fi
    done
  done
  printf "  %-22s median %s s\n" "smtp-source -m 1" "$(median single-source 1)"
  printf "  %-22s median %s s\n" "smtpclient-send" "$(median single-send 1)"
  printf "  ratio (smtp-source / smtpclient-send): %s\n" \
    "$(ratio "$(median single-source 1)" "$(median single-send 1)")"
fi
echo

# 5: memory per open connection
for _ in $(seq "$RUNS"); do
  measure conn-1 "$BENCH" --server 127.0.0.1 --port "$PORT" -s 1 -m 64 -l 1024 -q
  measure conn-64 "$BENCH" --server 127.0.0.1 --port "$PORT" -s 64 -m 64 -l 1024 -q
done
r1=$(median conn-1 3)
r64=$(median conn-64 3)
echo "Memory per open connection (64 connections, one 1 KB message each)"
printf "  peak RSS: %s KiB with 1 connection, %s KiB with 64: %s KiB per connection\n" \
  "$r1" "$r64" "$(awk -v a="$r1" -v b="$r64" 'BEGIN { printf "%.1f", (b - a) / 63 }')"
