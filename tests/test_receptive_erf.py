"""The effective receptive field against closed forms (Luo et al. 2016, §2.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from netanatomy.errors import UserError
from netanatomy.receptive.erf import _mass_radius, effective_receptive_field


def test_erf_of_stacked_box_filters_is_the_binomial_kernel():
    # Luo et al. §2.1: n stacked convs with all-ones 3-tap kernels and no non-linearity have an
    # input gradient equal to the n-fold convolution of [1, 1, 1] (outer product in 2-D),
    # whatever the input.
    n = 4
    model = nn.Sequential(*(nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(n)))
    for conv in model:
        nn.init.ones_(conv.weight)  # type: ignore[arg-type]
    res = effective_receptive_field(model, (1, 1, 21, 21), str(n - 1), samples=3)
    k = np.array([1.0])
    for _ in range(n):
        k = np.convolve(k, [1.0, 1.0, 1.0])
    expected = np.zeros((21, 21))
    expected[10 - n:10 + n + 1, 10 - n:10 + n + 1] = np.outer(k, k)
    np.testing.assert_allclose(res.grad_map, expected, rtol=1e-6)
    assert res.unit == (10, 10) and res.centre == (10.0, 10.0)
    assert res.radius_50 < res.radius_95 <= np.hypot(n, n)
    assert res.ratio_95 is not None and res.ratio_95 < 1  # the ERF is smaller than the TRF (2n+1 = 9)


def test_mass_radius_by_hand():
    m = np.zeros((5, 5))
    m[2, 2] = 1.0
    m[2, 4] = 1.0  # distance 2 from the centre
    assert _mass_radius(m, (2.0, 2.0), 0.5) == 0.0
    assert _mass_radius(m, (2.0, 2.0), 0.95) == 2.0


def test_erf_leaves_the_model_alone_and_checks_the_layer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    effective_receptive_field(model, (1, 1, 9, 9), "2", samples=2)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(UserError, match="not a feature map"):
        effective_receptive_field(model, (1, 1, 9, 9), "3", samples=2)
