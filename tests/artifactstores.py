"""The artifact stores the contract suite runs on: moto's S3 server, Microsoft's Azurite blob
emulator, and `Store`, through which a test reaches the files of its store behind the
registry's back."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    """moto's S3 server in this process (a thread), on 127.0.0.1 and a free port."""

    KEY, SECRET = "rc-test-key-id", "rc-test-Secret-9f3a"

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def options(self) -> dict[str, Any]:
        """storage_options as a user passes them for an S3-compatible endpoint."""
        return {
            "key": self.KEY,
            "secret": self.SECRET,
            "client_kwargs": {"endpoint_url": self.endpoint},
        }

    def env(self) -> dict[str, str]:
        """The same, as environment variables (what the CLI and boto-based tools read)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


#: where to find Azurite's blob server: $REGISTRY_TEST_AZURITE, else `azurite-blob` on PATH
AZURITE_ENV = "REGISTRY_TEST_AZURITE"


def azurite_command() -> str | None:
    return os.environ.get(AZURITE_ENV) or shutil.which("azurite-blob")


class AzuriteServer:
    """Azurite's blob service (a Node.js process) on 127.0.0.1 and a free port, in memory,
    with its well-known development account (a public key, documented by Microsoft)."""

    ACCOUNT = "devstoreaccount1"
    KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def __init__(self, command: str) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [
                command,
                *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
                *("--inMemoryPersistence", "--skipApiVersionCheck", "--silent"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={self.ACCOUNT};AccountKey={self.KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{self.ACCOUNT};"
        )
        deadline = time.monotonic() + 120  # Node starts slowly on a busy machine
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"Azurite ({command}) did not start") from None
                time.sleep(0.2)

    def options(self) -> dict[str, Any]:
        return {"connection_string": self.connection_string}

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Store:
    """The test's artifact store: what `connect` gets (`artifacts`, `storage_options`), and
    the raw files behind the registry's back (by path relative to the store's root), the way
    a test tampers with them. The same calls work on every kind of store."""

    kind: str
    artifacts: str
    storage_options: dict[str, Any] | None
    fs: Any
    root: str

    def _key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def read(self, relative: str) -> bytes:
        data: bytes = self.fs.cat_file(self._key(relative))
        return data

    def write(self, relative: str, data: bytes) -> None:
        if self.kind == "local":
            Path(self._key(relative)).parent.mkdir(parents=True, exist_ok=True)
        self.fs.pipe_file(self._key(relative), data)

    def remove(self, relative: str) -> None:
        self.fs.rm_file(self._key(relative))

    def exists(self, relative: str) -> bool:
        return bool(self.fs.isfile(self._key(relative)))

    def files(self) -> set[str]:
        """Every file under models/ and .staging/, relative to the root."""
        found: set[str] = set()
        for top in ("models", ".staging"):
            try:
                listing = self.fs.find(self._key(top))
            except FileNotFoundError:
                continue
            found |= {str(p)[len(self.root) + 1 :] for p in listing}
        return found
