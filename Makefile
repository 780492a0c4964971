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

# the main job: the extraction API on the default model (trained first if missing), with a
# development key and a ready-to-copy curl printed; Ctrl-C stops it
run: data
	test -f models/default/config.json || \
		$(BIN)/medner train --train data/biotext/train_sent --output models/default --no-track
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

# The backend comparison (docs/benchmarks.md): trains what is missing first. On this 2-core CPU
# the transformers take about 15 (BioText) and 33 (each NCBI seed) minutes; on a GPU, minutes.
# NCBI: of seed 13, seed 14 and their ensemble, seed 14 scored best on devel (docs/benchmarks.md).
bench-backends: models/default models/crf-ncbi models/transformer-biotext \
		models/transformer-ncbi-s14
	$(BIN)/python bench/backends.py --crf models/default --crf-for ncbi=models/crf-ncbi \
		--transformer biotext=models/transformer-biotext \
		--transformer ncbi=models/transformer-ncbi-s14 --write docs/benchmarks.md

models/default: | data
	$(BIN)/medner train --train data/biotext/train_sent --output $@ --no-track

models/crf-ncbi: | data
	$(BIN)/medner train --train data/ncbi-disease/train.tsv --output $@ --no-track

# full training of the neural backend (not a test): BioText train; NCBI train with devel as dev
models/transformer-biotext: | data
	$(BIN)/medner train --backend transformer --train data/biotext/train_sent --output $@ \
		--no-track
	$(BIN)/medner export-onnx $@ --int8

# a second NCBI model (seed 14) and the two as one ensemble (chosen over one model on devel)
models/transformer-ncbi-s14: | data
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.seed=14 --output $@ --no-track
	$(BIN)/medner export-onnx $@ --int8

models/transformer-ncbi-x2: | models/transformer-ncbi models/transformer-ncbi-s14
	$(BIN)/medner ensemble $| --dev data/ncbi-disease/devel.tsv --output $@
	$(BIN)/medner export-onnx $@ --int8

# BC5CDR (DISEASE + CHEMICAL): train and devel together, for a held-out test split kept elsewhere
models/transformer-bc5cdr: | data
	$(BIN)/medner train --backend transformer --train data/bc5cdr/train.tsv \
		--train data/bc5cdr/devel.tsv --output $@ --no-track
	$(BIN)/medner export-onnx $@ --int8

models/transformer-ncbi: | data
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --output $@ --no-track
	$(BIN)/medner export-onnx $@ --int8

# BC5CDR's generalisation check: the recipe's settings trained on train only, scored on devel
models/transformer-bc5cdr-train: | data
	$(BIN)/medner train --backend transformer --train data/bc5cdr/train.tsv \
		--dev data/bc5cdr/devel.tsv --output $@ --no-track

models/crf-bc5cdr-train: | data
	$(BIN)/medner train --train data/bc5cdr/train.tsv --dev data/bc5cdr/devel.tsv --output $@ \
		--no-track

# levers tried on NCBI devel (seed 13, against models/transformer-ncbi; docs/benchmarks.md):
# domain-adaptive pretraining (masked LM on MTSamples and the corpora's train text, 18 min
# here), then the NCBI recipe from that encoder
models/encoder-dapt: | data
	$(BIN)/medner pretrain-encoder --output $@

models/transformer-ncbi-dapt: | models/encoder-dapt
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| --output $@ --no-track

# the same with seed 14, and the two as one ensemble (variance of one seed is 1.7 points on devel)
models/transformer-ncbi-dapt-s14: | models/encoder-dapt
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| --set transformer.seed=14 \
		--output $@ --no-track

models/transformer-ncbi-dapt-x2: | models/transformer-ncbi-dapt models/transformer-ncbi-dapt-s14
	$(BIN)/medner ensemble $| --dev data/ncbi-disease/devel.tsv --output $@

# the DAPT recipe with twice the learning rate (1e-4, often better for small encoders)
models/transformer-ncbi-dapt-lr1e4: | models/encoder-dapt
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| \
		--set transformer.learning_rate=1e-4 --output $@ --no-track

# the DAPT recipe scored on devel after every epoch, keeping the best epoch's weights (devel picks
# the epoch only; it never trains the model)
models/transformer-ncbi-dapt-best: | models/encoder-dapt
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| \
		--set transformer.early_stopping=10 --output $@ --no-track

# the same weights, decoding with abbreviations carried ("Schwartz-Jampel syndrome ( SJS )" makes
# every later "SJS" a disease); score it with `medner evaluate --context 5` (NCBI is stored one
# sentence per document: the 5 sentences on either side stand in for the abstract)
models/transformer-ncbi-dapt-best-abbr: | models/transformer-ncbi-dapt-best
	$(BIN)/medner set-decoding $| --output $@ --abbreviations

# the DAPT recipe reading up to 32 words of the neighbouring sentences on either side of each
# sentence (untagged context; NCBI, one sentence per document, is read as running text in file
# order); score it with `medner evaluate --context 5`, as the abstract's neighbours. Then the same
# weights carrying abbreviations
models/transformer-ncbi-dapt-ctx: | models/encoder-dapt
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| \
		--set transformer.context_words=32 --set transformer.early_stopping=10 --output $@ --no-track

models/transformer-ncbi-dapt-ctx-abbr: | models/transformer-ncbi-dapt-ctx
	$(BIN)/medner set-decoding $| --output $@ --abbreviations

# longer domain-adaptive pretraining: the DAPT encoder trained on for 1,000 more steps (about two
# more passes over its text; its output layer kept) at 1e-4, then the early-stopping recipe on
# it, and the same weights carrying abbreviations (score with `medner evaluate --context 5`)
models/encoder-dapt-long: | models/encoder-dapt
	$(BIN)/medner pretrain-encoder --encoder $| --head-steps 0 --steps 1000 \
		--learning-rate 1e-4 --output $@

models/transformer-ncbi-dapt-long: | models/encoder-dapt-long
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| \
		--set transformer.early_stopping=10 --output $@ --no-track

models/transformer-ncbi-dapt-long-abbr: | models/transformer-ncbi-dapt-long
	$(BIN)/medner set-decoding $| --output $@ --abbreviations

# the same with seed 14 (the spread between seeds is about 1.7 points on devel)
models/transformer-ncbi-dapt-long-s14: | models/encoder-dapt-long
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$| --set transformer.seed=14 \
		--set transformer.early_stopping=10 --output $@ --no-track

models/transformer-ncbi-dapt-long-s14-abbr: | models/transformer-ncbi-dapt-long-s14
	$(BIN)/medner set-decoding $| --output $@ --abbreviations

# sequential transfer: the NCBI early-stopping recipe fine-tuned from the encoder of the BC5CDR
# model (CHEMICAL and DISEASE, its tag head dropped), and the same weights carrying abbreviations
models/transformer-ncbi-bc5cdr: | models/transformer-bc5cdr
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--dev data/ncbi-disease/devel.tsv --set transformer.encoder=$|/encoder \
		--set transformer.early_stopping=10 --output $@ --no-track

models/transformer-ncbi-bc5cdr-abbr: | models/transformer-ncbi-bc5cdr
	$(BIN)/medner set-decoding $| --output $@ --abbreviations

# one model of each NCBI training run above as one ensemble, carrying abbreviations (score with
# `medner evaluate --context 5`)
NCBI_RUNS = models/transformer-ncbi-dapt-best models/transformer-ncbi-dapt-s14 \
	models/transformer-ncbi-dapt-lr1e4 models/transformer-ncbi-dapt-long \
	models/transformer-ncbi-dapt-long-s14 models/transformer-ncbi-bc5cdr
models/transformer-ncbi-x6: | $(NCBI_RUNS)
	$(BIN)/medner ensemble $| --dev data/ncbi-disease/devel.tsv --output $@

models/transformer-ncbi-x6-abbr: | models/transformer-ncbi-x6
	$(BIN)/medner set-decoding $| --output $@ --abbreviations

# DISEASE from NCBI, BC5CDR and BioText at once (chemicals and treatments dropped, as NCBI does
# not annotate them); 3 epochs over 2.4x the sentences: about the NCBI recipe's step count
models/transformer-disease-multi: | data
	$(BIN)/medner train --backend transformer --train data/ncbi-disease/train.tsv \
		--train data/bc5cdr/train.tsv --train data/biotext/train_sent \
		--dev data/ncbi-disease/devel.tsv --set 'labels=[DISEASE]' --set transformer.epochs=3 \
		--output $@ --no-track

# distillation into the fast CRF: a transformer (TEACHER) tags BC5CDR's train text (its own
# labels unused), and the CRF trains on NCBI train plus those silver DISEASE spans; compare with
# models/crf-ncbi on NCBI devel
TEACHER ?= models/transformer-ncbi-dapt
models/silver-bc5cdr.jsonl: | $(TEACHER)
	$(BIN)/medner extract --model $(TEACHER) --input data/bc5cdr/train.tsv --output $@ \
		--include-text

models/crf-ncbi-distilled: | models/silver-bc5cdr.jsonl
	$(BIN)/medner train --train data/ncbi-disease/train.tsv --train $| --output $@ --no-track

# prepare -> train -> evaluate -> register (DVC); runs and models tracked in MLflow (./mlflow)
pipeline: data
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///mlflow/mlflow.db}" \
		--default-artifact-root mlflow/artifacts --port $(MLFLOW_PORT)

clean:
	rm -rf $(VENV) runs models mlflow reports/plots data/prepared dvc_plots .pytest_cache .mypy_cache .ruff_cache
