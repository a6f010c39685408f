#!/usr/bin/env bash
# The replay benchmark: 10k retrievals against a loopback sender answering in 50 ms, concurrency 64.
# Prints the achieved throughput as a fraction of 64 / 0.05 s = 1280 requests/s (goal >= 0.9).
# Extra arguments go to the benchmark: --items N --latency-ms MS --concurrency N.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pullrecon-target}"
cargo run --quiet --release --example replay_bench -- "$@"
