"""A scalar reverse-mode autograd engine, in the style of micrograd (pure Python, no NumPy needed).

Every arithmetic operation on a `Value` returns a new `Value` that remembers its inputs
(`_prev`) and a closure (`_backward`) that pushes the output's gradient into those inputs with
the op's local derivative. `backward()` orders the graph topologically with an explicit stack
(no recursion, so graphs thousands of nodes deep work under CPython's default recursion limit
of 1000), seeds d out / d out = 1 and runs the closures from the output back to the leaves.
Every closure *adds* into `.grad`: a node used by several consumers (x * x, a + a, a shared
subexpression) receives the sum of their contributions, the multivariable chain rule.

Sources: Karpathy, micrograd (github.com/karpathy/micrograd); Baydin et al. 2018, "Automatic
differentiation in machine learning: a survey"; Griewank & Walther, *Evaluating Derivatives*.
Leaves out: tensors, higher-order gradients (the closures use plain floats), zero_grad /
repeated backward on the same graph, a `**` whose exponent is itself a Value.
"""

from __future__ import annotations

import math


class Value:
    """One scalar node of a computation graph: its value `data` and d(output)/d(this) in `grad`."""

    __slots__ = ("data", "grad", "_prev", "_op", "_backward")

    def __init__(self, data: float, _children: tuple = (), _op: str = "") -> None:
        assert isinstance(data, (int, float)), f"Value holds a Python number, got {type(data).__name__}"
        self.data = float(data)
        self.grad = 0.0  # d(output)/d(self); filled in by output.backward()
        self._prev = _children  # the Values this one was computed from (a tuple: may repeat, x * x)
        self._op = _op  # for printing / debugging only
        self._backward = lambda: None  # leaves have nothing to propagate

    # ---------------------------------------------------------------- binary ops
    def __add__(self, other) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:  # d(a + b)/da = d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad  # += : when other is self (a + a) both lines land on a

        out._backward = _backward
        return out

    def __mul__(self, other) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k) -> Value:
        assert isinstance(k, (int, float)), "only a number exponent is supported (x ** 2, x ** -1, x ** 0.5)"
        out = Value(self.data**k, (self,), f"**{k}")

        def _backward() -> None:  # d(x^k)/dx = k x^(k-1)
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    # The rest are compositions of the three above; Python calls the r-methods when the left operand
    # is a plain number: `2 - x` -> x.__rsub__(2), so there `other` is the LEFT operand.
    def __neg__(self) -> Value:  # -x
        return self * -1

    def __sub__(self, other) -> Value:  # x - other
        return self + (-other)

    def __truediv__(self, other) -> Value:  # x / other
        return self * other**-1

    def __radd__(self, other) -> Value:  # other + x (also makes sum([...]) work: 0 + x)
        return self + other

    def __rsub__(self, other) -> Value:  # other - x
        return other + (-self)

    def __rmul__(self, other) -> Value:  # other * x
        return self * other

    def __rtruediv__(self, other) -> Value:  # other / x
        return other * self**-1

    # ---------------------------------------------------------------- unary functions
    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")  # OverflowError above ~709.78, like float64

        def _backward() -> None:  # d e^x / dx = e^x, already computed
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        assert self.data > 0, f"log of a non-positive number ({self.data})"
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:  # d ln x / dx = 1 / x
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)  # stable for any x; (e^2x - 1)/(e^2x + 1) overflows above x ~ 355
        out = Value(t, (self,), "tanh")

        def _backward() -> None:  # 1 - tanh^2, in terms of the OUTPUT t, not the input x
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward() -> None:  # 1 where x > 0, 0 elsewhere (0 at x == 0, as PyTorch)
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        e = math.exp(-abs(self.data))  # in (0, 1]: never overflows
        s = 1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e)
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:  # s (1 - s)
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    # ---------------------------------------------------------------- backward
    def _topological_order(self) -> list[Value]:
        """Every node reachable from self, each after all of its inputs (DFS post-order), iteratively.

        The stack holds (node, expanded): popping (node, False) marks it seen and pushes
        (node, True) under its inputs; popping (node, True) means all its inputs are placed.
        Memory O(nodes), depth unlimited.
        """
        topo: list[Value] = []
        seen: set[int] = set()  # ids: identity, whatever __eq__ might mean
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
                continue
            if id(node) in seen:
                continue  # reached twice through different consumers: place it once
            seen.add(id(node))
            stack.append((node, True))
            for child in node._prev:
                if id(child) not in seen:
                    stack.append((child, False))
        return topo

    def backward(self) -> None:
        """Fill .grad of every node this one depends on with d(self)/d(node), on a fresh graph."""
        topo = self._topological_order()
        assert topo[-1] is self
        self.grad = 1.0  # d self / d self
        for node in reversed(topo):  # a node runs only after every consumer has added its share
            node._backward()

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"
