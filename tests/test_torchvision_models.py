"""The ``torchvision:NAME`` path against torchvision's own published figures.

Oracles: the ``num_params`` and ``_ops`` (GFLOPS, which count multiply-accumulates) that torchvision
publishes in each weights enum's ``meta`` (read from the enum, nothing downloaded), and the unique
parameter numel of the same model built by torchvision without weights.

torchvision is not a dependency: ``scripts/test.sh`` runs this file in the second torch environment
(``.venv-torch-next``, torch 2.14.1 + torchvision 0.29.1) with ``NETANATOMY_REQUIRE_TORCHVISION=1``, which
turns a missing torchvision into a failure there instead of a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

try:
    from torchvision import models as tvm
except ImportError:
    if os.environ.get("NETANATOMY_REQUIRE_TORCHVISION"):
        raise
    pytest.skip("torchvision is not installed here; scripts/test.sh runs this file in .venv-torch-next",
                allow_module_level=True)

from netanatomy.analysis.loading import resolve_model
from netanatomy.analysis.summary import summary

# (torchvision name, the weights whose meta is the oracle, builder arguments those weights imply,
#  the input side of the weights' evaluation transform)
CASES = [
    ("alexnet", "IMAGENET1K_V1", {}, 224),
    ("vgg16", "IMAGENET1K_V1", {}, 224),
    ("resnet50", "IMAGENET1K_V2", {}, 224),
    ("googlenet", "IMAGENET1K_V1", {"aux_logits": False}, 224),  # the published net drops its aux heads
    ("inception_v3", "IMAGENET1K_V1", {}, 299),  # ... Inception v3 keeps them
    ("densenet121", "IMAGENET1K_V1", {}, 224),
    ("squeezenet1_1", "IMAGENET1K_V1", {}, 224),
    ("resnext50_32x4d", "IMAGENET1K_V1", {}, 224),
    ("mobilenet_v3_large", "IMAGENET1K_V1", {}, 224),
    ("efficientnet_b0", "IMAGENET1K_V1", {}, 224),
    ("shufflenet_v2_x1_0", "IMAGENET1K_V1", {}, 224),
    ("convnext_tiny", "IMAGENET1K_V1", {}, 224),
    ("vit_b_16", "IMAGENET1K_V1", {}, 224),
    ("swin_t", "IMAGENET1K_V1", {}, 224),
]


@pytest.mark.parametrize(("name", "weights", "kwargs", "side"), CASES, ids=[c[0] for c in CASES])
def test_params_and_macs_match_torchvision_meta(name: str, weights: str, kwargs: dict[str, object], side: int) -> None:
    meta = tvm.get_model_weights(name)[weights].meta
    resolved = resolve_model(f"torchvision:{name}", [(1, 3, side, side)], dict(kwargs))
    s = summary(resolved.model, resolved.input_sizes)
    assert s.totals.params == meta["num_params"]
    assert round(s.totals.macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-3)
    with torch.device("meta"):  # the architecture alone, no weights allocated
        unique_numel = sum(p.numel() for p in tvm.get_model(name, weights=None, **kwargs).parameters())
    assert s.totals.params == unique_numel


def test_default_build_keeps_the_auxiliary_heads() -> None:
    # GoogLeNet built without weights has aux_logits=True: the published count plus both aux heads
    s = summary(resolve_model("torchvision:googlenet").model, (1, 3, 224, 224))
    with_aux = sum(p.numel() for p in tvm.get_model("googlenet", weights=None, init_weights=False).parameters())
    assert s.totals.params == with_aux > tvm.GoogLeNet_Weights.IMAGENET1K_V1.meta["num_params"]


def test_cli_prints_the_published_count() -> None:
    out = subprocess.run([sys.executable, "-m", "netanatomy", "summary", "torchvision:squeezenet1_1", "--depth", "1"],
                         capture_output=True, text=True, check=True).stdout
    published = tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["num_params"]
    assert f"Parameters {published:,} (".replace(" ", "") in out.replace(" ", "")


def test_unknown_torchvision_name_is_a_user_error() -> None:
    from netanatomy.errors import UserError

    with pytest.raises(UserError, match="torchvision has no model 'resnet5'"):
        resolve_model("torchvision:resnet5")


def test_a_builder_that_reads_values_is_refused_on_meta_and_materialized_on_request(
        capsys: pytest.CaptureFixture[str]) -> None:
    """RegNet's builder calls ``.tolist()`` on tensors: on meta that is a one-line user error pointing
    to --materialize; with it, the real build gives torchvision's published figures."""
    from netanatomy.cli.main import main

    assert main(["summary", "torchvision:regnet_y_400mf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be built on the meta device" in err and "--materialize" in err
    assert main(["summary", "torchvision:regnet_y_400mf", "--materialize", "--format", "json"]) == 0
    import json

    totals = json.loads(capsys.readouterr().out)["totals"]
    meta = tvm.get_model_weights("regnet_y_400mf")["IMAGENET1K_V1"].meta
    assert totals["params"] == meta["num_params"]
    assert round(totals["macs"] / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-3)
