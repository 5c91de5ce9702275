"""The main job, the README's code and the examples run and say what they promise."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from skdigitnet.__main__ import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def test_readme_python_blocks_run():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["hidden"].shape[1] == 16


@pytest.mark.parametrize("script, expected", [
    ("plot_grid_search.py", "best parameters"),
    ("plot_hidden_features.py", "hidden2_0"),
    ("plot_what_the_network_learned.py", "neighbour correlation median"),
    ("plot_distributed_grid_search.py", "same scores as the local run: True"),
])
def test_examples_run(script, expected):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


@pytest.mark.parametrize("command", [[], ["train"], ["predict"], ["inspect"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(command + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m skdigitnet" in capsys.readouterr().out


def test_train_predict_inspect(tmp_path, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.image
    from sklearn.datasets import load_digits as load_8x8
    out = tmp_path / "run"
    main(["train", "--epochs", "40", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert "parameters: 13,002" in printed and "test accuracy:" in printed
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
