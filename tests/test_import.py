"""``proxylab import``: round trips through ``proxylab export``, file formats, PML state dicts, checkpoints."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from proxylab.cli import main
from proxylab.importing import import_run, read_embeddings, read_proxies
from proxylab.metrics import evaluate
from proxylab.store import open_run, write_fake_run
from proxylab.store.lock import acquire_lock, release_lock

FAKE = dict(steps=20, n=160, classes=4, modes_per_class=2, k=2, d=8, snapshot_every=10)


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    write_fake_run(store, "fake", **FAKE)
    return store


def evals_by_step(run) -> dict[tuple[int, str], dict[str, float]]:
    out: dict[tuple[int, str], dict[str, float]] = {}
    for (step, split), group in run.evals().groupby(["step", "split"]):
        out[(int(step), split)] = dict(zip(group["metric"], group["value"]))
    return out


def expected_metrics(snap) -> dict[tuple[str], dict[str, float]]:
    """evaluate() on the original snapshot, per split — what an import of its export must reproduce."""
    out = {}
    for name, s in (("train", 0), ("test", 1)):
        sel = snap.split == s
        out[name] = evaluate(snap.embeddings[sel], snap.labels[sel], modes=snap.modes[sel], proxies=snap.proxies)
    return out


@pytest.mark.parametrize("fmt", ["csv", "tensorboard"])
def test_export_then_import_round_trip_gives_the_same_snapshots_and_metrics(fake_store, tmp_path, fmt, capsys):
    out = tmp_path / f"export-{fmt}"
    assert main(["export", "fake", "--store", str(fake_store), "--format", fmt, "--out", str(out)]) == 0
    assert main(["import", str(out), "--store", str(fake_store), "--name", f"back-{fmt}"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"back-{fmt}")
    orig, back = open_run(fake_store, "fake"), open_run(fake_store, f"back-{fmt}")
    assert back.snapshot_steps() == orig.snapshot_steps() == [0, 10, 20]
    assert back.status == "finished"
    meta = back.meta
    assert meta["source"] == "import" and meta["read_only"] is True
    assert all(len(f["sha256"]) == 64 and f["path"].startswith(str(out)) for f in meta["imported_from"])
    got = evals_by_step(back)
    tol = 1e-6 if fmt == "csv" else 1e-5  # the projector TSV keeps 6 significant digits
    for step in orig.snapshot_steps():
        a, b = orig.snapshot(step), back.snapshot(step)
        np.testing.assert_allclose(b.embeddings, a.embeddings, rtol=tol, atol=tol)
        np.testing.assert_allclose(b.proxies, a.proxies, rtol=tol, atol=tol)
        for name in ("labels", "modes", "split", "index"):
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name))
        for split, metrics in expected_metrics(a).items():
            for key in ("R@1", "R@4", "MAP@R", "nDCG@8", "RP", "NMI", "mode_coverage", "mode_best_cos"):
                assert got[(step, split)][key] == pytest.approx(metrics[key], abs=1e-4), (step, split, key)
    # the metrics are not trivially constant: the run converges, so step 20 beats step 0
    assert got[(20, "test")]["MAP@R"] > got[(0, "test")]["MAP@R"] + 0.2


def test_npz_with_steps_string_labels_local_modes_and_no_split(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 40, 5)).astype(np.float32)
    labels = np.array(["cat", "dog"] * 20)
    modes = np.tile([0, 0, 1, 1], 10)  # mode ids local to each class
    path = tmp_path / "emb.npz"
    np.savez(path, embeddings=emb, labels=labels, modes=modes, steps=np.array([0, 5, 9]))
    data = read_embeddings(path)
    assert [s.step for s in data.snapshots] == [0, 5, 9]
    assert data.class_names == ["cat", "dog"]
    assert not data.has_split and all((s.split == 1).all() for s in data.snapshots)
    snap = data.snapshots[1]
    np.testing.assert_array_equal(snap.embeddings, emb[1])
    # (class, local mode) pairs became 4 global modes, each inside one class
    assert sorted(set(snap.modes.tolist())) == [0, 1, 2, 3]
    assert all(len(set(snap.labels[snap.modes == m])) == 1 for m in range(4))
    path = import_run(tmp_path / "store", "npz", data)
    run = open_run(tmp_path / "store", "npz")
    assert set(run.evals()["split"]) == {"test"}
    assert run.meta["dataset"]["class_names"] == ["cat", "dog"]


def test_a_large_split_is_scored_on_sampled_queries_with_a_note(tmp_path, monkeypatch):
    """Beyond MAX_EVAL_QUERIES points, retrieval uses that many random queries against all points (said once)."""
    from proxylab.importing import writer

    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    emb = (rng.normal(size=(300, 6)) + 3 * np.eye(6)[labels]).astype(np.float32)
    np.savez(tmp_path / "emb.npz", embeddings=emb, labels=labels)
    monkeypatch.setattr(writer, "MAX_EVAL_QUERIES", 50)
    import_run(tmp_path / "store", "big", read_embeddings(tmp_path / "emb.npz"))
    run = open_run(tmp_path / "store", "big")
    got = run.evals().set_index("metric")["value"]
    assert got["num_queries"] == 50
    assert got["R@1"] == pytest.approx(evaluate(emb, labels, max_queries=50)["R@1"])
    assert any("over 50 random queries of 300, each against all 300" in note for note in run.meta["import_notes"])


def test_parquet_list_column_with_step_column_and_image_paths(tmp_path):
    rng = np.random.default_rng(1)
    n, d = 30, 4
    frame = pd.DataFrame({
        "embedding": list(rng.normal(size=(2 * n, d))),
        "label": np.tile(np.arange(3), 2 * n // 3),
        "step": np.repeat([100, 200], n),
        "split": np.tile(["train", "test"], n),
        "image_path": [f"/imgs/{i}.png" for i in range(2 * n)],
    })
    frame.to_parquet(tmp_path / "emb.parquet")
    assert main(["import", str(tmp_path / "emb.parquet"), "--store", str(tmp_path / "store")]) == 0
    run = open_run(tmp_path / "store", "import-emb")
    assert run.snapshot_steps() == [100, 200]
    snap = run.snapshot(200)
    np.testing.assert_allclose(snap.embeddings, np.stack(frame["embedding"][n:]), rtol=1e-6)
    assert set(run.evals()["split"]) == {"train", "test"}
    paths = json.loads((run.path / run.meta["dataset"]["image_paths_file"]).read_text())
    assert paths["200"][0] == "/imgs/30.png"


def test_csv_with_numeric_columns_and_separate_proxies_npy(tmp_path):
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 6)) * 4
    labels = np.repeat(np.arange(3), 10)
    emb = centres[labels] + rng.normal(size=(30, 6))
    frame = pd.DataFrame(emb, columns=[f"dim{i}" for i in range(6)]).assign(label=labels, mode=labels)
    frame.to_csv(tmp_path / "emb.csv", index=False)
    np.save(tmp_path / "p.npy", centres.astype(np.float32))  # (C, d): one proxy per class
    assert main(["import", str(tmp_path / "emb.csv"), "--proxies", str(tmp_path / "p.npy"),
                 "--store", str(tmp_path / "s"), "--name", "csv"]) == 0
    run = open_run(tmp_path / "s", "csv")
    snap = run.snapshot(0)
    assert snap.proxies.shape == (3, 1, 6)
    metrics = dict(zip(run.evals()["metric"], run.evals()["value"]))
    assert metrics["mode_coverage"] == 1.0 and metrics["R@1"] == 1.0
    roles = [f["role"] for f in run.meta["imported_from"]]
    assert roles == ["embeddings", "proxies"]


def test_flat_proxies_are_split_by_k(tmp_path):
    w = np.arange(6 * 3, dtype=np.float32).reshape(6, 3)
    np.save(tmp_path / "p.npy", w)
    got = read_proxies(tmp_path / "p.npy", proxies_per_class=2).proxies
    assert got.shape == (3, 2, 3)
    np.testing.assert_array_equal(got[1, 0], w[2])  # proxy (c, k) = row c*K + k
    np.testing.assert_array_equal(got[2, 1], w[5])


# ------------------------------------------------------------------- pytorch-metric-learning state dicts


def _train_pml(loss, steps=5, d=8, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(64, d)
    y = torch.arange(64) % loss.num_classes
    emb = torch.nn.Linear(d, d)
    opt = torch.optim.SGD(list(emb.parameters()) + list(loss.parameters()), lr=0.5)
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    for _ in range(steps):
        opt.zero_grad()
        loss(emb(x), y).backward()
        opt.step()
    assert any(not torch.equal(before[k], v) for k, v in loss.state_dict().items()), "the loss did not train"
    return emb(x).detach(), y


@pytest.mark.parametrize("wrap", [None, "criterion"])
def test_pml_proxy_anchor_state_dict_lands_in_order(tmp_path, wrap):
    from pytorch_metric_learning.losses import ProxyAnchorLoss

    loss = ProxyAnchorLoss(num_classes=5, embedding_size=8)
    x, _ = _train_pml(loss)
    state = loss.state_dict()
    if wrap:
        state = {f"{wrap}.{k}": v for k, v in state.items()}
    torch.save(state, tmp_path / "pa.pt")
    got = read_proxies(tmp_path / "pa.pt", num_classes=5, embedding_dim=8)
    assert got.proxies.shape == (5, 1, 8)
    ours = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(
        torch.from_numpy(got.proxies).reshape(5, 8), dim=1).T
    np.testing.assert_allclose(ours.numpy(), loss.get_logits(x).detach().numpy(), atol=1e-5)


def test_pml_soft_triple_state_dict_lands_in_class_major_order(tmp_path):
    from pytorch_metric_learning.losses import SoftTripleLoss

    C, K, d = 4, 3, 8
    loss = SoftTripleLoss(num_classes=C, embedding_size=d, centers_per_class=K)
    x, _ = _train_pml(loss, d=d)
    torch.save(loss.state_dict(), tmp_path / "st.pt")
    # K from the number of classes in the labels, or given explicitly: same result
    a = read_proxies(tmp_path / "st.pt", num_classes=C, embedding_dim=d)
    b = read_proxies(tmp_path / "st.pt", proxies_per_class=K)
    np.testing.assert_array_equal(a.proxies, b.proxies)
    assert a.proxies.shape == (C, K, d) and "SoftTriple" in a.layout
    # similarities computed both ways: PML's per-centre cosines viewed (B, C, K) == ours from (C, K, d)
    pml = loss.distance(x, loss.fc.t()).view(-1, C, K)
    xn = torch.nn.functional.normalize(x, dim=1)
    ours = torch.einsum("bd,ckd->bck", xn, torch.nn.functional.normalize(torch.from_numpy(a.proxies), dim=2))
    np.testing.assert_allclose(ours.detach().numpy(), pml.detach().numpy(), atol=1e-5)
    # and PML's class similarity (soft assignment over K) from our layout
    q = torch.softmax(ours * loss.gamma, dim=2)
    np.testing.assert_allclose((q * ours).sum(2).detach().numpy(), loss.get_logits(x).detach().numpy(), atol=1e-5)
    # the wrong K is a reshape the numbers cannot explain
    with pytest.raises(ValueError, match="K·C not matching"):
        read_proxies(tmp_path / "st.pt", num_classes=5)


def test_soft_triple_import_through_the_cli_with_embeddings(tmp_path):
    from pytorch_metric_learning.losses import SoftTripleLoss

    loss = SoftTripleLoss(num_classes=4, embedding_size=8, centers_per_class=2)
    x, y = _train_pml(loss)
    torch.save({"loss": loss.state_dict()}, tmp_path / "ckpt.pth")
    np.savez(tmp_path / "emb.npz", embeddings=x.numpy(), labels=y.numpy())
    assert main(["import", str(tmp_path / "emb.npz"), "--proxies", str(tmp_path / "ckpt.pth"),
                 "--store", str(tmp_path / "s"), "--name", "st"]) == 0
    run = open_run(tmp_path / "s", "st")
    snap = run.snapshot(0)
    assert snap.proxies.shape == (4, 2, 8)
    np.testing.assert_allclose(snap.proxies[3, 1], loss.fc.detach()[:, 3 * 2 + 1].numpy(), rtol=1e-6)
    assert run.config["proxies_per_class"] == 2


def test_proxylab_loss_state_dict(tmp_path):
    from proxylab.losses import make_loss

    loss = make_loss("mpa", num_classes=3, embedding_dim=4, proxies_per_class=2)
    torch.save(loss.state_dict(), tmp_path / "mpa.pt")
    got = read_proxies(tmp_path / "mpa.pt", proxies_per_class=2)
    np.testing.assert_array_equal(got.proxies, loss.proxies.detach().numpy())


# ------------------------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from proxylab.train import TrainConfig, Trainer

    store = tmp_path_factory.mktemp("trained")
    cfg = TrainConfig.from_dict(dict(
        data="synthetic", data_params={"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 30},
        model="mlp", model_params={"hidden_sizes": [16]}, embedding_dim=6, loss="mpa", proxies_per_class=2,
        steps=12, eval_every=12, snapshot_points=120, num_snapshots=2))
    Trainer(cfg, store, "tiny", progress=False).run()
    return store


def test_proxylab_checkpoint_on_its_dataset_reproduces_its_snapshot(trained, tmp_path):
    store = trained
    params = json.dumps({"num_classes": 4, "modes_per_class": 2, "samples_per_mode": 30})
    assert main(["import", "--checkpoint", str(store / "tiny" / "weights" / "last.pt"), "--data", "synthetic",
                 "--data-params", params, "--store", str(store), "--no-progress", "--max-points", "50"]) == 0
    orig, back = open_run(store, "tiny"), open_run(store, "import-tiny")
    a, b = orig.snapshot(orig.snapshot_steps()[-1]), back.snapshot(back.snapshot_steps()[-1])
    assert b.step == a.step == 12
    np.testing.assert_array_equal(b.proxies, a.proxies)  # the loss's proxies came with the checkpoint
    matched = 0
    for s in (0, 1):
        rows_a = {int(i): r for r, i in enumerate(a.index) if a.split[r] == s}
        for r, i in enumerate(b.index):
            if b.split[r] == s and int(i) in rows_a:
                np.testing.assert_allclose(b.embeddings[r], a.embeddings[rows_a[int(i)]], atol=1e-6)
                matched += 1
    assert matched >= 20
    assert back.config["model"] == "mlp" and back.meta["read_only"]
    assert {f["role"] for f in back.meta["imported_from"]} >= {"checkpoint", "model-config", "proxies"}


def test_torchvision_checkpoint_with_a_dml_head_on_an_imagefolder(tmp_path, capsys):
    from PIL import Image
    from torch import nn
    from torchvision.models import resnet18

    rng = np.random.default_rng(0)
    for c, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        folder = tmp_path / "images" / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(4):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, size=(20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    net = resnet18(weights=None)
    net.fc = nn.Linear(512, 16)  # a DML embedding head instead of the classifier
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "r18.pth")
    assert main(["import", "--checkpoint", str(tmp_path / "r18.pth"), "--arch", "resnet18", "--data",
                 "imagefolder", "--data-root", str(tmp_path / "images"), "--data-params", '{"image_size": 32}',
                 "--split", "per-sample", "--store", str(tmp_path / "s"), "--name", "r18"]) == 0
    run = open_run(tmp_path / "s", "r18")
    snap = run.snapshot(0)
    assert snap.embeddings.shape == (8, 16)
    # the same model applied by hand to the first train image gives the same embedding
    net.eval()
    paths = json.loads((run.path / "image_paths.json").read_text())["0"]
    from proxylab.data import load_image

    x = torch.from_numpy(load_image(paths[0], 32, False))[None]
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        np.testing.assert_allclose(snap.embeddings[0], net(x)[0].numpy(), atol=1e-4)
    assert "embedding r18.pth" in capsys.readouterr().err  # the tqdm bar


def test_overwrite_replaces_only_imported_runs(fake_store, tmp_path):
    np.savez(tmp_path / "e.npz", embeddings=np.eye(4, dtype=np.float32), labels=np.array([0, 0, 1, 1]))
    args = ["import", str(tmp_path / "e.npz"), "--store", str(fake_store)]
    assert main(args + ["--name", "ow"]) == 0
    assert main(args + ["--name", "ow"]) == 2  # taken
    assert main(args + ["--name", "ow", "--overwrite"]) == 0
    assert main(args + ["--name", "fake", "--overwrite"]) == 2  # a trained run is never replaced
    assert open_run(fake_store, "fake").meta["source"] != "import"
    assert main(args) == 0 and main(args) == 0  # default names don't collide
    assert (fake_store / "import-e").is_dir() and (fake_store / "import-e-2").is_dir()
    assert math.isfinite(open_run(fake_store, "ow").evals()["value"].iloc[0])


def test_image_paths_become_thumbnails_and_unreadable_ones_are_grey(tmp_path, capsys):
    from PIL import Image

    from proxylab.store import read_eval_images

    (tmp_path / "imgs").mkdir()
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, colour in enumerate(colours):
        Image.new("RGB", (80, 40), colour).save(tmp_path / "imgs" / f"{i}.png")  # wide: letterboxed
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    paths = ["imgs/0.png", "imgs/1.png", str(tmp_path / "imgs" / "2.png"), "imgs/broken.png", "imgs/absent.png"]
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f"e{j}": rng.normal(size=5) for j in range(3)})
    frame["label"], frame["image_path"] = [0, 1, 2, 0, 1], paths
    frame.to_csv(tmp_path / "emb.csv", index=False)  # relative paths resolve against this file's folder
    assert main(["import", str(tmp_path / "emb.csv"), "--store", str(tmp_path / "s"), "--name", "img",
                 "--no-progress"]) == 0
    run = open_run(tmp_path / "s", "img")
    thumbs = read_eval_images(run.path)
    assert thumbs.shape == (5, 48, 48, 3) and thumbs.dtype == np.uint8
    for i, colour in enumerate(colours):
        assert tuple(thumbs[i, 24, 24]) == colour  # the image's centre
        assert tuple(thumbs[i, 2, 24]) == (128, 128, 128)  # the letterbox band above a wide image
    assert (thumbs[3:] == 128).all()  # broken and absent files: grey tiles
    assert "2 of 5 image files could not be read" in capsys.readouterr().err
    assert any("2 of 5" in note for note in run.meta["import_notes"])


def test_an_imported_run_cannot_be_resumed_and_is_left_untouched(fake_store, tmp_path, capsys):
    np.savez(tmp_path / "ro.npz", embeddings=np.eye(4, dtype=np.float32), labels=np.array([0, 0, 1, 1]))
    assert main(["import", str(tmp_path / "ro.npz"), "--store", str(fake_store), "--name", "ro"]) == 0
    before = (fake_store / "ro" / "run.json").read_bytes()
    capsys.readouterr()
    assert main(["train", "--store", str(fake_store), "--resume", "ro", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only" in err[0] and "ro" in err[0]
    assert (fake_store / "ro" / "run.json").read_bytes() == before
    release_lock(acquire_lock(fake_store / "ro", "ro", wait_s=0))  # the lock was released


# ------------------------------------------------------------------------------------------ property

from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 6), k=st.integers(1, 4), d=st.integers(1, 5), seed=st.integers(0, 1000))
def test_soft_triple_fc_layout_property(tmp_path_factory, c, k, d, seed):
    """For any C, K, d: our (C, K, d) proxy (c, k) is PML's fc column c*K + k (the view PML's get_logits uses)."""
    fc = torch.from_numpy(np.random.default_rng(seed).normal(size=(d, c * k)).astype(np.float32))
    path = tmp_path_factory.mktemp("fc") / "fc.npz"
    np.savez(path, fc=fc.numpy())
    got = read_proxies(path, proxies_per_class=k).proxies
    x = torch.randn(3, d)
    pml_view = (x @ fc).view(-1, c, k)  # PML: similarities (B, C*K) viewed (B, C, K)
    np.testing.assert_allclose(torch.einsum("bd,ckd->bck", x, torch.from_numpy(got)).numpy(), pml_view.numpy(),
                               rtol=1e-5, atol=1e-5)


def test_the_cli_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, proxylab.importing.cli, proxylab.importing; "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_an_import_plays_before_its_metrics_which_come_last_step_first_and_exact(tmp_path, monkeypatch):
    """The snapshots are on disk (the run openable, status running, no metrics yet) before any metric is computed;
    then each step's metrics land, last step first, equal to evaluate() on that step's embeddings."""
    from proxylab.importing import writer

    rng = np.random.default_rng(3)
    labels = np.arange(90) % 3
    files = []
    for step in range(3):
        emb = (rng.normal(size=(90, 5)) + (1 + step) * np.eye(5)[labels]).astype(np.float32)
        files.append(tmp_path / f"s{step}.npz")
        np.savez(files[-1], embeddings=emb, labels=labels, step=np.full(90, 10 * step))
    seen: dict = {}

    def playable(path):
        run = open_run(path.parent, path.name)
        seen.update(status=run.status, steps=run.snapshot_steps(), evals=len(run.evals()))

    order = []
    real = writer.snapshot_metrics
    monkeypatch.setattr(writer, "snapshot_metrics", lambda snap, *a, **k: order.append(snap.step) or real(snap, *a, **k))
    import_run(tmp_path / "store", "ordered", read_embeddings([str(f) for f in files]), on_playable=playable)
    assert seen == {"status": "running", "steps": [0, 10, 20], "evals": 0}
    assert order == [20, 10, 0]
    run = open_run(tmp_path / "store", "ordered")
    assert run.status == "finished"
    evals = run.evals()
    for step in (0, 10, 20):
        got = evals[(evals["step"] == step)].set_index("metric")["value"]
        assert got["R@1"] == pytest.approx(evaluate(run.snapshot(step).embeddings, labels)["R@1"], abs=0)
