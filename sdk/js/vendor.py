"""Copy the SDK's ES modules to where they are served without a build step.

The web client (served from src/pigeon/web at /static/) gets the browser entry, the
mini-program example gets the WeChat entry: mini-programs and static file servers
cannot reach outside their own directory. The copies are byte-identical to the
sources; `python sdk/js/vendor.py --check` (and a unit test) says whether they are
current. `make vendor-sdk` refreshes them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "sdk" / "js" / "src"

# target directory -> the SDK files it needs (paths relative to sdk/js/src)
COPIES: dict[str, tuple[str, ...]] = {
    "src/pigeon/web/js/sdk": ("index.js", "browser.js", "core/*.js", "adapters/browser.js"),
    "examples/miniprogram/sdk": ("index.js", "wechat.js", "core/*.js", "adapters/wechat.js"),
}


def wanted(patterns: tuple[str, ...]) -> dict[str, bytes]:
    """Relative path -> content of every source file a target needs."""
    out: dict[str, bytes] = {}
    for pattern in patterns:
        for path in sorted(SOURCE.glob(pattern)):
            out[path.relative_to(SOURCE).as_posix()] = path.read_bytes()
    return out


def present(target: Path) -> dict[str, bytes]:
    if not target.exists():
        return {}
    return {
        p.relative_to(target).as_posix(): p.read_bytes()
        for p in sorted(target.rglob("*.js"))
        if p.is_file()
    }


def stale() -> list[str]:
    """Targets whose copy differs from the sources (missing, changed or extra files)."""
    return [name for name, patterns in COPIES.items() if present(ROOT / name) != wanted(patterns)]


def copy() -> None:
    for name, patterns in COPIES.items():
        target = ROOT / name
        shutil.rmtree(target, ignore_errors=True)
        for relative, content in wanted(patterns).items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        outdated = stale()
        if outdated:
            print("SDK copies out of date (run `make vendor-sdk`):", ", ".join(outdated))
            sys.exit(1)
        sys.exit(0)
    copy()
