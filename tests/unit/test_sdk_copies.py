"""The SDK's ES modules served to browsers and mini-programs are current copies of sdk/js/src."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def vendor_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sdk_vendor", ROOT / "sdk" / "js" / "vendor.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_served_sdk_copies_match_the_sources() -> None:
    assert vendor_script().stale() == [], "run `make vendor-sdk` and commit the copies"


def test_the_web_client_has_no_networking_of_its_own() -> None:
    web = ROOT / "src" / "pigeon" / "web" / "js"
    own = [p for p in web.rglob("*.js") if "sdk" not in p.relative_to(web).parts]
    for path in own:
        text = path.read_text()
        assert "new WebSocket" not in text, path
        assert "XMLHttpRequest" not in text, path
        assert "fetch(" not in text, path
