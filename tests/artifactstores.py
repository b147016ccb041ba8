"""The artifact stores the contract suite runs on: moto's S3 server, Microsoft's Azurite blob
emulator (`Store`, through which a test reaches the files of its store behind the registry's
back, ships with the contract suite: registry_core.contract.stores)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from typing import Any

from registry_core.contract.stores import Store

__all__ = ["AzuriteServer", "S3Server", "Store", "azurite_command", "free_port"]


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
