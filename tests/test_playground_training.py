"""Training from the page: the background session, its snapshots, and /api/train."""

import json
import threading
import time

import numpy as np
import pytest

from skdigitnet import (
    DigitMLPClassifier,
    load_model,
    load_pretrained,
    normalize_images,
    serve,
)
from skdigitnet._datasets import MNIST_FILES
from skdigitnet._playground.training import (
    BATCH,
    Dataset,
    TrainingSession,
    TrainSettings,
    load_dataset,
)

from _playground_client import JSON, api, assert_refused, body, call, drawn


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", ())


class Recorder:
    """A ``publish`` that keeps every snapshot, as the playground would show it."""

    def __init__(self):
        self.published, self.lock = [], threading.Lock()

    def __call__(self, clf, about):
        with self.lock:
            self.published.append((clf, about))
            return len(self.published)


def _wait(session, timeout=60):
    deadline = time.monotonic() + timeout
    while session.running:
        assert time.monotonic() < deadline, session.status()
        time.sleep(0.01)
    return session.status()


def test_every_snapshot_is_the_network_between_two_chunks(digits):
    """The published weights are exactly those of a replay by partial_fit, one batch of
    rows at a time in the same order, at the same number of samples seen (t_)."""
    recorder = Recorder()
    session = TrainingSession(recorder, lambda name: digits)
    settings = TrainSettings(hidden=(12, 8), activation="sigmoid", learning_rate=0.01,
                             epochs=3, random_state=4)
    session.start(settings)
    status = _wait(session)
    assert status["state"] == "done" and status["epoch"] == 3 and status["epochs"] == 3
    assert len(status["loss_curve"]) == len(status["test_accuracy"]) == len(
        status["curve_epochs"]) == len(recorder.published)
    assert status["curve_epochs"][-1] == 3.0 and status["weights_version"] == len(
        recorder.published)
    seen = {int(clf.t_): clf for clf, _ in recorder.published}
    replay = DigitMLPClassifier((12, 8), "logistic", learning_rate_init=0.01, random_state=4)
    rng, n, matched = np.random.RandomState(4), len(digits.y_train), 0
    for _ in range(3):
        order = rng.permutation(n)
        for start in range(0, n, BATCH):
            rows = order[start : start + BATCH]
            replay.partial_fit(digits.X_train[rows], digits.y_train[rows],
                               classes=np.arange(10))
            if replay.t_ in seen:
                for a, b in zip(seen[replay.t_].coefs_ + seen[replay.t_].intercepts_,
                                replay.coefs_ + replay.intercepts_):
                    np.testing.assert_array_equal(a, b)
                matched += 1
    assert matched == len(seen) >= 3
    final, about = recorder.published[-1]
    assert status["test_accuracy"][-1] == final.score(digits.X_test, digits.y_test)
    assert about["data"] == "the bundled digits" and about["epochs"] == 3.0


def test_the_bundled_digits_are_learned_to_90_percent(digits):
    session = TrainingSession(Recorder(), lambda name: digits)
    session.start(TrainSettings(epochs=12))
    status = _wait(session)
    assert status["state"] == "done" and status["test_accuracy"][-1] >= 0.9
    assert status["loss_curve"][-1] < status["loss_curve"][0]
    assert (status["n_train"], status["n_test"]) == (1347, 450)


def test_stop_ends_training_after_the_chunk_in_progress(digits):
    recorder = Recorder()
    session = TrainingSession(recorder, lambda name: digits)
    session.start(TrainSettings(epochs=200))
    with pytest.raises(RuntimeError, match="a training is running"):
        session.start(TrainSettings())
    while not recorder.published:
        time.sleep(0.01)
    status = session.stop()
    assert status["state"] == "stopped" and not session.running
    assert status["epoch"] < 200 and status["weights_version"] == len(recorder.published)
    last = recorder.published[-1][0]
    assert last.t_ % len(digits.y_train) % BATCH == 0  # whole batches of an epoch
    session.start(TrainSettings(epochs=1))  # and it can start again
    assert _wait(session)["state"] == "done"


def test_a_failure_is_reported():
    def broken(name):
        raise OSError("no data here")
    session = TrainingSession(Recorder(), broken)
    session.start(TrainSettings())
    status = _wait(session)
    assert status["state"] == "failed" and status["error"] == "OSError: no data here"


def test_mnist_is_loaded_by_subset_and_normalised(tmp_path):
    from sklearn.datasets import load_digits as load_8x8
    digits = load_8x8()
    images = np.stack([np.pad(np.kron(im, np.ones((3, 3))), 2) * 255 / 16
                       for im in digits.images[:60]]).astype(np.uint8)
    for part, rows in (("train", slice(0, 50)), ("test", slice(50, 60))):
        for kind, array in (("images", images[rows]), ("labels", digits.target[rows])):
            header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
            (tmp_path / MNIST_FILES[f"{part}_{kind}"]).write_bytes(
                header + np.ascontiguousarray(array, np.uint8).tobytes())
    data = load_dataset("mnist", (("deskew", False),), str(tmp_path))
    assert isinstance(data, Dataset)
    assert data.X_train.shape == (50, 784) and data.X_test.shape == (10, 784)
    assert data.X_train.min() >= 0 and data.X_train.max() == 1
    np.testing.assert_array_equal(data.y_test, digits.target[50:60])
    with serve(port=0, block=False, data_home=tmp_path) as handle:
        assert api(handle, "GET", "/api/model")[1]["training_data"] == ["digits", "mnist"]


# --- the API -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    handle = serve(port=0, block=False)
    yield handle
    handle.stop()


@pytest.fixture
def fresh_server():
    """A server that has trained nothing yet."""
    handle = serve(port=0, block=False)
    yield handle
    handle.stop()


def _poll(server, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status = api(server, "GET", "/api/train")[1]
        if status["state"] != "running":
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_train_from_the_api_and_save_the_model(fresh_server, tmp_path):
    server = fresh_server
    status, reply = api(server, "GET", "/api/train")
    assert (status, reply["state"], reply["weights_version"]) == (200, "idle", 0)
    request = {"data": "digits", "hidden": [16, 16], "activation": "relu",
               "learning_rate": 0.003, "epochs": 8}
    status, reply = api(server, "POST", "/api/train", json.dumps(request).encode())
    assert status == 202 and reply["state"] == "running"
    assert {k: reply[k] for k in request} == request
    final = _poll(server)
    assert final["state"] == "done" and final["test_accuracy"][-1] >= 0.9
    model = api(server, "GET", "/api/model")[1]
    assert model["weights_version"] == final["weights_version"] > 0
    assert model["about"]["data"] == "the bundled digits"
    status, headers, raw = call(server.port, "POST", "/api/train/save", b"", {})
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == 'attachment; filename="model.npz"'
    (tmp_path / "model.npz").write_bytes(raw)
    saved = load_model(tmp_path / "model.npz")
    image = drawn(3)
    _, reply = api(server, "POST", "/api/predict", body(image))
    row = normalize_images([image / 255])
    np.testing.assert_array_equal(np.float32(reply["probabilities"]), saved.predict_proba(row)[0])
    assert reply["weights_version"] == final["weights_version"]
    weights = api(server, "GET", "/api/weights")[1]
    np.testing.assert_allclose(weights["neurons"], saved.coefs_[0].T, atol=5e-5)
    assert weights["weights_version"] == final["weights_version"]


def test_predictions_are_answered_while_training(server):
    api(server, "POST", "/api/train", b'{"epochs": 200}')
    image = body(drawn(5))
    versions, states = [], []
    for _ in range(25):
        status, reply = api(server, "POST", "/api/predict", image)
        assert status == 200 and reply["label"] is not None
        assert sum(reply["probabilities"]) == pytest.approx(1, abs=1e-5)
        versions.append(reply["weights_version"])
        states.append(api(server, "GET", "/api/train")[1]["state"])
        time.sleep(0.02)
    assert set(states) == {"running"}  # every answer came while the training ran
    assert versions == sorted(versions) and len(set(versions)) >= 3  # and the weights moved
    status, reply = api(server, "POST", "/api/train/stop", b"{}")
    assert status == 200 and reply["state"] == "stopped"


def test_a_second_training_is_refused_while_one_runs(server):
    api(server, "POST", "/api/train", b'{"epochs": 200}')
    assert_refused(server.port, "POST", "/api/train", b"{}", JSON, 409,
                   "a training is already running; wait for it, or stop it with POST "
                   "/api/train/stop")
    assert api(server, "POST", "/api/train/stop", b"")[1]["state"] == "stopped"


def test_the_served_model_is_saved_before_any_training(fresh_server, tmp_path):
    status, _, raw = call(fresh_server.port, "POST", "/api/train/save", b"{}", JSON)
    assert status == 200
    (tmp_path / "model.npz").write_bytes(raw)
    saved, shipped = load_model(tmp_path / "model.npz"), load_pretrained(with_normalizer=False)
    for a, b in zip(saved.coefs_, shipped.coefs_):
        np.testing.assert_array_equal(a, b)


TRAIN_ERRORS = {
    "unknown field": (b'{"optimizer": "sgd"}', 400, ('unknown field "optimizer"; the fields '
                      "are data, hidden, activation, learning_rate, epochs, random_state")),
    "no MNIST here": (b'{"data": "mnist"}', 400, ('"data" must be "digits" on this server; got '
                      '"mnist" (MNIST: start the server with --data-home FOLDER or '
                      "SKDIGITNET_DATA naming the folder of its IDX files)")),
    "unknown data": (b'{"data": "cifar"}', 400,
                     '"data" must be "digits" on this server; got "cifar"'),
    "hidden empty": (b'{"hidden": []}', 400, ('"hidden" must be a list of 1 to 3 layer sizes, '
                     "each from 1 to 128, e.g. [16, 16]; got []")),
    "hidden too wide": (b'{"hidden": [16, 129]}', 400, ('"hidden" must be a list of 1 to 3 '
                        "layer sizes, each from 1 to 128, e.g. [16, 16]; got [16, 129]")),
    "hidden a number": (b'{"hidden": 16}', 400, ('"hidden" must be a list of 1 to 3 layer '
                        "sizes, each from 1 to 128, e.g. [16, 16]; got 16")),
    "activation": (b'{"activation": "tanh"}', 400,
                   '"activation" must be "sigmoid" or "relu"; got "tanh"'),
    "learning rate 0": (b'{"learning_rate": 0}', 400,
                        '"learning_rate" must be a number from 1e-05 to 1; got 0'),
    "learning rate a string": (b'{"learning_rate": "0.1"}', 400,
                               '"learning_rate" must be a number from 1e-05 to 1; got "0.1"'),
    "epochs 0": (b'{"epochs": 0}', 400, '"epochs" must be a whole number from 1 to 200; got 0'),
    "epochs 2.5": (b'{"epochs": 2.5}', 400,
                   '"epochs" must be a whole number from 1 to 200; got 2.5'),
    "random state": (b'{"random_state": -1}', 400,
                     '"random_state" must be a whole number from 0 to 2147483647; got -1'),
    "not an object": (b"[]", 400, ('the body must be a JSON object like {"width": 28, '
                      '"height": 28, "pixels": [...]}')),
}


@pytest.mark.parametrize("case", list(TRAIN_ERRORS))
def test_bad_training_requests_get_a_4xx_and_one_line_of_json(server, case):
    data, status, message = TRAIN_ERRORS[case]
    before = api(server, "GET", "/api/train")[1]
    assert_refused(server.port, "POST", "/api/train", data, JSON, status, message)
    assert api(server, "GET", "/api/train")[1] == before  # nothing started


@pytest.mark.parametrize("path, data, status, message", [
    ("/api/train/stop", b'{"now": true}', 400,
     "/api/train/stop takes no fields; send an empty body or {}"),
    ("/api/train/save", b'{"name": "x"}', 400,
     "/api/train/save takes no fields; send an empty body or {}"),
    ("/api/train/save", b"{", 400, ("the body is not valid JSON: Expecting property name "
     "enclosed in double quotes: line 1 column 2 (char 1)")),
    ("/api/train", None, 405, "DELETE is not allowed on /api/train; use GET or POST"),
    ("/api/weights", None, 405, "DELETE is not allowed on /api/weights; use GET"),
])
def test_bad_stop_save_and_methods(server, path, data, status, message):
    method = "POST" if data is not None else "DELETE"
    assert_refused(server.port, method, path, data, JSON if data else None, status, message)


def test_stop_without_a_training_says_idle(fresh_server):
    assert api(fresh_server, "POST", "/api/train/stop", b"")[1]["state"] == "idle"
