# Every target installs what it needs into .venv on its first run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# test-min: the lowest versions pyproject.toml allows (constraints/minimum.txt).
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed-stamp
MIN_CONSTRAINTS := constraints/minimum.txt
# ministack, the second S3 server of the suite (tests/servers.py): its own venv, since it
# pins botocore to one exact version and the suite's botocore must be free to differ.
MS_VENV := .venv-ministack
MS_STAMP := $(MS_VENV)/.installed-stamp
MS_REQUIREMENTS := constraints/ministack.txt
# LocalStack (opt-in, not in .ci/run): its own venv too, pinned (constraints/localstack.txt).
LS_VENV := .venv-localstack
LS_STAMP := $(LS_VENV)/.installed-stamp
LS_REQUIREMENTS := constraints/localstack.txt
# The suites that run on every backend (S3STORE_BACKENDS, tests/servers.py).
BACKEND_TESTS := tests/test_store_contract.py tests/test_races.py tests/test_backends.py
ARGS ?=

.PHONY: test test-min test-localstack compat lint typecheck pytest demo bench mutation clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(MIN_STAMP): pyproject.toml $(MIN_CONSTRAINTS)
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet -c $(MIN_CONSTRAINTS) -e '.[test]'
	touch $(MIN_STAMP)

$(MS_STAMP): $(MS_REQUIREMENTS)
	test -x $(MS_VENV)/bin/python || $(PYTHON) -m venv $(MS_VENV)
	$(MS_VENV)/bin/python -m pip install --quiet -r $(MS_REQUIREMENTS)
	touch $(MS_STAMP)

$(LS_STAMP): $(LS_REQUIREMENTS)
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet -r $(LS_REQUIREMENTS)
	touch $(LS_STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(MS_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# pytest only: ruff, mypy and the stubs need not be at their minimum.
test-min: $(MIN_STAMP) $(MS_STAMP)
	$(MIN_VENV)/bin/pytest $(PYTEST_ARGS)

# The backend suites on LocalStack alone, its deviations from S3 asserted by name.
test-localstack: $(STAMP) $(LS_STAMP)
	S3STORE_BACKENDS=localstack $(BIN)/pytest $(BACKEND_TESTS) $(PYTEST_ARGS)

# The README's compatibility table, measured (LocalStack's row once test-localstack built it).
compat: $(STAMP) $(MS_STAMP)
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
		$(BIN)/python -m tests.compat $(ARGS)

# Mutation testing (long: not part of `make test`); `$(BIN)/mutmut results` lists survivors.
# mutmut runs the suite from a copy in mutants/: it is told where ministack is.
mutation: $(STAMP) $(MS_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	S3STORE_MINISTACK=$(abspath $(MS_VENV))/bin/ministack $(BIN)/mutmut run $(ARGS)
	$(BIN)/mutmut results

demo: $(STAMP)
	$(BIN)/python -m worker_integration.demo.run $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) $(MIN_VENV) $(MS_VENV) $(LS_VENV) mutants .mypy_cache .ruff_cache .pytest_cache *.egg-info
