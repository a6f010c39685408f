# Sourced by the benchmarks (bench/reconcile.sh, bench/run.sh): the release build, the Python
# venv with DuckDB, and `bench_data N`, which generates N notifications once (kept under
# $PULLRECON_BENCH_DATA, default ~/.cache/pullrecon-bench, and reused while the generator and the
# seed are the same) and sets `dir` and the generator's `as_of grace lookback push_sla`.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pullrecon-target}"
data_root="${PULLRECON_BENCH_DATA:-$HOME/.cache/pullrecon-bench}"
seed="${PULLRECON_BENCH_SEED:-1}"
venv="${PULLRECON_VENV:-$HOME/.cache/pullrecon-venv}"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check "$(grep '^duckdb==' scripts/requirements-test.txt)"

cargo build --quiet --release --locked
bin="$CARGO_TARGET_DIR/release/pullrecon"
results=bench/results
mkdir -p "$results" "$data_root"

bench_data() {
  local n="$1" stamp
  dir="$data_root/n$n-seed$seed"
  stamp="$("$bin" --version) seed=$seed"
  if [ ! -f "$dir/expected.json" ] || [ "$(cat "$dir/.generator" 2>/dev/null)" != "$stamp" ]; then
    echo "== generating $n notifications into $dir"
    rm -rf "$dir"
    "$bin" generate --out "$dir" --notifications "$n" --seed "$seed" -q
    echo "$stamp" > "$dir/.generator"
  fi
  read -r as_of grace lookback push_sla < <("$py" -c '
import json, sys
e = json.load(open(sys.argv[1]))
print(e["as_of"], e["grace"], e["lookback"], e["push_sla"])' "$dir/expected.json")
}
