# Two commands do everything: `make demo` and `make test`. Both create .venv when needed.
PY ?= python3
SOAK_ARGS ?=  # e.g. make soak SOAK_ARGS="--prefill 300000" (bench/soak.py --help)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PTB_TIMEDELTA := 1

.PHONY: demo test lint image-check eval bench-match bench-ingest bench-poll-cycle bench-latency bench-dedup \
	eval-dedup bench-fanout bench-fulltext bench-holds bench-watchtest bench-store-cache soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf .demo
	$(BIN)/python -m bot run --config samples/demo.toml --once

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
	@if [ -n "$$CI" ] || command -v buildah >/dev/null 2>&1; then $(MAKE) image-check; \
	else echo "image-check: skipped (no buildah and CI not set; run 'make image-check')"; fi

image-check: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/image-check.sh

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .demo .pytest_cache

bench-ingest: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

bench-poll-cycle: $(STAMP)
	$(BIN)/python bench/bench_poll_cycle.py

bench-latency: $(STAMP)
	$(BIN)/python bench/bench_latency.py

bench-dedup: $(STAMP)
	$(BIN)/python bench/bench_dedup.py

eval-dedup: $(STAMP)
	$(BIN)/python bench/eval_dedup.py

bench-fanout: $(STAMP)
	$(BIN)/python bench/bench_fanout.py

eval: $(STAMP)
	$(BIN)/python bench/eval_match.py

bench-match: $(STAMP)
	$(BIN)/python bench/bench_match.py

bench-fulltext: $(STAMP)
	$(BIN)/python bench/bench_fulltext.py

bench-holds: $(STAMP)
	$(BIN)/python bench/bench_holds.py

bench-watchtest: $(STAMP)
	$(BIN)/python bench/bench_watchtest.py

bench-store-cache: $(STAMP)
	$(BIN)/python bench/bench_store_cache.py

soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)
