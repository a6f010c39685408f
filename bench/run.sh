#!/usr/bin/env bash
# The nightly benchmark: `pullrecon run` (release build) on the synthetic logs of bench/reconcile.sh
# (default 200,000 and then 2,000,000 notifications), that is reconcile, replay, reconcile again,
# report and metrics, as the nightly cron runs them. The replay goes to an embedded sender serving
# an empty folder (it answers at once: searches with empty bundles, reads with 404), so what is
# timed is pullrecon's own work, not a network. bench/measure.py measures the whole run: wall time
# and the peak of the process's anonymous resident memory (RssAnon); the steps' own times come
# from the run's output.
#
# Prints and writes bench/results/run.json: per size, wall time, peak, each step's seconds and
# the replay's counts.
#
# Usage: bench/run.sh [N...]          e.g. bench/run.sh 200000
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
if [ ${#sizes[@]} -eq 0 ]; then sizes=(200000 2000000); fi
. bench/data.sh

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/empty-sender"
for n in "${sizes[@]}"; do
  bench_data "$n"
  cat > "$work/job-$n.toml" <<JOB
name = "bench-$n"
embedded_sender = "$work/empty-sender"
[reconcile]
as_of = "$as_of"
[inputs]
sent = ["$dir/sent"]
received = ["$dir/received"]
[output]
dir = "$work/out-$n"
[windows]
grace = "$grace"
lookback = "$lookback"
push_sla = "$push_sla"
JOB
  find "$dir/sent" "$dir/received" -type f -exec cat {} + > /dev/null
  echo "== pullrecon run, $n notifications ($(du -sh "$dir" | cut -f1) of logs)"
  "$py" bench/measure.py --json "$results/run-$n.json" --stdout "$work/run-$n.txt" -- \
    "$bin" run --job "$work/job-$n.toml"
  grep '^\[' "$work/run-$n.txt" || true
  rm -rf "$work/out-$n"
done

"$py" - "$results" "$work" "${sizes[@]}" <<'PY'
import datetime, json, re, sys
results, work, sizes = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {"measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "sizes": {}}
for n in sizes:
    m = json.load(open(f"{results}/run-{n}.json"))
    text = open(f"{work}/run-{n}.txt").read()
    steps = {s: float(t) for s, t in re.findall(r"^\[\d/\d\] (\S+) .*\(([\d.]+)s\)$", text, re.M)}
    replay = re.search(r"^\[2/5\] replay\s+\S+\s+(.*?) \(", text, re.M)
    out["sizes"][n] = {
        "wall_s": m["wall_s"],
        "peak_rss_anon_mb": m["peak_rss_anon_mb"],
        "exit": m["exit"],
        "steps_s": steps,
        "replay": replay.group(1) if replay else None,
    }
    print(f"{int(n):>9,} notifications: {m['wall_s']:.1f} s, peak RssAnon {m['peak_rss_anon_mb']:,.0f} MiB; "
          + ", ".join(f"{s} {t:.1f} s" for s, t in steps.items()))
json.dump(out, open(f"{results}/run.json", "w"), indent=2)
bad = [n for n in sizes if out["sizes"][n]["exit"] not in (0, 3)]
sys.exit(1 if bad else 0)
PY
