"""Lab of unit `autograd`: what one Value costs in memory — a leaf, an operation, and the graph during backward.

Measured with tracemalloc (every Python object: the Value, its float, its children's container, its
backward closure). The list that holds the results is subtracted (8 bytes per pointer).
"""

from mentor.gate import labkit

N = 5000


def lab_value_bytes(ctx):
    Value = ctx.symbol("Value")
    (Value(1.0) * 2.0).backward()  # a stub fails here
    xs = [float(v) for v in ctx.rng.standard_normal(N)]
    leaf_bytes, leaves = labkit.traced_bytes_kept(lambda: [Value(x) for x in xs])
    op_bytes, prods = labkit.traced_bytes_kept(lambda: [v * 1.5 for v in leaves])
    del prods

    def build_and_backward():
        w = [Value(x) for x in xs]
        loss = Value(0.0)
        for a, b in zip(leaves, w):
            loss = loss + a * b  # two operation nodes per term
        loss.backward()
        return loss

    peak, loss = labkit.peak_traced_bytes(build_and_backward)
    nodes = 3 * N + 1  # w leaves, products, running sums (the first Value(0.0) included)
    return {"bytes_per_op": op_bytes / N - 8, "bytes_per_leaf": leaf_bytes / N - 8,
            "peak_bytes_per_node": peak / nodes, "peak_mib": peak / 2**20, "nodes": nodes,
            "payload_bytes": 16, "check": float(loss.data)}
