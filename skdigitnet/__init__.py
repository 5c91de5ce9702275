"""skdigitnet: the plain neural network of "But what is a neural network?", as a
first-class scikit-learn estimator."""

from ._activations import ACTIVATIONS, Activation, get_activation, register_activation
from ._classifier import DigitMLPClassifier
from ._datasets import load_digits, load_mnist
from ._io import read_image
from ._plotting import ActivationsDisplay, LossCurveDisplay, WeightImagesDisplay
from ._playground import serve
from ._playground_api import load_pretrained
from ._persistence import load_model, save_model
from ._preprocessing import DigitNormalizer, normalize_images
from ._validation import InvalidParameterError

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ActivationsDisplay",
    "DigitMLPClassifier",
    "DigitNormalizer",
    "InvalidParameterError",
    "LossCurveDisplay",
    "WeightImagesDisplay",
    "get_activation",
    "load_digits",
    "load_mnist",
    "load_model",
    "load_pretrained",
    "normalize_images",
    "read_image",
    "register_activation",
    "save_model",
    "serve",
    "__version__",
]
