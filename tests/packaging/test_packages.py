"""The packages scripts/package.sh built into target/dist: what the hub's .deb installs and how
its service is confined, that the desktop .deb's update signature verifies (and fails for a
changed byte), and that a hub publishing the desktop build offers it to an older app."""

import base64
import hashlib
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent.parent
DIST = ROOT / "target" / "dist"
HUB = ROOT / "target" / "debug" / "outpost-hub"
KEY_PUB = ROOT / "target" / "updater-test-key" / "updater.key.pub"
UNIT = "outpost-hub.service"


def one(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {DIST}, found {found}"
    return found[0]


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def hub_deb() -> Path:
    return one("outpost-hub_*.deb")


@pytest.fixture(scope="module")
def desktop_deb() -> Path:
    return one("Outpost_*.deb")


@pytest.fixture(scope="module")
def extracted(hub_deb):
    root = Path(tempfile.mkdtemp(prefix="outpost-hub-deb-"))
    subprocess.run(["dpkg-deb", "-x", str(hub_deb), str(root)], check=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def contents(deb: Path) -> dict[str, str]:
    """Path → permission string of every entry of a package."""
    listing = run("dpkg-deb", "-c", str(deb), check=True).stdout
    entries = {}
    for line in listing.splitlines():
        fields = line.split()
        entries["/" + fields[5].removeprefix("./").removeprefix("/")] = fields[0]
    return entries


def test_the_hub_package_installs_the_binary_a_private_config_and_a_service(hub_deb):
    files = contents(hub_deb)
    assert files["/usr/bin/outpost-hub"] == "-rwxr-xr-x"
    assert files["/etc/outpost/hub.toml"] == "-rw-r-----", "the configuration may hold secrets"
    units = [p for p in files if p.endswith(f"/systemd/system/{UNIT}")]
    assert units, sorted(files)
    assert "/usr/share/doc/outpost-hub/OPERATIONS.md" in files

    control = run("dpkg-deb", "-f", str(hub_deb), "Package", "Depends", check=True).stdout
    assert "Package: outpost-hub" in control and "passwd" in control, control
    postinst = run("dpkg-deb", "-I", str(hub_deb), "postinst", check=True).stdout
    assert "useradd --system" in postinst
    assert "install -d -m 0700 -o outpost-hub -g outpost-hub /var/lib/outpost-hub" in postinst
    assert "chown root:outpost-hub /etc/outpost/hub.toml" in postinst
    syntax = run("sh", "-n", input=postinst)
    assert syntax.returncode == 0, syntax.stderr
    assert "deb-systemd-helper" in postinst, "the service is enabled on install"
    conffiles = run("dpkg-deb", "-I", str(hub_deb), "conffiles", check=True).stdout
    assert "/etc/outpost/hub.toml" in conffiles, "an upgrade keeps the operator's configuration"


def test_the_service_unit_is_valid_and_confined(extracted):
    unit = next(extracted.glob(f"**/systemd/system/{UNIT}"))
    text = unit.read_text()
    for setting in [
        "User=outpost-hub", "StateDirectory=outpost-hub", "StateDirectoryMode=0700",
        "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
        "ExecStart=/usr/bin/outpost-hub --config /etc/outpost/hub.toml serve",
    ]:
        assert setting in text, setting
    # Verified against this machine's systemd, with ExecStart at the packaged binary as it was
    # extracted (it is not installed here).
    check = extracted / "verify" / UNIT
    check.parent.mkdir(exist_ok=True)
    check.write_text(text.replace("/usr/bin/outpost-hub", str(extracted / "usr/bin/outpost-hub")))
    verify = run("systemd-analyze", "verify", str(check))
    assert verify.returncode == 0, verify.stderr
    security = run("systemd-analyze", "security", "--offline=yes", f"--root={extracted}", str(unit))
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", security.stdout)
    assert score, security.stdout + security.stderr
    print(f"systemd-analyze security: {score.group(1)} {score.group(2)}")
    assert float(score.group(1)) <= 2.0, security.stdout


def minisign_verify(pubkey_b64: str, signature_b64: str, file: Path) -> subprocess.CompletedProcess:
    """Checks a Tauri updater signature with minisign: both are base64 of minisign's files."""
    work = Path(tempfile.mkdtemp(prefix="outpost-sig-"))
    try:
        (work / "key.pub").write_bytes(base64.b64decode(pubkey_b64))
        (work / "file.minisig").write_bytes(base64.b64decode(signature_b64))
        return run("minisign", "-V", "-p", str(work / "key.pub"), "-x", str(work / "file.minisig"), "-m", str(file))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_desktop_package_is_signed_for_the_updater_and_a_changed_byte_is_refused(desktop_deb, tmp_path):
    files = contents(desktop_deb)
    assert any(p.startswith("/usr/bin/") for p in files), sorted(files)
    assert any(p.endswith(".desktop") for p in files), sorted(files)
    assert any("/icons/hicolor/" in p for p in files), sorted(files)

    signature = Path(f"{desktop_deb}.sig").read_text()
    pubkey = KEY_PUB.read_text()
    good = minisign_verify(pubkey, signature, desktop_deb)
    assert good.returncode == 0, good.stdout + good.stderr

    changed = tmp_path / desktop_deb.name
    data = bytearray(desktop_deb.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed.write_bytes(bytes(data))
    bad = minisign_verify(pubkey, signature, changed)
    assert bad.returncode != 0, "a changed package must not verify"


def test_a_hub_offers_the_published_desktop_build_to_older_apps(desktop_deb, tmp_path):
    """The build is published under its own version (its signature names it): an app one
    version older is offered it, an app at that version is told there is nothing newer."""
    version = re.search(r"Outpost_([0-9][^_]*)_", desktop_deb.name).group(1)
    major, minor, patch = (int(x) for x in version.split("."))
    older = f"{major}.{minor}.{patch - 1}" if patch else f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99.99"
    data = tmp_path / "hub"
    subprocess.run(
        [str(HUB), "--data-dir", str(data), "init", "--admin-email", "admin@example.org", "--password-stdin"],
        input="a long enough password\n", check=True, capture_output=True, text=True,
    )
    published = run(
        str(HUB), "--data-dir", str(data), "release", "add", "--target", "linux", "--arch", "x86_64",
        "--version", version, "--file", str(desktop_deb), "--signature", f"{desktop_deb}.sig",
        "--notes", "A newer build",
    )
    assert published.returncode == 0, published.stderr
    hub = subprocess.Popen(
        [str(HUB), "--data-dir", str(data), "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = hub.stdout.readline()
        url = re.search(r"https?://[0-9.:]+", line).group(0)
        answer = requests.get(f"{url}/v1/desktop/updates/linux/x86_64/{older}", timeout=10)
        assert answer.status_code == 200, answer.text
        offer = answer.json()
        assert offer["version"] == version
        assert offer["signature"] == Path(f"{desktop_deb}.sig").read_text().strip()
        download = requests.get(offer["url"], timeout=60)
        assert download.status_code == 200
        assert hashlib.sha256(download.content).digest() == hashlib.sha256(desktop_deb.read_bytes()).digest()
        newest = requests.get(f"{url}/v1/desktop/updates/linux/x86_64/{version}", timeout=10)
        assert newest.status_code == 204
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=30)
