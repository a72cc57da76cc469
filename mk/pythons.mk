# mk/pythons.mk - the Python profile tests on every supported CPython (#11).
#
#   make test-pythons   for each interpreter below: a venv, `pip install .` of
#                       this checkout, and tests/python_versions/run.sh (walker,
#                       CPU/wall, threads, fork, exceptions, locks, memory,
#                       auto-start, upload) on 3.9, 3.10, 3.12-3.15.
#                       REFUSED_PYTHONS (none today: the only older pyenv
#                       build, 3.8, has no setuptools >= 77 to read the
#                       package's metadata with) must be refused by pip.
#                       3.11 is the default interpreter of `make test-python`,
#                       which runs the whole suite.
#
# The pyenv builds come with this machine image (PYENV_VERSIONS); CPython
# 3.14/3.15 are Debian's, in the forky-python chroot (made once, reused).
# Measured on 2 shared cores: about 170 s per tested version (3.10.13: 135 s,
# venv and pip included), 15 s per refusing one.

PYENV_VERSIONS ?= $(HOME)/.pyenv/versions
HOST_PYTHONS ?= 3.9.18 3.10.13 3.12.1 3.13.0
REFUSED_PYTHONS ?=
CHROOT_PYTHONS ?= 3.14 3.15
PYTHONS_DIR := build/pythons
CHROOT := tests/chroot/chroot.sh

.PHONY: test-pythons test-pythons-host test-pythons-chroot

test-pythons: test-pythons-host test-pythons-chroot

test-pythons-host: deps $(GEN)/profile.pb-c.c
	@for v in $(HOST_PYTHONS); do m=$${v%.*}; py=$(PYENV_VERSIONS)/$$v/bin/python$$m; \
	  [ -x $$py ] || { echo "test-pythons: $$py is missing (pyenv build of CPython $$v)"; exit 1; }; \
	  tests/python_versions/run.sh $$py $(PYTHONS_DIR)/$$m || exit 1; done
	@for v in $(REFUSED_PYTHONS); do m=$${v%.*}; py=$(PYENV_VERSIONS)/$$v/bin/python$$m; \
	  [ -x $$py ] || { echo "test-pythons: $$py is missing (pyenv build of CPython $$v)"; exit 1; }; \
	  tests/python_versions/run.sh --refuses $$py $(PYTHONS_DIR)/$$m || exit 1; done

test-pythons-chroot: deps $(GEN)/profile.pb-c.c
	$(CHROOT) ensure forky-python >/dev/null
	@for m in $(CHROOT_PYTHONS); do \
	  $(CHROOT) run forky-python --bind $(CURDIR) $(if $(wildcard /usr/local/go/bin/go),--bind /usr/local/go) -- \
	    env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin \
	    tests/python_versions/run.sh python$$m $(PYTHONS_DIR)/chroot-$$m || exit 1; done

test: test-pythons

# Sampler CPU per thread-sample per CPython (bench/python_versions.py), on the
# venvs test-pythons made; not part of `make test`.
.PHONY: bench-pythons
bench-pythons: python
	$(VPY) bench/python_versions.py $(VENV) $(foreach v,$(HOST_PYTHONS),$(PYTHONS_DIR)/$(basename $(v)))
	$(CHROOT) run forky-python --bind $(CURDIR) -- build/pythons/chroot-3.14/bin/python bench/python_versions.py \
	  $(foreach m,$(CHROOT_PYTHONS),$(PYTHONS_DIR)/chroot-$(m))
