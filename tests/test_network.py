"""The math: gradients against finite differences, a network worked by hand, chunking."""

import itertools

import numpy as np
import pytest
from scipy import sparse

from skdigitnet._engine import predict_layer
from skdigitnet._neural_network.activations import _BUILTIN_NAMES, get_activation
from skdigitnet._neural_network.network import (
    Architecture,
    count_parameters,
    forward,
    init_parameters,
    loss_and_gradient,
    pack,
    parameter_vector,
    unpack,
)

from _custom import Cube, ScaledTanh, Squareplus
from _tolerance import assert_allclose_sums, assert_close_scalar
from conftest import backend_loss_and_gradient

USER = {"scaled_tanh": ScaledTanh(), "cube": Cube(), "squareplus": Squareplus()}
HIDDEN = sorted(_BUILTIN_NAMES - {"sigmoid"}) + sorted(USER)


def hidden_activation(name):
    return USER.get(name) or get_activation(name)


def random_problem(arch, rng, n_samples=7, one_hot=True):
    X = rng.normal(size=(n_samples, arch.units[0]))
    if one_hot and arch.units[-1] > 1:
        Y = np.eye(arch.units[-1])[rng.randint(arch.units[-1], size=n_samples)]
    else:
        Y = (rng.uniform(size=(n_samples, arch.units[-1])) > 0.5).astype(float)
    theta = init_parameters(arch, rng, np.float64)
    theta += rng.normal(scale=0.3, size=theta.shape)  # biases away from zero too
    return X, Y, theta


def numeric_gradient(arch, theta, X, Y, sw, alpha, eps=1e-6):
    grad, scratch = np.zeros_like(theta), np.empty_like(theta)
    for k in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[k] += eps
        minus[k] -= eps
        grad[k] = (loss_and_gradient(arch, plus, X, Y, sw, alpha, scratch)
                   - loss_and_gradient(arch, minus, X, Y, sw, alpha, scratch)) / (2 * eps)
    return grad


@pytest.mark.parametrize("name, output, loss", list(itertools.product(
    HIDDEN, ["softmax", "logistic"], ["log_loss", "squared_error"])))
def test_gradient_matches_finite_differences(name, output, loss, rng, backend):
    act = hidden_activation(name)
    arch = Architecture((3, 4, 3, 3), (act, act), output, loss)
    X, Y, theta = random_problem(arch, rng, one_hot=output == "softmax")
    if name == "cube":  # keep z**3 small enough that no probability is clipped at eps
        theta *= 0.3
    sw = rng.uniform(0.1, 3.0, size=X.shape[0])
    alpha = 0.7
    grad = np.empty_like(theta)
    backend_loss_and_gradient(backend, arch, theta, X, Y, sw, alpha, grad)
    expected = numeric_gradient(arch, theta, X, Y, sw, alpha)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_gradient_single_logistic_output_and_mixed_layers(loss, rng, backend):
    """Binary problems have one logistic output; layers may differ in activation."""
    arch = Architecture((4, 5, 3, 1), (get_activation("tanh"), get_activation("softplus")),
                        "logistic", loss)
    X, Y, theta = random_problem(arch, rng, n_samples=9)
    grad = np.empty_like(theta)
    backend_loss_and_gradient(backend, arch, theta, X, Y, None, 0.01, grad)
    np.testing.assert_allclose(grad, numeric_gradient(arch, theta, X, Y, None, 0.01),
                               rtol=1e-5, atol=1e-8)


def test_sparse_input_gives_the_dense_gradient(rng, backend):
    arch = Architecture((6, 4, 3), (get_activation("relu"),), "softmax", "log_loss")
    X, Y, theta = random_problem(arch, rng)
    X[X < 0.3] = 0
    g_dense, g_sparse = np.empty_like(theta), np.empty_like(theta)
    l_dense = backend_loss_and_gradient(backend, arch, theta, X, Y, None, 0.1, g_dense)
    l_sparse = backend_loss_and_gradient(backend, arch, theta, sparse.csr_matrix(X), Y, None,
                                         0.1, g_sparse)
    # scipy's sparse products sum in another order than BLAS: 6 inputs, 2 layers each way
    assert_close_scalar(l_sparse, l_dense, dtype=theta.dtype, n_terms=len(X) * 3, depth=4)
    assert_allclose_sums(g_sparse, g_dense, dtype=theta.dtype, n_terms=len(X), depth=4)


def test_tiny_network_worked_by_hand(backend):
    """2 inputs -> 2 sigmoid units -> 1 logistic output, one sample with label 1.

    z1 = x W1 + b1 = [1*0.1 + 2*0.3 + 0.0, 1*(-0.2) + 2*0.4 - 0.1] = [0.7, 0.5]
    a1 = sigmoid(z1) = [0.66818777216817, 0.62245933120185]
    z2 = a1 . [1, -1] + 0.5 = 0.54572844096631;  a2 = sigmoid(z2) = 0.63314399001852
    loss = -log(a2) = 0.45705741032276;  delta2 = a2 - 1 = -0.36685600998148
    dW2 = a1 * delta2 = [-0.24512870001603, -0.22835294662046];  db2 = delta2
    delta1 = delta2 * W2 * a1 (1 - a1) = [-0.08133670005784, 0.08621252418911]
    dW1 = x^T delta1 = [[-0.08133670005784, 0.08621252418911],
                        [-0.16267340011568, 0.17242504837823]];  db1 = delta1
    """
    sig = get_activation("logistic")
    arch = Architecture((2, 2, 1), (sig,), "logistic", "log_loss")
    coefs = [np.array([[0.1, -0.2], [0.3, 0.4]]), np.array([[1.0], [-1.0]])]
    intercepts = [np.array([0.0, -0.1]), np.array([0.5])]
    theta = pack(coefs, intercepts, np.float64)
    X, Y = np.array([[1.0, 2.0]]), np.array([[1.0]])

    activations, _ = forward(arch, *unpack(theta, arch.units), X)
    np.testing.assert_allclose(activations[1], [[0.66818777216817, 0.62245933120185]],
                               rtol=1e-12)
    np.testing.assert_allclose(activations[2], [[0.63314399001852]], rtol=1e-12)

    grad = np.empty_like(theta)
    loss = backend_loss_and_gradient(backend, arch, theta, X, Y, None, 0.0, grad)
    assert loss == pytest.approx(0.45705741032276, rel=1e-12)
    g_coefs, g_intercepts = unpack(grad, arch.units)
    np.testing.assert_allclose(g_coefs[1], [[-0.24512870001603], [-0.22835294662046]],
                               rtol=1e-11)
    np.testing.assert_allclose(g_intercepts[1], [-0.36685600998148], rtol=1e-11)
    np.testing.assert_allclose(g_coefs[0], [[-0.08133670005784, 0.08621252418911],
                                            [-0.16267340011568, 0.17242504837823]],
                               rtol=1e-11)
    np.testing.assert_allclose(g_intercepts[0], [-0.08133670005784, 0.08621252418911],
                               rtol=1e-11)


def test_l2_term_and_its_gradient_by_hand(backend):
    """With zero data gradient possible only through alpha: loss has 0.5*alpha*||W||²/n."""
    ident = get_activation("identity")
    arch = Architecture((1, 1, 2), (ident,), "softmax", "log_loss")
    theta = pack([np.array([[2.0]]), np.array([[0.0, 0.0]])],
                 [np.array([0.0]), np.array([0.0, 0.0])], np.float64)
    X, Y = np.array([[1.0], [1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    grad = np.empty_like(theta)
    loss = backend_loss_and_gradient(backend, arch, theta, X, Y, None, 0.5, grad)
    # outputs are [0.5, 0.5] for both samples: data loss log(2); L2: 0.5*0.5*4/2 = 0.5
    assert loss == pytest.approx(np.log(2) + 0.5, rel=1e-12)
    assert grad[0] == pytest.approx(0.5 * 2.0 / 2, rel=1e-12)  # alpha * w / n


def test_pack_unpack_are_views_and_roundtrip(rng):
    units = (5, 4, 3, 2)
    assert count_parameters(units) == 5 * 4 + 4 + 4 * 3 + 3 + 3 * 2 + 2
    assert count_parameters((784, 16, 16, 10)) == 13002
    theta = rng.normal(size=count_parameters(units))
    coefs, intercepts = unpack(theta, units)
    assert [c.shape for c in coefs] == [(5, 4), (4, 3), (3, 2)]
    assert [b.shape for b in intercepts] == [(4,), (3,), (2,)]
    assert all(np.shares_memory(p, theta) for p in coefs + intercepts)
    np.testing.assert_array_equal(pack(coefs, intercepts, np.float64), theta)
    coefs[1][0, 0] = 42.0
    assert theta[20] == 42.0


def test_parameter_vector_reads_the_fitted_vector_in_place_or_packs(rng):
    """A prediction reads the vector coefs_ and intercepts_ are views of, while they
    are; any other arrays (replaced, another dtype, out of order) are packed anew."""
    from skdigitnet._engine.compute import aligned_empty
    units = (5, 4, 3, 2)
    theta = aligned_empty(count_parameters(units), np.float32)  # as fit makes it
    theta[...] = rng.normal(size=theta.shape)
    coefs, intercepts = unpack(theta, units)
    flat = parameter_vector(coefs, intercepts, np.float32)
    assert flat.shape == theta.shape and np.shares_memory(flat, theta)
    np.testing.assert_array_equal(flat, theta)
    coefs[0][1, 2] = 7.0  # an edit in place shows
    assert flat[1 * 4 + 2] == 7.0
    cases = {"a replaced array": ([*coefs[:1], coefs[1].copy(), *coefs[2:]], intercepts),
             "out of order": (coefs, intercepts[::-1]),
             "not from a vector": ([c.copy() for c in coefs], [b.copy() for b in intercepts])}
    for name, (c, b) in cases.items():
        packed = parameter_vector(c, b, np.float32)
        assert not np.shares_memory(packed, theta), name
        np.testing.assert_array_equal(packed, pack(c, b, np.float32), err_msg=name)
    wider = parameter_vector(coefs, intercepts, np.float64)  # another dtype: converted
    assert wider.dtype == np.float64 and not np.shares_memory(wider, theta)
    np.testing.assert_array_equal(wider, theta)
    inner = np.arange(100, dtype=np.float32)[10: 10 + theta.size]  # inside a longer array
    flat = parameter_vector(*unpack(inner, units), np.float32)
    assert np.shares_memory(flat, inner)
    np.testing.assert_array_equal(flat, inner)


def test_init_is_glorot_uniform_with_the_activation_factor(rng):
    arch = Architecture((784, 16, 16, 10), (get_activation("logistic"),) * 2, "softmax",
                        "log_loss")
    coefs, _ = unpack(init_parameters(arch, rng, np.float32), arch.units)
    assert coefs[0].dtype == np.float32
    bound = np.sqrt(2.0 / (784 + 16))
    assert np.abs(coefs[0]).max() <= bound
    assert np.abs(coefs[0]).max() > 0.95 * bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_prediction_equals_one_pass(dtype, rng):
    arch = Architecture((8, 6, 5, 4), (get_activation("relu"), get_activation("gelu")),
                        "softmax", "log_loss")
    theta = init_parameters(arch, rng, dtype)
    coefs, intercepts = unpack(theta, arch.units)
    X = rng.normal(size=(103, 8)).astype(dtype)
    whole = forward(arch, coefs, intercepts, X)[0]
    for layer in (1, 2, 3):
        chunked = predict_layer(arch, coefs, intercepts, X, layer, chunk_rows=10)
        assert chunked.dtype == dtype
        assert_allclose_sums(chunked, whole[layer], dtype=dtype, n_terms=8, depth=layer)
