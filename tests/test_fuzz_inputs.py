"""Property-based fuzzing (hypothesis) of config files and feature files.

Property: for any generated input, loading either succeeds with a valid object or raises ``ValueError`` (DataError is
one) with a one-line message naming the offending field: a config key that is unknown or fails on its own, or the
array of a feature file that the generator made bad (an oracle that knows what it generated); no other exception
type ever escapes, nothing is unpickled, and nothing bad is accepted. Case counts: 250 (config dicts) + 150 (config
file bytes) + 150 (feature files) = 550 per run.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from proxylab.data import DataError, make_dataset
from proxylab.train import TrainConfig

FIELDS = list(TrainConfig.__dataclass_fields__)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=True)
COUNTS: dict[str, int] = {}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=10)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=15))


def _one_line_naming(text: str, *names: str) -> None:
    assert text and "\n" not in text, repr(text)
    assert any(n and n in text for n in names), (text, names)


def _fails_alone(key: str, value) -> bool:
    try:
        TrainConfig.from_dict({key: value})
    except ValueError:
        return True
    return False


def _names_an_offending_key(text: str, values: dict) -> None:
    """``text`` is one line that names a key of ``values`` that is unknown or invalid on its own, the way the
    config's messages do: ``"unknown config key 'k'; …"`` or ``"k must be …"``."""
    offending = [k for k in values if _fails_alone(k, values[k])]
    assert offending, f"no key fails on its own, yet: {text}"
    assert text and "\n" not in text, repr(text)
    named = [k for k in offending if text.startswith(f"{k} must be") or text.startswith(f"unknown config key {k!r}")]
    assert named, (text, offending)


@settings(max_examples=250, **SETTINGS)
@given(st.dictionaries(keys, json_values, max_size=6))
def test_config_dicts(values):
    COUNTS["config_dicts"] = COUNTS.get("config_dicts", 0) + 1
    try:
        cfg = TrainConfig.from_dict(values)
    except ValueError as exc:
        _names_an_offending_key(str(exc), values)
        return
    assert not any(_fails_alone(k, v) for k, v in values.items())  # nothing invalid was let through
    # accepted: every numeric field is finite and within its declared bounds
    for name in ("lr", "so_weight", "weight_decay", "steps", "embedding_dim", "proxies_per_class"):
        v = getattr(cfg, name)
        assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    assert cfg.steps >= 1 and cfg.embedding_dim >= 1 and cfg.proxies_per_class >= 1 and 0 < cfg.lr <= 10
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # round trip


config_bytes = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(keys, json_values, max_size=5).map(lambda d: json.dumps(d).encode()),
    st.dictionaries(keys, json_values, max_size=5).map(lambda d: json.dumps(d).encode()[:-3]),  # truncated
    st.text(max_size=200).map(str.encode),
)


@settings(max_examples=150, **SETTINGS)
@given(content=config_bytes, suffix=st.sampled_from([".json", ".toml", ".cfg", ""]))
def test_config_files(content, suffix):
    COUNTS["config_files"] = COUNTS.get("config_files", 0) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"cfg{suffix}"
        path.write_bytes(content)
        try:
            TrainConfig.from_file(path)
        except ValueError as exc:
            _one_line_naming(str(exc), path.name)
            values = _parsed(content, suffix)
            if isinstance(values, dict) and values:  # it parsed: the problem is a key, which the message names
                prefix = f"config file {path}: "
                assert str(exc).startswith(prefix), str(exc)
                _names_an_offending_key(str(exc)[len(prefix):], values)


def _parsed(content: bytes, suffix: str):
    """What a config file holds (TOML for .toml, JSON otherwise), or None when it is not UTF-8 / not parseable."""
    try:
        text = content.decode("utf-8")
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


dtypes = st.sampled_from(["f4", "f8", "f2", "i4", "i8", "u1", "?", "c8", "U3", "S2", "O", "M8[s]"])


@st.composite
def feature_arrays(draw):
    n = draw(st.integers(0, 30))
    shape_x = draw(st.sampled_from([(n,), (n, 0), (n, 1), (n, 3), (n, 2, 2), (max(n - 1, 0), 3), ()]))
    x_dtype = draw(dtypes)
    if x_dtype == "O":
        x = np.empty(shape_x, dtype=object)
        x[...] = draw(st.sampled_from([0, "a", None]))
    else:
        fill = draw(st.sampled_from([0.0, 1.5, -2.0, 1e300, np.nan, np.inf, -np.inf]))
        rng = np.random.default_rng(draw(st.integers(0, 100)))
        base = rng.normal(size=shape_x) + fill if shape_x else np.float64(fill)
        with np.errstate(all="ignore"):
            x = np.asarray(base).astype(x_dtype) if x_dtype not in ("U3", "S2") else np.asarray(base).astype(x_dtype)
    y_kind = draw(st.sampled_from(["int", "neg", "str", "float", "one", "object", "2d", "short", "bool"]))
    classes = draw(st.integers(1, 5))
    base_y = np.arange(n) % classes
    y = {"int": base_y, "neg": base_y - 1, "str": base_y.astype(str), "float": base_y.astype(float),
         "one": np.zeros(n, int), "object": base_y.astype(object), "2d": base_y[:, None],
         "short": base_y[: max(n - 2, 0)], "bool": base_y % 2 == 0}[y_kind]
    arrays = {"X": x, "y": y}
    if draw(st.booleans()):
        arrays["modes"] = draw(st.sampled_from([base_y, base_y.astype(float), base_y[:1], np.full(n, -1)]))
    if draw(st.integers(0, 9)) == 0:
        del arrays[draw(st.sampled_from(["X", "y"]))]
    return arrays


#: how a message names each part of a feature file (or the split the data cannot make)
ALIASES = {"X": ("'X'", "features"), "y": ("'y'", "labels"), "modes": ("modes",), "split": ("split",)}
FLOAT32_MAX = float(np.finfo(np.float32).max)


def bad_parts(arrays: dict) -> set[str]:
    """The oracle: which of ``X``, ``y``, ``modes`` the generated arrays get wrong (as features.py documents
    them), or ``split`` when they are fine but hold fewer than 4 classes, too few for a zero-shot split."""
    missing = {k for k in ("X", "y") if k not in arrays}
    if missing:
        return missing
    x, y, bad = arrays["X"], arrays["y"], set()
    n = len(x) if x.ndim else 0
    if x.dtype.kind not in "iuf" or x.ndim < 2 or n == 0 or x[0].size == 0:
        bad.add("X")
    elif not np.isfinite(x).all() or (x.dtype.kind == "f" and float(np.abs(x).max()) > FLOAT32_MAX):
        bad.add("X")
    if (y.dtype.kind not in "iuU" or y.shape != (n,) or (y.dtype.kind in "iu" and y.size and y.min() < 0)
            or len(np.unique(y)) < 2):
        bad.add("y")
    modes = arrays.get("modes")
    if modes is not None and (modes.dtype.kind not in "iuU" or modes.shape != (n,)):
        bad.add("modes")
    if not bad and len(np.unique(y)) < 4:
        bad.add("split")
    return bad


@settings(max_examples=150, **SETTINGS)
@given(arrays=feature_arrays(), mangle=st.sampled_from(["none", "none", "none", "truncate", "flip"]))
def test_feature_files(arrays, mangle):
    COUNTS["feature_files"] = COUNTS.get("feature_files", 0) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, **arrays)
        raw = path.read_bytes()
        if mangle == "truncate":
            path.write_bytes(raw[: len(raw) // 2])
        elif mangle == "flip":
            path.write_bytes(raw[:40] + bytes(b ^ 0xFF for b in raw[40:80]) + raw[80:])
        try:
            splits = make_dataset("features", root=path, split="zero-shot")
        except ValueError as exc:  # DataError is one
            text = str(exc)
            assert text and "\n" not in text, repr(text)
            if mangle != "none":  # a damaged archive: the file is the offending part
                assert path.name in text, text
                return
            bad = bad_parts(arrays)
            assert bad, f"valid arrays refused: {text}"
            assert any(alias in text for part in bad for alias in ALIASES[part]), (text, bad)
            if bad != {"split"}:  # a file's content is wrong: the message names the file too
                assert path.name in text, text
            return
        if mangle == "none":
            assert not bad_parts(arrays), bad_parts(arrays)  # nothing bad accepted
        # accepted: what the trainer gets is clean
        for part in (splits.train, splits.test):
            feats = part.features if hasattr(part, "features") else None
            if feats is not None:
                assert np.isfinite(np.asarray(feats)).all()
            assert part.labels.dtype == np.int64 and part.labels.min() >= 0


def test_fuzz_case_count():
    """Runs after the three fuzz tests in file order: at least 500 generated cases in total."""
    total = sum(COUNTS.values())
    print(f"\nfuzz cases: {COUNTS} total {total}")
    assert total >= 500, COUNTS
