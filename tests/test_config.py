"""TrainConfig validation, files and the snapshot schedule."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxylab.train.config import TrainConfig, snapshot_schedule
from proxylab.train.presets import PRESETS, preset


@pytest.mark.parametrize("changes, message", [
    ({"lr": -1.0}, "lr must be a float > 0"),
    ({"lr": float("nan")}, "lr must be a float > 0"),
    ({"proxies_per_class": 0}, "proxies_per_class must be an int >= 1"),
    ({"embedding_dim": 0}, "embedding_dim must be an int >= 1"),
    ({"steps": 1.5}, "steps must be an int >= 1"),
    ({"so_scope": "some"}, "so_scope must be one of 'all', 'between_classes'"),
    ({"optimizer": "lion"}, "optimizer must be one of"),
    ({"grad_clip": float("inf")}, "grad_clip must be a float > 0 or None"),
    ({"eval_ks": [0, 1]}, "eval_ks must be a non-empty list of ints >= 1"),
    ({"normalize": "yes"}, "normalize must be a bool"),
    ({"data_params": [1]}, "data_params must be a dict"),
])
def test_bad_values_name_parameter_expected_and_got(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ValueError, match=r"unknown config key 'lrate'; valid keys: .*\blr\b"):
        TrainConfig.from_dict({"lrate": 0.1})


def test_file_round_trip_json_and_toml(tmp_path):
    cfg = TrainConfig(loss="mpa", proxies_per_class=4, so_weight=0.1, eval_ks=[4, 1])
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_file(p) == cfg
    t = tmp_path / "c.toml"
    t.write_text('loss = "soft_triple"\nproxies_per_class = 10\nlr = 1\n')
    loaded = TrainConfig.from_file(t)
    assert loaded.loss == "soft_triple" and loaded.lr == 1.0 and isinstance(loaded.lr, float)


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid json"),
    ("[1, 2]", "a config must be a mapping"),
    ('{"steps": -3}', "steps must be an int >= 1"),
])
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        TrainConfig.from_file(p)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read config file"):
        TrainConfig.from_file(tmp_path / "nope.json")


def test_presets_are_valid_configs():
    for name in PRESETS:
        TrainConfig.from_dict(preset(name))
    with pytest.raises(ValueError, match="unknown preset 'nope'; valid: "):
        preset("nope")


@settings(max_examples=100, deadline=None)
@given(steps=st.integers(1, 100_000), n=st.integers(1, 50))
def test_snapshot_schedule_is_dense_early_sparse_late(steps, n):
    sched = snapshot_schedule(steps, n)
    assert sched == sorted(set(sched)) and sched[-1] == steps and len(sched) <= max(n, 1)
    if n >= 2:
        assert sched[0] == 0
    gaps = [b - a for a, b in zip(sched, sched[1:])]
    if len(gaps) >= 3 and steps >= 10 * n:
        assert gaps[0] <= gaps[-1]
