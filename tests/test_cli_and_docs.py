"""The command line, the README's code and the examples run and say what they promise.

Nothing here needs MNIST or the network: MNIST is faked with small IDX files.
"""

import json
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits as load_8x8
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import (
    DigitMLPClassifier,
    load_digits,
    load_model,
    normalize_images,
    save_model,
)
from skdigitnet._cli.main import main
from skdigitnet._datasets import MNIST_FILES
from skdigitnet._images.files import read_image

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Modules of the optional extras (plot, fast, distributed, test): a plain install has none.
EXTRA_MODULES = ("matplotlib", "numba", "dask", "distributed", "dask_ml", "rich", "skops",
                 "hypothesis")
PLOT_HINT = ('pictures: not drawn, matplotlib is not installed; to draw them: pip install '
             '"skdigitnet[plot]" (or pip install ".[plot]" in a source checkout), then '
             'python -m skdigitnet inspect {model}')


def _run(capsys, *argv):
    """``main(argv)`` in this process: (exit status, stdout, stderr)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _subprocess(*argv, blocked=(), cwd=None):
    """``python -m skdigitnet argv`` in a fresh interpreter where ``blocked`` modules
    cannot be imported."""
    code = ("import runpy, sys\n"
            f"for name in {list(blocked)!r}:\n    sys.modules[name] = None\n"
            "runpy.run_module('skdigitnet', run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def _ink(index, scale):
    """Bundled digit ``index`` as ink in [0, 1] (light on dark), ``scale`` times larger,
    with a margin of paper as wide as one of its pixels."""
    return np.pad(np.kron(load_8x8().images[index] / 16, np.ones((scale, scale))), scale)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A model of 28x28 digits trained on all the bundled digits."""
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = DigitMLPClassifier(max_iter=60, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save_model(clf, path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Image files as users have them: name -> path."""
    folder = tmp_path_factory.mktemp("images")

    def grey(ink):  # dark ink on light paper
        return Image.fromarray(np.uint8(255 * (1 - ink)))

    three, seven = _ink(3, 10), _ink(7, 6)
    black_on_clear = np.zeros((*three.shape, 4), np.uint8)
    black_on_clear[..., 3] = np.uint8(255 * three)  # black everywhere, opaque only as ink
    files = {
        "three.png": grey(three),
        "seven.jpg": grey(seven).convert("RGB"),
        "seven_palette.png": grey(seven).convert("P"),
        "three_clear.png": Image.fromarray(black_on_clear, "RGBA"),
        "blank.png": Image.fromarray(np.full((40, 40), 255, np.uint8)),
        "dot.png": grey(_dot()),
    }
    for name, image in files.items():
        image.save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    (folder / "fake.npz").write_text("not a model")
    np.savez(folder / "other.npz", weights=np.ones(3))
    return {name: folder / name for name in [*files, "notes.txt", "fake.npz", "other.npz"]}


def _dot(size=60, radius=6):
    """A round pen dot (ink in [0, 1]) on a ``size`` x ``size`` sheet."""
    ys, xs = np.mgrid[:size, :size]
    return np.clip(radius + 0.5 - np.hypot(ys - 27.3, xs - 31.6), 0, 1)


@pytest.fixture
def no_matplotlib(monkeypatch):
    """matplotlib cannot be imported, as after a plain ``pip install``."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def _write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.tobytes())


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    """A folder of MNIST-format IDX files: 400 training and 100 test images."""
    folder = tmp_path_factory.mktemp("mnist")
    digits = load_8x8()
    images = np.stack([np.kron(image, np.ones((3, 3))) for image in digits.images[:500]])
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))) * (255 / 16)  # 28x28, ink 0..255
    for part, rows in (("train", slice(0, 400)), ("test", slice(400, 500))):
        _write_idx(folder / MNIST_FILES[f"{part}_images"], images[rows])
        _write_idx(folder / MNIST_FILES[f"{part}_labels"], digits.target[rows])
    return folder


# --- the main job --------------------------------------------------------------------

def test_main_job_reports_architecture_accuracy_and_confusion(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "DigitMLPClassifier: 784 -> 16 -> 16 -> 10" in out
    assert "parameters: 13,002 (12,960 weights, 42 biases)" in out
    assert "normalised to MNIST-style 28x28 images" in out
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", out).group(1))
    assert accuracy > 93.0
    assert re.search(r"fit: \d+ epochs in [\d.]+ s", out)
    rows = out.split("confusion matrix")[1].strip().splitlines()[2:]
    assert len(rows) == 10
    # 450 test images (a quarter of 1797, stratified) appear once in the matrix
    assert sum(int(v) for row in rows for v in row.split()[1:]) == 450


def test_main_job_options(capsys):
    main(["--hidden", "8", "--activation", "tanh", "--max-iter", "5", "--no-deskew"])
    out = capsys.readouterr().out
    assert "DigitMLPClassifier: 784 -> 8 -> 10" in out and "not deskewed" in out
    assert "hidden1        8  tanh" in out


@pytest.mark.parametrize("argv", [["--epochs", "3", "demo"], ["demo", "--epochs", "3"],
                                  ["--epochs", "3"]])
def test_demo_takes_its_options_before_or_after_the_command(argv, capsys):
    status, out, _ = _run(capsys, *argv)
    assert status == 0 and re.search(r"fit: 3 epochs in", out)


def test_version(capsys):
    status, out, _ = _run(capsys, "--version")
    assert (status, out) == (0, "skdigitnet 0.1.0\n")


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["predict"], ["inspect"]])
def test_every_command_has_help(command, capsys):
    status, out, _ = _run(capsys, *command, "--help")
    assert status == 0
    assert "usage: python -m skdigitnet" in out
    assert "{demo,train,predict,inspect,serve}" in out if not command else command[0] in out
    assert "Exit status: 0 done" in out
    description = out.split("\n\n")[1]
    assert len(description.split()) > 10, description  # a sentence saying what it does


# --- train -----------------------------------------------------------------------------

def test_options_before_or_after_the_command_mean_the_same(tmp_path, capsys):
    before = _run(capsys, "--epochs", "3", "--hidden", "8", "--no-deskew", "train", "--quiet",
                  "--out", tmp_path / "before")
    after = _run(capsys, "train", "--epochs", "3", "--hidden", "8", "--no-deskew", "--quiet",
                 "--out", tmp_path / "after")
    assert before[0] == after[0] == 0
    assert before[1].replace(str(tmp_path / "before"), "OUT") == after[1].replace(
        str(tmp_path / "after"), "OUT")
    assert "after 3 epochs" in before[1]
    first, second = (load_model(tmp_path / name / "model.npz") for name in ("before", "after"))
    assert first.n_iter_ == second.n_iter_ == 3 and first.hidden_layer_sizes == (8,)
    np.testing.assert_array_equal(first.coefs_[0], second.coefs_[0])


def test_train_no_deskew_changes_the_training_images(tmp_path, capsys):
    for name, extra in (("deskewed", []), ("straight", ["--no-deskew"])):
        status, _, err = _run(capsys, "train", "--epochs", "2", "--quiet", "--out",
                              tmp_path / name, *extra)
        assert (status, err) == (0, "")
    deskewed, straight = (load_model(tmp_path / n / "model.npz") for n in ("deskewed",
                                                                            "straight"))
    assert not np.allclose(deskewed.coefs_[0], straight.coefs_[0])


@pytest.mark.parametrize("switch", ["0", "1"])  # the compiled kernels off and on
def test_train_on_mnist_shows_progress_and_honours_no_deskew(tmp_path, capsys, fake_mnist,
                                                             switch, monkeypatch):
    """Every phase longer than a second says what it does: normalising, preparing the
    compiled kernels (compiling them, the first time), each epoch."""
    monkeypatch.setenv("SKDIGITNET_NUMBA", switch)
    status, out, err = _run(capsys, "train", "--data", "mnist", "--data-home", fake_mnist,
                            "--epochs", "2", "--out", tmp_path / "a")
    assert status == 0 and "test accuracy:" in out
    lines = err.splitlines()
    progress = [line for line in lines if line.startswith("normalising MNIST")]
    assert 1 <= len(progress) <= 5 and progress[-1] == "normalising MNIST: 500/500"
    prepared = [line for line in lines if "fast path" in line]
    if switch == "1":
        assert prepared[0] == ("skdigitnet: preparing the compiled fast path (the first "
                               "time on this machine, it compiles: some seconds, once) ...")
        assert re.fullmatch(r"skdigitnet: fast path ready in \d+\.\d s", prepared[1])
    else:
        assert prepared == []
    if hasattr(DigitMLPClassifier(), "set_callbacks"):  # scikit-learn 1.9's callbacks
        epochs = [line for line in lines if line.startswith("skdigitnet: epoch ")]
        assert [line.split(",")[0] for line in epochs] == ["skdigitnet: epoch 1/2",
                                                          "skdigitnet: epoch 2/2"]
        assert re.fullmatch(r"skdigitnet: epoch 2/2, loss \d+\.\d{4}, \d+\.\d s",
                            epochs[-1])
    else:  # older: the estimator's own verbose lines
        assert "Iteration 2, loss = " in out
    status, _, err = _run(capsys, "--no-deskew", "train", "--data", "mnist", "--data-home",
                          fake_mnist, "--epochs", "2", "--quiet", "--out", tmp_path / "b")
    assert (status, err) == (0, "")
    deskewed, straight = (load_model(tmp_path / n / "model.npz") for n in "ab")
    assert not np.allclose(deskewed.coefs_[0], straight.coefs_[0])


def test_train_without_matplotlib_saves_the_model_and_says_how_to_draw(
        tmp_path, capsys, no_matplotlib):
    status, out, err = _run(capsys, "train", "--epochs", "3", "--quiet", "--out", tmp_path)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[-3].startswith("test accuracy: ")
    assert lines[-2] == PLOT_HINT.format(model=tmp_path / "model.npz")
    assert lines[-1] == f"saved model.npz in {tmp_path}"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_train_without_extras_in_a_fresh_interpreter(tmp_path):
    done = _subprocess("train", "--epochs", "3", "--out", "run", blocked=EXTRA_MODULES,
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-2:] == [PLOT_HINT.format(model="run/model.npz"),
                                             "saved model.npz in run"]


def test_train_reports_its_result_when_pictures_fail(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")
    monkeypatch.setattr("skdigitnet._cli.commands.draw_pictures", broken)
    status, out, err = _run(capsys, "train", "--epochs", "2", "--quiet", "--out", tmp_path)
    assert status == 1
    assert err == "skdigitnet: error: pictures not drawn: the disk is full\n"
    assert out.splitlines()[-1] == f"saved model.npz in {tmp_path}"
    assert "test accuracy: " in out


def test_train_predict_inspect(tmp_path, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.image
    out = tmp_path / "run"
    main(["train", "--epochs", "40", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert "parameters: 13,002" in printed and "test accuracy:" in printed
    assert printed.splitlines()[-1] == (
        f"saved model.npz, weights.png, loss.png, activations.png in {out}")
    for name in ("model.npz", "weights.png", "activations.png", "loss.png"):
        assert (out / name).stat().st_size > 1000, name
    assert matplotlib.image.imread(out / "weights.png").ndim == 3  # a real PNG
    # two drawings of digits, as a paint program would save them: different sizes, and
    # dark ink on light paper for one of them
    digits = load_8x8()
    three = np.kron(16 - digits.images[3], np.ones((10, 10)))
    seven = np.kron(digits.images[7], np.ones((6, 6)))
    matplotlib.image.imsave(tmp_path / "three.png", three, cmap="gray")
    matplotlib.image.imsave(tmp_path / "seven.png", seven, cmap="gray")
    main(["predict", str(out / "model.npz"), str(tmp_path / "three.png"),
          str(tmp_path / "seven.png")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{tmp_path / 'three.png'}: 3 (")
    assert lines[1].startswith(f"{tmp_path / 'seven.png'}: 7 (")
    main(["inspect", str(out / "model.npz"), "--out", str(tmp_path / "pics"), "--image",
          str(tmp_path / "three.png")])
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == [
        "activations.png", "loss.png", "weights.png"]


# --- predict and inspect ---------------------------------------------------------------

@pytest.mark.parametrize("name, digit", [("three.png", 3), ("seven.jpg", 7),
                                         ("seven_palette.png", 7), ("three_clear.png", 3)])
def test_predict_reads_image_files(name, digit, model_file, images, capsys):
    # three_clear.png: black ink on a transparent background, as drawing apps save it
    status, out, err = _run(capsys, "predict", model_file, images[name])
    assert (status, err) == (0, "")
    assert re.fullmatch(rf"{re.escape(str(images[name]))}: {digit} \(\d+\.\d%\)  "
                        r"\[(\d:\d\.\d\d ?){10}\]\n", out), out


def test_predict_names_blank_images_and_predicts_the_others(model_file, images, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the CLI names the file instead
        status, out, err = _run(capsys, "predict", model_file, images["blank.png"],
                                images["three.png"])
    assert status == 1
    assert err == f"skdigitnet: {images['blank.png']}: no digit found (blank image)\n"
    assert out.startswith(f"{images['three.png']}: 3 (") and out.count("\n") == 1


def test_predict_reads_a_pen_dot_as_blank(model_file, images, capsys):
    status, out, err = _run(capsys, "predict", model_file, images["dot.png"])
    assert (status, out) == (1, "")
    assert err == f"skdigitnet: {images['dot.png']}: no digit found (blank image)\n"


def test_predict_reports_unreadable_files_and_predicts_the_others(model_file, images, capsys):
    status, out, err = _run(capsys, "predict", model_file, images["notes.txt"],
                            images["three.png"])
    assert status == 2
    assert err == (f"skdigitnet: error: {images['notes.txt']}: not an image file that Pillow "
                   "can read\n")
    assert out.startswith(f"{images['three.png']}: 3 (")


def test_predict_without_matplotlib(model_file, images, capsys, no_matplotlib):
    status, out, err = _run(capsys, "predict", model_file, images["three.png"])
    assert (status, err) == (0, "") and out.startswith(f"{images['three.png']}: 3 (")


def test_inspect_without_matplotlib_says_what_to_install(model_file, tmp_path, capsys,
                                                         no_matplotlib):
    status, out, err = _run(capsys, "inspect", model_file, "--out", tmp_path)
    assert (status, out) == (2, "")
    assert err == ('skdigitnet: error: inspect draws with matplotlib, which is not installed: '
                   'pip install "skdigitnet[plot]" (or pip install ".[plot]" in a source '
                   'checkout)\n')


def test_inspect_of_a_wrong_file_names_the_file_first(images, tmp_path, capsys,
                                                      no_matplotlib):
    status, _, err = _run(capsys, "inspect", images["other.npz"], "--out", tmp_path)
    assert status == 2
    assert err.startswith(f"skdigitnet: error: {images['other.npz']} has no readable "
                          "'config' entry"), err


# --- user errors: one line on stderr, exit status 2, no traceback ------------------------

USER_ERRORS = {
    "unknown activation": (
        lambda f: ["--activation", "rellu"],
        ("skdigitnet: error: argument --activation: unknown activation 'rellu'; choose one of "
         "elu, gelu, identity, leaky_relu, logistic, relu, sigmoid, softplus, swish, tanh "
         "(see 'python -m skdigitnet --help')")),
    "hidden sizes": (
        lambda f: ["train", "--hidden", "16x16"],
        ("skdigitnet: error: argument --hidden: '16x16' is not a list of layer sizes; give "
         "positive whole numbers separated by commas, e.g. 16,16 or 32 (see 'python -m "
         "skdigitnet train --help')")),
    "epochs": (
        lambda f: ["train", "--epochs", "0"],
        ("skdigitnet: error: argument --epochs/--max-iter: '0' is not a positive whole number "
         "(see 'python -m skdigitnet train --help')")),
    "network option before predict": (
        lambda f: ["--epochs", "5", "predict", f["model"], f["three.png"]],
        ("skdigitnet: error: --epochs applies to demo and train, not to predict (see "
         "'python -m skdigitnet --help')")),
    "missing image": (
        lambda f: ["predict", f["model"], f["three.png"].with_name("nothing.png")],
        ("skdigitnet: error: {images}/nothing.png: no such file")),
    "not an image": (
        lambda f: ["predict", f["model"], f["notes.txt"]],
        ("skdigitnet: error: {images}/notes.txt: not an image file that Pillow can read")),
    "not a model": (
        lambda f: ["predict", f["fake.npz"], f["three.png"]],
        ("skdigitnet: error: {images}/fake.npz is not a readable skdigitnet model file: ")),
    "another archive": (
        lambda f: ["inspect", f["other.npz"]],
        ("skdigitnet: error: {images}/other.npz has no readable 'config' entry; it is not a "
         "skdigitnet model file.")),
    "MNIST folder without the files": (
        lambda f: ["train", "--data", "mnist", "--data-home", f["three.png"].parent],
        ("skdigitnet: error: train-images-idx3-ubyte(.gz) is not in {images}; put the four "
         "MNIST IDX files there")),
}


@pytest.mark.parametrize("case", list(USER_ERRORS))
def test_user_errors_are_one_line(case, model_file, images, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # 'train' would write here
    argv, expected = USER_ERRORS[case]
    status, _, err = _run(capsys, *argv({**images, "model": model_file}))
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(expected.format(images=images["three.png"].parent)), err
    assert list(tmp_path.iterdir()) == []  # no half-made output folder


def test_mnist_offline_is_one_line(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")
    monkeypatch.setattr("skdigitnet._datasets.fetch_openml", offline)
    monkeypatch.delenv("SKDIGITNET_DATA", raising=False)
    status, out, err = _run(capsys, "train", "--data", "mnist", "--quiet", "--out", tmp_path)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("skdigitnet: error: MNIST is not on this machine and could not be "
                          "fetched from OpenML (OSError: Temporary failure in name resolution)")
    assert "in a folder and pass --data-home that_folder, or set the SKDIGITNET_DATA" in err


def test_debug_shows_the_traceback(images, capsys):
    status, _, err = _run(capsys, "--debug", "predict", images["other.npz"], images["three.png"])
    assert status == 2
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1].startswith(f"skdigitnet: error: {images['other.npz']} has no")


def test_user_error_in_a_fresh_interpreter(images):
    done = _subprocess("predict", images["other.npz"], images["three.png"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"skdigitnet: error: {images['other.npz']} has no readable 'config' "
                           "entry; it is not a skdigitnet model file.\n")


# --- read_image ------------------------------------------------------------------------

def _saved(tmp_path, image, name="image.png", **save):
    image.save(tmp_path / name, **save)
    return read_image(tmp_path / name)


@pytest.mark.parametrize("mode, shape", [("L", (100, 100)), ("1", (100, 100)),
                                         ("LA", (100, 100, 4)), ("RGB", (100, 100, 3)),
                                         ("RGBA", (100, 100, 4)), ("P", (100, 100, 3)),
                                         ("I;16", (100, 100))])
def test_read_image_modes(mode, shape, tmp_path):
    ink = _ink(3, 10)
    grey = Image.fromarray(np.uint8(255 * (ink > 0.5) if mode == "1" else 255 * ink))
    image = (Image.fromarray(np.uint16(65535 * ink)) if mode == "I;16"
             else grey.convert(mode))
    array = _saved(tmp_path, image)
    assert array.shape == shape and array.dtype == np.float32
    assert array.min() == 0 and 0.9 < array.max() <= 1
    reference = normalize_images([ink > 0.5 if mode == "1" else ink])[0]
    assert np.abs(normalize_images([array])[0] - reference).max() < 0.02


def test_read_image_keeps_the_transparency_of_a_palette(tmp_path):
    ink = _ink(3, 10)
    image = Image.fromarray(np.uint8(255 * (ink < 0.5))).convert("P")  # ink 0, paper 255
    array = _saved(tmp_path, image, transparency=255)
    assert array.shape == (100, 100, 4)
    np.testing.assert_array_equal(array[..., 3], ink >= 0.5)  # the paper is transparent


def test_read_image_turns_phone_photos_upright(tmp_path):
    ink = np.zeros((20, 30))
    ink[2:5, 3:20] = 1  # a bar near the top left
    image = Image.fromarray(np.uint8(255 * ink))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    array = _saved(tmp_path, image, exif=exif.tobytes())
    np.testing.assert_array_equal(array, np.rot90(ink, -1))


# --- the README ------------------------------------------------------------------------

#: A README paragraph that introduces a block needing an extra says how to install it.
EXTRA_NOTE = re.compile(r'pip install "\.\[(\w+)\]"')
#: what each extra a README paragraph may name brings, by import name
EXTRA_IMPORTS = {"plot": ("matplotlib",), "distributed": ("dask", "distributed", "dask_ml"),
                 "onnx": ("skl2onnx", "onnx", "onnxruntime")}


def _skip_without(*modules):
    """Skip (not fail) where an optional extra is not installed; ".[test]" installs all."""
    for name in modules:
        pytest.importorskip(name, reason=f'needs {name}: pip install ".[test]"')


README_RUNNER = """\
import json, sys
blocked, blocks = json.load(sys.stdin)
for name in blocked:
    sys.modules[name] = None
namespace = {"__name__": "__main__"}
for line, code in blocks:
    exec(compile("\\n" * line + code, "README.md", "exec"), namespace)
hidden = namespace.get("hidden")
print("hidden features:", None if hidden is None else hidden.shape[1])
"""


def _readme_python_blocks():
    """(line, code, extras named in the paragraph just before) of each python block."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", text, flags=re.DOTALL):
        lead_in = text[:match.start()].rstrip().split("\n\n")[-1]
        blocks.append((text.count("\n", 0, match.start(1)), match.group(1),
                       EXTRA_NOTE.findall(lead_in)))
    return blocks


def _run_readme_blocks(blocks, blocked, cwd):
    return subprocess.run([sys.executable, "-c", README_RUNNER], cwd=cwd, timeout=300,
                          input=json.dumps([list(blocked), blocks]), capture_output=True,
                          text=True, check=False)


def test_readme_python_blocks_run(tmp_path):
    blocks = _readme_python_blocks()
    assert len(blocks) >= 3
    _skip_without(*(name for _, _, extras in blocks for extra in extras
                    for name in EXTRA_IMPORTS[extra]))
    done = _run_readme_blocks([(line, code) for line, code, _ in blocks], (), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hidden features: 16" in done.stdout


def test_readme_blocks_that_name_no_extra_run_without_the_extras(tmp_path):
    plain = [(line, code) for line, code, extras in _readme_python_blocks() if not extras]
    assert len(plain) >= 3
    done = _run_readme_blocks(plain, EXTRA_MODULES, tmp_path)
    assert done.returncode == 0, (
        "A README python block fails after a plain 'pip install .'; if it needs an extra, "
        "say so in the paragraph before it, e.g. 'pip install \".[plot]\"':\n" + done.stderr)


#: The README is also the PyPI page, where relative links lead nowhere: files of the
#: repository are linked by absolute URL, and each such URL maps back to a file here.
REPO_URL = re.compile(r"https://(?:raw\.githubusercontent\.com/skdigitnet/skdigitnet/main"
                      r"|github\.com/skdigitnet/skdigitnet/blob/main)/(?P<path>[^)\s#?]+)")


def test_readme_links_are_absolute_and_name_files_of_the_repository():
    text = README.read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text)
    targets = re.findall(r"\]\(([^)\s]+)", text)
    assert len(pictures) >= 3
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert not relative, f"README links that break on PyPI (make them absolute): {relative}"
    for picture in pictures:
        assert REPO_URL.fullmatch(picture), f"a README picture outside the repository: {picture}"
    for match in REPO_URL.finditer(text):
        assert (ROOT / match["path"]).is_file(), f"README links a missing file: {match[0]}"


def test_changelog_and_citation_carry_the_package_version():
    import skdigitnet

    changelog = (ROOT / "CHANGELOG.md").read_text()
    citation = (ROOT / "CITATION.cff").read_text()
    first = re.search(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert first and first[1] == skdigitnet.__version__, "CHANGELOG.md's newest release"
    assert f"\n[{first[1]}]: https://" in changelog, "the release's link at the bottom"
    cited = re.search(r'^version: "?([^"\s]+)"?$', citation, flags=re.MULTILINE)
    assert cited and cited[1] == skdigitnet.__version__, "CITATION.cff's version"


# --- the examples ------------------------------------------------------------------------

@pytest.mark.parametrize("script, expected", [
    ("plot_grid_search.py", "best parameters"),
    ("plot_hidden_features.py", "hidden2_0"),
    ("plot_what_the_network_learned.py", "neighbour correlation median"),
    ("plot_distributed_grid_search.py", "same scores as the local run: True"),
    ("plot_photographed_digits.py", "with DigitNormalizer"),
    ("plot_notebook_paper.py", "squared_grey: "),
    ("plot_validation_loss.py", "partial_fit stopped after"),
])
def test_examples_run(script, expected):
    _skip_without("matplotlib", *(EXTRA_IMPORTS["distributed"] if "distributed" in script
                                  else ()))
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
