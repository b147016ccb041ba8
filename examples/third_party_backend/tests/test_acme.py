"""acme's own tests, beside the contract suite (run with `pytest --pyargs
registry_core.contract --registry-url 'acme:///{tmp}/registry.db'`)."""

from __future__ import annotations

from pathlib import Path

from acme_registry import AcmeMetadataBackend

import registry_core


def test_an_acme_url_opens_an_acme_backend(tmp_path: Path) -> None:
    with registry_core.connect(f"acme:///{tmp_path}/r.db", artifacts=tmp_path / "a") as reg:
        assert isinstance(reg.backend, AcmeMetadataBackend)
        assert reg.save_model({"w": 1}, "m").version == "1"
    assert (tmp_path / "r.db").is_file()
