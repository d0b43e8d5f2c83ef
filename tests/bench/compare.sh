#!/usr/bin/env bash
# tests/bench/compare.sh: smtpclient-bench against Postfix's smtp-source and
# curl, on the same smtp-sink, in the same run.  Run by hand, not by CI:
#
#   bash tests/bench/compare.sh [BUILDDIR]      (default: _build)
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# It starts Postfix's smtp-sink on 127.0.0.1 (a free port, no -c: the
# counters cost the sink a write per message), stunnel4 in front of it
# for implicit TLS (a throwaway certificate), and measures, each scenario
# RUNS times with the tools taking turns, the median:
#
#   1. MESSAGES x 1 KB over one connection and over eight, generated in
#      memory and from a file (--message-file, opened and read for each
#      message): smtpclient-bench vs smtp-source -d -s 1 / -s 8
#      (goals: >= 2.5 and >= 2; from a file, >= 80% of the rate from
#      memory and a few microseconds of CPU at most per message more)
#   2. one 1 KB message, a fresh process each time: smtpclient-send vs
#      smtp-source -m 1 (hyperfine when installed, else a loop; goal:
#      median <= smtp-source's)
#   3. MESSAGES x 1 KB over implicit TLS (stunnel4): smtpclient-bench
#      --security tls --message-file vs Python's smtplib.SMTP_SSL (goal
#      >= 3) and vs a pipelined client in a few lines of Python,
#      pipelined-client.py (goal >= 1), over one connection, and from
#      memory (as the pipelined client sends it) vs the same; over
#      eight, vs eight curls in parallel, each reusing its connection
#      (goal >= 3)
#   4. one BIG_MB MB message, from a bare-LF file and from a CRLF file:
#      smtpclient-send and smtpclient-bench --message-file vs curl
#      --upload-file: throughput, client CPU, peak RSS (goals: throughput
#      >= curl's, CPU <= curl's, RSS <= 8 MB); the same with a message a
#      tenth of the size shows whether RSS is flat
#   5. memory per open connection: peak RSS of smtpclient-bench with 64
#      connections against 1, divided by 63
#
# It prints one table: per scenario our figure, the peer's, the ratio
# (better than the peer when above 1), the goal and whether it was met.
# Wall time, CPU (user + system) and peak RSS come from /usr/bin/time
# (%e %U %S %M, the figures time -v prints); the sink's CPU time from
# /proc.  Progress goes to standard error.  Build with --buildtype=release
# for figures worth comparing.  Environment: RUNS (3), MESSAGES (20000),
# BIG_MB (100), SINGLE_RUNS (30).  As root it installs what is missing
# (postfix, curl, time, hyperfine, stunnel4, openssl) with apt-get.

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
command -v stunnel4 >/dev/null || missing+=(stunnel4)
command -v openssl >/dev/null || missing+=(openssl)
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
command -v stunnel4 >/dev/null || die "needs stunnel4 (apt-get install stunnel4)"
command -v openssl >/dev/null || die "needs openssl"
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || die "needs $PYTHON"
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
STUNNEL_PID=
cleanup() {
  for pid in $STUNNEL_PID $SINK_PID; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
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

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.05
  done
}

PORT=$(pick_port)
SINK_ARGS=()
# As root, smtp-sink must be told whose privileges to run with
[ "$(id -u)" = 0 ] && SINK_ARGS+=(-u nobody)
"$SINK" "${SINK_ARGS[@]}" "127.0.0.1:$PORT" 256 >/dev/null 2>"$WORK/sink.err" &
SINK_PID=$!
wait_port "$PORT"
kill -0 "$SINK_PID" 2>/dev/null || die "smtp-sink did not start: $(cat "$WORK/sink.err")"

# Implicit TLS in front of the sink, with a throwaway certificate for
# 127.0.0.1 that the clients are told to trust
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 1 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>"$WORK/openssl.err" ||
  die "openssl: $(cat "$WORK/openssl.err")"
TLS_PORT=$(pick_port)
cat >"$WORK/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
[smtps]
accept = 127.0.0.1:$TLS_PORT
connect = 127.0.0.1:$PORT
cert = $WORK/cert.pem
key = $WORK/key.pem
EOF
stunnel4 "$WORK/stunnel.conf" >"$WORK/stunnel.log" 2>&1 &
STUNNEL_PID=$!
wait_port "$TLS_PORT"
kill -0 "$STUNNEL_PID" 2>/dev/null || die "stunnel4 did not start: $(tail -3 "$WORK/stunnel.log")"

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
  local start end
  before=$(sink_cpu)
  start=$(date +%s%N)
  "$TIME" -f "%e %U %S %M" -o "$WORK/time.out" "$@" >"$WORK/out" 2>"$WORK/err"
  status=$?
  end=$(date +%s%N)
  after=$(sink_cpu)
  if [ $status -ne 0 ]; then
    echo "compare.sh: $name failed (exit $status):" >&2
    tail -3 "$WORK/err" >&2
  fi
  # The wall time to the millisecond (time's %e has hundredths)
  awk -v s=$status -v sink="$(awk -v a="$before" -v b="$after" 'BEGIN { print b - a }')" \
    -v wall="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
    '{ printf "%s %.3f %s %s %s\n", wall, $2 + $3, $4, s, sink }' \
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

# The table: one row per scenario
TABLE=$WORK/table
# row SCENARIO OURS PEER_NAME PEER RATIO GOAL MET
row() {
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$@" >>"$TABLE"
}

# met VALUE OP LIMIT: "yes" or "NO"
met() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "-" || v == "") { print "-"; exit }
    ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0)
    print ok ? "yes" : "NO" }'
}

progress() {
  echo "compare.sh: $*" >&2
}

# cpu_us NAME: the median CPU time per message in microseconds
cpu_us() {
  awk -v c="$(median "$1" 2)" -v n="$MESSAGES" 'BEGIN { printf "%.1f", c * 1e6 / n }'
}

# A 1 KB message like the generated one, as a file
"$PYTHON" - "$WORK/1k.eml" <<'EOF'
import sys
header = (b"From: <bench@localhost>\r\nTo: <sink@localhost>\r\n"
          b"Subject: smtpclient-bench\r\n\r\n")
line = bytes(97 + i % 26 for i in range(78)) + b"\r\n"
open(sys.argv[1], "wb").write(header + (line * 14)[:1022] + b"\r\n")
EOF

# 1: many small messages, from memory and from a file
for sessions in 1 8; do
  progress "$MESSAGES x 1 KB over $sessions connection(s)"
  for _ in $(seq "$RUNS"); do
    measure "source-s$sessions" "$SOURCE" -d -s "$sessions" -m "$MESSAGES" -l 1024 "127.0.0.1:$PORT"
    measure "memory-s$sessions" "$BENCH" --server 127.0.0.1 --port "$PORT" -s "$sessions" \
      -m "$MESSAGES" -l 1024 -q
    measure "file-s$sessions" "$BENCH" --server 127.0.0.1 --port "$PORT" -s "$sessions" \
      -m "$MESSAGES" --message-file "$WORK/1k.eml" -q
  done
  ws=$(median "source-s$sessions" 1)
  wm=$(median "memory-s$sessions" 1)
  wf=$(median "file-s$sessions" 1)
  goal=$([ "$sessions" = 1 ] && echo 2.5 || echo 2)
  r=$(ratio "$ws" "$wm")
  row "1 KB from memory, $sessions conn. (msg/s)" "$(rate "$MESSAGES" "$wm")" \
    "smtp-source -d -s $sessions" "$(rate "$MESSAGES" "$ws")" "$r" ">= $goal" "$(met "$r" ">=" "$goal")"
  r=$(ratio "$ws" "$wf")
  row "1 KB --message-file, $sessions conn. (msg/s)" "$(rate "$MESSAGES" "$wf")" \
    "smtp-source -d -s $sessions" "$(rate "$MESSAGES" "$ws")" "$r" ">= $goal" "$(met "$r" ">=" "$goal")"
  r=$(ratio "$wm" "$wf")
  row "  file rate / memory rate, $sessions conn." "$(rate "$MESSAGES" "$wf")" \
    "smtpclient-bench, memory" "$(rate "$MESSAGES" "$wm")" "$r" ">= 0.8" "$(met "$r" ">=" 0.8)"
  cf=$(cpu_us "file-s$sessions")
  cm=$(cpu_us "memory-s$sessions")
  d=$(awk -v a="$cf" -v b="$cm" 'BEGIN { printf "%+.1f", a - b }')
  row "  CPU us/msg, file vs memory, $sessions conn." "$cf" \
    "smtpclient-bench, memory" "$cm" "$d us" "<= +5 us" "$(met "$d" "<=" 5)"
  [ "$(failures "file-s$sessions")$(failures "memory-s$sessions")" = 00 ] ||
    progress "failed runs: memory $(failures "memory-s$sessions"), file $(failures "file-s$sessions")"
done

# 2: one small message, a fresh process each time
progress "one 1 KB message, a fresh process each time ($SINGLE_RUNS runs)"
send_cmd="$SEND --server 127.0.0.1 --port $PORT --from bench@localhost --message-file $WORK/1k.eml sink@localhost"
source_cmd="$SOURCE -m 1 -l 1024 127.0.0.1:$PORT"
if [ $HAVE_HYPERFINE = 1 ]; then
  # RUNS rounds, the two taking turns at going first (a machine whose
  # load drifts would favour one); the median of every run of each
  for round in $(seq "$RUNS"); do
    if [ $((round % 2)) = 1 ]; then
      first=$source_cmd second=$send_cmd
    else
      first=$send_cmd second=$source_cmd
    fi
    hyperfine -N --warmup 3 --runs "$SINGLE_RUNS" \
      --export-json "$WORK/single-$round.json" "$first" "$second" \
      >/dev/null 2>"$WORK/hyperfine.err" || cat "$WORK/hyperfine.err" >&2
  done
  read -r ms_source ms_send < <("$PYTHON" - "$source_cmd" "$WORK"/single-*.json <<'EOF'
import json, statistics, sys
times = {True: [], False: []}
for path in sys.argv[2:]:
    for result in json.load(open(path))["results"]:
        times[result["command"] == sys.argv[1]] += result["times"]
print("%.2f %.2f" % (statistics.median(times[True]) * 1000,
                     statistics.median(times[False]) * 1000))
EOF
)
else
  for _ in $(seq "$SINGLE_RUNS"); do
    measure single-source $source_cmd
    measure single-send $send_cmd
  done
  ms_source=$(awk -v t="$(median single-source 1)" 'BEGIN { printf "%.2f", t * 1000 }')
  ms_send=$(awk -v t="$(median single-send 1)" 'BEGIN { printf "%.2f", t * 1000 }')
fi
r=$(ratio "$ms_source" "$ms_send")
row "1 KB, fresh process, median (ms)" "$ms_send" "smtp-source -m 1" "$ms_source" \
  "$r" ">= 1" "$(met "$r" ">=" 1)"

# 3: implicit TLS through stunnel4
cat >"$WORK/smtplib-client.py" <<'EOF'
import smtplib, ssl, sys
host, port, count, path, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
message = open(path, "rb").read()
with smtplib.SMTP_SSL(host, port, context=ssl.create_default_context(cafile=ca)) as smtp:
    for _ in range(count):
        smtp.sendmail("bench@localhost", ["sink@localhost"], message)
EOF
per_curl=$((MESSAGES / 8))
curls() {
  # Eight curls in parallel, each sending per_curl messages over one
  # connection it reuses (one URL per message: the path is the EHLO name)
  local pids=() status=0
  for i in $(seq 8); do
    curl -sS --cacert "$WORK/cert.pem" --mail-from bench@localhost \
      --mail-rcpt sink@localhost -T "$WORK/1k.eml" -o /dev/null \
      "smtps://127.0.0.1:$TLS_PORT/c$i-[1-$per_curl]" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || status=1
  done
  return $status
}
# measure runs a program: the function goes to a bash of its own
export -f curls
export WORK TLS_PORT per_curl
progress "$MESSAGES x 1 KB over implicit TLS (stunnel4), 1 and 8 connections"
for _ in $(seq "$RUNS"); do
  measure tls-bench-s1 "$BENCH" --server 127.0.0.1 --port "$TLS_PORT" --security tls \
    --ca-file "$WORK/cert.pem" -s 1 -m "$MESSAGES" --message-file "$WORK/1k.eml" -q
  measure tls-bench-s1-mem "$BENCH" --server 127.0.0.1 --port "$TLS_PORT" --security tls \
    --ca-file "$WORK/cert.pem" -s 1 -m "$MESSAGES" -l 1024 -q
  measure tls-smtplib "$PYTHON" "$WORK/smtplib-client.py" 127.0.0.1 "$TLS_PORT" \
    "$MESSAGES" "$WORK/1k.eml" "$WORK/cert.pem"
  measure tls-pipelined "$PYTHON" "$ROOT/tests/bench/pipelined-client.py" 127.0.0.1 \
    "$TLS_PORT" "$MESSAGES" "$WORK/1k.eml" "$WORK/cert.pem"
  measure tls-bench-s8 "$BENCH" --server 127.0.0.1 --port "$TLS_PORT" --security tls \
    --ca-file "$WORK/cert.pem" -s 8 -m $((per_curl * 8)) --message-file "$WORK/1k.eml" -q
  measure tls-curl bash -c curls
done
wb=$(median tls-bench-s1 1)
for peer in smtplib pipelined; do
  wp=$(median "tls-$peer" 1)
  goal=$([ $peer = smtplib ] && echo 3 || echo 1)
  name=$([ $peer = smtplib ] && echo "smtplib.SMTP_SSL" || echo "pipelined-client.py")
  r=$(ratio "$wp" "$wb")
  row "1 KB over TLS, 1 conn. (msg/s)" "$(rate "$MESSAGES" "$wb")" "$name" \
    "$(rate "$MESSAGES" "$wp")" "$r" ">= $goal" "$(met "$r" ">=" "$goal")"
done
# The pipelined client holds its message in memory: so does this row
wb=$(median tls-bench-s1-mem 1)
wp=$(median tls-pipelined 1)
r=$(ratio "$wp" "$wb")
row "1 KB from memory over TLS, 1 conn." "$(rate "$MESSAGES" "$wb")" "pipelined-client.py" \
  "$(rate "$MESSAGES" "$wp")" "$r" ">= 1" "$(met "$r" ">=" 1)"
wb=$(median tls-bench-s8 1)
wp=$(median tls-curl 1)
r=$(ratio "$wp" "$wb")
row "1 KB over TLS, 8 conn. (msg/s)" "$(rate $((per_curl * 8)) "$wb")" "8 x curl, reusing" \
  "$(rate $((per_curl * 8)) "$wp")" "$r" ">= 3" "$(met "$r" ">=" 3)"

# 4: one big message, bare LF and CRLF, and a tenth of it for RSS
make_file() {
  # make_file PATH MB EOL: lines of 76 letters
  "$PYTHON" - "$1" "$2" "$3" <<'EOF'
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

progress "one $BIG_MB MB message (and one of $small_mb MB), bare LF and CRLF"
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
  wc=$(median "curl-big-$eol" 1)
  cc=$(median "curl-big-$eol" 2)
  rc=$(median "curl-big-$eol" 3)
  for tool in send bench; do
    name=$([ $tool = send ] && echo smtpclient-send || echo smtpclient-bench)
    w=$(median "$tool-big-$eol" 1)
    c=$(median "$tool-big-$eol" 2)
    rss=$(median "$tool-big-$eol" 3)
    r=$(ratio "$wc" "$w")
    row "$BIG_MB MB $label, $name (MB/s)" "$(rate "$BIG_MB" "$w")" "curl --upload-file" \
      "$(rate "$BIG_MB" "$wc")" "$r" ">= 1" "$(met "$r" ">=" 1)"
    r=$(ratio "$cc" "$c")
    row "  CPU s" "$c" "curl --upload-file" "$cc" "$r" ">= 1" "$(met "$r" ">=" 1)"
    row "  peak RSS KiB ($small_mb MB: $(median "$tool-small-$eol" 3))" "$rss" \
      "curl --upload-file" "$rc" "$(ratio "$rc" "$rss")" "<= 8192 KiB" "$(met "$rss" "<=" 8192)"
  done
done

# 5: memory per open connection
progress "memory per open connection"
for _ in $(seq "$RUNS"); do
  measure conn-1 "$BENCH" --server 127.0.0.1 --port "$PORT" -s 1 -m 64 -l 1024 -q
  measure conn-64 "$BENCH" --server 127.0.0.1 --port "$PORT" -s 64 -m 64 -l 1024 -q
done
per_conn=$(awk -v a="$(median conn-1 3)" -v b="$(median conn-64 3)" 'BEGIN { printf "%.1f", (b - a) / 63 }')
row "KiB per open connection (64 vs 1)" "$per_conn" "-" "-" "-" "-" "-"

echo "smtp-sink on 127.0.0.1:$PORT, stunnel4 on $TLS_PORT; $RUNS runs each," \
     "medians; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratio: how many times better than the peer (rate ours/theirs; time,"
echo "CPU and RSS theirs/ours)"
echo
{
  printf "scenario\tours\tpeer\tpeer's\tratio\tgoal\tmet\n"
  cat "$TABLE"
} | "$PYTHON" -c '
import sys
rows = [line.rstrip("\n").split("\t") for line in sys.stdin]
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for n, r in enumerate(rows):
    print("  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    if n == 0:
        print("  ".join("-" * w for w in widths))'
