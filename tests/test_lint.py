"""The code base is clean under the project's ruff configuration (pyproject.toml, [tool.ruff]):
the linter (pycodestyle, pyflakes, bugbear, pyupgrade) and the formatter. Fix with
`ruff check --fix . && ruff format .`; .pre-commit-config.yaml runs both before each commit."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["seglib", "tests", "tools", "bench", "book/_ext", "conftest.py"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = shutil.which("ruff") or pytest.skip("ruff is not installed (pip install -r requirements.txt)")
    return subprocess.run([ruff, *args, *PATHS], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint_is_clean():
    proc = _ruff("check", "--no-cache", "--output-format", "concise")
    assert proc.returncode == 0, (
        f"ruff check found problems (fix: ruff check --fix .):\n{proc.stdout[-4000:]}{proc.stderr}"
    )


def test_ruff_format_is_clean():
    proc = _ruff("format", "--check", "--no-cache")
    assert proc.returncode == 0, (
        f"files ruff format would change (fix: ruff format .):\n{proc.stdout[-4000:]}{proc.stderr}"
    )


def test_ruff_is_pinned_where_ci_installs_it():
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    hook = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    version = next(line.split("==")[1].split()[0] for line in pins.splitlines() if line.startswith("ruff=="))
    assert f"rev: v{version}" in hook, "the pre-commit hook and requirements.txt pin the same ruff"
