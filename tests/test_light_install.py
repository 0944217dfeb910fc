"""The light install: netanatomy with its core dependencies alone (torch, numpy, rich).

The environment is ``.venv-core``, which ``scripts/test.sh`` builds with
``bash scripts/venv.sh core -r requirements/torch-cpu.txt -e .``; when it is missing, this test builds
the same in a temporary directory (about a minute: torch comes from the local disk).
The oracle of each analyzer command is the same command in the full environment: the light install
must print exactly what the full one prints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from netanatomy.cli.main import main
from netanatomy.errors import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def core_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = ROOT / ".venv-core" / "bin" / "python"
    if (ROOT / ".venv-core" / ".netanatomy-installed").is_file():
        return python
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", str(ROOT / "requirements" / "torch-cpu.txt"), "-e", str(ROOT)], check=True)
    return venv / "bin" / "python"


def _cli(python: Path | str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "netanatomy", *argv], capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONPATH": str(ROOT)})


def test_core_environment_has_no_extra(core_python: Path) -> None:
    modules = sorted({m for ms in EXTRAS.values() for m in ms})
    code = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    found = subprocess.run([str(core_python), "-c", code, *modules], capture_output=True, text=True, check=True)
    assert found.stdout.split() == []


@pytest.mark.parametrize("argv", [
    ["summary", "resnet20", "--depth", "2"],
    ["rf", "vgg16"],
    ["models"],
    ["compare", "resnet20", "plain20"],
], ids=lambda a: a[0])
def test_analyzer_commands_print_what_the_full_install_prints(
    core_python: Path, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    light = _cli(core_python, *argv)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(argv) == 0  # the same command here, in the full environment
    assert (light.returncode, light.stderr) == (0, "")
    assert light.stdout == capsys.readouterr().out and light.stdout


def test_train_says_which_extra_to_install(core_python: Path) -> None:
    out = _cli(core_python, "train", "resnet20", "--dataset", "synthetic", "--epochs", "1")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "pip install 'netanatomy[train]'" in out.stderr


def test_every_extra_is_known_to_the_errors_table_and_in_all() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) - {"test", "all"} == set(EXTRAS)
    assert extras["all"] == [f"netanatomy[{e}]" for e in EXTRAS]
