"""On a CUDA device: every registered loss, the trainer and the metrics compute what they compute on the CPU.

Skipped where no CUDA GPU is present (the CI machine); run where one is (the device check in BENCHMARKS.md names
the last one). float64 removes the rounding difference between the two devices, so the losses and their gradients
must agree to 1e-10; a float32 training run on the GPU must land where the CPU run lands.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from proxylab.losses import list_losses, make_loss
from proxylab.store import open_run
from proxylab.train import TrainConfig, Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

C, D, B = 7, 16, 56


def _loss_and_grads(name: str, device: str, proxies_per_class: int):
    torch.manual_seed(0)
    loss = make_loss(name, C, D, proxies_per_class=proxies_per_class).double().to(device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(B, D, generator=gen, dtype=torch.float64).to(device).requires_grad_()
    y = torch.arange(C).repeat(B // C)[torch.randperm(B, generator=gen)].to(device)
    out = loss(x, y)
    out.loss.backward()
    grads = [x.grad] + ([loss.proxies.grad] if loss.uses_proxies else [])
    return out.loss.detach().cpu(), {k: v.detach().cpu() for k, v in out.parts.items()}, [g.cpu() for g in grads]


@pytest.mark.parametrize("proxies_per_class", [1, 3])
@pytest.mark.parametrize("name", list_losses())
def test_every_loss_on_cuda_matches_the_cpu_in_float64(name, proxies_per_class):
    cpu = _loss_and_grads(name, "cpu", proxies_per_class)
    gpu = _loss_and_grads(name, "cuda", proxies_per_class)
    torch.testing.assert_close(gpu[0], cpu[0], rtol=1e-10, atol=1e-12)
    assert gpu[1].keys() == cpu[1].keys()
    for part in cpu[1]:
        torch.testing.assert_close(gpu[1][part], cpu[1][part], rtol=1e-10, atol=1e-12)
    for g_gpu, g_cpu in zip(gpu[2], cpu[2]):
        assert torch.count_nonzero(g_cpu) > 0
        torch.testing.assert_close(g_gpu, g_cpu, rtol=1e-8, atol=1e-12)


def test_the_trainer_picks_cuda_and_lands_where_the_cpu_run_lands(tmp_path):
    base = dict(data="synthetic", data_params={"num_classes": 6, "modes_per_class": 2, "samples_per_mode": 60},
                model="mlp", embedding_dim=16, loss="mpa", proxies_per_class=3, so_weight=0.01,
                split="per-sample", classes_per_batch=6, samples_per_class=8, steps=150, eval_every=50,
                snapshot_points=200, num_snapshots=4, checkpoint_every=50, lr=3e-3)
    runs = {}
    for device in ("auto", "cpu"):
        Trainer(TrainConfig.from_dict({**base, "device": device}), tmp_path, device, progress=False).run()
        runs[device] = open_run(tmp_path, device)
    assert runs["auto"].meta["device"].startswith("cuda")
    assert runs["cpu"].meta["device"] == "cpu"
    for run in runs.values():
        snap = run.snapshot(run.snapshot_steps()[-1])
        assert np.isfinite(snap.embeddings).all() and np.isfinite(snap.proxies).all()
    finals = {}
    for device, run in runs.items():
        evals = run.evals()
        last = evals[evals["step"] == evals["step"].max()]
        finals[device] = {(row.split, row.metric): row.value for row in last.itertuples()}
    assert finals["auto"].keys() == finals["cpu"].keys() and ("test", "R@1") in finals["cpu"]
    for key, value in finals["cpu"].items():  # float32 on two devices: the same run within rounding's reach
        assert abs(finals["auto"][key] - value) < 0.05, (key, finals)
    assert finals["cpu"][("test", "R@1")] > 0.8
