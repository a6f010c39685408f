#!/usr/bin/env bash
# The scale-out benchmark (issue #5, `--shard I/N`): what one night costs when it is spread over
# N machines. For each N (default 1, 2 and 4) it runs `pullrecon reconcile --shard I/N` for every
# shard I, one after the other on this machine (each as one of N machines would run it, alone),
# into one output folder, on the synthetic logs of bench/reconcile.sh (default 200,000
# notifications). bench/measure.py measures each shard: wall time and peak RssAnon.
#
# Each N is run $PULLRECON_BENCH_RUNS times (default 3). Per N it prints and writes to
# bench/results/shards.json: the slowest shard (median over the runs: how long the night takes on
# N machines), the sum over the shards (machine time), the highest peak, and whether the findings
# of all N shards together equal the generator's expected.json per category. Exits 1 when they
# do not, or when a shard failed.
#
# Every shard reads all the logs (a pull names its notification, not its group): only the work
# after the read is divided. The figures show how much that is.
#
# Usage: bench/shards.sh [N...]           e.g. bench/shards.sh 1 4
#        PULLRECON_BENCH_SIZE=2000000 bench/shards.sh 1 4
set -euo pipefail
cd "$(dirname "$0")/.."
shards=("$@")
if [ ${#shards[@]} -eq 0 ]; then shards=(1 2 4); fi
size="${PULLRECON_BENCH_SIZE:-200000}"
runs="${PULLRECON_BENCH_RUNS:-3}"
. bench/data.sh

bench_data "$size"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
find "$dir/sent" "$dir/received" -type f -exec cat {} + > /dev/null
for n in "${shards[@]}"; do
  for k in $(seq "$runs"); do
    rm -rf "$work/out-$n"
    for i in $(seq 0 $((n - 1))); do
      echo "== $size notifications, shard $i/$n, run $k of $runs"
      "$py" bench/measure.py --json "$work/shard-$n-$i-$k.json" -- \
        "$bin" reconcile --sent "$dir/sent" --received "$dir/received" --out "$work/out-$n" \
        --as-of "$as_of" --grace "$grace" --lookback "$lookback" --push-sla "$push_sla" \
        --shard "$i/$n" -q
    done
  done
done

"$py" - "$work" "$dir/expected.json" "$results/shards.json" "$size" "$runs" "${shards[@]}" <<'PY'
import datetime, json, os, statistics, sys
import duckdb
work, expected_path, out_path, size, runs = sys.argv[1:6]
runs, shards = int(runs), [int(n) for n in sys.argv[6:]]
expected = json.load(open(expected_path))["findings"]
out = {
    "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "notifications": int(size),
    "runs": runs,
    "shards": {},
}
ok = True
for n in shards:
    per_run = [[json.load(open(f"{work}/shard-{n}-{i}-{k}.json")) for i in range(n)]
               for k in range(1, runs + 1)]
    slowest = statistics.median(max(m["wall_s"] for m in r) for r in per_run)
    total = statistics.median(sum(m["wall_s"] for m in r) for r in per_run)
    peak = max(m["peak_rss_anon_mb"] for r in per_run for m in r)
    failed = [m["exit"] for r in per_run for m in r if m["exit"] not in (0, 3)]
    glob = os.path.join(work, f"out-{n}", "findings", "**", "*.parquet")
    got = dict(duckdb.sql(
        f"SELECT category, count(*) FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY ALL"
    ).fetchall())
    equal = {c: v for c, v in got.items() if v} == {c: v for c, v in expected.items() if v}
    ok = ok and equal and not failed
    out["shards"][n] = {
        "slowest_shard_s": round(slowest, 3),
        "machine_s": round(total, 3),
        "peak_rss_anon_mb": peak,
        "walls_s": [[m["wall_s"] for m in r] for r in per_run],
        "findings_equal_expected": equal,
        "failed_exits": failed,
    }
one = out["shards"].get(1, {}).get("slowest_shard_s")
print(f"{int(size):,} notifications, {runs} runs, median per N:")
for n, s in out["shards"].items():
    speedup = f", {one / s['slowest_shard_s']:.2f}x faster than N=1" if one and n != 1 else ""
    print(f"  N={n}: night {s['slowest_shard_s']:.2f} s (the slowest shard{speedup}), "
          f"machine time {s['machine_s']:.2f} s, peak RssAnon {s['peak_rss_anon_mb']:,.0f} MiB, "
          f"findings {'=' if s['findings_equal_expected'] else '!='} expected.json")
json.dump(out, open(out_path, "w"), indent=2)
sys.exit(0 if ok else 1)
PY
