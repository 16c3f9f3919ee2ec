"""A real hub (the demo, embedded backend) and the real desktop app driven through tauri-driver
and WebKitWebDriver, under the Xvfb display the test command starts."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "target" / "debug" / "outpost-hub"
APP = ROOT / "target" / "debug" / "outpost-desktop"
# target/ by default, so that a test run leaves the committed screenshots alone;
# OUTPOST_SCREENSHOTS=docs/screenshots refreshes the README's.
SHOTS = Path(os.environ.get("OUTPOST_SCREENSHOTS", ROOT / "target" / "e2e-screenshots")).resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - retried until the deadline
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Hub:
    """`outpost-hub demo` data served on an ephemeral port; stop() and start() keep the port."""

    def __init__(self, data: Path):
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        out = subprocess.run(
            [str(HUB), "--data-dir", str(data), "demo", "--no-serve", "--patients", "300"],
            check=True, capture_output=True, text=True,
        ).stdout
        self.logins = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 4 and "@" in parts[2]:
                self.logins[(parts[0], parts[1])] = (parts[2], parts[3])
        self.proc = None
        self.start()

    def login(self, role: str, tenant: str = "northside-clinic"):
        for (r, t), creds in self.logins.items():
            if r == role and (t == tenant or tenant is None):
                return creds
        raise KeyError(f"no demo login for {role} in {tenant}: {sorted(self.logins)}")

    def start(self):
        self.proc = subprocess.Popen(
            [str(HUB), "--data-dir", str(self.data), "serve", "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, what="the hub")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
            self.proc = None

    def api(self, role: str, tenant: str = "northside-clinic"):
        email, password = self.login(role, tenant)
        token = requests.post(
            f"{self.url}/v1/auth/login", json={"email": email, "password": password}, timeout=10
        ).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        return session


@pytest.fixture(scope="session")
def hub():
    data = Path(tempfile.mkdtemp(prefix="outpost-e2e-hub-"))
    h = Hub(data / "hub")
    yield h
    h.stop()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def app_factory(hub):
    """Starts the app with its own data directory (OUTPOST_HOME) through a tauri-driver of its
    own (the app inherits the driver's environment); the keyring is the test session's."""
    started = []

    def start(idle_seconds: int = 600):
        home = Path(tempfile.mkdtemp(prefix="outpost-e2e-home-"))
        env = dict(os.environ)
        env.update(
            OUTPOST_HOME=str(home),
            OUTPOST_HUB_URL=hub.url,
            OUTPOST_SYNC_SECONDS="1",
            OUTPOST_IDLE_SECONDS=str(idle_seconds),
        )
        port, native = free_port(), free_port()
        proc = subprocess.Popen(
            ["tauri-driver", "--port", str(port), "--native-port", str(native)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        # tauri-driver forwards to WebKitWebDriver, which it starts on the native port: a new
        # session sent before that one listens is dropped without an answer.
        for listening in (port, native):
            wait_for(lambda: socket.create_connection(("127.0.0.1", listening), timeout=1), what="the drivers")
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": str(APP)})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        started.append((driver, proc, home))
        return driver

    yield start
    for driver, proc, home in started:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
        stop_app(home)
        shutil.rmtree(home, ignore_errors=True)


def stop_app(home: Path):
    """Ends the app the driver started (ending the WebDriver session leaves it running), found
    by its OUTPOST_HOME; the next test's app would otherwise hand over to it and exit, since
    the app is single-instance."""
    marker = f"OUTPOST_HOME={home}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not any(running(pid) for pid in pids), what="the app to exit")


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its reparented parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def shot(driver, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.3)  # let WebKit paint the state the test just waited for
    driver.save_screenshot(str(SHOTS / f"{name}.png"))

