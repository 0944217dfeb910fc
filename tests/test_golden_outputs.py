"""What users see, as golden files: ``summary``, ``rf``, ``models`` and ``compare`` of a few models.

Each output is produced through the CLI's own entry point, ``netanatomy.cli.main.main(argv)``,
with standard output captured at a fixed width, and compared byte for byte with
``tests/golden/NAME``. A change in a printed table is then a diff to review; ``pytest
--update-golden`` rewrites the files after that review (torchinfo's habit). The numbers in the
files have their own oracles elsewhere (published counts, hand derivations, brute force); these
tests pin the presentation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netanatomy.cli.main import main

CONFTEST = Path(__file__).with_name("conftest.py")

# One case per printed command: (golden file, argv).
CASES: list[tuple[str, list[str]]] = [
    ("summary_vgg16.txt", ["summary", "vgg16"]),
    ("summary_resnet18_depth2.txt", ["summary", "resnet18", "--depth", "2"]),
    ("summary_char_lstm.txt", ["summary", "char_lstm"]),
    ("summary_spec_conv3-64x3.txt", ["summary", "conv3-64*3", "--input", "1x3x32x32"]),
    ("rf_resnet50_depth1.txt", ["rf", "resnet50", "--depth", "1"]),
    ("rf_spec_conv3-64x3.txt", ["rf", "conv3-64*3"]),
    ("models.txt", ["models"]),
    ("compare_resnet20_plain20_resnet56_nin.txt", ["compare", "resnet20", "plain20", "resnet56", "nin"]),
]


@pytest.fixture
def fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same terminal on every machine: 160 columns, no colour, no terminal detection."""
    # rich and shutil.get_terminal_size read COLUMNS/LINES; FORCE_COLOR or TTY_* would turn on
    # escape codes or interactive behaviour that differ between a developer's shell and CI.
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("LINES", "50")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[c[0].removesuffix(".txt") for c in CASES])
def test_printed_output_matches_golden(
    name: str, argv: list[str], fixed_terminal: None, capsys: pytest.CaptureFixture[str], golden
) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip(), "nothing printed"
    golden(name, out)


# --- the golden mechanism itself --------------------------------------------------------------------
# Run the project's real conftest in a throw-away pytest session (pytester), so the fixture's
# GOLDEN_DIR is the temporary directory: a mismatch and a missing file must fail, an identical
# text must pass, and --update-golden must rewrite the file.

_GOLDEN_USER = """
def test_against_golden(golden):
    golden("hello.txt", "hello, world\\n")
"""


@pytest.fixture
def golden_session(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_user=_GOLDEN_USER)
    (pytester.path / "golden").mkdir()
    return pytester


def test_golden_fixture_fails_on_a_mismatch(golden_session: pytest.Pytester) -> None:
    (golden_session.path / "golden" / "hello.txt").write_text("hello, moon\n", encoding="utf-8")
    result = golden_session.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output differs from golden/hello.txt*", "*-hello, moon*", "*+hello, world*"])
    # A failed comparison leaves the file alone.
    assert (golden_session.path / "golden" / "hello.txt").read_text(encoding="utf-8") == "hello, moon\n"


def test_golden_fixture_fails_when_the_file_is_missing(golden_session: pytest.Pytester) -> None:
    result = golden_session.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*golden file*hello.txt is missing*"])
    assert not (golden_session.path / "golden" / "hello.txt").exists()


def test_golden_fixture_passes_on_equal_text_and_rewrites_only_on_update(golden_session: pytest.Pytester) -> None:
    path = golden_session.path / "golden" / "hello.txt"
    path.write_text("hello, world\n", encoding="utf-8")
    golden_session.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    path.write_text("stale\n", encoding="utf-8")
    golden_session.runpytest("-p", "no:cacheprovider", "--update-golden").assert_outcomes(passed=1)
    assert path.read_text(encoding="utf-8") == "hello, world\n"
    golden_session.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
