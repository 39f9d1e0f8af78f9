"""Thumbnails of image runs: written by the trainer, read by the store, shown by the dashboard's selection table."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dashboard.thumbnails import png_data_uri, thumbnail_column
from proxylab.store import RunError, open_run, read_eval_images, to_thumbnails, write_eval_images, write_fake_run


def decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_to_thumbnails_scales_each_image_and_moves_channels_last():
    x = np.stack([np.arange(16, dtype=np.float32).reshape(1, 4, 4), -np.ones((1, 4, 4), np.float32) * 3])
    thumbs = to_thumbnails(x)
    assert thumbs.shape == (2, 4, 4, 1) and thumbs.dtype == np.uint8
    assert thumbs[0].min() == 0 and thumbs[0].max() == 255 and thumbs[0, 0, 1, 0] == round(255 / 15)
    assert (thumbs[1] == 0).all()  # a constant image stays constant
    big = to_thumbnails(np.random.default_rng(0).normal(size=(1, 3, 200, 130)))
    assert max(big.shape[1:3]) <= 64 and big.shape[-1] == 3


def test_store_round_trip_and_bad_files(tmp_path):
    images = (np.arange(2 * 8 * 8) % 256).astype(np.uint8).reshape(2, 8, 8, 1)
    write_eval_images(tmp_path, images)
    assert np.array_equal(read_eval_images(tmp_path), images)
    with pytest.raises(RunError, match="uint8"):
        write_eval_images(tmp_path, images.astype(np.float32))
    (tmp_path / "eval_images.npz").write_bytes(b"garbage")
    with pytest.raises(RunError, match="not a valid thumbnail file"):
        read_eval_images(tmp_path)
    np.savez(tmp_path / "eval_images.npz", images=np.array([object()], dtype=object))
    with pytest.raises(RunError):  # an object array would need pickle: refused
        read_eval_images(tmp_path)
    assert read_eval_images(tmp_path / "missing") is None


def test_png_data_uri_upscales_tiny_images_without_blurring():
    img = np.zeros((8, 8, 1), np.uint8)
    img[0, 0] = 255
    decoded = decode(png_data_uri(img))
    assert decoded.shape == (32, 32)
    assert (decoded[:4, :4] == 255).all() and (decoded[4:, :] == 0).all()
    rgb = decode(png_data_uri(np.full((40, 40, 3), 7, np.uint8)))
    assert rgb.shape == (40, 40, 3) and (rgb == 7).all()
    with pytest.raises(ValueError, match="uint8"):
        png_data_uri(np.zeros((8, 8), np.float32))


def test_thumbnail_column_matches_rows_or_is_absent():
    images = np.stack([np.full((8, 8, 1), v, np.uint8) for v in (10, 200)])
    col = thumbnail_column(images, np.array([1, 0]))
    assert [decode(u)[0, 0] for u in col] == [200, 10]
    assert thumbnail_column(None, np.array([0])) is None
    assert thumbnail_column(images, np.array([5])) is None  # rows that don't match: no wrong pictures


def test_selection_table_shows_images_of_an_image_run(tmp_path, monkeypatch):
    from test_dashboard_apptest import open_app

    write_fake_run(tmp_path, "img", steps=20, n=60, classes=3, modes_per_class=2, k=2, d=8)
    write_eval_images(open_run(tmp_path, "img").path, np.zeros((60, 8, 8, 1), np.uint8))
    at = open_app(tmp_path, monkeypatch, page="embedding", query={"run": "img"})
    at.session_state["selected_ids"] = [0, 5]
    at.run()
    assert not at.exception
    tables = [df.value for df in at.dataframe]
    assert any("image" in t.columns and t["image"].str.startswith("data:image/png").all() for t in tables)


def test_trainer_writes_thumbnails_for_image_data(tmp_path):
    import torch

    from proxylab.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(data="digits", data_params={"as_images": True}, model="cnn", steps=2, eval_every=2,
                      classes_per_batch=5, samples_per_class=4, snapshot_points=40, num_snapshots=2)
    Trainer(cfg, tmp_path, "img", progress=False).run()
    run = open_run(tmp_path, "img")
    images = run.eval_images()
    assert images.shape == (40, 8, 8, 1) and len(run.snapshot(2).labels) == 40
    features = TrainConfig(steps=2, eval_every=2, snapshot_points=20, num_snapshots=1)
    Trainer(features, tmp_path, "vec", progress=False).run()
    assert open_run(tmp_path, "vec").eval_images() is None  # feature data has no pictures
