"""Report figures (matplotlib, Agg backend, written as PNG). Each function takes plain numbers, not runs."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("the report's figures need matplotlib: pip install 'proxylab[reproduce]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def lines_with_errors(path: Path, panels: Sequence[tuple[str, str, dict[str, tuple[list, list, list]]]],
                      xlabel: str, logx: bool = False) -> str:
    """One panel per (title, ylabel, {series: (x, mean, std)})."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, ylabel, series) in zip(axes[0], panels):
        for label, (x, m, s) in series.items():
            x, m, s = map(lambda a: np.asarray(a, dtype=float), (x, m, s))
            ax.errorbar(x, m, yerr=np.nan_to_num(s), marker="o", capsize=3, label=label)
        if logx:
            ax.set_xscale("log", base=2)
            xs = sorted({v for (x, _, _) in series.values() for v in x})
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)


def bars(path: Path, panels: Sequence[tuple[str, list[str], dict[str, tuple[list, list]]]],
         hline: float | None = None) -> str:
    """Grouped bars: one panel per (title, categories, {series: (means, stds)})."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (title, cats, series) in zip(axes[0], panels):
        width = 0.8 / max(1, len(series))
        for i, (label, (m, s)) in enumerate(series.items()):
            x = np.arange(len(cats)) + (i - (len(series) - 1) / 2) * width
            ax.bar(x, np.asarray(m, float), width, yerr=np.nan_to_num(np.asarray(s, float)), capsize=2, label=label)
        ax.set_xticks(np.arange(len(cats)), cats, rotation=25, ha="right", fontsize=7)
        ax.set_title(title)
        if hline is not None:
            ax.axhline(hline, color="k", lw=0.8)
        if len(series) > 1:
            ax.legend(fontsize=7)
    return _save(fig, path)


def curves(path: Path, panels: Sequence[tuple[str, str, str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                                              dict[str, tuple[np.ndarray, np.ndarray]]]]) -> str:
    """Mean ± std bands over steps: panels of (title, xlabel, ylabel, {series: (x, mean, std)}, {dashed: (x, y)})."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.5), squeeze=False)
    for ax, (title, xlabel, ylabel, series, dashed) in zip(axes[0], panels):
        for label, (x, m, s) in series.items():
            (line,) = ax.plot(x, m, label=label)
            ax.fill_between(x, m - np.nan_to_num(s), m + np.nan_to_num(s), alpha=0.2, color=line.get_color())
        for label, (x, y) in dashed.items():
            ax.plot(x, y, "--", color="k", lw=1, label=label)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    return _save(fig, path)
