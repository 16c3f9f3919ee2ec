"""A real hub (the demo, embedded backend) and the real desktop app driven through tauri-driver
and WebKitWebDriver, under the Xvfb display the test command starts."""
import datetime
import ipaddress
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
from selenium.webdriver.remote.file_detector import UselessFileDetector

ROOT = Path(__file__).resolve().parent.parent.parent
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


def make_authority(directory: Path) -> dict:
    """A certificate authority made for the test run (as a hospital runs its own) and the
    hub's certificate it signed, for localhost and 127.0.0.1, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def builder(subject, issuer, key):
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid[0]).not_valid_after(valid[1])
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Outpost e2e hospital authority")])
    ca = (
        builder(ca_name, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": directory / "hospital-ca.pem", "cert": directory / "hub.crt", "key": directory / "hub.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


class Hub:
    """`outpost-hub demo` data served on an ephemeral port; stop() and start() keep the port.
    With `authority` (from make_authority) it serves HTTPS with that authority's certificate."""

    def __init__(self, data: Path, authority: dict | None = None):
        self.data = data
        self.port = free_port()
        self.authority = authority
        self.config = None
        if authority:
            self.url = f"https://localhost:{self.port}"
            self.config = data.parent / "hub.toml"
            self.config.write_text(
                f'tls_cert_file = "{authority["cert"]}"\ntls_key_file = "{authority["key"]}"\n'
            )
        else:
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
        config = ["--config", str(self.config)] if self.config else []
        self.proc = subprocess.Popen(
            [str(HUB), "--data-dir", str(self.data), *config, "serve", "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: requests.get(f"{self.url}/healthz", timeout=1, verify=self.verify).ok, what="the hub")

    @property
    def verify(self):
        """What `requests` checks the hub's certificate against."""
        return str(self.authority["ca"]) if self.authority else True

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
            self.proc = None

    def api(self, role: str, tenant: str = "northside-clinic"):
        email, password = self.login(role, tenant)
        token = requests.post(
            f"{self.url}/v1/auth/login", json={"email": email, "password": password}, timeout=10,
            verify=self.verify,
        ).json()["access_token"]
        session = requests.Session()
        # The hub's own authority, not REQUESTS_CA_BUNDLE (which would win over session.verify).
        session.trust_env = False
        session.verify = self.verify
        session.headers["Authorization"] = f"Bearer {token}"
        return session


def demo_hub(prefix: str, https: bool = False):
    """A Hub in a directory of its own, stopped and removed when the fixture ends; with
    `https`, served with a certificate of an authority made for it."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    h = Hub(data / "hub", authority=make_authority(data) if https else None)
    yield h
    h.stop()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def hub():
    yield from demo_hub("outpost-e2e-hub-")


@pytest.fixture(scope="session")
def https_hub():
    """The demo hub served over HTTPS with a certificate of an authority made for the run."""
    yield from demo_hub("outpost-e2e-https-", https=True)


@pytest.fixture
def app_factory(hub):
    """Starts the app with its own data directory (OUTPOST_HOME) through a tauri-driver of its
    own (the app inherits the driver's environment); the keyring is the test session's."""
    started = []

    def start(idle_seconds: int = 600, hub_url: str | None = None):
        home = Path(tempfile.mkdtemp(prefix="outpost-e2e-home-"))
        env = dict(os.environ)
        env.update(
            OUTPOST_HOME=str(home),
            OUTPOST_HUB_URL=hub_url or hub.url,
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
        # Typed text is text: a path (the CA file) must not be turned into a file upload.
        driver.file_detector = UselessFileDetector()
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

