#!/usr/bin/env python3
"""Runs one command and measures it: wall time, and the high-water mark of its anonymous resident
memory (RssAnon in /proc/PID/status, sampled every few milliseconds while it runs). Pages of
memory-mapped input files are file-backed (RssFile), not anonymous, so they do not count: the
kernel can drop them at any time. VmHWM is reported too, for reference (it includes them).

Usage: measure.py --json OUT.json [--stdout FILE] [--interval-ms 5] -- COMMAND [ARG...]
Prints one line `wall_s=… peak_rss_anon_mb=… exit=…` and writes the same as JSON. The `_mb`
figures are MiB (2^20 bytes: /proc reports kB of 1024 bytes); `peak_rss_anon_bytes` is exact.
"""

import argparse
import json
import subprocess
import sys
import time


def status_kb(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                    out[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--stdout", default=None)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")
    out = open(a.stdout, "wb") if a.stdout else subprocess.DEVNULL
    peak_anon = peak_file = hwm = samples = 0
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out)
    while p.poll() is None:
        s = status_kb(p.pid)
        if s:
            samples += 1
            peak_anon = max(peak_anon, s.get("RssAnon", 0))
            peak_file = max(peak_file, s.get("RssFile", 0))
            hwm = max(hwm, s.get("VmHWM", 0))
        time.sleep(a.interval_ms / 1000)
    wall = time.monotonic() - t0
    result = {
        "command": cmd,
        "wall_s": round(wall, 3),
        "peak_rss_anon_mb": round(peak_anon / 1024, 1),
        "peak_rss_anon_bytes": peak_anon * 1024,
        "peak_rss_file_mb": round(peak_file / 1024, 1),
        "vm_hwm_mb": round(hwm / 1024, 1),
        "samples": samples,
        "exit": p.returncode,
    }
    with open(a.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wall_s={result['wall_s']} peak_rss_anon_mb={result['peak_rss_anon_mb']} exit={p.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
