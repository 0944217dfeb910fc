"""``netanatomy explain`` end to end: listing, formats, languages, the catalogues, one-line errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from netanatomy.cli.main import main
from netanatomy.explain.messages import catalogue, languages, placeholders
from netanatomy.explain.topics import TOPICS


def test_catalogues_share_keys_and_placeholders():
    assert languages()[:2] == ("en", "ko")
    en = catalogue("en")
    for lang in languages():
        other = catalogue(lang)
        assert set(other) == set(en), f"{lang}: keys differ: {sorted(set(other) ^ set(en))}"
        for key, template in en.items():
            assert placeholders(other[key]) == placeholders(template), f"{lang}: {key}"
    for t in TOPICS:
        assert placeholders(en[f"{t.name}.question"]) == set()  # the list prints questions without an answer


# Digits a template may hold: names of kernels and notation, never a figure of the answer.
_NOTATION = re.compile(r"[knt][−-]1|\d×\d(×)?|VGG16|2016|Fig\. 6|\[0, 1\)|t = 1|h_0 = 0|T [<>] 1|2 × MACs|h_t|conv3|"
                       r"정확히 0|Conv2d|분의 1|전부 1|(?:is|are|to|returns) 0|exactly 0|항은 0|을 0|를 0|0으로|0을")


def test_no_figure_is_typed_into_a_template():
    for lang in languages():
        for key, template in catalogue(lang).items():
            if key.startswith("report."):
                continue  # the HTML page's labels (citations, an example budget); its figures come from the JSON
            body = _NOTATION.sub("", re.sub(r"\{[A-Za-z0-9_.]+\}", "", template))
            assert not re.search(r"\d", body), f"{lang} {key}: {body!r}"


def test_korean_uses_one_style_and_the_notes_terms():
    ko = catalogue("ko")
    paragraphs = [v for k, v in ko.items() if not k.startswith(("h.", "kind.")) and not k.endswith(".question") and k != "more"]
    for text in paragraphs:
        # The plain '-다' style throughout: no polite '-습니다/-요' endings.
        assert not re.search(r"(습니다|ㅂ니다|세요|에요|해요)[.!]", text), text
    joined = " ".join(ko.values())
    for term in ("수용 영역(receptive field)", "특징 맵(feature map)", "합성곱(convolution)", "필터(filter)",
                 "파라미터(parameter)", "병목(bottleneck)", "잔차(residual)", "전역 평균 풀링(global average pooling)",
                 "은닉 상태(hidden state)"):
        assert term in joined


def test_list_topics(capsys):
    assert main(["explain", "--lang", "ko"]) == 0
    out = capsys.readouterr().out
    for t in TOPICS:
        assert t.name in out
    assert "수용 영역(receptive field)" in out


def test_language_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "ko_KR.UTF-8")
    assert main(["explain", "sampling"]) == 0
    assert "소프트맥스(softmax)" in capsys.readouterr().out
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert main(["explain", "sampling"]) == 0
    assert "softmax turns the scores" in capsys.readouterr().out


def test_json_numbers_with_names(capsys, tmp_path):
    out = tmp_path / "answer.json"
    assert main(["explain", "params", "resnet50", "--layer", "layer1.0.conv2", "--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["schema_version"], data["kind"], data["topic"]) == (1, "explain", "params")
    assert data["numbers"]["total"] == 3 * 3 * 64 * 64 and data["numbers"]["biases"] == 0
    assert data["names"]["layer"] == "layer1.0.conv2"
    assert data["more"] == "netanatomy summary resnet50 --columns output,params,formula,macs"


def test_same_numbers_in_json_for_both_languages(capsys):
    got = {}
    for lang in ("en", "ko"):
        assert main(["explain", "conv1x1", "--format", "json", "--lang", lang]) == 0
        got[lang] = json.loads(capsys.readouterr().out)
    assert got["en"]["numbers"] == got["ko"]["numbers"]
    assert got["en"]["question"] != got["ko"]["question"]


def test_markdown_output(capsys):
    from markdown_it import MarkdownIt

    assert main(["explain", "receptive-field", "--format", "md", "--lang", "ko"]) == 0
    text = capsys.readouterr().out
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    assert tokens[0].type == "heading_open" and any(t.type == "table_open" for t in tokens)
    assert "```text" in text and "`netanatomy rf 'conv3-64*3' --input 1x64x32x32`" in text


def test_topic_options(capsys):
    assert main(["explain", "receptive-field", "--kernel", "5", "--layers", "2", "--format", "json"]) == 0
    n = json.loads(capsys.readouterr().out)["numbers"]
    assert (n["r1"], n["r2"], n["field"]) == (5, 9, 9)  # 1 + 4, then 5 + 4


@pytest.mark.parametrize(("argv", "needle"), [
    (["explain", "recptive-field"], "receptive-field"),  # unknown topic: the near one
    (["explain", "gap", "vgg16"], "no global average pooling"),  # a property the model lacks
    (["explain", "params", "vgg16", "--layer", "clasifier.0"], "Did you mean classifier.0"),  # unknown layer: near names
    (["explain", "params", "--lang", "fr"], "Languages: en, ko"),  # unknown language
    (["explain", "bottleneck", "vgg16"], "takes no MODEL"),
    (["explain", "sampling", "--kernel", "3"], "no option --kernel"),
    (["explain", "receptive-field", "char_lstm"], "spatial"),
    (["explain", "residual", "--report", "/nonexistent/degradation.md"], "no degradation report"),
    (["explain", "sampling", "--scores", "h=1"], "two different characters"),
    (["explain", "markov", "--checkpoint", "/nonexistent/run"], "no checkpoint"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("netanatomy: error: ") and needle in err, err


def test_a_third_language_is_a_new_catalogue_module(tmp_path, monkeypatch, capsys):
    """No code changes: a module ``xx.py`` with the same keys next to the others is a new language."""
    import netanatomy.explain.messages as messages

    en = Path(messages.__file__).with_name("en.py").read_text(encoding="utf-8")
    (tmp_path / "xx.py").write_text(en.replace('"more": "More:"', '"more": "XX-MORE:"'), encoding="utf-8")
    monkeypatch.setattr(messages, "__path__", [*messages.__path__, str(tmp_path)])
    messages.catalogue.cache_clear()
    try:
        assert "xx" in messages.languages()
        assert main(["explain", "sampling", "--lang", "xx"]) == 0
        assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("XX-MORE: netanatomy")
    finally:
        messages.catalogue.cache_clear()
        sys.modules.pop("netanatomy.explain.messages.xx", None)
