"""The checks `make lint` runs beside ruff and mypy hold, and fail when broken: the import contracts (import-linter,
pyproject.toml) and the size check (infra/check_size.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra import check_size

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("write_api", "projector", "search_api", "shared")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# Import lines that each break one contract, added to a copy of the tree.
BREAKS = {
    "pure-domain": ("write_api/domain/products.py", "import asyncpg"),
    "services-apart": ("search_api/cursor.py", "import write_api.service_layer"),
    "search-apart": ("search_api/paging.py", "import projector.elastic"),
    "shared-below": ("shared/logging.py", "import search_api.settings"),
    "routes-no-store": ("write_api/routes/orders.py", "from write_api.event_store import records"),
}
# projector.rebuild and projector.verify still import the write side (the read pipeline's rewrite removes that),
# so "services-apart" is checked on a broken copy only.
KEPT_TODAY = [contract for contract in BREAKS if contract != "services-apart"]


def tree_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    options = [option for contract in contracts for option in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *options],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_are_kept(tmp_path: Path) -> None:
    result = lint_imports(tree_copy(tmp_path), *KEPT_TODAY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(KEPT_TODAY)} kept, 0 broken." in result.stdout


def test_each_import_contract_fails_when_broken(tmp_path: Path) -> None:
    root = tree_copy(tmp_path)
    for path, line in BREAKS.values():
        module = root / path
        module.write_text(module.read_text() + f"\n{line}  # broken on purpose\n")
    result = lint_imports(root, *BREAKS)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Contracts: 0 kept, {len(BREAKS)} broken." in result.stdout, result.stdout
    for contract, (path, line) in BREAKS.items():
        importer = path.removesuffix(".py").replace("/", ".")
        imported = line.split()[1]
        assert f"{importer} -> {imported}" in result.stdout, (contract, result.stdout)


def test_the_production_code_is_within_the_size_limits() -> None:
    assert check_size.check(ROOT, check_size.ALLOWLIST) == []


def test_the_size_check_finds_long_modules_and_functions_and_stale_exceptions(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    body = "\n".join(f"    x{n} = {n}" for n in range(60))
    (tmp_path / "write_api" / "long_function.py").write_text(f"async def handle():\n{body}\n")  # 61 lines
    (tmp_path / "shared" / "fits.py").write_text(f"def fits():\n{body[: body.rindex(chr(10))]}\n")  # 60 lines
    (tmp_path / "projector" / "long_module.py").write_text("x = 1\n" * 301)
    method_body = body.replace("    x", "        x")
    (tmp_path / "search_api" / "method.py").write_text(f"class A:\n    @staticmethod\n    def m():\n{method_body}\n")
    allowlist = tmp_path / "allow.txt"
    assert check_size.check(tmp_path, allowlist) == [
        "write_api/long_function.py::handle: over 60 lines",
        "projector/long_module.py: over 300 lines",
        "search_api/method.py::A.m: over 60 lines",
    ]
    allowlist.write_text("projector/long_module.py  # being rewritten\nwrite_api/gone.py\n")
    assert check_size.check(tmp_path, allowlist) == [
        "write_api/long_function.py::handle: over 60 lines",
        "search_api/method.py::A.m: over 60 lines",
        "write_api/gone.py: within the limits now, remove it from allow.txt",
    ]
