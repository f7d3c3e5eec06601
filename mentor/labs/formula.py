"""A lab bound's formula: arithmetic of named figures, parsed with `ast` and evaluated without `eval`.

Allowed: numbers, names, + - * / **, unary minus, parentheses, min(...), max(...). Names are the
figures a lab script returned or the learner's machine profile (see curriculum.LabBound).
"""

from __future__ import annotations

import ast
import operator
from typing import Callable, Mapping

_BIN: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Pow: operator.pow}
_FUNCS: dict[str, Callable[..., float]] = {"min": min, "max": max}


def _parse(formula: str) -> ast.expr:
    try:
        return ast.parse(formula.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"formula {formula!r} does not parse: {e.msg}") from None


def _walk(node: ast.expr, formula: str, found: list[str]) -> None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return
    if isinstance(node, ast.Name):
        found.append(node.id)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        _walk(node.left, formula, found)
        _walk(node.right, formula, found)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        _walk(node.operand, formula, found)
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
          and node.args and not node.keywords):
        for a in node.args:
            _walk(a, formula, found)
    else:
        raise ValueError(f"formula {formula!r}: `{ast.unparse(node)}` is not allowed "
                         "(numbers, names, + - * / **, parentheses, min(), max())")


def names(formula: str) -> list[str]:
    """The figure names a formula uses, in order of first use; ValueError if it is not a formula."""
    found: list[str] = []
    _walk(_parse(formula), formula, found)
    return list(dict.fromkeys(found))


def evaluate(formula: str, values: Mapping[str, float]) -> float:
    """The formula's value; KeyError(name) for a name missing from `values`."""

    def ev(node: ast.expr) -> float:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.BinOp):
            return _BIN[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand)
        if isinstance(node, ast.Call):
            return float(_FUNCS[node.func.id](*(ev(a) for a in node.args)))  # type: ignore[union-attr]
        raise ValueError(f"not allowed in a formula: {ast.unparse(node)}")

    names(formula)  # validate first
    return ev(_parse(formula))
