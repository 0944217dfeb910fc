"""The Lecture 9 topics: parameters, receptive fields, 1x1 convolutions, bottlenecks, residuals,
global average pooling, Network in Network, VGG's memory, MACs and FLOPs.

Each function takes a :class:`~netanatomy.explain.request.Request` and returns an
:class:`~netanatomy.explain.answer.Answer` whose numbers all come from the analyzer
(``netanatomy.summary``), the receptive-field engine, the zoo, or a small torch computation whose
inputs the answer prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from netanatomy.capture.torch_private import ConvNd, NormBase
from netanatomy.errors import UserError
from netanatomy.explain.answer import Answer, Cell, Msg
from netanatomy.explain.request import Request

DOT = "·"


def _answer(req: Request, more: str) -> Answer:
    return Answer(topic=req.topic.name, page=req.topic.page, more=more)


def _leaves(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if name and not any(m.children())}


def _int_tensor(gen: torch.Generator, low: int, high: int, *shape: int) -> torch.Tensor:
    """Small integers as floats: every product and sum below is exact, and readable."""
    return torch.randint(low, high + 1, shape, generator=gen).to(torch.float32)


def _vec(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


# --------------------------------------------------------------------------------------------
# params [p30]


def params(req: Request) -> Answer:
    """The parameter count of a conv layer written out; with MODEL alone, where its parameters live."""
    model_name = req.model_text or "vgg16"
    if req.model_text is not None and req.layer is None:
        return _params_model(req)
    layer = req.layer or "features.0"
    a = _answer(req, f"netanatomy summary {model_name} --columns output,params,formula,macs")
    resolved = req.resolve("vgg16")
    s = req.summary(resolved)
    rec = s.layer(layer)
    module = resolved.model.get_submodule(layer)
    a.name("model", resolved.name)
    a.name("layer", layer)
    a.name("type", type(module).__name__)
    a.num("total", rec.params)
    if isinstance(module, ConvNd) and not module.transposed:
        return _params_conv(a, module, rec)
    if isinstance(module, nn.Linear):
        a.num("in_features", module.in_features)
        a.num("out_features", module.out_features)
        a.num("weights", module.in_features * module.out_features)
        a.num("biases", module.out_features if module.bias is not None else 0)
        a.say("params.linear")
        a.code(f"W = in{DOT}out = {a.texts['in_features']}{DOT}{a.texts['out_features']} = {a.texts['weights']}",
               f"b = out    = {a.texts['biases']}",
               f"W + b      = {a.texts['total']}")
        return a
    a.name("formula", rec.formula_terms or "0")
    a.say("params.other" if rec.params else "params.none")
    return a


def _params_conv(a: Answer, m: ConvNd, rec: Any) -> Answer:
    ks = tuple(int(k) for k in m.kernel_size)
    kh, kw = (ks[0], ks[-1]) if len(ks) >= 2 else (ks[0], 1)
    kdot = DOT.join(str(k) for k in ks)
    g = m.groups
    c_in, c_out = m.in_channels, m.out_channels
    a.num("k_h", kh)
    a.num("k_w", kw)
    a.num("c_in", c_in)
    a.num("c_out", c_out)
    a.num("groups", g)
    a.num("c_in_per_group", c_in // g)
    per_filter = 1
    for k in ks:
        per_filter *= k
    a.num("kernel_area", per_filter)
    per_filter *= c_in // g
    a.num("per_filter", per_filter)
    a.num("weights", per_filter * c_out)
    bias = c_out if m.bias is not None else 0
    a.num("biases", bias)
    a.num("without_depth", kh * kw * c_out)
    out: tuple[int, ...] = tuple(rec.output_shapes[0]) if rec.output_shapes else ()
    if len(out) >= 4:
        positions = 1
        for d in out[2:]:
            positions *= d
        a.num("out_h", out[2])
        a.num("out_w", out[3])
        a.num("positions", positions)
        a.num("macs", rec.macs)
    cin = a.texts["c_in_per_group"]
    a.say("params.conv.intro", "params.conv.depth" if g == 1 else "params.conv.depth_groups", "params.conv.filters")
    a.code(f"k·k·C_in           = {kdot}{DOT}{cin} = {a.texts['per_filter']}",
           f"W = k·k·C_in·C_out = {kdot}{DOT}{cin}{DOT}{a.texts['c_out']} = {a.texts['weights']}",
           f"b = C_out          = {a.texts['biases']}" if bias else "b = 0              (bias=False)",
           f"W + b              = {a.texts['weights']} + {a.texts['biases']} = {a.texts['total']}" if bias
           else f"W + b              = {a.texts['total']}")
    a.say("params.conv.bias" if bias else "params.conv.nobias")
    a.say("params.conv.wrong_depth")
    if "macs" in a.numbers:
        a.say("params.conv.shared")
    return a


def _kind(m: nn.Module) -> str:
    if isinstance(m, ConvNd):
        return "conv"
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, (NormBase, nn.GroupNorm, nn.LayerNorm)):
        return "norm"
    if isinstance(m, nn.RNNBase):
        return "recurrent"
    return "other"


_KINDS = ("conv", "linear", "norm", "recurrent", "other")


def _params_model(req: Request) -> Answer:
    resolved = req.resolve("vgg16")
    s = req.summary(resolved)
    a = _answer(req, f"netanatomy summary {resolved.name} --columns output,params,formula,macs")
    a.name("model", resolved.name)
    leaves = _leaves(resolved.model)
    by_kind = {k: [0, 0, 0] for k in _KINDS}  # layers, params, MACs
    for rec in s.layers:
        if rec.name in leaves:
            row = by_kind[_kind(leaves[rec.name])]
            row[0] += 1
            row[1] += rec.params
            row[2] += rec.macs
    total, macs = s.totals.params, s.totals.macs
    a.num("total", total)
    a.num("macs", macs)
    rows: list[tuple[Cell, ...]] = []
    for kind, (n, p, mc) in by_kind.items():
        if n == 0 or (p == 0 and mc == 0):
            continue
        rows.append((Msg(f"kind.{kind}"), a.num(f"{kind}.layers", n), a.num(f"{kind}.params", p),
                     a.num(f"{kind}.params_share", p / total if total else 0.0, percent=True),
                     a.num(f"{kind}.macs", mc), a.num(f"{kind}.macs_share", mc / macs if macs else 0.0, percent=True)))
    biggest = max((r for r in s.layers if r.name in leaves), key=lambda r: r.params)
    a.name("biggest", biggest.name)
    a.name("biggest_formula", biggest.formula)
    a.num("biggest_params", biggest.params)
    a.num("biggest_share", biggest.params / total if total else 0.0, percent=True)
    a.say("params.model.intro")
    a.table((Msg("h.kind"), Msg("h.layers"), Msg("h.params"), Msg("h.share"), Msg("h.macs"), Msg("h.share")), rows)
    if by_kind["linear"][1] and by_kind["conv"][2]:
        a.say("params.model.fc_vs_conv")
    a.say("params.model.biggest")
    return a


# --------------------------------------------------------------------------------------------
# receptive-field [p30]


def _fmt_fraction(x: Any) -> str:
    from netanatomy.receptive.fields import fmt

    return fmt(x)


#: The lecture's question (p30): three 3x3 convs of stride 1. The notes' two slips are quoted
#: where the answer sets them right: "receptive field 9px" for the first layer (its area, not its
#: side) and the "15 px" of the wrong answer that the notes discuss.
LECTURE_STACK = (3, 1, 3)
NOTES_FIRST_FIELD = "9px"
NOTES_WRONG_FIELD = "15px"


def receptive_field(req: Request) -> Answer:
    """n stacked k×k convs (the recurrence step by step), or one layer of the user's model."""
    if req.model_text is not None:
        return _rf_model(req)
    if req.layer is not None:
        raise UserError("--layer needs a MODEL, e.g. `netanatomy explain receptive-field resnet18 --layer layer2`")
    from netanatomy.analysis.loading import resolve_model
    from netanatomy.receptive.engine import receptive_field as rf

    k, s, n = req.positive("kernel", 31), req.positive("stride", 8), req.positive("layers", 32)
    c = req.positive("channels", 4096)
    spec = f"conv{k}/{s}-{c}*{n}" if s != 1 else f"conv{k}-{c}*{n}"
    # Big enough that every layer keeps at least one unit; the field does not depend on it.
    side = max(32, (k + s) * s ** min(n, 12))
    if side > 4096:
        raise UserError(f"{n} layers of stride {s} shrink any reasonable input to nothing; use fewer --layers or stride 1")
    size = (1, c, side, side)
    resolved = resolve_model(spec, [size])
    result = rf(resolved.model, size, str(n - 1))
    a = _answer(req, f"netanatomy rf '{spec}' --input 1x{c}x{side}x{side}")
    a.name("spec", spec)
    a.num("k", k)
    a.num("s", s)
    a.num("n", n)
    a.num("c", c)
    a.num("k_minus_1", k - 1)
    lines = []
    fields: list[int] = []
    windows = [w for w in result.working if w.kind == "window"]
    for i, step in enumerate(windows, 1):
        before, after = step.before[0], step.after[0]
        assert before is not None and after is not None and before.size is not None and after.size is not None
        r0, j0, r, j = int(before.size), int(before.jump), int(after.size), int(after.jump)
        fields.append(r)
        a.num(f"r{i}", r)
        a.num(f"j{i}", j)
        lines.append(f"l = {i}:  r = {r0} + ({k}-1)·{j0} = {a.texts[f'r{i}']}    j = {j0}·{s} = {a.texts[f'j{i}']}")
    a.num("field", fields[-1])
    a.num("field_area", fields[-1] ** 2)
    a.num("first_area", fields[0] ** 2)
    a.num("wrong_sum", sum(fields))
    a.name("wrong_terms", " + ".join(str(f) for f in fields))
    a.name("stack", f"{n} × conv{k}×{k}/{s}")
    a.say("rf.intro")
    a.code("r_l = r_(l-1) + (k-1)·j_(l-1)    j_l = j_(l-1)·s    (r_0 = 1, j_0 = 1)", *lines)
    a.say("rf.answer", "rf.area")
    lecture = (k, s, n) == LECTURE_STACK
    if lecture:
        a.name("notes_area", NOTES_FIRST_FIELD)
        a.say("rf.notes_area")
    if n > 1:
        a.say("rf.wrong_sum")
    if lecture:
        a.name("notes_sum", NOTES_WRONG_FIELD)
        a.say("rf.notes_sum")
    if s == 1 and n > 1:
        big = fields[-1]
        a.num("big_k", big)
        a.num("big_weights_per_c2", big * big)
        a.num("stack_weights_per_c2", n * k * k)
        a.num("big_weights", big * big * c * c)
        a.num("stack_weights", n * k * k * c * c)
        a.num("big_relus", 1)
        a.num("stack_relus", n)
        a.say("rf.one_big")
        a.table((Msg("h.layers_used"), Msg("h.field"), Msg("h.weights_c2"), Msg("h.weights"), Msg("h.nonlinearities")), [
            (f"1 × conv{big}×{big}", a.texts["field"], a.texts["big_weights_per_c2"] + "C²", a.texts["big_weights"], a.texts["big_relus"]),
            (f"{n} × conv{k}×{k}", a.texts["field"], a.texts["stack_weights_per_c2"] + "C²", a.texts["stack_weights"], a.texts["stack_relus"]),
        ])
    return a


def _rf_model(req: Request) -> Answer:
    from netanatomy.receptive.engine import receptive_field as rf

    resolved = req.resolve("vgg16")
    if not resolved.spatial:
        raise UserError(f"{resolved.name} has no spatial input: receptive fields apply to convolutional models "
                        "(try resnet18 or a spec such as conv3-64*3)")
    size = tuple(resolved.input_sizes[0])
    result = rf(resolved.model, size, req.layer)
    f = result.field
    a = _answer(req, f"netanatomy rf {resolved.name} --layer {result.layer}")
    a.name("model", resolved.name)
    # nn.Sequential's children are numbered: "layer 2" reads better than a bare "2".
    a.name("layer", f"layer {result.layer}" if result.layer.replace(".", "").isdigit() else result.layer)
    a.name("input", "x".join(map(str, size)))
    if not f.known:
        a.name("reason", f.note)
        a.say("rf.model.unknown")
        return a
    if f.is_global:
        a.say("rf.model.global")
        return a
    sizes = [int(x) if x is not None else 0 for x in f.size]
    a.num("field", sizes[0])
    a.num("field_w", sizes[-1])
    a.num("jump", int(f.jump[0]) if f.jump[0] == int(f.jump[0]) else float(f.jump[0]), digits=3)
    a.num("padding", int(f.padding[0]) if f.padding[0] == int(f.padding[0]) else float(f.padding[0]), digits=3)
    lines = []
    count = 0
    for step in result.working:
        b, af = step.before[0], step.after[0]
        if b is None or af is None or b == af or b.size is None:
            continue
        where = step.module or "forward"
        if af.size is None:
            lines.append(f"{where}: global")
            continue
        count += 1
        params = step.params.get(0)
        if step.kind == "window" and params is not None:
            kk, ss, _, d = params
            keff = d * (kk - 1) + 1
            lines.append(f"{where} ({kk}/{ss}{'' if d == 1 else f' d{d}'}): r = {_fmt_fraction(b.size)} + ({keff}-1)·{_fmt_fraction(b.jump)}"
                         f" = {_fmt_fraction(af.size)}    j = {_fmt_fraction(b.jump)}·{ss} = {_fmt_fraction(af.jump)}")
        elif step.kind == "merge":
            lines.append(f"{where} (+/cat): r = {_fmt_fraction(af.size)} (max of {1 + len(step.other_paths)} paths)")
        else:
            lines.append(f"{where} ({step.op}): r = {_fmt_fraction(af.size)}    j = {_fmt_fraction(af.jump)}")
    a.num("steps", count)
    a.say("rf.model.answer")
    a.code("r = r_prev + (k-1)·j_prev    j = j_prev·s    (r_0 = 1, j_0 = 1)", *lines)
    a.say("rf.model.path")
    return a


# --------------------------------------------------------------------------------------------
# conv1x1 [p52, p55]


def _macs(model: nn.Module, size: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, MACs) of ``model`` as the analyzer counts them."""
    from netanatomy.analysis.summary import summary

    s = summary(model, size, receptive_fields=False)
    return s.totals.params, s.totals.macs


def conv1x1(req: Request) -> Answer:
    """Depth reduction, one output pixel as a dot product, the whole layer as a matrix product."""
    h, c, f = req.positive("size", 1024), req.positive("in_channels", 8192), req.positive("out_channels", 8192)
    a = _answer(req, f"netanatomy summary 'conv1-{f}' --input 1x{c}x{h}x{h}")
    with torch.device("meta"):
        reduce = nn.Conv2d(c, f, 1)
    p, macs = _macs(reduce, (1, c, h, h))
    a.num("h", h)
    a.num("c", c)
    a.num("f", f)
    a.num("params", p)
    a.num("weights", c * f)
    a.num("macs", macs)
    a.say("conv1x1.shapes")
    a.code(f"{h}x{h}x{c}  --[{f} × 1x1x{c}]-->  {h}x{h}x{f}",
           f"params = {c}{DOT}{f} + {f} = {a.texts['params']}    MACs = {h}{DOT}{h}{DOT}{c}{DOT}{f} = {a.texts['macs']}")

    # One output pixel of a small 1x1 conv on integers, worked by hand.
    gen = torch.Generator().manual_seed(req.seed)
    sc, sf, sh = 4, 2, 3
    x = _int_tensor(gen, -3, 3, 1, sc, sh, sh)
    conv = nn.Conv2d(sc, sf, 1)
    bias = conv.bias
    assert bias is not None
    with torch.no_grad():
        conv.weight.copy_(_int_tensor(gen, -2, 2, sf, sc, 1, 1))
        bias.copy_(_int_tensor(gen, -2, 2, sf))
        y = conv(x)
    i, j = 1, 2
    xv = x[0, :, i, j]
    w = conv.weight[0, :, 0, 0].detach()
    b = float(bias.detach()[0])
    for n in range(sc):
        a.num(f"x{n}", int(xv[n]))
        a.num(f"w{n}", int(w[n]))
    a.num("small_c", sc)
    a.num("small_f", sf)
    a.num("small_h", sh)
    a.num("i", i)
    a.num("j", j)
    a.num("b", int(b))
    dot = int(sum(int(w[n]) * int(xv[n]) for n in range(sc)))
    a.num("dot", dot)
    a.num("dot_plus_b", dot + int(b))
    a.num("conv_out", int(y[0, 0, i, j]))
    a.num("plain_sum", int(xv.sum()))
    a.num("relu_out", max(0, int(y[0, 0, i, j])))
    # The whole layer: Y = W X + b with X the C x (H·W) matrix of channel vectors.
    X = x[0].reshape(sc, -1)
    Y = conv.weight[:, :, 0, 0].detach() @ X + bias.detach()[:, None]
    a.num("matmul_diff", float((Y.reshape(sf, sh, sh) - y[0].detach()).abs().max()), digits=1)
    a.say("conv1x1.pixel")
    terms = " + ".join(f"({a.texts[f'w{n}']})({a.texts[f'x{n}']})" for n in range(sc))
    a.code(f"x[:, {i}, {j}] = {_vec([a.texts[f'x{n}'] for n in range(sc)])}",
           f"w_0 = {_vec([a.texts[f'w{n}'] for n in range(sc)])}    b_0 = {a.texts['b']}",
           f"w_0·x + b_0 = {terms} + ({a.texts['b']}) = {a.texts['dot_plus_b']}",
           f"conv(x)[0, {i}, {j}] = {a.texts['conv_out']}    ReLU -> {a.texts['relu_out']}",
           f"{' + '.join(f'x_{n}' for n in range(sc))} = {a.texts['plain_sum']}")
    a.say("conv1x1.weighted", "conv1x1.matrix")

    # The MACs a 1x1 reduction saves before a k×k conv that returns to c channels.
    rows: list[tuple[Cell, ...]] = []
    for k in (3, 5):
        with torch.device("meta"):
            direct = nn.Conv2d(c, c, k, padding=k // 2)
            reduced = nn.Sequential(nn.Conv2d(c, f, 1), nn.ReLU(), nn.Conv2d(f, c, k, padding=k // 2))
        _, m_direct = _macs(direct, (1, c, h, h))
        _, m_reduced = _macs(reduced, (1, c, h, h))
        rows.append((f"{k}x{k}", a.num(f"direct{k}", m_direct), a.num(f"reduced{k}", m_reduced),
                     a.num(f"saved{k}", 1 - m_reduced / m_direct, percent=True)))
    a.say("conv1x1.saving")
    a.table((Msg("h.next_conv"), Msg("h.direct"), Msg("h.with_1x1"), Msg("h.saved")), rows)
    return a


# --------------------------------------------------------------------------------------------
# bottleneck [p55]


#: The Lecture 9 slide's figure for the module with 1x1 reductions, quoted to show where it comes from.
SLIDE_BOTTLENECK = "358M"


def bottleneck(req: Request) -> Answer:
    """The Inception module naive against with 1x1 reductions, and the slide's 358M."""
    from netanatomy.training.experiments.bottleneck import INPUT_SIZE, NAIVE, REDUCED, Inception, branch_costs

    a = _answer(req, "netanatomy experiment bottleneck")
    a.name("slide_quote", SLIDE_BOTTLENECK)
    naive, reduced = branch_costs(NAIVE), branch_costs(REDUCED)
    depth = {}
    for label, spec in (("naive", NAIVE), ("reduced", REDUCED)):
        with torch.device("meta"):
            module = Inception(INPUT_SIZE[1], spec)
        depth[label] = module(torch.empty(INPUT_SIZE, device="meta")).shape[1]
    _, n, h, w = INPUT_SIZE
    a.num("h", h)
    a.num("w", w)
    a.num("c", n)
    rows: list[tuple[Cell, ...]] = []
    for branch in NAIVE:
        rows.append((branch, a.num(f"naive.{branch}", naive[branch][1]), a.num(f"reduced.{branch}", reduced[branch][1])))
    tn, tr = sum(v[1] for v in naive.values()), sum(v[1] for v in reduced.values())
    rows.append((Msg("h.total"), a.num("naive_total", tn), a.num("reduced_total", tr)))
    a.num("naive_millions", tn / 1e6, digits=1)
    a.num("reduced_millions", tr / 1e6, digits=1)
    a.num("ratio", tn / tr, digits=2)
    a.num("naive_params", sum(v[0] for v in naive.values()))
    a.num("reduced_params", sum(v[0] for v in reduced.values()))
    a.num("naive_depth", depth["naive"])
    a.num("reduced_depth", depth["reduced"])
    from netanatomy.training.experiments.costs import layer_costs

    with torch.device("meta"):
        costs = {cost.name: cost.macs for cost in layer_costs(Inception(n, REDUCED), INPUT_SIZE)}
    (_, _, c_red), (_, k3, c3) = REDUCED["branch3x3"]  # type: ignore[misc]
    reduce_macs, conv3 = costs["branch3x3.0"], costs["branch3x3.2"]
    a.num("reduce_macs", reduce_macs)
    a.num("conv3_macs", conv3)
    a.num("slide_figure", tr + conv3)
    a.num("slide_millions", (tr + conv3) / 1e6, digits=1)
    a.say("bottleneck.intro")
    a.table((Msg("h.branch"), Msg("h.naive_macs"), Msg("h.reduced_macs")), rows)
    a.say("bottleneck.why", "bottleneck.slide")
    a.code(f"{h}·{w}·{c_red}·1·1·{n} = {a.texts['reduce_macs']}    {h}·{w}·{c3}·{k3}·{k3}·{c_red} = {a.texts['conv3_macs']}",
           f"{a.texts['reduced_total']} + {a.texts['conv3_macs']}"
           f" = {a.texts['slide_figure']}")
    return a


# --------------------------------------------------------------------------------------------
# residual [p72]


def _zero_residual_branch(block: nn.Module) -> None:
    """Set the last BatchNorm's scale and shift to 0: the block's branch F then outputs exactly 0."""
    with torch.no_grad():
        block.bn2.weight.zero_()  # type: ignore[union-attr,operator]
        block.bn2.bias.zero_()  # type: ignore[union-attr,operator]


def _grad_norms(name: str, seed: int) -> tuple[float, float]:
    """‖dL/dW‖ of the first conv and of the classifier, one random batch, at initialisation."""
    from netanatomy.zoo.registry import create_model

    torch.manual_seed(seed)
    # float64, so that the printed digits do not depend on the CPU's summation order.
    model = create_model(name).double()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, 32, 32, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), generator=gen)
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad for n, p in model.named_parameters() if n in ("conv1.weight", "fc.weight")]
    assert grads[0] is not None and grads[1] is not None
    return float(grads[0].norm()), float(grads[1].norm())


def residual(req: Request) -> Answer:
    """H(x) = F(x) + x on real zoo blocks, gradients at init, and the degradation report if given."""
    from netanatomy.zoo.registry import create_model

    a = _answer(req, "netanatomy experiment degradation --dataset mnist --epochs 8")
    report = req.option("report")
    found = _degradation_rows(report) if report else None  # a bad path fails before any computation
    torch.manual_seed(req.seed)
    blocks = {}
    for name in ("resnet20", "plain20"):
        block = create_model(name).get_submodule("layer1.0").eval()
        _zero_residual_branch(block)
        blocks[name] = block
    gen = torch.Generator().manual_seed(req.seed)
    # A block's input comes out of a ReLU, so it is non-negative.
    x = torch.relu(torch.randn(1, 16, 8, 8, generator=gen))
    with torch.no_grad():
        res_out, plain_out = blocks["resnet20"](x), blocks["plain20"](x)
    a.name("block", "layer1.0")
    a.name("res_model", "resnet20")
    a.name("plain_model", "plain20")
    for key, net in (("plain_shallow", "plain20"), ("plain_deep", "plain56"), ("resnet_shallow", "resnet20"), ("resnet_deep", "resnet56")):
        a.name(key, net)
    a.num("x_max", float(x.abs().max()), digits=4)
    a.num("res_diff", float((res_out - x).abs().max()), digits=4)
    a.num("plain_diff", float((plain_out - x).abs().max()), digits=4)
    a.num("plain_out_max", float(plain_out.abs().max()), digits=4)
    a.say("residual.intro", "residual.block")
    a.code("residual (resnet20 layer1.0):  H(x) = ReLU(F(x) + x),  F(x) = 0  ->  H(x) = ReLU(x) = x",
           f"   max |H(x) - x| = {a.texts['res_diff']}",
           "plain    (plain20 layer1.0):   H(x) = ReLU(BN(conv(ReLU(BN(conv(x)))))) = ReLU(0) = 0",
           f"   max |H(x) - x| = {a.texts['plain_diff']}  (= max x = {a.texts['x_max']})")
    a.say("residual.easier")
    rows: list[tuple[Cell, ...]] = []
    for name in ("plain20", "resnet20", "plain56", "resnet56"):
        first, last = _grad_norms(name, req.seed)
        rows.append((name, a.num(f"{name}.grad_first", first, digits=3), a.num(f"{name}.grad_fc", last, digits=3),
                     a.num(f"{name}.grad_ratio", first / last, digits=2)))
    a.say("residual.gradients")
    a.table((Msg("h.network"), Msg("h.grad_first"), Msg("h.grad_fc"), Msg("h.ratio")), rows)
    a.say("residual.gradients_read")
    if found is not None:
        a.name("report", str(report))
        table = []
        for net, (loss, err) in found.items():
            table.append((net, a.num(f"{net}.train_loss", loss, digits=4), a.num(f"{net}.train_error", err, percent=True, digits=2)))
        nets = list(found)
        plains, resnets = [n for n in nets if n.startswith("plain")], [n for n in nets if n.startswith("resnet")]
        if len(plains) != 2 or len(resnets) != 2:
            raise UserError(f"{report}: expected two plain and two resnet rows, found {', '.join(nets)}")
        a.name("plain_lo", plains[0])
        a.name("plain_hi", plains[1])
        a.name("resnet_lo", resnets[0])
        a.name("resnet_hi", resnets[1])
        for key, net in (("plain_lo", plains[0]), ("plain_hi", plains[1]), ("resnet_lo", resnets[0]), ("resnet_hi", resnets[1])):
            a.names[f"{key}_loss"] = a.texts[f"{net}.train_loss"]
        a.say("residual.report")
        a.table((Msg("h.network"), Msg("h.train_loss"), Msg("h.train_error")), table)
        a.say("residual.report_read")
    else:
        a.say("residual.no_report")
    return a


def _degradation_rows(path: str) -> dict[str, tuple[float, float]]:
    """``{network: (final train loss, train error)}`` from ``degradation.md`` (or its folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / "degradation.md"
    if not p.is_file():
        raise UserError(f"no degradation report at {path!r}; `netanatomy experiment degradation` writes "
                        "runs/experiment-degradation/degradation.md")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {p}: {exc}") from None
    rows: dict[str, tuple[float, float]] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            header = None
            continue
        if "network" in cells and "final train loss" in cells:
            header = cells
            continue
        if header is None or set(line) <= set("|-: "):
            continue
        row = dict(zip(header, cells))
        try:
            loss = float(row["final train loss"])
            err = float(row["train error"].rstrip("%")) / 100
        except (KeyError, ValueError):
            raise UserError(f"{p}: malformed row {line.strip()!r} in the degradation table") from None
        rows[row["network"]] = (loss, err)
    if not rows:
        raise UserError(f"{p} holds no degradation table (| network | final train loss | ...); "
                        "is it a report of `netanatomy experiment degradation`?")
    return rows


# --------------------------------------------------------------------------------------------
# gap [p76]

_AVERAGING_OPS = ("mean", "_adaptive_avg_pool2d", "adaptive_avg_pool2d", "avg_pool2d", "_adaptive_avg_pool3d", "avg_pool3d")


def _find_gap(s: Any) -> tuple[Any, tuple[int, ...]] | None:
    """The first op that averages a C x H x W map over all of H x W (global average pooling)."""
    from netanatomy.capture.graph import TensorRef

    for node in s.graph.nodes:
        if node.op not in _AVERAGING_OPS or not node.args or not isinstance(node.args[0], TensorRef):
            continue
        shape = node.args[0].shape
        out = node.outputs[0].shape
        spatial = 1
        for d in shape[2:]:
            spatial *= d
        if len(shape) >= 3 and spatial > 1 and len(out) >= 2 and out[1] == shape[1] and all(d == 1 for d in out[2:]):
            return node, tuple(shape[1:])
    return None


def _head(resolved: Any, s: Any, gap_node: Any) -> tuple[int, int | None, list[str]]:
    """(parameters after the pooling, outputs of the first linear layer after it, its layers)."""
    leaves = _leaves(resolved.model)
    params, first_out, names = 0, None, []
    for call in s.graph.calls:
        if call.path in leaves and call.first_node > gap_node.index and call.path not in names:
            m = leaves[call.path]
            n = sum(p.numel() for p in m.parameters(recurse=False))
            if n:
                names.append(call.path)
                params += n
            if first_out is None and isinstance(m, nn.Linear):
                first_out = m.out_features
    return params, first_out, names


def gap(req: Request) -> Answer:
    """Global average pooling: C x H x W -> C, the head's parameters, the input sizes it accepts."""
    if req.model_text is not None:
        return _gap_model(req)
    from netanatomy.analysis.loading import resolve_model

    a = _answer(req, "netanatomy summary googlenet --depth 1")
    vgg = resolve_model("vgg16")
    vs = req.summary(vgg)
    fc = vgg.model.get_submodule("classifier.0")
    assert isinstance(fc, nn.Linear)
    c, h, w = vs.layer("features").output_shapes[0][1:]
    a.num("c", c)
    a.num("h", h)
    a.num("w", w)
    a.num("flat", c * h * w)
    a.num("vgg_fc_out", fc.out_features)
    a.num("vgg_fc_params", vs.layer("classifier.0").params)
    a.num("gap_fc_params", c * fc.out_features + fc.out_features)
    a.num("hw", h * w)
    a.say("gap.intro")
    a.code(f"{h}x{w}x{c}  --mean({h}x{w})-->  {c}",
           f"flatten + FC: {a.texts['flat']}{DOT}{a.texts['vgg_fc_out']} + {a.texts['vgg_fc_out']} = {a.texts['vgg_fc_params']}",
           f"GAP + FC:     {a.texts['c']}{DOT}{a.texts['vgg_fc_out']} + {a.texts['vgg_fc_out']} = {a.texts['gap_fc_params']}")
    a.say("gap.vgg")
    rows: list[tuple[Cell, ...]] = []
    for name in ("googlenet", "nin"):
        r = resolve_model(name)
        s = req.summary(r)
        found = _find_gap(s)
        assert found is not None, name
        node, (gc, gh, gw) = found
        head, _, layers = _head(r, s, node)
        a.name(f"{name}.head_layers", ", ".join(layers) or "—")
        rows.append((name, f"{gh}x{gw}x{gc}", a.num(f"{name}.head_params", head), a.names[f"{name}.head_layers"]))
        a.num(f"{name}.c", gc)
        a.num(f"{name}.h", gh)
    rows.insert(0, ("vgg16", f"{h}x{w}x{c}", a.texts["vgg_fc_params"], "classifier.0"))
    a.say("gap.others")
    a.table((Msg("h.model"), Msg("h.feature_map"), Msg("h.head_params"), Msg("h.head_layers")), rows)
    # The input size: GoogLeNet on a larger image gets a larger map, and the same 1024 features.
    big = resolve_model("googlenet", [(1, 3, 320, 320)])
    bs = req.summary(big)
    found = _find_gap(bs)
    assert found is not None
    _, (bc, bh, _) = found
    a.num("big_input", 320)
    a.num("big_h", bh)
    a.num("big_c", bc)
    vgg_big = resolve_model("vgg16", [(1, 3, 320, 320)])
    _, vc, vh, vw = req.summary(vgg_big).layer("features").output_shapes[0]
    a.num("vgg_big_h", vh)
    a.num("vgg_big_flat", vc * vh * vw)
    a.say("gap.input_size")
    return a


def _gap_model(req: Request) -> Answer:
    resolved = req.resolve("googlenet")
    s = req.summary(resolved)
    found = _find_gap(s)
    a = _answer(req, f"netanatomy summary {resolved.name} --depth 1")
    a.name("model", resolved.name)
    if found is None:
        linears = [r for r in s.layers if r.type == "Linear"]
        where = (f"; its classifier {linears[0].name} reads {linears[0].input_shapes[0][-1]:,} features"
                 if linears and linears[0].input_shapes else "")
        raise UserError(f"{resolved.name} has no global average pooling (no op averages a whole feature map to 1x1){where}; "
                        "try a model that has one, e.g. `netanatomy explain gap resnet50` or googlenet, nin")
    node, shape = found
    c = shape[0]
    hw = 1
    for d in shape[1:]:
        hw *= d
    head, first_out, layers = _head(resolved, s, node)
    out = first_out or c
    a.name("gap_layer", node.module or "forward")
    a.name("map", "x".join(map(str, shape[1:])) + f"x{c}")
    a.name("head_layers", ", ".join(layers) or "—")
    a.num("c", c)
    a.num("hw", hw)
    a.num("head_params", head)
    a.num("out", out)
    a.num("flat", c * hw)
    a.num("flat_fc_params", c * hw * out + out)
    a.num("gap_fc_params", c * out + out)
    a.say("gap.model" if head else "gap.model_nohead")
    lines = [f"{a.names['map']}  --{a.names['gap_layer']}-->  {c}",
             f"flatten + FC: {a.texts['flat']}{DOT}{a.texts['out']} + {a.texts['out']} = {a.texts['flat_fc_params']}"]
    if head:
        lines.append(f"GAP + FC:     {a.texts['c']}{DOT}{a.texts['out']} + {a.texts['out']} = {a.texts['gap_fc_params']}")
    a.code(*lines)
    a.say("gap.model_head" if head else "gap.model_nohead_flat")
    return a


# --------------------------------------------------------------------------------------------
# nin [p92]


def nin(req: Request) -> Answer:
    """mlpconv = a k×k conv and 1x1 convs: an MLP at every position; NiN's layer table."""
    from netanatomy.analysis.loading import resolve_model

    a = _answer(req, "netanatomy summary nin --columns output,params,formula,macs,rf")
    gen = torch.Generator().manual_seed(req.seed)
    sc, sf, sh = 4, 3, 3
    x = _int_tensor(gen, -3, 3, 1, sc, sh, sh)
    conv = nn.Conv2d(sc, sf, 1)
    linear = nn.Linear(sc, sf)
    bias = conv.bias
    assert bias is not None
    with torch.no_grad():
        conv.weight.copy_(_int_tensor(gen, -2, 2, sf, sc, 1, 1))
        bias.copy_(_int_tensor(gen, -2, 2, sf))
        # The same numbers: a 1x1 filter bank is a C_out x C_in matrix.
        linear.weight.copy_(conv.weight[:, :, 0, 0])
        linear.bias.copy_(bias)
        y_conv = conv(x)
        y_lin = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # every pixel's channel vector
    a.num("small_c", sc)
    a.num("small_f", sf)
    a.num("small_h", sh)
    a.num("positions", sh * sh)
    a.num("max_diff", float((y_conv - y_lin).abs().max()), digits=1)
    i, j = 0, 1
    xs = [a.num(f"x{n}", int(x[0, n, i, j])) for n in range(sc)]
    ys = [a.num(f"y{n}", int(y_conv[0, n, i, j])) for n in range(sf)]
    ls = [a.num(f"lin{n}", int(y_lin[0, n, i, j])) for n in range(sf)]
    a.say("nin.intro", "nin.check")
    a.code(f"x[:, {i}, {j}] = {_vec(xs)}",
           f"Conv2d({sc}, {sf}, 1)(x)[:, {i}, {j}] = {_vec(ys)}",
           f"Linear({sc}, {sf})(x[:, {i}, {j}])   = {_vec(ls)}",
           f"max |conv - linear| ({sh}x{sh}) = {a.texts['max_diff']}")
    resolved = resolve_model("nin")
    s = req.summary(resolved, receptive_fields=True)
    leaves = _leaves(resolved.model)
    rows: list[tuple[Cell, ...]] = []
    for rec in s.layers:
        m = leaves.get(rec.name)
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0]
            rows.append((rec.name, f"{k}x{k}", a.num(f"{rec.name}.c_out", m.out_channels), rec.formula,
                         a.num(f"{rec.name}.params", rec.params), a.num(f"{rec.name}.rf", int(rec.receptive_field))))
    first = next(r for r in s.layers if isinstance(leaves.get(r.name), nn.Conv2d))
    m0 = leaves[first.name]
    assert isinstance(m0, nn.Conv2d)
    a.name("first", first.name)
    a.num("k", m0.kernel_size[0])
    a.num("c_in_patch", m0.in_channels)
    a.num("patch", m0.kernel_size[0] ** 2 * m0.in_channels)
    a.num("hidden", m0.out_channels)
    a.num("total", s.totals.params)
    a.say("nin.mlpconv")
    a.table((Msg("h.layer"), Msg("h.kernel"), Msg("h.filters"), Msg("h.formula"), Msg("h.params"), Msg("h.field")), rows)
    a.say("nin.notes")
    return a


# --------------------------------------------------------------------------------------------
# vgg-memory


#: The Lecture 9 slide's own total for VGG16's forward activations: "TOTAL memory: 24M * 4 bytes
#: ~= 96MB / image (only forward! ~*2 for bwd)". A quoted figure, compared with the sum of the
#: slide's rows, which the analyzer recomputes.
SLIDE_VGG16_TOTAL_VALUES = 24_000_000


def vgg_memory(req: Request) -> Answer:
    """Activation memory per layer (the slide's rows), their sum, and what the analyzer counts."""
    resolved = req.resolve("vgg16")
    s = req.summary(resolved)
    a = _answer(req, f"netanatomy summary {resolved.name} --columns output,activations,saved")
    a.name("model", resolved.name)
    leaves = _leaves(resolved.model)
    batch = resolved.input_sizes[0][0]
    rows: list[tuple[Cell, ...]] = []
    values: list[tuple[str, int]] = [("input", _numel(resolved.input_sizes[0]) // batch)]
    for rec in s.layers:
        m = leaves.get(rec.name)
        if m is None or not rec.output_shapes or not isinstance(m, (ConvNd, nn.Linear, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
            continue
        values.append((rec.name, _numel(rec.output_shapes[0]) // batch))
    total = sum(v for _, v in values)
    for name, v in values:
        rows.append((name, a.num(f"{name}.values", v), a.num(f"{name}.share", v / total, percent=True)))
    top = sorted(values, key=lambda nv: -nv[1])[:2]
    a.name("top1", top[0][0])
    a.name("top2", top[1][0])
    a.num("top_values", top[0][1] + top[1][1])
    a.num("top_share", (top[0][1] + top[1][1]) / total, percent=True)
    a.num("rows", len(values))
    a.num("total_values", total)
    a.num("bytes_per_value", 4)  # float32
    a.num("total_bytes", total * 4)
    a.num("total_mb", total * 4 / 1e6, digits=1)
    a.num("total_mib", total * 4 / 2**20, digits=2)
    a.num("forward_mib", s.totals.forward_activation_bytes / 2**20, digits=2)
    a.num("saved_mib", s.totals.saved_bytes / 2**20, digits=2)
    a.num("params", s.totals.params)
    a.num("param_mib", s.totals.param_bytes / 2**20, digits=2)
    a.say("vgg_memory.intro")
    a.table((Msg("h.layer"), Msg("h.values"), Msg("h.share")), rows)
    a.say("vgg_memory.where")
    if resolved.name == "vgg16" and resolved.input_sizes[0][1:] == (3, 224, 224):
        a.num("slide_values", SLIDE_VGG16_TOTAL_VALUES)
        a.num("slide_mb", SLIDE_VGG16_TOTAL_VALUES * 4 / 1e6, digits=1)
        a.num("slide_gap", SLIDE_VGG16_TOTAL_VALUES - total)
        a.say("vgg_memory.slide")
    a.say("vgg_memory.analyzer")
    return a


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# --------------------------------------------------------------------------------------------
# macs-flops


def macs_flops(req: Request) -> Answer:
    """What a MAC is, FLOPs = 2 x MACs, what is counted, and why tools disagree."""
    from torch.utils.flop_counter import FlopCounterMode

    resolved = req.resolve("vgg16")
    s = req.summary(resolved)
    a = _answer(req, f"netanatomy summary {resolved.name} --columns output,params,macs")
    a.name("model", resolved.name)
    leaves = _leaves(resolved.model)
    first = next((r for r in s.layers if isinstance(leaves.get(r.name), ConvNd) and r.output_shapes), None)
    a.num("macs", s.totals.macs)
    a.num("flops", s.totals.flops)
    a.num("gmacs", s.totals.macs / 1e9, digits=2)
    a.num("gflops", s.totals.flops / 1e9, digits=2)
    a.say("macs.intro")
    if first is not None:
        m = leaves[first.name]
        assert isinstance(m, ConvNd)
        out = first.output_shapes[0]
        batch = out[0]
        positions = _numel(out[2:])
        per_output = _numel(tuple(m.kernel_size)) * (m.in_channels // m.groups)
        a.name("layer", first.name)
        a.num("positions", positions)
        a.num("c_out", out[1])
        a.num("per_output", per_output)
        a.num("layer_macs", first.macs // batch)
        a.num("layer_flops", 2 * first.macs // batch)
        a.num("layer_outputs", positions * out[1])
        dims = "·".join(str(d) for d in out[2:])
        kdims = "·".join(str(k) for k in m.kernel_size)
        a.say("macs.layer")
        a.code(f"MACs  = {dims}·{out[1]} · {kdims}·{m.in_channels // m.groups} = {a.texts['layer_macs']}",
               f"FLOPs = 2 · {a.texts['layer_macs']} = {a.texts['layer_flops']}")
    # torch's own counter, on the same fake tensors: one multiply-add is two floating-point ops.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        resolved.model.eval()
        device = next(resolved.model.parameters(), torch.empty(0, device="meta")).device
        inputs = [torch.zeros(size, dtype=dt, device=device) for size, dt in zip(resolved.input_sizes, resolved.input_dtypes)]
        resolved.model(*inputs)
    a.num("torch_flops", int(counter.get_total_flops()))
    uncounted = sum(s.totals.uncounted_ops.values())
    a.num("uncounted_calls", uncounted)
    a.name("uncounted", ", ".join(f"{op} ×{n}" for op, n in s.totals.uncounted_ops.items()) or "—")
    a.say("macs.total" if a.numbers["torch_flops"] == s.totals.flops else "macs.total_differs")
    a.code(f"MACs  = {a.texts['macs']}  ({a.texts['gmacs']}G)",
           f"FLOPs = 2 · MACs = {a.texts['flops']}  ({a.texts['gflops']}G)",
           f"torch.utils.flop_counter: {a.texts['torch_flops']}")
    a.say("macs.uncounted")
    if first is not None:
        a.say("macs.bias")
    a.say("macs.tools")
    return a
