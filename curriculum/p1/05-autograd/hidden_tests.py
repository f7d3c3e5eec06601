"""Hidden tests for unit `autograd`: the learner's myllm/autograd.py against reference_impl/autograd.py.

Most checks build the same expression twice, once from the learner's Value and once from the
reference's, from a small "program" (a list of ops on node indices) so that random graphs can be
replayed on either class and at perturbed inputs (finite differences).
"""

import math
import warnings

import numpy as np

import reference_impl.autograd as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_true, check

RefValue = ref.Value

# ----------------------------------------------------------------------------- helpers


def _V(ctx):
    return ctx.symbol("Value")


def _num(x, what):
    """A learner's .data / .grad as a float, with a clear failure if it is not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        raise CheckFailure(f"{what} is {x!r} ({type(x).__name__}); it should be a plain number (float)") from None


def _is_value(obj, what):
    if not (hasattr(obj, "data") and hasattr(obj, "grad")):
        raise CheckFailure(f"{what} returned {obj!r} ({type(obj).__name__}), not a Value with .data and .grad; "
                           "every operation must return a new Value")
    return obj


def _close(a, b, atol, rtol):
    return abs(a - b) <= atol + rtol * abs(b) or (math.isnan(a) and math.isnan(b))


# ----------------------------------------------------------------------------- programs
# An instruction makes one new node from earlier ones (node i is written n{i}):
#   ("bin", sym, i, j)   n_i sym n_j           ("rc", sym, i, c)  n_i sym c   (number on the right)
#   ("lc", sym, c, i)    c sym n_i (reflected) ("pow", i, k)      n_i ** k
#   ("un", name, i)      -n_i or n_i.exp() / .log() / .tanh() / .relu() / .sigmoid()

_BIN = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
_UN = {"neg": lambda a: -a, "exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
       "relu": lambda a: a.relu(), "sigmoid": lambda a: a.sigmoid()}


def _apply(ins, nodes):
    kind = ins[0]
    if kind == "bin":
        return _BIN[ins[1]](nodes[ins[2]], nodes[ins[3]])
    if kind == "rc":
        return _BIN[ins[1]](nodes[ins[2]], ins[3])
    if kind == "lc":
        return _BIN[ins[1]](ins[2], nodes[ins[3]])
    if kind == "pow":
        return nodes[ins[1]] ** ins[2]
    return _UN[ins[1]](nodes[ins[2]])


def _text(ins):
    kind = ins[0]
    if kind == "bin":
        return f"n{ins[2]} {ins[1]} n{ins[3]}"
    if kind == "rc":
        return f"n{ins[2]} {ins[1]} {ins[3]!r}"
    if kind == "lc":
        return f"{ins[2]!r} {ins[1]} n{ins[3]}"
    if kind == "pow":
        return f"n{ins[1]} ** {ins[2]!r}"
    return f"-n{ins[2]}" if ins[1] == "neg" else f"n{ins[2]}.{ins[1]}()"


def _inputs_of(ins):
    kind = ins[0]
    if kind == "bin":
        return [ins[2], ins[3]]
    if kind == "rc":
        return [ins[2]]
    if kind == "lc":
        return [ins[3]]
    if kind == "pow":
        return [ins[1]]
    return [ins[2]]


def _replay(V, leaves, program):
    nodes = [V(x) for x in leaves]
    for ins in program:
        nodes.append(_apply(ins, nodes))
    return nodes


def _const(rng):
    if rng.random() < 0.3:
        return int(rng.choice([-3, -2, 2, 3, 4]))
    c = round(float(rng.uniform(0.3, 3.0)), 2)
    return c if rng.random() < 0.5 else -c


def _random_program(rng, n_leaves, n_ops, unary=("neg", "exp", "log", "tanh", "relu", "sigmoid")):
    """Leaves and a random program whose every intermediate value is finite and moderate."""
    leaves = [float(rng.uniform(-2, 2)) for _ in range(n_leaves)]
    nodes = [RefValue(x) for x in leaves]
    program, used = [], set()

    def pick():
        n = len(nodes)
        return int(rng.integers(max(0, n - 3), n)) if rng.random() < 0.6 else int(rng.integers(n))

    while len(program) < n_ops:
        r, i = rng.random(), pick()
        x = nodes[i].data
        if r < 0.40:
            sym = "+-*/"[int(rng.integers(4))]
            j = i if rng.random() < 0.2 else pick()  # reuse: n_i sym n_i
            if sym == "/" and abs(nodes[j].data) < 0.25:
                continue
            ins = ("bin", sym, i, j)
        elif r < 0.52:
            sym = "+-*/"[int(rng.integers(4))]
            ins = ("rc", sym, i, _const(rng))
        elif r < 0.64:
            sym = "+-*/"[int(rng.integers(4))]
            if sym == "/" and abs(x) < 0.25:
                continue
            ins = ("lc", sym, _const(rng), i)
        elif r < 0.72:
            k = [2, 3, -1, 0.5, 1.5, -2][int(rng.integers(6))]
            if (k in (-1, -2) and abs(x) < 0.25) or (k in (0.5, 1.5) and x < 0.25):
                continue
            ins = ("pow", i, k)
        else:
            name = unary[int(rng.integers(len(unary)))]
            if (name == "log" and x < 0.05) or (name == "exp" and x > 3) or (name == "relu" and abs(x) < 1e-3):
                continue
            ins = ("un", name, i)
        out = _apply(ins, nodes)
        if not math.isfinite(out.data) or abs(out.data) > 50:
            continue
        nodes.append(out)
        program.append(ins)
        used.update(_inputs_of(ins))
    # sum every node nobody used, so the output depends on (almost) the whole graph
    sinks = [k for k in range(len(nodes)) if k not in used]
    acc = sinks[0]
    for k in sinks[1:]:
        program.append(("bin", "+", acc, k))
        nodes.append(_apply(program[-1], nodes))
        acc = len(nodes) - 1
    return leaves, program


def _describe(k, n_leaves, program):
    return f"leaf n{k}" if k < n_leaves else f"n{k} = {_text(program[k - n_leaves])}"


def _compare_graph(V, leaves, program, label):
    """Replay on both classes, compare every node's data, backward, compare every node's grad."""
    exp_nodes = _replay(RefValue, leaves, program)
    got_nodes = _replay(V, leaves, program)
    n0 = len(leaves)
    for k, (g, e) in enumerate(zip(got_nodes, exp_nodes)):
        _is_value(g, _describe(k, n0, program))
        gd = _num(g.data, f"data of {_describe(k, n0, program)}")
        if not _close(gd, e.data, 1e-12, 1e-9):
            raise CheckFailure(f"{label}: forward value of {_describe(k, n0, program)} is {gd:.10g}, expected "
                               f"{e.data:.10g} (inputs: {', '.join(f'n{q}={exp_nodes[q].data:.6g}' for q in _inputs_of(program[k - n0]))})"
                               if k >= n0 else f"{label}: Value({leaves[k]!r}).data is {gd!r}")
        if _num(g.grad, "grad") != 0.0:
            raise CheckFailure(f"{label}: {_describe(k, n0, program)} has grad {g.grad!r} before backward() was called; "
                               "every new Value starts with grad 0.0")
    exp_nodes[-1].backward()
    got_nodes[-1].backward()
    scale = 1.0 + max(abs(e.grad) for e in exp_nodes)
    consumers = {}
    for q, ins in enumerate(program):
        for p in _inputs_of(ins):
            consumers.setdefault(p, []).append(n0 + q)
    for k in range(len(exp_nodes) - 1, -1, -1):  # walking back from the output: the first wrong grad
        g, e = _num(got_nodes[k].grad, f"grad of n{k}"), exp_nodes[k].grad
        if not _close(g, e, 1e-9 * scale, 1e-7):
            used_by = "; ".join(_describe(c, n0, program) for c in consumers.get(k, [])) or "nothing (it is the output)"
            raise CheckFailure(
                f"{label}: after output.backward(), {_describe(k, n0, program)} has grad {g:.10g}, expected {e:.10g}. "
                f"Every node closer to the output is right, so look at the backward of the op(s) that use it: {used_by}. "
                f"The graph's output is n{len(exp_nodes) - 1}.")


# ----------------------------------------------------------------------------- checks


@check(help="Value(x) stores x in .data and starts with .grad = 0.0.")
def test_leaf_value(ctx):
    """Value(x) keeps x in .data and starts with .grad = 0"""
    V = _V(ctx)
    for x in [float(ctx.rng.normal()), float(ctx.rng.uniform(-1e3, 1e3)), 0.0, int(ctx.rng.integers(-5, 6))]:
        v = V(x)
        assert_true(_num(v.data, f"Value({x!r}).data") == x, f"Value({x!r}).data is {v.data!r}, expected {x!r}")
        assert_true(_num(v.grad, f"Value({x!r}).grad") == 0.0 and v.grad is not None,
                    f"Value({x!r}).grad is {v.grad!r} before any backward(); it must start at 0.0")


def _op_cases(rng):
    """(label, build(V, a, b) -> (y, [(name, input)]), a, b) covering every operator and function."""
    a = float(rng.uniform(0.5, 2.0)) * (1 if rng.random() < 0.5 else -1)
    b = float(rng.uniform(0.5, 2.0)) * (1 if rng.random() < 0.5 else -1)
    p = float(rng.uniform(0.3, 2.5))  # positive, for log and fractional powers
    c = round(float(rng.uniform(1.5, 4.0)), 2)
    return [
        ("x + w", lambda V: _two(V, a, b, lambda x, w: x + w)),
        ("x - w", lambda V: _two(V, a, b, lambda x, w: x - w)),
        ("x * w", lambda V: _two(V, a, b, lambda x, w: x * w)),
        ("x / w", lambda V: _two(V, a, b, lambda x, w: x / w)),
        (f"x + {c}", lambda V: _one(V, a, lambda x: x + c)),
        (f"x - {c}", lambda V: _one(V, a, lambda x: x - c)),
        (f"x * {c}", lambda V: _one(V, a, lambda x: x * c)),
        (f"x / {c}", lambda V: _one(V, a, lambda x: x / c)),
        ("x ** 2", lambda V: _one(V, a, lambda x: x**2)),
        ("x ** 3", lambda V: _one(V, a, lambda x: x**3)),
        ("x ** -1", lambda V: _one(V, a, lambda x: x**-1)),
        ("x ** 0.5", lambda V: _one(V, p, lambda x: x**0.5)),
        ("-x", lambda V: _one(V, a, lambda x: -x)),
        ("x.exp()", lambda V: _one(V, a, lambda x: x.exp())),
        ("x.log()", lambda V: _one(V, p, lambda x: x.log())),
        ("x.tanh()", lambda V: _one(V, a, lambda x: x.tanh())),
        ("x.relu() with x > 0", lambda V: _one(V, abs(a), lambda x: x.relu())),
        ("x.relu() with x < 0", lambda V: _one(V, -abs(a), lambda x: x.relu())),
        ("x.sigmoid()", lambda V: _one(V, a, lambda x: x.sigmoid())),
    ], (a, b, p)


def _one(V, a, f):
    x = V(a)
    return f(x), [("x", x)]


def _two(V, a, b, f):
    x, w = V(a), V(b)
    return f(x, w), [("x", x), ("w", w)]


def _run_cases(ctx, cases, inputs_text):
    V = _V(ctx)
    for label, build in cases:
        y_ref, ins_ref = build(RefValue)
        y, ins = build(V)
        _is_value(y, label)
        got = _num(y.data, f"({label}).data")
        if not _close(got, y_ref.data, 1e-12, 1e-9):
            raise CheckFailure(f"y = {label} with {inputs_text}: y.data is {got:.10g}, expected {y_ref.data:.10g}")
        for (name, v), (_, v_ref) in zip(ins, ins_ref):
            assert_true(_num(v.data, f"{name}.data") == v_ref.data, f"computing y = {label} changed {name}.data to {v.data!r}")
            assert_true(_num(v.grad, f"{name}.grad") == 0.0 and _num(y.grad, "y.grad") == 0.0,
                        f"y = {label}: a grad is non-zero before backward() (x.grad={v.grad!r}, y.grad={y.grad!r}); "
                        "building the graph must not touch .grad")
        y_ref.backward()
        y.backward()
        assert_true(_num(y.grad, "y.grad") == 1.0, f"y = {label}; y.backward(): y.grad is {y.grad!r}, expected 1.0 "
                    "(backward starts from dy/dy = 1)")
        for (name, v), (_, v_ref) in zip(ins, ins_ref):
            g = _num(v.grad, f"{name}.grad")
            if not _close(g, v_ref.grad, 1e-12, 1e-9):
                raise CheckFailure(f"y = {label}; y.backward() with {inputs_text}: {name}.grad is {g:.10g}, "
                                   f"expected dy/d{name} = {v_ref.grad:.10g}")


@check(help="Each op needs its local derivative: d(x*w)/dx = w, d(x/w)/dw = -x/w^2, d(x^k)/dx = k x^(k-1), "
            "d tanh/dx = 1 - tanh(x)^2 (the output squared), d sigmoid/dx = s(1 - s), d log/dx = 1/x.")
def test_each_op_forward_and_backward(ctx):
    """every operation computes its value and its local derivative"""
    cases, (a, b, p) = _op_cases(ctx.rng)
    _run_cases(ctx, cases, f"x = {a:.6g}, w = {b:.6g} (x = {p:.6g} for log and ** 0.5)")


@check(help="`2 - x` calls x.__rsub__(2): there `other` is the LEFT operand, so it must compute other - self. "
            "Likewise __rtruediv__ computes other / self.")
def test_number_on_the_left(ctx):
    """a plain number on the left of an operator (2 - x, 3 / x, ...) works"""
    a = float(ctx.rng.uniform(0.5, 3.0)) * (1 if ctx.rng.random() < 0.5 else -1)
    c = round(float(ctx.rng.uniform(1.5, 5.0)), 2)
    cases = [
        ("2 - x", lambda V: _one(V, a, lambda x: 2 - x)),
        (f"{c} - x", lambda V: _one(V, a, lambda x: c - x)),
        ("3 / x", lambda V: _one(V, a, lambda x: 3 / x)),
        (f"{c} / x", lambda V: _one(V, a, lambda x: c / x)),
        (f"{c} + x", lambda V: _one(V, a, lambda x: c + x)),
        ("4 * x", lambda V: _one(V, a, lambda x: 4 * x)),
        ("sum([x, x, 1.5])", lambda V: _one(V, a, lambda x: sum([x, x, 1.5]))),
    ]
    _run_cases(ctx, cases, f"x = {a:.6g}")


@check(help="A node used twice gets the SUM of both contributions: += in every backward, never =. And each node's "
            "backward must run exactly once: if the topological order lists a node twice (no 'visited' set), its "
            "contributions are added twice.")
def test_node_reuse_accumulates(ctx):
    """a node used twice receives the sum of both gradient contributions"""
    a = float(ctx.rng.uniform(0.5, 2.0)) * (1 if ctx.rng.random() < 0.5 else -1)
    b = float(ctx.rng.uniform(0.5, 2.0))
    cases = [
        ("x * x", lambda V: _one(V, a, lambda x: x * x)),
        ("x + x", lambda V: _one(V, a, lambda x: x + x)),
        ("x * x * x", lambda V: _one(V, a, lambda x: x * x * x)),
        ("x - x", lambda V: _one(V, a, lambda x: x - x)),
        ("x / x", lambda V: _one(V, a, lambda x: x / x)),
        ("(x + w) * (x - w)", lambda V: _two(V, a, b, lambda x, w: (x + w) * (x - w))),
        ("x * w + x", lambda V: _two(V, a, b, lambda x, w: x * w + x)),
        ("t * t + t with t = x.tanh()", lambda V: _one(V, a, lambda x: _tt(x.tanh()))),
    ]
    _run_cases(ctx, cases, f"x = {a:.6g}, w = {b:.6g}")


def _tt(t):
    return t * t + t


@check(help="A node's grad is complete only after EVERY node that uses it has run its backward: "
            "run the backward closures in reverse topological order (a post-order DFS, reversed).")
def test_shared_subexpression_order(ctx):
    """backward() visits nodes in topological order, so shared subexpressions get complete grads"""
    V = _V(ctx)
    a = float(ctx.rng.uniform(0.3, 1.5))
    # b is used directly by the output AND through a long path: visiting b before the long path
    # has delivered its contribution gives a wrong grad for a.
    for k, order in enumerate(["b + long(b)", "long(b) + b"]):
        program = [("rc", "*", 0, 2), ("un", "tanh", 1), ("rc", "*", 2, 3), ("un", "sigmoid", 3), ("lc", "-", 1, 4)]
        program.append(("bin", "+", 1, 5) if k == 0 else ("bin", "+", 5, 1))
        _compare_graph(V, [a], program, f"a graph where b = a * 2 feeds the output directly and through 4 more ops ({order})")
    # a diamond inside a diamond
    program = [("rc", "*", 0, 3), ("un", "exp", 0), ("bin", "*", 1, 2), ("bin", "+", 1, 3), ("bin", "*", 4, 3)]
    _compare_graph(V, [a - 0.5], program, "nested diamonds")


@check(help="Neither sigmoid's forward nor its backward may compute exp of a large positive number, not even one "
            "whose result is then discarded: for x < 0 e^x / (1 + e^x), for x >= 0 1 / (1 + e^-x), computing only the "
            "branch that is used; the local derivative s(1 - s) reuses the output and needs no exp. math.exp raises "
            "OverflowError above ~709.")
def test_sigmoid_large_inputs(ctx):
    """sigmoid's forward and backward stay finite for huge inputs"""
    V = _V(ctx)
    xs = [-1000.0, 1000.0, -750.0, 800.0]
    xs += [float(s * m) for s, m in zip(ctx.rng.choice([-1, 1], size=4), ctx.rng.uniform(500, 1e4, size=4))]
    xs += [float(s * m) for s, m in zip(ctx.rng.choice([-1, 1], size=4), ctx.rng.uniform(10, 40, size=4))]
    for x in xs:
        e = RefValue(x)
        ye = e.sigmoid()
        ye.backward()
        v = V(x)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
                    y = v.sigmoid()
                    y.backward()
        except (OverflowError, FloatingPointError) as err:
            raise CheckFailure(f"Value({x:.6g}).sigmoid() then backward() raised {type(err).__name__}: {err}. "
                               "exp of a large positive number overflows; only ever exponentiate a non-positive one.") from None
        bad = [w for w in caught if "overflow" in str(w.message) or "invalid value" in str(w.message)]
        if bad:
            raise CheckFailure(f"Value({x:.6g}).sigmoid() then backward() raised a NumPy warning: '{bad[0].message}'. "
                               "exp of a large positive number overflows; only ever exponentiate a non-positive one.")
        got, g = _num(y.data, "sigmoid data"), _num(v.grad, "x.grad")
        assert_true(_close(got, ye.data, 1e-12, 1e-7),
                    f"Value({x:.6g}).sigmoid().data is {got!r}, expected {ye.data!r}")
        assert_true(_close(g, e.grad, 1e-12, 1e-7),
                    f"x = Value({x:.6g}); x.sigmoid().backward(): x.grad is {g!r}, expected {e.grad!r} (= s(1 - s))")


@check(help="backward() must work on graphs a few thousand nodes deep (this chain: 6000). Each node must come after "
            "all of its consumers and be visited once; the order must be built without recursion.")
def test_deep_chain(ctx):
    """backward() works on a chain thousands of nodes deep"""
    V = _V(ctx)
    n = 3000  # v = v * c_i + a_i, 3000 times: a graph 6000 nodes deep
    x0 = float(ctx.rng.normal())
    cs = [float(c) for c in ctx.rng.uniform(0.999, 1.001, size=n)]
    adds = [float(t) for t in ctx.rng.normal(size=n) * 1e-3]

    def build(Cls):
        x = Cls(x0)
        leaves, v = [], x
        for c, t in zip(cs, adds):
            leaf = Cls(t)
            leaves.append(leaf)
            v = v * c + leaf
        return x, leaves, v

    x_ref, leaves_ref, out_ref = build(RefValue)
    out_ref.backward()
    x, leaves, out = build(V)
    try:
        out.backward()
    except RecursionError:
        raise CheckFailure(f"backward() on a chain {2 * n} nodes deep raised RecursionError: backward() must handle "
                           "graphs a few thousand nodes deep, and a recursive topological sort hits Python's recursion "
                           "limit (1000).",
                           help="Build the topological order iteratively, with your own stack (a list), e.g. of "
                                "(node, children_done) pairs.") from None
    assert_close(_num(out.data, "output data"), out_ref.data, what="the chain's output data", atol=1e-9, rtol=1e-9)
    assert_close(_num(x.grad, "x.grad"), x_ref.grad, what="x.grad at the start of the deep chain",
                 inputs=f"a chain {2 * n} nodes deep", atol=1e-12, rtol=1e-9)
    got = np.array([_num(leaf.grad, "leaf grad") for leaf in leaves])
    assert_close(got, np.array([leaf.grad for leaf in leaves_ref]), what="grads of the 3000 added leaves a_i",
                 inputs=f"v = v * c_i + a_i repeated {n} times", atol=1e-12, rtol=1e-9)


@check(help="Compare your grads with the reference's on random graphs; the message names the first node "
            "(walking back from the output) whose grad is wrong and the ops that use it.")
def test_random_graphs(ctx):
    """grads match the reference on random expression graphs"""
    V = _V(ctx)
    for g in range(6):
        leaves, program = _random_program(ctx.rng, n_leaves=int(ctx.rng.integers(2, 5)), n_ops=int(ctx.rng.integers(15, 40)))
        _compare_graph(V, leaves, program, f"random graph {g + 1}")


@check(help="Your backward must agree with your own forward: (f(x + h) - f(x - h)) / 2h should match x.grad.")
def test_finite_differences(ctx):
    """your backward agrees with finite differences of your own forward"""
    V = _V(ctx)
    for g in range(4):
        leaves, program = _random_program(ctx.rng, n_leaves=3, n_ops=20, unary=("neg", "exp", "log", "tanh", "sigmoid"))
        nodes = _replay(V, leaves, program)
        nodes[-1].backward()
        grads = [_num(nodes[k].grad, f"grad of leaf n{k}") for k in range(len(leaves))]
        for k, x in enumerate(leaves):
            h = 1e-5 * max(1.0, abs(x))
            up = _num(_replay(V, leaves[:k] + [x + h] + leaves[k + 1:], program)[-1].data, "output data")
            dn = _num(_replay(V, leaves[:k] + [x - h] + leaves[k + 1:], program)[-1].data, "output data")
            fd = (up - dn) / (2 * h)
            if not _close(grads[k], fd, 1e-4 * (1 + abs(fd)), 1e-4):
                raise CheckFailure(
                    f"graph {g + 1} ({len(program)} ops, output n{len(nodes) - 1}): leaf n{k}.grad is {grads[k]:.8g} but "
                    f"finite differences of your own forward give {fd:.8g}. Program: "
                    + "; ".join(f"n{len(leaves) + q} = {_text(ins)}" for q, ins in enumerate(program))[:1500])
