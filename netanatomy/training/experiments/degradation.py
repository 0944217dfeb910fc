"""The degradation problem (He et al. 2016, §4.2 and Fig. 6), at CPU scale.

Plain nets and ResNets at two depths (default the CIFAR nets' 20 and 56 layers), trained on the
same data with the same schedule, seed and budget. The paper's observation: the deeper *plain*
net has higher *training* error than the shallower one (not overfitting: an optimisation
difficulty), and with shortcuts the deeper net trains at least as well as the shallower one.
The report states what this run showed, whichever way it came out.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from netanatomy import atomic
from netanatomy.errors import UserError
from netanatomy.training.datasets import load_dataset
from netanatomy.training.plots import plot_runs
from netanatomy.training.trainer import ImageTrainConfig, TrainResult, train

# A "clearly" worse final training loss: beyond run-to-run noise at this budget (a judgement
# call, stated in the report so the reader can disagree).
_MARGIN = 1.25


def run_degradation(config: ImageTrainConfig, depths: tuple[int, ...] = (20, 56)) -> str:
    """Train plain-d and resnet-d for both depths; write ``degradation.png`` and ``.md``.

    Args:
        config: the shared settings (data set, epochs, lr, warm-up, ...); ``model`` is ignored
            and ``out_dir`` receives the report, the plot and one sub-folder per network.
        depths: two depths 6n+2 of the CIFAR nets (20, 32, 44, 56, 110).
    """
    from netanatomy.zoo.registry import list_models

    if len(depths) != 2 or depths[0] >= depths[1]:
        raise UserError(f"--depths needs two increasing depths, e.g. 20,56; got {depths}")
    names = [f"{kind}{d}" for kind in ("plain", "resnet") for d in depths]
    missing = [n for n in names if n not in list_models("cifar_resnet")]
    if missing:
        raise UserError(f"no CIFAR net {', '.join(missing)}; depths must be among 20, 32, 44, 56, 110")
    out = Path(config.out_dir)
    cfg = config.resolved()
    data = load_dataset(cfg.dataset, cfg.data_dir, val_fraction=cfg.val_fraction, seed=cfg.seed,
                        image_size=cfg.image_size, limit=cfg.limit)  # fmt: skip
    results: dict[str, TrainResult] = {}
    times: dict[str, float] = {}
    for name in names:
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        results[name] = train(replace(cfg, model=name, out_dir=str(out / name)), data=data)
        times[name] = time.perf_counter() - t0
    steps_per_epoch = len(results[names[0]].step_losses) // cfg.epochs
    plot_runs(
        {n: r.history for n, r in results.items()},
        {n: r.step_losses for n, r in results.items()},
        out / "degradation.png",
        f"plain vs residual on {cfg.dataset} ({len(data[0])} training images, {cfg.epochs} epochs)",
        max(1, steps_per_epoch),
    )
    report = _report(cfg, depths, results, times, len(data[0]), len(data[1]))
    atomic.write_text(out / "degradation.md", report)
    return report


def _final_train_loss(r: TrainResult) -> float:
    return r.history[-1]["train_loss"]


def _report(
    cfg: ImageTrainConfig,
    depths: tuple[int, ...],
    results: dict[str, TrainResult],
    times: dict[str, float],
    n_train: int,
    n_val: int,
) -> str:
    lo, hi = depths
    rows = []
    for name, r in results.items():
        h = r.history[-1]
        best = max(x["val_acc"] for x in r.history)
        rows.append(
            f"| {name} | {h['train_loss']:.4f} | {100 * (1 - h['train_acc']):.2f}% | "
            f"{100 * (1 - h['val_acc']):.2f}% | {100 * (1 - best):.2f}% | {times[name]:.0f}s |"
        )
    p_lo, p_hi = _final_train_loss(results[f"plain{lo}"]), _final_train_loss(results[f"plain{hi}"])
    r_lo, r_hi = _final_train_loss(results[f"resnet{lo}"]), _final_train_loss(results[f"resnet{hi}"])
    if p_hi > _MARGIN * p_lo:
        plain = (f"**The deeper plain net trained worse**: plain-{hi} ended at a training loss of "
                 f"{p_hi:.4f}, {p_hi / p_lo:.1f}x plain-{lo}'s {p_lo:.4f}; the degradation of He et al. Fig. 6 (left).")
    elif p_hi > p_lo:
        plain = (f"plain-{hi} ended slightly above plain-{lo} ({p_hi:.4f} vs {p_lo:.4f}, within the "
                 f"{_MARGIN}x margin this report calls noise): **no clear degradation** at this budget.")
    else:
        plain = (f"**No degradation observed**: plain-{hi} trained as well as or better than plain-{lo} "
                 f"({p_hi:.4f} vs {p_lo:.4f}).")
    if r_hi <= _MARGIN * r_lo:
        res = (f"With shortcuts the deeper net trained as well or better: resnet-{hi} {r_hi:.4f} vs "
               f"resnet-{lo} {r_lo:.4f} (Fig. 6 right: no degradation)")
    else:
        res = (f"With shortcuts the deeper net **still trained worse**: resnet-{hi} {r_hi:.4f} vs "
               f"resnet-{lo} {r_lo:.4f}; shortcuts did not close the gap at this budget")
    res += f"; resnet-{hi} vs plain-{hi}: {r_hi:.4f} vs {p_hi:.4f}."
    elapsed = sum(times.values())
    return "\n".join([
        f"# Degradation: plain vs residual networks ({lo} and {hi} layers)",
        "",
        f"Data: {cfg.dataset}, {n_train} training / {n_val} validation images. Same budget for all: "
        f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer.upper()} lr {cfg.lr} "
        f"(momentum {cfg.momentum}, weight decay {cfg.weight_decay}), {cfg.warmup_epochs:g} warm-up "
        f"epoch(s) then {cfg.schedule}, augmentation {'on' if cfg.augment else 'off'}, seed {cfg.seed}.",
        "",
        "| network | final train loss | train error | val error | best val error | time |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Observed:",
        "",
        f"- {plain}",
        f"- {res}",
        "",
        "Training loss and error are the running means over each epoch in training mode (what the "
        "paper's Fig. 6 plots as thin curves); the validation error is measured after the epoch. "
        f"A final loss more than {_MARGIN}x another's counts as 'worse' here. One seed, one short "
        "budget: treat the numbers as a demonstration, not a measurement with error bars.",
        "",
        f"Total run time {elapsed / 60:.1f} min. Plot: degradation.png (dashed: plain, solid: ResNet).",
        "",
    ])
