"""``serve``: the playground from Python, a notebook or ``python -m skdigitnet serve``.

The page (``static/``), its API (``api.py``, checked by
``requests.py``) and the HTTP server (``server.py``) live beside
this module; here is what a user calls and the handle it returns.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

from .api import Playground, load_pretrained, pretrained_info
from .server import DEFAULT_PORT, PlaygroundServer

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from skdigitnet._neural_network.classifier import DigitMLPClassifier


class PlaygroundHandle:
    """A running (or stopped) playground, as :func:`serve` returns it.

    Attributes
    ----------
    url : str
        Where the page is, e.g. ``'http://127.0.0.1:8765/'``.
    port : int
    server : PlaygroundServer
    """

    def __init__(self, server: PlaygroundServer) -> None:
        self.server, self.url, self.port = server, server.url, server.port
        self._thread: threading.Thread | None = None

    def start(self) -> PlaygroundHandle:
        """Serve from a daemon thread; return at once."""
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        name=f"skdigitnet-playground-{self.port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; calling it again does nothing."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> PlaygroundHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<skdigitnet playground at {self.url}{'' if self.running else ' (stopped)'}>"

    def _repr_html_(self) -> str:  # a notebook shows the page itself under the cell
        if not self.running:
            return f"<p>skdigitnet playground at {self.url} (stopped)</p>"
        return (f'<p><a href="{self.url}" target="_blank">{self.url}</a> (call '
                f'<code>.stop()</code> to stop it)</p><iframe src="{self.url}" width="100%" '
                'height="760" style="border:0"></iframe>')


def serve(estimator: DigitMLPClassifier | Pipeline | None = None, *, host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, open_browser: bool = False, block: bool = True,
          verbose: bool = False, data_home: str | os.PathLike[str] | None = None,
          ) -> PlaygroundHandle:
    """Serve the playground: draw a digit and watch ``estimator`` read it, layer by layer.

    Parameters
    ----------
    estimator : DigitMLPClassifier or Pipeline, default=None
        A fitted classifier of 28x28 images, or a Pipeline of an optional
        ``DigitNormalizer`` and one (its options are used to normalise the drawing).
        Every drawing goes through ``normalize_images`` and then the classifier.
        By default the shipped model, :func:`load_pretrained`.
    host : str, default='127.0.0.1'
        Loopback only by default; another address makes the page reachable from other
        machines.
    port : int, default=8765
        0 picks a free port.
    open_browser : bool, default=False
        Open the page in the default web browser.
    block : bool, default=True
        Serve until Ctrl-C (then stop cleanly and return the stopped handle). With
        ``False``, serve from a background thread and return at once (for notebooks and
        tests): the handle's ``url`` is the page and ``stop()`` ends it.
    verbose : bool, default=False
        Log every request on stderr.
    data_home : str or path-like, default=None
        The folder of MNIST's IDX files (else the ``SKDIGITNET_DATA`` environment
        variable): when the four files are there, the page's Train panel offers MNIST
        besides the bundled digits. Nothing is downloaded.

    Returns
    -------
    PlaygroundHandle

    Examples
    --------
    >>> from skdigitnet import load_pretrained, serve
    >>> playground = serve(load_pretrained(), port=0, block=False)  # doctest: +ELLIPSIS
    skdigitnet playground: http://127.0.0.1:... (call .stop() to stop it)
    >>> playground.url.startswith("http://127.0.0.1:")
    True
    >>> playground.stop()
    """
    about = None
    if estimator is None:
        estimator, about = load_pretrained(), pretrained_info()
    folder = None if data_home is None else os.fspath(data_home)
    server = PlaygroundServer(Playground(estimator, about, folder), host, port, verbose)
    handle = PlaygroundHandle(server)
    if not block:
        handle.start()
        print(f"skdigitnet playground: {handle.url} (call .stop() to stop it)", flush=True)
    else:
        print(f"skdigitnet playground: {handle.url} (Ctrl-C stops it)", flush=True)
    if open_browser:
        import webbrowser
        webbrowser.open(handle.url)
    if block:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("skdigitnet playground: stopped", file=sys.stderr, flush=True)
        finally:
            server.server_close()
    return handle
