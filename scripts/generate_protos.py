"""Generate Python modules and typed stubs for every .proto under protos/.

Generated files sit beside their .proto so that `protos.crm.<service>.v1`
mirrors the proto package. Run with --out DIR to write elsewhere (the
freshness test compares such a copy with what is committed).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent


def proto_files() -> list[Path]:
    """Every .proto file of the tree, relative to the repository root."""
    return sorted(p.relative_to(ROOT) for p in (ROOT / "protos").rglob("*.proto"))


def generate(out: Path) -> None:
    """Run protoc over every proto file, writing into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        *_plugins(),
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *[str(p) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for package in {p.parent for p in proto_files()} | {Path("protos")}:
        for level in [package, *package.parents]:
            if level != Path("."):
                (out / level / "__init__.py").touch()


def _plugins() -> list[str]:
    """mypy-protobuf's plugins, found beside this interpreter even when no venv is active."""
    scripts = Path(sys.executable).parent
    return [
        f"--plugin={name}={scripts / name}"
        for name in ("protoc-gen-mypy", "protoc-gen-mypy_grpc")
        if (scripts / name).exists()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
