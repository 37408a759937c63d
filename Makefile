# make demo: refine the embedded example image (installs what is missing first)
# make test: the test suite
PYTHON ?= python3

.PHONY: install demo test
install:
	PYTHON=$(PYTHON) bash tools/install.sh

demo: install
	$(PYTHON) demo/inference_img.py

test: install
	$(PYTHON) -m pytest tests -q
