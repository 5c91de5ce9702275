"""What the playground's API tests share: images as drawings, requests, bad requests.

A helper module of the tests (not collected: no test in it).
"""

import http.client
import json
import socket

import numpy as np
from sklearn.datasets import load_digits as load_8x8

JSON = {"Content-Type": "application/json"}


def drawn(index, scale=10, rgba=False):
    """Bundled digit ``index`` as a drawing: white paper, dark ink, ``scale`` times the
    8x8 size; as RGBA, black ink on transparent paper (as a canvas stores it)."""
    ink = np.kron(load_8x8().images[index] / 16, np.ones((scale, scale)))
    ink = np.pad(ink, scale)
    if not rgba:
        return np.rint(255 * (1 - ink)).astype(int)
    image = np.zeros((*ink.shape, 4), int)
    image[..., 3] = np.rint(255 * ink)
    return image


def body(image, **extra):
    h, w = image.shape[:2]
    request = {"width": w, "height": h, "pixels": image.ravel().tolist(), **extra}
    if image.ndim == 3:
        request["mode"] = {3: "RGB", 4: "RGBA"}[image.shape[2]]
    return json.dumps(request).encode()


def raw_request(port, request):
    """Send ``request`` (bytes) as it is; the reply, as text, up to the server's close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply.decode()


def call(url_or_port, method, path, data=None, headers=None):
    """One request on a new connection: (status, headers, raw body)."""
    port = url_or_port if isinstance(url_or_port, int) else int(url_or_port.rsplit(":")[-1]
                                                                 .strip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if data is not None and headers is None:
        headers = {"Content-Type": "application/json"}
    connection.request(method, path, body=data, headers=headers or {})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, response.headers, raw


def api(server, method, path, data=None, headers=None):
    status, _, raw = call(server.port, method, path, data, headers)
    return status, json.loads(raw)


def assert_refused(port, method, path, data, headers, status, message):
    """The request gets ``status`` and exactly ``{"error": message}`` on one line, and
    the server answers the next request."""
    got, response_headers, raw = call(port, method, path, data, headers)
    assert response_headers["Content-Type"] == "application/json"
    assert (got, json.loads(raw)) == (status, {"error": message})
    assert b"\n" not in raw
    assert call(port, "GET", "/api/model")[0] == 200
