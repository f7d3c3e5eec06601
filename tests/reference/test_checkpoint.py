"""reference_impl/checkpoint.py against torch.save/torch.load and torch.optim.AdamW, and a save that fails mid-write."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn

import reference_impl.checkpoint as ck
from reference_impl.checkpoint import load_checkpoint, save_checkpoint


def _trained(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 5)).square().mean().backward()
        opt.step()
    return model, opt


def _assert_same(m1, o1, m2, o2):
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = o1.state_dict()["state"], o2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for i in s1:
        for k in s1[i]:
            assert torch.equal(torch.as_tensor(s1[i][k]), torch.as_tensor(s2[i][k]))


@pytest.mark.parametrize("kind", ["str", "pathlib", "bytesio"])
def test_round_trip(tmp_path, kind):
    m1, o1 = _trained(0)
    m2, o2 = _trained(1)
    target = {"str": str(tmp_path / "c.pt"), "pathlib": tmp_path / "c.pt", "bytesio": io.BytesIO()}[kind]
    save_checkpoint(m1, o1, 123, target)
    if kind == "bytesio":
        target.seek(0)
    raw = torch.load(io.BytesIO(target.getvalue()) if kind == "bytesio" else target, weights_only=True)
    assert raw["iteration"] == 123 and set(raw["model"]) == set(m1.state_dict())  # a plain torch.load reads it
    if kind == "bytesio":
        target.seek(0)
    assert load_checkpoint(target, m2, o2) == 123
    _assert_same(m1, o1, m2, o2)
    x = torch.randn(4, 5)
    for m, o in ((m1, o1), (m2, o2)):  # the next step is identical
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    _assert_same(m1, o1, m2, o2)
    if kind != "bytesio":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary file left


def test_failed_save_keeps_previous_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    m1, o1 = _trained(0)
    save_checkpoint(m1, o1, 7, path)
    real_save = torch.save

    def half_then_crash(obj, f, *a, **k):
        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", half_then_crash)
    m2, o2 = _trained(1)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(m2, o2, 8, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
    m3, o3 = _trained(2)
    assert load_checkpoint(path, m3, o3) == 7
    _assert_same(m1, o1, m3, o3)
