#!/usr/bin/env bash
# End-to-end benchmark of cibil-bulk against its own sandbox, one scenario per performance target
# of the README's "Performance" section. Each figure that has a target is a ratio measured in one run
# (the tool against a load generator, or against an ideal), so a busy machine moves both sides.
#
#   benches/e2e.sh                      # every scenario
#   benches/e2e.sh overhead latency     # some of them, by name
#
# Scenarios: overhead latency rate memory validate resume quota faults noise share cpu idle
# strangers (see
# `usage` below).
# Every run of the tool is reported with its CPU time per 10,000 rows (user + system, from GNU
# time) and its voluntary context switches per row: a tool that waits on the vendor should cost
# no more CPU per row than one that runs flat out.
#
# Environment:
#   CIBIL_BULK_BIN      the binary to measure [default: target/release/cibil-bulk, built first]
#   E2E_SANDBOX_BIN     the binary that serves the sandbox [default: CIBIL_BULK_BIN]; set it to
#                       compare two builds of the tool against the very same sandbox
#   E2E_SEED            seed of the generated customer files [default: 42]
#   E2E_REPEAT          measure each scenario this many times [default: 1]
#   E2E_ROWS_SCALE      multiply every row count by this (0.1 for a quick look) [default: 1]
#   E2E_KEEP            1 keeps each scenario's temporary directory
#   E2E_DATA            where generated inputs are cached [default: target/e2e-data]
#
# Needs: bash, awk, curl, GNU time (/usr/bin/time), and oha for `overhead` and `latency` (installed with
# `cargo install oha --locked` when missing). The sandbox runs in its own process, with no
# server-side rate limit, on the same machine: its CPU use competes with the client's (and with
# oha's), which the printout says.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SEED=${E2E_SEED:-42}
REPEAT=${E2E_REPEAT:-1}
SCALE=${E2E_ROWS_SCALE:-1}
DATA=${E2E_DATA:-$ROOT/target/e2e-data}
ALL=(overhead latency rate memory validate resume quota faults noise share cpu idle strangers)
TIME=/usr/bin/time
export CIBIL_BULK_TODAY=2026-11-25 AOPAY_REGISTRATION_ID=AOP-SANDBOX AOPAY_COMPANY_CODE=CMP-SANDBOX
export NO_COLOR=1
# Settings the user may have in their environment must not change what is measured.
unset CIBIL_BULK_RATE CIBIL_BULK_BURST CIBIL_BULK_CONCURRENCY CIBIL_BULK_STATE CIBIL_BULK_CONFIG \
    AOPAY_ENDPOINT AOPAY_METHOD CIBIL_BULK_TIMEOUT RUST_LOG 2>/dev/null || true

usage() {
    cat <<'EOF'
usage: benches/e2e.sh [SCENARIO...]
  overhead  100,000 rows, no latency, no rate cap, --concurrency 64, beside oha sending the same
            number of requests over 64 connections to the same sandbox. Target: >= 0.70 of oha's
            requests/s.
  latency   20,000 rows, sandbox --latency 50ms, --concurrency 64. Target: >= 0.95 of 64/0.05 s.
            oha sends the same requests after it: what this machine's sandbox allows at best.
  rate      10,000 rows at --rate 200/s. Target: >= 0.98 of 200/s; busiest second <= 200 + burst.
  memory    1,000,000 and 100,000 rows as in `overhead`. Target: peak RSS <= 64 MB, and <= 1.10x
            the 100,000-row figure.
  validate  `cibil-bulk validate` on 1,000,000 rows. Target: < 3 s.
  resume    a finished 1,000,000-row run, run again. Target: < 5 s and 0 requests.
  quota     the vendor's quota found by itself: a sandbox allowing 100 requests/s (a sliding
            one-second window), 20 ms latency, --concurrency 32; 3,000 rows at --rate 100/s, at
            --rate 1000/s (the wrong guess), 3,000 more rows on the same state (starting from what
            was learned), and at --rate 1000/s --rate-mode fixed; then 10,000 rows unlimited
            against a vendor without a quota, and 4,000 rows at 50 ms latency, --concurrency 64.
            Targets: at --rate 1000/s >= 0.90 of the quota end to end and <= 2% answered 429;
            <= 1.0 CPU-s per 10,000 rows at every pace, <= 1.5 at 50 ms and --concurrency 64.
  faults    10,000 rows, 20 ms latency, 5% 5xx answers and 1% of requests hanging past a
            10 s --timeout, --concurrency 32, no rate cap. Target: within 1.2x of the floor that
            the slots' time alone sets (every hang holds its slot for the whole timeout).
  noise     a vendor that refuses at random whatever the pace: 10,000 rows, 20 ms latency, 3% then
            5% of requests answered 429 (Retry-After: 1), 5% 5xx, 1% hanging past a 10 s
            --timeout, --concurrency 32, no rate cap; the default (adaptive) mode, then
            --rate-mode fixed, after a run of the same faults without any 429 (the ratio no
            limiter can beat). Targets: every row right (registered, invalid or duplicate; none
            failed or left); within 1.3x of the slots' floor (as in `faults`, every request
            counted, 429s and 5xx included); adaptive no slower than fixed.
  share     a vendor allowing 100 requests/s (sliding one-second window), 20 ms latency,
            --concurrency 32, told --rate 1000/s: one process with 10,000 rows, then two
            processes with 5,000 rows each (two cron jobs, each with its own limiter), started
            together, then the second 3 s after the first (when the first holds the quota).
            Targets: one process >= 0.95 of the quota end to end, <= 0.5% answered 429; two
            together >= 0.90, <= 2%, each >= 0.35 of the requests sent while both ran.
  cpu       10,000 rows at --rate 100/s, 20 ms latency, --concurrency 32, no quota: the CPU the
            tool spends at the vendor's pace. Target: <= 1.0 CPU-s per 10,000 rows. oha then
            sends as many requests at the same pace over as many connections: what the pace
            itself costs on this machine.
  idle      `cibil-bulk serve` with nothing to do: its CPU over 60 s after it started. Target: next
            to none (<= 0.1 CPU-s).
  strangers what strangers and users can make `cibil-bulk serve` spend: its resident memory idle,
            then under 200 simultaneous sign-ins each with a 2 MB name (Target: peak within
            100 MB of idle), then under three simultaneous uploads of a 1.1 MB workbook that
            inflates to about 250 MB (Target: peak within 800 MB of idle: checks run one at a
            time), and 5 s after each.
EOF
}

# --- plumbing ---------------------------------------------------------------------------------

PIDS=()
DIRS=()
cleanup() {
    local pid dir
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${E2E_KEEP:-0} != 1 ]]; then
        for dir in "${DIRS[@]}"; do
            rm -rf "$dir"
        done
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "e2e: $*" >&2
    exit 1
}

# Floating-point arithmetic: calc 'a / b' ...
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
now_ns() { date +%s%N; }
secs_since() { calc "($(now_ns) - $1) / 1e9"; }
# A number from a JSON text (flat keys are enough here): json_num KEY < file
json_num() { grep -o "\"$1\": *[0-9.eE+-]*" | head -1 | sed 's/.*: *//'; }
# Peak RSS in MB from GNU time's -v output.
peak_mb() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
# CPU seconds (user + system) from GNU time's -v output.
cpu_s() { awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$1"; }
# Voluntary context switches from GNU time's -v output.
vcs_of() { awk -F': ' '/Voluntary context switches/ { print $2 }' "$1"; }
# CPU seconds per 10,000 rows and voluntary context switches per row: per10k ROWS
per10k() { calc "$CPU / $1 * 10000"; }
cs_per_row() { calc "$VCS / $1"; }
# CPU seconds a running process has used so far (the sandbox's).
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "NOT MET"; fi; }
scaled() { awk "BEGIN { printf \"%d\", $1 * $SCALE }"; }

build() {
    if [[ -n ${CIBIL_BULK_BIN:-} ]]; then
        BIN=$CIBIL_BULK_BIN
    else
        echo "building the release binary (incremental)..." >&2
        (cd "$ROOT" && cargo build --release --locked --bin cibil-bulk >&2)
        BIN=$ROOT/target/release/cibil-bulk
    fi
    [[ -x $BIN ]] || die "no binary at $BIN"
    SANDBOX_BIN=${E2E_SANDBOX_BIN:-$BIN}
    [[ -x $TIME ]] || die "GNU time is needed at $TIME for peak RSS (Debian/Ubuntu: apt-get install time)"
    command -v curl >/dev/null || die "curl is needed to read the sandbox's statistics"
}

need_oha() {
    if command -v oha >/dev/null; then
        OHA=$(command -v oha)
    elif [[ -x $HOME/.cargo/bin/oha ]]; then
        OHA=$HOME/.cargo/bin/oha
    else
        echo "installing oha (cargo install oha --locked)..." >&2
        cargo install oha --locked >&2
        OHA=$HOME/.cargo/bin/oha
    fi
}

# customers_after ROWS: ROWS rows of other customers than those of `customers ROWS`: the second
# half of a file twice as long.
customers_after() {
    local rows=$1 twice file="$DATA/customers-$1-after-$1-seed$SEED.csv"
    if [[ ! -s $file ]]; then
        twice=$(customers $((rows * 2)))
        { head -1 "$twice"; tail -n "$rows" "$twice"; } >"$file.tmp"
        mv "$file.tmp" "$file"
    fi
    echo "$file"
}

scratch() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cibil-bulk-e2e.XXXXXX")
    DIRS+=("$dir")
    echo "$dir"
}

# customers ROWS: the path of a generated file of ROWS rows (5% invalid, 1% repeated PANs), cached
# by size and seed. A row's PAN is a function of its number alone: files of one size hold the same
# customers whatever the seed (see `customers_after` for others).
customers() {
    local rows=$1 file="$DATA/customers-$1-seed$SEED.csv"
    if [[ ! -s $file ]]; then
        mkdir -p "$DATA"
        echo "generating $rows rows (seed $SEED)..." >&2
        awk -v N="$rows" -v SEED="$SEED" -v INVALID=0.05 -v DUPLICATE=0.01 \
            -f "$ROOT/benches/gen-customers.awk" >"$file.tmp"
        mv "$file.tmp" "$file"
    fi
    echo "$file"
}

# start_sandbox DIR [FLAGS...]: starts the sandbox in its own process on a free port; sets SANDBOX
# (base URL) and ENDPOINT.
start_sandbox() {
    local dir=$1
    shift
    "$SANDBOX_BIN" sandbox --listen 127.0.0.1:0 --seed 1 "$@" >"$dir/sandbox.out" 2>&1 &
    SANDBOX_PID=$!
    PIDS+=("$SANDBOX_PID")
    local i
    for i in $(seq 1 200); do
        SANDBOX=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/sandbox.out" 2>/dev/null | head -1 || true)
        [[ -n $SANDBOX ]] && break
        sleep 0.05
    done
    [[ -n $SANDBOX ]] || die "the sandbox did not start: $(cat "$dir/sandbox.out")"
    ENDPOINT=$SANDBOX/api/AOP/CibilScore/registeration
}

reset_sandbox() { curl -fsS -X POST "$SANDBOX/__sandbox/reset" >/dev/null; }
sandbox_stats() { curl -fsS "$SANDBOX/__sandbox/stats"; }

# timed DIR NAME COMMAND...: runs COMMAND under GNU time, its output in DIR/NAME.out; exit 0 or 1
# expected (1: some rows need attention). Sets WALL (s), RSS (MB) and CPU (s).
timed() {
    local dir=$1 name=$2 start code=0
    shift 2
    start=$(now_ns)
    "$TIME" -v -o "$dir/$name.time" "$@" >"$dir/$name.out" 2>&1 || code=$?
    WALL=$(secs_since "$start")
    [[ $code -eq 0 || $code -eq 1 ]] || die "$name: $1 exited $code: $(tail -20 "$dir/$name.out")"
    RSS=$(peak_mb "$dir/$name.time")
    CPU=$(cpu_s "$dir/$name.time")
    VCS=$(vcs_of "$dir/$name.time")
}

# run_tool DIR NAME FILE [FLAGS...]: one `cibil-bulk run` with the state DIR/NAME.db (or
# DIR/$STATE.db when STATE is set); sets WALL (s), RSS (MB), CPU (s), VCS, REQUESTS (the tool's
# count), SEEN, REFUSED (429s of the sandbox's rate limit), BUSIEST and SPAN (s, first to last
# arrival) and SANDBOX_CPU (s) from the sandbox.
run_tool() {
    local dir=$1 name=$2 file=$3
    shift 3
    local sandbox_cpu
    sandbox_cpu=$(proc_cpu "$SANDBOX_PID")
    timed "$dir" "$name" "$BIN" run "$file" --endpoint "$ENDPOINT" \
        --state "$dir/${STATE:-$name}.db" --output "$dir/$name.results.csv" --errors "$dir/$name.errors.csv" \
        --summary "$dir/$name.summary.json" -q "$@"
    SANDBOX_CPU=$(calc "$(proc_cpu "$SANDBOX_PID") - $sandbox_cpu")
    REQUESTS=$(json_num requests <"$dir/$name.summary.json")
    local stats
    stats=$(sandbox_stats)
    SEEN=$(json_num requests <<<"$stats")
    REFUSED=$(json_num rate_limit_violations <<<"$stats")
    BUSIEST=$(json_num busiest_second <<<"$stats")
    SPAN=$(calc "$(json_num arrivals_span_ms <<<"$stats") / 1000")
}

# run_oha DIR NAME [FLAGS...]: oha sends as many requests as the sandbox saw from the tool ($SEEN),
# over 64 connections unless FLAGS say otherwise (`-c 32 -q 100`: 32 connections at 100 a
# second), each a valid registration with its own order id and PAN; sets OHA_WALL (s), OHA_RSS
# (MB), OHA_CPU (s), OHA_VCS, OHA_SEEN, OHA_RPS and OHA_SANDBOX_CPU (s).
run_oha() {
    local dir=$1 name=$2
    shift 2
    [[ $# -gt 0 ]] || set -- -c 64
    need_oha
    awk -v N="$SEEN" 'BEGIN {
        for (i = 0; i < N; i++) {
            b = int(i / 9999)
            printf "{\"order_id\":\"OHA-%d\",\"first_name\":\"Ravi\",\"middle_name\":\"\",\"last_name\":\"Kumar\",\"pancard\":\"%c%c%cPK%04dF\",\"date_of_birth\":\"31/01/1985\",\"email_id\":\"ravi%d@example.com\",\"mobile_number\":\"%d\",\"RegistrationID\":\"AOP-SANDBOX\",\"CompanyCode\":\"CMP-SANDBOX\"}\n", i, 65 + int(b / 676) % 26, 65 + int(b / 26) % 26, 65 + b % 26, i % 9999 + 1, i, 9000000000 + i
        } }' >"$dir/bodies.jsonl"
    reset_sandbox
    OHA_SANDBOX_CPU=$(proc_cpu "$SANDBOX_PID")
    # The tool's figures stay as they were for the caller.
    local wall=$WALL rss=$RSS cpu=$CPU vcs=$VCS
    timed "$dir" "$name" "$OHA" -n "$SEEN" "$@" --no-tui --output-format json -m GET \
        -H 'Content-Type: application/json' -Z "$dir/bodies.jsonl" "$ENDPOINT"
    OHA_WALL=$WALL OHA_RSS=$RSS OHA_CPU=$CPU OHA_VCS=$VCS
    WALL=$wall RSS=$rss CPU=$cpu VCS=$vcs
    OHA_SANDBOX_CPU=$(calc "$(proc_cpu "$SANDBOX_PID") - $OHA_SANDBOX_CPU")
    OHA_SEEN=$(sandbox_stats | json_num requests)
    OHA_RPS=$(json_num requestsPerSec <"$dir/$name.out")
}

# cpu_line R ROWS [TARGET]: the last run's CPU per 10,000 rows and context switches per row, with
# a verdict when TARGET (CPU-s per 10,000 rows) is given.
cpu_line() {
    local r=$1 rows=$2 target=${3:-}
    local per
    per=$(per10k "$rows")
    printf '   [%s] CPU %.2f s = %.2f CPU-s per 10,000 rows, %.1f voluntary context switches per row' \
        "$r" "$CPU" "$per" "$(cs_per_row "$rows")"
    if [[ -n $target ]]; then
        printf ' [target <= %s: %s]' "$target" "$(verdict "$per <= $target")"
    fi
    echo
}

header() {
    echo
    echo "== $1 ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
}

# --- scenarios --------------------------------------------------------------------------------

overhead() {
    need_oha
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 100000)
    file=$(customers "$rows")
    start_sandbox "$dir"
    header "overhead: $rows rows, no latency, no rate cap, --concurrency 64, vs oha -c 64"
    echo "   The sandbox (its own process, no rate limit) shares the cores with the client measured."
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        run_tool "$dir" "run$r" "$file" --concurrency 64 --rate 1000000/s
        local tool_rps send_rps
        tool_rps=$(calc "$SEEN / $WALL")
        send_rps=$(calc "$SEEN / $SPAN")
        run_oha "$dir" "oha$r"
        local oha_wall=$OHA_WALL oha_seen=$OHA_SEEN oha_rps=$OHA_RPS oha_sandbox_cpu=$OHA_SANDBOX_CPU
        printf '   [%d] cibil-bulk: %d rows, %d requests in %.2f s wall = %.0f rows/s, %.0f requests/s (sending phase %.2f s = %.0f requests/s), peak RSS %s MB, busiest second %d\n' \
            "$r" "$rows" "$SEEN" "$WALL" "$(calc "$rows / $WALL")" "$tool_rps" "$SPAN" "$send_rps" "$RSS" "$BUSIEST"
        printf '   [%d] oha:        %d requests in %.2f s = %.0f requests/s (sandbox saw %d), peak RSS %s MB\n' \
            "$r" "$SEEN" "$oha_wall" "$oha_rps" "$oha_seen" "$OHA_RSS"
        printf '   [%d] CPU per request: cibil-bulk %.0f us + its sandbox %.0f us; oha %.0f us + its sandbox %.0f us\n' \
            "$r" "$(calc "$CPU / $SEEN * 1e6")" "$(calc "$SANDBOX_CPU / $SEEN * 1e6")" \
            "$(calc "$OHA_CPU / $SEEN * 1e6")" "$(calc "$oha_sandbox_cpu / $SEEN * 1e6")"
        cpu_line "$r" "$rows"
        local whole sending
        whole=$(calc "$tool_rps / $oha_rps")
        sending=$(calc "$send_rps / $oha_rps")
        printf '   [%d] ratio to oha: %.2f end to end (import, validation, sending, results) [target >= 0.70: %s]; %.2f sending phase only\n' \
            "$r" "$whole" "$(verdict "$whole >= 0.70")" "$sending"
    done
}

latency() {
    need_oha
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 20000)
    file=$(customers "$rows")
    start_sandbox "$dir" --latency 50ms
    header "latency: $rows rows, sandbox --latency 50ms, --concurrency 64 (ideal 64 / 0.05 s = 1280 requests/s)"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        run_tool "$dir" "run$r" "$file" --concurrency 64 --rate 1000000/s
        local whole sending
        whole=$(calc "$SEEN / $WALL / 1280")
        sending=$(calc "$SEEN / $SPAN / 1280")
        printf '   [%d] %d requests in %.2f s wall = %.0f requests/s (sending phase %.2f s = %.0f requests/s), peak RSS %s MB\n' \
            "$r" "$SEEN" "$WALL" "$(calc "$SEEN / $WALL")" "$SPAN" "$(calc "$SEEN / $SPAN")" "$RSS"
        printf '   [%d] ratio to ideal: %.3f end to end [target >= 0.95: %s]; %.3f sending phase only\n' \
            "$r" "$whole" "$(verdict "$whole >= 0.95")" "$sending"
        cpu_line "$r" "$rows"
        # The sandbox's own answers take a little over 50 ms (timer ticks): what a pure load
        # generator gets from it is the ideal this machine can show.
        run_oha "$dir" "oha$r"
        printf '   [%d] oha, the same requests over 64 connections: %.0f requests/s = %.3f of ideal; cibil-bulk / oha: %.3f end to end, %.3f sending phase only\n' \
            "$r" "$OHA_RPS" "$(calc "$OHA_RPS / 1280")" "$(calc "$SEEN / $WALL / $OHA_RPS")" "$(calc "$SEEN / $SPAN / $OHA_RPS")"
    done
}

rate() {
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 10000)
    file=$(customers "$rows")
    start_sandbox "$dir"
    header "rate: $rows rows at --rate 200/s (--burst 1, the default)"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        run_tool "$dir" "run$r" "$file" --rate 200/s
        # N requests over the span from the first arrival to the last are N - 1 intervals.
        local achieved ratio
        achieved=$(calc "($SEEN - 1) / $SPAN")
        ratio=$(calc "$achieved / 200")
        printf '   [%d] %d requests in %.2f s (first to last arrival; wall %.2f s) = %.2f requests/s\n' \
            "$r" "$SEEN" "$SPAN" "$WALL" "$achieved"
        printf '   [%d] achieved / 200: %.4f [target >= 0.98: %s]; busiest second %d [target <= 201: %s]\n' \
            "$r" "$ratio" "$(verdict "$ratio >= 0.98")" "$BUSIEST" "$(verdict "$BUSIEST <= 201")"
        cpu_line "$r" "$rows" 1.0
    done
}

memory() {
    local dir big small r
    dir=$(scratch)
    big=$(scaled 1000000)
    small=$(scaled 100000)
    start_sandbox "$dir"
    header "memory: peak RSS of a run of $big rows and of $small rows (no latency, --concurrency 64)"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        run_tool "$dir" "big$r" "$(customers "$big")" --concurrency 64 --rate 1000000/s
        local big_rss=$RSS big_wall=$WALL big_seen=$SEEN
        cpu_line "$r" "$big"
        reset_sandbox
        run_tool "$dir" "small$r" "$(customers "$small")" --concurrency 64 --rate 1000000/s
        local ratio
        ratio=$(calc "$big_rss / $RSS")
        printf '   [%d] %d rows: peak RSS %s MB (%.1f s wall, %d requests); %d rows: peak RSS %s MB (%.1f s wall)\n' \
            "$r" "$big" "$big_rss" "$big_wall" "$big_seen" "$small" "$RSS" "$WALL"
        printf '   [%d] %d rows <= 64 MB: %s; ratio %.2f [target <= 1.10: %s]\n' \
            "$r" "$big" "$(verdict "$big_rss <= 64")" "$ratio" "$(verdict "$ratio <= 1.10")"
        cpu_line "$r" "$small"
    done
}

validate() {
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 1000000)
    file=$(customers "$rows")
    header "validate: cibil-bulk validate on $rows rows"
    for r in $(seq 1 "$REPEAT"); do
        timed "$dir" "validate$r" "$BIN" validate "$file" --summary "$dir/validate$r.json" -q
        printf '   [%d] %.2f s wall (%.2f s CPU) = %.0f rows/s, peak RSS %s MB [target < 3 s: %s]\n' \
            "$r" "$WALL" "$CPU" "$(calc "$rows / $WALL")" "$RSS" "$(verdict "$WALL < 3")"
        cpu_line "$r" "$rows"
    done
}

resume() {
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 1000000)
    file=$(customers "$rows")
    start_sandbox "$dir"
    header "resume: a finished run of $rows rows, run again"
    run_tool "$dir" first "$file" --concurrency 64 --rate 1000000/s
    printf '   first run: %d requests in %.1f s wall, peak RSS %s MB\n' "$SEEN" "$WALL" "$RSS"
    cpu_line first "$rows"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        # The same state database: `first.db`.
        STATE=first run_tool "$dir" "again$r" "$file" --concurrency 64 --rate 1000000/s
        printf '   [%d] again: %.2f s wall, %d requests seen by the sandbox (the tool counted %d), peak RSS %s MB [target < 5 s and 0 requests: %s]\n' \
            "$r" "$WALL" "$SEEN" "$REQUESTS" "$RSS" "$(verdict "$WALL < 5 && $SEEN == 0")"
        cpu_line "$r" "$rows"
    done
}

# quota_row LABEL ROWS QUOTA [TARGET_SHARE TARGET_429] -- after run_tool: one row of the quota
# table. QUOTA is the sandbox's limit (0: none); the share of it is what it accepted per second
# of wall time, end to end.
quota_row() {
    local label=$1 rows=$2 quota=$3 share_target=${4:-} refused_target=${5:-}
    local accepted share refused_pct cpu10k verdicts=""
    accepted=$((SEEN - REFUSED))
    refused_pct=$(calc "$REFUSED / ($SEEN > 0 ? $SEEN : 1) * 100")
    cpu10k=$(per10k "$rows")
    if [[ $quota -gt 0 ]]; then
        share=$(calc "$accepted / $WALL / $quota")
    else
        share=-
    fi
    if [[ -n $share_target ]]; then
        verdicts=" [>= $share_target of the quota: $(verdict "$share >= $share_target"); <= ${refused_target}% 429: $(verdict "$refused_pct <= $refused_target")]"
    fi
    printf '   | %-44s | %6d | %8.1f | %5s | %6d (%5.2f%%) | %5.2f | %6.1f | %5.1f |%s\n' \
        "$label" "$rows" "$(calc "$rows / $WALL")" "$share" "$REFUSED" "$refused_pct" "$cpu10k" \
        "$(cs_per_row "$rows")" "$WALL" "$verdicts"
    local found
    found=$( [[ -n $QUOTA_SUMMARY ]] && tr -d '\n' <"$QUOTA_SUMMARY" | grep -o '"quota": *{[^}]*}' | tr -s ' ' || true)
    if [[ -n $found ]]; then
        printf '   |   the summary says: %s\n' "$found"
    fi
}

quota() {
    local dir small big slow limited free slower
    dir=$(scratch)
    small=$(scaled 3000)
    big=$(scaled 10000)
    slow=$(scaled 4000)
    header "quota: a vendor allowing 100 requests/s (sliding one-second window), 20 ms latency, --concurrency 32"
    local adaptive=1
    "$BIN" run --help 2>/dev/null | grep -q -- '--rate-mode' || adaptive=0
    [[ $adaptive == 1 ]] || echo "   (this binary has no --rate-mode: every row is its fixed rate)"
    start_sandbox "$dir" --rate-limit 100 --latency 20ms
    limited=$SANDBOX
    echo "   | run                                          |   rows |   rows/s | quota |  answered 429    | CPU-s/10k | cs/row | wall s |"
    # Each run (or the two runs of one state) in a directory of its own: a state beside another
    # run's results file of the same customers is refused, as one that lost its record of them.
    own() { mkdir -p "$dir/$1" && echo "$dir/$1"; }
    local r at
    for r in $(seq 1 "$REPEAT"); do
        SANDBOX=$limited ENDPOINT=$limited/api/AOP/CibilScore/registeration
        reset_sandbox
        at=$(own "right$r")
        QUOTA_SUMMARY=$at/right$r.summary.json run_tool "$at" "right$r" "$(customers "$small")" --concurrency 32 --rate 100/s
        QUOTA_SUMMARY=$at/right$r.summary.json quota_row "[$r] --rate 100/s (the right guess)" "$small" 100
        cpu_line "$r" "$small" 1.0
        reset_sandbox
        at=$(own "learn$r")
        STATE=learn$r QUOTA_SUMMARY=$at/wrong$r.summary.json run_tool "$at" "wrong$r" "$(customers "$small")" --concurrency 32 --rate 1000/s
        QUOTA_SUMMARY=$at/wrong$r.summary.json quota_row "[$r] --rate 1000/s (a wrong guess)" "$small" 100 0.90 2
        cpu_line "$r" "$small" 1.0
        if [[ $adaptive == 1 ]]; then
            reset_sandbox
            STATE=learn$r QUOTA_SUMMARY=$at/again$r.summary.json run_tool "$at" "again$r" "$(customers_after "$small")" --concurrency 32 --rate 1000/s
            QUOTA_SUMMARY=$at/again$r.summary.json quota_row "[$r]   the same state, 3,000 new rows" "$small" 100 0.90 2
            cpu_line "$r" "$small" 1.0
            reset_sandbox
            QUOTA_SUMMARY= run_tool "$(own "fixed$r")" "fixed$r" "$(customers "$small")" --concurrency 32 --rate 1000/s --rate-mode fixed
            QUOTA_SUMMARY= quota_row "[$r] --rate 1000/s --rate-mode fixed" "$small" 100
            cpu_line "$r" "$small" 1.0
        fi
    done
    # Each scenario's sandboxes end with it.
    start_sandbox "$dir" --latency 20ms
    free=$SANDBOX
    start_sandbox "$dir" --latency 50ms
    slower=$SANDBOX
    for r in $(seq 1 "$REPEAT"); do
        SANDBOX=$free ENDPOINT=$free/api/AOP/CibilScore/registeration
        reset_sandbox
        QUOTA_SUMMARY= run_tool "$(own "free$r")" "free$r" "$(customers "$big")" --concurrency 32 --rate 1000000/s
        QUOTA_SUMMARY= quota_row "[$r] unlimited, a vendor without a quota" "$big" 0
        cpu_line "$r" "$big" 1.0
        SANDBOX=$slower ENDPOINT=$slower/api/AOP/CibilScore/registeration
        reset_sandbox
        QUOTA_SUMMARY= run_tool "$(own "slow$r")" "slow$r" "$(customers "$slow")" --concurrency 64 --rate 1000000/s
        QUOTA_SUMMARY= quota_row "[$r] unlimited, 50 ms latency, --concurrency 64" "$slow" 0
        cpu_line "$r" "$slow" 1.5
    done
}

faults() {
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 10000)
    file=$(customers "$rows")
    start_sandbox "$dir" --latency 20ms --error-rate 0.05 --hang-rate 0.01
    header "faults: $rows rows, 20 ms latency, 5% 5xx, 1% hanging past --timeout 10s, --concurrency 32"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        run_tool "$dir" "run$r" "$file" --concurrency 32 --rate 1000000/s --timeout 10s \
            --max-consecutive-failures 100000
        local stats hangs floor ratio
        stats=$(sandbox_stats)
        hangs=$(json_num hangs <<<"$stats")
        # Every hang holds a slot for the timeout; every other request for the latency.
        floor=$(calc "($hangs * 10 + ($SEEN - $hangs) * 0.020) / 32")
        ratio=$(calc "$WALL / $floor")
        printf '   [%d] %d requests (%d hung, %d answered 5xx) in %.2f s wall; the slots alone take %.2f s: %.2fx [target <= 1.2: %s]\n' \
            "$r" "$SEEN" "$hangs" "$(json_num errors <<<"$stats")" "$WALL" "$floor" "$ratio" "$(verdict "$ratio <= 1.2")"
        cpu_line "$r" "$rows"
    done
}

# noise_run DIR NAME FILE ROWS [FLAGS...]: one run against a sandbox of random faults; prints its
# line against the slots' floor. Sets RATIO (wall / floor) and RIGHT (1 when every row is right).
noise_run() {
    # A directory of its own: a state beside another run's results file of the same customers is
    # refused, as one that lost its record of them.
    local dir=$1/$2 name=$2 file=$3 rows=$4
    shift 4
    mkdir -p "$dir"
    reset_sandbox
    run_tool "$dir" "$name" "$file" --concurrency 32 --rate 1000000/s --timeout 10s \
        --max-consecutive-failures 100000 "$@"
    local stats hangs floor left
    stats=$(sandbox_stats)
    hangs=$(json_num hangs <<<"$stats")
    # Every hang holds a slot for the timeout; every other request (429s and 5xx included) for
    # the latency.
    floor=$(calc "($hangs * 10 + ($SEEN - $hangs) * 0.020) / 32")
    RATIO=$(calc "$WALL / $floor")
    # Right: nothing failed, pending or in flight, and no customer registered twice.
    left=$(tr -d '\n ' <"$dir/$name.summary.json" | grep -o '"counts":{[^}]*}' |
        grep -o '"\(pending\|in_flight\|failed\)":[0-9]*' | awk -F: '{ n += $2 } END { print n + 0 }')
    RIGHT=0
    if [[ $left == 0 && $(tr -d '\n ' <<<"$stats" | grep -c '"pans_registered_more_than_once":{}') == 1 ]]; then
        RIGHT=1
    fi
    printf '   | %-30s | %6d | %8.1f | %6d | %4d | %5d | %4d | %6.1f | %6.1f | %5.2fx | %5s | %5.2f |\n' \
        "$name" "$rows" "$(calc "$rows / $WALL")" "$SEEN" "$(json_num throttled <<<"$stats")" \
        "$(json_num errors <<<"$stats")" "$hangs" "$WALL" "$floor" "$RATIO" \
        "$( [[ $RIGHT == 1 ]] && echo yes || echo NO)" "$(per10k "$rows")"
}

noise() {
    local dir rows file r share
    dir=$(scratch)
    rows=$(scaled 10000)
    file=$(customers "$rows")
    # The same faults without a single 429 first: what the hangs and the 5xx cost alone against
    # the floor, a ratio no limiter can beat (a request sent in the last seconds may hang).
    start_sandbox "$dir" --latency 20ms --error-rate 0.05 --hang-rate 0.01
    header "noise, for reference: $rows rows, 20 ms latency, no 429, 5% 5xx, 1% hanging past --timeout 10s, --concurrency 32, no rate cap"
    echo "   | run                            |   rows |   rows/s | requests |  429 |   5xx | hung | wall s | floor s | / floor | right | CPU-s/10k |"
    local without=()
    for r in $(seq 1 "$REPEAT"); do
        noise_run "$dir" "without-429-$r" "$file" "$rows"
        without[r]=$RATIO
    done
    for share in 0.03 0.05; do
        start_sandbox "$dir" --latency 20ms --throttle-rate "$share" --error-rate 0.05 --hang-rate 0.01
        header "noise: $rows rows, 20 ms latency, $share 429 at random (Retry-After: 1), 5% 5xx, 1% hanging past --timeout 10s, --concurrency 32, no rate cap"
        echo "   | run                            |   rows |   rows/s | requests |  429 |   5xx | hung | wall s | floor s | / floor | right | CPU-s/10k |"
        for r in $(seq 1 "$REPEAT"); do
            noise_run "$dir" "adaptive-$share-$r" "$file" "$rows"
            local adaptive_wall=$WALL adaptive_ratio=$RATIO adaptive_right=$RIGHT
            noise_run "$dir" "fixed-$share-$r" "$file" "$rows" --rate-mode fixed
            printf '   [%d] adaptive: every row right: %s; %.2fx the floor [target <= 1.3: %s] (the same faults without 429s: %.2fx); %.1f s against fixed %.1f s [target: no slower: %s]\n' \
                "$r" "$(verdict "$adaptive_right == 1")" "$adaptive_ratio" "$(verdict "$adaptive_ratio <= 1.3")" \
                "${without[r]}" "$adaptive_wall" "$WALL" "$(verdict "$adaptive_wall <= $WALL * 1.02")"
        done
    done
}

share() {
    local dir rows half r
    dir=$(scratch)
    rows=$(scaled 10000)
    half=$(scaled 5000)
    start_sandbox "$dir" --rate-limit 100 --latency 20ms
    header "share: a vendor allowing 100 requests/s (sliding one-second window), 20 ms latency, --concurrency 32, --rate 1000/s"
    echo "   | run                                          |   rows |   rows/s | quota |  answered 429    | CPU-s/10k | cs/row | wall s |"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        QUOTA_SUMMARY=$dir/one$r.summary.json run_tool "$dir" "one$r" "$(customers "$rows")" --concurrency 32 --rate 1000/s
        QUOTA_SUMMARY=$dir/one$r.summary.json quota_row "[$r] one process, --rate 1000/s" "$rows" 100 0.95 0.5

        # Two processes, each its own state and customers, as two cron jobs would be: started
        # together, then the second 3 s after the first (one already holds the quota).
        two_processes "$dir" "$r" "$half" 0
        two_processes "$dir" "$r" "$half" 3
    done
}

# two_processes DIR R ROWS LAG: two `run`s of ROWS rows each against the sandbox, the second LAG
# seconds after the first; prints what each sent while both ran.
two_processes() {
    local dir=$1 r=$2 half=$3 lag=$4
    local a b start b_start first_end seen_at_b seen_at_first refused_at_first a_req b_req first a_file b_file p
    a_file=$(customers "$half")
    b_file=$(customers_after "$half")
    # Each process in a directory of its own: a fresh state beside a results file that records
    # the same customers is refused, as one that lost its record of them.
    p=$dir/lag$lag-$r
    mkdir -p "$p.a" "$p.b"
    reset_sandbox
    start=$(now_ns)
    "$TIME" -v -o "$p.a.time" "$BIN" run "$a_file" --endpoint "$ENDPOINT" \
        --state "$p.a/state.db" --output "$p.a/results.csv" --errors "$p.a/errors.csv" \
        --summary "$p.a/summary.json" -q --concurrency 32 --rate 1000/s >"$p.a.out" 2>&1 &
    a=$!
    PIDS+=("$a")
    sleep "$lag"
    # What the first sent alone, before the second began.
    seen_at_b=$(sandbox_stats | json_num requests)
    "$TIME" -v -o "$p.b.time" "$BIN" run "$b_file" --endpoint "$ENDPOINT" \
        --state "$p.b/state.db" --output "$p.b/results.csv" --errors "$p.b/errors.csv" \
        --summary "$p.b/summary.json" -q --concurrency 32 --rate 1000/s >"$p.b.out" 2>&1 &
    b=$!
    PIDS+=("$b")
    b_start=$(secs_since "$start")
    # The sandbox's count the moment the first one ends: what both sent while both ran.
    first=
    while [[ -z $first ]]; do
        if ! kill -0 "$a" 2>/dev/null; then first=a; elif ! kill -0 "$b" 2>/dev/null; then first=b; else sleep 0.05; fi
    done
    first_end=$(secs_since "$start")
    local at_first
    at_first=$(sandbox_stats)
    seen_at_first=$(json_num requests <<<"$at_first")
    refused_at_first=$(json_num rate_limit_violations <<<"$at_first")
    local a_code=0 b_code=0
    wait "$a" || a_code=$?
    wait "$b" || b_code=$?
    WALL=$(secs_since "$start")
    # 0, or 1 when some rows need attention; anything else is a run that did not go.
    [[ $a_code -le 1 ]] || die "two processes: the first exited $a_code: $(tail -5 "$p.a.out")"
    [[ $b_code -le 1 ]] || die "two processes: the second exited $b_code: $(tail -5 "$p.b.out")"
    local stats
    stats=$(sandbox_stats)
    SEEN=$(json_num requests <<<"$stats")
    REFUSED=$(json_num rate_limit_violations <<<"$stats")
    a_req=$(json_num requests <"$p.a/summary.json")
    b_req=$(json_num requests <"$p.b/summary.json")
    # While both ran: the first one's requests are all in by its end, so the other sent the rest
    # of what the sandbox had seen by then; what A sent alone before B began is left out.
    local first_req=$((a_req - seen_at_b)) both=$((seen_at_first - seen_at_b))
    [[ $first == b ]] && first_req=$b_req
    local first_share other_share together whole refused_pct
    first_share=$(calc "$first_req / $both")
    other_share=$(calc "1 - $first_share")
    together=$(calc "($both - $refused_at_first) / ($first_end - $b_start) / 100")
    whole=$(calc "($SEEN - $REFUSED) / $WALL / 100")
    refused_pct=$(calc "$REFUSED / $SEEN * 100")
    CPU=$(calc "$(cpu_s "$p.a.time") + $(cpu_s "$p.b.time")")
    printf '   [%d] two processes, the second %d s after the first, %d rows each: %d requests (A %d, B %d), %d answered 429 (%.2f%%) [target <= 2%%: %s], %.1f s to the last end: %.3f of the quota from first start to last end\n' \
        "$r" "$lag" "$half" "$SEEN" "$a_req" "$b_req" "$REFUSED" "$refused_pct" "$(verdict "$refused_pct <= 2")" "$WALL" "$whole"
    printf '   [%d] while both ran (%.1f s, until %s ended): %d requests, %d answered 429: %.3f of the quota together [target >= 0.90: %s]; %s sent %.2f and the other %.2f [target each >= 0.35: %s]; CPU %.2f s both\n' \
        "$r" "$(calc "$first_end - $b_start")" "$first" "$both" "$refused_at_first" "$together" "$(verdict "$together >= 0.90")" \
        "$first" "$first_share" "$other_share" "$(verdict "$first_share >= 0.35 && $other_share >= 0.35")" "$CPU"
    local found q
    for q in a b; do
        found=$(tr -d '\n' <"$p.$q/summary.json" | grep -o '"quota": *{[^}]*}' | tr -s ' ' || true)
        echo "   |   $q's summary says: $found"
    done
}

cpu() {
    local dir rows file r
    dir=$(scratch)
    rows=$(scaled 10000)
    file=$(customers "$rows")
    start_sandbox "$dir" --latency 20ms
    header "cpu: $rows rows at --rate 100/s, 20 ms latency, --concurrency 32, no quota"
    for r in $(seq 1 "$REPEAT"); do
        reset_sandbox
        run_tool "$dir" "run$r" "$file" --concurrency 32 --rate 100/s
        printf '   [%d] %d requests in %.1f s wall (%.1f rows/s), peak RSS %s MB; the sandbox used %.2f CPU-s\n' \
            "$r" "$SEEN" "$WALL" "$(calc "$rows / $WALL")" "$RSS" "$SANDBOX_CPU"
        cpu_line "$r" "$rows" 1.0
        # A load generator sending the same requests at the same pace, over as many connections,
        # with nothing to validate, keep or write: what the machine charges for the pace itself.
        run_oha "$dir" "oha$r" -c 32 -q 100
        printf '   [%d] oha -c 32 -q 100, the same %d requests: %.1f s wall, CPU %.2f s = %.2f CPU-s per 10,000 requests, %.1f voluntary context switches per request; the tool used %.2fx its CPU\n' \
            "$r" "$OHA_SEEN" "$OHA_WALL" "$OHA_CPU" "$(calc "$OHA_CPU / $OHA_SEEN * 10000")" \
            "$(calc "$OHA_VCS / $OHA_SEEN")" "$(calc "$CPU / $OHA_CPU")"
    done
}

idle() {
    local dir r
    dir=$(scratch)
    start_sandbox "$dir"
    header "idle: cibil-bulk serve with nothing to do, 60 s"
    for r in $(seq 1 "$REPEAT"); do
        "$BIN" serve --listen 127.0.0.1:0 --state "$dir/serve$r.db" --endpoint "$ENDPOINT" \
            >"$dir/serve$r.out" 2>&1 &
        local pid=$! i url=
        PIDS+=("$pid")
        for i in $(seq 1 200); do
            url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/serve$r.out" 2>/dev/null | head -1 || true)
            [[ -n $url ]] && break
            sleep 0.05
        done
        [[ -n $url ]] || die "the server did not start: $(cat "$dir/serve$r.out")"
        # Started: what it does from now on is what a server waiting for uploads costs.
        sleep 2
        local before after
        before=$(proc_cpu "$pid")
        sleep 60
        after=$(proc_cpu "$pid")
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        local used
        used=$(calc "$after - $before")
        printf '   [%d] %.2f CPU-s in 60 s [target <= 0.1: %s]\n' "$r" "$used" "$(verdict "$used <= 0.1")"
    done
}

# Resident and peak memory of process PID, in MB: "RSS HWM".
rss_of() { awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "%.1f %.1f", r / 1024, h / 1024 }' "/proc/$1/status"; }

# Samples the peak resident memory of PID while the jobs given run; prints it in MB.
peak_while() {
    local pid=$1 peak=0 now
    shift
    "$@" &
    local job=$!
    while kill -0 "$job" 2>/dev/null; do
        now=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
        ((now > peak)) && peak=$now
        sleep 0.05
    done
    wait "$job" || true
    calc "$peak / 1024"
}

# A workbook of 1.1 MB whose one sheet inflates to about 250 MB: the same customer row, many
# times over, in inline strings.
heavy_workbook() {
    python3 - "$1" <<'PY'
import sys, zipfile
out = sys.argv[1]
head = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main"><sheetData>')
cells = ["first_name", "last_name", "pancard", "date_of_birth", "email_id", "mobile_number"]
# Without cell references (they are optional), every row is the same bytes: it compresses well.
def row(n, values):
    return '<row>%s</row>' % "".join('<c t="inlineStr"><is><t>%s</t></is></c>' % v for v in values)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
    z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    z.writestr("xl/workbook.xml", '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
        sheet.write(head.encode())
        sheet.write(row(1, cells).encode())
        same = ["Ravi", "Kumar", "ABCPK1234F", "1985-12-25", "ravi@example.com", "9876543210"]
        n = 2
        while n < 850_000:
            sheet.write("".join(row(i, same) for i in range(n, n + 1000)).encode())
            n += 1000
        sheet.write(b"</sheetData></worksheet>")
PY
}

strangers() {
    local dir
    dir=$(scratch)
    header "strangers: what sign-ins and uploads from others cost cibil-bulk serve"
    local token=cbk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    echo 'a long enough password' | "$BIN" users add asha --password-stdin --state "$dir/serve.db" >/dev/null
    "$BIN" tokens add bench --scope upload --state "$dir/serve.db" -q >"$dir/token"
    token=$(cat "$dir/token")
    "$BIN" serve --sandbox --listen 127.0.0.1:0 --state "$dir/serve.db" >"$dir/serve.out" 2>&1 &
    local pid=$! i url=
    PIDS+=("$pid")
    for i in $(seq 1 200); do
        url=$(grep -o 'Listening on http://127\.0\.0\.1:[0-9]*' "$dir/serve.out" 2>/dev/null | grep -o 'http.*' | head -1 || true)
        [[ -n $url ]] && break
        sleep 0.05
    done
    [[ -n $url ]] || die "the server did not start: $(cat "$dir/serve.out")"
    sleep 2
    local idle
    idle=$(rss_of "$pid" | cut -d' ' -f1)
    printf '   idle: %s MB resident\n' "$idle"

    # 200 sign-ins at once, each a 2 MB name.
    head -c 2000000 /dev/zero | tr '\0' 'a' | sed 's/^/name=/; s/$/\&password=x\&csrf=x/' >"$dir/big-name"
    flood() {
        local k
        for k in $(seq 1 200); do
            curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$dir/big-name" \
                -H 'Content-Type: application/x-www-form-urlencoded' "$url/login" >>"$dir/codes" &
        done
        wait
    }
    local peak
    peak=$(peak_while "$pid" flood)
    sleep 5
    printf '   200 sign-ins with 2 MB names: peak %s MB (+%s over idle) [target <= +100: %s], %s MB 5 s after; answers: %s\n' \
        "$peak" "$(calc "$peak - $idle")" "$(verdict "$peak - $idle <= 100")" "$(rss_of "$pid" | cut -d' ' -f1)" \
        "$(sort "$dir/codes" | uniq -c | awk '{ printf "%s x %s  ", $1, $2 }')"

    heavy_workbook "$dir/heavy.xlsx"
    heavy() {
        local k
        for k in 1 2 3; do
            curl -s -o "$dir/heavy$k.out" -w '%{http_code}\n' -H "Authorization: Bearer $token" \
                -F "file=@$dir/heavy.xlsx" "$url/api/uploads" >>"$dir/heavy-codes" &
        done
        wait
    }
    local started
    started=$(now_ns)
    peak=$(peak_while "$pid" heavy)
    local took
    took=$(secs_since "$started")
    sleep 5
    printf '   three %s MB workbooks inflating to ~250 MB, at once: peak %s MB (+%s over idle) [target <= +800: %s], %s MB 5 s after, %s s in all; answers: %s\n' \
        "$(calc "$(stat -c %s "$dir/heavy.xlsx") / 1e6")" "$peak" "$(calc "$peak - $idle")" \
        "$(verdict "$peak - $idle <= 800")" "$(rss_of "$pid" | cut -d' ' -f1)" "$took" \
        "$(sort "$dir/heavy-codes" | uniq -c | awk '{ printf "%s x %s  ", $1, $2 }')"
    curl -fsS "$url/healthz" >/dev/null && echo "   /healthz answers after both"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

# --- main -------------------------------------------------------------------------------------

scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL[@]}")
for s in "${scenarios[@]}"; do
    case $s in
    overhead | latency | rate | memory | validate | resume | quota | faults | noise | share | cpu | idle | strangers) ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown scenario: $s"
        ;;
    esac
done
build
echo "cibil-bulk e2e benchmark: $BIN ($("$BIN" --version 2>/dev/null || echo '?')), sandbox $SANDBOX_BIN"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo) memory"
for s in "${scenarios[@]}"; do
    "$s"
    # Each scenario's sandbox ends with it; the machine settles (a million-row state deleted,
    # a sandbox's memory returned) before the next scenario's clock starts.
    cleanup
    PIDS=()
    DIRS=()
    sync
    sleep 5
done
