"""proxylab.tracking: a loop of the user's own, logged — what the store holds equals what the loop had.

References are independent of the logging core: gradients from a second autograd pass over all inputs at once
(flattened into one vector, not per-group foreach norms), and per-sample ‖∂L/∂f(x)‖ from central finite
differences in float64.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from pytorch_metric_learning import losses as pml

from proxylab.losses import make_loss
from proxylab.store import RunError, open_run
from proxylab.tracking import RunLogger, find_proxies


def digits_like(n=120, d_in=12, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = 2 * torch.randn(classes, d_in, generator=g)[y] + torch.randn(n, d_in, generator=g)
    return x, y


def test_logged_gradients_equal_an_independent_recomputation(tmp_path):
    torch.manual_seed(0)
    x, y = digits_like()
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 6))
    loss_fn = pml.ProxyAnchorLoss(num_classes=4, embedding_size=6)
    opt = torch.optim.SGD([*model.parameters(), *loss_fn.parameters()], lr=0.05)
    expected = []
    with RunLogger("grads", store=tmp_path, model=model, loss=loss_fn) as run:
        for step in range(1, 8):
            idx = torch.randperm(len(y))[:40]
            emb = model(x[idx])
            loss = loss_fn(emb, y[idx])
            params = list(model.parameters())
            grads = torch.autograd.grad(loss, [emb, *params, loss_fn.proxies], retain_graph=True)
            flat_model = torch.cat([g.flatten() for g in grads[1:-1]])
            per_sample = grads[0].norm(dim=1)
            expected.append({
                "loss": float(loss.detach()), "model": float(flat_model.norm()), "proxies": float(grads[-1].norm()),
                "proxy_grad": grads[-1].norm(dim=1).numpy(),
                "mean": float(per_sample.mean()), "max": float(per_sample.max()),
                "class_grad": np.bincount(y[idx].numpy(), weights=per_sample.numpy(), minlength=4)})
            opt.zero_grad()
            run.backward(loss, step=step, embeddings=emb, labels=y[idx])
            opt.step()
    stored = open_run(tmp_path, "grads")
    assert stored.status == "finished"
    frame = stored.scalars()
    _, proxy_grad = stored.vectors("proxy_grad")
    _, class_grad = stored.vectors("class_grad")
    for i, want in enumerate(expected):
        row = frame.loc[i + 1]
        assert row["loss"] == pytest.approx(want["loss"], rel=1e-6)
        assert row["grad_norm/model"] == pytest.approx(want["model"], rel=1e-5)
        assert row["grad_norm/proxies"] == pytest.approx(want["proxies"], rel=1e-5)
        assert row["grad_norm/total"] == pytest.approx(np.hypot(want["model"], want["proxies"]), rel=1e-5)
        assert row["sample_grad/mean"] == pytest.approx(want["mean"], rel=1e-5)
        assert row["sample_grad/max"] == pytest.approx(want["max"], rel=1e-5)
        np.testing.assert_allclose(proxy_grad[i], want["proxy_grad"], rtol=1e-5)
        np.testing.assert_allclose(class_grad[i], want["class_grad"], rtol=1e-5, atol=1e-9)


def test_snapshot_sample_gradients_equal_finite_differences(tmp_path):
    torch.manual_seed(1)
    emb = torch.randn(24, 4, dtype=torch.float64)
    labels = torch.arange(24) % 3
    loss_fn = pml.ProxyAnchorLoss(num_classes=3, embedding_size=4).double()
    split = (torch.arange(24) >= 18).long()  # the last six are test points: no gradient
    with RunLogger("fd", store=tmp_path, loss=loss_fn) as run:
        run.snapshot(0, embeddings=emb, labels=labels, split=split, evaluate=False)
    stored = open_run(tmp_path, "fd").snapshot(0).grad_norm
    train = slice(0, 18)
    base = emb[train].clone()
    eps = 1e-6
    numeric = torch.zeros_like(base)
    with torch.no_grad():
        for i in range(base.shape[0]):
            for j in range(base.shape[1]):
                plus, minus = base.clone(), base.clone()
                plus[i, j] += eps
                minus[i, j] -= eps
                numeric[i, j] = (loss_fn(plus, labels[train]) - loss_fn(minus, labels[train])) / (2 * eps)
    np.testing.assert_allclose(stored[train], numeric.norm(dim=1).numpy(), rtol=1e-4, atol=1e-8)  # FD: ~1e-9 off
    assert np.isnan(stored[18:]).all()


def test_soft_triple_centres_read_in_pml_own_layout():
    torch.manual_seed(2)
    loss_fn = pml.SoftTripleLoss(num_classes=5, embedding_size=7, centers_per_class=3)
    source = find_proxies(loss_fn)
    assert (source.num_classes, source.per_class, source.layout) == (5, 3, "fc")
    emb = torch.randn(9, 7)
    theirs = loss_fn.distance(emb, loss_fn.fc.t()).view(-1, 5, 3)  # how SoftTripleLoss.compute_loss views them
    ours = torch.einsum("bd,ckd->bck", torch.nn.functional.normalize(emb, dim=1),
                        torch.nn.functional.normalize(source.proxies(), dim=-1))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make,shape", [
    (lambda: pml.ProxyAnchorLoss(num_classes=6, embedding_size=5), (6, 1, 5)),
    (lambda: pml.ProxyNCALoss(num_classes=6, embedding_size=5), (6, 1, 5)),
    (lambda: make_loss("mpa", num_classes=6, embedding_dim=5, proxies_per_class=3), (6, 3, 5)),
    (lambda: make_loss("soft_triple", num_classes=6, embedding_dim=5, proxies_per_class=2), (6, 2, 5)),
])
def test_find_proxies_reads_each_loss_as_c_k_d(make, shape):
    loss_fn = make()
    source = find_proxies(loss_fn)
    assert tuple(source.proxies().shape) == shape
    flat = source.parameter.detach().reshape(-1, shape[-1]) if source.layout != "fc" else source.parameter.detach().t()
    torch.testing.assert_close(source.proxies().reshape(-1, shape[-1]), flat)  # row c·K + k is proxy (c, k)


def test_find_proxies_on_modules_and_tensors_of_the_users_own():
    class Own(torch.nn.Module):
        proxies_per_class = 2

        def __init__(self):
            super().__init__()
            self.proxies = torch.nn.Parameter(torch.arange(24.0).reshape(6, 4))

    source = find_proxies(Own())
    assert (source.num_classes, source.per_class) == (3, 2)
    torch.testing.assert_close(source.proxies()[1, 0], torch.arange(8.0, 12.0))  # row 2 = class 1, sub-proxy 0
    nested = torch.nn.Module()
    nested.head = torch.nn.Linear(4, 4)
    nested.criterion = Own()
    assert find_proxies(nested).name == "Module.criterion.proxies"
    assert tuple(find_proxies(torch.zeros(5, 2, 3)).proxies().shape) == (5, 2, 3)
    assert find_proxies(torch.nn.Linear(3, 3)) is None  # no proxies: fine, the run has none
    with pytest.raises(ValueError, match="not a multiple of proxies_per_class=4"):
        find_proxies(torch.zeros(6, 3), proxies_per_class=4)
    with pytest.raises(ValueError, match=r"proxies_per_class must be an int >= 1, got 0"):
        find_proxies(torch.zeros(6, 3), proxies_per_class=0)
    with pytest.raises(ValueError, match=r"shape \(C, d\), \(C\*K, d\) or \(C, K, d\), got \(6,\)"):
        find_proxies(torch.zeros(6))
    with pytest.raises(TypeError, match="loss module or a tensor, got list"):
        find_proxies([1, 2])


def test_the_with_block_marks_the_run_failed_or_interrupted(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RunLogger("boom", store=tmp_path) as run:
            run.log({"loss": 1.0}, step=1)
            1 / 0
    failed = open_run(tmp_path, "boom")
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    assert failed.scalars()["loss"].tolist() == [1.0]  # what was logged before the error is kept
    with pytest.raises(KeyboardInterrupt):
        with RunLogger("stopped", store=tmp_path):
            raise KeyboardInterrupt
    assert open_run(tmp_path, "stopped").status == "interrupted"


def test_a_killed_script_leaves_a_readable_run_up_to_its_last_commit(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, torch
        from pytorch_metric_learning import losses
        from proxylab.tracking import RunLogger
        torch.manual_seed(0)
        x, y = torch.randn(64, 8), torch.arange(64) % 4
        model, loss_fn = torch.nn.Linear(8, 4), losses.ProxyAnchorLoss(num_classes=4, embedding_size=4)
        run = RunLogger("killed", store={str(tmp_path)!r}, model=model, loss=loss_fn, eval_inputs=x, eval_labels=y)
        for step in range(1, 31):
            emb = model(x)
            run.backward(loss_fn(emb, y), step=step, embeddings=emb, labels=y)
            if step % 10 == 0:
                run.snapshot(step)
            if step == 25:
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run = open_run(tmp_path, "killed")
    assert run.status == "interrupted"
    assert run.snapshot_steps() == [10, 20]
    assert run.snapshot(20).proxies.shape == (4, 1, 4)
    steps = run.scalars().index.tolist()
    assert steps[:20] == list(range(1, 21))  # every step up to the last snapshot was committed with it
    assert run.evals()["step"].max() == 20


def test_only_rank_0_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    model = torch.nn.Linear(3, 2)
    run = RunLogger("replica", store=tmp_path, model=model)
    emb = model(torch.randn(5, 3))
    run.backward(emb.pow(2).sum(), step=1, embeddings=emb, labels=torch.zeros(5, dtype=torch.long))
    assert model.weight.grad is not None  # backward still runs on every rank
    run.log({"loss": 1.0}, step=1)
    run.snapshot(1, embeddings=emb.detach(), labels=torch.zeros(5, dtype=torch.long))
    run.finish()
    assert not (tmp_path / "replica").exists()


def test_a_reader_sees_the_run_while_it_trains(tmp_path):
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(30, 4), torch.arange(30) % 3
    with RunLogger("live", store=tmp_path, model=model, eval_inputs=x, eval_labels=y, total_steps=10) as run:
        run.log({"loss": 0.5}, step=1)
        run.snapshot(1, evaluate=False)
        reader = open_run(tmp_path, "live")
        assert reader.status == "running"
        assert reader.snapshot_steps() == [1]
        assert reader.scalars()["loss"].tolist() == [0.5]  # a snapshot commits the rows before it
    assert open_run(tmp_path, "live").status == "finished"


@pytest.mark.parametrize("kwargs,message", [
    (dict(eval_inputs=torch.zeros(4, 2)), "eval_inputs needs eval_labels"),
    (dict(eval_inputs=torch.zeros(4, 2), eval_labels=[0, 1]), r"eval_labels must have shape \(4,\), got \(2,\)"),
    (dict(total_steps=0), "total_steps must be an int >= 1 or None, got 0"),
    (dict(groups={"a/b": torch.zeros(1)}), "group names must be non-empty strings without '/'"),
])
def test_bad_arguments_say_which_and_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunLogger("bad", store=tmp_path, **kwargs)
    assert not (tmp_path / "bad").exists()


def test_bad_calls_say_what_is_wrong(tmp_path):
    with RunLogger("calls", store=tmp_path) as run:
        with pytest.raises(ValueError, match="pass embeddings=..., or give the logger eval_inputs="):
            run.snapshot(1)
        with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
            run.snapshot(1, embeddings=torch.zeros(3, 2), labels=[0, 1])
        with pytest.raises(ValueError, match="scalar 'x' must be a real number, got 'a'"):
            run.log({"x": "a"}, step=1)
        from proxylab.errors import TrainingError

        with pytest.raises(TrainingError, match="non-finite embeddings at step 2"):
            run.snapshot(2, embeddings=torch.tensor([[float("nan"), 0.0], [1.0, 0.0]]), labels=[0, 1])
    assert open_run(tmp_path, "calls").snapshot_steps() == []
    with pytest.raises(RunError, match="already exists .* pass overwrite=True"):
        RunLogger("calls", store=tmp_path)


def test_image_inputs_get_thumbnails(tmp_path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x = torch.rand(10, 1, 4, 4)
    with RunLogger("images", store=tmp_path, model=model, eval_inputs=x, eval_labels=torch.arange(10) % 2) as run:
        run.snapshot(0)
    assert open_run(tmp_path, "images").eval_images().shape == (10, 4, 4, 1)


def test_default_groups_keep_the_proxies_apart_from_a_model_that_holds_the_loss(tmp_path):
    holder = torch.nn.Module()
    holder.net = torch.nn.Linear(3, 2)
    holder.loss_fn = pml.ProxyAnchorLoss(num_classes=2, embedding_size=2)
    run = RunLogger("groups", store=tmp_path, model=holder, loss=holder.loss_fn)
    assert [len(v) for v in run.groups.values()] == [2, 1] and list(run.groups) == ["model", "proxies"]
    assert all(p is not holder.loss_fn.proxies for p in run.groups["model"])
    run.finish()
    assert os.path.exists(tmp_path / "groups" / "run.json")
