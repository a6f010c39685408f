#!/usr/bin/env bash
# Seeds the fuzz corpora from the bundled sample data (one log line a file) and the published
# example Tasks. The corpora are not kept in git; crashes become regression tests in tests/it.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/log_line corpus/task
i=0
{ cat ../sample-data/sent/*.ndjson ../sample-data/received/*.ndjson; gzip -dc ../sample-data/received/*.gz; } |
  while IFS= read -r line; do i=$((i+1)); printf '%s' "$line" > "corpus/log_line/sample-$i"; done
cp ../tests/fixtures/fhir-examples/*.json corpus/task/
echo "seeded: $(ls corpus/log_line | wc -l) log lines, $(ls corpus/task | wc -l) Tasks"
