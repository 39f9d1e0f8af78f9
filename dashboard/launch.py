"""Start a training run from the dashboard as a background process running the proxylab CLI."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

LOSSES = ("proxy_nca", "proxy_nca_pp", "proxy_anchor", "soft_triple", "mpa", "mpa_dw", "mpa_pw", "triplet")
DATASETS = ("synthetic", "digits", "digits-merged")
LOG_DIR = ".launch-logs"  # hidden: list_runs skips it


def training_command(store: Path, name: str, *, loss: str, proxies_per_class: int, so_weight: float, data: str,
                     steps: int, seed: int = 0) -> list[str]:
    """The `proxylab train` command line for these form values (validated here, one-line ValueError)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if data not in DATASETS:
        raise ValueError(f"data must be one of {', '.join(DATASETS)}, got {data!r}")
    if proxies_per_class < 1 or steps < 1 or so_weight < 0:
        raise ValueError(f"need K >= 1, steps >= 1 and SO weight >= 0, got K={proxies_per_class}, "
                         f"steps={steps}, SO weight={so_weight}")
    return [sys.executable, "-m", "proxylab", "train", "--store", str(Path(store).resolve()), "--name", name,
            "--data", data,
            "--loss", loss, "--proxies-per-class", str(proxies_per_class), "--so-weight", str(so_weight),
            "--steps", str(steps), "--seed", str(seed), "--no-progress"]


def start_training(store: Path, name: str, **form) -> tuple[subprocess.Popen, Path]:
    """Start the run in its own session (it outlives the page rerun); output goes to a log file."""
    command = training_command(store, name, **form)
    log = Path(store) / LOG_DIR / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    repo_root = Path(__file__).resolve().parent.parent
    with open(log, "wb") as out:
        out.write(("$ " + shlex.join(command) + "\n").encode())  # the log says what was run
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=repo_root, start_new_session=True)
    return process, log
