"""Tests of ``MLP``: parameters, loss, backpropagation, the R-operator Hessian-vector product,
and exact MAML through the model interface of ``gamaml_helpers``.

Everything is float64 on small sinusoid regression tasks, ``x ~ U[-5, 5]``,
``y = A sin(x + phase)``. Derivatives are checked against central finite differences,
which are accurate to about ``eps^2 * f''' + 1e-16 / eps``; for a ReLU net that only holds
while no pre-activation crosses 0 within the step, so the ReLU tests assert a margin first.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gamaml_helpers as gh

MLP = gh.MLP

EPS = 1e-6  # finite-difference step
ACTS = ("tanh", "relu")
T, K, Q = 3, 5, 4  # tasks, support points, query points
SMALL = (1, 5, 4, 1)  # P = 10 + 24 + 5 = 39
RELU_MARGIN = 1e-3  # ReLU tests need every |pre-activation| above this (>> EPS * |v| ...)


# -- data and references -----------------------------------------------------------------------


def sinusoids(rng, n_tasks=T, k=K):
    """x (T, k, 1) ~ U[-5, 5], y (T, k) = A sin(x + phase) with A ~ U[0.1, 5], phase ~ U[0, pi]."""
    amplitude = rng.uniform(0.1, 5.0, (n_tasks, 1))
    phase = rng.uniform(0.0, np.pi, (n_tasks, 1))
    x = rng.uniform(-5.0, 5.0, (n_tasks, k, 1))
    return x, amplitude * np.sin(x[..., 0] + phase)


def random_theta(model, rng, n_tasks=None, bias_scale=1.0):
    """The model's init with random biases (so ReLU kinks are not all at x = 0), perturbed;
    (P,) or, with n_tasks, (n_tasks, P)."""
    theta = model.init(rng)
    for b in model.unflatten(theta)[1::2]:
        b += bias_scale * rng.standard_normal(b.shape)
    if n_tasks is None:
        return theta
    return theta + 0.1 * rng.standard_normal((n_tasks, model.n_params))


def reference_predict(model, theta, x):
    """The network on one point at a time, a plain loop: theta (P,), x (k, d_in) -> (k,)."""
    params = model.unflatten(theta)
    act = np.tanh if model.activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    out = []
    for point in x:
        h = point
        for layer in range(len(params) // 2):
            W, b = params[2 * layer], params[2 * layer + 1]
            z = np.array([sum(h[i] * W[i, j] for i in range(len(h))) for j in range(len(b))])
            z = z + b
            h = act(z) if layer < len(params) // 2 - 1 else z
        out.append(h[0])
    return np.array(out)


def reference_loss(model, theta, x, y):
    """Mean squared error of one task, from ``reference_predict``."""
    return np.mean((reference_predict(model, theta, x) - y) ** 2)


def central_gradient(f, theta, eps=EPS):
    """Central differences of a scalar function f at theta (P,): (P,)."""
    g = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g


def min_abs_preactivation(model, theta, x):
    """The smallest |pre-activation| over every hidden unit, point and task."""
    _, z = model._forward(model.unflatten(theta), x)
    return min(np.abs(zl).min() for zl in z[:-1])


def require_margin(model, theta, x):
    """ReLU: finite differences are only valid away from the kinks; fail loudly otherwise."""
    if model.activation == "relu":
        margin = min_abs_preactivation(model, theta, x)
        assert margin > RELU_MARGIN, f"test data sits on a ReLU kink (|z| = {margin:.1e})"


def each_task(theta, n_tasks):
    """theta (P,) or (T, P) -> a list of T rows."""
    return [theta if theta.ndim == 1 else theta[i] for i in range(n_tasks)]


@pytest.fixture(params=ACTS)
def model(request):
    return MLP(SMALL, request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


# -- construction, parameters ------------------------------------------------------------------


def test_default_is_the_maml_sinusoid_network():
    m = MLP()
    assert m.sizes == (1, 40, 40, 1) and m.activation == "relu" and m.score_name == "mse"
    assert m.n_params == 40 + 40 + 40 * 40 + 40 + 40 + 1
    assert repr(m) == "MLP(sizes=(1, 40, 40, 1), activation='relu')"


def test_unflatten_shapes_and_views():
    m = MLP((1, 40, 40, 1))
    theta = np.arange(m.n_params, dtype=float)
    shapes = [p.shape for p in m.unflatten(theta)]
    assert shapes == [(1, 40), (40,), (40, 40), (40,), (40, 1), (1,)]
    thetas = np.stack([theta, -theta])
    assert [p.shape for p in m.unflatten(thetas)] == [(2, *s) for s in shapes]
    W1 = m.unflatten(theta)[0]
    W1[0, 0] = -1.0  # a view: writes go to theta
    assert theta[0] == -1.0
    # the layout is W1 row-major, then b1, W2, ...
    np.testing.assert_array_equal(m.unflatten(theta)[1], np.arange(40, 80))


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(lambda s: (*s, 1)),
       n_tasks=st.sampled_from([None, 1, 3]), seed=st.integers(0, 2**16))
def test_flatten_inverts_unflatten(sizes, n_tasks, seed):
    m = MLP(sizes)
    rng = np.random.default_rng(seed)
    shape = (m.n_params,) if n_tasks is None else (n_tasks, m.n_params)
    theta = rng.standard_normal(shape)
    params = m.unflatten(theta)
    assert len(params) == 2 * (len(sizes) - 1)
    np.testing.assert_array_equal(m.flatten(params), theta)
    np.testing.assert_array_equal(m.unflatten(m.flatten(params))[-2], params[-2])


@pytest.mark.parametrize("activation", ACTS)
def test_init(activation):
    m = MLP((1, 64, 64, 1), activation)
    theta = m.init(3)
    assert theta.shape == (m.n_params,)
    np.testing.assert_array_equal(theta, m.init(np.random.default_rng(3)))
    assert not np.array_equal(theta, m.init(4))
    params = m.unflatten(theta)
    for n_in, W, b in zip(m.sizes[:-1], params[0::2], params[1::2], strict=True):
        r = 1 / np.sqrt(n_in)  # PyTorch's default: U(-r, r) for weights and biases
        assert np.abs(W).max() <= r and np.abs(b).max() <= r
    W2 = params[2]  # 4096 draws from U(-1/8, 1/8): variance r^2 / 3
    assert abs(W2.var() / (1 / 64 / 3) - 1) < 0.1
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - the legacy global state, on purpose
    m.init(7)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_init_gives_outputs_below_the_waves_scale():
    """A fresh net's outputs on x in [-5, 5] are small next to waves of amplitude up to 5."""
    for activation in ACTS:
        m = MLP((1, 64, 64, 1), activation)
        x = np.linspace(-5, 5, 200)[:, None]
        std = np.std([m.predict(m.init(seed), x) for seed in range(20)])
        assert 0.05 < std < 1.0, (activation, std)


# -- forward pass: prediction and loss ---------------------------------------------------------


def test_loss_against_a_plain_loop(model, rng):
    x, y = sinusoids(rng)
    for theta in (random_theta(model, rng), random_theta(model, rng, T)):
        expected = [reference_loss(model, t, x[i], y[i])
                    for i, t in enumerate(each_task(theta, T))]
        np.testing.assert_allclose(model.loss(theta, x, y), expected, rtol=1e-12)
        np.testing.assert_allclose(model.score(theta, x, y), expected, rtol=1e-12)
        pred = model.predict(theta, x)
        assert pred.shape == (T, K)
        np.testing.assert_allclose(pred[1], reference_predict(model, each_task(theta, T)[1],
                                                              x[1]), rtol=1e-12)
    theta = random_theta(model, rng)  # one task, no task axis: a scalar loss, (k,) prediction
    assert np.shape(model.loss(theta, x[0], y[0])) == ()
    assert model.predict(theta, x[0]).shape == (K,)
    np.testing.assert_allclose(model.loss(theta, x[0], y[0]),
                               reference_loss(model, theta, x[0], y[0]), rtol=1e-12)


def test_deeper_and_wider_inputs(rng):
    """Any number of layers and input features: loss against the loop, gradient against FD."""
    m = MLP((2, 3, 4, 3, 1), "tanh")
    x = rng.uniform(-2, 2, (2, 4, 2))
    y = rng.standard_normal((2, 4))
    theta = random_theta(m, rng, 2)
    np.testing.assert_allclose(m.loss(theta, x, y),
                               [reference_loss(m, theta[i], x[i], y[i]) for i in range(2)],
                               rtol=1e-12)
    for i in range(2):
        fd = central_gradient(lambda t, i=i: m.loss(t, x[i], y[i]), theta[i])
        np.testing.assert_allclose(m.grad(theta, x, y)[i], fd, rtol=1e-6, atol=1e-8)
    m0 = MLP((3, 1))  # no hidden layer: linear regression
    theta0 = rng.standard_normal(4)
    x0 = rng.standard_normal((5, 3))
    np.testing.assert_allclose(m0.predict(theta0, x0), x0 @ theta0[:3] + theta0[3])


# -- backward pass: the gradient ---------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False])
def test_grad_against_finite_differences(model, rng, shared):
    x, y = sinusoids(rng)
    theta = random_theta(model, rng, None if shared else T)
    require_margin(model, theta, x)
    grad = model.grad(theta, x, y)
    assert grad.shape == (T, model.n_params)
    for i, t in enumerate(each_task(theta, T)):
        fd = central_gradient(lambda s, i=i: model.loss(s, x[i], y[i]), t)
        np.testing.assert_allclose(grad[i], fd, rtol=1e-6, atol=1e-7)
    loss, grad2 = model.loss_and_grad(theta, x, y)
    np.testing.assert_array_equal(grad2, grad)
    np.testing.assert_allclose(loss, model.loss(theta, x, y), rtol=1e-14)
    g, _ = model.grad_and_hvp(theta, x, y)
    np.testing.assert_array_equal(g, grad)


# -- R-operator: the Hessian-vector product ----------------------------------------------------


@pytest.mark.parametrize("shared", [True, False])
def test_hvp_against_finite_differences_of_the_gradient(model, rng, shared):
    """H v = d/dt grad(theta + t v) at t = 0, with each task's own direction v_i."""
    x, y = sinusoids(rng)
    theta = random_theta(model, rng, None if shared else T)
    require_margin(model, theta, x)
    thetas = np.broadcast_to(theta, (T, model.n_params))
    v = rng.standard_normal((T, model.n_params))
    _, hvp = model.grad_and_hvp(theta, x, y)
    hv = hvp(v)
    assert hv.shape == (T, model.n_params)
    central = (model.grad(thetas + EPS * v, x, y) - model.grad(thetas - EPS * v, x, y)) / (2 * EPS)
    scale = np.abs(central).max()
    np.testing.assert_allclose(hv, central, rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_allclose(hvp(2.0 * v), 2.0 * hv, rtol=1e-13)  # linear in v; reusable
    np.testing.assert_allclose(hvp(v), hv, rtol=0, atol=0)


@pytest.mark.parametrize("activation", ACTS)
def test_hvp_against_an_explicit_finite_difference_hessian(activation, rng):
    """A tiny net (P = 13): build H column by column from the gradient, check it is
    symmetric, and that every hvp(e_i) and hvp(v) is H's column / H v."""
    m = MLP((1, 3, 2, 1), activation)
    x, y = sinusoids(rng, n_tasks=1, k=6)
    x, y = x[0], y[0]
    theta = random_theta(m, rng)
    require_margin(m, theta, x)
    P = m.n_params
    H = np.column_stack([(m.grad(theta + EPS * e, x, y) - m.grad(theta - EPS * e, x, y))
                         / (2 * EPS) for e in np.eye(P)])
    scale = np.abs(H).max()
    np.testing.assert_allclose(H, H.T, atol=1e-7 * scale)
    _, hvp = m.grad_and_hvp(theta, x, y)
    np.testing.assert_allclose(np.column_stack([hvp(e) for e in np.eye(P)]), H,
                               atol=1e-7 * scale)
    v = rng.standard_normal(P)
    assert hvp(v).shape == (P,)
    np.testing.assert_allclose(hvp(v), H @ v, atol=1e-7 * scale * np.abs(v).sum())


def test_the_tanh_second_derivative_term_matters(rng):
    """Without act'' the tanh HVP would be the Gauss-Newton-like approximation: check the
    true HVP differs from it (so the FD tests above really test that term)."""
    m = MLP(SMALL, "tanh")
    x, y = sinusoids(rng)
    theta = random_theta(m, rng, T)
    v = rng.standard_normal((T, m.n_params))
    params, a, slopes, _, delta, _ = m._forward_backward(theta, x, y)
    vparams = m.unflatten(v)
    rz, ra = m._r_forward(params, vparams, a, slopes)
    without = m._r_backward(params, vparams, a, [(s, None) for s, _ in slopes], delta, rz, ra)
    with_term = m._r_backward(params, vparams, a, slopes, delta, rz, ra)
    assert np.abs(with_term - without).max() > 1e-3 * np.abs(with_term).max()


@pytest.mark.parametrize("shared", [True, False])
def test_batched_equals_a_loop_over_tasks(model, rng, shared):
    x, y = sinusoids(rng)
    theta = random_theta(model, rng, None if shared else T)
    v = rng.standard_normal((T, model.n_params))
    loss, grad = model.loss_and_grad(theta, x, y)
    _, hvp = model.grad_and_hvp(theta, x, y)
    hv = hvp(v)
    for i, t in enumerate(each_task(theta, T)):
        loss_i, grad_i = model.loss_and_grad(t, x[i], y[i])
        _, hvp_i = model.grad_and_hvp(t, x[i], y[i])
        np.testing.assert_allclose(loss[i], loss_i, rtol=1e-13)
        np.testing.assert_allclose(grad[i], grad_i, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(hv[i], hvp_i(v[i]), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(model.loss(t, x[i], y[i]), loss[i], rtol=1e-13)


def test_shared_theta_equals_its_copies(model, rng):
    """theta (P,) with batched x gives what T copies of it give."""
    x, y = sinusoids(rng)
    theta = random_theta(model, rng)
    copies = np.tile(theta, (T, 1))
    v = rng.standard_normal((T, model.n_params))
    g1, h1 = model.grad_and_hvp(theta, x, y)
    g2, h2 = model.grad_and_hvp(copies, x, y)
    np.testing.assert_allclose(g1, g2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h1(v), h2(v), rtol=1e-13, atol=1e-14)


# -- through the meta-learning code ------------------------------------------------------------


def meta_objective_per_task(model, theta, xs, ys, xq, yq, alpha, steps):
    """L_query_i(adapted_i(theta)) for every task, with plain loops (one task at a time)."""
    losses = []
    for i in range(xs.shape[0]):
        t = theta.copy()
        for _ in range(steps):
            t = t - alpha * model.grad(t, xs[i], ys[i])
        losses.append(model.loss(t, xq[i], yq[i]))
    return np.array(losses)


def adapted_iterates(model, theta, xs, ys, alpha, steps):
    """theta_0 .. theta_steps of the inner loop, each (T, P)."""
    out = [np.broadcast_to(theta, (xs.shape[0], model.n_params))]
    for _ in range(steps):
        out.append(out[-1] - alpha * model.grad(out[-1], xs, ys))
    return out


@pytest.mark.parametrize("activation", ACTS)
def test_exact_maml_meta_gradient_against_finite_differences(activation, rng):
    """The key test: ``gh.maml_meta_gradients`` (second order, through the model interface,
    3 inner steps) equals central differences of each task's meta-objective.

    For ReLU the meta-objective is only smooth while no pre-activation changes sign, at any
    inner iterate, on support or query points: asserted before comparing (the data are fixed
    by the seed; if a change of seed breaks this, pick another).
    """
    m = MLP(SMALL, activation)
    xs, ys = sinusoids(rng)
    xq, yq = sinusoids(rng, k=Q)
    theta = random_theta(m, rng)
    alpha, steps = 0.02, 3
    for t in adapted_iterates(m, theta, xs, ys, alpha, steps):
        require_margin(m, t, xs)
    require_margin(m, adapted_iterates(m, theta, xs, ys, alpha, steps)[-1], xq)

    meta = gh.maml_meta_gradients(theta, xs, ys, xq, yq, alpha, inner_steps=steps, model=m)
    assert meta.shape == (T, m.n_params)
    for i in range(T):
        fd = central_gradient(lambda t, i=i: meta_objective_per_task(
            m, t, xs[i:i + 1], ys[i:i + 1], xq[i:i + 1], yq[i:i + 1], alpha, steps)[0], theta)
        np.testing.assert_allclose(meta[i], fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())
    # the meta-objective of the course is the mean over tasks: its gradient is the mean row
    fd_mean = central_gradient(
        lambda t: meta_objective_per_task(m, t, xs, ys, xq, yq, alpha, steps).mean(), theta)
    np.testing.assert_allclose(meta.mean(axis=0), fd_mean, rtol=1e-5,
                               atol=1e-6 * np.abs(fd_mean).max())

    first = gh.maml_meta_gradients(theta, xs, ys, xq, yq, alpha, inner_steps=steps,
                                   first_order=True, model=m)
    assert np.linalg.norm(first - meta) > 1e-3 * np.linalg.norm(meta)


def test_meta_gradient_per_task_theta_and_one_task(rng):
    """(T, P) thetas and unbatched (k, 1) data go through the same code."""
    m = MLP(SMALL, "tanh")
    xs, ys = sinusoids(rng)
    xq, yq = sinusoids(rng, k=Q)
    thetas = random_theta(m, rng, T)
    meta = gh.maml_meta_gradients(thetas, xs, ys, xq, yq, 0.02, inner_steps=2, model=m)
    one = gh.maml_meta_gradients(thetas[1], xs[1], ys[1], xq[1], yq[1], 0.02, inner_steps=2,
                                 model=m)
    assert one.shape == (m.n_params,)
    np.testing.assert_allclose(meta[1], one, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", gh.METHODS)
def test_meta_step_and_evaluation_run_with_the_mlp(method, rng):
    m = MLP(SMALL, "relu")
    xs, ys = sinusoids(rng)
    xq, yq = sinusoids(rng, k=Q)
    batch = gh.TaskBatch(xs, ys, xq, yq, corrupted=np.zeros(T, bool),
                         true_theta=np.zeros((T, 2)), minority=np.zeros(T, bool))
    theta = m.init(0)
    new, weights = gh.meta_step(theta, batch, alpha=0.01, beta=0.01, method=method,
                                inner_steps=2, model=m)
    assert new.shape == theta.shape and weights.shape == (T,)
    assert np.all(np.isfinite(new)) and not np.array_equal(new, theta)
    ev = gh.adapt_and_evaluate(theta, batch, 0.01, steps=2, model=m)
    np.testing.assert_allclose(ev.score_before, ev.loss_before)  # score = the MSE
    adapted = gh.inner_update(theta, xs, ys, 0.001, model=m)
    assert np.all(m.loss(adapted, xs, ys) < m.loss(theta, xs, ys))  # a small step descends


def test_no_floating_point_warnings_on_extreme_inputs(rng):
    """Large inputs saturate tanh and blow up ReLU units linearly: no overflow or NaN."""
    for activation in ACTS:
        m = MLP((1, 8, 8, 1), activation)
        x = rng.uniform(-1e4, 1e4, (2, 5, 1))
        y = rng.standard_normal((2, 5))
        theta = m.init(0)
        with np.errstate(all="raise"):
            g, hvp = m.grad_and_hvp(theta, x, y)
            hv = hvp(rng.standard_normal((2, m.n_params)))
        assert np.all(np.isfinite(g)) and np.all(np.isfinite(hv))


# -- input checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(1,), 3, (1, 0, 1), (1, 2.0, 1), (1, True, 1), "1,40,1",
                                   (1, 40, 2), [], None])
def test_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        MLP(sizes)


@pytest.mark.parametrize("activation", ["sigmoid", "ReLU", None, 1])
def test_bad_activation(activation):
    with pytest.raises(ValueError, match="activation"):
        MLP((1, 4, 1), activation)


def test_check_inputs_names_the_callers_arguments(rng):
    m = MLP(SMALL)
    theta = m.init(0)
    x, y = sinusoids(rng)
    th, xx, yy = m.check_inputs(theta.tolist(), x.tolist(), y)  # lists become float arrays
    assert th.dtype == xx.dtype == yy.dtype == np.float64
    assert len(m.check_inputs(theta, x)) == 2
    cases = [
        ((theta[:-1], x, y), "theta has 38 parameters but the model has 39"),
        ((np.zeros((T, 3, m.n_params)), x, y), "theta must have 1 or 2 axes"),
        ((theta, np.zeros((T, K, 2)), y), "x has 2 input features"),
        ((theta, x[..., 0], y), "x has 5 input features"),
        ((theta, x, y[:, :-1]), "y must have shape"),
        ((np.tile(theta, (T + 1, 1)), x, y), "needs x of shape"),
        ((np.tile(theta, (T, 1)), x[0], y[0]), "needs x of shape"),
        ((theta, np.full_like(x, np.nan), y), "x contains NaN"),
        ((theta, x, "abc"), "y must be a numeric array"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            m.check_inputs(*args)
    with pytest.raises(ValueError, match="x_query"):
        m.check_inputs(theta, np.zeros((T, K, 2)), y, ("theta", "x_query", "y_query"))


def test_meta_learning_functions_name_the_bad_argument(rng):
    m = MLP(SMALL)
    theta = m.init(0)
    xs, ys = sinusoids(rng)
    xq, yq = sinusoids(rng, k=Q)
    bad = [
        (dict(theta=theta[:5]), "theta has 5 parameters"),
        (dict(x_support=xs[..., [0, 0]]), "x_support has 2 input features"),
        (dict(y_query=yq[:, :2]), "y_query must have shape"),
        (dict(x_query=xq[:2], y_query=yq[:2]), "x_query of shape"),
    ]
    args = dict(theta=theta, x_support=xs, y_support=ys, x_query=xq, y_query=yq)
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            gh.maml_meta_gradients(**{**args, **change}, alpha=0.01, model=m)
