"""skdigitnet: the plain neural network of "But what is a neural network?", as a
first-class scikit-learn estimator."""

from ._datasets import load_digits, load_mnist
from ._images.files import read_image
from ._images.normalizer import DigitNormalizer, normalize_images
from ._inspection.displays import ActivationsDisplay, LossCurveDisplay, WeightImagesDisplay
from ._io.model_files import load_model, save_model
from ._io.onnx import install_onnx_registration as _install_onnx_registration
from ._io.onnx import register_onnx_converter, to_onnx
from ._io.to_sklearn import to_mlpclassifier
from ._neural_network.activations import (
    ACTIVATIONS,
    Activation,
    get_activation,
    register_activation,
)
from ._neural_network.classifier import DigitMLPClassifier
from ._playground.api import load_pretrained
from ._playground.serve import serve
from ._validation import InvalidParameterError

__version__ = "0.1.0"

# skl2onnx.to_onnx(pipe, X) converts our models once skl2onnx is imported, in either
# order, without importing skl2onnx here (about a second): see _export.
_install_onnx_registration()

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ActivationsDisplay",
    "DigitMLPClassifier",
    "DigitNormalizer",
    "InvalidParameterError",
    "LossCurveDisplay",
    "WeightImagesDisplay",
    "__version__",
    "get_activation",
    "load_digits",
    "load_mnist",
    "load_model",
    "load_pretrained",
    "normalize_images",
    "read_image",
    "register_activation",
    "register_onnx_converter",
    "save_model",
    "serve",
    "to_mlpclassifier",
    "to_onnx",
]
