"""The playground's server and API on 127.0.0.1: answers, bad requests, limits, threads.

The page itself is tested in a real browser in test_playground_browser.py. Nothing here
needs MNIST: the shipped model is inside the package.
"""

import hashlib
import http.client
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_digits as load_8x8
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdigitnet import (
    DigitMLPClassifier,
    DigitNormalizer,
    load_model,
    load_pretrained,
    normalize_images,
    serve,
)
from skdigitnet._playground.api import API_VERSION, Playground, _data, pretrained_info
from skdigitnet._playground.requests import MAX_BODY_BYTES
from skdigitnet._playground.server import MAX_CLIENTS, PlaygroundServer

from _playground_client import JSON, api, body, call, drawn, raw_request


@pytest.fixture(scope="module")
def model():
    return load_pretrained(with_normalizer=False)


@pytest.fixture(scope="module")
def server():
    """The shipped model served; ``model`` is another copy of it."""
    handle = serve(port=0, block=False)
    yield handle
    handle.stop()


def expected(clf, image, **options):
    """What the API must answer for ``image`` (values 0..255): normalise it as the server
    does (as floats in [0, 1]), then the model's own methods."""
    row = normalize_images([np.asarray(image) / 255], **options)
    return clf.predict_proba(row)[0], [a[0] for a in clf.layer_activations(row)[1:]], row[0]


# --- answers ----------------------------------------------------------------------------

def test_model_describes_the_network(server, model):
    status, reply = api(server, "GET", "/api/model")
    assert status == 200
    assert reply["api_version"] == API_VERSION == 1
    assert reply["layers"] == [784, 16, 16, 10]
    assert reply["activations"] == ["relu", "relu", "softmax"]
    assert reply["classes"] == list(range(10))
    assert (reply["n_parameters"], reply["n_weights"], reply["n_biases"]) == (13002, 12960, 42)
    assert reply["image_shape"] == [28, 28]
    assert reply["limits"] == {"max_body_bytes": 8388608, "max_side": 1024,
                               "max_weight_scale": 10.0, "max_epochs": 200,
                               "max_hidden_layers": 3, "max_hidden_units": 128,
                               "learning_rate": [1e-5, 1.0], "timeout_seconds": 10}
    assert reply["weights_version"] == 0 and reply["training_data"] == ["digits"]
    assert reply["about"]["data"] == "MNIST" and reply["about"]["test_accuracy"] >= 0.97
    # each neuron's 8 strongest incoming weights, per weight layer
    assert [len(layer) for layer in reply["connections"]] == [16 * 8, 16 * 8, 10 * 8]
    for W, layer in zip(model.coefs_, reply["connections"]):
        for source, target, weight in layer:
            assert weight == pytest.approx(float(W[source, target]))
            assert abs(weight) >= np.sort(np.abs(W[:, target]))[-8] - 1e-7


@pytest.mark.parametrize("rgba", [False, True], ids=["grey", "RGBA on transparent"])
def test_predict_is_normalize_images_then_the_model(server, model, rgba):
    image = drawn(3, rgba=rgba)
    status, reply = api(server, "POST", "/api/predict", body(image))
    assert status == 200
    proba, layers, row = expected(model, image)
    assert reply["blank"] is False
    assert reply["label"] == int(np.argmax(proba)) == 3
    np.testing.assert_array_equal(np.float32(reply["probabilities"]), proba)
    np.testing.assert_array_equal(np.float32(reply["image"]), row)
    assert [len(a) for a in reply["layers"]] == [16, 16, 10]
    for got, want in zip(reply["layers"], layers):
        np.testing.assert_array_equal(np.float32(got), want)


def test_a_blank_drawing_is_said_blank(server):
    status, reply = api(server, "POST", "/api/predict", body(np.full((30, 30), 255)))
    assert status == 200
    assert {k: reply[k] for k in ("blank", "label", "probabilities", "layers")} == {
        "blank": True, "label": None, "probabilities": None, "layers": None}
    assert reply["image"] == [0.0] * 784


def test_a_tap_is_said_blank(server):
    ys, xs = np.mgrid[:280, :280]  # a finger's tap on the canvas: a round dot
    tap = np.where(np.hypot(ys - 140, xs - 131) < 9, 0, 255)
    status, reply = api(server, "POST", "/api/predict", body(tap))
    assert status == 200
    assert (reply["blank"], reply["label"], reply["image"]) == (True, None, [0.0] * 784)


def test_neuron_gives_its_weights(server, model):
    status, reply = api(server, "GET", "/api/neuron?layer=0&index=3")
    assert status == 200
    assert (reply["layer"], reply["index"], reply["shape"]) == (0, 3, [28, 28])
    np.testing.assert_array_equal(np.float32(reply["weights"]), model.coefs_[0][:, 3])
    np.testing.assert_array_equal(np.float32(reply["outgoing"]), model.coefs_[1][3])
    assert reply["bias"] == float(model.intercepts_[0][3])
    assert reply["limit"] == float(np.abs(model.coefs_[0]).max())
    status, reply = api(server, "GET", "/api/neuron?layer=1&index=15")
    assert (status, reply["shape"], len(reply["outgoing"])) == (200, [4, 4], 10)


def _relu_softmax(coefs, intercepts, x):
    """The network by hand, as a reference: ReLU hidden layers, softmax output."""
    layers = []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = x @ W.astype(np.float64) + b
        x = np.maximum(z, 0) if i < len(coefs) - 1 else np.exp(z - z.max()) / np.exp(
            z - z.max()).sum()
        layers.append(x)
    return layers


def test_break_it_works_on_a_copy(server, model):
    shipped = hashlib.sha256(_data("pretrained.npz").read_bytes()).hexdigest()
    before = [c.copy() for c in model.coefs_]
    image = drawn(7)
    request = {"disabled": [[0, 2], [1, 5], [1, 5]], "biases": False, "weight_scale": 0.5}
    status, reply = api(server, "POST", "/api/predict", body(image, **{"break": request}))
    assert status == 200
    coefs = [0.5 * c.astype(np.float64) for c in model.coefs_]
    coefs[1][2], coefs[2][5] = 0, 0  # neuron 2 of hidden 1 and 5 of hidden 2: outputs cut
    by_hand = _relu_softmax(coefs, [0 * b for b in model.intercepts_],
                            normalize_images([image / 255])[0].astype(np.float64))
    for got, want in zip(reply["layers"], by_hand):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    proba, _, _ = expected(model, image)
    np.testing.assert_array_equal(np.float32(reply["intact"]["probabilities"]), proba)
    assert reply["intact"]["label"] == 7
    for c, b in zip(model.coefs_, before):  # the served model and its file are unchanged
        np.testing.assert_array_equal(c, b)
    assert hashlib.sha256(_data("pretrained.npz").read_bytes()).hexdigest() == shipped
    status, again = api(server, "POST", "/api/predict", body(image))
    np.testing.assert_array_equal(np.float32(again["probabilities"]), proba)


def test_what_a_neuron_adds_to_each_output(server, model):
    image = drawn(5)
    status, reply = api(server, "POST", "/api/predict", body(image, neuron=[1, 4]))
    assert status == 200
    info = reply["neuron"]
    a = reply["layers"][1][4]
    assert (info["layer"], info["index"], info["activation"]) == (1, 4, a)
    # last hidden layer: the output's weighted input loses exactly a * w
    np.testing.assert_allclose(info["output_change"], a * model.coefs_[2][4].astype(float),
                               rtol=1e-4, atol=1e-5)
    coefs = [c.astype(np.float64) for c in model.coefs_]
    coefs[2][4] = 0
    without = _relu_softmax(coefs, model.intercepts_,
                            np.float64(normalize_images([image / 255])[0]))
    np.testing.assert_allclose(info["probability_change"],
                               np.subtract(reply["probabilities"], without[-1]), atol=1e-5)


def test_static_page_is_local_and_locked_down(server):
    status, headers, raw = call(server.port, "GET", "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    scripts = [f"/{name}.js" for name in ("playground", "common", "network", "tools", "train")]
    for path, kind in (*((p, "text/javascript") for p in scripts), ("/playground.css",
                                                                      "text/css")):
        status, headers, text = call(server.port, "GET", path)
        assert (status, headers.get_content_type()) == (200, kind)
        raw += text
    page = raw.decode()
    # no CDN, nothing fetched from elsewhere (the SVG namespace is a name, not a fetch)
    assert "//" not in page.replace("http://www.w3.org/2000/svg", "").replace(
        "// ", "").replace("//\n", "")


# --- bad requests: a 4xx and one line of JSON, and the server keeps serving -------------

#: The start of a raw POST request, for what http.client would not send.
POST = b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
LIMITS = "the page is at / and the API under /api/ (see GET /api/model)"
BAD_REQUESTS = {
    "unknown path": ("GET", "/etc/passwd", None, None, 404,
                     f"no such path: /etc/passwd; {LIMITS}"),
    "wrong method": ("GET", "/api/predict", None, None, 405,
                     "GET is not allowed on /api/predict; use POST"),
    "DELETE": ("DELETE", "/api/model", None, None, 405,
               "DELETE is not allowed on /api/model; use GET"),
    "unknown method": ("BREW", "/", None, None, 501,
                       "not implemented: Unsupported method ('BREW')"),
    "no length": ("RAW", "", POST + b"Connection: close\r\n\r\n", None, 411,
                  "send the body with a Content-Length header"),
    "chunked": ("RAW", "", POST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                None, 411, "send the body with a Content-Length header"),
    "length not a number": ("RAW", "", POST + b"Content-Length: -5\r\n\r\n", None, 400,
                            "Content-Length must be a whole number; got '-5'"),
    "request line too long": ("RAW", "", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", None,
                              414, "uri too long: URI is too long"),
    "garbage": ("RAW", "", b"\x16\x03\x01 hello\r\n\r\n", None, 400,
                "bad request: Bad HTTP/0.9 request type ('\\x16\\x03\\x01')"),
    "not JSON content": ("POST", "/api/predict", b"width=28", {
        "Content-Type": "application/x-www-form-urlencoded"}, 415,
        "send the body as JSON, with Content-Type: application/json"),
    "malformed JSON": ("POST", "/api/predict", b'{"width": 28,', JSON, 400,
                       ("the body is not valid JSON: Expecting property name enclosed in "
                        "double quotes: line 1 column 14 (char 13)")),
    "not UTF-8": ("POST", "/api/predict", b'{"width": "\xff"}', JSON, 400,
                  "the body is not valid JSON: it is not UTF-8 text"),
    "NaN": ("POST", "/api/predict", b'{"width": 2, "height": 1, "pixels": [0, NaN]}', JSON,
            400, "the body is not valid JSON: NaN is not a JSON number"),
    "Infinity": ("POST", "/api/predict", b'{"pixels": [-Infinity]}', JSON, 400,
                 "the body is not valid JSON: -Infinity is not a JSON number"),
    "nested too deeply": ("POST", "/api/predict", b"[" * 100000, JSON, 400,
                          "the body is not valid JSON: it is nested too deeply"),
    "not an object": ("POST", "/api/predict", b"[1, 2]", JSON, 400,
                      ('the body must be a JSON object like {"width": 28, "height": 28, '
                       '"pixels": [...]}')),
    "unknown field": ("POST", "/api/predict", b'{"width": 1, "colour": 1}', JSON, 400,
                      ('unknown field "colour"; the fields are width, height, pixels, mode, '
                       "break, neuron, explain")),
    "missing pixels": ("POST", "/api/predict", b'{"width": 1, "height": 1}', JSON, 400,
                       'missing field "pixels"'),
    "width a string": ("POST", "/api/predict",
                       b'{"width": "28", "height": 28, "pixels": []}', JSON, 400,
                       '"width" must be a whole number from 1 to 1024; got "28"'),
    "height 0": ("POST", "/api/predict", b'{"width": 1, "height": 0, "pixels": []}', JSON,
                 400, '"height" must be a whole number from 1 to 1024; got 0'),
    "width 2.5": ("POST", "/api/predict", b'{"width": 2.5, "height": 1, "pixels": []}', JSON,
                  400, '"width" must be a whole number from 1 to 1024; got 2.5'),
    "image too big": ("POST", "/api/predict", b'{"width": 1025, "height": 1, "pixels": []}',
                      JSON, 413, "the image is 1025x1 pixels; the limit is 1024x1024"),
    "unknown mode": ("POST", "/api/predict",
                     b'{"width": 1, "height": 1, "pixels": [0], "mode": "CMYK"}', JSON, 400,
                     ('"mode" must be "L" (width*height grey values), "RGB" '
                      '(3*width*height values) or "RGBA" (4*width*height values); got '
                      '"CMYK"')),
    "pixels not a list": ("POST", "/api/predict",
                          b'{"width": 1, "height": 1, "pixels": "0"}', JSON, 400,
                          '"pixels" must be a list of numbers; got a string'),
    "wrong size": ("POST", "/api/predict", b'{"width": 2, "height": 2, "pixels": [0, 0, 0]}',
                   JSON, 400, '"pixels" has 3 values; a 2x2 L image needs 4'),
    "wrong size RGBA": ("POST", "/api/predict",
                        b'{"width": 2, "height": 1, "pixels": [0, 0], "mode": "RGBA"}', JSON,
                        400, '"pixels" has 2 values; a 2x1 RGBA image needs 8'),
    "a string pixel": ("POST", "/api/predict", b'{"width": 2, "height": 1, "pixels": [0, "1"]}',
                       JSON, 400, '"pixels" must hold numbers only; found a string'),
    "a boolean pixel": ("POST", "/api/predict",
                        b'{"width": 2, "height": 1, "pixels": [0, true]}', JSON, 400,
                        '"pixels" must hold numbers only; found a boolean'),
    "a null pixel": ("POST", "/api/predict", b'{"width": 2, "height": 1, "pixels": [0, null]}',
                     JSON, 400, '"pixels" must hold numbers only; found null'),
    "nested pixels": ("POST", "/api/predict",
                      b'{"width": 2, "height": 1, "pixels": [[0], [1]]}', JSON, 400,
                      '"pixels" must hold numbers only; found a list'),
    "pixel over 255": ("POST", "/api/predict", b'{"width": 2, "height": 1, "pixels": [0, 256]}',
                       JSON, 400, '"pixels" must be numbers from 0 to 255'),
    "negative pixel": ("POST", "/api/predict",
                       b'{"width": 2, "height": 1, "pixels": [-0.5, 1]}', JSON, 400,
                       '"pixels" must be numbers from 0 to 255'),
    "huge integer": ("POST", "/api/predict",
                     b'{"width": 1, "height": 1, "pixels": [' + b"9" * 400 + b"]}", JSON, 400,
                     '"pixels" must be numbers from 0 to 255'),
    "break not an object": ("POST", "/api/predict",
                            b'{"width": 1, "height": 1, "pixels": [0], "break": 1}', JSON, 400,
                            '"break" must be an object; got a number'),
    "unknown break field": ("POST", "/api/predict",
                            b'{"width": 1, "height": 1, "pixels": [0], "break": {"noise": 1}}',
                            JSON, 400, ('unknown field "break.noise"; the fields are disabled, '
                                        "biases, weight_scale")),
    "no such neuron to disable": (
        "POST", "/api/predict",
        b'{"width": 1, "height": 1, "pixels": [0], "break": {"disabled": [[2, 0]]}}', JSON,
        400, ('"break.disabled" must hold [layer, index] pairs of hidden neurons (layer 0 to '
              "1, index 0 to 15); got [2, 0]")),
    "biases not a boolean": (
        "POST", "/api/predict",
        b'{"width": 1, "height": 1, "pixels": [0], "break": {"biases": 0}}', JSON, 400,
        '"break.biases" must be true or false; got 0'),
    "weight scale too big": (
        "POST", "/api/predict",
        b'{"width": 1, "height": 1, "pixels": [0], "break": {"weight_scale": 11}}', JSON,
        400, '"break.weight_scale" must be a number from 0 to 10; got 11'),
    "neuron out of range": (
        "POST", "/api/predict", b'{"width": 1, "height": 1, "pixels": [0], "neuron": [0, 16]}',
        JSON, 400, ('"neuron" must be [layer, index] of a hidden neuron (layer 0 to 1, index 0 '
                    "to 15); got [0, 16]")),
    "neuron without index": ("GET", "/api/neuron?layer=0", None, None, 400,
                             ("/api/neuron takes a hidden neuron's layer and index, e.g. "
                              "?layer=0&index=3")),
    "neuron not a number": ("GET", "/api/neuron?layer=0&index=-1", None, None, 400,
                            ("/api/neuron takes a hidden neuron's layer and index, e.g. "
                             "?layer=0&index=3; got layer='0', index='-1'")),
    "no such neuron": ("GET", "/api/neuron?layer=2&index=0", None, None, 404,
                       ("no hidden neuron layer=2, index=0; this network has layer 0 to 1, "
                        "index 0 to 15")),
    "another host": ("GET", "/api/model", None, {"Host": "evil.example:80"}, 403, None),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_a_4xx_and_one_line_of_json(server, case):
    method, path, data, headers, status, message = BAD_REQUESTS[case]
    if message is None:  # names the port, which changes
        message = (f"unexpected Host header 'evil.example:80'; open "
                   f"http://127.0.0.1:{server.port}/")
    if method == "RAW":
        head, raw = raw_request(server.port, data).split("\r\n\r\n", 1)
        got, raw = int(head.split()[1]), raw.encode()
        assert "Content-Type: application/json\r\n" in head
    else:
        got, response_headers, raw = call(server.port, method, path, data, headers)
        assert response_headers["Content-Type"] == "application/json"
    assert (got, json.loads(raw)) == (status, {"error": message})
    assert b"\n" not in raw
    assert api(server, "GET", "/api/model")[0] == 200  # and the server keeps serving


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                  b"application/json\r\nContent-Length: 9000000\r\n\r\n{")
        reply = ""
        while not reply.endswith("}"):  # answered with 8,999,999 bytes never sent
            reply += s.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413 ")
    assert reply.endswith('\r\n\r\n{"error":"the body has 9,000,000 bytes; the limit is '
                          '8,388,608"}')
    # a client that sends it all anyway reads the answer, not a reset connection
    status, _, raw = call(server.port, "POST", "/api/predict", b" " * (MAX_BODY_BYTES + 1))
    assert status == 413 and json.loads(raw)["error"].startswith("the body has 8,388,609")


def test_a_slow_client_times_out(model):
    server = PlaygroundServer(Playground(model), port=0, timeout=0.3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      b"application/json\r\nContent-Length: 100\r\n\r\n{")
            reply = ""
            while not reply.endswith("}"):
                reply += s.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 408 ")
        assert reply.endswith('{"error":"the body did not arrive within 0.3 s"}')
    finally:
        server.shutdown()
        server.server_close()



def test_a_client_that_resets_its_connection_is_no_error(model, capfd):
    server = PlaygroundServer(Playground(model), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line yet
        time.sleep(0.2)  # the server is reading the headers
        linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)  # on, 0 s
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.close()  # a reset, not a close
        time.sleep(0.3)
        status, _, _ = call(server.port, "GET", "/api/model")  # and it serves on
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200
    assert "Traceback" not in capfd.readouterr().err


# --- many clients at once ---------------------------------------------------------------

def test_many_clients_at_once_are_all_answered(server, model):
    images = [drawn(i, scale=6) for i in range(8)]
    wants = [expected(model, image)[0] for image in images]
    bodies = [body(image) for image in images]
    assert MAX_CLIENTS >= 8

    def client(k):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        answers = []
        for n in range(25):  # one keep-alive connection per client
            i = (k + n) % 8
            connection.request("POST", "/api/predict", bodies[i], JSON)
            response = connection.getresponse()
            answers.append((i, response.status, json.loads(response.read())))
        connection.close()
        return answers

    tic = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = [a for answers in pool.map(client, range(8)) for a in answers]
    seconds = time.perf_counter() - tic
    assert len(results) == 200
    for i, status, reply in results:
        assert status == 200
        np.testing.assert_array_equal(np.float32(reply["probabilities"]), wants[i])
    assert seconds < 30, f"200 requests from 8 clients took {seconds:.1f} s"


# --- serve() from Python ----------------------------------------------------------------

def test_serve_from_python_returns_a_handle(model, capsys):
    with serve(model, port=0, block=False) as handle:
        assert capsys.readouterr().out == (f"skdigitnet playground: {handle.url} (call "
                                           ".stop() to stop it)\n")
        assert handle.url == f"http://127.0.0.1:{handle.port}/" and handle.running
        assert repr(handle) == f"<skdigitnet playground at {handle.url}>"
        assert f'<iframe src="{handle.url}"' in handle._repr_html_()
        with pytest.raises(OSError, match=(f"cannot listen on 127.0.0.1:{handle.port}: "
                                           "Address already in use; choose another port "
                                           r"\(0 picks a free one\)")):
            serve(model, port=handle.port, block=False)
    assert not handle.running and repr(handle).endswith("(stopped)>")
    handle.stop()  # again: nothing happens
    with pytest.raises(ConnectionRefusedError):
        call(handle.port, "GET", "/api/model")


def test_stop_ends_the_connections_a_browser_keeps_open(model, capsys):
    handle = serve(model, port=0, block=False)
    kept = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=5)
    kept.request("GET", "/api/model")
    assert kept.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    handle.stop()
    # the request or the reading of its reply fails, depending on timing
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):  # noqa: PT012
        kept.request("GET", "/api/model")
        kept.getresponse().read()


def test_serve_uses_the_pipelines_normalizer(model):
    pipe = make_pipeline(DigitNormalizer(deskew=False, box_size=16), model)
    with serve(pipe, port=0, block=False) as handle:
        _, reply = api(handle, "GET", "/api/model")
        image = drawn(2)
        _, predicted = api(handle, "POST", "/api/predict", body(image))
    assert reply["normalize_images"] == {"polarity": "auto", "threshold": 0.1,
                                         "box_size": 16, "size": 28, "deskew": False}
    proba, _, row = expected(model, image, deskew=False, box_size=16)
    np.testing.assert_array_equal(np.float32(predicted["image"]), row)
    np.testing.assert_array_equal(np.float32(predicted["probabilities"]), proba)


def test_serve_refuses_what_it_cannot_show(model):
    with pytest.raises(TypeError, match=(r"^The page shows the image the network sees, so "
                                         "the pipeline may hold one DigitNormalizer before "
                                         "the DigitMLPClassifier only; step 'standardscaler' "
                                         r"is a StandardScaler\.$")):
        serve(make_pipeline(StandardScaler(), model), port=0, block=False)
    with pytest.raises(TypeError, match=(r"^serve takes a fitted DigitMLPClassifier or a "
                                         r"Pipeline ending in one; got StandardScaler\.$")):
        serve(StandardScaler(), port=0, block=False)
    with pytest.raises(NotFittedError):
        serve(DigitMLPClassifier(), port=0, block=False)
    X, y = load_8x8(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small = DigitMLPClassifier(max_iter=2).fit(X[:50] / 16, y[:50])
    with pytest.raises(ValueError, match=(r"^The classifier takes 64 inputs, not the 28x28 = "
                                          r"784 pixels of a normalised image\.$")):
        serve(small, port=0, block=False)


def test_the_shipped_model(model):
    assert [c.dtype for c in model.coefs_] == [np.float32] * 3
    assert sum(c.size for c in model.coefs_ + model.intercepts_) == 13002
    assert _data("pretrained.npz").stat().st_size < 80_000
    info = pretrained_info()
    assert info["test_accuracy"] >= 0.97 and info["made_by"].endswith("make_pretrained.py")
    assert load_pretrained(with_normalizer=False) is not model  # a new estimator each time


def test_the_shipped_model_reads_raw_images_as_they_come(model):
    # the pipeline it was trained as: raw 8-bit images in, each normalised first
    pipe = load_pretrained()
    assert [type(step).__name__ for step in pipe] == ["DigitNormalizer", "DigitMLPClassifier"]
    assert pipe[0].get_params() == DigitNormalizer().get_params()
    for c, d in zip(pipe[-1].coefs_, model.coefs_):
        np.testing.assert_array_equal(c, d)
    raw = np.stack([np.uint8(drawn(digit)) for digit in (3, 7)])  # dark ink on light paper
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = pipe.predict_proba(raw.reshape(2, -1))
    np.testing.assert_array_equal(
        proba, model.predict_proba(normalize_images(list(raw))))
    assert list(pipe.predict(raw.reshape(2, -1))) == [3, 7]


# --- the command line ----------------------------------------------------------------------

def test_serve_command_prints_the_url_and_stops_on_ctrl_c(tmp_path):
    # a shell's background job ignores SIGINT, and a child inherits that (Python then
    # leaves Ctrl-C ignored): start the server with Python's own handler, as from a terminal
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen([sys.executable, "-m", "skdigitnet", "serve", "--port", "0"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, before)
    try:
        line = process.stdout.readline()
        assert line.startswith("skdigitnet playground: http://127.0.0.1:")
        assert line.endswith("/ (Ctrl-C stops it)\n")
        url = line.split()[2]
        status, _, raw = call(url, "GET", "/api/model")
        assert status == 200 and json.loads(raw)["about"]["data"] == "MNIST"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert (process.returncode, out, err) == (0, "", "skdigitnet playground: stopped\n")


@pytest.mark.parametrize("argv, message", [
    (["serve", "model.npz", "--train"], "give a MODEL file or --train, not both"),
    (["serve", "--port", "70000"], "--port must be from 0 to 65535; got 70000"),
    (["--epochs", "3", "serve"], "--epochs applies to serve --train only"),
    (["serve", "m.npz", "--hidden", "8"], "--hidden applies to serve --train only"),
    (["predict", "model.npz"], "give image files after the model file model.npz"),
    (["predict", "seven.png", "run/model.npz"], ("run/model.npz is a model file given after "
     "the image seven.png: the model goes first, once (predict MODEL.npz IMAGE...)")),
    (["predict", "a.npz", "seven.png", "b.NPZ"], ("b.NPZ is a model file given after another "
     "model file: the model goes first, once (predict MODEL.npz IMAGE...)")),
])
def test_serve_and_predict_usage_errors(argv, message, capsys):
    from skdigitnet._cli.main import main
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"skdigitnet: error: {message} (see ")


def test_predict_without_a_model_uses_the_shipped_one(tmp_path, capsys):
    from PIL import Image

    from skdigitnet._cli.main import main
    Image.fromarray(np.uint8(drawn(3))).save(tmp_path / "three.png")
    assert main(["predict", str(tmp_path / "three.png")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'three.png'}: 3 (")


@pytest.fixture
def served(monkeypatch):
    """``serve`` replaced by a recorder: what the command line would serve, and how."""
    calls = []
    monkeypatch.setattr("skdigitnet._playground.serve.serve",
                        lambda estimator, **kwargs: calls.append((estimator, kwargs)))
    return calls


def test_serve_command_without_a_model_serves_the_shipped_one(served):
    from skdigitnet._cli.main import main
    assert main(["serve", "--port", "0"]) == 0
    assert served == [(None, {"host": "127.0.0.1", "port": 0, "open_browser": False,
                              "data_home": None})]


def test_serve_data_home_offers_mnist_to_the_page(served, tmp_path):
    from skdigitnet._cli.main import main
    assert main(["serve", "--data-home", str(tmp_path)]) == 0
    assert served == [(None, {"host": "127.0.0.1", "port": 8765, "open_browser": False,
                              "data_home": str(tmp_path)})]


def test_serve_no_deskew_normalises_without_deskewing(served):
    from skdigitnet._cli.main import main
    assert main(["serve", "--no-deskew"]) == 0
    (pipe, kwargs), = served
    assert pipe[0].deskew is False and pipe[1].n_features_in_ == 784
    assert kwargs["port"] == 8765


def test_serve_train_trains_as_train_does_without_mnist(served, monkeypatch, capsys, tmp_path):
    from skdigitnet._cli.main import main
    monkeypatch.delenv("SKDIGITNET_DATA", raising=False)
    options = ["--hidden", "12", "--activation", "logistic", "--epochs", "7"]
    assert main(["serve", "--train", *options]) == 0
    (pipe, _), = served
    clf = pipe[-1]
    assert isinstance(clf, DigitMLPClassifier) and clf.n_features_in_ == 784
    assert pipe[0].deskew is True
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("skdigitnet: training 784-12-10 (logistic) on the bundled digits for up "
                      "to 7 epochs (serve --train)")
    assert err[-1].startswith("skdigitnet: trained: ") and "test accuracy after 7" in err[-1]
    # the same network, weights and all, as 'train' makes with the same options
    assert main(["train", *options, "--quiet", "--out", str(tmp_path)]) == 0
    trained = load_model(tmp_path / "model.npz")
    assert (clf.hidden_layer_sizes, clf.activation, clf.n_iter_) == ((12,), "logistic", 7)
    for c, d in zip(clf.coefs_, trained.coefs_):
        np.testing.assert_array_equal(c, d)
