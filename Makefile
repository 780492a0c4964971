# The scripts people run. `make run` and `make test` work from a clean clone: they create the
# virtual environment and install the pinned dependencies first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONSTRAINTS := requirements/constraints.txt
DATA_STAMP := $(VENV)/.data-stamp
MLFLOW_PORT ?= 5000

.PHONY: install data run demo test test-fast lint format bench bench-backends pipeline mlflow-ui clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,batch,lifecycle,serve,neural]"
	touch $(STAMP)

# the raw corpora are tracked by DVC; its default remote (dvc-storage/) ships in the repository
data: $(DATA_STAMP)

$(DATA_STAMP): $(STAMP) $(wildcard data/*.dvc)
	$(BIN)/dvc pull --quiet $(wildcard data/*.dvc)
	touch $(DATA_STAMP)

# the main job: the extraction API on the default model (built first if missing: the experiment
# configs/experiments/prescriptions/crf.yaml), with a development key and a ready-to-copy curl
# printed; Ctrl-C stops it
run: data
	test -f models/default/lexicon.tsv || $(BIN)/medner experiment run prescriptions/crf --force
	$(BIN)/medner serve --dev --model models/default

# extract from 25 MTSamples notes and print a table (what `make run` did before the API)
demo: data
	$(BIN)/medner demo

test: data
	$(BIN)/python -m pytest

test-fast: data
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: pipeline
	$(BIN)/python bench/accuracy.py --write docs/benchmarks.md
	$(BIN)/python bench/ablation.py --write docs/benchmarks.md
	$(BIN)/python bench/extract_throughput.py --write docs/benchmarks.md
	$(BIN)/python bench/batch_throughput.py --write docs/benchmarks.md
	$(BIN)/python bench/tune.py --trials 20 --write docs/benchmarks.md
	$(BIN)/python bench/api_load.py --write docs/benchmarks.md
	$(BIN)/medner experiment run prescriptions/crf && $(BIN)/medner experiment run biotext/crf
	$(BIN)/python bench/prescriptions.py --model models/default --baseline models/crf-biotext --write docs/benchmarks.md
	.ci/with-services sh -c '$(BIN)/python bench/api_faults.py --postgres "$$MEDNER_TEST_POSTGRES_URL" --write docs/benchmarks.md'
	.ci/with-services sh -c '$(BIN)/python bench/review_load.py --postgres "$$MEDNER_TEST_POSTGRES_URL" --write docs/benchmarks.md'
	$(BIN)/python bench/calibration.py --write docs/benchmarks.md
	$(BIN)/python bench/drift.py --write docs/benchmarks.md
	$(BIN)/medner experiment run ncbi/crf
	$(BIN)/python bench/learning_loop.py --write docs/benchmarks.md   # about an hour here

# The backend comparison (docs/benchmarks.md): builds the experiments it compares when missing
# (configs/experiments/; on this 2-core CPU the transformers take about 15 (BioText) and 33 (NCBI)
# minutes; on a GPU, minutes). Every other model recipe is an experiment config too:
# `medner experiment list`, then `medner experiment run NAME`.
BACKENDS = biotext/crf ncbi/crf biotext/transformer ncbi/transformer-s14
bench-backends: data
	for e in $(BACKENDS); do $(BIN)/medner experiment run $$e || exit 1; done
	$(BIN)/python bench/backends.py --crf models/default --crf-for ncbi=models/crf-ncbi \
		--transformer biotext=models/transformer-biotext \
		--transformer ncbi=models/transformer-ncbi-s14 --write docs/benchmarks.md

# prepare -> train -> evaluate -> register (DVC); runs and models tracked in MLflow (./mlflow)
pipeline: data
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///mlflow/mlflow.db}" \
		--default-artifact-root mlflow/artifacts --port $(MLFLOW_PORT)

clean:
	rm -rf $(VENV) runs models mlflow reports/plots data/prepared dvc_plots .pytest_cache .mypy_cache .ruff_cache
