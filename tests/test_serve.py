"""`proxylab dashboard`: bad arguments fail in one line before anything starts; a SIGTERM leaves no server behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from proxylab.serve import free_port

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def proxylab(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proxylab", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=60, **kwargs)


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
@pytest.mark.parametrize("store", ["existing", "missing"])
def test_a_port_out_of_range_is_one_line(tmp_path, port, store):
    out = proxylab("dashboard", "--store", tmp_path if store == "existing" else tmp_path / "nope", "--port", port)
    assert (out.returncode, out.stderr) == (2, f"proxylab: error: port must be an integer in 1-65535, got {port}\n")


def test_the_demo_checks_its_port_before_training(tmp_path):
    out = proxylab("demo", "--store", tmp_path / "store", "--port", "70000")
    assert (out.returncode, out.stderr) == (2, "proxylab: error: port must be an integer in 1-65535, got 70000\n")
    assert not (tmp_path / "store").exists()  # nothing was trained


def test_a_missing_store_is_one_line(tmp_path):
    out = proxylab("dashboard", "--store", tmp_path / "nope")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"proxylab: error: store '{tmp_path / 'nope'}' is not a directory")


def _answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_proxylab_dashboard_stops_the_server(tmp_path, signum):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "proxylab", "dashboard", "--store", str(tmp_path), "--port",
                             str(port)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _answers(url):
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)
        proc.send_signal(signum)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _answers(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _answers(url), "the server outlived the proxylab process it was started by"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("address, reachable", [(None, True), ("", True), ("0.0.0.0", True), ("::", True),
                                                ("192.168.1.5", True), ("127.0.0.1", False), ("127.0.1.1", False),
                                                ("localhost", False), ("::1", False)])
def test_which_bind_addresses_answer_other_machines(address, reachable):
    from proxylab.serve import reachable_from_other_machines

    assert reachable_from_other_machines(address) is reachable


@pytest.mark.parametrize("address, warned", [(None, True), ("0.0.0.0", True), ("127.0.0.1", False)])
def test_the_dashboard_warns_when_other_machines_can_open_it(tmp_path, monkeypatch, address, warned):
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PROXYLAB_STORE", str(tmp_path))
    real = config.get_option
    monkeypatch.setattr(config, "get_option", lambda key: address if key == "server.address" else real(key))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("answers other machines" in w.value for w in at.sidebar.warning) is warned


def _first_line(port: int, host: str, path: str, websocket: bool = False) -> str:
    import base64
    import socket

    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    if websocket:
        lines += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                  "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode(), f"Origin: http://{host}"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return s.recv(256).decode(errors="replace").split("\r\n")[0]


def test_a_rebinding_host_gets_no_page_and_no_websocket(tmp_path):
    from proxylab.serve import start_dashboard

    (tmp_path / "store").mkdir()
    with open(tmp_path / "dash.log", "wb") as log:
        proc, url = start_dashboard(tmp_path / "store", log)
    try:
        port = int(url.rsplit(":", 1)[1])
        for host in (f"rebind.attacker.test:{port}", "rebind.attacker.test", f"127.0.0.1.attacker.test:{port}"):
            assert " 400 " in _first_line(port, host, "/"), host
            assert " 400 " in _first_line(port, host, "/_stcore/stream", websocket=True), host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            assert " 200 " in _first_line(port, host, "/"), host
            assert " 101 " in _first_line(port, host, "/_stcore/stream", websocket=True), host
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_allowed_hosts_follow_the_bind_address(monkeypatch):
    from dashboard.server import allowed_hosts

    assert allowed_hosts("127.0.0.1") == ["127.0.0.1", "::1", "localhost"]
    assert "lab.example" in allowed_hosts("lab.example")
    monkeypatch.setenv("PROXYLAB_ALLOWED_HOSTS", "Proxy.Example, other.example")
    assert {"proxy.example", "other.example"} <= set(allowed_hosts("127.0.0.1"))
    import socket

    assert socket.gethostname().lower() in allowed_hosts("0.0.0.0")
