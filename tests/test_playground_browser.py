"""The playground page in a real browser: headless Chromium driven by Selenium.

A digit is drawn stroke by stroke with mouse events; what the page then shows (the
answer, every neuron's activation, the normalised image) must equal what the model's own
``normalize_images``, ``predict_proba`` and ``layer_activations`` give for the pixels
the page sent. Needs Debian's ``chromium`` and ``chromium-driver`` packages and
``selenium``; skipped, saying so, without them.

The new parts are driven the same way: training a network from the page, making a drawn
3 say 8, a photo chosen and dropped, and the page at a phone's 400 x 800. The browser's
console must stay free of errors throughout.

With ``SKDIGITNET_SCREENSHOTS=docs`` the screenshots of the README and the docs
(``playground*.png``) are saved there too.
"""

import os
import shutil
import tempfile
import time
from itertools import pairwise

import numpy as np
import pytest

from skdigitnet import load_pretrained, normalize_images, serve

from _playground_client import api

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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
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


@pytest.fixture(autouse=True)
def _no_console_errors(request):
    """Whatever a test did in the browser, the console shows no error."""
    yield
    if "browser" in request.fixturenames:
        browser = request.getfixturevalue("browser")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []


def _open(browser, url):
    browser.get(url)
    _wait(browser, "return document.body.dataset.ready === '1'")
    return browser


@pytest.fixture
def page(browser, playground):
    return _open(browser, playground.url)


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


def _screenshot(browser, path, element=None, height=720):
    """The page's top ``height`` CSS pixels (or one element of it) as a small PNG of 256
    colours; copied to $SKDIGITNET_SCREENSHOTS when it is set."""
    from PIL import Image
    if element is None:
        browser.save_screenshot(str(path))
    else:
        browser.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(path))
    image = Image.open(path).convert("RGB")
    if element is None:
        scale = image.width / browser.execute_script("return window.innerWidth")
        image = image.crop((0, 0, image.width, min(image.height, round(height * scale))))
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)
    assert path.stat().st_size < 150_000
    folder = os.environ.get("SKDIGITNET_SCREENSHOTS")
    if folder:
        shutil.copyfile(path, os.path.join(folder, path.name))


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


# --- part two: train it, fool it, your photo, a phone ---------------------------------------

#: The sizes the new parts are tried at: CSS pixels, device pixel ratio, mobile viewport.
SIZES = {"desktop": (WIDTH, HEIGHT, 1, False), "phone": (400, 800, 2, True)}


def _emulate(browser, size):
    width, height, ratio, mobile = SIZES[size]
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": ratio, "mobile": mobile})


@pytest.fixture(params=list(SIZES))
def size(request, browser):
    """The browser at a desktop's and at a phone's size, then back to the desktop's."""
    _emulate(browser, request.param)
    yield request.param
    _emulate(browser, "desktop")


@pytest.fixture
def sized(size, browser, playground):
    return _open(browser, playground.url)


@pytest.fixture
def fresh(size, browser):
    """The page of a server of its own (training changes the network it serves)."""
    handle = serve(port=0, block=False)
    yield _open(browser, handle.url), handle
    handle.stop()


def _status(handle):
    return api(handle, "GET", "/api/train")[1]


def test_train_the_bundled_digits_from_the_page(fresh, size, tmp_path):
    page, handle = fresh
    epochs = page.find_element("id", "train-epochs")
    epochs.clear()
    epochs.send_keys("15")
    page.find_element("id", "train-start").click()
    _wait(page, "return document.getElementById('train-status').dataset.state === 'running'")
    draw(page, THREE, pause=0.3)  # drawing goes on while it trains
    during = _settled(page)
    assert during["reply"]["label"] is not None
    _wait(page, "return document.getElementById('train-status').dataset.state === 'done'", 60)
    status = _status(handle)
    assert status["test_accuracy"][-1] >= 0.9
    assert float(page.find_element("id", "train-status").get_attribute("data-accuracy")) == (
        status["test_accuracy"][-1])
    # the whole page shows the final weights: header, diagram, pictures, the drawing's answer
    version = str(status["weights_version"])
    _wait(page, "return document.getElementById('weight-pictures').dataset.weightsVersion "
                f"=== '{version}' && window.skdigitnetPlayground.idle()")
    assert page.find_element("id", "model-info").get_attribute("data-weights-version") == version
    assert "trained on the bundled digits" in page.find_element("id", "model-info").text
    assert _settled(page)["reply"]["weights_version"] == status["weights_version"]
    assert len(page.find_elements("css selector", "#weight-pictures canvas")) == 16
    assert int(page.find_element("id", "curves").get_attribute("data-points")) == len(
        status["loss_curve"])
    updates = page.execute_script("return window.skdigitnetPlayground.trainUpdates")
    gaps = np.diff([t for t, _ in updates])
    reached = next(s for s, a in zip(status["curve_epochs"], status["test_accuracy"]) if a >= 0.9)
    print(f"{size}: trained: {status['test_accuracy'][-1]:.1%} after {status['seconds']:.1f} "
          f"s; 90 % at epoch {reached}; the page drew {len(updates)} new sets of weights, "
          f"{np.median(gaps):.0f} ms apart (median), {gaps.max():.0f} ms at most")
    page.find_element("id", "train-save").click()
    _wait(page, "return document.getElementById('train-save').dataset.bytes > 0")
    if size == "desktop":
        _screenshot(page, tmp_path / "playground_train.png",
                    page.find_element("id", "train-panel"))


def test_make_a_drawn_three_say_eight(sized, size, model, tmp_path):
    page = sized
    draw(page, THREE)
    seen = _settled(page)
    assert seen["reply"]["label"] == 3
    page.find_element("css selector", '#fool-targets button[data-label="8"]').click()
    _wait(page, "return document.getElementById('fool-result').dataset.label === '8'")
    fooled = page.execute_script("return window.skdigitnetPlayground.lastFool")
    assert fooled["success"] and fooled["change"]["l2"] < 2
    np.testing.assert_array_equal(np.float32(fooled["original"]), np.float32(
        seen["reply"]["image"]))
    assert model.predict(np.float32(fooled["image"])[np.newaxis])[0] == 8
    result = page.find_element("id", "fool-result").text
    assert result.startswith("Now it says 8") and f"{fooled['change']['l2']:.2f} in L2" in result
    shown = page.execute_script(
        "return Array.from(document.getElementById('fool-after').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))")
    np.testing.assert_array_equal(shown, np.rint(255 * np.float32(fooled["image"])))
    # what does it think a 5 looks like; why this answer
    page.find_element("css selector", '#dream-labels button[data-label="5"]').click()
    _wait(page, "return document.getElementById('dream-result').dataset.label === '5'")
    page.find_element("id", "explain").click()
    explained = _settled(page, after=seen["updates"])
    assert explained["request"]["explain"] is True and len(explained["reply"]["evidence"]) == 784
    assert float(page.find_element("id", "evidence").get_attribute("data-limit")) == (
        pytest.approx(max(map(abs, explained["reply"]["evidence"]))))
    if size == "desktop":
        _screenshot(page, tmp_path / "playground_fool.png",
                    page.find_element("id", "fool-panel"))


def _photo_file(folder):
    """A phone photo of a bundled 7 (dark ink on unevenly lit paper, noise) as a JPEG
    stored on its side with EXIF orientation 6 ("rotate 90 degrees clockwise to show")."""
    from PIL import Image, ImageOps
    from sklearn.datasets import load_digits as load_8x8
    rng = np.random.default_rng(7)
    ink = np.pad(np.kron(load_8x8().images[7] / 16, np.ones((14, 14))), ((40, 40), (20, 20)))
    rows = np.linspace(0, 1, ink.shape[0])[:, np.newaxis]
    paper = 210 - 40 * rows + np.zeros(ink.shape)
    upright = np.clip(paper - ink * (paper - 50) + rng.normal(0, 5, ink.shape), 0, 255)
    upright = Image.fromarray(upright.astype(np.uint8)).convert("RGB")  # 192 x 152
    stored = upright.rotate(90, expand=True)  # on its side, as the sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6
    path = folder / "seven.jpg"
    stored.save(path, quality=92, exif=exif)
    assert ImageOps.exif_transpose(Image.open(path)).size == upright.size
    return path, upright


def test_a_photo_chosen_and_dropped_shows_its_steps(sized, size, tmp_path):
    page = sized
    path, upright = _photo_file(tmp_path)
    page.find_element("id", "photo-file").send_keys(str(path))
    _wait(page, "return document.getElementById('photo-answer').dataset.label === '7'")
    steps = page.execute_script("return window.skdigitnetPlayground.lastNormalize")
    assert steps["input_shape"] == [upright.height, upright.width]  # EXIF honoured
    assert {"grey", "paper_removed", "ink", "box", "image"} <= set(steps["steps"])
    assert steps["label"] == 7 and not steps["blank"]
    sent = _settled(page)
    assert sent["request"]["mode"] == "RGB" and sent["reply"]["label"] == 7
    assert sent["reply"]["image"] == steps["steps"]["image"]  # the network read the photo
    assert page.find_element("id", "photo-steps").is_displayed()
    assert page.find_element("id", "undo").get_attribute("disabled") is None
    if size == "desktop":
        _screenshot(page, tmp_path / "playground_photo.png",
                    page.find_element("id", "photo-panel"))
    # dropped on the pad: a transparent PNG of a 2, light ink kept by its alpha
    import base64
    import io

    from PIL import Image
    from sklearn.datasets import load_digits as load_8x8
    rgba = np.zeros((96, 80, 4), np.uint8)
    rgba[16:80, 8:72, 3] = np.kron(load_8x8().images[2] * 15, np.ones((8, 8)))
    png = io.BytesIO()
    Image.fromarray(rgba).save(png, "PNG")
    page.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], "two.png", {type: "image/png"}));
        document.getElementById('pad').dispatchEvent(new DragEvent("drop", {
          dataTransfer: data, bubbles: true, cancelable: true}));""",
                        base64.b64encode(png.getvalue()).decode())
    _wait(page, "return document.getElementById('photo-answer').dataset.label === '2'")
    dropped = page.execute_script("return window.skdigitnetPlayground.lastNormalize")
    assert dropped["input_shape"] == [96, 80]
    assert _settled(page)["request"]["mode"] == "RGBA"
    page.find_element("id", "clear").click()
    _wait(page, "return document.getElementById('prediction').dataset.label === ''")


@pytest.fixture
def phone(browser, playground):
    """The page at a phone's 400 x 800 CSS pixels (touch, mobile viewport)."""
    _emulate(browser, "phone")
    yield _open(browser, playground.url)
    _emulate(browser, "desktop")


def test_the_page_fits_a_phone(phone, tmp_path):
    page = phone
    sizes = page.execute_script("""
        const svg = document.getElementById('net');
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        const fonts = [];
        for (const node of document.querySelectorAll('body *')) {
          const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.data.trim());
          if (!own || !node.getClientRects().length) continue;
          const px = parseFloat(getComputedStyle(node).fontSize);
          fonts.push([node.tagName, node.textContent.trim().slice(0, 30),
                      node instanceof SVGElement ? px * scale : px]);
        }
        const circle = document.querySelector('#net circle.neuron').getBoundingClientRect();
        return {page: document.documentElement.clientWidth, svg: svg.getBoundingClientRect().width,
                neuron: Math.min(circle.width, circle.height), fonts,
                scroll: document.documentElement.scrollWidth};""")
    assert sizes["scroll"] <= sizes["page"] == 400  # nothing sticks out sideways
    assert sizes["svg"] >= 0.85 * sizes["page"]  # the diagram spans the width
    assert sizes["neuron"] >= 16
    small = [f for f in sizes["fonts"] if f[2] < 12 - 1e-6]
    assert small == []
    # drawing: the pad and the answer are both in view
    draw(page, SEVEN)
    assert _settled(page)["reply"]["label"] == 7
    boxes = page.execute_script("""return ['pad', 'mini-prediction'].map((id) => {
        const r = document.getElementById(id).getBoundingClientRect();
        return [r.top, r.bottom]; });""")
    assert all(top >= 0 and bottom <= 800 for top, bottom in boxes), boxes
    assert page.find_element("id", "mini-prediction").text == "7"
    # a neuron can be tapped; shift-click selects no text
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    neuron = page.find_element("css selector", 'circle.neuron[data-layer="0"][data-index="5"]')
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", neuron)
    neuron.click()
    _wait(page, "return !document.getElementById('neuron-body').hidden")
    ActionChains(page).key_down(Keys.SHIFT).click(neuron).key_up(Keys.SHIFT).perform()
    _wait(page, "return document.querySelector('circle.neuron[data-layer=\"0\"][data-index=\"5\"]')"
                ".classList.contains('off')")
    assert page.execute_script("return window.getSelection().toString()") == ""
    assert page.execute_script(
        "return ['net', 'pad'].map((id) => getComputedStyle(document.getElementById(id))"
        ".userSelect)") == ["none", "none"]
    page.execute_script("window.scrollTo(0, 0)")
    _screenshot(page, tmp_path / "playground_phone.png", height=800)
