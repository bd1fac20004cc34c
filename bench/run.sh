#!/usr/bin/env bash
# Runs the same workloads against Sluice and a private RabbitMQ with sluice-perf, and prints
# a table of medians with the ratio Sluice/RabbitMQ. See bench/README.md.
#
#   bench/run.sh [BUILD_DIR]        # default build; `make bench` runs it
#
# Environment:
#   BENCH_REPEATS   runs per workload and broker (default 3); the table shows medians
#   BENCH_SECONDS   measured seconds per run (default 10)
#   BENCH_WARMUP    seconds of load before measuring (default 2)
#   BENCH_ONLY      space-separated workload ids to run (default: all of bench/workloads.txt)
#   BENCH_RABBITMQ_PORT / BENCH_RABBITMQ_DIST_PORT   private RabbitMQ ports (27672 / 27673)
#   BENCH_RESULTS   where the table goes besides stdout (default bench/results/latest.md)
#   BENCH_NOTE      a caveat printed with the table (say, what the Sluice build lacks)
#
# Both brokers listen on 127.0.0.1 only and run from a temporary directory that is removed,
# with both brokers stopped, when the script exits for any reason.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:-build}" && pwd)
repeats=${BENCH_REPEATS:-3}
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
results_md=${BENCH_RESULTS:-$here/results/latest.md}
export BENCH_RABBITMQ_PORT=${BENCH_RABBITMQ_PORT:-27672}
export BENCH_RABBITMQ_DIST_PORT=${BENCH_RABBITMQ_DIST_PORT:-27673}

sluice_bin=$build/bin/sluice
perf_bin=$build/bin/sluice-perf
for bin in "$sluice_bin" "$perf_bin"; do
  [[ -x $bin ]] || { echo "bench: $bin is missing; run make build" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
sluice_pid=
rabbit_started=0
cleanup() {
  if [[ -n $sluice_pid ]]; then
    kill "$sluice_pid" 2>/dev/null || true
    # Bounded wait for a clean shutdown, then insist.
    for _ in $(seq 50); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$sluice_pid" 2>/dev/null || true
  fi
  if [[ $rabbit_started == 1 ]]; then "$here/rabbitmq.sh" stop "$work/rabbitmq"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

selected() {  # workload id
  [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" $1 "* ]]
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {  # port seconds
  for _ in $(seq $(( $2 * 10 ))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# --- start the brokers ---
sluice_port=$(free_port)
sluice_http_port=$(free_port)
mkdir -p "$work/sluice-data"
"$sluice_bin" --data-dir "$work/sluice-data" --bind 127.0.0.1 --amqp-port "$sluice_port" \
  --http-port "$sluice_http_port" --log-level info >"$work/sluice.log" 2>&1 &
sluice_pid=$!
if ! wait_for_port "$sluice_port" 20; then
  echo "bench: sluice did not start listening on $sluice_port:" >&2
  tail -20 "$work/sluice.log" >&2
  exit 1
fi

echo "bench: starting a private RabbitMQ on port $BENCH_RABBITMQ_PORT"
rabbit_started=1
"$here/rabbitmq.sh" start "$work/rabbitmq"

declare -A port=([sluice]=$sluice_port [rabbitmq]=$BENCH_RABBITMQ_PORT)

# --- run the workloads ---
mapfile -t workloads < <(grep -v '^\s*#' "$here/workloads.txt" | grep -v '^\s*$')
raw=$work/results.jsonl
: >"$raw"
total_runs=0
for line in "${workloads[@]}"; do
  id=$(awk -F'|' '{gsub(/ /, "", $1); print $1}' <<<"$line")
  if selected "$id"; then total_runs=$((total_runs + 2)); fi
done
total_runs=$((total_runs * repeats))
echo "bench: $total_runs runs of ${seconds}s (+${warmup}s warmup); Sluice on $sluice_port"

run=0
for ((r = 1; r <= repeats; r++)); do
  # Alternate which broker goes first, so neither always runs on a machine still busy with
  # the other's teardown.
  if ((r % 2 == 1)); then order=(sluice rabbitmq); else order=(rabbitmq sluice); fi
  for line in "${workloads[@]}"; do
    IFS='|' read -r id description args <<<"$line"
    id=${id//[[:space:]]/}
    selected "$id" || continue
    for broker in "${order[@]}"; do
      run=$((run + 1))
      printf 'bench: [%d/%d] %-12s %-9s ' "$run" "$total_runs" "$id" "$broker"
      # shellcheck disable=SC2086  # args is a word list on purpose
      if out=$("$perf_bin" --port "${port[$broker]}" --duration "$seconds" --warmup "$warmup" \
                 --json --quiet $args 2>"$work/perf.err"); then
        python3 "$here/report.py" --one-line <<<"$out"
      else
        out=$(tail -1 "$work/perf.err")
        echo "FAILED: $out"
      fi
      python3 "$here/report.py" --record "$id" "$broker" "$r" <<<"$out" >>"$raw"
      if ! kill -0 "$sluice_pid" 2>/dev/null; then
        echo "bench: sluice exited; its log ends with:" >&2
        tail -20 "$work/sluice.log" >&2
        exit 1
      fi
    done
  done
done

# --- messages per fsync: Sluice logs its message log's totals when it stops ---
kill "$sluice_pid" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$sluice_pid" 2>/dev/null || break; sleep 0.1; done
sluice_pid=
fsync_line=$(grep -o 'messages_synced=[0-9]* syncs=[0-9]* messages_per_sync=[0-9.]*' \
  "$work/sluice.log" | tail -1 || true)

# --- report ---
mkdir -p "$(dirname "$results_md")"
python3 "$here/report.py" --workloads "$here/workloads.txt" --seconds "$seconds" \
  --warmup "$warmup" --repeats "$repeats" --root "$root" --note "${BENCH_NOTE:-}" "$raw" \
  >"$work/table.md"
if [[ -n $fsync_line ]]; then
  printf '\nSluice message log over the persistent rows: %s\n' "$fsync_line" >>"$work/table.md"
fi
cat "$work/table.md"
cp "$work/table.md" "$results_md"
cp "$raw" "${results_md%.md}.jsonl"
echo "bench: table saved to $results_md"
