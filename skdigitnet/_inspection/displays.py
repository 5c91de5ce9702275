"""Pictures of a network, in scikit-learn's Display pattern.

Each Display holds plain arrays (its constructor takes them), makes them from a fitted
estimator with ``from_estimator``, and draws with ``plot(ax=None)``, which sets
``figure_`` and ``ax_`` (or ``axes_``). matplotlib is imported inside ``plot`` only:
install it with the ``plot`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skdigitnet._images.normalizer import default_image_shape
from skdigitnet._typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

    from skdigitnet._neural_network.classifier import DigitMLPClassifier
    from skdigitnet._typing import NDArray

#: Axes to draw on: one, or several in a sequence or an array (as ``plt.subplots`` gives).
AxesLike: TypeAlias = "Axes | Sequence[Axes] | NDArray[np.object_]"

#: Diverging colour map: negative weights red, zero white, positive blue.
WEIGHT_CMAP = "RdBu"


def _image_shape(n_pixels: int, image_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    if image_shape is not None:
        if int(np.prod(image_shape)) != n_pixels:
            raise ValueError(f"image_shape={tuple(image_shape)} does not hold {n_pixels} "
                             "values; give the shape of the layer's input images.")
        return tuple(image_shape)
    return default_image_shape(n_pixels)


def _pyplot() -> ModuleType:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'skdigitnet[plot]'.") from exc
    return plt


class WeightImagesDisplay:
    """Each neuron's incoming weights as a picture: blue positive, red negative.

    Parameters
    ----------
    weights : ndarray of shape (n_neurons, n_inputs)
        Row ``j`` holds the weights into neuron ``j`` (a column of ``coefs_[layer]``).
    image_shape : tuple of int
        Shape of the layer's input as an image, e.g. (28, 28).
    layer : int, default=0
        Which hidden layer the neurons belong to (0 is the first), for titles.

    Attributes
    ----------
    images_ : list of matplotlib AxesImage
        One per neuron; ``images_[j].get_array()`` is neuron ``j``'s weights as an image.
    figure_ : matplotlib Figure
    axes_ : ndarray of matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdigitnet import DigitMLPClassifier, WeightImagesDisplay, load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DigitMLPClassifier(max_iter=300, random_state=0).fit(X[:300], y[:300])
    >>> disp = WeightImagesDisplay.from_estimator(clf)
    >>> len(disp.images_), disp.images_[0].get_array().shape
    (16, (28, 28))
    """

    images_: list[AxesImage]
    figure_: Figure | SubFigure
    axes_: NDArray[np.object_]

    def __init__(self, weights: ArrayLike, image_shape: Sequence[int], *, layer: int = 0) -> None:
        self.weights = np.asarray(weights)
        self.image_shape = tuple(image_shape)
        self.layer = layer

    @classmethod
    def from_estimator(cls, estimator: DigitMLPClassifier, *, layer: int = 0,
                       image_shape: Sequence[int] | None = None, ax: AxesLike | None = None,
                       **plot_kw: Any) -> WeightImagesDisplay:
        """Draw the weights into hidden layer ``layer`` of a fitted DigitMLPClassifier.

        Parameters
        ----------
        estimator : DigitMLPClassifier
            Fitted.
        layer : int, default=0
            The hidden layer whose neurons are drawn: 0 is the first, whose weights come
            from the pixels.
        image_shape : tuple of int, default=None
            Shape of the layer's input as an image; by default a square (28x28 for 784
            inputs), else a row.
        ax : array of matplotlib Axes, default=None
            As in :meth:`plot`.
        **plot_kw
            ``ncols`` and ``cmap``, passed to :meth:`plot`.

        Returns
        -------
        display : WeightImagesDisplay
        """
        check_is_fitted(estimator)
        coefs = estimator.coefs_[layer]
        shape = _image_shape(coefs.shape[0], image_shape)
        return cls(coefs.T, shape, layer=layer).plot(ax=ax, **plot_kw)

    def plot(self, ax: AxesLike | None = None, *, ncols: int | None = None,
             cmap: str = WEIGHT_CMAP) -> WeightImagesDisplay:
        """One image per neuron, with one colour scale centred on 0 for all of them.

        Parameters
        ----------
        ax : array of matplotlib Axes, default=None
            At least ``n_neurons`` axes; by default a new figure with a grid.
        ncols : int, default=None
            Columns of the grid (default: about the square root of ``n_neurons``).
        cmap : str, default='RdBu'
            A diverging matplotlib colour map: blue positive, red negative by default.

        Returns
        -------
        display : WeightImagesDisplay
            ``self``, with ``images_``, ``figure_`` and ``axes_`` set.
        """
        plt = _pyplot()
        n = self.weights.shape[0]
        own_figure = ax is None
        if ax is None:
            ncols = ncols or int(np.ceil(np.sqrt(n)))
            nrows = int(np.ceil(n / ncols))
            _, ax = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.4 * nrows + 0.4),
                                 squeeze=False)
        axes = np.asarray(ax).ravel()
        limit = float(np.abs(self.weights).max()) or 1.0
        self.images_ = []
        for j, a in enumerate(axes):
            a.set_xticks([])
            a.set_yticks([])
            if j >= n:
                a.set_visible(False)
                continue
            image = self.weights[j].reshape(self.image_shape)
            self.images_.append(a.imshow(image, cmap=cmap, vmin=-limit, vmax=limit))
            a.set_title(f"neuron {j}", fontsize=7)
        self.axes_, self.figure_ = axes, axes[0].figure
        if own_figure:  # on axes of their own figure, callers title it themselves
            self.figure_.suptitle(f"weights into hidden layer {self.layer + 1} "
                                  f"(blue +, red -, |w| <= {limit:.2g})", fontsize=9)
        return self


class ActivationsDisplay:
    """One input passing through the network: the image, every layer lit up, the answer.

    Parameters
    ----------
    activations : list of ndarray of shape (n_units_of_layer,)
        ``[input, hidden_1, ..., output]`` for one sample.
    image_shape : tuple of int
        Shape of the input as an image.
    classes : ndarray of shape (n_outputs,)
        Labels of the output neurons.

    Attributes
    ----------
    activations_ : list of ndarray
        The arrays drawn.
    predicted_ : label
        The class of the most active output neuron.
    neurons_ : list of matplotlib PathCollection
        One per hidden and output layer: the circles, shaded by activation.
    figure_, axes_ : matplotlib Figure and ndarray of Axes
    """

    activations_: list[NDArray[Any]]
    predicted_: Any
    neurons_: list[PathCollection]
    labels_: list[Text]
    figure_: Figure | SubFigure
    axes_: NDArray[np.object_]

    def __init__(self, activations: Sequence[ArrayLike], image_shape: Sequence[int],
                 classes: ArrayLike) -> None:
        self.activations = [np.asarray(a) for a in activations]
        self.image_shape = tuple(image_shape)
        self.classes = np.asarray(classes)

    @classmethod
    def from_estimator(cls, estimator: DigitMLPClassifier, x: ArrayLike, *,
                       image_shape: Sequence[int] | None = None,
                       ax: AxesLike | None = None) -> ActivationsDisplay:
        """Pass one sample ``x`` through a fitted DigitMLPClassifier and draw.

        Parameters
        ----------
        estimator : DigitMLPClassifier
            Fitted.
        x : array-like of shape (n_features,)
            One sample, e.g. a 28x28 image flattened.
        image_shape : tuple of int, default=None
            Shape of ``x`` as an image; by default a square, else a row.
        ax : array of two matplotlib Axes, default=None
            Where to draw the image and the network; by default a new figure.

        Returns
        -------
        display : ActivationsDisplay
        """
        check_is_fitted(estimator)
        x = np.asarray(x).reshape(1, -1)
        layers = [np.asarray(a)[0] for a in estimator.layer_activations(x)]
        if len(layers[-1]) != len(estimator.classes_):  # one logistic output: P(class 1)
            layers[-1] = np.array([1 - layers[-1][0], layers[-1][0]])
        shape = _image_shape(x.shape[1], image_shape)
        return cls(layers, shape, estimator.classes_).plot(ax=ax)

    def plot(self, ax: AxesLike | None = None) -> ActivationsDisplay:
        """Left: the input image. Right: each layer a column of neurons, darker = more
        active (scaled per layer), with the output neurons labelled by class and
        probability and the predicted class in bold.

        Parameters
        ----------
        ax : array of two matplotlib Axes, default=None
            Where to draw the image and the network; by default a new figure.

        Returns
        -------
        display : ActivationsDisplay
            ``self``, with the attributes set.
        """
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(8, 4.5),
                                 gridspec_kw={"width_ratios": [1, 2]})
        image_ax, net_ax = np.asarray(ax).ravel()[:2]
        image_ax.imshow(self.activations[0].reshape(self.image_shape), cmap="gray_r")
        image_ax.set_xticks([])
        image_ax.set_yticks([])
        image_ax.set_title("input")
        self.activations_ = self.activations
        self.neurons_ = []
        layers = self.activations[1:]
        for col, values in enumerate(layers):
            top = values.max()
            shade = values / top if top > 0 else np.zeros_like(values)
            ys = np.linspace(1, 0, len(values)) if len(values) > 1 else np.array([0.5])
            self.neurons_.append(net_ax.scatter(np.full(len(values), col), ys, c=shade,
                                                cmap="Greys", vmin=0, vmax=1, s=120,
                                                edgecolors="black", linewidths=0.5))
        out = layers[-1]
        self.predicted_ = self.classes[int(np.argmax(out))]
        ys = np.linspace(1, 0, len(out)) if len(out) > 1 else np.array([0.5])
        self.labels_ = []
        for label, p, yv in zip(self.classes, out, ys):
            bold = label == self.predicted_
            self.labels_.append(net_ax.text(len(layers) - 1 + 0.15, yv, f"{label}: {p:.2f}",
                                            va="center", fontsize=8,
                                            fontweight="bold" if bold else "normal",
                                            color="tab:blue" if bold else "black"))
        net_ax.set_xlim(-0.5, len(layers) - 0.2)
        net_ax.set_xticks(range(len(layers)))
        net_ax.set_xticklabels([f"hidden {i + 1}" for i in range(len(layers) - 1)] + ["output"])
        net_ax.set_yticks([])
        net_ax.set_title(f"predicted: {self.predicted_}")
        self.axes_ = np.array([image_ax, net_ax])
        self.figure_ = image_ax.figure
        return self


class LossCurveDisplay:
    """The training loss per epoch and, where present, the validation loss and score.

    The training and validation losses share the left axis, so over-fitting shows as
    the two curves parting; the validation score has a twin axis on the right. The
    training loss of an epoch is the mean over its batches, L2 penalty included; the
    validation loss is measured after the epoch, without the penalty.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
    validation_scores : array-like of shape (n_epochs,) or None, default=None
    validation_loss_curve : array-like of shape (n_epochs,) or None, default=None
        NaN entries (epochs without a validation set) are skipped.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The loss curve.
    validation_loss_line_ : matplotlib Line2D or None
    validation_line_ : matplotlib Line2D or None
        The validation score.
    figure_, ax_ : matplotlib Figure and Axes
    """

    line_: Line2D
    validation_loss_line_: Line2D | None
    validation_line_: Line2D | None
    figure_: Figure | SubFigure
    ax_: Axes

    def __init__(self, loss_curve: ArrayLike, validation_scores: ArrayLike | None = None, *,
                 validation_loss_curve: ArrayLike | None = None) -> None:
        self.loss_curve = np.asarray(loss_curve, dtype=float)
        self.validation_scores = _floats_or_none(validation_scores)
        self.validation_loss_curve = _floats_or_none(validation_loss_curve)

    @classmethod
    def from_estimator(cls, estimator: DigitMLPClassifier, *,
                       ax: Axes | None = None) -> LossCurveDisplay:
        """Draw ``loss_curve_``, ``validation_loss_curve_`` and ``validation_scores_``.

        The validation values are placed at their epochs (from ``history_``), so
        ``partial_fit`` calls without a validation set leave gaps; with
        ``scoring='loss'`` the score (the negative validation loss) is not drawn again.

        Parameters
        ----------
        estimator : DigitMLPClassifier
            Fitted.
        ax : matplotlib Axes, default=None
            Where to draw; by default a new figure.

        Returns
        -------
        display : LossCurveDisplay
        """
        check_is_fitted(estimator)
        scores = _by_epoch(estimator, "validation_score", "validation_scores_")
        if getattr(estimator, "scoring", None) == "loss":
            scores = None
        losses = _by_epoch(estimator, "validation_loss", "validation_loss_curve_")
        return cls(estimator.loss_curve_, scores, validation_loss_curve=losses).plot(ax=ax)

    def plot(self, ax: Axes | None = None) -> LossCurveDisplay:
        """Losses on the left axis, validation score (if any) on a twin right axis.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; by default a new figure.

        Returns
        -------
        display : LossCurveDisplay
            ``self``, with ``line_``, ``validation_loss_line_``, ``validation_line_``,
            ``figure_`` and ``ax_`` set.
        """
        plt = _pyplot()
        if ax is None:  # a figure of its own: its layout keeps the labels inside it
            _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        epochs = np.arange(1, len(self.loss_curve) + 1)
        (self.line_,) = ax.plot(epochs, self.loss_curve, color="tab:red",
                                label="training loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        self.validation_loss_line_ = _plot_finite(ax, self.validation_loss_curve,
                                                  color="tab:orange", linestyle="--",
                                                  label="validation loss")
        self.validation_line_ = None
        if _has_finite(self.validation_scores):
            twin = ax.twinx()
            self.validation_line_ = _plot_finite(twin, self.validation_scores,
                                                 color="tab:blue", label="validation score")
            twin.set_ylabel("validation score", color="tab:blue")
            # the losses and the legend in front of the score's axes
            ax.set_zorder(twin.get_zorder() + 1)
            ax.patch.set_visible(False)
        lines = [line for line in (self.line_, self.validation_loss_line_,
                                   self.validation_line_) if line is not None]
        if len(lines) > 1:
            ax.legend(lines, [str(line.get_label()) for line in lines], loc="center right")
        self.ax_, self.figure_ = ax, ax.figure
        return self


def _floats_or_none(values: ArrayLike | None) -> NDArray[np.float64] | None:
    return None if values is None else np.asarray(values, dtype=float)


def _by_epoch(estimator: DigitMLPClassifier, key: str,
              attribute: str) -> NDArray[np.float64] | None:
    """One value per epoch of ``loss_curve_`` (NaN where an epoch had no validation set),
    from ``history_``; the attribute as it is when ``history_`` does not cover every
    epoch (a model file of version 1)."""
    history = getattr(estimator, "history_", [])
    if len(history) == len(estimator.loss_curve_):
        values = [row.get(key) for row in history]
        if all(v is None for v in values):
            return None
        return np.array([np.nan if v is None else v for v in values], dtype=float)
    return _floats_or_none(getattr(estimator, attribute, None))


def _has_finite(values: NDArray[np.float64] | None) -> bool:
    return values is not None and bool(np.isfinite(values).any())


def _plot_finite(ax: Axes, values: NDArray[np.float64] | None,
                 **style: Any) -> Line2D | None:
    """Plot the finite ``values`` at their epochs (counted from 1) on ``ax``; None, and
    nothing drawn, when there is none."""
    if values is None or not _has_finite(values):
        return None
    keep = np.isfinite(values)
    (line,) = ax.plot(np.arange(1, len(values) + 1)[keep], values[keep], **style)
    return line
