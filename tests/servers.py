"""Real servers for the tests, started on 127.0.0.1 by the tests themselves.

``scripts/test`` installs the Debian packages; a missing server fails its tests (it never
skips them), with the package to install named.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def need(program: str, package: str) -> str:
    for candidate in (shutil.which(program), f"/usr/sbin/{program}", f"/usr/bin/{program}"):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(f"{program} is missing: install the Debian package {package} "
                "(./scripts/test does it when run as root)")


class Mosquitto:
    """A private broker; ``stop``/``start`` simulate an outage on the same port."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None,
                 extra: str = "") -> None:
        self.binary = need("mosquitto", "mosquitto")
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        access = "allow_anonymous true\n"
        if users:
            passwords = directory / "passwords"
            passwords.write_text("".join(f"{user}:{secret}\n" for user, secret in users.items()))
            passwords.chmod(0o600)
            subprocess.run([need("mosquitto_passwd", "mosquitto"), "-U", str(passwords)],
                           check=True, capture_output=True)
            access = f"allow_anonymous false\npassword_file {passwords}\n"
        # as root, mosquitto would switch to its own user, who can neither read the test's
        # private directory nor write its persistence there (a restart would lose everything)
        access += "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n{access}"
            f"persistence true\npersistence_location {directory}/\n"
            "autosave_interval 1\n" + extra)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Influx:
    """InfluxDB 1.x (Debian's influxdb) with its data in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.binary = need("influxd", "influxdb")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = directory / "influxdb.conf"
        config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{directory}/meta"\n'
            f'[data]\n  dir = "{directory}/data"\n  wal-dir = "{directory}/wal"\n'
            '  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n')
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-config", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None

    def query(self, database: str, statement: str) -> dict[str, object]:
        import json
        import urllib.parse
        import urllib.request

        url = f"{self.url}/query?" + urllib.parse.urlencode({"db": database, "q": statement,
                                                             "epoch": "ms"})
        with urllib.request.urlopen(url, timeout=10) as response:
            return dict(json.loads(response.read()))


class Postgres:
    """A private PostgreSQL cluster (Debian's postgresql), run as the postgres user."""

    def __init__(self) -> None:
        import glob
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            pytest.fail("PostgreSQL is missing: install the Debian package postgresql "
                        "(./scripts/test does it when run as root)")
        self.bin = Path(bins[-1])
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="smartmeter-pg-"))
        shutil.chown(self.directory, "postgres", "postgres")
        self.data = self.directory / "data"
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8"])

    def _as_postgres(self, command: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                           str(self.directory / "log"), "-o",
                           f"-h 127.0.0.1 -p {self.port} -k {self.directory}", "start"])
        wait_listening(self.port)

    def stop(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                           "-w", "stop"])

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
