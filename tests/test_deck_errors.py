"""`proxylab deck` refuses, in one line and before starting a server, what it cannot turn into slides."""
from __future__ import annotations

import pytest

from proxylab.cli import main
from proxylab.store import write_fake_run


@pytest.mark.parametrize("args, message", [
    (["--store", "{missing}"], "is not a directory; train the teaching runs with `proxylab demo`"),
    (["--store", "{plain}"], "lacks the teaching runs of scenes data, coverage, usage"),
    (["--store", "{plain}", "--width", "10"], "width must be an integer in 320-7680, got 10"),
    (["--store", "{plain}", "--browser", "/nonexistent/chromium"], "lacks the teaching runs"),
])
def test_deck_errors_are_one_line(tmp_path, capsys, args, message):
    plain = tmp_path / "plain"
    write_fake_run(plain, "not-a-lesson", steps=10, n=50, classes=3, modes_per_class=1, d=4, k=1, loss="proxy_anchor")
    args = [a.format(missing=tmp_path / "nope", plain=plain) for a in args]
    assert main(["deck", *args, "--out", str(tmp_path / "deck")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("proxylab: error:") and message in err and "\n" not in err
    assert not (tmp_path / "deck").exists()  # nothing written


def test_a_missing_chromium_is_named(tmp_path, capsys, monkeypatch):
    from proxylab import deck

    monkeypatch.setattr(deck, "_check_teaching_runs", lambda store, scenes: None)
    assert main(["deck", "--store", str(tmp_path), "--browser", "/nonexistent/chromium"]) == 2
    assert "Chromium executable '/nonexistent/chromium' not found" in capsys.readouterr().err
