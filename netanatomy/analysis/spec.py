"""A one-line spec of a sequential 2-D stack, parsed (never evaluated) into an ``nn.Sequential``.

Grammar (items separated by commas; ``*N`` repeats an item N times)::

    64          VGG-style: 3x3 conv, stride 1, padding 1, 64 output channels, then ReLU
    M           VGG-style: 2x2 max pool, stride 2
    conv3-64    3x3 conv to 64 channels (no activation); options after the kernel size:
                /S stride, pP padding, dD dilation, gG groups; e.g. conv7/2p3-64, conv3d2-64,
                conv1x7-32 (1x7 kernel). Default padding keeps the size at stride 1: d·(k-1)/2
    pool3/2     max pool 3x3, stride 2 (default stride = kernel), pP padding, c = ceil_mode
    avg2        average pool 2x2
    gap         global average pooling (output 1x1)
    relu | bn | dropout | flatten
    fc-4096     fully connected to 4096 (flattens first when needed)

Examples: ``conv3-64*3`` (three 3x3 stride-1 convs), ``64,64,M,128,128,M`` (VGG's first stages),
``conv7/2p3-64,bn,relu,pool3/2p1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from netanatomy.capture.limits import MAX_SPEC_LAYERS, MAX_SPEC_NUMBER
from netanatomy.errors import UserError

_HELP = "see `netanatomy summary --help` for the spec syntax"


@dataclass
class _Shape:
    channels: int
    height: int
    width: int
    flat: bool = False


class SpecError(UserError):
    """A malformed spec, with the column of the offending character."""


def looks_like_spec(text: str) -> bool:
    """True when ``text`` is meant as a spec rather than a model name."""
    head = text.split(",")[0].split("*")[0]
    return "," in text or "*" in text or bool(re.fullmatch(r"\d+|M|gap|relu|bn|flatten|dropout|fc-\d+|(conv|pool|avg)[\dx/pdgc-]*", head))


_ITEM = re.compile(
    r"(?P<int>\d+)$|(?P<M>M)$|(?P<simple>gap|relu|bn|dropout|flatten)$|fc-(?P<fc>\d+)$"
    r"|(?P<kind>conv|pool|avg)(?P<k>\d+(?:x\d+)?)(?P<opts>(?:/\d+|p\d+|d\d+|g\d+|c)*)(?:-(?P<ch>\d+))?$"
)
_OPT = re.compile(r"/(\d+)|p(\d+)|d(\d+)|g(\d+)|(c)")


def _fail(spec: str, col: int, what: str) -> SpecError:
    found = spec[col] if col < len(spec) else "end of spec"
    return SpecError(f"malformed spec {spec!r} at column {col + 1} ({found!r}): {what}; {_HELP}")


def _bad_prefix(item: str) -> int:
    """Where in ``item`` parsing goes wrong: the longest prefix that some valid item starts with."""
    probes = ["64", "M", "gap", "relu", "bn", "dropout", "flatten", "fc-1"]
    probes += [f"{kind}{k}{opts}" for kind in ("conv", "pool", "avg") for k in ("3", "3x3") for opts in ("/1p1d1g1c-1", "p1d1g1-1", "d1g1-1", "g1-1", "-1")]
    best = 0
    for n in range(len(item), 0, -1):
        prefix = item[:n]
        pattern = re.sub(r"\d+", "", prefix)
        if any(re.sub(r"\d+", "", p).startswith(pattern) for p in probes) or prefix.isdigit():
            best = n
            break
    return best


def build_from_spec(spec: str, input_size: tuple[int, ...]) -> nn.Sequential:
    """Parse ``spec`` and build the stack for an input of ``input_size`` (N, C, H, W)."""
    if len(input_size) != 4:
        raise UserError(f"a spec builds a 2-D stack: the input must be NxCxHxW, got {'x'.join(map(str, input_size))}")
    shape = _Shape(input_size[1], input_size[2], input_size[3])
    layers: list[nn.Module] = []
    col = items = 0
    if not spec.strip():
        raise _fail(spec, 0, "empty spec")
    for raw in spec.split(","):
        item = raw.strip()
        start = col + (len(raw) - len(raw.lstrip()))
        col += len(raw) + 1
        body, _, rep = item.partition("*")
        if rep and not rep.isdigit():
            raise _fail(spec, start + len(body) + 1, "a repeat count after '*' must be a number")
        m = _ITEM.match(body)
        if m is None:
            raise _fail(spec, start + _bad_prefix(body), "expected a layer (an integer, M, conv…, pool…, avg…, gap, relu, bn, dropout, flatten, fc-N)")
        # Checked before anything is built: `conv3-64*99999999` must not run for minutes.
        repeat = int(rep) if rep and len(rep) <= 9 else (1 if not rep else MAX_SPEC_LAYERS + 1)
        items += repeat
        if items > MAX_SPEC_LAYERS:
            raise _fail(spec, start, f"more than {MAX_SPEC_LAYERS:,} layers (repeats counted), the most a spec may have")
        for number in re.finditer(r"\d+", body):
            if len(number[0]) > 9 or int(number[0]) > MAX_SPEC_NUMBER:
                raise _fail(spec, start + number.start(), f"{number[0]} is more than the {MAX_SPEC_NUMBER:,} a spec accepts")
        for _ in range(repeat):
            layers.extend(_make(m, shape, spec, start))
    return nn.Sequential(*layers)


def _out(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    span = n + 2 * p - d * (k - 1) - 1
    return (-(-span // s) if ceil else span // s) + 1


def _make(m: re.Match[str], shape: _Shape, spec: str, col: int) -> list[nn.Module]:
    def conv(c_out: int, k: tuple[int, int], s: int, p: tuple[int, int], d: int, g: int) -> nn.Module:
        if shape.flat:
            raise _fail(spec, col, "a convolution cannot follow flatten/fc")
        if shape.channels % g or c_out % g:
            raise _fail(spec, col, f"groups={g} must divide {shape.channels} input and {c_out} output channels")
        layer = nn.Conv2d(shape.channels, c_out, k, stride=s, padding=p, dilation=d, groups=g)
        shape.channels = c_out
        shape.height = _out(shape.height, k[0], s, p[0], d, False)
        shape.width = _out(shape.width, k[1], s, p[1], d, False)
        return layer

    if m["int"]:
        return [conv(int(m["int"]), (3, 3), 1, (1, 1), 1, 1), nn.ReLU(inplace=True)]
    if m["M"]:
        shape.height, shape.width = shape.height // 2, shape.width // 2
        return [nn.MaxPool2d(2, 2)]
    if m["simple"]:
        name = m["simple"]
        if name == "gap":
            shape.height = shape.width = 1
            return [nn.AdaptiveAvgPool2d(1)]
        if name == "relu":
            return [nn.ReLU(inplace=True)]
        if name == "dropout":
            return [nn.Dropout()]
        if name == "bn":
            return [nn.BatchNorm1d(shape.channels) if shape.flat else nn.BatchNorm2d(shape.channels)]
        shape.channels, shape.flat = shape.channels * shape.height * shape.width, True
        return [nn.Flatten()]
    if m["fc"]:
        out: list[nn.Module] = []
        if not shape.flat:
            shape.channels, shape.flat = shape.channels * shape.height * shape.width, True
            out.append(nn.Flatten())
        out.append(nn.Linear(shape.channels, int(m["fc"])))
        shape.channels = int(m["fc"])
        return out
    kh, _, kw = m["k"].partition("x")
    k = (int(kh), int(kw or kh))
    stride, pad, dil, groups, ceil = None, None, 1, 1, False
    for o in _OPT.finditer(m["opts"]):
        if o[1]:
            stride = int(o[1])
        elif o[2]:
            pad = int(o[2])
        elif o[3]:
            dil = int(o[3])
        elif o[4]:
            groups = int(o[4])
        else:
            ceil = True
    if m["kind"] == "conv":
        if m["ch"] is None:
            raise _fail(spec, col + len(m[0]), "a conv needs its output channels, e.g. conv3-64")
        p2 = (pad, pad) if pad is not None else (dil * (k[0] - 1) // 2, dil * (k[1] - 1) // 2)
        return [conv(int(m["ch"]), k, stride or 1, p2, dil, groups)]
    if m["ch"] is not None:
        raise _fail(spec, col + len(m[0]) - len(m["ch"]) - 1, "a pool takes no channel count")
    s = stride or k[0]
    p = pad or 0
    if shape.flat:
        raise _fail(spec, col, "a pool cannot follow flatten/fc")
    shape.height = _out(shape.height, k[0], s, p, dil, ceil)
    shape.width = _out(shape.width, k[1], s, p, dil, ceil)
    if m["kind"] == "pool":
        return [nn.MaxPool2d(k, s, p, dilation=dil, ceil_mode=ceil)]
    return [nn.AvgPool2d(k, s, p, ceil_mode=ceil)]
