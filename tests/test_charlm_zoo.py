"""The char models in the zoo: registry, meta device, forward with the index tensor alone."""

from __future__ import annotations

import pytest
import torch

from netanatomy.zoo.registry import create_model, get_model_info, list_models

NAMES = ("char_rnn", "char_lstm", "char_gru")
# Gates per cell: torch stacks them in weight_ih/weight_hh (LSTM i,f,g,o; GRU r,z,n).
GATES = {"char_rnn": 1, "char_lstm": 4, "char_gru": 3}


def test_registered_in_family() -> None:
    assert set(NAMES) <= set(list_models(family="charrnn"))
    for name in NAMES:
        info = get_model_info(name)
        assert info.input_size == (1, 100) and info.input_dtype == torch.int64 and not info.spatial


@pytest.mark.parametrize("name", NAMES)
def test_meta_build_and_forward(name: str) -> None:
    model = create_model(name, device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    logits, _ = model(torch.zeros(1, 100, dtype=torch.int64, device="meta"))
    assert logits.shape == (1, 100, 65)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("embedding_dim", [0, 16])
def test_parameter_count_by_hand(name: str, embedding_dim: int) -> None:
    V, Hs, L = 30, 24, 2
    model = create_model(name, vocab_size=V, hidden_size=Hs, num_layers=L, embedding_dim=embedding_dim)
    g = GATES[name]
    inp = embedding_dim or V  # one-hot input: x_t has V entries and no parameters
    # Per layer and gate: W_ih (H x in) + W_hh (H x H) + two biases (torch keeps b_ih and b_hh).
    rnn = g * (Hs * inp + Hs * Hs + 2 * Hs) + (L - 1) * g * (Hs * Hs + Hs * Hs + 2 * Hs)
    expected = rnn + Hs * V + V + (V * embedding_dim if embedding_dim else 0)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("name", NAMES)
def test_hidden_state_is_carried(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, vocab_size=10, hidden_size=8).eval()
    idx = torch.randint(0, 10, (2, 12))
    full, _ = model(idx)
    first, h = model(idx[:, :5])
    second, _ = model(idx[:, 5:], h)
    torch.testing.assert_close(torch.cat([first, second], 1), full)


def test_unknown_keyword_is_a_user_error() -> None:
    from netanatomy.errors import UserError

    with pytest.raises(UserError):
        create_model("char_lstm", kernel_size=3)
