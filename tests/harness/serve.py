"""Runs `oncallbot serve` as a real subprocess for end-to-end tests."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

# What serve logs when its first rotation sync succeeded, or failed (then it serves the stored rotation).
FIRST_SYNC_DONE = ('"event": "rotation synced"', '"job": "rotation.sync"')

# Made once: a new httpx client loads the CA bundle into a fresh SSL context (about 40 ms of CPU with OpenSSL 3),
# which the benches' load generators would otherwise pay inside every request they time (bench/README.md).
CLIENT_TLS = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    def __init__(self, config: Path, cwd: Path, env: dict[str, str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"serve-{self.port}.log"
        ours = ("ONCALLBOT_", "SLACK_", "TWILIO_", "GOOGLE_")
        clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        self.env = {**clean, **(env or {})}
        self.config = config
        self.args = [sys.executable, "-m", "oncallbot", "serve", "--config", str(config), "--port", str(self.port)]
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 30.0, wait_for_sync: bool = True) -> "ServeProcess":
        """Returns once /healthz answers and, with `wait_for_sync`, the first rotation sync (which runs in the
        background) has finished or failed."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed by stop() or kill(), after the process)
        self.process = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:  # waiting for another process to listen, not for time to pass
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=CLIENT_TLS).status_code == 200:
                    if wait_for_sync:
                        try:
                            self.wait_for_output(FIRST_SYNC_DONE, timeout=max(deadline - time.monotonic(), 1))
                        except AssertionError:
                            self.kill()
                            raise
                    return self
            except httpx.HTTPError:
                pass
            try:
                self.process.wait(timeout=0.1)  # returns at once if serve died
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.output()}")
        self.kill()
        raise AssertionError(f"serve did not become healthy:\n{self.output()}")

    def wait_for_output(self, text: str | tuple[str, ...], timeout: float) -> str:
        """Wait until serve has logged `text` (any of them, for a tuple); fail after `timeout` seconds."""
        texts = (text,) if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # waiting for another process to log, not for time to pass
            output = self.output()
            if any(t in output for t in texts):
                return output
            try:  # wakes at once if serve exits; otherwise look at its log again shortly
                self.process.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError(f"serve did not log {texts} within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
