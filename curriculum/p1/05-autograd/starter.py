"""Unit `autograd`: a scalar reverse-mode autograd engine (pure Python / NumPy only, no torch)."""

import math


class Value:
    """One scalar node of a computation graph.

    Attributes the checks read:
      data: float   the value computed in the forward pass
      grad: float   d(output)/d(this node); 0.0 until output.backward() is called

    Every operation returns a NEW Value that remembers the Values it was computed from and how to
    push its gradient back into them (a suggested design: a tuple of children `_prev` and a
    closure `_backward`). Numbers may appear on either side: x + 1, 1 + x, 2 - x, 3 / x.
    """

    def __init__(self, data: float, _children: tuple = (), _op: str = ""):
        """A node holding `data` (a Python number), with grad 0.0."""
        raise NotImplementedError

    # ---- binary operators: `other` is a Value or a plain int/float
    def __add__(self, other):
        """self + other."""
        raise NotImplementedError

    def __mul__(self, other):
        """self * other."""
        raise NotImplementedError

    def __pow__(self, k):
        """self ** k for a number k (int or float): x ** 2, x ** -1, x ** 0.5."""
        raise NotImplementedError

    def __neg__(self):
        """-self."""
        raise NotImplementedError

    def __sub__(self, other):
        """self - other."""
        raise NotImplementedError

    def __truediv__(self, other):
        """self / other."""
        raise NotImplementedError

    # ---- reflected operators: Python calls these when the LEFT operand is a plain number
    def __radd__(self, other):
        """other + self (e.g. 1 + x, and sum() of Values, which starts from 0)."""
        raise NotImplementedError

    def __rsub__(self, other):
        """other - self (e.g. 2 - x)."""
        raise NotImplementedError

    def __rmul__(self, other):
        """other * self (e.g. 2 * x)."""
        raise NotImplementedError

    def __rtruediv__(self, other):
        """other / self (e.g. 3 / x)."""
        raise NotImplementedError

    # ---- unary functions, each returning a new Value
    def exp(self):
        """e ** self."""
        raise NotImplementedError

    def log(self):
        """Natural log of self (self.data > 0)."""
        raise NotImplementedError

    def tanh(self):
        """tanh(self)."""
        raise NotImplementedError

    def relu(self):
        """max(self, 0); gradient 0 at exactly 0."""
        raise NotImplementedError

    def sigmoid(self):
        """1 / (1 + e ** -self), without overflow for |self.data| up to 1e4."""
        raise NotImplementedError

    def backward(self):
        """Set .grad of every node this one depends on to d(self)/d(node), on a freshly built graph.

        Visits nodes in reverse topological order (a node after every node that uses it), adds
        contributions (a node used twice gets the sum), and must work on graphs thousands of nodes
        deep: no recursion.
        """
        raise NotImplementedError
