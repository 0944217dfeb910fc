"""``transformers:CLASS`` models, built from their config classes' defaults on meta (no download).

Oracles: the model's own ``num_parameters()`` and the published counts (BERT-base 109,482,240 with
its pooler; GPT-2 124,439,808, its LM head tied to the token embedding); MACs against
``FlopCounterMode`` on a real forward of the same small configuration on the CPU.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from netanatomy.analysis.loading import resolve_model
from netanatomy.analysis.summary import summary
from netanatomy.cli.main import main

transformers = pytest.importorskip("transformers")  # the optional extra netanatomy[hf]


@pytest.mark.parametrize(("cls", "published"), [("BertModel", 109_482_240), ("GPT2LMHeadModel", 124_439_808)])
def test_default_configs_on_meta_count_like_the_model_itself(cls: str, published: int) -> None:
    resolved = resolve_model(f"transformers:{cls}", seq_len=8)
    assert next(resolved.model.parameters()).device.type == "meta"
    s = summary(resolved.model, resolved.input_sizes, input_dtypes=resolved.input_dtypes, receptive_fields=False)
    assert resolved.input_sizes == [(1, 8)] and s.input_dtypes == ["int64"]
    assert s.total_params == resolved.model.num_parameters() == published


SMALL = {
    "BertModel": ("BertConfig", {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
                                 "intermediate_size": 128, "vocab_size": 500}),
    "GPT2LMHeadModel": ("GPT2Config", {"n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 500}),
    "LlamaForCausalLM": ("LlamaConfig", {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
                                         "num_key_value_heads": 2, "intermediate_size": 160, "vocab_size": 500}),
}


@pytest.mark.parametrize("cls", list(SMALL))
def test_cli_small_configs_against_a_real_forward(cls: str, capsys: pytest.CaptureFixture[str]) -> None:
    config_name, fields = SMALL[cls]
    argv = ["summary", f"transformers:{cls}", "--seq-len", "12", "-f", "json"]
    for k, v in fields.items():
        argv += ["-a", f"{k}={v}"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    torch.manual_seed(0)
    # The oracle runs attention as explicit matmuls ("eager"): FlopCounterMode has no formula for
    # the fused CPU attention kernel that the default ("sdpa") calls on real tensors.
    config = getattr(transformers, config_name)(**fields, attn_implementation="eager")
    model: Any = getattr(transformers, cls)(config).eval()
    assert model.config._attn_implementation == "eager"
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randint(0, 500, (1, 12)))
    assert data["input_sizes"] == [[1, 12]]
    assert data["totals"]["params"] == model.num_parameters()
    assert data["totals"]["macs"] * 2 == counter.get_total_flops()


def test_config_field_typo_and_missing_class(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "transformers:BertModel", "-a", "num_hiden_layers=2"]) == 2
    err = capsys.readouterr().err
    assert "BertConfig has no field 'num_hiden_layers'" in err and "num_hidden_layers" in err
    assert main(["summary", "transformers:BertModl"]) == 2
    assert "Did you mean BertModel" in capsys.readouterr().err
