"""The playground page in a real browser: headless Chromium driven by Selenium.

A digit is drawn stroke by stroke with mouse events; what the page then shows (the
answer, every neuron's activation, the normalised image) must equal what the model's own
``normalize_images``, ``predict_proba`` and ``layer_activations`` give for the pixels
the page sent. Needs Debian's ``chromium`` and ``chromium-driver`` packages and
``selenium``; skipped, saying so, without them.

With ``SKDIGITNET_SCREENSHOT=docs/playground.png`` the README's screenshot is saved too.
"""

import os
import shutil
import tempfile
import time
from itertools import pairwise

import numpy as np
import pytest

from skdigitnet import load_pretrained, normalize_images, serve

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")
WIDTH, HEIGHT = 1360, 800


def _arc(cx, cy, r, start, stop, n=14):
    """Points along a circle arc, angles in degrees, y pointing down (as on screen)."""
    angles = np.radians(np.linspace(start, stop, n))
    return [(round(cx + r * np.cos(a)), round(cy + r * np.sin(a))) for a in angles]


#: A "3" in two strokes, in CSS pixels from the centre of the 280x280 pad.
THREE = [_arc(-5, -48, 46, -160, 90), _arc(-5, 42, 52, -90, 160)]
SEVEN = [[(-70, -90), (-20, -92), (30, -93), (65, -95)],
         [(65, -95), (45, -45), (25, 5), (5, 55), (-10, 100)]]


def _find_chromium():
    webdriver = pytest.importorskip("selenium.webdriver", reason=(
        "selenium is not installed: pip install selenium (it is in the test extra)"))
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                    "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no Chromium and chromedriver on PATH; install them with: apt-get "
                    "install -y chromium chromium-driver")
    return webdriver, browser, driver


@pytest.fixture(scope="module")
def browser():
    webdriver, binary, driver = _find_chromium()
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="skdigitnet-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    yield chrome
    chrome.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def playground():
    handle = serve(port=0, block=False)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def model():
    return load_pretrained(with_normalizer=False)


@pytest.fixture
def page(browser, playground):
    browser.get(playground.url)
    _wait(browser, "return document.body.dataset.ready === '1'")
    return browser


def _wait(browser, script, timeout=10):
    deadline = time.monotonic() + timeout
    while not browser.execute_script(script):
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.02)


def _settled(browser, after=0):
    """Wait until more than ``after`` replies were drawn and no request is in flight or
    due; return the page's shared state."""
    _wait(browser, "const p = window.skdigitnetPlayground; return p.idle() && "
                   f"p.lastReply !== null && p.updates > {after}")
    return browser.execute_script("const p = window.skdigitnetPlayground; return {request: "
                                  "p.lastRequest, reply: p.lastReply, updates: p.updates, "
                                  "latencies: p.latencies};")


def draw(browser, strokes, pause=0.15):
    """Each stroke as mouse down, a move to each point (real pointer events), mouse up."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    pad = browser.find_element(By.ID, "pad")
    for stroke in strokes:
        chain = ActionChains(browser, duration=12).move_to_element_with_offset(pad, *stroke[0])
        chain.click_and_hold()
        for (x0, y0), (x1, y1) in pairwise(stroke):
            chain.move_by_offset(x1 - x0, y1 - y0)
        chain.release().perform()
        time.sleep(pause)


def _image_sent(request):
    """The pixels the page sent, as the server reads them (floats in [0, 1])."""
    assert request.get("mode", "L") == "L"
    return np.asarray(request["pixels"], float).reshape(request["height"],
                                                        request["width"]) / 255


def _shown(browser):
    """What the page shows, from its DOM: label, probabilities, hidden activations."""
    return browser.execute_script("""
        const q = (s) => [...document.querySelectorAll(s)];
        return {
          label: document.getElementById('prediction').dataset.label,
          probabilities: q('#net .output').map((g) => Number(g.dataset.probability)),
          outputs: q('#net .output').map((g) => Number(g.dataset.activation)),
          hidden: q('#net circle.neuron').map((c) => [Number(c.dataset.layer),
                    Number(c.dataset.index), Number(c.dataset.activation)]),
          seen: Array.from(document.getElementById('seen').getContext('2d')
                  .getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0)),
        };""")


def _assert_page_shows(shown, proba, layers, row):
    np.testing.assert_allclose(shown["probabilities"], proba, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(shown["outputs"], layers[-1], rtol=1e-6, atol=1e-9)
    assert shown["label"] == str(int(np.argmax(proba)))
    for layer, index, activation in shown["hidden"]:
        assert activation == pytest.approx(float(layers[layer][index]), rel=1e-6, abs=1e-9)
    assert len(shown["hidden"]) == sum(len(a) for a in layers[:-1]) == 32
    np.testing.assert_array_equal(shown["seen"], np.rint(255 * row))


def test_a_drawn_digit_lights_up_the_network_as_the_model_says(page, model):
    draw(page, THREE)
    state = _settled(page)
    row = normalize_images([_image_sent(state["request"])])
    proba = model.predict_proba(row)[0]
    layers = [a[0] for a in model.layer_activations(row)[1:]]
    _assert_page_shows(_shown(page), proba, layers, row[0])
    assert int(np.argmax(proba)) == 3  # the shipped model reads a mouse-drawn 3
    # live: replies came while drawing, not one per stroke
    assert state["updates"] > len(THREE) + 2
    median = float(np.median(state["latencies"]))
    print(f"stroke-to-update latency: median {median:.1f} ms over {len(state['latencies'])} "
          f"updates")
    assert median < 250, state["latencies"]
    latency = page.find_element("id", "latency")
    assert float(latency.get_attribute("data-latency-ms")) == pytest.approx(
        state["latencies"][-1], abs=0.06)


def test_undo_and_clear(page, model):
    draw(page, SEVEN)
    seven = _settled(page)
    assert seven["reply"]["label"] == 7
    page.find_element("id", "undo").click()
    one_stroke = _settled(page, after=seven["updates"])
    assert sum(one_stroke["request"]["pixels"]) < sum(seven["request"]["pixels"])
    row = normalize_images([_image_sent(one_stroke["request"])])
    assert one_stroke["reply"]["label"] == int(model.predict(row)[0])
    page.find_element("id", "clear").click()
    _wait(page, "return document.getElementById('prediction').dataset.label === ''")
    shown = _shown(page)
    assert shown["probabilities"] == [0] * 10 and not any(shown["seen"])
    assert page.find_element("id", "undo").get_attribute("disabled") == "true"


def test_a_clicked_neuron_shows_its_weights_and_what_it_adds(page, model, tmp_path):
    draw(page, THREE)
    state = _settled(page)
    hidden1 = state["reply"]["layers"][0]
    brightest = int(np.argmax(hidden1))
    page.find_element("css selector", f'circle.neuron[data-layer="0"][data-index='
                                      f'"{brightest}"]').click()
    _settled(page, after=state["updates"])
    assert page.execute_script("return window.skdigitnetPlayground.lastRequest.neuron") == [
        0, brightest]
    weights = np.asarray(page.execute_script(
        "return Array.from(document.getElementById('weights').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data)")).reshape(784, 4)
    w = model.coefs_[0][:, brightest]
    strong = np.abs(w) > 0.2 * np.abs(w).max()  # blue +, red -, as WeightImagesDisplay
    assert strong.sum() > 5
    assert np.all((weights[strong, 2] > weights[strong, 0]) == (w[strong] > 0))
    reply = page.execute_script("return window.skdigitnetPlayground.lastReply")
    changes = page.execute_script(
        "return [...document.querySelectorAll('#contributions .value')]"
        ".map((v) => Number(v.dataset.change))")
    np.testing.assert_allclose(changes[0::2], reply["neuron"]["output_change"], rtol=1e-9)
    np.testing.assert_allclose(changes[1::2], reply["neuron"]["probability_change"], rtol=1e-9)
    assert reply["neuron"]["activation"] == hidden1[brightest] > 0
    _screenshot(page, tmp_path / "playground.png")


def _screenshot(browser, path):
    """The page as a small PNG (256 colours); also the README's when asked to."""
    from PIL import Image
    browser.save_screenshot(str(path))
    image = Image.open(path).convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, 720)))
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)
    assert path.stat().st_size < 150_000
    target = os.environ.get("SKDIGITNET_SCREENSHOT")
    if target:
        shutil.copyfile(path, target)


def _by_hand(model, row, biases=True, off=()):
    """The network with numpy alone: ReLU hidden layers, softmax output."""
    coefs = [c.astype(float) for c in model.coefs_]
    for layer, index in off:
        coefs[layer + 1][index] = 0
    x = row.astype(float)
    for i, (W, b) in enumerate(zip(coefs, model.intercepts_)):
        z = x @ W + (b if biases else 0)
        x = np.maximum(z, 0) if i < len(coefs) - 1 else np.exp(z - z.max())
    return x / x.sum()


def test_break_it_changes_the_answer_on_a_copy(page, model):
    draw(page, SEVEN)
    state = _settled(page)
    page.find_element("id", "biases").click()  # biases off
    state = _settled(page, after=state["updates"])
    assert state["request"]["break"] == {"disabled": [], "biases": False, "weight_scale": 1}
    row = normalize_images([_image_sent(state["request"])])[0]
    shown = _shown(page)
    np.testing.assert_allclose(shown["probabilities"], _by_hand(model, row, biases=False),
                               rtol=1e-4, atol=1e-6)
    note = page.find_element("id", "broken-note")
    assert note.is_displayed() and "the intact network says 7" in note.text
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    neuron = page.find_element("css selector", 'circle.neuron[data-layer="1"][data-index="3"]')
    ActionChains(page).key_down(Keys.SHIFT).click(neuron).key_up(Keys.SHIFT).perform()
    state = _settled(page, after=state["updates"])
    assert state["request"]["break"]["disabled"] == [[1, 3]]
    assert "off" in neuron.get_attribute("class")
    np.testing.assert_allclose(_shown(page)["probabilities"],
                               _by_hand(model, row, biases=False, off=[(1, 3)]),
                               rtol=1e-4, atol=1e-6)
    page.find_element("id", "repair").click()
    state = _settled(page, after=state["updates"])
    assert page.find_element("id", "broken-note").get_attribute("hidden") == "true"
    assert "break" not in state["request"]
    np.testing.assert_allclose(_shown(page)["probabilities"],
                               model.predict_proba(row[np.newaxis])[0], rtol=1e-6)
