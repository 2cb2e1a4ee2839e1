"""Gradients, Hessians and MAML meta-gradients against central finite differences.

Every analytic derivative is compared with central differences of the function it claims
to differentiate (float64, d = 4, relative tolerance 1e-6); the MAML meta-gradient is
compared with differences of the FULL objective, the query loss after ``inner_update``.
Batched calls are compared with a Python loop of single-task calls.
"""

from __future__ import annotations

import numpy as np
import pytest

import gamaml_helpers as gh

ALPHA = 0.7  # large enough that the second-order MAML term is far above the tolerance
REL = 1e-6


def fd_jacobian(f, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of ``f`` at ``theta``: shape ``f(theta).shape + theta.shape``."""
    theta = np.asarray(theta, dtype=float)
    columns = []
    for index in np.ndindex(theta.shape):
        step = np.zeros_like(theta)
        step[index] = h
        columns.append((np.asarray(f(theta + step)) - np.asarray(f(theta - step))) / (2 * h))
    jac = np.stack(columns, axis=-1)
    return jac.reshape(jac.shape[:-1] + theta.shape)


def assert_rel_close(actual, expected, rel: float = REL) -> None:
    """Same shape, and ``|actual - expected| <= rel * |expected|`` in the Euclidean norm."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert np.linalg.norm(expected) > 1e-3, "the comparison would be vacuous"
    err = np.linalg.norm(actual - expected) / np.linalg.norm(expected)
    assert err <= rel, f"relative error {err:.2e} > {rel:.0e}"


def block_diagonal(jac: np.ndarray) -> np.ndarray:
    """From a (T, ..., T, d) Jacobian of per-task outputs w.r.t. per-task thetas, the (T, ..., d)
    blocks on the diagonal, after checking that every off-diagonal block is zero (tasks are
    independent)."""
    n = jac.shape[0]
    moved = np.moveaxis(jac, -2, 1)  # (T, T, ..., d): [output task, input task, ...]
    off = moved[~np.eye(n, dtype=bool)]
    np.testing.assert_allclose(off, 0.0, atol=1e-9)
    return moved[np.arange(n), np.arange(n)]


# ---------------------------------------------------------------------------------------------
# bce_grad, bce_hvp, bce_hessian
# ---------------------------------------------------------------------------------------------


def test_bce_grad_matches_finite_differences_single_task(problem):
    xs, ys = problem["xs"][0], problem["ys"][0]
    expected = fd_jacobian(lambda t: gh.bce_loss(t, xs, ys), problem["theta"])
    assert_rel_close(gh.bce_grad(problem["theta"], xs, ys), expected)


def test_bce_grad_matches_finite_differences_batched(problem):
    jac = fd_jacobian(lambda t: gh.bce_loss(t, problem["xs"], problem["ys"]), problem["thetas"])
    grads = gh.bce_grad(problem["thetas"], problem["xs"], problem["ys"])
    assert_rel_close(grads, block_diagonal(jac))


def test_bce_grad_shared_theta_on_a_batch_matches_finite_differences(problem):
    expected = fd_jacobian(lambda t: gh.bce_loss(t, problem["xs"], problem["ys"]),
                           problem["theta"])
    assert_rel_close(gh.bce_grad(problem["theta"], problem["xs"], problem["ys"]), expected)


def test_bce_hvp_matches_finite_differences_of_the_gradient(problem):
    theta, xs, ys, v = problem["theta"], problem["xs"][1], problem["ys"][1], problem["v"]
    h = 1e-5
    expected = (gh.bce_grad(theta + h * v, xs, ys) - gh.bce_grad(theta - h * v, xs, ys)) / (2 * h)
    assert_rel_close(gh.bce_hvp(theta, xs, v), expected)


def test_bce_hvp_batched_matches_finite_differences_of_the_gradient(problem):
    thetas, xs, ys, vs = problem["thetas"], problem["xs"], problem["ys"], problem["vs"]
    h = 1e-5
    expected = (gh.bce_grad(thetas + h * vs, xs, ys) - gh.bce_grad(thetas - h * vs, xs, ys)) / (
        2 * h)
    assert_rel_close(gh.bce_hvp(thetas, xs, vs), expected)


def test_bce_hvp_equals_explicit_hessian_times_v(problem):
    thetas, xs, vs = problem["thetas"], problem["xs"], problem["vs"]
    hessians = gh.bce_hessian(thetas, xs)
    np.testing.assert_allclose(gh.bce_hvp(thetas, xs, vs),
                               np.einsum("tij,tj->ti", hessians, vs), rtol=1e-12, atol=1e-14)
    # A shared theta and a shared v on a batch of tasks: one product per task.
    shared = gh.bce_hvp(problem["theta"], xs, problem["v"])
    expected = gh.bce_hessian(problem["theta"], xs) @ problem["v"]
    np.testing.assert_allclose(shared, expected, rtol=1e-12, atol=1e-14)


def test_bce_hessian_matches_finite_differences_of_the_gradient(problem):
    theta, xs, ys = problem["theta"], problem["xs"][2], problem["ys"][2]
    expected = fd_jacobian(lambda t: gh.bce_grad(t, xs, ys), theta)
    hessian = gh.bce_hessian(theta, xs)
    assert_rel_close(hessian, expected)
    np.testing.assert_allclose(hessian, hessian.T, rtol=0, atol=1e-15)
    assert np.linalg.eigvalsh(hessian).min() > 0  # BCE is convex; x has full column rank here


def test_bce_hessian_batched_matches_finite_differences(problem):
    thetas, xs, ys = problem["thetas"], problem["xs"], problem["ys"]
    jac = fd_jacobian(lambda t: gh.bce_grad(t, xs, ys), thetas)  # (T, d, T, d)
    assert_rel_close(gh.bce_hessian(thetas, xs), block_diagonal(jac))


# ---------------------------------------------------------------------------------------------
# MAML meta-gradients against the full objective
# ---------------------------------------------------------------------------------------------


def maml_objective(problem, steps: int):
    """theta (d,) | (T, d) -> per-task query loss after ``steps`` inner steps, (T,)."""
    def objective(theta):
        adapted = gh.inner_update(theta, problem["xs"], problem["ys"], ALPHA, steps=steps)
        return gh.bce_loss(adapted, problem["xq"], problem["yq"])
    return objective


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_meta_gradient_matches_full_objective_shared_theta(problem, steps):
    expected = fd_jacobian(maml_objective(problem, steps), problem["theta"])  # (T, d)
    grads = gh.maml_meta_gradients(problem["theta"], problem["xs"], problem["ys"],
                                   problem["xq"], problem["yq"], ALPHA, inner_steps=steps)
    assert_rel_close(grads, expected)
    # The check can fail: the first-order approximation is far from the true gradient here.
    first = gh.maml_meta_gradients(problem["theta"], problem["xs"], problem["ys"],
                                   problem["xq"], problem["yq"], ALPHA, inner_steps=steps,
                                   first_order=True)
    assert np.linalg.norm(first - expected) > 1e-2 * np.linalg.norm(expected)


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_meta_gradient_matches_full_objective_batched_theta(problem, steps):
    jac = fd_jacobian(maml_objective(problem, steps), problem["thetas"])  # (T, T, d)
    grads = gh.maml_meta_gradients(problem["thetas"], problem["xs"], problem["ys"],
                                   problem["xq"], problem["yq"], ALPHA, inner_steps=steps)
    assert_rel_close(grads, block_diagonal(jac))


def test_single_task_meta_gradient_matches_full_objective(problem):
    xs, ys, xq, yq = (problem[key][0] for key in ("xs", "ys", "xq", "yq"))

    def objective(theta):
        return gh.bce_loss(gh.inner_update(theta, xs, ys, ALPHA, steps=2), xq, yq)

    grad = gh.maml_meta_gradients(problem["theta"], xs, ys, xq, yq, ALPHA, inner_steps=2)
    assert grad.shape == problem["theta"].shape
    assert_rel_close(grad, fd_jacobian(objective, problem["theta"]))


@pytest.mark.parametrize("steps", [1, 3])
def test_first_order_is_query_gradient_at_adapted_theta(problem, steps):
    adapted = gh.inner_update(problem["theta"], problem["xs"], problem["ys"], ALPHA, steps=steps)
    first = gh.maml_meta_gradients(problem["theta"], problem["xs"], problem["ys"],
                                   problem["xq"], problem["yq"], ALPHA, inner_steps=steps,
                                   first_order=True)
    np.testing.assert_allclose(first, gh.bce_grad(adapted, problem["xq"], problem["yq"]),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shared", [True, False])
def test_second_minus_first_order_is_the_hessian_term_for_one_step(problem, shared):
    theta = problem["theta"] if shared else problem["thetas"]
    xs, ys, xq, yq = problem["xs"], problem["ys"], problem["xq"], problem["yq"]
    second = gh.maml_meta_gradients(theta, xs, ys, xq, yq, ALPHA)
    first = gh.maml_meta_gradients(theta, xs, ys, xq, yq, ALPHA, first_order=True)
    adapted = gh.inner_update(theta, xs, ys, ALPHA)
    hessians = gh.bce_hessian(theta, xs)  # (T, d, d): support Hessian at the start point
    expected = -ALPHA * np.einsum("tij,tj->ti", hessians, gh.bce_grad(adapted, xq, yq))
    np.testing.assert_allclose(second - first, expected, rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(expected) > 1e-2  # the term is not negligible in this problem


def test_three_step_meta_gradient_is_the_ordered_chain_of_hessian_factors(problem):
    """(I - a H0)(I - a H1)(I - a H2) g, with H_j at the j-th inner iterate: the order matters
    because the Hessians do not commute."""
    theta, xs, ys, xq, yq = (problem[key] for key in ("thetas", "xs", "ys", "xq", "yq"))
    iterates = [theta]
    for _ in range(3):
        iterates.append(gh.inner_update(iterates[-1], xs, ys, ALPHA))
    eye = np.eye(theta.shape[1])
    factors = [eye - ALPHA * gh.bce_hessian(t, xs) for t in iterates[:3]]
    g = gh.bce_grad(iterates[3], xq, yq)
    expected = np.einsum("tij,tjk,tkl,tl->ti", *factors, g)
    grads = gh.maml_meta_gradients(theta, xs, ys, xq, yq, ALPHA, inner_steps=3)
    np.testing.assert_allclose(grads, expected, rtol=1e-10, atol=1e-14)
    reversed_order = np.einsum("tij,tjk,tkl,tl->ti", *factors[::-1], g)
    assert np.linalg.norm(reversed_order - expected) > 1e-6  # the check can tell orders apart


def test_inner_update_is_gradient_descent_on_the_support_loss(problem):
    theta, xs, ys = problem["thetas"], problem["xs"], problem["ys"]
    expected = theta.copy()
    for _ in range(3):
        expected = expected - ALPHA * gh.bce_grad(expected, xs, ys)
    np.testing.assert_allclose(gh.inner_update(theta, xs, ys, ALPHA, steps=3), expected,
                               rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Batched calls equal a loop of single-task calls
# ---------------------------------------------------------------------------------------------


def loop(fn, *per_task):
    """Stack ``fn`` applied task by task; ``None`` entries of per_task are skipped."""
    n = per_task[0].shape[0]
    return np.stack([np.asarray(fn(*(a[t] for a in per_task))) for t in range(n)])


@pytest.mark.parametrize("shared", [True, False])
def test_batched_model_functions_equal_a_loop_over_tasks(problem, shared):
    xs, ys, xq, yq = problem["xs"], problem["ys"], problem["xq"], problem["yq"]
    n = xs.shape[0]
    thetas = np.tile(problem["theta"], (n, 1)) if shared else problem["thetas"]
    theta = problem["theta"] if shared else problem["thetas"]
    vs = problem["vs"]

    def same(batched, looped):
        np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-15)

    same(gh.bce_loss(theta, xs, ys), loop(gh.bce_loss, thetas, xs, ys))
    same(gh.bce_grad(theta, xs, ys), loop(gh.bce_grad, thetas, xs, ys))
    same(gh.bce_hvp(thetas, xs, vs), loop(gh.bce_hvp, thetas, xs, vs))
    same(gh.bce_hessian(theta, xs), loop(gh.bce_hessian, thetas, xs))
    same(gh.accuracy(theta, xq, yq), loop(gh.accuracy, thetas, xq, yq))
    for steps in (1, 3):
        same(gh.inner_update(theta, xs, ys, ALPHA, steps=steps),
             loop(lambda t, x, y, s=steps: gh.inner_update(t, x, y, ALPHA, steps=s),
                  thetas, xs, ys))
        for first_order in (False, True):
            batched = gh.maml_meta_gradients(theta, xs, ys, xq, yq, ALPHA, inner_steps=steps,
                                             first_order=first_order)
            looped = loop(lambda t, a, b, c, d, s=steps, f=first_order: gh.maml_meta_gradients(
                t, a, b, c, d, ALPHA, inner_steps=s, first_order=f), thetas, xs, ys, xq, yq)
            same(batched, looped)


def test_shared_theta_results_have_one_row_per_task(problem):
    theta, xs, ys, xq, yq = (problem[key] for key in ("theta", "xs", "ys", "xq", "yq"))
    n, d = xs.shape[0], xs.shape[2]
    assert gh.bce_loss(theta, xs, ys).shape == (n,)
    assert gh.bce_grad(theta, xs, ys).shape == (n, d)
    assert gh.inner_update(theta, xs, ys, ALPHA).shape == (n, d)
    assert gh.maml_meta_gradients(theta, xs, ys, xq, yq, ALPHA).shape == (n, d)
    assert gh.bce_hessian(theta, xs).shape == (n, d, d)
    assert np.ndim(gh.bce_loss(theta, xs[0], ys[0])) == 0
