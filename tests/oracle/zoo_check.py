"""The bioimage.io zoo's own checks on brightseg model folders: bioimageio.spec's format
validation with IO checks (files, hashes, test tensors against the axes) and bioimageio.core's
test_model on the ONNX weights (onnxruntime reproduces the test output from the test input, and
runs the model at the other sizes and batch sizes the description allows).

Usage: zoo_check.py FOLDER_OR_YAML...   Exit status 0 when every model passes both, 1 otherwise;
the zoo's report of each failing model goes to stdout.
"""

import os
import sys
from pathlib import Path

# Offline and quiet: the checks must not reach for the network or a conda installation.
os.environ.setdefault("BIOIMAGEIO_PERFORM_IO_CHECKS", "true")

from bioimageio.core import test_model  # noqa: E402
from bioimageio.spec import load_description  # noqa: E402


def card_of(path: Path) -> Path:
    if path.is_dir():
        for name in ("bioimageio.yaml", "rdf.yaml"):
            if (path / name).is_file():
                return path / name
    return path


def check(path: Path) -> bool:
    card = card_of(path)
    descr = load_description(card, perform_io_checks=True)
    summary = descr.validation_summary
    if summary.status not in ("valid-format", "passed"):
        print(f"{card}: format validation {summary.status}")
        print(summary.format())
        return False
    tested = test_model(card, weight_format="onnx")
    if tested.status != "passed":
        print(f"{card}: test_model {tested.status}")
        print(tested.format())
        return False
    details = [d for d in tested.details if d.name.startswith("Run onnx") or "Reproduce" in d.name]
    print(f"{card}: format {summary.status}, test_model passed ({len(details)} runs)")
    return True


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    results = [check(Path(p)) for p in sys.argv[1:]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
