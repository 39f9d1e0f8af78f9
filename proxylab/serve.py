"""The dashboard server as a subprocess: the command line (``proxylab dashboard``) and a background start that
waits until the server answers (the browser tests and the benchmark). Standard library only."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
#: the dashboard's upload limit: Streamlit refuses bigger files before accepting them, the page states it, and
#: .streamlit/config.toml repeats it for a plain `streamlit run`
UPLOAD_LIMIT_MIB = 50


def reachable_from_other_machines(address: str | None) -> bool:
    """Whether a server bound to ``address`` answers other machines: unset (Streamlit then binds every interface,
    as a plain `streamlit run` from outside the repository does), a wildcard or a non-loopback address."""
    return not address or not (address in ("localhost", "::1") or address.startswith("127."))


def check_port(port: object) -> int:
    """``port`` if it is a TCP port number (1-65535); ValueError naming it otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be an integer in 1-65535, got {port!r}")
    return port


def dashboard_command(store: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """``streamlit run dashboard/app.py`` headless on ``host:port`` over the run store ``store``, answering only
    requests addressed to this server (:mod:`dashboard.server`)."""
    check_port(port)
    if not APP.is_file():
        raise ValueError(f"the dashboard app is missing (expected {APP}); reinstall proxylab from its repository")
    # dashboard.server: Streamlit behind a Host allow-list (DNS rebinding)
    return [sys.executable, "-m", "dashboard.server", "run", str(APP), "--server.address", host,
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer", "--server.maxUploadSize", str(UPLOAD_LIMIT_MIB), "--", "--store",
            str(store)]


def serve_dashboard(store: Path, port: int, host: str = "127.0.0.1") -> None:
    """Become the dashboard server (``proxylab dashboard``): the process is replaced by Streamlit, so SIGTERM, SIGINT
    and a closed terminal reach the server itself and nothing is left running behind a dead parent.

    Raises ValueError, before anything starts, for a bad port or a store that is not a directory.
    """
    store = Path(store)
    check_port(port)  # the flags in their order: a bad port is named even when the store is missing too
    if not store.is_dir():
        raise ValueError(f"store {str(store)!r} is not a directory; train a run first (proxylab demo, proxylab train) "
                         "or pass --store with an existing run store")
    command = dashboard_command(store, port, host)
    print(f"dashboard: http://{'localhost' if host == '127.0.0.1' else host}:{port}  (store: {store}; Ctrl-C stops)",
          file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, {**os.environ, "PROXYLAB_STORE": str(store)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(store: Path, log: IO[bytes], timeout_s: float = 120.0,
                    test_api: bool = False) -> tuple[subprocess.Popen, str]:
    """Start the dashboard on a free local port, output to ``log``; return the process and its URL once
    ``/_stcore/health`` answers. RuntimeError (the process killed) if it exits or does not answer in time.
    ``test_api``: serve the player's test bundle (its state readable by browser tests and benchmarks)."""
    port = free_port()
    env = {**os.environ, **({"PROXYLAB_PLAYER_TEST_API": "1"} if test_api else {})}
    proc = subprocess.Popen(dashboard_command(store, port), cwd=APP.parent.parent, stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {proc.returncode} before answering; see its log")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the dashboard did not start within {timeout_s:.0f} s; see its log")
        time.sleep(0.2)
