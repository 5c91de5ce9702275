"""One fitted network as one value, and the estimator attributes it defines.

``fit``, ``partial_fit``, the callbacks' per-epoch snapshot and ``load_model`` all build a
:class:`FittedNetwork` and hand it to ``DigitMLPClassifier._set_fitted``, which sets every
fitted attribute from :func:`fitted_attributes`. There is no other place that writes them,
so a reloaded model cannot disagree with the one that was saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skdigitnet._typing import FloatArray, NDArray, TargetKind

from .network import Architecture, unpack
from .training import TrainingRecord


@dataclass
class FittedNetwork:
    """Everything a fitted classifier knows.

    arch : Architecture
        Layer sizes, hidden activations, output activation and loss.
    theta : ndarray of shape (n_parameters,)
        The flat parameters; ``coefs_`` and ``intercepts_`` are views of it.
    classes : ndarray of shape (n_classes,)
    target_kind : {'binary', 'multiclass', 'multilabel'}
    record : TrainingRecord
        Loss curve, validation scores, epoch history and the stopping state.
    feature_names : ndarray of str objects or None
        The column names seen in fit, if any.
    input_scale : float or None
        The largest absolute input value fit saw (on sampled rows, ``_fit_input.input_scale``),
        against which predictions check their input's scale; None when unknown (a model
        file saved before it was recorded).
    """

    arch: Architecture
    theta: FloatArray
    classes: NDArray[Any]
    target_kind: TargetKind
    record: TrainingRecord = field(default_factory=TrainingRecord)
    feature_names: NDArray[np.object_] | None = None
    input_scale: float | None = None

    def snapshot(self) -> FittedNetwork:
        """A copy that later training steps cannot change (parameters and record)."""
        return FittedNetwork(self.arch, self.theta.copy(), self.classes, self.target_kind,
                             self.record.copy(), self.feature_names, self.input_scale)


def fitted_attributes(network: FittedNetwork, early_stopping: bool) -> dict[str, Any]:
    """The estimator's fitted attributes (name -> value) for ``network``.

    ``early_stopping`` is whether a validation score decided when to stop; then
    ``best_loss_`` is None, as in ``MLPClassifier``.
    """
    record, units = network.record, network.arch.units
    coefs, intercepts = unpack(network.theta, units)
    curve = record.loss_curve
    return {
        "coefs_": coefs, "intercepts_": intercepts, "classes_": network.classes,
        "out_activation_": network.arch.output, "n_layers_": len(units),
        "n_outputs_": units[-1], "n_features_in_": units[0],
        "n_iter_": record.n_iter, "t_": record.t, "loss_curve_": curve,
        "loss_": curve[-1] if curve else np.nan,
        "best_loss_": None if early_stopping else record.best_loss,
        "validation_scores_": record.validation_scores,
        "validation_loss_curve_": record.validation_loss_curve,
        "early_stopped_": record.early_stopped,
        "best_validation_score_": (record.best_validation_score
                                   if record.validation_scores else None),
        "history_": record.history,
        "_arch": network.arch, "_target_kind": network.target_kind, "_record": record,
        "_input_scale": network.input_scale,
    }
