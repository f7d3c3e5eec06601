"""Hidden tests for unit `ddp`: the learner's broadcast_parameters / average_gradients with gloo.

Two checks:
1. One rank (world size 1, in this process): a smoke test that needs no second process, so a
   stub or a crash is reported fast.
2. Two ranks on 127.0.0.1: this process is rank 0 and runs the learner's functions here; rank 1
   is one child process (same interpreter, the learner's myllm on its path, reference_impl and
   mentor imports refused), started inside the check's limits and process group and killed at the
   end. Both ranks run the same protocol on a tiny model with rank-dependent weights and data:
   broadcast from src=1, broadcast with the default src, then backward on the rank's shard and
   average_gradients. Expected values come from one process on the concatenated batch, computed
   before any learner code runs. Every collective has a timeout, so a rank that never joins gives
   a named verdict instead of a hang. The later test_* functions read the results of that one run
   (one pair of processes per check).
"""

import datetime
import json
import os
import socket
import subprocess
import sys
import time

import torch
import torch.distributed as dist

import reference_impl.ddp as ref  # noqa: F401  (the answer key: same API; expected values are plain autograd)
from mentor.gate.testkit import CheckFailure, assert_close, assert_true, check

COLLECTIVE_TIMEOUT_S = 8  # a tiny all-reduce takes milliseconds; a rank that waits this long was left alone
START_TIMEOUT_S = 60  # rank 1 imports torch: seconds on a loaded 2-core machine

# The model and the protocol, run by rank 0 here (exec) and by rank 1 in the child (same text).
RANK_CODE = r'''
import torch
from torch import nn


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3, 1, 2))  # 3-d
        self.gain = nn.Parameter(torch.tensor(1.0))  # 0-d


class Tiny(nn.Module):
    """Parameters of four shapes, and one in the middle that is never used (its grad stays None).

    model.parameters() order: fc.weight (4, 5), fc.bias (4,), unused.weight (2, 2), head.scale
    (3, 1, 2), head.gain ().
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 4)
        self.unused = nn.Linear(2, 2, bias=False)  # never called
        self.head = Head()

    def forward(self, x):  # x (b, 5) -> (b,)
        h = torch.tanh(self.fc(x))  # (b, 4)
        return self.head.gain * h.sum(-1) + 0.3 * self.head.scale.pow(2).sum() * x[:, 0]


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def run_rank(ddp, rank, data, mark):
    """The protocol both ranks follow; mark(phase) records where this rank is."""
    torch.manual_seed(0)
    model = Tiny()
    out = {}
    model.load_state_dict(data["init"][rank])  # rank-dependent weights, copied into the same tensors
    mark("broadcast_parameters(model, src=1)")
    ddp.broadcast_parameters(model, src=1)
    out["after_src1"] = snapshot(model)
    model.load_state_dict(data["init"][rank])
    mark("broadcast_parameters(model)")
    ddp.broadcast_parameters(model)
    out["after_src0"] = snapshot(model)
    x, y = data["x"][rank], data["y"][rank]  # this rank's shard of the batch
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    out["local_grads"] = {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}
    mark("average_gradients(model)")
    ddp.average_gradients(model)
    mark("done")
    out["grads"] = {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}
    out["params_after"] = snapshot(model)
    return out
'''

WORKER_MAIN = r'''
import datetime
import importlib
import importlib.abc
import json
import os
import sys
import time
import traceback


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("reference_impl", "mentor"):
            raise ImportError(f"importing {name} is not allowed in this check")
        return None


def _main():
    cfg = json.loads(sys.argv[1])
    d = cfg["dir"]

    def mark(phase):
        with open(os.path.join(d, "rank1.phase.tmp"), "w") as f:
            f.write(phase)
        os.replace(os.path.join(d, "rank1.phase.tmp"), os.path.join(d, "rank1.phase"))

    def report(obj):
        torch.save(obj, os.path.join(d, "rank1.tmp"))
        os.replace(os.path.join(d, "rank1.tmp"), os.path.join(d, "rank1.pt"))

    sys.meta_path.insert(0, _Block())
    sys.path.insert(0, cfg["workspace"])
    torch.set_num_threads(1)
    phase = "importing myllm.ddp"
    try:
        ddp = importlib.import_module("myllm.ddp")
        data = torch.load(os.path.join(d, "data.pt"))
        mark("ready")
        phase = "init_process_group"
        dist.init_process_group("gloo", init_method=cfg["init_method"], rank=1, world_size=2,
                                timeout=datetime.timedelta(seconds=cfg["timeout"]))
        out = run_rank(ddp, 1, data, mark)
    except BaseException as e:
        try:
            with open(os.path.join(d, "rank1.phase")) as f:
                phase = f.read()
        except OSError:
            pass
        tb = traceback.extract_tb(e.__traceback__)
        where = [f"{os.path.relpath(fr.filename, cfg['workspace'])}:{fr.lineno}" for fr in tb
                 if fr.filename.startswith(os.path.join(cfg["workspace"], "myllm"))]
        report({"error": f"{type(e).__name__}: {str(e)[:400]}", "phase": phase, "where": where[-1] if where else ""})
        os._exit(1)
    report(out)
    t0 = time.monotonic()  # stay connected until rank 0 is through its own collectives
    while not os.path.exists(os.path.join(d, "rank0.done")) and time.monotonic() - t0 < cfg["timeout"] + 5:
        time.sleep(0.02)
    try:
        dist.destroy_process_group()
    except Exception:
        pass
    os._exit(0)


import torch
import torch.distributed as dist
_main()
'''

_RUNS = {}


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback():
    names = [n for _, n in socket.if_nameindex() if n.startswith("lo")]
    return names[0] if names else None


def _read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def _tail(path, n=600):
    text = _read(path).strip()
    return text[-n:] if text else "(no output)"


def _ns():
    ns = {}
    exec(compile(RANK_CODE, "<ddp protocol>", "exec"), ns)
    return ns


def _data(g, ns):
    """Rank-dependent initial weights and a batch split into two equal shards."""
    init = []
    for _ in range(2):
        m = ns["Tiny"]()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        init.append({k: v.detach().clone() for k, v in m.state_dict().items()})
    b = 6
    x = torch.randn(2 * b, 5, generator=g)
    y = torch.randn(2 * b, generator=g)
    return {"init": init, "x": [x[:b].clone(), x[b:].clone()], "y": [y[:b].clone(), y[b:].clone()]}, x, y


def _expected(ns, data, x, y):
    """One process, rank 0's weights, the whole batch: the gradient data parallelism must reproduce."""
    m = ns["Tiny"]()
    m.load_state_dict(data["init"][0])
    loss = ((m(x) - y) ** 2).mean()
    loss.backward()
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in m.named_parameters()}


def _env():
    env = dict(os.environ)
    lo = _loopback()
    if lo:
        env["GLOO_SOCKET_IFNAME"] = lo
    return env


def _init(init_method, rank, world):
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))


def _destroy():
    if dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - a broken group after a timeout: nothing left to clean
            pass


def _rank1_state(d, proc):
    """What rank 1 is doing, in words."""
    phase = _read(os.path.join(d, "rank1.phase"), "starting")
    res_path = os.path.join(d, "rank1.pt")
    if os.path.exists(res_path):
        res = torch.load(res_path)
        if "error" in res:
            where = f" at {res['where']}" if res.get("where") else ""
            return f"rank 1 stopped with {res['error']}{where} while in {res['phase']}"
        return "rank 1 had already returned from average_gradients"
    if proc.poll() is not None:
        return f"rank 1 died (exit code {proc.returncode}) while in {phase}; its output: {_tail(os.path.join(d, 'rank1.log'))}"
    return f"rank 1 was still inside {phase}"


def _two_rank_run(ctx):
    """The one two-rank run of this check, shared by the tests that read it; a failure is kept too."""
    if ctx.seed not in _RUNS:
        try:
            _RUNS[ctx.seed] = _launch(ctx)
        except BaseException as e:  # noqa: BLE001 - reported by the first test, summarised by the others
            _RUNS[ctx.seed] = e
            raise
    run = _RUNS[ctx.seed]
    if isinstance(run, BaseException):
        if isinstance(run, CheckFailure):
            raise CheckFailure(f"the two-rank run failed (see the first failing check): {run.message[:300]}")
        raise run
    return run


def _launch(ctx):
    for name in ("broadcast_parameters", "average_gradients"):
        ctx.symbol(name)  # a clear failure before any process starts
    ns = _ns()
    data, x, y = _data(ctx.torch_generator(), ns)
    expected = _expected(ns, data, x, y)  # before any learner code runs
    d = os.path.join(os.getcwd(), f"ddp-{ctx.seed}")
    os.makedirs(d, exist_ok=True)
    torch.save(data, os.path.join(d, "data.pt"))
    init_method = f"tcp://127.0.0.1:{_free_port()}"
    ws = os.path.dirname(os.path.dirname(os.path.abspath(ctx.learner.__file__)))
    cfg = {"dir": d, "workspace": ws, "init_method": init_method, "timeout": COLLECTIVE_TIMEOUT_S}
    log = open(os.path.join(d, "rank1.log"), "wb")
    # same session and process group as this check: the runner's kill reaches it too
    proc = subprocess.Popen([sys.executable, "-I", "-c", RANK_CODE + WORKER_MAIN, json.dumps(cfg)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=d, env=_env())
    phase0 = "waiting for rank 1 to start"
    old_if = os.environ.get("GLOO_SOCKET_IFNAME")
    try:
        t0 = time.monotonic()
        while _read(os.path.join(d, "rank1.phase")) != "ready":
            if proc.poll() is not None:
                raise CheckFailure(f"rank 1 (the second process) stopped before it was ready: {_rank1_state(d, proc)}")
            if time.monotonic() - t0 > START_TIMEOUT_S:
                raise CheckFailure(f"rank 1 (the second process) did not start within {START_TIMEOUT_S} s "
                                   f"(it imports torch and myllm.ddp); its output: {_tail(os.path.join(d, 'rank1.log'))}")
            time.sleep(0.02)
        if _loopback():
            os.environ["GLOO_SOCKET_IFNAME"] = _loopback()
        phase0 = "init_process_group"
        try:
            _init(init_method, 0, 2)
        except Exception as e:  # noqa: BLE001 - no learner code has run yet: name the environment problem
            raise CheckFailure(f"the two processes could not form a gloo group on {init_method} within "
                               f"{COLLECTIVE_TIMEOUT_S} s ({type(e).__name__}: {str(e)[:200]}); {_rank1_state(d, proc)}") from None

        t_phase = time.monotonic()

        def mark(phase):
            nonlocal phase0, t_phase
            phase0, t_phase = phase, time.monotonic()

        try:
            out0 = ns["run_rank"](ctx.learner, 0, data, mark)
        except dist.DistError as e:
            raise CheckFailure(_stuck_message(phase0, time.monotonic() - t_phase, e, d, proc)) from None
        except RuntimeError as e:
            if "imed out" in str(e) or "closed by peer" in str(e) or "Connection reset" in str(e):
                raise CheckFailure(_stuck_message(phase0, time.monotonic() - t_phase, e, d, proc)) from None
            raise
        with open(os.path.join(d, "rank0.done"), "w"):
            pass
        # rank 0 is through; rank 1 finishes, or times out in its own collective and reports it
        try:
            proc.wait(timeout=COLLECTIVE_TIMEOUT_S + 30)
        except subprocess.TimeoutExpired:
            pass
        res_path = os.path.join(d, "rank1.pt")
        out1 = torch.load(res_path) if os.path.exists(res_path) else None
        if out1 is None or "error" in out1:
            state = _rank1_state(d, proc)
            never = " (it waited for rank 0, which had already returned: the ranks did not call the same collectives)" \
                if out1 is not None and ("imed out" in out1["error"] or "DistError" in out1["error"]) else ""
            raise CheckFailure(f"rank 0 finished, but {state}{never}")
    finally:
        with open(os.path.join(d, "rank0.done"), "w"):
            pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()
        _destroy()
        if old_if is None:
            os.environ.pop("GLOO_SOCKET_IFNAME", None)
        else:
            os.environ["GLOO_SOCKET_IFNAME"] = old_if
    return data, expected, [out0, out1]


def _stuck_message(phase0, waited, e, d, proc):
    time.sleep(0.5)  # let rank 1 write its own report if it is failing too
    state = _rank1_state(d, proc)
    what = "all-reduce" if "average" in phase0 else "broadcast" if "broadcast" in phase0 else "process group"
    if "still inside" in state or "returned" in state:
        return (f"rank 1 never joined the {what}: rank 0 waited {waited:.0f} s in {phase0} (timeout "
                f"{COLLECTIVE_TIMEOUT_S} s) and {state}. Every rank must issue the same collectives "
                "(same number, same order, same shapes)")
    why = "the connection to rank 1 closed" if "closed" in str(e) or "reset" in str(e) else f"{type(e).__name__}: {str(e)[:200]}"
    return f"rank 0 stopped in {phase0} after {waited:.0f} s ({why}) because {state}"


def _describe_grad(got, exp, local, other_local):
    """Name the classic wrong answers for one gradient tensor."""
    def near(a, b):
        return a.shape == b.shape and torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    if near(got, local):
        return "it is still this rank's local gradient: the all-reduce did not change p.grad (was a copy reduced?)"
    if near(got, 2 * exp):
        return "it is the SUM over the 2 ranks, not the mean"
    if near(got, exp / 2):
        return "it is the mean divided by the world size once more"
    if near(got, other_local):
        return "it is the other rank's gradient"
    return "it is neither the mean nor a known mistake"


def _check_params(run, key, want_rank, call):
    data, _, outs = run
    want = data["init"][want_rank]
    for r, out in enumerate(outs):
        for name, got in out[key].items():
            if torch.equal(got, want[name]):
                continue
            other = data["init"][1 - want_rank][name]
            mean = (data["init"][0][name] + data["init"][1][name]) / 2
            if torch.equal(got, other):
                why = f"it holds rank {1 - want_rank}'s values"
            elif torch.allclose(got, mean, atol=1e-6):
                why = "it holds the mean of the ranks' values: a broadcast copies, it does not average"
            else:
                why = "it is neither rank's values"
            raise CheckFailure(f"after {call} on both ranks, rank {r}'s parameter `{name}` {tuple(got.shape)} differs "
                               f"from rank {want_rank}'s initial `{name}`: {why}")


@check(help="With one process (world size 1) both functions must run and change nothing: the mean over one rank "
            "is the rank's own gradient, and a parameter whose .grad is None keeps .grad None.")
def test_single_rank(ctx):
    ns = _ns()
    g = ctx.torch_generator()
    data, x, y = _data(g, ns)
    model = ns["Tiny"]()
    model.load_state_dict(data["init"][0])
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    before = {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}
    params = ns["snapshot"](model)
    store = os.path.join(os.getcwd(), f"ddp-single-{ctx.seed}.store")
    old_if = os.environ.get("GLOO_SOCKET_IFNAME")
    if _loopback():
        os.environ["GLOO_SOCKET_IFNAME"] = _loopback()
    _init(f"file://{store}", 0, 1)
    try:
        ctx.symbol("broadcast_parameters")(model)
        ctx.symbol("average_gradients")(model)
    finally:
        _destroy()
        if old_if is None:
            os.environ.pop("GLOO_SOCKET_IFNAME", None)
        else:
            os.environ["GLOO_SOCKET_IFNAME"] = old_if
    for n, p in model.named_parameters():
        assert_close(p.detach(), params[n], what=f"parameter `{n}` after broadcast_parameters + average_gradients",
                     inputs="world size 1", atol=0, rtol=0)
        if before[n] is None:
            assert_true(p.grad is None, f"parameter `{n}` had .grad None (unused in the loss) and average_gradients "
                                        "gave it a gradient; skip parameters whose .grad is None")
        else:
            assert_true(p.grad is not None, f"average_gradients set `{n}`.grad to None")
            assert_close(p.grad, before[n], what=f"`{n}`.grad after average_gradients", inputs="world size 1 (the mean "
                         "over one rank is its own gradient)", atol=1e-7, rtol=1e-6)


@check(help="broadcast_parameters(model, src) must make every rank's parameters an exact copy of rank src's, in place "
            "(the model's own tensors), using the src you are given; a broadcast copies, it does not average.")
def test_broadcast_src(ctx):
    run = _two_rank_run(ctx)
    _check_params(run, "after_src1", 1, "broadcast_parameters(model, src=1)")
    _check_params(run, "after_src0", 0, "broadcast_parameters(model) (default src=0)")


@check(help="After average_gradients each p.grad must hold the MEAN over ranks of the ranks' gradients (sum with an "
            "all-reduce, then divide by the world size), written into p.grad itself, for every parameter that has a "
            "gradient. Then it equals one process's gradient on the whole batch.")
def test_gradients_are_the_mean(ctx):
    data, expected, outs = _two_rank_run(ctx)
    for r, out in enumerate(outs):
        for name, exp in expected.items():
            if exp is None:
                continue
            got = out["grads"][name]
            if got is None:
                raise CheckFailure(f"rank {r}: `{name}`.grad is None after average_gradients")
            err = (got - exp).abs().max().item()
            if not torch.allclose(got, exp, atol=1e-6, rtol=1e-5):
                why = _describe_grad(got, exp, out["local_grads"][name], outs[1 - r]["local_grads"][name])
                raise CheckFailure(f"rank {r}: `{name}`.grad {tuple(got.shape)} after average_gradients differs from the "
                                   f"gradient of one process on the concatenated batch (max abs error {err:.3g}, "
                                   f"tolerance atol=1e-6, rtol=1e-5): {why}")
            assert_close(got, exp, what=f"rank {r}: `{name}`.grad after average_gradients",
                         inputs="2 ranks, each with half of the batch", atol=1e-6, rtol=1e-5)


@check(help="A parameter that took no part in the loss has .grad None on every rank: leave it None and go on with the "
            "next parameter.")
def test_none_grads_skipped(ctx):
    _, expected, outs = _two_rank_run(ctx)
    for r, out in enumerate(outs):
        for name, exp in expected.items():
            if exp is None:
                assert_true(out["grads"][name] is None,
                            f"rank {r}: `{name}` is not used by the model (its .grad was None) but after "
                            "average_gradients it has a gradient; skip it instead")


@check(help="average_gradients averages gradients only: the parameters themselves must be left as they were.")
def test_params_untouched_by_average(ctx):
    data, _, outs = _two_rank_run(ctx)
    for r, out in enumerate(outs):
        for name, got in out["params_after"].items():
            assert_close(got, out["after_src0"][name], what=f"rank {r}: parameter `{name}` after average_gradients",
                         inputs="2 ranks", atol=0, rtol=0)
