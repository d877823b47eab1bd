#!/usr/bin/env bash
# The curation figures of README ("Curation"): the shipped math sample through every filter with SmolLM2-135M-Instruct.
#   bash tools/curation_numbers.sh [WORKSPACE]     (default: a new temporary folder; about 9 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${1:-$(mktemp -d)}
K15=".venv/bin/k15"
C=(--workspace "$WS" --set task.name=math)
timed() { local t0; t0=$(date +%s.%N); "$@"; echo "seconds: $(echo "$(date +%s.%N) - $t0" | bc)  <- $*"; }
timed "$K15" prompts import assets/tasks/math_sample.jsonl "${C[@]}"
timed .venv/bin/python -c "import sys; from pathlib import Path; from k15core.models import import_gguf, find_smollm2_gguf; import_gguf(find_smollm2_gguf(), Path(sys.argv[1]) / 'models' / 'smollm2')" "$WS"
timed "$K15" curate formats "${C[@]}"
timed "$K15" curate dedup "${C[@]}"
timed "$K15" curate hackable --model smollm2 --max-new-tokens 12 "${C[@]}"
timed "$K15" curate difficulty --model smollm2 --max-new-tokens 96 "${C[@]}"
