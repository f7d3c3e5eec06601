"""Hidden tests for unit `train-loop`: train in myllm/train.py.

The model is always the answer key's GPT (reference_impl.model), tiny (d_model 32, 2 layers), so
a failure points at the loop. Exact checks use data with N = context_length + 1 tokens: there is
then one possible window, every batch is that window repeated, and the result of a step does not
depend on how the loop draws its offsets; with torch.optim.SGD (whose update is linear in the
gradient, unlike AdamW's) one step is compared with the answer key's step, for 4 micro-batches of
2 and 1 batch of 8. The quality check trains on a byte-level corpus the check generates
(mentor.corpus, 81 distinct bytes, unigram entropy about 3.26 nats) with the learner's AdamW and
requires a validation loss below 2.5 nats after 150 iterations (the answer key reaches 2.09-2.22 over
five seeds).
"""

import math
import os
from contextlib import contextmanager

import numpy as np
import torch

import reference_impl.train as ref
from mentor.corpus import generate_corpus
from mentor.gate.testkit import CheckFailure, assert_close, assert_equal, assert_true, check
from reference_impl.model import GPT

T = 16
THRESHOLD = 2.5


def _gpt(seed, V=40, T_=T, d=32):
    torch.manual_seed(seed)
    return GPT(V, T_, d, 2, 2, 2 * d)


def _one_window(rng, V=40):
    return rng.integers(0, V, size=T + 1).astype(np.uint16)  # N = T + 1: exactly one valid window


def _sgd_step(ctx, fn, data, val, B, accum, grad_clip, lr=0.5, seed=0):
    model = _gpt(seed)
    opt = torch.optim.SGD(model.parameters(), lr=123.0)  # the loop must set the lr from its schedule
    out = fn(model, opt, data.copy(), val.copy(), batch_size=B, context_length=T, max_iters=1, lr_max=lr, lr_min=0.0,
             warmup_iters=0, grad_clip=grad_clip, grad_accum_steps=accum, eval_interval=1, eval_iters=1)
    return model, out


def _compare_params(model, expected, what):
    for (k, a), b in zip(model.state_dict().items(), expected.state_dict().values()):
        try:
            assert_close(a, b, what=f"parameter '{k}' after one step", inputs=what, atol=1e-5, rtol=1e-4)
        except CheckFailure as e:
            raise CheckFailure(f"{what}: after one optimizer step '{k}' differs from the expected step. ({e.message})",
                               details=e.details) from None


@check(help="With grad_accum_steps = k, run k micro-batches of batch_size, divide each loss by k before backward, and "
            "step once: the summed gradient is then the gradient of the mean loss over all k * batch_size windows, the "
            "same as one batch of k * batch_size. Zero the gradients once per step, not per micro-batch.")
def test_accumulation_equals_big_batch(ctx):
    data, val = _one_window(ctx.rng), _one_window(ctx.rng)
    expected, _ = _sgd_step(ctx, ref.train, data, val, 8, 1, 1e6, seed=ctx.subseed)
    fn = ctx.symbol("train")
    m8, _ = _sgd_step(ctx, fn, data, val, 8, 1, 1e6, seed=ctx.subseed)
    _compare_params(m8, expected, "train(batch_size=8, grad_accum_steps=1, max_iters=1, lr_max=0.5, warmup_iters=0) with "
                                  "torch.optim.SGD and no clipping (grad_clip=1e6)")
    m2x4, out = _sgd_step(ctx, fn, data, val, 2, 4, 1e6, seed=ctx.subseed)
    _compare_params(m2x4, expected, "train(batch_size=2, grad_accum_steps=4) must take the same step as batch_size=8, "
                                    "grad_accum_steps=1 (torch.optim.SGD, no clipping)")
    assert_true(isinstance(out, dict) and "history" in out and len(out["history"]) == 1,
                "train(max_iters=1) must return a dict whose 'history' has one row")
    row = out["history"][0]
    _, out8 = _sgd_step(ctx, ref.train, data, val, 8, 1, 1e6, seed=ctx.subseed)
    assert_close(float(row["train_loss"]), out8["history"][0]["train_loss"], what="history[0]['train_loss'] with "
                 "grad_accum_steps=4 (the mean loss over the 4 micro-batches, as for one batch of 8)", atol=1e-5, rtol=1e-5)


@contextmanager
def _fixed_batches(modules, train_len, train_windows, val_window):
    """Replace get_batch in the given modules: training calls return the next rows of train_windows in order."""
    pos = [0]

    def fixed(data, batch_size, context_length, device="cpu", rng=None):
        if len(data) == train_len:
            w = train_windows[pos[0]:pos[0] + batch_size]
            pos[0] += batch_size
        else:
            w = np.repeat(val_window[None], batch_size, axis=0)
        t = torch.from_numpy(w.astype(np.int64))  # (B, T + 1)
        return t[:, :-1].contiguous().to(device), t[:, 1:].contiguous().to(device)

    saved = [(m, m.get_batch) for m in modules if hasattr(m, "get_batch")]
    for m, _ in saved:
        m.get_batch = fixed
    try:
        yield
    finally:
        for m, f in saved:
            m.get_batch = f


@check(help="Clip once per optimizer step, after all micro-batches have been backpropagated: the global norm is that of "
            "the accumulated gradient, not of one micro-batch's (nor of a partial sum).")
def test_clipping_on_accumulated_gradient(ctx):
    rng = ctx.rng
    data, val = rng.integers(0, 40, size=500).astype(np.uint16), rng.integers(0, 40, size=100).astype(np.uint16)
    windows = rng.integers(0, 40, size=(8, T + 1)).astype(np.uint16)  # 8 different windows, served in this order
    with _fixed_batches([ref], len(data), windows, val[:T + 1]):
        expected, _ = _sgd_step(ctx, ref.train, data, val, 8, 1, 0.05, seed=ctx.subseed)
    with _fixed_batches([ctx.learner, ctx.learner_module("data")], len(data), windows, val[:T + 1]):
        m, _ = _sgd_step(ctx, ctx.symbol("train"), data, val, 2, 4, 0.05, seed=ctx.subseed)
    _compare_params(m, expected, "train(batch_size=2, grad_accum_steps=4, grad_clip=0.05) with torch.optim.SGD on 8 "
                                 "different windows (the gradient norm is far above 0.05, so the step must be lr * 0.05 "
                                 "along the accumulated gradient)")


@check(help="Before each step set every param group's 'lr' to cosine_lr(it, lr_max, lr_min, warmup_iters, max_iters), "
            "and record that value in the row; iterations are numbered from 0.")
def test_history_schedule_and_callback(ctx):
    rng = ctx.rng
    V = 40
    data, val = rng.integers(0, V, size=400).astype(np.uint16), rng.integers(0, V, size=200).astype(np.uint16)
    model = _gpt(ctx.subseed)
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    seen, lrs_used = [], []

    def callback(row):
        seen.append(dict(row))
        lrs_used.append(opt.param_groups[0]["lr"])

    kw = dict(batch_size=4, context_length=T, max_iters=9, lr_max=3e-3, lr_min=3e-4, warmup_iters=3, eval_interval=4,
              eval_iters=2, seed=5)
    out = ctx.symbol("train")(model, opt, data.copy(), val.copy(), callback=callback, **kw)
    hist = out["history"]
    assert_equal([r["iter"] for r in hist], list(range(9)), what="history[i]['iter'] for max_iters=9 (0-based)")
    for r in hist:
        assert_true(set(r) >= {"iter", "train_loss", "val_loss", "lr"}, f"a history row has keys {sorted(r)}; expected "
                                                                           "iter, train_loss, val_loss, lr")
    assert_true(len(seen) == len(hist), f"the callback was called {len(seen)} times for {len(hist)} history rows: it must "
                                        "see every row")
    expected_lr = [ref.cosine_lr(t, 3e-3, 3e-4, 3, 9) for t in range(9)]
    assert_close(np.array([r["lr"] for r in hist], dtype=float), np.array(expected_lr), what="history lr per iteration",
                 inputs="lr_max=3e-3, lr_min=3e-4, warmup_iters=3, max_iters=9 (cosine over max_iters)", atol=1e-12, rtol=1e-9)
    assert_close(np.array(lrs_used, dtype=float), np.array(expected_lr), what="optimizer.param_groups[0]['lr'] when each row "
                 "reached the callback (the lr the step used)", atol=1e-12, rtol=1e-9)
    for a, b in zip(seen, hist):
        assert_true(a["iter"] == b["iter"] and a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"],
                    f"the callback saw row {a} but history holds {b}: pass each row as it is appended")
    assert_true(all(math.isfinite(float(r["train_loss"])) for r in hist), "a train_loss is not finite")
    assert_true(hist[-1]["val_loss"] is not None, "the last iteration's row must carry a val_loss (the final evaluation)")
    n_eval = sum(r["val_loss"] is not None for r in hist)
    assert_true(2 <= n_eval <= 4, f"max_iters=9 with eval_interval=4 gave {n_eval} evaluations; expected one every 4 "
                                  "iterations plus the final one")
    assert_close(float(out["final_val_loss"]), float(hist[-1]["val_loss"]), what="final_val_loss (the last evaluation's "
                 "val_loss)", atol=1e-6, rtol=1e-6)


class _Crash(Exception):
    pass


@check(help="A checkpoint stores the number of completed iterations; resume=True loads it and continues with the next "
            "iteration. For the same losses, the batches of iteration i must depend only on the seed and i (for "
            "instance a generator seeded with (seed, i)), not on how many batches were drawn before in this process.")
def test_resume_same_losses(ctx):
    rng = ctx.rng
    V = 40
    data, val = rng.integers(0, V, size=2000).astype(np.uint16), rng.integers(0, V, size=500).astype(np.uint16)
    fn = ctx.symbol("train")
    kw = dict(batch_size=4, context_length=T, max_iters=8, lr_max=3e-3, lr_min=3e-4, warmup_iters=2, eval_interval=3,
              eval_iters=2, seed=int(rng.integers(1000)))

    def run(path, callback=None, resume=False):
        model = _gpt(ctx.subseed)
        opt = torch.optim.AdamW(model.parameters(), lr=1.0, weight_decay=0.1)
        out = fn(model, opt, data.copy(), val.copy(), checkpoint_path=path, resume=resume, callback=callback, **kw)
        return model, out

    full_path = os.path.join(os.getcwd(), "full.pt")
    full_model, full = run(full_path)
    load = ctx.learner_module("checkpoint").load_checkpoint
    done = load(full_path, _gpt(0), torch.optim.AdamW(_gpt(0).parameters()))
    assert_equal(int(done), 8, what="the iteration stored in the checkpoint at the end of train(max_iters=8) (completed "
                                    "iterations)")

    def crash_at_6(row):
        if row["iter"] == 6:
            raise _Crash()

    path = os.path.join(os.getcwd(), "crashed.pt")
    try:
        run(path, callback=crash_at_6)
    except _Crash:
        pass
    else:
        raise CheckFailure("the callback raised an exception at iteration 6 and train did not propagate it")
    done = load(path, _gpt(0), torch.optim.AdamW(_gpt(0).parameters()))
    assert_equal(int(done), 6, what="the iteration in the checkpoint of a run stopped at iteration 6 with "
                                    "eval_interval=3 (the checkpoint written at the last evaluation: 6 completed "
                                    "iterations)")
    resumed_model, resumed = run(path, resume=True)
    rows = resumed["history"]
    assert_true(rows and rows[0]["iter"] == 6, f"after resuming from a checkpoint of 6 completed iterations the first "
                                               f"history row has iter {rows[0]['iter'] if rows else None}; expected 6")
    by_iter = {r["iter"]: r for r in full["history"]}
    for r in rows:
        a, b = float(r["train_loss"]), float(by_iter[r["iter"]]["train_loss"])
        if abs(a - b) > 1e-5 + 1e-5 * abs(b):
            raise CheckFailure(f"the resumed run's train_loss at iteration {r['iter']} is {a:.6f}, the uninterrupted run's "
                               f"{b:.6f} (tolerance 1e-5): resuming must continue with the same batches, weights and "
                               "optimizer state")
    _compare_params(resumed_model, full_model, "a run resumed at iteration 6 vs the uninterrupted run, after iteration 7")


def _corpus(seed):
    text = generate_corpus(120_000, seed=seed % 100_003)
    b = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    vals, ids = np.unique(b, return_inverse=True)
    return len(vals), ids.astype(np.uint16)


@check(help="The whole loop must learn: a tiny GPT on the generated stories should get far below the unigram entropy "
            "(~3.26 nats) within 150 iterations. Check that the optimizer steps every iteration with the scheduled lr, "
            "that the gradients are zeroed between steps, and that y is the next token of x.")
def test_reaches_validation_threshold(ctx):
    V, ids = _corpus(ctx.subseed)
    n = int(0.9 * len(ids))
    train_data, val_data = ids[:n], ids[n:]
    torch.manual_seed(ctx.subseed)
    model = GPT(V, 32, 32, 2, 2, 64)
    AdamW = ctx.learner_module("optim").AdamW
    opt = AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    out = ctx.symbol("train")(model, opt, train_data, val_data, batch_size=16, context_length=32, max_iters=150,
                              lr_max=1e-2, lr_min=1e-3, warmup_iters=10, eval_interval=50, eval_iters=4, seed=ctx.seed)
    final = float(out["final_val_loss"])
    assert_true(math.isfinite(final) and final < THRESHOLD,
                f"after 150 iterations (GPT d_model=32, 2 layers, batch 16 x 32 byte tokens, your AdamW at lr 1e-2 with "
                f"warmup 10 and cosine to 1e-3) final_val_loss is {final:.3f} nats; it must be below {THRESHOLD} (the "
                f"unigram entropy of this corpus is about 3.26, the answer key reaches about 2.1-2.2)")
