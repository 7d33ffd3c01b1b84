# Every target installs what it needs, and no more, into .venv on its first run: `make demo`
# the store and the local S3 (the `testing` extra), `make bench` those and matplotlib
# (`bench`), `make pytest` the suite's (`test`), `make lint` ruff (`lint`), `make typecheck`
# mypy, the stubs and what the checked code imports (`typecheck`). The installer is uv (installed into the venv from the
# package index: a fresh `make test` installs in seconds instead of minutes); INSTALLER=pip
# uses plain pip instead, with the same requirements.
PYTHON ?= python3
INSTALLER ?= uv
VENV := .venv
BIN := $(VENV)/bin
# test-min: the lowest versions pyproject.toml allows (constraints/minimum.txt).
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed-stamp
MIN_CONSTRAINTS := constraints/minimum.txt
# test-min-aio: the async front end's suite at the `aio` extra's floors (aiobotocore needs
# a newer botocore than the store's own floor, so it has a venv of its own).
MIN_AIO_VENV := .venv-min-aio
MIN_AIO_STAMP := $(MIN_AIO_VENV)/.installed-stamp
MIN_AIO_CONSTRAINTS := constraints/minimum-aio.txt
MIN_AIO_EXTRAS := .[test,aio]# (a variable: `call` would split its comma)
# What test-min-aio runs: every test on the async front end, and the ones of asyncio alone.
AIO_TESTS := -k "async or cancellation or aiobotocore"
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
BACKEND_TESTS := tests/store/test_store_contract.py tests/store/test_races.py \
	tests/store/test_backends.py
ARGS ?=

# $(call install,VENV,PIP ARGUMENTS): create VENV if needed and install into it (the
# arguments hold no comma: make would split them there).
ifeq ($(INSTALLER),pip)
define install
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(2)
endef
else ifeq ($(INSTALLER),uv)
define install
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	test -x $(1)/bin/uv || $(1)/bin/python -m pip install --quiet uv
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python $(2)
endef
else
$(error INSTALLER must be uv or pip, not $(INSTALLER))
endif

.PHONY: test test-min test-min-aio test-localstack compat lint typecheck pytest demo bench mutation clean

# One stamp per extra (.stamp-testing, .stamp-bench, ...), so that each target installs
# only its own; each extra names the others it needs (pyproject.toml).
$(VENV)/.stamp-%: pyproject.toml
	$(call install,$(VENV),-e '.[$*]')
	touch $@

$(MIN_STAMP): pyproject.toml $(MIN_CONSTRAINTS)
	$(call install,$(MIN_VENV),-c $(MIN_CONSTRAINTS) -e '.[test]')
	touch $(MIN_STAMP)

$(MIN_AIO_STAMP): pyproject.toml $(MIN_AIO_CONSTRAINTS)
	$(call install,$(MIN_AIO_VENV),-c $(MIN_AIO_CONSTRAINTS) -e '$(MIN_AIO_EXTRAS)')
	touch $(MIN_AIO_STAMP)

$(MS_STAMP): $(MS_REQUIREMENTS)
	$(call install,$(MS_VENV),-r $(MS_REQUIREMENTS))
	touch $(MS_STAMP)

$(LS_STAMP): $(LS_REQUIREMENTS)
	$(call install,$(LS_VENV),-r $(LS_REQUIREMENTS))
	touch $(LS_STAMP)

test: lint typecheck pytest

lint: $(VENV)/.stamp-lint
	$(BIN)/ruff check .

typecheck: $(VENV)/.stamp-typecheck
	$(BIN)/mypy

pytest: $(VENV)/.stamp-test $(VENV)/.stamp-aio $(MS_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# pytest only (the `test` extra: ruff and the stubs are not installed there).
test-min: $(MIN_STAMP) $(MS_STAMP)
	$(MIN_VENV)/bin/pytest $(PYTEST_ARGS)

# The async front end at the `aio` extra's floors (constraints/minimum-aio.txt).
test-min-aio: $(MIN_AIO_STAMP) $(MS_STAMP)
	$(MIN_AIO_VENV)/bin/pytest $(AIO_TESTS) $(PYTEST_ARGS)

# The backend suites on LocalStack alone, its deviations from S3 asserted by name.
test-localstack: $(VENV)/.stamp-test $(LS_STAMP)
	S3STORE_BACKENDS=localstack $(BIN)/pytest $(BACKEND_TESTS) $(PYTEST_ARGS)

# The README's compatibility table, measured (LocalStack's row once test-localstack built it).
compat: $(VENV)/.stamp-test $(MS_STAMP)
	AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
		$(BIN)/python -m tests.compat $(ARGS)

# Mutation testing (long: not part of `make test`); `$(BIN)/mutmut results` lists survivors.
# mutmut runs the suite from a copy in mutants/: it is told where ministack is.
mutation: $(VENV)/.stamp-mutation $(MS_STAMP)
	S3STORE_MINISTACK=$(abspath $(MS_VENV))/bin/ministack $(BIN)/mutmut run $(ARGS)
	$(BIN)/mutmut results

demo: $(VENV)/.stamp-testing
	$(BIN)/s3store demo $(ARGS)

bench: $(VENV)/.stamp-bench $(VENV)/.stamp-aio
	$(BIN)/s3store bench $(ARGS)

clean:
	rm -rf $(VENV) $(MIN_VENV) $(MIN_AIO_VENV) $(MS_VENV) $(LS_VENV) mutants .mypy_cache .ruff_cache \
		.pytest_cache *.egg-info benchmarks/results
