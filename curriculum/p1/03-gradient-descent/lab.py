"""Lab of unit `gradient-descent`: what your numerical_gradient costs, in evaluations of the loss.

The loss is the mean logistic loss of X (2000, 200) float64 at a random w. The figure is the time
of numerical_gradient(f, w) divided by the time of one call of f. Peer: the analytic gradient
X^T (sigmoid(Xw) - y) / N computed in the same run, in the same unit.
"""

import numpy as np

from mentor.gate import labkit

N, D = 2000, 200


def lab_gradient_cost(ctx):
    numgrad = ctx.symbol("numerical_gradient")
    numgrad(lambda v: float((v ** 2).sum()), np.ones(3))  # a stub fails here
    X = ctx.rng.standard_normal((N, D))
    y = (ctx.rng.random(N) < 0.5).astype(np.float64)
    w0 = ctx.rng.standard_normal(D) * 0.1
    calls = [0]

    def f(w):
        calls[0] += 1
        z = X @ w
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    def analytic():
        p = 1.0 / (1.0 + np.exp(-(X @ w0)))
        return X.T @ (p - y) / N

    # f is timed in a batch as long as the gradient (2n calls), so both see the same machine: on a busy
    # machine a short call's median escapes the other processes' time slices and a long loop does not
    batch = labkit.time_call(lambda: [f(w0) for _ in range(2 * D)], warmup=1, repeats=2, min_time_s=0.0)
    one_s = batch.median_s / (2 * D)
    calls[0] = 0
    numgrad(f, w0.copy())
    evals = calls[0]
    grad = labkit.time_call(lambda: numgrad(f, w0.copy()), warmup=0, repeats=2, min_time_s=0.0)
    ana = labkit.time_call(lambda: [analytic() for _ in range(2 * D)], warmup=0, repeats=2, min_time_s=0.0)
    return {"cost_ratio": grad.median_s / one_s, "evaluations": float(evals),
            "analytic_ratio": ana.median_s / (2 * D) / one_s, "two_n": 2.0 * D, "n": D}
