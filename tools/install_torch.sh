#!/usr/bin/env bash
# Install torch 2.13.0 into the given Python without ever pulling a CUDA build onto a CPU machine.
#   - a CUDA GPU is present (nvidia-smi works): PyPI's default build (CUDA).
#   - otherwise: the CPU build "2.13.0+cpu", from a local wheel/mirror if pip has one configured,
#     else from PyTorch's CPU index. (A plain `pip install torch` on Linux would fetch the CUDA build.)
set -euo pipefail
PY=${1:-python3}
if "$PY" -c 'import torch, sys; sys.exit(0 if torch.__version__.split("+")[0] == "2.13.0" else 1)' 2>/dev/null; then
  echo "torch 2.13.0 already installed"; exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "CUDA GPU found: installing torch 2.13.0 (CUDA build)"
  exec "$PY" -m pip install --quiet "torch==2.13.0"
fi
echo "no CUDA GPU: installing torch 2.13.0 (CPU build)"
"$PY" -m pip install --quiet "torch==2.13.0+cpu" 2>/dev/null \
  || "$PY" -m pip install --quiet "torch==2.13.0+cpu" --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" --extra-index-url "${PIP_INDEX_URL:-https://pypi.org/simple}"
