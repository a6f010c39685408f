#!/usr/bin/env python3
"""Sums up bench/reconcile.sh: per size, pullrecon's and DuckDB's median wall time over the runs
and highest peak RssAnon, the ratio of the medians, pullrecon's findings per category against
the generator's expected.json, and (with two sizes) how the time grew. `reconcile --dry-run`
(no tables, no hashing: the DuckDB script's scope) is summed up beside them for reference, its
summary's counts checked against expected.json too. Prints a table, writes
bench/results/reconcile.json, and exits 1 when a count differs from expected.json or a run
failed.

Usage: summary.py --results DIR --data-root DIR --seed S --runs R N [N...]
"""

import argparse
import datetime
import json
import os
import statistics
import sys

import duckdb

# Issue #5's targets, printed beside the figures. The memory bounds are "600 MB" and "1.5 GB";
# the peaks are measured in MiB (2^20 bytes), and each bound is given in MiB as read in decimal
# units (the stricter: 572 and 1,431 MiB) and in binary ones (600 and 1,536 MiB).
RATIO_MAX = 0.2
PEAK_BYTES_MAX = {200_000: 600 * 10**6, 2_000_000: 1_500 * 10**6}
PEAK_MIB_MAX_BINARY = {200_000: 600, 2_000_000: 1536}
GROWTH_MAX = 11.0
MIB = 2**20


def load(path):
    with open(path) as f:
        return json.load(f)


def runs_of(results, n, program, runs):
    """The runs of one program at one size: median wall time, highest peak, and each run's wall
    time and exit status."""
    ms = [load(os.path.join(results, f"reconcile-{n}-{program}-{k}.json")) for k in range(1, runs + 1)]
    return {
        "wall_s": round(statistics.median(m["wall_s"] for m in ms), 3),
        "peak_rss_anon_mb": max(m["peak_rss_anon_mb"] for m in ms),
        "walls_s": [m["wall_s"] for m in ms],
        "exits": [m["exit"] for m in ms],
    }


def findings_by_category(out_dir):
    glob = os.path.join(out_dir, "findings", "**", "*.parquet")
    rows = duckdb.sql(
        f"SELECT category, count(*) FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY ALL"
    ).fetchall()
    return {c: n for c, n in rows}


def summary_counts(path):
    """The findings per category in a reconcile summary printed on stdout (non-zero ones)."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[2].isdigit() and parts[1] in ("error", "warning", "info"):
                if int(parts[2]):
                    counts[parts[0]] = int(parts[2])
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("sizes", nargs="+", type=int)
    a = ap.parse_args()
    sizes, ok = [], True
    for n in a.sizes:
        data = os.path.join(a.data_root, f"n{n}-seed{a.seed}")
        pr = runs_of(a.results, n, "pullrecon", a.runs)
        dd = runs_of(a.results, n, "duckdb", a.runs)
        expected = load(os.path.join(data, "expected.json"))
        got = findings_by_category(os.path.join(data, "out"))
        want = {c: v for c, v in expected["findings"].items() if v}
        diff = {
            c: {"expected": want.get(c, 0), "pullrecon": got.get(c, 0)}
            for c in sorted(set(want) | set(got))
            if want.get(c, 0) != got.get(c, 0)
        }
        ok &= not diff and all(e in (0, 3) for e in pr["exits"]) and all(e == 0 for e in dd["exits"])
        dry = None
        if os.path.exists(os.path.join(a.results, f"reconcile-{n}-pullrecon-dry-run-1.json")):
            dr = runs_of(a.results, n, "pullrecon-dry-run", a.runs)
            dry_counts = summary_counts(os.path.join(a.results, f"reconcile-{n}-dry-run-summary.txt"))
            dry = {
                **dr,
                "ratio": round(dr["wall_s"] / dd["wall_s"], 3) if dd["wall_s"] else None,
                "counts_equal_expected": dry_counts == want,
            }
            ok &= dry["counts_equal_expected"] and all(e in (0, 3) for e in dr["exits"])
        # The ratio of the medians.
        ratio = pr["wall_s"] / dd["wall_s"] if dd["wall_s"] else None
        sizes.append(
            {
                "notifications": n,
                "log_bytes": expected["bytes"],
                "runs": a.runs,
                "pullrecon": pr,
                "duckdb": dd,
                "ratio": round(ratio, 3) if ratio else None,
                "ratio_target": RATIO_MAX if n == 200_000 else None,
                "peak_target_mib_decimal": round(PEAK_BYTES_MAX[n] / MIB, 1) if n in PEAK_BYTES_MAX else None,
                "peak_target_mib_binary": PEAK_MIB_MAX_BINARY.get(n),
                "findings": sum(got.values()),
                "findings_expected": sum(want.values()),
                "counts_differ": diff,
                "pullrecon_dry_run": dry,
            }
        )
    growth = None
    if len(sizes) >= 2 and sizes[0]["pullrecon"]["wall_s"]:
        growth = round(sizes[-1]["pullrecon"]["wall_s"] / sizes[0]["pullrecon"]["wall_s"], 2)
    summary = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_1m_at_end": round(os.getloadavg()[0], 2)},
        "sizes": sizes,
        "time_growth": growth,
        "time_growth_target": GROWTH_MAX if growth else None,
    }
    with open(os.path.join(a.results, "reconcile.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    print(f"{'notifications':>13} {'pullrecon s':>11} {'DuckDB s':>9} {'ratio':>6} "
          f"{'pullrecon MiB':>13} {'DuckDB MiB':>10} {'findings':>9}  counts")
    for s in sizes:
        print(
            f"{s['notifications']:>13,} {s['pullrecon']['wall_s']:>11.2f} {s['duckdb']['wall_s']:>9.2f} "
            f"{s['ratio']:>6.3f} {s['pullrecon']['peak_rss_anon_mb']:>13.0f} "
            f"{s['duckdb']['peak_rss_anon_mb']:>10.0f} {s['findings']:>9,}  "
            + ("= expected.json" if not s["counts_differ"] else f"DIFFER {s['counts_differ']}")
        )
    for s in sizes:
        if s["peak_target_mib_decimal"]:
            peak = s["pullrecon"]["peak_rss_anon_mb"]
            print(
                f"peak at {s['notifications']:,}: {peak:,.0f} MiB = {peak * MIB / 10**6:,.0f} MB; "
                f"bound {s['peak_target_mib_decimal']:,.0f} MiB read in decimal units "
                f"({'met' if peak <= s['peak_target_mib_decimal'] else 'NOT met'}), "
                f"{s['peak_target_mib_binary']:,} MiB in binary ones "
                f"({'met' if peak <= s['peak_target_mib_binary'] else 'NOT met'})"
            )
    for s in sizes:
        d = s["pullrecon_dry_run"]
        if d:
            print(
                f"reference at {s['notifications']:,}: reconcile --dry-run (no tables, no hashing; "
                f"the DuckDB script's scope) {d['wall_s']:.2f} s, {d['ratio']:.3f} of DuckDB, "
                f"peak {d['peak_rss_anon_mb']:,.0f} MiB, counts "
                + ("= expected.json" if d["counts_equal_expected"] else "DIFFER")
            )
    if growth:
        print(f"time {sizes[-1]['notifications']:,} / {sizes[0]['notifications']:,}: {growth}x")
    print(f"figures written to {os.path.join(a.results, 'reconcile.json')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
