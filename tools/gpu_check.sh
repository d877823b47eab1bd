#!/usr/bin/env bash
# Every GPU check of k15 in one short run (a few minutes) on a machine with one CUDA GPU: the CUDA path of the
# engine (tests/gpu/test_cuda.py: rollouts and an RL step against the CPU, bf16), the vLLM engine against the
# Hugging Face model where vLLM is installed (tests/gpu/test_vllm.py; skipped, and said so, where it is not),
# and the GPU benchmark where there is one (benchmarks/gpu.py). Run from anywhere:
#   bash tools/gpu_check.sh            # PYTHON=/path/to/python to pick the interpreter that holds torch
# It installs nothing: the interpreter must already hold torch, transformers and pytest (and vllm for its tests).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error PYTHONUNBUFFERED=1
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "gpu_check: $PY cannot import torch (PYTHON=/path/to/python names another interpreter)"; exit 2
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: $PY sees no CUDA GPU (torch.cuda.is_available() is False)"; exit 2
fi
"$PY" - <<'PYEOF'
import importlib.util, torch, transformers
print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"vllm {'present' if importlib.util.find_spec('vllm') else 'absent (its tests skip)'}")
PYEOF
status=0
timeout 420 "$PY" -m pytest tests/gpu -q -rs -p no:cacheprovider || status=$?
if [ -f benchmarks/gpu.py ]; then
  timeout 180 "$PY" benchmarks/gpu.py || status=$?
fi
exit $status
