"""Hidden tests for unit `checkpoint`: save_checkpoint and load_checkpoint in myllm/checkpoint.py.

Models are small nn.Modules trained a few steps with torch.optim.AdamW, so the optimizer holds real
state (step counts and both moments). Round trips are exact (torch.equal). The crash test forks
the check: the child calls the learner's save_checkpoint over an existing checkpoint with an
optimizer whose state_dict holds an object that, when it is serialised, signals the parent and
sleeps; the parent then SIGKILLs the child in the middle of the save and loads the previous
checkpoint with the learner's load_checkpoint.
"""

import io
import os
import pathlib
import signal
import time

import torch
import torch.nn as nn

from mentor.gate.testkit import CheckFailure, assert_equal, assert_true, check


class Net(nn.Module):
    def __init__(self, d=12, h=20):
        super().__init__()
        self.emb = nn.Embedding(30, d)
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, 30, bias=False)
        self.register_buffer("scale", torch.ones(()))

    def forward(self, idx):
        return self.fc2(torch.relu(self.fc1(self.emb(idx)))) * self.scale


def _trained(seed, steps=3, lr=1e-2, d=12, h=20):
    torch.manual_seed(seed)
    model = Net(d, h)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.8, 0.95))
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        _step(model, opt, g)
    model.scale.fill_(float(torch.rand((), generator=g)) + 0.5)  # a buffer that is part of the state
    return model, opt


def _step(model, opt, g):
    idx = torch.randint(0, 30, (4, 6), generator=g)
    loss = nn.functional.cross_entropy(model(idx).flatten(0, 1), torch.randint(0, 30, (24,), generator=g))
    opt.zero_grad()
    loss.backward()
    opt.step()


def _fresh(seed, lr=1e-2):
    torch.manual_seed(seed + 999)
    model = Net()
    return model, torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.8, 0.95))


def _same_model(a, b, what):
    sa, sb = a.state_dict(), b.state_dict()
    assert_true(list(sa) == list(sb), f"{what}: the loaded model's state_dict keys differ")
    for k in sa:
        if not torch.equal(sa[k], sb[k]):
            raise CheckFailure(f"{what}: model tensor '{k}' differs after load_checkpoint (max abs diff "
                               f"{(sa[k].float() - sb[k].float()).abs().max().item():.3g}); the loaded model must hold "
                               "exactly the saved weights and buffers")


def _same_optimizer(a, b, what):
    sa, sb = a.state_dict(), b.state_dict()
    if len(sb["state"]) != len(sa["state"]):
        raise CheckFailure(f"{what}: the loaded optimizer has state for {len(sb['state'])} parameters, the saved one for "
                           f"{len(sa['state'])}: AdamW's step counts and moments (exp_avg, exp_avg_sq) must be saved and "
                           "restored, or the next step after a resume differs")
    for i, st in sa["state"].items():
        for k, v in st.items():
            w = sb["state"][i].get(k)
            same = torch.equal(torch.as_tensor(v), torch.as_tensor(w)) if w is not None else False
            if not same:
                raise CheckFailure(f"{what}: optimizer state '{k}' of parameter {i} differs after load_checkpoint")
    for ga, gb in zip(sa["param_groups"], sb["param_groups"]):
        for k in ("lr", "betas", "weight_decay", "eps"):
            assert_true(ga[k] == gb[k], f"{what}: optimizer param_group '{k}' is {gb[k]} after loading, {ga[k]} when saved")


def _round_trip(ctx, out_for_save, src_for_load, what):
    model, opt = _trained(ctx.subseed)
    it = int(ctx.rng.integers(1, 10_000))
    ctx.symbol("save_checkpoint")(model, opt, it, out_for_save)
    m2, o2 = _fresh(ctx.subseed)
    got = ctx.symbol("load_checkpoint")(src_for_load(), m2, o2)
    assert_true(got is not None, f"load_checkpoint returned None ({what}); it must return the saved iteration")
    assert_equal(int(got), it, what=f"the iteration returned by load_checkpoint ({what})")
    _same_model(model, m2, what)
    _same_optimizer(opt, o2, what)
    # one more identical step on both: equal only if the moments and step counts came back
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    _step(model, opt, g1)
    _step(m2, o2, g2)
    for (k, a), b in zip(model.state_dict().items(), m2.state_dict().values()):
        if not torch.allclose(a, b, atol=1e-7, rtol=0):
            raise CheckFailure(f"{what}: after one more AdamW step on the original and the loaded model, '{k}' differs "
                               f"(atol 1e-7): training does not continue as it would have without the save")


@check(help="A checkpoint holds model.state_dict(), optimizer.state_dict() and the iteration; load_checkpoint puts "
            "the first two back into the objects it is given (load_state_dict) and returns the iteration.")
def test_round_trip_path(ctx):
    path = os.path.join(os.getcwd(), "ckpt.pt")
    _round_trip(ctx, path, lambda: path, "save to a str path, load from it")


@check(help="A path may be a str or a pathlib.Path (any os.PathLike): treat both as paths.")
def test_round_trip_pathlib(ctx):
    path = pathlib.Path(os.getcwd()) / "ckpt_pathlib.pt"
    _round_trip(ctx, path, lambda: path, "save to a pathlib.Path, load from it")


@check(help="out and src may be binary file objects (io.BytesIO, an open file): write to / read from them directly; "
            "there is nothing to rename.")
def test_round_trip_file_object(ctx):
    buf = io.BytesIO()
    _round_trip(ctx, buf, lambda: io.BytesIO(buf.getvalue()), "save into an io.BytesIO, load from a copy of its bytes")
    assert_true(len(buf.getvalue()) > 0, "save_checkpoint wrote nothing into the file object")


@check(help="Saving again to the same path replaces the checkpoint, and no temporary file stays behind in the "
            "directory after a save that succeeded.")
def test_overwrite_and_no_leftovers(ctx):
    d = os.path.join(os.getcwd(), "clean")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.pt")
    model, opt = _trained(ctx.subseed)
    ctx.symbol("save_checkpoint")(model, opt, 5, path)
    _step(model, opt, torch.Generator().manual_seed(3))
    ctx.symbol("save_checkpoint")(model, opt, 6, path)
    left = sorted(set(os.listdir(d)) - {"model.pt"})
    assert_true(not left, f"after two successful saves to {os.path.basename(path)} the directory also holds {left}: "
                          "remove or rename the temporary file")
    m2, o2 = _fresh(ctx.subseed)
    assert_equal(int(ctx.symbol("load_checkpoint")(path, m2, o2)), 6, what="iteration after saving 5, then 6, to one path")
    _same_model(model, m2, "the second save to the same path")


class _SlowPickle:
    """Serialising this object (pickle's __reduce__) writes a marker file and then sleeps: the save hangs mid-write."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        with open(self.marker, "w") as f:
            f.write("serialising")
        time.sleep(60)
        return (str, ("never",))


def _crash_mid_save(ctx, path, marker):
    """Fork; the child saves over path and is SIGKILLed while its checkpoint is being written."""
    model, opt = _trained(ctx.subseed + 1, steps=2, d=64, h=256)
    opt.param_groups[0]["slow"] = _SlowPickle(marker)  # optimizer.state_dict() copies param_group entries
    save = ctx.symbol("save_checkpoint")
    pid = os.fork()
    if pid == 0:  # child: never returns into the check
        code = 3
        try:
            save(model, opt, 999, path)
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported by the parent
            code = 2
            with open(marker + ".error", "w") as f:
                f.write(f"{type(e).__name__}: {e}"[:300])
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30  # a safety net, not a timing requirement
    exited = False
    while time.monotonic() < deadline:
        if os.path.exists(marker):
            break
        exited = os.waitpid(pid, os.WNOHANG)[0] != 0
        if exited:
            break
        time.sleep(0.005)
    if not exited:
        time.sleep(0.05)  # let a non-atomic writer finish truncating/streaming its first bytes
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return True
    return False


@check(help="Killing the process in the middle of a save to a path must leave the previous checkpoint loadable: write "
            "the new one to a temporary file in the same directory, flush and fsync it, then rename it over the target "
            "(os.replace is atomic). Writing straight to the target truncates it first.")
def test_crash_mid_save_keeps_previous(ctx):
    d = os.path.join(os.getcwd(), "crash")
    os.makedirs(d, exist_ok=True)
    path = pathlib.Path(d) / "latest.pt"
    marker = os.path.join(os.getcwd(), "serialising.marker")
    model, opt = _trained(ctx.subseed, d=64, h=256)
    ctx.symbol("save_checkpoint")(model, opt, 41, path)
    killed = _crash_mid_save(ctx, path, marker)
    if not killed and os.path.exists(marker + ".error"):
        with open(marker + ".error") as f:
            raise CheckFailure(f"save_checkpoint over an existing checkpoint raised {f.read()}")
    if not killed:
        raise CheckFailure("save_checkpoint finished without serialising optimizer.state_dict() (the test could not "
                           "interrupt it mid-write): the checkpoint must hold the optimizer's state_dict")
    assert_true(path.exists(), "after a save was killed mid-write, the previous checkpoint file is gone")
    m2 = Net(64, 256)
    o2 = torch.optim.AdamW(m2.parameters(), lr=1e-2, weight_decay=0.1, betas=(0.8, 0.95))
    try:
        got = ctx.symbol("load_checkpoint")(path, m2, o2)
    except Exception as e:
        raise CheckFailure(f"a save to {path.name} was killed mid-write, and the previous checkpoint no longer loads: "
                           f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''} "
                           f"(the file has {path.stat().st_size} bytes). The old file must stay intact until the new one "
                           "is completely written.") from None
    assert_equal(int(got), 41, what="the iteration of the previous checkpoint after a save was killed mid-write")
    _same_model(model, m2, "the previous checkpoint after a killed save")
