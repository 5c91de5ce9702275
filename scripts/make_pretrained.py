"""Make the model that ships in the package: skdigitnet/data/pretrained.npz (+ .json).

The default seed network, 784-16-16-10 (13,002 weights and biases), trained through
``make_pipeline(DigitNormalizer(), DigitMLPClassifier(random_state=0))`` on the 60,000
MNIST training images and scored on the 10,000 test images. Only the classifier is saved
(with ``save_model``, float32, about 52 kB); ``load_pretrained()`` puts a
``DigitNormalizer()`` in front of it again, as the pipeline had it.
``pretrained.json`` beside it records the test accuracy and how the model was made.

Re-run it whenever ``DigitNormalizer`` changes (about a minute on 2 cores)::

    python scripts/make_pretrained.py [--data FOLDER] [--out FOLDER] [--random-state 0]

FOLDER holds MNIST's four IDX files (raw or .gz); the default is ../shared/data/mnist
beside the repository, else the folder in ``SKDIGITNET_DATA``.
"""

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist"


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("SKDIGITNET_DATA", DEFAULT_DATA),
                        help="folder of the MNIST IDX files (default: %(default)s)")
    parser.add_argument("--out", default=ROOT / "skdigitnet" / "data",
                        help="folder for pretrained.npz and pretrained.json")
    parser.add_argument("--random-state", type=int, default=0)
    return parser.parse_args(argv)


def without_history(clf):
    """``clf`` with its per-epoch history dropped (the loss curve, n_iter and stopping
    state stay): the history's JSON would take twice the room of the 13,002 weights."""
    from skdigitnet._neural_network.fitted import FittedNetwork
    from skdigitnet._neural_network.network import pack

    record = dataclasses.replace(clf._record, history=[])
    theta = pack(clf.coefs_, clf.intercepts_, clf.coefs_[0].dtype)
    clf._set_fitted(FittedNetwork(clf._arch, theta, clf.classes_, clf._target_kind, record))
    return clf


def main(argv=None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    from skdigitnet import (
        DigitMLPClassifier,
        DigitNormalizer,
        __version__,
        load_mnist,
        load_model,
        save_model,
    )

    args = _arguments(argv)
    X, y = load_mnist(args.data, subset="train", return_X_y=True)
    X_test, y_test = load_mnist(args.data, subset="test", return_X_y=True)
    pipe = make_pipeline(DigitNormalizer(), DigitMLPClassifier(random_state=args.random_state))
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    seconds = time.perf_counter() - tic
    clf = without_history(pipe[-1])
    if clf.coefs_[0].dtype != np.float32:
        raise SystemExit(f"expected float32 weights, got {clf.coefs_[0].dtype}")
    accuracy = float(pipe.score(X_test, y_test))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(clf, out / "pretrained.npz")
    reloaded = load_model(out / "pretrained.npz")
    same = np.array_equal(reloaded.predict_proba(pipe[0].transform(X_test[:500])),
                          pipe.predict_proba(X_test[:500]))
    info = {
        "data": "MNIST", "n_train": len(y), "n_test": len(y_test),
        "test_accuracy": round(accuracy, 4), "epochs": int(clf.n_iter_),
        "random_state": args.random_state, "fit_seconds": round(seconds, 1),
        "made_by": "python scripts/make_pretrained.py", "skdigitnet_version": __version__,
        "preprocessing": "DigitNormalizer() (normalize_images with its defaults)",
    }
    (out / "pretrained.json").write_text(json.dumps(info, indent=1) + "\n")
    size = (out / "pretrained.npz").stat().st_size
    print(clf.summary())
    print(f"MNIST test accuracy: {accuracy:.2%} after {clf.n_iter_} epochs, "
          f"fit {seconds:.1f} s (normalising included)")
    print(f"saved {out / 'pretrained.npz'} ({size / 1000:.1f} kB, "
          f"{clf.coefs_[0].dtype}); reloaded predictions identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
