#!/usr/bin/env bash
# The reconcile benchmark (issue #5): for each size (default 200,000 and then 2,000,000
# notifications) it generates the synthetic logs once (kept under $PULLRECON_BENCH_DATA, default
# ~/.cache/pullrecon-bench, and reused while the generator and the seed are the same), then times,
# one after the other on the same files, `pullrecon reconcile` (release build) and
# bench/duckdb_checks.py (DuckDB from PyPI doing the core of the same checks). bench/measure.py
# measures each: wall time and the peak of the process's anonymous resident memory (RssAnon).
# `pullrecon reconcile --dry-run` is timed too, for reference: it reads and checks as the
# reconcile does but writes no table and hashes no input, which is the scope of the DuckDB
# script (it writes nothing). The issue's targets are measured on the full reconcile.
#
# Each program runs $PULLRECON_BENCH_RUNS times (default 3), the two taking turns, so that a
# passing disturbance of a shared machine weighs on one run of each rather than on one program;
# the summary takes each program's median wall time and its highest peak. Before every run the
# logs are read once into the page cache: at 2M notifications DuckDB's 18 GB push the 8.7 GB of
# logs out of it, and the program after it would otherwise be timed reading the disk.
#
# Prints both median wall times, their ratio and both peaks per size; checks that pullrecon's findings
# per category equal the generator's expected.json; writes the figures to
# bench/results/reconcile.json (and the raw measurements beside it). Exits 1 when a count differs.
#
# Usage: bench/reconcile.sh [N...]          e.g. bench/reconcile.sh 200000
#        PULLRECON_BENCH_RUNS=1 bench/reconcile.sh 2000000
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then sizes=(200000 2000000); fi
runs="${PULLRECON_BENCH_RUNS:-3}"
. bench/data.sh

for n in "${sizes[@]}"; do
  bench_data "$n"
  rm -f "$results"/reconcile-"$n"-*.json
  rm -rf "$dir/out"
  size="$(du -sh "$dir" | cut -f1)"
  warm() { find "$dir/sent" "$dir/received" -type f -exec cat {} + > /dev/null; }
  for k in $(seq "$runs"); do
    rm -rf "$dir/out"
    warm
    echo "== pullrecon reconcile, $n notifications ($size of logs), run $k of $runs"
    "$py" bench/measure.py --json "$results/reconcile-$n-pullrecon-$k.json" -- \
      "$bin" reconcile --sent "$dir/sent" --received "$dir/received" --out "$dir/out" \
      --as-of "$as_of" --grace "$grace" --lookback "$lookback" --push-sla "$push_sla" -q
    echo "== pullrecon reconcile --dry-run, $n notifications, run $k of $runs"
    warm
    "$py" bench/measure.py --json "$results/reconcile-$n-pullrecon-dry-run-$k.json" \
      --stdout "$results/reconcile-$n-dry-run-summary.txt" -- \
      "$bin" reconcile --sent "$dir/sent" --received "$dir/received" --dry-run \
      --as-of "$as_of" --grace "$grace" --lookback "$lookback" --push-sla "$push_sla"
    echo "== DuckDB, $n notifications, run $k of $runs"
    warm
    "$py" bench/measure.py --json "$results/reconcile-$n-duckdb-$k.json" \
      --stdout "$results/reconcile-$n-duckdb-counts.json" -- \
      "$py" bench/duckdb_checks.py --data "$dir" --as-of "$as_of"
  done
done

"$py" bench/summary.py --results "$results" --data-root "$data_root" --seed "$seed" --runs "$runs" "${sizes[@]}"
