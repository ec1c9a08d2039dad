"""Generate the Python code for the Protobuf schema in this directory.

    python proto/generate.py              # rewrite src/pigeon/protocol/pb/
    python proto/generate.py --out DIR    # write into DIR instead (the drift test uses this)

The generated module and its type stubs are checked in, so installing or running
Pigeon needs only the ``protobuf`` runtime. Generating needs the dev extras:
``grpcio-tools`` (which bundles ``protoc``) and ``mypy-protobuf`` (the stubs that
keep ``mypy --strict`` exact about every field).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = "pigeon/v1/pigeon.proto"
TARGET = HERE.parent / "src" / "pigeon" / "protocol" / "pb"
# protoc names its output after the schema's path; the package keeps only the files.
OUTPUTS = ("pigeon_pb2.py", "pigeon_pb2.pyi")


def _mypy_plugin() -> str:
    beside = Path(sys.executable).with_name("protoc-gen-mypy")
    found = str(beside) if beside.exists() else shutil.which("protoc-gen-mypy")
    if not found:
        raise SystemExit("protoc-gen-mypy not found: install the dev extras (mypy-protobuf)")
    return found


def generate(out: Path) -> list[Path]:
    """Write the generated files into ``out``; return their paths."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={HERE}",
            f"--python_out={scratch}",
            f"--plugin=protoc-gen-mypy={_mypy_plugin()}",
            f"--mypy_out={scratch}",
            SCHEMA,
        ]
        subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
        produced = Path(scratch) / Path(SCHEMA).parent
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in OUTPUTS:
            shutil.copyfile(produced / name, out / name)
            written.append(out / name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TARGET, help="directory to write into")
    for path in generate(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
