"""The command line: options and errors. The commands themselves are in ``commands.py``.

    python -m skdigitnet                 train the seed network on the bundled digits, report
    python -m skdigitnet demo ...        the same, with options
    python -m skdigitnet train ...       train, save the model and (with matplotlib) pictures
    python -m skdigitnet predict ...     read digit images, print the digit and probabilities
    python -m skdigitnet inspect ...     pictures of a saved model (needs matplotlib)
    python -m skdigitnet serve ...       the playground: draw a digit in the browser

Options are parsed once. The shared ones may come before or after the command: they are
declared with ``default=SUPPRESS`` on the top-level parser and on every subcommand that
takes them, so a value given before the command is not overwritten by the subcommand's
default; defaults are filled in afterwards, per command. A network option given before
``predict`` or ``inspect`` is refused rather than ignored.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from skdigitnet import __version__
from skdigitnet._neural_network.activations import ACTIVATIONS

from .commands import CommandError, inspect, predict, report_error, run_demo, run_serve, train

PROG = "python -m skdigitnet"
EPOCHS = {"demo": 200, "train": 30, "serve": 30}  # (serve: with --train)
DEFAULTS: dict[str, Any] = {"activation": "relu", "hidden": (16, 16), "random_state": 0,
                            "quiet": False, "deskew": True, "debug": False}
#: Options of the network and its training, by destination: demo, train and serve --train.
NETWORK_OPTIONS = {"activation": "--activation", "hidden": "--hidden", "max_iter": "--epochs",
                   "random_state": "--random-state", "quiet": "--quiet"}
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": run_demo, "train": train, "predict": predict, "inspect": inspect, "serve": run_serve}
EPILOG = """\
Options shown under "options of every command" and "network options" may come before or
after the command: '--epochs 5 train' is 'train --epochs 5'. Network options apply to
demo, train and serve --train.

Exit status: 0 done; 1 done except for some blank images or pictures not drawn; 2 a user
error (a bad option, a missing or unreadable file, a bad model file, MNIST not found),
reported on one line of stderr ('--debug' adds the traceback).
"""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line: ``skdigitnet: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"skdigitnet: error: {message} (see '{self.prog} --help')\n")


def _hidden_sizes(text: str) -> tuple[int, ...]:
    """'16,16' -> (16, 16); anything but positive whole numbers is refused."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of layer sizes; give positive whole numbers separated "
            "by commas, e.g. 16,16 or 32")
    return sizes


def _activation(text: str) -> str:
    if text not in ACTIVATIONS:
        raise argparse.ArgumentTypeError(
            f"unknown activation {text!r}; choose one of {', '.join(sorted(ACTIVATIONS))}")
    return text


def _epochs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _shared_options() -> tuple[_Parser, _Parser]:
    """Parent parsers: (options of every command, network options)."""
    hide = argparse.SUPPRESS
    common = _Parser(add_help=False)
    group = common.add_argument_group("options of every command (before or after it)")
    group.add_argument("--no-deskew", dest="deskew", action="store_false", default=hide,
                       help="do not deskew the digits (use it for predict and inspect too "
                       "when the model was trained with it)")
    group.add_argument("--debug", action="store_true", default=hide,
                       help="on an error, show the traceback too")
    network = _Parser(add_help=False)
    group = network.add_argument_group("network options (demo, train and serve --train; "
                                       "before or after the command)")
    group.add_argument("--activation", type=_activation, default=hide, metavar="NAME",
                       help=f"hidden activation: {', '.join(sorted(ACTIVATIONS))} "
                       "(default: relu)")
    group.add_argument("--hidden", type=_hidden_sizes, default=hide, metavar="SIZES",
                       help="hidden layer sizes, comma-separated (default: 16,16)")
    group.add_argument("--epochs", "--max-iter", dest="max_iter", type=_epochs, default=hide,
                       metavar="N",
                       help="epochs at most (default: 200 for demo, 30 for train and "
                       "serve --train)")
    group.add_argument("--random-state", type=int, default=hide, metavar="SEED",
                       help="seed of the weights and of the train/test split (default: 0)")
    group.add_argument("--quiet", action="store_true", default=hide,
                       help="no progress output")
    return common, network


#: Each command's one-line summary (in the top-level help) and description (in its own).
COMMAND_HELP = {
    "demo": ("the default: train on the bundled digits, report",
             ("Train the network on scikit-learn's bundled digits and print it, the fit time, "
              "the test accuracy and a confusion matrix. Saves nothing.")),
    "train": ("train a network, save it and its pictures",
              ("Train a network on the bundled digits or MNIST, save OUT/model.npz and print "
               "the test accuracy; with matplotlib installed, also save OUT/weights.png, "
               "activations.png and loss.png.")),
    "predict": ("read digit images with a saved network",
                ("Print, for each image, its digit, the probability and all ten "
                 "probabilities. Blank and unreadable images get one line each on stderr; "
                 "the others are still predicted. The model file comes first: predict "
                 "MODEL.npz IMAGE...; without one, the model that ships with skdigitnet "
                 "(784-16-16-10 trained on MNIST) reads them.")),
    "inspect": ("draw the pictures of a saved network",
                ("Print the network and save weights.png, loss.png and (with --image) "
                 'activations.png. Needs matplotlib: pip install "skdigitnet[plot]".')),
    "serve": ("draw a digit in the browser and watch the network read it",
              ("Serve the playground on this machine and print its URL: draw a digit, see "
               "the 28x28 image the network gets, every neuron light up and the answer; "
               "click a neuron for its weights; break the network on a copy; fool it; "
               "read a photo; train a network in the page and watch it learn. Uses MODEL, "
               "or with --train a network trained now as 'train' trains it, with the same "
               "network options (on MNIST when --data-home or SKDIGITNET_DATA holds it, else "
               "on the bundled digits), or else the model that ships with skdigitnet. "
               "Ctrl-C stops it.")),
}


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    common, network = _shared_options()
    parser = _Parser(
        prog=PROG, parents=[common, network], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "The digit network of 'But what is a neural network?'. Without a command: demo, "
            "which trains it (784 pixels, two hidden layers of 16, 10 outputs) on "
            "scikit-learn's bundled digits, normalised to MNIST-style 28x28 images, and "
            "reports.", 88))
    parser.add_argument("--version", action="version", version=f"skdigitnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{demo,train,predict,inspect,serve}")
    sub = {name: commands.add_parser(
        name, help=summary, description=textwrap.fill(description, 88), epilog=EPILOG,
        parents=[common, network] if name in EPOCHS else [common],
        formatter_class=argparse.RawDescriptionHelpFormatter)
        for name, (summary, description) in COMMAND_HELP.items()}
    _train_options(sub["train"])
    _model_options(sub["predict"], sub["inspect"])
    _serve_options(sub["serve"])
    return parser, sub


def _train_options(train: argparse.ArgumentParser) -> None:
    train.add_argument("--data", choices=("digits", "mnist"), default="digits",
                       help="bundled digits (default) or MNIST")
    train.add_argument("--data-home", help="folder of the MNIST IDX files (else "
                       "SKDIGITNET_DATA, else a download from OpenML)")
    train.add_argument("--out", default="skdigitnet-model", help="output folder "
                       "(default: skdigitnet-model)")


def _model_options(predict: argparse.ArgumentParser,
                   inspect: argparse.ArgumentParser) -> None:
    inspect.add_argument("model", help="a model file saved by 'train' (model.npz)")
    predict.usage = f"{predict.prog} [options] [MODEL.npz] IMAGE [IMAGE ...]"
    predict.add_argument("images", nargs="+", metavar="IMAGE",
                         help="image files (PNG, JPEG, ...) of digits, any size, dark ink on "
                         "light paper or the reverse; a first argument ending in .npz is a "
                         "model file saved by 'train' (default: the shipped model)")
    inspect.add_argument("--out", default=".", help="folder for the PNG files (default: .)")
    inspect.add_argument("--image", help="an image file to show passing through the network")


def _serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("model", nargs="?", metavar="MODEL", help="a model file saved by "
                       "'train' (default: the model that ships with skdigitnet)")
    serve.add_argument("--port", type=int, default=8765,
                       help="port to listen on (default: 8765; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                       "127.0.0.1, this machine only)")
    serve.add_argument("--open", action="store_true", help="open the page in a browser")
    serve.add_argument("--train", action="store_true", help="train a network first")
    serve.add_argument("--data-home", help="the folder of the MNIST IDX files: --train and "
                       "the page's Train panel then use MNIST (else SKDIGITNET_DATA)")


def _check_serve(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    if args.train and args.model is not None:
        command.error("give a MODEL file or --train, not both")
    given = [flag for dest, flag in NETWORK_OPTIONS.items() if dest in vars(args)]
    if given and not args.train:
        verb = "applies" if len(given) == 1 else "apply"
        command.error(f"{', '.join(given)} {verb} to serve --train only")
    if not 0 <= args.port <= 65535:
        command.error(f"--port must be from 0 to 65535; got {args.port}")


def _split_model(args: argparse.Namespace, command: argparse.ArgumentParser) -> None:
    """``predict [MODEL.npz] IMAGE ...``: a first argument ending in .npz is the model;
    a model file anywhere else is a mistake, said as such."""
    first = args.images[0]
    args.model = args.images.pop(0) if first.lower().endswith(".npz") else None
    if not args.images:
        command.error(f"give image files after the model file {first}")
    late = [path for path in args.images if path.lower().endswith(".npz")]
    if late:
        before = "another model file" if args.model is not None else f"the image {first}"
        command.error(f"{late[0]} is a model file given after {before}: the model goes "
                      "first, once (predict MODEL.npz IMAGE...)")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` once; fill in each command's defaults; refuse misplaced options."""
    parser, commands = _parser()
    args = parser.parse_args(argv)
    args.command = args.command or "demo"
    if args.command in ("predict", "inspect"):
        given = [flag for dest, flag in NETWORK_OPTIONS.items() if dest in vars(args)]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            parser.error(f"{', '.join(given)} {verb} to demo and train, not to {args.command}")
    if args.command == "train" and args.data_home is not None and args.data != "mnist":
        commands["train"].error("--data-home applies to --data mnist only")
    if args.command == "predict":
        _split_model(args, commands["predict"])
    if args.command == "serve":
        _check_serve(args, commands["serve"])
    for dest, value in {**DEFAULTS, "max_iter": EPOCHS.get(args.command)}.items():
        vars(args).setdefault(dest, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 done; 1 done except for blank images or pictures not drawn; 2 a user error,
        reported as one line on stderr. Usage errors, ``--help`` and ``--version`` exit
        through ``SystemExit``, as argparse does (status 2 and 0).
    """
    args = parse(sys.argv[1:] if argv is None else list(argv))
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # stdout closed early, as by `| head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (CommandError, ValueError, TypeError, OSError) as exc:
        report_error(exc, args.debug)
        return 2
    except KeyboardInterrupt:
        print("skdigitnet: interrupted", file=sys.stderr)
        return 130

