"""The Displays draw what they say: rendered with Agg, checked on the drawn data."""

import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skdigitnet import (  # noqa: E402
    ActivationsDisplay,
    DigitMLPClassifier,
    LossCurveDisplay,
    WeightImagesDisplay,
    load_digits,
)


@pytest.fixture(scope="module")
def fitted():
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = DigitMLPClassifier(max_iter=15, random_state=0).fit(
            X[:600], y[:600], X_val=X[600:800], y_val=y[600:800])
    return clf, X


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_weight_images_are_the_weights(fitted):
    clf, _ = fitted
    disp = WeightImagesDisplay.from_estimator(clf)
    assert len(disp.images_) == 16 and disp.figure_ is disp.axes_[0].figure
    for j, image in enumerate(disp.images_):
        np.testing.assert_array_equal(image.get_array(), clf.coefs_[0][:, j].reshape(28, 28))
        assert image.norm.vmin == -image.norm.vmax  # a colour scale centred on 0
    limit = np.abs(clf.coefs_[0]).max()
    assert disp.images_[0].norm.vmax == pytest.approx(limit)
    # positive maps to blue, negative to red, zero to white
    image = disp.images_[0]
    blue, red, white = (image.cmap(image.norm(v)) for v in (limit, -limit, 0.0))
    assert blue[2] > 3 * blue[0] and red[0] > 3 * red[2]
    assert min(white[:3]) > 0.9


def test_weight_images_of_the_second_layer_and_given_axes(fitted):
    clf, _ = fitted
    _, axes = plt.subplots(4, 5)
    disp = WeightImagesDisplay.from_estimator(clf, layer=1, ax=axes)
    assert disp.images_[3].get_array().shape == (4, 4)
    np.testing.assert_array_equal(disp.images_[3].get_array().ravel(), clf.coefs_[1][:, 3])
    assert sum(a.get_visible() for a in disp.axes_) == 16  # the 4 spare axes are hidden
    with pytest.raises(ValueError, match=r"image_shape=\(5, 5\) does not hold 784 values"):
        WeightImagesDisplay.from_estimator(clf, image_shape=(5, 5))


def test_activations_display_draws_every_layer_and_marks_the_answer(fitted):
    clf, X = fitted
    x = X[900]
    disp = ActivationsDisplay.from_estimator(clf, x)
    expected = [a[0] for a in clf.layer_activations(x.reshape(1, -1))]
    assert len(disp.activations_) == 4
    for got, want in zip(disp.activations_, expected):
        np.testing.assert_allclose(got, want)
    np.testing.assert_array_equal(disp.axes_[0].images[0].get_array(), x.reshape(28, 28))
    # circles are shaded by activation, scaled per layer: the most active one is darkest
    for circles, values in zip(disp.neurons_, expected[1:]):
        np.testing.assert_allclose(circles.get_array(), values / values.max())
    assert disp.predicted_ == clf.predict(x.reshape(1, -1))[0]
    bold = [t.get_text() for t in disp.labels_ if t.get_fontweight() == "bold"]
    assert bold == [f"{disp.predicted_}: {expected[-1].max():.2f}"]
    assert disp.axes_[1].get_title() == f"predicted: {disp.predicted_}"


def test_loss_curve_display(fitted):
    clf, _ = fitted
    disp = LossCurveDisplay.from_estimator(clf)
    np.testing.assert_allclose(disp.line_.get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(disp.line_.get_xdata(), np.arange(1, 16))
    np.testing.assert_allclose(disp.validation_line_.get_ydata(), clf.validation_scores_)
    assert to_rgba(disp.line_.get_color()) != to_rgba(disp.validation_line_.get_color())
    # the validation loss on the training loss's axis, in a colour of its own
    assert disp.validation_loss_line_.axes is disp.ax_
    np.testing.assert_allclose(disp.validation_loss_line_.get_ydata(),
                               clf.validation_loss_curve_)
    colours = {to_rgba(line.get_color()) for line in (disp.line_, disp.validation_line_,
                                                      disp.validation_loss_line_)}
    assert len(colours) == 3
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == [
        "training loss", "validation loss", "validation score"]
    plain = LossCurveDisplay([3.0, 2.0, 1.5]).plot()
    assert plain.validation_line_ is None and plain.ax_.get_xlabel() == "epoch"
    assert plain.validation_loss_line_ is None and plain.ax_.get_legend() is None


@pytest.mark.parametrize("scores", [None, [0.5, 0.7, 0.8]])
def test_loss_curve_display_labels_lie_within_its_figure(scores):
    # the figure the Display makes itself: its x label was cut off at the bottom edge
    disp = LossCurveDisplay([3.0, 2.0, 1.5], scores).plot()
    figure = disp.figure_
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    labels = [axes.xaxis.label for axes in figure.axes] + [axes.yaxis.label
                                                            for axes in figure.axes]
    labels = [label for label in labels if label.get_text()]
    assert "epoch" in [label.get_text() for label in labels]
    for label in labels:
        extent = label.get_window_extent(renderer)
        assert figure.bbox.x0 <= extent.x0 and extent.x1 <= figure.bbox.x1, label
        assert figure.bbox.y0 <= extent.y0 and extent.y1 <= figure.bbox.y1, label


def test_loss_curve_display_places_validation_at_its_epochs():
    X, y = load_digits(return_X_y=True)
    clf = DigitMLPClassifier(random_state=0, scoring="loss")
    for i in range(4):  # the second call has no validation set
        validation = {} if i == 1 else dict(X_val=X[300:400], y_val=y[300:400])
        clf.partial_fit(X[:300], y[:300], classes=np.arange(10), **validation)
    disp = LossCurveDisplay.from_estimator(clf)
    np.testing.assert_array_equal(disp.validation_loss_line_.get_xdata(), [1, 3, 4])
    np.testing.assert_allclose(disp.validation_loss_line_.get_ydata(),
                               clf.validation_loss_curve_)
    assert disp.validation_line_ is None  # scoring='loss': the score is that curve negated
