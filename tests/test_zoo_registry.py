"""The registry as data: one table per family file, builders registered under their own names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

# Imported before anything asks the registry, on purpose: the lecture order must not follow the
# order in which modules happen to be imported (the char-LM imports charrnn before any CNN).
import netanatomy.zoo.charrnn  # noqa: F401
from netanatomy.errors import UnknownNameError
from netanatomy.zoo import (
    ModelCard,
    Paper,
    create_model,
    get_model_info,
    list_families,
    list_models,
    model_table,
    register_model,
)

ROOT = Path(__file__).resolve().parents[1]

# The order the registry promises (`netanatomy models` follows the lectures: Lecture 9's CNNs in
# historical order, then Lecture 10's char models).
LECTURE_FAMILIES = ["alexnet", "vgg", "nin", "googlenet", "resnet", "cifar_resnet", "densenet", "squeezenet", "charrnn"]


def test_families_and_models_in_lecture_order() -> None:
    assert list_families() == LECTURE_FAMILIES
    names = list_models()
    assert names[:2] == ["alexnet", "zfnet"] and names[-3:] == ["char_rnn", "char_lstm", "char_gru"]
    ranks = [LECTURE_FAMILIES.index(get_model_info(n).family) for n in names]
    assert ranks == sorted(ranks)
    assert len(names) == len(set(names)) == 36


@pytest.mark.parametrize("name", list_models())
def test_each_model_is_registered_under_its_builders_own_name(name: str) -> None:
    info = get_model_info(name)
    assert info.name == name == info.builder.__name__
    # Its row is in the table of the file that defines the builder.
    family_module = sys.modules[info.builder.__module__]
    assert family_module.__name__.startswith("netanatomy.zoo.") and name in family_module.MODELS
    # The paper as data: authors, a year, a title, and the one-line form the CLI prints.
    paper = info.reference
    assert isinstance(paper, Paper) and paper.authors and paper.title and 1980 < paper.year < 2030
    assert info.paper == f"{paper.authors} {paper.year}, {paper.title}"
    assert paper.citation == f"{paper.authors} {paper.year}"
    assert info.description and len(info.input_size) == (4 if info.spatial else 2)


def test_model_papers_where_a_family_has_several() -> None:
    assert get_model_info("zfnet").reference == Paper("Zeiler & Fergus", 2013, "Visualizing and Understanding Convolutional Networks")
    assert get_model_info("wide_resnet50_2").reference.citation == "Zagoruyko & Komodakis 2016"
    assert get_model_info("resnext50_32x4d").reference.year == 2017
    assert get_model_info("resnet50").reference.citation == "He, Zhang, Ren & Sun 2016"
    assert get_model_info("char_gru").reference.citation == "Cho et al. 2014"


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownNameError, match="resnet20"):
        get_model_info("resnet2O")
    with pytest.raises(UnknownNameError):
        create_model("no_such_net")


def test_a_name_cannot_be_registered_twice() -> None:
    def alexnet() -> None:  # same name as the zoo's
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="registered twice"):
        register_model(alexnet)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="two tables"):
        model_table("other", input_size=(1, 3, 8, 8), paper=Paper("A", 2000, "B"), models={"alexnet": ModelCard("again")})
    with pytest.raises(ValueError, match="no paper"):
        model_table("other", input_size=(1, 3, 8, 8), models={"paperless_net": ModelCard("no paper anywhere")})


def test_a_row_without_a_builder_stops_the_zoo_from_loading() -> None:
    # In a fresh interpreter, so this process's registry stays whole.
    code = ("from netanatomy.zoo import ModelCard, Paper, list_models, model_table\n"
            "model_table('ghost', input_size=(1, 3, 8, 8), paper=Paper('A', 2000, 'B'), models={'ghost_net': ModelCard('x')})\n"
            "list_models()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "rows without a builder ['ghost_net']" in done.stderr


def _private_zoo_uses(path: Path) -> list[str]:
    """Private names of netanatomy.zoo (``_X``) that ``path`` imports or reads as an attribute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    zoo_aliases = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("netanatomy.zoo"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            zoo_aliases |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            zoo_aliases |= {a.asname or a.name for a in node.names if a.name.startswith("netanatomy.zoo")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = ast.unparse(node.value)
            if base in zoo_aliases or base.startswith("netanatomy.zoo"):
                found.append(f"{base}.{node.attr}")
    return found


def test_nothing_outside_the_zoo_touches_its_private_names() -> None:
    files = [p for p in [*(ROOT / "netanatomy").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
             if (ROOT / "netanatomy" / "zoo") not in p.parents]
    assert len(files) > 20
    offenders = {str(p.relative_to(ROOT)): uses for p in files if (uses := _private_zoo_uses(p))}
    assert offenders == {}
